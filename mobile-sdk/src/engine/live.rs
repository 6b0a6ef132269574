//! Live mode: while the app is in the foreground, one WebSocket (`GET /api/v1/sync/ws`)
//! carries frames both ways. The device sends its frame (the "anything new?" frame when its
//! copies are current), applies every frame the server pushes, answers with its
//! acknowledgements, and sends queued intents as soon as they are queued. A dropped connection
//! is reopened after a growing pause; a `revoked` frame wipes the store and ends live mode.
//! Frames are compressed (the `gp-sync-deflate` subprotocol, each direction against its previous
//! frame) when the server selects it, plain otherwise.

use super::exchange::tell;
use crate::error::{Result, SdkError};
use crate::listener::SdkEvent;
use crate::model::SyncReport;
use crate::shared::Shared;
use futures_util::{SinkExt as _, StreamExt as _};
use std::sync::Arc;
use std::time::Duration;
use sync_protocol::Frame;
use sync_protocol::compressed::{CODING, Coding};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// Runs live mode until `stop` is notified or the device is revoked.
pub async fn run(shared: Arc<Shared>, stop: Arc<tokio::sync::Notify>) {
    let mut pause = Duration::from_secs(1);
    loop {
        let outcome = tokio::select! {
            outcome = connection(&shared) => outcome,
            () = stop.notified() => return,
        };
        shared.emit(SdkEvent::LiveConnection { connected: false });
        match outcome {
            Err(SdkError::Revoked) => return,
            Err(SdkError::Unauthorised) => {
                // Signed out: nothing to reconnect with.
                if shared.token().is_err() {
                    return;
                }
            }
            Ok(()) => pause = Duration::from_secs(1),
            Err(_) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = stop.notified() => return,
        }
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// Opens the WebSocket with a fresh access token (refreshing it first when the API says so),
/// offering compressed frames.
async fn open(shared: &Shared) -> Result<(Socket, Coding)> {
    // A cheap authenticated call refreshes an expired access token before the upgrade.
    super::exchange::refresh_profiles(shared).await?;
    let token = shared.token()?;
    let url = url::Url::parse(shared.api.base()).map_err(|_| SdkError::other("server_url"))?;
    let host = url
        .host_str()
        .ok_or_else(|| SdkError::other("server_url has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|_| SdkError::network("connect"))?;
    let tls = shared.config.tls(&[b"http/1.1"])?;
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|_| SdkError::other("server_url host"))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .map_err(|_| SdkError::network("tls"))?;
    let ws_url = format!("wss://{}{}", url.authority(), "/api/v1/sync/ws");
    let mut request = ws_url
        .into_client_request()
        .map_err(|_| SdkError::other("server_url"))?;
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| SdkError::other("token"))?;
    request.headers_mut().insert("authorization", bearer);
    request.headers_mut().insert(
        "sec-websocket-protocol",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static(CODING),
    );
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((socket, response)) => {
            let selected = response.headers().get("sec-websocket-protocol");
            let coding = Coding::for_protocol(selected.map(|v| v.as_bytes()));
            Ok((socket, coding))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response))
            if response.status().as_u16() == 401 =>
        {
            Err(SdkError::Unauthorised)
        }
        Err(_) => Err(SdkError::network("websocket")),
    }
}

/// One connection, until it closes.
async fn connection(shared: &Shared) -> Result<()> {
    let (mut socket, mut coding) = open(shared).await?;
    shared.emit(SdkEvent::LiveConnection { connected: true });
    {
        let _one_sync = shared.sync_guard.lock().await;
        let frame = {
            let mut local = shared.local()?;
            local.follow_profiles();
            local.peer.reconnect();
            local.outgoing()
        };
        send(&mut socket, &mut coding, &frame).await?;
    }
    loop {
        tokio::select! {
            message = socket.next() => {
                let Some(message) = message else { return Ok(()) };
                let bytes = match message.map_err(|_| SdkError::network("websocket"))? {
                    Message::Binary(bytes) => bytes,
                    Message::Close(_) => return Ok(()),
                    _ => continue,
                };
                let frame = coding
                    .decode(&bytes)
                    .map_err(|_| SdkError::other("the server sent a malformed frame"))?;
                let _one_sync = shared.sync_guard.lock().await;
                let applied = shared.local()?.apply(&frame)?;
                let revoked = applied.revoked;
                tell(shared, applied, &mut SyncReport::default());
                if revoked {
                    return Err(SdkError::Revoked);
                }
                let answer = shared.local()?.peer.outgoing();
                if !answer.documents.is_empty() {
                    send(&mut socket, &mut coding, &answer).await?;
                }
            }
            () = shared.poke.notified() => {
                let _one_sync = shared.sync_guard.lock().await;
                let frame = shared.local()?.outgoing();
                if !frame.is_empty() {
                    send(&mut socket, &mut coding, &frame).await?;
                }
            }
        }
    }
}

async fn send(socket: &mut Socket, coding: &mut Coding, frame: &Frame) -> Result<()> {
    socket
        .send(Message::Binary(coding.encode(frame).into()))
        .await
        .map_err(|_| SdkError::network("websocket"))
}
