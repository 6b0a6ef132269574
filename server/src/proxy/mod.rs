//! Proxy access (docs/domain.md "Proxy access", NHS England DAPB3051): the practice's grant
//! decisions, the patient's own view and revocation of their proxies, and the time rules.
//!
//! - Staff of the patient's practice record every decision, granted or refused, with the legal
//!   basis, scopes, start and end date ([`decide`]); admins decide, clinicians may view
//!   ([`list_for_practice`]); admins narrow or extend ([`change`]) and revoke ([`revoke_by_staff`]).
//! - A patient sees their valid and suspended proxies ([`list_for_patient`]) and, with capacity
//!   (16 or over, or recorded as competent), revokes one at once ([`revoke_by_patient`]).
//! - [`sweep`] applies the time rules for a given `now`: parental record access suspended for
//!   review on the child's Nth birthday, all access suspended at 16 without the young person's
//!   consent, expiry after the end date, removal after years unused, and one warning to both
//!   sides before an end date or age suspension.
//!
//! Each change is one transaction with its audit event (codes and ids only) and a projection
//! outbox row for every section, so sync starts a new generation for proxy audiences. Access
//! itself is decided by [`crate::access::rules::grant_is_valid`] on every request, so a revoked,
//! suspended or narrowed grant takes effect on the proxy's very next request.

use crate::access::Scope;
use crate::db::entities::proxy_grants::{self, GrantStatus, LegalBasis};
use crate::db::entities::staff::StaffRole;
use crate::db::entities::{carers, patients};
use crate::error::{AppError, ErrorCode};
use crate::outbox;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};
use serde::{Deserialize, Serialize};
use sync_protocol::Section;
use utoipa::ToSchema;
use uuid::Uuid;

/// Every section whose projection is rebuilt when a grant changes.
pub const SECTIONS: [Section; 7] = [
    Section::Profile,
    Section::Record,
    Section::Results,
    Section::Documents,
    Section::Appointments,
    Section::Medications,
    Section::Messages,
];

/// The projection outbox reason for grant changes.
const DIRTY_REASON: &str = "proxy_change";
/// The notification kind that warns both sides of an end date or suspension.
pub const WARNING_KIND: &str = "proxy_access_ending";
/// The notification kind telling both sides that proxy access started, changed or ended.
pub const CHANGED_KIND: &str = "proxy_access_changed";
/// The audit action recording that a warning was sent (and the sweep's idempotency marker).
const WARN_ACTION: &str = "proxy.warn";
/// Longest relationship label, in characters.
pub const MAX_RELATIONSHIP_CHARS: usize = 50;
/// Longest refusal reason, in characters.
pub const MAX_REFUSAL_REASON_CHARS: usize = 1000;
/// Longest carer name part, in characters.
const MAX_NAME_CHARS: usize = 100;

mod decisions;
mod patient;
mod sweep;

pub use decisions::{GrantReview, change, decide, list_for_practice, review, revoke_by_staff};
pub use patient::{list_for_patient, record_use, revoke_by_patient};
use sweep::notify_both_sides;
pub use sweep::{SweepReport, sweep};

/// Who decides: a member of staff of one practice.
#[derive(Debug, Clone, Copy)]
pub struct Decider {
    /// The staff member.
    pub staff_id: Uuid,
    /// Their practice: the only one whose patients they can see or decide for.
    pub practice_id: Uuid,
    /// Their role: only admins decide.
    pub role: StaffRole,
}

fn require_admin(decider: &Decider) -> Result<(), AppError> {
    if decider.role == StaffRole::Admin {
        Ok(())
    } else {
        Err(AppError::new(ErrorCode::Forbidden)
            .with_detail("only a practice admin can decide proxy access"))
    }
}

/// The practice's decision on a proxy request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantDecision {
    /// Access is granted.
    Granted,
    /// The request is refused (and recorded).
    Refused,
}

