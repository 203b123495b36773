//! Type checking and lowering of expressions, in one walk.
//!
//! [`Context::expr`] checks an expression against an optional expected type (used to resolve
//! bare enum variants such as `Critical` and untyped record literals) and pushes the lowered
//! IR node. Each operator is resolved here to exactly one IR operation, so the evaluator
//! never has to reason about types.

use crate::describe;
use crate::scope::{Context, Def, suggest};
use covenant_ir::types::{divide, multiply, unify_additive};
use covenant_ir::{
    AggOp, BinOp, Builtin, Cell, DecisionId, Duration, EnumId, HitPolicy, Key, LocalId, MatchArm, Node, NodeId,
    NodeKind, NumKind, NumTy, Origin, Owner, RecordId, RoundMode, Row, TableDef, Ty, UnOp, Unit, Value, VersionArm,
};
use covenant_source::{Diagnostic, Span};
use covenant_syntax::ast::{self, BinaryOp, Expr, ExprKind, ItemKind, KeyKind, Lit};
use rust_decimal::Decimal;
use std::sync::Arc;

/// What an expression may refer to, and where its nodes belong.
pub(crate) struct Body {
    pub module: usize,
    pub owner: Owner,
    pub locals: Vec<(String, LocalId, Ty)>,
    pub next_local: u32,
    /// Constants (params, table cells, test values) may not read inputs, decisions or tables.
    pub constant: bool,
    pub decision: Option<DecisionId>,
}

impl Body {
    pub fn constant(module: usize, owner: Owner) -> Body {
        Body { module, owner, locals: Vec::new(), next_local: 0, constant: true, decision: None }
    }

    pub(crate) fn bind(&mut self, name: &str, ty: Ty) -> LocalId {
        let id = LocalId(self.next_local);
        self.next_local += 1;
        self.locals.push((name.to_string(), id, ty));
        id
    }
}

const AGGREGATES: &[&str] = &["sum", "count", "min", "max", "all", "any", "filter"];
const BUILTINS: &[&str] = &[
    "round",
    "abs",
    "year",
    "month",
    "day",
    "date",
    "days_between",
    "ratio",
    "pro_rata",
    "paid_to",
    "paid_by",
    "term_start",
    "term_end",
    "period_start",
    "period_end",
];

/// Whether a value of type `actual` may be used where `expected` is wanted.
pub(crate) fn fits(actual: &Ty, expected: &Ty) -> bool {
    match (actual, expected) {
        (Ty::Error, _) | (_, Ty::Error) => true,
        (Ty::Num(a), Ty::Num(e)) => {
            a == e || (a.kind == NumKind::Int && e.kind == NumKind::Decimal && a.unit == e.unit && a.per == e.per)
        }
        (Ty::List(a), Ty::List(e)) => fits(a, e),
        (a, e) => a == e,
    }
}

/// The type two branches share (`if`, `match`, `otherwise`), if any.
fn join(a: &Ty, b: &Ty) -> Option<Ty> {
    match (a, b) {
        (Ty::Error, other) | (other, Ty::Error) => Some(other.clone()),
        (Ty::Num(x), Ty::Num(y)) => unify_additive(*x, *y).map(Ty::Num),
        (Ty::List(x), Ty::List(y)) => join(x, y).map(|t| Ty::List(Box::new(t))),
        (x, y) if x == y => Some(x.clone()),
        _ => None,
    }
}

