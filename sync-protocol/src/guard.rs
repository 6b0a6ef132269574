//! Checks a peer's automerge sync message with our own parser before automerge sees a byte of
//! it. automerge trusts what a peer sends: a `have` bloom filter with zero bits per entry
//! divides by zero, one declaring millions of probes allocates and loops per change, and a
//! deflate-compressed change chunk is inflated with no size cap. [`check`] walks the message
//! (its type byte, heads, needs, `have` entries with their bloom parameters, and every change
//! chunk's header and declared length), inflates compressed chunks itself under a cap, and
//! counts the change bytes a message and a whole exchange carry against [`Limits`]. A message it
//! refuses must not be given to automerge; the caller answers with the [`Refusal`]'s reason and
//! changes nothing.
//!
//! The checks mirror automerge 0.12's wire format (`automerge::sync::Message::decode`); where
//! they are stricter than automerge (bloom parameters, chunk types a device never needs to
//! send), the limits are far above what automerge itself produces.

use std::io::Read;

/// The first byte of an automerge sync message (version 1 and version 2).
const MESSAGE_TYPES: [u8; 2] = [0x42, 0x43];
/// The magic bytes that open every automerge storage chunk.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Chunk types: a whole document, one change, one deflate-compressed change, a bundle.
const CHUNK_DOCUMENT: u8 = 0;
const CHUNK_CHANGE: u8 = 1;
const CHUNK_COMPRESSED: u8 = 2;
/// Bytes of a change hash.
const HASH_BYTES: usize = 32;

/// Most `have` entries in one message (automerge sends at most one).
pub const MAX_HAVES: u64 = 4;
/// Most bits per entry of a bloom filter (automerge uses 10).
pub const MAX_BLOOM_BITS_PER_ENTRY: u32 = 64;
/// Most probes of a bloom filter (automerge uses 7): the work of answering a message grows with
/// probes times the document's changes.
pub const MAX_BLOOM_PROBES: u32 = 32;

/// Caps on the change bytes a device may send, counted after inflating compressed chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of changes in one sync message.
    pub max_change_bytes_per_message: usize,
    /// Most bytes of changes in all the sync messages of one exchange (one frame).
    pub max_change_bytes_per_exchange: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A personal document's content is capped at 1 MiB by default; a device catching up
        // after a long time offline sends at most about that much in history.
        Self {
            max_change_bytes_per_message: 2 * 1024 * 1024,
            max_change_bytes_per_exchange: 4 * 1024 * 1024,
        }
    }
}

/// What is left of an exchange's change bytes ([`Limits::max_change_bytes_per_exchange`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    remaining: usize,
}

impl Exchange {
    /// A fresh exchange under `limits`.
    pub fn new(limits: &Limits) -> Self {
        Self {
            remaining: limits.max_change_bytes_per_exchange,
        }
    }
}

/// Why a sync message was refused. [`Refusal::reason`] is the stable text sent to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a sync message: truncated, a length past its end, an unknown type byte.
    #[error("the sync message is malformed")]
    Malformed,
    /// A bloom filter with zero or too many bits per entry.
    #[error("a bloom filter has an unusable number of bits per entry")]
    BloomBitsPerEntry,
    /// A bloom filter with zero or too many probes.
    #[error("a bloom filter has an unusable number of probes")]
    BloomProbes,
    /// A bloom filter whose declared size does not fit its bytes.
    #[error("a bloom filter's declared size does not match its bytes")]
    BloomSize,
    /// More `have` entries than [`MAX_HAVES`].
    #[error("too many have entries")]
    TooManyHaves,
    /// A chunk that is not a change (a whole document or a bundle), or of an unknown type.
    #[error("a change chunk of a type devices may not send")]
    ChunkType,
    /// A chunk without automerge's magic bytes, or whose declared length passes its end.
    #[error("a change chunk's header is malformed")]
    ChunkHeader,
    /// A compressed chunk that does not inflate.
    #[error("a compressed change does not inflate")]
    Inflate,
    /// More change bytes than the message or the exchange may carry.
    #[error("the changes are larger than the limit")]
    TooLarge,
}

