//! Payment statements: every payment of a contract for one period, paid or not, as text for
//! a terminal and as JSON (`covenant.statement/1`, specified in `spec/contracts.md`).
//!
//! Each payment says what it paid, to whom, when it is due and under which clause; each
//! payment not made says why not (not due in the period, a gate or the trigger failed, with
//! each failed comparison's two sides and the distance between them). Totals per party close
//! the statement, with the check that what was paid out equals what was received.

use super::{Ctx, json, text};
use covenant_eval::Step;
use covenant_eval::payments::{Comparison, Instalment, PaymentOutcome, PaymentStatus, Shortfall, Statement};
use covenant_ir::json::JsonOut;
use covenant_ir::{ContractDef, NumTy, PartyRef, PaymentDef, Ty, Value};
use rust_decimal::Decimal;
use serde_json::{Map, Value as J, json};

/// The version tag of the JSON statement schema.
pub const STATEMENT_SCHEMA: &str = "covenant.statement/1";

fn money(amount: Decimal) -> String {
    covenant_ir::value::display_number(amount, NumTy::MONEY)
}

fn party<'a>(ctx: &Ctx<'a>, contract: &ContractDef, index: u32) -> &'a str {
    ctx.program.enums.get(contract.parties.0 as usize).map_or("?", |e| e.variant_name(index))
}

fn label<'a>(ctx: &Ctx<'a>, contract: &ContractDef, index: u32) -> Option<&'a str> {
    ctx.program.enums.get(contract.parties.0 as usize)?.variants.get(index as usize)?.label.as_deref()
}

/// Who pays or is paid, as written: a party, or a split's name and parties.
fn side(ctx: &Ctx<'_>, contract: &ContractDef, side: PartyRef) -> String {
    match side {
        PartyRef::Party(p) => party(ctx, contract, p).to_string(),
        PartyRef::Split(s) => {
            ctx.program.splits.get(s.index()).map_or("a split".into(), |s| format!("split {}", s.name))
        }
    }
}

fn heading(def: &PaymentDef) -> String {
    match &def.title {
        Some(title) => format!("{} \"{title}\"", def.name),
        None => def.name.clone(),
    }
}

/// The reason a payment was not made, on one line (a shadow payment has none: it was
/// worked out in full, but moves no money by design).
pub(super) fn why_not(status: &PaymentStatus) -> Option<String> {
    Some(match status {
        PaymentStatus::Paid | PaymentStatus::Shadow { .. } => return None,
        PaymentStatus::NotDue { reason } => format!("not due in this period: {reason}"),
        PaymentStatus::GateFailed { gate, .. } => format!("not paid: the gate \"{gate}\" failed"),
        PaymentStatus::NotTriggered { .. } => "not paid: the trigger did not hold".into(),
        PaymentStatus::NothingToPay => "nothing to pay: the amount is £0.00".into(),
    })
}

/// What a shadow payment would have paid, and its lines.
pub(super) fn shadow(status: &PaymentStatus) -> Option<(Decimal, &[Instalment])> {
    match status {
        PaymentStatus::Shadow { total, instalments } => Some((*total, instalments)),
        _ => None,
    }
}

fn shortfalls(status: &PaymentStatus) -> &[Shortfall] {
    match status {
        PaymentStatus::GateFailed { shortfalls, .. } | PaymentStatus::NotTriggered { shortfalls } => shortfalls,
        _ => &[],
    }
}

/// One failed condition: `completeness = 89.6%, needs >= 95%: 5.4% short`.
fn shortfall_text(ctx: &Ctx<'_>, s: &Shortfall) -> String {
    let Some(c) = &s.comparison else {
        return format!("{} is false", ctx.brief(s.span, 80).unwrap_or_else(|| "the condition".into()));
    };
    let left = match c.ratio {
        Some((n, d)) => format!("{} of {} ({})", n.normalize(), d.normalize(), approx(ctx, &c.left, &c.ty)),
        None => approx(ctx, &c.left, &c.ty),
    };
    let right = approx(ctx, &c.right, &c.ty);
    let subject = ctx.brief(c.left_span, 50).filter(|t| *t != left);
    let threshold = ctx.brief(c.right_span, 50).filter(|t| *t != right);
    let mut out = match subject {
        Some(name) => format!("{name} = {left}"),
        None => left,
    };
    out.push_str(&format!(", needs {} {right}", c.op.symbol()));
    if let Some(t) = threshold {
        out.push_str(&format!(" ({t})"));
    }
    if let Some(d) = distance(c) {
        out.push_str(&format!(": {d}"));
    }
    if let Some(more) = counts_to_pass(c) {
        out.push_str(&format!("; {more} would pass it"));
    }
    out
}

