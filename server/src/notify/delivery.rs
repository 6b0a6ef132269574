//! Delivery: the workers every node runs over the notification outbox.
//!
//! A round has two steps, each claiming its rows so any number of nodes share the work
//! (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: the write lock):
//! 1. **Fan-out.** Due outbox rows are claimed. Inside quiet hours they are held until 06:00
//!    London time. Otherwise they are collapsed — one notice per account, profile and topic,
//!    however many events — and one delivery row is written per device of the account that
//!    has a push channel and has not turned all of the notice's kinds off. The unique pair
//!    (outbox row, device) makes a second fan-out of the same event a no-op.
//! 2. **Sending.** Due delivery rows are leased (`claimed_until`), sent through their
//!    provider, and settled: accepted → `sent`; 5xx, 429 (honouring `Retry-After`), a timeout
//!    → another attempt after an exponential backoff with jitter, until the time to live runs
//!    out (`expired`); 404/410 → the channel is deleted and the row `dropped`; other refusals
//!    → `dropped`. A node that dies mid-send leaves a lease that runs out, and another node
//!    sends again: delivery is at least once, and the delivery's id, sent with the notice, is
//!    the key a device dedupes by.
//!
//! Metrics: `push_deliveries_total{provider, outcome}` with outcome `sent`, `retried`,
//! `dropped` or `expired`. Logs name deliveries by id and status only: never an endpoint, a
//! token or a payload.

use super::provider::{Notice, Outcome, Providers};
use super::quiet_hours;
use crate::clock::Clock;
use crate::config::PushConfig;
use crate::db::entities::notification_deliveries::{self, DeliveryState};
use crate::db::entities::push_subscriptions;
use crate::db::entities::{devices, notification_outbox, notification_preferences};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::sea_query::{Expr, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

/// Outbox rows fanned out per round.
const FAN_OUT_BATCH: u64 = 200;
/// Deliveries sent per round.
const SEND_BATCH: u64 = 100;
/// Finished deliveries are kept this long (what was sent, for support), then purged.
const KEEP_FINISHED_DAYS: i64 = 30;

/// What one round did (logged at debug level).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Outbox rows held until quiet hours end.
    pub held: usize,
    /// Outbox rows collapsed into notices and fanned out.
    pub fanned_out: usize,
    /// Delivery rows written.
    pub deliveries: usize,
    /// Attempts made.
    pub attempts: usize,
}

/// One node's delivery worker.
#[derive(Clone)]
pub struct Deliverer {
    db: DatabaseConnection,
    clock: Clock,
    providers: Providers,
    backoff: Duration,
    max_backoff: Duration,
    lease: Duration,
}

impl Deliverer {
    /// A worker sending through `providers` with the retry settings of `config`.
    pub fn new(
        db: DatabaseConnection,
        clock: Clock,
        providers: Providers,
        config: &PushConfig,
    ) -> Self {
        let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        Self {
            db,
            clock,
            providers,
            backoff: secs(config.backoff_secs),
            max_backoff: secs(config.max_backoff_secs.max(config.backoff_secs)),
            // Long enough for a request to time out and be settled.
            lease: secs(config.request_timeout_secs.saturating_mul(2) + 30),
        }
    }

    /// Runs rounds every `every` until the process ends; a failed round is logged and the next
    /// one tries again.
    pub async fn run(self, every: std::time::Duration) {
        loop {
            match self.round().await {
                Ok(round) if round != Round::default() => {
                    tracing::debug!(?round, "push delivery round");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "push delivery round failed; retrying"),
            }
            tokio::time::sleep(every).await;
        }
    }

    /// One round: fan out what is due, then send what is due.
    pub async fn round(&self) -> Result<Round, DbErr> {
        let mut round = Round::default();
        self.fan_out(self.clock.now(), &mut round).await?;
        self.send_due(&mut round).await?;
        Ok(round)
    }

