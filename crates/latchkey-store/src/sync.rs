//! The invalidation feed: the table every write records its invalidations in, the poll, and pruning.

use async_trait::async_trait;
use sqlx::Row;

use latchkey_core::cache::Invalidation;
use latchkey_core::error::CoreResult;
use latchkey_core::model::*;
use latchkey_core::ports::*;

use crate::{db_err, Store};

#[async_trait]
impl SyncStore for Store {
    /// Events recorded at or after `since` (the poller re-reads a window, so events of
    /// transactions that committed late are not missed; applying one twice is harmless).
    async fn invalidations_since(&self, since: Timestamp) -> CoreResult<Vec<Invalidation>> {
        let rows =
            sqlx::query("SELECT kind, item FROM invalidations WHERE created_at >= $1 ORDER BY id")
                .bind(since.0)
                .fetch_all(&self.read)
                .await
                .map_err(db_err)?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let kind: String = r.try_get("kind").ok()?;
                let item: String = r.try_get("item").ok()?;
                Invalidation::decode(&kind, &item)
            })
            .collect())
    }

    async fn prune_invalidations(&self, before: Timestamp) -> CoreResult<u64> {
        sqlx::query("DELETE FROM invalidations WHERE created_at < $1")
            .bind(before.0)
            .execute(&self.write)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err)
    }

    /// Forgets counters untouched since `before` whose locks have ended.
    async fn prune_throttle(&self, before: Timestamp) -> CoreResult<u64> {
        sqlx::query(
            "DELETE FROM login_throttle WHERE window_start < $1 \
             AND (locked_until IS NULL OR locked_until < $1)",
        )
        .bind(before.0)
        .execute(&self.write)
        .await
        .map(|r| r.rows_affected())
        .map_err(db_err)
    }

    async fn ping(&self) -> CoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map(|_| ())
            .map_err(db_err)
    }

    async fn subscribe(&self) -> Box<dyn InvalidationFeed> {
        self.backend.subscribe(&self.direct_url).await
    }
}
