//! The evaluator: a tree-walking interpreter over the IR arena, generic over a [`Tracer`].
//!
//! A [`Session`] holds one set of inputs and memoises parameterless decisions and params.
//! Every operation is checked: decimal arithmetic uses `checked_*` only, missing values
//! (`Value::None`) are refused by every operation except `is none` and `otherwise`, and both
//! the nesting of decision calls and the recursion of the evaluator itself are bounded, so a
//! malformed or pathological program yields an [`EvalError`], never a panic or a stack
//! overflow.
//!
//! Two habits keep the recursion cheap in stack, even in unoptimised builds where every
//! temporary gets its own slot: errors are boxed inside the evaluator (a `Result` is two
//! words), and the functions on the recursive path only evaluate sub-expressions; computing
//! the result, building errors and building trace steps happen in separate functions that
//! are not on the stack while the evaluator recurses.
//!
//! Trace steps are built only when `T::ENABLED`; the constant makes every trace branch
//! disappear for [`NoTrace`].
//!
//! Decided here, beyond what the types say:
//! - A table looked up with a key that has no value is E0503: every key must have a value
//!   (use `otherwise` on the key). A row that matches nothing gives "no value", not an error.
//! - `count` and `filter` do not use the aggregated values, so a missing one is kept as it
//!   is; `sum`, `min`, `max`, `all` and `any` refuse it (E0503). `all` and `any` stop at the
//!   first element that decides them, like `and` and `or`.
//! - `rate × duration` accepts the duration on either side.
//! - A parameterless decision is computed once per session. When a recorder asks for it
//!   again, it is evaluated again (evaluation is deterministic) so its steps can be shown,
//!   until the recorder's step budget is spent; after that it is shown by value only.
//! - A decision with parameters is also computed once per session for each set of
//!   arguments (see [`Memo`]); as above, a recorder that asks for a repeat's steps gets it
//!   evaluated again, and one that does not gets the value marked as memoised. Arguments
//!   are the same when they are identical (numbers with the same digits and scale, the very
//!   same record or list), so a value that could print differently is never taken from the
//!   memo; and a remembered value is used only where computing it again would stay within
//!   the nesting limits, so a call that would fail with E0508 still does.
//! - A tracer that keeps stretches of steps from row to row ([`Tracer::kept_calls`], a
//!   trace writer) has a call of a decision that depends on its arguments alone, or an
//!   aggregation's filter or body for an element, written again from an earlier row instead
//!   of evaluated, only where evaluating it would write the same steps (see [`kept`]).
//!
//! The hot path does not allocate: frames of finished calls are kept for the next call,
//! table keys and built-in arguments live on one stack shared by every level, the reasons
//! of table cells with no value are shared, and error messages are built only on errors.
//! [`Session::reset`] starts a new case in the same session, so a batch run keeps these
//! buffers from row to row.

mod compiled;
mod kept;
mod pending;

pub use compiled::Compiled;
pub(crate) use compiled::own_copy;
pub use kept::{KeptCalls, Stretch};

use crate::error::{EvalError, code};
use crate::index::{GridHit, Indexes};
use crate::ops::{self, Selected};
use crate::trace::{Arg, Name, NoTrace, Operand, Recorder, Step, StepKind, Tracer};
use covenant_ir::hash::{FxBuild, FxHasher};
use covenant_ir::value::display;
use covenant_ir::{
    AggOp, BinOp, Builtin, Cell, Date, DecisionDef, DecisionId, Duration, InputId, LocalId, MatchArm, Node, NodeId,
    NodeKind, ParamId, Program, RoundMode, RuleArm, Span, SplitId, TableDef, TableId, Ty, UnOp, Value, VersionArm,
};
pub(crate) use pending::Pending;
use pending::{ItemStep, NodeStepOf};
use rust_decimal::Decimal;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The deepest chain of nested decision calls allowed (error E0508 beyond).
pub const MAX_CALL_DEPTH: u32 = 256;
/// The deepest the evaluator recurses through expression nodes, counting across decision
/// calls (error E0508 beyond). Measured at under 2.7 KB of stack per level on the costliest
/// paths (decision calls, `and` chains) in an unoptimised build with tracing, so 500 levels
/// fit in a 2 MiB thread stack (the default for spawned threads and tests) with room to spare.
pub const MAX_EXPR_DEPTH: u32 = 500;
/// The longest chain of field reads the evaluator reads in place.
const MAX_BORROWED_LINKS: u32 = 8;
/// The most "no version is valid" errors a session keeps to give again.
const MAX_REMEMBERED_ERRORS: usize = 256;
/// Frame slots beyond this are refused (a corrupt `locals` count must not exhaust memory).
const MAX_FRAME: usize = 1 << 16;

pub(crate) type Frame = Vec<Value>;
/// Errors are boxed inside the evaluator to keep results (and stack frames) small.
pub(crate) type Res<T = Value> = Result<T, Box<EvalError>>;
/// Where the evaluator writes what it found for the step it is evaluating (when tracing).
pub(crate) type Detail = Pending;

/// Shared strings by the address and length of the program's text they copy.
type SharedNames = HashMap<(usize, usize), Name, FxBuild>;

/// One evaluation context: a program, one set of inputs, and the memo of decisions and params.
pub struct Session<'p> {
    program: &'p Program,
    inputs: Vec<Value>,
    pub(crate) decisions: Vec<Option<Value>>,
    params: Vec<Option<Value>>,
    /// The slots of `decisions` and `params` given a value since the last reset: a row
    /// computes a few of a program's decisions, and only those are emptied for the next.
    decisions_set: Vec<usize>,
    params_set: Vec<usize>,
    depth: u32,
    calls: u32,
    /// The deepest `depth` and `calls` reached so far: the memo records how deep each call
    /// went, so a remembered result is used only where evaluating it would not have gone
    /// past the limits.
    peak_depth: u32,
    peak_calls: u32,
    /// The placeholder in frame slots not yet bound (shared, so a call allocates only its frame).
    unbound: Value,
    /// The date that chooses dated versions: given by the caller, or computed once from the
    /// program's `as of` declaration.
    as_of: Option<Date>,
    /// Table indexes shared by many sessions (batch runs); without them, lookups scan.
    indexes: Option<&'p Indexes>,
    /// Decision bodies compiled for evaluation without a tracer, shared by many sessions.
    compiled: Option<&'p Compiled>,
    /// Set while the `as of` date is being computed, so a date that depends on a dated
    /// version is reported instead of recursing.
    computing_as_of: bool,
    /// The date given with [`Session::with_as_of`], kept when the session is reset.
    given_as_of: Option<Date>,
    /// Frames of finished calls, reused so that a call does not allocate.
    spare_frames: Vec<Frame>,
    /// Table keys and built-in arguments being evaluated: one stack for every level.
    scratch: Vec<Value>,
    /// Results of decisions with parameters, by arguments (untraced evaluation only).
    memo: Memo,
    /// "No value" reasons of table cells and of tables without a matching row, shared
    /// instead of allocated at each lookup (keyed by the address of the program's text, or
    /// by table for "no row matched").
    reasons: HashMap<ReasonKey, Arc<str>, FxBuild>,
    /// The reasons of the `none` cells compiled table lookups have met, by the cell's place
    /// among every table's rows ([`compiled`]): one index, no hashing.
    cell_reasons: Vec<Option<Arc<str>>>,
    /// This session's own copies of the compiled constants that hold shared storage (text,
    /// reasons, records, lists), by their number ([`compiled`]): sessions on other threads
    /// count references to theirs, not to the one in the compiled program, so no two cores
    /// write to one count.
    own_constants: Vec<Option<Value>>,
    /// The lists of the compiled aggregations running whose elements are read in place, and
    /// the element each is at ([`compiled`]).
    element_stack: Vec<(Arc<[Value]>, usize)>,
    /// Step labels and locations by node, made once per session and shared by every step of
    /// the node (tracing only).
    labels: RefCell<Vec<Option<(Name, Span)>>>,
    /// Whether each node is a step of its own ([`Session::is_step`]), by node, worked out
    /// once per session (`None` until then; tracing only).
    step_nodes: Vec<Option<bool>>,
    /// The labels `item 1`, `item 2`, … of aggregated elements, made once per session
    /// (tracing only).
    item_labels: RefCell<Vec<Name>>,
    /// The field path being read (tracing only), kept to reuse its buffer.
    path_fields: Vec<(NodeId, u32)>,
    /// Values kept for the steps of the nodes being evaluated (a call's arguments, a table's
    /// keys), a stack shared by every level (tracing only; see [`pending`]).
    held: Vec<Value>,
    /// Names from the program shown in steps (decisions, tables, parameters, columns), by the
    /// address of the program's text, made once per session (tracing only).
    names: RefCell<SharedNames>,
    /// Decisions' names (at even places, by number) and tables' (at odd places), made once
    /// per session (tracing only).
    name_pairs: RefCell<Vec<Option<(Name, Name)>>>,
    /// The validity of each dated version as a version step shows it, by the version's
    /// address in the program, and the last evaluation date shown (tracing only): a dated
    /// table is looked up on every row.
    valid_texts: HashMap<usize, Name, FxBuild>,
    date_text: Option<(Date, Name)>,
    /// "No version is valid" errors by node and date, kept from row to row: a cohort with
    /// dates outside every version fails the same way on many rows, and the error (with its
    /// list of versions) is costly to build.
    no_version: HashMap<(NodeId, Date), Box<EvalError>, FxBuild>,
    /// Whether each decision depends on its arguments alone, so that a tracer may keep its
    /// calls from row to row ([`kept`]), worked out the first time a tracer keeps calls.
    keepable: Option<Vec<bool>>,
    /// The arguments of the calls inside a kept call, as they are put in the memo, and
    /// where each call's end with their hash (kept to reuse the buffers).
    kept_args: Vec<Value>,
    kept_spans: Vec<(usize, u64)>,
    /// Whether each aggregation's filter or body node reads no local but its element's, and
    /// nothing a keepable decision could not ([`kept`]), by node, worked out once (`None`
    /// until then).
    keepable_elements: Vec<Option<bool>>,
}

/// What [`Session::names_of`] names.
#[derive(Clone, Copy)]
enum Named {
    Decision(DecisionId),
    Table(TableId),
}

/// Evaluates a node that needs no frame and no inputs (test `given`/`expect` values, params).
pub fn eval_constant(program: &Program, node: NodeId) -> Result<Value, EvalError> {
    let mut session = Session::new(program, Vec::new());
    session.eval(node, &mut Vec::new(), &mut NoTrace).map_err(|e| *e)
}

/// A node and its id, passed together to the operation handlers.
#[derive(Clone, Copy)]
pub(crate) struct At<'p> {
    id: NodeId,
    node: &'p Node,
}

impl At<'_> {
    fn span(self) -> Span {
        self.node.origin.span
    }
}

