//! Rules compiled to Rust: the generator ([`emit`]) and the runtime the generated code calls.
//!
//! `covenant emit-rust FILE` writes a Rust module with one function per decision, table and
//! param of a program (see `spec/cli.md`). Built into a program with this crate, it
//! computes a row's decisions without the interpreter's dispatch, and hands the row back
//! ([`Decided::HandedBack`]) on anything unusual, for the host to evaluate with a
//! [`Session`](crate::Session). So results are the interpreter's by construction:
//! - Every operation is the one the interpreter performs, from this module: the same checked
//!   `Decimal` arithmetic, comparisons, rounding and table indexes; rows selected by generated
//!   code are tested in the order and under the hit policy of `ops::select_among`.
//! - "No value" travels as [`Stop::Absent`] with the number of its reason, and is accepted
//!   exactly where the interpreter accepts it (`otherwise`, `is none`, a `let`, an argument,
//!   a rule's or a branch's value, a count, a record or list item, a decision asked for);
//!   everywhere else the interpreter reports E0503, and the generated code hands the row
//!   back ([`Stop::Back`]).
//! - No version of a dated reference valid on the date (E0512) is the one error generated
//!   code gives itself ([`Decided::Failed`], [`Base::error`]): it is the error the
//!   interpreter gives, with its message, location, labels and note, because generated code
//!   evaluates the same nodes in the same order, stops at the first error as the
//!   interpreter does, and hands back every row on which anything before it stopped. Any
//!   other error (overflow, division by zero, two rows of a `hit unique` table, conflicting
//!   rules) hands the row back, so errors are the interpreter's, with its messages and
//!   locations.
//! - The generator takes only programs whose decisions nest at most [`emit::MAX_LEVELS`]
//!   nodes deep through every call, so no row succeeds natively that would fail in the
//!   interpreter on its nesting limits (E0508).
//! - The generated module carries the [`fingerprint`] of the program it was generated from;
//!   [`Module::check`] refuses any other program.

pub mod emit;
mod levels;

use crate::error::{EvalError, code};
use crate::index::{GridHit, Indexes};
use crate::ops::{self, Selected};
use crate::session::{no_version, no_version_message, own_copy};
use covenant_ir::hash::FxBuild;
use covenant_ir::{Builtin, HitPolicy, NodeKind, Program, Span, TableId, Value, VersionArm};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

pub use covenant_ir::Value as Val;
pub use covenant_ir::{BinOp, Date, DecisionId, Duration, day_within};
pub use rust_decimal::{Decimal, RoundingStrategy};

/// The reason number of a "no value" read from the inputs, whose text is not kept.
pub const UNKNOWN: u32 = u32::MAX;

/// Why generated code did not give a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// No value, and the number of its reason in the module's `REASONS` ([`UNKNOWN`] for one
    /// read from the inputs).
    Absent(u32),
    /// Something the interpreter must do: the row is handed back.
    Back,
}

/// A value, or why there is none.
pub type R<T> = Result<T, Stop>;

/// What the generated `decide` did with a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    /// Every decision asked for has its value, appended in order.
    Values,
    /// The interpreter must evaluate the row; nothing was appended.
    HandedBack,
    /// The decision fails with the error [`Base::error`] gives, the one the interpreter
    /// gives for it; nothing was appended.
    Failed(DecisionId),
}

/// An error generated code found, kept by the [`Base`] until the row's end: no version of
/// dated reference `node` is valid on `date` (E0512).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Failure {
    node: u32,
    date: Date,
}

/// The most error messages a [`Base`] keeps: rows of a cohort often fail the same way, but a
/// year of daily dates in the gaps of two dated tables is already 700 messages (the housing
/// cohort). At most about 0.5 MB.
const KEPT_ERRORS: usize = 4096;

/// A failing row's error in brief, as the interpreter gives it: what `covenant batch`
/// writes of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Brief<'a> {
    pub code: &'static str,
    pub message: &'a str,
    pub span: Span,
}

