//! Registered OAuth clients: what a client is, and what a valid registration is.
//!
//! A confidential client has a secret: 256 random bits, shown once, stored as a SHA-256
//! digest (a slow hash adds nothing to a random secret) and compared in constant time. A
//! public client (a browser or mobile app) has none and must use PKCE.

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult, Reason};
use crate::model::Timestamp;

/// The grant types a client may be registered for (OAuth 2.1: no implicit, no password).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "refresh_token" => Some(GrantType::RefreshToken),
            "client_credentials" => Some(GrantType::ClientCredentials),
            _ => None,
        }
    }
}

/// How a client's ID tokens are signed (`id_token_signed_response_alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum IdTokenAlg {
    #[default]
    RS256,
    ES256,
    EdDSA,
}

impl IdTokenAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            IdTokenAlg::RS256 => "RS256",
            IdTokenAlg::ES256 => "ES256",
            IdTokenAlg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(IdTokenAlg::RS256),
            "ES256" => Some(IdTokenAlg::ES256),
            "EdDSA" => Some(IdTokenAlg::EdDSA),
            _ => None,
        }
    }
}

/// The scopes of OpenID Connect that Latchkey serves; a client may also register API scopes
/// of its own for the client-credentials grant.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access", "roles"];

/// A registered client as the core and the admin API see it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// Public clients have no secret and must use PKCE.
    pub public: bool,
    pub has_secret: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    /// First-party clients skip the consent page.
    pub first_party: bool,
    pub id_token_alg: IdTokenAlg,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Client {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// A registration as an edge asks for it; `None` takes the default.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub first_party: bool,
    pub id_token_alg: Option<String>,
}

/// A change to a registration; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub first_party: Option<bool>,
    pub id_token_alg: Option<String>,
}

const MAX_URIS: usize = 20;
const MAX_URI_BYTES: usize = 2048;
const MAX_SCOPES: usize = 50;

fn invalid(field: &'static str, reason: Reason) -> CoreError {
    CoreError::invalid(field, reason)
}

/// A client's display name: 1..=128 characters, no control characters.
pub fn client_name(raw: &str) -> CoreResult<String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(invalid("name", Reason::Empty));
    }
    if s.chars().count() > 128 {
        return Err(invalid("name", Reason::TooLong { max: 128 }));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid("name", Reason::ControlCharacters));
    }
    Ok(s.to_owned())
}

/// Is `host` this machine (where plain http is acceptable, RFC 8252 §7.3)?
fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}

/// A redirect URI as it will be compared: exactly, byte for byte (OAuth 2.1 §2.3.1). It is
/// absolute, has no fragment, and is `https`, `http` on a loopback host, or — for public
/// clients (native apps, RFC 8252 §7.1) — a private-use scheme with a dot in it.
pub fn redirect_uri(field: &'static str, raw: &str, public: bool) -> CoreResult<String> {
    let bad = || invalid(field, Reason::UriMalformed);
    if raw.is_empty() || raw.len() > MAX_URI_BYTES || raw.trim() != raw {
        return Err(bad());
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) || raw.contains('#') {
        return Err(bad());
    }
    let (scheme, rest) = raw.split_once(':').ok_or_else(bad)?;
    let scheme_ok = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(bad());
    }
    match scheme {
        "https" | "http" => {
            let rest = rest.strip_prefix("//").ok_or_else(bad)?;
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            if authority.is_empty() || authority.contains('@') {
                return Err(bad());
            }
            let host = if authority.starts_with('[') {
                authority.split_inclusive(']').next().unwrap_or("")
            } else {
                authority.split(':').next().unwrap_or("")
            };
            if host.is_empty() {
                return Err(bad());
            }
            if scheme == "http" && !is_loopback(host) {
                return Err(invalid(field, Reason::UriInsecure));
            }
        }
        _ if public && scheme.contains('.') && !rest.is_empty() => {}
        _ => return Err(invalid(field, Reason::UriInsecure)),
    }
    Ok(raw.to_owned())
}

fn uris(field: &'static str, raw: &[String], public: bool) -> CoreResult<Vec<String>> {
    if raw.len() > MAX_URIS {
        return Err(invalid(field, Reason::TooMany { max: MAX_URIS }));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for u in raw {
        let u = redirect_uri(field, u, public)?;
        if !out.contains(&u) {
            out.push(u);
        }
    }
    Ok(out)
}

/// A scope name (RFC 6749 §3.3: printable ASCII but space, `"` and `\`), at most 128 bytes.
pub fn scope_name(raw: &str) -> CoreResult<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 128
        && raw
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(invalid("scope", Reason::ScopeFormat))
    }
}