impl<'p> Session<'p> {
    /// A session over `inputs`, indexed by `InputId`. An optional input not supplied (or
    /// supplied as `Value::None`) has no value, with the reason "not given".
    pub fn new(program: &'p Program, inputs: Vec<Value>) -> Session<'p> {
        Session {
            program,
            inputs,
            decisions: vec![None; program.decisions.len()],
            params: vec![None; program.params.len()],
            decisions_set: Vec::new(),
            params_set: Vec::new(),
            depth: 0,
            calls: 0,
            peak_depth: 0,
            peak_calls: 0,
            unbound: Value::None(Arc::from("unbound local")),
            as_of: None,
            indexes: None,
            compiled: None,
            computing_as_of: false,
            given_as_of: None,
            spare_frames: Vec::new(),
            scratch: Vec::new(),
            memo: Memo::default(),
            reasons: HashMap::default(),
            cell_reasons: Vec::new(),
            own_constants: Vec::new(),
            element_stack: Vec::new(),
            labels: RefCell::new(Vec::new()),
            step_nodes: Vec::new(),
            item_labels: RefCell::new(Vec::new()),
            path_fields: Vec::new(),
            held: Vec::new(),
            names: RefCell::new(HashMap::default()),
            name_pairs: RefCell::new(Vec::new()),
            valid_texts: HashMap::default(),
            date_text: None,
            no_version: HashMap::default(),
            keepable: None,
            kept_args: Vec::new(),
            kept_spans: Vec::new(),
            keepable_elements: Vec::new(),
        }
    }

    /// Starts over with another case's inputs, as [`Session::new`] would, but keeps the
    /// table indexes, the date given with [`Session::with_as_of`] and the buffers that do
    /// not depend on the inputs, so a batch run can use one session for many rows.
    pub fn reset(&mut self, inputs: Vec<Value>) {
        self.inputs = inputs;
        for index in self.decisions_set.drain(..) {
            if let Some(slot) = self.decisions.get_mut(index) {
                *slot = None;
            }
        }
        for index in self.params_set.drain(..) {
            if let Some(slot) = self.params.get_mut(index) {
                *slot = None;
            }
        }
        self.depth = 0;
        self.calls = 0;
        self.peak_depth = 0;
        self.peak_calls = 0;
        self.as_of = self.given_as_of;
        self.computing_as_of = false;
        self.scratch.clear();
        self.held.clear();
        self.memo.clear();
        self.element_stack.clear();
    }

    /// Forgets the case, as [`Session::reset`] does, and gives back its inputs: nothing the
    /// session computed holds them any more, so a batch run can read the next row into the
    /// storage of their lists and records.
    pub fn take_inputs(&mut self) -> Vec<Value> {
        let inputs = std::mem::take(&mut self.inputs);
        self.reset(Vec::new());
        inputs
    }

    /// Forgets every value computed so far (decisions, params, calls remembered), keeping
    /// the inputs: the next evaluation computes, and so can explain, every step itself.
    pub fn start_over(&mut self) {
        let inputs = std::mem::take(&mut self.inputs);
        self.reset(inputs);
    }

    /// Looks rows up through prebuilt indexes (see [`Indexes`]) instead of scanning tables.
    pub fn with_indexes(mut self, indexes: &'p Indexes) -> Session<'p> {
        self.indexes = Some(indexes);
        self
    }

    /// Evaluates decision bodies compiled (see [`Compiled`]) when there is no tracer; bodies
    /// compiled from another program are not used.
    pub fn with_compiled(mut self, compiled: &'p Compiled) -> Session<'p> {
        if compiled.program == std::ptr::from_ref(self.program) as usize {
            self.compiled = Some(compiled);
            self.own_constants.clear();
        }
        self
    }

    /// Chooses dated versions by this date instead of the program's `as of` declaration.
    pub fn with_as_of(mut self, date: Date) -> Session<'p> {
        self.as_of = Some(date);
        self.given_as_of = Some(date);
        self
    }

    /// The date that chooses versions: the caller's, or the program's `as of` (computed once).
    fn evaluation_date(&mut self, at: At<'p>) -> Res<Date> {
        if let Some(date) = self.as_of {
            return Ok(date);
        }
        if self.computing_as_of {
            return Err(Box::new(
                EvalError::new(
                    code::NO_DATE,
                    "the `as of` date depends on a dated version, which needs that date",
                    at.span(),
                )
                .with_label(at.span(), "this has dated versions")
                .with_note("compute the `as of` date from inputs and undated values only"),
            ));
        }
        let Some(node) = self.program.as_of else {
            return Err(Box::new(
                EvalError::new(code::NO_DATE, "there is no date to choose a version by", at.span())
                    .with_label(at.span(), "this has dated versions")
                    .with_note(
                        "declare `as of …` (for example the service date from the inputs), or run with `--as-of DATE`",
                    ),
            ));
        };
        self.computing_as_of = true;
        let date = self.eval(node, &mut Vec::new(), &mut NoTrace);
        self.computing_as_of = false;
        match date? {
            Value::Date(date) => {
                self.as_of = Some(date);
                Ok(date)
            }
            Value::None(reason) => Err(Box::new(
                EvalError::new(code::NO_DATE, format!("the `as of` date has no value: {reason}"), at.span())
                    .with_label(at.span(), "this has dated versions"),
            )),
            _ => Err(internal(at.span(), "the `as of` date is not a date")),
        }
    }

    /// A party's part of an amount under a split; every part is computed, so the explanation
    /// can show that they sum to the whole.
    fn split<T: Tracer>(
        &mut self,
        at: At<'p>,
        (id, amount, party): (SplitId, NodeId, NodeId),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        let program = self.program;
        let Some(def) = program.splits.get(id.index()) else {
            return Err(internal(at.span(), format!("split #{} does not exist", id.0)));
        };
        let total = self.eval(amount, frame, tracer)?;
        let total = self.number(&total, self.at(amount, at.span())?, at, "a split")?;
        let who = self.eval(party, frame, tracer)?;
        let Value::Enum(who) = who else {
            return Err(internal(at.span(), "a split's party is not an enum value"));
        };
        let Some(parts) = def.allocate(total) else {
            return Err(Box::new(
                EvalError::new(code::OVERFLOW, format!("sharing out {total} overflowed"), at.span())
                    .with_label(at.span(), "too large to share out"),
            ));
        };
        let mine = parts.iter().find(|(p, _)| *p == who).map_or(Decimal::ZERO, |(_, amount)| *amount);
        if T::ENABLED {
            let parties = parts
                .iter()
                .map(|(p, amount)| {
                    let share = def.shares.iter().find(|(q, _)| q == p).map_or(Decimal::ZERO, |(_, s)| *s);
                    (*p, share, *amount)
                })
                .collect();
            *detail = Pending::made(StepKind::Split {
                name: def.name.clone(),
                total,
                parts: parties,
                party: who,
                remainder_to: def.remainder,
            });
        }
        Ok(Value::Num(mine))
    }

    /// A reference to something with dated versions: evaluates the version valid on the date.
    fn versioned<T: Tracer>(
        &mut self,
        at: At<'p>,
        (name, versions): (&'p str, &'p [VersionArm]),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        let date = self.evaluation_date(at)?;
        let Some(arm) = versions.iter().find(|v| v.valid.contains(date)) else {
            if let Some(error) = self.no_version.get(&(at.id, date)) {
                return Err(error.clone());
            }
            let error = no_version(at.span(), name, versions, date);
            if self.no_version.len() < MAX_REMEMBERED_ERRORS {
                self.no_version.insert((at.id, date), error.clone());
            }
            return Err(error);
        };
        let value = self.eval(arm.node, frame, tracer)?;
        if T::ENABLED {
            let valid = self
                .valid_texts
                .entry(arm as *const VersionArm as usize)
                .or_insert_with(|| arm.valid.to_string().into());
            let valid = valid.clone();
            let date = match &self.date_text {
                Some((shown, text)) if *shown == date => text.clone(),
                _ => self.date_text.insert((date, date.to_string().into())).1.clone(),
            };
            *detail = Pending::made(StepKind::Version { name: self.name(name), valid, date });
        }
        Ok(value)
    }

    pub fn program(&self) -> &'p Program {
        self.program
    }

    /// Evaluates an expression that needs no frame against this session's inputs: the target
    /// of a test's `expect`, such as `review_due(C4, 2015-01-01)`.
    pub fn expression<T: Tracer>(&mut self, id: NodeId, tracer: &mut T) -> Result<Value, EvalError> {
        if self.program.nodes.get(id.index()).is_none() {
            return Err(EvalError::internal(Span::default(), format!("node #{} does not exist", id.0)));
        }
        self.eval(id, &mut Vec::new(), tracer).map_err(|e| *e)
    }

    /// Evaluates a parameterless decision (memoised for the rest of the session).
    pub fn decision<T: Tracer>(&mut self, id: DecisionId, tracer: &mut T) -> Result<Value, EvalError> {
        let program = self.program;
        let Some(def) = program.decisions.get(id.index()) else {
            return Err(EvalError::internal(Span::default(), format!("decision #{} does not exist", id.0)));
        };
        if !def.params.is_empty() {
            return Err(EvalError::internal(
                def.name_span,
                format!("decision `{}` takes parameters and cannot be evaluated on its own", def.name),
            ));
        }
        if T::ENABLED {
            tracer.enter();
        }
        let result = self.call(id, Vec::new(), def.name_span, tracer);
        if T::ENABLED {
            let mut step = Step {
                kind: StepKind::Unfinished,
                node: None,
                label: self.name(&def.name),
                value: None,
                ty: def.ty.clone(),
                span: def.name_span,
                children: Vec::new(),
            };
            match &result {
                Ok((value, memoised)) => {
                    step.kind = self.decision_kind(id, Vec::new(), *memoised);
                    step.value = Some(value.clone());
                    tracer.exit(step);
                }
                Err(e) => tracer.fail(step, e.code, &e.message),
            }
        }
        result.map(|(value, _)| value).map_err(|e| *e)
    }

    /// Evaluates a decision afresh and records its explanation, which then stands alone:
    /// every step it depends on is computed again for it and shown once in it (a repeat is
    /// shown by value and marked memoised). What `covenant eval --explain` shows.
    pub fn explain_decision(&mut self, id: DecisionId) -> (Result<Value, EvalError>, Option<Step>) {
        self.start_over();
        let mut recorder = Recorder::with_limit(0);
        let result = self.decision(id, &mut recorder);
        (result, recorder.finish())
    }

    // ---- the recursive path --------------------------------------------------------------
    //
    // Functions in this section call `eval` (directly or not). Keep them to evaluating
    // sub-expressions and delegating; see the module documentation.

    /// Runs a decision's body in a fresh frame; returns the value and whether it was memoised.
    fn call<T: Tracer>(&mut self, id: DecisionId, args: Vec<Value>, site: Span, tracer: &mut T) -> Res<(Value, bool)> {
        let (body, mut frame, cached) = match self.prepare_call(id, args, site)? {
            Prepared::Cached(value) if !T::ENABLED || !tracer.expand_repeats() => return Ok((value, true)),
            Prepared::Cached(value) => {
                let (body, frame) = self.rerun(id, site)?;
                (body, frame, Some(value))
            }
            Prepared::Run(body, frame) => (body, frame, None),
        };
        self.calls += 1;
        self.peak_calls = self.peak_calls.max(self.calls);
        let result = self.run_body(id, body, &mut frame, tracer);
        self.calls -= 1;
        self.recycle(frame);
        let value = result?;
        if cached.is_none() {
            self.memoise(id, &value);
        }
        Ok((value, cached.is_some()))
    }

    /// Evaluates a decision's body: compiled when there is no tracer, the session has the
    /// compiled program and every level of the body is within the nesting limit (see
    /// [`compiled`]); else node by node.
    fn run_body<T: Tracer>(&mut self, id: DecisionId, body: NodeId, frame: &mut Frame, tracer: &mut T) -> Res {
        if !T::ENABLED
            && let Some(compiled) = self.compiled
            && let Some(Some(code)) = compiled.bodies.get(id.index())
            && self.depth + code.levels <= MAX_EXPR_DEPTH
        {
            self.peak_depth = self.peak_depth.max(self.depth + code.levels);
            return (code.code)(self, frame);
        }
        self.eval(body, frame, tracer)
    }

    /// Evaluates a node: the one recursive entry point, with the depth guard.
    pub(crate) fn eval<T: Tracer>(&mut self, id: NodeId, frame: &mut Frame, tracer: &mut T) -> Res {
        let at = self.enter_node(id)?;
        self.depth += 1;
        self.peak_depth = self.peak_depth.max(self.depth);
        let result = if T::ENABLED && self.is_step(at) {
            self.eval_traced(at, frame, tracer)
        } else {
            self.eval_kind(at, frame, tracer, &mut Pending::None)
        };
        self.depth -= 1;
        result
    }

    fn eval_traced<T: Tracer>(&mut self, at: At<'p>, frame: &mut Frame, tracer: &mut T) -> Res {
        tracer.enter();
        // Values held for this node's step (and any a failure below left) go when it closes.
        let held = self.held.len();
        let mut detail = Pending::None;
        let result = self.eval_kind(at, frame, tracer, &mut detail);
        self.close_step(at, &result, detail, tracer);
        self.held.truncate(held);
        result
    }

    /// Evaluates a node so that it is exactly one step (wrapping it when it is trivial).
    fn eval_single<T: Tracer>(&mut self, id: NodeId, frame: &mut Frame, tracer: &mut T) -> Res {
        if !T::ENABLED {
            return self.eval(id, frame, tracer);
        }
        tracer.enter();
        let result = self.eval(id, frame, tracer);
        self.close_single(id, &result, tracer);
        result
    }

    fn eval_kind<T: Tracer>(&mut self, at: At<'p>, frame: &mut Frame, tracer: &mut T, detail: &mut Detail) -> Res {
        match &at.node.kind {
            NodeKind::Const(v) => Ok(v.clone()),
            NodeKind::Local(local) => read_local(frame, *local, at.span()),
            NodeKind::Input(id) => self.read_input::<T>(at, *id, detail),
            NodeKind::Param(id) => self.read_param::<T>(at, *id, detail),
            NodeKind::Decision { id, args } => self.decision_node(at, (*id, args), frame, tracer, detail),
            NodeKind::Table { id, args } => self.table(at, (*id, args), frame, tracer, detail),
            NodeKind::Unary(op, x) => self.unary(at, (*op, *x), frame, tracer, detail),
            NodeKind::Binary(op, l, r) => self.binary(at, (*op, *l, *r), frame, tracer, detail),
            NodeKind::If { cond, then, els } => self.if_node(at, (*cond, *then, *els), frame, tracer, detail),
            NodeKind::Match { scrutinee, arms } => self.match_node(at, (*scrutinee, arms), frame, tracer, detail),
            NodeKind::Let { local, value, body } => self.let_node(at, (*local, *value, *body), frame, tracer),
            NodeKind::Field { record, index } => self.field_node(at, (*record, *index), frame, tracer, detail),
            NodeKind::Record(items) => self.record_or_list(at, items, frame, tracer),
            NodeKind::List(items) => self.record_or_list(at, items, frame, tracer),
            NodeKind::Aggregate { op, local, list, body, filter } => self.aggregate(
                at,
                Agg { op: *op, local: *local, list: *list, body: *body, filter: *filter },
                frame,
                tracer,
                detail,
            ),
            NodeKind::Round { value, places, mode } => self.round(at, (*value, *places, *mode), frame, tracer, detail),
            NodeKind::Builtin { f, args } => self.builtin(at, (*f, args), frame, tracer, detail),
            NodeKind::InSet { value, variants } => self.in_set(at, (*value, variants), frame, tracer, detail),
            NodeKind::IsNone(x) => self.is_none(*x, frame, tracer, detail),
            NodeKind::Otherwise(primary, fallback) => self.otherwise(*primary, *fallback, frame, tracer, detail),
            NodeKind::Rules { rules, default } => self.rules_node(at, (rules, *default), frame, tracer, detail),
            NodeKind::Versioned { name, versions } => self.versioned(at, (name, versions), frame, tracer, detail),
            NodeKind::Split { id, amount, party } => self.split(at, (*id, *amount, *party), frame, tracer, detail),
            NodeKind::Payment(id) => self.payment_node(at.span(), *id, tracer, detail),
            NodeKind::PaymentPart { id, party, receiving } => {
                self.payment_part(at.span(), (*id, *party, *receiving), frame, tracer, detail)
            }
            NodeKind::ContractDate(which) => self.contract_date(at.span(), *which),
        }
    }

    fn record_or_list<T: Tracer>(&mut self, at: At<'p>, items: &[NodeId], frame: &mut Frame, tracer: &mut T) -> Res {
        let base = self.push_values(items, frame, tracer)?;
        let values: Arc<[Value]> = self.scratch.drain(base..).collect();
        Ok(if matches!(at.node.kind, NodeKind::Record(_)) { Value::Record(values) } else { Value::List(values) })
    }

    fn round<T: Tracer>(
        &mut self,
        at: At<'p>,
        (value, places, mode): (NodeId, u32, RoundMode),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        let v = self.eval(value, frame, tracer)?;
        self.finish_round::<T>(at, (value, v), (places, mode), detail)
    }

    fn builtin<T: Tracer>(
        &mut self,
        at: At<'p>,
        (f, args): (Builtin, &[NodeId]),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        let base = self.push_values(args, frame, tracer)?;
        let result = self.finish_builtin::<T>(at, (f, args), &self.scratch[base..], detail);
        self.scratch.truncate(base);
        result
    }

    fn in_set<T: Tracer>(
        &mut self,
        at: At<'p>,
        (value, variants): (NodeId, &[u32]),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        let v = self.eval(value, frame, tracer)?;
        self.finish_in_set::<T>(at, (value, v), variants, detail)
    }

    fn is_none<T: Tracer>(&mut self, x: NodeId, frame: &mut Frame, tracer: &mut T, detail: &mut Detail) -> Res {
        let v = self.eval(x, frame, tracer)?;
        if T::ENABLED {
            let reason = match &v {
                Value::None(r) => Some(r.clone()),
                _ => None,
            };
            *detail = Pending::IsNone { reason };
        }
        Ok(Value::Bool(v.is_none()))
    }

    fn otherwise<T: Tracer>(
        &mut self,
        primary: NodeId,
        fallback: NodeId,
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        let v = self.eval_single(primary, frame, tracer)?;
        let Value::None(reason) = v else {
            if T::ENABLED {
                *detail = Pending::Otherwise { reason: None };
            }
            return Ok(v);
        };
        let value = self.eval(fallback, frame, tracer)?;
        if T::ENABLED {
            *detail = Pending::Otherwise { reason: Some(reason) };
        }
        Ok(value)
    }

    /// Evaluates `items` onto the scratch stack and returns where they start; the caller
    /// truncates the stack back to that point. On an error the stack is already back.
    fn push_values<T: Tracer>(&mut self, items: &[NodeId], frame: &mut Frame, tracer: &mut T) -> Res<usize> {
        self.push_with(items, |s, &item| s.eval(item, frame, tracer))
    }

    /// Evaluates `items` with `eval` onto the scratch stack (the interpreter's nodes, or
    /// compiled closures) and returns where they start, as [`Session::push_values`] does.
    #[inline(always)]
    fn push_with<I>(&mut self, items: &[I], mut eval: impl FnMut(&mut Self, &I) -> Res) -> Res<usize> {
        let base = self.scratch.len();
        for item in items {
            match eval(self, item) {
                Ok(value) => self.scratch.push(value),
                Err(e) => {
                    self.scratch.truncate(base);
                    return Err(e);
                }
            }
        }
        Ok(base)
    }

    /// Evaluates a call's arguments with `eval` straight into the callee's frame (a reused
    /// one, given back on an error).
    #[inline(always)]
    fn arguments_with<I>(&mut self, items: &[I], mut eval: impl FnMut(&mut Self, &I) -> Res) -> Res<Frame> {
        let mut values = if items.is_empty() { Vec::new() } else { self.spare_frames.pop().unwrap_or_default() };
        for item in items {
            match eval(self, item) {
                Ok(value) => values.push(value),
                Err(e) => {
                    self.recycle(values);
                    return Err(e);
                }
            }
        }
        Ok(values)
    }

    fn decision_node<T: Tracer>(
        &mut self,
        at: At<'p>,
        (id, args): (DecisionId, &[NodeId]),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        if !T::ENABLED
            && let [arg] = args
            && let Some(NodeKind::Local(local)) = self.program.nodes.get(arg.index()).map(|n| &n.kind)
            && let Some((_, Recall::Value(value))) = self.recall_in_place(id, *local, frame)
        {
            return Ok(value);
        }
        let values = self.arguments_with(args, |s, &arg| s.eval(arg, frame, tracer))?;
        // The arguments as the step shows them (the call may reuse their slots).
        let shown = if T::ENABLED { self.hold(&values) } else { Default::default() };
        let (value, memoised) = self.call_with(id, values, at.span(), tracer)?;
        if T::ENABLED && self.program.decisions.get(id.index()).is_some() {
            *detail = Pending::Decision { id, args: shown, memoised };
        }
        Ok(value)
    }

    /// A call on one local (`item_points(r)`) looked up in the memo with the local in place,
    /// so that a repeat copies no argument: the arguments' hash and what the memo holds, or
    /// `None` where reading the local would go deeper than the nesting limit.
    #[inline(always)]
    fn recall_in_place(&mut self, id: DecisionId, local: LocalId, frame: &Frame) -> Option<(u64, Recall)> {
        if self.depth >= MAX_EXPR_DEPTH {
            return None;
        }
        let arg = frame.get(local.index()).map(std::slice::from_ref)?;
        let hash = memo_hash(id, arg);
        Some((hash, self.recall(hash, id, arg)))
    }

    /// Calls a decision on evaluated arguments (through the memo when it has parameters).
    fn call_with<T: Tracer>(&mut self, id: DecisionId, args: Frame, site: Span, tracer: &mut T) -> Res<(Value, bool)> {
        if args.is_empty() { self.call(id, args, site, tracer) } else { self.call_memoised(id, args, site, tracer) }
    }

    fn table<T: Tracer>(
        &mut self,
        at: At<'p>,
        (id, args): (TableId, &[NodeId]),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        let base = self.push_values(args, frame, tracer)?;
        let selected = self.select_row(at, id, args, &self.scratch[base..]);
        // The key values as the step shows them.
        let keys = if T::ENABLED { self.hold_scratch(base) } else { Default::default() };
        self.scratch.truncate(base);
        let (table, row) = selected?;
        let value = self.table_value(id, (table, row), tracer)?;
        if T::ENABLED {
            *detail = Pending::Table { id, keys, row };
        }
        Ok(value)
    }

    /// The value of the row a lookup selected (its cell evaluated), or no value with the
    /// cell's reason or "no row matched".
    fn table_value<T: Tracer>(
        &mut self,
        id: TableId,
        (table, row): (&'p TableDef, Option<usize>),
        tracer: &mut T,
    ) -> Res {
        Ok(match row.map(|i| &table.rows[i].cell) {
            None => Value::None(
                self.reason(ReasonKey::Unmatched(id.0), || format!("no row of table {} matched", table.name)),
            ),
            Some(Cell::NoValue(reason)) => {
                Value::None(self.reason(ReasonKey::Text(reason.as_ptr() as usize, reason.len()), || reason.clone()))
            }
            Some(Cell::Value(cell)) => match self.program.nodes.get(cell.index()).map(|n| &n.kind) {
                // A constant cell (most are) without a step to record: its value, at the level
                // `eval` would count it.
                Some(NodeKind::Const(value)) if !T::ENABLED && self.depth < MAX_EXPR_DEPTH => {
                    self.peak_depth = self.peak_depth.max(self.depth + 1);
                    value.clone()
                }
                _ => self.eval(*cell, &mut Vec::new(), tracer)?,
            },
        })
    }

    fn unary<T: Tracer>(
        &mut self,
        at: At<'p>,
        (op, x): (UnOp, NodeId),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        match op {
            UnOp::Not => {
                let v = self.eval_single(x, frame, tracer)?;
                let b = self.truth(v, x, at, "`not`")?;
                if T::ENABLED {
                    *detail = Pending::Logic { short_circuit: false };
                }
                Ok(Value::Bool(!b))
            }
            UnOp::Neg => {
                let v = self.eval(x, frame, tracer)?;
                self.negate::<T>(at, x, v, detail)
            }
        }
    }

    fn binary<T: Tracer>(
        &mut self,
        at: At<'p>,
        (op, l, r): (BinOp, NodeId, NodeId),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        if matches!(op, BinOp::And | BinOp::Or) {
            return self.logic(at, (op, l, r), frame, tracer, detail);
        }
        let a = self.eval(l, frame, tracer)?;
        let b = self.eval(r, frame, tracer)?;
        self.finish_binary::<T>(at, (op, l, r), (a, b), detail)
    }

    fn logic<T: Tracer>(
        &mut self,
        at: At<'p>,
        (op, l, r): (BinOp, NodeId, NodeId),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        let a = self.eval_single(l, frame, tracer)?;
        let a = self.truth(a, l, at, op.symbol())?;
        if decides(op, a) {
            if T::ENABLED {
                *detail = Pending::Logic { short_circuit: true };
            }
            return Ok(Value::Bool(a));
        }
        let b = self.eval_single(r, frame, tracer)?;
        let b = self.truth(b, r, at, op.symbol())?;
        if T::ENABLED {
            *detail = Pending::Logic { short_circuit: false };
        }
        Ok(Value::Bool(b))
    }

    fn if_node<T: Tracer>(
        &mut self,
        at: At<'p>,
        (cond, then, els): (NodeId, NodeId, NodeId),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        let c = self.eval_single(cond, frame, tracer)?;
        let condition = self.truth(c, cond, at, "the condition of `if`")?;
        let value = self.eval(if condition { then } else { els }, frame, tracer)?;
        if T::ENABLED {
            *detail = Pending::If { condition };
        }
        Ok(value)
    }

    fn match_node<T: Tracer>(
        &mut self,
        at: At<'p>,
        (scrutinee, arms): (NodeId, &'p [MatchArm]),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        let s = self.eval_single(scrutinee, frame, tracer)?;
        let (index, arm) = self.select_arm(at, scrutinee, &s, arms)?;
        let value = self.eval(arm.body, frame, tracer)?;
        if T::ENABLED {
            *detail = Pending::Match { scrutinee: (scrutinee, s), arm: index, arm_span: arm.span };
        }
        Ok(value)
    }

    /// A decision written as rules. The roots (rules that are no exception) are weighed
    /// together: two that apply are a conflict (E0509); none that applies falls back to the
    /// default, or is an empty result (E0510).
    fn rules_node<T: Tracer>(
        &mut self,
        at: At<'p>,
        (rules, default): (&'p [RuleArm], Option<NodeId>),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        let applied = self.weigh(at, rules, None, frame, tracer)?;
        let (value, winner) = match applied {
            Some((value, i)) => (value, Some(i)),
            None => match default {
                Some(d) => (self.eval(d, frame, tracer)?, None),
                None => return Err(no_rule_applies(at.span())),
            },
        };
        if T::ENABLED {
            let label = winner.and_then(|i| rules.get(i)).map(|r| r.label.clone());
            *detail = Pending::made(StepKind::Rules { default_used: winner.is_none(), applied: label });
        }
        Ok(value)
    }

    /// Weighs rules of one rank (the roots, or the exceptions to one rule), in order: the one
    /// that applies, if any; two that apply are a conflict.
    fn weigh<T: Tracer>(
        &mut self,
        at: At<'p>,
        rules: &'p [RuleArm],
        parent: Option<u32>,
        frame: &mut Frame,
        tracer: &mut T,
    ) -> Res<Option<(Value, usize)>> {
        let rank = (0..rules.len()).filter(|&i| rules[i].parent == parent);
        weigh_rank(rank, rules, |i| self.apply_rule(at, rules, i, frame, tracer))
    }

    /// A rule applies through one of its exceptions, or else when its own condition holds.
    /// Returns the value and the index of the rule that gave it.
    fn apply_rule<T: Tracer>(
        &mut self,
        at: At<'p>,
        rules: &'p [RuleArm],
        index: usize,
        frame: &mut Frame,
        tracer: &mut T,
    ) -> Res<Option<(Value, usize)>> {
        let rule = &rules[index];
        if T::ENABLED {
            tracer.enter();
        }
        let result = self.apply_rule_inner(at, rules, index, frame, tracer);
        if T::ENABLED {
            let exception_to = rule.parent.and_then(|p| rules.get(p as usize)).map(|p| p.label.clone());
            let mut step = Step {
                kind: StepKind::Unfinished,
                node: None,
                label: self.name(&rule.label),
                value: None,
                ty: at.node.ty.clone(),
                span: rule.span,
                children: Vec::new(),
            };
            match &result {
                Ok(outcome) => {
                    let overridden_by =
                        outcome.as_ref().filter(|(_, w)| *w != index).map(|(_, w)| rules[*w].label.clone());
                    step.kind = StepKind::Rule {
                        label: rule.label.clone(),
                        applied: outcome.is_some(),
                        exception_to,
                        overridden_by,
                    };
                    step.value = outcome.as_ref().map(|(v, _)| v.clone());
                    tracer.exit(step);
                }
                Err(e) => tracer.fail(step, e.code, &e.message),
            }
        }
        result
    }

    fn apply_rule_inner<T: Tracer>(
        &mut self,
        at: At<'p>,
        rules: &'p [RuleArm],
        index: usize,
        frame: &mut Frame,
        tracer: &mut T,
    ) -> Res<Option<(Value, usize)>> {
        if let Some(overriding) = self.weigh(at, rules, Some(index as u32), frame, tracer)? {
            return Ok(Some(overriding));
        }
        let rule = &rules[index];
        let holds = match rule.condition {
            None => true,
            Some(c) => {
                let v = self.eval_single(c, frame, tracer)?;
                self.truth(v, c, at, "a rule's condition")?
            }
        };
        if !holds {
            return Ok(None);
        }
        Ok(Some((self.eval(rule.value, frame, tracer)?, index)))
    }

    /// `let`: the binding is a step of its own; the body's steps follow it as siblings.
    fn let_node<T: Tracer>(
        &mut self,
        at: At<'p>,
        (local, value, body): (LocalId, NodeId, NodeId),
        frame: &mut Frame,
        tracer: &mut T,
    ) -> Res {
        if T::ENABLED {
            tracer.enter();
        }
        let bound = self.eval(value, frame, tracer);
        if T::ENABLED {
            self.close_let(at, value, &bound, tracer);
        }
        bind(frame, local, bound?, at.span())?;
        self.eval(body, frame, tracer)
    }

    fn field_node<T: Tracer>(
        &mut self,
        at: At<'p>,
        (record, index): (NodeId, u32),
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        // A field path on an input or param is a step of its own (on a local it is not).
        if T::ENABLED && self.is_step(at) {
            // The path's buffer is kept from node to node (a traced row reads many paths).
            let mut fields = std::mem::take(&mut self.path_fields);
            let read = self.path_into(at.node, &mut fields).map(|root| self.read_path(at, root, &fields, detail));
            self.path_fields = fields;
            if let Some(result) = read {
                return result;
            }
        }
        // A field of a local or an input (or of a record field of one) is read in place,
        // without copying the records on the way; those reads would have been the next levels
        // down, so the depth guard is applied as for them. Traced, this is a field path on a
        // local (inputs' paths are read above), which is no step and has none below it.
        if self.depth + MAX_BORROWED_LINKS < MAX_EXPR_DEPTH
            && let Some(Value::Record(fields)) = self.borrowed(record, frame, 1)
            && let Some(value) = fields.get(index as usize)
        {
            return Ok(value.clone());
        }
        let base = self.eval(record, frame, tracer)?;
        let value = self.field(base, record, index, at)?;
        if T::ENABLED {
            *detail = Pending::Field { record, index };
        }
        Ok(value)
    }

    /// The value a local, an input or a chain of field reads on one names, borrowed where it
    /// is kept (`None`: another kind of node, an input not given, a link not a record, or a
    /// chain longer than [`MAX_BORROWED_LINKS`]; the node is then evaluated as usual).
    #[inline(always)]
    fn borrowed<'v>(&'v self, id: NodeId, frame: &'v Frame, links: u32) -> Option<&'v Value> {
        match &self.program.nodes.get(id.index())?.kind {
            NodeKind::Local(local) => frame.get(local.index()),
            NodeKind::Input(input) => self.inputs.get(input.index()),
            NodeKind::Field { record, index } => self.borrowed_field(*record, *index, frame, links + 1),
            _ => None,
        }
    }

    /// A field of what [`Session::borrowed`] gives for `record`, borrowed in place.
    fn borrowed_field<'v>(&'v self, record: NodeId, index: u32, frame: &'v Frame, links: u32) -> Option<&'v Value> {
        if links >= MAX_BORROWED_LINKS {
            return None;
        }
        match self.borrowed(record, frame, links)? {
            Value::Record(fields) => fields.get(index as usize),
            _ => None,
        }
    }

    fn aggregate<T: Tracer>(
        &mut self,
        at: At<'p>,
        agg: Agg,
        frame: &mut Frame,
        tracer: &mut T,
        detail: &mut Detail,
    ) -> Res {
        let list = self.eval(agg.list, frame, tracer)?;
        let items = self.elements(at, agg, list)?;
        let mut acc = Acc::new(agg.op, &at.node.ty);
        let (mut examined, mut kept) = (0, 0);
        for (index, item) in items.iter().enumerate() {
            examined += 1;
            if T::ENABLED {
                tracer.enter();
            }
            let mut result = self.item(agg, item, frame, tracer, at);
            if let Ok(Some(value)) = &result
                && let Err(e) = self.accumulate(&mut acc, agg, (index, value), at)
            {
                result = Err(e);
            }
            if T::ENABLED {
                self.close_item(agg, (index, item), &result, tracer, at);
            }
            if result?.is_some() {
                kept += 1;
            }
            if acc.decided() {
                break;
            }
        }
        if T::ENABLED {
            *detail = Pending::Aggregate { op: agg.op, items: items.len(), examined, kept };
        }
        self.aggregate_result(at, agg, acc, items.len())
    }

    /// One element: binds it, applies the filter, and evaluates the body (`None`: filtered out).
    fn item<T: Tracer>(
        &mut self,
        agg: Agg,
        item: &Value,
        frame: &mut Frame,
        tracer: &mut T,
        at: At<'p>,
    ) -> Res<Option<Value>> {
        bind(frame, agg.local, item.clone(), at.span())?;
        if let Some(filter) = agg.filter {
            let keep = if T::ENABLED {
                self.element_kept((filter, agg.local, true), item, frame, tracer)?
            } else {
                self.eval_single(filter, frame, tracer)?
            };
            if !self.truth(keep, filter, at, "the `if` filter")? {
                return Ok(None);
            }
        }
        if T::ENABLED {
            return self.element_kept((agg.body, agg.local, false), item, frame, tracer).map(Some);
        }
        self.eval(agg.body, frame, tracer).map(Some)
    }

    fn param(&mut self, id: ParamId, at: Span) -> Res {
        if let Some(Some(value)) = self.params.get(id.index()) {
            return Ok(value.clone());
        }
        let program = self.program;
        let Some(def) = program.params.get(id.index()) else {
            return Err(internal(at, format!("param #{} does not exist", id.0)));
        };
        let value = self.eval(def.value, &mut Vec::new(), &mut NoTrace)?;
        if let Some(slot) = self.params.get_mut(id.index()) {
            if slot.is_none() {
                self.params_set.push(id.index());
            }
            *slot = Some(value.clone());
        }
        Ok(value)
    }

    // ---- calls, frames and trace steps -------------------------------------------------

    fn prepare_call(&mut self, id: DecisionId, args: Vec<Value>, site: Span) -> Res<Prepared> {
        let program = self.program;
        let Some(def) = program.decisions.get(id.index()) else {
            return Err(internal(site, format!("decision #{} does not exist", id.0)));
        };
        if args.len() != def.params.len() {
            let message = format!("decision `{}` takes {} arguments, {} given", def.name, def.params.len(), args.len());
            return Err(internal(site, message));
        }
        if def.params.is_empty()
            && let Some(Some(value)) = self.decisions.get(id.index())
        {
            return Ok(Prepared::Cached(value.clone()));
        }
        self.check_calls(def, site)?;
        Ok(Prepared::Run(def.body, self.fresh_frame(def, args, site)?))
    }

    /// The body and frame to evaluate a memoised decision again (to show its steps).
    fn rerun(&mut self, id: DecisionId, site: Span) -> Res<(NodeId, Frame)> {
        let program = self.program;
        let Some(def) = program.decisions.get(id.index()) else {
            return Err(internal(site, format!("decision #{} does not exist", id.0)));
        };
        self.check_calls(def, site)?;
        Ok((def.body, self.fresh_frame(def, Vec::new(), site)?))
    }

    fn check_calls(&self, def: &DecisionDef, site: Span) -> Res<()> {
        if self.calls < MAX_CALL_DEPTH {
            return Ok(());
        }
        Err(Box::new(
            EvalError::new(
                code::TOO_DEEP,
                format!("decisions nested too deeply (more than {MAX_CALL_DEPTH} calls inside each other)"),
                site,
            )
            .with_label(site, format!("this call to `{}` is {MAX_CALL_DEPTH} calls deep", def.name))
            .with_note("decisions cannot call themselves; a chain this deep is almost always generated code"),
        ))
    }

    fn fresh_frame(&mut self, def: &DecisionDef, args: Vec<Value>, site: Span) -> Res<Frame> {
        let size = (def.locals as usize).max(def.params.len());
        if size > MAX_FRAME {
            return Err(internal(site, format!("decision `{}` asks for {size} local slots", def.name)));
        }
        let mut frame = if args.capacity() == 0 { self.kept_frame(size) } else { args };
        // Cloning the placeholder touches a reference count: only when a slot needs it.
        if frame.len() < size {
            frame.resize(size, self.unbound.clone());
        }
        Ok(frame)
    }

    /// A call of a decision with parameters: taken from the memo when these arguments were
    /// seen before in this session (and a tracer does not ask to see its steps again), else
    /// run and remembered. Returns the value and whether it came from the memo.
    fn call_memoised<T: Tracer>(
        &mut self,
        id: DecisionId,
        args: Frame,
        site: Span,
        tracer: &mut T,
    ) -> Res<(Value, bool)> {
        let hash = memo_hash(id, &args);
        let known = if !T::ENABLED || !tracer.expand_repeats() {
            match self.recall(hash, id, &args) {
                Recall::Value(value) => {
                    self.recycle(args);
                    return Ok((value, true));
                }
                Recall::Known => true,
                Recall::Absent => false,
            }
        } else {
            self.memo.find(hash, id, &args).is_some()
        };
        let value = self.remembering((hash, known), id, args, |s, args| s.call_kept(id, args, site, tracer))?;
        Ok((value, false))
    }

    /// Makes a call (`call`) not answered from the memo and remembers its result with how
    /// many nested calls and levels it took (unless `known`: it is remembered already, and
    /// is run again only because remembering it would have gone too deep or to show steps).
    fn remembering(
        &mut self,
        (hash, known): (u64, bool),
        id: DecisionId,
        args: Frame,
        call: impl FnOnce(&mut Self, Frame) -> Res,
    ) -> Res {
        let (calls, depth) = (self.calls, self.depth);
        // The arguments are kept before the call: the callee may reuse their slots.
        let stashed = if known { None } else { self.memo.stash(&args) };
        let peaks = (self.peak_calls, self.peak_depth);
        (self.peak_calls, self.peak_depth) = (calls, depth);
        let result = call(self, args);
        let needs = (self.peak_calls.saturating_sub(calls), self.peak_depth.saturating_sub(depth));
        self.peak_calls = self.peak_calls.max(peaks.0);
        self.peak_depth = self.peak_depth.max(peaks.1);
        let value = result?;
        if let Some(start) = stashed {
            self.memo.insert(hash, id, start, MemoResult { value: value.clone(), needs });
        }
        Ok(value)
    }

    /// What the memo holds for a call with these arguments: its result where evaluating it
    /// again would stay within the nesting limits (else it is evaluated, and fails as it
    /// always would).
    fn recall(&mut self, hash: u64, id: DecisionId, args: &[Value]) -> Recall {
        let (calls, depth) = (self.calls, self.depth);
        let Some((index, entry)) = self.memo.find_at(hash, id, args) else { return Recall::Absent };
        let (need_calls, need_depth) = entry.needs;
        if calls.saturating_add(need_calls) > MAX_CALL_DEPTH || depth.saturating_add(need_depth) > MAX_EXPR_DEPTH {
            return Recall::Known;
        }
        let value = entry.value.clone();
        if index < self.memo.floor {
            self.memo.hits_below_floor.push(index as u32);
        }
        self.peak_calls = self.peak_calls.max(calls + need_calls);
        self.peak_depth = self.peak_depth.max(depth + need_depth);
        Recall::Value(value)
    }

    /// A frame for a call without arguments: one kept from an earlier call when the body
    /// needs slots (else an empty one, which allocates nothing).
    fn kept_frame(&mut self, slots: usize) -> Frame {
        if slots > 0 { self.spare_frames.pop().unwrap_or_default() } else { Vec::new() }
    }

    /// Keeps a frame for the next call (emptied; a bounded number of them).
    fn recycle(&mut self, mut frame: Frame) {
        if frame.capacity() == 0 || frame.capacity() > SPARE_FRAME_SLOTS || self.spare_frames.len() >= SPARE_FRAMES {
            return;
        }
        frame.clear();
        self.spare_frames.push(frame);
    }

    /// A shared "no value" reason, made by `text` the first time it is needed.
    fn reason(&mut self, key: ReasonKey, text: impl FnOnce() -> String) -> Arc<str> {
        if let Some(reason) = self.reasons.get(&key) {
            return reason.clone();
        }
        let reason: Arc<str> = Arc::from(text());
        if self.reasons.len() < SHARED_REASONS {
            self.reasons.insert(key, reason.clone());
        }
        reason
    }

    fn memoise(&mut self, id: DecisionId, value: &Value) {
        let program = self.program;
        if program.decisions.get(id.index()).is_some_and(|d| d.params.is_empty())
            && let Some(slot) = self.decisions.get_mut(id.index())
        {
            if slot.is_none() {
                self.decisions_set.push(id.index());
            }
            *slot = Some(value.clone());
        }
    }

    /// Looks a node up and applies the depth guard.
    #[inline(always)]
    fn enter_node(&self, id: NodeId) -> Res<At<'p>> {
        let node = self.node(id, Span::default())?;
        if self.depth >= MAX_EXPR_DEPTH {
            return Err(too_deep(node.origin.span));
        }
        Ok(At { id, node })
    }

    #[inline(always)]
    fn node(&self, id: NodeId, at: Span) -> Res<&'p Node> {
        let program = self.program;
        match program.nodes.get(id.index()) {
            Some(node) => Ok(node),
            None => Err(missing_node(id, at)),
        }
    }

    #[inline(always)]
    pub(crate) fn at(&self, id: NodeId, from: Span) -> Res<At<'p>> {
        Ok(At { id, node: self.node(id, from)? })
    }

    fn close_step<T: Tracer>(&self, at: At<'p>, result: &Res, pending: Pending, tracer: &mut T) {
        match (result, pending) {
            (Ok(_), Pending::None) => tracer.exit_transparent(),
            (Ok(value), pending) => tracer.exit_node(at.id, NodeStepOf { session: self, at, pending }, Some(value)),
            (Err(e), _) => tracer.fail(self.step_of(at, StepKind::Unfinished, None), e.code, &e.message),
        }
    }

    fn close_single<T: Tracer>(&self, id: NodeId, result: &Res, tracer: &mut T) {
        match (result, self.program.nodes.get(id.index())) {
            (Ok(value), Some(n)) => tracer.exit_single(|| Step {
                kind: StepKind::Value,
                node: Some(id),
                label: self.name("value"),
                value: Some(value.clone()),
                ty: n.ty.clone(),
                span: n.origin.span,
                children: Vec::new(),
            }),
            _ => tracer.exit_transparent(),
        }
    }

    fn close_let<T: Tracer>(&self, at: At<'p>, value: NodeId, bound: &Res, tracer: &mut T) {
        let mut step = Step {
            kind: StepKind::Let,
            node: Some(at.id),
            label: self.name("let"),
            value: None,
            ty: self.program.nodes.get(value.index()).map_or(Ty::Error, |n| n.ty.clone()),
            span: at.span(),
            children: Vec::new(),
        };
        match bound {
            Ok(v) => {
                step.value = Some(v.clone());
                tracer.exit(step);
            }
            Err(e) => tracer.fail(step, e.code, &e.message),
        }
    }

    fn close_item<T: Tracer>(
        &self,
        agg: Agg,
        (index, item): (usize, &Value),
        result: &Res<Option<Value>>,
        tracer: &mut T,
        at: At<'p>,
    ) {
        let program = self.program;
        let body = program.nodes.get(agg.body.index());
        let identity = matches!(body.map(|b| &b.kind), Some(NodeKind::Local(l)) if *l == agg.local);
        let kept = matches!(result, Ok(Some(_)));
        let element = (!identity || !kept).then(|| match self.node_ty(agg.list) {
            Ty::List(elem) => (item, &**elem),
            _ => (item, &pending::UNKNOWN),
        });
        let step = ItemStep {
            session: self,
            body: (agg.body, body.map_or(&pending::UNKNOWN, |b| &b.ty), body.map_or(at.span(), |b| b.origin.span)),
            index,
            element,
            kept,
        };
        match result {
            Ok(contribution) => tracer.exit_node(agg.body, step, contribution.as_ref()),
            Err(e) => tracer.fail(crate::trace::NodeStep::make(step, None), e.code, &e.message),
        }
    }

    /// Whether a node is a step of its own (not [`transparent`](Session::transparent)), worked
    /// out once per session: a traced row asks it of every node it evaluates.
    #[inline(always)]
    fn is_step(&mut self, at: At<'p>) -> bool {
        if self.step_nodes.is_empty() {
            self.step_nodes = vec![None; self.program.nodes.len()];
        }
        if let Some(Some(known)) = self.step_nodes.get(at.id.index()) {
            return *known;
        }
        let step = !self.transparent(at.node);
        if let Some(slot) = self.step_nodes.get_mut(at.id.index()) {
            *slot = Some(step);
        }
        step
    }

    /// Nodes that are not steps of their own: constants, locals, literals, `let` (which
    /// records its binding itself) and field paths on locals.
    fn transparent(&self, n: &Node) -> bool {
        match &n.kind {
            NodeKind::Const(_)
            | NodeKind::Local(_)
            | NodeKind::Record(_)
            | NodeKind::List(_)
            | NodeKind::Let { .. } => true,
            NodeKind::Field { .. } => matches!(self.chain_root(n), Some(NodeKind::Local(_) | NodeKind::Const(_))),
            _ => false,
        }
    }

    /// The node under a chain of field accesses.
    fn chain_root(&self, mut n: &'p Node) -> Option<&'p NodeKind> {
        let program = self.program;
        for _ in 0..=program.nodes.len() {
            match &n.kind {
                NodeKind::Field { record, .. } => n = program.nodes.get(record.index())?,
                other => return Some(other),
            }
        }
        None
    }

    /// A decision's or table's name and qualified name, kept by number: every decision and
    /// table step shows both, and this is cheaper than two lookups by text.
    fn names_of(&self, named: Named) -> (Name, Name) {
        let program = self.program;
        let (slot, name, qualified) = match named {
            Named::Decision(id) => {
                let def = program.decisions.get(id.index());
                (id.index() * 2, def.map_or("decision", |d| &d.name), def.map_or("decision", |d| &d.qualified))
            }
            Named::Table(id) => {
                let def = program.tables.get(id.index());
                (id.index() * 2 + 1, def.map_or("table", |t| &t.name), def.map_or("table", |t| &t.qualified))
            }
        };
        let mut pairs = self.name_pairs.borrow_mut();
        if let Some(Some(pair)) = pairs.get(slot) {
            return pair.clone();
        }
        let pair = (self.name(name), self.name(qualified));
        if slot < 2 * program.decisions.len().max(program.tables.len()) {
            if pairs.len() <= slot {
                pairs.resize(slot + 1, None);
            }
            pairs[slot] = Some(pair.clone());
        }
        pair
    }

    /// A name from the program as a shared string.
    fn name(&self, text: &'p str) -> Name {
        let key = (text.as_ptr() as usize, text.len());
        self.names.borrow_mut().entry(key).or_insert_with(|| Name::from(text)).clone()
    }

    /// A call's arguments with the names and types of the decision's parameters.
    fn named_args(&self, def: &'p DecisionDef, values: &[Value]) -> Vec<Arg> {
        def.params
            .iter()
            .zip(values)
            .map(|((name, ty), value)| Arg { name: self.name(name), value: value.clone(), ty: ty.clone() })
            .collect()
    }

    fn decision_kind(&self, id: DecisionId, args: Vec<Arg>, memoised: bool) -> StepKind {
        let (name, qualified) = self.names_of(Named::Decision(id));
        StepKind::Decision { name, qualified, args, memoised }
    }

    /// A node's step label, shared.
    fn label(&self, id: NodeId, n: &Node) -> Name {
        self.label_and_span(id, n).0
    }

    /// A node's step label (shared) and the location its steps show ([`Session::step_span`]).
    fn label_and_span(&self, id: NodeId, n: &Node) -> (Name, Span) {
        let mut labels = self.labels.borrow_mut();
        if let Some(Some(known)) = labels.get(id.index()) {
            return known.clone();
        }
        let known = (Name::from(self.label_text(n)), self.step_span(n));
        if id.index() < self.program.nodes.len() {
            if labels.len() <= id.index() {
                labels.resize(id.index() + 1, None);
            }
            labels[id.index()] = Some(known.clone());
        }
        known
    }

    /// The label of the element at `index` of an aggregated list (`item 1` for the first).
    fn item_label(&self, index: usize) -> Name {
        let mut labels = self.item_labels.borrow_mut();
        while labels.len() <= index && labels.len() < SHARED_ITEM_LABELS {
            let next = labels.len() + 1;
            labels.push(Name::from(format!("item {next}")));
        }
        match labels.get(index) {
            Some(label) => label.clone(),
            None => Name::from(format!("item {}", index + 1)),
        }
    }

    fn label_text(&self, n: &Node) -> String {
        let program = self.program;
        match &n.kind {
            NodeKind::Decision { id, .. } => program.decisions.get(id.index()).map_or("decision", |d| &d.name).into(),
            NodeKind::Table { id, .. } => program.tables.get(id.index()).map_or("table", |t| &t.name).into(),
            NodeKind::Input(id) => program.inputs.get(id.index()).map_or("input", |i| &i.name).into(),
            NodeKind::Param(id) => program.params.get(id.index()).map_or("param", |p| &p.name).into(),
            NodeKind::Field { index, record } => match self.path(n) {
                Some(path) => self.path_text(&path).1,
                None => self.field_name(*record, *index),
            },
            NodeKind::Unary(UnOp::Neg, _) => "-".into(),
            NodeKind::Unary(UnOp::Not, _) => "not".into(),
            NodeKind::Binary(op, _, _) => op.symbol().into(),
            NodeKind::If { .. } => "if".into(),
            NodeKind::Match { .. } => "match".into(),
            NodeKind::Let { .. } => "let".into(),
            NodeKind::Aggregate { op, .. } => op.name().into(),
            NodeKind::Round { .. } => "round".into(),
            NodeKind::Builtin { f, .. } => f.name().into(),
            NodeKind::InSet { .. } => "in".into(),
            NodeKind::IsNone(_) => "is none".into(),
            NodeKind::Otherwise(..) => "otherwise".into(),
            NodeKind::Rules { .. } => "rules".into(),
            NodeKind::Versioned { name, .. } => name.clone(),
            NodeKind::Split { id, .. } => program.splits.get(id.index()).map_or("split", |s| &s.name).into(),
            NodeKind::Payment(id) => program.payments.get(id.index()).map_or("payment", |p| &p.name).into(),
            NodeKind::PaymentPart { receiving: true, .. } => "paid_to".into(),
            NodeKind::PaymentPart { receiving: false, .. } => "paid_by".into(),
            NodeKind::ContractDate(which) => which.name().into(),
            NodeKind::Const(_) | NodeKind::Local(_) | NodeKind::Record(_) | NodeKind::List(_) => "value".into(),
        }
    }

    /// Decisions and params are located at their declaration; everything else at the expression.
    fn step_span(&self, n: &Node) -> Span {
        let program = self.program;
        match &n.kind {
            NodeKind::Decision { id, .. } => program.decisions.get(id.index()).map_or(n.origin.span, |d| d.name_span),
            NodeKind::Param(id) => program.params.get(id.index()).map_or(n.origin.span, |p| p.span),
            _ => n.origin.span,
        }
    }

    fn field_name(&self, record: NodeId, index: u32) -> String {
        self.declared_field(record, index).map_or_else(|| format!("field {index}"), str::to_string)
    }

    /// The declared name of a field of the record `record` evaluates to.
    fn declared_field(&self, record: NodeId, index: u32) -> Option<&'p str> {
        let program = self.program;
        match program.nodes.get(record.index()).map(|n| &n.ty) {
            Some(Ty::Record(rid)) => {
                program.records.get(rid.0 as usize)?.fields.get(index as usize).map(|f| f.name.as_str())
            }
            _ => None,
        }
    }

    // ---- reads -------------------------------------------------------------------------

    fn read_input<T: Tracer>(&self, at: At<'p>, id: InputId, detail: &mut Detail) -> Res {
        let value = self.input(id, at.span())?;
        if T::ENABLED {
            *detail = Pending::Input;
        }
        Ok(value)
    }

    fn read_param<T: Tracer>(&mut self, at: At<'p>, id: ParamId, detail: &mut Detail) -> Res {
        let value = self.param(id, at.span())?;
        if T::ENABLED {
            *detail = Pending::Param;
        }
        Ok(value)
    }

    fn input(&self, id: InputId, at: Span) -> Res {
        let program = self.program;
        let Some(def) = program.inputs.get(id.index()) else {
            return Err(internal(at, format!("input #{} does not exist", id.0)));
        };
        match self.inputs.get(id.index()) {
            Some(value) => Ok(value.clone()),
            None if def.optional => Ok(Value::None(Arc::from("not given"))),
            None => Err(internal(at, format!("input `{}` was not given a value", def.name))),
        }
    }

    /// The input or param and field indices under a chain of field accesses, if that is what it is.
    fn path(&self, n: &'p Node) -> Option<Path> {
        let mut fields = Vec::new();
        let root = self.path_into(n, &mut fields)?;
        Some(Path { root, fields })
    }

    /// Like [`Session::path`], into a buffer the caller keeps (`fields` is emptied first).
    fn path_into(&self, n: &'p Node, fields: &mut Vec<(NodeId, u32)>) -> Option<PathRoot> {
        let program = self.program;
        fields.clear();
        let mut cur = n;
        for _ in 0..=program.nodes.len() {
            match &cur.kind {
                NodeKind::Field { record, index } => {
                    fields.push((*record, *index));
                    cur = program.nodes.get(record.index())?;
                }
                NodeKind::Input(id) => {
                    fields.reverse();
                    return Some(PathRoot::Input(*id));
                }
                NodeKind::Param(id) => {
                    fields.reverse();
                    return Some(PathRoot::Param(*id));
                }
                _ => return None,
            }
        }
        None
    }

    /// The root's name and the dotted path (`person.placement`).
    fn path_text(&self, path: &Path) -> (String, String) {
        let program = self.program;
        let name = match path.root {
            PathRoot::Input(id) => program.inputs.get(id.index()).map_or("input", |i| &i.name),
            PathRoot::Param(id) => program.params.get(id.index()).map_or("param", |p| &p.name),
        };
        let mut text = name.to_string();
        for &(record, index) in &path.fields {
            text.push('.');
            text.push_str(&self.field_name(record, index));
        }
        (name.to_string(), text)
    }

    /// A field path on an input or param, read as one step (only used when tracing).
    fn read_path(&mut self, at: At<'p>, root: PathRoot, fields: &[(NodeId, u32)], detail: &mut Detail) -> Res {
        let mut value = match root {
            PathRoot::Input(id) => self.input(id, at.span())?,
            PathRoot::Param(id) => self.param(id, at.span())?,
        };
        for (link, &(record, index)) in fields.iter().enumerate() {
            // Each link is read by the next link's record node (the last by this node), as
            // when the chain is evaluated node by node: a missing value is reported there.
            let reader = match fields.get(link + 1) {
                Some(&(next, _)) => self.at(next, at.span())?,
                None => at,
            };
            value = self.field(value, record, index, reader)?;
        }
        *detail = Pending::Path(root);
        Ok(value)
    }

    fn field(&self, base: Value, record: NodeId, index: u32, at: At<'p>) -> Res {
        match base {
            Value::Record(fields) => fields
                .get(index as usize)
                .cloned()
                .ok_or_else(|| internal(at.span(), format!("the record has no field {index}"))),
            Value::None(reason) => Err(self.no_value(&reason, self.at(record, at.span())?, at, "reading a field")),
            other => Err(self.mismatch(at, "a record", &other)),
        }
    }

    // ---- tables and match ----------------------------------------------------------------

    /// The row that matches the key values under the table's hit policy (`None`: no row).
    fn select_row(
        &self,
        at: At<'p>,
        id: TableId,
        args: &[NodeId],
        keys: &[Value],
    ) -> Res<(&'p TableDef, Option<usize>)> {
        let program = self.program;
        let Some(table) = program.tables.get(id.index()) else {
            return Err(internal(at.span(), format!("table #{} does not exist", id.0)));
        };
        for (i, (value, &arg)) in keys.iter().zip(args).enumerate() {
            if let Value::None(reason) = value {
                let column = table.columns.get(i).map_or("?", |c| c.0.as_str());
                let what = format!("looking up table `{}` (column `{column}`)", table.name);
                return Err(self.no_value(reason, self.at(arg, at.span())?, at, &what));
            }
        }
        let indexes = self.indexes;
        if let Some(GridHit::Row(row)) = indexes.and_then(|ix| ix.grid_row(id, keys))
            && row.is_none_or(|i| i < table.rows.len())
        {
            return Ok((table, row));
        }
        // With an index, only the candidate rows (in row order) can match.
        let selected = match indexes.and_then(|ix| ix.candidates(id, keys)) {
            Some(rows) => ops::select_among(table, rows.iter().map(|&r| r as usize), keys),
            None => ops::select_among(table, 0..table.rows.len(), keys),
        };
        match selected {
            Ok(Selected::Row(row)) => Ok((table, row)),
            Ok(Selected::Two(first, second)) => Err(self.two_rows(at, table, (first, second), keys)),
            Err((span, message)) => Err(internal(span, message)),
        }
    }

    fn two_rows(
        &self,
        at: At<'p>,
        table: &TableDef,
        (first, second): (usize, usize),
        keys: &[Value],
    ) -> Box<EvalError> {
        let program = self.program;
        let shown: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, v)| match table.columns.get(i) {
                Some((name, ty)) => format!("{name} = {}", display(program, v, ty)),
                None => format!("{v:?}"),
            })
            .collect();
        let message = format!(
            "rows {} and {} of table `{}` both match (the table is `hit unique`)",
            first + 1,
            second + 1,
            table.name
        );
        let mut error = EvalError::new(code::TWO_ROWS, message, at.span()).with_label(at.span(), "looked up here");
        if let Some(row) = table.rows.get(first) {
            error = error.with_label(row.span, format!("row {} matches", first + 1));
        }
        if let Some(row) = table.rows.get(second) {
            error = error.with_label(row.span, format!("row {} matches too", second + 1));
        }
        Box::new(
            error
                .with_note(format!("the key values were: {}", shown.join(", ")))
                .with_note("make the rows' conditions exclusive, or declare the table `hit first` if the first matching row should win"),
        )
    }

    pub(crate) fn select_arm(
        &self,
        at: At<'p>,
        scrutinee: NodeId,
        s: &Value,
        arms: &'p [MatchArm],
    ) -> Res<(usize, &'p MatchArm)> {
        let s_at = self.at(scrutinee, at.span())?;
        self.refuse_none(s, s_at, at, "`match`")?;
        let found = arms.iter().enumerate().find(|(_, arm)| arm.key.matches(s).unwrap_or(false));
        found.ok_or_else(|| {
            let shown = display(self.program, s, &s_at.node.ty);
            internal(at.span(), format!("no arm of `match` covers {shown}"))
        })
    }

    // ---- operators ---------------------------------------------------------------------

    fn finish_binary<T: Tracer>(
        &self,
        at: At<'p>,
        (op, l, r): (BinOp, NodeId, NodeId),
        (a, b): (Value, Value),
        detail: &mut Detail,
    ) -> Res {
        if op.is_comparison() {
            self.compare::<T>(at, (op, l, r), (a, b), detail)
        } else {
            self.arithmetic::<T>(at, (op, l, r), (a, b), detail)
        }
    }

    fn negate<T: Tracer>(&self, at: At<'p>, x: NodeId, v: Value, detail: &mut Detail) -> Res {
        let x_at = self.at(x, at.span())?;
        self.refuse_none(&v, x_at, at, "negation")?;
        let result = match &v {
            Value::Num(n) => Decimal::ZERO.checked_sub(*n).map(Value::Num),
            Value::Duration(d) => d.checked_neg().map(Value::Duration),
            other => return Err(self.mismatch(at, "a number or a duration", other)),
        };
        let Some(result) = result else {
            return Err(self.overflow(at, format!("-{}", display(self.program, &v, &x_at.node.ty))));
        };
        if T::ENABLED {
            *detail = Pending::Arithmetic { symbol: "-", left: (x, v), right: None };
        }
        Ok(result)
    }

    fn compare<T: Tracer>(
        &self,
        at: At<'p>,
        (op, l, r): (BinOp, NodeId, NodeId),
        (a, b): (Value, Value),
        detail: &mut Detail,
    ) -> Res {
        let (l_at, r_at) = (self.at(l, at.span())?, self.at(r, at.span())?);
        if a.is_none() || b.is_none() {
            let what = format!("the comparison `{}`", op.symbol());
            self.refuse_none(&a, l_at, at, &what)?;
            self.refuse_none(&b, r_at, at, &what)?;
        }
        let Some(result) = compared(op, &a, &b) else {
            let message = format!("cannot order {} against {}", ops::kind_name(&a), ops::kind_name(&b));
            return Err(internal(at.span(), message));
        };
        if T::ENABLED {
            *detail = Pending::Compare { op, left: (l, a), right: (r, b) };
        }
        Ok(Value::Bool(result))
    }

    fn arithmetic<T: Tracer>(
        &self,
        at: At<'p>,
        (op, l, r): (BinOp, NodeId, NodeId),
        (a, b): (Value, Value),
        detail: &mut Detail,
    ) -> Res {
        let program = self.program;
        let (l_at, r_at) = (self.at(l, at.span())?, self.at(r, at.span())?);
        let what = match op {
            BinOp::Add | BinOp::DateAddDuration | BinOp::DurationAdd => "addition",
            BinOp::Sub | BinOp::DateSubDuration | BinOp::DurationSub => "subtraction",
            BinOp::Div | BinOp::DivAmountDuration(_) => "division",
            _ => "multiplication",
        };
        self.refuse_none(&a, l_at, at, what)?;
        self.refuse_none(&b, r_at, at, what)?;
        let shown = || {
            format!("{} {} {}", display(program, &a, &l_at.node.ty), op.symbol(), display(program, &b, &r_at.node.ty))
        };
        let result = match (op, &a, &b) {
            (BinOp::Add, Value::Num(x), Value::Num(y)) => x.checked_add(*y).map(Value::Num),
            (BinOp::Sub, Value::Num(x), Value::Num(y)) => x.checked_sub(*y).map(Value::Num),
            (BinOp::Mul, Value::Num(x), Value::Num(y)) => x.checked_mul(*y).map(Value::Num),
            (BinOp::Div, Value::Num(x), Value::Num(y)) => {
                if y.is_zero() {
                    return Err(Box::new(
                        EvalError::new(code::DIVISION_BY_ZERO, format!("division by zero: {}", shown()), at.span())
                            .with_label(at.span(), "divided here")
                            .with_label(r_at.span(), "this is zero")
                            .with_note(
                                "guard the division with `if … then … else`, or make sure the divisor cannot be zero",
                            ),
                    ));
                }
                x.checked_div(*y).map(Value::Num)
            }
            (BinOp::MulRateDuration(unit), Value::Num(rate), Value::Duration(d))
            | (BinOp::MulRateDuration(unit), Value::Duration(d), Value::Num(rate)) => {
                let duration_at = if matches!(a, Value::Duration(_)) { l_at } else { r_at };
                let doing = format!("a rate per {} is multiplied here", unit.name());
                let (count, per) = duration_fraction(*d, unit, (at, duration_at), &doing)?;
                let Some(product) = rate.checked_mul(Decimal::from(count)) else {
                    return Err(self.overflow(at, shown()));
                };
                let Some(amount) = ops::divide_exactly(product, per) else {
                    let (unit, fraction) = (unit.name(), ops::fraction_text((count, per)));
                    return Err(Box::new(
                        EvalError::new(
                            code::DURATION_UNIT,
                            format!("{} has no exact value: it is {fraction} {unit}s of the rate", shown()),
                            at.span(),
                        )
                        .with_label(at.span(), doing)
                        .with_label(duration_at.span(), format!("this is {d}"))
                        .with_note(format!(
                            "round the amount for a whole {unit} first, e.g. `round(rate * 1 {unit} * {count} / {per}, 2, half_up)`"
                        )),
                    ));
                };
                Some(Value::Num(amount))
            }
            (BinOp::DivAmountDuration(unit), Value::Num(amount), Value::Duration(d)) => {
                let doing = format!("spread as a rate per {} here", unit.name());
                let (count, per) = duration_fraction(*d, unit, (at, r_at), &doing)?;
                if count == 0 {
                    return Err(Box::new(
                        EvalError::new(code::DIVISION_BY_ZERO, format!("division by zero: {}", shown()), at.span())
                            .with_label(at.span(), "divided here")
                            .with_label(r_at.span(), "this duration is zero"),
                    ));
                }
                // Like `/`, the quotient keeps 28 significant digits: `£100.00 / 3 years` is
                // £33.33… per year until a rule rounds it.
                ops::rate_over(*amount, (count, per)).map(Value::Num)
            }
            (BinOp::ScaleDuration, Value::Num(count), Value::Duration(d)) => {
                ops::whole_times(*count).and_then(|n| d.checked_scale(n)).map(Value::Duration)
            }
            (BinOp::DateAddDuration | BinOp::DateSubDuration, Value::Date(date), Value::Duration(d)) => {
                let moved = if op == BinOp::DateAddDuration { date.add(*d) } else { date.sub(*d) };
                let Some(moved) = moved else {
                    let message = format!("date out of range: {} is outside the years 1 to 9999", shown());
                    return Err(Box::new(
                        EvalError::new(code::DATE, message, at.span()).with_label(at.span(), "this date calculation"),
                    ));
                };
                Some(Value::Date(moved))
            }
            (BinOp::DurationAdd, Value::Duration(x), Value::Duration(y)) => x.checked_add(*y).map(Value::Duration),
            (BinOp::DurationSub, Value::Duration(x), Value::Duration(y)) => {
                y.checked_neg().and_then(|y| x.checked_add(y)).map(Value::Duration)
            }
            _ => {
                let message = format!("`{}` applied to {} and {}", op.symbol(), ops::kind_name(&a), ops::kind_name(&b));
                return Err(internal(at.span(), message));
            }
        };
        let Some(result) = result else {
            return Err(self.overflow(at, shown()));
        };
        if T::ENABLED {
            let symbol = if op == BinOp::Sub { "-" } else { op.symbol() };
            *detail = Pending::Arithmetic { symbol, left: (l, a), right: Some((r, b)) };
        }
        Ok(result)
    }

    fn finish_round<T: Tracer>(
        &self,
        at: At<'p>,
        (x, v): (NodeId, Value),
        (places, mode): (u32, RoundMode),
        detail: &mut Detail,
    ) -> Res {
        let before = self.number(&v, self.at(x, at.span())?, at, "rounding")?;
        let after = ops::round(before, places, mode.strategy());
        if T::ENABLED {
            *detail = Pending::Round { before: v, places, mode };
        }
        Ok(Value::Num(after))
    }

    fn finish_in_set<T: Tracer>(
        &self,
        at: At<'p>,
        (x, v): (NodeId, Value),
        variants: &[u32],
        detail: &mut Detail,
    ) -> Res {
        let program = self.program;
        let x_at = self.at(x, at.span())?;
        self.refuse_none(&v, x_at, at, "`in`")?;
        let Value::Enum(index) = v else {
            return Err(self.mismatch(at, "an enum variant", &v));
        };
        if T::ENABLED {
            let enum_def = match &x_at.node.ty {
                Ty::Enum(eid) => program.enums.get(eid.0 as usize),
                _ => None,
            };
            let names = variants
                .iter()
                .map(|&i| enum_def.map_or_else(|| format!("#{i}"), |e| e.variant_name(i).to_string()))
                .collect();
            *detail = Pending::made(StepKind::InSet { value: operand(x_at, v), variants: names });
        }
        Ok(Value::Bool(variants.contains(&index)))
    }

    // ---- aggregation -------------------------------------------------------------------

    fn elements(&self, at: At<'p>, agg: Agg, list: Value) -> Res<Arc<[Value]>> {
        match list {
            Value::List(items) => Ok(items),
            Value::None(reason) => {
                Err(self.no_value(&reason, self.at(agg.list, at.span())?, at, &format!("`{}`", agg.op.name())))
            }
            other => Err(self.mismatch(at, "a list", &other)),
        }
    }

    fn accumulate(&self, acc: &mut Acc, agg: Agg, (index, value): (usize, &Value), at: At<'p>) -> Res<()> {
        let op = agg.op;
        if let (Value::None(reason), false) = (value, matches!(acc, Acc::Count(_) | Acc::List(_))) {
            let what = format!("`{}` (element {})", op.name(), index + 1);
            return Err(self.no_value(reason, self.at(agg.body, at.span())?, at, &what));
        }
        let overflow = || self.overflow(at, format!("the {} of the elements up to element {}", op.name(), index + 1));
        match (acc, value) {
            (Acc::Sum(total), Value::Num(n)) => *total = total.checked_add(*n).ok_or_else(overflow)?,
            (Acc::Duration(total), Value::Duration(d)) => *total = total.checked_add(*d).ok_or_else(overflow)?,
            (Acc::Count(n), _) => *n += 1,
            (Acc::List(values), v) => values.push(v.clone()),
            (Acc::All(b), Value::Bool(v)) => *b = *b && *v,
            (Acc::Any(b), Value::Bool(v)) => *b = *b || *v,
            (Acc::Best(best), v) => {
                let replace = match best {
                    None => true,
                    Some(current) => {
                        let Some(ordering) = ops::order(v, current) else {
                            return Err(self.mismatch(at, "numbers or dates", v));
                        };
                        if op == AggOp::Min { ordering == Ordering::Less } else { ordering == Ordering::Greater }
                    }
                };
                if replace {
                    *best = Some(v.clone());
                }
            }
            (_, v) => return Err(self.mismatch(at, "a number or a boolean", v)),
        }
        Ok(())
    }

    fn aggregate_result(&self, at: At<'p>, agg: Agg, acc: Acc, items: usize) -> Res {
        Ok(match acc {
            Acc::Sum(n) => Value::Num(n),
            Acc::Duration(d) => Value::Duration(d),
            Acc::Count(n) => Value::Num(Decimal::from(n)),
            Acc::All(b) | Acc::Any(b) => Value::Bool(b),
            Acc::List(values) => Value::List(values.into()),
            Acc::Best(Some(v)) => v,
            Acc::Best(None) => {
                let name = agg.op.name();
                let mut error = EvalError::new(code::EMPTY, format!("{name} of an empty list"), at.span())
                    .with_label(at.span(), format!("`{name}` needs at least one element"));
                if items > 0 {
                    error = error.with_note(format!("all {items} elements were left out by the `if` filter"));
                }
                return Err(Box::new(
                    error.with_note("test `count(…) > 0` first, or give a fallback with `if … then … else`"),
                ));
            }
        })
    }

    // ---- built-ins ---------------------------------------------------------------------

    fn finish_builtin<T: Tracer>(
        &self,
        at: At<'p>,
        (f, args): (Builtin, &[NodeId]),
        values: &[Value],
        detail: &mut Detail,
    ) -> Res {
        let arity = match f {
            Builtin::Min2 | Builtin::Max2 | Builtin::DaysBetween => 2,
            Builtin::Abs | Builtin::Year | Builtin::Month | Builtin::Day => 1,
            Builtin::MakeDate | Builtin::ProRata => 3,
            Builtin::Ratio => 2,
        };
        if values.len() != arity {
            return Err(internal(at.span(), format!("`{}` given {} arguments", f.name(), values.len())));
        }
        for (v, &arg) in values.iter().zip(args) {
            if let Value::None(reason) = v {
                return Err(self.no_value(reason, self.at(arg, at.span())?, at, &format!("`{}`", f.name())));
            }
        }
        let result = match (f, values) {
            (Builtin::Min2 | Builtin::Max2, [a, b]) => {
                let Some(ordering) = ops::order(a, b) else {
                    return Err(self.mismatch(at, "two numbers or two dates", b));
                };
                let take_b =
                    if f == Builtin::Min2 { ordering == Ordering::Greater } else { ordering == Ordering::Less };
                if take_b { b.clone() } else { a.clone() }
            }
            (Builtin::Abs, [Value::Num(n)]) => Value::Num(n.abs()),
            (Builtin::Year | Builtin::Month | Builtin::Day, [Value::Date(d)]) => Value::Num(ops::date_part(f, *d)),
            (Builtin::MakeDate, [Value::Num(y), Value::Num(m), Value::Num(d)]) => {
                Value::Date(make_date(at, *y, *m, *d)?)
            }
            (Builtin::DaysBetween, [Value::Date(a), Value::Date(b)]) => Value::Num(Decimal::from(a.days_until(*b))),
            (Builtin::Ratio, [Value::Num(_), Value::Num(den)]) if den.is_zero() => {
                Value::None(Arc::from("the denominator of the ratio is zero"))
            }
            (Builtin::Ratio, [Value::Num(num), Value::Num(den)]) => {
                Value::Num(num.checked_div(*den).ok_or_else(|| self.overflow(at, "the ratio".into()))?)
            }
            (Builtin::ProRata, [Value::Num(x), Value::Num(low), Value::Num(high)]) => {
                Value::Num(pro_rata(*x, *low, *high).ok_or_else(|| self.overflow(at, "the proportion".into()))?)
            }
            (_, values) => {
                let kinds: Vec<&str> = values.iter().map(ops::kind_name).collect();
                return Err(internal(at.span(), format!("`{}` applied to {}", f.name(), kinds.join(", "))));
            }
        };
        if T::ENABLED {
            let mut operands = Vec::with_capacity(args.len());
            for (&arg, value) in args.iter().zip(values) {
                operands.push(operand(self.at(arg, at.span())?, value.clone()));
            }
            *detail = Pending::made(StepKind::Builtin { name: f.name().into(), args: operands });
        }
        Ok(result)
    }

    // ---- checks and errors -------------------------------------------------------------

    /// A boolean for a condition, refusing "no value".
    fn truth(&self, v: Value, from: NodeId, at: At<'p>, what: &str) -> Res<bool> {
        match v {
            Value::Bool(b) => Ok(b),
            Value::None(reason) => Err(self.no_value(&reason, self.at(from, at.span())?, at, what)),
            other => Err(self.mismatch(at, "a boolean", &other)),
        }
    }

    fn number(&self, v: &Value, from: At<'p>, at: At<'p>, what: &str) -> Res<Decimal> {
        match v {
            Value::Num(n) => Ok(*n),
            Value::None(reason) => Err(self.no_value(reason, from, at, what)),
            other => Err(self.mismatch(at, "a number", other)),
        }
    }

    fn refuse_none(&self, v: &Value, from: At<'p>, at: At<'p>, what: &str) -> Res<()> {
        match v {
            Value::None(reason) => Err(self.no_value(reason, from, at, what)),
            _ => Ok(()),
        }
    }

    /// E0503: a missing value reached `at`; `from` is the expression that had no value.
    fn no_value(&self, reason: &str, from: At<'p>, at: At<'p>, what: &str) -> Box<EvalError> {
        let mut error = EvalError::new(code::NO_VALUE, format!("no value: {reason}"), at.span())
            .with_label(at.span(), format!("{what} needs a value"));
        if from.span() != at.span() {
            error = error.with_label(from.span(), format!("this has no value ({reason})"));
        }
        Box::new(error.with_note(
            "a value is missing when an optional input is not given, a table cell is `none`, or no table row \
             matched; give a fallback with `otherwise`, or test it with `is none`",
        ))
    }

    fn overflow(&self, at: At<'p>, what: String) -> Box<EvalError> {
        Box::new(
            EvalError::new(code::OVERFLOW, format!("arithmetic overflow: {what} is too large to represent"), at.span())
                .with_label(at.span(), "this calculation overflows")
                .with_note("numbers are exact decimals with about 28 significant digits"),
        )
    }

    fn mismatch(&self, at: At<'p>, expected: &str, found: &Value) -> Box<EvalError> {
        internal(at.span(), format!("expected {expected}, found {}", ops::kind_name(found)))
    }
}

