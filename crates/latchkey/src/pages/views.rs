//! The pages' markup. Labels name every field, errors are tied to the fields they are about
//! (`aria-describedby`, `aria-invalid`) and announced (`role="alert"`); the focus order is
//! the reading order; the layout is one column that fits a phone.

use maud::{html, Markup, DOCTYPE};

use crate::core::oauth::authorize::describe_scope;
use crate::core::service::PasskeyInfo;

pub(super) fn layout(title: &str, body: Markup) -> Markup {
    layout_in(title, "card", body)
}

/// [`layout`] with the card's class (`card wide-card` for the account page).
pub(super) fn layout_in(title: &str, class: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) " · Latchkey" }
                link rel="stylesheet" href="/assets/latchkey.css";
            }
            body {
                main class=(class) {
                    p class="brand" { "Latchkey" }
                    (body)
                }
            }
        }
    }
}

/// What the sign-in form shows.
pub struct LoginForm<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub request: &'a str,
    pub identifier: &'a str,
    pub error: Option<&'a str>,
    /// Continuing to this application, when signing in for one.
    pub client_name: Option<&'a str>,
    /// Where the passkey sign-in options come from, where passkeys work.
    pub passkey_options: Option<&'a str>,
    /// The "forgot your password" page, where this server sends mail.
    pub forgot: Option<&'a str>,
}

pub fn login(f: &LoginForm<'_>) -> Markup {
    let described = f.error.map(|_| "form-error");
    let invalid = f.error.map(|_| "true");
    layout(
        "Sign in",
        html! {
            h1 { "Sign in" }
            @if let Some(name) = f.client_name {
                p class="lead" { "to continue to " strong { (name) } }
            }
            form method="post" action=(f.action) {
                input type="hidden" name="csrf" value=(f.csrf);
                input type="hidden" name="request" value=(f.request);
                @if let Some(e) = f.error {
                    p id="form-error" class="error" role="alert" { (e) }
                }
                label for="identifier" { "Username or email" }
                input id="identifier" name="identifier" type="text" autocomplete="username"
                    autocapitalize="none" spellcheck="false" required autofocus[f.error.is_none()]
                    value=(f.identifier) aria-describedby=[described] aria-invalid=[invalid];
                label for="password" { "Password" }
                input id="password" name="password" type="password"
                    autocomplete="current-password" required autofocus[f.error.is_some()]
                    aria-describedby=[described] aria-invalid=[invalid];
                button type="submit" { "Sign in" }
            }
            @if let Some(forgot) = f.forgot {
                p class="aside" { a href=(forgot) { "Forgot your password?" } }
            }
            @if let Some(options) = f.passkey_options {
                form method="post" action=(f.action) id="passkey-sign-in-form" {
                    input type="hidden" name="csrf" value=(f.csrf);
                    input type="hidden" name="request" value=(f.request);
                    input type="hidden" name="passkey_token" value="";
                    input type="hidden" name="credential" value="";
                    p id="passkey-error" class="error" role="alert" hidden {}
                    button type="button" id="passkey-sign-in" class="secondary" data-options=(options) {
                        "Sign in with a passkey"
                    }
                }
                script src="/assets/passkey.js" defer {}
            }
        },
    )
}

pub struct CodeForm<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub request: &'a str,
    pub mfa_token: &'a str,
    pub error: Option<&'a str>,
    pub client_name: Option<&'a str>,
    /// Where the passkey options come from, when the user has a passkey.
    pub passkey_options: Option<&'a str>,
}

/// The second step of a sign-in: the authenticator app's code, or a recovery code.
pub fn second_factor(f: &CodeForm<'_>) -> Markup {
    let described = if f.error.is_some() {
        "form-error code-hint"
    } else {
        "code-hint"
    };
    let invalid = f.error.map(|_| "true");
    layout(
        "Two-step verification",
        html! {
            h1 { "Two-step verification" }
            @if let Some(name) = f.client_name {
                p class="lead" { "to continue to " strong { (name) } }
            }
            form method="post" action=(f.action) {
                input type="hidden" name="csrf" value=(f.csrf);
                input type="hidden" name="request" value=(f.request);
                input type="hidden" name="mfa_token" value=(f.mfa_token);
                @if let Some(e) = f.error {
                    p id="form-error" class="error" role="alert" { (e) }
                }
                label for="code" { "Authentication code" }
                input id="code" name="code" type="text" autocomplete="one-time-code"
                    autocapitalize="none" spellcheck="false" required autofocus
                    maxlength="32" aria-describedby=(described) aria-invalid=[invalid];
                p id="code-hint" class="hint" {
                    "Enter the 6-digit code from your authenticator app, or one of your recovery codes."
                }
                button type="submit" { "Verify" }
                @if let Some(options) = f.passkey_options {
                    input type="hidden" name="passkey" value="1";
                    input type="hidden" name="credential" value="";
                    p id="passkey-error" class="error" role="alert" hidden {}
                    button type="button" id="use-passkey" class="secondary" data-options=(options) {
                        "Use a passkey"
                    }
                    script src="/assets/passkey.js" defer {}
                }
            }
        },
    )
}

