//! The wire envelope: one versioned CBOR frame carries, per document, its generation and an
//! automerge sync message (or a notice that the generation is superseded or the document
//! removed), plus intents from the device and their outcomes from the server. The same frames
//! travel in a `POST /api/v1/sync` body and over the WebSocket.
//!
//! Frozen wire format: fields may be added (old readers ignore them), never renamed or removed;
//! a breaking change bumps [`WIRE_VERSION`].

use crate::documents::DocumentId;
use crate::intents::{Intent, IntentOutcome};
use serde::{Deserialize, Serialize};

/// Version of the envelope. A peer refuses frames of a version it does not know.
pub const WIRE_VERSION: u16 = 1;

/// Largest frame either side accepts, in bytes. An initial sync of a heavy record (15,000
/// items) is about 1.5 MB; larger states are split over several frames.
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// One frame.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// [`WIRE_VERSION`] of the sender.
    pub version: u16,
    /// Document traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<DocumentFrame>,
    /// Device → server: intents (offline writes) not yet settled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intents: Vec<Intent>,
    /// Server → device: how intents ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<IntentOutcome>,
    /// Server → device: this device is revoked; it must wipe every synced document.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
}

/// Traffic for one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentFrame {
    /// Which document.
    pub document: DocumentId,
    /// The generation the body belongs to.
    pub generation: u32,
    /// What is said about it.
    pub body: DocumentBody,
}

/// What a document frame says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentBody {
    /// An automerge sync message (`automerge::sync::Message::encode`).
    Sync(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Server → device: every generation before `generation` is superseded; destroy it and
    /// sync this one from empty.
    Superseded,
    /// Server → device: the viewer may no longer see this document at all; destroy it.
    Removed,
    /// Server → device: the device's changes to a document it writes (the personal document)
    /// were refused, and the server's copy is unchanged. The device must destroy its local copy
    /// and sync state and sync this generation again from empty (a `sync` message from the
    /// server's fresh state may follow in the same frame). `code` is `too_large` or
    /// `invalid_shape`. Added within wire version 1; sent only for device-written documents.
    Rejected {
        /// Why: `too_large` or `invalid_shape`.
        code: String,
    },
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// Larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Not CBOR of the expected shape.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A version this peer does not speak.
    #[error("unsupported wire version {0}")]
    UnsupportedVersion(u16),
}

impl Frame {
    /// An empty frame of the current version.
    pub fn new() -> Self {
        Self {
            version: WIRE_VERSION,
            ..Self::default()
        }
    }

    /// Whether the frame carries nothing.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
            && self.intents.is_empty()
            && self.outcomes.is_empty()
            && !self.revoked
    }

    /// The frame as CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        // Writing CBOR into a Vec cannot fail for these plain data types.
        let _ = ciborium::into_writer(self, &mut bytes);
        bytes
    }

    /// Reads a frame, checking size and version.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge(bytes.len()));
        }
        let frame: Frame =
            ciborium::from_reader(bytes).map_err(|e| FrameError::Malformed(e.to_string()))?;
        if frame.version != WIRE_VERSION {
            return Err(FrameError::UnsupportedVersion(frame.version));
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::Section;
    use uuid::Uuid;

    #[test]
    fn frames_round_trip_through_cbor() {
        let frame = Frame {
            documents: vec![DocumentFrame {
                document: DocumentId::new(Uuid::nil(), Section::Results),
                generation: 3,
                body: DocumentBody::Sync(vec![1, 2, 3]),
            }],
            ..Frame::new()
        };
        let bytes = frame.encode();
        assert_eq!(Frame::decode(&bytes), Ok(frame));
    }

    #[test]
    fn byte_payloads_are_cbor_byte_strings_not_arrays() {
        let frame = Frame {
            documents: vec![DocumentFrame {
                document: DocumentId::new(Uuid::nil(), Section::Record),
                generation: 0,
                body: DocumentBody::Sync(vec![0xAB; 300]),
            }],
            ..Frame::new()
        };
        // 300 payload bytes plus the envelope: an array of integers would be ~600 bytes.
        assert!(frame.encode().len() < 450, "{}", frame.encode().len());
    }

    #[test]
    fn a_rejection_round_trips_through_cbor() {
        let frame = Frame {
            documents: vec![DocumentFrame {
                document: DocumentId::new(Uuid::nil(), Section::Personal),
                generation: 0,
                body: DocumentBody::Rejected {
                    code: "too_large".to_owned(),
                },
            }],
            ..Frame::new()
        };
        assert_eq!(Frame::decode(&frame.encode()), Ok(frame));
    }

    #[test]
    fn unknown_versions_and_oversized_frames_are_refused() {
        let future = Frame {
            version: WIRE_VERSION + 1,
            ..Frame::new()
        };
        assert_eq!(
            Frame::decode(&future.encode()),
            Err(FrameError::UnsupportedVersion(WIRE_VERSION + 1))
        );
        let huge = vec![0u8; MAX_FRAME_BYTES + 1];
        assert_eq!(
            Frame::decode(&huge),
            Err(FrameError::TooLarge(MAX_FRAME_BYTES + 1))
        );
        assert!(matches!(
            Frame::decode(b"not cbor at all"),
            Err(FrameError::Malformed(_))
        ));
    }
}
