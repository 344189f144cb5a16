//! Roles and role assignments.

use serde_json::json;

use crate::dual;

dual!(roles_crud_and_builtins_are_protected, |app| {
    let r = app.get("/v1/roles", &app.admin).await;
    let names: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for b in ["admin", "citizen", "pi", "super_admin", "user"] {
        assert!(names.contains(&b), "{names:?}");
    }
    let c = app
        .call(
            "POST",
            "/v1/roles",
            Some(&app.admin),
            Some(json!({"name": "Auditor", "description": "reads"})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    assert_eq!(c.body["name"], "auditor");
    assert_eq!(c.body["builtin"], false);
    let id = c.body["id"].as_i64().unwrap();
    app.call(
        "POST",
        "/v1/roles",
        Some(&app.admin),
        Some(json!({"name": "AUDITOR"})),
    )
    .await
    .assert_problem(409, "conflict");
    app.call(
        "POST",
        "/v1/roles",
        Some(&app.admin),
        Some(json!({"name": "no spaces"})),
    )
    .await
    .assert_problem(422, "invalid-field");
    let u = app
        .call(
            "PATCH",
            &format!("/v1/roles/{id}"),
            Some(&app.admin),
            Some(json!({"name": "reviewer"})),
        )
        .await;
    assert_eq!(u.body["name"], "reviewer");
    assert_eq!(u.body["description"], "reads");
    let admin_id = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "admin")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    app.call(
        "DELETE",
        &format!("/v1/roles/{admin_id}"),
        Some(&app.admin),
        None,
    )
    .await
    .assert_problem(422, "invalid-field");
    app.call(
        "PATCH",
        &format!("/v1/roles/{admin_id}"),
        Some(&app.admin),
        Some(json!({"name": "boss"})),
    )
    .await
    .assert_problem(422, "invalid-field");
    assert_eq!(
        app.call("DELETE", &format!("/v1/roles/{id}"), Some(&app.admin), None)
            .await
            .status,
        204
    );
    app.get(&format!("/v1/roles/{id}"), &app.admin)
        .await
        .assert_problem(404, "not-found");
    let t = {
        app.create_user("nick", &[]).await;
        app.token_of("nick").await
    };
    app.get("/v1/roles", &t)
        .await
        .assert_problem(403, "forbidden");
});

dual!(
    assigning_and_removing_roles_takes_effect_on_the_next_request,
    |app| {
        let id = app.create_user("olga", &[]).await;
        let t = app.token_of("olga").await;
        app.get("/v1/users", &t)
            .await
            .assert_problem(403, "forbidden");
        let a = app
            .call(
                "POST",
                &format!("/v1/users/{id}/roles"),
                Some(&app.admin),
                Some(json!({"role": "ADMIN"})),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
        assert_eq!(a.body["role"], "admin");
        assert_eq!(a.body["version"], 0);
        assert_eq!(a.body["created_by"], "1");
        // Same token, new right.
        assert_eq!(app.get("/v1/users", &t).await.status, 200);
        app.call(
            "POST",
            &format!("/v1/users/{id}/roles"),
            Some(&app.admin),
            Some(json!({"role": "admin"})),
        )
        .await
        .assert_problem(409, "conflict");
        // A role that does not exist yet is created by the assignment.
        let a2 = app
            .call(
                "POST",
                &format!("/v1/users/{id}/roles"),
                Some(&app.admin),
                Some(json!({"role": "brand-new", "is_active": false})),
            )
            .await;
        assert_eq!(a2.status, 201);
        let me = app.get("/v1/me", &t).await;
        assert_eq!(
            me.body["roles"],
            json!(["admin"]),
            "inactive assignments grant nothing"
        );
        let list = app.get(&format!("/v1/users/{id}/roles"), &app.admin).await;
        assert_eq!(list.body.as_array().unwrap().len(), 2);
        // Removing the role: the same token loses the right at once.
        assert_eq!(
            app.call(
                "DELETE",
                &format!("/v1/users/{id}/roles/admin"),
                Some(&app.admin),
                None
            )
            .await
            .status,
            204
        );
        app.get("/v1/users", &t)
            .await
            .assert_problem(403, "forbidden");
        app.call(
            "DELETE",
            &format!("/v1/users/{id}/roles/admin"),
            Some(&app.admin),
            None,
        )
        .await
        .assert_problem(404, "not-found");
        // Replace the whole set.
        let r = app
            .call(
                "PUT",
                &format!("/v1/users/{id}/roles"),
                Some(&app.admin),
                Some(json!({"roles": ["pi", "Staff"]})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["roles"], json!(["pi", "staff"]));
        app.call(
            "PUT",
            "/v1/users/999/roles",
            Some(&app.admin),
            Some(json!({"roles": ["pi"]})),
        )
        .await
        .assert_problem(404, "not-found");
        app.call(
            "POST",
            "/v1/users/999/roles",
            Some(&app.admin),
            Some(json!({"role": "pi"})),
        )
        .await
        .assert_problem(404, "not-found");
    }
);

dual!(role_assignment_records_carry_versions_and_actors, |app| {
    let id = app.create_user("pete", &[]).await;
    let c = app
        .call(
            "POST",
            "/v1/role-assignments",
            Some(&app.admin),
            Some(json!({"user_id": id, "role": "auditor"})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    let aid = c.body["id"].as_i64().unwrap();
    assert_eq!(c.body["is_active"], true);
    assert!(c.body["updated_at"].is_null());
    let p = app
        .call(
            "PATCH",
            &format!("/v1/role-assignments/{aid}"),
            Some(&app.admin),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["version"], 1);
    assert_eq!(p.body["is_active"], false);
    assert_eq!(p.body["updated_by"], "1");
    assert!(p.body["updated_at"].is_string());
    let p = app
        .call(
            "PATCH",
            &format!("/v1/role-assignments/{aid}"),
            Some(&app.admin),
            Some(json!({"role": "reviewer"})),
        )
        .await;
    assert_eq!(p.body["version"], 2);
    assert_eq!(p.body["role"], "reviewer");
    let l = app
        .get(&format!("/v1/role-assignments?user_id={id}"), &app.admin)
        .await;
    assert_eq!(l.body["total"], 1);
    let l = app
        .get("/v1/role-assignments?role=admin&is_active=true", &app.admin)
        .await;
    assert_eq!(l.body["total"], 1);
    let d = app
        .call(
            "DELETE",
            &format!("/v1/role-assignments/{aid}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(d.status, 200);
    assert_eq!(d.body["id"], aid);
    app.get(&format!("/v1/role-assignments/{aid}"), &app.admin)
        .await
        .assert_problem(404, "not-found");
    app.call(
        "PATCH",
        "/v1/role-assignments/999",
        Some(&app.admin),
        Some(json!({"is_active": true})),
    )
    .await
    .assert_problem(404, "not-found");
    app.call(
        "POST",
        "/v1/role-assignments",
        Some(&app.admin),
        Some(json!({"user_id": 999, "role": "x"})),
    )
    .await
    .assert_problem(404, "not-found");
});
