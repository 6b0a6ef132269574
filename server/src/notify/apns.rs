//! The Apple Push Notification service, for the iOS app: HTTP/2 with token authentication (an
//! ES256 JWT naming the key id and team id, reused for up to 50 minutes as Apple asks), one
//! request per device token with `apns-push-type`, `apns-topic`, `apns-collapse-id`,
//! `apns-expiration`, `apns-priority` and the delivery's id as `apns-id`.

use super::jws::Es256;
use super::provider::{Attempt, Notice, Outcome, Provider, status_and_retry_after};
use crate::config::ApnsConfig;
use crate::db::entities::push_subscriptions;
use chrono::{DateTime, Duration, Utc};
use std::sync::Mutex;

/// How long one provider token is used (Apple accepts up to an hour, and refuses a new one
/// more often than every 20 minutes).
const TOKEN_LIFETIME_MINUTES: i64 = 50;

/// Sends to APNs.
pub struct Apns {
    client: reqwest::Client,
    key: Es256,
    key_id: String,
    team_id: String,
    topic: String,
    endpoint: String,
    token: Mutex<Option<(String, DateTime<Utc>)>>,
}

impl Apns {
    /// An APNs sender from its configuration (reads the `.p8` key file).
    pub fn new(config: &ApnsConfig, timeout: std::time::Duration) -> Result<Self, String> {
        let pem = std::fs::read_to_string(&config.key_file)
            .map_err(|e| format!("push.apns.key_file: {e}"))?;
        let key = Es256::from_pem(&pem).map_err(|e| format!("push.apns.key_file: {e}"))?;
        let client = reqwest::Client::builder()
            .http2_prior_knowledge()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("APNs HTTP client: {e}"))?;
        Ok(Self {
            client,
            key,
            key_id: config.key_id.clone(),
            team_id: config.team_id.clone(),
            topic: config.topic.clone(),
            endpoint: config.endpoint.trim_end_matches('/').to_owned(),
            token: Mutex::new(None),
        })
    }

    /// The provider token in use, made anew when older than its lifetime (or when `fresh`).
    fn provider_token(&self, now: DateTime<Utc>, fresh: bool) -> Option<String> {
        let mut cached = self.token.lock().ok()?;
        if let Some((token, issued)) = cached.as_ref() {
            let age = now - *issued;
            if !fresh && age >= Duration::zero() && age < Duration::minutes(TOKEN_LIFETIME_MINUTES)
            {
                return Some(token.clone());
            }
        }
        let token = self
            .key
            .sign(
                &serde_json::json!({"alg": "ES256", "kid": self.key_id}),
                &serde_json::json!({"iss": self.team_id, "iat": now.timestamp()}),
            )
            .ok()?;
        *cached = Some((token.clone(), now));
        Some(token)
    }
}

impl Provider for Apns {
    fn send<'a>(
        &'a self,
        channel: &'a push_subscriptions::Model,
        notice: &'a Notice,
    ) -> Attempt<'a> {
        Box::pin(async move {
            let (Some(device), Some(token)) = (
                channel.token.as_deref(),
                self.provider_token(notice.now, false),
            ) else {
                return Outcome::Refused { status: None };
            };
            let mut body = notice.payload();
            let text = body["text"].take();
            if let Some(object) = body.as_object_mut() {
                object.remove("text");
            }
            body["aps"] = serde_json::json!({"alert": {"body": text}, "sound": "default"});
            let response = self
                .client
                .post(format!("{}/3/device/{device}", self.endpoint))
                .bearer_auth(token)
                .header("apns-push-type", "alert")
                .header("apns-topic", &self.topic)
                .header("apns-collapse-id", &notice.topic)
                .header("apns-expiration", notice.expires_at.timestamp().to_string())
                .header("apns-priority", "10")
                .header("apns-id", notice.id.hyphenated().to_string())
                .json(&body)
                .send()
                .await;
            let response = match response {
                Ok(response) => response,
                Err(error) => return Outcome::from_transport_error(&error),
            };
            let (status, retry_after) = status_and_retry_after(&response);
            let reason = response
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|b| b["reason"].as_str().map(str::to_owned))
                .unwrap_or_default();
            match (status, reason.as_str()) {
                (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => Outcome::Gone { status },
                (403, "ExpiredProviderToken" | "InvalidProviderToken") => {
                    // Make a new provider token for the next attempt.
                    let _ = self.provider_token(notice.now, true);
                    Outcome::Retry {
                        status: Some(status),
                        after: None,
                    }
                }
                _ => Outcome::from_response(status, retry_after.as_deref(), notice.now),
            }
        })
    }
}
