//! `covenant-bench-engine`: Covenant's compute-only figure, and where `covenant batch`
//! spends its time.
//!
//! ```text
//! covenant-bench-engine FILE.cov --input COHORT.csv|CASES.jsonl (--decision NAME... | --covered)
//!                       [--output OUT.csv] [--errors ERR.txt] [--repeat N] [--explain-rows N]
//!                       [--native] [--reasons] [--details]
//! ```
//!
//! A `.jsonl` input holds one case a line, read as `covenant eval` reads a case; `--covered`
//! asks for every decision the generated module made from FILE computes.
//!
//! It uses the same library calls as `covenant batch` (`compiler/cli/src/batch.rs`): the
//! header is checked with `covenant_driver::batch::Header`, each row becomes inputs with
//! `batch::row_inputs`, each row is evaluated in its own `Session` sharing one set of table
//! `Indexes` (one session per thread, reset for each row), with the no-op tracer, and results
//! become cells with `batch::cell`. Each phase
//! is timed on its own, over rows already in memory:
//!
//! - `csv`: reading the CSV records;
//! - `inputs`: turning records into validated input values;
//! - `eval1` / `eval2`: evaluating every row on one thread / split over two threads (best
//!   of `--repeat`, 5 by default): the compute-only figure. The values are appended to one
//!   vector, as the hand-written program collects its results, with no allocation a row;
//! - `cells`: writing every result as output cell text;
//! - `explain`: evaluating with a recorder and building and printing each row's explanation
//!   JSON, on the first `--explain-rows` rows (0 by default: skipped).
//!
//! With `--native`, `eval1` and `eval2` compute each row with the module generated from this
//! program by `covenant emit-rust` (`tests/emitted`), from the row's inputs read into the
//! module's structs before the passes (`decode`, counted in `inputs`, as the hand-written
//! program's reading its rows into its structs is not in its compute-only figure): the
//! rows it hands back are evaluated by
//! the interpreter, and a row it finds failing (a date with no version) gets the
//! interpreter's own error from `native::Base::error_brief`. A line `native: H of N evaluations
//! handed back to the interpreter, F failed with the interpreter's error` counts them.
//!
//! The last line on standard error is `engine: rows=N csv=S inputs=S eval1=S eval2=S
//! cells=S explain_rows=N explain=S` (seconds). With `--reasons`, a "no value" cell is
//! written `(none: REASON)` rather than empty, so that outputs compare the reasons too; with
//! `--details`, a failing row's error is written with its place, labels and notes (the
//! native path builds the whole error with `native::Base::error` then).
//! With `--output`, the results are written in
//! the `covenant batch` layout (not timed), to check that this harness computes what
//! `covenant batch` does.

use covenant_driver::batch::{self, Header};
use covenant_driver::inputs::RowStore;
use covenant_driver::{Compilation, Loader};
use covenant_eval::{Compiled, Indexes, NoTrace, Recorder, Session, native};
use covenant_ir::{DecisionId, Value};
use covenant_report::explain;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

/// The two benchmark models compiled to Rust by `covenant emit-rust`, and the rules the
/// tests use to check the generator against the interpreter (`tests/native/conformance.cov`):
/// modules of `covenant-emitted` (`tests/emitted`), which the tests keep current.
use covenant_emitted::{
    alliance_contract, cluster_tariff, conformance, core_and_flexi, cquin, housing_support_tariff as housing,
    payment_on_results, personal_health_budget, resource_allocation, suffolk_personal_budget as suffolk,
};

/// The timed passes, computing rows with one generated module's rules (or none).
type Timed = fn(&Context<'_>, &[Row], usize) -> Timings;
/// A generated module: its description, which decisions it computes, and its passes.
const MODULES: [(&native::Module, &[bool], Timed); 10] = [
    (&conformance::MODULE, &conformance::COVERED, timed::<conformance::Rules>),
    (&suffolk::MODULE, &suffolk::COVERED, timed::<suffolk::Rules>),
    (&housing::MODULE, &housing::COVERED, timed::<housing::Rules>),
    (&alliance_contract::MODULE, &alliance_contract::COVERED, timed::<alliance_contract::Rules>),
    (&cluster_tariff::MODULE, &cluster_tariff::COVERED, timed::<cluster_tariff::Rules>),
    (&core_and_flexi::MODULE, &core_and_flexi::COVERED, timed::<core_and_flexi::Rules>),
    (&cquin::MODULE, &cquin::COVERED, timed::<cquin::Rules>),
    (&payment_on_results::MODULE, &payment_on_results::COVERED, timed::<payment_on_results::Rules>),
    (&personal_health_budget::MODULE, &personal_health_budget::COVERED, timed::<personal_health_budget::Rules>),
    (&resource_allocation::MODULE, &resource_allocation::COVERED, timed::<resource_allocation::Rules>),
];

/// A row's inputs, or its problems.
type Row = Result<Vec<Value>, String>;

/// What the timed passes share.
struct Context<'c> {
    program: &'c covenant_ir::Program,
    indexes: &'c Indexes,
    compiled: &'c Compiled,
    decisions: &'c [DecisionId],
    /// The generated module computing the rows, checked against the program.
    module: Option<native::Checked<'static, 'c>>,
    details: bool,
}

