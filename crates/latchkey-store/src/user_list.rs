//! The user list: free-text search (the text indexes, bounded totals, collected matches),
//! filters, keyset cursors and page numbers (the rank anchors). `UserStore::list_users`.

use latchkey_core::error::{CoreError, CoreResult};
use latchkey_core::model::*;
use latchkey_core::ports::UserStore;
use latchkey_core::validate::fold;

use crate::backend::{GramLookup, TextSearch};
use crate::rows::*;
use crate::sql::{like_escape, Sql};
use crate::{db_err, Store};

impl Store {
    pub(crate) async fn list_users_page(
        &self,
        q: &UserQuery,
        page: &PageRequest,
    ) -> CoreResult<UserPage> {
        let mut filter = Sql::new();
        filter.push(" WHERE 1 = 1");
        let mut filtered = false;
        // `fts_phrase`: SQLite's FTS5 table and phrase that answer the search completely.
        // `index_cond`: on PostgreSQL, the indexed condition that finds a short term's
        // matches, beside the LIKE that the page's own walk checks more cheaply per row.
        let mut fts_phrase: Option<(&'static str, String)> = None;
        let mut index_cond: Option<Sql> = None;
        let mut walk_cond: Option<Sql> = None;
        // `grams`: on PostgreSQL, a term of 4+ characters, found through the bucketed grams
        // index a window of id buckets at a time (the window reads below).
        let mut grams: Option<(GramLookup, (i64, i64))> = None;
        if let Some(text) = q.search.as_deref().filter(|s| !s.is_empty()) {
            filtered = true;
            let folded = fold(text);
            let indexed_by = match self.backend.search(&folded) {
                TextSearch::Fts { table, phrase } => {
                    filter.push(&format!(
                        " AND u.id IN (SELECT rowid FROM {table} WHERE {table} MATCH "
                    ));
                    filter.bind_text(phrase.clone());
                    filter.push(")");
                    fts_phrase = Some((table, phrase));
                    None
                }
                TextSearch::Like { indexed_by } => indexed_by,
                TextSearch::Grams(wanted) => {
                    // The id buckets that hold users now; read a moment before the matches,
                    // like the rest of the collection: a user created in between is not seen.
                    let (lo, hi): (Option<i64>, Option<i64>) =
                        sqlx::query_as("SELECT MIN(id), MAX(id) FROM users")
                            .fetch_one(&self.read)
                            .await
                            .map_err(db_err)?;
                    let lo = GramLookup::bucket(lo.unwrap_or(0));
                    let hi = GramLookup::bucket(hi.unwrap_or(0));
                    let cond = wanted.window(lo, hi);
                    grams = Some((wanted, (lo, hi)));
                    Some(cond)
                }
            };
            if fts_phrase.is_none() {
                // PostgreSQL's trigram GIN index serves this LIKE (3+ characters).
                let pattern = format!("%{}%", like_escape(&folded));
                filter.push(" AND u.search_text LIKE ");
                filter.bind_text(pattern.clone());
                filter.push(" ESCAPE '\\'");
                // The same test on an expression no index holds: a walk in id order, and
                // the check of the grams index's candidates.
                let mut cond = Sql::new();
                cond.push(" AND (u.search_text || '') LIKE ");
                cond.bind_text(pattern);
                cond.push(" ESCAPE '\\'");
                index_cond = indexed_by.map(|mut found| {
                    if grams.is_some() {
                        found.append(&cond);
                    }
                    found
                });
                walk_cond = Some(cond);
            }
        }
        let mut rest = Sql::new();
        let mut only_search = fts_phrase.is_some();
        if let Some(role) = &q.role {
            filtered = true;
            only_search = false;
            rest.push(
                " AND EXISTS (SELECT 1 FROM role_assignments ra JOIN roles r ON r.id = ra.role_id \
                 WHERE ra.user_id = u.id AND ra.is_active = TRUE AND r.name = ",
            );
            rest.bind_text(role.clone());
            rest.push(")");
        }
        if let Some(org) = q.organization {
            filtered = true;
            only_search = false;
            rest.push(" AND u.organization_id = ");
            rest.bind_int(org.0);
        }
        if let Some(active) = q.active {
            filtered = true;
            only_search = false;
            rest.push(" AND u.is_active = ");
            rest.bind_bool(active);
        }
        if let Some(weak) = q.weak_password_hash {
            filtered = true;
            only_search = false;
            rest.push(" AND u.weak_password_hash = ");
            rest.bind_bool(weak);
        }
        filter.append(&rest);
        // What finds the matches through an index: the filter, or its indexed twin.
        let found_by = index_cond.as_ref().map(|cond| {
            let mut f = Sql::new();
            f.push(" WHERE 1 = 1");
            f.append(cond);
            f.append(&rest);
            f
        });
        let found_by = found_by.as_ref().unwrap_or(&filter);
        // For a page of a term with more matches than the bound, in id order: walk the id
        // index testing each row, which meets 20 of a common term within a few thousand rows.
        // Left to itself the planner may instead gather all 20,000 matches of a surname from
        // the trigram index and sort them (9.5 ms against 0.9).
        let walk = walk_cond.as_ref().map(|cond| {
            let mut f = Sql::new();
            f.push(" WHERE 1 = 1");
            f.append(cond);
            f.append(&rest);
            f
        });

        let bound = q
            .count_at_most
            .map(|n| n.saturating_add(1).min(i64::MAX as u64) as i64);
        // A free-text filter that no index answers on its own (PostgreSQL's trigram LIKE,
        // whose candidates are rechecked row by row; a short term): its matches are first
        // collected, up to the bound. When that is all of them, the page is cut from those
        // ids alone: left to itself, PostgreSQL's planner may walk the whole id index
        // filtering each row for a rare term (25 ms for one user in 3,000 at 1M users; every
        // row for a term nobody has). The ids were read a moment before the page: a user
        // changed in between shows as they are now.
        // SQLite's FTS5 index answers a search alone completely, in id order: the same
        // collection, in the page's order, is then both the count and the page (one phrase
        // evaluation instead of two).
        let in_order = fts_phrase.is_some() && only_search && q.sort == UserSort::Id;
        let collect = (fts_phrase.is_none() && q.search.is_some() && filtered) || in_order;
        // A short term's index (PostgreSQL) is quick for a rare pair of letters and slow for a
        // common one (its posting list for `a` holds every user: 40 ms at 1M). So the first
        // 4,096 users in id order are tried with the LIKE first: a term that common finds
        // more than the bound there, at once, and the index is left alone.
        // PostgreSQL: the search's statements run in one read-only transaction that tells the
        // planner what the code already knows: the matches are found through an index (its
        // statistics lead it to scan the table for a surname: 22 ms against 3) and a page of
        // 20 is not worth parallel workers (their start-up alone is 6 ms).
        let mut planned = match self.backend.search_plan() {
            Some(settings) if collect => {
                let mut tx = self.read.begin().await.map_err(db_err)?;
                for set in settings {
                    sqlx::query(set).execute(&mut tx).await.map_err(db_err)?;
                }
                Some(tx)
            }
            _ => None,
        };
        let common = if collect && index_cond.is_some() && grams.is_none() {
            let mut probe = Sql::new();
            probe.push(
                "SELECT u.id FROM (SELECT id, search_text, organization_id, is_active, \
                 weak_password_hash FROM users ORDER BY id LIMIT 4096) AS u",
            );
            probe.append(&filter);
            probe.push(" LIMIT ");
            probe.bind_int(TOTAL_BOUND as i64 + 1);
            let ids: Vec<i64> = match planned.as_mut() {
                Some(tx) => probe.query_scalar().fetch_all(tx).await,
                None => probe.query_scalar().fetch_all(&self.read).await,
            }
            .map_err(db_err)?;
            (ids.len() as u64 > TOTAL_BOUND).then_some(ids)
        } else {
            None
        };
        // Where the collection is complete: it holds every match on the page's side of this
        // id (below it ascending, from it descending).
        let mut complete_to: Option<i64> = None;
        let collected: Option<Vec<i64>> = if let Some(ids) = common {
            Some(ids)
        } else if let (Some((wanted, (lo, hi))), true) = (&grams, collect) {
            // The grams index can only hand over every candidate of a lookup at once (a
            // bitmap; 20,000 for a surname at 1M users, ten times that at 10M). So the
            // buckets are read a window at a time from the page's end: the first, then as
            // many as the matches seen so far say the bound needs, and half again.
            let descending = q.descending && q.sort == UserSort::Id;
            let mut ids: Vec<i64> = Vec::new();
            let (mut next, mut width) = (if descending { *hi } else { *lo }, 1i64);
            let mut done = 0i64;
            let buckets = hi - lo + 1;
            // Bounded: each window after the fourth takes all that is left.
            for round in 0..6 {
                let left = buckets - done;
                let width_now = if round >= 4 {
                    left
                } else {
                    width.clamp(1, left)
                };
                let (from, to) = if descending {
                    (next - width_now + 1, next)
                } else {
                    (next, next + width_now - 1)
                };
                let want = TOTAL_BOUND as i64 + 1 - ids.len() as i64;
                let mut window = Sql::new();
                window.push("SELECT u.id FROM users u WHERE 1 = 1");
                window.append(&wanted.window(from, to));
                if let Some(cond) = &walk_cond {
                    window.append(cond);
                }
                window.append(&rest);
                window.push(" LIMIT ");
                window.bind_int(want);
                let found: Vec<i64> = match planned.as_mut() {
                    Some(tx) => window.query_scalar().fetch_all(tx).await,
                    None => window.query_scalar().fetch_all(&self.read).await,
                }
                .map_err(db_err)?;
                let full = found.len() as i64 >= want;
                ids.extend(found);
                if full {
                    break;
                }
                done += width_now;
                complete_to = Some(if descending {
                    GramLookup::bucket_start(from)
                } else {
                    GramLookup::bucket_start(to + 1)
                });
                if done >= buckets {
                    complete_to = Some(if descending { i64::MIN } else { i64::MAX });
                    break;
                }
                next = if descending { from - 1 } else { to + 1 };
                let per_bucket = ids.len() as f64 / done as f64;
                let needed = (TOTAL_BOUND as f64 + 1.0 - ids.len() as f64) / per_bucket;
                width = if per_bucket == 0.0 || needed * 1.5 * 2.0 >= (buckets - done) as f64 {
                    buckets - done
                } else {
                    (needed * 1.5).ceil() as i64
                };
            }
            Some(ids)
        } else if collect {
            let mut ids = Sql::new();
            match &fts_phrase {
                Some((table, phrase)) if in_order => {
                    ids.push(&format!("SELECT rowid FROM {table} WHERE {table} MATCH "));
                    ids.bind_text(phrase.clone());
                    ids.push(if q.descending {
                        " ORDER BY rowid DESC"
                    } else {
                        " ORDER BY rowid ASC"
                    });
                }
                _ => {
                    ids.push("SELECT u.id FROM users u");
                    ids.append(found_by);
                }
            }
            ids.push(" LIMIT ");
            ids.bind_int(TOTAL_BOUND as i64 + 1);
            let ids: Vec<i64> = match planned.as_mut() {
                Some(tx) => ids.query_scalar().fetch_all(tx).await,
                None => ids.query_scalar().fetch_all(&self.read).await,
            }
            .map_err(db_err)?;
            Some(ids)
        } else {
            None
        };
        // In the page's order, the collection also holds the page if it lies within it:
        // always when it is complete, and for the first pages of a common term.
        let cut: Option<Vec<i64>> = match &collected {
            Some(ids) if in_order => {
                cut_page(ids, ids.len() as u64 <= TOTAL_BOUND, page, q.descending)
            }
            // The bucket windows hold every match on the page's side of `complete_to`: in
            // the page's order, those are the start of the answer.
            Some(ids) if grams.is_some() && q.sort == UserSort::Id => {
                complete_to.and_then(|edge| {
                    let mut held: Vec<i64> = ids
                        .iter()
                        .copied()
                        .filter(|&id| if q.descending { id >= edge } else { id < edge })
                        .collect();
                    held.sort_unstable();
                    if q.descending {
                        held.reverse();
                    }
                    let all = edge == i64::MIN || edge == i64::MAX;
                    cut_page(&held, all, page, q.descending)
                })
            }
            _ => None,
        };
        // More matches than the bound, and (as far as the first ones collected show: the
        // heap is mostly in id order) close together in id order: the walk meets the page
        // within a few thousand rows. Sparser ones (one in 1,400 users, 1,200 in all) are
        // cheaper gathered from the index and sorted.
        let dense = walk.is_some()
            && q.sort == UserSort::Id
            && collected.as_ref().is_some_and(|ids| {
                let (Some(lo), Some(hi)) = (ids.iter().min(), ids.iter().max()) else {
                    return false;
                };
                let per_match = (hi - lo + 1) as f64 / ids.len() as f64;
                let depth = match page {
                    PageRequest::Offset { offset, limit } => offset.saturating_add(*limit),
                    PageRequest::After { limit, .. } => *limit,
                };
                ids.len() as u64 > TOTAL_BOUND && per_match * depth as f64 <= 5_000.0
            });
        let few = collected.filter(|ids| ids.len() as u64 <= TOTAL_BOUND);
        let total = match &fts_phrase {
            _ if !filtered => self.count_users().await?,
            _ if few.is_some() => few.as_ref().map_or(0, |ids| ids.len() as i64),
            // More than the bound were collected: that is all a bounded count says.
            _ if collect && bound.is_some() => bound.unwrap_or_default(),
            // Counted in the index alone: joining each match back to its row costs ten
            // times more for a common term.
            Some((table, phrase)) if only_search => {
                let mut matched = Sql::new();
                matched.push(&format!(" WHERE {table} MATCH "));
                matched.bind_text(phrase.clone());
                self.count_upto(table, &matched, bound).await?
            }
            _ => self.count_upto("users u", found_by, bound).await?,
        };
        if few.as_ref().is_some_and(|ids| ids.is_empty()) {
            return Ok(UserPage {
                users: Vec::new(),
                total: 0,
                more: false,
                next_cursor: None,
            });
        }

        let col = match q.sort {
            UserSort::Id => "u.id",
            UserSort::Username => "u.username_key",
            UserSort::Email => "u.email_key",
            UserSort::CreatedAt => "u.created_at",
        };
        let dir = if q.descending { "DESC" } else { "ASC" };
        let op = if q.descending { "<" } else { ">" };
        let mut sql = Sql::new();
        sql.push(USER_SELECT);
        let limit = match page {
            PageRequest::Offset { limit, .. } | PageRequest::After { limit, .. } => *limit,
        };
        let limit_sql = limit.min(i64::MAX as u64) as i64;
        match (&fts_phrase, page) {
            _ if cut.is_some() => {
                // The collected ids hold this page: read just its rows.
                let page_ids = cut.as_deref().unwrap_or_default();
                sql.push(" WHERE u.id IN (");
                if page_ids.is_empty() {
                    sql.push("NULL");
                }
                for (i, id) in page_ids.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.bind_int(*id);
                }
                sql.push(&format!(") ORDER BY u.id {dir}"));
            }
            (Some((table, phrase)), _) if only_search && q.sort == UserSort::Id => {
                // The index yields matches in id order: the page is cut there, so only its
                // rows are read from the table.
                sql.push(&format!(
                    " WHERE u.id IN (SELECT rowid FROM {table} WHERE {table} MATCH "
                ));
                sql.bind_text(phrase.clone());
                if let PageRequest::After {
                    cursor: Some(c), ..
                } = page
                {
                    sql.push(&format!(" AND rowid {op} "));
                    sql.bind_int(c.id.0);
                }
                sql.push(&format!(" ORDER BY rowid {dir} LIMIT "));
                sql.bind_int(limit_sql);
                if let PageRequest::Offset { offset, .. } = page {
                    sql.push(" OFFSET ");
                    sql.bind_int((*offset).min(i64::MAX as u64) as i64);
                }
                sql.push(&format!(") ORDER BY u.id {dir}"));
            }
            (None, PageRequest::Offset { offset, .. })
                if !filtered && q.sort == UserSort::Id && *offset > 0 =>
            {
                // A page number far in: the rank anchors (migration 0015) give the block of
                // 4,096 ids that holds rank `offset` in this order and how many of its users
                // come before it; only that remainder is walked, in a narrow id index. One
                // statement, so one snapshot: the anchors and the walk agree under writes.
                let offset = (*offset).min(i64::MAX as u64) as i64;
                let (start, cmp) = if q.descending {
                    ("(block + 1) * 4096", "<")
                } else {
                    ("block * 4096", ">=")
                };
                let mut anchored = Sql::new();
                anchored.push("WITH anchor AS (SELECT start, ");
                anchored.bind_int(offset);
                anchored.push(&format!(
                    " - (upto - n) AS skip FROM (SELECT block, {start} AS start, n, \
                     CAST(SUM(n) OVER (ORDER BY block {dir}) AS BIGINT) AS upto \
                     FROM user_blocks) AS c WHERE n > 0 AND upto > "
                ));
                anchored.bind_int(offset);
                anchored.push(&format!(" ORDER BY block {dir} LIMIT 1) "));
                anchored.push(USER_SELECT);
                anchored.push(" WHERE u.id IN (SELECT id FROM users");
                anchored.push(self.backend.id_index_hint());
                anchored.push(&format!(
                    " WHERE id {cmp} (SELECT start FROM anchor) ORDER BY id {dir} LIMIT "
                ));
                anchored.bind_int(limit_sql);
                anchored.push(" OFFSET COALESCE((SELECT skip FROM anchor), 0))");
                anchored.push(&format!(" ORDER BY u.id {dir}"));
                sql = anchored;
            }
            _ => {
                match &few {
                    Some(ids) => {
                        sql.push(" WHERE u.id IN (");
                        for (i, id) in ids.iter().enumerate() {
                            if i > 0 {
                                sql.push(", ");
                            }
                            sql.bind_int(*id);
                        }
                        sql.push(")");
                    }
                    None => match &walk {
                        Some(walk) if dense => sql.append(walk),
                        // Through the index that finds this term best.
                        _ => sql.append(found_by),
                    },
                }
                if let PageRequest::After {
                    cursor: Some(c), ..
                } = page
                {
                    match (&c.key, q.sort) {
                        (_, UserSort::Id) => {
                            sql.push(&format!(" AND u.id {op} "));
                            sql.bind_int(c.id.0);
                        }
                        (CursorKey::Int(v), UserSort::CreatedAt) => {
                            sql.push(&format!(" AND ({col}, u.id) {op} ("));
                            sql.bind_int(*v);
                            sql.push(", ");
                            sql.bind_int(c.id.0);
                            sql.push(")");
                        }
                        (CursorKey::Text(v), UserSort::Username | UserSort::Email) => {
                            sql.push(&format!(" AND ({col}, u.id) {op} ("));
                            sql.bind_text(v.clone());
                            sql.push(", ");
                            sql.bind_int(c.id.0);
                            sql.push(")");
                        }
                        _ => {
                            return Err(CoreError::invalid(
                                "cursor",
                                latchkey_core::Reason::CursorMismatch,
                            ))
                        }
                    }
                }
                if q.sort == UserSort::Id {
                    sql.push(&format!(" ORDER BY u.id {dir}"));
                } else {
                    sql.push(&format!(" ORDER BY {col} {dir}, u.id {dir}"));
                }
                sql.push(" LIMIT ");
                sql.bind_int(limit_sql);
                if let PageRequest::Offset { offset, .. } = page {
                    sql.push(" OFFSET ");
                    sql.bind_int((*offset).min(i64::MAX as u64) as i64);
                }
            }
        }
        let rows = match planned.as_mut() {
            Some(tx) => sql.query().fetch_all(tx).await,
            None => sql.query().fetch_all(&self.read).await,
        }
        .map_err(db_err)?;
        if let Some(tx) = planned {
            tx.commit().await.map_err(db_err)?;
        }
        let mut users = rows
            .iter()
            .map(user_from_row)
            .collect::<CoreResult<Vec<_>>>()?;
        self.attach_roles(&mut users).await?;
        let next_cursor = match page {
            PageRequest::After { limit, .. } if users.len() as u64 == *limit && *limit > 0 => {
                users.last().map(|u| UserCursor {
                    id: u.id,
                    key: match q.sort {
                        UserSort::Id => CursorKey::Int(u.id.0),
                        UserSort::CreatedAt => CursorKey::Int(u.created_at.0),
                        UserSort::Username => CursorKey::Text(fold(&u.username)),
                        UserSort::Email => CursorKey::Text(fold(&u.email)),
                    },
                })
            }
            _ => None,
        };
        let total = total.max(0) as u64;
        let more = filtered && q.count_at_most.is_some_and(|b| total > b);
        Ok(UserPage {
            users,
            total: if more {
                q.count_at_most.unwrap_or(total)
            } else {
                total
            },
            more,
            next_cursor,
        })
    }
}

/// The page out of `ids`, the matches in the page's order from its start: all of them when
/// `complete`, else only the first ones (`None` when the page may lie beyond them).
fn cut_page(ids: &[i64], complete: bool, page: &PageRequest, descending: bool) -> Option<Vec<i64>> {
    let from = match page {
        PageRequest::Offset { offset, .. } => Some((*offset).min(ids.len() as u64) as usize),
        PageRequest::After {
            cursor: Some(c), ..
        } => ids
            .iter()
            .position(|&id| if descending { id < c.id.0 } else { id > c.id.0 })
            .or(complete.then_some(ids.len())),
        PageRequest::After { cursor: None, .. } => Some(0),
    }?;
    let (PageRequest::Offset { limit, .. } | PageRequest::After { limit, .. }) = page;
    let limit = usize::try_from(*limit).unwrap_or(usize::MAX);
    if !complete && from.saturating_add(limit) > ids.len() {
        return None;
    }
    Some(ids.iter().skip(from).take(limit).copied().collect())
}
