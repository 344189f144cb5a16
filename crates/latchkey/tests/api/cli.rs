//! The `latchkey` binary: operator commands and configuration errors.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::*;

fn latchkey(db: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    latchkey_with(
        db,
        args,
        &[
            ("LATCHKEY_ARGON2_MEMORY_KIB", "64"),
            ("LATCHKEY_ARGON2_ITERATIONS", "1"),
        ],
        stdin,
    )
}

async fn operator_commands(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let url = db.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        let (ok, out, err) = latchkey(&url, &["migrate"], None);
        assert!(ok, "{err}");
        assert!(out.contains("migrations applied"));
        let (ok, out, err) = latchkey(
            &url,
            &[
                "user",
                "create",
                "--username",
                "sam",
                "--email",
                "sam@example.com",
                "--admin",
                "--password-stdin",
            ],
            Some("sam-password-1\n"),
        );
        assert!(ok, "{err}");
        assert!(out.contains("created user sam"), "{out}");
        assert!(
            !out.contains("sam-password-1"),
            "the password is never echoed"
        );
        let (ok, out, _) = latchkey(
            &url,
            &[
                "user",
                "create",
                "--username",
                "tia",
                "--email",
                "tia@example.com",
            ],
            None,
        );
        assert!(ok);
        assert!(out.contains("generated password: "), "{out}");
        let (ok, _, err) = latchkey(
            &url,
            &[
                "user",
                "create",
                "--username",
                "SAM",
                "--email",
                "x@example.com",
            ],
            None,
        );
        assert!(!ok);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("username already exists"), "{err}");
        let (ok, _, err) = latchkey(&url, &["user", "grant", "tia", "auditor"], None);
        assert!(ok, "{err}");
        let (ok, out, _) = latchkey(&url, &["user", "list"], None);
        assert!(ok);
        assert!(
            out.contains("sam") && out.contains("admin") && out.contains("auditor"),
            "{out}"
        );
        // A filter's count: up to 1,000 unless asked for exactly.
        for extra in [None, Some("--exact-total")] {
            let mut args = vec!["user", "list", "--search", "sam@"];
            args.extend(extra);
            let (ok, out, err) = latchkey(&url, &args, None);
            assert!(ok, "{err}");
            assert!(out.trim_end().ends_with("1 of 1 users"), "{out}");
        }
        let (ok, _, err) = latchkey(
            &url,
            &["user", "revoke", "tia@example.com", "auditor"],
            None,
        );
        assert!(ok, "{err}");
        let (ok, _, err) = latchkey(
            &url,
            &["user", "set-password", "sam", "--password-stdin"],
            Some("new-sam-pass-1\n"),
        );
        assert!(ok, "{err}");
        let (ok, _, err) = latchkey(
            &url,
            &["user", "set-password", "nobody", "--password-stdin"],
            Some("new-sam-pass-1\n"),
        );
        assert!(!ok);
        assert!(err.contains("no user 'nobody'"), "{err}");
        let (ok, out, err) = latchkey(&url, &["keys", "rotate"], None);
        assert!(ok, "{err}");
        assert!(out.contains("new signing key"));
        let (ok, out, err) = latchkey(&url, &["audit", "tail", "-n", "50"], None);
        assert!(ok, "{err}");
        for action in [
            "user.created",
            "assignment.created",
            "assignment.deleted",
            "password.reset",
            "key.rotated",
        ] {
            assert!(out.contains(action), "audit tail lacks {action}: {out}");
        }
        assert!(!out.contains("sam-password-1") && !out.contains("new-sam-pass-1"));
        url
    })
    .await
    .unwrap();
    // The server sees what the CLI did.
    let inst = Instance::start(&out, test_config()).await;
    let http = reqwest::Client::new();
    let body = login_at(&http, &inst.base, "sam", "new-sam-pass-1").await;
    assert_eq!(body["user"]["roles"], serde_json::json!(["admin"]));
    let jwks = inst.svc.tokens().jwks();
    assert_eq!(jwks.iter().filter(|k| k.alg == "EdDSA").count(), 2);
    assert_eq!(
        jwks.len(),
        4,
        "the rotation also made the RS256 and ES256 keys"
    );
    inst.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_work_on_sqlite() {
    operator_commands(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_work_on_postgres() {
    operator_commands(Backend::Postgres).await;
}

#[test]
fn configuration_errors_end_with_one_clear_line() {
    let (ok, _, err) = latchkey("mysql://nope", &["migrate"], None);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("unsupported database URL"), "{err}");

    let (ok, _, err) = latchkey("/nonexistent-dir/x/latchkey.db", &["migrate"], None);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot open database"), "{err}");

    let (ok, _, err) = latchkey("postgres://nobody@127.0.0.1:1/none", &["migrate"], None);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot reach the database"), "{err}");

    // The pooler settings are PostgreSQL's: on a SQLite file they are refused, not ignored.
    let (ok, _, err) = latchkey("x.db", &["migrate", "--db-statement-cache", "0"], None);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("applies to PostgreSQL only"), "{err}");
    let direct = "postgres://nobody@127.0.0.1:1/none";
    let (ok, _, err) = latchkey("x.db", &["migrate", "--database-listen-url", direct], None);
    assert!(!ok);
    assert!(err.contains("for a PostgreSQL database"), "{err}");

    let (ok, _, err) = latchkey("x.db", &["serve", "--listen", "not-an-address"], None);
    assert!(!ok);
    assert!(err.contains("invalid listen address"), "{err}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (ok, _, err) = latchkey("x.db", &["serve", "--listen", &addr], None);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot listen on"), "{err}");

    let (ok, _, err) = latchkey("x.db", &["serve", "--argon2-memory-kib", "1"], None);
    assert!(!ok);
    assert!(err.contains("invalid argon2 parameters"), "{err}");

    let (ok, _, err) = latchkey(
        "x.db",
        &[
            "serve",
            "--mount",
            "auth-admin=/",
            "--mount",
            "citizen-portal=/",
        ],
        None,
    );
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("auth-admin") && err.contains("citizen-portal"),
        "{err}"
    );
    let (ok, _, err) = latchkey("x.db", &["serve", "--redis", "redis://127.0.0.1:1"], None);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot reach Redis"), "{err}");
    let (ok, _, err) = latchkey("x.db", &["serve", "--mount", "sso=/"], None);
    assert!(!ok);
    assert!(err.contains("unknown dialect 'sso'"), "{err}");

    let (ok, out, _) = latchkey("x.db", &["--help"], None);
    assert!(ok);
    assert!(
        out.contains("serve")
            && out.contains("migrate")
            && out.contains("user")
            && out.contains("keys")
    );
}

