//! The `gp-online` command line: `serve`, `migrate up|down|status`, `demo [--json]`,
//! `practice create|go-live`, `staff invite`, `integration create-key`, `sync rebuild`,
//! `sync date-boundaries` and `proxy sweep`.
//!
//! Exit codes: 0 success, 1 a runtime failure (e.g. the database is unreachable), 2 a usage or
//! configuration error (the message names the key).

use crate::clock::Clock;
use crate::config::{Config, LogFormat};
use crate::db::entities::staff::StaffRole;
use crate::identity::{Identity, integration, staff};
use crate::{db, demo, http, tls};
use clap::{Parser, Subcommand};
use gp_online_migrations::{Migrator, MigratorTrait};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// gp-online: patient-facing GP online services.
#[derive(Debug, Parser)]
#[command(name = "gp-online", version, about)]
pub struct Cli {
    /// TOML configuration file (layered over the defaults, under the environment).
    #[arg(long, global = true, env = "GP_ONLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database first).
    Serve(ServeArgs),
    /// Manage the database schema.
    Migrate {
        /// `up`, `down` or `status`.
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Load the demo practice and print its linkage details.
    Demo {
        /// Print the linkage details as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a practice and take it live.
    Practice {
        /// What to do.
        #[command(subcommand)]
        action: PracticeAction,
    },
    /// Manage practice staff.
    Staff {
        /// What to do.
        #[command(subcommand)]
        action: StaffAction,
    },
    /// Manage clinical-system integration keys.
    Integration {
        /// What to do.
        #[command(subcommand)]
        action: IntegrationAction,
    },
    /// Offline sync housekeeping.
    Sync {
        /// What to do.
        #[command(subcommand)]
        action: SyncAction,
    },
    /// Proxy access housekeeping.
    Proxy {
        /// What to do.
        #[command(subcommand)]
        action: ProxyAction,
    },
}

/// Offline sync actions.
#[derive(Debug, Subcommand)]
pub enum SyncAction {
    /// Recompute every stored section document from the access module as a new generation
    /// (devices download it afresh), empty those no viewer may see and every superseded one,
    /// and print what was done as JSON.
    Rebuild {
        /// Only the documents about this patient (their id).
        #[arg(long)]
        patient: Option<uuid::Uuid>,
    },
    /// Mark for projection every patient whose synced documents change today with nothing
    /// written (a date boundary that has come) and print how many as JSON; the server also does
    /// this every `jobs.date_boundaries_secs`, and a running server's relay projects them and
    /// tells their live devices.
    DateBoundaries,
}

/// Proxy access actions.
#[derive(Debug, Subcommand)]
pub enum ProxyAction {
    /// Apply the time rules now (age suspensions, expiry, removal when unused, warnings) and
    /// print what changed as JSON; the server also does this every `jobs.proxy_sweep_secs`.
    Sweep,
}

/// Practice actions.
#[derive(Debug, Subcommand)]
pub enum PracticeAction {
    /// Create a practice: not live, national default settings, automatic record access off.
    Create {
        /// Its ODS code (a letter and five digits).
        #[arg(long)]
        ods: String,
        /// Its name.
        #[arg(long)]
        name: String,
    },
    /// Take a practice live: registration opens and automatic record access starts (today,
    /// unless it has a switch-on date or `--switch-on` names one).
    GoLive {
        /// Its ODS code.
        #[arg(long)]
        ods: String,
        /// The switch-on date of automatic record access, `YYYY-MM-DD`.
        #[arg(long)]
        switch_on: Option<chrono::NaiveDate>,
    },
}

/// Staff actions.
#[derive(Debug, Subcommand)]
pub enum StaffAction {
    /// Create a staff member and print their one-time enrolment code.
    Invite {
        /// The practice's ODS code.
        #[arg(long)]
        practice: String,
        /// `clinician` or `admin`.
        #[arg(long, value_parser = ["clinician", "admin"])]
        role: String,
        /// The name shown to colleagues and in the audit trail.
        #[arg(long)]
        name: String,
    },
}

/// Integration key actions.
#[derive(Debug, Subcommand)]
pub enum IntegrationAction {
    /// Create an API key for the practice's clinical system; it is printed once.
    CreateKey {
        /// The practice's ODS code.
        #[arg(long)]
        practice: String,
        /// A label telling keys apart.
        #[arg(long, default_value = "Clinical system")]
        name: String,
    },
}

/// Flags of `serve`; each overrides its configuration key.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (`server.listen`).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Data directory (`server.data_dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Serve plain HTTP behind a TLS-terminating proxy (`server.http`).
    #[arg(long)]
    pub http: bool,
    /// Load the demo practice before serving and print a few demo linkage details.
    #[arg(long)]
    pub demo: bool,
}

/// Schema actions.
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back migrations (the last one unless `--all`).
    Down {
        /// Roll back every migration, leaving an empty schema.
        #[arg(long)]
        all: bool,
    },
    /// List migrations and whether each is applied.
    Status,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    tls::install_crypto_provider();
    let cli = Cli::parse();
    let mut config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => return usage_error(&error.to_string()),
    };
    if let Command::Serve(args) = &cli.command {
        if let Some(listen) = args.listen {
            config.server.listen = listen;
        }
        if let Some(data_dir) = &args.data_dir {
            config.server.data_dir = data_dir.clone();
        }
        config.server.http |= args.http;
    }
    init_tracing(&config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return failure(&format!("cannot start the runtime: {error}")),
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => failure(&format!("{error:#}")),
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let db = db::connect(&config).await?;
    match command {
        Command::Migrate { action } => migrate(&db, action).await,
        Command::Demo { json } => {
            db::migrate_up(&db).await?;
            let summary = demo::load(&db, Clock::System.now()).await?;
            print_demo(&summary, json)
        }
        Command::Practice { action } => {
            db::migrate_up(&db).await?;
            let now = Clock::System.now();
            let practice = match action {
                PracticeAction::Create { ods, name } => {
                    crate::practice::admin::create(&db, &ods, &name, now).await
                }
                PracticeAction::GoLive { ods, switch_on } => {
                    crate::practice::admin::go_live(&db, &ods, switch_on, now).await
                }
            }
            .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
            print_json(&practice)
        }
        Command::Staff {
            action:
                StaffAction::Invite {
                    practice,
                    role,
                    name,
                },
        } => {
            db::migrate_up(&db).await?;
            let role = if role == "admin" {
                StaffRole::Admin
            } else {
                StaffRole::Clinician
            };
            let identity = Identity::new(&config.identity).map_err(anyhow::Error::msg)?;
            let invitation =
                staff::invite(&db, &identity, &practice, role, &name, Clock::System.now()).await?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "Enrolment code for {name} ({}): {}",
                practice.to_ascii_uppercase(),
                invitation.enrolment_code
            )?;
            writeln!(
                out,
                "It works once, until {}. Enrol at POST /api/v1/practice/enrolment/begin.",
                invitation.expires_at.format("%Y-%m-%d %H:%M UTC")
            )?;
            Ok(())
        }
        Command::Integration {
            action: IntegrationAction::CreateKey { practice, name },
        } => {
            db::migrate_up(&db).await?;
            let created =
                integration::create_key(&db, &practice, &name, Clock::System.now()).await?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "Integration key for {} ({name}), shown once:",
                created.ods_code
            )?;
            writeln!(out, "{}", created.key)?;
            Ok(())
        }
        Command::Sync {
            action: SyncAction::Rebuild { patient },
        } => {
            db::migrate_up(&db).await?;
            let report = crate::sync::rebuild::rebuild(&db, patient, Clock::System.now())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            print_json(&report)
        }
        Command::Sync {
            action: SyncAction::DateBoundaries,
        } => {
            db::migrate_up(&db).await?;
            let marked = crate::sync::calendar::mark_due(&db, Clock::System.now()).await?;
            print_json(&serde_json::json!({ "marked": marked }))
        }
        Command::Proxy {
            action: ProxyAction::Sweep,
        } => {
            db::migrate_up(&db).await?;
            let Some(report) = crate::jobs::run_proxy_sweep(&db, Clock::System.now()).await? else {
                anyhow::bail!("another node is running the proxy sweep; try again shortly");
            };
            print_json(&report)
        }
        Command::Serve(args) => {
            db::migrate_up(&db).await?;
            if args.demo {
                let summary = demo::load(&db, Clock::System.now()).await?;
                print_demo_excerpt(&summary)?;
            }
            serve(config, db).await
        }
    }
}

