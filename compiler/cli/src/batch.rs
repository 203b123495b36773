//! `covenant batch`: a cohort from CSV or JSON Lines, one output row per good input row.
//!
//! Rows are read in chunks; each chunk is cut into pieces that worker threads (scoped, one
//! per core) take in turn, evaluated with shared table indexes, and written in input order
//! while the next chunk is read, so memory does not grow with the number of rows. Workers
//! keep their sessions (and trace writers) from chunk to chunk. A bad row (malformed
//! value, evaluation error) is reported with its row number, field and reason and does not
//! stop or disturb the others; the run ends with a summary and exits 1 if any row failed.

use covenant_driver::batch::{self, Header, Totals};
use covenant_driver::{Compilation, inputs};
use covenant_eval::{Indexes, NoTrace, Recorder, Session};
use covenant_ir::json::JsonOut;
use covenant_ir::{Date, DecisionId, Program, Value, value};
use covenant_report::explain;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Rows read, evaluated and written at a time: bounds memory whatever the row count.
const CHUNK_ROWS: usize = 8_192;
/// With explanations a row's results can be large (thousands of steps), so chunks are small.
const CHUNK_ROWS_EXPLAINED: usize = 32;
/// A compact trace is a few kilobytes a row: chunks of this size keep both cores busy and
/// a few megabytes in flight.
const CHUNK_ROWS_COMPACT: usize = 512;
/// Pieces a chunk is cut into for each worker thread (see `Run::evaluate_chunk`).
const PIECES_PER_WORKER: usize = 4;
/// Worker stacks: explanation trees are walked recursively, and evaluation may nest deeply.
const WORKER_STACK_BYTES: usize = 64 * 1024 * 1024;

pub struct Options {
    pub input: PathBuf,
    pub output: Option<PathBuf>,
    pub errors: Option<PathBuf>,
    pub explain: Explain,
    pub as_of: Option<Date>,
    pub threads: Option<usize>,
}

/// Whether and how each row is explained.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Explain {
    Off,
    /// The full explanations (`covenant.explanation/1`) in every row.
    Full,
    /// A compact trace (`covenant.trace/1`) in every row, for `covenant expand`.
    Compact,
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Csv,
    JsonLines,
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => Some(Format::Csv),
        Some("jsonl" | "ndjson") => Some(Format::JsonLines),
        _ => None,
    }
}

/// One input row: its number (1 for the first data row) and its raw content.
enum RowIn {
    Csv(usize, csv::StringRecord),
    Json(usize, String),
}

/// What the writing thread reports at the end.
struct Written {
    rows_out: usize,
    rows_failed: usize,
    totals: Totals,
    error: Option<std::io::Error>,
}

/// One evaluated row.
enum RowOut {
    /// Explanations are kept as compact JSON text: a JSON tree in memory is many times larger.
    Done {
        number: usize,
        values: Vec<Value>,
        /// With `--explain`, the JSON array of the explanations, or of the compact trace's
        /// steps (else empty).
        explanations: String,
        /// With `--explain=compact`, the sites the trace uses (each once).
        sites: Vec<u32>,
    },
    Failed {
        number: usize,
        problems: Vec<String>,
    },
}

struct Run<'p> {
    program: &'p Program,
    compilation: &'p Compilation,
    decisions: &'p [DecisionId],
    header: Option<Header>,
    indexes: &'p Indexes,
    options: &'p Options,
    /// Sessions and explanation writers of finished chunks, taken up by the next chunk's
    /// workers: their caches (labels, names, trace sites) then last the whole run.
    idle: Mutex<Vec<Worker<'p>>>,
    /// The sites of the compact traces (unused otherwise).
    sites: &'p explain::TraceSites,
}

