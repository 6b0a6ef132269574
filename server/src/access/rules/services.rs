//! The patient services: courses, the service gate's rule, free text written by others, message
//! threads, and the scopes a viewer holds.

use super::*;

/// Whether the viewer may see a repeat or acute course at all: not hidden, not hidden from
/// proxies for a proxy, not ended by `today`. Anything else is treated exactly like a course
/// that does not exist.
pub fn course_visible(viewer: &Viewer, course: &courses::Model, today: NaiveDate) -> bool {
    let ended = course.ended_on.is_some_and(|end| end <= today);
    !(course_hidden(viewer, course) || ended)
}

/// Whether a course is hidden from the viewer (from everyone, or from proxies only). The
/// history of requests for ended courses stays visible; hidden ones never are.
pub fn course_hidden(viewer: &Viewer, course: &courses::Model) -> bool {
    let proxy = matches!(viewer, Viewer::Proxy { .. });
    course.hidden || (proxy && course.hidden_from_proxies)
}

/// Why a viewer may not use a service for the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceRefusal {
    /// The practice does not offer the service online.
    NotOffered,
    /// The viewer's access does not include it (a proxy without the scope).
    NotInScope,
}

/// Whether the viewer may use `service` (the appointments, prescriptions or messages scope)
/// for the patient today: the practice must offer it and the viewer hold the scope.
pub fn service_allowed(
    viewer: &Viewer,
    facts: &PatientFacts,
    service: Scope,
    today: NaiveDate,
) -> Result<(), ServiceRefusal> {
    let features = facts.settings().features;
    let offered = match service {
        Scope::Appointments => features.appointments,
        Scope::Prescriptions => features.prescriptions,
        Scope::Messages => features.messages,
        Scope::RecordSummary | Scope::RecordDetailed | Scope::Documents => true,
    };
    if !offered {
        return Err(ServiceRefusal::NotOffered);
    }
    if !holds_scope(viewer, facts, service, today) {
        return Err(ServiceRefusal::NotInScope);
    }
    Ok(())
}

/// Whether the viewer sees free text written with a booking or an order (the booking reason,
/// the order's note): the patient always; a proxy only what they wrote themselves, because the
/// patient may have written things not meant for the people who hold proxy access.
pub fn sees_written_text(viewer: &Viewer, written_by_account: Option<Uuid>) -> bool {
    match viewer {
        Viewer::Patient { .. } => true,
        Viewer::Proxy { account_id, .. } => written_by_account == Some(*account_id),
        Viewer::Staff { .. } => false,
    }
}

/// Whether a patient or proxy viewer sees a message thread: never one the patient deleted; a
/// proxy never one the patient started themself (they did not share that conversation with the
/// people who hold proxy access). Staff read threads through the practice's queue instead.
pub fn thread_visible(
    viewer: &Viewer,
    thread: &message_threads::Model,
    started_by_patient: bool,
) -> bool {
    if thread.deleted_by_patient_at.is_some() {
        return false;
    }
    match viewer {
        Viewer::Patient { .. } => true,
        Viewer::Proxy { .. } => !started_by_patient,
        Viewer::Staff { .. } => false,
    }
}

/// Whether a patient or proxy viewer may act in `scope` for the patient today: the patient
/// always, a proxy when their valid grant includes it (feature switches aside).
pub fn holds_scope(viewer: &Viewer, facts: &PatientFacts, scope: Scope, today: NaiveDate) -> bool {
    let viewable = may_view_patient(viewer, facts, today);
    match viewer {
        Viewer::Patient { .. } => viewable,
        Viewer::Proxy { grant, .. } => {
            viewable && grant_scopes(grant, facts, today).contains(&scope)
        }
        Viewer::Staff { .. } => false,
    }
}
