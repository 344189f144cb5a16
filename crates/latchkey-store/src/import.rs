//! Importing users in batches (one transaction per batch: all-new users in multi-row
//! statements, others record by record with a savepoint around each write) and exporting
//! them in id order.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::Row;

use latchkey_core::cache::Invalidation;
use latchkey_core::error::{CoreError, CoreResult};
use latchkey_core::model::*;
use latchkey_core::ports::*;
use latchkey_core::validate::fold;

use crate::roles::{ensure_role, insert_assignment};
use crate::rows::*;
use crate::sql::Sql;
use crate::users::{search_text, write_fields, UserFields};
use crate::{db_err, Store, Tx};

/// Ids of roles and organizations met so far in a batch, by name key.
#[derive(Default)]
struct Names {
    roles: HashMap<String, RoleId>,
    orgs: HashMap<String, OrgId>,
}

#[async_trait]
impl ImportStore for Store {
    async fn import_users(
        &self,
        users: &[ImportedUser],
        update: bool,
        stop_on_conflict: bool,
        dry_run: bool,
        actor: &str,
    ) -> CoreResult<Written<Vec<ImportOutcome>>> {
        if let Some(done) = self.insert_new_batch(users, dry_run, actor).await? {
            return Ok(done);
        }
        let mut tx = self.begin().await?;
        let now = Timestamp::now();
        let mut names = Names::default();
        let mut out = Vec::with_capacity(users.len());
        let mode = Mode {
            update,
            stop: stop_on_conflict,
            actor,
            now,
        };
        for u in users {
            // A record that is skipped or conflicts writes nothing: no savepoint for it.
            let existing = match plan(&mut tx, u, mode).await? {
                Plan::Settled(outcome) => {
                    let stop = stop_on_conflict && matches!(outcome, ImportOutcome::Conflict(_));
                    out.push(outcome);
                    if stop {
                        break;
                    }
                    continue;
                }
                Plan::Insert => None,
                Plan::Update(id) => Some(id),
            };
            savepoint(&mut tx, "SAVEPOINT import_user").await?;
            // Names created under a savepoint that rolls back must not be remembered.
            let mut row_names = Names::default();
            let result = match existing {
                None => insert_all(&mut tx, std::slice::from_ref(u), actor)
                    .await
                    .map(|()| ImportOutcome::Created),
                Some(id) => update_user(self, &mut tx, id, u, mode, &names, &mut row_names)
                    .await
                    .map(|()| ImportOutcome::Updated),
            };
            let outcome = match result {
                Ok(outcome) => {
                    savepoint(&mut tx, "RELEASE SAVEPOINT import_user").await?;
                    names.roles.extend(row_names.roles);
                    names.orgs.extend(row_names.orgs);
                    outcome
                }
                Err(CoreError::Conflict(field)) => {
                    savepoint(&mut tx, "ROLLBACK TO SAVEPOINT import_user").await?;
                    savepoint(&mut tx, "RELEASE SAVEPOINT import_user").await?;
                    ImportOutcome::Conflict(format!("{} already exists", field.as_str()))
                }
                Err(e) => return Err(e),
            };
            let stop = stop_on_conflict && matches!(outcome, ImportOutcome::Conflict(_));
            out.push(outcome);
            if stop {
                break;
            }
        }
        if dry_run {
            tx.rollback().await?;
            return Ok(Written::new(out, Vec::new()));
        }
        tx.done(out).await
    }

    async fn export_users(
        &self,
        after: Option<UserId>,
        limit: u32,
        with_hashes: bool,
    ) -> CoreResult<Vec<ExportedUser>> {
        let sql = format!(
            "{} WHERE u.id > $1 ORDER BY u.id LIMIT {}",
            user_select!("u.password_hash", "u.weak_password_hash"),
            limit.clamp(1, 10_000)
        );
        let rows = sqlx::query(&sql)
            .bind(after.map_or(0, |a| a.0))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        let mut users = rows
            .iter()
            .map(user_from_row)
            .collect::<CoreResult<Vec<_>>>()?;
        self.attach_roles(&mut users).await?;
        users
            .into_iter()
            .zip(rows.iter())
            .map(|(user, r)| {
                Ok(ExportedUser {
                    user,
                    password_hash: if with_hashes {
                        Some(r.try_get("password_hash").map_err(db_err)?)
                    } else {
                        None
                    },
                    weak_hash: get_bool(r, "weak_password_hash")?,
                })
            })
            .collect()
    }
}

/// Rows per multi-row INSERT (users have 19 columns: 760 parameters, under every limit).
const INSERT_CHUNK: usize = 40;

