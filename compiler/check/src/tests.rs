//! `test` blocks: each `given` names an input and gives it a constant; each `expect`
//! compares two expressions evaluated with those inputs (usually a decision and a constant).

use crate::elaborate::Body;
use crate::scope::{Context, Def, suggest};
use covenant_ir::{Expect, Given, InputId, Owner, TestDef, Ty};
use covenant_source::Diagnostic;
use covenant_syntax::ast::{ExprKind, ItemKind};

impl Context<'_> {
    pub(crate) fn elaborate_tests(&mut self) {
        for (m, module) in self.modules.iter().enumerate() {
            for item in &module.ast.items {
                let ItemKind::Test(test) = &item.kind else { continue };
                let index = self.program.tests.len() as u32;
                let mut body = Body::constant(m, Owner::Test(index));
                let mut givens: Vec<Given> = Vec::new();
                for (name, value) in &test.givens {
                    let Some(pos) = self.program.inputs.iter().position(|i| i.name == name.text) else {
                        let names: Vec<String> = self.program.inputs.iter().map(|i| i.name.clone()).collect();
                        let d = Diagnostic::error(
                            "E0601",
                            format!("`{}` is not an input", name.text),
                            name.span,
                            "not an input",
                        );
                        let d = match suggest(&name.text, &names) {
                            Some(s) => d.with_help(format!("did you mean `{s}`?")),
                            None => d.with_help("`given` sets an input declared with `input name: Type`"),
                        };
                        self.diagnostics.push(d);
                        continue;
                    };
                    let input = InputId(pos as u32);
                    if let Some(previous) = givens.iter().find(|g| g.input == input) {
                        let previous = previous.span;
                        self.diagnostics.push(
                            Diagnostic::error(
                                "E0601",
                                format!("input `{}` is given twice", name.text),
                                name.span,
                                "given again",
                            )
                            .with_label(previous, "first given here"),
                        );
                        continue;
                    }
                    let ty = self.program.input(input).ty.clone();
                    let node = self.expect(&mut body, value, &ty, &format!("input `{}`", name.text));
                    givens.push(Given { input, value: node, span: name.span.to(value.span) });
                }
                let mut expects = Vec::new();
                for expect in &test.expects {
                    // A bare name must be a decision (or a param, whose dated version a test
                    // may check): the common mistake is a typo in it.
                    if let ExprKind::Name(name) = &expect.target.kind
                        && !matches!(self.lookup(m, &name.text), Some(Def::Decision(_) | Def::Param(_)))
                    {
                        let names: Vec<String> = self
                            .visible_names(m)
                            .into_iter()
                            .filter(|n| matches!(self.lookup(m, n), Some(Def::Decision(_) | Def::Param(_))))
                            .collect();
                        let d = Diagnostic::error(
                            "E0602",
                            format!("`{}` is not a decision", name.text),
                            name.span,
                            "not a decision",
                        );
                        let d = match suggest(&name.text, &names) {
                            Some(s) => d.with_help(format!("did you mean `{s}`?")),
                            None => {
                                d.with_help("`expect` names a decision declared or imported in this file, or calls one")
                            }
                        };
                        self.diagnostics.push(d);
                        continue;
                    }
                    // Both sides read the test's inputs: `expect a + b == total` checks a sum.
                    let mut target_body = Body { constant: false, ..Body::constant(m, Owner::Test(index)) };
                    let (target, ty) = self.expr(&mut target_body, &expect.target, None);
                    let value = self.expect(&mut target_body, &expect.value, &ty, "the tested value");
                    expects.push(Expect { target, value, span: expect.span });
                }
                let as_of =
                    test.as_of.as_ref().map(|d| self.expect(&mut body, d, &Ty::Date, "the test's `as of` date"));
                self.program.tests.push(TestDef {
                    name: test.name.clone(),
                    span: test.name_span,
                    as_of,
                    givens,
                    expects,
                });
            }
        }
    }
}