/// The fingerprint of a program: generated code runs only on the program it was generated
/// from (FNV-1a over its JSON form, which holds every node and span, without the files'
/// names, so that it does not depend on the directory the rules are compiled from). The JSON
/// is hashed as it is written, so checking a module at the start of a run neither copies the
/// program nor builds its text.
pub fn fingerprint(program: &Program) -> u64 {
    // `files` is the program's first field, so its JSON starts `{"files":[…]`: the hash takes
    // `{"files":[]` in its place, then the rest as written (the unit test below checks this
    // against the JSON of the program with its names emptied).
    let names = serde_json::to_string(&program.files).unwrap_or_default();
    let mut hash = Fnv { hash: 0xcbf2_9ce4_8422_2325, skip: 0 };
    hash.add(b"{\"files\":[]");
    hash.skip = "{\"files\":".len() + names.len();
    // Writing to a hash cannot fail, and every part of a program serialises.
    let _ = serde_json::to_writer(&mut hash, program);
    hash.hash
}

/// FNV-1a, 64 bits, fed the bytes written to it after the first `skip`.
struct Fnv {
    hash: u64,
    skip: usize,
}

impl Fnv {
    fn add(&mut self, bytes: &[u8]) {
        self.hash = bytes.iter().fold(self.hash, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3));
    }
}

