//! `covenant expand`: the compact traces of `batch --explain=compact` back into full
//! explanations, as text or as the JSON Lines rows `batch --explain` writes.
//!
//! A trace row may use sites defined in earlier rows, so the file is read from its first line;
//! rows before the ones wanted only have their sites taken in. Reading stops after the last
//! row asked for.

use covenant_driver::Compilation;
use covenant_driver::receipt::rules_hash;
use covenant_ir::json::JsonOut;
use covenant_report::explain;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

pub fn run(compilation: &Compilation, trace: &Path, rows: &[usize], json: bool) -> ExitCode {
    let program = &compilation.program;
    let file = match File::open(trace) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", trace.display());
            return ExitCode::from(2);
        }
    };
    let mut wanted: BTreeSet<usize> = rows.iter().copied().collect();
    let every_row = wanted.is_empty();
    let mut reader = explain::TraceReader::new(program, rules_hash(program));
    let places = explain::JsonPlaces::new();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut line_out = JsonOut::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line_number = index + 1;
        let fail = |message: String| {
            eprintln!("error: `{}` line {line_number}: {message}", trace.display());
            ExitCode::from(2)
        };
        let line = match line {
            Ok(line) => line,
            Err(e) => return fail(format!("cannot be read: {e}")),
        };
        if line.trim().is_empty() {
            continue;
        }
        let outline = match explain::RowOutline::read(&line) {
            Ok(Some(outline)) => outline,
            Ok(None) => {
                return fail(
                    "this row has no `trace`; expand reads the output of `covenant batch --explain=compact`".into(),
                );
            }
            Err(e) => return fail(e),
        };
        let Some(row) = outline.row.and_then(|n| usize::try_from(n).ok()) else {
            return fail("this row has no `row` number".into());
        };
        if !every_row && !wanted.contains(&row) {
            // Only its sites are needed: its steps are skipped unread.
            if let Err(e) = reader.skip_outline(&outline) {
                return fail(e);
            }
            continue;
        }
        let document: serde_json::Value = match serde_json::from_str(&line) {
            Ok(d) => d,
            Err(e) => return fail(format!("not valid JSON: {e}")),
        };
        let trace_json = document.get("trace").unwrap_or(&serde_json::Value::Null);
        let steps = match reader.read(trace_json) {
            Ok(steps) => steps,
            Err(e) => return fail(e),
        };
        let written = if json {
            line_out.clear();
            line_out.begin_object();
            line_out.key("row").count(row);
            line_out.key("decisions").value(document.get("decisions").unwrap_or(&serde_json::Value::Null));
            line_out.key("explanations").begin_array();
            for step in &steps {
                explain::write_explanation_json(program, &compilation.sources, &places, step, &mut line_out);
            }
            line_out.end_array();
            line_out.end_object();
            writeln!(out, "{}", line_out.as_str())
        } else {
            let mut text = format!("row {row}\n");
            for explanation in explain::explain_texts(program, &compilation.sources, &steps) {
                text.push_str(&explanation);
                text.push('\n');
            }
            write!(out, "{text}")
        };
        if written.is_err() {
            return ExitCode::SUCCESS; // the reader stopped listening
        }
        wanted.remove(&row);
        if !every_row && wanted.is_empty() {
            break;
        }
    }
    if out.flush().is_err() {
        return ExitCode::SUCCESS;
    }
    if !wanted.is_empty() {
        let missing: Vec<String> = wanted.iter().map(|r| r.to_string()).collect();
        eprintln!("error: `{}` has no row {}", trace.display(), missing.join(", "));
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
