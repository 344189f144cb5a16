//! The `latchkey` command line: `serve`, `migrate`, and operator commands that act on the
//! same database (`user …`, `keys rotate`, `audit tail`). Every flag also reads an
//! environment variable.
//!
//! - `args`: the commands and flags (clap); defaults come from the core
//! - `config`: flags to the core's configuration and the database, shared by every command
//! - `serve`: the server's start-up and shutdown
//! - `operator`: the commands an operator runs against the database
//! - `clients`: `latchkey client …`, OAuth client registration
//! - `transfer`: `latchkey import` and `latchkey export`

mod args;
mod clients;
mod config;
mod operator;
mod serve;
mod settings;
mod transfer;

pub use args::*;

use crate::core::error::{CoreError, Reason};
use crate::store::redact_url;

/// A failure that ends the process with one line on stderr.
#[derive(Debug)]
pub struct Fatal(pub String);

impl From<String> for Fatal {
    fn from(s: String) -> Self {
        Fatal(s)
    }
}

pub(crate) fn describe(e: CoreError, db: &str) -> Fatal {
    match e {
        CoreError::Unavailable => Fatal(format!("cannot reach the database at {}", redact_url(db))),
        CoreError::Invalid {
            reason: Reason::Config(text),
            ..
        } => Fatal(text),
        CoreError::Invalid { field, reason } => Fatal(format!("{field} {reason}")),
        CoreError::Conflict(f) => Fatal(format!("{} already exists", f.as_str())),
        CoreError::NotFound(what) => Fatal(format!("{} not found", what.as_str())),
        CoreError::Internal(e) => Fatal(format!("{e:#}")),
        other => Fatal(other.to_string()),
    }
}

pub fn init_logging(format: LogFormat) {
    crate::logging::init(format == LogFormat::Json);
}

pub async fn run(cli: Cli) -> Result<(), Fatal> {
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Migrate(db) => {
            init_logging(db.log_format);
            config::open(&db).await?;
            println!("migrations applied to {}", redact_url(&db.database));
            Ok(())
        }
        Command::User(cmd) => operator::user(cmd).await,
        Command::Audit(cmd) => operator::audit(cmd).await,
        Command::Keys(cmd) => operator::keys(cmd).await,
        Command::Client(cmd) => clients::run(cmd).await,
        Command::Import(args) => transfer::import(args).await,
        Command::Export(args) => transfer::export(args).await,
    }
}
