//! Imported credentials: the password hashes other services stored, read with their
//! parameters from the stored string and verified exactly as their libraries do.
//!
//! A hash is parsed (and its cost checked against [`Limits`]) when it is imported and again
//! when it is verified, on the hashing threads. At the first successful login it is replaced
//! by an argon2id hash at the configured parameters (see [`super::Hasher::verify`]).
//!
//! | stored string | made by |
//! |---|---|
//! | `$2a$`, `$2b$`, `$2y$` + cost + 53 characters | bcrypt (Node's `bcrypt`/`bcryptjs`, Python's `bcrypt`, PHP, Supabase, Firebase's bcrypt export) |
//! | `bcrypt$$2b$…`, `bcrypt_sha256$$2b$…` | Django (`bcrypt_sha256` hashes the hex SHA-256 of the password) |
//! | `$argon2id$`, `$argon2i$`, `$argon2d$` (PHC, `v=16` or `v=19`) | argon2-cffi, libsodium, Latchkey; `argon2$argon2id$…` from Django |
//! | `pbkdf2:sha256:600000$salt$hex`, `scrypt:32768:8:1$salt$hex` | Werkzeug (Flask) |
//! | `pbkdf2_sha256$iterations$salt$base64`, `pbkdf2_sha1$…`, `scrypt$N$salt$r$p$base64` | Django |
//! | `$pbkdf2-sha256$rounds$salt$checksum` (`$pbkdf2$` = SHA-1, `-sha512`) | passlib (adapted base64) |
//! | `$pbkdf2-sha256$i=N,l=L$salt$hash` | PHC form; Keycloak's credentials are stored so |
//! | `$scrypt$ln=…,r=…,p=…$salt$hash` | passlib, PHC |
//! | 32 or 40 hex digits, `md5$salt$hex`, `sha1$salt$hex`, `sha1$$hex` | unsalted or salted MD5/SHA-1: weak, imported only when accepted |

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use std::num::NonZeroU32;
use subtle::ConstantTimeEq;

/// The most work an imported hash may ask of a hashing thread. Beyond these, an import is
/// refused: a hostile file must not be able to stall logins. Each is above the defaults of
/// today's libraries (Django 5.2: PBKDF2 1,000,000; Keycloak: PBKDF2-SHA512 210,000; Werkzeug:
/// scrypt N=32768, r=8; argon2-cffi: m=64 MiB, t=3; bcrypt: 10–12).
#[derive(Debug, Clone, Copy)]
pub struct Limits;

impl Limits {
    pub const BCRYPT_COST: u32 = 15;
    pub const PBKDF2_ITERATIONS: u32 = 2_000_000;
    /// scrypt's memory, `128 · r · N` bytes.
    pub const SCRYPT_MEMORY_BYTES: u64 = 256 << 20;
    /// scrypt's work, `N · r · p`.
    pub const SCRYPT_WORK: u64 = 1 << 22;
    pub const ARGON2_MEMORY_KIB: u32 = 262_144;
    /// argon2's work, memory (KiB) × passes.
    pub const ARGON2_WORK: u64 = 1 << 20;
    pub const ARGON2_LANES: u32 = 16;
}

/// Why a stored string cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("unrecognized password hash format")]
    Unknown,
    #[error("malformed {scheme} hash: {why}")]
    Malformed {
        scheme: &'static str,
        why: &'static str,
    },
    #[error("{scheme} cost too high: {what} (the limit is {limit})")]
    TooCostly {
        scheme: &'static str,
        what: String,
        limit: String,
    },
    #[error("{0} is a weak hash: import it only with --accept-weak-hashes (accept_weak_hashes)")]
    Weak(&'static str),
}

