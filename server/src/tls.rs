//! TLS for the HTTPS listener. A configured certificate and key are used as given; otherwise a
//! self-signed development certificate for `localhost`, `127.0.0.1` and `::1` is made with rcgen
//! on first start and kept in the data directory, so restarts present the same certificate.

use crate::config::ServerConfig;
use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use std::path::{Path, PathBuf};

/// File names of the development certificate inside the data directory.
pub const DEV_CERT_FILE: &str = "dev-cert.pem";
/// File name of the development certificate's private key inside the data directory.
pub const DEV_KEY_FILE: &str = "dev-key.pem";

/// Installs ring as the process-wide rustls crypto provider. Call once, first thing; the
/// workspace builds ring only, so there is exactly one provider to choose.
pub fn install_crypto_provider() {
    // An Err means a provider is already installed (e.g. a second server in one test process).
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the rustls configuration for the listener.
pub async fn rustls_config(server: &ServerConfig) -> anyhow::Result<RustlsConfig> {
    let (cert, key) = match (&server.tls_cert, &server.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => ensure_dev_certificate(&server.data_dir)?,
    };
    RustlsConfig::from_pem_file(&cert, &key)
        .await
        .with_context(|| format!("loading TLS certificate {}", cert.display()))
}

/// Returns the development certificate and key files, creating them on first use.
pub fn ensure_dev_certificate(data_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert_path = data_dir.join(DEV_CERT_FILE);
    let key_path = data_dir.join(DEV_KEY_FILE);
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let certified = rcgen::generate_simple_self_signed(names)
        .context("generating the development certificate")?;
    write_private(&key_path, certified.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, certified.cert.pem())
        .with_context(|| format!("writing {}", cert_path.display()))?;
    tracing::info!(path = %cert_path.display(), "created a self-signed development certificate");
    Ok((cert_path, key_path))
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_certificate_is_made_once_and_reused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let (cert, _) = ensure_dev_certificate(dir.path())?;
        let first = std::fs::read(&cert)?;
        let (cert, key) = ensure_dev_certificate(dir.path())?;
        assert_eq!(std::fs::read(&cert)?, first);
        assert!(std::fs::read_to_string(key)?.contains("PRIVATE KEY"));
        Ok(())
    }
}
