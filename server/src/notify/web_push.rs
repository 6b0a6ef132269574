//! Web Push (RFC 8030) with VAPID (RFC 8292) and `aes128gcm` message encryption (RFC 8291):
//! the `web-push` crate builds the signed, encrypted request; the server's own HTTP client
//! sends it.

use super::provider::{Attempt, Notice, Outcome, Provider, status_and_retry_after};
use super::vapid::VapidKey;
use crate::db::entities::push_subscriptions;
use web_push::{
    ContentEncoding, SubscriptionInfo, Urgency, VapidSignatureBuilder, WebPushMessage,
    WebPushMessageBuilder,
};

/// Sends to browsers' push services.
pub struct WebPush {
    client: reqwest::Client,
    key: VapidKey,
    subject: String,
}

impl WebPush {
    /// A Web Push sender signing with `key`, naming `subject` (`mailto:` or `https:`) as the
    /// contact in every VAPID token.
    pub fn new(client: reqwest::Client, key: VapidKey, subject: String) -> Self {
        Self {
            client,
            key,
            subject,
        }
    }

    /// The signed, encrypted request for one notice, or `None` when the subscription's keys
    /// cannot be used (the browser sent something unusable).
    fn request(
        &self,
        channel: &push_subscriptions::Model,
        notice: &Notice,
    ) -> Option<(String, WebPushMessage)> {
        let endpoint = channel.endpoint.clone()?;
        // The audience is the push service's origin, port included (RFC 8292 §2).
        let audience = url::Url::parse(&endpoint)
            .ok()?
            .origin()
            .ascii_serialization();
        let info = SubscriptionInfo::new(
            endpoint.clone(),
            channel.p256dh.clone()?,
            channel.auth.clone()?,
        );
        let mut signature = VapidSignatureBuilder::from_base64(self.key.private(), &info).ok()?;
        signature.add_claim("sub", self.subject.as_str());
        signature.add_claim("aud", audience);
        let signature = signature.build().ok()?;
        let payload = notice.payload().to_string().into_bytes();
        let mut message = WebPushMessageBuilder::new(&info);
        message.set_payload(ContentEncoding::Aes128Gcm, &payload);
        message.set_ttl(notice.ttl_secs());
        message.set_urgency(Urgency::Normal);
        message.set_topic(notice.topic.clone());
        message.set_vapid_signature(signature);
        Some((endpoint, message.build().ok()?))
    }
}

impl Provider for WebPush {
    fn send<'a>(
        &'a self,
        channel: &'a push_subscriptions::Model,
        notice: &'a Notice,
    ) -> Attempt<'a> {
        Box::pin(async move {
            let Some((endpoint, message)) = self.request(channel, notice) else {
                return Outcome::Refused { status: None };
            };
            let request = web_push::request_builder::build_request::<Vec<u8>>(message);
            let (parts, body) = request.into_parts();
            let mut outgoing = self.client.post(endpoint).body(body);
            for (name, value) in &parts.headers {
                // reqwest sets the length itself.
                if name.as_str() != "content-length" {
                    outgoing = outgoing.header(name.as_str(), value.as_bytes());
                }
            }
            match outgoing.send().await {
                Ok(response) => {
                    let (status, retry_after) = status_and_retry_after(&response);
                    Outcome::from_response(status, retry_after.as_deref(), notice.now)
                }
                Err(error) => Outcome::from_transport_error(&error),
            }
        })
    }
}
