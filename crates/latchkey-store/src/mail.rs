//! Mail: the tokens mails carry and the outbox. Each "use once" is one conditional UPDATE,
//! so it holds across instances; a claim takes rows no other worker holds.

use async_trait::async_trait;
use sqlx::Row;

use latchkey_core::cache::Invalidation;
use latchkey_core::error::CoreResult;
use latchkey_core::mail::TokenPurpose;
use latchkey_core::model::*;
use latchkey_core::ports::{
    ClaimedMail, MailQuery, MailRecord, MailStore, MailTokenRecord, NewMail, NewMailToken,
    PasswordFromToken, Written,
};
use latchkey_core::validate::fold;

use crate::sql::Sql;
use crate::users::{write_fields, UserFields};
use crate::{db_err, Store, Tx};

async fn insert_mail(tx: &mut Tx, m: &NewMail) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO mail_outbox (kind, recipient, recipient_key, user_id, subject, text_body, \
         html_body, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8, $8)",
    )
    .bind(m.kind)
    .bind(&m.recipient)
    .bind(fold(&m.recipient))
    .bind(m.user.map(|u| u.0))
    .bind(&m.subject)
    .bind(&m.text)
    .bind(&m.html)
    .bind(m.created_at.0)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Uses a live token of `purpose`: its user and address, or `None`.
async fn use_token(
    tx: &mut Tx,
    digest: &str,
    purpose: TokenPurpose,
    now: Timestamp,
) -> CoreResult<Option<MailTokenRecord>> {
    let row = sqlx::query(
        "UPDATE mail_tokens SET used_at = $3 \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
         RETURNING user_id, email, expires_at",
    )
    .bind(digest)
    .bind(purpose.as_str())
    .bind(now.0)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    row.map(|r| token_from_row(&r)).transpose()
}

fn token_from_row(r: &sqlx::any::AnyRow) -> CoreResult<MailTokenRecord> {
    Ok(MailTokenRecord {
        user: UserId(r.try_get("user_id").map_err(db_err)?),
        email: r.try_get("email").map_err(db_err)?,
        expires_at: Timestamp(r.try_get("expires_at").map_err(db_err)?),
    })
}

fn opt_ts(r: &sqlx::any::AnyRow, col: &str) -> CoreResult<Option<Timestamp>> {
    Ok(r.try_get::<Option<i64>, _>(col)
        .map_err(db_err)?
        .map(Timestamp))
}

