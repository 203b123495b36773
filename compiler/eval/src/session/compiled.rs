//! Decision bodies compiled to closures, for evaluation without a tracer.
//!
//! The interpreter looks every node up, checks and counts the nesting depth and matches on
//! the node's kind, on every row. [`Compiled`] does that work once per program: each decision
//! body becomes a tree of closures that call their children's closures directly. The
//! operations themselves are the interpreter's own functions, so values, "no value" reasons
//! and errors are exactly the interpreter's. What stays exact, and how:
//! - A node kind without a closure of its own (splits, payments, contract dates) is
//!   evaluated by the interpreter, at the depth it would have had.
//! - A body runs compiled only where every compiled level of it is within the nesting limit
//!   ([`Session::run_body`]), so no compiled node could have failed with E0508. The body's
//!   deepest level counts as reached: a remembered call then records at least the depth it
//!   needed, and the memo gives a value only where computing it again would give the same.
//! - Decision calls make the interpreter's checks once, when compiling, and then count the
//!   call depth and use the memo as the interpreter does, at the depth it would be at; a
//!   callee with a small body (counting the bodies of the decisions with parameters it calls)
//!   is computed again instead of remembered, which gives the same value (the memo only ever
//!   gives what evaluating does). Such a small callee is compiled into its caller
//!   ([`Compiler::inlined`]), and the small callees it calls into it, their locals kept in the
//!   caller's frame, each call still counted as the interpreter counts it.
//!   A table lookup takes a constant cell, or a record or list of constants (at the levels
//!   evaluating it counts), or a `none` cell's reason, kept once made, straight from the
//!   table's grid; any other goes,
//!   with the `as of` date, through the interpreter's own paths. `rules` bodies are weighed
//!   as [`Session::weigh`] weighs them ([`CompiledRules`]).
//! - A node folded into its parent's closure (a constant compared with, a local whose field is
//!   read) still counts its level as reached.
//! - An aggregation reads its elements where the list keeps them (`Session::element`): the
//!   loop variable's slot holds the list's place on the session's stack of elements, which
//!   only compiled reads ever see; where the interpreter may read the frame during the loop,
//!   each element is bound to the slot instead.
//! - Constants that hold storage shared by reference count (text, reasons, records, lists)
//!   are given from each session's own copy, so that sessions on different threads never
//!   count references in the same place (a count written by two cores goes back and forth
//!   between their caches on every row).
//! - Compiling stops at [`MAX_LEVELS`] levels and after [`MAX_CLOSURES`] closures (a
//!   program whose nodes are shared many times over); what is left is interpreted.

use super::{Acc, Agg, At, Frame, MAX_CALL_DEPTH, Pending, Recall, Res, Session, bind, memo_hash, read_local};
use crate::index::GridHit;
use crate::trace::NoTrace;
use covenant_ir::{AggOp, BinOp, Cell, DecisionId, LocalId, NodeId, NodeKind, Program, Span, TableId, UnOp, Value};
use std::sync::Arc;

/// The deepest level of a body given closures; deeper nodes are interpreted.
const MAX_LEVELS: u32 = 96;
/// The most closures made for one program, beyond a few for each of its nodes.
const MAX_CLOSURES: usize = 100_000;
/// Reasons of `none` cells are kept for cells among the first this many rows of all tables.
const MAX_KEPT_CELL_REASONS: usize = 1 << 16;
/// A session keeps its own copies of the first this many constants that hold shared storage.
const MAX_OWN_CONSTANTS: usize = 1 << 16;
/// The most nodes in a decision body (with the bodies of the decisions with parameters it
/// calls) computed again on every call instead of remembered.
const CHEAP_NODES: usize = 24;

