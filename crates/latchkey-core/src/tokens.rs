//! Access tokens: Ed25519-signed JWTs (RFC 9068 `typ: at+jwt`), checked per RFC 8725:
//! only EdDSA is accepted, `typ`, `kid`, `iss`, `aud` and `exp` are always checked.
//! Refresh tokens: 256 random bits, shown once, stored only as a SHA-256 digest.

use std::collections::HashMap;
use std::sync::RwLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use super::error::{AuthFailure, CoreError, CoreResult, Reason};
use super::model::{SessionId, Timestamp, UserId};

pub const TOKEN_TYPE: &str = "at+jwt";

pub use crate::keys::{Jwk, KeyAlg, StoredKey};

struct LoadedKey {
    kid: String,
    alg: KeyAlg,
    public: String,
    created_at: Timestamp,
    retired_at: Option<Timestamp>,
    signer: crate::keys::Signer,
    decoding: DecodingKey,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The OAuth client a delegated token was issued to (RFC 9068); absent on the native
    /// API's and the dialects' tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The scope granted to that client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The claims of a client's own access token (no user, no session).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub client_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// What an `id_token_hint` says, once its signature is checked.
#[derive(Debug, Clone, Deserialize)]
pub struct IdTokenHint {
    pub sub: String,
    pub aud: String,
    #[serde(default)]
    pub sid: Option<String>,
}

/// A verified token of either kind.
#[derive(Debug, Clone)]
pub enum Inspected {
    User {
        user: UserId,
        session: SessionId,
        claims: Claims,
    },
    Client(ClientClaims),
}

/// What a verified token says.
#[derive(Debug, Clone)]
pub struct Verified {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub expires_at: i64,
    /// Set on a token delegated to an OAuth client: it is good at UserInfo, within its
    /// scope, and nowhere in the native API or the dialects.
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub issued_at: i64,
    pub jti: String,
}

pub struct TokenService {
    issuer: String,
    audience: String,
    ttl_secs: u64,
    keys: RwLock<Vec<LoadedKey>>,
    cipher: Option<Sealer>,
    /// Tokens whose signature and claims were checked, by the SHA-256 of the whole token: a
    /// repeat costs a digest and a lookup instead of an Ed25519 verification. Only verified
    /// tokens enter, equality of the digest means the same signed bytes, and expiry is still
    /// checked on every use; the set is cleared whenever the key set changes.
    verified: RwLock<HashMap<[u8; 32], Verified>>,
}

/// Above this many remembered tokens the cache starts over.
const MAX_VERIFIED: usize = 100_000;

pub use crate::seal::KeyEncryptionKey;
use crate::seal::{OpenError, Sealer, SEALED_PREFIX};

impl TokenService {
    pub fn new(issuer: String, audience: String, ttl_secs: u64) -> Self {
        TokenService {
            issuer,
            audience,
            ttl_secs,
            keys: RwLock::new(Vec::new()),
            cipher: None,
            verified: RwLock::new(HashMap::new()),
        }
    }

    /// Seals new signing keys at rest, and opens sealed ones, with `kek`.
    pub fn with_key_encryption(mut self, kek: Option<&KeyEncryptionKey>) -> CoreResult<Self> {
        self.cipher = kek.map(Sealer::new).transpose()?;
        Ok(self)
    }

    /// The key-encryption key's sealer, when one is configured (other secrets at rest use it).
    pub(crate) fn sealer(&self) -> Option<&Sealer> {
        self.cipher.as_ref()
    }