fn malformed(scheme: &'static str, why: &'static str) -> HashError {
    HashError::Malformed { scheme, why }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digest {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha1" => Some(Digest::Sha1),
            "sha256" => Some(Digest::Sha256),
            "sha384" => Some(Digest::Sha384),
            "sha512" => Some(Digest::Sha512),
            _ => None,
        }
    }

    fn pbkdf2(self) -> ring::pbkdf2::Algorithm {
        match self {
            Digest::Sha1 => ring::pbkdf2::PBKDF2_HMAC_SHA1,
            Digest::Sha256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
            Digest::Sha384 => ring::pbkdf2::PBKDF2_HMAC_SHA384,
            Digest::Sha512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn scheme(self) -> &'static str {
        match self {
            Digest::Sha1 => "pbkdf2-sha1",
            Digest::Sha256 => "pbkdf2-sha256",
            Digest::Sha384 => "pbkdf2-sha384",
            Digest::Sha512 => "pbkdf2-sha512",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weak {
    Md5,
    Sha1,
}

/// A parsed stored hash, ready to verify.
#[derive(Debug, Clone)]
pub struct Scheme(Kind);

#[derive(Debug, Clone)]
enum Kind {
    /// A PHC string (any argon2 variant and version).
    Argon2(String),
    /// A bcrypt string; with `sha256_hex`, the password is first replaced by the hex SHA-256
    /// of itself (Django's `bcrypt_sha256`).
    Bcrypt { hash: String, sha256_hex: bool },
    Pbkdf2 {
        digest: Digest,
        iterations: NonZeroU32,
        salt: Vec<u8>,
        expected: Vec<u8>,
    },
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: Vec<u8>,
        expected: Vec<u8>,
    },
    Weak {
        digest: Weak,
        salt: Vec<u8>,
        expected: Vec<u8>,
    },
}

impl Scheme {
    /// Reads a stored hash in any supported format, refusing costs beyond [`Limits`].
    pub fn parse(stored: &str) -> Result<Scheme, HashError> {
        let s = stored.trim();
        if s.len() > 1024 || s.contains(char::is_whitespace) {
            return Err(HashError::Unknown);
        }
        let kind = if s.starts_with("argon2$argon2") {
            // Django: "argon2" followed by argon2-cffi's string.
            argon2(&s["argon2".len()..])?
        } else if s.starts_with("$argon2") {
            argon2(s)?
        } else if s.starts_with("$2") {
            bcrypt(s, false)?
        } else if let Some(rest) = s.strip_prefix("bcrypt$") {
            bcrypt(rest, false)?
        } else if let Some(rest) = s.strip_prefix("bcrypt_sha256$") {
            bcrypt(rest, true)?
        } else if let Some(rest) = s.strip_prefix("pbkdf2:") {
            werkzeug_pbkdf2(rest)?
        } else if let Some(rest) = s.strip_prefix("scrypt:") {
            werkzeug_scrypt(rest)?
        } else if let Some(rest) = s.strip_prefix("pbkdf2_sha256$") {
            django_pbkdf2(Digest::Sha256, rest)?
        } else if let Some(rest) = s.strip_prefix("pbkdf2_sha1$") {
            django_pbkdf2(Digest::Sha1, rest)?
        } else if let Some(rest) = s.strip_prefix("scrypt$") {
            django_scrypt(rest)?
        } else if let Some(rest) = s.strip_prefix("$pbkdf2") {
            dollar_pbkdf2(rest)?
        } else if let Some(rest) = s.strip_prefix("$scrypt$") {
            phc_scrypt(rest)?
        } else if let Some(rest) = s.strip_prefix("md5$") {
            salted_weak(Weak::Md5, rest)?
        } else if let Some(rest) = s.strip_prefix("sha1$") {
            salted_weak(Weak::Sha1, rest)?
        } else if s.len() == 32 && is_hex(s) {
            unsalted_weak(Weak::Md5, s)?
        } else if s.len() == 40 && is_hex(s) {
            unsalted_weak(Weak::Sha1, s)?
        } else {
            return Err(HashError::Unknown);
        };
        Ok(Scheme(kind))
    }

    /// Parses a hash offered for import: known, within limits, and not weak unless weak
    /// hashes are accepted.
    pub fn for_import(stored: &str, accept_weak: bool) -> Result<Scheme, HashError> {
        let scheme = Scheme::parse(stored)?;
        if scheme.is_weak() && !accept_weak {
            return Err(HashError::Weak(scheme.name()));
        }
        Ok(scheme)
    }

    /// The scheme's name, for the audit log and reports (never the hash).
    pub fn name(&self) -> &'static str {
        match &self.0 {
            Kind::Argon2(s) if s.starts_with("$argon2id$") => "argon2id",
            Kind::Argon2(s) if s.starts_with("$argon2i$") => "argon2i",
            Kind::Argon2(_) => "argon2d",
            Kind::Bcrypt {
                sha256_hex: true, ..
            } => "bcrypt-sha256",
            Kind::Bcrypt { .. } => "bcrypt",
            Kind::Pbkdf2 { digest, .. } => digest.scheme(),
            Kind::Scrypt { .. } => "scrypt",
            Kind::Weak {
                digest: Weak::Md5,
                salt,
                ..
            } => {
                if salt.is_empty() {
                    "unsalted md5"
                } else {
                    "salted md5"
                }
            }
            Kind::Weak { salt, .. } => {
                if salt.is_empty() {
                    "unsalted sha1"
                } else {
                    "salted sha1"
                }
            }
        }
    }

    /// A fast digest anyone can brute-force: such users should be made to reset.
    pub fn is_weak(&self) -> bool {
        matches!(self.0, Kind::Weak { .. })
    }

    /// Whether a match of `password` may be replaced by an argon2id hash of it. Not for a
    /// bcrypt hash and a password past bcrypt's 72 bytes: the origin accepted any password
    /// sharing those bytes, and an argon2id hash of the one typed today would lock out the
    /// one the user meant. Such users keep bcrypt until they change their password.
    pub fn upgradable(&self, password: &[u8]) -> bool {
        !matches!(
            self.0,
            Kind::Bcrypt {
                sha256_hex: false,
                ..
            }
        ) || password.len() <= 72
    }

    /// Whether `password` matches, computed as the original library did; constant-time
    /// comparison of the outputs. CPU-bound: call it on a hashing thread.
    pub fn verify(&self, password: &[u8]) -> bool {
        match &self.0 {
            Kind::Argon2(phc) => {
                use argon2::password_hash::{PasswordHash, PasswordVerifier};
                PasswordHash::new(phc).is_ok_and(|h| {
                    argon2::Argon2::default()
                        .verify_password(password, &h)
                        .is_ok()
                })
            }
            Kind::Bcrypt { hash, sha256_hex } => {
                let hex;
                let input: &[u8] = if *sha256_hex {
                    hex = to_hex(ring::digest::digest(&ring::digest::SHA256, password).as_ref());
                    hex.as_bytes()
                } else {
                    password
                };
                // The origins' bcrypt used only the first 72 bytes; so does `verify`.
                bcrypt::verify(input, hash).unwrap_or(false)
            }
            Kind::Pbkdf2 {
                digest,
                iterations,
                salt,
                expected,
            } => {
                ring::pbkdf2::verify(digest.pbkdf2(), *iterations, salt, password, expected).is_ok()
            }
            Kind::Scrypt {
                log_n,
                r,
                p,
                salt,
                expected,
            } => {
                let Ok(params) = scrypt::Params::new(*log_n, *r, *p, expected.len()) else {
                    return false;
                };
                let mut out = vec![0u8; expected.len()];
                scrypt::scrypt(password, salt, &params, &mut out).is_ok()
                    && bool::from(out.ct_eq(expected))
            }
            Kind::Weak {
                digest,
                salt,
                expected,
            } => {
                let mut input = salt.clone();
                input.extend_from_slice(password);
                let out: Vec<u8> = match digest {
                    Weak::Md5 => {
                        use md5::Digest as _;
                        md5::Md5::digest(&input).to_vec()
                    }
                    Weak::Sha1 => {
                        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input)
                            .as_ref()
                            .to_vec()
                    }
                };
                bool::from(out.ct_eq(expected))
            }
        }
    }
}

