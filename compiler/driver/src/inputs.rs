//! Validation of input JSON against the declared inputs, before anything is evaluated.
//!
//! Every problem names the field path (`person.ratings[3].rating`) so a user can find it.
//! Numbers are read exactly: JSON numbers keep their text (serde_json's
//! `arbitrary_precision`), so `12.10` is never a binary float on its way to a `Decimal`.

use covenant_ir::{Date, Duration, NumKind, Program, Ty, Value};
use rust_decimal::Decimal;
use serde_json::Value as Json;
use std::sync::Arc;

/// One problem with an input document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Where in the document: `person.ratings[3]`, or empty for the document itself.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// The reason carried by an optional input or field that was not given.
pub const NOT_GIVEN: &str = "not given";

/// Reads the values of all declared inputs, in declaration order, or every problem found.
pub fn read_inputs(program: &Program, document: &Json) -> Result<Vec<Value>, Vec<InputError>> {
    let mut errors = Vec::new();
    let Json::Object(map) = document else {
        return Err(vec![InputError {
            path: String::new(),
            message: format!("the input must be a JSON object with one field per input, found {}", kind(document)),
        }]);
    };
    let mut values = Vec::with_capacity(program.inputs.len());
    for input in &program.inputs {
        match map.get(&input.name) {
            None | Some(Json::Null) if input.optional => values.push(Value::None(Arc::from(NOT_GIVEN))),
            None => {
                errors.push(InputError {
                    path: input.name.clone(),
                    message: format!("missing input of type {}", program.type_name(&input.ty)),
                });
                values.push(Value::None(Arc::from(NOT_GIVEN)));
            }
            Some(json) => values.push(read_value(program, json, &input.ty, &input.name, &mut errors)),
        }
    }
    for key in map.keys() {
        if !program.inputs.iter().any(|i| &i.name == key) {
            let known: Vec<&str> = program.inputs.iter().map(|i| i.name.as_str()).collect();
            errors.push(InputError {
                path: key.clone(),
                message: format!(
                    "no input is declared with this name (declared: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            });
        }
    }
    if errors.is_empty() { Ok(values) } else { Err(errors) }
}

fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a text",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// A scalar as it arrives: a JSON text, number or boolean, or a CSV cell (text that may
/// stand for any scalar: `true`, `4`, `2015-04-01`, `Critical`).
#[derive(Clone, Copy)]
pub(crate) enum Scalar<'a> {
    Text(&'a str),
    Number(&'a str),
    Bool(bool),
    Cell(&'a str),
}

impl Scalar<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Scalar::Text(_) => "a text",
            Scalar::Number(_) => "a number",
            Scalar::Bool(_) => "a boolean",
            Scalar::Cell(_) => "a cell",
        }
    }

    /// The text of a text, number or cell (not of a boolean).
    fn text(&self) -> Option<&str> {
        match self {
            Scalar::Text(t) | Scalar::Number(t) | Scalar::Cell(t) => Some(trim(t)),
            Scalar::Bool(_) => None,
        }
    }
}

/// Reads a scalar of a declared type: the one set of rules for JSON cases and CSV cohorts.
pub(crate) fn read_scalar(program: &Program, ty: &Ty, scalar: Scalar<'_>) -> Result<Value, String> {
    match ty {
        Ty::Bool => match scalar {
            Scalar::Bool(b) => Ok(Value::Bool(b)),
            Scalar::Cell("true" | "TRUE" | "True") => Ok(Value::Bool(true)),
            Scalar::Cell("false" | "FALSE" | "False") => Ok(Value::Bool(false)),
            Scalar::Cell(c) => Err(format!("expected true or false, found `{c}`")),
            other => Err(format!("expected true or false, found {}", other.kind())),
        },
        Ty::Text => match scalar {
            Scalar::Text(t) | Scalar::Cell(t) => Ok(Value::Text(Arc::from(t))),
            other => Err(format!("expected a text, found {}", other.kind())),
        },
        Ty::Date => match scalar {
            Scalar::Text(t) | Scalar::Cell(t) => {
                Date::parse(trim(t)).map(Value::Date).ok_or_else(|| format!("`{t}` is not a date; write YYYY-MM-DD"))
            }
            other => Err(format!("expected a date as text (YYYY-MM-DD), found {}", other.kind())),
        },
        Ty::Duration => match scalar {
            Scalar::Text(t) | Scalar::Cell(t) => parse_duration(t).map(Value::Duration).ok_or_else(|| {
                format!("`{t}` is not a duration; write e.g. \"6 months\", \"2 weeks\" or \"1 year 6 months\"")
            }),
            other => Err(format!("expected a duration as text, found {}", other.kind())),
        },
        Ty::Num(n) => {
            let Some(text) = scalar.text() else { return Err(format!("expected {}, found {}", n, scalar.kind())) };
            match parse_number(text, n.kind) {
                Ok(d) if n.kind == NumKind::Int && d.scale() > 0 && !d.fract().is_zero() => {
                    Err(format!("expected a whole number, found `{text}`"))
                }
                Ok(d) => Ok(Value::Num(d)),
                Err(why) => Err(format!("`{text}` is not a valid {}: {why}", n)),
            }
        }
        Ty::Enum(id) => {
            let def = program.enum_def(*id);
            let by_code = |code: &str| {
                code.parse::<i64>().ok().and_then(|code| def.variants.iter().position(|v| v.code == Some(code)))
            };
            let found = match scalar {
                Scalar::Text(t) => def.variants.iter().position(|v| same_name(&v.name, t)),
                Scalar::Number(n) => by_code(n),
                Scalar::Cell(c) if c.chars().all(|ch| ch.is_ascii_digit()) => by_code(c),
                Scalar::Cell(c) => def.variants.iter().position(|v| same_name(&v.name, c)),
                Scalar::Bool(_) => None,
            };
            found.map(|i| Value::Enum(i as u32)).ok_or_else(|| {
                let names: Vec<&str> = def.variants.iter().map(|v| v.name.as_str()).collect();
                let shown = match scalar {
                    Scalar::Text(t) | Scalar::Cell(t) if !t.chars().all(|ch| ch.is_ascii_digit()) => format!("`{t}`"),
                    Scalar::Text(t) | Scalar::Number(t) | Scalar::Cell(t) => format!("code {t}"),
                    other => other.kind().to_string(),
                };
                format!("{shown} is not a {}; expected one of {}", def.name, names.join(", "))
            })
        }
        Ty::Record(_) | Ty::List(_) => Err(format!("expected {}, found {}", program.type_name(ty), scalar.kind())),
        Ty::Error => Err("this input's type has an error".to_string()),
    }
}

/// Whether two names are the same. Names of variants and fields are short and mostly differ
/// in their first bytes, so comparing byte by byte in place is quicker than a call to compare
/// memory for each candidate.
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

pub(crate) fn read_value(program: &Program, json: &Json, ty: &Ty, path: &str, errors: &mut Vec<InputError>) -> Value {
    let mut fail = |message: String| {
        errors.push(InputError { path: path.to_string(), message });
        Value::None(Arc::from("invalid input"))
    };
    match ty {
        Ty::Record(_) | Ty::List(_) | Ty::Error => {}
        _ => {
            let number;
            let scalar = match json {
                Json::String(s) => Scalar::Text(s),
                Json::Number(n) => {
                    number = n.to_string();
                    Scalar::Number(&number)
                }
                Json::Bool(b) => Scalar::Bool(*b),
                other => return fail(format!("expected {}, found {}", program.type_name(ty), kind(other))),
            };
            return read_scalar(program, ty, scalar).unwrap_or_else(fail);
        }
    }
    match ty {
        Ty::Record(id) => {
            let def = program.record_def(*id);
            let Json::Object(map) = json else {
                return fail(format!("expected a {} object, found {}", def.name, kind(json)));
            };
            let mut fields = Vec::with_capacity(def.fields.len());
            for f in &def.fields {
                let field_path = format!("{path}.{}", f.name);
                match map.get(&f.name) {
                    None | Some(Json::Null) if f.optional => fields.push(Value::None(Arc::from(NOT_GIVEN))),
                    None => {
                        errors.push(InputError {
                            path: field_path,
                            message: format!("missing field of type {}", program.type_name(&f.ty)),
                        });
                        fields.push(Value::None(Arc::from(NOT_GIVEN)));
                    }
                    Some(v) => fields.push(read_value(program, v, &f.ty, &field_path, errors)),
                }
            }
            for key in map.keys() {
                if !def.fields.iter().any(|f| &f.name == key) {
                    let names: Vec<&str> = def.fields.iter().map(|f| f.name.as_str()).collect();
                    errors.push(InputError {
                        path: format!("{path}.{key}"),
                        message: format!("{} has no such field (fields: {})", def.name, names.join(", ")),
                    });
                }
            }
            Value::Record(Arc::from(fields))
        }
        Ty::List(inner) => {
            let Json::Array(items) = json else {
                return fail(format!("expected a list, found {}", kind(json)));
            };
            let values: Vec<Value> = items
                .iter()
                .enumerate()
                .map(|(i, item)| read_value(program, item, inner, &format!("{path}[{i}]"), errors))
                .collect();
            Value::List(Arc::from(values))
        }
        Ty::Error => fail("this input's type has an error".to_string()),
        // Scalars were read above.
        _ => Value::None(Arc::from("invalid input")),
    }
}

/// Reads a list or record written as JSON text (a CSV cell) straight into a value, without
/// building a JSON tree. It accepts only plain JSON it can read exactly as [`read_value`]
/// would after `serde_json` (no escapes in strings, no exponents, no duplicate keys, every
/// value valid for its type) and gives `None` for anything else, so the caller then takes
/// the full path, which gives the same values and the same errors with their field paths.
/// `variants` (built once for a run) finds enum variants by name without trying each in turn;
/// `store` gives the lists and records their storage.
pub(crate) fn read_json_cell(
    program: &Program,
    text: &str,
    ty: &Ty,
    variants: Option<&VariantNames>,
    store: &mut RowStore,
    quotes: Quotes,
) -> Option<Value> {
    let base = store.values.len();
    // One reader for each way of writing quotes, so that a quote is compared in place.
    let (value, complete) = match quotes {
        Quotes::Single => JsonCell::<1> { text, at: 0, depth: 0, store, variants }.read(program, ty),
        Quotes::Doubled => JsonCell::<2> { text, at: 0, depth: 0, store, variants }.read(program, ty),
    };
    // A cell given up part way leaves the values it had read.
    store.values.truncate(base);
    if base == 0 && store.values.capacity() > MAX_KEPT_VALUES {
        store.values = Vec::new();
    }
    value.filter(|_| complete)
}

/// How the double quotes of JSON text are written: as themselves, or each doubled (JSON in a
/// quoted CSV cell, as written between the cell's quotes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quotes {
    Single,
    Doubled,
}

/// What reading rows keeps from one row to the next, so that a cohort's rows, which have the
/// same shape, are read without allocating: the lists and records of the rows before that
/// nothing holds any more, kept by length to be filled with a later row's values; the buffer
/// of values being read; and the reason shared by every optional input not given.
#[derive(Debug)]
pub struct RowStore {
    /// Unshared storage, by its length (lists and records of up to [`MAX_SPARE_LENGTH`]).
    spare: Vec<Vec<Arc<[Value]>>>,
    /// How many are kept in all.
    kept: usize,
    /// The fields and elements being read, innermost last (one buffer for every level).
    values: Vec<Value>,
    /// The inputs of the last row given back, emptied.
    row: Vec<Value>,
    not_given: Arc<str>,
}

/// The longest list or record whose storage is kept.
const MAX_SPARE_LENGTH: usize = 64;
/// The most lists and records kept.
const MAX_SPARE: usize = 1024;
/// The largest buffer of values kept between rows.
const MAX_KEPT_VALUES: usize = 4096;

impl Default for RowStore {
    fn default() -> RowStore {
        RowStore::new()
    }
}

impl RowStore {
    pub fn new() -> RowStore {
        RowStore { spare: Vec::new(), kept: 0, values: Vec::new(), row: Vec::new(), not_given: Arc::from(NOT_GIVEN) }
    }

    /// Takes back a row's inputs once it is finished: the storage of their lists and records
    /// that nothing else holds (a result may still hold one) is filled by the next rows.
    pub fn give_back(&mut self, mut inputs: Vec<Value>) {
        for value in inputs.drain(..) {
            self.keep(value);
        }
        if inputs.capacity() <= MAX_KEPT_VALUES {
            self.row = inputs;
        }
    }

    fn keep(&mut self, value: Value) {
        let (Value::List(mut shared) | Value::Record(mut shared)) = value else { return };
        let Some(items) = Arc::get_mut(&mut shared) else { return };
        for item in items.iter_mut() {
            if matches!(item, Value::List(_) | Value::Record(_)) {
                let inner = std::mem::replace(item, Value::Bool(false));
                self.keep(inner);
            }
        }
        let length = shared.len();
        if length <= MAX_SPARE_LENGTH && self.kept < MAX_SPARE {
            if self.spare.len() <= length {
                self.spare.resize_with(length + 1, Vec::new);
            }
            self.spare[length].push(shared);
            self.kept += 1;
        }
    }

    /// An empty vector for a row's inputs: the last one given back, if any.
    pub(crate) fn row(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.row)
    }

    /// The values read from `base` on, taken from the buffer as one list's or record's
    /// storage: kept storage of that length if there is some.
    pub(crate) fn share(&mut self, base: usize) -> Arc<[Value]> {
        let length = self.values.len().saturating_sub(base);
        if let Some(mut shared) = self.spare.get_mut(length).and_then(Vec::pop) {
            self.kept -= 1;
            if let Some(items) = Arc::get_mut(&mut shared) {
                // The new values go in, and the old ones (those of a row before) are dropped.
                items.swap_with_slice(&mut self.values[base..]);
                self.values.truncate(base);
                return shared;
            }
        }
        self.values.drain(base..).collect()
    }

    /// The value of an optional input or field not given.
    #[inline]
    pub(crate) fn not_given(&self) -> Value {
        Value::None(self.not_given.clone())
    }

    #[inline]
    pub(crate) fn push(&mut self, value: Value) {
        self.values.push(value);
    }

    #[inline]
    pub(crate) fn depth(&self) -> usize {
        self.values.len()
    }
}

