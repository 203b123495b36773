//! Contracts and their payments.
//!
//! ```text
//! contract alliance "Mental health alliance agreement" {
//!   term 2015-04-01 to 2016-03-31
//!   period quarter_start to quarter_end
//!   party Council commissioner "Suffolk County Council"
//!   party Trust member "NHS trust"
//! }
//! clause "4.1" "Core payment"
//! payment core "Core payment" from Council to Trust block core_value paid monthly in advance
//! ```
//!
//! The parser has already made the parties an enum `Party` and given every declaration after
//! a clause heading that clause. Here the contract's term, roles and rounding are checked
//! (E0450, E0451, E0453), and each payment is resolved: who pays whom (a party or a split
//! over the parties, E0454), an amount whose kind suits its schedule (E0452), and typed
//! gates, trigger, cap and floor. A payment is also a `Money` decision whose body is
//! `NodeKind::Payment`: what it pays in the statement period.

use crate::elaborate::Body;
use crate::scope::{Context, Def, suggest};
use covenant_ir::{
    ContractDef, Date, EnumId, NodeId, NodeKind, NumKind, Owner, PartyRef, PaymentAmount, PaymentId, RoundMode,
    Schedule, Ty, Unit,
};
use covenant_source::{Diagnostic, Span};
use covenant_syntax::ast::{self, Expr, ExprKind, ItemKind, Lit, ScheduleDecl};

/// The roles a party can have.
pub const ROLES: &[&str] = &["commissioner", "provider", "member", "funder", "investor"];

