//! Abuse resistance: the login throttle's policy (its counters live in the database, so every
//! instance on one PostgreSQL shares them) and per-address rate limits on sign-up, refresh and
//! password change (counted in process, per instance).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Brute-force protection (CONTRACT.md "Brute-force defaults").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Consecutive failures for one identifier before it locks.
    pub lock_after: u32,
    /// The first lock; each further failure doubles it.
    pub lock_base_secs: u64,
    /// The longest lock.
    pub lock_max_secs: u64,
    /// Failures from one client address within `address_window_secs` before it is throttled.
    pub address_limit: u32,
    pub address_window_secs: u64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            lock_after: 10,
            lock_base_secs: 60,
            lock_max_secs: 15 * 60,
            address_limit: 300,
            address_window_secs: 15 * 60,
        }
    }
}

impl ThrottlePolicy {
    /// How long an identifier stays locked after its `failures`-th consecutive failure.
    pub fn lock_for(&self, failures: u32) -> Option<Duration> {
        if self.lock_after == 0 || failures < self.lock_after {
            return None;
        }
        let doublings = (failures - self.lock_after).min(30);
        let secs = self
            .lock_base_secs
            .saturating_mul(1u64 << doublings)
            .min(self.lock_max_secs);
        Some(Duration::from_secs(secs.max(1)))
    }
}

/// A failed-login counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleRow {
    pub key: String,
    pub failures: i64,
    /// Milliseconds since the epoch.
    pub window_start: i64,
    pub locked_until: Option<i64>,
}

/// A boxed future of a counter operation.
pub type CountersFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = super::error::CoreResult<T>> + Send + 'a>>;

/// Where failed-login counters live: the database by default (shared by every instance on
/// one PostgreSQL), or Redis with `--redis`.
pub trait Counters: Send + Sync {
    /// The counters for these keys that exist.
    fn state<'a>(&'a self, keys: &'a [&'a str]) -> CountersFuture<'a, Vec<ThrottleRow>>;
    /// Counts a failure atomically; the count starts over when its window began before
    /// `reset_before`. With `slide`, each failure restarts the window. Returns the count.
    fn fail<'a>(
        &'a self,
        key: &'a str,
        now: super::model::Timestamp,
        reset_before: super::model::Timestamp,
        slide: bool,
    ) -> CountersFuture<'a, i64>;
    /// Locks `key` until `until`, never shortening a lock.
    fn lock<'a>(&'a self, key: &'a str, until: super::model::Timestamp) -> CountersFuture<'a, ()>;
    fn clear<'a>(&'a self, key: &'a str) -> CountersFuture<'a, ()>;
    /// Up to `limit` counters locked at `now`, the longest lock first (the console's list).
    fn locked<'a>(
        &'a self,
        now: super::model::Timestamp,
        limit: u32,
    ) -> CountersFuture<'a, Vec<ThrottleRow>>;
}

/// Requests allowed per client address per window; `0` turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Public sign-ups per address per hour.
    pub register_per_hour: u32,
    /// Refresh-token exchanges per address per minute.
    pub refresh_per_minute: u32,
    /// Password changes per address per hour.
    pub password_per_hour: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            register_per_hour: 60,
            refresh_per_minute: 600,
            password_per_hour: 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limited {
    Register,
    Refresh,
    Password,
    /// Requests to endpoints that send mail.
    Mail,
}

/// Fixed-window counters per (action, address), in memory.
#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<(Limited, String), (Instant, u32)>>,
}

const MAX_TRACKED: usize = 100_000;

impl RateLimiter {
    /// Counts one request; `Err(retry_after)` when over the limit.
    pub fn check(
        &self,
        what: Limited,
        address: &str,
        limit: u32,
        window: Duration,
    ) -> Result<(), Duration> {
        if limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut map = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = map.entry((what, address.to_owned())).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            return Err(window
                .saturating_sub(now.duration_since(entry.0))
                .max(Duration::from_secs(1)));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_start_at_the_threshold_and_double_to_the_cap() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.lock_for(9), None);
        assert_eq!(p.lock_for(10), Some(Duration::from_secs(60)));
        assert_eq!(p.lock_for(11), Some(Duration::from_secs(120)));
        assert_eq!(p.lock_for(13), Some(Duration::from_secs(480)));
        assert_eq!(p.lock_for(14), Some(Duration::from_secs(900)));
        assert_eq!(p.lock_for(1000), Some(Duration::from_secs(900)));
        let off = ThrottlePolicy { lock_after: 0, ..p };
        assert_eq!(off.lock_for(50), None);
    }

    #[test]
    fn rate_limits_count_per_address_and_action() {
        let r = RateLimiter::default();
        let w = Duration::from_secs(60);
        assert!(r.check(Limited::Refresh, "a", 2, w).is_ok());
        assert!(r.check(Limited::Refresh, "a", 2, w).is_ok());
        assert!(r.check(Limited::Refresh, "a", 2, w).is_err());
        assert!(r.check(Limited::Refresh, "b", 2, w).is_ok());
        assert!(r.check(Limited::Register, "a", 2, w).is_ok());
        assert!(r.check(Limited::Refresh, "a", 0, w).is_ok(), "0 is off");
    }
}
