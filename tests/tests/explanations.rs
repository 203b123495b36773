//! Snapshot tests of explanations, as text and as JSON.
//!
//! Each case evaluates every root decision of a program as `covenant eval --explain` does
//! (`Session::explain_decision`: each decision afresh, each step shown once) and snapshots the text explanations and the
//! JSON explanations with the receipt. The rules hash changes whenever the IR changes, so
//! hashes are checked in code (64 hex digits, identical when evaluated twice) and replaced
//! by placeholders in the snapshots.

mod common;

use covenant_driver::{Compilation, inputs, receipt};
use covenant_eval::{Recorder, Session};
use covenant_report::explain::{explain_json, explain_json_text, explain_text, explain_texts};
use serde_json::Value as J;

/// Cases from the two worked examples: the rules, the case, and the decisions whose JSON
/// explanation is snapshotted (the text snapshot has every root decision; a full JSON tree of
/// every decision runs to megabytes, because each step carries its location and source).
const EXAMPLE_CASES: &[(&str, &str, &[&str])] = &[
    (
        "examples/housing-support-tariff/tariff.cov",
        "examples/housing-support-tariff/cases/c6-rate-above-band.json",
        &["band", "weekly_cost", "rate_within_band"],
    ),
    (
        "examples/housing-support-tariff/tariff.cov",
        "examples/housing-support-tariff/cases/c14-crisis-house-no-tariff.json",
        &["band", "has_tariff", "reason"],
    ),
    (
        "examples/suffolk-personal-budget/allocation.cov",
        "examples/suffolk-personal-budget/cases/moderated-down-25-percent.json",
        &["moderation", "moderation_allowed", "excluded"],
    ),
    (
        "examples/suffolk-personal-budget/allocation.cov",
        "examples/suffolk-personal-budget/cases/substance-misuse-blank-row.json",
        &["points", "excluded"],
    ),
];

/// The fixtures when this suite was written.
const AT_LEAST_EVAL_FIXTURES: usize = 2;

struct Explained {
    /// The text snapshot: every root decision's explanation (or its error).
    text: String,
    /// `{"receipt": …, "decisions": {name: explanation JSON}}` with hashes as placeholders.
    json: J,
    receipt: receipt::Receipt,
    /// Decisions that failed, by name.
    failed: Vec<String>,
}

fn compile(rules: &str) -> Compilation {
    let compilation = common::compile_relative(rules);
    assert!(!compilation.has_errors(), "{rules}:\n{}", common::render_errors(&compilation));
    compilation
}

