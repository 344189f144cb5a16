//! Users: the searchable, filterable, sortable list (keyset pages, the API's index), creating
//! a user, and one user's page — profile, roles with their history, organization, sessions,
//! second factors, audit trail, disable/enable and delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use super::views::{button_form, device, empty, form_head, table, when};
use super::{field, notice, param, refusal, value, Console, Flash, Params, Posted};
use crate::api::users::{decode_cursor, encode_cursor, parse_sort};
use crate::core::audit::AuditQuery;
use crate::core::error::CoreError;
use crate::core::model::{
    AssignmentQuery, OrgId, PageRequest, Profile, ProfilePatch, SessionId, User, UserId, UserQuery,
};
use crate::core::service::{NewAccount, UserPatch};
use crate::http::AppState;

/// Users per page of the list.
const PER_PAGE: u64 = 25;
/// Matches are counted up to this many ("1,000+ users match" past it).
const COUNT_AT_MOST: u64 = crate::core::model::TOTAL_BOUND;
/// The list's order when no column is chosen.
const DEFAULT_SORT: &str = "-id";

pub(super) async fn get_list(
    State(st): State<AppState>,
    c: Console,
    Params(q): Params,
) -> Response {
    list(
        &st,
        &c,
        &q,
        notice(param(&q, "notice")),
        &[],
        StatusCode::OK,
    )
    .await
}

