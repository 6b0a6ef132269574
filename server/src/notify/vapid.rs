//! The VAPID key pair (RFC 8292) the server signs Web Push requests with. A configured key
//! (`push.vapid_private_key`) is used when given; otherwise one is made on first start and kept
//! in `server_keys`, so every node signs with the same key and browsers' subscriptions (bound
//! to the public key) survive restarts.

use crate::db::entities::server_keys;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};
use secrecy::{ExposeSecret, SecretString};
use web_push::VapidSignatureBuilder;

/// The row name of the generated key in `server_keys`.
const KEY_NAME: &str = "vapid_private_key";

/// The server's VAPID key pair.
#[derive(Clone)]
pub struct VapidKey {
    private: SecretString,
    public: Vec<u8>,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("public", &self.public_base64())
            .finish_non_exhaustive()
    }
}

impl VapidKey {
    /// The key pair of a private key (the P-256 scalar, base64url without padding).
    pub fn from_private(private: SecretString) -> Result<Self, String> {
        let public = VapidSignatureBuilder::from_base64_no_sub(private.expose_secret())
            .map_err(|_| "push.vapid_private_key is not a P-256 private key in base64url")?
            .get_public_key();
        Ok(Self { private, public })
    }

    /// A new random key pair.
    pub fn generate() -> Result<Self, String> {
        // A random 256-bit string is a valid scalar but for a chance of about 2^-32; try again.
        for _ in 0..8 {
            let mut scalar = [0u8; 32];
            rand::rng().fill_bytes(&mut scalar);
            if let Ok(key) = Self::from_private(SecretString::from(URL_SAFE_NO_PAD.encode(scalar)))
            {
                return Ok(key);
            }
        }
        Err("could not make a VAPID key".to_owned())
    }

    /// The configured key, else the one kept in the database (made and stored now if there is
    /// none; when two nodes start together, the first insert wins and both read it back).
    pub async fn load_or_create(
        db: &impl ConnectionTrait,
        configured: Option<&SecretString>,
        now: DateTime<Utc>,
    ) -> Result<Self, String> {
        if let Some(private) = configured {
            return Self::from_private(private.clone());
        }
        let stored = |error: sea_orm::DbErr| format!("VAPID key in the database: {error}");
        if let Some(row) = server_keys::Entity::find_by_id(KEY_NAME)
            .one(db)
            .await
            .map_err(stored)?
        {
            return Self::from_private(SecretString::from(row.value));
        }
        let fresh = Self::generate()?;
        server_keys::Entity::insert(server_keys::ActiveModel {
            name: Set(KEY_NAME.to_owned()),
            value: Set(fresh.private.expose_secret().to_owned()),
            created_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(server_keys::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .map_err(stored)?;
        let row = server_keys::Entity::find_by_id(KEY_NAME)
            .one(db)
            .await
            .map_err(stored)?
            .ok_or("VAPID key vanished from the database")?;
        Self::from_private(SecretString::from(row.value))
    }

    /// The public key as an uncompressed P-256 point, base64url: what a browser's
    /// `pushManager.subscribe({applicationServerKey})` takes.
    pub fn public_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.public)
    }

    /// The private key, for signing.
    pub(super) fn private(&self) -> &str {
        self.private.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_round_trips_through_its_private_half() {
        let key = VapidKey::generate();
        assert!(key.is_ok());
        if let Ok(key) = key {
            let again = VapidKey::from_private(SecretString::from(key.private().to_owned()))
                .map(|k| k.public_base64());
            assert_eq!(again, Ok(key.public_base64()));
            let bytes = URL_SAFE_NO_PAD
                .decode(key.public_base64())
                .unwrap_or_default();
            assert_eq!((bytes.len(), bytes.first()), (65, Some(&4)));
        }
    }

    #[test]
    fn a_bad_configured_key_names_the_setting() {
        let error = VapidKey::from_private(SecretString::from("not-a-key".to_owned())).err();
        assert!(error.is_some_and(|e| e.contains("push.vapid_private_key")));
    }
}
