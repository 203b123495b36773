//! Contract payments for a statement period, and the payment statement.
//!
//! A payment is evaluated in this order, and the first thing that stops it is its status:
//! 1. the statement period (`period … to …` of the contract, else the whole term) is clipped
//!    to the term; a period outside the term, or a one-off payment due outside the period
//!    (`paid at contract end`, `paid on DATE`), is **not due**;
//! 2. each `gate` must hold (a data-quality gate: no payment on incomplete data);
//! 3. the `when` trigger must hold;
//! 4. the amount: an `amount` for the period is raised to its `floor`, limited to its `cap`
//!    and rounded to pence by the contract's rounding (half up unless it says otherwise). A
//!    `block` value per year or per month is paid in monthly or quarterly instalments: the
//!    value accrues day by day within each calendar month (a month's share of a yearly value
//!    is a twelfth, whatever its length), and each instalment is the accrued total at the
//!    end of its slot, rounded to pence, less the same at the end of the slot before. So the
//!    instalments of the whole term add up to the value exactly, and every statement gives
//!    the same instalments for the same slots.
//!
//! A gate or trigger that fails is explained by its failed comparisons, each with both sides
//! and the distance between them ("short by 5.4%"). Payments to or from a split are shared
//! between its parties by [`covenant_ir::SplitDef::allocate`], which conserves the penny.

use crate::error::{EvalError, code};
use crate::ops;
use crate::session::{Detail, Frame, Res};
use crate::trace::{NoTrace, Step, StepKind, Tracer};
use crate::{Recorder, Session};
use covenant_ir::date::days_in_month;
use covenant_ir::{
    BinOp, ContractDef, Date, Duration, NodeId, NodeKind, PartyRef, PaymentAmount, PaymentDef, PaymentId, RoundMode,
    Schedule, Span, Ty, Unit, Value,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What a payment comes to in the statement period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentOutcome {
    pub payment: PaymentId,
    pub status: PaymentStatus,
    /// One line per instalment and paying or paid party (empty unless paid).
    pub instalments: Vec<Instalment>,
    /// The sum of the instalments.
    pub total: Decimal,
    /// What was done to the amount on the way: floor, cap, rounding.
    pub adjustments: Vec<String>,
    /// The most the payment can pay (`of …`), when declared and due.
    pub of: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PaymentStatus {
    Paid,
    /// Not payable in this statement period (outside the term, or due at another time).
    NotDue {
        reason: String,
    },
    /// A gate did not hold.
    GateFailed {
        gate: String,
        shortfalls: Vec<Shortfall>,
    },
    /// The trigger did not hold.
    NotTriggered {
        shortfalls: Vec<Shortfall>,
    },
    /// Everything held but the amount is £0.00.
    NothingToPay,
    /// A shadow payment (`shadow`): what it would have paid, line by line; no money moves,
    /// so the outcome's own total is £0.00 and it has no instalments.
    Shadow {
        total: Decimal,
        instalments: Vec<Instalment>,
    },
}

impl PaymentStatus {
    pub fn is_paid(&self) -> bool {
        matches!(self, PaymentStatus::Paid)
    }
}

/// One payment from one party to another, for the days `from` to `to`, due on `due`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instalment {
    pub payer: u32,
    pub payee: u32,
    pub amount: Decimal,
    pub due: Date,
    pub from: Date,
    pub to: Date,
}

/// A condition that did not hold: a comparison with both sides and how far apart they are,
/// or (`comparison: None`) a condition that is not a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shortfall {
    pub span: Span,
    pub comparison: Option<Comparison>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub op: BinOp,
    pub left: Value,
    pub right: Value,
    pub ty: Ty,
    pub left_span: Span,
    pub right_span: Span,
    /// How far the left side is from the right (numbers only).
    pub distance: Option<Decimal>,
    /// When the left side is a `ratio(n, d)`: the numerator and denominator.
    pub ratio: Option<(Decimal, Decimal)>,
}

/// A payment statement: every payment of the contract for one period.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// First and last day of the period, as asked (before clipping to the term).
    pub period: (Date, Date),
    pub lines: Vec<StatementLine>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatementLine {
    pub payment: PaymentId,
    pub outcome: Result<PaymentOutcome, EvalError>,
    /// The payment's explanation, when asked for.
    pub explanation: Option<Step>,
}

