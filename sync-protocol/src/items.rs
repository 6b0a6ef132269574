//! Section documents as maps of items: `ROOT.items[item_id][field] = scalar`. The server turns
//! each permitted item into flat scalar fields ([`fields_of`]) and [`reconcile`]s the document
//! to exactly those items with a minimal diff: only changed fields are written, and each
//! changed item is its own automerge change, so a device that lacks one item receives one small
//! change rather than the whole document. Strings are scalars, never automerge `Text`, which
//! would store every character as an operation.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// The fields of one item.
pub type Fields = BTreeMap<String, Field>;

/// Every item of a document, by id.
pub type Items = BTreeMap<String, Fields>;

/// A scalar field value.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Field {
    /// Absent value.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text (also dates and ids).
    Text(String),
}

/// Why an item could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    /// automerge refused an operation.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// The item is not a flat object of scalars, or does not have the expected shape.
    #[error("item shape: {0}")]
    Shape(#[from] serde_json::Error),
}

/// Flattens a serialisable item into scalar fields. Items are flat by design: a nested array or
/// object is refused, so every field can be compared and replaced on its own.
pub fn fields_of<T: Serialize>(item: &T) -> Result<Fields, ItemError> {
    let value = serde_json::to_value(item)?;
    let serde_json::Value::Object(object) = value else {
        return Err(ItemError::Shape(serde::de::Error::custom(
            "an item is a JSON object",
        )));
    };
    object
        .into_iter()
        .map(|(name, value)| {
            let field = match value {
                serde_json::Value::Null => Field::Null,
                serde_json::Value::Bool(b) => Field::Bool(b),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => Field::Int(i),
                    None => Field::Float(n.as_f64().unwrap_or_default()),
                },
                serde_json::Value::String(s) => Field::Text(s),
                _ => {
                    return Err(ItemError::Shape(serde::de::Error::custom(format!(
                        "field {name} is not a scalar"
                    ))));
                }
            };
            Ok((name, field))
        })
        .collect()
}

/// Reads an item back into its type.
pub fn item_from<T: DeserializeOwned>(fields: &Fields) -> Result<T, ItemError> {
    let object: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(name, field)| {
            let value = match field {
                Field::Null => serde_json::Value::Null,
                Field::Bool(b) => serde_json::Value::Bool(*b),
                Field::Int(i) => serde_json::Value::from(*i),
                Field::Float(f) => serde_json::Value::from(*f),
                Field::Text(s) => serde_json::Value::String(s.clone()),
            };
            (name.clone(), value)
        })
        .collect();
    Ok(serde_json::from_value(serde_json::Value::Object(object))?)
}

fn scalar(field: &Field) -> ScalarValue {
    match field {
        Field::Null => ScalarValue::Null,
        Field::Bool(b) => ScalarValue::Boolean(*b),
        Field::Int(i) => ScalarValue::Int(*i),
        Field::Float(f) => ScalarValue::F64(*f),
        Field::Text(s) => ScalarValue::Str(s.as_str().into()),
    }
}

fn field(value: &ScalarValue) -> Field {
    match value {
        ScalarValue::Boolean(b) => Field::Bool(*b),
        ScalarValue::Int(i) => Field::Int(*i),
        ScalarValue::Uint(u) => Field::Int(i64::try_from(*u).unwrap_or(i64::MAX)),
        ScalarValue::F64(f) => Field::Float(*f),
        ScalarValue::Str(s) => Field::Text(s.to_string()),
        _ => Field::Null,
    }
}

/// The `items` map of a document, created on first use.
fn items_map(doc: &mut AutoCommit) -> Result<ObjId, ItemError> {
    match doc.get(ROOT, "items")? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        _ => {
            let id = doc.put_object(ROOT, "items", ObjType::Map)?;
            doc.commit();
            Ok(id)
        }
    }
}

