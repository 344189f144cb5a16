//! Second factors: TOTP secrets, recovery codes, and logins awaiting their second step. Every
//! "use once" rule is one conditional UPDATE, so it holds across instances on one database.

use async_trait::async_trait;
use sqlx::Row;

use latchkey_core::audit::AuditEvent;
use latchkey_core::cache::Invalidation;
use latchkey_core::error::CoreResult;
use latchkey_core::model::*;
use latchkey_core::ports::{
    ChallengeRecord, Factor, MfaRecord, MfaStore, PasskeyRecord, TotpRecord, Written,
};

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

fn passkey_from_row(r: &sqlx::any::AnyRow) -> CoreResult<PasskeyRecord> {
    Ok(PasskeyRecord {
        id: r.try_get("id").map_err(db_err)?,
        name: r.try_get("name").map_err(db_err)?,
        credential_id: r.try_get("credential_id").map_err(db_err)?,
        passkey: r.try_get("passkey").map_err(db_err)?,
        created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
        last_used_at: r
            .try_get::<Option<i64>, _>("last_used_at")
            .map_err(db_err)?
            .map(Timestamp),
    })
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

impl Store {
    /// What adding a second factor does besides storing it, in its transaction: the recovery
    /// codes (with the first factor), the user's other sessions ended, the user's cached
    /// state invalidated, the audit event.
    async fn factor_added_tx(
        &self,
        tx: &mut Tx,
        user: UserId,
        recovery: Option<&[String]>,
        keep: Option<&SessionId>,
        audit: (&AuditEvent, &ClientInfo),
        now: Timestamp,
    ) -> CoreResult<Vec<SessionId>> {
        if let Some(digests) = recovery {
            write_recovery_codes(tx, user, digests, now).await?;
        }
        let ended = self
            .end_user_sessions_tx(tx, user, keep, "second factor added")
            .await?;
        tx.emit(&[Invalidation::User(user)]).await?;
        record_audit(tx, audit, now).await?;
        Ok(ended)
    }
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
        let rows = sqlx::query(
            "SELECT id, name, credential_id, passkey, created_at, last_used_at FROM mfa_passkeys \
             WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user.0)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        let passkeys = rows
            .iter()
            .map(passkey_from_row)
            .collect::<CoreResult<Vec<_>>>()?;
        Ok(MfaRecord {
            totp,
            passkeys,
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
        let ended = self
            .factor_added_tx(&mut tx, user, recovery, keep, audit, now)
            .await?;
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
        factor: Factor<'_>,
        keep: Option<&SessionId>,
        reason: &str,
        audit: (&AuditEvent, &ClientInfo),
    ) -> CoreResult<Written<bool>> {
        let now = Timestamp::now();
        let mut tx = self.begin().await?;
        let mut n = 0;
        if matches!(factor, Factor::Totp | Factor::All) {
            n += sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        }
        match factor {
            Factor::Passkey(id) => {
                n += sqlx::query("DELETE FROM mfa_passkeys WHERE user_id = $1 AND id = $2")
                    .bind(user.0)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
            }
            Factor::All => {
                n += sqlx::query("DELETE FROM mfa_passkeys WHERE user_id = $1")
                    .bind(user.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
                sqlx::query("DELETE FROM mfa_passkey_registrations WHERE user_id = $1")
                    .bind(user.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            Factor::Totp => {}
        }
        if n == 0 {
            return tx.done(false).await;
        }
        let left: bool = crate::rows::get_bool(
            &sqlx::query(
                "SELECT (EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL) \
                 OR EXISTS (SELECT 1 FROM mfa_passkeys WHERE user_id = $1)) AS left_over",
            )
            .bind(user.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?,
            "left_over",
        )?;
        if !left {
            // Nothing left to recover, and a login waiting for a factor can never finish.
            for stmt in [
                "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
                "DELETE FROM mfa_challenges WHERE user_id = $1",
            ] {
                sqlx::query(stmt)
                    .bind(user.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        self.end_user_sessions_tx(&mut tx, user, keep, reason)
            .await?;
        tx.emit(&[Invalidation::User(user)]).await?;
        record_audit(&mut tx, audit, now).await?;
        tx.done(true).await
    }

    async fn put_passkey_registration(
        &self,
        user: UserId,
        name: &str,
        state: &str,
        expires_at: Timestamp,
    ) -> CoreResult<()> {
        sqlx::query(
            "INSERT INTO mfa_passkey_registrations (user_id, name, state, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, \
             state = excluded.state, expires_at = excluded.expires_at",
        )
        .bind(user.0)
        .bind(name)
        .bind(state)
        .bind(expires_at.0)
        .execute(&self.write)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn take_passkey_registration(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> CoreResult<Option<(String, String)>> {
        let row = sqlx::query(
            "DELETE FROM mfa_passkey_registrations WHERE user_id = $1 RETURNING name, state, expires_at",
        )
        .bind(user.0)
        .fetch_optional(&self.write)
        .await
        .map_err(db_err)?;
        let Some(r) = row else { return Ok(None) };
        let expires: i64 = r.try_get("expires_at").map_err(db_err)?;
        if expires <= now.0 {
            return Ok(None);
        }
        Ok(Some((
            r.try_get("name").map_err(db_err)?,
            r.try_get("state").map_err(db_err)?,
        )))
    }

    async fn add_passkey(
        &self,
        user: UserId,
        pk: &PasskeyRecord,
        recovery: Option<&[String]>,
        keep: Option<&SessionId>,
        audit: (&AuditEvent, &ClientInfo),
    ) -> CoreResult<Written<Option<Vec<SessionId>>>> {
        let now = Timestamp::now();
        let mut tx = self.begin().await?;
        // Taken by anyone: nothing is written (WebAuthn §7.1 step 22).
        let n = sqlx::query(
            "INSERT INTO mfa_passkeys (id, user_id, name, credential_id, passkey, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (credential_id) DO NOTHING",
        )
        .bind(&pk.id)
        .bind(user.0)
        .bind(&pk.name)
        .bind(&pk.credential_id)
        .bind(&pk.passkey)
        .bind(pk.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return tx.done(None).await;
        }
        let ended = self
            .factor_added_tx(&mut tx, user, recovery, keep, audit, now)
            .await?;
        tx.done(Some(ended)).await
    }

    async fn rename_passkey(&self, user: UserId, id: &str, name: &str) -> CoreResult<bool> {
        let n = sqlx::query("UPDATE mfa_passkeys SET name = $3 WHERE user_id = $1 AND id = $2")
            .bind(user.0)
            .bind(id)
            .bind(name)
            .execute(&self.write)
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn passkey_used(
        &self,
        user: UserId,
        id: &str,
        passkey: Option<&str>,
        now: Timestamp,
    ) -> CoreResult<()> {
        sqlx::query(
            "UPDATE mfa_passkeys SET last_used_at = $3, passkey = COALESCE($4, passkey) \
             WHERE user_id = $1 AND id = $2",
        )
        .bind(user.0)
        .bind(id)
        .bind(now.0)
        .bind(passkey)
        .execute(&self.write)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn insert_passkey_login(
        &self,
        digest: &str,
        state: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> CoreResult<()> {
        sqlx::query(
            "INSERT INTO passkey_logins (token_hash, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(digest)
        .bind(state)
        .bind(now.0)
        .bind(expires_at.0)
        .execute(&self.write)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn take_passkey_login(&self, digest: &str, now: Timestamp) -> CoreResult<Option<String>> {
        sqlx::query_scalar(
            "UPDATE passkey_logins SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING state",
        )
        .bind(digest)
        .bind(now.0)
        .fetch_optional(&self.write)
        .await
        .map_err(db_err)
    }

    async fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> CoreResult<Option<(UserId, PasskeyRecord)>> {
        let row = sqlx::query(
            "SELECT user_id, id, name, credential_id, passkey, created_at, last_used_at \
             FROM mfa_passkeys WHERE credential_id = $1",
        )
        .bind(credential_id)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        row.map(|r| -> CoreResult<(UserId, PasskeyRecord)> {
            Ok((
                UserId(r.try_get("user_id").map_err(db_err)?),
                passkey_from_row(&r)?,
            ))
        })
        .transpose()
    }

    async fn set_challenge_webauthn(
        &self,
        digest: &str,
        state: &str,
        now: Timestamp,
    ) -> CoreResult<bool> {
        let n = sqlx::query(
            "UPDATE mfa_challenges SET webauthn_state = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(digest)
        .bind(state)
        .bind(now.0)
        .execute(&self.write)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n > 0)
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
            "SELECT user_id, expires_at, failures, used_at, webauthn_state FROM mfa_challenges \
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
                webauthn_state: r.try_get("webauthn_state").map_err(db_err)?,
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
        let mut n = 0;
        for stmt in [
            "DELETE FROM mfa_challenges WHERE expires_at < $1",
            "DELETE FROM passkey_logins WHERE expires_at < $1",
            "DELETE FROM mfa_passkey_registrations WHERE expires_at < $1",
        ] {
            n += sqlx::query(stmt)
                .bind(before.0)
                .execute(&self.write)
                .await
                .map(|r| r.rows_affected())
                .map_err(db_err)?;
        }
        Ok(n)
    }
}
