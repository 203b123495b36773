//! The JSON layout (`covenant.explanation/1`), field by field in `spec/explanations.md`.
//!
//! Steps are written straight into a [`JsonOut`] (a batch writes one explanation per row, and
//! building a `serde_json::Value` tree first cost far more than the text). Values go through
//! `covenant_ir::value::write_json`, so money and decimals are strings and never JSON
//! numbers. Keys are written in a fixed order, so the output is byte-for-byte stable. Row and
//! arm numbers are 1-based, as in the text.

use super::{Ctx, JsonPlaces, Place, let_name};
use covenant_eval::{Arg, Branch, Operand, Step, StepKind, Typed};
use covenant_ir::json::JsonOut;
use covenant_ir::{HitPolicy, Span, Ty, Value};
use serde_json::{Map, Value as J};

/// A step as a `serde_json::Value` (for documents built as values, such as a statement).
pub(super) fn step(ctx: &Ctx<'_>, step: &Step) -> J {
    let mut out = JsonOut::new();
    write_step(ctx, step, &mut out);
    reread(&out)
}

/// A location as a `serde_json::Value`.
pub(super) fn location(ctx: &Ctx<'_>, span: Span) -> J {
    let mut out = JsonOut::new();
    write_location(ctx, span, &mut out);
    reread(&out)
}

/// The writer's text read back as a value (it is always one valid JSON value).
pub(super) fn reread(out: &JsonOut) -> J {
    serde_json::from_str(out.as_str()).unwrap_or(J::Null)
}

pub(super) fn write_step(ctx: &Ctx<'_>, step: &Step, out: &mut JsonOut) {
    out.begin_object();
    out.key("kind").str(kind_name(&step.kind));
    out.key("label").str(&step.label);
    out.key("value");
    match &step.value {
        Some(v) => value(ctx, v, &step.ty, out),
        None => out.null(),
    }
    out.key("display");
    match &step.value {
        Some(v) => out.str(&ctx.display(v, &step.ty)),
        None => out.null(),
    }
    out.key("type").str(&ctx.ty_text(&step.ty));
    out.key("location");
    write_location(ctx, step.span, out);
    out.key("source");
    write_source(ctx, step.span, out);
    fields(ctx, step, out);
    out.key("children").begin_array();
    for child in &step.children {
        write_step(ctx, child, out);
    }
    out.end_array();
    out.end_object();
}

fn kind_name(kind: &StepKind) -> &'static str {
    match kind {
        StepKind::Decision { .. } => "decision",
        StepKind::Input { .. } => "input",
        StepKind::Param { .. } => "param",
        StepKind::Table { .. } => "table",
        StepKind::If { .. } => "if",
        StepKind::Match { .. } => "match",
        StepKind::Compare { .. } => "compare",
        StepKind::Logic { .. } => "logic",
        StepKind::Arithmetic { .. } => "arithmetic",
        StepKind::Round { .. } => "round",
        StepKind::Aggregate { .. } => "aggregate",
        StepKind::Item { .. } => "item",
        StepKind::Let => "let",
        StepKind::Otherwise { .. } => "otherwise",
        StepKind::IsNone { .. } => "is_none",
        StepKind::InSet { .. } => "in_set",
        StepKind::Field { .. } => "field",
        StepKind::Builtin { .. } => "builtin",
        StepKind::Rules { .. } => "rules",
        StepKind::Version { .. } => "version",
        StepKind::Split { .. } => "split",
        StepKind::Payment(_) => "payment",
        StepKind::Rule { .. } => "rule",
        StepKind::Value => "value",
        StepKind::Failed { .. } => "failed",
        StepKind::Unfinished => "unfinished",
    }
}

