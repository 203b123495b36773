//! Warnings about programs that are valid but probably not what the author meant.
//!
//! - E0210: an input that no decision, param or table reads (a `given` in a test is not a use).
//! - E0320: a decision whose result is money and that no other decision uses (so it is an
//!   output, such as a payment) may carry fractions of a penny, because it multiplies money
//!   by a non-whole number or divides it, and never rounds. Covenant never rounds on its own;
//!   an output in pence should say how it rounds.

use covenant_ir::{BinOp, NodeId, NodeKind, NumKind, Owner, Program, Ty};
use covenant_source::Diagnostic;

pub(crate) fn lint(program: &Program, out: &mut Vec<Diagnostic>) {
    unused_inputs(program, out);
    unrounded_money(program, out);
}

fn unused_inputs(program: &Program, out: &mut Vec<Diagnostic>) {
    let mut used = vec![false; program.inputs.len()];
    for node in &program.nodes {
        if let NodeKind::Input(id) = node.kind
            && !matches!(node.origin.owner, Owner::Test(_))
        {
            used[id.index()] = true;
        }
    }
    for (input, used) in program.inputs.iter().zip(used) {
        if !used {
            out.push(
                Diagnostic::warning(
                    "E0210",
                    format!("input `{}` is never used", input.name),
                    input.span,
                    "declared here",
                )
                .with_help("remove it, or use it in a decision; every declared input must be given in a case"),
            );
        }
    }
}

fn unrounded_money(program: &Program, out: &mut Vec<Diagnostic>) {
    let mut called = vec![false; program.decisions.len()];
    for node in &program.nodes {
        if let NodeKind::Decision { id, .. } = node.kind
            && matches!(node.origin.owner, Owner::Decision(_))
        {
            called[id.index()] = true;
        }
    }
    for (def, called) in program.decisions.iter().zip(called) {
        let is_money = matches!(def.ty, Ty::Num(n) if n.kind == NumKind::Money);
        if called || !is_money || !def.params.is_empty() {
            continue;
        }
        if let Some(culprit) = splits_pence(program, def.body) {
            let span = program.node(culprit).origin.span;
            out.push(
                Diagnostic::warning(
                    "E0320",
                    format!("`{}` is money but is never rounded, and may not be a whole number of pence", def.name),
                    span,
                    "this can give fractions of a penny",
                )
                .with_label(def.name_span, "an output: no other decision uses it")
                .with_help("say how to round it, e.g. `round(…, 2, half_up)`; Covenant never rounds money on its own"),
            );
        }
    }
}

/// The first operation (outside any `round`) that can turn whole pence into fractions of a
/// penny: multiplying money by a number that need not be whole, dividing, or multiplying a
/// rate by a duration.
fn splits_pence(program: &Program, node: NodeId) -> Option<NodeId> {
    let n = program.node(node);
    let kind_of = |id: NodeId| program.node(id).ty.num().map(|t| t.kind);
    match &n.kind {
        NodeKind::Round { .. }
        | NodeKind::Const(_)
        | NodeKind::Input(_)
        | NodeKind::Param(_)
        | NodeKind::Local(_)
        | NodeKind::Decision { .. }
        | NodeKind::Table { .. }
        | NodeKind::Field { .. }
        | NodeKind::IsNone(_)
        | NodeKind::InSet { .. }
        | NodeKind::Record(_)
        | NodeKind::List(_) => None,
        NodeKind::Binary(BinOp::Div | BinOp::MulRateDuration(_) | BinOp::DivAmountDuration(_), _, _) => Some(node),
        NodeKind::Binary(BinOp::Mul, a, b) => {
            let whole = |id: NodeId| matches!(kind_of(id), Some(NumKind::Int | NumKind::Money));
            if whole(*a) && whole(*b) {
                splits_pence(program, *a).or_else(|| splits_pence(program, *b))
            } else {
                Some(node)
            }
        }
        NodeKind::Binary(_, a, b) | NodeKind::Otherwise(a, b) => {
            splits_pence(program, *a).or_else(|| splits_pence(program, *b))
        }
        NodeKind::Unary(_, a) => splits_pence(program, *a),
        NodeKind::If { then, els, .. } => splits_pence(program, *then).or_else(|| splits_pence(program, *els)),
        NodeKind::Match { arms, .. } => arms.iter().find_map(|arm| splits_pence(program, arm.body)),
        NodeKind::Let { body, .. } => splits_pence(program, *body),
        NodeKind::Aggregate { body, .. } => splits_pence(program, *body),
        NodeKind::Builtin { args, .. } => args.iter().find_map(|a| splits_pence(program, *a)),
        // A split's parts are whole pence (the remainder party takes any fraction).
        NodeKind::Split { .. } => None,
        // A payment is rounded to pence by the contract's rounding.
        NodeKind::Payment(_) | NodeKind::PaymentPart { .. } | NodeKind::ContractDate(_) => None,
        NodeKind::Versioned { versions, .. } => versions.iter().find_map(|v| splits_pence(program, v.node)),
        NodeKind::Rules { rules, default } => {
            rules.iter().map(|r| r.value).chain(*default).find_map(|v| splits_pence(program, v))
        }
    }
}
