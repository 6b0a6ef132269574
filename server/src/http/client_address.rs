//! The client's address, for rate limits and idempotency scoping. It is the connection's peer,
//! unless that peer is one of the configured `server.trusted_proxies` (a load balancer or
//! reverse proxy in front of the server): then it is the right-most address of
//! `X-Forwarded-For` that is not itself a trusted proxy. Addresses a client writes into the
//! header itself sit to the left of what the proxies appended, so they are never believed.

use super::AppState;
use crate::error::AppError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};

/// The address a request came from, as far as the server can trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
            .ok_or_else(|| AppError::internal("the connection's peer address is unknown"))?;
        Ok(Self(client_address(
            peer,
            &parts.headers,
            &state.config.server.trusted_proxies,
        )))
    }
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy, else the right-most
/// untrusted address in `X-Forwarded-For` (every header line, in order). A malformed entry
/// ends the walk: what lies to its left cannot be trusted either.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        let Ok(address) = entry.parse::<IpAddr>() else {
            break;
        };
        client = address;
        if !trusted.contains(&address) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const PROXY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));
    const INNER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 3));

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let peer: IpAddr = "198.51.100.7".parse().unwrap();
        let claimed = headers(&["203.0.113.9"]);
        assert_eq!(client_address(peer, &claimed, &[PROXY]), peer);
        assert_eq!(client_address(peer, &claimed, &[]), peer);
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_address_is_the_client() {
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        // The client claims to be someone else; the proxies append what they saw.
        let chain = headers(&["192.0.2.1, 203.0.113.9", "10.0.0.3"]);
        assert_eq!(client_address(PROXY, &chain, &[PROXY, INNER]), client);
        // With only the outer proxy trusted, the inner one is the client.
        assert_eq!(client_address(PROXY, &chain, &[PROXY]), INNER);
        // No header: the proxy itself.
        assert_eq!(client_address(PROXY, &HeaderMap::new(), &[PROXY]), PROXY);
        // A malformed entry stops the walk at the last good address.
        let broken = headers(&["203.0.113.9, not-an-address, 10.0.0.3"]);
        assert_eq!(client_address(PROXY, &broken, &[PROXY, INNER]), INNER);
    }
}
