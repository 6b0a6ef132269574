//! Compressed frames: a frame's CBOR bytes sent as one complete raw DEFLATE stream (RFC 1951,
//! no zlib or gzip header) made with a preset dictionary, negotiated per connection as
//! [`CODING`] (`PROTOCOL.md`, "Compressed frames"). The dictionary is the protocol's fixed
//! [`STATIC_DICTIONARY`] followed, on a WebSocket, by the previous frame sent in the same
//! direction on the same connection when its CBOR is at most [`MAX_HISTORY_BYTES`] ([`History`]
//! keeps it); over `POST /api/v1/sync` every request and reply uses the static dictionary alone.
//!
//! Inflating is bounded before anything parses: a stream that inflates past
//! [`MAX_FRAME_BYTES`], or that is not one complete DEFLATE stream under its dictionary, is
//! refused ([`InflateError`]) with no more than the limit plus one byte ever held.

use crate::envelope::{Frame, FrameError, MAX_FRAME_BYTES};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The name of the coding: the WebSocket subprotocol a device offers (`Sec-WebSocket-Protocol`)
/// and the server selects, and over `POST /api/v1/sync` the `Content-Encoding` of a compressed
/// body and the `Accept-Encoding` that asks for a compressed reply.
pub const CODING: &str = "gp-sync-deflate";

/// The largest previous frame (its CBOR) that joins the dictionary of the next one in the same
/// direction; after a larger frame the next uses the static dictionary alone.
pub const MAX_HISTORY_BYTES: usize = 1024;