/// Who the proxy is: a patient of the practice, or a carer (created with the grant).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ProxyRequest {
    /// A patient of the same practice.
    Patient {
        /// Their patient id.
        patient_id: Uuid,
    },
    /// A carer who is not a patient of the practice.
    Carer {
        /// Their details.
        carer: CarerRequest,
    },
}

/// A carer's details.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CarerRequest {
    /// Given name.
    #[serde(default)]
    pub given_name: String,
    /// Family name.
    #[serde(default)]
    pub family_name: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub date_of_birth: String,
}

/// A proxy request and the practice's decision on it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// The patient the proxy would act for.
    pub patient_id: Uuid,
    /// The proxy.
    pub proxy: ProxyRequest,
    /// "parent", "carer", … (required, at most 50 characters).
    #[serde(default)]
    pub relationship: Option<String>,
    /// What the grant covers: appointments, prescriptions, messages, record_summary,
    /// record_detailed, documents (at least one).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// patient_consent, parental_responsibility, lasting_power_of_attorney,
    /// court_appointed_deputy or best_interests.
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// First day, `YYYY-MM-DD`.
    #[serde(default)]
    pub starts_on: Option<String>,
    /// Last day, `YYYY-MM-DD`; required unless `no_end_date_exception`.
    #[serde(default)]
    pub ends_on: Option<String>,
    /// An open-ended grant, recorded as the exception it is.
    #[serde(default)]
    pub no_end_date_exception: bool,
    /// First entered or filed date of record items the grant's detailed and document scopes
    /// show, `YYYY-MM-DD`; left out, the day the grant starts. Summary scopes show the
    /// summary's whole history.
    #[serde(default)]
    pub record_access_from: Option<String>,
    /// Granted or refused.
    pub decision: GrantDecision,
    /// Why the request was refused (required for refusals).
    #[serde(default)]
    pub refusal_reason: Option<String>,
}

/// A change to a grant: narrower or wider scopes, an earlier or later end date.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantChange {
    /// The new scopes (at least one).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// The new last day, `YYYY-MM-DD`.
    #[serde(default)]
    pub ends_on: Option<String>,
}

/// Why staff revoke a grant (recorded as a code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// The patient asked.
    PatientRequest,
    /// The proxy asked.
    ProxyRequest,
    /// The relationship has ended.
    RelationshipEnded,
    /// A safeguarding concern.
    Safeguarding,
    /// The legal basis no longer applies.
    LegalBasisEnded,
    /// Anything else.
    Other,
}

impl RevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::PatientRequest => "patient_request",
            Self::ProxyRequest => "proxy_request",
            Self::RelationshipEnded => "relationship_ended",
            Self::Safeguarding => "safeguarding",
            Self::LegalBasisEnded => "legal_basis_ended",
            Self::Other => "other",
        }
    }
}

/// The proxy's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProxyName {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
}

/// A grant (or refused request) as staff and patients see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Grant {
    /// The grant.
    pub id: Uuid,
    /// The patient acted for.
    pub patient_id: Uuid,
    /// The proxy, when a patient of the practice.
    pub proxy_patient_id: Option<Uuid>,
    /// The proxy, when a carer.
    pub proxy_carer_id: Option<Uuid>,
    /// The proxy's name.
    pub proxy_name: Option<ProxyName>,
    /// "parent", "carer", …
    pub relationship: String,
    /// active, suspended, revoked, refused or expired.
    pub status: String,
    /// What the grant covers.
    pub scopes: Vec<Scope>,
    /// The legal basis code.
    pub legal_basis: String,
    /// First day.
    pub starts_on: NaiveDate,
    /// Last day (none only as a recorded exception).
    pub ends_on: Option<NaiveDate>,
    /// Whether an open end is the recorded exception.
    pub no_end_date_exception: bool,
    /// First entered date the detailed and document scopes show (absent: `starts_on`).
    pub record_access_from: Option<NaiveDate>,
    /// When it was decided.
    pub decided_at: DateTime<Utc>,
    /// Why it is suspended (`age_review`, `age_16`).
    pub suspended_reason: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it: `staff`, `patient` or `system`.
    pub revoked_by: Option<String>,
}

