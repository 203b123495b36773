//! The JSON layout (`covenant.explanation/1`), field by field in `spec/explanations.md`.
//!
//! Values go through `covenant_ir::value::to_json`, so money and decimals are strings and
//! never JSON numbers. Object keys keep insertion order (serde_json's `preserve_order`), so
//! the output is byte-for-byte stable. Row and arm numbers are 1-based, as in the text.

use super::{Ctx, let_name};
use covenant_eval::{Arg, Branch, Operand, Step, StepKind, Typed};
use covenant_ir::{HitPolicy, Span, Ty, Value};
use serde_json::{Map, Value as J, json};

pub(super) fn step(ctx: &Ctx<'_>, step: &Step) -> J {
    let mut o = Map::new();
    o.insert("kind".into(), J::from(kind_name(&step.kind)));
    o.insert("label".into(), J::from(step.label.as_str()));
    o.insert("value".into(), step.value.as_ref().map_or(J::Null, |v| value(ctx, v, &step.ty)));
    o.insert("display".into(), step.value.as_ref().map_or(J::Null, |v| J::from(ctx.display(v, &step.ty))));
    o.insert("type".into(), J::from(ctx.ty_text(&step.ty)));
    o.insert("location".into(), location(ctx, step.span));
    o.insert("source".into(), source(ctx, step.span));
    fields(ctx, step, &mut o);
    o.insert("children".into(), J::Array(step.children.iter().map(|c| self::step(ctx, c)).collect()));
    J::Object(o)
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
fn fields(ctx: &Ctx<'_>, step: &Step, o: &mut Map<String, J>) {
    let mut put = |key: &str, v: J| {
        o.insert(key.into(), v);
    };
    match &step.kind {
        StepKind::Decision { name, qualified, args, memoised } => {
            put("name", J::from(name.as_str()));
            put("qualified", J::from(qualified.as_str()));
            put("args", J::Array(args.iter().map(|a| arg(ctx, a, "name")).collect()));
            put("memoised", J::Bool(*memoised));
            let def = ctx.program.decisions.iter().find(|d| &d.qualified == qualified);
            put("doc", def.and_then(|d| d.doc.as_deref()).map_or(J::Null, J::from));
            put("clause", def.and_then(|d| d.clause.as_deref()).map_or(J::Null, J::from));
        }
        StepKind::Input { name, path } | StepKind::Param { name, path } => {
            put("name", J::from(name.as_str()));
            put("path", J::from(path.as_str()));
        }
        StepKind::Table { name, qualified, hit, keys, row, row_span } => {
            put("table", J::from(name.as_str()));
            put("qualified", J::from(qualified.as_str()));
            put(
                "hit",
                J::from(match hit {
                    HitPolicy::Unique => "unique",
                    HitPolicy::First => "first",
                }),
            );
            put("keys", J::Array(keys.iter().map(|k| arg(ctx, k, "column")).collect()));
            put("matched", J::Bool(row.is_some()));
            put("row", row.map_or(J::Null, |r| J::from(r + 1)));
            put("row_location", row_span.map_or(J::Null, |s| location(ctx, s)));
            put("row_source", row_span.and_then(|s| ctx.excerpt(s)).map_or(J::Null, J::from));
            let table = ctx.program.tables.iter().find(|t| &t.qualified == qualified);
            put("table_source", table.and_then(|t| t.source.as_deref()).map_or(J::Null, J::from));
            put("clause", table.and_then(|t| t.clause.as_deref()).map_or(J::Null, J::from));
        }
        StepKind::Split { name, total, parts, party, remainder_to } => {
            let split = ctx.program.splits.iter().find(|s| &s.name == name);
            let variant = |v: u32| {
                split
                    .and_then(|s| ctx.program.enums.get(s.over.0 as usize))
                    .map_or(J::Null, |e| J::from(e.variant_name(v)))
            };
            put("split", J::from(name.as_str()));
            put("clause", split.and_then(|s| s.clause.as_deref()).map_or(J::Null, J::from));
            put("total", value(ctx, &Value::Num(*total), &step.ty));
            put("party", variant(*party));
            put("remainder_to", variant(*remainder_to));
            put(
                "parts",
                J::Array(
                    parts
                        .iter()
                        .map(|(p, share, amount)| {
                            serde_json::json!({
                                "party": variant(*p),
                                "share": value(ctx, &Value::Num(*share), &covenant_ir::Ty::PERCENT),
                                "amount": value(ctx, &Value::Num(*amount), &step.ty),
                            })
                        })
                        .collect(),
                ),
            );
        }
        StepKind::Payment(outcome) => super::statement::outcome_fields(ctx, outcome, o),
        StepKind::Version { name, valid, date } => {
            put("name", J::from(name.as_str()));
            put("valid", J::from(valid.as_str()));
            put("date", J::from(date.as_str()));
        }
        StepKind::Rules { applied, default_used } => {
            put("applied", applied.as_deref().map_or(J::Null, J::from));
            put("default_used", J::Bool(*default_used));
        }
        StepKind::Rule { label, applied, exception_to, overridden_by } => {
            put("rule", J::from(label.as_str()));
            put("applied", J::Bool(*applied));
            put("exception_to", exception_to.as_deref().map_or(J::Null, J::from));
            put("overridden_by", overridden_by.as_deref().map_or(J::Null, J::from));
        }
        StepKind::If { condition, branch } => {
            put("condition", J::Bool(*condition));
            put(
                "branch",
                J::from(match branch {
                    Branch::Then => "then",
                    Branch::Else => "else",
                }),
            );
        }
        StepKind::Match { scrutinee, arm, arm_span } => {
            put("scrutinee", operand(ctx, scrutinee));
            put("arm", J::from(arm + 1));
            put("arm_location", location(ctx, *arm_span));
            put("arm_source", source(ctx, *arm_span));
        }
        StepKind::Compare { op, left, right } => {
            put("op", J::from(op.symbol()));
            put("left", operand(ctx, left));
            put("right", operand(ctx, right));
        }
        StepKind::Logic { op, short_circuit } => {
            put("op", J::from(op.as_str()));
            put("short_circuit", J::Bool(*short_circuit));
        }
        StepKind::Arithmetic { op, operands } => {
            put("op", J::from(op.as_str()));
            put("operands", J::Array(operands.iter().map(|x| operand(ctx, x)).collect()));
        }
        StepKind::Round { before, places, mode } => {
            put("before", value(ctx, before, &step.ty));
            put("after", step.value.as_ref().map_or(J::Null, |v| value(ctx, v, &step.ty)));
            put("places", J::from(*places));
            put("mode", J::from(mode.name()));
        }
        StepKind::Aggregate { op, items, examined, kept } => {
            put("op", J::from(op.name()));
            put("items", J::from(*items));
            put("examined", J::from(*examined));
            put("kept", J::from(*kept));
        }
        StepKind::Item { index, element, kept } => {
            put("index", J::from(index + 1));
            put("element", element.as_ref().map_or(J::Null, |e| typed(ctx, e)));
            put("kept", J::Bool(*kept));
        }
        StepKind::Let => {
            put("name", ctx.source(step.span).and_then(let_name).map_or(J::Null, J::from));
        }
        StepKind::Otherwise { used_fallback, reason } => {
            put("used_fallback", J::Bool(*used_fallback));
            put("reason", reason.as_deref().map_or(J::Null, J::from));
        }
        StepKind::IsNone { reason } => {
            put("reason", reason.as_deref().map_or(J::Null, J::from));
        }
        StepKind::InSet { value, variants } => {
            put("operand", operand(ctx, value));
            put("variants", J::Array(variants.iter().map(|v| J::from(v.as_str())).collect()));
        }
        StepKind::Field { name } => put("field", J::from(name.as_str())),
        StepKind::Builtin { name, args } => {
            put("function", J::from(name.as_str()));
            put("args", J::Array(args.iter().map(|x| operand(ctx, x)).collect()));
        }
        StepKind::Failed { code, message } => {
            put("code", J::from(code.as_str()));
            put("message", J::from(message.as_str()));
        }
        StepKind::Value | StepKind::Unfinished => {}
    }
}

fn value(ctx: &Ctx<'_>, v: &Value, ty: &Ty) -> J {
    covenant_ir::value::to_json(ctx.program, v, ty)
}

fn typed(ctx: &Ctx<'_>, t: &Typed) -> J {
    json!({
        "value": value(ctx, &t.value, &t.ty),
        "display": ctx.display(&t.value, &t.ty),
        "type": ctx.ty_text(&t.ty),
    })
}

fn arg(ctx: &Ctx<'_>, a: &Arg, key: &str) -> J {
    let mut o = Map::new();
    o.insert(key.into(), J::from(a.name.as_str()));
    o.insert("value".into(), value(ctx, &a.value, &a.ty));
    o.insert("display".into(), J::from(ctx.display(&a.value, &a.ty)));
    o.insert("type".into(), J::from(ctx.ty_text(&a.ty)));
    J::Object(o)
}

fn operand(ctx: &Ctx<'_>, x: &Operand) -> J {
    json!({
        "value": value(ctx, &x.value, &x.ty),
        "display": ctx.display(&x.value, &x.ty),
        "type": ctx.ty_text(&x.ty),
        "location": location(ctx, x.span),
        "source": source(ctx, x.span),
    })
}

pub(super) fn location(ctx: &Ctx<'_>, span: Span) -> J {
    match ctx.locate(span) {
        Some(l) => json!({
            "file": l.file.name,
            "line": l.line,
            "column": l.column,
            "end_line": l.end_line,
            "end_column": l.end_column,
            "start": l.span.start,
            "end": l.span.end,
        }),
        None => J::Null,
    }
}

fn source(ctx: &Ctx<'_>, span: Span) -> J {
    ctx.source(span).map_or(J::Null, J::from)
}
