//! The identity section of the configuration: the WebAuthn relying party, session lifetimes
//! and the sign-in rate limits. It lives beside the code it configures; `config` includes it.

use serde::Deserialize;

/// Passkeys (WebAuthn relying party), sessions and rate limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// WebAuthn relying party id: the domain passkeys are bound to. Browsers refuse IP addresses.
    pub rp_id: String,
    /// Name shown by the authenticator.
    pub rp_name: String,
    /// Origins allowed to answer ceremonies: the web console, `https://<rp_id>` for the iOS
    /// associated domain, and `android:apk-key-hash:<hash>` for the Android app.
    pub rp_origins: Vec<String>,
    /// Lifetime of an access token, in seconds.
    pub access_token_secs: u64,
    /// A session unused for this long (seconds) ends: its refresh token stops working.
    pub session_idle_secs: u64,
    /// A session ends this long (seconds) after sign-in, however much it is used.
    pub session_absolute_secs: u64,
    /// Lifetime of a WebAuthn ceremony, in seconds.
    pub ceremony_secs: u64,
    /// Lifetime of a staff enrolment code, in seconds.
    pub staff_enrolment_secs: u64,
    /// Registration, login and refresh attempts allowed per client address per minute.
    pub attempts_per_minute: u32,
    /// Registration attempts allowed per Account ID per minute, from any address.
    pub attempts_per_account_per_minute: u32,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            rp_id: "localhost".to_owned(),
            rp_name: "gp-online".to_owned(),
            rp_origins: vec![
                "https://localhost".to_owned(),
                "https://localhost:8443".to_owned(),
            ],
            access_token_secs: 15 * 60,
            session_idle_secs: 30 * 24 * 3600,
            session_absolute_secs: 180 * 24 * 3600,
            ceremony_secs: 5 * 60,
            staff_enrolment_secs: 7 * 24 * 3600,
            attempts_per_minute: 20,
            attempts_per_account_per_minute: 5,
        }
    }
}