impl Store {
    /// A batch of users none of whom exists yet (no user has their username, email or
    /// uuid, and no two of them share one) goes in with a few multi-row statements instead
    /// of a savepoint and several statements each: what a first import is. `None` when the
    /// batch is not such a one, or a concurrent writer took a name meanwhile; the caller
    /// then takes the record-by-record path, which reports each conflict.
    async fn insert_new_batch(
        &self,
        users: &[ImportedUser],
        dry_run: bool,
        actor: &str,
    ) -> CoreResult<Option<Written<Vec<ImportOutcome>>>> {
        let mut seen = std::collections::HashSet::with_capacity(users.len() * 3);
        for u in users {
            let fresh = seen.insert(format!("u:{}", fold(&u.username)))
                && seen.insert(format!("e:{}", fold(&u.email)))
                && u.uuid
                    .as_ref()
                    .is_none_or(|id| seen.insert(format!("i:{id}")));
            if !fresh {
                return Ok(None);
            }
        }
        let mut probe = Sql::new();
        probe.push("SELECT COUNT(*) FROM users WHERE username_key IN (");
        list(&mut probe, users.iter().map(|u| fold(&u.username)));
        probe.push(") OR email_key IN (");
        list(&mut probe, users.iter().map(|u| fold(&u.email)));
        let uuids: Vec<String> = users.iter().filter_map(|u| u.uuid.clone()).collect();
        if !uuids.is_empty() {
            probe.push(") OR uuid IN (");
            list(&mut probe, uuids.into_iter());
        }
        probe.push(")");
        let taken: i64 = probe
            .query_scalar()
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?;
        if taken > 0 {
            return Ok(None);
        }
        let mut tx = self.begin().await?;
        match insert_all(&mut tx, users, actor).await {
            Ok(()) => {}
            Err(CoreError::Conflict(_)) => {
                tx.rollback().await?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        let out = vec![ImportOutcome::Created; users.len()];
        if dry_run {
            tx.rollback().await?;
            return Ok(Some(Written::new(out, Vec::new())));
        }
        tx.done(out).await.map(Some)
    }
}

/// `$1, $2, …` for each value.
fn list(sql: &mut Sql, values: impl Iterator<Item = String>) {
    for (i, v) in values.enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind_text(v);
    }
}

async fn insert_all(tx: &mut Tx, users: &[ImportedUser], actor: &str) -> CoreResult<()> {
    let now = Timestamp::now();
    let (known, mut names) = (Names::default(), Names::default());
    let mut orgs = Vec::with_capacity(users.len());
    for u in users {
        orgs.push(match &u.organization {
            Some(name) => Some(org_id(tx, name, now, &known, &mut names).await?.0),
            None => None,
        });
    }
    for (chunk, orgs) in users.chunks(INSERT_CHUNK).zip(orgs.chunks(INSERT_CHUNK)) {
        let mut sql = Sql::new();
        sql.push(
            "INSERT INTO users (uuid, username, username_key, email, email_key, password_hash, \
             first_name, middle_name, last_name, name_extension, display_name, contact_number, \
             address, organization_id, is_active, search_text, weak_password_hash, created_at, \
             updated_at) VALUES ",
        );
        for (i, (u, org)) in chunk.iter().zip(orgs).enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" });
            let p = &u.profile;
            sql.bind_text(
                u.uuid
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            );
            for v in [
                u.username.clone(),
                fold(&u.username),
                u.email.clone(),
                fold(&u.email),
                u.password_hash.clone().unwrap_or_default(),
            ] {
                sql.push(", ");
                sql.bind_text(v);
            }
            for v in [
                &p.first_name,
                &p.middle_name,
                &p.last_name,
                &p.name_extension,
                &p.display_name,
                &p.contact_number,
                &p.address,
            ] {
                sql.push(", ");
                sql.bind_opt_text(v.as_deref());
            }
            sql.push(", ");
            sql.bind_opt_int(*org);
            sql.push(", ");
            sql.bind_bool(u.is_active);
            sql.push(", ");
            sql.bind_text(search_text(&u.username, &u.email, p));
            sql.push(", ");
            sql.bind_bool(u.weak_hash);
            sql.push(", ");
            sql.bind_int(u.created_at.unwrap_or(now).0);
            sql.push(", ");
            sql.bind_int(now.0);
            sql.push(")");
        }
        sql.query().execute(&mut **tx).await.map_err(db_err)?;
    }
    // Role assignments: the new users' ids by username, then one insert per chunk.
    let mut grants: Vec<(String, RoleId)> = Vec::new();
    for u in users {
        for r in &u.roles {
            grants.push((
                fold(&u.username),
                role_id(tx, r, now, &known, &mut names).await?,
            ));
        }
    }
    if grants.is_empty() {
        return Ok(());
    }
    let mut ids: HashMap<String, i64> = HashMap::with_capacity(users.len());
    for chunk in users.chunks(500) {
        let mut sql = Sql::new();
        sql.push("SELECT id, username_key FROM users WHERE username_key IN (");
        list(&mut sql, chunk.iter().map(|u| fold(&u.username)));
        sql.push(")");
        for row in sql.query().fetch_all(&mut **tx).await.map_err(db_err)? {
            ids.insert(
                row.try_get("username_key").map_err(db_err)?,
                row.try_get("id").map_err(db_err)?,
            );
        }
    }
    for chunk in grants.chunks(100) {
        let mut sql = Sql::new();
        sql.push(
            "INSERT INTO role_assignments (user_id, role_id, is_active, created_at, created_by, \
             version) VALUES ",
        );
        for (i, (key, role)) in chunk.iter().enumerate() {
            let id = *ids.get(key).ok_or_else(|| {
                CoreError::internal(std::io::Error::other("an imported user vanished"))
            })?;
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.bind_int(id);
            sql.push(", ");
            sql.bind_int(role.0);
            sql.push(", TRUE, ");
            sql.bind_int(now.0);
            sql.push(", ");
            sql.bind_text(actor.to_owned());
            sql.push(", 0)");
        }
        sql.query().execute(&mut **tx).await.map_err(db_err)?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Mode<'a> {
    update: bool,
    stop: bool,
    actor: &'a str,
    now: Timestamp,
}

async fn savepoint(tx: &mut Tx, sql: &str) -> CoreResult<()> {
    sqlx::query(sql)
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(db_err)
}

/// What to do with a record, from the users it matches.
enum Plan {
    Insert,
    Update(UserId),
    /// Skipped or in conflict: nothing to write.
    Settled(ImportOutcome),
}

async fn plan(tx: &mut Tx, u: &ImportedUser, mode: Mode<'_>) -> CoreResult<Plan> {
    let rows = sqlx::query(
        "SELECT id FROM users WHERE username_key = $1 OR email_key = $2 \
         OR uuid = $3 ORDER BY id",
    )
    .bind(fold(&u.username))
    .bind(fold(&u.email))
    .bind(u.uuid.as_deref().unwrap_or(""))
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)?;
    let mut ids: Vec<i64> = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: i64 = r.try_get("id").map_err(db_err)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(match ids[..] {
        [] => Plan::Insert,
        [id] if mode.update => Plan::Update(UserId(id)),
        [_] if mode.stop => Plan::Settled(ImportOutcome::Conflict(
            "username or email already exists".into(),
        )),
        [_] => Plan::Settled(ImportOutcome::Skipped),
        _ => Plan::Settled(ImportOutcome::Conflict(
            "username, email and uuid belong to different existing users".into(),
        )),
    })
}

