//! Second factors: TOTP secrets, recovery codes, and logins awaiting their second step. Every
//! "use once" rule is one conditional UPDATE, so it holds across instances on one database.

use async_trait::async_trait;
use sqlx::Row;

use latchkey_core::audit::AuditEvent;
use latchkey_core::cache::Invalidation;
use latchkey_core::error::CoreResult;
use latchkey_core::model::*;
use latchkey_core::ports::{ChallengeRecord, MfaRecord, MfaStore, TotpRecord, Written};

use crate::audit::audit_insert;
use crate::{db_err, Store, Tx};

/// Writes `digests` as the user's recovery codes, the old ones gone.
async fn write_recovery_codes(
    tx: &mut Tx,
    user: UserId,
    digests: &[String],
    now: Timestamp,
) -> CoreResult<()> {
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(user.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    for d in digests {
        sqlx::query(
            "INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user.0)
        .bind(d)
        .bind(now.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

async fn record_audit(
    tx: &mut Tx,
    (e, client): (&AuditEvent, &ClientInfo),
    now: Timestamp,
) -> CoreResult<()> {
    audit_insert(e, client, now)
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(db_err)
}

#[async_trait]
impl MfaStore for Store {
    async fn mfa_record(&self, user: UserId) -> CoreResult<MfaRecord> {
        let row = sqlx::query(
            "SELECT secret, created_at, confirmed_at, last_step FROM mfa_totp WHERE user_id = $1",
        )
        .bind(user.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        let totp = row
            .map(|r| -> CoreResult<TotpRecord> {
                Ok(TotpRecord {
                    secret: r.try_get("secret").map_err(db_err)?,
                    created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
                    confirmed_at: r
                        .try_get::<Option<i64>, _>("confirmed_at")
                        .map_err(db_err)?
                        .map(Timestamp),
                    last_step: r
                        .try_get::<Option<i64>, _>("last_step")
                        .map_err(db_err)?
                        .map(|s| s.max(0) as u64),
                })
            })
            .transpose()?;
        let recovery_codes = sqlx::query_scalar(
            "SELECT code_hash FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL \
             ORDER BY code_hash",
        )
        .bind(user.0)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        Ok(MfaRecord {
            totp,
            recovery_codes,
        })
    }

    async fn put_pending_totp(
        &self,
        user: UserId,
        secret: &str,
        now: Timestamp,
    ) -> CoreResult<bool> {
        let n = sqlx::query(
            "INSERT INTO mfa_totp (user_id, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
             created_at = excluded.created_at, last_step = NULL \
             WHERE mfa_totp.confirmed_at IS NULL",
        )
        .bind(user.0)
        .bind(secret)
        .bind(now.0)
        .execute(&self.write)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: u64,
        recovery: Option<&[String]>,
        keep: Option<&SessionId>,
        audit: (&AuditEvent, &ClientInfo),
    ) -> CoreResult<Written<Option<Vec<SessionId>>>> {
        let now = Timestamp::now();
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE mfa_totp SET confirmed_at = $2, last_step = $3 \
             WHERE user_id = $1 AND confirmed_at IS NULL",
        )
        .bind(user.0)
        .bind(now.0)
        .bind(step as i64)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return tx.done(None).await;
        }
        if let Some(digests) = recovery {
            write_recovery_codes(&mut tx, user, digests, now).await?;
        }
        let ended = self
            .end_user_sessions_tx(&mut tx, user, keep, "second factor added")
            .await?;
        tx.emit(&[Invalidation::User(user)]).await?;
        record_audit(&mut tx, audit, now).await?;
        tx.done(Some(ended)).await
    }

    async fn use_totp_step(&self, user: UserId, step: u64) -> CoreResult<bool> {
        let n = sqlx::query(
            "UPDATE mfa_totp SET last_step = $2 WHERE user_id = $1 \
             AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(user.0)
        .bind(step as i64)
        .execute(&self.write)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        digest: &str,
        now: Timestamp,
    ) -> CoreResult<bool> {
        let n = sqlx::query(
            "UPDATE mfa_recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user.0)
        .bind(digest)
        .bind(now.0)
        .execute(&self.write)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        digests: &[String],
        audit: (&AuditEvent, &ClientInfo),
    ) -> CoreResult<()> {
        let now = Timestamp::now();
        let mut tx = self.begin().await?;
        write_recovery_codes(&mut tx, user, digests, now).await?;
        record_audit(&mut tx, audit, now).await?;
        tx.commit().await.map(|_| ())
    }

    async fn remove_mfa(
        &self,
        user: UserId,
        keep: Option<&SessionId>,
        reason: &str,
        audit: (&AuditEvent, &ClientInfo),
    ) -> CoreResult<Written<bool>> {
        let now = Timestamp::now();
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // A login waiting for a factor that is gone can never finish.
        sqlx::query("DELETE FROM mfa_challenges WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if n == 0 {
            return tx.done(false).await;
        }
        self.end_user_sessions_tx(&mut tx, user, keep, reason)
            .await?;
        tx.emit(&[Invalidation::User(user)]).await?;
        record_audit(&mut tx, audit, now).await?;
        tx.done(true).await
    }

    async fn insert_challenge(
        &self,
        digest: &str,
        user: UserId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> CoreResult<()> {
        sqlx::query(
            "INSERT INTO mfa_challenges (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(digest)
        .bind(user.0)
        .bind(now.0)
        .bind(expires_at.0)
        .execute(&self.write)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn get_challenge(&self, digest: &str) -> CoreResult<Option<ChallengeRecord>> {
        // From the writer: a challenge is read right after it was written or failed.
        let row = sqlx::query(
            "SELECT user_id, expires_at, failures, used_at FROM mfa_challenges \
             WHERE token_hash = $1",
        )
        .bind(digest)
        .fetch_optional(&self.write)
        .await
        .map_err(db_err)?;
        row.map(|r| -> CoreResult<ChallengeRecord> {
            Ok(ChallengeRecord {
                user_id: UserId(r.try_get("user_id").map_err(db_err)?),
                expires_at: Timestamp(r.try_get("expires_at").map_err(db_err)?),
                failures: r
                    .try_get::<i64, _>("failures")
                    .or_else(|_| r.try_get::<i32, _>("failures").map(i64::from))
                    .map_err(db_err)?
                    .clamp(0, i64::from(u32::MAX)) as u32,
                used_at: r
                    .try_get::<Option<i64>, _>("used_at")
                    .map_err(db_err)?
                    .map(Timestamp),
            })
        })
        .transpose()
    }

    async fn fail_challenge(&self, digest: &str, max: u32, now: Timestamp) -> CoreResult<u32> {
        let n: Option<i64> = sqlx::query_scalar(
            "UPDATE mfa_challenges SET failures = failures + 1, \
             used_at = CASE WHEN failures + 1 >= $2 THEN $3 ELSE used_at END \
             WHERE token_hash = $1 AND used_at IS NULL RETURNING CAST(failures AS BIGINT)",
        )
        .bind(digest)
        .bind(i64::from(max))
        .bind(now.0)
        .fetch_optional(&self.write)
        .await
        .map_err(db_err)?;
        Ok(n.map_or(max, |n| n.clamp(0, i64::from(u32::MAX)) as u32))
    }

    async fn use_challenge(&self, digest: &str, now: Timestamp) -> CoreResult<bool> {
        let n = sqlx::query(
            "UPDATE mfa_challenges SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(digest)
        .bind(now.0)
        .execute(&self.write)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn prune_challenges(&self, before: Timestamp) -> CoreResult<u64> {
        sqlx::query("DELETE FROM mfa_challenges WHERE expires_at < $1")
            .bind(before.0)
            .execute(&self.write)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err)
    }
}
