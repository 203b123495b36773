//! The terminal layout: the answer first, then the reasons as a box-drawn tree.
//!
//! Each line is a step: what it computed and its value, and (in a column aligned across the
//! explanation) where it came from as `file:line`, or `:line` in the file of the answer. The
//! tree keeps to what a reader needs: aggregations list the elements that contributed and
//! summarise the rest, and a memoised decision is expanded once and then referred to.

use super::{Ctx, collapse, let_name, shorten};
use covenant_eval::{Arg, Branch, Name, Operand, Step, StepKind};
use covenant_ir::{AggOp, BinOp, DecisionDef, NumKind, RoundMode, Span, Ty, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Elements of an aggregation shown one by one before the rest are counted.
const MAX_ITEMS: usize = 20;
/// Lines wider than this do not push the location column further right.
const MAX_ALIGN: usize = 80;

pub(super) fn render(ctx: &Ctx<'_>, root: &Step) -> String {
    render_all(ctx, std::slice::from_ref(root)).pop().unwrap_or_default()
}

/// Renders the explanations of one evaluation (the decisions of a batch row) to be read one
/// after another: a decision expanded in one is referred to in the later ones. A repeat whose
/// steps were recorded only where it was first computed, out of sight (among an
/// aggregation's elements counted, not shown), is expanded where it is met instead.
pub(super) fn render_all(ctx: &Ctx<'_>, roots: &[Step]) -> Vec<String> {
    let mut expansions = BTreeMap::new();
    for root in roots {
        index_expansions(root, &mut expansions);
    }
    let mut shown = BTreeSet::new();
    let mut texts = Vec::with_capacity(roots.len());
    for root in roots {
        let out = Out {
            ctx,
            lines: Vec::new(),
            root_file: ctx.file(root.span).map(|_| root.span.file),
            shown: std::mem::take(&mut shown),
            cited: Vec::new(),
            expansions: &expansions,
        };
        let (text, seen) = render_one(out, root);
        shown = seen;
        texts.push(text);
    }
    texts
}

/// The first step, in document order, that shows each decision's own steps.
fn index_expansions<'s>(step: &'s Step, into: &mut BTreeMap<String, &'s Step>) {
    if let StepKind::Decision { name, args, .. } = &step.kind
        && !step.children.is_empty()
    {
        into.entry(repeat_key(name, args)).or_insert(step);
    }
    for child in &step.children {
        index_expansions(child, into);
    }
}

fn render_one(mut out: Out<'_, '_, '_>, root: &Step) -> (String, BTreeSet<String>) {
    let ctx = out.ctx;
    let headline = if root.is_failure() {
        format!("{}: no answer, the evaluation failed", root.label)
    } else {
        out.text(root, false, None)
    };
    let location = ctx.locate(root.span).map(|l| format!("{}:{}", l.file.name, l.line));
    out.lines.push(Line { prefix: String::new(), text: headline, location });
    let bar = if root.children.is_empty() { "  " } else { "│ " };
    let def = root_decision(ctx, root);
    if let Some(clause) = def.and_then(|d| d.clause.as_deref()) {
        out.lines.push(Line { prefix: bar.into(), text: format!("clause {clause}"), location: None });
    }
    if let Some(doc) = def.and_then(|d| d.doc.as_deref()).and_then(first_paragraph) {
        out.lines.push(Line { prefix: bar.into(), text: doc, location: None });
    }
    if let Some(excerpt) = declaration(ctx, root, def) {
        out.lines.push(Line { prefix: bar.into(), text: excerpt, location: None });
    }
    out.remember(root);
    out.children(root, "");
    let shown = std::mem::take(&mut out.shown);
    (out.finish(), shown)
}

/// The declaration of the decision explained (also when it failed).
fn root_decision<'p>(ctx: &Ctx<'p>, root: &Step) -> Option<&'p DecisionDef> {
    match &root.kind {
        StepKind::Decision { qualified, .. } => ctx.program.decisions.iter().find(|d| *d.qualified == **qualified),
        StepKind::Unfinished | StepKind::Failed { .. } => {
            ctx.program.decisions.iter().find(|d| d.name_span == root.span)
        }
        _ => None,
    }
}