#[test]
fn serve_starts_bootstraps_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("lk-serve-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["serve", "--listen", &addr.to_string()])
        .current_dir(&dir)
        .env_remove("LATCHKEY_DATABASE_URL")
        .env_remove("LATCHKEY_ADMIN_PASSWORD")
        .env("LATCHKEY_ARGON2_MEMORY_KIB", "64")
        .env("LATCHKEY_ARGON2_ITERATIONS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded wait for readiness: 100 tries, 50 ms apart.
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            use std::io::Read;
            let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") {
                ready = true;
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ready, "server did not become ready");
    assert!(
        dir.join("latchkey.db").exists(),
        "the default database is a file in the working directory"
    );
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit after SIGTERM: {:?}", out.status);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("generated password"), "{err}");
    assert!(err.contains("stopped"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_can_be_sealed_at_rest() {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let kek = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let run = |key: Option<&str>, args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
        cmd.args(args)
            .env("LATCHKEY_DATABASE_URL", &db.url)
            .env_remove("LATCHKEY_KEY_ENCRYPTION_KEY");
        if let Some(k) = key {
            cmd.env("LATCHKEY_KEY_ENCRYPTION_KEY", k);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(Some(kek), &["keys", "rotate"]);
    assert!(ok, "{err}");
    let store = latchkey::store::Store::connect(&db.url, Default::default())
        .await
        .unwrap();
    let keys = store.list_keys().await.unwrap();
    assert_eq!(
        keys.len(),
        4,
        "the first Ed25519 key, and one per algorithm from the rotation"
    );
    assert!(
        keys.iter().all(|k| k.private_der.starts_with("aead:v1:")),
        "every key is sealed"
    );
    store.close().await;
    let (ok, err) = run(None, &["keys", "rotate"]);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("set LATCHKEY_KEY_ENCRYPTION_KEY"), "{err}");
    let (ok, err) = run(
        Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        &["keys", "rotate"],
    );
    assert!(!ok);
    assert!(err.contains("does not open"), "{err}");
    let (ok, err) = run(Some("short"), &["keys", "rotate"]);
    assert!(!ok);
    assert!(err.contains("LATCHKEY_KEY_ENCRYPTION_KEY"), "{err}");
    let (ok, err) = run(Some(kek), &["keys", "rotate"]);
    assert!(ok, "{err}");
}

pub(crate) fn latchkey_with(
    db: &str,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    cmd.args(args)
        .env("LATCHKEY_DATABASE_URL", db)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn latchkey");
    if let Some(input) = stdin {
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn operator_settings(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let create = |name: &str, pw: &str, env: &[(&str, &str)]| {
            latchkey_with(
                &url,
                &[
                    "user",
                    "create",
                    "--username",
                    name,
                    "--email",
                    &format!("{name}@example.com"),
                    "--password-stdin",
                ],
                env,
                Some(&format!("{pw}\n")),
            )
        };
        // The blocklist applies as in `serve`, and its switch works here too.
        let (ok, _, err) = create("ann", "password", &[]);
        assert!(!ok);
        assert!(err.contains("too common"), "{err}");
        let (ok, _, err) = create(
            "ann",
            "password",
            &[("LATCHKEY_NO_PASSWORD_BLOCKLIST", "true")],
        );
        assert!(ok, "{err}");
        // The argon2 parameters are the configured ones.
        let (ok, _, err) = create(
            "bob",
            "a fine long password",
            &[
                ("LATCHKEY_ARGON2_MEMORY_KIB", "128"),
                ("LATCHKEY_ARGON2_ITERATIONS", "3"),
            ],
        );
        assert!(ok, "{err}");
        // Out-of-range settings are refused before anything is written.
        let (ok, _, err) = create(
            "cat",
            "a fine long password",
            &[("LATCHKEY_ARGON2_MEMORY_KIB", "1")],
        );
        assert!(!ok);
        assert!(err.to_lowercase().contains("memory"), "{err}");
    })
    .await
    .unwrap();
    let store = latchkey::store::Store::connect(&db.url, latchkey::store::PoolConfig::default())
        .await
        .unwrap();
    let bob = store.get_user_by_login("bob").await.unwrap().unwrap();
    let hash = store.password_hash(bob.id).await.unwrap().unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=128,t=3,p=1$"), "{hash}");
    assert!(store.get_user_by_login("cat").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_honour_the_core_settings_on_sqlite() {
    operator_settings(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_honour_the_core_settings_on_postgres() {
    operator_settings(Backend::Postgres).await;
}

async fn clients_from_the_cli(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    // A running instance first: what the CLI registers must work there at once.
    let inst = Instance::start(&db.url, test_config()).await;
    let url = db.url.clone();
    let (id, secret) = tokio::task::spawn_blocking(move || {
        let (ok, out, err) = latchkey(
            &url,
            &[
                "client",
                "create",
                "--name",
                "Nightly export",
                "--grant-type",
                "client_credentials",
                "--scope",
                "export:run",
                "--json",
            ],
            None,
        );
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
        assert_eq!(v.as_object().unwrap().len(), 2, "{out}");
        let id = v["client_id"].as_str().unwrap().to_owned();
        let secret = v["client_secret"].as_str().unwrap().to_owned();
        let (ok, out, _) = latchkey(&url, &["client", "list"], None);
        assert!(ok);
        assert!(
            out.contains(&id) && out.contains("Nightly export") && !out.contains(&secret),
            "{out}"
        );
        let (ok, out, _) = latchkey(&url, &["client", "show", &id], None);
        assert!(ok);
        assert!(
            out.contains("export:run") && !out.contains(&secret),
            "{out}"
        );
        // A public client prints no secret; a code-flow client needs a redirect URI.
        let (ok, out, err) = latchkey(
            &url,
            &[
                "client",
                "create",
                "--name",
                "SPA",
                "--public",
                "--redirect-uri",
                "https://spa.example/cb",
                "--json",
            ],
            None,
        );
        assert!(ok, "{err}");
        assert!(!out.contains("client_secret"), "{out}");
        let (ok, _, err) = latchkey(&url, &["client", "create", "--name", "Web"], None);
        assert!(!ok);
        assert!(err.contains("redirect_uri"), "{err}");
        let (ok, _, err) = latchkey(&url, &["client", "show", "lk_nope"], None);
        assert!(!ok);
        assert!(err.contains("client not found"), "{err}");
        (id, secret)
    })
    .await
    .unwrap();
    let grant = |secret: String| {
        let (base, id) = (inst.base.clone(), id.clone());
        async move {
            reqwest::Client::new()
                .post(format!("{base}/oauth/token"))
                .basic_auth(id, Some(secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials")
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(grant(secret.clone()).await, 200);
    // Rotated from the CLI: the old secret stops on the running instance.
    let (url, cid) = (db.url.clone(), id.clone());
    let fresh = tokio::task::spawn_blocking(move || {
        let (ok, out, err) = latchkey(&url, &["client", "rotate-secret", &cid, "--json"], None);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        v["client_secret"].as_str().unwrap().to_owned()
    })
    .await
    .unwrap();
    // The running instance caches the client; the rotation's invalidation reaches it within
    // the bound every cross-instance change has (NOTIFY on PostgreSQL, else the poll).
    assert!(
        within_a_second_and_a_half(|| {
            let (old, new) = (grant(secret.clone()), grant(fresh.clone()));
            async move { old.await == 401 && new.await == 200 }
        })
        .await,
        "the old secret stops and the new one works"
    );
    let (url, cid) = (db.url.clone(), id.clone());
    tokio::task::spawn_blocking(move || {
        let (ok, _, err) = latchkey(&url, &["client", "delete", &cid], None);
        assert!(ok, "{err}");
    })
    .await
    .unwrap();
    assert!(
        within_a_second_and_a_half(|| {
            let f = grant(fresh.clone());
            async move { f.await == 401 }
        })
        .await,
        "a deleted client stops"
    );
    inst.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_registered_from_the_cli_work_at_once_on_sqlite() {
    clients_from_the_cli(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_registered_from_the_cli_work_at_once_on_postgres() {
    clients_from_the_cli(Backend::Postgres).await;
}