/// A compiled node. It holds no reference into the program (a session may borrow the program
/// for less long than the compiled program lives); it finds its node by number.
type Code = Box<dyn Fn(&mut Session<'_>, &mut Frame) -> Res + Send + Sync>;

/// A program's decision bodies as closures, built once and shared by every session of a run.
pub struct Compiled {
    /// The address of the program compiled, so a session of another program does not use it.
    pub(super) program: usize,
    pub(super) bodies: Vec<Option<Body>>,
}

/// A compiled body, and the levels of nodes it evaluates in place (the root is level 0).
pub(super) struct Body {
    pub(super) code: Code,
    pub(super) levels: u32,
}

impl Compiled {
    pub fn new(program: &Program) -> Compiled {
        let budget = MAX_CLOSURES.min(program.nodes.len().saturating_mul(4).saturating_add(1_000));
        let table_rows = program
            .tables
            .iter()
            .scan(0usize, |next, table| {
                let first = *next;
                *next = next.saturating_add(table.rows.len());
                Some(first)
            })
            .collect();
        let mut compiler = Compiler {
            program,
            table_rows,
            made: 0,
            budget,
            deepest: 0,
            slots: 0,
            inlining: None,
            spoiled: false,
            shared_constants: 0,
            elements: Vec::new(),
        };
        let bodies = program
            .decisions
            .iter()
            .map(|def| {
                compiler.deepest = 0;
                compiler.slots = def.locals.max(u32::try_from(def.params.len()).unwrap_or(u32::MAX));
                let code = compiler.node(def.body, 0);
                Some(Body { code, levels: compiler.deepest + 1 })
            })
            .collect();
        Compiled { program: std::ptr::from_ref(program) as usize, bodies }
    }

    /// How many decision bodies are compiled.
    pub fn len(&self) -> usize {
        self.bodies.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Compiler<'p> {
    program: &'p Program,
    /// The place of each table's first row among every table's rows.
    table_rows: Vec<usize>,
    made: usize,
    budget: usize,
    /// The deepest level given a closure in the body being compiled.
    deepest: u32,
    /// The frame slots of the decision being compiled: a body inlined into it keeps its own
    /// locals after them.
    slots: u32,
    /// Where the locals of a body being inlined live in its caller's frame.
    inlining: Option<Inlining>,
    /// Whether the body being inlined met a node that cannot be inlined (it is then called).
    spoiled: bool,
    /// How many constants holding shared storage have been numbered ([`Given::Shared`]).
    shared_constants: usize,
    /// The loop variables of the aggregations being compiled whose elements are read where
    /// the list keeps them, and whether the interpreter may read the frame while they run
    /// (then each element is bound to its slot).
    elements: Vec<(LocalId, bool)>,
}

/// The caller's slots of an inlined body's locals: its parameters where they are given
/// (a local of the caller, read in place, or a slot of its own), the rest from `base` on.
struct Inlining {
    params: Vec<LocalId>,
    base: u32,
}

impl<'p> Compiler<'p> {
    /// The closure of node `id` at `level` below the body's root.
    fn node(&mut self, id: NodeId, level: u32) -> Code {
        let Some(node) = self.program.nodes.get(id.index()) else { return self.interpreted(id, level) };
        if level >= MAX_LEVELS || self.made >= self.budget {
            return self.interpreted(id, level);
        }
        // An inlined body reads its locals where `Inlining` puts them: a node that would read
        // the frame another way is not inlined (a call with arguments is, if it is inlined
        // too: see `decision`).
        if self.inlining.is_some()
            && matches!(&node.kind, NodeKind::Aggregate { .. } | NodeKind::Versioned { .. } | NodeKind::Match { .. })
        {
            self.spoiled = true;
        }
        // A version not valid is evaluated by the interpreter, which reads the frame.
        if matches!(&node.kind, NodeKind::Versioned { .. }) {
            self.read_elements_whole();
        }
        let span = node.origin.span;
        let below = level + 1;
        let code: Code = match &node.kind {
            NodeKind::Const(v) => match self.given(v.clone()) {
                Given::Plain(v) => Box::new(move |_, _| Ok(v.clone())),
                shared => Box::new(move |s, _| Ok(s.give(&shared))),
            },
            NodeKind::Local(local) => {
                let local = self.slot(*local);
                if self.is_element(local) {
                    Box::new(move |s, f| match s.element(f, local) {
                        Some(element) => Ok(element.clone()),
                        None => Err(super::internal(span, "an aggregation's element is not kept")),
                    })
                } else {
                    Box::new(move |_, f| read_local(f, local, span))
                }
            }
            NodeKind::Input(input) => {
                let input = *input;
                Box::new(move |s, _| s.read_input::<NoTrace>(s.compiled_at(id)?, input, &mut Pending::None))
            }
            NodeKind::Param(param) => {
                let param = *param;
                // A param not yet computed is computed where the interpreter computes it.
                Box::new(move |s, _| {
                    let at = s.compiled_at(id)?;
                    s.at_level(below, |s| s.read_param::<NoTrace>(at, param, &mut Pending::None))
                })
            }
            NodeKind::Decision { id: decision, args } => self.decision(span, (*decision, args), level),
            NodeKind::Table { id: table, args } => {
                let (table, codes) = (*table, self.nodes(args, below));
                let args: Box<[NodeId]> = args.as_slice().into();
                let cells = self.grid_cells(table);
                Box::new(move |s, f| {
                    let base = s.push_codes(&codes, f)?;
                    // A row found in the table's grid whose cell is a constant gives it, as
                    // `table_value` does, at the level it counts, and a `none` cell its reason;
                    // anything else (a key with no value, two rows, no grid) is looked up as
                    // the interpreter looks it up.
                    if let Some(GridHit::Row(Some(row))) =
                        s.indexes.and_then(|ix| ix.grid_row(table, &s.scratch[base..]))
                    {
                        match cells.get(row) {
                            Some(&GridCell::Value(ref value, levels))
                                if s.depth + below + levels <= super::MAX_EXPR_DEPTH =>
                            {
                                s.scratch.truncate(base);
                                s.peak_depth = s.peak_depth.max(s.depth + below + levels);
                                return Ok(s.give(value));
                            }
                            Some(&GridCell::NoValue(slot)) => {
                                s.scratch.truncate(base);
                                return s.no_value_cell(table, row, slot);
                            }
                            _ => {}
                        }
                    }
                    let selected = s.compiled_at(id).and_then(|at| s.select_row(at, table, &args, &s.scratch[base..]));
                    s.scratch.truncate(base);
                    // The cell is evaluated where the interpreter evaluates it: one level down.
                    s.at_level(below, |s| s.table_value(table, selected?, &mut NoTrace))
                })
            }
            NodeKind::Unary(UnOp::Not, x) => {
                let (x, code) = (*x, self.node(*x, below));
                Box::new(move |s, f| {
                    let v = code(s, f)?;
                    Ok(Value::Bool(!s.compiled_truth(v, x, id, "`not`")?))
                })
            }
            NodeKind::Unary(UnOp::Neg, x) => {
                let (x, code) = (*x, self.node(*x, below));
                Box::new(move |s, f| {
                    let v = code(s, f)?;
                    s.negate::<NoTrace>(s.compiled_at(id)?, x, v, &mut Pending::None)
                })
            }
            NodeKind::Binary(op @ (BinOp::And | BinOp::Or), l, r) => {
                let (op, l, r) = (*op, *l, *r);
                let (left, right) = (self.node(l, below), self.node(r, below));
                Box::new(move |s, f| {
                    let a = left(s, f)?;
                    let a = s.compiled_truth(a, l, id, op.symbol())?;
                    if super::decides(op, a) {
                        return Ok(Value::Bool(a));
                    }
                    let b = right(s, f)?;
                    Ok(Value::Bool(s.compiled_truth(b, r, id, op.symbol())?))
                })
            }
            NodeKind::Binary(op, l, r) if op.is_comparison() && self.constant(*r).is_some() => {
                // A comparison with a constant (`r.rating == 4`) compares with it in place.
                let (op, l, r) = (*op, *l, *r);
                let (left, constant) = (self.node(l, below), self.constant(r).cloned().unwrap_or(Value::Bool(false)));
                // The constant's level counts as reached, as if it had a closure.
                self.deepest = self.deepest.max(below);
                let place = self.place(l);
                let constant = Constant::new(constant);
                Box::new(move |s, f| {
                    // A local or a field of one is compared where it is kept.
                    if let Some(a) = place.and_then(|place| place.get(s, f))
                        && let Some(result) = constant.compared(op, a)
                    {
                        return Ok(Value::Bool(result));
                    }
                    let a = left(s, f)?;
                    if let Some(result) = constant.compared(op, &a) {
                        return Ok(Value::Bool(result));
                    }
                    let constant = constant.value.clone();
                    s.finish_binary::<NoTrace>(s.compiled_at(id)?, (op, l, r), (a, constant), &mut Pending::None)
                })
            }
            NodeKind::Binary(op, l, r) if op.is_comparison() => {
                let (op, l, r) = (*op, *l, *r);
                let (left, right) = (self.node(l, below), self.node(r, below));
                Box::new(move |s, f| {
                    let a = left(s, f)?;
                    let b = right(s, f)?;
                    // Two values that have values and can be compared are compared in place;
                    // the interpreter's comparison gives the errors.
                    if let Some(result) = compared_values(op, &a, &b) {
                        return Ok(Value::Bool(result));
                    }
                    s.finish_binary::<NoTrace>(s.compiled_at(id)?, (op, l, r), (a, b), &mut Pending::None)
                })
            }
            NodeKind::Binary(op, l, r) => {
                let (op, l, r) = (*op, *l, *r);
                let (left, right) = (self.node(l, below), self.node(r, below));
                Box::new(move |s, f| {
                    let a = left(s, f)?;
                    let b = right(s, f)?;
                    s.finish_binary::<NoTrace>(s.compiled_at(id)?, (op, l, r), (a, b), &mut Pending::None)
                })
            }
            NodeKind::If { cond, then, els } => {
                let cond_id = *cond;
                let (cond, then, els) = (self.node(*cond, below), self.node(*then, below), self.node(*els, below));
                Box::new(move |s, f| {
                    let c = cond(s, f)?;
                    if s.compiled_truth(c, cond_id, id, "the condition of `if`")? { then(s, f) } else { els(s, f) }
                })
            }
            NodeKind::Match { scrutinee, arms } => {
                let scrutinee_id = *scrutinee;
                let scrutinee = self.node(scrutinee_id, below);
                let bodies: Vec<Code> = arms.iter().map(|arm| self.node(arm.body, below)).collect();
                Box::new(move |s, f| {
                    let v = scrutinee(s, f)?;
                    let at = s.compiled_at(id)?;
                    let NodeKind::Match { arms, .. } = &at.node.kind else {
                        return Err(super::internal(span, "a compiled `match` is not a `match`"));
                    };
                    let (index, _) = s.select_arm(at, scrutinee_id, &v, arms)?;
                    match bodies.get(index) {
                        Some(body) => body(s, f),
                        None => Err(super::internal(span, "a `match` arm has no code")),
                    }
                })
            }
            NodeKind::Let { local, value, body } => {
                let local = self.slot(*local);
                let (value, body) = (self.node(*value, below), self.node(*body, below));
                Box::new(move |s, f| {
                    let v = value(s, f)?;
                    bind(f, local, v, span)?;
                    body(s, f)
                })
            }
            NodeKind::Field { record, index } if self.local(*record).is_some() => {
                // A field of a local (`r.rating`) is read in place, without copying the record.
                let (record, index, local) = (*record, *index, self.local(*record).unwrap_or(LocalId(0)));
                let record_span = self.program.nodes.get(record.index()).map_or(span, |n| n.origin.span);
                // The local's level counts as reached, as if it had a closure.
                self.deepest = self.deepest.max(below);
                if self.is_element(local) {
                    // An aggregation's element, read in the list that keeps it.
                    Box::new(move |s, f| {
                        let element = s.element(f, local);
                        if let Some(Value::Record(fields)) = element
                            && let Some(value) = fields.get(index as usize)
                        {
                            return Ok(value.clone());
                        }
                        let Some(base) = element.cloned() else {
                            return Err(super::internal(record_span, "an aggregation's element is not kept"));
                        };
                        s.field(base, record, index, s.compiled_at(id)?)
                    })
                } else {
                    Box::new(move |s, f| {
                        if let Some(Value::Record(fields)) = f.get(local.index())
                            && let Some(value) = fields.get(index as usize)
                        {
                            return Ok(value.clone());
                        }
                        let base = read_local(f, local, record_span)?;
                        s.field(base, record, index, s.compiled_at(id)?)
                    })
                }
            }
            NodeKind::Field { record, index } => {
                let (record, index) = (*record, *index);
                let code = self.node(record, below);
                // The interpreter's reading in place finds locals in the callee's own frame (and
                // would read an element kept in its list as its marker).
                let in_place = self.inlining.is_none() && self.elements.is_empty();
                let remembered = self.program.parameterless_call(record);
                Box::new(move |s, f| {
                    // Read in place as the interpreter does (the links are the levels below).
                    if in_place
                        && s.depth + below + super::MAX_BORROWED_LINKS < super::MAX_EXPR_DEPTH
                        && let Some(Value::Record(fields)) = s.borrowed(record, f, 1)
                        && let Some(value) = fields.get(index as usize)
                    {
                        return Ok(value.clone());
                    }
                    // A field of a decision the row has computed is read where the row keeps
                    // it: the call would give a copy of that record, and copying a record
                    // counts a reference.
                    if let Some(decision) = remembered
                        && let Some(Some(Value::Record(fields))) = s.decisions.get(decision.index())
                        && let Some(value) = fields.get(index as usize)
                    {
                        return Ok(value.clone());
                    }
                    let base = code(s, f)?;
                    s.field(base, record, index, s.compiled_at(id)?)
                })
            }
            NodeKind::Record(items) | NodeKind::List(items) => {
                let record = matches!(node.kind, NodeKind::Record(_));
                let codes = self.nodes(items, below);
                Box::new(move |s, f| {
                    let base = s.push_codes(&codes, f)?;
                    let values: Arc<[Value]> = s.scratch.drain(base..).collect();
                    Ok(if record { Value::Record(values) } else { Value::List(values) })
                })
            }
            NodeKind::Aggregate { op, local, list, body, filter } => {
                let agg = Agg { op: *op, local: *local, list: *list, body: *body, filter: *filter };
                let list = self.node(agg.list, below);
                // The elements are read where the list keeps them (the loop variable's slot
                // holds where the list is), unless the interpreter may read the frame while
                // they run: then each is bound.
                let (made, deepest) = (self.made, self.deepest);
                self.elements.push((agg.local, false));
                let (mut body, mut filter) = self.aggregate_parts(agg, below);
                let in_place = self.elements.pop().is_some_and(|(_, whole)| !whole);
                if !in_place {
                    (self.made, self.deepest) = (made, deepest);
                    (body, filter) = self.aggregate_parts(agg, below);
                }
                Box::new(move |s, f| {
                    let list = list(s, f)?;
                    let at = s.compiled_at(id)?;
                    let items = s.elements(at, agg, list)?;
                    let mark = s.element_stack.len();
                    if in_place {
                        // The loop variable's slot holds where the list is kept.
                        let marker =
                            u32::try_from(mark).map_err(|_| super::internal(span, "aggregations nested too deeply"))?;
                        bind(f, agg.local, Value::Enum(marker), span)?;
                        s.element_stack.push((Arc::clone(&items), 0));
                    }
                    let folded =
                        fold_elements(s, f, (at, agg, span), &items, in_place.then_some(mark), (&body, &filter));
                    if in_place {
                        s.element_stack.truncate(mark);
                    }
                    s.aggregate_result(at, agg, folded?, items.len())
                })
            }
            NodeKind::Round { value, places, mode } => {
                let (x, places, mode) = (*value, *places, *mode);
                let code = self.node(x, below);
                Box::new(move |s, f| {
                    let v = code(s, f)?;
                    s.finish_round::<NoTrace>(s.compiled_at(id)?, (x, v), (places, mode), &mut Pending::None)
                })
            }
            NodeKind::Builtin { f: builtin, args } => {
                let (builtin, codes) = (*builtin, self.nodes(args, below));
                let args: Box<[NodeId]> = args.as_slice().into();
                Box::new(move |s, f| {
                    let at = s.compiled_at(id)?;
                    s.with_codes(&codes, f, |s, values| {
                        s.finish_builtin::<NoTrace>(at, (builtin, &args), values, &mut Pending::None)
                    })?
                })
            }
            NodeKind::InSet { value, variants } => {
                let x = *value;
                let variants: Box<[u32]> = variants.as_slice().into();
                let code = self.node(x, below);
                Box::new(move |s, f| {
                    let v = code(s, f)?;
                    s.finish_in_set::<NoTrace>(s.compiled_at(id)?, (x, v), &variants, &mut Pending::None)
                })
            }
            NodeKind::IsNone(x) => {
                let code = self.node(*x, below);
                match self.program.parameterless_call(*x) {
                    // A decision the row has computed is tested where the row keeps it.
                    Some(decision) => Box::new(move |s, f| {
                        if let Some(Some(value)) = s.decisions.get(decision.index()) {
                            return Ok(Value::Bool(value.is_none()));
                        }
                        Ok(Value::Bool(code(s, f)?.is_none()))
                    }),
                    None => Box::new(move |s, f| Ok(Value::Bool(code(s, f)?.is_none()))),
                }
            }
            NodeKind::Otherwise(primary, fallback) => {
                let (primary, fallback) = (self.node(*primary, below), self.node(*fallback, below));
                Box::new(move |s, f| match primary(s, f)? {
                    Value::None(_) => fallback(s, f),
                    v => Ok(v),
                })
            }
            NodeKind::Versioned { versions, .. } => {
                let valid: Vec<_> = versions.iter().map(|v| v.valid).collect();
                let codes: Vec<Code> = versions.iter().map(|v| self.node(v.node, below)).collect();
                Box::new(move |s, f| {
                    let at = s.compiled_at(id)?;
                    let date = s.at_level(below, |s| s.evaluation_date(at))?;
                    match valid.iter().position(|v| v.contains(date)).and_then(|i| codes.get(i)) {
                        Some(code) => code(s, f),
                        // No version is valid: the interpreter gives (and remembers) the error.
                        None => s.at_level(level, |s| s.eval(id, f, &mut NoTrace)),
                    }
                })
            }
            NodeKind::Rules { rules, default } => {
                let arms: Vec<CompiledRule> = rules
                    .iter()
                    .map(|rule| CompiledRule {
                        condition: rule.condition.map(|c| (c, self.node(c, below))),
                        value: self.node(rule.value, below),
                    })
                    .collect();
                let default = default.map(|d| self.node(d, below));
                // The exceptions of each rule, and the rules that are no exception (last), in order.
                let mut ranks: Vec<Vec<usize>> = vec![Vec::new(); rules.len() + 1];
                for (index, rule) in rules.iter().enumerate() {
                    let rank = rule.parent.map_or(rules.len(), |p| p as usize);
                    // An exception to a rule that is not there applies nowhere, as in the
                    // interpreter (which finds it under no rule).
                    if let Some(rank) = ranks.get_mut(rank) {
                        rank.push(index);
                    }
                }
                let rules = CompiledRules { arms, ranks };
                Box::new(move |s, f| match rules.weigh(s, f, id, rules.arms.len())? {
                    Some((value, _)) => Ok(value),
                    None => match &default {
                        Some(default) => default(s, f),
                        None => Err(super::no_rule_applies(s.compiled_at(id)?.span())),
                    },
                })
            }
            // Left to the interpreter, and not counted as compiled levels.
            NodeKind::Split { .. }
            | NodeKind::Payment(_)
            | NodeKind::PaymentPart { .. }
            | NodeKind::ContractDate(_) => return self.interpreted(id, level),
        };
        self.made += 1;
        self.deepest = self.deepest.max(level);
        code
    }

    /// What a lookup that finds each row of a table in its grid gives without the interpreter.
    fn grid_cells(&mut self, table: TableId) -> Box<[GridCell]> {
        let Some(def) = self.program.tables.get(table.index()) else { return Box::default() };
        let first = self.table_rows.get(table.index()).copied().unwrap_or(usize::MAX);
        def.rows
            .iter()
            .enumerate()
            .map(|(index, row)| match row.cell {
                Cell::Value(cell) => match self.constant_cell(cell) {
                    Some((value, levels)) => GridCell::Value(self.given(value), levels),
                    None => GridCell::Other,
                },
                Cell::NoValue(_) => first.checked_add(index).map_or(GridCell::Other, GridCell::NoValue),
            })
            .collect()
    }

    /// The value of a table cell known without evaluating anything, and the levels the
    /// interpreter counts evaluating it: a constant (one), or a record or list of constants
    /// (two: its items are a level down; one when it has none).
    fn constant_cell(&self, cell: NodeId) -> Option<(Value, u32)> {
        if let Some(value) = self.constant(cell) {
            return Some((value.clone(), 1));
        }
        let node = self.program.nodes.get(cell.index())?;
        let (NodeKind::Record(items) | NodeKind::List(items)) = &node.kind else { return None };
        let values: Option<Vec<Value>> = items
            .iter()
            .map(|item| match &self.program.nodes.get(item.index())?.kind {
                NodeKind::Const(value) => Some(value.clone()),
                _ => None,
            })
            .collect();
        let values: Arc<[Value]> = values?.into();
        let levels = if items.is_empty() { 1 } else { 2 };
        Some((
            if matches!(node.kind, NodeKind::Record(_)) { Value::Record(values) } else { Value::List(values) },
            levels,
        ))
    }

    /// A constant as a closure gives it: where it holds shared storage, numbered for the
    /// session's own copy.
    fn given(&mut self, value: Value) -> Given {
        if matches!(value, Value::Text(_) | Value::None(_) | Value::Record(_) | Value::List(_)) {
            self.shared_constants += 1;
            Given::Shared(self.shared_constants - 1, value)
        } else {
            Given::Plain(value)
        }
    }

    /// The value of a constant node that has one.
    fn constant(&self, id: NodeId) -> Option<&'p Value> {
        match &self.program.nodes.get(id.index())?.kind {
            NodeKind::Const(value) if !value.is_none() => Some(value),
            _ => None,
        }
    }

    /// The slot a local node reads.
    fn local(&self, id: NodeId) -> Option<LocalId> {
        match self.program.nodes.get(id.index())?.kind {
            NodeKind::Local(local) => Some(self.slot(local)),
            _ => None,
        }
    }

    /// Where the value of a local, or of a field of one, is kept: in the frame, or for an
    /// aggregation's element, in the list.
    fn place(&self, id: NodeId) -> Option<Place> {
        match self.program.nodes.get(id.index())?.kind {
            NodeKind::Local(_) => {
                let local = self.local(id)?;
                Some(if self.is_element(local) { Place::Element(local) } else { Place::Local(local) })
            }
            NodeKind::Field { record, index } => {
                let local = self.local(record)?;
                Some(if self.is_element(local) {
                    Place::ElementField(local, index)
                } else {
                    Place::Field(local, index)
                })
            }
            _ => None,
        }
    }

    /// The body and filter of an aggregation.
    fn aggregate_parts(&mut self, agg: Agg, below: u32) -> (Option<Code>, Option<Code>) {
        // `count(r for r in xs if …)` counts the elements kept: reading each one again
        // (the body is the loop's local) cannot fail and adds nothing to the count.
        let counts_kept = agg.op == AggOp::Count
            && self
                .program
                .nodes
                .get(agg.body.index())
                .is_some_and(|n| matches!(n.kind, NodeKind::Local(l) if self.slot(l) == agg.local));
        let body = if counts_kept {
            self.deepest = self.deepest.max(below);
            None
        } else {
            Some(self.node(agg.body, below))
        };
        let filter = agg.filter.map(|c| self.node(c, below));
        (body, filter)
    }

    /// Whether a local is the loop variable of an aggregation whose elements are read in place.
    fn is_element(&self, local: LocalId) -> bool {
        self.elements.iter().any(|&(element, _)| element == local)
    }

    /// The interpreter will read the frame: every element must be bound.
    fn read_elements_whole(&mut self) {
        for (_, whole) in &mut self.elements {
            *whole = true;
        }
    }

    /// The frame slot of a local of the body being compiled (moved when it is inlined).
    fn slot(&self, local: LocalId) -> LocalId {
        match &self.inlining {
            None => local,
            Some(inlining) => match inlining.params.get(local.index()) {
                Some(&param) => param,
                None => LocalId(inlining.base.saturating_add(local.0)),
            },
        }
    }

    /// A node left to the interpreter (which cannot be part of an inlined body).
    fn interpreted(&mut self, id: NodeId, level: u32) -> Code {
        if self.inlining.is_some() {
            self.spoiled = true;
        }
        self.read_elements_whole();
        interpreted(id, level)
    }

    fn nodes(&mut self, ids: &[NodeId], level: u32) -> Vec<Code> {
        ids.iter().map(|&id| self.node(id, level)).collect()
    }

    /// A decision call: its arguments go straight into the callee's frame, and the call is
    /// made one level down, through the memo unless the callee is cheap ([`Compiler::is_cheap`]),
    /// as the interpreter makes it.
    fn decision(&mut self, site: Span, (decision, args): (DecisionId, &[NodeId]), level: u32) -> Code {
        let below = level + 1;
        if args.is_empty() {
            let Some(callee) = self.callee(decision, 0, site) else {
                // A call the interpreter refuses: it gives the error.
                return Box::new(move |s, _| {
                    s.at_level(below, |s| s.call(decision, Vec::new(), site, &mut NoTrace)).map(|(value, _)| value)
                });
            };
            return Box::new(move |s, _| {
                if let Some(Some(value)) = s.decisions.get(decision.index()) {
                    return Ok(value.clone());
                }
                s.at_level(below, |s| s.call_compiled_once(callee))
            });
        }
        let codes: Arc<[Code]> = self.nodes(args, below).into();
        let cheap = self.is_cheap(decision);
        let inlined = cheap
            .then(|| self.callee(decision, args.len(), site))
            .flatten()
            .and_then(|callee| self.inlined(callee, args, &codes, level));
        if let Some(code) = inlined {
            return code;
        }
        // A call inside an inlined body is inlined too, or the body is not inlined.
        if self.inlining.is_some() {
            self.spoiled = true;
        }
        let Some(callee) = self.callee(decision, args.len(), site) else {
            // A call the interpreter refuses: it gives the error.
            return Box::new(move |s, f| {
                let values = s.arguments_with(&codes, |s, code| code(s, f))?;
                s.at_level(below, |s| s.call_with(decision, values, site, &mut NoTrace)).map(|(value, _)| value)
            });
        };
        if cheap {
            // Computing a small body again costs less than hashing its arguments and looking
            // them up, and gives the same value (the memo only ever gives what it would).
            return Box::new(move |s, f| {
                let values = s.arguments_with(&codes, |s, code| code(s, f))?;
                s.at_level(below, |s| s.call_compiled(callee, values))
            });
        }
        let in_place = match args {
            [arg] => self.local(*arg).filter(|&local| !self.is_element(local)),
            _ => None,
        };
        Box::new(move |s, f| {
            // A call on one local is looked up with the local in place: a repeat copies nothing.
            let looked_up =
                match in_place.and_then(|local| s.at_level(below, |s| s.recall_in_place(decision, local, f))) {
                    Some((_, Recall::Value(value))) => return Ok(value),
                    Some((hash, Recall::Known)) => Some((hash, true)),
                    Some((hash, Recall::Absent)) => Some((hash, false)),
                    None => None,
                };
            let values = s.arguments_with(&codes, |s, code| code(s, f))?;
            s.at_level(below, |s| s.call_compiled_memoised(callee, values, looked_up))
        })
    }

    /// A call of a small decision compiled into its caller's closures: its body reads the
    /// caller's locals given as arguments in place and keeps its other locals in the caller's
    /// frame, after the caller's own, so the call needs no frame of its own. The call is counted
    /// as the interpreter counts it (nested calls, and the body's levels one level down, within
    /// the caller's); too deep, it is made as the interpreter makes it, which gives the error.
    /// `None` when the body has a node that cannot be inlined, or would not fit.
    fn inlined(&mut self, callee: Callee, args: &[NodeId], codes: &Arc<[Code]>, level: u32) -> Option<Code> {
        if self.made.saturating_add(CHEAP_NODES) >= self.budget {
            return None;
        }
        let def = self.program.decisions.get(callee.id.index())?;
        let below = level + 1;
        let base = self.slots;
        // Parameters given as a local of the caller are read there; the others get a slot.
        let mut params = Vec::with_capacity(args.len());
        let mut bound = Vec::new();
        for (index, &arg) in args.iter().enumerate() {
            match self.local(arg) {
                Some(local) => params.push(local),
                None => {
                    let slot = LocalId(base.checked_add(u32::try_from(index).ok()?)?);
                    params.push(slot);
                    bound.push((slot, index));
                }
            }
        }
        let frame_slots = usize::try_from(base).ok()?.checked_add(callee.slots)?;
        if frame_slots > super::MAX_FRAME {
            return None;
        }
        let (made, deepest) = (self.made, self.deepest);
        // A call inlined into this body keeps its locals after this body's.
        let outer = (self.inlining.replace(Inlining { params, base }), self.slots, self.spoiled);
        self.slots = u32::try_from(frame_slots).ok()?;
        self.spoiled = false;
        let body = self.node(def.body, below);
        let spoiled = self.spoiled;
        (self.inlining, self.slots, self.spoiled) = outer;
        if spoiled {
            (self.made, self.deepest) = (made, deepest);
            return None;
        }
        // The arguments' level counts as reached, read in place or not.
        self.deepest = self.deepest.max(below);
        let codes = Arc::clone(codes);
        Some(Box::new(move |s, f| {
            if s.calls >= MAX_CALL_DEPTH {
                let values = s.arguments_with(&codes[..], |s, code| code(s, f))?;
                return s.at_level(below, |s| s.call_compiled(callee, values));
            }
            if f.len() < frame_slots {
                f.resize(frame_slots, s.unbound.clone());
            }
            match bound.as_slice() {
                [] => {}
                &[(slot, index)] => f[slot.index()] = codes[index](s, f)?,
                _ => {
                    // Every argument is evaluated before any is bound: an argument that is
                    // itself an inlined call uses the same slots.
                    let start = s.push_with(&bound, |s, &(_, index)| codes[index](s, f))?;
                    for (value, &(slot, _)) in s.scratch.drain(start..).zip(&bound) {
                        f[slot.index()] = value;
                    }
                }
            }
            s.calls += 1;
            s.peak_calls = s.peak_calls.max(s.calls);
            let result = body(s, f);
            s.calls -= 1;
            result
        }))
    }

    /// Whether a decision's body is small and walks no list, counting the bodies of the
    /// decisions with parameters it calls as part of it, so that computing it costs little
    /// more than finding it in the memo. (A decision that calls itself is never small: each
    /// call counts its body again.)
    fn is_cheap(&self, decision: DecisionId) -> bool {
        let Some(def) = self.program.decisions.get(decision.index()) else { return false };
        let mut pending = vec![def.body];
        let mut seen = 0;
        while let Some(id) = pending.pop() {
            seen += 1;
            if seen > CHEAP_NODES {
                return false;
            }
            let Some(node) = self.program.nodes.get(id.index()) else { return false };
            match &node.kind {
                NodeKind::Const(_) | NodeKind::Local(_) | NodeKind::Input(_) | NodeKind::Param(_) => {}
                NodeKind::Decision { args, .. } if args.is_empty() => {}
                NodeKind::Decision { id, args } => {
                    let Some(callee) = self.program.decisions.get(id.index()) else { return false };
                    pending.extend(args);
                    pending.push(callee.body);
                }
                NodeKind::Table { args, .. } | NodeKind::Builtin { args, .. } => pending.extend(args),
                NodeKind::Unary(_, x)
                | NodeKind::Field { record: x, .. }
                | NodeKind::Round { value: x, .. }
                | NodeKind::InSet { value: x, .. }
                | NodeKind::IsNone(x) => pending.push(*x),
                NodeKind::Binary(_, l, r) | NodeKind::Otherwise(l, r) => pending.extend([*l, *r]),
                NodeKind::If { cond, then, els } => pending.extend([*cond, *then, *els]),
                NodeKind::Let { value, body, .. } => pending.extend([*value, *body]),
                _ => return false,
            }
        }
        true
    }

    /// What a compiled call needs of its decision, when the interpreter would make the call
    /// (the decision exists, takes these many arguments and fits a frame).
    fn callee(&self, id: DecisionId, arguments: usize, site: Span) -> Option<Callee> {
        let def = self.program.decisions.get(id.index())?;
        let slots = (def.locals as usize).max(def.params.len());
        (def.params.len() == arguments && slots <= super::MAX_FRAME).then_some(Callee {
            id,
            body: def.body,
            slots,
            site,
        })
    }
}

/// A constant a closure gives.
enum Given {
    /// A value copied as it is (a number, a date, a truth value: nothing shared).
    Plain(Value),
    /// A value that holds storage shared by reference count, and its number: each session
    /// gives its own copy ([`Session::give`]).
    Shared(usize, Value),
}

/// The value with its own storage, shared with nothing: text, reasons, records and lists
/// copied all the way down.
pub(crate) fn own_copy(value: &Value) -> Value {
    match value {
        Value::Text(text) => Value::Text(Arc::from(&**text)),
        Value::None(reason) => Value::None(Arc::from(&**reason)),
        Value::Record(items) => Value::Record(items.iter().map(own_copy).collect()),
        Value::List(items) => Value::List(items.iter().map(own_copy).collect()),
        other => other.clone(),
    }
}

impl Session<'_> {
    /// A compiled constant: a shared one from this session's own copy, made the first time.
    #[inline]
    fn give(&mut self, given: &Given) -> Value {
        match given {
            Given::Plain(value) => value.clone(),
            Given::Shared(number, value) => {
                if let Some(Some(own)) = self.own_constants.get(*number) {
                    return own.clone();
                }
                let own = own_copy(value);
                if *number < MAX_OWN_CONSTANTS {
                    if self.own_constants.len() <= *number {
                        self.own_constants.resize(*number + 1, None);
                    }
                    self.own_constants[*number] = Some(own.clone());
                }
                own
            }
        }
    }
}

