//! Roles (create, describe, delete) and organizations (create, rename, delete, members).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::views::{button_form, empty, form_head, table, when};
use super::{field, notice, param, refusal, value, Console, Flash, Params, Posted};
use crate::core::error::{CoreError, Entity};
use crate::core::model::{OrgId, PageRequest, RoleId, UserId, UserQuery};
use crate::http::AppState;

pub(super) async fn get_roles(
    State(st): State<AppState>,
    c: Console,
    Params(q): Params,
) -> Response {
    roles(&st, &c, notice(param(&q, "notice")), &[], StatusCode::OK).await
}

async fn roles(
    st: &AppState,
    c: &Console,
    flash: Flash,
    posted: &[(String, String)],
    status: StatusCode,
) -> Response {
    let listed = match c.admin(st) {
        Ok(a) => a.list_roles().await,
        Err(e) => Err(e),
    };
    let list = match listed {
        Ok(l) => l,
        Err(e) => return super::unavailable(st, e),
    };
    let v = |k: &str| field(posted, k).unwrap_or("").to_owned();
    let body = html! {
        p class="lead" { "A role is granted on a user's page; " code { "admin" } " opens this console." }
        (table("Roles", html! {
            th scope="col" { "Name" } th scope="col" { "Description" } th scope="col" { "Created" } th scope="col" { span class="sr-only" { "Actions" } }
        }, html! {
            @for r in &list {
                tr {
                    td { a href={ "/console/users?role=" (r.name) } { (r.name) } @if r.builtin { " " span class="badge" { "built in" } } }
                    td {
                        form method="post" action="/console/roles" class="row tight" {
                            (form_head(&c.csrf, "describe"))
                            input type="hidden" name="id" value=(r.id.0);
                            label for={ "d-" (r.id.0) } class="sr-only" { "Description of " (r.name) }
                            input id={ "d-" (r.id.0) } name="description" type="text" value=(r.description.as_deref().unwrap_or(""));
                            button type="submit" class="secondary small" { "Save" }
                        }
                    }
                    td class="date" { (when(r.created_at)) }
                    td { @if !r.builtin { (button_form("/console/roles", &c.csrf, "delete", Some(("id", &r.id.0.to_string())), &format!("Delete {}", r.name), "secondary small")) } }
                }
            }
        }))
        section aria-labelledby="new-role-h" {
            h2 id="new-role-h" { "Create a role" }
            form method="post" action="/console/roles" class="grid" {
                (form_head(&c.csrf, "create"))
                div { label for="r-name" { "Name" }
                    input id="r-name" name="name" type="text" required pattern="[a-z0-9_-]{1,64}" aria-describedby="r-name-hint" value=(v("name"));
                    p id="r-name-hint" class="hint" { "Lower-case letters, digits, - and _." } }
                div { label for="r-desc" { "Description" }
                    input id="r-desc" name="description" type="text" value=(v("description")); }
                div class="end" { button type="submit" { "Create role" } }
            }
        }
    };
    c.page(st, status, "Roles", "/roles", &flash, body)
}

pub(super) async fn post_roles(State(st): State<AppState>, Posted(c, fields): Posted) -> Response {
    let a = match c.admin(&st) {
        Ok(a) => a,
        Err(e) => return super::unavailable(&st, e),
    };
    let id = value(&fields, "id")
        .and_then(|v| v.parse::<i64>().ok())
        .map(RoleId);
    let description = value(&fields, "description").map(str::to_owned);
    let result = match (field(&fields, "action").unwrap_or(""), id) {
        ("create", _) => a
            .create_role(value(&fields, "name").unwrap_or(""), description)
            .await
            .map(|_| "created"),
        ("describe", Some(id)) => a
            .update_role(id, None, Some(description))
            .await
            .map(|_| "saved"),
        ("delete", Some(id)) => a.delete_role(id).await.map(|()| "deleted"),
        ("describe" | "delete", None) => Err(CoreError::NotFound(Entity::Role)),
        _ => Err(CoreError::invalid(
            "action",
            crate::core::error::Reason::Empty,
        )),
    };
    match result {
        Ok(code) => c.done("/console/roles", code),
        Err(e) => match refusal(&st, e) {
            Ok((status, m)) => roles(&st, &c, Flash::Error(m), &fields, status).await,
            Err(r) => r,
        },
    }
}

pub(super) async fn get_orgs(
    State(st): State<AppState>,
    c: Console,
    Params(q): Params,
) -> Response {
    orgs(&st, &c, notice(param(&q, "notice")), &[], StatusCode::OK).await
}