/// The declaration on one line: its source from the start of the line of its name (so
/// without its doc comment) to its end (for a decision written as rules, to its first rule), comments dropped, whitespace collapsed, shortened
/// to 120 characters; or else the line of its name.
fn declaration(ctx: &Ctx<'_>, root: &Step, def: Option<&DecisionDef>) -> Option<String> {
    let whole = def.and_then(|d| {
        let file = ctx.file(d.name_span)?;
        let start = file.text.get(..d.name_span.start as usize)?.rfind('\n').map_or(0, |i| i + 1);
        // A decision written as rules shows its signature only: the rules are the tree below.
        let end = match ctx.program.nodes.get(d.body.index()) {
            Some(body) if matches!(body.kind, covenant_ir::NodeKind::Rules { .. }) => body.origin.span.start,
            _ => d.span.end.max(d.name_span.end),
        };
        let span = Span { start: u32::try_from(start).ok()?, end, ..d.name_span };
        ctx.brief(span, 120)
    });
    whole.or_else(|| ctx.excerpt(root.span))
}

/// The first paragraph of a doc comment, on one line.
fn first_paragraph(doc: &str) -> Option<String> {
    let paragraph = doc.trim().split("\n\n").next()?;
    let text = collapse(paragraph);
    (!text.is_empty()).then(|| shorten(&text, 120))
}

struct Line {
    prefix: String,
    text: String,
    location: Option<String>,
}

struct Out<'a, 'c, 's> {
    ctx: &'a Ctx<'c>,
    /// Where each decision's own steps were recorded (see [`render_all`]).
    expansions: &'a BTreeMap<String, &'s Step>,
    lines: Vec<Line>,
    root_file: Option<covenant_ir::FileId>,
    /// Decisions already expanded: parameterless ones by name, others by name and exact
    /// arguments (ordered, never hashed).
    shown: BTreeSet<String>,
    /// Tables whose `source` citation has been shown.
    cited: Vec<Name>,
}

enum Entry<'s> {
    Step(&'s Step, Option<AggOp>),
    Note(String),
}

