//! Users: accounts, their profiles and lookups for login. The list (search, cursors, deep
//! pages) is in `user_list.rs`.

use async_trait::async_trait;
use sqlx::Row;

use latchkey_core::cache::Invalidation;
use latchkey_core::error::{CoreError, CoreResult, Entity};
use latchkey_core::model::*;
use latchkey_core::ports::*;
use latchkey_core::validate::fold;

use crate::audit::audit_insert;
use crate::roles::{ensure_role, insert_assignment};
use crate::rows::*;
use crate::{db_err, Store, Tx};
use latchkey_core::audit::AuditEvent;

#[async_trait]
impl UserStore for Store {
    /// How many users there are: one row kept exact by triggers (migration 0005), not a
    /// count over the table.
    async fn count_users(&self) -> CoreResult<i64> {
        sqlx::query_scalar("SELECT n FROM row_counts WHERE name = 'users'")
            .fetch_one(&self.read)
            .await
            .map_err(db_err)
    }

    /// Inserts a user and their (active) role assignments in one transaction. Roles that do
    /// not exist yet are created.
    async fn insert_user(
        &self,
        u: &NewUser,
        roles: &[String],
        actor: Option<&str>,
    ) -> CoreResult<UserId> {
        let mut tx = self.begin().await?;
        let now = Timestamp::now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (uuid, username, username_key, email, email_key, password_hash, \
             first_name, middle_name, last_name, name_extension, display_name, contact_number, \
             address, organization_id, is_active, search_text, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17) \
             RETURNING id",
        )
        .bind(&u.uuid)
        .bind(&u.username)
        .bind(fold(&u.username))
        .bind(&u.email)
        .bind(fold(&u.email))
        .bind(&u.password_hash)
        .bind(&u.profile.first_name)
        .bind(&u.profile.middle_name)
        .bind(&u.profile.last_name)
        .bind(&u.profile.name_extension)
        .bind(&u.profile.display_name)
        .bind(&u.profile.contact_number)
        .bind(&u.profile.address)
        .bind(u.organization.map(|o| o.0))
        .bind(u.is_active)
        .bind(search_text(&u.username, &u.email, &u.profile))
        .bind(now.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        for role in roles {
            let role_id = ensure_role(&mut tx, role, now).await?;
            insert_assignment(&mut tx, UserId(id), role_id, true, actor, now).await?;
        }
        if let Some(default) = &u.default_role {
            let role_id = ensure_role(&mut tx, default, now).await?;
            sqlx::query("UPDATE users SET default_role_id = $2 WHERE id = $1")
                .bind(id)
                .bind(role_id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await?;
        Ok(UserId(id))
    }

    async fn get_user(&self, id: UserId) -> CoreResult<Option<User>> {
        let row = sqlx::query(&format!("{USER_SELECT} WHERE u.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        self.complete_one(row).await
    }

    async fn get_user_by_uuid(&self, uuid: &str) -> CoreResult<Option<User>> {
        let row = sqlx::query(&format!("{USER_SELECT} WHERE u.uuid = $1"))
            .bind(uuid)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        self.complete_one(row).await
    }

    /// A user by username or email (case-insensitive, `key` already folded).
    async fn get_user_by_login(&self, key: &str) -> CoreResult<Option<User>> {
        let row = sqlx::query(&format!(
            "{USER_SELECT} WHERE u.username_key = $1 OR u.email_key = $1 ORDER BY u.id LIMIT 1"
        ))
        .bind(key)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        self.complete_one(row).await
    }

    /// What a login needs: id, hash, active flag. `key` is folded.
    async fn login_record(&self, key: &str) -> CoreResult<Option<LoginRecord>> {
        let row = sqlx::query(
            "SELECT u.id, u.password_hash, u.is_active, \
             (EXISTS (SELECT 1 FROM mfa_totp t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) \
             OR EXISTS (SELECT 1 FROM mfa_passkeys k WHERE k.user_id = u.id)) AS mfa FROM users u \
             WHERE u.username_key = $1 OR u.email_key = $1 ORDER BY u.id LIMIT 1",
        )
        .bind(key)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        row.map(|r| {
            Ok(LoginRecord {
                id: UserId(r.try_get("id").map_err(db_err)?),
                password_hash: r.try_get("password_hash").map_err(db_err)?,
                is_active: get_bool(&r, "is_active")?,
                mfa: get_bool(&r, "mfa")?,
            })
        })
        .transpose()
    }

    async fn password_hash(&self, id: UserId) -> CoreResult<Option<String>> {
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)
    }

    /// Writes a user's changeable fields (the core has applied and validated the patch).
    async fn update_user(&self, u: &User) -> CoreResult<Written<()>> {
        let mut tx = self.begin().await?;
        let fields = UserFields {
            username: &u.username,
            email: &u.email,
            profile: &u.profile,
            organization: u.organization.as_ref().map(|o| o.id),
            is_active: u.is_active,
            created_at: None,
        };
        if write_fields(&mut tx, u.id, &fields, Timestamp::now()).await? == 0 {
            return Err(CoreError::NotFound(Entity::User));
        }
        tx.emit(&[Invalidation::User(u.id)]).await?;
        tx.done(()).await
    }

    async fn upgrade_password(
        &self,
        id: UserId,
        old: &str,
        new: &str,
        event: &AuditEvent,
        client: &ClientInfo,
    ) -> CoreResult<Written<bool>> {
        let mut tx = self.begin().await?;
        let now = Timestamp::now();
        let n = sqlx::query(
            "UPDATE users SET password_hash = $3, weak_password_hash = FALSE, updated_at = $4 \
             WHERE id = $1 AND password_hash = $2",
        )
        .bind(id.0)
        .bind(old)
        .bind(new)
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Ok(Written::new(false, Vec::new()));
        }
        audit_insert(event, client, now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.emit(&[Invalidation::User(id)]).await?;
        tx.done(true).await
    }

    /// Stores a new hash. With `end_sessions`, ends the user's sessions (but `keep`) in the
    /// same transaction.
    async fn set_password(
        &self,
        id: UserId,
        hash: &str,
        end_sessions: Option<(Option<&SessionId>, &str)>,
    ) -> CoreResult<Written<Vec<SessionId>>> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE users SET password_hash = $2, weak_password_hash = FALSE, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(hash)
        .bind(Timestamp::now().0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::User));
        }
        let ended = match end_sessions {
            Some((keep, reason)) => self.end_user_sessions_tx(&mut tx, id, keep, reason).await?,
            None => Vec::new(),
        };
        // `updated_at` moved: a cached copy of the user is stale.
        tx.emit(&[Invalidation::User(id)]).await?;
        tx.done(ended).await
    }