#[async_trait]
impl MailStore for Store {
    async fn issue_mail_token(&self, t: &NewMailToken, mail: &NewMail) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE mail_tokens SET used_at = $3 \
             WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        )
        .bind(t.user.0)
        .bind(t.purpose.as_str())
        .bind(t.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO mail_tokens (token_hash, purpose, user_id, email, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.digest)
        .bind(t.purpose.as_str())
        .bind(t.user.0)
        .bind(&t.email)
        .bind(t.created_at.0)
        .bind(t.expires_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        insert_mail(&mut tx, mail).await?;
        tx.commit().await.map(|_| ())
    }

    async fn queue_mail(&self, mail: &NewMail) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        insert_mail(&mut tx, mail).await?;
        tx.commit().await.map(|_| ())
    }

    async fn peek_mail_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> CoreResult<Option<MailTokenRecord>> {
        let row = sqlx::query(
            "SELECT user_id, email, expires_at FROM mail_tokens \
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(digest)
        .bind(purpose.as_str())
        .bind(now.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        row.map(|r| token_from_row(&r)).transpose()
    }

    async fn set_password_by_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        hash: &str,
        now: Timestamp,
    ) -> CoreResult<Written<Option<PasswordFromToken>>> {
        let mut tx = self.begin().await?;
        let Some(t) = use_token(&mut tx, digest, purpose, now).await? else {
            tx.rollback().await?;
            return Ok(Written::new(None, Vec::new()));
        };
        let n = sqlx::query(
            "UPDATE users SET password_hash = $2, weak_password_hash = FALSE, updated_at = $3, \
             email_verified_at = CASE WHEN email_key = $4 \
             THEN COALESCE(email_verified_at, $3) ELSE email_verified_at END \
             WHERE id = $1",
        )
        .bind(t.user.0)
        .bind(hash)
        .bind(now.0)
        .bind(fold(&t.email))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Ok(Written::new(None, Vec::new()));
        }
        let reason = match purpose {
            TokenPurpose::Invitation => "invitation accepted",
            _ => "password reset",
        };
        let ended = self
            .end_user_sessions_tx(&mut tx, t.user, None, reason)
            .await?;
        tx.emit(&[Invalidation::User(t.user)]).await?;
        tx.done(Some(PasswordFromToken {
            user: t.user,
            ended,
        }))
        .await
    }

    async fn verify_email_by_token(
        &self,
        digest: &str,
        now: Timestamp,
    ) -> CoreResult<Written<Option<UserId>>> {
        let mut tx = self.begin().await?;
        let Some(t) = use_token(&mut tx, digest, TokenPurpose::VerifyEmail, now).await? else {
            tx.rollback().await?;
            return Ok(Written::new(None, Vec::new()));
        };
        // Only if the address is still the one the mail went to.
        let n = sqlx::query(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2), updated_at = $2 \
             WHERE id = $1 AND email_key = $3",
        )
        .bind(t.user.0)
        .bind(now.0)
        .bind(fold(&t.email))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Ok(Written::new(None, Vec::new()));
        }
        tx.emit(&[Invalidation::User(t.user)]).await?;
        tx.done(Some(t.user)).await
    }

    async fn change_email_by_token(
        &self,
        digest: &str,
        user: &User,
        now: Timestamp,
    ) -> CoreResult<Written<Option<()>>> {
        let mut tx = self.begin().await?;
        let token = use_token(&mut tx, digest, TokenPurpose::EmailChange, now).await?;
        let Some(t) = token.filter(|t| t.user == user.id && fold(&t.email) == fold(&user.email))
        else {
            tx.rollback().await?;
            return Ok(Written::new(None, Vec::new()));
        };
        let fields = UserFields {
            username: &user.username,
            email: &user.email,
            profile: &user.profile,
            organization: user.organization.as_ref().map(|o| o.id),
            is_active: user.is_active,
            created_at: None,
        };
        if write_fields(&mut tx, t.user, &fields, now).await? == 0 {
            tx.rollback().await?;
            return Ok(Written::new(None, Vec::new()));
        }
        sqlx::query("UPDATE users SET email_verified_at = $2 WHERE id = $1")
            .bind(t.user.0)
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // Other live change links of this user are for an address no longer asked for.
        sqlx::query(
            "UPDATE mail_tokens SET used_at = $2 \
             WHERE user_id = $1 AND used_at IS NULL AND purpose IN ('email_change', 'verify_email')",
        )
        .bind(t.user.0)
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.emit(&[Invalidation::User(t.user)]).await?;
        tx.done(Some(())).await
    }

    async fn set_email_verified(&self, user: UserId, verified: bool) -> CoreResult<Written<bool>> {
        let mut tx = self.begin().await?;
        let now = Timestamp::now();
        let n = sqlx::query(
            "UPDATE users SET email_verified_at = CASE WHEN $2 THEN COALESCE(email_verified_at, $3) \
             ELSE NULL END, updated_at = $3 WHERE id = $1",
        )
        .bind(user.0)
        .bind(verified)
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Ok(Written::new(false, Vec::new()));
        }
        tx.emit(&[Invalidation::User(user)]).await?;
        tx.done(true).await
    }

    async fn count_recent_mail(&self, recipient_key: &str, since: Timestamp) -> CoreResult<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM mail_outbox WHERE recipient_key = $1 AND created_at >= $2",
        )
        .bind(recipient_key)
        .bind(since.0)
        .fetch_one(&self.read)
        .await
        .map_err(db_err)
    }

    async fn claim_mail(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> CoreResult<Vec<ClaimedMail>> {
        let sql = format!(
            "UPDATE mail_outbox SET status = 'sending', lease_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM mail_outbox \
             WHERE (status = 'queued' AND next_attempt_at <= $1) \
             OR (status = 'sending' AND lease_until <= $1) \
             ORDER BY id LIMIT $3{}) \
             RETURNING id, kind, recipient, subject, text_body, html_body, attempts",
            self.backend().claim_mail_lock()
        );
        let mut tx = self.begin().await?;
        let rows = sqlx::query(&sql)
            .bind(now.0)
            .bind(lease_until.0)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(ClaimedMail {
                    id: r.try_get("id").map_err(db_err)?,
                    kind: r.try_get("kind").map_err(db_err)?,
                    recipient: r.try_get("recipient").map_err(db_err)?,
                    subject: r.try_get("subject").map_err(db_err)?,
                    text: r
                        .try_get::<Option<String>, _>("text_body")
                        .map_err(db_err)?
                        .unwrap_or_default(),
                    html: r
                        .try_get::<Option<String>, _>("html_body")
                        .map_err(db_err)?
                        .unwrap_or_default(),
                    attempt: r
                        .try_get::<i64, _>("attempts")
                        .map_err(db_err)?
                        .clamp(0, i64::from(u32::MAX)) as u32,
                })
            })
            .collect::<CoreResult<Vec<_>>>()?;
        out.sort_by_key(|m| m.id);
        Ok(out)
    }

    async fn mail_sent(&self, id: i64, now: Timestamp) -> CoreResult<()> {
        sqlx::query(
            "UPDATE mail_outbox SET status = 'sent', sent_at = $2, lease_until = NULL, \
             text_body = NULL, html_body = NULL, last_error = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now.0)
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn mail_retry(&self, id: i64, next_at: Timestamp, error: &str) -> CoreResult<()> {
        sqlx::query(
            "UPDATE mail_outbox SET status = 'queued', next_attempt_at = $2, lease_until = NULL, \
             last_error = $3 WHERE id = $1 AND status = 'sending'",
        )
        .bind(id)
        .bind(next_at.0)
        .bind(error)
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn mail_failed(&self, id: i64, error: &str, _now: Timestamp) -> CoreResult<()> {
        sqlx::query(
            "UPDATE mail_outbox SET status = 'failed', lease_until = NULL, last_error = $2, \
             text_body = NULL, html_body = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn list_mail(
        &self,
        q: &MailQuery,
        offset: u64,
        limit: u64,
    ) -> CoreResult<(Vec<MailRecord>, u64)> {
        let mut filter = Sql::new();
        filter.push(" WHERE 1 = 1");
        if let Some(s) = &q.status {
            filter.push(" AND status = ");
            filter.bind_text(s.clone());
        }
        if let Some(r) = &q.recipient {
            filter.push(" AND recipient_key = ");
            filter.bind_text(r.clone());
        }
        let total = self.count("mail_outbox", &filter).await?;
        let mut sql = Sql::new();
        sql.push(
            "SELECT id, kind, recipient, user_id, subject, status, attempts, created_at, \
             next_attempt_at, sent_at, last_error FROM mail_outbox",
        );
        sql.append(&filter);
        sql.push(" ORDER BY id DESC LIMIT ");
        sql.bind_int(limit.min(i64::MAX as u64) as i64);
        sql.push(" OFFSET ");
        sql.bind_int(offset.min(i64::MAX as u64) as i64);
        let rows = sql.query().fetch_all(&self.read).await.map_err(db_err)?;
        let list = rows
            .iter()
            .map(|r| {
                let status: String = r.try_get("status").map_err(db_err)?;
                let waiting = status == "queued" || status == "sending";
                Ok(MailRecord {
                    id: r.try_get("id").map_err(db_err)?,
                    kind: r.try_get("kind").map_err(db_err)?,
                    recipient: r.try_get("recipient").map_err(db_err)?,
                    user: r
                        .try_get::<Option<i64>, _>("user_id")
                        .map_err(db_err)?
                        .map(UserId),
                    subject: r.try_get("subject").map_err(db_err)?,
                    attempts: r
                        .try_get::<i64, _>("attempts")
                        .map_err(db_err)?
                        .clamp(0, i64::from(u32::MAX)) as u32,
                    created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
                    next_attempt_at: opt_ts(r, "next_attempt_at")?.filter(|_| waiting),
                    sent_at: opt_ts(r, "sent_at")?,
                    last_error: r.try_get("last_error").map_err(db_err)?,
                    status,
                })
            })
            .collect::<CoreResult<Vec<_>>>()?;
        Ok((list, total.max(0) as u64))
    }

    async fn mail_counts(&self) -> CoreResult<(i64, i64)> {
        let row = sqlx::query(
            "SELECT \
             COALESCE(SUM(CASE WHEN status IN ('queued', 'sending') THEN 1 ELSE 0 END), 0) AS waiting, \
             COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS failed \
             FROM mail_outbox WHERE status <> 'sent'",
        )
        .fetch_one(&self.read)
        .await
        .map_err(db_err)?;
        Ok((
            row.try_get("waiting").map_err(db_err)?,
            row.try_get("failed").map_err(db_err)?,
        ))
    }

    async fn prune_mail(&self, before: Timestamp) -> CoreResult<u64> {
        let mut n = sqlx::query(
            "DELETE FROM mail_outbox WHERE status IN ('sent', 'failed') AND created_at < $1",
        )
        .bind(before.0)
        .execute(&self.write)
        .await
        .map_err(db_err)?
        .rows_affected();
        n += sqlx::query("DELETE FROM mail_tokens WHERE expires_at < $1")
            .bind(before.0)
            .execute(&self.write)
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(n)
    }
}
