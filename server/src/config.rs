//! Layered configuration: built-in defaults, then an optional TOML file, then environment
//! variables `GP_ONLINE__SECTION__KEY` (and the conventional `DATABASE_URL`), then command-line
//! flags. Unknown keys are refused so a typo never silently falls back to a default, and secrets
//! are [`SecretString`]s whose `Debug` output is redacted.

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub use crate::identity::IdentityConfig;

/// Prefix of the environment variables read as configuration.
pub const ENV_PREFIX: &str = "GP_ONLINE__";

/// The default budget of the sync document cache: 64 MiB of saved documents.
pub const DEFAULT_DOCUMENT_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The whole configuration of one server process.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listener, TLS and HTTP limits.
    pub server: ServerConfig,
    /// The database connection.
    pub database: DatabaseConfig,
    /// Log format and filter.
    pub log: LogConfig,
    /// Passkeys, sessions and rate limits.
    pub identity: IdentityConfig,
    /// Periodic background work.
    pub jobs: JobsConfig,
    /// Offline sync.
    pub sync: SyncConfig,
    /// Push notifications.
    pub push: PushConfig,
}

/// Push notifications: Web Push (VAPID), APNs and FCM, and how this node delivers them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Accept `http://127.0.0.1:*` Web Push endpoints (development and tests); otherwise an
    /// endpoint must be `https://`.
    pub allow_insecure_loopback: bool,
    /// The VAPID private key: the 32-byte P-256 scalar, base64url. When absent, a key pair is
    /// made on first start and kept in the database for every node.
    pub vapid_private_key: Option<SecretString>,
    /// The VAPID `sub` claim: a `mailto:` or `https:` contact for the push services.
    pub vapid_subject: String,
    /// Milliseconds between this node's delivery rounds; `0` turns delivery off on this node.
    pub poll_interval_ms: u64,
    /// Seconds a push service has to answer before the attempt counts as failed (and is retried).
    pub request_timeout_secs: u64,
    /// The first retry waits about this many seconds; each further one twice as long (with
    /// jitter), up to `max_backoff_secs`, until the notice's time to live runs out.
    pub backoff_secs: u64,
    /// The longest wait between two attempts, in seconds.
    pub max_backoff_secs: u64,
    /// Apple Push Notification service, for the iOS app (off when absent).
    pub apns: Option<ApnsConfig>,
    /// Firebase Cloud Messaging, for the Android app (off when absent).
    pub fcm: Option<FcmConfig>,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            allow_insecure_loopback: false,
            vapid_private_key: None,
            vapid_subject: "mailto:push@localhost".to_owned(),
            poll_interval_ms: 1000,
            request_timeout_secs: 10,
            backoff_secs: 5,
            max_backoff_secs: 3600,
            apns: None,
            fcm: None,
        }
    }
}

/// APNs token authentication: an ES256 signing key from the Apple developer account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsConfig {
    /// The `.p8` signing key (PKCS#8 PEM).
    pub key_file: PathBuf,
    /// The key's id (`kid`).
    pub key_id: String,
    /// The developer team id (`iss`).
    pub team_id: String,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// `https://api.push.apple.com` (or `https://api.sandbox.push.apple.com`).
    #[serde(default = "ApnsConfig::default_endpoint")]
    pub endpoint: String,
}

impl ApnsConfig {
    fn default_endpoint() -> String {
        "https://api.push.apple.com".to_owned()
    }
}

/// FCM HTTP v1: a Google service account allowed to send for the Firebase project.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmConfig {
    /// The service account's JSON key file (`project_id`, `client_email`, `private_key`,
    /// `token_uri`).
    pub service_account_file: PathBuf,
    /// `https://fcm.googleapis.com`.
    #[serde(default = "FcmConfig::default_endpoint")]
    pub endpoint: String,
}

impl FcmConfig {
    fn default_endpoint() -> String {
        "https://fcm.googleapis.com".to_owned()
    }
}

