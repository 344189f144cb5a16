//! Storage: one implementation over sqlx's `Any` driver, serving SQLite and PostgreSQL.
//!
//! Both schemas (`migrations/sqlite`, `migrations/postgres`) have the same tables, columns
//! and constraint names, and every query here is written in the common subset of the two
//! dialects (`$n` placeholders, `RETURNING`, row-value comparisons, integer milliseconds for
//! time, text UUIDs), so there is one code path to test and no per-backend branch in any
//! method. Case-insensitive uniqueness is enforced by the database on `*_key` columns that
//! the core folds in Rust, so both backends agree on non-ASCII text.
//!
//! Driver errors are translated into [`CoreError`] here and nowhere else.

pub mod listen;
pub mod redis;
mod rows;
mod sql;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::core::audit::{AuditEvent, AuditQuery, AuditRecord};
use crate::core::cache::Invalidation;
use crate::core::error::{CoreError, CoreResult, Entity, UniqueField};
use crate::core::model::*;
use crate::core::tokens::StoredKey;

use rows::*;
use sql::Sql;

use crate::core::limits::{Counters, CountersFuture, ThrottleRow};
pub use rows::{LoginRecord, NewUser, RotateOutcome};

/// The channel instances LISTEN on for invalidations (PostgreSQL).
pub const NOTIFY_CHANNEL: &str = "latchkey_invalidations";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

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

/// Connection pool sizes.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    url: String,
    /// Readers. On PostgreSQL the same pool as `write`.
    read: AnyPool,
    /// Writers. On SQLite a single connection: SQLite allows one writer at a time, and one
    /// connection in-process turns lock contention (SQLITE_BUSY) into a short queue.
    write: AnyPool,
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
            if unavailable_code(&code) {
                tracing::debug!(error = %e, "database unavailable");
                return CoreError::Unavailable;
            }
        }
    }
    CoreError::internal(e)
}

type Tx = Transaction<'static, Any>;

/// The statement that records an audit event (on its own, or inside a transaction).
fn audit_insert<'q>(
    e: &'q AuditEvent,
    client: &'q ClientInfo,
    at: Timestamp,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(
        "INSERT INTO audit_events (at, action, outcome, actor_id, actor, target_type, target_id, \
         client_ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(at.0)
    .bind(e.action)
    .bind(e.outcome.as_str())
    .bind(e.actor.as_ref().map(|a| a.0 .0))
    .bind(e.actor.as_ref().map(|a| a.1.as_str()))
    .bind(e.target.as_ref().map(|t| t.0))
    .bind(e.target.as_ref().map(|t| t.1.as_str()))
    .bind(client.ip.as_deref())
    .bind(client.user_agent.as_deref())
    .bind(e.detail.as_deref())
}