impl<'x> Out<'_, '_, 'x> {
    fn finish(self) -> String {
        let width = |l: &Line| l.prefix.chars().count() + l.text.chars().count();
        let column = self
            .lines
            .iter()
            .filter(|l| l.location.is_some())
            .map(width)
            .filter(|w| *w <= MAX_ALIGN)
            .max()
            .unwrap_or(0)
            + 3;
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(&line.prefix);
            text.push_str(&line.text);
            if let Some(location) = &line.location {
                let pad = column.saturating_sub(width(line)).max(3);
                text.extend(std::iter::repeat_n(' ', pad));
                text.push_str(location);
            }
            text.push('\n');
        }
        text
    }

    fn remember(&mut self, step: &Step) {
        if let StepKind::Decision { name, args, .. } = &step.kind
            && (args.is_empty() || !step.children.is_empty())
        {
            self.shown.insert(repeat_key(name, args));
        }
    }

    /// The steps recorded elsewhere for a memoised decision shown here without any, when
    /// they have not been shown yet.
    fn expansion(&self, step: &Step) -> Option<&'x Step> {
        match &step.kind {
            StepKind::Decision { name, args, memoised: true, .. } if step.children.is_empty() => {
                self.expansions.get(&repeat_key(name, args)).copied()
            }
            _ => None,
        }
    }

    /// A memoised decision already expanded above (with the same arguments) is shown as one
    /// line.
    fn is_repeat(&self, step: &Step) -> bool {
        matches!(&step.kind, StepKind::Decision { name, args, memoised: true, .. }
            if (args.is_empty() || step.children.is_empty()) && self.shown.contains(&repeat_key(name, args)))
    }

    fn children(&mut self, parent: &Step, indent: &str) {
        let entries = self.entries(parent);
        let count = entries.len();
        for (i, entry) in entries.into_iter().enumerate() {
            let last = i + 1 == count;
            let branch = format!("{indent}{}", if last { "└─ " } else { "├─ " });
            let cont = format!("{indent}{}", if last { "   " } else { "│  " });
            match entry {
                Entry::Step(step, op) => {
                    let repeat = self.is_repeat(step);
                    let text = self.text(step, repeat, op);
                    let location = self.location(step);
                    self.lines.push(Line { prefix: branch, text, location });
                    if let Some(citation) = self.citation(step) {
                        let bar = if step.children.is_empty() || repeat { "  " } else { "│ " };
                        self.lines.push(Line { prefix: format!("{cont}{bar}"), text: citation, location: None });
                    }
                    if !repeat {
                        self.remember(step);
                        let expanded = self.expansion(step).unwrap_or(step);
                        self.remember(expanded);
                        self.children(expanded, &cont);
                    }
                }
                Entry::Note(text) => self.lines.push(Line { prefix: branch, text, location: None }),
            }
        }
    }

    /// What is shown under a step: its children, with `is not` fused, `and`/`or` chains
    /// flattened and aggregations summarised.
    fn entries<'s>(&self, step: &'s Step) -> Vec<Entry<'s>> {
        if let Some(inner) = fused(step) {
            return self.entries(inner);
        }
        match &step.kind {
            StepKind::Aggregate { op, .. } => self.aggregate_entries(*op, &step.children),
            StepKind::Split { name, parts, remainder_to, .. } => {
                let mut entries: Vec<Entry<'s>> = step.children.iter().map(|c| Entry::Step(c, None)).collect();
                if let Some(split) = self.ctx.program.splits.iter().find(|s| &s.name == name)
                    && let Some(clause) = split.clause.as_deref()
                {
                    entries.insert(0, Entry::Note(format!("clause {clause}")));
                }
                for (party, share, amount) in parts {
                    let who = self.party_name(step, *party);
                    let share = self.ctx.display(&Value::Num(*share), &covenant_ir::Ty::PERCENT);
                    let amount = self.ctx.display(&Value::Num(*amount), &step.ty);
                    let remainder = if party == remainder_to { "  (takes the rounding remainder)" } else { "" };
                    entries.push(Entry::Note(format!("{who} {share} → {amount}{remainder}")));
                }
                entries
            }
            StepKind::Logic { op, .. } if &**op != "not" => {
                let mut conditions = Vec::new();
                chain(step, op, &mut conditions);
                conditions.into_iter().map(|c| Entry::Step(c, None)).collect()
            }
            _ => step.children.iter().map(|c| Entry::Step(c, None)).collect(),
        }
    }

    /// The children of an aggregation: the steps that produced the list, then the elements
    /// that matter one by one, then one line each for elements contributing nothing and
    /// elements left out by the filter.
    fn aggregate_entries<'s>(&self, op: AggOp, children: &'s [Step]) -> Vec<Entry<'s>> {
        let mut entries = Vec::new();
        let (mut shown, mut hidden) = (0, 0);
        let (mut zero, mut left_out): (Vec<&Step>, Vec<&Step>) = (Vec::new(), Vec::new());
        for child in children {
            let StepKind::Item { kept, .. } = &child.kind else {
                entries.push(Entry::Step(child, None));
                continue;
            };
            if child.is_failure() {
                entries.push(Entry::Step(child, Some(op)));
            } else if !kept {
                left_out.push(child);
            } else if op == AggOp::Sum && matches!(&child.value, Some(Value::Num(n)) if n.is_zero()) {
                zero.push(child);
            } else if shown < MAX_ITEMS {
                shown += 1;
                entries.push(Entry::Step(child, Some(op)));
            } else {
                hidden += 1;
            }
        }
        // When no element contributed, the elements that did not are the explanation.
        if shown == 0 && hidden == 0 {
            let mut rest: Vec<&Step> = zero.drain(..).chain(left_out.drain(..)).collect();
            rest.sort_by_key(|s| match s.kind {
                StepKind::Item { index, .. } => index,
                _ => 0,
            });
            for child in rest {
                if shown < MAX_ITEMS {
                    shown += 1;
                    entries.push(Entry::Step(child, Some(op)));
                } else {
                    hidden += 1;
                }
            }
        }
        if hidden > 0 {
            entries.push(Entry::Note(format!("… and {hidden} more (the JSON explanation lists every element)")));
        }
        if !zero.is_empty() {
            let numbers = item_numbers(&zero);
            entries.push(Entry::Note(match numbers.len() {
                1 => format!("item {} contributes 0", numbers[0]),
                n => format!("{n} other items contribute 0: {}", index_list(&numbers)),
            }));
        }
        if !left_out.is_empty() {
            let numbers = item_numbers(&left_out);
            entries.push(Entry::Note(match numbers.len() {
                1 => format!("item {} is left out by the filter", numbers[0]),
                n => format!("{n} items are left out by the filter: {}", index_list(&numbers)),
            }));
        }
        entries
    }

    /// A split's party by name (the variants of the split's enum).
    fn party_name(&self, step: &Step, party: u32) -> String {
        let StepKind::Split { name, .. } = &step.kind else { return format!("#{party}") };
        let program = self.ctx.program;
        program
            .splits
            .iter()
            .find(|s| &s.name == name)
            .and_then(|s| program.enums.get(s.over.0 as usize))
            .map_or(format!("#{party}"), |e| e.variant_name(party).to_string())
    }

    /// The `source` of a table, the first time one of its rows is shown.
    fn citation(&mut self, step: &Step) -> Option<String> {
        let StepKind::Table { qualified, row: Some(_), .. } = &step.kind else { return None };
        if self.cited.contains(qualified) {
            return None;
        }
        let table = self.ctx.program.tables.iter().find(|t| *t.qualified == **qualified)?;
        let cited = match (table.clause.as_deref(), table.source.as_deref()) {
            (None, None) => return None,
            (Some(c), None) => format!("clause {c}"),
            (None, Some(s)) => format!("source: {}", shorten(&collapse(s), 120)),
            (Some(c), Some(s)) => format!("clause {c}; source: {}", shorten(&collapse(s), 100)),
        };
        self.cited.push(qualified.clone());
        Some(cited)
    }

    fn location(&self, step: &Step) -> Option<String> {
        let span = match &step.kind {
            StepKind::Item { .. } | StepKind::Value => return None,
            StepKind::Table { row_span: Some(row), .. } => *row,
            _ => step.span,
        };
        let loc = self.ctx.locate(span)?;
        Some(if Some(span.file) == self.root_file {
            format!(":{}", loc.line)
        } else {
            format!("{}:{}", loc.file.name, loc.line)
        })
    }

    fn value(&self, step: &Step) -> String {
        step.value.as_ref().map_or_else(|| "?".to_string(), |v| self.shown(v, &step.ty, 80))
    }

    /// A value as the program writes it, shortened to about `max` characters: a long list
    /// keeps its first elements and says how many there are.
    fn shown(&self, value: &Value, ty: &Ty, max: usize) -> String {
        let full = self.ctx.display(value, ty);
        if full.chars().count() <= max {
            return full;
        }
        let (Value::List(items), Ty::List(elem)) = (value, ty) else { return shorten(&full, max) };
        let mut text = String::from("[");
        for (i, item) in items.iter().enumerate() {
            let part = self.ctx.display(item, elem);
            if i > 0 && text.chars().count() + part.chars().count() > max.saturating_sub(16) {
                break;
            }
            if i > 0 {
                text.push_str(", ");
            }
            text.push_str(&shorten(&part, max.saturating_sub(16)));
        }
        format!("{text}, …] ({} items)", items.len())
    }

    /// The source of an operand when it says more than its value (`person.age`, not `65`).
    fn subject(&self, operand: &Operand) -> Option<String> {
        let source = self.ctx.snippet(operand.span)?;
        (source != self.ctx.display(&operand.value, &operand.ty)).then_some(source)
    }

    /// The step's expression as written, on one line and at most 60 characters.
    fn src(&self, step: &Step) -> Option<String> {
        self.ctx.brief(step.span, 60)
    }

    fn text(&self, step: &Step, repeat: bool, op: Option<AggOp>) -> String {
        let v = self.value(step);
        match &step.kind {
            StepKind::Decision { name, args, .. } => {
                let args = if args.is_empty() { String::new() } else { format!("({})", self.args(args, ": ")) };
                let note = if repeat { "  (computed once, shown above)" } else { "" };
                format!("{name}{args} = {v}{note}")
            }
            StepKind::Input { path, .. } => format!("input {path} = {v}"),
            StepKind::Param { path, .. } => format!("param {path} = {v}"),
            StepKind::Table { name, keys, row, row_span, .. } => {
                let call = format!("{name}({})", self.args(keys, " = "));
                let Some(row) = row else {
                    return format!("{call}: no row of the table matches, so no value");
                };
                let excerpt = row_span.and_then(|s| self.ctx.excerpt(s)).map_or(String::new(), |e| format!(": {e}"));
                match &step.value {
                    Some(Value::None(_)) => format!("{call}: no value, table row {}{excerpt}", row + 1),
                    _ => format!("{call} = {v}, table row {}{excerpt}", row + 1),
                }
            }
            StepKind::Split { name, total, parts, party, .. } => {
                let who = self.party_name(step, *party);
                let total_shown = self.ctx.display(&Value::Num(*total), &step.ty);
                let sum = parts.iter().try_fold(rust_decimal::Decimal::ZERO, |acc, (_, _, a)| acc.checked_add(*a));
                let conserved = if sum == Some(*total) { "conserved" } else { "NOT conserved" };
                format!(
                    "{name}: {who}'s part = {v}: {total_shown} split {} ways, parts sum to {total_shown} ({conserved})",
                    parts.len()
                )
            }
            StepKind::Version { name, valid, date } => {
                format!("{name} = {v}: the version valid {valid}, chosen by the date {date}")
            }
            StepKind::Payment(outcome) => {
                let def = self.ctx.program.payments.get(outcome.payment.index());
                let schedule = def.map_or("", |p| p.schedule.describe());
                let name = def.map_or("?", |p| p.name.as_str());
                // A party's part (`paid_to`, `paid_by`) shows the call, then the whole payment.
                let part = step.node.and_then(|n| self.ctx.program.nodes.get(n.index()));
                let head = match part.map(|n| &n.kind) {
                    Some(covenant_ir::NodeKind::PaymentPart { .. }) => {
                        let total = self.ctx.display(&Value::Num(outcome.total), &step.ty);
                        let call = self.src(step).unwrap_or_else(|| step.label.to_string());
                        format!("{call} = {v}, of payment {name} = {total}")
                    }
                    _ => format!("payment {name} = {v}"),
                };
                if let Some(reason) = super::statement::why_not(&outcome.status) {
                    return format!("{head}: {reason}");
                }
                if let Some((would, _)) = super::statement::shadow(&outcome.status) {
                    let would = self.ctx.display(&Value::Num(would), &step.ty);
                    return format!("{head}: a shadow payment, no money moves: it would pay {would}, {schedule}");
                }
                let mut slots: Vec<_> = outcome.instalments.iter().map(|i| (i.from, i.to)).collect();
                slots.dedup();
                let lines = &outcome.instalments;
                let mut text = format!("{head}: paid {schedule}");
                if !outcome.adjustments.is_empty() {
                    text.push_str(&format!(" ({})", outcome.adjustments.join("; ")));
                }
                if slots.len() == 1 && lines.len() > 1 && lines.len() <= 6 {
                    let parts: Vec<String> = lines
                        .iter()
                        .map(|i| {
                            let amount = self.ctx.display(&Value::Num(i.amount), &step.ty);
                            format!("{} {amount}", super::statement::line_parties(self.ctx, i))
                        })
                        .collect();
                    text.push_str(&format!(": {}", parts.join(", ")));
                } else if lines.len() > 1 {
                    text.push_str(&format!(
                        ", {} instalment(s) in {} payments between the parties",
                        slots.len(),
                        lines.len()
                    ));
                }
                text
            }
            StepKind::Rules { applied, .. } => match applied {
                Some(label) => format!("rule \"{label}\" applies: {v}"),
                None => format!("no rule applies, so the default: {v}"),
            },
            StepKind::Rule { label, applied, exception_to, overridden_by } => {
                let what = match exception_to {
                    Some(parent) => format!("exception \"{label}\" (to \"{parent}\")"),
                    None => format!("rule \"{label}\""),
                };
                match (applied, overridden_by) {
                    (true, Some(by)) => format!("{what}: overridden by exception \"{by}\" = {v}"),
                    (true, None) => format!("{what} applies = {v}"),
                    (false, _) => format!("{what} does not apply"),
                }
            }
            StepKind::If { condition, branch } => {
                let branch = match branch {
                    Branch::Then => "then",
                    Branch::Else => "else",
                };
                format!("if (condition {condition}) → {branch} branch = {v}")
            }
            StepKind::Match { scrutinee, arm, arm_span } => {
                let on = self.subject(scrutinee).map_or(String::new(), |s| format!("{s} = "));
                let arm_text = self
                    .ctx
                    .snippet(*arm_span)
                    .or_else(|| self.ctx.excerpt(*arm_span))
                    .map_or(String::new(), |t| format!(" ({t})"));
                let scrutinee = self.shown(&scrutinee.value, &scrutinee.ty, 40);
                format!("match on {on}{scrutinee} → arm {}{arm_text} = {v}", arm + 1)
            }
            StepKind::Compare { op, left, right } => self.compare(step, *op, left, right),
            StepKind::Logic { op, .. } => {
                let what = self.src(step).unwrap_or_else(|| op.to_string());
                if let Some(inner) = fused(step) {
                    return match self.fact(inner) {
                        Some(fact) => format!("{what} → {v}  ({fact})"),
                        None => format!("{what} → {v}"),
                    };
                }
                if &**op == "not" {
                    return format!("{what} → {v}");
                }
                let mut conditions = Vec::new();
                let stopped = chain(step, op, &mut conditions);
                let n = conditions.len();
                let rest = if stopped { ", so the rest are not needed" } else { "" };
                let why = match (&**op, &step.value) {
                    ("and", Some(Value::Bool(false))) => format!("condition {n} is false{rest}"),
                    ("or", Some(Value::Bool(true))) => format!("condition {n} holds{rest}"),
                    ("and", _) => format!("all {n} conditions hold"),
                    _ => format!("none of the {n} conditions holds"),
                };
                format!("{what} → {v}  ({why})")
            }
            StepKind::Arithmetic { op, operands } => {
                let sum = match operands.as_slice() {
                    [x] => format!("{op}{}", self.shown(&x.value, &x.ty, 40)),
                    [l, r] => {
                        format!("{} {op} {}", self.shown(&l.value, &l.ty, 40), self.shown(&r.value, &r.ty, 40))
                    }
                    _ => String::new(),
                };
                match self.src(step) {
                    Some(src) if src != sum => format!("{src} = {v}  ({sum})"),
                    _ => format!("{sum} = {v}"),
                }
            }
            StepKind::Round { before, places, mode } => {
                let before = self.ctx.display(before, &step.ty);
                format!("rounded {} {}: {before} → {v}", mode_words(*mode), places_words(*places, &step.ty))
            }
            StepKind::Aggregate { op, items, examined, kept } => {
                let mut facts = vec![plural(*items, "item")];
                if kept != examined && !matches!(op, AggOp::All | AggOp::Any) {
                    facts.push(format!("{kept} kept by the filter"));
                }
                if examined < items {
                    facts.push(format!("decided at item {examined}"));
                }
                let what = self.src(step).unwrap_or_else(|| op.name().to_string());
                format!("{what} = {v}  ({})", facts.join(", "))
            }
            StepKind::Item { index, element, kept } => {
                let head = match element {
                    Some(e) => format!("item {}: {} → ", index + 1, self.shown(&e.value, &e.ty, 60)),
                    None => format!("item {}: ", index + 1),
                };
                match (kept, op) {
                    (false, _) => match element {
                        Some(e) => {
                            format!("item {}: {} left out by the filter", index + 1, self.shown(&e.value, &e.ty, 60))
                        }
                        None => format!("item {}: left out by the filter", index + 1),
                    },
                    (true, Some(AggOp::Count)) => {
                        let shown = element.as_ref().map_or_else(
                            || step.value.as_ref().map_or_else(String::new, |x| self.shown(x, &step.ty, 60)),
                            |e| self.shown(&e.value, &e.ty, 60),
                        );
                        format!("item {}: {shown} (counted)", index + 1)
                    }
                    _ => format!("{head}{v}"),
                }
            }
            StepKind::Let => {
                let name = self.ctx.source(step.span).and_then(let_name).unwrap_or("let");
                format!("let {name} = {v}")
            }
            StepKind::Otherwise { used_fallback, reason } => {
                let what = self.src(step).unwrap_or_else(|| "otherwise".into());
                match (used_fallback, reason) {
                    (true, Some(reason)) => format!("{what} = {v}  (the fallback: no value, {reason})"),
                    _ => format!("{what} = {v}"),
                }
            }
            StepKind::IsNone { reason } => {
                let what = self.src(step).unwrap_or_else(|| "is none".into());
                match reason {
                    Some(reason) => format!("{what} → {v}  (no value: {reason})"),
                    None => format!("{what} → {v}  (it has a value)"),
                }
            }
            StepKind::InSet { value, variants } => {
                let what = self.src(step).unwrap_or_else(|| format!("in {{{}}}", variants.join(", ")));
                let subject = self.subject(value).unwrap_or_else(|| "the value".into());
                let actual = self.shown(&value.value, &value.ty, 40);
                match &step.value {
                    Some(Value::Bool(true)) => format!("{what} → true  ({subject} is {actual})"),
                    _ => format!("{what} → false: {subject} is {actual}, not {}", or_list(variants)),
                }
            }
            StepKind::Field { name } => format!("{} = {v}", self.src(step).unwrap_or_else(|| format!(".{name}"))),
            StepKind::Builtin { name, args } => {
                let args: Vec<String> = args.iter().map(|a| self.shown(&a.value, &a.ty, 40)).collect();
                format!("{name}({}) = {v}", args.join(", "))
            }
            StepKind::Value => format!("{} = {v}", self.src(step).unwrap_or_else(|| "value".into())),
            StepKind::Failed { code, message } => {
                let what = self.src(step).unwrap_or_else(|| step.label.to_string());
                format!("✗ {what}: error {code}: {message}")
            }
            StepKind::Unfinished => format!("{}: not finished, because of the error below", step.label),
        }
    }

    /// What a test found, in neutral words (for `x is not …`, where the sense is reversed).
    fn fact(&self, step: &Step) -> Option<String> {
        match &step.kind {
            StepKind::IsNone { reason: Some(reason) } => Some(format!("no value: {reason}")),
            StepKind::IsNone { reason: None } => Some("it has a value".into()),
            StepKind::Compare { left, .. } | StepKind::InSet { value: left, .. } => {
                let l = self.shown(&left.value, &left.ty, 40);
                Some(self.subject(left).map_or(l.clone(), |s| format!("{s} is {l}")))
            }
            _ => None,
        }
    }

    fn args(&self, args: &[Arg], sep: &str) -> String {
        let parts: Vec<String> =
            args.iter().map(|a| format!("{}{sep}{}", a.name, self.shown(&a.value, &a.ty, 40))).collect();
        parts.join(", ")
    }

    /// A comparison with both sides, and for a false one, why not.
    fn compare(&self, step: &Step, op: BinOp, left: &Operand, right: &Operand) -> String {
        let l = self.shown(&left.value, &left.ty, 40);
        let r = self.shown(&right.value, &right.ty, 40);
        let what = self.src(step).unwrap_or_else(|| format!("{l} {} {r}", op.symbol()));
        if matches!(step.value, Some(Value::Bool(true))) {
            return format!("{what} → true  ({l} {} {r})", op.symbol());
        }
        if !matches!(step.value, Some(Value::Bool(false))) {
            return format!("{what} → {}", self.value(step));
        }
        let words = match op {
            BinOp::Lt => "not less than",
            BinOp::Le => "more than",
            BinOp::Gt => "not more than",
            _ => "less than",
        };
        let why = match (op, self.subject(left)) {
            (BinOp::Eq, Some(s)) => format!("{s} is {l}, not {r}"),
            (BinOp::Eq, None) => format!("{l} is not {r}"),
            (BinOp::Ne, _) => format!("both sides are {l}"),
            (_, Some(s)) => format!("{s} is {l}, {words} {r}"),
            (_, None) => format!("{l} is {words} {r}"),
        };
        format!("{what} → false: {why}")
    }
}

