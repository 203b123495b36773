//! Unit tests over hand-built programs (the evaluator does not depend on the parser).

use crate::error::code;
use crate::{EvalError, NoTrace, Recorder, Session, Step, StepKind, eval_constant};
use covenant_ir::*;
use rust_decimal::Decimal;
use std::str::FromStr;
use std::sync::Arc;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal literal")
}

fn num(s: &str) -> Value {
    Value::Num(dec(s))
}

fn date(s: &str) -> Date {
    Date::parse(s).expect("date literal")
}

/// Builds a program node by node; every node gets its own one-byte span so labels can be told apart.
#[derive(Default)]
struct B {
    p: Program,
}

fn sp(start: u32) -> Span {
    Span { file: FileId(0), start, end: start + 1 }
}

impl B {
    fn new() -> B {
        let mut b = B::default();
        b.p.files.push("t.cov".into());
        b
    }

    fn next_span(&self) -> Span {
        sp(1000 + self.p.nodes.len() as u32)
    }

    fn node(&mut self, kind: NodeKind, ty: Ty) -> NodeId {
        let span = self.next_span();
        self.p.nodes.push(Node { kind, ty, origin: Origin { span, owner: Owner::Test(0) } });
        NodeId(self.p.nodes.len() as u32 - 1)
    }

    fn span_of(&self, id: NodeId) -> Span {
        self.p.node(id).origin.span
    }

    fn konst(&mut self, v: Value, ty: Ty) -> NodeId {
        self.node(NodeKind::Const(v), ty)
    }
    fn dec(&mut self, s: &str) -> NodeId {
        self.konst(num(s), Ty::DECIMAL)
    }
    fn money(&mut self, s: &str) -> NodeId {
        self.konst(num(s), Ty::MONEY)
    }
    fn int(&mut self, i: i64) -> NodeId {
        self.konst(Value::Num(Decimal::from(i)), Ty::INT)
    }
    fn boolean(&mut self, b: bool) -> NodeId {
        self.konst(Value::Bool(b), Ty::Bool)
    }
    fn dur(&mut self, months: i32, days: i32) -> NodeId {
        self.konst(Value::Duration(Duration { months, days }), Ty::Duration)
    }
    fn date(&mut self, s: &str) -> NodeId {
        self.konst(Value::Date(date(s)), Ty::Date)
    }
    fn bin(&mut self, op: BinOp, l: NodeId, r: NodeId) -> NodeId {
        let ty = if op.is_comparison() || matches!(op, BinOp::And | BinOp::Or) {
            Ty::Bool
        } else {
            self.p.node(l).ty.clone()
        };
        self.node(NodeKind::Binary(op, l, r), ty)
    }
    fn local(&mut self, i: u32, ty: Ty) -> NodeId {
        self.node(NodeKind::Local(LocalId(i)), ty)
    }

    fn input(&mut self, name: &str, ty: Ty, optional: bool) -> (InputId, NodeId) {
        self.p.inputs.push(InputDef { name: name.into(), ty: ty.clone(), optional, span: sp(1), doc: None });
        let id = InputId(self.p.inputs.len() as u32 - 1);
        (id, self.node(NodeKind::Input(id), ty))
    }

    fn decision(&mut self, name: &str, params: Vec<(&str, Ty)>, locals: u32, body: NodeId) -> DecisionId {
        let ty = self.p.node(body).ty.clone();
        let n = self.p.decisions.len() as u32;
        self.p.decisions.push(DecisionDef {
            clause: None,
            valid: None,
            name: name.into(),
            qualified: format!("t.{name}"),
            params: params.into_iter().map(|(n, t)| (n.to_string(), t)).collect(),
            locals,
            ty,
            body,
            span: sp(100 + n),
            name_span: sp(200 + n),
            doc: None,
        });
        DecisionId(n)
    }

    fn call(&mut self, id: DecisionId, args: Vec<NodeId>) -> NodeId {
        let ty = self.p.decision(id).ty.clone();
        self.node(NodeKind::Decision { id, args }, ty)
    }

    fn table(
        &mut self,
        name: &str,
        columns: Vec<(&str, Ty)>,
        ty: Ty,
        hit: HitPolicy,
        rows: Vec<(Vec<Key>, Cell)>,
    ) -> TableId {
        let n = self.p.tables.len() as u32;
        let rows = rows
            .into_iter()
            .enumerate()
            .map(|(i, (keys, cell))| Row { otherwise: false, keys, cell, span: sp(300 + 10 * n + i as u32) })
            .collect();
        self.p.tables.push(TableDef {
            clause: None,
            partial: false,
            valid: None,
            name: name.into(),
            qualified: format!("t.{name}"),
            columns: columns.into_iter().map(|(c, t)| (c.to_string(), t)).collect(),
            ty,
            hit,
            source: None,
            rows,
            span: sp(290),
            name_span: sp(291),
            doc: None,
        });
        TableId(n)
    }

    fn lookup(&mut self, id: TableId, args: Vec<NodeId>) -> NodeId {
        let ty = self.p.table(id).ty.clone();
        self.node(NodeKind::Table { id, args }, ty)
    }

    /// Evaluates `body` as a parameterless decision with the given inputs.
    fn run(mut self, body: NodeId, inputs: Vec<Value>) -> Result<Value, EvalError> {
        let d = self.decision("answer", vec![], 8, body);
        Session::new(&self.p, inputs).decision(d, &mut NoTrace)
    }

    fn trace(mut self, body: NodeId, inputs: Vec<Value>) -> (Result<Value, EvalError>, Step, Program) {
        let d = self.decision("answer", vec![], 8, body);
        let mut recorder = Recorder::new();
        let result = Session::new(&self.p, inputs).decision(d, &mut recorder);
        (result, recorder.finish().expect("a step"), self.p)
    }
}

fn eq(range: &[Value]) -> Key {
    Key::Alts(range.iter().cloned().map(KeyAlt::Equals).collect())
}

fn range(low: Option<(&str, bool)>, high: Option<(&str, bool)>) -> Key {
    let bound = |b: Option<(&str, bool)>| b.map(|(v, inclusive)| Bound { value: dec(v), inclusive });
    Key::Alts(vec![KeyAlt::Range { low: bound(low), high: bound(high) }])
}

fn value_cell(b: &mut B, v: &str) -> Cell {
    Cell::Value(b.money(v))
}

fn err_code(r: Result<Value, EvalError>) -> &'static str {
    r.expect_err("an error").code
}