impl Statement {
    /// Per party (variant index): what it pays and what it receives, over paid payments.
    pub fn totals(&self, parties: usize) -> Vec<(Decimal, Decimal)> {
        let mut totals = vec![(Decimal::ZERO, Decimal::ZERO); parties];
        for line in &self.lines {
            let Ok(outcome) = &line.outcome else { continue };
            for i in &outcome.instalments {
                if let Some(t) = totals.get_mut(i.payer as usize) {
                    t.0 = t.0.saturating_add(i.amount);
                }
                if let Some(t) = totals.get_mut(i.payee as usize) {
                    t.1 = t.1.saturating_add(i.amount);
                }
            }
        }
        totals
    }
}

impl<'p> Session<'p> {
    /// The statement of every payment of the program's contract for the statement period.
    /// With `explain`, each line carries its explanation. A payment that fails to evaluate
    /// is reported on its line; the others are still evaluated.
    pub fn statement(&mut self, explain: bool) -> Result<Statement, EvalError> {
        let program = self.program();
        let period = self.statement_period().map_err(|e| *e)?;
        let mut lines = Vec::with_capacity(program.payments.len());
        for index in 0..program.payments.len() {
            let id = PaymentId(index as u32);
            let (outcome, explanation) = if explain {
                // Each line's explanation stands alone: every step it depends on is computed
                // again for it, and shown once in it (a repeat is shown by value).
                self.start_over();
                let mut recorder = Recorder::with_limit(0);
                let outcome = self.payment(id, &mut recorder);
                (outcome, recorder.finish())
            } else {
                (self.payment(id, &mut NoTrace), None)
            };
            lines.push(StatementLine { payment: id, outcome, explanation });
        }
        Ok(Statement { period, lines })
    }

    /// Evaluates one payment for the statement period, recording it as one step.
    pub fn payment<T: Tracer>(&mut self, id: PaymentId, tracer: &mut T) -> Result<PaymentOutcome, EvalError> {
        let program = self.program();
        let Some(def) = program.payments.get(id.index()) else {
            return Err(EvalError::internal(Span::default(), format!("payment #{} does not exist", id.0)));
        };
        if T::ENABLED {
            tracer.enter();
        }
        let result = self.evaluate_payment(id, tracer);
        if T::ENABLED {
            let mut step = Step::unfinished(def.name.clone(), Ty::MONEY, def.name_span);
            match &result {
                Ok(outcome) => {
                    step.value = Some(Value::Num(outcome.total));
                    step.kind = StepKind::Payment(Box::new(outcome.clone()));
                    tracer.exit(step);
                }
                Err(e) => tracer.fail(step, e.code, &e.message),
            }
        }
        result.map_err(|e| *e)
    }

    /// `NodeKind::Payment`: the payment's total in the period, as a value.
    pub(crate) fn payment_node<T: Tracer>(
        &mut self,
        span: Span,
        id: PaymentId,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        if self.program().payments.get(id.index()).is_none() {
            return Err(Box::new(EvalError::internal(span, format!("payment #{} does not exist", id.0))));
        }
        let outcome = self.evaluate_payment(id, tracer)?;
        let total = outcome.total;
        if T::ENABLED {
            *detail = crate::session::Pending::made(StepKind::Payment(Box::new(outcome)));
        }
        Ok(Value::Num(total))
    }

    /// `paid_to(payment, party)` / `paid_by(payment, party)`: the party's lines of the
    /// payment in the period, summed.
    pub(crate) fn payment_part<T: Tracer>(
        &mut self,
        span: Span,
        (id, party, receiving): (PaymentId, NodeId, bool),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        if self.program().payments.get(id.index()).is_none() {
            return Err(Box::new(EvalError::internal(span, format!("payment #{} does not exist", id.0))));
        }
        let Value::Enum(party) = self.eval(party, frame, tracer)? else {
            return Err(Box::new(EvalError::internal(span, "a payment's party is not a party")));
        };
        let outcome = self.evaluate_payment(id, tracer)?;
        let mut part = Decimal::ZERO;
        for line in &outcome.instalments {
            if (if receiving { line.payee } else { line.payer }) == party {
                part = part.checked_add(line.amount).ok_or_else(|| too_large(span))?;
            }
        }
        if T::ENABLED {
            *detail = crate::session::Pending::made(StepKind::Payment(Box::new(outcome)));
        }
        Ok(Value::Num(part))
    }

