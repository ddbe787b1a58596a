// `sqlx::migrate!` embeds the migration files at compile time (the
// benchmarks apply the pod's); a new file must rebuild this crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations/pod");
}
