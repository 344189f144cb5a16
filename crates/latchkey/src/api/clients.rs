//! `/v1/clients*`: OAuth 2.1 / OpenID Connect client registration. Admins only. A
//! confidential client's secret is in the answer to its creation and to a rotation, and
//! nowhere else.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{page_window, ts, PageParams};
use super::problem::{ApiResult, Json, Path, Problem, Query};
use super::Auth;
use crate::core::oauth::{Client, ClientPatch, NewClient};
use crate::core::service::CreatedClient;
use crate::http::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, update_client, delete_client))
        .routes(routes!(rotate_secret))
}

/// A registered client.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientDto {
    pub client_id: String,
    pub name: String,
    /// Public clients (browser and native apps) have no secret and must use PKCE.
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    #[schema(example = json!(["authorization_code", "refresh_token"]))]
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// First-party clients skip the consent page.
    pub first_party: bool,
    #[schema(example = "RS256")]
    pub id_token_signed_response_alg: String,
    /// `client_secret_basic`, `client_secret_post`, or `none` for a public client.
    pub token_endpoint_auth_methods: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Client> for ClientDto {
    fn from(c: Client) -> Self {
        ClientDto {
            token_endpoint_auth_methods: if c.public {
                vec!["none".into()]
            } else {
                vec!["client_secret_basic".into(), "client_secret_post".into()]
            },
            client_id: c.id,
            name: c.name,
            public: c.public,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grant_types: c
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            scopes: c.scopes,
            first_party: c.first_party,
            id_token_signed_response_alg: c.id_token_alg.as_str().to_owned(),
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
        }
    }
}

/// A client with its secret: shown once, at creation or rotation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientWithSecret {
    #[serde(flatten)]
    pub client: ClientDto,
    /// Absent for public clients. Store it now: it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<CreatedClient> for ClientWithSecret {
    fn from(c: CreatedClient) -> Self {
        ClientWithSecret {
            client: c.client.into(),
            client_secret: c.secret,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    pub name: String,
    /// Required for the authorization-code grant; compared exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub public: bool,
    /// Default `["authorization_code", "refresh_token"]`.
    pub grant_types: Option<Vec<String>>,
    /// Default `["openid", "profile", "email", "offline_access", "roles"]`.
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub first_party: bool,
    /// `RS256` (default), `ES256` or `EdDSA`.
    pub id_token_signed_response_alg: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientRequest {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub first_party: Option<bool>,
    pub id_token_signed_response_alg: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientListResponse {
    pub items: Vec<ClientDto>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ClientPath {
    /// The client's id.
    pub client_id: String,
}

/// Registered clients, oldest first.
#[utoipa::path(get, path = "/v1/clients", tag = "clients", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page of clients", body = ClientListResponse),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_clients(
    State(st): State<AppState>,
    Auth(p): Auth,
    Query(params): Query<PageParams>,
) -> ApiResult<Json<ClientListResponse>> {
    let (page, per_page, offset) = page_window(params.page, params.per_page)?;
    let (items, total) = st.svc.admin(&p)?.list_clients(offset, per_page).await?;
    Ok(Json(ClientListResponse {
        items: items.into_iter().map(ClientDto::from).collect(),
        total,
        page,
        per_page,
    }))
}

/// Register a client. The answer carries the secret of a confidential client, once.
#[utoipa::path(post, path = "/v1/clients", tag = "clients", security(("bearer" = [])),
    request_body = CreateClientRequest,
    responses(
        (status = 201, description = "Registered", body = ClientWithSecret),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid registration", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_client(
    State(st): State<AppState>,
    Auth(p): Auth,
    Json(req): Json<CreateClientRequest>,
) -> ApiResult<(StatusCode, Json<ClientWithSecret>)> {
    let c = NewClient {
        name: req.name,
        redirect_uris: req.redirect_uris,
        post_logout_redirect_uris: req.post_logout_redirect_uris,
        public: req.public,
        grant_types: req.grant_types,
        scopes: req.scopes,
        first_party: req.first_party,
        id_token_alg: req.id_token_signed_response_alg,
    };
    let created = st.svc.admin(&p)?.create_client(c).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// A registered client (never its secret).
#[utoipa::path(get, path = "/v1/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(ClientPath),
    responses(
        (status = 200, description = "The client", body = ClientDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_client(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(path): Path<ClientPath>,
) -> ApiResult<Json<ClientDto>> {
    Ok(Json(
        st.svc.admin(&p)?.get_client(&path.client_id).await?.into(),
    ))
}

/// Change a registration; fields left out keep their value. Takes effect at once on every
/// instance.
#[utoipa::path(patch, path = "/v1/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(ClientPath),
    request_body = UpdateClientRequest,
    responses(
        (status = 200, description = "Updated", body = ClientDto),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid registration", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_client(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(path): Path<ClientPath>,
    Json(req): Json<UpdateClientRequest>,
) -> ApiResult<Json<ClientDto>> {
    let patch = ClientPatch {
        name: req.name,
        redirect_uris: req.redirect_uris,
        post_logout_redirect_uris: req.post_logout_redirect_uris,
        grant_types: req.grant_types,
        scopes: req.scopes,
        first_party: req.first_party,
        id_token_alg: req.id_token_signed_response_alg,
    };
    let c = st
        .svc
        .admin(&p)?
        .update_client(&path.client_id, patch)
        .await?;
    Ok(Json(c.into()))
}

/// Delete a client; its tokens stop being issued at once.
#[utoipa::path(delete, path = "/v1/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(ClientPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_client(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(path): Path<ClientPath>,
) -> ApiResult<StatusCode> {
    st.svc.admin(&p)?.delete_client(&path.client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret for a confidential client; the old one stops working at once.
#[utoipa::path(post, path = "/v1/clients/{client_id}/rotate-secret", tag = "clients", security(("bearer" = [])),
    params(ClientPath),
    responses(
        (status = 200, description = "The client with its new secret", body = ClientWithSecret),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A public client has no secret", body = Problem, content_type = "application/problem+json"),
    ))]
async fn rotate_secret(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(path): Path<ClientPath>,
) -> ApiResult<Json<ClientWithSecret>> {
    let c = st
        .svc
        .admin(&p)?
        .rotate_client_secret(&path.client_id)
        .await?;
    Ok(Json(c.into()))
}
