//! `covenant batch`: a cohort from CSV or JSON Lines, one output row per good input row.
//!
//! A pool of worker threads (scoped, one per core, each with its own session and shared table
//! indexes) does everything: a worker reads the next piece of rows (one worker at a time),
//! evaluates it, formats its output lines and hands them in; a worker that finds the next
//! piece in input order handed in, and no other worker writing, writes it, with those after
//! it already waiting. There is no reading or writing thread to share the cores with. Only a
//! bounded number of pieces is between reading and writing at once, so memory does not grow
//! with the number of rows, and no worker waits for another's evaluation. A bad row
//! (malformed value, evaluation error) is reported with its row number, field and reason and
//! does not stop or disturb the others; the run ends with a summary and exits 1 if any row
//! failed.
//!
//! With rules compiled to Rust linked in (`covenant batch --compiled`, `compiled.rs`), a
//! worker computes each row's decisions that the generated code covers with it first; its
//! session evaluates the decisions it does not cover, and every decision of the rows the
//! generated code hands back or finds failing, so that every row's values and problems are
//! the interpreter's.

use covenant_driver::Compilation;
use covenant_driver::batch::{self, Header, Totals};
use covenant_driver::csv_text::{self, Next, RecordBuffer};
use covenant_driver::inputs::{self, RowStore};
use covenant_eval::native::{self, Linked};
use covenant_eval::{Compiled, EvalError, Indexes, NoTrace, Recorder, Session};
use covenant_ir::hash::FxBuild;
use covenant_ir::json::{self, JsonOut};
use covenant_ir::{Date, DecisionId, Program, Span, Value, value};
use covenant_report::explain;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError, TryLockError};
use std::time::Instant;

/// Rows a worker takes at a time: enough that handing out pieces costs nothing next to
/// evaluating them, few enough that the pieces in flight stay small.
const PIECE_ROWS: usize = 512;
/// With explanations a row's results can be large (thousands of steps), so pieces are small.
const PIECE_ROWS_EXPLAINED: usize = 4;
/// A compact trace is one to a few kilobytes a row: pieces of this size (a megabyte or two)
/// hand work to the workers rarely enough that waking threads costs little.
const PIECE_ROWS_COMPACT: usize = 256;
/// Pieces read but not yet written, for each worker: bounds memory whatever the row count,
/// while leaving every worker a piece to take when it finishes one.
const PIECES_IN_FLIGHT_PER_WORKER: usize = 4;
/// How often the progress line is redrawn.
const PROGRESS_EVERY_MS: u128 = 100;
/// Files are read and written in blocks of this size: a compact trace of a million rows is
/// most of a gigabyte, and writing it 8 KB at a time (the default) made a hundred thousand
/// calls into the system.
const IO_BUFFER_BYTES: usize = 1 << 20;
/// Worker stacks: explanation trees are walked recursively, and evaluation may nest deeply.
const WORKER_STACK_BYTES: usize = 64 * 1024 * 1024;

pub struct Options {
    pub input: PathBuf,
    pub output: Option<PathBuf>,
    pub errors: Option<PathBuf>,
    pub explain: Explain,
    pub as_of: Option<Date>,
    pub threads: Option<usize>,
    /// With `--compiled`: the generated modules built into this program, among which the one
    /// generated from the rules computes rows (not with explanations).
    pub native: Option<&'static [Linked]>,
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
    /// A CSV record: where it is in its piece's text (without its line end).
    Csv(usize, std::ops::Range<usize>),
    Json(usize, String),
}

impl RowIn {
    fn number(&self) -> usize {
        match self {
            RowIn::Csv(number, _) | RowIn::Json(number, _) => *number,
        }
    }
}

/// What writing the results came to, reported at the end.
struct Written {
    rows_out: usize,
    rows_failed: usize,
    totals: Totals,
    error: Option<std::io::Error>,
}

/// A piece's rows evaluated, in order, and the values of its rows done: one per decision
/// asked for, row after row (one allocation for the piece, not one for each row).
struct Evaluated {
    rows: Vec<RowOut>,
    values: Vec<Value>,
    /// The output lines of the rows done, formatted by the worker (empty with compact traces,
    /// which are formatted in output order).
    text: String,
}

/// One evaluated row.
enum RowOut {
    /// Explanations are kept as compact JSON text: a JSON tree in memory is many times larger.
    Done {
        number: usize,
        /// With `--explain`, the JSON array of the explanations, or of the compact trace's
        /// steps (else empty).
        explanations: String,
        /// With `--explain=compact`, the sites and reasons the trace uses (each once).
        sites: Vec<u32>,
        reasons: Vec<u32>,
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
    /// The decision bodies compiled for rows evaluated without explanations.
    compiled: &'p Compiled,
    options: &'p Options,
    /// The sites of the compact traces (unused otherwise).
    sites: &'p explain::TraceSites,
    /// How output rows are written, for the workers to format their rows.
    format: RowFormat<'p>,
    /// The generated module computing rows before the interpreter, checked against the program.
    native: Option<NativePart<'p>>,
    /// Rows whose decisions the generated code computed (with the interpreter's for those
    /// it does not compute).
    computed_natively: AtomicUsize,
}

/// What the generated code computes, and what is left to the interpreter.
struct NativePart<'p> {
    linked: Linked,
    checked: native::Checked<'static, 'p>,
    /// The decisions asked for that it computes, in order.
    computed: Vec<DecisionId>,
    /// The others, in order, for the interpreter.
    left: Vec<DecisionId>,
    /// Per decision asked for, whether it is among `computed`.
    natively: Vec<bool>,
}

