//! Signing key material, for each algorithm Latchkey signs with: Ed25519 (`EdDSA`, access
//! tokens), RSA 2048 (`RS256`, the OpenID Connect default for ID tokens; mandatory to
//! implement) and P-256 (`ES256`). Private keys are PKCS#8 (Ed25519, P-256) or PKCS#1 (RSA)
//! DER; the public part is kept in the form the JWKS publishes it.
//!
//! Signing goes through `ring` directly (keys parsed once), verification through
//! `jsonwebtoken` (on `ring`); ring's RSA and ECDSA are constant-time. The `rsa` crate is used to *generate* RSA keys only: its private-key
//! operations are not constant-time (RUSTSEC-2023-0071), and Latchkey never uses them.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::Serialize;

use crate::error::{CoreError, CoreResult};
use crate::model::Timestamp;

/// An algorithm Latchkey holds a signing key for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlg {
    EdDSA,
    RS256,
    ES256,
}

impl KeyAlg {
    /// Every algorithm, in the order the JWKS lists them.
    pub const ALL: [KeyAlg; 3] = [KeyAlg::EdDSA, KeyAlg::RS256, KeyAlg::ES256];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlg::EdDSA => "EdDSA",
            KeyAlg::RS256 => "RS256",
            KeyAlg::ES256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        KeyAlg::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub(crate) fn jwt(self) -> Algorithm {
        match self {
            KeyAlg::EdDSA => Algorithm::EdDSA,
            KeyAlg::RS256 => Algorithm::RS256,
            KeyAlg::ES256 => Algorithm::ES256,
        }
    }
}

/// A signing key as stored: the private key's DER (base64, or sealed), and the public part as
/// the JWKS shows it: `x` for Ed25519, `n.e` for RSA, `x.y` for P-256 (base64url each).
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: KeyAlg,
    pub private_der: String,
    pub public_x: String,
    pub created_at: Timestamp,
    pub retired_at: Option<Timestamp>,
}

fn failed(what: &str) -> CoreError {
    CoreError::internal(anyhow::anyhow!("{what}"))
}

impl StoredKey {
    /// A fresh Ed25519 key with a random `kid` (the access-token key).
    pub fn generate() -> CoreResult<Self> {
        Self::generate_for(KeyAlg::EdDSA)
    }

    /// A fresh key for `alg` with a random `kid`. RSA keys take a moment (hundreds of
    /// milliseconds): call from a blocking context when that matters.
    pub fn generate_for(alg: KeyAlg) -> CoreResult<Self> {
        let rng = ring::rand::SystemRandom::new();
        let (der, public) = match alg {
            KeyAlg::EdDSA => {
                let doc = Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|_| failed("key generation failed"))?;
                let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref())
                    .map_err(|_| failed("generated key unreadable"))?;
                (
                    doc.as_ref().to_vec(),
                    URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
                )
            }
            KeyAlg::ES256 => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| failed("key generation failed"))?;
                let pair =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref(), &rng)
                        .map_err(|_| failed("generated key unreadable"))?;
                // The uncompressed point: 0x04 || x (32) || y (32).
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(failed("unexpected P-256 public key"));
                }
                (
                    doc.as_ref().to_vec(),
                    format!(
                        "{}.{}",
                        URL_SAFE_NO_PAD.encode(&point[1..33]),
                        URL_SAFE_NO_PAD.encode(&point[33..])
                    ),
                )
            }
            KeyAlg::RS256 => {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                use rsa::traits::PublicKeyParts;
                let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
                    .map_err(|_| failed("RSA key generation failed"))?;
                let der = key
                    .to_pkcs1_der()
                    .map_err(|_| failed("RSA key encoding failed"))?;
                let public = format!(
                    "{}.{}",
                    URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                    URL_SAFE_NO_PAD.encode(key.e().to_bytes_be())
                );
                (der.as_bytes().to_vec(), public)
            }
        };
        Ok(StoredKey {
            kid: uuid::Uuid::new_v4().simple().to_string(),
            alg,
            private_der: STANDARD.encode(der),
            public_x: public,
            created_at: Timestamp::now(),
            retired_at: None,
        })
    }
}

