//! Explanation traces: the evaluator reports what it did to a [`Tracer`].
//!
//! Tracing costs nothing when it is off: the evaluator is generic over the tracer and guards
//! every piece of trace work with the associated constant [`Tracer::ENABLED`], so with
//! [`NoTrace`] (a zero-sized type whose methods are empty) the compiler removes it entirely.
//!
//! [`Recorder`] builds a tree of [`Step`]s. The evaluator opens a step when it starts an
//! operation worth explaining ([`Tracer::enter`]) and closes it with its description when the
//! value is known ([`Tracer::exit`]); steps recorded in between become its children. A step
//! whose label, type and location are its node's is closed with [`Tracer::exit_node`], which
//! hands over a [`NodeStep`]: what the evaluation found (its outcome and values), from which
//! the step is made only for a tracer that asks (the trace writer writes the steps of a node
//! it has seen from their outcome and values, and no step, name or copy is made). Trivial
//! nodes (constants, local reads, record and list literals) are not steps: their children
//! pass straight to the parent. When evaluation fails, the failing step is closed as
//! [`StepKind::Failed`] and its ancestors as [`StepKind::Unfinished`], so a partial tree still
//! shows the path to the error.

use crate::session::{KeptCalls, Stretch};
use covenant_ir::{AggOp, BinOp, HitPolicy, NodeId, RoundMode, Span, Ty, Value};
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use std::sync::Arc;

/// Receives the steps of an evaluation. Implemented by [`NoTrace`] and [`Recorder`].
pub trait Tracer {
    /// Whether steps are recorded. When `false`, the evaluator builds no step at all.
    const ENABLED: bool;
    /// Opens a step: the steps recorded until the matching exit become its children.
    fn enter(&mut self);
    /// Closes the innermost open step; `step.children` is replaced by the steps recorded since
    /// the matching [`enter`](Tracer::enter).
    fn exit(&mut self, step: Step);
    /// Closes the innermost open step, a step of node `node` whose label, type and location
    /// are the node's own, with the value `value`, as [`exit`](Tracer::exit) does with the
    /// step `step` makes. A tracer that knows such a step of the node by its [`Shape`] (a
    /// trace writer that has written one) need not have the step made.
    fn exit_node<S: NodeStep>(&mut self, node: NodeId, step: S, value: Option<&Value>) {
        let _ = node;
        self.exit(step.make(value.cloned()));
    }
    /// Closes the innermost open step; if it collected exactly one child, that child stands for
    /// it (so a condition is always exactly one step), otherwise the step `wrapper` makes wraps
    /// the children (it is only made when needed).
    fn exit_single(&mut self, wrapper: impl FnOnce() -> Step);
    /// Closes the innermost open step without a step of its own: its children pass to the parent.
    fn exit_transparent(&mut self);
    /// Closes the innermost open step because evaluating it failed.
    fn fail(&mut self, step: Step, code: &'static str, message: &str);
    /// Whether a memoised decision referenced again should be evaluated again to show its
    /// sub-steps (a recorder over its step budget says no, and shows the value only).
    fn expand_repeats(&self) -> bool;
    /// The calls this tracer keeps from row to row with the steps it wrote for them, when it
    /// keeps them (see [`KeptCalls`]): a call kept is not evaluated again but written again
    /// ([`replay_stretch`](Tracer::replay_stretch)).
    fn kept_calls(&mut self) -> Option<&mut KeptCalls> {
        None
    }
    /// Begins a stretch of steps, ended by the matching [`end_stretch`](Tracer::end_stretch)
    /// (stretches nest). Only called when [`kept_calls`](Tracer::kept_calls) is `Some`.
    fn begin_stretch(&mut self) {}
    /// Ends the innermost stretch: the steps written since it began, to be written again
    /// later, when `keep` and this tracer can (`None` otherwise).
    fn end_stretch(&mut self, keep: bool) -> Option<Stretch> {
        let _ = keep;
        None
    }
    /// Writes again the steps of the kept call at `index` in
    /// [`kept_calls`](Tracer::kept_calls), as if they had been evaluated here.
    fn replay_stretch(&mut self, index: usize) {
        let _ = index;
    }
}

/// The tracer that records nothing; evaluation with it is as fast as without tracing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoTrace;

impl Tracer for NoTrace {
    const ENABLED: bool = false;
    #[inline]
    fn enter(&mut self) {}
    #[inline]
    fn exit(&mut self, _step: Step) {}
    #[inline]
    fn exit_node<S: NodeStep>(&mut self, _: NodeId, _: S, _: Option<&Value>) {}
    #[inline]
    fn exit_single(&mut self, _wrapper: impl FnOnce() -> Step) {}
    #[inline]
    fn exit_transparent(&mut self) {}
    #[inline]
    fn fail(&mut self, _step: Step, _code: &'static str, _message: &str) {}
    #[inline]
    fn expand_repeats(&self) -> bool {
        false
    }
}

/// Records the steps of one or more evaluations as trees.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// `frames[0]` holds finished top-level steps; each later frame the children of an open step.
    frames: Vec<Vec<Step>>,
    recorded: usize,
    limit: usize,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

impl Recorder {
    /// Steps after which memoised decisions referenced again are shown by value only.
    pub const DEFAULT_LIMIT: usize = 100_000;