/// Keycloak's stored credential (realm export `secretData` + `credentialData`, or the flat
/// pre-10 form), as one PHC string Latchkey stores and [`Scheme::parse`] reads.
#[derive(Debug, Clone, Default)]
pub struct KeycloakCredential<'a> {
    pub algorithm: &'a str,
    pub iterations: u64,
    /// base64
    pub salt: &'a str,
    /// base64
    pub value: &'a str,
    /// argon2's `additionalParameters`: (name, first value).
    pub params: Vec<(&'a str, &'a str)>,
}

impl KeycloakCredential<'_> {
    pub fn to_phc(&self) -> Result<String, HashError> {
        let salt = STANDARD
            .decode(self.salt)
            .map_err(|_| malformed("keycloak", "salt is not base64"))?;
        let value = STANDARD
            .decode(self.value)
            .map_err(|_| malformed("keycloak", "value is not base64"))?;
        if salt.is_empty() || value.is_empty() {
            return Err(malformed("keycloak", "empty salt or value"));
        }
        let param = |name: &str| {
            self.params
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
        };
        let phc = match self.algorithm {
            "pbkdf2" | "pbkdf2-sha256" | "pbkdf2-sha512" => {
                let digest = match self.algorithm {
                    "pbkdf2" => "pbkdf2-sha1",
                    a => a,
                };
                format!(
                    "${digest}$i={},l={}${}${}",
                    self.iterations,
                    value.len(),
                    STANDARD_NO_PAD.encode(&salt),
                    STANDARD_NO_PAD.encode(&value)
                )
            }
            "argon2" => {
                let variant = match param("type").unwrap_or("id") {
                    "id" => "argon2id",
                    "i" => "argon2i",
                    "d" => "argon2d",
                    _ => return Err(malformed("keycloak", "unknown argon2 type")),
                };
                let version = match param("version").unwrap_or("1.3") {
                    "1.3" => 19,
                    "1.0" => 16,
                    _ => return Err(malformed("keycloak", "unknown argon2 version")),
                };
                let memory = param("memory").unwrap_or("7168");
                let lanes = param("parallelism").unwrap_or("1");
                if !memory.bytes().all(|b| b.is_ascii_digit())
                    || !lanes.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(malformed("keycloak", "argon2 parameters are not numbers"));
                }
                format!(
                    "${variant}$v={version}$m={memory},t={},p={lanes}${}${}",
                    self.iterations,
                    STANDARD_NO_PAD.encode(&salt),
                    STANDARD_NO_PAD.encode(&value)
                )
            }
            _ => return Err(HashError::Unknown),
        };
        Scheme::parse(&phc)?;
        Ok(phc)
    }
}

