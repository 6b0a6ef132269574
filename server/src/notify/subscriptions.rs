//! A device's push channel and its notification preferences. A device registers the kind of
//! channel it has: a browser's Web Push subscription (its `PushSubscription` JSON), or the
//! device token of the iOS app (APNs) or the Android app (FCM). Everything a device sends is
//! bounded and checked before any parser sees it; the channel is replaced whole on every PUT
//! and deleted with the device's revocation.

use super::KINDS;
use crate::db::entities::push_subscriptions::{self, PushProvider};
use crate::db::entities::{devices, notification_preferences};
use crate::error::AppError;
use crate::validate::{Invalid, Validator};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use serde::Deserialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The longest endpoint URL accepted.
const MAX_ENDPOINT_CHARS: usize = 2048;
/// The longest APNs or FCM device token accepted.
const MAX_TOKEN_CHARS: usize = 4096;

/// What a device sends to register its push channel: the browser's `PushSubscription` JSON
/// (`endpoint`, `expirationTime`, `keys`), or `provider` `apns`/`fcm` with its `token`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChannelRequest {
    /// `web_push` (the default), `apns` or `fcm`.
    pub provider: Option<String>,
    /// Web Push: the push service URL (`https://`).
    pub endpoint: Option<String>,
    /// Web Push: when the browser will end the subscription (ms since the epoch), if it says.
    #[serde(rename = "expirationTime")]
    #[schema(value_type = Option<f64>)]
    pub expiration_time: Option<serde_json::Value>,
    /// Web Push: the browser's keys.
    pub keys: Option<ChannelKeys>,
    /// APNs or FCM: the device token.
    pub token: Option<String>,
}

/// A browser's Web Push keys.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChannelKeys {
    /// The browser's P-256 public key: an uncompressed point, base64url.
    pub p256dh: String,
    /// The 16-byte authentication secret, base64url.
    pub auth: String,
}

/// A checked channel, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// A browser's subscription.
    WebPush {
        /// The push service URL.
        endpoint: String,
        /// The browser's public key.
        p256dh: String,
        /// The authentication secret.
        auth: String,
        /// When the browser ends it.
        expires_at: Option<DateTime<Utc>>,
    },
    /// The iOS app's APNs device token (hex).
    Apns(String),
    /// The Android app's FCM registration token.
    Fcm(String),
}

/// Checks an endpoint: at most 2048 characters, an absolute `https://` URL (or, when
/// `allow_insecure_loopback`, `http://127.0.0.1:<port>`), no credentials in it.
pub fn check_endpoint(endpoint: &str, allow_insecure_loopback: bool) -> Result<String, Invalid> {
    if endpoint.len() > MAX_ENDPOINT_CHARS {
        return Err(Invalid::new("too_long", "at most 2048 characters"));
    }
    let url = url::Url::parse(endpoint)
        .map_err(|_| Invalid::new("invalid_url", "an absolute https:// URL"))?;
    let loopback =
        url.scheme() == "http" && allow_insecure_loopback && url.host_str() == Some("127.0.0.1");
    if !(url.scheme() == "https" || loopback) || url.host_str().is_none() {
        return Err(Invalid::new(
            "https_required",
            "the endpoint must be https://",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Invalid::new(
            "invalid_url",
            "an endpoint carries no credentials",
        ));
    }
    Ok(url.to_string())
}

/// Decodes a short base64url value of exactly `len` bytes.
fn check_key(value: &str, len: usize, what: &str) -> Result<Vec<u8>, Invalid> {
    if value.len() > 128 {
        return Err(Invalid::new("too_long", what));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| Invalid::new("invalid_key", what))?;
    if bytes.len() != len {
        return Err(Invalid::new("invalid_key", what));
    }
    Ok(bytes)
}

fn check_token(token: Option<&str>, apns: bool) -> Result<String, Invalid> {
    let token = token.ok_or_else(|| Invalid::new("required", "the device token"))?;
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Err(Invalid::new("invalid_token", "1 to 4096 characters"));
    }
    let fits = if apns {
        token.len() >= 64 && token.chars().all(|c| c.is_ascii_hexdigit())
    } else {
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
    };
    if !fits {
        return Err(Invalid::new(
            "invalid_token",
            if apns {
                "an APNs device token in hex"
            } else {
                "an FCM registration token"
            },
        ));
    }
    Ok(token.to_owned())
}

