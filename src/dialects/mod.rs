//! The compatibility dialects: five existing user-management APIs reproduced on the wire,
//! each a thin adapter over the core (see `../shared/specs/` and `docs/dialects/`).
//!
//! Each dialect module has `ROUTES` (method and path of every endpoint, under its own root)
//! and `router()`. Mounts place a dialect under a prefix (default `/compat/<name>`), at `/`,
//! or nowhere; mounts whose routes would collide are refused at start.

pub mod auth_admin;
pub mod citizen_portal;
mod nest;
pub mod org_users;
pub mod role_assignments;
pub mod user_profiles;
pub mod wire;

use axum::http::StatusCode;
use axum::Router;

use crate::http::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    AuthAdmin,
    UserProfiles,
    RoleAssignments,
    OrgUsers,
    CitizenPortal,
}

pub const ALL: [Dialect; 5] = [
    Dialect::AuthAdmin,
    Dialect::UserProfiles,
    Dialect::RoleAssignments,
    Dialect::OrgUsers,
    Dialect::CitizenPortal,
];

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::AuthAdmin => "auth-admin",
            Dialect::UserProfiles => "user-profiles",
            Dialect::RoleAssignments => "role-assignments",
            Dialect::OrgUsers => "org-users",
            Dialect::CitizenPortal => "citizen-portal",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        ALL.into_iter().find(|d| d.name() == name)
    }

    pub fn default_prefix(self) -> String {
        format!("/compat/{}", self.name())
    }

    /// Every (method, path) the dialect serves, relative to its mount.
    pub fn routes(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Dialect::AuthAdmin => auth_admin::ROUTES,
            Dialect::UserProfiles => user_profiles::ROUTES,
            Dialect::RoleAssignments => role_assignments::ROUTES,
            Dialect::OrgUsers => org_users::ROUTES,
            Dialect::CitizenPortal => citizen_portal::ROUTES,
        }
    }

    fn router(self) -> Router<AppState> {
        match self {
            Dialect::AuthAdmin => auth_admin::router(),
            Dialect::UserProfiles => user_profiles::router(),
            Dialect::RoleAssignments => role_assignments::router(),
            Dialect::OrgUsers => org_users::router(),
            Dialect::CitizenPortal => citizen_portal::router(),
        }
    }

    /// The dialect's answer, in its envelope, to an unknown path under its prefix (404) or a
    /// method a path does not take (405).
    fn route_error(self, status: StatusCode) -> axum::response::Response {
        match self {
            Dialect::AuthAdmin => auth_admin::route_error(status),
            Dialect::UserProfiles => user_profiles::route_error(status),
            Dialect::RoleAssignments => role_assignments::route_error(status),
            Dialect::OrgUsers => org_users::route_error(status),
            Dialect::CitizenPortal => citizen_portal::route_error(status),
        }
    }
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
                let names: Vec<&str> = ALL.iter().map(|d| d.name()).collect();
                format!(
                    "unknown dialect '{name}' in mount '{s}': expected one of {}",
                    names.join(", ")
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
        assert_eq!(m.prefix_of(Dialect::OrgUsers), Some("/compat/org-users"));
        assert_eq!(m.iter().count(), 5);
    }

    #[test]
    fn mounts_move_and_remove_dialects() {
        let m = Mounts::parse(
            &settings(&["auth-admin=/", "org-users=off", "citizen-portal=/cp/"]),
            &[],
        )
        .unwrap();
        assert_eq!(m.prefix_of(Dialect::AuthAdmin), Some(""));
        assert_eq!(m.prefix_of(Dialect::OrgUsers), None);
        assert_eq!(m.prefix_of(Dialect::CitizenPortal), Some("/cp"));
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
