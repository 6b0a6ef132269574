//! Which changes to a server-written item may be written in place, and which must start a new
//! generation. automerge keeps every value a document ever held: a value written over stays
//! readable at old heads and is sent to every new device. So when the practice or the clinical
//! system changes or removes a value that was itself information (clinical text, values,
//! names, comments), the old value must not survive in any history a device can receive: the
//! document starts generation g+1 from the current items alone. Values that say only where
//! something stands (states, flags, counters, read and file times, ids) may be written in
//! place, since an old one tells nothing the current one does not.
//!
//! Every field of every item type in [`crate::schema`] is classified here; a field missing
//! from the table is treated as [`Rewrite::NewGeneration`] (the safe side), and this module's
//! tests fail for it so it gets a deliberate class.

use crate::documents::Section;
use crate::items::{Field, Fields};

/// How a change of one field's value may reach devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// The old value must leave history: the document starts a new generation.
    NewGeneration,
    /// The value may be written over in place.
    InPlace,
}

use Rewrite::{InPlace, NewGeneration};

/// The class of `field` of an item of `section` (of `kind`, in the documents whose items
/// carry one), or `None` for a field this table does not know.
pub fn class(section: Section, kind: Option<&str>, field: &str) -> Option<Rewrite> {
    let class = match (section, kind, field) {
        (Section::Medications | Section::Messages, _, "kind") => InPlace,
        (Section::Profile, _, name) => match name {
            "given_name" | "family_name" | "practice_name" | "ods_code" => NewGeneration,
            "relationship" | "acting_as_proxy" | "record_sections" | "appointments"
            | "prescriptions" | "messages" => InPlace,
            _ => return None,
        },
        (
            Section::Record,
            _,
            "section" | "snomed_code" | "term" | "effective_date" | "end_date" | "detail"
            | "author",
        ) => NewGeneration,
        (Section::Results, _, name) => match name {
            "test_code" | "test_name" | "value" | "numeric_value" | "unit" | "range_low"
            | "range_high" | "range_text" | "abnormal_flag" | "requester" | "effective_date"
            | "clinician_comment" => NewGeneration,
            "filed_at" => InPlace,
            _ => return None,
        },
        (Section::Documents, _, name) => match name {
            "document_type"
            | "title"
            | "author_organisation"
            | "effective_date"
            | "content_type"
            | "clinician_comment" => NewGeneration,
            "size_bytes" | "filed_at" => InPlace,
            _ => return None,
        },
        (Section::Appointments, _, name) => match name {
            "reason" | "cancellation_reason" | "clinician_name" => NewGeneration,
            "status" | "booked_at" | "booked_by_proxy" | "cancelled_at" | "slot_id"
            | "starts_at" | "ends_at" | "clinician_staff_id" | "slot_type" | "session_name"
            | "location" | "channel" => InPlace,
            _ => return None,
        },
        (Section::Medications, Some("course"), name) => match name {
            "medication" | "dosage" | "quantity" | "course_type" => NewGeneration,
            "can_be_requested" | "last_issue_date" | "next_issue_date" | "review_date"
            | "review_due" | "request_pending" | "pending_request_id" => InPlace,
            _ => return None,
        },
        (Section::Medications, Some("request"), name) => match name {
            "note" => NewGeneration,
            "created_at" | "requested_by_proxy" | "pharmacy_ods" => InPlace,
            _ => return None,
        },
        (Section::Medications, Some("requested_course"), name) => match name {
            "medication" | "rejection_reason" => NewGeneration,
            "request_id" | "course_id" | "status" | "routed_to_clinician" | "decided_at" => InPlace,
            _ => return None,
        },
        (Section::Medications, Some("pharmacy"), "ods_code") => InPlace,
        (Section::Messages, Some("thread"), name) => match name {
            "subject" => NewGeneration,
            "status" | "started_by" | "created_at" | "last_message_at" | "unread_count" => InPlace,
            _ => return None,
        },
        (Section::Messages, Some("message"), name) => match name {
            "sender_name" | "body" => NewGeneration,
            "thread_id"
            | "sender"
            | "sent_by_you"
            | "sent_at"
            | "read_by_patient_at"
            | "read_by_practice_at" => InPlace,
            _ => return None,
        },
        _ => return None,
    };
    Some(class)
}

