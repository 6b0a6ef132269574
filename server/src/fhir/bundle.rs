//! Reading an incoming Bundle, bounded before anything is parsed: the body's size is checked
//! by the caller, the number of entries while the entry list is read (entries past the limit
//! are skipped unparsed and only counted), and each attachment's decoded size from the length
//! of its base64 text before any resource is parsed into the model or any base64 decoded.
//! Then each entry is parsed into its typed resource, and references between entries resolve
//! through an index of `fullUrl`s and `Type/id`s.

use super::model::{
    AllergyIntolerance, Condition, DocumentReference, Encounter, Immunization, MedicationRequest,
    MedicationStatement, Named, Observation, Patient, Reference, Schedule, Slot,
};
use super::outcome::Issue;
use crate::record::import::MAX_DOCUMENT_BYTES;
use serde::de::{DeserializeOwned, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;

/// The largest Bundle accepted, in bytes: room for a few letters of the largest size.
pub const MAX_BUNDLE_BYTES: usize = 16 * 1024 * 1024;
/// The most entries one Bundle may hold.
pub const MAX_ENTRIES: usize = 2_000;

/// The Bundle's outer shape; each entry stays raw JSON until it is checked.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shell {
    resource_type: Option<String>,
    #[serde(rename = "type")]
    bundle_type: Option<String>,
    #[serde(default)]
    entry: BoundedEntries,
}

/// At most [`MAX_ENTRIES`] entries kept; the rest are skipped and counted.
#[derive(Default)]
struct BoundedEntries {
    kept: Vec<Value>,
    total: usize,
}

impl<'de> Deserialize<'de> for BoundedEntries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Bounded;
        impl<'de> Visitor<'de> for Bounded {
            type Value = BoundedEntries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of Bundle entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BoundedEntries, A::Error> {
                let mut entries = BoundedEntries::default();
                loop {
                    if entries.kept.len() < MAX_ENTRIES {
                        match seq.next_element::<Value>()? {
                            Some(entry) => entries.kept.push(entry),
                            None => break,
                        }
                    } else if seq.next_element::<IgnoredAny>()?.is_none() {
                        break;
                    }
                    entries.total += 1;
                }
                Ok(entries)
            }
        }
        deserializer.deserialize_seq(Bounded)
    }
}

/// A resource of a type the import knows.
#[derive(Debug, Clone)]
pub enum Resource {
    /// A patient.
    Patient(Box<Patient>),
    /// A problem.
    Condition(Box<Condition>),
    /// An allergy.
    AllergyIntolerance(Box<AllergyIntolerance>),
    /// A medicine taken.
    MedicationStatement(Box<MedicationStatement>),
    /// A course.
    MedicationRequest(Box<MedicationRequest>),
    /// An immunisation.
    Immunization(Box<Immunization>),
    /// A consultation.
    Encounter(Box<Encounter>),
    /// A test result.
    Observation(Box<Observation>),
    /// A letter.
    DocumentReference(Box<DocumentReference>),
    /// A diary.
    Schedule(Box<Schedule>),
    /// A bookable time.
    Slot(Box<Slot>),
    /// A Practitioner, Organization or Location, read for its name.
    Named(Box<Named>),
}

/// One entry of the Bundle that parsed.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its position in `Bundle.entry`.
    pub index: usize,
    /// Its resource type, as sent.
    pub resource_type: &'static str,
    /// The resource.
    pub resource: Resource,
}

impl Entry {
    /// FHIRPath of the entry's resource.
    pub fn path(&self) -> String {
        resource_path(self.index)
    }
}

/// FHIRPath of the resource of entry `index`.
pub fn resource_path(index: usize) -> String {
    format!("Bundle.entry[{index}].resource")
}

/// The resource types an import accepts.
pub const ACCEPTED: [&str; 14] = [
    "Patient",
    "Condition",
    "AllergyIntolerance",
    "MedicationStatement",
    "MedicationRequest",
    "Immunization",
    "Encounter",
    "Observation",
    "DocumentReference",
    "Schedule",
    "Slot",
    "Practitioner",
    "Organization",
    "Location",
];

