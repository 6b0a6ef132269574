//! What the host app tells the SDK: the server, whom to trust, where to keep the store, the
//! key material that opens it (from the Keychain or the Android Keystore: the SDK never makes
//! or keeps its master key) and the device's name.

use crate::error::{Result, SdkError};
use std::sync::Arc;

/// How the server's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Trust {
    /// The platform's trust store (rustls-platform-verifier).
    SystemRoots,
    /// Only this CA certificate (PEM), for a development server.
    PinnedCa {
        /// The CA certificate, PEM.
        pem: String,
    },
}

/// The SDK's configuration.
#[derive(Clone, uniffi::Record)]
pub struct SdkConfig {
    /// The server's base URL (`https://…`).
    pub server_url: String,
    /// Whom to trust.
    pub trust: Trust,
    /// A folder the SDK owns for its encrypted store.
    pub store_dir: String,
    /// 32 bytes from the platform's key store; they wrap every document key.
    pub key_material: Vec<u8>,
    /// The device's name, shown in the account's device list.
    pub device_name: String,
}

impl std::fmt::Debug for SdkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key material.
        f.debug_struct("SdkConfig")
            .field("server_url", &self.server_url)
            .field("trust", &self.trust)
            .field("device_name", &self.device_name)
            .finish_non_exhaustive()
    }
}

impl SdkConfig {
    /// The base URL without a trailing slash, checked to be `https` (or `http` to a loopback
    /// address, for tests).
    pub(crate) fn base_url(&self) -> Result<String> {
        let url = url::Url::parse(&self.server_url)
            .map_err(|_| SdkError::other("server_url is not a URL"))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(SdkError::other("server_url must be https"));
        }
        Ok(self.server_url.trim_end_matches('/').to_owned())
    }

    /// The 32-byte host key.
    pub(crate) fn host_key(&self) -> Result<[u8; 32]> {
        self.key_material
            .as_slice()
            .try_into()
            .map_err(|_| SdkError::other("key_material must be 32 bytes"))
    }

    /// The TLS configuration for `alpn` protocols, with ring as the crypto provider.
    pub(crate) fn tls(&self, alpn: &[&[u8]]) -> Result<rustls::ClientConfig> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|_| SdkError::other("TLS versions"))?;
        let mut config = match &self.trust {
            Trust::SystemRoots => {
                use rustls_platform_verifier::BuilderVerifierExt as _;
                builder
                    .with_platform_verifier()
                    .map_err(|_| SdkError::other("the platform's trust store"))?
                    .with_no_client_auth()
            }
            Trust::PinnedCa { pem } => {
                let mut roots = rustls::RootCertStore::empty();
                for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let certificate =
                        certificate.map_err(|_| SdkError::other("the pinned CA is not PEM"))?;
                    roots
                        .add(certificate)
                        .map_err(|_| SdkError::other("the pinned CA is not a certificate"))?;
                }
                if roots.is_empty() {
                    return Err(SdkError::other("the pinned CA holds no certificate"));
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}
