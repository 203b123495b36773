//! The reference in `spec/` is a tested document.
//!
//! Every fenced block whose info string is `covenant` must compile without errors and its
//! `test` blocks must pass. A block fenced `covenant error=E0301` must produce an error with
//! that code, and `covenant warning=E0xxx` a warning with that code (and no error). Every
//! code with a `## E….` heading in `spec/errors.md` must have such an example.

mod common;

use covenant_source::Severity;
use std::collections::BTreeSet;

/// The number of `covenant` blocks in `spec/` when this suite was written.
const AT_LEAST_BLOCKS: usize = 10;
/// Tests run by those blocks (46 when this suite was written; a floor, not an exact count).
const AT_LEAST_TESTS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// Compiles without errors; its tests pass.
    Pass,
    /// Produces an error with this code.
    Error(String),
    /// Produces a warning with this code, and no error.
    Warning(String),
}

#[derive(Debug)]
struct Block {
    /// The markdown file's name (`types.md`).
    file: String,
    /// The one-based line of the opening fence.
    line: usize,
    expect: Expect,
    text: String,
}

impl Block {
    fn name(&self) -> String {
        format!("{}#L{}", self.file, self.line)
    }
}

/// The fenced blocks of a markdown text whose info string starts with the word `covenant`.
/// An unknown attribute is an error (so a block cannot be skipped by a typo).
fn covenant_blocks(file: &str, markdown: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim_start();
        let fence_len = trimmed.chars().take_while(|&c| c == '`').count();
        if fence_len < 3 {
            continue;
        }
        let info = trimmed[fence_len..].trim();
        let mut words = info.split_whitespace();
        let is_covenant = words.next() == Some("covenant");
        let mut expect = Expect::Pass;
        if is_covenant {
            for word in words {
                expect = match word.split_once('=') {
                    Some(("error", code)) if is_code(code) => Expect::Error(code.to_string()),
                    Some(("warning", code)) if is_code(code) => Expect::Warning(code.to_string()),
                    _ => return Err(format!("{file}:{}: unknown attribute `{word}` in ```{info}", index + 1)),
                };
            }
        }
        // The block runs to a closing fence of at least as many backticks and nothing else.
        let mut text = String::new();
        let mut closed = false;
        for (_, body_line) in lines.by_ref() {
            let t = body_line.trim();
            if t.len() >= fence_len && t.chars().all(|c| c == '`') {
                closed = true;
                break;
            }
            text.push_str(body_line);
            text.push('\n');
        }
        if !closed {
            return Err(format!("{file}:{}: the block opened here is never closed", index + 1));
        }
        if is_covenant {
            blocks.push(Block { file: file.to_string(), line: index + 1, expect, text });
        }
    }
    Ok(blocks)
}

fn is_code(text: &str) -> bool {
    text.len() == 5 && text.starts_with('E') && text[1..].chars().all(|c| c.is_ascii_digit())
}

/// The codes with a `## E0301` heading (followed by anything) in a markdown text.
fn headed_codes(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .filter_map(|rest| rest.trim().get(..5))
        .filter(|code| is_code(code))
        .map(str::to_string)
        .collect()
}

/// The `covenant` blocks of the spec, and of the README (its first rules file must work too).
fn spec_blocks() -> Vec<Block> {
    let dir = common::root().join("spec");
    let mut blocks = Vec::new();
    let readme = common::root().join("README.md");
    for path in common::files_with_ext(&dir, "md").into_iter().chain([readme]) {
        let name = common::file_name(&path);
        match covenant_blocks(&name, &common::read(&path)) {
            Ok(found) => blocks.extend(found),
            Err(e) => panic!("{e}"),
        }
    }
    blocks
}