    /// A new signing key for `alg`, sealed when a key-encryption key is configured.
    pub fn new_key(&self, alg: KeyAlg) -> CoreResult<StoredKey> {
        let mut key = StoredKey::generate_for(alg)?;
        if let Some(c) = &self.cipher {
            let der = base64::engine::general_purpose::STANDARD
                .decode(&key.private_der)
                .map_err(CoreError::internal)?;
            key.private_der = c.seal(&key.kid, &der)?;
        }
        Ok(key)
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// Replaces the key set (on start, and whenever any instance rotates keys).
    pub fn load_keys(&self, stored: &[StoredKey]) -> CoreResult<()> {
        let mut loaded = Vec::with_capacity(stored.len());
        for k in stored {
            let der = match (k.private_der.strip_prefix(SEALED_PREFIX), &self.cipher) {
                (Some(sealed), Some(c)) => c.open(&k.kid, sealed).map_err(|e| {
                    let m = match e {
                        OpenError::Damaged => format!("signing key {} is damaged", k.kid),
                        OpenError::WrongKey => format!(
                            "signing key {} does not open with this key-encryption key",
                            k.kid
                        ),
                    };
                    CoreError::invalid("key_encryption_key", Reason::Config(m))
                })?,
                (Some(_), None) => {
                    return Err(CoreError::invalid(
                        "key_encryption_key",
                        Reason::Config(
                            "the signing keys are encrypted: set LATCHKEY_KEY_ENCRYPTION_KEY"
                                .into(),
                        ),
                    ))
                }
                // Keys stored before encryption was turned on stay readable; rotate to seal.
                (None, _) => base64::engine::general_purpose::STANDARD
                    .decode(&k.private_der)
                    .map_err(|e| CoreError::internal(anyhow::anyhow!("key {}: {e}", k.kid)))?,
            };
            let (signer, decoding) = crate::keys::jwt_keys(k.alg, &der, &k.public_x)
                .map_err(|e| CoreError::internal(anyhow::anyhow!("key {}: {e}", k.kid)))?;
            loaded.push(LoadedKey {
                kid: k.kid.clone(),
                alg: k.alg,
                public: k.public_x.clone(),
                created_at: k.created_at,
                retired_at: k.retired_at,
                signer,
                decoding,
            });
        }
        // Each algorithm's keys together, in KeyAlg::ALL order, newest first.
        loaded.sort_by_key(|k| {
            (
                KeyAlg::ALL.iter().position(|a| *a == k.alg),
                std::cmp::Reverse(k.created_at),
            )
        });
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = loaded;
        self.verified
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(())
    }

    /// Signs an access token for a session. Its lifetime never outlasts the session.
    pub fn issue(
        &self,
        user: UserId,
        sid: &SessionId,
        session_expires: Timestamp,
    ) -> CoreResult<(String, Timestamp)> {
        self.issue_delegated(user, sid, session_expires, None)
    }

    /// Signs an access token for a session, delegated to `client` with `scope` when given.
    pub fn issue_delegated(
        &self,
        user: UserId,
        sid: &SessionId,
        session_expires: Timestamp,
        client: Option<(&str, &str)>,
    ) -> CoreResult<(String, Timestamp)> {
        let now = Timestamp::now();
        let exp = now.plus_secs(self.ttl_secs).min(session_expires);
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.0.to_string(),
            sid: sid.0.clone(),
            iat: now.unix_seconds(),
            exp: exp.unix_seconds(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            client_id: client.map(|(c, _)| c.to_owned()),
            scope: client.map(|(_, s)| s.to_owned()),
        };
        let token = self.sign(&claims)?;
        Ok((token, Timestamp(claims.exp * 1000)))
    }

    /// An access token for a client acting for itself (the client-credentials grant, RFC
    /// 9068): `sub` and `client_id` are the client, `scope` what it was granted. It has no
    /// session (`sid`), so [`Self::verify`] never takes it for a user's.
    pub fn issue_for_client(
        &self,
        client_id: &str,
        scope: &str,
    ) -> CoreResult<(String, Timestamp)> {
        let now = Timestamp::now();
        let exp = now.plus_secs(self.ttl_secs);
        let claims = ClientClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: client_id.to_owned(),
            client_id: client_id.to_owned(),
            scope: scope.to_owned(),
            iat: now.unix_seconds(),
            exp: exp.unix_seconds(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        let token = self.sign(&claims)?;
        Ok((token, Timestamp(claims.exp * 1000)))
    }

    /// Signs `claims` as an `at+jwt` with the current access-token (Ed25519) key.
    fn sign<T: Serialize>(&self, claims: &T) -> CoreResult<String> {
        self.sign_as(KeyAlg::EdDSA, TOKEN_TYPE, claims)
    }

    /// Signs `claims` with the current key for `alg`, as a JWT of type `typ` (ID tokens are
    /// `JWT`, signed with the algorithm their client registered).
    pub fn sign_as<T: Serialize>(&self, alg: KeyAlg, typ: &str, claims: &T) -> CoreResult<String> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let key = keys
            .iter()
            .find(|k| k.alg == alg && k.retired_at.is_none())
            .ok_or_else(|| {
                CoreError::internal(anyhow::anyhow!("no active {} signing key", alg.as_str()))
            })?;
        #[derive(Serialize)]
        struct JwsHeader<'a> {
            alg: &'a str,
            typ: &'a str,
            kid: &'a str,
        }
        let header = serde_json::to_vec(&JwsHeader {
            alg: alg.as_str(),
            typ,
            kid: &key.kid,
        })
        .map_err(CoreError::internal)?;
        key.signer.jws(&header, claims)
    }

