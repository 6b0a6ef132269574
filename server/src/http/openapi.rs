//! The OpenAPI 3.1 description, generated from the handlers' annotations at start-up (no build
//! step, nothing downloaded) and served at `/api/openapi.json`.

use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gp-online",
        description = "Patient-facing GP online services: record access, appointments, repeat \
                       prescriptions, messages, proxy access and offline sync. Errors are \
                       RFC 9457 application/problem+json with a stable `code`."
    ),
    components(schemas(super::error::Problem, crate::error::ErrorCode)),
    tags((name = "operations", description = "Health, readiness, metrics and this description"))
)]
struct ApiDoc;

/// The document every route's description is merged into.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// This API's OpenAPI description.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_str().to_owned(),
    )
}
