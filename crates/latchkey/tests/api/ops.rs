//! Operations endpoints, the OpenAPI document, docs, headers and fallbacks.

use crate::dual;
use crate::helpers::*;

dual!(health_readiness_and_metrics_answer, |app| {
    let h = app.call("GET", "/healthz", None, None).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.body["status"], "ok");
    assert_eq!(app.call("GET", "/readyz", None, None).await.status, 200);
    app.login("admin", "wrong-password").await;
    let m = app.call("GET", "/metrics", None, None).await;
    assert_eq!(m.status, 200);
    assert!(m.content_type().starts_with("text/plain"));
    for needle in [
        "http_requests_total",
        "http_request_duration_seconds",
        "latchkey_logins_total",
        "latchkey_active_sessions",
        "route=\"/v1/auth/login\"",
    ] {
        assert!(m.text.contains(needle), "metrics lack {needle}");
    }
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc = app.call("GET", "/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc.body["paths"].as_object().unwrap();
    let expected = [
        ("/v1/auth/login", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/auth/logout-all", "post"),
        ("/v1/auth/register", "post"),
        ("/v1/me", "get"),
        ("/v1/me", "patch"),
        ("/v1/me/password", "put"),
        ("/v1/me/sessions", "get"),
        ("/v1/me/sessions/{session_id}", "delete"),
        ("/v1/users", "get"),
        ("/v1/users", "post"),
        ("/v1/users/{id}", "get"),
        ("/v1/users/{id}", "patch"),
        ("/v1/users/{id}", "delete"),
        ("/v1/users/{id}/disable", "post"),
        ("/v1/users/{id}/enable", "post"),
        ("/v1/users/{id}/password", "put"),
        ("/v1/users/{id}/sessions", "delete"),
        ("/v1/users/{id}/roles", "get"),
        ("/v1/users/{id}/roles", "post"),
        ("/v1/users/{id}/roles", "put"),
        ("/v1/users/{id}/roles/{role}", "delete"),
        ("/v1/roles", "get"),
        ("/v1/roles", "post"),
        ("/v1/roles/{id}", "get"),
        ("/v1/roles/{id}", "patch"),
        ("/v1/roles/{id}", "delete"),
        ("/v1/role-assignments", "get"),
        ("/v1/role-assignments", "post"),
        ("/v1/role-assignments/{id}", "get"),
        ("/v1/role-assignments/{id}", "patch"),
        ("/v1/role-assignments/{id}", "delete"),
        ("/v1/organizations", "get"),
        ("/v1/organizations", "post"),
        ("/v1/organizations/{id}", "get"),
        ("/v1/organizations/{id}", "patch"),
        ("/v1/organizations/{id}", "delete"),
        ("/v1/organizations/{id}/members", "get"),
        ("/v1/organizations/{id}/members/{user_id}", "put"),
        ("/v1/organizations/{id}/members/{user_id}", "delete"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/.well-known/jwks.json", "get"),
        ("/openapi.json", "get"),
        ("/docs", "get"),
        ("/v1/audit", "get"),
        ("/v1/clients", "get"),
        ("/v1/clients", "post"),
        ("/v1/clients/{client_id}", "get"),
        ("/v1/clients/{client_id}", "patch"),
        ("/v1/clients/{client_id}", "delete"),
        ("/v1/clients/{client_id}/rotate-secret", "post"),
        ("/oauth/token", "post"),
        ("/oauth/introspect", "post"),
        ("/oauth/revoke", "post"),
        ("/oauth/userinfo", "get"),
        ("/oauth/userinfo", "post"),
        ("/.well-known/oauth-authorization-server", "get"),
        ("/.well-known/openid-configuration", "get"),
        ("/v1/me/grants", "get"),
        ("/v1/me/grants/{client_id}", "delete"),
        ("/v1/users/import", "post"),
        ("/v1/users/export", "get"),
        ("/v1/auth/mfa", "post"),
        ("/v1/me/mfa", "get"),
        ("/v1/me/mfa/totp", "post"),
        ("/v1/me/mfa/totp", "delete"),
        ("/v1/me/mfa/totp/confirm", "post"),
        ("/v1/me/mfa/recovery-codes", "post"),
        ("/v1/users/{id}/mfa", "get"),
        ("/v1/users/{id}/mfa", "delete"),
        ("/v1/me/mfa/passkeys", "get"),
        ("/v1/me/mfa/passkeys", "post"),
        ("/v1/me/mfa/passkeys/finish", "post"),
        ("/v1/me/mfa/passkeys/{id}", "patch"),
        ("/v1/me/mfa/passkeys/{id}", "delete"),
        ("/v1/auth/mfa/webauthn", "post"),
        ("/v1/auth/passkey/options", "post"),
        ("/v1/auth/passkey", "post"),
        ("/v1/auth/password-reset", "post"),
        ("/v1/auth/password-reset/confirm", "post"),
        ("/v1/me/email/verify", "post"),
        ("/v1/auth/verify-email", "post"),
        ("/v1/me/email", "post"),
        ("/v1/auth/email-change/confirm", "post"),
        ("/v1/users/invite", "post"),
        ("/v1/auth/invitation/accept", "post"),
        ("/v1/users/{id}/email-verified", "put"),
        ("/v1/mail", "get"),
    ];
    let mut documented = 0;
    for (path, ops) in paths {
        documented += ops.as_object().unwrap().len();
        assert!(
            expected.iter().any(|(p, _)| p == path),
            "undocumented in this test: {path}"
        );
    }
    for (p, m) in expected {
        assert!(
            paths.get(p).and_then(|o| o.get(m)).is_some(),
            "{m} {p} missing from the document"
        );
    }
    assert_eq!(documented, expected.len());
    // And every documented route answers something other than the router's 404.
    for (p, m) in expected {
        let path = p
            .replace("{id}", "1")
            .replace("{user_id}", "1")
            .replace("{role}", "admin")
            .replace("{session_id}", "x");
        let r = app.call(&m.to_uppercase(), &path, None, None).await;
        assert_ne!(
            r.body["type"], "urn:latchkey:problem:route-not-found",
            "{m} {p}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_is_served_from_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let page = app.call("GET", "/docs", None, None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("swagger"),
        "{}",
        &page.text[..page.text.len().min(300)]
    );
    assert!(page.text.contains("/openapi.json"));
    assert!(!page.text.contains("https://"), "no CDN");
    // The page runs its own scripts: its policy admits them (and only them); the API's does not.
    let csp = page.headers.get("content-security-policy").unwrap();
    assert!(
        csp.to_str()
            .unwrap()
            .starts_with("default-src 'self'; script-src 'self'"),
        "{csp:?}"
    );
    assert_eq!(page.headers.get("x-frame-options").unwrap(), "DENY");
    let doc = app.call("GET", "/openapi.json", None, None).await;
    assert_eq!(
        doc.headers.get("content-security-policy").unwrap(),
        "default-src 'none'; frame-ancestors 'none'"
    );
    let js = app
        .call("GET", "/docs/swagger-ui-bundle.js", None, None)
        .await;
    assert_eq!(js.status, 200);
    assert!(js.text.len() > 100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_request_ids_and_fallbacks() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let r = app.get("/v1/me", &app.admin).await;
    for (h, v) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        assert_eq!(r.headers.get(h).unwrap(), v, "{h}");
    }
    assert!(r.headers.get("x-request-id").is_some());
    let given = app
        .send(
            app.http
                .get(app.url("/healthz"))
                .header("x-request-id", "abc-123"),
        )
        .await;
    assert_eq!(given.headers.get("x-request-id").unwrap(), "abc-123");
    app.call("GET", "/nope", None, None)
        .await
        .assert_problem(404, "route-not-found");
    app.call("GET", "/v1/users/1/nope", Some(&app.admin), None)
        .await
        .assert_problem(404, "route-not-found");
    app.call("DELETE", "/v1/auth/login", None, None)
        .await
        .assert_problem(405, "method-not-allowed");
}
