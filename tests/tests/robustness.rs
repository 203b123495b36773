//! Nothing panics: hostile or broken sources give diagnostics, hostile inputs give input
//! errors, and arithmetic that overflows gives evaluation error E0502.
//!
//! Each test runs on the ordinary test thread (2 MiB of stack unless `RUST_MIN_STACK` says
//! otherwise), the same budget a host application's worker thread would have.

mod common;

use covenant_driver::{Compilation, compile_text, inputs::read_inputs};
use covenant_eval::{Compiled, Indexes, NoTrace, Recorder, Session};
use covenant_ir::Value;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rust_decimal::Decimal;
use serde_json::json;

fn codes(c: &Compilation) -> Vec<&'static str> {
    c.diagnostics.iter().map(|d| d.code).collect()
}

/// A program that is only too deep or too long is either accepted or refused with E0004
/// ("nested too deeply" / "too long"), never with an unrelated error.
fn accepted_or_too_deep(c: &Compilation) {
    let errors: Vec<&str> = c.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.code).collect();
    assert!(errors.iter().all(|&code| code == "E0004"), "expected only E0004, found {errors:?}");
    assert!(errors.len() <= 1, "one limit, one diagnostic: {errors:?}");
}

/// Compiles, renders every diagnostic (rendering must not panic either) and, when the
/// program compiled, evaluates every root decision on no inputs with tracing on.
fn compile_render_and_run(name: &str, text: &str) -> Compilation {
    let compilation = compile_text(name, text);
    for d in &compilation.diagnostics {
        let _ = covenant_report::diagnostics::render(d, &compilation.sources, false);
        let _ = covenant_report::diagnostics::to_json(d, &compilation.sources);
    }
    if !compilation.has_errors() {
        let inputs = vec![Value::None("not given".into()); compilation.program.inputs.len()];
        let mut session = Session::new(&compilation.program, inputs.clone());
        for id in covenant_driver::root_decisions(&compilation) {
            let mut recorder = Recorder::new();
            let _ = session.decision(id, &mut recorder);
        }
        same_when_compiled(&compilation, inputs);
    }
    compilation
}

/// Every decision without parameters gives the same value or error with its body compiled as
/// node by node (nesting limits included), with tables looked up through their indexes (as a
/// batch run looks them up, compiled lookups from the table's grid).
fn same_when_compiled(compilation: &Compilation, inputs: Vec<Value>) -> usize {
    let program = &compilation.program;
    let (compiled, indexes) = (Compiled::new(program), Indexes::build(program));
    let mut interpreted = Session::new(program, inputs.clone()).with_indexes(&indexes);
    let mut fast = Session::new(program, inputs).with_compiled(&compiled).with_indexes(&indexes);
    let mut compared = 0;
    for (index, decision) in program.decisions.iter().enumerate() {
        if decision.params.is_empty() {
            let id = covenant_ir::DecisionId(index as u32);
            let expected = interpreted.decision(id, &mut NoTrace);
            assert_eq!(fast.decision(id, &mut NoTrace), expected, "decision `{}`", decision.name);
            compared += 1;
        }
    }
    compared
}

// ----- the compiler

#[test]
fn ten_thousand_nested_parentheses() {
    let depth = 10_000;
    let text = format!("decision a: Int = {}1{}\n", "(".repeat(depth), ")".repeat(depth));
    let c = compile_render_and_run("parens.cov", &text);
    // Either it is read (and `a` is 1) or it is refused with E0004: never a crash.
    accepted_or_too_deep(&c);
    if !c.has_errors() {
        let id = c.program.find_decision("a").expect("a");
        let value = Session::new(&c.program, Vec::new()).decision(id, &mut NoTrace);
        match value {
            Ok(v) => assert_eq!(v, Value::Num(Decimal::ONE)),
            Err(e) => assert_eq!(e.code, "E0508", "only the nesting limit may stop it: {e}"),
        }
    }
}

#[test]
fn ten_thousand_unclosed_parentheses() {
    let text = format!("decision a: Int = {}1\n", "(".repeat(10_000));
    let c = compile_render_and_run("unclosed.cov", &text);
    assert!(c.has_errors(), "unclosed parentheses must be an error");
}

#[test]
fn a_line_of_a_hundred_thousand_characters() {
    // `1 + 1 + … + 1`: 25,000 additions on one line.
    let sum = vec!["1"; 25_000].join(" + ");
    assert!(sum.len() >= 99_000);
    let text = format!("decision total: Int = {sum}\n");
    let c = compile_render_and_run("long.cov", &text);
    accepted_or_too_deep(&c);
    if !c.has_errors() {
        let id = c.program.find_decision("total").expect("total");
        match Session::new(&c.program, Vec::new()).decision(id, &mut NoTrace) {
            Ok(v) => assert_eq!(v, Value::Num(Decimal::from(25_000)), "the sum of 25,000 ones"),
            Err(e) => assert_eq!(e.code, "E0508", "only the nesting limit may stop it: {e}"),
        }
    }
}

#[test]
fn deeply_nested_if_let_and_unary_minus() {
    let n = 5_000;
    let ifs = format!("decision a: Int = {}1{}\n", "if true then ".repeat(n), " else 0".repeat(n));
    accepted_or_too_deep(&compile_render_and_run("ifs.cov", &ifs));
    let lets = format!("decision b: Int = {}1\n", (0..n).map(|i| format!("let x{i} = 1 in ")).collect::<String>());
    accepted_or_too_deep(&compile_render_and_run("lets.cov", &lets));
    let minus = format!("decision c: Int = {}1\n", "-".repeat(n));
    accepted_or_too_deep(&compile_render_and_run("minus.cov", &minus));
    let nots = format!("decision d: Bool = {}true\n", "not ".repeat(n));
    accepted_or_too_deep(&compile_render_and_run("nots.cov", &nots));
    // Nested empty lists have no element type to infer, so E0301 is allowed here too.
    let lists = format!("decision e: list of Int = {}{}\n", "[".repeat(n), "]".repeat(n));
    let c = compile_render_and_run("lists.cov", &lists);
    assert!(c.diagnostics.iter().all(|d| matches!(d.code, "E0004" | "E0301")), "{:?}", codes(&c));
}

