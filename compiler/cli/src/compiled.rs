//! `covenant batch --compiled`: the rules compiled to Rust (`emit-rust`) and built, once,
//! into a program of their own, which then runs the batch.
//!
//! The program is this command again with the generated module linked in
//! ([`crate::main_with`]): it reads, checks and writes exactly as `covenant batch` does, and
//! computes each row with the generated code, giving the interpreter the rows that code hands
//! back or finds failing (`batch.rs`). Cargo builds it from Covenant's own source (the folder
//! this command was built from, or `COVENANT_SOURCE`) into the cache folder
//! (`COVENANT_CACHE`, else `$XDG_CACHE_HOME/covenant`, else `~/.cache/covenant`), offline,
//! with the versions of Covenant's `Cargo.lock`. It is named by a hash of the rules'
//! fingerprint and of this command's own build, so the same rules are built once and kept for
//! later runs (found before any code is generated), and rules or a `covenant` built anew are
//! built again.

use covenant_driver::Compilation;
use covenant_eval::native::{self, emit};
use covenant_ir::DecisionId;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// Covenant's source as this command was built from it (overridden by `COVENANT_SOURCE`).
const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Runs the program built for `file`'s rules with this command's arguments, building it first
/// unless it is kept from an earlier run. Where the rules, or every decision asked for,
/// cannot be compiled to Rust, a note says so and `None` lets the interpreter compute every
/// row; the program itself names the decisions it leaves to the interpreter (`batch.rs`).
pub fn run_built(compilation: &Compilation, file: &Path, decisions: &[DecisionId]) -> Option<ExitCode> {
    let program = &compilation.program;
    let fail = |why: String| {
        eprintln!("error: cannot build the rules compiled to Rust: {why}");
        Some(ExitCode::from(2))
    };
    let release = std::env::var("COVENANT_COMPILED_PROFILE").map_or(true, |p| p != "dev");
    let cache = match cache_folder() {
        Ok(cache) => cache,
        Err(why) => return fail(why),
    };
    let name = format!("covenant-rules-{:016x}", build_key(native::fingerprint(program), release));
    let folder = cache.join("rules").join(&name);
    let kept = folder.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if kept.is_file() {
        return Some(run(&kept));
    }
    // The file's name is written into comments of the files made.
    let origin: String = crate::rules_origin(file).chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    let emitted = match emit::emit(program, &format!("`{origin}`")) {
        Ok(emitted) => emitted,
        Err(why) => {
            eprintln!("note: the rules cannot be compiled to Rust ({why}); the interpreter computes every row");
            return None;
        }
    };
    let compiled = |id: &DecisionId| emitted.covered.iter().any(|name| name == program.decision(*id).name.as_str());
    if !decisions.iter().any(compiled) {
        eprintln!("note: no decision asked for is compiled to Rust; the interpreter computes every row");
        return None;
    }
    match build(&cache, &folder, &name, &origin, &emitted.code, release) {
        Ok(made) => match keep(&made, &folder, &kept) {
            Ok(()) => Some(run(&kept)),
            Err(why) => fail(why),
        },
        Err(why) => fail(why),
    }
}

