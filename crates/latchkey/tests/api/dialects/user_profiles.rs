use serde_json::json;

use super::{bad_bodies, exact};
use crate::dual;
use crate::helpers::*;

fn p(path: &str) -> String {
    TestApp::at("user-profiles", path)
}

fn signup(name: &str) -> serde_json::Value {
    json!({
        "email": format!("{name}@example.com"),
        "user_name": name,
        "first_name": "John",
        "last_name": "Doe",
        "password": "secure_password",
    })
}

async fn jwt(app: &TestApp, name: &str) -> String {
    let r = app
        .call("POST", &p("/users"), None, Some(signup(name)))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["JWT"].as_str().unwrap().to_owned()
}

dual!(
    sign_up_returns_a_working_jwt_and_guards_privileged_roles,
    |app| {
        let r = app
            .call("POST", &p("/users"), None, Some(signup("john")))
            .await;
        assert_eq!(r.status, 201);
        assert_eq!(r.body.as_object().unwrap().len(), 1);
        let t = r.body["JWT"].as_str().unwrap();
        exact(
            &app.get(&p("/protected"), t).await,
            200,
            json!({"message": "Token is valid"}),
        );
        let me = app.get("/v1/me", t).await;
        assert_eq!(me.body["roles"], json!(["user"]));

        let mut moderator = signup("mod");
        moderator["role"] = json!("moderator");
        exact(
            &app.call("POST", &p("/users"), None, Some(moderator.clone()))
                .await,
            403,
            json!({"error": "Forbidden"}),
        );
        exact(
            &app.call("POST", &p("/users"), Some(t), Some(moderator.clone()))
                .await,
            403,
            json!({"error": "Forbidden"}),
        );
        exact(
            &app.call(
                "POST",
                &p("/users"),
                Some("forged"),
                Some(moderator.clone()),
            )
            .await,
            401,
            json!({"error": "Unauthorized: User authentication failed"}),
        );
        let r = app
            .call("POST", &p("/users"), Some(&app.admin), Some(moderator))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let mut admin = signup("admin2");
        admin["role"] = json!("admin");
        assert_eq!(
            app.call("POST", &p("/users"), Some(&app.admin), Some(admin))
                .await
                .status,
            201
        );

        // Conflicts are 409 "Invalid request body"; bad fields 400 "Incorrect field".
        exact(
            &app.call("POST", &p("/users"), None, Some(signup("JOHN")))
                .await,
            409,
            json!({"error": "Invalid request body"}),
        );
        let mut bad_role = signup("x1");
        bad_role["role"] = json!("superuser");
        for body in [
            bad_role,
            json!({"email": "a@example.com", "password": "secure_password"}),
            json!({"email": "not-an-email", "user_name": "x2", "password": "secure_password"}),
            json!({"email": "x3@example.com", "user_name": "x3", "password": "short"}),
            json!({"email": 5, "user_name": "x4", "password": "secure_password"}),
        ] {
            exact(
                &app.call("POST", &p("/users"), None, Some(body)).await,
                400,
                json!({"error": "Incorrect field"}),
            );
        }
        exact(
            &app.raw(
                "POST",
                &p("/users"),
                None,
                "application/json",
                b"{".to_vec(),
            )
            .await,
            409,
            json!({"error": "Invalid request body"}),
        );
        for (ct, body) in bad_bodies() {
            let r = app.raw("POST", &p("/users"), None, ct, body).await;
            assert!(r.status.is_client_error());
            assert!(r.body["error"].is_string(), "{}", r.text);
        }
        assert_eq!(app.user_count().await, 4);
    }
);

dual!(
    profiles_are_read_and_updated_by_their_owner_or_an_admin,
    |app| {
        let t = jwt(&app, "jane").await;
        let other = jwt(&app, "jill").await;
        let id = app.get("/v1/me", &t).await.body["id"].as_i64().unwrap();
        let r = app.get(&p(&format!("/users/{id}")), &t).await;
        exact(
            &r,
            200,
            json!({
                "id": id, "email": "jane@example.com", "user_name": "jane",
                "first_name": "John", "last_name": "Doe", "role": "user"
            }),
        );
        exact(
            &app.get(&p(&format!("/users/{id}")), &other).await,
            403,
            json!({"error": "Forbidden"}),
        );
        assert_eq!(
            app.get(&p(&format!("/users/{id}")), &app.admin)
                .await
                .status,
            200
        );
        exact(
            &app.get(&p("/users/999"), &app.admin).await,
            404,
            json!({"error": "User not found"}),
        );
        exact(
            &app.get(&p("/users/abc"), &app.admin).await,
            400,
            json!({"error": "Incorrect field"}),
        );
        exact(
            &app.call("GET", &p(&format!("/users/{id}")), None, None)
                .await,
            401,
            json!({"error": "Unauthorized: User authentication failed"}),
        );

        let r = app
        .call("PUT", &p(&format!("/users/update/{id}")), Some(&t), Some(json!({
            "email": "jane.doe@example.com", "user_name": "janed", "first_name": "Jane", "last_name": "Doe"
        })))
        .await;
        exact(&r, 200, json!({"id": id}));
        let r = app.get(&p(&format!("/users/{id}")), &t).await;
        assert_eq!(r.body["user_name"], "janed");
        assert_eq!(r.body["first_name"], "Jane");
        exact(
            &app.call(
                "PUT",
                &p(&format!("/users/update/{id}")),
                Some(&t),
                Some(json!({"user_name": "JILL"})),
            )
            .await,
            409,
            json!({"error": "Invalid request body"}),
        );
        exact(
            &app.call(
                "PUT",
                &p(&format!("/users/update/{id}")),
                Some(&t),
                Some(json!({"email": "nope"})),
            )
            .await,
            400,
            json!({"error": "Incorrect field"}),
        );
        exact(
            &app.call(
                "PUT",
                &p(&format!("/users/update/{id}")),
                Some(&other),
                Some(json!({"first_name": "x"})),
            )
            .await,
            403,
            json!({"error": "Forbidden"}),
        );
        exact(
            &app.call(
                "PUT",
                &p("/users/update/999"),
                Some(&app.admin),
                Some(json!({"first_name": "x"})),
            )
            .await,
            404,
            json!({"error": "User not found"}),
        );
    }
);