    async fn fan_out(&self, now: DateTime<Utc>, round: &mut Round) -> Result<(), DbErr> {
        use notification_outbox::Column as O;
        let due = || {
            notification_outbox::Entity::find()
                .filter(O::DeliveredAt.is_null())
                .filter(O::NotBefore.lte(now))
        };
        // A plain read first: the write lock is taken only when there is work.
        if due().one(&self.db).await?.is_none() {
            return Ok(());
        }
        let txn = crate::db::begin_write(&self.db).await?;
        let rows = skip_locked(&txn, due().order_by_asc(O::Id).limit(FAN_OUT_BATCH))
            .all(&txn)
            .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        if quiet_hours::is_quiet(now) {
            notification_outbox::Entity::update_many()
                .col_expr(O::NotBefore, Expr::value(quiet_hours::release_time(now)))
                .filter(O::Id.is_in(ids))
                .exec(&txn)
                .await?;
            round.held += rows.len();
            txn.commit().await?;
            return Ok(());
        }
        let (expired, live): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.expires_at <= now);
        for _ in &expired {
            metrics::counter!("push_deliveries_total", "provider" => "none", "outcome" => "expired")
                .increment(1);
        }
        // Collapse: one notice per account, profile and topic.
        let mut notices: BTreeMap<(Uuid, Option<Uuid>, String), Vec<notification_outbox::Model>> =
            BTreeMap::new();
        for row in live {
            notices
                .entry((row.account_id, row.patient_id, row.topic.clone()))
                .or_default()
                .push(row);
        }
        let accounts: BTreeSet<Uuid> = notices.keys().map(|(a, _, _)| *a).collect();
        let channels = live_channels(&txn, &accounts).await?;
        let device_ids: Vec<Uuid> = channels.iter().map(|c| c.device_id).collect();
        let turned_off: BTreeSet<(Uuid, String)> = notification_preferences::Entity::find()
            .filter(notification_preferences::Column::DeviceId.is_in(device_ids))
            .filter(notification_preferences::Column::Enabled.eq(false))
            .all(&txn)
            .await?
            .into_iter()
            .map(|p| (p.device_id, p.kind))
            .collect();
        for ((account_id, patient_id, topic), events) in &notices {
            let first = &events[0];
            let kinds: BTreeSet<&str> = events.iter().map(|e| e.kind.as_str()).collect();
            let expires_at = events
                .iter()
                .map(|e| e.expires_at)
                .max()
                .unwrap_or(first.expires_at);
            for channel in channels.iter().filter(|c| c.account_id == *account_id) {
                let wanted = kinds
                    .iter()
                    .any(|k| !turned_off.contains(&(channel.device_id, (*k).to_owned())));
                if !wanted {
                    continue;
                }
                let inserted =
                    notification_deliveries::Entity::insert(notification_deliveries::ActiveModel {
                        id: Set(Uuid::new_v4()),
                        outbox_id: Set(first.id),
                        device_id: Set(channel.device_id),
                        account_id: Set(*account_id),
                        practice_id: Set(first.practice_id),
                        patient_id: Set(*patient_id),
                        provider: Set(channel.provider),
                        topic: Set(topic.clone()),
                        state: Set(DeliveryState::Pending),
                        attempts: Set(0),
                        next_attempt_at: Set(now),
                        expires_at: Set(expires_at),
                        claimed_until: Set(None),
                        claimed_by: Set(None),
                        last_status: Set(None),
                        created_at: Set(now),
                        finished_at: Set(None),
                    })
                    .on_conflict(
                        OnConflict::columns([
                            notification_deliveries::Column::OutboxId,
                            notification_deliveries::Column::DeviceId,
                        ])
                        .do_nothing()
                        .to_owned(),
                    )
                    .exec_without_returning(&txn)
                    .await?;
                round.deliveries += usize::try_from(inserted).unwrap_or(0);
            }
        }
        round.fanned_out += notices.values().map(Vec::len).sum::<usize>();
        notification_outbox::Entity::update_many()
            .col_expr(O::DeliveredAt, Expr::value(now))
            .filter(O::Id.is_in(ids))
            .exec(&txn)
            .await?;
        notification_deliveries::Entity::delete_many()
            .filter(
                notification_deliveries::Column::FinishedAt
                    .lt(now - Duration::days(KEEP_FINISHED_DAYS)),
            )
            .exec(&txn)
            .await?;
        txn.commit().await
    }

    async fn send_due(&self, round: &mut Round) -> Result<(), DbErr> {
        use notification_deliveries::Column as D;
        let now = self.clock.now();
        let due = || {
            notification_deliveries::Entity::find()
                .filter(D::State.eq(DeliveryState::Pending))
                .filter(D::NextAttemptAt.lte(now))
                .filter(
                    Condition::any()
                        .add(D::ClaimedUntil.is_null())
                        .add(D::ClaimedUntil.lt(now)),
                )
        };
        if due().one(&self.db).await?.is_none() {
            return Ok(());
        }
        let lease = Uuid::new_v4().simple().to_string();
        let txn = crate::db::begin_write(&self.db).await?;
        let rows = skip_locked(&txn, due().order_by_asc(D::NextAttemptAt).limit(SEND_BATCH))
            .all(&txn)
            .await?;
        notification_deliveries::Entity::update_many()
            .col_expr(D::ClaimedUntil, Expr::value(now + self.lease))
            .col_expr(D::ClaimedBy, Expr::value(lease.clone()))
            .filter(D::Id.is_in(rows.iter().map(|r| r.id)))
            .exec(&txn)
            .await?;
        txn.commit().await?;

        let channels: HashMap<Uuid, push_subscriptions::Model> = push_subscriptions::Entity::find()
            .filter(push_subscriptions::Column::DeviceId.is_in(rows.iter().map(|r| r.device_id)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|c| (c.device_id, c))
            .collect();
        let attempts = rows.iter().map(|row| {
            let channel = channels.get(&row.device_id);
            self.attempt(row, channel, &lease)
        });
        round.attempts += rows.len();
        for result in futures_util::future::join_all(attempts).await {
            result?;
        }
        Ok(())
    }

    /// Sends one delivery (unless quiet hours began meanwhile) and settles it.
    async fn attempt(
        &self,
        row: &notification_deliveries::Model,
        channel: Option<&push_subscriptions::Model>,
        lease: &str,
    ) -> Result<(), DbErr> {
        let now = self.clock.now();
        let provider = channel.map_or(row.provider, |c| c.provider);
        let label = provider.as_str();
        if quiet_hours::is_quiet(now) {
            return self
                .settle(
                    row,
                    lease,
                    Settlement::Later(quiet_hours::release_time(now)),
                    None,
                    false,
                )
                .await;
        }
        let (Some(channel), Some(sender)) = (channel, self.providers.get(provider)) else {
            // The channel was removed (or its provider is not configured on this server).
            count(label, "dropped");
            return self
                .settle(
                    row,
                    lease,
                    Settlement::Done(DeliveryState::Dropped),
                    None,
                    false,
                )
                .await;
        };
        let notice = Notice {
            id: row.id,
            hint: row.patient_id.map(|p| p.simple().to_string()),
            topic: row.topic.clone(),
            expires_at: row.expires_at,
            now,
        };
        let outcome = sender.send(channel, &notice).await;
        let now = self.clock.now();
        let status = outcome.status();
        let settlement = match &outcome {
            Outcome::Accepted => {
                count(label, "sent");
                Settlement::Done(DeliveryState::Sent)
            }
            Outcome::Retry { after, .. } => {
                let wait = after
                    .and_then(|a| Duration::from_std(a).ok())
                    .unwrap_or_else(|| self.backoff_after(row.attempts));
                let next = quiet_hours::release_time(now + wait);
                if next >= row.expires_at {
                    count(label, "expired");
                    Settlement::Done(DeliveryState::Expired)
                } else {
                    count(label, "retried");
                    Settlement::Later(next)
                }
            }
            Outcome::Gone { .. } => {
                count(label, "dropped");
                remove_channel(&self.db, channel).await?;
                Settlement::Done(DeliveryState::Dropped)
            }
            Outcome::Refused { .. } => {
                count(label, "dropped");
                Settlement::Done(DeliveryState::Dropped)
            }
        };
        tracing::info!(
            delivery = %row.id,
            provider = label,
            status = status.unwrap_or(0),
            attempt = row.attempts + 1,
            ?settlement,
            "push attempt"
        );
        self.settle(row, lease, settlement, status, true).await
    }

    /// Exponential backoff with equal jitter: half of `backoff × 2^attempts` (capped) plus a
    /// random part of the other half, so retries of many deliveries spread out.
    fn backoff_after(&self, attempts: i32) -> Duration {
        let doubling = 1_i64 << attempts.clamp(0, 20);
        let full = self
            .backoff
            .num_milliseconds()
            .saturating_mul(doubling)
            .min(self.max_backoff.num_milliseconds())
            .max(2);
        let half = full / 2;
        Duration::milliseconds(half + rand::rng().random_range(0..=half))
    }

    async fn settle(
        &self,
        row: &notification_deliveries::Model,
        lease: &str,
        settlement: Settlement,
        status: Option<u16>,
        attempted: bool,
    ) -> Result<(), DbErr> {
        use notification_deliveries::Column as D;
        let now = self.clock.now();
        let mut update = notification_deliveries::Entity::update_many()
            .col_expr(D::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(D::ClaimedBy, Expr::value(Option::<String>::None))
            .col_expr(D::LastStatus, Expr::value(status.map(i32::from)));
        if attempted {
            update = update.col_expr(D::Attempts, Expr::value(row.attempts + 1));
        }
        update = match settlement {
            Settlement::Done(state) => update
                .col_expr(D::State, Expr::value(state))
                .col_expr(D::FinishedAt, Expr::value(now)),
            Settlement::Later(next) => update.col_expr(D::NextAttemptAt, Expr::value(next)),
        };
        // Only the lease holder settles: a node whose lease ran out leaves the row alone.
        update
            .filter(D::Id.eq(row.id))
            .filter(D::ClaimedBy.eq(lease))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// How an attempt ends for its row.
#[derive(Debug, Clone, Copy)]
enum Settlement {
    /// Finished in this state.
    Done(DeliveryState),
    /// Tried again at this instant.
    Later(DateTime<Utc>),
}

fn count(provider: &'static str, outcome: &'static str) {
    metrics::counter!("push_deliveries_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
}

/// Adds `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite's write transaction already excludes
/// other writers).
fn skip_locked<E: EntityTrait>(db: &impl ConnectionTrait, query: Select<E>) -> Select<E> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
    } else {
        query
    }
}

/// The push channels of the accounts' live (not revoked) devices.
async fn live_channels(
    db: &impl ConnectionTrait,
    accounts: &BTreeSet<Uuid>,
) -> Result<Vec<push_subscriptions::Model>, DbErr> {
    let live: BTreeSet<Uuid> = devices::Entity::find()
        .filter(devices::Column::AccountId.is_in(accounts.iter().copied()))
        .filter(devices::Column::RevokedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    Ok(push_subscriptions::Entity::find()
        .filter(push_subscriptions::Column::AccountId.is_in(accounts.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .filter(|c| live.contains(&c.device_id))
        .collect())
}

/// Deletes a channel the push service says is gone, unless the device registered a new one
/// meanwhile.
async fn remove_channel(
    db: &impl ConnectionTrait,
    channel: &push_subscriptions::Model,
) -> Result<(), DbErr> {
    push_subscriptions::Entity::delete_many()
        .filter(push_subscriptions::Column::DeviceId.eq(channel.device_id))
        .filter(push_subscriptions::Column::UpdatedAt.eq(channel.updated_at))
        .exec(db)
        .await?;
    Ok(())
}

/// Starts this node's delivery worker (unless `push.poll_interval_ms` is 0).
pub fn start(deliverer: Deliverer, config: &PushConfig) {
    if config.poll_interval_ms > 0 {
        let every = std::time::Duration::from_millis(config.poll_interval_ms);
        tokio::spawn(deliverer.run(every));
    }
}
