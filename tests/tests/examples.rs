//! The worked examples and the standard library.
//!
//! Every `.cov` file under `examples/` and `stdlib/` compiles without errors (imports of
//! sibling files are read from disk) and its own tests pass. Each example folder has a
//! README, at least ten tests and at least one case in `cases/*.json`; every case is valid
//! input for the example and every root decision evaluates without an error.

mod common;

use covenant_driver::{Compilation, inputs, testing};
use covenant_eval::{NoTrace, Session};
use std::path::{Path, PathBuf};

/// Example folders and stdlib modules when this suite was written.
const AT_LEAST_EXAMPLES: usize = 2;
const AT_LEAST_STDLIB_FILES: usize = 4;
const AT_LEAST_TESTS_PER_EXAMPLE: usize = 10;
/// Case files across all examples (six per example when this suite was written).
const AT_LEAST_CASES: usize = 12;

/// Compiles a file, fails with the rendered diagnostics if it has errors, runs its own tests
/// and fails with every failing expectation. Returns the number of tests run.
fn compiles_and_passes(path: &Path) -> Result<(Compilation, usize), String> {
    let compilation = common::compile_file(path);
    if compilation.has_errors() {
        return Err(format!("{} does not compile:\n{}", common::relative(path), common::render_errors(&compilation)));
    }
    let root = compilation.roots[0];
    let outcomes = testing::run_tests(&compilation.program, |t| t.span.file == root);
    let failures = common::describe_failures(&compilation, &outcomes);
    if !failures.is_empty() {
        return Err(format!(
            "{}: {} failing expectation(s):\n{}",
            common::relative(path),
            failures.len(),
            failures.join("\n")
        ));
    }
    let count = outcomes.len();
    Ok((compilation, count))
}

fn example_dirs() -> Vec<PathBuf> {
    let dirs = common::subdirs(&common::root().join("examples"));
    assert!(dirs.len() >= AT_LEAST_EXAMPLES, "expected at least {AT_LEAST_EXAMPLES} examples, found {dirs:?}");
    dirs
}

/// The example's main files: its top-level `.cov` files that no other top-level file imports.
fn main_files(dir: &Path) -> Vec<PathBuf> {
    let files = common::files_with_ext(dir, "cov");
    let compiled: Vec<(PathBuf, Compilation)> = files.iter().map(|f| (f.clone(), common::compile_file(f))).collect();
    files
        .iter()
        .filter(|f| {
            let name = f.to_string_lossy().into_owned();
            !compiled.iter().any(|(other, c)| {
                other != *f && c.sources.files().any(|(id, file)| file.name == name && !c.roots.contains(&id))
            })
        })
        .cloned()
        .collect()
}