/// `x is not none`, `x is not A`: a `not` over a test of the same expression, shown as one line.
fn fused(step: &Step) -> Option<&Step> {
    match (&step.kind, step.children.as_slice()) {
        (StepKind::Logic { op, .. }, [inner])
            if &**op == "not"
                && inner.span == step.span
                && matches!(
                    inner.kind,
                    StepKind::IsNone { .. } | StepKind::Compare { .. } | StepKind::InSet { .. }
                ) =>
        {
            Some(inner)
        }
        _ => None,
    }
}

/// The conditions of an `and` or `or` chain, with nested steps of the same operator
/// flattened; returns whether evaluation stopped before the end of the chain.
fn chain<'s>(step: &'s Step, op: &str, out: &mut Vec<&'s Step>) -> bool {
    let mut stopped = matches!(step.kind, StepKind::Logic { short_circuit: true, .. });
    for child in &step.children {
        match &child.kind {
            StepKind::Logic { op: inner, .. } if &**inner == op => stopped |= chain(child, op, out),
            _ => out.push(child),
        }
    }
    stopped
}

fn mode_words(mode: RoundMode) -> &'static str {
    match mode {
        RoundMode::HalfUp => "half-up",
        RoundMode::HalfEven => "half-even",
        RoundMode::Down => "down (toward zero)",
        RoundMode::Up => "up (away from zero)",
    }
}

