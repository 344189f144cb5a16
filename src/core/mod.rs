//! Latchkey's core: domain types, rules, password and token services, and the service
//! that every edge calls. No HTTP or SQL types appear in its signatures.

pub mod audit;
pub mod cache;
pub mod error;
pub mod limits;
pub mod model;
pub mod password;
pub mod roles;
pub mod service;
pub mod tokens;
pub mod validate;

pub use error::{CoreError, CoreResult};
pub use service::{CoreConfig, Latchkey};
