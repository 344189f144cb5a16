//! The audit log.

use async_trait::async_trait;
use sqlx::Row;

use latchkey_core::error::CoreResult;
use latchkey_core::model::*;
use latchkey_core::ports::*;

use crate::sql::Sql;
use crate::{db_err, Store};
use latchkey_core::audit::{AuditEvent, AuditQuery, AuditRecord};
use sqlx::Any;

#[async_trait]
impl AuditStore for Store {
    async fn insert_audit(
        &self,
        e: &AuditEvent,
        client: &ClientInfo,
        at: Timestamp,
    ) -> CoreResult<()> {
        audit_insert(e, client, at)
            .execute(&self.write)
            .await
            .map(|_| ())
            .map_err(db_err)
    }

    async fn audit_hourly(
        &self,
        action: &str,
        since: Timestamp,
    ) -> CoreResult<Vec<(i64, String, i64)>> {
        let rows = sqlx::query(
            "SELECT at / 3600000 AS hour, outcome, COUNT(*) AS n FROM audit_events \
             WHERE at >= $1 AND action = $2 GROUP BY at / 3600000, outcome ORDER BY hour",
        )
        .bind(since.0)
        .bind(action)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("hour").map_err(db_err)?,
                    r.try_get("outcome").map_err(db_err)?,
                    r.try_get("n").map_err(db_err)?,
                ))
            })
            .collect()
    }

    /// Events matching `q`, newest first (or oldest first with `ascending`).
    async fn list_audit(
        &self,
        q: &AuditQuery,
        offset: u64,
        limit: u64,
        ascending: bool,
    ) -> CoreResult<(Vec<AuditRecord>, u64)> {
        let mut filter = Sql::new();
        filter.push(" WHERE 1 = 1");
        for (col, val) in [
            ("action", &q.action),
            ("outcome", &q.outcome),
            ("target_type", &q.target_type),
            ("target_id", &q.target_id),
        ] {
            if let Some(v) = val {
                filter.push(&format!(" AND {col} = "));
                filter.bind_text(v.clone());
            }
        }
        if let Some(a) = q.actor_id {
            filter.push(" AND actor_id = ");
            filter.bind_int(a);
        }
        if let Some(t) = q.since {
            filter.push(" AND at >= ");
            filter.bind_int(t.0);
        }
        if let Some(t) = q.until {
            filter.push(" AND at < ");
            filter.bind_int(t.0);
        }
        if let Some(id) = q.after_id {
            filter.push(" AND id > ");
            filter.bind_int(id);
        }
        let total = self.count("audit_events", &filter).await?;
        let mut sql = Sql::new();
        sql.push(
            "SELECT id, at, action, outcome, actor_id, actor, target_type, target_id, client_ip, \
             user_agent, detail FROM audit_events",
        );
        sql.append(&filter);
        sql.push(if ascending {
            " ORDER BY id ASC LIMIT "
        } else {
            " ORDER BY id DESC LIMIT "
        });
        sql.bind_int(limit.min(i64::MAX as u64) as i64);
        sql.push(" OFFSET ");
        sql.bind_int(offset.min(i64::MAX as u64) as i64);
        let rows = sql.query().fetch_all(&self.read).await.map_err(db_err)?;
        let list = rows
            .iter()
            .map(|r| {
                Ok(AuditRecord {
                    id: r.try_get("id").map_err(db_err)?,
                    at: Timestamp(r.try_get("at").map_err(db_err)?),
                    action: r.try_get("action").map_err(db_err)?,
                    outcome: r.try_get("outcome").map_err(db_err)?,
                    actor_id: r.try_get("actor_id").map_err(db_err)?,
                    actor: r.try_get("actor").map_err(db_err)?,
                    target_type: r.try_get("target_type").map_err(db_err)?,
                    target_id: r.try_get("target_id").map_err(db_err)?,
                    client_ip: r.try_get("client_ip").map_err(db_err)?,
                    user_agent: r.try_get("user_agent").map_err(db_err)?,
                    detail: r.try_get("detail").map_err(db_err)?,
                })
            })
            .collect::<CoreResult<Vec<_>>>()?;
        Ok((list, total.max(0) as u64))
    }
}

/// The statement that records an audit event (on its own, or inside a transaction).
pub(crate) fn audit_insert<'q>(
    e: &'q AuditEvent,
    client: &'q ClientInfo,
    at: Timestamp,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(
        "INSERT INTO audit_events (at, action, outcome, actor_id, actor, target_type, target_id, \
         client_ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(at.0)
    .bind(e.action)
    .bind(e.outcome.as_str())
    .bind(e.actor.as_ref().map(|a| a.0 .0))
    .bind(e.actor.as_ref().map(|a| a.1.as_str()))
    .bind(e.target.as_ref().map(|t| t.0))
    .bind(e.target.as_ref().map(|t| t.1.as_str()))
    .bind(client.ip.as_deref())
    .bind(client.user_agent.as_deref())
    .bind(e.detail.as_deref())
}
