//! Calls kept from row to row with the steps a tracer wrote for them, so that a later row
//! making the same call has its steps written again instead of evaluated again.
//!
//! A cohort calls the same small decisions on the same arguments over and over (an item's
//! points for its rating, a band for a score). A decision that depends on its arguments
//! alone ([`keepable`]: no input, param, dated version, contract value or parameterless
//! decision anywhere below it) gives the same value and the same steps for the same
//! arguments in every row, as long as the row's memo treats the calls inside it the same
//! way. So a tracer that writes steps as text ([`Tracer::kept_calls`]) keeps, for such a
//! call, its value, the text of its steps ([`Stretch`]) and the calls with parameters made
//! inside it; a later row with arguments identical all the way down has the text written
//! again and the inner calls put in its memo, exactly as evaluating it would have. An
//! aggregation's filter or body that reads no local but the element (and nothing else a
//! keepable decision could not) is kept the same way for each element.
//!
//! What is checked, so that the steps written are always those evaluation would write:
//! - when a stretch is kept: it succeeded, the memo never ran out of room, and no value it
//!   gives or keeps holds a record or list (whose identity the memo compares); the calls it
//!   took from the memo that were made before it are kept with their results;
//! - when it is written again: it stays within the nesting limits, the calls it took from
//!   the memo are there with the same results, and the memo has room for the calls made
//!   inside it, none of which is in the row's memo already (it would have been shown as
//!   memoised).

use super::{MAX_CALL_DEPTH, MAX_EXPR_DEPTH, MEMO_ARGS, MEMO_CALLS, Session, hash_value, identical, memo_hash};
use crate::session::{Frame, MemoResult, Res};
use crate::trace::Tracer;
use covenant_ir::hash::{FxBuild, FxHasher};
use covenant_ir::{Cell, DecisionId, LocalId, NodeId, NodeKind, Program, Span, Value};
use std::collections::HashMap;
use std::hash::Hasher;

/// The most calls a tracer keeps; when full, they are forgotten and kept afresh, so a
/// cohort whose calls never repeat costs bounded memory.
const MAX_KEPT_CALLS: usize = 4096;
/// The most text of steps kept, in bytes, likewise.
const MAX_KEPT_TEXT: usize = 4 << 20;
/// The longest stretch of steps kept for one call, in bytes.
const MAX_STRETCH_TEXT: usize = 64 << 10;
/// The most values (counting each field of a record and element of a list) in the
/// arguments of a call that is kept: larger arguments cost more to compare than they save.
const MAX_KEY_VALUES: usize = 64;

/// Steps a tracer wrote, as it writes them again: for a trace writer, the JSON values of
/// the steps with the commas between them, and the sites and reasons they use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stretch {
    /// The steps, each a JSON value, separated by commas (empty for none).
    pub text: Box<str>,
    /// How many steps the stretch adds to the step it is written in.
    pub steps: usize,
    /// Whether the last of them failed.
    pub last_failed: bool,
    /// The sites and reasons the steps use, in the order first used.
    pub sites: Box<[u32]>,
    pub reasons: Box<[u32]>,
}

impl Stretch {
    /// The bytes it keeps.
    fn size(&self) -> usize {
        self.text.len() + 4 * (self.sites.len() + self.reasons.len())
    }
}

/// The calls a tracer keeps from row to row (see the module documentation).
#[derive(Default)]
pub struct KeptCalls {
    /// The last call of each hash (of the decision and the arguments all the way down);
    /// calls with the same hash are chained through `next`.
    heads: HashMap<u64, u32, FxBuild>,
    calls: Vec<KeptCall>,
    /// The bytes of the calls' stretches.
    text: usize,
    /// How many calls were written again, not evaluated.
    written_again: u64,
}

struct KeptCall {
    /// What is kept: a decision's call, or a node evaluated for an aggregated element
    /// ([`Kept`]).
    what: Kept,
    /// Copies of the arguments (or of the element), compared all the way down.
    args: Box<[Value]>,
    value: Value,
    /// How many nested calls and expression levels it took, as the memo counts them.
    needs: (u32, u32),
    /// The calls with parameters made inside it, in the order the memo took them.
    inner: Box<[InnerCall]>,
    /// The calls it took from the memo that were made before it: they must be there, with
    /// the same result, for it to be written again.
    hits: Box<[InnerCall]>,
    stretch: Stretch,
    next: u32,
}

