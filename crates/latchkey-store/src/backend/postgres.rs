//! PostgreSQL's own statements: NOTIFY, LISTEN, and the live refresh rotation.

use sqlx::postgres::PgListener;
use sqlx::Row;

use latchkey_core::cache::Invalidation;
use latchkey_core::error::CoreResult;
use latchkey_core::model::{SessionId, Timestamp, UserId};
use latchkey_core::ports::{InvalidationFeed, RotateOutcome};

use super::TextSearch;
use crate::exec::TxConn;
use crate::sql::Sql;
use crate::{db_err, Store};

/// A term of 4+ characters: found through the bucketed 4-gram GIN index (migration 0017) and
/// confirmed by LIKE. Of 3: the LIKE, which the trigram GIN index (migration 0005) serves. Of
/// 1 or 2 characters: found through the short-gram GIN index (migration 0016), which holds
/// every such substring of each user's text.
pub(crate) fn search(folded: &str) -> TextSearch {
    let n = folded.chars().count();
    if n >= 4 {
        return TextSearch::Grams(GramLookup {
            grams: gram_cover(folded),
        });
    }
    if n == 3 {
        return TextSearch::Like { indexed_by: None };
    }
    let mut cond = Sql::new();
    cond.push(" AND latchkey_short_grams(u.search_text) @> ARRAY[CAST(");
    cond.bind_text(folded.to_owned());
    cond.push(" AS TEXT)]");
    TextSearch::Like {
        indexed_by: Some(cond),
    }
}

/// A term's lookup in the bucketed grams index (migration 0017): a user's 4-grams are tagged
/// with its bucket of ids, `id >> BUCKET_SHIFT` (65,536 ids; the same shift is written in the
/// migration's function), so a lookup can read a window of buckets at a time.
pub(crate) struct GramLookup {
    grams: Vec<String>,
}

impl GramLookup {
    const BUCKET_SHIFT: u32 = 16;

    /// The bucket that holds `id`.
    pub(crate) fn bucket(id: i64) -> i64 {
        id >> Self::BUCKET_SHIFT
    }

    /// The first id of bucket `b`.
    pub(crate) fn bucket_start(b: i64) -> i64 {
        b << Self::BUCKET_SHIFT
    }

    /// ` AND …`: the user is in a bucket from `lo` to `hi` and has every one of the grams
    /// (each a GIN lookup of the gram in those buckets: one posting list per bucket, so a
    /// window of one bucket reads a sixteenth of a common gram's list at 1M users).
    pub(crate) fn window(&self, lo: i64, hi: i64) -> Sql {
        let mut cond = Sql::new();
        for gram in &self.grams {
            cond.push(
                " AND latchkey_grams(u.id, u.search_text) && ARRAY(SELECT CAST(b AS TEXT) || ':' || CAST(",
            );
            cond.bind_text(gram.clone());
            cond.push(" AS TEXT) FROM generate_series(CAST(");
            cond.bind_int(lo);
            cond.push(" AS BIGINT), CAST(");
            cond.bind_int(hi);
            cond.push(" AS BIGINT)) AS b)");
        }
        cond
    }
}

/// Which of a term's 4-character substrings are looked up: every fourth and the last, so each
/// of its characters is in one; past 16 characters, four spread over it (the first, the last
/// and two between). A user with all of them is a candidate; the LIKE decides.
fn gram_cover(folded: &str) -> Vec<String> {
    let chars: Vec<char> = folded.chars().collect();
    let last = chars.len().saturating_sub(4);
    let mut starts: Vec<usize> = (0..=last).step_by(4).collect();
    if starts.last() != Some(&last) {
        starts.push(last);
    }
    if starts.len() > 4 {
        starts = vec![0, last / 3, 2 * last / 3, last];
        starts.dedup();
    }
    starts
        .into_iter()
        .map(|i| chars[i..i + 4].iter().collect())
        .collect()
}