// ---- arithmetic -----------------------------------------------------------------------

#[test]
fn arithmetic_is_exact_decimal() {
    let mut b = B::new();
    let (x, y, z) = (b.dec("1.5"), b.dec("2"), b.dec("4"));
    let sum = b.bin(BinOp::Add, x, y);
    let three = b.dec("3");
    let prod = b.bin(BinOp::Mul, sum, three);
    let quot = b.bin(BinOp::Div, prod, z);
    assert_eq!(b.run(quot, vec![]), Ok(num("2.625")));

    let mut b = B::new();
    let (x, y) = (b.dec("0.1"), b.dec("0.2"));
    let sum = b.bin(BinOp::Add, x, y);
    let expected = b.dec("0.3");
    let test = b.bin(BinOp::Eq, sum, expected);
    assert_eq!(b.run(test, vec![]), Ok(Value::Bool(true)));
}

#[test]
fn overflow_is_an_error_not_a_panic() {
    let mut b = B::new();
    let big = b.konst(Value::Num(Decimal::MAX), Ty::DECIMAL);
    let two = b.dec("2");
    let prod = b.bin(BinOp::Mul, big, two);
    let e = b.run(prod, vec![]).expect_err("overflow");
    assert_eq!(e.code, code::OVERFLOW);
    assert!(e.message.starts_with("arithmetic overflow"), "{}", e.message);

    let mut b = B::new();
    let big = b.konst(Value::Num(Decimal::MAX), Ty::DECIMAL);
    let one = b.dec("1");
    let sum = b.bin(BinOp::Add, big, one);
    assert_eq!(err_code(b.run(sum, vec![])), code::OVERFLOW);

    let mut b = B::new();
    let min = b.konst(Value::Num(Decimal::MIN), Ty::DECIMAL);
    let one = b.dec("1");
    let diff = b.bin(BinOp::Sub, min, one);
    assert_eq!(err_code(b.run(diff, vec![])), code::OVERFLOW);
}

#[test]
fn division_by_zero_points_at_the_divisor() {
    let mut b = B::new();
    let (x, y) = (b.money("10"), b.dec("0.00"));
    let q = b.bin(BinOp::Div, x, y);
    let (qs, ys) = (b.span_of(q), b.span_of(y));
    let e = b.run(q, vec![]).expect_err("division by zero");
    assert_eq!(e.code, code::DIVISION_BY_ZERO);
    assert_eq!(e.message, "division by zero: £10.00 ÷ 0");
    assert_eq!(e.span, qs);
    assert!(e.labels.iter().any(|(s, m)| *s == ys && m == "this is zero"));
    let d = e.to_diagnostic();
    assert_eq!(d.code, "E0501");
    assert_eq!(d.primary.message, "divided here");
    assert_eq!(d.secondary.len(), 1);
}

#[test]
fn negation_and_not() {
    let mut b = B::new();
    let x = b.dec("2.5");
    let neg = b.node(NodeKind::Unary(UnOp::Neg, x), Ty::DECIMAL);
    assert_eq!(b.run(neg, vec![]), Ok(num("-2.5")));
    let mut b = B::new();
    let t = b.boolean(true);
    let not = b.node(NodeKind::Unary(UnOp::Not, t), Ty::Bool);
    assert_eq!(b.run(not, vec![]), Ok(Value::Bool(false)));
}

// ---- no value -------------------------------------------------------------------------

#[test]
fn no_value_in_arithmetic_is_an_error_naming_the_reason() {
    let mut b = B::new();
    let (_, x) = b.input("moderation", Ty::PERCENT, true);
    let one = b.dec("1");
    let sum = b.bin(BinOp::Add, one, x);
    let (ss, xs) = (b.span_of(sum), b.span_of(x));
    let e = b.run(sum, vec![]).expect_err("no value");
    assert_eq!(e.code, code::NO_VALUE);
    assert_eq!(e.message, "no value: not given");
    assert_eq!(e.span, ss);
    assert!(e.labels.iter().any(|(s, m)| *s == xs && m.contains("not given")));
    assert!(e.labels.iter().any(|(s, m)| *s == ss && m == "addition needs a value"));
}

#[test]
fn otherwise_and_is_none_accept_no_value() {
    for given in [vec![], vec![Value::None(Arc::from("not given"))], vec![num("0.15")]] {
        let mut b = B::new();
        let (_, x) = b.input("moderation", Ty::PERCENT, true);
        let zero = b.konst(num("0"), Ty::PERCENT);
        let fallback = b.node(NodeKind::Otherwise(x, zero), Ty::PERCENT);
        let expected = if matches!(given.first(), Some(Value::Num(_))) { num("0.15") } else { num("0") };
        assert_eq!(b.run(fallback, given.clone()), Ok(expected));

        let mut b = B::new();
        let (_, x) = b.input("moderation", Ty::PERCENT, true);
        let test = b.node(NodeKind::IsNone(x), Ty::Bool);
        let missing = !matches!(given.first(), Some(Value::Num(_)));
        assert_eq!(b.run(test, given), Ok(Value::Bool(missing)));
    }
}

#[test]
fn a_none_cell_reaching_a_comparison_or_condition_is_an_error() {
    let mut b = B::new();
    let t = b.table(
        "tariff",
        vec![("band", Ty::INT)],
        Ty::MONEY,
        HitPolicy::First,
        vec![(vec![Key::Any], Cell::NoValue("no tariff agreed".into()))],
    );
    let one = b.int(1);
    let look = b.lookup(t, vec![one]);
    let zero = b.money("0");
    let cmp = b.bin(BinOp::Gt, look, zero);
    let e = b.run(cmp, vec![]).expect_err("no value");
    assert_eq!((e.code, e.message.as_str()), ("E0503", "no value: no tariff agreed"));

    let mut b = B::new();
    let (_, flag) = b.input("flag", Ty::Bool, true);
    let (x, y) = (b.int(1), b.int(2));
    let cond = b.node(NodeKind::If { cond: flag, then: x, els: y }, Ty::INT);
    assert_eq!(err_code(b.run(cond, vec![])), code::NO_VALUE);
}

