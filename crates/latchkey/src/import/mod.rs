//! Importing users from files and request bodies: records are read one at a time (JSON
//! Lines and CSV stream; a JSON document is read whole), handed to the core in batches, and
//! each gets its report. `sources` translates the origins' exports.

pub mod sources;

use std::io::{BufRead, Read};

use serde_json::Value;

use crate::core::access::Admin;
use crate::core::error::CoreResult;
use crate::core::import::{parse_line, ImportOptions, ImportRecord, ImportTally, LineReport};
use crate::core::service::IMPORT_BATCH;

/// An input record's number (its line, or its place in a JSON array) and the record, or
/// why it could not be read.
pub type Line = (u64, Result<ImportRecord, String>);

/// The longest line or record taken (a record is a few hundred bytes).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Feeds records to the core in batches.
pub struct Importer<'a> {
    admin: Admin<'a>,
    opts: ImportOptions,
    pending: Vec<Line>,
    pub tally: ImportTally,
}

impl<'a> Importer<'a> {
    pub fn new(admin: Admin<'a>, opts: ImportOptions) -> Self {
        Importer {
            admin,
            opts,
            pending: Vec::with_capacity(IMPORT_BATCH),
            tally: ImportTally::default(),
        }
    }

    /// Queues a record; stores a batch when one is full and returns its reports.
    pub async fn push(&mut self, line: Line) -> CoreResult<Vec<LineReport>> {
        self.pending.push(line);
        if self.pending.len() < IMPORT_BATCH {
            return Ok(Vec::new());
        }
        self.flush().await
    }

    /// Stores what is queued.
    pub async fn flush(&mut self) -> CoreResult<Vec<LineReport>> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        let batch = std::mem::take(&mut self.pending);
        self.admin
            .import_lines(batch, &self.opts, &mut self.tally)
            .await
    }

    /// Stores the rest and records the import in the audit log.
    pub async fn finish(mut self) -> CoreResult<(Vec<LineReport>, ImportTally)> {
        let last = self.flush().await?;
        self.admin.finish_import(&self.tally, &self.opts).await;
        Ok((last, self.tally))
    }
}

/// One line of JSON Lines as a record: blank lines are not records.
pub fn jsonl_line(number: u64, raw: &[u8]) -> Option<Line> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if raw.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    if raw.len() > MAX_LINE_BYTES {
        return Some((
            number,
            Err(format!("line longer than {MAX_LINE_BYTES} bytes")),
        ));
    }
    let record = std::str::from_utf8(raw)
        .map_err(|_| "not UTF-8".to_owned())
        .and_then(parse_line);
    Some((number, record))
}

/// How to read each row of a source.
pub type Adapter = fn(&sources::Row) -> Result<ImportRecord, String>;

/// JSON Lines from a reader, line by line.
pub fn read_jsonl(reader: impl BufRead + 'static) -> impl Iterator<Item = Line> {
    let mut reader = reader;
    let mut number = 0u64;
    std::iter::from_fn(move || loop {
        let mut buf = Vec::new();
        // Bounded: a line is read at most MAX_LINE_BYTES + 1 at a time before it is refused.
        let n = match (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) => {
                number += 1;
                return Some((number, Err(format!("cannot read: {e}"))));
            }
        };
        number += 1;
        if n > MAX_LINE_BYTES && !buf.ends_with(b"\n") {
            // Skip the rest of the overlong line.
            let mut rest = Vec::new();
            let _ = reader.read_until(b'\n', &mut rest);
            return Some((
                number,
                Err(format!("line longer than {MAX_LINE_BYTES} bytes")),
            ));
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if let Some(l) = jsonl_line(number, line) {
            return Some(l);
        }
    })
}

/// CSV with a header row: each row as an object of the header's names. Line numbers count
/// the header as line 1.
pub fn read_csv(reader: impl Read + 'static, adapter: Adapter) -> impl Iterator<Item = Line> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers = csv.headers().cloned();
    let mut records = csv.into_records();
    let mut failed_header = headers.as_ref().err().map(|e| e.to_string());
    // The first row starts on line 2. The csv crate numbers it 1 when the header ends in
    // CRLF (the header's LF is counted with the row): every row is shifted the same.
    let mut shift: Option<i64> = None;
    let mut line_of = move |p: Option<&csv::Position>| -> u64 {
        let l = p.map_or(0, |p| p.line()) as i64;
        let s = *shift.get_or_insert(2 - l);
        (l + s).max(0) as u64
    };
    std::iter::from_fn(move || {
        if let Some(e) = failed_header.take() {
            return Some((1, Err(format!("cannot read the header row: {e}"))));
        }
        let headers = headers.as_ref().ok()?;
        let row = records.next()?;
        Some(match row {
            Ok(r) => {
                let line = line_of(r.position());
                let obj = headers
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| (h.to_owned(), Value::String(v.to_owned())))
                    .collect();
                (line, adapter(&obj))
            }
            Err(e) => {
                let line = line_of(e.position());
                (line, Err(format!("not a valid CSV row: {e}")))
            }
        })
    })
}

/// A JSON document: an array of rows, or an object with the array in `users` (Keycloak) or
/// `data` (the Directus API).
pub fn read_json(bytes: &[u8], adapter: Adapter) -> Result<Vec<Line>, String> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON document: {e}"))?;
    let rows = match doc {
        Value::Array(rows) => rows,
        Value::Object(mut o) => match o.remove("users").or_else(|| o.remove("data")) {
            Some(Value::Array(rows)) => rows,
            _ => return Err("expected an array of users, or an object with `users`".into()),
        },
        _ => return Err("expected an array of users, or an object with `users`".into()),
    };
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let n = i as u64 + 1;
            match row {
                Value::Object(o) => (n, adapter(&o)),
                _ => (n, Err("not an object".into())),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_are_numbered_by_the_line_they_start_on() {
        let csv = "username,email,address\r\n\
                   a,a@x.io,one\r\n\
                   b,b@x.io,\"two\r\nlines\"\r\n\
                   c,c@x.io,three\r\n";
        let lines: Vec<u64> = read_csv(
            std::io::Cursor::new(csv.as_bytes().to_vec()),
            sources::latchkey_csv,
        )
        .map(|(n, r)| {
            assert!(r.is_ok(), "{r:?}");
            n
        })
        .collect();
        assert_eq!(lines, [2, 3, 5]);
    }

    #[test]
    fn jsonl_lines_are_numbered_and_overlong_ones_refused_alone() {
        let long = format!("{{\"username\":\"{}\"}}", "x".repeat(MAX_LINE_BYTES));
        let input = format!("{{\"username\":\"a\",\"email\":\"a@x.io\"}}\n\n{long}\n{{\"username\":\"b\",\"email\":\"b@x.io\"}}");
        let got: Vec<(u64, bool)> = read_jsonl(std::io::Cursor::new(input.into_bytes()))
            .map(|(n, r)| (n, r.is_ok()))
            .collect();
        assert_eq!(got, [(1, true), (3, false), (4, true)]);
    }
}