/// What a kept stretch of steps is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    /// A call of the decision, on the kept arguments.
    Call(DecisionId),
    /// The node (an aggregation's filter or body), evaluated for the kept element.
    Element(NodeId),
}

impl Kept {
    fn tag(self) -> u64 {
        match self {
            Kept::Call(id) => u64::from(id.0),
            Kept::Element(id) => (1 << 32) | u64::from(id.0),
        }
    }
}

/// A call made inside a kept call, put in the memo when the kept call is written again.
struct InnerCall {
    decision: DecisionId,
    args: Box<[InnerArg]>,
    result: MemoResult,
}

enum InnerArg {
    /// The kept call's argument at this place (the very record or list it was given).
    Outer(usize),
    /// This value: a number, text or other plain value, or a record or list of the
    /// program's or made inside the call (which nothing outside it can be identical to).
    Given(Value),
}

impl KeptCalls {
    /// How many calls are kept.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// How many calls were written again from what was kept, instead of being evaluated.
    pub fn written_again(&self) -> u64 {
        self.written_again
    }

    /// The steps kept for call `index` (as [`Tracer::replay_stretch`] is given it).
    pub fn stretch(&self, index: usize) -> Option<&Stretch> {
        self.calls.get(index).map(|call| &call.stretch)
    }

    fn find(&self, hash: u64, what: Kept, args: &[Value]) -> Option<usize> {
        let mut i = *self.heads.get(&hash)?;
        while let Some(call) = self.calls.get(i as usize) {
            if call.what == what
                && call.args.len() == args.len()
                && call.args.iter().zip(args).all(|(a, b)| same_all_the_way(a, b))
            {
                return Some(i as usize);
            }
            i = call.next;
        }
        None
    }

    fn insert(&mut self, hash: u64, mut call: KeptCall) {
        let size = call.stretch.size();
        if self.calls.len() >= MAX_KEPT_CALLS || self.text + size > MAX_KEPT_TEXT {
            self.heads.clear();
            self.calls.clear();
            self.text = 0;
        }
        let Ok(index) = u32::try_from(self.calls.len()) else { return };
        call.next = self.heads.insert(hash, index).unwrap_or(u32::MAX);
        self.text += size;
        self.calls.push(call);
    }
}

/// Whether each decision depends on its arguments alone (by decision number): it has
/// parameters and no dated versions, and nothing below it (its body, the decisions it calls,
/// the cells of the tables it looks up) reads an input, a param, a dated version, a
/// contract's dates or payments, or a parameterless decision (computed once a row, and
/// shown as memoised when used again).
pub(super) fn keepable(program: &Program) -> Vec<bool> {
    let decisions = program.decisions.len();
    let mut keep: Vec<bool> = program.decisions.iter().map(|d| !d.params.is_empty() && d.valid.is_none()).collect();
    let tables = keepable_tables(program);
    // The decisions each one calls; a decision calling one that is not keepable is not
    // either, which is passed on from callee to caller until nothing changes.
    let mut callers: Vec<Vec<usize>> = vec![Vec::new(); decisions];
    let mut pending = Vec::new();
    for (index, def) in program.decisions.iter().enumerate() {
        let mut callees = Vec::new();
        if keep[index] && !reads_only(program, def.body, &tables, &mut callees) {
            keep[index] = false;
        }
        for callee in callees {
            match callers.get_mut(callee.index()) {
                Some(list) => list.push(index),
                None => keep[index] = false,
            }
        }
        if !keep[index] {
            pending.push(index);
        }
    }
    while let Some(index) = pending.pop() {
        for &caller in &callers[index] {
            if keep[caller] {
                keep[caller] = false;
                pending.push(caller);
            }
        }
    }
    keep
}

