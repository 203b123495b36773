//! Both renderers over a small hand-built program with real source text, evaluated with the
//! recorder (the report crate does not depend on the parser or the checker).

use super::{explain_json, explain_text};
use covenant_eval::{Recorder, Session, Step};
use covenant_ir::*;
use covenant_source::SourceMap;
use std::sync::Arc;

const SOURCE: &str = "\
input rating: Int
input moderation: optional Percent
param price_per_point: Money = £47.50
table weight(rating: Int) -> Int hit unique {
  up to 1 => 0
  2       => 1
  3 | 4   => 5
}
decision points: Int = weight(rating)
decision indicative: Money = points * price_per_point
decision budget: Money =
  round(indicative + (moderation otherwise 0%) * indicative, 2, half_up)
decision eligible: Bool = points >= 3
";

fn num(s: &str) -> Value {
    Value::Num(s.parse().expect("decimal"))
}

/// The span of the `nth` occurrence (from 0) of `needle` in the source.
fn at(needle: &str, nth: usize) -> Span {
    let start = SOURCE.match_indices(needle).nth(nth).map(|(i, _)| i).expect("needle in source");
    Span::new(FileId(0), start, start + needle.len())
}

fn bound(v: &str, inclusive: bool) -> Option<Bound> {
    match num(v) {
        Value::Num(value) => Some(Bound { value, inclusive }),
        _ => None,
    }
}

struct Fixture {
    program: Program,
    sources: SourceMap,
    budget: DecisionId,
    eligible: DecisionId,
}

