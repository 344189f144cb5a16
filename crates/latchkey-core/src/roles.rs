//! Built-in role names (CONTRACT.md "One identity, many wires").

/// Everything, in every dialect.
pub const ADMIN: &str = "admin";
/// Administrator in citizen-portal.
pub const SUPER_ADMIN: &str = "super_admin";
/// May register users in org-users.
pub const PI: &str = "pi";
/// Default role of user-profiles sign-up.
pub const USER: &str = "user";
/// Default role of citizen-portal sign-up.
pub const CITIZEN: &str = "citizen";
/// No administrative right anywhere (citizen-portal's origin had it).
pub const STAFF: &str = "staff";

use crate::model::{Role, RoleId};

/// A role-id namespace. Native ids are the database's; an edge whose origin had its own ids
/// (citizen-portal's front-ends hardcode them) maps some role names to fixed ids, and every
/// other role gets its native id plus the largest fixed id, so no two roles share an id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleIds {
    fixed: Vec<(String, i64)>,
}

impl RoleIds {
    /// citizen-portal's origin seeded these (CONTRACT.md).
    pub const CITIZEN_PORTAL: &'static str = "super_admin=1,admin=2,staff=3,citizen=4";

    /// The database's own ids.
    pub fn native() -> Self {
        RoleIds::default()
    }

    /// Parses `name=id,name=id`: role names as [`crate::validate::role_name`] takes them,
    /// ids positive and distinct.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut fixed: Vec<(String, i64)> = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, id) = part
                .split_once('=')
                .ok_or_else(|| format!("invalid role id '{part}': expected ROLE=ID"))?;
            let name = crate::validate::role_name(name)
                .map_err(|_| format!("invalid role name in '{part}'"))?;
            let id: i64 = id.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("invalid role id in '{part}': expected a positive integer")
            })?;
            if fixed.iter().any(|(n, i)| *n == name || *i == id) {
                return Err(format!("role id '{part}' repeats a role or an id"));
            }
            fixed.push((name, id));
        }
        Ok(RoleIds { fixed })
    }

    fn offset(&self) -> i64 {
        self.fixed.iter().map(|(_, id)| *id).max().unwrap_or(0)
    }

    /// The id `role` has in this namespace.
    pub fn id_of(&self, role: &Role) -> RoleId {
        match self.fixed.iter().find(|(n, _)| *n == role.name) {
            Some((_, id)) => RoleId(*id),
            None => RoleId(role.id.0 + self.offset()),
        }
    }

    /// The role that `id` names in this namespace, among `all`.
    pub fn role_named_by<'r>(&self, id: RoleId, all: &'r [Role]) -> Option<&'r Role> {
        if let Some((name, _)) = self.fixed.iter().find(|(_, i)| *i == id.0) {
            return all.iter().find(|r| r.name == *name);
        }
        let native = id.0.checked_sub(self.offset())?;
        all.iter()
            .find(|r| r.id.0 == native && !self.fixed.iter().any(|(n, _)| *n == r.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(id: i64, name: &str) -> Role {
        Role {
            id: RoleId(id),
            name: name.into(),
            description: None,
            builtin: true,
            created_at: crate::model::Timestamp(0),
            updated_at: crate::model::Timestamp(0),
        }
    }

    #[test]
    fn a_mapped_namespace_names_every_role_once() {
        let all = [
            role(1, "admin"),
            role(2, "super_admin"),
            role(4, "user"),
            role(6, "staff"),
            role(7, "citizen"),
            role(9, "x"),
        ];
        let ns = RoleIds::parse(RoleIds::CITIZEN_PORTAL).unwrap();
        assert_eq!(ns.role_named_by(RoleId(2), &all).unwrap().name, "admin");
        assert_eq!(ns.role_named_by(RoleId(4), &all).unwrap().name, "citizen");
        assert_eq!(ns.role_named_by(RoleId(3), &all).unwrap().name, "staff");
        // Unmapped roles sit above the fixed ids; a mapped role's native id names nothing.
        assert_eq!(ns.role_named_by(RoleId(8), &all).unwrap().name, "user");
        assert!(ns.role_named_by(RoleId(5), &all).is_none());
        assert!(ns.role_named_by(RoleId(0), &all).is_none());
        for r in &all {
            assert_eq!(ns.role_named_by(ns.id_of(r), &all).unwrap().name, r.name);
        }
        let native = RoleIds::native();
        assert_eq!(
            native.role_named_by(RoleId(2), &all).unwrap().name,
            "super_admin"
        );
        assert!(RoleIds::parse("admin=1,staff=1").is_err());
        assert!(RoleIds::parse("admin=0").is_err());
        assert!(RoleIds::parse("admin").is_err());
    }
}
