//! Organizations.

use async_trait::async_trait;

use latchkey_core::cache::Invalidation;
use latchkey_core::error::{CoreError, CoreResult, Entity};
use latchkey_core::model::*;
use latchkey_core::ports::*;
use latchkey_core::validate::fold;

use crate::rows::*;
use crate::{db_err, Store};

#[async_trait]
impl OrgStore for Store {
    async fn list_orgs(&self, offset: u64, limit: u64) -> CoreResult<(Vec<Organization>, u64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organizations")
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?;
        let rows = sqlx::query(&format!("{ORG_SELECT} ORDER BY o.id LIMIT $1 OFFSET $2"))
            .bind(limit.min(i64::MAX as u64) as i64)
            .bind(offset.min(i64::MAX as u64) as i64)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        let list = rows
            .iter()
            .map(org_from_row)
            .collect::<CoreResult<Vec<_>>>()?;
        Ok((list, total.max(0) as u64))
    }

    async fn get_org(&self, id: OrgId) -> CoreResult<Option<Organization>> {
        let row = sqlx::query(&format!("{ORG_SELECT} WHERE o.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.as_ref().map(org_from_row).transpose()
    }

    async fn create_org(&self, name: &str, description: Option<&str>) -> CoreResult<OrgId> {
        let now = Timestamp::now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO organizations (uuid, name, name_key, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(name)
        .bind(fold(name))
        .bind(description)
        .bind(now.0)
        .fetch_one(&self.write)
        .await
        .map_err(db_err)?;
        Ok(OrgId(id))
    }

    async fn update_org(
        &self,
        id: OrgId,
        name: &str,
        description: Option<&str>,
    ) -> CoreResult<Written<()>> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE organizations SET name = $2, name_key = $3, description = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(name)
        .bind(fold(name))
        .bind(description)
        .bind(Timestamp::now().0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::Organization));
        }
        // Members show the organization's name: cached users go stale.
        tx.emit(&[Invalidation::AllUsers]).await?;
        tx.done(()).await
    }

    async fn delete_org(&self, id: OrgId) -> CoreResult<Written<()>> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM organizations WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::Organization));
        }
        // Members lose their organization (ON DELETE SET NULL).
        tx.emit(&[Invalidation::AllUsers]).await?;
        tx.done(()).await
    }
}
