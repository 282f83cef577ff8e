//! The `popsync` binary: everything lives in the library; this only hands over.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = popsync::cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    runtime.block_on(popsync::cli::main(cli))
}
