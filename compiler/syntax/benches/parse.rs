//! How long parsing takes: lexing and the grammar, on every shipped example and on the
//! example with a mistake in each item.
//!
//! Run with `cargo bench -p covenant-syntax --bench parse`. Every `covenant` command parses
//! its rules first, so this is a fixed cost of each run, however few rows it has. It prints
//! the median of many parses per file; speed is measured here, never asserted in tests.

use covenant_source::FileId;
use std::path::Path;
use std::time::{Duration, Instant};

fn median_parse(text: &str) -> (Duration, usize) {
    let mut runs = Vec::new();
    let mut diagnostics = 0;
    for _ in 0..101 {
        let start = Instant::now();
        let (_, found) = covenant_syntax::parse(FileId(0), text);
        runs.push(start.elapsed());
        diagnostics = found.len();
    }
    runs.sort();
    (runs[runs.len() / 2], diagnostics)
}

fn main() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<_> = std::fs::read_dir(&examples)
        .expect("the examples folder")
        .flatten()
        .flat_map(|dir| std::fs::read_dir(dir.path()).into_iter().flatten().flatten())
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "cov"))
        .collect();
    files.sort();
    println!("{:<48} {:>8} {:>10} {:>12}", "file", "bytes", "median", "diagnostics");
    for path in files {
        let text = std::fs::read_to_string(&path).expect("a readable example");
        let name = path.strip_prefix(&examples).unwrap_or(&path).display().to_string();
        let (time, diagnostics) = median_parse(&text);
        println!("{name:<48} {:>8} {:>8.3}ms {diagnostics:>12}", text.len(), time.as_secs_f64() * 1e3);
        // The same file with each decision's name missing: every decision fails to parse, and
        // its diagnostic comes from parsing it again with the explaining grammar.
        let broken = text.replace("decision ", "decision = ");
        let (time, diagnostics) = median_parse(&broken);
        println!(
            "{:<48} {:>8} {:>8.3}ms {diagnostics:>12}",
            "  (a mistake in each decision)",
            broken.len(),
            time.as_secs_f64() * 1e3
        );
    }
}
