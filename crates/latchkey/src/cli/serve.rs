//! `latchkey serve`: bind, open the database, bootstrap the admin, serve until a signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::args::ServeArgs;
use super::config::open;
use super::{describe, init_logging, Fatal};
use crate::core::roles::RoleIds;
use crate::core::Latchkey;
use crate::store::redact_url;

pub(super) async fn serve(args: ServeArgs) -> Result<(), Fatal> {
    let db = &args.service.db;
    init_logging(db.log_format);
    let mut http = crate::server::HttpOptions {
        mounts: crate::dialects::Mounts::parse(&args.mounts, &crate::server::root_routes())?,
        trusted_proxies: args.trusted_proxies.clone(),
        cors_origins: args.cors_origins.clone(),
        citizen_portal_role_ids: RoleIds::parse(&args.citizen_portal_role_ids)
            .map_err(|e| Fatal(format!("--citizen-portal-role-ids: {e}")))?,
        public_url: args
            .public_url
            .as_deref()
            .map(crate::server::public_url)
            .transpose()
            .map_err(|e| Fatal(format!("--public-url: {e}")))?,
        settings: super::settings::effective(),
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
    let bound = listener.local_addr().map_err(|e| Fatal(e.to_string()))?;
    let public = http
        .public_url
        .get_or_insert_with(|| format!("http://{bound}"))
        .clone();
    let mut cfg = args
        .service
        .core
        .to_config(!args.no_registration, Some(&public))?;
    let pages = crate::pages::PagePaths::for_mounts(&http.mounts);
    cfg.mail = args
        .mail
        .to_config(&public, pages.mail_paths())
        .map_err(Fatal)?;
    let svc_mail = cfg.mail.clone();
    let store = Arc::new(open(db).await?);
    let counters: Option<Arc<dyn crate::core::limits::Counters>> = match &args.redis {
        Some(url) => Some(Arc::new(
            crate::store::redis::RedisCounters::connect(url)
                .await
                .map_err(|e| Fatal(format!("--redis {}: {e}", redact_url(url))))?,
        )),
        None => None,
    };
    let svc = Latchkey::with_counters(store.clone(), cfg, counters)
        .await
        .map_err(|e| describe(e, &db.database))?;

    // The ID-token keys in the background: ready before the first sign-in, without delaying
    // readiness (an RSA key takes a second to make).
    let keys = svc.clone();
    tokio::spawn(async move {
        if let Err(e) = keys.prepare_id_token_keys().await {
            tracing::warn!(error = %e, "could not make the ID-token signing keys yet; they are made on first use");
        }
    });

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
                describe(e, &db.database).0
            )))
        }
    }

    match &svc_mail.transport {
        Some(t) if args.mail.mail_log => tracing::warn!(
            transport = %t.0.describe(),
            "mails are written to the log, links and tokens included, and not sent: for local development only"
        ),
        Some(t) => tracing::info!(transport = %t.0.describe(), from = %svc_mail.from, "mail delivery configured"),
        None => tracing::info!("no mail transport (--smtp-url): password reset, email verification, email change and invitations are unavailable"),
    }
    for name in svc_mail.templates.overridden() {
        tracing::info!(template = name, "mail template overridden");
    }
    let local = listener.local_addr().map_err(|e| Fatal(e.to_string()))?;
    tracing::info!(
        listen = %local,
        database = %redact_url(&db.database),
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
    tokio::time::timeout(Duration::from_secs(5), store.close())
        .await
        .ok();
    tracing::info!("stopped");
    Ok(())
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
