//! `POST /v1/users/import` and `GET /v1/users/export`: JSON Lines in and out, streamed both
//! ways, so neither side holds a whole user base in memory.

use std::convert::Infallible;
use std::io;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::{kind, ApiResult, Problem, Query};
use super::{Auth, Client};
use crate::core::audit::CLIENT;
use crate::core::import::{ImportOptions, LineReport, OnConflict};
use crate::core::model::Principal;
use crate::core::Latchkey;
use crate::http::{media_type, AppState};
use crate::import::{jsonl_line, Importer, MAX_LINE_BYTES};

/// The largest import body taken (about three million users).
const IMPORT_BODY_MAX: u64 = 1 << 30;

const NDJSON: &str = "application/x-ndjson";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_users))
        .routes(routes!(export_users))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// A record whose username or email is taken: `skip` it (default), `update` that user,
    /// or `fail` (stop at the first conflict or bad line).
    #[param(inline)]
    on_conflict: Option<ConflictParam>,
    /// Check and report every line; store nothing.
    dry_run: Option<bool>,
    /// Take unsalted or salted MD5/SHA-1 hashes (the users are flagged to reset).
    accept_weak_hashes: Option<bool>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ConflictParam {
    Skip,
    Update,
    Fail,
}

/// One line of the import's answer.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
struct ImportReportLine {
    /// The input line.
    line: u64,
    /// `created`, `updated`, `skipped`, `failed` — or `aborted` (last line, when the import
    /// could not go on).
    status: String,
    username: Option<String>,
    /// Why a line failed or was skipped.
    error: Option<String>,
    /// A caveat of an accepted line (no password, a weak hash).
    warning: Option<String>,
}

/// Import users (admins): a JSON Lines body, one record per line (docs/import.md); password
/// hashes keep their format and are upgraded to argon2id at each user's first login. The
/// answer streams one JSON report per input line, in order; an import that cannot go on
/// ends with a line of status `aborted`. Audited.
#[utoipa::path(post, path = "/v1/users/import", tag = "users", security(("bearer" = [])),
    params(ImportParams),
    request_body(content = String, content_type = "application/x-ndjson",
        description = "One import record (JSON object) per line"),
    responses(
        (status = 200, description = "One report per line", body = ImportReportLine, content_type = "application/x-ndjson"),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON Lines", body = Problem, content_type = "application/problem+json"),
    ))]
async fn import_users(
    State(st): State<AppState>,
    Auth(p): Auth,
    Client(client): Client,
    Query(params): Query<ImportParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    st.svc.admin(&p)?;
    let json_lines = [
        "application/x-ndjson",
        "application/jsonl",
        "application/json-lines",
        "application/json",
    ];
    let media = media_type(&headers);
    if !media.is_some_and(|m| json_lines.iter().any(|t| m.eq_ignore_ascii_case(t))) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            kind::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "send JSON Lines: content-type application/x-ndjson, one record per line",
        ));
    }
    let opts = ImportOptions {
        on_conflict: match params.on_conflict.unwrap_or(ConflictParam::Skip) {
            ConflictParam::Skip => OnConflict::Skip,
            ConflictParam::Update => OnConflict::Update,
            ConflictParam::Fail => OnConflict::Fail,
        },
        dry_run: params.dry_run.unwrap_or(false),
        accept_weak_hashes: params.accept_weak_hashes.unwrap_or(false),
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(8);
    let svc = st.svc.clone();
    // The import runs beside the response, under this request's client for the audit log.
    tokio::spawn(CLIENT.scope(client, run_import(svc, p, opts, body, tx)));
    Ok(ndjson(rx))
}