    pub fn new() -> Recorder {
        Recorder::with_limit(Recorder::DEFAULT_LIMIT)
    }

    /// A recorder that stops expanding repeated memoised decisions after `limit` steps, so a
    /// decision used many times over cannot make the tree grow exponentially.
    pub fn with_limit(limit: usize) -> Recorder {
        Recorder { frames: vec![Vec::new()], recorded: 0, limit }
    }

    /// How many steps have been recorded so far.
    pub fn recorded(&self) -> usize {
        self.recorded
    }

    /// The tree of the last decision evaluated with this recorder (normally the only one).
    pub fn finish(self) -> Option<Step> {
        self.finish_all().pop()
    }

    /// The trees of all decisions evaluated with this recorder, in order.
    pub fn finish_all(mut self) -> Vec<Step> {
        while self.frames.len() > 1 {
            self.exit_transparent();
        }
        self.frames.pop().unwrap_or_default()
    }

    fn take_children(&mut self) -> Vec<Step> {
        if self.frames.len() > 1 { self.frames.pop().unwrap_or_default() } else { Vec::new() }
    }

    fn push(&mut self, step: Step) {
        self.recorded += 1;
        if let Some(top) = self.frames.last_mut() {
            top.push(step);
        }
    }
}

impl Tracer for Recorder {
    const ENABLED: bool = true;

    fn enter(&mut self) {
        self.frames.push(Vec::new());
    }

    fn exit(&mut self, mut step: Step) {
        step.children = self.take_children();
        self.push(step);
    }

    fn exit_single(&mut self, wrapper: impl FnOnce() -> Step) {
        let mut children = self.take_children();
        if children.len() == 1 {
            if let Some(only) = children.pop()
                && let Some(top) = self.frames.last_mut()
            {
                top.push(only);
            }
        } else {
            let mut step = wrapper();
            step.children = children;
            self.push(step);
        }
    }

    fn exit_transparent(&mut self) {
        let children = self.take_children();
        if let Some(top) = self.frames.last_mut() {
            top.extend(children);
        }
    }

    fn fail(&mut self, mut step: Step, code: &'static str, message: &str) {
        let children = self.take_children();
        let inner_failed = children.last().is_some_and(Step::is_failure);
        step.kind = if inner_failed {
            StepKind::Unfinished
        } else {
            StepKind::Failed { code: code.to_string(), message: message.to_string() }
        };
        step.value = None;
        step.children = children;
        self.push(step);
    }

    fn expand_repeats(&self) -> bool {
        self.recorded < self.limit
    }
}

/// A name or label shown in a step (a decision's, a table's, an input path, an operator).
///
/// The text is shared (`Rc`, not `Arc`: steps stay on the thread that evaluates them, and a
/// traced row clones hundreds of names, which atomic counts made a tenth of the time of a
/// compact trace). Two names are equal when their texts are; names the evaluator made for the
/// same thing share their text, so most comparisons are settled by its address.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Name(Rc<str>);

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        Rc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for Name {}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        Name(text.into())
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name(text.into())
    }
}

