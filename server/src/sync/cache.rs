//! A bounded cache, per node, of section documents loaded for an exchange, so a device that is
//! behind does not make the node parse the same stored bytes again and again. An entry is used
//! only while its heads equal the stored heads of the same generation (the projector writes the
//! heads with every change), so it can never answer with an old document. The budget is the
//! stored (saved) size of the documents held, in bytes (`sync.document_cache_bytes`; a loaded
//! document takes several times its saved size in memory); the least recently used are
//! evicted first, and a document larger than the whole budget is not kept.

use super::projection::Stored;
use crate::error::AppError;
use automerge::{AutoCommit, ChangeHash};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use sync_protocol::Section;

/// A loaded document shared by the exchanges that use it (one at a time).
pub type Shared = Arc<Mutex<AutoCommit>>;

/// The changes the last projection on this node appended to a document: the heads it started
/// from and the raw bytes of each change, in causal order. A push to a device that shares
/// exactly `from` sends them as they are ([`sync_protocol::server::push_changes`]), without
/// asking automerge to rebuild them from the document's operations.
#[derive(Debug)]
pub struct Delta {
    /// The heads before the changes.
    pub from: Vec<ChangeHash>,
    /// The changes, as stored.
    pub changes: Vec<Vec<u8>>,
}

/// A document this node holds, with the changes that made its current heads when this node
/// projected them.
#[derive(Debug, Clone)]
pub struct Cached {
    /// The document.
    pub doc: Shared,
    /// The last projection's changes, when this node made them.
    pub delta: Option<Arc<Delta>>,
}

type Key = (String, Section, u32);

struct Entry {
    heads: Vec<ChangeHash>,
    doc: Shared,
    delta: Option<Arc<Delta>>,
    bytes: usize,
    used: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    bytes: usize,
    clock: u64,
}

/// The cache of one node.
pub struct DocumentCache {
    budget: usize,
    inner: Mutex<Inner>,
}

static CACHE: OnceLock<DocumentCache> = OnceLock::new();

/// Sets this node's budget (the first call wins; called once at startup).
pub fn configure(budget_bytes: usize) {
    let _ = CACHE.set(DocumentCache::new(budget_bytes));
}

/// This node's cache (the default budget when [`configure`] was not called).
pub fn node() -> &'static DocumentCache {
    CACHE.get_or_init(|| DocumentCache::new(crate::config::DEFAULT_DOCUMENT_CACHE_BYTES))
}

impl DocumentCache {
    /// A cache holding at most `budget` bytes of saved documents.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// This node's loaded copy of the stored document of `audience` and `section`, when it
    /// holds the stored heads.
    pub fn cached(&self, audience: &str, section: Section, stored: &Stored) -> Option<Cached> {
        let heads = stored.heads.as_ref()?;
        let key = (audience.to_owned(), section, stored.generation);
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let entry = inner
            .entries
            .get_mut(&key)
            .filter(|entry| entry.heads == *heads)?;
        entry.used = clock;
        metrics::counter!("sync_document_cache_hits_total").increment(1);
        Some(Cached {
            doc: entry.doc.clone(),
            delta: entry.delta.clone(),
        })
    }

    /// Loads the stored document from its saved `bytes`, and keeps it when its heads are known
    /// and it fits.
    pub fn load(
        &self,
        audience: &str,
        section: Section,
        stored: &Stored,
        bytes: &[u8],
    ) -> Result<Shared, AppError> {
        let doc: Shared = Arc::new(Mutex::new(super::projection::load(bytes)?));
        if let Some(heads) = &stored.heads {
            let key = (audience.to_owned(), section, stored.generation);
            self.keep(key, heads.clone(), doc.clone(), None, bytes.len());
        }
        Ok(doc)
    }

    /// Takes this node's copy of the document out of the cache, for the projector to change
    /// (and [`Self::put`] back): when it holds `heads` of `generation`, the document itself if
    /// no exchange is reading it, else a copy. An exchange that holds the old copy goes on
    /// reading it unchanged.
    pub fn take(
        &self,
        audience: &str,
        section: Section,
        generation: u32,
        heads: &[ChangeHash],
    ) -> Option<AutoCommit> {
        let key = (audience.to_owned(), section, generation);
        let mut inner = self.lock();
        if inner.entries.get(&key)?.heads != heads {
            return None;
        }
        let entry = inner.entries.remove(&key)?;
        inner.bytes -= entry.bytes;
        drop(inner);
        metrics::counter!("sync_document_cache_hits_total").increment(1);
        Some(match Arc::try_unwrap(entry.doc) {
            Ok(doc) => doc
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            Err(shared) => shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        })
    }

    /// Keeps `doc`, just projected (by the changes of `delta`, when there were any) and stored
    /// as `bytes` saved bytes, as the document of `audience` and `section` in `generation`, so
    /// the pushes that follow the projection find it loaded. Were the projection's transaction
    /// rolled back, the stored heads would not be the document's and the entry would never be
    /// used.
    pub fn put(
        &self,
        audience: &str,
        section: Section,
        generation: u32,
        mut doc: AutoCommit,
        delta: Option<Delta>,
        bytes: usize,
    ) {
        let key = (audience.to_owned(), section, generation);
        let heads = doc.get_heads();
        let doc = Arc::new(Mutex::new(doc));
        self.keep(key, heads, doc, delta.map(Arc::new), bytes);
    }