/// A Bundle read and parsed: the entries that parsed, the reference index and every problem
/// found so far.
#[derive(Debug, Default)]
pub struct Bundle {
    /// The entries that parsed, in order.
    pub entries: Vec<Entry>,
    /// Every problem found while reading.
    pub issues: Vec<Issue>,
    /// `fullUrl`s and `Type/id`s of every entry that parsed, to its position in `entries`.
    index: HashMap<String, usize>,
}

/// Why a Bundle could not be read at all.
pub enum Unreadable {
    /// Not JSON, or not a Bundle of an accepted type.
    Malformed(Issue),
    /// More entries than [`MAX_ENTRIES`].
    TooManyEntries(Issue),
}

impl Bundle {
    /// Reads `body` (already bounded by [`MAX_BUNDLE_BYTES`]).
    pub fn read(body: &[u8]) -> Result<Self, Unreadable> {
        let shell: Shell = serde_json::from_slice(body).map_err(|error| {
            Unreadable::Malformed(Issue::new(
                "Bundle",
                "malformed_bundle",
                format!(
                    "not a FHIR JSON Bundle (line {}, column {})",
                    error.line(),
                    error.column()
                ),
            ))
        })?;
        if shell.resource_type.as_deref() != Some("Bundle") {
            return Err(Unreadable::Malformed(Issue::new(
                "Bundle.resourceType",
                "malformed_bundle",
                "the resource must be a Bundle",
            )));
        }
        if !matches!(
            shell.bundle_type.as_deref(),
            Some("transaction" | "collection")
        ) {
            return Err(Unreadable::Malformed(Issue::new(
                "Bundle.type",
                "unsupported_bundle_type",
                "a transaction or collection Bundle is expected",
            )));
        }
        if shell.entry.total > MAX_ENTRIES {
            return Err(Unreadable::TooManyEntries(Issue::new(
                "Bundle.entry",
                "too_many_resources",
                format!(
                    "at most {MAX_ENTRIES} entries in one Bundle ({} sent)",
                    shell.entry.total
                ),
            )));
        }
        let mut bundle = Self::default();
        for (index, entry) in shell.entry.kept.into_iter().enumerate() {
            bundle.add(index, entry);
        }
        Ok(bundle)
    }

    fn add(&mut self, index: usize, mut entry: Value) {
        let path = resource_path(index);
        let full_url = entry
            .get("fullUrl")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let Some(resource) = entry.get_mut("resource").map(Value::take) else {
            self.issues.push(Issue::new(
                format!("Bundle.entry[{index}]"),
                "required",
                "the entry has no resource",
            ));
            return;
        };
        let type_name = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(resource_type) = ACCEPTED.iter().copied().find(|t| *t == type_name) else {
            self.issues.push(Issue::new(
                format!("{path}.resourceType"),
                "unknown_resource_type",
                format!(
                    "this import does not take this resource type; it takes {}",
                    ACCEPTED.join(", ")
                ),
            ));
            return;
        };
        if resource_type == "DocumentReference" && !self.attachments_bounded(&path, &resource) {
            return;
        }
        let id = resource
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let parsed = match resource_type {
            "Patient" => typed(&path, resource).map(Resource::Patient),
            "Condition" => typed(&path, resource).map(Resource::Condition),
            "AllergyIntolerance" => typed(&path, resource).map(Resource::AllergyIntolerance),
            "MedicationStatement" => typed(&path, resource).map(Resource::MedicationStatement),
            "MedicationRequest" => typed(&path, resource).map(Resource::MedicationRequest),
            "Immunization" => typed(&path, resource).map(Resource::Immunization),
            "Encounter" => typed(&path, resource).map(Resource::Encounter),
            "Observation" => typed(&path, resource).map(Resource::Observation),
            "DocumentReference" => typed(&path, resource).map(Resource::DocumentReference),
            "Schedule" => typed(&path, resource).map(Resource::Schedule),
            "Slot" => typed(&path, resource).map(Resource::Slot),
            _ => typed(&path, resource).map(Resource::Named),
        };
        let resource = match parsed {
            Ok(resource) => resource,
            Err(issue) => {
                self.issues.push(issue);
                return;
            }
        };
        let position = self.entries.len();
        for key in full_url
            .into_iter()
            .chain(id.map(|id| format!("{resource_type}/{id}")))
        {
            if self.index.insert(key, position).is_some() {
                self.issues.push(Issue::new(
                    format!("Bundle.entry[{index}].fullUrl"),
                    "duplicate_full_url",
                    "another entry of the Bundle has the same fullUrl or Type/id",
                ));
            }
        }
        self.entries.push(Entry {
            index,
            resource_type,
            resource,
        });
    }

