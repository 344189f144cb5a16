//! The compatibility dialects: five existing user-management APIs reproduced on the wire,
//! each a thin adapter over the core (see `../shared/specs/` and `docs/dialects/`).
//!
//! Each dialect module declares its endpoints once, with [`routes::Routes`], and one
//! [`Dialect`] entry in [`ALL`]. Mounts place a dialect under a prefix (default `/compat/<name>`), at `/`,
//! or nowhere; mounts whose routes would collide are refused at start.

pub mod auth_admin;
pub mod citizen_portal;
mod nest;
pub mod org_users;
pub mod role_assignments;
pub mod routes;
pub mod user_profiles;
pub mod wire;

use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;

use routes::Routes;

use crate::http::AppState;

/// A dialect: its name (used in `--mount NAME=…`), its endpoints and its answer to a path or
/// method it does not serve. Adding one is a module and one line in [`ALL`]
/// (`docs/dialects/ADDING.md`).
#[derive(Clone, Copy)]
pub struct Dialect {
    pub name: &'static str,
    routes: fn() -> Routes,
    route_error: fn(StatusCode) -> Response,
}

/// Every dialect, in the order the CLI lists them and mounts are checked.
pub const ALL: &[Dialect] = &[
    auth_admin::DIALECT,
    user_profiles::DIALECT,
    role_assignments::DIALECT,
    org_users::DIALECT,
    citizen_portal::DIALECT,
];

impl PartialEq for Dialect {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Dialect {}

impl std::fmt::Debug for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Dialect {
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn from_name(name: &str) -> Option<Self> {
        ALL.iter().find(|d| d.name == name).copied()
    }

    pub fn default_prefix(&self) -> String {
        format!("/compat/{}", self.name)
    }

    /// Every (method, path) the dialect serves, relative to its mount: the router's own
    /// list, recorded as it was built.
    pub fn routes(&self) -> Vec<(&'static str, &'static str)> {
        (self.routes)().list().to_vec()
    }

    fn router(&self) -> Router<AppState> {
        (self.routes)().into_router()
    }

    /// The dialect's answer, in its envelope, to an unknown path under its prefix (404) or a
    /// method a path does not take (405).
    pub fn route_error(&self, status: StatusCode) -> Response {
        (self.route_error)(status)
    }
}

/// The dialects' names, for the CLI's help.
pub fn names() -> String {
    ALL.iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
}

/// Where each dialect is mounted: a prefix (`""` for the root), or absent when off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mounts(Vec<(Dialect, String)>);

impl Default for Mounts {
    fn default() -> Self {
        Mounts(ALL.iter().map(|d| (*d, d.default_prefix())).collect())
    }
}

/// A route of the native API or the root operations endpoints, which no mount may shadow.
pub type RootRoute = (String, String);

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn is_param(seg: &str) -> bool {
    seg.starts_with('{')
}

/// Could one concrete path match both templates?
fn overlap(a: &str, b: &str) -> bool {
    let (a, b) = (segments(a), segments(b));
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || is_param(x) || is_param(y))
}

/// The same template but for parameter names (the router cannot hold both).
fn same_shape(a: &str, b: &str) -> bool {
    let (a, b) = (segments(a), segments(b));
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || (is_param(x) && is_param(y)))
        && a != b
}