impl<'p> NativePart<'p> {
    /// The part of `decisions` that the module among `linked` generated from `program`
    /// computes, if there is one and it computes any of them; otherwise a note says why the
    /// interpreter computes every row. A note names the decisions left to the interpreter.
    fn new(linked: &[Linked], program: &'p Program, decisions: &[DecisionId]) -> Option<NativePart<'p>> {
        let Some((linked, checked)) = linked.iter().find_map(|l| Some((*l, l.module.check(program)?))) else {
            eprintln!(
                "note: these rules are not the ones this program was built with; the interpreter computes every row"
            );
            return None;
        };
        let natively: Vec<bool> = decisions.iter().map(|id| linked.computes(*id)).collect();
        let (computed, left): (Vec<DecisionId>, Vec<DecisionId>) =
            decisions.iter().partition(|id| linked.computes(**id));
        if computed.is_empty() {
            eprintln!("note: no decision asked for is compiled to Rust; the interpreter computes every row");
            return None;
        }
        if !left.is_empty() {
            let names: Vec<&str> = left.iter().map(|id| program.decision(*id).name.as_str()).collect();
            eprintln!(
                "note: the interpreter computes the decisions not compiled to Rust (`covenant emit-rust` says why): `{}`",
                names.join("`, `")
            );
        }
        Some(NativePart { linked, checked, computed, left, natively })
    }

    /// Puts a row's values in the order the decisions were asked for: those of `computed`,
    /// in `values` from `start`, and those of `left`, taken from `interpreted`.
    fn put_in_order(&self, values: &mut Vec<Value>, start: usize, interpreted: &mut Vec<Value>) {
        let places = self.natively.iter().enumerate().filter(|(_, natively)| !**natively).map(|(i, _)| start + i);
        // In order of place, each value goes where every value before it already is.
        for (place, value) in places.zip(interpreted.drain(..)) {
            values.insert(place.min(values.len()), value);
        }
    }
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
    let mut header = None;
    let cohort = match input_format {
        Format::Csv => {
            let mut input = CsvInput::new(file);
            let mut cells = csv_text::Cells::default();
            // An empty file has no columns (not one empty column).
            let names: Vec<String> = match input.next_record().map(|record| record.map(|r| cells.split(r))) {
                Ok(None) => Vec::new(),
                Ok(Some(Ok(()))) => cells.iter().map(|s| s.trim().to_string()).collect(),
                Ok(Some(Err(e))) => {
                    eprintln!(
                        "error: cannot read the header of `{}`: it is not UTF-8 text ({e})",
                        options.input.display()
                    );
                    return ExitCode::from(2);
                }
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
            Cohort::Csv(input)
        }
        Format::JsonLines => Cohort::JsonLines(BufReader::with_capacity(IO_BUFFER_BYTES, file)),
    };

    // The output files are created (truncating last run's, which takes up to a millisecond)
    // on a thread of their own while the indexes are built and the generated module checked.
    let (outputs, indexes, compiled, native) = std::thread::scope(|scope| {
        let outputs = std::thread::Builder::new().spawn_scoped(scope, || create_outputs(options));
        let indexes = Indexes::build(program);
        let compiled = Compiled::new(program);
        let native = match options.native {
            None => None,
            Some(_) if options.explain != Explain::Off => {
                eprintln!("note: `--compiled` is not used with `--explain`: explanations are the interpreter's");
                None
            }
            Some(linked) => NativePart::new(linked, program, decisions),
        };
        let outputs = match outputs {
            Ok(creating) => creating.join().unwrap_or_else(|_| Err("internal error while creating the output".into())),
            Err(_) => create_outputs(options),
        };
        (outputs, indexes, compiled, native)
    });
    let (sink, errors_sink) = match outputs {
        Ok(sinks) => sinks,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let sites = explain::TraceSites::new();
    let trace = (options.explain == Explain::Compact).then(|| Trace {
        sites: &sites,
        rules: Some(covenant_driver::receipt::rules_hash(program)),
        defined: Vec::new(),
        defined_reasons: Vec::new(),
    });
    let format = RowFormat::new(output_format, program, decisions, options.explain);
    let writer = Writer::new(sink, format.clone(), trace);
    let run = Run {
        program,
        compilation,
        decisions,
        header,
        indexes: &indexes,
        compiled: &compiled,
        options,
        sites: &sites,
        format,
        native,
        computed_natively: AtomicUsize::new(0),
    };
    let threads = options.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let piece_rows = match options.explain {
        Explain::Off => PIECE_ROWS,
        Explain::Full => PIECE_ROWS_EXPLAINED,
        Explain::Compact => PIECE_ROWS_COMPACT,
    };
    let progress = std::io::stderr().is_terminal();
    let started = Instant::now();
    // Each worker reads a piece (one at a time), evaluates it and hands its results in; a
    // worker that finds the next piece to write among them, and no other worker writing,
    // writes it and any after it that are waiting. A piece holds a place from when it is read
    // until it is written: with at most `in_flight` places, memory is bounded and a slow piece
    // holds back the reading, not the other workers. With one thread per core and no thread
    // between them, a second core adds a second worker, not a third and fourth thread to share
    // it with.
    let in_flight = threads * PIECES_IN_FLIGHT_PER_WORKER;
    let shared = Shared {
        reading: Mutex::new(Reading {
            cohort,
            piece_rows,
            number: 0,
            sequence: 0,
            error: None,
            finished: false,
            progress: progress.then_some(Progress { started, shown: started, size }),
        }),
        handed: Mutex::new(Handed { waiting: BTreeMap::new(), next: 0 }),
        writing: Mutex::new(Writing {
            writer,
            errors_sink,
            written: Written { rows_out: 0, rows_failed: 0, totals: Totals::new(program, decisions), error: None },
        }),
        places: Places { free: Mutex::new(in_flight), changed: Condvar::new() },
        stopped: AtomicBool::new(false),
        lost: AtomicBool::new(false),
    };
    let workers = std::thread::scope(|scope| {
        let (run, shared) = (&run, &shared);
        let mut workers = 0;
        for _ in 0..threads {
            // A worker that cannot be started leaves its pieces to the others.
            let work = move || {
                // A worker lost outside evaluating rows (which fails only the rows) may hold a
                // piece that is then never written: the others stop rather than wait for it.
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.work(shared))).is_err() {
                    shared.lost.store(true, Ordering::Relaxed);
                    shared.stop();
                }
            };
            let started = std::thread::Builder::new().stack_size(WORKER_STACK_BYTES).spawn_scoped(scope, work).is_ok();
            workers += usize::from(started);
        }
        workers
    });
    let (reading, writing) = (shared.reading.into_inner(), shared.writing.into_inner());
    let (rows_in, mut read_error) = match reading {
        Ok(reading) => (reading.number, reading.error),
        Err(poisoned) => {
            let reading = poisoned.into_inner();
            (reading.number, Some("internal error while reading the cohort".to_string()))
        }
    };
    if workers == 0 {
        read_error = Some("cannot start a worker thread; no row was run".into());
    }
    let handed = shared.handed.into_inner().unwrap_or_else(PoisonError::into_inner);
    let written = writing.map(|mut writing| {
        // Only a piece lost with its worker leaves a gap; what follows it is still written.
        for (_, results) in handed.waiting {
            writing.write(results, &shared.stopped);
        }
        let Writing { mut writer, mut errors_sink, mut written, .. } = writing;
        if written.error.is_none()
            && let Err(e) = writer.finish()
        {
            written.error = Some(e);
        }
        let _ = errors_sink.flush();
        written
    });
    let Ok(Written { rows_out, rows_failed, totals, error }) = written else {
        eprintln!("error: internal error while writing the output");
        return ExitCode::from(70);
    };
    if shared.lost.load(Ordering::Relaxed) {
        eprintln!("error: internal error in a worker thread; some rows were not run");
        return ExitCode::from(70);
    }
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
    if let Some(part) = &run.native {
        eprintln!(
            "compiled to Rust: {} rows computed natively ({} of {} decisions); the interpreter computed the others",
            run.computed_natively.load(Ordering::Relaxed),
            part.computed.len(),
            decisions.len()
        );
    }
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

/// Where output goes: a file, standard output or standard error.
type Sink = Box<dyn Write + Send>;

/// Where the results go and where the failed rows' errors go: the files named (created
/// afresh), else standard output and standard error.
fn create_outputs(options: &Options) -> Result<(Sink, Sink), String> {
    let create = |path: &Path| File::create(path).map_err(|e| format!("cannot write `{}`: {e}", path.display()));
    let sink: Sink = match &options.output {
        None => Box::new(std::io::stdout()),
        Some(path) => Box::new(create(path)?),
    };
    let errors_sink: Sink = match &options.errors {
        None => Box::new(std::io::stderr()),
        Some(path) => Box::new(BufWriter::new(create(path)?)),
    };
    Ok((sink, errors_sink))
}

/// The rows of the cohort being read.
enum Cohort {
    Csv(CsvInput),
    JsonLines(BufReader<File>),
}

impl Cohort {
    /// The next `wanted` rows (fewer at the end of the file), numbered on from `number`, read
    /// into `piece` (whose buffers are reused). On an error reading the file, `piece` holds the
    /// rows read before it.
    fn read_piece(&mut self, wanted: usize, number: &mut usize, piece: &mut Rows) -> std::io::Result<()> {
        match self {
            Cohort::Csv(input) => {
                let Rows { rows, text } = piece;
                rows.clear();
                text.clear();
                while rows.len() < wanted {
                    let Some(record) = input.next_record()? else { break };
                    *number += 1;
                    let start = text.len();
                    text.extend_from_slice(record);
                    rows.push(RowIn::Csv(*number, start..text.len()));
                }
                Ok(())
            }
            Cohort::JsonLines(reader) => {
                let mut spare = std::mem::replace(&mut piece.rows, Vec::with_capacity(wanted));
                while piece.rows.len() < wanted {
                    let mut line = match spare.pop() {
                        Some(RowIn::Json(_, mut line)) => {
                            line.clear();
                            line
                        }
                        _ => String::new(),
                    };
                    if reader.read_line(&mut line)? == 0 {
                        break;
                    }
                    // As `BufRead::lines` does: without the line's `\n` or `\r\n`.
                    if line.ends_with('\n') {
                        line.pop();
                        if line.ends_with('\r') {
                            line.pop();
                        }
                    }
                    // A blank line is not a row.
                    if !line.trim().is_empty() {
                        *number += 1;
                        piece.rows.push(RowIn::Json(*number, line));
                    }
                }
                Ok(())
            }
        }
    }

    /// How far into the file reading is, in bytes, when that is known.
    fn position(&self) -> Option<u64> {
        match self {
            Cohort::Csv(input) => Some(input.position()),
            Cohort::JsonLines(_) => None,
        }
    }
}

/// A CSV file read in large blocks, record by record. Reading only finds where each record
/// ends, which needs nothing but its quotes and line ends; each worker splits its own
/// records into cells (see `covenant_driver::csv_text`).
struct CsvInput {
    file: File,
    records: RecordBuffer,
    /// The most the next read takes: small at first, so that the header is read (before any
    /// worker starts) without filling the whole block, and doubled with each read.
    next_read: usize,
}

/// The first read of a CSV file: enough for a header and the first piece of most cohorts.
const FIRST_READ_BYTES: usize = 64 << 10;

impl CsvInput {
    fn new(file: File) -> CsvInput {
        CsvInput { file, records: RecordBuffer::new(IO_BUFFER_BYTES), next_read: FIRST_READ_BYTES }
    }

    /// The next record, without its line end (`None` at the end of the file); the first is
    /// the header, without the byte order mark the file may start with.
    fn next_record(&mut self) -> std::io::Result<Option<&[u8]>> {
        loop {
            match self.records.next_record() {
                Next::Record(range) => return Ok(Some(self.records.record(range))),
                Next::End => return Ok(None),
                Next::More => {
                    let read = loop {
                        let space = self.records.space();
                        let wanted = space.len().min(self.next_read);
                        match self.file.read(&mut space[..wanted]) {
                            Ok(read) => break read,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(e),
                        }
                    };
                    self.records.add(read);
                    self.next_read = self.next_read.saturating_mul(2);
                }
            }
        }
    }

    /// Bytes of the file given out so far.
    fn position(&self) -> u64 {
        self.records.position()
    }
}

/// What the workers share: the cohort, read a piece at a time, and the output, written in
/// input order.
struct Shared<'p> {
    reading: Mutex<Reading>,
    handed: Mutex<Handed>,
    writing: Mutex<Writing<'p>>,
    places: Places,
    /// Set when the output cannot be written (a closed pipe, a full disk): reading stops.
    stopped: AtomicBool,
    /// Set when a worker failed outside evaluating rows (an internal error).
    lost: AtomicBool,
}

/// The cohort and how far it has been read.
struct Reading {
    cohort: Cohort,
    piece_rows: usize,
    /// Rows read so far (the last row's number: blank lines are not rows).
    number: usize,
    /// Pieces read so far (the next piece's sequence number).
    sequence: usize,
    error: Option<String>,
    /// The cohort is read to its end, cannot be read further, or the output is stopped.
    finished: bool,
    /// The progress line, when stderr is a terminal.
    progress: Option<Progress>,
}

struct Progress {
    started: Instant,
    shown: Instant,
    /// The size of the cohort's file in bytes.
    size: u64,
}

impl Shared<'_> {
    /// Puts a piece's results among those handed in, and writes every piece now next in
    /// order (freeing their places) unless another worker is writing; `false` if the output
    /// can no longer be written to.
    fn hand_in(&self, sequence: usize, results: Evaluated) -> bool {
        let handed = || self.handed.lock().unwrap_or_else(PoisonError::into_inner);
        handed().waiting.insert(sequence, results);
        // One worker writes at a time; one that finds another writing goes back to its rows.
        // The writer looks again once it has let go, so that results handed in while it
        // wrote, by a worker that found it writing, are not left waiting.
        loop {
            let mut writing = match self.writing.try_lock() {
                Ok(writing) => writing,
                Err(TryLockError::WouldBlock) => break,
                Err(TryLockError::Poisoned(_)) => {
                    // A worker failed while writing: nothing more can be written.
                    self.stop();
                    return false;
                }
            };
            while let Some(results) = handed().take_next() {
                writing.write(results, &self.stopped);
                self.places.give(1);
            }
            drop(writing);
            if !handed().next_is_waiting() {
                break;
            }
        }
        !self.stopped.load(Ordering::Relaxed)
    }

