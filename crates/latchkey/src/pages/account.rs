//! The account page (`/account`): the signed-in user's profile, password, email, sessions
//! and connected applications (`account_self.rs`), and two-step verification. Set up an
//! authenticator app (the QR code and the secret, then a code to confirm it; the recovery
//! codes are shown once), replace the recovery codes, or turn it off. Changes need a
//! sign-in in the last five minutes, as in the API; the page says so and offers one.
//! No script: every step is a form.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::views::{self, AccountView, Security};
use super::{
    browser, csrf_ok, csrf_token, field, form_fields, page, see_other, unavailable, url,
    RETURN_TO_ACCOUNT,
};
use crate::api::Client;
use crate::core::error::CoreError;
use crate::core::mfa::totp;
use crate::core::service::BrowserSession;
use crate::http::AppState;

/// Where a browser without a session goes: the sign-in page, back here afterwards.
fn to_sign_in(st: &AppState, cookies: &[HeaderValue]) -> Response {
    see_other(
        &format!("{}?{RETURN_TO_ACCOUNT}", url(st, &st.pages.login)),
        cookies,
    )
}

pub(super) async fn get_account(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let (csrf, set) = csrf_token(&st, &headers);
    let cookies: Vec<HeaderValue> = set.into_iter().collect();
    let Some(b) = (match browser(&st, &headers).await {
        Ok(b) => b,
        Err(r) => return r,
    }) else {
        return to_sign_in(&st, &cookies);
    };
    overview(&st, &b, &csrf, None, StatusCode::OK, &cookies).await
}

async fn overview(
    st: &AppState,
    b: &BrowserSession,
    csrf: &str,
    notice: Option<&str>,
    status: StatusCode,
    cookies: &[HeaderValue],
) -> Response {
    let state = match st.svc.my_mfa(&b.principal()).await {
        Ok(m) => match m.totp {
            Some(since) => Security::On {
                since: since.to_rfc3339(),
            },
            None => Security::Off,
        },
        Err(e) => return unavailable(st, e),
    };
    render(st, b, csrf, state, notice, status, cookies).await
}

async fn render(
    st: &AppState,
    b: &BrowserSession,
    csrf: &str,
    state: Security<'_>,
    notice: Option<&str>,
    status: StatusCode,
    cookies: &[HeaderValue],
) -> Response {
    let p = b.principal();
    let mfa = match st.svc.my_mfa(&p).await {
        Ok(m) => m,
        Err(e) => return unavailable(st, e),
    };
    let passkeys = if st.svc.passkeys_available() {
        match st.svc.my_passkeys(&p).await {
            Ok(k) => Some(k),
            Err(e) => return unavailable(st, e),
        }
    } else {
        None
    };
    let action = url(st, &st.pages.account);
    let extra = match super::account_self::sections(st, b, &action, csrf).await {
        Ok(m) => m,
        Err(e) => return unavailable(st, e),
    };
    // A refusal's message is an error; anything else a notice.
    let (notice, error) = if status.is_client_error() {
        (None, notice)
    } else {
        (notice, None)
    };
    let reauth = format!(
        "{}?{RETURN_TO_ACCOUNT}&prompt=login",
        url(st, &st.pages.login)
    );
    let logout = url(st, &st.pages.logout);
    let options = format!("{action}/passkey-options");
    page(
        status,
        views::account(&AccountView {
            action: &action,
            logout: &logout,
            reauth: &reauth,
            csrf,
            username: &b.user.username,
            state,
            notice,
            recovery_left: mfa.enabled().then_some(mfa.recovery_codes_remaining),
            passkeys: passkeys.as_deref(),
            passkey_options: &options,
            error,
            extra,
        }),
        None,
        cookies,
    )
}

/// The options for the "Add a passkey" button (JSON, for the page's script): the form's
/// CSRF token and the passkey's name in, `{"publicKey": …}` or `{"error", "reauth"?}` out.
pub(super) async fn post_passkey_options(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use axum::response::IntoResponse;
    let fail = |status: StatusCode, error: &str, reauth: Option<String>| {
        let mut v = serde_json::json!({ "error": error });
        if let Some(r) = reauth {
            v["reauth"] = r.into();
        }
        (status, axum::Json(v)).into_response()
    };
    let fields = form_fields(&headers, &body).unwrap_or_default();
    let b = match browser(&st, &headers).await {
        Ok(Some(b)) => b,
        Ok(None) => return fail(StatusCode::UNAUTHORIZED, "Sign in first.", None),
        Err(r) => return r,
    };
    if !csrf_ok(&st, &headers, field(&fields, "csrf")) {
        return fail(
            StatusCode::FORBIDDEN,
            "This form has expired. Reload the page and try again.",
            None,
        );
    }
    let name = field(&fields, "name").unwrap_or("");
    match st.svc.begin_passkey(&b.principal(), name).await {
        Ok(options) => (StatusCode::OK, axum::Json(options)).into_response(),
        Err(CoreError::RecentAuthRequired) => fail(
            StatusCode::FORBIDDEN,
            "For your security, sign in again before adding a passkey.",
            Some(format!(
                "{}?{RETURN_TO_ACCOUNT}&prompt=login",
                url(&st, &st.pages.login)
            )),
        ),
        Err(CoreError::Invalid { .. }) => fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Give the passkey a name of at most 64 characters.",
            None,
        ),
        Err(CoreError::MfaState(why)) => fail(StatusCode::CONFLICT, why, None),
        Err(e) => unavailable(&st, e),
    }
}