    /// `term_start()` and the like.
    pub(crate) fn contract_date(&mut self, span: Span, which: covenant_ir::ContractDate) -> Res {
        use covenant_ir::ContractDate as C;
        let Some(contract) = self.program().contract.as_ref() else {
            return Err(Box::new(EvalError::internal(span, "the program has no contract")));
        };
        let date = match which {
            C::TermStart => contract.term.0,
            C::TermEnd => contract.term.1,
            C::PeriodStart => self.statement_period()?.0,
            C::PeriodEnd => self.statement_period()?.1,
        };
        Ok(Value::Date(date))
    }

    /// The statement period as declared by the contract (the term when it declares none).
    pub(crate) fn statement_period(&mut self) -> Res<(Date, Date)> {
        let Some(contract) = self.program().contract.as_ref() else {
            return Err(Box::new(EvalError::internal(Span::default(), "the program has no contract")));
        };
        let Some((from, to)) = contract.period else { return Ok(contract.term) };
        let first = self.date_of(from, "the first day of the statement period")?;
        let last = self.date_of(to, "the last day of the statement period")?;
        if last < first {
            let span = self.program().node(to).origin.span;
            return Err(Box::new(
                EvalError::new(
                    code::PERIOD,
                    format!("the statement period ends ({last}) before it starts ({first})"),
                    span,
                )
                .with_label(span, "the last day"),
            ));
        }
        Ok((first, last))
    }

    /// A value that must be there: "no value" is E0503 naming `what`, with `hint`.
    fn present<T: Tracer>(&mut self, node: NodeId, what: &str, hint: &str, tracer: &mut T) -> Res<(Value, Span)> {
        let span = self.program().node(node).origin.span;
        match self.eval(node, &mut Vec::new(), tracer)? {
            Value::None(reason) => Err(Box::new(
                EvalError::new(code::NO_VALUE, format!("{what} has no value: {reason}"), span)
                    .with_label(span, "no value")
                    .with_note(hint.to_string()),
            )),
            value => Ok((value, span)),
        }
    }

    fn date_of(&mut self, node: NodeId, what: &str) -> Res<Date> {
        match self.present(node, what, "check the dates in the inputs", &mut NoTrace)? {
            (Value::Date(d), _) => Ok(d),
            (_, span) => Err(Box::new(EvalError::internal(span, format!("{what} is not a date")))),
        }
    }