/// Whether changing an item of `section` from `old` to `new` must start a new generation: a
/// field that held a value (not null) now holds another or none, and is not classified
/// [`Rewrite::InPlace`]. Filling in a null (a result filed, a comment added) is in place.
pub fn needs_new_generation(section: Section, old: &Fields, new: &Fields) -> bool {
    let kind = match old.get("kind") {
        Some(Field::Text(kind)) => Some(kind.as_str()),
        _ => None,
    };
    old.iter().any(|(name, value)| {
        *value != Field::Null
            && new.get(name) != Some(value)
            && class(section, kind, name) != Some(InPlace)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// One example item of every document and kind, checked against the item types by the
    /// golden vectors' test, so every field of every schema is here.
    const ITEMS: &str = include_str!("../tests/vectors/items.json");

    fn section_named(name: &str) -> Section {
        match name {
            "profile" => Section::Profile,
            "record" => Section::Record,
            "results" => Section::Results,
            "documents" => Section::Documents,
            "appointments" => Section::Appointments,
            "medications" => Section::Medications,
            "messages" => Section::Messages,
            other => panic!("an example of no known document: {other}"),
        }
    }

    fn examples() -> BTreeMap<String, Fields> {
        #[derive(serde::Deserialize)]
        struct Vectors {
            examples: BTreeMap<String, Fields>,
        }
        serde_json::from_str::<Vectors>(ITEMS).unwrap().examples
    }

    #[test]
    fn every_field_of_every_server_written_schema_is_classified() {
        let mut unclassified = Vec::new();
        let mut seen = 0;
        for (name, fields) in examples() {
            let (document, kind) = match name.split_once('/') {
                Some((document, kind)) => (document, Some(kind)),
                None => (name.as_str(), None),
            };
            let section = section_named(document);
            for field in fields.keys() {
                seen += 1;
                if class(section, kind, field).is_none() {
                    unclassified.push(format!("{name}.{field}"));
                }
            }
        }
        assert!(seen > 80, "only {seen} fields");
        assert!(
            unclassified.is_empty(),
            "fields without a class: {unclassified:?}"
        );
    }

    #[test]
    fn clinical_text_starts_a_new_generation_and_states_do_not() {
        let examples = examples();
        let entry = &examples["record"];
        let mut corrected = entry.clone();
        corrected.insert(
            "detail".to_owned(),
            Field::Text("Corrected detail".to_owned()),
        );
        assert!(needs_new_generation(Section::Record, entry, &corrected));
        let mut removed = entry.clone();
        removed.insert("detail".to_owned(), Field::Null);
        assert!(needs_new_generation(Section::Record, entry, &removed));

        let appointment = &examples["appointments"];
        let mut cancelled = appointment.clone();
        cancelled.insert(
            "status".to_owned(),
            Field::Text("cancelled_by_patient".to_owned()),
        );
        assert!(!needs_new_generation(
            Section::Appointments,
            appointment,
            &cancelled
        ));

        // Filling in a null reveals nothing old.
        let mut result = examples["results"].clone();
        result.insert("clinician_comment".to_owned(), Field::Null);
        let mut commented = result.clone();
        commented.insert(
            "clinician_comment".to_owned(),
            Field::Text("Repeat in 3 months".to_owned()),
        );
        assert!(!needs_new_generation(Section::Results, &result, &commented));
        assert!(needs_new_generation(Section::Results, &commented, &result));

        let thread = &examples["messages/thread"];
        let mut read = thread.clone();
        read.insert("unread_count".to_owned(), Field::Int(0));
        assert!(!needs_new_generation(Section::Messages, thread, &read));
        let mut retitled = thread.clone();
        retitled.insert("subject".to_owned(), Field::Text("Other".to_owned()));
        assert!(needs_new_generation(Section::Messages, thread, &retitled));
    }

    #[test]
    fn an_unknown_field_is_on_the_safe_side() {
        let mut old = Fields::new();
        old.insert("surprise".to_owned(), Field::Text("old".to_owned()));
        let mut new = Fields::new();
        new.insert("surprise".to_owned(), Field::Text("new".to_owned()));
        assert!(needs_new_generation(Section::Record, &old, &new));
    }
}
