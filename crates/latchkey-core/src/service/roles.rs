//! Roles and role assignments. Administration only.

use crate::access::Admin;
use crate::audit::AuditEvent;
use crate::error::{CoreError, CoreResult, Entity, Reason};
use crate::model::*;
use crate::validate;

/// Validates and de-duplicates role names, keeping their order.
pub fn clean_roles(raw: &[String]) -> CoreResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for r in raw {
        let r = validate::role_name(r)?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

impl Admin<'_> {
    pub async fn list_roles(&self) -> CoreResult<Vec<Role>> {
        self.svc.store.list_roles().await
    }

    pub async fn get_role(&self, id: RoleId) -> CoreResult<Role> {
        self.svc
            .store
            .get_role(id)
            .await?
            .ok_or(CoreError::NotFound(Entity::Role))
    }

    pub async fn create_role(&self, name: &str, description: Option<String>) -> CoreResult<Role> {
        let name = validate::role_name(name)?;
        let description = validate::profile_field("description", description)?;
        let id = self
            .svc
            .store
            .create_role(&name, description.as_deref())
            .await?;
        self.record(AuditEvent::new("role.created").on("role", &name))
            .await;
        self.get_role(id).await
    }

    pub async fn update_role(
        &self,
        id: RoleId,
        name: Option<&str>,
        description: Option<Option<String>>,
    ) -> CoreResult<Role> {
        let mut role = self.get_role(id).await?;
        if let Some(n) = name {
            let n = validate::role_name(n)?;
            if role.builtin && n != role.name {
                return Err(CoreError::invalid("name", Reason::BuiltinRename));
            }
            role.name = n;
        }
        if let Some(d) = description {
            role.description = validate::profile_field("description", d)?;
        }
        let w = self
            .svc
            .store
            .update_role(id, &role.name, role.description.as_deref())
            .await?;
        self.svc.applied(w);
        self.record(AuditEvent::new("role.updated").on("role", &role.name))
            .await;
        self.get_role(id).await
    }

    pub async fn delete_role(&self, id: RoleId) -> CoreResult<()> {
        let role = self.get_role(id).await?;
        if role.builtin {
            return Err(CoreError::invalid("role", Reason::BuiltinDelete));
        }
        let w = self.svc.store.delete_role(id).await?;
        self.svc.applied(w);
        self.record(AuditEvent::new("role.deleted").on("role", &role.name))
            .await;
        Ok(())
    }

    pub async fn list_assignments(
        &self,
        q: &AssignmentQuery,
        offset: u64,
        limit: u64,
    ) -> CoreResult<(Vec<Assignment>, u64)> {
        let mut q = q.clone();
        if let Some(r) = &q.role {
            q.role = Some(validate::role_name(r)?);
        }
        if let Some(s) = &q.search {
            validate::no_nul("search_text", s)?;
        }
        self.svc.store.list_assignments(&q, offset, limit).await
    }

    pub async fn get_assignment(&self, id: AssignmentId) -> CoreResult<Assignment> {
        self.svc
            .store
            .get_assignment(id)
            .await?
            .ok_or(CoreError::NotFound(Entity::Assignment))
    }

    /// Assigns a role to a user (the role is created if it does not exist yet).
    pub async fn assign_role(
        &self,
        user: UserId,
        role: &str,
        is_active: bool,
    ) -> CoreResult<Assignment> {
        let role = validate::role_name(role)?;
        self.svc.user_or_gone(user).await?;
        let w = self
            .svc
            .store
            .create_assignment(user, &role, is_active, Some(&self.actor_ref()))
            .await?;
        let id = self.svc.applied(w);
        let a = self.get_assignment(id).await?;
        self.record(
            AuditEvent::new("assignment.created")
                .on("assignment", id)
                .detail(format!(
                    "user {user} role {} active {}",
                    a.role, a.is_active
                )),
        )
        .await;
        Ok(a)
    }

    /// Changes an assignment; fields left `None` keep their value. Answers the assignment as
    /// this change wrote it (its version is this write's, whatever ran alongside).
    pub async fn update_assignment(
        &self,
        id: AssignmentId,
        user: Option<UserId>,
        role: Option<&str>,
        is_active: Option<bool>,
    ) -> CoreResult<Assignment> {
        let current = self.get_assignment(id).await?;
        let role = match role {
            Some(r) => validate::role_name(r)?,
            None => current.role.clone(),
        };
        let user = user.unwrap_or(current.user_id);
        if user != current.user_id {
            self.svc.user_or_gone(user).await?;
        }
        let w = self
            .svc
            .store
            .update_assignment(
                id,
                user,
                &role,
                is_active.unwrap_or(current.is_active),
                Some(&self.actor_ref()),
            )
            .await?;
        let a = self.svc.applied(w);
        self.record(
            AuditEvent::new("assignment.updated")
                .on("assignment", id)
                .detail(format!(
                    "user {} role {} active {} version {}",
                    a.user_id, a.role, a.is_active, a.version
                )),
        )
        .await;
        Ok(a)
    }

    pub async fn delete_assignment(&self, id: AssignmentId) -> CoreResult<Assignment> {
        let current = self.get_assignment(id).await?;
        let w = self.svc.store.delete_assignment(id).await?;
        self.svc.applied(w);
        self.record(
            AuditEvent::new("assignment.deleted")
                .on("assignment", id)
                .detail(format!("user {} role {}", current.user_id, current.role)),
        )
        .await;
        Ok(current)
    }

    /// Removes a user's assignment of `role`, if any.
    pub async fn unassign_role(&self, user: UserId, role: &str) -> CoreResult<()> {
        let role = validate::role_name(role)?;
        let q = AssignmentQuery {
            user_id: Some(user),
            role: Some(role),
            ..Default::default()
        };
        let (found, _) = self.svc.store.list_assignments(&q, 0, 1).await?;
        let a = found
            .into_iter()
            .next()
            .ok_or(CoreError::NotFound(Entity::Assignment))?;
        let w = self.svc.store.delete_assignment(a.id).await?;
        self.svc.applied(w);
        self.record(
            AuditEvent::new("assignment.deleted")
                .on("assignment", a.id)
                .detail(format!("user {user} role {}", a.role)),
        )
        .await;
        Ok(())
    }

    /// Makes `roles` exactly the user's active roles.
    pub async fn set_user_roles(&self, user: UserId, roles: &[String]) -> CoreResult<User> {
        let roles = clean_roles(roles)?;
        self.replace_roles(user, &roles).await?;
        self.svc.user_or_gone(user).await
    }

    /// Makes `roles` (already validated) exactly the user's active roles, and records it.
    pub(crate) async fn replace_roles(&self, user: UserId, roles: &[String]) -> CoreResult<()> {
        let w = self
            .svc
            .store
            .replace_roles(user, roles, Some(&self.actor_ref()))
            .await?;
        self.svc.applied(w);
        self.record(
            AuditEvent::new("roles.replaced")
                .on("user", user)
                .detail(format!("roles [{}]", roles.join(", "))),
        )
        .await;
        Ok(())
    }

    /// Role names for ids in `ns`, all or nothing; an unknown id is invalid input.
    pub(crate) async fn roles_for_ids(
        &self,
        ns: &crate::roles::RoleIds,
        ids: &[RoleId],
    ) -> CoreResult<Vec<String>> {
        let all = self.svc.store.list_roles().await?;
        ids.iter()
            .map(|id| {
                ns.role_named_by(*id, &all)
                    .map(|r| r.name.clone())
                    .ok_or_else(|| CoreError::invalid("roleIds", Reason::UnknownRoleId(id.0)))
            })
            .collect()
    }
}