async fn orgs(
    st: &AppState,
    c: &Console,
    flash: Flash,
    posted: &[(String, String)],
    status: StatusCode,
) -> Response {
    let listed = match c.admin(st) {
        Ok(a) => a.list_orgs(0, 500).await,
        Err(e) => Err(e),
    };
    let (list, total) = match listed {
        Ok(l) => l,
        Err(e) => return super::unavailable(st, e),
    };
    let v = |k: &str| field(posted, k).unwrap_or("").to_owned();
    let body = html! {
        @if list.is_empty() {
            (empty("No organizations yet.", Some("Create one below; users join one on their page or the organization's.")))
        } @else {
            p class="hint" { (total) " organizations" @if total > 500 { " (the first 500 by id)" } }
            (table("Organizations", html! {
                th scope="col" { "Name" } th scope="col" { "Description" } th scope="col" { "Members" } th scope="col" { "Created" }
            }, html! {
                @for o in &list {
                    tr {
                        td { a href={ "/console/organizations/" (o.id.0) } { (o.name) } }
                        td { (o.description.as_deref().unwrap_or("")) }
                        td { (o.member_count) }
                        td class="date" { (when(o.created_at)) }
                    }
                }
            }))
        }
        section aria-labelledby="new-org-h" {
            h2 id="new-org-h" { "Create an organization" }
            form method="post" action="/console/organizations" class="grid" {
                (form_head(&c.csrf, "create"))
                div { label for="o-name" { "Name" }
                    input id="o-name" name="name" type="text" required value=(v("name")); }
                div { label for="o-desc" { "Description" }
                    input id="o-desc" name="description" type="text" value=(v("description")); }
                div class="end" { button type="submit" { "Create organization" } }
            }
        }
    };
    c.page(st, status, "Organizations", "/organizations", &flash, body)
}

pub(super) async fn post_orgs(State(st): State<AppState>, Posted(c, fields): Posted) -> Response {
    let created = match (field(&fields, "action"), c.admin(&st)) {
        (Some("create"), Ok(a)) => {
            a.create_org(
                value(&fields, "name").unwrap_or(""),
                value(&fields, "description").map(str::to_owned),
            )
            .await
        }
        (_, Err(e)) => Err(e),
        _ => Err(CoreError::invalid(
            "action",
            crate::core::error::Reason::Empty,
        )),
    };
    match created {
        Ok(o) => c.done(&format!("/console/organizations/{}", o.id.0), "created"),
        Err(e) => match refusal(&st, e) {
            Ok((status, m)) => orgs(&st, &c, Flash::Error(m), &fields, status).await,
            Err(r) => r,
        },
    }
}

fn org_id(raw: &str) -> Option<OrgId> {
    raw.parse::<i64>().ok().filter(|i| *i > 0).map(OrgId)
}

fn no_org(st: &AppState, c: &Console) -> Response {
    c.page(
        st,
        StatusCode::NOT_FOUND,
        "No such organization",
        "/organizations",
        &Flash::Error("There is no such organization: it may have been deleted.".into()),
        html! { p { a href="/console/organizations" { "All organizations" } } },
    )
}

pub(super) async fn get_org(
    State(st): State<AppState>,
    c: Console,
    Params(q): Params,
    Path(raw): Path<String>,
) -> Response {
    let Some(id) = org_id(&raw) else {
        return no_org(&st, &c);
    };
    let confirm = param(&q, "confirm") == Some("delete");
    org(
        &st,
        &c,
        id,
        notice(param(&q, "notice")),
        confirm,
        StatusCode::OK,
    )
    .await
}