/// Where the account's authenticator app stands, and what the page shows for it.
pub enum Security<'a> {
    Off,
    On {
        since: String,
    },
    /// Set-up begun: the QR code, the secret, a field for the first code.
    Enrolling {
        secret: &'a str,
        qr_svg: &'a str,
        error: Option<&'a str>,
    },
    /// Recovery codes, shown this once.
    Codes {
        codes: &'a [String],
    },
    /// A change needs a fresh sign-in.
    Reauthenticate,
}

pub struct AccountView<'a> {
    pub action: &'a str,
    pub logout: &'a str,
    pub reauth: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub state: Security<'a>,
    pub notice: Option<&'a str>,
    /// With any factor: how many recovery codes are left.
    pub recovery_left: Option<u32>,
    /// The user's passkeys, where passkeys can be used.
    pub passkeys: Option<&'a [PasskeyInfo]>,
    /// Where the "Add a passkey" button gets its options.
    pub passkey_options: &'a str,
    /// A refused change, said above everything else.
    pub error: Option<&'a str>,
    /// The profile, password, email, sessions and applications sections.
    pub extra: Markup,
}

/// A button posting `step` (and `extra` hidden fields) to the account page.
fn account_step(
    v: &AccountView<'_>,
    step: &str,
    extra: &[(&str, &str)],
    label: &str,
    secondary: bool,
) -> Markup {
    html! {
        form method="post" action=(v.action) {
            input type="hidden" name="csrf" value=(v.csrf);
            input type="hidden" name="step" value=(step);
            @for (k, val) in extra { input type="hidden" name=(k) value=(val); }
            button type="submit" class=[secondary.then_some("secondary")] { (label) }
        }
    }
}

fn passkey_section(v: &AccountView<'_>, keys: &[PasskeyInfo]) -> Markup {
    html! {
        h2 { "Passkeys" }
        @if keys.is_empty() {
            p { "A passkey lets this device (or a security key) confirm it is you, instead of a code." }
        } @else {
            ul id="passkeys" class="keys" {
                @for k in keys {
                    li {
                        span { strong { (k.name) } " · added " time class="date" { (k.created_at.to_rfc3339().get(..10).unwrap_or("")) } }
                        (account_step(v, "passkey_remove", &[("id", &k.id)], "Remove", true))
                    }
                }
            }
        }
        form method="post" action=(v.action) {
            input type="hidden" name="csrf" value=(v.csrf);
            input type="hidden" name="step" value="passkey_finish";
            input type="hidden" name="credential" value="";
            p id="passkey-error" class="error" role="alert" hidden {}
            label for="passkey-name" { "Passkey name" }
            input id="passkey-name" name="name" type="text" maxlength="64" placeholder="e.g. Work laptop";
            button type="button" id="add-passkey" data-options=(v.passkey_options) { "Add a passkey" }
        }
        script src="/assets/passkey.js" defer {}
    }
}

