//! What the indexes and caches behind the fast paths must never change: search answers,
//! list totals, and `GET /v1/me` after every kind of change (see docs/performance.md).

use serde_json::json;

use crate::dual;
use crate::helpers::*;

fn names(r: &Reply) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", r.text))
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

async fn set_name(app: &TestApp, id: i64, first: &str) {
    let r = app
        .call(
            "PATCH",
            &format!("/v1/users/{id}"),
            Some(&app.admin),
            Some(json!({ "first_name": first })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

dual!(
    search_through_the_index_is_an_exact_substring_match,
    |app| {
        let kate = app.create_user("kate", &[]).await;
        let olaf = app.create_user("olaf", &["staff"]).await;
        app.create_user("katerina", &[]).await;
        app.create_user("bob", &[]).await;
        set_name(&app, olaf, "Ölafür").await;
        set_name(&app, kate, "Katharine").await;

        let search = |q: &str| {
            let path = format!("/v1/users?per_page=100&q={}", urlencode(q));
            let q = q.to_owned();
            let app = &app;
            async move {
                let r = app.get(&path, &app.admin).await;
                assert_eq!(r.status, 200, "q={q}: {}", r.text);
                r
            }
        };
        // Substrings inside words, any case, non-ASCII folded the same way as stored.
        let r = search("ATE").await;
        assert_eq!(names(&r), ["kate", "katerina"]);
        assert_eq!(r.body["total"], 2);
        assert_eq!(names(&search("ölAF").await), ["olaf"]);
        assert_eq!(names(&search("harin").await), ["kate"]);
        // Across the fields joined for search (username, email, names).
        assert_eq!(names(&search("olaf@example").await), ["olaf"]);
        assert_eq!(names(&search("olaf olaf@").await), ["olaf"]);
        // Query syntax of the index is just text here: no error, no wider match.
        for q in [
            "\"kate",
            "kate\"",
            "kat*",
            "kate OR bob",
            "NEAR(kate bob)",
            "-kate",
            "k:ate",
            "^kat",
        ] {
            let r = search(q).await;
            assert_eq!(r.body["total"], 0, "q={q}: {}", r.text);
            assert!(names(&r).is_empty(), "q={q}");
        }
        // Short terms (one or two characters: the short-gram index, migration 0016) match
        // as substrings too, non-ASCII and punctuation included, any case.
        assert_eq!(names(&search("ob").await), ["bob"]);
        assert_eq!(names(&search("OB").await), ["bob"]);
        assert_eq!(names(&search("ö").await), ["olaf"]);
        assert_eq!(names(&search("ür").await), ["olaf"]);
        assert_eq!(names(&search("b").await), ["bob"]);
        assert_eq!(search("@").await.body["total"], 5, "every address");
        assert_eq!(search("e").await.body["total"], 5);
        assert_eq!(search("zq").await.body["total"], 0);
        assert_eq!(search("\"").await.body["total"], 0);
        let r = app.get("/v1/users?q=la&role=staff", &app.admin).await;
        assert_eq!(names(&r), ["olaf"], "a short term with another filter");
        let r = app
            .get("/v1/users?q=a&sort=-id&per_page=2&page=2", &app.admin)
            .await;
        assert_eq!(names(&r), ["olaf", "kate"], "{}", r.text);

        // Keyset and offset pages through the matches, both directions.
        for sort in ["id", "-id", "username"] {
            let mut seen = Vec::new();
            let mut cursor = String::new();
            for _ in 0..5 {
                let r = app
                    .get(
                        &format!("/v1/users?q=example.com&per_page=2&sort={sort}&cursor={cursor}"),
                        &app.admin,
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
                assert_eq!(r.body["total"], 5);
                seen.extend(names(&r));
                match r.body["next_cursor"].as_str() {
                    Some(c) => cursor = c.to_owned(),
                    None => break,
                }
            }
            let mut expected = vec!["admin", "kate", "olaf", "katerina", "bob"];
            match sort {
                "-id" => expected.reverse(),
                "username" => expected.sort(),
                _ => {}
            }
            assert_eq!(seen, expected, "sort {sort}");
        }
        let r = app
            .get("/v1/users?q=kate&per_page=1&page=2", &app.admin)
            .await;
        assert_eq!(names(&r), ["katerina"]);
        assert_eq!(r.body["total"], 2);
        // Combined with another filter.
        let r = app.get("/v1/users?q=ola&role=staff", &app.admin).await;
        assert_eq!(names(&r), ["olaf"]);
        let r = app.get("/v1/users?q=kat&role=staff", &app.admin).await;
        assert_eq!(r.body["total"], 0);

        // The index follows changes and deletions.
        let r = app
            .call(
                "PATCH",
                &format!("/v1/users/{kate}"),
                Some(&app.admin),
                Some(json!({ "email": "k.w@elsewhere.org", "first_name": null })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(names(&search("harin").await).is_empty());
        assert!(names(&search("kate@example").await).is_empty());
        assert!(
            names(&search("th").await).is_empty(),
            "the short grams follow changes"
        );
        assert_eq!(names(&search("k.").await), ["kate"]);
        assert_eq!(names(&search("elsewhere").await), ["kate"]);
        let r = app
            .call(
                "DELETE",
                &format!("/v1/users/{olaf}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
        assert!(names(&search("lafü").await).is_empty());
        assert!(names(&search("ö").await).is_empty(), "and deletions");
        assert_eq!(search("example.com").await.body["total"], 3);
    }
);

dual!(list_totals_stay_exact_through_creates_and_deletes, |app| {
    assert_eq!(app.user_count().await, 1);
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(app.create_user(&format!("user{n}"), &[]).await);
    }
    assert_eq!(app.user_count().await, 5);
    // A refused create changes nothing.
    let r = app
        .call(
            "POST",
            "/v1/users",
            Some(&app.admin),
            Some(
                json!({"username": "user1", "email": "x@example.com", "password": "password-123"}),
            ),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(app.user_count().await, 5);
    app.call(
        "DELETE",
        &format!("/v1/users/{}", ids[0]),
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(app.user_count().await, 4);
    // Public sign-up counts too.
    let r = app
        .call(
            "POST",
            "/v1/auth/register",
            None,
            Some(json!({"username": "signup", "email": "signup@example.com", "password": "password-123"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(app.user_count().await, 5);
    // The user-profiles dialect's total reads the same count.
    let r = app
        .get(
            &TestApp::at("user-profiles", "/users/pagination?page=1&per_page=2"),
            &app.admin,
        )
        .await;
    assert_eq!(r.body["total_users"], 5, "{}", r.text);
    // org-users' bulk delete keeps only the caller.
    let r = app
        .call(
            "DELETE",
            &TestApp::at("org-users", "/users/"),
            Some(&app.admin),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_eq!(app.user_count().await, 1);
});

dual!(me_is_fresh_after_every_kind_of_change, |app| {
    let id = app.create_user("nina", &[]).await;
    let token = app.token_of("nina").await;
    let me = || async {
        let r = app.get("/v1/me", &token).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body
    };
    let first = me().await;
    assert_eq!(first["first_name"], json!(null));

    // Own profile change.
    let r = app
        .call(
            "PATCH",
            "/v1/me",
            Some(&token),
            Some(json!({"first_name": "Nina"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(me().await["first_name"], "Nina");
    // An admin's change.
    set_name(&app, id, "Nine").await;
    assert_eq!(me().await["first_name"], "Nine");
    // A role granted.
    let r = app
        .call(
            "POST",
            "/v1/role-assignments",
            Some(&app.admin),
            Some(json!({"user_id": id, "role": "auditor"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_eq!(me().await["roles"], json!(["auditor"]));
    // Organization joined, renamed, deleted.
    let r = app
        .call(
            "POST",
            "/v1/organizations",
            Some(&app.admin),
            Some(json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let org = r.body["id"].as_i64().unwrap();
    let r = app
        .call(
            "PUT",
            &format!("/v1/organizations/{org}/members/{id}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_eq!(me().await["organization"]["name"], "Acme");
    let r = app
        .call(
            "PATCH",
            &format!("/v1/organizations/{org}"),
            Some(&app.admin),
            Some(json!({"name": "Acme Ltd"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(me().await["organization"]["name"], "Acme Ltd");
    let r = app
        .call(
            "DELETE",
            &format!("/v1/organizations/{org}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(me().await["organization"], json!(null));
    // A password change moves updated_at (and keeps this session).
    let before = me().await["updated_at"].clone();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let r = app
        .call(
            "PUT",
            "/v1/me/password",
            Some(&token),
            Some(json!({"current_password": "password-123", "new_password": "another-pass-9"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_ne!(me().await["updated_at"], before);
    // The citizen-portal profile reads the same record.
    let r = app
        .get(&TestApp::at("citizen-portal", "/auth/profile"), &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Nine"), "{}", r.text);
});

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

dual!(search_pages_by_number_and_cursor_in_both_orders, |app| {
    // 23 matches among others: every page, by number and by cursor, both directions, is the
    // matches' id order cut where it should be (the collected-ids path on both databases).
    let mut ids = Vec::new();
    for i in 0..30 {
        let name = if i % 4 == 3 {
            format!("other{i}")
        } else {
            format!("pagefind{i}")
        };
        let r = app
            .call(
                "POST",
                "/v1/users",
                Some(&app.admin),
                Some(
                    json!({"username": name, "email": format!("{name}@example.com"),
                            "password": "correct horse battery staple"}),
                ),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        if i % 4 != 3 {
            ids.push(r.body["id"].as_i64().unwrap());
        }
    }
    assert_eq!(ids.len(), 23);
    for (sort, order) in [
        ("id", ids.clone()),
        ("-id", ids.iter().rev().copied().collect::<Vec<_>>()),
    ] {
        for page in 1..=5u64 {
            let r = app
                .get(
                    &format!("/v1/users?q=pagefind&sort={sort}&per_page=7&page={page}"),
                    &app.admin,
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.body["total"], 23);
            assert_eq!(r.body["total_relation"], "eq");
            let want: Vec<i64> = order
                .iter()
                .skip(((page - 1) * 7) as usize)
                .take(7)
                .copied()
                .collect();
            assert_eq!(r.item_ids(), want, "page {page} by {sort}");
        }
        let mut seen = Vec::new();
        let mut cursor = String::new();
        for _ in 0..10 {
            let r = app
                .get(
                    &format!("/v1/users?q=pagefind&sort={sort}&per_page=5&cursor={cursor}"),
                    &app.admin,
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            seen.extend(r.item_ids());
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen, order, "the cursor walk by {sort}");
    }
    // A term with no match: an empty page, total 0.
    let r = app.get("/v1/users?q=nobodyhasthis", &app.admin).await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 0);
});