fn status_code(status: GrantStatus) -> &'static str {
    match status {
        GrantStatus::Active => "active",
        GrantStatus::Suspended => "suspended",
        GrantStatus::Revoked => "revoked",
        GrantStatus::Refused => "refused",
        GrantStatus::Expired => "expired",
    }
}

fn basis_code(basis: LegalBasis) -> &'static str {
    match basis {
        LegalBasis::PatientConsent => "patient_consent",
        LegalBasis::ParentalResponsibility => "parental_responsibility",
        LegalBasis::LastingPowerOfAttorney => "lasting_power_of_attorney",
        LegalBasis::CourtAppointedDeputy => "court_appointed_deputy",
        LegalBasis::BestInterests => "best_interests",
    }
}

fn parse_basis(code: &str) -> Option<LegalBasis> {
    [
        LegalBasis::PatientConsent,
        LegalBasis::ParentalResponsibility,
        LegalBasis::LastingPowerOfAttorney,
        LegalBasis::CourtAppointedDeputy,
        LegalBasis::BestInterests,
    ]
    .into_iter()
    .find(|basis| basis_code(*basis) == code.trim())
}

fn scope_codes(scopes: &[Scope]) -> Vec<&'static str> {
    scopes.iter().map(|s| s.as_str()).collect()
}

/// The patient, if they belong to the practice.
async fn practice_patient(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    patient_id: Uuid,
) -> Result<Option<patients::Model>, DbErr> {
    Ok(patients::Entity::find_by_id(patient_id)
        .one(db)
        .await?
        .filter(|p| p.practice_id == practice_id))
}

async fn proxy_name(
    db: &impl ConnectionTrait,
    grant: &proxy_grants::Model,
) -> Result<Option<ProxyName>, DbErr> {
    if let Some(id) = grant.proxy_patient_id
        && let Some(p) = patients::Entity::find_by_id(id).one(db).await?
    {
        return Ok(Some(ProxyName {
            given_name: p.given_name,
            family_name: p.family_name,
        }));
    }
    if let Some(id) = grant.proxy_carer_id
        && let Some(c) = carers::Entity::find_by_id(id).one(db).await?
    {
        return Ok(Some(ProxyName {
            given_name: c.given_name,
            family_name: c.family_name,
        }));
    }
    Ok(None)
}

async fn view(db: &impl ConnectionTrait, grant: proxy_grants::Model) -> Result<Grant, DbErr> {
    let proxy_name = proxy_name(db, &grant).await?;
    Ok(Grant {
        id: grant.id,
        patient_id: grant.patient_id,
        proxy_patient_id: grant.proxy_patient_id,
        proxy_carer_id: grant.proxy_carer_id,
        proxy_name,
        scopes: Scope::of_grant(&grant),
        relationship: grant.relationship,
        status: status_code(grant.status).to_owned(),
        legal_basis: basis_code(grant.legal_basis).to_owned(),
        starts_on: grant.starts_on,
        ends_on: grant.ends_on,
        no_end_date_exception: grant.no_end_date_exception,
        record_access_from: grant.record_access_from,
        decided_at: grant.decided_at,
        suspended_reason: grant.suspended_reason,
        revoked_at: grant.revoked_at,
        revoked_by: grant.revoked_by,
    })
}

/// Proxy access to a patient started, changed or ended: both sides hear of it (content-free)
/// and every section is marked dirty, so sync rebuilds the proxy's documents.
async fn access_changed(
    db: &impl ConnectionTrait,
    grant: &proxy_grants::Model,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    notify_both_sides(db, grant, CHANGED_KIND, now).await?;
    for section in SECTIONS {
        outbox::mark_dirty(
            db,
            grant.practice_id,
            grant.patient_id,
            section,
            DIRTY_REASON,
            now,
        )
        .await?;
    }
    Ok(())
}
