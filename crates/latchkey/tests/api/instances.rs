//! Several instances on one database: revocations, role changes and keys propagate.

use std::time::Duration;

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
