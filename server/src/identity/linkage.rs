//! Linkage details, as in the NHS IM1 patient APIs: after an identity check at the desk the
//! practice issues an Account ID, a Linkage Key and its ODS code. They expire (practice
//! setting, 90 days), are single use, lock after repeated failures (practice setting, 5), and
//! issuing new ones revokes the old. A recovery issue lets a patient who lost every device
//! register again, replacing their old passkeys.

use super::secrets;
use crate::access::StaffActor;
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::{carers, linkage_keys, patients, practices};
use crate::error::{AppError, ErrorCode};
use crate::settings::PracticeSettings;
use crate::validate::age_on;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde::Serialize;
use uuid::Uuid;

/// The person linkage details are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkageSubject {
    /// A patient of the practice.
    Patient(Uuid),
    /// A carer who is not a patient of the practice (a proxy).
    Carer(Uuid),
}

/// Freshly issued linkage details: the key is shown now and never again.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedLinkage {
    /// Account ID.
    pub account_id: String,
    /// Linkage Key (shown once).
    pub linkage_key: String,
    /// Practice ODS code.
    pub ods_code: String,
    /// When the details stop working.
    pub expires_at: DateTime<Utc>,
    /// Text to print and hand to the person.
    pub letter: String,
}

/// Issues linkage details for `subject` on a practice admin's behalf, in one transaction with
/// its audit event. A patient or carer of another practice is indistinguishable from none (404).
pub async fn issue_by_staff(
    db: &DatabaseConnection,
    staff: &StaffActor,
    subject: LinkageSubject,
    recovery: bool,
    now: DateTime<Utc>,
) -> Result<IssuedLinkage, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let known = match subject {
        LinkageSubject::Patient(id) => patients::Entity::find_by_id(id)
            .filter(patients::Column::PracticeId.eq(staff.practice_id))
            .one(&txn)
            .await?
            .is_some(),
        LinkageSubject::Carer(id) => carers::Entity::find_by_id(id)
            .filter(carers::Column::PracticeId.eq(staff.practice_id))
            .one(&txn)
            .await?
            .is_some(),
    };
    if !known {
        return Err(AppError::not_found());
    }
    let practice = practices::Entity::find_by_id(staff.practice_id)
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    let issued = issue(
        &txn,
        &practice,
        subject,
        recovery,
        Some(staff.staff_id),
        now,
    )
    .await?;
    let action = if recovery {
        "linkage.issue_recovery"
    } else {
        "linkage.issue"
    };
    let event = AuditEvent::new(action, ActorKind::Staff, Outcome::Success)
        .actor(staff.staff_id)
        .practice(staff.practice_id);
    match subject {
        LinkageSubject::Patient(id) => event.acting_for(id).target("patient", id),
        LinkageSubject::Carer(id) => event.target("carer", id),
    }
    .record(&txn, now)
    .await?;
    txn.commit().await?;
    Ok(issued)
}

