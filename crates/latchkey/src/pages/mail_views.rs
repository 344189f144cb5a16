//! The markup of the pages mails lead to: forgot password, reset password, verify an
//! address, confirm an email change, accept an invitation.

use maud::{html, Markup};

use super::views::layout;

/// A password form (reset or invitation): the new password twice.
pub struct PasswordForm<'a> {
    pub title: &'a str,
    pub lead: Markup,
    pub action: &'a str,
    pub csrf: &'a str,
    pub token: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
    pub button: &'a str,
}

pub fn password_form(f: &PasswordForm<'_>) -> Markup {
    let described = if f.error.is_some() {
        "form-error password-hint"
    } else {
        "password-hint"
    };
    let invalid = f.error.map(|_| "true");
    layout(
        f.title,
        html! {
            h1 { (f.title) }
            p class="lead" { (f.lead) }
            form method="post" action=(f.action) {
                input type="hidden" name="csrf" value=(f.csrf);
                input type="hidden" name="token" value=(f.token);
                // For password managers: whose password this is.
                input type="text" name="username" value=(f.username) autocomplete="username" hidden;
                @if let Some(e) = f.error {
                    p id="form-error" class="error" role="alert" { (e) }
                }
                label for="password" { "New password" }
                input id="password" name="password" type="password" autocomplete="new-password"
                    required minlength="8" autofocus aria-describedby=(described) aria-invalid=[invalid];
                p id="password-hint" class="hint" { "At least 8 characters; a common password is refused." }
                label for="confirm" { "New password again" }
                input id="confirm" name="confirm" type="password" autocomplete="new-password"
                    required minlength="8" aria-invalid=[invalid];
                button type="submit" { (f.button) }
            }
        },
    )
}

pub fn forgot(action: &str, csrf: &str, email: &str, error: Option<&str>) -> Markup {
    let described = error.map(|_| "form-error");
    let invalid = error.map(|_| "true");
    layout(
        "Forgot your password?",
        html! {
            h1 { "Forgot your password?" }
            p class="lead" { "Enter your account's email address: we will send you a link to choose a new password." }
            form method="post" action=(action) {
                input type="hidden" name="csrf" value=(csrf);
                @if let Some(e) = error {
                    p id="form-error" class="error" role="alert" { (e) }
                }
                label for="email" { "Email address" }
                input id="email" name="email" type="email" autocomplete="email" required autofocus
                    value=(email) aria-describedby=[described] aria-invalid=[invalid];
                button type="submit" { "Send the link" }
            }
        },
    )
}

/// A page with a message and an optional link onwards.
pub fn message(title: &str, text: &str, link: Option<(&str, &str)>) -> Markup {
    layout(
        title,
        html! {
            h1 { (title) }
            p class="notice" role="status" { (text) }
            @if let Some((href, label)) = link {
                p class="aside" { a href=(href) { (label) } }
            }
        },
    )
}

/// A link's page that asks for a click before acting (mail scanners open links; only a
/// person presses the button).
pub fn confirm(
    title: &str,
    lead: Markup,
    action: &str,
    csrf: &str,
    token: &str,
    button: &str,
) -> Markup {
    layout(
        title,
        html! {
            h1 { (title) }
            p class="lead" { (lead) }
            form method="post" action=(action) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="token" value=(token);
                button type="submit" autofocus { (button) }
            }
        },
    )
}

/// A link that no longer works.
pub fn dead_link(what: &str, again: Option<(&str, &str)>) -> Markup {
    layout(
        "Link expired",
        html! {
            h1 { "This link no longer works" }
            p class="error" role="alert" {
                "The " (what) " link is invalid, has expired, was already used, or a newer one was sent."
            }
            @if let Some((href, label)) = again {
                p class="aside" { a href=(href) { (label) } }
            }
        },
    )
}
