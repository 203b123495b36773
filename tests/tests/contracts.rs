//! Contracts: payment statements (snapshots of text and JSON), conservation of money across
//! instalments, splits and statements, and the statement from the command line.
//!
//! The statement fixtures are in `tests/cases/contracts/`: the contract of `spec/contracts.md`
//! and a case per situation (a failed data-quality gate, a capped incentive, the quarter in
//! which the contract ends, a part-month period).

mod common;

use covenant_driver::{Compilation, inputs};
use covenant_eval::payments::{PaymentStatus, Statement};
use covenant_eval::{NoTrace, Recorder, Session};
use covenant_ir::Value;
use covenant_report::explain::{STATEMENT_SCHEMA, explain_text, statement_json, statement_json_text, statement_text};
use rust_decimal::Decimal;
use std::str::FromStr;

const CONTRACT: &str = "tests/cases/contracts/supported_housing.cov";

fn compile(relative: &str) -> Compilation {
    let compilation = common::compile_relative(relative);
    assert!(!compilation.has_errors(), "{relative}:\n{}", common::render_errors(&compilation));
    compilation
}

fn compile_text(text: &str) -> Compilation {
    // Tests run in parallel threads of one process: each compiles its own file.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = common::TempDir::new(&format!("contract-{n}"));
    let compilation = common::compile_file(std::path::Path::new(&dir.write("contract.cov", text)));
    assert!(!compilation.has_errors(), "{text}\n{}", common::render_errors(&compilation));
    compilation
}

fn statement(compilation: &Compilation, case: &serde_json::Value, explain: bool) -> Statement {
    let program = &compilation.program;
    let values = inputs::read_inputs(program, case)
        .unwrap_or_else(|e| panic!("{}", e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")));
    Session::new(program, values).statement(explain).expect("the period is valid")
}

fn money(text: &str) -> Decimal {
    Decimal::from_str(text).expect("a decimal")
}

/// What the statement pays in all, checking on the way that each payment's instalments sum
/// to its total and that what is paid out equals what is received.
fn paid(statement: &Statement, parties: usize) -> Decimal {
    let mut total = Decimal::ZERO;
    for line in &statement.lines {
        let outcome = line.outcome.as_ref().expect("no payment fails");
        let sum: Decimal = outcome.instalments.iter().map(|i| i.amount).sum();
        if outcome.status.is_paid() {
            assert_eq!(sum, outcome.total, "instalments of payment #{} sum to its total", line.payment.0);
        }
        total += outcome.total;
    }
    let totals = statement.totals(parties);
    let out: Decimal = totals.iter().map(|t| t.0).sum();
    let received: Decimal = totals.iter().map(|t| t.1).sum();
    assert_eq!(out, received, "paid out equals received");
    assert_eq!(out, total, "the parties' totals are the payments' totals");
    total
}

#[test]
fn statements_are_snapshotted_as_text_and_json() {
    let compilation = compile(CONTRACT);
    let program = &compilation.program;
    let cases = common::files_with_ext(&common::root().join("tests/cases/contracts"), "json");
    assert!(cases.len() >= 4, "expected the statement cases, found {cases:?}");
    for case in cases {
        let name = common::file_name(&case).trim_end_matches(".json").to_string();
        let document = common::read_json(&case);
        let plain = statement(&compilation, &document, false);
        paid(&plain, 3);
        let explained = statement(&compilation, &document, true);
        // Explaining a statement never changes it.
        for (a, b) in plain.lines.iter().zip(&explained.lines) {
            assert_eq!(a.outcome, b.outcome, "{name}: explaining changed payment #{}", a.payment.0);
            assert!(b.explanation.is_some(), "{name}: payment #{} has no explanation", a.payment.0);
        }
        let text = statement_text(program, &compilation.sources, &plain);
        let mut json = statement_json(program, &compilation.sources, &plain);
        assert_eq!(json["schema"], STATEMENT_SCHEMA);
        assert_eq!(json["conserved"], true);
        json.as_object_mut().expect("an object").remove("receipt");
        let explained_text = statement_text(program, &compilation.sources, &explained);
        // The text written without building the value is that value's compact text.
        for statement in [&plain, &explained] {
            assert_eq!(
                statement_json_text(program, &compilation.sources, statement),
                statement_json(program, &compilation.sources, statement).to_string(),
                "{name}"
            );
        }
        insta::with_settings!({
            snapshot_path => "snapshots/contracts",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("{CONTRACT} with {name}.json"),
        }, {
            insta::assert_snapshot!(format!("{name}.text"), text);
            insta::assert_snapshot!(format!("{name}.json"), serde_json::to_string_pretty(&json).expect("json"));
            if name == "q1-gate-fails" {
                insta::assert_snapshot!(format!("{name}.explained"), explained_text);
            }
        });
    }
}

#[test]
fn a_failed_gate_says_how_far_the_measure_was_from_the_threshold() {
    let compilation = compile(CONTRACT);
    let case = common::read_json(&common::root().join("tests/cases/contracts/q1-gate-fails.json"));
    let statement = statement(&compilation, &case, false);
    let move_on = statement
        .lines
        .iter()
        .find(|l| compilation.program.payments[l.payment.index()].name == "move_on")
        .expect("the incentive");
    let outcome = move_on.outcome.as_ref().expect("evaluated");
    let PaymentStatus::GateFailed { gate, shortfalls } = &outcome.status else {
        panic!("expected a failed gate, found {:?}", outcome.status)
    };
    assert_eq!(gate, "data quality");
    let comparison = shortfalls[0].comparison.as_ref().expect("a comparison");
    // 412 of 460 is 89.565…%; the gate needs 95%.
    assert_eq!(comparison.right, Value::Num(money("0.95")));
    let Value::Num(left) = comparison.left else { panic!("a number") };
    assert_eq!(left.round_dp(4), money("0.8957"));
    assert_eq!(comparison.distance, Some(money("0.95") - left));
    let text = statement_text(&compilation.program, &compilation.sources, &statement);
    assert!(
        text.contains("completeness = 412 of 460 (about 89.6%), needs >= 95%: about 5.4% short; 25 more would pass it"),
        "{text}"
    );
    assert_eq!(comparison.ratio, Some((money("412"), money("460"))));
}

fn block_contract(value: &str, term: (&str, &str), schedule: &str) -> String {
    format!(
        r#"contract c "Block" {{
  term {} to {}
  period first_day to last_day
  party Council commissioner "Council"
  party Nhs funder "NHS"
  party Provider provider "Provider"
}}
input first_day: Date
input last_day: Date
split funding over Party remainder to Nhs {{
  Council => 33%
  Nhs => 67%
}}
payment block "Block" from funding to Provider
  block {value} per year
  paid {schedule}
"#,
        term.0, term.1
    )
}

