//! Password hashing: argon2id on a bounded blocking pool.
//!
//! Hashing is CPU-bound (tens of milliseconds), so it never runs on the async executor: each
//! hash takes a permit from a semaphore sized to the machine's cores and then runs on tokio's
//! blocking pool. A login storm therefore queues behind the permits instead of stalling the
//! executor threads that serve token-checked reads.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::error::{CoreError, CoreResult};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

impl Default for HashParams {
    /// OWASP's argon2id recommendation: m=19456 KiB (19 MiB), t=2, p=1.
    fn default() -> Self {
        HashParams {
            m_kib: 19_456,
            t: 2,
            p: 1,
        }
    }
}

impl HashParams {
    fn argon2(&self) -> CoreResult<Argon2<'static>> {
        let params = Params::new(self.m_kib, self.t, self.p, None)
            .map_err(|e| CoreError::internal(anyhow::anyhow!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Checks the parameters once at start-up, so a bad configuration is a start error.
    pub fn validate(&self) -> Result<(), String> {
        Params::new(self.m_kib, self.t, self.p, None)
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "invalid argon2 parameters m={} t={} p={}: {e}",
                    self.m_kib, self.t, self.p
                )
            })
    }
}

#[derive(Clone)]
pub struct Hasher {
    params: HashParams,
    permits: Arc<Semaphore>,
    /// A hash of a random password at the current parameters: verifying against it makes a
    /// login for an unknown user cost the same as one for a known user.
    dummy: Arc<String>,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, and the stored hash used other parameters: here is a fresh hash to store.
    YesRehashed(String),
}

impl Hasher {
    pub fn new(params: HashParams, workers: usize) -> CoreResult<Self> {
        params.argon2()?;
        Ok(Hasher {
            params,
            permits: Arc::new(Semaphore::new(workers.max(1))),
            dummy: Arc::new(dummy_hash(params)),
        })
    }

    pub fn params(&self) -> HashParams {
        self.params
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(Argon2<'static>) -> T + Send + 'static,
    ) -> CoreResult<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| CoreError::internal(anyhow::anyhow!("hash pool closed: {e}")))?;
        let argon = self.params.argon2()?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| f(argon)))
            .await
            .map_err(|e| CoreError::internal(anyhow::anyhow!("hash task failed: {e}")))
    }

    /// Hashes a new password (the caller has validated it).
    pub async fn hash(&self, password: &str) -> CoreResult<String> {
        let pw = password.as_bytes().to_vec();
        self.run(move |argon| {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon
                .hash_password(&pw, &salt)
                .map(|h| h.to_string())
                .map_err(|e| CoreError::internal(anyhow::anyhow!("argon2: {e}")))
        })
        .await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// user (always `No` then, at the same cost).
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> CoreResult<Verified> {
        let pw = password.as_bytes().to_vec();
        let known = stored.is_some();
        let stored = stored
            .map(str::to_owned)
            .unwrap_or_else(|| (*self.dummy).clone());
        let wanted = self.params;
        self.run(move |argon| {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Ok(Verified::No);
            };
            // Verify with the parameters the hash carries (argon2 reads them from the PHC
            // string), then decide whether it needs upgrading.
            if argon.verify_password(&pw, &parsed).is_err() || !known {
                return Ok(Verified::No);
            }
            if hash_params(&parsed) == Some(wanted) && parsed.algorithm.as_str() == "argon2id" {
                return Ok(Verified::Yes);
            }
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon
                .hash_password(&pw, &salt)
                .map(|h| Verified::YesRehashed(h.to_string()))
                .map_err(|e| CoreError::internal(anyhow::anyhow!("argon2: {e}")))
        })
        .await?
    }
}

/// A PHC string at `params` with a random salt and a random 32-byte "hash". Verifying a
/// password against it runs the full argon2id computation those parameters cost (the cost
/// is set by the parameters, not by how the hash bytes were made) and never matches. Made
/// without hashing, so start-up pays neither the time nor the 19 MiB of a hash.
fn dummy_hash(params: HashParams) -> String {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use base64::Engine;
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let output: [u8; 32] = rand::random();
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_kib,
        params.t,
        params.p,
        salt.as_str(),
        STANDARD_NO_PAD.encode(output)
    )
}

fn hash_params(h: &PasswordHash<'_>) -> Option<HashParams> {
    let p = Params::try_from(h).ok()?;
    Some(HashParams {
        m_kib: p.m_cost(),
        t: p.t_cost(),
        p: p.p_cost(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: HashParams = HashParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    #[tokio::test]
    async fn hashes_verify_and_carry_their_parameters() {
        let h = Hasher::new(FAST, 2).unwrap();
        let stored = h.hash("correct horse").await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            h.verify("correct horse", Some(&stored)).await.unwrap(),
            Verified::Yes
        );
        assert_eq!(
            h.verify("Correct horse", Some(&stored)).await.unwrap(),
            Verified::No
        );
        assert_eq!(h.verify("correct horse", None).await.unwrap(), Verified::No);
    }

    #[test]
    fn the_dummy_hash_is_a_valid_hash_at_the_configured_parameters() {
        let params = HashParams::default();
        let h = Hasher::new(params, 1).unwrap();
        let parsed = PasswordHash::new(&h.dummy).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert_eq!(hash_params(&parsed), Some(params));
        assert_eq!(parsed.hash.map(|o| o.len()), Some(32));
        // A real verification runs (and fails) against it.
        let argon = FAST.argon2().unwrap();
        let fast = dummy_hash(FAST);
        assert!(argon
            .verify_password(b"anything", &PasswordHash::new(&fast).unwrap())
            .is_err());
    }

    #[tokio::test]
    async fn a_changed_configuration_rehashes_on_success() {
        let old = Hasher::new(FAST, 1).unwrap();
        let stored = old.hash("correct horse").await.unwrap();
        let new = Hasher::new(
            HashParams {
                m_kib: 128,
                t: 1,
                p: 1,
            },
            1,
        )
        .unwrap();
        match new.verify("correct horse", Some(&stored)).await.unwrap() {
            Verified::YesRehashed(h) => assert!(h.starts_with("$argon2id$v=19$m=128,t=1,p=1$")),
            other => panic!("expected a rehash, got {other:?}"),
        }
        assert_eq!(
            new.verify("wrong horse", Some(&stored)).await.unwrap(),
            Verified::No
        );
    }
}
