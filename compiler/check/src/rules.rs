//! Defaults, rules and exceptions: the legal-drafting form of a decision.
//!
//! ```text
//! decision eligible: Bool
//!   default false
//!   rule "FACS threshold met" when band >= Substantial => true
//!   rule "Excluded placement" except "FACS threshold met" when placement is Residential => false
//! ```
//!
//! Each rule may name (with `except`) the rule it is an exception to, so the rules form a
//! forest. This module checks the labels (unique, every `except` names a rule, no cycles),
//! the types, and what can be proved without running: two rules of the same rank that both
//! always apply (a certain conflict), and an exception whose condition is the constant
//! `false` (it can never apply). Everything else is decided at evaluation, where a conflict
//! and an empty result are errors (E0509, E0510), never resolved silently.

use crate::elaborate::Body;
use crate::scope::{Context, suggest};
use covenant_ir::{NodeId, NodeKind, RuleArm, Ty, Value};
use covenant_source::{Diagnostic, Span};
use covenant_syntax::ast::{Expr, ExprKind, Lit, RuleDecl};
use std::collections::BTreeMap;

impl Context<'_> {
    pub(crate) fn rules(
        &mut self,
        body: &mut Body,
        default: Option<&Expr>,
        rules: &[RuleDecl],
        span: Span,
        expected: Option<&Ty>,
    ) -> (NodeId, Ty) {
        let Some(ty) = expected.cloned() else {
            self.diagnostics.push(Diagnostic::error(
                "E0301",
                "rules can only be the body of a decision",
                span,
                "rules without a declared type",
            ));
            return (self.push(body, NodeKind::Const(Value::None("rules".into())), Ty::Error, span), Ty::Error);
        };
        let mut labels: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, rule) in rules.iter().enumerate() {
            if let Some(&first) = labels.get(rule.label.as_str()) {
                self.diagnostics.push(
                    Diagnostic::error(
                        "E0421",
                        format!("two rules are labelled \"{}\"", rule.label),
                        rule.label_span,
                        "second rule with this label",
                    )
                    .with_label(rules[first].label_span, "first rule with this label")
                    .with_help("give every rule of a decision its own label, so exceptions can name it"),
                );
            } else {
                labels.insert(&rule.label, i);
            }
        }
        let mut parents: Vec<Option<u32>> = Vec::with_capacity(rules.len());
        for rule in rules {
            let parent = rule.except.as_ref().and_then(|(label, label_span)| match labels.get(label.as_str()) {
                Some(&p) => Some(p as u32),
                None => {
                    let known: Vec<String> = labels.keys().map(|s| s.to_string()).collect();
                    let d = Diagnostic::error(
                        "E0420",
                        format!("no rule of this decision is labelled \"{label}\""),
                        *label_span,
                        "an exception to an unknown rule",
                    );
                    let d = match suggest(label, &known) {
                        Some(s) => d.with_help(format!("did you mean \"{s}\"?")),
                        None => d.with_help(format!("the rules are labelled {}", quoted(&known))),
                    };
                    self.diagnostics.push(d);
                    None
                }
            });
            parents.push(parent);
        }
        self.check_exception_cycles(rules, &mut parents);

        let default = default.map(|e| self.expect(body, e, &ty, "the default of the decision"));
        let mut arms = Vec::with_capacity(rules.len());
        for (rule, parent) in rules.iter().zip(&parents) {
            let condition = rule.condition.as_ref().map(|c| self.expect(body, c, &Ty::Bool, "a rule's condition"));
            let value = self.expect(body, &rule.value, &ty, &format!("the value of rule \"{}\"", rule.label));
            arms.push(RuleArm { label: rule.label.clone(), parent: *parent, condition, value, span: rule.span });
        }
        self.certain_conflicts(rules, &parents);
        self.dead_exceptions(rules, &parents);
        (self.push(body, NodeKind::Rules { rules: arms, default }, ty.clone(), span), ty)
    }

    /// `except` links must form a forest: following them from any rule must end.
    fn check_exception_cycles(&mut self, rules: &[RuleDecl], parents: &mut [Option<u32>]) {
        for start in 0..rules.len() {
            let mut at = start;
            let mut chain = vec![start];
            while let Some(p) = parents[at] {
                let p = p as usize;
                if p == start {
                    let names: Vec<String> = chain.iter().map(|&i| format!("\"{}\"", rules[i].label)).collect();
                    self.diagnostics.push(
                        Diagnostic::error(
                            "E0422",
                            format!(
                                "rule \"{}\" is, through its exceptions, an exception to itself",
                                rules[start].label
                            ),
                            rules[start].span,
                            "part of a cycle of exceptions",
                        )
                        .with_note(format!("the cycle is {} → \"{}\"", names.join(" → "), rules[start].label))
                        .with_help(
                            "an exception overrides the rule it names; one rule in the cycle must be a plain rule",
                        ),
                    );
                    // Break the cycle here so evaluation and later checks see a forest.
                    parents[start] = None;
                    break;
                }
                if chain.len() > rules.len() {
                    break;
                }
                chain.push(p);
                at = p;
            }
        }
    }

    /// Two rules of the same rank without conditions always conflict.
    fn certain_conflicts(&mut self, rules: &[RuleDecl], parents: &[Option<u32>]) {
        let mut unconditional: BTreeMap<Option<u32>, usize> = BTreeMap::new();
        for (i, rule) in rules.iter().enumerate() {
            if rule.condition.is_some() {
                continue;
            }
            match unconditional.get(&parents[i]) {
                Some(&first) => self.diagnostics.push(
                    Diagnostic::error(
                        "E0423",
                        format!("rules \"{}\" and \"{}\" always both apply", rules[first].label, rule.label),
                        rule.span,
                        "applies always",
                    )
                    .with_label(rules[first].span, "applies always too")
                    .with_note("neither has a `when` condition and neither is an exception to the other")
                    .with_help("add a `when` condition, or make one an exception to the other with `except \"label\"`"),
                ),
                None => {
                    unconditional.insert(parents[i], i);
                }
            }
        }
    }

    /// An exception whose condition is the constant `false` can never apply.
    fn dead_exceptions(&mut self, rules: &[RuleDecl], parents: &[Option<u32>]) {
        for (rule, parent) in rules.iter().zip(parents) {
            let Some(condition) = &rule.condition else { continue };
            if matches!(condition.kind, ExprKind::Lit(Lit::Bool(false))) {
                let what = if parent.is_some() { "exception" } else { "rule" };
                self.diagnostics.push(
                    Diagnostic::warning(
                        "E0424",
                        format!("the {what} \"{}\" can never apply", rule.label),
                        condition.span,
                        "this condition is always false",
                    )
                    .with_help("remove it, or give it the condition under which it should apply"),
                );
            }
        }
    }
}

fn quoted(labels: &[String]) -> String {
    labels.iter().map(|l| format!("\"{l}\"")).collect::<Vec<_>>().join(", ")
}
