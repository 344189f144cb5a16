use serde_json::json;

use super::{bad_bodies, exact};
use crate::dual;
use crate::helpers::*;

fn p(path: &str) -> String {
    TestApp::at("auth-admin", path)
}

async fn login(app: &TestApp, user: &str, pw: &str) -> String {
    let r = app
        .call(
            "POST",
            &p("/auth/login"),
            None,
            Some(json!({"username": user, "password": pw})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["token"].as_str().unwrap().to_owned()
}

dual!(login_answers_token_roles_and_is_admin, |app| {
    let r = app
        .call(
            "POST",
            &p("/auth/login"),
            None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["token"].is_string());
    assert_eq!(r.body["roles"], json!(["admin"]));
    assert_eq!(r.body["is_admin"], true);
    assert_eq!(r.body.as_object().unwrap().len(), 3);
    exact(
        &app.call(
            "POST",
            &p("/auth/login"),
            None,
            Some(json!({"username": "admin", "password": "nope-nope"})),
        )
        .await,
        401,
        json!({"message": "invalid credentials"}),
    );
    for body in [
        json!({"username": "admin"}),
        json!({"password": "x"}),
        json!({}),
        json!({"username": "", "password": ""}),
    ] {
        exact(
            &app.call("POST", &p("/auth/login"), None, Some(body)).await,
            400,
            json!({"message": "username and password reqiuired"}),
        );
    }
    for (ct, body) in bad_bodies() {
        let r = app.raw("POST", &p("/auth/login"), None, ct, body).await;
        assert!(r.status.is_client_error(), "{}", r.text);
        assert!(r.body["message"].is_string(), "{}", r.text);
    }
});

dual!(create_user_is_for_admins_and_checks_its_input, |app| {
    let t = login(&app, "admin", ADMIN_PASSWORD).await;
    let r = app
        .call("POST", &p("/auth/create_user"), Some(&t), Some(json!({
            "username": "new_user", "password": "new_password", "is_admin": false, "roles": ["staff"]
        })))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["message"], "user created successfully");
    assert!(r.body["user_id"].is_i64());
    assert_eq!(r.body["roles"], json!(["staff"]));
    let r = app
        .call(
            "POST",
            &p("/auth/create_user"),
            Some(&t),
            Some(json!({
                "username": "boss", "password": "boss-password", "is_admin": true, "roles": []
            })),
        )
        .await;
    assert_eq!(r.body["roles"], json!(["admin"]));
    exact(
        &app.call(
            "POST",
            &p("/auth/create_user"),
            Some(&t),
            Some(json!({"username": "NEW_USER", "password": "new_password"})),
        )
        .await,
        409,
        json!({"message": "username already exists"}),
    );
    exact(
        &app.call(
            "POST",
            &p("/auth/create_user"),
            Some(&t),
            Some(json!({"username": "x"})),
        )
        .await,
        400,
        json!({"message": " username and password required"}),
    );
    let r = app
        .call(
            "POST",
            &p("/auth/create_user"),
            Some(&t),
            Some(json!({"username": "shorty", "password": "short"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["message"].as_str().unwrap().contains("at least 8"));
    let staff = login(&app, "new_user", "new_password").await;
    exact(
        &app.call(
            "POST",
            &p("/auth/create_user"),
            Some(&staff),
            Some(json!({"username": "y", "password": "password-1"})),
        )
        .await,
        403,
        json!({"message": "only admins can create a new user"}),
    );
    let r = app
        .call(
            "POST",
            &p("/auth/create_user"),
            None,
            Some(json!({"username": "y", "password": "password-1"})),
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(r.body["message"].is_string());
    assert_eq!(app.user_count().await, 3);
});

dual!(users_are_listed_read_and_deleted_by_admins, |app| {
    let t = login(&app, "admin", ADMIN_PASSWORD).await;
    let id = app.create_user("staffer", &["staff"]).await;
    let staff = login(&app, "staffer", "password-123").await;
    let r = app.get(&p("/auth/users"), &t).await;
    assert_eq!(r.status, 200);
    let users = r.body["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    let u = &users[1];
    assert_eq!(u["id"], id);
    assert_eq!(u["username"], "staffer");
    assert!(u["created_at"].is_string());
    assert_eq!(u["is_admin"], false);
    assert_eq!(u["roles"], json!(["staff"]));
    assert_eq!(u.as_object().unwrap().len(), 5);
    exact(
        &app.get(&p("/auth/users"), &staff).await,
        403,
        json!({"message": "unauthorized - only admins can view user records"}),
    );

    let r = app.get(&p(&format!("/auth/user/{id}")), &t).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["user"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["user"][0]["username"], "staffer");
    exact(
        &app.get(&p("/auth/user/999"), &t).await,
        404,
        json!({"message": "User not found"}),
    );
    exact(
        &app.get(&p("/auth/user/abc"), &t).await,
        404,
        json!({"message": "User not found"}),
    );
    exact(
        &app.get(&p("/auth/user/1"), &staff).await,
        403,
        json!({"message": "Unauthorized - only admins can view user details"}),
    );

    exact(
        &app.call("DELETE", &p("/auth/user/1"), Some(&t), None).await,
        400,
        json!({"message": "cannot delete your own account"}),
    );
    exact(
        &app.call("DELETE", &p("/auth/user/1"), Some(&staff), None)
            .await,
        403,
        json!({"message": "unauthorized- only admins can delete users"}),
    );
    exact(
        &app.call("DELETE", &p("/auth/user/999"), Some(&t), None)
            .await,
        404,
        json!({"message": "User not found"}),
    );
    exact(
        &app.call("DELETE", &p(&format!("/auth/user/{id}")), Some(&t), None)
            .await,
        200,
        json!({"message": "user deleted sucessfully"}),
    );
    // The deleted user's token is dead at once.
    assert_eq!(app.get(&p("/auth/users"), &staff).await.status, 401);
    assert_eq!(app.user_count().await, 1);
});

dual!(
    roles_are_replaced_and_is_admin_follows_the_admin_role,
    |app| {
        let t = login(&app, "admin", ADMIN_PASSWORD).await;
        let id = app.create_user("promo", &["staff"]).await;
        let r = app
            .call(
                "PUT",
                &p(&format!("/auth/user/{id}/roles")),
                Some(&t),
                Some(json!({"roles": ["ADMIN", "staff", "super_user"]})),
            )
            .await;
        exact(
            &r,
            200,
            json!({"message": "user roles updated successfully", "roles": ["admin", "staff", "super_user"]}),
        );
        let promo = login(&app, "promo", "password-123").await;
        assert_eq!(app.get(&p("/auth/users"), &promo).await.status, 200);
        let r = app
            .call(
                "PUT",
                &p(&format!("/auth/user/{id}/roles")),
                Some(&t),
                Some(json!({"roles": ["staff"]})),
            )
            .await;
        assert_eq!(r.body["roles"], json!(["staff"]));
        assert_eq!(
            app.get(&p("/auth/users"), &promo).await.status,
            403,
            "the removed role stops granting at once"
        );
        for body in [json!({}), json!({"roles": []}), json!({"roles": null})] {
            exact(
                &app.call(
                    "PUT",
                    &p(&format!("/auth/user/{id}/roles")),
                    Some(&t),
                    Some(body),
                )
                .await,
                400,
                json!({"message": "roles are required"}),
            );
        }
        exact(
            &app.call(
                "PUT",
                &p("/auth/user/999/roles"),
                Some(&t),
                Some(json!({"roles": ["x"]})),
            )
            .await,
            404,
            json!({"message": "user not found"}),
        );
        exact(
            &app.call(
                "PUT",
                &p("/auth/user/1/roles"),
                Some(&promo),
                Some(json!({"roles": ["admin"]})),
            )
            .await,
            403,
            json!({"message": "unauthorized - only admins can update user roles"}),
        );
        let r = app
            .call(
                "PUT",
                &p(&format!("/auth/user/{id}/roles")),
                Some(&t),
                Some(json!({"roles": ["bad role"]})),
            )
            .await;
        assert_eq!(r.status, 400);
    }
);

dual!(logout_refuses_the_token_everywhere, |app| {
    let t = login(&app, "admin", ADMIN_PASSWORD).await;
    exact(
        &app.call("POST", &p("/auth/logout"), Some(&t), None).await,
        200,
        json!({"message": "succesfully logged out"}),
    );
    assert_eq!(app.get(&p("/auth/users"), &t).await.status, 401);
    assert_eq!(app.get("/v1/me", &t).await.status, 401);
    assert_eq!(
        app.call("POST", &p("/auth/logout"), Some(&t), None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.call("POST", &p("/auth/logout"), None, None)
            .await
            .status,
        401
    );
});
