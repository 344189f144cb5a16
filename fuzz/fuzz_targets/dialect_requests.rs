//! Every dialect's request decoding, end to end through the real router on a SQLite file:
//! an arbitrary body (and content type) sent to each JSON endpoint never gets a 5xx.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use latchkey::core::password::HashParams;
use latchkey::core::{CoreConfig, Latchkey};
use latchkey::server::HttpOptions;
use latchkey::http::AppState;
use latchkey::store::{PoolConfig, Store};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/compat/auth-admin/auth/login"),
    ("POST", "/compat/auth-admin/auth/create_user"),
    ("PUT", "/compat/auth-admin/auth/user/1/roles"),
    ("POST", "/compat/user-profiles/users"),
    ("PUT", "/compat/user-profiles/users/update/1"),
    ("PUT", "/compat/user-profiles/users/update_password/1"),
    ("POST", "/compat/user-profiles/login"),
    ("POST", "/compat/role-assignments/api/v1/roles"),
    ("PUT", "/compat/role-assignments/api/v1/roles"),
    ("PATCH", "/compat/role-assignments/api/v1/roles/1"),
    ("POST", "/compat/org-users/users/login"),
    ("POST", "/compat/org-users/users/register"),
    ("POST", "/compat/citizen-portal/auth/login"),
    ("POST", "/compat/citizen-portal/auth/register"),
    ("POST", "/compat/citizen-portal/auth/update-profile"),
    ("POST", "/compat/citizen-portal/auth/admin/update-user/1"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/users"),
];

struct World {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    admin: String,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let path = std::env::temp_dir().join(format!("latchkey-fuzz-{}.db", std::process::id()));
        let (app, admin) = rt.block_on(async {
            let store = Store::connect(path.to_str().unwrap(), PoolConfig::default()).await.unwrap();
            store.migrate().await.unwrap();
            let cfg = CoreConfig {
                hash: HashParams { m_kib: 64, t: 1, p: 1 },
                ..CoreConfig::default()
            };
            let svc = Latchkey::new(std::sync::Arc::new(store), cfg).await.unwrap();
            svc.bootstrap_admin("admin", "admin@example.com", Some("fuzz-admin-password".into()))
                .await
                .unwrap();
            let login = svc
                .login("admin", "fuzz-admin-password", &Default::default())
                .await
                .unwrap();
            let opts = HttpOptions::default();
            let state = AppState {
                svc,
                metrics: latchkey::server::metrics_handle(),
                trusted_proxies: Vec::new().into(),
                citizen_portal_role_ids: std::sync::Arc::new(opts.citizen_portal_role_ids.clone()),
            };
            (latchkey::server::app(state, &opts), login.tokens.access_token)
        });
        World { rt, app, admin }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let w = world();
    let (method, path) = ROUTES[pick as usize % ROUTES.len()];
    let ctype = if pick & 0x80 == 0 { "application/json" } else { "text/plain" };
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", ctype)
        .header("authorization", format!("Bearer {}", w.admin))
        .body(Body::from(body.to_vec()))
        .unwrap();
    let res = w.rt.block_on(w.app.clone().oneshot(req)).unwrap();
    assert!(
        res.status() < StatusCode::INTERNAL_SERVER_ERROR,
        "{method} {path} answered {} to {:?}",
        res.status(),
        String::from_utf8_lossy(body)
    );
});
