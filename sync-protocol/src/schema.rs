//! The item types of each section document: what the server writes and what a device reads
//! back with [`crate::DevicePeer::item_list`]. Every item is flat (scalars only), keyed by its
//! id in the document's `items` map. Frozen wire structs: fields may be added, never renamed.

use serde::{Deserialize, Serialize};

/// An item of the `record` document: one coded entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordItem {
    /// `allergies`, `medications`, `immunisations`, `problems` or `consultations`.
    pub section: String,
    /// SNOMED CT concept id.
    pub snomed_code: String,
    /// The term.
    pub term: String,
    /// ISO date it happened or was recorded.
    pub effective_date: String,
    /// ISO date it ended, if it did.
    pub end_date: Option<String>,
    /// Free text.
    pub detail: Option<String>,
    /// Who recorded it.
    pub author: Option<String>,
}

/// An item of the `results` document: one released result (a device draws the trend from
/// the other results with the same `test_code`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultItem {
    /// The test's code.
    pub test_code: String,
    /// The test's name.
    pub test_name: String,
    /// The value as reported.
    pub value: String,
    /// The value as a number, when it is one.
    pub numeric_value: Option<f64>,
    /// Unit.
    pub unit: Option<String>,
    /// Lower end of the reference range.
    pub range_low: Option<f64>,
    /// Upper end of the reference range.
    pub range_high: Option<f64>,
    /// The range as reported.
    pub range_text: Option<String>,
    /// `normal`, `low`, `high`, `abnormal` or `unknown`.
    pub abnormal_flag: String,
    /// Who requested the test.
    pub requester: Option<String>,
    /// ISO date of the sample.
    pub effective_date: String,
    /// RFC 3339 instant a clinician filed it.
    pub filed_at: Option<String>,
    /// The clinician's comment.
    pub clinician_comment: Option<String>,
}

/// An item of the `documents` document: one released letter's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentItem {
    /// `discharge_summary`, `outpatient_letter`, `referral_letter` or `other_letter`.
    pub document_type: String,
    /// Title.
    pub title: String,
    /// The organisation that wrote it.
    pub author_organisation: Option<String>,
    /// ISO date.
    pub effective_date: String,
    /// Media type of the body.
    pub content_type: String,
    /// Size of the body.
    pub size_bytes: i64,
    /// RFC 3339 instant a clinician filed it.
    pub filed_at: Option<String>,
    /// The clinician's comment.
    pub clinician_comment: Option<String>,
}

/// The single item (id `profile`) of the `profile` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileItem {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// `self` or the proxy relationship.
    pub relationship: String,
    /// Whether the viewer acts as a proxy ("Acting for …").
    pub acting_as_proxy: bool,
    /// Practice ODS code.
    pub ods_code: String,
    /// Practice name.
    pub practice_name: String,
    /// Record sections the viewer may read, comma-separated.
    pub record_sections: String,
    /// May book appointments.
    pub appointments: bool,
    /// May order repeat prescriptions.
    pub prescriptions: bool,
    /// May message the practice.
    pub messages: bool,
}

/// An item of the `appointments` document: one appointment with its slot, as the appointments
/// list of the REST API shows it to the same viewer (upcoming ones and those of the past year).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentItem {
    /// `booked`, `cancelled_by_patient`, `cancelled_by_practice`, `attended` or
    /// `did_not_attend`.
    pub status: String,
    /// The booking reason: shown to the patient and to the proxy who booked it, else absent.
    pub reason: Option<String>,
    /// RFC 3339 instant it was booked.
    pub booked_at: String,
    /// Whether a proxy booked it on the patient's behalf.
    pub booked_by_proxy: bool,
    /// RFC 3339 instant it was cancelled.
    pub cancelled_at: Option<String>,
    /// Why it was cancelled.
    pub cancellation_reason: Option<String>,
    /// The slot's id.
    pub slot_id: String,
    /// RFC 3339 start of the slot.
    pub starts_at: String,
    /// RFC 3339 end of the slot.
    pub ends_at: String,
    /// The clinician(s), as the practice names them.
    pub clinician_name: String,
    /// The clinician's staff id, when the practice gave it.
    pub clinician_staff_id: Option<String>,
    /// The slot type, e.g. "GP appointment".
    pub slot_type: String,
    /// The session, e.g. "Monday morning surgery".
    pub session_name: String,
    /// Where it takes place.
    pub location: String,
    /// `in_person`, `telephone` or `video`.
    pub channel: String,
}

/// An item of the `medications` document. Items of one document share one map, so each
/// carries its `kind` (`course`, `request`, `requested_course` or `pharmacy`); a device reads
/// them with `item_list::<MedicationsItem>` and should skip an item whose kind it does not know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MedicationsItem {
    /// A current course (keyed by the course id).
    Course(CourseItem),
    /// A prescription request (keyed by the request id).
    Request(PrescriptionRequestItem),
    /// One course of a request and its decision (keyed by the requested item's id).
    RequestedCourse(RequestedCourseItem),
    /// The nominated pharmacy (the single item `pharmacy`).
    Pharmacy(PharmacyItem),
}

