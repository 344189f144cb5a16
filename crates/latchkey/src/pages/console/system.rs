//! The overview (figures, the sign-in chart, current locks, recent events), the audit log,
//! the signing keys and the effective settings.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use super::views::{self, button_form, empty, table, when};
use super::{notice, param, refusal, value, Console, Flash, Params, Posted};
use crate::core::audit::{AuditQuery, AuditRecord};
use crate::http::AppState;

pub(super) async fn get_overview(
    State(st): State<AppState>,
    c: Console,
    Params(q): Params,
) -> Response {
    overview(&st, &c, notice(param(&q, "notice")), StatusCode::OK).await
}

async fn overview(st: &AppState, c: &Console, flash: Flash, status: StatusCode) -> Response {
    let o = match c.admin(st) {
        Ok(a) => a.overview().await,
        Err(e) => Err(e),
    };
    let o = match o {
        Ok(o) => o,
        Err(e) => return super::unavailable(st, e),
    };
    let body = html! {
        ul class="stats" {
            li { a href="/console/users" { span class="figure" { (o.users) } " users" } }
            li { span class="figure" { (o.active_sessions) } " active sessions" }
            li { span class="figure" { (o.logins.iter().map(|h| h.succeeded).sum::<i64>()) } " sign-ins, 24 h" }
            li { span class="figure" { (o.logins.iter().map(|h| h.failed).sum::<i64>()) } " failed sign-ins, 24 h" }
        }
        section aria-labelledby="chart-h" {
            h2 id="chart-h" { "Sign-ins, last 24 hours" }
            (views::logins_chart(&o.logins))
        }
        section aria-labelledby="locks-h" {
            h2 id="locks-h" { "Current locks" }
            @if o.locks.is_empty() {
                (empty("No identifier or address is locked.", Some("After repeated failed sign-ins an identifier is locked for a while; it shows here and can be lifted early.")))
            } @else {
                (table("Current locks", html! {
                    th scope="col" { "Locked" } th scope="col" { "Failures" } th scope="col" { "Until" } th scope="col" { span class="sr-only" { "Action" } }
                }, html! {
                    @for l in &o.locks {
                        @let (kind, subject) = l.subject();
                        tr {
                            td { (kind) " " code { (subject) } }
                            td { (l.failures) }
                            td class="date" { (when(l.until)) }
                            td { (button_form("/console", &c.csrf, "unlock", Some(("key", &l.key)), "Lift lock", "secondary small")) }
                        }
                    }
                }))
            }
        }
        section aria-labelledby="recent-h" {
            h2 id="recent-h" { "Recent security events" }
            (events(&o.recent))
            p { a href="/console/audit" { "The whole audit log" } }
        }
    };
    c.page(st, status, "Overview", "", &flash, body)
}

