//! The practice's audit trail for its admins (`GET /api/v1/practice/audit`): who did what, for
//! which patient, when, filterable by action, actor, patient and dates. Reading the trail is
//! itself audited. The query is [`crate::audit::trail`].

use super::AppState;
use super::auth::StaffSession;
use super::error::Problem;
use crate::audit::{self, AuditEvent, TrailFilter, TrailPage};
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::error::{AppError, ErrorCode};
use crate::validate::{Invalid, Validator, parse_date};
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(practice_trail))
}

/// Filters of the trail; all optional.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrailParams {
    /// Actions starting with this, e.g. `proxy.` (at most 100 characters).
    pub action: Option<String>,
    /// `patient`, `proxy`, `staff`, `integration`, `system` or `anonymous`.
    pub actor_kind: Option<String>,
    /// One account, staff member or key.
    pub actor_id: Option<String>,
    /// Events for this patient.
    pub patient_id: Option<String>,
    /// From this day, `YYYY-MM-DD` (UTC).
    pub from: Option<String>,
    /// Up to and including this day, `YYYY-MM-DD` (UTC).
    pub to: Option<String>,
    /// The `next_before` of the previous page.
    pub before: Option<String>,
    /// Events per page, 1 to 500 (default 100).
    pub limit: Option<String>,
}

fn uuid(text: &str) -> Result<Uuid, Invalid> {
    Uuid::parse_str(text.trim()).map_err(|_| Invalid::new("invalid_id", "a UUID"))
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The practice's audit trail, newest first: events at the practice and for its patients.
/// Admins only.
#[utoipa::path(get, path = "/api/v1/practice/audit", tag = "practice",
    params(TrailParams),
    responses((status = 200, body = TrailPage), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn practice_trail(
    State(state): State<AppState>,
    session: StaffSession,
    Query(params): Query<TrailParams>,
) -> Result<Json<TrailPage>, AppError> {
    session.require_admin()?;
    let mut v = Validator::new();
    let action = params
        .action
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    if let Some(action) = action {
        v.check(
            "action",
            if action.chars().count() > 100 {
                Err(Invalid::new("too_long", "at most 100 characters"))
            } else {
                Ok(())
            },
        );
    }
    let actor_kind = params.actor_kind.as_deref().and_then(|text| {
        v.check(
            "actor_kind",
            serde_json::from_value::<ActorKind>(serde_json::Value::String(text.to_owned()))
                .map_err(|_| {
                    Invalid::new(
                        "unknown_actor_kind",
                        "patient, proxy, staff, integration, system or anonymous",
                    )
                }),
        )
    });
    let actor_id = params
        .actor_id
        .as_deref()
        .and_then(|t| v.check("actor_id", uuid(t)));
    let patient_id = params
        .patient_id
        .as_deref()
        .and_then(|t| v.check("patient_id", uuid(t)));
    let from = params
        .from
        .as_deref()
        .and_then(|t| v.check("from", parse_date(t)));
    let to = params
        .to
        .as_deref()
        .and_then(|t| v.check("to", parse_date(t)));
    let before = params.before.as_deref().and_then(|t| {
        v.check(
            "before",
            t.trim()
                .parse::<i64>()
                .map_err(|_| Invalid::new("invalid_cursor", "a `next_before` value")),
        )
    });
    let limit = v.check(
        "limit",
        crate::validate::limit(params.limit.as_deref(), 100, audit::MAX_TRAIL_PAGE),
    );
    v.finish()?;
    let Some(limit) = limit else {
        return Err(AppError::new(ErrorCode::ValidationFailed));
    };
    let filter = TrailFilter {
        action: action.map(str::to_owned),
        actor_kind,
        actor_id,
        patient_id,
        from: from.map(day_start),
        to: to.and_then(|day| day.succ_opt()).map(day_start),
        before,
    };
    let page = audit::trail(&state.db, session.practice_id, &filter, limit).await?;
    let mut event = AuditEvent::new("practice.audit_read", ActorKind::Staff, Outcome::Success)
        .actor(session.staff_id)
        .practice(session.practice_id)
        .detail(serde_json::json!({"events": page.events.len()}));
    if let Some(patient) = patient_id {
        event = event.acting_for(patient);
    }
    event.record(&state.db, state.clock.now()).await?;
    Ok(Json(page))
}
