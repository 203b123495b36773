//! Cohort runs: the parts of `covenant batch` that need no I/O.
//!
//! A CSV header is checked against the declared inputs before any row runs ([`Header`]):
//! every column must name an input or a field of one (`person.cluster`, dotted for nested
//! records), and every required input and field must have a column. A list or record may sit
//! in one column as JSON text. Each row's values are then built straight from its cells,
//! with the same scalar rules `covenant eval` applies to a case (`inputs::read_scalar`). Results become output cells
//! ([`cell`]), and money-valued decisions are totalled exactly ([`Totals`]).

use crate::csv_text::CellText;
use crate::inputs::{
    InputError, Quotes, RowStore, Scalar, VariantNames, read_json_cell, read_scalar, read_value, trim,
};
use covenant_ir::{DecisionId, NumKind, Program, Ty, Value, json, value};
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
    /// For finding the enum variants named in JSON cells.
    variants: VariantNames,
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
        Ok(Header { width: names.len(), inputs, names: names.to_vec(), variants: VariantNames::new(program) })
    }

    /// For each column, whether it holds a list or record as JSON text: such a column's
    /// quoted cells can be read as written ([`crate::csv_text::Cells::keep_doubled`]).
    pub fn json_columns(&self) -> Vec<bool> {
        fn mark(source: &Source, columns: &mut [bool]) {
            match source {
                Source::Column { index, ty: Ty::List(_) | Ty::Record(_) } => {
                    if let Some(column) = columns.get_mut(*index) {
                        *column = true;
                    }
                }
                Source::Column { .. } => {}
                Source::Record { fields, .. } => fields.iter().flatten().for_each(|field| mark(field, columns)),
            }
        }
        let mut columns = vec![false; self.width];
        self.inputs.iter().flatten().for_each(|input| mark(input, &mut columns));
        columns
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

/// A row's cells by column, however they were split.
pub trait RowCells {
    /// How many cells the row has.
    fn width(&self) -> usize;
    /// The text of the cell in column `index`.
    fn cell(&self, index: usize) -> Option<CellText<'_>>;
}

impl RowCells for [&str] {
    fn width(&self) -> usize {
        self.len()
    }

    fn cell(&self, index: usize) -> Option<CellText<'_>> {
        self.get(index).map(|text| CellText::Plain(text))
    }
}

impl RowCells for crate::csv_text::Cells {
    fn width(&self) -> usize {
        self.len()
    }

    #[inline]
    fn cell(&self, index: usize) -> Option<CellText<'_>> {
        self.get(index)
    }
}

/// Reads one row's inputs, with the rules `covenant eval` uses for a case. Their lists and
/// records are put in storage `store` kept from rows given back to it.
pub fn row_inputs<C: RowCells + ?Sized>(
    program: &Program,
    header: &Header,
    cells: &C,
    store: &mut RowStore,
) -> Result<Vec<Value>, Vec<InputError>> {
    let mut errors = Vec::new();
    if cells.width() != header.width {
        return Err(vec![InputError {
            path: String::new(),
            message: format!("this row has {} cells but the header has {} columns", cells.width(), header.width),
        }]);
    }
    let mut values = store.row();
    for (input, source) in program.inputs.iter().zip(&header.inputs) {
        let path = (&Path::Root(&input.name), input.optional);
        values.push(read(program, header, source.as_ref(), path, (cells, store), &mut errors));
    }
    if errors.is_empty() { Ok(values) } else { Err(errors) }
}

/// The dotted path of a value being read, written out only when a problem is reported.
enum Path<'a> {
    Root(&'a str),
    Field(&'a Path<'a>, &'a str),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
        }
    }
}

