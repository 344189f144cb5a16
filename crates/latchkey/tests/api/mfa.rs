//! Second factors over HTTP: TOTP enrollment and login, recovery codes, the `mfa_token`'s
//! limits, recent authentication, admin reset, the dialects' refusal, the hosted page's code
//! step and the ID token's `amr`/`acr`, the CLI reset. Codes come from `totp-lite` and a
//! base32 decoder written here: an implementation independent of the server's.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;

pub(crate) fn unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// RFC 4648 base32, as the secret is shown (unpadded).
pub(crate) fn base32(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {s}"),
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The code of time step `step` for a base32 secret.
pub fn code(secret: &str, step: u64) -> String {
    totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, &base32(secret), step * 30)
}

/// Waits (at most ten seconds) until the current 30-second step has at least 15 seconds
/// left, so a test's codes all fall in one step.
pub(crate) async fn settle() -> u64 {
    let into = unix() % 30;
    if into > 15 {
        tokio::time::sleep(std::time::Duration::from_secs(30 - into + 1)).await;
    }
    unix() / 30
}

pub struct Enrolled {
    pub secret: String,
    pub recovery_codes: Vec<String>,
    /// The step whose code confirmed it (already used).
    pub step: u64,
}

/// Enrolls the app for the holder of `token` with the code of the current step.
pub async fn enroll(app: &TestApp, token: &str) -> Enrolled {
    let step = settle().await;
    let r = app.call("POST", "/v1/me/mfa/totp", Some(token), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let r = app
        .call(
            "POST",
            "/v1/me/mfa/totp/confirm",
            Some(token),
            Some(json!({"code": code(&secret, step)})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let recovery_codes = r.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    Enrolled {
        secret,
        recovery_codes,
        step,
    }
}

/// A password login that must stop at the second factor: its `mfa_token`.
pub async fn mfa_token(app: &TestApp, user: &str) -> String {
    let r = app.login(user, "password-123").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mfa_required"], true, "{}", r.text);
    assert!(r.body.get("access_token").is_none(), "{}", r.text);
    r.body["mfa_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn second(app: &TestApp, token: &str, method: &str, code: &str) -> Reply {
    app.call(
        "POST",
        "/v1/auth/mfa",
        None,
        Some(json!({"mfa_token": token, "method": method, "code": code})),
    )
    .await
}

pub(crate) async fn sessions_of(app: &TestApp, token: &str) -> usize {
    let r = app.get("/v1/me/sessions", token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
        .as_array()
        .map_or_else(|| r.body["items"].as_array().unwrap().len(), |a| a.len())
}

pub(crate) async fn audit(app: &TestApp, action: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/v1/audit?action={action}&per_page=100"),
            &app.admin,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

dual!(an_app_is_enrolled_confirmed_and_asked_for_at_login, |app| {
    let uid = app.create_user("ada", &[]).await;
    let t = app.token_of("ada").await;
    let other = app.token_of("ada").await;
    let r = app.get("/v1/me/mfa", &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"enabled": false, "totp": null, "totp_pending": false, "passkeys": 0,
               "recovery_codes_remaining": 0, "methods": []})
    );
    let step = settle().await;
    let begun = app.call("POST", "/v1/me/mfa/totp", Some(&t), None).await;
    assert_eq!(begun.status, 201, "{}", begun.text);
    let secret = begun.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(base32(&secret).len(), 20, "160 bits");
    let uri = begun.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("ada"), "{uri}");
    let svg = begun.body["qr_svg"].as_str().unwrap();
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{svg}");
    assert_eq!(app.get("/v1/me/mfa", &t).await.body["totp_pending"], true);
    // A pending app is no factor yet: the password alone still logs in.
    assert!(app.login_ok("ada", "password-123").await["access_token"].is_string());
    let confirm = |c: String| {
        app.call(
            "POST",
            "/v1/me/mfa/totp/confirm",
            Some(&t),
            Some(json!({ "code": c })),
        )
    };
    confirm(code(&secret, step + 3))
        .await
        .assert_problem(401, "invalid-mfa-code");
    confirm("".into())
        .await
        .assert_problem(422, "invalid-field");
    assert_eq!(app.get("/v1/me/mfa", &t).await.body["enabled"], false);
    // The edge of the drift window: the previous step's code.
    let ok = confirm(code(&secret, step - 1)).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let codes = ok.body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert!(ok.body["sessions_ended"].as_u64().unwrap() >= 2);
    // The other sessions ended; this one goes on.
    app.get("/v1/me", &other)
        .await
        .assert_problem(401, "unauthenticated");
    let s = app.get("/v1/me/mfa", &t).await;
    assert_eq!(s.body["enabled"], true, "{}", s.text);
    assert!(s.body["totp"]["confirmed_at"].is_string());
    assert_eq!(s.body["recovery_codes_remaining"], 10);
    assert_eq!(s.body["methods"], json!(["totp", "recovery_code"]));
    confirm(code(&secret, step))
        .await
        .assert_problem(409, "mfa-state");
    app.call("POST", "/v1/me/mfa/totp", Some(&t), None)
        .await
        .assert_problem(409, "mfa-state");

    // The login stops at the factor and opens no session.
    let before = sessions_of(&app, &t).await;
    let m = app.login("ada@example.com", "password-123").await;
    assert_eq!(m.body["methods"], json!(["totp", "recovery_code"]));
    assert!(m.body["expires_at"].is_string());
    let token = m.body["mfa_token"].as_str().unwrap().to_owned();
    assert_eq!(sessions_of(&app, &t).await, before);
    // Two steps ahead is outside the window; the step that confirmed is used.
    second(&app, &token, "totp", &code(&secret, step + 2))
        .await
        .assert_problem(401, "invalid-mfa-code");
    let replay = second(&app, &token, "totp", &code(&secret, step - 1)).await;
    replay.assert_problem(401, "invalid-mfa-code");
    assert!(
        replay.body["detail"]
            .as_str()
            .unwrap()
            .contains("3 attempts left"),
        "{}",
        replay.text
    );
    // The other edge of the window: the next step's code.
    let done = second(&app, &token, "totp", &code(&secret, step + 1)).await;
    assert_eq!(done.status, 200, "{}", done.text);
    let access = done.body["access_token"].as_str().unwrap();
    assert_eq!(done.body["user"]["id"], uid);
    assert!(done.body.get("recovery_codes_remaining").is_none());
    assert_eq!(app.get("/v1/me", access).await.status, 200);
    assert_eq!(sessions_of(&app, &t).await, before + 1);
    // Each code works once, on a new login too: every step up to the last used is spent.
    let again = mfa_token(&app, "ada").await;
    for s in [step, step + 1] {
        second(&app, &again, "totp", &code(&secret, s))
            .await
            .assert_problem(401, "invalid-mfa-code");
    }
    let ok = audit(&app, "mfa.totp.enrolled").await;
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["target_id"], uid.to_string());
    let fails = audit(&app, "login.mfa").await;
    assert_eq!(fails.len(), 4, "{fails:?}");
    let logins = audit(&app, "login").await;
    assert!(logins
        .iter()
        .any(|e| e["detail"] == "second factor: totp" && e["outcome"] == "success"));
    let metrics = app.send(app.http.get(app.url("/metrics"))).await.text;
    assert!(
        metrics.contains("latchkey_mfa_verifications_total{method=\"totp\",outcome=\"success\"}")
            || metrics
                .contains("latchkey_mfa_verifications_total{outcome=\"success\",method=\"totp\"}"),
        "{metrics}"
    );
});

dual!(recovery_codes_work_once_and_are_replaced, |app| {
    app.create_user("bo", &[]).await;
    let t = app.token_of("bo").await;
    let e = enroll(&app, &t).await;
    // As typed by a person: lower case, without the dash.
    let typed = e.recovery_codes[0].to_lowercase().replace('-', "");
    let m = mfa_token(&app, "bo").await;
    let r = second(&app, &m, "recovery_code", &typed).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["recovery_codes_remaining"], 9);
    assert_eq!(
        app.get("/v1/me/mfa", &t).await.body["recovery_codes_remaining"],
        9
    );
    let used = audit(&app, "mfa.recovery_code_used").await;
    assert_eq!(used.len(), 1);
    assert_eq!(used[0]["detail"], "9 left");
    let m = mfa_token(&app, "bo").await;
    second(&app, &m, "recovery_code", &e.recovery_codes[0])
        .await
        .assert_problem(401, "invalid-mfa-code");
    second(&app, &m, "recovery_code", "not-a-code")
        .await
        .assert_problem(401, "invalid-mfa-code");
    // A TOTP code is not a recovery code, nor the other way round.
    second(&app, &m, "recovery_code", &code(&e.secret, e.step + 1))
        .await
        .assert_problem(401, "invalid-mfa-code");
    second(&app, &m, "totp", &e.recovery_codes[1])
        .await
        .assert_problem(401, "invalid-mfa-code");
    let fresh = app
        .call("POST", "/v1/me/mfa/recovery-codes", Some(&t), None)
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);
    let new: Vec<String> = fresh.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !e.recovery_codes.contains(c)));
    assert_eq!(
        app.get("/v1/me/mfa", &t).await.body["recovery_codes_remaining"],
        10
    );
    let m = mfa_token(&app, "bo").await;
    second(&app, &m, "recovery_code", &e.recovery_codes[1])
        .await
        .assert_problem(401, "invalid-mfa-code");
    let r = second(&app, &m, "recovery_code", &new[9]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(audit(&app, "mfa.recovery_codes.regenerated").await.len(), 1);
});