    /// Stops reading, and wakes the workers waiting for a place so that they see it.
    fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.places.give(0);
    }
}

impl Reading {
    /// Reads the next piece into `rows` and gives its sequence number, or `None` when there is
    /// no row left to read.
    fn next_piece(&mut self, rows: &mut Rows, stopped: &AtomicBool) -> Option<usize> {
        if self.finished || stopped.load(Ordering::Relaxed) {
            self.finished = true;
            return None;
        }
        if let Err(e) = self.cohort.read_piece(self.piece_rows, &mut self.number, rows) {
            self.error = Some(format!("row {}: the file cannot be read further: {e}", self.number + 1));
            self.finished = true;
        }
        if rows.rows.is_empty() {
            self.finished = true;
            return None;
        }
        let sequence = self.sequence;
        self.sequence += 1;
        if let Some(progress) = &mut self.progress
            && progress.shown.elapsed().as_millis() >= PROGRESS_EVERY_MS
        {
            progress.shown = Instant::now();
            show_progress(self.number, progress.started, self.cohort.position(), progress.size);
        }
        Some(sequence)
    }
}

/// The results handed in and not yet written.
struct Handed {
    /// Results by sequence number.
    waiting: BTreeMap<usize, Evaluated>,
    /// The sequence number of the next piece to write.
    next: usize,
}

