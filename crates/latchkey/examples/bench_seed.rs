//! Benchmark helper (not part of Latchkey): seeds users straight into a migrated database,
//! and times one argon2id hash at Latchkey's default parameters.
//!
//! ```text
//! bench_seed seed <DATABASE_URL> <USERS> <PASSWORD>   # users bench.<name>.<n>, one shared hash
//! bench_seed hash-time [SAMPLES]                       # median time of one hash, in ms
//! bench_seed hash-parallel <THREADS> <PER_THREAD>      # ms per hash with THREADS hashing
//! ```
//!
//! Seeding goes through SQL, not the API, so a million users take seconds rather than the
//! hours a million argon2 hashes would: every seeded user shares one hash of `PASSWORD`.
//! Rows look like real sign-ups (names, unique usernames and emails); the database's own
//! triggers keep the search index and user count in step, as they do for the API's writes.

use std::time::Instant;

use latchkey::core::password::{HashParams, Hasher};
use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::Executor;

/// The server's allocator, so the hash is timed as the server runs it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const FIRST: &[&str] = &[
    "ada", "alan", "amara", "ana", "anders", "aisha", "bruno", "carla", "chen", "dmitri", "elena",
    "emeka", "farah", "felix", "grace", "hana", "hugo", "ines", "ivan", "jamal", "jonas", "julia",
    "kenji", "lara", "leila", "luca", "maria", "mateo", "mei", "nadia", "nikhil", "noor", "olga",
    "omar", "paulo", "priya", "quinn", "rafael", "rosa", "sami", "sara", "sofia", "tariq", "tomas",
    "uma", "vera", "wei", "yara", "yusuf", "zoe",
];
const LAST: &[&str] = &[
    "abara",
    "becker",
    "costa",
    "dubois",
    "eriksen",
    "fischer",
    "garcia",
    "haddad",
    "ito",
    "jensen",
    "kowalski",
    "lopez",
    "mendoza",
    "nakamura",
    "okafor",
    "petrov",
    "quispe",
    "rossi",
    "santos",
    "tanaka",
    "usman",
    "varga",
    "wagner",
    "xu",
    "yilmaz",
    "zhang",
    "novak",
    "silva",
    "kim",
    "moreau",
    "ivanova",
    "hansen",
    "bianchi",
    "nguyen",
    "kaur",
    "mensah",
    "popescu",
    "sato",
    "weber",
    "horvat",
    "lindqvist",
    "oconnor",
    "papadopoulos",
    "ramos",
    "schmidt",
    "takahashi",
    "volkov",
    "walsh",
    "yamamoto",
    "zielinski",
];

/// The median time of one hash with Latchkey's own hasher (its dedicated hashing thread,
/// default parameters), one at a time, in ms: the work one login costs.
fn hash_time(samples: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hasher = Hasher::new(HashParams::default(), 1).expect("hasher");
    rt.block_on(async {
        hasher.hash("warm-up password").await.expect("hash");
        let mut times = Vec::new();
        for i in 0..samples.max(1) {
            let t = Instant::now();
            hasher
                .hash(&format!("sample password {i}"))
                .await
                .expect("hash");
            times.push(t.elapsed());
        }
        times.sort();
        println!("{:.3}", times[times.len() / 2].as_secs_f64() * 1000.0);
    });
}

/// `threads` hashes at a time, `per_thread` rounds: prints the wall time per round in ms,
/// i.e. what one hash costs when every core hashes (cores share cache and memory bandwidth).
fn hash_parallel(threads: usize, per_thread: usize) {
    let threads = threads.max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hasher = Hasher::new(HashParams::default(), threads).expect("hasher");
    let round = |label: &'static str, rounds: usize| {
        let tasks: Vec<_> = (0..threads)
            .map(|t| {
                let h = hasher.clone();
                tokio::spawn(async move {
                    for i in 0..rounds {
                        h.hash(&format!("{label} {t} {i}")).await.expect("hash");
                    }
                })
            })
            .collect();
        async move {
            for t in tasks {
                t.await.expect("task");
            }
        }
    };
    rt.block_on(async {
        round("warm", 1).await;
        let start = Instant::now();
        round("timed", per_thread.max(1)).await;
        let per_round = start.elapsed().as_secs_f64() * 1000.0 / per_thread.max(1) as f64;
        println!("{per_round:.3}");
    });
}

async fn seed(url: &str, users: u64, password: &str) -> Result<(), sqlx::Error> {
    install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    // A bulk load that is rerun from scratch when it fails: no need to fsync.
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;")
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?;
    let start: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM users")
        .fetch_one(&pool)
        .await?;
    let phc = Hasher::new(HashParams::default(), 1)
        .expect("hasher")
        .hash(password)
        .await
        .expect("hash");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    const PER_STATEMENT: u64 = 500;
    const PER_TX: u64 = 20_000;
    let began = Instant::now();
    let mut done = 0u64;
    while done < users {
        let mut tx = pool.begin().await?;
        let tx_end = (done + PER_TX).min(users);
        while done < tx_end {
            let n = (tx_end - done).min(PER_STATEMENT);
            let mut sql = String::from(
                "INSERT INTO users (uuid, username, username_key, email, email_key, password_hash, \
                 first_name, last_name, is_active, search_text, created_at, updated_at) VALUES ",
            );
            let mut p = 0;
            for r in 0..n {
                if r > 0 {
                    sql.push(',');
                }
                sql.push('(');
                for c in 0..11 {
                    if c > 0 {
                        sql.push(',');
                    }
                    if c == 8 {
                        sql.push_str("TRUE,");
                    }
                    p += 1;
                    sql.push_str(&format!("${p}"));
                }
                sql.push(')');
            }
            let mut q = sqlx::query(&sql);
            for r in 0..n {
                let i = start as u64 + done + r + 1;
                let first = FIRST[(i % FIRST.len() as u64) as usize];
                let last = LAST[((i / FIRST.len() as u64) % LAST.len() as u64) as usize];
                let username = format!("{first}.{last}{i}");
                let email = format!("{first}.{last}.{i}@example.org");
                let search = format!("{username} {email} {first} {last}");
                let created = now - 1_000_000_000 + i as i64;
                q = q
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(username.clone())
                    .bind(username)
                    .bind(email.clone())
                    .bind(email)
                    .bind(phc.clone())
                    .bind(first.to_owned())
                    .bind(last.to_owned())
                    .bind(search)
                    .bind(created)
                    .bind(created);
            }
            q.execute(&mut *tx).await?;
            done += n;
        }
        tx.commit().await?;
    }
    if sqlite {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await?;
    } else {
        // What autovacuum would do soon after a bulk load: statistics, and the visibility
        // map that lets index-only scans skip the heap.
        sqlx::query("VACUUM ANALYZE users").execute(&pool).await?;
    }
    pool.close().await;
    eprintln!(
        "seeded {users} users in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench_seed seed <DATABASE_URL> <USERS> <PASSWORD> | bench_seed hash-time [SAMPLES] \
                 | bench_seed hash-parallel <THREADS> <PER_THREAD>";
    match args.first().map(String::as_str) {
        Some("hash-parallel") => hash_parallel(
            args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2),
            args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10),
        ),
        Some("hash-time") => hash_time(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(15)),
        Some("seed") if args.len() == 4 => {
            let users: u64 = args[2].parse().expect(usage);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            if let Err(e) = rt.block_on(seed(&args[1], users, &args[3])) {
                eprintln!("bench_seed: {e}");
                std::process::exit(1);
            }
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
