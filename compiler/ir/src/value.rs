//! Run-time values, and how they are shown to people and written as JSON.
//!
//! Values are lean: every number is a `rust_decimal::Decimal` (`Percent` is stored as a
//! fraction, 74% = 0.74) and the static [`Ty`] says how to show it. "No value" is a value
//! of its own carrying the reason (a table cell `none "no tariff agreed"`), never zero.

use crate::Program;
use crate::date::{Date, Duration};
use crate::json::JsonOut;
use crate::types::{NumKind, NumTy, Ty};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Bool(bool),
    Num(Decimal),
    Date(Date),
    Duration(Duration),
    Text(Arc<str>),
    /// Index of the variant in its enum's declaration.
    Enum(u32),
    Record(Arc<[Value]>),
    List(Arc<[Value]>),
    /// No value, with the reason given in the source (or "no row matched").
    None(Arc<str>),
}

impl Value {
    pub fn is_none(&self) -> bool {
        matches!(self, Value::None(_))
    }
}

/// Shows a value the way a commissioner writes it: `£1,234.50`, `15%`, `6 months`.
pub fn display(program: &Program, value: &Value, ty: &Ty) -> String {
    match (value, ty) {
        (Value::None(reason), _) => format!("no value ({reason})"),
        (Value::Bool(b), _) => b.to_string(),
        (Value::Num(n), Ty::Num(num)) => display_number(*n, *num),
        (Value::Num(n), _) => n.normalize().to_string(),
        (Value::Date(d), _) => d.to_string(),
        (Value::Duration(d), _) => d.to_string(),
        (Value::Text(t), _) => format!("{t:?}"),
        (Value::Enum(i), Ty::Enum(id)) => program.enum_def(*id).variant_name(*i).to_string(),
        (Value::Enum(i), _) => format!("#{i}"),
        (Value::Record(fields), Ty::Record(id)) => {
            let def = program.record_def(*id);
            let parts: Vec<String> = def
                .fields
                .iter()
                .zip(fields.iter())
                .map(|(f, v)| format!("{}: {}", f.name, display(program, v, &f.ty)))
                .collect();
            format!("{} {{ {} }}", def.name, parts.join(", "))
        }
        (Value::List(items), Ty::List(elem)) => {
            let parts: Vec<String> = items.iter().map(|v| display(program, v, elem)).collect();
            format!("[{}]", parts.join(", "))
        }
        (Value::Record(_) | Value::List(_), _) => "…".to_string(),
    }
}

/// Formats a number by its kind: money with a pound sign, thousands separators and at least
/// two decimal places; percentages in points; other numbers without trailing zeros.
pub fn display_number(n: Decimal, ty: NumTy) -> String {
    let mut text = match ty.kind {
        NumKind::Money => {
            let scale = n.normalize().scale().max(2);
            let mut fixed = n;
            fixed.rescale(scale);
            let body = group_thousands(&fixed.abs().to_string());
            if n.is_sign_negative() && !n.is_zero() { format!("-£{body}") } else { format!("£{body}") }
        }
        NumKind::Percent => match n.checked_mul(Decimal::ONE_HUNDRED) {
            Some(points) => format!("{}%", points.normalize()),
            None => format!("{} (as a fraction)", n.normalize()),
        },
        NumKind::Int | NumKind::Decimal => n.normalize().to_string(),
    };
    if let Some(u) = ty.unit {
        let word = if n == Decimal::ONE { u.name().to_string() } else { format!("{}s", u.name()) };
        text = format!("{text} {word}");
    }
    if let Some(per) = ty.per {
        text = format!("{text} per {}", per.name());
    }
    text
}

fn group_thousands(plain: &str) -> String {
    let (int, frac) = plain.split_once('.').map_or((plain, None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// The JSON form of a value: decimals and money as strings (never JSON numbers), Int as a
/// JSON integer, enums by variant name, "no value" as `{"none": reason}`.
pub fn to_json(program: &Program, value: &Value, ty: &Ty) -> serde_json::Value {
    let mut out = JsonOut::new();
    write_json(program, value, ty, &mut out);
    // The writer's output is always one valid JSON value.
    serde_json::from_str(out.as_str()).unwrap_or(serde_json::Value::Null)
}

/// Writes the JSON form of a value ([`to_json`]) without building a `serde_json::Value`.
pub fn write_json(program: &Program, value: &Value, ty: &Ty, out: &mut JsonOut) {
    match (value, ty) {
        (Value::None(reason), _) => {
            out.begin_object();
            out.key("none").str(reason);
            out.end_object();
        }
        (Value::Bool(b), _) => out.bool(*b),
        (Value::Num(n), Ty::Num(num)) => match num.kind {
            NumKind::Int if num.is_plain() => match i64::try_from(*n) {
                Ok(i) => out.int(i),
                Err(_) => out.str_display(n.normalize()),
            },
            NumKind::Percent => out.str(&display_number(*n, *num)),
            NumKind::Money => {
                let mut fixed = *n;
                fixed.rescale(n.normalize().scale().max(2));
                out.str_display(fixed);
            }
            _ => out.str_display(n.normalize()),
        },
        (Value::Num(n), _) => out.str_display(n.normalize()),
        (Value::Date(d), _) => out.str_display(d),
        (Value::Duration(d), _) => out.str_display(d),
        (Value::Text(t), _) => out.str(t),
        (Value::Enum(i), Ty::Enum(id)) => out.str(program.enum_def(*id).variant_name(*i)),
        (Value::Enum(i), _) => out.int(*i),
        (Value::Record(fields), Ty::Record(id)) => {
            let def = program.record_def(*id);
            out.begin_object();
            for (f, v) in def.fields.iter().zip(fields.iter()) {
                out.key(&f.name);
                write_json(program, v, &f.ty, out);
            }
            out.end_object();
        }
        (Value::List(items), Ty::List(elem)) => {
            out.begin_array();
            for v in items.iter() {
                write_json(program, v, elem, out);
            }
            out.end_array();
        }
        (Value::Record(_) | Value::List(_), _) => out.null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn money_shows_pence_and_thousands() {
        assert_eq!(display_number(dec("2130.375"), NumTy::MONEY), "£2,130.375");
        assert_eq!(display_number(dec("1234.5"), NumTy::MONEY), "£1,234.50");
        assert_eq!(display_number(dec("-40"), NumTy::MONEY), "-£40.00");
        assert_eq!(display_number(dec("999"), NumTy::MONEY), "£999.00");
    }

    #[test]
    fn percent_and_units() {
        assert_eq!(display_number(dec("0.74"), NumTy::PERCENT), "74%");
        assert_eq!(display_number(dec("-0.25"), NumTy::PERCENT), "-25%");
        let rate = NumTy { per: Some(crate::types::Unit::Hour), ..NumTy::MONEY };
        assert_eq!(display_number(dec("10"), rate), "£10.00 per hour");
        assert_eq!(display_number(dec("5"), NumTy::HOURS), "5 hours");
    }
}
