//! The effective configuration of `latchkey serve`, for the console's settings page: every
//! option of the command with its value and where the value came from (clap knows: default,
//! environment or command line), and the variables read outside clap. Secrets never leave
//! here: passwords and keys are reported as set or not, URLs lose their password.

use clap::parser::ValueSource;
use clap::CommandFactory;

use super::args::Cli;
use crate::http::Setting;
use crate::store::redact_url;

/// Variables read directly, all of them secret but the admin's names.
const ENV_ONLY: &[(&str, bool)] = &[
    ("LATCHKEY_ADMIN_USERNAME", false),
    ("LATCHKEY_ADMIN_EMAIL", false),
    ("LATCHKEY_ADMIN_PASSWORD", true),
    ("LATCHKEY_KEY_ENCRYPTION_KEY", true),
    ("LATCHKEY_SMTP_PASSWORD", true),
];

const HIDDEN: &str = "(set, not shown)";

/// An option whose value is a secret (none of `serve`'s is today: the secrets are read from
/// the environment alone; this keeps one added later off the page). `--rate-password-per-hour`
/// and `--password-reset-ttl` are about passwords, not secrets.
fn secret_option(long: &str) -> bool {
    ["-password", "-secret", "-key", "-token"]
        .iter()
        .any(|s| long.ends_with(s))
        || matches!(long, "password" | "secret" | "key" | "token")
}

/// The settings of this process's `serve` command line (empty if it is not one).
pub(super) fn effective() -> Vec<Setting> {
    from_args(std::env::args_os())
}

fn from_args<I, T>(args: I) -> Vec<Setting>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cmd = Cli::command();
    let Ok(matches) = cmd.clone().try_get_matches_from(args) else {
        return Vec::new();
    };
    let (Some(("serve", m)), Some(serve)) = (matches.subcommand(), cmd.find_subcommand("serve"))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for arg in serve.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else { continue };
        if matches!(id, "help" | "version") {
            continue;
        }
        let source = match m.value_source(id) {
            Some(ValueSource::CommandLine) => "command line",
            Some(ValueSource::EnvVariable) => "environment",
            Some(ValueSource::DefaultValue) => "default",
            _ => "not set",
        };
        let raw: Vec<String> = m
            .get_raw(id)
            .map(|vs| vs.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let value = if raw.is_empty() {
            "—".to_owned()
        } else if secret_option(long) {
            HIDDEN.to_owned()
        } else {
            raw.iter()
                .map(|v| {
                    if v.contains("://") {
                        redact_url(v)
                    } else {
                        v.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push(Setting {
            option: format!("--{long}"),
            env: arg.get_env().map(|e| e.to_string_lossy().into_owned()),
            value,
            source,
        });
    }
    for (name, secret) in ENV_ONLY {
        let v = std::env::var(name).ok().filter(|v| !v.is_empty());
        out.push(Setting {
            option: "—".to_owned(),
            env: Some((*name).to_owned()),
            value: match (&v, secret) {
                (None, _) => "not set".to_owned(),
                (Some(_), true) => HIDDEN.to_owned(),
                (Some(v), false) => v.clone(),
            },
            source: if v.is_some() {
                "environment"
            } else {
                "not set"
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_and_sources_are_named() {
        let s = from_args([
            "latchkey",
            "serve",
            "--database",
            "postgres://app:hunter2@db.internal/latchkey",
            "--listen",
            "127.0.0.1:9",
        ]);
        let db = s.iter().find(|s| s.option == "--database").expect("listed");
        assert_eq!(db.value, "postgres://app:***@db.internal/latchkey");
        assert_eq!(db.source, "command line");
        assert!(s.iter().all(|s| !s.value.contains("hunter2")));
        let ttl = s
            .iter()
            .find(|s| s.option == "--access-ttl")
            .expect("listed");
        assert_eq!(ttl.source, "default");
        assert!(s
            .iter()
            .any(|s| s.env.as_deref() == Some("LATCHKEY_KEY_ENCRYPTION_KEY")));
        // Options about passwords are not secrets.
        let rate = s
            .iter()
            .find(|s| s.option == "--rate-password-per-hour")
            .expect("listed");
        assert_eq!(rate.value, "20");
        assert!(secret_option("smtp-password") && secret_option("client-secret"));
        assert!(!secret_option("password-reset-ttl") && !secret_option("no-password-blocklist"));
    }

    #[test]
    fn other_commands_have_no_settings() {
        assert!(from_args(["latchkey", "migrate"]).is_empty());
    }
}