/// One step of an explanation: an operation, its value and type, where it is in the source,
/// and the steps it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub kind: StepKind,
    /// The IR node evaluated (`None` for a decision evaluated at the top level).
    pub node: Option<NodeId>,
    /// A short title: the decision, input, param or table name, the operator, `if`, `let`…
    /// (shared: every step of a node has the same one).
    pub label: Name,
    /// The result; `None` for a failed step and for an aggregation element left out by the filter.
    pub value: Option<Value>,
    /// The static type of `value` (how to show it).
    pub ty: Ty,
    /// Where the value comes from: a decision's or param's name in its declaration, otherwise
    /// the expression itself.
    pub span: Span,
    pub children: Vec<Step>,
}

impl Step {
    /// A step evaluated at the top level (no node), not finished yet: its kind and value are
    /// set when it finishes.
    pub fn unfinished(label: impl Into<Name>, ty: Ty, span: Span) -> Step {
        Step {
            kind: StepKind::Unfinished,
            node: None,
            label: label.into(),
            value: None,
            ty,
            span,
            children: Vec::new(),
        }
    }

    /// Whether this step (or a step below it) failed.
    pub fn is_failure(&self) -> bool {
        matches!(self.kind, StepKind::Failed { .. } | StepKind::Unfinished)
    }

    /// The number of steps in this tree.
    pub fn size(&self) -> usize {
        1 + self.children.iter().map(Step::size).sum::<usize>()
    }
}

/// A named value: a decision's argument or a table's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arg {
    pub name: Name,
    pub value: Value,
    pub ty: Ty,
}

/// An operand of an operation, with the expression it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operand {
    pub value: Value,
    pub ty: Ty,
    pub span: Span,
    pub node: NodeId,
}

/// A value with its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Typed {
    pub value: Value,
    pub ty: Ty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Branch {
    Then,
    Else,
}

/// What a step did. Indices (`row`, `arm`) are zero-based here; renderers show them from 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A decision evaluated: its arguments, and whether its value had been computed before
    /// (a decision is computed once per session for each set of arguments and reused; a
    /// memoised step has no children unless the recorder asked to see its steps again).
    Decision { name: Name, qualified: Name, args: Vec<Arg>, memoised: bool },
    /// An input read, with the field path (`person.placement`).
    Input { name: Name, path: Name },
    /// A param read, with the field path.
    Param { name: Name, path: Name },
    /// A table lookup: the key values by column, the hit policy, and the matched row (`None`:
    /// no row matched, and the value is "no value").
    Table { name: Name, qualified: Name, hit: HitPolicy, keys: Vec<Arg>, row: Option<usize>, row_span: Option<Span> },
    /// `if`: the condition's value and the branch taken. The first child is the condition.
    If { condition: bool, branch: Branch },
    /// `match`: the scrutinee's value and the arm taken. The first child is the scrutinee.
    Match { scrutinee: Operand, arm: usize, arm_span: Span },
    /// A comparison with both sides' values; the step's value is the result.
    Compare { op: BinOp, left: Operand, right: Operand },
    /// `and`, `or` (children: each operand evaluated, one step each) or `not`.
    /// `short_circuit`: the second operand was not needed.
    Logic { op: Name, short_circuit: bool },
    /// Arithmetic (`+ - × ÷`, unary `-`, date and duration arithmetic) with its operands.
    Arithmetic { op: Name, operands: Vec<Operand> },
    /// Rounding: the value before, and the places and mode; the step's value is the result.
    Round { before: Value, places: u32, mode: RoundMode },
    /// An aggregation: `items` in the list, `examined` before it stopped (all/any stop at the
    /// first decisive element), `kept` by the filter. Children are the [`StepKind::Item`]s.
    Aggregate { op: AggOp, items: usize, examined: usize, kept: usize },
    /// One element of an aggregation: its position, the element (unless the aggregated value
    /// is the element itself), and whether the filter kept it; the value is its contribution
    /// (`None` when left out).
    Item { index: usize, element: Option<Typed>, kept: bool },
    /// `let`: the bound value (the body's steps follow as siblings).
    Let,
    /// `a otherwise b`: whether the fallback was used and why `a` had no value. The first
    /// child is `a`.
    Otherwise { used_fallback: bool, reason: Option<Arc<str>> },
    /// `x is none`, with the reason when `x` has no value.
    IsNone { reason: Option<Arc<str>> },
    /// `x in {A, B}` on an enum.
    InSet { value: Operand, variants: Vec<String> },
    /// A field of a computed record (fields of inputs and params are [`StepKind::Input`]
    /// and [`StepKind::Param`] paths).
    Field { name: Name },
    /// A built-in function with its arguments.
    Builtin { name: String, args: Vec<Operand> },
    /// A decision written as rules: which rule gave the value (`None`: the default did).
    /// Children are the [`StepKind::Rule`]s weighed, in source order.
    Rules { applied: Option<String>, default_used: bool },
    /// One rule weighed: whether it applied, the rule it is an exception to, and the
    /// exception that overrode it (if one did). Children: its exceptions' steps, then its
    /// condition, then its value when it applied.
    Rule { label: String, applied: bool, exception_to: Option<String>, overridden_by: Option<String> },
    /// A party's part of an amount under a split: every party's share and part (variant
    /// index, share, amount), the party asked for, and who took the rounding remainder.
    Split {
        name: String,
        total: rust_decimal::Decimal,
        parts: Vec<(u32, rust_decimal::Decimal, rust_decimal::Decimal)>,
        party: u32,
        remainder_to: u32,
    },
    /// A contract payment for the statement period: paid (with its instalments) or not, and
    /// why not. Children: the gates, trigger and amount as evaluated.
    Payment(Box<crate::payments::PaymentOutcome>),
    /// The version of a dated table, param or decision chosen by the evaluation date; the
    /// child is the chosen version's step.
    Version { name: Name, valid: Name, date: Name },
    /// A sub-expression shown as one step (wraps zero or several steps).
    Value,
    /// The operation that failed, with the error.
    Failed { code: String, message: String },
    /// An operation that did not finish because a step below it failed.
    Unfinished,
}