/// What the timed passes found: the results of the last pass, the best times, and how
/// many rows the generated module handed back or failed.
struct Timings {
    results: Pass,
    eval1: f64,
    eval2: f64,
    /// Reading the rows into the module's input structs (not timed with the passes, as the
    /// hand-written program's reading its rows into its structs is not).
    decode_seconds: f64,
    handed_back: u64,
    failed_natively: u64,
}

/// No generated module: every row is the interpreter's.
struct Interpreted;

impl native::Rules for Interpreted {
    type Inputs<'a> = ();
    fn decode(_: &[Value]) {}
    fn decide(_: &mut native::Base<'_>, _: &(), _: &[DecisionId], _: &mut Vec<Value>) -> native::Decided {
        native::Decided::HandedBack
    }
}

/// The compute-only passes: every row on one thread, then split over two, `repeat` times
/// each; rows are read into the module's input structs first.
fn timed<M: native::Rules>(context: &Context<'_>, inputs: &[Row], repeat: usize) -> Timings {
    let Context { program, indexes, compiled, decisions, module, details } = *context;
    let t = Instant::now();
    let decoded: Vec<Option<M::Inputs<'_>>> = match module {
        Some(_) => inputs.iter().map(|row| row.as_ref().ok().map(|values| M::decode(values))).collect(),
        None => Vec::new(),
    };
    let decode_seconds = t.elapsed().as_secs_f64();
    let handed_back = std::sync::atomic::AtomicU64::new(0);
    let failed_natively = std::sync::atomic::AtomicU64::new(0);
    // One session per thread, reset for each row, as `covenant batch` does.
    let evaluate = |rows: &[Row], decoded: &[Option<M::Inputs<'_>>]| -> Pass {
        let mut session = Session::new(program, Vec::new()).with_indexes(indexes).with_compiled(compiled);
        let mut base = module.and_then(|checked| native::Base::new(&checked, indexes, native::Options::default()));
        let mut pass =
            Pass { values: Vec::with_capacity(rows.len() * decisions.len()), rows: Vec::with_capacity(rows.len()) };
        for (k, row) in rows.iter().enumerate() {
            let inputs = match row {
                Ok(inputs) => inputs,
                Err(problems) => {
                    pass.rows.push(Err(problems.clone()));
                    continue;
                }
            };
            // `decide` appends every value, or none when the row fails or is handed back.
            if let (Some(base), Some(Some(typed))) = (base.as_mut(), decoded.get(k)) {
                match M::decide(base, typed, decisions, &mut pass.values) {
                    native::Decided::Values => {
                        pass.rows.push(Ok(()));
                        continue;
                    }
                    native::Decided::Failed(id) => {
                        let text = match details {
                            true => base.error().map(|e| problem(program, id, e.code, &e.message) + &detail(&e)),
                            false => base.error_brief().map(|e| problem(program, id, e.code, e.message)),
                        };
                        if let Some(text) = text {
                            pass.rows.push(Err(text));
                            continue;
                        }
                    }
                    native::Decided::HandedBack => {}
                }
            }
            session.reset(inputs.clone());
            let start = pass.values.len();
            let mut outcome = Ok(());
            for &id in decisions {
                match session.decision(id, &mut NoTrace) {
                    Ok(value) => pass.values.push(value),
                    Err(e) => {
                        let text = problem(program, id, e.code, &e.message);
                        outcome = Err(if details { text + &detail(&e) } else { text });
                        pass.values.truncate(start);
                        break;
                    }
                }
            }
            pass.rows.push(outcome);
        }
        if let Some(base) = base {
            handed_back.fetch_add(base.handed_back, std::sync::atomic::Ordering::Relaxed);
            failed_natively.fetch_add(base.failed, std::sync::atomic::Ordering::Relaxed);
        }
        pass
    };

    // eval1 / eval2: the compute-only figures.
    let mut results = Pass::default();
    let mut eval1 = f64::INFINITY;
    for _ in 0..repeat {
        drop(std::mem::take(&mut results));
        let t = Instant::now();
        results = evaluate(inputs, &decoded);
        eval1 = eval1.min(t.elapsed().as_secs_f64());
    }
    let mut eval2 = f64::INFINITY;
    for _ in 0..repeat {
        let t = Instant::now();
        let half = inputs.len().div_ceil(2).max(1);
        let parts: Vec<Pass> = std::thread::scope(|scope| {
            let handles: Vec<_> = inputs
                .chunks(half)
                .enumerate()
                .map(|(n, part)| {
                    let decoded = decoded.get(n * half..).unwrap_or_default();
                    let evaluate = &evaluate;
                    scope.spawn(move || evaluate(part, decoded))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
        });
        eval2 = eval2.min(t.elapsed().as_secs_f64());
        drop(parts);
    }
    Timings {
        results,
        eval1,
        eval2,
        decode_seconds,
        handed_back: handed_back.load(std::sync::atomic::Ordering::Relaxed),
        failed_natively: failed_natively.load(std::sync::atomic::Ordering::Relaxed),
    }
}

struct FileSystem;

impl Loader for FileSystem {
    fn load(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

/// One row's results: the decisions' values, or the row's problems.
type Results = Result<Vec<Value>, String>;

/// What a timed pass computes: the decisions' values of the rows that succeeded, one row
/// after another in one vector (as the hand-written program keeps its results, with no
/// allocation per row), and per row whether it succeeded or its problems.
#[derive(Default)]
struct Pass {
    values: Vec<Value>,
    rows: Vec<Result<(), String>>,
}

impl Pass {
    /// The rows' results, each with its own `per_row` values.
    fn into_results(self, per_row: usize) -> Vec<Results> {
        let mut values = self.values.into_iter();
        self.rows.into_iter().map(|row| row.map(|()| values.by_ref().take(per_row).collect())).collect()
    }
}

fn main() -> ExitCode {
    // Compile and evaluate on a large stack, as the `covenant` binary does.
    let worker = std::thread::Builder::new().stack_size(256 * 1024 * 1024).spawn(run);
    match worker.map(|w| w.join()) {
        Ok(Ok(code)) => code,
        _ => {
            eprintln!("error: internal error");
            ExitCode::from(70)
        }
    }
}

fn run() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut file, mut input, mut output, mut errors) = (None, None, None, None);
    let (mut names, mut repeat, mut explain_rows) = (Vec::new(), 5usize, 0usize);
    let (mut native_code, mut reasons, mut details, mut covered) = (false, false, false, false);
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned();
        match (args[i].as_str(), value) {
            ("--input", Some(v)) => input = Some(v),
            ("--output", Some(v)) => output = Some(v),
            ("--errors", Some(v)) => errors = Some(v),
            ("--decision", Some(v)) => names.push(v),
            ("--repeat", Some(v)) => repeat = v.parse().unwrap_or(5).max(1),
            ("--explain-rows", Some(v)) => explain_rows = v.parse().unwrap_or(0),
            ("--native", _) => {
                native_code = true;
                i += 1;
                continue;
            }
            ("--reasons", _) => {
                reasons = true;
                i += 1;
                continue;
            }
            ("--details", _) => {
                details = true;
                i += 1;
                continue;
            }
            ("--covered", _) => {
                covered = true;
                i += 1;
                continue;
            }
            (other, _) if file.is_none() && !other.starts_with("--") => {
                file = Some(other.to_string());
                i += 1;
                continue;
            }
            (other, _) => return fail(&format!("unexpected argument `{other}`")),
        }
        i += 2;
    }
    let (Some(file), Some(input)) = (file, input) else {
        return fail("usage: covenant-bench-engine FILE.cov --input COHORT.csv --decision NAME... [--output OUT.csv]");
    };

    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => return fail(&format!("cannot read `{file}`: {e}")),
    };
    let compilation = covenant_driver::compile(&[(file.clone(), text)], &FileSystem);
    if compilation.has_errors() {
        return fail(&format!("`{file}` does not compile; run `covenant check` on it"));
    }
    let program = &compilation.program;
    let mut decisions = Vec::new();
    for name in &names {
        match program.decisions.iter().position(|d| &d.name == name && d.params.is_empty()) {
            Some(i) => decisions.push(DecisionId(i as u32)),
            None => return fail(&format!("no decision `{name}` without parameters")),
        }
    }

    if covered {
        // Every decision the generated module made from this program computes.
        let Some(&(_, computes, _)) = MODULES.iter().find(|(module, _, _)| module.check(program).is_some()) else {
            return fail("no generated module was made from this file; run `covenant emit-rust`");
        };
        for (i, _) in computes.iter().enumerate().filter(|(_, yes)| **yes) {
            decisions.push(DecisionId(i as u32));
        }
    }
    if decisions.is_empty() {
        return fail("no decision asked for");
    }

    let read = if input.ends_with(".jsonl") { read_cases(program, &input) } else { read_cohort(program, &input) };
    let (inputs, csv_seconds, inputs_seconds) = match read {
        Ok(read) => read,
        Err(why) => return fail(&why),
    };

    let indexes = Indexes::build(program);
    let compiled = Compiled::new(program);
    // With `--native`, the generated module made from this program computes each row, and
    // hands to the interpreter the rows it gives back.
    let (module, timed): (_, Timed) = if native_code {
        let found = MODULES.iter().find_map(|&(module, covered, timed)| {
            let all_covered = decisions.iter().all(|id| covered.get(id.index()).copied().unwrap_or(false));
            module.check(program).filter(|_| all_covered).map(|checked| (Some(checked), timed))
        });
        match found {
            Some(m) => m,
            None => return fail("no generated module computes these decisions of this file; run `covenant emit-rust`"),
        }
    } else {
        (None, timed::<Interpreted>)
    };
    let context = Context { program, indexes: &indexes, compiled: &compiled, decisions: &decisions, module, details };
    let timings = timed(&context, &inputs, repeat);
    let Timings { results, eval1, eval2, decode_seconds, handed_back, failed_natively } = timings;
    let inputs_seconds = inputs_seconds + decode_seconds;
    let results = results.into_results(decisions.len());

    // cells: every result as output text.
    let t = Instant::now();
    let cells: Vec<Option<Vec<String>>> = results
        .iter()
        .map(|r| {
            r.as_ref().ok().map(|values| {
                decisions
                    .iter()
                    .zip(values)
                    .map(|(id, v)| match v {
                        Value::None(reason) if reasons => format!("(none: {reason})"),
                        _ => batch::cell(program, v, &program.decision(*id).ty),
                    })
                    .collect()
            })
        })
        .collect();
    let cells_seconds = t.elapsed().as_secs_f64();

    // explain: evaluation with a recorder, and each row's explanation JSON as text.
    let explain_rows = explain_rows.min(inputs.len());
    let t = Instant::now();
    let mut explained_bytes = 0usize;
    for row in inputs.iter().take(explain_rows).flatten() {
        let mut session = Session::new(program, row.clone()).with_indexes(&indexes);
        let mut explanations = Vec::new();
        for &id in &decisions {
            let mut recorder = Recorder::new();
            let _ = session.decision(id, &mut recorder);
            if let Some(step) = recorder.finish() {
                explanations.push(explain::explain_json(program, &compilation.sources, &step));
            }
        }
        explained_bytes += serde_json::Value::Array(explanations).to_string().len();
    }
    let explain_seconds = t.elapsed().as_secs_f64();

    if let Some(path) = output
        && let Err(e) = write_output(&path, &compilation, &decisions, &results, &cells)
    {
        return fail(&format!("cannot write `{path}`: {e}"));
    }
    if let Some(path) = errors
        && let Err(e) = write_errors(&path, &results)
    {
        return fail(&format!("cannot write `{path}`: {e}"));
    }
    let rows = inputs.len();
    let rate = |s: f64| rows as f64 / s.max(1e-9);
    eprintln!(
        "csv {csv_seconds:.3} s, inputs {inputs_seconds:.3} s, eval {eval1:.3} s on 1 thread ({:.0} rows/s), \
         {eval2:.3} s on 2 ({:.0} rows/s), cells {cells_seconds:.3} s",
        rate(eval1),
        rate(eval2)
    );
    if explain_rows > 0 {
        eprintln!(
            "explain: {explain_rows} rows in {explain_seconds:.3} s ({:.0} rows/s), {:.0} bytes of JSON a row",
            explain_rows as f64 / explain_seconds.max(1e-9),
            explained_bytes as f64 / explain_rows as f64
        );
    }
    if native_code {
        eprintln!(
            "native: {} of {} evaluations handed back to the interpreter, {} failed with the interpreter's error",
            handed_back,
            rows * (repeat * 2),
            failed_natively,
        );
    }
    eprintln!(
        "engine: rows={rows} csv={csv_seconds:.4} inputs={inputs_seconds:.4} eval1={eval1:.4} eval2={eval2:.4} \
         cells={cells_seconds:.4} explain_rows={explain_rows} explain={explain_seconds:.4}"
    );
    ExitCode::SUCCESS
}

