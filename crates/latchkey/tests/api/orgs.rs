//! Organizations and membership.

use serde_json::json;

use crate::dual;

dual!(organizations_crud_and_membership, |app| {
    let c = app
        .call(
            "POST",
            "/v1/organizations",
            Some(&app.admin),
            Some(json!({"name": "Acme", "description": "rockets"})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    let oid = c.body["id"].as_i64().unwrap();
    assert_eq!(c.body["member_count"], 0);
    app.call(
        "POST",
        "/v1/organizations",
        Some(&app.admin),
        Some(json!({"name": "ACME"})),
    )
    .await
    .assert_problem(409, "conflict");
    app.call(
        "POST",
        "/v1/organizations",
        Some(&app.admin),
        Some(json!({"name": ""})),
    )
    .await
    .assert_problem(422, "invalid-field");
    let uid = app.create_user("quinn", &[]).await;
    let m = app
        .call(
            "PUT",
            &format!("/v1/organizations/{oid}/members/{uid}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(m.status, 200, "{}", m.text);
    assert_eq!(m.body["organization"]["name"], "Acme");
    assert_eq!(m.body["organization"]["id"], oid);
    let members = app
        .get(&format!("/v1/organizations/{oid}/members"), &app.admin)
        .await;
    assert_eq!(members.body["total"], 1);
    let g = app
        .get(&format!("/v1/organizations/{oid}"), &app.admin)
        .await;
    assert_eq!(g.body["member_count"], 1);
    let filtered = app
        .get(&format!("/v1/users?organization_id={oid}"), &app.admin)
        .await;
    assert_eq!(filtered.body["items"][0]["username"], "quinn");
    let u = app
        .call(
            "PATCH",
            &format!("/v1/organizations/{oid}"),
            Some(&app.admin),
            Some(json!({"name": "Acme Corp"})),
        )
        .await;
    assert_eq!(u.body["name"], "Acme Corp");
    assert_eq!(u.body["description"], "rockets");
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/v1/organizations/{oid}/members/{uid}"),
            Some(&app.admin),
            None
        )
        .await
        .status,
        204
    );
    app.call(
        "DELETE",
        &format!("/v1/organizations/{oid}/members/{uid}"),
        Some(&app.admin),
        None,
    )
    .await
    .assert_problem(404, "not-found");
    app.call(
        "PUT",
        &format!("/v1/organizations/999/members/{uid}"),
        Some(&app.admin),
        None,
    )
    .await
    .assert_problem(404, "not-found");
    // Deleting an organization keeps its members.
    app.call(
        "PUT",
        &format!("/v1/organizations/{oid}/members/{uid}"),
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/v1/organizations/{oid}"),
            Some(&app.admin),
            None
        )
        .await
        .status,
        204
    );
    let user = app.get(&format!("/v1/users/{uid}"), &app.admin).await;
    assert!(user.body["organization"].is_null());
    let l = app.get("/v1/organizations", &app.admin).await;
    assert_eq!(l.body["total"], 0);
    let t = app.token_of("quinn").await;
    app.get("/v1/organizations", &t)
        .await
        .assert_problem(403, "forbidden");
});
