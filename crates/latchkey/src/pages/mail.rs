//! The pages mails lead to: `/forgot-password`, `/reset-password`, `/verify-email`,
//! `/confirm-email` and `/accept-invitation`. A link's GET only shows what it is for; the
//! change happens on the page's own POST (with its CSRF token), so a mail scanner that opens
//! links uses nothing up. The rules are the core's.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use maud::html;

use super::mail_views::{self, PasswordForm};
use super::{
    csrf_ok, csrf_token, error_page, field, form_fields, page, query_params, unavailable, url,
};
use crate::api::Client;
use crate::core::error::CoreError;
use crate::core::mail::TokenPurpose;
use crate::http::AppState;

/// The `token` of a link's query.
fn token_of(q: Option<&str>) -> String {
    query_params(q.unwrap_or_default())
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn form_refused() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This form has expired or did not come from this site. Open the link from the mail again.",
    )
}

/// What a failed call shows on a page that has no form to show it on.
fn failure(st: &AppState, e: CoreError, what: &str, again: Option<(&str, &str)>) -> Response {
    match e {
        CoreError::InvalidMailToken => page(
            StatusCode::BAD_REQUEST,
            mail_views::dead_link(what, again),
            None,
            &[],
        ),
        CoreError::MailUnavailable => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "This server does not send mail. Ask your administrator to reset your password.",
        ),
        CoreError::RateLimited { .. } => error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests. Wait a while, then try again.",
        ),
        CoreError::Conflict(_) => error_page(
            StatusCode::CONFLICT,
            "Another account has this address now: the change cannot be made.",
        ),
        other => unavailable(st, other),
    }
}

// ---- forgot password

pub(super) async fn get_forgot(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if !st.svc.mail_enabled() {
        return failure(&st, CoreError::MailUnavailable, "", None);
    }
    let (csrf, set) = csrf_token(&st, &headers);
    let cookies: Vec<HeaderValue> = set.into_iter().collect();
    let action = url(&st, &st.pages.forgot_password);
    page(
        StatusCode::OK,
        mail_views::forgot(&action, &csrf, "", None),
        None,
        &cookies,
    )
}

pub(super) async fn post_forgot(
    State(st): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(fields) = form_fields(&headers, &body) else {
        return error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    if !csrf_ok(&st, &headers, field(&fields, "csrf")) {
        return form_refused();
    }
    let email = field(&fields, "email").unwrap_or("");
    match st.svc.request_password_reset(email, &client).await {
        Ok(()) => page(
            StatusCode::OK,
            mail_views::message(
                "Check your inbox",
                crate::api::RESET_REQUESTED,
                Some((&url(&st, &st.pages.login), "Back to sign-in")),
            ),
            None,
            &[],
        ),
        Err(CoreError::Invalid { .. }) => {
            let (csrf, _) = csrf_token(&st, &headers);
            let action = url(&st, &st.pages.forgot_password);
            page(
                StatusCode::UNPROCESSABLE_ENTITY,
                mail_views::forgot(
                    &action,
                    &csrf,
                    &email.chars().take(254).collect::<String>(),
                    Some("Enter an email address."),
                ),
                None,
                &[],
            )
        }
        Err(e) => failure(&st, e, "", None),
    }
}

// ---- reset password and accept an invitation

/// The two password pages differ in words and in the core call only.
#[derive(Clone, Copy)]
enum PasswordPage {
    Reset,
    Invitation,
}

impl PasswordPage {
    fn purpose(self) -> TokenPurpose {
        match self {
            PasswordPage::Reset => TokenPurpose::PasswordReset,
            PasswordPage::Invitation => TokenPurpose::Invitation,
        }
    }

    fn path(self, st: &AppState) -> String {
        match self {
            PasswordPage::Reset => url(st, &st.pages.reset_password),
            PasswordPage::Invitation => url(st, &st.pages.accept_invitation),
        }
    }

    fn what(self) -> &'static str {
        match self {
            PasswordPage::Reset => "password reset",
            PasswordPage::Invitation => "invitation",
        }
    }

    fn again(self, st: &AppState) -> Option<(String, &'static str)> {
        match self {
            PasswordPage::Reset => Some((url(st, &st.pages.forgot_password), "Ask for a new link")),
            PasswordPage::Invitation => None,
        }
    }

    fn form(
        self,
        st: &AppState,
        csrf: &str,
        token: &str,
        username: &str,
        error: Option<&str>,
    ) -> maud::Markup {
        let action = self.path(st);
        let (title, lead, button) = match self {
            PasswordPage::Reset => (
                "Choose a new password",
                html! { "For " strong { (username) } ". Every other sign-in of this account ends when you save it." },
                "Save the new password",
            ),
            PasswordPage::Invitation => (
                "Welcome",
                html! { "You are invited as " strong { (username) } ". Choose your password to finish." },
                "Set my password",
            ),
        };
        mail_views::password_form(&PasswordForm {
            title,
            lead,
            action: &action,
            csrf,
            token,
            username,
            error,
            button,
        })
    }
}

async fn get_password_page(
    st: AppState,
    headers: HeaderMap,
    q: Option<String>,
    p: PasswordPage,
) -> Response {
    let token = token_of(q.as_deref());
    let target = match st.svc.mail_link(p.purpose(), &token).await {
        Ok(t) => t,
        Err(e) => {
            let again = p.again(&st);
            return failure(
                &st,
                e,
                p.what(),
                again.as_ref().map(|(h, l)| (h.as_str(), *l)),
            );
        }
    };
    let (csrf, set) = csrf_token(&st, &headers);
    let cookies: Vec<HeaderValue> = set.into_iter().collect();
    page(
        StatusCode::OK,
        p.form(&st, &csrf, &token, &target.username, None),
        None,
        &cookies,
    )
}

