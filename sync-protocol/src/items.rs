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
        let item = match existing {
            Some(_) => match doc.get(&map, id.as_str())? {
                Some((Value::Object(ObjType::Map), item)) => item,
                _ => doc.put_object(&map, id.as_str(), ObjType::Map)?,
            },
            None => doc.put_object(&map, id.as_str(), ObjType::Map)?,
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
        changed += 1;
    }
    for id in current.keys().filter(|id| !wanted.contains_key(*id)) {
        doc.delete(&map, id.as_str())?;
        doc.commit();
        changed += 1;
    }
    Ok(changed)
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
}
