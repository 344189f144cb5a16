//! The audit log: an append-only record of security events, each with the actor, the target,
//! the client's address and user agent, and the time — never a secret.
//!
//! The client of the request being served is carried in a task-local set by the HTTP layer,
//! so the core can record it without every operation taking it as a parameter.

use super::model::{ClientInfo, Principal, Timestamp, UserId};

tokio::task_local! {
    /// The client of the request this task is serving.
    pub static CLIENT: ClientInfo;
}

/// The client of the current request, if any (the CLI has none).
pub fn current_client() -> ClientInfo {
    CLIENT.try_with(Clone::clone).unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub action: &'static str,
    pub outcome: Outcome,
    pub actor: Option<(UserId, String)>,
    pub target: Option<(&'static str, String)>,
    pub detail: Option<String>,
}

impl AuditEvent {
    pub fn new(action: &'static str) -> Self {
        AuditEvent {
            action,
            outcome: Outcome::Success,
            actor: None,
            target: None,
            detail: None,
        }
    }

    pub fn failed(mut self) -> Self {
        self.outcome = Outcome::Failure;
        self
    }

    pub fn by(mut self, p: &Principal) -> Self {
        self.actor = Some((p.user_id, p.username.clone()));
        self
    }

    pub fn by_user(mut self, id: UserId, name: &str) -> Self {
        self.actor = Some((id, name.to_owned()));
        self
    }

    pub fn on(mut self, kind: &'static str, id: impl ToString) -> Self {
        self.target = Some((kind, id.to_string()));
        self
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: Timestamp,
    pub action: String,
    pub outcome: String,
    pub actor_id: Option<i64>,
    pub actor: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

/// Filters on the audit log; all must hold.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub actor_id: Option<i64>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only events with an id above this (for tailing).
    pub after_id: Option<i64>,
}
