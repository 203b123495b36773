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
//! built again. A record of the files the rules were read from, each with a hash of its text,
//! lets a later run on unchanged files find the program without compiling the rules at all
//! ([`run_kept`]): the program compiles them, so a run compiles them once.
//!
//! The cache does not grow without end: each program is kept once (cargo's own copy and the
//! rest of its build are removed once it is kept), each run marks its program used, and a
//! build removes the programs used longest ago beyond the number kept
//! (`COVENANT_CACHE_PROGRAMS`, else [`KEPT_PROGRAMS`]). Runs build, keep and remove programs
//! one at a time (a lock file in the cache), and a run that finds its program removed by
//! another meanwhile builds it again.

use covenant_driver::Compilation;
use covenant_eval::native::{self, emit};
use covenant_ir::DecisionId;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// Covenant's source as this command was built from it (overridden by `COVENANT_SOURCE`).
const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// How many programs the cache keeps unless `COVENANT_CACHE_PROGRAMS` says: an optimised one
/// is 8 to 10 MB, and rules edited many times in a day, or a `covenant` built again (which
/// makes every program stale), should not fill a disk.
pub const KEPT_PROGRAMS: usize = 20;

/// The file whose modification time is when a program was last used.
const USED: &str = "used";

/// How long a package left without its program (a build stopped part way) is kept.
const ABANDONED: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

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
    let release = release();
    let (cache, keep_count) = match cache_folder().and_then(|cache| Ok((cache, kept_programs()?))) {
        Ok(found) => found,
        Err(why) => return fail(why),
    };
    let name = format!("covenant-rules-{:016x}", build_key(native::fingerprint(program), release));
    let folder = package_folder(&cache, &name);
    let kept = kept_program(&folder, &name);
    if kept.is_file() {
        remember(&cache, compilation, file, &name, release);
        mark_used(&folder);
        // Removed by another run since it was found: built again below.
        if let Some(code) = run(&kept) {
            return Some(code);
        }
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
    let lock = lock_builds(&cache);
    // Another run may have built it while this one waited.
    if !kept.is_file() {
        let made =
            build(&cache, &folder, &name, &origin, &emitted.code, release).and_then(|made| keep(&made, &folder, &kept));
        if let Err(why) = made {
            return fail(why);
        }
        forget_build(&cache.join("target"), &name);
    }
    remember(&cache, compilation, file, &name, release);
    mark_used(&folder);
    prune(&cache, keep_count);
    drop(lock);
    run(&kept).or_else(|| fail(format!("the program built, `{}`, was removed before it ran", kept.display())))
}

/// Takes the cache's build lock, waiting for it (with a note) while another run holds it: one
/// run at a time builds, keeps and removes programs, so that none removes what another is
/// building (cargo builds one at a time in the shared target folder anyway). `None`, and no
/// lock, where the system has no file locks.
fn lock_builds(cache: &Path) -> Option<std::fs::File> {
    std::fs::create_dir_all(cache).ok()?;
    let file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(cache.join("build.lock")).ok()?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!("note: waiting for another run's build in `{}` to finish", cache.display());
            file.lock().ok()?;
        }
        Err(std::fs::TryLockError::Error(_)) => return None,
    }
    Some(file)
}

/// Runs the program kept for the rules in `file` if the files they were compiled from last
/// time (recorded by [`remember`]) are unchanged: found without compiling the rules, which the
/// program then does. `None` when there is no such record or a file has changed since.
pub fn run_kept(file: &Path) -> Option<ExitCode> {
    let release = release();
    let cache = cache_folder().ok()?;
    // A bad number of programs to keep is reported by the build's path.
    kept_programs().ok()?;
    let root = std::path::absolute(file).ok()?;
    let record = std::fs::read_to_string(record_path(&cache, &root, release)).ok()?;
    let mut lines = record.lines();
    let name = lines.next().filter(|name| is_program_name(name))?;
    let mut files = 0;
    for line in lines {
        let (hash, path) = line.split_once(' ')?;
        if format!("{:016x}", text_hash(&std::fs::read(path).ok()?)) != hash {
            return None;
        }
        files += 1;
    }
    let folder = package_folder(&cache, name);
    let kept = kept_program(&folder, name);
    if files == 0 || !kept.is_file() {
        return None;
    }
    mark_used(&folder);
    run(&kept)
}