/// A current medication course the viewer may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseItem {
    /// The medicine.
    pub medication: String,
    /// How to take it.
    pub dosage: String,
    /// How much is issued.
    pub quantity: String,
    /// `acute`, `repeat`, `repeat_dispensing` or `automatic`.
    pub course_type: String,
    /// Whether it can be ordered online now.
    pub can_be_requested: bool,
    /// ISO date it was last issued.
    pub last_issue_date: Option<String>,
    /// ISO date the next issue is due.
    pub next_issue_date: Option<String>,
    /// ISO date a clinician should review it.
    pub review_date: Option<String>,
    /// Past its review date: an order goes to a clinician.
    pub review_due: bool,
    /// Whether a request for it is waiting for the practice.
    pub request_pending: bool,
    /// That request's id, if any.
    pub pending_request_id: Option<String>,
}

/// A prescription request (its courses are [`RequestedCourseItem`]s naming it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrescriptionRequestItem {
    /// RFC 3339 instant it was made.
    pub created_at: String,
    /// Whether a proxy made it on the patient's behalf.
    pub requested_by_proxy: bool,
    /// The pharmacy nominated when it was made.
    pub pharmacy_ods: Option<String>,
    /// The note: shown to whoever wrote it and to the patient, else absent.
    pub note: Option<String>,
}

/// One course of a prescription request and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestedCourseItem {
    /// The request it belongs to.
    pub request_id: String,
    /// The course.
    pub course_id: String,
    /// The medicine.
    pub medication: String,
    /// `requested`, `approved`, `rejected` or `cancelled`.
    pub status: String,
    /// Past its review date when ordered: a clinician looks at it first.
    pub routed_to_clinician: bool,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
    /// RFC 3339 instant it was approved, rejected or cancelled.
    pub decided_at: Option<String>,
}

/// The patient's nominated pharmacy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PharmacyItem {
    /// Its ODS code; absent when none is nominated.
    pub ods_code: Option<String>,
}

/// An item of the `messages` document: a thread, or one message naming its thread (`kind`
/// `thread` or `message`; a device should skip an item whose kind it does not know).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessagesItem {
    /// A thread the viewer may see (keyed by the thread id).
    Thread(ThreadItem),
    /// A message of such a thread (keyed by the message id).
    Message(MessageItem),
}

/// A message thread with the practice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadItem {
    /// Its subject, if it has one.
    pub subject: Option<String>,
    /// `open` or `closed`.
    pub status: String,
    /// Who started it: `patient`, `proxy` or `staff`.
    pub started_by: String,
    /// RFC 3339 instant it was started.
    pub created_at: String,
    /// RFC 3339 instant of its latest message.
    pub last_message_at: String,
    /// Messages from the practice the patient side has not read.
    pub unread_count: i64,
}

/// One message of a thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageItem {
    /// The thread it belongs to.
    pub thread_id: String,
    /// `patient`, `proxy` or `staff`.
    pub sender: String,
    /// The staff member's display name (absent for patient and proxy messages).
    pub sender_name: Option<String>,
    /// Whether the viewer wrote it.
    pub sent_by_you: bool,
    /// The text.
    pub body: String,
    /// RFC 3339 instant it was sent.
    pub sent_at: String,
    /// RFC 3339 instant the patient side read it (practice messages only).
    pub read_by_patient_at: Option<String>,
    /// RFC 3339 instant the practice read it (patient and proxy messages only).
    pub read_by_practice_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::items::{Field, fields_of, item_from};

    #[test]
    fn kinds_of_one_document_are_flat_items_told_apart_by_kind() {
        let course = MedicationsItem::Course(CourseItem {
            medication: "Salbutamol 100mcg inhaler".to_owned(),
            dosage: "Two puffs when needed".to_owned(),
            quantity: "1 inhaler".to_owned(),
            course_type: "repeat".to_owned(),
            can_be_requested: true,
            last_issue_date: Some("2024-01-02".to_owned()),
            next_issue_date: None,
            review_date: None,
            review_due: false,
            request_pending: false,
            pending_request_id: None,
        });
        let fields = fields_of(&course).unwrap();
        assert_eq!(fields["kind"], Field::Text("course".to_owned()));
        assert_eq!(fields["medication"], course_medication(&course));
        assert_eq!(item_from::<MedicationsItem>(&fields).unwrap(), course);

        let message = MessagesItem::Message(MessageItem {
            thread_id: "t1".to_owned(),
            sender: "staff".to_owned(),
            sender_name: Some("Dr A Patel".to_owned()),
            sent_by_you: false,
            body: "Your results are normal.".to_owned(),
            sent_at: "2024-03-01T09:00:00Z".to_owned(),
            read_by_patient_at: None,
            read_by_practice_at: None,
        });
        let fields = fields_of(&message).unwrap();
        assert_eq!(fields["kind"], Field::Text("message".to_owned()));
        assert_eq!(item_from::<MessagesItem>(&fields).unwrap(), message);
        assert!(
            item_from::<MedicationsItem>(&fields).is_err(),
            "a message is not a medications item"
        );
    }

    fn course_medication(item: &MedicationsItem) -> Field {
        match item {
            MedicationsItem::Course(course) => Field::Text(course.medication.clone()),
            _ => Field::Null,
        }
    }
}