/// The account page: two-step verification.
pub fn account(v: &AccountView<'_>) -> Markup {
    let has_keys = v.passkeys.is_some_and(|k| !k.is_empty());
    layout_in(
        "Your account",
        "card wide-card",
        html! {
            h1 { "Your account" }
            p class="lead" { "Signed in as " strong { (v.username) } "." }
            @if let Some(n) = v.notice {
                p class="notice" role="status" { (n) }
            }
            @if let Some(e) = v.error {
                p class="error" role="alert" { (e) }
            }
            h2 id="two-step" { "Two-step verification" }
            @match &v.state {
                Security::Off => {
                    @if has_keys {
                        p { "Authenticator app: not set up." }
                    } @else {
                        p {
                            "Two-step verification is " strong { "off" } ". With it on, signing in asks for a code from an authenticator app on your phone"
                            @if v.passkeys.is_some() { ", or a passkey," }
                            " as well as your password."
                        }
                    }
                    (account_step(v, "begin", &[], "Set up an authenticator app", false))
                }
                Security::On { since } => {
                    p { "Two-step verification is " strong { "on" } " (authenticator app, since " time datetime=(since) { (since.get(..10).unwrap_or(since)) } ")." }
                    (account_step(v, "remove", &[], "Remove the authenticator app", true))
                }
                Security::Enrolling { secret, qr_svg, error } => {
                    ol class="steps" {
                        li { "Scan this code with an authenticator app (or type the key below)." }
                        li { "Enter the 6-digit code the app shows." }
                    }
                    div class="qr" { (maud::PreEscaped(*qr_svg)) }
                    p class="hint" { "Key: " code id="secret" { (secret) } }
                    form method="post" action=(v.action) {
                        input type="hidden" name="csrf" value=(v.csrf);
                        input type="hidden" name="step" value="confirm";
                        input type="hidden" name="secret" value=(secret);
                        @if let Some(e) = error {
                            p id="form-error" class="error" role="alert" { (e) }
                        }
                        label for="code" { "Authentication code" }
                        input id="code" name="code" type="text" inputmode="numeric"
                            autocomplete="one-time-code" maxlength="6" required autofocus
                            aria-describedby=[error.map(|_| "form-error")]
                            aria-invalid=[error.map(|_| "true")];
                        button type="submit" { "Turn on" }
                    }
                }
                Security::Codes { codes } => {
                    p { "Save these recovery codes somewhere safe. Each works once, in place of a code from the app or a passkey, if you lose them. They are shown only now." }
                    ul id="recovery-codes" class="codes" {
                        @for c in codes.iter() { li { code { (c) } } }
                    }
                    a href=(v.action) { "Done" }
                }
                Security::Reauthenticate => {
                    p id="form-error" class="error" role="alert" { "For your security, sign in again before changing two-step verification." }
                    a href=(v.reauth) { "Sign in again" }
                }
            }
            @if matches!(v.state, Security::Off | Security::On { .. }) {
                @if let Some(n) = v.recovery_left {
                    p id="recovery-left" { (n) " recovery codes left." }
                    (account_step(v, "regenerate", &[], "Get new recovery codes", true))
                }
                @if let Some(keys) = v.passkeys {
                    (passkey_section(v, keys))
                }
            }
            (v.extra)
            form method="post" action=(v.logout) {
                input type="hidden" name="csrf" value=(v.csrf);
                button type="submit" class="secondary" { "Sign out" }
            }
        },
    )
}

/// The page of a browser that is signed in and has nowhere to go.
pub fn signed_in(username: &str, logout_action: &str, account: &str, csrf: &str) -> Markup {
    layout(
        "Signed in",
        html! {
            h1 { "You are signed in" }
            p { "Signed in as " strong { (username) } "." }
            p { a href=(account) { "Two-step verification" } }
            form method="post" action=(logout_action) {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Sign out" }
            }
        },
    )
}

pub struct ConsentForm<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub request: &'a str,
    pub client_name: &'a str,
    pub username: &'a str,
    pub scopes: &'a [String],
}

pub fn consent(f: &ConsentForm<'_>) -> Markup {
    layout(
        "Allow access",
        html! {
            h1 { "Allow " (f.client_name) " to access your account?" }
            p class="lead" { "Signed in as " strong { (f.username) } "." }
            p id="scopes-intro" { (f.client_name) " will be able to:" }
            ul class="scopes" aria-labelledby="scopes-intro" {
                @for s in f.scopes {
                    li { (describe_scope(s)) }
                }
            }
            p class="hint" { "You can revoke this at any time." }
            form method="post" action=(f.action) class="actions" {
                input type="hidden" name="csrf" value=(f.csrf);
                input type="hidden" name="request" value=(f.request);
                button type="submit" name="decision" value="allow" { "Allow" }
                button type="submit" name="decision" value="deny" class="secondary" { "Deny" }
            }
        },
    )
}

pub struct LogoutForm<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub fields: &'a [(&'a str, &'a str)],
}

pub fn confirm_logout(f: &LogoutForm<'_>) -> Markup {
    layout(
        "Sign out",
        html! {
            h1 { "Sign out?" }
            p { "You are signed in as " strong { (f.username) } "." }
            form method="post" action=(f.action) {
                input type="hidden" name="csrf" value=(f.csrf);
                @for (k, v) in f.fields {
                    input type="hidden" name=(k) value=(v);
                }
                button type="submit" { "Sign out" }
            }
        },
    )
}

pub fn signed_out(login_href: &str) -> Markup {
    layout(
        "Signed out",
        html! {
            h1 { "You are signed out" }
            p { a href=(login_href) { "Sign in again" } }
        },
    )
}

pub fn error(message: &str) -> Markup {
    layout(
        "Error",
        html! {
            h1 { "Something is not right" }
            p class="error" role="alert" { (message) }
            p class="hint" { "Go back to the application you came from and try again." }
        },
    )
}