/// Makes an existing user match the record: fields, organization, the hash when one is
/// given (ending their sessions if it changed), and the record's roles added.
async fn update_user(
    store: &Store,
    tx: &mut Tx,
    id: UserId,
    u: &ImportedUser,
    mode: Mode<'_>,
    known: &Names,
    new: &mut Names,
) -> CoreResult<()> {
    let org = match &u.organization {
        Some(name) => Some(org_id(tx, name, mode.now, known, new).await?),
        None => None,
    };
    let fields = UserFields {
        username: &u.username,
        email: &u.email,
        profile: &u.profile,
        organization: org,
        is_active: u.is_active,
        created_at: u.created_at,
    };
    write_fields(tx, id, &fields, mode.now).await?;
    if let Some(hash) = &u.password_hash {
        let changed = sqlx::query(
            "UPDATE users SET password_hash = $2, weak_password_hash = $3 \
             WHERE id = $1 AND password_hash <> $2",
        )
        .bind(id.0)
        .bind(hash)
        .bind(u.weak_hash)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if changed > 0 {
            store
                .end_user_sessions_tx(tx, id, None, "password imported")
                .await?;
        }
    }
    for role in &u.roles {
        let role = role_id(tx, role, mode.now, known, new).await?;
        let n = sqlx::query(
            "UPDATE role_assignments SET is_active = TRUE, updated_at = $3, updated_by = $4, \
             version = version + 1 WHERE user_id = $1 AND role_id = $2 AND is_active = FALSE",
        )
        .bind(id.0)
        .bind(role.0)
        .bind(mode.now.0)
        .bind(mode.actor)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            let held: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM role_assignments WHERE user_id = $1 AND role_id = $2",
            )
            .bind(id.0)
            .bind(role.0)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
            if held.is_none() {
                insert_assignment(tx, id, role, true, Some(mode.actor), mode.now).await?;
            }
        }
    }
    tx.emit(&[Invalidation::User(id)]).await
}

async fn role_id(
    tx: &mut Tx,
    name: &str,
    now: Timestamp,
    known: &Names,
    new: &mut Names,
) -> CoreResult<RoleId> {
    if let Some(id) = known.roles.get(name).or_else(|| new.roles.get(name)) {
        return Ok(*id);
    }
    let id = ensure_role(tx, name, now).await?;
    new.roles.insert(name.to_owned(), id);
    Ok(id)
}

/// The organization of that name, created if missing.
async fn org_id(
    tx: &mut Tx,
    name: &str,
    now: Timestamp,
    known: &Names,
    new: &mut Names,
) -> CoreResult<OrgId> {
    let key = fold(name);
    if let Some(id) = known.orgs.get(&key).or_else(|| new.orgs.get(&key)) {
        return Ok(*id);
    }
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT id FROM organizations WHERE name_key = $1")
            .bind(&key)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
    let id = match existing {
        Some(id) => id,
        None => sqlx::query_scalar(
            "INSERT INTO organizations (uuid, name, name_key, description, created_at, \
             updated_at) VALUES ($1, $2, $3, NULL, $4, $4) RETURNING id",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(name)
        .bind(&key)
        .bind(now.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?,
    };
    new.orgs.insert(key, OrgId(id));
    Ok(OrgId(id))
}