    /// Is there an active key for `alg`?
    pub fn can_sign(&self, alg: KeyAlg) -> bool {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|k| k.alg == alg && k.retired_at.is_none())
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Checks signature, algorithm, type, issuer, audience and expiry (a token seen before
    /// skips the signature check, never the expiry).
    pub fn verify(&self, token: &str) -> Result<Verified, AuthFailure> {
        let digest = sha256(token.as_bytes());
        let now = Timestamp::now().unix_seconds();
        let seen = self
            .verified
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&digest)
            .cloned();
        if let Some(v) = seen {
            return if v.expires_at > now {
                Ok(v)
            } else {
                Err(AuthFailure::Expired)
            };
        }
        let v = self.verify_signed(token)?;
        let mut cache = self.verified.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_VERIFIED {
            cache.retain(|_, v| v.expires_at > now);
            if cache.len() >= MAX_VERIFIED {
                cache.clear();
            }
        }
        cache.insert(digest, v.clone());
        Ok(v)
    }

    fn verify_signed(&self, token: &str) -> Result<Verified, AuthFailure> {
        let claims: Claims = self.decode_verified(token)?;
        let user_id = claims
            .sub
            .parse::<i64>()
            .map_err(|_| AuthFailure::Malformed)?;
        Ok(Verified {
            user_id: UserId(user_id),
            session_id: SessionId(claims.sid),
            expires_at: claims.exp,
            client_id: claims.client_id,
            scope: claims.scope,
            issued_at: claims.iat,
            jti: claims.jti,
        })
    }

    /// A token of either kind (a user's, or a client's own), checked as [`Self::verify`]
    /// checks a user's: signature, algorithm, type, issuer, audience, expiry.
    pub fn inspect(&self, token: &str) -> Result<Inspected, AuthFailure> {
        let raw: serde_json::Value = self.decode_verified(token)?;
        if raw.get("sid").is_some() {
            let c: Claims = serde_json::from_value(raw).map_err(|_| AuthFailure::Malformed)?;
            let user = c.sub.parse::<i64>().map_err(|_| AuthFailure::Malformed)?;
            Ok(Inspected::User {
                user: UserId(user),
                session: SessionId(c.sid.clone()),
                claims: c,
            })
        } else {
            let c: ClientClaims =
                serde_json::from_value(raw).map_err(|_| AuthFailure::Malformed)?;
            Ok(Inspected::Client(c))
        }
    }

    fn decode_verified<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<T, AuthFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthFailure::BadSignature);
        }
        if header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(AuthFailure::Malformed);
        }
        let kid = header.kid.ok_or(AuthFailure::Malformed)?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        // Access tokens are Ed25519 only: a key of another algorithm never verifies one.
        let key = keys
            .iter()
            .find(|k| k.kid == kid && k.alg == KeyAlg::EdDSA)
            .ok_or(AuthFailure::BadSignature)?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = 0;
        let data = jsonwebtoken::decode::<T>(token, &key.decoding, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => AuthFailure::Expired,
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    AuthFailure::BadSignature
                }
                _ => AuthFailure::Malformed,
            }
        })?;
        Ok(data.claims)
    }

    /// An ID token this provider signed, presented back as a hint (`id_token_hint`): the
    /// signature must verify with one of its keys under the algorithm that key is for (a
    /// changed `alg` never verifies), the issuer must be this one; expiry is not checked, as
    /// a hint may be old (OpenID Connect RP-Initiated Logout §2).
    pub fn verify_id_token_hint(&self, token: &str) -> Option<IdTokenHint> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.typ.as_deref().is_some_and(|t| t != "JWT") {
            return None;
        }
        let kid = header.kid?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let key = keys.iter().find(|k| k.kid == kid)?;
        if key.alg.jwt() != header.alg {
            return None;
        }
        let mut v = Validation::new(key.alg.jwt());
        v.set_issuer(&[&self.issuer]);
        v.validate_exp = false;
        v.validate_aud = false;
        v.set_required_spec_claims(&["iss", "sub", "aud"]);
        jsonwebtoken::decode::<IdTokenHint>(token, &key.decoding, &v)
            .ok()
            .map(|d| d.claims)
    }

    /// Public keys still in use: the active ones and retired ones whose tokens may not have
    /// expired yet.
    pub fn jwks(&self) -> Vec<Jwk> {
        let now = Timestamp::now();
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter(|k| match k.retired_at {
                None => true,
                Some(r) => r.plus_secs(self.ttl_secs) > now,
            })
            .map(|k| Jwk::of(k.alg, &k.kid, &k.public))
            .collect()
    }
}