/// For a ratio of whole counts against a threshold: how many more (or fewer) in the
/// numerator would have passed, the denominator staying as it is.
fn counts_to_pass(c: &Comparison) -> Option<String> {
    use covenant_ir::BinOp;
    let (n, d) = c.ratio?;
    let Value::Num(threshold) = c.right else { return None };
    if !n.is_integer() || !d.is_integer() || d <= Decimal::ZERO {
        return None;
    }
    let bound = threshold.checked_mul(d)?;
    let (needed, more) = match c.op {
        BinOp::Ge => (bound.ceil(), true),
        BinOp::Gt => (bound.floor().checked_add(Decimal::ONE)?, true),
        BinOp::Le => (bound.floor(), false),
        BinOp::Lt => (bound.ceil().checked_sub(Decimal::ONE)?, false),
        _ => return None,
    };
    let gap = if more { needed.checked_sub(n)? } else { n.checked_sub(needed)? };
    if gap <= Decimal::ZERO || (more && needed > d) || needed < Decimal::ZERO {
        return None;
    }
    Some(format!("{} {}", gap.normalize(), if more { "more" } else { "fewer" }))
}

/// How far the measure is from the threshold, in words.
fn distance(c: &Comparison) -> Option<String> {
    use covenant_ir::BinOp;
    let d = c.distance?;
    let shown = approx_number(d, &c.ty);
    Some(match c.op {
        BinOp::Ge | BinOp::Gt if d.is_zero() => "exactly at the threshold, which does not pass".into(),
        BinOp::Ge | BinOp::Gt => format!("{shown} short"),
        BinOp::Le | BinOp::Lt if d.is_zero() => "exactly at the limit, which does not pass".into(),
        BinOp::Le | BinOp::Lt => format!("{shown} over"),
        BinOp::Eq | BinOp::Ne => format!("{shown} apart"),
        _ => return None,
    })
}

/// A value for a sentence: a number with a long fraction (a ratio) is shown to one decimal
/// place of a percentage or two of anything else, after "about"; the exact values are in the
/// explanation and the JSON.
fn approx(ctx: &Ctx<'_>, value: &Value, ty: &Ty) -> String {
    match value {
        Value::Num(n) => approx_number(*n, ty),
        other => ctx.display(other, ty),
    }
}

fn approx_number(n: Decimal, ty: &Ty) -> String {
    let Ty::Num(t) = ty else { return n.normalize().to_string() };
    let places = if t.kind == covenant_ir::NumKind::Percent { 3 } else { 2 };
    let rounded = n.round_dp_with_strategy(places, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    let shown = covenant_ir::value::display_number(rounded, *t);
    if rounded == n { shown } else { format!("about {shown}") }
}

/// When a payment is paid, as written: `monthly in advance`, `in arrears within 30 days`.
fn schedule(ctx: &Ctx<'_>, def: &PaymentDef) -> String {
    let mut text = match def.schedule {
        covenant_ir::Schedule::On(date) => {
            let span = ctx.program.nodes.get(date.index()).map(|n| n.origin.span);
            format!("on {}", span.and_then(|s| ctx.brief(s, 40)).unwrap_or_else(|| "a date".into()))
        }
        other => other.describe().to_string(),
    };
    if let Some(within) = def.within.and_then(|w| ctx.program.nodes.get(w.index())) {
        text.push_str(&format!(" within {}", ctx.brief(within.origin.span, 30).unwrap_or_default()));
    }
    text
}

/// Who pays whom on one line: `Council → Provider`.
pub(super) fn line_parties(ctx: &Ctx<'_>, i: &Instalment) -> String {
    match ctx.program.contract.as_ref() {
        Some(c) => format!("{} → {}", party(ctx, c, i.payer), party(ctx, c, i.payee)),
        None => String::new(),
    }
}

fn instalment_text(ctx: &Ctx<'_>, contract: &ContractDef, i: &Instalment) -> String {
    format!(
        "due {}  {} → {}  {}  for {} to {}",
        i.due,
        party(ctx, contract, i.payer),
        party(ctx, contract, i.payee),
        money(i.amount),
        i.from,
        i.to
    )
}

/// The section of the text statement a line goes in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Paid,
    /// Worked out in full, but no money moves (`shadow`).
    Shadow,
    /// Not due, a gate or trigger failed, nothing to pay, or an error.
    NotPaid,
}

