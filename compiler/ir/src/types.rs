//! Static types of Covenant values, including units on rates and quantities.
//!
//! Numbers carry a [`NumKind`] (Int, Decimal, Percent, Money), an optional numerator unit
//! (`Hours` is a Decimal counted in hours) and an optional rate unit (`per week`). The unit
//! algebra for `*` and `/` is decided here, in one place, by [`multiply`] and [`divide`]; the
//! checker reports their `Err` results with both operand spans.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnumId(pub u32);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordId(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Hour,
    Day,
    Week,
    Month,
    Year,
    BedDay,
    Case,
}

impl Unit {
    pub fn from_word(word: &str) -> Option<Unit> {
        Some(match word {
            "hour" | "hours" => Unit::Hour,
            "day" | "days" => Unit::Day,
            "week" | "weeks" => Unit::Week,
            "month" | "months" => Unit::Month,
            "year" | "years" => Unit::Year,
            "bed_day" | "bed_days" => Unit::BedDay,
            "case" | "cases" => Unit::Case,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Unit::Hour => "hour",
            Unit::Day => "day",
            Unit::Week => "week",
            Unit::Month => "month",
            Unit::Year => "year",
            Unit::BedDay => "bed_day",
            Unit::Case => "case",
        }
    }

    /// How a calendar duration converts to this unit: days per unit, or months per unit.
    pub fn calendar(self) -> Option<CalendarUnit> {
        match self {
            Unit::Day | Unit::BedDay => Some(CalendarUnit::Days(1)),
            Unit::Week => Some(CalendarUnit::Days(7)),
            Unit::Month => Some(CalendarUnit::Months(1)),
            Unit::Year => Some(CalendarUnit::Months(12)),
            Unit::Hour | Unit::Case => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CalendarUnit {
    Days(i32),
    Months(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumKind {
    Int,
    Decimal,
    Percent,
    Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NumTy {
    pub kind: NumKind,
    /// Numerator unit: `Some(Hour)` for `Hours`.
    pub unit: Option<Unit>,
    /// Rate unit: `Some(Week)` for `… per week`.
    pub per: Option<Unit>,
}

impl NumTy {
    pub const INT: NumTy = NumTy { kind: NumKind::Int, unit: None, per: None };
    pub const DECIMAL: NumTy = NumTy { kind: NumKind::Decimal, unit: None, per: None };
    pub const PERCENT: NumTy = NumTy { kind: NumKind::Percent, unit: None, per: None };
    pub const MONEY: NumTy = NumTy { kind: NumKind::Money, unit: None, per: None };
    pub const HOURS: NumTy = NumTy { kind: NumKind::Decimal, unit: Some(Unit::Hour), per: None };

    pub fn is_plain(self) -> bool {
        self.unit.is_none() && self.per.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Ty {
    Bool,
    Text,
    Date,
    Duration,
    Num(NumTy),
    Enum(EnumId),
    Record(RecordId),
    List(Box<Ty>),
    /// Poison: an expression whose type could not be decided (already reported).
    Error,
}

impl Ty {
    pub const INT: Ty = Ty::Num(NumTy::INT);
    pub const DECIMAL: Ty = Ty::Num(NumTy::DECIMAL);
    pub const MONEY: Ty = Ty::Num(NumTy::MONEY);
    pub const PERCENT: Ty = Ty::Num(NumTy::PERCENT);

    pub fn num(&self) -> Option<NumTy> {
        match self {
            Ty::Num(n) => Some(*n),
            _ => None,
        }
    }
}

impl fmt::Display for NumTy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.unit) {
            (NumKind::Decimal, Some(Unit::Hour)) => f.write_str("Hours")?,
            (kind, unit) => {
                f.write_str(match kind {
                    NumKind::Int => "Int",
                    NumKind::Decimal => "Decimal",
                    NumKind::Percent => "Percent",
                    NumKind::Money => "Money",
                })?;
                if let Some(u) = unit {
                    write!(f, " {}s", u.name())?;
                }
            }
        }
        if let Some(per) = self.per {
            write!(f, " per {}", per.name())?;
        }
        Ok(())
    }
}

/// Why a multiplication or division of two numeric types is not allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitError(pub String);

/// The type of `a * b`, or why it has none.
pub fn multiply(a: NumTy, b: NumTy) -> Result<NumTy, UnitError> {
    let kind = match (a.kind, b.kind) {
        (NumKind::Money, NumKind::Money) => {
            return Err(UnitError("money cannot be multiplied by money".into()));
        }
        (NumKind::Money, _) | (_, NumKind::Money) => NumKind::Money,
        (NumKind::Percent, NumKind::Percent) => NumKind::Percent,
        (NumKind::Int, NumKind::Int) => NumKind::Int,
        _ => NumKind::Decimal,
    };
    let (unit, per) = cancel(&[a.unit, b.unit], &[a.per, b.per])?;
    check_shape(kind, unit, per)
}

/// The type of `a / b`, or why it has none.
pub fn divide(a: NumTy, b: NumTy) -> Result<NumTy, UnitError> {
    let kind = match (a.kind, b.kind) {
        (NumKind::Money, NumKind::Money) => NumKind::Decimal,
        (_, NumKind::Money) => {
            return Err(UnitError("a number cannot be divided by money".into()));
        }
        (NumKind::Money, _) => NumKind::Money,
        (NumKind::Percent, NumKind::Percent) => NumKind::Decimal,
        (NumKind::Percent, _) => NumKind::Percent,
        _ => NumKind::Decimal,
    };
    let (unit, per) = cancel(&[a.unit, b.per], &[a.per, b.unit])?;
    check_shape(kind, unit, per)
}

fn cancel(nums: &[Option<Unit>], dens: &[Option<Unit>]) -> Result<(Option<Unit>, Option<Unit>), UnitError> {
    let mut top: Vec<Unit> = nums.iter().flatten().copied().collect();
    let mut bottom: Vec<Unit> = Vec::new();
    for d in dens.iter().flatten() {
        if let Some(i) = top.iter().position(|u| u == d) {
            top.remove(i);
        } else {
            bottom.push(*d);
        }
    }
    if top.len() > 1 || bottom.len() > 1 {
        let show = |us: &[Unit]| us.iter().map(|u| u.name()).collect::<Vec<_>>().join(" × ");
        return Err(UnitError(if top.len() > 1 {
            format!("the result would be measured in {}, which has no meaning here", show(&top))
        } else {
            format!("the result would be per {}, which has no meaning here", show(&bottom))
        }));
    }
    Ok((top.first().copied(), bottom.first().copied()))
}

fn check_shape(kind: NumKind, unit: Option<Unit>, per: Option<Unit>) -> Result<NumTy, UnitError> {
    if let (NumKind::Money, Some(u)) = (kind, unit) {
        return Err(UnitError(format!("the result would be money × {}s, which has no meaning", u.name())));
    }
    if kind == NumKind::Percent && (unit.is_some() || per.is_some()) {
        return Err(UnitError("a percentage cannot carry a unit".into()));
    }
    Ok(NumTy { kind, unit, per })
}

/// The common type of `a + b` / `a - b` / comparisons, or `None` if they differ.
pub fn unify_additive(a: NumTy, b: NumTy) -> Option<NumTy> {
    if a.unit != b.unit || a.per != b.per {
        return None;
    }
    let kind = match (a.kind, b.kind) {
        (x, y) if x == y => x,
        (NumKind::Int, NumKind::Decimal) | (NumKind::Decimal, NumKind::Int) => NumKind::Decimal,
        _ => return None,
    };
    Some(NumTy { kind, ..a })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money_per(u: Unit) -> NumTy {
        NumTy { per: Some(u), ..NumTy::MONEY }
    }

    #[test]
    fn hours_per_week_times_money_per_hour_is_money_per_week() {
        let hpw = NumTy { per: Some(Unit::Week), ..NumTy::HOURS };
        assert_eq!(multiply(hpw, money_per(Unit::Hour)), Ok(money_per(Unit::Week)));
        assert_eq!(multiply(money_per(Unit::Hour), NumTy::HOURS), Ok(NumTy::MONEY));
    }

    #[test]
    fn money_times_money_and_hours_squared_are_errors() {
        assert!(multiply(NumTy::MONEY, NumTy::MONEY).is_err());
        assert!(multiply(NumTy::HOURS, NumTy::HOURS).is_err());
        assert!(multiply(NumTy::MONEY, NumTy::HOURS).is_err());
    }

    #[test]
    fn division_cancels_units() {
        assert_eq!(divide(NumTy::MONEY, NumTy::MONEY), Ok(NumTy::DECIMAL));
        assert_eq!(divide(NumTy::MONEY, NumTy::HOURS), Ok(money_per(Unit::Hour)));
        assert!(divide(NumTy::INT, NumTy::MONEY).is_err());
    }

    #[test]
    fn addition_needs_the_same_units() {
        assert_eq!(unify_additive(NumTy::INT, NumTy::DECIMAL), Some(NumTy::DECIMAL));
        assert_eq!(unify_additive(money_per(Unit::Hour), money_per(Unit::Week)), None);
        assert_eq!(unify_additive(NumTy::MONEY, NumTy::PERCENT), None);
    }
}
