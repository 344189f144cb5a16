//! Logs: one line per event on stderr, human-readable or JSON, and every line logged while a
//! request is being served names that request (its id, method and path).
//!
//! The request is carried in a task-local set by the HTTP layer (`server::RequestScope`) and
//! read only when a line is written. A tracing span per request would carry the same fields,
//! but it is built, entered and exited on every request whether anything is logged or not,
//! and cost more than the whole token-checked read it wrapped (docs/performance.md).

use std::fmt;

use axum::http::{HeaderValue, Method, Uri};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The request being served, as the logs name it.
#[derive(Debug, Clone)]
pub struct RequestLog {
    /// `X-Request-Id` (the client's or a generated one).
    pub id: Option<HeaderValue>,
    pub method: Method,
    /// The URI; only its path is logged (a query may carry what logs must not).
    pub uri: Uri,
}

tokio::task_local! {
    /// The request this task is serving.
    pub static REQUEST: RequestLog;
}

/// The default filter: Latchkey's own lines from `info`, libraries' from `warn`.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=warn";

/// Installs the process's subscriber: `RUST_LOG` (or [`DEFAULT_FILTER`]), stderr, colours only
/// on a terminal.
pub fn init(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Also routes the `log` crate's records here.
    let _ = subscriber(json, filter, ansi, std::io::stderr).try_init();
}

/// The subscriber `init` installs, writing to `writer` (tests capture it).
pub fn subscriber<W>(
    json: bool,
    filter: EnvFilter,
    ansi: bool,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    if json {
        Box::new(
            builder
                .fmt_fields(JsonFields::new())
                .event_format(WithRequest {
                    inner: format::Format::default().json().flatten_event(true),
                    json: true,
                })
                .finish(),
        )
    } else {
        Box::new(
            builder
                .event_format(WithRequest {
                    inner: format::Format::default(),
                    json: false,
                })
                .finish(),
        )
    }
}

/// Writes the event with `inner`, then, inside a request, adds the request's fields:
/// `request.id=… http.method=… http.path=…` at the end of a human line, or as three more
/// members of a JSON object.
struct WithRequest<F> {
    inner: F,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for WithRequest<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Ok(req) = REQUEST.try_with(Clone::clone) else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let line = line.trim_end_matches('\n');
        let id = req.id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-");
        let (method, path) = (req.method.as_str(), req.uri.path());
        if self.json {
            let object = line.strip_suffix('}').unwrap_or(line);
            writeln!(
                writer,
                "{object},\"request.id\":{},\"http.method\":{},\"http.path\":{}}}",
                json_str(id),
                json_str(method),
                json_str(path)
            )
        } else {
            writeln!(
                writer,
                "{line} request.id={id} http.method={method} http.path={path}"
            )
        }
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    fn logged(json: bool, f: impl FnOnce()) -> String {
        let out = Captured::default();
        let sub = subscriber(json, EnvFilter::new("info"), false, out.clone());
        tracing::subscriber::with_default(sub, f);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn request() -> RequestLog {
        RequestLog {
            id: Some(HeaderValue::from_static("req-\"7\"")),
            method: Method::POST,
            uri: "/v1/auth/login?next=secret".parse().unwrap(),
        }
    }

    #[test]
    fn lines_inside_a_request_name_it_and_never_its_query() {
        let human = logged(false, || {
            REQUEST.sync_scope(request(), || {
                tracing::error!(error = "boom", "internal error")
            })
        });
        assert_eq!(human.lines().count(), 1, "{human}");
        assert!(human.contains("internal error error=\"boom\""), "{human}");
        assert!(
            human.ends_with(" request.id=req-\"7\" http.method=POST http.path=/v1/auth/login\n"),
            "{human}"
        );
        assert!(!human.contains("secret"), "{human}");

        let json = logged(true, || {
            REQUEST.sync_scope(request(), || {
                tracing::error!(error = "boom", "internal error")
            })
        });
        let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
        assert_eq!(v["message"], "internal error");
        assert_eq!(v["error"], "boom");
        assert_eq!(v["level"], "ERROR");
        assert_eq!(v["request.id"], "req-\"7\"");
        assert_eq!(v["http.method"], "POST");
        assert_eq!(v["http.path"], "/v1/auth/login");
        assert!(!json.contains("secret"), "{json}");
    }

    #[test]
    fn lines_outside_a_request_are_left_alone() {
        let human = logged(false, || tracing::warn!("LISTEN connection lost"));
        assert!(human.ends_with("LISTEN connection lost\n"), "{human}");
        assert!(!human.contains("request.id"), "{human}");
        let json = logged(true, || tracing::warn!("LISTEN connection lost"));
        let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
        assert_eq!(v["message"], "LISTEN connection lost");
        assert!(v.get("request.id").is_none(), "{json}");
    }
}