/// Whether the expression at `root` reads nothing but its frame, constants and the tables
/// marked in `tables`; the decisions with parameters it calls are added to `callees`.
fn reads_only(program: &Program, root: NodeId, tables: &[bool], callees: &mut Vec<DecisionId>) -> bool {
    let mut pending = vec![root];
    while let Some(id) = pending.pop() {
        let Some(node) = program.nodes.get(id.index()) else { return false };
        match &node.kind {
            NodeKind::Decision { args, .. } if args.is_empty() => return false,
            NodeKind::Decision { id, .. } => callees.push(*id),
            NodeKind::Table { id, .. } if !tables.get(id.index()).copied().unwrap_or(false) => return false,
            NodeKind::Input(_)
            | NodeKind::Param(_)
            | NodeKind::Versioned { .. }
            | NodeKind::Split { .. }
            | NodeKind::Payment(_)
            | NodeKind::PaymentPart { .. }
            | NodeKind::ContractDate(_) => return false,
            _ => {}
        }
        node.kind.for_each_child(|child| pending.push(child));
    }
    true
}

/// The hash of what is kept and its arguments all the way down (the fields of a record, the
/// elements of a list), or `None` when the arguments hold more than [`MAX_KEY_VALUES`]
/// values.
fn key_hash(what: Kept, args: &[Value]) -> Option<u64> {
    let mut h = FxHasher::default();
    h.write_u64(what.tag());
    let mut budget = MAX_KEY_VALUES;
    for value in args {
        hash_all_the_way(value, &mut h, &mut budget)?;
    }
    Some(h.finish())
}

fn hash_all_the_way(value: &Value, h: &mut FxHasher, budget: &mut usize) -> Option<()> {
    *budget = budget.checked_sub(1)?;
    match value {
        Value::Record(items) | Value::List(items) => {
            h.write_u8(if matches!(value, Value::Record(_)) { 9 } else { 10 });
            h.write_usize(items.len());
            for item in items.iter() {
                hash_all_the_way(item, h, budget)?;
            }
        }
        other => hash_value(other, h),
    }
    Some(())
}

/// Whether two values are identical all the way down: [`identical`], with records and lists
/// compared by their fields and elements instead of by address.
fn same_all_the_way(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Record(x), Value::Record(y)) | (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| same_all_the_way(a, b))
        }
        _ => identical(a, b),
    }
}

/// A copy of a value with storage of its own all the way down, so that a kept call does not
/// hold on to a row's records and lists (a batch run reads the next row into them).
fn own_copy(value: &Value) -> Value {
    match value {
        Value::Record(items) => Value::Record(items.iter().map(own_copy).collect()),
        Value::List(items) => Value::List(items.iter().map(own_copy).collect()),
        other => other.clone(),
    }
}

/// Whether a value holds no record or list.
fn is_plain(value: &Value) -> bool {
    !matches!(value, Value::Record(_) | Value::List(_))
}

/// The address of a record's or list's storage.
fn address(value: &Value) -> Option<usize> {
    match value {
        Value::Record(items) | Value::List(items) => Some(items.as_ptr() as *const u8 as usize),
        _ => None,
    }
}

/// Whether `address` is the storage of a record or list inside `value`, below its top.
fn holds_inside(value: &Value, address: usize) -> bool {
    match value {
        Value::Record(items) | Value::List(items) => {
            items.iter().any(|item| self::address(item) == Some(address) || holds_inside(item, address))
        }
        _ => false,
    }
}

impl<'p> Session<'p> {
    /// Calls a decision (`call`) through the calls `tracer` keeps from row to row: written
    /// again when kept, else made and, when it can be, kept.
    pub(super) fn call_kept<T: Tracer>(&mut self, id: DecisionId, args: Frame, site: Span, tracer: &mut T) -> Res {
        let what = Kept::Call(id);
        let hash = if T::ENABLED && self.is_keepable(id, tracer) { key_hash(what, &args) } else { None };
        let Some(hash) = hash else {
            return self.call(id, args, site, tracer).map(|(value, _)| value);
        };
        if let Some(value) = self.replay(what, (hash, &args), tracer) {
            self.recycle(args);
            return Ok(value);
        }
        let given = args.clone();
        self.keep(what, (hash, given), tracer, |s, tracer| s.call(id, args, site, tracer).map(|(value, _)| value))
    }