/// The kind-specific fields of a step.
fn fields(ctx: &Ctx<'_>, step: &Step, out: &mut JsonOut) {
    match &step.kind {
        StepKind::Decision { name, qualified, args, memoised } => {
            out.key("name").str(name);
            out.key("qualified").str(qualified);
            out.key("args").begin_array();
            for a in args {
                arg(ctx, a, "name", out);
            }
            out.end_array();
            out.key("memoised").bool(*memoised);
            let def = ctx.program.decisions.iter().find(|d| *d.qualified == **qualified);
            out.key("doc").opt_str(def.and_then(|d| d.doc.as_deref()));
            out.key("clause").opt_str(def.and_then(|d| d.clause.as_deref()));
        }
        StepKind::Input { name, path } | StepKind::Param { name, path } => {
            out.key("name").str(name);
            out.key("path").str(path);
        }
        StepKind::Table { name, qualified, hit, keys, row, row_span } => {
            out.key("table").str(name);
            out.key("qualified").str(qualified);
            out.key("hit").str(match hit {
                HitPolicy::Unique => "unique",
                HitPolicy::First => "first",
            });
            out.key("keys").begin_array();
            for k in keys {
                arg(ctx, k, "column", out);
            }
            out.end_array();
            out.key("matched").bool(row.is_some());
            out.key("row");
            match row {
                Some(r) => out.count(r + 1),
                None => out.null(),
            }
            out.key("row_location");
            match row_span {
                Some(s) => write_location(ctx, *s, out),
                None => out.null(),
            }
            out.key("row_source");
            match row_span {
                Some(s) => cached(ctx, *s, Place::Excerpt, out, |ctx, s, out| out.opt_str(ctx.excerpt(s).as_deref())),
                None => out.null(),
            }
            let table = ctx.program.tables.iter().find(|t| *t.qualified == **qualified);
            out.key("table_source").opt_str(table.and_then(|t| t.source.as_deref()));
            out.key("clause").opt_str(table.and_then(|t| t.clause.as_deref()));
        }
        StepKind::Split { name, total, parts, party, remainder_to } => {
            let split = ctx.program.splits.iter().find(|s| &s.name == name);
            let variant =
                |v: u32| split.and_then(|s| ctx.program.enums.get(s.over.0 as usize)).map(|e| e.variant_name(v));
            out.key("split").str(name);
            out.key("clause").opt_str(split.and_then(|s| s.clause.as_deref()));
            out.key("total");
            value(ctx, &Value::Num(*total), &step.ty, out);
            out.key("party").opt_str(variant(*party));
            out.key("remainder_to").opt_str(variant(*remainder_to));
            out.key("parts").begin_array();
            for (p, share, amount) in parts {
                out.begin_object();
                out.key("party").opt_str(variant(*p));
                out.key("share");
                value(ctx, &Value::Num(*share), &Ty::PERCENT, out);
                out.key("amount");
                value(ctx, &Value::Num(*amount), &step.ty, out);
                out.end_object();
            }
            out.end_array();
        }
        StepKind::Payment(outcome) => {
            let mut o = Map::new();
            super::statement::outcome_fields(ctx, outcome, &mut o);
            for (key, v) in &o {
                out.key(key).value(v);
            }
        }
        StepKind::Version { name, valid, date } => {
            out.key("name").str(name);
            out.key("valid").str(valid);
            out.key("date").str(date);
        }
        StepKind::Rules { applied, default_used } => {
            out.key("applied").opt_str(applied.as_deref());
            out.key("default_used").bool(*default_used);
        }
        StepKind::Rule { label, applied, exception_to, overridden_by } => {
            out.key("rule").str(label);
            out.key("applied").bool(*applied);
            out.key("exception_to").opt_str(exception_to.as_deref());
            out.key("overridden_by").opt_str(overridden_by.as_deref());
        }
        StepKind::If { condition, branch } => {
            out.key("condition").bool(*condition);
            out.key("branch").str(match branch {
                Branch::Then => "then",
                Branch::Else => "else",
            });
        }
        StepKind::Match { scrutinee, arm, arm_span } => {
            out.key("scrutinee");
            operand(ctx, scrutinee, out);
            out.key("arm").count(arm + 1);
            out.key("arm_location");
            write_location(ctx, *arm_span, out);
            out.key("arm_source");
            write_source(ctx, *arm_span, out);
        }
        StepKind::Compare { op, left, right } => {
            out.key("op").str(op.symbol());
            out.key("left");
            operand(ctx, left, out);
            out.key("right");
            operand(ctx, right, out);
        }
        StepKind::Logic { op, short_circuit } => {
            out.key("op").str(op);
            out.key("short_circuit").bool(*short_circuit);
        }
        StepKind::Arithmetic { op, operands } => {
            out.key("op").str(op);
            out.key("operands").begin_array();
            for x in operands {
                operand(ctx, x, out);
            }
            out.end_array();
        }
        StepKind::Round { before, places, mode } => {
            out.key("before");
            value(ctx, before, &step.ty, out);
            out.key("after");
            match &step.value {
                Some(v) => value(ctx, v, &step.ty, out),
                None => out.null(),
            }
            out.key("places").int(*places);
            out.key("mode").str(mode.name());
        }
        StepKind::Aggregate { op, items, examined, kept } => {
            out.key("op").str(op.name());
            out.key("items").count(*items);
            out.key("examined").count(*examined);
            out.key("kept").count(*kept);
        }
        StepKind::Item { index, element, kept } => {
            out.key("index").count(index + 1);
            out.key("element");
            match element {
                Some(e) => typed(ctx, e, out),
                None => out.null(),
            }
            out.key("kept").bool(*kept);
        }
        StepKind::Let => {
            out.key("name").opt_str(ctx.source(step.span).and_then(let_name));
        }
        StepKind::Otherwise { used_fallback, reason } => {
            out.key("used_fallback").bool(*used_fallback);
            out.key("reason").opt_str(reason.as_deref());
        }
        StepKind::IsNone { reason } => {
            out.key("reason").opt_str(reason.as_deref());
        }
        StepKind::InSet { value, variants } => {
            out.key("operand");
            operand(ctx, value, out);
            out.key("variants").begin_array();
            for v in variants {
                out.str(v);
            }
            out.end_array();
        }
        StepKind::Field { name } => out.key("field").str(name),
        StepKind::Builtin { name, args } => {
            out.key("function").str(name);
            out.key("args").begin_array();
            for x in args {
                operand(ctx, x, out);
            }
            out.end_array();
        }
        StepKind::Failed { code, message } => {
            out.key("code").str(code);
            out.key("message").str(message);
        }
        StepKind::Value | StepKind::Unfinished => {}
    }
}

