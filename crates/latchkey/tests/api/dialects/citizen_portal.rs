use serde_json::json;

use super::{bad_bodies, exact};
use crate::dual;
use crate::helpers::*;

fn p(path: &str) -> String {
    TestApp::at("citizen-portal", path)
}

fn nest(status: u16, message: &str, error: &str) -> serde_json::Value {
    json!({"statusCode": status, "message": message, "error": error})
}

fn citizen(username: &str) -> serde_json::Value {
    json!({
        "email": format!("{username}@example.com"),
        "username": username,
        "password": "password-123",
        "firstName": "Juan",
        "middleName": "Santos",
        "lastName": "Dela Cruz",
        "nameExtension": "Jr.",
        "contactNumber": "+63 912 345 6789"
    })
}

async fn register(app: &TestApp, username: &str) -> (String, i64) {
    let r = app
        .call("POST", &p("/auth/register"), None, Some(citizen(username)))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (
        r.body["access_token"].as_str().unwrap().to_owned(),
        r.body["user"]["id"].as_i64().unwrap(),
    )
}

dual!(register_and_login_answer_token_and_user, |app| {
    let r = app
        .call("POST", &p("/auth/register"), None, Some(citizen("juan")))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let user = &r.body["user"];
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "email",
            "username",
            "firstName",
            "lastName",
            "name",
            "roles",
            "defaultRole"
        ]
    );
    assert!(user["id"].is_i64());
    assert_eq!(user["name"], "Juan Santos Dela Cruz Jr.");
    assert_eq!(user["roles"], json!(["citizen"]));
    assert_eq!(user["defaultRole"], "citizen");
    let minimal = json!({"email": "ana@example.com", "username": "ana", "password": "password-123", "firstName": "Ana", "lastName": "Reyes"});
    let r = app
        .call("POST", &p("/auth/register"), None, Some(minimal))
        .await;
    assert_eq!(r.body["user"]["name"], "Ana Reyes");

    let r = app
        .call(
            "POST",
            &p("/auth/login"),
            None,
            Some(json!({"emailOrUsername": "JUAN@example.com", "password": "password-123"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["user"]["username"], "juan");
    let r = app
        .call(
            "POST",
            &p("/auth/login"),
            None,
            Some(json!({"emailOrUsername": "juan", "password": "password-123"})),
        )
        .await;
    assert_eq!(r.status, 200);
    exact(
        &app.call(
            "POST",
            &p("/auth/login"),
            None,
            Some(json!({"emailOrUsername": "juan", "password": "wrong-password"})),
        )
        .await,
        401,
        nest(401, "Invalid credentials", "Unauthorized"),
    );

    let mut bad = citizen("pedro");
    bad["email"] = json!("not-an-email");
    exact(
        &app.call("POST", &p("/auth/register"), None, Some(bad))
            .await,
        400,
        nest(400, "Invalid email format", "Bad Request"),
    );
    let mut short = citizen("pedro");
    short["password"] = json!("short");
    exact(
        &app.call("POST", &p("/auth/register"), None, Some(short))
            .await,
        400,
        nest(
            400,
            "Password must be at least 8 characters long",
            "Bad Request",
        ),
    );
    let mut taken = citizen("juan2");
    taken["email"] = json!("juan@example.com");
    exact(
        &app.call("POST", &p("/auth/register"), None, Some(taken))
            .await,
        409,
        nest(409, "Email already exists", "Conflict"),
    );
    let mut taken = citizen("JUAN");
    taken["email"] = json!("other@example.com");
    exact(
        &app.call("POST", &p("/auth/register"), None, Some(taken))
            .await,
        409,
        nest(409, "Username already exists", "Conflict"),
    );
    let r = app
        .call(
            "POST",
            &p("/auth/register"),
            None,
            Some(json!({"email": "x@example.com", "username": "x", "password": "password-123"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "Bad Request");
    // Public sign-up cannot choose roles: extra fields are ignored.
    let mut sneaky = citizen("sneaky");
    sneaky["roleIds"] = json!([1]);
    let r = app
        .call("POST", &p("/auth/register"), None, Some(sneaky))
        .await;
    assert_eq!(r.body["user"]["roles"], json!(["citizen"]));
    for (ct, body) in bad_bodies() {
        let r = app.raw("POST", &p("/auth/register"), None, ct, body).await;
        assert!(r.status.is_client_error());
        assert!(r.body["statusCode"].is_u64(), "{}", r.text);
    }
    assert_eq!(app.user_count().await, 4);
});

dual!(profile_and_self_update, |app| {
    let (t, id) = register(&app, "maria").await;
    let r = app.get(&p("/auth/profile"), &t).await;
    assert_eq!(r.status, 200);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "email",
            "username",
            "firstName",
            "middleName",
            "lastName",
            "nameExtension",
            "contactNumber",
            "name",
            "roles",
            "defaultRole"
        ]
    );
    assert_eq!(r.body["id"], id);
    assert_eq!(r.body["contactNumber"], "+63 912 345 6789");
    exact(
        &app.call("GET", &p("/auth/profile"), None, None).await,
        401,
        nest(401, "Unauthorized", "Unauthorized"),
    );

    let other = app.login_ok("maria", "password-123").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .call("POST", &p("/auth/update-profile"), Some(&t), Some(json!({"firstName": "Maria", "middleName": "", "address": "Manila", "password": "new-password-1"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["firstName"], "Maria");
    assert!(r.body["middleName"].is_null());
    assert_eq!(r.body["name"], "Maria Dela Cruz Jr.");
    assert_eq!(
        app.get(&p("/auth/profile"), &t).await.status,
        200,
        "the caller's session stays"
    );
    assert_eq!(
        app.get(&p("/auth/profile"), &other).await.status,
        401,
        "other sessions end on a password change"
    );
    app.login_ok("maria", "new-password-1").await;
    let r = app
        .call(
            "POST",
            &p("/auth/update-profile"),
            Some(&t),
            Some(json!({"roleIds": [1], "defaultRoleId": 1})),
        )
        .await;
    assert_eq!(
        r.body["roles"],
        json!(["citizen"]),
        "role fields are not this endpoint's"
    );
    exact(
        &app.call(
            "POST",
            &p("/auth/update-profile"),
            Some(&t),
            Some(json!({"email": "bad"})),
        )
        .await,
        400,
        nest(400, "Invalid email format", "Bad Request"),
    );
    exact(
        &app.call(
            "POST",
            &p("/auth/update-profile"),
            Some(&t),
            Some(json!({"password": "short"})),
        )
        .await,
        400,
        nest(
            400,
            "Password must be at least 8 characters long",
            "Bad Request",
        ),
    );
    register(&app, "jose").await;
    exact(
        &app.call(
            "POST",
            &p("/auth/update-profile"),
            Some(&t),
            Some(json!({"username": "JOSE"})),
        )
        .await,
        409,
        nest(409, "Username already exists", "Conflict"),
    );
});

dual!(admin_update_sets_roles_by_id_and_default_role, |app| {
    let (t, id) = register(&app, "lito").await;
    let roles = app.get("/v1/roles", &app.admin).await;
    let role_id = |name: &str| {
        roles
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    // citizen-portal's ids are its origin's (super_admin 1, admin 2, staff 3, citizen 4);
    // any other role has its native id plus 4.
    let (citizen_id, sa_id, pi_id) = (4, 1, role_id("pi") + 4);
    let url = p(&format!("/auth/admin/update-user/{id}"));

    exact(
        &app.call("POST", &url, Some(&t), Some(json!({"firstName": "X"})))
            .await,
        403,
        nest(403, "Forbidden resource", "Forbidden"),
    );
    let r = app
        .call(
            "POST",
            &url,
            Some(&app.admin),
            Some(
                json!({"lastName": "Lim", "roleIds": [citizen_id, sa_id], "defaultRoleId": sa_id}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["roles"], json!(["citizen", "super_admin"]));
    assert_eq!(r.body["defaultRole"], "super_admin");
    assert_eq!(r.body["lastName"], "Lim");
    // super_admin administers users here (but not in the native API).
    let (_, other) = register(&app, "nena").await;
    let r = app
        .call(
            "POST",
            &p(&format!("/auth/admin/update-user/{other}")),
            Some(&t),
            Some(json!({"roleIds": [pi_id]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["roles"], json!(["pi"]));
    assert_eq!(
        r.body["defaultRole"], "pi",
        "the default falls back to a role the user holds"
    );
    assert_eq!(app.get("/v1/users", &t).await.status, 403);

    let r = app
        .call(
            "POST",
            &url,
            Some(&app.admin),
            Some(json!({"roleIds": [999999]})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"], "Bad Request");
    let r = app
        .call(
            "POST",
            &url,
            Some(&app.admin),
            Some(json!({"defaultRoleId": 999999})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = app
        .call(
            "POST",
            &url,
            Some(&app.admin),
            Some(json!({"roleIds": ["x"]})),
        )
        .await;
    assert_eq!(r.status, 400);
    let profile = app.get(&p("/auth/profile"), &t).await;
    assert_eq!(
        profile.body["roles"],
        json!(["citizen", "super_admin"]),
        "failed updates changed nothing"
    );
    exact(
        &app.call(
            "POST",
            &p("/auth/admin/update-user/abc"),
            Some(&app.admin),
            Some(json!({})),
        )
        .await,
        400,
        nest(
            400,
            "Validation failed (numeric string is expected)",
            "Bad Request",
        ),
    );
    exact(
        &app.call(
            "POST",
            &p("/auth/admin/update-user/999999"),
            Some(&app.admin),
            Some(json!({})),
        )
        .await,
        404,
        nest(404, "User not found", "Not Found"),
    );
    // A password set by an admin ends the user's sessions.
    let r = app
        .call(
            "POST",
            &url,
            Some(&app.admin),
            Some(json!({"password": "admin-set-pass"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(app.get(&p("/auth/profile"), &t).await.status, 401);
});
