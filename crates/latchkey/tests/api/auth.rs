//! Login, tokens, refresh rotation, logout, registration, the caller's own account.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use crate::dual;
use crate::helpers::*;

dual!(login_returns_tokens_and_the_user, |app| {
    let b = app.login_ok("admin", ADMIN_PASSWORD).await;
    assert_eq!(b["token_type"], "Bearer");
    assert!(b["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(b["refresh_token"].as_str().unwrap().len() >= 43);
    assert!(b["expires_in"].as_i64().unwrap() > 800);
    assert!(b["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(b["user"]["username"], "admin");
    assert_eq!(b["user"]["roles"], json!(["admin"]));
    assert!(b["user"].get("password").is_none() && b["user"].get("password_hash").is_none());
    // Email and case-insensitive identifiers work too; `username` is an accepted alias.
    app.login_ok("ADMIN@example.COM", ADMIN_PASSWORD).await;
    app.login_ok("Admin", ADMIN_PASSWORD).await;
    let r = app
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200);
});

dual!(
    a_wrong_password_and_an_unknown_user_get_the_same_answer,
    |app| {
        let wrong = app.login("admin", "not-the-password").await;
        wrong.assert_problem(401, "invalid-credentials");
        let unknown = app.login("nobody", "not-the-password").await;
        unknown.assert_problem(401, "invalid-credentials");
        assert_eq!(wrong.body, unknown.body);
        // Passwords are not case-folded or truncated.
        app.login("admin", &ADMIN_PASSWORD.to_uppercase())
            .await
            .assert_problem(401, "invalid-credentials");
        app.login("admin", &format!("{ADMIN_PASSWORD}x"))
            .await
            .assert_problem(401, "invalid-credentials");
        app.login("", "")
            .await
            .assert_problem(401, "invalid-credentials");
    }
);

dual!(
    the_access_token_is_an_eddsa_at_jwt_with_the_contract_claims,
    |app| {
        let t = app.admin.clone();
        let parts: Vec<&str> = t.split('.').collect();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "at+jwt");
        let kid = header["kid"].as_str().unwrap();
        for c in ["iss", "aud", "sub", "sid", "iat", "exp", "jti"] {
            assert!(claims.get(c).is_some(), "claim {c} missing: {claims}");
        }
        let jwks = app.call("GET", "/.well-known/jwks.json", None, None).await;
        assert_eq!(jwks.status, 200);
        let key = &jwks.body["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["kid"], kid);
    }
);

fn b64(v: serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
}

dual!(forged_and_malformed_tokens_are_refused, |app| {
    let parts: Vec<&str> = app.admin.split('.').collect();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();

    // A changed claim under the original signature.
    let mut forged = claims.clone();
    forged["sub"] = json!("2");
    let tampered = format!("{}.{}.{}", parts[0], b64(forged), parts[2]);
    // alg none, with and without a signature.
    let mut none = header.clone();
    none["alg"] = json!("none");
    let alg_none = format!("{}.{}.", b64(none.clone()), parts[1]);
    let alg_none_sig = format!("{}.{}.{}", b64(none), parts[1], parts[2]);
    // HS256 "signed" with the public key (algorithm confusion).
    let mut hs = header.clone();
    hs["alg"] = json!("HS256");
    let confused = format!("{}.{}.{}", b64(hs), parts[1], parts[2]);
    // An unknown kid.
    let mut other_kid = header.clone();
    other_kid["kid"] = json!("nope");
    let unknown_kid = format!("{}.{}.{}", b64(other_kid), parts[1], parts[2]);
    // A wrong typ.
    let mut jwt_typ = header;
    jwt_typ["typ"] = json!("JWT");
    let wrong_typ = format!("{}.{}.{}", b64(jwt_typ), parts[1], parts[2]);

    for bad in [
        tampered.as_str(),
        alg_none.as_str(),
        alg_none_sig.as_str(),
        confused.as_str(),
        unknown_kid.as_str(),
        wrong_typ.as_str(),
        "garbage",
        "a.b.c",
        "",
    ] {
        let r = app.get("/v1/me", bad).await;
        r.assert_problem(401, "unauthenticated");
        assert_eq!(r.headers.get("www-authenticate").unwrap(), "Bearer");
    }
    app.call("GET", "/v1/me", None, None)
        .await
        .assert_problem(401, "unauthenticated");
    let basic = app
        .send(
            app.http
                .get(app.url("/v1/me"))
                .header("authorization", format!("Basic {}", app.admin)),
        )
        .await;
    basic.assert_problem(401, "unauthenticated");
    // The genuine token still works.
    assert_eq!(app.get("/v1/me", &app.admin).await.status, 200);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_signed_by_another_deployment_is_refused() {
    let a = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let b = TestApp::spawn(Backend::Sqlite).await.unwrap();
    b.get("/v1/me", &a.admin)
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused() {
    let cfg = latchkey::core::CoreConfig {
        access_ttl_secs: 1,
        ..test_config()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, cfg).await.unwrap();
    assert_eq!(app.get("/v1/me", &app.admin).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    app.get("/v1/me", &app.admin)
        .await
        .assert_problem(401, "unauthenticated");
}

dual!(refresh_rotates_and_a_reused_token_ends_the_session, |app| {
    let first = app.login_ok("admin", ADMIN_PASSWORD).await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let second = app
        .call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": r1})),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.text);
    let r2 = second.body["refresh_token"].as_str().unwrap().to_owned();
    let a2 = second.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    assert_eq!(second.body["session_id"], first["session_id"]);
    assert_eq!(app.get("/v1/me", &a2).await.status, 200);

    // Reuse of the first refresh token: refused, and the whole session ends.
    app.call(
        "POST",
        "/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": r1})),
    )
    .await
    .assert_problem(401, "invalid-refresh-token");
    app.get("/v1/me", &a2)
        .await
        .assert_problem(401, "unauthenticated");
    app.call(
        "POST",
        "/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": r2})),
    )
    .await
    .assert_problem(401, "invalid-refresh-token");
    // Other sessions are unaffected.
    assert_eq!(app.get("/v1/me", &app.admin).await.status, 200);
    // Garbage.
    for bad in ["", "nope", &"x".repeat(500)] {
        app.call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": bad})),
        )
        .await
        .assert_problem(401, "invalid-refresh-token");
    }
});

