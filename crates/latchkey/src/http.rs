//! HTTP pieces shared by the native API and every dialect: the application state, reading
//! the bearer token and the client's address. No rule lives here.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::core::model::ClientInfo;
use crate::core::roles::RoleIds;
use crate::core::Latchkey;

#[derive(Clone)]
pub struct AppState {
    pub svc: Arc<Latchkey>,
    pub metrics: PrometheusHandle,
    /// Peers whose `X-Forwarded-For` is believed (reverse proxies, load balancers).
    pub trusted_proxies: Arc<[IpAddr]>,
    /// citizen-portal's role-id namespace.
    pub citizen_portal_role_ids: Arc<RoleIds>,
    /// Where browsers and clients reach Latchkey (no trailing slash): every absolute link
    /// Latchkey gives out starts with it.
    pub public_url: Arc<str>,
    /// Where the hosted pages are (they yield their usual paths to a dialect mounted at the
    /// root that serves the same ones).
    pub pages: Arc<crate::pages::PagePaths>,
    /// The effective configuration, secrets left out (the console's settings page).
    pub settings: Arc<[Setting]>,
}

/// One option of the running configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// `--listen`.
    pub option: String,
    /// `LATCHKEY_LISTEN`, where the option has one.
    pub env: Option<String>,
    /// The value, with any password or key replaced by `(set, not shown)`.
    pub value: String,
    /// `default`, `environment` or `command line`.
    pub source: &'static str,
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive), if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The body's media type without parameters (`application/json; charset=utf-8` is
/// `application/json`); compare it ignoring ASCII case.
pub fn media_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
}

/// Is the body `application/x-www-form-urlencoded` (parameters ignored, case-insensitive)?
pub fn is_form(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| m.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// Where a request came from: the socket peer — or, when the peer is a trusted proxy, the
/// nearest address in `X-Forwarded-For` that is not one — and the User-Agent (bounded).
pub fn client_info(parts: &Parts, trusted: &[IpAddr]) -> ClientInfo {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical());
    let ip = match peer {
        Some(p) if trusted.contains(&p) => {
            Some(forwarded_client(&parts.headers, trusted).unwrap_or(p))
        }
        other => other,
    }
    .map(|ip| ip.to_string());
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect());
    ClientInfo { ip, user_agent }
}

/// Walks `X-Forwarded-For` from the right (the hop nearest to us), skipping trusted proxies.
/// An entry that is not an address stops the walk: what lies left of it cannot be trusted.
fn forwarded_client(headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        let ip: IpAddr = hop.parse().ok()?;
        let ip = ip.to_canonical();
        if !trusted.contains(&ip) {
            return Some(ip);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_addresses_are_read_from_the_nearest_hop() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 5.6.7.8, 10.0.0.1"),
        );
        assert_eq!(
            forwarded_client(&h, &[proxy]),
            Some("5.6.7.8".parse().unwrap())
        );
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("garbage, 5.6.7.8"),
        );
        assert_eq!(
            forwarded_client(&h, &[proxy]),
            Some("5.6.7.8".parse().unwrap())
        );
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        assert_eq!(forwarded_client(&h, &[proxy]), None);
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&h), None);
    }
}