/// The rows of a CSV cohort as inputs (or each row's problems), with the seconds spent
/// reading the records (`csv`) and making them values (`inputs`).
fn read_cohort(program: &covenant_ir::Program, input: &str) -> Result<(Vec<Row>, f64, f64), String> {
    // csv: every record into memory.
    let t = Instant::now();
    let mut reader =
        csv::ReaderBuilder::new().flexible(true).from_path(input).map_err(|e| format!("cannot read `{input}`: {e}"))?;
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
        Err(e) => return Err(format!("cannot read the header: {e}")),
    };
    let Ok(header) = Header::new(program, &header) else {
        return Err("the header does not match the declared inputs".to_string());
    };
    let mut records = Vec::new();
    for record in reader.records() {
        records.push(record.map_err(|e| format!("cannot read row {}: {e}", records.len() + 1))?);
    }
    let csv_seconds = t.elapsed().as_secs_f64();

    // inputs: records into validated values.
    let t = Instant::now();
    let mut store = RowStore::new();
    let inputs: Vec<Row> = records
        .iter()
        .map(|record| {
            let cells: Vec<&str> = record.iter().collect();
            batch::row_inputs(program, &header, &cells[..], &mut store)
                .map_err(|errors| errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))
        })
        .collect();
    Ok((inputs, csv_seconds, t.elapsed().as_secs_f64()))
}

