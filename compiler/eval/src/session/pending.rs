//! A node's trace step as evaluating it found it, made into a [`Step`] only for a tracer that
//! asks.
//!
//! Evaluating a node that is a step of its own records what it found in a [`Pending`]: the
//! branch or row taken, the operands' values, the values held for a call's arguments or a
//! table's keys. Names, labels, types and locations come from the program and the session
//! when the step is made ([`NodeStep::make`]); a trace writer that knows the node's steps of
//! that [`Shape`] writes the values alone ([`NodeStep::values`]) and never makes it. So a
//! traced row does not build, copy and drop a kind with names and typed operands at every
//! step.

use super::{At, PathRoot, Session};
use crate::trace::{Arg, Branch, NodeStep, Operand, Shape, Step, StepKind, Typed};
use covenant_ir::{AggOp, BinOp, DecisionId, NodeId, RoundMode, Span, TableId, Ty, Value};
use std::sync::Arc;

/// The type of a value whose node or column the program does not have.
pub(super) static UNKNOWN: Ty = Ty::Error;

/// Values kept on the session's [`held`](Session::held) stack for a step: a call's
/// arguments or a table's keys, which a step shows after the node evaluated more steps.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Held {
    start: usize,
    len: usize,
}

/// What evaluating a node found, for its step (see the module documentation).
#[derive(Clone, Default)]
pub(crate) enum Pending {
    /// The node is not a step: its children pass to its parent.
    #[default]
    None,
    /// A kind made in full (kinds of rare steps, and those not fixed by their node).
    Made(Box<StepKind>),
    Decision {
        id: DecisionId,
        args: Held,
        memoised: bool,
    },
    Table {
        id: TableId,
        keys: Held,
        row: Option<usize>,
    },
    /// An input or param read whole: its label is its name.
    Input,
    Param,
    /// A field path on an input or param: its label is the dotted path.
    Path(PathRoot),
    If {
        condition: bool,
    },
    Match {
        scrutinee: (NodeId, Value),
        arm: usize,
        arm_span: Span,
    },
    Compare {
        op: BinOp,
        left: (NodeId, Value),
        right: (NodeId, Value),
    },
    Arithmetic {
        symbol: &'static str,
        left: (NodeId, Value),
        right: Option<(NodeId, Value)>,
    },
    /// `and`, `or` or `not`: the operator is the node's label.
    Logic {
        short_circuit: bool,
    },
    Round {
        before: Value,
        places: u32,
        mode: RoundMode,
    },
    Aggregate {
        op: AggOp,
        items: usize,
        examined: usize,
        kept: usize,
    },
    Field {
        record: NodeId,
        index: u32,
    },
    IsNone {
        reason: Option<Arc<str>>,
    },
    Otherwise {
        reason: Option<Arc<str>>,
    },
}

impl Pending {
    pub(crate) fn made(kind: StepKind) -> Pending {
        Pending::Made(Box::new(kind))
    }
}

impl<'p> Session<'p> {
    /// Keeps copies of `values` for the step of the node being evaluated.
    pub(super) fn hold(&mut self, values: &[Value]) -> Held {
        let start = self.held.len();
        self.held.extend_from_slice(values);
        Held { start, len: values.len() }
    }

    /// Keeps the values on the scratch stack from `base` for the step of the node being
    /// evaluated, taking them off the scratch stack.
    pub(super) fn hold_scratch(&mut self, base: usize) -> Held {
        let start = self.held.len();
        let len = self.scratch.len().saturating_sub(base);
        self.held.extend(self.scratch.drain(base.min(self.scratch.len())..));
        Held { start, len }
    }

    fn held(&self, held: Held) -> &[Value] {
        self.held.get(held.start..held.start.saturating_add(held.len)).unwrap_or_default()
    }

