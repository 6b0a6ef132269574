//! The items of the service documents (`appointments`, `medications`, `messages`), built by
//! calling the same service read functions as the REST API with an actor made from the viewer,
//! so what a device holds is exactly what the REST API shows that viewer, filtered in one place.
//! A viewer the service refuses (a proxy without the scope, a service the practice switched off)
//! gets `None`: the document is removed from the device.

use super::projection::enum_name;
use crate::access::rules::PatientFacts;
use crate::access::{Actor, Viewer};
use crate::error::{AppError, ErrorCode};
use crate::{appointments, messages, prescriptions};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::ConnectionTrait;
use sync_protocol::items::{self, Items};
use sync_protocol::schema::{
    AppointmentItem, CourseItem, MedicationsItem, MessageItem, MessagesItem, PharmacyItem,
    PrescriptionRequestItem, RequestedCourseItem, ThreadItem,
};

/// The id of the single pharmacy item of the `medications` document.
pub const PHARMACY_ITEM_ID: &str = "pharmacy";

/// Whether the service refused the viewer itself (`forbidden`, `feature_disabled`).
fn refused(error: &AppError) -> bool {
    matches!(
        error.code(),
        ErrorCode::Forbidden | ErrorCode::FeatureDisabled
    )
}

/// `Ok(None)` when the service refuses the viewer; other errors stay errors.
fn unless_refused<T>(result: Result<T, AppError>) -> Result<Option<T>, AppError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if refused(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

fn insert(items: &mut Items, id: String, item: &impl serde::Serialize) -> Result<(), AppError> {
    items.insert(id, items::fields_of(item).map_err(AppError::internal)?);
    Ok(())
}

/// An instant as the REST API writes it: RFC 3339 in UTC with `Z`, fractional seconds only
/// when there are any.
pub(super) fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn date(day: Option<NaiveDate>) -> Option<String> {
    day.map(|d| d.to_string())
}

/// The viewer's appointments: upcoming ones and those of the past year, each with its slot.
pub async fn appointments(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    now: DateTime<Utc>,
) -> Result<Option<Items>, AppError> {
    let actor = Actor {
        viewer: viewer.clone(),
        device_id: None,
    };
    let Some(list) = unless_refused(appointments::list_appointments(db, &actor, facts, now).await)?
    else {
        return Ok(None);
    };
    let mut items = Items::new();
    for appointment in list.upcoming.into_iter().chain(list.past) {
        let slot = appointment.slot;
        let item = AppointmentItem {
            status: enum_name(&appointment.status),
            reason: appointment.reason,
            booked_at: instant(appointment.booked_at),
            booked_by_proxy: appointment.booked_by_proxy,
            cancelled_at: appointment.cancelled_at.map(instant),
            cancellation_reason: appointment.cancellation_reason,
            slot_id: slot.id.to_string(),
            starts_at: instant(slot.starts_at),
            ends_at: instant(slot.ends_at),
            clinician_name: slot.clinician_name,
            clinician_staff_id: slot.clinician_staff_id.map(|id| id.to_string()),
            slot_type: slot.slot_type,
            session_name: slot.session_name,
            location: slot.location,
            channel: enum_name(&slot.channel),
        };
        insert(&mut items, appointment.id.to_string(), &item)?;
    }
    Ok(Some(items))
}

/// The viewer's current courses, prescription requests (each course of a request its own item)
/// and the nominated pharmacy.
pub async fn medications(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    now: DateTime<Utc>,
) -> Result<Option<Items>, AppError> {
    let actor = Actor {
        viewer: viewer.clone(),
        device_id: None,
    };
    let Some(courses) = unless_refused(prescriptions::list_courses(db, &actor, facts, now).await)?
    else {
        return Ok(None);
    };
    let Some(requests) =
        unless_refused(prescriptions::list_requests(db, &actor, facts, now).await)?
    else {
        return Ok(None);
    };
    let Some(pharmacy) = unless_refused(prescriptions::get_pharmacy(db, &actor, facts, now).await)?
    else {
        return Ok(None);
    };
    let mut items = Items::new();
    for course in courses {
        let item = MedicationsItem::Course(CourseItem {
            medication: course.medication,
            dosage: course.dosage,
            quantity: course.quantity,
            course_type: enum_name(&course.course_type),
            can_be_requested: course.can_be_requested,
            last_issue_date: date(course.last_issue_date),
            next_issue_date: date(course.next_issue_date),
            review_date: date(course.review_date),
            review_due: course.review_due,
            request_pending: course.request_pending,
            pending_request_id: course.pending_request_id.map(|id| id.to_string()),
        });
        insert(&mut items, course.id.to_string(), &item)?;
    }
    for request in requests {
        let request_id = request.id.to_string();
        for requested in request.items {
            let item = MedicationsItem::RequestedCourse(RequestedCourseItem {
                request_id: request_id.clone(),
                course_id: requested.course_id.to_string(),
                medication: requested.medication,
                status: enum_name(&requested.status),
                routed_to_clinician: requested.routed_to_clinician,
                rejection_reason: requested.rejection_reason,
                decided_at: requested.decided_at.map(instant),
            });
            insert(&mut items, requested.id.to_string(), &item)?;
        }
        let item = MedicationsItem::Request(PrescriptionRequestItem {
            created_at: instant(request.created_at),
            requested_by_proxy: request.requested_by_proxy,
            pharmacy_ods: request.pharmacy_ods,
            note: request.note,
        });
        insert(&mut items, request_id, &item)?;
    }
    let item = MedicationsItem::Pharmacy(PharmacyItem {
        ods_code: pharmacy.ods_code,
    });
    insert(&mut items, PHARMACY_ITEM_ID.to_owned(), &item)?;
    Ok(Some(items))
}

/// The viewer's message threads and every message of them.
pub async fn messages(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    now: DateTime<Utc>,
) -> Result<Option<Items>, AppError> {
    let actor = Actor {
        viewer: viewer.clone(),
        device_id: None,
    };
    let Some(threads) = unless_refused(messages::list_threads(db, &actor, facts, now).await)?
    else {
        return Ok(None);
    };
    let mut items = Items::new();
    for summary in threads {
        let view = match messages::view_thread(db, &actor, facts, summary.id, now).await {
            Ok(view) => view,
            // Gone or out of sight since the list was read: leave it out, as the list will.
            Err(error) if error.code() == ErrorCode::NotFound => continue,
            Err(error) if refused(&error) => return Ok(None),
            Err(error) => return Err(error),
        };
        let thread_id = summary.id.to_string();
        for message in view.messages {
            let item = MessagesItem::Message(MessageItem {
                thread_id: thread_id.clone(),
                sender: enum_name(&message.sender),
                sender_name: message.sender_name,
                sent_by_you: message.sent_by_you,
                body: message.body,
                sent_at: instant(message.sent_at),
                read_by_patient_at: message.read_by_patient_at.map(instant),
                read_by_practice_at: message.read_by_practice_at.map(instant),
            });
            insert(&mut items, message.id.to_string(), &item)?;
        }
        let item = MessagesItem::Thread(ThreadItem {
            subject: summary.subject,
            status: enum_name(&summary.status),
            started_by: enum_name(&summary.started_by),
            created_at: instant(summary.created_at),
            last_message_at: instant(summary.last_message_at),
            unread_count: i64::from(summary.unread_count),
        });
        insert(&mut items, thread_id, &item)?;
    }
    Ok(Some(items))
}
