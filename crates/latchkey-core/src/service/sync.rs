//! Keeping this instance's caches in step with the database: pushed invalidations where the
//! store has them (PostgreSQL NOTIFY), a poll of the invalidation table as the bound, and
//! periodic pruning of what no longer matters.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Latchkey;
use crate::cache::Invalidation;
use crate::model::Timestamp;

impl Latchkey {
    pub(crate) async fn apply_remote(&self, e: Invalidation) {
        if self.cache.apply(&e) {
            match self.store.list_keys().await {
                Ok(keys) => {
                    if let Err(e) = self.tokens.load_keys(&keys) {
                        tracing::error!(error = %e, "reloading signing keys failed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reloading signing keys failed"),
            }
        }
    }

    /// Keeps this instance's caches in step with the database until `shutdown` flips:
    /// NOTIFY on PostgreSQL for immediacy, a poll of the invalidation table as the bound.
    pub async fn run_sync(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut notifications = self.store.subscribe().await;
        let mut tick = tokio::time::interval(self.cfg.sync_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut since = Timestamp(Timestamp::now().0 - 5_000);
        let mut last_prune = std::time::Instant::now();
        loop {
            tokio::select! {
                ev = notifications.recv() => {
                    if let Some(ev) = ev {
                        self.apply_remote(ev).await;
                    }
                }
                _ = tick.tick() => {
                    let started = Timestamp::now();
                    match self.store.invalidations_since(since).await {
                        Ok(events) => {
                            for ev in events {
                                self.apply_remote(ev).await;
                            }
                            // Re-read a 2 s window next time: a transaction that took its
                            // timestamp earlier may commit later.
                            since = Timestamp(started.0 - 2_000);
                        }
                        Err(e) => tracing::debug!(error = %e, "invalidation poll failed"),
                    }
                    if last_prune.elapsed() > Duration::from_secs(300) {
                        last_prune = std::time::Instant::now();
                        self.prune().await;
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
    }

    pub(crate) async fn prune(&self) {
        let now = Timestamp::now();
        self.cache.prune(self.cfg.access_ttl_secs);
        let _ = self
            .store
            .prune_invalidations(Timestamp(now.0 - 3_600_000))
            .await;
        let _ = self
            .store
            .prune_sessions(Timestamp(now.0 - 86_400_000))
            .await;
        // Spent codes are kept an hour past expiry, so a late replay still ends what they issued.
        let _ = self.store.prune_codes(Timestamp(now.0 - 3_600_000)).await;
        let _ = self
            .store
            .prune_challenges(Timestamp(now.0 - 3_600_000))
            .await;
        let _ = self
            .store
            .prune_throttle(Timestamp(now.0 - 86_400_000))
            .await;
        // Delivered and failed mail stays listed for 30 days (`GET /v1/mail`).
        let _ = self
            .store
            .prune_mail(Timestamp(now.0 - 30 * 86_400_000))
            .await;
        let keep = (self.cfg.access_ttl_secs as i64 + 3600) * 1000;
        let _ = self.store.prune_keys(Timestamp(now.0 - keep)).await;
    }
}