/// The share of the way `x` has gone from `low` to `high`: 0 at or below `low`, 1 at or
/// above `high`. Exact except for the last digit of a fraction that does not terminate;
/// `None` if the differences overflow.
pub(crate) fn pro_rata(x: Decimal, low: Decimal, high: Decimal) -> Option<Decimal> {
    if x <= low {
        Some(Decimal::ZERO)
    } else if x >= high {
        Some(Decimal::ONE)
    } else {
        x.checked_sub(low)?.checked_div(high.checked_sub(low)?)
    }
}

/// The message of E0512 ([`no_version`]).
pub(crate) fn no_version_message(name: &str, date: Date) -> String {
    format!("no version of `{name}` is valid on {date}")
}

/// E0512: no version of `name` (the reference at `span`) is valid on `date`; lists the
/// versions there are. Generated code gives it too.
pub(crate) fn no_version(span: Span, name: &str, versions: &[VersionArm], date: Date) -> Box<EvalError> {
    let known: Vec<String> = versions.iter().map(|v| v.valid.to_string()).collect();
    let mut error = EvalError::new(code::NO_VERSION, no_version_message(name, date), span)
        .with_label(span, format!("chosen by the date {date}"))
        .with_note(format!("its versions are valid {}", known.join("; ")));
    for v in versions {
        error = error.with_label(v.span, format!("valid {}", v.valid));
    }
    Box::new(error)
}