#[test]
fn optional_record_fields_read_as_no_value() {
    let mut b = B::new();
    b.p.records.push(RecordDef {
        name: "Person".into(),
        fields: vec![
            FieldDef { name: "age".into(), ty: Ty::INT, optional: false },
            FieldDef { name: "postcode".into(), ty: Ty::Text, optional: true },
        ],
        span: sp(2),
    });
    let (_, person) = b.input("person", Ty::Record(RecordId(0)), false);
    let pc = b.node(NodeKind::Field { record: person, index: 1 }, Ty::Text);
    let test = b.node(NodeKind::IsNone(pc), Ty::Bool);
    let who = Value::Record(vec![num("70"), Value::None(Arc::from("not given"))].into());
    assert_eq!(b.run(test, vec![who.clone()]), Ok(Value::Bool(true)));

    // A field of a record that is itself missing is an error.
    let mut b = B::new();
    b.p.records.push(RecordDef {
        name: "Person".into(),
        fields: vec![FieldDef { name: "age".into(), ty: Ty::INT, optional: false }],
        span: sp(2),
    });
    let (_, person) = b.input("person", Ty::Record(RecordId(0)), true);
    let age = b.node(NodeKind::Field { record: person, index: 0 }, Ty::INT);
    assert_eq!(err_code(b.run(age, vec![])), code::NO_VALUE);
}

#[test]
fn field_chains_read_the_same_in_place_and_traced_at_every_length() {
    // `box.inner.inner…value`, with the chain longer than the untraced evaluator reads in
    // place; a "no value" link anywhere on it is the same error either way.
    for depth in [1usize, 2, 3, 7, 8, 9, 12] {
        for missing_at in [None, Some(0), Some(depth / 2)] {
            let build = || {
                let mut b = B::new();
                b.p.records.push(RecordDef {
                    name: "Box".into(),
                    fields: vec![
                        FieldDef { name: "value".into(), ty: Ty::INT, optional: false },
                        FieldDef { name: "inner".into(), ty: Ty::Record(RecordId(0)), optional: true },
                    ],
                    span: sp(2),
                });
                let (_, mut node) = b.input("box", Ty::Record(RecordId(0)), false);
                for _ in 0..depth {
                    node = b.node(NodeKind::Field { record: node, index: 1 }, Ty::Record(RecordId(0)));
                }
                let value = b.node(NodeKind::Field { record: node, index: 0 }, Ty::INT);
                (b, value)
            };
            let mut boxed = Value::Record(vec![num("42"), Value::None(Arc::from("not given"))].into());
            for level in (0..depth).rev() {
                let inner = if Some(level) == missing_at { Value::None(Arc::from("no inner box")) } else { boxed };
                boxed = Value::Record(vec![num(&level.to_string()), inner].into());
            }
            let (b, value) = build();
            let plain = b.run(value, vec![boxed.clone()]);
            let (b, value) = build();
            let (traced, _, _) = b.trace(value, vec![boxed]);
            assert_eq!(plain, traced, "depth {depth}, missing at {missing_at:?}");
            match missing_at {
                None => assert_eq!(plain, Ok(num("42"))),
                Some(_) => assert_eq!(err_code(plain), code::NO_VALUE),
            }
        }
    }
}

// ---- tables ---------------------------------------------------------------------------

fn band_table(b: &mut B, hit: HitPolicy) -> TableId {
    let rows = vec![
        (vec![range(None, Some(("10", false)))], value_cell(b, "1")),
        (vec![range(Some(("10", true)), Some(("20", true)))], value_cell(b, "2")),
        (vec![range(Some(("20", false)), None)], value_cell(b, "3")),
    ];
    b.table("band", vec![("points", Ty::DECIMAL)], Ty::MONEY, hit, rows)
}

#[test]
fn ranges_respect_their_endpoints() {
    for (points, expected) in
        [("9.99", "1"), ("10", "2"), ("10.0", "2"), ("15", "2"), ("20", "2"), ("20.01", "3"), ("-5", "1")]
    {
        let mut b = B::new();
        let t = band_table(&mut b, HitPolicy::Unique);
        let key = b.dec(points);
        let look = b.lookup(t, vec![key]);
        assert_eq!(b.run(look, vec![]), Ok(num(expected)), "points {points}");
    }
}

#[test]
fn first_policy_takes_the_first_matching_row() {
    let mut b = B::new();
    let rows = vec![
        (vec![eq(&[Value::Enum(0), Value::Enum(2)])], value_cell(&mut b, "10")),
        (vec![Key::Any], value_cell(&mut b, "99")),
    ];
    let t = b.table("rate", vec![("kind", Ty::INT)], Ty::MONEY, HitPolicy::First, rows);
    for (variant, expected) in [(0, "10"), (1, "99"), (2, "10")] {
        let mut b2 = B { p: b.p.clone() };
        let key = b2.konst(Value::Enum(variant), Ty::INT);
        let look = b2.lookup(t, vec![key]);
        assert_eq!(b2.run(look, vec![]), Ok(num(expected)));
    }
}

#[test]
fn unique_policy_with_two_matches_names_both_rows() {
    let mut b = B::new();
    let rows = vec![
        (vec![range(None, Some(("10", true)))], value_cell(&mut b, "1")),
        (vec![eq(&[num("3")])], value_cell(&mut b, "2")),
        (vec![range(Some(("10", true)), None)], value_cell(&mut b, "3")),
    ];
    let t = b.table("overlap", vec![("points", Ty::INT)], Ty::MONEY, HitPolicy::Unique, rows);
    let (row0, row2) = (b.p.tables[0].rows[0].span, b.p.tables[0].rows[2].span);
    let key = b.int(10);
    let look = b.lookup(t, vec![key]);
    let e = b.run(look, vec![]).expect_err("two rows");
    assert_eq!(e.code, code::TWO_ROWS);
    assert_eq!(e.message, "rows 1 and 3 of table `overlap` both match (the table is `hit unique`)");
    assert!(e.labels.iter().any(|(s, m)| *s == row0 && m == "row 1 matches"));
    assert!(e.labels.iter().any(|(s, m)| *s == row2 && m == "row 3 matches too"));
    assert!(e.notes.iter().any(|n| n == "the key values were: points = 10"));
}

#[test]
fn no_row_matched_is_no_value() {
    let mut b = B::new();
    let rows = vec![(vec![eq(&[num("1")])], value_cell(&mut b, "1"))];
    let t = b.table("tariff", vec![("band", Ty::INT)], Ty::MONEY, HitPolicy::Unique, rows);
    let key = b.int(7);
    let look = b.lookup(t, vec![key]);
    assert_eq!(b.run(look, vec![]), Ok(Value::None(Arc::from("no row of table tariff matched"))));
}

// ---- rounding -------------------------------------------------------------------------

