//! Runs `test` blocks: each test sets its `given` inputs (all others are "not given"),
//! evaluates every `expect`ed decision and compares the values exactly.

use covenant_eval::{EvalError, NoTrace, Session, eval_constant};
use covenant_ir::{Program, Span, TestDef, Value, value};
use std::rc::Rc;

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

fn run_test(program: &Program, test: &TestDef) -> TestOutcome {
    let mut failures = Vec::new();
    let mut inputs: Vec<Value> = program
        .inputs
        .iter()
        .map(|i| Value::None(Rc::from(format!("input `{}` is not given in this test", i.name))))
        .collect();
    for given in &test.givens {
        match eval_constant(program, given.value) {
            Ok(v) => inputs[given.input.index()] = v,
            Err(error) => failures.push(TestFailure::Error { decision: None, error, span: given.span }),
        }
    }
    let mut session = Session::new(program, inputs);
    for expect in &test.expects {
        let def = program.decision(expect.decision);
        let expected = match eval_constant(program, expect.value) {
            Ok(v) => v,
            Err(error) => {
                failures.push(TestFailure::Error { decision: Some(def.name.clone()), error, span: expect.span });
                continue;
            }
        };
        match session.decision(expect.decision, &mut NoTrace) {
            Ok(actual) if actual == expected => {}
            Ok(actual) => failures.push(TestFailure::Mismatch {
                decision: def.name.clone(),
                expected: value::display(program, &expected, &def.ty),
                actual: value::display(program, &actual, &def.ty),
                span: expect.span,
            }),
            Err(error) => {
                failures.push(TestFailure::Error { decision: Some(def.name.clone()), error, span: expect.span })
            }
        }
    }
    TestOutcome { name: test.name.clone(), span: test.span, failures }
}
