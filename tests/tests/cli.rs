//! The `covenant` binary: exit codes and the key parts of its output.
//!
//! The binary belongs to another package, so Cargo does not build it for this one; it is
//! found beside this test's executable (`target/<profile>/deps/cli-…` →
//! `target/<profile>/covenant`). `.ci/run` builds the workspace before testing.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Run, TempDir};

fn binary() -> PathBuf {
    common::built("covenant")
}

fn run(args: &[&str]) -> Run {
    common::run_built("covenant", args)
}

const TARIFF: &str = "examples/housing-support-tariff/tariff.cov";
const ALLOCATION: &str = "examples/suffolk-personal-budget/allocation.cov";

#[test]
fn check_a_good_file_exits_0() {
    let r = run(&["check", TARIFF]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.stderr.contains("0 errors"), "{}", r.show());
}

#[test]
fn check_a_bad_file_exits_1_and_names_the_code() {
    let r = run(&["check", "tests/cases/check/money_times_money.cov"]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.stderr.contains("[E0302]"), "{}", r.show());
    assert!(r.stderr.contains("money_times_money.cov:5:25"), "{}", r.show());
    assert!(r.stderr.contains("1 error"), "{}", r.show());

    let short = run(&["check", "--format", "short", "tests/cases/check/money_times_money.cov"]);
    assert_eq!(short.code, 1, "{}", short.show());
    assert!(
        short.stderr.contains("money_times_money.cov:5:25: error[E0302]: money cannot be multiplied by money"),
        "{}",
        short.show()
    );
}

#[test]
fn check_json_lists_diagnostics_with_spans() {
    let r = run(&["check", "--format", "json", "tests/cases/check/rate_units_mismatch.cov"]);
    assert_eq!(r.code, 1, "{}", r.show());
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{}", r.show()));
    let list = json["diagnostics"].as_array().expect("a diagnostics list");
    assert_eq!(list.len(), 1, "{json:#}");
    assert_eq!(list[0]["code"], "E0302");
    assert_eq!(list[0]["severity"], "error");
    let labels = list[0]["labels"].as_array().expect("labels");
    assert_eq!(labels.len(), 2, "both operands are labelled: {json:#}");
    assert_eq!(labels[0]["span"]["line"], 5);
}

#[test]
fn check_a_missing_file_exits_2() {
    let r = run(&["check", "tests/cases/check/does-not-exist.cov"]);
    assert_eq!(r.code, 2, "{}", r.show());
}

/// Every JSON number in `json`, with its path.
fn numbers(json: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match json {
        serde_json::Value::Number(n) => out.push(format!("{path} = {n}")),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                numbers(item, &format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                numbers(v, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

fn is_hash(value: &serde_json::Value) -> bool {
    value.as_str().is_some_and(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
}

#[test]
fn eval_json_gives_decisions_and_a_receipt_with_money_as_strings() {
    let case = "examples/housing-support-tariff/cases/c6-rate-above-band.json";
    let r = run(&["eval", TARIFF, "--input", case, "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.show());
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{}", r.show()));
    let decisions = json["decisions"].as_object().expect("decisions");
    assert_eq!(decisions["weekly_cost"]["value"], serde_json::json!("96.08"), "{json:#}");
    assert_eq!(decisions["weekly_cost"]["type"], "Money per week", "{json:#}");
    assert_eq!(decisions["rate_within_band"]["value"], false);
    assert_eq!(decisions["reason"]["value"], "the agreed hourly rate is above the cluster's band");
    assert_eq!(decisions["band"]["value"]["high"], serde_json::json!("12.00"), "{json:#}");
    let receipt = &json["receipt"];
    assert!(is_hash(&receipt["rules_hash"]), "{receipt:#}");
    assert!(is_hash(&receipt["inputs_hash"]), "{receipt:#}");
    assert!(receipt["engine"].as_str().is_some_and(|e| e.starts_with("covenant ")), "{receipt:#}");
    // No money or decimal is ever a JSON number.
    let mut found = Vec::new();
    numbers(&json["decisions"], "decisions", &mut found);
    assert!(found.is_empty(), "JSON numbers in the decisions: {found:?}");

    // The same case again gives the same receipt.
    let again = run(&["eval", TARIFF, "--input", case, "--format", "json"]);
    let again: serde_json::Value = serde_json::from_str(&again.stdout).expect("json");
    assert_eq!(again["receipt"], json["receipt"]);
}

#[test]
fn eval_text_prints_each_decision_and_the_receipt() {
    let case = "examples/suffolk-personal-budget/cases/worked-example-moderated-up-15.json";
    let r = run(&["eval", ALLOCATION, "--input", case, "--decision", "moderated_budget", "--decision", "points"]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.stdout.contains("moderated_budget = £"), "{}", r.show());
    assert!(r.stdout.contains("points = "), "{}", r.show());
    assert!(r.stdout.contains("receipt: rules "), "{}", r.show());
}

#[test]
fn eval_an_unknown_decision_exits_2() {
    let case = "examples/housing-support-tariff/cases/c6-rate-above-band.json";
    let r = run(&["eval", TARIFF, "--input", case, "--decision", "weekly_costs"]);
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains("weekly_costs"), "{}", r.show());
}

#[test]
fn eval_with_a_missing_field_in_a_list_element_exits_2_and_names_the_path() {
    let tmp = TempDir::new("missing-field");
    let input = tmp.write(
        "case.json",
        r#"{
  "person": {
    "ratings": [
      { "item": "H7", "rating": 2 },
      { "item": "H9" }
    ],
    "placement": "Community",
    "highly_complex_needs": false
  }
}"#,
    );
    let r = run(&["eval", ALLOCATION, "--input", &input]);
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains("person.ratings[1].rating"), "{}", r.show());
    assert!(r.stdout.is_empty(), "nothing is evaluated: {}", r.show());
}

#[test]
fn eval_with_a_wrongly_typed_value_exits_2_and_names_the_path() {
    let tmp = TempDir::new("wrong-type");
    let input = tmp.write(
        "case.json",
        r#"{ "package": { "cluster": 6, "service": "FloatingSupport", "agreed_rate": "12.0x",
             "hours": "8", "start": "2015-02-30" }, "review_date": "2015-10-01" }"#,
    );
    let r = run(&["eval", TARIFF, "--input", &input]);
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains("package.agreed_rate"), "{}", r.show());
    assert!(r.stderr.contains("package.start"), "{}", r.show());
}

#[test]
fn eval_on_invalid_json_exits_2() {
    let tmp = TempDir::new("invalid-json");
    let input = tmp.write("case.json", "{ \"package\": ");
    let r = run(&["eval", TARIFF, "--input", &input]);
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains("not valid JSON"), "{}", r.show());
}