impl Store {
    /// Connects (creating a SQLite file if needed) without migrating.
    pub async fn connect(url: &str, pool: PoolConfig) -> CoreResult<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalize_url(url).map_err(|e| CoreError::invalid("database", e))?;
        let opts = AnyConnectOptions::from_str(&url)
            .map_err(|e| CoreError::invalid("database", format!("invalid database URL: {e}")))?;
        let (read, write) = match backend {
            Backend::Postgres => {
                let p = AnyPoolOptions::new()
                    .max_connections(pool.max_connections)
                    .acquire_timeout(pool.acquire_timeout)
                    .connect_lazy_with(opts);
                (p.clone(), p)
            }
            Backend::Sqlite => {
                // A SQLite connection is a file handle on a thread of this process: it cannot
                // drop the way a network connection can, so it is not pinged on every acquire
                // (a round trip to that thread, and two thread switches, per statement).
                let after = sqlite_pragmas;
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .test_before_acquire(false)
                    .acquire_timeout(pool.acquire_timeout.max(Duration::from_secs(10)))
                    .after_connect(after)
                    .connect_with(opts.clone())
                    .await
                    .map_err(|e| open_err(&url, e))?;
                let read = AnyPoolOptions::new()
                    .max_connections(pool.max_connections)
                    .acquire_timeout(pool.acquire_timeout)
                    .test_before_acquire(false)
                    .after_connect(after)
                    .connect_lazy_with(opts);
                (read, write)
            }
        };
        Ok(Store {
            backend,
            url,
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

    /// Applies pending migrations. Safe to race: on PostgreSQL sqlx takes an advisory lock.
    pub async fn migrate(&self) -> CoreResult<()> {
        let result = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.write).await,
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.write)
                    .await
            }
        };
        result.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => db_err(e),
            other => CoreError::internal(other),
        })
    }

    pub async fn ping(&self) -> CoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map(|_| ())
            .map_err(db_err)
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    /// `SELECT COUNT(*) FROM <from> <filter>`.
    async fn count(&self, from: &str, filter: &Sql) -> CoreResult<i64> {
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

    async fn begin(&self) -> CoreResult<Tx> {
        self.write.begin().await.map_err(db_err)
    }

    // ----- invalidations ---------------------------------------------------------------

    /// Records events in the transaction that caused them; on PostgreSQL also NOTIFYs
    /// (delivered when the transaction commits).
    async fn emit(&self, tx: &mut Tx, events: &[Invalidation]) -> CoreResult<()> {
        let now = Timestamp::now();
        for e in events {
            let (kind, item) = e.encode();
            sqlx::query("INSERT INTO invalidations (kind, item, created_at) VALUES ($1, $2, $3)")
                .bind(kind)
                .bind(&item)
                .bind(now.0)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            if self.backend == Backend::Postgres {
                sqlx::query("SELECT COUNT(*) FROM (SELECT pg_notify($1, $2)) AS n")
                    .bind(NOTIFY_CHANNEL)
                    .bind(format!("{kind}:{item}"))
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        Ok(())
    }

    /// Events recorded at or after `since` (the poller re-reads a window, so events of
    /// transactions that committed late are not missed; applying one twice is harmless).
    pub async fn invalidations_since(&self, since: Timestamp) -> CoreResult<Vec<Invalidation>> {
        let rows =
            sqlx::query("SELECT kind, item FROM invalidations WHERE created_at >= $1 ORDER BY id")
                .bind(since.0)
                .fetch_all(&self.read)
                .await
                .map_err(db_err)?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let kind: String = r.try_get("kind").ok()?;
                let item: String = r.try_get("item").ok()?;
                Invalidation::decode(&kind, &item)
            })
            .collect())
    }

    pub async fn prune_invalidations(&self, before: Timestamp) -> CoreResult<u64> {
        sqlx::query("DELETE FROM invalidations WHERE created_at < $1")
            .bind(before.0)
            .execute(&self.write)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err)
    }

    /// Sessions ended since `since`: loaded at start so tokens of sessions that ended before
    /// this instance started are refused too.
    pub async fn sessions_ended_since(&self, since: Timestamp) -> CoreResult<Vec<SessionId>> {
        let rows = sqlx::query("SELECT id FROM sessions WHERE revoked_at >= $1")
            .bind(since.0)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("id").map(SessionId).map_err(db_err))
            .collect()
    }

    // ----- users -------------------------------------------------------------------------

    /// How many users there are: one row kept exact by triggers (migration 0005), not a
    /// count over the table.
    pub async fn count_users(&self) -> CoreResult<i64> {
        sqlx::query_scalar("SELECT n FROM row_counts WHERE name = 'users'")
            .fetch_one(&self.read)
            .await
            .map_err(db_err)
    }

    /// Inserts a user and their (active) role assignments in one transaction. Roles that do
    /// not exist yet are created.
    pub async fn insert_user(
        &self,
        u: &NewUser,
        roles: &[String],
        actor: Option<&str>,
    ) -> CoreResult<UserId> {
        let mut tx = self.begin().await?;
        let now = Timestamp::now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (uuid, username, username_key, email, email_key, password_hash, \
             first_name, middle_name, last_name, name_extension, display_name, contact_number, \
             address, organization_id, is_active, search_text, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17) \
             RETURNING id",
        )
        .bind(&u.uuid)
        .bind(&u.username)
        .bind(crate::core::validate::fold(&u.username))
        .bind(&u.email)
        .bind(crate::core::validate::fold(&u.email))
        .bind(&u.password_hash)
        .bind(&u.profile.first_name)
        .bind(&u.profile.middle_name)
        .bind(&u.profile.last_name)
        .bind(&u.profile.name_extension)
        .bind(&u.profile.display_name)
        .bind(&u.profile.contact_number)
        .bind(&u.profile.address)
        .bind(u.organization.map(|o| o.0))
        .bind(u.is_active)
        .bind(search_text(&u.username, &u.email, &u.profile))
        .bind(now.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        for role in roles {
            let role_id = ensure_role(&mut tx, role, now).await?;
            insert_assignment(&mut tx, UserId(id), role_id, true, actor, now).await?;
        }
        if let Some(default) = &u.default_role {
            let role_id = ensure_role(&mut tx, default, now).await?;
            sqlx::query("UPDATE users SET default_role_id = $2 WHERE id = $1")
                .bind(id)
                .bind(role_id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(UserId(id))
    }

    pub async fn get_user(&self, id: UserId) -> CoreResult<Option<User>> {
        let row = sqlx::query(&format!("{USER_SELECT} WHERE u.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        self.complete_one(row).await
    }

    pub async fn get_user_by_uuid(&self, uuid: &str) -> CoreResult<Option<User>> {
        let row = sqlx::query(&format!("{USER_SELECT} WHERE u.uuid = $1"))
            .bind(uuid)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        self.complete_one(row).await
    }

    /// A user by username or email (case-insensitive, `key` already folded).
    pub async fn get_user_by_login(&self, key: &str) -> CoreResult<Option<User>> {
        let row = sqlx::query(&format!(
            "{USER_SELECT} WHERE u.username_key = $1 OR u.email_key = $1 ORDER BY u.id LIMIT 1"
        ))
        .bind(key)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        self.complete_one(row).await
    }

    /// What a login needs: id, hash, active flag. `key` is folded.
    pub async fn login_record(&self, key: &str) -> CoreResult<Option<LoginRecord>> {
        let row = sqlx::query(
            "SELECT id, password_hash, is_active FROM users \
             WHERE username_key = $1 OR email_key = $1 ORDER BY id LIMIT 1",
        )
        .bind(key)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        row.map(|r| {
            Ok(LoginRecord {
                id: UserId(r.try_get("id").map_err(db_err)?),
                password_hash: r.try_get("password_hash").map_err(db_err)?,
                is_active: get_bool(&r, "is_active")?,
            })
        })
        .transpose()
    }

    pub async fn password_hash(&self, id: UserId) -> CoreResult<Option<String>> {
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)
    }

    /// What the auth cache needs of a user.
    async fn complete_one(&self, row: Option<sqlx::any::AnyRow>) -> CoreResult<Option<User>> {
        let Some(row) = row else { return Ok(None) };
        let mut users = vec![user_from_row(&row)?];
        self.attach_roles(&mut users).await?;
        Ok(users.pop())
    }

    /// (user id, role name) of active assignments, ordered by user then role name.
    async fn active_roles(&self, ids: &[UserId]) -> CoreResult<Vec<(UserId, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Ids are integers from our own rows: inlining them is safe and keeps one statement.
        let list = ids
            .iter()
            .map(|i| i.0.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let rows = sqlx::query(&format!(
            "SELECT ra.user_id, r.name FROM role_assignments ra JOIN roles r ON r.id = ra.role_id \
             WHERE ra.is_active = TRUE AND ra.user_id IN ({list}) ORDER BY ra.user_id, r.name"
        ))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    UserId(r.try_get("user_id").map_err(db_err)?),
                    r.try_get("name").map_err(db_err)?,
                ))
            })
            .collect()
    }

    async fn attach_roles(&self, users: &mut [User]) -> CoreResult<()> {
        let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
        for (uid, role) in self.active_roles(&ids).await? {
            if let Some(u) = users.iter_mut().find(|u| u.id == uid) {
                u.roles.push(role);
            }
        }
        Ok(())
    }

    /// Writes a user's changeable fields (the core has applied and validated the patch).
    pub async fn update_user(&self, u: &User) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE users SET username = $2, username_key = $3, email = $4, email_key = $5, \
             first_name = $6, middle_name = $7, last_name = $8, name_extension = $9, \
             display_name = $10, contact_number = $11, address = $12, organization_id = $13, \
             is_active = $14, search_text = $15, updated_at = $16 WHERE id = $1",
        )
        .bind(u.id.0)
        .bind(&u.username)
        .bind(crate::core::validate::fold(&u.username))
        .bind(&u.email)
        .bind(crate::core::validate::fold(&u.email))
        .bind(&u.profile.first_name)
        .bind(&u.profile.middle_name)
        .bind(&u.profile.last_name)
        .bind(&u.profile.name_extension)
        .bind(&u.profile.display_name)
        .bind(&u.profile.contact_number)
        .bind(&u.profile.address)
        .bind(u.organization.as_ref().map(|o| o.id.0))
        .bind(u.is_active)
        .bind(search_text(&u.username, &u.email, &u.profile))
        .bind(Timestamp::now().0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::User));
        }
        self.emit(&mut tx, &[Invalidation::User(u.id)]).await?;
        tx.commit().await.map_err(db_err)
    }

    /// Stores a new hash. With `end_sessions`, ends the user's sessions (but `keep`) in the
    /// same transaction.
    pub async fn set_password(
        &self,
        id: UserId,
        hash: &str,
        end_sessions: Option<(Option<&SessionId>, &str)>,
    ) -> CoreResult<Vec<SessionId>> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(id.0)
            .bind(hash)
            .bind(Timestamp::now().0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::User));
        }
        let ended = match end_sessions {
            Some((keep, reason)) => self.end_user_sessions_tx(&mut tx, id, keep, reason).await?,
            None => Vec::new(),
        };
        // `updated_at` moved: a cached copy of the user is stale.
        self.emit(&mut tx, &[Invalidation::User(id)]).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(ended)
    }

    /// Deletes a user (their sessions and assignments go with them).
    pub async fn delete_user(&self, id: UserId) -> CoreResult<Vec<SessionId>> {
        let mut tx = self.begin().await?;
        let ended = self
            .end_user_sessions_tx(&mut tx, id, None, "user deleted")
            .await?;
        let n = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::User));
        }
        self.emit(&mut tx, &[Invalidation::User(id)]).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(ended)
    }

    /// Deletes every user but `keep` (org-users `DELETE /users/`). Returns how many, and
    /// the sessions that ended with them.
    pub async fn delete_users_except(&self, keep: UserId) -> CoreResult<(u64, Vec<SessionId>)> {
        let mut tx = self.begin().await?;
        let sids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM sessions WHERE user_id <> $1 AND revoked_at IS NULL",
        )
        .bind(keep.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let n = sqlx::query("DELETE FROM users WHERE id <> $1")
            .bind(keep.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        let sids: Vec<SessionId> = sids.into_iter().map(SessionId).collect();
        let mut events: Vec<Invalidation> =
            sids.iter().cloned().map(Invalidation::Session).collect();
        events.push(Invalidation::AllUsers);
        self.emit(&mut tx, &events).await?;
        tx.commit().await.map_err(db_err)?;
        Ok((n, sids))
    }

    pub async fn list_users(&self, q: &UserQuery, page: &PageRequest) -> CoreResult<UserPage> {
        let mut filter = Sql::new();
        filter.push(" WHERE 1 = 1");
        let mut filtered = false;
        // On SQLite, a search of 3+ characters is a phrase query on the trigram index
        // (migration 0005): exactly the substring test, answered from the index.
        let mut fts_phrase = None;
        if let Some(text) = q.search.as_deref().filter(|s| !s.is_empty()) {
            filtered = true;
            let folded = crate::core::validate::fold(text);
            if self.backend == Backend::Sqlite && folded.chars().count() >= 3 {
                let phrase = format!("\"{}\"", folded.replace('"', "\"\""));
                filter
                    .push(" AND u.id IN (SELECT rowid FROM users_search WHERE users_search MATCH ");
                filter.bind_text(phrase.clone());
                filter.push(")");
                fts_phrase = Some(phrase);
            } else {
                // PostgreSQL's trigram GIN index serves this LIKE (3+ characters); shorter
                // terms match so much that a scan is the right plan anyway.
                let pattern = format!("%{}%", like_escape(&folded));
                filter.push(" AND u.search_text LIKE ");
                filter.bind_text(pattern);
                filter.push(" ESCAPE '\\'");
            }
        }
        let mut only_search = fts_phrase.is_some();
        if let Some(role) = &q.role {
            filtered = true;
            only_search = false;
            filter.push(
                " AND EXISTS (SELECT 1 FROM role_assignments ra JOIN roles r ON r.id = ra.role_id \
                 WHERE ra.user_id = u.id AND ra.is_active = TRUE AND r.name = ",
            );
            filter.bind_text(role.clone());
            filter.push(")");
        }
        if let Some(org) = q.organization {
            filtered = true;
            only_search = false;
            filter.push(" AND u.organization_id = ");
            filter.bind_int(org.0);
        }
        if let Some(active) = q.active {
            filtered = true;
            only_search = false;
            filter.push(" AND u.is_active = ");
            filter.bind_bool(active);
        }

        let total = match &fts_phrase {
            _ if !filtered => self.count_users().await?,
            // Counted in the index alone: joining each match back to its row costs ten
            // times more for a common term.
            Some(phrase) if only_search => {
                let mut count = Sql::new();
                count.push("SELECT COUNT(*) FROM users_search WHERE users_search MATCH ");
                count.bind_text(phrase.clone());
                count
                    .query_scalar()
                    .fetch_one(&self.read)
                    .await
                    .map_err(db_err)?
            }
            _ => self.count("users u", &filter).await?,
        };

        let col = match q.sort {
            UserSort::Id => "u.id",
            UserSort::Username => "u.username_key",
            UserSort::Email => "u.email_key",
            UserSort::CreatedAt => "u.created_at",
        };
        let dir = if q.descending { "DESC" } else { "ASC" };
        let op = if q.descending { "<" } else { ">" };
        let mut sql = Sql::new();
        sql.push(USER_SELECT);
        let limit = match page {
            PageRequest::Offset { limit, .. } | PageRequest::After { limit, .. } => *limit,
        };
        let limit_sql = limit.min(i64::MAX as u64) as i64;
        match (&fts_phrase, page) {
            (Some(phrase), _) if only_search && q.sort == UserSort::Id => {
                // The index yields matches in id order: the page is cut there, so only its
                // rows are read from the table.
                sql.push(
                    " WHERE u.id IN (SELECT rowid FROM users_search WHERE users_search MATCH ",
                );
                sql.bind_text(phrase.clone());
                if let PageRequest::After {
                    cursor: Some(c), ..
                } = page
                {
                    sql.push(&format!(" AND rowid {op} "));
                    sql.bind_int(c.id.0);
                }
                sql.push(&format!(" ORDER BY rowid {dir} LIMIT "));
                sql.bind_int(limit_sql);
                if let PageRequest::Offset { offset, .. } = page {
                    sql.push(" OFFSET ");
                    sql.bind_int((*offset).min(i64::MAX as u64) as i64);
                }
                sql.push(&format!(") ORDER BY u.id {dir}"));
            }
            (None, PageRequest::Offset { offset, .. })
                if !filtered && q.sort == UserSort::Id && *offset > 0 =>
            {
                // A page number far in: step over the offset in a narrow index (an index-only
                // walk), then read just the page's rows. On SQLite the table itself is the id
                // order, and stepping through it reads every row's page.
                sql.push(" WHERE u.id IN (SELECT id FROM users");
                if self.backend == Backend::Sqlite {
                    sql.push(" INDEXED BY users_id_idx");
                }
                sql.push(&format!(" ORDER BY id {dir} LIMIT "));
                sql.bind_int(limit_sql);
                sql.push(" OFFSET ");
                sql.bind_int((*offset).min(i64::MAX as u64) as i64);
                sql.push(&format!(") ORDER BY u.id {dir}"));
            }
            _ => {
                sql.append(&filter);
                if let PageRequest::After {
                    cursor: Some(c), ..
                } = page
                {
                    match (&c.key, q.sort) {
                        (_, UserSort::Id) => {
                            sql.push(&format!(" AND u.id {op} "));
                            sql.bind_int(c.id.0);
                        }
                        (CursorKey::Int(v), UserSort::CreatedAt) => {
                            sql.push(&format!(" AND ({col}, u.id) {op} ("));
                            sql.bind_int(*v);
                            sql.push(", ");
                            sql.bind_int(c.id.0);
                            sql.push(")");
                        }
                        (CursorKey::Text(v), UserSort::Username | UserSort::Email) => {
                            sql.push(&format!(" AND ({col}, u.id) {op} ("));
                            sql.bind_text(v.clone());
                            sql.push(", ");
                            sql.bind_int(c.id.0);
                            sql.push(")");
                        }
                        _ => return Err(CoreError::invalid("cursor", "does not match the sort")),
                    }
                }
                if q.sort == UserSort::Id {
                    sql.push(&format!(" ORDER BY u.id {dir}"));
                } else {
                    sql.push(&format!(" ORDER BY {col} {dir}, u.id {dir}"));
                }
                sql.push(" LIMIT ");
                sql.bind_int(limit_sql);
                if let PageRequest::Offset { offset, .. } = page {
                    sql.push(" OFFSET ");
                    sql.bind_int((*offset).min(i64::MAX as u64) as i64);
                }
            }
        }
        let rows = sql.query().fetch_all(&self.read).await.map_err(db_err)?;
        let mut users = rows
            .iter()
            .map(user_from_row)
            .collect::<CoreResult<Vec<_>>>()?;
        self.attach_roles(&mut users).await?;
        let next_cursor = match page {
            PageRequest::After { limit, .. } if users.len() as u64 == *limit && *limit > 0 => {
                users.last().map(|u| UserCursor {
                    id: u.id,
                    key: match q.sort {
                        UserSort::Id => CursorKey::Int(u.id.0),
                        UserSort::CreatedAt => CursorKey::Int(u.created_at.0),
                        UserSort::Username => {
                            CursorKey::Text(crate::core::validate::fold(&u.username))
                        }
                        UserSort::Email => CursorKey::Text(crate::core::validate::fold(&u.email)),
                    },
                })
            }
            _ => None,
        };
        Ok(UserPage {
            users,
            total: total.max(0) as u64,
            next_cursor,
        })
    }

    // ----- roles -------------------------------------------------------------------------

    pub async fn list_roles(&self) -> CoreResult<Vec<Role>> {
        let rows = sqlx::query(&format!("{ROLE_SELECT} ORDER BY name"))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        rows.iter().map(role_from_row).collect()
    }

    pub async fn get_role(&self, id: RoleId) -> CoreResult<Option<Role>> {
        let row = sqlx::query(&format!("{ROLE_SELECT} WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.as_ref().map(role_from_row).transpose()
    }

    pub async fn get_role_by_name(&self, name: &str) -> CoreResult<Option<Role>> {
        let row = sqlx::query(&format!("{ROLE_SELECT} WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.as_ref().map(role_from_row).transpose()
    }

    pub async fn create_role(&self, name: &str, description: Option<&str>) -> CoreResult<RoleId> {
        let now = Timestamp::now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO roles (name, description, builtin, created_at, updated_at) \
             VALUES ($1, $2, FALSE, $3, $3) RETURNING id",
        )
        .bind(name)
        .bind(description)
        .bind(now.0)
        .fetch_one(&self.write)
        .await
        .map_err(db_err)?;
        Ok(RoleId(id))
    }

    pub async fn update_role(
        &self,
        id: RoleId,
        name: &str,
        description: Option<&str>,
    ) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE roles SET name = $2, description = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id.0)
        .bind(name)
        .bind(description)
        .bind(Timestamp::now().0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::Role));
        }
        self.emit(&mut tx, &[Invalidation::AllUsers]).await?;
        tx.commit().await.map_err(db_err)
    }

    pub async fn delete_role(&self, id: RoleId) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::Role));
        }
        self.emit(&mut tx, &[Invalidation::AllUsers]).await?;
        tx.commit().await.map_err(db_err)
    }

    // ----- role assignments ----------------------------------------------------------------

    pub async fn get_assignment(&self, id: AssignmentId) -> CoreResult<Option<Assignment>> {
        let row = sqlx::query(&format!("{ASSIGNMENT_SELECT} WHERE ra.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.as_ref().map(assignment_from_row).transpose()
    }

    pub async fn list_assignments(
        &self,
        q: &AssignmentQuery,
        offset: u64,
        limit: u64,
    ) -> CoreResult<(Vec<Assignment>, u64)> {
        let mut filter = Sql::new();
        filter.push(" WHERE 1 = 1");
        if let Some(id) = q.id {
            filter.push(" AND ra.id = ");
            filter.bind_int(id.0);
        }
        if let Some(u) = q.user_id {
            filter.push(" AND ra.user_id = ");
            filter.bind_int(u.0);
        }
        if let Some(role) = &q.role {
            filter.push(" AND r.name = ");
            filter.bind_text(role.clone());
        }
        if let Some(active) = q.is_active {
            filter.push(" AND ra.is_active = ");
            filter.bind_bool(active);
        }
        if let Some(text) = q.search.as_deref().filter(|s| !s.is_empty()) {
            // Role names are ASCII lowercase, so folding the needle is enough.
            filter.push(" AND r.name LIKE ");
            filter.bind_text(format!("%{}%", like_escape(&text.to_lowercase())));
            filter.push(" ESCAPE '\\'");
        }
        let total = self
            .count(
                "role_assignments ra JOIN roles r ON r.id = ra.role_id",
                &filter,
            )
            .await?;
        let mut sql = Sql::new();
        sql.push(ASSIGNMENT_SELECT);
        sql.append(&filter);
        let mut order: Vec<String> = q
            .sort
            .iter()
            .map(|(key, desc)| {
                let col = match key {
                    AssignmentSort::Id => "ra.id",
                    AssignmentSort::UserId => "ra.user_id",
                    AssignmentSort::Role => "r.name",
                    AssignmentSort::IsActive => "ra.is_active",
                    AssignmentSort::CreatedAt => "ra.created_at",
                    AssignmentSort::UpdatedAt => "ra.updated_at",
                };
                format!("{col} {}", if *desc { "DESC" } else { "ASC" })
            })
            .collect();
        order.push("ra.id ASC".into());
        sql.push(&format!(" ORDER BY {} LIMIT ", order.join(", ")));
        sql.bind_int(limit.min(i64::MAX as u64) as i64);
        sql.push(" OFFSET ");
        sql.bind_int(offset.min(i64::MAX as u64) as i64);
        let rows = sql.query().fetch_all(&self.read).await.map_err(db_err)?;
        let list = rows
            .iter()
            .map(assignment_from_row)
            .collect::<CoreResult<Vec<_>>>()?;
        Ok((list, total.max(0) as u64))
    }

    /// Sets a user's default role (creating nothing: the role must exist).
    pub async fn set_default_role(&self, user: UserId, role: Option<RoleId>) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE users SET default_role_id = $2, updated_at = $3 WHERE id = $1")
            .bind(user.0)
            .bind(role.map(|r| r.0))
            .bind(Timestamp::now().0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::User));
        }
        self.emit(&mut tx, &[Invalidation::User(user)]).await?;
        tx.commit().await.map_err(db_err)
    }

    /// Creates an assignment, creating the role if it does not exist.
    pub async fn create_assignment(
        &self,
        user: UserId,
        role: &str,
        is_active: bool,
        actor: Option<&str>,
    ) -> CoreResult<AssignmentId> {
        let mut tx = self.begin().await?;
        let now = Timestamp::now();
        let role_id = ensure_role(&mut tx, role, now).await?;
        let id = insert_assignment(&mut tx, user, role_id, is_active, actor, now).await?;
        self.emit(&mut tx, &[Invalidation::User(user)]).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(id)
    }

    /// Rewrites an assignment (all of user, role, activity), bumping its version.
    pub async fn update_assignment(
        &self,
        id: AssignmentId,
        user: UserId,
        role: &str,
        is_active: bool,
        actor: Option<&str>,
    ) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        let now = Timestamp::now();
        let old_user: Option<i64> =
            sqlx::query_scalar("SELECT user_id FROM role_assignments WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let Some(old_user) = old_user else {
            return Err(CoreError::NotFound(Entity::Assignment));
        };
        let role_id = ensure_role(&mut tx, role, now).await?;
        sqlx::query(
            "UPDATE role_assignments SET user_id = $2, role_id = $3, is_active = $4, \
             updated_at = $5, updated_by = $6, version = version + 1 WHERE id = $1",
        )
        .bind(id.0)
        .bind(user.0)
        .bind(role_id.0)
        .bind(is_active)
        .bind(now.0)
        .bind(actor)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut events = vec![Invalidation::User(user)];
        if old_user != user.0 {
            events.push(Invalidation::User(UserId(old_user)));
        }
        self.emit(&mut tx, &events).await?;
        tx.commit().await.map_err(db_err)
    }

    pub async fn delete_assignment(&self, id: AssignmentId) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        let user: Option<i64> =
            sqlx::query_scalar("DELETE FROM role_assignments WHERE id = $1 RETURNING user_id")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let Some(user) = user else {
            return Err(CoreError::NotFound(Entity::Assignment));
        };
        self.emit(&mut tx, &[Invalidation::User(UserId(user))])
            .await?;
        tx.commit().await.map_err(db_err)
    }

    /// Makes `roles` exactly the user's active roles: missing ones are assigned (or
    /// re-activated), others are removed. One transaction.
    pub async fn replace_roles(
        &self,
        user: UserId,
        roles: &[String],
        actor: Option<&str>,
    ) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        let now = Timestamp::now();
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if exists.is_none() {
            return Err(CoreError::NotFound(Entity::User));
        }
        let mut keep = Vec::new();
        for role in roles {
            let role_id = ensure_role(&mut tx, role, now).await?;
            keep.push(role_id.0);
            let updated = sqlx::query(
                "UPDATE role_assignments SET is_active = TRUE, updated_at = $3, updated_by = $4, \
                 version = version + 1 WHERE user_id = $1 AND role_id = $2 AND is_active = FALSE",
            )
            .bind(user.0)
            .bind(role_id.0)
            .bind(now.0)
            .bind(actor)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            if updated == 0 {
                let has: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM role_assignments WHERE user_id = $1 AND role_id = $2",
                )
                .bind(user.0)
                .bind(role_id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                if has.is_none() {
                    insert_assignment(&mut tx, user, role_id, true, actor, now).await?;
                }
            }
        }
        let keep_list = if keep.is_empty() {
            "0".to_owned()
        } else {
            keep.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        sqlx::query(&format!(
            "DELETE FROM role_assignments WHERE user_id = $1 AND role_id NOT IN ({keep_list})"
        ))
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        self.emit(&mut tx, &[Invalidation::User(user)]).await?;
        tx.commit().await.map_err(db_err)
    }

    // ----- organizations -------------------------------------------------------------------

    pub async fn list_orgs(&self, offset: u64, limit: u64) -> CoreResult<(Vec<Organization>, u64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organizations")
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?;
        let rows = sqlx::query(&format!("{ORG_SELECT} ORDER BY o.id LIMIT $1 OFFSET $2"))
            .bind(limit.min(i64::MAX as u64) as i64)
            .bind(offset.min(i64::MAX as u64) as i64)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        let list = rows
            .iter()
            .map(org_from_row)
            .collect::<CoreResult<Vec<_>>>()?;
        Ok((list, total.max(0) as u64))
    }

    pub async fn get_org(&self, id: OrgId) -> CoreResult<Option<Organization>> {
        let row = sqlx::query(&format!("{ORG_SELECT} WHERE o.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.as_ref().map(org_from_row).transpose()
    }

    pub async fn create_org(&self, name: &str, description: Option<&str>) -> CoreResult<OrgId> {
        let now = Timestamp::now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO organizations (uuid, name, name_key, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(name)
        .bind(crate::core::validate::fold(name))
        .bind(description)
        .bind(now.0)
        .fetch_one(&self.write)
        .await
        .map_err(db_err)?;
        Ok(OrgId(id))
    }

    pub async fn update_org(
        &self,
        id: OrgId,
        name: &str,
        description: Option<&str>,
    ) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE organizations SET name = $2, name_key = $3, description = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(name)
        .bind(crate::core::validate::fold(name))
        .bind(description)
        .bind(Timestamp::now().0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::Organization));
        }
        // Members show the organization's name: cached users go stale.
        self.emit(&mut tx, &[Invalidation::AllUsers]).await?;
        tx.commit().await.map_err(db_err)
    }

    pub async fn delete_org(&self, id: OrgId) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM organizations WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if n == 0 {
            return Err(CoreError::NotFound(Entity::Organization));
        }
        // Members lose their organization (ON DELETE SET NULL).
        self.emit(&mut tx, &[Invalidation::AllUsers]).await?;
        tx.commit().await.map_err(db_err)
    }

    // ----- sessions and refresh tokens -------------------------------------------------------

    /// Stores a new session, its first refresh token and, when given, the audit event that
    /// records it: one transaction.
    pub async fn create_session(
        &self,
        s: &Session,
        refresh_digest: &str,
        audit: Option<(&AuditEvent, &ClientInfo)>,
    ) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, client_ip) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.id.0)
        .bind(s.user_id.0)
        .bind(s.created_at.0)
        .bind(s.last_used_at.0)
        .bind(s.expires_at.0)
        .bind(&s.user_agent)
        .bind(&s.client_ip)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(refresh_digest)
        .bind(&s.id.0)
        .bind(s.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some((e, client)) = audit {
            audit_insert(e, client, s.created_at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    pub async fn get_session(&self, id: &SessionId) -> CoreResult<Option<Session>> {
        let row = sqlx::query(&format!("{SESSION_SELECT} WHERE id = $1"))
            .bind(&id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// A user's sessions that have not ended or expired, newest first.
    pub async fn list_sessions(&self, user: UserId, now: Timestamp) -> CoreResult<Vec<Session>> {
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

    pub async fn count_active_sessions(&self, now: Timestamp) -> CoreResult<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now.0)
        .fetch_one(&self.read)
        .await
        .map_err(db_err)
    }

    /// Ends one session. Returns false if it was unknown or already ended.
    pub async fn end_session(&self, id: &SessionId, reason: &str) -> CoreResult<bool> {
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
            self.emit(&mut tx, &[Invalidation::Session(id.clone())])
                .await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(n > 0)
    }

    /// Ends all of a user's sessions except `keep`. Returns the ended ids.
    pub async fn end_user_sessions(
        &self,
        user: UserId,
        keep: Option<&SessionId>,
        reason: &str,
    ) -> CoreResult<Vec<SessionId>> {
        let mut tx = self.begin().await?;
        let ended = self
            .end_user_sessions_tx(&mut tx, user, keep, reason)
            .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(ended)
    }

    async fn end_user_sessions_tx(
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
        self.emit(tx, &events).await?;
        Ok(ids)
    }

    /// Exchanges a refresh token for a new one in one short transaction.
    ///
    /// The old token is marked used with a conditional UPDATE, so of two concurrent uses
    /// exactly one wins; the loser (and any later use) is a reuse, which ends the session.
    pub async fn rotate_refresh(
        &self,
        old_digest: &str,
        new_digest: &str,
        now: Timestamp,
        idle_timeout_secs: u64,
    ) -> CoreResult<RotateOutcome> {
        // The common case in three statements: claim the token, touch its session if that is
        // still live, store the successor. Anything else (unknown or used token, ended or
        // expired session) changes nothing here and is sorted out below, in a transaction.
        let idle_ms = (idle_timeout_secs as i64).saturating_mul(1000);
        let idle_cutoff = now.0.saturating_sub(idle_ms);
        if self.backend == Backend::Sqlite {
            if let Some(rotated) = self
                .rotate_refresh_sqlite(old_digest, new_digest, now, idle_cutoff)
                .await?
            {
                return Ok(rotated);
            }
            return self
                .rotate_refresh_checked(old_digest, new_digest, now, idle_timeout_secs)
                .await;
        }
        let mut tx = self.begin().await?;
        let claimed = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
             RETURNING session_id",
        )
        .bind(old_digest)
        .bind(now.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(row) = claimed {
            let sid: String = row.try_get("session_id").map_err(db_err)?;
            let live = sqlx::query(
                "UPDATE sessions SET last_used_at = $2 WHERE id = $1 AND revoked_at IS NULL \
                 AND expires_at > $2 AND last_used_at > $3 RETURNING user_id, expires_at",
            )
            .bind(&sid)
            .bind(now.0)
            .bind(idle_cutoff)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            if let Some(row) = live {
                let user = UserId(row.try_get("user_id").map_err(db_err)?);
                let expires: i64 = row.try_get("expires_at").map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(new_digest)
                .bind(&sid)
                .bind(now.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                return Ok(RotateOutcome::Rotated {
                    session: SessionId(sid),
                    user,
                    expires_at: Timestamp(expires),
                });
            }
        }
        tx.rollback().await.map_err(db_err)?;
        self.rotate_refresh_checked(old_digest, new_digest, now, idle_timeout_secs)
            .await
    }

    /// SQLite's live rotation with its three statements sent as one script: rotations queue
    /// for SQLite's single writer, and each statement sent separately is a hand-off to the
    /// connection's thread and back on their critical path. `$N` parameters bind by number in
    /// every statement of the script; each statement runs only if the one before it changed a
    /// row (`changes()`), and the claim only if the session is live, so a script that rotates
    /// nothing changes nothing. It runs in a sqlx transaction, which rolls back if the request
    /// is given up half-way. `None`: not a live rotation.
    async fn rotate_refresh_sqlite(
        &self,
        old_digest: &str,
        new_digest: &str,
        now: Timestamp,
        idle_cutoff: i64,
    ) -> CoreResult<Option<RotateOutcome>> {
        const ROTATE: &str = "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
              AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = refresh_tokens.session_id \
                AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.last_used_at > $3); \
            UPDATE sessions SET last_used_at = $2 WHERE changes() = 1 \
              AND id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1) \
              RETURNING id, user_id, expires_at; \
            INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
              SELECT $4, session_id, $2 FROM refresh_tokens WHERE changes() = 1 AND token_hash = $1";
        let mut tx = self.begin().await?;
        let rows = sqlx::query(ROTATE)
            .bind(old_digest)
            .bind(now.0)
            .bind(idle_cutoff)
            .bind(new_digest)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(RotateOutcome::Rotated {
            session: SessionId(row.try_get("id").map_err(db_err)?),
            user: UserId(row.try_get("user_id").map_err(db_err)?),
            expires_at: Timestamp(row.try_get("expires_at").map_err(db_err)?),
        }))
    }

    /// Every case of presenting a refresh token, one step at a time, in one transaction.
    async fn rotate_refresh_checked(
        &self,
        old_digest: &str,
        new_digest: &str,
        now: Timestamp,
        idle_timeout_secs: u64,
    ) -> CoreResult<RotateOutcome> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT s.id, s.user_id, s.last_used_at, s.expires_at, s.revoked_at, t.used_at \
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = $1",
        )
        .bind(old_digest)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(RotateOutcome::Unknown);
        };
        let sid = SessionId(row.try_get("id").map_err(db_err)?);
        let user = UserId(row.try_get("user_id").map_err(db_err)?);
        let last_used: i64 = row.try_get("last_used_at").map_err(db_err)?;
        let expires: i64 = row.try_get("expires_at").map_err(db_err)?;
        let revoked: Option<i64> = row.try_get("revoked_at").map_err(db_err)?;
        let used: Option<i64> = row.try_get("used_at").map_err(db_err)?;
        if revoked.is_some() {
            return Ok(RotateOutcome::Ended);
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
            tx.commit().await.map_err(db_err)?;
            return Ok(RotateOutcome::Reused { session: sid, user });
        }
        let idle_deadline =
            last_used.saturating_add((idle_timeout_secs as i64).saturating_mul(1000));
        if expires <= now.0 || idle_deadline <= now.0 {
            self.end_session_tx(&mut tx, &sid, "session expired")
                .await?;
            tx.commit().await.map_err(db_err)?;
            return Ok(RotateOutcome::Expired { session: sid });
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
        tx.commit().await.map_err(db_err)?;
        Ok(RotateOutcome::Rotated {
            session: sid,
            user,
            expires_at: Timestamp(expires),
        })
    }

    async fn end_session_tx(&self, tx: &mut Tx, sid: &SessionId, reason: &str) -> CoreResult<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL")
            .bind(&sid.0)
            .bind(Timestamp::now().0)
            .bind(reason)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        self.emit(tx, &[Invalidation::Session(sid.clone())]).await
    }

    /// Deletes sessions that ended or expired before `before` (their refresh tokens go too).
    pub async fn prune_sessions(&self, before: Timestamp) -> CoreResult<u64> {
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
            .bind(before.0)
            .execute(&self.write)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err)
    }

    // ----- audit log -------------------------------------------------------------------------

    pub async fn insert_audit(
        &self,
        e: &AuditEvent,
        client: &ClientInfo,
        at: Timestamp,
    ) -> CoreResult<()> {
        audit_insert(e, client, at)
            .execute(&self.write)
            .await
            .map(|_| ())
            .map_err(db_err)
    }

    /// Events matching `q`, newest first (or oldest first with `ascending`).
    pub async fn list_audit(
        &self,
        q: &AuditQuery,
        offset: u64,
        limit: u64,
        ascending: bool,
    ) -> CoreResult<(Vec<AuditRecord>, u64)> {
        let mut filter = Sql::new();
        filter.push(" WHERE 1 = 1");
        for (col, val) in [
            ("action", &q.action),
            ("outcome", &q.outcome),
            ("target_type", &q.target_type),
            ("target_id", &q.target_id),
        ] {
            if let Some(v) = val {
                filter.push(&format!(" AND {col} = "));
                filter.bind_text(v.clone());
            }
        }
        if let Some(a) = q.actor_id {
            filter.push(" AND actor_id = ");
            filter.bind_int(a);
        }
        if let Some(t) = q.since {
            filter.push(" AND at >= ");
            filter.bind_int(t.0);
        }
        if let Some(t) = q.until {
            filter.push(" AND at < ");
            filter.bind_int(t.0);
        }
        if let Some(id) = q.after_id {
            filter.push(" AND id > ");
            filter.bind_int(id);
        }
        let total = self.count("audit_events", &filter).await?;
        let mut sql = Sql::new();
        sql.push(
            "SELECT id, at, action, outcome, actor_id, actor, target_type, target_id, client_ip, \
             user_agent, detail FROM audit_events",
        );
        sql.append(&filter);
        sql.push(if ascending {
            " ORDER BY id ASC LIMIT "
        } else {
            " ORDER BY id DESC LIMIT "
        });
        sql.bind_int(limit.min(i64::MAX as u64) as i64);
        sql.push(" OFFSET ");
        sql.bind_int(offset.min(i64::MAX as u64) as i64);
        let rows = sql.query().fetch_all(&self.read).await.map_err(db_err)?;
        let list = rows
            .iter()
            .map(|r| {
                Ok(AuditRecord {
                    id: r.try_get("id").map_err(db_err)?,
                    at: Timestamp(r.try_get("at").map_err(db_err)?),
                    action: r.try_get("action").map_err(db_err)?,
                    outcome: r.try_get("outcome").map_err(db_err)?,
                    actor_id: r.try_get("actor_id").map_err(db_err)?,
                    actor: r.try_get("actor").map_err(db_err)?,
                    target_type: r.try_get("target_type").map_err(db_err)?,
                    target_id: r.try_get("target_id").map_err(db_err)?,
                    client_ip: r.try_get("client_ip").map_err(db_err)?,
                    user_agent: r.try_get("user_agent").map_err(db_err)?,
                    detail: r.try_get("detail").map_err(db_err)?,
                })
            })
            .collect::<CoreResult<Vec<_>>>()?;
        Ok((list, total.max(0) as u64))
    }

    // ----- login throttle ----------------------------------------------------------------------

    /// Counters for these keys: (key, failures, window_start, locked_until).
    pub async fn throttle_state(&self, keys: &[&str]) -> CoreResult<Vec<ThrottleRow>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let row = sqlx::query(
                "SELECT failures, window_start, locked_until FROM login_throttle WHERE key = $1",
            )
            .bind(*key)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
            if let Some(r) = row {
                out.push(ThrottleRow {
                    key: (*key).to_owned(),
                    failures: r.try_get("failures").map_err(db_err)?,
                    window_start: r.try_get("window_start").map_err(db_err)?,
                    locked_until: r.try_get("locked_until").map_err(db_err)?,
                });
            }
        }
        Ok(out)
    }

    /// Counts one failure for `key`, atomically; the count starts over when the last
    /// window began before `reset_before`. With `slide`, the window restarts at every failure
    /// (consecutive failures); without, it is fixed from the first. Returns the new count.
    pub async fn throttle_fail(
        &self,
        key: &str,
        now: Timestamp,
        reset_before: Timestamp,
        slide: bool,
    ) -> CoreResult<i64> {
        let sql = if slide {
            "INSERT INTO login_throttle (key, failures, window_start) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
             failures = CASE WHEN login_throttle.window_start < $3 THEN 1 ELSE login_throttle.failures + 1 END, \
             window_start = $2 RETURNING failures"
        } else {
            "INSERT INTO login_throttle (key, failures, window_start) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
             failures = CASE WHEN login_throttle.window_start < $3 THEN 1 ELSE login_throttle.failures + 1 END, \
             window_start = CASE WHEN login_throttle.window_start < $3 THEN $2 ELSE login_throttle.window_start END \
             RETURNING failures"
        };
        sqlx::query_scalar(sql)
            .bind(key)
            .bind(now.0)
            .bind(reset_before.0)
            .fetch_one(&self.write)
            .await
            .map_err(db_err)
    }

    /// Locks `key` until `until` (never shortening an existing lock).
    pub async fn throttle_lock(&self, key: &str, until: Timestamp) -> CoreResult<()> {
        sqlx::query(
            "UPDATE login_throttle SET locked_until = $2 \
             WHERE key = $1 AND (locked_until IS NULL OR locked_until < $2)",
        )
        .bind(key)
        .bind(until.0)
        .execute(&self.write)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    pub async fn throttle_clear(&self, key: &str) -> CoreResult<()> {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1")
            .bind(key)
            .execute(&self.write)
            .await
            .map(|_| ())
            .map_err(db_err)
    }

    /// Forgets counters untouched since `before` whose locks have ended.
    pub async fn prune_throttle(&self, before: Timestamp) -> CoreResult<u64> {
        sqlx::query(
            "DELETE FROM login_throttle WHERE window_start < $1 \
             AND (locked_until IS NULL OR locked_until < $1)",
        )
        .bind(before.0)
        .execute(&self.write)
        .await
        .map(|r| r.rows_affected())
        .map_err(db_err)
    }

    // ----- signing keys ------------------------------------------------------------------------

    pub async fn list_keys(&self) -> CoreResult<Vec<StoredKey>> {
        let rows = sqlx::query(
            "SELECT kid, private_der, public_x, created_at, retired_at FROM signing_keys ORDER BY created_at",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(StoredKey {
                    kid: r.try_get("kid").map_err(db_err)?,
                    private_der: r.try_get("private_der").map_err(db_err)?,
                    public_x: r.try_get("public_x").map_err(db_err)?,
                    created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
                    retired_at: r
                        .try_get::<Option<i64>, _>("retired_at")
                        .map_err(db_err)?
                        .map(Timestamp),
                })
            })
            .collect()
    }

    /// Adds a key. With `retire_others`, the previous keys stop signing (they keep
    /// verifying until their tokens expire).
    pub async fn add_key(&self, key: &StoredKey, retire_others: bool) -> CoreResult<()> {
        let mut tx = self.begin().await?;
        if retire_others {
            sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                .bind(key.created_at.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_der, public_x, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.kid)
        .bind(&key.private_der)
        .bind(&key.public_x)
        .bind(key.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        self.emit(&mut tx, &[Invalidation::Keys]).await?;
        tx.commit().await.map_err(db_err)
    }

    /// Deletes keys retired before `before` (no token they signed can still be valid).
    pub async fn prune_keys(&self, before: Timestamp) -> CoreResult<u64> {
        sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
            .bind(before.0)
            .execute(&self.write)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err)
    }
}

