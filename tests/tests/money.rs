//! Money arithmetic and rounding agree with an independent computation in whole pence.
//!
//! Amounts are generated as integers of pence (`i64`), rates and percentages as integers
//! with a scale; the expected results are computed here in `i128` with rounding written out
//! by hand (never rust_decimal's rounding), and compared with what Covenant programs give,
//! both through `Session` with inputs and through money literals in source text.

mod common;

use covenant_driver::{Compilation, compile_text};
use covenant_eval::{NoTrace, Session};
use covenant_ir::{DecisionId, Value};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::Decimal;

const CASES: u32 = 128;

fn runner() -> TestRunner {
    TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    HalfUp,
    HalfEven,
    Down,
    Up,
}

const MODES: [(Mode, &str); 4] =
    [(Mode::HalfUp, "half_up"), (Mode::HalfEven, "half_even"), (Mode::Down, "down"), (Mode::Up, "up")];

/// `n / d` rounded to a whole number, `d > 0`: half-up is half away from zero, down is
/// toward zero, up is away from zero, half-even goes to the even neighbour on a tie.
fn div_round(n: i128, d: i128, mode: Mode) -> i128 {
    assert!(d > 0);
    let q = n / d; // truncates toward zero
    let r = n % d; // has the sign of n
    if r == 0 {
        return q;
    }
    let away = q + n.signum();
    let twice = 2 * r.abs();
    match mode {
        Mode::Down => q,
        Mode::Up => away,
        Mode::HalfUp => {
            if twice >= d {
                away
            } else {
                q
            }
        }
        Mode::HalfEven => {
            if twice > d || (twice == d && q % 2 != 0) {
                away
            } else {
                q
            }
        }
    }
}

#[test]
fn the_reference_rounding_is_right_on_known_values() {
    // 41.625 to pence, and -1.005 (the spec's examples), in thousandths of a pound.
    let cases = [
        (41_625, Mode::HalfUp, 4163),
        (41_625, Mode::HalfEven, 4162),
        (41_625, Mode::Down, 4162),
        (41_625, Mode::Up, 4163),
        (41_635, Mode::HalfEven, 4164),
        (-1_005, Mode::HalfUp, -101),
        (-1_005, Mode::HalfEven, -100),
        (-1_005, Mode::Down, -100),
        (-1_005, Mode::Up, -101),
        (-1_004, Mode::Up, -101),
        (-1_006, Mode::Down, -100),
        (1_000, Mode::Up, 100),
    ];
    for (n, mode, expected) in cases {
        assert_eq!(div_round(n, 10, mode), expected, "{n}/10 {mode:?}");
    }
}

fn pence(p: i128) -> Decimal {
    Decimal::from_i128_with_scale(p, 2)
}

/// `£1,234.56` (or `-£1,234.56`) for an amount in pence, with thousands commas.
fn money_literal(p: i64) -> String {
    let sign = if p < 0 { "-" } else { "" };
    let abs = p.unsigned_abs();
    let pounds = (abs / 100).to_string();
    let groups: Vec<String> =
        pounds.as_bytes().rchunks(3).rev().map(|g| String::from_utf8_lossy(g).into_owned()).collect();
    let grouped = groups.join(",");
    format!("{sign}£{grouped}.{:02}", abs % 100)
}

struct Rig {
    compilation: Compilation,
}

impl Rig {
    fn new(text: &str) -> Rig {
        let compilation = compile_text("money.cov", text);
        assert!(!compilation.has_errors(), "{}", common::render_diagnostics(&compilation));
        Rig { compilation }
    }

    fn id(&self, name: &str) -> DecisionId {
        self.compilation.program.find_decision(name).unwrap_or_else(|| panic!("no decision {name}"))
    }

    fn eval(&self, inputs: Vec<Value>, name: &str) -> Result<Decimal, TestCaseError> {
        let mut session = Session::new(&self.compilation.program, inputs);
        match session.decision(self.id(name), &mut NoTrace) {
            Ok(Value::Num(n)) => Ok(n),
            other => Err(TestCaseError::fail(format!("{name}: {other:?}"))),
        }
    }
}

const RATE_PROGRAM: &str = "\
input a: Money
input r: Decimal
input p: Percent
decision times_half_up: Money = round(a * r, 2, half_up)
decision times_half_even: Money = round(a * r, 2, half_even)
decision times_down: Money = round(a * r, 2, down)
decision times_up: Money = round(a * r, 2, up)
decision share_half_up: Money = round(p * a, 2, half_up)
decision share_half_even: Money = round(p * a, 2, half_even)
decision share_down: Money = round(p * a, 2, down)
decision share_up: Money = round(p * a, 2, up)
decision exact: Money = a * r
decision whole_pounds: Money = round(a, 0, half_up)
decision moved: Money = round(a + p * a, 2, half_up)
";