    /// Evaluates an aggregation's filter (as one step, when `single`) or body for the
    /// element bound to `local`, through what `tracer` keeps from row to row, as
    /// [`call_kept`](Session::call_kept) does for calls: for a node that reads no local but
    /// the element, and nothing a keepable decision could not.
    pub(super) fn element_kept<T: Tracer>(
        &mut self,
        (node, local, single): (NodeId, LocalId, bool),
        element: &Value,
        frame: &mut Frame,
        tracer: &mut T,
    ) -> Res {
        let what = Kept::Element(node);
        let keepable = T::ENABLED && tracer.kept_calls().is_some() && self.is_keepable_element(node, local);
        let hash = if keepable { key_hash(what, std::slice::from_ref(element)) } else { None };
        let eval = |s: &mut Self, frame: &mut Frame, tracer: &mut T| {
            if single { s.eval_single(node, frame, tracer) } else { s.eval(node, frame, tracer) }
        };
        let Some(hash) = hash else { return eval(self, frame, tracer) };
        if let Some(value) = self.replay(what, (hash, std::slice::from_ref(element)), tracer) {
            return Ok(value);
        }
        self.keep(what, (hash, vec![element.clone()]), tracer, |s, tracer| eval(s, frame, tracer))
    }

    fn is_keepable<T: Tracer>(&mut self, id: DecisionId, tracer: &mut T) -> bool {
        if tracer.kept_calls().is_none() {
            return false;
        }
        let program = self.program;
        self.keepable.get_or_insert_with(|| keepable(program)).get(id.index()).copied().unwrap_or(false)
    }

    /// Whether an aggregation's filter or body `node` reads no local but the element's
    /// (`local`), and calls only keepable decisions (worked out once per node).
    fn is_keepable_element(&mut self, node: NodeId, local: LocalId) -> bool {
        let program = self.program;
        match self.keepable_elements.get(node.index()) {
            Some(Some(known)) => return *known,
            Some(None) => {}
            None => self.keepable_elements.resize(program.nodes.len(), None),
        }
        let decisions = self.keepable.get_or_insert_with(|| keepable(program));
        let mut callees = Vec::new();
        // An element or a constant is read in less time than it is looked up.
        let trivial =
            program.nodes.get(node.index()).is_none_or(|n| matches!(n.kind, NodeKind::Local(_) | NodeKind::Const(_)));
        let reads = !trivial
            && reads_only(program, node, &keepable_tables(program), &mut callees)
            && reads_no_local_but(program, node, local)
            && callees.iter().all(|c| decisions.get(c.index()).copied().unwrap_or(false));
        if let Some(slot) = self.keepable_elements.get_mut(node.index()) {
            *slot = Some(reads);
        }
        reads
    }

    /// Writes a kept stretch again and puts the calls made inside it in the memo; its value,
    /// or `None` when it is not kept or cannot be written again here (see the module
    /// documentation).
    fn replay<T: Tracer>(&mut self, what: Kept, (hash, args): (u64, &[Value]), tracer: &mut T) -> Option<Value> {
        let (calls, depth) = (self.calls, self.depth);
        let kept = tracer.kept_calls()?;
        let index = kept.find(hash, what, args)?;
        let call = &kept.calls[index];
        let (need_calls, need_depth) = call.needs;
        if calls.saturating_add(need_calls) > MAX_CALL_DEPTH || depth.saturating_add(need_depth) > MAX_EXPR_DEPTH {
            return None;
        }
        let (mut inner_args, mut spans) = (std::mem::take(&mut self.kept_args), std::mem::take(&mut self.kept_spans));
        let logged = self.memo.hits_below_floor.len();
        let mut fresh = self.memo.entries.len() + call.inner.len() < MEMO_CALLS;
        // The calls it took from the memo must be there with the same results; they are
        // taken again (logged for a stretch being kept around this one).
        for hit in call.hits.iter() {
            inner_args.clear();
            fresh = fresh && inner_args_of(&hit.args, args, &mut inner_args) && {
                let found = self.memo.find_at(memo_hash(hit.decision, &inner_args), hit.decision, &inner_args);
                match found {
                    Some((at, result))
                        if result.needs == hit.result.needs && identical(&result.value, &hit.result.value) =>
                    {
                        if at < self.memo.floor {
                            self.memo.hits_below_floor.push(at as u32);
                        }
                        true
                    }
                    _ => false,
                }
            };
        }
        // The calls made inside it must all be new to the memo before any is put in it: their
        // arguments one after another, with where each call's end and its hash.
        inner_args.clear();
        for inner in call.inner.iter() {
            let start = inner_args.len();
            fresh = fresh && inner_args_of(&inner.args, args, &mut inner_args) && {
                let hash = memo_hash(inner.decision, &inner_args[start..]);
                spans.push((inner_args.len(), hash));
                self.memo.args.len() + inner_args.len() <= MEMO_ARGS
                    && self.memo.find(hash, inner.decision, &inner_args[start..]).is_none()
            };
        }
        if fresh {
            let mut start = 0;
            for (inner, &(end, hash)) in call.inner.iter().zip(&spans) {
                if let Some(at) = self.memo.stash(&inner_args[start..end]) {
                    let result = MemoResult { value: inner.result.value.clone(), needs: inner.result.needs };
                    self.memo.insert(hash, inner.decision, at, result);
                }
                start = end;
            }
        } else {
            self.memo.hits_below_floor.truncate(logged);
        }
        inner_args.clear();
        spans.clear();
        (self.kept_args, self.kept_spans) = (inner_args, spans);
        if !fresh {
            return None;
        }
        self.peak_calls = self.peak_calls.max(calls + need_calls);
        self.peak_depth = self.peak_depth.max(depth + need_depth);
        let value = call.value.clone();
        kept.written_again += 1;
        tracer.replay_stretch(index);
        Some(value)
    }