/// Records which program computes the rules of `file` as `compilation` read them: the program's
/// `name` and each file read (not the standard library's modules, which are part of this
/// command) with a hash of its text, for [`run_kept`]. A record that cannot be written only
/// means the next run compiles the rules first.
fn remember(cache: &Path, compilation: &Compilation, file: &Path, name: &str, release: bool) {
    let Ok(root) = std::path::absolute(file) else { return };
    let mut record = format!("{name}\n");
    for (_, source) in compilation.sources.files() {
        let standard = covenant_driver::STDLIB.iter().any(|m| source.name == m.file_name() && source.text == m.text);
        if standard {
            continue;
        }
        let Some(path) = std::path::absolute(&source.name).ok().and_then(|p| p.to_str().map(str::to_string)) else {
            return;
        };
        if path.contains(['\n', '\r']) {
            return;
        }
        record.push_str(&format!("{:016x} {path}\n", text_hash(source.text.as_bytes())));
    }
    let path = record_path(cache, &root, release);
    let Some(folder) = path.parent() else { return };
    let partial = folder.join(format!("record.{}.partial", std::process::id()));
    let _ = std::fs::create_dir_all(folder)
        .and_then(|()| std::fs::write(&partial, record))
        .and_then(|()| std::fs::rename(&partial, &path));
}

/// The folder of the package of program `name`: its sources, its program and its mark of use.
fn package_folder(cache: &Path, name: &str) -> PathBuf {
    packages_folder(cache).join(name)
}

/// The folder of every package, and of the records.
fn packages_folder(cache: &Path) -> PathBuf {
    cache.join("rules")
}

/// The folder of the records [`remember`] writes, beside the packages.
fn records_folder(cache: &Path) -> PathBuf {
    packages_folder(cache).join("sources")
}

/// The program `name` as kept in its package's `folder`.
fn kept_program(folder: &Path, name: &str) -> PathBuf {
    folder.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Where the record for the rules file at absolute path `root` is kept.
fn record_path(cache: &Path, root: &Path, release: bool) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    root.hash(&mut hasher);
    build_identity(&mut hasher, release);
    records_folder(cache).join(format!("{:016x}", hasher.finish()))
}