#[test]
fn eval_of_a_decision_that_fails_exits_1_with_the_reason() {
    let tmp = TempDir::new("eval-error");
    let file = tmp.write(
        "rates.cov",
        "enum Service { Floating, CrisisHouse }\n\
         table rate(service: Service) -> Money per hour {\n  Floating => £10.00 per hour\n  \
         CrisisHouse => none \"no tariff agreed\"\n}\n\
         input service: Service\n\
         decision weekly: Money per week = 5 hours per week * rate(service)\n",
    );
    let input = tmp.write("case.json", r#"{ "service": "CrisisHouse" }"#);
    let r = run(&["eval", &file, "--input", &input]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.stderr.contains("E0503") && r.stderr.contains("no tariff agreed"), "{}", r.show());
}

#[test]
fn test_examples_passes_every_test() {
    let r = run(&["test", "examples"]);
    assert_eq!(r.code, 0, "{}", r.show());
    let last = r.stdout.lines().last().unwrap_or_default();
    let (passed, rest) = last.split_once(" passed, ").unwrap_or_else(|| panic!("last line {last:?}\n{}", r.show()));
    let passed: usize = passed.parse().unwrap_or_else(|_| panic!("last line {last:?}"));
    assert_eq!(rest, "0 failed", "{}", r.show());
    assert!(passed >= 20, "only {passed} tests passed in examples/: {}", r.show());
}

#[test]
fn test_stdlib_passes_every_test() {
    let r = run(&["test", "stdlib"]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.stdout.trim_end().ends_with(" passed, 0 failed"), "{}", r.show());
}

#[test]
fn a_failing_test_exits_1_with_expected_actual_and_location() {
    let tmp = TempDir::new("failing-test");
    let file = tmp.write(
        "fees.cov",
        "input hours: hours per week\n\
         decision weekly_cost: Money per week = hours * £9.25 per hour\n\
         \n\
         test \"four and a half hours\" {\n  given hours = 4.5 hours per week\n  expect weekly_cost == £41.63 per week\n}\n\
         \n\
         test \"one hour\" {\n  given hours = 1 hour per week\n  expect weekly_cost == £9.25 per week\n}\n",
    );
    let r = run(&["test", &file]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.stdout.contains("four and a half hours"), "{}", r.show());
    assert!(r.stdout.contains("expected £41.63 per week"), "{}", r.show());
    assert!(r.stdout.contains("found £41.625 per week"), "{}", r.show());
    assert!(r.stdout.contains("fees.cov:6:"), "the expect's line is given: {}", r.show());
    assert!(r.stdout.trim_end().ends_with("1 passed, 1 failed"), "{}", r.show());
}

#[test]
fn a_file_that_does_not_compile_fails_the_test_run() {
    let tmp = TempDir::new("bad-test-file");
    let file = tmp.write("bad.cov", "decision fee: Money = £5.00 * £6.00\n");
    let r = run(&["test", &file]);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.stdout.contains("does not compile"), "{}", r.show());
    assert!(r.stderr.contains("E0302"), "{}", r.show());
}

