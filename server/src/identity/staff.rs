//! Practice staff identity: an operator invites a staff member (`gp-online staff invite`),
//! which prints a one-time enrolment code; the staff member registers a passkey with it and
//! from then on signs in by passkey like everyone else, into a staff session scoped to their
//! practice and role.

use super::ceremonies::{CeremonyStart, PasskeyUser};
use super::passkeys::{Owner, store};
use super::sessions::{self, Subject, Tokens};
use super::{Identity, ceremonies, rejected, secrets};
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::ceremonies::CeremonyKind;
use crate::db::entities::staff::StaffRole;
use crate::db::entities::{practices, staff, staff_enrolments};
use crate::error::{AppError, ErrorCode};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential};

/// A staff invitation: the code is shown once.
#[derive(Debug, Clone, Serialize)]
pub struct Invitation {
    /// The new staff member.
    pub staff_id: Uuid,
    /// The one-time enrolment code.
    pub enrolment_code: String,
    /// When the code stops working.
    pub expires_at: DateTime<Utc>,
}

/// Creates a staff member of `practice_ods` (inactive until enrolled) and their enrolment code.
pub async fn invite(
    db: &impl ConnectionTrait,
    identity: &Identity,
    practice_ods: &str,
    role: StaffRole,
    display_name: &str,
    now: DateTime<Utc>,
) -> Result<Invitation, AppError> {
    let practice = practices::Entity::find()
        .filter(practices::Column::OdsCode.eq(practice_ods.to_ascii_uppercase()))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found().with_detail("no practice has this ODS code"))?;
    let staff_id = Uuid::new_v4();
    staff::ActiveModel {
        id: Set(staff_id),
        practice_id: Set(practice.id),
        display_name: Set(display_name.to_owned()),
        role: Set(role),
        job_title: Set(None),
        active: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    let enrolment_code = secrets::typeable(4);
    let expires_at = now + Duration::seconds(lifetime(identity.config.staff_enrolment_secs));
    staff_enrolments::ActiveModel {
        id: Set(Uuid::new_v4()),
        staff_id: Set(staff_id),
        code_hash: Set(secrets::hash(&enrolment_code)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    AuditEvent::new("staff.invite", ActorKind::System, Outcome::Success)
        .practice(practice.id)
        .target("staff", staff_id)
        .detail(serde_json::json!({"role": role}))
        .record(db, now)
        .await?;
    Ok(Invitation {
        staff_id,
        enrolment_code,
        expires_at,
    })
}

fn lifetime(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX / 1000)
}

#[derive(Debug, Serialize, Deserialize)]
struct Context {
    enrolment_id: Uuid,
    staff_id: Uuid,
    practice_id: Uuid,
}

/// Checks an enrolment code and starts the passkey ceremony.
pub async fn begin(
    db: &DatabaseConnection,
    identity: &Identity,
    code: &str,
    now: DateTime<Utc>,
) -> Result<CeremonyStart, AppError> {
    let invalid = || AppError::new(ErrorCode::EnrolmentCodeInvalid);
    let enrolment = staff_enrolments::Entity::find()
        .filter(
            staff_enrolments::Column::CodeHash.eq(secrets::hash(&secrets::normalise_typed(code))),
        )
        .filter(staff_enrolments::Column::UsedAt.is_null())
        .filter(staff_enrolments::Column::ExpiresAt.gt(now))
        .one(db)
        .await?;
    let Some(enrolment) = enrolment else {
        AuditEvent::new("staff.enrol_begin", ActorKind::Anonymous, Outcome::Failure)
            .detail(serde_json::json!({"code": "enrolment_code_invalid"}))
            .record(db, now)
            .await?;
        return Err(invalid());
    };
    let member = staff::Entity::find_by_id(enrolment.staff_id)
        .one(db)
        .await?
        .ok_or_else(invalid)?;
    let context = Context {
        enrolment_id: enrolment.id,
        staff_id: member.id,
        practice_id: member.practice_id,
    };
    let user = PasskeyUser {
        id: member.id,
        name: &member.display_name,
        display_name: &member.display_name,
    };
    ceremonies::start_registration(
        db,
        identity,
        CeremonyKind::StaffEnrolment,
        user,
        None,
        &context,
        now,
    )
    .await
}

/// Verifies the passkey, activates the staff member and opens a staff session.
pub async fn finish(
    db: &DatabaseConnection,
    identity: &Identity,
    ceremony_id: Uuid,
    credential: &RegisterPublicKeyCredential,
    now: DateTime<Utc>,
) -> Result<Tokens, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let (state, context): (PasskeyRegistration, Context) =
        ceremonies::take(&txn, ceremony_id, CeremonyKind::StaffEnrolment, now).await?;
    let passkey = match identity
        .webauthn
        .finish_passkey_registration(credential, &state)
    {
        Ok(passkey) => passkey,
        Err(error) => {
            txn.commit().await?;
            return Err(rejected(error));
        }
    };
    let used = staff_enrolments::Entity::update_many()
        .col_expr(staff_enrolments::Column::UsedAt, Expr::value(now))
        .filter(staff_enrolments::Column::Id.eq(context.enrolment_id))
        .filter(staff_enrolments::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if used.rows_affected != 1 {
        return Err(AppError::new(ErrorCode::EnrolmentCodeInvalid));
    }
    store(&txn, Owner::Staff(context.staff_id), &passkey, now).await?;
    staff::Entity::update_many()
        .col_expr(staff::Column::Active, Expr::value(true))
        .col_expr(staff::Column::UpdatedAt, Expr::value(now))
        .filter(staff::Column::Id.eq(context.staff_id))
        .exec(&txn)
        .await?;
    let tokens = sessions::open(
        &txn,
        &identity.config,
        Subject::Staff {
            staff_id: context.staff_id,
        },
        now,
    )
    .await?;
    AuditEvent::new("staff.enrol", ActorKind::Staff, Outcome::Success)
        .actor(context.staff_id)
        .practice(context.practice_id)
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(tokens)
}
