//! Mail over HTTP, delivered by Latchkey's real SMTP client (lettre) to an SMTP server in the
//! test (`smtp_sink`): password reset, email verification (optional and required, in every
//! envelope), email change, invitations, the limits, templates (the outbox's own tests are in
//! `outbox.rs`). Tests follow the links and tokens of the mails they receive.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;
use crate::smtp_sink::Sink;
use latchkey::core::mail::{MailConfig, MailPolicy, Templates, Transport, Verification};
use latchkey::core::CoreConfig;
use latchkey::mail::{SmtpTransport, SmtpUrl};

/// The core's configuration with mail delivered to `port` (retries after a second).
pub fn mail_config(port: u16) -> CoreConfig {
    let url = SmtpUrl::parse(&format!("smtp://127.0.0.1:{port}"), None).unwrap();
    CoreConfig {
        mail: MailConfig {
            transport: Some(Transport(Arc::new(SmtpTransport::new(url).unwrap()))),
            from: "Example ID <id@example.com>".into(),
            poll_interval: Duration::from_millis(100),
            // Instances started without a public URL (the apps' is their address).
            public_url: None,
            policy: MailPolicy {
                retry_base_secs: 1,
                retry_max_secs: 1,
                ..MailPolicy::default()
            },
            ..MailConfig::default()
        },
        ..test_config()
    }
}

/// Runs a body on SQLite and PostgreSQL with an SMTP sink and an app that mails to it;
/// `$cfg` adjusts the configuration.
macro_rules! mail_dual {
    ($name:ident, |$cfg:ident| $adjust:block, |$app:ident, $sink:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run(backend: Backend) {
                let $sink = Sink::start().await;
                #[allow(unused_mut)]
                let mut $cfg = mail_config($sink.port);
                $adjust
                if let Some($app) = TestApp::spawn_with(backend, $cfg).await {
                    $body
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(Backend::Postgres).await
            }
        }
    };
}

async fn request_reset(app: &TestApp, email: &str) -> Reply {
    app.call(
        "POST",
        "/v1/auth/password-reset",
        None,
        Some(json!({ "email": email })),
    )
    .await
}

async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> Reply {
    app.call(
        "POST",
        "/v1/auth/password-reset/confirm",
        None,
        Some(json!({ "token": token, "new_password": password })),
    )
    .await
}