impl Mounts {
    /// Applies `NAME=PREFIX` / `NAME=off` settings to the defaults and checks the result
    /// against itself and the routes at the root.
    pub fn parse(settings: &[String], root_routes: &[RootRoute]) -> Result<Mounts, String> {
        let mut mounts = Mounts::default();
        for s in settings.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let (name, prefix) = s
                .split_once('=')
                .ok_or_else(|| format!("invalid mount '{s}': expected NAME=PREFIX or NAME=off"))?;
            let dialect = Dialect::from_name(name.trim()).ok_or_else(|| {
                format!(
                    "unknown dialect '{name}' in mount '{s}': expected one of {}",
                    names()
                )
            })?;
            let prefix = prefix.trim();
            mounts.0.retain(|(d, _)| *d != dialect);
            if prefix == "off" {
                continue;
            }
            mounts.0.push((
                dialect,
                normalize_prefix(prefix).map_err(|e| format!("mount '{s}': {e}"))?,
            ));
        }
        mounts
            .0
            .sort_by_key(|(d, _)| ALL.iter().position(|x| x == d));
        mounts.check(root_routes)?;
        Ok(mounts)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Dialect, &str)> {
        self.0.iter().map(|(d, p)| (*d, p.as_str()))
    }

    pub fn prefix_of(&self, d: Dialect) -> Option<&str> {
        self.0
            .iter()
            .find(|(x, _)| *x == d)
            .map(|(_, p)| p.as_str())
    }

    fn check(&self, root_routes: &[RootRoute]) -> Result<(), String> {
        let full = |d: Dialect, prefix: &str| -> Vec<(String, String)> {
            d.routes()
                .iter()
                .map(|(m, p)| (m.to_string(), format!("{prefix}{p}")))
                .collect()
        };
        let shown = |p: &str| {
            if p.is_empty() {
                "/".to_owned()
            } else {
                p.to_owned()
            }
        };
        for (i, (a, pa)) in self.0.iter().enumerate() {
            let ra = full(*a, pa);
            for (m, p) in &ra {
                if let Some((rm, rp)) = root_routes
                    .iter()
                    .find(|(rm, rp)| (rm == m && overlap(rp, p)) || same_shape(rp, p))
                {
                    return Err(format!(
                        "mount of {} at {} collides with Latchkey's own route {rm} {rp}",
                        a.name(),
                        shown(pa)
                    ));
                }
            }
            for (b, pb) in &self.0[i + 1..] {
                for (m, p) in &ra {
                    for (n, q) in full(*b, pb) {
                        if (*m == n && overlap(p, &q)) || same_shape(p, &q) {
                            return Err(format!(
                                "mounts collide: {} at {} and {} at {} both serve {m} {p}",
                                a.name(),
                                shown(pa),
                                b.name(),
                                shown(pb)
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Does a dialect mounted at the root serve `path` (with any method)?
    pub fn serves_at_root(&self, path: &str) -> bool {
        self.iter()
            .filter(|(_, prefix)| prefix.is_empty())
            .any(|(d, _)| d.routes().iter().any(|(_, p)| overlap(p, path)))
    }

    /// The mounted dialects' routes, merged into one router.
    pub fn router(&self) -> Router<AppState> {
        let mut router = Router::new();
        for (d, prefix) in self.iter() {
            let r = d.router().method_not_allowed_fallback(move || async move {
                d.route_error(StatusCode::METHOD_NOT_ALLOWED)
            });
            router = if prefix.is_empty() {
                router.merge(r)
            } else {
                router.nest(
                    prefix,
                    r.fallback(move || async move { d.route_error(StatusCode::NOT_FOUND) }),
                )
            };
        }
        router
    }
}

fn normalize_prefix(raw: &str) -> Result<String, String> {
    if !raw.starts_with('/') {
        return Err(format!("the prefix '{raw}' must start with '/'"));
    }
    let trimmed = raw.trim_end_matches('/');
    let ok = trimmed
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~'));
    if !ok || trimmed.contains("//") {
        return Err(format!(
            "the prefix '{raw}' may hold only letters, digits and / - _ . ~"
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn defaults_mount_everything_under_compat() {
        let m = Mounts::parse(&[], &[]).unwrap();
        assert_eq!(m.prefix_of(org_users::DIALECT), Some("/compat/org-users"));
        assert_eq!(m.iter().count(), 5);
    }

    #[test]
    fn mounts_move_and_remove_dialects() {
        let m = Mounts::parse(
            &settings(&["auth-admin=/", "org-users=off", "citizen-portal=/cp/"]),
            &[],
        )
        .unwrap();
        assert_eq!(m.prefix_of(auth_admin::DIALECT), Some(""));
        assert_eq!(m.prefix_of(org_users::DIALECT), None);
        assert_eq!(m.prefix_of(citizen_portal::DIALECT), Some("/cp"));
    }

    #[test]
    fn colliding_mounts_are_refused_naming_both() {
        let e = Mounts::parse(&settings(&["auth-admin=/", "citizen-portal=/"]), &[]).unwrap_err();
        assert!(
            e.contains("auth-admin") && e.contains("citizen-portal"),
            "{e}"
        );
        let e = Mounts::parse(&settings(&["user-profiles=/x", "org-users=/x"]), &[]).unwrap_err();
        assert!(
            e.contains("user-profiles") && e.contains("org-users"),
            "{e}"
        );
        // Every dialect alone at the root is fine.
        for d in ALL {
            Mounts::parse(&settings(&[&format!("{}=/", d.name())]), &[]).unwrap();
        }
    }

    #[test]
    fn root_routes_cannot_be_shadowed() {
        let root = vec![("GET".to_string(), "/users/{id}".to_string())];
        let e = Mounts::parse(&settings(&["org-users=/"]), &root).unwrap_err();
        assert!(e.contains("org-users"), "{e}");
    }

    #[test]
    fn bad_settings_are_explained() {
        assert!(Mounts::parse(&settings(&["nope=/x"]), &[])
            .unwrap_err()
            .contains("unknown dialect"));
        assert!(Mounts::parse(&settings(&["auth-admin"]), &[])
            .unwrap_err()
            .contains("NAME=PREFIX"));
        assert!(Mounts::parse(&settings(&["auth-admin=x"]), &[])
            .unwrap_err()
            .contains("start with"));
        assert!(Mounts::parse(&settings(&["auth-admin=/a b"]), &[]).is_err());
    }
}
