//! Sessions and refresh tokens: rotation with reuse detection.

use async_trait::async_trait;
use sqlx::Row;

use latchkey_core::cache::Invalidation;
use latchkey_core::error::CoreResult;
use latchkey_core::model::*;
use latchkey_core::ports::*;

use crate::audit::audit_insert;
use crate::rows::*;
use crate::{db_err, Store, Tx};
use latchkey_core::audit::AuditEvent;

#[async_trait]
impl SessionStore for Store {
    /// Stores a new session, its first refresh token and, when given, the audit event that
    /// records it: one transaction.
    async fn create_session(
        &self,
        s: &Session,
        refresh_digest: &str,
        audit: Option<(&AuditEvent, &ClientInfo)>,
    ) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        self.insert_session_tx(&mut tx, s, refresh_digest).await?;
        if let Some((e, client)) = audit {
            audit_insert(e, client, s.created_at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map(|_| ())
    }

    async fn get_session(&self, id: &SessionId) -> CoreResult<Option<Session>> {
        let row = sqlx::query(&format!("{SESSION_SELECT} WHERE id = $1"))
            .bind(&id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// A user's sessions that have not ended or expired, newest first.
    async fn list_sessions(&self, user: UserId, now: Timestamp) -> CoreResult<Vec<Session>> {
        let rows = sqlx::query(&format!(
            "{SESSION_SELECT} WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC, id"
        ))
        .bind(user.0)
        .bind(now.0)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn count_active_sessions(&self, now: Timestamp) -> CoreResult<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now.0)
        .fetch_one(&self.read)
        .await
        .map_err(db_err)
    }

    /// Ends one session. Returns false if it was unknown or already ended.
    async fn end_session(&self, id: &SessionId, reason: &str) -> CoreResult<Written<bool>> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(&id.0)
        .bind(Timestamp::now().0)
        .bind(reason)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n > 0 {
            tx.emit(&[Invalidation::Session(id.clone())]).await?;
        }
        tx.done(n > 0).await
    }

    /// Ends all of a user's sessions except `keep`. Returns the ended ids.
    async fn end_user_sessions(
        &self,
        user: UserId,
        keep: Option<&SessionId>,
        reason: &str,
    ) -> CoreResult<Written<Vec<SessionId>>> {
        let mut tx = self.begin().await?;
        let ended = self
            .end_user_sessions_tx(&mut tx, user, keep, reason)
            .await?;
        tx.done(ended).await
    }

    /// Exchanges a refresh token for a new one in one short transaction.
    ///
    /// The old token is marked used with a conditional UPDATE, so of two concurrent uses
    /// exactly one wins; the loser (and any later use) is a reuse, which ends the session.
    async fn rotate_refresh(
        &self,
        old_digest: &str,
        new_digest: &str,
        now: Timestamp,
        idle_timeout_secs: u64,
        client: &str,
    ) -> CoreResult<Written<RotateOutcome>> {
        // The common case in three statements: claim the token, touch its session if that is
        // still live, store the successor. Anything else (unknown or used token, ended or
        // expired session) changes nothing here and is sorted out below, in a transaction.
        let idle_ms = (idle_timeout_secs as i64).saturating_mul(1000);
        let idle_cutoff = now.0.saturating_sub(idle_ms);
        let live = self
            .backend
            .rotate_live(self, old_digest, new_digest, now, idle_cutoff, client)
            .await?;
        if let Some(rotated) = live {
            return Ok(Written::new(rotated, Vec::new()));
        }
        self.rotate_refresh_checked(old_digest, new_digest, now, idle_timeout_secs, client)
            .await
    }

    async fn session_by_refresh(&self, digest: &str) -> CoreResult<Option<Session>> {
        let row = sqlx::query(&format!(
            "{SESSION_SELECT} WHERE revoked_at IS NULL AND id = \
             (SELECT session_id FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NULL)"
        ))
        .bind(digest)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// Sessions ended since `since`: loaded at start so tokens of sessions that ended before
    /// this instance started are refused too.
    async fn sessions_ended_since(&self, since: Timestamp) -> CoreResult<Vec<SessionId>> {
        let rows = sqlx::query("SELECT id FROM sessions WHERE revoked_at >= $1")
            .bind(since.0)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("id").map(SessionId).map_err(db_err))
            .collect()
    }

    /// Deletes sessions that ended or expired before `before` (their refresh tokens go too).
    async fn prune_sessions(&self, before: Timestamp) -> CoreResult<u64> {
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
            .bind(before.0)
            .execute(&self.write)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err)
    }
}

