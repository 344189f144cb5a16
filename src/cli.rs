//! The `latchkey` command line: `serve`, `migrate`, and operator commands that act on the
//! same database (`user …`, `keys rotate`). Every flag also reads an environment variable.

use std::io::BufRead;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::core::error::CoreError;
use crate::core::limits::{RateLimits, ThrottlePolicy};
use crate::core::model::{PageRequest, UserId, UserQuery};
use crate::core::password::HashParams;
use crate::core::service::NewAccount;
use crate::core::{roles, CoreConfig, Latchkey};
use crate::store::{redact_url, PoolConfig, Store};

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "Latchkey: a fast, secure identity service",
    long_about = "Latchkey keeps users, passwords, roles, organizations and sessions in one core and \
serves them over a native REST API (/v1) and wire-compatible dialects.\n\n\
Quick start:  latchkey serve        (SQLite file latchkey.db in this directory)\n\
Then:         curl http://127.0.0.1:8080/healthz   and open http://127.0.0.1:8080/docs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database and bootstraps an admin on first start).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Manage users directly in the database.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Read the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the latest events, oldest first; with --follow, keep printing new ones until
    /// interrupted.
    Tail {
        #[command(flatten)]
        db: DbArgs,
        /// How many of the latest events to print first.
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: u64,
        /// Keep printing events as they are recorded (polls every second).
        #[arg(long, short = 'f')]
        follow: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database URL: a SQLite file path (created on first start) or postgres://user@host/db.
    #[arg(
        long = "database",
        env = "LATCHKEY_DATABASE_URL",
        default_value = "latchkey.db",
        value_name = "URL"
    )]
    pub database: String,
    /// Largest number of database connections this process opens.
    #[arg(
        long,
        env = "LATCHKEY_DB_MAX_CONNECTIONS",
        default_value_t = 16,
        value_name = "N"
    )]
    pub db_max_connections: u32,
    /// Log format.
    #[arg(long, env = "LATCHKEY_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on.
    #[arg(
        long,
        env = "LATCHKEY_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: String,
    /// Turn off self-registration (native and dialect sign-up; admins can still create users).
    #[arg(long, env = "LATCHKEY_NO_REGISTRATION")]
    pub no_registration: bool,
    /// Move a dialect: NAME=PREFIX (e.g. org-users=/ for a drop-in replacement), or NAME=off.
    /// Repeatable. Dialects: auth-admin, user-profiles, role-assignments, org-users,
    /// citizen-portal; each defaults to /compat/NAME.
    #[arg(
        long = "mount",
        env = "LATCHKEY_MOUNTS",
        value_delimiter = ',',
        value_name = "NAME=PREFIX"
    )]
    pub mounts: Vec<String>,
    /// A reverse proxy whose X-Forwarded-For is believed for the client address (repeatable).
    /// Without one, the client address is the socket peer.
    #[arg(
        long = "trusted-proxy",
        env = "LATCHKEY_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "IP"
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// An origin browsers may call the API from (CORS; repeatable; off by default).
    #[arg(
        long = "cors-origin",
        env = "LATCHKEY_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub cors_origins: Vec<String>,
    /// Keep failed-login counters in Redis (redis://host:port/db) instead of the database.
    #[arg(long = "redis", env = "LATCHKEY_REDIS_URL", value_name = "URL")]
    pub redis: Option<String>,
    #[command(flatten)]
    pub core: CoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CoreArgs {
    /// Access token lifetime in seconds.
    #[arg(
        long,
        env = "LATCHKEY_ACCESS_TTL",
        default_value_t = 900,
        value_name = "SECS"
    )]
    pub access_ttl: u64,
    /// A session ends after this many seconds without a refresh.
    #[arg(long, env = "LATCHKEY_SESSION_IDLE", default_value_t = 7 * 24 * 3600, value_name = "SECS")]
    pub session_idle: u64,
    /// A session ends this many seconds after login, whatever its use.
    #[arg(long, env = "LATCHKEY_SESSION_LIFETIME", default_value_t = 30 * 24 * 3600, value_name = "SECS")]
    pub session_lifetime: u64,
    /// argon2id memory cost in KiB.
    #[arg(
        long,
        env = "LATCHKEY_ARGON2_MEMORY_KIB",
        default_value_t = 19_456,
        value_name = "KIB"
    )]
    pub argon2_memory_kib: u32,
    /// argon2id iterations.
    #[arg(
        long,
        env = "LATCHKEY_ARGON2_ITERATIONS",
        default_value_t = 2,
        value_name = "N"
    )]
    pub argon2_iterations: u32,
    /// argon2id parallelism.
    #[arg(
        long,
        env = "LATCHKEY_ARGON2_PARALLELISM",
        default_value_t = 1,
        value_name = "N"
    )]
    pub argon2_parallelism: u32,
    /// Token issuer (`iss`).
    #[arg(long, env = "LATCHKEY_ISSUER", default_value = "latchkey")]
    pub issuer: String,
    /// Token audience (`aud`).
    #[arg(long, env = "LATCHKEY_AUDIENCE", default_value = "latchkey")]
    pub audience: String,
    /// Consecutive failed logins for one username or email before it locks (0: never).
    #[arg(
        long,
        env = "LATCHKEY_LOGIN_LOCK_AFTER",
        default_value_t = 10,
        value_name = "N"
    )]
    pub login_lock_after: u32,
    /// The first lock, in seconds; each further failure doubles it.
    #[arg(
        long,
        env = "LATCHKEY_LOGIN_LOCK_SECS",
        default_value_t = 60,
        value_name = "SECS"
    )]
    pub login_lock_secs: u64,
    /// The longest lock, in seconds.
    #[arg(
        long,
        env = "LATCHKEY_LOGIN_LOCK_MAX_SECS",
        default_value_t = 900,
        value_name = "SECS"
    )]
    pub login_lock_max_secs: u64,
    /// Failed logins from one client address within the window before it is throttled (0: never).
    #[arg(
        long,
        env = "LATCHKEY_ADDRESS_FAILURE_LIMIT",
        default_value_t = 300,
        value_name = "N"
    )]
    pub address_failure_limit: u32,
    /// The client-address window, in seconds.
    #[arg(
        long,
        env = "LATCHKEY_ADDRESS_FAILURE_WINDOW_SECS",
        default_value_t = 900,
        value_name = "SECS"
    )]
    pub address_failure_window_secs: u64,
    /// Public sign-ups per client address per hour (0: unlimited).
    #[arg(
        long,
        env = "LATCHKEY_RATE_REGISTER_PER_HOUR",
        default_value_t = 60,
        value_name = "N"
    )]
    pub rate_register_per_hour: u32,
    /// Refresh-token exchanges per client address per minute (0: unlimited).
    #[arg(
        long,
        env = "LATCHKEY_RATE_REFRESH_PER_MINUTE",
        default_value_t = 600,
        value_name = "N"
    )]
    pub rate_refresh_per_minute: u32,
    /// Password changes per client address per hour (0: unlimited).
    #[arg(
        long,
        env = "LATCHKEY_RATE_PASSWORD_PER_HOUR",
        default_value_t = 20,
        value_name = "N"
    )]
    pub rate_password_per_hour: u32,
    /// Accept passwords that are on the common-passwords list.
    #[arg(long, env = "LATCHKEY_NO_PASSWORD_BLOCKLIST")]
    pub no_password_blocklist: bool,
}

