//! The practice console's files, served under `/practice/`: one HTML shell for every page and
//! the scripts and style sheet it loads, all compiled into the binary (`include_str!`), so the
//! server needs nothing beside it and nothing is fetched from elsewhere. The console is a
//! client of the JSON API with staff bearer tokens (`docs/adr/0003-practice-console.md`); these
//! routes hold no data and need no session. Every answer carries a strict
//! Content-Security-Policy: scripts, styles and connections from this origin only, no inline
//! script, no framing.

use super::AppState;
use crate::error::AppError;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The policy of every console answer.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The pages of the console (`/practice/{page}`); the empty one is sign-in.
const PAGES: &[&str] = &[
    "",
    "enrol",
    "review",
    "patients",
    "proxies",
    "appointments",
    "prescriptions",
    "messages",
    "access-requests",
    "settings",
    "uptake",
    "audit",
];

/// The shell every page starts from; the scripts render the page named by the path.
const SHELL: &str = include_str!("../../console/index.html");

/// The files under `/practice/assets/`: name, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../console/assets/console.css"),
    ),
    asset_js("api.js", include_str!("../../console/assets/api.js")),
    asset_js(
        "console.js",
        include_str!("../../console/assets/console.js"),
    ),
    asset_js("dom.js", include_str!("../../console/assets/dom.js")),
    asset_js(
        "passkey.js",
        include_str!("../../console/assets/passkey.js"),
    ),
    asset_js(
        "sign-in.js",
        include_str!("../../console/assets/sign-in.js"),
    ),
    asset_js("review.js", include_str!("../../console/assets/review.js")),
    asset_js(
        "patients.js",
        include_str!("../../console/assets/patients.js"),
    ),
    asset_js(
        "proxies.js",
        include_str!("../../console/assets/proxies.js"),
    ),
    asset_js(
        "appointments.js",
        include_str!("../../console/assets/appointments.js"),
    ),
    asset_js(
        "prescriptions.js",
        include_str!("../../console/assets/prescriptions.js"),
    ),
    asset_js(
        "messages.js",
        include_str!("../../console/assets/messages.js"),
    ),
    asset_js("uptake.js", include_str!("../../console/assets/uptake.js")),
    asset_js("audit.js", include_str!("../../console/assets/audit.js")),
    asset_js(
        "access-requests.js",
        include_str!("../../console/assets/access-requests.js"),
    ),
    asset_js(
        "settings.js",
        include_str!("../../console/assets/settings.js"),
    ),
];

const fn asset_js(
    name: &'static str,
    content: &'static str,
) -> (&'static str, &'static str, &'static str) {
    (name, "text/javascript; charset=utf-8", content)
}

/// The console's routes. They are not part of the API description.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/practice",
            get(|| async { Redirect::permanent("/practice/") }),
        )
        .route("/practice/", get(|| async { shell() }))
        .route("/practice/{page}", get(page))
        .route("/practice/patients/{id}", get(|| async { shell() }))
        .route("/practice/assets/{name}", get(asset))
}

async fn page(Path(page): Path<String>) -> Result<Response, AppError> {
    if PAGES.contains(&page.as_str()) {
        Ok(shell())
    } else {
        Err(AppError::not_found())
    }
}

async fn asset(Path(name): Path<String>) -> Result<Response, AppError> {
    let (_, content_type, content) = ASSETS
        .iter()
        .find(|(asset, _, _)| *asset == name)
        .ok_or_else(AppError::not_found)?;
    Ok(with_policy(content_type, content))
}

fn shell() -> Response {
    with_policy("text/html; charset=utf-8", SHELL)
}

fn with_policy(content_type: &'static str, content: &'static str) -> Response {
    let mut response = content.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Revalidated on each load, so a new server version's console is used at once.
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
