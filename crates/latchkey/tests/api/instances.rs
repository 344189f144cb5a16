//! Several instances on one database: revocations, role changes and keys propagate.

use std::time::Duration;

use latchkey::store::PoolConfig;
use serde_json::json;

use crate::helpers::*;

async fn revocation_is_seen_by_a_second_instance(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let mut cfg = test_config();
    cfg.sync_interval = Duration::from_millis(1000);
    let a = Instance::start(&db.url, cfg.clone()).await;
    let b = Instance::start(&db.url, cfg).await;
    let http = reqwest::Client::new();
    let login = login_at(&http, &a.base, "admin", ADMIN_PASSWORD).await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let me = |base: String, token: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/v1/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Warm B's cache so that a stale cache would answer 200.
    assert_eq!(me(b.base.clone(), token.clone()).await, 200);
    let r = http
        .post(format!("{}/v1/auth/logout", a.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me(a.base.clone(), token.clone()).await, 401);
    assert!(
        within_a_second_and_a_half(|| {
            let f = me(b.base.clone(), token.clone());
            async move { f.await == 401 }
        })
        .await,
        "instance B still accepts a token logged out on A"
    );

    // A role removed on A stops granting on B.
    let login = login_at(&http, &a.base, "admin", ADMIN_PASSWORD).await;
    let admin = login["access_token"].as_str().unwrap().to_owned();
    let created = http
        .post(format!("{}/v1/users", a.base))
        .bearer_auth(&admin)
        .json(&json!({"username": "rita", "email": "rita@example.com", "password": "password-123", "roles": ["admin"]}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let rid = created["id"].as_i64().unwrap();
    let rita = login_at(&http, &b.base, "rita", "password-123").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = |token: String| {
        let http = http.clone();
        let base = b.base.clone();
        async move {
            http.get(format!("{base}/v1/users"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(list(rita.clone()).await, 200);
    let r = http
        .delete(format!("{}/v1/users/{rid}/roles/admin", a.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        within_a_second_and_a_half(|| {
            let f = list(rita.clone());
            async move { f.await == 403 }
        })
        .await,
        "instance B still grants a removed role"
    );

    // Keys rotated on A verify on B, and B's old tokens still verify.
    a.svc.rotate_keys().await.unwrap();
    let fresh = login_at(&http, &a.base, "admin", ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        within_a_second_and_a_half(|| {
            let f = me(b.base.clone(), fresh.clone());
            async move { f.await == 200 }
        })
        .await,
        "instance B does not know A's new key"
    );
    assert_eq!(me(b.base.clone(), admin.clone()).await, 200);
    let jwks = http
        .get(format!("{}/.well-known/jwks.json", b.base))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let ed25519 = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == "EdDSA")
        .count();
    assert_eq!(ed25519, 2, "old key stays published while its tokens live");
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        4,
        "the rotation also made the RS256 and ES256 keys"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_role_and_key_changes_reach_a_second_instance_on_postgres() {
    revocation_is_seen_by_a_second_instance(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_role_and_key_changes_reach_a_second_instance_on_sqlite() {
    revocation_is_seen_by_a_second_instance(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_racing_on_a_fresh_postgres_database_migrate_once() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let (a, b) = tokio::join!(
        Instance::start(&db.url, test_config()),
        Instance::start(&db.url, test_config())
    );
    let count = a.svc.store().count_users().await.unwrap();
    assert_eq!(count, 1, "exactly one bootstrap admin");
    a.stop().await;
    b.stop().await;
}

/// Two instances behind a transaction-mode pgbouncer (`--db-statement-cache 0`, LISTEN on the
/// direct URL): 48 clients of reads, lists and writes over pgbouncer's 8 server connections,
/// so every client's statements are shuffled across servers, and not one fails; a logout on
/// one instance is refused on the other within the propagation bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_pgbouncer_on_postgres_serve_mixed_traffic() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    if !pooler_reachable().await {
        return;
    }
    let name = db.url.rsplit('/').next().unwrap();
    let pooled = format!("{}/{name}", pooler_url().rsplit_once('/').unwrap().0);
    let pool = PoolConfig {
        max_connections: 24,
        statement_cache: Some(0),
        direct_url: Some(db.url.clone()),
        ..PoolConfig::default()
    };
    let mut cfg = test_config();
    cfg.sync_interval = Duration::from_secs(30); // LISTEN, not the poll, must carry the logout
    let mut insts = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        insts.push(
            Instance::start_pooled(
                listener,
                &pooled,
                pool.clone(),
                cfg.clone(),
                Default::default(),
                None,
            )
            .await,
        );
    }
    let http = reqwest::Client::new();
    let admin = login_at(&http, &insts[0].base, "admin", ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tasks = Vec::new();
    for c in 0..48usize {
        let base = insts[c % 2].base.clone();
        let (http, admin) = (http.clone(), admin.clone());
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            // Bounded: 12 requests a client.
            for i in 0..12usize {
                let r = match (c + i) % 4 {
                    0 => http.get(format!("{base}/v1/me")).bearer_auth(&admin),
                    1 => http
                        .get(format!("{base}/v1/users?per_page=5&q=pool"))
                        .bearer_auth(&admin),
                    2 => http.get(format!("{base}/v1/users/1")).bearer_auth(&admin),
                    _ => http
                        .post(format!("{base}/v1/users"))
                        .bearer_auth(&admin)
                        .json(&json!({
                            "username": format!("pool{c}x{i}"),
                            "email": format!("pool{c}x{i}@example.com"),
                            "password": "correct horse battery staple",
                        })),
                };
                statuses.push(r.send().await.unwrap().status().as_u16());
            }
            statuses
        }));
    }
    let mut created = 0;
    for t in tasks {
        for s in t.await.unwrap() {
            assert!(
                s == 200 || s == 201,
                "a request failed behind the pooler: {s}"
            );
            created += usize::from(s == 201);
        }
    }
    assert_eq!(created, 48 * 3);
    let count = insts[1].svc.store().count_users().await.unwrap();
    assert_eq!(count, 1 + 48 * 3, "every acknowledged write is there");

    // A logout on A reaches B through LISTEN on the direct connection.
    let token = login_at(
        &http,
        &insts[0].base,
        "pool0x3",
        "correct horse battery staple",
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me_on_b = || {
        let (http, token, base) = (http.clone(), token.clone(), insts[1].base.clone());
        async move {
            http.get(format!("{base}/v1/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(me_on_b().await, 200);
    let r = http
        .post(format!("{}/v1/auth/logout", insts[0].base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        within_a_second_and_a_half(|| async { me_on_b().await == 401 }).await,
        "the logout did not reach the second instance"
    );
    for i in insts {
        i.stop().await;
    }
}