impl Handed {
    /// The results of the next piece to write, if they are handed in.
    fn take_next(&mut self) -> Option<Evaluated> {
        let results = self.waiting.remove(&self.next)?;
        self.next += 1;
        Some(results)
    }

    fn next_is_waiting(&self) -> bool {
        self.waiting.contains_key(&self.next)
    }
}

/// The output: one worker writes to it at a time.
struct Writing<'p> {
    writer: Writer<'p>,
    errors_sink: Sink,
    written: Written,
}

impl Writing<'_> {
    /// Counts and writes one piece's results. After a write error, results are still taken
    /// (so that no piece waits for a place forever) but neither counted nor written, and
    /// reading stops.
    fn write(&mut self, results: Evaluated, stopped: &AtomicBool) {
        if self.written.error.is_some() {
            return;
        }
        if let Err(e) = self.write_rows(results) {
            self.written.error = Some(e);
            stopped.store(true, Ordering::Relaxed);
        }
    }

    fn write_rows(&mut self, results: Evaluated) -> std::io::Result<()> {
        let Writing { writer, errors_sink, written } = self;
        let decisions = writer.format.decisions;
        writer.text(&results.text)?;
        // Each row done has one value for each decision, after those of the rows before it.
        let mut next = 0;
        for result in results.rows {
            match result {
                RowOut::Done { number, explanations, sites, reasons } => {
                    written.rows_out += 1;
                    let values = results.values.get(next..next + decisions.len()).unwrap_or_default();
                    next += decisions.len();
                    for (id, v) in decisions.iter().zip(values) {
                        written.totals.add(*id, v);
                    }
                    if writer.trace.is_some() {
                        writer.traced_row(number, values, &explanations, &sites, &reasons)?;
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
        Ok(())
    }
}

/// Places for pieces between being read and being written.
struct Places {
    free: Mutex<usize>,
    changed: Condvar,
}

impl Places {
    /// Takes a place, waiting for one to be free; `false` once the output is stopped.
    fn take(&self, stopped: &AtomicBool) -> bool {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if stopped.load(Ordering::Relaxed) {
                return false;
            }
            if *free > 0 {
                *free -= 1;
                return true;
            }
            free = self.changed.wait(free).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn give(&self, count: usize) {
        *self.free.lock().unwrap_or_else(PoisonError::into_inner) += count;
        self.changed.notify_all();
    }
}

/// A piece's rows: JSON lines each in its own string, CSV records in one text.
#[derive(Default)]
struct Rows {
    rows: Vec<RowIn>,
    text: Vec<u8>,
}

/// Rows read, rows a second, and (for CSV, whose size is known) how far and how long is left.
fn show_progress(rows_in: usize, started: Instant, position: Option<u64>, size: u64) {
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let rate = rows_in as f64 / elapsed;
    let (done, left) = match position {
        Some(at) if at > 0 && size > 0 => {
            let fraction = at as f64 / size as f64;
            (
                format!(" ({:.0}%)", fraction * 100.0),
                format!(", about {:.0}s left", elapsed * (1.0 - fraction) / fraction),
            )
        }
        _ => (String::new(), String::new()),
    };
    eprint!("\r{rows_in} rows{done}, {rate:.0} rows/s{left}   ");
}

impl<'p> Run<'p> {
    /// A worker thread: takes pieces until there are none, keeping one session (and trace
    /// writer) for the whole run, and hands each piece's results in to be written in order.
    fn work(&self, shared: &Shared<'_>) {
        let mut worker = self.new_worker();
        // The worker's rows, read into again for each piece: no row is allocated in one
        // thread and freed in another.
        let mut rows = Rows::default();
        while shared.places.take(&shared.stopped) {
            let sequence = match shared.reading.lock() {
                Ok(mut reading) => reading.next_piece(&mut rows, &shared.stopped),
                Err(_) => None,
            };
            let Some(sequence) = sequence else {
                shared.places.give(1);
                return;
            };
            let evaluated =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.evaluate_rows(&mut worker, &rows)));
            let results = evaluated.unwrap_or_else(|_| {
                // The session may be half-way through a row: the next piece gets a fresh one.
                worker = self.new_worker();
                let rows = rows
                    .rows
                    .iter()
                    .map(|row| RowOut::Failed {
                        number: row.number(),
                        problems: vec!["internal error in a worker thread".into()],
                    })
                    .collect();
                Evaluated { rows, values: Vec::new(), text: String::new() }
            });
            if !shared.hand_in(sequence, results) {
                return;
            }
        }
    }

    /// The line reporting that decision `id` failed with `e`.
    fn problem(&self, texts: &mut ProblemTexts, id: DecisionId, e: &EvalError) -> String {
        texts.text(self.program.decision(id).name.as_str(), (id, e), || self.compilation.sources.location(e.span))
    }

    /// A new session with the run's indexes and date, and a new explanation writer.
    fn new_worker(&self) -> Worker<'p> {
        let mut session =
            Session::new(self.program, Vec::new()).with_indexes(self.indexes).with_compiled(self.compiled);
        if let Some(date) = self.options.as_of {
            session = session.with_as_of(date);
        }
        let explainer = Explainer {
            places: explain::JsonPlaces::new(),
            // A worker's rows are written in the order it evaluates them (pieces are taken
            // in order), so each defines only the sites and reasons the worker had not used.
            trace: explain::TraceWriter::new(self.program, self.sites).defining_once(),
        };
        let native = self.native.as_ref().and_then(|part| {
            native::Base::new(&part.checked, self.indexes, native::Options { as_of: self.options.as_of })
        });
        Worker {
            session,
            native,
            interpreted: Vec::new(),
            native_rows: 0,
            explainer,
            format: self.format.clone(),
            problems: ProblemTexts::default(),
            cells: csv_text::Cells::keep_doubled(&self.header.as_ref().map(Header::json_columns).unwrap_or_default()),
            store: RowStore::new(),
        }
    }

    /// Evaluates rows in order in one session, reset for each row (so its buffers are reused).
    fn evaluate_rows(&self, worker: &mut Worker<'_>, rows: &Rows) -> Evaluated {
        let mut values = Vec::with_capacity(rows.rows.len() * self.decisions.len());
        let rows = rows.rows.iter().map(|row| self.evaluate(row, &rows.text, worker, &mut values)).collect();
        self.computed_natively.fetch_add(std::mem::take(&mut worker.native_rows), Ordering::Relaxed);
        let mut evaluated = Evaluated { rows, values, text: String::new() };
        if self.options.explain != Explain::Compact {
            let mut text = String::new();
            worker.format.rows(&evaluated, &mut text);
            evaluated.text = text;
        }
        evaluated
    }

    /// Evaluates one row; a row done adds its values to `values`.
    fn evaluate(&self, row: &RowIn, text: &[u8], worker: &mut Worker<'_>, values: &mut Vec<Value>) -> RowOut {
        let Worker { session, native, explainer, problems: texts, cells, store, interpreted, native_rows, .. } = worker;
        let (number, inputs) = match row {
            RowIn::Csv(number, record) => {
                let Some(header) = &self.header else {
                    return RowOut::Failed { number: *number, problems: vec!["no header".into()] };
                };
                if let Err(e) = cells.split(text.get(record.clone()).unwrap_or_default()) {
                    return RowOut::Failed {
                        number: *number,
                        problems: vec![format!("the row is not UTF-8 text: {e}")],
                    };
                }
                (*number, batch::row_inputs(self.program, header, cells, store))
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
        // The generated code appends the values of the decisions it computes, or none when it
        // hands the row back or finds it failing: the interpreter then evaluates the row whole.
        if let (Some(part), Some(base)) = (&self.native, native.as_mut()) {
            let start = values.len();
            if (part.linked.decide)(base, &inputs, &part.computed, values) == native::Decided::Values {
                *native_rows += 1;
                let mut problems = Vec::new();
                let mut inputs = inputs;
                if !part.left.is_empty() {
                    session.reset(inputs);
                    interpreted.clear();
                    for &id in &part.left {
                        match session.decision(id, &mut NoTrace) {
                            Ok(v) => interpreted.push(v),
                            Err(e) => problems.push(self.problem(texts, id, &e)),
                        }
                    }
                    inputs = session.take_inputs();
                }
                if let RowIn::Csv(..) = row {
                    store.give_back(inputs);
                }
                if !problems.is_empty() {
                    values.truncate(start);
                    return RowOut::Failed { number, problems };
                }
                part.put_in_order(values, start, interpreted);
                return RowOut::Done { number, explanations: String::new(), sites: Vec::new(), reasons: Vec::new() };
            }
        }
        session.reset(inputs);
        let base = values.len();
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
                Err(e) => problems.push(self.problem(texts, id, &e)),
            }
        }
        if let RowIn::Csv(..) = row {
            store.give_back(session.take_inputs());
        }
        if problems.is_empty() {
            if compact {
                let explain::TraceRow { steps, sites, reasons } = explainer.trace.finish_row();
                return RowOut::Done { number, explanations: steps, sites, reasons };
            }
            if explaining {
                explanations.end_array();
            }
            let explanations = explanations.into_string();
            RowOut::Done { number, explanations, sites: Vec::new(), reasons: Vec::new() }
        } else {
            values.truncate(base);
            RowOut::Failed { number, problems }
        }
    }
}

/// What a worker evaluates rows with, kept from chunk to chunk.
struct Worker<'p> {
    session: Session<'p>,
    /// The generated code's state, with `--compiled`.
    native: Option<native::Base<'p>>,
    /// The values of a row's decisions that the generated code does not compute.
    interpreted: Vec<Value>,
    /// Rows of the piece being evaluated whose decisions the generated code computed.
    native_rows: usize,
    explainer: Explainer<'p>,
    format: RowFormat<'p>,
    problems: ProblemTexts,
    /// The cells of the CSV row being read.
    cells: csv_text::Cells,
    /// The storage the last rows' inputs leave for the next.
    store: RowStore,
}

