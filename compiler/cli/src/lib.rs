//! The `covenant` command: `check`, `eval`, `batch`, `expand`, `test`, `emit-rust` and
//! `dump`.
//!
//! This is the only crate that reads files or writes to the terminal. Exit codes: 0 for
//! success, 1 for a failed check, evaluation or test, 2 for a usage or input error.
//!
//! It is a library so that `covenant batch --compiled` can build the command again with a
//! rules file's generated Rust linked in ([`main_with`], `compiled.rs`).

mod batch;
mod compiled;
mod expand;

/// Writes a line to standard output; when the reader has gone away (`covenant eval … | head`)
/// the command ends quietly, as other command-line tools do, instead of failing.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// Like [`out!`], without the line break.
macro_rules! out_part {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if write!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

use clap::{Parser, Subcommand, ValueEnum};
use covenant_driver::{Compilation, Loader, inputs, receipt, testing};
use covenant_eval::native::Linked;
use covenant_eval::{NoTrace, Session};
use covenant_ir::{DecisionId, value};
use covenant_report::{diagnostics, explain};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "covenant",
    version,
    about = "Rules and contracts for health and social-care commissioning: check, evaluate and explain."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile files and report every problem (exit 1 if there is an error).
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// `text` (source excerpts), `short` (one line each) or `json`.
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
    /// Evaluate decisions for one case given as JSON.
    Eval {
        file: PathBuf,
        /// The case: a JSON object with one field per declared input.
        #[arg(long)]
        input: PathBuf,
        #[command(flatten)]
        selection: Selection,
        /// Explain each result: the rules, table rows, comparisons and roundings behind it.
        #[arg(long)]
        explain: bool,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Evaluate decisions for every row of a cohort (CSV or JSON Lines), streaming.
    Batch {
        file: PathBuf,
        /// The cohort: `.csv` (columns named after inputs, dotted for fields: `person.cluster`)
        /// or `.jsonl` (one case object per line).
        #[arg(long)]
        input: PathBuf,
        #[command(flatten)]
        selection: Selection,
        /// Where to write results (`.csv` or `.jsonl`); standard output by default.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Where to write rows that failed, with their row number, field and reason (standard error by default).
        #[arg(long)]
        errors: Option<PathBuf>,
        /// Add each row's explanations (JSON; JSON Lines output by default). `--explain=compact`
        /// writes a compact trace instead, for `covenant expand` (much smaller and faster).
        #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "full", value_name = "LAYOUT")]
        explain: Option<ExplainLayout>,
        /// Worker threads (one per core by default).
        #[arg(long)]
        threads: Option<usize>,
        /// Compute the rows with the rules compiled to Rust (`emit-rust`), built once into a
        /// program of their own with cargo and kept for the next run; rows the compiled rules
        /// hand back are computed by the interpreter, so results are the same.
        #[arg(long)]
        compiled: bool,
    },
    /// Expand the compact traces written by `batch --explain=compact` into full explanations.
    Expand {
        /// The rules the trace was written with.
        file: PathBuf,
        /// The JSON Lines written by `covenant batch --explain=compact`.
        #[arg(long)]
        trace: PathBuf,
        /// Only the row with this number (repeatable); every row by default.
        #[arg(long = "row", value_name = "N")]
        rows: Vec<usize>,
        /// `text`, or `json`: the rows exactly as `batch --explain` writes them.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Run the `test` blocks in files or folders (recursively).
    Test {
        /// Files or folders; the current folder by default.
        paths: Vec<PathBuf>,
    },
    /// Compile the rules of a file to a Rust module, for programs that compute cohorts natively.
    EmitRust {
        file: PathBuf,
        /// Where to write the module (standard output by default).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Show what the compiler made of a file at one stage (for people learning the compiler).
    Dump {
        #[arg(long, value_enum)]
        stage: Stage,
        file: PathBuf,
    },
}

/// Which decisions to evaluate, and on which date (shared by `eval` and `batch`).
#[derive(clap::Args)]
struct Selection {
    /// A decision to evaluate (repeatable); by default every decision without parameters in FILE.
    #[arg(long = "decision")]
    decisions: Vec<String>,
    /// The date that chooses dated versions of tables, params and decisions (YYYY-MM-DD),
    /// instead of the rules' own `as of` declaration.
    #[arg(long = "as-of", value_name = "DATE")]
    as_of: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum CheckFormat {
    Text,
    Short,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum OutputFormat {
    Text,
    Json,
}

/// How `batch --explain` writes explanations.
#[derive(Clone, Copy, ValueEnum)]
enum ExplainLayout {
    /// Every step in full (`covenant.explanation/1`).
    Full,
    /// Site numbers and values (`covenant.trace/2`), for `covenant expand`.
    Compact,
}

#[derive(Clone, Copy, ValueEnum)]
enum Stage {
    Tokens,
    Ast,
    Ir,
}

/// Reads imported files from disk.
struct FileSystem;

impl Loader for FileSystem {
    fn load(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

/// The stack for compiling and evaluating: generous, because syntax trees may legitimately
/// be a thousand levels deep (the front end rejects anything deeper with E0004).
const STACK_BYTES: usize = 512 * 1024 * 1024;

/// Runs the `covenant` command. `linked` holds the generated modules built into this program
/// (none in `covenant` itself; one in the program `batch --compiled` builds), which `batch
/// --compiled` computes rows with when one was generated from the rules it is given.
pub fn main_with(linked: &'static [Linked]) -> ExitCode {
    let cli = Cli::parse();
    let worker =
        std::thread::Builder::new().name("covenant".into()).stack_size(STACK_BYTES).spawn(move || run(cli, linked));
    match worker.map(|w| w.join()) {
        Ok(Ok(code)) => code,
        Ok(Err(_)) => {
            eprintln!("error: internal error in covenant (please report it with the files you used)");
            ExitCode::from(70)
        }
        Err(e) => {
            eprintln!("error: cannot start a worker thread: {e}");
            ExitCode::from(70)
        }
    }
}

fn run(cli: Cli, linked: &'static [Linked]) -> ExitCode {
    match cli.command {
        Command::Check { files, format } => check(&files, format),
        Command::Eval { file, input, selection, explain, format } => {
            eval(&file, &input, &selection.decisions, explain, format, selection.as_of.as_deref())
        }
        Command::Test { paths } => test(&paths),
        Command::Batch { file, input, selection, output, errors, explain, threads, compiled } => {
            let Selection { decisions, as_of } = selection;
            let as_of = match parse_as_of(as_of.as_deref()) {
                Ok(date) => date,
                Err(code) => return code,
            };
            // The program kept for these rules, found without compiling them: it compiles
            // them itself, so that they are compiled once for the run.
            let builds = compiled && linked.is_empty() && explain.is_none();
            if builds && let Some(code) = compiled::run_kept(&file) {
                return code;
            }
            let compilation = match compile_cleanly(&file, "evaluated") {
                Ok(c) => c,
                Err(code) => return code,
            };
            let ids = match select_decisions(&compilation, &file, &decisions) {
                Ok(ids) => ids,
                Err(code) => return code,
            };
            let explain = match explain {
                None => batch::Explain::Off,
                Some(ExplainLayout::Full) => batch::Explain::Full,
                Some(ExplainLayout::Compact) => batch::Explain::Compact,
            };
            // `covenant` itself builds the rules into a program of their own and runs it; that
            // program computes with the module built into it.
            let native = match compiled {
                false => None,
                true if builds => match compiled::run_built(&compilation, &file, &ids) {
                    Some(code) => return code,
                    None => None,
                },
                true => Some(linked),
            };
            batch::run(&compilation, &ids, &batch::Options { input, output, errors, explain, as_of, threads, native })
        }
        Command::Expand { file, trace, rows, format } => {
            let compilation = match compile_cleanly(&file, "expanded") {
                Ok(c) => c,
                Err(code) => return code,
            };
            expand::run(&compilation, &trace, &rows, format == OutputFormat::Json)
        }
        Command::EmitRust { file, output } => emit_rust(&file, output.as_deref()),
        Command::Dump { stage, file } => dump(stage, &file),
    }
}

fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn display_path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The name of a file of rules as generated Rust names it: the file's own name, without its
/// folder (so that the code does not depend on where it was generated).
fn rules_origin(file: &Path) -> String {
    file.file_name().map_or_else(|| display_path(file), |name| name.to_string_lossy().into_owned())
}

/// Compiles one file for a command that runs it: any error is reported and ends the command
/// (exit 1, "nothing was `done`").
fn compile_cleanly(file: &Path, done: &str) -> Result<Compilation, ExitCode> {
    let compilation = compile(std::slice::from_ref(&file.to_path_buf()))?;
    if compilation.has_errors() {
        print_diagnostics(&compilation);
        eprintln!("{}; nothing was {done}", summary(&compilation));
        return Err(ExitCode::from(1));
    }
    Ok(compilation)
}

/// Compiles files; `Err` carries the exit code for unreadable files.
fn compile(files: &[PathBuf]) -> Result<Compilation, ExitCode> {
    let mut roots = Vec::new();
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => roots.push((display_path(file), text)),
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", file.display());
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok(covenant_driver::compile(&roots, &FileSystem))
}

fn print_diagnostics(compilation: &Compilation) {
    for d in &compilation.diagnostics {
        eprint!("{}", diagnostics::render(d, &compilation.sources, color()));
    }
}

fn summary(compilation: &Compilation) -> String {
    let errors = compilation.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = compilation.diagnostics.len() - errors;
    let plural = |n: usize, w: &str| if n == 1 { format!("{n} {w}") } else { format!("{n} {w}s") };
    format!("{}, {}", plural(errors, "error"), plural(warnings, "warning"))
}

fn check(files: &[PathBuf], format: CheckFormat) -> ExitCode {
    let compilation = match compile(files) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match format {
        CheckFormat::Text => {
            print_diagnostics(&compilation);
            eprintln!("{}", summary(&compilation));
        }
        CheckFormat::Short => {
            for d in &compilation.diagnostics {
                eprintln!("{}", diagnostics::render_short(d, &compilation.sources));
            }
            eprintln!("{}", summary(&compilation));
        }
        CheckFormat::Json => {
            let list: Vec<serde_json::Value> =
                compilation.diagnostics.iter().map(|d| diagnostics::to_json(d, &compilation.sources)).collect();
            out!("{}", serde_json::json!({ "diagnostics": list }));
        }
    }
    if compilation.has_errors() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

fn eval(
    file: &Path,
    input: &Path,
    names: &[String],
    want_explanation: bool,
    format: OutputFormat,
    as_of: Option<&str>,
) -> ExitCode {
    let as_of = match parse_as_of(as_of) {
        Ok(date) => date,
        Err(code) => return code,
    };
    let compilation = match compile_cleanly(file, "evaluated") {
        Ok(c) => c,
        Err(code) => return code,
    };
    let program = &compilation.program;
    let decisions = match select_decisions(&compilation, file, names) {
        Ok(ids) => ids,
        Err(code) => return code,
    };
    let text = match std::fs::read_to_string(input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", input.display());
            return ExitCode::from(2);
        }
    };
    let document: serde_json::Value = match serde_json::from_str(&text) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: `{}` is not valid JSON: {e}", input.display());
            return ExitCode::from(2);
        }
    };
    let values = match inputs::read_inputs(program, &document) {
        Ok(v) => v,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: input {e}");
            }
            eprintln!("{} problem(s) in `{}`; nothing was evaluated", errors.len(), input.display());
            return ExitCode::from(2);
        }
    };
    let receipt = receipt::receipt(program, &values, as_of);
    let mut session = Session::new(program, values);
    if let Some(date) = as_of {
        session = session.with_as_of(date);
    }
    if names.is_empty() && program.contract.is_some() {
        return statement(&compilation, &mut session, want_explanation, format, &receipt);
    }
    // JSON: each decision's entry as compact text, in order (a name asked for twice keeps
    // its first place and its last result, as a JSON object would).
    let mut results: Vec<(String, String)> = Vec::new();
    let mut failed = false;
    for id in decisions {
        let def = program.decision(id);
        let outcome = if want_explanation {
            let (result, step) = session.explain_decision(id);
            result.map(|v| (v, step))
        } else {
            session.decision(id, &mut NoTrace).map(|v| (v, None))
        };
        match outcome {
            Ok((value, step)) => {
                if format == OutputFormat::Json {
                    let mut entry = serde_json::Map::new();
                    entry.insert("value".into(), value::to_json(program, &value, &def.ty));
                    entry.insert("type".into(), serde_json::Value::String(program.type_name(&def.ty)));
                    let mut text = serde_json::Value::Object(entry).to_string();
                    if let Some(step) = &step {
                        // The explanation is the entry's last member, written without
                        // building it as a value.
                        text.pop();
                        text.push_str(",\"explanation\":");
                        text.push_str(&explain::explain_json_text(program, &compilation.sources, step));
                        text.push('}');
                    }
                    keep_result(&mut results, &def.name, text);
                } else if let Some(step) = &step {
                    out!("{}", explain::explain_text(program, &compilation.sources, step));
                } else {
                    out!("{} = {}", def.name, value::display(program, &value, &def.ty));
                }
            }
            Err(error) => {
                failed = true;
                let d = error.to_diagnostic();
                eprint!("{}", diagnostics::render(&d, &compilation.sources, color()));
                if format == OutputFormat::Json {
                    let entry = serde_json::json!({ "error": diagnostics::to_json(&d, &compilation.sources) });
                    keep_result(&mut results, &def.name, entry.to_string());
                }
            }
        }
    }
    if format == OutputFormat::Json {
        let mut document = String::from("{\"decisions\":{");
        for (i, (name, entry)) in results.iter().enumerate() {
            if i > 0 {
                document.push(',');
            }
            document.push_str(&serde_json::Value::from(name.as_str()).to_string());
            document.push(':');
            document.push_str(entry);
        }
        document.push_str("},\"receipt\":");
        document.push_str(&serde_json::to_string(&receipt).unwrap_or_default());
        document.push('}');
        print_pretty(&document);
    } else {
        print_receipt(&receipt);
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// Keeps a decision's JSON entry: in place of an earlier one of the same name, else last.
fn keep_result(results: &mut Vec<(String, String)>, name: &str, entry: String) {
    match results.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = entry,
        None => results.push((name.to_string(), entry)),
    }
}

/// Prints a compact JSON document indented (as `serde_json::to_string_pretty` would), and a
/// line break.
fn print_pretty(compact: &str) {
    use std::io::Write as _;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = covenant_ir::json::write_pretty(compact, &mut out);
    if written.and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn print_receipt(receipt: &receipt::Receipt) {
    let date = receipt.as_of.as_ref().map_or(String::new(), |d| format!(" · as of {d}"));
    out!(
        "receipt: rules {} · inputs {}{date} · {}",
        short_hash(&receipt.rules_hash),
        short_hash(&receipt.inputs_hash),
        receipt.engine
    );
}

/// `eval` on a contract without `--decision`: the payment statement for the period.
fn statement(
    compilation: &Compilation,
    session: &mut Session<'_>,
    want_explanation: bool,
    format: OutputFormat,
    receipt: &receipt::Receipt,
) -> ExitCode {
    let program = &compilation.program;
    let statement = match session.statement(want_explanation) {
        Ok(s) => s,
        Err(error) => {
            eprint!("{}", diagnostics::render(&error.to_diagnostic(), &compilation.sources, color()));
            eprintln!("no statement: the statement period could not be determined");
            return ExitCode::from(1);
        }
    };
    let mut failed = false;
    for line in &statement.lines {
        if let Err(error) = &line.outcome {
            failed = true;
            eprint!("{}", diagnostics::render(&error.to_diagnostic(), &compilation.sources, color()));
        }
    }
    if format == OutputFormat::Json {
        let mut document = String::from("{\"statement\":");
        document.push_str(&explain::statement_json_text(program, &compilation.sources, &statement));
        document.push_str(",\"receipt\":");
        document.push_str(&serde_json::to_string(&receipt).unwrap_or_default());
        document.push('}');
        print_pretty(&document);
    } else {
        out!("{}", explain::statement_text(program, &compilation.sources, &statement));
        print_receipt(receipt);
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

fn parse_as_of(text: Option<&str>) -> Result<Option<covenant_ir::Date>, ExitCode> {
    match text.map(|t| (t, covenant_ir::Date::parse(t))) {
        None => Ok(None),
        Some((_, Some(date))) => Ok(Some(date)),
        Some((t, None)) => {
            eprintln!("error: --as-of `{t}` is not a date; write YYYY-MM-DD");
            Err(ExitCode::from(2))
        }
    }
}

/// The decisions named on the command line, or every decision without parameters in FILE.
fn select_decisions(compilation: &Compilation, file: &Path, names: &[String]) -> Result<Vec<DecisionId>, ExitCode> {
    let program = &compilation.program;
    if names.is_empty() {
        return Ok(covenant_driver::root_decisions(compilation));
    }
    let mut ids = Vec::new();
    for name in names {
        match program.find_decision(name) {
            Some(id) if program.decision(id).params.is_empty() => ids.push(id),
            Some(_) => {
                eprintln!("error: decision `{name}` has parameters; evaluate a decision that calls it");
                return Err(ExitCode::from(2));
            }
            None => {
                let known: Vec<String> = covenant_driver::root_decisions(compilation)
                    .into_iter()
                    .map(|id| program.decision(id).name.clone())
                    .collect();
                eprintln!("error: no decision `{name}` in `{}`; decisions: {}", file.display(), known.join(", "));
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok(ids)
}

fn short_hash(hash: &str) -> String {
    match (hash.get(..4), hash.get(hash.len().saturating_sub(3)..)) {
        (Some(a), Some(b)) => format!("{a}…{b}"),
        _ => hash.to_string(),
    }
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for entry in entries {
        let name = entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if entry.is_dir() {
            collect_files(&entry, out)?;
        } else if entry.extension().is_some_and(|e| e == "cov") {
            out.push(entry);
        }
    }
    Ok(())
}

fn test(paths: &[PathBuf]) -> ExitCode {
    let roots = if paths.is_empty() { vec![PathBuf::from(".")] } else { paths.to_vec() };
    let mut files = Vec::new();
    for root in &roots {
        if let Err(e) = collect_files(root, &mut files) {
            eprintln!("error: cannot read `{}`: {e}", root.display());
            return ExitCode::from(2);
        }
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        let compilation = match compile(std::slice::from_ref(file)) {
            Ok(c) => c,
            Err(code) => return code,
        };
        if compilation.has_errors() {
            print_diagnostics(&compilation);
            out!("FAIL {}: does not compile ({})", file.display(), summary(&compilation));
            failed += 1;
            continue;
        }
        let root = compilation.roots[0];
        let outcomes = testing::run_tests(&compilation.program, |t| t.span.file == root);
        for outcome in &outcomes {
            if outcome.passed() {
                passed += 1;
                continue;
            }
            failed += 1;
            out!("FAIL {} test {:?}", compilation.sources.location(outcome.span), outcome.name);
            for failure in &outcome.failures {
                match failure {
                    testing::TestFailure::Mismatch { decision, expected, actual, span } => {
                        out!(
                            "  {decision}: expected {expected}, found {actual}   ({})",
                            compilation.sources.location(*span)
                        );
                    }
                    testing::TestFailure::Error { decision, error, span } => {
                        let what = decision.as_deref().map_or("a given value".to_string(), |d| d.to_string());
                        out!("  {what}: evaluation failed   ({})", compilation.sources.location(*span));
                        out_part!(
                            "{}",
                            indent(&diagnostics::render(&error.to_diagnostic(), &compilation.sources, false))
                        );
                    }
                }
            }
        }
    }
    out!("{passed} passed, {failed} failed");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

fn emit_rust(file: &Path, output: Option<&Path>) -> ExitCode {
    let compilation = match compile_cleanly(file, "compiled to Rust") {
        Ok(c) => c,
        Err(code) => return code,
    };
    let origin = rules_origin(file);
    let emitted = match covenant_eval::native::emit::emit(&compilation.program, &format!("`{origin}`")) {
        Ok(e) => e,
        Err(why) => {
            eprintln!("error: `{}` cannot be compiled to Rust: {why}", display_path(file));
            return ExitCode::from(1);
        }
    };
    match output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &emitted.code) {
                eprintln!("error: cannot write `{}`: {e}", path.display());
                return ExitCode::from(2);
            }
        }
        None => out!("{}", emitted.code.trim_end()),
    }
    eprintln!("{} decisions without parameters compiled to Rust", emitted.covered.len());
    for (name, why) in &emitted.not_covered {
        eprintln!("not compiled, always handed back to the interpreter: `{name}`: {why}");
    }
    ExitCode::SUCCESS
}

fn dump(stage: Stage, file: &Path) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    match stage {
        Stage::Tokens => {
            let (tokens, _) = covenant_syntax::lex(covenant_source::FileId(0), &text);
            for (token, span) in tokens {
                out!("{:>5}..{:<5} {token:?}", span.start, span.end);
            }
        }
        Stage::Ast => {
            let (ast, diagnostics) = covenant_syntax::parse(covenant_source::FileId(0), &text);
            out!("{ast:#?}");
            for d in diagnostics {
                eprintln!("error[{}]: {}", d.code, d.message);
            }
        }
        Stage::Ir => {
            let compilation = match compile(&[file.to_path_buf()]) {
                Ok(c) => c,
                Err(code) => return code,
            };
            print_diagnostics(&compilation);
            out!("{}", serde_json::to_string_pretty(&compilation.program).unwrap_or_default());
        }
    }
    ExitCode::SUCCESS
}
