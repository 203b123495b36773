//! The compile pipeline and the services around it, free of I/O.
//!
//! [`compile`] loads the root files and everything they import (stdlib modules are embedded
//! in the binary and shown as `<stdlib/…>`; other imports go through the caller's
//! [`Loader`]), parses them, checks them and lowers them to one [`Program`]. [`inputs`]
//! validates an input JSON document against the declared inputs; [`receipt`] hashes rules
//! and inputs; [`testing`] runs `test` blocks. Only the CLI touches the file system.
//!
#![doc = include_str!("../../ARCHITECTURE.md")]

pub mod batch;
pub mod csv_text;
pub mod inputs;
pub mod receipt;
pub mod testing;

use covenant_check::ParsedModule;
use covenant_ir::Program;
use covenant_source::{Diagnostic, FileId, SourceMap, Span};
use std::collections::BTreeMap;

/// The engine name and version written into every receipt.
pub const ENGINE: &str = concat!("covenant ", env!("CARGO_PKG_VERSION"));

/// A standard-library module embedded at build time.
pub struct StdlibModule {
    pub name: &'static str,
    pub path: &'static str,
    pub text: &'static str,
}

impl StdlibModule {
    /// The name its source file is shown by: `<stdlib/nhs/clusters.cov>`.
    pub fn file_name(&self) -> String {
        format!("<stdlib/{}>", self.path)
    }
}

macro_rules! stdlib {
    ($($name:literal => $path:literal),* $(,)?) => {
        &[$(StdlibModule {
            name: $name,
            path: $path,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../stdlib/", $path)),
        }),*]
    };
}

/// Every stdlib module, by dotted name.
pub const STDLIB: &[StdlibModule] = stdlib! {
    "nhs.clusters" => "nhs/clusters.cov",
    "nhs.mhct" => "nhs/mhct.cov",
    "social_care.facs" => "social_care/facs.cov",
    "finance.time" => "finance/time.cov",
};

/// Reads source files for imports. The CLI reads the file system; tests use a map.
pub trait Loader {
    /// The text of the file at `path` (a path as the user wrote it, joined to the importer's folder).
    fn load(&self, path: &str) -> Result<String, String>;
}

/// A loader with no files: only the stdlib can be imported.
pub struct NoFiles;

impl Loader for NoFiles {
    fn load(&self, path: &str) -> Result<String, String> {
        Err(format!("no file `{path}` is available here"))
    }
}

/// The result of compiling: every source file, the program and all diagnostics.
pub struct Compilation {
    pub sources: SourceMap,
    pub program: Program,
    pub diagnostics: Vec<Diagnostic>,
    /// The files the user named (not imports).
    pub roots: Vec<FileId>,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Compiles one source text (its imports may only name stdlib modules).
pub fn compile_text(name: &str, text: &str) -> Compilation {
    compile(&[(name.to_string(), text.to_string())], &NoFiles)
}

/// Stack for the compiling thread. Syntax trees may be up to about 500 levels deep (the
/// parser rejects deeper ones with E0004) and unoptimised builds of the checker use several
/// kilobytes per level, more than a default 2 MiB thread (a test thread, say) can give.
const COMPILE_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Compiles root files given with their text, loading imports through `loader`.
pub fn compile(roots: &[(String, String)], loader: &(dyn Loader + Sync)) -> Compilation {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .stack_size(COMPILE_STACK_BYTES)
            .spawn_scoped(scope, || compile_here(roots, loader));
        match worker {
            Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had: compile here, on the caller's stack.
            Err(_) => compile_here(roots, loader),
        }
    })
}