/// What a table lookup gives for a row found in the table's grid.
enum GridCell {
    /// A constant cell's value, and the levels evaluating it counts.
    Value(Given, u32),
    /// `none "reason"`: the cell's place among every table's rows, where a session keeps the
    /// reason once made.
    NoValue(usize),
    /// A cell the interpreter evaluates.
    Other,
}

/// A `rules` body's rules as closures, weighed as [`Session::weigh`] weighs them.
struct CompiledRules {
    arms: Vec<CompiledRule>,
    /// Per rule, its exceptions in order; last, the rules that are no exception.
    ranks: Vec<Vec<usize>>,
}

struct CompiledRule {
    condition: Option<(NodeId, Code)>,
    value: Code,
}

impl CompiledRules {
    /// The rule of a rank (`rank`: a rule's index for its exceptions, the number of rules for
    /// the rules that are no exception) that applies, if any: the value and the rule that gave
    /// it. Two that apply are a conflict.
    fn weigh(&self, s: &mut Session<'_>, f: &mut Frame, id: NodeId, rank: usize) -> Res<Option<(Value, usize)>> {
        // The node's rules, which a conflict names.
        let at = s.compiled_at(id)?;
        let NodeKind::Rules { rules, .. } = &at.node.kind else {
            return Err(super::internal(at.span(), "compiled rules are not the node's"));
        };
        let members = self.ranks.get(rank).map_or(&[][..], Vec::as_slice).iter().copied();
        super::weigh_rank(members, rules, |index| self.apply(s, f, id, index))
    }