/// Checks one block; `Err` says what is wrong, with the rendered diagnostics.
fn check_block(block: &Block) -> Result<usize, String> {
    let compilation = covenant_driver::compile_text(&block.name(), &block.text);
    let rendered = common::render_diagnostics(&compilation);
    let has = |severity: Severity, code: &str| {
        compilation.diagnostics.iter().any(|d| d.severity == severity && d.code == code)
    };
    let where_ = format!("spec/{} (block starting at line {})", block.file, block.line);
    match &block.expect {
        Expect::Error(code) => {
            if has(Severity::Error, code) {
                return Ok(0);
            }
            if compilation.has_errors() {
                return Err(format!("{where_}: expected an error {code}, found:\n{rendered}"));
            }
            // An evaluation error: the example compiles and its test stops with the code.
            let outcomes = covenant_driver::testing::run_tests(&compilation.program, |_| true);
            let stopped = outcomes
                .iter()
                .flat_map(|o| &o.failures)
                .any(|f| matches!(f, covenant_driver::testing::TestFailure::Error { error, .. } if error.code == code));
            if stopped {
                Ok(outcomes.len())
            } else {
                let failures = common::describe_failures(&compilation, &outcomes);
                Err(format!(
                    "{where_}: expected an error {code} when compiling or running its tests, found:\n{}{}",
                    or_none(&rendered),
                    if failures.is_empty() { "(every test passed)".to_string() } else { failures.join("\n") }
                ))
            }
        }
        Expect::Pass | Expect::Warning(_) => {
            if compilation.has_errors() {
                return Err(format!("{where_}: does not compile:\n{rendered}"));
            }
            if let Expect::Warning(code) = &block.expect
                && !has(Severity::Warning, code)
            {
                return Err(format!("{where_}: expected a warning {code}, found:\n{}", or_none(&rendered)));
            }
            let root = compilation.roots[0];
            let outcomes = covenant_driver::testing::run_tests(&compilation.program, |t| t.span.file == root);
            let failures = common::describe_failures(&compilation, &outcomes);
            if failures.is_empty() {
                Ok(outcomes.len())
            } else {
                Err(format!("{where_}: {} failing test(s):\n{}", failures.len(), failures.join("\n")))
            }
        }
    }
}

fn or_none(rendered: &str) -> &str {
    if rendered.is_empty() { "(no diagnostics)\n" } else { rendered }
}

#[test]
fn every_covenant_block_in_the_spec_compiles_and_its_tests_pass() {
    let blocks = spec_blocks();
    assert!(
        blocks.len() >= AT_LEAST_BLOCKS,
        "expected at least {AT_LEAST_BLOCKS} `covenant` blocks in spec/, found {}",
        blocks.len()
    );
    let mut failures = Vec::new();
    let mut tests_run = 0;
    for block in &blocks {
        match check_block(block) {
            Ok(n) => tests_run += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} spec blocks failed:\n\n{}",
        failures.len(),
        blocks.len(),
        failures.join("\n")
    );
    // The blocks must actually test something (46 tests ran when this suite was written).
    assert!(tests_run >= AT_LEAST_TESTS, "only {tests_run} tests ran in {} spec blocks", blocks.len());
    let passing = blocks.iter().filter(|b| b.expect == Expect::Pass).count();
    assert!(passing >= AT_LEAST_BLOCKS, "only {passing} spec blocks are plain `covenant` examples");
}

/// At most this many codes may go without an example (5 when this suite was written:
/// E0004, E0413, E0504, E0508 and E0599), so the rule below cannot quietly become vacuous.
const MAX_WITHOUT_EXAMPLE: usize = 6;

/// Whether a code's section in spec/errors.md says why it has no example.
fn says_no_example(section: &str) -> bool {
    ["no example", "no short example", "robustness suite"].iter().any(|phrase| section.contains(phrase))
}

