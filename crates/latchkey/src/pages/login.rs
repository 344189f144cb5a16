//! The sign-in page (`/login`). The form goes through the core login every dialect uses, so
//! the brute-force throttle, locks and audit apply unchanged; the session it opens is the
//! browser's.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::authorize::follow;
use super::views::{self, CodeForm, LoginForm};
use super::{
    browser, cookie_names, csrf_ok, csrf_token, field, form_fields, page, query_params, see_other,
    set_cookie, unavailable, url,
};
use crate::api::Client;
use crate::core::error::CoreError;
use crate::core::service::{Fresh, SignIn};
use crate::http::AppState;

pub(super) async fn get_login(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = q.unwrap_or_default();
    let (csrf, set) = csrf_token(&st, &headers);
    let cookies: Vec<HeaderValue> = set.into_iter().collect();
    let b = match browser(&st, &headers).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let (true, Some(b)) = (q.is_empty(), &b) {
        let action = url(&st, &st.pages.logout);
        let account = url(&st, &st.pages.account);
        return page(
            StatusCode::OK,
            views::signed_in(&b.user.username, &action, &account, &csrf),
            None,
            &cookies,
        );
    }
    let params = query_params(&q);
    let hint = params
        .iter()
        .find(|(k, _)| k == "login_hint")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    render(
        &st,
        &q,
        &params,
        &csrf,
        hint,
        None,
        StatusCode::OK,
        &cookies,
        None,
        false,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn render(
    st: &AppState,
    q: &str,
    params: &[(String, String)],
    csrf: &str,
    identifier: &str,
    error: Option<&str>,
    status: StatusCode,
    cookies: &[HeaderValue],
    mfa_token: Option<&str>,
    passkey: bool,
) -> Response {
    let client = params
        .iter()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.as_str());
    let client_name = match client {
        Some(id) => st.svc.client_name(id).await.unwrap_or(None),
        None => None,
    };
    let redirect = params
        .iter()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.as_str());
    let action = url(st, &st.pages.login);
    if let Some(mfa_token) = mfa_token {
        let options = url(st, "/v1/auth/mfa/webauthn");
        return page(
            status,
            views::second_factor(&CodeForm {
                action: &action,
                csrf,
                request: q,
                mfa_token,
                error,
                client_name: client_name.as_deref(),
                passkey_options: passkey.then_some(options.as_str()),
            }),
            redirect,
            cookies,
        );
    }
    page(
        status,
        views::login(&LoginForm {
            action: &action,
            csrf,
            request: q,
            identifier: &identifier.chars().take(256).collect::<String>(),
            error,
            client_name: client_name.as_deref(),
            passkey_options: st
                .svc
                .passkeys_available()
                .then_some(url(st, "/v1/auth/passkey/options"))
                .as_deref(),
            forgot: st
                .svc
                .mail_enabled()
                .then_some(url(st, &st.pages.forgot_password))
                .as_deref(),
        }),
        redirect,
        cookies,
    )
}

/// Where a sign-in that was not for an application goes back to: the account page
/// (`return=account`) or a console page (`return=/console…`, a path on this server only).
fn return_to(st: &AppState, request: &str) -> Option<String> {
    let params = query_params(request);
    let back = params
        .iter()
        .find(|(k, _)| k == "return")
        .map(|(_, v)| v.as_str())?;
    if back == "account" {
        return Some(url(st, &st.pages.account));
    }
    console_path(back).then(|| url(st, back))
}