/// One piece of the static dictionary, in the form it takes on the wire.
enum Piece {
    /// Bytes as they are.
    Bytes(&'static [u8]),
    /// Text as it is (a value in an automerge change's value column).
    Plain(&'static str),
    /// A CBOR text string (a key or value of the envelope), with its header.
    Cbor(&'static str),
    /// A string with automerge's one-byte length before it (a key in a change's key column).
    Key(&'static str),
}

use Piece::{Bytes, Cbor, Key, Plain};

/// The static dictionary's pieces, most useful last (DEFLATE reaches the end of its window
/// with the shortest distances). Changing any of it is a new wire version.
const PIECES: &[Piece] = &[
    // automerge's chunk magic, and the values most common in items (automerge's value column).
    Bytes(&[0x85, 0x6f, 0x4a, 0x83]),
    Plain("allergies"),
    Plain("medications"),
    Plain("immunisations"),
    Plain("problems"),
    Plain("consultations"),
    Plain("normal"),
    Plain("abnormal"),
    Plain("unknown"),
    Plain("booked"),
    Plain("attended"),
    Plain("did_not_attend"),
    Plain("cancelled_by_patient"),
    Plain("cancelled_by_practice"),
    Plain("in_person"),
    Plain("telephone"),
    Plain("video"),
    Plain("repeat"),
    Plain("acute"),
    Plain("repeat_dispensing"),
    Plain("automatic"),
    Plain("requested"),
    Plain("approved"),
    Plain("cancelled"),
    Plain("open"),
    Plain("closed"),
    Plain("patient"),
    Plain("proxy"),
    Plain("staff"),
    Plain("self"),
    Plain("discharge_summary"),
    Plain("outpatient_letter"),
    Plain("referral_letter"),
    Plain("other_letter"),
    Plain("application/pdf"),
    Plain("T00:00:00Z"),
    // Outcome codes (the REST API's codes an intent may be refused with) and the personal
    // document's and read-only refusals.
    Cbor("validation_failed"),
    Cbor("not_found"),
    Cbor("forbidden"),
    Cbor("conflict"),
    Cbor("feature_disabled"),
    Cbor("slot_taken"),
    Cbor("slot_unavailable"),
    Cbor("booking_limit_reached"),
    Cbor("too_late_to_cancel"),
    Cbor("appointment_not_booked"),
    Cbor("nothing_ordered"),
    Cbor("request_not_pending"),
    Cbor("thread_closed"),
    Cbor("grant_not_active"),
    Cbor("idempotency_key_reused"),
    Cbor("too_large"),
    Cbor("invalid_shape"),
    Cbor("read_only"),
    // Intents: action types and their keys.
    Cbor("book_appointment"),
    Cbor("cancel_appointment"),
    Cbor("order_repeat"),
    Cbor("send_message"),
    Cbor("mark_message_read"),
    Cbor("slot_id"),
    Cbor("reason"),
    Cbor("appointment_id"),
    Cbor("course_ids"),
    Cbor("note"),
    Cbor("thread_id"),
    Cbor("subject"),
    Cbor("body"),
    Cbor("message_id"),
    Cbor("key"),
    Cbor("patient_id"),
    Cbor("action"),
    Cbor("type"),
    // Outcomes: keys and statuses.
    Cbor("outcomes"),
    Cbor("key"),
    Cbor("result"),
    Bytes(&[0xa2]),
    Cbor("status"),
    Cbor("accepted"),
    Cbor("id"),
    Cbor("rejected"),
    Cbor("code"),
    Cbor("intents"),
    // Every item field of every schema (`crate::schema`), each item's keys in the order
    // automerge writes a new item's (sorted).
    // profile
    Key("acting_as_proxy"),
    Key("appointments"),
    Key("family_name"),
    Key("given_name"),
    Key("messages"),
    Key("ods_code"),
    Key("practice_name"),
    Key("prescriptions"),
    Key("record_sections"),
    Key("relationship"),
    // documents
    Key("author_organisation"),
    Key("clinician_comment"),
    Key("content_type"),
    Key("document_type"),
    Key("effective_date"),
    Key("filed_at"),
    Key("size_bytes"),
    Key("title"),
    // appointments
    Key("booked_at"),
    Key("booked_by_proxy"),
    Key("cancellation_reason"),
    Key("cancelled_at"),
    Key("channel"),
    Key("clinician_name"),
    Key("clinician_staff_id"),
    Key("ends_at"),
    Key("location"),
    Key("reason"),
    Key("session_name"),
    Key("slot_id"),
    Key("slot_type"),
    Key("starts_at"),
    Key("status"),
    // medications: course, request, requested course, pharmacy
    Key("can_be_requested"),
    Key("course_type"),
    Key("dosage"),
    Key("kind"),
    Key("last_issue_date"),
    Key("medication"),
    Key("next_issue_date"),
    Key("pending_request_id"),
    Key("quantity"),
    Key("request_pending"),
    Key("review_date"),
    Key("review_due"),
    Key("created_at"),
    Key("kind"),
    Key("note"),
    Key("pharmacy_ods"),
    Key("requested_by_proxy"),
    Key("course_id"),
    Key("decided_at"),
    Key("kind"),
    Key("medication"),
    Key("rejection_reason"),
    Key("request_id"),
    Key("routed_to_clinician"),
    Key("status"),
    Key("kind"),
    Key("ods_code"),
    // messages: thread, message
    Key("created_at"),
    Key("kind"),
    Key("last_message_at"),
    Key("started_by"),
    Key("status"),
    Key("subject"),
    Key("unread_count"),
    Key("body"),
    Key("kind"),
    Key("read_by_patient_at"),
    Key("read_by_practice_at"),
    Key("sender"),
    Key("sender_name"),
    Key("sent_at"),
    Key("sent_by_you"),
    Key("thread_id"),
    // results
    Key("abnormal_flag"),
    Key("clinician_comment"),
    Key("effective_date"),
    Key("filed_at"),
    Key("numeric_value"),
    Key("range_high"),
    Key("range_low"),
    Key("range_text"),
    Key("requester"),
    Key("test_code"),
    Key("test_name"),
    Key("unit"),
    Key("value"),
    // record
    Key("author"),
    Key("detail"),
    Key("effective_date"),
    Key("end_date"),
    Key("section"),
    Key("snomed_code"),
    Key("term"),
    // Every section document's root key.
    Key("items"),
    // Sections, document bodies, and the envelope as a frame with one document opens.
    Cbor("personal"),
    Cbor("messages"),
    Cbor("medications"),
    Cbor("appointments"),
    Cbor("documents"),
    Cbor("results"),
    Cbor("profile"),
    Cbor("record"),
    Cbor("revoked"),
    Bytes(&[0xf5]),
    Cbor("superseded"),
    Cbor("removed"),
    Bytes(&[0xa2]),
    Cbor("version"),
    Bytes(&[0x01]),
    Cbor("documents"),
    Bytes(&[0x81, 0xa3]),
    Cbor("document"),
    Bytes(&[0xa2]),
    Cbor("patient_id"),
    Bytes(&[0x50]),
    Cbor("section"),
    Cbor("record"),
    Cbor("generation"),
    Bytes(&[0x00]),
    Cbor("body"),
    Bytes(&[0xa1]),
    Cbor("sync"),
];

/// The length of one piece on the wire.
const fn piece_len(piece: &Piece) -> usize {
    match piece {
        Bytes(bytes) => bytes.len(),
        Plain(text) => text.len(),
        Cbor(text) if text.len() < 24 => text.len() + 1,
        Cbor(text) => text.len() + 2,
        Key(text) => text.len() + 1,
    }
}

/// The static dictionary's length.
const fn dictionary_len() -> usize {
    let mut total = 0;
    let mut at = 0;
    while at < PIECES.len() {
        total += piece_len(&PIECES[at]);
        at += 1;
    }
    total
}

const DICTIONARY_LEN: usize = dictionary_len();

/// Writes `bytes` into `out` from `at`; the next position.
const fn put(out: &mut [u8; DICTIONARY_LEN], mut at: usize, bytes: &[u8]) -> usize {
    let mut i = 0;
    while i < bytes.len() {
        out[at] = bytes[i];
        at += 1;
        i += 1;
    }
    at
}

/// The static dictionary, written out at compile time.
const fn dictionary() -> [u8; DICTIONARY_LEN] {
    let mut out = [0u8; DICTIONARY_LEN];
    let mut at = 0;
    let mut i = 0;
    while i < PIECES.len() {
        at = match &PIECES[i] {
            Bytes(bytes) => put(&mut out, at, bytes),
            Plain(text) => put(&mut out, at, text.as_bytes()),
            Cbor(text) => {
                // A key or value shorter than 256 bytes: header 0x60 + length, or 0x78 and
                // the length in one byte.
                let at = if text.len() < 24 {
                    put(&mut out, at, &[0x60 + text.len() as u8])
                } else {
                    put(&mut out, at, &[0x78, text.len() as u8])
                };
                put(&mut out, at, text.as_bytes())
            }
            Key(text) => {
                let at = put(&mut out, at, &[text.len() as u8]);
                put(&mut out, at, text.as_bytes())
            }
        };
        i += 1;
    }
    assert!(at == DICTIONARY_LEN);
    out
}

/// The protocol's fixed dictionary: the CBOR encodings of the envelope's keys, sections, body
/// keys, statuses and outcome codes; every item field name of every schema as automerge writes
/// it; common values; automerge's chunk magic. Most useful strings last. Its bytes are pinned
/// by a test and written in hex in `tests/vectors/compressed.json`.
pub static STATIC_DICTIONARY: [u8; DICTIONARY_LEN] = dictionary();

/// Why compressed bytes were refused; [`InflateError::reason`] is the stable text sent with
/// `sync_message_refused`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    /// The bytes inflate to more than [`MAX_FRAME_BYTES`] (or are themselves larger).
    #[error("the compressed frame inflates past the frame limit")]
    TooLarge,
    /// Not one complete raw DEFLATE stream under this dictionary (corrupt, truncated, with
    /// bytes after its final block, or referring before its dictionary).
    #[error("the compressed frame is not a complete DEFLATE stream")]
    Corrupt,
}

impl InflateError {
    /// The stable reason a refusal is reported with.
    pub fn reason(self) -> &'static str {
        match self {
            Self::TooLarge => "inflated_too_large",
            Self::Corrupt => "inflate_failed",
        }
    }
}

/// The preset dictionary for a frame after `previous` (the previous frame's CBOR in the same
/// direction, if any): the static dictionary, then `previous` when it is at most
/// [`MAX_HISTORY_BYTES`].
fn preset(previous: Option<&[u8]>) -> std::borrow::Cow<'static, [u8]> {
    match previous {
        Some(previous) if previous.len() <= MAX_HISTORY_BYTES => {
            let mut dictionary = Vec::with_capacity(DICTIONARY_LEN + previous.len());
            dictionary.extend_from_slice(&STATIC_DICTIONARY);
            dictionary.extend_from_slice(previous);
            dictionary.into()
        }
        _ => std::borrow::Cow::Borrowed(&STATIC_DICTIONARY[..]),
    }
}

/// Compresses a frame's CBOR `cbor` into one complete raw DEFLATE stream, with the static
/// dictionary followed by `previous` (the previous frame sent in the same direction on the same
/// WebSocket; `None` over `POST` and for a connection's first frame).
pub fn compress(cbor: &[u8], previous: Option<&[u8]>) -> Vec<u8> {
    let mut deflate = Compress::new(Compression::default(), false);
    // Setting a dictionary on a fresh raw stream cannot fail.
    let _ = deflate.set_dictionary(&preset(previous));
    let mut out = Vec::with_capacity(cbor.len() / 2 + 64);
    loop {
        let consumed = usize::try_from(deflate.total_in()).unwrap_or(usize::MAX);
        let input = cbor.get(consumed..).unwrap_or_default();
        match deflate.compress_vec(input, &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return out,
            // More room is needed for the rest of the stream.
            Ok(_) => out.reserve(out.capacity().max(64)),
            // Compressing into memory cannot fail; an empty stream is still a valid answer.
            Err(_) => return out,
        }
    }
}

/// Inflates `bytes` (one complete raw DEFLATE stream) with the static dictionary followed by
/// `previous`, holding at most [`MAX_FRAME_BYTES`] plus one byte: the frame's CBOR, or why it
/// was refused.
pub fn decompress(bytes: &[u8], previous: Option<&[u8]>) -> Result<Vec<u8>, InflateError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(InflateError::TooLarge);
    }
    let ceiling = MAX_FRAME_BYTES + 1;
    let mut inflate = Decompress::new(false);
    inflate
        .set_dictionary(&preset(previous))
        .map_err(|_| InflateError::Corrupt)?;
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).clamp(256, ceiling));
    loop {
        if out.len() == out.capacity() {
            if out.len() >= ceiling {
                return Err(InflateError::TooLarge);
            }
            let more = out.capacity().min(ceiling - out.len());
            out.reserve_exact(more);
        }
        let consumed = usize::try_from(inflate.total_in()).unwrap_or(usize::MAX);
        let input = bytes.get(consumed..).ok_or(InflateError::Corrupt)?;
        let produced = out.len();
        let status = inflate
            .decompress_vec(input, &mut out, FlushDecompress::None)
            .map_err(|_| InflateError::Corrupt)?;
        if out.len() > MAX_FRAME_BYTES {
            return Err(InflateError::TooLarge);
        }
        let used = usize::try_from(inflate.total_in()).unwrap_or(usize::MAX);
        match status {
            Status::StreamEnd if used == bytes.len() => return Ok(out),
            // Bytes after the final block.
            Status::StreamEnd => return Err(InflateError::Corrupt),
            // No progress with room to write: the input ended before the final block.
            _ if used == consumed && out.len() == produced && out.len() < out.capacity() => {
                return Err(InflateError::Corrupt);
            }
            _ => {}
        }
    }
}