fn fixture() -> Fixture {
    let mut sources = SourceMap::default();
    sources.add("suffolk/allocation.cov", SOURCE);
    let mut p = Program { files: vec!["suffolk/allocation.cov".into()], ..Program::default() };
    let node = |p: &mut Program, kind: NodeKind, ty: Ty, span: Span| {
        p.nodes.push(Node { kind, ty, origin: Origin { span, owner: Owner::Decision(DecisionId(0)) } });
        NodeId(p.nodes.len() as u32 - 1)
    };
    p.inputs = vec![
        InputDef { name: "rating".into(), ty: Ty::INT, optional: false, span: at("rating", 0), doc: None },
        InputDef { name: "moderation".into(), ty: Ty::PERCENT, optional: true, span: at("moderation", 0), doc: None },
    ];
    let price = node(&mut p, NodeKind::Const(num("47.50")), Ty::MONEY, at("£47.50", 0));
    p.params.push(ParamDef {
        clause: None,
        valid: None,
        name: "price_per_point".into(),
        ty: Ty::MONEY,
        value: price,
        span: at("price_per_point", 0),
        doc: None,
    });
    let cells: Vec<NodeId> = [("0", "=> 0"), ("1", "=> 1"), ("5", "=> 5")]
        .iter()
        .map(|(v, s)| {
            let span = at(s, 0);
            node(&mut p, NodeKind::Const(num(v)), Ty::INT, Span { start: span.start + 3, ..span })
        })
        .collect();
    let rows = vec![
        Row {
            otherwise: false,
            keys: vec![Key::Alts(vec![KeyAlt::Range { low: None, high: bound("1", true) }])],
            cell: Cell::Value(cells[0]),
            span: at("up to 1 => 0", 0),
        },
        Row {
            otherwise: false,
            keys: vec![Key::Alts(vec![KeyAlt::Equals(num("2"))])],
            cell: Cell::Value(cells[1]),
            span: at("2       => 1", 0),
        },
        Row {
            otherwise: false,
            keys: vec![Key::Alts(vec![KeyAlt::Equals(num("3")), KeyAlt::Equals(num("4"))])],
            cell: Cell::Value(cells[2]),
            span: at("3 | 4   => 5", 0),
        },
    ];
    p.tables.push(TableDef {
        clause: None,
        partial: false,
        valid: None,
        name: "weight".into(),
        qualified: "allocation.weight".into(),
        columns: vec![("rating".into(), Ty::INT)],
        ty: Ty::INT,
        hit: HitPolicy::Unique,
        source: None,
        rows,
        span: at("table weight", 0),
        name_span: at("weight", 0),
        doc: None,
    });
    let decision = |p: &mut Program, name: &str, ty: Ty, body: NodeId| {
        let decl = at(&format!("decision {name}:"), 0);
        let name_span = Span { start: decl.start + 9, end: decl.end - 1, ..decl };
        let end =
            SOURCE[decl.start as usize..].find("\ndecision ").map_or(SOURCE.len() - 1, |i| i + decl.start as usize);
        let span = Span::new(FileId(0), decl.start as usize, end);
        p.decisions.push(DecisionDef {
            clause: None,
            valid: None,
            name: name.into(),
            qualified: format!("allocation.{name}"),
            params: vec![],
            locals: 0,
            ty,
            body,
            span,
            name_span,
            doc: None,
        });
        DecisionId(p.decisions.len() as u32 - 1)
    };
    // decision points: Int = weight(rating)
    let rating = node(&mut p, NodeKind::Input(InputId(0)), Ty::INT, at("rating", 2));
    let lookup = node(&mut p, NodeKind::Table { id: TableId(0), args: vec![rating] }, Ty::INT, at("weight(rating)", 0));
    let points = decision(&mut p, "points", Ty::INT, lookup);
    // decision indicative: Money = points * price_per_point
    let pts = node(&mut p, NodeKind::Decision { id: points, args: vec![] }, Ty::INT, at("points", 1));
    let ppp = node(&mut p, NodeKind::Param(ParamId(0)), Ty::MONEY, at("price_per_point", 1));
    let mul = node(&mut p, NodeKind::Binary(BinOp::Mul, pts, ppp), Ty::MONEY, at("points * price_per_point", 0));
    let indicative = decision(&mut p, "indicative", Ty::MONEY, mul);
    // decision budget: Money = round(indicative + (moderation otherwise 0%) * indicative, 2, half_up)
    let ind1 = node(&mut p, NodeKind::Decision { id: indicative, args: vec![] }, Ty::MONEY, at("indicative", 1));
    let moderation = node(&mut p, NodeKind::Input(InputId(1)), Ty::PERCENT, at("moderation", 1));
    let zero = node(&mut p, NodeKind::Const(num("0")), Ty::PERCENT, at("0%", 0));
    let otherwise = node(&mut p, NodeKind::Otherwise(moderation, zero), Ty::PERCENT, at("moderation otherwise 0%", 0));
    let ind2 = node(&mut p, NodeKind::Decision { id: indicative, args: vec![] }, Ty::MONEY, at("indicative", 2));
    let scaled = node(
        &mut p,
        NodeKind::Binary(BinOp::Mul, otherwise, ind2),
        Ty::MONEY,
        at("(moderation otherwise 0%) * indicative", 0),
    );
    let sum = node(
        &mut p,
        NodeKind::Binary(BinOp::Add, ind1, scaled),
        Ty::MONEY,
        at("indicative + (moderation otherwise 0%) * indicative", 0),
    );
    let round = node(
        &mut p,
        NodeKind::Round { value: sum, places: 2, mode: RoundMode::HalfUp },
        Ty::MONEY,
        at("round(indicative + (moderation otherwise 0%) * indicative, 2, half_up)", 0),
    );
    let budget = decision(&mut p, "budget", Ty::MONEY, round);
    // decision eligible: Bool = points >= 3
    let pts2 = node(&mut p, NodeKind::Decision { id: points, args: vec![] }, Ty::INT, at("points", 2));
    let three = node(&mut p, NodeKind::Const(num("3")), Ty::INT, at("3\n", 0));
    let three = {
        p.nodes[three.index()].origin.span.end -= 1;
        three
    };
    let ge = node(&mut p, NodeKind::Binary(BinOp::Ge, pts2, three), Ty::Bool, at("points >= 3", 0));
    let eligible = decision(&mut p, "eligible", Ty::Bool, ge);
    Fixture { program: p, sources, budget, eligible }
}

fn explain(f: &Fixture, id: DecisionId, inputs: Vec<Value>) -> Step {
    let mut recorder = Recorder::new();
    Session::new(&f.program, inputs).decision(id, &mut recorder).expect("evaluates");
    recorder.finish().expect("a step tree")
}

