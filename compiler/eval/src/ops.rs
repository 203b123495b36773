//! Pure operations on values: ordering, rounding, exact duration conversion, table key
//! matching and row selection.
//!
//! These functions know nothing about spans or tracing; the session turns their failures
//! into located [`crate::EvalError`]s.

use covenant_ir::types::CalendarUnit;
use covenant_ir::{Builtin, Date, Duration, HitPolicy, Key, Span, TableDef, Unit, Value};
use rust_decimal::{Decimal, RoundingStrategy};
use std::cmp::Ordering;

/// The order of two values of the same ordered kind (numbers numerically, dates, text,
/// booleans, enum variants by declaration order); `None` for anything else.
pub(crate) fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => Some(num_order(x, y)),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Enum(x), Value::Enum(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// The order of two numbers. Most comparisons are between numbers of the same scale (a
/// rating and a table's bound, two amounts of money), whose mantissas are then in the same
/// order as the numbers: comparing those skips the general comparison's rescaling.
#[inline]
pub(crate) fn num_order(x: &Decimal, y: &Decimal) -> Ordering {
    if x.scale() == y.scale() { x.mantissa().cmp(&y.mantissa()) } else { x.cmp(y) }
}

/// `x` rounded to `places` decimal places, exactly as `Decimal::round_dp_with_strategy`
/// rounds it. Most roundings take an amount of money or hours with a few more places than
/// wanted and a mantissa below 2^63: that is done on machine integers, a division by a power
/// of ten and the strategy's test of the remainder. Anything else, and a result of zero
/// (whose sign the general rounding decides), is left to the general rounding.
#[inline]
pub(crate) fn round(x: Decimal, places: u32, strategy: RoundingStrategy) -> Decimal {
    let scale = x.scale();
    let mantissa = x.mantissa().unsigned_abs();
    if scale <= places || scale - places > 18 || mantissa >= 1 << 63 {
        return x.round_dp_with_strategy(places, strategy);
    }
    let negative = x.is_sign_negative();
    let divisor = 10u64.pow(scale - places);
    let magnitude = mantissa as u64;
    let (quotient, remainder) = (magnitude / divisor, magnitude % divisor);
    // Below 2 × 10^18: doubling the remainder cannot overflow.
    let twice = remainder * 2;
    let away = match strategy {
        RoundingStrategy::MidpointNearestEven => twice > divisor || (twice == divisor && quotient % 2 == 1),
        RoundingStrategy::MidpointAwayFromZero => twice >= divisor,
        RoundingStrategy::MidpointTowardZero => twice > divisor,
        RoundingStrategy::ToZero => false,
        RoundingStrategy::AwayFromZero => remainder != 0,
        RoundingStrategy::ToNegativeInfinity => negative && remainder != 0,
        RoundingStrategy::ToPositiveInfinity => !negative && remainder != 0,
        _ => return x.round_dp_with_strategy(places, strategy),
    };
    let rounded = quotient + u64::from(away);
    if rounded == 0 {
        return x.round_dp_with_strategy(places, strategy);
    }
    Decimal::from_parts(rounded as u32, (rounded >> 32) as u32, 0, negative, places)
}

/// `amount ÷ duration` as a rate per unit, the duration being `count / per` units (`None`:
/// overflow). Like `/`, the quotient keeps 28 significant digits.
pub(crate) fn rate_over(amount: Decimal, (count, per): (i32, i32)) -> Option<Decimal> {
    amount.checked_mul(Decimal::from(per)).and_then(|x| x.checked_div(Decimal::from(count)))
}

/// `count × duration`: the count as a whole number of times (`None`: it is not one).
pub(crate) fn whole_times(count: Decimal) -> Option<i32> {
    if count.fract().is_zero() { rust_decimal::prelude::ToPrimitive::to_i32(&count) } else { None }
}

/// `year(d)`, `month(d)` or `day(d)` (`f` is one of them; any other gives the day).
pub(crate) fn date_part(f: Builtin, date: Date) -> Decimal {
    let (y, m, day) = date.ymd();
    match f {
        Builtin::Year => Decimal::from(y),
        Builtin::Month => Decimal::from(m),
        _ => Decimal::from(day),
    }
}

/// Whether two values are equal as `==` compares them (numbers by value, whatever their scale).
pub(crate) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => num_order(x, y) == Ordering::Equal,
        _ => a == b,
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

/// A duration as a fraction of `unit`: `(count, per)` means `count / per` units (`3 months`
/// of a year is `(3, 12)`), or the message of error E0505 when the duration cannot be
/// converted (months into weeks, days into months).
pub(crate) fn duration_fraction(d: Duration, unit: Unit) -> Result<(i32, i32), String> {
    let inexact = || format!("{d} cannot be converted to {} exactly", plural_unit(unit));
    match unit.calendar() {
        None => Err(format!("{d} cannot be converted to {}: they are not calendar units", plural_unit(unit))),
        Some(CalendarUnit::Days(n)) if d.months == 0 => Ok((d.days, n)),
        Some(CalendarUnit::Months(n)) if d.days == 0 => Ok((d.months, n)),
        Some(_) => Err(inexact()),
    }
}

/// `product / per`, exactly: `None` when the quotient has no exact decimal value within
/// rust_decimal's 28 places. Worked out on the integer mantissa, so a quotient rounded to
/// 28 places is never taken for an exact one (multiplying it back can round to the product).
pub(crate) fn divide_exactly(product: Decimal, per: i32) -> Option<Decimal> {
    if per == 0 {
        return None;
    }
    // Trailing zeros are dropped to leave room for the places the division needs, and put
    // back at the end so `£600,000.00 × 1/12` shows as `£50,000.00`.
    let shown_scale = product.scale();
    let product = product.normalize();
    let (mantissa, scale) = (product.mantissa(), product.scale());
    let per = i128::from(per);
    let reduced = per.unsigned_abs() / gcd(mantissa.unsigned_abs(), per.unsigned_abs());
    // `mantissa / per` terminates when the reduced divisor has no factors but 2 and 5; then
    // `extra` more decimal places hold it exactly.
    let (mut rest, mut twos, mut fives) = (reduced, 0u32, 0u32);
    while rest.is_multiple_of(2) {
        rest /= 2;
        twos += 1;
    }
    while rest.is_multiple_of(5) {
        rest /= 5;
        fives += 1;
    }
    if rest != 1 {
        return None;
    }
    let extra = twos.max(fives);
    let scaled = mantissa.checked_mul(10i128.checked_pow(extra)?)?;
    let mut quotient = Decimal::try_from_i128_with_scale(scaled / per, scale + extra).ok()?.normalize();
    if quotient.scale() < shown_scale {
        quotient.rescale(shown_scale);
    }
    Some(quotient)
}

/// `count/per` in lowest terms, for messages: `5/12`.
pub(crate) fn fraction_text((count, per): (i32, i32)) -> String {
    let g = gcd(u128::from(count.unsigned_abs()), u128::from(per.unsigned_abs()));
    let g = i64::try_from(g).unwrap_or(1);
    format!("{}/{}", i64::from(count) / g, i64::from(per) / g)
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// Whether a row key matches a key value (the rule itself lives in `covenant_ir::Key`).
pub(crate) fn key_matches(key: &Key, value: &Value) -> Result<bool, String> {
    key.matches(value)
}

/// What testing a table's rows found under its hit policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Selected {
    /// The row selected (`None`: no row matches).
    Row(Option<usize>),
    /// Two rows of a `hit unique` table match (the first two found).
    Two(usize, usize),
}

/// Tests `rows` (in row order) against the key values under the table's hit policy: the one
/// definition of row selection, used by lookups and to build table indexes. `Err` is an
/// internal error (a malformed row), with where it is.
pub(crate) fn select_among(
    table: &TableDef,
    rows: impl Iterator<Item = usize>,
    keys: &[Value],
) -> Result<Selected, (Span, String)> {
    let mut matched: Option<usize> = None;
    for i in rows {
        let Some(row) = table.rows.get(i) else {
            return Err((table.span, "a table index names a row that does not exist".to_string()));
        };
        if row.keys.len() != keys.len() {
            let message = format!(
                "row {} of table `{}` has {} keys for {} columns",
                i + 1,
                table.name,
                row.keys.len(),
                keys.len()
            );
            return Err((row.span, message));
        }
        let mut hit = true;
        for (key, value) in row.keys.iter().zip(keys) {
            if !key_matches(key, value).map_err(|m| (row.span, m))? {
                hit = false;
                break;
            }
        }
        if !hit {
            continue;
        }
        // The `otherwise` row (always last) applies only when no other row does.
        if row.otherwise && matched.is_some() {
            continue;
        }
        match (table.hit, matched) {
            (HitPolicy::First, _) => return Ok(Selected::Row(Some(i))),
            (HitPolicy::Unique, None) => matched = Some(i),
            (HitPolicy::Unique, Some(first)) => return Ok(Selected::Two(first, i)),
        }
    }
    Ok(Selected::Row(matched))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dur(months: i32, days: i32) -> Duration {
        Duration { months, days }
    }

    /// Numbers are ordered as the general comparison orders them, at equal and at different
    /// scales, across signs, zeros (minus zero is zero) and the largest mantissas.
    #[test]
    fn numbers_order_as_decimals_do() {
        let mut numbers = Vec::new();
        for mantissa in [0i128, 1, 7, 10, 99, 250, 12_345, i64::MAX as i128, (1i128 << 96) - 1] {
            for scale in [0, 1, 2, 5, 28] {
                for negative in [false, true] {
                    let mut n = Decimal::from_i128_with_scale(mantissa, scale);
                    n.set_sign_negative(negative);
                    numbers.push(n);
                }
            }
        }
        for x in &numbers {
            for y in &numbers {
                assert_eq!(num_order(x, y), x.cmp(y), "{x:?} against {y:?}");
            }
        }
    }

    /// The fast rounding gives, bit for bit, what `round_dp_with_strategy` gives, for every
    /// strategy: at and around the midpoints, to fewer and more places than the number has,
    /// across signs and zero, and at the 63-bit limit, 18 places dropped, and beyond.
    #[test]
    #[allow(deprecated)]
    fn roundings_are_the_general_roundings_bit_for_bit() {
        let strategies = [
            RoundingStrategy::MidpointNearestEven,
            RoundingStrategy::MidpointAwayFromZero,
            RoundingStrategy::MidpointTowardZero,
            RoundingStrategy::ToZero,
            RoundingStrategy::AwayFromZero,
            RoundingStrategy::ToNegativeInfinity,
            RoundingStrategy::ToPositiveInfinity,
            RoundingStrategy::BankersRounding,
            RoundingStrategy::RoundHalfUp,
        ];
        let limit = 1i128 << 63;
        let mantissas = [
            0i128,
            1,
            4,
            5,
            6,
            9,
            10,
            14,
            15,
            16,
            25,
            35,
            45,
            99,
            149,
            150,
            151,
            995,
            1005,
            12_345,
            346_875,
            limit - 1,
            limit,
            limit + 1,
            (1i128 << 96) - 1,
        ];
        for mantissa in mantissas {
            for scale in [0, 1, 2, 3, 4, 6, 18, 19, 20, 28] {
                for negative in [false, true] {
                    let mut x = Decimal::from_i128_with_scale(mantissa, scale);
                    x.set_sign_negative(negative);
                    for places in [0, 1, 2, 3, 5] {
                        for strategy in strategies {
                            let (fast, general) =
                                (round(x, places, strategy), x.round_dp_with_strategy(places, strategy));
                            assert_eq!(fast.serialize(), general.serialize(), "{x:?} to {places} places, {strategy:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn durations_convert_to_fractions_of_a_unit_or_not_at_all() {
        assert_eq!(duration_fraction(dur(0, 14), Unit::Week), Ok((14, 7)));
        assert_eq!(duration_fraction(dur(18, 0), Unit::Year), Ok((18, 12)));
        assert_eq!(
            duration_fraction(dur(6, 0), Unit::Week),
            Err("6 months cannot be converted to weeks exactly".into())
        );
        assert_eq!(
            duration_fraction(dur(1, 3), Unit::Month),
            Err("1 month 3 days cannot be converted to months exactly".into())
        );
        assert!(duration_fraction(dur(0, 7), Unit::Hour).is_err());
    }

    #[test]
    fn shares_of_an_amount_are_exact_or_refused() {
        let d = |s: &str| s.parse::<Decimal>().expect("a decimal");
        let exact_share = |amount: Decimal, (count, per): (i32, i32)| {
            amount.checked_mul(Decimal::from(count)).and_then(|product| divide_exactly(product, per))
        };
        // £600,000 a year for one month is exactly £50,000; for 3 months £150,000.
        assert_eq!(exact_share(d("600000.00"), (1, 12)), Some(d("50000")));
        assert_eq!(exact_share(d("600000.00"), (3, 12)), Some(d("150000")));
        assert_eq!(exact_share(d("47.50"), (14, 7)), Some(d("95")));
        assert_eq!(exact_share(d("10"), (-3, 1)), Some(d("-30")));
        // £100.01 a year for 5 months is £41.670833…: no exact value.
        assert_eq!(exact_share(d("100.01"), (5, 12)), None);
        assert_eq!(exact_share(d("100.01"), (6, 12)), Some(d("50.005")));
        assert_eq!(exact_share(d("0.0000000000000000000000000001"), (1, 4)), None);
        assert_eq!(exact_share(d("1"), (1, 3)), None);
        assert_eq!(exact_share(Decimal::MAX, (2, 1)), None);
        assert_eq!(fraction_text((10, 12)), "5/6");
        assert_eq!(fraction_text((-3, 12)), "-1/4");
    }

    #[test]
    fn numbers_compare_numerically() {
        assert_eq!(order(&Value::Num(Decimal::new(10, 1)), &Value::Num(Decimal::ONE)), Some(Ordering::Equal));
        assert_eq!(Value::Num(Decimal::new(10, 1)), Value::Num(Decimal::ONE));
        assert_eq!(order(&Value::Num(Decimal::ONE), &Value::Bool(true)), None);
    }
}