impl std::io::Write for Fnv {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let skipped = self.skip.min(bytes.len());
        self.skip -= skipped;
        self.add(&bytes[skipped..]);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A value that must be there: "no value" is an error the interpreter reports.
#[inline(always)]
pub fn strict<T>(result: R<T>) -> R<T> {
    result.map_err(|_| Stop::Back)
}

/// A value that may have none: only [`Stop::Back`] stops (with `?`).
#[inline(always)]
pub fn slot<T>(result: R<T>) -> Result<R<T>, Stop> {
    match result {
        Err(Stop::Back) => Err(Stop::Back),
        other => Ok(other),
    }
}

/// A place holding a value (an input, a field, a bound local, a struct of the inputs) by
/// reference.
#[inline(always)]
pub fn as_ref<T>(owned: &R<T>) -> R<&T> {
    match owned {
        Ok(v) => Ok(v),
        Err(stop) => Err(*stop),
    }
}

/// The kinds of value generated code computes with: a truth value, a number, an enum
/// variant's index, and any other value as a [`Value`].
pub trait Kind: Sized + Clone {
    /// Reads a value of this kind (`Value::None` is absent; a value of another kind is the
    /// interpreter's to report).
    fn read(value: &Value) -> R<Self>;
    fn into_value(self) -> Value;
    /// How a call on this argument is remembered for the row (`None`: it is not).
    fn identity(&self) -> Option<u64>;
}

/// A kind held in one variant of [`Value`]: reading any other variant is the interpreter's
/// to report, and `Value::None` is absent.
macro_rules! scalar_kind {
    ($kind:ty, $variant:ident, |$this:ident| $identity:expr) => {
        impl Kind for $kind {
            #[inline]
            fn read(value: &Value) -> R<$kind> {
                match value {
                    Value::$variant(x) => Ok(*x),
                    Value::None(_) => Err(Stop::Absent(UNKNOWN)),
                    _ => Err(Stop::Back),
                }
            }
            fn into_value(self) -> Value {
                Value::$variant(self)
            }
            fn identity(&self) -> Option<u64> {
                let $this = *self;
                $identity
            }
        }
    };
}

// Truth values and variants are remembered by their value, an even number (records and
// lists by their address, odd); calls on numbers are not remembered.
scalar_kind!(bool, Bool, |b| Some(u64::from(b) << 1));
scalar_kind!(u32, Enum, |i| Some(u64::from(i) << 1));
scalar_kind!(Decimal, Num, |_n| None);

// A whole number (`Int`) as a machine integer: a number with decimal places (`3.0`), or
// beyond a machine integer, is the interpreter's to compute, so that every whole number
// generated code gives back as a value is the one the interpreter would hold.
impl Kind for i64 {
    #[inline]
    fn read(value: &Value) -> R<i64> {
        match value {
            Value::Num(n) if n.scale() == 0 => i64::try_from(n.mantissa()).map_err(|_| Stop::Back),
            Value::None(_) => Err(Stop::Absent(UNKNOWN)),
            _ => Err(Stop::Back),
        }
    }
    fn into_value(self) -> Value {
        Value::Num(Decimal::from(self))
    }
    fn identity(&self) -> Option<u64> {
        None
    }
}

/// A whole number where any number is wanted, as the interpreter holds it.
#[inline(always)]
pub fn widen(whole: R<i64>) -> R<Decimal> {
    whole.map(Decimal::from)
}

impl Kind for Value {
    #[inline]
    fn read(value: &Value) -> R<Value> {
        match value {
            Value::None(_) => Err(Stop::Absent(UNKNOWN)),
            other => Ok(other.clone()),
        }
    }
    fn into_value(self) -> Value {
        self
    }
    fn identity(&self) -> Option<u64> {
        match self {
            Value::Record(items) | Value::List(items) => Some((items.as_ptr() as usize as u64) | 1),
            _ => None,
        }
    }
}

/// Reads a place as a value of kind `T`.
#[inline(always)]
pub fn read<T: Kind>(place: R<&Value>) -> R<T> {
    T::read(place?)
}

/// A list element or other stored value as a place (`Value::None` is absent).
#[inline(always)]
pub fn place(value: &Value) -> R<&Value> {
    match value {
        Value::None(_) => Err(Stop::Absent(UNKNOWN)),
        other => Ok(other),
    }
}

/// Input number `index` as a place: an optional input left out has no value (reason
/// `not_given`); a required one left out is an error.
#[inline(always)]
pub fn input(inputs: &[Value], index: usize, optional: bool, not_given: u32) -> R<&Value> {
    match inputs.get(index) {
        Some(value) => place(value),
        None if optional => Err(Stop::Absent(not_given)),
        None => Err(Stop::Back),
    }
}

/// A value computed as a [`Value`], as kind `T`.
#[inline]
pub fn convert<T: Kind>(value: R<Value>) -> R<T> {
    T::read(&value?)
}

/// Adds a duration to a total.
#[inline]
pub fn add_duration(total: &mut Duration, value: Value) -> R<()> {
    let Value::Duration(d) = value else { return Err(Stop::Back) };
    *total = total.checked_add(d).ok_or(Stop::Back)?;
    Ok(())
}

/// Field `index` of a record held in a place: a record that is not there is an error.
#[inline(always)]
pub fn field(record: R<&Value>, index: usize) -> R<&Value> {
    match strict(record)? {
        Value::Record(fields) => place_at(fields, index),
        _ => Err(Stop::Back),
    }
}

/// A record of the inputs read into a struct the module generates for its type (`In{n}`),
/// which keeps the record's value for the code that needs it whole.
pub trait Record<'a> {
    /// The record as the interpreter holds it.
    fn value(&self) -> &'a Value;
}

/// A list of records of the inputs, its elements read into the module's structs.
pub struct List<'a, S> {
    /// The list as the interpreter holds it.
    pub value: &'a Value,
    pub items: Vec<R<S>>,
}

impl<'a, S> Record<'a> for List<'a, S> {
    fn value(&self) -> &'a Value {
        self.value
    }
}

/// Field `index` of a record held in a value, as a place (a record that is not there, or
/// is not a record, is the interpreter's to report).
#[inline]
pub fn place_at(fields: &[Value], index: usize) -> R<&Value> {
    place(fields.get(index).ok_or(Stop::Back)?)
}

