//! The black-box harness: a real router on a loopback port, over a fresh database.
//!
//! `TestApp::spawn(Backend::Sqlite)` uses a new file in the temp dir; `Backend::Postgres`
//! creates a uniquely named database on the server named by `LATCHKEY_TEST_PG_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`) and drops it afterwards. Without
//! a reachable PostgreSQL the PostgreSQL variant is skipped, except under `CI=true`, where
//! it fails.

use std::net::SocketAddr;
use std::sync::Arc;

use latchkey::core::password::HashParams;
use latchkey::core::{CoreConfig, Latchkey};
use latchkey::dialects::Mounts;
use latchkey::server::HttpOptions;
use latchkey::store::{PoolConfig, Store};
use serde_json::{json, Value};
use tokio::sync::watch;

pub use latchkey::core::ports::*;
pub use reqwest::StatusCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// Cheap argon2 parameters: tests check behaviour, not cost.
pub fn test_config() -> CoreConfig {
    CoreConfig {
        hash: HashParams {
            m_kib: 64,
            t: 1,
            p: 1,
        },
        hash_workers: 2,
        sync_interval: std::time::Duration::from_millis(200),
        ..CoreConfig::default()
    }
}

fn pg_admin_url() -> String {
    std::env::var("LATCHKEY_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Behind a pooler: `LATCHKEY_TEST_PG_POOLER_URL` names a transaction-mode pgbouncer in
/// front of the test server (`scripts/services.sh pgbouncer`), and every PostgreSQL instance
/// then runs through it as a deployment would: `--db-statement-cache 0`, with LISTEN and
/// migrations on the direct URL. Returns the URL to serve on and its pool settings.
pub fn served_through(url: &str) -> (String, PoolConfig) {
    let pooler = std::env::var("LATCHKEY_TEST_PG_POOLER_URL")
        .ok()
        .filter(|p| !p.is_empty());
    match pooler {
        Some(pooler) if url.starts_with("postgres") => {
            let name = url.rsplit('/').next().unwrap_or_default();
            let base = pooler.trim_end_matches('/');
            let base = match base.rsplit_once('/') {
                Some((b, db)) if !db.contains(':') && !db.contains('@') => b,
                _ => base,
            };
            (
                format!("{base}/{name}"),
                PoolConfig {
                    statement_cache: Some(0),
                    direct_url: Some(url.to_owned()),
                    ..PoolConfig::default()
                },
            )
        }
        _ => (url.to_owned(), PoolConfig::default()),
    }
}

/// The `serve` arguments that reach the database at `url`, through the pooler when the
/// tests run behind one (see [`served_through`]).
pub fn server_db_args(url: &str) -> Vec<String> {
    let (served, pool) = served_through(url);
    let mut args = vec!["--database".to_owned(), served];
    if let Some(n) = pool.statement_cache {
        args.extend(["--db-statement-cache".to_owned(), n.to_string()]);
    }
    if let Some(direct) = pool.direct_url {
        args.extend(["--database-listen-url".to_owned(), direct]);
    }
    args
}

/// The transaction-mode pgbouncer the suite runs behind (`scripts/services.sh pgbouncer`).
pub fn pooler_url() -> String {
    std::env::var("LATCHKEY_TEST_PG_POOLER_URL")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:6432/postgres".into())
}

/// Is the pooler there? Under CI=true it must be: a missing one fails the test.
pub async fn pooler_reachable() -> bool {
    use sqlx::Connection;
    let conn = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        sqlx::PgConnection::connect(&pooler_url()),
    )
    .await;
    match conn {
        Ok(Ok(c)) => {
            let _ = c.close().await;
            true
        }
        Ok(Err(e)) => pooler_missing(&e.to_string()),
        Err(_) => pooler_missing("timed out"),
    }
}

fn pooler_missing(why: &str) -> bool {
    if in_ci() {
        panic!(
            "pgbouncer is required under CI=true but cannot be reached at {}: {why}",
            pooler_url()
        );
    }
    record_skip(&format!("pgbouncer unreachable at {}: {why}", pooler_url()));
    false
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A database for one test, removed when dropped.
pub struct TestDb {
    pub url: String,
    backend: Backend,
    name: String,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let name = format!("lk_test_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                Some(TestDb {
                    url: path.to_string_lossy().into_owned(),
                    backend,
                    name,
                })
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let admin = pg_admin_url();
                let conn = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    sqlx::PgConnection::connect(&admin),
                )
                .await;
                let mut conn = match conn {
                    Ok(Ok(c)) => c,
                    Ok(Err(e)) => return skip_or_fail(&e.to_string()),
                    Err(_) => return skip_or_fail("timed out"),
                };
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                Some(TestDb {
                    url: format!("{base}/{name}"),
                    backend,
                    name,
                })
            }
        }
    }
}

fn skip_or_fail(why: &str) -> Option<TestDb> {
    if in_ci() {
        panic!(
            "PostgreSQL is required under CI=true but cannot be reached at {}: {why}",
            pg_admin_url()
        );
    }
    record_skip(&format!(
        "PostgreSQL unreachable at {}: {why}",
        pg_admin_url()
    ));
    None
}

