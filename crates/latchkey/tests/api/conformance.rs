//! The storage conformance suite: the rules that live in SQL, written once against the
//! core's storage ports (`latchkey_core::ports`) and run on SQLite and on PostgreSQL, each
//! story on a database of its own (atuin's `db_story` is the model). A new implementation of
//! the ports passes these or is wrong.

use std::collections::BTreeSet;
use std::sync::Arc;

use latchkey::core::cache::Invalidation;
use latchkey::core::error::{CoreError, UniqueField};
use latchkey::core::model::*;
use latchkey::core::validate::fold;
use latchkey::store::{PoolConfig, Store};

use crate::helpers::*;

/// Runs `$body` with `$s: Arc<dyn Storage>` on a fresh, migrated database of each backend.
macro_rules! story {
    ($name:ident, |$s:ident| $body:block) => {
        mod $name {
            use super::*;

            async fn run(backend: Backend) {
                let Some(db) = TestDb::new(backend).await else {
                    return;
                };
                let store = Store::connect(&db.url, PoolConfig::default())
                    .await
                    .expect("connect");
                store.migrate().await.expect("migrate");
                let $s: Arc<dyn Storage> = Arc::new(store);
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(Backend::Postgres).await
            }
        }
    };
}

fn new_user(username: &str, email: &str) -> NewUser {
    NewUser {
        uuid: uuid::Uuid::new_v4().to_string(),
        username: username.into(),
        email: email.into(),
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
        profile: Profile::default(),
        organization: None,
        is_active: true,
        default_role: None,
    }
}

async fn add_user(s: &dyn Storage, name: &str) -> UserId {
    s.insert_user(&new_user(name, &format!("{name}@example.com")), &[], None)
        .await
        .unwrap()
}

fn session(user: UserId, last_used: Timestamp) -> Session {
    Session {
        id: SessionId(uuid::Uuid::new_v4().to_string()),
        user_id: user,
        created_at: last_used,
        last_used_at: last_used,
        expires_at: Timestamp(Timestamp::now().0 + 3_600_000),
        revoked_at: None,
        user_agent: None,
        client_ip: None,
        client_id: None,
        scope: None,
        amr: Some("pwd".into()),
    }
}

story!(case_folded_names_are_unique_under_concurrency, |s| {
    // Six spellings of one name, inserted at once: exactly one wins, on both backends,
    // whatever the database's own idea of case (SQLite folds ASCII only).
    let spellings = ["zoë", "ZOË", "Zoë", "zOë", "ZoË", "zoË"];
    let mut tasks = Vec::new();
    for (i, name) in spellings.into_iter().enumerate() {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.insert_user(&new_user(name, &format!("z{i}@example.com")), &[], None)
                .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(CoreError::Conflict(UniqueField::Username)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1);
    let winner = s.get_user_by_login(&fold("ZOË")).await.unwrap().unwrap();
    let e = s
        .insert_user(&new_user("other", &winner.email.to_uppercase()), &[], None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, CoreError::Conflict(UniqueField::Email)),
        "{e:?}"
    );
    assert_eq!(s.count_users().await.unwrap(), 1);
    assert!(s.get_user_by_login(&fold("ZOË")).await.unwrap().is_some());
});

