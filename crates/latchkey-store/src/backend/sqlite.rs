//! SQLite's own statements: connection pragmas, the trigram search, the deep-page index
//! hint, and the live refresh rotation as one script.

use sqlx::Row;

use latchkey_core::error::CoreResult;
use latchkey_core::model::{SessionId, Timestamp, UserId};
use latchkey_core::ports::RotateOutcome;

use super::TextSearch;
use crate::{db_err, Store};

/// Per-connection settings: WAL (readers never block the writer), NORMAL sync (durable at
/// each checkpoint; safe with WAL), foreign keys on, and a busy wait.
pub(crate) fn pragmas(
    conn: &mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        use sqlx::Executor;
        conn.execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        )
        .await?;
        Ok(())
    })
}

/// A search of 3+ characters is a phrase query on the FTS5 trigram index (migration 0005);
/// of 1 or 2 characters, one token of the short-gram index (migration 0016: the hex of the
/// term's UTF-8 bytes). Either is exactly the substring test, answered from the index, which
/// the caller can also count and page in the index alone.
pub(crate) fn search(folded: &str) -> TextSearch {
    if folded.chars().count() < 3 {
        let hex: String = folded.bytes().map(|b| format!("{b:02X}")).collect();
        return TextSearch::Fts {
            table: "users_short",
            phrase: format!("\"{hex}\""),
        };
    }
    TextSearch::Fts {
        table: "users_search",
        phrase: format!("\"{}\"", folded.replace('"', "\"\"")),
    }
}

/// SQLite's live rotation with its three statements sent as one script: rotations queue
/// for SQLite's single writer, and each statement sent separately is a hand-off to the
/// connection's thread and back on their critical path. `$N` parameters bind by number in
/// every statement of the script; each statement runs only if the one before it changed a
/// row (`changes()`), and the claim only if the session is live, so a script that rotates
/// nothing changes nothing. It runs in a sqlx transaction, which rolls back if the request
/// is given up half-way. `None`: not a live rotation.
pub(crate) async fn rotate_live(
    store: &Store,
    old_digest: &str,
    new_digest: &str,
    now: Timestamp,
    idle_cutoff: i64,
    client: &str,
) -> CoreResult<Option<RotateOutcome>> {
    const ROTATE: &str =
        "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
          AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = refresh_tokens.session_id \
            AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.last_used_at > $3 \
            AND COALESCE(s.client_id, '') = $5); \
        UPDATE sessions SET last_used_at = $2 WHERE changes() = 1 \
          AND id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1) \
          RETURNING id, user_id, expires_at, scope; \
        INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
          SELECT $4, session_id, $2 FROM refresh_tokens WHERE changes() = 1 AND token_hash = $1";
    let mut tx = store.begin().await?;
    let rows = sqlx::query(ROTATE)
        .bind(old_digest)
        .bind(now.0)
        .bind(idle_cutoff)
        .bind(new_digest)
        .bind(client)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(RotateOutcome::Rotated {
        session: SessionId(row.try_get("id").map_err(db_err)?),
        user: UserId(row.try_get("user_id").map_err(db_err)?),
        expires_at: Timestamp(row.try_get("expires_at").map_err(db_err)?),
        scope: row.try_get("scope").map_err(db_err)?,
    }))
}