dual!(
    an_mfa_token_is_good_once_for_five_wrong_codes_and_five_minutes,
    |app| {
        app.create_user("cy", &[]).await;
        let t = app.token_of("cy").await;
        let e = enroll(&app, &t).await;
        let good = code(&e.secret, e.step + 1);
        let bad = code(&e.secret, e.step + 5);
        // The body is checked first, in the API's envelope.
        let m = mfa_token(&app, "cy").await;
        second(&app, &m, "sms", &good)
            .await
            .assert_problem(422, "invalid-field");
        second(&app, &m, "totp", " ")
            .await
            .assert_problem(422, "invalid-field");
        app.call(
            "POST",
            "/v1/auth/mfa",
            None,
            Some(json!({"mfa_token": m, "code": good})),
        )
        .await
        .assert_problem(422, "invalid-field");
        app.raw(
            "POST",
            "/v1/auth/mfa",
            None,
            "application/json",
            b"{".to_vec(),
        )
        .await
        .assert_problem(400, "malformed-body");
        second(&app, "forged", "totp", &good)
            .await
            .assert_problem(401, "invalid-mfa-token");
        second(&app, &"x".repeat(500), "totp", &good)
            .await
            .assert_problem(401, "invalid-mfa-token");
        // None of that counted: five wrong codes still.
        for left in [4, 3, 2, 1] {
            let r = second(&app, &m, "totp", &bad).await;
            r.assert_problem(401, "invalid-mfa-code");
            let detail = r.body["detail"].as_str().unwrap();
            let want = if left == 1 {
                "1 attempt left".to_owned()
            } else {
                format!("{left} attempts left")
            };
            assert!(detail.contains(&want), "{detail}");
        }
        second(&app, &m, "totp", &bad)
            .await
            .assert_problem(401, "invalid-mfa-token");
        // Spent: even the right code is refused now.
        second(&app, &m, "totp", &good)
            .await
            .assert_problem(401, "invalid-mfa-token");
        // Used once, it is spent too.
        let m = mfa_token(&app, "cy").await;
        let r = second(&app, &m, "totp", &good).await;
        assert_eq!(r.status, 200, "{}", r.text);
        second(&app, &m, "recovery_code", &e.recovery_codes[0])
            .await
            .assert_problem(401, "invalid-mfa-token");
        // Five minutes, then gone.
        let m = mfa_token(&app, "cy").await;
        app.sql("UPDATE mfa_challenges SET expires_at = 1").await;
        second(&app, &m, "recovery_code", &e.recovery_codes[0])
            .await
            .assert_problem(401, "invalid-mfa-token");
        assert_eq!(
            app.get("/v1/me/mfa", &t).await.body["recovery_codes_remaining"],
            10
        );
        // Wrong codes count toward the account's lock (ten failures by default), and the right
        // password in between does not clear the count (it would buy five guesses per login):
        // two spent tokens lock it, and then the password alone gets 429.
        for _ in 0..2 {
            let m = mfa_token(&app, "cy").await;
            for _ in 0..5 {
                second(&app, &m, "recovery_code", "wrong-wrong").await;
            }
        }
        app.login("cy", "password-123")
            .await
            .assert_problem(429, "rate-limited");
    }
);