fn period(first: &str, last: &str) -> serde_json::Value {
    serde_json::json!({ "first_day": first, "last_day": last })
}

/// Every month's statement of a year, and every quarter's, add up to the year's statement,
/// which pays the annual value exactly; each instalment's split parts sum to it. Checked
/// for amounts that do not divide by 12, by 4 or by the shares.
#[test]
fn instalments_conserve_the_annual_value_whatever_the_statement_periods() {
    let months = [
        ("2015-04-01", "2015-04-30"),
        ("2015-05-01", "2015-05-31"),
        ("2015-06-01", "2015-06-30"),
        ("2015-07-01", "2015-07-31"),
        ("2015-08-01", "2015-08-31"),
        ("2015-09-01", "2015-09-30"),
        ("2015-10-01", "2015-10-31"),
        ("2015-11-01", "2015-11-30"),
        ("2015-12-01", "2015-12-31"),
        ("2016-01-01", "2016-01-31"),
        ("2016-02-01", "2016-02-29"),
        ("2016-03-01", "2016-03-31"),
    ];
    let quarters = [
        ("2015-04-01", "2015-06-30"),
        ("2015-07-01", "2015-09-30"),
        ("2015-10-01", "2015-12-31"),
        ("2016-01-01", "2016-03-31"),
    ];
    let mut checked = 0;
    for value in ["£520,000.00", "£100,000.01", "£0.07", "£1,234,567.89", "£11.00"] {
        for schedule in ["monthly in advance", "monthly in arrears", "quarterly in advance", "quarterly in arrears"] {
            let compilation = compile_text(&block_contract(value, ("2015-04-01", "2016-03-31"), schedule));
            let year = paid(&statement(&compilation, &period("2015-04-01", "2016-03-31"), false), 3);
            let annual = money(&value.trim_start_matches('£').replace(',', ""));
            assert_eq!(year, annual, "{value} {schedule}: the year pays the annual value");
            for slots in [&months[..], &quarters[..]] {
                let sum: Decimal =
                    slots.iter().map(|(a, b)| paid(&statement(&compilation, &period(a, b), false), 3)).sum();
                assert_eq!(sum, annual, "{value} {schedule}: the statements of a partition add up to the year");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 20);
}

/// A term that starts and ends mid-month is pro-rated by day, and the statements still add
/// up to what accrues over the whole term.
#[test]
fn a_part_year_term_is_pro_rated_by_day() {
    let compilation = compile_text(&block_contract("£365,000.00", ("2015-04-16", "2015-06-15"), "monthly in arrears"));
    let whole = statement(&compilation, &period("2015-04-01", "2015-06-30"), false);
    // April 16-30 is 15/30 of a month, May is whole, June 1-15 is 15/30: two months in all.
    assert_eq!(paid(&whole, 3), money("60833.33"));
    let outcome = whole.lines[0].outcome.as_ref().expect("evaluated");
    let april: Decimal =
        outcome.instalments.iter().filter(|i| i.to.to_string() == "2015-04-30").map(|i| i.amount).sum();
    assert_eq!(april, money("15208.33"));
    // In arrears: April's instalments are due on 1 May; the last on the day after the term.
    assert!(outcome.instalments.iter().any(|i| i.due.to_string() == "2015-05-01"));
    assert!(outcome.instalments.iter().any(|i| i.due.to_string() == "2015-06-16"));
    let parts: Decimal = ["2015-04-01", "2015-05-01", "2015-06-01"]
        .iter()
        .zip(["2015-04-30", "2015-05-31", "2015-06-30"])
        .map(|(a, b)| paid(&statement(&compilation, &period(a, b), false), 3))
        .sum();
    assert_eq!(parts, money("60833.33"));
}

#[test]
fn payments_are_decisions_with_the_amount_paid_in_the_period() {
    let compilation = compile(CONTRACT);
    let program = &compilation.program;
    let case = common::read_json(&common::root().join("tests/cases/contracts/q1-capped.json"));
    let values = inputs::read_inputs(program, &case).expect("valid");
    let mut session = Session::new(program, values);
    let id = program.find_decision("move_on").expect("a decision");
    assert_eq!(session.decision(id, &mut NoTrace).expect("evaluates"), Value::Num(money("15000.00")));
    let statement = session.statement(false).expect("a statement");
    let line = statement.lines.iter().find(|l| program.payments[l.payment.index()].name == "move_on").expect("listed");
    let outcome = line.outcome.as_ref().expect("evaluated");
    assert_eq!(outcome.total, money("15000.00"));
    assert_eq!(outcome.adjustments, vec!["limited from £30,000.00 to the cap of £15,000.00".to_string()]);
}

/// `paid_by` and `paid_to` agree with the statement: each funder's part of every period's
/// block is its total paid out, the parts add up to the payment, and the provider receives
/// the whole. `term_start()` and `term_end()` read the `term` line.
#[test]
fn paid_by_and_paid_to_agree_with_the_statement_totals() {
    let text = block_contract("£100,000.01", ("2015-04-16", "2016-03-31"), "monthly in arrears")
        + r#"
decision council_part: Money = paid_by(block, Council)
decision nhs_part: Money = paid_by(block, Nhs)
decision provider_part: Money = paid_to(block, Provider)
decision council_receives: Money = paid_to(block, Council)
decision term_days: Int = days_between(term_start(), term_end()) + 1
"#;
    let compilation = compile_text(&text);
    let program = &compilation.program;
    let value = |session: &mut Session, name: &str| match session
        .decision(program.find_decision(name).expect("declared"), &mut NoTrace)
        .expect("evaluates")
    {
        Value::Num(n) => n,
        other => panic!("{name} is {other:?}"),
    };
    let parties = ["Council", "Nhs", "Provider"].map(|p| {
        program
            .enums
            .iter()
            .find(|e| e.name == "Party")
            .and_then(|e| e.variants.iter().position(|v| v.name == p))
            .expect("a party")
    });
    let mut year = Decimal::ZERO;
    for (first, last) in [("2015-04-01", "2015-06-30"), ("2015-07-01", "2015-12-31"), ("2016-01-01", "2016-03-31")] {
        let values = inputs::read_inputs(program, &period(first, last)).expect("valid");
        let mut session = Session::new(program, values);
        let block = value(&mut session, "block");
        let council = value(&mut session, "council_part");
        let nhs = value(&mut session, "nhs_part");
        assert_eq!(council + nhs, block, "{first}: the funders' parts add up to the payment");
        assert_eq!(value(&mut session, "provider_part"), block, "{first}: the provider receives the whole");
        assert_eq!(value(&mut session, "council_receives"), Decimal::ZERO);
        assert_eq!(value(&mut session, "term_days"), Decimal::from(351));
        let totals = session.statement(false).expect("a statement").totals(3);
        assert_eq!(totals[parties[0]].0, council, "{first}: the council's total paid out");
        assert_eq!(totals[parties[1]].0, nhs, "{first}: the NHS's total paid out");
        assert_eq!(totals[parties[2]].1, block, "{first}: the provider's total received");
        year += block;
    }
    let values = inputs::read_inputs(program, &period("2015-04-01", "2016-03-31")).expect("valid");
    let whole = value(&mut Session::new(program, values), "block");
    assert_eq!(year, whole, "the periods' payments add up to the whole term's");
}

/// The explanation of a party's part names the call, the part and the whole payment, and
/// lists who pays whom on each line of the payment when there are only a few.
#[test]
fn a_partys_part_is_explained_with_the_payments_lines() {
    let text = block_contract("£120,000.00", ("2015-04-01", "2016-03-31"), "quarterly in arrears")
        + "decision council_part: Money = paid_by(block, Council)\n";
    let compilation = compile_text(&text);
    let program = &compilation.program;
    let values = inputs::read_inputs(program, &period("2015-04-01", "2015-06-30")).expect("valid");
    let mut session = Session::new(program, values);
    let mut recorder = Recorder::new();
    let value = session.decision(program.find_decision("council_part").expect("declared"), &mut recorder);
    assert_eq!(value.expect("evaluates"), Value::Num(money("9900.00")));
    let explained = explain_text(program, &compilation.sources, &recorder.finish().expect("recorded"));
    assert!(
        explained.contains(
            "paid_by(block, Council) = £9,900.00, of payment block = £30,000.00: paid quarterly in arrears: \
             Council → Provider £9,900.00, Nhs → Provider £20,100.00"
        ),
        "{explained}"
    );
}

/// The counts behind a failed ratio are found through a decision that takes arguments, as
/// `completeness(goal)` in the CQUIN example.
#[test]
fn a_failed_gate_shows_the_counts_through_a_decision_with_arguments() {
    let text = r#"contract c "Incentive" {
  term 2016-04-01 to 2017-03-31
  party Ccg commissioner
  party Trust provider
}
enum Goal { Reviews, Checks }
input reviewed: Int
input admitted: Int
decision share(count: Int, out_of: Int): Percent = ratio(count, out_of)
decision completeness(goal: Goal): Percent =
  match goal { Reviews => share(reviewed, admitted), Checks => 100% }
payment goal "Goal" from Ccg to Trust
  amount £1,000.00
  paid in arrears
  gate "data quality" requires completeness(Reviews) >= 95%
"#;
    let compilation = compile_text(text);
    let case = serde_json::json!({ "reviewed": 412, "admitted": 460 });
    let statement = statement(&compilation, &case, false);
    let outcome = statement.lines[0].outcome.as_ref().expect("evaluated");
    let PaymentStatus::GateFailed { shortfalls, .. } = &outcome.status else {
        panic!("the gate fails: {:?}", outcome.status);
    };
    let comparison = shortfalls[0].comparison.as_ref().expect("a comparison");
    assert_eq!(comparison.ratio, Some((money("412"), money("460"))));
}

/// A shadow payment is worked out in full and listed, but moves no money: it is in its own
/// section of the text, has status `shadow` with what it would pay in the JSON, and is left
/// out of the parties' totals.
#[test]
fn a_shadow_payment_is_stated_but_moves_no_money() {
    let text = block_contract("£120,000.00", ("2015-04-01", "2016-03-31"), "monthly in advance")
        + r#"
payment tariff "Tariff (shadow)" from Council to Provider
  amount £25,000.00
  paid in arrears within 30 days
  shadow
"#;
    let compilation = compile_text(&text);
    let program = &compilation.program;
    let statement = statement(&compilation, &period("2015-04-01", "2015-06-30"), false);
    let line = statement.lines.iter().find(|l| program.payments[l.payment.index()].name == "tariff").expect("listed");
    let outcome = line.outcome.as_ref().expect("evaluated");
    assert_eq!(outcome.total, Decimal::ZERO);
    assert!(outcome.instalments.is_empty());
    let PaymentStatus::Shadow { total, instalments } = &outcome.status else {
        panic!("a shadow status: {:?}", outcome.status);
    };
    assert_eq!(*total, money("25000.00"));
    assert_eq!(instalments.len(), 1);
    assert_eq!(instalments[0].due.to_string(), "2015-07-31");
    // Only the block moves money: £30,000.00 for the quarter.
    assert_eq!(paid(&statement, 3), money("30000.00"));

    let text = statement_text(program, &compilation.sources, &statement);
    assert!(text.contains("Shadow: worked out, no money moves (1)"), "{text}");
    assert!(text.contains("tariff \"Tariff (shadow)\": would pay £25,000.00, no money moves"), "{text}");
    assert!(text.contains("would be due 2015-07-31  Council → Provider  £25,000.00"), "{text}");
    assert!(text.contains("paid out £30,000.00 = received £30,000.00 (conserved)"), "{text}");

    let json = statement_json(program, &compilation.sources, &statement);
    let tariff =
        json["payments"].as_array().expect("payments").iter().find(|p| p["payment"] == "tariff").expect("listed");
    assert_eq!(tariff["status"], "shadow");
    assert_eq!(tariff["total"], "0.00");
    assert_eq!(tariff["shadow_total"], "25000.00");
    assert_eq!(tariff["shadow_instalments"][0]["amount"], "25000.00");
    assert_eq!(json["paid_out"], "30000.00");
}
