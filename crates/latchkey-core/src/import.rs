//! Import and export records: one user per JSON line, the shape `latchkey import` and
//! `POST /v1/users/import` read and `latchkey export` and `GET /v1/users/export` write. The
//! source adapters of the binary (Keycloak, Django, Supabase, Directus, fastapi-users)
//! translate their origins' exports into these records; the rules applied to them live in
//! `service::import`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;

/// One user, as imported and exported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRecord {
    /// Kept when given (a Latchkey export), so ids survive a move between instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    pub username: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_extension: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Role names; missing roles are created.
    #[serde(default)]
    pub roles: Vec<String>,
    /// An organization name; a missing one is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default = "yes")]
    pub is_active: bool,
    /// RFC 3339, or milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<When>,
    /// A hash in a supported format, or Keycloak's credential object; none: the user needs a
    /// reset or an invitation before they can sign in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<HashField>,
    /// Written by export for a weak imported hash; ignored on import (derived from the hash).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub weak_password_hash: bool,
}

fn yes() -> bool {
    true
}

/// A time as an export gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum When {
    Millis(i64),
    Text(String),
}

impl When {
    pub fn from_timestamp(t: Timestamp) -> Self {
        When::Text(t.to_rfc3339())
    }

    /// Milliseconds since the epoch; RFC 3339 text, or a date-time with a space and no zone
    /// (taken as UTC, as database dumps write it).
    pub fn to_timestamp(&self) -> Option<Timestamp> {
        match self {
            When::Millis(ms) => Some(Timestamp(*ms)),
            When::Text(s) => {
                use time::format_description::well_known::Rfc3339;
                let s = s.trim();
                let parsed = time::OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
                    // "2023-04-05 06:07:08[.123456][+00[:00]]" (PostgreSQL, Django dumps).
                    let t = s.replacen(' ', "T", 1);
                    let t = if t.ends_with("+00") {
                        format!("{t}:00")
                    } else {
                        t
                    };
                    let has_zone =
                        t.ends_with('Z') || t.get(10..).is_some_and(|z| z.contains(['+', '-']));
                    let t = if has_zone { t } else { format!("{t}Z") };
                    time::OffsetDateTime::parse(&t, &Rfc3339).ok()
                })?;
                Some(Timestamp(
                    (parsed.unix_timestamp_nanos() / 1_000_000) as i64,
                ))
            }
        }
    }
}

/// A password hash as a string in any supported format, or Keycloak's credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HashField {
    Text(String),
    Keycloak {
        algorithm: String,
        #[serde(rename = "hashIterations")]
        iterations: u64,
        salt: String,
        value: String,
        /// argon2's parameters, as Keycloak stores them (`{"memory": ["7168"], …}`).
        #[serde(default, rename = "additionalParameters")]
        params: BTreeMap<String, Vec<String>>,
    },
}

/// What to do with a record whose username or email is taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Leave the existing user alone.
    #[default]
    Skip,
    /// Make the existing user match the record (roles are added, never removed).
    Update,
    /// Stop the import at the first conflict or bad line.
    Fail,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    pub on_conflict: OnConflict,
    /// Check and report every line; store nothing.
    pub dry_run: bool,
    /// Take unsalted or salted MD5/SHA-1 hashes (the users are flagged).
    pub accept_weak_hashes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineStatus {
    Created,
    Updated,
    Skipped,
    Failed,
}

impl LineStatus {
    /// The name a report carries.
    pub fn as_str(self) -> &'static str {
        match self {
            LineStatus::Created => "created",
            LineStatus::Updated => "updated",
            LineStatus::Skipped => "skipped",
            LineStatus::Failed => "failed",
        }
    }
}

/// The report of one input line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineReport {
    pub line: u64,
    pub status: LineStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a line that was accepted with a caveat (a weak hash, no password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Counts over a whole import, for its summary and audit event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportTally {
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Set once a line failed under [`OnConflict::Fail`]: the rest are not attempted.
    #[serde(skip)]
    pub stopped: bool,
}

impl ImportTally {
    pub fn count(&mut self, status: LineStatus) {
        match status {
            LineStatus::Created => self.created += 1,
            LineStatus::Updated => self.updated += 1,
            LineStatus::Skipped => self.skipped += 1,
            LineStatus::Failed => self.failed += 1,
        }
    }
}

/// A JSON line as a record, or the reason it is not one.
pub fn parse_line(line: &str) -> Result<ImportRecord, String> {
    serde_json::from_str(line).map_err(|e| format!("not a valid record: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_exports_write_them() {
        let t = |s: &str| When::Text(s.into()).to_timestamp().map(|t| t.0);
        assert_eq!(t("2023-04-05T06:07:08.123Z"), Some(1_680_674_828_123));
        assert_eq!(t("2023-04-05T08:07:08.123+02:00"), Some(1_680_674_828_123));
        assert_eq!(t("2023-04-05 06:07:08.123"), Some(1_680_674_828_123));
        assert_eq!(t("2023-04-05 06:07:08.123+00"), Some(1_680_674_828_123));
        assert_eq!(t("yesterday"), None);
        assert_eq!(When::Millis(5).to_timestamp(), Some(Timestamp(5)));
    }

    #[test]
    fn records_refuse_unknown_fields_and_take_both_hash_shapes() {
        assert!(
            parse_line(r#"{"username":"a","email":"a@x.io","pasword_hash":"x"}"#)
                .unwrap_err()
                .contains("unknown field")
        );
        let r = parse_line(
            r#"{"username":"a","email":"a@x.io","password_hash":{"algorithm":"pbkdf2-sha256","hashIterations":27500,"salt":"c2FsdA==","value":"dmFsdWU="}}"#,
        )
        .unwrap();
        assert!(matches!(
            r.password_hash,
            Some(HashField::Keycloak {
                iterations: 27500,
                ..
            })
        ));
        assert!(r.is_active);
    }
}