pub fn run(compilation: &Compilation, decisions: &[DecisionId], options: &Options) -> ExitCode {
    let program = &compilation.program;
    let Some(input_format) = format_of(&options.input) else {
        eprintln!("error: `{}` must end in .csv or .jsonl", options.input.display());
        return ExitCode::from(2);
    };
    let output_format = match &options.output {
        None if options.explain != Explain::Off => Format::JsonLines,
        None => Format::Csv,
        Some(path) => match format_of(path) {
            Some(f) => f,
            None => {
                eprintln!("error: the output `{}` must end in .csv or .jsonl", path.display());
                return ExitCode::from(2);
            }
        },
    };
    if options.explain == Explain::Compact && output_format != Format::JsonLines {
        eprintln!("error: `--explain=compact` writes JSON Lines; give an `--output` ending in .jsonl");
        return ExitCode::from(2);
    }
    let file = match File::open(&options.input) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", options.input.display());
            return ExitCode::from(2);
        }
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut csv_reader = None;
    let mut lines = None;
    let mut header = None;
    match input_format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(BufReader::new(file));
            let names: Vec<String> = match reader.headers() {
                Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
                Err(e) => {
                    eprintln!("error: cannot read the header of `{}`: {e}", options.input.display());
                    return ExitCode::from(2);
                }
            };
            match Header::new(program, &names) {
                Ok(h) => header = Some(h),
                Err(errors) => {
                    for e in &errors {
                        eprintln!("error: column {e}");
                    }
                    eprintln!(
                        "the header of `{}` does not match the declared inputs; no row was run",
                        options.input.display()
                    );
                    return ExitCode::from(2);
                }
            }
            csv_reader = Some(reader);
        }
        Format::JsonLines => lines = Some(BufReader::new(file).lines()),
    }

    let sink: Box<dyn Write + Send> = match &options.output {
        None => Box::new(std::io::stdout()),
        Some(path) => match File::create(path) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("error: cannot write `{}`: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    let mut errors_sink: Box<dyn Write + Send> = match &options.errors {
        None => Box::new(std::io::stderr()),
        Some(path) => match File::create(path) {
            Ok(f) => Box::new(BufWriter::new(f)),
            Err(e) => {
                eprintln!("error: cannot write `{}`: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    let sites = explain::TraceSites::new();
    let trace = (options.explain == Explain::Compact).then(|| Trace {
        sites: &sites,
        rules: covenant_driver::receipt::rules_hash(program),
        defined: Vec::new(),
    });
    let mut writer = Writer::new(sink, output_format, program, decisions, options.explain, trace);

    let indexes = Indexes::build(program);
    let run = Run {
        program,
        compilation,
        decisions,
        header,
        indexes: &indexes,
        options,
        sites: &sites,
        idle: Mutex::new(Vec::new()),
    };
    let threads = options.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let progress = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut rows_in = 0usize;
    let mut number = 0usize;
    let mut read_error = None;
    // Results go to a writing thread in input order, so writing one chunk overlaps reading
    // and evaluating the next; the bounded channel keeps memory bounded.
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<RowOut>>(2);
    let written = std::thread::scope(|scope| {
        let writing = scope.spawn(move || {
            let mut written =
                Written { rows_out: 0, rows_failed: 0, totals: Totals::new(program, decisions), error: None };
            for results in receiver {
                if written.error.is_some() {
                    continue; // keep draining so the reader is never blocked
                }
                for result in results {
                    match result {
                        RowOut::Done { number, values, explanations, sites } => {
                            written.rows_out += 1;
                            for (id, v) in decisions.iter().zip(&values) {
                                written.totals.add(*id, v);
                            }
                            if let Err(e) = writer.row(number, &values, &explanations, &sites) {
                                written.error = Some(e);
                                break;
                            }
                        }
                        RowOut::Failed { number, problems } => {
                            written.rows_failed += 1;
                            for p in problems {
                                let _ = writeln!(errors_sink, "row {number}: {p}");
                            }
                        }
                    }
                }
            }
            if written.error.is_none()
                && let Err(e) = writer.finish()
            {
                written.error = Some(e);
            }
            let _ = errors_sink.flush();
            written
        });
        // While one chunk is evaluated, the next is read: reading never leaves a core idle.
        let mut evaluating: Option<std::thread::ScopedJoinHandle<'_, Vec<RowOut>>> = None;
        let run = &run;
        loop {
            let chunk_rows = match options.explain {
                Explain::Off => CHUNK_ROWS,
                Explain::Full => CHUNK_ROWS_EXPLAINED,
                Explain::Compact => CHUNK_ROWS_COMPACT,
            };
            let mut chunk = Vec::with_capacity(chunk_rows);
            while chunk.len() < chunk_rows {
                number += 1;
                let next = match (&mut csv_reader, &mut lines) {
                    (Some(reader), _) => {
                        let mut record = csv::StringRecord::new();
                        match reader.read_record(&mut record) {
                            Ok(true) => Some(RowIn::Csv(number, record)),
                            Ok(false) => None,
                            Err(e) => {
                                read_error = Some(format!("row {number}: the file cannot be read further: {e}"));
                                None
                            }
                        }
                    }
                    (None, Some(lines)) => match lines.next() {
                        Some(Ok(line)) if line.trim().is_empty() => {
                            number -= 1;
                            continue;
                        }
                        Some(Ok(line)) => Some(RowIn::Json(number, line)),
                        Some(Err(e)) => {
                            read_error = Some(format!("row {number}: the file cannot be read further: {e}"));
                            None
                        }
                        None => None,
                    },
                    (None, None) => None,
                };
                match next {
                    Some(row) => chunk.push(row),
                    None => break,
                }
            }
            if let Some(previous) = evaluating.take()
                && sender.send(joined(previous.join())).is_err()
            {
                break;
            }
            if chunk.is_empty() {
                break;
            }
            rows_in += chunk.len();
            let spawned = std::thread::Builder::new()
                .stack_size(WORKER_STACK_BYTES)
                .spawn_scoped(scope, move || run.evaluate_chunk(&chunk, threads));
            match spawned {
                Ok(handle) => evaluating = Some(handle),
                Err(_) => {
                    let _ = sender.send(joined(Err(Box::new("cannot start a thread"))));
                    break;
                }
            }
            if progress {
                let done = match &csv_reader {
                    Some(r) if size > 0 => format!(" ({:.0}%)", r.position().byte() as f64 * 100.0 / size as f64),
                    _ => String::new(),
                };
                let rate = rows_in as f64 / started.elapsed().as_secs_f64().max(1e-9);
                let left = match &csv_reader {
                    Some(r) if r.position().byte() > 0 && size > 0 => {
                        let fraction = r.position().byte() as f64 / size as f64;
                        format!(", about {:.0}s left", started.elapsed().as_secs_f64() * (1.0 - fraction) / fraction)
                    }
                    _ => String::new(),
                };
                eprint!("\r{rows_in} rows{done}, {rate:.0} rows/s{left}   ");
            }
            if read_error.is_some() {
                break;
            }
        }
        if let Some(previous) = evaluating.take() {
            let _ = sender.send(joined(previous.join()));
        }
        drop(sender);
        writing.join()
    });
    let Ok(Written { rows_out, rows_failed, totals, error }) = written else {
        eprintln!("error: internal error while writing the output");
        return ExitCode::from(70);
    };
    if progress {
        eprintln!();
    }
    if let Some(e) = error {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS; // the reader stopped listening
        }
        eprintln!("error: cannot write the output: {e}");
        return ExitCode::from(2);
    }
    if let Some(e) = &read_error {
        eprintln!("error: {e}");
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("rows in {rows_in}, rows out {rows_out}, rows failed {rows_failed} ({seconds:.2}s)");
    for (id, sum) in &totals.sums {
        let def = program.decision(*id);
        if totals.overflowed.contains(id) {
            eprintln!("total {}: too large to add up exactly", def.name);
        } else {
            eprintln!("total {}: {}", def.name, value::display(program, &Value::Num(*sum), &def.ty));
        }
    }
    if rows_failed > 0 || read_error.is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// A chunk's results, or one failure standing for them if its thread failed.
fn joined(result: std::thread::Result<Vec<RowOut>>) -> Vec<RowOut> {
    result.unwrap_or_else(|_| {
        vec![RowOut::Failed { number: 0, problems: vec!["internal error in a worker thread".into()] }]
    })
}

impl<'p> Run<'p> {
    /// Evaluates a chunk on `threads` workers, each taking a contiguous slice; results come
    /// back in input order.
    fn evaluate_chunk(&self, chunk: &[RowIn], threads: usize) -> Vec<RowOut> {
        if threads <= 1 || chunk.len() < 2 {
            let mut worker = self.take_worker();
            let results = self.evaluate_rows(&mut worker, chunk);
            self.give_back(worker);
            return results;
        }
        // More pieces than workers, taken in turn: a worker slowed down (the reading and
        // writing threads share its core) takes fewer, so no core waits idle at the end.
        let size = chunk.len().div_ceil(threads * PIECES_PER_WORKER).max(1);
        let pieces: Vec<&[RowIn]> = chunk.chunks(size).collect();
        let next = AtomicUsize::new(0);
        let done: Vec<Mutex<Option<Vec<RowOut>>>> = pieces.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            let work = || {
                let mut worker = self.take_worker();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let (Some(piece), Some(slot)) = (pieces.get(i), done.get(i)) else { break };
                    let results = self.evaluate_rows(&mut worker, piece);
                    if let Ok(mut slot) = slot.lock() {
                        *slot = Some(results);
                    }
                }
                self.give_back(worker);
            };
            for _ in 0..threads.min(pieces.len()) {
                // A worker that cannot be started leaves its pieces to the others.
                let _ = std::thread::Builder::new().stack_size(WORKER_STACK_BYTES).spawn_scoped(scope, work);
            }
        });
        done.into_iter()
            .flat_map(|slot| {
                slot.into_inner().ok().flatten().unwrap_or_else(|| {
                    vec![RowOut::Failed { number: 0, problems: vec!["internal error in a worker thread".into()] }]
                })
            })
            .collect()
    }

    /// A session and explanation writer: one left by an earlier chunk, or a new one.
    fn take_worker(&self) -> Worker<'p> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        idle.unwrap_or_else(|| {
            let mut session = Session::new(self.program, Vec::new()).with_indexes(self.indexes);
            if let Some(date) = self.options.as_of {
                session = session.with_as_of(date);
            }
            let explainer = Explainer {
                places: explain::JsonPlaces::new(),
                trace: explain::TraceWriter::new(self.program, self.sites),
            };
            Worker { session, explainer }
        })
    }

    fn give_back(&self, worker: Worker<'p>) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(worker);
        }
    }

    /// Evaluates rows in order in one session, reset for each row (so its buffers are reused).
    fn evaluate_rows(&self, worker: &mut Worker<'_>, rows: &[RowIn]) -> Vec<RowOut> {
        let Worker { session, explainer } = worker;
        rows.iter().map(|row| self.evaluate(row, session, explainer)).collect()
    }

    fn evaluate(&self, row: &RowIn, session: &mut Session<'_>, explainer: &mut Explainer<'_>) -> RowOut {
        let (number, inputs) = match row {
            RowIn::Csv(number, record) => {
                let cells: Vec<&str> = record.iter().collect();
                let Some(header) = &self.header else {
                    return RowOut::Failed { number: *number, problems: vec!["no header".into()] };
                };
                (*number, batch::row_inputs(self.program, header, &cells))
            }
            RowIn::Json(number, line) => match serde_json::from_str::<serde_json::Value>(line) {
                Ok(doc) => (*number, inputs::read_inputs(self.program, &doc)),
                Err(e) => return RowOut::Failed { number: *number, problems: vec![format!("not valid JSON: {e}")] },
            },
        };
        let inputs = match inputs {
            Ok(values) => values,
            Err(errors) => return RowOut::Failed { number, problems: errors.iter().map(|e| e.to_string()).collect() },
        };
        session.reset(inputs);
        let mut values = Vec::with_capacity(self.decisions.len());
        let mut explanations = JsonOut::new();
        let explaining = self.options.explain == Explain::Full;
        if explaining {
            explanations.begin_array();
        }
        let compact = self.options.explain == Explain::Compact;
        if compact {
            explainer.trace.start_row();
        }
        let mut problems = Vec::new();
        for &id in self.decisions {
            let result = if compact {
                session.decision(id, &mut explainer.trace)
            } else if explaining {
                // A row's decisions share sub-decisions: a step budget of 0 explains each one
                // (with given arguments) once in the row, and shows its repeats by value.
                let mut recorder = Recorder::with_limit(0);
                let result = session.decision(id, &mut recorder);
                if let Some(step) = recorder.finish() {
                    explain::write_explanation_json(
                        self.program,
                        &self.compilation.sources,
                        &explainer.places,
                        &step,
                        &mut explanations,
                    );
                }
                result
            } else {
                session.decision(id, &mut NoTrace)
            };
            match result {
                Ok(v) => values.push(v),
                Err(e) => {
                    let location = self.compilation.sources.location(e.span);
                    problems.push(format!(
                        "{}: {}[{}]: {} ({location})",
                        self.program.decision(id).name,
                        "error",
                        e.code,
                        e.message
                    ));
                }
            }
        }
        if problems.is_empty() {
            if compact {
                let (steps, sites) = explainer.trace.finish_row();
                return RowOut::Done { number, values, explanations: steps, sites };
            }
            if explaining {
                explanations.end_array();
            }
            RowOut::Done { number, values, explanations: explanations.into_string(), sites: Vec::new() }
        } else {
            RowOut::Failed { number, problems }
        }
    }
}