/// Offline sync: the caps of each personal document (read markers, private notes, hidden items
/// and drafts an account's devices write). Device changes that would break a cap are refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Most bytes of content (keys and text) in one personal document.
    pub personal_max_bytes: usize,
    /// Most entries (read markers, notes, hidden items and drafts together) in one.
    pub personal_max_entries: usize,
    /// Most bytes of one private note, or of one draft.
    pub personal_max_text_bytes: usize,
    /// Changes a section document may accumulate beyond one per item it holds before a new
    /// generation starts from its current items, so history (and what a new device
    /// downloads) stays short.
    pub history_threshold: usize,
    /// Bytes of saved section documents each node keeps loaded for exchanges (the cache is
    /// checked against stored heads; a loaded document takes several times its saved size).
    pub document_cache_bytes: usize,
    /// Most documents one live connection follows at once, and one frame names; more is
    /// refused with `too_many_followed_documents`.
    pub max_followed_documents: usize,
    /// Most bytes a stored personal document may take, history included; beyond it the
    /// document is compacted into a new generation holding its content alone.
    pub personal_max_stored_bytes: usize,
    /// Most bytes of changes (inflated) one device sync message may carry.
    pub max_change_bytes_per_message: usize,
    /// Most bytes of changes (inflated) all the sync messages of one frame may carry.
    pub max_change_bytes_per_exchange: usize,
    /// Milliseconds the automerge work of one exchange may take before the request is answered
    /// with `timeout` (the work runs on the blocking pool, outside any write transaction).
    pub exchange_time_budget_ms: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        let limits = sync_protocol::personal::Limits::default();
        let guard = sync_protocol::guard::Limits::default();
        Self {
            personal_max_bytes: limits.max_bytes,
            personal_max_entries: limits.max_entries,
            personal_max_text_bytes: limits.max_text_bytes,
            history_threshold: 10_000,
            document_cache_bytes: DEFAULT_DOCUMENT_CACHE_BYTES,
            max_followed_documents: 256,
            personal_max_stored_bytes: 2 * limits.max_bytes,
            max_change_bytes_per_message: guard.max_change_bytes_per_message,
            max_change_bytes_per_exchange: guard.max_change_bytes_per_exchange,
            exchange_time_budget_ms: 10_000,
        }
    }
}

impl SyncConfig {
    /// The caps as the protocol's validation takes them.
    pub fn personal_limits(&self) -> sync_protocol::personal::Limits {
        sync_protocol::personal::Limits {
            max_bytes: self.personal_max_bytes,
            max_entries: self.personal_max_entries,
            max_text_bytes: self.personal_max_text_bytes,
        }
    }

    /// The caps on what a device's sync messages may carry, as the guard takes them.
    pub fn guard_limits(&self) -> sync_protocol::guard::Limits {
        sync_protocol::guard::Limits {
            max_change_bytes_per_message: self.max_change_bytes_per_message,
            max_change_bytes_per_exchange: self.max_change_bytes_per_exchange,
        }
    }

    /// The time the automerge work of one exchange may take.
    pub fn exchange_time_budget(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.exchange_time_budget_ms)
    }
}

/// Periodic background work every node runs (safe with several nodes).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Seconds between runs of the proxy access time rules (`proxy::sweep`); `0` turns the
    /// periodic run off (then run `gp-online proxy sweep` from a scheduler of your own).
    pub proxy_sweep_secs: u64,
    /// Seconds between purges of expired idempotency rows (REST `Idempotency-Key`s after 24
    /// hours, sync intents' outcomes after 7 days); `0` turns the periodic purge off.
    pub idempotency_purge_secs: u64,
    /// Seconds between runs of the date-boundary job (`sync::calendar::mark_due`): patients
    /// whose synced documents change on a day with nothing written (a birthday, a grant's or an
    /// access code's end, a switch-on date) are projected again once that day has come. It runs
    /// whether or not the proxy sweep does; `0` turns the periodic run off (then run
    /// `gp-online sync date-boundaries` from a scheduler of your own).
    pub date_boundaries_secs: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        // Hourly: a rule due on a day takes effect within the first hour of that day.
        Self {
            proxy_sweep_secs: 3600,
            idempotency_purge_secs: 3600,
            // Five minutes: a boundary at midnight reaches devices within the first minutes
            // of its day; a run reads only the boundaries that have come.
            date_boundaries_secs: 300,
        }
    }
}

