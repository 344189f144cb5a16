//! Import and export of users: records checked by the same rules as any new account, hashes
//! kept in their original format (verified and upgraded at the next login), and reports
//! that say of each line what became of it.

use crate::access::Admin;
use crate::audit::AuditEvent;
use crate::error::CoreResult;
use crate::import::*;
use crate::model::*;
use crate::password::legacy::{KeycloakCredential, Scheme};
use crate::ports::{ExportedUser, ImportOutcome, ImportedUser};
use crate::service::accounts::clean_profile;
use crate::service::roles::clean_roles;
use crate::validate;

/// Lines read per store transaction by the edges.
pub const IMPORT_BATCH: usize = 500;

/// How far in the future a `created_at` may be (clock skew between the old system and this).
const CREATED_AT_SLACK_MS: i64 = 86_400_000;

impl Admin<'_> {
    /// Checks and stores a batch of input lines (each either a record or why it is not one),
    /// and reports on each. Under [`OnConflict::Fail`] the first failing line stops the
    /// import: `tally.stopped` is set and the remaining lines are reported as not attempted.
    pub async fn import_lines(
        &self,
        lines: Vec<(u64, Result<ImportRecord, String>)>,
        opts: &ImportOptions,
        tally: &mut ImportTally,
    ) -> CoreResult<Vec<LineReport>> {
        let stop_on_failure = opts.on_conflict == OnConflict::Fail;
        let mut reports = Vec::with_capacity(lines.len());
        let mut valid: Vec<(usize, ImportedUser)> = Vec::new();
        for (line, record) in lines {
            if tally.stopped {
                reports.push(not_attempted(line));
                continue;
            }
            let username = record.as_ref().ok().map(|r| r.username.clone());
            match record.and_then(|r| clean(r, opts)) {
                Ok((user, warning)) => {
                    reports.push(LineReport {
                        line,
                        status: LineStatus::Created,
                        username,
                        error: None,
                        warning,
                    });
                    valid.push((reports.len() - 1, user));
                }
                Err(error) => {
                    reports.push(LineReport {
                        line,
                        status: LineStatus::Failed,
                        username,
                        error: Some(error),
                        warning: None,
                    });
                    tally.stopped = stop_on_failure;
                }
            }
        }
        let users: Vec<ImportedUser> = valid.iter().map(|(_, u)| u.clone()).collect();
        let outcomes = if users.is_empty() {
            Vec::new()
        } else {
            let w = self
                .svc
                .store
                .import_users(
                    &users,
                    opts.on_conflict == OnConflict::Update,
                    stop_on_failure,
                    opts.dry_run,
                    &self.actor_ref(),
                )
                .await?;
            self.svc.applied(w)
        };
        for (i, (at, _)) in valid.iter().enumerate() {
            let report = &mut reports[*at];
            match outcomes.get(i) {
                Some(ImportOutcome::Created) => report.status = LineStatus::Created,
                Some(ImportOutcome::Updated) => report.status = LineStatus::Updated,
                Some(ImportOutcome::Skipped) => {
                    report.status = LineStatus::Skipped;
                    report.error = Some("username or email already exists".into());
                    report.warning = None;
                }
                Some(ImportOutcome::Conflict(why)) => {
                    report.status = LineStatus::Failed;
                    report.error = Some(why.clone());
                    report.warning = None;
                    tally.stopped = stop_on_failure;
                }
                None => *report = not_attempted(report.line),
            }
        }
        for r in &reports {
            tally.count(r.status);
            if !opts.dry_run {
                let status = r.status.as_str();
                metrics::counter!("latchkey_users_imported_total", "status" => status).increment(1);
            }
        }
        Ok(reports)
    }

    /// Records the import in the audit log, with its counts.
    pub async fn finish_import(&self, tally: &ImportTally, opts: &ImportOptions) {
        let mut detail = format!(
            "created {}, updated {}, skipped {}, failed {}",
            tally.created, tally.updated, tally.skipped, tally.failed
        );
        if opts.dry_run {
            detail.push_str("; dry run, nothing stored");
        }
        let mut event = AuditEvent::new("users.imported").detail(detail);
        if tally.failed > 0 {
            event = event.failed();
        }
        self.record(event).await;
    }

    /// Records that an export begins (an export with hashes is a security event).
    pub async fn start_export(&self, with_hashes: bool) {
        let detail = if with_hashes {
            "with password hashes"
        } else {
            "without password hashes"
        };
        self.record(AuditEvent::new("users.exported").detail(detail))
            .await;
    }

    /// Up to `limit` users after `after`, as records (the last one's id continues).
    pub async fn export_page(
        &self,
        after: Option<UserId>,
        limit: u32,
        with_hashes: bool,
    ) -> CoreResult<Vec<(UserId, ImportRecord)>> {
        let users = self
            .svc
            .store
            .export_users(after, limit, with_hashes)
            .await?;
        Ok(users.into_iter().map(to_record).collect())
    }
}

