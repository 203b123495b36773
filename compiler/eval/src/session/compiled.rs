//! Decision bodies compiled to closures, for evaluation without a tracer.
//!
//! The interpreter looks every node up, checks and counts the nesting depth and matches on
//! the node's kind, on every row. [`Compiled`] does that work once per program: each decision
//! body becomes a tree of closures that call their children's closures directly. The
//! operations themselves are the interpreter's own functions, so values, "no value" reasons
//! and errors are exactly the interpreter's. What stays exact, and how:
//! - A node kind without a closure of its own (rules, splits, payments, contract dates) is
//!   evaluated by the interpreter, at the depth it would have had.
//! - A body runs compiled only where every compiled level of it is within the nesting limit
//!   ([`Session::run_body`]), so no compiled node could have failed with E0508. The body's
//!   deepest level counts as reached: a remembered call then records at least the depth it
//!   needed, and the memo gives a value only where computing it again would give the same.
//! - Decision calls, table lookups and the `as of` date go through the interpreter's own
//!   paths (memo, call depth, indexes), at the depth the interpreter would be at.
//! - Compiling stops at [`MAX_LEVELS`] levels and after [`MAX_CLOSURES`] closures (a
//!   program whose nodes are shared many times over); what is left is interpreted.

use super::{Acc, Agg, At, Frame, Res, Session, bind, read_local};
use crate::trace::NoTrace;
use covenant_ir::{BinOp, DecisionId, NodeId, NodeKind, Program, Span, UnOp, Value};
use std::sync::Arc;

