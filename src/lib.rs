//! Latchkey: one identity core, a native REST API and five wire-compatible dialects.
//!
//! - [`core`]: users, credentials, roles, organizations, sessions; every rule.
//! - [`store`]: SQLite and PostgreSQL behind one implementation.
//! - [`api`]: the native REST API (`/v1`), OpenAPI, operations endpoints.
//! - [`dialects`]: compatibility adapters, mounted under configurable prefixes.
//! - [`server`]: assembling the router and serving it.

pub mod api;
pub mod cli;
pub mod core;
pub mod dialects;
pub mod http;
pub mod logging;
pub mod server;
pub mod store;