fn compile_here(roots: &[(String, String)], loader: &(dyn Loader + Sync)) -> Compilation {
    let mut sources = SourceMap::default();
    let mut diagnostics = Vec::new();
    let mut modules: Vec<ParsedModule> = Vec::new();
    // Module key (stdlib dotted name or file path) → index in `modules`.
    let mut known: BTreeMap<String, usize> = BTreeMap::new();
    let mut queue: Vec<usize> = Vec::new();
    let mut root_ids = Vec::new();

    let add = |sources: &mut SourceMap,
               modules: &mut Vec<ParsedModule>,
               diagnostics: &mut Vec<Diagnostic>,
               display: String,
               default_name: String,
               text: &str| {
        let file = sources.add(display, text);
        let (ast, parse_diagnostics) = covenant_syntax::parse(file, text);
        diagnostics.extend(parse_diagnostics);
        let name = ast.module.as_ref().map_or(default_name, |p| p.dotted());
        modules.push(ParsedModule { name, file, ast, imports: Vec::new() });
        modules.len() - 1
    };

    for (path, text) in roots {
        let index = add(&mut sources, &mut modules, &mut diagnostics, path.clone(), file_stem(path), text);
        known.insert(path.clone(), index);
        root_ids.push(modules[index].file);
        queue.push(index);
    }

    while let Some(index) = queue.pop() {
        let importer = sources.get(modules[index].file).name.clone();
        let imports: Vec<(String, Span)> = modules[index]
            .ast
            .items
            .iter()
            .filter_map(|item| match &item.kind {
                covenant_syntax::ast::ItemKind::Import(path) => Some((path.dotted(), path.span)),
                _ => None,
            })
            .collect();
        for (dotted, span) in imports {
            let target = if let Some(std) = STDLIB.iter().find(|m| m.name == dotted) {
                match known.get(std.name) {
                    Some(&i) => Some(i),
                    None => {
                        let i = add(
                            &mut sources,
                            &mut modules,
                            &mut diagnostics,
                            std.file_name(),
                            std.name.to_string(),
                            std.text,
                        );
                        known.insert(std.name.to_string(), i);
                        queue.push(i);
                        Some(i)
                    }
                }
            } else {
                let path = sibling_path(&importer, &dotted);
                match known.get(&path) {
                    Some(&i) => Some(i),
                    None => match loader.load(&path) {
                        Ok(text) => {
                            let i =
                                add(&mut sources, &mut modules, &mut diagnostics, path.clone(), dotted.clone(), &text);
                            known.insert(path, i);
                            queue.push(i);
                            Some(i)
                        }
                        Err(reason) => {
                            let stdlib_names: Vec<&str> = STDLIB.iter().map(|m| m.name).collect();
                            diagnostics.push(
                                Diagnostic::error(
                                    "E0208",
                                    format!("cannot find module `{dotted}`"),
                                    span,
                                    "no such module",
                                )
                                .with_note(format!("looked for the file `{path}`: {reason}"))
                                .with_help(format!("the standard library has {}", stdlib_names.join(", "))),
                            );
                            None
                        }
                    },
                }
            };
            if let Some(t) = target
                && t != index
                && !modules[index].imports.contains(&t)
            {
                modules[index].imports.push(t);
            }
        }
    }

    let file_names: Vec<String> = sources.files().map(|(_, f)| f.name.clone()).collect();
    let (program, check_diagnostics) = covenant_check::check(&modules, file_names);
    diagnostics.extend(check_diagnostics);
    // Stable order for people: by file, then position; errors before warnings at one place.
    diagnostics.sort_by(|a, b| {
        (a.primary.span.file, a.primary.span.start, b.severity).cmp(&(
            b.primary.span.file,
            b.primary.span.start,
            a.severity,
        ))
    });
    Compilation { sources, program, diagnostics, roots: root_ids }
}

fn file_stem(path: &str) -> String {
    std::path::Path::new(path).file_stem().map_or_else(|| path.to_string(), |s| s.to_string_lossy().into_owned())
}

/// `import a.b` inside `dir/x.cov` names the file `dir/a/b.cov`.
fn sibling_path(importer: &str, dotted: &str) -> String {
    let dir = std::path::Path::new(importer).parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let relative: std::path::PathBuf = dotted.split('.').collect();
    dir.join(relative).with_extension("cov").to_string_lossy().into_owned()
}

/// The decisions a user most likely wants from `covenant eval`: those without parameters
/// declared in the root files, in source order (a dated decision once, by its name).
pub fn root_decisions(compilation: &Compilation) -> Vec<covenant_ir::DecisionId> {
    compilation
        .program
        .decisions
        .iter()
        .enumerate()
        .filter(|(_, d)| d.params.is_empty() && d.valid.is_none() && compilation.roots.contains(&d.span.file))
        .map(|(i, _)| covenant_ir::DecisionId(i as u32))
        .collect()
}

#[cfg(test)]
mod tests {
    use covenant_eval::{Indexes, NoTrace, Session};
    use covenant_ir::Value;
    use rust_decimal::Decimal;
    use std::fmt::Write;
    use std::str::FromStr;

