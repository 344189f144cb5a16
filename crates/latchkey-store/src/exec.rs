//! Where statements run: a pool ([`Db`]) or an open transaction ([`TxConn`]), each knowing
//! whether a transaction-mode connection pooler (pgbouncer) sits between us and PostgreSQL.
//!
//! sqlx runs a statement with parameters in two exchanges: Parse (and Describe) then Sync,
//! then Bind and Execute then Sync. A transaction-mode pooler hands the server connection
//! back to its pool at every Sync outside a transaction, so the Bind can reach another
//! server, one that never parsed the statement (or parsed someone else's). And a statement
//! prepared under a name lives on one server connection, which the next transaction may not
//! get. Behind such a pooler (`--db-statement-cache 0`) every statement is therefore
//! unnamed (`persistent(false)`: parsed afresh, nothing left on the server), and a statement
//! run on the pool, outside a transaction, runs inside one of its own, so both exchanges
//! reach the same server. Without a pooler both types are plain delegation.

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::error::BoxDynError;
use sqlx::{
    Any, AnyConnection, AnyPool, Database, Describe, Either, Execute, Executor, Transaction,
};

/// A pool of connections.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pool: AnyPool,
    pooled: bool,
}

impl Db {
    pub(crate) fn new(pool: AnyPool, pooled: bool) -> Self {
        Db { pool, pooled }
    }

    pub(crate) async fn begin(&self) -> Result<TxConn, sqlx::Error> {
        Ok(TxConn {
            inner: self.pool.begin().await?,
            pooled: self.pooled,
        })
    }

    /// The pool itself, for what runs its own statements (migrations on SQLite).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// An open transaction's connection.
pub(crate) struct TxConn {
    inner: Transaction<'static, Any>,
    pooled: bool,
}

impl std::fmt::Debug for TxConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxConn")
            .field("pooled", &self.pooled)
            .finish_non_exhaustive()
    }
}

impl TxConn {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }

    /// The raw connection, for what sends no parameters (NOTIFY is sent with them, but
    /// through this type's executor).
    fn conn(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

/// A statement that leaves nothing prepared on the server.
struct Unprepared<E>(E);

impl<'q, E: Execute<'q, Any>> Execute<'q, Any> for Unprepared<E> {
    fn sql(&self) -> &'q str {
        self.0.sql()
    }

    fn statement(&self) -> Option<&<Any as Database>::Statement<'q>> {
        self.0.statement()
    }

    fn take_arguments(&mut self) -> Result<Option<<Any as Database>::Arguments<'q>>, BoxDynError> {
        self.0.take_arguments()
    }

    fn persistent(&self) -> bool {
        false
    }
}

type Step = Either<AnyQueryResult, AnyRow>;

impl<'c> Executor<'c> for &'c Db {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Step, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        if !self.pooled {
            return (&self.pool).fetch_many(query);
        }
        // Collected inside the statement's own transaction: the lists here are pages.
        let all = async move {
            let mut tx = self.pool.begin().await?;
            let steps: Vec<Step> = (&mut *tx)
                .fetch_many(Unprepared(query))
                .try_collect()
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(stream::iter(steps.into_iter().map(Ok)))
        };
        stream::once(all).try_flatten().boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        if !self.pooled {
            return (&self.pool).fetch_optional(query);
        }
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let row = (&mut *tx).fetch_optional(Unprepared(query)).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        (&self.pool).prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        (&self.pool).describe(sql)
    }
}

impl<'c> Executor<'c> for &'c mut TxConn {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Step, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        if self.pooled {
            self.conn().fetch_many(Unprepared(query))
        } else {
            self.conn().fetch_many(query)
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        if self.pooled {
            self.conn().fetch_optional(Unprepared(query))
        } else {
            self.conn().fetch_optional(query)
        }
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.conn().prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.conn().describe(sql)
    }
}