impl Default for CoreArgs {
    fn default() -> Self {
        CoreArgs {
            access_ttl: 900,
            session_idle: 7 * 24 * 3600,
            session_lifetime: 30 * 24 * 3600,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            issuer: "latchkey".into(),
            audience: "latchkey".into(),
            login_lock_after: 10,
            login_lock_secs: 60,
            login_lock_max_secs: 900,
            address_failure_limit: 300,
            address_failure_window_secs: 900,
            rate_register_per_hour: 60,
            rate_refresh_per_minute: 600,
            rate_password_per_hour: 20,
            no_password_blocklist: false,
        }
    }
}

impl CoreArgs {
    pub fn to_config(&self, allow_registration: bool) -> Result<CoreConfig, String> {
        let hash = HashParams {
            m_kib: self.argon2_memory_kib,
            t: self.argon2_iterations,
            p: self.argon2_parallelism,
        };
        hash.validate()?;
        if self.access_ttl == 0 || self.session_idle == 0 || self.session_lifetime == 0 {
            return Err("token and session lifetimes must be at least 1 second".into());
        }
        Ok(CoreConfig {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            access_ttl_secs: self.access_ttl,
            session_idle_secs: self.session_idle,
            session_lifetime_secs: self.session_lifetime,
            allow_registration,
            hash,
            throttle: ThrottlePolicy {
                lock_after: self.login_lock_after,
                lock_base_secs: self.login_lock_secs.max(1),
                lock_max_secs: self.login_lock_max_secs.max(self.login_lock_secs.max(1)),
                address_limit: self.address_failure_limit,
                address_window_secs: self.address_failure_window_secs.max(1),
            },
            rates: RateLimits {
                register_per_hour: self.rate_register_per_hour,
                refresh_per_minute: self.rate_refresh_per_minute,
                password_per_hour: self.rate_password_per_hour,
            },
            password_blocklist: !self.no_password_blocklist,
            key_encryption_key: key_encryption_key()?,
            ..CoreConfig::default()
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from standard input with --password-stdin,
    /// otherwise a random one is generated and printed.
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// A role to grant (repeatable).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Grant the admin role.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users (id, username, email, active, roles).
    List {
        #[command(flatten)]
        db: DbArgs,
        /// Free-text filter over username, email and names.
        #[arg(long)]
        search: Option<String>,
        /// At most this many users.
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Set a user's password (ends all their sessions).
    SetPassword {
        #[command(flatten)]
        db: DbArgs,
        /// Username, email or numeric id.
        user: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Grant a role to a user (the role is created if needed).
    Grant {
        #[command(flatten)]
        db: DbArgs,
        /// Username, email or numeric id.
        user: String,
        role: String,
    },
    /// Remove a role from a user.
    Revoke {
        #[command(flatten)]
        db: DbArgs,
        /// Username, email or numeric id.
        user: String,
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key. Tokens signed by the old key stay valid until they expire.
    Rotate {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// A failure that ends the process with one line on stderr.
#[derive(Debug)]
pub struct Fatal(pub String);

impl From<String> for Fatal {
    fn from(s: String) -> Self {
        Fatal(s)
    }
}

fn describe(e: CoreError, db: &str) -> Fatal {
    match e {
        CoreError::Unavailable => Fatal(format!("cannot reach the database at {}", redact_url(db))),
        CoreError::Invalid { reason, .. } => Fatal(reason),
        CoreError::Conflict(f) => Fatal(format!("{} already exists", f.as_str())),
        CoreError::NotFound(what) => Fatal(format!("{} not found", what.as_str())),
        CoreError::Internal(e) => Fatal(format!("{e:#}")),
        other => Fatal(other.to_string()),
    }
}

pub fn init_logging(format: LogFormat) {
    crate::logging::init(format == LogFormat::Json);
}

async fn open(db: &DbArgs) -> Result<Store, Fatal> {
    let pool = PoolConfig {
        max_connections: db.db_max_connections.max(1),
        ..PoolConfig::default()
    };
    let store = Store::connect(&db.database, pool)
        .await
        .map_err(|e| describe(e, &db.database))?;
    store
        .migrate()
        .await
        .map_err(|e| describe(e, &db.database))?;
    Ok(store)
}

async fn service(db: &DbArgs) -> Result<std::sync::Arc<Latchkey>, Fatal> {
    let store = open(db).await?;
    let cfg = CoreArgs::default().to_config(true)?;
    Latchkey::new(store, cfg)
        .await
        .map_err(|e| describe(e, &db.database))
}

/// `LATCHKEY_KEY_ENCRYPTION_KEY`: base64 of 32 bytes; seals signing keys at rest. Read from
/// the environment only (a flag would show in the process list).
fn key_encryption_key() -> Result<Option<crate::core::tokens::KeyEncryptionKey>, String> {
    match std::env::var("LATCHKEY_KEY_ENCRYPTION_KEY") {
        Ok(v) if !v.trim().is_empty() => crate::core::tokens::KeyEncryptionKey::parse(&v)
            .map(Some)
            .map_err(|e| format!("LATCHKEY_KEY_ENCRYPTION_KEY: {e}")),
        _ => Ok(None),
    }
}

fn read_password(from_stdin: bool) -> Result<(String, bool), Fatal> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Fatal(format!("cannot read the password from standard input: {e}")))?;
        let pw = line.trim_end_matches(['\n', '\r']).to_owned();
        Ok((pw, false))
    } else {
        Ok((crate::core::tokens::new_refresh_token(), true))
    }
}

async fn resolve_user(svc: &Latchkey, who: &str) -> Result<UserId, Fatal> {
    let op = Latchkey::operator();
    if let Ok(id) = who.parse::<i64>() {
        if let Ok(u) = svc.get_user(&op, UserId(id)).await {
            return Ok(u.id);
        }
    }
    svc.find_user(&op, who)
        .await
        .map(|u| u.id)
        .map_err(|_| Fatal(format!("no user '{who}'")))
}

fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
        tracing::info!("shutting down: draining in-flight requests");
        let _ = tx.send(true);
    });
    rx
}

pub async fn run(cli: Cli) -> Result<(), Fatal> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(db) => {
            init_logging(db.log_format);
            open(&db).await?;
            println!("migrations applied to {}", redact_url(&db.database));
            Ok(())
        }
        Command::User(cmd) => user(cmd).await,
        Command::Audit(AuditCommand::Tail { db, limit, follow }) => {
            init_logging(db.log_format);
            let svc = service(&db).await?;
            let mut last = None;
            loop {
                let events = svc
                    .tail_audit(
                        last,
                        if last.is_some() {
                            1000
                        } else {
                            limit.clamp(1, 10_000)
                        },
                    )
                    .await
                    .map_err(|e| describe(e, &db.database))?;
                for e in &events {
                    println!(
                        "{} {:<24} {:<7} actor={} target={} ip={} {}",
                        e.at.to_rfc3339(),
                        e.action,
                        e.outcome,
                        e.actor.as_deref().unwrap_or("-"),
                        match (&e.target_type, &e.target_id) {
                            (Some(t), Some(i)) => format!("{t}:{i}"),
                            _ => "-".into(),
                        },
                        e.client_ip.as_deref().unwrap_or("-"),
                        e.detail.as_deref().unwrap_or(""),
                    );
                }
                if let Some(e) = events.last() {
                    last = Some(e.id);
                } else if last.is_none() {
                    last = Some(0);
                }
                if !follow {
                    return Ok(());
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                }
            }
        }
        Command::Keys(KeysCommand::Rotate { db }) => {
            init_logging(db.log_format);
            let svc = service(&db).await?;
            let kid = svc
                .rotate_keys()
                .await
                .map_err(|e| describe(e, &db.database))?;
            println!("new signing key {kid}; older keys verify until their tokens expire");
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), Fatal> {
    init_logging(args.db.log_format);
    let cfg = args.core.to_config(!args.no_registration)?;
    let http = crate::server::HttpOptions {
        mounts: crate::dialects::Mounts::parse(&args.mounts, &crate::server::root_routes())?,
        trusted_proxies: args
            .trusted_proxies
            .iter()
            .map(|ip| ip.to_canonical())
            .collect(),
        cors_origins: args.cors_origins.clone(),
    };
    http.validate()?;
    let addr: SocketAddr = args.listen.parse().map_err(|_| {
        Fatal(format!(
            "invalid listen address '{}': expected HOST:PORT, e.g. 127.0.0.1:8080",
            args.listen
        ))
    })?;
    // Bind first: a port in use is a configuration error worth reporting before touching
    // the database.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Fatal(format!("cannot listen on {addr}: {e}")))?;
    let store = open(&args.db).await?;
    let counters: Option<std::sync::Arc<dyn crate::core::limits::Counters>> = match &args.redis {
        Some(url) => Some(std::sync::Arc::new(
            crate::store::redis::RedisCounters::connect(url)
                .await
                .map_err(|e| Fatal(format!("--redis {}: {e}", redact_url(url))))?,
        )),
        None => None,
    };
    let svc = Latchkey::with_counters(store, cfg, counters)
        .await
        .map_err(|e| describe(e, &args.db.database))?;

    let admin_user = std::env::var("LATCHKEY_ADMIN_USERNAME").unwrap_or_else(|_| "admin".into());
    let admin_email =
        std::env::var("LATCHKEY_ADMIN_EMAIL").unwrap_or_else(|_| "admin@example.com".into());
    let admin_password = std::env::var("LATCHKEY_ADMIN_PASSWORD").ok();
    match svc
        .bootstrap_admin(&admin_user, &admin_email, admin_password)
        .await
    {
        Ok(Some(b)) => {
            tracing::info!(user.name = %b.username, "bootstrap: created the admin user");
            if let Some(pw) = b.generated_password {
                // Printed once, to the terminal only: never through the logger.
                eprintln!(
                    "\n  Created admin user '{}' with generated password:\n\n      {pw}\n\n  \
                     Store it now; it is not shown again. (Set LATCHKEY_ADMIN_PASSWORD to choose it.)\n",
                    b.username
                );
            }
        }
        Ok(None) => {}
        Err(e) => {
            return Err(Fatal(format!(
                "bootstrap admin: {}",
                describe(e, &args.db.database).0
            )))
        }
    }

    let local = listener.local_addr().map_err(|e| Fatal(e.to_string()))?;
    tracing::info!(
        listen = %local,
        database = %redact_url(&args.db.database),
        "latchkey listening (docs at http://{local}/docs)"
    );
    let shutdown = shutdown_signal();
    for (d, prefix) in http.mounts.iter() {
        tracing::info!(
            dialect = d.name(),
            prefix = if prefix.is_empty() { "/" } else { prefix },
            "dialect mounted"
        );
    }
    crate::server::serve(listener, svc.clone(), &http, shutdown)
        .await
        .map_err(|e| Fatal(format!("server error: {e}")))?;
    // Give the pool a moment to close cleanly.
    tokio::time::timeout(Duration::from_secs(5), svc.store().close())
        .await
        .ok();
    tracing::info!("stopped");
    Ok(())
}

async fn user(cmd: UserCommand) -> Result<(), Fatal> {
    let op = Latchkey::operator();
    match cmd {
        UserCommand::Create {
            db,
            username,
            email,
            mut roles,
            admin,
            password_stdin,
        } => {
            init_logging(db.log_format);
            let svc = service(&db).await?;
            if admin {
                roles.push(roles::ADMIN.to_owned());
            }
            let (password, generated) = read_password(password_stdin)?;
            let account = NewAccount {
                username,
                email,
                password: password.clone(),
                roles,
                is_active: true,
                ..Default::default()
            };
            let u = svc
                .create_user(&op, account)
                .await
                .map_err(|e| describe(e, &db.database))?;
            println!(
                "created user {} (id {}) roles [{}]",
                u.username,
                u.id,
                u.roles.join(", ")
            );
            if generated {
                println!("generated password: {password}");
            }
            Ok(())
        }
        UserCommand::List { db, search, limit } => {
            init_logging(db.log_format);
            let svc = service(&db).await?;
            let q = UserQuery {
                search,
                ..Default::default()
            };
            let page = svc
                .list_users(&op, &q, &PageRequest::Offset { offset: 0, limit })
                .await
                .map_err(|e| describe(e, &db.database))?;
            println!(
                "{:>8}  {:<24}  {:<32}  {:<6}  roles",
                "id", "username", "email", "active"
            );
            for u in &page.users {
                println!(
                    "{:>8}  {:<24}  {:<32}  {:<6}  {}",
                    u.id,
                    u.username,
                    u.email,
                    u.is_active,
                    u.roles.join(",")
                );
            }
            println!("{} of {} users", page.users.len(), page.total);
            Ok(())
        }
        UserCommand::SetPassword {
            db,
            user,
            password_stdin,
        } => {
            init_logging(db.log_format);
            let svc = service(&db).await?;
            let id = resolve_user(&svc, &user).await?;
            let (password, generated) = read_password(password_stdin)?;
            svc.reset_password(&op, id, &password)
                .await
                .map_err(|e| describe(e, &db.database))?;
            println!("password set for user {id}; their sessions have ended");
            if generated {
                println!("generated password: {password}");
            }
            Ok(())
        }
        UserCommand::Grant { db, user, role } => {
            init_logging(db.log_format);
            let svc = service(&db).await?;
            let id = resolve_user(&svc, &user).await?;
            let a = svc
                .assign_role(&op, id, &role, true)
                .await
                .map_err(|e| describe(e, &db.database))?;
            println!("granted {} to user {id}", a.role);
            Ok(())
        }
        UserCommand::Revoke { db, user, role } => {
            init_logging(db.log_format);
            let svc = service(&db).await?;
            let id = resolve_user(&svc, &user).await?;
            svc.unassign_role(&op, id, &role)
                .await
                .map_err(|e| describe(e, &db.database))?;
            println!("revoked {role} from user {id}");
            Ok(())
        }
    }
}