#[test]
fn every_example_and_stdlib_file_compiles_and_passes_its_tests() {
    let root = common::root();
    let mut files = common::files_with_ext_recursive(&root.join("examples"), "cov");
    let stdlib = common::files_with_ext_recursive(&root.join("stdlib"), "cov");
    assert!(
        stdlib.len() >= AT_LEAST_STDLIB_FILES,
        "expected at least {AT_LEAST_STDLIB_FILES} stdlib modules, found {stdlib:?}"
    );
    assert!(files.len() >= AT_LEAST_EXAMPLES, "expected at least {AT_LEAST_EXAMPLES} example files, found {files:?}");
    files.extend(stdlib);
    let mut failures = Vec::new();
    let mut tests = 0;
    for path in &files {
        match compiles_and_passes(path) {
            Ok((_, n)) => tests += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} file(s) failed:\n\n{}", failures.len(), failures.join("\n\n"));
    assert!(tests >= files.len(), "only {tests} tests in {} files", files.len());
}

#[test]
fn every_stdlib_module_has_tests() {
    for path in common::files_with_ext_recursive(&common::root().join("stdlib"), "cov") {
        let compilation = common::compile_file(&path);
        let root = compilation.roots[0];
        let own = compilation.program.tests.iter().filter(|t| t.span.file == root).count();
        assert!(own > 0, "{} has no tests", common::relative(&path));
    }
}

#[test]
fn the_stdlib_on_disk_is_the_one_embedded_in_the_compiler() {
    let root = common::root().join("stdlib");
    for module in covenant_driver::STDLIB {
        let on_disk = common::read(&root.join(module.path));
        assert_eq!(on_disk, module.text, "stdlib/{} differs from the embedded copy (rebuild)", module.path);
    }
    let files = common::files_with_ext_recursive(&root, "cov");
    assert_eq!(files.len(), covenant_driver::STDLIB.len(), "every stdlib file must be embedded: {files:?}");
}

#[test]
fn every_example_has_a_readme_cases_and_at_least_ten_tests() {
    for dir in example_dirs() {
        let name = common::relative(&dir);
        assert!(dir.join("README.md").is_file(), "{name} has no README.md");
        let cases = common::files_with_ext(&dir.join("cases"), "json");
        assert!(!cases.is_empty(), "{name} has no cases/*.json");
        let mut tests = 0;
        for file in common::files_with_ext_recursive(&dir, "cov") {
            let compilation = common::compile_file(&file);
            let root = compilation.roots[0];
            tests += compilation.program.tests.iter().filter(|t| t.span.file == root).count();
        }
        assert!(
            tests >= AT_LEAST_TESTS_PER_EXAMPLE,
            "{name} has {tests} tests; an example needs at least {AT_LEAST_TESTS_PER_EXAMPLE}"
        );
    }
}

#[test]
fn every_case_of_every_example_evaluates_without_errors() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for dir in example_dirs() {
        let mains = main_files(&dir);
        assert!(!mains.is_empty(), "{} has no main .cov file", common::relative(&dir));
        for main in &mains {
            let compilation = common::compile_file(main);
            assert!(!compilation.has_errors(), "{}:\n{}", common::relative(main), common::render_errors(&compilation));
            let program = &compilation.program;
            let decisions = covenant_driver::root_decisions(&compilation);
            assert!(!decisions.is_empty(), "{} has no decision without parameters", common::relative(main));
            for case in common::files_with_ext(&dir.join("cases"), "json") {
                let case_name = common::relative(&case);
                let values = match inputs::read_inputs(program, &common::read_json(&case)) {
                    Ok(v) => v,
                    Err(errors) => {
                        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                        failures.push(format!(
                            "{case_name}: invalid input for {}:\n  {}",
                            common::relative(main),
                            list.join("\n  ")
                        ));
                        continue;
                    }
                };
                let mut session = Session::new(program, values);
                for &id in &decisions {
                    if let Err(error) = session.decision(id, &mut NoTrace) {
                        failures.push(format!(
                            "{case_name}: decision `{}` failed:\n{}",
                            program.decision(id).name,
                            covenant_report::diagnostics::render(&error.to_diagnostic(), &compilation.sources, false)
                        ));
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= AT_LEAST_CASES, "only {checked} cases were evaluated");
}

/// Decision bodies compiled to closures (what `covenant batch` runs) give exactly what the
/// interpreter gives: every decision without parameters, on the inputs of every test of every
/// example and stdlib file, with and without table indexes, values and errors alike.
#[test]
fn compiled_bodies_give_exactly_the_interpreters_results() {
    use covenant_eval::{Compiled, Indexes, eval_constant};
    use covenant_ir::Value;
    let root = common::root();
    let mut files = common::files_with_ext_recursive(&root.join("examples"), "cov");
    files.extend(common::files_with_ext_recursive(&root.join("stdlib"), "cov"));
    let (mut compared, mut errors) = (0usize, 0usize);
    for path in &files {
        let compilation = common::compile_file(path);
        assert!(!compilation.has_errors(), "{}", common::relative(path));
        let program = &compilation.program;
        let compiled = Compiled::new(program);
        assert_eq!(compiled.len(), program.decisions.len(), "{}: every body compiled", common::relative(path));
        let indexes = Indexes::build(program);
        for test in &program.tests {
            let mut inputs: Vec<Value> = vec![Value::None("not given".into()); program.inputs.len()];
            for given in &test.givens {
                if let Ok(v) = eval_constant(program, given.value) {
                    inputs[given.input.index()] = v;
                }
            }
            let as_of = test.as_of.and_then(|node| match eval_constant(program, node) {
                Ok(Value::Date(date)) => Some(date),
                _ => None,
            });
            let session = |indexed: bool, with_compiled: bool| {
                let mut session = Session::new(program, inputs.clone());
                if indexed {
                    session = session.with_indexes(&indexes);
                }
                if with_compiled {
                    session = session.with_compiled(&compiled);
                }
                match as_of {
                    Some(date) => session.with_as_of(date),
                    None => session,
                }
            };
            for indexed in [false, true] {
                let (mut interpreted, mut fast) = (session(indexed, false), session(indexed, true));
                for (index, decision) in program.decisions.iter().enumerate() {
                    if !decision.params.is_empty() {
                        continue;
                    }
                    let id = covenant_ir::DecisionId(index as u32);
                    let expected = interpreted.decision(id, &mut NoTrace);
                    let actual = fast.decision(id, &mut NoTrace);
                    assert_eq!(
                        actual,
                        expected,
                        "{}: test \"{}\", decision `{}` (indexed: {indexed})",
                        common::relative(path),
                        test.name,
                        decision.name
                    );
                    compared += 1;
                    errors += usize::from(expected.is_err());
                }
            }
        }
    }
    // When this test was written: 8,384 results compared, 4,050 of them errors (a decision
    // that needs an input the test does not give).
    assert!(compared > 4_000, "only {compared} decisions compared");
    assert!(errors > 1_000, "only {errors} errors compared");
}
