//! Proxy access (DOMAIN.md "Proxy access", NHS England DAPB3051): the practice's grant
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

use crate::access::{Scope, Viewer, slice, viewer};
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{self, ActorKind, Outcome};
use crate::db::entities::proxy_grants::{self, GrantStatus, LegalBasis};
use crate::db::entities::staff::StaffRole;
use crate::db::entities::{accounts, carers, patients, practices};
use crate::error::{AppError, ErrorCode};
use crate::record::outbox;
use crate::settings::PracticeSettings;
use crate::validate::{Invalid, Validator, age_on, parse_date, parse_date_of_birth};
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// Every section whose projection is rebuilt when a grant changes.
pub const SECTIONS: [&str; 7] = [
    "profile",
    "record",
    "results",
    "documents",
    "appointments",
    "medications",
    "messages",
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

fn invalid(code: &'static str, reason: &str) -> Invalid {
    Invalid {
        code,
        reason: reason.to_owned(),
    }
}

/// Known, de-duplicated, non-empty scopes; every unknown one is reported by index.
fn check_scopes(validator: &mut Validator, field: &str, names: &[String]) -> Option<Vec<Scope>> {
    if names.is_empty() {
        validator.check(
            field,
            Err::<(), _>(invalid("required", "at least one scope is required")),
        );
        return None;
    }
    let mut scopes = Vec::new();
    let mut ok = true;
    for (index, name) in names.iter().enumerate() {
        match Scope::ALL.into_iter().find(|s| s.as_str() == name.trim()) {
            Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Some(_) => {}
            None => {
                ok = false;
                validator.check(
                    format!("{field}[{index}]"),
                    Err::<(), _>(invalid("unknown_scope", "not a proxy scope")),
                );
            }
        }
    }
    ok.then_some(scopes)
}

fn required_text(value: Option<&str>, max: usize) -> Result<String, Invalid> {
    let value = value.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(invalid("required", "a value is required"));
    }
    if value.chars().count() > max {
        return Err(Invalid {
            code: "too_long",
            reason: format!("at most {max} characters"),
        });
    }
    Ok(value.to_owned())
}

fn optional_date(value: Option<&str>) -> Result<Option<NaiveDate>, Invalid> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => parse_date(text).map(Some),
    }
}

/// A validated proxy, for inserting.
enum ValidProxy {
    Patient(Uuid),
    Carer(String, String, NaiveDate),
}

/// A validated grant request.
struct ValidRequest {
    proxy: ValidProxy,
    relationship: String,
    scopes: Vec<Scope>,
    legal_basis: LegalBasis,
    starts_on: NaiveDate,
    ends_on: Option<NaiveDate>,
    refusal_reason: Option<String>,
}

