//! Rules compiled to Rust (`covenant emit-rust`): the generated modules the benchmark builds
//! are the generator's current output, every example compiles to Rust, and the generated
//! code gives exactly what the interpreter gives, row by row, failing rows included.
//!
//! The binaries belong to other packages, so Cargo does not build them for this one; they
//! are found beside this test's executable (`target/<profile>/deps/native-…` →
//! `target/<profile>/`). `.ci/run` builds the workspace before testing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const TARIFF: &str = "examples/housing-support-tariff/tariff.cov";
const ALLOCATION: &str = "examples/suffolk-personal-budget/allocation.cov";

/// The benchmark models and their generated modules, as `bench/run.sh` runs them.
const MODELS: [(&str, &str, &str, &[&str]); 2] = [
    (
        "suffolk",
        ALLOCATION,
        "bench/engine/src/generated/suffolk.rs",
        &["points", "indicative_budget", "moderated_budget", "eligible", "budget_from_formula"],
    ),
    ("housing", TARIFF, "bench/engine/src/generated/housing.rs", &["weekly_cost", "within_limits"]),
];

fn built(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("the test runs from target/<profile>/deps");
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "`{name}` is not built at {}; run `cargo build --workspace` first", bin.display());
    bin
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(binary: &str, args: &[&str]) -> Run {
    let output = Command::new(built(binary))
        .args(args)
        .current_dir(common::root())
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(run.code != 101, "`{binary}` panicked:\n{}", run.stderr);
    run
}

/// A fresh folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("covenant-native-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_generated_benchmark_modules_are_current() {
    let dir = TempDir::new("current");
    for (model, file, module, _) in MODELS {
        let out = dir.path(&format!("{model}.rs"));
        let r = run("covenant", &["emit-rust", file, "--output", &out]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.contains("compiled to Rust"), "{}", r.stderr);
        assert!(!r.stderr.contains("not compiled"), "every decision of {file} should compile:\n{}", r.stderr);
        let fresh = std::fs::read_to_string(&out).expect("generated module");
        let committed = common::read(&common::root().join(module));
        assert!(
            fresh == committed,
            "{module} is not what `covenant emit-rust {file}` gives now; run it again with `--output {module}`"
        );
    }
}

#[test]
fn every_example_compiles_to_rust() {
    let examples = common::files_with_ext_recursive(&common::root().join("examples"), "cov");
    assert!(examples.len() >= 8, "the examples are found");
    for example in examples {
        let file = example.to_string_lossy();
        let r = run("covenant", &["emit-rust", &file]);
        assert_eq!(r.code, 0, "{file}: {}", r.stderr);
        assert!(r.stdout.contains("pub fn decide("), "{file}: the module has its entry point");
        assert!(r.stdout.contains("pub static MODULE: rt::Module"), "{file}");
        // Decisions that need payments or splits are named, with the reason.
        for line in r.stderr.lines().filter(|l| l.starts_with("not compiled")) {
            assert!(line.contains("interpreter"), "{file}: {line}");
        }
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
    for (model, file, _, decisions) in MODELS {
        let cohort = dir.path(&format!("{model}.csv"));
        let g = run("covenant-bench-generate", &[model, "3000", &cohort]);
        assert_eq!(g.code, 0, "{}", g.stderr);
        if model == "suffolk" {
            let mut text = std::fs::read_to_string(&cohort).expect("cohort");
            text.push_str(SUFFOLK_EXTRA);
            std::fs::write(&cohort, text).expect("cohort");
        }
        let mut outputs = Vec::new();
        for native in [false, true] {
            let (out, err) = (dir.path(&format!("{model}-{native}.csv")), dir.path(&format!("{model}-{native}.err")));
            let mut args = vec![file, "--input", &cohort, "--output", &out, "--errors", &err, "--repeat", "1"];
            for d in decisions {
                args.extend(["--decision", d]);
            }
            if native {
                args.push("--native");
            }
            let r = run("covenant-bench-engine", &args);
            assert_eq!(r.code, 0, "{}", r.stderr);
            let read = |p: &str| std::fs::read_to_string(p).expect("engine output");
            outputs.push((read(&out), read(&err), r.stderr));
        }
        let ((interpreted, interpreted_errors, _), (compiled, compiled_errors, log)) = (&outputs[0], &outputs[1]);
        assert!(interpreted.lines().count() > 2500, "{model}: most rows succeed");
        assert_eq!(interpreted, compiled, "{model}: the compiled rules' results differ from the interpreter's");
        assert_eq!(interpreted_errors, compiled_errors, "{model}: the failing rows or their errors differ");
        // Only failing rows are handed back, once per evaluation (one thread, then two).
        let failed = interpreted_errors.lines().count();
        let expected = format!(
            "native: {} of {} evaluations handed back",
            2 * failed,
            2 * (3000 + if model == "suffolk" { 5 } else { 0 })
        );
        assert!(log.contains(&expected), "{model}: expected `{expected}` in\n{log}");
    }
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
