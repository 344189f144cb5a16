//! Black-box tests of Latchkey over HTTP (and its CLI), each storage-touching test on SQLite
//! and PostgreSQL. One test binary, so it links once.

mod helpers;

mod audit;
mod auth;
mod cli;
mod conformance;
mod console;
mod dialects;
mod faults;
mod import;
mod input;
mod instances;
mod layers;
mod mail;
mod mfa;
mod mfa_pages;
mod mfa_policy;
mod oauth;
mod oidc;
mod ops;
mod orgs;
mod outbox;
mod passkeys;
mod ranks;
mod regressions;
mod roles;
mod scale;
mod search;
mod security;
mod smtp_sink;
mod users;
