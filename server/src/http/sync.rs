//! `POST /api/v1/sync`: one CBOR frame in, one CBOR frame out (the batch transport of the
//! sync protocol; see `sync-protocol/PROTOCOL.md`).

use super::AppState;
use super::auth::AccountSession;
use crate::error::{AppError, ErrorCode};
use crate::sync::exchange::{self, Syncer};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use sync_protocol::Frame;
use sync_protocol::envelope::FrameError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sync_batch))
}

/// Exchanges one sync frame.
#[utoipa::path(post, path = "/api/v1/sync", tag = "sync",
    request_body(content = Vec<u8>, content_type = "application/cbor", description = "A frame"),
    responses((status = 200, description = "A frame", content_type = "application/cbor"),
              (status = 400, body = super::error::Problem), (status = 401, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn sync_batch(
    State(state): State<AppState>,
    session: AccountSession,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    let is_cbor = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/cbor"));
    if !is_cbor {
        return Err(AppError::new(ErrorCode::MalformedRequest)
            .with_detail("expected Content-Type: application/cbor"));
    }
    let frame = Frame::decode(&body).map_err(|error| match error {
        FrameError::TooLarge(_) => AppError::new(ErrorCode::PayloadTooLarge),
        other => AppError::new(ErrorCode::MalformedRequest).with_detail(other.to_string()),
    })?;
    let syncer = Syncer {
        account_id: session.account_id,
        device_id: session.device_id,
    };
    // Boxed: the exchange future holds automerge documents across awaits.
    let reply = Box::pin(exchange::handle(
        &state.db,
        syncer,
        &frame,
        state.clock.now(),
    ))
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/cbor")], reply.encode()))
}
