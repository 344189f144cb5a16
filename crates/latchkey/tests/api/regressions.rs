//! Regression tests for defects found by black-box runs and by real front-ends, each on
//! SQLite and PostgreSQL (issue 10). Each failed before its fix.

use serde_json::json;

use crate::dual;
use crate::helpers::*;

dual!(
    concurrent_assignment_updates_answer_the_versions_they_wrote,
    |app| {
        let uid = app.create_user("vera", &[]).await;
        let r = app
            .call(
                "POST",
                &TestApp::at("role-assignments", "/api/v1/roles/"),
                Some(&app.admin),
                Some(json!({"user_id": uid.to_string(), "role": "r0", "is_active": true})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let id = r.body["_id"].as_str().unwrap().to_owned();
        let url = TestApp::at("role-assignments", "/api/v1/roles/");
        let mut tasks = Vec::new();
        for i in 1..=16 {
            let (http, url, id, token, uid) = (
                app.http.clone(),
                app.url(&url),
                id.clone(),
                app.admin.clone(),
                uid.to_string(),
            );
            tasks.push(tokio::spawn(async move {
            let r = http
                .put(url)
                .bearer_auth(token)
                .json(&json!({"_id": id, "user_id": uid, "role": format!("r{i}"), "is_active": true}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let body: serde_json::Value = r.json().await.unwrap();
            (
                body["data"]["__v"].as_i64().unwrap(),
                body["data"]["role"].as_str().unwrap().to_owned(),
            )
        }));
        }
        let mut written = Vec::new();
        for t in tasks {
            written.push(t.await.unwrap());
        }
        written.sort();
        let versions: Vec<i64> = written.iter().map(|(v, _)| *v).collect();
        assert_eq!(versions, (1..=16).collect::<Vec<_>>(), "{written:?}");
        // What is stored is the last write's role, at the last version.
        let stored = app
            .get(
                &TestApp::at("role-assignments", &format!("/api/v1/roles/{id}")),
                &app.admin,
            )
            .await;
        assert_eq!(stored.body["data"]["role"], json!(written[15].1));
        let native = app.get(&format!("/v1/users/{uid}"), &app.admin).await;
        assert_eq!(native.body["roles"], json!([written[15].1]));
    }
);

dual!(
    roles_are_case_insensitive_on_input_in_user_profiles,
    |app| {
        let up = |p: &str| TestApp::at("user-profiles", p);
        let body = |name: &str, role: &str| {
            json!({"email": format!("{name}@example.com"), "user_name": name,
               "password": "a fine long password", "role": role})
        };
        let r = app
            .call("POST", &up("/users"), None, Some(body("upper", "USER")))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .call("POST", &up("/users"), None, Some(body("mixed", "Admin")))
            .await;
        assert_eq!(
            r.status, 403,
            "a privileged role still needs an admin: {}",
            r.text
        );
        let r = app
            .call(
                "POST",
                &up("/users"),
                Some(&app.admin),
                Some(body("mod", "MODERATOR")),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .call("POST", &up("/users"), None, Some(body("odd", "superuser")))
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body, json!({"error": "Incorrect field"}));
        let list = app.get("/v1/users?q=upper", &app.admin).await;
        assert_eq!(list.body["items"][0]["roles"], json!(["user"]));
        let list = app.get("/v1/users?q=mod", &app.admin).await;
        assert_eq!(list.body["items"][0]["roles"], json!(["moderator"]));
    }
);

dual!(
    nul_bytes_are_refused_in_each_envelope_and_store_nothing,
    |app| {
        let users = app.user_count().await;
        // auth-admin login: its 400.
        let r = app
            .call(
                "POST",
                &TestApp::at("auth-admin", "/auth/login"),
                None,
                Some(json!({"username": "ad\u{0}min", "password": "whatever it is"})),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(r.body["message"].is_string(), "{}", r.text);
        // Native login and search.
        // (The native API answers invalid input 422.)
        app.login("ad\u{0}min", ADMIN_PASSWORD)
            .await
            .assert_problem(422, "invalid-field");
        app.get("/v1/users?q=%00", &app.admin)
            .await
            .assert_problem(422, "invalid-field");
        // role-assignments search: its envelope.
        let r = app
            .get(
                &TestApp::at("role-assignments", "/api/v1/roles?search_text=%00"),
                &app.admin,
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.body["status"], "error");
        assert_eq!(r.body["status_code"], 400);
        // org-users lookup: not found, in Nest's envelope.
        let r = app
            .get(&TestApp::at("org-users", "/users/%00admin"), &app.admin)
            .await;
        assert_eq!(r.status, 404, "{}", r.text);
        assert_eq!(r.body["statusCode"], 404);
        // A sign-up with a NUL in a stored field is refused and stores nothing.
        let r = app
            .call(
                "POST",
                "/v1/auth/register",
                None,
                Some(
                    json!({"username": "nul\u{0}user", "email": "nul@example.com",
                        "password": "a fine long password"}),
                ),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        let r = app
        .call(
            "POST",
            &TestApp::at("citizen-portal", "/auth/register"),
            None,
            Some(json!({"email": "c@example.com", "username": "cit", "password": "a fine long password",
                        "firstName": "Ju\u{0}an", "lastName": "Cruz"})),
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(app.user_count().await, users);
        // Sessions named with a NUL are simply not found.
        let r = app
            .call("DELETE", "/v1/me/sessions/a%00b", Some(&app.admin), None)
            .await;
        assert_eq!(r.status, 404, "{}", r.text);
    }
);

dual!(citizen_portal_role_ids_are_the_origins, |app| {
    let cp = |p: &str| TestApp::at("citizen-portal", p);
    let id = app.create_user("ana", &["citizen"]).await;
    let url = cp(&format!("/auth/admin/update-user/{id}"));
    // A front-end written for the origin hardcodes these ids.
    for (ids, default, roles, shown) in [
        (json!([4]), 4, json!(["citizen"]), "citizen"),
        (json!([3, 4]), 3, json!(["citizen", "staff"]), "staff"),
        (json!([2]), 2, json!(["admin"]), "admin"),
        (
            json!([1, 4]),
            1,
            json!(["citizen", "super_admin"]),
            "super_admin",
        ),
    ] {
        let r = app
            .call(
                "POST",
                &url,
                Some(&app.admin),
                Some(json!({"roleIds": ids, "defaultRoleId": default})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["roles"], roles, "roleIds {ids}");
        assert_eq!(r.body["defaultRole"], shown);
    }
    // `staff` is built in and administers nothing.
    let staff = app
        .get("/v1/roles", &app.admin)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "staff")
        .cloned()
        .expect("staff is a built-in role");
    assert_eq!(staff["builtin"], true);
    app.call(
        "POST",
        &url,
        Some(&app.admin),
        Some(json!({"roleIds": [3]})),
    )
    .await;
    let t = app.token_of("ana").await;
    let r = app
        .call(
            "POST",
            &cp(&format!("/auth/admin/update-user/{id}")),
            Some(&t),
            Some(json!({"firstName": "X"})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(app.get("/v1/users", &t).await.status, 403);
    // A native id that the namespace maps elsewhere names nothing: 5 is not `admin` here.
    let r = app
        .call(
            "POST",
            &url,
            Some(&app.admin),
            Some(json!({"roleIds": [5]})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["statusCode"], 400);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizen_portal_role_ids_can_be_configured() {
    let opts = latchkey::server::HttpOptions {
        citizen_portal_role_ids: latchkey::core::roles::RoleIds::parse("citizen=10,admin=20")
            .unwrap(),
        ..Default::default()
    };
    let Some(app) = TestApp::spawn_opts(Backend::Sqlite, test_config(), opts).await else {
        return;
    };
    let id = app.create_user("ben", &[]).await;
    let url = TestApp::at("citizen-portal", &format!("/auth/admin/update-user/{id}"));
    let r = app
        .call(
            "POST",
            &url,
            Some(&app.admin),
            Some(json!({"roleIds": [10, 20]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["roles"], json!(["admin", "citizen"]));
    let r = app
        .call(
            "POST",
            &url,
            Some(&app.admin),
            Some(json!({"roleIds": [4]})),
        )
        .await;
    assert_eq!(
        r.status, 400,
        "4 is not citizen under this mapping: {}",
        r.text
    );
}