#[test]
fn text_shows_the_answer_then_the_reasons() {
    let f = fixture();
    let step = explain(&f, f.budget, vec![num("3"), num("0.15")]);
    let text = explain_text(&f.program, &f.sources, &step);
    let expected = "\
budget = £273.13                                                             suffolk/allocation.cov:11
│ decision budget: Money = round(indicative + (moderation otherwise 0%) * indicative, 2, half_up)
└─ rounded half-up to pence: £273.125 → £273.13                              :12
   └─ indicative + (moderation otherwise 0%) * indicative = £273.125  (£237.50 + £35.625)   :12
      ├─ indicative = £237.50                                                :10
      │  └─ points * price_per_point = £237.50  (5 × £47.50)                 :10
      │     ├─ points = 5                                                    :9
      │     │  └─ weight(rating = 3) = 5, table row 3: 3 | 4 => 5            :7
      │     │     └─ input rating = 3                                        :9
      │     └─ param price_per_point = £47.50                                :3
      └─ (moderation otherwise 0%) * indicative = £35.625  (15% × £237.50)   :12
         ├─ moderation otherwise 0% = 15%                                    :12
         │  └─ input moderation = 15%                                        :12
         └─ indicative = £237.50  (computed once, shown above)               :10
";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn text_says_why_not_and_names_a_missing_value() {
    let f = fixture();
    let step = explain(&f, f.eligible, vec![num("2")]);
    let text = explain_text(&f.program, &f.sources, &step);
    let expected = "\
eligible = false                                       suffolk/allocation.cov:13
│ decision eligible: Bool = points >= 3
└─ points >= 3 → false: points is 1, less than 3       :13
   └─ points = 1                                       :9
      └─ weight(rating = 2) = 1, table row 2: 2 => 1   :6
         └─ input rating = 2                           :9
";
    assert_eq!(text, expected, "\n{text}");

    let step = explain(&f, f.budget, vec![num("0")]);
    let text = explain_text(&f.program, &f.sources, &step);
    assert!(text.contains("moderation otherwise 0% = 0%  (the fallback: no value, not given)"), "{text}");
    assert!(text.contains("input moderation = no value (not given)"), "{text}");
    assert!(text.contains("weight(rating = 0) = 0, table row 1: up to 1 => 0"), "{text}");
}

#[test]
fn text_of_a_failed_evaluation_shows_the_error_in_place() {
    let f = fixture();
    // Rating 9 matches no row: `points` has no value, and `>=` refuses it (E0503).
    let program = &f.program;
    let mut recorder = Recorder::new();
    let result = Session::new(program, vec![num("9")]).decision(f.eligible, &mut recorder);
    assert_eq!(result.expect_err("no value").code, "E0503");
    let text = explain_text(program, &f.sources, &recorder.finish().expect("partial tree"));
    assert!(text.starts_with("eligible: no answer, the evaluation failed"), "{text}");
    assert!(text.contains("✗ points >= 3: error E0503: no value: no row of table weight matched"), "{text}");
    assert!(text.contains("weight(rating = 9): no row of the table matches, so no value"), "{text}");
}

#[test]
fn json_has_the_schema_strings_for_money_and_locations() {
    let f = fixture();
    let step = explain(&f, f.budget, vec![num("3"), num("0.15")]);
    let json = explain_json(&f.program, &f.sources, &step);
    assert_eq!(json["schema"], "covenant.explanation/1");
    let root = &json["step"];
    assert_eq!(root["kind"], "decision");
    assert_eq!(root["label"], "budget");
    assert_eq!(root["value"], "273.13");
    assert!(root["value"].is_string(), "money is a JSON string");
    assert_eq!(root["display"], "£273.13");
    assert_eq!(root["type"], "Money");
    assert_eq!(root["memoised"], false);
    let loc = &root["location"];
    assert_eq!(
        (loc["file"].as_str(), loc["line"].as_u64(), loc["column"].as_u64()),
        (Some("suffolk/allocation.cov"), Some(11), Some(10))
    );
    assert_eq!(loc["end_column"], 16);
    assert_eq!(loc["start"].as_u64(), Some(at("budget", 0).start as u64));
    assert_eq!(root["source"], "budget");

    let round = &root["children"][0];
    assert_eq!(
        (round["kind"].as_str(), round["mode"].as_str(), round["places"].as_u64()),
        (Some("round"), Some("half_up"), Some(2))
    );
    assert_eq!((round["before"].as_str(), round["after"].as_str()), (Some("273.125"), Some("273.13")));

    let add = &round["children"][0];
    assert_eq!(add["kind"], "arithmetic");
    assert_eq!(add["op"], "+");
    assert_eq!(add["operands"][1]["value"], "35.625");
    assert_eq!(add["operands"][1]["source"], "(moderation otherwise 0%) * indicative");

    let table = &add["children"][0]["children"][0]["children"][0]["children"][0];
    assert_eq!(table["kind"], "table");
    assert_eq!(
        (table["table"].as_str(), table["hit"].as_str(), table["row"].as_u64()),
        (Some("weight"), Some("unique"), Some(3))
    );
    assert_eq!(table["row_source"], "3 | 4 => 5");
    assert_eq!(table["row_location"]["line"], 7);
    assert_eq!(table["keys"][0]["column"], "rating");
    assert_eq!(table["keys"][0]["value"], 3, "Int is a JSON integer");

    let percent = &add["children"][1]["children"][0];
    assert_eq!((percent["kind"].as_str(), percent["value"].as_str()), (Some("otherwise"), Some("15%")));
    assert_eq!(percent["used_fallback"], false);

    // Money never appears as a JSON number anywhere in the document.
    fn no_money_numbers(v: &serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                if o.get("type").and_then(|t| t.as_str()).is_some_and(|t| t.starts_with("Money")) {
                    assert!(!o["value"].is_number(), "{v}");
                }
                o.values().for_each(no_money_numbers);
            }
            serde_json::Value::Array(a) => a.iter().for_each(no_money_numbers),
            _ => {}
        }
    }
    no_money_numbers(&json);
}

