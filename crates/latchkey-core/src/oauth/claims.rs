//! What each OpenID scope releases about a user (in the ID token and at UserInfo), and the
//! ID token itself. Nothing is released beyond what was granted.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

use crate::keys::KeyAlg;
use crate::model::User;

/// The claims the scopes in `scope` release about `user` (`sub` always).
pub fn user_claims(user: &User, scope: &str) -> Map<String, Value> {
    let has = |s: &str| scope.split(' ').any(|x| x == s);
    let mut m = Map::new();
    m.insert("sub".into(), Value::String(user.id.0.to_string()));
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) {
            m.insert(k.into(), Value::String(v.to_owned()));
        }
    };
    if has("profile") {
        let p = &user.profile;
        let full = p.full_name();
        put(
            "name",
            p.display_name
                .as_deref()
                .or(Some(full.as_str()).filter(|f| !f.is_empty())),
        );
        put("given_name", p.first_name.as_deref());
        put("middle_name", p.middle_name.as_deref());
        put("family_name", p.last_name.as_deref());
        put("preferred_username", Some(&user.username));
        m.insert(
            "updated_at".into(),
            Value::from(user.updated_at.unix_seconds()),
        );
    }
    if has("email") {
        m.insert("email".into(), Value::String(user.email.clone()));
        // True only once a mailed link proved the address (or an administrator vouched).
        m.insert("email_verified".into(), Value::Bool(user.email_verified));
    }
    if has("roles") {
        m.insert(
            "roles".into(),
            Value::Array(user.roles.iter().cloned().map(Value::String).collect()),
        );
    }
    m
}

/// An ID token's registered claims (OpenID Connect Core §2); the scope's claims are added
/// beside them.
#[derive(Debug, Clone, Serialize)]
pub struct IdToken<'a> {
    pub iss: &'a str,
    pub aud: &'a str,
    pub azp: &'a str,
    pub iat: i64,
    pub exp: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    pub amr: Vec<&'a str>,
    /// `urn:latchkey:acr:mfa` after a second factor, else `urn:latchkey:acr:pwd`.
    pub acr: &'static str,
    pub at_hash: String,
    pub sid: &'a str,
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}

/// `at_hash`: the left half of the access token's hash under the ID token's algorithm
/// (SHA-256 for RS256 and ES256, SHA-512 for Ed25519), base64url.
pub fn at_hash(alg: KeyAlg, access_token: &str) -> String {
    use base64::Engine;
    let full: Vec<u8> = match alg {
        KeyAlg::EdDSA => Sha512::digest(access_token.as_bytes()).to_vec(),
        KeyAlg::RS256 | KeyAlg::ES256 => Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&full[..full.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Profile, Timestamp, UserId};

    fn user() -> User {
        User {
            id: UserId(42),
            uuid: "u".into(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            profile: Profile {
                first_name: Some("Ada".into()),
                last_name: Some("Lovelace".into()),
                ..Profile::default()
            },
            organization: None,
            is_active: true,
            created_at: Timestamp(0),
            updated_at: Timestamp(5000),
            roles: vec!["admin".into()],
            default_role: None,
            mfa_enabled: false,
            email_verified: false,
        }
    }

    #[test]
    fn each_scope_releases_only_its_claims() {
        let u = user();
        let only = user_claims(&u, "openid");
        assert_eq!(only.keys().collect::<Vec<_>>(), ["sub"]);
        assert_eq!(only["sub"], "42");
        let p = user_claims(&u, "openid profile");
        assert_eq!(p["name"], "Ada Lovelace");
        assert_eq!(p["given_name"], "Ada");
        assert_eq!(p["preferred_username"], "ada");
        assert_eq!(p["updated_at"], 5);
        assert!(!p.contains_key("email") && !p.contains_key("roles"));
        let e = user_claims(&u, "openid email roles");
        assert_eq!(e["email"], "ada@example.com");
        assert_eq!(e["roles"], serde_json::json!(["admin"]));
        assert!(!e.contains_key("name"));
    }

    #[test]
    fn at_hash_is_the_left_half() {
        // OpenID Connect Core's example uses SHA-256 on this token.
        assert_eq!(
            at_hash(KeyAlg::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash(KeyAlg::EdDSA, "x").len(), 43);
    }
}