/// What a worker evaluates rows with, kept from chunk to chunk.
struct Worker<'p> {
    session: Session<'p>,
    explainer: Explainer<'p>,
}

/// What a worker keeps from row to row while explaining.
struct Explainer<'s> {
    places: explain::JsonPlaces,
    trace: explain::TraceWriter<'s>,
}

/// What the writer of compact traces needs: the run's sites, which of them earlier rows
/// defined, and the hash of the rules (so a trace is only expanded with its own rules).
struct Trace<'s> {
    sites: &'s explain::TraceSites,
    rules: String,
    defined: Vec<bool>,
}

/// Writes output rows: CSV with a `row` column then one column per decision, or JSON Lines.
struct Writer<'p> {
    csv: Option<csv::Writer<Box<dyn Write + Send>>>,
    lines: Option<BufWriter<Box<dyn Write + Send>>>,
    program: &'p Program,
    decisions: &'p [DecisionId],
    explain: Explain,
    trace: Option<Trace<'p>>,
    wrote_header: bool,
    /// The current row's cells, one after another, and where each ends (reused row to row).
    text: String,
    ends: Vec<usize>,
    /// The current JSON Lines row (reused row to row).
    json: JsonOut,
}

impl<'p> Writer<'p> {
    fn new(
        sink: Box<dyn Write + Send>,
        format: Format,
        program: &'p Program,
        decisions: &'p [DecisionId],
        explain: Explain,
        trace: Option<Trace<'p>>,
    ) -> Writer<'p> {
        let (csv, lines) = match format {
            Format::Csv => (Some(csv::Writer::from_writer(sink)), None),
            Format::JsonLines => (None, Some(BufWriter::new(sink))),
        };
        Writer {
            csv,
            lines,
            program,
            decisions,
            explain,
            trace,
            wrote_header: false,
            text: String::new(),
            ends: Vec::new(),
            json: JsonOut::new(),
        }
    }

    fn row(&mut self, number: usize, values: &[Value], explanations: &str, sites: &[u32]) -> std::io::Result<()> {
        let program = self.program;
        if let Some(w) = &mut self.csv {
            if !self.wrote_header {
                let mut header = vec!["row".to_string()];
                header.extend(self.decisions.iter().map(|d| program.decision(*d).name.clone()));
                if self.explain != Explain::Off {
                    header.push("explanation".into());
                }
                w.write_record(&header)?;
                self.wrote_header = true;
            }
            use std::fmt::Write as _;
            let (text, ends) = (&mut self.text, &mut self.ends);
            text.clear();
            ends.clear();
            let _ = write!(text, "{number}");
            ends.push(text.len());
            for (d, v) in self.decisions.iter().zip(values) {
                batch::write_cell(program, v, &program.decision(*d).ty, text);
                ends.push(text.len());
            }
            if self.explain != Explain::Off {
                text.push_str(explanations);
                ends.push(text.len());
            }
            let starts = std::iter::once(0).chain(ends.iter().copied());
            w.write_record(
                starts.zip(ends.iter()).map(|(start, &end)| text.as_bytes().get(start..end).unwrap_or_default()),
            )?;
        }
        if let Some(w) = &mut self.lines {
            let out = &mut self.json;
            out.clear();
            out.begin_object();
            out.key("row").count(number);
            out.key("decisions").begin_object();
            for (d, v) in self.decisions.iter().zip(values) {
                let def = program.decision(*d);
                out.key(&def.name);
                value::write_json(program, v, &def.ty, out);
            }
            out.end_object();
            match &mut self.trace {
                Some(trace) => {
                    out.key("trace").begin_object();
                    out.key("schema").str(explain::TRACE_SCHEMA);
                    out.key("rules").str(&trace.rules);
                    // Each site is defined in the first row (in output order) that uses it.
                    let mut new: Vec<u32> = sites
                        .iter()
                        .copied()
                        .filter(|id| !trace.defined.get(*id as usize).copied().unwrap_or(false))
                        .collect();
                    new.sort_unstable();
                    for id in &new {
                        let at = *id as usize;
                        if trace.defined.len() <= at {
                            trace.defined.resize(at + 1, false);
                        }
                        trace.defined[at] = true;
                    }
                    out.key("sites");
                    trace.sites.write_definitions(&new, out);
                    // The steps are already JSON text.
                    out.key("steps").raw(explanations);
                    out.end_object();
                }
                // The explanations are already JSON text.
                None if self.explain == Explain::Full => {
                    out.key("explanations").raw(explanations);
                }
                None => {}
            }
            out.end_object();
            writeln!(w, "{}", out.as_str())?;
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        if let Some(w) = &mut self.csv {
            w.flush()?;
        }
        if let Some(w) = &mut self.lines {
            w.flush()?;
        }
        Ok(())
    }
}