#[test]
fn json_of_a_missing_value_and_a_comparison() {
    let f = fixture();
    let step = explain(&f, f.budget, vec![num("0"), Value::None(Arc::from("not given"))]);
    let json = explain_json(&f.program, &f.sources, &step);
    let otherwise = &json["step"]["children"][0]["children"][0]["children"][1]["children"][0];
    assert_eq!(otherwise["kind"], "otherwise");
    assert_eq!((otherwise["used_fallback"].as_bool(), otherwise["reason"].as_str()), (Some(true), Some("not given")));
    assert_eq!(otherwise["children"][0]["value"], serde_json::json!({ "none": "not given" }));

    let step = explain(&f, f.eligible, vec![num("2")]);
    let json = explain_json(&f.program, &f.sources, &step);
    let ge = &json["step"]["children"][0];
    assert_eq!(
        (ge["kind"].as_str(), ge["op"].as_str(), ge["value"].as_bool()),
        (Some("compare"), Some(">="), Some(false))
    );
    assert_eq!((ge["left"]["value"].as_u64(), ge["right"]["value"].as_u64()), (Some(1), Some(3)));
    assert_eq!(ge["left"]["source"], "points");
}

#[test]
fn rendering_is_deterministic_and_tolerates_unknown_files() {
    let f = fixture();
    let step = explain(&f, f.budget, vec![num("3"), num("0.15")]);
    let a = explain_text(&f.program, &f.sources, &step);
    let b = explain_text(&f.program, &f.sources, &step);
    assert_eq!(a, b);
    let empty = SourceMap::default();
    let text = explain_text(&f.program, &empty, &step);
    assert!(text.starts_with("budget = £273.13\n"), "{text}");
    let json = explain_json(&f.program, &empty, &step);
    assert_eq!(json["step"]["location"], serde_json::Value::Null);
}

const SOURCE2: &str = "\
enum Placement { Community, Residential, Nursing }
input placement: Placement
input ratings: list of Int
table weight(rating: Int) -> Int hit first {
  4 => 9
  3 => 5
  _ => 0
}
decision points: Int = sum(weight(r) for r in ratings if r >= 2)
decision excluded: Bool = placement in {Residential, Nursing}
decision rate: Money = if excluded then £0.00 else let base = £10.00 in base * 2
";

fn at2(needle: &str, nth: usize) -> Span {
    let start = SOURCE2.match_indices(needle).nth(nth).map(|(i, _)| i).expect("needle in source");
    Span::new(FileId(0), start, start + needle.len())
}

