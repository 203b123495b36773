//! Cohort runs: the parts of `covenant batch` that need no I/O.
//!
//! A CSV header is checked against the declared inputs before any row runs ([`Header`]):
//! every column must name an input or a field of one (`person.cluster`, dotted for nested
//! records), and every required input and field must have a column. A list or record may sit
//! in one column as JSON text. Each row's values are then built straight from its cells,
//! with the same scalar rules `covenant eval` applies to a case (`inputs::read_scalar`). Results become output cells
//! ([`cell`]), and money-valued decisions are totalled exactly ([`Totals`]).

use crate::inputs::{InputError, NOT_GIVEN, Scalar, read_scalar, read_value};
use covenant_ir::{DecisionId, NumKind, Program, Ty, Value, value};
use rust_decimal::Decimal;
use serde_json::Value as Json;
use std::sync::Arc;

/// How one declared input is built from a row: from one column, or field by field.
#[derive(Debug, Clone)]
enum Source {
    /// The whole value is in this column (a list or record as JSON text).
    Column { index: usize, ty: Ty },
    /// A record assembled from its fields (`None`: no column gives the field).
    Record { id: covenant_ir::RecordId, fields: Vec<Option<Source>> },
}

/// A CSV header checked against the declared inputs, and how each input is read from a row.
#[derive(Debug, Clone)]
pub struct Header {
    width: usize,
    /// One per declared input (`None`: no column gives it).
    inputs: Vec<Option<Source>>,
    names: Vec<String>,
}

