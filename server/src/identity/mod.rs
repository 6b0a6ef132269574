//! Identity: who may act, proven how.
//!
//! - [`linkage`]: linkage details (Account ID + Linkage Key + ODS code) issued at the practice
//!   desk, and their checks (expiry, single use, lock after failed attempts).
//! - [`registration`]: linkage details + surname + date of birth → a passkey ceremony → an
//!   account, its first device and a session (and recovery, which replaces old passkeys).
//! - [`passkeys`]: further passkeys (devices) added from a signed-in device.
//! - [`login`]: usernameless passkey sign-in for patients, carers and staff.
//! - [`sessions`]: token families, rotation with reuse detection, revocation.
//! - [`ceremonies`]: server-side WebAuthn state, single use, five minutes.
//! - [`secrets`]: random tokens and keys, stored only as hashes.
//! - [`staff`]: staff invitations, enrolment codes and their passkey enrolment.
//! - [`integration`]: API keys of clinical systems, scoped to one practice.
//!
//! Every outcome, success or refusal, is audited; no token, key or credential is logged.

pub mod account;
pub mod ceremonies;
mod config;
pub mod integration;
pub mod linkage;
pub mod login;
pub mod passkeys;
pub mod registration;
pub mod secrets;
pub mod sessions;
pub mod staff;

pub use config::IdentityConfig;

use crate::error::AppError;
use std::sync::Arc;
use url::Url;
use webauthn_rs::prelude::{Webauthn, WebauthnBuilder};

/// The WebAuthn relying party and the identity settings, shared by every request.
#[derive(Clone)]
pub struct Identity {
    /// The relying party.
    pub webauthn: Arc<Webauthn>,
    /// Session and ceremony settings.
    pub config: Arc<IdentityConfig>,
}

impl Identity {
    /// Builds the relying party from the configuration; a bad RP id or origin is reported by
    /// key.
    pub fn new(config: &IdentityConfig) -> Result<Self, String> {
        let mut origins = config.rp_origins.iter();
        let first = origins
            .next()
            .ok_or_else(|| "identity.rp_origins must list at least one origin".to_owned())?;
        let parse = |origin: &String| {
            Url::parse(origin).map_err(|_| format!("identity.rp_origins: {origin} is not a URL"))
        };
        let first = parse(first)?;
        let mut builder = WebauthnBuilder::new(&config.rp_id, &first)
            .map_err(|error| format!("identity.rp_id: {error}"))?
            .rp_name(&config.rp_name);
        let others = origins.map(parse).collect::<Result<Vec<_>, _>>()?;
        for origin in &others {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder
            .build()
            .map_err(|error| format!("identity: {error}"))?;
        Ok(Self {
            webauthn: Arc::new(webauthn),
            config: Arc::new(config.clone()),
        })
    }
}

/// Maps a WebAuthn verification failure to `passkey_rejected`, logging only its kind.
pub(crate) fn rejected(error: webauthn_rs::prelude::WebauthnError) -> AppError {
    tracing::info!(reason = %error, "passkey verification failed");
    AppError::new(crate::error::ErrorCode::PasskeyRejected)
}
