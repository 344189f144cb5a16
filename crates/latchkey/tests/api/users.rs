//! User administration: access rules, CRUD, listing, disabling.

use serde_json::json;

use crate::dual;
use crate::helpers::*;

dual!(only_admins_administer_users, |app| {
    let id = app.create_user("erin", &[]).await;
    let t = app.token_of("erin").await;
    app.call("GET", "/v1/users", None, None)
        .await
        .assert_problem(401, "unauthenticated");
    app.get("/v1/users", &t)
        .await
        .assert_problem(403, "forbidden");
    app.call(
        "POST",
        "/v1/users",
        Some(&t),
        Some(json!({"username": "x1", "email": "x1@example.com", "password": "password-123"})),
    )
    .await
    .assert_problem(403, "forbidden");
    app.call("DELETE", "/v1/users/1", Some(&t), None)
        .await
        .assert_problem(403, "forbidden");
    app.call("POST", "/v1/users/1/disable", Some(&t), None)
        .await
        .assert_problem(403, "forbidden");
    app.call("DELETE", "/v1/users/1/sessions", Some(&t), None)
        .await
        .assert_problem(403, "forbidden");
    app.call(
        "PUT",
        "/v1/users/1/password",
        Some(&t),
        Some(json!({"password": "password-999"})),
    )
    .await
    .assert_problem(403, "forbidden");
    // A user reads and updates themself, but not others.
    assert_eq!(app.get(&format!("/v1/users/{id}"), &t).await.status, 200);
    app.get("/v1/users/1", &t)
        .await
        .assert_problem(403, "forbidden");
    app.call(
        "PATCH",
        "/v1/users/1",
        Some(&t),
        Some(json!({"first_name": "x"})),
    )
    .await
    .assert_problem(403, "forbidden");
    assert_eq!(app.user_count().await, 2);
});