/// One direction of one WebSocket: the CBOR of the previous frame sent (by the sender) or
/// received (by the receiver) in that direction, when it is at most [`MAX_HISTORY_BYTES`].
/// Each side keeps one for the frames it sends and one for those it receives; a direction's
/// history never uses the other direction's frames, so a full-duplex socket has no race. Until
/// a frame passes it holds nothing.
#[derive(Debug, Clone, Default)]
pub struct History {
    previous: Option<Box<[u8]>>,
}

impl History {
    /// A direction with no frame yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compresses the next frame sent in this direction (its CBOR) and remembers it.
    pub fn compress(&mut self, cbor: &[u8]) -> Vec<u8> {
        let compressed = compress(cbor, self.previous.as_deref());
        self.remember(cbor);
        compressed
    }

    /// Inflates the next frame received in this direction and remembers its CBOR.
    pub fn decompress(&mut self, bytes: &[u8]) -> Result<Vec<u8>, InflateError> {
        let cbor = decompress(bytes, self.previous.as_deref())?;
        self.remember(&cbor);
        Ok(cbor)
    }

    /// Keeps `cbor` for the next frame when it is small enough; otherwise keeps nothing.
    fn remember(&mut self, cbor: &[u8]) {
        self.previous = (cbor.len() <= MAX_HISTORY_BYTES).then(|| cbor.into());
    }
}