#[test]
fn eval_explain_gives_the_explanation_as_text_and_json() {
    let case = "examples/housing-support-tariff/cases/c6-rate-above-band.json";
    let text = run(&["eval", TARIFF, "--input", case, "--decision", "rate_within_band", "--explain"]);
    assert_eq!(text.code, 0, "{}", text.show());
    assert!(text.stdout.starts_with("rate_within_band = false"), "{}", text.show());
    assert!(text.stdout.contains("table row 8"), "the matched row is named: {}", text.show());
    assert!(text.stdout.contains("more than £12.00 per hour"), "{}", text.show());

    let json = run(&["eval", TARIFF, "--input", case, "--decision", "band", "--explain", "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.show());
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}\n{}", json.show()));
    let explanation = &doc["decisions"]["band"]["explanation"];
    assert_eq!(explanation["schema"], "covenant.explanation/1", "{doc:#}");
    assert_eq!(explanation["step"]["kind"], "decision", "{doc:#}");
    let mut found = Vec::new();
    numbers(&explanation["step"]["value"], "value", &mut found);
    assert!(found.is_empty(), "money as JSON numbers: {found:?}");
}

/// The cases of an example as one JSON Lines cohort, in file order.
fn cohort_of(example: &str) -> (Vec<PathBuf>, String) {
    let cases = common::files_with_ext(&common::root().join(example).join("cases"), "json");
    assert!(cases.len() >= 4, "{example} should have several cases");
    let lines: Vec<String> = cases.iter().map(|c| common::read_json(c).to_string()).collect();
    (cases, lines.join("\n") + "\n")
}

#[test]
fn batch_gives_exactly_what_eval_gives_row_by_row() {
    for (example, file) in
        [("examples/housing-support-tariff", TARIFF), ("examples/suffolk-personal-budget", ALLOCATION)]
    {
        let dir = TempDir::new(&format!("batch-eq-{}", common::file_name(Path::new(example))));
        let (cases, cohort) = cohort_of(example);
        let input = dir.write("cohort.jsonl", &cohort);
        let output = dir.path("out.jsonl");
        let r = run(&["batch", file, "--input", &input, "--output", &output]);
        assert_eq!(r.code, 0, "{}", r.show());
        assert!(
            r.stderr.contains(&format!("rows in {n}, rows out {n}, rows failed 0", n = cases.len())),
            "{}",
            r.show()
        );
        let rows: Vec<serde_json::Value> = std::fs::read_to_string(&output)
            .expect("batch output")
            .lines()
            .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
            .collect();
        assert_eq!(rows.len(), cases.len());
        for (i, (case, row)) in cases.iter().zip(&rows).enumerate() {
            assert_eq!(row["row"], serde_json::json!(i + 1), "rows come out in input order");
            let case = case.to_string_lossy();
            let e = run(&["eval", file, "--input", &case, "--format", "json"]);
            assert_eq!(e.code, 0, "{}", e.show());
            let eval: serde_json::Value = serde_json::from_str(&e.stdout).expect("eval JSON");
            let decisions = eval["decisions"].as_object().expect("decisions");
            assert!(!decisions.is_empty());
            for (name, result) in decisions {
                assert_eq!(
                    row["decisions"][name], result["value"],
                    "{case}: decision `{name}` differs between batch and eval"
                );
            }
        }
    }
}

#[test]
fn batch_reads_json_lines_with_crlf_and_blank_lines_as_it_reads_plain_ones() {
    let dir = TempDir::new("batch-jsonl-lines");
    let (_, cohort) = cohort_of("examples/housing-support-tariff");
    // Enough rows that the reader reuses the rows of pieces the workers have finished.
    let plain: Vec<&str> = cohort.lines().cycle().take(3_000).collect();
    let mut messy = String::new();
    for (i, line) in plain.iter().enumerate() {
        if i % 97 == 0 {
            messy.push_str("   \r\n\r\n");
        }
        messy.push_str(line);
        messy.push_str("\r\n");
    }
    let mut outputs = Vec::new();
    for (name, text) in [("plain", plain.join("\n") + "\n"), ("messy", messy)] {
        let input = dir.write(&format!("{name}.jsonl"), &text);
        let output = dir.path(&format!("{name}-out.jsonl"));
        let r = run(&["batch", TARIFF, "--input", &input, "--output", &output, "--threads", "2"]);
        assert_eq!(r.code, 0, "{name}: {}", r.show());
        assert!(r.stderr.contains("rows in 3000, rows out 3000, rows failed 0"), "{name}: {}", r.show());
        outputs.push(std::fs::read_to_string(&output).expect("output"));
    }
    assert_eq!(outputs[0], outputs[1], "blank lines and CRLF endings change nothing");
}

/// The decision steps of an explanation in document order: (name, arguments, memoised, has
/// children).
fn decision_steps(step: &serde_json::Value, out: &mut Vec<(String, String, bool, bool)>) {
    if step["kind"] == "decision" {
        let children = step["children"].as_array().is_some_and(|c| !c.is_empty());
        let memoised = step["memoised"] == true;
        out.push((step["name"].to_string(), step["args"].to_string(), memoised, children));
    }
    for child in step["children"].as_array().into_iter().flatten() {
        decision_steps(child, out);
    }
}

/// Checks that an explanation stands alone: each decision call (name and arguments) is
/// expanded at most once in it, and a repeat shown by value is expanded earlier in it.
/// Returns how many repeats were shown by value.
fn assert_stands_alone(step: &serde_json::Value, what: &str) -> usize {
    let mut steps = Vec::new();
    decision_steps(step, &mut steps);
    let mut repeats = 0;
    for (i, (name, arguments, memoised, children)) in steps.iter().enumerate() {
        let expanded_before = steps[..i].iter().any(|s| &s.0 == name && &s.1 == arguments && s.3);
        if *children {
            assert!(!expanded_before, "{what}: {name}{arguments} is expanded twice");
        } else if *memoised {
            let first = steps.iter().position(|s| &s.0 == name && &s.1 == arguments);
            assert!(expanded_before || first == Some(i), "{what}: {name}{arguments} is not expanded before");
            repeats += 1;
        }
    }
    repeats
}

#[test]
fn eval_explains_each_decision_on_its_own() {
    // `moderated_budget` uses `indicative_budget`, computed just before for the first
    // decision: it is still shown in full inside `moderated_budget`.
    let case = "examples/suffolk-personal-budget/cases/worked-example-moderated-up-15.json";
    let doc = run_json(&[
        "eval",
        ALLOCATION,
        "--input",
        case,
        "--decision",
        "indicative_budget",
        "--decision",
        "moderated_budget",
        "--decision",
        "blank_cell_items",
        "--explain",
        "--format",
        "json",
    ]);
    let mut repeats = 0;
    for name in ["indicative_budget", "moderated_budget", "blank_cell_items"] {
        let step = &doc["decisions"][name]["explanation"]["step"];
        assert_eq!(step["memoised"], false, "{name} is computed for its own explanation: {step}");
        repeats += assert_stands_alone(step, name);
    }
    let mut inner = Vec::new();
    decision_steps(&doc["decisions"]["moderated_budget"]["explanation"]["step"], &mut inner);
    assert!(
        inner.iter().any(|s| s.0 == "\"indicative_budget\"" && !s.2 && s.3),
        "indicative_budget is expanded inside moderated_budget: {inner:?}"
    );
    // `blank_cell_items` calls `item_band(r)` and then `item_points(r)`, which calls it again.
    assert!(repeats > 0, "repeats within a decision are shown by value");

    // A payment statement: each payment's explanation stands alone too (here a payment calls
    // a decision with parameters twice with the same arguments).
    let contract = "examples/payment-on-results/results.cov";
    let case = "examples/payment-on-results/cases/q4-2017-18-at-target.json";
    let doc = run_json(&["eval", contract, "--input", case, "--explain", "--format", "json"]);
    let payments = doc["statement"]["payments"].as_array().expect("payments");
    assert!(payments.len() >= 2, "{doc:#}");
    for payment in payments {
        let explanation = &payment["explanation"];
        assert!(explanation.is_object(), "each payment is explained: {payment:#}");
        assert_stands_alone(explanation, &explanation["label"].to_string());
    }
}

#[test]
fn batch_explains_each_decision_once_per_row() {
    let dir = TempDir::new("batch-explain");
    let (cases, cohort) = cohort_of("examples/suffolk-personal-budget");
    let input = dir.write("cohort.jsonl", &cohort);
    let output = dir.path("out.jsonl");
    let decisions = ["indicative_budget", "moderated_budget", "eligible"];
    let mut args = vec!["batch", ALLOCATION, "--input", &input, "--output", &output, "--explain"];
    for d in &decisions {
        args.extend(["--decision", d]);
    }
    let r = run(&args);
    assert!(r.code == 0 || r.code == 1, "{}", r.show());
    let text = std::fs::read_to_string(&output).expect("batch output");
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert!(rows.len() >= cases.len() - 1, "{}", r.show());
    let (mut leaves, mut referred) = (0, 0);
    for row in &rows {
        let explanations = row["explanations"].as_array().expect("explanations");
        assert_eq!(explanations.len(), decisions.len(), "one explanation per decision: {row}");
        let mut steps = Vec::new();
        for (explanation, name) in explanations.iter().zip(decisions) {
            assert_eq!(explanation["schema"], "covenant.explanation/1");
            assert_eq!(explanation["step"]["label"], name, "in the order asked for");
            assert_eq!(explanation["step"]["value"], row["decisions"][name], "the explained value is the result");
            decision_steps(&explanation["step"], &mut steps);
        }
        for (i, (name, arguments, memoised, children)) in steps.iter().enumerate() {
            let earlier = steps[..i].iter().filter(|s| &s.0 == name && &s.1 == arguments);
            let expanded_before = earlier.clone().any(|s| s.3);
            if *memoised && !children {
                leaves += 1;
                // Only decisions that had steps of their own are referred back to.
                let first = steps.iter().position(|s| &s.0 == name && &s.1 == arguments);
                assert!(
                    expanded_before || first == Some(i),
                    "{name}{arguments} is not explained earlier in row {}",
                    row["row"]
                );
            }
            if *children {
                assert!(!expanded_before, "{name}{arguments} is explained twice in row {}", row["row"]);
            }
        }
        // A moderated budget refers back to indicative_budget, explained just before it.
        let moderated = &explanations[1]["step"];
        if moderated["value"].is_string() {
            let mut inner = Vec::new();
            decision_steps(moderated, &mut inner);
            assert!(
                inner.iter().any(|s| s.0 == "\"indicative_budget\"" && s.2 && !s.3),
                "moderated_budget shows indicative_budget by value: {moderated}"
            );
            referred += 1;
        }
    }
    assert!(referred > 0, "some case has a moderated budget");
    assert!(leaves > rows.len(), "repeats are shown by value");
}

#[test]
fn batch_reads_csv_with_dotted_columns_and_reports_bad_rows_without_stopping() {
    let dir = TempDir::new("batch-csv");
    let input = dir.write(
        "cohort.csv",
        "package.cluster,package.service,package.agreed_rate,package.hours,package.start,review_date\n\
         C4,FloatingSupport,9.00,4,2015-04-01,2015-07-01\n\
         C99,FloatingSupport,9.00,4,2015-04-01,2015-07-01\n\
         C4,FloatingSupport,\"12,34\",4,2015-04-01,2015-07-01\n\
         4,FloatingSupport,9.50,5,2015-04-01,2015-07-01\n",
    );
    let (r, out, problems) = weekly_cost_batch(&dir, &input);
    assert_eq!(r.code, 1, "a failed row makes the run exit 1\n{}", r.show());
    assert!(r.stderr.contains("rows in 4, rows out 2, rows failed 2"), "{}", r.show());
    assert!(
        r.stderr.contains("total weekly_cost: £83.50 per week"),
        "money decisions are totalled exactly\n{}",
        r.show()
    );
    assert_eq!(out, "row,weekly_cost\n1,36.00\n4,47.50\n");
    assert!(problems.contains("row 2: package.cluster: `C99` is not a Cluster"), "{problems}");
    assert!(problems.contains("row 3: package.agreed_rate"), "{problems}");
    assert!(problems.contains("commas must group thousands"), "{problems}");
}

/// Runs `batch` on a housing cohort for `weekly_cost`, writing the output and the errors to
/// files in `dir`: the run, the output and the errors.
fn weekly_cost_batch(dir: &TempDir, input: &str) -> (Run, String, String) {
    let output = dir.path("out.csv");
    let errors = dir.path("errors.txt");
    let r = run(&[
        "batch",
        TARIFF,
        "--input",
        input,
        "--output",
        &output,
        "--errors",
        &errors,
        "--decision",
        "weekly_cost",
    ]);
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    (r, read(&output), read(&errors))
}

/// CSV as spreadsheets write it: a byte order mark, CRLF line ends, quoted cells (with a
/// comma, a doubled quote standing for one) and a blank line; a row that is not UTF-8 text is
/// one bad row, and the rows after it are read as usual.
#[test]
fn batch_reads_quoted_csv_with_crlf_and_reports_a_row_that_is_not_text() {
    let dir = TempDir::new("batch-csv-quoting");
    let mut cohort =
        b"\xef\xbb\xbfpackage.cluster,package.service,package.agreed_rate,package.hours,package.start,review_date\r\n"
            .to_vec();
    cohort.extend_from_slice(b"C4,FloatingSupport,9.00,4,2015-04-01,2015-07-01\r\n\r\n");
    cohort.extend_from_slice(b"\"C4\",\"Floating\"\"Support\",\"1,009.00\",\" 2 \",2015-04-01,2015-07-01\r\n");
    cohort.extend_from_slice(b"C4,Floating\xffSupport,9.00,4,2015-04-01,2015-07-01\r\n");
    cohort.extend_from_slice(b"\"C6\",FloatingSupport,\"10.50\",10,2015-04-01,2016-03-31");
    let input = dir.0.join("cohort.csv");
    std::fs::write(&input, cohort).expect("write cohort");
    let input = input.to_string_lossy().into_owned();
    let (r, out, problems) = weekly_cost_batch(&dir, &input);
    assert_eq!(r.code, 1, "{}", r.show());
    assert!(r.stderr.contains("rows in 4, rows out 2, rows failed 2"), "the blank line is no row\n{}", r.show());
    assert_eq!(out, "row,weekly_cost\n1,36.00\n4,105.00\n");
    // The doubled quote is one quote inside the cell, so the service names nothing.
    assert!(problems.contains("row 2: package.service: `Floating\"Support` is not a Service"), "{problems}");
    assert!(problems.contains("row 3: the row is not UTF-8 text"), "{problems}");
}

#[test]
fn batch_rejects_a_header_that_does_not_match_the_inputs_before_running_any_row() {
    let dir = TempDir::new("batch-header");
    let input = dir.write("cohort.csv", "package.cluster,package.servise,review_date\nC4,FloatingSupport,2015-07-01\n");
    let r = run(&["batch", TARIFF, "--input", &input]);
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains("column package.servise: Package has no field `servise`"), "{}", r.show());
    assert!(r.stderr.contains("no column gives this required value"), "{}", r.show());
    assert!(r.stdout.is_empty(), "no row may run: {}", r.show());
}