/// Nesting deeper than this is left to `serde_json` (which has its own limit).
const MAX_JSON_CELL_DEPTH: u32 = 64;

/// Records with more fields than this are left to `serde_json` (the fields read are one bit
/// each of a `u64`).
const MAX_JSON_CELL_FIELDS: usize = 64;

/// For every enum, the variant whose name has each length and last byte (the first such
/// variant): most enums' names differ there, so a name read from a cell is found with one
/// comparison, and any other by trying each variant in turn.
#[derive(Debug, Clone, Default)]
pub struct VariantNames {
    by_enum: Vec<Box<[u32]>>,
}

const NO_VARIANT: u32 = u32::MAX;

impl VariantNames {
    pub fn new(program: &Program) -> VariantNames {
        let by_enum = program
            .enums
            .iter()
            .map(|def| {
                let mut slots = vec![NO_VARIANT; 256].into_boxed_slice();
                for (index, variant) in def.variants.iter().enumerate() {
                    let slot = &mut slots[variant_slot(&variant.name)];
                    if *slot == NO_VARIANT {
                        *slot = u32::try_from(index).unwrap_or(NO_VARIANT);
                    }
                }
                slots
            })
            .collect();
        VariantNames { by_enum }
    }

    /// The index of the variant of enum `id` named `name`, when it is the one its slot holds.
    #[inline]
    pub(crate) fn find(&self, program: &Program, id: covenant_ir::EnumId, name: &str) -> Option<u32> {
        let index = *self.by_enum.get(id.0 as usize)?.get(variant_slot(name))?;
        let variant = program.enums.get(id.0 as usize)?.variants.get(index as usize)?;
        same_name(&variant.name, name).then_some(index)
    }
}

