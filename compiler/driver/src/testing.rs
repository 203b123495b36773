//! Runs `test` blocks: each test sets its `given` inputs (all others are "not given"),
//! evaluates what each `expect` tests (a decision, or a call such as `review_due(C4, d)`)
//! with those inputs and compares the values exactly.

use covenant_eval::{EvalError, NoTrace, Session, eval_constant};
use covenant_ir::{NodeKind, Program, Span, TestDef, Value, value};
use std::sync::Arc;

#[derive(Debug)]
pub struct TestOutcome {
    pub name: String,
    pub span: Span,
    pub failures: Vec<TestFailure>,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

#[derive(Debug)]
pub enum TestFailure {
    /// The decision gave a different value.
    Mismatch { decision: String, expected: String, actual: String, span: Span },
    /// The decision (or a given value) could not be evaluated.
    Error { decision: Option<String>, error: EvalError, span: Span },
}

/// Runs the tests accepted by `select`, in source order.
pub fn run_tests(program: &Program, select: impl Fn(&TestDef) -> bool) -> Vec<TestOutcome> {
    program.tests.iter().filter(|t| select(t)).map(|t| run_test(program, t)).collect()
}

/// How a failure names what was tested: the decision's name, or `name(…)` for a call.
fn describe_target(program: &Program, target: covenant_ir::NodeId) -> String {
    match &program.node(target).kind {
        NodeKind::Decision { id, args } if args.is_empty() => program.decision(*id).name.clone(),
        NodeKind::Decision { id, .. } => format!("{}(…)", program.decision(*id).name),
        NodeKind::Table { id, .. } => format!("{}(…)", program.table(*id).name),
        _ => "the tested expression".to_string(),
    }
}

fn run_test(program: &Program, test: &TestDef) -> TestOutcome {
    let mut failures = Vec::new();
    let mut inputs: Vec<Value> = program
        .inputs
        .iter()
        .map(|i| Value::None(Arc::from(format!("input `{}` is not given in this test", i.name))))
        .collect();
    for given in &test.givens {
        match eval_constant(program, given.value) {
            Ok(v) => inputs[given.input.index()] = v,
            Err(error) => failures.push(TestFailure::Error { decision: None, error, span: given.span }),
        }
    }
    let mut session = Session::new(program, inputs);
    if let Some(node) = test.as_of {
        match eval_constant(program, node) {
            Ok(Value::Date(date)) => session = session.with_as_of(date),
            Ok(_) => {}
            Err(error) => failures.push(TestFailure::Error { decision: None, error, span: test.span }),
        }
    }
    for expect in &test.expects {
        let target = program.node(expect.target);
        let what = describe_target(program, expect.target);
        let expected = match session.expression(expect.value, &mut NoTrace) {
            Ok(v) => v,
            Err(error) => {
                failures.push(TestFailure::Error { decision: Some(what), error, span: expect.span });
                continue;
            }
        };
        match session.expression(expect.target, &mut NoTrace) {
            Ok(actual) if actual == expected => {}
            Ok(actual) => failures.push(TestFailure::Mismatch {
                decision: what,
                expected: value::display(program, &expected, &target.ty),
                actual: value::display(program, &actual, &target.ty),
                span: expect.span,
            }),
            Err(error) => failures.push(TestFailure::Error { decision: Some(what), error, span: expect.span }),
        }
    }
    TestOutcome { name: test.name.clone(), span: test.span, failures }
}
