//! Intents: writes a device makes while offline (book, cancel, order a repeat, send a message,
//! mark a message read), each with a client-generated idempotency key. The device sends an
//! intent in every frame until the server's outcome for its key arrives; the server applies
//! each key exactly once and answers the same outcome to every repeat.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One offline write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// Client-generated idempotency key, unique per account (a UUID is a good choice).
    pub key: String,
    /// The patient it is for (the account holder, or someone they act for).
    #[serde(with = "crate::uuids")]
    pub patient_id: Uuid,
    /// What to do.
    pub action: IntentAction,
}

/// What an intent does; the same service functions as the REST API apply it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IntentAction {
    /// Book a slot.
    BookAppointment {
        /// The slot.
        #[serde(with = "crate::uuids")]
        slot_id: Uuid,
        /// The reason, where the practice asks for one.
        reason: Option<String>,
    },
    /// Cancel an appointment.
    CancelAppointment {
        /// The appointment.
        #[serde(with = "crate::uuids")]
        appointment_id: Uuid,
        /// One of the practice's cancellation reasons.
        reason: String,
    },
    /// Order repeat courses.
    OrderRepeat {
        /// The courses.
        #[serde(with = "crate::uuids::list")]
        course_ids: Vec<Uuid>,
        /// A note for the practice.
        note: Option<String>,
    },
    /// Send a message (a new thread when `thread_id` is absent).
    SendMessage {
        /// The thread to reply in.
        #[serde(default, with = "crate::uuids::option")]
        thread_id: Option<Uuid>,
        /// Subject of a new thread.
        subject: Option<String>,
        /// The text.
        body: String,
    },
    /// Mark a practice message as read.
    MarkMessageRead {
        /// The message.
        #[serde(with = "crate::uuids")]
        message_id: Uuid,
    },
}

/// How an intent ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentOutcome {
    /// The intent's key.
    pub key: String,
    /// The result.
    pub result: OutcomeResult,
}

/// Accepted or rejected with a stable code (the REST API's codes, e.g. `slot_taken`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OutcomeResult {
    /// Applied; `id` names what it created, if anything.
    Accepted {
        /// The created item.
        #[serde(default, with = "crate::uuids::option")]
        id: Option<Uuid>,
    },
    /// Refused; nothing changed.
    Rejected {
        /// Stable error code.
        code: String,
    },
}
