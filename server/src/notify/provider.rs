//! The one interface every push service is reached through, what a notice carries, and how
//! the services' answers are classified (accepted, retry later, the channel is gone, refused).

use crate::db::entities::push_subscriptions::{self, PushProvider};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// One notice for one device.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The delivery's id: the dedupe key the device receives (it shows one notice per id).
    pub id: Uuid,
    /// The opaque hint the SDK's `handle_push` uses to sync the right profile.
    pub hint: Option<String>,
    /// What notices collapse by at the push service (a newer one replaces an older one).
    pub topic: String,
    /// When the notice stops being worth delivering.
    pub expires_at: DateTime<Utc>,
    /// The moment of sending.
    pub now: DateTime<Utc>,
}

impl Notice {
    /// Seconds the push service may keep the notice for an offline device (at least 1).
    pub fn ttl_secs(&self) -> u32 {
        let left = (self.expires_at - self.now).num_seconds().max(1);
        u32::try_from(left).unwrap_or(u32::MAX)
    }

    /// The JSON a device receives: the text, the dedupe id and the hint. Nothing else.
    pub fn payload(&self) -> serde_json::Value {
        let mut payload = serde_json::json!({
            "id": self.id,
            "text": super::TEXT,
        });
        if let Some(hint) = &self.hint {
            payload["hint"] = serde_json::Value::from(hint.as_str());
        }
        payload
    }
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The push service accepted the notice.
    Accepted,
    /// A fault worth retrying (5xx, 429, a timeout, no connection); `after` is the service's
    /// `Retry-After` when it gave one.
    Retry {
        /// The HTTP status, when there was an answer.
        status: Option<u16>,
        /// How long the service asked us to wait.
        after: Option<Duration>,
    },
    /// The channel no longer exists (404, 410, an unregistered token): it is deleted.
    Gone {
        /// The HTTP status.
        status: u16,
    },
    /// Refused for good (a bad request or credentials): dropped, not retried.
    Refused {
        /// The HTTP status, when there was an answer.
        status: Option<u16>,
    },
}

impl Outcome {
    /// The HTTP status, if any, for the delivery row.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Accepted => None,
            Self::Retry { status, .. } | Self::Refused { status } => *status,
            Self::Gone { status } => Some(*status),
        }
    }

    /// The usual reading of a push service's answer at `now`: 2xx accepted; 404 and 410 gone;
    /// 429 and 5xx retried (honouring `Retry-After`); anything else refused.
    pub fn from_response(status: u16, retry_after: Option<&str>, now: DateTime<Utc>) -> Self {
        match status {
            200..=299 => Self::Accepted,
            404 | 410 => Self::Gone { status },
            429 | 500..=599 => Self::Retry {
                status: Some(status),
                after: retry_after.and_then(|v| parse_retry_after(v, now)),
            },
            _ => Self::Refused {
                status: Some(status),
            },
        }
    }

    /// A request that got no answer: a timeout or a connection failure is retried; a request
    /// that could not even be built (a malformed URL) never will be sent.
    pub fn from_transport_error(error: &reqwest::Error) -> Self {
        if error.is_builder() {
            Self::Refused { status: None }
        } else {
            Self::Retry {
                status: None,
                after: None,
            }
        }
    }
}

/// The status of a push service's answer and its `Retry-After`, if any.
pub fn status_and_retry_after(response: &reqwest::Response) -> (u16, Option<String>) {
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (response.status().as_u16(), retry_after)
}

/// `Retry-After` as seconds or as an HTTP date, seen at `now` (bounded: at most a day).
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if value.len() > 64 {
        return None;
    }
    let secs = match value.parse::<u64>() {
        Ok(secs) => secs,
        Err(_) => {
            let date = DateTime::parse_from_rfc2822(value).ok()?;
            u64::try_from((date.to_utc() - now).num_seconds().max(0)).ok()?
        }
    };
    Some(Duration::from_secs(secs.min(24 * 3600)))
}

/// A future of one attempt.
pub type Attempt<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// A push service.
pub trait Provider: Send + Sync {
    /// Sends `notice` to the device behind `channel` and says what became of it. Never logs
    /// the channel's address or token.
    fn send<'a>(
        &'a self,
        channel: &'a push_subscriptions::Model,
        notice: &'a Notice,
    ) -> Attempt<'a>;
}

/// The configured providers, by the kind of channel they serve.
#[derive(Clone, Default)]
pub struct Providers(HashMap<PushProvider, Arc<dyn Provider>>);

impl Providers {
    /// Adds (or replaces) the provider of one kind of channel.
    pub fn with(mut self, kind: PushProvider, provider: Arc<dyn Provider>) -> Self {
        self.0.insert(kind, provider);
        self
    }

    /// The provider serving `kind`, if configured.
    pub fn get(&self, kind: PushProvider) -> Option<&Arc<dyn Provider>> {
        self.0.get(&kind)
    }
}

/// The HTTP client push requests go out on (rustls with the process's crypto provider; HTTP/2
/// when the service offers it, as APNs requires).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|error| format!("push HTTP client: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_as_the_push_services_mean_them() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default();
        assert_eq!(Outcome::from_response(201, None, now), Outcome::Accepted);
        assert_eq!(
            Outcome::from_response(410, None, now),
            Outcome::Gone { status: 410 }
        );
        assert_eq!(
            Outcome::from_response(404, None, now),
            Outcome::Gone { status: 404 }
        );
        assert_eq!(
            Outcome::from_response(429, Some("120"), now),
            Outcome::Retry {
                status: Some(429),
                after: Some(Duration::from_secs(120))
            }
        );
        assert_eq!(
            Outcome::from_response(503, Some("soon"), now),
            Outcome::Retry {
                status: Some(503),
                after: None
            }
        );
        assert_eq!(
            Outcome::from_response(400, None, now),
            Outcome::Refused { status: Some(400) }
        );
        // An HTTP date: the time left until it (none when past).
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 09:02:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
    }
}