#[test]
fn rounding_modes() {
    let cases = [
        ("2.125", RoundMode::HalfUp, "2.13"),
        ("2.125", RoundMode::HalfEven, "2.12"),
        ("2.135", RoundMode::HalfEven, "2.14"),
        ("2.125", RoundMode::Down, "2.12"),
        ("2.125", RoundMode::Up, "2.13"),
        ("2.121", RoundMode::Up, "2.13"),
        ("-2.125", RoundMode::HalfUp, "-2.13"),
        ("-2.125", RoundMode::HalfEven, "-2.12"),
        ("-2.125", RoundMode::Down, "-2.12"),
        ("-2.125", RoundMode::Up, "-2.13"),
        ("2130.375", RoundMode::HalfUp, "2130.38"),
        ("2.1", RoundMode::HalfUp, "2.1"),
    ];
    for (before, mode, after) in cases {
        let mut b = B::new();
        let x = b.money(before);
        let r = b.node(NodeKind::Round { value: x, places: 2, mode }, Ty::MONEY);
        let got = b.run(r, vec![]).expect("rounds");
        assert_eq!(got, num(after), "{before} {mode:?}");
        let Value::Num(n) = got else { unreachable!() };
        assert_eq!(n.to_string(), after, "{before} {mode:?} keeps its scale");
    }
}

#[test]
fn rounding_records_before_and_after() {
    let mut b = B::new();
    let x = b.money("2130.375");
    let r = b.node(NodeKind::Round { value: x, places: 2, mode: RoundMode::HalfUp }, Ty::MONEY);
    let (result, step, _) = b.trace(r, vec![]);
    assert_eq!(result, Ok(num("2130.38")));
    let round = &step.children[0];
    assert_eq!(round.kind, StepKind::Round { before: num("2130.375"), places: 2, mode: RoundMode::HalfUp });
    assert_eq!(round.value, Some(num("2130.38")));
}

// ---- aggregation ----------------------------------------------------------------------

fn list(b: &mut B, items: &[&str]) -> NodeId {
    let v: Vec<Value> = items.iter().map(|s| num(s)).collect();
    b.konst(Value::List(v.into()), Ty::List(Box::new(Ty::INT)))
}

fn agg(b: &mut B, op: AggOp, items: &[&str], double: bool, filter_over: Option<&str>) -> NodeId {
    let l = list(b, items);
    let x = b.local(0, Ty::INT);
    let body = if double {
        let two = b.int(2);
        b.bin(BinOp::Mul, x, two)
    } else {
        x
    };
    let filter = filter_over.map(|t| {
        let x = b.local(0, Ty::INT);
        let t = b.int(t.parse().expect("int"));
        b.bin(BinOp::Gt, x, t)
    });
    let ty = match op {
        AggOp::Count | AggOp::Sum | AggOp::Min | AggOp::Max => Ty::INT,
        AggOp::All | AggOp::Any => Ty::Bool,
        AggOp::Filter => Ty::List(Box::new(Ty::INT)),
    };
    b.node(NodeKind::Aggregate { op, local: LocalId(0), list: l, body, filter }, ty)
}

fn run_agg(op: AggOp, items: &[&str], double: bool, filter: Option<&str>) -> Result<Value, EvalError> {
    let mut b = B::new();
    let n = agg(&mut b, op, items, double, filter);
    b.run(n, vec![])
}

#[test]
fn aggregations() {
    let xs = ["3", "1", "4", "1", "5"];
    assert_eq!(run_agg(AggOp::Sum, &xs, false, None), Ok(num("14")));
    assert_eq!(run_agg(AggOp::Sum, &xs, true, Some("1")), Ok(num("24")));
    assert_eq!(run_agg(AggOp::Count, &xs, false, Some("2")), Ok(num("3")));
    assert_eq!(run_agg(AggOp::Min, &xs, false, None), Ok(num("1")));
    assert_eq!(run_agg(AggOp::Max, &xs, true, None), Ok(num("10")));
    let kept: Vec<Value> = ["6", "8", "10"].iter().map(|s| num(s)).collect();
    assert_eq!(run_agg(AggOp::Filter, &xs, true, Some("2")), Ok(Value::List(kept.into())));
}

#[test]
fn aggregations_of_empty_lists() {
    assert_eq!(run_agg(AggOp::Sum, &[], false, None), Ok(num("0")));
    assert_eq!(run_agg(AggOp::Count, &[], false, None), Ok(num("0")));
    assert_eq!(run_agg(AggOp::Filter, &[], false, None), Ok(Value::List(Vec::new().into())));
    let e = run_agg(AggOp::Min, &[], false, None).expect_err("empty");
    assert_eq!((e.code, e.message.as_str()), ("E0507", "min of an empty list"));
    let e = run_agg(AggOp::Max, &["1", "2"], false, Some("5")).expect_err("empty after filter");
    assert_eq!((e.code, e.message.as_str()), ("E0507", "max of an empty list"));
    assert!(e.notes[0].contains("left out by the `if` filter"));

    let bools = |op, items: &[bool]| {
        let mut b = B::new();
        let v: Vec<Value> = items.iter().map(|&x| Value::Bool(x)).collect();
        let l = b.konst(Value::List(v.into()), Ty::List(Box::new(Ty::Bool)));
        let x = b.local(0, Ty::Bool);
        let n = b.node(NodeKind::Aggregate { op, local: LocalId(0), list: l, body: x, filter: None }, Ty::Bool);
        b.run(n, vec![])
    };
    assert_eq!(bools(AggOp::All, &[]), Ok(Value::Bool(true)));
    assert_eq!(bools(AggOp::Any, &[]), Ok(Value::Bool(false)));
    assert_eq!(bools(AggOp::All, &[true, false, true]), Ok(Value::Bool(false)));
    assert_eq!(bools(AggOp::Any, &[false, true]), Ok(Value::Bool(true)));
}

#[test]
fn a_missing_element_in_a_sum_is_an_error() {
    let mut b = B::new();
    let v = vec![num("1"), Value::None(Arc::from("not assessed"))];
    let l = b.konst(Value::List(v.into()), Ty::List(Box::new(Ty::INT)));
    let x = b.local(0, Ty::INT);
    let n = b.node(NodeKind::Aggregate { op: AggOp::Sum, local: LocalId(0), list: l, body: x, filter: None }, Ty::INT);
    let e = b.run(n, vec![]).expect_err("no value");
    assert_eq!((e.code, e.message.as_str()), ("E0503", "no value: not assessed"));
}

