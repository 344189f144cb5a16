//! Storage: the core's ports ([`latchkey_core::ports`]) on SQLite and PostgreSQL, over
//! sqlx's `Any` driver, and failed-login counters in Redis.
//!
//! Both schemas (`migrations/sqlite`, `migrations/postgres`) have the same tables, columns
//! and constraint names, and nearly every statement is written once, in the common subset
//! of the two (`$n` placeholders, `RETURNING`, row-value comparisons, integer milliseconds
//! for time, text UUIDs). The few that differ (search, the deep-page hint, NOTIFY, SQLite's
//! one-script refresh, pragmas, migrations) live in [`backend`], one module per database.
//! Case-insensitive uniqueness is enforced by the database on `*_key` columns that the core
//! folds in Rust, so both backends agree on non-ASCII text.
//!
//! One file per table family: `users`, `roles` (and assignments), `orgs`, `sessions` (and
//! refresh tokens), `audit`, `keys`, `throttle`, `sync` (invalidations). A write runs in a
//! [`Tx`], which records the invalidations the write causes in the same transaction and
//! hands them back with its result ([`Written`]); nothing else lists them.
//!
//! Driver errors are translated into [`CoreError`] here and nowhere else.

mod audit;
pub mod backend;
mod clients;
mod exec;
mod grants;
mod import;
mod keys;
mod mail;
mod mfa;
mod orgs;
pub mod redis;
mod roles;
mod rows;
mod sessions;
mod sql;
mod sync;
mod throttle;
mod user_list;
mod users;

use std::str::FromStr;
use std::time::Duration;

use exec::{Db, TxConn};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

use latchkey_core::cache::Invalidation;
use latchkey_core::error::{CoreError, CoreResult, Entity, Reason, UniqueField};
use latchkey_core::model::Timestamp;
use latchkey_core::ports::Written;

pub use backend::Backend;
use sql::Sql;

/// The database URL as given, with any password hidden, for logs and messages.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((creds, host)) => {
                let user = creds.split(':').next().unwrap_or("");
                if creds.contains(':') {
                    format!("{scheme}://{user}:***@{host}")
                } else {
                    format!("{scheme}://{user}@{host}")
                }
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Turns what the user typed into a URL sqlx understands: a bare path is a SQLite file,
/// created if missing.
pub fn normalize_url(raw: &str) -> Result<(Backend, String), String> {
    let raw = raw.trim();
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        return Ok((Backend::Postgres, raw.to_owned()));
    }
    if let Some(rest) = raw.strip_prefix("sqlite:") {
        let mut url = format!("sqlite:{rest}");
        if !rest.contains("mode=") && !rest.contains(":memory:") {
            url.push(if rest.contains('?') { '&' } else { '?' });
            url.push_str("mode=rwc");
        }
        return Ok((Backend::Sqlite, url));
    }
    if raw.contains("://") {
        return Err(format!(
            "unsupported database URL '{}': use postgres://… or a SQLite file path (sqlite:PATH)",
            redact_url(raw)
        ));
    }
    if raw.is_empty() {
        return Err("the database URL is empty".into());
    }
    Ok((Backend::Sqlite, format!("sqlite://{raw}?mode=rwc")))
}

/// Connection pool sizes, and how PostgreSQL is reached.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// PostgreSQL's per-connection prepared-statement cache (sqlx's default: 100). `Some(0)`
    /// means a transaction-mode pooler (pgbouncer) sits in front: no statement is prepared
    /// under a name, and each one outside a transaction runs in its own (see `exec`).
    pub statement_cache: Option<usize>,
    /// A direct connection to PostgreSQL, not through a pooler, for what needs a session of
    /// its own: the LISTEN for other instances' invalidations and the migrations' advisory
    /// lock. Default: the main URL.
    pub direct_url: Option<String>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
            statement_cache: None,
            direct_url: None,
        }
    }
}

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    url: String,
    /// Where LISTEN and migrations connect (PostgreSQL; the main URL unless told).
    direct_url: String,
    /// Readers. On PostgreSQL the same pool as `write`.
    read: Db,
    /// Writers. On SQLite a single connection: SQLite allows one writer at a time, and one
    /// connection in-process turns lock contention (SQLITE_BUSY) into a short queue.
    write: Db,
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_)
    )
}

/// Error codes that mean "the database cannot serve us right now", not "this request is wrong".
fn unavailable_code(code: &str) -> bool {
    // SQLite reports numeric (extended) result codes of at most four digits: BUSY, LOCKED,
    // IOERR, FULL, CANTOPEN. (PostgreSQL's SQLSTATEs are always five characters.)
    if code.len() < 5 {
        if let Ok(n) = code.parse::<i32>() {
            return matches!(n & 0xff, 5 | 6 | 10 | 13 | 14);
        }
    }
    // PostgreSQL SQLSTATEs: connection exceptions (08), insufficient resources (53), operator
    // intervention such as a shutdown (57), a database that does not exist (3D000) or does not
    // allow connections (55000), and refused authorization (28).
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || code.starts_with("28")
        || code == "3D000"
        || code == "55000"
}

