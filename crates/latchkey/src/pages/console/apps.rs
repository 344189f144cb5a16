//! Applications: the OpenID clients. Create (the secret is shown once, on the answer to the
//! post, never again), change the redirect URIs, rotate the secret, delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use super::views::{button_form, empty, form_head, table, when};
use super::{field, notice, param, refusal, value, Console, Flash, Params, Posted};
use crate::core::error::{CoreError, Entity, Reason};
use crate::core::oauth::clients::{Client, ClientPatch, NewClient};
use crate::http::AppState;

/// One URI per line (blank lines ignored).
fn lines(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) async fn get_list(
    State(st): State<AppState>,
    c: Console,
    Params(q): Params,
) -> Response {
    list(&st, &c, notice(param(&q, "notice")), &[], StatusCode::OK).await
}

async fn list(
    st: &AppState,
    c: &Console,
    flash: Flash,
    posted: &[(String, String)],
    status: StatusCode,
) -> Response {
    let listed = match c.admin(st) {
        Ok(a) => a.list_clients(0, 500).await,
        Err(e) => Err(e),
    };
    let (apps, _) = match listed {
        Ok(l) => l,
        Err(e) => return super::unavailable(st, e),
    };
    let v = |k: &str| field(posted, k).unwrap_or("").to_owned();
    let public = field(posted, "public") == Some("on");
    let body = html! {
        p class="lead" { "The applications that sign users in with OpenID Connect. Discovery: "
            a href="/.well-known/openid-configuration" { code { "/.well-known/openid-configuration" } } }
        @if apps.is_empty() {
            (empty("No applications yet.", Some("Register one below: it gets a client id (and a secret, unless it is public).")))
        } @else {
            (table("Applications", html! {
                th scope="col" { "Name" } th scope="col" { "Client id" } th scope="col" { "Type" } th scope="col" { "Redirect URIs" } th scope="col" { "Created" }
            }, html! {
                @for a in &apps {
                    tr {
                        td { a href={ "/console/applications/" (a.id) } { (a.name) } }
                        td { code { (a.id) } }
                        td { @if a.public { "public (PKCE)" } @else { "confidential" } }
                        td { (a.redirect_uris.len()) }
                        td class="date" { (when(a.created_at)) }
                    }
                }
            }))
        }
        section aria-labelledby="new-app-h" {
            h2 id="new-app-h" { "Register an application" }
            form method="post" action="/console/applications" class="grid" {
                (form_head(&c.csrf, "create"))
                div { label for="a-name" { "Name" }
                    input id="a-name" name="name" type="text" required value=(v("name")); }
                div class="wide-field" { label for="a-uris" { "Redirect URIs" }
                    textarea id="a-uris" name="redirect_uris" rows="3" aria-describedby="a-uris-hint" { (v("redirect_uris")) }
                    p id="a-uris-hint" class="hint" { "One per line, exactly as the application sends them." } }
                div class="check" {
                    input id="a-public" name="public" type="checkbox" checked[public];
                    label for="a-public" { "Public client (a browser or mobile app: no secret, PKCE)" } }
                div class="check" {
                    input id="a-first" name="first_party" type="checkbox" checked[field(posted, "first_party") == Some("on")];
                    label for="a-first" { "First party (skip the consent page)" } }
                div class="end" { button type="submit" { "Register application" } }
            }
        }
    };
    c.page(st, status, "Applications", "/applications", &flash, body)
}

pub(super) async fn post_list(State(st): State<AppState>, Posted(c, fields): Posted) -> Response {
    let created = match (field(&fields, "action"), c.admin(&st)) {
        (Some("create"), Ok(a)) => {
            a.create_client(NewClient {
                name: value(&fields, "name").unwrap_or("").to_owned(),
                redirect_uris: lines(field(&fields, "redirect_uris")),
                post_logout_redirect_uris: Vec::new(),
                public: field(&fields, "public") == Some("on"),
                grant_types: None,
                scopes: None,
                first_party: field(&fields, "first_party") == Some("on"),
                id_token_alg: None,
            })
            .await
        }
        (_, Err(e)) => Err(e),
        _ => Err(CoreError::invalid("action", Reason::Empty)),
    };
    match created {
        Ok(made) => app(
            &st,
            &c,
            &made.client,
            made.secret.as_deref(),
            Flash::Notice("Application registered."),
            false,
            StatusCode::CREATED,
        ),
        Err(e) => match refusal(&st, e) {
            Ok((status, m)) => list(&st, &c, Flash::Error(m), &fields, status).await,
            Err(r) => r,
        },
    }
}

fn no_app(st: &AppState, c: &Console) -> Response {
    c.page(
        st,
        StatusCode::NOT_FOUND,
        "No such application",
        "/applications",
        &Flash::Error("There is no such application: it may have been deleted.".into()),
        html! { p { a href="/console/applications" { "All applications" } } },
    )
}

fn secret_box(secret: &str) -> Markup {
    html! {
        section class="secret" aria-labelledby="secret-h" {
            h2 id="secret-h" { "Client secret" }
            p { "Copy it now into the application's configuration: it is shown this once." }
            p { code id="client-secret" { (secret) } }
        }
    }
}