/// A console path a sign-in may return to: `/console`, or below it, with nothing that could
/// make it another origin or leave the console.
fn console_path(p: &str) -> bool {
    let under = p == "/console" || p.starts_with("/console/") || p.starts_with("/console?");
    under
        && p.len() <= 1024
        && !p.contains("//")
        && !p.contains("..")
        && p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

/// The request to carry on with after a sign-in: `prompt=login` and `max_age` are met now
/// (the ID token's `auth_time` says when), so they must not send the browser back here.
fn after_sign_in(q: &str) -> String {
    let mut params = query_params(q);
    params.retain(|(k, _)| k != "max_age");
    for (k, v) in params.iter_mut() {
        if k == "prompt" {
            *v = v
                .split(' ')
                .filter(|p| *p != "login" && !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    params.retain(|(k, v)| k != "prompt" || !v.is_empty());
    serde_urlencoded::to_string(&params).unwrap_or_default()
}

pub(super) async fn post_login(
    State(st): State<AppState>,
    Client(info): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form_fields(&headers, &body).unwrap_or_default();
    let request = field(&fields, "request").unwrap_or("").to_owned();
    let identifier = field(&fields, "identifier").unwrap_or("");
    let password = field(&fields, "password").unwrap_or("");
    let params = query_params(&request);
    let (csrf, set) = csrf_token(&st, &headers);
    let cookies: Vec<HeaderValue> = set.into_iter().collect();
    if !csrf_ok(&st, &headers, field(&fields, "csrf")) {
        return render(
            &st,
            &request,
            &params,
            &csrf,
            identifier,
            Some("This form has expired or did not come from this site. Sign in again."),
            StatusCode::FORBIDDEN,
            &cookies,
            None,
            false,
        )
        .await;
    }
    let before = match browser(&st, &headers).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mfa_token = field(&fields, "mfa_token").filter(|t| !t.is_empty());
    let mut offers_passkey = field(&fields, "passkey") == Some("1");
    let passkey_token = field(&fields, "passkey_token").filter(|t| !t.is_empty());
    let outcome = match (mfa_token, passkey_token) {
        (None, Some(token)) => {
            let credential = field(&fields, "credential").unwrap_or("");
            st.svc
                .sign_in_passkey(token, credential, &info)
                .await
                .map(SignIn::Done)
        }
        (Some(token), _) => {
            let credential = field(&fields, "credential").filter(|c| !c.is_empty());
            let code = credential.or(field(&fields, "code")).unwrap_or("");
            // A passkey's answer; else six digits are the app's, anything else a recovery code.
            let digits = code.trim();
            let method = if credential.is_some() {
                "webauthn"
            } else if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
                "totp"
            } else {
                "recovery_code"
            };
            st.svc
                .sign_in_second_factor(token, method, code, &info)
                .await
                .map(SignIn::Done)
        }
        (None, None) => st.svc.sign_in(identifier, password, &info).await,
    };
    match outcome {
        Ok(SignIn::SecondFactor(c)) => {
            offers_passkey = c.methods.contains(&"webauthn");
            render(
                &st,
                &request,
                &params,
                &csrf,
                "",
                None,
                StatusCode::OK,
                &cookies,
                Some(&c.token),
                offers_passkey,
            )
            .await
        }
        Err(CoreError::InvalidMfaCode { remaining }) if mfa_token.is_some() => {
            let message = match remaining {
                Some(1) => "That code is not right. 1 attempt left.".to_owned(),
                Some(n) => format!("That code is not right. {n} attempts left."),
                None => "That code is not right.".to_owned(),
            };
            render(
                &st,
                &request,
                &params,
                &csrf,
                "",
                Some(&message),
                StatusCode::UNAUTHORIZED,
                &cookies,
                mfa_token,
                offers_passkey,
            )
            .await
        }
        Err(CoreError::Invalid { .. }) if mfa_token.is_some() => {
            render(
                &st,
                &request,
                &params,
                &csrf,
                "",
                Some("Enter the code from your authenticator app, or a recovery code."),
                StatusCode::UNPROCESSABLE_ENTITY,
                &cookies,
                mfa_token,
                offers_passkey,
            )
            .await
        }
        Err(CoreError::InvalidMfaToken) => {
            render(
                &st,
                &request,
                &params,
                &csrf,
                "",
                Some("The sign-in took too long or had too many wrong codes. Sign in again."),
                StatusCode::UNAUTHORIZED,
                &cookies,
                None,
                false,
            )
            .await
        }
        Ok(SignIn::Done((value, b))) => {
            if let Some(old) = before {
                if let Err(e) = st.svc.sign_out(&old, "signed in again").await {
                    return unavailable(&st, e);
                }
            }
            let mut cookies = cookies;
            cookies.push(set_cookie(&st, cookie_names(&st).session, Some(&value)));
            if request.is_empty() {
                return see_other(&url(&st, &st.pages.login), &cookies);
            }
            if let Some(to) = return_to(&st, &request) {
                return see_other(&to, &cookies);
            }
            let q = after_sign_in(&request);
            let fresh = Fresh {
                login: true,
                consent: false,
            };
            match st.svc.authorize(&query_params(&q), Some(&b), fresh).await {
                Ok(step) => follow(&st, step, &q, &cookies),
                Err(e) => unavailable(&st, e),
            }
        }
        Err(CoreError::InvalidCredentials) if passkey_token.is_some() => {
            render(
                &st,
                &request,
                &params,
                &csrf,
                "",
                Some("The passkey did not sign you in. Try again, or use your password."),
                StatusCode::UNAUTHORIZED,
                &cookies,
                None,
                false,
            )
            .await
        }
        Err(CoreError::InvalidCredentials | CoreError::Invalid { .. }) => {
            render(
                &st,
                &request,
                &params,
                &csrf,
                identifier,
                Some("The username or email, or the password, is not right."),
                StatusCode::UNAUTHORIZED,
                &cookies,
                None,
                false,
            )
            .await
        }
        Err(CoreError::EmailNotVerified) => {
            render(
                &st,
                &request,
                &params,
                &csrf,
                identifier,
                Some("Confirm your email address first: follow the link in the mail we sent you, then sign in again."),
                StatusCode::FORBIDDEN,
                &cookies,
                None,
                false,
            )
            .await
        }
        Err(CoreError::AccountDisabled) => {
            render(
                &st,
                &request,
                &params,
                &csrf,
                identifier,
                Some("This account is disabled. Ask your administrator."),
                StatusCode::FORBIDDEN,
                &cookies,
                None,
                false,
            )
            .await
        }
        Err(CoreError::RateLimited { retry_after }) => {
            let secs = retry_after.as_secs().max(1);
            let wait = if secs < 90 {
                format!("{secs} seconds")
            } else {
                format!("{} minutes", secs.div_ceil(60))
            };
            let message = format!("Too many failed sign-in attempts. Try again in {wait}.");
            let mut r = render(
                &st,
                &request,
                &params,
                &csrf,
                identifier,
                Some(&message),
                StatusCode::TOO_MANY_REQUESTS,
                &cookies,
                None,
                false,
            )
            .await;
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            r
        }
        Err(e) => unavailable(&st, e),
    }
}

#[cfg(test)]
mod tests {
    use super::{after_sign_in, console_path};

    #[test]
    fn only_console_paths_are_returned_to() {
        assert!(console_path("/console"));
        assert!(console_path("/console/users?q=ann&sort=-email"));
        assert!(console_path("/console?notice=saved"));
        for bad in [
            "https://evil.example/console",
            "//evil.example",
            "/console//evil.example",
            "/consoleX",
            "/console/../v1/users",
            "/console/\\evil",
            "/console/a b",
            "/login",
        ] {
            assert!(!console_path(bad), "{bad}");
        }
    }

    #[test]
    fn a_sign_in_meets_prompt_login_and_max_age() {
        assert_eq!(
            after_sign_in("client_id=c&prompt=login+consent&max_age=0&state=s"),
            "client_id=c&prompt=consent&state=s"
        );
        assert_eq!(after_sign_in("prompt=login&x=1"), "x=1");
    }
}
