//! UUIDs on the wire: written as 16-byte CBOR byte strings, read from either that or the
//! textual form (`"6f1c…-…"`, RFC 9562), so a peer whose CBOR library has no byte-string
//! UUIDs can send text. Used with `#[serde(with = …)]` on every UUID field of a frame.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use uuid::Uuid;

/// One UUID, read from 16 bytes or its text.
struct Either(Uuid);

impl<'de> Deserialize<'de> for Either {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UuidVisitor).map(Either)
    }
}

struct UuidVisitor;

impl<'de> Visitor<'de> for UuidVisitor {
    type Value = Uuid;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a UUID as 16 bytes or as text")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Uuid, E> {
        Uuid::parse_str(text).map_err(E::custom)
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Uuid, E> {
        Uuid::from_slice(bytes).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Uuid, A::Error> {
        // Some encoders write byte buffers as arrays of integers.
        let mut bytes = [0u8; 16];
        for (at, byte) in bytes.iter_mut().enumerate() {
            *byte = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(at, &self))?;
        }
        if seq.next_element::<u8>()?.is_some() {
            return Err(de::Error::invalid_length(17, &self));
        }
        Ok(Uuid::from_bytes(bytes))
    }
}

/// Writes a UUID as it always was (16 bytes in CBOR).
pub fn serialize<S: Serializer>(id: &Uuid, serializer: S) -> Result<S::Ok, S::Error> {
    id.serialize(serializer)
}

/// Reads a UUID from bytes or text.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Uuid, D::Error> {
    Either::deserialize(deserializer).map(|either| either.0)
}

/// The same for an optional UUID (null or absent is `None`).
pub mod option {
    use super::Either;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use uuid::Uuid;

    /// Writes an optional UUID.
    pub fn serialize<S: Serializer>(id: &Option<Uuid>, serializer: S) -> Result<S::Ok, S::Error> {
        id.serialize(serializer)
    }

    /// Reads an optional UUID from null, bytes or text.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Uuid>, D::Error> {
        Option::<Either>::deserialize(deserializer).map(|id| id.map(|either| either.0))
    }
}

/// The same for a list of UUIDs.
pub mod list {
    use super::Either;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use uuid::Uuid;

    /// Writes a list of UUIDs.
    pub fn serialize<S: Serializer>(ids: &[Uuid], serializer: S) -> Result<S::Ok, S::Error> {
        ids.serialize(serializer)
    }

    /// Reads a list of UUIDs, each from bytes or text.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Uuid>, D::Error> {
        Vec::<Either>::deserialize(deserializer)
            .map(|ids| ids.into_iter().map(|either| either.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::{DocumentId, Section};
    use uuid::Uuid;

    #[derive(serde::Serialize)]
    struct TextualId<'a> {
        patient_id: &'a str,
        section: &'a str,
    }

    #[test]
    fn a_uuid_is_read_from_its_text_or_its_bytes_and_written_as_bytes() {
        let id = Uuid::parse_str("6f1c2a4e-8b7d-4c3e-9f10-2a3b4c5d6e7f").unwrap();
        let mut text = Vec::new();
        ciborium::into_writer(
            &TextualId {
                patient_id: "6f1c2a4e-8b7d-4c3e-9f10-2a3b4c5d6e7f",
                section: "record",
            },
            &mut text,
        )
        .unwrap();
        let from_text: DocumentId = ciborium::from_reader(text.as_slice()).unwrap();
        assert_eq!(from_text, DocumentId::new(id, Section::Record));
        let mut bytes = Vec::new();
        ciborium::into_writer(&from_text, &mut bytes).unwrap();
        // Written as a byte string (major type 2, length 16), never as text.
        assert!(
            bytes
                .windows(17)
                .any(|w| w[0] == 0x50 && w[1..] == *id.as_bytes())
        );
        let from_bytes: DocumentId = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(from_bytes, from_text);
        let mut bad = Vec::new();
        ciborium::into_writer(
            &TextualId {
                patient_id: "not-a-uuid",
                section: "record",
            },
            &mut bad,
        )
        .unwrap();
        assert!(ciborium::from_reader::<DocumentId, _>(bad.as_slice()).is_err());
    }
}