/// Where to cut a file: after every line, and once inside every other line (at an offset
/// that moves from line to line, so cuts land inside names, money, text and operators). Every
/// character boundary takes about two minutes in a debug build; set
/// `COVENANT_EVERY_PREFIX=1` to cut there too.
/// The most prefixes compiled per file (set COVENANT_EVERY_PREFIX for all of them).
const MAX_CUTS: usize = 250;

fn cut_points(text: &str) -> Vec<usize> {
    if std::env::var_os("COVENANT_EVERY_PREFIX").is_some() {
        return (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
    }
    let mut cuts = vec![0, text.len()];
    let mut start = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let end = start + line.len();
        cuts.push(end);
        if n % 2 == 0 {
            let mut inside = start + (n * 7 + 3) % line.len().max(1);
            while !text.is_char_boundary(inside) {
                inside += 1;
            }
            cuts.push(inside);
        }
        start = end;
    }
    cuts.sort_unstable();
    cuts.dedup();
    // Every prefix costs a compile of the whole prefix, so long files would make this
    // quadratic: keep an even spread of at most MAX_CUTS (and the whole file).
    if cuts.len() > MAX_CUTS {
        let step = cuts.len().div_ceil(MAX_CUTS);
        let last = text.len();
        cuts = cuts.into_iter().step_by(step).chain([last]).collect();
        cuts.dedup();
    }
    cuts
}

#[test]
fn every_line_prefix_of_every_example_and_stdlib_file() {
    let root = common::root();
    let mut files = common::files_with_ext_recursive(&root.join("examples"), "cov");
    files.extend(common::files_with_ext_recursive(&root.join("stdlib"), "cov"));
    assert!(files.len() >= 6, "{files:?}");
    let mut prefixes = 0;
    for path in &files {
        let text = common::read(path);
        let name = common::file_name(path);
        for end in cut_points(&text) {
            let c = compile_text(&name, &text[..end]);
            for d in &c.diagnostics {
                let _ = covenant_report::diagnostics::render(d, &c.sources, false);
            }
            prefixes += 1;
        }
    }
    assert!(prefixes >= 1_500, "only {prefixes} prefixes were compiled");
}

#[test]
fn every_prefix_of_a_dense_file() {
    // Every character boundary of a short file that packs most token kinds together.
    let text = "import nhs.clusters\n/// doc\nenum E ordered { A = 1 \"a\", B }\nrecord R { x: optional Money per week, y: list of E }\n\
                input r: R\nparam p: Percent = -2.5%\n\
                table t(c: Cluster, h: hours per week) -> Money hit first source \"s\" {\n  4 | C5, up to 5 hours per week => £1,234.50\n  _, over 5 to under 10 => none \"n\"\n  _, _ => £0\n}\n\
                decision d(a: Int): Bool = a >= 2 and not (a == 3) or a in {} \n\
                decision e: Money = round(sum(x * 2 for x in [£1, £2] if x > £1), 2, half_up) otherwise £0\n\
                decision f: Date = 2015-04-01 + 6 months\ndecision g: E = match A { A => B, _ => A }\n\
                test \"t\" { given r = { y: [] } expect e == £4.00 }\n";
    let mut prefixes = 0;
    for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
        compile_render_and_run("dense.cov", &text[..end]);
        prefixes += 1;
    }
    assert!(prefixes > 500);
}

#[test]
fn huge_and_over_precise_numbers_are_e0003() {
    for literal in [
        "£99999999999999999999999999999999",
        "99999999999999999999999999999999",
        "£0.00000000000000000000000000000001",
        "1.00000000000000000000000000000001",
        "99999999999999999999999999999999%",
        "£79,228,162,514,264,337,593,543,950,336",
    ] {
        let text = format!("decision a: Money = {literal}\n");
        let c = compile_render_and_run("huge.cov", &text);
        assert!(codes(&c).contains(&"E0003"), "{literal}: expected E0003, found {:?}", codes(&c));
    }
    let c = compile_render_and_run("huge.cov", "decision d: Duration = 99999999999 days\n");
    assert!(codes(&c).contains(&"E0003"), "a huge duration: {:?}", codes(&c));
    let c = compile_render_and_run("huge.cov", "decision d: Date = 2015-02-29\n");
    assert!(codes(&c).contains(&"E0310"), "a day that does not exist: {:?}", codes(&c));
}

#[test]
fn random_bytes_do_not_crash_the_compiler() {
    let mut runner = TestRunner::new(Config { cases: 256, failure_persistence: None, ..Config::default() });
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..400), |bytes| {
            let text = String::from_utf8_lossy(&bytes);
            compile_render_and_run("random.cov", &text);
            Ok(())
        })
        .expect("no panic on random bytes");
}

const TOKENS: &[&str] = &[
    "decision",
    "table",
    "input",
    "param",
    "record",
    "enum",
    "ordered",
    "test",
    "given",
    "expect",
    "import",
    "module",
    "if",
    "then",
    "else",
    "let",
    "in",
    "match",
    "and",
    "or",
    "not",
    "is",
    "none",
    "otherwise",
    "for",
    "up",
    "to",
    "under",
    "over",
    "at",
    "least",
    "per",
    "optional",
    "list",
    "of",
    "hit",
    "unique",
    "first",
    "source",
    "true",
    "false",
    "x",
    "y",
    "Money",
    "Int",
    "Decimal",
    "Percent",
    "Date",
    "Duration",
    "Text",
    "Bool",
    "hours",
    "week",
    "hour",
    "month",
    "months",
    "days",
    "£1,234.50",
    "£12,34",
    "£",
    "12",
    "0",
    "1.5",
    "74%",
    "2015-04-01",
    "2015-02-30",
    "\"text\"",
    "\"open",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    ".",
    "|",
    "=>",
    "->",
    "_",
    "///",
    "//",
    "\n",
    "round",
    "half_up",
    "sum",
    "count",
    "min",
    "max",
    "date",
    "nhs.clusters",
    "C4",
    "§",
];