    /// A rule applies through one of its exceptions, or else when its own condition holds.
    fn apply(&self, s: &mut Session<'_>, f: &mut Frame, id: NodeId, index: usize) -> Res<Option<(Value, usize)>> {
        if let Some(overriding) = self.weigh(s, f, id, index)? {
            return Ok(Some(overriding));
        }
        let Some(rule) = self.arms.get(index) else { return Ok(None) };
        if let Some((node, condition)) = &rule.condition {
            let v = condition(s, f)?;
            if !s.compiled_truth(v, *node, id, "a rule's condition")? {
                return Ok(None);
            }
        }
        Ok(Some(((rule.value)(s, f)?, index)))
    }
}

/// Folds an aggregation's elements: each bound to the loop variable (or, with `kept`, the
/// place of the list on the session's stack of elements, read in place), kept by the filter,
/// and accumulated.
fn fold_elements(
    s: &mut Session<'_>,
    f: &mut Frame,
    (at, agg, span): (At<'_>, Agg, Span),
    items: &[Value],
    kept: Option<usize>,
    (body, filter): (&Option<Code>, &Option<Code>),
) -> Res<Acc> {
    let mut acc = Acc::new(agg.op, &at.node.ty);
    for (index, item) in items.iter().enumerate() {
        match kept.and_then(|mark| s.element_stack.get_mut(mark)) {
            Some(element) => element.1 = index,
            None => match f.get_mut(agg.local.index()) {
                Some(slot) => *slot = item.clone(),
                None => bind(f, agg.local, item.clone(), span)?,
            },
        }
        if let (Some(filter), Some(filter_id)) = (filter, agg.filter) {
            let keep = filter(s, f)?;
            if !match keep {
                Value::Bool(keep) => keep,
                other => s.truth(other, filter_id, at, "the `if` filter")?,
            } {
                continue;
            }
        }
        match (body, &mut acc) {
            (Some(body), acc) => {
                let value = body(s, f)?;
                s.accumulate(acc, agg, (index, &value), at)?;
            }
            (None, Acc::Count(kept)) => *kept += 1,
            (None, _) => return Err(super::internal(span, "a compiled `count` is not a count")),
        }
        if acc.decided() {
            break;
        }
    }
    Ok(acc)
}

/// A value kept in the frame: a local, or a field of a local record.
#[derive(Clone, Copy)]
enum Place {
    Local(LocalId),
    Field(LocalId, u32),
    /// An aggregation's element, read in the list that keeps it.
    Element(LocalId),
    /// A field of an aggregation's element, read in the list that keeps it.
    ElementField(LocalId, u32),
}

impl Place {
    /// The value, borrowed (`None` where reading it needs the node's closure: a field of what
    /// is not a record).
    #[inline(always)]
    fn get<'a>(self, s: &'a Session<'_>, frame: &'a Frame) -> Option<&'a Value> {
        let (record, index) = match self {
            Place::Local(local) => return frame.get(local.index()),
            Place::Element(local) => return s.element(frame, local),
            Place::Field(local, index) => (frame.get(local.index())?, index),
            Place::ElementField(local, index) => (s.element(frame, local)?, index),
        };
        match record {
            Value::Record(fields) => fields.get(index as usize),
            _ => None,
        }
    }
}