#[test]
fn aggregation_records_each_contribution() {
    let mut b = B::new();
    let n = agg(&mut b, AggOp::Sum, &["3", "1", "4"], true, Some("1"));
    let (result, step, _) = b.trace(n, vec![]);
    assert_eq!(result, Ok(num("14")));
    let sum = &step.children[0];
    assert_eq!(sum.kind, StepKind::Aggregate { op: AggOp::Sum, items: 3, examined: 3, kept: 2 });
    let items: Vec<_> = sum.children.iter().map(|c| (&*c.label, c.value.clone())).collect();
    assert_eq!(items, vec![("item 1", Some(num("6"))), ("item 2", None), ("item 3", Some(num("8")))]);
    let StepKind::Item { element: Some(first), kept: true, .. } = &sum.children[0].kind else {
        panic!("item kind: {:?}", sum.children[0].kind)
    };
    assert_eq!(first.value, num("3"));
    // The filter is the first child of each item; the doubling follows.
    assert!(matches!(sum.children[1].children[0].kind, StepKind::Compare { op: BinOp::Gt, .. }));
    assert!(matches!(sum.children[2].children[1].kind, StepKind::Arithmetic { .. }));
}

// ---- durations and dates --------------------------------------------------------------

fn rate_times(rate: &str, per: Unit, months: i32, days: i32) -> Result<Value, EvalError> {
    let mut b = B::new();
    let ty = Ty::Num(NumTy { per: Some(per), ..NumTy::MONEY });
    let r = b.konst(num(rate), ty);
    let d = b.dur(months, days);
    let n = b.node(NodeKind::Binary(BinOp::MulRateDuration(per), r, d), Ty::MONEY);
    b.run(n, vec![])
}

#[test]
fn rate_times_duration_converts_exactly() {
    assert_eq!(rate_times("10", Unit::Week, 0, 14), Ok(num("20")));
    assert_eq!(rate_times("100", Unit::Month, 12, 0), Ok(num("1200")));
    assert_eq!(rate_times("1200", Unit::Year, 18, 0), Ok(num("1800")));
    assert_eq!(rate_times("3.5", Unit::Day, 0, 10), Ok(num("35")));
    assert_eq!(rate_times("3.5", Unit::BedDay, 0, 10), Ok(num("35")));
    // A part of the rate's unit is fine when the amount is exact.
    assert_eq!(rate_times("7", Unit::Week, 0, 10), Ok(num("10")));
    assert_eq!(rate_times("600000.00", Unit::Year, 1, 0), Ok(num("50000")));
    assert_eq!(rate_times("100.01", Unit::Year, 6, 0), Ok(num("50.005")));
}

#[test]
fn rate_times_duration_refuses_inexact_conversions() {
    let e = rate_times("10", Unit::Week, 6, 0).expect_err("months to weeks");
    assert_eq!((e.code, e.message.as_str()), ("E0505", "6 months cannot be converted to weeks exactly"));
    let e = rate_times("10", Unit::Week, 0, 10).expect_err("10/7 of £10");
    assert_eq!(e.code, "E0505");
    assert!(e.message.ends_with("× 10 days has no exact value: it is 10/7 weeks of the rate"), "{}", e.message);
    let e = rate_times("100.01", Unit::Year, 5, 0).expect_err("5/12 of £100.01");
    assert!(e.message.ends_with("has no exact value: it is 5/12 years of the rate"), "{}", e.message);
    let e = rate_times("10", Unit::Day, 1, 0).expect_err("a month in days");
    assert_eq!(e.message, "1 month cannot be converted to days exactly");
    assert_eq!(err_code(rate_times("10", Unit::Hour, 0, 7)), code::DURATION_UNIT);
}

#[test]
fn month_end_date_addition() {
    let add = |start: &str, months: i32, days: i32, op: BinOp| {
        let mut b = B::new();
        let d = b.date(start);
        let dur = b.dur(months, days);
        let n = b.node(NodeKind::Binary(op, d, dur), Ty::Date);
        b.run(n, vec![])
    };
    assert_eq!(add("2016-01-31", 1, 0, BinOp::DateAddDuration), Ok(Value::Date(date("2016-02-29"))));
    assert_eq!(add("2015-01-31", 1, 0, BinOp::DateAddDuration), Ok(Value::Date(date("2015-02-28"))));
    assert_eq!(add("2015-03-31", 1, 0, BinOp::DateSubDuration), Ok(Value::Date(date("2015-02-28"))));
    assert_eq!(add("2015-12-25", 0, 14, BinOp::DateAddDuration), Ok(Value::Date(date("2016-01-08"))));
    let e = add("9999-12-31", 0, 1, BinOp::DateAddDuration).expect_err("out of range");
    assert_eq!(e.code, code::DATE);
    assert_eq!(e.message, "date out of range: 9999-12-31 + 1 day is outside the years 1 to 9999");
}

#[test]
fn duration_arithmetic_and_equality() {
    let mut b = B::new();
    let (a, c) = (b.dur(6, 0), b.dur(6, 0));
    let sum = b.node(NodeKind::Binary(BinOp::DurationAdd, a, c), Ty::Duration);
    let year = b.dur(12, 0);
    let test = b.bin(BinOp::Eq, sum, year);
    assert_eq!(b.run(test, vec![]), Ok(Value::Bool(true)));

    let mut b = B::new();
    let (a, c) = (b.dur(i32::MAX, 0), b.dur(1, 0));
    let sum = b.node(NodeKind::Binary(BinOp::DurationAdd, a, c), Ty::Duration);
    assert_eq!(err_code(b.run(sum, vec![])), code::OVERFLOW);
}

// ---- built-ins ------------------------------------------------------------------------

fn builtin(f: Builtin, args: Vec<Value>, ty: Ty) -> Result<Value, EvalError> {
    let mut b = B::new();
    let nodes = args
        .into_iter()
        .map(|v| {
            let ty = match &v {
                Value::Date(_) => Ty::Date,
                _ => Ty::INT,
            };
            b.konst(v, ty)
        })
        .collect();
    let n = b.node(NodeKind::Builtin { f, args: nodes }, ty);
    b.run(n, vec![])
}