/// The cases of a JSON Lines file (one case object a line, as `covenant eval` reads one) as
/// inputs, with the same two timings.
fn read_cases(program: &covenant_ir::Program, input: &str) -> Result<(Vec<Row>, f64, f64), String> {
    let t = Instant::now();
    let text = std::fs::read_to_string(input).map_err(|e| format!("cannot read `{input}`: {e}"))?;
    let csv_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let inputs = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let case: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
            covenant_driver::inputs::read_inputs(program, &case)
                .map_err(|errors| errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))
        })
        .collect();
    Ok((inputs, csv_seconds, t.elapsed().as_secs_f64()))
}

fn write_output(
    path: &str,
    compilation: &Compilation,
    decisions: &[DecisionId],
    results: &[Results],
    cells: &[Option<Vec<String>>],
) -> std::io::Result<()> {
    let program = &compilation.program;
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    let names: Vec<&str> = decisions.iter().map(|d| program.decision(*d).name.as_str()).collect();
    writeln!(w, "row,{}", names.join(","))?;
    for (i, (result, cells)) in results.iter().zip(cells).enumerate() {
        if let (Ok(_), Some(cells)) = (result, cells) {
            writeln!(w, "{},{}", i + 1, cells.join(","))?;
        }
    }
    w.flush()
}

/// An error's place, labels and notes, written after its message with `--details`.
fn detail(e: &covenant_eval::EvalError) -> String {
    format!(" (at {:?}; labels {:?}; notes {:?})", e.span, e.labels, e.notes)
}

/// A decision's error as a failed row's problem: `decision: error[CODE]: message`.
fn problem(program: &covenant_ir::Program, id: DecisionId, code: &str, message: &str) -> String {
    format!("{}: error[{}]: {}", program.decision(id).name, code, message)
}

/// Failed rows as `row N: problem`, like `covenant batch --errors` (without source locations).
fn write_errors(path: &str, results: &[Results]) -> std::io::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    for (i, result) in results.iter().enumerate() {
        if let Err(problem) = result {
            writeln!(w, "row {}: {problem}", i + 1)?;
        }
    }
    w.flush()
}

fn fail(why: &str) -> ExitCode {
    eprintln!("error: {why}");
    ExitCode::from(2)
}
