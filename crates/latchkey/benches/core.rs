//! Criterion micro-benchmarks of the work on Latchkey's hot paths: signing and verifying an
//! access token (first sight and cached), the refresh-token digest, and one argon2id hash at
//! the default parameters. `cargo bench --bench core`; figures in docs/performance.md.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use latchkey::core::model::{SessionId, Timestamp, UserId};
use latchkey::core::password::{HashParams, Hasher};
use latchkey::core::tokens::{new_refresh_token, refresh_digest, TokenService};

/// The server's allocator (src/main.rs), so figures match what it runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn tokens() -> TokenService {
    let svc = TokenService::new("latchkey".into(), "latchkey".into(), 900);
    let key = svc
        .new_key(latchkey::core::keys::KeyAlg::EdDSA)
        .expect("key");
    svc.load_keys(&[key]).expect("load");
    svc
}

fn token_benches(c: &mut Criterion) {
    let svc = tokens();
    let sid = SessionId("3f0c1a52-7d55-4a43-9a52-2c8b0d5e8f10".into());
    let expires = Timestamp::now().plus_secs(3600);
    c.bench_function("token/issue", |b| {
        b.iter(|| svc.issue(UserId(42), &sid, expires).expect("issue"))
    });
    c.bench_function("token/verify_first_sight", |b| {
        b.iter_batched(
            || svc.issue(UserId(42), &sid, expires).expect("issue").0,
            |token| svc.verify(&token).expect("verify"),
            BatchSize::SmallInput,
        )
    });
    let (token, _) = svc.issue(UserId(42), &sid, expires).expect("issue");
    svc.verify(&token).expect("verify");
    c.bench_function("token/verify_cached", |b| {
        b.iter(|| svc.verify(&token).expect("verify"))
    });
    let refresh = new_refresh_token();
    c.bench_function("refresh/digest", |b| b.iter(|| refresh_digest(&refresh)));
}

fn hash_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hasher = Hasher::new(HashParams::default(), 1).expect("hasher");
    let mut g = c.benchmark_group("password");
    g.sample_size(20);
    g.bench_function("argon2id_hash_default", |b| {
        b.iter(|| {
            rt.block_on(hasher.hash("correct horse battery staple"))
                .expect("hash")
        })
    });
    g.finish();
}

criterion_group!(benches, token_benches, hash_benches);
criterion_main!(benches);