#[inline]
fn variant_slot(name: &str) -> usize {
    usize::from(name.as_bytes().last().copied().unwrap_or(0) ^ (name.len() as u8).wrapping_mul(37))
}

/// Reads JSON text whose double quotes are each written `QUOTE` times (1, or 2 in a quoted
/// CSV cell as written).
struct JsonCell<'t, const QUOTE: usize> {
    variants: Option<&'t VariantNames>,
    text: &'t str,
    at: usize,
    depth: u32,
    /// Where the elements of the lists and fields of the records being read go.
    store: &'t mut RowStore,
}

impl<'t, const QUOTE: usize> JsonCell<'t, QUOTE> {
    /// The value of the whole text, and whether nothing but white space follows it.
    fn read(mut self, program: &Program, ty: &Ty) -> (Option<Value>, bool) {
        let value = self.value(program, ty);
        self.space();
        (value, self.at == self.text.len())
    }

    /// Whether a double quote (as written) starts at `at`.
    #[inline(always)]
    fn quote_at(&self, at: usize) -> bool {
        (0..QUOTE).all(|i| self.text.as_bytes().get(at + i) == Some(&b'"'))
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Skips white space, then takes `byte` if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.space();
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn word(&mut self, word: &str) -> bool {
        if self.text.as_bytes().get(self.at..self.at + word.len()) == Some(word.as_bytes()) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    /// Takes a double quote (as written) if it is next.
    #[inline(always)]
    fn quote(&mut self) -> bool {
        let found = self.quote_at(self.at);
        if found {
            self.at += QUOTE;
        }
        found
    }

    /// A string without escapes or control characters (the text between the quotes). The
    /// text ends at the first quote, which when quotes are doubled must be a doubled one.
    #[inline]
    fn string(&mut self) -> Option<&'t str> {
        self.space();
        if !self.quote() {
            return None;
        }
        let start = self.at;
        let rest = self.text.as_bytes().get(start..)?;
        // One pass to the first byte that ends the plain text (a tight loop: cells hold many
        // short strings).
        let length = rest.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[length] != b'"' {
            return None;
        }
        self.at = start + length;
        let s = self.text.get(start..self.at)?;
        self.quote().then_some(s)
    }

    /// Takes `"name"` if it is next: the key expected, compared where it is written.
    fn quoted(&mut self, name: &str) -> bool {
        let end = self.at + name.len() + 2 * QUOTE;
        let found = self.quote_at(self.at)
            && self.text.as_bytes().get(self.at + QUOTE..end - QUOTE) == Some(name.as_bytes())
            && self.quote_at(end - QUOTE);
        if found {
            self.at = end;
        }
        found
    }

    /// A number as JSON writes it, without an exponent: `-?(0|[1-9][0-9]*)(\.[0-9]+)?`.
    fn number(&mut self) -> Option<&'t str> {
        let start = self.at;
        let bytes = self.text.as_bytes();
        let digits = |at: &mut usize| {
            let from = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at - from
        };
        if bytes.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        let first = self.at;
        let whole = digits(&mut self.at);
        if whole == 0 || (whole > 1 && bytes.get(first) == Some(&b'0')) {
            return None;
        }
        if bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if digits(&mut self.at) == 0 {
                return None;
            }
        }
        if matches!(bytes.get(self.at), Some(b'e' | b'E')) {
            return None;
        }
        self.text.get(start..self.at)
    }

    fn value(&mut self, program: &Program, ty: &Ty) -> Option<Value> {
        self.space();
        match ty {
            Ty::Record(id) => {
                self.depth += 1;
                if self.depth > MAX_JSON_CELL_DEPTH {
                    return None;
                }
                let value = self.record(program, *id);
                self.depth -= 1;
                value
            }
            Ty::List(inner) => {
                self.depth += 1;
                if self.depth > MAX_JSON_CELL_DEPTH {
                    return None;
                }
                let value = self.list(program, inner);
                self.depth -= 1;
                value
            }
            Ty::Error => None,
            _ => {
                let scalar = match self.peek()? {
                    b'"' => Scalar::Text(self.string()?),
                    b't' if self.word("true") => Scalar::Bool(true),
                    b'f' if self.word("false") => Scalar::Bool(false),
                    b'-' | b'0'..=b'9' => Scalar::Number(self.number()?),
                    _ => return None,
                };
                // The usual cells of a cohort, read as `read_scalar` reads them, without its
                // checks for text a JSON number or string cannot hold.
                match (ty, scalar) {
                    (Ty::Enum(id), Scalar::Text(name)) => {
                        match self.variants.and_then(|variants| variants.find(program, *id, name)) {
                            Some(index) => Some(Value::Enum(index)),
                            None => {
                                let variants = &program.enum_def(*id).variants;
                                variants.iter().position(|v| same_name(&v.name, name)).map(|i| Value::Enum(i as u32))
                            }
                        }
                    }
                    (Ty::Num(n), Scalar::Number(digits)) if n.kind != NumKind::Percent && is_short_whole(digits) => {
                        let whole = digits.bytes().fold(0u64, |n, digit| n * 10 + u64::from(digit - b'0'));
                        Some(Value::Num(Decimal::from(whole)))
                    }
                    (_, scalar) => read_scalar(program, ty, scalar).ok(),
                }
            }
        }
    }

    /// A record, its fields in any order. In declaration order (the usual case) each value
    /// is put in place as it is read; a field read after a later one replaces the stand-in
    /// left for it.
    fn record(&mut self, program: &Program, id: covenant_ir::RecordId) -> Option<Value> {
        let def = program.record_def(id);
        if def.fields.len() > MAX_JSON_CELL_FIELDS || !self.eat(b'{') {
            return None;
        }
        let base = self.store.values.len();
        // The fields read (one bit each), and the index of the next in declaration order.
        let (mut given, mut next) = (0u64, 0);
        if !self.eat(b'}') {
            loop {
                self.space();
                let index = match def.fields.get(next) {
                    Some(field) if self.quoted(&field.name) => next,
                    _ => {
                        let key = self.string()?;
                        def.fields.iter().position(|f| same_name(&f.name, key))?
                    }
                };
                if given & (1 << index) != 0 || !self.eat(b':') {
                    return None;
                }
                given |= 1 << index;
                let field = &def.fields[index];
                self.space();
                let value = if field.optional && self.word("null") {
                    self.store.not_given()
                } else {
                    self.value(program, &field.ty)?
                };
                if index >= next {
                    // Stand-ins for the fields passed over, read later or left out.
                    for _ in next..index {
                        self.store.values.push(Value::Bool(false));
                    }
                    self.store.values.push(value);
                    next = index + 1;
                } else {
                    self.store.values[base + index] = value;
                }
                if self.eat(b',') {
                    continue;
                }
                if self.eat(b'}') {
                    break;
                }
                return None;
            }
        }
        for _ in next..def.fields.len() {
            self.store.values.push(Value::Bool(false));
        }
        if given.count_ones() as usize != def.fields.len() {
            // Fields left out are not given, if they are optional.
            for (index, field) in def.fields.iter().enumerate() {
                if given & (1 << index) == 0 {
                    if !field.optional {
                        return None;
                    }
                    self.store.values[base + index] = self.store.not_given();
                }
            }
        }
        Some(Value::Record(self.store.share(base)))
    }

    fn list(&mut self, program: &Program, inner: &Ty) -> Option<Value> {
        if !self.eat(b'[') {
            return None;
        }
        let base = self.store.values.len();
        if !self.eat(b']') {
            loop {
                let item = self.value(program, inner)?;
                self.store.values.push(item);
                if self.eat(b',') {
                    continue;
                }
                if self.eat(b']') {
                    break;
                }
                return None;
            }
        }
        Some(Value::List(self.store.share(base)))
    }
}

