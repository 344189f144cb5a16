//! Failed-login counters in Redis (`--redis URL`): for deployments that already run Redis, or
//! several SQLite-backed instances that should share their counters. Each counter is a hash
//! `latchkey:throttle:<key>` with fields `f` (failures), `w` (window start, ms) and `l` (locked
//! until, ms), updated by Lua scripts so that concurrent failures are all counted, and expiring
//! on its own a day after its last change.

use redis::aio::ConnectionManager;
use redis::Script;

use latchkey_core::error::CoreError;
use latchkey_core::limits::{Counters, CountersFuture, ThrottleRow};
use latchkey_core::model::Timestamp;

const PREFIX: &str = "latchkey:throttle:";
/// A counter untouched for this long (plus any lock) is forgotten.
const KEEP_MS: i64 = 86_400_000;

#[derive(Clone)]
pub struct RedisCounters {
    conn: ConnectionManager,
}

fn unavailable(e: redis::RedisError) -> CoreError {
    tracing::debug!(error = %e, "redis unavailable");
    CoreError::Unavailable
}

impl RedisCounters {
    /// Connects, failing with a clear message when Redis cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        let conn = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            ConnectionManager::new(client),
        )
        .await
        .map_err(|_| "cannot reach Redis (timed out)".to_owned())?
        .map_err(|e| format!("cannot reach Redis: {e}"))?;
        Ok(RedisCounters { conn })
    }
}

const FAIL: &str = r#"
local f = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
local w = tonumber(redis.call('HGET', KEYS[1], 'w') or '0')
local now, reset_before, slide, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
if f == 0 or w < reset_before then
  f = 1
  w = now
else
  f = f + 1
  if slide == '1' then w = now end
end
-- Lua numbers are doubles: format them as integers, or Redis reads "1.79e+12".
redis.call('HSET', KEYS[1], 'f', string.format('%d', f), 'w', string.format('%d', w))
local l = tonumber(redis.call('HGET', KEYS[1], 'l') or '0')
redis.call('PEXPIREAT', KEYS[1], string.format('%d', math.max(now, l) + keep))
return f
"#;

const LOCK: &str = r#"
local l = tonumber(redis.call('HGET', KEYS[1], 'l') or '0')
local lock_until = tonumber(ARGV[1])
if lock_until > l then
  redis.call('HSET', KEYS[1], 'l', string.format('%d', lock_until))
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', lock_until + tonumber(ARGV[2])))
end
return 1
"#;

impl Counters for RedisCounters {
    fn state<'a>(&'a self, keys: &'a [&'a str]) -> CountersFuture<'a, Vec<ThrottleRow>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut out = Vec::new();
            for key in keys {
                let (f, w, l): (Option<i64>, Option<i64>, Option<i64>) = redis::cmd("HMGET")
                    .arg(format!("{PREFIX}{key}"))
                    .arg(&["f", "w", "l"])
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                if let Some(failures) = f {
                    out.push(ThrottleRow {
                        key: (*key).to_owned(),
                        failures,
                        window_start: w.unwrap_or(0),
                        locked_until: l,
                    });
                }
            }
            Ok(out)
        })
    }

    fn fail<'a>(
        &'a self,
        key: &'a str,
        now: Timestamp,
        reset_before: Timestamp,
        slide: bool,
    ) -> CountersFuture<'a, i64> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            Script::new(FAIL)
                .key(format!("{PREFIX}{key}"))
                .arg(now.0)
                .arg(reset_before.0)
                .arg(if slide { "1" } else { "0" })
                .arg(KEEP_MS)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)
        })
    }

    fn lock<'a>(&'a self, key: &'a str, until: Timestamp) -> CountersFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: i64 = Script::new(LOCK)
                .key(format!("{PREFIX}{key}"))
                .arg(until.0)
                .arg(KEEP_MS)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn clear<'a>(&'a self, key: &'a str) -> CountersFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: i64 = redis::cmd("DEL")
                .arg(format!("{PREFIX}{key}"))
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn locked<'a>(&'a self, now: Timestamp, limit: u32) -> CountersFuture<'a, Vec<ThrottleRow>> {
        Box::pin(self.scan_locked(now, limit))
    }
}

/// How many keys one console listing of the locks may look at in Redis (SCAN is bounded so
/// a large keyspace cannot stall the page).
const SCAN_BUDGET: usize = 10_000;

impl RedisCounters {
    async fn scan_locked(&self, now: Timestamp, limit: u32) -> Result<Vec<ThrottleRow>, CoreError> {
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut seen = 0usize;
        let mut out = Vec::new();
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{PREFIX}*"))
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            seen += keys.len();
            for k in keys {
                let (f, w, l): (Option<i64>, Option<i64>, Option<i64>) = redis::cmd("HMGET")
                    .arg(&k)
                    .arg(&["f", "w", "l"])
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                if let (Some(failures), Some(l)) = (f, l.filter(|l| *l > now.0)) {
                    out.push(ThrottleRow {
                        key: k[PREFIX.len()..].to_owned(),
                        failures,
                        window_start: w.unwrap_or(0),
                        locked_until: Some(l),
                    });
                }
            }
            cursor = next;
            if cursor == 0 || seen >= SCAN_BUDGET {
                break;
            }
        }
        out.sort_by(|a, b| b.locked_until.cmp(&a.locked_until).then(a.key.cmp(&b.key)));
        out.truncate(limit as usize);
        Ok(out)
    }
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisCounters")
    }
}
