//! `examples/housing-support-tariff/tariff.cov` by hand: weekly_cost and within_limits.
//! Line numbers are those of tariff.cov.
//!
//! The dated tables are chosen by the package's start date (`as of package.start`):
//! `rate_band` has versions for 2015/16 and 2016/17, `hours_cap` and `time_limit` for 2015/16
//! only. A lookup on a date no version covers is an error for the row, exactly when Covenant
//! would reach it: `and` stops at the first false operand.

use crate::{Model, RowError, cell, column, decimal, write_money};
use rust_decimal::{Decimal, RoundingStrategy};
use std::io::Write;

/// `enum Service` (tariff.cov:21-38).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Signposting,
    PeerSupport,
    FloatingSupport,
    Outreach,
    AssertiveOutreach,
    AccommodationMedium,
    AccommodationOption,
    GroupHome,
    TherapeuticCommunity,
    RecoveryCentre,
    HighSupportAbs,
    ComplexNeedsAbs,
    CrisisHouse,
    HousingAdvice,
    HousingOptions,
    Advocacy,
}
use Service::*;

/// `record Package` (tariff.cov:55-61) and `input review_date` (tariff.cov:67). The cluster
/// is its national number, 0-21 (`enum Cluster`, stdlib/nhs/clusters.cov).
pub struct Package {
    cluster: u8,
    service: Service,
    agreed_rate: Decimal,
    hours: Decimal,
    start: Day,
    review_date: Day,
}

pub struct Out {
    weekly_cost: Decimal,
    within_limits: bool,
}

pub struct Columns {
    cluster: usize,
    service: usize,
    agreed_rate: usize,
    hours: usize,
    start: usize,
    review_date: usize,
}

/// A day number (days since 1970-01-01, proleptic Gregorian).
type Day = i64;

/// An hourly band in pence-exact decimals: `RateBand { low, high }` (tariff.cov:49-52).
type Band = (Decimal, Decimal);

const fn pounds(pence: i64) -> Decimal {
    Decimal::from_parts(pence as u32, 0, 0, false, 2)
}

/// The financial years the dated tables are valid in (`valid 2015/16`, `valid 2016/17`).
#[derive(Clone, Copy, PartialEq)]
enum Year {
    Fy2015,
    Fy2016,
}

fn year_of(day: Day) -> Option<Year> {
    if (days_from_civil(2015, 4, 1)..=days_from_civil(2016, 3, 31)).contains(&day) {
        Some(Year::Fy2015)
    } else if (days_from_civil(2016, 4, 1)..=days_from_civil(2017, 3, 31)).contains(&day) {
        Some(Year::Fy2016)
    } else {
        None
    }
}

/// `table offered` (tariff.cov:75-92), hit first.
fn offered(cluster: u8, service: Service) -> bool {
    matches!(
        (cluster, service),
        (_, HousingAdvice | HousingOptions | Advocacy)
            | (1 | 2, Signposting)
            | (3, PeerSupport)
            | (4..=6, FloatingSupport)
            | (7, FloatingSupport | AccommodationMedium | TherapeuticCommunity)
            | (8, Outreach | TherapeuticCommunity | AccommodationMedium | RecoveryCentre)
            | (10, FloatingSupport | Outreach)
            | (11, FloatingSupport | Outreach | PeerSupport)
            | (12 | 13, GroupHome | FloatingSupport | AccommodationOption)
            | (14 | 15, RecoveryCentre | HighSupportAbs | TherapeuticCommunity | CrisisHouse)
            | (16, TherapeuticCommunity | ComplexNeedsAbs | FloatingSupport)
            | (17, RecoveryCentre | ComplexNeedsAbs | AssertiveOutreach)
    )
}

/// `table rate_band`, hit first: the 2015/16 version (tariff.cov:97-132) and the 2016/17
/// version (tariff.cov:137-171), which differ only in cluster 4 floating support.
fn rate_band(year: Year, cluster: u8, service: Service) -> Option<Band> {
    let band = |low, high| Some((pounds(low), pounds(high)));
    match (cluster, service) {
        (_, HousingAdvice | HousingOptions | Advocacy) => None, // :102 universal offer: no tariff
        (9, _) => None,                                         // :103 cluster 9 is blank
        (0 | 18..=21, _) => None,                               // :104 not in the source tables
        (1 | 2, Signposting) => None,                           // :105
        (3 | 11, PeerSupport) => None,                          // :106 vouchers, not an hourly tariff
        (4, FloatingSupport) if year == Year::Fy2016 => band(875, 1030), // :147 INVENTED 2016/17 uplift
        (4, FloatingSupport) => band(850, 1000),                // :107
        (5 | 6, FloatingSupport) => band(1050, 1200),           // :109-110
        (7, FloatingSupport) => band(1200, 1850),               // :111
        (7 | 8, AccommodationMedium) => band(1400, 1600),       // :112
        (7 | 8 | 14 | 15 | 16, TherapeuticCommunity) => band(1900, 2200), // :113
        (8, Outreach | RecoveryCentre) => band(1400, 1600),     // :114-115
        (10 | 11, FloatingSupport) => band(850, 1000),          // :116, :119
        (10 | 11, Outreach) => band(1400, 1600),                // :117, :120
        (12, GroupHome) => band(1400, 1600),                    // :121
        (13, GroupHome) => band(1500, 1700),                    // :122
        (12 | 13, FloatingSupport) => band(1200, 1350),         // :123
        (12 | 13, AccommodationOption) => band(1400, 1600),     // :124
        (14 | 15 | 17, RecoveryCentre) => band(1800, 2100),     // :125
        (14 | 15, HighSupportAbs) => band(1800, 2100),          // :126
        (14 | 15, CrisisHouse) => None,                         // :127 crisis house: no tariff given
        (16 | 17, ComplexNeedsAbs) => band(2000, 2300),         // :128
        (16, FloatingSupport) => band(1200, 1800),              // :129
        (17, AssertiveOutreach) => band(1400, 1600),            // :130
        _ => None,                                              // :131 service not on this cluster's pathway
    }
}

