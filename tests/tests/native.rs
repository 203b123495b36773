//! Rules compiled to Rust (`covenant emit-rust`): the module of every example, stdlib file
//! and the conformance rules, which the workspace builds (`tests/emitted`, so that CI checks
//! the generated code compiles), is the generator's current output, and the generated code
//! gives exactly what the interpreter gives, row by row, failing rows included.
//!
//! The binaries belong to other packages, so Cargo does not build them for this one; they
//! are found beside this test's executable (`common::built`). `.ci/run` builds the
//! workspace before testing.

mod common;

use common::{Run, TempDir};

const TARIFF: &str = "examples/housing-support-tariff/tariff.cov";
const ALLOCATION: &str = "examples/suffolk-personal-budget/allocation.cov";

/// The benchmark models and the decisions `bench/run.sh` asks of them.
const MODELS: [(&str, &str, &[&str]); 2] = [
    ("suffolk", ALLOCATION, &["points", "indicative_budget", "moderated_budget", "eligible", "budget_from_formula"]),
    ("housing", TARIFF, &["weekly_cost", "within_limits"]),
];

/// Rules written to test the generator.
const CONFORMANCE: &str = "tests/native/conformance.cov";

/// Where the generated modules are kept, one a file of rules (`covenant-emitted`).
const EMITTED: &str = "tests/emitted/src";

/// The name of the module `covenant-emitted` keeps for `file` (relative to the root): an
/// example by its folder, a stdlib file by its path.
fn emitted_module(file: &str) -> String {
    let path = file.trim_end_matches(".cov");
    match path.split('/').collect::<Vec<_>>().as_slice() {
        ["examples", folder, _] => folder.replace('-', "_"),
        ["stdlib", rest @ ..] => format!("stdlib_{}", rest.join("_")),
        _ => "conformance".to_string(),
    }
}

/// Runs a binary of the workspace; a panic is a failure whatever the test expects.
fn run(binary: &str, args: &[&str]) -> Run {
    run_with(binary, args, &[])
}

/// [`run`] with these environment variables set as well.
fn run_with(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let run = common::run_built_with(binary, args, env);
    assert!(run.code != 101, "`{binary}` panicked:\n{}", run.stderr);
    run
}

#[test]
fn every_file_of_rules_compiles_to_the_module_kept_for_it() {
    let root = common::root();
    let relative =
        |p: std::path::PathBuf| p.strip_prefix(&root).expect("below the root").to_string_lossy().into_owned();
    let examples: Vec<String> =
        common::files_with_ext_recursive(&root.join("examples"), "cov").into_iter().map(relative).collect();
    let stdlib: Vec<String> =
        common::files_with_ext_recursive(&root.join("stdlib"), "cov").into_iter().map(relative).collect();
    assert!(examples.len() >= 8 && stdlib.len() >= 4, "the examples and the stdlib are found");
    let dir = TempDir::new("current");
    let lib = common::read(&root.join(EMITTED).join("lib.rs"));
    let mut modules = vec!["lib.rs".to_string()];
    for file in examples.iter().chain(&stdlib).map(String::as_str).chain([CONFORMANCE]) {
        let module = emitted_module(file);
        let out = dir.path(&format!("{module}.rs"));
        let r = run("covenant", &["emit-rust", file, "--output", &out]);
        assert_eq!(r.code, 0, "{file}: {}", r.stderr);
        assert!(r.stderr.contains("compiled to Rust"), "{file}: {}", r.stderr);
        // The benchmark models and the conformance rules compile whole; elsewhere, decisions
        // that need payments, splits or a contract's dates are named, with the reason.
        let whole = file == CONFORMANCE || MODELS.iter().any(|(_, model, _)| *model == file);
        for line in r.stderr.lines().filter(|l| l.starts_with("not compiled")) {
            assert!(!whole && line.contains("interpreter"), "{file}: {line}");
        }
        let fresh = common::read(std::path::Path::new(&out));
        assert!(fresh.contains("pub fn decide(") && fresh.contains("pub static MODULE: rt::Module"), "{file}");
        let kept = format!("{EMITTED}/{module}.rs");
        assert!(
            root.join(&kept).exists() && fresh == common::read(&root.join(&kept)),
            "{kept} is not what `covenant emit-rust {file}` gives now; run it again with `--output {kept}`"
        );
        assert!(lib.contains(&format!("pub mod {module};")), "{EMITTED}/lib.rs does not build {module}");
        modules.push(format!("{module}.rs"));
    }
    // No module is kept for rules that are gone.
    for entry in std::fs::read_dir(root.join(EMITTED)).expect("the emitted modules").filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(modules.contains(&name), "{EMITTED}/{name} is the module of no file of rules");
    }
}