    pub(super) fn node_ty(&self, node: NodeId) -> &'p Ty {
        self.program.nodes.get(node.index()).map_or(&UNKNOWN, |n| &n.ty)
    }

    fn operand_of(&self, (node, value): (NodeId, Value)) -> Operand {
        let n = self.program.nodes.get(node.index());
        Operand {
            value,
            ty: n.map_or(Ty::Error, |n| n.ty.clone()),
            span: n.map_or_else(Span::default, |n| n.origin.span),
            node,
        }
    }

    /// The kind a pending step makes (`None`: it is not a step).
    fn make_kind(&self, at: At<'p>, pending: Pending) -> Option<StepKind> {
        let program = self.program;
        Some(match pending {
            Pending::None => return None,
            Pending::Made(kind) => *kind,
            Pending::Decision { id, args, memoised } => {
                let shown = program
                    .decisions
                    .get(id.index())
                    .map_or_else(Vec::new, |def| self.named_args(def, self.held(args)));
                self.decision_kind(id, shown, memoised)
            }
            Pending::Table { id, keys, row } => {
                let table = program.tables.get(id.index())?;
                let (name, qualified) = self.names_of(super::Named::Table(id));
                let keys = self
                    .held(keys)
                    .iter()
                    .enumerate()
                    .map(|(i, value)| match table.columns.get(i) {
                        Some((name, ty)) => Arg { name: self.name(name), value: value.clone(), ty: ty.clone() },
                        None => Arg { name: format!("key {}", i + 1).into(), value: value.clone(), ty: Ty::Error },
                    })
                    .collect();
                StepKind::Table {
                    name,
                    qualified,
                    hit: table.hit,
                    keys,
                    row,
                    row_span: row.and_then(|i| table.rows.get(i)).map(|r| r.span),
                }
            }
            Pending::Input => {
                // An input's label is its name.
                let name = self.label(at.id, at.node);
                StepKind::Input { path: name.clone(), name }
            }
            Pending::Param => {
                let name = self.label(at.id, at.node);
                StepKind::Param { path: name.clone(), name }
            }
            Pending::Path(root) => {
                // The step's label is the dotted path (see `label_text`).
                let path = self.label(at.id, at.node);
                match root {
                    PathRoot::Input(id) => StepKind::Input {
                        name: self.name(program.inputs.get(id.index()).map_or("input", |i| &i.name)),
                        path,
                    },
                    PathRoot::Param(id) => StepKind::Param {
                        name: self.name(program.params.get(id.index()).map_or("param", |p| &p.name)),
                        path,
                    },
                }
            }
            Pending::If { condition } => {
                StepKind::If { condition, branch: if condition { Branch::Then } else { Branch::Else } }
            }
            Pending::Match { scrutinee, arm, arm_span } => {
                StepKind::Match { scrutinee: self.operand_of(scrutinee), arm, arm_span }
            }
            Pending::Compare { op, left, right } => {
                StepKind::Compare { op, left: self.operand_of(left), right: self.operand_of(right) }
            }
            Pending::Arithmetic { symbol, left, right } => {
                let mut operands = vec![self.operand_of(left)];
                operands.extend(right.map(|right| self.operand_of(right)));
                StepKind::Arithmetic { op: self.name(symbol), operands }
            }
            Pending::Logic { short_circuit } => StepKind::Logic { op: self.label(at.id, at.node), short_circuit },
            Pending::Round { before, places, mode } => StepKind::Round { before, places, mode },
            Pending::Aggregate { op, items, examined, kept } => StepKind::Aggregate { op, items, examined, kept },
            Pending::Field { record, index } => {
                let name = match self.declared_field(record, index) {
                    Some(name) => self.name(name),
                    None => format!("field {index}").into(),
                };
                StepKind::Field { name }
            }
            Pending::IsNone { reason } => StepKind::IsNone { reason },
            Pending::Otherwise { reason } => StepKind::Otherwise { used_fallback: reason.is_some(), reason },
        })
    }

    /// A step of node `at` with its label, type and location.
    pub(super) fn step_of(&self, at: At<'p>, kind: StepKind, value: Option<Value>) -> Step {
        let (label, span) = self.label_and_span(at.id, at.node);
        Step { kind, node: Some(at.id), label, value, ty: at.node.ty.clone(), span, children: Vec::new() }
    }
}

/// A node's pending step with what it needs to be made: the [`NodeStep`] a node's step is
/// closed with.
#[derive(Clone)]
pub(super) struct NodeStepOf<'s, 'p> {
    pub(super) session: &'s Session<'p>,
    pub(super) at: At<'p>,
    pub(super) pending: Pending,
}