impl Section {
    fn of(line: &covenant_eval::payments::StatementLine) -> Section {
        match &line.outcome {
            Ok(o) if o.status.is_paid() => Section::Paid,
            Ok(o) if shadow(&o.status).is_some() => Section::Shadow,
            _ => Section::NotPaid,
        }
    }
}

pub(super) fn render_text(ctx: &Ctx<'_>, statement: &Statement) -> String {
    let Some(contract) = ctx.program.contract.as_ref() else { return "the program has no contract\n".into() };
    let mut out = String::new();
    let title = contract.title.as_ref().map_or(String::new(), |t| format!(" \"{t}\""));
    out.push_str(&format!("Payment statement: contract {}{title}\n", contract.name));
    let (from, to) = statement.period;
    out.push_str(&format!("period {from} to {to} · term {} to {}\n", contract.term.0, contract.term.1));
    let payments = move |which: Section| statement.lines.iter().filter(move |l| Section::of(l) == which);
    out.push_str(&format!("\nPaid ({})\n", payments(Section::Paid).count()));
    for line in payments(Section::Paid) {
        let Ok(outcome) = &line.outcome else { continue };
        payment_block(ctx, contract, line.payment, outcome, &mut out);
        explanation(ctx, line.explanation.as_ref(), &mut out);
    }
    let shadows = payments(Section::Shadow).count();
    if shadows > 0 {
        out.push_str(&format!("\nShadow: worked out, no money moves ({shadows})\n"));
        for line in payments(Section::Shadow) {
            let Ok(outcome) = &line.outcome else { continue };
            payment_block(ctx, contract, line.payment, outcome, &mut out);
            explanation(ctx, line.explanation.as_ref(), &mut out);
        }
    }
    out.push_str(&format!("\nNot paid ({})\n", payments(Section::NotPaid).count()));
    for line in payments(Section::NotPaid) {
        let Some(def) = ctx.program.payments.get(line.payment.index()) else { continue };
        match &line.outcome {
            Ok(outcome) => payment_block(ctx, contract, line.payment, outcome, &mut out),
            Err(e) => {
                out.push_str(&format!("  {}: could not be evaluated: error[{}] {}\n", heading(def), e.code, e.message));
            }
        }
        explanation(ctx, line.explanation.as_ref(), &mut out);
    }
    out.push_str("\nTotals\n");
    let totals = statement.totals(ctx.program.enums.get(contract.parties.0 as usize).map_or(0, |e| e.variants.len()));
    let width = (0..totals.len()).map(|p| party(ctx, contract, p as u32).chars().count()).max().unwrap_or(0);
    let mut paid_out = Decimal::ZERO;
    let mut received = Decimal::ZERO;
    for (p, (pays, gets)) in totals.iter().enumerate() {
        let name = party(ctx, contract, p as u32);
        let role = contract.roles.get(p).map_or("", String::as_str);
        let who = label(ctx, contract, p as u32).map_or(String::new(), |l| format!("  {l} ({role})"));
        out.push_str(&format!("  {name:<width$}  pays {:>14}  receives {:>14}{who}\n", money(*pays), money(*gets)));
        paid_out = paid_out.saturating_add(*pays);
        received = received.saturating_add(*gets);
    }
    let conserved = if paid_out == received { "conserved" } else { "NOT conserved" };
    out.push_str(&format!("  paid out {} = received {} ({conserved})\n", money(paid_out), money(received)));
    out
}

fn payment_block(
    ctx: &Ctx<'_>,
    contract: &ContractDef,
    id: covenant_ir::PaymentId,
    outcome: &PaymentOutcome,
    out: &mut String,
) {
    let Some(def) = ctx.program.payments.get(id.index()) else { return };
    let location = ctx.locate(def.name_span).map_or(String::new(), |l| format!("   {}:{}", l.file.name, l.line));
    let of = outcome.of.map_or(String::new(), |of| format!(" of {}", money(of)));
    let first = match (why_not(&outcome.status), shadow(&outcome.status)) {
        (_, Some((would, _))) => {
            format!("  {}: would pay {}{of}, no money moves{location}\n", heading(def), money(would))
        }
        (None, None) => format!("  {}: {}{of}{location}\n", heading(def), money(outcome.total)),
        (Some(_), None) => format!("  {}: {}{of} not paid{location}\n", heading(def), money(outcome.total)),
    };
    out.push_str(&first);
    let clause = def.clause.as_ref().map_or(String::new(), |c| format!("clause {c} · "));
    out.push_str(&format!(
        "  │ {clause}{} → {}, paid {}\n",
        side(ctx, contract, def.payer),
        side(ctx, contract, def.payee),
        schedule(ctx, def)
    ));
    for a in &outcome.adjustments {
        out.push_str(&format!("  │ {a}\n"));
    }
    if let Some(reason) = why_not(&outcome.status) {
        out.push_str(&format!("  └─ {reason}\n"));
        for s in shortfalls(&outcome.status) {
            let location = ctx.locate(s.span).map_or(String::new(), |l| format!("   :{}", l.line));
            out.push_str(&format!("     └─ {}{location}\n", shortfall_text(ctx, s)));
        }
        return;
    }
    let (lines, prefix) = match shadow(&outcome.status) {
        Some((_, lines)) => (lines, "would be "),
        None => (&outcome.instalments[..], ""),
    };
    for (n, i) in lines.iter().enumerate() {
        let branch = if n + 1 == lines.len() { "└─" } else { "├─" };
        out.push_str(&format!("  {branch} {prefix}{}\n", instalment_text(ctx, contract, i)));
    }
}

