//! The outbox: intents (book, cancel, order, message, mark read) written to the store before
//! the call that queued them returns, sent in every sync frame until their outcome arrives,
//! and dropped only after the documents that reply carried are saved. A crash between any two
//! steps loses nothing: an intent still in the outbox is sent again with the same key, and the
//! server, which applies each key once, answers the outcome it stored.

use crate::error::Result;
use crate::model::PendingIntent;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use sync_protocol::{Intent, IntentAction};

/// The outbox's store entry.
pub const ENTRY: &str = "outbox";

/// One queued intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    /// The intent, with its idempotency key.
    pub intent: Intent,
    /// When it was queued (RFC 3339).
    pub queued_at: String,
}

/// The intents not yet settled, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outbox {
    /// The queue.
    pub queued: Vec<Queued>,
}

impl Outbox {
    /// The outbox kept in `store` (empty when there is none).
    pub fn load(store: &Store) -> Result<Self> {
        Ok(store.get_cbor(ENTRY)?.unwrap_or_default())
    }

    /// Adds `intent` and writes the outbox; only then is it queued.
    pub fn queue(&mut self, store: &mut Store, intent: Intent, now: String) -> Result<()> {
        if self.queued.iter().any(|q| q.intent.key == intent.key) {
            return Ok(());
        }
        let mut next = self.clone();
        next.queued.push(Queued {
            intent,
            queued_at: now,
        });
        store.put_cbor(ENTRY, &next)?;
        *self = next;
        Ok(())
    }

    /// Drops the intents whose keys are `settled` and writes the outbox.
    pub fn settle(&mut self, store: &mut Store, settled: &[String]) -> Result<()> {
        let before = self.queued.len();
        let mut next = self.clone();
        next.queued.retain(|q| !settled.contains(&q.intent.key));
        if next.queued.len() != before {
            store.put_cbor(ENTRY, &next)?;
            *self = next;
        }
        Ok(())
    }

    /// The intents, as the app sees them.
    pub fn pending(&self) -> Vec<PendingIntent> {
        self.queued
            .iter()
            .map(|q| PendingIntent {
                key: q.intent.key.clone(),
                patient_id: q.intent.patient_id.to_string(),
                action: action_name(&q.intent.action).to_owned(),
                queued_at: q.queued_at.clone(),
            })
            .collect()
    }
}

/// The wire name of an action.
pub fn action_name(action: &IntentAction) -> &'static str {
    match action {
        IntentAction::BookAppointment { .. } => "book_appointment",
        IntentAction::CancelAppointment { .. } => "cancel_appointment",
        IntentAction::OrderRepeat { .. } => "order_repeat",
        IntentAction::SendMessage { .. } => "send_message",
        IntentAction::MarkMessageRead { .. } => "mark_message_read",
    }
}
