//! Identity routes: registration and sign-in ceremonies, token refresh, the signed-in account's
//! devices and sessions, and linkage details issued by practice admins.

use super::AppState;
use super::auth::{AccountSession, StaffSession};
use super::client_address::ClientAddress;
use super::extract::ApiJson;
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::error::{AppError, ErrorCode};
use crate::identity::account::{self, Device, Session};
use crate::identity::ceremonies::CeremonyStart;
use crate::identity::linkage::{self, IssuedLinkage, LinkageClaim, LinkageSubject};
use crate::identity::registration;
use crate::identity::sessions::{self, Tokens};
use crate::identity::{login, passkeys, staff};
use crate::validate::{OdsCode, Validator, parse_date_of_birth};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(registration_begin))
        .routes(routes!(registration_finish))
        .routes(routes!(login_begin))
        .routes(routes!(login_finish))
        .routes(routes!(token_refresh))
        .routes(routes!(list_devices, sign_out_everywhere))
        .routes(routes!(revoke_device))
        .routes(routes!(issue_linkage))
        .routes(routes!(issue_carer_linkage))
        .routes(routes!(staff_enrolment_begin))
        .routes(routes!(staff_enrolment_finish))
        .routes(routes!(add_passkey_begin))
        .routes(routes!(add_passkey_finish))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
}

/// Linkage details with the person's surname and date of birth.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationBegin {
    /// Account ID from the practice.
    pub account_id: String,
    /// Linkage Key from the practice.
    pub linkage_key: String,
    /// The practice's ODS code.
    pub ods_code: String,
    /// Surname as the practice has it.
    pub surname: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: String,
}

/// Starts registration: checks the linkage details and returns passkey creation options.
#[utoipa::path(post, path = "/api/v1/registration/begin", tag = "identity",
    request_body = RegistrationBegin,
    responses((status = 200, body = CeremonyStart), (status = 403, body = super::error::Problem),
              (status = 422, body = super::error::Problem), (status = 429, body = super::error::Problem)))]
async fn registration_begin(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(body): ApiJson<RegistrationBegin>,
) -> Result<Json<CeremonyStart>, AppError> {
    state.rate_limits.check_address(client)?;
    state.rate_limits.check_account(&body.account_id)?;
    let now = state.clock.now();
    let mut validator = Validator::new();
    let ods = validator.check("ods_code", OdsCode::parse(&body.ods_code));
    let dob = validator.check(
        "date_of_birth",
        parse_date_of_birth(&body.date_of_birth, now.date_naive()),
    );
    for (name, value) in [
        ("account_id", &body.account_id),
        ("linkage_key", &body.linkage_key),
        ("surname", &body.surname),
    ] {
        validator.check(name, required(value));
    }
    validator.finish()?;
    let (Some(ods), Some(date_of_birth)) = (ods, dob) else {
        return Err(AppError::new(ErrorCode::ValidationFailed));
    };
    let claim = LinkageClaim {
        account_id: body.account_id,
        linkage_key: body.linkage_key,
        ods_code: ods.to_string(),
        surname: body.surname,
        date_of_birth,
    };
    Ok(Json(
        registration::begin(&state.db, &state.identity, &claim, now).await?,
    ))
}

fn required(value: &str) -> Result<(), crate::validate::Invalid> {
    if value.trim().is_empty() || value.len() > 200 {
        Err(crate::validate::Invalid::new(
            "required",
            "a value of at most 200 characters is required",
        ))
    } else {
        Ok(())
    }
}

/// The authenticator's answer to a registration ceremony.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationFinish {
    /// From `registration/begin`.
    pub ceremony_id: Uuid,
    /// The `RegisterPublicKeyCredential` in webauthn-rs' serde form.
    #[schema(value_type = Object)]
    pub credential: RegisterPublicKeyCredential,
    /// A name for this device, shown in the device list.
    pub device_name: String,
}

/// Finishes registration: verifies the new passkey and signs in.
#[utoipa::path(post, path = "/api/v1/registration/finish", tag = "identity",
    request_body = RegistrationFinish,
    responses((status = 200, body = Tokens), (status = 401, body = super::error::Problem),
              (status = 409, body = super::error::Problem)))]
async fn registration_finish(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(body): ApiJson<RegistrationFinish>,
) -> Result<Json<Tokens>, AppError> {
    state.rate_limits.check_address(client)?;
    required(&body.device_name)
        .map_err(|invalid| AppError::invalid_field("device_name", invalid))?;
    let now = state.clock.now();
    let tokens = registration::finish(
        &state.db,
        &state.identity,
        body.ceremony_id,
        &body.credential,
        body.device_name.trim(),
        now,
    )
    .await?;
    Ok(Json(tokens))
}

/// Starts a usernameless passkey sign-in.
#[utoipa::path(post, path = "/api/v1/login/begin", tag = "identity",
    responses((status = 200, body = CeremonyStart)))]