fn text_hash(text: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// Whether `name` is one [`run_built`] gives a program: `covenant-rules-` and 16 hex digits.
fn is_program_name(name: &str) -> bool {
    name.strip_prefix("covenant-rules-")
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether the program is built optimised: unless `COVENANT_COMPILED_PROFILE=dev`.
fn release() -> bool {
    std::env::var("COVENANT_COMPILED_PROFILE").map_or(true, |p| p != "dev")
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

/// Moves (or, across file systems, copies) the executable `made` to `kept` in `folder` by
/// way of a partial file renamed into place: a run that finds the program finds it whole.
/// When another run building the same rules at once has moved it already, its copy is kept.
fn keep(made: &Path, folder: &Path, kept: &Path) -> Result<(), String> {
    let partial = folder.join(format!("program.{}.partial", std::process::id()));
    if std::fs::rename(made, &partial).is_err()
        && let Err(e) = std::fs::copy(made, &partial)
    {
        return if kept.is_file() { Ok(()) } else { Err(format!("cannot copy `{}`: {e}", made.display())) };
    }
    std::fs::rename(&partial, kept).map_err(|e| format!("cannot write `{}`: {e}", kept.display()))
}

/// Removes what cargo keeps in the cache's `target` folder of the build of program `name`
/// (its executable, the object files and fingerprints of its own crate; Covenant's crates,
/// shared by every program, stay): the program is kept once, in its package's folder. A
/// file that cannot be removed is left.
fn forget_build(target: &Path, name: &str) {
    let crate_name = name.replace('-', "_");
    for profile in ["debug", "release"] {
        let folder = target.join(profile);
        for file in
            [format!("{name}{}", std::env::consts::EXE_SUFFIX), format!("{name}.d"), format!("{crate_name}.pdb")]
        {
            let _ = std::fs::remove_file(folder.join(file));
        }
        for (within, prefix) in [("deps", crate_name.as_str()), (".fingerprint", name), ("incremental", &crate_name)] {
            let Ok(entries) = std::fs::read_dir(folder.join(within)) else { continue };
            for entry in entries.filter_map(Result::ok) {
                let matches = entry
                    .file_name()
                    .to_str()
                    .and_then(|f| f.strip_prefix(prefix))
                    .is_some_and(|rest| rest.starts_with(['-', '.']));
                if matches {
                    let path = entry.path();
                    let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
                }
            }
        }
    }
}

/// Marks the program in `folder` used now, for [`prune`]. Failing only makes it look older.
fn mark_used(folder: &Path) {
    let used = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(folder.join(USED));
    let _ = used.and_then(|file| file.set_modified(std::time::SystemTime::now()));
}

/// When the program in `folder` was last used: its mark, else when it was built.
fn last_used(folder: &Path, name: &str) -> std::time::SystemTime {
    std::fs::metadata(folder.join(USED))
        .or_else(|_| std::fs::metadata(kept_program(folder, name)))
        .and_then(|meta| meta.modified())
        .unwrap_or(std::time::UNIX_EPOCH)
}

/// Removes the programs of `cache` used longest ago, all but the `keep` used last, and the
/// records naming programs no longer kept. A program running meanwhile runs on (on Windows
/// it cannot be removed, and is left); a run about to start one removed builds it again. A
/// package without its program is a build stopped part way (none is under way while the
/// build lock is held, but a run without file locks may be building), removed once untouched
/// for [`ABANDONED`].
fn prune(cache: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(packages_folder(cache)) else { return };
    let mut programs: Vec<(std::time::SystemTime, String)> = Vec::new();
    let mut abandoned: Vec<String> = Vec::new();
    for name in entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| is_program_name(n)) {
        let folder = package_folder(cache, &name);
        if kept_program(&folder, &name).is_file() {
            programs.push((last_used(&folder, &name), name));
        } else if folder.metadata().and_then(|m| m.modified()).is_ok_and(|at| at.elapsed().is_ok_and(|e| e > ABANDONED))
        {
            abandoned.push(name);
        }
    }
    programs.sort_by(|a, b| b.cmp(a));
    for name in programs.into_iter().skip(keep).map(|(_, name)| name).chain(abandoned) {
        let _ = std::fs::remove_dir_all(package_folder(cache, &name));
        forget_build(&cache.join("target"), &name);
    }
    let Ok(records) = std::fs::read_dir(records_folder(cache)) else { return };
    for record in records.filter_map(Result::ok) {
        let named =
            std::fs::read_to_string(record.path()).ok().and_then(|text| text.lines().next().map(str::to_string));
        if named.is_some_and(|name| is_program_name(&name) && !package_folder(cache, &name).is_dir()) {
            let _ = std::fs::remove_file(record.path());
        }
    }
}

/// How many programs the cache keeps: `COVENANT_CACHE_PROGRAMS`, else [`KEPT_PROGRAMS`].
fn kept_programs() -> Result<usize, String> {
    match std::env::var("COVENANT_CACHE_PROGRAMS") {
        Err(_) => Ok(KEPT_PROGRAMS),
        Ok(text) => text.trim().parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            format!("COVENANT_CACHE_PROGRAMS is `{text}`: it is how many programs the cache keeps, a whole number, 1 or more")
        }),
    }
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
    build_identity(&mut hasher, release);
    hasher.finish()
}

/// Hashes this command's build and whether the program is optimised.
fn build_identity(hasher: &mut DefaultHasher, release: bool) {
    release.hash(hasher);
    env!("CARGO_PKG_VERSION").hash(hasher);
    if let Some(meta) = std::env::current_exe().ok().and_then(|exe| exe.metadata().ok()) {
        meta.len().hash(hasher);
        meta.modified().ok().hash(hasher);
    }
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
         # Without debugging information an unoptimised program is a sixth of the size and links in half the time.\n\
         [profile.dev]\ndebug = false\n\n\
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
/// allows it, so that its exit code and output are the run's. `None` when the program is not
/// there: another run removed it after it was found.
fn run(runner: &Path) -> Option<ExitCode> {
    let mut command = Command::new(runner);
    command.args(std::env::args_os().skip(1));
    let cannot = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            return None;
        }
        eprintln!("error: cannot run `{}`: {e}", runner.display());
        Some(ExitCode::from(2))
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        cannot(command.exec())
    }
    #[cfg(not(unix))]
    match command.status() {
        Ok(status) => Some(ExitCode::from(status.code().map_or(1, |c| c.clamp(0, 255) as u8))),
        Err(e) => cannot(e),
    }
}
