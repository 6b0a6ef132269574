//! A local Web Push service for the tests, checking every request as a browser vendor's push
//! service would: the VAPID token (RFC 8292: ES256 over the server's published key, `aud` the
//! service's own origin, `exp` within 24 hours, `sub` a contact), the headers (`TTL`,
//! `Urgency`, `Topic`, `Content-Encoding: aes128gcm`), and then it decrypts the body as the
//! browser would (RFC 8291 key derivation over RFC 8188 `aes128gcm`), written here from p256
//! ECDH, HKDF and AES-128-GCM rather than with the server's `web-push` crate, so the two
//! implementations check each other.
//!
//! Faults can be queued (a status, `429` with `Retry-After`, a hang past the server's timeout);
//! each applies to one request, in order. Every request is recorded with what it carried.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the service does with one request instead of accepting it.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Answer with this status.
    Status(u16),
    /// Answer 429 with `Retry-After: <secs>`.
    RetryAfter(u64),
    /// Accept the message (the device gets it) but answer only after this long.
    Hang(Duration),
}

/// One browser's subscription: its ECDH key pair and authentication secret.
pub struct Subscriber {
    secret: SecretKey,
    auth: [u8; 16],
    /// The push service URL of this subscription.
    pub endpoint: String,
}

impl Subscriber {
    /// The browser's `PushSubscription` JSON.
    pub fn subscription(&self) -> Value {
        json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(self.public_key()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            }
        })
    }

    fn public_key(&self) -> Vec<u8> {
        self.secret
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    /// Decrypts an `aes128gcm` body (one record) as RFC 8291 says the user agent does.
    pub fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        // RFC 8188 header: salt (16) | record size (4) | key id length (1) | key id.
        if body.len() < 21 {
            return Err("body shorter than the aes128gcm header".into());
        }
        let salt = &body[..16];
        let record_size = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
        let id_len = body[20] as usize;
        if id_len != 65 || body.len() < 21 + id_len {
            return Err(format!(
                "key id of {id_len} bytes, not an uncompressed point"
            ));
        }
        let sender_public = &body[21..21 + id_len];
        let ciphertext = &body[21 + id_len..];
        if ciphertext.len() > record_size {
            return Err("more than one record".into());
        }
        let sender = PublicKey::from_sec1_bytes(sender_public).map_err(|e| e.to_string())?;
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender.as_affine());
        // RFC 8291 §3.3: IKM from the ECDH secret, keyed by the auth secret.
        let mut key_info = b"WebPush: info\0".to_vec();
        key_info.extend_from_slice(&self.public_key());
        key_info.extend_from_slice(sender_public);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
            .expand(&key_info, &mut ikm)
            .map_err(|e| e.to_string())?;
        // RFC 8188 §2.2: content encryption key and nonce from the salt.
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let mut cek = [0u8; 16];
        let mut nonce = [0u8; 12];
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
            .map_err(|e| e.to_string())?;
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
            .map_err(|e| e.to_string())?;
        let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|e| e.to_string())?;
        let mut plain = cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| "authentication tag does not verify".to_owned())?;
        // Padding: zeros after a 0x02 delimiter (the last record).
        while plain.last() == Some(&0) {
            plain.pop();
        }
        if plain.pop() != Some(2) {
            return Err("no last-record delimiter".into());
        }
        Ok(plain)
    }
}

/// One request the service received.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The subscription (the last path segment of its endpoint).
    pub subscription: String,
    /// The decrypted payload, as JSON.
    pub payload: Value,
    /// The decrypted payload, as sent.
    pub text: String,
    /// `TTL`, `Urgency` and `Topic`.
    pub ttl: u64,
    /// `Urgency`.
    pub urgency: Option<String>,
    /// `Topic`.
    pub topic: Option<String>,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    subscribers: BTreeMap<String, Arc<Subscriber>>,
    faults: VecDeque<Fault>,
    delivered: Vec<Delivered>,
    errors: Vec<String>,
    vapid_public_key: String,
}

/// The running service.
#[derive(Clone)]
pub struct PushService {
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    inner: Arc<Mutex<Inner>>,
}

impl PushService {
    /// Starts the service on an ephemeral loopback port; it accepts only tokens signed by
    /// `vapid_public_key` (base64url, as `GET /api/v1/push/vapid-public-key` gives it).
    pub async fn start(vapid_public_key: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            vapid_public_key: vapid_public_key.to_owned(),
            ..Inner::default()
        }));
        let service = Self { origin, inner };
        let router = Router::new()
            .route("/push/{id}", post(receive))
            .with_state(service.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        service
    }

    /// A new browser subscription at this service.
    pub fn subscriber(&self) -> Arc<Subscriber> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut scalar = [0u8; 32];
        let secret = loop {
            rand::fill(&mut scalar);
            if let Ok(secret) = SecretKey::from_slice(&scalar) {
                break secret;
            }
        };
        let mut auth = [0u8; 16];
        rand::fill(&mut auth);
        let subscriber = Arc::new(Subscriber {
            secret,
            auth,
            endpoint: format!("{}/push/{id}", self.origin),
        });
        self.inner
            .lock()
            .unwrap()
            .subscribers
            .insert(id, subscriber.clone());
        subscriber
    }

    /// Queues faults for the next requests, in order.
    pub fn fail_next(&self, faults: &[Fault]) {
        self.inner.lock().unwrap().faults.extend(faults);
    }

    /// Every request received so far.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.inner.lock().unwrap().delivered.clone()
    }

    /// The notices a subscription's device has (the payloads the service handed it), each id
    /// once as the device shows it, with how many times each id arrived.
    pub fn shown(&self, subscriber: &Subscriber) -> BTreeMap<String, usize> {
        let mut shown = BTreeMap::new();
        for delivered in self.delivered() {
            let reached_device = delivered.status < 300 || delivered.status == 599;
            if subscriber.endpoint.ends_with(&delivered.subscription) && reached_device {
                let id = delivered.payload["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                *shown.entry(id).or_default() += 1;
            }
        }
        shown
    }

    /// Requests that failed the service's checks.
    pub fn errors(&self) -> Vec<String> {
        self.inner.lock().unwrap().errors.clone()
    }
}

