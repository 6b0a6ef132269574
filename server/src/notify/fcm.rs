//! Firebase Cloud Messaging HTTP v1, for the Android app: an OAuth access token obtained with
//! the service account's RS256-signed assertion (kept until shortly before it expires), then
//! one `messages:send` request per registration token carrying the `message` JSON.

use super::jws::Rs256;
use super::provider::{Attempt, Notice, Outcome, Provider, status_and_retry_after};
use crate::config::FcmConfig;
use crate::db::entities::push_subscriptions;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use tokio::sync::Mutex;

/// The OAuth scope of sending FCM messages.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// The largest service account file read.
const MAX_ACCOUNT_FILE_BYTES: u64 = 64 * 1024;

/// The fields of a service account key file this provider uses.
#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key: String,
    token_uri: String,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct AccessToken {
    access_token: String,
    expires_in: i64,
}

/// Sends to FCM.
pub struct Fcm {
    client: reqwest::Client,
    key: Rs256,
    project_id: String,
    client_email: String,
    token_uri: String,
    endpoint: String,
    token: Mutex<Option<(String, DateTime<Utc>)>>,
}

impl Fcm {
    /// An FCM sender from its configuration (reads the service account file).
    pub fn new(config: &FcmConfig, client: reqwest::Client) -> Result<Self, String> {
        let named = |e: String| format!("push.fcm.service_account_file: {e}");
        let size = std::fs::metadata(&config.service_account_file)
            .map_err(|e| named(e.to_string()))?
            .len();
        if size > MAX_ACCOUNT_FILE_BYTES {
            return Err(named("larger than 64 KiB".to_owned()));
        }
        let text = std::fs::read_to_string(&config.service_account_file)
            .map_err(|e| named(e.to_string()))?;
        let account: ServiceAccount = serde_json::from_str(&text)
            .map_err(|_| named("not a service account key file".to_owned()))?;
        Ok(Self {
            client,
            key: Rs256::from_pem(&account.private_key).map_err(named)?,
            project_id: account.project_id,
            client_email: account.client_email,
            token_uri: account.token_uri,
            endpoint: config.endpoint.trim_end_matches('/').to_owned(),
            token: Mutex::new(None),
        })
    }

    /// The access token in use, fetched anew a minute before it expires.
    async fn access_token(&self, now: DateTime<Utc>) -> Result<String, Outcome> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && now < *until
        {
            return Ok(token.clone());
        }
        let assertion = self
            .key
            .sign(
                &serde_json::json!({"alg": "RS256", "typ": "JWT"}),
                &serde_json::json!({
                    "iss": self.client_email,
                    "scope": SCOPE,
                    "aud": self.token_uri,
                    "iat": now.timestamp(),
                    "exp": (now + Duration::hours(1)).timestamp(),
                }),
            )
            .map_err(|_| Outcome::Refused { status: None })?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
            .append_pair("assertion", &assertion)
            .finish();
        let response = self
            .client
            .post(&self.token_uri)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await
            .map_err(|e| Outcome::from_transport_error(&e))?;
        let status = response.status().as_u16();
        if status != 200 {
            // The service account is refused, or the token service is down: try again later.
            return Err(Outcome::Retry {
                status: Some(status),
                after: None,
            });
        }
        let token: AccessToken = response.json().await.map_err(|_| Outcome::Retry {
            status: Some(status),
            after: None,
        })?;
        let until = now + Duration::seconds(token.expires_in.clamp(60, 3600) - 60);
        *cached = Some((token.access_token.clone(), until));
        Ok(token.access_token)
    }
}

impl Provider for Fcm {
    fn send<'a>(
        &'a self,
        channel: &'a push_subscriptions::Model,
        notice: &'a Notice,
    ) -> Attempt<'a> {
        Box::pin(async move {
            let Some(device) = channel.token.as_deref() else {
                return Outcome::Refused { status: None };
            };
            let access = match self.access_token(notice.now).await {
                Ok(access) => access,
                Err(outcome) => return outcome,
            };
            let payload = notice.payload();
            let mut data = serde_json::json!({"id": payload["id"]});
            if !payload["hint"].is_null() {
                data["hint"] = payload["hint"].clone();
            }
            let message = serde_json::json!({"message": {
                "token": device,
                "notification": {"body": super::TEXT},
                "data": data,
                "android": {
                    "collapse_key": notice.topic,
                    "ttl": format!("{}s", notice.ttl_secs()),
                    "priority": "HIGH",
                },
            }});
            let response = self
                .client
                .post(format!(
                    "{}/v1/projects/{}/messages:send",
                    self.endpoint, self.project_id
                ))
                .bearer_auth(access)
                .json(&message)
                .send()
                .await;
            let response = match response {
                Ok(response) => response,
                Err(error) => return Outcome::from_transport_error(&error),
            };
            let (status, retry_after) = status_and_retry_after(&response);
            match status {
                // The access token was refused: fetch a new one for the next attempt.
                401 => {
                    *self.token.lock().await = None;
                    Outcome::Retry {
                        status: Some(status),
                        after: None,
                    }
                }
                // The token belongs to another sender: it will never work here.
                403 => Outcome::Gone { status },
                _ => Outcome::from_response(status, retry_after.as_deref(), notice.now),
            }
        })
    }
}