/// Parses an exact decimal. Money may carry `£` and thousands commas; a percentage may be
/// written `15%` (a plain number is taken as percentage points too: `15` is 15%).
pub fn parse_number(text: &str, kind: NumKind) -> Result<Decimal, String> {
    // Plain digits (no `£` or commas) need no rewriting: read them without copying.
    let trimmed = trim(text);
    // A percentage written `15%` is read the same way, without the sign.
    let plain = if is_plain_number(trimmed) {
        Some(trimmed)
    } else if kind == NumKind::Percent {
        trimmed.strip_suffix('%').filter(|digits| is_plain_number(digits))
    } else {
        None
    };
    if let Some(plain) = plain {
        // Short whole numbers (the usual case) without the general decimal parser: the
        // same value, scale 0, as `from_str_exact` gives.
        let small = if is_short_whole(plain) { plain.parse::<u64>().ok().map(Decimal::from) } else { None };
        let d = match small {
            Some(d) => Ok(d),
            None => Decimal::from_str_exact(plain),
        }
        .map_err(|_| "not a number that can be represented exactly (at most 28 significant digits)".to_string())?;
        if kind == NumKind::Percent {
            return d.checked_div(Decimal::ONE_HUNDRED).ok_or_else(|| "too large".to_string());
        }
        return Ok(d);
    }
    let mut t = trimmed.to_string();
    if kind == NumKind::Money {
        t = t.replacen('£', "", 1);
        if !covenant_syntax::commas_group_thousands(&t) {
            return Err("commas must group thousands, as in 1,234.50".into());
        }
        t = t.replace(',', "");
    }
    let percent = kind == NumKind::Percent;
    if percent {
        t = t.trim_end_matches('%').trim().to_string();
    }
    if !is_plain_number(&t) {
        return Err("not a number; write plain digits, like 12.50".into());
    }
    let d = Decimal::from_str_exact(&t)
        .map_err(|_| "not a number that can be represented exactly (at most 28 significant digits)".to_string())?;
    if percent {
        return d.checked_div(Decimal::ONE_HUNDRED).ok_or_else(|| "too large".to_string());
    }
    Ok(d)
}