/// Builds the package `name` in `folder` for the generated `code` (of the rules in file
/// `origin`) from Covenant's source, into the cache's target folder: the executable made.
fn build(cache: &Path, folder: &Path, name: &str, origin: &str, code: &str, release: bool) -> Result<PathBuf, String> {
    let source = std::env::var_os("COVENANT_SOURCE").map_or_else(|| PathBuf::from(SOURCE), PathBuf::from);
    if !source.join("compiler").join("cli").join("Cargo.toml").is_file() {
        return Err(format!(
            "it is built from Covenant's source, which is not at `{}`; set COVENANT_SOURCE to the folder holding \
             Covenant's Cargo.toml",
            source.display()
        ));
    }
    let source = source.canonicalize().map_err(|e| format!("cannot read `{}`: {e}", source.display()))?;
    std::fs::create_dir_all(folder).map_err(|e| format!("cannot make `{}`: {e}", folder.display()))?;
    // Each file is written whole, then renamed into place: another run building the same
    // rules at the same time reads either file whole.
    let write = |file: &str, text: &str| {
        let path = folder.join(file);
        let partial = folder.join(format!("{file}.{}.partial", std::process::id()));
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
    };
    write("Cargo.toml", &manifest(name, origin, &source))?;
    write("rules.rs", code)?;
    write("main.rs", &main_rs(origin))?;
    // Covenant's own versions of every crate: all already fetched when it was built.
    let lock = std::fs::read_to_string(source.join("Cargo.lock")).unwrap_or_default();
    write("Cargo.lock", &lock)?;

    eprintln!(
        "compiling the rules of `{origin}` to Rust and building them with cargo (once for these rules; the first \
         time, a minute or two), in `{}`",
        folder.display()
    );
    let target = cache.join("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .arg("build")
        .arg("--offline")
        .arg("--manifest-path")
        .arg(folder.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target);
    if release {
        command.arg("--release");
    }
    // Cargo's progress is shown on a terminal; otherwise its output is kept for an error.
    let terminal = std::io::stderr().is_terminal();
    command.stdout(Stdio::null()).stderr(if terminal { Stdio::inherit() } else { Stdio::piped() });
    let output = command.output().map_err(|e| format!("cannot run `{}`: {e}", Path::new(&cargo).display()))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let last: Vec<&str> = said.lines().rev().take(40).collect();
        let last: Vec<&str> = last.into_iter().rev().collect();
        let shown = if last.is_empty() { String::new() } else { format!(":\n{}", last.join("\n")) };
        return Err(format!("cargo failed ({}){shown}", output.status));
    }
    let profile = if release { "release" } else { "debug" };
    Ok(target.join(profile).join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

/// Copies the executable `made` to `kept` in `folder`, then renames it into place: a run
/// that finds the program finds it whole.
fn keep(made: &Path, folder: &Path, kept: &Path) -> Result<(), String> {
    let partial = folder.join(format!("program.{}.partial", std::process::id()));
    std::fs::copy(made, &partial).map_err(|e| format!("cannot copy `{}`: {e}", made.display()))?;
    std::fs::rename(&partial, kept).map_err(|e| format!("cannot write `{}`: {e}", kept.display()))
}

/// The cache folder: `COVENANT_CACHE`, else `$XDG_CACHE_HOME/covenant`, else `~/.cache/covenant`.
fn cache_folder() -> Result<PathBuf, String> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    set("COVENANT_CACHE")
        .or_else(|| set("XDG_CACHE_HOME").map(|p| p.join("covenant")))
        .or_else(|| set("HOME").map(|p| p.join(".cache").join("covenant")))
        .ok_or_else(|| "no folder to keep it in: set COVENANT_CACHE".to_string())
}

/// A hash of what the built program depends on: the rules (their fingerprint, which does
/// not depend on where their files are), this command's build (the generator, the runtime
/// and the source it was built from: the executable's size and time) and whether it is
/// optimised.
fn build_key(fingerprint: u64, release: bool) -> u64 {
    let mut hasher = DefaultHasher::new();
    fingerprint.hash(&mut hasher);
    release.hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    if let Some(meta) = std::env::current_exe().ok().and_then(|exe| exe.metadata().ok()) {
        meta.len().hash(&mut hasher);
        meta.modified().ok().hash(&mut hasher);
    }
    hasher.finish()
}

/// The built program's `main.rs`: this command with the generated module linked in.
fn main_rs(origin: &str) -> String {
    format!(
        "//! `covenant` with the rules of `{origin}` compiled in, written by `covenant batch --compiled`.\n\n\
         mod rules;\n\n\
         static LINKED: [covenant_eval::native::Linked; 1] = [covenant_eval::native::Linked {{\n    \
         module: &rules::MODULE,\n    covered: &rules::COVERED,\n    decide: rules::decide,\n}}];\n\n\
         fn main() -> std::process::ExitCode {{\n    covenant_cli::main_with(&LINKED)\n}}\n"
    )
}

/// The built program's `Cargo.toml`: Covenant's command and evaluator as path dependencies.
fn manifest(name: &str, origin: &str, source: &Path) -> String {
    let path = |crate_folder: &str| toml_string(&source.join("compiler").join(crate_folder).to_string_lossy());
    format!(
        "# Written by `covenant batch --compiled` for the rules of {origin}: Covenant with them compiled in.\n\
         [package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [[bin]]\nname = \"{name}\"\npath = \"main.rs\"\n\n\
         [dependencies]\ncovenant-cli = {{ path = {} }}\ncovenant-eval = {{ path = {} }}\n\n\
         # Not a member of any other workspace.\n[workspace]\n",
        path("cli"),
        path("eval"),
        origin = toml_string(origin),
    )
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Runs the built program with this command's arguments, in its place where the system
/// allows it, so that its exit code and output are the run's.
fn run(runner: &Path) -> ExitCode {
    let mut command = Command::new(runner);
    command.args(std::env::args_os().skip(1));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let e = command.exec();
        eprintln!("error: cannot run `{}`: {e}", runner.display());
        ExitCode::from(2)
    }
    #[cfg(not(unix))]
    match command.status() {
        Ok(status) => ExitCode::from(status.code().map_or(1, |c| c.clamp(0, 255) as u8)),
        Err(e) => {
            eprintln!("error: cannot run `{}`: {e}", runner.display());
            ExitCode::from(2)
        }
    }
}
