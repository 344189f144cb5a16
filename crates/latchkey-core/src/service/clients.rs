//! OAuth client registration: administration only. A confidential client's secret is shown
//! once, when it is made (at creation or rotation), and stored as a digest.

use crate::access::Admin;
use crate::audit::AuditEvent;
use crate::error::{CoreError, CoreResult, Entity};
use crate::oauth::clients::{new_client_id, Registration};
use crate::oauth::{Client, ClientPatch, NewClient};
use crate::tokens::{new_refresh_token, refresh_digest};

/// A client as created, with its secret (`None` for a public client): the only time the
/// secret is seen.
#[derive(Debug, Clone)]
pub struct CreatedClient {
    pub client: Client,
    pub secret: Option<String>,
}

impl Admin<'_> {
    pub async fn create_client(&self, c: NewClient) -> CoreResult<CreatedClient> {
        let r = Registration::new(&c)?;
        let id = new_client_id();
        let secret = (!r.public).then(new_refresh_token);
        self.svc
            .store
            .create_client(&id, &r, secret.as_deref().map(refresh_digest).as_deref())
            .await?;
        self.record(
            AuditEvent::new("client.created")
                .on("client", &id)
                .detail(format!(
                    "{} client, grants [{}]",
                    if r.public { "public" } else { "confidential" },
                    r.grant_types
                        .iter()
                        .map(|g| g.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
        )
        .await;
        Ok(CreatedClient {
            client: self.get_client(&id).await?,
            secret,
        })
    }

    pub async fn get_client(&self, id: &str) -> CoreResult<Client> {
        if id.contains('\0') || id.len() > 64 {
            return Err(CoreError::NotFound(Entity::Client));
        }
        self.svc
            .store
            .get_client(id)
            .await?
            .ok_or(CoreError::NotFound(Entity::Client))
    }

    pub async fn list_clients(&self, offset: u64, limit: u64) -> CoreResult<(Vec<Client>, u64)> {
        self.svc.store.list_clients(offset, limit).await
    }

    pub async fn update_client(&self, id: &str, patch: ClientPatch) -> CoreResult<Client> {
        let current = self.get_client(id).await?;
        let r = Registration::patched(&current, &patch)?;
        let w = self.svc.store.update_client(id, &r).await?;
        self.svc.applied(w);
        self.record(AuditEvent::new("client.updated").on("client", id))
            .await;
        self.get_client(id).await
    }

    /// A new secret for a confidential client; the old one stops working at once.
    pub async fn rotate_client_secret(&self, id: &str) -> CoreResult<CreatedClient> {
        let client = self.get_client(id).await?;
        if client.public {
            return Err(CoreError::invalid(
                "client_id",
                crate::error::Reason::PublicClientSecret,
            ));
        }
        let secret = new_refresh_token();
        let w = self
            .svc
            .store
            .set_client_secret(id, &refresh_digest(&secret))
            .await?;
        self.svc.applied(w);
        self.record(AuditEvent::new("client.secret_rotated").on("client", id))
            .await;
        Ok(CreatedClient {
            client: self.get_client(id).await?,
            secret: Some(secret),
        })
    }

    pub async fn delete_client(&self, id: &str) -> CoreResult<()> {
        self.get_client(id).await?;
        let w = self.svc.store.delete_client(id).await?;
        self.svc.applied(w);
        self.record(AuditEvent::new("client.deleted").on("client", id))
            .await;
        Ok(())
    }
}
