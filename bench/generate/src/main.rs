//! `covenant-bench-generate`: deterministic synthetic cohorts for the `covenant batch`
//! benchmark, as the CSV that `covenant batch`, the hand-written baseline and the OpenFisca
//! model all read.
//!
//! ```text
//! covenant-bench-generate suffolk ROWS OUT.csv [--seed N]
//! covenant-bench-generate housing ROWS OUT.csv [--seed N]
//! ```
//!
//! The same model, seed and row count always give the same bytes (a SplitMix64 generator
//! written out below, no dependency). Rows are drawn one after another from one stream, so
//! the first 100,000 rows of the 1,000,000-row file are the 100,000-row file.
//!
//! Suffolk (`examples/suffolk-personal-budget/allocation.cov`): all 18 MHCT items rated 0-4
//! (H1-H13, A-E, as JSON in the `person.ratings` cell), a placement, highly complex needs,
//! and a moderation that is blank (35%), within ±25% in steps of 0.5% (62%, the ends
//! included), or beyond ±25% (3%, where the rules give no moderated budget).
//!
//! Housing (`examples/housing-support-tariff/tariff.cov`): cluster, service, agreed hourly
//! rate, hours per week, start date and review date. Mostly valid: 85% of packages are a
//! cluster and service with a 2015/16 hourly tariff (90% of their rates inside the band, 85%
//! of their hours within the cap), 8% are on the pathway without a tariff, 7% are any
//! cluster and service. Starts are 95% in 2015/16, 4% in 2016/17 and 1% in 2014/15. The
//! model's `rate_band` has versions for 2015/16 and 2016/17 but `hours_cap` and `time_limit`
//! only for 2015/16, so a row that needs a table with no version in force on its start date
//! fails with E0512: those rows exercise the per-row error path.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

/// The seed used when none is given (any fixed value would do).
const DEFAULT_SEED: u64 = 20_261_123;

/// SplitMix64 (Steele, Lea and Flood 2014): tiny, fast and good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (multiply-shift; the bias is far below anything that matters here).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let mut seed = DEFAULT_SEED;
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--seed" {
            match args.get(i + 1).and_then(|s| s.parse().ok()) {
                Some(s) => seed = s,
                None => return usage("--seed needs a whole number"),
            }
            i += 2;
        } else {
            positional.push(args[i].clone());
            i += 1;
        }
    }
    let [model, rows, out] = positional.as_slice() else {
        return usage("expected MODEL ROWS OUT.csv");
    };
    let Ok(rows) = rows.replace('_', "").parse::<u64>() else {
        return usage("ROWS must be a whole number");
    };
    let file = match File::create(out) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot write `{out}`: {e}");
            return ExitCode::from(2);
        }
    };
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let result = match model.as_str() {
        "suffolk" => suffolk(&mut w, rows, &mut Rng::new(seed, 1)),
        "housing" => housing(&mut w, rows, &mut Rng::new(seed, 2)),
        other => return usage(&format!("unknown model `{other}` (suffolk or housing)")),
    };
    match result.and_then(|()| w.flush()) {
        Ok(()) => {
            eprintln!("wrote {rows} {model} rows to {out} (seed {seed})");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write `{out}`: {e}");
            ExitCode::from(2)
        }
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!("error: {why}\nusage: covenant-bench-generate suffolk|housing ROWS OUT.csv [--seed N]");
    ExitCode::from(2)
}

// ---- Suffolk personal budget ---------------------------------------------------------------

/// The 18 MHCT items, in the order of `enum MhctItem` (stdlib/nhs/mhct.cov).
const ITEMS: [&str; 18] =
    ["H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8", "H9", "H10", "H11", "H12", "H13", "A", "B", "C", "D", "E"];