#[test]
fn batch_stops_before_running_any_row_when_it_cannot_create_its_output_or_errors_file() {
    let dir = TempDir::new("batch-uncreatable");
    let input = dir.write("cohort.csv", &housing_cohort(10));
    let missing = dir.path("no-such-folder/out.csv");
    let r = run(&["batch", TARIFF, "--input", &input, "--output", &missing]);
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains(&format!("error: cannot write `{missing}`")), "{}", r.show());
    assert!(!r.stderr.contains("rows in"), "no row may run: {}", r.show());
    let output = dir.path("out.csv");
    let missing = dir.path("no-such-folder/errors.txt");
    let r = run(&["batch", TARIFF, "--input", &input, "--output", &output, "--errors", &missing]);
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains(&format!("error: cannot write `{missing}`")), "{}", r.show());
    assert!(!r.stderr.contains("rows in"), "no row may run: {}", r.show());
}

#[test]
fn batch_keeps_input_order_whatever_the_number_of_threads() {
    let dir = TempDir::new("batch-order");
    let input = dir.write("cohort.csv", &housing_cohort(20_000));
    let mut outputs = Vec::new();
    // More workers than cores finish pieces out of turn more often.
    for threads in ["1", "2", "5"] {
        let output = dir.path(&format!("out-{threads}.csv"));
        let r = run(&["batch", TARIFF, "--input", &input, "--output", &output, "--threads", threads]);
        assert_eq!(r.code, 0, "{}", r.show());
        assert!(r.stderr.contains("rows in 20000, rows out 20000"), "{}", r.show());
        outputs.push(std::fs::read_to_string(&output).expect("output"));
    }
    assert_eq!(outputs[0], outputs[1], "one and two threads must give identical output");
    assert_eq!(outputs[0], outputs[2], "one and five threads must give identical output");
    let numbers: Vec<&str> = outputs[0].lines().skip(1).map(|l| l.split(',').next().unwrap_or("")).collect();
    assert_eq!(numbers.len(), 20_000);
    assert!(numbers.iter().enumerate().all(|(i, n)| *n == (i + 1).to_string()), "rows come out in input order");
}