/// A step of a node as an evaluation found it, before it is made: its [`Shape`] and the
/// values its kind holds are at hand without making it (no names, labels or copies), so a
/// tracer that knows the node's steps of that shape writes it from them alone. (A copy is
/// cheap: it checks, in debug builds, that the step made is the one it stands for.)
pub trait NodeStep: Clone {
    /// The shape of the step's kind ([`StepKind::shape`] of the kind [`make`](NodeStep::make) makes).
    fn shape(&self) -> Shape;
    /// Calls `f` on each value the step's kind holds, with its type, in the order of
    /// [`StepKind::values_mut`] on the kind [`make`](NodeStep::make) makes (the step's own
    /// value is not one of them).
    fn values(&mut self, f: impl FnMut(&Value, &Ty));
    /// The "no value" reason the step's kind holds (`is none` and `otherwise` steps).
    fn reason(&self) -> Option<&Arc<str>> {
        None
    }
    /// Makes the step, with the value `value`.
    fn make(self, value: Option<Value>) -> Step;
}

/// A step already made is its own [`NodeStep`] (its value is replaced by the one given).
impl NodeStep for Step {
    fn shape(&self) -> Shape {
        self.kind.shape()
    }

    fn values(&mut self, mut f: impl FnMut(&Value, &Ty)) {
        let Step { kind, ty, .. } = self;
        kind.values_mut(ty, |v, ty| f(v, ty));
    }

    fn reason(&self) -> Option<&Arc<str>> {
        self.kind.reason()
    }

    fn make(mut self, value: Option<Value>) -> Step {
        self.value = value;
        self
    }
}

/// What tells a step's kind apart from the other kinds of steps of its node: its variant and
/// the outcome it records (the row matched, the branch or arm taken, whether memoised or
/// short-circuited, an element's position, an aggregation's counts). Steps of one node with
/// the same shape and number of children differ only in their values when
/// [`fixed_by_node`](Shape::fixed_by_node) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Decision { memoised: bool, args: usize },
    Table { row: Option<usize> },
    If { condition: bool },
    Match { arm: usize },
    Logic { short_circuit: bool },
    Aggregate { items: usize, examined: usize, kept: usize },
    Item { index: usize, kept: bool, element: bool },
    Otherwise { used_fallback: bool },
    IsNone { reason: bool },
    Rules { default_used: bool },
    Rule { applied: bool },
    Input,
    Param,
    Compare,
    Arithmetic,
    Round,
    Let,
    InSet,
    Field,
    Builtin,
    Split,
    Payment,
    Version,
    Value,
    Failed,
    Unfinished,
}

/// Bits of an aggregation's counts in an [`outcome`](Shape::outcome): three counts up to
/// [`Shape::MAX_EXACT_COUNT`] fit the 56 bits below the kind.
const COUNT_BITS: u32 = 18;
/// The largest element position an outcome holds exactly (it keeps 32 bits of it).
const MAX_EXACT_INDEX: usize = u32::MAX as usize;

