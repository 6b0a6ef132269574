//! The sync transports (see `sync-protocol/PROTOCOL.md`): `POST /api/v1/sync`, one CBOR frame
//! in and one out; and `GET /api/v1/sync/ws`, a WebSocket carrying the same frames both ways,
//! where the server also pushes changes to followed documents and closes the socket with a
//! `revoked` frame when the session or device is revoked. Both carry compressed frames
//! (`sync_protocol::compressed`) when the device asks: over POST by `Content-Encoding` and
//! `Accept-Encoding: gp-sync-deflate`, over the WebSocket by that subprotocol.

use super::AppState;
use super::auth::AccountSession;
use crate::error::{AppError, ErrorCode};
use crate::sync::exchange::{self, Syncer};
use crate::sync::live::{Announcement, Followed};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sync_protocol::Frame;
use sync_protocol::compressed::{CODING, Coding};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sync_batch))
        .routes(routes!(sync_live))
}

/// Exchanges one sync frame.
#[utoipa::path(post, path = "/api/v1/sync", tag = "sync",
    request_body(content = Vec<u8>, content_type = "application/cbor",
        description = "A frame: CBOR, or with `Content-Encoding: gp-sync-deflate` its CBOR as a raw DEFLATE stream with the protocol's static dictionary"),
    params(("Content-Encoding" = Option<String>, Header, description = "`gp-sync-deflate`: the body is a compressed frame"),
           ("Accept-Encoding" = Option<String>, Header, description = "naming `gp-sync-deflate`: the reply is a compressed frame, with that `Content-Encoding`")),
    responses((status = 200, description = "A frame", content_type = "application/cbor"),
              (status = 400, body = super::error::Problem), (status = 401, body = super::error::Problem),
              (status = 422, description = "A sync message or compressed frame refused (`sync_message_refused`)", body = super::error::Problem)),
    security(("bearer" = [])))]
async fn sync_batch(
    State(state): State<AppState>,
    session: AccountSession,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let is_cbor = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/cbor"));
    if !is_cbor {
        return Err(AppError::new(ErrorCode::MalformedRequest)
            .with_detail("expected Content-Type: application/cbor"));
    }
    let frame = if names_coding(&headers, header::CONTENT_ENCODING) {
        crate::sync::live::decode_frame(&crate::sync::live::inflate_request(&body)?)?
    } else {
        crate::sync::live::decode_frame(&body)?
    };
    let max = state.config.sync.max_followed_documents;
    if frame.documents.len() > max {
        return Err(crate::sync::live::too_many(max));
    }
    let syncer = Syncer {
        holder: session.holder(),
        device_id: session.device_id,
    };
    // Boxed: the exchange future holds automerge documents across awaits.
    let reply = Box::pin(exchange::handle(
        &state.db,
        syncer,
        &frame,
        &state.config.sync,
        state.clock.now(),
    ))
    .await?;
    let cbor = reply.encode();
    let vary = (header::VARY, HeaderValue::from_static("accept-encoding"));
    let content_type = (
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/cbor"),
    );
    if names_coding(&headers, header::ACCEPT_ENCODING) {
        // A reply with its own Content-Encoding is never wrapped again by the gzip layer.
        let compressed = sync_protocol::compressed::compress(&cbor, None);
        let coding = (header::CONTENT_ENCODING, HeaderValue::from_static(CODING));
        Ok(([content_type, coding, vary], compressed).into_response())
    } else {
        Ok(([content_type, vary], cbor).into_response())
    }
}

/// Whether the header `name` lists the compressed-frame coding (`gp-sync-deflate`, not with
/// `q=0`).
fn names_coding(headers: &HeaderMap, name: header::HeaderName) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let named = parts
                .next()
                .is_some_and(|coding| coding.eq_ignore_ascii_case(CODING));
            let refused = parts.any(|p| p.replace(' ', "").eq_ignore_ascii_case("q=0"));
            named && !refused
        })
}

