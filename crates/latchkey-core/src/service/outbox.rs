//! Delivering queued mail. Each instance runs one worker; it claims due mails under a lease
//! (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so two instances never claim one mail), sends
//! each, and records the outcome: sent (bodies dropped), retried later with exponential
//! back-off, or failed after the last attempt or a permanent refusal. A mail whose worker
//! died mid-delivery is claimed again when its lease lapses; queued mail survives any
//! restart, since it was committed before the request that made it was answered.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::mail::MAIL_SEAL_LABEL;
use super::Latchkey;
use crate::audit::AuditEvent;
use crate::error::CoreResult;
use crate::mail::store::ClaimedMail;
use crate::mail::{OutgoingMail, SendError, Transport};
use crate::model::Timestamp;
use crate::seal::{Sealer, SEALED_PREFIX};

/// Mails claimed at once.
const BATCH: u32 = 16;
/// How long one delivery attempt may take before it counts as failed.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a claimed mail is this worker's; past it, another worker may take it.
const LEASE_MS: i64 = 3 * 60 * 1000;

impl Latchkey {
    /// Delivers queued mail until `shutdown` flips (returns at once without a transport).
    pub async fn run_outbox(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let Some(transport) = self.cfg.mail.transport.clone() else {
            return;
        };
        let interval = self.cfg.mail.poll_interval;
        loop {
            // Bounded: a full batch is followed by another, at most 64 in a row, then a pause.
            for _ in 0..64 {
                if *shutdown.borrow() {
                    return;
                }
                match self.deliver_due(&transport).await {
                    Ok(n) if n == BATCH as usize => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "mail outbox: could not claim mail");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = self.mail_wake.notified() => {}
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Claims the due mails and tries each once; returns how many were claimed.
    async fn deliver_due(&self, transport: &Transport) -> CoreResult<usize> {
        let now = Timestamp::now();
        let batch = self
            .store
            .claim_mail(now, Timestamp(now.0 + LEASE_MS), BATCH)
            .await?;
        for m in &batch {
            let outcome = match self.opened_mail(m) {
                Ok(mail) => {
                    match tokio::time::timeout(
                        SEND_TIMEOUT,
                        transport.0.send(&self.cfg.mail.from, &mail),
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(_) => Err(SendError {
                            permanent: false,
                            message: "timed out".into(),
                        }),
                    }
                }
                Err(message) => Err(SendError {
                    permanent: true,
                    message,
                }),
            };
            self.record_delivery(m, outcome).await?;
        }
        Ok(batch.len())
    }

    /// The mail as the transport sends it, its bodies unsealed.
    fn opened_mail(&self, m: &ClaimedMail) -> Result<OutgoingMail, String> {
        let open = |body: &str| -> Result<String, String> {
            if !body.starts_with(SEALED_PREFIX) {
                return Ok(body.to_owned());
            }
            let kek =
                self.cfg.key_encryption_key.as_ref().ok_or(
                    "the body is sealed and no key-encryption key is configured".to_owned(),
                )?;
            let s = Sealer::new(kek).map_err(|e| e.to_string())?;
            let plain = s
                .open(MAIL_SEAL_LABEL, body)
                .map_err(|_| "the body does not open with this key-encryption key".to_owned())?;
            String::from_utf8(plain).map_err(|_| "the body is not UTF-8".to_owned())
        };
        Ok(OutgoingMail {
            id: m.id,
            kind: m.kind.clone(),
            to: m.recipient.clone(),
            subject: m.subject.clone(),
            text: open(&m.text)?,
            html: open(&m.html)?,
        })
    }

    async fn record_delivery(
        &self,
        m: &ClaimedMail,
        outcome: Result<(), SendError>,
    ) -> CoreResult<()> {
        let now = Timestamp::now();
        let policy = self.cfg.mail.policy;
        match outcome {
            Ok(()) => {
                self.store.mail_sent(m.id, now).await?;
                metrics::counter!("latchkey_mail_delivered_total", "kind" => m.kind.clone())
                    .increment(1);
                tracing::info!(mail.id = m.id, mail.kind = %m.kind, attempt = m.attempt, "mail sent");
            }
            Err(e) if e.permanent || m.attempt >= policy.max_attempts => {
                let error: String = e.message.chars().take(500).collect();
                self.store.mail_failed(m.id, &error, now).await?;
                metrics::counter!("latchkey_mail_failed_total", "kind" => m.kind.clone())
                    .increment(1);
                tracing::error!(mail.id = m.id, mail.kind = %m.kind, attempt = m.attempt, error = %error, "mail failed for good");
                self.audit(
                    AuditEvent::new("mail.failed")
                        .failed()
                        .on("mail", m.id)
                        .detail(format!(
                            "{} after {} attempt(s): {error}",
                            m.kind, m.attempt
                        )),
                )
                .await;
            }
            Err(e) => {
                let error: String = e.message.chars().take(500).collect();
                let delay = policy.backoff_secs(m.attempt) as i64 * 1000;
                self.store
                    .mail_retry(m.id, Timestamp(now.0 + delay), &error)
                    .await?;
                metrics::counter!("latchkey_mail_retries_total", "kind" => m.kind.clone())
                    .increment(1);
                tracing::warn!(mail.id = m.id, mail.kind = %m.kind, attempt = m.attempt, retry_in_ms = delay, error = %error, "mail not sent; will retry");
            }
        }
        Ok(())
    }

    /// (queued or being sent, failed), for `/metrics`.
    pub async fn mail_counts(&self) -> CoreResult<(i64, i64)> {
        self.store.mail_counts().await
    }
}