/// `points`, `excluded` and `rate` over SOURCE2.
fn fixture2() -> (Program, SourceMap) {
    let mut sources = SourceMap::default();
    sources.add("lambeth/rates.cov", SOURCE2);
    let mut p = Program { files: vec!["lambeth/rates.cov".into()], ..Program::default() };
    let node = |p: &mut Program, kind: NodeKind, ty: Ty, span: Span| {
        p.nodes.push(Node { kind, ty, origin: Origin { span, owner: Owner::Decision(DecisionId(0)) } });
        NodeId(p.nodes.len() as u32 - 1)
    };
    let placement = Ty::Enum(EnumId(0));
    p.enums.push(EnumDef {
        name: "Placement".into(),
        ordered: false,
        variants: ["Community", "Residential", "Nursing"]
            .map(|n| Variant { name: n.into(), code: None, label: None })
            .to_vec(),
        span: at2("Placement", 0),
    });
    let ints = Ty::List(Box::new(Ty::INT));
    p.inputs = vec![
        InputDef {
            name: "placement".into(),
            ty: placement.clone(),
            optional: false,
            span: at2("placement", 0),
            doc: None,
        },
        InputDef { name: "ratings".into(), ty: ints.clone(), optional: false, span: at2("ratings", 0), doc: None },
    ];
    let mut rows = Vec::new();
    for (key, cell, line) in [(Some("4"), "9", "4 => 9"), (Some("3"), "5", "3 => 5"), (None, "0", "_ => 0")] {
        let span = at2(line, 0);
        let c = node(&mut p, NodeKind::Const(num(cell)), Ty::INT, Span { start: span.end - 1, ..span });
        let keys = vec![key.map_or(Key::Any, |k| Key::Alts(vec![KeyAlt::Equals(num(k))]))];
        rows.push(Row { otherwise: false, keys, cell: Cell::Value(c), span });
    }
    p.tables.push(TableDef {
        clause: None,
        partial: false,
        valid: None,
        name: "weight".into(),
        qualified: "rates.weight".into(),
        columns: vec![("rating".into(), Ty::INT)],
        ty: Ty::INT,
        hit: HitPolicy::First,
        source: Some("Lambeth   floating support\n tariff, 2015/16".into()),
        rows,
        span: at2("table weight", 0),
        name_span: at2("weight", 0),
        doc: None,
    });
    let decision = |p: &mut Program, name: &str, ty: Ty, locals: u32, body: NodeId| {
        let decl = at2(&format!("decision {name}:"), 0);
        let end = SOURCE2[decl.start as usize..].find('\n').map_or(SOURCE2.len(), |i| i + decl.start as usize);
        p.decisions.push(DecisionDef {
            clause: None,
            valid: None,
            name: name.into(),
            qualified: format!("rates.{name}"),
            params: vec![],
            locals,
            ty,
            body,
            span: Span::new(FileId(0), decl.start as usize, end),
            name_span: Span { start: decl.start + 9, end: decl.end - 1, ..decl },
            doc: (name == "points").then(|| "The weight of every item rated 2 or more.\n\nDetails follow.".into()),
        });
    };
    // sum(weight(r) for r in ratings if r >= 2)
    let list = node(&mut p, NodeKind::Input(InputId(1)), ints, at2("ratings", 1));
    let r1 = node(&mut p, NodeKind::Local(LocalId(0)), Ty::INT, at2("r)", 0));
    let body = node(&mut p, NodeKind::Table { id: TableId(0), args: vec![r1] }, Ty::INT, at2("weight(r)", 0));
    let r2 = node(&mut p, NodeKind::Local(LocalId(0)), Ty::INT, at2("r >=", 0));
    let two = node(&mut p, NodeKind::Const(num("2")), Ty::INT, at2("2)", 0));
    let filter = node(&mut p, NodeKind::Binary(BinOp::Ge, r2, two), Ty::Bool, at2("r >= 2", 0));
    let sum = node(
        &mut p,
        NodeKind::Aggregate { op: AggOp::Sum, local: LocalId(0), list, body, filter: Some(filter) },
        Ty::INT,
        at2("sum(weight(r) for r in ratings if r >= 2)", 0),
    );
    decision(&mut p, "points", Ty::INT, 1, sum);
    // placement in {Residential, Nursing}
    let pl = node(&mut p, NodeKind::Input(InputId(0)), placement, at2("placement", 1));
    let set = node(
        &mut p,
        NodeKind::InSet { value: pl, variants: vec![1, 2] },
        Ty::Bool,
        at2("placement in {Residential, Nursing}", 0),
    );
    decision(&mut p, "excluded", Ty::Bool, 0, set);
    // if excluded then £0.00 else let base = £10.00 in base * 2
    let ex = node(&mut p, NodeKind::Decision { id: DecisionId(1), args: vec![] }, Ty::Bool, at2("excluded", 1));
    let zero = node(&mut p, NodeKind::Const(num("0.00")), Ty::MONEY, at2("£0.00", 0));
    let ten = node(&mut p, NodeKind::Const(num("10.00")), Ty::MONEY, at2("£10.00", 0));
    let base = node(&mut p, NodeKind::Local(LocalId(0)), Ty::MONEY, at2("base *", 0));
    let two = node(&mut p, NodeKind::Const(num("2")), Ty::INT, at2("2\n", 0));
    let times = node(&mut p, NodeKind::Binary(BinOp::Mul, base, two), Ty::MONEY, at2("base * 2", 0));
    let let_ = node(
        &mut p,
        NodeKind::Let { local: LocalId(0), value: ten, body: times },
        Ty::MONEY,
        at2("let base = £10.00 in base * 2", 0),
    );
    let if_ = node(
        &mut p,
        NodeKind::If { cond: ex, then: zero, els: let_ },
        Ty::MONEY,
        at2("if excluded then £0.00 else let base = £10.00 in base * 2", 0),
    );
    decision(&mut p, "rate", Ty::MONEY, 1, if_);
    (p, sources)
}