#[test]
fn random_token_soup_does_not_crash_the_compiler() {
    let mut runner = TestRunner::new(Config { cases: 256, failure_persistence: None, ..Config::default() });
    runner
        .run(&proptest::collection::vec(0..TOKENS.len(), 0..120), |picks| {
            let text: Vec<&str> = picks.iter().map(|&i| TOKENS[i]).collect();
            compile_render_and_run("soup.cov", &text.join(" "));
            Ok(())
        })
        .expect("no panic on token soup");
}

#[test]
fn random_well_formed_decisions_do_not_crash_the_evaluator() {
    // Decisions built from a small expression grammar, over literal operands, so that most
    // compile and are then evaluated (with overflow, division by zero and so on).
    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            (-1_000_000i64..1_000_000).prop_map(|n| n.to_string()),
            (0i64..100_000_000).prop_map(|p| format!("£{}.{:02}", p / 100, p % 100)),
            (0u32..200).prop_map(|p| format!("{p}%")),
            Just("79228162514264337593543950335".to_string()),
            Just("0".to_string()),
        ]
    }
    let expr = leaf().prop_recursive(6, 64, 2, |inner| {
        prop_oneof![
            (inner.clone(), prop_oneof![Just("+"), Just("-"), Just("*"), Just("/")], inner.clone())
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("round({a}, 2, half_even)")),
            inner.clone().prop_map(|a| format!("-{a}")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("max({a}, {b})")),
        ]
    });
    let mut runner = TestRunner::new(Config { cases: 256, failure_persistence: None, ..Config::default() });
    runner
        .run(&expr, |e| {
            for ty in ["Decimal", "Money", "Percent", "Int"] {
                compile_render_and_run("expr.cov", &format!("decision a: {ty} = {e}\n"));
            }
            Ok(())
        })
        .expect("no panic on arithmetic");
}

// ----- the evaluator

#[test]
fn multiplying_near_decimal_max_is_e0502() {
    let max = Decimal::MAX;
    let text = format!(
        "param big: Decimal = {max}\nparam two: Decimal = 2\n\
         decision product: Decimal = big * two\n\
         decision total: Decimal = big + big\n\
         decision difference: Decimal = -big - big\n\
         param big_money: Money = £{max}\n\
         decision money: Money = big_money * 1.5\n"
    );
    let c = compile_text("overflow.cov", &text);
    assert!(!c.has_errors(), "{}", common::render_diagnostics(&c));
    let mut session = Session::new(&c.program, Vec::new());
    for name in ["product", "total", "difference", "money"] {
        let id = c.program.find_decision(name).expect("declared");
        let mut recorder = Recorder::new();
        match session.decision(id, &mut recorder) {
            Err(e) => assert_eq!(e.code, "E0502", "{name}: {e}"),
            Ok(v) => panic!("{name}: expected overflow E0502, got {v:?}"),
        }
        let step = recorder.finish().expect("a partial explanation");
        assert!(step.is_failure(), "{name}: the explanation shows the failure");
    }
}

#[test]
fn multiplying_two_inputs_near_decimal_max_is_e0502() {
    let c = compile_text("overflow.cov", "input a: Money\ninput b: Decimal\ndecision product: Money = a * b\n");
    assert!(!c.has_errors(), "{}", common::render_diagnostics(&c));
    let id = c.program.find_decision("product").expect("declared");
    for (a, b) in [
        (Decimal::MAX, Decimal::MAX),
        (Decimal::MAX, Decimal::from(2)),
        (Decimal::MIN, Decimal::from(-2)),
        (Decimal::MAX, Decimal::MIN),
    ] {
        let mut session = Session::new(&c.program, vec![Value::Num(a), Value::Num(b)]);
        match session.decision(id, &mut NoTrace) {
            Err(e) => assert_eq!(e.code, "E0502", "{a} * {b}: {e}"),
            Ok(v) => panic!("{a} * {b}: expected E0502, got {v:?}"),
        }
    }
}

#[test]
fn division_by_a_tiny_number_and_by_zero() {
    let c = compile_text("div.cov", "input a: Decimal\ninput b: Decimal\ndecision q: Decimal = a / b\n");
    assert!(!c.has_errors(), "{}", common::render_diagnostics(&c));
    let id = c.program.find_decision("q").expect("declared");
    let tiny = Decimal::new(1, 28);
    for (a, b, code) in [(Decimal::MAX, tiny, "E0502"), (Decimal::ONE, Decimal::ZERO, "E0501")] {
        let mut session = Session::new(&c.program, vec![Value::Num(a), Value::Num(b)]);
        match session.decision(id, &mut NoTrace) {
            Err(e) => assert_eq!(e.code, code, "{a} / {b}: {e}"),
            Ok(v) => panic!("{a} / {b}: expected {code}, got {v:?}"),
        }
    }
}

#[test]
fn rounding_near_decimal_max_does_not_panic() {
    let c = compile_text(
        "round.cov",
        "input a: Money\ndecision u: Money = round(a, 0, up)\ndecision h: Money = round(a, 2, half_up)\n\
         decision many: Money = round(a, 99, half_even)\n",
    );
    // 99 places may be refused by the checker or clamped by the evaluator; either way, no panic.
    let c = if c.has_errors() {
        compile_text(
            "round.cov",
            "input a: Money\ndecision u: Money = round(a, 0, up)\ndecision h: Money = round(a, 2, half_up)\n",
        )
    } else {
        c
    };
    assert!(!c.has_errors(), "{}", common::render_diagnostics(&c));
    let almost_max = Decimal::from_i128_with_scale(Decimal::MAX.mantissa(), 1);
    for a in [Decimal::MAX, Decimal::MIN, almost_max, -almost_max, Decimal::new(-5, 28)] {
        let mut session = Session::new(&c.program, vec![Value::Num(a)]);
        for id in covenant_driver::root_decisions(&c) {
            let _ = session.decision(id, &mut Recorder::new());
        }
    }
    // A whole number has nothing to round: Decimal::MAX rounded up to 0 places is itself.
    let u = c.program.find_decision("u").expect("declared");
    let max = Session::new(&c.program, vec![Value::Num(Decimal::MAX)]).decision(u, &mut NoTrace);
    assert_eq!(max, Ok(Value::Num(Decimal::MAX)));
    let up = Session::new(&c.program, vec![Value::Num(almost_max)]).decision(u, &mut NoTrace);
    assert_eq!(up, Ok(Value::Num(Decimal::from_i128_with_scale(Decimal::MAX.mantissa() / 10 + 1, 0))));
}

