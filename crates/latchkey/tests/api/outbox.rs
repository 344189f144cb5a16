//! The outbox over HTTP: a permanent refusal marks a mail failed, a mail survives an SMTP
//! outage and a restart, and two instances on one database send each mail exactly once — on
//! SQLite and PostgreSQL, delivered by lettre to the test's SMTP server.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::mail::mail_config;
use crate::smtp_sink::Sink;

/// An instance on a fresh database mailing to `port`, its HTTP client and admin token.
async fn instance(db: &TestDb, port: u16) -> (Instance, reqwest::Client, String) {
    let mut cfg = mail_config(port);
    cfg.mail.public_url = Some("http://localhost:8080".into());
    cfg.mail.policy.per_address_per_hour = 0;
    let inst = Instance::start(&db.url, cfg).await;
    let http = reqwest::Client::new();
    let token = login_at(&http, &inst.base, "admin", ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (inst, http, token)
}

pub(crate) async fn post_reset(http: &reqwest::Client, base: &str, email: &str) {
    let r = http
        .post(format!("{base}/v1/auth/password-reset"))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

pub(crate) async fn get_json(http: &reqwest::Client, base: &str, path: &str, token: &str) -> Value {
    let r = http
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

/// The first outbox entry of `/v1/mail{query}` that `wanted` accepts, polling up to 5 s.
pub(crate) async fn poll_outbox(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    // Bounded: 50 polls, 100 ms apart.
    for _ in 0..50 {
        let list = get_json(http, base, &format!("/v1/mail{query}"), token).await;
        if let Some(m) = list["items"]
            .as_array()
            .and_then(|a| a.iter().find(|m| wanted(m)))
        {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail in /v1/mail{query} as wanted")
}

/// A permanent refusal (550) marks the mail failed at once, visibly.
async fn permanent_refusal(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let refusing = Sink::start_on(0, true).await;
    let (inst, http, token) = instance(&db, refusing.port).await;
    post_reset(&http, &inst.base, "admin@example.com").await;
    let failed = poll_outbox(&http, &inst.base, &token, "?status=failed", |_| true).await;
    assert_eq!(
        failed["attempts"], 1,
        "a permanent refusal is not retried: {failed}"
    );
    assert!(
        failed["last_error"].as_str().unwrap().contains("550"),
        "{failed}"
    );
    let metrics = http
        .get(format!("{}/metrics", inst.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("latchkey_mail_failed"), "{metrics}");
    let audit = get_json(&http, &inst.base, "/v1/audit?action=mail.failed", &token).await;
    assert_eq!(audit["total"], 1, "{audit}");
    inst.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_refusals_are_marked_failed_sqlite() {
    permanent_refusal(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_refusals_are_marked_failed_postgres() {
    permanent_refusal(Backend::Postgres).await
}

/// The outbox keeps a mail through an SMTP outage and a restart, then delivers it once.
async fn outbox_survives_restart(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    // A port nobody listens on yet.
    let mut sink = Sink::start().await;
    sink.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (first, http, admin) = instance(&db, sink.port).await;
    post_reset(&http, &first.base, "admin@example.com").await;
    let queued = poll_outbox(&http, &first.base, &admin, "", |m| {
        m["status"] == "queued" && m["attempts"].as_u64().unwrap_or(0) >= 1
    })
    .await;
    assert!(queued["last_error"].is_string(), "{queued}");
    assert!(queued["next_attempt_at"].is_string(), "{queued}");
    first.stop().await;

    sink.restart().await;
    let (second, http, admin) = instance(&db, sink.port).await;
    let mail = sink.one("admin@example.com").await;
    assert!(mail.link().contains("/reset-password?token="));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.all().len(), 1, "delivered exactly once");
    let sent = poll_outbox(&http, &second.base, &admin, "?status=sent", |_| true).await;
    assert!(sent["attempts"].as_u64().unwrap() >= 2, "{sent}");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_survives_a_restart_with_smtp_down_sqlite() {
    outbox_survives_restart(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_survives_a_restart_with_smtp_down_postgres() {
    outbox_survives_restart(Backend::Postgres).await
}

/// Two instances on one database, each with its worker: every mail is sent exactly once.
async fn two_instances_send_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let sink = Sink::start().await;
    let (a, http, admin) = instance(&db, sink.port).await;
    let (b, _, _) = instance(&db, sink.port).await;
    const N: usize = 24;
    for i in 0..N {
        let r = http
            .post(format!("{}/v1/users", a.base))
            .bearer_auth(&admin)
            .json(&json!({"username": format!("u{i}"), "email": format!("u{i}@example.com"), "password": "password-123"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // Requests alternate between the instances; both workers race for the queue.
    for i in 0..N {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        post_reset(&http, base, &format!("u{i}@example.com")).await;
    }
    // Bounded: 100 polls, 100 ms apart.
    for _ in 0..100 {
        if sink.all().len() >= N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.all().len(), N, "each mail once");
    for i in 0..N {
        assert_eq!(sink.to(&format!("u{i}@example.com")).len(), 1, "u{i}");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_each_mail_once_sqlite() {
    two_instances_send_once(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_each_mail_once_postgres() {
    two_instances_send_once(Backend::Postgres).await
}