/// How one WebSocket's frames travel, as the two ends agreed at the upgrade: plain CBOR, or
/// compressed with each direction's own [`History`] (nothing kept until a frame passes).
#[derive(Debug, Clone)]
pub enum Coding {
    /// Each binary message is a frame's CBOR.
    Plain,
    /// Each binary message is a frame's CBOR as a raw DEFLATE stream.
    Compressed {
        /// The previous frame this end sent.
        sent: History,
        /// The previous frame this end received.
        received: History,
    },
}

/// Why a received message is not a frame.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Compressed bytes refused before anything parsed them.
    #[error(transparent)]
    Inflate(#[from] InflateError),
    /// The (inflated) bytes are not a frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl Coding {
    /// The coding of a connection: compressed when the upgrade selected the subprotocol
    /// `protocol` and it is [`CODING`].
    pub fn for_protocol(protocol: Option<&[u8]>) -> Self {
        if protocol == Some(CODING.as_bytes()) {
            Self::Compressed {
                sent: History::new(),
                received: History::new(),
            }
        } else {
            Self::Plain
        }
    }

    /// The bytes of the next frame this end sends.
    pub fn encode(&mut self, frame: &Frame) -> Vec<u8> {
        match self {
            Self::Plain => frame.encode(),
            Self::Compressed { sent, .. } => sent.compress(&frame.encode()),
        }
    }

    /// The next frame this end receives.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<Frame, DecodeError> {
        match self {
            Self::Plain => Ok(Frame::decode(bytes)?),
            Self::Compressed { received, .. } => Ok(Frame::decode(&received.decompress(bytes)?)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DocumentBody, DocumentFrame, DocumentId, Frame, Section};
    use sha2::{Digest, Sha256};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_static_dictionary_is_pinned() {
        // Changing the dictionary is a new wire version: every peer must hold these bytes.
        assert_eq!(STATIC_DICTIONARY.len(), 2163);
        assert_eq!(
            hex(&Sha256::digest(STATIC_DICTIONARY)),
            "4ca54da5a1c18cc283f1ca727a963ecd530943ee7b46dda648bb9834f7e43765"
        );
    }

    fn push(item: u8) -> Vec<u8> {
        Frame {
            documents: vec![DocumentFrame {
                document: DocumentId::new(uuid::Uuid::from_bytes([7; 16]), Section::Record),
                generation: 0,
                body: DocumentBody::Sync(
                    [&[0x43, 0x01][..], &[item; 32], b"\x07section\x04term"].concat(),
                ),
            }],
            ..Frame::new()
        }
        .encode()
    }

    #[test]
    fn frames_round_trip_and_a_dictionary_push_is_smaller_than_plain() {
        let frame = push(1);
        let compressed = compress(&frame, None);
        assert_eq!(decompress(&compressed, None).unwrap(), frame);
        assert!(
            compressed.len() < frame.len(),
            "{} of {}",
            compressed.len(),
            frame.len()
        );
        // The previous frame in the same direction makes the next smaller still, and a
        // receiver without it cannot read the stream as sent.
        let next = push(2);
        let against = compress(&next, Some(&frame));
        assert!(against.len() < compress(&next, None).len());
        assert_eq!(decompress(&against, Some(&frame)).unwrap(), next);
        assert_ne!(decompress(&against, None), Ok(next));
    }

    #[test]
    fn a_history_remembers_small_frames_only() {
        let (mut sender, mut receiver) = (History::new(), History::new());
        let big = Frame {
            documents: vec![DocumentFrame {
                document: DocumentId::new(uuid::Uuid::nil(), Section::Record),
                generation: 0,
                body: DocumentBody::Sync(vec![0x42; MAX_HISTORY_BYTES]),
            }],
            ..Frame::new()
        }
        .encode();
        for frame in [push(1), push(2), big.clone(), push(3), push(4)] {
            let sent = sender.compress(&frame);
            assert_eq!(receiver.decompress(&sent).unwrap(), frame);
        }
        assert!(receiver.previous.is_some());
        receiver.decompress(&sender.compress(&big)).unwrap();
        assert!(receiver.previous.is_none(), "a large frame is not kept");
    }

    #[test]
    fn a_bomb_is_refused_before_it_is_held_and_corrupt_streams_are_refused() {
        let zeros = vec![0u8; MAX_FRAME_BYTES + 1];
        let bomb = compress(&zeros, None);
        assert!(bomb.len() < 8 * 1024, "{}", bomb.len());
        assert_eq!(decompress(&bomb, None), Err(InflateError::TooLarge));
        let exactly = compress(&zeros[..MAX_FRAME_BYTES], None);
        assert_eq!(
            decompress(&exactly, None).map(|b| b.len()),
            Ok(MAX_FRAME_BYTES)
        );

        let frame = compress(&push(1), None);
        let truncated = &frame[..frame.len() - 3];
        assert_eq!(decompress(truncated, None), Err(InflateError::Corrupt));
        let trailing = [&frame[..], b"x"].concat();
        assert_eq!(decompress(&trailing, None), Err(InflateError::Corrupt));
        assert_eq!(decompress(&[0xff; 40], None), Err(InflateError::Corrupt));
        assert_eq!(decompress(&[], None), Err(InflateError::Corrupt));
    }
}