/// The text of the `## CODE` section of a markdown document, up to the next `## ` heading.
fn section_of(markdown: &str, code: &str) -> String {
    let heading = format!("## {code}");
    markdown
        .lines()
        .skip_while(|line| !line.starts_with(&heading))
        .skip(1)
        .take_while(|line| !line.starts_with("## "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_documented_error_code_has_a_tested_example() {
    let path = common::root().join("spec/errors.md");
    // spec/README.md links errors.md, and it exists since this suite was written.
    assert!(path.is_file(), "{} is missing", path.display());
    let documented = headed_codes(&common::read(&path));
    assert!(!documented.is_empty(), "spec/errors.md has no `## E....` heading");
    let exemplified: BTreeSet<String> = spec_blocks()
        .into_iter()
        .filter_map(|b| match b.expect {
            Expect::Error(code) | Expect::Warning(code) => Some(code),
            Expect::Pass => None,
        })
        .collect();
    // A code may go without an example only when its section says so; a section that says
    // the robustness suite tests it must be right about that.
    let text = common::read(&path);
    let robustness = common::read(&common::root().join("tests/tests/robustness.rs"));
    let mut without_example = Vec::new();
    for code in documented.difference(&exemplified) {
        let section = section_of(&text, code);
        if !says_no_example(&section) {
            continue;
        }
        if section.contains("robustness suite") {
            assert!(
                robustness.contains(&format!("\"{code}\"")),
                "spec/errors.md says {code} is tested by the robustness suite, but tests/tests/robustness.rs never names it"
            );
        }
        without_example.push(code.clone());
    }
    assert!(
        without_example.len() <= MAX_WITHOUT_EXAMPLE,
        "{} codes say they have no example: {without_example:?}",
        without_example.len()
    );
    let missing: Vec<&String> =
        documented.difference(&exemplified).filter(|code| !without_example.contains(code)).collect();
    assert!(
        missing.is_empty(),
        "these codes in spec/errors.md have no `covenant error=` / `warning=` example in spec/: {missing:?}"
    );
}

#[test]
fn every_code_the_check_fixtures_produce_is_documented() {
    // The codes of the fixtures in tests/cases/check are real compiler codes; each must be
    // documented once spec/errors.md exists.
    let path = common::root().join("spec/errors.md");
    assert!(path.is_file(), "{} is missing", path.display());
    let documented = headed_codes(&common::read(&path));
    let mut undocumented = BTreeSet::new();
    for file in common::files_with_ext(&common::root().join("tests/cases/check"), "cov") {
        let compilation = covenant_driver::compile_text(&common::file_name(&file), &common::read(&file));
        for d in &compilation.diagnostics {
            if !documented.contains(d.code) {
                undocumented.insert(d.code);
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "codes produced by tests/cases/check but missing from spec/errors.md: {undocumented:?}"
    );
}

/// Every `"E0123"` string literal in a Rust source text.
fn code_literals(text: &str) -> BTreeSet<String> {
    text.match_indices("\"E0")
        .filter_map(|(i, _)| text.get(i + 1..i + 7))
        .filter(|candidate| candidate.ends_with('"') && is_code(&candidate[..5]))
        .map(|candidate| candidate[..5].to_string())
        .collect()
}

#[test]
fn every_code_in_the_compiler_source_is_documented() {
    let path = common::root().join("spec/errors.md");
    assert!(path.is_file(), "{} is missing", path.display());
    let documented = headed_codes(&common::read(&path));
    let mut used = BTreeSet::new();
    let sources = common::files_with_ext_recursive(&common::root().join("compiler"), "rs");
    assert!(sources.len() >= 10, "{sources:?}");
    for file in &sources {
        used.extend(code_literals(&common::read(file)));
    }
    assert!(used.len() >= 30, "only {} codes found in the compiler: {used:?}", used.len());
    let missing: Vec<&String> = used.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "codes used by the compiler but without a `## CODE` section in spec/errors.md: {missing:?}"
    );
}

#[test]
fn the_block_reader_finds_blocks_attributes_and_lines() {
    let md = "# T\n\n```covenant\ndecision a: Int = 1\n```\n\ntext\n\n```text\nnot code\n```\n\n\
              ````covenant error=E0302\ndecision b: Money = £1 * £2\n````\n```covenant warning=E0701\nx\n```\n";
    let blocks = covenant_blocks("t.md", md).expect("reads");
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    assert_eq!((blocks[0].line, &blocks[0].expect), (3, &Expect::Pass));
    assert_eq!(blocks[0].text, "decision a: Int = 1\n");
    assert_eq!((blocks[1].line, &blocks[1].expect), (13, &Expect::Error("E0302".into())));
    assert_eq!(blocks[2].expect, Expect::Warning("E0701".into()));
    assert!(covenant_blocks("t.md", "```covenant eror=E0302\nx\n```\n").is_err());
    assert!(covenant_blocks("t.md", "```covenant\nx\n").is_err());
    assert_eq!(
        code_literals("Diagnostic::error(\"E0302\", …); let c = \"E05\"; x == \"E0004\" \"E00010\""),
        BTreeSet::from(["E0302".to_string(), "E0004".to_string()])
    );
    assert_eq!(
        headed_codes("# Errors\n## E0301 Type mismatch\ntext\n## E0302: bad operands\n### E0999\n## Notes\n"),
        BTreeSet::from(["E0301".to_string(), "E0302".to_string()])
    );
}

#[test]
fn an_error_block_that_compiles_cleanly_is_reported() {
    let block = Block {
        file: "x.md".into(),
        line: 7,
        expect: Expect::Error("E0302".into()),
        text: "decision a: Money = £1 + £2\n".into(),
    };
    let err = check_block(&block).expect_err("no E0302 here");
    assert!(err.contains("spec/x.md (block starting at line 7)"), "{err}");
    let bad =
        Block { file: "x.md".into(), line: 3, expect: Expect::Pass, text: "decision a: Money = £1 * £2\n".into() };
    let err = check_block(&bad).expect_err("money times money");
    assert!(err.contains("E0302") && err.contains("line 3"), "{err}");
    let failing = Block {
        file: "x.md".into(),
        line: 1,
        expect: Expect::Pass,
        text: "decision a: Money = £1 + £2\ntest \"sum\" { expect a == £4 }\n".into(),
    };
    let err = check_block(&failing).expect_err("a failing test");
    assert!(err.contains("expected £4") || err.contains("expected"), "{err}");
}