/// The push service's handler: check, decrypt, record, answer.
async fn receive(
    State(service): State<PushService>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap) {
    let (status, hang, answer) = match check(&service, &id, &headers, &body) {
        Ok(delivered) => answer(&service, delivered),
        Err(error) => {
            service.inner.lock().unwrap().errors.push(error);
            return (StatusCode::BAD_REQUEST, HeaderMap::new());
        }
    };
    if let Some(wait) = hang {
        tokio::time::sleep(wait).await;
        return (StatusCode::CREATED, answer);
    }
    (StatusCode::from_u16(status).unwrap(), answer)
}

/// Applies the next queued fault (if any) and records the request.
fn answer(service: &PushService, mut delivered: Delivered) -> (u16, Option<Duration>, HeaderMap) {
    let mut inner = service.inner.lock().unwrap();
    let mut answer = HeaderMap::new();
    let (status, hang) = match inner.faults.pop_front() {
        None => (201, None),
        Some(Fault::Status(status)) => (status, None),
        Some(Fault::RetryAfter(secs)) => {
            answer.insert("retry-after", secs.to_string().parse().unwrap());
            (429, None)
        }
        // The device got it; the server never hears back (599: delivered, unanswered).
        Some(Fault::Hang(wait)) => (599, Some(wait)),
    };
    delivered.status = status;
    inner.delivered.push(delivered);
    (status, hang, answer)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn check(
    service: &PushService,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Delivered, String> {
    let (subscriber, vapid_public_key) = {
        let inner = service.inner.lock().unwrap();
        let subscriber = inner
            .subscribers
            .get(id)
            .cloned()
            .ok_or("unknown subscription")?;
        (subscriber, inner.vapid_public_key.clone())
    };
    check_vapid(headers, &service.origin, &vapid_public_key)?;
    if header(headers, "content-encoding") != Some("aes128gcm") {
        return Err("Content-Encoding is not aes128gcm".into());
    }
    let ttl: u64 = header(headers, "ttl")
        .and_then(|t| t.parse().ok())
        .ok_or("no TTL")?;
    let urgency = header(headers, "urgency").map(str::to_owned);
    if let Some(urgency) = &urgency
        && !["very-low", "low", "normal", "high"].contains(&urgency.as_str())
    {
        return Err(format!("bad Urgency {urgency}"));
    }
    let topic = header(headers, "topic").map(str::to_owned);
    if let Some(topic) = &topic
        && (topic.len() > 32
            || !topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Err(format!("bad Topic {topic}"));
    }
    let plain = subscriber.decrypt(body)?;
    let text = String::from_utf8(plain).map_err(|e| e.to_string())?;
    let payload: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(Delivered {
        subscription: id.to_owned(),
        payload,
        text,
        ttl,
        urgency,
        topic,
        status: 0,
    })
}

/// RFC 8292: `Authorization: vapid t=<JWT>, k=<public key>`.
fn check_vapid(headers: &HeaderMap, origin: &str, expected_key: &str) -> Result<(), String> {
    let authorization = header(headers, "authorization").ok_or("no Authorization")?;
    let params = authorization
        .strip_prefix("vapid ")
        .ok_or("not a vapid Authorization")?;
    let mut token = None;
    let mut key = None;
    for part in params.split(',') {
        let part = part.trim();
        if let Some(t) = part.strip_prefix("t=") {
            token = Some(t);
        } else if let Some(k) = part.strip_prefix("k=") {
            key = Some(k);
        }
    }
    let (token, key) = (token.ok_or("no t=")?, key.ok_or("no k=")?);
    if key != expected_key {
        return Err("k is not the server's published VAPID key".into());
    }
    let key = URL_SAFE_NO_PAD.decode(key).map_err(|e| e.to_string())?;
    let mut parts = token.split('.');
    let (header_b64, claims_b64, signature_b64) = (
        parts.next().ok_or("no JWT header")?,
        parts.next().ok_or("no JWT claims")?,
        parts.next().ok_or("no JWT signature")?,
    );
    let jwt_header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    if jwt_header["alg"] != "ES256" {
        return Err(format!("JWT alg {}", jwt_header["alg"]));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|e| e.to_string())?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &key)
        .verify(format!("{header_b64}.{claims_b64}").as_bytes(), &signature)
        .map_err(|_| "JWT signature does not verify with k")?;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(claims_b64)
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    if claims["aud"] != origin {
        return Err(format!("aud {} is not {origin}", claims["aud"]));
    }
    // The token's expiry is wall-clock time by design: the push service checks it against its
    // own clock.
    #[allow(clippy::disallowed_methods)]
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().ok_or("no exp")?;
    if exp <= now || exp > now + 24 * 3600 {
        return Err(format!("exp {exp} is not within 24 hours of {now}"));
    }
    let sub = claims["sub"].as_str().unwrap_or_default();
    if !(sub.starts_with("mailto:") || sub.starts_with("https://")) {
        return Err(format!("sub {sub:?} is no contact"));
    }
    Ok(())
}
