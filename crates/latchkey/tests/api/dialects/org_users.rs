use serde_json::json;

use super::{bad_bodies, exact};
use crate::dual;
use crate::helpers::*;

fn p(path: &str) -> String {
    TestApp::at("org-users", path)
}

fn nest(status: u16, message: serde_json::Value, error: &str) -> serde_json::Value {
    json!({"statusCode": status, "message": message, "error": error})
}

async fn token(app: &TestApp, user: &str, pw: &str) -> String {
    let r = app
        .call(
            "POST",
            &p("/users/login"),
            None,
            Some(json!({"username": user, "password": pw})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["token"].as_str().unwrap().to_owned()
}

fn person(username: &str, role: &str) -> serde_json::Value {
    json!({"name": "Grace Hopper", "email": format!("{username}@example.com"), "username": username, "password": "password-123", "role": role})
}

dual!(login_by_username_or_email_and_logout, |app| {
    let r = app
        .call(
            "POST",
            &p("/users/login"),
            None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body.as_object().unwrap().len(), 1);
    let t = token(&app, "admin@example.com", ADMIN_PASSWORD).await;
    exact(
        &app.call(
            "POST",
            &p("/users/login"),
            None,
            Some(json!({"username": "admin", "password": "wrong-password"})),
        )
        .await,
        401,
        nest(401, json!("Invalid credentials"), "Unauthorized"),
    );
    let r = app
        .call(
            "POST",
            &p("/users/login"),
            None,
            Some(json!({"username": "admin"})),
        )
        .await;
    exact(
        &r,
        400,
        nest(400, json!(["password should not be empty"]), "Bad Request"),
    );
    exact(
        &app.call("POST", &p("/users/logout"), Some(&t), None).await,
        200,
        json!({"message": "Logout successful"}),
    );
    exact(
        &app.get(&p("/users"), &t).await,
        401,
        nest(401, json!("Token has been revoked"), "Unauthorized"),
    );
    exact(
        &app.call("GET", &p("/users"), None, None).await,
        401,
        nest(401, json!("Unauthorized"), "Unauthorized"),
    );
    for (ct, body) in bad_bodies() {
        let r = app.raw("POST", &p("/users/login"), None, ct, body).await;
        assert!(r.status.is_client_error());
        assert!(r.body["statusCode"].is_u64(), "{}", r.text);
        assert!(r.body["error"].is_string());
    }
});

dual!(register_is_for_admins_and_pis_with_412s, |app| {
    let admin = token(&app, "admin", ADMIN_PASSWORD).await;
    let r = app
        .call(
            "POST",
            &p("/users/register"),
            Some(&admin),
            Some(person("gracehopper", "PI")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["id", "name", "email", "username", "roles", "organization"]
    );
    assert!(uuid::Uuid::parse_str(r.body["id"].as_str().unwrap()).is_ok());
    assert_eq!(r.body["name"], "Grace Hopper");
    assert_eq!(r.body["roles"], json!(["pi"]));
    assert!(r.body["organization"].is_null());
    assert!(r.body.get("password").is_none());

    // A PI may register users, but not administrators.
    let pi = token(&app, "gracehopper", "password-123").await;
    assert_eq!(
        app.call(
            "POST",
            &p("/users/register"),
            Some(&pi),
            Some(person("adalovelace", "user"))
        )
        .await
        .status,
        201
    );
    exact(
        &app.call(
            "POST",
            &p("/users/register"),
            Some(&pi),
            Some(person("mallory1", "admin")),
        )
        .await,
        403,
        nest(403, json!("Forbidden resource"), "Forbidden"),
    );
    let plain = token(&app, "adalovelace", "password-123").await;
    exact(
        &app.call(
            "POST",
            &p("/users/register"),
            Some(&plain),
            Some(person("someone1", "user")),
        )
        .await,
        403,
        nest(403, json!("Forbidden resource"), "Forbidden"),
    );
    let pre = |m: &str| nest(412, json!(m), "Precondition Failed");
    exact(
        &app.call(
            "POST",
            &p("/users/register"),
            Some(&admin),
            Some(person("GRACEHOPPER", "user")),
        )
        .await,
        412,
        pre("Username or email already exists"),
    );
    let mut short_pw = person("shortpassword", "user");
    short_pw["password"] = json!("short");
    exact(
        &app.call("POST", &p("/users/register"), Some(&admin), Some(short_pw))
            .await,
        412,
        pre("Password must be at least 8 characters long"),
    );
    exact(
        &app.call(
            "POST",
            &p("/users/register"),
            Some(&admin),
            Some(person("short", "user")),
        )
        .await,
        412,
        pre("Username must be at least 8 characters long"),
    );
    let r = app
        .call(
            "POST",
            &p("/users/register"),
            Some(&admin),
            Some(person("unknownrole", "wizard")),
        )
        .await;
    assert_eq!(r.status, 412);
    let m = r.body["message"].as_str().unwrap();
    assert!(m.starts_with("Invalid role. Valid roles are: "), "{m}");
    assert!(
        m.contains("admin") && m.contains("pi") && m.contains("citizen"),
        "{m}"
    );
    assert!(
        !app.get("/v1/roles", &app.admin)
            .await
            .text
            .contains("wizard"),
        "org-users never creates roles"
    );
    let mut bad_email = person("bademail1", "user");
    bad_email["email"] = json!("nope");
    exact(
        &app.call("POST", &p("/users/register"), Some(&admin), Some(bad_email))
            .await,
        400,
        nest(400, json!(["email must be an email"]), "Bad Request"),
    );
    let r = app
        .call(
            "POST",
            &p("/users/register"),
            Some(&admin),
            Some(json!({"email": "x@example.com"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        json!([
            "name should not be empty",
            "username should not be empty",
            "password should not be empty",
            "role should not be empty"
        ])
    );
    assert_eq!(app.user_count().await, 3);
});

dual!(users_are_listed_found_and_deleted, |app| {
    let admin = token(&app, "admin", ADMIN_PASSWORD).await;
    app.call(
        "POST",
        &p("/users/register"),
        Some(&admin),
        Some(person("engineer1", "user")),
    )
    .await;
    // Organizations come from the native API; org-users shows them.
    let org = app
        .call(
            "POST",
            "/v1/organizations",
            Some(&app.admin),
            Some(json!({"name": "Navy"})),
        )
        .await;
    let org_id = org.body["id"].as_i64().unwrap();
    let org_uuid = org.body["uuid"].as_str().unwrap().to_owned();
    let uid = app
        .call("GET", "/v1/users?q=engineer1", Some(&app.admin), None)
        .await
        .body["items"][0]["id"]
        .as_i64()
        .unwrap();
    app.call(
        "PUT",
        &format!("/v1/organizations/{org_id}/members/{uid}"),
        Some(&app.admin),
        None,
    )
    .await;

    let user = token(&app, "engineer1", "password-123").await;
    for path in ["/users", "/users/"] {
        let r = app.get(&p(path), &user).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body.as_array().unwrap().len(), 2);
    }
    let r = app.get(&p("/users/engineer1"), &user).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["organization"],
        json!({"id": org_uuid, "name": "Navy"})
    );
    let by_email = app.get(&p("/users/ENGINEER1@example.com"), &user).await;
    assert_eq!(by_email.body["id"], r.body["id"]);
    exact(
        &app.get(&p("/users/nobody"), &user).await,
        404,
        nest(404, json!("User not found"), "Not Found"),
    );

    exact(
        &app.call("DELETE", &p("/users/"), Some(&user), None).await,
        403,
        nest(403, json!("Forbidden resource"), "Forbidden"),
    );
    let r = app.call("DELETE", &p("/users/"), Some(&admin), None).await;
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    assert_eq!(app.user_count().await, 1, "every user but the caller");
    assert_eq!(
        app.get(&p("/users"), &user).await.status,
        401,
        "deleted users' tokens die"
    );
    assert_eq!(app.get(&p("/users"), &admin).await.status, 200);
});