impl Shape {
    /// The largest count of an aggregation an outcome holds exactly.
    pub const MAX_EXACT_COUNT: usize = (1 << COUNT_BITS) - 1;

    /// A number that tells shapes apart: shapes with different numbers differ (and shapes
    /// with the same number are the same where [`fixed_by_node`](Shape::fixed_by_node) holds).
    pub fn outcome(self) -> u64 {
        let small = |n: usize| n as u64 & 0xffff_ffff;
        let (variant, detail) = match self {
            Shape::Decision { memoised, args } => (1, u64::from(memoised) | small(args) << 1),
            Shape::Table { row } => (2, row.map_or(0, |r| small(r) + 1)),
            Shape::If { condition } => (3, u64::from(condition)),
            Shape::Match { arm } => (4, small(arm)),
            Shape::Logic { short_circuit } => (5, u64::from(short_circuit)),
            Shape::Aggregate { items, examined, kept } => {
                (6, small(items) ^ small(examined) << COUNT_BITS ^ small(kept) << (2 * COUNT_BITS))
            }
            Shape::Item { index, kept, element } => (7, small(index) << 2 | u64::from(kept) << 1 | u64::from(element)),
            Shape::Otherwise { used_fallback } => (8, u64::from(used_fallback)),
            Shape::IsNone { reason } => (9, u64::from(reason)),
            Shape::Rules { default_used } => (10, u64::from(default_used)),
            Shape::Rule { applied } => (11, u64::from(applied)),
            Shape::Input => (12, 0),
            Shape::Param => (13, 0),
            Shape::Compare => (14, 0),
            Shape::Arithmetic => (15, 0),
            Shape::Round => (16, 0),
            Shape::Let => (17, 0),
            Shape::InSet => (18, 0),
            Shape::Field => (19, 0),
            Shape::Builtin => (20, 0),
            Shape::Split => (21, 0),
            Shape::Payment => (22, 0),
            Shape::Version => (23, 0),
            Shape::Value => (24, 0),
            Shape::Failed => (25, 0),
            Shape::Unfinished => (26, 0),
        };
        variant << 56 ^ detail
    }

    /// Whether everything in a step of this shape but its values is fixed by its node, its
    /// shape and its number of children: its label, type and location are the node's, and
    /// the rest of its kind comes from the node's definition (the operator, the decision or
    /// table and its parameters or columns, the input path, the rounding) or is in the shape
    /// (the row matched and its location, the branch, the arm, whether memoised or
    /// short-circuited, an element's position and whether it was kept, an aggregation's
    /// counts while they are small enough for the outcome to hold them exactly). Versions
    /// (which one), failures (their message), reasons and the kinds not yet examined (sets,
    /// built-ins, rules, splits, payments) are not.
    pub fn fixed_by_node(self) -> bool {
        // Every shape is listed, so a new one must be placed on one side or the other.
        match self {
            Shape::Input
            | Shape::Param
            | Shape::If { .. }
            | Shape::Match { .. }
            | Shape::Compare
            | Shape::Logic { .. }
            | Shape::Arithmetic
            | Shape::Round
            | Shape::Table { .. }
            | Shape::Decision { .. }
            | Shape::Let
            | Shape::Value
            | Shape::Field => true,
            Shape::Item { index, .. } => index <= MAX_EXACT_INDEX,
            Shape::Aggregate { items, examined, kept } => {
                items <= Shape::MAX_EXACT_COUNT && examined <= Shape::MAX_EXACT_COUNT && kept <= Shape::MAX_EXACT_COUNT
            }
            Shape::Version
            | Shape::Failed
            | Shape::Unfinished
            | Shape::IsNone { .. }
            | Shape::Otherwise { .. }
            | Shape::InSet
            | Shape::Builtin
            | Shape::Rules { .. }
            | Shape::Rule { .. }
            | Shape::Split
            | Shape::Payment => false,
        }
    }

    /// Whether everything in a step of this shape is fixed by its node, its shape, its number
    /// of children and the "no value" reason it holds (`is none` and `otherwise`, which hold
    /// no other value).
    pub fn fixed_with_reason(self) -> bool {
        matches!(self, Shape::IsNone { .. } | Shape::Otherwise { .. })
    }
}