impl Context<'_> {
    /// Step 3: check and lower every body.
    pub fn elaborate_all(&mut self) {
        // Splits first: calls to them need their parties.
        self.elaborate_splits();
        self.elaborate_contracts();
        for (index, &at) in self.param_items.clone().iter().enumerate() {
            let ItemKind::Param(p) = &self.item(at).kind else { continue };
            let id = covenant_ir::ParamId(index as u32);
            let mut body = Body::constant(at.0, Owner::Param(id));
            let ty = self.program.params[index].ty.clone();
            self.program.params[index].value = self.expect(&mut body, &p.value, &ty, "the param's declared type");
        }
        for (index, &at) in self.decision_items.clone().iter().enumerate() {
            let ItemKind::Decision(d) = &self.item(at).kind else { continue };
            let id = DecisionId(index as u32);
            let mut body = Body {
                module: at.0,
                owner: Owner::Decision(id),
                locals: Vec::new(),
                next_local: 0,
                constant: false,
                decision: Some(id),
            };
            for (name, ty) in self.program.decisions[index].params.clone() {
                body.bind(&name, ty);
            }
            let ty = self.program.decisions[index].ty.clone();
            let node = self.expect(&mut body, &d.body, &ty, "the decision's declared type");
            self.program.decisions[index].body = node;
            self.program.decisions[index].locals = body.next_local;
        }
        for (dispatcher, versions) in self.dispatchers.clone() {
            let def = self.program.decision(dispatcher).clone();
            let mut body = Body {
                module: self.decision_items[versions[0].index()].0,
                owner: Owner::Decision(dispatcher),
                locals: Vec::new(),
                next_local: 0,
                constant: false,
                decision: Some(dispatcher),
            };
            let params: Vec<LocalId> = def.params.iter().map(|(n, t)| body.bind(n, t.clone())).collect();
            let mut arms = Vec::new();
            for v in versions {
                let args = params
                    .iter()
                    .zip(&def.params)
                    .map(|(l, (_, t))| self.push(&body, NodeKind::Local(*l), t.clone(), def.name_span))
                    .collect();
                let node = self.push(&body, NodeKind::Decision { id: v, args }, def.ty.clone(), def.name_span);
                self.calls[dispatcher.index()].push((v, def.name_span));
                arms.push((Def::Decision(v), node));
            }
            let (node, _) = self.versioned(&body, &def.name, arms.into_iter(), def.ty.clone(), def.name_span);
            self.program.decisions[dispatcher.index()].body = node;
            self.program.decisions[dispatcher.index()].locals = body.next_local;
        }
        for index in 0..self.table_items.len() {
            self.elaborate_table(index);
        }
        for (i, at) in self.as_of_items.clone().into_iter().enumerate() {
            let ItemKind::AsOf(date) = &self.item(at).kind else { continue };
            if i > 0 {
                self.error(
                    Diagnostic::error(
                        "E0434",
                        "the date that chooses versions is declared twice",
                        date.span,
                        "second `as of`",
                    )
                    .with_help("declare `as of …` once, in the file you evaluate"),
                );
                continue;
            }
            let mut body = Body {
                module: at.0,
                owner: Owner::AsOf,
                locals: Vec::new(),
                next_local: 0,
                constant: false,
                decision: None,
            };
            self.program.as_of = Some(self.expect(&mut body, date, &Ty::Date, "the `as of` date"));
        }
        self.elaborate_tests();
    }

    pub(crate) fn push(&mut self, body: &Body, kind: NodeKind, ty: Ty, span: Span) -> NodeId {
        let id = NodeId(self.program.nodes.len() as u32);
        self.program.nodes.push(Node { kind, ty, origin: Origin { span, owner: body.owner } });
        id
    }

    fn error(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    pub(crate) fn poison(&mut self, body: &Body, span: Span) -> (NodeId, Ty) {
        (self.push(body, NodeKind::Const(Value::None("an error was reported here".into())), Ty::Error, span), Ty::Error)
    }

    fn describe(&self, ty: &Ty) -> String {
        describe(&self.program, ty)
    }

    /// Checks `e` against `expected`, reporting a mismatch as E0301.
    pub(crate) fn expect(&mut self, body: &mut Body, e: &Expr, expected: &Ty, what: &str) -> NodeId {
        let (node, ty) = self.expr(body, e, Some(expected));
        if !fits(&ty, expected) {
            let d = Diagnostic::error(
                "E0301",
                format!("expected {}, found {}", self.describe(expected), self.describe(&ty)),
                e.span,
                format!("this is {}", self.describe(&ty)),
            )
            .with_note(format!("{} is {}", what, self.describe(expected)));
            let d = match mismatch_hint(expected, &ty) {
                Some(h) => d.with_help(h),
                None => d,
            };
            self.error(d);
        }
        node
    }

    pub(crate) fn expr(&mut self, body: &mut Body, e: &Expr, expected: Option<&Ty>) -> (NodeId, Ty) {
        let span = e.span;
        match &e.kind {
            ExprKind::Error => self.poison(body, span),
            ExprKind::Lit(lit) => self.literal(body, lit, span, expected),
            ExprKind::Name(name) => self.name(body, name, expected),
            ExprKind::Field(base, field) => self.field(body, base, field, span, expected),
            ExprKind::Call { callee, args, comprehension } => {
                self.call(body, callee, args, comprehension.as_deref(), span, expected)
            }
            ExprKind::Unary(op, operand) => {
                let (node, ty) = self.expr(body, operand, expected);
                match (op, &ty) {
                    (ast::UnaryOp::Not, Ty::Bool | Ty::Error) => {
                        (self.push(body, NodeKind::Unary(UnOp::Not, node), Ty::Bool, span), Ty::Bool)
                    }
                    (ast::UnaryOp::Neg, Ty::Num(_) | Ty::Error) => {
                        (self.push(body, NodeKind::Unary(UnOp::Neg, node), ty.clone(), span), ty)
                    }
                    (ast::UnaryOp::Neg, Ty::Duration) => {
                        (self.push(body, NodeKind::Unary(UnOp::Neg, node), Ty::Duration, span), Ty::Duration)
                    }
                    _ => {
                        let want = if *op == ast::UnaryOp::Not { "`not` needs a Bool" } else { "`-` needs a number" };
                        let found = self.describe(&ty);
                        self.error(Diagnostic::error(
                            "E0301",
                            format!("{want}, found {found}"),
                            operand.span,
                            format!("this is {found}"),
                        ));
                        self.poison(body, span)
                    }
                }
            }
            ExprKind::Binary(op, l, r) => self.binary(body, *op, l, r, span, expected),
            ExprKind::If { cond, then, els } => {
                let c = self.expect(body, cond, &Ty::Bool, "a condition");
                let (t, tt) = self.expr(body, then, expected);
                let (f, ft) = self.expr(body, els, expected.or(Some(&tt)));
                let ty = self.join_or_report(&tt, &ft, then.span, els.span, "the two branches of `if`");
                (self.push(body, NodeKind::If { cond: c, then: t, els: f }, ty.clone(), span), ty)
            }
            ExprKind::Let { name, value, body: rest } => {
                let (v, vt) = self.expr(body, value, None);
                let local = body.bind(&name.text, vt);
                let (b, bt) = self.expr(body, rest, expected);
                body.locals.pop();
                (self.push(body, NodeKind::Let { local, value: v, body: b }, bt.clone(), span), bt)
            }
            ExprKind::Match { scrutinee, arms } => self.match_expr(body, scrutinee, arms, span, expected),
            ExprKind::InSet(value, members) => {
                let (v, vt) = self.expr(body, value, None);
                let Ty::Enum(id) = vt else {
                    if vt != Ty::Error {
                        let found = self.describe(&vt);
                        self.error(
                            Diagnostic::error(
                                "E0301",
                                format!("`in {{…}}` needs an enum value, found {found}"),
                                value.span,
                                format!("this is {found}"),
                            )
                            .with_help("for numbers, compare with `<=` and `>=`; for other values use `==` with `or`"),
                        );
                    }
                    return self.poison(body, span);
                };
                let variants = members.iter().filter_map(|m| self.variant_of(body, m, id)).collect();
                (self.push(body, NodeKind::InSet { value: v, variants }, Ty::Bool, span), Ty::Bool)
            }
            ExprKind::IsVariant { value, negated, variant } => {
                let (v, vt) = self.expr(body, value, None);
                let Ty::Enum(id) = vt else {
                    if vt != Ty::Error {
                        let found = self.describe(&vt);
                        self.error(
                            Diagnostic::error(
                                "E0301",
                                format!("`is` needs an enum value, found {found}"),
                                value.span,
                                format!("this is {found}"),
                            )
                            .with_help("use `==` to compare other values, or `is none` to test for no value"),
                        );
                    }
                    return self.poison(body, span);
                };
                let variants = self.variant_of(body, variant, id).into_iter().collect();
                let test = self.push(body, NodeKind::InSet { value: v, variants }, Ty::Bool, span);
                if *negated {
                    (self.push(body, NodeKind::Unary(UnOp::Not, test), Ty::Bool, span), Ty::Bool)
                } else {
                    (test, Ty::Bool)
                }
            }
            ExprKind::IsNone { value, negated } => {
                let (v, _) = self.expr(body, value, None);
                let test = self.push(body, NodeKind::IsNone(v), Ty::Bool, span);
                if *negated {
                    (self.push(body, NodeKind::Unary(UnOp::Not, test), Ty::Bool, span), Ty::Bool)
                } else {
                    (test, Ty::Bool)
                }
            }
            ExprKind::Otherwise(value, fallback) => {
                let (v, vt) = self.expr(body, value, expected);
                let (f, ft) = self.expr(body, fallback, expected.or(Some(&vt)));
                let ty =
                    self.join_or_report(&vt, &ft, value.span, fallback.span, "a value and its `otherwise` fallback");
                (self.push(body, NodeKind::Otherwise(v, f), ty.clone(), span), ty)
            }
            ExprKind::Record { name, fields } => self.record(body, name.as_ref(), fields, span, expected),
            ExprKind::Rules { default, rules } => self.rules(body, default.as_deref(), rules, span, expected),
            ExprKind::NoValue(reason) => match expected {
                Some(ty) => {
                    let ty = ty.clone();
                    (self.push(body, NodeKind::Const(Value::None(Arc::from(reason.as_str()))), ty.clone(), span), ty)
                }
                None => {
                    self.error(
                        Diagnostic::error("E0301", "cannot tell the type of this `none`", span, "no value of which type?")
                            .with_help("use `none \"reason\"` where the type is known: a decision's body, a table cell, a branch of `if`"),
                    );
                    self.poison(body, span)
                }
            },
            ExprKind::List(items) => {
                let elem_expected = match expected {
                    Some(Ty::List(inner)) => Some((**inner).clone()),
                    _ => None,
                };
                let mut nodes = Vec::new();
                let mut elem: Option<Ty> = elem_expected.clone();
                for item in items {
                    let (n, t) = self.expr(body, item, elem.as_ref());
                    let joined = match &elem {
                        None => Some(t),
                        Some(prev) => match join(prev, &t) {
                            Some(j) => Some(j),
                            None => {
                                let (want, found) = (self.describe(prev), self.describe(&t));
                                self.error(Diagnostic::error(
                                    "E0301",
                                    format!("list items must share one type: expected {want}, found {found}"),
                                    item.span,
                                    format!("this is {found}"),
                                ));
                                elem.clone()
                            }
                        },
                    };
                    elem = joined;
                    nodes.push(n);
                }
                let Some(elem) = elem else {
                    self.error(
                        Diagnostic::error("E0301", "cannot tell the type of this empty list", span, "empty list")
                            .with_help("use it where a list type is expected, such as a `given` for a list input"),
                    );
                    return self.poison(body, span);
                };
                let ty = Ty::List(Box::new(elem));
                (self.push(body, NodeKind::List(nodes), ty.clone(), span), ty)
            }
        }
    }

    fn join_or_report(&mut self, a: &Ty, b: &Ty, a_span: Span, b_span: Span, what: &str) -> Ty {
        match join(a, b) {
            Some(t) => t,
            None => {
                let (x, y) = (self.describe(a), self.describe(b));
                self.error(
                    Diagnostic::error(
                        "E0301",
                        format!("{what} have different types: {x} and {y}"),
                        b_span,
                        format!("this is {y}"),
                    )
                    .with_label(a_span, format!("this is {x}")),
                );
                Ty::Error
            }
        }
    }

    fn literal(&mut self, body: &Body, lit: &Lit, span: Span, expected: Option<&Ty>) -> (NodeId, Ty) {
        let (value, ty) = match lit {
            Lit::Int(n) => (Value::Num(*n), Ty::INT),
            Lit::Decimal(n) => (Value::Num(*n), Ty::DECIMAL),
            Lit::Percent(n) => (Value::Num(*n), Ty::PERCENT),
            Lit::Money(n, per) => {
                let per = match per {
                    None => None,
                    Some(p) => match self.unit(p) {
                        Some(u) => Some(u),
                        None => return self.poison(body, span),
                    },
                };
                (Value::Num(*n), Ty::Num(NumTy { per, ..NumTy::MONEY }))
            }
            Lit::Hours(n, per) => {
                let per = match per {
                    None => None,
                    Some(p) => match self.unit(p) {
                        Some(u) => Some(u),
                        None => return self.poison(body, span),
                    },
                };
                (Value::Num(*n), Ty::Num(NumTy { per, ..NumTy::HOURS }))
            }
            Lit::Text(t) => (Value::Text(Arc::from(t.as_str())), Ty::Text),
            Lit::Bool(b) => (Value::Bool(*b), Ty::Bool),
            Lit::Date(text) => match covenant_ir::Date::parse(text) {
                Some(d) => (Value::Date(d), Ty::Date),
                None => {
                    self.error(
                        Diagnostic::error("E0310", format!("`{text}` is not a date"), span, "no such day")
                            .with_help("dates are written YYYY-MM-DD, between years 1 and 9999"),
                    );
                    return self.poison(body, span);
                }
            },
            Lit::Duration(n, unit) => {
                let Ok(n) = i32::try_from(*n) else {
                    self.error(Diagnostic::error("E0003", "this duration is too long", span, "too large"));
                    return self.poison(body, span);
                };
                let duration = match unit.text.trim_end_matches('s') {
                    "day" => Some(Duration { months: 0, days: n }),
                    "week" => n.checked_mul(7).map(|days| Duration { months: 0, days }),
                    "month" => Some(Duration { months: n, days: 0 }),
                    _ => n.checked_mul(12).map(|months| Duration { months, days: 0 }),
                };
                let Some(duration) = duration else {
                    self.error(Diagnostic::error("E0003", "this duration is too long", span, "too large"));
                    return self.poison(body, span);
                };
                (Value::Duration(duration), Ty::Duration)
            }
        };
        // A plain number literal takes a Decimal type where one is expected.
        let ty = match (&ty, expected) {
            (Ty::Num(n), Some(Ty::Num(e)))
                if n.kind == NumKind::Int && e.kind == NumKind::Decimal && n.is_plain() && e.is_plain() =>
            {
                Ty::DECIMAL
            }
            _ => ty,
        };
        (self.push(body, NodeKind::Const(value), ty.clone(), span), ty)
    }

    fn unit(&mut self, name: &ast::Name) -> Option<Unit> {
        let unit = Unit::from_word(&name.text);
        if unit.is_none() {
            self.error(
                Diagnostic::error("E0207", format!("unknown unit `{}`", name.text), name.span, "not a unit")
                    .with_help("units are hour, day, week, month, year, bed_day and case"),
            );
        }
        unit
    }

    fn name(&mut self, body: &mut Body, name: &ast::Name, expected: Option<&Ty>) -> (NodeId, Ty) {
        let span = name.span;
        if let Some((_, local, ty)) = body.locals.iter().rev().find(|(n, _, _)| *n == name.text) {
            let (local, ty) = (*local, ty.clone());
            return (self.push(body, NodeKind::Local(local), ty.clone(), span), ty);
        }
        // An expected enum type decides bare variant names first: `Critical` in a FacsBand slot.
        if let Some(Ty::Enum(id)) = expected
            && let Some(index) = self.program.enum_def(*id).variants.iter().position(|v| v.name == name.text)
        {
            let ty = Ty::Enum(*id);
            return (self.push(body, NodeKind::Const(Value::Enum(index as u32)), ty.clone(), span), ty);
        }
        match self.lookup(body.module, &name.text) {
            Some(Def::Input(id)) => {
                if body.constant {
                    return self.not_constant(body, span, "an input");
                }
                let ty = self.program.input(id).ty.clone();
                (self.push(body, NodeKind::Input(id), ty.clone(), span), ty)
            }
            Some(Def::Param(id)) => {
                let ty = self.program.param(id).ty.clone();
                let versions = self.versions_of(Def::Param(id)).map(<[Def]>::to_vec);
                match versions {
                    None => (self.push(body, NodeKind::Param(id), ty.clone(), span), ty),
                    Some(versions) => {
                        let nodes = versions
                            .iter()
                            .filter_map(|d| if let Def::Param(v) = d { Some(*v) } else { None })
                            .map(|v| (v, self.push(body, NodeKind::Param(v), ty.clone(), span)))
                            .collect::<Vec<_>>();
                        self.versioned(body, &name.text, nodes.into_iter().map(|(v, n)| (Def::Param(v), n)), ty, span)
                    }
                }
            }
            Some(Def::Decision(id)) => {
                if body.constant {
                    return self.not_constant(body, span, "a decision");
                }
                if !self.program.decision(id).params.is_empty() {
                    let n = self.program.decision(id).params.len();
                    self.error(
                        Diagnostic::error(
                            "E0306",
                            format!("decision `{}` needs {n} argument(s)", name.text),
                            span,
                            "called without arguments",
                        )
                        .with_label(self.program.decision(id).name_span, "declared here"),
                    );
                    return self.poison(body, span);
                }
                self.note_call(body, id, span);
                let ty = self.program.decision(id).ty.clone();
                (self.push(body, NodeKind::Decision { id, args: Vec::new() }, ty.clone(), span), ty)
            }
            Some(Def::Split(id)) => {
                self.error(
                    Diagnostic::error(
                        "E0306",
                        format!("split `{}` must be called with an amount and a party", name.text),
                        span,
                        "a split, not a value",
                    )
                    .with_label(self.program.splits[id.index()].name_span, "declared here")
                    .with_help(format!("write `{}(amount, party)`", name.text)),
                );
                self.poison(body, span)
            }
            Some(Def::Table(id)) => {
                self.error(
                    Diagnostic::error(
                        "E0306",
                        format!("table `{}` must be called with its keys", name.text),
                        span,
                        "a table, not a value",
                    )
                    .with_label(self.program.table(id).name_span, "declared here"),
                );
                self.poison(body, span)
            }
            Some(Def::Enum(_) | Def::Record(_)) => {
                self.error(
                    Diagnostic::error("E0202", format!("`{}` is a type, not a value", name.text), span, "a type")
                        .with_help("write a variant (`Critical`) or a record literal (`Person { … }`)"),
                );
                self.poison(body, span)
            }
            None => {
                if let Some((id, index)) = self.find_variant(body.module, &name.text, span) {
                    let ty = Ty::Enum(id);
                    return (self.push(body, NodeKind::Const(Value::Enum(index)), ty.clone(), span), ty);
                }
                if self.diagnostics.last().is_some_and(|d| d.code == "E0206" && d.primary.span == span) {
                    return self.poison(body, span);
                }
                self.unknown_name(body, name);
                self.poison(body, span)
            }
        }
    }

    /// A reference that chooses among dated versions by the evaluation date.
    fn versioned(
        &mut self,
        body: &Body,
        name: &str,
        arms: impl Iterator<Item = (Def, NodeId)>,
        ty: Ty,
        span: Span,
    ) -> (NodeId, Ty) {
        let versions = arms
            .filter_map(|(def, node)| {
                let (valid, span) = match def {
                    Def::Table(id) => (self.program.table(id).valid?, self.program.table(id).span),
                    Def::Param(id) => (self.program.param(id).valid?, self.program.param(id).span),
                    Def::Decision(id) => (self.program.decision(id).valid?, self.program.decision(id).span),
                    _ => return None,
                };
                Some(VersionArm { valid, node, span })
            })
            .collect();
        (self.push(body, NodeKind::Versioned { name: name.to_string(), versions }, ty.clone(), span), ty)
    }

    pub(crate) fn not_constant(&mut self, body: &Body, span: Span, what: &str) -> (NodeId, Ty) {
        let place = match body.owner {
            Owner::Param(_) => "a param's value",
            Owner::Table(_) => "a table cell",
            _ => "a test value",
        };
        self.error(
            Diagnostic::error(
                "E0312",
                format!("{place} must be a constant, but this reads {what}"),
                span,
                "not a constant",
            )
            .with_help(
                "params, table cells and test values are fixed values; compute from inputs in a decision instead",
            ),
        );
        self.poison(body, span)
    }

    pub(crate) fn note_call(&mut self, body: &Body, id: DecisionId, span: Span) {
        if let Some(caller) = body.decision {
            self.calls[caller.index()].push((id, span));
        }
    }

    fn unknown_name(&mut self, body: &Body, name: &ast::Name) {
        let mut candidates = self.visible_names(body.module);
        candidates.extend(body.locals.iter().map(|(n, _, _)| n.clone()));
        for id in self.visible_enums(body.module) {
            candidates.extend(self.program.enum_def(id).variants.iter().map(|v| v.name.clone()));
        }
        let d = Diagnostic::error("E0202", format!("unknown name `{}`", name.text), name.span, "not defined here");
        let d = match suggest(&name.text, &candidates) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help("declare it, or import the module that declares it"),
        };
        self.error(d);
    }

    /// A bare variant name among the enums visible in a module; reports E0206 if ambiguous.
    fn find_variant(&mut self, module: usize, name: &str, span: Span) -> Option<(EnumId, u32)> {
        let hits: Vec<(EnumId, u32)> = self
            .visible_enums(module)
            .into_iter()
            .filter_map(|id| {
                self.program.enum_def(id).variants.iter().position(|v| v.name == name).map(|i| (id, i as u32))
            })
            .collect();
        match hits.as_slice() {
            [one] => Some(*one),
            [] => None,
            many => {
                let owners: Vec<String> =
                    many.iter().map(|(id, _)| format!("`{}.{name}`", self.program.enum_def(*id).name)).collect();
                self.error(
                    Diagnostic::error(
                        "E0206",
                        format!("`{name}` is a variant of more than one enum"),
                        span,
                        "ambiguous",
                    )
                    .with_help(format!("write {}", owners.join(" or "))),
                );
                None
            }
        }
    }

    /// Resolves `m` as a variant of enum `id` (`Critical`, `FacsBand.Critical`, or a code).
    pub(crate) fn variant_of(&mut self, body: &mut Body, m: &Expr, id: EnumId) -> Option<u32> {
        // Tables name a variant in every row: the enum is looked at in place, and what an
        // error would say is worked out only for an error.
        let def = self.program.enum_def(id);
        let position = |name: &str| def.variants.iter().position(|v| v.name == name).map(|i| i as u32);
        // The name written, if it may be a misspelt variant (for a suggestion).
        let (found, written) = match &m.kind {
            ExprKind::Name(n) => (position(&n.text), Some(n)),
            ExprKind::Field(base, n) => match &base.kind {
                ExprKind::Name(b) if b.text == def.name => (position(&n.text), Some(n)),
                _ => (None, None),
            },
            ExprKind::Lit(Lit::Int(code)) => {
                let code_value = i64::try_from(*code).ok();
                (def.variants.iter().position(|v| v.code.is_some() && v.code == code_value).map(|i| i as u32), None)
            }
            _ => {
                let (_, ty) = self.expr(body, m, Some(&Ty::Enum(id)));
                if ty == Ty::Error {
                    return None;
                }
                (None, None)
            }
        };
        if found.is_some() {
            return found;
        }
        let def = self.program.enum_def(id);
        let shown = match &m.kind {
            ExprKind::Name(n) | ExprKind::Field(_, n) => format!("`{}`", n.text),
            ExprKind::Lit(Lit::Int(code)) => format!("code {code}"),
            _ => "this".to_string(),
        };
        let names: Vec<String> = def.variants.iter().map(|v| v.name.clone()).collect();
        let hint = written.and_then(|n| suggest(&n.text, &names)).map(|s| format!("did you mean `{s}`?"));
        let message = format!("{shown} is not a variant of `{}`", def.name);
        self.error(
            Diagnostic::error("E0202", message, m.span, "no such variant")
                .with_help(hint.unwrap_or_else(|| format!("the variants are {}", names.join(", ")))),
        );
        None
    }

    fn field(
        &mut self,
        body: &mut Body,
        base: &Expr,
        field: &ast::Name,
        span: Span,
        expected: Option<&Ty>,
    ) -> (NodeId, Ty) {
        // `FacsBand.Critical`: a qualified variant.
        if let ExprKind::Name(type_name) = &base.kind {
            let is_local = body.locals.iter().any(|(n, _, _)| *n == type_name.text);
            if !is_local && let Some(Def::Enum(id)) = self.lookup(body.module, &type_name.text) {
                let Some(index) =
                    self.variant_of(body, &Expr { kind: ExprKind::Name(field.clone()), span: field.span }, id)
                else {
                    return self.poison(body, span);
                };
                let ty = Ty::Enum(id);
                return (self.push(body, NodeKind::Const(Value::Enum(index)), ty.clone(), span), ty);
            }
        }
        let _ = expected;
        let (record, ty) = self.expr(body, base, None);
        match ty {
            Ty::Record(id) => {
                let def = self.program.record_def(id);
                match def.fields.iter().position(|f| f.name == field.text) {
                    Some(index) => {
                        let fty = def.fields[index].ty.clone();
                        (self.push(body, NodeKind::Field { record, index: index as u32 }, fty.clone(), span), fty)
                    }
                    None => {
                        let names: Vec<String> = def.fields.iter().map(|f| f.name.clone()).collect();
                        let d = Diagnostic::error(
                            "E0307",
                            format!("record `{}` has no field `{}`", def.name, field.text),
                            field.span,
                            "no such field",
                        );
                        let d = match suggest(&field.text, &names) {
                            Some(s) => d.with_help(format!("did you mean `{s}`?")),
                            None => d.with_help(format!("its fields are {}", names.join(", "))),
                        };
                        self.error(d);
                        self.poison(body, span)
                    }
                }
            }
            Ty::Error => self.poison(body, span),
            other => {
                let found = self.describe(&other);
                self.error(Diagnostic::error(
                    "E0307",
                    format!("{found} has no fields"),
                    base.span,
                    format!("this is {found}"),
                ));
                self.poison(body, span)
            }
        }
    }

    fn record(
        &mut self,
        body: &mut Body,
        name: Option<&ast::Name>,
        fields: &[(ast::Name, Expr)],
        span: Span,
        expected: Option<&Ty>,
    ) -> (NodeId, Ty) {
        let id: RecordId = match (name, expected) {
            (Some(n), _) => match self.lookup(body.module, &n.text) {
                Some(Def::Record(id)) => id,
                _ => {
                    self.error(Diagnostic::error(
                        "E0203",
                        format!("`{}` is not a record type", n.text),
                        n.span,
                        "not a record",
                    ));
                    return self.poison(body, span);
                }
            },
            (None, Some(Ty::Record(id))) => *id,
            (None, _) => {
                self.error(
                    Diagnostic::error("E0301", "cannot tell which record this is", span, "record without a type name")
                        .with_help("write the record's name before the brace: `Person { … }`"),
                );
                return self.poison(body, span);
            }
        };
        let def = self.program.record_def(id).clone();
        let mut nodes: Vec<Option<NodeId>> = vec![None; def.fields.len()];
        for (fname, value) in fields {
            match def.fields.iter().position(|f| f.name == fname.text) {
                Some(i) => {
                    if nodes[i].is_some() {
                        self.error(Diagnostic::error(
                            "E0311",
                            format!("field `{}` is given twice", fname.text),
                            fname.span,
                            "given again",
                        ));
                        continue;
                    }
                    let what = format!("field `{}` of `{}`", fname.text, def.name);
                    nodes[i] = Some(self.expect(body, value, &def.fields[i].ty, &what));
                }
                None => {
                    let names: Vec<String> = def.fields.iter().map(|f| f.name.clone()).collect();
                    let d = Diagnostic::error(
                        "E0311",
                        format!("record `{}` has no field `{}`", def.name, fname.text),
                        fname.span,
                        "unknown field",
                    );
                    let d = match suggest(&fname.text, &names) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help(format!("its fields are {}", names.join(", "))),
                    };
                    self.error(d);
                }
            }
        }
        let mut missing = Vec::new();
        let mut out = Vec::new();
        for (i, f) in def.fields.iter().enumerate() {
            match nodes[i] {
                Some(n) => out.push(n),
                None if f.optional => {
                    out.push(self.push(body, NodeKind::Const(Value::None("not given".into())), f.ty.clone(), span))
                }
                None => {
                    missing.push(f.name.clone());
                    out.push(self.poison(body, span).0);
                }
            }
        }
        if !missing.is_empty() {
            self.error(
                Diagnostic::error(
                    "E0311",
                    format!("record `{}` is missing {}", def.name, list_names(&missing)),
                    span,
                    "incomplete record",
                )
                .with_help("give every field that is not marked `optional`"),
            );
        }
        let ty = Ty::Record(id);
        (self.push(body, NodeKind::Record(out), ty.clone(), span), ty)
    }

    fn binary(
        &mut self,
        body: &mut Body,
        op: BinaryOp,
        l: &Expr,
        r: &Expr,
        span: Span,
        expected: Option<&Ty>,
    ) -> (NodeId, Ty) {
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let a = self.expect(body, l, &Ty::Bool, &format!("each side of `{}`", op.symbol()));
            let b = self.expect(body, r, &Ty::Bool, &format!("each side of `{}`", op.symbol()));
            let bop = if op == BinaryOp::And { BinOp::And } else { BinOp::Or };
            return (self.push(body, NodeKind::Binary(bop, a, b), Ty::Bool, span), Ty::Bool);
        }
        let is_cmp =
            matches!(op, BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge);
        let arith_hint = if matches!(op, BinaryOp::Add | BinaryOp::Sub) { expected } else { None };
        let (a, at) = self.expr(body, l, arith_hint);
        // The left side's type lets `band == Critical` resolve the variant on the right.
        let right_expected = if is_cmp { Some(at.clone()) } else { arith_hint.cloned() };
        let (b, bt) = self.expr(body, r, right_expected.as_ref());
        if at == Ty::Error || bt == Ty::Error {
            let ty = if is_cmp { Ty::Bool } else { Ty::Error };
            return (self.push(body, NodeKind::Binary(BinOp::Add, a, b), ty.clone(), span), ty);
        }
        let resolved: Result<(BinOp, Ty), String> = match op {
            BinaryOp::Add | BinaryOp::Sub => {
                let add = op == BinaryOp::Add;
                match (&at, &bt) {
                    (Ty::Num(x), Ty::Num(y)) => match unify_additive(*x, *y) {
                        Some(t) => Ok((if add { BinOp::Add } else { BinOp::Sub }, Ty::Num(t))),
                        None => Err(format!("{} and {} cannot be {}", x, y, if add { "added" } else { "subtracted" })),
                    },
                    (Ty::Date, Ty::Duration) => {
                        Ok((if add { BinOp::DateAddDuration } else { BinOp::DateSubDuration }, Ty::Date))
                    }
                    (Ty::Duration, Ty::Duration) => {
                        Ok((if add { BinOp::DurationAdd } else { BinOp::DurationSub }, Ty::Duration))
                    }
                    (Ty::Date, Ty::Date) if !add => Err("dates cannot be subtracted; use `days_between(a, b)`".into()),
                    _ => Err(format!(
                        "{} and {} cannot be {}",
                        self.describe(&at),
                        self.describe(&bt),
                        if add { "added" } else { "subtracted" }
                    )),
                }
            }
            BinaryOp::Mul => match (&at, &bt) {
                (Ty::Num(x), Ty::Num(y)) => multiply(*x, *y).map(|t| (BinOp::Mul, Ty::Num(t))).map_err(|e| e.0),
                (Ty::Num(rate), Ty::Duration) | (Ty::Duration, Ty::Num(rate)) => match rate.per {
                    Some(u) if u.calendar().is_some() => {
                        // The rate always goes on the left for the evaluator.
                        let (rate_node, duration_node) = if matches!(at, Ty::Num(_)) { (a, b) } else { (b, a) };
                        let ty = Ty::Num(NumTy { per: None, ..*rate });
                        let node = self.push(
                            body,
                            NodeKind::Binary(BinOp::MulRateDuration(u), rate_node, duration_node),
                            ty.clone(),
                            span,
                        );
                        return (node, ty);
                    }
                    None if rate.kind == NumKind::Int && rate.unit.is_none() => {
                        // The count always goes on the left for the evaluator.
                        let (count_node, duration_node) = if matches!(at, Ty::Num(_)) { (a, b) } else { (b, a) };
                        let node = self.push(
                            body,
                            NodeKind::Binary(BinOp::ScaleDuration, count_node, duration_node),
                            Ty::Duration,
                            span,
                        );
                        return (node, Ty::Duration);
                    }
                    _ => Err(format!(
                        "{} cannot be multiplied by a duration; only a whole count (Int) or a rate per day, week, month or year can",
                        rate
                    )),
                },
                _ => Err(format!("{} and {} cannot be multiplied", self.describe(&at), self.describe(&bt))),
            },
            BinaryOp::Div => match (&at, &bt) {
                (Ty::Num(x), Ty::Num(y)) => divide(*x, *y).map(|t| (BinOp::Div, Ty::Num(t))).map_err(|e| e.0),
                (Ty::Num(x), Ty::Duration) if x.per.is_none() => match expected {
                    // The declared rate says which unit the amount is spread over.
                    Some(Ty::Num(rate))
                        if rate.kind == x.kind
                            && rate.unit == x.unit
                            && rate.per.is_some_and(|u| u.calendar().is_some()) =>
                    {
                        let unit = rate.per.unwrap_or(Unit::Year);
                        let ty = Ty::Num(*rate);
                        let node =
                            self.push(body, NodeKind::Binary(BinOp::DivAmountDuration(unit), a, b), ty.clone(), span);
                        return (node, ty);
                    }
                    _ => Err(format!(
                        "{x} divided by a duration is a rate, but which one is not said here: declare the result as `{x} per year` (or per month, week or day)"
                    )),
                },
                _ => Err(format!("{} cannot be divided by {}", self.describe(&at), self.describe(&bt))),
            },
            _ => {
                let bop = match op {
                    BinaryOp::Eq => BinOp::Eq,
                    BinaryOp::Ne => BinOp::Ne,
                    BinaryOp::Lt => BinOp::Lt,
                    BinaryOp::Le => BinOp::Le,
                    BinaryOp::Gt => BinOp::Gt,
                    _ => BinOp::Ge,
                };
                let equality = matches!(bop, BinOp::Eq | BinOp::Ne);
                let comparable = match (&at, &bt) {
                    (Ty::Num(x), Ty::Num(y)) => unify_additive(*x, *y).is_some(),
                    (Ty::Enum(x), Ty::Enum(y)) if x == y => equality || self.program.enum_def(*x).ordered,
                    (Ty::Date, Ty::Date) => true,
                    (Ty::Text, Ty::Text) | (Ty::Bool, Ty::Bool) | (Ty::Duration, Ty::Duration) => equality,
                    _ => false,
                };
                if comparable {
                    Ok((bop, Ty::Bool))
                } else if let (Ty::Enum(x), Ty::Enum(y)) = (&at, &bt) {
                    if x == y {
                        Err(format!(
                            "`{}` is not an ordered enum, so its values cannot be compared with `{}`",
                            self.program.enum_def(*x).name,
                            op.symbol()
                        ))
                    } else {
                        Err(format!("{} and {} cannot be compared", self.describe(&at), self.describe(&bt)))
                    }
                } else if !equality
                    && matches!((&at, &bt), (Ty::Text, Ty::Text) | (Ty::Bool, Ty::Bool) | (Ty::Duration, Ty::Duration))
                {
                    Err(format!("{} values can only be compared with `==` and `!=`", self.describe(&at)))
                } else {
                    Err(format!("{} and {} cannot be compared", self.describe(&at), self.describe(&bt)))
                }
            }
        };
        match resolved {
            Ok((bop, ty)) => (self.push(body, NodeKind::Binary(bop, a, b), ty.clone(), span), ty),
            Err(message) => {
                let code = if is_cmp { "E0303" } else { "E0302" };
                let mut d = Diagnostic::error(code, message, l.span, format!("this is {}", self.describe(&at)))
                    .with_label(r.span, format!("this is {}", self.describe(&bt)));
                if let Some(h) = arithmetic_hint(op, &at, &bt) {
                    d = d.with_help(h);
                }
                self.error(d);
                self.poison(body, span)
            }
        }
    }

    fn match_expr(
        &mut self,
        body: &mut Body,
        scrutinee: &Expr,
        arms: &[ast::ArmDecl],
        span: Span,
        expected: Option<&Ty>,
    ) -> (NodeId, Ty) {
        let (s, st) = self.expr(body, scrutinee, None);
        let mut lowered = Vec::new();
        let mut result: Option<Ty> = expected.cloned();
        for arm in arms {
            // Arms are written and lowered exactly like table keys.
            let key = match &arm.key.kind {
                KeyKind::Any => Key::Any,
                KeyKind::Alts(alts) => {
                    Key::Alts(alts.iter().filter_map(|alt| self.key_alt(body, alt, "the matched value", &st)).collect())
                }
            };
            let (b, bt) = self.expr(body, &arm.body, result.as_ref());
            result = Some(match &result {
                None => bt,
                Some(prev) => self.join_or_report(prev, &bt, span, arm.body.span, "the arms of `match`"),
            });
            lowered.push(MatchArm { key, body: b, span: arm.span });
        }
        if st != Ty::Error {
            self.check_match_coverage(scrutinee.span, &st, &lowered);
        }
        let ty = result.unwrap_or(Ty::Error);
        (self.push(body, NodeKind::Match { scrutinee: s, arms: lowered }, ty.clone(), span), ty)
    }

    /// Exhaustiveness and unreachable arms, by the table analysis: the arms are the rows of a
    /// one-column `hit first` table.
    fn check_match_coverage(&mut self, scrutinee: Span, ty: &Ty, arms: &[MatchArm]) {
        let rows = arms
            .iter()
            .map(|arm| Row {
                keys: vec![arm.key.clone()],
                otherwise: false,
                cell: Cell::NoValue(String::new()),
                span: arm.span,
            })
            .collect();
        let table = TableDef {
            name: "match".into(),
            qualified: "match".into(),
            columns: vec![("the matched value".into(), ty.clone())],
            ty: Ty::Error,
            hit: HitPolicy::First,
            valid: None,
            partial: false,
            source: None,
            clause: None,
            rows,
            span: scrutinee,
            name_span: scrutinee,
            doc: None,
        };
        let analysis = crate::analysis::analyse(&self.program, &table);
        let mut found = Vec::new();
        if analysis.gap_count > 0 {
            // For an enum, list every variant left out; otherwise give example values.
            let missing: Vec<String> = match ty {
                Ty::Enum(id) => {
                    let def = self.program.enum_def(*id);
                    (0..def.variants.len() as u32)
                        .filter(|&i| !arms.iter().any(|a| a.key.matches(&Value::Enum(i)).unwrap_or(false)))
                        .map(|i| def.variant_name(i).to_string())
                        .collect()
                }
                _ => analysis.gaps.iter().map(|g| analysis.example_value(g)).collect(),
            };
            let shown = if matches!(ty, Ty::Enum(_)) || missing.len() == analysis.gap_count {
                list_names(&missing)
            } else {
                format!("{}, among others", list_names(&missing))
            };
            found.push(
                Diagnostic::error(
                    "E0305",
                    format!("this match does not cover {shown}"),
                    scrutinee,
                    "not every value is handled",
                )
                .with_help("add an arm for each missing value, or a final `_ => …` arm"),
            );
        }
        if !analysis.truncated() {
            for (i, arm) in arms.iter().enumerate() {
                if !analysis.reachable.contains(&i) {
                    found.push(
                        Diagnostic::warning(
                            "E0308",
                            "this arm is never used: earlier arms match everything it matches",
                            arm.span,
                            "unreachable arm",
                        )
                        .with_help("remove it, or move it above the arms that hide it"),
                    );
                }
            }
        }
        drop(analysis);
        self.diagnostics.extend(found);
    }

    fn call(
        &mut self,
        body: &mut Body,
        callee: &ast::Name,
        args: &[Expr],
        comp: Option<&ast::Comprehension>,
        span: Span,
        expected: Option<&Ty>,
    ) -> (NodeId, Ty) {
        let name = callee.text.as_str();
        let shadowed = self.lookup(body.module, name).is_some();
        if !shadowed && AGGREGATES.contains(&name) {
            let two_args = matches!(name, "min" | "max") && comp.is_none() && args.len() == 2;
            if !two_args {
                return self.aggregate(body, callee, args, comp, span);
            }
        }
        if let Some(c) = comp {
            self.error(
                Diagnostic::error(
                    "E0309",
                    format!("`{name}` does not take a `for … in …` argument"),
                    c.var.span,
                    "not an aggregation",
                )
                .with_help("only sum, count, min, max, all, any and filter iterate over a list"),
            );
            return self.poison(body, span);
        }
        if !shadowed && (BUILTINS.contains(&name) || matches!(name, "min" | "max")) {
            return self.builtin(body, callee, args, span, expected);
        }
        match self.lookup(body.module, name) {
            Some(Def::Table(id)) => {
                if body.constant {
                    return self.not_constant(body, span, "a table");
                }
                let columns = self.program.table(id).columns.clone();
                let nodes = self.arguments(body, callee, args, &columns, self.program.table(id).name_span);
                let ty = self.program.table(id).ty.clone();
                match self.versions_of(Def::Table(id)).map(<[Def]>::to_vec) {
                    None => (self.push(body, NodeKind::Table { id, args: nodes }, ty.clone(), span), ty),
                    Some(versions) => {
                        // Every version shares the argument nodes: only the chosen one runs.
                        let arms = versions
                            .iter()
                            .filter_map(|d| if let Def::Table(v) = d { Some(*v) } else { None })
                            .map(|v| {
                                let node =
                                    self.push(body, NodeKind::Table { id: v, args: nodes.clone() }, ty.clone(), span);
                                (Def::Table(v), node)
                            })
                            .collect::<Vec<_>>();
                        self.versioned(body, name, arms.into_iter(), ty, span)
                    }
                }
            }
            Some(Def::Split(id)) => self.split_call(body, (id, callee), args, span),
            Some(Def::Decision(id)) => {
                if body.constant {
                    return self.not_constant(body, span, "a decision");
                }
                let params = self.program.decision(id).params.clone();
                let nodes = self.arguments(body, callee, args, &params, self.program.decision(id).name_span);
                self.note_call(body, id, span);
                let ty = self.program.decision(id).ty.clone();
                (self.push(body, NodeKind::Decision { id, args: nodes }, ty.clone(), span), ty)
            }
            Some(_) => {
                let d = Diagnostic::error(
                    "E0306",
                    format!("`{name}` cannot be called"),
                    callee.span,
                    "not a table or decision",
                );
                let d = if BUILTINS.contains(&name) {
                    d.with_help(format!(
                        "a name declared here hides the built-in `{name}()`; rename it to call the built-in"
                    ))
                } else {
                    d
                };
                self.error(d);
                self.poison(body, span)
            }
            None => {
                let mut candidates = self.visible_names(body.module);
                candidates.extend(AGGREGATES.iter().chain(BUILTINS).map(|s| s.to_string()));
                let d = Diagnostic::error(
                    "E0202",
                    format!("unknown table or decision `{name}`"),
                    callee.span,
                    "not defined here",
                );
                let d = match suggest(name, &candidates) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help("declare it, or import the module that declares it"),
                };
                self.error(d);
                self.poison(body, span)
            }
        }
    }

    fn arguments(
        &mut self,
        body: &mut Body,
        callee: &ast::Name,
        args: &[Expr],
        params: &[(String, Ty)],
        declared: Span,
    ) -> Vec<NodeId> {
        if args.len() != params.len() {
            let names: Vec<String> = params.iter().map(|(n, _)| n.clone()).collect();
            self.error(
                Diagnostic::error(
                    "E0306",
                    format!("`{}` takes {} argument(s) but {} were given", callee.text, params.len(), args.len()),
                    callee.span,
                    "wrong number of arguments",
                )
                .with_label(declared, format!("declared with ({})", names.join(", "))),
            );
        }
        args.iter()
            .enumerate()
            .map(|(i, a)| match params.get(i) {
                Some((pname, pty)) => {
                    let what = format!("argument `{pname}` of `{}`", callee.text);
                    self.expect(body, a, pty, &what)
                }
                None => self.expr(body, a, None).0,
            })
            .collect()
    }

    fn aggregate(
        &mut self,
        body: &mut Body,
        callee: &ast::Name,
        args: &[Expr],
        comp: Option<&ast::Comprehension>,
        span: Span,
    ) -> (NodeId, Ty) {
        let op = match callee.text.as_str() {
            "sum" => AggOp::Sum,
            "count" => AggOp::Count,
            "min" => AggOp::Min,
            "max" => AggOp::Max,
            "all" => AggOp::All,
            "any" => AggOp::Any,
            _ => AggOp::Filter,
        };
        let usage = || format!("write `{0}(xs)` or `{0}(expression for x in xs if condition)`", op.name());
        let (list_expr, var_name, body_expr, filter_expr) = match (comp, args) {
            (Some(c), []) => (&c.list, Some(&c.var), Some(&c.body), c.filter.as_ref()),
            (None, [list]) => (list, None, None, None),
            _ => {
                self.error(
                    Diagnostic::error(
                        "E0309",
                        format!("`{}` takes one list", op.name()),
                        callee.span,
                        "wrong arguments",
                    )
                    .with_help(usage()),
                );
                return self.poison(body, span);
            }
        };
        let (list, lt) = self.expr(body, list_expr, None);
        let elem = match lt {
            Ty::List(inner) => *inner,
            Ty::Error => Ty::Error,
            other => {
                let found = self.describe(&other);
                self.error(
                    Diagnostic::error(
                        "E0309",
                        format!("`{}` needs a list, found {found}", op.name()),
                        list_expr.span,
                        format!("this is {found}"),
                    )
                    .with_help(usage()),
                );
                return self.poison(body, span);
            }
        };
        let var_text = var_name.map_or("item", |n| n.text.as_str());
        let local = body.bind(var_text, elem.clone());
        let filter = filter_expr.map(|f| self.expect(body, f, &Ty::Bool, "the `if` filter"));
        let (body_node, body_ty) = match body_expr {
            Some(e) => self.expr(body, e, None),
            None => (self.push(body, NodeKind::Local(local), elem.clone(), list_expr.span), elem.clone()),
        };
        body.locals.pop();
        let ty = match op {
            AggOp::Count => Ty::INT,
            AggOp::All | AggOp::Any => {
                if !fits(&body_ty, &Ty::Bool) {
                    let found = self.describe(&body_ty);
                    self.error(Diagnostic::error(
                        "E0309",
                        format!("`{}` needs conditions (Bool), found {found}", op.name()),
                        body_expr.map_or(list_expr.span, |e| e.span),
                        format!("this is {found}"),
                    ));
                }
                Ty::Bool
            }
            AggOp::Filter => Ty::List(Box::new(body_ty)),
            AggOp::Sum => match body_ty {
                Ty::Num(_) | Ty::Error => body_ty,
                other => {
                    let found = self.describe(&other);
                    self.error(Diagnostic::error(
                        "E0309",
                        format!("`sum` needs numbers, found {found}"),
                        body_expr.map_or(list_expr.span, |e| e.span),
                        format!("this is {found}"),
                    ));
                    Ty::Error
                }
            },
            AggOp::Min | AggOp::Max => match body_ty {
                Ty::Num(_) | Ty::Date | Ty::Error => body_ty,
                other => {
                    let found = self.describe(&other);
                    self.error(Diagnostic::error(
                        "E0309",
                        format!("`{}` needs numbers or dates, found {found}", op.name()),
                        body_expr.map_or(list_expr.span, |e| e.span),
                        format!("this is {found}"),
                    ));
                    Ty::Error
                }
            },
        };
        let node = self.push(body, NodeKind::Aggregate { op, local, list, body: body_node, filter }, ty.clone(), span);
        (node, ty)
    }

    fn builtin(
        &mut self,
        body: &mut Body,
        callee: &ast::Name,
        args: &[Expr],
        span: Span,
        expected: Option<&Ty>,
    ) -> (NodeId, Ty) {
        let name = callee.text.as_str();
        let arity = match name {
            "round" => 3,
            "min" | "max" | "days_between" | "ratio" | "paid_to" | "paid_by" => 2,
            "date" | "pro_rata" => 3,
            "term_start" | "term_end" | "period_start" | "period_end" => 0,
            _ => 1,
        };
        if args.len() != arity {
            self.error(
                Diagnostic::error(
                    "E0306",
                    format!("`{name}` takes {arity} argument(s) but {} were given", args.len()),
                    callee.span,
                    "wrong number of arguments",
                )
                .with_help(builtin_usage(name)),
            );
            return self.poison(body, span);
        }
        if name == "round" {
            let (value, ty) = self.expr(body, &args[0], expected);
            if !matches!(ty, Ty::Num(_) | Ty::Error) {
                let found = self.describe(&ty);
                self.error(Diagnostic::error(
                    "E0314",
                    format!("only numbers can be rounded, found {found}"),
                    args[0].span,
                    format!("this is {found}"),
                ));
            }
            let places = match &args[1].kind {
                ExprKind::Lit(Lit::Int(n)) if *n <= Decimal::from(28) => u32::try_from(*n).ok(),
                _ => None,
            };
            let mode = match &args[2].kind {
                ExprKind::Name(n) => RoundMode::from_name(&n.text),
                _ => None,
            };
            if places.is_none() {
                self.error(
                    Diagnostic::error(
                        "E0314",
                        "the number of places must be a whole number from 0 to 28",
                        args[1].span,
                        "not a number of places",
                    )
                    .with_help(builtin_usage("round")),
                );
            }
            if mode.is_none() {
                self.error(
                    Diagnostic::error("E0314", "unknown rounding mode", args[2].span, "not a rounding mode")
                        .with_help("modes are half_up, half_even, down and up"),
                );
            }
            let (Some(places), Some(mode)) = (places, mode) else { return self.poison(body, span) };
            return (self.push(body, NodeKind::Round { value, places, mode }, ty.clone(), span), ty);
        }
        if name == "paid_to" || name == "paid_by" {
            return self.payment_part(body, name == "paid_to", args, span);
        }
        if let Some(which) = covenant_ir::ContractDate::from_name(name) {
            return self.contract_date(body, which, span);
        }
        let mut nodes = Vec::new();
        let mut types = Vec::new();
        for a in args {
            let (n, t) = self.expr(body, a, None);
            nodes.push(n);
            types.push(t);
        }
        if types.contains(&Ty::Error) {
            return self.poison(body, span);
        }
        let ok = |f: Builtin, ty: Ty| Ok::<(Builtin, Ty), ()>((f, ty));
        let resolved = match (name, types.as_slice()) {
            ("min" | "max", [Ty::Num(a), Ty::Num(b)]) => match unify_additive(*a, *b) {
                Some(t) => ok(if name == "min" { Builtin::Min2 } else { Builtin::Max2 }, Ty::Num(t)),
                None => Err(()),
            },
            ("min" | "max", [Ty::Date, Ty::Date]) => {
                ok(if name == "min" { Builtin::Min2 } else { Builtin::Max2 }, Ty::Date)
            }
            ("abs", [Ty::Num(n)]) => ok(Builtin::Abs, Ty::Num(*n)),
            ("year", [Ty::Date]) => ok(Builtin::Year, Ty::INT),
            ("month", [Ty::Date]) => ok(Builtin::Month, Ty::INT),
            ("day", [Ty::Date]) => ok(Builtin::Day, Ty::INT),
            ("days_between", [Ty::Date, Ty::Date]) => ok(Builtin::DaysBetween, Ty::INT),
            ("date", [a, b, c]) if [a, b, c].iter().all(|t| fits(t, &Ty::INT)) => ok(Builtin::MakeDate, Ty::Date),
            ("ratio", [Ty::Num(a), Ty::Num(b)]) if unify_additive(*a, *b).is_some() => ok(Builtin::Ratio, Ty::PERCENT),
            ("pro_rata", [Ty::Num(x), Ty::Num(low), Ty::Num(high)])
                if unify_additive(*x, *low).is_some() && unify_additive(*x, *high).is_some() =>
            {
                ok(Builtin::ProRata, Ty::PERCENT)
            }
            _ => Err(()),
        };
        match resolved {
            Ok((f, ty)) => (self.push(body, NodeKind::Builtin { f, args: nodes }, ty.clone(), span), ty),
            Err(()) => {
                let shown: Vec<String> = types.iter().map(|t| self.describe(t)).collect();
                self.error(
                    Diagnostic::error(
                        "E0301",
                        format!("`{name}` cannot take ({})", shown.join(", ")),
                        span,
                        "wrong argument types",
                    )
                    .with_help(builtin_usage(name)),
                );
                self.poison(body, span)
            }
        }
    }
}