impl ChannelRequest {
    /// Checks every field, reporting all the bad ones at once.
    pub fn check(&self, allow_insecure_loopback: bool) -> Result<Channel, AppError> {
        let mut v = Validator::new();
        let provider = v.check(
            "provider",
            match self.provider.as_deref().unwrap_or("web_push") {
                "web_push" => Ok(PushProvider::WebPush),
                "apns" => Ok(PushProvider::Apns),
                "fcm" => Ok(PushProvider::Fcm),
                _ => Err(Invalid::new("unknown_provider", "web_push, apns or fcm")),
            },
        );
        let channel = match provider {
            Some(PushProvider::WebPush) => {
                let endpoint = v.check(
                    "endpoint",
                    self.endpoint
                        .as_deref()
                        .ok_or_else(|| Invalid::new("required", "the push service URL"))
                        .and_then(|e| check_endpoint(e, allow_insecure_loopback)),
                );
                let keys = self.keys.as_ref();
                let p256dh = v.check(
                    "keys.p256dh",
                    keys.ok_or_else(|| Invalid::new("required", "the browser's public key"))
                        .and_then(|k| check_key(&k.p256dh, 65, "an uncompressed P-256 point"))
                        .and_then(|bytes| {
                            if bytes.first() == Some(&4) {
                                Ok(URL_SAFE_NO_PAD.encode(bytes))
                            } else {
                                Err(Invalid::new("invalid_key", "an uncompressed P-256 point"))
                            }
                        }),
                );
                let auth = v.check(
                    "keys.auth",
                    keys.ok_or_else(|| Invalid::new("required", "the authentication secret"))
                        .and_then(|k| check_key(&k.auth, 16, "16 bytes"))
                        .map(|bytes| URL_SAFE_NO_PAD.encode(bytes)),
                );
                let expires_at = v.check(
                    "expirationTime",
                    match &self.expiration_time {
                        None | Some(serde_json::Value::Null) => Ok(None),
                        Some(value) => value
                            .as_f64()
                            .filter(|ms| ms.is_finite())
                            .and_then(|ms| DateTime::from_timestamp_millis(ms as i64))
                            .map(Some)
                            .ok_or_else(|| Invalid::new("invalid_time", "milliseconds since 1970")),
                    },
                );
                match (endpoint, p256dh, auth, expires_at) {
                    (Some(endpoint), Some(p256dh), Some(auth), Some(expires_at)) => {
                        Some(Channel::WebPush {
                            endpoint,
                            p256dh,
                            auth,
                            expires_at,
                        })
                    }
                    _ => None,
                }
            }
            Some(PushProvider::Apns) => v
                .check("token", check_token(self.token.as_deref(), true))
                .map(Channel::Apns),
            Some(PushProvider::Fcm) => v
                .check("token", check_token(self.token.as_deref(), false))
                .map(Channel::Fcm),
            None => None,
        };
        v.finish().map_err(AppError::validation)?;
        channel.ok_or_else(|| AppError::internal("a checked channel is missing"))
    }
}