dual!(
    logout_ends_the_session_and_logout_all_ends_every_session,
    |app| {
        let a = app.login_ok("admin", ADMIN_PASSWORD).await;
        let b = app.login_ok("admin", ADMIN_PASSWORD).await;
        let (ta, tb) = (
            a["access_token"].as_str().unwrap(),
            b["access_token"].as_str().unwrap(),
        );
        let r = app.call("POST", "/v1/auth/logout", Some(ta), None).await;
        assert_eq!(r.status, 204);
        app.get("/v1/me", ta)
            .await
            .assert_problem(401, "unauthenticated");
        app.call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": a["refresh_token"]})),
        )
        .await
        .assert_problem(401, "invalid-refresh-token");
        assert_eq!(app.get("/v1/me", tb).await.status, 200);
        // Logging out twice is refused (the token is dead).
        app.call("POST", "/v1/auth/logout", Some(ta), None)
            .await
            .assert_problem(401, "unauthenticated");

        let r = app
            .call("POST", "/v1/auth/logout-all", Some(tb), None)
            .await;
        assert_eq!(r.status, 200);
        assert!(r.body["ended"].as_u64().unwrap() >= 2);
        app.get("/v1/me", tb)
            .await
            .assert_problem(401, "unauthenticated");
        app.get("/v1/me", &app.admin)
            .await
            .assert_problem(401, "unauthenticated");
    }
);