/// Whether the left operand of `and` or `or` decides it (`false and …`, `true or …`): the
/// right one is then not evaluated.
#[inline]
fn decides(op: BinOp, left: bool) -> bool {
    if op == BinOp::And { !left } else { left }
}

/// The result of comparison `op` on two values (`None`: they cannot be ordered).
#[inline]
fn compared(op: BinOp, a: &Value, b: &Value) -> Option<bool> {
    Some(match op {
        BinOp::Eq => ops::equal(a, b),
        BinOp::Ne => !ops::equal(a, b),
        _ => holds(op, ops::order(a, b)?),
    })
}

/// The rule of a rank (the roots, or the exceptions to one rule: `rank` lists them in order)
/// that applies, if any, with the index of the rule that gave the value; two that apply are a
/// conflict. `apply` says whether a rule applies (through an exception, or its condition).
/// The interpreter and compiled rules both weigh a rank here.
pub(crate) fn weigh_rank(
    rank: impl IntoIterator<Item = usize>,
    rules: &[RuleArm],
    mut apply: impl FnMut(usize) -> Res<Option<(Value, usize)>>,
) -> Res<Option<(Value, usize)>> {
    let mut applied: Option<(Value, usize)> = None;
    for index in rank {
        if let Some((value, winner)) = apply(index)? {
            if let Some((_, first)) = &applied {
                return Err(match (rules.get(*first), rules.get(winner)) {
                    (Some(a), Some(b)) => rules_conflict(a, b),
                    _ => internal(Span::default(), "a rule that applies is not among the rules"),
                });
            }
            applied = Some((value, winner));
        }
    }
    Ok(applied)
}