impl StepKind {
    /// The "no value" reason an `is none` or `otherwise` step holds.
    pub fn reason(&self) -> Option<&Arc<str>> {
        match self {
            StepKind::IsNone { reason } | StepKind::Otherwise { reason, .. } => reason.as_ref(),
            _ => None,
        }
    }

    /// The kind's [`Shape`].
    pub fn shape(&self) -> Shape {
        match self {
            StepKind::Decision { memoised, args, .. } => Shape::Decision { memoised: *memoised, args: args.len() },
            StepKind::Table { row, .. } => Shape::Table { row: *row },
            StepKind::If { condition, .. } => Shape::If { condition: *condition },
            StepKind::Match { arm, .. } => Shape::Match { arm: *arm },
            StepKind::Logic { short_circuit, .. } => Shape::Logic { short_circuit: *short_circuit },
            StepKind::Aggregate { items, examined, kept, .. } => {
                Shape::Aggregate { items: *items, examined: *examined, kept: *kept }
            }
            StepKind::Item { index, kept, element } => {
                Shape::Item { index: *index, kept: *kept, element: element.is_some() }
            }
            StepKind::Otherwise { used_fallback, .. } => Shape::Otherwise { used_fallback: *used_fallback },
            StepKind::IsNone { reason } => Shape::IsNone { reason: reason.is_some() },
            StepKind::Rules { default_used, .. } => Shape::Rules { default_used: *default_used },
            StepKind::Rule { applied, .. } => Shape::Rule { applied: *applied },
            StepKind::Input { .. } => Shape::Input,
            StepKind::Param { .. } => Shape::Param,
            StepKind::Compare { .. } => Shape::Compare,
            StepKind::Arithmetic { .. } => Shape::Arithmetic,
            StepKind::Round { .. } => Shape::Round,
            StepKind::Let => Shape::Let,
            StepKind::InSet { .. } => Shape::InSet,
            StepKind::Field { .. } => Shape::Field,
            StepKind::Builtin { .. } => Shape::Builtin,
            StepKind::Split { .. } => Shape::Split,
            StepKind::Payment(_) => Shape::Payment,
            StepKind::Version { .. } => Shape::Version,
            StepKind::Value => Shape::Value,
            StepKind::Failed { .. } => Shape::Failed,
            StepKind::Unfinished => Shape::Unfinished,
        }
    }

    /// Calls `f` on each value inside the kind, with its type, in the fixed order a trace
    /// writes them: a decision's arguments, a table's keys, operands, the value before
    /// rounding (of the step's type `ty`), an element, a scrutinee. Every other field is
    /// part of the kind's [`Shape`] or fixed by its node, or the kind is not
    /// [`fixed_by_node`](Shape::fixed_by_node).
    pub fn values_mut(&mut self, ty: &Ty, mut f: impl FnMut(&mut Value, &Ty)) {
        match self {
            StepKind::Decision { args, .. } | StepKind::Table { keys: args, .. } => {
                for a in args {
                    f(&mut a.value, &a.ty);
                }
            }
            StepKind::Arithmetic { operands, .. } | StepKind::Builtin { args: operands, .. } => {
                for o in operands {
                    f(&mut o.value, &o.ty);
                }
            }
            StepKind::Compare { left, right, .. } => {
                f(&mut left.value, &left.ty);
                f(&mut right.value, &right.ty);
            }
            StepKind::Match { scrutinee: operand, .. } | StepKind::InSet { value: operand, .. } => {
                f(&mut operand.value, &operand.ty)
            }
            StepKind::Round { before, .. } => f(before, ty),
            StepKind::Item { element, .. } => {
                if let Some(element) = element {
                    f(&mut element.value, &element.ty);
                }
            }
            StepKind::Input { .. }
            | StepKind::Param { .. }
            | StepKind::If { .. }
            | StepKind::Logic { .. }
            | StepKind::Aggregate { .. }
            | StepKind::Let
            | StepKind::Otherwise { .. }
            | StepKind::IsNone { .. }
            | StepKind::Field { .. }
            | StepKind::Rules { .. }
            | StepKind::Rule { .. }
            | StepKind::Split { .. }
            | StepKind::Payment(_)
            | StepKind::Version { .. }
            | StepKind::Value
            | StepKind::Failed { .. }
            | StepKind::Unfinished => {}
        }
    }
}
