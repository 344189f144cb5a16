//! The mail transports: SMTP through lettre (`--smtp-url`), or the log for local development
//! (`--mail-log`). The outbox and its retries are the core's; these only try one delivery.

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::core::mail::{MailTransport, OutgoingMail, SendError};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (a local relay).
    None,
    /// STARTTLS when the server offers it.
    Opportunistic,
    /// STARTTLS, or no delivery.
    Required,
    /// TLS from the first byte (`smtps://`, port 465).
    Implicit,
}

/// A parsed `--smtp-url`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl SmtpUrl {
    /// `smtp://[user[:pass]@]host[:port][?tls=none|opportunistic|required]` or
    /// `smtps://…`. With credentials, `smtp://` means STARTTLS required (a password is never
    /// sent in clear); without, a plain connection (a local relay) unless `?tls=` says
    /// otherwise. `env_password` (`LATCHKEY_SMTP_PASSWORD`) fills in a password the URL lacks.
    pub fn parse(raw: &str, env_password: Option<String>) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "invalid SMTP URL: {why} (expected smtp://[user:pass@]host[:port] or smtps://…)"
            )
        };
        let url = url::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => return Err(bad(&format!("unknown scheme '{other}'"))),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad("the user name or password is not UTF-8"))
        };
        let username = Some(url.username())
            .filter(|u| !u.is_empty())
            .map(decode)
            .transpose()?;
        let password = match url.password() {
            Some(p) => Some(decode(p)?),
            None => env_password.filter(|p| !p.is_empty()),
        };
        if password.is_some() && username.is_none() {
            return Err(bad("a password without a user name"));
        }
        let mut tls_param = None;
        for (k, v) in url.query_pairs() {
            match (k.as_ref(), v.as_ref()) {
                ("tls", "none") => tls_param = Some(SmtpTls::None),
                ("tls", "opportunistic") => tls_param = Some(SmtpTls::Opportunistic),
                ("tls", "required") => tls_param = Some(SmtpTls::Required),
                ("tls", other) => {
                    return Err(bad(&format!(
                        "tls={other}: expected none, opportunistic or required"
                    )))
                }
                (other, _) => return Err(bad(&format!("unknown parameter '{other}'"))),
            }
        }
        let tls = match (implicit, tls_param, username.is_some()) {
            (true, None, _) => SmtpTls::Implicit,
            (true, Some(_), _) => return Err(bad("smtps:// takes no tls parameter")),
            (false, Some(SmtpTls::None), true) | (false, Some(SmtpTls::Opportunistic), true) => {
                return Err(bad(
                    "credentials are sent only over TLS: use tls=required or smtps://",
                ))
            }
            (false, Some(t), _) => t,
            (false, None, true) => SmtpTls::Required,
            (false, None, false) => SmtpTls::None,
        };
        let port = url.port().unwrap_or(match tls {
            SmtpTls::Implicit => 465,
            SmtpTls::Required | SmtpTls::Opportunistic => 587,
            SmtpTls::None => 25,
        });
        Ok(SmtpUrl {
            host,
            port,
            tls,
            username,
            password,
        })
    }

    /// For logs: never the password.
    pub fn describe(&self) -> String {
        let tls = match self.tls {
            SmtpTls::None => "no TLS",
            SmtpTls::Opportunistic => "STARTTLS if offered",
            SmtpTls::Required => "STARTTLS",
            SmtpTls::Implicit => "TLS",
        };
        let user = self
            .username
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!("smtp {user}{}:{} ({tls})", self.host, self.port)
    }
}

/// SMTP through lettre (a connection per delivery attempt, pooled by lettre).
pub struct SmtpTransport {
    url: SmtpUrl,
    mailer: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpTransport {
    pub fn new(url: SmtpUrl) -> Result<Self, String> {
        let params = || {
            TlsParameters::new(url.host.clone())
                .map_err(|e| format!("SMTP TLS for {}: {e}", url.host))
        };
        let tls = match url.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Opportunistic => Tls::Opportunistic(params()?),
            SmtpTls::Required => Tls::Required(params()?),
            SmtpTls::Implicit => Tls::Wrapper(params()?),
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.clone())
            .port(url.port)
            .tls(tls)
            .timeout(Some(std::time::Duration::from_secs(30)));
        if let Some(user) = &url.username {
            b = b.credentials(Credentials::new(
                user.clone(),
                url.password.clone().unwrap_or_default(),
            ));
        }
        Ok(SmtpTransport {
            mailer: b.build(),
            url,
        })
    }
}

/// The message lettre sends: text and HTML alternatives.
pub fn message(from: &str, mail: &OutgoingMail) -> Result<Message, SendError> {
    let permanent = |what: &str, e: &dyn std::fmt::Display| SendError {
        permanent: true,
        message: format!("{what}: {e}"),
    };
    let from: Mailbox = from
        .parse()
        .map_err(|e| permanent("the From address", &e))?;
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| permanent("the recipient's address", &e))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| permanent("building the message", &e))
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn send(&self, from: &str, mail: &OutgoingMail) -> Result<(), SendError> {
        let m = message(from, mail)?;
        self.mailer
            .send(m)
            .await
            .map(|_| ())
            .map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            })
    }

    fn describe(&self) -> String {
        self.url.describe()
    }
}

/// `--mail-log`: each mail written to the log, whole (links and tokens included), instead
/// of sent. For local development only; the server says so at start.
pub struct LogTransport;

#[async_trait]
impl MailTransport for LogTransport {
    async fn send(&self, from: &str, mail: &OutgoingMail) -> Result<(), SendError> {
        tracing::warn!(
            mail.id = mail.id,
            mail.kind = %mail.kind,
            from = %from,
            to = %mail.to,
            subject = %mail.subject,
            body = %mail.text,
            "mail written to the log, not sent (--mail-log: development only)"
        );
        Ok(())
    }

    fn describe(&self) -> String {
        "the log (--mail-log)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_choose_tls_the_safe_way() {
        let u = SmtpUrl::parse("smtp://ada:s%40cret@mail.example.com", None).unwrap();
        assert_eq!((u.tls, u.port), (SmtpTls::Required, 587));
        assert_eq!(u.password.as_deref(), Some("s@cret"));
        assert!(!u.describe().contains("cret"));
        let u = SmtpUrl::parse("smtps://ada@mail.example.com", Some("pw".into())).unwrap();
        assert_eq!((u.tls, u.port), (SmtpTls::Implicit, 465));
        assert_eq!(u.password.as_deref(), Some("pw"));
        let u = SmtpUrl::parse("smtp://127.0.0.1:2525", None).unwrap();
        assert_eq!((u.tls, u.port), (SmtpTls::None, 2525));
        assert!(SmtpUrl::parse("smtp://ada:pw@host?tls=none", None).is_err());
        assert!(SmtpUrl::parse("http://host", None).is_err());
        assert!(SmtpUrl::parse("smtp://host?tls=maybe", None).is_err());
        assert!(SmtpUrl::parse("smtp://:pw@host", None).is_err());
    }
}