/// The enrollment step for `secret` (base32), with the QR code drawn again from it.
#[allow(clippy::too_many_arguments)]
async fn enrolling(
    st: &AppState,
    b: &BrowserSession,
    csrf: &str,
    secret: &str,
    error: Option<&str>,
    status: StatusCode,
    cookies: &[HeaderValue],
) -> Response {
    let Some(parsed) = totp::Secret::from_base32(secret) else {
        return render(
            st,
            b,
            csrf,
            Security::Off,
            Some("Start the set-up again."),
            StatusCode::UNPROCESSABLE_ENTITY,
            cookies,
        )
        .await;
    };
    let e = match st.svc.totp_enrollment(&b.user.username, &parsed) {
        Ok(e) => e,
        Err(e) => return unavailable(st, e),
    };
    render(
        st,
        b,
        csrf,
        Security::Enrolling {
            secret: &e.secret,
            qr_svg: &e.qr_svg,
            error,
        },
        None,
        status,
        cookies,
    )
    .await
}

pub(super) async fn post_account(
    State(st): State<AppState>,
    Client(info): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form_fields(&headers, &body).unwrap_or_default();
    let (csrf, set) = csrf_token(&st, &headers);
    let cookies: Vec<HeaderValue> = set.into_iter().collect();
    let Some(b) = (match browser(&st, &headers).await {
        Ok(b) => b,
        Err(r) => return r,
    }) else {
        return to_sign_in(&st, &cookies);
    };
    if !csrf_ok(&st, &headers, field(&fields, "csrf")) {
        return overview(
            &st,
            &b,
            &csrf,
            Some("This form has expired or did not come from this site. Try again."),
            StatusCode::FORBIDDEN,
            &cookies,
        )
        .await;
    }
    let p = b.principal();
    let step = field(&fields, "step").unwrap_or("");
    if let Some(done) = super::account_self::step(&st, &b, step, &fields, &info).await {
        return match done.map_err(super::account_self::refusal_text) {
            Ok(notice) => {
                // A password change ends the other sessions: show the page as it is now.
                overview(&st, &b, &csrf, Some(notice), StatusCode::OK, &cookies).await
            }
            Err(Ok((status, m))) => overview(&st, &b, &csrf, Some(&m), status, &cookies).await,
            Err(Err(e)) => unavailable(&st, e),
        };
    }
    let outcome = match step {
        "begin" => match st.svc.begin_totp(&p).await {
            Ok(e) => {
                return enrolling(&st, &b, &csrf, &e.secret, None, StatusCode::OK, &cookies).await
            }
            Err(e) => Err(e),
        },
        "confirm" => {
            let secret = field(&fields, "secret").unwrap_or("");
            let code = field(&fields, "code").unwrap_or("");
            match st.svc.confirm_totp(&p, code).await {
                Ok(c) => Ok((c.recovery_codes, "Two-step verification is on.")),
                Err(CoreError::InvalidMfaCode { .. } | CoreError::Invalid { .. }) => {
                    return enrolling(
                        &st,
                        &b,
                        &csrf,
                        secret,
                        Some("That code is not right. Enter the code the app shows now."),
                        StatusCode::UNAUTHORIZED,
                        &cookies,
                    )
                    .await
                }
                Err(e) => Err(e),
            }
        }
        "regenerate" => st.svc.regenerate_recovery_codes(&p).await.map(|codes| {
            (
                Some(codes),
                "New recovery codes: the old ones no longer work.",
            )
        }),
        "remove" => st
            .svc
            .remove_totp(&p)
            .await
            .map(|()| (None, "The authenticator app is removed.")),
        "passkey_finish" => {
            let credential = field(&fields, "credential").unwrap_or("");
            match st.svc.finish_passkey(&p, credential).await {
                Ok(added) => Ok(match added.recovery_codes {
                    Some(codes) => (Some(codes), "Passkey added: two-step verification is on."),
                    None => (None, "Passkey added."),
                }),
                Err(CoreError::Invalid { .. }) => Err(CoreError::MfaState(
                    "the passkey's answer did not verify: add it again",
                )),
                Err(e) => Err(e),
            }
        }
        "passkey_remove" => {
            let id = field(&fields, "id").unwrap_or("");
            match st.svc.remove_passkey(&p, id).await {
                Ok(()) => Ok((None, "Passkey removed.")),
                Err(CoreError::NotFound(_)) => Err(CoreError::MfaState("no such passkey")),
                Err(e) => Err(e),
            }
        }
        _ => Err(CoreError::MfaState("choose what to change")),
    };
    match outcome {
        // Recovery codes are shown this once, on their own page.
        Ok((Some(codes), notice)) => {
            render(
                &st,
                &b,
                &csrf,
                Security::Codes { codes: &codes },
                Some(notice),
                StatusCode::OK,
                &cookies,
            )
            .await
        }
        Ok((None, notice)) => {
            overview(&st, &b, &csrf, Some(notice), StatusCode::OK, &cookies).await
        }
        Err(CoreError::RecentAuthRequired) => {
            render(
                &st,
                &b,
                &csrf,
                Security::Reauthenticate,
                None,
                StatusCode::FORBIDDEN,
                &cookies,
            )
            .await
        }
        Err(CoreError::MfaState(why)) => {
            let mut s = why.to_owned();
            if let Some(first) = s.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            s.push('.');
            overview(&st, &b, &csrf, Some(&s), StatusCode::CONFLICT, &cookies).await
        }
        Err(e) => unavailable(&st, e),
    }
}