impl NodeStep for NodeStepOf<'_, '_> {
    fn shape(&self) -> Shape {
        match &self.pending {
            Pending::None => Shape::Value,
            Pending::Made(kind) => kind.shape(),
            Pending::Decision { id, args, memoised } => {
                let params = self.session.program.decisions.get(id.index()).map_or(0, |d| d.params.len());
                Shape::Decision { memoised: *memoised, args: params.min(self.session.held(*args).len()) }
            }
            Pending::Table { row, .. } => Shape::Table { row: *row },
            Pending::Input => Shape::Input,
            Pending::Param => Shape::Param,
            Pending::Path(PathRoot::Input(_)) => Shape::Input,
            Pending::Path(PathRoot::Param(_)) => Shape::Param,
            Pending::If { condition } => Shape::If { condition: *condition },
            Pending::Match { arm, .. } => Shape::Match { arm: *arm },
            Pending::Compare { .. } => Shape::Compare,
            Pending::Arithmetic { .. } => Shape::Arithmetic,
            Pending::Logic { short_circuit } => Shape::Logic { short_circuit: *short_circuit },
            Pending::Round { .. } => Shape::Round,
            Pending::Aggregate { items, examined, kept, .. } => {
                Shape::Aggregate { items: *items, examined: *examined, kept: *kept }
            }
            Pending::Field { .. } => Shape::Field,
            Pending::IsNone { reason } => Shape::IsNone { reason: reason.is_some() },
            Pending::Otherwise { reason } => Shape::Otherwise { used_fallback: reason.is_some() },
        }
    }

    fn values(&mut self, mut f: impl FnMut(&Value, &Ty)) {
        let session = self.session;
        let program = session.program;
        match &mut self.pending {
            Pending::Made(kind) => kind.values_mut(&self.at.node.ty, |v, ty| f(v, ty)),
            Pending::Decision { id, args, .. } => {
                if let Some(def) = program.decisions.get(id.index()) {
                    for ((_, ty), value) in def.params.iter().zip(session.held(*args)) {
                        f(value, ty);
                    }
                }
            }
            Pending::Table { id, keys, .. } => {
                let columns = program.tables.get(id.index()).map_or(&[][..], |t| &t.columns);
                for (i, value) in session.held(*keys).iter().enumerate() {
                    f(value, columns.get(i).map_or(&UNKNOWN, |(_, ty)| ty));
                }
            }
            Pending::Compare { left, right, .. } => {
                f(&left.1, session.node_ty(left.0));
                f(&right.1, session.node_ty(right.0));
            }
            Pending::Arithmetic { left, right, .. } => {
                f(&left.1, session.node_ty(left.0));
                if let Some(right) = right {
                    f(&right.1, session.node_ty(right.0));
                }
            }
            Pending::Match { scrutinee, .. } => f(&scrutinee.1, session.node_ty(scrutinee.0)),
            Pending::Round { before, .. } => f(before, &self.at.node.ty),
            Pending::None
            | Pending::Input
            | Pending::Param
            | Pending::Path(_)
            | Pending::If { .. }
            | Pending::Logic { .. }
            | Pending::Aggregate { .. }
            | Pending::Field { .. }
            | Pending::IsNone { .. }
            | Pending::Otherwise { .. } => {}
        }
    }

    fn reason(&self) -> Option<&Arc<str>> {
        match &self.pending {
            Pending::IsNone { reason } | Pending::Otherwise { reason } => reason.as_ref(),
            Pending::Made(kind) => kind.reason(),
            _ => None,
        }
    }

    fn make(self, value: Option<Value>) -> Step {
        let kind = self.session.make_kind(self.at, self.pending).unwrap_or(StepKind::Value);
        self.session.step_of(self.at, kind, value)
    }
}

/// The step of one element of an aggregation (its node is the aggregation's body).
#[derive(Clone)]
pub(super) struct ItemStep<'s, 'p> {
    pub(super) session: &'s Session<'p>,
    /// The body's node, its type and its location.
    pub(super) body: (NodeId, &'p Ty, Span),
    pub(super) index: usize,
    /// The element, shown unless the aggregated value is the element itself, and its type.
    pub(super) element: Option<(&'s Value, &'p Ty)>,
    pub(super) kept: bool,
}

impl NodeStep for ItemStep<'_, '_> {
    fn shape(&self) -> Shape {
        Shape::Item { index: self.index, kept: self.kept, element: self.element.is_some() }
    }

    fn values(&mut self, mut f: impl FnMut(&Value, &Ty)) {
        if let Some((value, ty)) = self.element {
            f(value, ty);
        }
    }

    fn make(self, value: Option<Value>) -> Step {
        let element = self.element.map(|(value, ty)| Typed { value: value.clone(), ty: ty.clone() });
        Step {
            kind: StepKind::Item { index: self.index, element, kept: self.kept },
            node: Some(self.body.0),
            label: self.session.item_label(self.index),
            value,
            ty: self.body.1.clone(),
            span: self.body.2,
            children: Vec::new(),
        }
    }
}
