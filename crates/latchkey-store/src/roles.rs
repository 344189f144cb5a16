//! Roles and role assignments.

use async_trait::async_trait;

use latchkey_core::cache::Invalidation;
use latchkey_core::error::{CoreError, CoreResult, Entity};
use latchkey_core::model::*;
use latchkey_core::ports::*;

use crate::rows::*;
use crate::sql::{like_escape, Sql};
use crate::{db_err, Store, Tx};

#[async_trait]
impl RoleStore for Store {
    async fn list_roles(&self) -> CoreResult<Vec<Role>> {
        let rows = sqlx::query(&format!("{ROLE_SELECT} ORDER BY name"))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        rows.iter().map(role_from_row).collect()
    }

    async fn get_role(&self, id: RoleId) -> CoreResult<Option<Role>> {
        let row = sqlx::query(&format!("{ROLE_SELECT} WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.as_ref().map(role_from_row).transpose()
    }

    async fn create_role(&self, name: &str, description: Option<&str>) -> CoreResult<RoleId> {
        let now = Timestamp::now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO roles (name, description, builtin, created_at, updated_at) \
             VALUES ($1, $2, FALSE, $3, $3) RETURNING id",
        )
        .bind(name)
        .bind(description)
        .bind(now.0)
        .fetch_one(&self.write)
        .await
        .map_err(db_err)?;
        Ok(RoleId(id))
    }

    async fn update_role(
        &self,
        id: RoleId,
        name: &str,
        description: Option<&str>,
    ) -> CoreResult<Written<()>> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE roles SET name = $2, description = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id.0)
        .bind(name)
        .bind(description)
        .bind(Timestamp::now().0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::Role));
        }
        tx.emit(&[Invalidation::AllUsers]).await?;
        tx.done(()).await
    }

    async fn delete_role(&self, id: RoleId) -> CoreResult<Written<()>> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::Role));
        }
        tx.emit(&[Invalidation::AllUsers]).await?;
        tx.done(()).await
    }

    async fn get_assignment(&self, id: AssignmentId) -> CoreResult<Option<Assignment>> {
        let row = sqlx::query(&format!("{ASSIGNMENT_SELECT} WHERE ra.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.as_ref().map(assignment_from_row).transpose()
    }

    async fn list_assignments(
        &self,
        q: &AssignmentQuery,
        offset: u64,
        limit: u64,
    ) -> CoreResult<(Vec<Assignment>, u64)> {
        let mut filter = Sql::new();
        filter.push(" WHERE 1 = 1");
        if let Some(id) = q.id {
            filter.push(" AND ra.id = ");
            filter.bind_int(id.0);
        }
        if let Some(u) = q.user_id {
            filter.push(" AND ra.user_id = ");
            filter.bind_int(u.0);
        }
        if let Some(role) = &q.role {
            filter.push(" AND r.name = ");
            filter.bind_text(role.clone());
        }
        if let Some(active) = q.is_active {
            filter.push(" AND ra.is_active = ");
            filter.bind_bool(active);
        }
        if let Some(text) = q.search.as_deref().filter(|s| !s.is_empty()) {
            // Role names are ASCII lowercase, so folding the needle is enough.
            filter.push(" AND r.name LIKE ");
            filter.bind_text(format!("%{}%", like_escape(&text.to_lowercase())));
            filter.push(" ESCAPE '\\'");
        }
        let total = self
            .count(
                "role_assignments ra JOIN roles r ON r.id = ra.role_id",
                &filter,
            )
            .await?;
        let mut sql = Sql::new();
        sql.push(ASSIGNMENT_SELECT);
        sql.append(&filter);
        let mut order: Vec<String> = q
            .sort
            .iter()
            .map(|(key, desc)| {
                let col = match key {
                    AssignmentSort::Id => "ra.id",
                    AssignmentSort::UserId => "ra.user_id",
                    AssignmentSort::Role => "r.name",
                    AssignmentSort::IsActive => "ra.is_active",
                    AssignmentSort::CreatedAt => "ra.created_at",
                    AssignmentSort::UpdatedAt => "ra.updated_at",
                };
                format!("{col} {}", if *desc { "DESC" } else { "ASC" })
            })
            .collect();
        order.push("ra.id ASC".into());
        sql.push(&format!(" ORDER BY {} LIMIT ", order.join(", ")));
        sql.bind_int(limit.min(i64::MAX as u64) as i64);
        sql.push(" OFFSET ");
        sql.bind_int(offset.min(i64::MAX as u64) as i64);
        let rows = sql.query().fetch_all(&self.read).await.map_err(db_err)?;
        let list = rows
            .iter()
            .map(assignment_from_row)
            .collect::<CoreResult<Vec<_>>>()?;
        Ok((list, total.max(0) as u64))
    }

    /// Sets a user's default role (creating nothing: the role must exist).
    async fn set_default_role(
        &self,
        user: UserId,
        role: Option<RoleId>,
    ) -> CoreResult<Written<()>> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE users SET default_role_id = $2, updated_at = $3 WHERE id = $1")
            .bind(user.0)
            .bind(role.map(|r| r.0))
            .bind(Timestamp::now().0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::User));
        }
        tx.emit(&[Invalidation::User(user)]).await?;
        tx.done(()).await
    }

    /// Creates an assignment, creating the role if it does not exist.
    async fn create_assignment(
        &self,
        user: UserId,
        role: &str,
        is_active: bool,
        actor: Option<&str>,
    ) -> CoreResult<Written<AssignmentId>> {
        let mut tx = self.begin().await?;
        let now = Timestamp::now();
        let role_id = ensure_role(&mut tx, role, now).await?;
        let id = insert_assignment(&mut tx, user, role_id, is_active, actor, now).await?;
        tx.emit(&[Invalidation::User(user)]).await?;
        tx.done(id).await
    }

    /// Rewrites an assignment (all of user, role, activity), bumping its version.
    async fn update_assignment(
        &self,
        id: AssignmentId,
        user: UserId,
        role: &str,
        is_active: bool,
        actor: Option<&str>,
    ) -> CoreResult<Written<Assignment>> {
        let mut tx = self.begin().await?;
        let now = Timestamp::now();
        // Lock the row first (a no-op write): concurrent updates of one assignment then run
        // one after another, each sees the user the one before it left, and each bumps the
        // version from the one before it.
        let old_user: Option<i64> = sqlx::query_scalar(
            "UPDATE role_assignments SET version = version WHERE id = $1 RETURNING user_id",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(old_user) = old_user else {
            return Err(CoreError::NotFound(Entity::Assignment));
        };
        let role_id = ensure_role(&mut tx, role, now).await?;
        sqlx::query(
            "UPDATE role_assignments SET user_id = $2, role_id = $3, is_active = $4, \
             updated_at = $5, updated_by = $6, version = version + 1 WHERE id = $1",
        )
        .bind(id.0)
        .bind(user.0)
        .bind(role_id.0)
        .bind(is_active)
        .bind(now.0)
        .bind(actor)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut events = vec![Invalidation::User(user)];
        if old_user != user.0 {
            events.push(Invalidation::User(UserId(old_user)));
        }
        tx.emit(&events).await?;
        // The assignment as this transaction wrote it, whatever commits after it.
        let row = sqlx::query(&format!("{ASSIGNMENT_SELECT} WHERE ra.id = $1"))
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let written = assignment_from_row(&row)?;
        tx.done(written).await
    }

    async fn delete_assignment(&self, id: AssignmentId) -> CoreResult<Written<()>> {
        let mut tx = self.begin().await?;
        let user: Option<i64> =
            sqlx::query_scalar("DELETE FROM role_assignments WHERE id = $1 RETURNING user_id")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let Some(user) = user else {
            return Err(CoreError::NotFound(Entity::Assignment));
        };
        tx.emit(&[Invalidation::User(UserId(user))]).await?;
        tx.done(()).await
    }

    /// Makes `roles` exactly the user's active roles: missing ones are assigned (or
    /// re-activated), others are removed. One transaction.
    async fn replace_roles(
        &self,
        user: UserId,
        roles: &[String],
        actor: Option<&str>,
    ) -> CoreResult<Written<()>> {
        let mut tx = self.begin().await?;
        let now = Timestamp::now();
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if exists.is_none() {
            return Err(CoreError::NotFound(Entity::User));
        }
        let mut keep = Vec::new();
        for role in roles {
            let role_id = ensure_role(&mut tx, role, now).await?;
            keep.push(role_id.0);
            let updated = sqlx::query(
                "UPDATE role_assignments SET is_active = TRUE, updated_at = $3, updated_by = $4, \
                 version = version + 1 WHERE user_id = $1 AND role_id = $2 AND is_active = FALSE",
            )
            .bind(user.0)
            .bind(role_id.0)
            .bind(now.0)
            .bind(actor)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            if updated == 0 {
                let has: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM role_assignments WHERE user_id = $1 AND role_id = $2",
                )
                .bind(user.0)
                .bind(role_id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                if has.is_none() {
                    insert_assignment(&mut tx, user, role_id, true, actor, now).await?;
                }
            }
        }
        let keep_list = if keep.is_empty() {
            "0".to_owned()
        } else {
            keep.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        sqlx::query(&format!(
            "DELETE FROM role_assignments WHERE user_id = $1 AND role_id NOT IN ({keep_list})"
        ))
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.emit(&[Invalidation::User(user)]).await?;
        tx.done(()).await
    }
}

pub(crate) async fn ensure_role(tx: &mut Tx, name: &str, now: Timestamp) -> CoreResult<RoleId> {
    let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM roles WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
    if let Some(id) = existing {
        return Ok(RoleId(id));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO roles (name, builtin, created_at, updated_at) VALUES ($1, FALSE, $2, $2) \
         ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .bind(name)
    .bind(now.0)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(RoleId(id))
}

pub(crate) async fn insert_assignment(
    tx: &mut Tx,
    user: UserId,
    role: RoleId,
    is_active: bool,
    actor: Option<&str>,
    now: Timestamp,
) -> CoreResult<AssignmentId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO role_assignments (user_id, role_id, is_active, created_at, created_by, version) \
         VALUES ($1, $2, $3, $4, $5, 0) RETURNING id",
    )
    .bind(user.0)
    .bind(role.0)
    .bind(is_active)
    .bind(now.0)
    .bind(actor)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(AssignmentId(id))
}