/// A decision as a compiled call finds it, the checks [`Session::call`] makes on every call
/// made once when compiling.
#[derive(Clone, Copy)]
struct Callee {
    id: DecisionId,
    body: NodeId,
    /// The frame's size: parameters, then `let` and loop variables.
    slots: usize,
    site: Span,
}

/// A constant compared with: for a number, its scale and mantissa, worked out once, so that a
/// number of the same scale (a rating against `4`) is compared by its mantissa alone.
struct Constant {
    value: Value,
    number: Option<(u32, i128)>,
}

impl Constant {
    fn new(value: Value) -> Constant {
        let number = match &value {
            Value::Num(n) => Some((n.scale(), n.mantissa())),
            _ => None,
        };
        Constant { value, number }
    }

    /// Comparison `op` of `a` with the constant, as [`compared_values`] gives it.
    #[inline(always)]
    fn compared(&self, op: BinOp, a: &Value) -> Option<bool> {
        if let (Some((scale, mantissa)), Value::Num(x)) = (self.number, a)
            && x.scale() == scale
        {
            // Numbers of one scale are in the order of their mantissas.
            return Some(super::holds(op, x.mantissa().cmp(&mantissa)));
        }
        compared_values(op, a, &self.value)
    }
}

/// Comparison `op` of two values that have values and can be compared; `None` where the
/// interpreter's comparison must give the result or the error.
#[inline(always)]
fn compared_values(op: BinOp, a: &Value, b: &Value) -> Option<bool> {
    if a.is_none() || b.is_none() { None } else { super::compared(op, a, b) }
}