pub(super) async fn post_overview(
    State(st): State<AppState>,
    Posted(c, fields): Posted,
) -> Response {
    let result = match (super::field(&fields, "action"), c.admin(&st)) {
        (Some("unlock"), Ok(a)) => a.unlock(value(&fields, "key").unwrap_or("")).await,
        (_, Err(e)) => Err(e),
        _ => {
            return overview(
                &st,
                &c,
                Flash::Error("Choose what to do.".into()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    match result {
        Ok(()) => c.done("/console", "unlocked"),
        Err(e) => match refusal(&st, e) {
            Ok((status, m)) => overview(&st, &c, Flash::Error(m), status).await,
            Err(r) => r,
        },
    }
}

/// A table of audit events.
pub(super) fn events(list: &[AuditRecord]) -> Markup {
    if list.is_empty() {
        return empty("No events yet.", None);
    }
    table(
        "Audit events",
        html! {
            th scope="col" { "When" } th scope="col" { "Action" } th scope="col" { "Outcome" }
            th scope="col" { "Actor" } th scope="col" { "Target" } th scope="col" { "Address" }
            th scope="col" { "Detail" }
        },
        html! {
            @for e in list {
                tr {
                    td class="date" { (when(e.at)) }
                    td class="nowrap" { code { (e.action) } }
                    td { span class={ "badge " (if e.outcome == "success" { "ok" } else { "bad" }) } { (e.outcome) } }
                    td {
                        @match (e.actor_id, &e.actor) {
                            (Some(id), Some(name)) if id > 0 => a href={ "/console/users/" (id) } { (name) },
                            (_, Some(name)) => (name),
                            _ => "—",
                        }
                    }
                    td {
                        @match (e.target_type.as_deref(), e.target_id.as_deref()) {
                            (Some("user"), Some(id)) => a href={ "/console/users/" (id) } { "user " (id) },
                            (Some(t), Some(id)) => { (t) " " code { (id) } },
                            _ => "—",
                        }
                    }
                    td { (e.client_ip.as_deref().unwrap_or("—")) }
                    td class="detail" { (e.detail.as_deref().unwrap_or("")) }
                }
            }
        },
    )
}

const AUDIT_PAGE: u64 = 50;

pub(super) async fn get_audit(
    State(st): State<AppState>,
    c: Console,
    Params(q): Params,
) -> Response {
    let page: u64 = match param(&q, "page").map(str::parse::<u64>) {
        None => 1,
        Some(Ok(n)) if (1..=100_000).contains(&n) => n,
        Some(_) => {
            return c.page(
                &st,
                StatusCode::BAD_REQUEST,
                "Audit log",
                "/audit",
                &Flash::Error("The page must be a number from 1.".into()),
                html! { p { a href="/console/audit" { "The first page" } } },
            )
        }
    };
    let outcome = param(&q, "outcome").filter(|o| *o == "success" || *o == "failure");
    // The actor is named as people know them; one no user has matches nothing.
    let actor_id = match param(&q, "actor") {
        None => None,
        Some(name) => match st.svc.member(&c.p).find_user(name).await {
            Ok(u) => Some(u.id.0),
            Err(crate::core::error::CoreError::NotFound(_)) => Some(-1),
            Err(e) => return super::unavailable(&st, e),
        },
    };
    let query = AuditQuery {
        actor_id,
        action: param(&q, "action").map(str::to_owned),
        outcome: outcome.map(str::to_owned),
        target_type: param(&q, "target_type").map(str::to_owned),
        target_id: param(&q, "target_id").map(str::to_owned),
        ..Default::default()
    };
    let listed = match c.admin(&st) {
        Ok(a) => {
            a.list_audit(&query, (page - 1) * AUDIT_PAGE, AUDIT_PAGE)
                .await
        }
        Err(e) => Err(e),
    };
    let (list, total) = match listed {
        Ok(v) => v,
        Err(e) => match refusal(&st, e) {
            Ok((status, m)) => {
                return c.page(
                    &st,
                    status,
                    "Audit log",
                    "/audit",
                    &Flash::Error(m),
                    html! {},
                )
            }
            Err(r) => return r,
        },
    };
    let keep: Vec<(&str, &str)> = ["action", "outcome", "actor", "target_type", "target_id"]
        .into_iter()
        .filter_map(|k| param(&q, k).map(|v| (k, v)))
        .collect();
    let link = |p: u64| {
        let mut all = keep.clone();
        let p = p.to_string();
        all.push(("page", &p));
        format!(
            "/console/audit?{}",
            serde_urlencoded::to_string(&all).unwrap_or_default()
        )
    };
    let pages = total.div_ceil(AUDIT_PAGE).max(1);
    let body = html! {
        form method="get" action="/console/audit" class="filters" role="search" aria-label="Filter the audit log" {
            div { label for="f-action" { "Action" }
                input id="f-action" name="action" type="text" placeholder="login, user.updated…" value=(param(&q, "action").unwrap_or("")); }
            div { label for="f-outcome" { "Outcome" }
                select id="f-outcome" name="outcome" {
                    option value="" selected[outcome.is_none()] { "Any" }
                    option value="success" selected[outcome == Some("success")] { "Success" }
                    option value="failure" selected[outcome == Some("failure")] { "Failure" }
                } }
            div { label for="f-actor" { "Actor" }
                input id="f-actor" name="actor" type="text" placeholder="username" value=(param(&q, "actor").unwrap_or("")); }
            div { label for="f-tt" { "Target type" }
                input id="f-tt" name="target_type" type="text" placeholder="user, session, client…" value=(param(&q, "target_type").unwrap_or("")); }
            div { label for="f-tid" { "Target id" }
                input id="f-tid" name="target_id" type="text" value=(param(&q, "target_id").unwrap_or("")); }
            button type="submit" { "Filter" }
        }
        p class="hint" role="status" { (total) " events · page " (page) " of " (pages) }
        @if list.is_empty() && !keep.is_empty() {
            (empty("No events match these filters.", Some("Actions are exact names, such as login or user.updated.")))
        } @else {
            (events(&list))
        }
        nav class="pager" aria-label="Pages" {
            @if page > 1 { a href=(link(page - 1)) rel="prev" { "Newer" } }
            @if page < pages { a href=(link(page + 1)) rel="next" { "Older" } }
        }
    };
    c.page(
        &st,
        StatusCode::OK,
        "Audit log",
        "/audit",
        &Flash::None,
        body,
    )
}

pub(super) async fn get_keys(
    State(st): State<AppState>,
    c: Console,
    Params(q): Params,
) -> Response {
    keys(&st, &c, notice(param(&q, "notice"))).await
}

async fn keys(st: &AppState, c: &Console, flash: Flash) -> Response {
    let listed = match c.admin(st) {
        Ok(a) => a.signing_keys().await,
        Err(e) => Err(e),
    };
    let list = match listed {
        Ok(l) => l,
        Err(e) => return super::unavailable(st, e),
    };
    let body = html! {
        p class="lead" {
            "Access tokens are signed with Ed25519; ID tokens with RS256 or ES256, as each application asks. "
            "Rotating adds a new key per algorithm that signs from now on; the previous keys stay in "
            a href="/.well-known/jwks.json" { "the JWKS" } " until the tokens they signed have expired."
        }
        (button_form("/console/keys", &c.csrf, "rotate", None, "Rotate signing keys", "primary"))
        @if list.is_empty() {
            (empty("No keys yet.", Some("They are made at the first start.")))
        } @else {
            (table("Signing keys", html! {
                th scope="col" { "Key id" } th scope="col" { "Algorithm" } th scope="col" { "Created" } th scope="col" { "State" }
            }, html! {
                @for k in &list {
                    tr {
                        td { code { (k.kid) } }
                        td { (k.alg.as_str()) }
                        td class="date" { (when(k.created_at)) }
                        td {
                            @match k.retired_at {
                                None => span class="badge ok" { "Signing" },
                                Some(t) => { span class="badge" { "Verifying only" } " since " (when(t)) },
                            }
                        }
                    }
                }
            }))
        }
    };
    c.page(st, StatusCode::OK, "Signing keys", "/keys", &flash, body)
}

pub(super) async fn post_keys(State(st): State<AppState>, Posted(c, fields): Posted) -> Response {
    if super::field(&fields, "action") != Some("rotate") {
        return keys(&st, &c, Flash::Error("Choose what to do.".into())).await;
    }
    let rotated = match c.admin(&st) {
        Ok(a) => a.rotate_keys().await,
        Err(e) => Err(e),
    };
    match rotated {
        Ok(_) => c.done("/console/keys", "rotated"),
        Err(e) => super::unavailable(&st, e),
    }
}

pub(super) async fn get_settings(State(st): State<AppState>, c: Console) -> Response {
    let body = html! {
        p class="lead" {
            "The configuration this instance runs with: each option's value and where it came from. "
            "Passwords and keys are never shown; URLs are shown without their password. "
            "Change them on the command line or in the environment, then restart."
        }
        @if st.settings.is_empty() {
            (empty("Not known.", Some("This instance was not started by `latchkey serve`.")))
        } @else {
            (table("Settings", html! {
                th scope="col" { "Option" } th scope="col" { "Environment" } th scope="col" { "Value" } th scope="col" { "From" }
            }, html! {
                @for s in st.settings.iter() {
                    tr {
                        td { code { (s.option) } }
                        td { @if let Some(e) = &s.env { code { (e) } } }
                        td class="detail" { (s.value) }
                        td { (s.source) }
                    }
                }
            }))
        }
    };
    c.page(
        &st,
        StatusCode::OK,
        "Settings",
        "/settings",
        &Flash::None,
        body,
    )
}
