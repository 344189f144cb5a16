//! Password hashing: argon2id on dedicated hashing threads.
//!
//! Hashing is CPU-bound (tens of milliseconds), so it never runs on the async executor: each
//! hash takes a permit from a semaphore and then runs on one of a fixed set of dedicated
//! hashing threads (one per core by default). A login storm therefore queues behind the
//! permits instead of stalling the executor threads that serve token-checked reads.
//!
//! There are two permits per thread: one hash running and the next one already waiting in the
//! threads' queue, so a thread that finishes starts its next hash at once instead of idling
//! until the executor has handed back the result and woken the next waiter (on a busy machine
//! that hand-off took 3 % of each hashing thread's time). A request that gives up while
//! waiting for a permit costs no hash; at most one queued hash per thread can outlive its
//! request.
//!
//! Imported hashes (bcrypt, PBKDF2, scrypt, other argon2 parameters: [`legacy`]) verify on the
//! same threads, and a match is answered with an argon2id hash at the configured parameters
//! to store in its place.

pub mod legacy;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// Work for a hashing thread, given that thread's argon2 block memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// A fixed set of threads that do nothing but hash. Each keeps one argon2 block buffer
/// (19 MiB at the defaults) for its life: no allocation, page faults or zeroing per hash, and
/// the executor's threads never run a hash.
struct HashPool {
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
}

impl HashPool {
    fn new(threads: usize) -> CoreResult<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("latchkey-hash-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        // The lock is held only while waiting for a job, not while hashing.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut memory),
                            // Every sender is gone: the hasher was dropped.
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| CoreError::internal(anyhow::anyhow!("hash thread: {e}")))?;
        }
        Ok(HashPool {
            jobs: Mutex::new(tx),
        })
    }

    fn submit(&self, job: Job) -> CoreResult<()> {
        self.jobs
            .lock()
            .map_err(|_| CoreError::internal(anyhow::anyhow!("hash pool poisoned")))?
            .send(job)
            .map_err(|_| CoreError::internal(anyhow::anyhow!("hash pool stopped")))
    }
}

#[derive(Clone)]
pub struct Hasher {
    params: HashParams,
    permits: Arc<Semaphore>,
    pool: Arc<HashPool>,
    /// A hash of a random password at the current parameters: verifying against it makes a
    /// login for an unknown user cost the same as one for a known user.
    dummy: Arc<String>,
    /// How long an argon2id verification at the current parameters takes (microseconds, a
    /// moving average of the last ones): a wrong password against a cheaper imported hash is
    /// answered no sooner, so the answer's timing does not tell imported users apart.
    floor_us: Arc<AtomicU64>,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, and the stored hash used another scheme or other parameters: here is a fresh
    /// hash to store in its place.
    YesRehashed {
        hash: String,
        /// The scheme of the replaced hash (`bcrypt`, `pbkdf2-sha256`, `argon2id`, …).
        from: &'static str,
    },
}

