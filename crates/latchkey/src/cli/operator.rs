//! Operator commands on the database itself: `user …`, `keys rotate`, `audit tail`. They
//! act as the database's operator (an administrator) and build the core from the same
//! settings as `serve`.

use std::io::BufRead;
use std::time::Duration;

use super::args::{AuditCommand, KeysCommand, UserCommand};
use super::config::service;
use super::{describe, init_logging, Fatal};
use crate::core::model::{PageRequest, UserId, UserQuery, TOTAL_BOUND};
use crate::core::service::NewAccount;
use crate::core::{roles, Latchkey};

pub(super) async fn user(cmd: UserCommand) -> Result<(), Fatal> {
    let (UserCommand::Create { svc: opts, .. }
    | UserCommand::List { svc: opts, .. }
    | UserCommand::SetPassword { svc: opts, .. }
    | UserCommand::Grant { svc: opts, .. }
    | UserCommand::Revoke { svc: opts, .. }
    | UserCommand::MfaReset { svc: opts, .. }) = &cmd;
    let db = opts.db.clone();
    init_logging(db.log_format);
    let svc = service(opts, true).await?;
    let op = Latchkey::operator();
    let admin = svc.admin(&op).map_err(|e| describe(e, &db.database))?;
    match cmd {
        UserCommand::Create {
            username,
            email,
            mut roles,
            admin: grant_admin,
            password_stdin,
            ..
        } => {
            if grant_admin {
                roles.push(roles::ADMIN.to_owned());
            }
            let (password, generated) = read_password(password_stdin)?;
            let account = NewAccount {
                username,
                email,
                password: password.clone(),
                roles,
                is_active: true,
                ..Default::default()
            };
            let u = admin
                .create_user(account)
                .await
                .map_err(|e| describe(e, &db.database))?;
            println!(
                "created user {} (id {}) roles [{}]",
                u.username,
                u.id,
                u.roles.join(", ")
            );
            if generated {
                println!("generated password: {password}");
            }
            Ok(())
        }
        UserCommand::List {
            search,
            limit,
            weak_hashes,
            exact_total,
            ..
        } => {
            let q = UserQuery {
                search,
                weak_password_hash: weak_hashes.then_some(true),
                count_at_most: (!exact_total).then_some(TOTAL_BOUND),
                ..Default::default()
            };
            let page = admin
                .list_users(&q, &PageRequest::Offset { offset: 0, limit })
                .await
                .map_err(|e| describe(e, &db.database))?;
            println!(
                "{:>8}  {:<24}  {:<32}  {:<6}  roles",
                "id", "username", "email", "active"
            );
            for u in &page.users {
                println!(
                    "{:>8}  {:<24}  {:<32}  {:<6}  {}",
                    u.id,
                    u.username,
                    u.email,
                    u.is_active,
                    u.roles.join(",")
                );
            }
            let more = if page.more { "+" } else { "" };
            println!("{} of {}{more} users", page.users.len(), page.total);
            Ok(())
        }
        UserCommand::SetPassword {
            user,
            password_stdin,
            ..
        } => {
            let id = resolve_user(&svc, &user).await?;
            let (password, generated) = read_password(password_stdin)?;
            admin
                .reset_password(id, &password)
                .await
                .map_err(|e| describe(e, &db.database))?;
            println!("password set for user {id}; their sessions have ended");
            if generated {
                println!("generated password: {password}");
            }
            Ok(())
        }
        UserCommand::Grant { user, role, .. } => {
            let id = resolve_user(&svc, &user).await?;
            let a = admin
                .assign_role(id, &role, true)
                .await
                .map_err(|e| describe(e, &db.database))?;
            println!("granted {} to user {id}", a.role);
            Ok(())
        }
        UserCommand::Revoke { user, role, .. } => {
            let id = resolve_user(&svc, &user).await?;
            admin
                .unassign_role(id, &role)
                .await
                .map_err(|e| describe(e, &db.database))?;
            println!("revoked {role} from user {id}");
            Ok(())
        }
        UserCommand::MfaReset { user, .. } => {
            let id = resolve_user(&svc, &user).await?;
            admin
                .reset_user_mfa(id)
                .await
                .map_err(|e| describe(e, &db.database))?;
            println!("second factors removed for user {id}; their sessions have ended");
            Ok(())
        }
    }
}

fn read_password(from_stdin: bool) -> Result<(String, bool), Fatal> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Fatal(format!("cannot read the password from standard input: {e}")))?;
        let pw = line.trim_end_matches(['\n', '\r']).to_owned();
        Ok((pw, false))
    } else {
        Ok((crate::core::tokens::new_refresh_token(), true))
    }
}

async fn resolve_user(svc: &Latchkey, who: &str) -> Result<UserId, Fatal> {
    let op = Latchkey::operator();
    if let Ok(id) = who.parse::<i64>() {
        if let Ok(u) = svc.get_user(&op, UserId(id)).await {
            return Ok(u.id);
        }
    }
    svc.member(&op)
        .find_user(who)
        .await
        .map(|u| u.id)
        .map_err(|_| Fatal(format!("no user '{who}'")))
}

pub(super) async fn audit(cmd: AuditCommand) -> Result<(), Fatal> {
    let AuditCommand::Tail {
        svc: opts,
        limit,
        follow,
    } = cmd;
    let db = &opts.db;
    init_logging(db.log_format);
    let svc = service(&opts, true).await?;
    let mut last = None;
    loop {
        let events = svc
            .tail_audit(
                last,
                if last.is_some() {
                    1000
                } else {
                    limit.clamp(1, 10_000)
                },
            )
            .await
            .map_err(|e| describe(e, &db.database))?;
        for e in &events {
            println!(
                "{} {:<24} {:<7} actor={} target={} ip={} {}",
                e.at.to_rfc3339(),
                e.action,
                e.outcome,
                e.actor.as_deref().unwrap_or("-"),
                match (&e.target_type, &e.target_id) {
                    (Some(t), Some(i)) => format!("{t}:{i}"),
                    _ => "-".into(),
                },
                e.client_ip.as_deref().unwrap_or("-"),
                e.detail.as_deref().unwrap_or(""),
            );
        }
        if let Some(e) = events.last() {
            last = Some(e.id);
        } else if last.is_none() {
            last = Some(0);
        }
        if !follow {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

pub(super) async fn keys(cmd: KeysCommand) -> Result<(), Fatal> {
    let KeysCommand::Rotate { svc: opts } = cmd;
    let db = &opts.db;
    init_logging(db.log_format);
    let svc = service(&opts, true).await?;
    let kids = svc
        .rotate_keys()
        .await
        .map_err(|e| describe(e, &db.database))?;
    println!(
        "new signing keys {} (EdDSA, RS256, ES256); older keys verify until their tokens expire",
        kids.join(", ")
    );
    Ok(())
}
