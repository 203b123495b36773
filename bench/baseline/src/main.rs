//! `covenant-bench-baseline`: the two benchmark models written by hand in Rust, with
//! `rust_decimal` and checked arithmetic. It reads the same CSV as `covenant batch` and
//! writes the same layout (`row,<decision>...`; money as plain decimal text, "no value" as an
//! empty cell, failed rows left out and reported as `row N: decision: reason`).
//!
//! ```text
//! covenant-bench-baseline suffolk|housing --input IN.csv --output OUT.csv [--errors ERR.txt]
//!                         [--compute-only [--repeat N]]
//! ```
//!
//! End to end (the default) streams: read a row, compute it, write it, on one thread.
//! `--compute-only` first reads and parses every row into memory, then times only the
//! computation (best of `--repeat` runs, 5 by default), and then writes the results (not
//! timed) so that they can be compared. Timings go to standard error as
//! `compute-only: ROWS rows in SECONDS s (RATE rows/s)`.
//!
//! Each model mirrors its `.cov` file line by line; the comments give the lines.

mod housing;
mod suffolk;

use rust_decimal::Decimal;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

/// A row that failed: the decision and why (written as `row N: decision: message`).
#[derive(Debug)]
pub struct RowError {
    pub decision: &'static str,
    pub message: String,
}

impl RowError {
    pub fn new(decision: &'static str, message: impl Into<String>) -> RowError {
        RowError { decision, message: message.into() }
    }
}

/// One model: how to find its columns, read a row, compute it and write the results.
pub trait Model {
    type Columns;
    type Row;
    type Out;
    /// The output header, `row` first.
    const HEADER: &'static str;
    fn columns(names: &[String]) -> Result<Self::Columns, String>;
    fn parse(columns: &Self::Columns, record: &csv::ByteRecord) -> Result<Self::Row, RowError>;
    fn compute(row: &Self::Row) -> Result<Self::Out, RowError>;
    fn write(out: &Self::Out, w: &mut impl Write) -> std::io::Result<()>;
}

struct Options {
    input: String,
    output: String,
    errors: Option<String>,
    compute_only: bool,
    repeat: usize,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(model) = args.first().cloned() else { return usage("expected a model: suffolk or housing") };
    let mut options =
        Options { input: String::new(), output: String::new(), errors: None, compute_only: false, repeat: 5 };
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned();
        match (args[i].as_str(), value) {
            ("--input", Some(v)) => options.input = v,
            ("--output", Some(v)) => options.output = v,
            ("--errors", Some(v)) => options.errors = Some(v),
            ("--repeat", Some(v)) => match v.parse() {
                Ok(n) if n > 0 => options.repeat = n,
                _ => return usage("--repeat needs a positive whole number"),
            },
            ("--compute-only", _) => {
                options.compute_only = true;
                i += 1;
                continue;
            }
            (other, _) => return usage(&format!("unexpected argument `{other}`")),
        }
        i += 2;
    }
    if options.input.is_empty() || options.output.is_empty() {
        return usage("--input and --output are required");
    }
    let result = match model.as_str() {
        "suffolk" => run::<suffolk::Suffolk>(&options),
        "housing" => run::<housing::Housing>(&options),
        other => return usage(&format!("unknown model `{other}`")),
    };
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!(
        "error: {why}\nusage: covenant-bench-baseline suffolk|housing --input IN.csv --output OUT.csv \
         [--errors ERR.txt] [--compute-only [--repeat N]]"
    );
    ExitCode::from(2)
}