fn argon2(phc: &str) -> Result<Kind, HashError> {
    use argon2::password_hash::PasswordHash;
    let h = PasswordHash::new(phc).map_err(|_| malformed("argon2", "not a PHC string"))?;
    if !matches!(h.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d") {
        return Err(HashError::Unknown);
    }
    if h.salt.is_none() || h.hash.is_none() {
        return Err(malformed("argon2", "no salt or no hash"));
    }
    let p = argon2::Params::try_from(&h).map_err(|_| malformed("argon2", "bad parameters"))?;
    let work = u64::from(p.m_cost()) * u64::from(p.t_cost());
    if p.m_cost() > Limits::ARGON2_MEMORY_KIB {
        return Err(too_costly(
            "argon2",
            format!("m={} KiB", p.m_cost()),
            Limits::ARGON2_MEMORY_KIB,
        ));
    }
    if work > Limits::ARGON2_WORK {
        return Err(too_costly(
            "argon2",
            format!("m×t={work}"),
            Limits::ARGON2_WORK,
        ));
    }
    if p.p_cost() > Limits::ARGON2_LANES {
        return Err(too_costly(
            "argon2",
            format!("p={}", p.p_cost()),
            Limits::ARGON2_LANES,
        ));
    }
    Ok(Kind::Argon2(phc.to_owned()))
}

