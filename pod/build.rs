// `sqlx::migrate!` embeds the migration files at compile time; a new file
// must rebuild this crate, or a binary built before it would not apply it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations/pod");
}
