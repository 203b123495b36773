//! `examples/suffolk-personal-budget/allocation.cov` by hand: points, indicative_budget,
//! moderated_budget, eligible and budget_from_formula. Line numbers are those of
//! allocation.cov (and of stdlib/nhs/mhct.cov and stdlib/social_care/facs.cov where said).

use crate::{Model, RowError, cell, column, decimal, write_money};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use std::io::Write;

/// `enum MhctItem` (stdlib/nhs/mhct.cov:15-34). The cohorts name items by variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Item {
    H1,
    H2,
    H3,
    H4,
    H5,
    H6,
    H7,
    H8,
    H9,
    H10,
    H11,
    H12,
    H13,
    A,
    B,
    C,
    D,
    E,
}

/// `record ItemRating` (stdlib/nhs/mhct.cov:37-40), read from the JSON in `person.ratings`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rating {
    item: Item,
    rating: i64,
}

/// `enum FacsBand ordered` (stdlib/social_care/facs.cov:17-22): declaration order is rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Band {
    Moderate,
    Substantial,
    Critical,
}

/// `enum Placement` (allocation.cov:29-34).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    Community,
    HighCostNursing,
    Residential,
    HighCostSupportedHousing,
}

/// `record Person` (allocation.cov:37-42).
pub struct Person {
    ratings: Vec<Rating>,
    placement: Placement,
    highly_complex_needs: bool,
    moderation: Option<Decimal>,
}

pub struct Out {
    points: i64,
    indicative_budget: Decimal,
    moderated_budget: Option<Decimal>,
    eligible: bool,
    budget_from_formula: bool,
}

pub struct Columns {
    ratings: usize,
    placement: usize,
    highly_complex_needs: usize,
    moderation: Option<usize>,
}

/// `param price_per_point: Money = £47.50` (allocation.cov:49).
const PRICE_PER_POINT: Decimal = Decimal::from_parts(4750, 0, 0, false, 2);
/// `param facs_threshold: FacsBand = Substantial` (allocation.cov:53).
const FACS_THRESHOLD: Band = Band::Substantial;
/// ±25% (allocation.cov:212).
const MODERATION_LIMIT: Decimal = Decimal::from_parts(25, 0, 0, false, 2);

/// `table rating_band` (allocation.cov:56-65): 4 Critical, 3 Substantial, 2 Moderate, else none.
fn rating_band(rating: i64) -> Option<Band> {
    match rating {
        4 => Some(Band::Critical),
        3 => Some(Band::Substantial),
        2 => Some(Band::Moderate),
        _ => None,
    }
}

/// `table facs_weight` (allocation.cov:70-145), Table 2 of the NDTi report; `None` is a
/// blank published cell (or item 1, which has no row).
fn facs_weight(item: Item, band: Band) -> Option<i64> {
    use Band::{Critical as C, Moderate as M, Substantial as S};
    match (item, band) {
        (Item::H2, C) => Some(6),      // :77 (L796)
        (Item::H4, C) => Some(6),      // :85 (L798)
        (Item::H5, S | C) => Some(5),  // :88-89 (L799)
        (Item::H6, C) => Some(6),      // :93 (L800)
        (Item::H7, M) => Some(1),      // :95 (L801)
        (Item::H7, S | C) => Some(5),  // :96-97 (L801)
        (Item::H8, C) => Some(8),      // :101 (L802)
        (Item::H9, S | C) => Some(13), // :104-105 (L803)
        (Item::H10, S) => Some(16),    // :108 (L804)
        (Item::H10, C) => Some(9),     // :109 (L804)
        (Item::H13, C) => Some(10),    // :121 (L807)
        (Item::A, S) => Some(5),       // :124 (L808)
        (Item::A, C) => Some(17),      // :125 (L808)
        (Item::B, C) => Some(12),      // :129 (L809)
        (Item::C, S) => Some(3),       // :132 (L810)
        (Item::C, C) => Some(4),       // :133 (L810)
        (Item::D, S) => Some(5),       // :136 (L811)
        (Item::D, C) => Some(9),       // :137 (L811)
        (Item::E, S) => Some(7),       // :140 (L812)
        (Item::E, C) => Some(25),      // :141 (L812)
        _ => None, // every other cell is blank (:75-144), H1 has no row and there is no Low column (:143-144)
    }
}

/// `decision item_points` (allocation.cov:152-153): the cell for the rating's band, 0 when
/// the rating has no band or the cell is blank.
fn item_points(r: &Rating) -> i64 {
    rating_band(r.rating).and_then(|band| facs_weight(r.item, band)).unwrap_or(0)
}

pub struct Suffolk;

impl Model for Suffolk {
    type Columns = Columns;
    type Row = Person;
    type Out = Out;
    const HEADER: &'static str = "row,points,indicative_budget,moderated_budget,eligible,budget_from_formula";

    fn columns(names: &[String]) -> Result<Columns, String> {
        Ok(Columns {
            ratings: column(names, "person.ratings")?,
            placement: column(names, "person.placement")?,
            highly_complex_needs: column(names, "person.highly_complex_needs")?,
            moderation: column(names, "person.moderation").ok(),
        })
    }