fn too_costly(scheme: &'static str, what: String, limit: impl std::fmt::Display) -> HashError {
    HashError::TooCostly {
        scheme,
        what,
        limit: limit.to_string(),
    }
}

fn bcrypt(s: &str, sha256_hex: bool) -> Result<Kind, HashError> {
    let scheme = if sha256_hex {
        "bcrypt-sha256"
    } else {
        "bcrypt"
    };
    let mut parts = s.split('$');
    let (Some(""), Some(version), Some(cost), Some(rest), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(malformed(scheme, "expected $2b$cost$salt-and-hash"));
    };
    if !matches!(version, "2a" | "2b" | "2y") {
        return Err(malformed(scheme, "version must be 2a, 2b or 2y"));
    }
    let cost: u32 = match (cost.len(), cost.parse()) {
        (2, Ok(c)) => c,
        _ => return Err(malformed(scheme, "cost must be two digits")),
    };
    if cost < 4 {
        return Err(malformed(scheme, "cost below 4"));
    }
    if cost > Limits::BCRYPT_COST {
        return Err(too_costly(
            scheme,
            format!("cost {cost}"),
            Limits::BCRYPT_COST,
        ));
    }
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'/';
    if rest.len() != 53 || !rest.bytes().all(alphabet) {
        return Err(malformed(scheme, "salt and hash must be 53 characters"));
    }
    Ok(Kind::Bcrypt {
        hash: s.to_owned(),
        sha256_hex,
    })
}

fn pbkdf2_kind(
    digest: Digest,
    iterations: &str,
    salt: Vec<u8>,
    expected: Vec<u8>,
) -> Result<Kind, HashError> {
    let scheme = digest.scheme();
    let n: u64 = iterations
        .parse()
        .map_err(|_| malformed(scheme, "iterations are not a number"))?;
    if n > u64::from(Limits::PBKDF2_ITERATIONS) {
        return Err(too_costly(
            scheme,
            format!("{n} iterations"),
            Limits::PBKDF2_ITERATIONS,
        ));
    }
    let iterations = NonZeroU32::new(n as u32).ok_or(malformed(scheme, "zero iterations"))?;
    if expected.len() < 16 || expected.len() > 128 {
        return Err(malformed(scheme, "derived key must be 16 to 128 bytes"));
    }
    Ok(Kind::Pbkdf2 {
        digest,
        iterations,
        salt,
        expected,
    })
}

fn scrypt_kind(
    n: u64,
    r: u64,
    p: u64,
    salt: Vec<u8>,
    expected: Vec<u8>,
) -> Result<Kind, HashError> {
    if n < 2 || !n.is_power_of_two() {
        return Err(malformed("scrypt", "N must be a power of two"));
    }
    if r == 0 || p == 0 || r > 64 || p > 64 {
        return Err(malformed("scrypt", "r and p must be 1 to 64"));
    }
    let memory = 128 * r * n;
    if memory > Limits::SCRYPT_MEMORY_BYTES {
        return Err(too_costly(
            "scrypt",
            format!("{} MiB of memory", memory >> 20),
            "256 MiB",
        ));
    }
    let work = n * r * p;
    if work > Limits::SCRYPT_WORK {
        return Err(too_costly(
            "scrypt",
            format!("N·r·p={work}"),
            Limits::SCRYPT_WORK,
        ));
    }
    if expected.len() < 16 || expected.len() > 128 {
        return Err(malformed("scrypt", "derived key must be 16 to 128 bytes"));
    }
    Ok(Kind::Scrypt {
        log_n: n.trailing_zeros() as u8,
        r: r as u32,
        p: p as u32,
        salt,
        expected,
    })
}

