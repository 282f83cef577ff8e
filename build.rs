//! The migrations are compiled into the binary (`sqlx::migrate!`): a new or changed
//! migration file must rebuild it, which cargo does not know by itself.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