story!(
    refresh_rotation_has_one_winner_and_reuse_ends_the_session,
    |s| {
        let user = add_user(&*s, "rita").await;
        let sess = session(user, Timestamp::now());
        s.create_session(&sess, "d0", None).await.unwrap();
        let now = Timestamp::now();
        let (a, b) = tokio::join!(
            s.rotate_refresh("d0", "d1a", now, 3600, ""),
            s.rotate_refresh("d0", "d1b", now, 3600, "")
        );
        let outcomes = [a.unwrap(), b.unwrap()];
        let rotated: Vec<_> = outcomes
            .iter()
            .filter(|w| matches!(w.value, RotateOutcome::Rotated { .. }))
            .collect();
        let reused: Vec<_> = outcomes
            .iter()
            .filter(|w| matches!(w.value, RotateOutcome::Reused { .. }))
            .collect();
        assert_eq!((rotated.len(), reused.len()), (1, 1), "{outcomes:?}");
        // The reuse ended the session, and says so.
        assert_eq!(
            reused[0].invalidations,
            vec![Invalidation::Session(sess.id.clone())]
        );
        assert!(rotated[0].invalidations.is_empty());
        let winner = if outcomes[0].value == rotated[0].value {
            "d1a"
        } else {
            "d1b"
        };
        let after = s.rotate_refresh(winner, "d2", now, 3600, "").await.unwrap();
        assert_eq!(after.value, RotateOutcome::Ended);
        assert!(s
            .get_session(&sess.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some());
        assert_eq!(
            s.rotate_refresh("unknown", "d3", now, 3600, "")
                .await
                .unwrap()
                .value,
            RotateOutcome::Unknown
        );
        // Idle past its timeout: the session ends at the attempt.
        let idle = session(user, Timestamp(now.0 - 10_000));
        s.create_session(&idle, "i0", None).await.unwrap();
        let w = s.rotate_refresh("i0", "i1", now, 5, "").await.unwrap();
        assert_eq!(
            w.value,
            RotateOutcome::Expired {
                session: idle.id.clone()
            }
        );
        assert_eq!(w.invalidations, vec![Invalidation::Session(idle.id)]);
    }
);

story!(
    assignment_versions_grow_by_one_under_concurrent_updates,
    |s| {
        let user = add_user(&*s, "vic").await;
        let id = s
            .create_assignment(user, "r0", true, None)
            .await
            .unwrap()
            .value;
        let mut tasks = Vec::new();
        for i in 1..=12 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.update_assignment(id, user, &format!("r{i}"), true, Some("1"))
                    .await
                    .unwrap()
            }));
        }
        let mut written = Vec::new();
        for t in tasks {
            let w = t.await.unwrap();
            assert_eq!(w.invalidations, vec![Invalidation::User(user)]);
            written.push((w.value.version, w.value.role));
        }
        written.sort();
        let versions: Vec<i64> = written.iter().map(|(v, _)| *v).collect();
        assert_eq!(versions, (1..=12).collect::<Vec<_>>());
        let stored = s.get_assignment(id).await.unwrap().unwrap();
        assert_eq!((stored.version, stored.role), written[11].clone());
    }
);

story!(failure_counters_count_every_concurrent_failure, |s| {
    let now = Timestamp::now();
    let long_ago = Timestamp(now.0 - 86_400_000);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.fail("id:alice", now, long_ago, true).await.unwrap()
        }));
    }
    let mut counts = BTreeSet::new();
    for t in tasks {
        counts.insert(t.await.unwrap());
    }
    assert_eq!(counts, (1..=20).collect());
    // A lock is never shortened.
    s.lock("id:alice", Timestamp(now.0 + 60_000)).await.unwrap();
    s.lock("id:alice", Timestamp(now.0 + 1_000)).await.unwrap();
    let rows = s.state(&["id:alice", "id:nobody"]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].failures, 20);
    assert_eq!(rows[0].locked_until, Some(now.0 + 60_000));
    // A count whose window began before `reset_before` starts over.
    assert_eq!(
        s.fail("id:alice", Timestamp(now.0 + 5), Timestamp(now.0 + 1), true)
            .await
            .unwrap(),
        1
    );
    s.clear("id:alice").await.unwrap();
    assert!(s.state(&["id:alice"]).await.unwrap().is_empty());
});