impl Header {
    /// Checks a header; every problem is reported, before any row is read.
    pub fn new(program: &Program, names: &[String]) -> Result<Header, Vec<InputError>> {
        let mut errors = Vec::new();
        let mut columns: Vec<(usize, Vec<&str>)> = Vec::with_capacity(names.len());
        for (index, name) in names.iter().enumerate() {
            match resolve(program, name) {
                Ok(_) => columns.push((index, name.split('.').collect())),
                Err(message) => errors.push(InputError { path: name.clone(), message }),
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for name in names {
            if !seen.insert(name.as_str()) {
                errors.push(InputError { path: name.clone(), message: "this column appears twice".into() });
            }
        }
        for (path, ty) in required_paths(program) {
            let covered = names
                .iter()
                .any(|n| n == &path || path.starts_with(&format!("{n}.")) || n.starts_with(&format!("{path}.")));
            if !covered {
                errors.push(InputError {
                    path: path.clone(),
                    message: format!("no column gives this required value ({})", program.type_name(&ty)),
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let inputs = program
            .inputs
            .iter()
            .map(|input| {
                let mine: Vec<(usize, &[&str])> =
                    columns.iter().filter(|(_, p)| p[0] == input.name).map(|(i, p)| (*i, &p[1..])).collect();
                source(program, &input.ty, &mine)
            })
            .collect();
        Ok(Header { width: names.len(), inputs, names: names.to_vec() })
    }
}

/// How a value of type `ty` is read from the columns whose remaining paths are given.
fn source(program: &Program, ty: &Ty, columns: &[(usize, &[&str])]) -> Option<Source> {
    if let Some((index, _)) = columns.iter().find(|(_, rest)| rest.is_empty()) {
        return Some(Source::Column { index: *index, ty: ty.clone() });
    }
    let Ty::Record(id) = ty else { return None };
    if columns.is_empty() {
        return None;
    }
    let fields = program
        .record_def(*id)
        .fields
        .iter()
        .map(|f| {
            let sub: Vec<(usize, &[&str])> =
                columns.iter().filter(|(_, rest)| rest[0] == f.name).map(|(i, rest)| (*i, &rest[1..])).collect();
            source(program, &f.ty, &sub)
        })
        .collect();
    Some(Source::Record { id: *id, fields })
}

/// Reads one row's inputs, with the rules `covenant eval` uses for a case.
pub fn row_inputs(program: &Program, header: &Header, cells: &[&str]) -> Result<Vec<Value>, Vec<InputError>> {
    let mut errors = Vec::new();
    if cells.len() != header.width {
        return Err(vec![InputError {
            path: String::new(),
            message: format!("this row has {} cells but the header has {} columns", cells.len(), header.width),
        }]);
    }
    let values = program
        .inputs
        .iter()
        .zip(&header.inputs)
        .map(|(input, source)| {
            read(program, header, source.as_ref(), (&input.name, input.optional), cells, &mut errors)
        })
        .collect();
    if errors.is_empty() { Ok(values) } else { Err(errors) }
}

fn read(
    program: &Program,
    header: &Header,
    source: Option<&Source>,
    (path, optional): (&str, bool),
    cells: &[&str],
    errors: &mut Vec<InputError>,
) -> Value {
    let missing = |errors: &mut Vec<InputError>| {
        if !optional {
            errors.push(InputError { path: path.to_string(), message: "missing value".into() });
        }
        Value::None(Arc::from(NOT_GIVEN))
    };
    match source {
        None => missing(errors),
        Some(Source::Column { index, ty }) => {
            let text = cells.get(*index).map_or("", |c| c.trim());
            if text.is_empty() {
                return missing(errors);
            }
            let column = header.names.get(*index).map_or(path, String::as_str);
            match ty {
                Ty::List(_) | Ty::Record(_) => match serde_json::from_str::<Json>(text) {
                    Ok(json) => read_value(program, &json, ty, column, errors),
                    Err(e) => {
                        errors.push(InputError { path: column.to_string(), message: format!("expected JSON: {e}") });
                        Value::None(Arc::from("invalid input"))
                    }
                },
                _ => read_scalar(program, ty, Scalar::Cell(text)).unwrap_or_else(|message| {
                    errors.push(InputError { path: column.to_string(), message });
                    Value::None(Arc::from("invalid input"))
                }),
            }
        }
        Some(Source::Record { id, fields }) => {
            let def = program.record_def(*id);
            let values: Vec<Value> = def
                .fields
                .iter()
                .zip(fields)
                .map(|(f, s)| {
                    read(program, header, s.as_ref(), (&format!("{path}.{}", f.name), f.optional), cells, errors)
                })
                .collect();
            Value::Record(Arc::from(values))
        }
    }
}

/// The type a dotted column name leads to, or why it names nothing.
fn resolve(program: &Program, name: &str) -> Result<Ty, String> {
    let mut parts = name.split('.');
    let first = parts.next().unwrap_or("");
    let Some(input) = program.inputs.iter().find(|i| i.name == first) else {
        let known: Vec<&str> = program.inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(format!("no input is declared with this name (declared: {})", known.join(", ")));
    };
    let mut ty = input.ty.clone();
    for part in parts {
        let Ty::Record(id) = ty else {
            return Err(format!("`{part}` is not a field: {} has no fields", program.type_name(&ty)));
        };
        let def = program.record_def(id);
        let Some(field) = def.fields.iter().find(|f| f.name == part) else {
            let fields: Vec<&str> = def.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(format!("{} has no field `{part}` (fields: {})", def.name, fields.join(", ")));
        };
        ty = field.ty.clone();
    }
    Ok(ty)
}

/// Every required input and field, as dotted paths (records are walked; lists are leaves).
fn required_paths(program: &Program) -> Vec<(String, Ty)> {
    fn walk(program: &Program, path: String, ty: &Ty, out: &mut Vec<(String, Ty)>) {
        match ty {
            Ty::Record(id) => {
                for f in &program.record_def(*id).fields {
                    if !f.optional {
                        walk(program, format!("{path}.{}", f.name), &f.ty, out);
                    }
                }
            }
            _ => out.push((path, ty.clone())),
        }
    }
    let mut out = Vec::new();
    for input in program.inputs.iter().filter(|i| !i.optional) {
        walk(program, input.name.clone(), &input.ty, &mut out);
    }
    out
}

/// A result as a CSV cell: decimals and money as plain exact text (`2130.38`), enums by
/// name, lists and records as JSON, and "no value" as an empty cell (never 0).
pub fn cell(program: &Program, value: &Value, ty: &Ty) -> String {
    match value::to_json(program, value, ty) {
        Json::String(s) => s,
        Json::Object(map) if map.contains_key("none") => String::new(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Exact totals of the money-valued decisions of a run.
#[derive(Debug, Clone)]
pub struct Totals {
    pub sums: Vec<(DecisionId, Decimal)>,
    /// A total that overflowed is reported as such, not wrapped.
    pub overflowed: Vec<DecisionId>,
}

impl Totals {
    pub fn new(program: &Program, decisions: &[DecisionId]) -> Totals {
        let sums = decisions
            .iter()
            .filter(|id| matches!(program.decision(**id).ty, Ty::Num(n) if n.kind == NumKind::Money))
            .map(|id| (*id, Decimal::ZERO))
            .collect();
        Totals { sums, overflowed: Vec::new() }
    }

    pub fn add(&mut self, decision: DecisionId, value: &Value) {
        let Value::Num(amount) = value else { return };
        if let Some((_, sum)) = self.sums.iter_mut().find(|(d, _)| *d == decision) {
            match sum.checked_add(*amount) {
                Some(total) => *sum = total,
                None => {
                    if !self.overflowed.contains(&decision) {
                        self.overflowed.push(decision);
                    }
                }
            }
        }
    }
}