/// Whether comparison `op` holds for two values in this order.
#[inline]
pub(crate) fn holds(op: BinOp, ordering: Ordering) -> bool {
    match op {
        BinOp::Eq => ordering == Ordering::Equal,
        BinOp::Ne => ordering != Ordering::Equal,
        BinOp::Lt => ordering == Ordering::Less,
        BinOp::Le => ordering != Ordering::Greater,
        BinOp::Gt => ordering == Ordering::Greater,
        _ => ordering != Ordering::Less,
    }
}

/// Error E0510: no rule applies and there is no default.
#[cold]
fn no_rule_applies(span: Span) -> Box<EvalError> {
    Box::new(
        EvalError::new(code::EMPTY_RULES, "no rule applies and the decision has no default".to_string(), span)
            .with_label(span, "no rule applies")
            .with_note("each rule's condition was false for these inputs")
            .with_note("add a `default`, or a rule for this case"),
    )
}

/// Error E0509: two rules of one rank apply, `first` before `second` in order.
#[cold]
pub(crate) fn rules_conflict(first: &RuleArm, second: &RuleArm) -> Box<EvalError> {
    let (a, b) = (first, second);
    Box::new(
        EvalError::new(
            code::CONFLICT,
            format!("rules \"{}\" and \"{}\" both apply, and neither is an exception to the other", a.label, b.label),
            b.span,
        )
        .with_label(b.span, "applies")
        .with_label(a.span, "applies too")
        .with_note("a conflict is never resolved silently")
        .with_note("make one an exception to the other with `except \"label\"`, or make their conditions exclusive"),
    )
}