/// A list of records of the inputs read into structs by `element` (`Value::None` elements
/// are absent, as [`place`] reads them).
pub fn decode_list<'a, S>(list: R<&'a Value>, element: impl Fn(R<&'a Value>) -> R<S>) -> R<List<'a, S>> {
    match list? {
        value @ Value::List(items) => {
            Ok(List { value, items: items.iter().map(|item| element(place(item))).collect() })
        }
        _ => Err(Stop::Back),
    }
}

/// A part of a struct of the inputs read through a place holding the struct, as
/// [`field`] reads a field of a record: a struct that is not there hands the row back.
#[inline(always)]
pub fn tf<'s, S, T>(record: R<&'s S>, part: impl FnOnce(&'s S) -> R<T>) -> R<T> {
    match record {
        Ok(s) => part(s),
        Err(_) => Err(Stop::Back),
    }
}

/// The elements of a list of the inputs held in a place, as [`items`] gives them.
#[inline(always)]
pub fn titems<'s, S>(list: R<&'s List<'_, S>>) -> R<&'s [R<S>]> {
    match list {
        Ok(list) => Ok(&list.items),
        Err(_) => Err(Stop::Back),
    }
}

/// A place holding a struct of the inputs as a place holding its value.
#[inline(always)]
pub fn tvalue<'a, S: Record<'a>>(place: R<&S>) -> R<&'a Value> {
    place.map(Record::value)
}

/// A module's rules on rows of its own input structs: `decode` reads a row's inputs once,
/// `decide` computes its decisions (the generated `decide` on values does both each row).
pub trait Rules {
    /// A row's inputs, records and lists of records read into the module's structs.
    type Inputs<'a>: Sync;
    fn decode(inputs: &[Value]) -> Self::Inputs<'_>;
    fn decide(base: &mut Base<'_>, row: &Self::Inputs<'_>, decisions: &[DecisionId], out: &mut Vec<Value>) -> Decided;
}

/// The items of a list held in a place: a list that is not there is an error.
#[inline(always)]
pub fn items(list: R<&Value>) -> R<&[Value]> {
    match strict(list)? {
        Value::List(items) => Ok(items),
        _ => Err(Stop::Back),
    }
}

/// A number rounded, as the interpreter rounds it.
#[inline(always)]
pub fn round(x: Decimal, places: u32, strategy: RoundingStrategy) -> Decimal {
    ops::round(x, places, strategy)
}

/// A number with no decimal places as a machine integer (`None` for any other number, even
/// a whole one written with places, such as `2.0`).
#[inline(always)]
pub fn whole(n: &Decimal) -> Option<i64> {
    if n.scale() == 0 { i64::try_from(n.mantissa()).ok() } else { None }
}

/// The order of two numbers, as the interpreter orders them.
#[inline(always)]
pub fn num_order(x: &Decimal, y: &Decimal) -> Ordering {
    ops::num_order(x, y)
}

/// The order of two values of another kind (text, dates, durations): `None` is an error.
#[inline]
pub fn value_order(x: &Value, y: &Value) -> R<Ordering> {
    ops::order(x, y).ok_or(Stop::Back)
}

/// Whether two values are equal as `==` compares them.
#[inline]
pub fn value_equal(x: &Value, y: &Value) -> bool {
    ops::equal(x, y)
}

/// A division of numbers: by zero is an error.
#[inline]
pub fn divide(x: Decimal, y: Decimal) -> R<Decimal> {
    if y.is_zero() {
        return Err(Stop::Back);
    }
    x.checked_div(y).ok_or(Stop::Back)
}

/// Negates a duration.
pub fn negate(value: Value) -> R<Value> {
    match value {
        Value::Duration(d) => d.checked_neg().map(Value::Duration).ok_or(Stop::Back),
        _ => Err(Stop::Back),
    }
}

/// The value of a constant node, or of a record or list of them, as the interpreter computes
/// it; each worker's own copy, so that no two cores write to one reference count. `None`
/// for any other node.
pub(crate) fn constant_value(program: &Program, node: u32) -> Option<Value> {
    match &program.nodes.get(node as usize)?.kind {
        NodeKind::Const(value) => Some(own_copy(value)),
        NodeKind::Record(items) => {
            Some(Value::Record(items.iter().map(|i| constant_value(program, i.0)).collect::<Option<Arc<[Value]>>>()?))
        }
        NodeKind::List(items) => {
            Some(Value::List(items.iter().map(|i| constant_value(program, i.0)).collect::<Option<Arc<[Value]>>>()?))
        }
        _ => None,
    }
}

