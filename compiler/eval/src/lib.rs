//! Evaluator of compiled programs, generic over a tracer that records explanations.
//!
//! [`Session`] evaluates decisions of a [`covenant_ir::Program`] for one set of inputs;
//! [`eval_constant`] evaluates the frame-less expressions of tests and params. Both report
//! failures as [`EvalError`]s with stable codes (see [`error`]) and never panic.
//!
//! Explanations come from the [`Tracer`] passed to [`Session::decision`]: [`NoTrace`] costs
//! nothing, [`Recorder`] builds a tree of [`Step`]s that `covenant-report` renders as text or
//! JSON. This crate depends only on the IR, never on the parser or the checker.

pub mod error;
pub mod index;
pub mod native;
mod ops;
pub mod payments;
mod session;
pub mod trace;

pub use error::EvalError;
pub use index::Indexes;
pub use payments::{PaymentOutcome, PaymentStatus, Statement};
pub use session::{Compiled, KeptCalls, MAX_CALL_DEPTH, MAX_EXPR_DEPTH, Session, Stretch, eval_constant};
pub use trace::{Arg, Branch, Name, NoTrace, NodeStep, Operand, Recorder, Shape, Step, StepKind, Tracer, Typed};

#[cfg(test)]
mod tests;