fn internal(span: Span, what: impl std::fmt::Display) -> Box<EvalError> {
    Box::new(EvalError::internal(span, what))
}

// The error paths of the node lookup are kept out of line so that the lookup itself, done
// for every node evaluated, is inlined and small.

#[cold]
#[inline(never)]
fn missing_node(id: NodeId, at: Span) -> Box<EvalError> {
    internal(at, format!("node #{} does not exist", id.0))
}

#[cold]
#[inline(never)]
fn too_deep(span: Span) -> Box<EvalError> {
    Box::new(
        EvalError::new(
            code::TOO_DEEP,
            format!("expression nested too deeply (more than {MAX_EXPR_DEPTH} levels)"),
            span,
        )
        .with_label(span, "the evaluator gave up here")
        .with_note("split the expression into named decisions or `let` bindings"),
    )
}

fn make_date(at: At<'_>, y: Decimal, m: Decimal, d: Decimal) -> Res<Date> {
    let whole = |n: Decimal| if n.is_integer() { i32::try_from(n).ok() } else { None };
    let date = match (whole(y), whole(m), whole(d)) {
        (Some(y), Some(m), Some(d)) => {
            u32::try_from(m).ok().zip(u32::try_from(d).ok()).and_then(|(m, d)| Date::from_ymd(y, m, d))
        }
        _ => None,
    };
    date.ok_or_else(|| {
        let shown = [y, m, d].map(|n| n.normalize().to_string()).join(", ");
        Box::new(
            EvalError::new(code::DATE, format!("date({shown}) is not a valid date"), at.span())
                .with_label(at.span(), "this date does not exist")
                .with_note("years run from 1 to 9999, months from 1 to 12, and the day must exist in that month"),
        )
    })
}

