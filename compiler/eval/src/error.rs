//! Evaluation errors: what went wrong while running a checked program, and where.
//!
//! The checker rules out most mistakes before a program runs; the errors left are the ones
//! that depend on the data (a division by an input that is zero, a missing optional value
//! used in a sum, two rows of a `hit unique` table matching the same case). Each has a stable
//! code, a message naming the values involved, and labels pointing at the expression.
//!
//! | Code  | What it means | What to do |
//! |-------|---------------|------------|
//! | E0501 | Division by zero: the divisor evaluated to 0 for these inputs. | Guard the division (`if d == 0 then … else x / d`) or make sure the divisor cannot be zero. |
//! | E0502 | Arithmetic overflow: a result is too large for an exact decimal (about 28 significant digits), or a duration/date count overflowed. | Check the inputs for implausible magnitudes; reorder the calculation so intermediate results stay small. |
//! | E0503 | No value used: a value that is missing (an optional input not given, a table cell `none "…"`, no table row matched) reached an operation that needs one; the message gives the reason. | Supply a fallback with `otherwise`, test it with `is none`, or give the input. |
//! | E0504 | Two rows of a `hit unique` table matched the same key values; both rows are labelled. | Make the rows' conditions exclusive, or declare the table `hit first` if the first matching row should win. |
//! | E0505 | A rate times a duration that cannot be converted to the rate's unit (6 months into weeks), or whose amount is not exact (£100.01 per year × 5 months). | Express the duration in the rate's unit, or round the amount for a whole unit first. |
//! | E0506 | A date is out of range (outside years 1–9999) or `date(y, m, d)` was given a day that does not exist. | Check the date inputs and the durations added to them. |
//! | E0507 | `min` or `max` of an empty list (possibly empty after the `if` filter). | Test `count(…) > 0` first, or give a fallback. |
//! | E0508 | Nesting too deep: more than 256 nested decision calls, or an expression nested more levels than the evaluator allows. | Split the expression into named decisions or `let` bindings; deep nesting is almost always generated code. |
//! | E0509 | Two rules of the same rank both apply (neither is an exception to the other); both are labelled. | Make one an exception to the other with `except "label"`, or make their conditions exclusive. |
//! | E0510 | No rule of a decision applies and it has no `default`. | Add a `default`, or a rule for this case. |
//! | E0511 | Something with dated versions was evaluated, but there is no date to choose by. | Declare `as of …` in the rules, or give `--as-of DATE`. |
//! | E0512 | No version of a dated table, param or decision is valid on the evaluation date. | Add a version for that date, or check the date. |
//! | E0513 | The contract's statement period ends before it starts. | Check the period's dates in the inputs. |
//! | E0599 | Internal invariant broken: the compiled program is inconsistent (a checker or lowering bug, or a hand-edited IR). | Report it with the program and inputs; it is a bug in Covenant, not in your rules. |

use covenant_source::{Diagnostic, Span};
use std::fmt;

/// Stable codes of evaluation errors (see the table in the module documentation).
pub mod code {
    pub const DIVISION_BY_ZERO: &str = "E0501";
    pub const OVERFLOW: &str = "E0502";
    pub const NO_VALUE: &str = "E0503";
    pub const TWO_ROWS: &str = "E0504";
    pub const DURATION_UNIT: &str = "E0505";
    pub const DATE: &str = "E0506";
    pub const EMPTY: &str = "E0507";
    pub const TOO_DEEP: &str = "E0508";
    pub const CONFLICT: &str = "E0509";
    pub const EMPTY_RULES: &str = "E0510";
    pub const NO_DATE: &str = "E0511";
    pub const NO_VERSION: &str = "E0512";
    pub const PERIOD: &str = "E0513";
    pub const INTERNAL: &str = "E0599";
}

/// An error raised while evaluating. `span` is the operation that failed; `labels` point at
/// the parts involved. By convention a label whose span equals `span` gives the text of the
/// primary label of the diagnostic; the others become secondary labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    pub code: &'static str,
    pub message: String,
    pub span: Span,
    pub labels: Vec<(Span, String)>,
    pub notes: Vec<String>,
}

impl EvalError {
    pub fn new(code: &'static str, message: impl Into<String>, span: Span) -> EvalError {
        EvalError { code, message: message.into(), span, labels: Vec::new(), notes: Vec::new() }
    }

    /// An inconsistency in the compiled program (E0599).
    pub fn internal(span: Span, what: impl fmt::Display) -> EvalError {
        EvalError::new(code::INTERNAL, format!("internal error: {what}"), span)
            .with_label(span, "while evaluating this")
            .with_note("this is a bug in Covenant (or a hand-edited program), not in your rules; please report it")
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> EvalError {
        self.labels.push((span, message.into()));
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> EvalError {
        self.notes.push(note.into());
        self
    }

    pub fn to_diagnostic(&self) -> Diagnostic {
        let primary = self.labels.iter().position(|(span, _)| *span == self.span);
        let primary_text = primary.map_or(String::new(), |i| self.labels[i].1.clone());
        let mut diagnostic = Diagnostic::error(self.code, self.message.clone(), self.span, primary_text);
        for (i, (span, message)) in self.labels.iter().enumerate() {
            if Some(i) != primary {
                diagnostic = diagnostic.with_label(*span, message.clone());
            }
        }
        for note in &self.notes {
            diagnostic = diagnostic.with_note(note.clone());
        }
        diagnostic
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code, self.message)
    }
}

impl std::error::Error for EvalError {}