/// The number of places in [`Calls`]: a power of two, above the number of distinct
/// arguments a decision is called on in a row of a typical model.
const CALL_PLACES: usize = 32;

/// The calls of one decision on one argument made in a row, remembered by the argument's
/// identity in a direct-mapped table. Losing an entry to another costs a computation,
/// never a result: decisions have no side effects.
pub struct Calls<T> {
    places: [(u64, R<T>); CALL_PLACES],
}

/// The identity of an empty place: no argument has it (records and lists are odd
/// addresses, other values are even).
const NO_CALL: u64 = u64::MAX;

impl<T> Default for Calls<T> {
    fn default() -> Self {
        Calls { places: std::array::from_fn(|_| (NO_CALL, Err(Stop::Back))) }
    }
}

impl<T: Clone> Calls<T> {
    #[inline(always)]
    fn place(identity: u64) -> usize {
        (identity.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 59) as usize % CALL_PLACES
    }

    /// The remembered result of the call on an argument with this identity.
    #[inline]
    pub fn recall(&self, identity: u64) -> Option<R<T>> {
        let (known, result) = self.places.get(Self::place(identity))?;
        (*known == identity).then(|| result.clone())
    }

    /// Remembers a call's result (a handed-back result is not remembered).
    #[inline]
    pub fn remember(&mut self, identity: u64, result: &R<T>) {
        if matches!(result, Err(Stop::Back)) || identity == NO_CALL {
            return;
        }
        if let Some(place) = self.places.get_mut(Self::place(identity)) {
            *place = (identity, result.clone());
        }
    }
}

/// Options of a [`Base`]: the date that chooses dated versions.
#[derive(Default, Clone, Copy)]
pub struct Options {
    pub as_of: Option<Date>,
}

/// A module generated by `covenant emit-rust`: what [`Module::check`] checks and
/// [`Base::new`] copies.
pub struct Module {
    pub fingerprint: u64,
    /// The reasons of "no value" the module gives, by number.
    pub reasons: &'static [&'static str],
    /// The nodes whose constant values the module reads (text, records, lists, dates).
    pub constants: &'static [u32],
}

impl Module {
    /// `program`, if it is the one this module was generated from (its [`fingerprint`]).
    /// Checked once for all the workers: computing the fingerprint serialises the program.
    pub fn check<'m, 'p>(&'m self, program: &'p Program) -> Option<Checked<'m, 'p>> {
        (fingerprint(program) == self.fingerprint).then_some(Checked { module: self, program })
    }
}

/// A generated module built into a program, for a host that does not know it when it is
/// compiled (`covenant batch --compiled`): the module's description, which decisions it
/// computes, and its `decide`.
#[derive(Clone, Copy)]
pub struct Linked {
    pub module: &'static Module,
    /// Per decision of the program: whether `decide` computes it.
    pub covered: &'static [bool],
    pub decide: fn(&mut Base<'_>, &[Value], &[DecisionId], &mut Vec<Value>) -> Decided,
}

impl Linked {
    /// Whether `decide` computes decision `id` (it hands back every row that asks for one it
    /// does not).
    pub fn computes(&self, id: DecisionId) -> bool {
        self.covered.get(id.index()).copied().unwrap_or(false)
    }
}

/// A module and the program it was generated from, as [`Module::check`] found them.
#[derive(Clone, Copy)]
pub struct Checked<'m, 'p> {
    module: &'m Module,
    program: &'p Program,
}

/// One worker's state for generated code, kept from row to row: the program, its table
/// indexes, and its own copies of reasons and constants.
pub struct Base<'p> {
    pub program: &'p Program,
    indexes: &'p Indexes,
    reasons: Vec<Arc<str>>,
    constants: Vec<Value>,
    pub given_as_of: Option<Date>,
    /// Rows handed back so far.
    pub handed_back: u64,
    /// Rows failed so far with an error of their own ([`Decided::Failed`]).
    pub failed: u64,
    /// The error that stopped the row, when it is one generated code gives itself.
    failure: Option<Failure>,
    /// The messages of errors of earlier rows, by what failed.
    messages: HashMap<Failure, String, FxBuild>,
}