/// The text of each failure already reported, by decision, error code and place: rows of a
/// cohort often fail the same way (a date outside every version), and the line written for
/// them names the file, line and column.
#[derive(Default)]
struct ProblemTexts {
    /// Messages and texts by decision, code and place.
    known: HashMap<FailurePlace, Vec<(String, String)>, FxBuild>,
    count: usize,
}

/// A decision, an error code and where the error is.
type FailurePlace = (DecisionId, &'static str, Span);

impl ProblemTexts {
    /// The most failures a worker keeps the text of.
    const LIMIT: usize = 256;

    /// `decision: error[CODE]: message (file:line:column)`.
    fn text(&mut self, decision: &str, (id, e): (DecisionId, &EvalError), location: impl FnOnce() -> String) -> String {
        let known = self.known.entry((id, e.code, e.span)).or_default();
        if let Some((_, text)) = known.iter().find(|(message, _)| *message == e.message) {
            return text.clone();
        }
        let text = format!("{decision}: error[{}]: {} ({})", e.code, e.message, location());
        if self.count < Self::LIMIT {
            self.count += 1;
            known.push((e.message.clone(), text.clone()));
        }
        text
    }
}

/// What a worker keeps from row to row while explaining.
struct Explainer<'s> {
    places: explain::JsonPlaces,
    trace: explain::TraceWriter<'s>,
}

