use serde_json::json;

use super::{bad_bodies, exact};
use crate::dual;
use crate::helpers::*;

fn p(path: &str) -> String {
    TestApp::at("role-assignments", path)
}

fn q(s: &str) -> String {
    s.replace('[', "%5B")
        .replace(']', "%5D")
        .replace('{', "%7B")
        .replace('}', "%7D")
        .replace('"', "%22")
        .replace(':', "%3A")
        .replace(',', "%2C")
}

fn err(status: u16, message: &str) -> serde_json::Value {
    json!({"status": "error", "status_code": status, "message": message})
}

async fn create(app: &TestApp, user: i64, role: &str, active: bool) -> serde_json::Value {
    let r = app
        .call(
            "POST",
            &p("/api/v1/roles/"),
            Some(&app.admin),
            Some(json!({"user_id": user.to_string(), "role": role, "is_active": active})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

dual!(create_answers_the_bare_record, |app| {
    let uid = app.create_user("rae", &[]).await;
    let r = create(&app, uid, "Editor", true).await;
    let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "_id",
            "user_id",
            "role",
            "is_active",
            "created_at",
            "created_by",
            "__v"
        ]
    );
    assert!(r["_id"].is_string());
    assert_eq!(r["user_id"], uid.to_string());
    assert_eq!(r["role"], "editor");
    assert_eq!(r["is_active"], true);
    assert_eq!(r["created_by"], "1");
    assert_eq!(r["__v"], 0);
    // A numeric user_id is accepted too; a second identical assignment is a conflict.
    let again = app
        .call(
            "POST",
            &p("/api/v1/roles"),
            Some(&app.admin),
            Some(json!({"user_id": uid, "role": "editor", "is_active": true})),
        )
        .await;
    exact(
        &again,
        409,
        err(409, "This role is already assigned to this user"),
    );
    for body in [
        json!({"role": "x", "is_active": true}),
        json!({"user_id": "1", "is_active": true}),
        json!({"user_id": "1", "role": "x"}),
    ] {
        exact(
            &app.call("POST", &p("/api/v1/roles"), Some(&app.admin), Some(body))
                .await,
            400,
            err(400, "user_id, role and is_active are required"),
        );
    }
    exact(
        &app.call(
            "POST",
            &p("/api/v1/roles"),
            Some(&app.admin),
            Some(json!({"user_id": "abc", "role": "x", "is_active": true})),
        )
        .await,
        400,
        err(400, "user_id must be a numeric id"),
    );
    exact(
        &app.call(
            "POST",
            &p("/api/v1/roles"),
            Some(&app.admin),
            Some(json!({"user_id": "999", "role": "x", "is_active": true})),
        )
        .await,
        404,
        err(404, "User not found"),
    );
    let r = app
        .call(
            "POST",
            &p("/api/v1/roles"),
            Some(&app.admin),
            Some(json!({"user_id": "1", "role": "x", "is_active": "yes"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["status"], "error");
    for (ct, body) in bad_bodies() {
        let r = app
            .raw("POST", &p("/api/v1/roles"), Some(&app.admin), ct, body)
            .await;
        assert!(r.status.is_client_error());
        assert_eq!(r.body["status"], "error", "{}", r.text);
        assert!(r.body["status_code"].is_u64());
    }
    let l = app.get(&p("/api/v1/roles"), &app.admin).await;
    assert_eq!(l.body["data"]["total"], 2, "nothing else was stored");
});

dual!(get_patch_put_and_delete_one_record, |app| {
    let uid = app.create_user("sol", &[]).await;
    let rec = create(&app, uid, "auditor", true).await;
    let id = rec["_id"].as_str().unwrap().to_owned();
    let r = app
        .get(&p(&format!("/api/v1/roles/{id}")), &app.admin)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "success");
    assert_eq!(r.body["status_code"], "200");
    let keys: Vec<&String> = r.body["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["_id", "user_id", "role", "is_active", "created_at"]);
    exact(
        &app.get(&p("/api/v1/roles/999"), &app.admin).await,
        404,
        err(404, "Role not found"),
    );
    exact(
        &app.get(&p("/api/v1/roles/abc"), &app.admin).await,
        400,
        err(400, "Invalid id: expected a number"),
    );

    let r = app
        .call(
            "PATCH",
            &p(&format!("/api/v1/roles/{id}")),
            Some(&app.admin),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["is_active"], false);
    assert_eq!(r.body["data"]["__v"], 1);
    assert_eq!(r.body["data"]["created_by"], "1");
    exact(
        &app.call(
            "PATCH",
            &p(&format!("/api/v1/roles/{id}")),
            Some(&app.admin),
            Some(json!({})),
        )
        .await,
        400,
        err(400, "is_active is required"),
    );
    exact(
        &app.call(
            "PATCH",
            &p("/api/v1/roles/999"),
            Some(&app.admin),
            Some(json!({"is_active": true})),
        )
        .await,
        404,
        err(404, "Role not found"),
    );

    let r = app
        .call("PUT", &p("/api/v1/roles/"), Some(&app.admin), Some(json!({"_id": id, "user_id": uid.to_string(), "role": "reviewer", "is_active": true})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = &r.body["data"];
    assert_eq!(d["role"], "reviewer");
    assert_eq!(d["__v"], 2);
    assert_eq!(d["updated_by"], "1");
    assert!(d["updated_at"].is_string());
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "_id",
            "user_id",
            "role",
            "is_active",
            "created_at",
            "created_by",
            "__v",
            "updated_at",
            "updated_by"
        ]
    );
    exact(
        &app.call(
            "PUT",
            &p("/api/v1/roles"),
            Some(&app.admin),
            Some(json!({"_id": id, "role": "x", "is_active": true})),
        )
        .await,
        400,
        err(400, "_id, user_id, role and is_active are required"),
    );
    exact(
        &app.call(
            "PUT",
            &p("/api/v1/roles"),
            Some(&app.admin),
            Some(json!({"_id": "999", "user_id": "1", "role": "x", "is_active": true})),
        )
        .await,
        404,
        err(404, "Role not found"),
    );

    let r = app
        .get(&p(&format!("/api/v1/roles/user/{uid}")), &app.admin)
        .await;
    exact(
        &r,
        200,
        json!({"status": "success", "status_code": "200", "data": ["reviewer"]}),
    );
    exact(
        &app.get(&p("/api/v1/roles/user/999"), &app.admin).await,
        404,
        err(404, "User not found"),
    );

    let r = app
        .call(
            "DELETE",
            &p(&format!("/api/v1/roles/{id}")),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["_id"], id);
    exact(
        &app.call(
            "DELETE",
            &p(&format!("/api/v1/roles/{id}")),
            Some(&app.admin),
            None,
        )
        .await,
        404,
        err(404, "Role not found"),
    );
});

dual!(lists_paginate_sort_filter_and_search, |app| {
    let a = app.create_user("ana", &[]).await;
    let b = app.create_user("ben", &[]).await;
    create(&app, a, "editor", true).await;
    create(&app, a, "viewer", false).await;
    create(&app, b, "editor", false).await;
    create(&app, b, "auditor", true).await;
    // 5 records in all, with the admin's.
    let list = |query: String| {
        let app = &app;
        async move {
            app.get(&p(&format!("/api/v1/roles?{query}")), &app.admin)
                .await
        }
    };
    let r = list(String::new()).await;
    let d = &r.body["data"];
    assert_eq!(d["total"], 5);
    assert_eq!(d["roles"].as_array().unwrap().len(), 5);
    for k in [
        "limit",
        "total_page",
        "current_page",
        "prev_page",
        "next_page",
    ] {
        assert!(d[k].is_null(), "{k} without pagination");
    }
    let r = list("page=2&limit=2".into()).await;
    let d = &r.body["data"];
    assert_eq!(d["limit"], 2);
    assert_eq!(d["total_page"], 3);
    assert_eq!(d["current_page"], 2);
    assert_eq!(d["prev_page"], "1");
    assert_eq!(d["next_page"], "3");
    let r = list("page=3&limit=2".into()).await;
    assert_eq!(r.body["data"]["roles"].as_array().unwrap().len(), 1);
    assert!(r.body["data"]["next_page"].is_null());
    let r = list("page=7&limit=2".into()).await;
    assert_eq!(r.body["data"]["roles"], json!([]));
    assert_eq!(r.body["data"]["total"], 5);
    let r = list("page=1&limit=5&sort=&search_text=&filter=".into()).await;
    assert_eq!(r.body["data"]["total"], 5, "empty parameters are ignored");

    let names = |r: &Reply| -> Vec<String> {
        r.body["data"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["role"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = list(format!("sort={}", q(r#"[{"name":1}]"#))).await;
    assert_eq!(
        names(&r),
        ["admin", "auditor", "editor", "editor", "viewer"]
    );
    let r = list(format!("sort={}", q(r#"[{"role":-1},{"user_id":1}]"#))).await;
    assert_eq!(
        names(&r),
        ["viewer", "editor", "editor", "auditor", "admin"]
    );
    assert_eq!(r.body["data"]["roles"][1]["user_id"], a.to_string());
    let r = list(format!("filter={}", q(r#"[{"is_active":true}]"#))).await;
    assert_eq!(r.body["data"]["total"], 3);
    let r = list(format!(
        "filter={}&sort={}",
        q(&format!(r#"{{"user_id":"{b}"}}"#)),
        q(r#"{"name":1}"#)
    ))
    .await;
    assert_eq!(names(&r), ["auditor", "editor"]);
    let r = list("search_text=EDIT".into()).await;
    assert_eq!(names(&r), ["editor", "editor"]);
    let r = list(format!(
        "search_text=dit&filter={}&page=1&limit=1",
        q(r#"[{"is_active":false}]"#)
    ))
    .await;
    assert_eq!(r.body["data"]["total"], 1);
    assert_eq!(names(&r), ["editor"]);

    for bad in [
        format!("sort={}", q("[{")),
        format!("sort={}", q(r#"[{"password":1}]"#)),
        format!("sort={}", q(r#"[{"name":5}]"#)),
        format!("filter={}", q("nope")),
        format!("filter={}", q(r#"{"secret":true}"#)),
        format!("filter={}", q(r#"{"is_active":"maybe"}"#)),
        "page=0".into(),
        "limit=0".into(),
        "page=-1".into(),
        "limit=abc".into(),
        "limit=100000".into(),
    ] {
        let r = list(bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert_eq!(r.body["status"], "error");
        assert_eq!(r.body["status_code"], 400);
        assert!(r.body["message"].is_string());
    }
});

dual!(
    only_admins_and_a_deactivated_admin_role_stops_granting,
    |app| {
        let uid = app.create_user("tess", &[]).await;
        let t = app.token_of("tess").await;
        exact(
            &app.get(&p("/api/v1/roles"), &t).await,
            403,
            err(403, "Forbidden: admin role required"),
        );
        exact(
            &app.call("GET", &p("/api/v1/roles"), None, None).await,
            401,
            err(401, "Unauthorized"),
        );
        exact(
            &app.get(&p("/api/v1/roles"), "garbage").await,
            401,
            err(401, "Unauthorized"),
        );
        let rec = create(&app, uid, "admin", true).await;
        assert_eq!(app.get(&p("/api/v1/roles"), &t).await.status, 200);
        let auth_admin = app.get(&TestApp::at("auth-admin", "/auth/users"), &t).await;
        assert_eq!(auth_admin.status, 200);
        let id = rec["_id"].as_str().unwrap();
        app.call(
            "PATCH",
            &p(&format!("/api/v1/roles/{id}")),
            Some(&app.admin),
            Some(json!({"is_active": false})),
        )
        .await;
        assert_eq!(app.get(&p("/api/v1/roles"), &t).await.status, 403);
        let auth_admin = app.get(&TestApp::at("auth-admin", "/auth/users"), &t).await;
        assert_eq!(auth_admin.status, 403, "no longer an admin in auth-admin");
        let login = app
            .call(
                "POST",
                &TestApp::at("auth-admin", "/auth/login"),
                None,
                Some(json!({"username": "tess", "password": "password-123"})),
            )
            .await;
        assert_eq!(login.body["is_admin"], false);
    }
);