/// One application's page (with its new secret, right after it was made).
fn app(
    st: &AppState,
    c: &Console,
    a: &Client,
    secret: Option<&str>,
    flash: Flash,
    confirm_delete: bool,
    status: StatusCode,
) -> Response {
    let here = format!("/console/applications/{}", a.id);
    let body = html! {
        @if let Some(s) = secret { (secret_box(s)) }
        @if confirm_delete {
            section class="danger" aria-labelledby="confirm-h" {
                h2 id="confirm-h" { "Delete " (a.name) "?" }
                p { "Its tokens and grants end, and users can no longer sign in to it. This cannot be undone." }
                form method="post" action=(here) class="inline" {
                    (form_head(&c.csrf, "delete"))
                    input type="hidden" name="confirm" value=(a.id);
                    button type="submit" class="danger" { "Delete " (a.name) }
                }
                " " a href=(here) { "Keep it" }
            }
        }
        dl class="facts" {
            dt { "Client id" } dd { code { (a.id) } }
            dt { "Type" } dd { @if a.public { "public (PKCE, no secret)" } @else { "confidential (client secret)" } }
            dt { "Grant types" } dd { (a.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")) }
            dt { "Scopes" } dd { (a.scopes.join(" ")) }
            dt { "ID token signing" } dd { (a.id_token_alg.as_str()) }
            dt { "Consent" } dd { @if a.first_party { "skipped (first party)" } @else { "asked" } }
            dt { "Created" } dd { (when(a.created_at)) }
        }
        section aria-labelledby="uris-h" {
            h2 id="uris-h" { "Registration" }
            form method="post" action=(here) class="grid" {
                (form_head(&c.csrf, "update"))
                div { label for="u-name" { "Name" } input id="u-name" name="name" type="text" required value=(a.name); }
                div class="wide-field" { label for="u-uris" { "Redirect URIs" }
                    textarea id="u-uris" name="redirect_uris" rows="4" aria-describedby="u-uris-hint" { (a.redirect_uris.join("\n")) }
                    p id="u-uris-hint" class="hint" { "One per line." } }
                div class="wide-field" { label for="u-logout" { "Sign-out redirect URIs" }
                    textarea id="u-logout" name="post_logout_redirect_uris" rows="2" { (a.post_logout_redirect_uris.join("\n")) } }
                div class="end" { button type="submit" { "Save" } }
            }
        }
        @if !a.public {
            section aria-labelledby="rotate-h" {
                h2 id="rotate-h" { "Secret" }
                p class="hint" { "A new secret replaces the old one at once: the application must be given it." }
                (button_form(&here, &c.csrf, "rotate", None, "Rotate secret", "secondary"))
            }
        }
        p { a class="button danger" href={ (here) "?confirm=delete#confirm-h" } { "Delete application" } }
    };
    c.page(st, status, &a.name, "/applications", &flash, body)
}

pub(super) async fn get_app(
    State(st): State<AppState>,
    c: Console,
    Params(q): Params,
    Path(id): Path<String>,
) -> Response {
    let found = match c.admin(&st) {
        Ok(a) => a.get_client(&id).await,
        Err(e) => Err(e),
    };
    match found {
        Ok(a) => app(
            &st,
            &c,
            &a,
            None,
            notice(param(&q, "notice")),
            param(&q, "confirm") == Some("delete"),
            StatusCode::OK,
        ),
        Err(CoreError::NotFound(_)) => no_app(&st, &c),
        Err(e) => super::unavailable(&st, e),
    }
}

pub(super) async fn post_app(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Posted(c, fields): Posted,
) -> Response {
    let a = match c.admin(&st) {
        Ok(a) => a,
        Err(e) => return super::unavailable(&st, e),
    };
    let current = match a.get_client(&id).await {
        Ok(cl) => cl,
        Err(CoreError::NotFound(_)) => return no_app(&st, &c),
        Err(e) => return super::unavailable(&st, e),
    };
    let here = format!("/console/applications/{}", current.id);
    let result = match field(&fields, "action").unwrap_or("") {
        "update" => a
            .update_client(
                &current.id,
                ClientPatch {
                    name: Some(value(&fields, "name").unwrap_or("").to_owned()),
                    redirect_uris: Some(lines(field(&fields, "redirect_uris"))),
                    post_logout_redirect_uris: Some(lines(field(
                        &fields,
                        "post_logout_redirect_uris",
                    ))),
                    ..Default::default()
                },
            )
            .await
            .map(|_| ()),
        "rotate" => {
            return match a.rotate_client_secret(&current.id).await {
                Ok(made) => app(
                    &st,
                    &c,
                    &made.client,
                    made.secret.as_deref(),
                    Flash::Notice("New secret made: the old one no longer works."),
                    false,
                    StatusCode::OK,
                ),
                Err(e) => match refusal(&st, e) {
                    Ok((status, m)) => app(&st, &c, &current, None, Flash::Error(m), false, status),
                    Err(r) => r,
                },
            }
        }
        "delete" if field(&fields, "confirm") == Some(current.id.as_str()) => {
            return match a.delete_client(&current.id).await {
                Ok(()) => c.done("/console/applications", "app-deleted"),
                Err(CoreError::NotFound(Entity::Client)) => no_app(&st, &c),
                Err(e) => super::unavailable(&st, e),
            }
        }
        "delete" => {
            return app(
                &st,
                &c,
                &current,
                None,
                Flash::Error(
                    "Confirm the deletion with the button that names the application.".into(),
                ),
                true,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        _ => Err(CoreError::invalid("action", Reason::Empty)),
    };
    match result {
        Ok(()) => c.done(&here, "saved"),
        Err(e) => match refusal(&st, e) {
            Ok((status, m)) => app(&st, &c, &current, None, Flash::Error(m), false, status),
            Err(r) => r,
        },
    }
}