/// What the writer of compact traces needs: the run's sites and reasons, which of them
/// earlier rows defined, and the hash of the rules (so a trace is only expanded with its own
/// rules), given with the schema in the first row written.
struct Trace<'s> {
    sites: &'s explain::TraceSites,
    /// The rules hash, until the first row written has given it.
    rules: Option<String>,
    defined: Vec<bool>,
    defined_reasons: Vec<bool>,
}

/// The numbers among `used` not yet `defined`, in ascending order, now marked defined: each
/// site and reason is defined in the first row (in output order) that uses it.
fn newly_defined(used: &[u32], defined: &mut Vec<bool>) -> Vec<u32> {
    let mut new: Vec<u32> =
        used.iter().copied().filter(|id| !defined.get(*id as usize).copied().unwrap_or(false)).collect();
    new.sort_unstable();
    for id in &new {
        let at = *id as usize;
        if defined.len() <= at {
            defined.resize(at + 1, false);
        }
        defined[at] = true;
    }
    new
}

/// Writes output rows: CSV with a `row` column then one column per decision, or JSON Lines.
/// Rows without a compact trace come formatted by the workers ([`Evaluated::text`]); rows
/// with one are formatted here, in output order, since each defines only the sites and
/// reasons no earlier row defined.
struct Writer<'p> {
    out: BufWriter<Sink>,
    format: RowFormat<'p>,
    trace: Option<Trace<'p>>,
    wrote_header: bool,
    /// The current row (reused row to row).
    line: String,
}