/// Where skipped tests are listed, one line each, for `scripts/test.sh` to count and name
/// at the end of the run: a test that ran nothing must not pass unnoticed.
pub const SKIPS_FILE: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/latchkey-test-skips.txt");

/// Records that the current test is skipped and why (never under CI=true: there the caller
/// fails instead).
pub fn record_skip(why: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_owned();
    eprintln!("skipping {test}: {why}");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(SKIPS_FILE)
    {
        let _ = writeln!(f, "{test}\t{why}");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self.backend {
            Backend::Sqlite => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", self.url));
                }
            }
            Backend::Postgres => {
                let name = self.name.clone();
                // Drop runs inside the test's runtime: use a thread with its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async {
                        use sqlx::Connection;
                        let mut conn = sqlx::PgConnection::connect(&pg_admin_url()).await.ok()?;
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut conn)
                            .await
                            .ok()
                    })
                })
                .join();
            }
        }
    }
}

/// One running instance.
pub struct Instance {
    pub base: String,
    pub svc: Arc<Latchkey>,
    /// The store the service runs on (for tests that look under the service).
    pub store: Arc<Store>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Instance {
    pub async fn start(url: &str, cfg: CoreConfig) -> Instance {
        Self::start_mounted(url, cfg, Mounts::default()).await
    }

    pub async fn start_mounted(url: &str, cfg: CoreConfig, mounts: Mounts) -> Instance {
        let opts = HttpOptions {
            mounts,
            ..Default::default()
        };
        Self::start_with(url, cfg, opts).await
    }

    pub async fn start_with(url: &str, cfg: CoreConfig, opts: HttpOptions) -> Instance {
        Self::start_full(url, cfg, opts, None).await
    }

    pub async fn start_full(
        url: &str,
        cfg: CoreConfig,
        opts: HttpOptions,
        counters: Option<std::sync::Arc<dyn latchkey::core::limits::Counters>>,
    ) -> Instance {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_bound(listener, url, cfg, opts, counters).await
    }

    /// An instance on a listener already bound (so its address can be the issuer).
    pub async fn start_bound(
        listener: tokio::net::TcpListener,
        url: &str,
        cfg: CoreConfig,
        opts: HttpOptions,
        counters: Option<std::sync::Arc<dyn latchkey::core::limits::Counters>>,
    ) -> Instance {
        let (url, pool) = served_through(url);
        Self::start_pooled(listener, &url, pool, cfg, opts, counters).await
    }

    /// An instance with its own pool settings (a pooler in front, say).
    pub async fn start_pooled(
        listener: tokio::net::TcpListener,
        url: &str,
        pool: PoolConfig,
        cfg: CoreConfig,
        opts: HttpOptions,
        counters: Option<std::sync::Arc<dyn latchkey::core::limits::Counters>>,
    ) -> Instance {
        let addr: SocketAddr = listener.local_addr().unwrap();
        let store = Store::connect(url, pool).await.expect("connect");
        store.migrate().await.expect("migrate");
        let store = std::sync::Arc::new(store);
        let svc = Latchkey::with_counters(store.clone(), cfg, counters)
            .await
            .expect("service");
        svc.bootstrap_admin("admin", "admin@example.com", Some(ADMIN_PASSWORD.into()))
            .await
            .expect("bootstrap");
        let (stop, rx) = watch::channel(false);
        let s = svc.clone();
        let task = tokio::spawn(async move {
            latchkey::server::serve(listener, s, &opts, rx)
                .await
                .unwrap();
        });
        Instance {
            base: format!("http://{addr}"),
            svc,
            store,
            stop,
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A test's application: one instance over a fresh database, an HTTP client, and the
/// admin's token.
pub struct TestApp {
    pub http: reqwest::Client,
    pub admin: String,
    pub inst: Instance,
    // Dropped last: the instance must stop before its database goes.
    _db: TestDb,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The ids of a list answer's `items`, in order.
    pub fn item_ids(&self) -> Vec<i64> {
        self.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|u| u["id"].as_i64().expect("id"))
            .collect()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an RFC 9457 problem with this status and type suffix.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, kind: &str) {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.text);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "body: {}",
            self.text
        );
        assert_eq!(self.body["status"], status, "body: {}", self.text);
        assert_eq!(
            self.body["type"],
            format!("urn:latchkey:problem:{kind}"),
            "body: {}",
            self.text
        );
        assert!(self.body["title"].is_string());
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, test_config()).await
    }

    pub async fn spawn_with(backend: Backend, cfg: CoreConfig) -> Option<TestApp> {
        Self::spawn_mounted(backend, cfg, Mounts::default()).await
    }

    pub async fn spawn_mounted(
        backend: Backend,
        cfg: CoreConfig,
        mounts: Mounts,
    ) -> Option<TestApp> {
        let opts = HttpOptions {
            mounts,
            ..Default::default()
        };
        Self::spawn_opts(backend, cfg, opts).await
    }