/// The list for the query `q`, with the create form refilled from `posted`.
async fn list(
    st: &AppState,
    c: &Console,
    q: &[(String, String)],
    flash: Flash,
    posted: &[(String, String)],
    status: StatusCode,
) -> Response {
    // Newest first unless a column is chosen: the order the search index keeps, so a
    // search's page is cut inside the index (a million users cost what a thousand do).
    let sort_raw = param(q, "sort").unwrap_or(DEFAULT_SORT);
    let (sort, descending) = match parse_sort(Some(sort_raw)) {
        Ok(s) => s,
        Err(p) => return bad_query(st, c, &p.detail),
    };
    let cursor = match param(q, "cursor").map(decode_cursor).transpose() {
        Ok(c) => c.flatten(),
        Err(p) => return bad_query(st, c, &p.detail),
    };
    let org = match param(q, "organization").map(str::parse::<i64>).transpose() {
        Ok(o) => o.map(OrgId),
        Err(_) => return bad_query(st, c, "organization must be an organization's id"),
    };
    let active = match param(q, "active") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return bad_query(st, c, "active must be true or false"),
    };
    let search = param(q, "q");
    let role = param(q, "role");
    let query = UserQuery {
        search: search.map(str::to_owned),
        role: role.map(str::to_owned),
        organization: org,
        active,
        weak_password_hash: None,
        sort,
        descending,
        count_at_most: Some(COUNT_AT_MOST),
    };
    let page = PageRequest::After {
        cursor,
        limit: PER_PAGE,
    };
    let a = match c.admin(st) {
        Ok(a) => a,
        Err(e) => return super::unavailable(st, e),
    };
    let found = match a.list_users(&query, &page).await {
        Ok(f) => f,
        Err(e) => match refusal(st, e) {
            Ok((_, m)) => return bad_query(st, c, &m),
            Err(r) => return r,
        },
    };
    let (roles, orgs) = match (a.list_roles().await, a.list_orgs(0, 500).await) {
        (Ok(r), Ok((o, _))) => (r, o),
        (Err(e), _) | (_, Err(e)) => return super::unavailable(st, e),
    };
    // The query without the cursor (for sorting and the first page), and with it.
    let keep: Vec<(&str, &str)> = ["q", "role", "organization", "active", "sort"]
        .into_iter()
        .filter_map(|k| param(q, k).map(|v| (k, v)))
        .collect();
    let with = |extra: &[(&str, &str)]| {
        let mut all: Vec<(&str, &str)> = keep
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .copied()
            .collect();
        all.extend_from_slice(extra);
        format!(
            "/console/users?{}",
            serde_urlencoded::to_string(&all).unwrap_or_default()
        )
    };
    let sort_link = |key: &str| {
        let next = if sort_raw == key {
            format!("-{key}")
        } else {
            key.to_owned()
        };
        with(&[("sort", &next)])
    };
    let arrow = |key: &str| -> (&'static str, Option<&'static str>) {
        if sort_raw == key {
            (" ▲", Some("ascending"))
        } else if sort_raw.strip_prefix('-') == Some(key) {
            (" ▼", Some("descending"))
        } else {
            ("", None)
        }
    };
    let next = found.next_cursor.as_ref().map(encode_cursor);
    let filtered = !keep.iter().all(|(k, _)| *k == "sort");
    let body = html! {
        form method="get" action="/console/users" class="filters" role="search" aria-label="Users"
            hx-get="/console/users" hx-trigger="input changed delay:300ms from:#q, change"
            hx-target="#results" hx-select="#results" hx-swap="outerHTML" hx-push-url="true" {
            div class="grow" {
                label for="q" { "Search users" }
                input id="q" name="q" type="search" value=(search.unwrap_or(""))
                    placeholder="Username, email or name" autocomplete="off" spellcheck="false";
            }
            div { label for="f-role" { "Role" }
                select id="f-role" name="role" {
                    option value="" { "Any" }
                    @for r in &roles { option value=(r.name) selected[role == Some(r.name.as_str())] { (r.name) } }
                } }
            div { label for="f-org" { "Organization" }
                select id="f-org" name="organization" {
                    option value="" { "Any" }
                    @for o in &orgs { option value=(o.id.0) selected[org == Some(o.id)] { (o.name) } }
                } }
            div { label for="f-active" { "State" }
                select id="f-active" name="active" {
                    option value="" { "Any" }
                    option value="true" selected[active == Some(true)] { "Active" }
                    option value="false" selected[active == Some(false)] { "Disabled" }
                } }
            @if let Some(s) = param(q, "sort") { input type="hidden" name="sort" value=(s); }
            button type="submit" { "Search" }
            span class="htmx-indicator" aria-hidden="true" { "Searching…" }
        }
        div id="results" {
            p class="hint" role="status" {
                @if found.more { (found.total) "+" } @else { (found.total) }
                @if found.total == 1 { " user" } @else { " users" }
                @if filtered { " match" }
                @if sort_raw == DEFAULT_SORT { " · newest first" }
            }
            @if found.users.is_empty() {
                @if filtered {
                    (empty("No user matches.", Some("Try fewer letters, or another filter.")))
                } @else {
                    (empty("No users yet.", Some("Create the first one below.")))
                }
            } @else {
                (table("Users", html! {
                    @for (key, label) in [("username", "Username"), ("email", "Email"), ("created_at", "Created")] {
                        @let (mark, dir) = arrow(key);
                        th scope="col" aria-sort=[dir] { a href=(sort_link(key)) { (label) (mark) } }
                    }
                    th scope="col" { "Name" } th scope="col" { "Roles" } th scope="col" { "State" }
                }, html! {
                    @for u in &found.users {
                        tr {
                            td { a href={ "/console/users/" (u.id.0) } { (u.username) } }
                            td { (u.email) }
                            td class="date" { (when(u.created_at)) }
                            td { (u.profile.full_name()) }
                            td { (u.roles.join(", ")) }
                            td { (state_badge(u)) }
                        }
                    }
                }))
            }
            nav class="pager" aria-label="Pages" {
                @if cursor_present(q) { a href=(with(&[])) { "First page" } }
                @if let Some(n) = &next { a href=(with(&[("cursor", n)])) rel="next" { "Next page" } }
            }
        }
        (create_form(c, posted))
    };
    c.page(st, status, "Users", "/users", &flash, body)
}

fn cursor_present(q: &[(String, String)]) -> bool {
    param(q, "cursor").is_some()
}

fn state_badge(u: &User) -> Markup {
    html! {
        @if u.is_active { span class="badge ok" { "Active" } } @else { span class="badge bad" { "Disabled" } }
    }
}

