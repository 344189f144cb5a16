//! Passwords: a user's own change (with the current one) and an administrator's reset.

use crate::access::{self, Admin};
use crate::audit::AuditEvent;
use crate::error::{CoreError, CoreResult, Entity};
use crate::limits::Limited;
use crate::model::*;
use crate::password::Verified as PwVerified;
use crate::service::Latchkey;

impl Latchkey {
    /// A user changes their own password: needs the current one; ends their other sessions.
    pub async fn change_password(
        &self,
        actor: &Principal,
        target: UserId,
        current: &str,
        new: &str,
        client: &ClientInfo,
    ) -> CoreResult<()> {
        access::self_or_admin(actor, target)?;
        self.rate_limit(Limited::Password, client)?;
        self.check_new_password(new)?;
        self.check_current_password(target, current).await?;
        let hash = self.hasher.hash(new).await?;
        let keep = (actor.user_id == target).then_some(&actor.session_id);
        let w = self
            .store
            .set_password(target, &hash, Some((keep, "password changed")))
            .await?;
        self.applied(w);
        self.audit(
            AuditEvent::new("password.changed")
                .by(actor)
                .on("user", target),
        )
        .await;
        Ok(())
    }

    /// Is `password` the user's current one? [`CoreError::WrongPassword`] if not.
    pub(crate) async fn check_current_password(
        &self,
        user: UserId,
        password: &str,
    ) -> CoreResult<()> {
        let stored = self
            .store
            .password_hash(user)
            .await?
            .ok_or(CoreError::NotFound(Entity::User))?;
        if self.hasher.verify(password, Some(&stored)).await? == PwVerified::No {
            return Err(CoreError::WrongPassword);
        }
        Ok(())
    }

    pub(crate) async fn set_password_unchecked(
        &self,
        actor: &Principal,
        target: UserId,
        new: &str,
        keep: Option<&SessionId>,
    ) -> CoreResult<()> {
        self.check_new_password(new)?;
        let hash = self.hasher.hash(new).await?;
        let w = self
            .store
            .set_password(target, &hash, Some((keep, "password reset")))
            .await?;
        self.applied(w);
        let action = if actor.user_id == target {
            "password.changed"
        } else {
            "password.reset"
        };
        self.audit(AuditEvent::new(action).by(actor).on("user", target))
            .await;
        Ok(())
    }
}

impl Admin<'_> {
    /// Sets a user's password; all of that user's sessions end (but the admin's own current
    /// one, when resetting their own).
    pub async fn reset_password(&self, target: UserId, new: &str) -> CoreResult<()> {
        let actor = self.actor;
        let keep = (actor.user_id == target).then_some(&actor.session_id);
        self.svc
            .set_password_unchecked(actor, target, new, keep)
            .await
    }
}