    pub async fn spawn_opts(
        backend: Backend,
        cfg: CoreConfig,
        opts: HttpOptions,
    ) -> Option<TestApp> {
        let db = TestDb::new(backend).await?;
        // As `latchkey serve` does: bound first, and the issuer is the public URL.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut cfg = cfg;
        if cfg.issuer == CoreConfig::default().issuer {
            cfg.issuer = format!("http://{}", listener.local_addr().unwrap());
        }
        // WebAuthn has no relying party for an IP address: passkeys are tested as if the
        // public URL were `http://localhost:<port>` (the origin the software passkey signs).
        if cfg.webauthn_origin.is_none() {
            let port = listener.local_addr().unwrap().port();
            cfg.webauthn_origin = Some(format!("http://localhost:{port}"));
        }
        let inst = Instance::start_bound(listener, &db.url, cfg, opts, None).await;
        let http = reqwest::Client::new();
        let mut app = TestApp {
            http,
            admin: String::new(),
            inst,
            _db: db,
        };
        app.admin = app.login_ok("admin", ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        Some(app)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inst.base)
    }

    /// A path of a dialect at its default mount.
    pub fn at(dialect: &str, path: &str) -> String {
        format!("/compat/{dialect}{path}")
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), None).await
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        ctype: &str,
        body: Vec<u8>,
    ) -> Reply {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(m, self.url(path))
            .header("content-type", ctype)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn login(&self, identifier: &str, password: &str) -> Reply {
        self.call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"identifier": identifier, "password": password})),
        )
        .await
    }

    pub async fn login_ok(&self, identifier: &str, password: &str) -> Value {
        let r = self.login(identifier, password).await;
        assert_eq!(r.status, 200, "login {identifier}: {}", r.text);
        r.body
    }

    /// Creates a user through the admin API; returns its id.
    pub async fn create_user(&self, username: &str, roles: &[&str]) -> i64 {
        let r = self
            .call(
                "POST",
                "/v1/users",
                Some(&self.admin),
                Some(json!({
                    "username": username,
                    "email": format!("{username}@example.com"),
                    "password": "password-123",
                    "roles": roles,
                })),
            )
            .await;
        assert_eq!(r.status, 201, "create {username}: {}", r.text);
        r.body["id"].as_i64().unwrap()
    }

    /// A user's access token (logs them in).
    pub async fn token_of(&self, username: &str) -> String {
        self.login_ok(username, "password-123").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The database's URL (for the CLI).
    pub fn db_url(&self) -> &str {
        &self._db.url
    }

    /// Runs one SQL statement on the test's database, under the service (for what no API
    /// can do, such as making a session or a challenge old).
    /// The database this test runs on.
    pub fn backend(&self) -> Backend {
        self._db.backend
    }

    pub async fn sql(&self, stmt: &str) {
        use sqlx::Connection;
        match self._db.backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", self._db.url);
                let mut c = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
                sqlx::query(stmt).execute(&mut c).await.expect(stmt);
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self._db.url)
                    .await
                    .expect("pg");
                sqlx::query(stmt).execute(&mut c).await.expect(stmt);
            }
        }
    }

    /// Makes every session of user `id` ten minutes older: too old to change a second factor.
    pub async fn age_sessions(&self, id: i64) {
        self.sql(&format!(
            "UPDATE sessions SET created_at = created_at - 600000 WHERE user_id = {id}"
        ))
        .await;
    }

    /// Inserts users straight into the table (no password, active), as `(id, username,
    /// search text)` in the order given, which is the table's physical order; then moves
    /// PostgreSQL's id sequence past them.
    pub async fn seed_users(&self, users: &[(i64, String, String)]) {
        let rows: Vec<String> = users
            .iter()
            .map(|(i, name, text)| {
                format!(
                    "({i}, 'seed-{i}', '{name}', '{name}', '{name}@example.com', \
                     '{name}@example.com', 'x', TRUE, '{text}', {i}, {i})"
                )
            })
            .collect();
        self.sql(&format!(
            "INSERT INTO users (id, uuid, username, username_key, email, email_key, \
             password_hash, is_active, search_text, created_at, updated_at) VALUES {}",
            rows.join(", ")
        ))
        .await;
        if self.backend() == Backend::Postgres {
            self.sql(
                "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users))",
            )
            .await;
        }
    }

    pub async fn user_count(&self) -> u64 {
        let r = self.get("/v1/users?per_page=1", &self.admin).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["total"].as_u64().unwrap()
    }
}

/// Logs in at an instance; returns the whole answer (asserting success).
pub async fn login_at(
    http: &reqwest::Client,
    base: &str,
    identifier: &str,
    password: &str,
) -> Value {
    let r = http
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"identifier": identifier, "password": password}))
        .send()
        .await
        .expect("login request");
    assert_eq!(r.status(), 200, "login {identifier} at {base}");
    r.json().await.expect("login body")
}

/// Runs a test body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! dual {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some($app) =
                    $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await
                {
                    $body
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some($app) =
                    $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await
                {
                    $body
                }
            }
        }
    };
}

/// Polls `check` until it holds, for at most a second and a half (the bound within which a
/// change made elsewhere reaches an instance: NOTIFY, else the poll).
pub async fn within_a_second_and_a_half<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    // Bounded: at most 15 tries, 100 ms apart.
    for _ in 0..15 {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}
