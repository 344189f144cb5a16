//! Second factors and the rest of Latchkey: every dialect's refusal (and `--dialect-mfa
//! allow`), roles that require a factor, TOTP secrets sealed at rest.

use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;
use crate::mfa::{audit, code, enroll, mfa_token, second};

/// Each dialect that has a login: its path, its body for `user`, and where its error
/// message is.
fn dialect_logins(user: &str) -> Vec<(String, Value, &'static str)> {
    let email = format!("{user}@example.com");
    vec![
        (
            TestApp::at("org-users", "/users/login"),
            json!({"username": user, "password": "password-123"}),
            "message",
        ),
        (
            TestApp::at("citizen-portal", "/auth/login"),
            json!({"emailOrUsername": user, "password": "password-123"}),
            "message",
        ),
        (
            TestApp::at("auth-admin", "/auth/login"),
            json!({"username": user, "password": "password-123"}),
            "message",
        ),
        (
            TestApp::at("user-profiles", "/login"),
            json!({"email": email, "password": "password-123"}),
            "error",
        ),
    ]
}

dual!(every_dialect_refuses_a_user_with_a_second_factor, |app| {
    app.create_user("fay", &[]).await;
    // Before enrollment every dialect logs the user in.
    for (path, body, _) in dialect_logins("fay") {
        let r = app.call("POST", &path, None, Some(body)).await;
        assert!(r.status.is_success(), "{path}: {}", r.text);
    }
    let t = app.token_of("fay").await;
    enroll(&app, &t).await;
    for (path, body, field) in dialect_logins("fay") {
        let r = app.call("POST", &path, None, Some(body)).await;
        assert_eq!(r.status, 401, "{path}: {}", r.text);
        assert!(r.content_type().starts_with("application/json"), "{path}");
        let message = r.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: {}", r.text));
        assert!(
            message.contains("second factor is required"),
            "{path}: {message}"
        );
        assert!(
            !r.text.contains("token\":\""),
            "{path}: no token: {}",
            r.text
        );
        if path.contains("org-users") || path.contains("citizen-portal") {
            assert_eq!(r.body["statusCode"], 401, "{path}");
            assert_eq!(r.body["error"], "Unauthorized", "{path}");
        }
    }
    // A wrong password still says only that.
    let r = app
        .call(
            "POST",
            &TestApp::at("auth-admin", "/auth/login"),
            None,
            Some(json!({"username": "fay", "password": "wrong-password"})),
        )
        .await;
    assert_eq!(r.body["message"], "invalid credentials");
    let refused = audit(&app, "login").await;
    let n = refused
        .iter()
        .filter(|e| {
            e["outcome"] == "failure"
                && e["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("second factor required"))
        })
        .count();
    assert_eq!(n, 4, "{refused:?}");
});

async fn dialects_may_be_allowed_the_password_alone(backend: Backend) {
    let cfg = latchkey::core::CoreConfig {
        dialect_mfa_allow: true,
        ..test_config()
    };
    let Some(app) = TestApp::spawn_with(backend, cfg).await else {
        return;
    };
    app.create_user("gus", &[]).await;
    let t = app.token_of("gus").await;
    enroll(&app, &t).await;
    for (path, body, _) in dialect_logins("gus") {
        let r = app.call("POST", &path, None, Some(body)).await;
        assert!(r.status.is_success(), "{path}: {}", r.text);
    }
    // The native API still asks for the factor.
    mfa_token(&app, "gus").await;
    let skipped = audit(&app, "login")
        .await
        .into_iter()
        .filter(|e| {
            e["outcome"] == "success"
                && e["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("second factor skipped"))
        })
        .count();
    assert_eq!(skipped, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialects_may_be_allowed_the_password_alone_on_sqlite() {
    dialects_may_be_allowed_the_password_alone(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialects_may_be_allowed_the_password_alone_on_postgres() {
    dialects_may_be_allowed_the_password_alone(Backend::Postgres).await;
}

async fn secrets_are_sealed_with_the_key_encryption_key(backend: Backend) {
    let cfg = latchkey::core::CoreConfig {
        key_encryption_key: Some(latchkey::core::seal::KeyEncryptionKey([9; 32])),
        ..test_config()
    };
    let Some(app) = TestApp::spawn_with(backend, cfg).await else {
        return;
    };
    let uid = app.create_user("hal", &[]).await;
    let t = app.token_of("hal").await;
    let e = enroll(&app, &t).await;
    let stored = app
        .inst
        .store
        .mfa_record(latchkey::core::model::UserId(uid))
        .await
        .unwrap();
    let secret = stored.totp.unwrap().secret;
    assert!(secret.starts_with("aead:v1:"), "{secret}");
    assert!(!secret.contains(&e.secret));
    assert!(stored.recovery_codes.iter().all(|d| d.len() == 64));
    let m = mfa_token(&app, "hal").await;
    let r = second(&app, &m, "totp", &code(&e.secret, e.step + 1)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_secrets_are_sealed_at_rest_on_sqlite() {
    secrets_are_sealed_with_the_key_encryption_key(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_secrets_are_sealed_at_rest_on_postgres() {
    secrets_are_sealed_with_the_key_encryption_key(Backend::Postgres).await;
}

async fn a_role_can_require_a_second_factor(backend: Backend) {
    let cfg = latchkey::core::CoreConfig {
        mfa_required_roles: vec!["auditor".into()],
        ..test_config()
    };
    let Some(app) = TestApp::spawn_with(backend, cfg).await else {
        return;
    };
    let uid = app.create_user("kim", &["auditor"]).await;
    app.create_user("lee", &[]).await;
    // Someone without the role is not concerned.
    let lee = app.login_ok("lee", "password-123").await;
    assert!(lee.get("mfa_enrollment_required").is_none(), "{lee}");
    let kim = app.login_ok("kim", "password-123").await;
    assert_eq!(kim["mfa_enrollment_required"], true, "{kim}");
    let t = kim["access_token"].as_str().unwrap().to_owned();
    // Enrollment routes only.
    assert_eq!(app.get("/v1/me", &t).await.status, 200);
    assert_eq!(app.get("/v1/me/mfa", &t).await.status, 200);
    app.get("/v1/me/sessions", &t)
        .await
        .assert_problem(403, "mfa-enrollment-required");
    app.call(
        "PATCH",
        "/v1/me",
        Some(&t),
        Some(json!({"first_name": "K"})),
    )
    .await
    .assert_problem(403, "mfa-enrollment-required");
    app.get("/v1/users", &t)
        .await
        .assert_problem(403, "mfa-enrollment-required");
    // No dialect takes the token, and no dialect login opens a session for them.
    let r = app.get(&TestApp::at("auth-admin", "/auth/users"), &t).await;
    assert_eq!(r.status, 401, "{}", r.text);
    for (path, body, field) in dialect_logins("kim") {
        let r = app.call("POST", &path, None, Some(body)).await;
        assert_eq!(r.status, 401, "{path}: {}", r.text);
        assert!(
            r.body[field].as_str().unwrap().contains("second factor"),
            "{path}"
        );
    }
    assert_eq!(
        app.get(&format!("/v1/users/{uid}"), &app.admin).await.body["mfa_enabled"],
        false
    );
    // No application gets them either: the authorization endpoint says what to do.
    {
        use crate::oidc::{authorize_url, location, register, sign_in, Browser};
        let rp = register(&app, json!({"first_party": true})).await;
        let mut b = Browser::new(&app);
        let r = b.get(&app, &authorize_url(&app, &rp, &[])).await;
        let r = sign_in(&app, &mut b, &location(&r), "kim").await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(
            r.text.contains("requires two-step verification"),
            "{}",
            r.text
        );
    }
    // Once the factor is confirmed, the same session goes everywhere, and logins ask for it.
    enroll(&app, &t).await;
    assert_eq!(app.get("/v1/me/sessions", &t).await.status, 200);
    assert_eq!(
        app.get(&format!("/v1/users/{uid}"), &app.admin).await.body["mfa_enabled"],
        true
    );
    mfa_token(&app, "kim").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_can_require_a_second_factor_on_sqlite() {
    a_role_can_require_a_second_factor(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_can_require_a_second_factor_on_postgres() {
    a_role_can_require_a_second_factor(Backend::Postgres).await;
}