/// How often a live connection re-checks that its session and device are still valid even
/// when nothing was announced (an idle or absolute session limit passing); a revocation through
/// the API is announced and checked at once.
const SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// Live sync over a WebSocket: binary messages are frames, both ways.
#[utoipa::path(get, path = "/api/v1/sync/ws", tag = "sync",
    responses((status = 101, description = "Switching to the WebSocket protocol"),
              (status = 401, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn sync_live(
    State(state): State<AppState>,
    session: AccountSession,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> impl IntoResponse {
    // Small buffers keep an idle connection to a few KiB: the read buffer is zero-filled up
    // to its size before every read, so each connection holds all of it, and 1 KiB reads cost
    // little (the TLS layer has already decrypted what is read). Frames are capped at the
    // protocol's limit rather than the library's 64 MiB default.
    // A device that offers `gp-sync-deflate` gets it: compressed frames both ways.
    upgrade
        .protocols([CODING])
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(sync_protocol::envelope::MAX_FRAME_BYTES)
        .max_frame_size(sync_protocol::envelope::MAX_FRAME_BYTES)
        .on_upgrade(move |socket| live(state, session, socket))
}

async fn live(state: AppState, session: AccountSession, mut socket: axum::extract::ws::WebSocket) {
    use axum::extract::ws::Message;
    use tokio::sync::broadcast::error::RecvError;
    let syncer = Syncer {
        holder: session.holder(),
        device_id: session.device_id,
    };
    // Nothing is kept for compression until frames flow: an idle socket stays small.
    let mut coding = Coding::for_protocol(socket.protocol().map(HeaderValue::as_bytes));
    let mut followed = Followed::new(state.config.sync.max_followed_documents);
    let mut announcements = state.hub.subscribe();
    let mut check = tokio::time::interval(SESSION_CHECK);
    // Every await below the `select!` is boxed: its future (database reads, a send) is allocated
    // only while it runs, so the task of an idle connection holds no more than what it waits on
    // (the socket, the announcements, the session check). Unboxed, those futures were part of
    // the task's own allocation for the connection's whole life: about 5.8 KiB of each idle
    // socket's 18 KiB.
    loop {
        let reply = tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Binary(bytes))) => match coding.decode(&bytes) {
                    Ok(frame) => {
                        // "Anything new?" (no documents) asks about, and so follows, every
                        // document the device has synced.
                        let named = if frame.documents.is_empty() {
                            Box::pin(exchange::synced(&state.db, syncer.device_id)).await
                        } else {
                            Ok(frame.documents.iter().map(|d| d.document).collect())
                        };
                        if let Err(error) = named.and_then(|named| followed.follow(named)) {
                            Box::pin(close_failed(&mut socket, &error)).await;
                            break;
                        }
                        // An acknowledgement of what this connection pushed keeps the
                        // device's sync state and reads nothing else.
                        let reply = match followed.acknowledged(&frame, &state.config.sync) {
                            Ok(Some(acknowledged)) => Box::pin(exchange::keep_acknowledged(&state.live_writes, syncer.device_id, &acknowledged, state.clock.now())).await.map(|()| Frame::new()),
                            Ok(None) => Box::pin(exchange::handle(&state.db, syncer, &frame, &state.config.sync, state.clock.now())).await,
                            Err(refused) => Err(refused),
                        };
                        if writes(&frame) {
                            state.hub.wake_relay();
                        }
                        reply
                    }
                    // Not a frame, or compressed bytes refused: said in the close frame.
                    Err(error) => Err(crate::sync::live::refused(error)),
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
            announced = announcements.recv() => {
                let documents: Vec<_> = match announced {
                    Ok(Announcement::Patient(patient)) => followed.of_patient(patient),
                    Ok(Announcement::SignedOut(account)) => {
                        if account == session.account_id && !Box::pin(still_live(&state, &session)).await {
                            Box::pin(close_revoked(&mut socket, &mut coding)).await;
                            break;
                        }
                        continue;
                    }
                    // Missed announcements: bring everything followed up to date, and make
                    // sure a sign-out among them is not missed.
                    Err(RecvError::Lagged(_)) => {
                        if !Box::pin(still_live(&state, &session)).await {
                            Box::pin(close_revoked(&mut socket, &mut coding)).await;
                            break;
                        }
                        followed.all()
                    }
                    Err(RecvError::Closed) => break,
                };
                // Only documents whose copy for this viewer moved since they were last pushed.
                let (documents, seen) = match Box::pin(followed.changed(&state.db, &syncer.holder, documents, state.clock.now())).await {
                    Ok(changed) => changed,
                    Err(error) => {
                        tracing::warn!(code = error.code().as_str(), "live sync could not read document versions");
                        continue;
                    }
                };
                if documents.is_empty() {
                    continue;
                }
                Box::pin(exchange::push(&state.db, &state.live_writes, syncer, &documents, &state.config.sync, seen, state.clock.now())).await
            }
            _ = check.tick() => {
                if Box::pin(still_live(&state, &session)).await {
                    continue;
                }
                Box::pin(close_revoked(&mut socket, &mut coding)).await;
                break;
            }
        };
        if let Ok(frame) = &reply {
            // A removed document is said once: the connection stops following it.
            followed.forget_removed(frame);
        }
        match reply {
            Ok(frame) if frame.is_empty() => {}
            Ok(frame) => {
                if Box::pin(socket.send(Message::Binary(coding.encode(&frame).into())))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(code = error.code().as_str(), "live sync exchange failed");
                Box::pin(close_failed(&mut socket, &error)).await;
                break;
            }
        }
    }
}

/// Whether a device's frame may have written (intents, or changes to the personal document), so
/// the relay should look for outbox rows now (the POST route is woken by the HTTP layer).
fn writes(frame: &Frame) -> bool {
    !frame.intents.is_empty()
        || frame
            .documents
            .iter()
            .any(|d| d.document.section == sync_protocol::Section::Personal)
}

/// Whether the connection's session and device are still valid (a database error keeps the
/// connection: the next check decides).
async fn still_live(state: &AppState, session: &AccountSession) -> bool {
    crate::identity::sessions::is_live(&state.db, session.session_id, state.clock.now())
        .await
        .unwrap_or(true)
}

/// Closes the socket after a failed exchange, saying why: a refused frame (a sync message the
/// guard refused, or any other request error) closes with 1008 (policy violation), a fault of
/// the server's with 1011; the reason is the error's stable code, and for a refused sync message
/// `sync_message_refused: ` and the refusal's reason.
async fn close_failed(socket: &mut axum::extract::ws::WebSocket, error: &AppError) {
    use axum::extract::ws::{CloseFrame, Message};
    let code = if error.code().status().is_client_error() {
        1008
    } else {
        1011
    };
    let reason = match (error.code(), &error.detail) {
        (ErrorCode::SyncMessageRefused, Some(detail)) => {
            format!("{}: {detail}", error.code().as_str())
        }
        (code, _) => code.as_str().to_owned(),
    };
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// Sends the `revoked` frame (the device wipes what it holds) and closes.
async fn close_revoked(socket: &mut axum::extract::ws::WebSocket, coding: &mut Coding) {
    use axum::extract::ws::Message;
    let revoked = Frame {
        revoked: true,
        ..Frame::new()
    };
    let _ = socket
        .send(Message::Binary(coding.encode(&revoked).into()))
        .await;
    let _ = socket.send(Message::Close(None)).await;
}
