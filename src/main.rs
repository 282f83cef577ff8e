//! The `popsync` binary: everything lives in the library; this only hands over.

use clap::Parser;

/// Reconciliation allocates millions of small strings; mimalloc does that several
/// times faster than the system allocator (measured in docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = popsync::cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    runtime.block_on(popsync::cli::main(cli))
}