enum Prepared {
    Cached(Value),
    Run(NodeId, Frame),
}

/// Frames kept for reuse (more, or larger ones, are simply freed).
const SPARE_FRAMES: usize = 64;
/// The most element labels (`item N`) a session keeps; longer lists make the rest each time.
const SHARED_ITEM_LABELS: usize = 4096;
const SPARE_FRAME_SLOTS: usize = 256;
/// "No value" reasons kept for sharing.
const SHARED_REASONS: usize = 1024;
/// Calls remembered per session, and argument values kept for them: the memo's memory is
/// bounded whatever the program does (later calls are simply not remembered).
const MEMO_CALLS: usize = 1 << 16;
const MEMO_ARGS: usize = 1 << 18;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum ReasonKey {
    /// A table cell's reason, by the address and length of its text in the program.
    Text(usize, usize),
    /// "No row of table … matched", by table.
    Unmatched(u32),
}

/// Results of decisions with parameters for the arguments seen so far in a session. Two
/// sets of arguments are the same only when they are identical ([`identical`]): a number
/// must have the same digits and scale (`1.0` and `1.00` are equal but print differently),
/// and a record or list must be the very same one, so a remembered result is always
/// exactly the one evaluation would give.
#[derive(Default)]
struct Memo {
    /// The last entry of each hash; entries with the same hash are chained through `next`.
    heads: HashMap<u64, u32, FxBuild>,
    entries: Vec<MemoEntry>,
    /// The arguments of every entry, one after another.
    args: Vec<Value>,
    /// How many calls found no room so far (a kept call must not have met a full memo).
    refused: u32,
    /// The entries before this one were there before the innermost stretch being kept began,
    /// and the entries before it that calls took their result from since ([`kept`]).
    floor: usize,
    hits_below_floor: Vec<u32>,
}