#[test]
fn three_hundred_nested_decision_calls_are_e0508() {
    let n = 300;
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!("decision d{i}: Int = d{} + 1\n", i + 1));
    }
    text.push_str(&format!("decision d{n}: Int = 0\n"));
    let c = compile_text("chain.cov", &text);
    assert!(!c.has_errors(), "{}", common::render_diagnostics(&c));
    let id = c.program.find_decision("d0").expect("d0");
    let mut recorder = Recorder::new();
    match Session::new(&c.program, Vec::new()).decision(id, &mut recorder) {
        Err(e) => assert_eq!(e.code, "E0508", "{e}"),
        Ok(v) => panic!("expected E0508 beyond 256 nested calls, got {v:?}"),
    }
    // A chain within the limit evaluates; its last decision is reached from the middle.
    let mid = c.program.find_decision("d150").expect("d150");
    let v = Session::new(&c.program, Vec::new()).decision(mid, &mut NoTrace);
    assert_eq!(v, Ok(Value::Num(Decimal::from(150))));
}

/// Chains of calls through nested expressions whose depth crosses the nesting limit at every
/// point, with calls remembered at one depth and asked for again deeper: compiled bodies fail
/// with E0508 exactly where the interpreter does, and give the same values elsewhere. The
/// leaf at the end of the chain is computed again on every call (a small body), remembered
/// (it calls a decision), reads a field of a local and compares it with a constant, or looks
/// up table cells that are records and lists of constants (given from the table's grid, at
/// the levels evaluating them counts).
#[test]
fn compiled_bodies_meet_the_nesting_limits_where_the_interpreter_does() {
    let leaves = [
        "decision leaf(x: Int): Int = x * 2\n",
        "decision leaf(x: Int): Int = twice(x)\ndecision twice(x: Int): Int = x * 2\n",
        "record P {\n  n: Int\n}\ndecision leaf(x: Int): Int = half(P { n: x })\n\
         decision half(p: P): Int = if p.n > 0 then p.n * 2 else 0\n",
        "enum K { A, B }\nrecord P {\n  n: Int\n}\ntable pick(k: K) -> P\n  hit unique\n{\n  A => P { n: 2 }\n  B => P { n: 3 }\n}\n\
         decision leaf(x: Int): Int = pick(A).n * x\n",
        "enum K { A, B }\ntable picks(k: K) -> list of Int\n  hit unique\n{\n  A => [1, 2]\n  B => []\n}\n\
         decision leaf(x: Int): Int = count(i for i in picks(A)) + count(i for i in picks(B)) + x\n",
    ];
    // (nesting of each decision in the chain, length of the chain, extra nesting of its last
    // decision): a grid, and a sweep that puts the leaf's call at every depth near the limit.
    let grid = [1, 2, 5, 9, 20, 60, 100, 150].into_iter().flat_map(|n| [2, 3, 4, 6, 10, 30, 60].map(|c| (n, c, 0)));
    let sweep = (0..=41).map(|extra| (40, 12, extra));
    let (mut compared, mut too_deep) = (0, 0);
    for ((nesting, chain, extra), leaf) in grid.chain(sweep).flat_map(|case| leaves.map(|leaf| (case, leaf))) {
        let wrap = |inner: String, n: usize| format!("{}{inner}{}", "(1 + ".repeat(n), ")".repeat(n));
        let mut text = String::from(leaf);
        for i in 0..chain {
            let next = if i + 1 == chain { wrap("leaf(1)".to_string(), extra) } else { format!("d{}", i + 1) };
            text.push_str(&format!("decision d{i}: Int = {}\n", wrap(next, nesting)));
        }
        // `leaf(1)` is remembered shallow, then asked for at the end of the deepest chain.
        text.push_str(&format!("decision top: Int = leaf(1) + {}\n", wrap("d0".to_string(), nesting)));
        let c = compile_text("limits.cov", &text);
        assert!(!c.has_errors() || codes(&c).contains(&"E0004"), "{}", common::render_diagnostics(&c));
        if c.has_errors() {
            continue;
        }
        compared += same_when_compiled(&c, Vec::new());
        let top = c.program.find_decision("top").expect("top");
        too_deep += usize::from(Session::new(&c.program, Vec::new()).decision(top, &mut NoTrace).is_err());
    }
    assert!(compared > 600, "only {compared} decisions compared");
    assert!(too_deep > 60, "the limit was reached {too_deep} times");
}

/// Chains of calls one level each, so that the limit on nested calls (not on nesting) is
/// what a long one meets, ending in each kind of leaf: compiled bodies, with small callees
/// compiled into their callers, fail where the interpreter does and agree elsewhere. A leaf
/// may first compute a decision without parameters at the end of the chain (a call nested in
/// a small callee), and `leaf(1)` may be remembered shallow first (so the memo must know how
/// many nested calls it took).
#[test]
fn compiled_bodies_meet_the_call_limit_where_the_interpreter_does() {
    let leaves = [
        "decision leaf(x: Int): Int = x * 2\n",
        "decision leaf(x: Int): Int = twice(x)\ndecision twice(x: Int): Int = x * 2\n",
        "decision leaf(x: Int): Int = twice(x)\ndecision twice(x: Int): Int = x * k\n",
        "record P {\n  n: Int\n}\ndecision leaf(x: Int): Int = half(P { n: x })\n\
         decision half(p: P): Int = if p.n > 0 then p.n * 2 else 0\n",
    ];
    let (mut compared, mut too_deep) = (0, 0);
    for ((chain, leaf), top) in
        (248..=262).flat_map(|chain| leaves.map(|leaf| (chain, leaf))).flat_map(|c| [(c, false), (c, true)])
    {
        let mut text = String::from(leaf);
        if top {
            text.push_str("decision top: Int = leaf(1) + d0\n");
        }
        for i in 0..chain {
            let next = if i + 1 == chain { "leaf(1)".to_string() } else { format!("d{}", i + 1) };
            text.push_str(&format!("decision d{i}: Int = {next}\n"));
        }
        // Declared last, so that evaluating the chain computes it first at its end.
        text.push_str("decision k: Int = 3\n");
        let c = compile_text("calls.cov", &text);
        assert!(!c.has_errors(), "{}", common::render_diagnostics(&c));
        compared += same_when_compiled(&c, Vec::new());
        let first = c.program.find_decision(if top { "top" } else { "d0" }).expect("first");
        too_deep += usize::from(Session::new(&c.program, Vec::new()).decision(first, &mut NoTrace).is_err());
    }
    assert!(compared > 20_000, "only {compared} decisions compared");
    assert!(too_deep > 20, "the limit was reached {too_deep} times");
}

