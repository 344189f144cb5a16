//! Organizations and membership. Administration only.

use crate::access::Admin;
use crate::audit::AuditEvent;
use crate::error::{CoreError, CoreResult, Entity};
use crate::model::*;
use crate::service::UserPatch;
use crate::validate;

impl Admin<'_> {
    pub async fn list_orgs(&self, offset: u64, limit: u64) -> CoreResult<(Vec<Organization>, u64)> {
        self.svc.store.list_orgs(offset, limit).await
    }

    pub async fn get_org(&self, id: OrgId) -> CoreResult<Organization> {
        self.svc
            .store
            .get_org(id)
            .await?
            .ok_or(CoreError::NotFound(Entity::Organization))
    }

    pub async fn create_org(
        &self,
        name: &str,
        description: Option<String>,
    ) -> CoreResult<Organization> {
        let name = validate::org_name(name)?;
        let description = validate::profile_field("description", description)?;
        let id = self
            .svc
            .store
            .create_org(&name, description.as_deref())
            .await?;
        self.record(AuditEvent::new("organization.created").on("organization", id))
            .await;
        self.get_org(id).await
    }

    pub async fn update_org(
        &self,
        id: OrgId,
        name: Option<&str>,
        description: Option<Option<String>>,
    ) -> CoreResult<Organization> {
        let mut org = self.get_org(id).await?;
        if let Some(n) = name {
            org.name = validate::org_name(n)?;
        }
        if let Some(d) = description {
            org.description = validate::profile_field("description", d)?;
        }
        let w = self
            .svc
            .store
            .update_org(id, &org.name, org.description.as_deref())
            .await?;
        self.svc.applied(w);
        self.record(AuditEvent::new("organization.updated").on("organization", id))
            .await;
        self.get_org(id).await
    }

    pub async fn delete_org(&self, id: OrgId) -> CoreResult<()> {
        let w = self.svc.store.delete_org(id).await?;
        self.svc.applied(w);
        self.record(AuditEvent::new("organization.deleted").on("organization", id))
            .await;
        Ok(())
    }

    /// Puts a user into an organization (or, with `None`, takes them out).
    pub async fn set_membership(&self, user: UserId, org: Option<OrgId>) -> CoreResult<User> {
        let patch = UserPatch {
            organization: Some(org),
            ..Default::default()
        };
        self.svc.update_user(self.actor, user, patch).await
    }

    /// Takes a user out of `org`; not found unless they are a member of it.
    pub async fn remove_member(&self, org: OrgId, user: UserId) -> CoreResult<()> {
        let u = self.svc.user_or_gone(user).await?;
        if u.organization.as_ref().map(|o| o.id) != Some(org) {
            return Err(CoreError::NotFound(Entity::User));
        }
        self.set_membership(user, None).await.map(|_| ())
    }
}