story!(
    search_matches_substrings_case_folded_and_escapes_wildcards,
    |s| {
        for name in ["anna", "hannah", "joanna", "bob", "zoë_x", "per%cent"] {
            add_user(&*s, name).await;
        }
        let found = |q: &'static str| {
            let s = s.clone();
            async move {
                let q = UserQuery {
                    search: Some(q.into()),
                    ..Default::default()
                };
                let page = s
                    .list_users(
                        &q,
                        &PageRequest::Offset {
                            offset: 0,
                            limit: 100,
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(page.total as usize, page.users.len());
                page.users
                    .into_iter()
                    .map(|u| u.username)
                    .collect::<BTreeSet<_>>()
            }
        };
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        // Three characters or more (SQLite's trigram index) and fewer (a scan) agree.
        assert_eq!(found("ANN").await, set(&["anna", "hannah", "joanna"]));
        assert_eq!(found("an").await, set(&["anna", "hannah", "joanna"]));
        assert_eq!(found("ZOË").await, set(&["zoë_x"]));
        assert_eq!(found("%").await, set(&["per%cent"]));
        assert_eq!(found("_").await, set(&["zoë_x"]));
        assert_eq!(found("nomatch").await, set(&[]));
    }
);

story!(cursors_walk_every_user_once_and_deep_pages_agree, |s| {
    let mut names = Vec::new();
    for i in 0..23 {
        let name = format!("u{:02}{}", (i * 7) % 23, if i % 2 == 0 { "A" } else { "b" });
        add_user(&*s, &name).await;
        names.push(fold(&name));
    }
    names.sort();
    let q = UserQuery {
        sort: UserSort::Username,
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = s
            .list_users(
                &q,
                &PageRequest::After {
                    cursor: cursor.clone(),
                    limit: 4,
                },
            )
            .await
            .unwrap();
        assert_eq!(page.total, 23);
        seen.extend(page.users.iter().map(|u| fold(&u.username)));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, names);
    // Page-numbered pages by id, deep and shallow, are slices of the whole.
    let by_id = UserQuery::default();
    let all = s
        .list_users(
            &by_id,
            &PageRequest::Offset {
                offset: 0,
                limit: 100,
            },
        )
        .await
        .unwrap()
        .users;
    for offset in [0u64, 4, 20, 22, 23, 40] {
        let page = s
            .list_users(&by_id, &PageRequest::Offset { offset, limit: 4 })
            .await
            .unwrap();
        let want: Vec<UserId> = all
            .iter()
            .skip(offset as usize)
            .take(4)
            .map(|u| u.id)
            .collect();
        let got: Vec<UserId> = page.users.iter().map(|u| u.id).collect();
        assert_eq!(got, want, "offset {offset}");
        assert_eq!(page.total, 23);
    }
});

story!(writes_report_exactly_what_the_feed_carries, |s| {
    let since = Timestamp(Timestamp::now().0 - 1);
    let user = add_user(&*s, "fay").await;
    let sess = session(user, Timestamp::now());
    s.create_session(&sess, "f0", None).await.unwrap();
    let mut reported = Vec::new();
    let mut u = s.get_user(user).await.unwrap().unwrap();
    u.profile.first_name = Some("Fay".into());
    reported.extend(s.update_user(&u).await.unwrap().invalidations);
    reported.extend(
        s.create_assignment(user, "ed", true, None)
            .await
            .unwrap()
            .invalidations,
    );
    let w = s.end_user_sessions(user, None, "test").await.unwrap();
    assert_eq!(w.value, vec![sess.id.clone()]);
    reported.extend(w.invalidations);
    // Ending what has ended changes nothing and reports nothing.
    let again = s.end_session(&sess.id, "again").await.unwrap();
    assert!(!again.value && again.invalidations.is_empty());
    reported.extend(s.delete_user(user).await.unwrap().invalidations);
    assert_eq!(
        reported,
        vec![
            Invalidation::User(user),
            Invalidation::User(user),
            Invalidation::Session(sess.id),
            Invalidation::User(user),
        ]
    );
    assert_eq!(s.invalidations_since(since).await.unwrap(), reported);
    // A failed write reports nothing and records nothing.
    assert!(s.update_user(&u).await.is_err());
    assert_eq!(s.invalidations_since(since).await.unwrap(), reported);
});

story!(second_factors_are_used_once_under_concurrency, |s| {
    let u = add_user(&*s, "mia").await;
    let now = Timestamp::now();
    let client = ClientInfo::default();
    let event = latchkey::core::audit::AuditEvent::new("mfa.totp.enrolled");
    // Until confirmed, a pending secret can be replaced; after, not.
    assert!(s.put_pending_totp(u, "plain:AAAA", now).await.unwrap());
    assert!(s.put_pending_totp(u, "plain:BBBB", now).await.unwrap());
    assert!(
        !s.use_totp_step(u, 5).await.unwrap(),
        "a pending secret is no factor"
    );
    let digests: Vec<String> = (0..10).map(|i| format!("{i:064}")).collect();
    let w = s
        .confirm_totp(u, 10, Some(&digests), None, (&event, &client))
        .await
        .unwrap();
    assert_eq!(w.value, Some(vec![]));
    let again = s
        .confirm_totp(u, 11, None, None, (&event, &client))
        .await
        .unwrap();
    assert_eq!(again.value, None, "confirmed once");
    assert!(!s.put_pending_totp(u, "plain:CCCC", now).await.unwrap());
    let r = s.mfa_record(u).await.unwrap();
    let totp = r.totp.unwrap();
    assert_eq!(totp.secret, "plain:BBBB");
    assert_eq!(totp.last_step, Some(10));
    assert_eq!(r.recovery_codes.len(), 10);
    // Of twenty concurrent uses of one step, one wins; an earlier step never does.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.use_totp_step(u, 11).await.unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert!(!s.use_totp_step(u, 10).await.unwrap());
    // The same for a recovery code and a challenge.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        let d = digests[3].clone();
        tasks.push(tokio::spawn(async move {
            s.use_recovery_code(u, &d, Timestamp::now()).await.unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(s.mfa_record(u).await.unwrap().recovery_codes.len(), 9);
    s.insert_challenge("c1", u, now, Timestamp(now.0 + 300_000))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.use_challenge("c1", Timestamp::now()).await.unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    // Concurrent wrong codes are each counted, and the fifth spends the challenge.
    s.insert_challenge("c2", u, now, Timestamp(now.0 + 300_000))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.fail_challenge("c2", 5, Timestamp::now()).await.unwrap()
        }));
    }
    let mut counts = BTreeSet::new();
    for t in tasks {
        counts.insert(t.await.unwrap());
    }
    assert_eq!(counts, (1..=4).collect());
    assert!(s
        .get_challenge("c2")
        .await
        .unwrap()
        .unwrap()
        .used_at
        .is_none());
    assert_eq!(s.fail_challenge("c2", 5, now).await.unwrap(), 5);
    assert!(s
        .get_challenge("c2")
        .await
        .unwrap()
        .unwrap()
        .used_at
        .is_some());
    assert!(!s.use_challenge("c2", now).await.unwrap());
    // An expired challenge cannot be used; pruning removes it.
    s.insert_challenge("c3", u, now, Timestamp(now.0 - 1))
        .await
        .unwrap();
    assert!(!s.use_challenge("c3", now).await.unwrap());
    assert!(s.prune_challenges(now).await.unwrap() >= 1);
    assert!(s.get_challenge("c3").await.unwrap().is_none());
    // A credential belongs to one user: registering it again, for anyone, writes nothing.
    let key = PasskeyRecord {
        id: "k1".into(),
        name: "laptop".into(),
        credential_id: "cred-1".into(),
        passkey: "{}".into(),
        created_at: now,
        last_used_at: None,
    };
    let added = s
        .add_passkey(u, &key, None, None, (&event, &client))
        .await
        .unwrap();
    assert!(added.value.is_some());
    let other = add_user(&*s, "noa").await;
    let twice = PasskeyRecord {
        id: "k2".into(),
        ..key.clone()
    };
    let again = s
        .add_passkey(other, &twice, None, None, (&event, &client))
        .await
        .unwrap();
    assert_eq!(again.value, None);
    assert!(s.mfa_record(other).await.unwrap().passkeys.is_empty());
    assert!(!s.rename_passkey(other, "k1", "mine now").await.unwrap());
    // Removing the app leaves the passkey, and with it the codes.
    let w = s
        .remove_mfa(u, Factor::Totp, None, "removed", (&event, &client))
        .await
        .unwrap();
    assert!(w.value);
    let left = s.mfa_record(u).await.unwrap();
    assert!(left.totp.is_none());
    assert_eq!(left.passkeys.len(), 1);
    assert_eq!(left.recovery_codes.len(), 9);
    // Removing the factor takes the codes and the pending challenges with it.
    let gone = s
        .remove_mfa(u, Factor::All, None, "reset", (&event, &client))
        .await
        .unwrap();
    assert!(gone.value);
    assert_eq!(s.mfa_record(u).await.unwrap(), MfaRecord::default());
    assert!(s.get_challenge("c1").await.unwrap().is_none());
    let twice = s
        .remove_mfa(u, Factor::All, None, "reset", (&event, &client))
        .await
        .unwrap();
    assert!(!twice.value);
});
