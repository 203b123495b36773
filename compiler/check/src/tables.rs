//! Tables: each row's keys are checked against the column types and lowered to match
//! patterns (values, alternatives and ranges with explicit endpoints); cells are constants.

use crate::elaborate::Body;
use crate::scope::Context;
use covenant_ir::{Bound, Cell, HitPolicy, Key, KeyAlt, NodeKind, Owner, Row, TableId, Ty, Value};
use covenant_source::Diagnostic;
use covenant_syntax::ast::{AltExpr, CellExpr, Expr, ExprKind, ItemKind, KeyKind, Lit, UnaryOp};
use rust_decimal::Decimal;

impl Context<'_> {
    pub(crate) fn elaborate_table(&mut self, index: usize) {
        let at = self.table_items[index];
        let ItemKind::Table(t) = &self.item(at).kind else { return };
        let id = TableId(index as u32);
        let mut body = Body::constant(at.0, Owner::Table(id));
        let hit = match &t.hit {
            None => HitPolicy::Unique,
            Some(n) if n.text == "unique" => HitPolicy::Unique,
            Some(n) if n.text == "first" => HitPolicy::First,
            Some(n) => {
                self.diagnostics.push(
                    Diagnostic::error("E0402", format!("unknown hit policy `{}`", n.text), n.span, "not a hit policy")
                        .with_help(
                            "use `hit unique` (exactly one row may match) or `hit first` (the first matching row wins)",
                        ),
                );
                HitPolicy::Unique
            }
        };
        let columns = self.program.tables[index].columns.clone();
        let result_ty = self.program.tables[index].ty.clone();
        let mut rows = Vec::new();
        for (index, row) in t.rows.iter().enumerate() {
            if row.otherwise && index + 1 != t.rows.len() {
                self.diagnostics.push(
                    Diagnostic::error("E0404", "the `otherwise` row must be the last row", row.span, "not last")
                        .with_help("move it to the end: it applies when no other row does"),
                );
            }
            if !row.otherwise && row.keys.len() != columns.len() {
                self.diagnostics.push(
                    Diagnostic::error(
                        "E0401",
                        format!(
                            "this row has {} key(s) but table `{}` has {} column(s)",
                            row.keys.len(),
                            t.name.text,
                            columns.len()
                        ),
                        row.span,
                        "wrong number of keys",
                    )
                    .with_label(t.name.span, "columns declared here")
                    .with_help("give one key per column, separated by commas; `_` matches anything"),
                );
                continue;
            }
            let keys = if row.otherwise {
                vec![Key::Any; columns.len()]
            } else {
                row.keys
                    .iter()
                    .zip(&columns)
                    .map(|(key, (column, ty))| match &key.kind {
                        KeyKind::Any => Key::Any,
                        KeyKind::Alts(alts) => {
                            Key::Alts(alts.iter().filter_map(|alt| self.key_alt(&mut body, alt, column, ty)).collect())
                        }
                    })
                    .collect()
            };
            let cell = match &row.cell {
                CellExpr::NoValue { reason, .. } => Cell::NoValue(reason.clone()),
                CellExpr::Value(e) => {
                    Cell::Value(self.expect(&mut body, e, &result_ty, &format!("a cell of table `{}`", t.name.text)))
                }
            };
            rows.push(Row { keys, otherwise: row.otherwise, cell, span: row.span });
        }
        self.program.tables[index].hit = hit;
        self.program.tables[index].rows = rows;
    }

    pub(crate) fn key_alt(&mut self, body: &mut Body, alt: &AltExpr, column: &str, ty: &Ty) -> Option<KeyAlt> {
        match alt {
            AltExpr::Range { low, high, span } => {
                if !matches!(ty, Ty::Num(_) | Ty::Error) {
                    self.diagnostics.push(
                        Diagnostic::error(
                            "E0403",
                            format!("column `{column}` is not numeric, so it cannot have a range"),
                            *span,
                            "a range",
                        )
                        .with_help("ranges such as `up to 5` or `5 to 10` are for number, money and hours columns"),
                    );
                    return None;
                }
                let low = low.as_ref().and_then(|(e, inclusive)| self.bound(e, *inclusive, column));
                let high = high.as_ref().and_then(|(e, inclusive)| self.bound(e, *inclusive, column));
                if let (Some(l), Some(h)) = (&low, &high) {
                    let empty = l.value > h.value || (l.value == h.value && !(l.inclusive && h.inclusive));
                    if empty {
                        self.diagnostics.push(
                            Diagnostic::error("E0403", "this range contains no value", *span, "empty range")
                                .with_help("the lower end must be below the upper end"),
                        );
                    }
                }
                Some(KeyAlt::Range { low, high })
            }
            AltExpr::Value(e) => match ty {
                Ty::Enum(id) => self.variant_of(body, e, *id).map(|i| KeyAlt::Equals(Value::Enum(i))),
                Ty::Num(_) => self.bound(e, true, column).map(|b| KeyAlt::Equals(Value::Num(b.value))),
                Ty::Error => None,
                _ => {
                    let node = self.expect(body, e, ty, &format!("column `{column}`"));
                    match &self.program.node(node).kind {
                        NodeKind::Const(v) if !v.is_none() => Some(KeyAlt::Equals(v.clone())),
                        _ => None,
                    }
                }
            },
        }
    }

    /// A numeric key or range end: any number literal (units are the column's), or a money literal.
    fn bound(&mut self, e: &Expr, inclusive: bool, column: &str) -> Option<Bound> {
        let value = literal_number(e);
        if value.is_none() {
            self.diagnostics.push(
                Diagnostic::error(
                    "E0403",
                    format!("a key of column `{column}` must be a number"),
                    e.span,
                    "not a number",
                )
                .with_help("write a literal such as `5`, `12.5` or `£100.00`"),
            );
        }
        value.map(|value| Bound { value, inclusive })
    }
}

fn literal_number(e: &Expr) -> Option<Decimal> {
    match &e.kind {
        ExprKind::Lit(Lit::Int(n) | Lit::Decimal(n) | Lit::Percent(n) | Lit::Money(n, _) | Lit::Hours(n, _)) => {
            Some(*n)
        }
        ExprKind::Unary(UnaryOp::Neg, inner) => literal_number(inner).map(|n| -n),
        _ => None,
    }
}
