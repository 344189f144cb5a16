//! The audit log: what is recorded, with whom and from where, and that no secret is.

use serde_json::json;

use crate::dual;
use crate::helpers::*;

dual!(
    security_events_are_recorded_with_actor_target_and_client,
    |app| {
        let ua = "audit-test/1.0";
        let with_ua = |req: reqwest::RequestBuilder| req.header("user-agent", ua);
        // A failed and a good login, a user created, updated, given a role, its password changed,
        // logged out, deleted; a role created; keys rotated.
        app.send(with_ua(app.http.post(app.url("/v1/auth/login")).json(
            &json!({"identifier": "admin", "password": "wrong-secret-1"}),
        )))
        .await;
        let t = app
            .send(with_ua(app.http.post(app.url("/v1/auth/login")).json(
                &json!({"identifier": "admin", "password": ADMIN_PASSWORD}),
            )))
            .await
            .body["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = app.create_user("audited", &[]).await;
        app.call(
            "PATCH",
            &format!("/v1/users/{id}"),
            Some(&t),
            Some(json!({"first_name": "Secretly"})),
        )
        .await;
        app.call(
            "POST",
            &format!("/v1/users/{id}/roles"),
            Some(&t),
            Some(json!({"role": "editor"})),
        )
        .await;
        let ut = app.token_of("audited").await;
        app.call(
            "PUT",
            "/v1/me/password",
            Some(&ut),
            Some(json!({"current_password": "password-123", "new_password": "another-secret-9"})),
        )
        .await;
        app.call("POST", "/v1/auth/logout", Some(&ut), None).await;
        app.call(
            "POST",
            "/v1/roles",
            Some(&t),
            Some(json!({"name": "auditor"})),
        )
        .await;
        app.call("DELETE", &format!("/v1/users/{id}"), Some(&t), None)
            .await;
        app.inst.svc.rotate_keys().await.unwrap();

        let r = app.get("/v1/audit?per_page=100", &t).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let items = r.body["items"].as_array().unwrap().clone();
        let find = |action: &str, outcome: &str| {
            items
                .iter()
                .find(|e| e["action"] == action && e["outcome"] == outcome)
                .unwrap_or_else(|| panic!("no {action}/{outcome} in {}", r.text))
                .clone()
        };
        let failed = find("login", "failure");
        assert_eq!(failed["detail"], "admin");
        assert_eq!(failed["client_ip"], "127.0.0.1");
        assert_eq!(failed["user_agent"], ua);
        let ok = items
            .iter()
            .find(|e| e["action"] == "login" && e["outcome"] == "success" && e["actor"] == "admin")
            .expect("the admin's login");
        assert_eq!(ok["actor_id"], 1);
        assert_eq!(ok["target_type"], "session");
        let created = find("user.created", "success");
        assert_eq!(created["target_id"], id.to_string());
        assert_eq!(created["actor"], "admin");
        let updated = find("user.updated", "success");
        assert!(updated["detail"].as_str().unwrap().contains("first_name"));
        find("assignment.created", "success");
        let pw = find("password.changed", "success");
        assert_eq!(pw["actor"], "audited");
        find("logout", "success");
        find("role.created", "success");
        find("user.deleted", "success");
        find("key.rotated", "success");
        // Newest first, and never a secret.
        let ids: Vec<i64> = items.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]));
        for secret in [
            "wrong-secret-1",
            ADMIN_PASSWORD,
            "password-123",
            "another-secret-9",
            "Secretly",
            &t,
        ] {
            assert!(
                !r.text.contains(secret),
                "the audit log holds a secret or value: {secret}"
            );
        }

        // Filters and access.
        let r = app.get("/v1/audit?action=login&outcome=failure", &t).await;
        assert_eq!(r.body["total"], 1);
        let r = app
            .get(&format!("/v1/audit?target_type=user&target_id={id}"), &t)
            .await;
        assert!(r.body["total"].as_u64().unwrap() >= 3);
        let r = app
            .get(
                "/v1/audit?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z",
                &t,
            )
            .await;
        assert_eq!(r.body["total"], 0);
        app.get("/v1/audit?since=yesterday", &t)
            .await
            .assert_problem(400, "invalid-parameter");
        app.get("/v1/audit?outcome=maybe", &t)
            .await
            .assert_problem(400, "invalid-parameter");
        app.create_user("nosy", &[]).await;
        let nosy = app.token_of("nosy").await;
        app.get("/v1/audit", &nosy)
            .await
            .assert_problem(403, "forbidden");
    }
);

dual!(dialect_actions_are_audited_too, |app| {
    let r = app
        .call(
            "POST",
            &TestApp::at("org-users", "/users/login"),
            None,
            Some(json!({"username": "admin", "password": "nope-nope-1"})),
        )
        .await;
    assert_eq!(r.status, 401);
    let r = app
        .call("POST", &TestApp::at("citizen-portal", "/auth/register"), None, Some(json!({
            "email": "cit@example.com", "username": "cit", "password": "password-123", "firstName": "C", "lastName": "P"
        })))
        .await;
    assert_eq!(r.status, 201);
    let a = app
        .get("/v1/audit?action=login&outcome=failure", &app.admin)
        .await;
    assert_eq!(a.body["total"], 1);
    let c = app.get("/v1/audit?action=user.created", &app.admin).await;
    let made = c.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["actor"] == "cit")
        .cloned();
    assert!(
        made.is_some(),
        "self-registration is recorded with the new user as actor: {}",
        c.text
    );
});