    /// A table with ranges, alternatives, `_` keys and an `otherwise` row, large enough to
    /// be indexed.
    fn source(hit: &str) -> String {
        let mut text = String::from("enum Service { A, B, C }\n");
        let _ = writeln!(text, "table t(c: Int, s: Service, h: Decimal) -> Int hit {hit} {{");
        let mut n = 0;
        for c in 0..10 {
            for (s, h) in [("A", "up to 5"), ("A", "over 5 to under 10"), ("B | C", "_"), ("_", "10 and over")] {
                // In a unique table the last pattern would overlap the others for A; skip it.
                if hit == "unique" && h == "10 and over" {
                    continue;
                }
                n += 1;
                let _ = writeln!(text, "  {c}, {s}, {h} => {n}");
            }
        }
        text.push_str("  otherwise => -1\n}\n");
        text.push_str("input c: Int\ninput s: Service\ninput h: Decimal\ndecision d: Int = t(c, s, h) otherwise -2\n");
        text
    }

    #[test]
    fn indexed_lookups_give_exactly_the_scanned_results() {
        for hit in ["first", "unique"] {
            let compilation = super::compile_text("index.cov", &source(hit));
            assert!(!compilation.has_errors(), "{:?}", compilation.diagnostics);
            let program = &compilation.program;
            let indexes = Indexes::build(program);
            let decision = program.find_decision("d").expect("decision d");
            let table = covenant_ir::TableId(0);
            let mut compared = 0;
            for c in -1..=11 {
                for s in 0..3u32 {
                    for h in ["-1", "0", "4.5", "5", "5.5", "9.99", "10", "99"] {
                        let inputs = vec![
                            Value::Num(Decimal::from(c)),
                            Value::Enum(s),
                            Value::Num(Decimal::from_str(h).expect("h")),
                        ];
                        let scanned = Session::new(program, inputs.clone()).decision(decision, &mut NoTrace);
                        let indexed = Session::new(program, inputs.clone())
                            .with_indexes(&indexes)
                            .decision(decision, &mut NoTrace);
                        assert_eq!(scanned, indexed, "c = {c}, s = {s}, h = {h}, hit {hit}");
                        compared += 1;
                        // The index must actually narrow the search.
                        let candidates = indexes.candidates(table, &inputs).map_or(usize::MAX, <[u32]>::len);
                        assert!(candidates <= 5, "{candidates} candidate rows for c = {c}, s = {s}, h = {h}");
                    }
                }
            }
            assert_eq!(compared, 13 * 3 * 8);
            // c: 21 atoms (10 points and the intervals around them); s: 3; h: 5 (5, 10).
            assert_eq!(indexes.grid_size(table), Some(21 * 3 * 5), "hit {hit}");
        }
    }

    /// A `hit unique` table whose rows overlap for some keys (error E0411 when checked; the
    /// evaluator still refuses such a lookup at run time): the grid marks those keys, and the
    /// lookup reports the same two rows as a scan.
    #[test]
    fn grid_lookups_report_overlapping_rows_as_a_scan_does() {
        let text = "enum Band { Low, Mid, High }\n\
                    table t(b: Band, n: Int, flag: Bool) -> Int hit unique {\n\
                      Low, under 10, _ => 1\n  Low, 5 to 20, true => 2\n  Mid | High, _, false => 3\n\
                      High, at least 3, _ => 4\n  _, over 20, _ => none \"too many\"\n}\n\
                    input b: Band\ninput n: Int\ninput flag: Bool\n\
                    decision d: Int = t(b, n, flag) otherwise -1\n";
        let compilation = super::compile_text("grid.cov", text);
        assert!(compilation.diagnostics.iter().any(|d| d.code == "E0411"), "{:?}", compilation.diagnostics);
        let program = &compilation.program;
        let indexes = Indexes::build(program);
        assert!(indexes.grid_size(covenant_ir::TableId(0)).is_some(), "the table has a grid");
        let decision = program.find_decision("d").expect("decision d");
        let mut errors = 0;
        for b in 0..3u32 {
            for n in [-1, 0, 3, 4, 5, 9, 10, 15, 20, 21, 99] {
                for flag in [false, true] {
                    let inputs = vec![Value::Enum(b), Value::Num(Decimal::from(n)), Value::Bool(flag)];
                    let scanned = Session::new(program, inputs.clone()).decision(decision, &mut NoTrace);
                    let indexed = Session::new(program, inputs).with_indexes(&indexes).decision(decision, &mut NoTrace);
                    assert_eq!(scanned, indexed, "b = {b}, n = {n}, flag = {flag}");
                    errors += usize::from(indexed.is_err());
                }
            }
        }
        // Two rows match for Low with 5 ≤ n < 10 and flag (n = 5, 9), High with n ≥ 3 and
        // not flag (9 values of n), and Mid or High with n > 20 and flag or not (2 more each).
        assert_eq!(errors, 2 + 9 + 2 + 2, "overlapping keys found");
    }
}