fn validate(request: &GrantRequest, today: NaiveDate) -> Result<ValidRequest, AppError> {
    let mut v = Validator::new();
    let proxy = match &request.proxy {
        ProxyRequest::Patient { patient_id } if *patient_id == request.patient_id => {
            v.check(
                "proxy.patient_id",
                Err::<(), _>(invalid(
                    "same_as_patient",
                    "a patient cannot be their own proxy",
                )),
            );
            None
        }
        ProxyRequest::Patient { patient_id } => Some(ValidProxy::Patient(*patient_id)),
        ProxyRequest::Carer { carer } => {
            let given = v.check(
                "proxy.carer.given_name",
                required_text(Some(&carer.given_name), MAX_NAME_CHARS),
            );
            let family = v.check(
                "proxy.carer.family_name",
                required_text(Some(&carer.family_name), MAX_NAME_CHARS),
            );
            let born = v.check(
                "proxy.carer.date_of_birth",
                parse_date_of_birth(&carer.date_of_birth, today),
            );
            match (given, family, born) {
                (Some(g), Some(f), Some(b)) => Some(ValidProxy::Carer(g, f, b)),
                _ => None,
            }
        }
    };
    let relationship = v.check(
        "relationship",
        required_text(request.relationship.as_deref(), MAX_RELATIONSHIP_CHARS),
    );
    let scopes = check_scopes(&mut v, "scopes", &request.scopes);
    let legal_basis = v.check(
        "legal_basis",
        match request.legal_basis.as_deref() {
            None => Err(invalid("required", "a legal basis is required")),
            Some(code) => parse_basis(code).ok_or_else(|| {
                invalid(
                    "unknown_legal_basis",
                    "patient_consent, parental_responsibility, lasting_power_of_attorney, \
                     court_appointed_deputy or best_interests",
                )
            }),
        },
    );
    let starts_on = v.check(
        "starts_on",
        optional_date(request.starts_on.as_deref())
            .and_then(|d| d.ok_or_else(|| invalid("required", "a start date is required"))),
    );
    let ends_on = v
        .check("ends_on", optional_date(request.ends_on.as_deref()))
        .flatten();
    match (starts_on, ends_on) {
        (Some(start), Some(end)) if end < start => {
            v.check(
                "ends_on",
                Err::<(), _>(invalid("ends_before_start", "the end is before the start")),
            );
        }
        (_, None)
            if !request.no_end_date_exception
                && request
                    .ends_on
                    .as_deref()
                    .is_none_or(|t| t.trim().is_empty()) =>
        {
            v.check(
                "ends_on",
                Err::<(), _>(invalid(
                    "required",
                    "an end date is required unless no_end_date_exception is set",
                )),
            );
        }
        _ => {}
    }
    let refusal_reason = match request.decision {
        GrantDecision::Refused => v.check(
            "refusal_reason",
            required_text(request.refusal_reason.as_deref(), MAX_REFUSAL_REASON_CHARS),
        ),
        GrantDecision::Granted => None,
    };
    v.finish()?;
    match (proxy, relationship, scopes, legal_basis, starts_on) {
        (Some(proxy), Some(relationship), Some(scopes), Some(legal_basis), Some(starts_on)) => {
            Ok(ValidRequest {
                proxy,
                relationship,
                scopes,
                legal_basis,
                starts_on,
                ends_on,
                refusal_reason,
            })
        }
        _ => Err(AppError::new(ErrorCode::ValidationFailed)),
    }
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
        outbox::mark_dirty(db, grant.patient_id, section, DIRTY_REASON, now).await?;
    }
    Ok(())
}

