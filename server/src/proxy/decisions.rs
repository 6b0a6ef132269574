//! The practice's side of proxy access: a request validated, the decision recorded (grant or
//! refusal), a grant narrowed, extended, reviewed or revoked by staff.

use super::{
    Decider, Grant, GrantChange, GrantDecision, GrantRequest, MAX_NAME_CHARS,
    MAX_REFUSAL_REASON_CHARS, MAX_RELATIONSHIP_CHARS, ProxyRequest, RevokeReason, access_changed,
    basis_code, parse_basis, practice_patient, require_admin, scope_codes, status_code, view,
};
use crate::access::Scope;
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::proxy_grants::{GrantStatus, LegalBasis};
use crate::db::entities::{carers, patients, proxy_grants};
use crate::error::{AppError, ErrorCode};
use crate::idempotent::{self, IdempotentCall};
use crate::validate::{Invalid, Validator, age_on, parse_date, parse_date_of_birth};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Known, de-duplicated, non-empty scopes; every unknown one is reported by index.
fn check_scopes(validator: &mut Validator, field: &str, names: &[String]) -> Option<Vec<Scope>> {
    if names.is_empty() {
        validator.check(
            field,
            Err::<(), _>(Invalid::new("required", "at least one scope is required")),
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
                    Err::<(), _>(Invalid::new("unknown_scope", "not a proxy scope")),
                );
            }
        }
    }
    ok.then_some(scopes)
}

fn required_text(value: Option<&str>, max: usize) -> Result<String, Invalid> {
    let value = value.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(Invalid::new("required", "a value is required"));
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
    record_access_from: Option<NaiveDate>,
    refusal_reason: Option<String>,
}

fn validate(request: &GrantRequest, today: NaiveDate) -> Result<ValidRequest, AppError> {
    let mut v = Validator::new();
    let proxy = match &request.proxy {
        ProxyRequest::Patient { patient_id } if *patient_id == request.patient_id => {
            v.check(
                "proxy.patient_id",
                Err::<(), _>(Invalid::new(
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
            None => Err(Invalid::new("required", "a legal basis is required")),
            Some(code) => parse_basis(code).ok_or_else(|| {
                Invalid::new(
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
            .and_then(|d| d.ok_or_else(|| Invalid::new("required", "a start date is required"))),
    );
    let ends_on = v
        .check("ends_on", optional_date(request.ends_on.as_deref()))
        .flatten();
    match (starts_on, ends_on) {
        (Some(start), Some(end)) if end < start => {
            v.check(
                "ends_on",
                Err::<(), _>(Invalid::new(
                    "ends_before_start",
                    "the end is before the start",
                )),
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
                Err::<(), _>(Invalid::new(
                    "required",
                    "an end date is required unless no_end_date_exception is set",
                )),
            );
        }
        _ => {}
    }
    let record_access_from = v
        .check(
            "record_access_from",
            optional_date(request.record_access_from.as_deref()),
        )
        .flatten();
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
                record_access_from,
                refusal_reason,
            })
        }
        _ => Err(AppError::new(ErrorCode::ValidationFailed)),
    }
}
/// Records a staff decision on a proxy request: a grant (status `active`) or a refusal (status
/// `refused`), with its audit event. A carer proxy is created with it. Admins only; a patient
/// of another practice is not found.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn decide(
    db: &DatabaseConnection,
    decider: &Decider,
    request: &GrantRequest,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
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
                    Invalid::new("unknown_patient", "not a patient of this practice"),
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
        record_access_from: Set(valid.record_access_from),
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
    idempotent::store(call, &txn, 201, &answer).await?;
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
pub(super) async fn update_if_status(
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
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn change(
    db: &DatabaseConnection,
    decider: &Decider,
    grant_id: Uuid,
    body: &GrantChange,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
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
            Invalid::new("ends_before_start", "the end is before the start"),
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
    idempotent::store(call, &txn, 200, &answer).await?;
    txn.commit().await?;
    Ok(answer)
}

/// Revokes a grant: `revoked_by` is `staff` and the reason code is audited. Admins only.
/// Revoking a grant already revoked answers its state and writes nothing.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn revoke_by_staff(
    db: &DatabaseConnection,
    decider: &Decider,
    grant_id: Uuid,
    reason: RevokeReason,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
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
    idempotent::store(call, &txn, 200, &answer).await?;
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
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn review(
    db: &DatabaseConnection,
    decider: &Decider,
    grant_id: Uuid,
    body: &GrantReview,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
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
    idempotent::store(call, &txn, 200, &answer).await?;
    txn.commit().await?;
    Ok(answer)
}

pub(super) async fn revoke(
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