fn explain_case(rules: &str, case: &str) -> Explained {
    let compilation = compile(rules);
    let program = &compilation.program;
    let document = common::read_json(&common::root().join(case));
    let values = inputs::read_inputs(program, &document).unwrap_or_else(|errors| {
        panic!("{case}: {}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
    });
    let receipt = receipt::receipt(program, &values, None);
    let mut session = Session::new(program, values);
    let mut text = format!("rules: {rules}\ncase: {case}\n");
    let mut decisions = serde_json::Map::new();
    let mut failed = Vec::new();
    let roots = covenant_driver::root_decisions(&compilation);
    assert!(!roots.is_empty(), "{rules} has no root decision");
    for id in roots {
        let name = program.decision(id).name.clone();
        let (result, step) = session.explain_decision(id);
        let step = step.unwrap_or_else(|| panic!("{case}: no explanation recorded for `{name}`"));
        text.push_str(&format!("\n----- {name}\n"));
        text.push_str(&explain_text(program, &compilation.sources, &step));
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let mut entry = serde_json::Map::new();
        if let Err(error) = &result {
            failed.push(name.clone());
            text.push_str(&format!("error: {error}\n"));
            entry.insert("error".into(), J::from(error.code));
        }
        let json = explain_json(program, &compilation.sources, &step);
        // What `eval --format json` writes without building the value is that value's text.
        assert_eq!(explain_json_text(program, &compilation.sources, &step), json.to_string(), "{case}: {name}");
        entry.insert("explanation".into(), json);
        decisions.insert(name, J::Object(entry));
    }
    let json = serde_json::json!({
        "rules": rules,
        "case": case,
        "receipt": {
            "rules_hash": "[sha-256 of the rules]",
            "inputs_hash": "[sha-256 of the inputs]",
            "engine": "[engine]",
        },
        "decisions": decisions,
    });
    Explained { text, json, receipt, failed }
}

fn snapshot_name(case: &str) -> String {
    let stem = std::path::Path::new(case).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let folder = if case.starts_with("examples/") { case.split('/').nth(1).unwrap_or("example") } else { "eval" };
    format!("{folder}__{stem}")
}

/// Snapshots the text, and the JSON of the decisions in `only` (all when `None`).
fn assert_snapshots(case: &str, explained: &Explained, only: Option<&[&str]>) {
    let name = snapshot_name(case);
    let mut json = explained.json.clone();
    if let (Some(only), Some(decisions)) = (only, json["decisions"].as_object_mut()) {
        for wanted in only {
            assert!(decisions.contains_key(*wanted), "{case}: no root decision `{wanted}`");
        }
        decisions.retain(|k, _| only.contains(&k.as_str()));
    }
    let json_text = serde_json::to_string_pretty(&json).expect("serialisable");
    insta::with_settings!({
        snapshot_path => "snapshots/explain",
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => case,
    }, {
        insta::assert_snapshot!(format!("{name}.text"), explained.text);
        insta::assert_snapshot!(format!("{name}.json"), json_text);
    });
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

/// Every JSON number in a document, with its path, whose text is not a whole number, and
/// every number-typed step (`Money`, `Decimal`, `Percent`, rates) whose value is not a string.
fn non_string_amounts(json: &J, path: &str, out: &mut Vec<String>) {
    match json {
        J::Number(n) => {
            let text = n.to_string();
            if text.contains(['.', 'e', 'E']) {
                out.push(format!("{path} = {text}"));
            }
        }
        J::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                non_string_amounts(item, &format!("{path}[{i}]"), out);
            }
        }
        J::Object(map) => {
            if let (Some(J::String(ty)), Some(value)) = (map.get("type"), map.get("value")) {
                let amount =
                    ["Money", "Decimal", "Percent", "Hours"].iter().any(|t| ty.starts_with(t)) || ty.contains(" per ");
                if amount && !matches!(value, J::String(_) | J::Null | J::Object(_)) {
                    out.push(format!("{path}.value = {value} (a {ty})"));
                }
            }
            for (k, v) in map {
                non_string_amounts(v, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

fn check_case(rules: &str, case: &str) -> Explained {
    let explained = explain_case(rules, case);
    // Hashes: well-formed and reproducible (a fresh compilation and session give the same).
    assert!(is_hash(&explained.receipt.rules_hash), "{case}: rules hash {:?}", explained.receipt.rules_hash);
    assert!(is_hash(&explained.receipt.inputs_hash), "{case}: inputs hash {:?}", explained.receipt.inputs_hash);
    assert_ne!(explained.receipt.rules_hash, explained.receipt.inputs_hash);
    assert_eq!(explained.receipt.engine, covenant_driver::ENGINE);
    let again = explain_case(rules, case);
    assert_eq!(again.receipt, explained.receipt, "{case}: evaluating twice gives another receipt");
    assert_eq!(again.text, explained.text, "{case}: evaluating twice gives another explanation");
    assert_eq!(again.json, explained.json, "{case}: evaluating twice gives another JSON explanation");
    // Money and decimals are never JSON numbers.
    let mut bad = Vec::new();
    non_string_amounts(&explained.json, "", &mut bad);
    assert!(bad.is_empty(), "{case}: amounts written as JSON numbers:\n{}", bad.join("\n"));
    // Every explanation is versioned.
    for (name, entry) in explained.json["decisions"].as_object().expect("decisions") {
        assert_eq!(entry["explanation"]["schema"], "covenant.explanation/1", "{case}: {name}");
    }
    explained
}

#[test]
fn example_cases_are_explained() {
    assert!(EXAMPLE_CASES.len() >= 4);
    for (rules, case, json_decisions) in EXAMPLE_CASES {
        let explained = check_case(rules, case);
        assert!(explained.failed.is_empty(), "{case}: decisions failed: {:?}\n{}", explained.failed, explained.text);
        assert_snapshots(case, &explained, Some(json_decisions));
    }
}

/// The `.cov` + `.json` pairs in tests/cases/eval.
fn eval_fixtures() -> Vec<(String, String)> {
    let dir = common::root().join("tests/cases/eval");
    let files = common::files_with_ext(&dir, "cov");
    assert!(
        files.len() >= AT_LEAST_EVAL_FIXTURES,
        "expected at least {AT_LEAST_EVAL_FIXTURES} fixtures in {}",
        dir.display()
    );
    files
        .iter()
        .map(|cov| {
            let json = cov.with_extension("json");
            assert!(json.is_file(), "{} has no case {}", cov.display(), json.display());
            (common::relative(cov), common::relative(&json))
        })
        .collect()
}

#[test]
fn eval_fixtures_pass_their_own_tests() {
    for (rules, _) in eval_fixtures() {
        let compilation = compile(&rules);
        let outcomes = covenant_driver::testing::run_tests(&compilation.program, |_| true);
        assert!(!outcomes.is_empty(), "{rules} has no tests");
        let failures = common::describe_failures(&compilation, &outcomes);
        assert!(failures.is_empty(), "{rules}:\n{}", failures.join("\n"));
    }
}

#[test]
fn eval_fixtures_are_explained() {
    for (rules, case) in eval_fixtures() {
        let explained = check_case(&rules, &case);
        assert_snapshots(&case, &explained, None);
    }
}

/// The steps of a JSON explanation, depth first.
fn steps(json: &J) -> Vec<&J> {
    let mut out = vec![json];
    if let Some(children) = json["children"].as_array() {
        for child in children {
            out.extend(steps(child));
        }
    }
    out
}

#[test]
fn a_no_value_cell_reached_through_otherwise_is_shown_with_its_reason() {
    let explained = check_case("tests/cases/eval/table_otherwise.cov", "tests/cases/eval/table_otherwise.json");
    let quoted = &explained.json["decisions"]["quoted_rate"]["explanation"]["step"];
    let all = steps(quoted);
    let otherwise = all.iter().find(|s| s["kind"] == "otherwise").expect("an otherwise step");
    assert_eq!(otherwise["value"], "20.00", "the fallback is the spot rate: {otherwise:#}");
    let table = all.iter().find(|s| s["kind"] == "table").expect("a table step");
    assert_eq!(table["matched"], true, "{table:#}");
    assert_eq!(table["row"], 3, "the crisis house row: {table:#}");
    assert!(explained.text.contains("crisis house: no tariff agreed"), "{}", explained.text);
    // Without `otherwise`, the same cell is an error naming the reason.
    assert_eq!(explained.failed, vec!["tariff_cost".to_string()]);
    assert_eq!(explained.json["decisions"]["tariff_cost"]["error"], "E0503");
}

#[test]
fn a_rounding_step_shows_the_value_before_and_the_mode() {
    let explained = check_case("tests/cases/eval/rounding.cov", "tests/cases/eval/rounding.json");
    assert!(explained.failed.is_empty(), "{:?}", explained.failed);
    for (decision, after, mode) in
        [("moderated_half_up", "2239.63", "half_up"), ("moderated_half_even", "2239.62", "half_even")]
    {
        let step = &explained.json["decisions"][decision]["explanation"]["step"];
        assert_eq!(step["value"], after, "{decision}: {step:#}");
        let all = steps(step);
        let round = all.iter().find(|s| s["kind"] == "round").unwrap_or_else(|| panic!("{decision}: no round step"));
        assert_eq!(round["value"], after, "{round:#}");
        let text = round.to_string();
        assert!(text.contains("2239.625") && text.contains(mode), "{decision}: {round:#}");
    }
}

#[test]
fn an_explanation_with_no_source_file_does_not_panic() {
    // A step whose span points at a file the source map does not have renders without a
    // location rather than failing.
    let compilation = compile("tests/cases/eval/rounding.cov");
    let program = &compilation.program;
    let values = inputs::read_inputs(program, &serde_json::json!({ "points": 1, "moderation": "0%" })).expect("valid");
    let id = program.find_decision("weekly_share").expect("declared");
    let mut recorder = Recorder::new();
    Session::new(program, values).decision(id, &mut recorder).expect("evaluates");
    let step = recorder.finish().expect("a step");
    let empty = covenant_source::SourceMap::default();
    let text = explain_text(program, &empty, &step);
    assert!(text.contains("weekly_share"), "{text}");
    let json = explain_json(program, &empty, &step);
    assert_eq!(json["schema"], "covenant.explanation/1");
}

#[test]
fn a_repeated_call_with_the_same_arguments_is_shown_once() {
    // With a recorder that never expands repeats (as `batch --explain` uses), a decision
    // called again with the same arguments is one line pointing back to its expansion.
    let compilation = compile("examples/suffolk-personal-budget/allocation.cov");
    let program = &compilation.program;
    let case = "examples/suffolk-personal-budget/cases/worked-example-moderated-up-15.json";
    let values = inputs::read_inputs(program, &common::read_json(&common::root().join(case))).expect("valid");
    let id = program.find_decision("points").expect("declared");
    let mut recorder = Recorder::with_limit(0);
    Session::new(program, values).decision(id, &mut recorder).expect("evaluates");
    let step = recorder.finish().expect("a step");
    let text = explain_text(program, &compilation.sources, &step);
    let repeats: Vec<&str> =
        text.lines().filter(|l| l.contains("item_band(") && l.contains("(computed once, shown above)")).collect();
    let expanded = text.lines().filter(|l| l.contains("item_band(") && !l.contains("computed once")).count();
    assert!(!repeats.is_empty(), "{text}");
    // Every repeat names arguments whose expansion is shown above it.
    for line in &repeats {
        let call = line.split(" = ").next().unwrap_or("").trim_start_matches(['│', '├', '└', '─', ' ']);
        let first = text.find(call).expect("the call is in the text");
        let first_line = text[first..].lines().next().unwrap_or("");
        assert!(!first_line.contains("computed once"), "{call} is first shown in full:\n{text}");
    }
    assert!(expanded >= repeats.len(), "{text}");
}

#[test]
fn a_row_read_as_a_whole_expands_each_call_where_it_is_first_shown() {
    // A batch row explains each decision once (a recorder that never expands repeats). An
    // item that contributed nothing is only counted in `points` ("… other items contribute
    // 0"), so its steps are out of sight there; where a later decision calls it again, its
    // steps must be shown, and every later call must point back to them.
    let compilation = compile("examples/suffolk-personal-budget/allocation.cov");
    let program = &compilation.program;
    // The first row of the benchmark's generated cohort: 18 items rated, several of them
    // contributing nothing to `points` and called again by `budget_from_formula`.
    let ratings = [
        ("H1", 3),
        ("H2", 4),
        ("H3", 2),
        ("H4", 2),
        ("H5", 3),
        ("H6", 2),
        ("H7", 3),
        ("H8", 4),
        ("H9", 1),
        ("H10", 2),
        ("H11", 3),
        ("H12", 3),
        ("H13", 1),
        ("A", 2),
        ("B", 2),
        ("C", 3),
        ("D", 2),
        ("E", 3),
    ];
    let ratings: Vec<J> =
        ratings.iter().map(|(item, rating)| serde_json::json!({"item": item, "rating": rating})).collect();
    let case = serde_json::json!({"person": {"ratings": ratings, "placement": "Community", "highly_complex_needs": false, "moderation": null}});
    let values = inputs::read_inputs(program, &case).expect("valid");
    let mut session = Session::new(program, values);
    let mut steps = Vec::new();
    for name in ["points", "indicative_budget", "moderated_budget", "eligible", "budget_from_formula"] {
        let id = program.find_decision(name).expect("declared");
        let mut recorder = Recorder::with_limit(0);
        session.decision(id, &mut recorder).expect("evaluates");
        steps.push(recorder.finish().expect("a step"));
    }
    let text = explain_texts(program, &compilation.sources, &steps).join("\n");
    let lines: Vec<&str> = text.lines().collect();
    let depth = |line: &str| line.chars().take_while(|c| matches!(c, '│' | '├' | '└' | '─' | ' ')).count();
    let mut first_shown = std::collections::BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(at) = line.find("item_points(r: ") else { continue };
        let call = line[at..].split(" = ").next().unwrap_or("");
        if first_shown.insert(call.to_string()) {
            assert!(!line.contains("computed once"), "{call} is first shown in full:\n{text}");
            let next = lines.get(i + 1).copied().unwrap_or("");
            assert!(depth(next) > depth(line), "{call} is shown with its reasons:\n{text}");
        } else {
            assert!(line.contains("(computed once, shown above)"), "{call} points back:\n{text}");
        }
    }
    assert!(text.contains("other items contribute 0"), "some items are only counted in `points`:\n{text}");
    assert!(first_shown.len() >= 10, "{text}");
}

#[test]
fn calls_written_again_from_earlier_rows_are_written_as_evaluating_them_would_write_them() {
    // A trace writer keeps calls of decisions that depend on their arguments alone from row
    // to row, and an aggregation's filter and body for an element, and writes their steps
    // again instead of evaluating them. Each row must be written exactly as a writer that
    // has kept nothing writes it: when a filter takes a call from the memo in some rows
    // and makes it in others (`warm` makes it only when not `first`), when an inner call is
    // already in the row's memo (`early` makes it before `total`), when a call written again
    // has made one that a later decision makes again (`again`), for a call that reads an
    // input and so is never kept (`reads`), when one row has two
    // records alike in value, when a call fails on some arguments, and on rows made of
    // records seen before.
    use covenant_eval::Tracer;
    use covenant_report::explain::{TraceSites, TraceWriter};
    let text = "record R { k: Int, x: Int }\ninput rs: list of R\ninput first: Bool\n\
                table t(k: Int) -> Int hit first {\n  1 => 10\n  2 => none \"blank\"\n  _ => 0\n}\n\
                decision inner(r: R): Int = t(r.k) otherwise 5\n\
                decision outer(r: R): Int = inner(r) + inner(r) + r.x\n\
                decision share(r: R): Decimal = 100 / r.x\n\
                decision early: Int = if first then sum(inner(r) for r in rs) else 0\n\
                decision warm: Int = if first then 0 else sum(outer(r) for r in rs)\n\
                decision counted: Int = count(r for r in rs if r.k == 1 and outer(r) > 0)\n\
                decision total: Int = sum(outer(r) for r in rs)\n\
                decision again: Int = sum(inner(r) for r in rs)\n\
                decision reads(r: R): Bool = r.k > 0 and first\n\
                decision flagged: Int = count(r for r in rs if reads(r))\n\
                decision shares: Decimal = sum(share(r) for r in rs)\n";
    let compilation = covenant_driver::compile_text("kept.cov", text);
    assert!(!compilation.has_errors(), "{}", common::render_errors(&compilation));
    let program = &compilation.program;
    let rows = [
        r#"{"rs": [{"k": 1, "x": 2}, {"k": 2, "x": 3}], "first": false}"#,
        r#"{"rs": [{"k": 1, "x": 2}, {"k": 2, "x": 3}], "first": true}"#,
        r#"{"rs": [{"k": 1, "x": 2}, {"k": 1, "x": 2}, {"k": 3, "x": 0}], "first": false}"#,
        r#"{"rs": [{"k": 3, "x": 4}, {"k": 1, "x": 2}], "first": true}"#,
        r#"{"rs": [{"k": 1, "x": 2}, {"k": 2, "x": 3}, {"k": 3, "x": 4}], "first": false}"#,
        r#"{"rs": [{"k": 2, "x": 3}, {"k": 1, "x": 2}], "first": false}"#,
    ];
    let sites = TraceSites::new();
    let mut keeping = TraceWriter::new(program, &sites);
    let mut session = Session::new(program, Vec::new());
    let (mut finished, mut failed) = (0, 0);
    for row in rows {
        let json: J = serde_json::from_str(row).expect("JSON");
        let values = inputs::read_inputs(program, &json).expect("valid inputs");
        // The reference: a fresh session and a writer that has kept nothing.
        let mut fresh = TraceWriter::new(program, &sites);
        let mut reference = Session::new(program, values.clone());
        session.reset(values);
        keeping.start_row();
        fresh.start_row();
        for id in covenant_driver::root_decisions(&compilation) {
            let kept = session.decision(id, &mut keeping).map_err(|e| e.code);
            let evaluated = reference.decision(id, &mut fresh).map_err(|e| e.code);
            assert_eq!(kept, evaluated, "{row}");
        }
        assert_eq!(keeping.finish_row(), fresh.finish_row(), "{row}");
        let shares = program.find_decision("shares").expect("declared");
        match session.decision(shares, &mut covenant_eval::NoTrace) {
            Ok(_) => finished += 1,
            Err(_) => failed += 1,
        }
    }
    assert_eq!((finished, failed), (5, 1));
    let kept = keeping.kept_calls().expect("a trace writer keeps calls");
    assert!(
        !kept.is_empty() && kept.written_again() > 0,
        "{} kept, {} written again",
        kept.len(),
        kept.written_again()
    );
}
