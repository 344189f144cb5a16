//! The authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1) as the
//! provider accepts it: parsed once from the query, checked against the client's
//! registration, and answered either with a redirect to the client or — when the client or
//! its redirect URI cannot be trusted — with the provider's own error page (never an open
//! redirect).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::clients::OIDC_SCOPES;
use super::{Client, GrantType};

/// The longest `state` and `nonce` accepted (they travel back in URLs and tokens).
pub const MAX_STATE: usize = 1024;
pub const MAX_NONCE: usize = 512;

/// `prompt` (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A checked authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// Requested scopes, each registered for the client, in order, without repeats.
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
}

impl AuthorizationRequest {
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    pub fn has_scope(&self, s: &str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }
}

/// Why a request was refused, and where the refusal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or the redirect URI is not trustworthy: the provider's own error page.
    Page(&'static str),
    /// Back to the client's redirect URI (RFC 6749 §4.1.2.1).
    Redirect {
        redirect_uri: String,
        error: &'static str,
        description: &'static str,
        state: Option<String>,
    },
}

/// One parameter of the query, at most once.
fn single<'a>(params: &'a [(String, String)], k: &str) -> Result<Option<&'a str>, ()> {
    let mut it = params.iter().filter(|(p, _)| p == k);
    let first = it.next().map(|(_, v)| v.as_str());
    if it.next().is_some() {
        return Err(());
    }
    Ok(first.filter(|v| !v.is_empty()))
}

/// A PKCE code challenge: the base64url SHA-256 of a 43–128 character verifier, so exactly
/// 43 base64url characters (RFC 7636 §4.2).
fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Does `verifier` answer `challenge` (`S256`)? A verifier is 43–128 unreserved characters
/// (RFC 7636 §4.1); the comparison is constant-time.
pub fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return false;
    }
    use base64::Engine;
    let derived = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    bool::from(derived.as_bytes().ct_eq(challenge.as_bytes()))
}