    fn parse(columns: &Columns, record: &csv::ByteRecord) -> Result<Person, RowError> {
        let ratings = cell(record, columns.ratings, "person.ratings")?;
        let ratings: Vec<Rating> = serde_json::from_slice(ratings)
            .map_err(|e| RowError::new("person.ratings", format!("expected a list of item ratings: {e}")))?;
        let placement = match cell(record, columns.placement, "person.placement")? {
            b"Community" => Placement::Community,
            b"HighCostNursing" => Placement::HighCostNursing,
            b"Residential" => Placement::Residential,
            b"HighCostSupportedHousing" => Placement::HighCostSupportedHousing,
            other => {
                return Err(RowError::new(
                    "person.placement",
                    format!("`{}` is not a Placement", String::from_utf8_lossy(other)),
                ));
            }
        };
        let highly_complex_needs = match cell(record, columns.highly_complex_needs, "person.highly_complex_needs")? {
            b"true" | b"TRUE" | b"True" => true,
            b"false" | b"FALSE" | b"False" => false,
            _ => return Err(RowError::new("person.highly_complex_needs", "expected true or false")),
        };
        // `moderation: optional Percent` (allocation.cov:41): "15%" is 0.15; blank is not given.
        let moderation = match columns.moderation {
            None => None,
            Some(i) => {
                let text = cell(record, i, "person.moderation")?;
                let text = text.strip_suffix(b"%").unwrap_or(text).trim_ascii();
                if text.is_empty() {
                    None
                } else {
                    let points = decimal(text, "person.moderation")?;
                    Some(
                        points
                            .checked_div(Decimal::ONE_HUNDRED)
                            .ok_or_else(|| RowError::new("person.moderation", "too large"))?,
                    )
                }
            }
        };
        Ok(Person { ratings, placement, highly_complex_needs, moderation })
    }

    fn compute(p: &Person) -> Result<Out, RowError> {
        // points, critical/substantial/moderate_items, ratings_valid (allocation.cov:156-166, 203):
        // one pass over the ratings.
        let (mut points, mut critical, mut substantial, mut moderate) = (0i64, 0u32, 0u32, 0u32);
        let mut ratings_valid = true;
        for r in &p.ratings {
            let item_points = item_points(r);
            points = points.checked_add(item_points).ok_or_else(|| RowError::new("points", "overflow"))?;
            if item_points > 0 {
                match r.rating {
                    4 => critical += 1,
                    3 => substantial += 1,
                    2 => moderate += 1,
                    _ => {}
                }
            }
            // `valid_rating` (stdlib/nhs/mhct.cov:43).
            ratings_valid &= (0..=4).contains(&r.rating);
        }
        // `table band_from_counts` (allocation.cov:170-178) via `indicated_band` (:181), hit first.
        let indicated_band = if critical >= 1 {
            Some(Band::Critical)
        } else if substantial >= 1 {
            Some(Band::Substantial)
        } else if moderate >= 1 {
            Some(Band::Moderate)
        } else {
            None
        };
        // `decision eligible` (allocation.cov:190-193): the exception "No band indicated"
        // is weighed first; then `meets_threshold` (facs.cov:40); default false.
        let eligible = match indicated_band {
            None => false,
            Some(band) => band >= FACS_THRESHOLD,
        };
        // `decision excluded` (allocation.cov:198-200).
        let excluded = matches!(
            p.placement,
            Placement::HighCostNursing | Placement::Residential | Placement::HighCostSupportedHousing
        ) && p.highly_complex_needs;
        // `decision indicative_budget` (allocation.cov:206).
        let indicative_budget = Decimal::from(points)
            .checked_mul(PRICE_PER_POINT)
            .ok_or_else(|| RowError::new("indicative_budget", "overflow"))?;
        // `decision moderation` and `moderation_allowed` (allocation.cov:209-212).
        let moderation = p.moderation.unwrap_or(Decimal::ZERO);
        let moderation_allowed = moderation >= -MODERATION_LIMIT && moderation <= MODERATION_LIMIT;
        // `decision moderated_budget` (allocation.cov:217-219): half-up to pence, or no value.
        let moderated_budget = if moderation_allowed {
            let moved = moderation
                .checked_mul(indicative_budget)
                .and_then(|m| indicative_budget.checked_add(m))
                .ok_or_else(|| RowError::new("moderated_budget", "overflow"))?;
            Some(moved.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
        } else {
            None
        };
        // `decision budget_from_formula` (allocation.cov:224-227): the exception "Excluded
        // placement (L814)" overrides the rule "Formula applies"; default false.
        let budget_from_formula = !excluded && ratings_valid && eligible && moderation_allowed;
        Ok(Out { points, indicative_budget, moderated_budget, eligible, budget_from_formula })
    }

    fn write(out: &Out, w: &mut impl Write) -> std::io::Result<()> {
        write!(w, "{},", out.points)?;
        write_money(w, out.indicative_budget)?;
        w.write_all(b",")?;
        if let Some(m) = out.moderated_budget {
            write_money(w, m)?;
        }
        writeln!(w, ",{},{}", out.eligible, out.budget_from_formula)
    }
}