dual!(
    changing_a_factor_needs_a_recent_session_and_ends_the_others,
    |app| {
        let uid = app.create_user("di", &[]).await;
        let t = app.token_of("di").await;
        app.call(
            "POST",
            "/v1/me/mfa/totp/confirm",
            Some(&t),
            Some(json!({"code": "123456"})),
        )
        .await
        .assert_problem(409, "mfa-state");
        app.call("DELETE", "/v1/me/mfa/totp", Some(&t), None)
            .await
            .assert_problem(409, "mfa-state");
        app.call("POST", "/v1/me/mfa/recovery-codes", Some(&t), None)
            .await
            .assert_problem(409, "mfa-state");
        app.call(
            "POST",
            "/v1/me/mfa/totp/confirm",
            Some(&t),
            Some(json!({"code": 123456})),
        )
        .await
        .assert_problem(422, "invalid-field");
        app.call("GET", "/v1/me/mfa", None, None)
            .await
            .assert_problem(401, "unauthenticated");
        let e = enroll(&app, &t).await;
        let old = t;
        app.age_sessions(uid).await;
        for (method, path) in [
            ("DELETE", "/v1/me/mfa/totp"),
            ("POST", "/v1/me/mfa/recovery-codes"),
        ] {
            app.call(method, path, Some(&old), None)
                .await
                .assert_problem(403, "recent-authentication-required");
        }
        assert_eq!(app.get("/v1/me/mfa", &old).await.body["enabled"], true);
        // Logging in again (password and factor) is the recent authentication.
        let m = mfa_token(&app, "di").await;
        let fresh = second(&app, &m, "totp", &code(&e.secret, e.step + 1)).await;
        let fresh = fresh.body["access_token"].as_str().unwrap().to_owned();
        let r = app
            .call("DELETE", "/v1/me/mfa/totp", Some(&fresh), None)
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
        app.get("/v1/me", &old)
            .await
            .assert_problem(401, "unauthenticated");
        let s = app.get("/v1/me/mfa", &fresh).await;
        assert_eq!(s.body["enabled"], false);
        assert_eq!(s.body["recovery_codes_remaining"], 0);
        assert!(app.login_ok("di", "password-123").await["access_token"].is_string());
        assert_eq!(audit(&app, "mfa.totp.removed").await.len(), 1);
        // An enrollment from an old session cannot be confirmed.
        let begun = app
            .call("POST", "/v1/me/mfa/totp", Some(&fresh), None)
            .await;
        let secret = begun.body["secret"].as_str().unwrap().to_owned();
        app.age_sessions(uid).await;
        app.call(
            "POST",
            "/v1/me/mfa/totp/confirm",
            Some(&fresh),
            Some(json!({"code": code(&secret, unix() / 30)})),
        )
        .await
        .assert_problem(403, "recent-authentication-required");
        assert_eq!(app.get("/v1/me/mfa", &fresh).await.body["enabled"], false);
    }
);

