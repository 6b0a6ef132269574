//! Authentication as extractors: a handler that takes [`AccountSession`] or [`StaffSession`]
//! runs only for a live session of that kind. A patient token on a staff route (or the
//! reverse) is refused with 403; a missing, expired or revoked token with 401.

use super::AppState;
use crate::db::entities::staff::StaffRole;
use crate::error::{AppError, ErrorCode};
use crate::identity::sessions::{self, Principal};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use uuid::Uuid;

/// A signed-in patient or carer account.
#[derive(Debug, Clone, Copy)]
pub struct AccountSession {
    /// The account.
    pub account_id: Uuid,
    /// Its practice.
    pub practice_id: Uuid,
    /// The account holder's own patient record, if they are a patient.
    pub patient_id: Option<Uuid>,
    /// The account holder's own carer record, if they are a carer.
    pub carer_id: Option<Uuid>,
    /// The device in use.
    pub device_id: Uuid,
    /// The session.
    pub session_id: Uuid,
}

impl AccountSession {
    /// The account, device and session, as identity's account functions take them.
    pub fn signed_in(&self) -> crate::identity::account::SignedIn {
        crate::identity::account::SignedIn {
            account_id: self.account_id,
            device_id: self.device_id,
            session_id: self.session_id,
        }
    }

    /// The account holder, as the access rules take them.
    pub fn holder(&self) -> crate::access::viewer::Holder {
        crate::access::viewer::Holder {
            account_id: self.account_id,
            patient_id: self.patient_id,
            carer_id: self.carer_id,
        }
    }
}

/// A signed-in member of practice staff.
#[derive(Debug, Clone, Copy)]
pub struct StaffSession {
    /// The staff member.
    pub staff_id: Uuid,
    /// Their practice.
    pub practice_id: Uuid,
    /// Their role.
    pub role: StaffRole,
    /// The session.
    pub session_id: Uuid,
}

impl StaffSession {
    /// Refuses unless the staff member is an admin.
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.role == StaffRole::Admin {
            Ok(())
        } else {
            Err(AppError::new(ErrorCode::Forbidden).with_detail("an admin role is needed"))
        }
    }

    /// This staff member as the actor of a service's practice side.
    pub fn actor(&self) -> crate::access::StaffActor {
        crate::access::StaffActor {
            staff_id: self.staff_id,
            practice_id: self.practice_id,
            role: self.role,
        }
    }
}

/// The bearer token of a request, if any.
fn bearer(parts: &Parts) -> Result<&str, AppError> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated))
}

async fn principal(parts: &Parts, state: &AppState) -> Result<Principal, AppError> {
    let token = bearer(parts)?;
    sessions::authenticate(&state.reads, token, state.clock.now()).await
}

impl FromRequestParts<AppState> for AccountSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        match principal(parts, state).await? {
            Principal::Account {
                account_id,
                practice_id,
                patient_id,
                carer_id,
                device_id,
                session_id,
            } => Ok(Self {
                account_id,
                practice_id,
                patient_id,
                carer_id,
                device_id,
                session_id,
            }),
            Principal::Staff { .. } => Err(AppError::new(ErrorCode::Forbidden)
                .with_detail("this route is for patients and carers")),
        }
    }
}

impl FromRequestParts<AppState> for StaffSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        match principal(parts, state).await? {
            Principal::Staff {
                staff_id,
                practice_id,
                role,
                session_id,
            } => Ok(Self {
                staff_id,
                practice_id,
                role,
                session_id,
            }),
            Principal::Account { .. } => {
                Err(AppError::new(ErrorCode::Forbidden)
                    .with_detail("this route is for practice staff"))
            }
        }
    }
}

/// A clinical system authenticated by its integration key, scoped to one practice.
pub struct IntegrationSession(pub crate::identity::integration::IntegrationClient);

impl FromRequestParts<AppState> for IntegrationSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let key = bearer(parts)?;
        crate::identity::integration::authenticate(&state.db, key, state.clock.now())
            .await
            .map(Self)
    }
}

/// Resolves the signed-in account acting for `patient_id`: the patient themself or a proxy
/// under a valid grant (whose use is recorded, for the rule that removes unused grants). An
/// unknown patient and one the account may not act for get the same 404, so nothing reveals
/// that the patient exists.
pub async fn acting_for(
    state: &AppState,
    session: &AccountSession,
    patient_id: Uuid,
) -> Result<(crate::access::Viewer, crate::access::rules::PatientFacts), AppError> {
    let today = state.clock.now().date_naive();
    let facts = crate::access::slice::facts(&state.reads, patient_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let viewer = crate::access::viewer::for_account(&state.reads, &session.holder(), &facts, today)
        .await?
        .ok_or_else(AppError::not_found)?;
    if let crate::access::Viewer::Proxy { grant, .. } = &viewer {
        crate::proxy::record_use(&state.db, grant, state.clock.now()).await?;
    }
    Ok((viewer, facts))
}

/// [`acting_for`], as the actor of a patient service: the viewer with the session's device.
pub async fn actor_for(
    state: &AppState,
    session: &AccountSession,
    patient_id: Uuid,
) -> Result<(crate::access::Actor, crate::access::rules::PatientFacts), AppError> {
    let (viewer, facts) = acting_for(state, session, patient_id).await?;
    let actor = crate::access::Actor {
        viewer,
        device_id: Some(session.device_id),
    };
    Ok((actor, facts))
}