/// Comparisons with a constant, field reads of a local, counts and small callees compiled
/// into their callers, on locals that hold no value or records whose fields hold none: the
/// compiled bodies give the interpreter's values and errors.
#[test]
fn compiled_in_place_reads_agree_on_missing_values() {
    let text = "record R {\n  n: optional Int,\n  tag: optional Text,\n}\n\
                input rs: list of R\n\
                input r0: R\n\
                decision small(x: Int): Bool = x >= 0 and x <= 4\n\
                decision field(r: R): Bool = r.n > 1\n\
                decision all_small: Bool = all(small(r.n) for r in rs)\n\
                decision fields: Bool = all(field(r) for r in rs)\n\
                decision twos: Int = count(r for r in rs if r.n == 2)\n\
                decision tagged: Int = count(r for r in rs if r.tag == \"a\")\n\
                decision first: Bool = let r = r0 in r.n < 3\n\
                decision missing: Bool = let x = r0.n in x == 1\n\
                decision none_left: Bool = let x = (if count(rs) == 0 then 1 else none \"no\") in x >= 0\n";
    let c = compile_text("places.cov", text);
    assert!(!c.has_errors(), "{}", common::render_diagnostics(&c));
    let record = |n: Option<i64>, tag: Option<&str>| {
        Value::Record(
            vec![
                n.map_or(Value::None("not given".into()), |n| Value::Num(Decimal::from(n))),
                tag.map_or(Value::None("not given".into()), |t| Value::Text(t.into())),
            ]
            .into(),
        )
    };
    let lists = [
        vec![],
        vec![record(Some(2), Some("a")), record(Some(3), None)],
        vec![record(Some(2), Some("a")), record(None, Some("b"))],
        vec![record(None, None)],
        vec![record(Some(-1), Some("a")), record(Some(9), Some("a"))],
    ];
    let singles = [Value::None("not given".into()), record(None, None), record(Some(1), Some("x"))];
    let mut compared = 0;
    for list in &lists {
        for single in &singles {
            let inputs = vec![Value::List(list.clone().into()), single.clone()];
            compared += same_when_compiled(&c, inputs);
        }
    }
    assert!(compared >= 100, "only {compared} decisions compared");
}

/// Small callees given calls of small callees as arguments, and small callees that call
/// others, all compiled into their callers: every argument of an inlined call is evaluated
/// before any is bound (an argument that is itself an inlined call keeps its own argument in
/// the same slot), so the values are the interpreter's.
#[test]
fn inlined_calls_given_inlined_calls_as_arguments_keep_them_apart() {
    let text = "input n: Int\n\
                decision g(x: Int): Int = x + 1\n\
                decision f(a: Int, b: Int): Int = a * 10 + b\n\
                decision h(a: Int, b: Int): Int = f(g(a), g(b)) * 100 + f(b, a)\n\
                decision r: Int = f(g(n), g(n + 4))\n\
                decision s: Int = h(n + 1, f(g(n), 7))\n\
                decision t: Int = let y = g(n) in f(y, g(y))\n";
    let c = compile_text("arguments.cov", text);
    assert!(!c.has_errors(), "{}", common::render_diagnostics(&c));
    let compiled = Compiled::new(&c.program);
    let value = |name: &str, n: i64| {
        let inputs = vec![Value::Num(Decimal::from(n))];
        let id = c.program.find_decision(name).expect(name);
        Session::new(&c.program, inputs).with_compiled(&compiled).decision(id, &mut NoTrace)
    };
    let num = |n: i64| Ok(Value::Num(Decimal::from(n)));
    for n in [-3, 0, 1, 9] {
        assert_eq!(value("r", n), num((n + 1) * 10 + n + 5), "r with n = {n}");
        let inner = (n + 1) * 10 + 7;
        assert_eq!(value("s", n), num(((n + 2) * 10 + inner + 1) * 100 + inner * 10 + n + 1), "s with n = {n}");
        assert_eq!(value("t", n), num((n + 1) * 10 + n + 2), "t with n = {n}");
        assert_eq!(same_when_compiled(&c, vec![Value::Num(Decimal::from(n))]), 3);
    }
}