/// Reads every item of a document (an empty document has none).
pub fn read_items(doc: &AutoCommit) -> Result<Items, ItemError> {
    let Some((Value::Object(ObjType::Map), map)) = doc.get(ROOT, "items")? else {
        return Ok(Items::new());
    };
    let mut items = Items::new();
    for id in doc.keys(&map) {
        let Some((Value::Object(ObjType::Map), item)) = doc.get(&map, id.as_str())? else {
            continue;
        };
        let mut fields = Fields::new();
        for name in doc.keys(&item) {
            if let Some((Value::Scalar(value), _)) = doc.get(&item, name.as_str())? {
                fields.insert(name, field(&value));
            }
        }
        items.insert(id, fields);
    }
    Ok(items)
}

/// Makes `doc` hold exactly `wanted`, writing only what differs, one change per item.
/// Returns how many items changed (added, altered or removed).
pub fn reconcile(doc: &mut AutoCommit, wanted: &Items) -> Result<usize, ItemError> {
    let map = items_map(doc)?;
    let current = read_items(doc)?;
    let mut changed = 0;
    for (id, fields) in wanted {
        let existing = current.get(id);
        if existing == Some(fields) {
            continue;
        }
        write_item(doc, &map, id, fields, existing)?;
        changed += 1;
    }
    for id in current.keys().filter(|id| !wanted.contains_key(*id)) {
        doc.delete(&map, id.as_str())?;
        doc.commit();
        changed += 1;
    }
    Ok(changed)
}

/// Writes one item as its own change: the fields that differ from `existing`, and deletes the
/// fields it no longer has.
fn write_item(
    doc: &mut AutoCommit,
    map: &ObjId,
    id: &str,
    fields: &Fields,
    existing: Option<&Fields>,
) -> Result<(), ItemError> {
    let item = match existing {
        Some(_) => match doc.get(map, id)? {
            Some((Value::Object(ObjType::Map), item)) => item,
            _ => doc.put_object(map, id, ObjType::Map)?,
        },
        None => doc.put_object(map, id, ObjType::Map)?,
    };
    for (name, value) in fields {
        if existing.and_then(|e| e.get(name)) != Some(value) {
            doc.put(&item, name.as_str(), scalar(value))?;
        }
    }
    if let Some(existing) = existing {
        for name in existing.keys().filter(|name| !fields.contains_key(*name)) {
            doc.delete(&item, name.as_str())?;
        }
    }
    doc.commit();
    Ok(())
}

/// Reads one item of the `items` map, if the document holds it.
fn read_item(doc: &AutoCommit, map: &ObjId, id: &str) -> Result<Option<Fields>, ItemError> {
    let Some((Value::Object(ObjType::Map), item)) = doc.get(map, id)? else {
        return Ok(None);
    };
    let mut fields = Fields::new();
    for name in doc.keys(&item) {
        if let Some((Value::Scalar(value), _)) = doc.get(&item, name.as_str())? {
            fields.insert(name, field(&value));
        }
    }
    Ok(Some(fields))
}

/// A digest of one item's fields: the first 16 bytes of SHA-256 over an unambiguous encoding
/// of its names and values. Equal fields have equal digests, on every platform and release.
pub type Digest = [u8; 16];

/// The digest of every item of a document, by id: kept beside a stored document so the next
/// reconcile knows which items differ without reading the document.
pub type Digests = BTreeMap<String, Digest>;

/// The digest of one item.
pub fn digest(fields: &Fields) -> Digest {
    digest_with(fields, &mut Vec::new())
}

