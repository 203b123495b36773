//! Snapshot tests of diagnostics: one snapshot per `.cov` file in `tests/cases/check/`.
//!
//! Each snapshot shows the source, then every diagnostic rendered by ariadne without colour
//! (Gleam's `----- SOURCE CODE` / `----- ERROR` layout), so `cargo insta review` reads on its
//! own. Besides the snapshot, each file's error codes are checked in plain code.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

/// The fixtures that exist now; a missing folder or a lost file must fail the suite.
const AT_LEAST: usize = 30;

/// The error codes each fixture must produce, in order of appearance.
const EXPECTED_CODES: &[(&str, &[&str])] = &[
    ("date_plus_money.cov", &["E0302"]),
    ("decision_cycle.cov", &["E0205"]),
    ("duplicate_definition.cov", &["E0201"]),
    ("empty_range.cov", &["E0403"]),
    ("given_unknown_input.cov", &["E0601"]),
    ("malformed_money.cov", &["E0003"]),
    ("money_times_money.cov", &["E0302"]),
    ("non_exhaustive_match.cov", &["E0305"]),
    ("parse_error.cov", &["E0010"]),
    ("range_on_enum_column.cov", &["E0403"]),
    ("rate_units_mismatch.cov", &["E0302"]),
    ("record_missing_field.cov", &["E0311"]),
    ("table_wrong_key_count.cov", &["E0401"]),
    ("three_syntax_errors.cov", &["E0010", "E0010", "E0010"]),
    ("unknown_import.cov", &["E0208"]),
    ("unknown_name_suggestion.cov", &["E0202"]),
    ("unknown_rounding_mode.cov", &["E0314"]),
    ("unknown_type.cov", &["E0203"]),
    ("unordered_enum_comparison.cov", &["E0303"]),
    ("unterminated_text.cov", &["E0002"]),
    ("intensity_bands_overlap.cov", &["E0411", "E0411"]),
    ("match_gaps_and_unreachable_arm.cov", &["E0305"]),
    ("rules_label_mistakes.cov", &["E0420", "E0423"]),
    ("exception_cycle.cov", &["E0422"]),
    ("versions_overlap_and_gap.cov", &["E0430"]),
    ("split_shares_do_not_add_up.cov", &["E0440"]),
    ("contract_mistakes.cov", &["E0451", "E0454", "E0452", "E0452"]),
    ("contract_reads_without_a_contract.cov", &["E0450", "E0306"]),
    ("amount_over_duration_without_a_rate.cov", &["E0302", "E0302"]),
];

/// Fixtures whose findings are warnings: the warning codes they must give, in order.
const EXPECTED_WARNINGS: &[(&str, &[&str])] = &[
    ("table_gap.cov", &["E0410", "E0410"]),
    ("masked_row.cov", &["E0412"]),
    ("match_gaps_and_unreachable_arm.cov", &["E0308"]),
    ("versions_overlap_and_gap.cov", &["E0431"]),
];

/// The source, then the rendered diagnostics.
fn snapshot_text(name: &str, source: &str, rendered: &str) -> String {
    let mut out = format!("----- SOURCE CODE -- {name}\n{source}");
    if !source.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("\n----- DIAGNOSTICS\n");
    out.push_str(if rendered.is_empty() { "(none)\n" } else { rendered });
    out
}

#[test]
fn every_check_fixture_matches_its_snapshot() {
    let dir = common::root().join("tests/cases/check");
    let files = common::files_with_ext(&dir, "cov");
    assert!(
        files.len() >= AT_LEAST,
        "expected at least {AT_LEAST} fixtures in {}, found {}",
        dir.display(),
        files.len()
    );

    let mut failures = Vec::new();
    for path in &files {
        let name = common::file_name(path);
        let source = common::read(path);
        let compilation = covenant_driver::compile_text(&name, &source);
        let rendered = common::render_diagnostics(&compilation);
        let out = snapshot_text(&name, &source, &rendered);
        let snapshot_name = name.trim_end_matches(".cov").to_string();

        // Every fixture holds at least one mistake (an error, or a finding reported as a warning).
        if compilation.diagnostics.is_empty() {
            failures.push(format!("{name}: expected at least one diagnostic, found none"));
        }
        let warnings: Vec<&str> = compilation.diagnostics.iter().filter(|d| !d.is_error()).map(|d| d.code).collect();
        if let Some((_, expected)) = EXPECTED_WARNINGS.iter().find(|(file, _)| *file == name)
            && warnings != *expected
        {
            failures.push(format!("{name}: expected warning codes {expected:?}, found {warnings:?}\n{rendered}"));
        }
        let codes: Vec<&str> = compilation.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.code).collect();
        if let Some((_, expected)) = EXPECTED_CODES.iter().find(|(file, _)| *file == name)
            && codes != *expected
        {
            failures.push(format!("{name}: expected error codes {expected:?}, found {codes:?}\n{rendered}"));
        }

        let result = catch_unwind(AssertUnwindSafe(|| {
            insta::with_settings!({
                snapshot_path => "snapshots/check",
                prepend_module_to_snapshot => false,
                omit_expression => true,
                description => name.as_str(),
            }, {
                insta::assert_snapshot!(snapshot_name.as_str(), out);
            });
        }));
        if result.is_err() {
            failures.push(format!("{name}: the rendered diagnostics differ from snapshots/check/{snapshot_name}.snap"));
        }
    }
    assert!(failures.is_empty(), "{} fixture(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_expected_code_names_an_existing_fixture() {
    let dir = common::root().join("tests/cases/check");
    for (file, _) in EXPECTED_CODES.iter().chain(EXPECTED_WARNINGS) {
        assert!(dir.join(file).is_file(), "the expected codes name {file}, which is not in {}", dir.display());
    }
}

#[test]
fn operand_spans_of_a_unit_mismatch_are_both_labelled() {
    let source = common::read(&common::root().join("tests/cases/check/rate_units_mismatch.cov"));
    let compilation = covenant_driver::compile_text("rate_units_mismatch.cov", &source);
    let d = compilation.diagnostics.iter().find(|d| d.code == "E0302").expect("an E0302 diagnostic");
    let text = |span: covenant_source::Span| &source[span.range()];
    let mut labelled: Vec<&str> = std::iter::once(&d.primary).chain(&d.secondary).map(|l| text(l.span)).collect();
    labelled.sort();
    assert!(
        labelled.contains(&"outreach_rate") && labelled.contains(&"floating_support"),
        "both operands must be labelled, labels cover {labelled:?}"
    );
}

#[test]
fn a_misspelt_name_gets_a_suggestion() {
    let source = common::read(&common::root().join("tests/cases/check/unknown_name_suggestion.cov"));
    let compilation = covenant_driver::compile_text("unknown_name_suggestion.cov", &source);
    let rendered = common::render_diagnostics(&compilation);
    assert!(rendered.contains("hourly_rate"), "the suggestion names `hourly_rate`:\n{rendered}");
}
