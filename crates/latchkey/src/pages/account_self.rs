//! The account page's own sections besides two-step verification: the profile, the password,
//! the email address (where mail is sent), the sessions (end any other one) and the
//! connected applications (revoke one). Each step goes through the core operation the API's
//! `/v1/me…` endpoints use, so the same rules, limits and audit apply.

use axum::http::StatusCode;
use maud::{html, Markup};

use super::console_views::{device, when};
use crate::core::error::CoreError;
use crate::core::model::{ClientInfo, ProfilePatch, SessionId};
use crate::core::service::{BrowserSession, UserPatch};
use crate::http::AppState;

/// The sections, rendered for `b`.
pub(super) async fn sections(
    st: &AppState,
    b: &BrowserSession,
    action: &str,
    csrf: &str,
) -> Result<Markup, CoreError> {
    let p = b.principal();
    let sessions = st.svc.list_own_sessions(&p).await?;
    let grants = st.svc.list_grants(&p).await?;
    let u = &b.user;
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let head = |step: &str| {
        html! {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="step" value=(step);
        }
    };
    Ok(html! {
        h2 id="profile" { "Profile" }
        form method="post" action=(action) {
            (head("profile"))
            label for="a-display" { "Display name" }
            input id="a-display" name="display_name" type="text" autocomplete="nickname" value=(opt(&u.profile.display_name));
            label for="a-first" { "First name" }
            input id="a-first" name="first_name" type="text" autocomplete="given-name" value=(opt(&u.profile.first_name));
            label for="a-last" { "Last name" }
            input id="a-last" name="last_name" type="text" autocomplete="family-name" value=(opt(&u.profile.last_name));
            button type="submit" class="secondary" { "Save profile" }
        }
        h2 id="password" { "Password" }
        form method="post" action=(action) {
            (head("password"))
            input type="text" name="username" autocomplete="username" value=(u.username) hidden;
            label for="a-current" { "Current password" }
            input id="a-current" name="current_password" type="password" autocomplete="current-password" required;
            label for="a-new" { "New password" }
            input id="a-new" name="new_password" type="password" autocomplete="new-password" required aria-describedby="a-new-hint";
            p id="a-new-hint" class="hint" { "Your other sessions end when it changes." }
            button type="submit" class="secondary" { "Change password" }
        }
        h2 id="email" { "Email address" }
        p { (u.email) " " @if u.email_verified { span class="badge ok" { "verified" } } @else { span class="badge" { "not verified" } } }
        @if st.svc.mail_enabled() {
            form method="post" action=(action) {
                (head("email"))
                label for="a-email" { "New email address" }
                input id="a-email" name="new_email" type="email" autocomplete="email" required;
                label for="a-email-password" { "Current password" }
                input id="a-email-password" name="password" type="password" autocomplete="current-password" required;
                p class="hint" { "We send a link to the new address; the change is made when you follow it." }
                button type="submit" class="secondary" { "Change email address" }
            }
        } @else {
            p class="hint" { "This server sends no mail: an administrator can change your address." }
        }
        h2 id="sessions" { "Sessions" }
        ul class="keys" {
            @for s in &sessions {
                li {
                    span {
                        (device(s.user_agent.as_deref())) " · " (s.client_ip.as_deref().unwrap_or("unknown address"))
                        br; span class="hint" { "last used " (when(s.last_used_at)) }
                    }
                    @if s.id == b.session.id {
                        span class="badge" { "this browser" }
                    } @else {
                        form method="post" action=(action) class="inline" {
                            (head("end_session"))
                            input type="hidden" name="session" value=(s.id.0);
                            button type="submit" class="secondary" { "End session" }
                        }
                    }
                }
            }
        }
        h2 id="applications" { "Connected applications" }
        @if grants.is_empty() {
            p class="hint" { "No application has access to your account." }
        } @else {
            ul class="keys" {
                @for g in &grants {
                    li {
                        span { strong { (g.client_name) } br; span class="hint" { (g.scope) " · since " (when(g.created_at)) } }
                        form method="post" action=(action) class="inline" {
                            (head("revoke_app"))
                            input type="hidden" name="client" value=(g.client_id);
                            button type="submit" class="secondary" { "Revoke" }
                        }
                    }
                }
            }
        }
    })
}

/// Carries out one of these sections' steps: the notice to show, or the refusal. `None`
/// when `step` is not one of them.
pub(super) async fn step(
    st: &AppState,
    b: &BrowserSession,
    step: &str,
    fields: &[(String, String)],
    client: &ClientInfo,
) -> Option<Result<&'static str, CoreError>> {
    let p = b.principal();
    let get = |k: &str| super::field(fields, k).unwrap_or("");
    let text = |k: &str| Some(Some(get(k).trim().to_owned()).filter(|v| !v.is_empty()));
    Some(match step {
        "profile" => {
            let patch = UserPatch {
                profile: ProfilePatch {
                    display_name: text("display_name"),
                    first_name: text("first_name"),
                    last_name: text("last_name"),
                    ..Default::default()
                },
                ..Default::default()
            };
            st.svc
                .update_user(&p, p.user_id, patch)
                .await
                .map(|_| "Profile saved.")
        }
        "password" => st
            .svc
            .change_password(
                &p,
                p.user_id,
                get("current_password"),
                get("new_password"),
                client,
            )
            .await
            .map(|()| "Password changed. Your other sessions have ended."),
        "email" => st
            .svc
            .request_email_change(&p, get("new_email").trim(), get("password"), client)
            .await
            .map(|_| "Check the new address: we sent it a link to confirm the change."),
        "end_session" => st
            .svc
            .end_own_session(&p, &SessionId(get("session").to_owned()))
            .await
            .map(|()| "Session ended."),
        "revoke_app" => st
            .svc
            .revoke_grant(&p, get("client"))
            .await
            .map(|()| "Access revoked: the application's tokens no longer work."),
        _ => return None,
    })
}

/// What the page says when a step is refused, and its status; the service's own failures
/// come back for the error page.
pub(super) fn refusal_text(e: CoreError) -> Result<(StatusCode, String), CoreError> {
    Ok(match e {
        CoreError::WrongPassword => (
            StatusCode::BAD_REQUEST,
            "The current password is not right.".to_owned(),
        ),
        CoreError::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many changes from here: try again later.".to_owned(),
        ),
        CoreError::Unavailable | CoreError::Internal(_) => return Err(e),
        other => {
            let p = crate::api::problem::Problem::from(other);
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, super::console_sentence(&p.detail))
        }
    })
}