#[test]
fn text_of_aggregations_conditions_and_lets() {
    let (p, sources) = fixture2();
    let ratings = Value::List(["4", "1", "3", "2", "0"].map(num).to_vec().into());
    let inputs = vec![Value::Enum(0), ratings];
    let mut recorder = Recorder::new();
    Session::new(&p, inputs.clone()).decision(DecisionId(0), &mut recorder).expect("points");
    let text = explain_text(&p, &sources, &recorder.finish().expect("tree"));
    let expected = "\
points = 14                                            lambeth/rates.cov:9
│ The weight of every item rated 2 or more.
│ decision points: Int = sum(weight(r) for r in ratings if r >= 2)
└─ sum(weight(r) for r in ratings if r >= 2) = 14  (5 items, 3 kept by the filter)   :9
   ├─ input ratings = [4, 1, 3, 2, 0]                  :9
   ├─ item 1: 4 → 9
   │  ├─ r >= 2 → true  (4 >= 2)                       :9
   │  └─ weight(rating = 4) = 9, table row 1: 4 => 9   :5
   │       source: Lambeth floating support tariff, 2015/16
   ├─ item 3: 3 → 5
   │  ├─ r >= 2 → true  (3 >= 2)                       :9
   │  └─ weight(rating = 3) = 5, table row 2: 3 => 5   :6
   ├─ item 4 contributes 0
   └─ 2 items are left out by the filter: items 2 and 5
";
    assert_eq!(text, expected, "\n{text}");
    let mut recorder = Recorder::new();
    Session::new(&p, inputs.clone()).decision(DecisionId(0), &mut recorder).expect("points");
    let json = explain_json(&p, &sources, &recorder.finish().expect("tree"));
    assert_eq!(json["step"]["doc"], "The weight of every item rated 2 or more.\n\nDetails follow.");
    let sum = &json["step"]["children"][0];
    assert_eq!((sum["op"].as_str(), sum["items"].as_u64(), sum["kept"].as_u64()), (Some("sum"), Some(5), Some(3)));
    let item = &sum["children"][2];
    assert_eq!(
        (item["kind"].as_str(), item["index"].as_u64(), item["kept"].as_bool()),
        (Some("item"), Some(2), Some(false))
    );
    assert_eq!((item["element"]["value"].as_u64(), item["value"].is_null()), (Some(1), true));
    assert_eq!(sum["children"][1]["children"][1]["table_source"], "Lambeth   floating support\n tariff, 2015/16");
    let mut recorder = Recorder::new();
    Session::new(&p, inputs).decision(DecisionId(2), &mut recorder).expect("rate");
    let text = explain_text(&p, &sources, &recorder.finish().expect("tree"));
    let expected = "\
rate = £20.00                                    lambeth/rates.cov:11
│ decision rate: Money = if excluded then £0.00 else let base = £10.00 in base * 2
└─ if (condition false) → else branch = £20.00   :11
   ├─ excluded = false                           :10
   │  └─ placement in {Residential, Nursing} → false: placement is Community, not Residential or Nursing   :10
   │     └─ input placement = Community          :10
   ├─ let base = £10.00                          :11
   └─ base * 2 = £20.00  (£10.00 × 2)            :11
";
    assert_eq!(text, expected, "\n{text}");
}

const SOURCE3: &str = "\
input band: optional Int
input a: Bool
input b: Bool
input c: Bool
input ratings: list of Int
table label(band: Int) -> Text {
  1 => \"low\" // banding of 2014
  _ => \"other\"
}
decision has_band: Bool = band is not none
decision all_three: Bool = a and b and c
decision high: Int = count(r for r in ratings if r > 3)
decision named: Text = label(band otherwise 1)
";

fn at3(needle: &str, nth: usize) -> Span {
    let start = SOURCE3.match_indices(needle).nth(nth).map(|(i, _)| i).expect("needle in source");
    Span::new(FileId(0), start, start + needle.len())
}