/// Parses and checks an authorization request against `client` (`None`: no such client).
/// The order is RFC 6749's: until the client and its redirect URI are known good, nothing
/// is sent anywhere but the error page.
pub fn check_request(
    params: &[(String, String)],
    client: Option<&Client>,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let page = AuthorizeError::Page;
    let get = |k: &str| single(params, k);
    let client_id = get("client_id").map_err(|_| page("client_id is repeated"))?;
    let Some(client_id) = client_id else {
        return Err(page("client_id is missing"));
    };
    let Some(client) = client.filter(|c| c.id == client_id) else {
        return Err(page("the client is not registered"));
    };
    let redirect_uri = get("redirect_uri")
        .map_err(|_| page("redirect_uri is repeated"))?
        .ok_or(page("redirect_uri is missing"))?;
    // Exactly as registered: no prefix, case or trailing-slash leniency.
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(page("redirect_uri is not one registered for this client"));
    }
    let state = get("state").ok().flatten().map(str::to_owned);
    let fail = |error: &'static str, description: &'static str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        error,
        description,
        state: state.clone().filter(|s| s.len() <= MAX_STATE),
    };
    let invalid = |d: &'static str| fail("invalid_request", d);
    let mut seen: Vec<&str> = Vec::new();
    for (k, _) in params {
        if seen.contains(&k.as_str()) {
            return Err(invalid("a parameter is repeated"));
        }
        seen.push(k);
    }
    if params
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(invalid("a parameter holds a NUL character"));
    }
    if state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
        return Err(invalid("state is too long"));
    }
    if get("request").ok().flatten().is_some() {
        return Err(fail(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if get("request_uri").ok().flatten().is_some() {
        return Err(fail(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match get("response_type").ok().flatten() {
        None => return Err(invalid("response_type is missing")),
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                "unsupported_response_type",
                "response_type must be code",
            ))
        }
    }
    if let Some(m) = get("response_mode").ok().flatten() {
        if m != "query" {
            return Err(invalid("response_mode must be query"));
        }
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(fail(
            "unauthorized_client",
            "the client is not registered for the authorization code grant",
        ));
    }
    let Some(scope) = get("scope").ok().flatten() else {
        return Err(invalid("scope is missing"));
    };
    let mut scopes: Vec<String> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !client.scopes.iter().any(|r| r == s) || !OIDC_SCOPES.contains(&s) {
            return Err(fail(
                "invalid_scope",
                "a requested scope is not registered for this client",
            ));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err(invalid("scope is missing"));
    }
    let code_challenge = get("code_challenge").ok().flatten();
    let method = get("code_challenge_method").ok().flatten();
    let code_challenge = match (code_challenge, method) {
        (None, None) if client.public => {
            return Err(invalid("PKCE is required: send code_challenge with S256"))
        }
        (None, None) => None,
        (None, Some(_)) => return Err(invalid("code_challenge is missing")),
        (Some(_), None | Some("plain")) => {
            return Err(invalid("code_challenge_method must be S256"))
        }
        (Some(c), Some("S256")) if valid_challenge(c) => Some(c.to_owned()),
        (Some(_), Some("S256")) => return Err(invalid("code_challenge is malformed")),
        (Some(_), Some(_)) => return Err(invalid("code_challenge_method must be S256")),
    };
    let nonce = get("nonce").ok().flatten().map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE) {
        return Err(invalid("nonce is too long"));
    }
    let mut prompt = Prompt::default();
    if let Some(p) = get("prompt").ok().flatten() {
        for v in p.split(' ').filter(|v| !v.is_empty()) {
            match v {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                _ => return Err(invalid("prompt has an unknown value")),
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(invalid("prompt=none cannot be combined"));
        }
    }
    let max_age = match get("max_age").ok().flatten() {
        None => None,
        Some(m) => Some(
            m.parse::<u64>()
                .map_err(|_| invalid("max_age must be a number of seconds"))?,
        ),
    };
    let login_hint = get("login_hint")
        .ok()
        .flatten()
        .filter(|h| h.len() <= 256)
        .map(str::to_owned);
    Ok(AuthorizationRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint,
    })
}

/// `redirect_uri` with `params` added to its query (it may already have one).
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut q = serde_urlencoded::to_string(params).unwrap_or_default();
    if q.is_empty() {
        return redirect_uri.to_owned();
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    q.insert(0, sep);
    format!("{redirect_uri}{q}")
}

impl AuthorizeError {
    /// The redirect that carries this refusal, with `iss` (RFC 9207), or `None` for the page.
    pub fn redirect(&self, issuer: &str) -> Option<String> {
        match self {
            AuthorizeError::Page(_) => None,
            AuthorizeError::Redirect {
                redirect_uri,
                error,
                description,
                state,
            } => {
                let mut p: Vec<(&str, &str)> =
                    vec![("error", error), ("error_description", description)];
                if let Some(s) = state {
                    p.push(("state", s));
                }
                p.push(("iss", issuer));
                Some(redirect_with(redirect_uri, &p))
            }
        }
    }
}

/// Scopes in plain words, for the consent page.
pub fn describe_scope(s: &str) -> &'static str {
    match s {
        "openid" => "Know who you are (your account id)",
        "profile" => "See your name and username",
        "email" => "See your email address",
        "roles" => "See your roles",
        "offline_access" => "Stay signed in to it when you are away (a refresh token)",
        _ => "Access on your behalf",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;
    use crate::oauth::IdTokenAlg;

    fn client(public: bool) -> Client {
        Client {
            id: "c1".into(),
            name: "App".into(),
            public,
            has_secret: !public,
            redirect_uris: vec!["https://app.example/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: OIDC_SCOPES.iter().map(|s| s.to_string()).collect(),
            first_party: false,
            id_token_alg: IdTokenAlg::RS256,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const CH: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn redirect_uris_match_exactly_or_go_to_the_page() {
        let c = client(false);
        for bad in [
            "https://app.example/cb/",
            "https://APP.example/cb",
            "https://app.example/cb?x=1",
            "https://app.example/other",
            "https://evil.example/cb",
            "https://app.example/CB",
        ] {
            let r = check_request(
                &q(&[
                    ("client_id", "c1"),
                    ("redirect_uri", bad),
                    ("response_type", "code"),
                    ("scope", "openid"),
                ]),
                Some(&c),
            );
            assert!(matches!(r, Err(AuthorizeError::Page(_))), "{bad}");
        }
    }

    #[test]
    fn pkce_is_s256_and_required_of_public_clients() {
        let base = [
            ("client_id", "c1"),
            ("redirect_uri", "https://app.example/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "xyz"),
        ];
        let public = client(true);
        let e = check_request(&q(&base), Some(&public)).unwrap_err();
        assert!(matches!(
            e,
            AuthorizeError::Redirect {
                error: "invalid_request",
                ..
            }
        ));
        let mut plain = base.to_vec();
        plain.extend([("code_challenge", CH), ("code_challenge_method", "plain")]);
        assert!(check_request(&q(&plain), Some(&public)).is_err());
        let mut s256 = base.to_vec();
        s256.extend([("code_challenge", CH), ("code_challenge_method", "S256")]);
        let ok = check_request(&q(&s256), Some(&public)).unwrap();
        assert_eq!(ok.code_challenge.as_deref(), Some(CH));
        assert!(pkce_matches(
            CH,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!pkce_matches(
            CH,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"
        ));
        assert!(!pkce_matches(CH, "short"));
        // A confidential client may skip it.
        assert!(check_request(&q(&base), Some(&client(false))).is_ok());
    }

    #[test]
    fn errors_after_the_redirect_is_trusted_go_back_with_state_and_iss() {
        let e = check_request(
            &q(&[
                ("client_id", "c1"),
                ("redirect_uri", "https://app.example/cb"),
                ("response_type", "token"),
                ("scope", "openid"),
                ("state", "s 1"),
            ]),
            Some(&client(false)),
        )
        .unwrap_err();
        assert_eq!(
            e.redirect("https://id.example").unwrap(),
            "https://app.example/cb?error=unsupported_response_type&error_description=response_type+must+be+code&state=s+1&iss=https%3A%2F%2Fid.example"
        );
        assert_eq!(
            redirect_with("https://a.example/cb?x=1", &[("code", "c")]),
            "https://a.example/cb?x=1&code=c"
        );
    }
}