/// Translates a driver error at the storage boundary.
pub(crate) fn db_err(e: sqlx::Error) -> CoreError {
    if is_unavailable(&e) {
        tracing::debug!(error = %e, "database unavailable");
        return CoreError::Unavailable;
    }
    if let sqlx::Error::Database(db) = &e {
        let text = format!("{} {}", db.constraint().unwrap_or(""), db.message());
        if db.is_unique_violation() {
            let field = if text.contains("username_key") {
                UniqueField::Username
            } else if text.contains("email_key") {
                UniqueField::Email
            } else if text.contains("roles_name") || text.contains("roles.name") {
                UniqueField::RoleName
            } else if text.contains("organizations_name") || text.contains("organizations.name") {
                UniqueField::OrganizationName
            } else if text.contains("role_assignments") {
                UniqueField::Assignment
            } else {
                return CoreError::internal(e);
            };
            return CoreError::Conflict(field);
        }
        if db.is_foreign_key_violation() {
            return CoreError::NotFound(if text.contains("role") {
                Entity::Role
            } else if text.contains("organization") {
                Entity::Organization
            } else {
                Entity::User
            });
        }
        if let Some(code) = db.code() {
            // PostgreSQL refuses text with a NUL (or bytes its encoding lacks). The core
            // refuses NULs first; this keeps any that slip past from becoming a 500.
            if code == "22021" || code == "22P05" {
                return CoreError::invalid("input", Reason::Nul);
            }
            if unavailable_code(&code) {
                tracing::debug!(error = %e, "database unavailable");
                return CoreError::Unavailable;
            }
        }
    }
    CoreError::internal(e)
}

/// A write transaction. [`Tx::emit`] records invalidations in it (and, on PostgreSQL,
/// NOTIFYs them, delivered at commit); [`Tx::commit`] hands them back to the caller, which
/// returns them to the core with the write's result.
pub(crate) struct Tx {
    inner: TxConn,
    backend: Backend,
    events: Vec<Invalidation>,
}