fn explanation(ctx: &Ctx<'_>, step: Option<&covenant_eval::Step>, out: &mut String) {
    let Some(step) = step else { return };
    out.push_str("     why:\n");
    for line in text::render(ctx, step).lines() {
        out.push_str("       ");
        out.push_str(line);
        out.push('\n');
    }
}

/// A payment's outcome as JSON fields (shared by the statement and by explanation steps).
pub(super) fn outcome_fields(ctx: &Ctx<'_>, outcome: &PaymentOutcome, o: &mut Map<String, J>) {
    let Some(contract) = ctx.program.contract.as_ref() else { return };
    let Some(def) = ctx.program.payments.get(outcome.payment.index()) else { return };
    let amount = |d: Decimal| covenant_ir::value::to_json(ctx.program, &Value::Num(d), &Ty::MONEY);
    o.insert("payment".into(), J::from(def.name.as_str()));
    o.insert("title".into(), def.title.as_deref().map_or(J::Null, J::from));
    o.insert("clause".into(), def.clause.as_deref().map_or(J::Null, J::from));
    o.insert("payer".into(), J::from(side(ctx, contract, def.payer)));
    o.insert("payee".into(), J::from(side(ctx, contract, def.payee)));
    o.insert("schedule".into(), J::from(schedule(ctx, def)));
    let status = match &outcome.status {
        PaymentStatus::Paid => "paid",
        PaymentStatus::NotDue { .. } => "not_due",
        PaymentStatus::GateFailed { .. } => "gate_failed",
        PaymentStatus::NotTriggered { .. } => "not_triggered",
        PaymentStatus::NothingToPay => "nothing_to_pay",
        PaymentStatus::Shadow { .. } => "shadow",
    };
    o.insert("status".into(), J::from(status));
    o.insert("total".into(), amount(outcome.total));
    o.insert("of".into(), outcome.of.map_or(J::Null, amount));
    o.insert("why_not".into(), why_not(&outcome.status).map_or(J::Null, J::from));
    if let PaymentStatus::GateFailed { gate, .. } = &outcome.status {
        o.insert("gate".into(), J::from(gate.as_str()));
    }
    let failed: Vec<J> = shortfalls(&outcome.status)
        .iter()
        .map(|s| {
            let mut f = Map::new();
            f.insert("text".into(), J::from(shortfall_text(ctx, s)));
            f.insert("location".into(), json::location(ctx, s.span));
            f.insert("source".into(), ctx.source(s.span).map_or(J::Null, J::from));
            if let Some(c) = &s.comparison {
                f.insert("op".into(), J::from(c.op.symbol()));
                f.insert("left".into(), covenant_ir::value::to_json(ctx.program, &c.left, &c.ty));
                f.insert("right".into(), covenant_ir::value::to_json(ctx.program, &c.right, &c.ty));
                if let Some((n, d)) = c.ratio {
                    f.insert("numerator".into(), J::from(n.normalize().to_string()));
                    f.insert("denominator".into(), J::from(d.normalize().to_string()));
                }
                f.insert(
                    "distance".into(),
                    c.distance.map_or(J::Null, |d| covenant_ir::value::to_json(ctx.program, &Value::Num(d), &c.ty)),
                );
            }
            J::Object(f)
        })
        .collect();
    o.insert("failed_conditions".into(), J::Array(failed));
    o.insert("adjustments".into(), J::Array(outcome.adjustments.iter().map(|a| J::from(a.as_str())).collect()));
    let lines = |instalments: &[Instalment]| {
        let lines = instalments.iter().map(|i| {
            json!({
                "payer": party(ctx, contract, i.payer),
                "payee": party(ctx, contract, i.payee),
                "amount": amount(i.amount),
                "due": i.due.to_string(),
                "from": i.from.to_string(),
                "to": i.to.to_string(),
            })
        });
        J::Array(lines.collect())
    };
    o.insert("instalments".into(), lines(&outcome.instalments));
    if let Some((would, instalments)) = shadow(&outcome.status) {
        o.insert("shadow_total".into(), amount(would));
        o.insert("shadow_instalments".into(), lines(instalments));
    }
}