/// Records a staff decision on a proxy request: a grant (status `active`) or a refusal (status
/// `refused`), with its audit event. A carer proxy is created with it. Admins only; a patient
/// of another practice is not found.
pub async fn decide(
    db: &DatabaseConnection,
    decider: &Decider,
    request: &GrantRequest,
    now: DateTime<Utc>,
) -> Result<Grant, AppError> {
    require_admin(decider)?;
    let valid = validate(request, now.date_naive())?;
    let txn = crate::db::begin_write(db).await?;
    practice_patient(&txn, decider.practice_id, request.patient_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let (proxy_patient_id, proxy_carer_id) = match valid.proxy {
        ValidProxy::Patient(id) => {
            if practice_patient(&txn, decider.practice_id, id)
                .await?
                .is_none()
            {
                return Err(AppError::invalid_field(
                    "proxy.patient_id",
                    invalid("unknown_patient", "not a patient of this practice"),
                ));
            }
            (Some(id), None)
        }
        ValidProxy::Carer(given_name, family_name, date_of_birth) => {
            let carer = carers::ActiveModel {
                id: Set(Uuid::new_v4()),
                practice_id: Set(decider.practice_id),
                given_name: Set(given_name),
                family_name: Set(family_name),
                date_of_birth: Set(date_of_birth),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
            (None, Some(carer.id))
        }
    };
    let granted = request.decision == GrantDecision::Granted;
    let grant = proxy_grants::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(decider.practice_id),
        patient_id: Set(request.patient_id),
        proxy_patient_id: Set(proxy_patient_id),
        proxy_carer_id: Set(proxy_carer_id),
        relationship: Set(valid.relationship),
        status: Set(if granted {
            GrantStatus::Active
        } else {
            GrantStatus::Refused
        }),
        scopes: Set(scope_codes(&valid.scopes).join(",")),
        legal_basis: Set(valid.legal_basis),
        decided_by_staff_id: Set(Some(decider.staff_id)),
        decided_at: Set(now),
        starts_on: Set(valid.starts_on),
        ends_on: Set(valid.ends_on),
        no_end_date_exception: Set(valid.ends_on.is_none()),
        young_person_consent_at: Set(None),
        suspended_at: Set(None),
        suspended_reason: Set(None),
        revoked_at: Set(None),
        revoked_by: Set(None),
        refusal_reason: Set(valid.refusal_reason),
        last_used_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    AuditEvent::new(
        if granted {
            "proxy.grant"
        } else {
            "proxy.refuse"
        },
        ActorKind::Staff,
        Outcome::Success,
    )
    .actor(decider.staff_id)
    .practice(decider.practice_id)
    .acting_for(grant.patient_id)
    .target("proxy_grant", grant.id)
    .detail(serde_json::json!({
        "scopes": scope_codes(&valid.scopes),
        "legal_basis": basis_code(valid.legal_basis),
        "proxy_patient_id": proxy_patient_id,
        "proxy_carer_id": proxy_carer_id,
        "open_ended": valid.ends_on.is_none(),
    }))
    .record(&txn, now)
    .await?;
    if granted {
        access_changed(&txn, &grant, now).await?;
    }
    let answer = view(&txn, grant).await?;
    txn.commit().await?;
    Ok(answer)
}

/// Every grant and refused request for a patient of the staff member's practice, newest first.
/// Any staff role may view.
pub async fn list_for_practice(
    db: &DatabaseConnection,
    practice_id: Uuid,
    patient_id: Uuid,
) -> Result<Vec<Grant>, AppError> {
    practice_patient(db, practice_id, patient_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let grants = proxy_grants::Entity::find()
        .filter(proxy_grants::Column::PatientId.eq(patient_id))
        .filter(proxy_grants::Column::PracticeId.eq(practice_id))
        .order_by_desc(proxy_grants::Column::DecidedAt)
        .order_by_asc(proxy_grants::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(grants.len());
    for grant in grants {
        out.push(view(db, grant).await?);
    }
    Ok(out)
}

/// A grant of the practice, or 404.
async fn practice_grant(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    grant_id: Uuid,
) -> Result<proxy_grants::Model, AppError> {
    proxy_grants::Entity::find_by_id(grant_id)
        .one(db)
        .await?
        .filter(|g| g.practice_id == practice_id)
        .ok_or_else(AppError::not_found)
}

fn require_in_force(grant: &proxy_grants::Model) -> Result<(), AppError> {
    match grant.status {
        GrantStatus::Active | GrantStatus::Suspended => Ok(()),
        other => Err(AppError::new(ErrorCode::GrantNotActive)
            .with_detail(format!("the grant is {}", status_code(other)))),
    }
}

/// Writes `update` only while the grant still has the status read: a concurrent change makes
/// this a conflict rather than a lost update.
async fn update_if_status(
    db: &impl ConnectionTrait,
    grant: &proxy_grants::Model,
    update: proxy_grants::ActiveModel,
) -> Result<bool, DbErr> {
    let result = proxy_grants::Entity::update_many()
        .set(update)
        .filter(proxy_grants::Column::Id.eq(grant.id))
        .filter(proxy_grants::Column::Status.eq(grant.status))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Narrows or widens a grant's scopes and moves its end date; the audit event lists the old and
/// new scope codes. Admins only; only active or suspended grants change.
pub async fn change(
    db: &DatabaseConnection,
    decider: &Decider,
    grant_id: Uuid,
    body: &GrantChange,
    now: DateTime<Utc>,
) -> Result<Grant, AppError> {
    require_admin(decider)?;
    let mut v = Validator::new();
    let scopes = match &body.scopes {
        Some(names) => check_scopes(&mut v, "scopes", names),
        None => None,
    };
    let ends_on = v
        .check("ends_on", optional_date(body.ends_on.as_deref()))
        .flatten();
    v.finish()?;
    let txn = crate::db::begin_write(db).await?;
    let grant = practice_grant(&txn, decider.practice_id, grant_id).await?;
    require_in_force(&grant)?;
    if let Some(end) = ends_on
        && end < grant.starts_on
    {
        return Err(AppError::invalid_field(
            "ends_on",
            invalid("ends_before_start", "the end is before the start"),
        ));
    }
    let old_scopes = Scope::of_grant(&grant);
    let new_scopes = scopes.clone().unwrap_or_else(|| old_scopes.clone());
    let new_end = ends_on.or(grant.ends_on);
    let update = proxy_grants::ActiveModel {
        scopes: Set(scope_codes(&new_scopes).join(",")),
        ends_on: Set(new_end),
        no_end_date_exception: Set(new_end.is_none()),
        updated_at: Set(now),
        ..Default::default()
    };
    if !update_if_status(&txn, &grant, update).await? {
        return Err(AppError::new(ErrorCode::Conflict));
    }
    AuditEvent::new("proxy.change", ActorKind::Staff, Outcome::Success)
        .actor(decider.staff_id)
        .practice(decider.practice_id)
        .acting_for(grant.patient_id)
        .target("proxy_grant", grant.id)
        .detail(serde_json::json!({
            "from_scopes": scope_codes(&old_scopes),
            "to_scopes": scope_codes(&new_scopes),
            "from_ends_on": grant.ends_on,
            "to_ends_on": new_end,
        }))
        .record(&txn, now)
        .await?;
    access_changed(&txn, &grant, now).await?;
    let updated = practice_grant(&txn, decider.practice_id, grant_id).await?;
    let answer = view(&txn, updated).await?;
    txn.commit().await?;
    Ok(answer)
}

/// Revokes a grant: `revoked_by` is `staff` and the reason code is audited. Admins only.
/// Revoking a grant already revoked answers its state and writes nothing.
pub async fn revoke_by_staff(
    db: &DatabaseConnection,
    decider: &Decider,
    grant_id: Uuid,
    reason: RevokeReason,
    now: DateTime<Utc>,
) -> Result<Grant, AppError> {
    require_admin(decider)?;
    let txn = crate::db::begin_write(db).await?;
    let grant = practice_grant(&txn, decider.practice_id, grant_id).await?;
    if grant.status == GrantStatus::Revoked {
        let answer = view(&txn, grant).await?;
        txn.rollback().await?;
        return Ok(answer);
    }
    require_in_force(&grant)?;
    revoke(
        &txn,
        &grant,
        "staff",
        reason.as_str(),
        ActorKind::Staff,
        Some(decider.staff_id),
        now,
    )
    .await?;
    let updated = practice_grant(&txn, decider.practice_id, grant_id).await?;
    let answer = view(&txn, updated).await?;
    txn.commit().await?;
    Ok(answer)
}

/// The practice's review of a grant ([`review`]).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantReview {
    /// The young person has told the practice they consent to this proxy access continuing
    /// (recorded with the time; needed from their 16th birthday).
    #[serde(default)]
    pub young_person_consent: bool,
}

/// The practice reviews a grant: records the young person's consent when given, and lifts a
/// suspension of the time rules (the age review at 11–13, or the one at 16). Lifting is a new
/// decision taken with the patient's age in view, so `decided_at` moves to now and the age
/// rule that suspended the grant does not apply again; from the patient's 16th birthday it
/// needs their consent (`young_person_consent_required`). Narrow the scopes first with
/// [`change`] if the review grants less. Admins only; only active or suspended grants.
pub async fn review(
    db: &DatabaseConnection,
    decider: &Decider,
    grant_id: Uuid,
    body: &GrantReview,
    now: DateTime<Utc>,
) -> Result<Grant, AppError> {
    require_admin(decider)?;
    let txn = crate::db::begin_write(db).await?;
    let grant = practice_grant(&txn, decider.practice_id, grant_id).await?;
    require_in_force(&grant)?;
    let patient = patients::Entity::find_by_id(grant.patient_id)
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    let consent_at = match grant.young_person_consent_at {
        Some(at) => Some(at),
        None => body.young_person_consent.then_some(now),
    };
    let reinstate = grant.status == GrantStatus::Suspended;
    if reinstate && consent_at.is_none() && age_on(patient.date_of_birth, now.date_naive()) >= 16 {
        return Err(AppError::new(ErrorCode::YoungPersonConsentRequired));
    }
    let mut update = proxy_grants::ActiveModel {
        young_person_consent_at: Set(consent_at),
        updated_at: Set(now),
        ..Default::default()
    };
    if reinstate {
        update.status = Set(GrantStatus::Active);
        update.suspended_at = Set(None);
        update.suspended_reason = Set(None);
        update.decided_at = Set(now);
        update.decided_by_staff_id = Set(Some(decider.staff_id));
    }
    if !update_if_status(&txn, &grant, update).await? {
        return Err(AppError::new(ErrorCode::Conflict));
    }
    AuditEvent::new("proxy.review", ActorKind::Staff, Outcome::Success)
        .actor(decider.staff_id)
        .practice(decider.practice_id)
        .acting_for(grant.patient_id)
        .target("proxy_grant", grant.id)
        .detail(serde_json::json!({
            "young_person_consent": consent_at.is_some(),
            "reinstated": reinstate,
            "suspended_reason": grant.suspended_reason,
        }))
        .record(&txn, now)
        .await?;
    if reinstate {
        access_changed(&txn, &grant, now).await?;
    }
    let updated = practice_grant(&txn, decider.practice_id, grant_id).await?;
    let answer = view(&txn, updated).await?;
    txn.commit().await?;
    Ok(answer)
}

async fn revoke(
    db: &impl ConnectionTrait,
    grant: &proxy_grants::Model,
    by: &str,
    reason: &str,
    actor_kind: ActorKind,
    actor: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let update = proxy_grants::ActiveModel {
        status: Set(GrantStatus::Revoked),
        revoked_at: Set(Some(now)),
        revoked_by: Set(Some(by.to_owned())),
        updated_at: Set(now),
        ..Default::default()
    };
    if !update_if_status(db, grant, update).await? {
        return Err(AppError::new(ErrorCode::Conflict));
    }
    let mut event = AuditEvent::new("proxy.revoke", actor_kind, Outcome::Success)
        .practice(grant.practice_id)
        .acting_for(grant.patient_id)
        .target("proxy_grant", grant.id)
        .detail(serde_json::json!({
            "revoked_by": by,
            "reason": reason,
            "from": status_code(grant.status),
        }));
    if let Some(actor) = actor {
        event = event.actor(actor);
    }
    event.record(db, now).await?;
    access_changed(db, grant, now).await?;
    Ok(())
}

/// The patient's own account for `patient_id`, or 404 (a proxy, too, gets 404).
async fn own_patient(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    patient_id: Uuid,
    today: NaiveDate,
) -> Result<patients::Model, AppError> {
    let facts = slice::facts(db, patient_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    match viewer::for_account(db, account_id, &facts, today).await? {
        Some(Viewer::Patient { .. }) => Ok(facts.patient),
        _ => Err(AppError::not_found()),
    }
}

/// The patient's proxies: each grant in force today, and each suspended one, with what it
/// covers. Only the patient themself may ask; anyone else gets 404.
pub async fn list_for_patient(
    db: &DatabaseConnection,
    account_id: Uuid,
    patient_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Grant>, AppError> {
    let today = now.date_naive();
    let patient = own_patient(db, account_id, patient_id, today).await?;
    let grants = proxy_grants::Entity::find()
        .filter(proxy_grants::Column::PatientId.eq(patient.id))
        .filter(proxy_grants::Column::PracticeId.eq(patient.practice_id))
        .filter(proxy_grants::Column::Status.is_in([GrantStatus::Active, GrantStatus::Suspended]))
        .order_by_asc(proxy_grants::Column::DecidedAt)
        .order_by_asc(proxy_grants::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for grant in grants {
        let in_date = grant.starts_on <= today && grant.ends_on.is_none_or(|end| today <= end);
        if grant.status == GrantStatus::Suspended || in_date {
            out.push(view(db, grant).await?);
        }
    }
    Ok(out)
}

/// The patient revokes one of their proxies at once (`revoked_by` `patient`). They need
/// capacity: 16 or over, or recorded by the practice as competent; otherwise
/// `capacity_required`. A grant already revoked is a replay; any other patient's grant is 404.
pub async fn revoke_by_patient(
    db: &DatabaseConnection,
    account_id: Uuid,
    patient_id: Uuid,
    grant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let today = now.date_naive();
    let txn = crate::db::begin_write(db).await?;
    let patient = own_patient(&txn, account_id, patient_id, today).await?;
    let grant = proxy_grants::Entity::find_by_id(grant_id)
        .one(&txn)
        .await?
        .filter(|g| g.patient_id == patient.id)
        .ok_or_else(AppError::not_found)?;
    if !(age_on(patient.date_of_birth, today) >= 16 || patient.competent) {
        return Err(AppError::new(ErrorCode::CapacityRequired));
    }
    match grant.status {
        GrantStatus::Revoked => {
            txn.rollback().await?;
            return Ok(());
        }
        GrantStatus::Active | GrantStatus::Suspended => {}
        _ => return Err(AppError::not_found()),
    }
    revoke(
        &txn,
        &grant,
        "patient",
        "patient_request",
        ActorKind::Patient,
        Some(account_id),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Records that a proxy used their grant now, for the rule that removes grants unused for
/// years. Written at most once a day per grant, so a busy proxy costs one small update a day.
pub async fn record_use(
    db: &impl ConnectionTrait,
    grant: &proxy_grants::Model,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if grant
        .last_used_at
        .is_some_and(|used| now - used < Duration::days(1))
    {
        return Ok(());
    }
    proxy_grants::Entity::update_many()
        .col_expr(proxy_grants::Column::LastUsedAt, Expr::value(now))
        .filter(proxy_grants::Column::Id.eq(grant.id))
        .exec(db)
        .await?;
    Ok(())
}

/// What one run of [`sweep`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Parental record access suspended for review at the practice's review age.
    pub suspended_age_review: usize,
    /// Grants suspended at the patient's 16th birthday without their consent.
    pub suspended_age_16: usize,
    /// Grants past their end date.
    pub expired: usize,
    /// Grants removed after years unused.
    pub revoked_unused: usize,
    /// Grants whose two sides were warned of an end or suspension.
    pub warned: usize,
}

/// The date a person reaches `years` (29 February birthdays fall on 1 March, as in
/// [`age_on`]).
fn birthday(date_of_birth: NaiveDate, years: u32) -> NaiveDate {
    let year = date_of_birth.year() + i32::try_from(years).unwrap_or(0);
    NaiveDate::from_ymd_opt(year, date_of_birth.month(), date_of_birth.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))
        .unwrap_or(NaiveDate::MAX)
}

fn has_record_scope(grant: &proxy_grants::Model) -> bool {
    Scope::of_grant(grant).iter().any(|s| {
        matches!(
            s,
            Scope::RecordSummary | Scope::RecordDetailed | Scope::Documents
        )
    })
}

/// The next age suspension that applies to a grant, if any: the date and reason code. A rule
/// whose birthday came before the decision was decided with the age in view and does not apply.
fn age_suspension(
    grant: &proxy_grants::Model,
    patient: &patients::Model,
    settings: &PracticeSettings,
) -> Option<(NaiveDate, &'static str)> {
    let decided = grant.decided_at.date_naive();
    let sixteen = birthday(patient.date_of_birth, 16);
    let at_16 = (grant.young_person_consent_at.is_none() && decided < sixteen)
        .then_some((sixteen, "age_16"));
    let review = birthday(
        patient.date_of_birth,
        settings.parental_record_access_review_age,
    );
    let at_review = (grant.legal_basis == LegalBasis::ParentalResponsibility
        && has_record_scope(grant)
        && decided < review
        && review < sixteen)
        .then_some((review, "age_review"));
    [at_review, at_16]
        .into_iter()
        .flatten()
        .min_by_key(|(on, _)| *on)
}

/// What the sweep does to one grant today.
enum Effect {
    Suspend(&'static str),
    Expire,
    RevokeUnused,
    Warn(NaiveDate),
}

fn effect(
    grant: &proxy_grants::Model,
    patient: &patients::Model,
    settings: &PracticeSettings,
    today: NaiveDate,
) -> Option<Effect> {
    if grant.ends_on.is_some_and(|end| end < today) {
        return Some(Effect::Expire);
    }
    let last_used = grant.last_used_at.unwrap_or(grant.decided_at).date_naive();
    let unused_until = last_used
        .checked_add_months(Months::new(settings.proxy_unused_removal_years * 12))
        .unwrap_or(NaiveDate::MAX);
    if today >= unused_until {
        return Some(Effect::RevokeUnused);
    }
    if grant.status != GrantStatus::Active {
        return None;
    }
    let suspension = age_suspension(grant, patient, settings);
    if let Some((on, reason)) = suspension
        && today >= on
    {
        return Some(Effect::Suspend(reason));
    }
    // The next end: the day after the last day, or the age suspension, whichever is first.
    let ending = [
        grant.ends_on.and_then(|end| end.succ_opt()),
        suspension.map(|(on, _)| on),
    ]
    .into_iter()
    .flatten()
    .min()?;
    let warn_from = ending - Duration::days(i64::from(settings.proxy_warning_days));
    (today >= warn_from && today < ending).then_some(Effect::Warn(ending))
}

/// The accounts of both sides of a grant: the patient's own, and the proxy's.
async fn both_sides(
    db: &impl ConnectionTrait,
    grant: &proxy_grants::Model,
) -> Result<Vec<Uuid>, DbErr> {
    let mut condition =
        sea_orm::Condition::any().add(accounts::Column::PatientId.eq(grant.patient_id));
    if let Some(id) = grant.proxy_patient_id {
        condition = condition.add(accounts::Column::PatientId.eq(id));
    }
    if let Some(id) = grant.proxy_carer_id {
        condition = condition.add(accounts::Column::CarerId.eq(id));
    }
    Ok(accounts::Entity::find()
        .filter(condition)
        .all(db)
        .await?
        .into_iter()
        .map(|a| a.id)
        .collect())
}

/// Queues a content-free notification of `kind` for both sides of a grant.
async fn notify_both_sides(
    db: &impl ConnectionTrait,
    grant: &proxy_grants::Model,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for account in both_sides(db, grant).await? {
        outbox::queue(db, account, grant.patient_id, kind, "proxy", now).await?;
    }
    Ok(())
}

/// Whether both sides were already warned of the end falling on `ending`.
async fn already_warned(
    db: &impl ConnectionTrait,
    grant_id: Uuid,
    ending: NaiveDate,
) -> Result<bool, DbErr> {
    let events = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq(WARN_ACTION))
        .filter(audit_events::Column::TargetKind.eq("proxy_grant"))
        .filter(audit_events::Column::TargetId.eq(grant_id.to_string()))
        .all(db)
        .await?;
    let ending = ending.to_string();
    Ok(events
        .iter()
        .any(|e| e.detail.get("ending_on").and_then(|v| v.as_str()) == Some(ending.as_str())))
}

/// Applies the time rules of proxy access as of `now`, one transaction per grant changed:
///
/// 1. parental-responsibility grants with record scopes are suspended (`age_review`) on the
///    child's birthday at the practice's `parental_record_access_review_age` (11 by default);
/// 2. every grant decided before the patient turned 16 is suspended (`age_16`) on their 16th
///    birthday unless the young person's consent is recorded;
/// 3. grants past their end date expire;
/// 4. grants unused (since last use, else since the decision) for
///    `proxy_unused_removal_years` are revoked (`revoked_by` `system`, reason `unused`);
/// 5. both sides are warned (`proxy_access_ending`) `proxy_warning_days` before an end date or
///    an age suspension, once per grant and end (the `proxy.warn` audit event is the marker).
///
/// Running it twice for the same day writes nothing new. [`crate::jobs`] runs it on every
/// node's schedule, and `gp-online proxy sweep` runs it once.
pub async fn sweep(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<SweepReport, DbErr> {
    let today = now.date_naive();
    let mut report = SweepReport::default();
    let grants = proxy_grants::Entity::find()
        .filter(proxy_grants::Column::Status.is_in([GrantStatus::Active, GrantStatus::Suspended]))
        .order_by_asc(proxy_grants::Column::Id)
        .all(db)
        .await?;
    let mut settings_of: HashMap<Uuid, PracticeSettings> = HashMap::new();
    for grant in grants {
        let Some(patient) = patients::Entity::find_by_id(grant.patient_id)
            .one(db)
            .await?
        else {
            continue;
        };
        let settings = match settings_of.get(&grant.practice_id) {
            Some(settings) => settings.clone(),
            None => {
                let settings = practices::Entity::find_by_id(grant.practice_id)
                    .one(db)
                    .await?
                    .and_then(|p| PracticeSettings::from_json(&p.settings).ok())
                    .unwrap_or_default();
                settings_of.insert(grant.practice_id, settings.clone());
                settings
            }
        };
        let Some(effect) = effect(&grant, &patient, &settings, today) else {
            continue;
        };
        let txn = crate::db::begin_write(db).await?;
        let done = apply(&txn, &grant, &effect, now).await?;
        txn.commit().await?;
        if done {
            match effect {
                Effect::Suspend("age_16") => report.suspended_age_16 += 1,
                Effect::Suspend(_) => report.suspended_age_review += 1,
                Effect::Expire => report.expired += 1,
                Effect::RevokeUnused => report.revoked_unused += 1,
                Effect::Warn(_) => report.warned += 1,
            }
        }
    }
    Ok(report)
}

/// Applies one effect; `false` when there was nothing to do (already warned, or the grant
/// changed meanwhile).
async fn apply(
    txn: &impl ConnectionTrait,
    grant: &proxy_grants::Model,
    effect: &Effect,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let system = |action: &'static str, detail: serde_json::Value| {
        AuditEvent::new(action, ActorKind::System, Outcome::Success)
            .practice(grant.practice_id)
            .acting_for(grant.patient_id)
            .target("proxy_grant", grant.id)
            .detail(detail)
    };
    let (update, event) = match effect {
        Effect::Warn(ending) => {
            if already_warned(txn, grant.id, *ending).await? {
                return Ok(false);
            }
            notify_both_sides(txn, grant, WARNING_KIND, now).await?;
            system(WARN_ACTION, serde_json::json!({ "ending_on": ending }))
                .record(txn, now)
                .await?;
            return Ok(true);
        }
        Effect::Suspend(reason) => (
            proxy_grants::ActiveModel {
                status: Set(GrantStatus::Suspended),
                suspended_at: Set(Some(now)),
                suspended_reason: Set(Some((*reason).to_owned())),
                updated_at: Set(now),
                ..Default::default()
            },
            system("proxy.suspend", serde_json::json!({ "reason": reason })),
        ),
        Effect::Expire => (
            proxy_grants::ActiveModel {
                status: Set(GrantStatus::Expired),
                updated_at: Set(now),
                ..Default::default()
            },
            system(
                "proxy.expire",
                serde_json::json!({ "ends_on": grant.ends_on, "from": status_code(grant.status) }),
            ),
        ),
        Effect::RevokeUnused => (
            proxy_grants::ActiveModel {
                status: Set(GrantStatus::Revoked),
                revoked_at: Set(Some(now)),
                revoked_by: Set(Some("system".to_owned())),
                updated_at: Set(now),
                ..Default::default()
            },
            system(
                "proxy.revoke",
                serde_json::json!({
                    "revoked_by": "system",
                    "reason": "unused",
                    "from": status_code(grant.status),
                }),
            ),
        ),
    };
    if !update_if_status(txn, grant, update).await? {
        return Ok(false);
    }
    event.record(txn, now).await?;
    access_changed(txn, grant, now).await?;
    Ok(true)
}