fn builtin_usage(name: &str) -> String {
    match name {
        "round" => "write `round(amount, 2, half_up)`; modes are half_up, half_even, down and up".into(),
        "min" | "max" => {
            format!("write `{name}(a, b)` for two numbers or dates, or `{name}(x for x in xs)` for a list")
        }
        "abs" => "write `abs(x)` for a number".into(),
        "date" => "write `date(year, month, day)` with three Int values".into(),
        "days_between" => "write `days_between(earlier, later)` with two dates".into(),
        "term_start" | "term_end" | "period_start" | "period_end" => {
            format!("write `{name}()`: the contract's date, with no arguments")
        }
        "paid_to" | "paid_by" => format!("write `{name}(payment, party)` with a payment's name and a party"),
        "ratio" => "write `ratio(numerator, denominator)` with two counts or amounts of the same kind".into(),
        "pro_rata" => "write `pro_rata(measure, low, high)`: 0% at or below `low`, 100% at or above `high`".into(),
        _ => format!("write `{name}(d)` for a date"),
    }
}

fn list_names(names: &[String]) -> String {
    const SHOWN: usize = 6;
    if names.len() > SHOWN + 1 {
        let quoted: Vec<String> = names[..SHOWN].iter().map(|n| format!("`{n}`")).collect();
        return format!("{} and {} more", quoted.join(", "), names.len() - SHOWN);
    }
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} and {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

fn mismatch_hint(expected: &Ty, found: &Ty) -> Option<String> {
    match (expected, found) {
        (Ty::Num(e), Ty::Num(f)) if e.kind == NumKind::Money && f.kind != NumKind::Money => {
            Some("money amounts are written with a pound sign, like `£10.00`".into())
        }
        (Ty::Num(e), Ty::Num(f)) if e.per != f.per => Some(match e.per {
            Some(u) => format!("the value must be a rate per {}; write e.g. `£10.00 per {}`", u.name(), u.name()),
            None => "the value must not be a rate; multiply by a quantity or a duration first".into(),
        }),
        (Ty::Num(e), Ty::Num(f)) if e.unit == Some(Unit::Hour) && f.unit.is_none() => {
            Some("write hours with their unit, like `5 hours`".into())
        }
        (Ty::Num(e), Ty::Num(f)) if e.kind == NumKind::Int && f.kind == NumKind::Decimal => {
            Some("round it to a whole number first, or declare the type as Decimal".into())
        }
        _ => None,
    }
}

fn arithmetic_hint(op: BinaryOp, a: &Ty, b: &Ty) -> Option<String> {
    match (op, a, b) {
        (BinaryOp::Mul, Ty::Num(x), Ty::Num(y)) if x.kind == NumKind::Money && y.kind == NumKind::Money => {
            Some("multiply money by a number, a percentage, or a quantity (hours, days) instead".into())
        }
        (BinaryOp::Add | BinaryOp::Sub, Ty::Num(x), Ty::Num(y))
            if x.per != y.per && x.per.is_some() && y.per.is_some() =>
        {
            Some(
                "convert both amounts to the same rate unit first, e.g. multiply an hourly rate by hours per week"
                    .into(),
            )
        }
        (BinaryOp::Add | BinaryOp::Sub, Ty::Num(x), Ty::Num(y)) if x.per != y.per => {
            Some("a rate and an amount differ in units; multiply the rate by a quantity or a duration first".into())
        }
        (BinaryOp::Add | BinaryOp::Sub, Ty::Num(x), Ty::Num(y))
            if x.kind == NumKind::Percent || y.kind == NumKind::Percent =>
        {
            Some("to apply a percentage, multiply: `amount * (100% + rise)`".into())
        }
        (BinaryOp::Add, Ty::Num(_), Ty::Date) | (BinaryOp::Add, Ty::Date, Ty::Num(_)) => {
            Some("a date moves by a duration such as `6 months`, not by a number or an amount".into())
        }
        _ => None,
    }
}
