//! One identity across the wires, and mounts.

use serde_json::json;

use crate::dual;
use crate::helpers::*;
use latchkey::dialects::Mounts;

/// A GET on each dialect that needs only a valid token, and the status it answers with one.
fn token_probes() -> Vec<(String, u16)> {
    vec![
        (TestApp::at("auth-admin", "/auth/users"), 200),
        (TestApp::at("user-profiles", "/protected"), 200),
        (TestApp::at("role-assignments", "/api/v1/roles"), 200),
        (TestApp::at("org-users", "/users"), 200),
        (TestApp::at("citizen-portal", "/auth/profile"), 200),
        ("/v1/me".to_owned(), 200),
    ]
}

dual!(a_user_made_in_one_dialect_is_seen_by_all, |app| {
    let r = app
        .call("POST", &TestApp::at("citizen-portal", "/auth/register"), None, Some(json!({
            "email": "rosa@example.com", "username": "rosa", "password": "password-123", "firstName": "Rosa", "lastName": "Luna"
        })))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["user"]["id"].as_i64().unwrap();
    let admin = app.admin.clone();
    let a = app
        .get(
            &TestApp::at("auth-admin", &format!("/auth/user/{id}")),
            &admin,
        )
        .await;
    assert_eq!(a.body["user"][0]["username"], "rosa");
    assert_eq!(a.body["user"][0]["roles"], json!(["citizen"]));
    let u = app
        .get(
            &TestApp::at("user-profiles", &format!("/users/{id}")),
            &admin,
        )
        .await;
    assert_eq!(u.body["email"], "rosa@example.com");
    assert_eq!(u.body["first_name"], "Rosa");
    assert_eq!(u.body["role"], "citizen");
    let o = app
        .get(&TestApp::at("org-users", "/users/rosa"), &admin)
        .await;
    assert_eq!(o.body["name"], "Rosa Luna");
    let ra = app
        .get(
            &TestApp::at("role-assignments", &format!("/api/v1/roles/user/{id}")),
            &admin,
        )
        .await;
    assert_eq!(ra.body["data"], json!(["citizen"]));
    let n = app.get(&format!("/v1/users/{id}"), &admin).await;
    assert_eq!(n.body["last_name"], "Luna");
    // And the password works on every login.
    assert_eq!(
        app.call(
            "POST",
            &TestApp::at("auth-admin", "/auth/login"),
            None,
            Some(json!({"username": "rosa", "password": "password-123"}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        app.call(
            "POST",
            &TestApp::at("user-profiles", "/login"),
            None,
            Some(json!({"email": "rosa@example.com", "password": "password-123"}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        app.call(
            "POST",
            &TestApp::at("org-users", "/users/login"),
            None,
            Some(json!({"username": "rosa", "password": "password-123"}))
        )
        .await
        .status,
        201
    );
});

dual!(
    a_token_from_any_login_works_everywhere_and_logout_anywhere_ends_it_everywhere,
    |app| {
        let logins = vec![
            (
                TestApp::at("auth-admin", "/auth/login"),
                json!({"username": "admin", "password": ADMIN_PASSWORD}),
                "token",
                TestApp::at("auth-admin", "/auth/logout"),
            ),
            (
                TestApp::at("user-profiles", "/login"),
                json!({"email": "admin@example.com", "password": ADMIN_PASSWORD}),
                "access_token",
                TestApp::at("user-profiles", "/logout"),
            ),
            (
                TestApp::at("org-users", "/users/login"),
                json!({"username": "admin", "password": ADMIN_PASSWORD}),
                "token",
                TestApp::at("org-users", "/users/logout"),
            ),
            (
                TestApp::at("citizen-portal", "/auth/login"),
                json!({"emailOrUsername": "admin", "password": ADMIN_PASSWORD}),
                "access_token",
                "/v1/auth/logout".to_owned(),
            ),
            (
                "/v1/auth/login".to_owned(),
                json!({"identifier": "admin", "password": ADMIN_PASSWORD}),
                "access_token",
                "/v1/auth/logout".to_owned(),
            ),
        ];
        for (login, body, field, logout) in logins {
            let r = app.call("POST", &login, None, Some(body)).await;
            assert!(r.status.is_success(), "{login}: {}", r.text);
            let t = r.body[field].as_str().unwrap().to_owned();
            for (probe, status) in token_probes() {
                assert_eq!(
                    app.get(&probe, &t).await.status.as_u16(),
                    status,
                    "{login} token on {probe}"
                );
            }
            let out = app.call("POST", &logout, Some(&t), None).await;
            assert!(out.status.is_success(), "{logout}: {}", out.text);
            for (probe, _) in token_probes() {
                assert_eq!(
                    app.get(&probe, &t).await.status,
                    401,
                    "{login} token after {logout}, on {probe}"
                );
            }
        }
    }
);

async fn at_root(backend: Backend) {
    for d in latchkey::dialects::ALL {
        let mounts = Mounts::parse(
            &[format!("{}=/", d.name())],
            &latchkey::server::root_routes(),
        )
        .unwrap();
        let Some(app) = TestApp::spawn_mounted(backend, test_config(), mounts).await else {
            return;
        };
        // The route list is the router's, both ways: a method the list does not give a path
        // is not served there (the dialect's own 405), and (below) every listed one is.
        let routes = d.routes();
        let paths: std::collections::BTreeSet<&str> = routes.iter().map(|(_, p)| *p).collect();
        for path in paths {
            let concrete = path
                .replace("{user_id}", "1")
                .replace("{role_id}", "1")
                .replace("{username}", "admin")
                .replace("{userId}", "1");
            for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                if routes.contains(&(method, path)) {
                    continue;
                }
                let r = app
                    .call(method, &concrete, Some(&app.admin), Some(json!({})))
                    .await;
                assert_eq!(r.status, 405, "{} {method} {path}: {}", d.name(), r.text);
                let own = d
                    .route_error(axum::http::StatusCode::METHOD_NOT_ALLOWED)
                    .into_body();
                let own = axum::body::to_bytes(own, usize::MAX).await.unwrap();
                assert_eq!(
                    r.text.as_bytes(),
                    &own[..],
                    "{} {method} {path}: the dialect's own envelope",
                    d.name()
                );
            }
        }
        // Every route of the dialect answers at its described path, not with the router's 404.
        for (method, path) in d.routes() {
            let path = path
                .replace("{user_id}", "1")
                .replace("{role_id}", "1")
                .replace("{username}", "admin")
                .replace("{userId}", "1");
            let r = app
                .call(method, &path, Some(&app.admin), Some(json!({})))
                .await;
            assert_ne!(
                r.body["type"],
                "urn:latchkey:problem:route-not-found",
                "{} {method} {path}",
                d.name()
            );
        }
        // Its default mount is gone; the native API stays.
        let first = d.routes()[0].1;
        let r = app
            .call(
                d.routes()[0].0,
                &TestApp::at(d.name(), first),
                Some(&app.admin),
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status, 404, "{}", d.name());
        // (The calls above included the dialect's logout; log in again.)
        let fresh = app.login_ok("admin", ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(app.get("/v1/me", &fresh).await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_dialect_serves_its_paths_when_mounted_at_the_root_on_sqlite() {
    at_root(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_dialect_serves_its_paths_when_mounted_at_the_root_on_postgres() {
    at_root(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_in_mount_answers_like_the_origin() {
    let mounts = Mounts::parse(
        &[
            "org-users=/".into(),
            "auth-admin=/aa".into(),
            "citizen-portal=off".into(),
        ],
        &latchkey::server::root_routes(),
    )
    .unwrap();
    let app = TestApp::spawn_mounted(Backend::Sqlite, test_config(), mounts)
        .await
        .unwrap();
    let r = app
        .call(
            "POST",
            "/users/login",
            None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = app
        .call(
            "POST",
            "/aa/auth/login",
            None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        app.call(
            "POST",
            &TestApp::at("citizen-portal", "/auth/login"),
            None,
            Some(json!({}))
        )
        .await
        .status,
        404
    );
    // Unknown paths and methods under a prefix answer in the dialect's envelope.
    let r = app.call("GET", "/aa/nope", None, None).await;
    assert_eq!(r.status, 404);
    assert!(r.body["message"].is_string(), "{}", r.text);
    let r = app.call("DELETE", "/aa/auth/login", None, None).await;
    assert_eq!(r.status, 405);
    assert!(r.body["message"].is_string(), "{}", r.text);
    let r = app
        .call(
            "PATCH",
            &TestApp::at("role-assignments", "/api/v1/roles"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.body["status"], "error");
}
