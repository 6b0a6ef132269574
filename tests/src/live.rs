//! A live sync connection to the test server: the WebSocket endpoint over TLS, trusting the
//! test server's development certificate, with helpers to exchange frames until the server has
//! nothing more to say and to wait for pushes or the close frame. A connection may offer
//! compressed frames (`gp-sync-deflate`); it counts the bytes each way as they travel.

use crate::TestApp;
use sync_protocol::compressed::{CODING, Coding};
use sync_protocol::{DevicePeer, Frame};

/// A live sync connection over TLS to the test server.
pub struct Live {
    /// The WebSocket over TLS.
    socket:
        tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    /// Plain or compressed frames, as the server agreed.
    coding: Coding,
    /// Bytes of binary messages sent so far.
    sent: usize,
    /// Bytes of binary messages received so far.
    received: usize,
}

impl Live {
    /// Connects to the test server as the holder of `token`.
    pub async fn connect(app: &TestApp, token: &str) -> Self {
        Self::connect_to(app, &app.address, token).await
    }

    /// Connects to another node of the same deployment (`node` is its `https://` address).
    pub async fn connect_to(app: &TestApp, node: &str, token: &str) -> Self {
        let (tls, request) = upgrade_request(app, node, Some(token)).await;
        Self::upgrade(tls, request).await
    }

    /// Connects offering compressed frames; fails unless the server selects them.
    pub async fn connect_compressed(app: &TestApp, token: &str) -> Self {
        let (tls, mut request) = upgrade_request(app, &app.address, Some(token)).await;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", CODING.parse().unwrap());
        let live = Self::upgrade(tls, request).await;
        assert!(
            matches!(live.coding, Coding::Compressed { .. }),
            "the server selected gp-sync-deflate"
        );
        live
    }

    async fn upgrade(
        tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> Self {
        let (socket, response) = tokio_tungstenite::client_async(request, tls).await.unwrap();
        let coding = Coding::for_protocol(
            response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.as_bytes()),
        );
        Self {
            socket,
            coding,
            sent: 0,
            received: 0,
        }
    }

    /// Sends one frame.
    pub async fn send(&mut self, frame: &Frame) {
        let bytes = self.coding.encode(frame);
        self.send_bytes(bytes).await;
    }

    /// Sends one binary message as it is (for bytes that are not a well-made frame).
    pub async fn send_bytes(&mut self, bytes: Vec<u8>) {
        use futures_util::SinkExt;
        self.sent += bytes.len();
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::Binary(
                bytes.into(),
            ))
            .await
            .unwrap();
    }

    /// Sends a ping and waits (at most 10 s) for its pong, skipping frames: the server reads
    /// its socket in order, so every frame sent before has been handled by then.
    pub async fn handled(&mut self) {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        self.socket
            .send(Message::Ping(vec![1].into()))
            .await
            .unwrap();
        loop {
            let message =
                tokio::time::timeout(std::time::Duration::from_secs(10), self.socket.next())
                    .await
                    .expect("a pong within 10 s")
                    .expect("an open socket")
                    .unwrap();
            if matches!(message, Message::Pong(_)) {
                return;
            }
        }
    }

    /// Bytes of binary messages sent and received so far, as they travelled.
    pub fn bytes(&self) -> (usize, usize) {
        (self.sent, self.received)
    }

    /// The next frame, waiting at most `seconds`.
    pub async fn next(&mut self, seconds: u64) -> Option<Frame> {
        use futures_util::StreamExt;
        loop {
            let message =
                tokio::time::timeout(std::time::Duration::from_secs(seconds), self.socket.next())
                    .await
                    .ok()??
                    .ok()?;
            if let tokio_tungstenite::tungstenite::Message::Binary(bytes) = message {
                self.received += bytes.len();
                return Some(self.coding.decode(&bytes).unwrap());
            }
        }
    }

    /// The close frame's code and reason, skipping other messages, waiting at most `seconds`.
    pub async fn closed(&mut self, seconds: u64) -> Option<(u16, String)> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let message =
                tokio::time::timeout(std::time::Duration::from_secs(seconds), self.socket.next())
                    .await
                    .ok()??
                    .ok()?;
            if let Message::Close(frame) = message {
                return frame.map(|f| (u16::from(f.code), f.reason.to_string()));
            }
        }
    }

    /// Exchanges frames until the server has nothing more to say.
    pub async fn settle(&mut self, device: &mut DevicePeer) {
        for _ in 0..20 {
            let request = device.outgoing();
            if request.documents.is_empty() && request.intents.is_empty() {
                return;
            }
            self.send(&request).await;
            match self.next(2).await {
                Some(reply) => {
                    device.receive(&reply).unwrap();
                }
                None => return,
            }
        }
    }

    /// Takes pushes (settling after each) until `arrived` holds of the device; pushes for
    /// earlier changes may come first. Fails when no push comes for 10 seconds.
    pub async fn pushed_until(
        &mut self,
        device: &mut DevicePeer,
        arrived: impl Fn(&DevicePeer) -> bool,
    ) {
        while !arrived(device) {
            let frame = self.next(10).await.expect("a pushed frame");
            device.receive(&frame).unwrap();
            self.settle(device).await;
        }
    }
}

/// A TLS connection to `node` (an `https://` address of the test deployment, trusting its
/// development certificate) and the WebSocket upgrade request for the sync endpoint, with a
/// bearer token when one is given.
pub async fn upgrade_request(
    app: &TestApp,
    node: &str,
    token: Option<&str>,
) -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    tokio_tungstenite::tungstenite::handshake::client::Request,
) {
    use rustls::pki_types::pem::PemObject;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(&app.certificate_pem).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let address = node.trim_start_matches("https://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let mut request = format!("wss://{address}/api/v1/sync/ws")
        .into_client_request()
        .unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    (tls, request)
}