impl<'p> Writer<'p> {
    fn new(sink: Sink, format: RowFormat<'p>, trace: Option<Trace<'p>>) -> Writer<'p> {
        Writer {
            out: BufWriter::with_capacity(IO_BUFFER_BYTES, sink),
            format,
            trace,
            wrote_header: false,
            line: String::new(),
        }
    }

    /// The CSV header, before the first row written.
    fn header(&mut self) -> std::io::Result<()> {
        if !self.wrote_header {
            self.wrote_header = true;
            self.line.clear();
            self.format.header(&mut self.line);
            self.out.write_all(self.line.as_bytes())?;
        }
        Ok(())
    }

    /// Rows formatted by a worker.
    fn text(&mut self, text: &str) -> std::io::Result<()> {
        if !text.is_empty() {
            self.header()?;
            self.out.write_all(text.as_bytes())?;
        }
        Ok(())
    }

    /// A row with its compact trace.
    fn traced_row(
        &mut self,
        number: usize,
        values: &[Value],
        steps: &str,
        sites: &[u32],
        reasons: &[u32],
    ) -> std::io::Result<()> {
        self.header()?;
        self.line.clear();
        let trace = self.trace.as_mut().map(|trace| (trace, sites, reasons));
        self.format.row(number, values, steps, trace, &mut self.line);
        self.out.write_all(self.line.as_bytes())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Formats output rows; each worker has one, and so does the writer (for compact traces).
#[derive(Clone)]
struct RowFormat<'p> {
    csv: bool,
    program: &'p Program,
    decisions: &'p [DecisionId],
    explain: Explain,
    /// The cell being written (reused cell to cell).
    cell: String,
    /// The current JSON Lines row (reused row to row).
    json: JsonOut,
}

