//! Abuse resistance: login locking and throttling, rate limits, the password blocklist,
//! client addresses behind proxies, CORS, and the database going away.

use std::time::Duration;

use latchkey::core::limits::{RateLimits, ThrottlePolicy};
use latchkey::core::CoreConfig;
use latchkey::server::HttpOptions;
use serde_json::json;

use crate::helpers::*;

fn strict() -> CoreConfig {
    CoreConfig {
        throttle: ThrottlePolicy {
            lock_after: 3,
            lock_base_secs: 60,
            lock_max_secs: 900,
            address_limit: 300,
            address_window_secs: 900,
        },
        ..test_config()
    }
}

async fn each_backend<F, Fut>(cfg: CoreConfig, f: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if let Some(app) = TestApp::spawn_with(backend, cfg.clone()).await {
            f(app).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_an_identifier_even_for_the_right_password() {
    each_backend(strict(), |app| async move {
        app.create_user("victim", &[]).await;
        for _ in 0..3 {
            app.login("victim", "wrong-password")
                .await
                .assert_problem(401, "invalid-credentials");
        }
        let r = app.login("victim", "password-123").await;
        r.assert_problem(429, "rate-limited");
        let retry: u64 = r
            .headers
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        // Case and the email do not dodge it: the identifier is folded as typed.
        app.login("VICTIM", "password-123")
            .await
            .assert_problem(429, "rate-limited");
        // The lock looks the same for a user that does not exist.
        for _ in 0..3 {
            app.login("ghost", "wrong-password")
                .await
                .assert_problem(401, "invalid-credentials");
        }
        let ghost = app.login("ghost", "password-123").await;
        ghost.assert_problem(429, "rate-limited");
        assert_eq!(ghost.body["detail"], r.body["detail"]);
        // Every dialect's login answers 429 in its own envelope, with Retry-After.
        let aa = app
            .call(
                "POST",
                &TestApp::at("auth-admin", "/auth/login"),
                None,
                Some(json!({"username": "victim", "password": "password-123"})),
            )
            .await;
        assert_eq!(aa.status, 429);
        assert_eq!(aa.body, json!({"message": "too many attempts"}));
        assert!(aa.headers.get("retry-after").is_some());
        let up = app
            .call(
                "POST",
                &TestApp::at("user-profiles", "/login"),
                None,
                Some(json!({"email": "victim", "password": "password-123"})),
            )
            .await;
        assert_eq!(up.body, json!({"error": "Too many requests"}));
        let ou = app
            .call(
                "POST",
                &TestApp::at("org-users", "/users/login"),
                None,
                Some(json!({"username": "victim", "password": "password-123"})),
            )
            .await;
        assert_eq!(
            ou.body,
            json!({"statusCode": 429, "message": "Too many requests", "error": "Too Many Requests"})
        );
        let cp = app
            .call(
                "POST",
                &TestApp::at("citizen-portal", "/auth/login"),
                None,
                Some(json!({"emailOrUsername": "victim", "password": "password-123"})),
            )
            .await;
        assert_eq!(cp.status, 429);
        assert!(cp.headers.get("retry-after").is_some());
        // Other users are unaffected.
        app.login_ok("admin", ADMIN_PASSWORD).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_resets_the_count() {
    each_backend(strict(), |app| async move {
        app.create_user("forgetful", &[]).await;
        for _ in 0..2 {
            app.login("forgetful", "wrong-password").await;
        }
        app.login_ok("forgetful", "password-123").await;
        for _ in 0..2 {
            app.login("forgetful", "wrong-password")
                .await
                .assert_problem(401, "invalid-credentials");
        }
        app.login_ok("forgetful", "password-123").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_is_shared_by_every_instance_on_one_postgres() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let a = Instance::start(&db.url, strict()).await;
    let b = Instance::start(&db.url, strict()).await;
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let r = http
            .post(format!("{}/v1/auth/login", a.base))
            .json(&json!({"identifier": "admin", "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = http
        .post(format!("{}/v1/auth/login", b.base))
        .json(&json!({"identifier": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_address_with_many_failures_is_throttled_and_proxies_are_believed_only_when_trusted(
) {
    let cfg = CoreConfig {
        throttle: ThrottlePolicy {
            address_limit: 4,
            ..ThrottlePolicy::default()
        },
        ..test_config()
    };
    let opts = HttpOptions {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..Default::default()
    };
    let app = TestApp::spawn_opts(Backend::Sqlite, cfg.clone(), opts)
        .await
        .unwrap();
    let login_from = |ip: &'static str, who: &'static str, pw: &'static str| {
        let req = app
            .http
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"identifier": who, "password": pw}));
        app.send(req)
    };
    for i in 0..4 {
        let who: &'static str = ["u1", "u2", "u3", "u4"][i];
        login_from("203.0.113.7", who, "wrong-password")
            .await
            .assert_problem(401, "invalid-credentials");
    }
    login_from("203.0.113.7", "admin", ADMIN_PASSWORD)
        .await
        .assert_problem(429, "rate-limited");
    assert_eq!(
        login_from("198.51.100.9", "admin", ADMIN_PASSWORD)
            .await
            .status,
        200,
        "another address is not throttled"
    );
    // The throttled client writes its own header; the proxy appends the real hop. The client
    // is the rightmost hop that is not a trusted proxy: still the throttled address.
    login_from("198.51.100.50, 203.0.113.7", "admin", ADMIN_PASSWORD)
        .await
        .assert_problem(429, "rate-limited");
    login_from("203.0.113.7, 127.0.0.9", "admin", ADMIN_PASSWORD)
        .await
        .assert_problem(429, "rate-limited");

    // Without a trusted proxy, X-Forwarded-For is ignored: the socket address counts.
    let app = TestApp::spawn_with(Backend::Sqlite, cfg).await.unwrap();
    for (i, ip) in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]
        .into_iter()
        .enumerate()
    {
        let req = app
            .http
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"identifier": format!("x{i}"), "password": "wrong-password"}));
        app.send(req)
            .await
            .assert_problem(401, "invalid-credentials");
    }
    let req = app
        .http
        .post(app.url("/v1/auth/login"))
        .header("x-forwarded-for", "192.0.2.99")
        .json(&json!({"identifier": "admin", "password": ADMIN_PASSWORD}));
    app.send(req).await.assert_problem(429, "rate-limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_refresh_and_password_change_are_rate_limited_per_address() {
    let cfg = CoreConfig {
        rates: RateLimits {
            register_per_hour: 2,
            refresh_per_minute: 2,
            password_per_hour: 1,
        },
        ..test_config()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, cfg).await.unwrap();
    for i in 0..2 {
        let r = app
            .call("POST", "/v1/auth/register", None, Some(json!({"username": format!("s{i}"), "email": format!("s{i}@example.com"), "password": "password-123"})))
            .await;
        assert_eq!(r.status, 201);
    }
    let r = app
        .call("POST", &TestApp::at("citizen-portal", "/auth/register"), None, Some(json!({
            "email": "c@example.com", "username": "c", "password": "password-123", "firstName": "C", "lastName": "D"
        })))
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body["statusCode"], 429);
    assert!(r.headers.get("retry-after").is_some());
    // Admins creating users are not limited.
    app.create_user("made-by-admin", &[]).await;
    assert_eq!(app.user_count().await, 4);

    let mut refresh = app.login_ok("s0", "password-123").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        let r = app
            .call(
                "POST",
                "/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": refresh})),
            )
            .await;
        assert_eq!(r.status, 200);
        refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
    }
    app.call(
        "POST",
        "/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
    )
    .await
    .assert_problem(429, "rate-limited");

    let t = app.token_of("s1").await;
    let body = json!({"current_password": "password-123", "new_password": "new-password-1"});
    assert_eq!(
        app.call("PUT", "/v1/me/password", Some(&t), Some(body))
            .await
            .status,
        204
    );
    let body = json!({"current_password": "new-password-1", "new_password": "new-password-2"});
    app.call("PUT", "/v1/me/password", Some(&t), Some(body))
        .await
        .assert_problem(429, "rate-limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_passwords_are_refused_with_a_clear_message_everywhere() {
    each_backend(test_config(), |app| async move {
        let r = app
            .call("POST", "/v1/auth/register", None, Some(json!({"username": "p1", "email": "p1@example.com", "password": "Password1"})))
            .await;
        r.assert_problem(422, "invalid-field");
        assert!(r.body["detail"].as_str().unwrap().contains("too common"), "{}", r.text);
        let r = app
            .call("POST", &TestApp::at("citizen-portal", "/auth/register"), None, Some(json!({
                "email": "p2@example.com", "username": "p2", "password": "iloveyou", "firstName": "P", "lastName": "Q"
            })))
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body["message"], "Password is too common; choose another");
        let r = app
            .call("POST", &TestApp::at("org-users", "/users/register"), Some(&app.admin), Some(json!({
                "name": "P", "email": "p3@example.com", "username": "pthree33", "password": "qwertyuiop", "role": "user"
            })))
            .await;
        assert_eq!(r.status, 412);
        assert_eq!(r.body["message"], "Password is too common; choose another");
        let r = app
            .call("POST", &TestApp::at("user-profiles", "/users"), None, Some(json!({
                "email": "p6@example.com", "user_name": "p6", "password": "football1"
            })))
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body["error"], "Incorrect field: password is too common; choose another");
        let r = app
            .call("POST", &TestApp::at("auth-admin", "/auth/create_user"), Some(&app.admin), Some(json!({"username": "p4", "password": "password123"})))
            .await;
        assert_eq!(r.status, 400);
        assert!(r.body["message"].as_str().unwrap().contains("too common"));
        // Long passwords are accepted whole: 1024 bytes, no truncation.
        let long = "correct horse ".repeat(73);
        assert_eq!(long.len(), 1022);
        let r = app
            .call("POST", "/v1/auth/register", None, Some(json!({"username": "p5", "email": "p5@example.com", "password": long})))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        app.login_ok("p5", &long).await;
        app.login("p5", &long[..1000]).await.assert_problem(401, "invalid-credentials");
        assert_eq!(app.user_count().await, 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_configured_origins_only_with_credentials_for_named_ones() {
    let opts = HttpOptions {
        cors_origins: vec!["https://app.example.com".into()],
        ..Default::default()
    };
    let app = TestApp::spawn_opts(Backend::Sqlite, test_config(), opts)
        .await
        .unwrap();
    let preflight = |origin: &'static str| {
        app.send(
            app.http
                .request(reqwest::Method::OPTIONS, app.url("/v1/me"))
                .header("origin", origin)
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization"),
        )
    };
    let ok = preflight("https://app.example.com").await;
    assert_eq!(
        ok.headers.get("access-control-allow-origin").unwrap(),
        "https://app.example.com"
    );
    // Front-ends written for the origin services send credentialed requests (axios
    // `withCredentials`): a browser drops the answer unless the preflight allows them.
    assert_eq!(
        ok.headers.get("access-control-allow-credentials").unwrap(),
        "true"
    );
    let no = preflight("https://evil.example.com").await;
    assert!(no.headers.get("access-control-allow-origin").is_none());
    assert!(no.headers.get("access-control-allow-credentials").is_none());
    // The request that follows the preflight says so too.
    let actual = app
        .send(
            app.http
                .get(app.url("/v1/me"))
                .header("origin", "https://app.example.com")
                .bearer_auth(&app.admin),
        )
        .await;
    assert_eq!(actual.status, 200);
    assert_eq!(
        actual
            .headers
            .get("access-control-allow-credentials")
            .unwrap(),
        "true"
    );
    // Off by default.
    let plain = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let r = plain
        .send(
            plain
                .http
                .get(plain.url("/healthz"))
                .header("origin", "https://app.example.com"),
        )
        .await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
    // A wildcard admits any origin, and so never credentials.
    let any = TestApp::spawn_opts(
        Backend::Sqlite,
        test_config(),
        HttpOptions {
            cors_origins: vec!["*".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let r = any
        .send(
            any.http
                .request(reqwest::Method::OPTIONS, any.url("/v1/me"))
                .header("origin", "https://app.example.com")
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization"),
        )
        .await;
    assert_eq!(r.headers.get("access-control-allow-origin").unwrap(), "*");
    assert!(r.headers.get("access-control-allow-credentials").is_none());
    assert!(HttpOptions {
        cors_origins: vec!["app.example.com".into()],
        ..Default::default()
    }
    .validate()
    .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_gone_requests_get_503_and_service_resumes_without_restart() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    use sqlx::Connection;
    let admin_url = std::env::var("LATCHKEY_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = app.inst.store.url().rsplit('/').next().unwrap().to_owned();
    let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    let users_before = app.user_count().await;
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    // Bounded: the pool notices within a few tries.
    let mut saw_503 = false;
    for _ in 0..20 {
        let r = app.call("GET", "/readyz", None, None).await;
        if r.status == 503 {
            r.assert_problem(503, "unavailable");
            saw_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saw_503, "readyz never failed");
    app.login("admin", ADMIN_PASSWORD)
        .await
        .assert_problem(503, "unavailable");
    let r = app
        .call(
            "POST",
            &TestApp::at("org-users", "/users/login"),
            None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["statusCode"], 503);
    let r = app
        .call(
            "POST",
            "/v1/users",
            Some(&app.admin),
            Some(json!({"username": "x", "email": "x@example.com", "password": "password-123"})),
        )
        .await;
    assert!(
        r.status == 503 || r.status == 200 || r.status == 201,
        "{}",
        r.text
    );
    assert_ne!(r.status, 500);

    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut back = false;
    for _ in 0..50 {
        if app.call("GET", "/readyz", None, None).await.status == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "service did not resume");
    app.login_ok("admin", ADMIN_PASSWORD).await;
    assert!(app.user_count().await >= users_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_failed_logins_are_counted_across_databases() {
    let url = std::env::var("LATCHKEY_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let counters = match latchkey::store::redis::RedisCounters::connect(&url).await {
        Ok(c) => std::sync::Arc::new(c),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("Redis is required under CI=true but cannot be reached at {url}: {e}")
        }
        Err(e) => {
            record_skip(&format!("Redis unreachable at {url}: {e}"));
            return;
        }
    };
    // Two instances on two different SQLite databases: only Redis connects them.
    let (Some(db_a), Some(db_b)) = (
        TestDb::new(Backend::Sqlite).await,
        TestDb::new(Backend::Sqlite).await,
    ) else {
        return;
    };
    let a = Instance::start_full(
        &db_a.url,
        strict(),
        HttpOptions::default(),
        Some(counters.clone()),
    )
    .await;
    let listing = counters.clone();
    let b = Instance::start_full(&db_b.url, strict(), HttpOptions::default(), Some(counters)).await;
    // Redis outlives the test: a fresh identifier each run.
    let who = format!("redis-{}", uuid::Uuid::new_v4().simple());
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let r = http
            .post(format!("{}/v1/auth/login", a.base))
            .json(&json!({"identifier": who, "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = http
        .post(format!("{}/v1/auth/login", b.base))
        .json(&json!({"identifier": who, "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "the lock made through A holds on B");
    assert!(r.headers().get("retry-after").is_some());
    // The console's list of locks finds it in Redis too.
    use latchkey::core::limits::Counters;
    let locked = listing
        .locked(latchkey::core::model::Timestamp::now(), 10_000)
        .await
        .unwrap();
    let mine = locked.iter().find(|r| r.key == format!("id:{who}"));
    assert!(
        mine.is_some_and(|r| r.failures >= 3 && r.locked_until.is_some()),
        "{locked:?}"
    );
    // The admin (a different identifier) is unaffected.
    login_at(&http, &b.base, "admin", ADMIN_PASSWORD).await;
    a.stop().await;
    b.stop().await;
}

/// With no `--trusted-proxy`, traffic that looks proxied (here: loopback carrying
/// X-Forwarded-For) gets one clear warning in the log, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_traffic_without_a_trusted_proxy_is_warned_about_once() {
    use std::io::Read;
    let dir = std::env::temp_dir().join(format!("lk-proxy-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
        ])
        .arg(dir.join("proxy.db"))
        .env("LATCHKEY_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            ready = r.status() == 200;
            if ready {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(ready, "the server did not start");
    for _ in 0..3 {
        let r = http
            .get(format!("{base}/healthz"))
            .header("x-forwarded-for", "198.51.100.7")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    child.kill().unwrap();
    let _ = child.wait();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("--trusted-proxy"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("127.0.0.1") && warnings[0].contains("per-address limit"),
        "{}",
        warnings[0]
    );
}
