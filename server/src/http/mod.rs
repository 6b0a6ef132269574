//! The HTTP layer: a thin axum shell over the domain modules. It owns routing, extraction,
//! error rendering and the cross-cutting middleware (request ids, tracing, metrics, limits,
//! timeouts, compression); it holds no domain rules.

pub mod appointments;
pub mod audit;
pub mod auth;
pub mod client_address;
pub mod console;
pub mod error;
pub mod extract;
pub mod fhir;
pub mod idempotency;
pub mod identity;
pub mod integration;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod practice_settings;
pub mod prescriptions;
pub mod proxy;
pub mod push;
pub mod rate_limit;
pub mod record;
pub mod record_access;
pub mod review;
pub mod staff;
pub mod sync;
pub mod uptake;

use crate::clock::Clock;
use crate::config::Config;
use crate::error::{AppError, ErrorCode};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_server::Handle;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::RustlsConfig;
use sea_orm::DatabaseConnection;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub db: DatabaseConnection,
    /// The same database for the short reads every request makes (its session, the patient's
    /// facts): on SQLite answered on the calling thread ([`crate::db::local_reads`]).
    pub reads: crate::db::local_reads::Reads,
    /// Where `now` comes from.
    pub clock: Clock,
    /// The configuration the server started with.
    pub config: Arc<Config>,
    /// The OpenAPI description, rendered once at start.
    pub openapi: Arc<String>,
    /// The passkey relying party and session settings.
    pub identity: crate::identity::Identity,
    /// Limits on identity attempts.
    pub rate_limits: rate_limit::RateLimits,
    /// Announcements of changed patients to live sync connections.
    pub hub: crate::sync::live::Hub,
    /// The writes of live sync connections and the access-log lines of whole-record reads,
    /// committed together.
    pub live_writes: crate::sync::live_writes::LiveWrites,
    /// Push notifications: the VAPID key, the providers and this node's delivery worker.
    pub push: crate::notify::Push,
}

/// The request id header, set on every request and echoed on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the application: every route plus the middleware stack, and starts this node's
/// share of the background work (the sync relay and, on PostgreSQL, its listener; the writer of
/// live connections' writes; the periodic [`crate::jobs`]; push delivery, [`crate::notify`]);
/// call it inside the Tokio runtime. Fails only on an identity configuration the relying party
/// refuses or an unreadable APNs or FCM key (the message names the key).
pub fn app(db: DatabaseConnection, clock: Clock, config: Arc<Config>) -> Result<Router, String> {
    let hub = crate::sync::live::Hub::new();
    crate::sync::cache::configure(config.sync.document_cache_bytes);
    tokio::spawn(crate::sync::live::relay(
        db.clone(),
        hub.clone(),
        clock.clone(),
        config.sync.history_threshold,
    ));
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        use secrecy::ExposeSecret;
        let url = config.database_url().expose_secret().to_owned();
        tokio::spawn(crate::sync::live::listen(url, hub.clone()));
    }
    crate::jobs::start(db.clone(), clock.clone(), &config.jobs);
    metrics::install();
    let push = crate::notify::Push::new(db.clone(), clock.clone(), &config.push)?;
    push.start();
    let (routes, openapi) = api_routes().split_for_parts();
    let openapi = Arc::new(openapi.to_pretty_json().unwrap_or_default());
    let state = AppState {
        live_writes: crate::sync::live_writes::LiveWrites::start(db.clone()),
        reads: crate::db::local_reads::Reads::new(db.clone()),
        db,
        clock,
        identity: crate::identity::Identity::new(&config.identity)?,
        rate_limits: rate_limit::RateLimits::new(
            config.identity.attempts_per_minute,
            config.identity.attempts_per_account_per_minute,
        ),
        hub,
        push,
        config: config.clone(),
        openapi,
    };
    let middleware = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                // Only the path: query strings and bodies may carry personal data.
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!(
                    "http",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id,
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                AppError::internal("handler panicked").into_response()
            },
        ))
        .layer(CompressionLayer::new())
        // Layers below keep axum's body type, which `from_fn`/`map_response` need.
        .layer(axum::middleware::map_response(problem_for_bare_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.server.request_timeout_secs),
        ))
        .layer(DefaultBodyLimit::max(config.server.max_body_bytes));
    // A route layer runs after routing, so the metric is labelled with the route template.
    Ok(routes
        .merge(console::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .route_layer(axum::middleware::from_fn(metrics::record))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            wake_relay_after_writes,
        ))
        .fallback(|| async { AppError::not_found() })
        .with_state(state)
        .layer(middleware))
}

/// Every route, with its OpenAPI description collected from the handlers' annotations.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(ops::routes())
        .merge(identity::routes())
        .merge(integration::routes())
        .merge(fhir::routes())
        .merge(review::routes())
        .merge(prescriptions::routes())
        .merge(messages::routes())
        .merge(proxy::routes())
        .merge(push::routes())
        .merge(record::routes())
        .merge(record_access::routes())
        .merge(sync::routes())
        .merge(appointments::routes())
        .merge(staff::routes())
        .merge(practice_settings::routes())
        .merge(audit::routes())
        .merge(uptake::routes())
        .merge(openapi::routes())
}

/// Wakes this node's sync relay after a request that may have written (any method but GET, HEAD
/// and OPTIONS) succeeded: its transaction has committed by then, so the outbox rows it
/// enqueued are visible and live devices are pushed the change at once rather than at the
/// relay's next interval.
async fn wake_relay_after_writes(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let writes = !request.method().is_safe();
    let response = next.run(request).await;
    if writes && response.status().is_success() {
        state.hub.wake_relay();
    }
    response
}

/// Gives framework-made error responses (405 from the router, 408 from the timeout, 413 from
/// the body limit) the same problem+json shape as the API's own errors.
async fn problem_for_bare_errors(response: Response) -> Response {
    let bare = !response.headers().contains_key(header::CONTENT_TYPE)
        || response.headers()[header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|v| v.starts_with("text/plain"));
    if !bare || !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    let code = match response.status() {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::Timeout,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::METHOD_NOT_ALLOWED => {
            let mut problem = AppError::new(ErrorCode::MalformedRequest)
                .with_detail("this method is not allowed on this path")
                .into_response();
            *problem.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            return problem;
        }
        status if status.is_server_error() => ErrorCode::InternalError,
        _ => ErrorCode::MalformedRequest,
    };
    AppError::new(code).into_response()
}

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests finish
/// for the configured grace period. `tls = None` serves plain HTTP.
pub async fn serve(
    app: Router,
    listener: std::net::TcpListener,
    tls: Option<RustlsConfig>,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let handle = Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        stopper.graceful_shutdown(Some(grace));
    });
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    // TCP_NODELAY on every accepted connection: without it a response written in more than one
    // TLS record waits for the client's delayed acknowledgement (Nagle's algorithm), about 40 ms,
    // which bounded a keep-alive client to a request every few tens of milliseconds.
    match tls {
        Some(tls) => {
            axum_server::from_tcp_rustls(listener, tls)?
                .map(|rustls| rustls.acceptor(NoDelayAcceptor::new()))
                .handle(handle)
                .serve(service)
                .await
        }
        None => {
            axum_server::from_tcp(listener)?
                .acceptor(NoDelayAcceptor::new())
                .handle(handle)
                .serve(service)
                .await
        }
    }
}
