//! Bad input: every rejection is a clear problem, never a 500, and changes nothing.

use serde_json::json;

use crate::dual;

dual!(malformed_bodies_are_problems_and_change_nothing, |app| {
    let before = app.user_count().await;
    let admin = app.admin.clone();
    let t = Some(admin.as_str());
    let json_ct = "application/json";
    // Malformed JSON.
    for body in [&b"{"[..], b"{\"username\": }", b"not json", b"", b"[1,2]"] {
        let r = app
            .raw("POST", "/v1/users", t, json_ct, body.to_vec())
            .await;
        assert!(
            matches!(r.status.as_u16(), 400 | 422),
            "{}: {}",
            String::from_utf8_lossy(body),
            r.text
        );
        assert_eq!(r.content_type(), "application/problem+json");
    }
    app.raw("POST", "/v1/auth/login", None, json_ct, b"{".to_vec())
        .await
        .assert_problem(400, "malformed-body");
    // Wrong content type.
    app.raw(
        "POST",
        "/v1/auth/login",
        None,
        "text/plain",
        br#"{"identifier":"admin","password":"x"}"#.to_vec(),
    )
    .await
    .assert_problem(415, "unsupported-media-type");
    app.raw(
        "POST",
        "/v1/users",
        t,
        "application/x-www-form-urlencoded",
        b"username=a".to_vec(),
    )
    .await
    .assert_problem(415, "unsupported-media-type");
    // Missing fields, wrong types, unknown fields.
    for body in [
        json!({"username": "a1", "password": "password-123"}),
        json!({"username": 5, "email": "a1@example.com", "password": "password-123"}),
        json!({"username": "a1", "email": "a1@example.com", "password": "password-123", "roles": "admin"}),
        json!({"username": "a1", "email": "a1@example.com", "password": "password-123", "is_admin": true}),
        json!({"username": "a1", "email": "a1@example.com", "password": null}),
    ] {
        app.call("POST", "/v1/users", t, Some(body))
            .await
            .assert_problem(422, "invalid-field");
    }
    // Huge bodies.
    let huge = format!(
        r#"{{"username":"a","email":"a@example.com","password":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    app.raw("POST", "/v1/users", t, json_ct, huge.into_bytes())
        .await
        .assert_problem(413, "payload-too-large");
    let huge_login = format!(
        r#"{{"identifier":"admin","password":"{}"}}"#,
        "x".repeat(100 * 1024)
    );
    app.raw(
        "POST",
        "/v1/auth/login",
        None,
        json_ct,
        huge_login.into_bytes(),
    )
    .await
    .assert_problem(413, "payload-too-large");
    // Odd unicode: accepted where legal, refused where not, never a 500.
    for (name, ok) in [
        ("名前", true),
        ("emoji😀", true),
        ("zero\u{200b}width", true),
        ("nul\u{0000}byte", false),
        ("tab\tname", false),
        ("a@b", false),
    ] {
        let r = app
            .call("POST", "/v1/users", t, Some(json!({"username": name, "email": format!("u{}@example.com", name.len()), "password": "password-123"})))
            .await;
        if ok {
            assert_eq!(r.status, 201, "{name}: {}", r.text);
        } else {
            r.assert_problem(422, "invalid-field");
        }
    }
    assert_eq!(app.user_count().await, before + 3);
    // Lone surrogates in JSON are rejected by the parser.
    app.raw(
        "POST",
        "/v1/auth/login",
        None,
        json_ct,
        br#"{"identifier":"\ud800","password":"password-123"}"#.to_vec(),
    )
    .await
    .assert_problem(400, "malformed-body");
});

dual!(bad_ids_are_problems, |app| {
    let t = app.admin.clone();
    for path in [
        "/v1/users/abc",
        "/v1/users/1.5",
        "/v1/users/99999999999999999999",
        "/v1/roles/x",
        "/v1/organizations/-",
    ] {
        app.get(path, &t)
            .await
            .assert_problem(400, "invalid-parameter");
    }
    for path in [
        "/v1/users/424242",
        "/v1/roles/424242",
        "/v1/organizations/424242",
        "/v1/role-assignments/424242",
    ] {
        app.get(path, &t).await.assert_problem(404, "not-found");
    }
    app.call(
        "PATCH",
        "/v1/users/424242",
        Some(&t),
        Some(json!({"first_name": "x"})),
    )
    .await
    .assert_problem(404, "not-found");
    app.call("DELETE", "/v1/users/424242", Some(&t), None)
        .await
        .assert_problem(404, "not-found");
});