async fn post_password_page(
    st: AppState,
    headers: HeaderMap,
    body: Bytes,
    p: PasswordPage,
) -> Response {
    let Some(fields) = form_fields(&headers, &body) else {
        return error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    if !csrf_ok(&st, &headers, field(&fields, "csrf")) {
        return form_refused();
    }
    let token = field(&fields, "token").unwrap_or("").to_owned();
    let password = field(&fields, "password").unwrap_or("");
    let again = p.again(&st);
    let again = again.as_ref().map(|(h, l)| (h.as_str(), *l));
    let target = match st.svc.mail_link(p.purpose(), &token).await {
        Ok(t) => t,
        Err(e) => return failure(&st, e, p.what(), again),
    };
    let (csrf, _) = csrf_token(&st, &headers);
    let retry = |error: &str| {
        page(
            StatusCode::UNPROCESSABLE_ENTITY,
            p.form(&st, &csrf, &token, &target.username, Some(error)),
            None,
            &[],
        )
    };
    if field(&fields, "confirm") != Some(password) {
        return retry("The two passwords are not the same.");
    }
    let done = match p {
        PasswordPage::Reset => st.svc.reset_password_with_token(&token, password).await,
        PasswordPage::Invitation => st.svc.accept_invitation(&token, password).await,
    };
    match done {
        Ok(_) => page(
            StatusCode::OK,
            mail_views::message(
                "Password saved",
                match p {
                    PasswordPage::Reset => "Your password is changed, and every other sign-in of your account has ended. Sign in with the new password.",
                    PasswordPage::Invitation => "Your password is set. Sign in with it.",
                },
                Some((&url(&st, &st.pages.login), "Sign in")),
            ),
            None,
            &[],
        ),
        Err(CoreError::Invalid { reason, .. }) => retry(&format!("The password {reason}.")),
        Err(e) => failure(&st, e, p.what(), again),
    }
}

pub(super) async fn get_reset(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    get_password_page(st, headers, q, PasswordPage::Reset).await
}

pub(super) async fn post_reset(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_password_page(st, headers, body, PasswordPage::Reset).await
}

pub(super) async fn get_invitation(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    get_password_page(st, headers, q, PasswordPage::Invitation).await
}

pub(super) async fn post_invitation(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_password_page(st, headers, body, PasswordPage::Invitation).await
}

// ---- verify an address, confirm an email change

#[derive(Clone, Copy)]
enum ConfirmPage {
    Verify,
    Change,
}

impl ConfirmPage {
    fn purpose(self) -> TokenPurpose {
        match self {
            ConfirmPage::Verify => TokenPurpose::VerifyEmail,
            ConfirmPage::Change => TokenPurpose::EmailChange,
        }
    }

    fn what(self) -> &'static str {
        match self {
            ConfirmPage::Verify => "email verification",
            ConfirmPage::Change => "email change",
        }
    }

    fn path(self, st: &AppState) -> String {
        match self {
            ConfirmPage::Verify => url(st, &st.pages.verify_email),
            ConfirmPage::Change => url(st, &st.pages.confirm_email),
        }
    }
}

async fn get_confirm_page(
    st: AppState,
    headers: HeaderMap,
    q: Option<String>,
    p: ConfirmPage,
) -> Response {
    let token = token_of(q.as_deref());
    let target = match st.svc.mail_link(p.purpose(), &token).await {
        Ok(t) => t,
        Err(e) => return failure(&st, e, p.what(), None),
    };
    let (csrf, set) = csrf_token(&st, &headers);
    let cookies: Vec<HeaderValue> = set.into_iter().collect();
    let action = p.path(&st);
    let body = match p {
        ConfirmPage::Verify => mail_views::confirm(
            "Confirm your email address",
            html! { "Confirm that " strong { (target.email) } " is the address of " strong { (target.username) } "." },
            &action,
            &csrf,
            &token,
            "Confirm my address",
        ),
        ConfirmPage::Change => mail_views::confirm(
            "Confirm your new email address",
            html! { "Make " strong { (target.email) } " the address of " strong { (target.username) } "." },
            &action,
            &csrf,
            &token,
            "Confirm the new address",
        ),
    };
    page(StatusCode::OK, body, None, &cookies)
}

async fn post_confirm_page(
    st: AppState,
    headers: HeaderMap,
    body: Bytes,
    p: ConfirmPage,
) -> Response {
    let Some(fields) = form_fields(&headers, &body) else {
        return error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    if !csrf_ok(&st, &headers, field(&fields, "csrf")) {
        return form_refused();
    }
    let token = field(&fields, "token").unwrap_or("");
    let done = match p {
        ConfirmPage::Verify => st.svc.verify_email(token).await,
        ConfirmPage::Change => st.svc.confirm_email_change(token).await,
    };
    match done {
        Ok(user) => page(
            StatusCode::OK,
            mail_views::message(
                "Address confirmed",
                &match p {
                    ConfirmPage::Verify => format!("{} is confirmed as your address.", user.email),
                    ConfirmPage::Change => format!("Your account's address is now {}.", user.email),
                },
                Some((&url(&st, &st.pages.login), "Sign in")),
            ),
            None,
            &[],
        ),
        Err(e) => failure(&st, e, p.what(), None),
    }
}

pub(super) async fn get_verify(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    get_confirm_page(st, headers, q, ConfirmPage::Verify).await
}

pub(super) async fn post_verify(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_confirm_page(st, headers, body, ConfirmPage::Verify).await
}

pub(super) async fn get_change(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    get_confirm_page(st, headers, q, ConfirmPage::Change).await
}

pub(super) async fn post_change(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post_confirm_page(st, headers, body, ConfirmPage::Change).await
}