/// SHA-256 by `ring`, whose assembly is about twice as fast as the portable code on CPUs
/// without SHA extensions; it is on every authenticated request (the verified-token cache
/// key) and every secret comparison.
fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A new opaque refresh token (shown to the client once).
pub fn new_refresh_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The digest under which a refresh token is stored and looked up. The token carries 256
/// random bits, so a fast digest is enough: there is nothing to brute-force.
pub fn refresh_digest(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// Lowercase hex of the SHA-256 of `data` (stored digests of high-entropy secrets).
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    let d = sha256(data);
    let mut s = String::with_capacity(64);
    for b in d {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> TokenService {
        let s = TokenService::new("latchkey".into(), "latchkey".into(), 900);
        s.load_keys(&[StoredKey::generate().unwrap()]).unwrap();
        s
    }

    #[test]
    fn a_token_round_trips() {
        let s = service();
        let sid = SessionId("s1".into());
        let (t, _) = s
            .issue(UserId(7), &sid, Timestamp::now().plus_secs(3600))
            .unwrap();
        let v = s.verify(&t).unwrap();
        assert_eq!(v.user_id, UserId(7));
        assert_eq!(v.session_id, sid);
    }

    #[test]
    fn a_remembered_token_still_expires_and_a_changed_one_is_checked_again() {
        let s = service();
        let sid = SessionId("s".into());
        let (t, _) = s
            .issue(UserId(3), &sid, Timestamp::now().plus_secs(60))
            .unwrap();
        assert_eq!(s.verify(&t).unwrap().user_id, UserId(3));
        assert_eq!(s.verify(&t).unwrap().user_id, UserId(3), "from the cache");
        // One flipped signature character is a different token: verified afresh, refused.
        let mut forged = t.clone().into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert!(s.verify(std::str::from_utf8(&forged).unwrap()).is_err());
        // An expired entry is refused even from the cache.
        let digest = sha256(t.as_bytes());
        s.verified
            .write()
            .unwrap()
            .get_mut(&digest)
            .unwrap()
            .expires_at = 0;
        assert_eq!(s.verify(&t).unwrap_err(), AuthFailure::Expired);
        // A new key set forgets what was verified under the old one.
        s.load_keys(&[StoredKey::generate().unwrap()]).unwrap();
        assert_eq!(s.verify(&t).unwrap_err(), AuthFailure::BadSignature);
    }

    #[test]
    fn a_token_from_another_key_set_is_refused() {
        let a = service();
        let b = service();
        let (t, _) = a
            .issue(
                UserId(1),
                &SessionId("s".into()),
                Timestamp::now().plus_secs(60),
            )
            .unwrap();
        assert_eq!(b.verify(&t).unwrap_err(), AuthFailure::BadSignature);
    }

    #[test]
    fn alg_none_and_garbage_are_refused() {
        let s = service();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt","kid":"x"}"#);
        let body = URL_SAFE_NO_PAD.encode(br#"{"sub":"1","sid":"s","exp":9999999999}"#);
        assert!(s.verify(&format!("{header}.{body}.")).is_err());
        assert!(s.verify("not a token").is_err());
        assert!(s.verify("").is_err());
    }

    #[test]
    fn every_algorithm_signs_and_its_jwk_verifies() {
        let s = TokenService::new("i".into(), "a".into(), 60);
        let keys: Vec<StoredKey> = KeyAlg::ALL
            .into_iter()
            .map(|a| s.new_key(a).unwrap())
            .collect();
        s.load_keys(&keys).unwrap();
        let jwks = s.jwks();
        assert_eq!(
            jwks.iter().map(|k| (k.kty, k.alg)).collect::<Vec<_>>(),
            [("OKP", "EdDSA"), ("RSA", "RS256"), ("EC", "ES256")]
        );
        #[derive(Serialize, Deserialize)]
        struct C {
            sub: String,
            exp: i64,
        }
        for alg in KeyAlg::ALL {
            let t = s
                .sign_as(
                    alg,
                    "JWT",
                    &C {
                        sub: "x".into(),
                        exp: Timestamp::now().unix_seconds() + 60,
                    },
                )
                .unwrap();
            let header = jsonwebtoken::decode_header(&t).unwrap();
            let jwk = jwks
                .iter()
                .find(|k| Some(&k.kid) == header.kid.as_ref())
                .unwrap();
            assert_eq!(jwk.alg, alg.as_str());
            // Verified with the public parts as published, the way a relying party would.
            let key = match alg {
                KeyAlg::EdDSA => DecodingKey::from_ed_components(jwk.x.as_ref().unwrap()),
                KeyAlg::RS256 => DecodingKey::from_rsa_components(
                    jwk.n.as_ref().unwrap(),
                    jwk.e.as_ref().unwrap(),
                ),
                KeyAlg::ES256 => DecodingKey::from_ec_components(
                    jwk.x.as_ref().unwrap(),
                    jwk.y.as_ref().unwrap(),
                ),
            }
            .unwrap();
            let mut v = Validation::new(alg.jwt());
            v.set_required_spec_claims(&["exp"]);
            assert!(jsonwebtoken::decode::<C>(&t, &key, &v).is_ok(), "{alg:?}");
        }
        // Only the Ed25519 key verifies access tokens: an RS256-signed token with the right
        // claims is refused.
        let claims = Claims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "1".into(),
            sid: "s".into(),
            iat: 0,
            exp: Timestamp::now().unix_seconds() + 60,
            jti: "j".into(),
            client_id: None,
            scope: None,
        };
        let forged = s.sign_as(KeyAlg::RS256, TOKEN_TYPE, &claims).unwrap();
        assert!(s.verify(&forged).is_err());
    }

    #[test]
    fn sealed_keys_open_only_with_their_key_and_id() {
        let kek = KeyEncryptionKey([7; 32]);
        let s = TokenService::new("i".into(), "a".into(), 60)
            .with_key_encryption(Some(&kek))
            .unwrap();
        let key = s.new_key(KeyAlg::EdDSA).unwrap();
        assert!(key.private_der.starts_with(SEALED_PREFIX));
        s.load_keys(std::slice::from_ref(&key)).unwrap();
        let (t, _) = s
            .issue(
                UserId(1),
                &SessionId("x".into()),
                Timestamp::now().plus_secs(60),
            )
            .unwrap();
        assert!(s.verify(&t).is_ok());
        let other = TokenService::new("i".into(), "a".into(), 60)
            .with_key_encryption(Some(&KeyEncryptionKey([8; 32])))
            .unwrap();
        assert!(other.load_keys(std::slice::from_ref(&key)).is_err());
        let none = TokenService::new("i".into(), "a".into(), 60);
        assert!(none.load_keys(std::slice::from_ref(&key)).is_err());
        let mut moved = key.clone();
        moved.kid = "another".into();
        assert!(
            s.load_keys(&[moved]).is_err(),
            "the id is bound to the ciphertext"
        );
        assert!(format!("{kek:?}").contains("***"));
        assert!(KeyEncryptionKey::parse("c2hvcnQ=").is_err());
        assert_eq!(
            KeyEncryptionKey::parse(&base64::engine::general_purpose::STANDARD.encode([1u8; 32]))
                .unwrap()
                .0,
            [1; 32]
        );
    }

    #[test]
    fn refresh_digests_are_stable_hex() {
        assert_eq!(refresh_digest("abc").len(), 64);
        assert_eq!(refresh_digest("abc"), refresh_digest("abc"));
        assert_ne!(new_refresh_token(), new_refresh_token());
    }
}