    fn evaluate_payment<T: Tracer>(&mut self, id: PaymentId, tracer: &mut T) -> Res<PaymentOutcome> {
        let program = self.program();
        let def = &program.payments[id.index()];
        let Some(contract) = program.contract.as_ref() else {
            return Err(Box::new(EvalError::internal(def.span, "a payment without a contract")));
        };
        let mut of = None;
        let not = |status: PaymentStatus, of: Option<Decimal>| {
            Ok(PaymentOutcome {
                payment: id,
                status,
                instalments: Vec::new(),
                total: Decimal::ZERO,
                adjustments: Vec::new(),
                of,
            })
        };
        let (first, last) = self.statement_period()?;
        let (start, end) = contract.term;
        let (from, to) = (first.max(start), last.min(end));
        if from > to {
            return not(
                PaymentStatus::NotDue {
                    reason: format!(
                        "the statement period {first} to {last} is outside the contract term {start} to {end}"
                    ),
                },
                None,
            );
        }
        let within = match def.within {
            Some(node) => Some(self.duration_of(node)?),
            None => None,
        };
        // One-off payments are due once; instalments get their dates below.
        let once_due = match def.schedule {
            Schedule::Once { in_advance: true } => Some(from),
            Schedule::Once { in_advance: false } => Some(day_after(to, def.span)?),
            Schedule::AtContractEnd if to == end => Some(day_after(end, def.span)?),
            Schedule::AtContractEnd => {
                return not(
                    PaymentStatus::NotDue {
                        reason: format!("paid at contract end: the term ends on {end}, after this statement period"),
                    },
                    None,
                );
            }
            Schedule::On(node) => {
                let date = self.date_of(node, "the due date")?;
                if date < from || date > to {
                    return not(
                        PaymentStatus::NotDue {
                            reason: format!("due on {date}, outside this statement period ({from} to {to})"),
                        },
                        None,
                    );
                }
                Some(date)
            }
            Schedule::Monthly { .. } | Schedule::Quarterly { .. } => None,
        };
        if let Some(node) = def.of {
            of = Some(self.money_of(node, tracer)?);
        }
        for (gate, condition) in &def.gates {
            if !self.condition(*condition, tracer)? {
                let shortfalls = self.shortfalls(*condition);
                return not(PaymentStatus::GateFailed { gate: gate.clone(), shortfalls }, of);
            }
        }
        if let Some(trigger) = def.trigger
            && !self.condition(trigger, tracer)?
        {
            let shortfalls = self.shortfalls(trigger);
            return not(PaymentStatus::NotTriggered { shortfalls }, of);
        }
        let mut adjustments = Vec::new();
        let lines: Vec<(Date, Date, Date, Decimal)> = match def.amount {
            PaymentAmount::Period(node) => {
                let amount = self.period_amount(def, contract, node, tracer, &mut adjustments)?;
                let due = shift(once_due.unwrap_or(to), within, def.span)?;
                vec![(from, to, due, amount)]
            }
            PaymentAmount::Block { rate, per } => {
                let rate = self.money_of(rate, tracer)?;
                let yearly = per == Unit::Year;
                let mut lines = Vec::new();
                for (slot_start, slot_end) in slots(def.schedule, from, to) {
                    let (a, b) = (slot_start.max(from), slot_end.min(to));
                    let before = day_before(a, def.span)?;
                    let accrued_to = |d: Date| accrued(rate, yearly, start, d, contract.rounding);
                    let amount = accrued_to(b)
                        .zip(accrued_to(before))
                        .and_then(|(x, y)| x.checked_sub(y))
                        .ok_or_else(|| too_large(def.span))?;
                    let in_advance = matches!(
                        def.schedule,
                        Schedule::Monthly { in_advance: true } | Schedule::Quarterly { in_advance: true }
                    );
                    let due = if in_advance { slot_start.max(start) } else { day_after(slot_end.min(end), def.span)? };
                    lines.push((a, b, shift(due, within, def.span)?, amount));
                }
                lines
            }
        };
        let mut instalments = Vec::new();
        for (a, b, due, amount) in lines {
            self.share_out(def, amount, |payer, payee, amount| Instalment {
                payer,
                payee,
                amount,
                due,
                from: a,
                to: b,
            })
            .map(|parts| instalments.extend(parts))
            .ok_or_else(|| too_large(def.span))?;
        }
        let total = instalments.iter().try_fold(Decimal::ZERO, |sum, i| sum.checked_add(i.amount));
        let total = total.ok_or_else(|| too_large(def.span))?;
        if total.is_zero() {
            let status = PaymentStatus::NothingToPay;
            return Ok(PaymentOutcome { payment: id, status, instalments: Vec::new(), total, adjustments, of });
        }
        if def.shadow {
            let status = PaymentStatus::Shadow { total, instalments };
            let total = Decimal::ZERO;
            return Ok(PaymentOutcome { payment: id, status, instalments: Vec::new(), total, adjustments, of });
        }
        Ok(PaymentOutcome { payment: id, status: PaymentStatus::Paid, instalments, total, adjustments, of })
    }

    /// The amount for the period: floor, then cap, then rounding to pence.
    fn period_amount<T: Tracer>(
        &mut self,
        def: &PaymentDef,
        contract: &ContractDef,
        node: NodeId,
        tracer: &mut T,
        adjustments: &mut Vec<String>,
    ) -> Res<Decimal> {
        let mut amount = self.money_of(node, tracer)?;
        if let Some(floor) = def.floor {
            let floor = self.money_of(floor, tracer)?;
            if amount < floor {
                adjustments.push(format!("raised from {} to the floor of {}", money(amount), money(floor)));
                amount = floor;
            }
        }
        if let Some(cap) = def.cap {
            let cap = self.money_of(cap, tracer)?;
            if amount > cap {
                adjustments.push(format!("limited from {} to the cap of {}", money(amount), money(cap)));
                amount = cap;
            }
        }
        let rounded = ops::round(amount, 2, contract.rounding.strategy());
        if rounded != amount {
            adjustments.push(format!(
                "rounded {} from {} to {}",
                contract.rounding.name().replace('_', " "),
                amount.normalize(),
                money(rounded)
            ));
        }
        Ok(rounded)
    }