fn read<C: RowCells + ?Sized>(
    program: &Program,
    header: &Header,
    source: Option<&Source>,
    (path, optional): (&Path<'_>, bool),
    (cells, store): (&C, &mut RowStore),
    errors: &mut Vec<InputError>,
) -> Value {
    let missing = |errors: &mut Vec<InputError>, store: &RowStore| {
        if !optional {
            errors.push(InputError { path: path.to_string(), message: "missing value".into() });
        }
        store.not_given()
    };
    match source {
        None => missing(errors, store),
        Some(Source::Column { index, ty }) => {
            let cell = cells.cell(*index);
            // JSON kept as written in a quoted cell is read so; if it is not plain (then the
            // reading below gives the same value, or the error, from the cell unquoted).
            if let (Some(CellText::Doubled(written)), Ty::List(_) | Ty::Record(_)) = (cell, ty)
                && let Some(value) =
                    read_json_cell(program, written, ty, Some(&header.variants), store, Quotes::Doubled)
            {
                return value;
            }
            let unquoted;
            let text = match cell {
                Some(CellText::Plain(text)) => trim(text),
                Some(doubled) => {
                    unquoted = doubled.unquoted();
                    trim(&unquoted)
                }
                None => "",
            };
            if text.is_empty() {
                return missing(errors, store);
            }
            let column = || header.names.get(*index).map_or_else(|| path.to_string(), String::clone);
            match ty {
                // Plain JSON is read directly; anything else (and every error) through serde_json.
                Ty::List(_) | Ty::Record(_) => {
                    match read_json_cell(program, text, ty, Some(&header.variants), store, Quotes::Single) {
                        Some(value) => value,
                        None => match serde_json::from_str::<Json>(text) {
                            Ok(json) => read_value(program, &json, ty, &column(), errors),
                            Err(e) => {
                                errors.push(InputError { path: column(), message: format!("expected JSON: {e}") });
                                Value::None(Arc::from("invalid input"))
                            }
                        },
                    }
                }
                _ => {
                    // A variant by its name, found the quick way (a name is never a number, so
                    // never a variant's code).
                    if let Ty::Enum(id) = ty
                        && let Some(index) = header.variants.find(program, *id, text)
                    {
                        return Value::Enum(index);
                    }
                    read_scalar(program, ty, Scalar::Cell(text)).unwrap_or_else(|message| {
                        errors.push(InputError { path: column(), message });
                        Value::None(Arc::from("invalid input"))
                    })
                }
            }
        }
        Some(Source::Record { id, fields }) => {
            let base = store.depth();
            for (f, s) in program.record_def(*id).fields.iter().zip(fields) {
                let field = (&Path::Field(path, &f.name), f.optional);
                let value = read(program, header, s.as_ref(), field, (cells, &mut *store), errors);
                store.push(value);
            }
            Value::Record(store.share(base))
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

/// Appends a result's CSV cell text ([`cell`]) to `out`, without building JSON for the
/// common kinds of value.
pub fn write_cell(program: &Program, value: &Value, ty: &Ty, out: &mut String) {
    use std::fmt::Write;
    match (value, ty) {
        (Value::None(_), _) => {}
        (Value::Bool(b), _) => out.push_str(if *b { "true" } else { "false" }),
        (Value::Num(n), Ty::Num(num)) => match num.kind {
            NumKind::Int if num.is_plain() => match i64::try_from(*n) {
                Ok(i) => json::push_integer(out, i.into()),
                Err(_) => json::push_decimal(out, n.normalize()),
            },
            NumKind::Percent => out.push_str(&value::display_number(*n, *num)),
            NumKind::Money => {
                let mut fixed = *n;
                fixed.rescale(n.normalize().scale().max(2));
                json::push_decimal(out, fixed);
            }
            _ => json::push_decimal(out, n.normalize()),
        },
        (Value::Num(n), _) => json::push_decimal(out, n.normalize()),
        // Writing to a String cannot fail.
        (Value::Date(d), _) => {
            let _ = write!(out, "{d}");
        }
        (Value::Duration(d), _) => {
            let _ = write!(out, "{d}");
        }
        (Value::Text(t), _) => out.push_str(t),
        (Value::Enum(i), Ty::Enum(id)) => out.push_str(program.enum_def(*id).variant_name(*i)),
        (Value::Enum(i), _) => json::push_integer(out, (*i).into()),
        (Value::Record(_) | Value::List(_), _) => out.push_str(&cell(program, value, ty)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// A session reused from row to row gives a lookup with no version valid on the row's
    /// date the same error as a fresh session, for every date and however often it repeats
    /// (the session keeps the error it built for a node and date), compiled or not.
    #[test]
    fn versions_are_chosen_and_errors_given_afresh_on_every_row() {
        use covenant_eval::{Compiled, Indexes, NoTrace, Session};
        let text = "input day: Date\nas of day\n\
                    table rate(n: Int) -> Int valid 2015/16 { _ => 1 }\n\
                    table rate(n: Int) -> Int valid 2016/17 { _ => 2 }\n\
                    decision r: Int = rate(1)\n\
                    param step: Int valid 2015/16 = 10\n\
                    param step: Int valid 2016/17 = 20\n\
                    param doubled: Int = step * 2\n\
                    decision p: Int = doubled + 1\n";
        let compilation = crate::compile_text("versions.cov", text);
        assert!(!compilation.has_errors(), "{:?}", compilation.diagnostics);
        let program = &compilation.program;
        let r = program.find_decision("r").expect("r");
        let p = program.find_decision("p").expect("p");
        let (indexes, compiled) = (Indexes::build(program), Compiled::new(program));
        let mut reused = Session::new(program, Vec::new()).with_indexes(&indexes);
        let mut fast = Session::new(program, Vec::new()).with_indexes(&indexes).with_compiled(&compiled);
        let mut failed = 0;
        for day in ["2014-01-01", "2015-06-01", "2014-01-01", "2018-03-01", "2014-01-01", "2017-03-31"] {
            let inputs = vec![Value::Date(covenant_ir::Date::parse(day).expect("date"))];
            let fresh = Session::new(program, inputs.clone()).decision(r, &mut NoTrace);
            let fresh_param = Session::new(program, inputs.clone()).decision(p, &mut NoTrace);
            reused.reset(inputs.clone());
            fast.reset(inputs);
            assert_eq!(reused.decision(r, &mut NoTrace), fresh, "{day}");
            assert_eq!(fast.decision(r, &mut NoTrace), fresh, "{day}, compiled");
            // A param's version, like a table's, is chosen afresh on every row.
            assert_eq!(reused.decision(p, &mut NoTrace), fresh_param, "{day}, param");
            assert_eq!(fast.decision(p, &mut NoTrace), fresh_param, "{day}, param, compiled");
            if let Err(e) = fresh {
                assert_eq!(e.code, "E0512", "{day}");
                assert!(e.message.contains(day), "{}", e.message);
                failed += 1;
            }
        }
        assert_eq!(failed, 4);
    }

    /// A session reused with `reset` (and its memo of decisions with parameters) gives
    /// exactly what a fresh session gives without the memo (a recorder turns it off), to the
    /// digit and scale: `twice(1.0)` is `2.0` and `twice(1.00)` is `2.00`.
    #[test]
    fn reused_sessions_and_memoised_calls_give_exact_results() {
        use covenant_eval::{Indexes, NoTrace, Recorder, Session};
        let text = "record R { a: Decimal, b: Int }\ninput x: Decimal\ninput y: Decimal\ninput rs: list of R\n\
                    decision twice(v: Decimal): Decimal = v * 2\n\
                    decision item(r: R): Decimal = twice(r.a) + r.b\n\
                    decision pair: Decimal = if twice(x) == twice(y) then twice(y) else twice(x)\n\
                    decision total: Decimal = sum(item(r) for r in rs) + sum(item(r) for r in rs)\n\
                    decision top: Decimal = max(twice(r.a) for r in rs)\n";
        let compilation = crate::compile_text("memo.cov", text);
        assert!(!compilation.has_errors(), "{:?}", compilation.diagnostics);
        let program = &compilation.program;
        let header = Header::new(program, &["x".into(), "y".into(), "rs".into()]).expect("header");
        let indexes = Indexes::build(program);
        let mut reused = Session::new(program, Vec::new()).with_indexes(&indexes);
        let rows = [
            ["1.0", "1.00", r#"[{"a":1.0,"b":1},{"a":1.00,"b":1},{"a":1.0,"b":1}]"#],
            ["1.00", "1.0", r#"[{"a":2.50,"b":0},{"a":2.5,"b":0}]"#],
            ["3", "4", "[]"],
        ];
        for cells in rows {
            let inputs = row_inputs(program, &header, &cells[..], &mut RowStore::new()).expect("inputs");
            reused.reset(inputs.clone());
            for name in ["pair", "total", "top"] {
                let id = program.find_decision(name).expect(name);
                let fast = reused.decision(id, &mut NoTrace);
                let mut recorder = Recorder::new();
                let reference = Session::new(program, inputs.clone()).decision(id, &mut recorder);
                assert_eq!(format!("{fast:?}"), format!("{reference:?}"), "{name} on {cells:?}");
            }
        }
    }

    /// A call remembered at a shallow depth is not reused where computing it would pass the
    /// nesting limits: the deep call still fails as it does without the memo.
    /// Rows read into the storage earlier rows gave back are read exactly as rows read
    /// afresh, whatever their shapes (lists longer and shorter than the last, records within
    /// records, optional fields left out), and a value an earlier row's result still holds
    /// is never written over.
    #[test]
    fn rows_read_into_storage_given_back_are_read_as_afresh() {
        use covenant_eval::{NoTrace, Session};
        let text = "record In { a: Int, b: optional Text }\nrecord Out { n: Int, ins: list of In }\n\
                    input o: Out\ninput xs: list of Int\ninput when: Date\n\
                    decision kept: list of In = o.ins\n";
        let compilation = crate::compile_text("shapes.cov", text);
        assert!(!compilation.has_errors(), "{:?}", compilation.diagnostics);
        let program = &compilation.program;
        let header = Header::new(program, &["o.n".into(), "o.ins".into(), "xs".into(), "when".into()]).expect("header");
        let rows = [
            ["1", r#"[{"a":1,"b":"x"},{"a":2}]"#, "[1,2,3]", "2015-04-01"],
            ["2", r#"[{"a":3,"b":"y"},{"a":4,"b":"z"}]"#, "[4,5,6]", "2016-04-01"],
            ["3", r#"[{"a":5}]"#, "[7,8,9,10]", "2017-04-01"],
            ["4", r#"[{"b":"w","a":6},{"a":7},{"a":8,"b":"v"}]"#, "[]", "2018-04-01"],
            ["5", r#"[{"a":9,"b":"u"},{"a":10}]"#, "[11,12,13]", "2019-04-01"],
            ["6", "[]", "[14]", "2020-04-01"],
        ];
        let kept_id = program.find_decision("kept").expect("kept");
        let mut store = RowStore::new();
        let mut session = Session::new(program, Vec::new());
        let mut held = Vec::new();
        for (i, cells) in rows.iter().enumerate() {
            let fresh = row_inputs(program, &header, &cells[..], &mut RowStore::new()).expect("fresh");
            let reused = row_inputs(program, &header, &cells[..], &mut store).expect("reused");
            assert_eq!(format!("{reused:?}"), format!("{fresh:?}"), "row {i}");
            session.reset(reused);
            // Every other row's result is held on to, as a result on its way to be written is.
            let result = session.decision(kept_id, &mut NoTrace).expect("kept");
            if i % 2 == 0 {
                held.push((i, format!("{result:?}"), result));
            }
            store.give_back(session.take_inputs());
        }
        for (i, shown, result) in &held {
            assert_eq!(&format!("{result:?}"), shown, "row {i}'s result after the rows after it");
        }
    }

    /// A row split with its JSON columns' quoted cells kept as written reads to the values,
    /// or the errors, that its cells unquoted read to: JSON read as written, JSON that is not
    /// plain (an escape, a bad value) through the full path, and a quoted cell of another
    /// column.
    #[test]
    fn json_read_as_written_in_quoted_cells_reads_as_unquoted() {
        let text = "record In { a: Int, b: optional Text }\ninput ins: list of In\ninput note: Text\n\
                    input n: Int\ndecision size: Int = count(i for i in ins)\n";
        let compilation = crate::compile_text("doubled.cov", text);
        assert!(!compilation.has_errors(), "{:?}", compilation.diagnostics);
        let program = &compilation.program;
        let header = Header::new(program, &["ins".into(), "note".into(), "n".into()]).expect("header");
        assert_eq!(header.json_columns(), [true, false, false]);
        let mut split = crate::csv_text::Cells::keep_doubled(&header.json_columns());
        let rows = [
            [r#"[{"a":1,"b":"x y"},{"a":2}]"#, "a, \"quoted\" note", "3"],
            [r#" [ {"b":"z","a":3} ] "#, "plain", "4"],
            [r#"[{"a":1,"b":"say \"hi\""}]"#, "escaped quote in the JSON", "5"],
            [r#"[{"a":1.5}]"#, "not an Int", "6"],
            [r#"[{"a":1}"#, "not JSON", "7"],
            [r#"[]"#, "", "8"],
            ["", "no list", "9"],
        ];
        for cells in rows {
            let mut line = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                crate::csv_text::push_field(&mut line, cell);
            }
            split.split(line.as_bytes()).expect("utf-8");
            let as_written = row_inputs(program, &header, &split, &mut RowStore::new());
            let unquoted = row_inputs(program, &header, &cells[..], &mut RowStore::new());
            assert_eq!(format!("{as_written:?}"), format!("{unquoted:?}"), "{line}");
        }
        split.split(br#""[{""a"":1}]",x,1"#).expect("utf-8");
        assert!(matches!(split.get(0), Some(crate::csv_text::CellText::Doubled(_))), "the JSON is kept as written");
    }

    #[test]
    fn memoised_calls_keep_the_nesting_limits() {
        use covenant_eval::{NoTrace, Recorder, Session};
        use std::fmt::Write as _;
        let mut text = String::from("input x: Int\ndecision d0(v: Int): Int = v + x\n");
        for i in 1..=300 {
            let _ = writeln!(text, "decision d{i}(v: Int): Int = d{}(v)", i - 1);
        }
        text.push_str("decision warm: Int = d100(1)\ndecision deep: Int = d300(1)\n");
        // A thread with room for the unoptimised evaluator's recursion.
        let run = move || {
            let compilation = crate::compile_text("deep.cov", &text);
            assert!(!compilation.has_errors(), "{:?}", compilation.diagnostics);
            let program = &compilation.program;
            let inputs = vec![Value::Num(Decimal::ONE)];
            let (warm, deep) =
                (program.find_decision("warm").expect("warm"), program.find_decision("deep").expect("deep"));
            let mut session = Session::new(program, inputs.clone());
            assert!(session.decision(warm, &mut NoTrace).is_ok());
            let memoised = session.decision(deep, &mut NoTrace).map_err(|e| e.code);
            let reference = Session::new(program, inputs).decision(deep, &mut Recorder::new()).map_err(|e| e.code);
            assert!(reference.is_err(), "the chain is deeper than the limits");
            assert_eq!(memoised, reference);
        };
        let worker = std::thread::Builder::new().stack_size(64 * 1024 * 1024).spawn(run).expect("thread");
        assert!(worker.join().is_ok());
    }

    /// `write_cell` writes exactly the text of `cell`, for every kind of value.
    #[test]
    fn cells_written_directly_match_cells() {
        let text = "enum E { A, B }\nrecord R { a: Int }\ninput i: Int\ninput m: Money\ninput p: Percent\n\
                    input d: Decimal\ninput e: E\ninput r: R\ninput l: list of Int\ninput w: Date\n\
                    input u: Duration\ninput t: Text\ninput b: Bool\ninput h: Money per hour\n\
                    decision x: Int = i\n";
        let compilation = crate::compile_text("cells.cov", text);
        assert!(!compilation.has_errors(), "{:?}", compilation.diagnostics);
        let program = &compilation.program;
        let ty = |name: &str| program.inputs.iter().find(|i| i.name == name).map(|i| i.ty.clone()).expect(name);
        let num = |s: &str| Value::Num(Decimal::from_str(s).expect("number"));
        let cases = [
            ("i", num("42")),
            ("i", num("-7.0")),
            ("i", num("12345678901234567890123")),
            ("m", num("1852.5")),
            ("m", num("-0.125")),
            ("m", num("2130.38")),
            ("p", num("0.15")),
            ("d", num("1.2300")),
            ("h", num("7.50")),
            ("e", Value::Enum(1)),
            ("r", Value::Record(Arc::from(vec![num("3")]))),
            ("l", Value::List(Arc::from(vec![num("1"), num("2")]))),
            ("w", Value::Date(covenant_ir::Date::parse("2015-04-01").expect("date"))),
            ("u", Value::Duration(covenant_ir::Duration { months: 18, days: 3 })),
            ("t", Value::Text(Arc::from("a, \"b\""))),
            ("b", Value::Bool(true)),
            ("i", Value::None(Arc::from("no row matched"))),
            ("t", Value::Enum(1)),
            ("t", num("1.50")),
        ];
        for (name, value) in cases {
            let ty = ty(name);
            let mut out = String::from("x");
            write_cell(program, &value, &ty, &mut out);
            assert_eq!(out, format!("x{}", cell(program, &value, &ty)), "{name} = {value:?}");
        }
    }
}