fn places_words(places: u32, ty: &Ty) -> String {
    let money = matches!(ty, Ty::Num(n) if n.kind == NumKind::Money);
    match (money, places) {
        (true, 2) => "to pence".into(),
        (true, 0) => "to whole pounds".into(),
        (_, 0) => "to a whole number".into(),
        (_, 1) => "to 1 decimal place".into(),
        (_, n) => format!("to {n} decimal places"),
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// `A`, `A or B`, `A, B or C`.
fn or_list(names: &[String]) -> String {
    match names {
        [] => "any of no variants".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The 1-based numbers of aggregation items.
fn item_numbers(items: &[&Step]) -> Vec<usize> {
    items
        .iter()
        .filter_map(|s| match s.kind {
            StepKind::Item { index, .. } => Some(index + 1),
            _ => None,
        })
        .collect()
}

/// `items 2, 5 and 9`, shortened after ten.
fn index_list(indices: &[usize]) -> String {
    let shown: Vec<String> = indices.iter().take(10).map(usize::to_string).collect();
    let mut text = match shown.as_slice() {
        [init @ .., last] if !init.is_empty() && indices.len() <= 10 => format!("items {} and {last}", init.join(", ")),
        _ => format!("items {}", shown.join(", ")),
    };
    if indices.len() > 10 {
        text.push_str(&format!(" and {} more", indices.len() - 10));
    }
    text
}

/// What identifies a decision's expansion: its name, and its exact argument values.
fn repeat_key(name: &str, args: &[Arg]) -> String {
    if args.is_empty() {
        return name.to_string();
    }
    let values: Vec<&Value> = args.iter().map(|a| &a.value).collect();
    format!("{name}{values:?}")
}