impl std::ops::Deref for Tx {
    type Target = TxConn;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl Tx {
    /// Records `events` in this transaction: the cross-instance feed, and what the write
    /// reports to the core.
    pub(crate) async fn emit(&mut self, events: &[Invalidation]) -> CoreResult<()> {
        let now = Timestamp::now();
        for e in events {
            let (kind, item) = e.encode();
            sqlx::query("INSERT INTO invalidations (kind, item, created_at) VALUES ($1, $2, $3)")
                .bind(kind)
                .bind(&item)
                .bind(now.0)
                .execute(&mut self.inner)
                .await
                .map_err(db_err)?;
            self.backend
                .notify(&mut self.inner, &format!("{kind}:{item}"))
                .await?;
            self.events.push(e.clone());
        }
        Ok(())
    }

    /// Commits; returns the invalidations recorded.
    pub(crate) async fn commit(self) -> CoreResult<Vec<Invalidation>> {
        self.inner.commit().await.map_err(db_err)?;
        Ok(self.events)
    }

    /// Commits and wraps `value` with the invalidations recorded.
    pub(crate) async fn done<T>(self, value: T) -> CoreResult<Written<T>> {
        Ok(Written::new(value, self.commit().await?))
    }

    pub(crate) async fn rollback(self) -> CoreResult<()> {
        self.inner.rollback().await.map_err(db_err)
    }
}

impl Store {
    /// Connects (creating a SQLite file if needed) without migrating.
    pub async fn connect(url: &str, pool: PoolConfig) -> CoreResult<Self> {
        sqlx::any::install_default_drivers();
        let config = |e: String| CoreError::invalid("database", Reason::Config(e));
        let (backend, url) = normalize_url(url).map_err(config)?;
        let direct_url = match &pool.direct_url {
            Some(d) => match normalize_url(d).map_err(config)? {
                (Backend::Postgres, d) if backend == Backend::Postgres => d,
                _ => return Err(config(
                    "--database-listen-url is a direct PostgreSQL URL, for a PostgreSQL database"
                        .into(),
                )),
            },
            None => url.clone(),
        };
        let pooled = match (backend, pool.statement_cache) {
            (Backend::Sqlite, Some(_)) => {
                return Err(config(
                    "--db-statement-cache applies to PostgreSQL only".into(),
                ))
            }
            (_, cache) => cache == Some(0),
        };
        let mut connect_url = url.clone();
        if let Some(n) = pool.statement_cache {
            let sep = if connect_url.contains('?') { '&' } else { '?' };
            connect_url.push_str(&format!("{sep}statement-cache-capacity={n}"));
        }
        let opts = AnyConnectOptions::from_str(&connect_url)
            .map_err(|e| config(format!("invalid database URL: {e}")))?;
        let (read, write) = match backend {
            Backend::Postgres => {
                let p = AnyPoolOptions::new()
                    .max_connections(pool.max_connections)
                    .acquire_timeout(pool.acquire_timeout)
                    .connect_lazy_with(opts);
                let p = Db::new(p, pooled);
                (p.clone(), p)
            }
            Backend::Sqlite => {
                // A SQLite connection is a file handle on a thread of this process: it cannot
                // drop the way a network connection can, so it is not pinged on every acquire
                // (a round trip to that thread, and two thread switches, per statement).
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .test_before_acquire(false)
                    .acquire_timeout(pool.acquire_timeout.max(Duration::from_secs(10)))
                    .after_connect(backend::sqlite::pragmas)
                    .connect_with(opts.clone())
                    .await
                    .map_err(|e| open_err(&url, e))?;
                let read = AnyPoolOptions::new()
                    .max_connections(pool.max_connections)
                    .acquire_timeout(pool.acquire_timeout)
                    .test_before_acquire(false)
                    .after_connect(backend::sqlite::pragmas)
                    .connect_lazy_with(opts);
                (Db::new(read, false), Db::new(write, false))
            }
        };
        if pooled && direct_url == url {
            tracing::warn!(
                "--db-statement-cache 0 without --database-listen-url: LISTEN and the \
                 migrations' lock go through the pooler too, which a transaction-mode pooler \
                 cannot serve; point --database-listen-url at PostgreSQL itself"
            );
        }
        Ok(Store {
            backend,
            url,
            direct_url,
            read,
            write,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Applies pending migrations. Safe to race: on PostgreSQL sqlx takes a (session-level)
    /// advisory lock, so they run over the direct connection, never through a pooler.
    pub async fn migrate(&self) -> CoreResult<()> {
        let err = |e| match e {
            sqlx::migrate::MigrateError::Execute(e) => db_err(e),
            other => CoreError::internal(other),
        };
        match self.backend {
            Backend::Sqlite => self
                .backend
                .migrator()
                .run(self.write.pool())
                .await
                .map_err(err),
            Backend::Postgres => {
                use sqlx::Connection;
                let mut conn = sqlx::AnyConnection::connect(&self.direct_url)
                    .await
                    .map_err(db_err)?;
                let ran = self.backend.migrator().run(&mut conn).await.map_err(err);
                let _ = conn.close().await;
                ran
            }
        }
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    /// `SELECT COUNT(*) FROM <from> <filter>`.
    pub(crate) async fn count(&self, from: &str, filter: &Sql) -> CoreResult<i64> {
        let mut count = Sql::new();
        count.push("SELECT COUNT(*) FROM ");
        count.push(from);
        count.append(filter);
        count
            .query_scalar()
            .fetch_one(&self.read)
            .await
            .map_err(db_err)
    }

    /// [`Self::count`], stopping after `bound` rows when one is given
    /// (`SELECT COUNT(*) FROM (SELECT 1 … LIMIT n)`).
    pub(crate) async fn count_upto(
        &self,
        from: &str,
        filter: &Sql,
        bound: Option<i64>,
    ) -> CoreResult<i64> {
        let Some(n) = bound else {
            return self.count(from, filter).await;
        };
        let mut count = Sql::new();
        count.push("SELECT COUNT(*) FROM (SELECT 1 FROM ");
        count.push(from);
        count.append(filter);
        count.push(" LIMIT ");
        count.bind_int(n);
        count.push(") AS m");
        count
            .query_scalar()
            .fetch_one(&self.read)
            .await
            .map_err(db_err)
    }

    /// A write transaction that records the invalidations it causes.
    pub(crate) async fn begin(&self) -> CoreResult<Tx> {
        Ok(Tx {
            inner: self.write.begin().await.map_err(db_err)?,
            backend: self.backend,
            events: Vec::new(),
        })
    }
}

fn open_err(url: &str, e: sqlx::Error) -> CoreError {
    CoreError::invalid(
        "database",
        Reason::Config(format!("cannot open database {}: {e}", redact_url(url))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized_and_redacted() {
        assert_eq!(
            normalize_url("latchkey.db").unwrap(),
            (Backend::Sqlite, "sqlite://latchkey.db?mode=rwc".into())
        );
        assert_eq!(
            normalize_url("sqlite:x.db").unwrap().1,
            "sqlite:x.db?mode=rwc"
        );
        assert_eq!(
            normalize_url("postgres://a@b/c").unwrap().0,
            Backend::Postgres
        );
        assert!(normalize_url("mysql://x").is_err());
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
    }

    #[test]
    fn unavailability_is_told_from_bad_requests() {
        assert!(unavailable_code("57P01"));
        assert!(unavailable_code("08006"));
        assert!(unavailable_code("55000"));
        assert!(unavailable_code("5"));
        assert!(unavailable_code("517"));
        assert!(!unavailable_code("23505"));
        assert!(!unavailable_code("2067"));
    }
}