/// Reads the body line by line, imports in batches, and sends the reports as they come.
async fn run_import(
    svc: std::sync::Arc<Latchkey>,
    p: Principal,
    opts: ImportOptions,
    body: Body,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
) {
    let Ok(admin) = svc.admin(&p) else { return };
    let mut importer = Importer::new(admin, opts);
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut number = 0u64;
    let mut total = 0u64;
    let mut overlong = false;
    let abort = |line: u64, why: &str| {
        let l = serde_json::json!({"line": line, "status": "aborted", "error": why});
        Ok(Bytes::from(format!("{l}\n")))
    };
    loop {
        let chunk = match stream.next().await {
            Some(Ok(c)) => c,
            Some(Err(_)) => {
                let _ = tx
                    .send(abort(number + 1, "the request body was cut off"))
                    .await;
                return;
            }
            None => break,
        };
        total += chunk.len() as u64;
        if total > IMPORT_BODY_MAX {
            let _ = tx
                .send(abort(
                    number + 1,
                    "the body is larger than 1 GiB: split the file",
                ))
                .await;
            return;
        }
        let mut rest = &chunk[..];
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            number += 1;
            let line = if overlong {
                overlong = false;
                Some((
                    number,
                    Err(format!("line longer than {MAX_LINE_BYTES} bytes")),
                ))
            } else {
                buf.extend_from_slice(&rest[..nl]);
                jsonl_line(number, &buf)
            };
            buf.clear();
            rest = &rest[nl + 1..];
            if let Some(line) = line {
                if !send(&tx, importer.push(line).await).await {
                    return;
                }
            }
        }
        if !overlong {
            buf.extend_from_slice(rest);
            if buf.len() > MAX_LINE_BYTES {
                overlong = true;
                buf.clear();
            }
        }
    }
    if overlong || !buf.is_empty() {
        number += 1;
        let line = if overlong {
            Some((
                number,
                Err(format!("line longer than {MAX_LINE_BYTES} bytes")),
            ))
        } else {
            jsonl_line(number, &buf)
        };
        if let Some(line) = line {
            if !send(&tx, importer.push(line).await).await {
                return;
            }
        }
    }
    let last = importer.finish().await.map(|(reports, _)| reports);
    send(&tx, last).await;
}

/// Sends reports; on a store error sends the `aborted` line. False: stop.
async fn send(
    tx: &mpsc::Sender<Result<Bytes, Infallible>>,
    reports: crate::core::error::CoreResult<Vec<LineReport>>,
) -> bool {
    match reports {
        Ok(reports) if reports.is_empty() => true,
        Ok(reports) => {
            let mut out = Vec::with_capacity(reports.len() * 64);
            for r in &reports {
                let _ = serde_json::to_writer(&mut out, r);
                out.push(b'\n');
            }
            tx.send(Ok(Bytes::from(out))).await.is_ok()
        }
        Err(e) => {
            tracing::warn!(error = %e, "import aborted");
            let why = match e {
                crate::core::error::CoreError::Unavailable => "the database is unavailable",
                _ => "an internal error stopped the import; lines without a report were not stored",
            };
            let l = serde_json::json!({"status": "aborted", "error": why});
            let _ = tx.send(Ok(Bytes::from(format!("{l}\n")))).await;
            false
        }
    }
}

/// A streamed JSON Lines response.
fn ndjson<E>(rx: mpsc::Receiver<Result<Bytes, E>>) -> Response
where
    E: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    let mut res = Body::from_stream(stream).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    res
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Include password hashes (audited). Keep the file as secret as the database.
    with_hashes: Option<bool>,
}

/// Export users (admins) as JSON Lines, in id order, one import record per line — the body
/// `POST /v1/users/import` reads back. Hashes only with `with_hashes=true`. Audited.
#[utoipa::path(get, path = "/v1/users/export", tag = "users", security(("bearer" = [])),
    params(ExportParams),
    responses(
        (status = 200, description = "One record per user", body = String, content_type = "application/x-ndjson"),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
async fn export_users(
    State(st): State<AppState>,
    Auth(p): Auth,
    Client(client): Client,
    Query(params): Query<ExportParams>,
) -> ApiResult<Response> {
    let with_hashes = params.with_hashes.unwrap_or(false);
    st.svc.admin(&p)?.start_export(with_hashes).await;
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(4);
    let svc = st.svc.clone();
    tokio::spawn(CLIENT.scope(client, async move {
        let Ok(admin) = svc.admin(&p) else { return };
        let mut after = None;
        loop {
            let page = match admin.export_page(after, 1000, with_hashes).await {
                Ok(page) => page,
                Err(e) => {
                    // The status is sent: a body that ends in an error (the connection is
                    // reset, never a clean end) tells the client the export is incomplete.
                    tracing::warn!(error = %e, "export cut short");
                    let _ = tx.send(Err(io::Error::other("export cut short"))).await;
                    return;
                }
            };
            let Some((last, _)) = page.last() else { return };
            after = Some(*last);
            let mut out = Vec::with_capacity(page.len() * 256);
            for (_, record) in &page {
                let _ = serde_json::to_writer(&mut out, record);
                out.push(b'\n');
            }
            if tx.send(Ok(Bytes::from(out))).await.is_err() {
                return;
            }
        }
    }));
    Ok(ndjson(rx))
}