/// Rules compiled to closures weigh exceptions (before the rule's own condition, which an
/// exception need not imply), conflicts, conditions without a value and missing defaults as
/// the interpreter does: every decision on a sweep of inputs gives the
/// interpreter's value or error, and each of those outcomes is met.
#[test]
fn compiled_rules_give_the_interpreters_values_and_errors() {
    let text = "input a: Int\n\
                input b: optional Int\n\
                decision small(x: Int): Bool = x < 5\n\
                decision graded: Text\n  default \"none\"\n\
                  rule \"big\" when a > 10 => \"big\"\n\
                  rule \"huge\" except \"big\" when a > 20 => \"huge\"\n\
                  rule \"round\" except \"huge\" when a == 30 => \"round\"\n\
                  rule \"seven\" except \"big\" when a == 7 => \"seven, not big\"\n\
                  rule \"small\" when small(a) => \"small\"\n\
                  rule \"tiny\" except \"small\" when a < 0 => \"tiny\"\n\
                  rule \"odd\" except \"small\" when a == 3 => \"three\"\n\
                  rule \"b given\" when b > a => \"b\"\n\
                decision undefaulted: Int\n\
                  rule \"low\" when a < 10 => 1\n\
                  rule \"negative\" except \"low\" when a < 0 => 2\n\
                  rule \"high\" when a > 40 => 3\n\
                decision unconditional: Int\n  default 0\n\
                  rule \"base\" => 1\n\
                  rule \"raised\" except \"base\" when a > 10 => 2\n\
                decision nested: Int = if graded == \"none\" then undefaulted else unconditional\n";
    let c = compile_text("rules.cov", text);
    assert!(!c.has_errors(), "{}", common::render_diagnostics(&c));
    let compiled = Compiled::new(&c.program);
    assert_eq!(compiled.len(), c.program.decisions.len(), "every body compiled");
    let (mut compared, mut codes_met) = (0, std::collections::BTreeSet::new());
    for a in [-5, -1, 0, 3, 4, 7, 10, 11, 15, 21, 30, 35, 41, 50] {
        for b in [None, Some(0), Some(12), Some(60)] {
            let b = b.map_or(Value::None("not given".into()), |b: i64| Value::Num(Decimal::from(b)));
            let inputs = vec![Value::Num(Decimal::from(a)), b];
            compared += same_when_compiled(&c, inputs.clone());
            for name in ["graded", "undefaulted"] {
                let id = c.program.find_decision(name).expect(name);
                match Session::new(&c.program, inputs.clone()).decision(id, &mut NoTrace) {
                    Ok(_) => codes_met.insert("value"),
                    Err(e) => codes_met.insert(e.code),
                };
            }
        }
    }
    assert!(compared >= 150, "only {compared} decisions compared");
    // Values, conflicts (E0509), no rule and no default (E0510), and a condition without a
    // value (E0503, `b > a` with no `b`).
    for code in ["value", "E0509", "E0510"] {
        assert!(codes_met.contains(code), "{code} never met: {codes_met:?}");
    }
    assert!(codes_met.len() >= 4, "a condition without a value never failed: {codes_met:?}");
}

/// Aggregations whose elements are read where the list keeps them (the loop variable's slot
/// holding only where the list is) give the interpreter's values and errors: fields read in
/// place, an element compared with a constant, passed whole to a remembered decision or to a
/// small one compiled in place, nested aggregations reading the outer element, a loop whose
/// body is too deep to compile (each element then bound), and aggregations after one that
/// failed half-way.
#[test]
fn aggregations_reading_elements_in_place_agree_with_the_interpreter() {
    let text = "enum Band ordered { Low, Mid, High }\n\
         record R {\n  n: optional Int,\n  band: Band,\n  tags: list of Int,\n}\n\
         input rs: list of R\n\
         input bands: list of Band\n\
         decision small(x: Int): Bool = x >= 0 and x <= 4\n\
         decision heavy(r: R): Int = count(t for t in r.tags if t > 2) + 1\n\
         decision band_of(r: R): Band = r.band\n\
         decision total: Int = sum(r.n for r in rs)\n\
         decision highs: Int = count(b for b in bands if b == High)\n\
         decision over_mid: Int = count(b for b in bands if b > Mid)\n\
         decision smalls: Bool = all(small(r.n) for r in rs)\n\
         decision heavies: Int = sum(heavy(r) for r in rs)\n\
         decision nested: Int = sum(count(t for t in r.tags if t > 1) for r in rs)\n\
         decision nested_outer: Int = sum(count(t for t in r.tags if t > r.n) for r in rs)\n\
         decision highest: Int = count(r for r in rs if band_of(r) == High)\n\
         decision after: Int = count(r for r in rs if r.n > 0) + count(b for b in bands if b == Low)\n";
    // A body deeper than the compiled levels: its deepest nodes are left to the interpreter.
    let text = format!("{text}decision deep: Int = sum(r.n{} for r in rs)\n", " + 1".repeat(110));
    let c = compile_text("elements.cov", &text);
    assert!(!c.has_errors(), "{}", common::render_diagnostics(&c));
    let num = |n: i64| Value::Num(Decimal::from(n));
    let record = |n: Option<i64>, band: u32, tags: &[i64]| {
        Value::Record(
            vec![
                n.map_or(Value::None("not given".into()), num),
                Value::Enum(band),
                Value::List(tags.iter().map(|&t| num(t)).collect::<Vec<_>>().into()),
            ]
            .into(),
        )
    };
    let lists = [
        vec![],
        vec![record(Some(2), 2, &[1, 3, 5]), record(Some(0), 0, &[]), record(Some(4), 2, &[4, 4])],
        vec![record(Some(1), 1, &[2]), record(None, 2, &[9]), record(Some(7), 0, &[1, 8])],
        vec![record(Some(-1), 2, &[0, 0, 3])],
    ];
    let band_lists: [&[u32]; 3] = [&[], &[2, 0, 2, 1], &[0, 0, 1]];
    let mut compared = 0;
    for list in &lists {
        for bands in band_lists {
            let bands = Value::List(bands.iter().map(|&b| Value::Enum(b)).collect::<Vec<_>>().into());
            compared += same_when_compiled(&c, vec![Value::List(list.clone().into()), bands]);
        }
    }
    assert!(compared >= 120, "only {compared} decisions compared");
    // The element compared with a constant: two `High` among four bands.
    let inputs = vec![
        Value::List(lists[1].clone().into()),
        Value::List(vec![Value::Enum(2), Value::Enum(0), Value::Enum(2)].into()),
    ];
    let compiled = Compiled::new(&c.program);
    let highs = c.program.find_decision("highs").expect("highs");
    assert_eq!(Session::new(&c.program, inputs).with_compiled(&compiled).decision(highs, &mut NoTrace), Ok(num(2)));
}