/// Runs a model; returns the number of rows that failed.
fn run<M: Model>(options: &Options) -> Result<usize, String> {
    let started = Instant::now();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_path(&options.input)
        .map_err(|e| format!("cannot read `{}`: {e}", options.input))?;
    let names: Vec<String> = reader
        .headers()
        .map_err(|e| format!("cannot read the header: {e}"))?
        .iter()
        .map(|s| s.trim().to_string())
        .collect();
    let columns = M::columns(&names)?;
    let file = File::create(&options.output).map_err(|e| format!("cannot write `{}`: {e}", options.output))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut errors: Box<dyn Write> = match &options.errors {
        Some(path) => Box::new(BufWriter::new(File::create(path).map_err(|e| format!("cannot write `{path}`: {e}"))?)),
        None => Box::new(std::io::sink()),
    };
    let io = |e: std::io::Error| format!("cannot write the output: {e}");
    writeln!(out, "{}", M::HEADER).map_err(io)?;
    let mut record = csv::ByteRecord::new();
    let (mut rows, mut failed) = (0usize, 0usize);

    if !options.compute_only {
        while reader.read_byte_record(&mut record).map_err(|e| format!("row {}: {e}", rows + 1))? {
            rows += 1;
            match M::parse(&columns, &record).and_then(|row| M::compute(&row)) {
                Ok(result) => {
                    write!(out, "{rows},").map_err(io)?;
                    M::write(&result, &mut out).map_err(io)?;
                }
                Err(e) => {
                    failed += 1;
                    writeln!(errors, "row {rows}: {}: {}", e.decision, e.message).map_err(io)?;
                }
            }
        }
        out.flush().map_err(io)?;
        errors.flush().map_err(io)?;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "end-to-end: {rows} rows in {seconds:.3} s ({:.0} rows/s), {failed} failed",
            rows as f64 / seconds.max(1e-9)
        );
        return Ok(failed);
    }

    // Compute-only: parse everything first (not timed), then time only the computation.
    let mut parsed: Vec<Result<M::Row, RowError>> = Vec::new();
    while reader.read_byte_record(&mut record).map_err(|e| format!("row {}: {e}", parsed.len() + 1))? {
        parsed.push(M::parse(&columns, &record));
    }
    rows = parsed.len();
    let parse_seconds = started.elapsed().as_secs_f64();
    let mut best = f64::INFINITY;
    let mut results: Vec<Result<M::Out, RowError>> = Vec::new();
    for _ in 0..options.repeat {
        drop(std::mem::take(&mut results));
        let t = Instant::now();
        results = parsed
            .iter()
            .map(|row| match row {
                Ok(row) => M::compute(row),
                Err(e) => Err(RowError::new(e.decision, e.message.clone())),
            })
            .collect();
        best = best.min(t.elapsed().as_secs_f64());
        std::hint::black_box(&results);
    }
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(result) => {
                write!(out, "{},", i + 1).map_err(io)?;
                M::write(result, &mut out).map_err(io)?;
            }
            Err(e) => {
                failed += 1;
                writeln!(errors, "row {}: {}: {}", i + 1, e.decision, e.message).map_err(io)?;
            }
        }
    }
    out.flush().map_err(io)?;
    errors.flush().map_err(io)?;
    eprintln!(
        "parse: {rows} rows in {parse_seconds:.3} s; compute-only: {rows} rows in {best:.4} s ({:.0} rows/s, best of {}), {failed} failed",
        rows as f64 / best.max(1e-9),
        options.repeat
    );
    Ok(failed)
}

// ---- helpers shared by the models ----------------------------------------------------------

/// The index of a required column.
pub fn column(names: &[String], name: &str) -> Result<usize, String> {
    names.iter().position(|n| n == name).ok_or_else(|| format!("no column `{name}`"))
}

/// A cell's text, trimmed like `covenant batch` does (`driver/src/batch.rs`, `cell_json`).
pub fn cell<'r>(record: &'r csv::ByteRecord, index: usize, path: &'static str) -> Result<&'r [u8], RowError> {
    record.get(index).map(<[u8]>::trim_ascii).ok_or_else(|| RowError::new(path, "the row has too few cells"))
}

/// An exact decimal written as plain digits (`12.50`, `-3`), as `driver/src/inputs.rs`
/// `parse_number` accepts it (the `£` and thousands commas it also accepts are not used by
/// the generated cohorts and are refused here).
pub fn decimal(text: &[u8], path: &'static str) -> Result<Decimal, RowError> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let plain = !digits.is_empty()
        && digits.iter().all(|c| c.is_ascii_digit() || *c == b'.')
        && digits.iter().filter(|c| **c == b'.').count() <= 1
        && digits.iter().any(u8::is_ascii_digit);
    let bad = || RowError::new(path, format!("`{}` is not a number", String::from_utf8_lossy(text)));
    if !plain {
        return Err(bad());
    }
    // Only ASCII digits, '.' and '-' are left, so the text is UTF-8.
    let text = std::str::from_utf8(text).map_err(|_| bad())?;
    Decimal::from_str_exact(text).map_err(|_| bad())
}

/// Money as `covenant batch` writes it (`ir/src/value.rs`, `to_json`): at least two decimal
/// places, more only when the value has them.
pub fn write_money(w: &mut impl Write, amount: Decimal) -> std::io::Result<()> {
    let mut fixed = amount;
    fixed.rescale(amount.normalize().scale().max(2));
    write!(w, "{fixed}")
}
