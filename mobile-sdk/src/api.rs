//! The server's REST API as the SDK uses it: JSON in and out, problem+json refusals turned into
//! [`SdkError::Refused`] with the server's stable code, 401 into [`SdkError::Unauthorised`],
//! and "try again later" (429, 5xx) into [`SdkError::Network`]. Tokens are passed in by the
//! caller, which owns the session and its refresh. Sync frames travel compressed
//! (`gp-sync-deflate`, the protocol's static dictionary) both ways.

use crate::config::SdkConfig;
use crate::error::{Result, SdkError};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

/// A client of one server.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("base", &self.base).finish()
    }
}

impl Api {
    /// A client for the configured server and trust.
    pub fn new(config: &SdkConfig) -> Result<Self> {
        let tls = config.tls(&[b"h2", b"http/1.1"])?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|_| SdkError::other("building the HTTP client"))?;
        Ok(Self {
            http,
            base: config.base_url()?,
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a request and checks its status.
    async fn send(request: RequestBuilder) -> Result<Response> {
        let response = request.send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::UNAUTHORIZED {
            // Expired, revoked or never valid: the caller refreshes or ends the session.
            return Err(SdkError::Unauthorised);
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(SdkError::network(format!(
                "server answered {}",
                status.as_u16()
            )));
        }
        let code = problem_code(response)
            .await
            .unwrap_or_else(|| format!("http_{}", status.as_u16()));
        Err(SdkError::Refused { code })
    }

    /// `method path` with a JSON body (or none), answering JSON (`null` for no content).
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut request = self.request(method, path, token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = Self::send(request).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        let bytes = response.bytes().await?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|_| SdkError::other("the server's answer is not JSON"))
    }

    /// GET `path`, answering the body and its content type.
    pub async fn bytes(&self, path: &str, token: &str) -> Result<(String, Vec<u8>)> {
        let response = Self::send(self.request(Method::GET, path, Some(token))).await?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        Ok((content_type, response.bytes().await?.to_vec()))
    }

    /// One sync exchange: a frame's CBOR out, a frame's CBOR back. Both travel compressed
    /// (`sync_protocol::compressed`, the static dictionary alone); a reply without that
    /// `Content-Encoding` is plain CBOR.
    pub async fn sync(&self, token: &str, frame: Vec<u8>) -> Result<Vec<u8>> {
        use sync_protocol::compressed::{CODING, compress, decompress};
        let request = self
            .request(Method::POST, "/api/v1/sync", Some(token))
            .header(reqwest::header::CONTENT_TYPE, "application/cbor")
            .header(reqwest::header::CONTENT_ENCODING, CODING)
            .header(reqwest::header::ACCEPT_ENCODING, CODING)
            .body(compress(&frame, None));
        let response = Self::send(request).await?;
        let compressed = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes() == CODING.as_bytes());
        let body = response.bytes().await?;
        if compressed {
            decompress(&body, None)
                .map_err(|_| SdkError::other("the server sent a malformed frame"))
        } else {
            Ok(body.to_vec())
        }
    }
}

/// The `code` of a problem+json body.
async fn problem_code(response: Response) -> Option<String> {
    let body: Value = response.json().await.ok()?;
    body["code"].as_str().map(str::to_owned)
}