    /// Checks each attachment's decoded size from its base64 text, before anything decodes it.
    fn attachments_bounded(&mut self, path: &str, resource: &Value) -> bool {
        let mut bounded = true;
        let contents = resource.get("content").and_then(Value::as_array);
        for (k, content) in contents.into_iter().flatten().enumerate() {
            let attachment = &content["attachment"];
            let declared = attachment.get("size").and_then(Value::as_u64);
            let decoded = attachment
                .get("data")
                .and_then(Value::as_str)
                .map(decoded_len);
            let too_large =
                |size: u64| usize::try_from(size).map_or(true, |size| size > MAX_DOCUMENT_BYTES);
            if declared.is_some_and(too_large)
                || decoded.is_some_and(|size| size > MAX_DOCUMENT_BYTES)
            {
                self.issues.push(Issue::new(
                    format!("{path}.content[{k}].attachment.data"),
                    "attachment_too_large",
                    format!("an attachment may be at most {MAX_DOCUMENT_BYTES} bytes"),
                ));
                bounded = false;
            }
        }
        bounded
    }

    /// The entry `reference` points to, if it is in the Bundle: by `fullUrl`, by `Type/id`, or
    /// by the `Type/id` ending of an absolute URL.
    pub fn resolve(&self, reference: &str) -> Option<&Entry> {
        let reference = reference.trim();
        let position = self.index.get(reference).or_else(|| {
            let mut segments = reference.rsplit('/');
            let id = segments.next()?;
            let resource_type = segments.next()?;
            self.index.get(&format!("{resource_type}/{id}"))
        })?;
        self.entries.get(*position)
    }

    /// The entry a required reference points to; an issue at `path` when it is missing or
    /// points to nothing in the Bundle.
    pub fn follow(
        &self,
        reference: Option<&Reference>,
        path: &str,
        issues: &mut Vec<Issue>,
    ) -> Option<&Entry> {
        let Some(target) = reference.and_then(|r| r.reference.as_deref()) else {
            issues.push(Issue::new(
                path,
                "required",
                "a reference to an entry of the Bundle is required",
            ));
            return None;
        };
        let found = self.resolve(target);
        if found.is_none() {
            issues.push(Issue::new(
                format!("{path}.reference"),
                "unresolved_reference",
                "no entry of the Bundle has this fullUrl or Type/id",
            ));
        }
        found
    }

    /// The name shown for a reference to a person, organisation or place: its `display`, or
    /// the name of the entry it points to. A reference that is neither is to nothing.
    pub fn display(
        &self,
        reference: Option<&Reference>,
        path: &str,
        issues: &mut Vec<Issue>,
    ) -> Option<String> {
        let reference = reference?;
        if let Some(display) = reference
            .display
            .as_deref()
            .filter(|d| !d.trim().is_empty())
        {
            return Some(display.to_owned());
        }
        let target = reference.reference.as_deref()?;
        match self.resolve(target).map(|entry| &entry.resource) {
            Some(Resource::Named(named)) => named.display(),
            _ => {
                issues.push(Issue::new(
                    format!("{path}.reference"),
                    "unresolved_reference",
                    "no display, and no Practitioner, Organization or Location of the Bundle \
                     has this fullUrl or Type/id",
                ));
                None
            }
        }
    }

    /// The resource type a reference names: that of the entry it resolves to, else its
    /// `Type/` prefix.
    pub fn target_type<'a>(&'a self, reference: &'a Reference) -> Option<&'a str> {
        let target = reference.reference.as_deref()?;
        match self.resolve(target) {
            Some(entry) => Some(entry.resource_type),
            None => target.rsplit('/').nth(1),
        }
    }
}

