//! The in-process state that lets an authenticated request skip the database: the set of
//! recently ended sessions and a cache of each recently seen user as every edge shows them
//! (profile, organization, active roles, state), so `GET /v1/me` and its dialect twins are
//! answered from memory too.
//!
//! Correctness across instances comes from [`Invalidation`] events: every change writes one in
//! its own transaction, the writing instance applies it at once, and other instances receive
//! it through PostgreSQL NOTIFY and, as a bounded fallback, by polling the `invalidations`
//! table every second (see `latchkey-store`'s `sync` module).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::model::{SessionId, Timestamp, User, UserId};
use crate::oauth::Client;

/// A registered client as client authentication needs it: the registration and its
/// secret's digest.
pub type ClientEntry = Arc<(Client, Option<String>)>;

/// Above this many cached clients the client cache starts over.
const MAX_CACHED_CLIENTS: usize = 10_000;

/// One thing a cached answer may depend on, and that has changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// A session ended: its access tokens are refused from now on.
    Session(SessionId),
    /// A user's state (roles, activity, existence) changed.
    User(UserId),
    /// Something that affects many users changed (a role was renamed or deleted).
    AllUsers,
    /// The signing key set changed.
    Keys,
    /// An OAuth client's registration or secret changed, or it was deleted.
    Client(String),
}

impl Invalidation {
    pub fn encode(&self) -> (&'static str, String) {
        match self {
            Invalidation::Session(s) => ("s", s.0.clone()),
            Invalidation::User(u) => ("u", u.0.to_string()),
            Invalidation::AllUsers => ("a", String::new()),
            Invalidation::Keys => ("k", String::new()),
            Invalidation::Client(c) => ("c", c.clone()),
        }
    }

    pub fn decode(kind: &str, item: &str) -> Option<Self> {
        match kind {
            "s" => Some(Invalidation::Session(SessionId(item.to_owned()))),
            "u" => item.parse().ok().map(|id| Invalidation::User(UserId(id))),
            "a" => Some(Invalidation::AllUsers),
            "k" => Some(Invalidation::Keys),
            "c" => Some(Invalidation::Client(item.to_owned())),
            _ => None,
        }
    }
}

/// Above this many cached users (well under 100 MiB), the cache starts over: it is refilled
/// on demand.
const MAX_CACHED_USERS: usize = 100_000;

#[derive(Default)]
pub struct AuthCache {
    /// Ended sessions, with the time they ended; pruned once no token of theirs can be live.
    ended: RwLock<HashMap<String, Timestamp>>,
    users: RwLock<HashMap<UserId, Arc<User>>>,
    /// Bumped by every user invalidation, so a load that raced with a change is not cached.
    generation: AtomicU64,
    /// Registered clients by id (only ones that exist), for client authentication.
    clients: RwLock<HashMap<String, ClientEntry>>,
    client_generation: AtomicU64,
}

impl AuthCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn session_ended(&self, sid: &str) -> bool {
        self.ended
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(sid)
    }

    pub fn user(&self, id: UserId) -> Option<Arc<User>> {
        self.users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a user loaded at `generation`, unless something changed since.
    pub fn put_user(&self, id: UserId, user: User, generation: u64) -> Arc<User> {
        let user = Arc::new(user);
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            if users.len() >= MAX_CACHED_USERS {
                users.clear();
            }
            users.insert(id, user.clone());
        }
        user
    }

    pub fn client(&self, id: &str) -> Option<ClientEntry> {
        self.clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    pub fn client_generation(&self) -> u64 {
        self.client_generation.load(Ordering::Acquire)
    }

    /// Caches a client loaded at `generation`, unless a client changed since.
    pub fn put_client(&self, entry: (Client, Option<String>), generation: u64) -> ClientEntry {
        let entry = Arc::new(entry);
        let mut clients = self.clients.write().unwrap_or_else(|e| e.into_inner());
        if self.client_generation.load(Ordering::Acquire) == generation {
            if clients.len() >= MAX_CACHED_CLIENTS {
                clients.clear();
            }
            clients.insert(entry.0.id.clone(), entry.clone());
        }
        entry
    }

    /// Applies one event. Returns true when the key set must be reloaded.
    pub fn apply(&self, event: &Invalidation) -> bool {
        match event {
            Invalidation::Session(sid) => {
                self.ended
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(sid.0.clone())
                    .or_insert_with(Timestamp::now);
                false
            }
            Invalidation::User(id) => {
                let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
                self.generation.fetch_add(1, Ordering::AcqRel);
                users.remove(id);
                false
            }
            Invalidation::AllUsers => {
                let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
                self.generation.fetch_add(1, Ordering::AcqRel);
                users.clear();
                false
            }
            Invalidation::Keys => true,
            Invalidation::Client(id) => {
                let mut clients = self.clients.write().unwrap_or_else(|e| e.into_inner());
                self.client_generation.fetch_add(1, Ordering::AcqRel);
                clients.remove(id);
                false
            }
        }
    }

    /// Forgets ended sessions older than `max_token_age_secs`: their tokens have expired.
    pub fn prune(&self, max_token_age_secs: u64) {
        let cutoff = Timestamp(Timestamp::now().0 - (max_token_age_secs as i64 + 60) * 1000);
        self.ended
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, at| *at >= cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(name: &str) -> User {
        User {
            id: UserId(1),
            uuid: "00000000-0000-4000-8000-000000000001".into(),
            username: name.into(),
            email: format!("{name}@example.test"),
            profile: Default::default(),
            organization: None,
            is_active: true,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            roles: vec![],
            default_role: None,
            mfa_enabled: false,
            email_verified: false,
        }
    }

    #[test]
    fn a_load_that_raced_with_a_change_is_not_cached() {
        let c = AuthCache::new();
        let g = c.generation();
        c.apply(&Invalidation::User(UserId(1)));
        c.put_user(UserId(1), u("stale"), g);
        assert!(c.user(UserId(1)).is_none());
        let g = c.generation();
        c.put_user(UserId(1), u("fresh"), g);
        assert_eq!(c.user(UserId(1)).unwrap().username, "fresh");
    }

    #[test]
    fn events_round_trip_through_their_encoding() {
        for e in [
            Invalidation::Session(SessionId("abc".into())),
            Invalidation::User(UserId(42)),
            Invalidation::AllUsers,
            Invalidation::Keys,
            Invalidation::Client("lk_x".into()),
        ] {
            let (k, i) = e.encode();
            assert_eq!(Invalidation::decode(k, &i), Some(e));
        }
        assert_eq!(Invalidation::decode("?", ""), None);
    }

    #[test]
    fn ended_sessions_are_remembered_then_pruned() {
        let c = AuthCache::new();
        c.apply(&Invalidation::Session(SessionId("s".into())));
        assert!(c.session_ended("s"));
        c.prune(900);
        assert!(c.session_ended("s"));
    }
}