dual!(passwords_change_with_the_existing_one, |app| {
    let t = jwt(&app, "pwuser").await;
    let id = app.get("/v1/me", &t).await.body["id"].as_i64().unwrap();
    let url = p(&format!("/users/update_password/{id}"));
    exact(
        &app.call(
            "PUT",
            &url,
            Some(&t),
            Some(json!({"existing_password": "wrong_password", "password": "new_secure_password"})),
        )
        .await,
        400,
        json!({"error": "Invalid request: Old password is incorrect"}),
    );
    exact(
        &app.call(
            "PUT",
            &url,
            Some(&t),
            Some(json!({"existing_password": "secure_password", "password": "short"})),
        )
        .await,
        400,
        json!({"error": "Incorrect field"}),
    );
    exact(
        &app.call(
            "PUT",
            &url,
            None,
            Some(
                json!({"existing_password": "secure_password", "password": "new_secure_password"}),
            ),
        )
        .await,
        401,
        json!({"error": "Unauthorized: User authentication failed"}),
    );
    exact(
        &app.call(
            "PUT",
            &url,
            Some(&t),
            Some(
                json!({"existing_password": "secure_password", "password": "new_secure_password"}),
            ),
        )
        .await,
        200,
        json!({"message": "Password updated successfully"}),
    );
    let r = app
        .call(
            "POST",
            &p("/login"),
            None,
            Some(json!({"email": "pwuser@example.com", "password": "new_secure_password"})),
        )
        .await;
    assert_eq!(r.status, 200);
});

dual!(pagination_counts_and_refuses_bad_parameters, |app| {
    for n in 0..4 {
        jwt(&app, &format!("page{n}")).await;
    }
    let t = app.admin.clone();
    let r = app.get(&p("/users/pagination?page=1&per_page=2"), &t).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["page"], 1);
    assert_eq!(r.body["per_page"], 2);
    assert_eq!(r.body["total_users"], 5);
    let users = r.body["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    let keys: Vec<&String> = users[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["id", "email", "user_name", "first_name", "last_name"]
    );
    let r = app.get(&p("/users/pagination?page=3&per_page=2"), &t).await;
    assert_eq!(r.body["users"].as_array().unwrap().len(), 1);
    let r = app.get(&p("/users/pagination?page=9&per_page=2"), &t).await;
    assert_eq!(r.body["users"], json!([]));
    assert_eq!(r.body["total_users"], 5);
    let r = app.get(&p("/users/pagination"), &t).await;
    assert_eq!(r.body["per_page"], 10);
    for q in [
        "page=0",
        "per_page=0",
        "page=-1",
        "per_page=abc",
        "per_page=1000000",
        "page=1.5",
    ] {
        exact(
            &app.get(&p(&format!("/users/pagination?{q}")), &t).await,
            400,
            json!({"error": "wrong parameters page, per_page"}),
        );
    }
    let user = jwt(&app, "plainuser").await;
    assert_eq!(
        app.get(&p("/users/pagination"), &user).await.status,
        200,
        "any valid token may list"
    );
    assert_eq!(
        app.call("GET", &p("/users/pagination"), None, None)
            .await
            .status,
        401
    );
});

dual!(login_logout_and_the_token_check, |app| {
    jwt(&app, "logan").await;
    let r = app
        .call(
            "POST",
            &p("/login"),
            None,
            Some(json!({"email": "logan@example.com", "password": "secure_password"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_object().unwrap().len(), 2);
    let exp = r.body["expires_at"].as_str().unwrap();
    assert_eq!(exp.len(), 20, "{exp}");
    assert!(exp.ends_with('Z'));
    let t = r.body["access_token"].as_str().unwrap();
    exact(
        &app.call(
            "POST",
            &p("/login"),
            None,
            Some(json!({"email": "logan@example.com", "password": "wrong_password"})),
        )
        .await,
        401,
        json!({"error": "Invalid credentials"}),
    );
    exact(
        &app.call(
            "POST",
            &p("/login"),
            None,
            Some(json!({"email": "logan@example.com"})),
        )
        .await,
        400,
        json!({"error": "Incorrect field"}),
    );
    exact(
        &app.call("POST", &p("/logout"), Some(t), None).await,
        200,
        json!({"message": "Logout successful"}),
    );
    exact(
        &app.get(&p("/protected"), t).await,
        401,
        json!({"error": "Invalid or expired token"}),
    );
    exact(
        &app.call("POST", &p("/logout"), Some(t), None).await,
        401,
        json!({"error": "Invalid or expired token"}),
    );
    exact(
        &app.call("GET", &p("/protected"), None, None).await,
        401,
        json!({"error": "Invalid or expired token"}),
    );
    // Basic auth carries no bearer token.
    let basic = app
        .send(
            app.http
                .get(app.url(&p("/protected")))
                .basic_auth("logan", Some("secure_password")),
        )
        .await;
    exact(&basic, 401, json!({"error": "Invalid or expired token"}));
});
