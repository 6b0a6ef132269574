//! The uptake report for practice staff (`GET /api/v1/practice/uptake`), as JSON or CSV. The
//! figures are [`crate::uptake`]'s; they are counts only, so reading them is not audited.

use super::AppState;
use super::auth::StaffSession;
use super::error::Problem;
use crate::error::AppError;
use crate::uptake::{self, Uptake};
use crate::validate::Validator;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report))
}

/// Which months, in which form.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UptakeParams {
    /// Calendar months up to the current one, 1 to 36 (default 12).
    pub months: Option<String>,
    /// `json` (default) or `csv` (the month-by-month figures, a header line first).
    pub format: Option<String>,
}

/// Patients registered for at least one online service against the 10% target, and month by
/// month the bookings, orders, record views, messages, proxy grants and registrations.
/// Clinicians and admins.
#[utoipa::path(get, path = "/api/v1/practice/uptake", tag = "practice",
    params(UptakeParams),
    responses((status = 200, body = Uptake),
              (status = 200, description = "`format=csv`", content_type = "text/csv", body = String),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn report(
    State(state): State<AppState>,
    session: StaffSession,
    Query(params): Query<UptakeParams>,
) -> Result<Response, AppError> {
    let mut v = Validator::new();
    let months = v.check(
        "months",
        crate::validate::limit(
            params.months.as_deref(),
            u64::from(uptake::DEFAULT_MONTHS),
            u64::from(uptake::MAX_MONTHS),
        ),
    );
    let csv = v.check(
        "format",
        match params.format.as_deref() {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(_) => Err(crate::validate::Invalid {
                code: "unknown_format",
                reason: "json or csv".to_owned(),
            }),
        },
    );
    v.finish()?;
    let (Some(months), Some(csv)) = (months, csv) else {
        return Err(AppError::new(crate::error::ErrorCode::ValidationFailed));
    };
    let months = u32::try_from(months).unwrap_or(uptake::DEFAULT_MONTHS);
    let report = uptake::report(&state.db, session.practice_id, months, state.clock.now()).await?;
    Ok(if csv {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"uptake.csv\"",
                ),
            ],
            report.to_csv(),
        )
            .into_response()
    } else {
        Json(report).into_response()
    })
}