/// The two halves of a public part kept as `a.b`.
fn pair(public: &str) -> CoreResult<(&str, &str)> {
    public
        .split_once('.')
        .ok_or_else(|| failed("damaged public key"))
}

/// A private key parsed once, when the key set is loaded: jsonwebtoken's `EncodingKey` keeps
/// only DER and parses (for Ed25519: re-derives the public point) on every signature, which
/// cost as much as the signature itself.
pub(crate) enum Signer {
    Ed(Ed25519KeyPair),
    Rsa(ring::rsa::KeyPair),
    Ec(EcdsaKeyPair),
}

impl Signer {
    /// Signs a JWS: `header.payload`, base64url, then the signature (RFC 7515 compact form).
    pub(crate) fn jws<T: Serialize>(&self, header: &[u8], claims: &T) -> CoreResult<String> {
        let payload = serde_json::to_vec(claims).map_err(CoreError::internal)?;
        let mut out = URL_SAFE_NO_PAD.encode(header);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut out);
        let rng = ring::rand::SystemRandom::new();
        let sig: Vec<u8> = match self {
            Signer::Ed(k) => k.sign(out.as_bytes()).as_ref().to_vec(),
            Signer::Ec(k) => k
                .sign(&rng, out.as_bytes())
                .map_err(|_| failed("ECDSA signing failed"))?
                .as_ref()
                .to_vec(),
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &rng,
                    out.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| failed("RSA signing failed"))?;
                sig
            }
        };
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(sig, &mut out);
        Ok(out)
    }
}

/// The key a token is signed with (parsed once) and the one `jsonwebtoken` verifies with.
pub(crate) fn jwt_keys(alg: KeyAlg, der: &[u8], public: &str) -> CoreResult<(Signer, DecodingKey)> {
    let damaged = |e: jsonwebtoken::errors::Error| failed(&format!("damaged key: {e}"));
    let bad = |_| failed("damaged private key");
    Ok(match alg {
        KeyAlg::EdDSA => (
            Signer::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(bad)?),
            DecodingKey::from_ed_components(public).map_err(damaged)?,
        ),
        KeyAlg::RS256 => {
            let (n, e) = pair(public)?;
            (
                Signer::Rsa(
                    ring::rsa::KeyPair::from_der(der).map_err(|_| failed("damaged RSA key"))?,
                ),
                DecodingKey::from_rsa_components(n, e).map_err(damaged)?,
            )
        }
        KeyAlg::ES256 => {
            let (x, y) = pair(public)?;
            let rng = ring::rand::SystemRandom::new();
            (
                Signer::Ec(
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
                        .map_err(|_| failed("damaged P-256 key"))?,
                ),
                DecodingKey::from_ec_components(x, y).map_err(damaged)?,
            )
        }
    })
}

/// A public key for `/.well-known/jwks.json` (RFC 7517; OKP per RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<&'static str>,
    pub kid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
}

impl Jwk {
    pub(crate) fn of(alg: KeyAlg, kid: &str, public: &str) -> Jwk {
        let (a, b) = public.split_once('.').unwrap_or((public, ""));
        let base = Jwk {
            kty: "OKP",
            crv: None,
            kid: kid.to_owned(),
            x: None,
            y: None,
            n: None,
            e: None,
            use_: "sig",
            alg: alg.as_str(),
        };
        match alg {
            KeyAlg::EdDSA => Jwk {
                crv: Some("Ed25519"),
                x: Some(public.to_owned()),
                ..base
            },
            KeyAlg::RS256 => Jwk {
                kty: "RSA",
                n: Some(a.to_owned()),
                e: Some(b.to_owned()),
                ..base
            },
            KeyAlg::ES256 => Jwk {
                kty: "EC",
                crv: Some("P-256"),
                x: Some(a.to_owned()),
                y: Some(b.to_owned()),
                ..base
            },
        }
    }
}