/// Comparisons of a number with a constant, compiled to compare mantissas when the scales
/// agree: every operator, constants and inputs of several scales and signs (and none), give
/// the interpreter's results.
#[test]
fn compiled_comparisons_with_constants_agree_with_the_interpreter() {
    let constants = ["0", "4", "-3", "1.5", "-0.25", "2.50", "100"];
    let ops = ["==", "!=", "<", "<=", ">", ">="];
    let mut text = String::from("input x: optional Decimal\n");
    for (i, constant) in constants.iter().enumerate() {
        for (j, op) in ops.iter().enumerate() {
            text.push_str(&format!("decision c{i}_{j}: Bool = x {op} {constant}\n"));
        }
    }
    let c = compile_text("constants.cov", &text);
    assert!(!c.has_errors(), "{}", common::render_diagnostics(&c));
    let inputs = ["0", "-0", "4", "4.0", "-3", "1.5", "1.50", "-0.25", "2.5", "99.99", "100.00", "7"];
    let mut compared = 0;
    for input in inputs {
        let x = Value::Num(input.parse::<Decimal>().expect("a decimal"));
        compared += same_when_compiled(&c, vec![x]);
    }
    compared += same_when_compiled(&c, vec![Value::None("not given".into())]);
    assert_eq!(compared, (inputs.len() + 1) * constants.len() * ops.len());
}

#[test]
fn a_long_cycle_is_reported_once_not_by_overflowing_the_stack() {
    let n = 5_000;
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!("decision d{i}: Int = d{} + 1\n", (i + 1) % n));
    }
    let c = compile_text("cycle.cov", &text);
    assert!(codes(&c).contains(&"E0205"), "{:?}", codes(&c));
}

#[test]
fn a_wide_decision_graph_with_tracing_stays_bounded() {
    // Each decision uses the previous one twice: 2^40 paths if the explanation expanded
    // every repeat. The recorder's limit keeps it finite.
    let n = 40;
    let mut text = String::from("decision d0: Int = 1\n");
    for i in 1..=n {
        text.push_str(&format!("decision d{i}: Int = d{p} + d{p} - d{p}\n", p = i - 1));
    }
    let c = compile_text("wide.cov", &text);
    assert!(!c.has_errors(), "{}", common::render_diagnostics(&c));
    let id = c.program.find_decision(&format!("d{n}")).expect("last");
    let mut recorder = Recorder::with_limit(10_000);
    let v = Session::new(&c.program, Vec::new()).decision(id, &mut recorder);
    assert_eq!(v, Ok(Value::Num(Decimal::ONE)));
    let step = recorder.finish().expect("an explanation");
    assert!(step.size() < 1_000_000, "the explanation has {} steps", step.size());
}

// ----- inputs

fn input_program() -> Compilation {
    let c = compile_text(
        "inputs.cov",
        "enum Band ordered { Low = 1, High = 2 }\n\
         record Rating { item: Int, rating: Int }\n\
         record Person { ratings: list of Rating, band: Band, moderation: optional Percent, start: Date }\n\
         input person: Person\n\
         input amount: Money\n\
         input period: Duration\n\
         input flag: Bool\n\
         input note: Text\n\
         input grid: list of list of list of Int\n",
    );
    assert!(!c.has_errors(), "{}", common::render_diagnostics(&c));
    c
}

fn good_inputs() -> serde_json::Value {
    json!({
        "person": { "ratings": [{ "item": 1, "rating": 2 }], "band": "High", "start": "2015-04-01" },
        "amount": "12.50",
        "period": "6 months",
        "flag": true,
        "note": "ok",
        "grid": [[[1, 2], [3]], []]
    })
}

#[test]
fn good_inputs_are_read() {
    let c = input_program();
    let values = read_inputs(&c.program, &good_inputs()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(values.len(), 6);
    assert_eq!(values[1], Value::Num(Decimal::new(1250, 2)));
}

#[test]
fn wrongly_typed_inputs_name_their_paths() {
    let c = input_program();
    // With `arbitrary_precision` the number keeps its text, which has an exponent.
    let exponent: serde_json::Value = serde_json::from_str("1e400").expect("kept as text");
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (json!({ "person": [] }), "person"),
        (json!({ "person": { "ratings": {}, "band": "High", "start": "2015-04-01" } }), "person.ratings"),
        (
            json!({ "person": { "ratings": [{ "item": 1, "rating": "x" }], "band": "High", "start": "2015-04-01" } }),
            "person.ratings[0].rating",
        ),
        (
            json!({ "person": { "ratings": [{ "item": 1, "rating": 2.5 }], "band": "High", "start": "2015-04-01" } }),
            "person.ratings[0].rating",
        ),
        (
            json!({ "person": { "ratings": [{ "item": 1, "rating": 2 }, { "item": 2 }], "band": "High", "start": "2015-04-01" } }),
            "person.ratings[1].rating",
        ),
        (json!({ "person": { "ratings": [], "band": "Medium", "start": "2015-04-01" } }), "person.band"),
        (json!({ "person": { "ratings": [], "band": 7, "start": "2015-04-01" } }), "person.band"),
        (json!({ "person": { "ratings": [], "band": "Low", "start": "2015-02-29" } }), "person.start"),
        (json!({ "person": { "ratings": [], "band": "Low", "start": 20150401 } }), "person.start"),
        (
            json!({ "person": { "ratings": [], "band": "Low", "start": "2015-04-01", "moderation": true } }),
            "person.moderation",
        ),
        (json!({ "person": { "ratings": [], "band": "Low", "start": "2015-04-01", "extra": 1 } }), "person.extra"),
        (json!({ "amount": exponent }), "amount"),
        (json!({ "amount": "1e3" }), "amount"),
        (json!({ "amount": "99999999999999999999999999999999" }), "amount"),
        (json!({ "amount": null }), "amount"),
        (json!({ "period": "soon" }), "period"),
        (json!({ "period": "99999999999 years" }), "period"),
        (json!({ "flag": "true" }), "flag"),
        (json!({ "note": 5 }), "note"),
        (json!({ "grid": [[[1, "a"]]] }), "grid[0][0][1]"),
        (json!({ "grid": [[1]] }), "grid[0][0]"),
        (json!({ "unknown": 1 }), "unknown"),
    ];
    for (patch, path) in cases {
        let mut document = good_inputs();
        for (k, v) in patch.as_object().expect("an object") {
            document[k] = v.clone();
        }
        match read_inputs(&c.program, &document) {
            Ok(_) => panic!("{patch}: expected an error at `{path}`"),
            Err(errors) => assert!(
                errors.iter().any(|e| e.path == path),
                "{patch}: expected an error at `{path}`, found {errors:?}"
            ),
        }
    }
    for document in [json!(null), json!([]), json!("person"), json!(12)] {
        let errors = read_inputs(&c.program, &document).expect_err("not an object");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "");
    }
}

