//! Test harness shared by the workspace's end-to-end tests: [`spawn_app`] starts the real
//! server on an ephemeral port over HTTPS (with its development certificate trusted by the
//! client) on a fresh database: a SQLite file by default, or a new PostgreSQL database when
//! `GP_ONLINE_TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code: failing loudly is the point.

use gp_online::clock::Clock;
use gp_online::config::Config;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use std::sync::Arc;

pub mod api;
pub mod fixtures;
pub mod hostile;
pub mod live;
pub mod passkey;
pub mod private_postgres;
pub mod push;
pub mod scenario;
pub mod server_process;
pub mod sync;

/// Environment variable naming a PostgreSQL server to test against (its admin URL).
pub const TEST_DATABASE_ENV: &str = "GP_ONLINE_TEST_DATABASE_URL";

/// A throw-away database for one test.
pub struct TestDatabase {
    /// The URL to connect to it.
    pub url: String,
    /// The backend: `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Drops the PostgreSQL database when the test ends.
    cleanup: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestDatabase {
    /// A fresh, empty database on the backend selected by the environment.
    pub async fn create() -> Self {
        Self::create_on(std::env::var(TEST_DATABASE_ENV).ok()).await
    }

    /// A fresh, empty database in the PostgreSQL server at `admin_url`, or SQLite without one.
    pub async fn create_on(admin_url: Option<String>) -> Self {
        Self::copy_of(admin_url, None).await
    }

    /// A fresh database with the schema already migrated, on the backend selected by the
    /// environment. On PostgreSQL it is a copy of a template migrated once per schema (copying
    /// costs about a tenth of migrating); a SQLite database is empty (the server migrates it in
    /// a few milliseconds).
    pub async fn migrated() -> Self {
        let admin_url = std::env::var(TEST_DATABASE_ENV)
            .ok()
            .filter(|url| !url.is_empty());
        let template = match &admin_url {
            Some(admin_url) => Some(postgres_template(admin_url).await),
            None => None,
        };
        Self::copy_of(admin_url, template.as_deref()).await
    }

    /// A fresh database: on PostgreSQL (when `admin_url` names a server) a copy of `template`,
    /// or of the server's empty default; otherwise a SQLite file.
    async fn copy_of(admin_url: Option<String>, template: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        match admin_url {
            Some(admin_url) if !admin_url.is_empty() => {
                let name = format!("gp_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&admin_url).await.unwrap();
                let from = template.map_or(String::new(), |t| format!(" TEMPLATE {t}"));
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}{from}"))
                    .await
                    .unwrap();
                admin.close().await.unwrap();
                let url = database_url_with_name(&admin_url, &name);
                Self {
                    url,
                    backend: "postgres",
                    cleanup: Some((admin_url, name)),
                    _dir: dir,
                }
            }
            _ => Self {
                url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("test.sqlite").display()
                ),
                backend: "sqlite",
                cleanup: None,
                _dir: dir,
            },
        }
    }

    /// Connects to it, with the same settings the server uses.
    pub async fn connect(&self) -> DatabaseConnection {
        gp_online::db::connect(&self.config()).await.unwrap()
    }