impl Refusal {
    /// The stable reason a refusal is reported with.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BloomBitsPerEntry => "bloom_bits_per_entry",
            Self::BloomProbes => "bloom_probes",
            Self::BloomSize => "bloom_size",
            Self::TooManyHaves => "too_many_haves",
            Self::ChunkType => "chunk_type",
            Self::ChunkHeader => "chunk_header",
            Self::Inflate => "inflate",
            Self::TooLarge => "too_large",
        }
    }
}

/// Checks one sync message from a device against `limits`, charging its change bytes to
/// `exchange`. `Ok` means automerge may decode and apply it without unbounded work.
pub fn check(bytes: &[u8], limits: &Limits, exchange: &mut Exchange) -> Result<(), Refusal> {
    let mut input = Input(bytes);
    let kind = input.byte()?;
    if !MESSAGE_TYPES.contains(&kind) {
        return Err(Refusal::Malformed);
    }
    input.hashes()?; // heads
    input.hashes()?; // need
    let haves = input.uleb()?;
    if haves > MAX_HAVES {
        return Err(Refusal::TooManyHaves);
    }
    for _ in 0..haves {
        input.hashes()?; // last sync
        let length = input.length()?;
        bloom(input.take(length)?)?;
    }
    let budget = limits.max_change_bytes_per_message.min(exchange.remaining);
    let mut used = 0usize;
    let chunks = input.uleb()?;
    for _ in 0..chunks {
        let length = input.length()?;
        let mut element = Input(input.take(length)?);
        while !element.0.is_empty() {
            used = used
                .checked_add(chunk(&mut element, budget.saturating_sub(used))?)
                .ok_or(Refusal::TooLarge)?;
            if used > budget {
                return Err(Refusal::TooLarge);
            }
        }
    }
    // What follows (the flags) automerge reads as one length-prefixed byte string.
    exchange.remaining -= used;
    Ok(())
}

/// Checks a bloom filter's parameters: automerge divides by its size in bits and makes a
/// vector of `probes` entries for every change it tests.
fn bloom(bytes: &[u8]) -> Result<(), Refusal> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut input = Input(bytes);
    let entries = input.uleb_u32()?;
    let bits_per_entry = input.uleb_u32()?;
    let probes = input.uleb_u32()?;
    if entries == 0 {
        // An empty filter: automerge never probes it.
        return Ok(());
    }
    if bits_per_entry == 0 || bits_per_entry > MAX_BLOOM_BITS_PER_ENTRY {
        return Err(Refusal::BloomBitsPerEntry);
    }
    if probes == 0 || probes > MAX_BLOOM_PROBES {
        return Err(Refusal::BloomProbes);
    }
    let bits = u64::from(entries) * u64::from(bits_per_entry);
    let bytes_needed = bits.div_ceil(8);
    if bytes_needed > input.0.len() as u64 {
        return Err(Refusal::BloomSize);
    }
    Ok(())
}

/// Checks the chunk at the start of `input` and consumes it; returns its change bytes
/// (inflated, for a compressed chunk, under `cap` bytes plus one).
fn chunk(input: &mut Input<'_>, cap: usize) -> Result<usize, Refusal> {
    let magic = input.take(4).map_err(|_| Refusal::ChunkHeader)?;
    if magic != CHUNK_MAGIC {
        return Err(Refusal::ChunkHeader);
    }
    input.take(4).map_err(|_| Refusal::ChunkHeader)?; // checksum
    let kind = input.byte().map_err(|_| Refusal::ChunkHeader)?;
    let length = input.length().map_err(|_| Refusal::ChunkHeader)?;
    let data = input.take(length).map_err(|_| Refusal::ChunkHeader)?;
    match kind {
        CHUNK_CHANGE => Ok(data.len()),
        CHUNK_COMPRESSED => inflated_size(data, cap),
        // A whole document (or a bundle) may hold compressed columns automerge inflates
        // without a cap; the server never advertises that it accepts them.
        CHUNK_DOCUMENT => Err(Refusal::ChunkType),
        _ => Err(Refusal::ChunkType),
    }
}