async fn org(
    st: &AppState,
    c: &Console,
    id: OrgId,
    flash: Flash,
    confirm_delete: bool,
    status: StatusCode,
) -> Response {
    let a = match c.admin(st) {
        Ok(a) => a,
        Err(e) => return super::unavailable(st, e),
    };
    let o = match a.get_org(id).await {
        Ok(o) => o,
        Err(CoreError::NotFound(_)) => return no_org(st, c),
        Err(e) => return super::unavailable(st, e),
    };
    let members = match a
        .list_users(
            &UserQuery {
                organization: Some(id),
                ..Default::default()
            },
            &PageRequest::Offset {
                offset: 0,
                limit: 100,
            },
        )
        .await
    {
        Ok(m) => m,
        Err(e) => return super::unavailable(st, e),
    };
    let here = format!("/console/organizations/{}", id.0);
    let body = html! {
        @if confirm_delete {
            section class="danger" aria-labelledby="confirm-h" {
                h2 id="confirm-h" { "Delete " (o.name) "?" }
                p { "Its " (o.member_count) " members stay, without an organization. This cannot be undone." }
                form method="post" action=(here) class="inline" {
                    (form_head(&c.csrf, "delete"))
                    input type="hidden" name="confirm" value=(o.name);
                    button type="submit" class="danger" { "Delete " (o.name) }
                }
                " " a href=(here) { "Keep it" }
            }
        }
        section aria-labelledby="org-edit-h" {
            h2 id="org-edit-h" { "Details" }
            form method="post" action=(here) class="grid" {
                (form_head(&c.csrf, "update"))
                div { label for="e-name" { "Name" } input id="e-name" name="name" type="text" required value=(o.name); }
                div { label for="e-desc" { "Description" } input id="e-desc" name="description" type="text" value=(o.description.as_deref().unwrap_or("")); }
                div class="end" { button type="submit" { "Save" } }
            }
        }
        section aria-labelledby="members-h" {
            h2 id="members-h" { "Members (" (members.total) ")" }
            @if members.users.is_empty() {
                (empty("No members yet.", None))
            } @else {
                ul class="keys" {
                    @for u in &members.users {
                        li {
                            a href={ "/console/users/" (u.id.0) } { (u.username) }
                            (button_form(&here, &c.csrf, "remove_member", Some(("user", &u.id.0.to_string())), &format!("Remove {}", u.username), "secondary small"))
                        }
                    }
                }
                @if members.total > 100 { p { a href={ "/console/users?organization=" (id.0) } { "All members" } } }
            }
            form method="post" action=(here) class="row" {
                (form_head(&c.csrf, "add_member"))
                label for="m-user" { "Add a member" }
                input id="m-user" name="username" type="text" required placeholder="Username or email" autocomplete="off";
                button type="submit" { "Add" }
            }
        }
        p { a class="button danger" href={ (here) "?confirm=delete#confirm-h" } { "Delete organization" } }
    };
    c.page(st, status, &o.name, "/organizations", &flash, body)
}

pub(super) async fn post_org(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Posted(c, fields): Posted,
) -> Response {
    let Some(id) = org_id(&raw) else {
        return no_org(&st, &c);
    };
    let here = format!("/console/organizations/{}", id.0);
    let a = match c.admin(&st) {
        Ok(a) => a,
        Err(e) => return super::unavailable(&st, e),
    };
    let result = match field(&fields, "action").unwrap_or("") {
        "update" => a
            .update_org(
                id,
                Some(field(&fields, "name").unwrap_or("").trim()),
                Some(value(&fields, "description").map(str::to_owned)),
            )
            .await
            .map(|_| "saved"),
        "add_member" => {
            match st
                .svc
                .member(&c.p)
                .find_user(value(&fields, "username").unwrap_or(""))
                .await
            {
                Ok(u) => a
                    .set_membership(u.id, Some(id))
                    .await
                    .map(|_| "member-added"),
                Err(e) => Err(e),
            }
        }
        "remove_member" => match value(&fields, "user").and_then(|v| v.parse::<i64>().ok()) {
            Some(u) => a
                .remove_member(id, UserId(u))
                .await
                .map(|()| "member-removed"),
            None => Err(CoreError::NotFound(Entity::User)),
        },
        "delete" => match a.get_org(id).await {
            Ok(o) if field(&fields, "confirm") == Some(o.name.as_str()) => {
                match a.delete_org(id).await {
                    Ok(()) => return c.done("/console/organizations", "deleted"),
                    Err(e) => Err(e),
                }
            }
            Ok(_) => {
                return org(
                    &st,
                    &c,
                    id,
                    Flash::Error(
                        "Confirm the deletion with the button that names the organization.".into(),
                    ),
                    true,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
            Err(e) => Err(e),
        },
        _ => Err(CoreError::invalid(
            "action",
            crate::core::error::Reason::Empty,
        )),
    };
    match result {
        Ok(code) => c.done(&here, code),
        Err(CoreError::NotFound(Entity::Organization)) => no_org(&st, &c),
        Err(e) => match refusal(&st, e) {
            Ok((status, m)) => org(&st, &c, id, Flash::Error(m), false, status).await,
            Err(r) => r,
        },
    }
}