    /// A server configuration pointing at this database, with its data in a temporary dir.
    pub fn config(&self) -> Config {
        let mut config = Config::default();
        config.database.url = Some(self.url.clone().into());
        config.database.max_connections = 8;
        config.server.data_dir = self._dir.path().to_path_buf();
        // Tests run the proxy sweep themselves, at the time they choose; a test of the
        // schedule turns it back on.
        config.jobs.proxy_sweep_secs = 0;
        // Likewise the date-boundary job: tests run it (or a device's sync meets the boundary)
        // when they choose.
        config.jobs.date_boundaries_secs = 0;
        config
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.cleanup.take() {
            // Async drop does not exist; a short-lived runtime on another thread does the job.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    if let Ok(admin) = Database::connect(&admin_url).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// The name of a migrated template database in the PostgreSQL server at `admin_url`, made when
/// missing. It is named by a hash of the migrations' names and of this build of the tests (a
/// migration edited in development makes a new one; the older ones are dropped then), and
/// made under another name and renamed once migrated, under an advisory lock held by one
/// connection, so concurrent test processes make it once and never copy a half-made one. Its
/// `gp_test_` prefix puts it among the databases CI drops before a run.
async fn postgres_template(admin_url: &str) -> String {
    use sea_orm::ConnectOptions;
    use sea_orm_migration::MigratorTrait as _;
    use sha2::{Digest as _, Sha256};
    static MADE: tokio::sync::Mutex<std::collections::BTreeSet<String>> =
        tokio::sync::Mutex::const_new(std::collections::BTreeSet::new());
    let mut hash = Sha256::new();
    for migration in gp_online_migrations::Migrator::migrations() {
        hash.update(migration.name().as_bytes());
        hash.update([0]);
    }
    let build = std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    hash.update(build.as_nanos().to_le_bytes());
    let digest = hash.finalize();
    let name = format!(
        "gp_test_template_{}",
        digest[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut made = MADE.lock().await;
    if made.contains(admin_url) {
        return name;
    }
    let mut options = ConnectOptions::new(admin_url.to_owned());
    options.max_connections(1).sqlx_logging(false);
    let admin = Database::connect(options).await.unwrap();
    let sql = |sql: String| Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql);
    admin
        .execute_raw(sql("SELECT pg_advisory_lock(7202612070001)".to_owned()))
        .await
        .unwrap();
    let exists = admin
        .query_one_raw(sql(format!(
            "SELECT 1 FROM pg_database WHERE datname = '{name}'"
        )))
        .await
        .unwrap()
        .is_some();
    if !exists {
        let older = admin
            .query_all_raw(sql(
                "SELECT datname FROM pg_database WHERE datname LIKE 'gp\\_test\\_template\\_%'"
                    .to_owned(),
            ))
            .await
            .unwrap();
        let building = format!("{name}_building");
        let mut steps = Vec::new();
        for row in older {
            let old: String = row.try_get("", "datname").unwrap();
            steps.push(format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)"));
        }
        steps.push(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"));
        steps.push(format!("CREATE DATABASE {building}"));
        for step in steps {
            admin.execute_unprepared(&step).await.unwrap();
        }
        let db = Database::connect(database_url_with_name(admin_url, &building))
            .await
            .unwrap();
        gp_online::db::migrate_up(&db).await.unwrap();
        db.close().await.unwrap();
        admin
            .execute_unprepared(&format!("ALTER DATABASE {building} RENAME TO {name}"))
            .await
            .unwrap();
    }
    admin
        .execute_raw(sql("SELECT pg_advisory_unlock(7202612070001)".to_owned()))
        .await
        .unwrap();
    admin.close().await.unwrap();
    made.insert(admin_url.to_owned());
    name
}

/// Replaces the database name (the path) of a PostgreSQL URL.
fn database_url_with_name(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|i| start + i))
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    /// `https://127.0.0.1:<port>`.
    pub address: String,
    /// A client that trusts the server's development certificate.
    pub client: reqwest::Client,
    /// The server's development certificate, to build other clients.
    pub certificate: reqwest::Certificate,
    /// The same certificate as PEM.
    pub certificate_pem: Vec<u8>,
    /// A direct connection to the server's database, for arranging and asserting.
    pub db: DatabaseConnection,
    /// The server's clock (manual: tests move it).
    pub clock: Clock,
    /// The server's database.
    pub database: TestDatabase,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    /// `address` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The instant test clocks start at.
pub fn test_start() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
        .unwrap()
        .to_utc()
}

/// Starts the real server (migrated, empty database) on 127.0.0.1:0 over HTTPS.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], letting the test adjust the configuration first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on(TestDatabase::migrated().await, adjust).await
}

/// Like [`spawn_app_with`], on a database the test made (e.g. in a [`private_postgres`] cluster).
pub async fn spawn_app_on(database: TestDatabase, adjust: impl FnOnce(&mut Config)) -> TestApp {
    gp_online::tls::install_crypto_provider();
    let mut config = database.config();
    adjust(&mut config);
    let db = database.connect().await;
    gp_online::db::migrate_up(&db).await.unwrap();
    let clock = Clock::manual(test_start());
    let (address, shutdown) = start_node(db.clone(), clock.clone(), config.clone()).await;
    let (cert_path, _) = gp_online::tls::ensure_dev_certificate(&config.server.data_dir).unwrap();
    let certificate_pem = std::fs::read(cert_path).unwrap();
    let certificate = reqwest::Certificate::from_pem(&certificate_pem).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([certificate.clone()])
        .build()
        .unwrap();
    TestApp {
        address,
        client,
        certificate,
        certificate_pem,
        db,
        clock,
        database,
        shutdown: Some(shutdown),
    }
}

/// Serves one node of the application on 127.0.0.1:0 over HTTPS, started as `gp-online serve`
/// starts one; returns its address and the sender that stops it.
async fn start_node(
    db: DatabaseConnection,
    clock: Clock,
    config: Config,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls = gp_online::tls::rustls_config(&config.server).await.unwrap();
    gp_online::http::idempotency::release_claims_of_a_dead_process(&db, clock.now())
        .await
        .unwrap();
    let app = gp_online::http::app(db, clock, Arc::new(config)).unwrap();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gp_online::http::serve(
        app,
        listener,
        Some(tls),
        std::time::Duration::from_secs(1),
        async {
            let _ = stopped.await;
        },
    ));
    (format!("https://127.0.0.1:{port}"), shutdown)
}

impl TestApp {
    /// A second server node on the same database (its own pool, relay and listener), as a
    /// second `gp-online serve` process would be. Dropping the sender stops it.
    pub async fn second_node(&self) -> (String, tokio::sync::oneshot::Sender<()>) {
        self.second_node_with(|_| {}).await
    }

    /// Like [`TestApp::second_node`], letting the test adjust the node's configuration first.
    pub async fn second_node_with(
        &self,
        adjust: impl FnOnce(&mut Config),
    ) -> (String, tokio::sync::oneshot::Sender<()>) {
        let db = self.database.connect().await;
        let mut config = self.database.config();
        adjust(&mut config);
        start_node(db, self.clock.clone(), config).await
    }
}

/// Runs a raw SQL query returning rows of strings (for schema snapshots).
pub async fn query_strings(db: &DatabaseConnection, sql: &str) -> Vec<Vec<String>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            (0..)
                .map_while(|i| row.try_get_by_index::<Option<String>>(i).ok())
                .map(Option::unwrap_or_default)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced_keeping_the_query() {
        assert_eq!(
            database_url_with_name(
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
                "x"
            ),
            "postgres://postgres@127.0.0.1:5432/x?sslmode=disable"
        );
        assert_eq!(
            database_url_with_name("postgres://postgres@127.0.0.1:5432", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
    }
}