fn value(ctx: &Ctx<'_>, v: &Value, ty: &Ty, out: &mut JsonOut) {
    covenant_ir::value::write_json(ctx.program, v, ty, out);
}

/// A value with its display text and type (the first members of every valued object).
fn shown(ctx: &Ctx<'_>, v: &Value, ty: &Ty, out: &mut JsonOut) {
    out.key("value");
    value(ctx, v, ty, out);
    out.key("display").str(&ctx.display(v, ty));
    out.key("type").str(&ctx.ty_text(ty));
}

fn typed(ctx: &Ctx<'_>, t: &Typed, out: &mut JsonOut) {
    out.begin_object();
    shown(ctx, &t.value, &t.ty, out);
    out.end_object();
}

fn arg(ctx: &Ctx<'_>, a: &Arg, key: &str, out: &mut JsonOut) {
    out.begin_object();
    out.key(key).str(&a.name);
    shown(ctx, &a.value, &a.ty, out);
    out.end_object();
}

fn operand(ctx: &Ctx<'_>, x: &Operand, out: &mut JsonOut) {
    out.begin_object();
    shown(ctx, &x.value, &x.ty, out);
    out.key("location");
    write_location(ctx, x.span, out);
    out.key("source");
    write_source(ctx, x.span, out);
    out.end_object();
}

/// The source text of a span, or `null`.
fn write_source(ctx: &Ctx<'_>, span: Span, out: &mut JsonOut) {
    cached(ctx, span, Place::Source, out, |ctx, span, out| out.opt_str(ctx.source(span)));
}

/// Writes what `write` gives for a span, taken from the context's [`JsonPlaces`] when it has
/// one and the span was written before.
fn cached(ctx: &Ctx<'_>, span: Span, place: Place, out: &mut JsonOut, write: fn(&Ctx<'_>, Span, &mut JsonOut)) {
    let Some(places) = ctx.places else { return write(ctx, span, out) };
    if let Some(text) = places.texts.borrow().get(&(span, place)) {
        out.raw(text);
        return;
    }
    let mut one = JsonOut::new();
    write(ctx, span, &mut one);
    out.raw(one.as_str());
    let mut texts = places.texts.borrow_mut();
    if texts.len() < JsonPlaces::MAX_PLACES {
        texts.insert((span, place), one.into_string().into_boxed_str());
    }
}

pub(super) fn write_location(ctx: &Ctx<'_>, span: Span, out: &mut JsonOut) {
    cached(ctx, span, Place::Location, out, write_location_uncached);
}

fn write_location_uncached(ctx: &Ctx<'_>, span: Span, out: &mut JsonOut) {
    match ctx.locate(span) {
        Some(l) => {
            out.begin_object();
            out.key("file").str(&l.file.name);
            out.key("line").count(l.line);
            out.key("column").count(l.column);
            out.key("end_line").count(l.end_line);
            out.key("end_column").count(l.end_column);
            out.key("start").int(l.span.start);
            out.key("end").int(l.span.end);
            out.end_object();
        }
        None => out.null(),
    }
}