#[test]
fn builtins() {
    let d = |s| Value::Date(date(s));
    assert_eq!(builtin(Builtin::Min2, vec![num("3"), num("2.5")], Ty::DECIMAL), Ok(num("2.5")));
    assert_eq!(builtin(Builtin::Max2, vec![d("2015-04-01"), d("2016-01-01")], Ty::Date), Ok(d("2016-01-01")));
    assert_eq!(builtin(Builtin::Abs, vec![num("-4.5")], Ty::DECIMAL), Ok(num("4.5")));
    assert_eq!(builtin(Builtin::Year, vec![d("2016-02-29")], Ty::INT), Ok(num("2016")));
    assert_eq!(builtin(Builtin::Month, vec![d("2016-02-29")], Ty::INT), Ok(num("2")));
    assert_eq!(builtin(Builtin::Day, vec![d("2016-02-29")], Ty::INT), Ok(num("29")));
    assert_eq!(builtin(Builtin::MakeDate, vec![num("2016"), num("2"), num("29")], Ty::Date), Ok(d("2016-02-29")));
    let e = builtin(Builtin::MakeDate, vec![num("2015"), num("2"), num("29")], Ty::Date).expect_err("invalid");
    assert_eq!((e.code, e.message.as_str()), ("E0506", "date(2015, 2, 29) is not a valid date"));
    assert_eq!(err_code(builtin(Builtin::MakeDate, vec![num("2015"), num("2.5"), num("1")], Ty::Date)), "E0506");
    assert_eq!(err_code(builtin(Builtin::MakeDate, vec![num("1e20"), num("1"), num("1")], Ty::Date)), "E0506");
    assert_eq!(builtin(Builtin::DaysBetween, vec![d("2016-01-01"), d("2015-12-25")], Ty::INT), Ok(num("-7")));
    assert_eq!(err_code(builtin(Builtin::Abs, vec![Value::None(Arc::from("x"))], Ty::INT)), "E0503");
}

// ---- control flow ---------------------------------------------------------------------

#[test]
fn match_in_set_and_logic() {
    let mut b = B::new();
    b.p.enums.push(EnumDef {
        name: "Placement".into(),
        ordered: false,
        variants: ["Community", "Residential", "Nursing"]
            .map(|n| Variant { name: n.into(), code: None, label: None })
            .to_vec(),
        span: sp(3),
    });
    let ty = Ty::Enum(EnumId(0));
    let (_, placement) = b.input("placement", ty.clone(), false);
    let (r1, r2) = (b.money("100"), b.money("200"));
    let arms = vec![
        MatchArm {
            key: Key::Alts(vec![KeyAlt::Equals(Value::Enum(1)), KeyAlt::Equals(Value::Enum(2))]),
            body: r1,
            span: sp(4),
        },
        MatchArm { key: Key::Any, body: r2, span: sp(5) },
    ];
    let m = b.node(NodeKind::Match { scrutinee: placement, arms }, Ty::MONEY);
    let p = b.p.clone();
    assert_eq!(b.run(m, vec![Value::Enum(2)]), Ok(num("100")));
    let b = B { p };
    let (result, step, _) = b.trace(m, vec![Value::Enum(0)]);
    assert_eq!(result, Ok(num("200")));
    let m = &step.children[0];
    let StepKind::Match { arm, scrutinee, .. } = &m.kind else { panic!("{:?}", m.kind) };
    assert_eq!((*arm, &scrutinee.value), (1, &Value::Enum(0)));
    assert!(matches!(&m.children[0].kind, StepKind::Input { path, .. } if &**path == "placement"));

    // `placement in {Residential, Nursing} or false` short-circuits only when decided.
    let mut b = B::new();
    b.p.enums = p_enums();
    let (_, placement) = b.input("placement", Ty::Enum(EnumId(0)), false);
    let set = b.node(NodeKind::InSet { value: placement, variants: vec![1, 2] }, Ty::Bool);
    let f = b.boolean(false);
    let or = b.bin(BinOp::Or, set, f);
    let (result, step, _) = b.trace(or, vec![Value::Enum(0)]);
    assert_eq!(result, Ok(Value::Bool(false)));
    let or = &step.children[0];
    assert_eq!(or.kind, StepKind::Logic { op: "or".into(), short_circuit: false });
    assert_eq!(or.children.len(), 2);
    let StepKind::InSet { variants, value } = &or.children[0].kind else { panic!() };
    assert_eq!((variants.join(","), &value.value), ("Residential,Nursing".to_string(), &Value::Enum(0)));
    assert_eq!(or.children[1].kind, StepKind::Value);
}

fn p_enums() -> Vec<EnumDef> {
    vec![EnumDef {
        name: "Placement".into(),
        ordered: false,
        variants: ["Community", "Residential", "Nursing"]
            .map(|n| Variant { name: n.into(), code: None, label: None })
            .to_vec(),
        span: sp(3),
    }]
}

#[test]
fn let_binds_a_local() {
    let mut b = B::new();
    let five = b.money("5");
    let x = b.local(0, Ty::MONEY);
    let x2 = b.local(0, Ty::MONEY);
    let body = b.bin(BinOp::Add, x, x2);
    let l = b.node(NodeKind::Let { local: LocalId(0), value: five, body }, Ty::MONEY);
    let p = b.p.clone();
    assert_eq!(b.run(l, vec![]), Ok(num("10")));
    let (result, step, _) = B { p }.trace(l, vec![]);
    assert_eq!(result, Ok(num("10")));
    let kinds: Vec<_> = step.children.iter().map(|c| &c.kind).collect();
    assert!(matches!(kinds.as_slice(), [StepKind::Let, StepKind::Arithmetic { .. }]), "{kinds:?}");
}

#[test]
fn eval_constant_evaluates_frameless_nodes() {
    let mut b = B::new();
    let (x, y) = (b.money("1.10"), b.money("2.20"));
    let sum = b.bin(BinOp::Add, x, y);
    let rec = b.node(NodeKind::List(vec![sum, x]), Ty::List(Box::new(Ty::MONEY)));
    assert_eq!(eval_constant(&b.p, rec), Ok(Value::List(vec![num("3.3"), num("1.1")].into())));
    let (_, input) = b.input("x", Ty::INT, false);
    assert_eq!(eval_constant(&b.p, input).expect_err("no inputs").code, code::INTERNAL);
    assert_eq!(eval_constant(&b.p, NodeId(999)).expect_err("no node").code, code::INTERNAL);
}

#[test]
fn params_are_evaluated_once_and_traced_at_their_declaration() {
    let mut b = B::new();
    let v = b.money("47.50");
    b.p.params.push(ParamDef {
        clause: None,
        valid: None,
        name: "price".into(),
        ty: Ty::MONEY,
        value: v,
        span: sp(7),
        doc: None,
    });
    let read = b.node(NodeKind::Param(ParamId(0)), Ty::MONEY);
    let two = b.int(2);
    let prod = b.bin(BinOp::Mul, read, two);
    let (result, step, _) = b.trace(prod, vec![]);
    assert_eq!(result, Ok(num("95")));
    let param = &step.children[0].children[0];
    assert_eq!(param.kind, StepKind::Param { name: "price".into(), path: "price".into() });
    assert_eq!(param.span, sp(7));
}