/// A query the list cannot answer: a 400 page that says why and how to start over.
fn bad_query(st: &AppState, c: &Console, why: &str) -> Response {
    c.page(
        st,
        StatusCode::BAD_REQUEST,
        "Users",
        "/users",
        &Flash::Error(super::sentence(why)),
        html! { p { a href="/console/users" { "All users" } } },
    )
}

fn create_form(c: &Console, posted: &[(String, String)]) -> Markup {
    let v = |k: &str| field(posted, k).unwrap_or("").to_owned();
    html! {
        section aria-labelledby="create-h" {
            h2 id="create-h" { "Create a user" }
            form method="post" action="/console/users" class="grid" {
                (form_head(&c.csrf, "create"))
                div { label for="n-username" { "Username" }
                    input id="n-username" name="username" type="text" required autocomplete="off" value=(v("username")); }
                div { label for="n-email" { "Email" }
                    input id="n-email" name="email" type="email" required autocomplete="off" value=(v("email")); }
                div { label for="n-first" { "First name" }
                    input id="n-first" name="first_name" type="text" value=(v("first_name")); }
                div { label for="n-last" { "Last name" }
                    input id="n-last" name="last_name" type="text" value=(v("last_name")); }
                div { label for="n-password" { "Password" }
                    input id="n-password" name="password" type="password" required autocomplete="new-password"; }
                div class="end" { button type="submit" { "Create user" } }
            }
        }
    }
}