    /// The lines of one amount: to or from each party of a split in its share, or one line.
    fn share_out(
        &self,
        def: &PaymentDef,
        amount: Decimal,
        line: impl Fn(u32, u32, Decimal) -> Instalment,
    ) -> Option<Vec<Instalment>> {
        let splits = &self.program().splits;
        Some(match (def.payer, def.payee) {
            (PartyRef::Party(payer), PartyRef::Party(payee)) => vec![line(payer, payee, amount)],
            (PartyRef::Party(payer), PartyRef::Split(s)) => {
                splits.get(s.index())?.allocate(amount)?.into_iter().map(|(p, part)| line(payer, p, part)).collect()
            }
            (PartyRef::Split(s), PartyRef::Party(payee)) => {
                splits.get(s.index())?.allocate(amount)?.into_iter().map(|(p, part)| line(p, payee, part)).collect()
            }
            (PartyRef::Split(_), PartyRef::Split(_)) => return None,
        })
    }

    fn condition<T: Tracer>(&mut self, node: NodeId, tracer: &mut T) -> Res<bool> {
        let hint = "give a fallback with `otherwise`, or test for it with `is none`";
        match self.present(node, "this condition", hint, tracer)? {
            (Value::Bool(b), _) => Ok(b),
            (_, span) => Err(Box::new(EvalError::internal(span, "a condition is not a boolean"))),
        }
    }

    fn money_of<T: Tracer>(&mut self, node: NodeId, tracer: &mut T) -> Res<Decimal> {
        match self.present(node, "the amount", "give a fallback with `otherwise`", tracer)? {
            (Value::Num(n), _) => Ok(n),
            (_, span) => Err(Box::new(EvalError::internal(span, "an amount is not a number"))),
        }
    }

    fn duration_of(&mut self, node: NodeId) -> Res<Duration> {
        let span = self.program().node(node).origin.span;
        match self.eval(node, &mut Vec::new(), &mut NoTrace)? {
            Value::Duration(d) => Ok(d),
            _ => Err(Box::new(EvalError::internal(span, "the time allowed to pay is not a duration"))),
        }
    }

    /// The numerator and denominator when a value is a `ratio(n, d)`, possibly through
    /// decisions (with their arguments), the branch of an `if` or `match` taken, an
    /// `otherwise` fallback or a rounding.
    fn ratio_counts(&mut self, node: NodeId) -> Option<(Decimal, Decimal)> {
        let program = self.program();
        let mut node = node;
        let mut frame = Vec::new();
        // Each step moves to a different node of a finite, acyclic program; the bound is a guard.
        for _ in 0..64 {
            match &program.nodes.get(node.index())?.kind {
                NodeKind::Builtin { f: covenant_ir::Builtin::Ratio, args } => {
                    let numerator = self.eval(*args.first()?, &mut frame, &mut NoTrace).ok()?;
                    let denominator = self.eval(*args.get(1)?, &mut frame, &mut NoTrace).ok()?;
                    return match (numerator, denominator) {
                        (Value::Num(n), Value::Num(d)) => Some((n, d)),
                        _ => None,
                    };
                }
                NodeKind::Otherwise(primary, _) => node = *primary,
                NodeKind::Round { value, .. } => node = *value,
                NodeKind::If { cond, then, els } => {
                    let taken = self.eval(*cond, &mut frame, &mut NoTrace).ok()?;
                    node = if taken == Value::Bool(true) { *then } else { *els };
                }
                NodeKind::Match { scrutinee, arms } => {
                    let value = self.eval(*scrutinee, &mut frame, &mut NoTrace).ok()?;
                    let at = self.at(node, program.node(node).origin.span).ok()?;
                    node = self.select_arm(at, *scrutinee, &value, arms).ok()?.1.body;
                }
                NodeKind::Decision { id, args } => {
                    let mut callee = Vec::with_capacity(args.len());
                    for arg in args {
                        callee.push(self.eval(*arg, &mut frame, &mut NoTrace).ok()?);
                    }
                    frame = callee;
                    node = program.decisions.get(id.index())?.body;
                }
                _ => return None,
            }
        }
        None
    }