// ---- memoisation and traces -----------------------------------------------------------

#[test]
fn memoised_decisions_still_appear_in_the_tree() {
    let mut b = B::new();
    let (_, x) = b.input("x", Ty::INT, false);
    let one = b.int(1);
    let body = b.bin(BinOp::Add, x, one);
    let a = b.decision("a", vec![], 0, body);
    let (c1, c2) = (b.call(a, vec![]), b.call(a, vec![]));
    let prod = b.bin(BinOp::Mul, c1, c2);
    let top = b.decision("b", vec![], 0, prod);

    // Without tracing: the value is computed once and reused.
    let mut s = Session::new(&b.p, vec![num("4")]);
    assert_eq!(s.decision(top, &mut NoTrace), Ok(num("25")));
    assert_eq!(s.decisions[a.index()], Some(num("5")));

    // With a recorder, both references show the value and its own sub-steps.
    let mut s = Session::new(&b.p, vec![num("4")]);
    let mut rec = Recorder::new();
    assert_eq!(s.decision(top, &mut rec), Ok(num("25")));
    let tree = rec.finish().expect("tree");
    assert_eq!(&*tree.label, "b");
    assert_eq!(tree.node, None);
    assert_eq!(tree.span, sp(201));
    let mul = &tree.children[0];
    assert!(matches!(&mul.kind, StepKind::Arithmetic { op, operands } if &**op == "×" && operands.len() == 2));
    let shape: Vec<_> = mul
        .children
        .iter()
        .map(|c| match &c.kind {
            StepKind::Decision { name, memoised, .. } => (name.clone(), *memoised, c.value.clone(), c.children.len()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(shape, vec![("a".into(), false, Some(num("5")), 1), ("a".into(), true, Some(num("5")), 1)]);
    let add = &mul.children[1].children[0];
    assert!(matches!(&add.children[0].kind, StepKind::Input { path, .. } if &**path == "x"));
    assert_eq!(mul.children[1].span, sp(200));

    // Over the step budget, a repeated decision is shown by value only.
    let mut s = Session::new(&b.p, vec![num("4")]);
    let mut rec = Recorder::with_limit(1);
    assert_eq!(s.decision(top, &mut rec), Ok(num("25")));
    let tree = rec.finish().expect("tree");
    assert_eq!(tree.children[0].children[1].children.len(), 0);
}

#[test]
fn decisions_with_parameters_get_a_fresh_frame() {
    let mut b = B::new();
    let p0 = b.local(0, Ty::INT);
    let p1 = b.local(1, Ty::INT);
    let body = b.bin(BinOp::Sub, p0, p1);
    let minus = b.decision("minus", vec![("a", Ty::INT), ("b", Ty::INT)], 2, body);
    let (ten, three) = (b.int(10), b.int(3));
    let call = b.call(minus, vec![ten, three]);
    let (result, step, _) = b.trace(call, vec![]);
    assert_eq!(result, Ok(num("7")));
    let StepKind::Decision { args, memoised: false, .. } = &step.children[0].kind else { panic!() };
    let args: Vec<_> = args.iter().map(|a| (&*a.name, a.value.clone())).collect();
    assert_eq!(args, vec![("a", num("10")), ("b", num("3"))]);
}

#[test]
fn table_steps_record_keys_and_row() {
    let mut b = B::new();
    let t = band_table(&mut b, HitPolicy::Unique);
    let (_, pts) = b.input("points", Ty::DECIMAL, false);
    let look = b.lookup(t, vec![pts]);
    let (result, step, p) = b.trace(look, vec![num("12")]);
    assert_eq!(result, Ok(num("2")));
    let table = &step.children[0];
    let StepKind::Table { name, keys, row, row_span, hit, .. } = &table.kind else { panic!() };
    assert_eq!((&**name, *row, *hit), ("band", Some(1), HitPolicy::Unique));
    assert_eq!(*row_span, Some(p.tables[0].rows[1].span));
    assert_eq!((&*keys[0].name, &keys[0].value), ("points", &num("12")));
    assert!(matches!(&table.children[0].kind, StepKind::Input { .. }));
}

#[test]
fn errors_leave_a_partial_tree() {
    let mut b = B::new();
    let (x, zero) = (b.int(1), b.int(0));
    let q = b.bin(BinOp::Div, x, zero);
    let two = b.int(2);
    let sum = b.bin(BinOp::Add, q, two);
    let (result, step, _) = b.trace(sum, vec![]);
    assert_eq!(result.expect_err("fails").code, "E0501");
    assert_eq!(step.kind, StepKind::Unfinished);
    assert_eq!(step.children[0].kind, StepKind::Unfinished);
    let StepKind::Failed { code, .. } = &step.children[0].children[0].kind else { panic!() };
    assert_eq!(code, "E0501");
}

// ---- guards ---------------------------------------------------------------------------

#[test]
fn deep_call_chains_are_refused() {
    let mut b = B::new();
    let mut body = b.int(1);
    let mut last = b.decision("d0", vec![], 0, body);
    for i in 1..=300 {
        body = b.call(last, vec![]);
        last = b.decision(&format!("d{i}"), vec![], 0, body);
    }
    let e = Session::new(&b.p, vec![]).decision(last, &mut NoTrace).expect_err("too deep");
    assert_eq!(e.code, code::TOO_DEEP);
    assert!(e.message.contains("decisions nested too deeply"), "{}", e.message);

    // A cycle (which the checker forbids) is caught the same way.
    let mut b = B::new();
    let placeholder = b.int(0);
    let d = b.decision("loop", vec![], 0, placeholder);
    let call = b.call(d, vec![]);
    b.p.decisions[0].body = call;
    let mut rec = Recorder::new();
    assert_eq!(Session::new(&b.p, vec![]).decision(d, &mut rec).expect_err("cycle").code, code::TOO_DEEP);
    assert!(rec.finish().is_some());
}

fn deep_expression(depth: usize) -> (B, NodeId) {
    let mut b = B::new();
    let mut n = b.int(1);
    for _ in 0..depth {
        let one = b.int(1);
        n = b.bin(BinOp::Add, n, one);
    }
    (b, n)
}

#[test]
fn very_deep_expressions_are_refused_without_overflowing_the_stack() {
    // Every recursive path, traced and not, on the default 2 MiB test thread: near the limit
    // evaluation either succeeds or stops with E0508; far beyond it, it always stops.
    let limit = crate::MAX_EXPR_DEPTH as usize;
    for depth in [limit / 2 - 2, limit - 2, limit + 2, 10_000] {
        for traced in [false, true] {
            for (name, b, n) in chains(depth) {
                let result = if traced { b.trace(n, vec![]).0 } else { b.run(n, vec![]) };
                match result {
                    Ok(_) => assert!(depth < limit, "{name} {depth} deep evaluated"),
                    Err(e) => assert_eq!(e.code, code::TOO_DEEP, "{name} {depth}: {}", e.message),
                }
            }
        }
    }
    let (b, n) = deep_expression(limit - 3);
    assert_eq!(eval_constant(&b.p, n), Ok(Value::Num(Decimal::from(limit as i64 - 2))));
    let (b, n) = deep_expression(limit - 3);
    let (result, step, _) = b.trace(n, vec![]);
    assert_eq!(result, Ok(Value::Num(Decimal::from(limit as i64 - 2))));
    assert_eq!(step.size(), limit - 2);
    let (b, n) = deep_expression(10_000);
    let e = eval_constant(&b.p, n).expect_err("too deep");
    assert_eq!((e.code, e.message.as_str()), ("E0508", "expression nested too deeply (more than 500 levels)"));
}

/// Chains `depth` deep through each recursive path of the evaluator.
fn chains(depth: usize) -> Vec<(&'static str, B, NodeId)> {
    let mut out = Vec::new();
    let (b, n) = deep_expression(depth);
    out.push(("add", b, n));
    // call chain
    let mut b = B::new();
    let mut body = b.int(1);
    let mut last = b.decision("d0", vec![], 0, body);
    for i in 1..depth {
        body = b.call(last, vec![]);
        last = b.decision(&format!("d{i}"), vec![], 0, body);
    }
    let n = b.call(last, vec![]);
    out.push(("call", b, n));
    // nested aggregates: sum(x for x in [inner])
    let mut b = B::new();
    let mut n = b.int(1);
    for _ in 0..depth {
        let l = b.node(NodeKind::List(vec![n]), Ty::List(Box::new(Ty::INT)));
        let x = b.local(0, Ty::INT);
        let t = b.boolean(true);
        n = b.node(
            NodeKind::Aggregate { op: AggOp::Sum, local: LocalId(0), list: l, body: x, filter: Some(t) },
            Ty::INT,
        );
    }
    out.push(("aggregate", b, n));
    // if chain in the condition
    let mut b = B::new();
    let mut n = b.boolean(true);
    for _ in 0..depth {
        let (t, f) = (b.boolean(true), b.boolean(false));
        n = b.node(NodeKind::If { cond: n, then: t, els: f }, Ty::Bool);
    }
    out.push(("if", b, n));
    // let chain in the value
    let mut b = B::new();
    let mut n = b.int(1);
    for _ in 0..depth {
        let x = b.local(0, Ty::INT);
        n = b.node(NodeKind::Let { local: LocalId(0), value: n, body: x }, Ty::INT);
    }
    out.push(("let", b, n));
    // otherwise chain
    let mut b = B::new();
    let mut n = b.int(1);
    for _ in 0..depth {
        let z = b.int(0);
        n = b.node(NodeKind::Otherwise(n, z), Ty::INT);
    }
    out.push(("otherwise", b, n));
    // and chain
    let mut b = B::new();
    let mut n = b.boolean(true);
    for _ in 0..depth {
        let t = b.boolean(true);
        n = b.bin(BinOp::And, n, t);
    }
    out.push(("and", b, n));
    // builtin chain
    let mut b = B::new();
    let mut n = b.int(1);
    for _ in 0..depth {
        let t = b.int(2);
        n = b.node(NodeKind::Builtin { f: Builtin::Max2, args: vec![n, t] }, Ty::INT);
    }
    out.push(("builtin", b, n));
    // match chain
    let mut b = B::new();
    let mut n = b.int(1);
    for _ in 0..depth {
        let z = b.int(0);
        n = b.node(
            NodeKind::Match { scrutinee: n, arms: vec![MatchArm { key: Key::Any, body: z, span: sp(9) }] },
            Ty::INT,
        );
    }
    out.push(("match", b, n));
    // field chain of record literals
    let mut b = B::new();
    let mut n = b.int(1);
    for _ in 0..depth {
        let r = b.node(NodeKind::Record(vec![n]), Ty::Error);
        n = b.node(NodeKind::Field { record: r, index: 0 }, Ty::INT);
    }
    out.push(("field", b, n));
    // round chain
    let mut b = B::new();
    let mut n = b.int(1);
    for _ in 0..depth {
        n = b.node(NodeKind::Round { value: n, places: 2, mode: RoundMode::HalfUp }, Ty::INT);
    }
    out.push(("round", b, n));
    // table key chain
    let mut b = B::new();
    let t = b.table("t", vec![("k", Ty::INT)], Ty::INT, HitPolicy::First, vec![]);
    let mut n = b.int(1);
    for _ in 0..depth {
        let l = b.lookup(t, vec![n]);
        let z = b.int(1);
        n = b.node(NodeKind::Otherwise(l, z), Ty::INT);
    }
    out.push(("table", b, n));
    out
}

#[test]
fn the_recorder_budget_bounds_trees_of_repeated_decisions() {
    // Each decision uses the previous one three times: 3^40 steps if every repeat were expanded.
    let mut b = B::new();
    let one = b.int(1);
    let mut last = b.decision("d0", vec![], 0, one);
    for i in 1..=40 {
        let (x, y, z) = (b.call(last, vec![]), b.call(last, vec![]), b.call(last, vec![]));
        let sum = b.bin(BinOp::Add, x, y);
        let body = b.bin(BinOp::Sub, sum, z);
        last = b.decision(&format!("d{i}"), vec![], 0, body);
    }
    let mut rec = Recorder::with_limit(10_000);
    assert_eq!(Session::new(&b.p, vec![]).decision(last, &mut rec), Ok(num("1")));
    let tree = rec.finish().expect("tree");
    assert!(tree.size() < 50_000, "{} steps", tree.size());
    assert_eq!(Session::new(&b.p, vec![]).decision(last, &mut NoTrace), Ok(num("1")));
}
