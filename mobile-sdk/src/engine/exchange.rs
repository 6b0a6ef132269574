//! The batch sync: `POST /api/v1/sync` frames until neither side has anything to say. Each
//! reply is applied (and saved) before the next frame is built, so a sync interrupted at any
//! point resumes from what was saved.

use super::Applied;
use crate::error::{Result, SdkError};
use crate::listener::SdkEvent;
use crate::model::{Profile, SyncReport};
use crate::shared::Shared;
use reqwest::Method;
use sync_protocol::Frame;

/// Most round trips of one sync (a new device needs two or three).
const MAX_ROUNDS: u32 = 32;

/// Reads the profiles from `GET /api/v1/me` and keeps them.
pub async fn refresh_profiles(shared: &Shared) -> Result<Vec<Profile>> {
    let api = &shared.api;
    let me = shared
        .authed(|token| async move {
            api.json(Method::GET, "/api/v1/me", Some(&token), None)
                .await
        })
        .await?;
    let profiles: Vec<Profile> = serde_json::from_value(me["profiles"].clone())
        .map_err(|_| SdkError::other("the profiles are malformed"))?;
    shared.local()?.set_profiles(profiles.clone())?;
    Ok(profiles)
}

/// Tells the listener what a frame did and adds it to the report.
pub fn tell(shared: &Shared, applied: Applied, report: &mut SyncReport) {
    for document in applied.changed {
        shared.emit(SdkEvent::DocumentChanged {
            document: document.clone(),
        });
        if !report.changed.contains(&document) {
            report.changed.push(document);
        }
    }
    for document in applied.destroyed {
        shared.emit(SdkEvent::DocumentDestroyed {
            document: document.clone(),
        });
        report.destroyed.push(document);
    }
    for result in applied.settled {
        shared.emit(SdkEvent::IntentSettled {
            result: result.clone(),
        });
        report.settled.push(result);
    }
    if applied.revoked {
        shared.emit(SdkEvent::Revoked);
    }
}

/// Syncs every followed document and sends every queued intent, until quiet.
pub async fn sync_now(shared: &Shared) -> Result<SyncReport> {
    let _one_sync = shared.sync_guard.lock().await;
    refresh_profiles(shared).await?;
    {
        let mut local = shared.local()?;
        local.follow_profiles();
        local.peer.reconnect();
    }
    let mut report = SyncReport::default();
    let api = &shared.api;
    for round in 1..=MAX_ROUNDS {
        let request = shared.local()?.outgoing();
        let sent_documents = !request.documents.is_empty();
        let bytes = request.encode();
        let reply = shared
            .authed(|token| {
                let bytes = bytes.clone();
                async move { api.sync(&token, bytes).await }
            })
            .await?;
        let reply = Frame::decode(&reply)
            .map_err(|_| SdkError::other("the server sent a malformed frame"))?;
        let applied = shared.local()?.apply(&reply)?;
        let revoked = applied.revoked;
        tell(shared, applied, &mut report);
        report.rounds = round;
        if revoked {
            return Err(SdkError::Revoked);
        }
        let quiet = reply.documents.is_empty() && reply.outcomes.is_empty();
        let done = quiet && !sent_documents;
        shared.emit(SdkEvent::SyncProgress { round, done });
        if done {
            return Ok(report);
        }
    }
    Ok(report)
}