/// A node the interpreter evaluates, at the depth it would have had.
fn interpreted(id: NodeId, level: u32) -> Code {
    Box::new(move |s, f| s.at_level(level, |s| s.eval(id, f, &mut NoTrace)))
}

impl<'p> Session<'p> {
    /// Runs `work` with the depth counted `levels` further down than the compiled body's root.
    #[inline(always)]
    fn at_level<R>(&mut self, levels: u32, work: impl FnOnce(&mut Self) -> R) -> R {
        let root = self.depth;
        self.depth = root + levels;
        let result = work(self);
        self.depth = root;
        result
    }

    /// A boolean for a condition of compiled node `id`, as [`Session::truth`] gives it; the
    /// node is looked up only for an error.
    #[inline(always)]
    fn compiled_truth(&self, v: Value, from: NodeId, id: NodeId, what: &str) -> Res<bool> {
        match v {
            Value::Bool(b) => Ok(b),
            other => self.truth(other, from, self.compiled_at(id)?, what),
        }
    }

    /// The element an aggregation's loop variable stands for, when its slot holds the place
    /// of the list on the stack of elements.
    #[inline(always)]
    fn element(&self, frame: &Frame, local: LocalId) -> Option<&Value> {
        match frame.get(local.index())? {
            Value::Enum(at) => {
                let (items, index) = self.element_stack.get(*at as usize)?;
                items.get(*index)
            }
            _ => None,
        }
    }