/// The resource parsed into its model, or an issue naming the element that did not fit.
fn typed<T: DeserializeOwned>(path: &str, resource: Value) -> Result<Box<T>, Issue> {
    serde_path_to_error::deserialize(resource)
        .map(Box::new)
        .map_err(|error| {
            let element = error.path().to_string();
            let expression = if element.is_empty() || element == "." {
                path.to_owned()
            } else {
                format!("{path}.{element}")
            };
            Issue::new(
                expression,
                "malformed_resource",
                "this element does not have the type FHIR R4 gives it",
            )
        })
}

/// The number of bytes base64 `text` decodes to (whitespace such as MIME line breaks ignored),
/// counted without decoding.
fn decoded_len(text: &str) -> usize {
    let symbols = text.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    let padding = text
        .bytes()
        .rev()
        .filter(|b| !b.is_ascii_whitespace())
        .take(2)
        .filter(|b| *b == b'=')
        .count();
    (symbols - padding) * 3 / 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(value: Value) -> Result<Bundle, Unreadable> {
        Bundle::read(value.to_string().as_bytes())
    }

    #[test]
    fn entries_past_the_limit_are_counted_not_kept() {
        let entries: Vec<Value> = (0..=MAX_ENTRIES)
            .map(|_| json!({"resource": {"resourceType": "Basic"}}))
            .collect();
        let refused =
            read(json!({"resourceType": "Bundle", "type": "collection", "entry": entries}));
        let Err(Unreadable::TooManyEntries(issue)) = refused else {
            panic!("a Bundle over the limit was read");
        };
        assert_eq!(issue.code, "too_many_resources");
        assert!(issue.reason.contains(&format!("{}", MAX_ENTRIES + 1)));
    }

    #[test]
    fn base64_sizes_are_counted_without_decoding() {
        use base64::Engine as _;
        for size in [0, 1, 2, 3, 4, 5, 1000, 1001, 1002] {
            let text = base64::engine::general_purpose::STANDARD.encode(vec![7u8; size]);
            assert_eq!(decoded_len(&text), size, "{size}");
            let wrapped: String = text
                .as_bytes()
                .chunks(76)
                .map(|line| format!("{}\r\n", String::from_utf8_lossy(line)))
                .collect();
            assert_eq!(decoded_len(&wrapped), size, "{size} wrapped");
        }
    }

    #[test]
    fn references_resolve_by_full_url_type_and_id_and_absolute_url() {
        let bundle = read(
            json!({"resourceType": "Bundle", "type": "transaction", "entry": [
                {"fullUrl": "urn:uuid:2b1c", "resource": {"resourceType": "Patient", "id": "p1"}},
                {"resource": {"resourceType": "Organization", "id": "o1", "name": "Leeds GP"}},
            ]}),
        )
        .ok()
        .unwrap_or_default();
        assert!(bundle.issues.is_empty());
        for reference in [
            "urn:uuid:2b1c",
            "Patient/p1",
            "https://gp.example/fhir/Patient/p1",
        ] {
            assert_eq!(
                bundle.resolve(reference).map(|e| e.index),
                Some(0),
                "{reference}"
            );
        }
        assert!(bundle.resolve("Patient/p2").is_none());
        let mut issues = Vec::new();
        let organisation = Reference {
            reference: Some("Organization/o1".to_owned()),
            display: None,
        };
        assert_eq!(
            bundle.display(Some(&organisation), "x", &mut issues),
            Some("Leeds GP".to_owned())
        );
        assert!(issues.is_empty());
    }

    #[test]
    fn unknown_types_and_ill_typed_elements_are_named() {
        let bundle = read(
            json!({"resourceType": "Bundle", "type": "collection", "entry": [
                {"resource": {"resourceType": "CarePlan"}},
                {"resource": {"resourceType": "Patient", "birthDate": 1980}},
            ]}),
        )
        .ok()
        .unwrap_or_default();
        let found: Vec<(String, &str)> = bundle
            .issues
            .iter()
            .map(|i| (i.expression.clone(), i.code))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "Bundle.entry[0].resource.resourceType".to_owned(),
                    "unknown_resource_type"
                ),
                (
                    "Bundle.entry[1].resource.birthDate".to_owned(),
                    "malformed_resource"
                ),
            ]
        );
    }
}