    /// Deletes a user (their sessions and assignments go with them).
    async fn delete_user(&self, id: UserId) -> CoreResult<Written<()>> {
        let mut tx = self.begin().await?;
        self.end_user_sessions_tx(&mut tx, id, None, "user deleted")
            .await?;
        let n = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::User));
        }
        tx.emit(&[Invalidation::User(id)]).await?;
        tx.done(()).await
    }

    /// Deletes every user but `keep` (org-users `DELETE /users/`). Returns how many, and
    /// the sessions that ended with them.
    async fn delete_users_except(&self, keep: UserId) -> CoreResult<Written<u64>> {
        let mut tx = self.begin().await?;
        let sids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM sessions WHERE user_id <> $1 AND revoked_at IS NULL",
        )
        .bind(keep.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let n = sqlx::query("DELETE FROM users WHERE id <> $1")
            .bind(keep.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        let sids: Vec<SessionId> = sids.into_iter().map(SessionId).collect();
        let mut events: Vec<Invalidation> =
            sids.iter().cloned().map(Invalidation::Session).collect();
        events.push(Invalidation::AllUsers);
        tx.emit(&events).await?;
        tx.done(n).await
    }

    async fn list_users(&self, q: &UserQuery, page: &PageRequest) -> CoreResult<UserPage> {
        self.list_users_page(q, page).await
    }
}