impl<'p> Base<'p> {
    /// A worker's state for a checked module on its program (`indexes` built from the
    /// program); `None` when one of the module's constants is not in the program.
    pub fn new(checked: &Checked<'_, 'p>, indexes: &'p Indexes, options: Options) -> Option<Base<'p>> {
        let Checked { module, program } = *checked;
        let constants = module.constants.iter().map(|&n| constant_value(program, n)).collect::<Option<Vec<_>>>()?;
        Some(Base {
            program,
            indexes,
            reasons: module.reasons.iter().map(|r| Arc::from(*r)).collect(),
            constants,
            given_as_of: options.as_of,
            handed_back: 0,
            failed: 0,
            failure: None,
            messages: HashMap::default(),
        })
    }

    /// Starts a row: no error has stopped it.
    #[inline]
    pub fn begin_row(&mut self) {
        self.failure = None;
    }

    /// What a row comes to when decision `id` stops ([`Stop::Back`] reached `decide`): the
    /// error recorded on the way, when there is one, or the row handed back. Nothing
    /// catches a [`Stop::Back`], so the first one raised in a row is the one that reaches
    /// `decide`, and an error recorded before it raised it.
    #[inline]
    pub fn stopped(&mut self, id: DecisionId) -> Decided {
        if self.failure.is_some() {
            self.failed += 1;
            Decided::Failed(id)
        } else {
            self.handed_back += 1;
            Decided::HandedBack
        }
    }

    /// The error of the last row that `decide` found failing ([`Decided::Failed`]), as the
    /// interpreter gives it, with its labels and note.
    pub fn error(&self) -> Option<EvalError> {
        let (failure, span, name, versions) = self.failed_reference()?;
        Some(*no_version(span, name, versions, failure.date))
    }

    /// The same error in brief (its code, message and place), the message kept for the rows
    /// that fail the same way: building the whole error writes out every version's dates.
    pub fn error_brief(&mut self) -> Option<Brief<'_>> {
        let (failure, span, name, _) = self.failed_reference()?;
        if self.messages.len() >= KEPT_ERRORS && !self.messages.contains_key(&failure) {
            self.messages.clear();
        }
        let message = self.messages.entry(failure).or_insert_with(|| no_version_message(name, failure.date));
        Some(Brief { code: code::NO_VERSION, message, span })
    }

    /// What failed the last row: the failure, and the dated reference's place, name and
    /// versions.
    fn failed_reference(&self) -> Option<(Failure, Span, &'p str, &'p [VersionArm])> {
        let failure = self.failure?;
        let node = self.program.nodes.get(failure.node as usize)?;
        let NodeKind::Versioned { name, versions } = &node.kind else { return None };
        Some((failure, node.origin.span, name, versions))
    }

    /// Constant number `k` of the module.
    #[inline]
    pub fn constant(&self, k: usize) -> R<Value> {
        self.constants.get(k).cloned().ok_or(Stop::Back)
    }

    /// A decision's value as output: "no value" with its reason (a reason not kept hands
    /// the row back).
    #[inline]
    pub fn output<T: Kind>(&self, result: R<T>) -> R<Value> {
        match result {
            Ok(v) => Ok(v.into_value()),
            Err(Stop::Absent(reason)) => Ok(Value::None(self.reasons.get(reason as usize).ok_or(Stop::Back)?.clone())),
            Err(Stop::Back) => Err(Stop::Back),
        }
    }

