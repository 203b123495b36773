//! Helpers shared by the integration tests: paths, a file-system loader, rendering, running
//! the workspace's binaries and temporary folders.
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

/// A binary of the workspace, found beside the test's executable (`target/<profile>/deps/…`
/// → `target/<profile>/`): the binaries belong to other packages, so Cargo does not build
/// them for the tests' own; `.ci/run` builds the workspace before testing.
pub fn built(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("the test runs from target/<profile>/deps");
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "`{name}` is not built at {}; run `cargo build --workspace` first", bin.display());
    bin
}

/// What a run of a binary gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn show(&self) -> String {
        format!("exit code {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs a binary of the workspace from the workspace root, without colours.
pub fn run_built(name: &str, args: &[&str]) -> Run {
    run_built_with(name, args, &[])
}

/// [`run_built`] with these environment variables set as well.
pub fn run_built_with(name: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = std::process::Command::new(built(name))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A fresh folder under the system temp dir, removed when dropped. Each test binary is its
/// own process, so the process number keeps their folders apart.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("covenant-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// The path of a file in the folder, as text.
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }

    /// Writes a file in the folder and gives its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
