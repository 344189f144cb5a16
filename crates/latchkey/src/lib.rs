//! Latchkey: one identity core, a native REST API and five wire-compatible dialects.
//!
//! - [`core`] (the `latchkey-core` crate): users, credentials, roles, organizations,
//!   sessions; every rule, and the storage ports.
//! - [`store`] (the `latchkey-store` crate): the ports on SQLite and PostgreSQL.
//! - [`api`]: the native REST API (`/v1`), OpenAPI, operations endpoints.
//! - [`dialects`]: compatibility adapters, mounted under configurable prefixes.
//! - [`server`]: assembling the router and serving it.

pub mod api;
pub mod cli;
pub mod dialects;
pub mod http;
pub mod import;
pub mod logging;
pub mod mail;
pub mod pages;
pub mod proxy;
pub mod server;

pub use latchkey_core as core;
pub use latchkey_store as store;
