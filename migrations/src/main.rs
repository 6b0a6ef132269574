//! Stand-alone migration CLI (`up`, `down`, `status`, `fresh`, …) for operators who want to
//! migrate without the server binary; reads `DATABASE_URL`.

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli(gp_online_migrations::Migrator).await;
}