/// The deepest level of a body given closures; deeper nodes are interpreted.
const MAX_LEVELS: u32 = 96;
/// The most closures made for one program, beyond a few for each of its nodes.
const MAX_CLOSURES: usize = 100_000;

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
        let mut compiler = Compiler { program, made: 0, budget, deepest: 0 };
        let bodies = program
            .decisions
            .iter()
            .map(|def| {
                compiler.deepest = 0;
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
    made: usize,
    budget: usize,
    /// The deepest level given a closure in the body being compiled.
    deepest: u32,
}

impl<'p> Compiler<'p> {
    /// The closure of node `id` at `level` below the body's root.
    fn node(&mut self, id: NodeId, level: u32) -> Code {
        let Some(node) = self.program.nodes.get(id.index()) else { return interpreted(id, level) };
        if level >= MAX_LEVELS || self.made >= self.budget {
            return interpreted(id, level);
        }
        let span = node.origin.span;
        let below = level + 1;
        let code: Code = match &node.kind {
            NodeKind::Const(v) => {
                let v = v.clone();
                Box::new(move |_, _| Ok(v.clone()))
            }
            NodeKind::Local(local) => {
                let local = *local;
                Box::new(move |_, f| read_local(f, local, span))
            }
            NodeKind::Input(input) => {
                let input = *input;
                Box::new(move |s, _| s.read_input::<NoTrace>(s.compiled_at(id)?, input, &mut None))
            }
            NodeKind::Param(param) => {
                let param = *param;
                // A param not yet computed is computed where the interpreter computes it.
                Box::new(move |s, _| {
                    let at = s.compiled_at(id)?;
                    s.at_level(below, |s| s.read_param::<NoTrace>(at, param, &mut None))
                })
            }
            NodeKind::Decision { id: decision, args } => self.decision(span, (*decision, args), level),
            NodeKind::Table { id: table, args } => {
                let (table, codes) = (*table, self.nodes(args, below));
                let args: Box<[NodeId]> = args.as_slice().into();
                Box::new(move |s, f| {
                    let at = s.compiled_at(id)?;
                    let base = s.push_codes(&codes, f)?;
                    let selected = s.select_row(at, table, &args, &s.scratch[base..]);
                    s.scratch.truncate(base);
                    let selected = selected?;
                    // The cell is evaluated where the interpreter evaluates it: one level down.
                    s.at_level(below, |s| s.table_value(table, selected, &mut NoTrace))
                })
            }
            NodeKind::Unary(UnOp::Not, x) => {
                let (x, code) = (*x, self.node(*x, below));
                Box::new(move |s, f| {
                    let v = code(s, f)?;
                    Ok(Value::Bool(!s.truth(v, x, s.compiled_at(id)?, "`not`")?))
                })
            }
            NodeKind::Unary(UnOp::Neg, x) => {
                let (x, code) = (*x, self.node(*x, below));
                Box::new(move |s, f| {
                    let v = code(s, f)?;
                    s.negate::<NoTrace>(s.compiled_at(id)?, x, v, &mut None)
                })
            }
            NodeKind::Binary(op @ (BinOp::And | BinOp::Or), l, r) => {
                let (op, l, r) = (*op, *l, *r);
                let (left, right) = (self.node(l, below), self.node(r, below));
                Box::new(move |s, f| {
                    let a = left(s, f)?;
                    let a = s.truth(a, l, s.compiled_at(id)?, op.symbol())?;
                    if super::decides(op, a) {
                        return Ok(Value::Bool(a));
                    }
                    let b = right(s, f)?;
                    Ok(Value::Bool(s.truth(b, r, s.compiled_at(id)?, op.symbol())?))
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
                    if !a.is_none()
                        && !b.is_none()
                        && let Some(result) = super::compared(op, &a, &b)
                    {
                        return Ok(Value::Bool(result));
                    }
                    s.finish_binary::<NoTrace>(s.compiled_at(id)?, (op, l, r), (a, b), &mut None)
                })
            }
            NodeKind::Binary(op, l, r) => {
                let (op, l, r) = (*op, *l, *r);
                let (left, right) = (self.node(l, below), self.node(r, below));
                Box::new(move |s, f| {
                    let a = left(s, f)?;
                    let b = right(s, f)?;
                    s.finish_binary::<NoTrace>(s.compiled_at(id)?, (op, l, r), (a, b), &mut None)
                })
            }
            NodeKind::If { cond, then, els } => {
                let cond_id = *cond;
                let (cond, then, els) = (self.node(*cond, below), self.node(*then, below), self.node(*els, below));
                Box::new(move |s, f| {
                    let c = cond(s, f)?;
                    if s.truth(c, cond_id, s.compiled_at(id)?, "the condition of `if`")? {
                        then(s, f)
                    } else {
                        els(s, f)
                    }
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
                let local = *local;
                let (value, body) = (self.node(*value, below), self.node(*body, below));
                Box::new(move |s, f| {
                    let v = value(s, f)?;
                    bind(f, local, v, span)?;
                    body(s, f)
                })
            }
            NodeKind::Field { record, index } => {
                let (record, index) = (*record, *index);
                let code = self.node(record, below);
                Box::new(move |s, f| {
                    // Read in place as the interpreter does (the links are the levels below).
                    if s.depth + below + super::MAX_BORROWED_LINKS < super::MAX_EXPR_DEPTH
                        && let Some(Value::Record(fields)) = s.borrowed(record, f, 1)
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
                let body = self.node(agg.body, below);
                let filter = agg.filter.map(|c| self.node(c, below));
                Box::new(move |s, f| {
                    let list = list(s, f)?;
                    let at = s.compiled_at(id)?;
                    let items = s.elements(at, agg, list)?;
                    let mut acc = Acc::new(agg.op, &at.node.ty);
                    for (index, item) in items.iter().enumerate() {
                        bind(f, agg.local, item.clone(), span)?;
                        if let (Some(filter), Some(filter_id)) = (&filter, agg.filter) {
                            let keep = filter(s, f)?;
                            if !s.truth(keep, filter_id, at, "the `if` filter")? {
                                continue;
                            }
                        }
                        let value = body(s, f)?;
                        s.accumulate(&mut acc, agg, (index, &value), at)?;
                        if acc.decided() {
                            break;
                        }
                    }
                    s.aggregate_result(at, agg, acc, items.len())
                })
            }
            NodeKind::Round { value, places, mode } => {
                let (x, places, mode) = (*value, *places, *mode);
                let code = self.node(x, below);
                Box::new(move |s, f| {
                    let v = code(s, f)?;
                    s.finish_round::<NoTrace>(s.compiled_at(id)?, (x, v), (places, mode), &mut None)
                })
            }
            NodeKind::Builtin { f: builtin, args } => {
                let (builtin, codes) = (*builtin, self.nodes(args, below));
                let args: Box<[NodeId]> = args.as_slice().into();
                Box::new(move |s, f| {
                    let at = s.compiled_at(id)?;
                    let base = s.push_codes(&codes, f)?;
                    let result = s.finish_builtin::<NoTrace>(at, (builtin, &args), &s.scratch[base..], &mut None);
                    s.scratch.truncate(base);
                    result
                })
            }
            NodeKind::InSet { value, variants } => {
                let x = *value;
                let variants: Box<[u32]> = variants.as_slice().into();
                let code = self.node(x, below);
                Box::new(move |s, f| {
                    let v = code(s, f)?;
                    s.finish_in_set::<NoTrace>(s.compiled_at(id)?, (x, v), &variants, &mut None)
                })
            }
            NodeKind::IsNone(x) => {
                let code = self.node(*x, below);
                Box::new(move |s, f| Ok(Value::Bool(code(s, f)?.is_none())))
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
            // Left to the interpreter, and not counted as compiled levels.
            NodeKind::Rules { .. }
            | NodeKind::Split { .. }
            | NodeKind::Payment(_)
            | NodeKind::PaymentPart { .. }
            | NodeKind::ContractDate(_) => return interpreted(id, level),
        };
        self.made += 1;
        self.deepest = self.deepest.max(level);
        code
    }

    fn nodes(&mut self, ids: &[NodeId], level: u32) -> Vec<Code> {
        ids.iter().map(|&id| self.node(id, level)).collect()
    }

    /// A decision call: its arguments go straight into the callee's frame, and the call goes
    /// through the interpreter's (memo, call depth) one level down, as the interpreter does.
    fn decision(&mut self, site: Span, (decision, args): (DecisionId, &[NodeId]), level: u32) -> Code {
        let below = level + 1;
        if args.is_empty() {
            return Box::new(move |s, _| {
                if let Some(Some(value)) = s.decisions.get(decision.index()) {
                    return Ok(value.clone());
                }
                s.at_level(below, |s| s.call(decision, Vec::new(), site, &mut NoTrace)).map(|(value, _)| value)
            });
        }
        let codes = self.nodes(args, below);
        let args: Box<[NodeId]> = args.into();
        Box::new(move |s, f| {
            if let Some(value) = s.at_level(below, |s| s.remembered_in_place(decision, &args, f)) {
                return Ok(value);
            }
            let values = s.arguments_with(&codes, |s, code| code(s, f))?;
            s.at_level(below, |s| s.call_with(decision, values, site, &mut NoTrace)).map(|(value, _)| value)
        })
    }
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

    /// The node a closure was compiled from.
    #[inline(always)]
    fn compiled_at(&self, id: NodeId) -> Res<At<'p>> {
        Ok(At { id, node: self.node(id, Span::default())? })
    }

    /// Evaluates compiled items onto the scratch stack, as [`Session::push_values`] does.
    fn push_codes(&mut self, codes: &[Code], frame: &mut Frame) -> Res<usize> {
        self.push_with(codes, |s, code| code(s, frame))
    }
}