fn suffolk(w: &mut impl Write, rows: u64, rng: &mut Rng) -> std::io::Result<()> {
    writeln!(w, "person.ratings,person.placement,person.highly_complex_needs,person.moderation")?;
    for _ in 0..rows {
        // A person's overall severity: each rating is the number of successes in 4 draws
        // with this chance, so most ratings are low and a few people are rated high.
        let chance = rng.between(5, 64) as u64;
        w.write_all(b"\"[")?;
        for (i, item) in ITEMS.iter().enumerate() {
            let rating = (0..4).filter(|_| rng.percent(chance)).count();
            if i > 0 {
                w.write_all(b",")?;
            }
            write!(w, "{{\"\"item\"\":\"\"{item}\"\",\"\"rating\"\":{rating}}}")?;
        }
        w.write_all(b"]\",")?;
        let placement = match rng.below(100) {
            0..80 => "Community",
            80..88 => "Residential",
            88..93 => "HighCostNursing",
            _ => "HighCostSupportedHousing",
        };
        let complex = rng.percent(25);
        write!(w, "{placement},{complex},")?;
        match rng.below(1000) {
            0..350 => {}
            350..970 => write_half_percent(w, rng.between(-50, 50))?,
            _ => {
                let beyond = rng.between(51, 100);
                write_half_percent(w, if rng.percent(50) { beyond } else { -beyond })?;
            }
        }
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes `halves` half-percent steps as a percentage: 25 → `12.5%`, -50 → `-25%`.
fn write_half_percent(w: &mut impl Write, halves: i64) -> std::io::Result<()> {
    let sign = if halves < 0 { "-" } else { "" };
    let a = halves.abs();
    if a % 2 == 0 { write!(w, "{sign}{}%", a / 2) } else { write!(w, "{sign}{}.5%", a / 2) }
}

// ---- Housing-related support tariff --------------------------------------------------------

/// The services, in the order of `enum Service` (tariff.cov:21-38).
const SERVICES: [&str; 16] = [
    "Signposting",
    "PeerSupport",
    "FloatingSupport",
    "Outreach",
    "AssertiveOutreach",
    "AccommodationMedium",
    "AccommodationOption",
    "GroupHome",
    "TherapeuticCommunity",
    "RecoveryCentre",
    "HighSupportAbs",
    "ComplexNeedsAbs",
    "CrisisHouse",
    "HousingAdvice",
    "HousingOptions",
    "Advocacy",
];

/// Packages with a 2015/16 hourly tariff (tariff.cov:107-130): cluster, service, band in
/// pence, and the weekly hours cap in quarter hours (tariff.cov:196-203). Used only to draw
/// realistic rates and hours; the rules themselves live in the three implementations.
const TARIFFED: &[(u8, &str, i64, i64, Option<i64>)] = &[
    (4, "FloatingSupport", 850, 1000, Some(20)),
    (5, "FloatingSupport", 1050, 1200, Some(40)),
    (6, "FloatingSupport", 1050, 1200, Some(40)),
    (7, "FloatingSupport", 1200, 1850, None),
    (7, "AccommodationMedium", 1400, 1600, None),
    (8, "AccommodationMedium", 1400, 1600, None),
    (7, "TherapeuticCommunity", 1900, 2200, None),
    (8, "TherapeuticCommunity", 1900, 2200, None),
    (14, "TherapeuticCommunity", 1900, 2200, None),
    (15, "TherapeuticCommunity", 1900, 2200, None),
    (16, "TherapeuticCommunity", 1900, 2200, None),
    (8, "Outreach", 1400, 1600, None),
    (8, "RecoveryCentre", 1400, 1600, None),
    (10, "FloatingSupport", 850, 1000, Some(28)),
    (10, "Outreach", 1400, 1600, Some(28)),
    (11, "FloatingSupport", 850, 1000, Some(20)),
    (11, "Outreach", 1400, 1600, Some(20)),
    (12, "GroupHome", 1400, 1600, None),
    (13, "GroupHome", 1500, 1700, None),
    (12, "FloatingSupport", 1200, 1350, None),
    (13, "FloatingSupport", 1200, 1350, None),
    (12, "AccommodationOption", 1400, 1600, None),
    (13, "AccommodationOption", 1400, 1600, None),
    (14, "RecoveryCentre", 1800, 2100, None),
    (15, "RecoveryCentre", 1800, 2100, None),
    (17, "RecoveryCentre", 1800, 2100, None),
    (14, "HighSupportAbs", 1800, 2100, None),
    (15, "HighSupportAbs", 1800, 2100, None),
    (16, "ComplexNeedsAbs", 2000, 2300, None),
    (17, "ComplexNeedsAbs", 2000, 2300, None),
    (16, "FloatingSupport", 1200, 1800, None),
    (17, "AssertiveOutreach", 1400, 1600, None),
];

/// On the pathway but with no hourly tariff (tariff.cov:105-106, 127), besides the universal offer.
const UNTARIFFED: &[(u8, &str)] = &[
    (1, "Signposting"),
    (2, "Signposting"),
    (3, "PeerSupport"),
    (11, "PeerSupport"),
    (14, "CrisisHouse"),
    (15, "CrisisHouse"),
];

const UNIVERSAL: [&str; 3] = ["HousingAdvice", "HousingOptions", "Advocacy"];

fn housing(w: &mut impl Write, rows: u64, rng: &mut Rng) -> std::io::Result<()> {
    writeln!(w, "package.cluster,package.service,package.agreed_rate,package.hours,package.start,review_date")?;
    let fy2014 = days_from_civil(2014, 4, 1);
    let fy2015 = days_from_civil(2015, 4, 1);
    let fy2016 = days_from_civil(2016, 4, 1);
    for _ in 0..rows {
        let (cluster, service, pence, quarters) = match rng.below(100) {
            0..85 => {
                let (cluster, service, low, high, cap) = TARIFFED[rng.below(TARIFFED.len() as u64) as usize];
                let pence = if rng.percent(90) {
                    rng.between(low, high)
                } else if rng.percent(50) {
                    low - rng.between(1, 50)
                } else {
                    high + rng.between(1, 50)
                };
                let quarters = match cap {
                    Some(cap) if rng.percent(85) => rng.between(1, cap),
                    Some(cap) => cap + rng.between(1, 12),
                    None => rng.between(1, 100),
                };
                (cluster, service, pence, quarters)
            }
            85..93 => {
                let (cluster, service) = if rng.percent(50) {
                    (rng.below(22) as u8, UNIVERSAL[rng.below(3) as usize])
                } else {
                    UNTARIFFED[rng.below(UNTARIFFED.len() as u64) as usize]
                };
                (cluster, service, rng.between(800, 2500), rng.between(1, 80))
            }
            _ => (
                rng.below(22) as u8,
                SERVICES[rng.below(SERVICES.len() as u64) as usize],
                rng.between(800, 2500),
                rng.between(1, 80),
            ),
        };
        let start = match rng.below(100) {
            0..95 => fy2015 + rng.between(0, 365),
            95..99 => fy2016 + rng.between(0, 364),
            _ => fy2014 + rng.between(0, 364),
        };
        let review = start + rng.between(0, 730);
        write!(w, "C{cluster},{service},{}.{:02},", pence / 100, pence % 100)?;
        match quarters % 4 {
            0 => write!(w, "{}", quarters / 4)?,
            1 => write!(w, "{}.25", quarters / 4)?,
            2 => write!(w, "{}.5", quarters / 4)?,
            _ => write!(w, "{}.75", quarters / 4)?,
        }
        let (sy, sm, sd) = civil_from_days(start);
        let (ry, rm, rd) = civil_from_days(review);
        writeln!(w, ",{sy:04}-{sm:02}-{sd:02},{ry:04}-{rm:02}-{rd:02}")?;
    }
    Ok(())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (the inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
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
    fn dates_round_trip() {
        for (y, m, d) in [(2015, 4, 1), (2016, 2, 29), (2016, 3, 31), (1970, 1, 1), (2000, 12, 31)] {
            assert_eq!(civil_from_days(days_from_civil(y, m, d)), (y, m, d));
        }
        assert_eq!(days_from_civil(2016, 4, 1) - days_from_civil(2015, 4, 1), 366);
    }

    #[test]
    fn half_percents() {
        let text = |h| {
            let mut out = Vec::new();
            write_half_percent(&mut out, h).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(25), "12.5%");
        assert_eq!(text(-50), "-25%");
        assert_eq!(text(-1), "-0.5%");
        assert_eq!(text(0), "0%");
    }

    #[test]
    fn the_same_seed_gives_the_same_rows() {
        let run = |rows| {
            let mut out = Vec::new();
            housing(&mut out, rows, &mut Rng::new(DEFAULT_SEED, 2)).unwrap();
            out
        };
        let (small, large) = (run(100), run(200));
        assert!(large.starts_with(&small));
    }
}