fn scopes(raw: &[String]) -> CoreResult<Vec<String>> {
    if raw.len() > MAX_SCOPES {
        return Err(invalid("scope", Reason::TooMany { max: MAX_SCOPES }));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for s in raw {
        let s = scope_name(s)?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

fn grant_types(raw: &[String]) -> CoreResult<Vec<GrantType>> {
    let mut out = Vec::with_capacity(raw.len());
    for g in raw {
        let g = GrantType::parse(g).ok_or(invalid("grant_type", Reason::UnsupportedGrant))?;
        if !out.contains(&g) {
            out.push(g);
        }
    }
    if out.is_empty() {
        return Err(invalid("grant_type", Reason::Empty));
    }
    Ok(out)
}

/// The registration's fields, checked together: what one grant type needs of the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub name: String,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub id_token_alg: IdTokenAlg,
}

impl Registration {
    /// A new registration with the defaults: grant types `authorization_code` and
    /// `refresh_token`, the OpenID scopes, ID tokens signed RS256.
    pub fn new(c: &NewClient) -> CoreResult<Self> {
        let default_grants =
            [GrantType::AuthorizationCode, GrantType::RefreshToken].map(|g| g.as_str().to_owned());
        let r = Registration {
            name: client_name(&c.name)?,
            public: c.public,
            redirect_uris: uris("redirect_uri", &c.redirect_uris, c.public)?,
            post_logout_redirect_uris: uris(
                "post_logout_redirect_uri",
                &c.post_logout_redirect_uris,
                c.public,
            )?,
            grant_types: grant_types(c.grant_types.as_deref().unwrap_or(&default_grants))?,
            scopes: match &c.scopes {
                Some(s) => scopes(s)?,
                None => OIDC_SCOPES.iter().map(|s| s.to_string()).collect(),
            },
            first_party: c.first_party,
            id_token_alg: alg(c.id_token_alg.as_deref())?.unwrap_or_default(),
        };
        r.check()
    }

    /// `current` with `patch` applied, checked as a whole.
    pub fn patched(current: &Client, patch: &ClientPatch) -> CoreResult<Self> {
        let public = current.public;
        let r = Registration {
            name: match &patch.name {
                Some(n) => client_name(n)?,
                None => current.name.clone(),
            },
            public,
            redirect_uris: match &patch.redirect_uris {
                Some(u) => uris("redirect_uri", u, public)?,
                None => current.redirect_uris.clone(),
            },
            post_logout_redirect_uris: match &patch.post_logout_redirect_uris {
                Some(u) => uris("post_logout_redirect_uri", u, public)?,
                None => current.post_logout_redirect_uris.clone(),
            },
            grant_types: match &patch.grant_types {
                Some(g) => grant_types(g)?,
                None => current.grant_types.clone(),
            },
            scopes: match &patch.scopes {
                Some(s) => scopes(s)?,
                None => current.scopes.clone(),
            },
            first_party: patch.first_party.unwrap_or(current.first_party),
            id_token_alg: alg(patch.id_token_alg.as_deref())?.unwrap_or(current.id_token_alg),
        };
        r.check()
    }

    fn check(self) -> CoreResult<Self> {
        let code = self.grant_types.contains(&GrantType::AuthorizationCode);
        if code && self.redirect_uris.is_empty() {
            return Err(invalid(
                "redirect_uri",
                Reason::RequiredFor("authorization_code"),
            ));
        }
        if self.grant_types.contains(&GrantType::RefreshToken) && !code {
            return Err(invalid("grant_type", Reason::RequiredFor("refresh_token")));
        }
        if self.public && self.grant_types.contains(&GrantType::ClientCredentials) {
            return Err(invalid("grant_type", Reason::PublicClientCredentials));
        }
        Ok(self)
    }
}

fn alg(raw: Option<&str>) -> CoreResult<Option<IdTokenAlg>> {
    raw.map(|a| {
        IdTokenAlg::parse(a).ok_or(invalid(
            "id_token_signed_response_alg",
            Reason::UnsupportedAlg,
        ))
    })
    .transpose()
}

/// A new client id: `lk_` and 128 random bits, base64url.
pub fn new_client_id() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "lk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_absolute_without_fragments_and_secure() {
        for ok in [
            "https://app.example.com/cb",
            "https://app.example.com:8443/cb?x=1",
            "http://localhost:3000/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
        ] {
            assert_eq!(redirect_uri("r", ok, false).unwrap(), ok);
        }
        for bad in [
            "",
            "/relative",
            "https://app.example.com/cb#frag",
            "https:///nohost",
            "https://user@app.example.com/",
            " https://app.example.com/cb",
            "javascript:alert(1)",
        ] {
            assert!(redirect_uri("r", bad, false).is_err(), "{bad}");
        }
        assert!(redirect_uri("r", "http://app.example.com/cb", false).is_err());
        // Private-use schemes for native apps, public clients only.
        assert!(redirect_uri("r", "com.example.app:/cb", true).is_ok());
        assert!(redirect_uri("r", "com.example.app:/cb", false).is_err());
        assert!(redirect_uri("r", "myapp:/cb", true).is_err());
    }

    #[test]
    fn registrations_hold_together() {
        let base = NewClient {
            name: "App".into(),
            redirect_uris: vec!["https://a.example/cb".into()],
            ..Default::default()
        };
        let r = Registration::new(&base).unwrap();
        assert_eq!(
            r.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(r.scopes, OIDC_SCOPES);
        assert_eq!(r.id_token_alg, IdTokenAlg::RS256);
        let no_uri = NewClient {
            redirect_uris: vec![],
            ..base.clone()
        };
        assert!(Registration::new(&no_uri).is_err());
        let machine = NewClient {
            redirect_uris: vec![],
            grant_types: Some(vec!["client_credentials".into()]),
            scopes: Some(vec!["reports:read".into()]),
            ..base.clone()
        };
        assert!(Registration::new(&machine).is_ok());
        let public_machine = NewClient {
            public: true,
            ..machine.clone()
        };
        assert!(Registration::new(&public_machine).is_err());
        let implicit = NewClient {
            grant_types: Some(vec!["implicit".into()]),
            ..base.clone()
        };
        assert!(Registration::new(&implicit).is_err());
        let bad_scope = NewClient {
            scopes: Some(vec!["has space".into()]),
            ..base
        };
        assert!(Registration::new(&bad_scope).is_err());
        assert!(new_client_id().starts_with("lk_"));
        assert_ne!(new_client_id(), new_client_id());
    }
}