/// Listener, TLS and HTTP limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Directory for the SQLite file, the development certificate and other local state.
    pub data_dir: PathBuf,
    /// Serve plain HTTP (behind a TLS-terminating reverse proxy) instead of HTTPS.
    pub http: bool,
    /// PEM certificate chain; with `tls_key`, replaces the self-signed development certificate.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Seconds after which a request is abandoned with 408.
    pub request_timeout_secs: u64,
    /// Largest accepted request body in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Addresses of the reverse proxies or load balancers in front of the server: from these
    /// peers only, the client's address is read from `X-Forwarded-For` (for rate limits).
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            data_dir: PathBuf::from("data"),
            http: false,
            tls_cert: None,
            tls_key: None,
            request_timeout_secs: 30,
            // Documents are at most 4 MB; base64 and JSON framing need headroom.
            max_body_bytes: 6 * 1024 * 1024,
            shutdown_grace_secs: 10,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The database connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; a SQLite file in the data directory when absent.
    /// Secret because PostgreSQL URLs carry passwords.
    pub url: Option<SecretString>,
    /// Upper bound of the connection pool.
    pub max_connections: u32,
    /// Seconds to wait for a connection before reporting the database unreachable.
    pub connect_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 16,
            connect_timeout_secs: 5,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A `tracing` filter such as `info,gp_online=debug`; `RUST_LOG` overrides it.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// A configuration value that could not be used; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads defaults, then `file` (if given), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Config::load`] with an explicit environment (tests pass their own).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError(format!(
                    "configuration file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        let env: Vec<(String, String)> = env.into_iter().collect();
        let database_url = env
            .iter()
            .find(|(key, _)| key == "DATABASE_URL")
            .map(|(_, value)| value.clone());
        let prefixed: Vec<(String, String)> = env
            .into_iter()
            .filter(|(key, _)| key.starts_with(ENV_PREFIX))
            .collect();
        figment = figment.merge(env_provider(prefixed));
        let mut config: Config = figment.extract().map_err(describe)?;
        // DATABASE_URL is the convention of every database tool; the namespaced key wins.
        if config.database.url.is_none() {
            config.database.url = database_url.map(SecretString::from);
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return Err(ConfigError(
                "server.tls_cert and server.tls_key must be given together".to_owned(),
            ));
        }
        if let Some(url) = &self.database.url {
            let url = url.expose_secret();
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return Err(ConfigError(
                    "database.url must start with sqlite:, postgres:// or postgresql://".to_owned(),
                ));
            }
        }
        crate::identity::Identity::new(&self.identity).map_err(ConfigError)?;
        if self.sync.personal_max_bytes == 0
            || self.sync.personal_max_entries == 0
            || self.sync.personal_max_text_bytes == 0
        {
            return Err(ConfigError(
                "sync.personal_max_bytes, sync.personal_max_entries and \
                 sync.personal_max_text_bytes must be at least 1"
                    .to_owned(),
            ));
        }
        if self.sync.max_followed_documents == 0 {
            return Err(ConfigError(
                "sync.max_followed_documents must be at least 1".to_owned(),
            ));
        }
        if self.sync.personal_max_stored_bytes < self.sync.personal_max_bytes
            || self.sync.personal_max_stored_bytes > sync_protocol::envelope::MAX_FRAME_BYTES / 2
        {
            return Err(ConfigError(
                "sync.personal_max_stored_bytes must be at least sync.personal_max_bytes and \
                 at most half the frame limit (2 MiB)"
                    .to_owned(),
            ));
        }
        if self.sync.max_change_bytes_per_message == 0
            || self.sync.max_change_bytes_per_exchange < self.sync.max_change_bytes_per_message
            || self.sync.exchange_time_budget_ms == 0
        {
            return Err(ConfigError(
                "sync.max_change_bytes_per_message and sync.exchange_time_budget_ms must be at \
                 least 1, and sync.max_change_bytes_per_exchange at least the former"
                    .to_owned(),
            ));
        }
        if self.sync.history_threshold == 0 {
            return Err(ConfigError(
                "sync.history_threshold must be at least 1".to_owned(),
            ));
        }
        if !(self.push.vapid_subject.starts_with("mailto:")
            || self.push.vapid_subject.starts_with("https://"))
        {
            return Err(ConfigError(
                "push.vapid_subject must start with mailto: or https://".to_owned(),
            ));
        }
        if self.push.request_timeout_secs == 0 || self.push.backoff_secs == 0 {
            return Err(ConfigError(
                "push.request_timeout_secs and push.backoff_secs must be at least 1".to_owned(),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError(
                "database.max_connections must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }

    /// The database URL in use: the configured one or the SQLite file in the data directory.
    pub fn database_url(&self) -> SecretString {
        match &self.database.url {
            Some(url) => url.clone(),
            None => SecretString::from(format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("gp-online.sqlite").display()
            )),
        }
    }
}

/// Environment variables as a figment provider: `GP_ONLINE__SERVER__LISTEN` → `server.listen`.
/// Built from the given list rather than the process environment so tests are hermetic.
fn env_provider(vars: Vec<(String, String)>) -> Figment {
    vars.into_iter()
        .fold(Figment::new(), |figment, (key, raw)| {
            let path = key[ENV_PREFIX.len()..]
                .to_ascii_lowercase()
                .replace("__", ".");
            // Parse `true`, `8`, `[a, b]` as typed values the way figment's `Env` provider does.
            let value = raw
                .parse::<figment::value::Value>()
                .unwrap_or_else(|_| figment::value::Value::from(raw));
            figment.merge(Serialized::default(&path, value))
        })
}

/// Turns a figment error into one line that names the key and never echoes a value.
fn describe(error: figment::Error) -> ConfigError {
    let messages: Vec<String> = error
        .into_iter()
        .map(|error| {
            let key = if error.path.is_empty() {
                "(top level)".to_owned()
            } else {
                error.path.join(".")
            };
            let kind = match &error.kind {
                // The value itself is not echoed: it may be a secret.
                figment::error::Kind::InvalidType(_, expected) => format!("expected {expected}"),
                figment::error::Kind::InvalidValue(_, expected) => {
                    format!("invalid value, expected {expected}")
                }
                figment::error::Kind::UnknownField(field, _) => {
                    return format!("unknown key {key}.{field}").replace("(top level).", "");
                }
                other => other.to_string(),
            };
            format!("{key}: {kind}")
        })
        .collect();
    ConfigError(messages.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_serve_https_on_localhost_with_sqlite_in_data_dir() {
        let config = Config::load_from(None, env(&[])).unwrap_or_default();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8443");
        assert!(!config.server.http);
        assert_eq!(
            config.database_url().expose_secret(),
            "sqlite://data/gp-online.sqlite?mode=rwc"
        );
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let config = Config::load_from(
            None,
            env(&[
                ("GP_ONLINE__SERVER__LISTEN", "0.0.0.0:9000"),
                ("GP_ONLINE__SERVER__HTTP", "true"),
                ("GP_ONLINE__LOG__FORMAT", "json"),
                (
                    "GP_ONLINE__SERVER__TRUSTED_PROXIES",
                    "[10.0.0.2, \"10.0.0.3\"]",
                ),
            ]),
        );
        let config = config.map_err(|e| e.to_string());
        assert_eq!(
            config.as_ref().map(|c| c.server.listen.to_string()),
            Ok("0.0.0.0:9000".to_owned())
        );
        assert_eq!(config.as_ref().map(|c| c.server.http), Ok(true));
        assert_eq!(
            config.as_ref().map(|c| c.server.trusted_proxies.len()),
            Ok(2)
        );
        assert_eq!(config.map(|c| c.log.format), Ok(LogFormat::Json));
    }

    #[test]
    fn bad_value_names_the_key() {
        let error = Config::load_from(None, env(&[("GP_ONLINE__SERVER__LISTEN", "nowhere")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("server.listen"), "{error}");
    }

    #[test]
    fn unknown_key_is_refused_by_name() {
        let error = Config::load_from(None, env(&[("GP_ONLINE__SERVER__LISTN", "x")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("listn"), "{error}");
    }

    #[test]
    fn toml_file_is_layered_under_the_environment() {
        let dir = tempfile::tempdir().ok();
        let path = dir.as_ref().map(|d| d.path().join("gp-online.toml"));
        let path = path.as_deref();
        if let Some(path) = path {
            let written = std::fs::write(
                path,
                "[server]\nlisten = \"127.0.0.1:1234\"\ndata_dir = \"/srv/gp\"\n",
            );
            assert!(written.is_ok());
        }
        let config = Config::load_from(
            path,
            env(&[("GP_ONLINE__SERVER__LISTEN", "127.0.0.1:5678")]),
        )
        .map_err(|e| e.to_string());
        assert_eq!(config.as_ref().map(|c| c.server.listen.port()), Ok(5678));
        assert_eq!(
            config.map(|c| c.server.data_dir),
            Ok(PathBuf::from("/srv/gp"))
        );
    }

    #[test]
    fn database_url_is_redacted_in_debug_output() {
        let config = Config::load_from(
            None,
            env(&[("DATABASE_URL", "postgres://gp:hunter2@db/gp")]),
        )
        .map_err(|e| e.to_string());
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(config.is_ok());
    }

    #[test]
    fn personal_document_caps_are_settings() {
        let config = Config::load_from(
            None,
            env(&[
                ("GP_ONLINE__SYNC__PERSONAL_MAX_BYTES", "4096"),
                ("GP_ONLINE__SYNC__PERSONAL_MAX_TEXT_BYTES", "300"),
            ]),
        )
        .map_err(|e| e.to_string());
        let limits = config.map(|c| c.sync.personal_limits());
        let defaults = sync_protocol::personal::Limits::default();
        assert_eq!(
            limits,
            Ok(sync_protocol::personal::Limits {
                max_bytes: 4096,
                max_entries: defaults.max_entries,
                max_text_bytes: 300,
            })
        );
        let error = Config::load_from(None, env(&[("GP_ONLINE__SYNC__PERSONAL_MAX_ENTRIES", "0")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("sync.personal_max_entries"), "{error}");
    }

    #[test]
    fn unsupported_database_scheme_is_refused() {
        let error = Config::load_from(None, env(&[("DATABASE_URL", "mysql://x")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("database.url"), "{error}");
    }
}
