//! Signing keys.

use async_trait::async_trait;
use sqlx::Row;

use latchkey_core::cache::Invalidation;
use latchkey_core::error::CoreError;
use latchkey_core::error::CoreResult;
use latchkey_core::model::*;
use latchkey_core::ports::*;

use crate::{db_err, Store};
use latchkey_core::keys::{KeyAlg, StoredKey};

#[async_trait]
impl KeyStore for Store {
    async fn list_keys(&self) -> CoreResult<Vec<StoredKey>> {
        let rows = sqlx::query(
            "SELECT kid, alg, private_der, public_x, created_at, retired_at FROM signing_keys ORDER BY created_at",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let alg: String = r.try_get("alg").map_err(db_err)?;
                Ok(StoredKey {
                    kid: r.try_get("kid").map_err(db_err)?,
                    alg: KeyAlg::parse(&alg).ok_or_else(|| {
                        CoreError::internal(std::io::Error::other(format!(
                            "signing key with unknown algorithm {alg}"
                        )))
                    })?,
                    private_der: r.try_get("private_der").map_err(db_err)?,
                    public_x: r.try_get("public_x").map_err(db_err)?,
                    created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
                    retired_at: r
                        .try_get::<Option<i64>, _>("retired_at")
                        .map_err(db_err)?
                        .map(Timestamp),
                })
            })
            .collect()
    }

    /// Adds a key. With `retire_others`, the previous keys of its algorithm stop signing
    /// (they keep verifying until their tokens expire).
    async fn add_key(&self, key: &StoredKey, retire_others: bool) -> CoreResult<Written<()>> {
        let mut tx = self.begin().await?;
        if retire_others {
            sqlx::query(
                "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL AND alg = $2",
            )
            .bind(key.created_at.0)
            .bind(key.alg.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_der, public_x, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.kid)
        .bind(key.alg.as_str())
        .bind(&key.private_der)
        .bind(&key.public_x)
        .bind(key.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.emit(&[Invalidation::Keys]).await?;
        tx.done(()).await
    }

    /// Deletes keys retired before `before` (no token they signed can still be valid).
    async fn prune_keys(&self, before: Timestamp) -> CoreResult<u64> {
        sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
            .bind(before.0)
            .execute(&self.write)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err)
    }
}
