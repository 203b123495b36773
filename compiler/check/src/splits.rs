//! Splits: shares of an amount between parties, proved to sum to exactly 100%.
//!
//! ```text
//! split gain_share over Member remainder to Trust {
//!   Trust => 40%
//!   Housing => 35%
//!   VoluntaryA => 15%
//!   VoluntaryB => 10%
//! }
//! ```
//!
//! The parties are the variants of an enum. The checker requires the shares to sum to
//! exactly 100% (E0440), each party to appear once (E0441), the remainder party to be one of
//! them (E0442), and each share to be a percentage written as a literal (E0443). `gain_share(amount, Trust)` is
//! then the party's part, allocated by `covenant_ir::SplitDef::allocate`, which conserves the
//! amount to the penny.

use crate::elaborate::Body;
use crate::scope::{Context, Def};
use covenant_ir::{NodeId, NodeKind, NumKind, SplitId, Ty, Value};
use covenant_source::{Diagnostic, Span};
use covenant_syntax::ast::{self, Expr, ExprKind, ItemKind, Lit, UnaryOp};
use rust_decimal::Decimal;

impl Context<'_> {
    /// Resolves every split's parties and shares and checks that they add up.
    pub(crate) fn elaborate_splits(&mut self) {
        for (index, &at) in self.split_items.clone().iter().enumerate() {
            let ItemKind::Split(split) = &self.item(at).kind else { continue };
            let Some(Def::Enum(over)) = self.lookup(at.0, &split.over.text) else {
                self.diagnostics.push(
                    Diagnostic::error(
                        "E0203",
                        format!("`{}` is not an enum", split.over.text),
                        split.over.span,
                        "not an enum",
                    )
                    .with_help("a split is over the variants of an enum, such as the members of an alliance"),
                );
                continue;
            };
            let mut body = Body::constant(at.0, covenant_ir::Owner::Split(SplitId(index as u32)));
            let mut shares: Vec<(u32, Decimal)> = Vec::new();
            let mut rows: Vec<(u32, Span)> = Vec::new();
            let mut total = Decimal::ZERO;
            let mut complete = true;
            for (party, share, span) in &split.shares {
                let Some(variant) = self.variant_of(&mut body, party, over) else {
                    complete = false;
                    continue;
                };
                if let Some((_, first)) = rows.iter().find(|(v, _)| *v == variant) {
                    self.diagnostics.push(
                        Diagnostic::error("E0441", "this party is given a share twice", *span, "second share")
                            .with_label(*first, "first share"),
                    );
                    complete = false;
                    continue;
                }
                let Some(fraction) = percent_literal(share) else {
                    self.diagnostics.push(
                        Diagnostic::error(
                            "E0443",
                            "a share must be a percentage such as `40%`",
                            share.span,
                            "not a percentage",
                        )
                        .with_help("write each party's share as a percentage; together they must make 100%"),
                    );
                    complete = false;
                    continue;
                };
                total = total.checked_add(fraction).unwrap_or(Decimal::MAX);
                shares.push((variant, fraction));
                rows.push((variant, *span));
            }
            let remainder = self.variant_of(&mut body, &split.remainder, over);
            if complete && total != Decimal::ONE {
                let shown = total
                    .checked_mul(Decimal::ONE_HUNDRED)
                    .map_or("too much".to_string(), |t| format!("{}%", t.normalize()));
                let mut d = Diagnostic::error(
                    "E0440",
                    format!("the shares of `{}` sum to {shown}, not 100%", split.name.text),
                    split.name.span,
                    "shares that do not add up",
                )
                .with_help("a split must share out the whole amount: change the shares so they sum to exactly 100%");
                for (_, span) in &rows {
                    d = d.with_label(*span, "a share");
                }
                self.diagnostics.push(d);
            }
            let remainder = match remainder {
                Some(r) if rows.iter().any(|(v, _)| *v == r) => r,
                // After a rejected row, the party may be missing because of it: one diagnostic.
                Some(_) if !complete => 0,
                Some(_) => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            "E0442",
                            "the remainder must go to a party with a share",
                            split.remainder.span,
                            "no share",
                        )
                        .with_help("name one of the parties listed in the split"),
                    );
                    0
                }
                None => 0,
            };
            let def = &mut self.program.splits[index];
            def.over = over;
            def.shares = shares;
            def.remainder = remainder;
        }
    }

    /// `name(amount, party)`: the party's part of the amount.
    pub(crate) fn split_call(
        &mut self,
        body: &mut Body,
        (id, callee): (SplitId, &ast::Name),
        args: &[Expr],
        span: Span,
    ) -> (NodeId, Ty) {
        let over = self.program.splits[id.index()].over;
        let [amount, party] = args else {
            self.diagnostics.push(
                Diagnostic::error(
                    "E0306",
                    format!("`{}` takes an amount and a party", callee.text),
                    callee.span,
                    "wrong arguments",
                )
                .with_help(format!("write `{}(amount, party)`", callee.text)),
            );
            let node =
                self.push(body, NodeKind::Const(Value::None("an error was reported here".into())), Ty::Error, span);
            return (node, Ty::Error);
        };
        let (amount_node, amount_ty) = self.expr(body, amount, None);
        if !matches!(amount_ty, Ty::Num(n) if n.kind == NumKind::Money) && amount_ty != Ty::Error {
            let found = self.program.type_name(&amount_ty);
            self.diagnostics.push(Diagnostic::error(
                "E0301",
                format!("a split shares out money, found {found}"),
                amount.span,
                format!("this is {found}"),
            ));
        }
        let party_node = self.expect(body, party, &Ty::Enum(over), "the party");
        let node =
            self.push(body, NodeKind::Split { id, amount: amount_node, party: party_node }, amount_ty.clone(), span);
        (node, amount_ty)
    }
}

/// The fraction written by a percentage literal (`40%`, `-5%`), if the expression is one.
fn percent_literal(e: &Expr) -> Option<Decimal> {
    match &e.kind {
        ExprKind::Lit(Lit::Percent(p)) => Some(*p),
        ExprKind::Unary(UnaryOp::Neg, inner) => percent_literal(inner).map(|p| -p),
        _ => None,
    }
}
