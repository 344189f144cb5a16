//! The command line's shape: every command, flag and environment variable. Defaults are
//! the core's own ([`CoreConfig::default`] and the policy types), shown here, not restated.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::core::limits::{RateLimits, ThrottlePolicy};
use crate::core::mail::MailPolicy;
use crate::core::password::HashParams;
use crate::core::roles::RoleIds;
use crate::core::CoreConfig;
use crate::store::PoolConfig;

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
    /// Manage OAuth 2.1 / OpenID Connect clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Import users with their password hashes (bcrypt, argon2, scrypt, PBKDF2 in the
    /// formats of Werkzeug, Django, passlib and Keycloak). Prints one JSON report per input
    /// record; exits 1 when any failed. See docs/import.md.
    Import(ImportArgs),
    /// Export users as JSON Lines that `latchkey import` reads back.
    Export(ExportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub svc: ServiceArgs,
    /// The file to read (`-`: standard input).
    pub file: String,
    /// What produced the file: Latchkey's own records, or an origin's export.
    #[arg(long, value_enum, default_value_t = ImportSource::Latchkey)]
    pub from: ImportSource,
    /// The file's format (default: jsonl for Latchkey records; each origin's usual one).
    #[arg(long, value_enum)]
    pub format: Option<ImportFormat>,
    /// Check and report every record; store nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A record whose username or email is taken: skip it, update that user, or stop.
    #[arg(long, value_enum, default_value_t = ConflictArg::Skip)]
    pub on_conflict: ConflictArg,
    /// Accept unsalted or salted MD5/SHA-1 hashes (the users are flagged to reset).
    #[arg(long)]
    pub accept_weak_hashes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportSource {
    /// JSON Lines or CSV of Latchkey records (docs/import.md).
    Latchkey,
    /// A Keycloak realm export (realm.json or realm-users-N.json).
    Keycloak,
    /// Django's auth_user: `manage.py dumpdata auth.user` JSON, or a CSV of the table.
    Django,
    /// Supabase's auth.users table as CSV (or a JSON array of its rows).
    Supabase,
    /// Directus' directus_users: its export as JSON (array) or CSV.
    Directus,
    /// fastapi-users' user table as CSV (or a JSON array of its rows).
    FastapiUsers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    Jsonl,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConflictArg {
    Skip,
    Update,
    Fail,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub svc: ServiceArgs,
    /// Only jsonl (one record per line).
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,
    /// Include password hashes (audited). Keep the file as secret as the database.
    #[arg(long)]
    pub with_hashes: bool,
    /// Write here instead of standard output.
    #[arg(long, short)]
    pub output: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. Prints its id and, for a confidential client, its secret (shown
    /// once; stored hashed).
    Create {
        #[command(flatten)]
        svc: ServiceArgs,
        #[arg(long)]
        name: String,
        /// A redirect URI, compared exactly (repeatable; required for authorization_code).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may return (repeatable).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (browser or native app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// authorization_code, refresh_token or client_credentials (repeatable; default
        /// authorization_code and refresh_token).
        #[arg(long = "grant-type", value_name = "TYPE")]
        grant_types: Vec<String>,
        /// A scope the client may ask for (repeatable; default openid profile email
        /// offline_access roles).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Skip the consent page for this client.
        #[arg(long)]
        first_party: bool,
        /// How its ID tokens are signed: RS256 (default), ES256 or EdDSA.
        #[arg(long, value_name = "ALG")]
        id_token_alg: Option<String>,
        /// Print {"client_id": …, "client_secret": …} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the registered clients.
    List {
        #[command(flatten)]
        svc: ServiceArgs,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one client's registration (never its secret).
    Show {
        #[command(flatten)]
        svc: ServiceArgs,
        client_id: String,
    },
    /// Give a confidential client a new secret; the old one stops working at once.
    RotateSecret {
        #[command(flatten)]
        svc: ServiceArgs,
        client_id: String,
        /// Print {"client_id": …, "client_secret": …} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client.
    Delete {
        #[command(flatten)]
        svc: ServiceArgs,
        client_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the latest events, oldest first; with --follow, keep printing new ones until
    /// interrupted.
    Tail {
        #[command(flatten)]
        svc: ServiceArgs,
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
        default_value_t = PoolConfig::default().max_connections,
        value_name = "N"
    )]
    pub db_max_connections: u32,
    /// PostgreSQL's prepared statements kept per connection (default 100). 0 behind a
    /// transaction-mode pooler such as pgbouncer before 1.21: then no statement is prepared
    /// under a name, and each runs inside a transaction. PostgreSQL only.
    #[arg(long, env = "LATCHKEY_DB_STATEMENT_CACHE", value_name = "N")]
    pub db_statement_cache: Option<usize>,
    /// A direct PostgreSQL URL, not through a pooler, for the session features a
    /// transaction-mode pooler cannot carry: LISTEN for other instances' revocations (the
    /// 500 ms poll covers any gap) and the migrations' lock. Default: --database.
    #[arg(long, env = "LATCHKEY_DATABASE_LISTEN_URL", value_name = "URL")]
    pub database_listen_url: Option<String>,
    /// Log format.
    #[arg(long, env = "LATCHKEY_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: LogFormat,
}

/// What every command that runs the core reads: the database and the core's settings, so
/// `latchkey user create` hashes with the same argon2 parameters and password rules as
/// `latchkey serve`.
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub core: CoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
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
    /// Repeatable. The dialects (each defaults to /compat/NAME) are listed from the registry.
    #[arg(
        long = "mount",
        help = mount_help(),
        env = "LATCHKEY_MOUNTS",
        value_delimiter = ',',
        value_name = "NAME=PREFIX"
    )]
    pub mounts: Vec<String>,
    /// A reverse proxy or load balancer whose X-Forwarded-For is believed for the client
    /// address: an address or a network (10.0.0.0/24), repeatable. The client is then the
    /// rightmost hop that is not a trusted proxy. Without one, the client address is the
    /// socket peer.
    #[arg(
        long = "trusted-proxy",
        env = "LATCHKEY_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "IP[/BITS]",
        value_parser = crate::proxy::parse_net
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
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
    /// Where browsers and clients reach Latchkey (the OpenID issuer and every absolute link
    /// it gives out). Default: http:// and the listen address.
    #[arg(long, env = "LATCHKEY_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// citizen-portal's role ids, as ROLE=ID pairs: its front-ends hardcode the origin's
    /// seeded ids. Other roles get their native id plus the largest id given here.
    #[arg(
        long,
        env = "LATCHKEY_CITIZEN_PORTAL_ROLE_IDS",
        default_value = RoleIds::CITIZEN_PORTAL,
        value_name = "ROLE=ID,…"
    )]
    pub citizen_portal_role_ids: String,
    #[command(flatten)]
    pub mail: MailArgs,
}

/// Mail: delivery, the flows that need it, and their limits.
#[derive(Debug, Clone, Args)]
pub struct MailArgs {
    /// The SMTP server: smtp://user@host:587 (STARTTLS; the password in the URL or in
    /// LATCHKEY_SMTP_PASSWORD), smtps://user@host:465 (implicit TLS), smtp://host:25 (plain,
    /// for a local relay). Without it (or --mail-log), password reset, verification, email
    /// change and invitations answer that mail is not configured.
    #[arg(long, env = "LATCHKEY_SMTP_URL", value_name = "URL")]
    pub smtp_url: Option<String>,
    /// The From address of every mail, e.g. "Example ID <id@example.com>". Required with
    /// --smtp-url.
    #[arg(long, env = "LATCHKEY_MAIL_FROM", value_name = "ADDRESS")]
    pub mail_from: Option<String>,
    /// Write mails (with their links) to the log instead of sending them: local development
    /// only, never in production.
    #[arg(long, env = "LATCHKEY_MAIL_LOG")]
    pub mail_log: bool,
    /// A directory of templates replacing the built-in ones (verify_email.txt, .html,
    /// password_reset.*, email_change.*, email_changed.*, invitation.*); checked at start.
    #[arg(long, env = "LATCHKEY_MAIL_TEMPLATES", value_name = "DIR")]
    pub mail_templates: Option<std::path::PathBuf>,
    /// The product name in mails.
    #[arg(
        long,
        env = "LATCHKEY_PRODUCT_NAME",
        default_value = "Latchkey",
        value_name = "NAME"
    )]
    pub product_name: String,
    /// Email verification: off (no verification mails), optional (a mail on sign-up and on
    /// request) or required (also: unverified users cannot log in).
    #[arg(
        long,
        env = "LATCHKEY_EMAIL_VERIFICATION",
        default_value = "optional",
        value_name = "POLICY"
    )]
    pub email_verification: String,
    /// How long a password-reset link works, in seconds.
    #[arg(long, env = "LATCHKEY_PASSWORD_RESET_TTL", default_value_t = MailPolicy::default().reset_ttl_secs, value_name = "SECS")]
    pub password_reset_ttl: u64,
    /// How long an invitation works, in seconds.
    #[arg(long, env = "LATCHKEY_INVITATION_TTL", default_value_t = MailPolicy::default().invitation_ttl_secs, value_name = "SECS")]
    pub invitation_ttl: u64,
    /// Mails to one address per hour (0: no limit).
    #[arg(long, env = "LATCHKEY_MAIL_PER_RECIPIENT_PER_HOUR", default_value_t = MailPolicy::default().per_recipient_per_hour, value_name = "N")]
    pub mail_per_recipient_per_hour: u32,
    /// Requests to mail-sending endpoints per client address per hour (0: no limit).
    #[arg(long, env = "LATCHKEY_RATE_MAIL_PER_HOUR", default_value_t = MailPolicy::default().per_address_per_hour, value_name = "N")]
    pub rate_mail_per_hour: u32,
    /// Delivery attempts before a mail is marked failed.
    #[arg(long, env = "LATCHKEY_MAIL_MAX_ATTEMPTS", default_value_t = MailPolicy::default().max_attempts, value_name = "N")]
    pub mail_max_attempts: u32,
    /// The first retry's delay in seconds; each further one doubles, up to an hour.
    #[arg(long, env = "LATCHKEY_MAIL_RETRY_BASE_SECS", default_value_t = MailPolicy::default().retry_base_secs, value_name = "SECS")]
    pub mail_retry_base_secs: u64,
}