    /// A `none` cell's value, its reason made once per session (as `table_value` shares it)
    /// and kept at the cell's place.
    fn no_value_cell(&mut self, table: TableId, row: usize, slot: usize) -> Res {
        if let Some(Some(reason)) = self.cell_reasons.get(slot) {
            return Ok(Value::None(reason.clone()));
        }
        let program = self.program;
        let Some(def) = program.tables.get(table.index()) else {
            return Err(super::internal(Span::default(), format!("table #{} does not exist", table.0)));
        };
        let value = self.table_value(table, (def, Some(row)), &mut NoTrace)?;
        if let Value::None(reason) = &value
            && slot < MAX_KEPT_CELL_REASONS
        {
            if self.cell_reasons.len() <= slot {
                self.cell_reasons.resize(slot + 1, None);
            }
            self.cell_reasons[slot] = Some(reason.clone());
        }
        Ok(value)
    }

    /// The node a closure was compiled from.
    #[inline(always)]
    fn compiled_at(&self, id: NodeId) -> Res<At<'p>> {
        Ok(At { id, node: self.node(id, Span::default())? })
    }

    /// A call of a decision with parameters on its evaluated arguments, as [`Session::call`]
    /// makes it.
    fn call_compiled(&mut self, callee: Callee, mut frame: Frame) -> Res {
        if self.calls >= MAX_CALL_DEPTH {
            // Too deep: the interpreter's call gives the error.
            return self.call(callee.id, frame, callee.site, &mut NoTrace).map(|(value, _)| value);
        }
        if frame.len() < callee.slots {
            frame.resize(callee.slots, self.unbound.clone());
        }
        self.calls += 1;
        self.peak_calls = self.peak_calls.max(self.calls);
        let result = self.run_body(callee.id, callee.body, &mut frame, &mut NoTrace);
        self.calls -= 1;
        self.recycle(frame);
        result
    }

    /// A call of a decision without parameters not yet computed in the row, made as
    /// [`Session::call`] makes it (a kept frame, when the body has locals) and remembered.
    fn call_compiled_once(&mut self, callee: Callee) -> Res {
        let frame = self.kept_frame(callee.slots);
        let value = self.call_compiled(callee, frame)?;
        self.memoise(callee.id, &value);
        Ok(value)
    }

    /// A call through the memo, as [`Session::call_memoised`] makes it; `looked_up` is the
    /// hash of the arguments and whether the memo knows them, when already looked up.
    fn call_compiled_memoised(&mut self, callee: Callee, args: Frame, looked_up: Option<(u64, bool)>) -> Res {
        let looked_up = match looked_up {
            Some(found) => found,
            None => {
                let hash = memo_hash(callee.id, &args);
                match self.recall(hash, callee.id, &args) {
                    Recall::Value(value) => {
                        self.recycle(args);
                        return Ok(value);
                    }
                    Recall::Known => (hash, true),
                    Recall::Absent => (hash, false),
                }
            }
        };
        self.remembering(looked_up, callee.id, args, |s, args| s.call_compiled(callee, args))
    }

    /// Evaluates compiled items onto the scratch stack, as [`Session::push_values`] does.
    fn push_codes(&mut self, codes: &[Code], frame: &mut Frame) -> Res<usize> {
        self.push_with(codes, |s, code| code(s, frame))
    }

    /// Evaluates compiled items onto the scratch stack, gives them to `then`, and takes them
    /// off the stack again.
    #[inline(always)]
    fn with_codes<R>(&mut self, codes: &[Code], frame: &mut Frame, then: impl FnOnce(&Self, &[Value]) -> R) -> Res<R> {
        let base = self.push_codes(codes, frame)?;
        let result = then(self, &self.scratch[base..]);
        self.scratch.truncate(base);
        Ok(result)
    }
}