/// `pbkdf2:sha256:600000$salt$hex` (the salt is used as its UTF-8 bytes).
fn werkzeug_pbkdf2(rest: &str) -> Result<Kind, HashError> {
    let (method, salt, hex) = three(rest, "pbkdf2")?;
    let mut m = method.split(':');
    let digest = m
        .next()
        .and_then(Digest::from_name)
        .ok_or(malformed("pbkdf2", "unsupported digest"))?;
    let iterations = m
        .next()
        .ok_or(malformed(digest.scheme(), "no iteration count"))?;
    if m.next().is_some() {
        return Err(malformed(digest.scheme(), "too many fields"));
    }
    let expected = from_hex(hex).ok_or(malformed(digest.scheme(), "hash is not hex"))?;
    pbkdf2_kind(digest, iterations, salt.as_bytes().to_vec(), expected)
}

/// `scrypt:32768:8:1$salt$hex`.
fn werkzeug_scrypt(rest: &str) -> Result<Kind, HashError> {
    let (method, salt, hex) = three(rest, "scrypt")?;
    let nums: Vec<u64> = method
        .split(':')
        .map(|x| {
            x.parse()
                .map_err(|_| malformed("scrypt", "N:r:p are not numbers"))
        })
        .collect::<Result<_, _>>()?;
    let [n, r, p] = nums[..] else {
        return Err(malformed("scrypt", "expected scrypt:N:r:p"));
    };
    let expected = from_hex(hex).ok_or(malformed("scrypt", "hash is not hex"))?;
    scrypt_kind(n, r, p, salt.as_bytes().to_vec(), expected)
}

/// `pbkdf2_sha256$iterations$salt$base64`.
fn django_pbkdf2(digest: Digest, rest: &str) -> Result<Kind, HashError> {
    let (iterations, salt, b64) = three(rest, digest.scheme())?;
    let expected = STANDARD
        .decode(b64)
        .map_err(|_| malformed(digest.scheme(), "hash is not base64"))?;
    pbkdf2_kind(digest, iterations, salt.as_bytes().to_vec(), expected)
}

/// `scrypt$N$salt$r$p$base64` (Django's order).
fn django_scrypt(rest: &str) -> Result<Kind, HashError> {
    let f: Vec<&str> = rest.split('$').collect();
    let [n, salt, r, p, b64] = f[..] else {
        return Err(malformed("scrypt", "expected scrypt$N$salt$r$p$hash"));
    };
    let num = |x: &str| {
        x.parse::<u64>()
            .map_err(|_| malformed("scrypt", "N, r and p must be numbers"))
    };
    let expected = STANDARD
        .decode(b64)
        .map_err(|_| malformed("scrypt", "hash is not base64"))?;
    scrypt_kind(
        num(n)?,
        num(r)?,
        num(p)?,
        salt.as_bytes().to_vec(),
        expected,
    )
}

/// passlib's `$pbkdf2-sha256$rounds$salt$checksum` (adapted base64), or the PHC form
/// `$pbkdf2-sha256$i=N,l=L$salt$hash`. `rest` follows `$pbkdf2`.
fn dollar_pbkdf2(rest: &str) -> Result<Kind, HashError> {
    let (digest, rest) = match rest.split_once('$') {
        Some(("", r)) | Some(("-sha1", r)) => (Digest::Sha1, r),
        Some(("-sha256", r)) => (Digest::Sha256, r),
        Some(("-sha512", r)) => (Digest::Sha512, r),
        _ => return Err(HashError::Unknown),
    };
    let (params, salt, hash) = three(rest, digest.scheme())?;
    let bad = |what| malformed(digest.scheme(), what);
    let salt = ab64(salt).ok_or(bad("salt is not base64"))?;
    let expected = ab64(hash).ok_or(bad("hash is not base64"))?;
    let iterations = if params.starts_with("i=") {
        let mut iterations = None;
        for kv in params.split(',') {
            match kv.split_once('=') {
                Some(("i", v)) => iterations = Some(v),
                Some(("l", v)) if v.parse() == Ok(expected.len()) => {}
                _ => return Err(bad("unknown parameter")),
            }
        }
        iterations.ok_or(bad("no iteration count"))?
    } else {
        params
    };
    pbkdf2_kind(digest, iterations, salt, expected)
}

