//! The static nesting of a program's nodes through calls, table cells, params and the
//! `as of` date: the generator takes a program only when it is far below the interpreter's
//! limits, so that no row computed natively could fail in the interpreter on them (E0508).

use covenant_ir::{Cell, DecisionId, NodeId, NodeKind, Program};

/// Worked out once per node and per decision body.
pub(super) struct Levels<'p> {
    program: &'p Program,
    limit: u32,
    nodes: Vec<Option<u32>>,
    /// Per decision: its body's levels, or `u32::MAX` while being worked out.
    bodies: Vec<Option<u32>>,
}

impl Levels<'_> {
    /// Whether every decision, param and the `as of` date nest at most `limit` levels deep,
    /// through every call, and no call recurses.
    pub(super) fn within(program: &Program, limit: u32) -> bool {
        let mut levels = Levels {
            program,
            limit,
            nodes: vec![None; program.nodes.len()],
            bodies: vec![None; program.decisions.len()],
        };
        let roots =
            program.decisions.iter().map(|d| d.body).chain(program.params.iter().map(|p| p.value)).chain(program.as_of);
        roots.collect::<Vec<_>>().into_iter().all(|root| levels.node(root, 0).is_some())
    }

    /// The levels under `id` (itself included) reached at `depth`; `None` beyond the limit,
    /// or through a cycle of calls.
    fn node(&mut self, id: NodeId, depth: u32) -> Option<u32> {
        if depth >= self.limit {
            return None;
        }
        if let Some(known) = *self.nodes.get(id.index())? {
            return (depth + known <= self.limit).then_some(known);
        }
        let program = self.program;
        let kind = &program.nodes[id.index()].kind;
        let mut below = 0u32;
        let mut failed = false;
        kind.for_each_child(|child| match self.node(child, depth + 1) {
            Some(l) => below = below.max(l),
            None => failed = true,
        });
        if failed {
            return None;
        }
        let extra = match kind {
            NodeKind::Decision { id: callee, .. } => self.body(*callee, depth + 1)?,
            NodeKind::Table { id: table, .. } => {
                let mut most = 0;
                for row in &program.tables.get(table.index())?.rows {
                    if let Cell::Value(cell) = row.cell {
                        most = most.max(self.node(cell, depth + 1)?);
                    }
                }
                most
            }
            NodeKind::Param(p) => self.node(program.params.get(p.index())?.value, depth + 1)?,
            NodeKind::Versioned { .. } => match program.as_of {
                Some(date) => self.node(date, depth + 1)?,
                None => 0,
            },
            _ => 0,
        };
        let levels = 1 + below.max(extra);
        if depth + levels > self.limit {
            return None;
        }
        self.nodes[id.index()] = Some(levels);
        Some(levels)
    }

    fn body(&mut self, id: DecisionId, depth: u32) -> Option<u32> {
        match *self.bodies.get(id.index())? {
            Some(u32::MAX) => None,
            Some(known) => (depth + known <= self.limit).then_some(known),
            None => {
                self.bodies[id.index()] = Some(u32::MAX);
                let levels = self.node(self.program.decisions[id.index()].body, depth);
                // Beyond the limit at this depth, it may still fit where called less deeply.
                self.bodies[id.index()] = levels;
                levels
            }
        }
    }
}
