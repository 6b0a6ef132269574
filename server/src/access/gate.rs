//! The service gate: whether a viewer may use one of the patient's online services today, as
//! the error the API answers with when not.

use super::rules::{self, PatientFacts, Scope, ServiceRefusal, Viewer};
use crate::error::{AppError, ErrorCode};
use chrono::NaiveDate;

/// Refuses unless the practice offers `service` online (`feature_disabled`) and the viewer's
/// access includes it (`forbidden`: a proxy without the scope). Every patient-side action of
/// the appointments, prescriptions and messages services passes through here first.
pub fn require_service(
    viewer: &Viewer,
    facts: &PatientFacts,
    service: Scope,
    today: NaiveDate,
) -> Result<(), AppError> {
    rules::service_allowed(viewer, facts, service, today).map_err(|refusal| {
        let (not_offered, not_in_scope) = wording(service);
        match refusal {
            ServiceRefusal::NotOffered => {
                AppError::new(ErrorCode::FeatureDisabled).with_detail(not_offered)
            }
            ServiceRefusal::NotInScope => {
                AppError::new(ErrorCode::Forbidden).with_detail(not_in_scope)
            }
        }
    })
}

/// The details of the two refusals for a service.
fn wording(service: Scope) -> (&'static str, &'static str) {
    match service {
        Scope::Appointments => (
            "the practice does not offer online appointments",
            "this access does not include appointments",
        ),
        Scope::Prescriptions => (
            "the practice does not take prescription requests online",
            "this access does not include repeat prescriptions",
        ),
        Scope::Messages => (
            "the practice does not offer messaging online",
            "this access does not include messages",
        ),
        Scope::RecordSummary | Scope::RecordDetailed | Scope::Documents => (
            "the practice does not offer this record online",
            "this access does not include this part of the record",
        ),
    }
}