async fn login_begin(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
) -> Result<Json<CeremonyStart>, AppError> {
    state.rate_limits.check_address(client)?;
    Ok(Json(
        login::begin(&state.db, &state.identity, state.clock.now()).await?,
    ))
}

/// The authenticator's answer to a sign-in ceremony.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginFinish {
    /// From `login/begin`.
    pub ceremony_id: Uuid,
    /// The `PublicKeyCredential` in webauthn-rs' serde form.
    #[schema(value_type = Object)]
    pub credential: PublicKeyCredential,
}

/// Finishes sign-in.
#[utoipa::path(post, path = "/api/v1/login/finish", tag = "identity", request_body = LoginFinish,
    responses((status = 200, body = Tokens), (status = 401, body = super::error::Problem)))]
async fn login_finish(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(body): ApiJson<LoginFinish>,
) -> Result<Json<Tokens>, AppError> {
    state.rate_limits.check_address(client)?;
    let now = state.clock.now();
    Ok(Json(
        login::finish(
            &state.db,
            &state.identity,
            body.ceremony_id,
            &body.credential,
            now,
        )
        .await?,
    ))
}

/// A refresh token to exchange.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRefresh {
    /// The current refresh token (single use).
    pub refresh_token: String,
}

/// Exchanges a refresh token for new tokens. Reusing an old one ends every session of that
/// sign-in.
#[utoipa::path(post, path = "/api/v1/token/refresh", tag = "identity", request_body = TokenRefresh,
    responses((status = 200, body = Tokens), (status = 401, body = super::error::Problem)))]
async fn token_refresh(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(body): ApiJson<TokenRefresh>,
) -> Result<Json<Tokens>, AppError> {
    state.rate_limits.check_address(client)?;
    let now = state.clock.now();
    let result =
        sessions::refresh(&state.db, &state.identity.config, &body.refresh_token, now).await;
    if result
        .as_ref()
        .is_err_and(|error| error.code() == ErrorCode::RefreshTokenReused)
    {
        AuditEvent::new(
            "session.refresh_reuse",
            ActorKind::Anonymous,
            Outcome::Denied,
        )
        .record(&state.db, now)
        .await?;
    }
    Ok(Json(result?))
}