dual!(admins_create_read_update_and_delete_users, |app| {
    let r = app
        .call(
            "POST",
            "/v1/users",
            Some(&app.admin),
            Some(json!({
                "username": "frank", "email": "frank@example.com", "password": "password-123",
                "first_name": "Frank", "roles": ["Staff", "editor", "staff"], "is_active": true
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["roles"], json!(["editor", "staff"]));
    assert!(uuid::Uuid::parse_str(r.body["uuid"].as_str().unwrap()).is_ok());
    let got = app.get(&format!("/v1/users/{id}"), &app.admin).await;
    assert_eq!(got.body["email"], "frank@example.com");
    let upd = app
        .call(
            "PATCH",
            &format!("/v1/users/{id}"),
            Some(&app.admin),
            Some(json!({"email": "f@example.org", "last_name": "Ford"})),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.text);
    assert_eq!(upd.body["email"], "f@example.org");
    assert_eq!(upd.body["first_name"], "Frank");
    assert_eq!(upd.body["last_name"], "Ford");
    // Delete: the user's tokens die with them.
    let t = app.token_of("frank").await;
    assert_eq!(
        app.call("DELETE", &format!("/v1/users/{id}"), Some(&app.admin), None)
            .await
            .status,
        204
    );
    app.get("/v1/me", &t)
        .await
        .assert_problem(401, "unauthenticated");
    app.get(&format!("/v1/users/{id}"), &app.admin)
        .await
        .assert_problem(404, "not-found");
    app.call("DELETE", &format!("/v1/users/{id}"), Some(&app.admin), None)
        .await
        .assert_problem(404, "not-found");
    // Admins cannot delete themselves.
    app.call("DELETE", "/v1/users/1", Some(&app.admin), None)
        .await
        .assert_problem(400, "cannot-delete-self");
    assert_eq!(app.user_count().await, 1);
    // Unknown organization.
    app.call("POST", "/v1/users", Some(&app.admin), Some(json!({
        "username": "g", "email": "g@example.com", "password": "password-123", "organization_id": 999
    })))
    .await
    .assert_problem(404, "not-found");
    assert_eq!(app.user_count().await, 1);
});

dual!(disabling_ends_sessions_and_blocks_login, |app| {
    let id = app.create_user("gina", &[]).await;
    let t = app.token_of("gina").await;
    let r = app
        .call(
            "POST",
            &format!("/v1/users/{id}/disable"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["is_active"], false);
    app.get("/v1/me", &t)
        .await
        .assert_problem(401, "unauthenticated");
    app.login("gina", "password-123")
        .await
        .assert_problem(403, "account-disabled");
    // A wrong password on a disabled account reveals nothing.
    app.login("gina", "wrong-password")
        .await
        .assert_problem(401, "invalid-credentials");
    let r = app
        .call(
            "POST",
            &format!("/v1/users/{id}/enable"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.body["is_active"], true);
    app.login_ok("gina", "password-123").await;
    // An admin cannot disable themself.
    app.call("POST", "/v1/users/1/disable", Some(&app.admin), None)
        .await
        .assert_problem(422, "invalid-field");
});

dual!(admin_reset_and_end_sessions, |app| {
    let id = app.create_user("hank", &[]).await;
    let t = app.token_of("hank").await;
    let r = app
        .call(
            "DELETE",
            &format!("/v1/users/{id}/sessions"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["ended"], 1);
    app.get("/v1/me", &t)
        .await
        .assert_problem(401, "unauthenticated");
    let t = app.token_of("hank").await;
    let r = app
        .call(
            "PUT",
            &format!("/v1/users/{id}/password"),
            Some(&app.admin),
            Some(json!({"password": "reset-pass-1"})),
        )
        .await;
    assert_eq!(r.status, 204);
    app.get("/v1/me", &t)
        .await
        .assert_problem(401, "unauthenticated");
    app.login_ok("hank", "reset-pass-1").await;
    app.call(
        "PUT",
        "/v1/users/999/password",
        Some(&app.admin),
        Some(json!({"password": "reset-pass-1"})),
    )
    .await
    .assert_problem(404, "not-found");
});

dual!(user_lists_paginate_search_filter_and_sort, |app| {
    for (name, roles) in [
        ("ivy", vec!["staff"]),
        ("jack", vec![]),
        ("kate", vec!["staff"]),
        ("liam", vec![]),
        ("mia", vec![]),
    ] {
        app.create_user(name, &roles).await;
    }
    let names = |r: &Reply| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = app.get("/v1/users?per_page=2&page=1", &app.admin).await;
    assert_eq!(r.body["total"], 6);
    assert_eq!(names(&r), ["admin", "ivy"]);
    let r = app.get("/v1/users?per_page=2&page=3", &app.admin).await;
    assert_eq!(names(&r), ["liam", "mia"]);
    let r = app.get("/v1/users?per_page=2&page=4", &app.admin).await;
    assert!(names(&r).is_empty());
    assert_eq!(r.body["total"], 6);
    for bad in [
        "per_page=0",
        "per_page=101",
        "page=0",
        "page=-1",
        "page=abc",
        "sort=password",
        "active=maybe",
        "nope=1",
    ] {
        app.get(&format!("/v1/users?{bad}"), &app.admin)
            .await
            .assert_problem(400, "invalid-parameter");
    }
    let r = app
        .get("/v1/users?sort=-username&per_page=3", &app.admin)
        .await;
    assert_eq!(names(&r), ["mia", "liam", "kate"]);
    let r = app.get("/v1/users?role=STAFF", &app.admin).await;
    assert_eq!(names(&r), ["ivy", "kate"]);
    let r = app.get("/v1/users?q=AT", &app.admin).await;
    assert_eq!(names(&r), ["kate"]);
    let r = app
        .get("/v1/users?q=example.com&per_page=100", &app.admin)
        .await;
    assert_eq!(r.body["total"], 6);
    let r = app.get("/v1/users?q=%25", &app.admin).await;
    assert_eq!(r.body["total"], 0, "LIKE wildcards are escaped");
    app.call("POST", "/v1/users/3/disable", Some(&app.admin), None)
        .await;
    let r = app.get("/v1/users?active=false", &app.admin).await;
    assert_eq!(names(&r), ["jack"]);

    // Keyset pagination walks every user once, in order, for each sort.
    for sort in ["id", "username", "-email", "created_at"] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        for _ in 0..10 {
            let r = app
                .get(
                    &format!("/v1/users?per_page=2&sort={sort}&cursor={cursor}"),
                    &app.admin,
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            seen.extend(names(&r));
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 6, "sort {sort}: {seen:?}");
    }
    app.get("/v1/users?cursor=garbage!", &app.admin)
        .await
        .assert_problem(400, "invalid-parameter");
    app.get("/v1/users?cursor=&page=1", &app.admin)
        .await
        .assert_problem(400, "invalid-parameter");
});