pub(super) fn render_json(ctx: &Ctx<'_>, statement: &Statement) -> J {
    render_json_with(ctx, statement, true)
}

/// The statement's JSON as compact text, byte for byte `render_json`'s value written by
/// `serde_json::to_string`, with each explanation written straight into the text: a statement
/// explained over thousands of cases is never held as a `serde_json::Value`.
pub(super) fn render_json_text(ctx: &Ctx<'_>, statement: &Statement) -> String {
    let skeleton = render_json_with(ctx, statement, false);
    let J::Object(members) = &skeleton else { return skeleton.to_string() };
    let mut text = String::from("{");
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&J::from(key.as_str()).to_string());
        text.push(':');
        match (key.as_str(), value) {
            ("payments", J::Array(payments)) => {
                text.push('[');
                for (j, (payment, line)) in payments.iter().zip(&statement.lines).enumerate() {
                    if j > 0 {
                        text.push(',');
                    }
                    push_with_explanation(ctx, &payment.to_string(), line.explanation.as_ref(), &mut text);
                }
                text.push(']');
            }
            _ => text.push_str(&value.to_string()),
        }
    }
    text.push('}');
    text
}

/// A payment object's compact text with its explanation added as the last member, as
/// `render_json_with` inserts it.
fn push_with_explanation(ctx: &Ctx<'_>, object: &str, explanation: Option<&Step>, text: &mut String) {
    let (Some(step), Some(open)) = (explanation, object.strip_suffix('}')) else {
        text.push_str(object);
        return;
    };
    text.push_str(open);
    text.push_str(if open == "{" { "\"explanation\":" } else { ",\"explanation\":" });
    let mut out = JsonOut::new();
    json::write_step(ctx, step, &mut out);
    text.push_str(out.as_str());
    text.push('}');
}

fn render_json_with(ctx: &Ctx<'_>, statement: &Statement, explanations: bool) -> J {
    let Some(contract) = ctx.program.contract.as_ref() else { return J::Null };
    let amount = |d: Decimal| covenant_ir::value::to_json(ctx.program, &Value::Num(d), &Ty::MONEY);
    let payments: Vec<J> = statement
        .lines
        .iter()
        .map(|line| {
            let mut o = Map::new();
            let def = ctx.program.payments.get(line.payment.index());
            match &line.outcome {
                Ok(outcome) => outcome_fields(ctx, outcome, &mut o),
                Err(e) => {
                    o.insert("payment".into(), def.map_or(J::Null, |d| J::from(d.name.as_str())));
                    o.insert("status".into(), J::from("error"));
                    o.insert("error".into(), json!({ "code": e.code, "message": e.message }));
                }
            }
            o.insert("location".into(), def.map_or(J::Null, |d| json::location(ctx, d.name_span)));
            if explanations && let Some(step) = &line.explanation {
                o.insert("explanation".into(), json::step(ctx, step));
            }
            J::Object(o)
        })
        .collect();
    let parties = ctx.program.enums.get(contract.parties.0 as usize).map_or(0, |e| e.variants.len());
    let totals = statement.totals(parties);
    let mut paid_out = Decimal::ZERO;
    let mut received = Decimal::ZERO;
    let parties: Vec<J> = totals
        .iter()
        .enumerate()
        .map(|(p, (pays, gets))| {
            paid_out = paid_out.saturating_add(*pays);
            received = received.saturating_add(*gets);
            json!({
                "party": party(ctx, contract, p as u32),
                "name": label(ctx, contract, p as u32),
                "role": contract.roles.get(p),
                "pays": amount(*pays),
                "receives": amount(*gets),
                "net": amount(gets.saturating_sub(*pays)),
            })
        })
        .collect();
    json!({
        "schema": STATEMENT_SCHEMA,
        "contract": {
            "name": contract.name,
            "title": contract.title,
            "term": { "from": contract.term.0.to_string(), "to": contract.term.1.to_string() },
            "source": contract.source,
        },
        "period": { "from": statement.period.0.to_string(), "to": statement.period.1.to_string() },
        "payments": payments,
        "parties": parties,
        "paid_out": amount(paid_out),
        "received": amount(received),
        "conserved": paid_out == received,
    })
}