pub(super) async fn post_list(State(st): State<AppState>, Posted(c, fields): Posted) -> Response {
    if field(&fields, "action") != Some("create") {
        return list(
            &st,
            &c,
            &[],
            Flash::Error("Choose what to do.".into()),
            &fields,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let account = NewAccount {
        username: value(&fields, "username").unwrap_or("").to_owned(),
        email: value(&fields, "email").unwrap_or("").to_owned(),
        password: field(&fields, "password").unwrap_or("").to_owned(),
        profile: Profile {
            first_name: value(&fields, "first_name").map(str::to_owned),
            last_name: value(&fields, "last_name").map(str::to_owned),
            ..Default::default()
        },
        organization: None,
        roles: Vec::new(),
        is_active: true,
        default_role: None,
        invitation: false,
    };
    let created = match c.admin(&st) {
        Ok(a) => a.create_user(account).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(u) => c.done(&format!("/console/users/{}", u.id.0), "created"),
        Err(e) => match refusal(&st, e) {
            Ok((status, m)) => list(&st, &c, &[], Flash::Error(m), &fields, status).await,
            Err(r) => r,
        },
    }
}

/// The user id of a path, or the 404 page.
#[allow(clippy::result_large_err)] // a response, built once, on the way out
fn user_id(st: &AppState, c: &Console, raw: &str) -> Result<UserId, Response> {
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(UserId(id)),
        _ => Err(not_found(st, c)),
    }
}

fn not_found(st: &AppState, c: &Console) -> Response {
    c.page(
        st,
        StatusCode::NOT_FOUND,
        "No such user",
        "/users",
        &Flash::Error("There is no such user: it may have been deleted.".into()),
        html! { p { a href="/console/users" { "All users" } } },
    )
}

pub(super) async fn get_user(
    State(st): State<AppState>,
    c: Console,
    Params(q): Params,
    Path(raw): Path<String>,
) -> Response {
    let id = match user_id(&st, &c, &raw) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let confirm = param(&q, "confirm") == Some("delete");
    detail(
        &st,
        &c,
        id,
        notice(param(&q, "notice")),
        &[],
        confirm,
        StatusCode::OK,
    )
    .await
}

/// One user's page.
async fn detail(
    st: &AppState,
    c: &Console,
    id: UserId,
    flash: Flash,
    posted: &[(String, String)],
    confirm_delete: bool,
    status: StatusCode,
) -> Response {
    let a = match c.admin(st) {
        Ok(a) => a,
        Err(e) => return super::unavailable(st, e),
    };
    let u = match a.get_user(id).await {
        Ok(u) => u,
        Err(CoreError::NotFound(_)) => return not_found(st, c),
        Err(e) => return super::unavailable(st, e),
    };
    let history_q = AssignmentQuery {
        user_id: Some(id),
        ..Default::default()
    };
    let audit_q = AuditQuery {
        target_type: Some("user".into()),
        target_id: Some(id.0.to_string()),
        ..Default::default()
    };
    let loaded = async {
        Ok::<_, CoreError>((
            a.list_roles().await?,
            a.list_orgs(0, 500).await?.0,
            a.list_assignments(&history_q, 0, 50).await?.0,
            a.user_sessions(id).await?,
            a.user_mfa(id).await?,
            a.list_audit(&audit_q, 0, 20).await?.0,
        ))
    }
    .await;
    let (roles, orgs, history, sessions, mfa, trail) = match loaded {
        Ok(v) => v,
        Err(e) => return super::unavailable(st, e),
    };
    let here = format!("/console/users/{}", id.0);
    let v = |k: &str, current: &str| field(posted, k).unwrap_or(current).to_owned();
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let grantable: Vec<_> = roles.iter().filter(|r| !u.has_role(&r.name)).collect();
    let is_self = c.p.user_id == id;
    let body = html! {
        p class="lead" {
            (u.email) " · " (state_badge(&u)) " "
            @if u.email_verified { span class="badge ok" { "Email verified" } } @else { span class="badge" { "Email not verified" } }
            " "
            @if u.mfa_enabled { span class="badge ok" { "Two-step on" } } @else { span class="badge" { "Two-step off" } }
        }
        @if confirm_delete {
            section class="danger" aria-labelledby="confirm-h" {
                h2 id="confirm-h" { "Delete " (u.username) "?" }
                p { "The account " strong { (u.username) } " (" (u.email) ") is deleted with its sessions and role assignments. This cannot be undone." }
                form method="post" action=(here) class="inline" {
                    (form_head(&c.csrf, "delete"))
                    input type="hidden" name="confirm" value=(u.username);
                    button type="submit" class="danger" { "Delete " (u.username) }
                }
                " "
                a href=(here) { "Keep the user" }
            }
        }
        section aria-labelledby="profile-h" {
            h2 id="profile-h" { "Profile" }
            form method="post" action=(here) class="grid" {
                (form_head(&c.csrf, "profile"))
                div { label for="p-username" { "Username" }
                    input id="p-username" name="username" type="text" required value=(v("username", &u.username)); }
                div { label for="p-email" { "Email" }
                    input id="p-email" name="email" type="email" required value=(v("email", &u.email)); }
                div { label for="p-first" { "First name" }
                    input id="p-first" name="first_name" type="text" value=(v("first_name", &opt(&u.profile.first_name))); }
                div { label for="p-last" { "Last name" }
                    input id="p-last" name="last_name" type="text" value=(v("last_name", &opt(&u.profile.last_name))); }
                div { label for="p-display" { "Display name" }
                    input id="p-display" name="display_name" type="text" value=(v("display_name", &opt(&u.profile.display_name))); }
                div class="end" { button type="submit" { "Save profile" } }
            }
            p class="hint" { "Created " (when(u.created_at)) " · updated " (when(u.updated_at)) " · id " (u.id.0) " · " code { (u.uuid) } }
        }
        section aria-labelledby="roles-h" {
            h2 id="roles-h" { "Roles" }
            @if u.roles.is_empty() {
                (empty("No roles.", None))
            } @else {
                ul class="keys" {
                    @for r in &u.roles {
                        li { span { (r) } (button_form(&here, &c.csrf, "revoke", Some(("role", r)), &format!("Remove {r}"), "secondary small")) }
                    }
                }
            }
            @if !grantable.is_empty() {
                form method="post" action=(here) class="row" {
                    (form_head(&c.csrf, "grant"))
                    label for="g-role" { "Grant a role" }
                    select id="g-role" name="role" {
                        @for r in &grantable { option value=(r.name) { (r.name) } }
                    }
                    button type="submit" { "Grant" }
                }
            }
            details {
                summary { "Assignment history (" (history.len()) ")" }
                @if history.is_empty() { (empty("No assignments yet.", None)) } @else {
                    (table("Assignment history", html! {
                        th scope="col" { "Role" } th scope="col" { "State" } th scope="col" { "Assigned" } th scope="col" { "By" } th scope="col" { "Changed" }
                    }, html! {
                        @for h in &history {
                            tr {
                                td { (h.role) }
                                td { @if h.is_active { "active" } @else { "inactive" } }
                                td class="date" { (when(h.created_at)) }
                                td { (h.created_by.as_deref().unwrap_or("—")) }
                                td class="date" { @if let Some(t) = h.updated_at { (when(t)) } @else { "—" } }
                            }
                        }
                    }))
                }
            }
        }
        section aria-labelledby="org-h" {
            h2 id="org-h" { "Organization" }
            form method="post" action=(here) class="row" {
                (form_head(&c.csrf, "organization"))
                label for="o-org" { "Member of" }
                select id="o-org" name="organization" {
                    option value="" { "None" }
                    @for o in &orgs {
                        option value=(o.id.0) selected[u.organization.as_ref().map(|m| m.id) == Some(o.id)] { (o.name) }
                    }
                }
                button type="submit" { "Save" }
            }
        }
        section aria-labelledby="sessions-h" {
            h2 id="sessions-h" { "Sessions" }
            @if sessions.is_empty() {
                (empty("No active sessions.", None))
            } @else {
                (table("Sessions", html! {
                    th scope="col" { "Device" } th scope="col" { "Address" } th scope="col" { "Started" } th scope="col" { "Last used" } th scope="col" { "For" } th scope="col" { span class="sr-only" { "Action" } }
                }, html! {
                    @for s in &sessions {
                        tr {
                            td { (device(s.user_agent.as_deref())) @if s.id == c.p.session_id { " " span class="badge" { "this browser" } } }
                            td { (s.client_ip.as_deref().unwrap_or("—")) }
                            td class="date" { (when(s.created_at)) }
                            td class="date" { (when(s.last_used_at)) }
                            td { (s.client_id.as_deref().unwrap_or("Latchkey")) }
                            td { (button_form(&here, &c.csrf, "end_session", Some(("session", &s.id.0)), "End session", "secondary small")) }
                        }
                    }
                }))
                (button_form(&here, &c.csrf, "end_all", None, "End all sessions", "secondary"))
            }
        }
        section aria-labelledby="mfa-h" {
            h2 id="mfa-h" { "Second factors" }
            ul class="facts" {
                li { "Authenticator app: " @if let Some(t) = mfa.totp { "on since " (when(t)) } @else if mfa.totp_pending { "set-up begun, not confirmed" } @else { "off" } }
                li { "Passkeys: " (mfa.passkeys) }
                li { "Recovery codes left: " (mfa.recovery_codes_remaining) }
            }
            @if mfa.enabled() || mfa.totp_pending {
                (button_form(&here, &c.csrf, "mfa_reset", None, "Reset second factors", "secondary"))
            }
        }
        section aria-labelledby="password-h" {
            h2 id="password-h" { "Password" }
            form method="post" action=(here) class="row" {
                (form_head(&c.csrf, "password"))
                label for="pw-new" { "New password" }
                input id="pw-new" name="new_password" type="password" autocomplete="new-password" required;
                button type="submit" class="secondary" { "Set password" }
            }
            p class="hint" { "Setting a password ends the user's sessions." }
        }
        section aria-labelledby="trail-h" {
            h2 id="trail-h" { "Audit trail" }
            (super::system::events(&trail))
            p { a href={ "/console/audit?target_type=user&target_id=" (id.0) } { "All of this user's events" } }
        }
        section aria-labelledby="account-h" {
            h2 id="account-h" { "Account" }
            @if !is_self {
                div class="row" {
                    @if u.is_active {
                        (button_form(&here, &c.csrf, "disable", None, "Disable", "secondary"))
                    } @else {
                        (button_form(&here, &c.csrf, "enable", None, "Enable", "secondary"))
                    }
                    a class="button danger" href={ (here) "?confirm=delete#confirm-h" } { "Delete" }
                }
            } @else {
                p class="hint" { "This is your own account: it cannot be disabled or deleted from here." }
            }
        }
    };
    c.page(st, status, &u.username, "/users", &flash, body)
}

pub(super) async fn post_user(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Posted(c, fields): Posted,
) -> Response {
    let id = match user_id(&st, &c, &raw) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let here = format!("/console/users/{}", id.0);
    let a = match c.admin(&st) {
        Ok(a) => a,
        Err(e) => return super::unavailable(&st, e),
    };
    let text = |k: &str| value(&fields, k).map(str::to_owned);
    let result: Result<&str, CoreError> = match field(&fields, "action").unwrap_or("") {
        "profile" => {
            let patch = UserPatch {
                username: Some(field(&fields, "username").unwrap_or("").trim().to_owned()),
                email: Some(field(&fields, "email").unwrap_or("").trim().to_owned()),
                profile: ProfilePatch {
                    first_name: Some(text("first_name")),
                    last_name: Some(text("last_name")),
                    display_name: Some(text("display_name")),
                    ..Default::default()
                },
                ..Default::default()
            };
            st.svc.update_user(&c.p, id, patch).await.map(|_| "saved")
        }
        "grant" => a
            .grant_role(id, value(&fields, "role").unwrap_or(""))
            .await
            .map(|()| "roles"),
        "revoke" => a
            .withdraw_role(id, value(&fields, "role").unwrap_or(""))
            .await
            .map(|()| "roles"),
        "organization" => match value(&fields, "organization").map(str::parse::<i64>) {
            None => a.set_membership(id, None).await.map(|_| "saved"),
            Some(Ok(o)) => a.set_membership(id, Some(OrgId(o))).await.map(|_| "saved"),
            Some(Err(_)) => Err(CoreError::NotFound(
                crate::core::error::Entity::Organization,
            )),
        },
        "end_session" => a
            .end_user_session(
                id,
                &SessionId(field(&fields, "session").unwrap_or("").to_owned()),
            )
            .await
            .map(|()| "session-ended"),
        "end_all" => a.end_user_sessions(id).await.map(|_| "sessions-ended"),
        "mfa_reset" => a.reset_user_mfa(id).await.map(|()| "mfa-reset"),
        "password" => a
            .reset_password(id, field(&fields, "new_password").unwrap_or(""))
            .await
            .map(|()| "saved"),
        action @ ("disable" | "enable") => {
            let active = action == "enable";
            let patch = UserPatch {
                is_active: Some(active),
                ..Default::default()
            };
            st.svc.update_user(&c.p, id, patch).await.map(|_| {
                if active {
                    "enabled"
                } else {
                    "disabled"
                }
            })
        }
        "delete" => match a.get_user(id).await {
            Ok(u) if field(&fields, "confirm") == Some(u.username.as_str()) => {
                match a.delete_user(id).await {
                    Ok(()) => return c.done("/console/users", "user-deleted"),
                    Err(e) => Err(e),
                }
            }
            Ok(_) => {
                return detail(
                    &st,
                    &c,
                    id,
                    Flash::Error(
                        "Confirm the deletion with the button that names the user.".into(),
                    ),
                    &[],
                    true,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
            Err(e) => Err(e),
        },
        _ => {
            return detail(
                &st,
                &c,
                id,
                Flash::Error("Choose what to do.".into()),
                &[],
                false,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    match result {
        Ok(code) => c.done(&here, code),
        Err(CoreError::NotFound(crate::core::error::Entity::User)) => not_found(&st, &c),
        Err(e) => match refusal(&st, e) {
            Ok((status, m)) => {
                let keep: &[(String, String)] = if field(&fields, "action") == Some("profile") {
                    &fields
                } else {
                    &[]
                };
                detail(&st, &c, id, Flash::Error(m), keep, false, status).await
            }
            Err(r) => r,
        },
    }
}
