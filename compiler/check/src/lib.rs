//! Name resolution, type checking and lowering: parsed modules to a typed [`Program`].
//!
//! [`check`] takes every module of a compilation (stdlib modules first, in import order) and
//! builds one [`Program`]. It runs in three steps:
//!
//! 1. **declare** ([`scope`]): every enum, record, input, param, table and decision gets an id,
//!    and each module gets a scope holding its own names and those of the modules it imports;
//! 2. **signatures**: type expressions are resolved, so every declaration has a [`Ty`];
//! 3. **elaborate** ([`elaborate`], [`tables`], [`tests`]): bodies are type-checked and lowered
//!    in one walk, so each IR node is born with its resolved operation (e.g. `MulRateDuration`)
//!    and its type. Unit algebra is decided by `covenant_ir::types`, in one place.
//!
//! Problems never stop the walk: an ill-typed expression gets the poison type [`Ty::Error`],
//! which fits everywhere, so one mistake gives one diagnostic. Codes: `E02xx` for names,
//! `E03xx` for types, `E04xx` for tables, `E06xx` for tests (see `spec/errors.md`).

mod analysis;
mod contracts;
mod elaborate;
mod graph;
mod lints;
mod rules;
mod scope;
mod splits;
mod tables;
mod tests;

use covenant_ir::{Program, Ty};
use covenant_source::{Diagnostic, FileId};
use covenant_syntax::ast;

/// A parsed module, ready to be checked.
pub struct ParsedModule {
    /// Dotted module name (`nhs.clusters`).
    pub name: String,
    pub file: FileId,
    pub ast: ast::File,
    /// Indices (into the module list) of the modules this one imports.
    pub imports: Vec<usize>,
}

/// Checks and lowers all modules. The program is complete only when no diagnostic is an error.
pub fn check(modules: &[ParsedModule], file_names: Vec<String>) -> (Program, Vec<Diagnostic>) {
    let mut cx = scope::Context::new(modules, file_names);
    cx.declare();
    cx.resolve_signatures();
    cx.elaborate_all();
    graph::check_cycles(&cx.program, &cx.calls, &mut cx.diagnostics);
    analysis::analyse_tables(&cx.program, &mut cx.diagnostics);
    // Warnings about a program with errors would mostly repeat them (an input "unused"
    // because the decision using it did not parse).
    if !cx.diagnostics.iter().any(Diagnostic::is_error) {
        lints::lint(&cx.program, &mut cx.diagnostics);
    }
    cx.finish()
}

pub(crate) fn describe(program: &Program, ty: &Ty) -> String {
    program.type_name(ty)
}