fn fixture3() -> (Program, SourceMap) {
    let mut sources = SourceMap::default();
    sources.add("checks.cov", SOURCE3);
    let mut p = Program { files: vec!["checks.cov".into()], ..Program::default() };
    let node = |p: &mut Program, kind: NodeKind, ty: Ty, span: Span| {
        p.nodes.push(Node { kind, ty, origin: Origin { span, owner: Owner::Decision(DecisionId(0)) } });
        NodeId(p.nodes.len() as u32 - 1)
    };
    let ints = Ty::List(Box::new(Ty::INT));
    for (name, ty, optional) in [
        ("band", Ty::INT, true),
        ("a", Ty::Bool, false),
        ("b", Ty::Bool, false),
        ("c", Ty::Bool, false),
        ("ratings", ints.clone(), false),
    ] {
        p.inputs.push(InputDef { name: name.into(), ty, optional, span: at3(&format!("input {name}"), 0), doc: None });
    }
    let low = node(&mut p, NodeKind::Const(Value::Text("low".into())), Ty::Text, at3("\"low\"", 0));
    let other = node(&mut p, NodeKind::Const(Value::Text("other".into())), Ty::Text, at3("\"other\"", 0));
    p.tables.push(TableDef {
        clause: None,
        partial: false,
        valid: None,
        name: "label".into(),
        qualified: "checks.label".into(),
        columns: vec![("band".into(), Ty::INT)],
        ty: Ty::Text,
        hit: HitPolicy::First,
        source: None,
        rows: vec![
            Row {
                otherwise: false,
                keys: vec![Key::Alts(vec![KeyAlt::Equals(num("1"))])],
                cell: Cell::Value(low),
                span: at3("1 => \"low\"", 0),
            },
            Row { otherwise: false, keys: vec![Key::Any], cell: Cell::Value(other), span: at3("_ => \"other\"", 0) },
        ],
        span: at3("table label", 0),
        name_span: at3("label", 0),
        doc: None,
    });
    let decision = |p: &mut Program, name: &str, ty: Ty, locals: u32, body: NodeId| {
        let decl = at3(&format!("decision {name}:"), 0);
        let end = SOURCE3[decl.start as usize..].find('\n').map_or(SOURCE3.len(), |i| i + decl.start as usize);
        p.decisions.push(DecisionDef {
            clause: None,
            valid: None,
            name: name.into(),
            qualified: format!("checks.{name}"),
            params: vec![],
            locals,
            ty,
            body,
            span: Span::new(FileId(0), decl.start as usize, end),
            name_span: Span { start: decl.start + 9, end: decl.end - 1, ..decl },
            doc: None,
        });
    };
    // band is not none: lowered to not(is none) over one span
    let band_span = at3("band is not none", 0);
    let band = node(&mut p, NodeKind::Input(InputId(0)), Ty::INT, Span { end: band_span.start + 4, ..band_span });
    let is_none = node(&mut p, NodeKind::IsNone(band), Ty::Bool, at3("band is not none", 0));
    let not = node(&mut p, NodeKind::Unary(UnOp::Not, is_none), Ty::Bool, at3("band is not none", 0));
    decision(&mut p, "has_band", Ty::Bool, 0, not);
    // a and b and c
    let a = node(&mut p, NodeKind::Input(InputId(1)), Ty::Bool, at3("a and", 0));
    let b = node(&mut p, NodeKind::Input(InputId(2)), Ty::Bool, at3("b and", 0));
    let ab = node(&mut p, NodeKind::Binary(BinOp::And, a, b), Ty::Bool, at3("a and b", 0));
    let c = node(&mut p, NodeKind::Input(InputId(3)), Ty::Bool, at3("c\n", 0));
    let abc = node(&mut p, NodeKind::Binary(BinOp::And, ab, c), Ty::Bool, at3("a and b and c", 0));
    decision(&mut p, "all_three", Ty::Bool, 0, abc);
    // count(r for r in ratings if r > 3)
    let list = node(&mut p, NodeKind::Input(InputId(4)), ints, at3("ratings", 1));
    let r = node(&mut p, NodeKind::Local(LocalId(0)), Ty::INT, at3("r for", 0));
    let r2_span = at3("r > 3", 0);
    let r2 = node(&mut p, NodeKind::Local(LocalId(0)), Ty::INT, Span { end: r2_span.start + 1, ..r2_span });
    let three = node(&mut p, NodeKind::Const(num("3")), Ty::INT, at3("3)", 0));
    let gt = node(&mut p, NodeKind::Binary(BinOp::Gt, r2, three), Ty::Bool, at3("r > 3", 0));
    let count = node(
        &mut p,
        NodeKind::Aggregate { op: AggOp::Count, local: LocalId(0), list, body: r, filter: Some(gt) },
        Ty::INT,
        at3("count(r for r in ratings if r > 3)", 0),
    );
    decision(&mut p, "high", Ty::INT, 1, count);
    // label(band otherwise 1)
    let band_span = at3("band otherwise", 0);
    let band = node(&mut p, NodeKind::Input(InputId(0)), Ty::INT, Span { end: band_span.start + 4, ..band_span });
    let one = node(&mut p, NodeKind::Const(num("1")), Ty::INT, at3("1)", 0));
    let key = node(&mut p, NodeKind::Otherwise(band, one), Ty::INT, at3("band otherwise 1", 0));
    let look =
        node(&mut p, NodeKind::Table { id: TableId(0), args: vec![key] }, Ty::Text, at3("label(band otherwise 1)", 0));
    decision(&mut p, "named", Ty::Text, 0, look);
    (p, sources)
}