/// Lists the account's active devices.
#[utoipa::path(get, path = "/api/v1/me/devices", tag = "identity",
    responses((status = 200, body = [Device]), (status = 401, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn list_devices(
    State(state): State<AppState>,
    session: AccountSession,
) -> Result<Json<Vec<Device>>, AppError> {
    Ok(Json(
        account::devices(&state.db, &session.signed_in()).await?,
    ))
}

/// Revokes one device: its sessions end and its passkeys are removed, at once.
#[utoipa::path(delete, path = "/api/v1/me/devices/{device_id}", tag = "identity",
    params(("device_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn revoke_device(
    State(state): State<AppState>,
    session: AccountSession,
    Path(device_id): Path<Uuid>,
) -> Result<StatusCode, AppError> {
    let now = state.clock.now();
    account::revoke_device(&state.db, &session.signed_in(), device_id, now).await?;
    crate::sync::live::announce_sign_out(&state.db, &state.hub, session.account_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Signs out everywhere: every device of the account is revoked, this one included.
#[utoipa::path(delete, path = "/api/v1/me/devices", tag = "identity",
    responses((status = 204)), security(("bearer" = [])))]
async fn sign_out_everywhere(
    State(state): State<AppState>,
    session: AccountSession,
) -> Result<StatusCode, AppError> {
    let now = state.clock.now();
    account::sign_out_everywhere(&state.db, &session.signed_in(), now).await?;
    crate::sync::live::announce_sign_out(&state.db, &state.hub, session.account_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Options for issuing linkage details.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct IssueLinkage {
    /// Recovery after an ID check: registering replaces the patient's old passkeys and sessions.
    pub recovery: bool,
}

/// Issues linkage details for a patient of the admin's practice (revoking earlier unused ones).
#[utoipa::path(post, path = "/api/v1/practice/patients/{patient_id}/linkage", tag = "practice",
    params(("patient_id" = Uuid, Path)), request_body = IssueLinkage,
    responses((status = 201, body = IssuedLinkage), (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn issue_linkage(
    State(state): State<AppState>,
    staff: StaffSession,
    Path(patient_id): Path<Uuid>,
    ApiJson(body): ApiJson<IssueLinkage>,
) -> Result<(StatusCode, Json<IssuedLinkage>), AppError> {
    issue_for(
        &state,
        &staff,
        LinkageSubject::Patient(patient_id),
        body.recovery,
    )
    .await
}

/// Issues proxy linkage details for a carer recorded by the admin's practice.
#[utoipa::path(post, path = "/api/v1/practice/carers/{carer_id}/linkage", tag = "practice",
    params(("carer_id" = Uuid, Path)), request_body = IssueLinkage,
    responses((status = 201, body = IssuedLinkage), (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn issue_carer_linkage(
    State(state): State<AppState>,
    staff: StaffSession,
    Path(carer_id): Path<Uuid>,
    ApiJson(body): ApiJson<IssueLinkage>,
) -> Result<(StatusCode, Json<IssuedLinkage>), AppError> {
    issue_for(
        &state,
        &staff,
        LinkageSubject::Carer(carer_id),
        body.recovery,
    )
    .await
}

async fn issue_for(
    state: &AppState,
    staff: &StaffSession,
    subject: LinkageSubject,
    recovery: bool,
) -> Result<(StatusCode, Json<IssuedLinkage>), AppError> {
    staff.require_admin()?;
    let now = state.clock.now();
    let issued = linkage::issue_by_staff(&state.db, &staff.actor(), subject, recovery, now).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// A staff enrolment code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentBegin {
    /// The one-time code from `gp-online staff invite`.
    pub enrolment_code: String,
}

/// Starts a staff member's passkey enrolment.
#[utoipa::path(post, path = "/api/v1/practice/enrolment/begin", tag = "practice",
    request_body = EnrolmentBegin,
    responses((status = 200, body = CeremonyStart), (status = 403, body = super::error::Problem)))]
async fn staff_enrolment_begin(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(body): ApiJson<EnrolmentBegin>,
) -> Result<Json<CeremonyStart>, AppError> {
    state.rate_limits.check_address(client)?;
    let now = state.clock.now();
    Ok(Json(
        staff::begin(&state.db, &state.identity, &body.enrolment_code, now).await?,
    ))
}

/// The authenticator's answer to a staff enrolment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentFinish {
    /// From `enrolment/begin`.
    pub ceremony_id: Uuid,
    /// The `RegisterPublicKeyCredential` in webauthn-rs' serde form.
    #[schema(value_type = Object)]
    pub credential: RegisterPublicKeyCredential,
}

/// Finishes a staff enrolment and opens a staff session.
#[utoipa::path(post, path = "/api/v1/practice/enrolment/finish", tag = "practice",
    request_body = EnrolmentFinish,
    responses((status = 200, body = Tokens), (status = 401, body = super::error::Problem)))]
async fn staff_enrolment_finish(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EnrolmentFinish>,
) -> Result<Json<Tokens>, AppError> {
    let now = state.clock.now();
    Ok(Json(
        staff::finish(
            &state.db,
            &state.identity,
            body.ceremony_id,
            &body.credential,
            now,
        )
        .await?,
    ))
}

/// Lists the account's live sessions.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "identity",
    responses((status = 200, body = [Session])), security(("bearer" = [])))]
async fn list_sessions(
    State(state): State<AppState>,
    session: AccountSession,
) -> Result<Json<Vec<Session>>, AppError> {
    let now = state.clock.now();
    Ok(Json(
        account::sessions(&state.db, &session.signed_in(), now).await?,
    ))
}

/// Ends one session of the account (the current one signs out).
#[utoipa::path(delete, path = "/api/v1/me/sessions/{session_id}", tag = "identity",
    params(("session_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn revoke_session(
    State(state): State<AppState>,
    session: AccountSession,
    Path(session_id): Path<Uuid>,
) -> Result<StatusCode, AppError> {
    let now = state.clock.now();
    account::revoke_session(&state.db, &session.signed_in(), session_id, now).await?;
    crate::sync::live::announce_sign_out(&state.db, &state.hub, session.account_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts adding a passkey (another device or a security key) to the signed-in account.
#[utoipa::path(post, path = "/api/v1/me/passkeys/begin", tag = "identity",
    responses((status = 200, body = CeremonyStart)), security(("bearer" = [])))]
async fn add_passkey_begin(
    State(state): State<AppState>,
    session: AccountSession,
) -> Result<Json<CeremonyStart>, AppError> {
    let now = state.clock.now();
    Ok(Json(
        passkeys::begin(
            &state.db,
            &state.identity,
            session.account_id,
            session.practice_id,
            now,
        )
        .await?,
    ))
}

/// Finishes adding a passkey; the new device can then sign in by itself.
#[utoipa::path(post, path = "/api/v1/me/passkeys/finish", tag = "identity",
    request_body = RegistrationFinish,
    responses((status = 201, body = Device), (status = 401, body = super::error::Problem),
              (status = 409, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn add_passkey_finish(
    State(state): State<AppState>,
    session: AccountSession,
    ApiJson(body): ApiJson<RegistrationFinish>,
) -> Result<(StatusCode, Json<Device>), AppError> {
    required(&body.device_name)
        .map_err(|invalid| AppError::invalid_field("device_name", invalid))?;
    let now = state.clock.now();
    let device = passkeys::finish(
        &state.db,
        &state.identity,
        session.account_id,
        body.ceremony_id,
        &body.credential,
        body.device_name.trim(),
        now,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(Device::of(device, false))))
}
