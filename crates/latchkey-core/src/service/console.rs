//! What the admin console reads and does beyond the API's operations: the overview's figures,
//! one user's sessions (each of which can be ended), the current sign-in locks (which can be
//! lifted), and the signing keys. Every change is audited with the administrator as actor.

use crate::access::Admin;
use crate::audit::{AuditEvent, AuditQuery, AuditRecord};
use crate::error::{CoreError, CoreResult, Entity};
use crate::keys::KeyAlg;
use crate::model::{Session, SessionId, Timestamp, UserId};

/// Sign-ins in one hour of the overview's chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourlyLogins {
    /// The hour's start.
    pub start: Timestamp,
    pub succeeded: i64,
    pub failed: i64,
}

/// A failed-login counter that is locked now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentLock {
    /// `id:<identifier as typed, folded>` or `ip:<address>`.
    pub key: String,
    pub failures: i64,
    pub until: Timestamp,
}

impl CurrentLock {
    /// What is locked, for people: the identifier or the address.
    pub fn subject(&self) -> (&'static str, &str) {
        match self.key.split_once(':') {
            Some(("ip", a)) => ("address", a),
            Some((_, i)) => ("identifier", i),
            None => ("identifier", &self.key),
        }
    }
}

/// The console's first page.
#[derive(Debug, Clone)]
pub struct Overview {
    pub users: i64,
    pub active_sessions: i64,
    /// The last 24 hours, oldest first, one entry per hour (the current one last).
    pub logins: Vec<HourlyLogins>,
    pub locks: Vec<CurrentLock>,
    /// The newest security events.
    pub recent: Vec<AuditRecord>,
}

/// A signing key as the console lists it (never its private half).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: KeyAlg,
    pub created_at: Timestamp,
    /// When it stopped signing; it still verifies until its tokens have expired.
    pub retired_at: Option<Timestamp>,
}

const HOUR_MS: i64 = 3_600_000;
/// How many locks the overview lists.
const LOCKS_SHOWN: u32 = 20;

impl Admin<'_> {
    pub async fn overview(&self) -> CoreResult<Overview> {
        let store = &self.svc.store;
        let now = Timestamp::now();
        let this_hour = now.0.div_euclid(HOUR_MS);
        let first = this_hour - 23;
        let mut logins: Vec<HourlyLogins> = (first..=this_hour)
            .map(|h| HourlyLogins {
                start: Timestamp(h * HOUR_MS),
                succeeded: 0,
                failed: 0,
            })
            .collect();
        for (hour, outcome, n) in store
            .audit_hourly("login", Timestamp(first * HOUR_MS))
            .await?
        {
            let Some(slot) = usize::try_from(hour - first)
                .ok()
                .and_then(|i| logins.get_mut(i))
            else {
                continue;
            };
            if outcome == "success" {
                slot.succeeded += n;
            } else {
                slot.failed += n;
            }
        }
        let locks = self
            .svc
            .counters
            .locked(now, LOCKS_SHOWN)
            .await?
            .into_iter()
            .filter_map(|r| {
                Some(CurrentLock {
                    until: Timestamp(r.locked_until?),
                    key: r.key,
                    failures: r.failures,
                })
            })
            .collect();
        let (recent, _) = store
            .list_audit(&AuditQuery::default(), 0, 8, false)
            .await?;
        Ok(Overview {
            users: store.count_users().await?,
            active_sessions: store.count_active_sessions(now).await?,
            logins,
            locks,
            recent,
        })
    }

    /// A user's live sessions, newest first.
    pub async fn user_sessions(&self, id: UserId) -> CoreResult<Vec<Session>> {
        self.svc.user_or_gone(id).await?;
        self.svc.store.list_sessions(id, Timestamp::now()).await
    }

    /// Ends one of a user's sessions: its tokens are refused from now on, on every instance.
    pub async fn end_user_session(&self, id: UserId, sid: &SessionId) -> CoreResult<()> {
        if sid.0.contains('\0') || sid.0.len() > 200 {
            return Err(CoreError::NotFound(Entity::Session));
        }
        match self.svc.store.get_session(sid).await? {
            Some(s) if s.user_id == id && s.revoked_at.is_none() => {
                let w = self.svc.store.end_session(sid, "ended by admin").await?;
                self.svc.applied(w);
                self.record(AuditEvent::new("session.ended").on("session", sid))
                    .await;
                Ok(())
            }
            _ => Err(CoreError::NotFound(Entity::Session)),
        }
    }

    /// Lifts a sign-in lock (`key` as [`CurrentLock::key`]).
    pub async fn unlock(&self, key: &str) -> CoreResult<()> {
        let well_formed = (key.starts_with("id:") || key.starts_with("ip:"))
            && key.len() <= 600
            && !key.contains('\0');
        if !well_formed {
            return Err(CoreError::NotFound(Entity::Lock));
        }
        self.svc.counters.clear(key).await?;
        self.record(AuditEvent::new("login.unlocked").detail(key.to_owned()))
            .await;
        Ok(())
    }

    /// The signing keys, newest first.
    pub async fn signing_keys(&self) -> CoreResult<Vec<KeyInfo>> {
        let mut keys: Vec<KeyInfo> = self
            .svc
            .store
            .list_keys()
            .await?
            .into_iter()
            .map(|k| KeyInfo {
                kid: k.kid,
                alg: k.alg,
                created_at: k.created_at,
                retired_at: k.retired_at,
            })
            .collect();
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.kid.cmp(&b.kid)));
        Ok(keys)
    }

    /// A new signing key for each algorithm, recorded as this administrator's doing.
    pub async fn rotate_keys(&self) -> CoreResult<Vec<String>> {
        self.svc.rotate_keys_by(Some(self.actor)).await
    }
}

impl crate::service::Latchkey {
    /// Whether `user`'s role requires a second factor they have not set up yet (such a
    /// session reaches only its own enrollment, in the console as in the API).
    pub fn must_enroll_factor(&self, user: &crate::model::User) -> bool {
        self.must_enroll(user)
    }
}

impl Admin<'_> {
    /// The assignment of `role` to `user`, if there is one (active or not).
    async fn assignment_of(
        &self,
        user: UserId,
        role: &str,
    ) -> CoreResult<Option<crate::model::Assignment>> {
        let q = crate::model::AssignmentQuery {
            user_id: Some(user),
            role: Some(crate::validate::role_name(role)?),
            ..Default::default()
        };
        Ok(self.list_assignments(&q, 0, 1).await?.0.into_iter().next())
    }

    /// Grants `role` keeping the assignment's history: an inactive assignment is made active
    /// again, else a new one is made. Holding the role already is a conflict.
    pub async fn grant_role(&self, user: UserId, role: &str) -> CoreResult<()> {
        self.svc.user_or_gone(user).await?;
        match self.assignment_of(user, role).await? {
            Some(a) if a.is_active => {
                Err(CoreError::Conflict(crate::error::UniqueField::Assignment))
            }
            Some(a) => self
                .update_assignment(a.id, None, None, Some(true))
                .await
                .map(|_| ()),
            None => self.assign_role(user, role, true).await.map(|_| ()),
        }
    }

    /// Withdraws `role`, keeping the assignment (inactive) as history.
    pub async fn withdraw_role(&self, user: UserId, role: &str) -> CoreResult<()> {
        match self.assignment_of(user, role).await? {
            Some(a) if a.is_active => self
                .update_assignment(a.id, None, None, Some(false))
                .await
                .map(|_| ()),
            _ => Err(CoreError::NotFound(Entity::Assignment)),
        }
    }
}
