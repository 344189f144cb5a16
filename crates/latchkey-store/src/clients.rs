//! Registered OAuth clients.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use latchkey_core::cache::Invalidation;
use latchkey_core::error::{CoreError, CoreResult, Entity};
use latchkey_core::model::SessionId;
use latchkey_core::model::Timestamp;
use latchkey_core::oauth::clients::Registration;
use latchkey_core::oauth::{Client, GrantType, IdTokenAlg};
use latchkey_core::ports::{ClientStore, Written};

use crate::rows::get_bool;
use crate::{db_err, Store, Tx};

const CLIENT_SELECT: &str = "SELECT id, name, public, secret_hash, redirect_uris, \
    post_logout_redirect_uris, grant_types, scopes, first_party, id_token_alg, created_at, \
    updated_at FROM oauth_clients";

fn list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn grants(r: &Registration) -> String {
    list(
        &r.grant_types
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect::<Vec<_>>(),
    )
}

fn strings(r: &AnyRow, col: &str) -> CoreResult<Vec<String>> {
    let raw: String = r.try_get(col).map_err(db_err)?;
    serde_json::from_str(&raw).map_err(CoreError::internal)
}

fn client_from_row(r: &AnyRow) -> CoreResult<(Client, Option<String>)> {
    let secret: Option<String> = r.try_get("secret_hash").map_err(db_err)?;
    let alg: String = r.try_get("id_token_alg").map_err(db_err)?;
    let client = Client {
        id: r.try_get("id").map_err(db_err)?,
        name: r.try_get("name").map_err(db_err)?,
        public: get_bool(r, "public")?,
        has_secret: secret.is_some(),
        redirect_uris: strings(r, "redirect_uris")?,
        post_logout_redirect_uris: strings(r, "post_logout_redirect_uris")?,
        grant_types: strings(r, "grant_types")?
            .iter()
            .filter_map(|g| GrantType::parse(g))
            .collect(),
        scopes: strings(r, "scopes")?,
        first_party: get_bool(r, "first_party")?,
        id_token_alg: IdTokenAlg::parse(&alg).unwrap_or_default(),
        created_at: Timestamp(r.try_get("created_at").map_err(db_err)?),
        updated_at: Timestamp(r.try_get("updated_at").map_err(db_err)?),
    };
    Ok((client, secret))
}

#[async_trait]
impl ClientStore for Store {
    async fn create_client(
        &self,
        id: &str,
        r: &Registration,
        secret_digest: Option<&str>,
    ) -> CoreResult<()> {
        let now = Timestamp::now();
        sqlx::query(
            "INSERT INTO oauth_clients (id, name, public, secret_hash, redirect_uris, \
             post_logout_redirect_uris, grant_types, scopes, first_party, id_token_alg, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(id)
        .bind(&r.name)
        .bind(r.public)
        .bind(secret_digest)
        .bind(list(&r.redirect_uris))
        .bind(list(&r.post_logout_redirect_uris))
        .bind(grants(r))
        .bind(list(&r.scopes))
        .bind(r.first_party)
        .bind(r.id_token_alg.as_str())
        .bind(now.0)
        .execute(&self.write)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn get_client(&self, id: &str) -> CoreResult<Option<Client>> {
        Ok(self.client_credentials(id).await?.map(|(c, _)| c))
    }

    async fn client_credentials(&self, id: &str) -> CoreResult<Option<(Client, Option<String>)>> {
        let row = sqlx::query(&format!("{CLIENT_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn list_clients(&self, offset: u64, limit: u64) -> CoreResult<(Vec<Client>, u64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oauth_clients")
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?;
        let rows = sqlx::query(&format!(
            "{CLIENT_SELECT} ORDER BY created_at, id LIMIT $1 OFFSET $2"
        ))
        .bind(limit.min(i64::MAX as u64) as i64)
        .bind(offset.min(i64::MAX as u64) as i64)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        let list = rows
            .iter()
            .map(|r| client_from_row(r).map(|(c, _)| c))
            .collect::<CoreResult<Vec<_>>>()?;
        Ok((list, total.max(0) as u64))
    }

    async fn update_client(&self, id: &str, r: &Registration) -> CoreResult<Written<()>> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE oauth_clients SET name = $2, redirect_uris = $3, \
             post_logout_redirect_uris = $4, grant_types = $5, scopes = $6, first_party = $7, \
             id_token_alg = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(id)
        .bind(&r.name)
        .bind(list(&r.redirect_uris))
        .bind(list(&r.post_logout_redirect_uris))
        .bind(grants(r))
        .bind(list(&r.scopes))
        .bind(r.first_party)
        .bind(r.id_token_alg.as_str())
        .bind(Timestamp::now().0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        self.client_changed(tx, id, n).await
    }

    async fn set_client_secret(&self, id: &str, secret_digest: &str) -> CoreResult<Written<()>> {
        let mut tx = self.begin().await?;
        let n =
            sqlx::query("UPDATE oauth_clients SET secret_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(secret_digest)
                .bind(Timestamp::now().0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        self.client_changed(tx, id, n).await
    }

    /// Deletes a client, its codes and grants, and ends every session opened for it (so
    /// its tokens stop at once).
    async fn delete_client(&self, id: &str) -> CoreResult<Written<()>> {
        let mut tx = self.begin().await?;
        let ended: Vec<String> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $2, revoke_reason = 'client deleted' \
             WHERE client_id = $1 AND revoked_at IS NULL RETURNING id",
        )
        .bind(id)
        .bind(Timestamp::now().0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let n = sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Err(CoreError::NotFound(Entity::Client));
        }
        let mut events: Vec<Invalidation> = ended
            .into_iter()
            .map(|s| Invalidation::Session(SessionId(s)))
            .collect();
        events.push(Invalidation::Client(id.to_owned()));
        tx.emit(&events).await?;
        tx.done(()).await
    }
}

impl Store {
    /// Ends a client write: not found when nothing changed, else the change is recorded so
    /// every instance drops its cached copy.
    async fn client_changed(&self, mut tx: Tx, id: &str, rows: u64) -> CoreResult<Written<()>> {
        if rows == 0 {
            tx.rollback().await?;
            return Err(CoreError::NotFound(Entity::Client));
        }
        tx.emit(&[Invalidation::Client(id.to_owned())]).await?;
        tx.done(()).await
    }
}
