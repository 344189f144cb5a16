//! Push delivery of invalidations on PostgreSQL (LISTEN/NOTIFY). Polling the
//! `invalidations` table is the fallback that bounds staleness when a notification is lost
//! (a reconnect, or SQLite, which has no NOTIFY).

use sqlx::postgres::PgListener;

use super::{Backend, Store, NOTIFY_CHANNEL};
use crate::core::cache::Invalidation;

pub struct Notifications {
    listener: Option<PgListener>,
}

impl Notifications {
    /// Subscribes on PostgreSQL; elsewhere (or on failure) yields nothing, and the caller's
    /// poll carries the load.
    pub async fn connect(store: &Store) -> Self {
        if store.backend() != Backend::Postgres {
            return Notifications { listener: None };
        }
        let listener = match PgListener::connect(store.url()).await {
            Ok(mut l) => match l.listen(NOTIFY_CHANNEL).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN failed; relying on polling");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot open a LISTEN connection; relying on polling");
                None
            }
        };
        Notifications { listener }
    }

    /// The next event. Never resolves when there is no listener.
    pub async fn recv(&mut self) -> Option<Invalidation> {
        let Some(listener) = self.listener.as_mut() else {
            return std::future::pending().await;
        };
        match listener.recv().await {
            Ok(n) => {
                let (kind, item) = n.payload().split_once(':')?;
                Invalidation::decode(kind, item)
            }
            Err(e) => {
                // PgListener reconnects on the next call; missed events come from the poll.
                tracing::warn!(error = %e, "LISTEN connection lost");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                None
            }
        }
    }
}
