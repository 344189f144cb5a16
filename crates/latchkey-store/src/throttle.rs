//! Failed-login counters in the database (the default; Redis with `--redis`).

use sqlx::Row;

use latchkey_core::error::CoreResult;
use latchkey_core::limits::{Counters, CountersFuture, ThrottleRow};
use latchkey_core::model::*;

use crate::{db_err, Store};

impl Store {
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

    fn locked<'a>(&'a self, now: Timestamp, limit: u32) -> CountersFuture<'a, Vec<ThrottleRow>> {
        Box::pin(self.throttle_locked(now, limit))
    }
}

impl Store {
    /// The identifiers and addresses locked now, the longest lock first.
    pub async fn throttle_locked(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> CoreResult<Vec<ThrottleRow>> {
        let rows = sqlx::query(
            "SELECT key, failures, window_start, locked_until FROM login_throttle \
             WHERE locked_until > $1 ORDER BY locked_until DESC, key LIMIT $2",
        )
        .bind(now.0)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(ThrottleRow {
                    key: r.try_get("key").map_err(db_err)?,
                    failures: r.try_get("failures").map_err(db_err)?,
                    window_start: r.try_get("window_start").map_err(db_err)?,
                    locked_until: r.try_get("locked_until").map_err(db_err)?,
                })
            })
            .collect()
    }
}
