//! What differs between the two databases, and only that: each `match` here picks the one
//! backend's statement; `sqlite` and `postgres` hold them. Every other statement in this
//! crate is written once for both.

pub mod postgres;
pub mod sqlite;

use crate::exec::TxConn;
use sqlx::migrate::Migrator;

use latchkey_core::error::CoreResult;
use latchkey_core::model::Timestamp;
use latchkey_core::ports::{InvalidationFeed, RotateOutcome};

use crate::sql::Sql;
use crate::Store;
pub(crate) use postgres::GramLookup;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How a free-text search is answered.
pub(crate) enum TextSearch {
    /// An FTS5 table whose phrase query is exactly the substring test (SQLite), answered
    /// from the index alone and in id order.
    Fts { table: &'static str, phrase: String },
    /// The portable `LIKE` over `search_text`; `indexed_by`, a condition an index answers
    /// with the same matches, for finding them (PostgreSQL's short terms), while the page's
    /// walk checks the cheaper LIKE.
    Like { indexed_by: Option<Sql> },
    /// PostgreSQL's terms of 4+ characters: the term's 4-grams, looked up in the bucketed
    /// grams index a window of id buckets at a time, and the LIKE to confirm each candidate.
    Grams(GramLookup),
}

/// A feed that never yields: SQLite has no NOTIFY, and the poll bounds staleness.
struct Silent;

#[async_trait::async_trait]
impl InvalidationFeed for Silent {
    async fn recv(&mut self) -> Option<latchkey_core::cache::Invalidation> {
        std::future::pending().await
    }
}

impl Backend {
    /// The backend's migrations (same version numbers in both folders).
    pub(crate) fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Pushes an invalidation to other instances at commit (PostgreSQL only).
    pub(crate) async fn notify(self, conn: &mut TxConn, payload: &str) -> CoreResult<()> {
        match self {
            Backend::Sqlite => Ok(()),
            Backend::Postgres => postgres::notify(conn, payload).await,
        }
    }

    /// Subscribes to pushed invalidations.
    pub(crate) async fn subscribe(self, url: &str) -> Box<dyn InvalidationFeed> {
        match self {
            Backend::Postgres => match postgres::Listener::connect(url).await {
                Some(l) => Box::new(l),
                None => Box::new(Silent),
            },
            Backend::Sqlite => Box::new(Silent),
        }
    }

    /// How the free-text search for `folded` (not empty) is answered.
    pub(crate) fn search(self, folded: &str) -> TextSearch {
        match self {
            Backend::Sqlite => sqlite::search(folded),
            Backend::Postgres => postgres::search(folded),
        }
    }

    /// Planner settings for a search's statements (PostgreSQL; `SET LOCAL`, inside their
    /// transaction): the matches come through an index, no parallel workers, no JIT.
    pub(crate) fn search_plan(self) -> Option<&'static [&'static str]> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(&[
                "SET LOCAL enable_seqscan = off",
                "SET LOCAL max_parallel_workers_per_gather = 0",
                // At 10M users the planner's costs for a grams window pass jit_above_cost:
                // compiling the expressions took 120 ms for a statement that runs in 1.
                "SET LOCAL jit = off",
            ]),
        }
    }

    /// Makes a deep page's offset walk a narrow id index: on SQLite the table itself is the
    /// id order, and stepping through it reads every row's page.
    pub(crate) fn id_index_hint(self) -> &'static str {
        match self {
            Backend::Sqlite => " INDEXED BY users_id_idx",
            Backend::Postgres => "",
        }
    }

    /// How a worker claims due mail: on PostgreSQL, rows another worker is claiming are
    /// skipped (`FOR UPDATE SKIP LOCKED`), so no mail is claimed twice; SQLite has one
    /// writer, so its one UPDATE is already exclusive.
    pub(crate) fn claim_mail_lock(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// The common refresh rotation in the backend's cheapest form; `None` when the token is
    /// not live (then nothing was changed, and the checked path sorts out why).
    pub(crate) async fn rotate_live(
        self,
        store: &Store,
        old_digest: &str,
        new_digest: &str,
        now: Timestamp,
        idle_cutoff: i64,
        client: &str,
    ) -> CoreResult<Option<RotateOutcome>> {
        match self {
            Backend::Sqlite => {
                sqlite::rotate_live(store, old_digest, new_digest, now, idle_cutoff, client).await
            }
            Backend::Postgres => {
                postgres::rotate_live(store, old_digest, new_digest, now, idle_cutoff, client).await
            }
        }
    }
}
