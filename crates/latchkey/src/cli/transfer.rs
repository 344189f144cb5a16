//! `latchkey import` and `latchkey export`, on the server's database.

use std::io::{BufReader, Read, Write};

use super::args::{ConflictArg, ExportArgs, ImportArgs, ImportFormat, ImportSource};
use super::config::service;
use super::{describe, init_logging, Fatal};
use crate::core::import::{ImportOptions, LineReport, LineStatus, OnConflict};
use crate::core::Latchkey;
use crate::import::{read_csv, read_json, read_jsonl, sources, Adapter, Importer, Line};

pub(super) async fn import(args: ImportArgs) -> Result<(), Fatal> {
    let db = args.svc.db.clone();
    init_logging(db.log_format);
    let lines = open(&args)?;
    let svc = service(&args.svc, true).await?;
    let op = Latchkey::operator();
    let admin = svc.admin(&op).map_err(|e| describe(e, &db.database))?;
    let opts = ImportOptions {
        on_conflict: match args.on_conflict {
            ConflictArg::Skip => OnConflict::Skip,
            ConflictArg::Update => OnConflict::Update,
            ConflictArg::Fail => OnConflict::Fail,
        },
        dry_run: args.dry_run,
        accept_weak_hashes: args.accept_weak_hashes,
    };
    let mut importer = Importer::new(admin, opts);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut write = |reports: Vec<LineReport>| -> Result<(), Fatal> {
        for r in reports {
            let line = serde_json::to_string(&r).unwrap_or_default();
            writeln!(out, "{line}").map_err(|e| Fatal(format!("cannot write the report: {e}")))?;
        }
        Ok(())
    };
    for line in lines {
        let reports = importer
            .push(line)
            .await
            .map_err(|e| describe(e, &db.database))?;
        write(reports)?;
    }
    let (reports, tally) = importer
        .finish()
        .await
        .map_err(|e| describe(e, &db.database))?;
    write(reports)?;
    out.flush()
        .map_err(|e| Fatal(format!("cannot write the report: {e}")))?;
    let verb = if args.dry_run { "would be " } else { "" };
    eprintln!(
        "latchkey: import: {} {verb}created, {} {verb}updated, {} skipped, {} failed{}",
        tally.created,
        tally.updated,
        tally.skipped,
        tally.failed,
        if args.dry_run {
            " (dry run: nothing stored)"
        } else {
            ""
        }
    );
    if tally.failed > 0 || tally.stopped {
        return Err(Fatal(format!(
            "{} record{} failed (see the report lines with \"status\":\"{}\")",
            tally.failed,
            if tally.failed == 1 { "" } else { "s" },
            LineStatus::Failed.as_str()
        )));
    }
    Ok(())
}

/// The file as records, read by the source's adapter in its format.
fn open(args: &ImportArgs) -> Result<Box<dyn Iterator<Item = Line>>, Fatal> {
    let reader: Box<dyn Read> = if args.file == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&args.file)
                .map_err(|e| Fatal(format!("cannot open {}: {e}", args.file)))?,
        )
    };
    let (adapter, default_format): (Adapter, ImportFormat) = match args.from {
        ImportSource::Latchkey => (sources::latchkey_csv, ImportFormat::Jsonl),
        ImportSource::Keycloak => (sources::keycloak, ImportFormat::Json),
        ImportSource::Django => (sources::django, ImportFormat::Json),
        ImportSource::Supabase => (sources::supabase, ImportFormat::Csv),
        ImportSource::Directus => (sources::directus, ImportFormat::Json),
        ImportSource::FastapiUsers => (sources::fastapi_users, ImportFormat::Csv),
    };
    match args.format.unwrap_or(default_format) {
        ImportFormat::Jsonl if args.from == ImportSource::Latchkey => {
            Ok(Box::new(read_jsonl(BufReader::new(reader))))
        }
        ImportFormat::Jsonl => Err(Fatal(format!(
            "--format jsonl is for Latchkey records; {} exports are json or csv",
            source_name(args.from)
        ))),
        ImportFormat::Csv => Ok(Box::new(read_csv(reader, adapter))),
        ImportFormat::Json if args.from == ImportSource::Latchkey => Err(Fatal(
            "Latchkey records are jsonl (one per line) or csv".into(),
        )),
        ImportFormat::Json => {
            let mut bytes = Vec::new();
            let mut reader = reader;
            reader
                .read_to_end(&mut bytes)
                .map_err(|e| Fatal(format!("cannot read {}: {e}", args.file)))?;
            let lines =
                read_json(&bytes, adapter).map_err(|e| Fatal(format!("{}: {e}", args.file)))?;
            Ok(Box::new(lines.into_iter()))
        }
    }
}

fn source_name(s: ImportSource) -> &'static str {
    match s {
        ImportSource::Latchkey => "Latchkey",
        ImportSource::Keycloak => "Keycloak",
        ImportSource::Django => "Django",
        ImportSource::Supabase => "Supabase",
        ImportSource::Directus => "Directus",
        ImportSource::FastapiUsers => "fastapi-users",
    }
}

pub(super) async fn export(args: ExportArgs) -> Result<(), Fatal> {
    let db = args.svc.db.clone();
    init_logging(db.log_format);
    let svc = service(&args.svc, true).await?;
    let op = Latchkey::operator();
    let admin = svc.admin(&op).map_err(|e| describe(e, &db.database))?;
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(create_private(path)?),
        None => Box::new(std::io::stdout()),
    };
    let mut out = std::io::BufWriter::new(sink);
    admin.start_export(args.with_hashes).await;
    let mut after = None;
    let mut n = 0u64;
    loop {
        let page = admin
            .export_page(after, 1000, args.with_hashes)
            .await
            .map_err(|e| describe(e, &db.database))?;
        let Some((last, _)) = page.last() else { break };
        after = Some(*last);
        for (_, record) in &page {
            let line = serde_json::to_string(record).unwrap_or_default();
            writeln!(out, "{line}").map_err(|e| Fatal(format!("cannot write: {e}")))?;
            n += 1;
        }
    }
    out.flush()
        .map_err(|e| Fatal(format!("cannot write: {e}")))?;
    eprintln!("latchkey: export: {n} users");
    Ok(())
}

/// A new file readable by its owner only (it may hold password hashes).
fn create_private(path: &str) -> Result<std::fs::File, Fatal> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
        .map_err(|e| Fatal(format!("cannot create {path}: {e}")))
}