/// A housing-support cohort of `rows` varied packages.
fn housing_cohort(rows: u32) -> String {
    let mut cohort =
        String::from("package.cluster,package.service,package.agreed_rate,package.hours,package.start,review_date\n");
    for i in 0..rows {
        let hours = i % 13;
        let rate = 8 + i % 11;
        cohort.push_str(&format!(
            "C{},FloatingSupport,{rate}.{:02},{hours},2015-04-01,2015-07-01\n",
            [4, 6, 7, 10, 11][i as usize % 5],
            i % 100
        ));
    }
    cohort
}

#[test]
fn batch_stops_quietly_when_its_output_is_closed() {
    let dir = TempDir::new("batch-closed");
    let input = dir.write("cohort.csv", &housing_cohort(50_000));
    let mut child = Command::new(binary())
        .args(["batch", TARIFF, "--input", &input])
        .current_dir(common::root())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("the first line");
    assert!(first.starts_with("row,"), "{first}");
    // The reading end is closed here, as `covenant batch ... | head -1` does.
    let output = child.wait_with_output().expect("the run ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

/// A full disk: the first write fails, the workers stop taking pieces (none waits for a place
/// that will never be freed) and the run says why, whatever the number of workers.
#[cfg(target_os = "linux")]
#[test]
fn batch_stops_with_an_error_when_its_output_cannot_be_written() {
    let dir = TempDir::new("batch-full");
    let input = dir.write("cohort.csv", &housing_cohort(50_000));
    let full = dir.path("full.csv");
    std::os::unix::fs::symlink("/dev/full", &full).expect("a link to /dev/full");
    for threads in ["1", "3"] {
        let r = run(&["batch", TARIFF, "--input", &input, "--output", &full, "--threads", threads]);
        assert_eq!(r.code, 2, "{}", r.show());
        assert!(r.stderr.contains("error: cannot write the output"), "{}", r.show());
        assert!(!r.stderr.contains("rows in"), "no summary of a run whose output is lost: {}", r.show());
    }
}

#[test]
fn eval_on_a_contract_prints_the_payment_statement() {
    let contract = "tests/cases/contracts/supported_housing.cov";
    let statement = run(&["eval", contract, "--input", "tests/cases/contracts/q1-gate-fails.json"]);
    assert_eq!(statement.code, 0, "{}", statement.show());
    for expected in [
        "Payment statement: contract supported_housing",
        "Paid (1)",
        "Not paid (2)",
        "not paid: the gate \"data quality\" failed",
        "completeness = 412 of 460 (about 89.6%), needs >= 95%: about 5.4% short; 25 more would pass it",
        "paid out £130,000.00 = received £130,000.00 (conserved)",
        "receipt: rules ",
    ] {
        assert!(statement.stdout.contains(expected), "missing {expected:?}\n{}", statement.show());
    }
    let json = run_json(&["eval", contract, "--input", "tests/cases/contracts/q1-gate-fails.json", "--format", "json"]);
    assert_eq!(json["statement"]["schema"], "covenant.statement/1");
    assert_eq!(json["statement"]["paid_out"], "130000.00");
    assert_eq!(json["statement"]["payments"][1]["status"], "gate_failed");
    assert!(json["receipt"]["rules_hash"].is_string());
    let explained = run(&["eval", contract, "--input", "tests/cases/contracts/q1-capped.json", "--explain"]);
    assert_eq!(explained.code, 0, "{}", explained.show());
    assert!(explained.stdout.contains("why:"), "{}", explained.show());
    assert!(explained.stdout.contains("limited from £30,000.00 to the cap of £15,000.00"), "{}", explained.show());
}

#[test]
fn eval_on_a_contract_with_decision_evaluates_the_payment_as_a_decision() {
    let payment = run(&[
        "eval",
        "tests/cases/contracts/supported_housing.cov",
        "--input",
        "tests/cases/contracts/q1-capped.json",
        "--decision",
        "move_on",
    ]);
    assert_eq!(payment.code, 0, "{}", payment.show());
    assert!(payment.stdout.starts_with("move_on = £15,000.00"), "{}", payment.show());
}

#[test]
fn a_statement_period_that_ends_before_it_starts_is_an_error() {
    let dir = TempDir::new("period");
    let case = dir.write(
        "backwards.json",
        r#"{"period_start": "2015-06-30", "period_end": "2015-04-01", "reviewed": 1, "records": 1, "moved_on": 0}"#,
    );
    let backwards = run(&["eval", "tests/cases/contracts/supported_housing.cov", "--input", &case]);
    assert_eq!(backwards.code, 1, "{}", backwards.show());
    assert!(backwards.stderr.contains("E0513"), "{}", backwards.show());
}

/// Runs an `eval … --format json` that succeeds and returns its document, checking that it
/// is printed exactly as `serde_json::to_string_pretty` prints it.
fn run_json(args: &[&str]) -> serde_json::Value {
    let done = run(args);
    assert_eq!(done.code, 0, "{}", done.show());
    let doc = serde_json::from_str(&done.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", done.show()));
    let pretty = serde_json::to_string_pretty(&doc).expect("serialisable") + "\n";
    assert!(done.stdout == pretty, "not printed as serde_json prints it:\n{}", done.show());
    doc
}

/// Runs `batch` on `cohort` with `--explain=LAYOUT` (or without explanations for `None`) and
/// returns the output file's text.
fn batch_output(dir: &TempDir, file: &str, cohort: &str, layout: Option<&str>, name: &str) -> (Run, String) {
    let output = dir.path(name);
    let explain = layout.map(|l| format!("--explain={l}"));
    let mut args = vec!["batch", file, "--input", cohort, "--output", &output, "--threads", "2"];
    args.extend(explain.as_deref());
    let r = run(&args);
    let text = std::fs::read_to_string(&output).unwrap_or_default();
    (r, text)
}

#[test]
fn compact_traces_expand_to_exactly_the_full_explanations() {
    let examples = [
        ("examples/housing-support-tariff", TARIFF),
        ("examples/suffolk-personal-budget", ALLOCATION),
        ("examples/cluster-tariff", "examples/cluster-tariff/cluster_tariff.cov"),
        ("examples/core-and-flexi", "examples/core-and-flexi/core_flexi.cov"),
        ("examples/personal-health-budget", "examples/personal-health-budget/phb.cov"),
    ];
    for (example, file) in examples {
        let dir = TempDir::new(&format!("compact-{}", common::file_name(Path::new(example))));
        let (_, cohort) = cohort_of(example);
        // Housing rows are small: repeat them so the run has several chunks and both workers
        // meet sites first defined by the other. The first row fails (no version of the tariff
        // is valid in 2010) after using sites that the next rows need defined.
        let cohort = if file == TARIFF {
            let failing = r#"{"package":{"cluster":"C4","service":"FloatingSupport","agreed_rate":"9.00","hours":"4","start":"2010-01-01"},"review_date":"2010-07-01"}"#;
            format!("{failing}\n{}", cohort.repeat(150))
        } else {
            cohort
        };
        let input = dir.write("cohort.jsonl", &cohort);
        let (full_run, full) = batch_output(&dir, file, &input, Some("full"), "full.jsonl");
        let (compact_run, compact) = batch_output(&dir, file, &input, Some("compact"), "compact.jsonl");
        assert!(full_run.code == 0 || full_run.code == 1, "{}", full_run.show());
        assert_eq!(compact_run.code, full_run.code, "{}", compact_run.show());
        assert!(!full.is_empty(), "{example}: no rows explained\n{}", full_run.show());
        assert!(compact.len() * 3 < full.len(), "{example}: the trace is not much smaller");
        let trace = dir.write("trace.jsonl", &compact);
        let expanded = run(&["expand", file, "--trace", &trace, "--format", "json"]);
        assert_eq!(expanded.code, 0, "{}", expanded.show());
        assert!(expanded.stdout == full, "{example}: `expand` differs from `batch --explain`");
        let first: serde_json::Value = serde_json::from_str(compact.lines().next().unwrap_or("")).expect("JSON line");
        assert_eq!(first["trace"]["schema"], "covenant.trace/2");
        assert!(is_hash(&first["trace"]["rules"]), "{first}");
        // Each site and each "no value" reason is defined once, in the first row that uses it;
        // the schema and rules hash are given in the first row only.
        let mut defined = std::collections::HashSet::new();
        for (index, line) in compact.lines().enumerate() {
            let row: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            if index > 0 {
                assert!(row["trace"].get("schema").is_none() && row["trace"].get("rules").is_none(), "{row}");
            }
            for member in ["sites", "reasons"] {
                for number in row["trace"][member].as_object().into_iter().flat_map(|m| m.keys()) {
                    assert!(defined.insert((member, number.clone())), "{example}: {member} {number} defined twice");
                }
            }
        }
        if file == TARIFF {
            // The tariff's `none` cells are met on many rows, and written by number.
            assert!(defined.iter().any(|(member, _)| *member == "reasons"), "{example}: no reason numbered");
            assert!(compact.contains(r#"{"none":0}"#), "{example}: reasons are not written by number");
        }
    }
}

/// The Suffolk example's cases as a cohort in `dir`, and their compact trace: (cohort path,
/// trace text, trace path).
fn suffolk_trace(dir: &TempDir) -> (String, String, String) {
    let (_, cohort) = cohort_of("examples/suffolk-personal-budget");
    let input = dir.write("cohort.jsonl", &cohort);
    let (r, compact) = batch_output(dir, ALLOCATION, &input, Some("compact"), "compact.jsonl");
    assert_eq!(r.code, 0, "{}", r.show());
    let trace = dir.write("trace.jsonl", &compact);
    (input, compact, trace)
}

#[test]
fn expand_shows_the_rows_asked_for_as_text() {
    let dir = TempDir::new("expand-text");
    let (_, compact, trace) = suffolk_trace(&dir);
    let last: serde_json::Value = serde_json::from_str(compact.lines().last().expect("rows")).expect("JSON line");
    let row = last["row"].to_string();
    let shown = run(&["expand", ALLOCATION, "--trace", &trace, "--row", &row]);
    assert_eq!(shown.code, 0, "{}", shown.show());
    assert!(shown.stdout.starts_with(&format!("row {row}\n")), "{}", shown.show());
    assert_eq!(shown.stdout.matches("\nrow ").count(), 0, "only the row asked for: {}", shown.show());
    // The explanation's answer is the row's value (money shown with a thousands separator).
    let indicative = last["decisions"]["indicative_budget"].as_str().expect("a money string");
    let answer = shown.stdout.lines().find(|l| l.starts_with("indicative_budget = £")).expect("its answer");
    assert!(answer.replace(',', "").contains(&format!("£{indicative}")), "{answer} for {indicative}");
    assert!(shown.stdout.contains("decision indicative_budget: Money"), "the reasons are shown: {}", shown.show());
}

#[test]
fn expand_refuses_other_rules_damaged_traces_and_missing_rows() {
    let dir = TempDir::new("expand-errors");
    let (input, compact, trace) = suffolk_trace(&dir);

    let other = run(&["expand", TARIFF, "--trace", &trace]);
    assert_eq!(other.code, 2, "{}", other.show());
    assert!(other.stderr.contains("line 1") && other.stderr.contains("other rules"), "{}", other.show());

    let missing = run(&["expand", ALLOCATION, "--trace", &trace, "--row", "99999"]);
    assert_eq!(missing.code, 2, "{}", missing.show());
    assert!(missing.stderr.contains("no row 99999"), "{}", missing.show());

    let mut first: serde_json::Value = serde_json::from_str(compact.lines().next().expect("rows")).expect("JSON line");
    first["trace"]["steps"][0] = serde_json::json!(987654);
    let damaged = dir.write("damaged.jsonl", &format!("{first}\n"));
    let r = run(&["expand", ALLOCATION, "--trace", &damaged]);
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains("site 987654 is not defined"), "{}", r.show());

    let (_, full) = batch_output(&dir, ALLOCATION, &input, Some("full"), "full.jsonl");
    let not_a_trace = dir.write("full-copy.jsonl", &full);
    let r = run(&["expand", ALLOCATION, "--trace", &not_a_trace]);
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains("--explain=compact"), "{}", r.show());

    let (r, _) = batch_output(&dir, ALLOCATION, &input, Some("compact"), "out.csv");
    assert_eq!(r.code, 2, "{}", r.show());
    assert!(r.stderr.contains(".jsonl"), "{}", r.show());
}
