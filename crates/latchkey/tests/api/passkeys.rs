//! Passkeys over HTTP, on SQLite and PostgreSQL: registration (several, named), listing,
//! renaming and removal, and the second step of a login, each ceremony answered by
//! webauthn-authenticator-rs's software passkey — an authenticator independent of the
//! server's verifier — with the refusals an attacker would try.

use serde_json::{json, Value};
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;

use crate::dual;
use crate::helpers::*;

/// The origin the server takes for its public URL in tests (helpers.rs).
fn origin(app: &TestApp) -> Url {
    let port = app.inst.base.rsplit(':').next().unwrap();
    Url::parse(&format!("http://localhost:{port}")).unwrap()
}

/// Registers a passkey named `name` for the holder of `token` with `key`; the answer.
async fn register(app: &TestApp, token: &str, key: &mut SoftPasskey, name: &str) -> Reply {
    let r = app
        .call(
            "POST",
            "/v1/me/mfa/passkeys",
            Some(token),
            Some(json!({ "name": name })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let options: CreationChallengeResponse = serde_json::from_value(r.body.clone()).unwrap();
    let credential = key
        .do_registration(origin(app), options)
        .expect("the passkey registers");
    app.call(
        "POST",
        "/v1/me/mfa/passkeys/finish",
        Some(token),
        Some(json!({ "credential": credential })),
    )
    .await
}

/// The passkey's answer for the login waiting on `mfa_token`.
async fn assertion(app: &TestApp, mfa_token: &str, key: &mut SoftPasskey) -> Value {
    let r = app
        .call(
            "POST",
            "/v1/auth/mfa/webauthn",
            None,
            Some(json!({ "mfa_token": mfa_token })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let options: RequestChallengeResponse = serde_json::from_value(r.body.clone()).unwrap();
    let answer = key
        .do_authentication(origin(app), options)
        .expect("the passkey answers");
    serde_json::to_value(answer).unwrap()
}

async fn complete(app: &TestApp, mfa_token: &str, credential: &Value) -> Reply {
    app.call(
        "POST",
        "/v1/auth/mfa",
        None,
        Some(json!({"mfa_token": mfa_token, "method": "webauthn", "credential": credential})),
    )
    .await
}

fn soft() -> SoftPasskey {
    // `true`: the software key reports user verification, which passkeys require.
    SoftPasskey::new(true)
}

dual!(
    passkeys_are_registered_named_and_asked_for_at_login,
    |app| {
        let uid = app.create_user("nia", &[]).await;
        let t = app.token_of("nia").await;
        let other = app.token_of("nia").await;
        let mut laptop = soft();
        let mut key = soft();
        let r = register(&app, &t, &mut laptop, "Work laptop").await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["passkey"]["name"], "Work laptop");
        assert_eq!(
            r.body["recovery_codes"].as_array().unwrap().len(),
            10,
            "first factor"
        );
        app.get("/v1/me", &other)
            .await
            .assert_problem(401, "unauthenticated");
        let r = register(&app, &t, &mut key, "YubiKey").await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(
            r.body.get("recovery_codes").is_none(),
            "only with the first factor"
        );
        let list = app.get("/v1/me/mfa/passkeys", &t).await;
        let names: Vec<&str> = list
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Work laptop", "YubiKey"]);
        let yubikey = list.body[1]["id"].as_str().unwrap().to_owned();
        let s = app.get("/v1/me/mfa", &t).await;
        assert_eq!(s.body["enabled"], true);
        assert_eq!(s.body["passkeys"], 2);
        assert_eq!(s.body["methods"], json!(["webauthn", "recovery_code"]));
        // A new registration tells the authenticator which credentials it holds already.
        let r = app
            .call(
                "POST",
                "/v1/me/mfa/passkeys",
                Some(&t),
                Some(json!({"name": "again"})),
            )
            .await;
        let excluded = r.body["publicKey"]["excludeCredentials"]
            .as_array()
            .unwrap();
        assert_eq!(excluded.len(), 2, "{}", r.text);
        assert_eq!(
            r.body["publicKey"]["authenticatorSelection"]["userVerification"],
            "required"
        );

        // The login waits for a passkey; either works, with the keys' own answers only.
        let login = app.login("nia", "password-123").await;
        assert_eq!(login.body["methods"], json!(["webauthn", "recovery_code"]));
        let m = login.body["mfa_token"].as_str().unwrap().to_owned();
        let answer = assertion(&app, &m, &mut key).await;
        let done = complete(&app, &m, &answer).await;
        assert_eq!(done.status, 200, "{}", done.text);
        assert!(done.body["access_token"].is_string());
        // The same answer again, on a new login: a replay, refused.
        let m2 = app.login("nia", "password-123").await.body["mfa_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let _ = assertion(&app, &m2, &mut laptop).await;
        complete(&app, &m2, &answer)
            .await
            .assert_problem(401, "invalid-mfa-code");
        let fresh = assertion(&app, &m2, &mut laptop).await;
        let r = complete(&app, &m2, &fresh).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let list = app.get("/v1/me/mfa/passkeys", &t).await;
        assert!(
            list.body
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["last_used_at"].is_string()),
            "{}",
            list.text
        );

        // Renaming; removing one (a recent session) leaves the other, and ends other sessions.
        let r = app
            .call(
                "PATCH",
                &format!("/v1/me/mfa/passkeys/{yubikey}"),
                Some(&t),
                Some(json!({"name": "YubiKey 5C"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["name"], "YubiKey 5C");
        let access = done.body["access_token"].as_str().unwrap();
        let r = app
            .call(
                "DELETE",
                &format!("/v1/me/mfa/passkeys/{yubikey}"),
                Some(&t),
                None,
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
        app.get("/v1/me", access)
            .await
            .assert_problem(401, "unauthenticated");
        let s = app.get("/v1/me/mfa", &t).await;
        assert_eq!(s.body["passkeys"], 1);
        assert_eq!(
            s.body["recovery_codes_remaining"], 10,
            "a factor is left, so are the codes"
        );
        // The removed key no longer signs anyone in.
        let m3 = app.login("nia", "password-123").await.body["mfa_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = app
            .call(
                "POST",
                "/v1/auth/mfa/webauthn",
                None,
                Some(json!({ "mfa_token": m3 })),
            )
            .await;
        let options: RequestChallengeResponse = serde_json::from_value(r.body.clone()).unwrap();
        assert!(
            key.do_authentication(origin(&app), options).is_err(),
            "the key has no allowed credential"
        );
        let audit = app
            .get("/v1/audit?action=mfa.passkey.added", &app.admin)
            .await;
        assert_eq!(audit.body["items"].as_array().unwrap().len(), 2);
        assert_eq!(audit.body["items"][0]["target_id"], uid.to_string());
        let logins = app
            .get("/v1/audit?action=login&outcome=success", &app.admin)
            .await;
        assert!(logins.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["detail"] == "second factor: passkey"));
    }
);

dual!(passkey_errors_are_problems_and_change_nothing, |app| {
    let uid = app.create_user("oli", &[]).await;
    let t = app.token_of("oli").await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(65)}), "name"),
        (json!({"name": "tab\there"}), "name"),
    ] {
        let r = app
            .call("POST", "/v1/me/mfa/passkeys", Some(&t), Some(body))
            .await;
        r.assert_problem(422, "invalid-field");
        assert_eq!(r.body["field"], field);
    }
    app.call(
        "POST",
        "/v1/me/mfa/passkeys",
        Some(&t),
        Some(json!({"name": "a", "extra": 1})),
    )
    .await
    .assert_problem(422, "invalid-field");
    // Finishing without beginning, or with something that is not a registration.
    app.call(
        "POST",
        "/v1/me/mfa/passkeys/finish",
        Some(&t),
        Some(json!({"credential": {"id": "x"}})),
    )
    .await
    .assert_problem(422, "invalid-field");
    let mut key = soft();
    let r = app
        .call(
            "POST",
            "/v1/me/mfa/passkeys",
            Some(&t),
            Some(json!({"name": "k"})),
        )
        .await;
    let options: CreationChallengeResponse = serde_json::from_value(r.body.clone()).unwrap();
    let credential = key.do_registration(origin(&app), options).unwrap();
    // Signed for another origin: refused, and the registration is spent.
    let mut wrong = soft();
    let r = app
        .call(
            "POST",
            "/v1/me/mfa/passkeys",
            Some(&t),
            Some(json!({"name": "k"})),
        )
        .await;
    let options: CreationChallengeResponse = serde_json::from_value(r.body.clone()).unwrap();
    let evil = wrong
        .do_registration(Url::parse("http://localhost:1").unwrap(), options)
        .unwrap();
    app.call(
        "POST",
        "/v1/me/mfa/passkeys/finish",
        Some(&t),
        Some(json!({"credential": evil})),
    )
    .await
    .assert_problem(422, "invalid-field");
    // The first begin was replaced by the second: its answer no longer fits anything.
    app.call(
        "POST",
        "/v1/me/mfa/passkeys/finish",
        Some(&t),
        Some(json!({"credential": credential})),
    )
    .await
    .assert_problem(409, "mfa-state");
    assert_eq!(app.get("/v1/me/mfa", &t).await.body["passkeys"], 0);
    app.call(
        "PATCH",
        "/v1/me/mfa/passkeys/nope",
        Some(&t),
        Some(json!({"name": "n"})),
    )
    .await
    .assert_problem(404, "not-found");
    app.call("DELETE", "/v1/me/mfa/passkeys/nope", Some(&t), None)
        .await
        .assert_problem(404, "not-found");
    // Another user's passkey is not theirs to rename or remove.
    let mut mine = soft();
    let r = register(&app, &t, &mut mine, "mine").await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["passkey"]["id"].as_str().unwrap().to_owned();
    app.create_user("pat", &[]).await;
    let pat = app.token_of("pat").await;
    app.call(
        "DELETE",
        &format!("/v1/me/mfa/passkeys/{id}"),
        Some(&pat),
        None,
    )
    .await
    .assert_problem(404, "not-found");
    // A recent session is needed to add or remove one.
    app.age_sessions(uid).await;
    app.call(
        "DELETE",
        &format!("/v1/me/mfa/passkeys/{id}"),
        Some(&t),
        None,
    )
    .await
    .assert_problem(403, "recent-authentication-required");
    app.call(
        "POST",
        "/v1/me/mfa/passkeys",
        Some(&t),
        Some(json!({"name": "late"})),
    )
    .await
    .assert_problem(403, "recent-authentication-required");
    assert_eq!(
        app.get("/v1/me/mfa/passkeys", &t)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The login's passkey step: a token, a method, a credential.
    let m = app.login("oli", "password-123").await.body["mfa_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.call(
        "POST",
        "/v1/auth/mfa/webauthn",
        None,
        Some(json!({"mfa_token": "forged"})),
    )
    .await
    .assert_problem(401, "invalid-mfa-token");
    app.call(
        "POST",
        "/v1/auth/mfa",
        None,
        Some(json!({"mfa_token": m, "method": "webauthn"})),
    )
    .await
    .assert_problem(422, "invalid-field");
    // An answer before any options were asked for, or garbage, is a wrong answer.
    complete(&app, &m, &json!({"id": "x"}))
        .await
        .assert_problem(401, "invalid-mfa-code");
    let answer = assertion(&app, &m, &mut mine).await;
    let r = complete(&app, &m, &answer).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Pat has no passkey: no options for them.
    let pm = {
        let r = app.login("pat", "password-123").await;
        assert!(
            r.body["access_token"].is_string(),
            "no factor, no second step"
        );
        r
    };
    assert!(pm.body.get("mfa_token").is_none());
});

async fn passkeys_need_a_domain_name(backend: Backend) {
    let cfg = latchkey::core::CoreConfig {
        webauthn_origin: Some("http://127.0.0.1:9".into()),
        ..test_config()
    };
    let Some(app) = TestApp::spawn_with(backend, cfg).await else {
        return;
    };
    app.create_user("quin", &[]).await;
    let t = app.token_of("quin").await;
    let r = app
        .call(
            "POST",
            "/v1/me/mfa/passkeys",
            Some(&t),
            Some(json!({"name": "k"})),
        )
        .await;
    r.assert_problem(409, "mfa-state");
    assert!(
        r.body["detail"].as_str().unwrap().contains("domain name"),
        "{}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkeys_need_a_domain_name_on_sqlite() {
    passkeys_need_a_domain_name(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkeys_need_a_domain_name_on_postgres() {
    passkeys_need_a_domain_name(Backend::Postgres).await;
}

dual!(an_admin_reset_removes_passkeys_too, |app| {
    let uid = app.create_user("rue", &[]).await;
    let t = app.token_of("rue").await;
    let mut key = soft();
    assert_eq!(register(&app, &t, &mut key, "k").await.status, 201);
    assert_eq!(
        app.get(&format!("/v1/users/{uid}"), &app.admin).await.body["mfa_enabled"],
        true
    );
    let r = app
        .call(
            "DELETE",
            &format!("/v1/users/{uid}/mfa"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let s = app.get(&format!("/v1/users/{uid}/mfa"), &app.admin).await;
    assert_eq!(s.body["passkeys"], 0);
    assert_eq!(s.body["enabled"], false);
    assert!(app.login_ok("rue", "password-123").await["access_token"].is_string());
});

dual!(passwordless_sign_in_refuses_what_it_cannot_verify, |app| {
    app.create_user("sam", &[]).await;
    let t = app.token_of("sam").await;
    // Registrations ask for a discoverable passkey where the authenticator can make one.
    let r = app
        .call(
            "POST",
            "/v1/me/mfa/passkeys",
            Some(&t),
            Some(json!({"name": "k"})),
        )
        .await;
    assert_eq!(
        r.body["publicKey"]["authenticatorSelection"]["residentKey"], "preferred",
        "{}",
        r.text
    );
    let mut key = soft();
    assert_eq!(register(&app, &t, &mut key, "k").await.status, 201);
    let begin = || app.call("POST", "/v1/auth/passkey/options", None, None);
    let o = begin().await;
    assert_eq!(o.status, 200, "{}", o.text);
    let token = o.body["passkey_token"].as_str().unwrap().to_owned();
    let pk = &o.body["options"]["publicKey"];
    assert_eq!(pk["userVerification"], "required");
    assert_eq!(pk["rpId"], "localhost");
    assert!(
        pk["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{}",
        o.text
    );
    let finish = |token: String, credential: Value| {
        app.call(
            "POST",
            "/v1/auth/passkey",
            None,
            Some(json!({"passkey_token": token, "credential": credential})),
        )
    };
    finish(token.clone(), json!({"id": "x"}))
        .await
        .assert_problem(401, "invalid-credentials");
    finish("forged".into(), json!({"id": "x"}))
        .await
        .assert_problem(401, "invalid-credentials");
    app.call(
        "POST",
        "/v1/auth/passkey",
        None,
        Some(json!({"passkey_token": token})),
    )
    .await
    .assert_problem(422, "invalid-field");
    // A passkey that is not discoverable answers with no user handle: nobody to sign in.
    let options: RequestChallengeResponse =
        serde_json::from_value(o.body["options"].clone()).unwrap();
    if let Ok(answer) = key.do_authentication(origin(&app), options) {
        finish(token.clone(), serde_json::to_value(answer).unwrap())
            .await
            .assert_problem(401, "invalid-credentials");
    }
    // Spent by that attempt, or by none: either way it cannot be used twice.
    finish(token, json!({"id": "x"}))
        .await
        .assert_problem(401, "invalid-credentials");
    let audit = app
        .get("/v1/audit?action=login&outcome=failure", &app.admin)
        .await;
    assert!(audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["detail"] == "passkey sign-in: not recognised"));
    // Nothing of that signed anyone in or changed the user's factors.
    assert_eq!(app.get("/v1/me/mfa", &t).await.body["passkeys"], 1);
});