    /// Evaluates with `eval` and keeps the value with the steps `tracer` wrote, when it can
    /// be; `given` holds the arguments (or the element) through the evaluation, so that no
    /// record made inside it can take the address of one of them.
    fn keep<T: Tracer>(
        &mut self,
        what: Kept,
        (hash, given): (u64, Vec<Value>),
        tracer: &mut T,
        eval: impl FnOnce(&mut Self, &mut T) -> Res,
    ) -> Res {
        let (calls, depth) = (self.calls, self.depth);
        let peaks = (self.peak_calls, self.peak_depth);
        (self.peak_calls, self.peak_depth) = (calls, depth);
        let (entries, refused, floor) = (self.memo.entries.len(), self.memo.refused, self.memo.floor);
        let hits_from = self.memo.hits_below_floor.len();
        self.memo.floor = entries;
        tracer.begin_stretch();
        let result = eval(self, tracer);
        let needs = (self.peak_calls.saturating_sub(calls), self.peak_depth.saturating_sub(depth));
        self.peak_calls = self.peak_calls.max(peaks.0);
        self.peak_depth = self.peak_depth.max(peaks.1);
        self.memo.floor = floor;
        let stretch = tracer.end_stretch(result.is_ok() && self.memo.refused == refused);
        let kept = match (&result, stretch) {
            (Ok(value), Some(stretch)) if stretch.text.len() <= MAX_STRETCH_TEXT && is_plain(value) => {
                let inner = self.memo_calls((entries..self.memo.entries.len()).map(|i| i as u32), &given);
                let hits = self.hits_since(hits_from, entries, &given);
                inner.zip(hits).map(|(inner, hits)| {
                    let args = given.iter().map(own_copy).collect();
                    KeptCall { what, args, value: value.clone(), needs, inner, hits, stretch, next: u32::MAX }
                })
            }
            _ => None,
        };
        // Hits on entries made inside the stretch depend on nothing outside it: only those
        // before the enclosing stretch stay logged, for it.
        let mut at = hits_from;
        while let Some(&entry) = self.memo.hits_below_floor.get(at) {
            if (entry as usize) < floor {
                at += 1;
            } else {
                self.memo.hits_below_floor.swap_remove(at);
            }
        }
        if let Some(call) = kept
            && let Some(calls) = tracer.kept_calls()
        {
            calls.insert(hash, call);
        }
        result
    }

    /// The memo hits logged since `from` on entries before `entries` (made before the
    /// stretch began), each once, as [`memo_calls`](Session::memo_calls) gives them.
    fn hits_since(&self, from: usize, entries: usize, given: &[Value]) -> Option<Box<[InnerCall]>> {
        let mut hits: Vec<u32> = Vec::new();
        for &at in self.memo.hits_below_floor.get(from..)? {
            if (at as usize) < entries && !hits.contains(&at) {
                hits.push(at);
            }
        }
        self.memo_calls(hits.into_iter(), given)
    }