#[test]
fn emit_rust_refuses_rules_that_do_not_compile() {
    let dir = TempDir::new("refuse");
    let bad = dir.path("bad.cov");
    std::fs::write(&bad, "decision x: Int = y\n").expect("write");
    let r = run("covenant", &["emit-rust", &bad]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("nothing was compiled to Rust"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

/// The bench engine's output file (with the reasons of "no value"), error file and log for
/// `decisions` of `file` (every decision its module computes when none is named) on
/// `cohort`: interpreted, then with `--native`. With `details`, each
/// error is written with its place, labels and notes (the generated code then builds whole
/// errors; without, it gives them in brief, as when it is timed).
fn interpreted_and_native(
    dir: &TempDir,
    (name, file): (&str, &str),
    cohort: &str,
    decisions: &[&str],
    details: bool,
) -> [(String, String, String); 2] {
    [false, true].map(|native| {
        let (out, err) = (dir.path(&format!("{name}-{native}.csv")), dir.path(&format!("{name}-{native}.err")));
        let mut args = vec![file, "--input", cohort, "--output", &out, "--errors", &err, "--repeat", "1", "--reasons"];
        if details {
            args.push("--details");
        }
        for d in decisions {
            args.extend(["--decision", d]);
        }
        // No decisions named: every one the file's module computes.
        if decisions.is_empty() {
            args.push("--covered");
        }
        if native {
            args.push("--native");
        }
        let r = run("covenant-bench-engine", &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let read = |p: &str| std::fs::read_to_string(p).expect("engine output");
        (read(&out), read(&err), r.stderr)
    })
}

/// Fails with the first line where two outputs differ (the outputs are thousands of lines).
fn assert_same_lines(expected: &str, actual: &str, what: &str) {
    if expected == actual {
        return;
    }
    let (mut e, mut a) = (expected.lines(), actual.lines());
    for line in 1.. {
        match (e.next(), a.next()) {
            (None, None) => break,
            (x, y) if x == y => {}
            (x, y) => {
                panic!("{what}: line {line} is\n  {}\nnot\n  {}", y.unwrap_or("(missing)"), x.unwrap_or("(missing)"))
            }
        }
    }
    panic!("{what}: the outputs differ only in their line ends");
}

/// Rows the generator does not make: moderations beyond 25% and missing, a rating off the
/// scale, excluded placements.
const SUFFOLK_EXTRA: &str = "\"[{\"\"item\"\":\"\"E\"\",\"\"rating\"\":4}]\",Community,false,40%
\"[{\"\"item\"\":\"\"E\"\",\"\"rating\"\":4},{\"\"item\"\":\"\"H9\"\",\"\"rating\"\":3}]\",Community,false,
\"[{\"\"item\"\":\"\"H10\"\",\"\"rating\"\":7}]\",Community,false,-25%
\"[{\"\"item\"\":\"\"A\"\",\"\"rating\"\":4}]\",Residential,true,10%
\"[]\",HighCostNursing,false,
";

#[test]
fn compiled_rules_give_what_the_interpreter_gives_row_by_row() {
    let dir = TempDir::new("agree");
    for (model, file, decisions) in MODELS {
        let cohort = dir.path(&format!("{model}.csv"));
        let g = run("covenant-bench-generate", &[model, "3000", &cohort]);
        assert_eq!(g.code, 0, "{}", g.stderr);
        if model == "suffolk" {
            let mut text = std::fs::read_to_string(&cohort).expect("cohort");
            text.push_str(SUFFOLK_EXTRA);
            std::fs::write(&cohort, text).expect("cohort");
        }
        let [(interpreted, interpreted_errors, _), (compiled, compiled_errors, log)] =
            &interpreted_and_native(&dir, (model, file), &cohort, decisions, true);
        assert!(interpreted.lines().count() > 2500, "{model}: most rows succeed");
        assert_same_lines(
            interpreted,
            compiled,
            &format!("{model}: the compiled rules' results differ from the interpreter's"),
        );
        assert_same_lines(
            interpreted_errors,
            compiled_errors,
            &format!("{model}: the failing rows or their errors differ"),
        );
        // Only failing rows are handed back, once per evaluation (one thread, then two),
        // except those failing on the date, which fail in the generated code.
        let failed = interpreted_errors.lines().count();
        let no_version = interpreted_errors.lines().filter(|l| l.contains("error[E0512]")).count();
        assert!(model == "suffolk" || no_version > 50, "{model}: {no_version} rows failed on the date");
        let expected = format!(
            "native: {} of {} evaluations handed back to the interpreter, {} failed with the interpreter's error",
            2 * (failed - no_version),
            2 * (3000 + if model == "suffolk" { 5 } else { 0 }),
            2 * no_version
        );
        assert!(log.contains(&expected), "{model}: expected `{expected}` in\n{log}");
    }
}

/// A deterministic cohort for `tests/native/conformance.cov`: key values at and around
/// every range end (some written at another scale), every enum variant and truth value,
/// lists of entries (some longer than 32), empty lists (whose `max` fails), and dates at
/// the ends of the dated versions and in their gaps (five of sixteen).
fn conformance_cohort(rows: usize) -> String {
    const KINDS: [&str; 4] = ["Alpha", "Beta", "Gamma", "Delta"];
    const SCORES: [&str; 24] = [
        "-2", "-1", "-1.00", "-0.5", "0", "0.0", "0.25", "0.5", "0.50", "0.75", "1", "1.0", "2", "2.0", "2.25", "2.49",
        "2.5", "2.50", "3", "10", "10.0", "10.01", "11", "-0.0001",
    ];
    const AMOUNTS: [&str; 14] = [
        "0", "4.99", "5", "5.00", "5.001", "12.345", "-0.01", "194.99", "195", "195.00", "200", "1000", "7.5", "99.999",
    ];
    const ENTRY_SCORES: [i32; 14] = [-5, 0, 1, 9, 10, 11, 29, 30, 55, 109, 110, 119, 120, 1000];
    // Every version of `rate`, `tier` and `entry_rate` begins or ends on one of these; the
    // first two are before them all, and three are in a gap of `rate` and `entry_rate` only.
    const STARTS: [&str; 16] = [
        "2019-12-31",
        "2020-03-31",
        "2020-04-01",
        "2020-10-15",
        "2020-11-30",
        "2021-03-31",
        "2021-04-01",
        "2020-06-30",
        "2022-03-31",
        "2022-04-01",
        "2022-06-30",
        "2022-09-01",
        "2023-01-31",
        "2023-03-31",
        "2023-04-01",
        "2023-02-28",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| -> usize {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut csv = String::from("kind,urgent,score,amount,entries,more,start,holder\n");
    for _ in 0..rows {
        let mut entries = || -> String {
            // One list in twenty is longer than the 32 positions a call is remembered for.
            let length = if next(20) == 0 { 33 + next(8) } else { next(6) };
            let entries: Vec<String> = (0..length)
                .map(|_| {
                    format!("{{\"\"kind\"\":\"\"{}\"\",\"\"score\"\":{}}}", KINDS[next(4)], ENTRY_SCORES[next(14)])
                })
                .collect();
            entries.join(",")
        };
        let (entries, more, held) = (entries(), entries(), entries());
        let entry = |kind: usize, score: usize| {
            format!("{{\"\"kind\"\":\"\"{}\"\",\"\"score\"\":{}}}", KINDS[kind], ENTRY_SCORES[score])
        };
        // The main entry's score: whole numbers at the ends of what a machine integer holds
        // when doubled, zero written with a sign, and one written with decimal places.
        const MAIN_SCORES: [&str; 8] =
            ["0", "-0", "30.0", "4611686018427387904", "-4611686018427387904", "7", "120", "-5"];
        let main = format!("{{\"\"kind\"\":\"\"{}\"\",\"\"score\"\":{}}}", KINDS[next(4)], MAIN_SCORES[next(8)]);
        // The optional entry is left out of one holder in three.
        let extra = match next(3) {
            0 => String::new(),
            _ => format!(",\"\"extra\"\":{}", entry(next(4), next(14))),
        };
        let holder =
            format!("{{\"\"main\"\":{main}{extra},\"\"entries\"\":[{held}],\"\"label\"\":\"\"h{}\"\"}}", next(5));
        csv.push_str(&format!(
            "{},{},{},{},\"[{entries}]\",\"[{more}]\",{},\"{holder}\"\n",
            KINDS[next(4)],
            next(2) == 1,
            SCORES[next(SCORES.len())],
            AMOUNTS[next(AMOUNTS.len())],
            STARTS[next(STARTS.len())]
        ));
    }
    csv
}

/// The generator's table selection (ranges, alternatives, keys at other scales, `hit first`
/// wildcards, `otherwise` rows, dispatch on an enum, lookups through the indexes), record
/// cells, remembered calls and dated versions give exactly the interpreter's results and
/// errors. A date in a gap of the versions fails a row (E0512) in the generated code
/// itself, only where the interpreter reaches the dated reference, with its error.
#[test]
fn compiled_tables_and_calls_give_what_the_interpreter_gives() {
    let dir = TempDir::new("conformance");
    let cohort = dir.path("conformance.csv");
    std::fs::write(&cohort, conformance_cohort(4000)).expect("cohort");
    let decisions = [
        "graded",
        "stepped",
        "prioritised",
        "priority_given",
        "chosen_span",
        "urgency_given",
        "within_span",
        "in_chosen_span",
        "chosen_low",
        "flag_given",
        "amount_band",
        "weights",
        "doubled_weights",
        "kind_totals",
        "unweighted",
        "heaviest",
        "alpha_total",
        "more_weights",
        "more_unweighted",
        "built_weights",
        "alpha_over_ten",
        "rate_and_tier",
        "tier_and_rate",
        "tier_or_rate",
        "rate_when_urgent",
        "entry_rates",
        "dated_rate",
        "tier_given",
    ];
    let [(interpreted, interpreted_errors, _), (compiled, compiled_errors, log)] =
        &interpreted_and_native(&dir, ("conformance", CONFORMANCE), &cohort, &decisions, false);
    let failed = interpreted_errors.lines().count();
    let no_version = interpreted_errors.lines().filter(|l| l.contains("error[E0512]")).count();
    // Rows with no entries fail (`max` of nothing), and so do most rows dated in a gap.
    assert!(failed > 1000 && failed < 2000, "{failed} rows failed:\n{interpreted_errors}");
    assert!(failed - no_version > 300 && no_version > 700, "{no_version} of {failed} failed on the date");
    // Each dated decision fails some rows, and the first of two dated references reached
    // gives the error.
    for (decision, dated) in [
        ("alpha_over_ten", "rate"),
        ("rate_and_tier", "rate"),
        ("tier_and_rate", "tier"),
        ("tier_and_rate", "rate"),
        ("tier_or_rate", "tier"),
        ("tier_or_rate", "rate"),
        ("rate_when_urgent", "rate"),
        ("entry_rates", "entry_rate"),
        ("dated_rate", "rate"),
    ] {
        let error = format!("{decision}: error[E0512]: no version of `{dated}` is valid on");
        assert!(interpreted_errors.contains(&error), "no row fails with `{error}`");
    }
    // "No value" is written with its reason: `priority_given` and `chosen_span` have some.
    assert!(interpreted.lines().filter(|l| l.contains("(none: ")).count() > 100, "some lookups give no value");
    for reason in ["(none: no flag for Beta)", "(none: no row of table flag matched)", "(none: no tier for Delta)"] {
        assert!(interpreted.contains(reason), "no row gives `{reason}`");
    }
    assert_same_lines(interpreted, compiled, "the compiled rules' results differ from the interpreter's");
    assert_same_lines(interpreted_errors, compiled_errors, "the failing rows or their errors differ");
    // Rows failing on the date fail in the generated code; only the others are handed back.
    let expected = format!(
        "native: {} of {} evaluations handed back to the interpreter, {} failed with the interpreter's error",
        2 * (failed - no_version),
        2 * 4000,
        2 * no_version
    );
    assert!(log.contains(&expected), "expected `{expected}` in\n{log}");
}

/// The rows of a cohort, without its header, as written (CSV quotes doubled).
fn cohort_rows(cohort: &str) -> impl Iterator<Item = String> {
    let text = std::fs::read_to_string(cohort).expect("cohort").replace("\"\"", "\"");
    text.lines().skip(1).map(str::to_string).collect::<Vec<_>>().into_iter()
}

/// Parts of the inputs read from the module's structs of them (records in records, an
/// optional record left out, a list in a record, text, a `let`, a remembered call taking a
/// struct, a parameter taking a value because one call passes a record built in the rules)
/// give exactly the interpreter's results; and parameters take structs exactly when every
/// call passes one.
#[test]
fn structs_of_the_inputs_give_what_the_interpreter_gives() {
    let dir = TempDir::new("structs");
    let cohort = dir.path("conformance.csv");
    std::fs::write(&cohort, conformance_cohort(2000)).expect("cohort");
    let decisions = [
        "holder_weight",
        "extra_given",
        "extra_kind_given",
        "main_doubled",
        "held_main",
        "held_label",
        "same_kind_twice",
        "held_weights",
    ];
    let [(interpreted, interpreted_errors, _), (compiled, compiled_errors, log)] =
        &interpreted_and_native(&dir, ("structs", CONFORMANCE), &cohort, &decisions, false);
    assert_eq!(interpreted.lines().count(), 2001, "every row succeeds:\n{interpreted_errors}");
    let given = interpreted.lines().filter(|l| l.split(',').nth(2) == Some("true")).count();
    assert!(given > 1000 && given < 1600, "the optional entry is given in {given} rows");
    assert_same_lines(interpreted, compiled, "the compiled rules' results differ from the interpreter's");
    assert_same_lines(interpreted_errors, compiled_errors, "the failing rows or their errors differ");
    // Whole numbers are machine integers in the generated code: a score written `30.0`, and
    // one whose double is beyond a machine integer, hand the row back; -2^62 doubled fits.
    for written in ["9223372036854775808", "-9223372036854775808"] {
        assert!(interpreted.contains(written), "no row gives {written}");
    }
    let handed = |score: &str| cohort_rows(&cohort).filter(|row| row.contains(&format!(":{score}}}"))).count();
    let expected = format!(
        "native: {} of 4000 evaluations handed back to the interpreter, 0 failed",
        2 * (handed("30.0") + handed("4611686018427387904"))
    );
    assert!(log.contains(&expected), "expected `{expected}` in\n{log}");
    let module = common::read(&common::root().join("tests/emitted/src/conformance.rs"));
    for (decision, taken) in [("same_kind", true), ("doubled", true), ("entry_weight", false), ("kind_total", false)] {
        let at = module.find(&format!("`conformance.{decision}` (")).expect("the decision's function");
        let signature = module[at..].lines().nth(1).unwrap_or_default();
        assert_eq!(signature.contains("R<&'a In"), taken, "`{decision}`: {signature}");
    }
}

/// Every example with cases: its name (the folder's), its file of rules, and its cases
/// (`cases/*.json`) as JSON Lines, one case a line, in file order.
fn example_cases() -> Vec<(String, String, Vec<String>)> {
    let root = common::root();
    let mut examples: Vec<_> = std::fs::read_dir(root.join("examples"))
        .expect("examples")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join("cases").is_dir())
        .collect();
    examples.sort();
    assert!(examples.len() >= 9, "the examples with cases: {examples:?}");
    let files = |folder: &std::path::Path, ext: &str| {
        let mut files: Vec<_> = std::fs::read_dir(folder)
            .expect("folder")
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|e| e == ext))
            .collect();
        files.sort();
        files
    };
    examples
        .iter()
        .map(|example| {
            let name = example.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let rules = files(example, "cov").first().expect("a file of rules").to_string_lossy().to_string();
            let lines = files(&example.join("cases"), "json")
                .iter()
                .map(|case| {
                    let json: serde_json::Value =
                        serde_json::from_str(&common::read(case)).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
                    json.to_string()
                })
                .collect();
            (name, rules, lines)
        })
        .collect()
}

/// Every example's cases (`cases/*.json`, one JSON Lines row each), every decision its
/// module computes: the generated code gives exactly the interpreter's values, reasons of
/// "no value" and errors, and computes every row itself, handing none back.
#[test]
fn every_example_case_computes_natively_as_the_interpreter_does() {
    for (name, rules, cases) in example_cases() {
        let dir = TempDir::new(&format!("cases-{name}"));
        let input = dir.path("cases.jsonl");
        std::fs::write(&input, cases.join("\n") + "\n").expect("cases");
        let [(interpreted, interpreted_errors, _), (compiled, compiled_errors, log)] =
            interpreted_and_native(&dir, (&name, &rules), &input, &[], true);
        assert_eq!(interpreted.lines().count(), cases.len() + 1, "{name}: every case succeeds:\n{interpreted_errors}");
        assert_same_lines(&interpreted, &compiled, &format!("{name}: the compiled rules' results differ"));
        assert_same_lines(&interpreted_errors, &compiled_errors, &format!("{name}: the errors differ"));
        let expected = format!("native: 0 of {} evaluations handed back to the interpreter", 2 * cases.len());
        assert!(log.contains(&expected), "{name}: expected `{expected}` in\n{log}");
    }
}

/// Where `covenant batch --compiled` keeps the programs it builds in the tests: kept from run
/// to run, so that only the first builds Covenant's crates.
fn compiled_cache() -> String {
    format!("{}/compiled-rules", env!("CARGO_TARGET_TMPDIR"))
}

/// `covenant batch` on `input` (every parameterless decision when `decisions` is empty),
/// with `--compiled` or not: the run, its output and its errors. Programs are built without
/// optimisation, which is quicker to build and computes the same.
fn batch(
    dir: &TempDir,
    rules: &str,
    input: &str,
    decisions: &[&str],
    compiled: bool,
    cache: &str,
) -> (Run, String, String) {
    let tag = if compiled { "compiled" } else { "plain" };
    let (out, err) = (dir.path(&format!("{tag}.csv")), dir.path(&format!("{tag}.err")));
    let mut args = vec!["batch", rules, "--input", input, "--output", &out, "--errors", &err];
    for d in decisions {
        args.extend(["--decision", d]);
    }
    if compiled {
        args.push("--compiled");
    }
    let run = run_with("covenant", &args, &[("COVENANT_CACHE", cache), ("COVENANT_COMPILED_PROFILE", "dev")]);
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    (run, read(&out), read(&err))
}

/// The rows `covenant batch --compiled` reports computed by the generated code.
fn computed_natively(stderr: &str) -> Option<usize> {
    let line = stderr.lines().find(|l| l.starts_with("compiled to Rust: "))?;
    line.trim_start_matches("compiled to Rust: ").split(' ').next()?.parse().ok()
}

/// `covenant batch --compiled` builds a program with the generated code linked in and gives
/// exactly what `covenant batch` gives (values, errors, summary, exit code): on the benchmark
/// models' cohorts and their failing rows, on the conformance rules (rows handed back, rows
/// failing in the generated code, decisions it does not compute), and on every example's
/// cases with every decision (payments and splits, which only the interpreter computes).
#[test]
fn batch_compiled_gives_what_batch_gives() {
    let dir = TempDir::new("batch-compiled");
    let cache = compiled_cache();
    let mut cohorts: Vec<(String, String, String, Vec<&str>)> = Vec::new();
    for (model, file, decisions) in MODELS {
        let cohort = dir.path(&format!("{model}.csv"));
        let g = run("covenant-bench-generate", &[model, "2000", &cohort]);
        assert_eq!(g.code, 0, "{}", g.stderr);
        if model == "suffolk" {
            let text = std::fs::read_to_string(&cohort).expect("cohort") + SUFFOLK_EXTRA;
            std::fs::write(&cohort, text).expect("cohort");
        }
        cohorts.push((model.to_string(), file.to_string(), cohort, decisions.to_vec()));
    }
    let conformance = dir.path("conformance.csv");
    std::fs::write(&conformance, conformance_cohort(2000)).expect("cohort");
    cohorts.push(("conformance".into(), CONFORMANCE.into(), conformance, Vec::new()));
    for (name, rules, cases) in example_cases() {
        let input = dir.path(&format!("{name}.jsonl"));
        std::fs::write(&input, cases.join("\n") + "\n").expect("cases");
        cohorts.push((name, rules, input, Vec::new()));
    }
    for (name, rules, input, decisions) in &cohorts {
        let (plain, plain_out, plain_errors) = batch(&dir, rules, input, decisions, false, &cache);
        let (compiled, compiled_out, compiled_errors) = batch(&dir, rules, input, decisions, true, &cache);
        assert_eq!(plain.code, compiled.code, "{name}: {}\n{}", plain.show(), compiled.show());
        assert!(!plain_out.is_empty(), "{name}: {}", plain.show());
        assert_same_lines(&plain_out, &compiled_out, &format!("{name}: `--compiled` gives other results"));
        assert_same_lines(&plain_errors, &compiled_errors, &format!("{name}: `--compiled` gives other errors"));
        let summary = |r: &Run| {
            r.stderr
                .lines()
                .find(|l| l.starts_with("rows in"))
                .map(|l| l.split(" (").next().unwrap_or_default().to_string())
        };
        assert_eq!(summary(&plain), summary(&compiled), "{name}");
        let natively = computed_natively(&compiled.stderr).unwrap_or_else(|| panic!("{name}: {}", compiled.show()));
        let rows_out = plain_out.lines().count() - 1;
        // The models' rows that succeed are all computed by the generated code; the
        // conformance rules' rows are partly handed back.
        match name.as_str() {
            "suffolk" | "housing" => assert_eq!(natively, rows_out, "{name}: {}", compiled.stderr),
            _ => assert!(
                natively > 0 && natively <= rows_out + plain_errors.lines().count(),
                "{name}: {}",
                compiled.stderr
            ),
        }
    }
}

/// What `--compiled` does where it cannot compute natively: with explanations, for
/// decisions none of which is compiled, and without Covenant's source to build from.
#[test]
fn batch_compiled_says_what_it_does_not_do() {
    let dir = TempDir::new("batch-compiled-not");
    let cohort = dir.path("housing.csv");
    assert_eq!(run("covenant-bench-generate", &["housing", "20", &cohort]).code, 0);
    let cache = compiled_cache();
    let trace = dir.path("trace.jsonl");
    let args = ["batch", TARIFF, "--input", &cohort, "--explain=compact", "--output", &trace, "--compiled"];
    let r = run_with("covenant", &args, &[("COVENANT_CACHE", &cache)]);
    assert!(r.stderr.contains("`--compiled` is not used with `--explain`"), "{}", r.show());
    assert!(computed_natively(&r.stderr).is_none(), "{}", r.show());

    let payments = "examples/cluster-tariff/cluster_tariff.cov";
    let (name, _, cases) =
        example_cases().into_iter().find(|(name, ..)| name == "cluster-tariff").expect("the example");
    let input = dir.path(&format!("{name}.jsonl"));
    std::fs::write(&input, cases.join("\n") + "\n").expect("cases");
    let (r, out, _) = batch(&dir, payments, &input, &["block_payment"], true, &cache);
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.stderr.contains("no decision asked for is compiled to Rust"), "{}", r.show());
    assert_eq!(out.lines().count(), cases.len() + 1, "{}", r.show());

    // An empty cache and no source: nothing can be built, and the run says what to do.
    let (empty, none) = (dir.path("empty-cache"), dir.path("no-source"));
    let r = run_with(
        "covenant",
        &["batch", TARIFF, "--input", &cohort, "--compiled"],
        &[("COVENANT_CACHE", &empty), ("COVENANT_SOURCE", &none)],
    );
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains("set COVENANT_SOURCE to the folder holding Covenant's Cargo.toml"), "{}", r.show());
}

#[test]
fn a_generated_module_runs_only_on_its_own_rules() {
    let dir = TempDir::new("other");
    let cohort = dir.path("housing.csv");
    assert_eq!(run("covenant-bench-generate", &["housing", "10", &cohort]).code, 0);
    let other = dir.path("tariff.cov");
    let changed = common::read(&common::root().join(TARIFF)).replacen("£", "£1", 1);
    std::fs::write(&other, changed).expect("write");
    let r = run("covenant-bench-engine", &[&other, "--input", &cohort, "--decision", "weekly_cost"]);
    assert_eq!(r.code, 0, "the changed rules compile and run in the interpreter: {}", r.stderr);
    let r = run("covenant-bench-engine", &[&other, "--input", &cohort, "--decision", "weekly_cost", "--native"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no generated module"), "{}", r.stderr);
}

/// A second `covenant batch --compiled` on unchanged rules runs the program kept for them
/// without compiling the rules first (the program compiles them itself): `covenant` finds it
/// by a record of the files the rules were read from, with a hash of each file's text. A file
/// changed since makes the record useless, and the rules are compiled first as on a first run.
#[cfg(unix)]
#[test]
fn batch_compiled_runs_the_program_kept_for_unchanged_rules_without_compiling_them() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new("batch-compiled-kept");
    let cache = compiled_cache();
    let env = [("COVENANT_CACHE", cache.as_str()), ("COVENANT_COMPILED_PROFILE", "dev")];
    let rates_text = "module rates\nparam base: Money = £10.00\n";
    // Rules of this test run alone (the number), so that its program is built for it.
    let rules_text = format!(
        "import rates\ninput hours: Int\ndecision cost: Money = base * hours\ndecision run: Int = {}\n",
        std::process::id()
    );
    let rates = dir.write("rates.cov", rates_text);
    let rules = dir.write("rules.cov", &rules_text);
    let cohort = dir.write("cohort.csv", "hours\n1\n2\n");
    let batch = |decision: &str| {
        run_with("covenant", &["batch", &rules, "--input", &cohort, "--decision", decision, "--compiled"], &env)
    };

    let first = batch("cost");
    assert_eq!(first.code, 0, "{}", first.show());
    assert_eq!(first.stdout, "row,cost\n1,10.00\n2,20.00\n", "{}", first.show());
    assert_eq!(computed_natively(&first.stderr), Some(2), "{}", first.show());

    // The record names the program and both files read, not the standard library.
    let sources = std::path::Path::new(&cache).join("rules").join("sources");
    let record_path = std::fs::read_dir(&sources)
        .expect("the records")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| std::fs::read_to_string(path).is_ok_and(|text| text.contains(&rules)))
        .expect("a record for the rules");
    let record = common::read(&record_path);
    let lines: Vec<&str> = record.lines().collect();
    assert_eq!(lines.len(), 3, "{record}");
    assert!(lines[0].starts_with("covenant-rules-"), "{record}");
    assert!(lines[1].ends_with(&format!(" {rules}")) && lines[2].ends_with(&format!(" {rates}")), "{record}");

    // The kept program, replaced by a stand-in, is run without the rules being compiled: a
    // decision that does not exist is left for the program to report.
    let program = std::path::Path::new(&cache).join("rules").join(lines[0]).join(lines[0]);
    std::fs::write(&program, "#!/bin/sh\necho \"kept program ran: $*\"\n").expect("stand-in");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("executable");
    let kept = batch("no_such_decision");
    assert_eq!(kept.code, 0, "{}", kept.show());
    assert!(kept.stdout.starts_with("kept program ran: batch "), "{}", kept.show());

    // Either file changed: the rules are compiled first, and the unknown decision reported.
    for (file, text) in [(&rules, rules_text.as_str()), (&rates, rates_text)] {
        std::fs::write(file, format!("{text}// changed\n")).expect("change");
        let changed = batch("no_such_decision");
        assert_eq!(changed.code, 2, "{file}: {}", changed.show());
        assert!(changed.stderr.contains("no decision `no_such_decision`"), "{file}: {}", changed.show());
        assert!(!changed.stdout.contains("kept program ran"), "{file}: {}", changed.show());
        std::fs::write(file, text).expect("restore");
    }
    let unchanged = batch("no_such_decision");
    assert!(unchanged.stdout.starts_with("kept program ran: batch "), "{}", unchanged.show());

    // The stand-in is not left for a later run to find.
    let _ = std::fs::remove_dir_all(program.parent().expect("its folder"));
    let _ = std::fs::remove_file(&record_path);
}

/// The cache of `covenant batch --compiled` does not grow without end: each program is kept
/// once (cargo's copy and the rest of its build are removed from the target folder), and a
/// build removes the programs used longest ago beyond `COVENANT_CACHE_PROGRAMS`, with the
/// records naming them; a removed program is built again when its rules are next run.
#[cfg(unix)]
#[test]
fn batch_compiled_keeps_the_programs_used_last_and_each_once() {
    let dir = TempDir::new("batch-compiled-pruned");
    // A cache of its own, whose target folder is the tests' (Covenant's crates built once).
    let shared_target = std::path::Path::new(&compiled_cache()).join("target");
    std::fs::create_dir_all(&shared_target).expect("the shared target folder");
    let cache = std::path::PathBuf::from(dir.path("cache"));
    std::fs::create_dir_all(&cache).expect("the cache");
    std::os::unix::fs::symlink(&shared_target, cache.join("target")).expect("link the target folder");
    let cache_text = cache.to_string_lossy().into_owned();
    let cohort = dir.write("cohort.csv", "hours\n1\n2\n");
    // Rules of this test run alone (the number), so that their programs are built for it.
    let rules: Vec<String> = (1..=4)
        .map(|k| {
            let text = format!(
                "input hours: Int\ndecision cost: Money = £{k}.00 * hours\ndecision run: Int = {}\n",
                std::process::id()
            );
            dir.write(&format!("rules{k}.cov"), &text)
        })
        .collect();
    let batch = |k: usize, keep: &str| {
        let env = [
            ("COVENANT_CACHE", cache_text.as_str()),
            ("COVENANT_COMPILED_PROFILE", "dev"),
            ("COVENANT_CACHE_PROGRAMS", keep),
        ];
        let r = run_with(
            "covenant",
            &["batch", &rules[k - 1], "--input", &cohort, "--decision", "cost", "--compiled"],
            &env,
        );
        assert_eq!(r.code, 0, "{}", r.show());
        assert_eq!(r.stdout, format!("row,cost\n1,{k}.00\n2,{}.00\n", 2 * k), "{}", r.show());
        assert_eq!(computed_natively(&r.stderr), Some(2), "{}", r.show());
        r.stderr.contains("compiling the rules")
    };
    let programs = || {
        let mut names: Vec<String> = std::fs::read_dir(cache.join("rules"))
            .expect("the programs")
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.starts_with("covenant-rules-"))
            .collect();
        names.sort();
        names
    };
    let records = || std::fs::read_dir(cache.join("rules").join("sources")).expect("the records").count();

    assert!(batch(1, "2"), "the first run builds");
    let [first] = <[String; 1]>::try_from(programs()).expect("one program");
    assert!(batch(2, "2"), "other rules are built");
    let second = programs().into_iter().find(|p| p != &first).expect("a second program");
    assert_eq!(records(), 2);
    for name in [&first, &second] {
        assert!(cache.join("rules").join(name).join(name).is_file(), "{name} is kept");
        let crate_name = name.replace('-', "_");
        let leftovers: Vec<String> = ["debug", "debug/deps", "debug/.fingerprint", "debug/incremental"]
            .iter()
            .filter_map(|folder| std::fs::read_dir(shared_target.join(folder)).ok())
            .flatten()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|file| file.starts_with(name.as_str()) || file.starts_with(&crate_name))
            .collect();
        assert!(leftovers.is_empty(), "cargo's build of {name} is left in the target folder: {leftovers:?}");
    }

    // The first rules used again, then a third built: the second, used longest ago, goes.
    assert!(!batch(1, "2"), "kept, not built again");
    assert!(batch(3, "2"), "the third is built");
    let kept = programs();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.contains(&first) && !kept.contains(&second), "{first} kept, {second} removed: {kept:?}");
    assert_eq!(records(), 2, "the record of the program removed goes with it");
    assert!(batch(2, "2"), "a removed program is built again");
    assert_eq!(programs().len(), 2);

    // The number kept is a whole number, 1 or more.
    for bad in ["0", "many", "-1"] {
        let env = [
            ("COVENANT_CACHE", cache_text.as_str()),
            ("COVENANT_COMPILED_PROFILE", "dev"),
            ("COVENANT_CACHE_PROGRAMS", bad),
        ];
        let r = run_with("covenant", &["batch", &rules[0], "--input", &cohort, "--compiled"], &env);
        assert_eq!(r.code, 2, "{bad}: {}", r.show());
        assert!(r.stderr.contains(&format!("COVENANT_CACHE_PROGRAMS is `{bad}`")), "{bad}: {}", r.show());
        assert!(r.stdout.is_empty(), "{bad}: {}", r.show());
    }

    // Runs that build take turns: one waits, saying so, while another holds the lock.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(cache.join("build.lock"))
        .expect("the lock");
    lock.lock().expect("take the lock");
    let waiting = std::process::Command::new(common::built("covenant"))
        .args(["batch", &rules[3], "--input", &cohort, "--decision", "cost", "--compiled"])
        .envs([("COVENANT_CACHE", cache_text.as_str()), ("COVENANT_COMPILED_PROFILE", "dev")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start a run");
    // Without the lock it would have built and run (half a second) by then.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let mut waiting = waiting;
    assert!(waiting.try_wait().expect("the run").is_none(), "a run built while another held the lock");
    lock.unlock().expect("give the lock up");
    let done = waiting.wait_with_output().expect("the run");
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&done.stdout), "row,cost\n1,4.00\n2,8.00\n", "{stderr}");
    assert!(stderr.contains("note: waiting for another run's build in"), "{stderr}");
}
