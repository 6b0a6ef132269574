//! Request metrics: a counter and a latency histogram per route template and status, kept in the
//! process-wide Prometheus recorder and rendered by `/metrics`.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder, installed on first use (several servers in one test process share
/// it, which is why it is not per-server state).
fn recorder() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .as_ref()
}

/// Installs the recorder now, so counters of background work (push delivery) that run before
/// the first request are kept.
pub fn install() {
    recorder();
}

/// Renders every metric in the Prometheus text format.
pub fn render() -> String {
    match recorder() {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => String::new(),
    }
}

/// Middleware that counts and times each request by its route template (never the raw path,
/// which may contain ids).
pub async fn record(request: Request, next: Next) -> Response {
    recorder();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