    /// The memo's entries at `entries`, with their arguments in terms of the kept `given`
    /// arguments; `None` when one cannot be put in (or found in) a later row's memo exactly
    /// (a record or list in a value, or one inside a given argument).
    fn memo_calls(&self, entries: impl Iterator<Item = u32>, given: &[Value]) -> Option<Box<[InnerCall]>> {
        let memo = &self.memo;
        let mut calls = Vec::new();
        for at in entries {
            let entry = memo.entries.get(at as usize)?;
            if !is_plain(&entry.result.value) {
                return None;
            }
            let (start, len) = (entry.start as usize, entry.len as usize);
            let mut args = Vec::with_capacity(len);
            for arg in memo.args.get(start..start + len)? {
                args.push(match address(arg) {
                    None => InnerArg::Given(arg.clone()),
                    Some(at) => match given.iter().position(|g| address(g) == Some(at)) {
                        Some(i) => InnerArg::Outer(i),
                        None if given.iter().any(|g| holds_inside(g, at)) => return None,
                        None => InnerArg::Given(arg.clone()),
                    },
                });
            }
            let result = MemoResult { value: entry.result.value.clone(), needs: entry.result.needs };
            calls.push(InnerCall { decision: entry.decision, args: args.into(), result });
        }
        Some(calls.into())
    }
}

/// Whether each table reads nothing but its keys: no dated version, and constant cells.
fn keepable_tables(program: &Program) -> Vec<bool> {
    program
        .tables
        .iter()
        .map(|table| {
            table.valid.is_none()
                && table.rows.iter().all(|row| match &row.cell {
                    Cell::NoValue(_) => true,
                    // A cell looks up no table and calls no decision here: cells are constants.
                    Cell::Value(cell) => {
                        let mut callees = Vec::new();
                        reads_only(program, *cell, &[], &mut callees) && callees.is_empty()
                    }
                })
        })
        .collect()
}

/// Whether the expression at `root` reads no local but `local`, and binds none (so no
/// local it reads can be bound outside it).
fn reads_no_local_but(program: &Program, root: NodeId, local: LocalId) -> bool {
    let mut pending = vec![root];
    while let Some(id) = pending.pop() {
        let Some(node) = program.nodes.get(id.index()) else { return false };
        match &node.kind {
            NodeKind::Local(read) if *read != local => return false,
            NodeKind::Let { .. } | NodeKind::Aggregate { .. } => return false,
            _ => {}
        }
        node.kind.for_each_child(|child| pending.push(child));
    }
    true
}

/// Pushes the arguments of a call made in a kept stretch, in terms of the arguments `args`
/// it is written again with; `false` when one of them is missing.
fn inner_args_of(kept: &[InnerArg], args: &[Value], out: &mut Vec<Value>) -> bool {
    for arg in kept {
        match arg {
            InnerArg::Outer(i) => match args.get(*i) {
                Some(value) => out.push(value.clone()),
                None => return false,
            },
            InnerArg::Given(value) => out.push(value.clone()),
        }
    }
    true
}

/// Whether `value` is a record or list whose storage is that of `other`.
#[cfg(test)]
fn same_storage(value: &Value, other: &Value) -> bool {
    address(value).is_some() && address(value) == address(other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn arguments_are_the_same_all_the_way_down_with_digits_and_scale() {
        let record = |n: &str| Value::Record(Arc::from([Value::Enum(1), Value::Num(n.parse().expect("number"))]));
        let (a, b, c) = (record("1.0"), record("1.0"), record("1.00"));
        assert!(!same_storage(&a, &b));
        assert!(same_all_the_way(&a, &b));
        assert!(!same_all_the_way(&a, &c), "1.0 and 1.00 print differently");
        let id = Kept::Call(DecisionId(3));
        assert_eq!(key_hash(id, std::slice::from_ref(&a)), key_hash(id, std::slice::from_ref(&b)));
        assert_ne!(
            key_hash(id, std::slice::from_ref(&a)),
            key_hash(Kept::Call(DecisionId(4)), std::slice::from_ref(&a))
        );
        let node = Kept::Element(NodeId(3));
        assert_ne!(key_hash(id, std::slice::from_ref(&a)), key_hash(node, std::slice::from_ref(&a)));
        let long = Value::List((0..MAX_KEY_VALUES).map(|i| Value::Enum(i as u32)).collect());
        assert_eq!(key_hash(id, &[long]), None, "the list and its elements are more than the budget");
        let copy = own_copy(&a);
        assert!(same_all_the_way(&copy, &a) && !same_storage(&copy, &a));
    }
}
