//! The console's shared markup: the frame (header, navigation, main), notices, tables that
//! scroll on a phone, empty states, pagination links and the sign-in chart (SVG drawn here).

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::Flash;
use crate::core::model::Timestamp;
use crate::core::service::HourlyLogins;

/// The sections, in the navigation's order: (path under `/console`, label).
const SECTIONS: &[(&str, &str)] = &[
    ("", "Overview"),
    ("/users", "Users"),
    ("/roles", "Roles"),
    ("/organizations", "Organizations"),
    ("/applications", "Applications"),
    ("/audit", "Audit log"),
    ("/keys", "Signing keys"),
    ("/settings", "Settings"),
];

/// What every console page has around its content.
pub struct Frame<'a> {
    pub title: &'a str,
    /// The section this page belongs to (a path from [`SECTIONS`]).
    pub section: &'a str,
    pub admin: &'a str,
    pub csrf: &'a str,
    pub logout: &'a str,
    pub account: &'a str,
    pub flash: &'a Flash,
}

pub fn frame(f: &Frame<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                // htmx: no inline styles (the policy has no 'unsafe-inline'), no eval.
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0}"#;
                title { (f.title) " · Latchkey console" }
                link rel="stylesheet" href="/assets/latchkey.css";
                script src="/assets/htmx.min.js" defer {}
            }
            body class="console" {
                a class="skip" href="#content" { "Skip to content" }
                header class="topbar" {
                    a class="brand" href="/console" { "Latchkey " span { "console" } }
                    nav aria-label="Console" {
                        ul {
                            @for (path, label) in SECTIONS {
                                li {
                                    a href={ "/console" (path) }
                                        aria-current=[(f.section == *path).then_some("page")] { (label) }
                                }
                            }
                        }
                    }
                    div class="who" {
                        a href=(f.account) { (f.admin) }
                        form method="post" action=(f.logout) {
                            input type="hidden" name="csrf" value=(f.csrf);
                            button type="submit" class="link" { "Sign out" }
                        }
                    }
                }
                main id="content" class="wide" tabindex="-1" {
                    h1 { (f.title) }
                    (flash(f.flash))
                    (body)
                }
            }
        }
    }
}

pub fn flash(f: &Flash) -> Markup {
    html! {
        @match f {
            Flash::None => {},
            Flash::Notice(m) => p class="notice" role="status" { (m) },
            Flash::Error(m) => p class="error" role="alert" id="form-error" { (m) },
        }
    }
}

/// A table in a region that scrolls sideways on a narrow screen (and can be scrolled with
/// the keyboard: it takes focus).
pub fn table(label: &str, head: Markup, rows: Markup) -> Markup {
    html! {
        div class="table-wrap" role="region" aria-label=(label) tabindex="0" {
            table {
                thead { tr { (head) } }
                tbody { (rows) }
            }
        }
    }
}

/// What a list says when it has nothing to show.
pub fn empty(what: &str, hint: Option<&str>) -> Markup {
    html! {
        div class="empty" {
            p { strong { (what) } }
            @if let Some(h) = hint { p class="hint" { (h) } }
        }
    }
}

/// `2026-12-03 06:40 UTC`.
pub fn when(t: Timestamp) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000)
        .ok()
        .and_then(|d| d.format(&fmt).ok())
        .unwrap_or_default()
}

/// A hidden CSRF field and the action a form asks for.
pub fn form_head(csrf: &str, action: &str) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(csrf);
        input type="hidden" name="action" value=(action);
    }
}

/// A one-button form posting `action` (with one more hidden field, if any).
pub fn button_form(
    to: &str,
    csrf: &str,
    action: &str,
    extra: Option<(&str, &str)>,
    label: &str,
    class: &str,
) -> Markup {
    html! {
        form method="post" action=(to) class="inline" {
            (form_head(csrf, action))
            @if let Some((k, v)) = extra { input type="hidden" name=(k) value=(v); }
            button type="submit" class=(class) { (label) }
        }
    }
}

/// The sign-ins of the last 24 hours as bars (succeeded and failed side by side per hour),
/// with a text equivalent for screen readers.
pub fn logins_chart(hours: &[HourlyLogins]) -> Markup {
    let max = hours
        .iter()
        .map(|h| h.succeeded.max(h.failed))
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, pad) = (480.0_f64, 120.0_f64, 16.0_f64);
    let slot = w / hours.len().max(1) as f64;
    let bar = (slot / 2.0 - 1.0).max(1.0);
    let scale = |n: i64| (n as f64 / max as f64) * (h - pad);
    let mut svg = String::new();
    for (i, hr) in hours.iter().enumerate() {
        let x = i as f64 * slot;
        let ok = scale(hr.succeeded);
        let bad = scale(hr.failed);
        svg.push_str(&format!(
            r#"<rect class="ok" x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{ok:.1}"/><rect class="bad" x="{:.1}" y="{:.1}" width="{bar:.1}" height="{bad:.1}"/>"#,
            h - pad - ok,
            x + bar + 1.0,
            h - pad - bad,
        ));
    }
    let total_ok: i64 = hours.iter().map(|h| h.succeeded).sum();
    let total_bad: i64 = hours.iter().map(|h| h.failed).sum();
    let first = hours.first().map(|h| when(h.start)).unwrap_or_default();
    let summary =
        format!("{total_ok} sign-ins and {total_bad} failed sign-ins in the last 24 hours, hour by hour from {first}.");
    html! {
        figure class="chart" {
            svg viewBox={ "0 0 " (w) " " (h) } role="img" aria-label=(summary) {
                (PreEscaped(svg))
                line x1="0" y1=(h - pad) x2=(w) y2=(h - pad) class="axis" {}
                text x="0" y=(h - 2.0) class="tick" { "24 h ago" }
                text x=(w) y=(h - 2.0) class="tick end" { "now" }
            }
            figcaption {
                span class="key ok" {} (total_ok) " signed in"
                span class="key bad" {} (total_bad) " failed"
                " · the busiest hour had " (max) "."
            }
        }
    }
}

/// What a user agent string names, shortly: "Firefox on Linux", or the string cut short.
pub fn device(ua: Option<&str>) -> String {
    let Some(ua) = ua.filter(|u| !u.is_empty()) else {
        return "Unknown device".to_owned();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("node", "Node.js"),
        ("reqwest", "reqwest"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| *v);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => o.to_owned(),
        (None, None) => ua.chars().take(40).collect(),
    }
}