/// Whether `device_id` is a live device of `account_id`.
pub async fn is_live_device(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    device_id: Uuid,
) -> Result<bool, DbErr> {
    Ok(devices::Entity::find_by_id(device_id)
        .filter(devices::Column::AccountId.eq(account_id))
        .filter(devices::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .is_some())
}

/// Stores `channel` as the device's push channel, replacing any earlier one.
pub async fn put(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    device_id: Uuid,
    channel: Channel,
    now: DateTime<Utc>,
) -> Result<push_subscriptions::Model, DbErr> {
    let (provider, endpoint, p256dh, auth, token, expires_at) = match channel {
        Channel::WebPush {
            endpoint,
            p256dh,
            auth,
            expires_at,
        } => (
            PushProvider::WebPush,
            Some(endpoint),
            Some(p256dh),
            Some(auth),
            None,
            expires_at,
        ),
        Channel::Apns(token) => (PushProvider::Apns, None, None, None, Some(token), None),
        Channel::Fcm(token) => (PushProvider::Fcm, None, None, None, Some(token), None),
    };
    let row = push_subscriptions::ActiveModel {
        device_id: Set(device_id),
        account_id: Set(account_id),
        provider: Set(provider),
        endpoint: Set(endpoint),
        p256dh: Set(p256dh),
        auth: Set(auth),
        token: Set(token),
        expires_at: Set(expires_at),
        created_at: Set(now),
        updated_at: Set(now),
    };
    use push_subscriptions::Column as C;
    push_subscriptions::Entity::insert(row)
        .on_conflict(
            OnConflict::column(C::DeviceId)
                .update_columns([
                    C::Provider,
                    C::Endpoint,
                    C::P256dh,
                    C::Auth,
                    C::Token,
                    C::ExpiresAt,
                    C::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    push_subscriptions::Entity::find_by_id(device_id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("push subscription".to_owned()))
}

/// Removes the device's push channel; whether there was one.
pub async fn remove(db: &impl ConnectionTrait, device_id: Uuid) -> Result<bool, DbErr> {
    let deleted = push_subscriptions::Entity::delete_many()
        .filter(push_subscriptions::Column::DeviceId.eq(device_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}

/// Removes the push channel of every device of an account (account recovery: the old devices
/// are lost).
pub async fn remove_all(db: &impl ConnectionTrait, account_id: Uuid) -> Result<(), DbErr> {
    push_subscriptions::Entity::delete_many()
        .filter(push_subscriptions::Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Every kind with whether the device wants it (on unless turned off).
pub async fn preferences(
    db: &impl ConnectionTrait,
    device_id: Uuid,
) -> Result<BTreeMap<String, bool>, DbErr> {
    let mut all: BTreeMap<String, bool> = KINDS.iter().map(|k| ((*k).to_owned(), true)).collect();
    for row in notification_preferences::Entity::find()
        .filter(notification_preferences::Column::DeviceId.eq(device_id))
        .all(db)
        .await?
    {
        all.insert(row.kind, row.enabled);
    }
    Ok(all)
}

/// Checks a change of preferences: every key must be a known kind.
pub fn check_preferences(kinds: &BTreeMap<String, bool>) -> Result<(), AppError> {
    let mut v = Validator::new();
    for kind in kinds.keys() {
        if !KINDS.contains(&kind.as_str()) {
            let name = if kind.len() > 64 { "kinds" } else { kind };
            v.check::<()>(
                format!("kinds.{name}"),
                Err(Invalid::new("unknown_kind", "not a notification kind")),
            );
        }
    }
    v.finish().map_err(AppError::validation)
}

/// Turns kinds on or off for one device (others stay as they were).
pub async fn set_preferences(
    db: &impl ConnectionTrait,
    device_id: Uuid,
    kinds: &BTreeMap<String, bool>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use notification_preferences::Column as C;
    for (kind, enabled) in kinds {
        notification_preferences::Entity::insert(notification_preferences::ActiveModel {
            device_id: Set(device_id),
            kind: Set(kind.clone()),
            enabled: Set(*enabled),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([C::DeviceId, C::Kind])
                .update_columns([C::Enabled, C::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_unless_loopback_is_allowed() {
        assert!(check_endpoint("https://push.example.net/abc", false).is_ok());
        assert_eq!(
            check_endpoint("http://push.example.net/abc", true).map_err(|e| e.code),
            Err("https_required")
        );
        assert_eq!(
            check_endpoint("http://127.0.0.1:9000/p", false).map_err(|e| e.code),
            Err("https_required")
        );
        assert!(check_endpoint("http://127.0.0.1:9000/p", true).is_ok());
        assert_eq!(
            check_endpoint("http://localhost:9000/p", true).map_err(|e| e.code),
            Err("https_required")
        );
        assert_eq!(
            check_endpoint("https://user:pw@push.example.net/", false).map_err(|e| e.code),
            Err("invalid_url")
        );
        let long = format!("https://push.example.net/{}", "a".repeat(2100));
        assert_eq!(
            check_endpoint(&long, false).map_err(|e| e.code),
            Err("too_long")
        );
    }
}