dual!(an_admin_sees_and_resets_a_users_factors, |app| {
    let uid = app.create_user("ed", &[]).await;
    let t = app.token_of("ed").await;
    app.get(&format!("/v1/users/{uid}/mfa"), &t)
        .await
        .assert_problem(403, "forbidden");
    app.get("/v1/users/999999/mfa", &app.admin)
        .await
        .assert_problem(404, "not-found");
    app.call(
        "DELETE",
        &format!("/v1/users/{uid}/mfa"),
        Some(&app.admin),
        None,
    )
    .await
    .assert_problem(409, "mfa-state");
    enroll(&app, &t).await;
    let s = app.get(&format!("/v1/users/{uid}/mfa"), &app.admin).await;
    assert_eq!(s.body["enabled"], true, "{}", s.text);
    app.call("DELETE", &format!("/v1/users/{uid}/mfa"), Some(&t), None)
        .await
        .assert_problem(403, "forbidden");
    let r = app
        .call(
            "DELETE",
            &format!("/v1/users/{uid}/mfa"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.get("/v1/me", &t)
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(
        app.get(&format!("/v1/users/{uid}/mfa"), &app.admin)
            .await
            .body["enabled"],
        false
    );
    assert!(app.login_ok("ed", "password-123").await["access_token"].is_string());
    let reset = audit(&app, "mfa.reset").await;
    assert_eq!(reset.len(), 1);
    assert_eq!(reset[0]["actor"], "admin");
    assert_eq!(reset[0]["target_id"], uid.to_string());
});

dual!(the_cli_resets_a_users_factors, |app| {
    let uid = app.create_user("jo", &[]).await;
    let t = app.token_of("jo").await;
    enroll(&app, &t).await;
    let url = app.db_url().to_owned();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        crate::cli::latchkey_with(&url, &["user", "mfa-reset", "jo"], &[], None)
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains(&format!("user {uid}")), "{out}");
    // Its sessions end on the running instance too, and the password alone logs in.
    let ended =
        within_a_second_and_a_half(|| async { app.get("/v1/me", &t).await.status == 401 }).await;
    assert!(ended, "the session outlived the reset");
    assert!(app.login_ok("jo", "password-123").await["access_token"].is_string());
    assert_eq!(audit(&app, "mfa.reset").await.len(), 1);
    let url = app.db_url().to_owned();
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        crate::cli::latchkey_with(&url, &["user", "mfa-reset", "jo"], &[], None)
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(err.contains("no second factor"), "{err}");
    let url = app.db_url().to_owned();
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        crate::cli::latchkey_with(&url, &["user", "mfa-reset", "nobody"], &[], None)
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(
        err.contains("not found") || err.contains("no user"),
        "{err}"
    );
});
