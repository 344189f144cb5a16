//! Latchkey's core: domain types, rules, password and token services, the auth cache, and
//! the storage ports the services need. No SQL and no HTTP: this crate depends on neither
//! sqlx nor axum, tower or hyper, so the compiler keeps them out.
//!
//! - [`service`]: [`Latchkey`], one file per capability; [`access`]: who may do what
//! - [`ports`]: the storage traits that `latchkey-store` implements
//! - [`model`], [`error`], [`validate`], [`roles`]: the domain
//! - [`oauth`]: registered clients of the OAuth 2.1 / OpenID provider
//! - [`password`], [`tokens`], [`cache`], [`limits`], [`audit`]: the services' parts

pub mod access;
pub mod audit;
pub mod cache;
pub mod config;
pub mod error;
pub mod import;
pub mod keys;
pub mod limits;
pub mod mail;
pub mod mfa;
pub mod model;
pub mod oauth;
pub mod password;
pub mod ports;
pub mod roles;
pub mod seal;
pub mod service;
pub mod tokens;
pub mod validate;

pub use config::CoreConfig;
pub use error::{CoreError, CoreResult, Reason};
pub use service::Latchkey;
