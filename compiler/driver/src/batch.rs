//! Cohort runs: the parts of `covenant batch` that need no I/O.
//!
//! A CSV header is checked against the declared inputs before any row runs ([`Header`]):
//! every column must name an input or a field of one (`person.cluster`, dotted for nested
//! records), and every required input and field must have a column. A list or record may sit
//! in one column as JSON text. Each row then becomes the same JSON document a single
//! `covenant eval` would read, and is validated by [`crate::inputs::read_inputs`], so a batch
//! row and an eval case are read by one set of rules. Results become output cells
//! ([`cell`]), and money-valued decisions are totalled exactly ([`Totals`]).

use crate::inputs::{InputError, read_inputs};
use covenant_ir::{DecisionId, NumKind, Program, Ty, Value, value};
use rust_decimal::Decimal;
use serde_json::{Map, Value as Json};

/// Where a CSV column goes: an input, then fields by name.
#[derive(Debug, Clone)]
struct Column {
    path: Vec<String>,
    ty: Ty,
}

/// A CSV header checked against the declared inputs.
#[derive(Debug, Clone)]
pub struct Header {
    columns: Vec<Column>,
}

impl Header {
    /// Checks a header; every problem is reported, before any row is read.
    pub fn new(program: &Program, names: &[String]) -> Result<Header, Vec<InputError>> {
        let mut errors = Vec::new();
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            match resolve(program, name) {
                Ok(ty) => columns.push(Column { path: name.split('.').map(str::to_string).collect(), ty }),
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
                    message: format!("no column gives this required value ({})", describe(program, &ty)),
                });
            }
        }
        if errors.is_empty() { Ok(Header { columns }) } else { Err(errors) }
    }

    /// The JSON document for one row, as `covenant eval` would read it.
    pub fn document(&self, cells: &[&str]) -> Result<Json, Vec<InputError>> {
        let mut root = Map::new();
        let mut errors = Vec::new();
        for (column, &text) in self.columns.iter().zip(cells) {
            let value = match cell_json(&column.ty, text) {
                Ok(v) => v,
                Err(message) => {
                    errors.push(InputError { path: column.path.join("."), message });
                    continue;
                }
            };
            if value.is_null() {
                continue;
            }
            insert(&mut root, &column.path, value);
        }
        if cells.len() != self.columns.len() {
            errors.push(InputError {
                path: String::new(),
                message: format!(
                    "this row has {} cells but the header has {} columns",
                    cells.len(),
                    self.columns.len()
                ),
            });
        }
        if errors.is_empty() { Ok(Json::Object(root)) } else { Err(errors) }
    }
}

/// Reads one row's inputs: the row's document, validated like an eval case.
pub fn row_inputs(program: &Program, header: &Header, cells: &[&str]) -> Result<Vec<Value>, Vec<InputError>> {
    read_inputs(program, &header.document(cells)?)
}

fn insert(map: &mut Map<String, Json>, path: &[String], value: Json) {
    match path {
        [] => {}
        [last] => {
            map.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = map.entry(first.clone()).or_insert_with(|| Json::Object(Map::new()));
            if let Json::Object(inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

/// A cell as JSON for its type: empty is "not given"; lists and records are JSON text.
fn cell_json(ty: &Ty, text: &str) -> Result<Json, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Json::Null);
    }
    Ok(match ty {
        Ty::Bool => match text {
            "true" | "TRUE" | "True" => Json::Bool(true),
            "false" | "FALSE" | "False" => Json::Bool(false),
            _ => return Err(format!("expected true or false, found `{text}`")),
        },
        Ty::List(_) | Ty::Record(_) => {
            serde_json::from_str(text).map_err(|e| format!("expected JSON for a list or record: {e}"))?
        }
        Ty::Enum(_) if text.chars().all(|c| c.is_ascii_digit()) => {
            serde_json::from_str(text).map_err(|e| format!("not a code: {e}"))?
        }
        _ => Json::String(text.to_string()),
    })
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
            return Err(format!("`{part}` is not a field: {} has no fields", describe(program, &ty)));
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

fn describe(program: &Program, ty: &Ty) -> String {
    match ty {
        Ty::Num(n) => n.to_string(),
        Ty::Enum(id) => program.enum_def(*id).name.clone(),
        Ty::Record(id) => program.record_def(*id).name.clone(),
        Ty::List(inner) => format!("list of {}", describe(program, inner)),
        other => format!("{other:?}"),
    }
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