async fn serve(config: Config, db: sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(config.server.listen)?;
    let tls = if config.server.http {
        None
    } else {
        Some(tls::rustls_config(&config.server).await?)
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        address = %listener.local_addr()?,
        scheme,
        database = db::backend_name(&db),
        "gp-online is serving"
    );
    let released =
        http::idempotency::release_claims_of_a_dead_process(&db, Clock::System.now()).await?;
    if released > 0 {
        tracing::info!(
            released,
            "idempotency keys the previous process held were released"
        );
    }
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let app = http::app(db, Clock::System, Arc::new(config)).map_err(anyhow::Error::msg)?;
    http::serve(app, listener, tls, grace, shutdown_signal()).await?;
    Ok(())
}

async fn migrate(db: &sea_orm::DatabaseConnection, action: MigrateAction) -> anyhow::Result<()> {
    match action {
        MigrateAction::Up => Migrator::up(db, None).await?,
        MigrateAction::Down { all } => {
            let steps = if all { None } else { Some(1) };
            Migrator::down(db, steps).await?;
        }
        MigrateAction::Status => {
            let mut out = std::io::stdout().lock();
            for migration in Migrator::get_migration_with_status(db).await? {
                writeln!(out, "{:<10} {}", migration.status(), migration.name())?;
            }
        }
    }
    Ok(())
}