/// Per-connection settings for SQLite: WAL (readers never block the writer), NORMAL sync
/// (durable at each checkpoint; safe with WAL), foreign keys on, and a busy wait.
fn sqlite_pragmas(
    conn: &mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        use sqlx::Executor;
        conn.execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        )
        .await?;
        Ok(())
    })
}

fn open_err(url: &str, e: sqlx::Error) -> CoreError {
    CoreError::invalid(
        "database",
        format!("cannot open database {}: {e}", redact_url(url)),
    )
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The folded text that free-text search runs over.
fn search_text(username: &str, email: &str, p: &Profile) -> String {
    let mut parts = vec![username, email];
    for f in [
        &p.first_name,
        &p.middle_name,
        &p.last_name,
        &p.name_extension,
        &p.display_name,
    ]
    .into_iter()
    .flatten()
    {
        parts.push(f);
    }
    crate::core::validate::fold(&parts.join(" "))
}

async fn ensure_role(tx: &mut Tx, name: &str, now: Timestamp) -> CoreResult<RoleId> {
    let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM roles WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
    if let Some(id) = existing {
        return Ok(RoleId(id));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO roles (name, builtin, created_at, updated_at) VALUES ($1, FALSE, $2, $2) \
         ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .bind(name)
    .bind(now.0)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(RoleId(id))
}

async fn insert_assignment(
    tx: &mut Tx,
    user: UserId,
    role: RoleId,
    is_active: bool,
    actor: Option<&str>,
    now: Timestamp,
) -> CoreResult<AssignmentId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO role_assignments (user_id, role_id, is_active, created_at, created_by, version) \
         VALUES ($1, $2, $3, $4, $5, 0) RETURNING id",
    )
    .bind(user.0)
    .bind(role.0)
    .bind(is_active)
    .bind(now.0)
    .bind(actor)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(AssignmentId(id))
}

impl Counters for Store {
    fn state<'a>(&'a self, keys: &'a [&'a str]) -> CountersFuture<'a, Vec<ThrottleRow>> {
        Box::pin(self.throttle_state(keys))
    }

    fn fail<'a>(
        &'a self,
        key: &'a str,
        now: Timestamp,
        reset_before: Timestamp,
        slide: bool,
    ) -> CountersFuture<'a, i64> {
        Box::pin(self.throttle_fail(key, now, reset_before, slide))
    }

    fn lock<'a>(&'a self, key: &'a str, until: Timestamp) -> CountersFuture<'a, ()> {
        Box::pin(self.throttle_lock(key, until))
    }

    fn clear<'a>(&'a self, key: &'a str) -> CountersFuture<'a, ()> {
        Box::pin(self.throttle_clear(key))
    }
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

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("a%b_c\\"), "a\\%b\\_c\\\\");
    }
}