    /// Holds `doc` under `key` when it fits the budget, evicting the least recently used.
    fn keep(
        &self,
        key: Key,
        heads: Vec<ChangeHash>,
        doc: Shared,
        delta: Option<Arc<Delta>>,
        bytes: usize,
    ) {
        if bytes > self.budget {
            return;
        }
        let mut inner = self.lock();
        let clock = inner.clock;
        if let Some(old) = inner.entries.insert(
            key,
            Entry {
                heads,
                doc,
                delta,
                bytes,
                used: clock,
            },
        ) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        while inner.bytes > self.budget {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.bytes -= evicted.bytes;
            }
        }
    }

    /// Bytes of saved documents held.
    pub fn held_bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only cache bookkeeping behind: keep using it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable as _;
    use sync_protocol::items::{self, Items};

    fn stored(generation: u32, n: usize) -> (Stored, Vec<u8>) {
        let mut doc = AutoCommit::new();
        let wanted: Items = (0..n)
            .map(|i| {
                let mut fields = items::Fields::new();
                fields.insert("term".to_owned(), items::Field::Text(format!("entry {i}")));
                (format!("e{i}"), fields)
            })
            .collect();
        items::reconcile(&mut doc, &wanted).unwrap();
        let stored = Stored {
            generation,
            heads: Some(doc.get_heads()),
        };
        (stored, doc.save())
    }

    /// As an exchange asks: the cached copy, else loaded from the saved bytes.
    fn get(cache: &DocumentCache, audience: &str, (stored, bytes): &(Stored, Vec<u8>)) -> Shared {
        match cache.cached(audience, Section::Record, stored) {
            Some(cached) => cached.doc,
            None => cache
                .load(audience, Section::Record, stored, bytes)
                .unwrap(),
        }
    }

    #[test]
    fn a_document_is_reused_only_while_its_heads_are_the_stored_ones() {
        let cache = DocumentCache::new(1 << 20);
        let first = stored(0, 3);
        let a = get(&cache, "self:p", &first);
        let b = get(&cache, "self:p", &first);
        assert!(Arc::ptr_eq(&a, &b), "the same heads: the cached document");
        let changed = stored(0, 4);
        let c = get(&cache, "self:p", &changed);
        assert!(!Arc::ptr_eq(&a, &c), "other heads: loaded again");
        assert_eq!(c.lock().unwrap().get_heads(), changed.0.heads.unwrap());
        let next_generation = stored(1, 3);
        let d = get(&cache, "self:p", &next_generation);
        assert!(!Arc::ptr_eq(&c, &d));
    }

    #[test]
    fn the_projector_takes_the_document_out_and_a_reader_keeps_its_copy() {
        let cache = DocumentCache::new(1 << 20);
        let (stored, bytes) = stored(0, 3);
        let heads = stored.heads.clone().unwrap();
        let reading = get(&cache, "self:p", &(stored.clone(), bytes.clone()));
        assert!(
            cache.take("self:p", Section::Record, 0, &[]).is_none(),
            "other heads"
        );
        let mut taken = cache.take("self:p", Section::Record, 0, &heads).unwrap();
        assert_eq!(cache.held_bytes(), 0, "taken out while it is changed");
        assert!(cache.cached("self:p", Section::Record, &stored).is_none());
        taken.put(automerge::ROOT, "x", 1).unwrap();
        taken.commit();
        assert_eq!(
            reading.lock().unwrap().get_heads(),
            heads,
            "the reader's copy"
        );
        let new_heads = taken.get_heads();
        let changes = taken
            .get_changes(&heads)
            .iter()
            .map(|change| change.raw_bytes().to_vec())
            .collect();
        let delta = Delta {
            from: heads.clone(),
            changes,
        };
        let size = bytes.len();
        cache.put("self:p", Section::Record, 0, taken, Some(delta), size);
        let now = Stored {
            generation: 0,
            heads: Some(new_heads.clone()),
        };
        let cached = cache.cached("self:p", Section::Record, &now).unwrap();
        assert_eq!(cached.doc.lock().unwrap().get_heads(), new_heads);
        let delta = cached.delta.expect("the projection's changes");
        assert_eq!((delta.from.clone(), delta.changes.len()), (heads, 1));
    }

    #[test]
    fn the_least_recently_used_are_evicted_to_stay_within_the_budget() {
        let one = stored(0, 20);
        let size = one.1.len();
        let cache = DocumentCache::new(size * 2);
        let a = get(&cache, "a", &one);
        get(&cache, "b", &one);
        // Using `a` again makes `b` the least recently used.
        get(&cache, "a", &one);
        get(&cache, "c", &one);
        assert!(cache.held_bytes() <= size * 2);
        assert!(Arc::ptr_eq(&a, &get(&cache, "a", &one)));
        let too_big = DocumentCache::new(size - 1);
        get(&too_big, "a", &one);
        assert_eq!(
            too_big.held_bytes(),
            0,
            "a document larger than the budget is not kept"
        );
    }
}