/// An optional `-`, then digits with at most one `.` among them.
/// Digits only, few enough to fit a `u64` whatever they are.
fn is_short_whole(t: &str) -> bool {
    (1..=18).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
}

fn is_plain_number(t: &str) -> bool {
    let digits = t.strip_prefix('-').unwrap_or(t);
    let (mut points, mut any_digit) = (0, false);
    for byte in digits.bytes() {
        match byte {
            b'0'..=b'9' => any_digit = true,
            b'.' => points += 1,
            _ => return false,
        }
    }
    any_digit && points <= 1
}

/// `str::trim`, at once for text that starts and ends with a visible ASCII character (nearly
/// every cell of a cohort).
#[inline]
pub(crate) fn trim(text: &str) -> &str {
    let visible = |byte: Option<&u8>| byte.is_some_and(|b| (b'!'..=b'~').contains(b));
    if visible(text.as_bytes().first()) && visible(text.as_bytes().last()) { text } else { text.trim() }
}

/// Parses `6 months`, `2 weeks`, `1 year 6 months`, `10 days`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return None;
    }
    let mut total = Duration::default();
    for pair in words.chunks(2) {
        let n: i32 = pair[0].parse().ok()?;
        let part = match pair[1].trim_end_matches('s') {
            "day" => Duration { months: 0, days: n },
            "week" => Duration { months: 0, days: n.checked_mul(7)? },
            "month" => Duration { months: n, days: 0 },
            "year" => Duration { months: n.checked_mul(12)?, days: 0 },
            _ => return None,
        };
        total = total.checked_add(part)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_exact_and_money_may_be_written_as_people_do() {
        assert_eq!(parse_number("£1,234.50", NumKind::Money).map(|d| d.to_string()), Ok("1234.50".to_string()));
        assert_eq!(parse_number("15%", NumKind::Percent).map(|d| d.to_string()), Ok("0.15".to_string()));
        assert!(parse_number("1e3", NumKind::Decimal).is_err());
        assert!(parse_number("12,34", NumKind::Money).is_err());
        assert!(parse_number(",5", NumKind::Money).is_err());
        assert_eq!(parse_number("-£1,000", NumKind::Money).map(|d| d.to_string()), Ok("-1000".to_string()));
        assert!(parse_number("12.x", NumKind::Decimal).is_err());
        assert!(parse_number("99999999999999999999999999999999", NumKind::Decimal).is_err());
    }

    /// The direct reader of JSON cells gives exactly what serde_json and `read_value` give,
    /// or declines (and then the full path decides, errors included).
    #[test]
    fn json_cells_read_directly_match_the_full_path() {
        let text = "enum Item { H1 = 1, H2 = 2, A }\n\
                    record R { item: Item, rating: Int, amount: Money, share: Percent, ok: Bool, \
                    label: Text, when: optional Date, d: optional Duration, x: optional Decimal }\n\
                    input xs: list of R\ninput r: R\ndecision n: Int = count(x for x in xs)\n";
        let compilation = crate::compile_text("cells.cov", text);
        assert!(!compilation.has_errors(), "{:?}", compilation.diagnostics);
        let program = &compilation.program;
        let list = program.inputs[0].ty.clone();
        let record = program.inputs[1].ty.clone();
        let plain = r#"{"item":"H1","rating":3,"amount":"12.50","share":"15%","ok":true,"label":"a b","when":"2015-04-01","d":"2 weeks","x":1.50}"#;
        let cases = [
            (record.clone(), plain.to_string(), true),
            (record.clone(), r#" { "rating" : -0 , "item" : 2, "amount": 12.5, "share": 0.5, "ok": false, "label": "é", "x": null } "#.to_string(), true),
            (record.clone(), r#"{"item":"A","rating":0,"amount":"£1,234.50","share":"-25%","ok":false,"label":""}"#.to_string(), true),
            (record.clone(), r#"{"x":2,"label":"b","ok":true,"share":"1%","amount":"3","rating":1,"item":"H2"}"#.to_string(), true),
            (list.clone(), format!("[{plain}, {plain}]"), true),
            (list.clone(), "[]".to_string(), true),
            (list.clone(), " [ ] ".to_string(), true),
            // Declined: the full path decides.
            (record.clone(), plain.replace("\"a b\"", "\"a\\nb\""), false),
            (record.clone(), plain.replace("\"a b\"", "\"a\tb\""), false),
            (record.clone(), r#"{"item":"H1"#.to_string(), false),
            (record.clone(), plain.replace("1.50", "1.5e1"), false),
            (record.clone(), plain.replace("\"rating\":3", "\"rating\":03"), false),
            (record.clone(), plain.replace("\"rating\":3", "\"rating\":3.5"), false),
            (record.clone(), plain.replace("\"rating\":3", "\"rating\":3,\"rating\":4"), false),
            (record.clone(), plain.replace("\"item\":\"H1\",", "").replace("\"x\":1.50", "\"x\":1.50,\"item\":\"A\",\"x\":2"), false),
            (record.clone(), plain.replace("\"rating\":3,", ""), false),
            (record.clone(), plain.replace("\"rating\":3", "\"rating\":null"), false),
            (record.clone(), plain.replace("\"rating\":3", "\"extra\":1,\"rating\":3"), false),
            (record.clone(), plain.replace("\"H1\"", "\"H9\""), false),
            (record.clone(), plain.replace("true", "tru"), false),
            (record.clone(), format!("{plain},"), false),
            (record.clone(), format!("{plain} x"), false),
            (list.clone(), format!("[{plain},]"), false),
            (list.clone(), format!("[{plain}"), false),
            (list.clone(), plain.to_string(), false),
            (record.clone(), "1".to_string(), false),
            (record, "{".to_string(), false),
            (list, "[1]".to_string(), false),
        ];
        for (ty, text, direct) in &cases {
            let fast = read_json_cell(program, text, ty, None, &mut RowStore::new(), Quotes::Single);
            assert_eq!(fast.is_some(), *direct, "{text}");
            let named = read_json_cell(
                program,
                text,
                ty,
                Some(&VariantNames::new(program)),
                &mut RowStore::new(),
                Quotes::Single,
            );
            assert_eq!(format!("{named:?}"), format!("{fast:?}"), "{text}");
            // Written with its quotes doubled, as between a CSV cell's quotes, it reads the same.
            let written = text.replace('"', "\"\"");
            let doubled = read_json_cell(program, &written, ty, None, &mut RowStore::new(), Quotes::Doubled);
            assert_eq!(format!("{doubled:?}"), format!("{fast:?}"), "{written}");
            // A quote left single where it should be doubled is not read past.
            for single in written.match_indices("\"\"").map(|(at, _)| at) {
                let mut broken = written.clone();
                broken.remove(single);
                let read = read_json_cell(program, &broken, ty, None, &mut RowStore::new(), Quotes::Doubled);
                assert_eq!(read, None, "{broken}");
            }
            let mut errors = Vec::new();
            let slow = serde_json::from_str::<Json>(text).map(|json| read_value(program, &json, ty, "c", &mut errors));
            if let Some(fast) = fast {
                let slow = slow.expect("valid JSON");
                assert!(errors.is_empty(), "{text}: {errors:?}");
                // Debug shows every digit and scale, so `1.50` and `1.5` would differ.
                assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{text}");
            }
        }
    }

    /// Storage given back is filled with the next row's values (the same allocation), and
    /// storage something still holds is left alone.
    #[test]
    fn storage_given_back_is_filled_again_unless_something_holds_it() {
        let text = "record R { a: Int }\ninput rs: list of R\ndecision n: Int = count(r for r in rs)\n";
        let compilation = crate::compile_text("store.cov", text);
        assert!(!compilation.has_errors(), "{:?}", compilation.diagnostics);
        let program = &compilation.program;
        let ty = program.inputs[0].ty.clone();
        let place = |value: &Value| match value {
            Value::List(items) => Arc::as_ptr(items).cast::<Value>() as usize,
            other => panic!("not a list: {other:?}"),
        };
        let ints = |value: &Value| format!("{value:?}");
        let mut store = RowStore::new();
        let first =
            read_json_cell(program, r#"[{"a":1},{"a":2}]"#, &ty, None, &mut store, Quotes::Single).expect("first");
        let first_place = place(&first);
        store.give_back(vec![first]);
        assert_eq!(store.kept, 3, "the list and its two records");
        let second =
            read_json_cell(program, r#"[{"a":3},{"a":4}]"#, &ty, None, &mut store, Quotes::Single).expect("second");
        assert_eq!(place(&second), first_place, "the list's storage is filled again");
        assert_eq!(store.kept, 0);
        let fresh = read_json_cell(program, r#"[{"a":3},{"a":4}]"#, &ty, None, &mut RowStore::new(), Quotes::Single);
        assert_eq!(Some(ints(&second)), fresh.as_ref().map(ints));
        let held = second.clone();
        store.give_back(vec![second]);
        assert_eq!(store.kept, 0, "a list something holds is not kept, nor the records in it");
        let third =
            read_json_cell(program, r#"[{"a":5},{"a":6}]"#, &ty, None, &mut store, Quotes::Single).expect("third");
        assert_ne!(place(&third), place(&held));
        assert_eq!(Some(ints(&held)), fresh.as_ref().map(ints), "what is held is not written over");
    }

    /// Variants whose names share a length and last byte (so share a slot) are still told
    /// apart: the slot's variant is checked by name, and any other found in turn.
    #[test]
    fn variants_sharing_a_slot_are_read_by_name() {
        let text = "enum Code { AB, CB, B, DB, Q }\ninput xs: list of Code\ndecision n: Int = count(x for x in xs)\n";
        let compilation = crate::compile_text("codes.cov", text);
        assert!(!compilation.has_errors(), "{:?}", compilation.diagnostics);
        let program = &compilation.program;
        let ty = program.inputs[0].ty.clone();
        let names = VariantNames::new(program);
        let read = read_json_cell(
            program,
            r#"["AB","CB","B","DB","Q","DB","AB"]"#,
            &ty,
            Some(&names),
            &mut RowStore::new(),
            Quotes::Single,
        );
        let expected: Vec<Value> = [0, 1, 2, 3, 4, 3, 0].into_iter().map(Value::Enum).collect();
        assert_eq!(read, Some(Value::List(expected.into())));
        assert_eq!(
            read_json_cell(program, r#"["EB"]"#, &ty, Some(&names), &mut RowStore::new(), Quotes::Single),
            None,
            "not a variant"
        );
    }

    #[test]
    fn short_whole_numbers_read_as_the_decimal_parser_reads_them() {
        for text in ["0", "7", "007", "42", "999999999999999999", "1000000000000000000", "-0", "-3", "3.0", "0.50"] {
            for kind in [NumKind::Int, NumKind::Decimal, NumKind::Money, NumKind::Percent] {
                let exact = Decimal::from_str_exact(text).expect("decimal");
                let exact = if kind == NumKind::Percent { exact / Decimal::ONE_HUNDRED } else { exact };
                let read = parse_number(text, kind).expect("number");
                assert_eq!(read.serialize(), exact.serialize(), "{text} as {kind:?}");
            }
            // Written with a percent sign, read as the same percentage, however the sign is set.
            let exact = Decimal::from_str_exact(text).expect("decimal") / Decimal::ONE_HUNDRED;
            for written in [format!("{text}%"), format!("{text}%%"), format!(" {text} % ")] {
                let read = parse_number(&written, NumKind::Percent).expect("percentage");
                assert_eq!(read.serialize(), exact.serialize(), "{written}");
            }
        }
    }

    #[test]
    fn durations_in_words() {
        assert_eq!(parse_duration("1 year 6 months"), Some(Duration { months: 18, days: 0 }));
        assert_eq!(parse_duration("2 weeks"), Some(Duration { months: 0, days: 14 }));
        assert_eq!(parse_duration("soon"), None);
    }
}
