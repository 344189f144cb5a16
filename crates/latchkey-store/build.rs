// Rebuild when a migration is added: `sqlx::migrate!` embeds the migrations directory, and
// cargo would not otherwise notice a new file in it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
