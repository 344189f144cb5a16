//! The account page (`/account`): the signed-in user's two-step verification. Set up an
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
    let mfa = match st.svc.my_mfa(&b.principal()).await {
        Ok(m) => m,
        Err(e) => return unavailable(st, e),
    };
    let state = match mfa.totp {
        Some(since) => Security::On {
            since: since.to_rfc3339(),
            recovery_codes_remaining: mfa.recovery_codes_remaining,
        },
        None => Security::Off,
    };
    render(st, b, csrf, state, notice, status, cookies)
}

fn render(
    st: &AppState,
    b: &BrowserSession,
    csrf: &str,
    state: Security<'_>,
    notice: Option<&str>,
    status: StatusCode,
    cookies: &[HeaderValue],
) -> Response {
    let action = url(st, &st.pages.account);
    let reauth = format!(
        "{}?{RETURN_TO_ACCOUNT}&prompt=login",
        url(st, &st.pages.login)
    );
    let logout = url(st, &st.pages.logout);
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
        }),
        None,
        cookies,
    )
}

/// The enrollment step for `secret` (base32), with the QR code drawn again from it.
#[allow(clippy::too_many_arguments)]
fn enrolling(
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
        );
    };
    let uri = totp::otpauth_uri(&parsed, st.svc.tokens().issuer(), &b.user.username);
    let qr = totp::qr_svg(&uri).unwrap_or_default();
    let secret = parsed.to_base32();
    render(
        st,
        b,
        csrf,
        Security::Enrolling {
            secret: &secret,
            qr_svg: &qr,
            error,
        },
        None,
        status,
        cookies,
    )
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
    let _ = info;
    let step = field(&fields, "step").unwrap_or("");
    let outcome = match step {
        "begin" => match st.svc.begin_totp(&p).await {
            Ok(e) => return enrolling(&st, &b, &csrf, &e.secret, None, StatusCode::OK, &cookies),
            Err(e) => Err(e),
        },
        "confirm" => {
            let secret = field(&fields, "secret").unwrap_or("");
            let code = field(&fields, "code").unwrap_or("");
            match st.svc.confirm_totp(&p, code).await {
                Ok(c) => match c.recovery_codes {
                    Some(codes) => {
                        return render(
                            &st,
                            &b,
                            &csrf,
                            Security::Codes { codes: &codes },
                            Some("Two-step verification is on."),
                            StatusCode::OK,
                            &cookies,
                        )
                    }
                    None => Ok("Two-step verification is on."),
                },
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
                }
                Err(e) => Err(e),
            }
        }
        "regenerate" => match st.svc.regenerate_recovery_codes(&p).await {
            Ok(codes) => {
                return render(
                    &st,
                    &b,
                    &csrf,
                    Security::Codes { codes: &codes },
                    Some("New recovery codes: the old ones no longer work."),
                    StatusCode::OK,
                    &cookies,
                )
            }
            Err(e) => Err(e),
        },
        "remove" => st
            .svc
            .remove_totp(&p)
            .await
            .map(|()| "Two-step verification is off."),
        _ => Err(CoreError::MfaState("choose what to change")),
    };
    match outcome {
        Ok(notice) => overview(&st, &b, &csrf, Some(notice), StatusCode::OK, &cookies).await,
        Err(CoreError::RecentAuthRequired) => render(
            &st,
            &b,
            &csrf,
            Security::Reauthenticate,
            None,
            StatusCode::FORBIDDEN,
            &cookies,
        ),
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
