//! Pure operations on values: ordering, exact duration conversion, table key matching.
//!
//! These functions know nothing about spans or tracing; the session turns their failures
//! into located [`crate::EvalError`]s.

use covenant_ir::types::CalendarUnit;
use covenant_ir::{Duration, Key, Unit, Value};
use rust_decimal::Decimal;
use std::cmp::Ordering;

/// The order of two values of the same ordered kind (numbers numerically, dates, text,
/// booleans, enum variants by declaration order); `None` for anything else.
pub(crate) fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => Some(x.cmp(y)),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Enum(x), Value::Enum(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// The words for a kind of value, for internal error messages.
pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "a boolean",
        Value::Num(_) => "a number",
        Value::Date(_) => "a date",
        Value::Duration(_) => "a duration",
        Value::Text(_) => "a text",
        Value::Enum(_) => "an enum variant",
        Value::Record(_) => "a record",
        Value::List(_) => "a list",
        Value::None(_) => "no value",
    }
}

fn plural_unit(unit: Unit) -> String {
    format!("{}s", unit.name())
}

/// How many `unit`s a duration is, exactly: `Ok(count)` or the message of error E0505.
pub(crate) fn duration_in(d: Duration, unit: Unit) -> Result<Decimal, String> {
    let inexact = || format!("{d} cannot be converted to {} exactly", plural_unit(unit));
    match unit.calendar() {
        None => Err(format!("{d} cannot be converted to {}: they are not calendar units", plural_unit(unit))),
        Some(CalendarUnit::Days(n)) if d.months == 0 => exact_quotient(d.days, n).ok_or_else(inexact),
        Some(CalendarUnit::Months(n)) if d.days == 0 => exact_quotient(d.months, n).ok_or_else(inexact),
        Some(_) => Err(inexact()),
    }
}

/// `a / b` when the decimal expansion terminates (b's prime factors, after cancelling, are
/// only 2 and 5), computed by integer reasoning so no rounded quotient is ever accepted.
fn exact_quotient(a: i32, b: i32) -> Option<Decimal> {
    if b == 0 {
        return None;
    }
    let (a, b) = (i64::from(a), i64::from(b));
    let mut rest = b.unsigned_abs() / gcd(a.unsigned_abs(), b.unsigned_abs());
    for p in [2, 5] {
        while rest.is_multiple_of(p) {
            rest /= p;
        }
    }
    if rest != 1 {
        return None;
    }
    Decimal::from(a).checked_div(Decimal::from(b))
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// Whether a row key matches a key value (the rule itself lives in `covenant_ir::Key`).
pub(crate) fn key_matches(key: &Key, value: &Value) -> Result<bool, String> {
    key.matches(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dur(months: i32, days: i32) -> Duration {
        Duration { months, days }
    }

    #[test]
    fn durations_convert_exactly_or_not_at_all() {
        assert_eq!(duration_in(dur(0, 14), Unit::Week), Ok(Decimal::from(2)));
        assert_eq!(duration_in(dur(0, 10), Unit::Day), Ok(Decimal::from(10)));
        assert_eq!(duration_in(dur(18, 0), Unit::Year), Ok(Decimal::new(15, 1)));
        assert_eq!(duration_in(dur(0, 10), Unit::Week), Err("10 days cannot be converted to weeks exactly".into()));
        assert_eq!(duration_in(dur(6, 0), Unit::Week), Err("6 months cannot be converted to weeks exactly".into()));
        assert_eq!(duration_in(dur(5, 0), Unit::Year), Err("5 months cannot be converted to years exactly".into()));
        assert_eq!(
            duration_in(dur(1, 3), Unit::Month),
            Err("1 month 3 days cannot be converted to months exactly".into())
        );
        assert!(duration_in(dur(0, 7), Unit::Hour).is_err());
        assert_eq!(duration_in(dur(-3, 0), Unit::Month), Ok(Decimal::from(-3)));
    }

    #[test]
    fn numbers_compare_numerically() {
        assert_eq!(order(&Value::Num(Decimal::new(10, 1)), &Value::Num(Decimal::ONE)), Some(Ordering::Equal));
        assert_eq!(Value::Num(Decimal::new(10, 1)), Value::Num(Decimal::ONE));
        assert_eq!(order(&Value::Num(Decimal::ONE), &Value::Bool(true)), None);
    }
}
