//! Importing users with their password hashes, and exporting them: every format made by its
//! own ecosystem's library (crates/latchkey-core/fixtures, scripts/hash-fixtures.sh) logs in
//! through every dialect and becomes argon2id; conflicts, dry runs, bad lines and hostile
//! costs; export → import round trips; the source adapters through the CLI.

use serde_json::{json, Value};

use crate::cli::latchkey_with;
use crate::dual;
use crate::helpers::*;

#[derive(serde::Deserialize, Clone)]
struct Fixture {
    format: String,
    source: String,
    password: String,
    hash: String,
}

fn fixtures() -> Vec<Fixture> {
    serde_json::from_str(include_str!("../../../latchkey-core/fixtures/hashes.json")).unwrap()
}

fn fixture_path(name: &str) -> String {
    format!(
        "{}/../latchkey-core/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn jsonl(records: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(r.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// Posts JSON Lines to the import endpoint; the report lines.
async fn import(app: &TestApp, query: &str, body: Vec<u8>) -> Vec<Value> {
    let r = app
        .raw(
            "POST",
            &format!("/v1/users/import{query}"),
            Some(&app.admin),
            "application/x-ndjson",
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.content_type(), "application/x-ndjson");
    r.text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("report line {l}")))
        .collect()
}

/// Every user as exported, by username.
async fn export(app: &TestApp, with_hashes: bool) -> std::collections::BTreeMap<String, Value> {
    let r = app
        .get(
            &format!("/v1/users/export?with_hashes={with_hashes}"),
            &app.admin,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.content_type(), "application/x-ndjson");
    r.text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["username"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

/// The five logins: each dialect's and the native one. Returns the status.
async fn login_via(app: &TestApp, which: usize, username: &str, email: &str, pw: &str) -> u16 {
    let (path, body) = match which % 5 {
        0 => (
            TestApp::at("auth-admin", "/auth/login"),
            json!({"username": username, "password": pw}),
        ),
        1 => (
            TestApp::at("user-profiles", "/login"),
            json!({"email": email, "password": pw}),
        ),
        2 => (
            TestApp::at("org-users", "/users/login"),
            json!({"username": username, "password": pw}),
        ),
        3 => (
            TestApp::at("citizen-portal", "/auth/login"),
            json!({"emailOrUsername": username, "password": pw}),
        ),
        _ => (
            "/v1/auth/login".to_owned(),
            json!({"identifier": username, "password": pw}),
        ),
    };
    app.call("POST", &path, None, Some(body))
        .await
        .status
        .as_u16()
}

dual!(
    every_imported_format_logs_in_through_every_dialect_and_becomes_argon2id,
    |app| {
        let all = fixtures();
        let records: Vec<Value> = all
            .iter()
            .enumerate()
            .map(|(i, f)| {
                json!({"username": format!("imp{i}"), "email": format!("imp{i}@example.com"),
                       "password_hash": f.hash, "roles": ["user"]})
            })
            .collect();
        let reports = import(&app, "?accept_weak_hashes=true", jsonl(&records)).await;
        assert_eq!(reports.len(), all.len());
        for (i, r) in reports.iter().enumerate() {
            assert_eq!(r["status"], "created", "{}: {r}", all[i].source);
            let weak = all[i].format.contains("weak");
            assert_eq!(r["warning"].is_string(), weak, "{}: {r}", all[i].source);
        }
        let weak = app
            .get("/v1/users?weak_password_hash=true&per_page=100", &app.admin)
            .await;
        let mut names: Vec<&str> = weak.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        names.sort();
        let expected: Vec<String> = all
            .iter()
            .enumerate()
            .filter(|(_, f)| f.format.contains("weak"))
            .map(|(i, _)| format!("imp{i}"))
            .collect();
        let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        expected.sort();
        assert_eq!(names, expected, "the weak ones are listed for a reset");
        let before = export(&app, true).await;
        for (i, f) in all.iter().enumerate() {
            let (user, email) = (format!("imp{i}"), format!("imp{i}@example.com"));
            assert_eq!(
                before[&user]["password_hash"],
                f.hash.as_str(),
                "stored as given"
            );
            assert_eq!(
                before[&user]["weak_password_hash"]
                    .as_bool()
                    .unwrap_or(false),
                f.format.contains("weak")
            );
            // A wrong password fails like any other, through each login.
            let wrong = format!("{}-wrong", f.password);
            let expected_wrong = if f.password.len() > 72 { 200 } else { 401 };
            let s = login_via(&app, i + 1, &user, &email, &wrong).await;
            if expected_wrong == 401 {
                assert!(
                    s == 401 || s == 400,
                    "{}: wrong password answered {s}",
                    f.source
                );
            }
            let s = login_via(&app, i, &user, &email, &f.password).await;
            assert!(
                (200..300).contains(&s),
                "{}: login {} answered {s}",
                f.source,
                i % 5
            );
        }
        let after = export(&app, true).await;
        for (i, f) in all.iter().enumerate() {
            let user = format!("imp{i}");
            let stored = after[&user]["password_hash"].as_str().unwrap();
            if f.password.len() > 72 {
                // Past bcrypt's 72 bytes the origin's rule stays until a password change.
                assert_eq!(stored, f.hash, "{}", f.source);
                continue;
            }
            assert!(
                stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
                "{}: now {stored}",
                f.source
            );
            assert_ne!(stored, f.hash);
            assert!(
                after[&user].get("weak_password_hash").is_none(),
                "flag cleared"
            );
            // The upgraded hash keeps the password; the old one is gone everywhere.
            let s = login_via(
                &app,
                i + 2,
                &user,
                &format!("{user}@example.com"),
                &f.password,
            )
            .await;
            assert!(
                (200..300).contains(&s),
                "{}: after the upgrade {s}",
                f.source
            );
        }
        let weak = app
            .get("/v1/users?weak_password_hash=true", &app.admin)
            .await;
        assert_eq!(weak.body["total"], 0, "upgraded: no weak hash is left");
        let text = app
            .get(
                "/v1/audit?action=credential.upgraded&per_page=100",
                &app.admin,
            )
            .await;
        assert_eq!(text.status, 200, "{}", text.text);
        let upgraded = text.body["items"].as_array().unwrap();
        assert_eq!(upgraded.len(), all.len() - 1, "one event per upgraded user");
        assert!(upgraded
            .iter()
            .any(|e| e["detail"] == "bcrypt to argon2id" && e["outcome"] == "success"));
        assert!(!text.text.contains("$2b$"), "no hash in the audit log");
        let m = app.call("GET", "/metrics", None, None).await;
        for needle in [
            "latchkey_password_upgrades_total{from=\"bcrypt\"}",
            "latchkey_password_upgrades_total{from=\"pbkdf2-sha256\"}",
            "latchkey_users_imported_total{status=\"created\"}",
        ] {
            assert!(m.text.contains(needle), "metrics lack {needle}");
        }
    }
);

dual!(
    a_keycloak_credential_object_in_a_record_imports_and_logs_in,
    |app| {
        let realm: Value = serde_json::from_str(include_str!(
            "../../../latchkey-core/fixtures/keycloak-realm.json"
        ))
        .unwrap();
        let mut records = Vec::new();
        for u in realm["users"].as_array().unwrap().iter().take(3) {
            let c = &u["credentials"][0];
            let secret: Value = serde_json::from_str(c["secretData"].as_str().unwrap()).unwrap();
            let data: Value = serde_json::from_str(c["credentialData"].as_str().unwrap()).unwrap();
            records.push(json!({
                "username": u["username"], "email": u["email"],
                "password_hash": {"algorithm": data["algorithm"], "hashIterations": data["hashIterations"],
                    "salt": secret["salt"], "value": secret["value"],
                    "additionalParameters": data["additionalParameters"]}
            }));
        }
        let reports = import(&app, "", jsonl(&records)).await;
        assert!(
            reports.iter().all(|r| r["status"] == "created"),
            "{reports:?}"
        );
        for (user, pw) in realm["_latchkey_fixture_passwords"].as_object().unwrap() {
            if ["alice", "bob", "carol"].contains(&user.as_str()) {
                app.login_ok(user, pw.as_str().unwrap()).await;
            }
        }
        // A credential that is not Keycloak's is refused with its reason.
        let bad = import(
            &app,
            "",
            jsonl(&[json!({"username": "zz", "email": "zz@example.com",
                "password_hash": {"algorithm": "md4", "hashIterations": 1, "salt": "c2FsdA==", "value": "dmFsdWU="}})]),
        )
        .await;
        assert_eq!(bad[0]["status"], "failed");
        assert!(bad[0]["error"].as_str().unwrap().contains("unrecognized"));
    }
);

dual!(a_hundred_thousand_line_file_imports_completely, |app| {
    let hashes: Vec<String> = fixtures()
        .into_iter()
        .filter(|f| !f.format.contains("weak"))
        .map(|f| f.hash)
        .collect();
    let mut body = Vec::with_capacity(100_000 * 200);
    for i in 0..100_000 {
        let rec = json!({"username": format!("bulk{i}"), "email": format!("bulk{i}@example.com"),
            "roles": ["user"], "organization": format!("Org {}", i % 20),
            "password_hash": hashes[i % hashes.len()]});
        body.extend_from_slice(rec.to_string().as_bytes());
        body.push(b'\n');
    }
    let before = app.user_count().await;
    let reports = import(&app, "", body).await;
    assert_eq!(reports.len(), 100_000);
    assert!(reports.iter().all(|r| r["status"] == "created"));
    assert_eq!(reports[99_999]["line"], 100_000);
    assert_eq!(app.user_count().await, before + 100_000);
    let f = fixtures()
        .into_iter()
        .find(|f| f.hash.starts_with("$2b$04$"))
        .unwrap();
    let at = hashes.iter().position(|h| *h == f.hash).unwrap();
    app.login_ok(&format!("bulk{at}"), &f.password).await;
    let export = app.get("/v1/users/export", &app.admin).await;
    assert_eq!(export.text.lines().count() as u64, before + 100_000);
});

dual!(
    wrong_passwords_get_the_same_answer_for_imported_and_native_users,
    |app| {
        let bcrypt = fixtures()
            .into_iter()
            .find(|f| f.hash.starts_with("$2b$04$"))
            .unwrap();
        import(
            &app,
            "",
            jsonl(&[json!({"username": "old", "email": "old@example.com", "password_hash": bcrypt.hash})]),
        )
        .await;
        app.create_user("new", &[]).await;
        for (user, pw) in [("old", "password-1234"), ("new", "password-1234")] {
            let r = app.login(user, pw).await;
            r.assert_problem(401, "invalid-credentials");
            assert_eq!(
                r.body["detail"],
                app.login("nobody", pw).await.body["detail"]
            );
        }
        // And the same for each dialect's envelope.
        for which in 0..4 {
            let a = login_via(&app, which, "old", "old@example.com", "nope-nope-1").await;
            let b = login_via(&app, which, "new", "new@example.com", "nope-nope-1").await;
            assert_eq!(a, b, "login {which}");
        }
    }
);

/// Timing: a wrong password against a cheap imported hash (bcrypt cost 4, about a
/// millisecond) takes as long as against a native argon2id hash at the real parameters, so
/// the answer's timing does not tell imported users apart.
async fn timing(backend: Backend) {
    let mut cfg = test_config();
    cfg.hash = latchkey::core::password::HashParams::default();
    cfg.throttle.lock_after = 0;
    let Some(app) = TestApp::spawn_with(backend, cfg).await else {
        return;
    };
    let bcrypt = fixtures()
        .into_iter()
        .find(|f| f.hash.starts_with("$2b$04$"))
        .unwrap();
    import(
        &app,
        "",
        jsonl(&[
            json!({"username": "old", "email": "old@example.com", "password_hash": bcrypt.hash}),
        ]),
    )
    .await;
    app.create_user("new", &[]).await;
    let mut times = [Vec::new(), Vec::new()];
    // Bounded: 9 rounds of one wrong login each.
    for _ in 0..9 {
        for (k, user) in ["old", "new"].into_iter().enumerate() {
            let t = std::time::Instant::now();
            assert_eq!(app.login(user, "wrong-password-9").await.status, 401);
            times[k].push(t.elapsed().as_secs_f64());
        }
    }
    for t in &mut times {
        t.sort_by(f64::total_cmp);
    }
    let (old, new) = (times[0][4], times[1][4]);
    assert!(
        old >= new * 0.6,
        "imported user's wrong password answered in {old:.4}s, a native one's in {new:.4}s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_take_as_long_for_imported_as_for_native_users_sqlite() {
    timing(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_take_as_long_for_imported_as_for_native_users_postgres() {
    timing(Backend::Postgres).await
}

dual!(
    import_reports_each_line_and_bad_lines_change_nothing,
    |app| {
        let bcrypt = fixtures()
            .into_iter()
            .find(|f| f.hash.starts_with("$2b$04$"))
            .unwrap();
        let good = |n: &str| json!({"username": n, "email": format!("{n}@example.com"), "password_hash": bcrypt.hash});
        let mut body = jsonl(&[good("ada")]);
        body.extend_from_slice(b"\nnot json\n");
        body.extend_from_slice(&jsonl(&[
            json!({"username": "bob", "email": "bob@example.com", "pasword_hash": "x"}),
            json!({"username": "cy", "email": "not-an-address"}),
            json!({"username": "dee", "email": "dee@example.com", "password_hash": "$2b$31$0123456789012345678901234567890123456789012345678901"}),
            json!({"username": "eve", "email": "eve@example.com", "password_hash": format!("$argon2id$v=19$m=2097152,t=1,p=1$c2FsdHNhbHQ${}", "A".repeat(43))}),
            json!({"username": "fay", "email": "fay@example.com", "password_hash": "{SSHA}c2FsdA=="}),
            json!({"username": "gus", "email": "gus@example.com", "password_hash": "4ece57a61323b52ccffdbef021956754"}),
            json!({"username": "hal", "email": "hal@example.com", "created_at": "next tuesday"}),
            json!({"username": "ivy", "email": "ivy@example.com", "roles": ["Not A Role!"]}),
            json!({"username": "jo", "email": "jo@example.com", "uuid": "not-a-uuid"}),
        ]));
        body.extend_from_slice(format!("{{\"username\":\"{}\"}}\n", "x".repeat(70_000)).as_bytes());
        body.extend_from_slice(&jsonl(&[
            json!({"username": "kim", "email": "kim@example.com"}),
        ]));
        let before = app.user_count().await;
        let reports = import(&app, "?dry_run=true", body.clone()).await;
        assert_eq!(app.user_count().await, before, "a dry run stores nothing");
        let statuses: Vec<&str> = reports
            .iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            [
                "created", "failed", "failed", "failed", "failed", "failed", "failed", "failed",
                "failed", "failed", "failed", "failed", "created"
            ]
        );
        let lines: Vec<u64> = reports
            .iter()
            .map(|r| r["line"].as_u64().unwrap())
            .collect();
        assert_eq!(
            lines,
            [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
            "blank line 2 has no report"
        );
        let errors: Vec<String> = reports
            .iter()
            .map(|r| r["error"].as_str().unwrap_or("").to_owned())
            .collect();
        for (at, needle) in [
            (1, "not a valid record"),
            (2, "unknown field `pasword_hash`"),
            (3, "email"),
            (4, "bcrypt cost too high: cost 31"),
            (5, "argon2 cost too high"),
            (6, "unrecognized password hash format"),
            (7, "weak hash"),
            (8, "created_at"),
            (9, "role"),
            (10, "uuid"),
            (11, "longer than 65536 bytes"),
        ] {
            assert!(
                errors[at].contains(needle),
                "line {}: {} lacks {needle}",
                lines[at],
                errors[at]
            );
        }
        assert!(reports[12]["warning"]
            .as_str()
            .unwrap()
            .contains("no password"));
        // For real: the same reports, and only the good lines stored.
        let real = import(&app, "", body).await;
        assert_eq!(real, reports);
        assert_eq!(app.user_count().await, before + 2);
        assert_eq!(login_via(&app, 4, "ada", "", &bcrypt.password).await, 200);
        // No password: no login, the same answer as a wrong one.
        app.login("kim", "anything-at-all")
            .await
            .assert_problem(401, "invalid-credentials");
        // The import is in the audit log, with its counts.
        let audit = app.get("/v1/audit?action=users.imported", &app.admin).await;
        assert_eq!(
            audit.body["items"][0]["detail"],
            "created 2, updated 0, skipped 0, failed 11"
        );
        assert_eq!(
            audit.body["items"][1]["detail"],
            "created 2, updated 0, skipped 0, failed 11; dry run, nothing stored"
        );
    }
);

dual!(conflicts_are_skipped_updated_or_stop_the_import, |app| {
    let bcrypt = fixtures()
        .into_iter()
        .find(|f| f.hash.starts_with("$2b$04$"))
        .unwrap();
    let rec = |n: &str, first: &str| {
        json!({"username": n, "email": format!("{n}@example.com"), "first_name": first,
                   "roles": ["editor"], "organization": "Acme", "password_hash": bcrypt.hash})
    };
    let first = import(&app, "", jsonl(&[rec("ann", "Ann"), rec("ben", "Ben")])).await;
    assert!(first.iter().all(|r| r["status"] == "created"));
    let ann_token = app.login_ok("ann", &bcrypt.password).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Skip (the default): nothing changes; the same again is idempotent.
    let again = import(&app, "", jsonl(&[rec("ann", "Changed"), rec("cat", "Cat")])).await;
    assert_eq!(again[0]["status"], "skipped");
    assert_eq!(again[1]["status"], "created");
    let users = export(&app, true).await;
    assert_eq!(users["ann"]["first_name"], "Ann");
    assert_eq!(users["ann"]["organization"], "Acme");
    assert_eq!(users["ann"]["roles"], json!(["editor"]));
    // A username of one user with the email of another is never merged.
    let mixed = import(
        &app,
        "?on_conflict=update",
        jsonl(&[json!({"username": "ann", "email": "ben@example.com"})]),
    )
    .await;
    assert_eq!(mixed[0]["status"], "failed");
    assert!(mixed[0]["error"]
        .as_str()
        .unwrap()
        .contains("different existing users"));
    // Update: the record wins, roles are added, a new hash ends the user's sessions.
    let argon = fixtures()
        .into_iter()
        .find(|f| f.hash.starts_with("$argon2i$"))
        .unwrap();
    let mut changed = rec("ann", "Anna");
    changed["roles"] = json!(["reviewer"]);
    changed["password_hash"] = json!(argon.hash);
    changed["is_active"] = json!(true);
    let up = import(&app, "?on_conflict=update", jsonl(&[changed])).await;
    assert_eq!(up[0]["status"], "updated", "{}", up[0]);
    let users = export(&app, true).await;
    assert_eq!(users["ann"]["first_name"], "Anna");
    assert_eq!(users["ann"]["roles"], json!(["editor", "reviewer"]));
    assert_eq!(users["ann"]["password_hash"], argon.hash.as_str());
    assert_eq!(
        app.get("/v1/me", &ann_token).await.status,
        401,
        "sessions ended"
    );
    app.login_ok("ann", &argon.password).await;
    // Fail: stops at the first conflict; what came before stays, the rest is untouched.
    let before = app.user_count().await;
    let stop = import(
        &app,
        "?on_conflict=fail",
        jsonl(&[rec("dan", "Dan"), rec("ben", "Benjamin"), rec("eva", "Eva")]),
    )
    .await;
    let st: Vec<&str> = stop.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(st, ["created", "failed", "skipped"]);
    assert!(stop[2]["error"].as_str().unwrap().contains("not attempted"));
    assert_eq!(app.user_count().await, before + 1);
    assert_eq!(export(&app, false).await["ben"]["first_name"], "Ben");
});

dual!(
    import_and_export_refuse_non_admins_and_bad_requests_without_a_change,
    |app| {
        app.create_user("mia", &[]).await;
        let mia = app.token_of("mia").await;
        let body = jsonl(&[json!({"username": "zed", "email": "zed@example.com"})]);
        let before = app.user_count().await;
        let ndjson = "application/x-ndjson";
        for (query, token, ctype, status, kind) in [
            ("", Some(mia.as_str()), ndjson, 403, "forbidden"),
            ("", None, ndjson, 401, "unauthenticated"),
            (
                "",
                Some(app.admin.as_str()),
                "text/csv",
                415,
                "unsupported-media-type",
            ),
            (
                "?on_conflict=merge",
                Some(app.admin.as_str()),
                ndjson,
                400,
                "invalid-parameter",
            ),
        ] {
            let path = format!("/v1/users/import{query}");
            let r = app.raw("POST", &path, token, ctype, body.clone()).await;
            r.assert_problem(status, kind);
        }
        app.get("/v1/users/export", &mia)
            .await
            .assert_problem(403, "forbidden");
        app.get("/v1/users/export?with_hashes=yes", &app.admin)
            .await
            .assert_problem(400, "invalid-parameter");
        assert_eq!(app.user_count().await, before);
        // Without the flag an export carries no hash.
        let plain = app.get("/v1/users/export", &app.admin).await;
        assert!(!plain.text.contains("password_hash") && !plain.text.contains("$argon2"));
        let audit = app.get("/v1/audit?action=users.exported", &app.admin).await;
        assert_eq!(audit.body["items"][0]["detail"], "without password hashes");
    }
);

dual!(export_then_import_round_trips_every_field, |app| {
    let org = app
        .call(
            "POST",
            "/v1/organizations",
            Some(&app.admin),
            Some(json!({"name": "Zeta Org"})),
        )
        .await;
    assert_eq!(org.status, 201, "{}", org.text);
    let r = app
        .call(
            "POST",
            "/v1/users",
            Some(&app.admin),
            Some(json!({"username": "rosa", "email": "Rosa@Example.com", "password": "rosa-password-1",
                "first_name": "Rosa", "middle_name": "M", "last_name": "Luna", "name_extension": "Jr.",
                "display_name": "Rosa L", "contact_number": "+63 912", "address": "1 Main St",
                "roles": ["editor", "staff"], "organization_id": org.body["id"], "is_active": false})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.create_user("sol", &["user"]).await;
    let exported = app
        .get("/v1/users/export?with_hashes=true", &app.admin)
        .await
        .text;
    // Into a second, fresh service (its own admin is skipped as a conflict).
    let Some(other) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let reports = import(&other, "", exported.clone().into_bytes()).await;
    let st: Vec<&str> = reports
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(st, ["skipped", "created", "created"]);
    let again = other
        .get("/v1/users/export?with_hashes=true", &other.admin)
        .await
        .text;
    let strip_admin = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.contains("\"username\":\"admin\""))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        strip_admin(&again),
        strip_admin(&exported),
        "equal, field for field"
    );
    // The password moved with the user (sol is active; rosa is disabled).
    other.login_ok("sol", "password-123").await;
    other
        .login("rosa", "rosa-password-1")
        .await
        .assert_problem(403, "account-disabled");
});

/// `latchkey import --from …` on each origin's own export, then logins with the old
/// passwords through a server on that database.
async fn sources(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let url = db.url.clone();
    let run = move |args: Vec<String>| {
        let url = url.clone();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        latchkey_with(
            &url,
            &args,
            &[
                ("LATCHKEY_ARGON2_MEMORY_KIB", "64"),
                ("LATCHKEY_ARGON2_ITERATIONS", "1"),
            ],
            None,
        )
    };
    let cmd = |from: &str, file: &str, extra: &[&str]| {
        let mut v = vec![
            "import".to_owned(),
            fixture_path(file),
            "--from".into(),
            from.into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let weak_file = std::env::temp_dir()
        .join(format!("lk-weak-{}.jsonl", uuid::Uuid::new_v4().simple()))
        .to_string_lossy()
        .into_owned();
    std::fs::write(
        &weak_file,
        "{\"username\":\"md5user\",\"email\":\"md5@example.com\",\"password_hash\":\"4ece57a61323b52ccffdbef021956754\"}\n",
    )
    .unwrap();
    let r = run.clone();
    let weak_path = weak_file.clone();
    let outputs = tokio::task::spawn_blocking(move || {
        let (ok, _, err) = r(vec!["migrate".into()]);
        assert!(ok, "{err}");
        [
            r(cmd("keycloak", "keycloak-realm.json", &[])),
            r(cmd("django", "django-auth-user.json", &[])),
            r(cmd("supabase", "supabase-auth-users.csv", &[])),
            r(cmd("directus", "directus-users.json", &[])),
            r(cmd("fastapi-users", "fastapi-users.csv", &[])),
            r(cmd("keycloak", "keycloak-realm.json", &["--dry-run"])),
            r(vec!["import".into(), fixture_path("nope.jsonl")]),
            r(vec![
                "import".into(),
                weak_path,
                "--accept-weak-hashes".into(),
            ]),
            r(vec!["user".into(), "list".into(), "--weak-hashes".into()]),
        ]
    })
    .await
    .unwrap();
    let reports = |out: &str| -> Vec<Value> {
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (ok, out, err) = &outputs[0];
    assert!(ok, "keycloak: {err}\n{out}");
    let kc = reports(out);
    assert_eq!(kc.len(), 5);
    assert!(kc.iter().all(|r| r["status"] == "created"), "{out}");
    assert!(kc[4]["warning"].as_str().unwrap().contains("no password"));
    assert!(err.contains("5 created"), "{err}");
    let (ok, out, err) = &outputs[1];
    assert!(ok, "django: {err}\n{out}");
    assert_eq!(reports(out).len(), 4);
    // Supabase: the deleted user is refused by name; the command fails for it.
    let (ok, out, _) = &outputs[2];
    assert!(!ok);
    let sb = reports(out);
    assert_eq!(
        (sb[0]["status"].as_str(), sb[1]["status"].as_str()),
        (Some("created"), Some("created"))
    );
    assert!(sb[2]["error"]
        .as_str()
        .unwrap()
        .contains("deleted in Supabase"));
    assert_eq!(sb[0]["line"], 2, "CSV lines count the header");
    for (i, name) in ["directus", "fastapi-users"].iter().enumerate() {
        let (ok, out, err) = &outputs[3 + i];
        assert!(ok, "{name}: {err}\n{out}");
    }
    let (ok, out, err) = &outputs[5];
    assert!(*ok && err.contains("dry run"), "{err}");
    assert!(
        reports(out).iter().all(|r| r["status"] == "skipped"),
        "already there"
    );
    let (ok, _, err) = &outputs[6];
    assert!(!*ok && err.contains("cannot open"), "{err}");
    let (ok, out, err) = &outputs[7];
    assert!(*ok, "{err}");
    assert!(out.contains("accepted as weak"), "{out}");
    let (ok, out, err) = &outputs[8];
    assert!(*ok, "{err}");
    assert!(
        out.contains("md5user") && out.contains("1 of 1 users"),
        "{out}"
    );
    let _ = std::fs::remove_file(&weak_file);

    let inst = Instance::start(&db.url, test_config()).await;
    let http = reqwest::Client::new();
    let passwords: Value = serde_json::from_str(include_str!(
        "../../../latchkey-core/fixtures/sources-passwords.json"
    ))
    .unwrap();
    let realm: Value = serde_json::from_str(include_str!(
        "../../../latchkey-core/fixtures/keycloak-realm.json"
    ))
    .unwrap();
    let mut logins: Vec<(String, String)> = Vec::new();
    for (user, pw) in realm["_latchkey_fixture_passwords"].as_object().unwrap() {
        logins.push((user.clone(), pw.as_str().unwrap().to_owned()));
    }
    for origin in passwords.as_object().unwrap().values() {
        for (user, pw) in origin["passwords"].as_object().unwrap() {
            logins.push((user.clone(), pw.as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(logins.len(), 4 + 3 + 2 + 2 + 2);
    let mut ok = 0;
    for (user, pw) in &logins {
        let r = http
            .post(format!("{}/v1/auth/login", inst.base))
            .json(&json!({"identifier": user, "password": pw}))
            .send()
            .await
            .unwrap();
        // dave (Keycloak), ben (Django), tess (Supabase, banned) and eli (Directus,
        // suspended) were disabled at the origin: the right password, a disabled account.
        let disabled = ["dave", "ben", "tess_s", "eli"].contains(&user.as_str());
        let want = if disabled { 403 } else { 200 };
        assert_eq!(r.status(), want, "{user}");
        ok += 1;
        if !disabled {
            let body: Value = r.json().await.unwrap();
            let me = http
                .get(format!("{}/v1/me", inst.base))
                .bearer_auth(body["access_token"].as_str().unwrap())
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            match user.as_str() {
                "alice" => {
                    assert_eq!(me["roles"], json!(["admin"]));
                    assert_eq!(me["organization"]["name"], "Engineering");
                }
                "root" => assert_eq!(me["roles"], json!(["admin", "staff"])),
                "dee" => assert_eq!(me["roles"], json!(["administrator"])),
                "fay" => assert_eq!(me["roles"], json!(["admin"])),
                "sam" => assert_eq!(me["display_name"], "Sam Supa"),
                _ => {}
            }
        }
    }
    assert_eq!(ok, logins.len());
    inst.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_origins_export_imports_and_its_users_log_in_sqlite() {
    sources(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_origins_export_imports_and_its_users_log_in_postgres() {
    sources(Backend::Postgres).await
}