    /// The row a table lookup selects, as the interpreter selects it; two rows of a
    /// `hit unique` table (E0507) hand the row back.
    #[inline]
    pub fn select(&self, table: u32, keys: &[Value]) -> R<Option<usize>> {
        let id = TableId(table);
        let def = self.program.tables.get(id.index()).ok_or(Stop::Back)?;
        match self.indexes.grid_row(id, keys) {
            Some(GridHit::Row(row)) if row.is_none_or(|i| i < def.rows.len()) => return Ok(row),
            Some(GridHit::Scan) if def.hit == HitPolicy::Unique => return Err(Stop::Back),
            _ => {}
        }
        let selected = match self.indexes.candidates(id, keys) {
            Some(rows) => ops::select_among(def, rows.iter().map(|&r| r as usize), keys),
            None => ops::select_among(def, 0..def.rows.len(), keys),
        };
        match selected {
            Ok(Selected::Row(row)) => Ok(row),
            _ => Err(Stop::Back),
        }
    }

    /// The arm of a `match` (on a value that is not an enum) that accepts `value`: the first.
    pub fn match_arm(&self, node: u32, value: &Value) -> R<usize> {
        let Some(NodeKind::Match { arms, .. }) = self.program.nodes.get(node as usize).map(|n| &n.kind) else {
            return Err(Stop::Back);
        };
        arms.iter().position(|arm| arm.key.matches(value).unwrap_or(false)).ok_or(Stop::Back)
    }

    /// No version of dated reference `node` is valid on `date` (the generated code chose by
    /// the versions' ends): an error (E0512), which stops the row and is kept for
    /// [`Base::error`].
    #[cold]
    pub fn no_version(&mut self, node: u32, date: Date) -> R<usize> {
        // Only a reference whose versions all refuse the date fails; anything else is the
        // interpreter's to judge.
        let Some(NodeKind::Versioned { versions, .. }) = self.program.nodes.get(node as usize).map(|n| &n.kind) else {
            return Err(Stop::Back);
        };
        if versions.iter().all(|v| !v.valid.contains(date)) {
            self.failure = Some(Failure { node, date });
        }
        Err(Stop::Back)
    }

    /// Arithmetic on dates, durations and rates (node `node`'s operator), as the interpreter
    /// computes it.
    pub fn combine(&self, node: u32, a: &Value, b: &Value) -> R<Value> {
        let Some(NodeKind::Binary(op, _, _)) = self.program.nodes.get(node as usize).map(|n| &n.kind) else {
            return Err(Stop::Back);
        };
        combine(*op, a, b)
    }

    /// Node `node`'s built-in function on values that all have one; a ratio with a zero
    /// denominator has no value, for reason `zero`.
    pub fn builtin(&self, node: u32, values: &[Value], zero: u32) -> R<Value> {
        let Some(NodeKind::Builtin { f, .. }) = self.program.nodes.get(node as usize).map(|n| &n.kind) else {
            return Err(Stop::Back);
        };
        builtin(*f, values).map_err(|stop| match stop {
            Stop::Absent(_) => Stop::Absent(zero),
            Stop::Back => Stop::Back,
        })
    }

    /// Whether a decision is one the caller may ask for: parameterless.
    pub fn asks_for(&self, id: DecisionId) -> bool {
        self.program.decisions.get(id.index()).is_some_and(|d| d.params.is_empty())
    }
}

/// Reads a date.
#[inline]
pub fn date(value: R<Value>) -> R<Date> {
    match strict(value)? {
        Value::Date(d) => Ok(d),
        _ => Err(Stop::Back),
    }
}

/// Arithmetic on dates and durations by an operator the module names, as the interpreter
/// computes it.
#[inline]
pub fn combine(op: BinOp, a: &Value, b: &Value) -> R<Value> {
    combined(op, a, b).ok_or(Stop::Back)
}