/// `table hours_cap` (tariff.cov:191-204), 2015/16 only, hit first; `None` is no cap.
fn hours_cap(cluster: u8, service: Service) -> Option<Decimal> {
    match (cluster, service) {
        (4, FloatingSupport) => Some(Decimal::from(5)),             // :196
        (5 | 6, FloatingSupport) => Some(Decimal::from(10)),        // :197-198
        (10, FloatingSupport | Outreach) => Some(Decimal::from(7)), // :200
        (11, FloatingSupport | Outreach) => Some(Decimal::from(5)), // :201
        _ => None, // :199, :202 (7, 12-13 floating support: no upper limit), :203 (none given)
    }
}

/// `table time_limit` (tariff.cov:208-218), 2015/16 only, in months; `None` is no limit.
fn time_limit(cluster: u8, service: Service) -> Option<i64> {
    match (cluster, service) {
        (4, FloatingSupport) => Some(6),      // :213
        (5 | 6, FloatingSupport) => Some(12), // :214-215
        (7, FloatingSupport) => Some(18),     // :216
        _ => None,                            // :217
    }
}

/// E0512, as `covenant batch` reports it (without the source location).
fn no_version(table: &str, day: Day) -> RowError {
    let (y, m, d) = civil_from_days(day);
    RowError::new("within_limits", format!("no version of `{table}` is valid on {y:04}-{m:02}-{d:02}"))
}

pub struct Housing;

impl Model for Housing {
    type Columns = Columns;
    type Row = Package;
    type Out = Out;
    const HEADER: &'static str = "row,weekly_cost,within_limits";

    fn columns(names: &[String]) -> Result<Columns, String> {
        Ok(Columns {
            cluster: column(names, "package.cluster")?,
            service: column(names, "package.service")?,
            agreed_rate: column(names, "package.agreed_rate")?,
            hours: column(names, "package.hours")?,
            start: column(names, "package.start")?,
            review_date: column(names, "review_date")?,
        })
    }

    fn parse(c: &Columns, record: &csv::ByteRecord) -> Result<Package, RowError> {
        // A cluster by variant name (`C4`) or by its code (`4`).
        let text = cell(record, c.cluster, "package.cluster")?;
        let digits = text.strip_prefix(b"C").unwrap_or(text);
        let cluster = std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u8>().ok())
            .filter(|n| *n <= 21)
            .ok_or_else(|| RowError::new("package.cluster", "not a Cluster"))?;
        let service = match cell(record, c.service, "package.service")? {
            b"Signposting" => Signposting,
            b"PeerSupport" => PeerSupport,
            b"FloatingSupport" => FloatingSupport,
            b"Outreach" => Outreach,
            b"AssertiveOutreach" => AssertiveOutreach,
            b"AccommodationMedium" => AccommodationMedium,
            b"AccommodationOption" => AccommodationOption,
            b"GroupHome" => GroupHome,
            b"TherapeuticCommunity" => TherapeuticCommunity,
            b"RecoveryCentre" => RecoveryCentre,
            b"HighSupportAbs" => HighSupportAbs,
            b"ComplexNeedsAbs" => ComplexNeedsAbs,
            b"CrisisHouse" => CrisisHouse,
            b"HousingAdvice" => HousingAdvice,
            b"HousingOptions" => HousingOptions,
            b"Advocacy" => Advocacy,
            _ => return Err(RowError::new("package.service", "not a Service")),
        };
        Ok(Package {
            cluster,
            service,
            agreed_rate: decimal(cell(record, c.agreed_rate, "package.agreed_rate")?, "package.agreed_rate")?,
            hours: decimal(cell(record, c.hours, "package.hours")?, "package.hours")?,
            start: date(cell(record, c.start, "package.start")?, "package.start")?,
            review_date: date(cell(record, c.review_date, "review_date")?, "review_date")?,
        })
    }

    fn compute(p: &Package) -> Result<Out, RowError> {
        // `decision weekly_cost` (tariff.cov:232-233): half-up to pence.
        let weekly_cost = p
            .hours
            .checked_mul(p.agreed_rate)
            .ok_or_else(|| RowError::new("weekly_cost", "overflow"))?
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        // `decision within_limits` (tariff.cov:269-270), chosen by `as of package.start` (:71): on_pathway and has_tariff and
        // rate_within_band and hours_within_cap and within_time_limit, left to right.
        let within_limits = 'w: {
            // `on_pathway` (tariff.cov:221).
            if !offered(p.cluster, p.service) {
                break 'w false;
            }
            // `band` and `has_tariff` (tariff.cov:225-228): `rate_band` by the start date.
            let year = year_of(p.start).ok_or_else(|| no_version("rate_band", p.start))?;
            let Some((low, high)) = rate_band(year, p.cluster, p.service) else { break 'w false };
            // `rate_within_band` (tariff.cov:239-241), both ends included.
            if p.agreed_rate < low || p.agreed_rate > high {
                break 'w false;
            }
            // `cap` and `hours_within_cap` (tariff.cov:244-248): no cap passes.
            if year != Year::Fy2015 {
                return Err(no_version("hours_cap", p.start));
            }
            if hours_cap(p.cluster, p.service).is_some_and(|cap| p.hours > cap) {
                break 'w false;
            }
            // `limit`, `time_limit_reached` and `within_time_limit` (tariff.cov:251-265):
            // the review date is before start + limit; no limit passes.
            match time_limit(p.cluster, p.service) {
                None => true,
                Some(months) => {
                    let reached = add_months(p.start, months)
                        .ok_or_else(|| RowError::new("within_limits", "date out of range"))?;
                    p.review_date < reached
                }
            }
        };
        Ok(Out { weekly_cost, within_limits })
    }

    fn write(out: &Out, w: &mut impl Write) -> std::io::Result<()> {
        write_money(w, out.weekly_cost)?;
        writeln!(w, ",{}", out.within_limits)
    }
}