struct MemoEntry {
    decision: DecisionId,
    start: u32,
    len: u32,
    result: MemoResult,
    next: u32,
}

/// What the memo holds for a call.
enum Recall {
    /// Its result, to be used.
    Value(Value),
    /// Its result, but taking it would count the call deeper than the limits: run it again.
    Known,
    /// Nothing.
    Absent,
}

/// A remembered result, and how many nested calls and expression levels computing it took.
struct MemoResult {
    value: Value,
    needs: (u32, u32),
}

impl Memo {
    fn find(&self, hash: u64, id: DecisionId, args: &[Value]) -> Option<&MemoResult> {
        self.find_at(hash, id, args).map(|(_, result)| result)
    }

    /// The entry of a call, by its place among the entries, and its result.
    fn find_at(&self, hash: u64, id: DecisionId, args: &[Value]) -> Option<(usize, &MemoResult)> {
        let mut i = *self.heads.get(&hash)?;
        while let Some(entry) = self.entries.get(i as usize) {
            if entry.decision == id
                && entry.len as usize == args.len()
                && let Some(stored) = self.args.get(entry.start as usize..entry.start as usize + args.len())
                && stored.iter().zip(args).all(|(a, b)| identical(a, b))
            {
                return Some((i as usize, &entry.result));
            }
            i = entry.next;
        }
        None
    }

    /// Keeps a copy of a call's arguments; `None` when the memo is full.
    fn stash(&mut self, args: &[Value]) -> Option<(u32, u32)> {
        if self.entries.len() >= MEMO_CALLS || self.args.len() + args.len() > MEMO_ARGS {
            self.refused = self.refused.wrapping_add(1);
            return None;
        }
        let start = u32::try_from(self.args.len()).ok()?;
        let len = u32::try_from(args.len()).ok()?;
        self.args.extend_from_slice(args);
        Some((start, len))
    }

    fn insert(&mut self, hash: u64, decision: DecisionId, (start, len): (u32, u32), result: MemoResult) {
        let Ok(index) = u32::try_from(self.entries.len()) else { return };
        let next = self.heads.insert(hash, index).unwrap_or(u32::MAX);
        self.entries.push(MemoEntry { decision, start, len, result, next });
    }

    fn clear(&mut self) {
        self.heads.clear();
        self.entries.clear();
        self.args.clear();
        self.floor = 0;
        self.hits_below_floor.clear();
    }
}

fn memo_hash(id: DecisionId, args: &[Value]) -> u64 {
    let mut h = FxHasher::default();
    h.write_u32(id.0);
    for value in args {
        hash_value(value, &mut h);
    }
    h.finish()
}

/// A hash consistent with [`identical`].
fn hash_value(value: &Value, h: &mut FxHasher) {
    match value {
        Value::Bool(b) => {
            h.write_u8(1);
            h.write_u8(u8::from(*b));
        }
        Value::Num(n) => {
            h.write_u8(2);
            h.write(&n.serialize());
        }
        Value::Date(d) => {
            h.write_u8(3);
            d.hash(h);
        }
        Value::Duration(d) => {
            h.write_u8(4);
            d.hash(h);
        }
        Value::Text(t) => {
            h.write_u8(5);
            h.write(t.as_bytes());
        }
        Value::Enum(i) => {
            h.write_u8(6);
            h.write_u32(*i);
        }
        Value::Record(items) | Value::List(items) => {
            h.write_u8(7);
            h.write_usize(items.as_ptr() as usize);
            h.write_usize(items.len());
        }
        Value::None(reason) => {
            h.write_u8(8);
            h.write(reason.as_bytes());
        }
    }
}

/// Whether two values are the same in every respect evaluation can see: numbers with the
/// same digits and scale, texts and reasons with the same text, and records and lists that
/// are the very same one (a stricter test than equality of their contents).
fn identical(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Num(x), Value::Num(y)) => x.serialize() == y.serialize(),
        (Value::Date(x), Value::Date(y)) => x == y,
        (Value::Duration(x), Value::Duration(y)) => x == y,
        (Value::Text(x), Value::Text(y)) | (Value::None(x), Value::None(y)) => x == y,
        (Value::Enum(x), Value::Enum(y)) => x == y,
        (Value::Record(x), Value::Record(y)) | (Value::List(x), Value::List(y)) => Arc::ptr_eq(x, y),
        _ => false,
    }
}

#[derive(Clone, Copy)]
struct Agg {
    op: AggOp,
    local: LocalId,
    list: NodeId,
    body: NodeId,
    filter: Option<NodeId>,
}

enum Acc {
    Sum(Decimal),
    Duration(Duration),
    Count(u64),
    Best(Option<Value>),
    All(bool),
    Any(bool),
    List(Vec<Value>),
}

impl Acc {
    fn new(op: AggOp, ty: &Ty) -> Acc {
        match op {
            AggOp::Sum if *ty == Ty::Duration => Acc::Duration(Duration::default()),
            AggOp::Sum => Acc::Sum(Decimal::ZERO),
            AggOp::Count => Acc::Count(0),
            AggOp::Min | AggOp::Max => Acc::Best(None),
            AggOp::All => Acc::All(true),
            AggOp::Any => Acc::Any(false),
            AggOp::Filter => Acc::List(Vec::new()),
        }
    }

    /// `all` stops at the first false element, `any` at the first true one.
    fn decided(&self) -> bool {
        matches!(self, Acc::All(false) | Acc::Any(true))
    }
}

#[derive(Clone, Copy)]
pub(crate) enum PathRoot {
    Input(InputId),
    Param(ParamId),
}

struct Path {
    root: PathRoot,
    /// Each field access, outermost last: the node of the record read and the field index.
    fields: Vec<(NodeId, u32)>,
}

fn operand(at: At<'_>, value: Value) -> Operand {
    Operand { value, ty: at.node.ty.clone(), span: at.span(), node: at.id }
}

fn read_local(frame: &Frame, local: LocalId, at: Span) -> Res {
    frame.get(local.index()).cloned().ok_or_else(|| internal(at, format!("local slot {} is not bound", local.0)))
}

#[inline]
fn bind(frame: &mut Frame, local: LocalId, value: Value, at: Span) -> Res<()> {
    let i = local.index();
    if i >= frame.len() {
        if i >= MAX_FRAME {
            return Err(internal(at, format!("local slot {i} is out of range")));
        }
        frame.resize(i + 1, Value::None(Arc::from("unbound local")));
    }
    frame[i] = value;
    Ok(())
}

/// A duration as `(count, per)` parts of a rate's unit, or error E0505 located at the
/// operation (`doing` says what it does) and at the duration.
fn duration_fraction(
    d: Duration,
    unit: covenant_ir::Unit,
    (at, duration_at): (At<'_>, At<'_>),
    doing: &str,
) -> Res<(i32, i32)> {
    ops::duration_fraction(d, unit).map_err(|message| {
        let unit = unit.name();
        Box::new(
            EvalError::new(code::DURATION_UNIT, message, at.span())
                .with_label(at.span(), doing)
                .with_label(duration_at.span(), format!("this is {d}"))
                .with_note(format!("a rate per {unit} needs a duration it can be converted to")),
        )
    })
}
