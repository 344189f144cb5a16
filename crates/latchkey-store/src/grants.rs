//! Authorization codes (used once, in the transaction that opens their session) and the
//! consent users have given to clients.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use latchkey_core::cache::Invalidation;
use latchkey_core::error::CoreResult;
use latchkey_core::model::*;
use latchkey_core::ports::{CodeRecord, Grant, GrantStore, Redeemed, Written};

use crate::audit::audit_insert;
use crate::{db_err, Store};
use latchkey_core::audit::AuditEvent;

const CODE_SELECT: &str = "SELECT code_hash, client_id, user_id, redirect_uri, scope, nonce, \
    code_challenge, auth_time, created_at, expires_at, used_at, amr FROM oauth_codes";

fn code_from_row(r: &AnyRow) -> CoreResult<CodeRecord> {
    Ok(CodeRecord {
        digest: r.try_get("code_hash").map_err(db_err)?,
        client_id: r.try_get("client_id").map_err(db_err)?,
        user_id: UserId(r.try_get("user_id").map_err(db_err)?),
        redirect_uri: r.try_get("redirect_uri").map_err(db_err)?,
        scope: r.try_get("scope").map_err(db_err)?,
        nonce: r.try_get("nonce").map_err(db_err)?,
        code_challenge: r.try_get("code_challenge").map_err(db_err)?,
        auth_time: Timestamp(r.try_get("auth_time").map_err(db_err)?),
        amr: r.try_get("amr").map_err(db_err)?,
        created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
        expires_at: Timestamp(r.try_get("expires_at").map_err(db_err)?),
        used_at: r
            .try_get::<Option<i64>, _>("used_at")
            .map_err(db_err)?
            .map(Timestamp),
    })
}

#[async_trait]
impl GrantStore for Store {
    async fn insert_code(&self, c: &CodeRecord) -> CoreResult<()> {
        sqlx::query(
            "INSERT INTO oauth_codes (code_hash, client_id, user_id, redirect_uri, scope, nonce, \
             code_challenge, auth_time, created_at, expires_at, amr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&c.digest)
        .bind(&c.client_id)
        .bind(c.user_id.0)
        .bind(&c.redirect_uri)
        .bind(&c.scope)
        .bind(&c.nonce)
        .bind(&c.code_challenge)
        .bind(c.auth_time.0)
        .bind(c.created_at.0)
        .bind(c.expires_at.0)
        .bind(&c.amr)
        .execute(&self.write)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn peek_code(&self, digest: &str) -> CoreResult<Option<CodeRecord>> {
        let row = sqlx::query(&format!("{CODE_SELECT} WHERE code_hash = $1"))
            .bind(digest)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.as_ref().map(code_from_row).transpose()
    }

    async fn redeem_code(
        &self,
        digest: &str,
        session: &Session,
        refresh_digest: &str,
        now: Timestamp,
        audit: Option<(&AuditEvent, &ClientInfo)>,
    ) -> CoreResult<Written<Redeemed>> {
        let mut tx = self.begin().await?;
        let won = sqlx::query(
            "UPDATE oauth_codes SET used_at = $2, session_id = $3 \
             WHERE code_hash = $1 AND used_at IS NULL",
        )
        .bind(digest)
        .bind(now.0)
        .bind(&session.id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            == 1;
        if !won {
            let issued: Option<Option<String>> =
                sqlx::query_scalar("SELECT session_id FROM oauth_codes WHERE code_hash = $1")
                    .bind(digest)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            let issued = issued.flatten().map(SessionId);
            if let Some(sid) = &issued {
                let n = sqlx::query(
                    "UPDATE sessions SET revoked_at = $2, revoke_reason = 'authorization code replayed' \
                     WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(&sid.0)
                .bind(now.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
                if n > 0 {
                    tx.emit(&[Invalidation::Session(sid.clone())]).await?;
                }
            }
            return tx.done(Redeemed::Replayed(issued)).await;
        }
        self.insert_session_tx(&mut tx, session, refresh_digest)
            .await?;
        if let Some((e, client)) = audit {
            audit_insert(e, client, now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.done(Redeemed::Opened).await
    }

    async fn prune_codes(&self, before: Timestamp) -> CoreResult<u64> {
        sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
            .bind(before.0)
            .execute(&self.write)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err)
    }

    async fn get_grant(&self, user: UserId, client: &str) -> CoreResult<Option<String>> {
        sqlx::query_scalar("SELECT scope FROM oauth_grants WHERE user_id = $1 AND client_id = $2")
            .bind(user.0)
            .bind(client)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)
    }

    async fn put_grant(&self, user: UserId, client: &str, scope: &str) -> CoreResult<()> {
        let now = Timestamp::now();
        sqlx::query(
            "INSERT INTO oauth_grants (user_id, client_id, scope, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (user_id, client_id) \
             DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
        )
        .bind(user.0)
        .bind(client)
        .bind(scope)
        .bind(now.0)
        .execute(&self.write)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn list_grants(&self, user: UserId) -> CoreResult<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT g.client_id, c.name, g.scope, g.created_at, g.updated_at \
             FROM oauth_grants g JOIN oauth_clients c ON c.id = g.client_id \
             WHERE g.user_id = $1 ORDER BY g.created_at, g.client_id",
        )
        .bind(user.0)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(Grant {
                    client_id: r.try_get("client_id").map_err(db_err)?,
                    client_name: r.try_get("name").map_err(db_err)?,
                    scope: r.try_get("scope").map_err(db_err)?,
                    created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
                    updated_at: Timestamp(r.try_get("updated_at").map_err(db_err)?),
                })
            })
            .collect()
    }

    async fn delete_grant(&self, user: UserId, client: &str) -> CoreResult<Written<bool>> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM oauth_grants WHERE user_id = $1 AND client_id = $2")
            .bind(user.0)
            .bind(client)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        let ended: Vec<String> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $3, revoke_reason = 'grant revoked' \
             WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL RETURNING id",
        )
        .bind(user.0)
        .bind(client)
        .bind(Timestamp::now().0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let events: Vec<Invalidation> = ended
            .into_iter()
            .map(|s| Invalidation::Session(SessionId(s)))
            .collect();
        tx.emit(&events).await?;
        tx.done(n > 0 || !events.is_empty()).await
    }
}