/// The size of `data` inflated, reading at most `cap + 1` bytes of output.
fn inflated_size(data: &[u8], cap: usize) -> Result<usize, Refusal> {
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let mut decoder = flate2::bufread::DeflateDecoder::new(data).take(limit);
    let mut buffer = [0u8; 8192];
    let mut total = 0usize;
    loop {
        match decoder.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => total = total.saturating_add(n),
            Err(_) => return Err(Refusal::Inflate),
        }
    }
    if total > cap {
        return Err(Refusal::TooLarge);
    }
    Ok(total)
}

/// A cursor over the message's bytes.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Result<u8, Refusal> {
        let (&first, rest) = self.0.split_first().ok_or(Refusal::Malformed)?;
        self.0 = rest;
        Ok(first)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Refusal> {
        if n > self.0.len() {
            return Err(Refusal::Malformed);
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(taken)
    }

    /// An unsigned LEB128 of at most 64 bits.
    fn uleb(&mut self) -> Result<u64, Refusal> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let part = u64::from(byte & 0x7f);
            if shift == 63 && part > 1 {
                return Err(Refusal::Malformed);
            }
            value |= part << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Refusal::Malformed)
    }

    fn uleb_u32(&mut self) -> Result<u32, Refusal> {
        u32::try_from(self.uleb()?).map_err(|_| Refusal::Malformed)
    }

    /// A declared length, which must fit in what is left.
    fn length(&mut self) -> Result<usize, Refusal> {
        let length = usize::try_from(self.uleb()?).map_err(|_| Refusal::Malformed)?;
        if length > self.0.len() {
            return Err(Refusal::Malformed);
        }
        Ok(length)
    }

    /// A count of change hashes and the hashes.
    fn hashes(&mut self) -> Result<(), Refusal> {
        let count = usize::try_from(self.uleb()?).map_err(|_| Refusal::Malformed)?;
        let bytes = count.checked_mul(HASH_BYTES).ok_or(Refusal::Malformed)?;
        self.take(bytes).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::sync::{self, SyncDoc};
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};
    use std::io::Write;

    const LIMITS: Limits = Limits {
        max_change_bytes_per_message: 64 * 1024,
        max_change_bytes_per_exchange: 100 * 1024,
    };

    fn leb(out: &mut Vec<u8>, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// A message with no heads or needs, one `have` with `bloom`, and `chunks` as its changes.
    pub(crate) fn message(bloom: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![0x42, 0, 0, 1, 0];
        leb(&mut out, bloom.len() as u64);
        out.extend(bloom);
        leb(&mut out, chunks.len() as u64);
        for chunk in chunks {
            leb(&mut out, chunk.len() as u64);
            out.extend(chunk);
        }
        out
    }

    fn bloom(entries: u64, bits: u64, probes: u64, data: usize) -> Vec<u8> {
        let mut out = Vec::new();
        leb(&mut out, entries);
        leb(&mut out, bits);
        leb(&mut out, probes);
        out.extend(vec![0xff; data]);
        out
    }

    fn compressed_zeros(n: usize) -> Vec<u8> {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![0u8; n]).unwrap();
        let data = encoder.finish().unwrap();
        let mut chunk = CHUNK_MAGIC.to_vec();
        chunk.extend([1, 2, 3, 4, CHUNK_COMPRESSED]);
        leb(&mut chunk, data.len() as u64);
        chunk.extend(data);
        chunk
    }

    fn fresh() -> Exchange {
        Exchange::new(&LIMITS)
    }

    #[test]
    fn messages_automerge_makes_pass() {
        let mut doc = AutoCommit::new();
        for i in 0..50 {
            doc.put(ROOT, format!("k{i}"), "x".repeat(i * 40)).unwrap();
            doc.commit();
        }
        let mut state = sync::State::new();
        let first = doc.sync().generate_sync_message(&mut state).unwrap();
        check(&first.encode(), &LIMITS, &mut fresh()).unwrap();
        // A peer that has nothing: the answer carries every change, some compressed.
        let mut peer = AutoCommit::new();
        let mut peer_state = sync::State::new();
        let ask = peer.sync().generate_sync_message(&mut peer_state).unwrap();
        let ask_bytes = ask.encode();
        check(&ask_bytes, &LIMITS, &mut fresh()).unwrap();
        doc.sync()
            .receive_sync_message(&mut state, sync::Message::decode(&ask_bytes).unwrap())
            .unwrap();
        // As the server does with a device: whole-document messages are not accepted.
        state.their_capabilities = None;
        let answer = doc.sync().generate_sync_message(&mut state).unwrap();
        assert!(answer.changes.len() >= 50);
        let bytes = answer.encode();
        check(&bytes, &LIMITS, &mut fresh()).unwrap();
    }

    #[test]
    fn a_bloom_with_zero_bits_per_entry_is_refused() {
        let bytes = message(&bloom(1, 0, 7, 0), &[]);
        assert_eq!(
            check(&bytes, &LIMITS, &mut fresh()),
            Err(Refusal::BloomBitsPerEntry)
        );
    }

    #[test]
    fn a_bloom_with_millions_of_probes_is_refused() {
        let bytes = message(&bloom(1, 10, 1 << 25, 2), &[]);
        assert_eq!(
            check(&bytes, &LIMITS, &mut fresh()),
            Err(Refusal::BloomProbes)
        );
        let zero = message(&bloom(1, 10, 0, 2), &[]);
        assert_eq!(
            check(&zero, &LIMITS, &mut fresh()),
            Err(Refusal::BloomProbes)
        );
    }

    #[test]
    fn a_bloom_larger_than_its_bytes_is_refused() {
        let bytes = message(&bloom(1000, 10, 7, 3), &[]);
        assert_eq!(
            check(&bytes, &LIMITS, &mut fresh()),
            Err(Refusal::BloomSize)
        );
    }

    #[test]
    fn a_compressed_bomb_is_refused_without_inflating_it_whole() {
        let bytes = message(&[], &[compressed_zeros(50 * 1024 * 1024)]);
        assert!(bytes.len() < 100 * 1024, "{}", bytes.len());
        assert_eq!(check(&bytes, &LIMITS, &mut fresh()), Err(Refusal::TooLarge));
    }

    #[test]
    fn the_exchange_budget_spans_messages() {
        let bytes = message(&[], &[compressed_zeros(60 * 1024)]);
        let mut exchange = fresh();
        check(&bytes, &LIMITS, &mut exchange).unwrap();
        assert_eq!(
            check(&bytes, &LIMITS, &mut exchange),
            Err(Refusal::TooLarge)
        );
    }

    #[test]
    fn whole_documents_and_unknown_chunks_are_refused() {
        let doc = {
            let mut doc = AutoCommit::new();
            doc.put(ROOT, "k", "v").unwrap();
            doc.save()
        };
        assert_eq!(
            check(&message(&[], &[doc]), &LIMITS, &mut fresh()),
            Err(Refusal::ChunkType)
        );
        let mut unknown = CHUNK_MAGIC.to_vec();
        unknown.extend([0, 0, 0, 0, 9, 0]);
        assert_eq!(
            check(&message(&[], &[unknown]), &LIMITS, &mut fresh()),
            Err(Refusal::ChunkType)
        );
    }

    #[test]
    fn declared_lengths_past_the_end_are_refused() {
        let mut bytes = vec![0x42];
        leb(&mut bytes, u64::MAX >> 6); // a count of heads far past the end
        assert_eq!(
            check(&bytes, &LIMITS, &mut fresh()),
            Err(Refusal::Malformed)
        );
        let mut chunk = CHUNK_MAGIC.to_vec();
        chunk.extend([0, 0, 0, 0, CHUNK_CHANGE]);
        leb(&mut chunk, 1 << 40);
        assert_eq!(
            check(&message(&[], &[chunk]), &LIMITS, &mut fresh()),
            Err(Refusal::ChunkHeader)
        );
        assert_eq!(check(&[], &LIMITS, &mut fresh()), Err(Refusal::Malformed));
        assert_eq!(
            check(&[0x99], &LIMITS, &mut fresh()),
            Err(Refusal::Malformed)
        );
    }
}
