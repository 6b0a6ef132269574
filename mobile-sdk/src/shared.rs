//! What every part of a running SDK shares: the configuration, the REST client, the device's
//! state behind one lock, the listener, and the session's tokens with their refresh (one
//! refresh at a time, since a refresh token is single use and its reuse ends the session).

use crate::api::Api;
use crate::config::SdkConfig;
use crate::engine::{Local, Session};
use crate::error::{Result, SdkError};
use crate::listener::{SdkEvent, SdkListener};
use reqwest::Method;
use serde_json::{Value, json};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

/// The running SDK's shared parts.
pub struct Shared {
    /// The configuration.
    pub config: SdkConfig,
    /// The REST client.
    pub api: Api,
    local: Mutex<Local>,
    /// Held for the whole of a sync (batch or one live frame), so two never interleave.
    pub sync_guard: tokio::sync::Mutex<()>,
    refresh_guard: tokio::sync::Mutex<()>,
    listener: Mutex<Option<Arc<dyn SdkListener>>>,
    /// Woken when an intent is queued, so a live connection sends it at once.
    pub poke: tokio::sync::Notify,
}

impl Shared {
    /// The shared parts of an SDK over `local`.
    pub fn new(config: SdkConfig, api: Api, local: Local) -> Self {
        Self {
            config,
            api,
            local: Mutex::new(local),
            sync_guard: tokio::sync::Mutex::new(()),
            refresh_guard: tokio::sync::Mutex::new(()),
            listener: Mutex::new(None),
            poke: tokio::sync::Notify::new(),
        }
    }

    /// The device's state (never held across an await).
    pub fn local(&self) -> Result<MutexGuard<'_, Local>> {
        self.local
            .lock()
            .map_err(|_| SdkError::other("the SDK's state is poisoned"))
    }

    /// Sets the listener.
    pub fn set_listener(&self, listener: Option<Arc<dyn SdkListener>>) {
        if let Ok(mut slot) = self.listener.lock() {
            *slot = listener;
        }
    }

    /// Tells the listener.
    pub fn emit(&self, event: SdkEvent) {
        let listener = self.listener.lock().ok().and_then(|l| l.clone());
        if let Some(listener) = listener {
            listener.on_event(event);
        }
    }

    /// The access token, or `Unauthorised` when signed out.
    pub fn token(&self) -> Result<String> {
        self.local()?
            .session
            .as_ref()
            .map(|s| s.access_token.clone())
            .ok_or(SdkError::Unauthorised)
    }

    /// Keeps the tokens of a sign-in, registration or refresh.
    pub fn keep_tokens(&self, tokens: &Value) -> Result<()> {
        let text = |name: &str| {
            tokens[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| SdkError::other("the token answer is incomplete"))
        };
        let session = Session {
            access_token: text("access_token")?,
            refresh_token: text("refresh_token")?,
            session_id: text("session_id")?,
            device_id: text("device_id")?,
        };
        self.local()?.set_session(session)
    }

    /// Calls `call` with the access token; on a 401, refreshes once and calls again. A session
    /// that cannot be refreshed (revoked, signed out elsewhere, a reused refresh token) wipes
    /// the store and answers `Revoked`.
    pub async fn authed<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let token = self.token()?;
        match call(token.clone()).await {
            Err(SdkError::Unauthorised) => {
                self.refresh(&token).await?;
                match call(self.token()?).await {
                    Err(SdkError::Unauthorised) => {
                        self.end_session()?;
                        Err(SdkError::Revoked)
                    }
                    other => other,
                }
            }
            other => other,
        }
    }

    /// Exchanges the refresh token, unless another call already did since `stale` failed.
    async fn refresh(&self, stale: &str) -> Result<()> {
        let _one_at_a_time = self.refresh_guard.lock().await;
        let refresh_token = {
            let local = self.local()?;
            let Some(session) = &local.session else {
                return Err(SdkError::Unauthorised);
            };
            if session.access_token != stale {
                return Ok(());
            }
            session.refresh_token.clone()
        };
        let body = json!({ "refresh_token": refresh_token });
        match self
            .api
            .json(Method::POST, "/api/v1/token/refresh", None, Some(&body))
            .await
        {
            Ok(tokens) => self.keep_tokens(&tokens),
            Err(SdkError::Unauthorised | SdkError::Refused { .. }) => {
                self.end_session()?;
                Err(SdkError::Revoked)
            }
            Err(other) => Err(other),
        }
    }

    /// The session is over for good: every key and file is destroyed.
    pub fn end_session(&self) -> Result<()> {
        self.local()?.wipe()?;
        self.emit(SdkEvent::Revoked);
        Ok(())
    }
}