async fn me(app: &TestApp, token: &str) -> Value {
    let r = app.get("/v1/me", token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn outbox(app: &TestApp, query: &str) -> Value {
    let r = app.get(&format!("/v1/mail{query}"), &app.admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

mail_dual!(password_reset_end_to_end, |cfg| {}, |app, sink| {
    app.create_user("ada", &[]).await;
    let session = app.token_of("ada").await;

    let r = request_reset(&app, "Ada@Example.com").await;
    assert_eq!(r.status, 202, "{}", r.text);
    let mail = sink.one("ada@example.com").await;
    assert_eq!(mail.subject, "Reset your Latchkey password");
    assert!(mail.from.contains("id@example.com"));
    let link = mail.link();
    assert!(
        link.starts_with(&format!("{}/reset-password?token=", app.inst.base)),
        "{link}"
    );
    // The HTML part has the link too (escaped for HTML: `/` as `&#x2f;`).
    assert!(
        mail.html.replace("&#x2f;", "/").contains(&link),
        "{}",
        mail.html
    );
    let token = mail.token();
    assert_eq!(token.len(), 43, "256 bits, base64url");
    // Never stored as given.
    assert!(!outbox(&app, "").await.to_string().contains(&token));

    // A password the policy refuses uses nothing up.
    confirm_reset(&app, &token, "short")
        .await
        .assert_problem(422, "invalid-field");
    confirm_reset(&app, &token, "password")
        .await
        .assert_problem(422, "invalid-field");
    assert_eq!(app.login("ada", "password-123").await.status, 200);

    let r = confirm_reset(&app, &token, "a-new-passphrase-9").await;
    assert_eq!(r.status, 204, "{}", r.text);
    // Every session ended; the old password is gone, the new one works.
    app.get("/v1/me", &session)
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(app.login("ada", "password-123").await.status, 401);
    let t = app.login_ok("ada", "a-new-passphrase-9").await;
    // The mail reached the address: it counts as verified.
    assert_eq!(t["user"]["email_verified"], true);
    // Single use.
    confirm_reset(&app, &token, "another-passphrase-9")
        .await
        .assert_problem(400, "invalid-token");
    confirm_reset(&app, "not-a-token", "another-passphrase-9")
        .await
        .assert_problem(400, "invalid-token");
    let audit = app.get("/v1/audit?action=password.reset", &app.admin).await;
    assert_eq!(audit.body["total"], 1, "{}", audit.text);
    let sent = outbox(&app, "?status=sent").await;
    assert_eq!(sent["items"][0]["kind"], "password_reset");
    assert_eq!(sent["items"][0]["recipient"], "ada@example.com");
    assert!(sent["items"][0]["sent_at"].is_string());
    // Bad input: a clear problem, never a 500.
    let r = app
        .call("POST", "/v1/auth/password-reset", None, Some(json!({})))
        .await;
    r.assert_problem(422, "invalid-field");
    request_reset(&app, "")
        .await
        .assert_problem(422, "invalid-field");
    request_reset(&app, &"a".repeat(300))
        .await
        .assert_problem(422, "invalid-field");
});

mail_dual!(
    unknown_addresses_are_answered_like_known_ones,
    |cfg| {},
    |app, sink| {
        app.create_user("ada", &[]).await;
        let known = request_reset(&app, "ada@example.com").await;
        let unknown = request_reset(&app, "nobody@example.com").await;
        assert_eq!(known.status, 202);
        assert_eq!(unknown.status, known.status);
        assert_eq!(unknown.text, known.text);
        let names = |r: &Reply| {
            let mut v: Vec<String> = r.headers.keys().map(|k| k.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(names(&unknown), names(&known));
        sink.one("ada@example.com").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(sink.to("nobody@example.com").is_empty());
        assert_eq!(sink.all().len(), 1);
        // The unknown address is in the audit log, for the admins, as a failure.
        let a = app
            .get(
                "/v1/audit?action=password.reset_requested&outcome=failure",
                &app.admin,
            )
            .await;
        assert_eq!(a.body["total"], 1, "{}", a.text);
    }
);

mail_dual!(
    reset_tokens_are_superseded_and_expire,
    |cfg| {},
    |app, sink| {
        app.create_user("ada", &[]).await;
        request_reset(&app, "ada@example.com").await;
        let first = sink.wait_for("ada@example.com", 1, 10).await[0].token();
        request_reset(&app, "ada@example.com").await;
        let second = sink.wait_for("ada@example.com", 2, 10).await[1].token();
        assert_ne!(first, second);
        confirm_reset(&app, &first, "a-new-passphrase-9")
            .await
            .assert_problem(400, "invalid-token");
        // Expired (made old under the service): refused, and the password stays.
        app.sql("UPDATE mail_tokens SET expires_at = 1").await;
        confirm_reset(&app, &second, "a-new-passphrase-9")
            .await
            .assert_problem(400, "invalid-token");
        assert_eq!(app.login("ada", "password-123").await.status, 200);
        // The hosted page says so too.
        let page = app
            .send(
                app.http
                    .get(app.url(&format!("/reset-password?token={second}"))),
            )
            .await;
        assert_eq!(page.status, 400);
        assert!(
            page.text.contains("This link no longer works"),
            "{}",
            page.text
        );
    }
);

mail_dual!(
    email_verification_on_sign_up_and_on_request,
    |cfg| {},
    |app, sink| {
        let r = app
        .call(
            "POST",
            "/v1/auth/register",
            None,
            Some(json!({"username": "bea", "email": "bea@example.com", "password": "password-123"})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["email_verified"], false);
        let mail = sink.one("bea@example.com").await;
        assert!(
            mail.subject.starts_with("Confirm your email address"),
            "{}",
            mail.subject
        );
        assert!(mail.link().contains("/verify-email?token="));
        let token = app.token_of("bea").await;
        assert_eq!(me(&app, &token).await["email_verified"], false);

        // A new link on request replaces the first.
        let r = app
            .call("POST", "/v1/me/email/verify", Some(&token), None)
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.body["sent"], true);
        let mails = sink.wait_for("bea@example.com", 2, 10).await;
        let (old, new) = (mails[0].token(), mails[1].token());
        let verify = |t: String| {
            let app = &app;
            async move {
                app.call(
                    "POST",
                    "/v1/auth/verify-email",
                    None,
                    Some(json!({ "token": t })),
                )
                .await
            }
        };
        verify(old).await.assert_problem(400, "invalid-token");
        let r = verify(new.clone()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.body,
            json!({"email": "bea@example.com", "email_verified": true})
        );
        assert_eq!(me(&app, &token).await["email_verified"], true);
        verify(new).await.assert_problem(400, "invalid-token");
        // Nothing more to send.
        let r = app
            .call("POST", "/v1/me/email/verify", Some(&token), None)
            .await;
        assert_eq!(r.body["sent"], false, "{}", r.text);
        // Changing the address another way makes it unverified again.
        let r = app
            .call(
                "PATCH",
                "/v1/me",
                Some(&token),
                Some(json!({"email": "bea2@example.com"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(me(&app, &token).await["email_verified"], false);
        app.call("POST", "/v1/me/email/verify", None, None)
            .await
            .assert_problem(401, "unauthenticated");
    }
);

mail_dual!(
    required_verification_refuses_logins_in_every_envelope,
    |cfg| {
        cfg.mail.verification = Verification::Required;
    },
    |app, sink| {
        app.create_user("cy", &[]).await;
        app.login("cy", "password-123")
            .await
            .assert_problem(403, "email-not-verified");
        let msg = "Email address not verified: follow the link in the verification mail we sent, then sign in again";
        let login = |path: String, body: Value| {
            let app = &app;
            async move { app.call("POST", &path, None, Some(body)).await }
        };
        let r = login(
            TestApp::at("auth-admin", "/auth/login"),
            json!({"username": "cy", "password": "password-123"}),
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), &r.body),
            (403, &json!({ "message": msg }))
        );
        let r = login(
            TestApp::at("user-profiles", "/login"),
            json!({"email": "cy@example.com", "password": "password-123"}),
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), &r.body),
            (403, &json!({ "error": msg }))
        );
        let nest = json!({"statusCode": 403, "message": msg, "error": "Forbidden"});
        let r = login(
            TestApp::at("org-users", "/users/login"),
            json!({"username": "cy", "password": "password-123"}),
        )
        .await;
        assert_eq!((r.status.as_u16(), &r.body), (403, &nest), "{}", r.text);
        let r = login(
            TestApp::at("citizen-portal", "/auth/login"),
            json!({"emailOrUsername": "cy@example.com", "password": "password-123"}),
        )
        .await;
        assert_eq!((r.status.as_u16(), &r.body), (403, &nest), "{}", r.text);
        // A wrong password says nothing about verification.
        app.login("cy", "wrong-password-1")
            .await
            .assert_problem(401, "invalid-credentials");
        // Each refused login sent a fresh link, up to the per-address limit (5 an hour).
        let mails = sink.wait_for("cy@example.com", 5, 10).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sink.to("cy@example.com").len(), 5);
        let latest = mails.last().unwrap().token();
        let r = app
            .call(
                "POST",
                "/v1/auth/verify-email",
                None,
                Some(json!({ "token": latest })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(app.login("cy", "password-123").await.status, 200);
        // The bootstrap admin's address counts as verified (the operator chose it).
        assert_eq!(app.login("admin", ADMIN_PASSWORD).await.status, 200);
    }
);

mail_dual!(
    email_change_is_confirmed_from_the_new_address,
    |cfg| {},
    |app, sink| {
        app.create_user("dee", &[]).await;
        app.create_user("eve", &[]).await;
        let token = app.token_of("dee").await;
        let change = |new: &str, pw: &str| {
            let (app, token) = (&app, token.clone());
            let body = json!({"new_email": new, "password": pw});
            async move {
                app.call("POST", "/v1/me/email", Some(&token), Some(body))
                    .await
            }
        };
        change("dee@new.example.com", "wrong-password")
            .await
            .assert_problem(400, "wrong-password");
        change("eve@example.com", "password-123")
            .await
            .assert_problem(409, "conflict");
        change("DEE@example.com", "password-123")
            .await
            .assert_problem(422, "invalid-field");
        change("not an address", "password-123")
            .await
            .assert_problem(422, "invalid-field");
        let r = change("dee@new.example.com", "password-123").await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.body["new_email"], "dee@new.example.com");
        let mail = sink.one("dee@new.example.com").await;
        assert!(mail.link().contains("/confirm-email?token="));
        // Nothing changed yet.
        assert_eq!(me(&app, &token).await["email"], "dee@example.com");
        assert!(sink.to("dee@example.com").is_empty());

        let r = app
            .call(
                "POST",
                "/v1/auth/email-change/confirm",
                None,
                Some(json!({ "token": mail.token() })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.body,
            json!({"email": "dee@new.example.com", "email_verified": true})
        );
        let now = me(&app, &token).await;
        assert_eq!(
            (now["email"].as_str(), now["email_verified"].as_bool()),
            (Some("dee@new.example.com"), Some(true))
        );
        // The old address is told, with no link that could undo it.
        let notice = sink.one("dee@example.com").await;
        assert!(notice.subject.contains("was changed"), "{}", notice.subject);
        assert!(notice.text.contains("dee@new.example.com"));
        assert!(!notice.text.contains("token="), "{}", notice.text);
        assert_eq!(
            app.login("dee@new.example.com", "password-123")
                .await
                .status,
            200
        );
        assert_eq!(
            app.login("dee@example.com", "password-123").await.status,
            401
        );
        // Single use.
        let r = app
            .call(
                "POST",
                "/v1/auth/email-change/confirm",
                None,
                Some(json!({ "token": mail.token() })),
            )
            .await;
        r.assert_problem(400, "invalid-token");
        let a = app.get("/v1/audit?action=email.changed", &app.admin).await;
        assert_eq!(a.body["total"], 1, "{}", a.text);
    }
);

mail_dual!(invitations_set_a_password_once, |cfg| {}, |app, sink| {
    let bob = app.create_user("bob", &[]).await;
    let _ = bob;
    let bob_token = app.token_of("bob").await;
    app.call(
        "POST",
        "/v1/users/invite",
        Some(&bob_token),
        Some(json!({"email": "fay@example.com"})),
    )
    .await
    .assert_problem(403, "forbidden");
    let r = app
        .call(
            "POST",
            "/v1/users/invite",
            Some(&app.admin),
            Some(json!({"email": "fay@example.com", "roles": ["editor"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["user"]["username"], "fay");
    assert_eq!(r.body["user"]["roles"], json!(["editor"]));
    assert_eq!(r.body["user"]["email_verified"], false);
    // The same address twice: a conflict, and no second mail.
    app.call(
        "POST",
        "/v1/users/invite",
        Some(&app.admin),
        Some(json!({"email": "fay@example.com", "username": "fay2"})),
    )
    .await
    .assert_problem(409, "conflict");
    let mail = sink.one("fay@example.com").await;
    assert!(mail.subject.contains("invited"), "{}", mail.subject);
    assert!(mail.link().contains("/accept-invitation?token="));
    // No password works before the invitation is accepted.
    assert_eq!(app.login("fay", "!invited").await.status, 401);
    let accept = |t: String, pw: &str| {
        let app = &app;
        let body = json!({"token": t, "password": pw});
        async move {
            app.call("POST", "/v1/auth/invitation/accept", None, Some(body))
                .await
        }
    };
    accept(mail.token(), "short")
        .await
        .assert_problem(422, "invalid-field");
    let r = accept(mail.token(), "fays-passphrase-1").await;
    assert_eq!(r.status, 204, "{}", r.text);
    let t = app.login_ok("fay", "fays-passphrase-1").await;
    assert_eq!(t["user"]["email_verified"], true);
    accept(mail.token(), "other-passphrase-1")
        .await
        .assert_problem(400, "invalid-token");
    // Invitations expire.
    app.call(
        "POST",
        "/v1/users/invite",
        Some(&app.admin),
        Some(json!({"email": "gus@example.com"})),
    )
    .await;
    let late = sink.one("gus@example.com").await.token();
    app.sql("UPDATE mail_tokens SET expires_at = 1 WHERE purpose = 'invitation'")
        .await;
    accept(late, "gus-passphrase-1")
        .await
        .assert_problem(400, "invalid-token");
    app.call(
        "POST",
        "/v1/users/invite",
        Some(&app.admin),
        Some(json!({"email": "x"})),
    )
    .await
    .assert_problem(422, "invalid-field");
});

mail_dual!(
    mail_is_limited_per_recipient_and_per_address,
    |cfg| {
        cfg.mail.policy.per_recipient_per_hour = 2;
        cfg.mail.policy.per_address_per_hour = 4;
    },
    |app, sink| {
        app.create_user("hal", &[]).await;
        for _ in 0..3 {
            assert_eq!(request_reset(&app, "hal@example.com").await.status, 202);
        }
        sink.wait_for("hal@example.com", 2, 10).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            sink.to("hal@example.com").len(),
            2,
            "two an hour to one address"
        );
        // The fourth request from this client address is its last this hour.
        assert_eq!(request_reset(&app, "other@example.com").await.status, 202);
        let r = request_reset(&app, "hal@example.com").await;
        r.assert_problem(429, "rate-limited");
        assert!(r.headers.get("retry-after").is_some());
    }
);

dual!(without_smtp_the_mail_flows_say_so, |app| {
    request_reset(&app, "admin@example.com")
        .await
        .assert_problem(503, "mail-unavailable");
    app.call(
        "POST",
        "/v1/users/invite",
        Some(&app.admin),
        Some(json!({"email": "a@example.com"})),
    )
    .await
    .assert_problem(503, "mail-unavailable");
    let page = app.send(app.http.get(app.url("/forgot-password"))).await;
    assert_eq!(page.status, 503);
    assert!(page.text.contains("does not send mail"));
    // No forgotten-password link on the sign-in page either.
    let login = app.send(app.http.get(app.url("/login"))).await;
    assert!(!login.text.contains("Forgot your password"));
    // Lists and their errors.
    let r = app.get("/v1/mail?status=lost", &app.admin).await;
    r.assert_problem(400, "invalid-parameter");
    let uid = app.create_user("ivy", &[]).await;
    let _ = uid;
    let t = app.token_of("ivy").await;
    app.get("/v1/mail", &t)
        .await
        .assert_problem(403, "forbidden");
});

mail_dual!(
    templates_can_be_replaced_from_a_directory,
    |cfg| {
        let dir =
            std::env::temp_dir().join(format!("lk-templates-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("password_reset.txt"),
            "Subject: {{ product }}: new password for {{ username }}\n\nGo to {{ link }} within {{ expires_in }}.\n",
        )
        .unwrap();
        cfg.mail.templates = Templates::load(&dir).unwrap();
        cfg.mail.product = "Example ID".into();
        // A template with an unknown variable is refused at start, not at send time.
        std::fs::write(dir.join("invitation.html"), "<p>{{ nonsense }}</p>").unwrap();
        let err = Templates::load(&dir).unwrap_err();
        assert!(err.contains("invitation.html"), "{err}");
        std::fs::write(dir.join("unknown.txt"), "x").unwrap();
        assert!(Templates::load(&dir)
            .unwrap_err()
            .contains("unknown template"));
        std::fs::remove_dir_all(&dir).unwrap();
    },
    |app, sink| {
        app.create_user("jo", &[]).await;
        request_reset(&app, "jo@example.com").await;
        let mail = sink.one("jo@example.com").await;
        assert_eq!(mail.subject, "Example ID: new password for jo");
        assert!(mail.text.starts_with("Go to http"), "{}", mail.text);
        assert!(mail.text.contains("within 30 minutes"));
        // The HTML part is still the built-in one, with the product name.
        assert!(mail.html.contains("Example ID"));
    }
);
