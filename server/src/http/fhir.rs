//! FHIR routes: the clinical system's Bundle import (`POST /api/v1/integration/fhir`) and a
//! patient's record as a Bundle (`GET /api/v1/patients/{patient_id}/export`). Both speak
//! `application/fhir+json`; the import's refusals are `OperationOutcome`s, not problem+json.

use super::AppState;
use super::auth::{AccountSession, IntegrationSession};
use crate::error::{AppError, ErrorCode};
use crate::fhir::bundle::MAX_BUNDLE_BYTES;
use crate::fhir::outcome::{self, Issue, Refusal};
use crate::fhir::{FHIR_JSON, export, import};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_bundle))
        // A Bundle may carry several letters: its own limit, checked again by the import.
        .layer(DefaultBodyLimit::max(MAX_BUNDLE_BYTES))
        .merge(OpenApiRouter::new().routes(routes!(export_record)))
}

fn fhir_json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn refused(refusal: &Refusal) -> Response {
    if let Some(cause) = &refusal.cause {
        tracing::error!(code = refusal.code.as_str(), %cause, "FHIR import failed");
    }
    fhir_json(refusal.code.status(), &refusal.outcome())
}

/// Imports a FHIR R4 transaction or collection Bundle (Patient, Condition, Observation,
/// MedicationStatement, MedicationRequest, AllergyIntolerance, Immunization, Encounter,
/// DocumentReference, Slot, Schedule; Practitioner, Organization and Location for names),
/// atomically and idempotently by the resources' identifiers. A refusal is an
/// `OperationOutcome` naming every problem by FHIRPath, and nothing of the Bundle is stored.
/// The mapping is `docs/fhir.md`.
#[utoipa::path(post, path = "/api/v1/integration/fhir", tag = "integration",
    request_body(content = Object, content_type = "application/fhir+json",
        description = "A FHIR R4 Bundle of type transaction or collection"),
    responses(
        (status = 200, description = "Imported: an OperationOutcome of counts", body = Object, content_type = "application/fhir+json"),
        (status = 400, description = "Not a Bundle", body = Object, content_type = "application/fhir+json"),
        (status = 401, body = super::error::Problem),
        (status = 413, description = "Too large or too many entries", body = Object, content_type = "application/fhir+json"),
        (status = 422, description = "Refused: an OperationOutcome naming each problem", body = Object, content_type = "application/fhir+json")),
    security(("bearer" = [])))]
async fn import_bundle(
    State(state): State<AppState>,
    IntegrationSession(client): IntegrationSession,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) if body.len() <= MAX_BUNDLE_BYTES => body,
        _ => {
            return refused(&Refusal::whole(
                ErrorCode::PayloadTooLarge,
                Issue::new(
                    "Bundle",
                    "too_large",
                    format!("a Bundle may be at most {MAX_BUNDLE_BYTES} bytes"),
                ),
            ));
        }
    };
    match import::import_bundle(&state.db, client, &body, state.clock.now()).await {
        Ok(imported) => fhir_json(StatusCode::OK, &outcome::summary(imported.lines)),
        Err(refusal) => refused(&refusal),
    }
}

/// The record the signed-in account may see for this patient, as a FHIR R4 `collection`
/// Bundle (UK Core profiles): the same permitted slice as the record routes, recorded in the
/// patient's access log. Letters link to their content route.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/export", tag = "record",
    params(("patient_id" = Uuid, Path)),
    responses((status = 200, description = "A FHIR R4 Bundle", body = Object, content_type = "application/fhir+json"),
              (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn export_record(
    State(state): State<AppState>,
    session: AccountSession,
    headers: HeaderMap,
    uri: Uri,
    Path(patient_id): Path<Uuid>,
) -> Result<Response, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    // FHIR wants absolute URLs: the letters' content routes on the host the client called,
    // named by `Host` over HTTP/1.1 and by the request's authority (`:authority`) over HTTP/2.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|authority| authority.as_str()))
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or(&state.config.identity.rp_id);
    let base = format!("https://{host}");
    let bundle = export::export(&state.db, &actor, &facts, &base, state.clock.now()).await?;
    let mut response = fhir_json(StatusCode::OK, &bundle);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