/// Arithmetic on dates, durations and rates, as the interpreter computes it (`None`: an
/// error, or a combination the interpreter reports).
fn combined(op: BinOp, a: &Value, b: &Value) -> Option<Value> {
    match (op, a, b) {
        (BinOp::MulRateDuration(unit), Value::Num(rate), Value::Duration(d))
        | (BinOp::MulRateDuration(unit), Value::Duration(d), Value::Num(rate)) => {
            let (count, per) = ops::duration_fraction(*d, unit).ok()?;
            let product = rate.checked_mul(Decimal::from(count))?;
            ops::divide_exactly(product, per).map(Value::Num)
        }
        (BinOp::DivAmountDuration(unit), Value::Num(amount), Value::Duration(d)) => {
            let (count, per) = ops::duration_fraction(*d, unit).ok()?;
            if count == 0 {
                return None;
            }
            ops::rate_over(*amount, (count, per)).map(Value::Num)
        }
        (BinOp::ScaleDuration, Value::Num(count), Value::Duration(d)) => {
            ops::whole_times(*count).and_then(|n| d.checked_scale(n)).map(Value::Duration)
        }
        (BinOp::DateAddDuration, Value::Date(date), Value::Duration(d)) => date.add(*d).map(Value::Date),
        (BinOp::DateSubDuration, Value::Date(date), Value::Duration(d)) => date.sub(*d).map(Value::Date),
        (BinOp::DurationAdd, Value::Duration(x), Value::Duration(y)) => x.checked_add(*y).map(Value::Duration),
        (BinOp::DurationSub, Value::Duration(x), Value::Duration(y)) => {
            y.checked_neg().and_then(|y| x.checked_add(y)).map(Value::Duration)
        }
        _ => None,
    }
}

/// A built-in function on values that all have one, as the interpreter computes it.
fn builtin(f: Builtin, values: &[Value]) -> R<Value> {
    Ok(match (f, values) {
        (Builtin::Min2 | Builtin::Max2, [a, b]) => {
            let ordering = ops::order(a, b).ok_or(Stop::Back)?;
            let take_b = if f == Builtin::Min2 { ordering == Ordering::Greater } else { ordering == Ordering::Less };
            if take_b { b.clone() } else { a.clone() }
        }
        (Builtin::Abs, [Value::Num(n)]) => Value::Num(n.abs()),
        (Builtin::Year | Builtin::Month | Builtin::Day, [Value::Date(d)]) => Value::Num(ops::date_part(f, *d)),
        (Builtin::MakeDate, [Value::Num(y), Value::Num(m), Value::Num(d)]) => {
            let whole = |n: &Decimal| if n.is_integer() { i32::try_from(*n).ok() } else { None };
            let date = match (whole(y), whole(m), whole(d)) {
                (Some(y), Some(m), Some(d)) => {
                    u32::try_from(m).ok().zip(u32::try_from(d).ok()).and_then(|(m, d)| Date::from_ymd(y, m, d))
                }
                _ => None,
            };
            Value::Date(date.ok_or(Stop::Back)?)
        }
        (Builtin::DaysBetween, [Value::Date(a), Value::Date(b)]) => Value::Num(Decimal::from(a.days_until(*b))),
        // A zero denominator gives no value.
        (Builtin::Ratio, [Value::Num(_), Value::Num(den)]) if den.is_zero() => return Err(Stop::Absent(UNKNOWN)),
        (Builtin::Ratio, [Value::Num(num), Value::Num(den)]) => Value::Num(num.checked_div(*den).ok_or(Stop::Back)?),
        (Builtin::ProRata, [Value::Num(x), Value::Num(low), Value::Num(high)]) => {
            Value::Num(crate::session::pro_rata(*x, *low, *high).ok_or(Stop::Back)?)
        }
        _ => return Err(Stop::Back),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fingerprint is FNV-1a over the program's JSON with the file names emptied: what
    /// generated modules carry, whichever way it is computed.
    #[test]
    fn fingerprint_hashes_the_programs_json_without_its_file_names() {
        let mut program = Program { files: vec!["rules/tariff.cov".into()], ..Program::default() };
        program.as_of = Some(covenant_ir::NodeId(3));
        let mut unnamed = program.clone();
        unnamed.files.clear();
        let text = serde_json::to_string(&unnamed).expect("a program serialises");
        let expected = text
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
        assert_eq!(fingerprint(&program), expected);
        program.files = vec!["elsewhere/\"quoted\" £ tariff.cov".into(), "nhs/clusters.cov".into()];
        assert_eq!(fingerprint(&program), expected, "the files' names are not part of it");
        program.as_of = None;
        assert_ne!(fingerprint(&program), expected, "the rest of the program is");
    }
}
