//! Calendar dates and durations, with the month-end rule stated once.
//!
//! A [`Date`] is a proleptic Gregorian day. A [`Duration`] is a number of months plus a
//! number of days (weeks are 7 days, years are 12 months). Adding months moves to the same
//! day of the target month and **clamps to that month's last day** when the day does not
//! exist: 2016-01-31 + 1 month = 2016-02-29, 2015-01-31 + 1 month = 2015-02-28. Months are
//! added before days.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Date {
    /// Days since 1970-01-01.
    days: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Duration {
    pub months: i32,
    pub days: i32,
}

const MIN_YEAR: i32 = 1;
const MAX_YEAR: i32 = 9999;

pub fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days-from-civil algorithm.
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Date {
    /// A date from year, month and day, or `None` if it does not exist or is outside years 1–9999.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { days: days_from_civil(year, month, day) })
    }

    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.days)
    }

    /// Parses `YYYY-MM-DD`: four, two and two ASCII digits.
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let digits = |at: std::ops::Range<usize>| {
            bytes[at].iter().try_fold(0u32, |n, &b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
        };
        Date::from_ymd(i32::try_from(digits(0..4)?).ok()?, digits(5..7)?, digits(8..10)?)
    }

    /// Adds a duration (months first, clamping to the month end, then days); `None` if the
    /// result leaves years 1–9999.
    // Not `std::ops::Add`: the result is an `Option` because a date can leave the calendar.
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, duration: Duration) -> Option<Date> {
        let (y, m, d) = self.ymd();
        let total_months = i64::from(y) * 12 + i64::from(m - 1) + i64::from(duration.months);
        let year = i32::try_from(total_months.div_euclid(12)).ok()?;
        let month = u32::try_from(total_months.rem_euclid(12)).ok()? + 1;
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return None;
        }
        let day = d.min(days_in_month(year, month));
        let shifted = Date::from_ymd(year, month, day)?;
        let days = shifted.days.checked_add(duration.days)?;
        let result = Date { days };
        let (ry, _, _) = result.ymd();
        (MIN_YEAR..=MAX_YEAR).contains(&ry).then_some(result)
    }

    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, duration: Duration) -> Option<Date> {
        self.add(Duration { months: duration.months.checked_neg()?, days: duration.days.checked_neg()? })
    }

    /// The number of days from 1970-01-01 (negative before it): dates compare as their
    /// day numbers do.
    pub fn day_number(self) -> i32 {
        self.days
    }

    /// `other - self` in days.
    pub fn days_until(self, other: Date) -> i64 {
        i64::from(other.days) - i64::from(self.days)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        // Four-digit years (all but the extremes) skip the formatting machinery: outputs and
        // traces write dates on every row.
        match (u16::try_from(y), u8::try_from(m), u8::try_from(d)) {
            (Ok(y @ 0..=9999), Ok(m @ 1..=12), Ok(d @ 1..=31)) => {
                let digit = |n: u16| b'0' + (n % 10) as u8;
                let (m, d) = (u16::from(m), u16::from(d));
                let text = [
                    digit(y / 1000),
                    digit(y / 100),
                    digit(y / 10),
                    digit(y),
                    b'-',
                    digit(m / 10),
                    digit(m),
                    b'-',
                    digit(d / 10),
                    digit(d),
                ];
                f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
            }
            _ => write!(f, "{y:04}-{m:02}-{d:02}"),
        }
    }
}

impl Duration {
    pub fn checked_add(self, other: Duration) -> Option<Duration> {
        Some(Duration { months: self.months.checked_add(other.months)?, days: self.days.checked_add(other.days)? })
    }

    pub fn checked_neg(self) -> Option<Duration> {
        Some(Duration { months: self.months.checked_neg()?, days: self.days.checked_neg()? })
    }

    /// `count` times this duration (`3 * 1 month` is 3 months).
    pub fn checked_scale(self, count: i32) -> Option<Duration> {
        Some(Duration { months: self.months.checked_mul(count)?, days: self.days.checked_mul(count)? })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let (years, months) = (self.months / 12, self.months % 12);
        if years != 0 {
            parts.push(plural(years, "year"));
        }
        if months != 0 {
            parts.push(plural(months, "month"));
        }
        if self.days != 0 {
            if self.days % 7 == 0 {
                parts.push(plural(self.days / 7, "week"));
            } else {
                parts.push(plural(self.days, "day"));
            }
        }
        if parts.is_empty() {
            return f.write_str("0 days");
        }
        f.write_str(&parts.join(" "))
    }
}

fn plural(n: i32, unit: &str) -> String {
    if n == 1 || n == -1 { format!("{n} {unit}") } else { format!("{n} {unit}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).expect("valid date")
    }

    #[test]
    fn month_end_clamps() {
        let one_month = Duration { months: 1, days: 0 };
        assert_eq!(d("2016-01-31").add(one_month), Some(d("2016-02-29")));
        assert_eq!(d("2015-01-31").add(one_month), Some(d("2015-02-28")));
        assert_eq!(d("2015-03-31").sub(one_month), Some(d("2015-02-28")));
        assert_eq!(d("2015-10-01").add(Duration { months: 6, days: 0 }), Some(d("2016-04-01")));
    }

    #[test]
    fn round_trips_and_rejects_bad_dates() {
        assert_eq!(d("2000-02-29").to_string(), "2000-02-29");
        assert!(Date::parse("1900-02-29").is_none());
        assert!(Date::parse("2015-13-01").is_none());
        assert!(Date::parse("2015-4-1").is_none());
        // Digits only: a sign is not part of a date.
        assert!(Date::parse("+015-04-01").is_none());
        assert!(Date::parse("2015-+4-01").is_none());
        assert_eq!(d("2015-03-31").days_until(d("2015-04-01")), 1);
        assert!(d("9999-12-31").add(Duration { months: 0, days: 1 }).is_none());
    }

    /// The digits written directly are the formatted ones, over the whole range of years.
    #[test]
    fn dates_display_as_formatted_year_month_day() {
        let (first, last) = (d("0001-01-01").days, d("9999-12-31").days);
        for days in (first..=last).step_by(7).chain([first, last]) {
            let date = Date { days };
            let (y, m, dd) = date.ymd();
            assert_eq!(date.to_string(), format!("{y:04}-{m:02}-{dd:02}"));
            assert_eq!(Date::parse(&date.to_string()), Some(date));
        }
    }

    #[test]
    fn durations_display_in_words() {
        assert_eq!(Duration { months: 18, days: 0 }.to_string(), "1 year 6 months");
        assert_eq!(Duration { months: 0, days: 14 }.to_string(), "2 weeks");
        assert_eq!(Duration { months: 0, days: 3 }.to_string(), "3 days");
    }
}