/// An error for the operator: its code and detail, and each invalid field by name.
fn describe(error: &crate::error::AppError) -> String {
    let mut text = error.to_string();
    for field in error.invalid_params() {
        text.push_str(&format!(
            "\n  {}: {} ({})",
            field.name, field.code, field.reason
        ));
    }
    text
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

fn print_demo(summary: &demo::DemoSummary, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, summary)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "Demo practice {} ({})",
        summary.practice.name, summary.practice.ods_code
    )?;
    writeln!(
        out,
        "{:<12} {:<28} {:<11} {:<12} linkage key",
        "NHS number", "name", "born", "account id"
    )?;
    for patient in &summary.patients {
        writeln!(
            out,
            "{:<12} {:<28} {:<11} {:<12} {}",
            patient.nhs_number,
            format!("{} {}", patient.given_name, patient.family_name),
            patient.date_of_birth,
            patient.account_id,
            patient.linkage_key
        )?;
    }
    for proxy in &summary.proxies {
        let names: Vec<String> = proxy
            .acts_for
            .iter()
            .map(|p| format!("{} {} ({})", p.given_name, p.family_name, p.relationship))
            .collect();
        writeln!(
            out,
            "proxy {} {} born {}: account id {} linkage key {}; acts for {}",
            proxy.given_name,
            proxy.family_name,
            proxy.date_of_birth,
            proxy.account_id,
            proxy.linkage_key,
            names.join(", ")
        )?;
    }
    Ok(())
}

fn print_demo_excerpt(summary: &demo::DemoSummary) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Demo practice {} ({}) loaded with {} patients. A few linkage details (all: `gp-online demo`):",
        summary.practice.name,
        summary.practice.ods_code,
        summary.patients.len()
    )?;
    for patient in summary.patients.iter().take(3) {
        writeln!(
            out,
            "  {} {} born {}: ODS {} account id {} linkage key {}",
            patient.given_name,
            patient.family_name,
            patient.date_of_birth,
            patient.ods_code,
            patient.account_id,
            patient.linkage_key
        )?;
    }
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Ignore a second initialisation (only possible when embedded in tests).
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

fn usage_error(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "gp-online: {message}");
    ExitCode::from(2)
}

fn failure(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "gp-online: {message}");
    ExitCode::FAILURE
}