/// [`digest`], encoding into `buffer` (reused between items) and hashing it once.
fn digest_with(fields: &Fields, buffer: &mut Vec<u8>) -> Digest {
    use sha2::{Digest as _, Sha256};
    buffer.clear();
    let mut bytes = |data: &[u8]| {
        buffer.extend_from_slice(&(data.len() as u64).to_le_bytes());
        buffer.extend_from_slice(data);
    };
    for (name, value) in fields {
        bytes(name.as_bytes());
        match value {
            Field::Null => bytes(b"n"),
            Field::Bool(b) => bytes(if *b { b"t" } else { b"f" }),
            Field::Int(i) => {
                bytes(b"i");
                bytes(&i.to_le_bytes());
            }
            Field::Float(f) => {
                bytes(b"d");
                bytes(&f.to_bits().to_le_bytes());
            }
            Field::Text(s) => {
                bytes(b"s");
                bytes(s.as_bytes());
            }
        }
    }
    let full = Sha256::digest(buffer.as_slice());
    let mut out = Digest::default();
    out.copy_from_slice(&full[..16]);
    out
}

/// The digest of every item.
pub fn digests(items: &Items) -> Digests {
    let mut buffer = Vec::new();
    items
        .iter()
        .map(|(id, fields)| (id.clone(), digest_with(fields, &mut buffer)))
        .collect()
}

/// The stored form of [`Digests`]: a version byte, then per item (in id order) the id's length
/// (u32, little-endian), the id and its 16-byte digest.
pub fn encode_digests(digests: &Digests) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + digests.len() * (4 + 36 + 16));
    out.push(1);
    for (id, digest) in digests {
        // An id is far shorter than 4 GiB; a longer one would not decode (and be rebuilt).
        let len = u32::try_from(id.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(digest);
    }
    out
}

/// Reads [`encode_digests`]' output back; `None` when it is not well-formed.
pub fn decode_digests(mut bytes: &[u8]) -> Option<Digests> {
    let (&1, rest) = bytes.split_first()? else {
        return None;
    };
    bytes = rest;
    let mut digests = Digests::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let (id, rest) = rest.split_at_checked(len)?;
        let (digest, rest) = rest.split_first_chunk::<16>()?;
        digests.insert(std::str::from_utf8(id).ok()?.to_owned(), *digest);
        bytes = rest;
    }
    Some(digests)
}

/// [`reconcile`] for a document whose items are known to have the digests `stored` (kept from
/// the last reconcile): only the items whose digest differs from `wanted_digests` (the
/// [`digests`] of `wanted`, which must name the same items) are read and written, so the cost
/// follows the change, not the document. Returns how many items changed.
pub fn reconcile_known(
    doc: &mut AutoCommit,
    wanted: &Items,
    wanted_digests: &Digests,
    stored: &Digests,
) -> Result<usize, ItemError> {
    let map = items_map(doc)?;
    let mut changed = 0;
    // Both maps are in id order: walk them side by side.
    let mut kept = stored.iter().peekable();
    for (id, digest) in wanted_digests {
        while kept.next_if(|(k, _)| k.as_str() < id.as_str()).is_some() {}
        let known = kept.next_if(|(k, _)| *k == id).map(|(_, d)| d);
        if known == Some(digest) {
            continue;
        }
        let Some(fields) = wanted.get(id) else {
            continue;
        };
        let existing = match known {
            Some(_) => read_item(doc, &map, id)?,
            None => None,
        };
        if existing.as_ref() == Some(fields) {
            continue;
        }
        write_item(doc, &map, id, fields, existing.as_ref())?;
        changed += 1;
    }
    for id in stored.keys().filter(|id| !wanted.contains_key(*id)) {
        if doc.get(&map, id.as_str())?.is_some() {
            doc.delete(&map, id.as_str())?;
            doc.commit();
            changed += 1;
        }
    }
    Ok(changed)
}