fn to_record(e: ExportedUser) -> (UserId, ImportRecord) {
    let u = e.user;
    let p = u.profile;
    let record = ImportRecord {
        uuid: Some(u.uuid),
        username: u.username,
        email: u.email,
        first_name: p.first_name,
        middle_name: p.middle_name,
        last_name: p.last_name,
        name_extension: p.name_extension,
        display_name: p.display_name,
        contact_number: p.contact_number,
        address: p.address,
        roles: u.roles,
        organization: u.organization.map(|o| o.name),
        is_active: u.is_active,
        created_at: Some(When::from_timestamp(u.created_at)),
        password_hash: e
            .password_hash
            .filter(|h| !h.is_empty())
            .map(HashField::Text),
        weak_password_hash: e.weak_hash,
    };
    (u.id, record)
}

fn not_attempted(line: u64) -> LineReport {
    LineReport {
        line,
        status: LineStatus::Skipped,
        username: None,
        error: Some("not attempted: an earlier line failed (on-conflict fail)".into()),
        warning: None,
    }
}

/// A record checked by the rules of a new account; the hash parsed, within cost limits.
fn clean(r: ImportRecord, opts: &ImportOptions) -> Result<(ImportedUser, Option<String>), String> {
    let e = |e: crate::error::CoreError| e.to_string();
    let uuid = r
        .uuid
        .map(|u| {
            uuid::Uuid::parse_str(&u)
                .map(|u| u.hyphenated().to_string())
                .map_err(|_| "uuid: must be a UUID".to_owned())
        })
        .transpose()?;
    let username = validate::username(&r.username).map_err(e)?;
    let email = validate::email(&r.email).map_err(e)?;
    let profile = clean_profile(Profile {
        first_name: r.first_name,
        middle_name: r.middle_name,
        last_name: r.last_name,
        name_extension: r.name_extension,
        display_name: r.display_name,
        contact_number: r.contact_number,
        address: r.address,
    })
    .map_err(e)?;
    let roles = clean_roles(&r.roles).map_err(e)?;
    let organization = r
        .organization
        .filter(|o| !o.trim().is_empty())
        .map(|o| validate::org_name(&o))
        .transpose()
        .map_err(e)?;
    let created_at = match r.created_at {
        None => None,
        Some(w) => {
            let t = w
                .to_timestamp()
                .filter(|t| t.0 >= 0 && t.0 <= Timestamp::now().0 + CREATED_AT_SLACK_MS);
            Some(t.ok_or(
                "created_at: must be RFC 3339 or milliseconds since 1970, and not in the future",
            )?)
        }
    };
    let hash = match r.password_hash {
        None => None,
        Some(HashField::Text(s)) if s.trim().is_empty() => None,
        Some(HashField::Text(s)) => Some(s.trim().to_owned()),
        Some(HashField::Keycloak {
            algorithm,
            iterations,
            salt,
            value,
            params,
        }) => {
            let kc = KeycloakCredential {
                algorithm: &algorithm,
                iterations,
                salt: &salt,
                value: &value,
                params: params
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.first()?.as_str())))
                    .collect(),
            };
            Some(kc.to_phc().map_err(|e| format!("password_hash: {e}"))?)
        }
    };
    let (weak, warning) = match &hash {
        None => (
            false,
            Some("no password: the user must reset it or be invited".to_owned()),
        ),
        Some(h) => {
            let scheme = Scheme::for_import(h, opts.accept_weak_hashes)
                .map_err(|e| format!("password_hash: {e}"))?;
            let weak = scheme.is_weak();
            let warning = weak.then(|| {
                format!(
                    "{} hash accepted as weak: the user is flagged to reset",
                    scheme.name()
                )
            });
            (weak, warning)
        }
    };
    Ok((
        ImportedUser {
            uuid,
            username,
            email,
            profile,
            roles,
            organization,
            is_active: r.is_active,
            created_at,
            password_hash: hash,
            weak_hash: weak,
        },
        warning,
    ))
}