impl Context<'_> {
    pub(crate) fn elaborate_contracts(&mut self) {
        self.elaborate_contract();
        for index in 0..self.payment_items.len() {
            self.elaborate_payment(index);
        }
    }

    fn elaborate_contract(&mut self) {
        let items = self.contract_items.clone();
        let Some(&at) = items.first() else { return };
        let ItemKind::Contract(c) = &self.item(at).kind else { return };
        for &other in &items[1..] {
            if let ItemKind::Contract(second) = &self.item(other).kind {
                self.diagnostics.push(
                    Diagnostic::error(
                        "E0450",
                        "a program states the payments of one contract",
                        second.name.span,
                        "a second contract",
                    )
                    .with_label(c.name.span, "the first contract")
                    .with_help("put each contract in its own file; they can import shared tables and decisions"),
                );
            }
        }
        let Some(Def::Enum(parties)) = self.lookup(at.0, "Party") else { return };
        if c.parties.is_empty() {
            self.diagnostics.push(
                Diagnostic::error("E0451", "the contract names no parties", c.name.span, "no `party` lines")
                    .with_help("add a line per party: `party Council commissioner \"Suffolk County Council\"`"),
            );
        }
        let mut roles = Vec::new();
        for party in &c.parties {
            if !ROLES.contains(&party.role.text.as_str()) {
                let mut d = Diagnostic::error(
                    "E0451",
                    format!("`{}` is not a role a party can have", party.role.text),
                    party.role.span,
                    "unknown role",
                )
                .with_note(format!("roles are {}", ROLES.join(", ")));
                let known: Vec<String> = ROLES.iter().map(|r| r.to_string()).collect();
                if let Some(s) = suggest(&party.role.text, &known) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.diagnostics.push(d);
            }
            roles.push(party.role.text.clone());
        }
        let term = match &c.term {
            Some((from, to)) => match (date_literal(from), date_literal(to)) {
                (Some(a), Some(b)) if a <= b => Some((a, b)),
                (Some(_), Some(_)) => {
                    self.diagnostics.push(
                        Diagnostic::error("E0453", "the term ends before it starts", to.span, "the last day")
                            .with_label(from.span, "the first day"),
                    );
                    None
                }
                (a, _) => {
                    let wrong = if a.is_none() { from } else { to };
                    self.diagnostics.push(
                        Diagnostic::error("E0453", "the term is given by two dates", wrong.span, "not a date")
                            .with_help("write the first and last day: `term 2015-04-01 to 2016-03-31`"),
                    );
                    None
                }
            },
            None => {
                self.diagnostics.push(
                    Diagnostic::error("E0453", "the contract has no term", c.name.span, "no `term` line")
                        .with_help("write the first and last day: `term 2015-04-01 to 2016-03-31`"),
                );
                None
            }
        };
        let rounding = match &c.rounding {
            None => Some(RoundMode::HalfUp),
            Some(mode) => {
                let found = RoundMode::from_name(&mode.text);
                if found.is_none() {
                    self.diagnostics.push(
                        Diagnostic::error("E0314", "unknown rounding mode", mode.span, "not a rounding mode")
                            .with_help("modes are half_up, half_even, down and up"),
                    );
                }
                found
            }
        };
        let mut body = Body {
            module: at.0,
            owner: Owner::Contract,
            locals: Vec::new(),
            next_local: 0,
            constant: false,
            decision: None,
        };
        let period = c.period.as_ref().map(|(from, to)| {
            (
                self.expect(&mut body, from, &Ty::Date, "the first day of the statement period"),
                self.expect(&mut body, to, &Ty::Date, "the last day of the statement period"),
            )
        });
        let (Some(term), Some(rounding)) = (term, rounding) else { return };
        let item = self.item(at);
        self.program.contract = Some(ContractDef {
            name: c.name.text.clone(),
            title: c.title.as_ref().map(|(t, _)| t.clone()),
            parties,
            roles,
            term,
            period,
            rounding,
            source: c.source.as_ref().map(|(s, _)| s.clone()),
            span: item.span,
            name_span: c.name.span,
        });
    }

    fn elaborate_payment(&mut self, index: usize) {
        let at = self.payment_items[index];
        let ItemKind::Payment(p) = &self.item(at).kind else { return };
        let decision = self.program.payments[index].decision;
        let mut body = Body {
            module: at.0,
            owner: Owner::Decision(decision),
            locals: Vec::new(),
            next_local: 0,
            constant: false,
            decision: Some(decision),
        };
        let node = self.push(&body, NodeKind::Payment(PaymentId(index as u32)), Ty::MONEY, p.name.span);
        self.program.decisions[decision.index()].body = node;
        let parties = match (&self.program.contract, self.contract_items.is_empty()) {
            (Some(c), _) => Some(c.parties),
            (None, true) => {
                self.diagnostics.push(
                    Diagnostic::error("E0450", "a payment belongs to a contract", p.name.span, "no contract declared")
                        .with_help("declare the contract, its term and its parties: `contract name \"Title\" { term … party … }`"),
                );
                None
            }
            // The contract itself was reported.
            (None, false) => None,
        };
        let payer = parties.and_then(|e| self.party_ref(body.module, &p.from, e));
        let payee = parties.and_then(|e| self.party_ref(body.module, &p.to, e));
        if let (Some(PartyRef::Party(a)), Some(PartyRef::Party(b))) = (payer, payee)
            && a == b
        {
            self.diagnostics.push(
                Diagnostic::error("E0454", "a party cannot pay itself", p.to.span, "the same party")
                    .with_label(p.from.span, "the payer"),
            );
        }
        if let (Some(PartyRef::Split(_)), Some(PartyRef::Split(_))) = (payer, payee) {
            self.diagnostics.push(
                Diagnostic::error("E0454", "only one side of a payment can be a split", p.to.span, "a second split")
                    .with_label(p.from.span, "a split")
                    .with_help("name one payer or one payee; write two payments if both sides are shared"),
            );
        }
        let amount = match &p.amount {
            None => {
                self.diagnostics.push(shape_error(
                    "the payment has no amount",
                    p.name.span,
                    "no `amount` or `block` line",
                    "write `amount …` for an amount for the statement period, or `block …` for a yearly or monthly value paid in instalments",
                ));
                None
            }
            Some(ast::PaymentAmount::Amount(e)) => {
                Some(PaymentAmount::Period(self.expect(&mut body, e, &Ty::MONEY, "a payment's amount")))
            }
            Some(ast::PaymentAmount::Block(e)) => {
                let (rate, ty) = self.expr(&mut body, e, None);
                match ty {
                    Ty::Num(n)
                        if n.kind == NumKind::Money
                            && n.unit.is_none()
                            && matches!(n.per, Some(Unit::Year | Unit::Month)) =>
                    {
                        Some(PaymentAmount::Block { rate, per: n.per.unwrap_or(Unit::Year) })
                    }
                    Ty::Error => None,
                    other => {
                        let found = self.program.type_name(&other);
                        self.diagnostics.push(shape_error(
                            &format!("a block payment is a value per year or per month, found {found}"),
                            e.span,
                            "not a yearly or monthly value",
                            "write the annual value, e.g. `block £296,000.00 per year`, or use `amount …` for an amount for the period",
                        ));
                        None
                    }
                }
            }
        };
        let block = matches!(amount, Some(PaymentAmount::Block { .. }));
        let schedule = match &p.schedule {
            None => {
                self.diagnostics.push(shape_error(
                    "the payment has no schedule",
                    p.name.span,
                    "no `paid` line",
                    "say when it is paid: `paid monthly in advance`, `paid quarterly in arrears`, `paid in arrears`, `paid at contract end` or `paid on DATE`",
                ));
                None
            }
            Some((decl, span)) => {
                let schedule = match decl {
                    ScheduleDecl::Monthly { in_advance } => Schedule::Monthly { in_advance: *in_advance },
                    ScheduleDecl::Quarterly { in_advance } => Schedule::Quarterly { in_advance: *in_advance },
                    ScheduleDecl::Once { in_advance } => Schedule::Once { in_advance: *in_advance },
                    ScheduleDecl::AtContractEnd => Schedule::AtContractEnd,
                    ScheduleDecl::On(date) => Schedule::On(self.expect(&mut body, date, &Ty::Date, "a due date")),
                };
                let instalments = matches!(schedule, Schedule::Monthly { .. } | Schedule::Quarterly { .. });
                if amount.is_some() && instalments != block {
                    let help = if block {
                        "a block value is paid in instalments: `paid monthly in advance` or `paid quarterly in arrears`"
                    } else {
                        "an amount for the period is paid once: `paid in advance`, `paid in arrears`, `paid at contract end` or `paid on DATE`; for instalments of a yearly value use `block`"
                    };
                    self.diagnostics.push(shape_error(
                        &format!("`paid {}` does not suit this amount", schedule.describe()),
                        *span,
                        if block { "paid once" } else { "paid in instalments" },
                        help,
                    ));
                }
                Some(schedule)
            }
        };
        let within = p.within.as_ref().map(|e| self.expect(&mut body, e, &Ty::Duration, "the time allowed to pay"));
        let gates = p
            .gates
            .iter()
            .map(|(label, _, e)| (label.clone(), self.expect(&mut body, e, &Ty::Bool, "a gate's condition")))
            .collect();
        let trigger = p.when.as_ref().map(|e| self.expect(&mut body, e, &Ty::Bool, "the trigger"));
        let mut limit = |what: &str, e: &Option<Expr>| {
            let e = e.as_ref()?;
            if block {
                self.diagnostics.push(shape_error(
                    &format!("a block payment has no {what}"),
                    e.span,
                    "on a block",
                    "a cap or a floor limits an amount for the period: use `amount …`",
                ));
            }
            Some(self.expect(&mut body, e, &Ty::MONEY, &format!("the payment's {what}")))
        };
        let cap = limit("cap", &p.cap);
        let floor = limit("floor", &p.floor);
        let of = p.of.as_ref().map(|e| self.expect(&mut body, e, &Ty::MONEY, "the most the payment can pay"));
        self.program.decisions[decision.index()].locals = body.next_local;
        let def = &mut self.program.payments[index];
        if let (Some(payer), Some(payee), Some(amount), Some(schedule)) = (payer, payee, amount, schedule) {
            def.payer = payer;
            def.payee = payee;
            def.amount = amount;
            def.schedule = schedule;
        }
        def.within = within;
        def.gates = gates;
        def.trigger = trigger;
        def.cap = cap;
        def.floor = floor;
        def.of = of;
    }

    /// `paid_to(payment, party)` / `paid_by(payment, party)`: what the party receives from,
    /// or pays under, the payment in the statement period.
    pub(crate) fn payment_part(&mut self, body: &mut Body, receiving: bool, args: &[Expr], span: Span) -> (NodeId, Ty) {
        let what = if receiving { "paid_to" } else { "paid_by" };
        if body.constant {
            return self.not_constant(body, span, "a payment");
        }
        let payment = match &args[0].kind {
            ExprKind::Name(n) => match self.lookup(body.module, &n.text) {
                Some(Def::Decision(d)) => self.program.payments.iter().position(|p| p.decision == d),
                _ => None,
            },
            _ => None,
        };
        let Some(index) = payment else {
            self.diagnostics.push(
                Diagnostic::error(
                    "E0306",
                    format!("the first argument of `{what}` must name a payment"),
                    args[0].span,
                    "not a payment",
                )
                .with_help(format!("write `{what}(payment, party)`, e.g. `{what}(gain_share, Trust)`")),
            );
            return self.poison(body, span);
        };
        // A payment without a contract has had its E0450 already.
        let Some(parties) = self.program.contract.as_ref().map(|c| c.parties) else {
            return self.poison(body, span);
        };
        let decision = self.program.payments[index].decision;
        self.note_call(body, decision, args[0].span);
        let party = self.expect(body, &args[1], &Ty::Enum(parties), "the party");
        let kind = NodeKind::PaymentPart { id: PaymentId(index as u32), party, receiving };
        (self.push(body, kind, Ty::MONEY, span), Ty::MONEY)
    }

    /// `term_start()` and the like: a date of the program's contract.
    pub(crate) fn contract_date(
        &mut self,
        body: &mut Body,
        which: covenant_ir::ContractDate,
        span: Span,
    ) -> (NodeId, Ty) {
        if self.contract_items.is_empty() {
            self.diagnostics.push(
                Diagnostic::error(
                    "E0450",
                    format!("`{}()` reads the contract, but there is none", which.name()),
                    span,
                    "no contract",
                )
                .with_help(
                    "declare the contract, its term and its parties: `contract name \"Title\" { term … party … }`",
                ),
            );
            return self.poison(body, span);
        }
        let reads_inputs =
            matches!(which, covenant_ir::ContractDate::PeriodStart | covenant_ir::ContractDate::PeriodEnd);
        if body.constant && reads_inputs {
            return self.not_constant(body, span, "the statement period");
        }
        (self.push(body, NodeKind::ContractDate(which), Ty::Date, span), Ty::Date)
    }

    /// A payer or payee: a party of the contract, or a split over the parties.
    fn party_ref(&mut self, module: usize, name: &ast::Name, parties: EnumId) -> Option<PartyRef> {
        if let Some(Def::Split(id)) = self.lookup(module, &name.text) {
            if self.program.splits[id.index()].over != parties {
                self.diagnostics.push(
                    Diagnostic::error(
                        "E0454",
                        format!("split `{}` is not over the contract's parties", name.text),
                        name.span,
                        "shares between something else",
                    )
                    .with_help("write the split `over Party`, the enum of the contract's parties"),
                );
                return None;
            }
            return Some(PartyRef::Split(id));
        }
        let def = self.program.enum_def(parties);
        if let Some(i) = def.variants.iter().position(|v| v.name == name.text) {
            return Some(PartyRef::Party(i as u32));
        }
        let names: Vec<String> = def.variants.iter().map(|v| v.name.clone()).collect();
        let mut d = Diagnostic::error(
            "E0454",
            format!("`{}` is not a party to the contract", name.text),
            name.span,
            "not a party",
        )
        .with_note(format!("the parties are {}", names.join(", ")));
        if let Some(s) = suggest(&name.text, &names) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        self.diagnostics.push(d);
        None
    }
}

fn shape_error(message: &str, span: Span, label: &str, help: &str) -> Diagnostic {
    Diagnostic::error("E0452", message.to_string(), span, label.to_string()).with_help(help.to_string())
}

fn date_literal(e: &Expr) -> Option<Date> {
    match &e.kind {
        ExprKind::Lit(Lit::Date(text)) => Date::parse(text),
        _ => None,
    }
}