/// The channel instances LISTEN on for invalidations.
pub const NOTIFY_CHANNEL: &str = "latchkey_invalidations";

/// Delivered when the transaction commits.
pub(crate) async fn notify(conn: &mut TxConn, payload: &str) -> CoreResult<()> {
    sqlx::query("SELECT COUNT(*) FROM (SELECT pg_notify($1, $2)) AS n")
        .bind(NOTIFY_CHANNEL)
        .bind(payload)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The live rotation in three statements in one short transaction: claim the token, touch
/// its session if that is still live, store the successor. `None`: not a live rotation
/// (nothing was changed).
pub(crate) async fn rotate_live(
    store: &Store,
    old_digest: &str,
    new_digest: &str,
    now: Timestamp,
    idle_cutoff: i64,
    client: &str,
) -> CoreResult<Option<RotateOutcome>> {
    let mut tx = store.begin().await?;
    let claimed = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
             RETURNING session_id",
    )
    .bind(old_digest)
    .bind(now.0)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    if let Some(row) = claimed {
        let sid: String = row.try_get("session_id").map_err(db_err)?;
        let live = sqlx::query(
            "UPDATE sessions SET last_used_at = $2 WHERE id = $1 AND revoked_at IS NULL \
                 AND expires_at > $2 AND last_used_at > $3 AND COALESCE(client_id, '') = $4 \
                 RETURNING user_id, expires_at, scope",
        )
        .bind(&sid)
        .bind(now.0)
        .bind(idle_cutoff)
        .bind(client)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(row) = live {
            let user = UserId(row.try_get("user_id").map_err(db_err)?);
            let expires: i64 = row.try_get("expires_at").map_err(db_err)?;
            let scope: Option<String> = row.try_get("scope").map_err(db_err)?;
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
                     VALUES ($1, $2, $3)",
            )
            .bind(new_digest)
            .bind(&sid)
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            tx.commit().await?;
            return Ok(Some(RotateOutcome::Rotated {
                session: SessionId(sid),
                user,
                expires_at: Timestamp(expires),
                scope,
            }));
        }
    }
    tx.rollback().await?;
    Ok(None)
}

/// Pushed invalidations over a LISTEN connection.
pub(crate) struct Listener(PgListener);

impl Listener {
    /// Subscribes; `None` (logged) when that fails, and the poll carries the load.
    pub(crate) async fn connect(url: &str) -> Option<Self> {
        match PgListener::connect(url).await {
            Ok(mut l) => match l.listen(NOTIFY_CHANNEL).await {
                Ok(()) => Some(Listener(l)),
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN failed; relying on polling");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot open a LISTEN connection; relying on polling");
                None
            }
        }
    }
}

#[async_trait::async_trait]
impl InvalidationFeed for Listener {
    async fn recv(&mut self) -> Option<Invalidation> {
        match self.0.recv().await {
            Ok(n) => {
                let (kind, item) = n.payload().split_once(':')?;
                Invalidation::decode(kind, item)
            }
            Err(e) => {
                // PgListener reconnects on the next call; missed events come from the poll.
                tracing::warn!(error = %e, "LISTEN connection lost");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::gram_cover;

    #[test]
    fn the_gram_cover_holds_every_character_of_the_term() {
        assert_eq!(gram_cover("7741"), ["7741"]);
        assert_eq!(gram_cover("yusuf"), ["yusu", "usuf"]);
        assert_eq!(gram_cover("garcia"), ["garc", "rcia"]);
        assert_eq!(gram_cover("maria.lopez"), ["mari", "a.lo", "opez"]);
        assert_eq!(gram_cover("zürich"), ["züri", "rich"]);
        // A long term: four grams, first and last among them.
        let long = gram_cover("abcdefghijklmnopqrstuvwxyz");
        assert_eq!(long, ["abcd", "hijk", "opqr", "wxyz"]);
    }
}