/// Whether `test(old, new)` holds of any item that both the document (as `stored` digests
/// say) and `wanted` hold with different fields: the items [`reconcile_known`] would write over.
/// Only those items are read.
pub fn any_rewritten(
    doc: &AutoCommit,
    wanted: &Items,
    wanted_digests: &Digests,
    stored: &Digests,
    mut test: impl FnMut(&Fields, &Fields) -> bool,
) -> Result<bool, ItemError> {
    let Some((Value::Object(ObjType::Map), map)) = doc.get(ROOT, "items")? else {
        return Ok(false);
    };
    for (id, digest) in wanted_digests {
        let Some(known) = stored.get(id) else {
            continue;
        };
        if known == digest {
            continue;
        }
        let (Some(old), Some(new)) = (read_item(doc, &map, id)?, wanted.get(id)) else {
            continue;
        };
        if old != *new && test(&old, new) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Entry {
        term: String,
        date: String,
        value: Option<f64>,
        count: i64,
        ended: bool,
    }

    fn entry(term: &str) -> Entry {
        Entry {
            term: term.to_owned(),
            date: "2024-02-01".to_owned(),
            value: Some(4.5),
            count: 3,
            ended: false,
        }
    }

    #[test]
    fn items_round_trip_through_fields() {
        let original = entry("Asthma");
        let fields = fields_of(&original).unwrap();
        assert_eq!(fields["term"], Field::Text("Asthma".to_owned()));
        assert_eq!(item_from::<Entry>(&fields).unwrap(), original);
        let nested = serde_json::json!({"term": "x", "tags": ["a"]});
        assert!(fields_of(&nested).is_err(), "items are flat");
    }

    #[test]
    fn reconcile_writes_only_what_changed_one_change_per_item() {
        let mut doc = AutoCommit::new();
        let mut wanted = Items::new();
        wanted.insert("a".to_owned(), fields_of(&entry("Asthma")).unwrap());
        wanted.insert("b".to_owned(), fields_of(&entry("Eczema")).unwrap());
        assert_eq!(reconcile(&mut doc, &wanted).unwrap(), 2);
        let changes_before = doc.get_changes(&[]).len();
        assert_eq!(reconcile(&mut doc, &wanted).unwrap(), 0, "nothing to do");
        assert_eq!(
            doc.get_changes(&[]).len(),
            changes_before,
            "no empty changes"
        );

        wanted.insert("b".to_owned(), fields_of(&entry("Atopic eczema")).unwrap());
        wanted.remove("a");
        assert_eq!(reconcile(&mut doc, &wanted).unwrap(), 2);
        assert_eq!(read_items(&doc).unwrap(), wanted);
        assert_eq!(doc.get_changes(&[]).len(), changes_before + 2);
    }

    #[test]
    fn digests_round_trip_and_reconcile_known_touches_only_changed_items() {
        let mut doc = AutoCommit::new();
        let mut wanted = Items::new();
        for (id, term) in [("a", "Asthma"), ("b", "Eczema"), ("c", "Gout")] {
            wanted.insert(id.to_owned(), fields_of(&entry(term)).unwrap());
        }
        reconcile(&mut doc, &wanted).unwrap();
        let stored = digests(&wanted);
        assert_eq!(
            decode_digests(&encode_digests(&stored)),
            Some(stored.clone())
        );
        assert_eq!(decode_digests(&[1, 5, 0, 0, 0, b'a']), None, "truncated");
        assert_eq!(decode_digests(&[]), None);
        assert_ne!(stored["a"], stored["b"]);
        let mut other = entry("Asthma");
        other.value = None;
        assert_ne!(digest(&fields_of(&other).unwrap()), stored["a"]);

        let same = digests(&wanted);
        assert_eq!(
            reconcile_known(&mut doc, &wanted, &same, &stored).unwrap(),
            0
        );

        let changes_before = doc.get_changes(&[]).len();
        wanted.insert("b".to_owned(), fields_of(&entry("Atopic eczema")).unwrap());
        wanted.insert("d".to_owned(), fields_of(&entry("Migraine")).unwrap());
        wanted.remove("c");
        let next = digests(&wanted);
        assert_eq!(
            reconcile_known(&mut doc, &wanted, &next, &stored).unwrap(),
            3
        );
        assert_eq!(read_items(&doc).unwrap(), wanted);
        assert_eq!(doc.get_changes(&[]).len(), changes_before + 3);
    }
}
