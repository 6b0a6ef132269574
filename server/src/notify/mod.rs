//! Push notifications: telling a patient's (and their proxies') devices that something new is
//! waiting, without a word of it on the lock screen.
//!
//! Domain writes queue content-free rows in `notification_outbox` (`outbox`, which asks
//! the access module who may hear of each change). This module takes it from there:
//! - [`subscriptions`]: a device's push channel (a browser's Web Push subscription, or an APNs
//!   or FCM device token) and its per-kind preferences; a revoked device loses its channel.
//! - [`vapid`]: the VAPID key pair, configured or made on first start and kept for every node.
//! - [`quiet_hours`]: 22:00–06:00 Europe/London, across the clock changes.
//! - [`delivery`]: the workers every node runs: they claim due outbox rows, hold them through
//!   quiet hours, collapse them into one notice per account, profile and topic, fan the notice
//!   out to each device whose preferences want it, and send each (notice, device) pair with
//!   retries, backoff and jitter until its time to live runs out.
//! - [`provider`]: the one interface every push service is reached through, and the
//!   classification of their answers; [`web_push`], [`apns`] and [`fcm`] implement it.
//!
//! What a device receives is [`TEXT`] (the same for every kind, so the lock screen reveals
//! nothing), the delivery's id (the dedupe key: a device shows one notice per id) and an
//! opaque hint naming the profile the SDK's `handle_push` syncs.

pub mod apns;
pub mod delivery;
pub mod fcm;
pub mod jws;
pub mod provider;
pub mod quiet_hours;
pub mod subscriptions;
pub mod vapid;
pub mod web_push;

/// The only text any notification carries: no personal or health detail, no link.
pub const TEXT: &str = "You have a new message in your GP record.";

/// The notification kinds the outbox holds, which a device may turn off one by one.
pub const KINDS: [&str; 8] = [
    "result_released",
    "document_released",
    "message_received",
    "appointment_changed",
    "prescription_updated",
    "proxy_access_changed",
    "proxy_access_ending",
    "record_access_changed",
];

use crate::clock::Clock;
use crate::config::PushConfig;
use crate::db::entities::push_subscriptions::PushProvider;
use provider::Providers;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use vapid::VapidKey;

/// This node's push machinery: the VAPID key (loaded or made once), the native providers and
/// the delivery worker.
#[derive(Clone)]
pub struct Push {
    db: DatabaseConnection,
    clock: Clock,
    config: Arc<PushConfig>,
    vapid: Arc<tokio::sync::OnceCell<VapidKey>>,
    native: Providers,
}

impl Push {
    /// Reads the native providers' keys (APNs, FCM) when configured; fails naming the setting.
    pub fn new(db: DatabaseConnection, clock: Clock, config: &PushConfig) -> Result<Self, String> {
        let timeout = std::time::Duration::from_secs(config.request_timeout_secs);
        let client = provider::http_client(timeout)?;
        let mut native = Providers::default();
        if let Some(apns) = &config.apns {
            native = native.with(
                PushProvider::Apns,
                Arc::new(apns::Apns::new(apns, timeout)?),
            );
        }
        if let Some(fcm) = &config.fcm {
            native = native.with(PushProvider::Fcm, Arc::new(fcm::Fcm::new(fcm, client)?));
        }
        Ok(Self {
            db,
            clock,
            config: Arc::new(config.clone()),
            vapid: Arc::new(tokio::sync::OnceCell::new()),
            native,
        })
    }

    /// The settings push runs with.
    pub fn config(&self) -> &PushConfig {
        &self.config
    }

    /// The VAPID key pair: the configured one, or the one kept in the database (made now if
    /// this is the first start).
    pub async fn vapid_key(&self) -> Result<VapidKey, String> {
        self.vapid
            .get_or_try_init(|| {
                VapidKey::load_or_create(
                    &self.db,
                    self.config.vapid_private_key.as_ref(),
                    self.clock.now(),
                )
            })
            .await
            .cloned()
    }

    /// A delivery worker with every provider (Web Push always, APNs and FCM when configured).
    pub async fn deliverer(&self) -> Result<delivery::Deliverer, String> {
        let timeout = std::time::Duration::from_secs(self.config.request_timeout_secs);
        let web_push = web_push::WebPush::new(
            provider::http_client(timeout)?,
            self.vapid_key().await?,
            self.config.vapid_subject.clone(),
        );
        let providers = self
            .native
            .clone()
            .with(PushProvider::WebPush, Arc::new(web_push));
        Ok(delivery::Deliverer::new(
            self.db.clone(),
            self.clock.clone(),
            providers,
            &self.config,
        ))
    }

    /// Makes (or loads) the VAPID key now and starts this node's delivery worker every
    /// `push.poll_interval_ms` (not at all when it is 0). A failure to load the key is logged
    /// and tried again.
    pub fn start(&self) {
        let push = self.clone();
        tokio::spawn(async move {
            loop {
                match push.deliverer().await {
                    Ok(deliverer) => {
                        delivery::start(deliverer, &push.config);
                        return;
                    }
                    Err(error) => {
                        tracing::error!(%error, "push delivery cannot start; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    }
                }
            }
        });
    }
}