/// `[[[…1…]]]`, built in memory (`json!` would serialise it recursively, and serde_json's
/// own `clone` is recursive too, so neither is used on it).
fn deep_array(depth: usize) -> serde_json::Value {
    let mut deep = json!(1);
    for _ in 0..depth {
        deep = serde_json::Value::Array(vec![deep]);
    }
    deep
}

fn deep_object(depth: usize) -> serde_json::Value {
    let mut deep = json!(1);
    for _ in 0..depth {
        let mut map = serde_json::Map::new();
        map.insert("item".into(), deep);
        deep = serde_json::Value::Object(map);
    }
    deep
}

#[test]
fn money_inputs_with_misplaced_commas_are_refused_like_literals() {
    // `£12,34` is E0003 in source (commas must group thousands); the same text in a case
    // file must not silently become £1,234.00.
    let c = input_program();
    for text in ["£12,34", "12,34", "1,2,3", "£1234,567.00", ",5"] {
        let mut document = good_inputs();
        document["amount"] = json!(text);
        match read_inputs(&c.program, &document) {
            Ok(values) => panic!("{text:?} was read as {:?}; expected an input error at `amount`", values[1]),
            Err(errors) => assert!(errors.iter().any(|e| e.path == "amount"), "{text:?}: {errors:?}"),
        }
    }
    for (text, pence) in [("£1,234.50", 123_450), ("1,234,567.00", 123_456_700), ("£12.34", 1234)] {
        let mut document = good_inputs();
        document["amount"] = json!(text);
        let values = read_inputs(&c.program, &document).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
        assert_eq!(values[1], Value::Num(Decimal::new(pence, 2)), "{text:?}");
    }
}

#[test]
fn deeply_nested_json_is_refused_not_a_crash() {
    let c = input_program();
    // Deeper than serde_json's parser allows (128), so only possible when built in memory.
    let depth = 1_000;
    for (key, value) in [("grid", deep_array(depth)), ("person", deep_object(depth)), ("amount", deep_array(depth))] {
        let mut document = good_inputs();
        document[key] = value;
        let errors = read_inputs(&c.program, &document).expect_err("deep JSON does not fit the types");
        assert!(errors.iter().any(|e| e.path.starts_with(key)), "{key}: {errors:?}");
    }
    // As text, serde_json itself refuses nesting beyond its limit (the CLI then exits 2).
    let text = format!("{{\"grid\": {}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());
}

#[test]
fn damaged_compact_traces_give_errors_not_panics() {
    use covenant_report::explain::{TraceReader, TraceSites, TraceWriter};
    let text = "import nhs.clusters\nrecord P { c: Cluster, h: hours per week }\ninput p: P\n\
                table t(c: Cluster, h: hours per week) -> Money hit first {\n  4 | C5, up to 5 hours per week => £1,234.50\n  _, over 5 to under 10 => none \"n\"\n  _, _ => £0\n}\n\
                decision cost: Money = t(p.c, p.h) otherwise £0\n\
                decision both: list of Money = [t(p.c, p.h), cost]\n\
                decision many: Int = count(x for x in [1, 2, 3] if x > 1)\n";
    let compilation = compile_text("trace.cov", text);
    assert!(!compilation.has_errors(), "{:?}", codes(&compilation));
    let program = &compilation.program;
    let sites = TraceSites::new();
    let mut writer = TraceWriter::new(program, &sites);
    // Each row's trace, defining every site and reason it uses.
    let mut rows: Vec<serde_json::Value> = Vec::new();
    for input in [json!({"p": {"c": "C4", "h": "3"}}), json!({"p": {"c": "C6", "h": "7"}})] {
        let mut session = Session::new(program, read_inputs(program, &input).expect("inputs"));
        writer.start_row();
        for id in covenant_driver::root_decisions(&compilation) {
            session.decision(id, &mut writer).expect("evaluates");
        }
        let row = writer.finish_row();
        let mut out = covenant_ir::json::JsonOut::new();
        sites.write_self_contained(&row, "r", &mut out);
        rows.push(serde_json::from_str(out.as_str()).expect("JSON"));
    }
    assert!(rows[1].to_string().contains(r#"{"none":0}"#), "a numbered reason: {}", rows[1]);
    let read = |rows: &[serde_json::Value]| {
        let mut reader = TraceReader::new(program, "r".into());
        rows.iter().map(|row| reader.read(row).map(|trees| trees.len())).collect::<Result<Vec<_>, _>>()
    };
    assert_eq!(read(&rows), Ok(vec![3, 3]));
    // Every step item, and every site and reason definition, replaced in turn by values of
    // every kind: each damaged trace is read back or refused, and nothing panics.
    let replacements = [
        json!(0),
        json!(1),
        json!(-1),
        json!(999_999_999_999u64),
        json!(1.5),
        json!("x"),
        json!(null),
        json!(true),
        json!([]),
        json!([1, 2]),
        json!({"none": 0}),
        json!({"none": 7}),
        json!({"none": "r"}),
        json!({"v": {"Enum": 99}}),
        json!({"kind": "let", "node": 9999, "label": "l", "ty": {"Record": 9}, "span": {"file": 0, "start": 0, "end": 0}, "children": 9}),
    ];
    let (mut refused, mut damaged) = (0, 0);
    for row in 0..rows.len() {
        let steps = rows[row]["steps"].as_array().map_or(0, Vec::len);
        let places =
            (0..steps).map(|i| format!("/steps/{i}")).chain(["sites", "reasons"].into_iter().flat_map(|member| {
                let keys = rows[row][member].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>());
                keys.unwrap_or_default().into_iter().map(move |k| format!("/{member}/{k}"))
            }));
        for place in places.collect::<Vec<_>>() {
            for replacement in &replacements {
                let mut copy = rows.clone();
                let Some(slot) = copy[row].pointer_mut(&place) else { continue };
                *slot = replacement.clone();
                damaged += 1;
                refused += usize::from(read(&copy).is_err());
            }
        }
    }
    assert!(damaged > 200 && refused > damaged / 2, "{refused} of {damaged} damaged traces refused");
}
