//! HTTP pieces shared by the native API and every dialect: the application state, reading
//! the bearer token and the client's address. No rule lives here.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::core::model::ClientInfo;
use crate::core::roles::RoleIds;
use crate::core::Latchkey;
use crate::proxy::Proxies;

#[derive(Clone)]
pub struct AppState {
    pub svc: Arc<Latchkey>,
    pub metrics: PrometheusHandle,
    /// Peers whose `X-Forwarded-For` is believed (reverse proxies, load balancers).
    pub trusted_proxies: Arc<Proxies>,
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
/// rightmost address in `X-Forwarded-For` that is not one ([`Proxies::client`]) — and the
/// User-Agent (bounded).
pub fn client_info(parts: &Parts, proxies: &Proxies) -> ClientInfo {
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| proxies.client(addr.ip(), &parts.headers).to_string());
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect());
    ClientInfo { ip, user_agent }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