#[test]
fn money_times_a_rate_rounds_like_integer_pence() {
    let rig = Rig::new(RATE_PROGRAM);
    // a in pence, up to ±£10bn; r = r_int / 10^scale with up to 6 decimal places.
    let strategy = (-1_000_000_000_000i64..1_000_000_000_000, -10_000_000i64..10_000_000, 0u32..=6);
    runner()
        .run(&strategy, |(a, r_int, scale)| {
            let r = Decimal::new(r_int, scale);
            let inputs = || vec![Value::Num(pence(a as i128)), Value::Num(r), Value::Num(Decimal::ZERO)];
            // a * r in units of 10^-(2 + scale) of a pound.
            let product = a as i128 * r_int as i128;
            let unit = 10i128.pow(scale);
            prop_assert_eq!(rig.eval(inputs(), "exact")?, Decimal::from_i128_with_scale(product, 2 + scale));
            for (mode, name) in MODES {
                let expected = pence(div_round(product, unit, mode));
                let actual = rig.eval(inputs(), &format!("times_{name}"))?;
                prop_assert_eq!(actual, expected, "{} × {} rounded {}", pence(a as i128), r, name);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn exact_halves_and_near_halves_round_by_mode() {
    // Random products rarely land on a tie, so ties are generated on purpose: amounts of
    // n + 0.4, n + 0.5 and n + 0.6 pence (away from zero), times 1.
    let rig = Rig::new(RATE_PROGRAM);
    let strategy = (-1_000_000_000_000i64..1_000_000_000_000, 4i64..=6);
    runner()
        .run(&strategy, |(n, tenth)| {
            let thousandths = n as i128 * 10 + n.signum() as i128 * tenth as i128;
            let a = Decimal::from_i128_with_scale(thousandths, 3);
            let inputs = || vec![Value::Num(a), Value::Num(Decimal::ONE), Value::Num(Decimal::ZERO)];
            for (mode, name) in MODES {
                let expected = pence(div_round(thousandths, 10, mode));
                prop_assert_eq!(rig.eval(inputs(), &format!("times_{name}"))?, expected, "{} rounded {}", a, name);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_percentage_of_money_rounds_like_integer_pence() {
    let rig = Rig::new(RATE_PROGRAM);
    // p in hundredths of a percent (0.01% steps) up to ±300%: the fraction is p / 10,000.
    let strategy = (-1_000_000_000_000i64..1_000_000_000_000, -30_000i64..30_000);
    runner()
        .run(&strategy, |(a, p_bp)| {
            let p = Decimal::new(p_bp, 4);
            let inputs = || vec![Value::Num(pence(a as i128)), Value::Num(Decimal::ONE), Value::Num(p)];
            let product = a as i128 * p_bp as i128; // in 10^-6 pounds
            for (mode, name) in MODES {
                let expected = pence(div_round(product, 10_000, mode));
                prop_assert_eq!(rig.eval(inputs(), &format!("share_{name}"))?, expected, "{} of {}", p, a);
            }
            // Moderation: the amount moved by the percentage, rounded once at the end.
            let moved = div_round(a as i128 * 10_000 + product, 10_000, Mode::HalfUp);
            prop_assert_eq!(rig.eval(inputs(), "moved")?, pence(moved));
            prop_assert_eq!(rig.eval(inputs(), "whole_pounds")?, pence(div_round(a as i128, 100, Mode::HalfUp) * 100));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn hours_times_an_hourly_rate_and_division_round_like_integer_pence() {
    let rig = Rig::new(
        "input hours: hours per week\ninput rate: Money per hour\ninput places: Int\n\
         decision weekly: Money per week = round(hours * rate, 2, half_up)\n\
         decision per_place: Money per week = round(weekly / places, 2, half_even)\n\
         decision per_place_down: Money per week = round(weekly / places, 2, down)\n",
    );
    // hours in hundredths, up to 168 hours a week; rates in pence up to £1,000 an hour.
    let strategy = (0i64..=16_800, 0i64..100_000, 1i64..1_000);
    runner()
        .run(&strategy, |(h, rate, places)| {
            let inputs = || {
                vec![Value::Num(Decimal::new(h, 2)), Value::Num(pence(rate as i128)), Value::Num(Decimal::from(places))]
            };
            let weekly = div_round(h as i128 * rate as i128, 100, Mode::HalfUp);
            prop_assert_eq!(rig.eval(inputs(), "weekly")?, pence(weekly));
            prop_assert_eq!(rig.eval(inputs(), "per_place")?, pence(div_round(weekly, places as i128, Mode::HalfEven)));
            prop_assert_eq!(
                rig.eval(inputs(), "per_place_down")?,
                pence(div_round(weekly, places as i128, Mode::Down))
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn sums_of_money_lists_are_exact() {
    let rig = Rig::new(
        "input xs: list of Money\n\
         decision total: Money = sum(xs)\n\
         decision total_positive: Money = sum(x for x in xs if x > £0)\n\
         decision doubled: Money = sum(x * 2 for x in xs)\n\
         decision how_many: Int = count(xs)\n",
    );
    let strategy = proptest::collection::vec(-100_000_000_000i64..100_000_000_000, 0..60);
    runner()
        .run(&strategy, |xs| {
            let list: Vec<Value> = xs.iter().map(|&p| Value::Num(pence(p as i128))).collect();
            let inputs = || vec![Value::List(list.clone().into())];
            let total: i128 = xs.iter().map(|&p| p as i128).sum();
            let positive: i128 = xs.iter().filter(|&&p| p > 0).map(|&p| p as i128).sum();
            prop_assert_eq!(rig.eval(inputs(), "total")?, pence(total));
            prop_assert_eq!(rig.eval(inputs(), "total_positive")?, pence(positive));
            prop_assert_eq!(rig.eval(inputs(), "doubled")?, pence(2 * total));
            prop_assert_eq!(rig.eval(inputs(), "how_many")?, Decimal::from(xs.len()));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn money_literals_in_source_are_exact_and_round_like_integer_pence() {
    // Amounts written as a commissioner writes them (`£1,234,567.89`), with a rate written
    // as a decimal literal, compiled and evaluated; fewer cases because each compiles.
    let strategy = (
        -1_000_000_000_000i64..1_000_000_000_000,
        proptest::collection::vec(-1_000_000_000i64..1_000_000_000, 1..8),
        1i64..100_000,
        0usize..4,
    );
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    runner
        .run(&strategy, |(a, xs, r_thousandths, mode_index)| {
            let (mode, mode_name) = MODES[mode_index];
            let rate = format!("{}.{:03}", r_thousandths / 1000, r_thousandths % 1000);
            let list: Vec<String> = xs.iter().map(|&p| money_literal(p)).collect();
            let text = format!(
                "param a: Money = {}\n\
                 decision amount: Money = a\n\
                 decision scaled: Money = round(a * {rate}, 2, {mode_name})\n\
                 decision listed: Money = sum([{}])\n\
                 decision difference: Money = a - ({})\n",
                money_literal(a),
                list.join(", "),
                list.join(" + ").replace("+ -", "- "),
            );
            let rig = Rig::new(&text);
            prop_assert_eq!(rig.eval(Vec::new(), "amount")?, pence(a as i128), "{}", text);
            let expected = div_round(a as i128 * r_thousandths as i128, 1000, mode);
            prop_assert_eq!(rig.eval(Vec::new(), "scaled")?, pence(expected), "{}", text);
            let sum: i128 = xs.iter().map(|&p| p as i128).sum();
            prop_assert_eq!(rig.eval(Vec::new(), "listed")?, pence(sum), "{}", text);
            prop_assert_eq!(rig.eval(Vec::new(), "difference")?, pence(a as i128 - sum), "{}", text);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn money_is_written_to_json_as_a_string_with_pence() {
    let rig = Rig::new("input a: Money\ndecision same: Money = a\n");
    let program = &rig.compilation.program;
    let ty = &program.decision(rig.id("same")).ty;
    runner()
        .run(&(-1_000_000_000_000i64..1_000_000_000_000), |a| {
            let json = covenant_ir::value::to_json(program, &Value::Num(pence(a as i128)), ty);
            let sign = if a < 0 { "-" } else { "" };
            let expected = format!("{sign}{}.{:02}", a.unsigned_abs() / 100, a.unsigned_abs() % 100);
            prop_assert_eq!(json, serde_json::Value::String(expected));
            let shown = covenant_ir::value::display(program, &Value::Num(pence(a as i128)), ty);
            prop_assert_eq!(shown, money_literal(a));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn money_literal_helper_groups_thousands() {
    assert_eq!(money_literal(123_456_789), "£1,234,567.89");
    assert_eq!(money_literal(-5), "-£0.05");
    assert_eq!(money_literal(100_000), "£1,000.00");
    assert_eq!(money_literal(99_999), "£999.99");
}