#[derive(Debug, Clone, Args)]
pub struct CoreArgs {
    /// Access token lifetime in seconds.
    #[arg(
        long,
        env = "LATCHKEY_ACCESS_TTL",
        default_value_t = CoreConfig::default().access_ttl_secs,
        value_name = "SECS"
    )]
    pub access_ttl: u64,
    /// A session ends after this many seconds without a refresh.
    #[arg(long, env = "LATCHKEY_SESSION_IDLE", default_value_t = CoreConfig::default().session_idle_secs, value_name = "SECS")]
    pub session_idle: u64,
    /// A session ends this many seconds after login, whatever its use.
    #[arg(long, env = "LATCHKEY_SESSION_LIFETIME", default_value_t = CoreConfig::default().session_lifetime_secs, value_name = "SECS")]
    pub session_lifetime: u64,
    /// argon2id memory cost in KiB.
    #[arg(
        long,
        env = "LATCHKEY_ARGON2_MEMORY_KIB",
        default_value_t = HashParams::default().m_kib,
        value_name = "KIB"
    )]
    pub argon2_memory_kib: u32,
    /// argon2id iterations.
    #[arg(
        long,
        env = "LATCHKEY_ARGON2_ITERATIONS",
        default_value_t = HashParams::default().t,
        value_name = "N"
    )]
    pub argon2_iterations: u32,
    /// argon2id parallelism.
    #[arg(
        long,
        env = "LATCHKEY_ARGON2_PARALLELISM",
        default_value_t = HashParams::default().p,
        value_name = "N"
    )]
    pub argon2_parallelism: u32,
    /// Token issuer (`iss`) — an override: by default it is the public URL (`--public-url`),
    /// as OpenID Connect requires.
    #[arg(long, env = "LATCHKEY_ISSUER")]
    pub issuer: Option<String>,
    /// Token audience (`aud`).
    #[arg(long, env = "LATCHKEY_AUDIENCE", default_value_t = CoreConfig::default().audience)]
    pub audience: String,
    /// Consecutive failed logins for one username or email before it locks (0: never).
    #[arg(
        long,
        env = "LATCHKEY_LOGIN_LOCK_AFTER",
        default_value_t = ThrottlePolicy::default().lock_after,
        value_name = "N"
    )]
    pub login_lock_after: u32,
    /// The first lock, in seconds; each further failure doubles it.
    #[arg(
        long,
        env = "LATCHKEY_LOGIN_LOCK_SECS",
        default_value_t = ThrottlePolicy::default().lock_base_secs,
        value_name = "SECS"
    )]
    pub login_lock_secs: u64,
    /// The longest lock, in seconds.
    #[arg(
        long,
        env = "LATCHKEY_LOGIN_LOCK_MAX_SECS",
        default_value_t = ThrottlePolicy::default().lock_max_secs,
        value_name = "SECS"
    )]
    pub login_lock_max_secs: u64,
    /// Failed logins from one client address within the window before it is throttled (0: never).
    #[arg(
        long,
        env = "LATCHKEY_ADDRESS_FAILURE_LIMIT",
        default_value_t = ThrottlePolicy::default().address_limit,
        value_name = "N"
    )]
    pub address_failure_limit: u32,
    /// The client-address window, in seconds.
    #[arg(
        long,
        env = "LATCHKEY_ADDRESS_FAILURE_WINDOW_SECS",
        default_value_t = ThrottlePolicy::default().address_window_secs,
        value_name = "SECS"
    )]
    pub address_failure_window_secs: u64,
    /// Public sign-ups per client address per hour (0: unlimited).
    #[arg(
        long,
        env = "LATCHKEY_RATE_REGISTER_PER_HOUR",
        default_value_t = RateLimits::default().register_per_hour,
        value_name = "N"
    )]
    pub rate_register_per_hour: u32,
    /// Refresh-token exchanges per client address per minute (0: unlimited).
    #[arg(
        long,
        env = "LATCHKEY_RATE_REFRESH_PER_MINUTE",
        default_value_t = RateLimits::default().refresh_per_minute,
        value_name = "N"
    )]
    pub rate_refresh_per_minute: u32,
    /// Password changes per client address per hour (0: unlimited).
    #[arg(
        long,
        env = "LATCHKEY_RATE_PASSWORD_PER_HOUR",
        default_value_t = RateLimits::default().password_per_hour,
        value_name = "N"
    )]
    pub rate_password_per_hour: u32,
    /// Accept passwords that are on the common-passwords list.
    #[arg(long, env = "LATCHKEY_NO_PASSWORD_BLOCKLIST")]
    pub no_password_blocklist: bool,
    /// Dialect logins of users with a second factor: `refuse` (the dialect's 401 saying a
    /// second factor is required) or `allow` (the password alone: weaker, and every such
    /// login is audited). The native API and the hosted pages always ask for the factor.
    #[arg(
        long,
        env = "LATCHKEY_DIALECT_MFA",
        value_enum,
        default_value_t = DialectMfa::Refuse,
        value_name = "POLICY"
    )]
    pub dialect_mfa: DialectMfa,
    /// A role whose holders must have a second factor (repeatable, or comma-separated in
    /// the environment): without one, a login opens a session good only for enrolling one,
    /// and dialect logins are refused.
    #[arg(
        long = "mfa-required-role",
        env = "LATCHKEY_MFA_REQUIRED_ROLES",
        value_delimiter = ',',
        value_name = "ROLE"
    )]
    pub mfa_required_roles: Vec<String>,
}

