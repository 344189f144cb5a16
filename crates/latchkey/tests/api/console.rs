//! The admin console (`/console`) and the account page's own sections, driven like a
//! browser without script: every route's status and headers, the sign-in redirect and the
//! 403 for non-admins, CSRF refusals that change nothing, and each action checked through
//! the API afterwards (what it says it changed, and nothing when it refuses).

use crate::dual;
use crate::helpers::*;
use crate::oidc::{action, hidden, location, Browser};

/// Every console page, with the id of a user for the user page.
fn pages(uid: i64) -> Vec<String> {
    [
        "/console",
        "/console/users",
        "/console/roles",
        "/console/organizations",
        "/console/applications",
        "/console/audit",
        "/console/keys",
        "/console/settings",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .chain([format!("/console/users/{uid}")])
    .collect()
}

/// A browser signed in as `who` through the hosted sign-in page, starting at `start` (a
/// console or account URL) and following the redirect back; the page it lands on.
pub async fn signed_in(app: &TestApp, who: &str, password: &str, start: &str) -> (Browser, Reply) {
    let mut b = Browser::new(app);
    let r = b.get(app, &app.url(start)).await;
    assert_eq!(r.status, 303, "{start}: {}", r.text);
    let login = location(&r);
    assert!(login.contains("/login?return="), "{login}");
    let page = b.get(app, &login).await;
    let form = [
        ("csrf", hidden(&page.text, "csrf")),
        ("request", hidden(&page.text, "request")),
        ("identifier", who.to_owned()),
        ("password", password.to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = b.post(app, &action(&page.text), &form).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(location(&r), app.url(start), "back where the sign-in began");
    let landed = b.get(app, &app.url(start)).await;
    (b, landed)
}

/// Posts one console action with the page's CSRF token.
async fn act(
    app: &TestApp,
    b: &mut Browser,
    page: &Reply,
    to: &str,
    fields: &[(&str, &str)],
) -> Reply {
    let csrf = hidden(&page.text, "csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    b.post(app, &app.url(to), &form).await
}

fn assert_page(r: &Reply, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.text);
    assert_eq!(r.content_type(), "text/html; charset=utf-8", "{what}");
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{what}: {csp}"
    );
    assert_eq!(r.headers["cache-control"], "no-store", "{what}");
}

dual!(console_routes_need_an_admin_session, |app| {
    let uid = app.create_user("plain", &[]).await;
    let mut anon = Browser::new(&app);
    for p in pages(uid) {
        let r = anon.get(&app, &app.url(&p)).await;
        assert_eq!(r.status, 303, "{p}");
        let to = location(&r);
        let back = serde_urlencoded::to_string([("return", p.as_str())]).unwrap();
        assert_eq!(to, format!("{}?{back}", app.url("/login")), "{p}");
        // A post without a session changes nothing either: to the sign-in page.
        if !p.ends_with("/audit") && !p.ends_with("/settings") {
            let r = anon.post(&app, &app.url(&p), &[("action", "delete")]).await;
            assert_eq!(r.status, 303, "POST {p}");
        }
    }
    // A signed-in user without `admin`: 403 on every page, and on every post.
    let (mut b, landed) = signed_in(&app, "plain", "password-123", "/account").await;
    assert_eq!(landed.status, 200);
    for p in pages(uid) {
        let r = b.get(&app, &app.url(&p)).await;
        assert_eq!(r.status, 403, "{p}: {}", r.text);
        assert!(r.text.contains("The console is for administrators"), "{p}");
        if !p.ends_with("/audit") && !p.ends_with("/settings") {
            let r = act(&app, &mut b, &landed, &p, &[("action", "disable")]).await;
            assert_eq!(r.status, 403, "POST {p}");
        }
    }
    let u = app.get(&format!("/v1/users/{uid}"), &app.admin).await;
    assert_eq!(u.body["is_active"], true);
});

dual!(every_console_page_renders_for_the_admin, |app| {
    let (mut b, landed) = signed_in(&app, "admin", ADMIN_PASSWORD, "/console/users?q=adm").await;
    assert_page(&landed, "search");
    assert!(landed
        .text
        .contains("<label for=\"q\">Search users</label>"));
    assert!(
        landed.text.contains("href=\"/console/users/1\">admin</a>"),
        "{}",
        landed.text
    );
    for p in pages(1) {
        let r = b.get(&app, &app.url(&p)).await;
        assert_page(&r, &p);
        assert!(
            r.text.contains("aria-current=\"page\""),
            "{p}: the section is marked"
        );
    }
    // Bad input: a clear page with the status, never a 500.
    for (p, status) in [
        ("/console/users?sort=password", 400),
        ("/console/users?cursor=not-a-cursor", 400),
        ("/console/users?active=maybe", 400),
        ("/console/users?organization=x", 400),
        ("/console/users/999999", 404),
        ("/console/users/abc", 404),
        ("/console/organizations/0", 404),
        ("/console/applications/nope", 404),
        ("/console/audit?page=0", 400),
    ] {
        let r = b.get(&app, &app.url(p)).await;
        assert_eq!(r.status.as_u16(), status, "{p}: {}", r.text);
        assert!(r.text.contains("role=\"alert\""), "{p}");
    }
    // The audit log filters by actor, by name.
    let r = b
        .get(&app, &app.url("/console/audit?actor=admin&action=login"))
        .await;
    assert_page(&r, "audit by actor");
    assert!(r.text.contains("<code>login</code>"), "{}", r.text);
    let r = b
        .get(&app, &app.url("/console/audit?actor=nobody-at-all"))
        .await;
    assert!(r.text.contains("No events match these filters."));
    // The settings show the configuration without secrets.
    let s = b.get(&app, &app.url("/console/settings")).await;
    assert!(!s.text.contains(ADMIN_PASSWORD));
    // The vendored script is served, with its policy intact.
    let js = app.send(app.http.get(app.url("/assets/htmx.min.js"))).await;
    assert_eq!(js.status, 200);
    assert!(js.content_type().starts_with("text/javascript"));
});

dual!(forged_console_posts_change_nothing, |app| {
    let uid = app.create_user("target", &[]).await;
    let (mut b, _) = signed_in(&app, "admin", ADMIN_PASSWORD, "/console").await;
    let to = app.url(&format!("/console/users/{uid}"));
    let r = b
        .post(&app, &to, &[("csrf", "forged"), ("action", "disable")])
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = b.post(&app, &to, &[("action", "disable")]).await;
    assert_eq!(r.status, 403);
    // A token that is not the form's (the cookie's) is refused the same way.
    let page = b.get(&app, &to).await;
    let csrf = hidden(&page.text, "csrf");
    let other: String = csrf.chars().rev().collect();
    let r = b
        .post(
            &app,
            &to,
            &[("csrf", other.as_str()), ("action", "disable")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.text.contains("nothing was changed"), "{}", r.text);
    let u = app.get(&format!("/v1/users/{uid}"), &app.admin).await;
    assert_eq!(u.body["is_active"], true);
});

dual!(the_console_manages_a_user_end_to_end, |app| {
    let (mut b, page) = signed_in(&app, "admin", ADMIN_PASSWORD, "/console/users").await;
    // Create: a bad address is refused with the API's words and nothing is made.
    let bad = act(
        &app,
        &mut b,
        &page,
        "/console/users",
        &[
            ("action", "create"),
            ("username", "ada"),
            ("email", "not-an-address"),
            ("password", "ada-password-1"),
        ],
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(
        bad.text.contains("value=\"ada\""),
        "the form keeps what was typed"
    );
    assert!(
        !bad.text.contains("ada-password-1"),
        "but never the password"
    );
    assert_eq!(app.user_count().await, 1);
    let r = act(
        &app,
        &mut b,
        &page,
        "/console/users",
        &[
            ("action", "create"),
            ("username", "ada"),
            ("email", "ada@example.com"),
            ("first_name", "Ada"),
            ("password", "ada-password-1"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let here = location(&r);
    let uid: i64 = here
        .trim_start_matches("/console/users/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let dup = act(
        &app,
        &mut b,
        &page,
        "/console/users",
        &[
            ("action", "create"),
            ("username", "ada"),
            ("email", "other@example.com"),
            ("password", "ada-password-1"),
        ],
    )
    .await;
    assert_eq!(dup.status, 409);
    // Found by search.
    let found = b.get(&app, &app.url("/console/users?q=ada")).await;
    assert!(found
        .text
        .contains(&format!("href=\"/console/users/{uid}\">ada</a>")));
    let none = b.get(&app, &app.url("/console/users?q=zzzz")).await;
    assert!(none.text.contains("No user matches."));
    let user_page = format!("/console/users/{uid}");
    let p = b.get(&app, &app.url(&user_page)).await;
    assert_page(&p, "user");
    // Roles: grant, refuse a second grant, withdraw (kept as history).
    let r = act(
        &app,
        &mut b,
        &p,
        &user_page,
        &[("action", "grant"), ("role", "staff")],
    )
    .await;
    assert_eq!(location(&r), format!("{user_page}?notice=roles"));
    let u = app.get(&format!("/v1/users/{uid}"), &app.admin).await;
    assert_eq!(u.body["roles"], serde_json::json!(["staff"]));
    let again = act(
        &app,
        &mut b,
        &p,
        &user_page,
        &[("action", "grant"), ("role", "staff")],
    )
    .await;
    assert_eq!(again.status, 409);
    let r = act(
        &app,
        &mut b,
        &p,
        &user_page,
        &[("action", "revoke"), ("role", "staff")],
    )
    .await;
    assert_eq!(r.status, 303);
    let u = app.get(&format!("/v1/users/{uid}"), &app.admin).await;
    assert_eq!(u.body["roles"], serde_json::json!([]));
    let p = b.get(&app, &app.url(&user_page)).await;
    assert!(
        p.text.contains("<td>staff</td><td>inactive</td>"),
        "history keeps the withdrawn role"
    );
    // Profile: a bad edit is refused and changes nothing; a good one is saved.
    let r = act(
        &app,
        &mut b,
        &p,
        &user_page,
        &[
            ("action", "profile"),
            ("username", "ada"),
            ("email", "broken"),
            ("first_name", "Ada"),
        ],
    )
    .await;
    assert_eq!(r.status, 422);
    let r = act(
        &app,
        &mut b,
        &p,
        &user_page,
        &[
            ("action", "profile"),
            ("username", "ada"),
            ("email", "ada@example.com"),
            ("first_name", "Ada"),
            ("last_name", "Lovelace"),
        ],
    )
    .await;
    assert_eq!(r.status, 303);
    let u = app.get(&format!("/v1/users/{uid}"), &app.admin).await;
    assert_eq!(u.body["email"], "ada@example.com");
    assert_eq!(u.body["last_name"], "Lovelace");
    // Sessions: one ended, then all; their tokens are refused by the API.
    let t1 = app.login_ok("ada", "ada-password-1").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let t2 = app.login_ok("ada", "ada-password-1").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let p = b.get(&app, &app.url(&user_page)).await;
    let sid = hidden(&p.text, "session");
    let r = act(
        &app,
        &mut b,
        &p,
        &user_page,
        &[("action", "end_session"), ("session", &sid)],
    )
    .await;
    assert_eq!(location(&r), format!("{user_page}?notice=session-ended"));
    let me = [
        app.get("/v1/me", &t1).await.status,
        app.get("/v1/me", &t2).await.status,
    ];
    assert!(
        me.contains(&reqwest::StatusCode::UNAUTHORIZED) && me.contains(&reqwest::StatusCode::OK),
        "{me:?}"
    );
    let r = act(
        &app,
        &mut b,
        &p,
        &user_page,
        &[("action", "end_session"), ("session", "no-such-session")],
    )
    .await;
    assert_eq!(r.status, 404);
    let r = act(&app, &mut b, &p, &user_page, &[("action", "end_all")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(app.get("/v1/me", &t1).await.status, 401);
    assert_eq!(app.get("/v1/me", &t2).await.status, 401);
    // Disable: the login is refused; enable: it works again.
    let r = act(&app, &mut b, &p, &user_page, &[("action", "disable")]).await;
    assert_eq!(location(&r), format!("{user_page}?notice=disabled"));
    assert_eq!(app.login("ada", "ada-password-1").await.status, 403);
    let r = act(&app, &mut b, &p, &user_page, &[("action", "enable")]).await;
    assert_eq!(r.status, 303);
    app.login_ok("ada", "ada-password-1").await;
    // The admin cannot disable themself.
    let own = act(
        &app,
        &mut b,
        &p,
        "/console/users/1",
        &[("action", "disable")],
    )
    .await;
    assert_eq!(own.status, 422, "{}", own.text);
    // Audit: the admin is the actor of each change.
    let audit = app
        .get(
            &format!("/v1/audit?target_type=user&target_id={uid}"),
            &app.admin,
        )
        .await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"user.updated") && actions.contains(&"sessions.ended"),
        "{actions:?}"
    );
    for e in audit.body["items"].as_array().unwrap() {
        if e["action"] == "user.updated" {
            assert_eq!(e["actor"], "admin");
        }
    }
    // Delete needs the confirmation that names the user.
    let ask = b
        .get(&app, &app.url(&format!("{user_page}?confirm=delete")))
        .await;
    assert!(ask.text.contains("Delete ada?"));
    let r = act(
        &app,
        &mut b,
        &ask,
        &user_page,
        &[("action", "delete"), ("confirm", "someone-else")],
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        app.get(&format!("/v1/users/{uid}"), &app.admin)
            .await
            .status,
        200
    );
    let r = act(
        &app,
        &mut b,
        &ask,
        &user_page,
        &[("action", "delete"), ("confirm", "ada")],
    )
    .await;
    assert_eq!(location(&r), "/console/users?notice=user-deleted");
    assert_eq!(
        app.get(&format!("/v1/users/{uid}"), &app.admin)
            .await
            .status,
        404
    );
});

dual!(roles_organizations_applications_and_keys, |app| {
    let uid = app.create_user("bob", &[]).await;
    let (mut b, page) = signed_in(&app, "admin", ADMIN_PASSWORD, "/console/roles").await;
    let r = act(
        &app,
        &mut b,
        &page,
        "/console/roles",
        &[("action", "create"), ("name", "Bad Name")],
    )
    .await;
    assert_eq!(r.status, 422);
    let r = act(
        &app,
        &mut b,
        &page,
        "/console/roles",
        &[
            ("action", "create"),
            ("name", "auditor"),
            ("description", "Reads the log"),
        ],
    )
    .await;
    assert_eq!(r.status, 303);
    let roles = app.get("/v1/roles", &app.admin).await;
    let role = roles
        .body
        .as_array()
        .or(roles.body["items"].as_array())
        .unwrap()
        .iter()
        .find(|r| r["name"] == "auditor")
        .unwrap()
        .clone();
    let rid = role["id"].to_string();
    let r = act(
        &app,
        &mut b,
        &page,
        "/console/roles",
        &[("action", "delete"), ("id", &rid)],
    )
    .await;
    assert_eq!(r.status, 303);
    let r = act(
        &app,
        &mut b,
        &page,
        "/console/roles",
        &[("action", "delete"), ("id", &rid)],
    )
    .await;
    assert_eq!(r.status, 404);
    // Organizations and members.
    let r = act(
        &app,
        &mut b,
        &page,
        "/console/organizations",
        &[("action", "create"), ("name", "Acme")],
    )
    .await;
    assert_eq!(r.status, 303);
    let org_page = location(&r).split('?').next().unwrap().to_owned();
    let p = b.get(&app, &app.url(&org_page)).await;
    assert_page(&p, "organization");
    let r = act(
        &app,
        &mut b,
        &p,
        &org_page,
        &[("action", "add_member"), ("username", "nobody")],
    )
    .await;
    assert_eq!(r.status, 404);
    let r = act(
        &app,
        &mut b,
        &p,
        &org_page,
        &[("action", "add_member"), ("username", "bob")],
    )
    .await;
    assert_eq!(r.status, 303);
    let u = app.get(&format!("/v1/users/{uid}"), &app.admin).await;
    assert_eq!(u.body["organization"]["name"], "Acme", "{}", u.text);
    let r = act(
        &app,
        &mut b,
        &p,
        &org_page,
        &[("action", "remove_member"), ("user", &uid.to_string())],
    )
    .await;
    assert_eq!(r.status, 303);
    let r = act(
        &app,
        &mut b,
        &p,
        &org_page,
        &[("action", "delete"), ("confirm", "Acme")],
    )
    .await;
    assert_eq!(location(&r), "/console/organizations?notice=deleted");
    // Applications: the secret once, on the answer to the post, never on a later page.
    let r = act(
        &app,
        &mut b,
        &page,
        "/console/applications",
        &[
            ("action", "create"),
            ("name", "Shop"),
            ("redirect_uris", "not a uri"),
        ],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = act(
        &app,
        &mut b,
        &page,
        "/console/applications",
        &[
            ("action", "create"),
            ("name", "Shop"),
            ("redirect_uris", "https://shop.example/cb"),
        ],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r
        .text
        .split("<code id=\"client-secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(secret.len() >= 32);
    let client_id = r
        .text
        .split("Client id</dt><dd><code>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let app_page = format!("/console/applications/{client_id}");
    let p = b.get(&app, &app.url(&app_page)).await;
    assert_page(&p, "application");
    assert!(!p.text.contains(&secret));
    let r = act(
        &app,
        &mut b,
        &p,
        &app_page,
        &[
            ("action", "update"),
            ("name", "Shop"),
            (
                "redirect_uris",
                "https://shop.example/cb\nhttps://shop.example/cb2",
            ),
        ],
    )
    .await;
    assert_eq!(r.status, 303);
    let c = app
        .get(&format!("/v1/clients/{client_id}"), &app.admin)
        .await;
    assert_eq!(
        c.body["redirect_uris"].as_array().unwrap().len(),
        2,
        "{}",
        c.text
    );
    let r = act(&app, &mut b, &p, &app_page, &[("action", "rotate")]).await;
    assert_eq!(r.status, 200);
    assert!(!r.text.contains(&secret), "a new secret");
    let r = act(
        &app,
        &mut b,
        &p,
        &app_page,
        &[("action", "delete"), ("confirm", &client_id)],
    )
    .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        app.get(&format!("/v1/clients/{client_id}"), &app.admin)
            .await
            .status,
        404
    );
    // Signing keys: a rotation adds a key per algorithm, audited with the admin as actor.
    let before = app
        .send(app.http.get(app.url("/.well-known/jwks.json")))
        .await
        .body["keys"]
        .as_array()
        .unwrap()
        .len();
    let p = b.get(&app, &app.url("/console/keys")).await;
    let r = act(&app, &mut b, &p, "/console/keys", &[("action", "rotate")]).await;
    assert_eq!(location(&r), "/console/keys?notice=rotated");
    let after = app
        .send(app.http.get(app.url("/.well-known/jwks.json")))
        .await
        .body["keys"]
        .as_array()
        .unwrap()
        .len();
    assert!(after > before, "{before} → {after}");
    let audit = app.get("/v1/audit?action=key.rotated", &app.admin).await;
    assert_eq!(audit.body["items"][0]["actor"], "admin");
});

dual!(the_overview_lists_locks_and_lifts_them, |app| {
    app.create_user("carol", &[]).await;
    for _ in 0..10 {
        app.login("carol", "wrong-password").await;
    }
    assert_eq!(app.login("carol", "password-123").await.status, 429);
    let (mut b, page) = signed_in(&app, "admin", ADMIN_PASSWORD, "/console").await;
    assert_page(&page, "overview");
    assert!(page.text.contains("<code>carol</code>"), "{}", page.text);
    assert!(page.text.contains("failed sign-ins in the last 24 hours"));
    let key = hidden(&page.text, "key");
    let r = act(
        &app,
        &mut b,
        &page,
        "/console",
        &[("action", "unlock"), ("key", "nonsense")],
    )
    .await;
    assert_eq!(r.status, 404);
    let r = act(
        &app,
        &mut b,
        &page,
        "/console",
        &[("action", "unlock"), ("key", &key)],
    )
    .await;
    assert_eq!(location(&r), "/console?notice=unlocked");
    app.login_ok("carol", "password-123").await;
});

dual!(
    the_account_page_changes_the_password_and_ends_sessions,
    |app| {
        app.create_user("dana", &[]).await;
        let other = app.token_of("dana").await;
        let (mut b, page) = signed_in(&app, "dana", "password-123", "/account").await;
        assert_eq!(page.status, 200);
        assert!(page.text.contains("<h1>Your account</h1>"));
        let r = act(
            &app,
            &mut b,
            &page,
            "/account",
            &[
                ("step", "password"),
                ("current_password", "wrong"),
                ("new_password", "dana-new-password-1"),
            ],
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(r.text.contains("The current password is not right."));
        app.login_ok("dana", "password-123").await;
        let r = act(
            &app,
            &mut b,
            &page,
            "/account",
            &[
                ("step", "password"),
                ("current_password", "password-123"),
                ("new_password", "short"),
            ],
        )
        .await;
        assert_eq!(r.status, 422);
        let r = act(
            &app,
            &mut b,
            &page,
            "/account",
            &[
                ("step", "password"),
                ("current_password", "password-123"),
                ("new_password", "dana-new-password-1"),
            ],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.text.contains("Password changed."));
        assert_eq!(
            app.get("/v1/me", &other).await.status,
            401,
            "other sessions end"
        );
        app.login_ok("dana", "dana-new-password-1").await;
        // This browser stays signed in; another session is ended from the list.
        let p = b.get(&app, &app.url("/account")).await;
        assert_eq!(p.status, 200);
        let t = app.login_ok("dana", "dana-new-password-1").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let p = b.get(&app, &app.url("/account")).await;
        let sid = hidden(&p.text, "session");
        let r = act(
            &app,
            &mut b,
            &p,
            "/account",
            &[("step", "end_session"), ("session", &sid)],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(app.get("/v1/me", &t).await.status, 401);
        // Profile.
        let r = act(
            &app,
            &mut b,
            &p,
            "/account",
            &[
                ("step", "profile"),
                ("display_name", "Dana S."),
                ("first_name", "Dana"),
            ],
        )
        .await;
        assert_eq!(r.status, 200);
        let t = app.login_ok("dana", "dana-new-password-1").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let me = app.get("/v1/me", &t).await;
        assert_eq!(me.body["display_name"], "Dana S.", "{}", me.text);
    }
);

dual!(
    an_admin_with_a_second_factor_signs_in_to_the_console,
    |app| {
        app.create_user("root", &["admin"]).await;
        let token = app.token_of("root").await;
        let enrolled = crate::mfa::enroll(&app, &token).await;
        let mut b = Browser::new(&app);
        let r = b.get(&app, &app.url("/console/audit")).await;
        let login = location(&r);
        let page = b.get(&app, &login).await;
        let form = [
            ("csrf", hidden(&page.text, "csrf")),
            ("request", hidden(&page.text, "request")),
            ("identifier", "root".to_owned()),
            ("password", "password-123".to_owned()),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let step = b.post(&app, &action(&page.text), &form).await;
        assert_eq!(
            step.status, 200,
            "the password alone is not enough: {}",
            step.text
        );
        assert!(step.text.contains("Authentication code"));
        assert!(!b.has_session());
        // Not yet signed in: the console still sends the browser to the sign-in page.
        assert_eq!(b.get(&app, &app.url("/console")).await.status, 303);
        let form = [
            ("csrf", hidden(&step.text, "csrf")),
            ("request", hidden(&step.text, "request")),
            ("mfa_token", hidden(&step.text, "mfa_token")),
            ("code", enrolled.recovery_codes[0].clone()),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = b.post(&app, &action(&step.text), &form).await;
        assert_eq!(location(&r), app.url("/console/audit"));
        let page = b.get(&app, &app.url("/console/audit")).await;
        assert_page(&page, "audit after the second factor");
    }
);

dual!(the_account_page_revokes_a_connected_application, |app| {
    use crate::oidc::{code_for, register};
    app.create_user("erin", &[]).await;
    let rp = register(&app, serde_json::json!({})).await;
    let mut b = Browser::new(&app);
    code_for(&app, &mut b, &rp, "erin").await;
    let token = app.token_of("erin").await;
    assert_eq!(
        app.get("/v1/me/grants", &token).await.body[0]["client_id"],
        serde_json::json!(rp.id)
    );
    let page = b.get(&app, &app.url("/account")).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Connected applications"));
    let r = act(
        &app,
        &mut b,
        &page,
        "/account",
        &[("step", "revoke_app"), ("client", "not-a-client")],
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = act(
        &app,
        &mut b,
        &page,
        "/account",
        &[("step", "revoke_app"), ("client", &rp.id)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Access revoked"));
    assert_eq!(
        app.get("/v1/me/grants", &token).await.body,
        serde_json::json!([])
    );
});

dual!(a_search_with_many_matches_counts_only_so_far, |app| {
    // 1,005 matching users (imported without passwords: quick), and the admin.
    let mut body = Vec::new();
    for i in 0..1005 {
        body.extend_from_slice(
            serde_json::json!({"username": format!("many{i:04}"), "email": format!("many{i:04}@example.org")})
                .to_string()
                .as_bytes(),
        );
        body.push(b'\n');
    }
    let r = app
        .raw(
            "POST",
            "/v1/users/import",
            Some(&app.admin),
            "application/x-ndjson",
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The API counts a search up to 1,000 too, and says so; the exact count on request.
    let api = app.get("/v1/users?q=many&per_page=1", &app.admin).await;
    assert_eq!(api.body["total"], 1000, "{}", api.text);
    assert_eq!(api.body["total_relation"], "gte", "{}", api.text);
    let api = app
        .get("/v1/users?q=many&per_page=1&exact_total=true", &app.admin)
        .await;
    assert_eq!(api.body["total"], 1005, "{}", api.text);
    assert_eq!(api.body["total_relation"], "eq", "{}", api.text);
    let api = app.get("/v1/users?per_page=1", &app.admin).await;
    assert_eq!(
        api.body["total"], 1006,
        "unfiltered: the kept row count, exact"
    );
    assert_eq!(api.body["total_relation"], "eq");
    // A common one-letter term: more than the bound, and its first page in id order.
    let short = app.get("/v1/users?q=y&per_page=3", &app.admin).await;
    assert_eq!(short.body["total"], 1000, "{}", short.text);
    assert_eq!(short.body["total_relation"], "gte");
    let long = app.get("/v1/users?q=many&per_page=3", &app.admin).await;
    assert_eq!(short.body["items"], long.body["items"]);
    let api = app.get("/v1/users?q=many000&per_page=1", &app.admin).await;
    assert_eq!(api.body["total"], 10, "under the bound: exact");
    assert_eq!(api.body["total_relation"], "eq");
    let (mut b, page) = signed_in(&app, "admin", ADMIN_PASSWORD, "/console/users?q=many").await;
    assert_page(&page, "search");
    assert!(page.text.contains("1000+ users match"), "{}", page.text);
    assert_eq!(page.text.matches("href=\"/console/users/").count(), 25);
    assert!(page.text.contains("many1004"), "newest first");
    // Unfiltered, the count is exact (kept by the database).
    let all = b.get(&app, &app.url("/console/users")).await;
    assert!(all.text.contains("1006 users"), "{}", all.text);
    // The next page follows the cursor.
    let next = all
        .text
        .split("href=\"/console/users?cursor=")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let p2 = b
        .get(&app, &app.url(&format!("/console/users?cursor={next}")))
        .await;
    assert_page(&p2, "second page");
    assert!(
        p2.text.contains("many0979") && !p2.text.contains("many0980<"),
        "{}",
        p2.text
    );
});