fn text3(p: &Program, sources: &SourceMap, name: &str, inputs: Vec<Value>) -> String {
    let id = p.find_decision(name).expect("declared");
    let mut recorder = Recorder::new();
    Session::new(p, inputs).decision(id, &mut recorder).expect("evaluates");
    explain_text(p, sources, &recorder.finish().expect("tree"))
}

#[test]
fn text_of_is_not_and_chains_and_empty_counts() {
    let (p, sources) = fixture3();
    let yes = Value::Bool(true);
    let no = Value::Bool(false);
    let ratings = |n: usize| Value::List((0..n).map(|i| num(&(i % 3 + 1).to_string())).collect::<Vec<_>>().into());
    let none = Value::None(Arc::from("not given"));
    let inputs = |band: Value, b: &Value, n: usize| vec![band, yes.clone(), b.clone(), yes.clone(), ratings(n)];

    let text = text3(&p, &sources, "has_band", inputs(none.clone(), &yes, 0));
    let expected = "\
has_band = false                                     checks.cov:10
│ decision has_band: Bool = band is not none
└─ band is not none → false  (no value: not given)   :10
   └─ input band = no value (not given)              :10
";
    assert_eq!(text, expected, "\n{text}");
    let text = text3(&p, &sources, "has_band", inputs(num("2"), &yes, 0));
    assert!(text.contains("└─ band is not none → true  (it has a value)   :10"), "{text}");

    let text = text3(&p, &sources, "all_three", inputs(none.clone(), &no, 0));
    let expected = "\
all_three = false                                                              checks.cov:11
│ decision all_three: Bool = a and b and c
└─ a and b and c → false  (condition 2 is false, so the rest are not needed)   :11
   ├─ input a = true                                                           :11
   └─ input b = false                                                          :11
";
    assert_eq!(text, expected, "\n{text}");
    let text = text3(&p, &sources, "all_three", inputs(none.clone(), &yes, 0));
    assert!(text.contains("└─ a and b and c → true  (all 3 conditions hold)"), "{text}");

    // Nothing counted: the elements left out are the explanation, each with its reason.
    let text = text3(&p, &sources, "high", inputs(none.clone(), &yes, 3));
    let expected = "\
high = 0                                                                     checks.cov:12
│ decision high: Int = count(r for r in ratings if r > 3)
└─ count(r for r in ratings if r > 3) = 0  (3 items, 0 kept by the filter)   :12
   ├─ input ratings = [1, 2, 3]                                              :12
   ├─ item 1: 1 left out by the filter
   │  └─ r > 3 → false: r is 1, not more than 3                              :12
   ├─ item 2: 2 left out by the filter
   │  └─ r > 3 → false: r is 2, not more than 3                              :12
   └─ item 3: 3 left out by the filter
      └─ r > 3 → false: r is 3, not more than 3                              :12
";
    assert_eq!(text, expected, "\n{text}");
    let text = text3(&p, &sources, "high", inputs(none.clone(), &yes, 40));
    assert!(
        text.contains(
            "input ratings = [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, …] (40 items)"
        ),
        "{text}"
    );
    assert!(text.contains("├─ item 20: 2 left out by the filter"), "{text}");
    assert!(text.contains("└─ … and 20 more (the JSON explanation lists every element)"), "{text}");
    assert!(!text.contains("item 21"), "{text}");

    // A table row is quoted without its comment.
    let text = text3(&p, &sources, "named", inputs(none, &yes, 0));
    let row = text.lines().find(|l| l.contains("table row 1")).expect("the lookup");
    assert!(
        row.starts_with("└─ label(band = 1) = \"low\", table row 1: 1 => \"low\" ") && row.ends_with(" :7"),
        "{text}"
    );
    assert!(text.contains("band otherwise 1 = 1  (the fallback: no value, not given)"), "{text}");
}
