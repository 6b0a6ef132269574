//! Bearer-authenticated JSON calls for the end-to-end tests: one request, its status and its
//! body as JSON (`Value::Null` when the body is empty or not JSON, as for a 204).

use crate::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Sends `method path` with `token` as the bearer and `body` as JSON.
pub async fn send(
    app: &TestApp,
    method: Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `GET path` as `token`.
pub async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    send(app, Method::GET, token, path, None).await
}

/// `POST path` with `body` as `token`.
pub async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    send(app, Method::POST, token, path, Some(body)).await
}
