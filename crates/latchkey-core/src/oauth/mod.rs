//! The OAuth 2.1 / OpenID Connect provider's domain: registered clients, their validation,
//! and the scopes Latchkey knows. The flows that use them live in `service::oauth`.

pub mod authorize;
pub mod claims;
pub mod clients;

pub use authorize::{AuthorizationRequest, AuthorizeError, Prompt};
pub use clients::{Client, ClientPatch, GrantType, IdTokenAlg, NewClient};

/// An OAuth protocol refusal (RFC 6749 §5.2): the provider's answer to a request that the
/// protocol, not the domain, rules out. The token and introspection endpoints answer these
/// in the protocol's own JSON; nothing else sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthError {
    /// A parameter is missing, repeated or malformed.
    InvalidRequest(&'static str),
    /// Unknown client, wrong secret, or a way of authenticating the client does not have.
    InvalidClient,
    /// A code, refresh token or credential that is not (or no longer) good.
    InvalidGrant(&'static str),
    /// The client is not registered for this grant type.
    UnauthorizedClient,
    /// A grant type Latchkey does not offer.
    UnsupportedGrantType,
    /// A scope the client is not registered for, or that this grant cannot give.
    InvalidScope,
}

impl OAuthError {
    /// The `error` code.
    pub fn code(self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient => "unauthorized_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope => "invalid_scope",
        }
    }

    /// The `error_description`: what a developer needs, and nothing about secrets.
    pub fn description(self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(d) | OAuthError::InvalidGrant(d) => d,
            OAuthError::InvalidClient => "client authentication failed",
            OAuthError::UnauthorizedClient => "the client is not registered for this grant type",
            OAuthError::UnsupportedGrantType => {
                "grant_type must be authorization_code, refresh_token or client_credentials"
            }
            OAuthError::InvalidScope => "a requested scope is not registered for this client",
        }
    }
}