impl Hasher {
    pub fn new(params: HashParams, workers: usize) -> CoreResult<Self> {
        params.argon2()?;
        Ok(Hasher {
            params,
            permits: Arc::new(Semaphore::new(2 * workers.max(1))),
            pool: Arc::new(HashPool::new(workers)?),
            dummy: Arc::new(dummy_hash(params)),
            floor_us: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn params(&self) -> HashParams {
        self.params
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(Argon2<'static>, &mut Vec<Block>) -> T + Send + 'static,
    ) -> CoreResult<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| CoreError::internal(anyhow::anyhow!("hash pool closed: {e}")))?;
        let argon = self.params.argon2()?;
        let span = tracing::Span::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.submit(Box::new(move |memory| {
            let _ = tx.send(span.in_scope(|| f(argon, memory)));
        }))?;
        rx.await
            .map_err(|_| CoreError::internal(anyhow::anyhow!("hash task failed")))
    }

    /// Hashes a new password (the caller has validated it).
    pub async fn hash(&self, password: &str) -> CoreResult<String> {
        let pw = password.as_bytes().to_vec();
        self.run(move |argon, memory| new_hash(&argon, &pw, memory))
            .await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// user or the stored string is unusable (no password, an unknown format): always `No`
    /// then, at the same cost.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> CoreResult<Verified> {
        let pw = password.as_bytes().to_vec();
        let stored = stored.map(str::to_owned);
        let wanted = self.params;
        let dummy = self.dummy.clone();
        let floor = self.floor_us.clone();
        let started = Instant::now();
        let (verdict, imported) = self
            .run(move |argon, memory| {
                // The full cost of a real verification, against a hash nothing matches.
                let dummy_verify = |memory: &mut Vec<Block>| {
                    if let Ok(parsed) = PasswordHash::new(&dummy) {
                        verify_current(&argon, &pw, &parsed, memory, &floor);
                    }
                };
                let current = stored.as_deref().and_then(|s| current_hash(s, wanted));
                if let Some(parsed) = current {
                    let ok = verify_current(&argon, &pw, &parsed, memory, &floor);
                    return (
                        if ok {
                            Ok(Verified::Yes)
                        } else {
                            Ok(Verified::No)
                        },
                        false,
                    );
                }
                let scheme = stored
                    .as_deref()
                    .and_then(|s| legacy::Scheme::parse(s).ok());
                let Some(scheme) = scheme else {
                    // Unknown user or unusable hash.
                    dummy_verify(memory);
                    return (Ok(Verified::No), false);
                };
                if !scheme.verify(&pw) {
                    if floor.load(Ordering::Relaxed) == 0 {
                        // No argon2id verification has been timed yet: time one now, so
                        // this answer (and the next ones) wait as long as a native user's.
                        dummy_verify(memory);
                    }
                    return (Ok(Verified::No), true);
                }
                if !scheme.upgradable(&pw) {
                    return (Ok(Verified::Yes), true);
                }
                let from = scheme.name();
                let rehashed =
                    new_hash(&argon, &pw, memory).map(|hash| Verified::YesRehashed { hash, from });
                (rehashed, true)
            })
            .await?;
        if imported && verdict.as_ref().is_ok_and(|v| *v == Verified::No) {
            let floor = Duration::from_micros(self.floor_us.load(Ordering::Relaxed));
            if let Some(rest) = floor.checked_sub(started.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        }
        verdict
    }
}

/// `stored` parsed, when it is an argon2id v19 hash at exactly the configured parameters.
fn current_hash(stored: &str, wanted: HashParams) -> Option<PasswordHash<'_>> {
    let parsed = PasswordHash::new(stored).ok()?;
    (hash_params(&parsed) == Some(wanted)
        && parsed.algorithm.as_str() == "argon2id"
        && parsed.version == Some(0x13))
    .then_some(parsed)
}

/// The common case: recompute in this thread's buffer and compare the outputs in constant
/// time (`Output`'s equality is constant-time). Records how long it took.
fn verify_current(
    argon: &Argon2<'_>,
    pw: &[u8],
    parsed: &PasswordHash<'_>,
    memory: &mut Vec<Block>,
    floor_us: &AtomicU64,
) -> bool {
    let started = Instant::now();
    let ok = match (parsed.salt, parsed.hash) {
        (Some(salt), Some(expected)) => {
            let mut out = vec![0u8; expected.len()];
            compute(argon, pw, salt, &mut out, memory).is_ok()
                && Output::new(&out).is_ok_and(|o| o == expected)
        }
        _ => false,
    };
    let took = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u64;
    // A moving average over the last few verifications (7/8 old, 1/8 new).
    let old = floor_us.load(Ordering::Relaxed);
    let avg = if old == 0 { took } else { (old * 7 + took) / 8 };
    floor_us.store(avg, Ordering::Relaxed);
    ok
}

/// argon2 into `out`, in `memory` (grown to the parameters' block count on first use; its
/// previous contents do not matter: every block is written before it is read).
fn compute(
    argon: &Argon2<'_>,
    pw: &[u8],
    salt: Salt<'_>,
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> Result<(), argon2::password_hash::Error> {
    let blocks = argon.params().block_count();
    if memory.len() != blocks {
        *memory = vec![Block::default(); blocks];
    }
    let mut buf = [0u8; Salt::MAX_LENGTH];
    let salt = salt.decode_b64(&mut buf)?;
    argon.hash_password_into_with_memory(pw, salt, out, &mut memory[..])?;
    Ok(())
}

/// A new PHC string for `pw` at `argon`'s parameters, with a fresh random salt.
fn new_hash(argon: &Argon2<'_>, pw: &[u8], memory: &mut Vec<Block>) -> CoreResult<String> {
    let fail =
        |e: argon2::password_hash::Error| CoreError::internal(anyhow::anyhow!("argon2: {e}"));
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut out = [0u8; 32];
    compute(argon, pw, salt.as_salt(), &mut out, memory).map_err(fail)?;
    let params = argon2::password_hash::ParamsString::try_from(argon.params()).map_err(fail)?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(0x13),
        params,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(fail)?),
    };
    Ok(hash.to_string())
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
    use argon2::password_hash::PasswordVerifier;

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
    async fn hashes_interoperate_with_the_argon2_crate_both_ways() {
        use argon2::password_hash::PasswordHasher;
        let h = Hasher::new(FAST, 1).unwrap();
        let argon = FAST.argon2().unwrap();
        // Ours, checked by the reference implementation.
        let ours = h.hash("correct horse").await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon.verify_password(b"correct horse", &parsed).is_ok());
        assert!(argon.verify_password(b"correct horsf", &parsed).is_err());
        // The reference's, checked by ours (the reused buffer must not leak between hashes).
        for pw in ["first password", "second password", "first password"] {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            let theirs = argon
                .hash_password(pw.as_bytes(), &salt)
                .unwrap()
                .to_string();
            assert_eq!(h.verify(pw, Some(&theirs)).await.unwrap(), Verified::Yes);
            assert_eq!(
                h.verify("other", Some(&theirs)).await.unwrap(),
                Verified::No
            );
        }
        // Garbage never verifies.
        for bad in [
            "",
            "$argon2id$",
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$",
            "plain",
        ] {
            assert_eq!(
                h.verify("x", Some(bad)).await.unwrap(),
                Verified::No,
                "{bad}"
            );
        }
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
            Verified::YesRehashed { hash, from } => {
                assert!(hash.starts_with("$argon2id$v=19$m=128,t=1,p=1$"));
                assert_eq!(from, "argon2id");
            }
            other => panic!("expected a rehash, got {other:?}"),
        }
        assert_eq!(
            new.verify("wrong horse", Some(&stored)).await.unwrap(),
            Verified::No
        );
    }
}
