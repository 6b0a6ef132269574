//! The listener the app implements (a foreign trait through uniffi): it hears document
//! changes, intent outcomes, revocation and sync progress. Events name documents and intents,
//! never their contents.

use crate::model::{DocumentRef, IntentResult};

/// Something the app may react to.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SdkEvent {
    /// A document's content changed: re-read it.
    DocumentChanged {
        /// Which.
        document: DocumentRef,
    },
    /// A document was destroyed (a superseded generation, or no longer visible).
    DocumentDestroyed {
        /// Which.
        document: DocumentRef,
    },
    /// An intent was settled.
    IntentSettled {
        /// How.
        result: IntentResult,
    },
    /// The device was revoked or the session ended for good: the store is wiped.
    Revoked,
    /// A sync made a round trip (`done` on the last).
    SyncProgress {
        /// Round trips so far.
        round: u32,
        /// Whether the sync is over.
        done: bool,
    },
    /// The live connection opened or closed.
    LiveConnection {
        /// Whether it is open.
        connected: bool,
    },
}

/// Implemented by the app; called on the SDK's threads.
#[uniffi::export(with_foreign)]
pub trait SdkListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: SdkEvent);
}