/// A `YYYY-MM-DD` date (`ir/src/date.rs`, `Date::parse`).
fn date(text: &[u8], path: &'static str) -> Result<Day, RowError> {
    let bad = || RowError::new(path, format!("`{}` is not a date; write YYYY-MM-DD", String::from_utf8_lossy(text)));
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0i64, |n, b| n * 10 + i64::from(b - b'0')))
    };
    if text.len() != 10 || text[4] != b'-' || text[7] != b'-' {
        return Err(bad());
    }
    let (y, m, d) = (digits(0..4).ok_or_else(bad)?, digits(5..7).ok_or_else(bad)?, digits(8..10).ok_or_else(bad)?);
    if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, d))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Adds months with the month-end rule (`ir/src/date.rs`, `Date::add`): the same day of
/// the target month, or its last day when that day does not exist.
fn add_months(day: Day, months: i64) -> Option<Day> {
    let (y, m, d) = civil_from_days(day);
    let total = y * 12 + (m - 1) + months;
    let (year, month) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    if !(1..=9999).contains(&year) {
        return None;
    }
    Some(days_from_civil(year, month, d.min(days_in_month(year, month))))
}

/// Days since 1970-01-01 (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> Day {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: Day) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { era * 400 + yoe + 1 } else { era * 400 + yoe }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_end_rule() {
        let day = |y, m, d| days_from_civil(y, m, d);
        assert_eq!(add_months(day(2015, 8, 31), 6), Some(day(2016, 2, 29)));
        assert_eq!(add_months(day(2015, 4, 1), 18), Some(day(2016, 10, 1)));
        assert_eq!(add_months(day(2015, 1, 31), 1), Some(day(2015, 2, 28)));
    }

    #[test]
    fn the_example_cases() {
        let package = |cluster, service, rate: &str, hours: &str, start: &[u8], review: &[u8]| Package {
            cluster,
            service,
            agreed_rate: rate.parse().unwrap(),
            hours: hours.parse().unwrap(),
            start: date(start, "start").unwrap(),
            review_date: date(review, "review").unwrap(),
        };
        // cases/c4-month-end-time-limit.json: £47.50 a week, out of time on 29 February 2016.
        let out = Housing::compute(&package(4, FloatingSupport, "9.50", "5", b"2015-08-31", b"2016-02-29")).unwrap();
        assert_eq!((out.weekly_cost.to_string().as_str(), out.within_limits), ("47.50", false));
        // The test "half a penny rounds up": 4.5 hours at £9.25 is £41.63.
        let out = Housing::compute(&package(10, FloatingSupport, "9.25", "4.5", b"2015-04-01", b"2015-05-01")).unwrap();
        assert_eq!(out.weekly_cost.to_string(), "41.63");
        // 2016/17 start, in the uplifted band: `hours_cap` has no 2016/17 version.
        let err = Housing::compute(&package(4, FloatingSupport, "10.20", "4", b"2016-04-01", b"2016-05-01"));
        assert!(err.is_err_and(|e| e.message.contains("hours_cap")));
    }
}