/// What a dialect does with a user who has a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DialectMfa {
    Refuse,
    Allow,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from standard input with --password-stdin,
    /// otherwise a random one is generated and printed.
    Create {
        #[command(flatten)]
        svc: ServiceArgs,
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
        svc: ServiceArgs,
        /// Free-text filter over username, email and names.
        #[arg(long)]
        search: Option<String>,
        /// Only users whose imported password hash is weak (MD5/SHA-1): the ones to reset.
        #[arg(long)]
        weak_hashes: bool,
        /// At most this many users.
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// Count every match of a filter (by default counted up to 1,000, like the API: a
        /// term every user has costs a count of the whole directory).
        #[arg(long)]
        exact_total: bool,
    },
    /// Set a user's password (ends all their sessions).
    SetPassword {
        #[command(flatten)]
        svc: ServiceArgs,
        /// Username, email or numeric id.
        user: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Grant a role to a user (the role is created if needed).
    Grant {
        #[command(flatten)]
        svc: ServiceArgs,
        /// Username, email or numeric id.
        user: String,
        role: String,
    },
    /// Remove a role from a user.
    Revoke {
        #[command(flatten)]
        svc: ServiceArgs,
        /// Username, email or numeric id.
        user: String,
        role: String,
    },
    /// Remove a user's second factors (a lost phone): audited, and their sessions end. They
    /// sign in with the password alone and can enroll again.
    MfaReset {
        #[command(flatten)]
        svc: ServiceArgs,
        /// Username, email or numeric id.
        user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key. Tokens signed by the old key stay valid until they expire.
    Rotate {
        #[command(flatten)]
        svc: ServiceArgs,
    },
}

/// `--mount`'s help, naming the dialects from their registry.
fn mount_help() -> String {
    format!(
        "Move a dialect: NAME=PREFIX (e.g. org-users=/ for a drop-in replacement), or NAME=off. \
         Repeatable. Dialects: {}; each defaults to /compat/NAME.",
        crate::dialects::names()
    )
}