/// Issues linkage details for `subject`, revoking any unused earlier ones.
pub async fn issue(
    db: &impl ConnectionTrait,
    practice: &practices::Model,
    subject: LinkageSubject,
    recovery: bool,
    issued_by: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<IssuedLinkage, AppError> {
    let settings = PracticeSettings::from_json(&practice.settings).map_err(AppError::internal)?;
    let (patient_id, carer_id) = match subject {
        LinkageSubject::Patient(id) => (Some(id), None),
        LinkageSubject::Carer(id) => (None, Some(id)),
    };
    let mut revoke = linkage_keys::Entity::update_many()
        .col_expr(linkage_keys::Column::RevokedAt, Expr::value(now))
        .filter(linkage_keys::Column::UsedAt.is_null())
        .filter(linkage_keys::Column::RevokedAt.is_null());
    revoke = match subject {
        LinkageSubject::Patient(id) => revoke.filter(linkage_keys::Column::PatientId.eq(id)),
        LinkageSubject::Carer(id) => revoke.filter(linkage_keys::Column::CarerId.eq(id)),
    };
    revoke.exec(db).await?;

    let account_id = secrets::typeable(2).replace('-', "");
    let linkage_key = secrets::typeable(3);
    let expires_at = now + Duration::days(i64::from(settings.linkage_key_valid_days));
    linkage_keys::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(practice.id),
        patient_id: Set(patient_id),
        carer_id: Set(carer_id),
        account_code: Set(account_id.clone()),
        key_hash: Set(secrets::hash(&linkage_key)),
        recovery: Set(recovery),
        failed_attempts: Set(0),
        expires_at: Set(expires_at),
        locked_at: Set(None),
        used_at: Set(None),
        revoked_at: Set(None),
        issued_by_staff_id: Set(issued_by),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    let letter = format!(
        "{practice}\n\nYour details for registering for online services\n\n\
         Account ID:   {account_id}\nLinkage Key:  {linkage_key}\nPractice ODS code: {ods}\n\n\
         Enter these in the app with your surname and date of birth before {expiry}.\n\
         Keep them private: anyone with them and your details could see your GP record.\n",
        practice = practice.name,
        ods = practice.ods_code,
        expiry = expires_at.format("%-d %B %Y"),
    );
    Ok(IssuedLinkage {
        account_id,
        linkage_key,
        ods_code: practice.ods_code.clone(),
        expires_at,
        letter,
    })
}

/// An Account ID as typed, in the one form both the lookup and the per-Account-ID rate limit
/// use: without whitespace or hyphens anywhere, upper case (issued IDs have neither), so the
/// same ID typed with spaces inside is the same ID to both.
pub fn normalise_account_id(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// What a person presents to register.
#[derive(Debug, Clone)]
pub struct LinkageClaim {
    /// Account ID.
    pub account_id: String,
    /// Linkage Key.
    pub linkage_key: String,
    /// Practice ODS code.
    pub ods_code: String,
    /// Surname.
    pub surname: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
}

/// The person behind verified linkage details.
#[derive(Debug, Clone)]
pub enum Person {
    /// A patient.
    Patient(patients::Model),
    /// A carer.
    Carer(carers::Model),
}

/// Linkage details that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedLinkage {
    /// The linkage row.
    pub linkage: linkage_keys::Model,
    /// The practice.
    pub practice: practices::Model,
    /// Whom it is for.
    pub person: Person,
}

/// Checks a claim, in the order IM1 reports failures. Wrong keys and wrong demographics count
/// as failed attempts; reaching the practice's limit locks the details.
pub async fn verify(
    db: &impl ConnectionTrait,
    claim: &LinkageClaim,
    now: DateTime<Utc>,
) -> Result<VerifiedLinkage, AppError> {
    let invalid = || AppError::new(ErrorCode::InvalidLinkageDetails);
    let practice = practices::Entity::find()
        .filter(practices::Column::OdsCode.eq(claim.ods_code.to_ascii_uppercase()))
        .one(db)
        .await?
        .ok_or_else(invalid)?;
    let linkage = linkage_keys::Entity::find()
        .filter(linkage_keys::Column::PracticeId.eq(practice.id))
        .filter(linkage_keys::Column::AccountCode.eq(normalise_account_id(&claim.account_id)))
        .one(db)
        .await?
        .ok_or_else(invalid)?;
    if !practice.live {
        return Err(AppError::new(ErrorCode::PracticeNotLive));
    }
    if linkage.locked_at.is_some() {
        return Err(AppError::new(ErrorCode::LinkageKeyLocked));
    }
    if linkage.revoked_at.is_some() {
        return Err(invalid());
    }
    // The key is checked before anything about its state is revealed, so a guess learns
    // nothing about whether the details were used or have expired.
    let settings = PracticeSettings::from_json(&practice.settings).map_err(AppError::internal)?;
    if secrets::hash(&secrets::normalise_typed(&claim.linkage_key)) != linkage.key_hash {
        return Err(failed_attempt(db, &linkage, &settings, invalid(), now).await?);
    }
    if linkage.used_at.is_some() {
        return Err(AppError::new(ErrorCode::AlreadyLinked));
    }
    if linkage.expires_at <= now {
        return Err(AppError::new(ErrorCode::LinkageKeyExpired));
    }
    let person = match (linkage.patient_id, linkage.carer_id) {
        (Some(id), _) => Person::Patient(
            patients::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or_else(invalid)?,
        ),
        (None, Some(id)) => Person::Carer(
            carers::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or_else(invalid)?,
        ),
        (None, None) => return Err(invalid()),
    };
    let (surname, date_of_birth) = match &person {
        Person::Patient(p) => (&p.family_name, p.date_of_birth),
        Person::Carer(c) => (&c.family_name, c.date_of_birth),
    };
    let same_surname = surname.trim().to_lowercase() == claim.surname.trim().to_lowercase();
    if !same_surname || date_of_birth != claim.date_of_birth {
        let mismatch = AppError::new(ErrorCode::NoPatientMatch);
        return Err(failed_attempt(db, &linkage, &settings, mismatch, now).await?);
    }
    if matches!(&person, Person::Patient(p) if p.archived_at.is_some()) {
        return Err(AppError::new(ErrorCode::PatientArchived));
    }
    let competent = matches!(&person, Person::Patient(p) if p.competent);
    if age_on(date_of_birth, now.date_naive()) < 16 && !competent {
        return Err(AppError::new(ErrorCode::UnderMinimumAge));
    }
    Ok(VerifiedLinkage {
        linkage,
        practice,
        person,
    })
}

/// Counts a failed attempt, locking at the limit, in one conditional update: an attempt counts
/// only while the details are unlocked and under the limit, so however many wrong attempts run
/// at once `failed_attempts` never passes the limit, and every attempt past it is answered
/// locked. Returns the error to report (locked when this attempt was the last allowed one, or
/// the details were locked meanwhile).
async fn failed_attempt(
    db: &impl ConnectionTrait,
    linkage: &linkage_keys::Model,
    settings: &PracticeSettings,
    error: AppError,
    now: DateTime<Utc>,
) -> Result<AppError, AppError> {
    let max = i32::try_from(settings.linkage_key_max_attempts).unwrap_or(i32::MAX);
    let counted = linkage_keys::Entity::update_many()
        .col_expr(
            linkage_keys::Column::FailedAttempts,
            Expr::col(linkage_keys::Column::FailedAttempts).add(1),
        )
        .col_expr(
            linkage_keys::Column::LockedAt,
            Expr::case(
                Expr::col(linkage_keys::Column::FailedAttempts)
                    .add(1)
                    .gte(max),
                Expr::value(now),
            )
            .finally(Expr::col(linkage_keys::Column::LockedAt))
            .into(),
        )
        .filter(linkage_keys::Column::Id.eq(linkage.id))
        .filter(linkage_keys::Column::LockedAt.is_null())
        .filter(linkage_keys::Column::FailedAttempts.lt(max))
        .exec(db)
        .await?;
    if counted.rows_affected == 0 {
        return Ok(AppError::new(ErrorCode::LinkageKeyLocked));
    }
    let locked = linkage_keys::Entity::find_by_id(linkage.id)
        .one(db)
        .await?
        .is_some_and(|l| l.locked_at.is_some());
    Ok(if locked {
        AppError::new(ErrorCode::LinkageKeyLocked)
    } else {
        error
    })
}