impl<'p> RowFormat<'p> {
    fn new(format: Format, program: &'p Program, decisions: &'p [DecisionId], explain: Explain) -> RowFormat<'p> {
        RowFormat { csv: format == Format::Csv, program, decisions, explain, cell: String::new(), json: JsonOut::new() }
    }

    /// The CSV header line (nothing for JSON Lines).
    fn header(&self, out: &mut String) {
        if !self.csv {
            return;
        }
        out.push_str("row");
        for d in self.decisions {
            out.push(',');
            csv_text::push_field(out, &self.program.decision(*d).name);
        }
        if self.explain != Explain::Off {
            out.push_str(",explanation");
        }
        out.push('\n');
    }

    /// The rows done of a piece without compact traces, one line each, added to `out`.
    fn rows(&mut self, results: &Evaluated, out: &mut String) {
        let mut next = 0;
        for result in &results.rows {
            if let RowOut::Done { number, explanations, .. } = result {
                let values = results.values.get(next..next + self.decisions.len()).unwrap_or_default();
                next += self.decisions.len();
                self.row(*number, values, explanations, None, out);
            }
        }
    }

    /// One row's line, added to `out`: with `trace`, the trace whose steps are `explanations`
    /// and which uses the sites and reasons given.
    fn row(
        &mut self,
        number: usize,
        values: &[Value],
        explanations: &str,
        trace: Option<(&mut Trace<'_>, &[u32], &[u32])>,
        out: &mut String,
    ) {
        let program = self.program;
        if self.csv {
            json::push_integer(out, number as i128);
            for (d, v) in self.decisions.iter().zip(values) {
                out.push(',');
                let cell = &mut self.cell;
                cell.clear();
                batch::write_cell(program, v, &program.decision(*d).ty, cell);
                csv_text::push_field(out, cell);
            }
            if self.explain != Explain::Off {
                out.push(',');
                csv_text::push_field(out, explanations);
            }
            out.push('\n');
        } else {
            let json = &mut self.json;
            json.clear();
            json.begin_object();
            json.key("row").count(number);
            json.key("decisions").begin_object();
            for (d, v) in self.decisions.iter().zip(values) {
                let def = program.decision(*d);
                json.key(&def.name);
                value::write_json(program, v, &def.ty, json);
            }
            json.end_object();
            match trace {
                Some((trace, sites, reasons)) => {
                    let new_sites = newly_defined(sites, &mut trace.defined);
                    let new_reasons = newly_defined(reasons, &mut trace.defined_reasons);
                    json.key("trace");
                    // The steps are already JSON text.
                    trace.sites.write_trace(
                        trace.rules.take().as_deref(),
                        (&new_sites, &new_reasons),
                        explanations,
                        json,
                    );
                }
                // The explanations are already JSON text.
                None if self.explain == Explain::Full => {
                    json.key("explanations").raw(explanations);
                }
                None => {}
            }
            json.end_object();
            out.push_str(json.as_str());
            out.push('\n');
        }
    }
}
