//! The account page's two-step verification, driven like a browser without script (the
//! passkey buttons are tested in Chromium: interop/passkeys.test.mjs).

use crate::dual;
use crate::helpers::*;
use crate::mfa::{code, settle};

/// Posts a step of the account page rendered as `page`, with `extra` fields.
async fn account_step(
    app: &TestApp,
    b: &mut crate::oidc::Browser,
    page: &str,
    step: &str,
    extra: &[(&str, &str)],
) -> Reply {
    use crate::oidc::{action, hidden};
    // The page has one form per step; any of them carries the CSRF token.
    let csrf = hidden(page, "csrf");
    let mut form = vec![("csrf", csrf.as_str()), ("step", step)];
    form.extend_from_slice(extra);
    let to = action(page);
    b.post(app, &to, &form).await
}

dual!(the_account_page_sets_up_and_turns_off_the_app, |app| {
    use crate::oidc::{hidden, location, Browser};
    let uid = app.create_user("max", &[]).await;
    let mut b = Browser::new(&app);
    // Signed out: to the sign-in page, and back here afterwards.
    let r = b.get(&app, &app.url("/account")).await;
    assert_eq!(r.status, 303);
    let login = location(&r);
    assert!(login.contains("/login?return=account"), "{login}");
    let page = b.get(&app, &login).await;
    let form = [
        ("csrf", hidden(&page.text, "csrf")),
        ("request", hidden(&page.text, "request")),
        ("identifier", "max".to_owned()),
        ("password", "password-123".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = b.post(&app, &crate::oidc::action(&page.text), &form).await;
    assert!(location(&r).ends_with("/account"), "{}", r.text);
    let page = b.get(&app, &app.url("/account")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text
            .contains("Two-step verification is <strong>off</strong>"),
        "{}",
        page.text
    );
    // A post without the form's token changes nothing.
    let forged = b
        .post(
            &app,
            &app.url("/account"),
            &[("csrf", "x"), ("step", "begin")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert_eq!(
        app.get(&format!("/v1/users/{uid}/mfa"), &app.admin)
            .await
            .body["totp_pending"],
        false
    );
    let step = settle().await;
    let setup = account_step(&app, &mut b, &page.text, "begin", &[]).await;
    assert_eq!(setup.status, 200, "{}", setup.text);
    assert!(setup.text.contains("<svg"), "{}", setup.text);
    let secret = hidden(&setup.text, "secret");
    assert!(setup
        .text
        .contains(&format!("<code id=\"secret\">{secret}</code>")));
    let wrong = account_step(
        &app,
        &mut b,
        &setup.text,
        "confirm",
        &[("secret", &secret), ("code", &code(&secret, step + 3))],
    )
    .await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert!(
        wrong.text.contains("That code is not right"),
        "{}",
        wrong.text
    );
    assert!(wrong.text.contains("<svg"), "the QR code is shown again");
    let ok = account_step(
        &app,
        &mut b,
        &wrong.text,
        "confirm",
        &[("secret", &secret), ("code", &code(&secret, step))],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let codes = ok.text.matches("<li><code>").count();
    assert_eq!(codes, 10, "{}", ok.text);
    assert_eq!(
        app.get(&format!("/v1/users/{uid}/mfa"), &app.admin)
            .await
            .body["enabled"],
        true
    );
    let page = b.get(&app, &app.url("/account")).await;
    assert!(
        page.text.contains("10 recovery codes left"),
        "{}",
        page.text
    );
    // An old sign-in must be renewed first; the page says so and changes nothing.
    app.age_sessions(uid).await;
    let r = account_step(&app, &mut b, &page.text, "remove", &[]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("sign in again"), "{}", r.text);
    assert!(
        r.text.contains("return=account&amp;prompt=login"),
        "{}",
        r.text
    );
    assert_eq!(
        app.get(&format!("/v1/users/{uid}/mfa"), &app.admin)
            .await
            .body["enabled"],
        true
    );
    // Signing in again asks for the code, then comes back here.
    let again = b
        .get(&app, &app.url("/login?return=account&prompt=login"))
        .await;
    let form = [
        ("csrf", hidden(&again.text, "csrf")),
        ("request", hidden(&again.text, "request")),
        ("identifier", "max".to_owned()),
        ("password", "password-123".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let step2 = b.post(&app, &crate::oidc::action(&again.text), &form).await;
    assert!(step2.text.contains("Authentication code"), "{}", step2.text);
    let form = [
        ("csrf", hidden(&step2.text, "csrf")),
        ("request", hidden(&step2.text, "request")),
        ("mfa_token", hidden(&step2.text, "mfa_token")),
        ("code", code(&secret, step + 1)),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let back = b.post(&app, &crate::oidc::action(&step2.text), &form).await;
    assert!(location(&back).ends_with("/account"), "{}", back.text);
    let page = b.get(&app, &app.url("/account")).await;
    let fresh = account_step(&app, &mut b, &page.text, "regenerate", &[]).await;
    assert_eq!(
        fresh.text.matches("<li><code>").count(),
        10,
        "{}",
        fresh.text
    );
    let off = account_step(&app, &mut b, &page.text, "remove", &[]).await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert!(
        off.text.contains("The authenticator app is removed."),
        "{}",
        off.text
    );
    assert_eq!(
        app.get(&format!("/v1/users/{uid}/mfa"), &app.admin)
            .await
            .body["enabled"],
        false
    );
    let nothing = account_step(&app, &mut b, &off.text, "remove", &[]).await;
    assert_eq!(nothing.status, 409, "{}", nothing.text);
    let unknown = account_step(&app, &mut b, &off.text, "launch", &[]).await;
    assert_eq!(unknown.status, 409, "{}", unknown.text);
});