/// `$scrypt$ln=16,r=8,p=1$salt$hash` (passlib and PHC). `rest` follows `$scrypt$`.
fn phc_scrypt(rest: &str) -> Result<Kind, HashError> {
    let (params, salt, hash) = three(rest, "scrypt")?;
    let (mut ln, mut r, mut p) = (None, None, None);
    for kv in params.split(',') {
        let (k, v) = kv
            .split_once('=')
            .ok_or(malformed("scrypt", "parameters must be k=v"))?;
        let v: u64 = v
            .parse()
            .map_err(|_| malformed("scrypt", "parameters must be numbers"))?;
        match k {
            "ln" => ln = Some(v),
            "r" => r = Some(v),
            "p" => p = Some(v),
            _ => return Err(malformed("scrypt", "unknown parameter")),
        }
    }
    let (Some(ln), Some(r), Some(p)) = (ln, r, p) else {
        return Err(malformed("scrypt", "ln, r and p are required"));
    };
    if !(1..=32).contains(&ln) {
        return Err(too_costly("scrypt", format!("ln={ln}"), 20));
    }
    let salt = ab64(salt).ok_or(malformed("scrypt", "salt is not base64"))?;
    let expected = ab64(hash).ok_or(malformed("scrypt", "hash is not base64"))?;
    scrypt_kind(1 << ln, r, p, salt, expected)
}

fn salted_weak(digest: Weak, rest: &str) -> Result<Kind, HashError> {
    let name = match digest {
        Weak::Md5 => "md5",
        Weak::Sha1 => "sha1",
    };
    let (salt, hex) = rest
        .split_once('$')
        .ok_or(malformed(name, "expected salt$hex"))?;
    let expected = from_hex(hex).ok_or(malformed(name, "hash is not hex"))?;
    let len = match digest {
        Weak::Md5 => 16,
        Weak::Sha1 => 20,
    };
    if expected.len() != len || salt.contains('$') {
        return Err(malformed(name, "wrong digest length"));
    }
    Ok(Kind::Weak {
        digest,
        salt: salt.as_bytes().to_vec(),
        expected,
    })
}

fn unsalted_weak(digest: Weak, hex: &str) -> Result<Kind, HashError> {
    Ok(Kind::Weak {
        digest,
        salt: Vec::new(),
        expected: from_hex(hex).ok_or(HashError::Unknown)?,
    })
}

/// `a$b$c`, exactly three fields.
fn three<'a>(s: &'a str, scheme: &'static str) -> Result<(&'a str, &'a str, &'a str), HashError> {
    let mut f = s.split('$');
    match (f.next(), f.next(), f.next(), f.next()) {
        (Some(a), Some(b), Some(c), None) if !a.is_empty() && !c.is_empty() => Ok((a, b, c)),
        _ => Err(malformed(scheme, "wrong number of $-separated fields")),
    }
}

/// Standard or adapted (passlib: `.` for `+`) base64, padded or not.
fn ab64(s: &str) -> Option<Vec<u8>> {
    let s: String = s
        .trim_end_matches('=')
        .chars()
        .map(|c| if c == '.' { '+' } else { c })
        .collect();
    STANDARD_NO_PAD.decode(s).ok()
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !is_hex(s) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn to_hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

#[cfg(test)]
mod tests;