impl Store {
    /// A session row and its first refresh token, in `tx`.
    pub(crate) async fn insert_session_tx(
        &self,
        tx: &mut Tx,
        s: &Session,
        refresh_digest: &str,
    ) -> CoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, \
             client_ip, client_id, scope, amr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&s.id.0)
        .bind(s.user_id.0)
        .bind(s.created_at.0)
        .bind(s.last_used_at.0)
        .bind(s.expires_at.0)
        .bind(&s.user_agent)
        .bind(&s.client_ip)
        .bind(&s.client_id)
        .bind(&s.scope)
        .bind(&s.amr)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(refresh_digest)
        .bind(&s.id.0)
        .bind(s.created_at.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn end_user_sessions_tx(
        &self,
        tx: &mut Tx,
        user: UserId,
        keep: Option<&SessionId>,
        reason: &str,
    ) -> CoreResult<Vec<SessionId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $3, revoke_reason = $4 \
             WHERE user_id = $1 AND revoked_at IS NULL AND id <> $2 RETURNING id",
        )
        .bind(user.0)
        .bind(keep.map(|k| k.0.as_str()).unwrap_or(""))
        .bind(Timestamp::now().0)
        .bind(reason)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?;
        let ids: Vec<SessionId> = ids.into_iter().map(SessionId).collect();
        let events: Vec<Invalidation> = ids.iter().cloned().map(Invalidation::Session).collect();
        tx.emit(&events).await?;
        Ok(ids)
    }

    /// Every case of presenting a refresh token, one step at a time, in one transaction.
    async fn rotate_refresh_checked(
        &self,
        old_digest: &str,
        new_digest: &str,
        now: Timestamp,
        idle_timeout_secs: u64,
        client: &str,
    ) -> CoreResult<Written<RotateOutcome>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT s.id, s.user_id, s.last_used_at, s.expires_at, s.revoked_at, s.scope, \
             t.used_at FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
             WHERE t.token_hash = $1 AND COALESCE(s.client_id, '') = $2",
        )
        .bind(old_digest)
        .bind(client)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(Written::new(RotateOutcome::Unknown, Vec::new()));
        };
        let sid = SessionId(row.try_get("id").map_err(db_err)?);
        let user = UserId(row.try_get("user_id").map_err(db_err)?);
        let last_used: i64 = row.try_get("last_used_at").map_err(db_err)?;
        let expires: i64 = row.try_get("expires_at").map_err(db_err)?;
        let revoked: Option<i64> = row.try_get("revoked_at").map_err(db_err)?;
        let used: Option<i64> = row.try_get("used_at").map_err(db_err)?;
        let scope: Option<String> = row.try_get("scope").map_err(db_err)?;
        if revoked.is_some() {
            return Ok(Written::new(RotateOutcome::Ended, Vec::new()));
        }
        let claimed = used.is_none()
            && sqlx::query(
                "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL",
            )
            .bind(old_digest)
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected()
                == 1;
        if !claimed {
            self.end_session_tx(&mut tx, &sid, "refresh token reuse")
                .await?;
            return tx.done(RotateOutcome::Reused { session: sid, user }).await;
        }
        let idle_deadline =
            last_used.saturating_add((idle_timeout_secs as i64).saturating_mul(1000));
        if expires <= now.0 || idle_deadline <= now.0 {
            self.end_session_tx(&mut tx, &sid, "session expired")
                .await?;
            return tx.done(RotateOutcome::Expired { session: sid }).await;
        }
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(new_digest)
        .bind(&sid.0)
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("UPDATE sessions SET last_used_at = $2 WHERE id = $1")
            .bind(&sid.0)
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.done(RotateOutcome::Rotated {
            session: sid,
            user,
            expires_at: Timestamp(expires),
            scope,
        })
        .await
    }

    async fn end_session_tx(&self, tx: &mut Tx, sid: &SessionId, reason: &str) -> CoreResult<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL")
            .bind(&sid.0)
            .bind(Timestamp::now().0)
            .bind(reason)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        tx.emit(&[Invalidation::Session(sid.clone())]).await
    }
}