dual!(registration_creates_an_unprivileged_user, |app| {
    let r = app
        .call(
            "POST",
            "/v1/auth/register",
            None,
            Some(json!({
                "username": "Zoë", "email": "zoe@example.com", "password": "correct horse battery",
                "first_name": "Zoë", "last_name": "Ünal"
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["username"], "Zoë");
    assert_eq!(r.body["roles"], json!(["user"]));
    assert_eq!(r.body["first_name"], "Zoë");
    assert!(r.body.get("password").is_none());
    // Case-insensitive uniqueness, also for non-ASCII letters.
    let again = app
        .call(
            "POST",
            "/v1/auth/register",
            None,
            Some(json!({
                "username": "ZOË", "email": "other@example.com", "password": "correct horse battery"
            })),
        )
        .await;
    again.assert_problem(409, "conflict");
    assert_eq!(again.body["field"], "username");
    let email = app
        .call(
            "POST",
            "/v1/auth/register",
            None,
            Some(json!({
                "username": "zoe2", "email": "ZOE@EXAMPLE.COM", "password": "correct horse battery"
            })),
        )
        .await;
    email.assert_problem(409, "conflict");
    assert_eq!(email.body["field"], "email");
    // Validation.
    for (body, field) in [
        (
            json!({"username": "a b", "email": "ab@example.com", "password": "password-123"}),
            "username",
        ),
        (
            json!({"username": "ab", "email": "not-an-email", "password": "password-123"}),
            "email",
        ),
        (
            json!({"username": "ab", "email": "ab@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "ab", "email": "ab@example.com", "password": "x".repeat(1025)}),
            "password",
        ),
        (
            json!({"username": "ab\u{0007}", "email": "ab@example.com", "password": "password-123"}),
            "username",
        ),
    ] {
        let r = app
            .call("POST", "/v1/auth/register", None, Some(body))
            .await;
        r.assert_problem(422, "invalid-field");
        assert_eq!(r.body["field"], field);
    }
    // A registered user can log in, and cannot choose roles through this endpoint.
    app.login_ok("zoe@example.com", "correct horse battery")
        .await;
    let r = app
        .call("POST", "/v1/auth/register", None, Some(json!({
            "username": "sneaky", "email": "s@example.com", "password": "password-123", "roles": ["admin"]
        })))
        .await;
    r.assert_problem(422, "invalid-field");
    assert_eq!(app.user_count().await, 2);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_can_be_turned_off() {
    let cfg = latchkey::core::CoreConfig {
        allow_registration: false,
        ..test_config()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, cfg).await.unwrap();
    app.call(
        "POST",
        "/v1/auth/register",
        None,
        Some(json!({
            "username": "bob", "email": "bob@example.com", "password": "password-123"
        })),
    )
    .await
    .assert_problem(403, "forbidden");
    assert_eq!(app.user_count().await, 1);
}

dual!(concurrent_duplicate_signups_make_exactly_one_user, |app| {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let http = app.http.clone();
        let url = app.url("/v1/auth/register");
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .json(&json!({"username": "racer", "email": format!("racer{i}@example.com"), "password": "password-123"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes.sort();
    assert_eq!(codes.iter().filter(|c| **c == 201).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 201 || *c == 409), "{codes:?}");
    assert_eq!(app.user_count().await, 2);
});

dual!(me_reads_updates_and_changes_password, |app| {
    let id = app.create_user("carol", &[]).await;
    let t = app.token_of("carol").await;
    let me = app.get("/v1/me", &t).await;
    assert_eq!(me.body["id"], id);
    let r = app
        .call(
            "PATCH",
            "/v1/me",
            Some(&t),
            Some(json!({"first_name": "Carol", "display_name": "C"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["first_name"], "Carol");
    let r = app
        .call(
            "PATCH",
            "/v1/me",
            Some(&t),
            Some(json!({"display_name": null})),
        )
        .await;
    assert_eq!(r.body["display_name"], serde_json::Value::Null);
    assert_eq!(r.body["first_name"], "Carol");
    // Users cannot make themselves active/inactive or move organizations.
    app.call(
        "PATCH",
        "/v1/me",
        Some(&t),
        Some(json!({"is_active": true})),
    )
    .await
    .assert_problem(403, "forbidden");
    // Taken username.
    app.call(
        "PATCH",
        "/v1/me",
        Some(&t),
        Some(json!({"username": "ADMIN"})),
    )
    .await
    .assert_problem(409, "conflict");

    // Password change: needs the current password, ends the other sessions only.
    let other = app.token_of("carol").await;
    app.call(
        "PUT",
        "/v1/me/password",
        Some(&t),
        Some(json!({"current_password": "wrong-one!", "new_password": "new-password-1"})),
    )
    .await
    .assert_problem(400, "wrong-password");
    app.call(
        "PUT",
        "/v1/me/password",
        Some(&t),
        Some(json!({"current_password": "password-123", "new_password": "short"})),
    )
    .await
    .assert_problem(422, "invalid-field");
    assert_eq!(app.get("/v1/me", &other).await.status, 200);
    let r = app
        .call(
            "PUT",
            "/v1/me/password",
            Some(&t),
            Some(json!({"current_password": "password-123", "new_password": "new-password-1"})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(app.get("/v1/me", &t).await.status, 200);
    app.get("/v1/me", &other)
        .await
        .assert_problem(401, "unauthenticated");
    app.login("carol", "password-123")
        .await
        .assert_problem(401, "invalid-credentials");
    app.login_ok("carol", "new-password-1").await;
});

dual!(users_list_and_end_their_own_sessions, |app| {
    app.create_user("dave", &[]).await;
    let t1 = app.token_of("dave").await;
    let second = app.login_ok("dave", "password-123").await;
    let t2 = second["access_token"].as_str().unwrap();
    let r = app.get("/v1/me/sessions", &t1).await;
    assert_eq!(r.status, 200);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    let sid = second["session_id"].as_str().unwrap();
    let r = app
        .call("DELETE", &format!("/v1/me/sessions/{sid}"), Some(&t1), None)
        .await;
    assert_eq!(r.status, 204);
    app.get("/v1/me", t2)
        .await
        .assert_problem(401, "unauthenticated");
    // Someone else's session, or an unknown one, is not found.
    let admin_sid = app.login_ok("admin", ADMIN_PASSWORD).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.call(
        "DELETE",
        &format!("/v1/me/sessions/{admin_sid}"),
        Some(&t1),
        None,
    )
    .await
    .assert_problem(404, "not-found");
    app.call("DELETE", "/v1/me/sessions/unknown", Some(&t1), None)
        .await
        .assert_problem(404, "not-found");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_upgrades_a_hash_made_with_old_parameters() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let old = Instance::start(&db.url, test_config()).await;
    let id = latchkey::core::model::UserId(1);
    let before = old.svc.store().password_hash(id).await.unwrap().unwrap();
    assert!(before.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
    old.stop().await;
    let mut cfg = test_config();
    cfg.hash.m_kib = 128;
    let new = Instance::start(&db.url, cfg).await;
    login_at(&reqwest::Client::new(), &new.base, "admin", ADMIN_PASSWORD).await;
    let after = new.svc.store().password_hash(id).await.unwrap().unwrap();
    assert!(
        after.starts_with("$argon2id$v=19$m=128,t=1,p=1$"),
        "{after}"
    );
    new.stop().await;
}

/// A refresh token stops working when its session has been idle too long, or has reached its
/// absolute lifetime; presenting it then ends the session for good.
async fn refresh_respects_the_session_deadlines(backend: Backend) {
    let idle = latchkey::core::CoreConfig {
        session_idle_secs: 2,
        ..test_config()
    };
    let absolute = latchkey::core::CoreConfig {
        session_lifetime_secs: 2,
        ..test_config()
    };
    for cfg in [idle, absolute] {
        let Some(app) = TestApp::spawn_with(backend, cfg).await else {
            return;
        };
        let first = app.login_ok("admin", ADMIN_PASSWORD).await;
        let refreshed = app
            .call(
                "POST",
                "/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": first["refresh_token"]})),
            )
            .await;
        assert_eq!(refreshed.status, 200, "{}", refreshed.text);
        let access = refreshed.body["access_token"].as_str().unwrap().to_owned();
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        app.call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refreshed.body["refresh_token"]})),
        )
        .await
        .assert_problem(401, "invalid-refresh-token");
        // The session is over: its access token no longer works either.
        app.get("/v1/me", &access)
            .await
            .assert_problem(401, "unauthenticated");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_respects_the_session_deadlines_sqlite() {
    refresh_respects_the_session_deadlines(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_respects_the_session_deadlines_postgres() {
    refresh_respects_the_session_deadlines(Backend::Postgres).await;
}
