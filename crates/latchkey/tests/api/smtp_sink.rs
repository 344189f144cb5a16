//! An SMTP server for the tests: a small listener on loopback that speaks enough of RFC 5321
//! (EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) for a real client —
//! lettre, inside Latchkey — to deliver to it, and keeps every message it accepts. Messages
//! are read back with `mail-parser`, a MIME parser independent of the one that built them.
//! It can refuse every message (a permanent 550) to test failure, and be stopped and started
//! again on the same port, to test delivery after an outage.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// A message as delivered.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Delivered {
    /// The first link in the text body that carries a token.
    pub fn link(&self) -> String {
        self.text
            .split_whitespace()
            .find(|w| w.starts_with("http") && w.contains("token="))
            .unwrap_or_else(|| panic!("no link in mail: {}", self.text))
            .to_owned()
    }

    /// The token of the link.
    pub fn token(&self) -> String {
        self.link()
            .split("token=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned()
    }
}

#[derive(Default)]
struct Shared {
    mails: Mutex<Vec<Delivered>>,
    arrived: Notify,
}

pub struct Sink {
    pub port: u16,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sink {
    pub async fn start() -> Sink {
        Self::start_on(0, false).await
    }

    /// On `port` (0: any), refusing every message with 550 when `refuse`.
    pub async fn start_on(port: u16, refuse: bool) -> Sink {
        let shared = Arc::new(Shared::default());
        Self::listen(port, refuse, shared).await
    }

    async fn listen(port: u16, refuse: bool, shared: Arc<Shared>) -> Sink {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("sink bind");
        let port = listener.local_addr().unwrap().port();
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = session(sock, refuse, &s).await;
                });
            }
        });
        Sink {
            port,
            shared,
            task: Some(task),
        }
    }

    /// Stops listening (the port refuses connections until [`Self::restart`]).
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listens again on the same port, keeping what was delivered.
    pub async fn restart(&mut self) {
        self.stop();
        // The aborted listener's socket is closed once its task is dropped.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let again = Self::listen(self.port, false, self.shared.clone()).await;
        *self = again;
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn all(&self) -> Vec<Delivered> {
        self.shared.mails.lock().unwrap().clone()
    }

    /// Mails delivered to `to` so far.
    pub fn to(&self, to: &str) -> Vec<Delivered> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .collect()
    }

    /// Waits (at most `secs` seconds) until `n` mails have reached `to`; returns them.
    pub async fn wait_for(&self, to: &str, n: usize, secs: u64) -> Vec<Delivered> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.to(to);
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                panic!(
                    "waited {secs} s for {n} mail(s) to {to}; got {}: {:?}",
                    got.len(),
                    got.iter().map(|m| &m.subject).collect::<Vec<_>>()
                );
            }
            let _ = tokio::time::timeout(
                left.min(Duration::from_millis(200)),
                self.shared.arrived.notified(),
            )
            .await;
        }
    }

    /// The one mail to `to` (waiting up to ten seconds for it).
    pub async fn one(&self, to: &str) -> Delivered {
        self.wait_for(to, 1, 10).await.remove(0)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn session(sock: TcpStream, refuse: bool, s: &Shared) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    // Bounded: a session of at most 1000 commands.
    for _ in 0..1000 {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let verb = cmd.split(' ').next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                w.write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                    .await?
            }
            "HELO" => w.write_all(b"250 sink.test\r\n").await?,
            "MAIL" => {
                from = addr(&cmd);
                to.clear();
                w.write_all(b"250 OK\r\n").await?
            }
            "RCPT" => {
                to.push(addr(&cmd));
                w.write_all(b"250 OK\r\n").await?
            }
            "DATA" => {
                w.write_all(b"354 go ahead\r\n").await?;
                let mut raw = Vec::new();
                // Bounded: at most 10 000 lines of message.
                for _ in 0..10_000 {
                    let mut l = Vec::new();
                    if r.read_until(b'\n', &mut l).await? == 0 {
                        return Ok(());
                    }
                    if l == b".\r\n" || l == b".\n" {
                        break;
                    }
                    let l = if l.starts_with(b"..") {
                        &l[1..]
                    } else {
                        &l[..]
                    };
                    raw.extend_from_slice(l);
                }
                if refuse {
                    w.write_all(b"550 5.1.1 mailbox unavailable\r\n").await?;
                    continue;
                }
                let parsed = mail_parser::MessageParser::default()
                    .parse(&raw)
                    .expect("a parseable message");
                let mail = Delivered {
                    from: from.clone(),
                    to: to.clone(),
                    subject: parsed.subject().unwrap_or("").to_owned(),
                    text: parsed
                        .body_text(0)
                        .map(|t| t.into_owned())
                        .unwrap_or_default(),
                    html: parsed
                        .body_html(0)
                        .map(|t| t.into_owned())
                        .unwrap_or_default(),
                };
                s.mails.lock().unwrap().push(mail);
                s.arrived.notify_waiters();
                w.write_all(b"250 OK queued\r\n").await?
            }
            "RSET" | "NOOP" => w.write_all(b"250 OK\r\n").await?,
            "QUIT" => {
                w.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => w.write_all(b"502 command not implemented\r\n").await?,
        }
    }
    Ok(())
}

/// The address of `MAIL FROM:<a>` or `RCPT TO:<a>`.
fn addr(cmd: &str) -> String {
    cmd.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(a, _)| a.to_owned())
        .unwrap_or_default()
}
