//! Each dialect black-box over HTTP at its default mount, plus mounting and cross-dialect
//! behaviour. Request bodies are literals in the shape the descriptions give.

mod auth_admin;
mod citizen_portal;
mod cross;
mod org_users;
mod role_assignments;
mod user_profiles;

use crate::helpers::Reply;

/// Asserts a status and an exact JSON body.
#[track_caller]
pub fn exact(r: &Reply, status: u16, body: serde_json::Value) {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.text);
    assert_eq!(r.body, body);
    assert!(
        r.content_type().starts_with("application/json"),
        "{}",
        r.content_type()
    );
}

/// Bad bodies every JSON endpoint must refuse with a 4xx in its envelope.
pub fn bad_bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("application/json", b"{".to_vec()),
        ("application/json", b"".to_vec()),
        ("application/json", b"[]".to_vec()),
        ("text/plain", b"{}".to_vec()),
        (
            "application/json",
            format!("{{\"x\":\"{}\"}}", "y".repeat(70 * 1024)).into_bytes(),
        ),
    ]
}