impl Store {
    /// What the auth cache needs of a user.
    async fn complete_one(&self, row: Option<sqlx::any::AnyRow>) -> CoreResult<Option<User>> {
        let Some(row) = row else { return Ok(None) };
        let mut users = vec![user_from_row(&row)?];
        self.attach_roles(&mut users).await?;
        Ok(users.pop())
    }

    /// (user id, role name) of active assignments, ordered by user then role name.
    async fn active_roles(&self, ids: &[UserId]) -> CoreResult<Vec<(UserId, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Ids are integers from our own rows: inlining them is safe and keeps one statement.
        let list = ids
            .iter()
            .map(|i| i.0.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let rows = sqlx::query(&format!(
            "SELECT ra.user_id, r.name FROM role_assignments ra JOIN roles r ON r.id = ra.role_id \
             WHERE ra.is_active = TRUE AND ra.user_id IN ({list}) ORDER BY ra.user_id, r.name"
        ))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    UserId(r.try_get("user_id").map_err(db_err)?),
                    r.try_get("name").map_err(db_err)?,
                ))
            })
            .collect()
    }

    pub(crate) async fn attach_roles(&self, users: &mut [User]) -> CoreResult<()> {
        let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
        for (uid, role) in self.active_roles(&ids).await? {
            if let Some(u) = users.iter_mut().find(|u| u.id == uid) {
                u.roles.push(role);
            }
        }
        Ok(())
    }
}

/// A user's changeable fields, as `update_user` and an updating import write them.
pub(crate) struct UserFields<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub profile: &'a Profile,
    pub organization: Option<OrgId>,
    pub is_active: bool,
    /// Set only by an import that carries the origin's creation time.
    pub created_at: Option<Timestamp>,
}

/// Writes `f` to user `id` (and the folded keys and search text that follow from it);
/// returns the rows changed.
pub(crate) async fn write_fields(
    tx: &mut Tx,
    id: UserId,
    f: &UserFields<'_>,
    now: Timestamp,
) -> CoreResult<u64> {
    let p = f.profile;
    sqlx::query(
        "UPDATE users SET username = $2, username_key = $3, email = $4, email_key = $5, \
         first_name = $6, middle_name = $7, last_name = $8, name_extension = $9, \
         display_name = $10, contact_number = $11, address = $12, organization_id = $13, \
         is_active = $14, search_text = $15, updated_at = $16, \
         created_at = COALESCE($17, created_at), \
         email_verified_at = CASE WHEN email_key = $5 THEN email_verified_at ELSE NULL END \
         WHERE id = $1",
    )
    .bind(id.0)
    .bind(f.username)
    .bind(fold(f.username))
    .bind(f.email)
    .bind(fold(f.email))
    .bind(&p.first_name)
    .bind(&p.middle_name)
    .bind(&p.last_name)
    .bind(&p.name_extension)
    .bind(&p.display_name)
    .bind(&p.contact_number)
    .bind(&p.address)
    .bind(f.organization.map(|o| o.0))
    .bind(f.is_active)
    .bind(search_text(f.username, f.email, p))
    .bind(now.0)
    .bind(f.created_at.map(|t| t.0))
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected())
    .map_err(db_err)
}

/// The folded text that free-text search runs over.
pub(crate) fn search_text(username: &str, email: &str, p: &Profile) -> String {
    let mut parts = vec![username, email];
    for f in [
        &p.first_name,
        &p.middle_name,
        &p.last_name,
        &p.name_extension,
        &p.display_name,
    ]
    .into_iter()
    .flatten()
    {
        parts.push(f);
    }
    fold(&parts.join(" "))
}