    /// Why a condition that evaluated to false did not hold: its failed comparisons.
    fn shortfalls(&mut self, node: NodeId) -> Vec<Shortfall> {
        let program = self.program();
        let n = program.node(node);
        let value = |s: &mut Self, id: NodeId| s.eval(id, &mut Vec::new(), &mut NoTrace).ok();
        match &n.kind {
            NodeKind::Binary(BinOp::And, a, b) => {
                let mut out = Vec::new();
                for side in [*a, *b] {
                    if value(self, side) == Some(Value::Bool(false)) {
                        out.extend(self.shortfalls(side));
                    }
                }
                out
            }
            NodeKind::Binary(op, l, r) if op.is_comparison() => {
                let (Some(left), Some(right)) = (value(self, *l), value(self, *r)) else {
                    return vec![Shortfall { span: n.origin.span, comparison: None }];
                };
                let distance = match (&left, &right) {
                    (Value::Num(x), Value::Num(y)) => y.checked_sub(*x).map(|d| d.abs()),
                    _ => None,
                };
                let ratio = self.ratio_counts(*l);
                vec![Shortfall {
                    span: n.origin.span,
                    comparison: Some(Comparison {
                        op: *op,
                        ty: program.node(*l).ty.clone(),
                        left,
                        right,
                        left_span: program.node(*l).origin.span,
                        right_span: program.node(*r).origin.span,
                        distance,
                        ratio,
                    }),
                }]
            }
            NodeKind::Decision { id, args } if args.is_empty() => {
                let body = program.decision(*id).body;
                let inner = self.shortfalls(body);
                if inner.is_empty() { vec![Shortfall { span: n.origin.span, comparison: None }] } else { inner }
            }
            _ => vec![Shortfall { span: n.origin.span, comparison: None }],
        }
    }
}

/// The schedule's slots (calendar months, or quarters of the financial year: April to June
/// and so on) that overlap `from` to `to`, unclipped.
fn slots(schedule: Schedule, from: Date, to: Date) -> Vec<(Date, Date)> {
    let months = if matches!(schedule, Schedule::Quarterly { .. }) { 3 } else { 1 };
    let (y, m, _) = from.ymd();
    let first_month = if months == 3 { (m - 1) / 3 * 3 + 1 } else { m };
    let mut out = Vec::new();
    let Some(mut start) = Date::from_ymd(y, first_month, 1) else { return out };
    while start <= to {
        let Some(next) = start.add(Duration { months, days: 0 }) else { break };
        let Some(end) = next.sub(Duration { months: 0, days: 1 }) else { break };
        out.push((start, end));
        start = next;
    }
    out
}

/// How much of a yearly (or monthly) `rate` has accrued from `start` to `through`, both
/// included, rounded to pence: a twelfth of a yearly rate per calendar month, shared by day
/// within the month. `None` on overflow.
fn accrued(rate: Decimal, yearly: bool, start: Date, through: Date, rounding: RoundMode) -> Option<Decimal> {
    if through < start {
        return Some(Decimal::ZERO);
    }
    let (y1, m1, d1) = start.ymd();
    let (y2, m2, d2) = through.ymd();
    let dim = |y: i32, m: u32| Decimal::from(days_in_month(y, m));
    let months = if (y1, m1) == (y2, m2) {
        Decimal::from(d2 - d1 + 1).checked_div(dim(y1, m1))?
    } else {
        let first = Decimal::from(days_in_month(y1, m1) - d1 + 1).checked_div(dim(y1, m1))?;
        let last = Decimal::from(d2).checked_div(dim(y2, m2))?;
        let between = (i64::from(y2) * 12 + i64::from(m2)) - (i64::from(y1) * 12 + i64::from(m1)) - 1;
        first.checked_add(last)?.checked_add(Decimal::from(between))?
    };
    let value = rate.checked_mul(months)?;
    let value = if yearly { value.checked_div(Decimal::from(12))? } else { value };
    Some(ops::round(value, 2, rounding.strategy()))
}

fn day_after(date: Date, span: Span) -> Res<Date> {
    shift(date, Some(Duration { months: 0, days: 1 }), span)
}

fn day_before(date: Date, span: Span) -> Res<Date> {
    date.sub(Duration { months: 0, days: 1 }).ok_or_else(|| date_error(span))
}

fn shift(date: Date, by: Option<Duration>, span: Span) -> Res<Date> {
    match by {
        None => Ok(date),
        Some(d) => date.add(d).ok_or_else(|| date_error(span)),
    }
}

fn date_error(span: Span) -> Box<EvalError> {
    Box::new(EvalError::new(code::DATE, "a due date falls outside the calendar", span).with_label(span, "this payment"))
}

fn too_large(span: Span) -> Box<EvalError> {
    Box::new(
        EvalError::new(code::OVERFLOW, "arithmetic overflow: this payment is too large to compute exactly", span)
            .with_label(span, "this payment"),
    )
}

/// Money as people write it: `£1,234.50`.
pub fn money(amount: Decimal) -> String {
    covenant_ir::value::display_number(amount, covenant_ir::NumTy::MONEY)
}
