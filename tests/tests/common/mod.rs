//! Helpers shared by the integration tests: paths, a file-system loader, rendering.
//!
//! Each test target includes this module with `mod common;`, so not every target uses every
//! helper.
#![allow(dead_code)]

use covenant_driver::{Compilation, Loader};
use std::path::{Path, PathBuf};

/// The workspace root (the folder holding `spec/`, `examples/`, `stdlib/` and `tests/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent folder").to_path_buf()
}

/// Reads imported files from disk, as the CLI does.
pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

/// Reads imported files relative to the workspace root, so that files can be compiled under
/// their relative names (`examples/x/y.cov`) and snapshots do not contain absolute paths.
pub struct RootLoader;

impl Loader for RootLoader {
    fn load(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(root().join(path)).map_err(|e| e.to_string())
    }
}

/// Compiles a file named by its path relative to the workspace root.
pub fn compile_relative(relative: &str) -> Compilation {
    let text = read(&root().join(relative));
    covenant_driver::compile(&[(relative.to_string(), text)], &RootLoader)
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Compiles one file from disk (imports of sibling files are read from disk too).
pub fn compile_file(path: &Path) -> Compilation {
    let text = read(path);
    covenant_driver::compile(&[(path.to_string_lossy().into_owned(), text)], &FsLoader)
}

/// Every diagnostic rendered as ariadne text without colour, one after the other.
pub fn render_diagnostics(compilation: &Compilation) -> String {
    compilation
        .diagnostics
        .iter()
        .map(|d| covenant_report::diagnostics::render(d, &compilation.sources, false))
        .collect()
}

/// Every error diagnostic rendered (warnings left out).
pub fn render_errors(compilation: &Compilation) -> String {
    compilation
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| covenant_report::diagnostics::render(d, &compilation.sources, false))
        .collect()
}

/// Files directly in `dir` whose name ends with `.{ext}`, sorted.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// Files under `dir` (recursively) whose name ends with `.{ext}`, sorted.
pub fn files_with_ext_recursive(dir: &Path, ext: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, ext, out);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, ext, &mut out);
    out.sort();
    out
}

/// Sub-folders of `dir`, sorted.
pub fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The file name of a path, as text.
pub fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// `path` relative to the workspace root, with `/` separators (stable in snapshots).
pub fn relative(path: &Path) -> String {
    let root = root();
    path.strip_prefix(&root).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

/// Reads a JSON file (with exact numbers: serde_json's `arbitrary_precision`).
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// Describes the failures of `test` blocks, for an assertion message.
pub fn describe_failures(compilation: &Compilation, outcomes: &[covenant_driver::testing::TestOutcome]) -> Vec<String> {
    use covenant_driver::testing::TestFailure;
    let mut out = Vec::new();
    for outcome in outcomes.iter().filter(|o| !o.passed()) {
        for failure in &outcome.failures {
            let text = match failure {
                TestFailure::Mismatch { decision, expected, actual, span } => format!(
                    "{}: test {:?}: {decision}: expected {expected}, found {actual}",
                    compilation.sources.location(*span),
                    outcome.name
                ),
                TestFailure::Error { decision, error, span } => format!(
                    "{}: test {:?}: {}: {}\n{}",
                    compilation.sources.location(*span),
                    outcome.name,
                    decision.as_deref().unwrap_or("a given value"),
                    error,
                    covenant_report::diagnostics::render(&error.to_diagnostic(), &compilation.sources, false)
                ),
            };
            out.push(text);
        }
    }
    out
}
