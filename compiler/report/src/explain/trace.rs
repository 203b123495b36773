//! Compact explanation traces (`covenant.trace/2`): every row of a large batch explained.
//!
//! A full explanation repeats on every row what the rules say at each step: its kind, label,
//! type, source location and excerpt, a decision's documentation. Most of a step is the same
//! on every row; only its values change. A trace writes the static part of a step, its
//! *site* (with the number of steps below it), once per run, in the first row that needs it,
//! and per row only site numbers and values, so a row is a few kilobytes instead of a few
//! hundred. "No value" reasons are numbered and written once per run in the same way. [`TraceReader`] rebuilds the [`Step`] trees from a trace, so `covenant
//! expand` prints exactly the full explanation (`covenant.explanation/1`) or its text. The
//! layout is specified in `spec/explanations.md`.
//!
//! Values are written by their type, which the site gives: a number as a JSON number with its
//! exact decimal text (scale included), an enum as its variant's index, a record as the array
//! of its fields, "no value" as `{"none": N}` (a reason's number); a value that does not have its declared
//! shape is written as `{"v": …}` in serde's form of [`Value`]. Each reads back to the
//! identical value; the full explanation's value, display and location text are all derived
//! from it and the site when the trace is expanded. A trace is read with the rules it was
//! written with (their hash is in its first row), and every site and value is checked against
//! them, so a damaged trace gives an error rather than a wrong explanation.

use covenant_eval::{KeptCalls, Name, NodeStep, PaymentStatus, Step, StepKind, Stretch, Tracer};
use covenant_ir::hash::FxBuild;
use covenant_ir::json::JsonOut;
use covenant_ir::{NodeId, Program, Span, Ty, Value};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value as J;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// The version tag of the trace layout.
pub const TRACE_SCHEMA: &str = "covenant.trace/2";

/// Layouts this version reads: `covenant.trace/1` is the same layout without numbered reasons,
/// with the schema and rules hash in every row.
const READABLE_SCHEMAS: [&str; 2] = [TRACE_SCHEMA, "covenant.trace/1"];

/// What stands for a value inside a site; the row's value replaces it when read.
const HOLE: Value = Value::Bool(false);

/// A step's site, borrowed for writing: everything but its values and the steps below it
/// (of which it gives the number).
#[derive(Serialize)]
struct SiteRef<'a> {
    kind: &'a StepKind,
    node: Option<NodeId>,
    label: &'a str,
    ty: &'a Ty,
    span: Span,
    children: usize,
}

/// A step's site as read back.
#[derive(Deserialize, Clone)]
struct Site {
    kind: StepKind,
    node: Option<NodeId>,
    label: Name,
    ty: Ty,
    span: Span,
    children: usize,
}

/// The text inside a step's kind that changes from row to row, written after its values:
/// the date that chose a version of a dated table, param or decision.
fn text_holes(kind: &mut StepKind, mut f: impl FnMut(&mut Name)) {
    if let StepKind::Version { date, .. } = kind {
        f(date);
    }
}

/// Writes a value by its type (module documentation). The values most steps hold (truth
/// values, whole numbers, enum variants) are written in place; the rest by [`write_other`],
/// so that this stays small enough to be inlined into every place that writes a value.
#[inline]
fn write_value(
    program: &Program,
    value: &Value,
    ty: &Ty,
    out: &mut JsonOut,
    scratch: &mut Vec<u8>,
    reasons: &mut Reasons<'_>,
) {
    match (value, ty) {
        (Value::Bool(b), Ty::Bool) => out.bool(*b),
        (Value::Enum(i), Ty::Enum(_)) => out.whole(u64::from(*i)),
        // Whole numbers (most values) skip the decimal formatter; minus zero keeps its sign.
        (Value::Num(n), Ty::Num(_)) if n.scale() == 0 && !n.is_sign_negative() && n.mantissa() < i64::MAX.into() => {
            out.whole(n.mantissa() as u64)
        }
        _ => write_other(program, value, ty, out, scratch, reasons),
    }
}

/// [`write_value`] for the values it does not write in place.
#[inline(never)]
fn write_other(
    program: &Program,
    value: &Value,
    ty: &Ty,
    out: &mut JsonOut,
    scratch: &mut Vec<u8>,
    reasons: &mut Reasons<'_>,
) {
    match (value, ty) {
        (Value::None(reason), _) => reasons.write(reason, out),
        // A decimal's text is a valid JSON number: no exponent, no leading zeros.
        (Value::Num(n), Ty::Num(_)) => out.decimal(*n),
        (Value::Text(t), Ty::Text) => out.str(t),
        (Value::Record(fields), Ty::Record(id))
            if program.records.get(id.0 as usize).is_some_and(|def| def.fields.len() == fields.len()) =>
        {
            out.begin_array();
            for (field, def) in fields.iter().zip(&program.record_def(*id).fields) {
                write_value(program, field, &def.ty, out, scratch, reasons);
            }
            out.end_array();
        }
        (Value::List(items), Ty::List(elem)) => {
            out.begin_array();
            for item in items.iter() {
                write_value(program, item, elem, out, scratch, reasons);
            }
            out.end_array();
        }
        _ => write_unshaped(value, out, scratch),
    }
}

/// Writes a value that does not have its declared shape as `{"v": …}` (module documentation).
#[cold]
fn write_unshaped(value: &Value, out: &mut JsonOut, scratch: &mut Vec<u8>) {
    out.begin_object();
    out.key("v");
    scratch.clear();
    // Plain data always serialises.
    let _ = serde_json::to_writer(&mut *scratch, value);
    out.raw(std::str::from_utf8(scratch).unwrap_or("null"));
    out.end_object();
}

/// Reads a value written by [`write_value`], checking it against its type; `reasons` are the
/// numbered "no value" reasons defined so far.
fn read_value(program: &Program, json: &J, ty: &Ty, reasons: &HashMap<u64, Arc<str>>) -> Result<Value, String> {
    let mismatch = || format!("the value `{json}` is not a {}", program.type_name(ty));
    match (json, ty) {
        (J::Object(map), _) => {
            match map.get("none") {
                Some(J::String(reason)) => return Ok(Value::None(reason.as_str().into())),
                Some(J::Number(n)) => {
                    let id = n.as_u64().ok_or_else(mismatch)?;
                    let reason =
                        reasons.get(&id).ok_or_else(|| format!("reason {id} is not defined before it is used"))?;
                    return Ok(Value::None(reason.clone()));
                }
                Some(_) => return Err(mismatch()),
                None => {}
            }
            let value = Value::deserialize(map.get("v").ok_or_else(mismatch)?).map_err(|e| e.to_string())?;
            // Only a value without its type's shape is written this way.
            if has_shape(program, &value, ty) { Err(mismatch()) } else { Ok(value) }
        }
        (J::Bool(b), Ty::Bool) => Ok(Value::Bool(*b)),
        (J::Number(n), Ty::Num(_)) => Decimal::from_str(&n.to_string()).map(Value::Num).map_err(|_| mismatch()),
        (J::String(t), Ty::Text) => Ok(Value::Text(t.as_str().into())),
        (J::Number(n), Ty::Enum(id)) => {
            let variants = program.enums.get(id.0 as usize).map_or(0, |e| e.variants.len());
            match n.as_u64().and_then(|i| u32::try_from(i).ok()) {
                Some(i) if (i as usize) < variants => Ok(Value::Enum(i)),
                _ => Err(mismatch()),
            }
        }
        (J::Array(items), Ty::Record(id)) => {
            let def = program.records.get(id.0 as usize).ok_or_else(mismatch)?;
            if items.len() != def.fields.len() {
                return Err(mismatch());
            }
            let fields = items.iter().zip(&def.fields).map(|(item, f)| read_value(program, item, &f.ty, reasons));
            Ok(Value::Record(fields.collect::<Result<Vec<_>, _>>()?.into()))
        }
        (J::Array(items), Ty::List(elem)) => {
            let items = items.iter().map(|item| read_value(program, item, elem, reasons));
            Ok(Value::List(items.collect::<Result<Vec<_>, _>>()?.into()))
        }
        _ => Err(mismatch()),
    }
}

/// Whether a value has the shape [`write_value`] writes by type.
fn has_shape(program: &Program, value: &Value, ty: &Ty) -> bool {
    match (value, ty) {
        (Value::None(_), _)
        | (Value::Bool(_), Ty::Bool)
        | (Value::Num(_), Ty::Num(_))
        | (Value::Text(_), Ty::Text)
        | (Value::Enum(_), Ty::Enum(_))
        | (Value::List(_), Ty::List(_)) => true,
        (Value::Record(fields), Ty::Record(id)) => {
            program.records.get(id.0 as usize).is_some_and(|def| def.fields.len() == fields.len())
        }
        _ => false,
    }
}

/// Whether a type names only enums and records the program declares.
fn type_exists(program: &Program, ty: &Ty) -> bool {
    match ty {
        Ty::Enum(id) => (id.0 as usize) < program.enums.len(),
        Ty::Record(id) => (id.0 as usize) < program.records.len(),
        Ty::List(elem) => type_exists(program, elem),
        Ty::Bool | Ty::Text | Ty::Date | Ty::Duration | Ty::Num(_) | Ty::Error => true,
    }
}

/// The sites and the "no value" reasons of one run, each numbered in the order they are
/// first met, shared by the workers.
#[derive(Debug, Default)]
pub struct TraceSites {
    sites: Mutex<Numbered>,
    reasons: Mutex<Numbered>,
}

/// Texts numbered from 0 in the order they are first met.
#[derive(Debug, Default)]
struct Numbered {
    ids: HashMap<Arc<str>, u32>,
    texts: Vec<Arc<str>>,
}

impl Numbered {
    /// The number of a text, numbering it if it is new; `None` when `max` are numbered.
    fn number(&mut self, text: &str, max: usize) -> Option<u32> {
        if let Some(id) = self.ids.get(text) {
            return Some(*id);
        }
        if self.texts.len() >= max {
            return None;
        }
        let id = u32::try_from(self.texts.len()).ok()?;
        let text: Arc<str> = Arc::from(text);
        self.texts.push(text.clone());
        self.ids.insert(text, id);
        Some(id)
    }
}

/// A shared table, usable even if a worker panicked while holding it (it is never left
/// half-updated: a text is pushed before its number is recorded).
fn lock(table: &Mutex<Numbered>) -> std::sync::MutexGuard<'_, Numbered> {
    table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl TraceSites {
    /// Sites kept at most (a few hundred bytes each), so memory stays bounded whatever the
    /// rules and data; a step whose site is not kept carries its site in the row itself.
    pub const MAX_SITES: usize = 20_000;
    /// Reasons kept at most, for the same reason; a reason not kept is written in full.
    pub const MAX_REASONS: usize = 20_000;

    pub fn new() -> TraceSites {
        TraceSites::default()
    }

    /// The number of a site's JSON text, numbering it if it is new; `None` when the table is full.
    fn number(&self, text: &str) -> Option<u32> {
        lock(&self.sites).number(text, TraceSites::MAX_SITES)
    }

    /// The number of a "no value" reason, numbering it if it is new; `None` when the table is full.
    fn reason_number(&self, reason: &str) -> Option<u32> {
        lock(&self.reasons).number(reason, TraceSites::MAX_REASONS)
    }

    /// Writes a row's trace object: the schema and the `rules` hash when given (in a run's
    /// first row), the sites and reasons numbered `sites` and `reasons` (those the row is the
    /// first to use; `reasons` is left out when there are none), and the row's `steps`.
    pub fn write_trace(&self, rules: Option<&str>, (sites, reasons): (&[u32], &[u32]), steps: &str, out: &mut JsonOut) {
        out.begin_object();
        if let Some(rules) = rules {
            out.key("schema").str(TRACE_SCHEMA);
            out.key("rules").str(rules);
        }
        out.key("sites");
        write_numbered(&self.sites, sites, out, JsonOut::raw);
        if !reasons.is_empty() {
            out.key("reasons");
            write_numbered(&self.reasons, reasons, out, JsonOut::str);
        }
        out.key("steps").raw(steps);
        out.end_object();
    }

    /// Writes one row's trace object defining every site and reason the row uses, so that it
    /// is read without the rows before it (`batch` defines each only once per run instead).
    pub fn write_self_contained(&self, row: &TraceRow, rules: &str, out: &mut JsonOut) {
        self.write_trace(Some(rules), (&row.sites, &row.reasons), &row.steps, out);
    }
}

/// Writes the JSON object from the given numbers to their texts, each written by `write`.
fn write_numbered(table: &Mutex<Numbered>, ids: &[u32], out: &mut JsonOut, write: fn(&mut JsonOut, &str)) {
    let table = lock(table);
    out.begin_object();
    for id in ids {
        if let Some(text) = table.texts.get(*id as usize) {
            write(out.key(&id.to_string()), text);
        }
    }
    out.end_object();
}

/// The sites (or reasons) the current row uses, each once, in the order first used.
#[derive(Default)]
struct UsedInRow {
    /// Whether the row already uses a number (with `keep`: whether an earlier finished row did).
    in_row: Vec<bool>,
    used: Vec<u32>,
    /// Whether a number used by a finished row is not reported again ([`TraceWriter::defining_once`]).
    keep: bool,
    /// Every number noted while a stretch is being kept, in order ([`Tracer::begin_stretch`]).
    log: Vec<u32>,
    logging: bool,
}

impl UsedInRow {
    /// Notes that the row uses `id`.
    #[inline]
    fn note(&mut self, id: u32) {
        if self.logging {
            self.log.push(id);
        }
        let at = id as usize;
        if self.in_row.len() <= at {
            self.in_row.resize(at + 1, false);
        }
        if !self.in_row[at] {
            self.in_row[at] = true;
            self.used.push(id);
        }
    }

    /// The numbers the finished row used, forgotten for the next row unless `keep`.
    fn take(&mut self) -> Vec<u32> {
        if !self.keep {
            self.forget_flags();
        }
        // A copy of exactly the right size; `used` keeps its buffer for the next row.
        let row = self.used.clone();
        self.used.clear();
        row
    }

    /// Forgets the numbers of a row that was never finished (it is not written).
    fn forget(&mut self) {
        self.forget_flags();
        self.used.clear();
    }

    /// The numbers noted since the log had `from` of them, each once, in the order first
    /// noted.
    fn logged_since(&self, from: usize) -> Box<[u32]> {
        let mut numbers: Vec<u32> = Vec::new();
        for &id in self.log.get(from..).unwrap_or_default() {
            if !numbers.contains(&id) {
                numbers.push(id);
            }
        }
        numbers.into()
    }

    fn forget_flags(&mut self) {
        for id in &self.used {
            if let Some(flag) = self.in_row.get_mut(*id as usize) {
                *flag = false;
            }
        }
    }
}

/// Reasons this worker has numbered, kept at most (then forgotten and numbered again from the
/// shared table), so memory stays bounded when reasons are made afresh on every row.
const MAX_KNOWN_REASONS: usize = 4096;

/// Writes "no value" reasons by number: most of a row's trace would otherwise be the same few
/// reasons (a table's `none` cells) over and over.
struct Reasons<'s> {
    shared: &'s TraceSites,
    /// Numbers by the address of the reason's text: the evaluator shares one text per reason
    /// (a table cell's, a table's "no row matched"), so a reason is looked up in the shared
    /// table once per worker. The text is kept, so that its address is not reused while known.
    known: HashMap<usize, (Arc<str>, Option<u32>), FxBuild>,
    /// The reasons the current row uses.
    used: UsedInRow,
}

impl<'s> Reasons<'s> {
    fn new(shared: &'s TraceSites) -> Reasons<'s> {
        Reasons { shared, known: HashMap::default(), used: UsedInRow::default() }
    }

    /// Writes `{"none": N}`, or `{"none": "the reason"}` when the shared table is full.
    fn write(&mut self, reason: &Arc<str>, out: &mut JsonOut) {
        let address = Arc::as_ptr(reason) as *const u8 as usize;
        let id = match self.known.get(&address) {
            Some((_, id)) => *id,
            None => {
                let id = self.shared.reason_number(reason);
                if self.known.len() >= MAX_KNOWN_REASONS {
                    self.known.clear();
                }
                self.known.insert(address, (reason.clone(), id));
                id
            }
        };
        out.begin_object();
        out.plain_key("none");
        match id {
            Some(id) => {
                out.int(id);
                self.used.note(id);
            }
            None => out.str(reason),
        }
        out.end_object();
    }
}

/// One row's trace as [`TraceWriter::finish_row`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRow {
    /// The steps, a JSON array.
    pub steps: String,
    /// The sites the steps use, each once, in the order first used (with
    /// [`TraceWriter::defining_once`], only those no earlier row of the writer used).
    pub sites: Vec<u32>,
    /// The numbered "no value" reasons the steps use, likewise.
    pub reasons: Vec<u32>,
}

/// A site this worker has numbered, kept whole: comparing a step with it is much cheaper than
/// writing the step's site out to look it up by its text.
struct KnownSite {
    kind: StepKind,
    /// The [`outcome`](covenant_eval::Shape::outcome) of the kind's shape, compared first.
    outcome: u64,
    children: usize,
    node: Option<NodeId>,
    label: Name,
    ty: Ty,
    span: Span,
    id: u32,
}

impl KnownSite {
    /// Whether this is the site of `step` with `children` children, whose kind (its values
    /// taken out) is `kind`.
    fn matches(&self, step: &Step, kind: &StepKind, children: usize) -> bool {
        self.children == children
            && self.span == step.span
            && self.node == step.node
            && &self.kind == kind
            && self.label == step.label
            && self.ty == step.ty
    }
}

/// Records rows' explanations straight into traces, as the evaluator reports its steps: a
/// [`Tracer`] that builds no tree. One per worker, sharing the run's [`TraceSites`].
///
/// Steps are written in post-order (each step after its children; its site gives how many),
/// so a step can be written as soon as the evaluator closes it; a frame per open step counts
/// its children so far.
pub struct TraceWriter<'s> {
    program: &'s Program,
    sites: &'s TraceSites,
    /// Sites this worker has numbered, by the node they evaluate (the last entry for steps
    /// without one): comparing a step with the few sites of its node saves writing its site
    /// out and taking the shared lock.
    known: Vec<Vec<KnownSite>>,
    /// Sites of shapes [`fixed_by_node`](covenant_eval::Shape::fixed_by_node) or
    /// [`fixed_with_reason`](covenant_eval::Shape::fixed_with_reason), by node: such a step's
    /// site is found without comparing it with the known sites, and without the step itself
    /// ([`Tracer::exit_node`]).
    fixed: Vec<Vec<FixedSite>>,
    /// The current row's steps array.
    out: JsonOut,
    /// The sites the current row uses.
    used: UsedInRow,
    reasons: Reasons<'s>,
    /// Per open step (the first for the top level): the children written so far, and whether
    /// the last of them failed.
    frames: Vec<Frame>,
    site_text: Vec<u8>,
    scratch: Vec<u8>,
    values: Vec<Value>,
    texts: Vec<Name>,
    /// What stands for a text inside a site.
    no_text: Name,
    /// Calls kept from row to row with the steps written for them.
    kept: KeptCalls,
    /// Where each stretch being kept began, innermost last.
    stretches: Vec<StretchStart>,
    /// How many steps failed so far (a stretch with a failure is not kept).
    failures: usize,
}

/// Where a stretch of steps began: the text written, the frames open and the children of
/// the innermost, the sites and reasons noted, and the failures so far.
struct StretchStart {
    text: usize,
    after_value: bool,
    frames: usize,
    children: usize,
    sites: usize,
    reasons: usize,
    failures: usize,
}

/// A site found by its node, its shape's [`outcome`](covenant_eval::Shape::outcome), its
/// number of children (and its reason); its type is kept to write its values by.
struct FixedSite {
    outcome: u64,
    children: usize,
    id: u32,
    ty: Ty,
    /// The reason of a site [`fixed_with_reason`](covenant_eval::Shape::fixed_with_reason),
    /// compared by address (kept, so its address is not reused while it is here).
    reason: Option<Arc<str>>,
}

/// The most sites of a node kept by their reason: a reason made afresh on every row (not
/// shared by the evaluator) would otherwise add one on every row.
const MAX_REASON_SITES: usize = 8;

/// Whether two reasons are the same text by address (both absent, or one shared text).
fn same_reason(kept: Option<&Arc<str>>, given: Option<&Arc<str>>) -> bool {
    match (kept, given) {
        (None, None) => true,
        (Some(kept), Some(given)) => Arc::ptr_eq(kept, given),
        _ => false,
    }
}

#[derive(Clone, Copy, Default)]
struct Frame {
    children: usize,
    last_failed: bool,
}

impl<'s> TraceWriter<'s> {
    pub fn new(program: &'s Program, sites: &'s TraceSites) -> TraceWriter<'s> {
        TraceWriter {
            program,
            sites,
            known: (0..=program.nodes.len()).map(|_| Vec::new()).collect(),
            fixed: (0..=program.nodes.len()).map(|_| Vec::new()).collect(),
            out: JsonOut::new(),
            used: UsedInRow::default(),
            reasons: Reasons::new(sites),
            frames: vec![Frame::default()],
            site_text: Vec::new(),
            scratch: Vec::new(),
            values: Vec::new(),
            texts: Vec::new(),
            no_text: Name::from(""),
            kept: KeptCalls::default(),
            stretches: Vec::new(),
            failures: 0,
        }
    }

    /// A writer whose rows report each site and reason only the first time this writer uses
    /// it, for a reader that defines each in the first row reporting it and gets this
    /// writer's rows in the order they were made (as `batch` writes each worker's rows): a
    /// row's trace then defines only what no earlier row could have.
    pub fn defining_once(mut self) -> TraceWriter<'s> {
        self.used.keep = true;
        self.reasons.used.keep = true;
        self
    }

    /// Starts a row: the decisions evaluated with this tracer until
    /// [`finish_row`](TraceWriter::finish_row) make up its trace.
    /// A row that failed is never finished: starting the next one forgets it.
    pub fn start_row(&mut self) {
        self.out.clear();
        self.out.begin_array();
        self.used.forget();
        self.reasons.used.forget();
        self.frames.clear();
        self.frames.push(Frame::default());
        // A row that failed inside a stretch never ended it.
        self.stretches.clear();
        self.set_logging(false);
    }

    /// Starts or stops logging the sites and reasons noted (while stretches are kept).
    fn set_logging(&mut self, on: bool) {
        for used in [&mut self.used, &mut self.reasons.used] {
            used.logging = on;
            if !on {
                used.log.clear();
            }
        }
    }

    /// The row's steps, and the sites and reasons they use.
    pub fn finish_row(&mut self) -> TraceRow {
        while self.frames.len() > 1 {
            self.exit_transparent();
        }
        self.out.end_array();
        TraceRow { steps: self.out.as_str().to_string(), sites: self.used.take(), reasons: self.reasons.used.take() }
    }

    #[inline]
    fn close(&mut self) -> Frame {
        if self.frames.len() > 1 { self.frames.pop().unwrap_or_default() } else { Frame::default() }
    }

    #[inline]
    fn parent(&mut self) -> &mut Frame {
        if self.frames.is_empty() {
            self.frames.push(Frame::default());
        }
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    /// The slot of a step's node in `known` and `fixed`: the last slot, shared, for a step
    /// without a node or with a node the program does not have (which `fixed` never holds).
    #[inline]
    fn slot(&self, node: Option<NodeId>) -> usize {
        let others = self.known.len() - 1;
        node.map_or(others, |n| n.index().min(others))
    }

    /// Writes a step of `node` closed with `children` children before it, with the value
    /// `value`, and counts it in its parent: from its values alone when its shape is
    /// [`fixed_by_node`](covenant_eval::Shape::fixed_by_node) (or
    /// [`fixed_with_reason`](covenant_eval::Shape::fixed_with_reason)) and this writer has
    /// found the node's site of that shape (and reason) before, else the step `source`
    /// makes, in full.
    #[inline]
    fn write_node<S: NodeStep>(&mut self, children: usize, node: Option<NodeId>, mut source: S, value: Option<&Value>) {
        let slot = self.slot(node);
        let shape = source.shape();
        let found = if slot < self.known.len() - 1 && (shape.fixed_by_node() || shape.fixed_with_reason()) {
            let (outcome, reason) = (shape.outcome(), source.reason());
            self.fixed[slot]
                .iter()
                .position(|f| f.outcome == outcome && f.children == children && same_reason(f.reason.as_ref(), reason))
        } else {
            None
        };
        let Some(at) = found else {
            self.write_step(&mut source.make(value.cloned()), children);
            return;
        };
        let id = self.fixed[slot][at].id;
        if cfg!(debug_assertions) {
            self.check_found(&mut source, value, (children, slot, id));
        }
        let TraceWriter { program, fixed, out, used, reasons, scratch, .. } = self;
        let ty = &fixed[slot][at].ty;
        out.int(id);
        used.note(id);
        match value {
            Some(v) => write_value(program, v, ty, out, scratch, reasons),
            None => out.null(),
        }
        source.values(|v, ty| write_value(program, v, ty, out, scratch, reasons));
        let parent = self.parent();
        parent.children += 1;
        // Failures are never fixed by their node.
        parent.last_failed = false;
    }

    /// Checks (in debug builds) that site `id`, found by the node, shape and number of
    /// children of a step, is the site of the step `source` makes, and that the values
    /// written from `source` are the ones in that step, in order.
    fn check_found<S: NodeStep>(
        &self,
        source: &mut S,
        value: Option<&Value>,
        (children, slot, id): (usize, usize, u32),
    ) {
        let mut given = Vec::new();
        source.values(|v, ty| given.push((v.clone(), ty.clone())));
        // The step is made from a copy of what `source` holds: `make` consumes it.
        let mut step = source.clone().make(value.cloned());
        let mut made = Vec::new();
        step.kind.values_mut(&step.ty, |v, ty| made.push((v.clone(), ty.clone())));
        assert_eq!(given, made, "the values of {step:?} are not written as given");
        assert_eq!(step.kind.shape(), source.shape(), "{step:?} has another shape");
        assert!(self.is_known_site(&step, children, slot, id), "{step:?} is not site {id}");
    }

    /// [`write_node`](TraceWriter::write_node) for a step already made.
    fn write_made(&mut self, children: usize, mut step: Step) {
        let value = step.value.take();
        self.write_node(children, step.node, step, value.as_ref());
    }

    /// Writes a step in full, closed with `children` children before it, and counts it in
    /// its parent; a site of a shape fixed by its node (or with its reason) is kept to find
    /// the node's next steps by.
    /// The step is taken apart in place (moving it into locals copies a few hundred bytes).
    fn write_step(&mut self, step: &mut Step, children: usize) {
        let failed = step.is_failure();
        let slot = self.slot(step.node);
        let shape = step.kind.shape();
        let outcome = shape.outcome();
        if let Some(id) = self.write_site(step, children, slot, outcome)
            && slot < self.known.len() - 1
            && (shape.fixed_by_node()
                || shape.fixed_with_reason()
                    && (step.kind.reason().is_none()
                        || self.fixed[slot].iter().filter(|f| f.reason.is_some()).count() < MAX_REASON_SITES))
        {
            let reason = step.kind.reason().cloned();
            self.fixed[slot].push(FixedSite { outcome, children, id, ty: step.ty.clone(), reason });
        }
        self.write_values(step);
        let parent = self.parent();
        parent.children += 1;
        parent.last_failed = failed;
    }

    /// Writes the number of a step's site (or the site itself when the table of sites is
    /// full); the number written, if any. The values and texts are taken out of the step's
    /// kind to find its site, and put back.
    fn write_site(&mut self, step: &mut Step, children: usize, slot: usize, outcome: u64) -> Option<u32> {
        let values = &mut self.values;
        values.clear();
        step.kind.values_mut(&step.ty, |v, _| values.push(std::mem::replace(v, HOLE)));
        let (texts, no_text) = (&mut self.texts, &self.no_text);
        texts.clear();
        text_holes(&mut step.kind, |t| texts.push(std::mem::replace(t, no_text.clone())));
        let id = self.number_site(step, children, slot, outcome);
        let mut values = self.values.drain(..);
        step.kind.values_mut(&step.ty, |v, _| *v = values.next().unwrap_or(HOLE));
        let mut texts = self.texts.drain(..);
        text_holes(&mut step.kind, |t| *t = texts.next().unwrap_or_else(|| self.no_text.clone()));
        id
    }

    /// [`write_site`](TraceWriter::write_site) for a step whose values and texts are out.
    fn number_site(&mut self, step: &Step, children: usize, slot: usize, outcome: u64) -> Option<u32> {
        let known = self.known[slot].iter().find(|k| k.outcome == outcome && k.matches(step, &step.kind, children));
        let out = &mut self.out;
        if let Some(k) = known {
            out.int(k.id);
            self.used.note(k.id);
            return Some(k.id);
        }
        self.site_text.clear();
        let site =
            SiteRef { kind: &step.kind, node: step.node, label: &step.label, ty: &step.ty, span: step.span, children };
        // Plain data always serialises; a failure would leave the text empty and be written as null.
        let _ = serde_json::to_writer(&mut self.site_text, &site);
        let text = std::str::from_utf8(&self.site_text).unwrap_or("null");
        let Some(id) = self.sites.number(text) else {
            out.raw(text);
            return None;
        };
        out.int(id);
        self.used.note(id);
        // Equality of decimals ignores their scale, which the text keeps:
        // sites holding decimals are always looked up by their text.
        if !matches!(step.kind, StepKind::Split { .. } | StepKind::Payment(_)) {
            let site = KnownSite {
                kind: step.kind.clone(),
                outcome,
                children,
                node: step.node,
                label: step.label.clone(),
                ty: step.ty.clone(),
                span: step.span,
                id,
            };
            self.known[slot].push(site);
        }
        Some(id)
    }

    /// Writes a step's value, then the values and texts in its kind.
    fn write_values(&mut self, step: &mut Step) {
        let (program, out, scratch, reasons) = (self.program, &mut self.out, &mut self.scratch, &mut self.reasons);
        match &step.value {
            Some(v) => write_value(program, v, &step.ty, out, scratch, reasons),
            None => out.null(),
        }
        step.kind.values_mut(&step.ty, |v, ty| write_value(program, v, ty, out, scratch, reasons));
        text_holes(&mut step.kind, |t| out.str(t));
    }

    /// Whether site `id` is the one [`write_site`](TraceWriter::write_site) would find for
    /// the step (checked in debug builds when the site is found by node and outcome alone).
    fn is_known_site(&self, step: &Step, children: usize, slot: usize, id: u32) -> bool {
        let mut kind = step.kind.clone();
        kind.values_mut(&step.ty, |v, _| *v = HOLE);
        self.known[slot].iter().any(|k| k.id == id && k.matches(step, &kind, children))
    }
}

impl Tracer for TraceWriter<'_> {
    const ENABLED: bool = true;

    #[inline]
    fn enter(&mut self) {
        self.frames.push(Frame::default());
    }

    fn exit(&mut self, step: Step) {
        let frame = self.close();
        self.write_made(frame.children, step);
    }

    /// A step whose site this writer has numbered is written straight from its values: the
    /// step itself is made only for a site not yet known.
    fn exit_node<S: NodeStep>(&mut self, node: NodeId, step: S, value: Option<&Value>) {
        let frame = self.close();
        self.write_node(frame.children, Some(node), step, value);
    }

    fn exit_single(&mut self, wrapper: impl FnOnce() -> Step) {
        let frame = self.close();
        if frame.children == 1 {
            // The only child, already written, stands for the step.
            let parent = self.parent();
            parent.children += 1;
            parent.last_failed = frame.last_failed;
        } else {
            self.write_made(frame.children, wrapper());
        }
    }

    fn exit_transparent(&mut self) {
        let frame = self.close();
        let parent = self.parent();
        parent.children += frame.children;
        if frame.children > 0 {
            parent.last_failed = frame.last_failed;
        }
    }

    fn fail(&mut self, mut step: Step, code: &'static str, message: &str) {
        self.failures += 1;
        let frame = self.close();
        step.kind = if frame.last_failed {
            StepKind::Unfinished
        } else {
            StepKind::Failed { code: code.to_string(), message: message.to_string() }
        };
        step.value = None;
        self.write_step(&mut step, frame.children);
    }

    /// A row explains each decision (with given arguments) once, as `batch --explain` does.
    fn expand_repeats(&self) -> bool {
        false
    }

    fn kept_calls(&mut self) -> Option<&mut KeptCalls> {
        Some(&mut self.kept)
    }

    fn begin_stretch(&mut self) {
        let frames = self.frames.len();
        let children = self.parent().children;
        self.stretches.push(StretchStart {
            text: self.out.len(),
            after_value: self.out.after_value(),
            frames,
            children,
            sites: self.used.log.len(),
            reasons: self.reasons.used.log.len(),
            failures: self.failures,
        });
        self.set_logging(true);
    }

    fn end_stretch(&mut self, keep: bool) -> Option<Stretch> {
        let start = self.stretches.pop()?;
        let stretch = if keep && self.frames.len() == start.frames && self.failures == start.failures {
            let frame = *self.parent();
            let text = self.out.as_str().get(start.text..).unwrap_or_default();
            // The comma before the first step belongs to where the stretch is written.
            let text = if start.after_value { text.strip_prefix(',').unwrap_or(text) } else { text };
            Some(Stretch {
                text: text.into(),
                steps: frame.children.saturating_sub(start.children),
                last_failed: frame.last_failed,
                sites: self.used.logged_since(start.sites),
                reasons: self.reasons.used.logged_since(start.reasons),
            })
        } else {
            None
        };
        if self.stretches.is_empty() {
            self.set_logging(false);
        }
        stretch
    }

    fn replay_stretch(&mut self, index: usize) {
        let TraceWriter { kept, out, used, reasons, .. } = self;
        let Some(stretch) = kept.stretch(index) else { return };
        if !stretch.text.is_empty() {
            out.raw(&stretch.text);
        }
        for &id in stretch.sites.iter() {
            used.note(id);
        }
        for &id in stretch.reasons.iter() {
            reasons.used.note(id);
        }
        let (steps, last_failed) = (stretch.steps, stretch.last_failed);
        let parent = self.parent();
        parent.children += steps;
        if steps > 0 {
            parent.last_failed = last_failed;
        }
    }
}

/// A row of a trace file read in outline: its number, and its trace's schema, rules, sites
/// and reasons, with the steps and everything else skipped unread.
#[derive(Deserialize)]
pub struct RowOutline {
    pub row: Option<u64>,
    trace: TraceOutline,
}

#[derive(Deserialize)]
struct TraceOutline {
    schema: Option<String>,
    rules: Option<String>,
    sites: Option<serde_json::Map<String, J>>,
    reasons: Option<serde_json::Map<String, J>>,
}

impl RowOutline {
    /// Reads a line of a trace file in outline; `None` when it has no `trace`.
    pub fn read(line: &str) -> Result<Option<RowOutline>, String> {
        #[derive(Deserialize)]
        struct Line {
            row: Option<u64>,
            trace: Option<TraceOutline>,
        }
        let line: Line = serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
        Ok(line.trace.map(|trace| RowOutline { row: line.row, trace }))
    }
}

/// Reads traces back into explanation trees, one row after another: a row may use sites
/// and reasons defined in the rows before it, so rows are read in order from the first.
pub struct TraceReader<'p> {
    program: &'p Program,
    rules: String,
    sites: HashMap<u64, Site>,
    reasons: HashMap<u64, Arc<str>>,
    /// Whether a row with the schema and rules hash has been read: a run gives them in its
    /// first row only.
    checked: bool,
}

impl<'p> TraceReader<'p> {
    /// A reader for traces written with `program`, whose hash is `rules` (`receipt::rules_hash`).
    pub fn new(program: &'p Program, rules: String) -> TraceReader<'p> {
        TraceReader { program, rules, sites: HashMap::new(), reasons: HashMap::new(), checked: false }
    }

    /// The explanation trees of one row's trace, one per decision in order.
    pub fn read(&mut self, trace: &J) -> Result<Vec<Step>, String> {
        self.skip(trace)?;
        let items = trace.get("steps").and_then(J::as_array).ok_or("the trace has no `steps` array")?;
        let mut at = 0;
        // Steps come after their children: each takes its children from the end of the stack.
        let mut stack: Vec<Step> = Vec::new();
        while at < items.len() {
            self.read_step(items, &mut at, &mut stack)?;
        }
        Ok(stack)
    }

    /// Takes in the sites and reasons a row's trace defines without reading its steps (for
    /// rows before the ones wanted).
    pub fn skip(&mut self, trace: &J) -> Result<(), String> {
        let schema = trace.get("schema").and_then(J::as_str);
        let rules = trace.get("rules").and_then(J::as_str);
        let reasons = trace.get("reasons").and_then(J::as_object);
        self.take_sites(schema, rules, trace.get("sites").and_then(J::as_object), reasons)
    }

    /// Takes in the sites and reasons of a row read only in outline (its steps skipped
    /// unread), for rows before the ones wanted: much faster than reading the whole row.
    pub fn skip_outline(&mut self, row: &RowOutline) -> Result<(), String> {
        let trace = &row.trace;
        let (sites, reasons) = (trace.sites.as_ref(), trace.reasons.as_ref());
        self.take_sites(trace.schema.as_deref(), trace.rules.as_deref(), sites, reasons)
    }

    fn take_sites(
        &mut self,
        schema: Option<&str>,
        rules: Option<&str>,
        definitions: Option<&serde_json::Map<String, J>>,
        reasons: Option<&serde_json::Map<String, J>>,
    ) -> Result<(), String> {
        // The first row of a run gives the schema and the rules hash; later rows may leave
        // them out (`covenant.trace/1` gave them in every row).
        if schema.is_some() || rules.is_some() || !self.checked {
            if !schema.is_some_and(|schema| READABLE_SCHEMAS.contains(&schema)) {
                return Err(format!("this is not a `{TRACE_SCHEMA}` trace (its schema is {schema:?})"));
            }
            let rules = rules.unwrap_or("");
            if rules != self.rules {
                return Err(format!(
                    "the trace was written with other rules (rules hash {rules}, these rules have {}); \
                     expand it with the files it was written with",
                    self.rules
                ));
            }
            self.checked = true;
        }
        if let Some(definitions) = definitions {
            for (number, definition) in definitions {
                let id: u64 = number.parse().map_err(|_| format!("site `{number}` is not a number"))?;
                let site = self.read_site(definition)?;
                self.sites.insert(id, site);
            }
        }
        for (number, reason) in reasons.into_iter().flatten() {
            let id: u64 = number.parse().map_err(|_| format!("reason `{number}` is not a number"))?;
            let reason = reason.as_str().ok_or_else(|| format!("reason {id} is `{reason}`, not a text"))?;
            self.reasons.insert(id, reason.into());
        }
        Ok(())
    }

    /// A site, checked against the rules: its types exist, its positions are plausible.
    fn read_site(&self, definition: &J) -> Result<Site, String> {
        let mut site = Site::deserialize(definition).map_err(|e| format!("a site cannot be read: {e}"))?;
        let program = self.program;
        let mut types_exist = type_exists(program, &site.ty);
        site.kind.values_mut(&site.ty, |_, ty| types_exist &= type_exists(program, ty));
        let positions_fit = match &site.kind {
            StepKind::Table { row, .. } => row.is_none_or(|r| r < u32::MAX as usize),
            StepKind::Match { arm, .. } => *arm < u32::MAX as usize,
            StepKind::Item { index, .. } => *index < u32::MAX as usize,
            StepKind::Payment(outcome) => {
                let shortfalls = match &outcome.status {
                    PaymentStatus::GateFailed { shortfalls, .. } | PaymentStatus::NotTriggered { shortfalls } => {
                        shortfalls.as_slice()
                    }
                    _ => &[],
                };
                shortfalls.iter().all(|s| s.comparison.as_ref().is_none_or(|c| type_exists(program, &c.ty)))
            }
            _ => true,
        };
        if types_exist && positions_fit {
            Ok(site)
        } else {
            Err(format!("the site `{definition}` does not belong to these rules"))
        }
    }

    fn read_step(&self, items: &[J], at: &mut usize, stack: &mut Vec<Step>) -> Result<(), String> {
        let mut next = || {
            let item = items.get(*at).ok_or_else(|| format!("the steps end early (at item {})", *at));
            *at += 1;
            item
        };
        let inline;
        let site = match next()? {
            J::Number(n) => {
                let id = n.as_u64().ok_or_else(|| format!("site `{n}` is not a site number"))?;
                self.sites.get(&id).ok_or_else(|| format!("site {id} is not defined before it is used"))?
            }
            definition @ J::Object(_) => {
                inline = self.read_site(definition)?;
                &inline
            }
            other => return Err(format!("expected a site, found `{other}`")),
        };
        let children = site.children;
        let value = match next()? {
            J::Null => None,
            v => Some(read_value(self.program, v, &site.ty, &self.reasons)?),
        };
        let mut kind = site.kind.clone();
        let mut failure = None;
        kind.values_mut(&site.ty, |v, ty| {
            if failure.is_none() {
                match next().and_then(|json| read_value(self.program, json, ty, &self.reasons)) {
                    Ok(read) => *v = read,
                    Err(e) => failure = Some(e),
                }
            }
        });
        text_holes(&mut kind, |t| {
            if failure.is_none() {
                match next() {
                    Ok(J::String(text)) => *t = Name::from(text.as_str()),
                    Ok(other) => failure = Some(format!("expected a text, found `{other}`")),
                    Err(e) => failure = Some(e),
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let first_child = stack
            .len()
            .checked_sub(children)
            .ok_or_else(|| format!("a step has {children} children but only {} steps precede it", stack.len()))?;
        let children = stack.split_off(first_child);
        stack.push(Step {
            kind,
            node: site.node,
            label: site.label.clone(),
            value,
            ty: site.ty.clone(),
            span: site.span,
            children,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use covenant_ir::{EnumDef, EnumId, FieldDef, RecordDef, RecordId, Variant};

    /// A program with one enum (`Band`: Low, High) and one record (`Rating { band, points }`).
    fn program() -> Program {
        let mut p = Program::default();
        p.enums.push(EnumDef {
            name: "Band".into(),
            ordered: false,
            variants: ["Low", "High"].map(|n| Variant { name: n.into(), code: None, label: None }).into(),
            span: Span::default(),
        });
        p.records.push(RecordDef {
            name: "Rating".into(),
            fields: vec![
                FieldDef { name: "band".into(), ty: Ty::Enum(EnumId(0)), optional: false },
                FieldDef { name: "points".into(), ty: Ty::INT, optional: false },
            ],
            span: Span::default(),
        });
        p
    }

    /// A row's trace as `batch` writes it (rules hash "r"), read back.
    fn read_row(program: &Program, sites: &TraceSites, row: &TraceRow) -> Vec<Step> {
        let trace = serde_json::from_str(&row_json(sites, row)).expect("JSON");
        TraceReader::new(program, "r".into()).read(&trace).expect("reads")
    }

    /// A row's trace (rules hash "r"), defining every site and reason it uses.
    fn row_json(sites: &TraceSites, row: &TraceRow) -> String {
        let mut out = JsonOut::new();
        sites.write_self_contained(row, "r", &mut out);
        out.into_string()
    }

    fn num(text: &str) -> Value {
        Value::Num(Decimal::from_str(text).expect("decimal"))
    }

    /// A value as a trace writes it, and the reasons it numbered.
    fn written(program: &Program, value: &Value, ty: &Ty) -> (String, HashMap<u64, Arc<str>>) {
        let sites = TraceSites::new();
        let mut out = JsonOut::new();
        write_value(program, value, ty, &mut out, &mut Vec::new(), &mut Reasons::new(&sites));
        let numbered = lock(&sites.reasons).texts.iter().zip(0..).map(|(text, id)| (id, text.clone())).collect();
        (out.into_string(), numbered)
    }

    fn read_back(program: &Program, text: &str, ty: &Ty, reasons: &HashMap<u64, Arc<str>>) -> Result<Value, String> {
        read_value(program, &serde_json::from_str(text).expect("JSON"), ty, reasons)
    }

    #[test]
    fn values_are_written_by_type_and_read_back_identical() {
        let p = program();
        let rating = Value::Record(vec![Value::Enum(1), num("3")].into());
        let cases = [
            (num("12.50"), Ty::MONEY, "12.50"),
            (num("-0"), Ty::DECIMAL, "0"),
            (num("-7"), Ty::INT, "-7"),
            (num("0.000001"), Ty::PERCENT, "0.000001"),
            (num("79228162514264337593543950335"), Ty::INT, "79228162514264337593543950335"),
            (Value::Bool(true), Ty::Bool, "true"),
            (Value::Text("a \"quoted\" £ note".into()), Ty::Text, r#""a \"quoted\" £ note""#),
            (Value::Enum(1), Ty::Enum(EnumId(0)), "1"),
            (rating.clone(), Ty::Record(RecordId(0)), "[1,3]"),
            (Value::List(vec![rating.clone()].into()), Ty::List(Box::new(Ty::Record(RecordId(0)))), "[[1,3]]"),
            (Value::None("no row matched".into()), Ty::MONEY, r#"{"none":0}"#),
            (
                Value::List(vec![Value::None("a".into()), Value::None("b".into())].into()),
                Ty::List(Box::new(Ty::INT)),
                r#"[{"none":0},{"none":1}]"#,
            ),
            (Value::Date(covenant_ir::Date::parse("2026-04-01").expect("date")), Ty::Date, r#"{"v":{"Date":"#),
            (num("5"), Ty::Text, r#"{"v":{"Num":"5"}}"#),
        ];
        for (value, ty, text) in cases {
            let (out, reasons) = written(&p, &value, &ty);
            assert!(out.starts_with(text), "{value:?} as {ty:?}: {out}");
            let back = read_back(&p, &out, &ty, &reasons).expect("reads back");
            // Equality of decimals ignores scale; their text does not.
            assert_eq!(format!("{back:?}"), format!("{value:?}"), "{out}");
        }
    }

    #[test]
    fn values_that_do_not_fit_the_rules_are_refused() {
        let p = program();
        let band = Ty::Enum(EnumId(0));
        for (text, ty) in [
            ("2", band.clone()),
            ("-1", band.clone()),
            ("1.5", band.clone()),
            ("[1]", Ty::Record(RecordId(0))),
            ("[1,3]", Ty::Record(RecordId(7))),
            ("\"12.50\"", Ty::MONEY),
            (r#"{"v":{"Enum":9}}"#, band.clone()),
            (r#"{"none":3}"#, Ty::MONEY),
            ("null", Ty::Bool),
        ] {
            assert!(read_back(&p, text, &ty, &HashMap::new()).is_err(), "{text} as {ty:?} should be refused");
        }
    }

    #[test]
    fn a_trace_is_read_with_its_own_rules_only() {
        let p = program();
        let mut reader = TraceReader::new(&p, "abc".into());
        let trace = |rules: &str, steps: &str| -> J {
            serde_json::from_str(&format!(
                r#"{{"schema":"{TRACE_SCHEMA}","rules":"{rules}","sites":{{}},"steps":{steps}}}"#
            ))
            .expect("JSON")
        };
        let other = reader.read(&trace("def", "[]")).expect_err("other rules");
        assert!(other.contains("other rules"), "{other}");
        let undefined = reader.read(&trace("abc", "[4,null]")).expect_err("undefined site");
        assert!(undefined.contains("site 4 is not defined"), "{undefined}");
        let orphan = r#"[{"kind":"let","node":null,"label":"let","ty":"Bool","span":{"file":0,"start":0,"end":0},"children":3},true]"#;
        let claims = reader.read(&trace("abc", orphan)).expect_err("children that are not there");
        assert!(claims.contains("3 children"), "{claims}");
        let foreign = r#"[{"kind":"let","node":null,"label":"let","ty":{"Enum":5},"span":{"file":0,"start":0,"end":0},"children":0},1]"#;
        let unknown = reader.read(&trace("abc", foreign)).expect_err("a type the rules do not have");
        assert!(unknown.contains("does not belong to these rules"), "{unknown}");
    }

    #[test]
    fn steps_written_as_the_evaluator_closes_them_read_back_as_the_same_tree() {
        let p = program();
        let sites = TraceSites::new();
        let mut writer = TraceWriter::new(&p, &sites);
        let leaf = |label: &str, value: Value| Step {
            kind: StepKind::Input { name: label.into(), path: label.into() },
            node: None,
            label: label.into(),
            value: Some(value),
            ty: Ty::INT,
            span: Span::default(),
            children: Vec::new(),
        };
        writer.start_row();
        writer.enter(); // sum
        writer.enter();
        writer.exit(leaf("a", num("1")));
        // A wrapper with one child is replaced by it; a transparent step passes its children up.
        writer.enter();
        writer.enter();
        writer.exit(leaf("b", num("2.50")));
        writer.exit_single(|| leaf("unused", num("0")));
        writer.enter();
        writer.enter();
        writer.exit(leaf("a", num("4")));
        writer.exit_transparent();
        let mut top = leaf("sum", num("7.50"));
        top.kind = StepKind::Value;
        writer.exit(top);
        let row = writer.finish_row();
        assert_eq!(row.sites, vec![0, 1, 2], "{}", row.steps);

        let roots = read_row(&p, &sites, &row);
        assert_eq!(roots.len(), 1);
        let labels: Vec<(&str, String)> =
            roots[0].children.iter().map(|c| (&*c.label, format!("{:?}", c.value))).collect();
        assert_eq!(
            labels,
            [
                ("a", "Some(Num(1))".to_string()),
                ("b", "Some(Num(2.50))".to_string()),
                ("a", "Some(Num(4))".to_string())
            ]
        );
        assert_eq!(&*roots[0].label, "sum");
    }

    /// A step that counts how often it is made.
    #[derive(Clone)]
    struct Counted<'c>(Step, &'c std::cell::Cell<usize>);

    impl NodeStep for Counted<'_> {
        fn shape(&self) -> covenant_eval::Shape {
            self.0.shape()
        }
        fn values(&mut self, f: impl FnMut(&Value, &Ty)) {
            self.0.values(f);
        }
        fn reason(&self) -> Option<&Arc<str>> {
            self.0.reason()
        }
        fn make(self, value: Option<Value>) -> Step {
            self.1.set(self.1.get() + 1);
            self.0.make(value)
        }
    }

    /// The test [`program`] with one node (a constant of type `ty`), whose number is 0.
    fn with_one_node(ty: Ty) -> Program {
        use covenant_ir::{DecisionId, Node, NodeKind, Origin, Owner};
        let mut p = program();
        let origin = Origin { span: Span::default(), owner: Owner::Decision(DecisionId(0)) };
        p.nodes.push(Node { kind: NodeKind::Const(Value::Bool(true)), ty, origin });
        p
    }

    /// Writes a row of steps of node 0 of the kinds given, of type `ty`, with the values
    /// given; the row, and how many of the steps were made.
    fn write_counted(writer: &mut TraceWriter<'_>, kinds: &[StepKind], ty: &Ty, values: &[Value]) -> (TraceRow, usize) {
        let node = NodeId(0);
        let made = std::cell::Cell::new(0);
        writer.start_row();
        for (kind, value) in kinds.iter().zip(values) {
            writer.enter();
            let step = Step {
                kind: kind.clone(),
                node: Some(node),
                label: "step".into(),
                value: None,
                ty: ty.clone(),
                span: Span::default(),
                children: Vec::new(),
            };
            writer.exit_node(node, Counted(step, &made), Some(value));
        }
        (writer.finish_row(), made.get())
    }

    #[test]
    fn steps_known_by_their_node_are_written_without_them_but_counts_too_large_are_not() {
        use covenant_ir::AggOp;
        let p = with_one_node(Ty::INT);
        let sites = TraceSites::new();
        let mut writer = TraceWriter::new(&p, &sites);
        let aggregate = |items, examined| StepKind::Aggregate { op: AggOp::Count, items, examined, kept: 0 };
        // Beyond the counts an outcome holds exactly, two different sites have one outcome.
        let (wide, narrow) = (aggregate(covenant_eval::Shape::MAX_EXACT_COUNT + 1, 0), aggregate(0, 1));
        assert_eq!(wide.shape().outcome(), narrow.shape().outcome());
        assert!(!wide.shape().fixed_by_node() && narrow.shape().fixed_by_node());
        let kinds = [wide, narrow.clone(), narrow, aggregate(0, 0)];
        let values: Vec<Value> = (1..=4).map(|v| Value::Num(v.into())).collect();
        let (row, made) = write_counted(&mut writer, &kinds, &Ty::INT, &values);
        assert_eq!(row.sites, vec![0, 1, 2], "{}", row.steps);
        // The repeated step was written from its kind alone (debug builds make it to check it).
        assert_eq!(made, if cfg!(debug_assertions) { 4 } else { 3 });
        let roots = read_row(&p, &sites, &row);
        let read: Vec<(StepKind, Option<Value>)> = roots.into_iter().map(|s| (s.kind, s.value)).collect();
        let expected: Vec<(StepKind, Option<Value>)> =
            kinds.into_iter().zip(1..).map(|(k, v)| (k, Some(Value::Num(v.into())))).collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn steps_with_a_reason_are_known_by_their_shared_reason_and_fresh_reasons_are_kept_a_few_times() {
        let p = with_one_node(Ty::Bool);
        let sites = TraceSites::new();
        let mut writer = TraceWriter::new(&p, &sites);
        let shared: Arc<str> = Arc::from("blank cell");
        let is_none = |reason: Option<Arc<str>>| StepKind::IsNone { reason };
        // The shared reason three times, the same text made afresh each time (as many times
        // as sites are kept by reason, and three more), then no reason twice.
        let mut kinds = vec![is_none(Some(shared.clone())); 3];
        kinds.extend((0..MAX_REASON_SITES + 3).map(|_| is_none(Some(Arc::from("blank cell")))));
        kinds.extend([is_none(None), is_none(None)]);
        let (row, made) = write_counted(&mut writer, &kinds, &Ty::Bool, &vec![Value::Bool(true); kinds.len()]);
        // One site for the reason (whichever text holds it) and one without.
        assert_eq!(row.sites, vec![0, 1], "{}", row.steps);
        // Found by their reason: the shared one twice, none once (debug builds make each
        // step found, to check it). Made every time: each reason made afresh.
        let found = 3;
        let expected = kinds.len() - if cfg!(debug_assertions) { 0 } else { found };
        assert_eq!(made, expected);
        // The first reason, the fresh ones kept, and none.
        assert_eq!(writer.fixed[0].len(), MAX_REASON_SITES + 1);
        let roots = read_row(&p, &sites, &row);
        let read: Vec<StepKind> = roots.into_iter().map(|s| s.kind).collect();
        assert_eq!(read, kinds);
    }

    #[test]
    fn a_failure_is_kept_with_the_steps_above_it_unfinished() {
        let p = program();
        let sites = TraceSites::new();
        let mut writer = TraceWriter::new(&p, &sites);
        let step = |label: &str| Step::unfinished(label, Ty::INT, Span::default());
        writer.start_row();
        writer.enter();
        writer.enter();
        writer.fail(step("inner"), "E0301", "division by zero");
        writer.fail(step("outer"), "E0301", "division by zero");
        let row = writer.finish_row();
        let roots = read_row(&p, &sites, &row);
        assert_eq!(roots.len(), 1, "{}", row.steps);
        assert_eq!(roots[0].kind, StepKind::Unfinished);
        assert_eq!(
            roots[0].children[0].kind,
            StepKind::Failed { code: "E0301".into(), message: "division by zero".into() }
        );
    }

    #[test]
    fn a_row_that_failed_does_not_keep_its_sites_from_the_next() {
        let p = program();
        let sites = TraceSites::new();
        let mut writer = TraceWriter::new(&p, &sites);
        let leaf = Step {
            kind: StepKind::Let,
            node: None,
            label: "let".into(),
            value: Some(Value::Bool(true)),
            ty: Ty::Bool,
            span: Span::default(),
            children: Vec::new(),
        };
        // The first row uses site 0 and then fails: it is never finished, nor written.
        writer.start_row();
        writer.enter();
        writer.exit(leaf.clone());
        writer.start_row();
        writer.enter();
        writer.exit(leaf);
        let row = writer.finish_row();
        assert_eq!(row.sites, vec![0], "the next row defines the site: {}", row.steps);
        assert_eq!(read_row(&p, &sites, &row).len(), 1);
    }
    #[test]
    fn a_writer_defining_once_reports_a_site_again_only_after_an_unfinished_row() {
        let p = program();
        let sites = TraceSites::new();
        let mut writer = TraceWriter::new(&p, &sites).defining_once();
        let leaf = |label: &str| Step {
            kind: StepKind::Let,
            node: None,
            label: label.into(),
            value: Some(Value::Bool(true)),
            ty: Ty::Bool,
            span: Span::default(),
            children: Vec::new(),
        };
        let row = |writer: &mut TraceWriter<'_>, labels: &[&str], finish: bool| {
            writer.start_row();
            for label in labels {
                writer.enter();
                writer.exit(leaf(label));
            }
            finish.then(|| writer.finish_row())
        };
        let first = row(&mut writer, &["a"], true).expect("finished");
        assert_eq!(first.sites, vec![0]);
        // Site 0 was reported by a finished row; site 1 is new.
        let second = row(&mut writer, &["a", "b"], true).expect("finished");
        assert_eq!(second.sites, vec![1], "{}", second.steps);
        // A row using a new site fails and is never written: the site is reported again.
        assert!(row(&mut writer, &["a", "c"], false).is_none());
        let fourth = row(&mut writer, &["c", "b", "a"], true).expect("finished");
        assert_eq!(fourth.sites, vec![2], "{}", fourth.steps);
        assert!(row(&mut writer, &["c"], true).expect("finished").sites.is_empty());
        // Without defining once, every row reports every site it uses.
        let mut plain = TraceWriter::new(&p, &sites);
        assert_eq!(row(&mut plain, &["b", "a"], true).expect("finished").sites, vec![1, 0]);
        assert_eq!(row(&mut plain, &["b", "a"], true).expect("finished").sites, vec![1, 0]);
    }

    #[test]
    fn reasons_are_numbered_once_per_run_and_read_back() {
        let p = program();
        let sites = TraceSites::new();
        let mut writer = TraceWriter::new(&p, &sites);
        let leaf = |reason: &Arc<str>| Step {
            kind: StepKind::Let,
            node: None,
            label: "let".into(),
            value: Some(Value::None(reason.clone())),
            ty: Ty::MONEY,
            span: Span::default(),
            children: Vec::new(),
        };
        let cell: Arc<str> = "no tariff (000:461)".into();
        // The same text made afresh (not shared with the first) still has its number.
        let same_text: Arc<str> = "no tariff (000:461)".into();
        let other: Arc<str> = "no upper limit".into();
        let row_of = |writer: &mut TraceWriter<'_>, reasons: &[&Arc<str>]| {
            writer.start_row();
            for reason in reasons {
                writer.enter();
                writer.exit(leaf(reason));
            }
            writer.finish_row()
        };
        let first = row_of(&mut writer, &[&cell, &cell, &same_text, &other]);
        assert_eq!(first.reasons, vec![0, 1]);
        assert_eq!(first.steps.matches(r#"{"none":0}"#).count(), 3, "{}", first.steps);
        assert!(!first.steps.contains("no tariff"), "the text is not in the steps: {}", first.steps);
        let reasons: Vec<String> = read_row(&p, &sites, &first)
            .iter()
            .map(|step| match &step.value {
                Some(Value::None(reason)) => reason.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(reasons, ["no tariff (000:461)", "no tariff (000:461)", "no tariff (000:461)", "no upper limit"]);

        // A later row uses the numbers without defining them; its reader knows them from the first.
        let second = row_of(&mut writer, &[&other]);
        assert_eq!(second.reasons, vec![1]);
        let mut reader = TraceReader::new(&p, "r".into());
        let defining: J = serde_json::from_str(&row_json(&sites, &first)).expect("JSON");
        reader.read(&defining).expect("first row");
        let using = format!(r#"{{"schema":"{TRACE_SCHEMA}","rules":"r","sites":{{}},"steps":{}}}"#, second.steps);
        let read = reader.read(&serde_json::from_str(&using).expect("JSON")).expect("second row");
        assert_eq!(read[0].value, Some(Value::None(other.clone())));
        // Without the first row, the reason is unknown (the site is defined, the reason not).
        let alone = row_json(&sites, &TraceRow { reasons: Vec::new(), ..second.clone() });
        let unknown = TraceReader::new(&p, "r".into()).read(&serde_json::from_str(&alone).expect("JSON"));
        let unknown = unknown.expect_err("an undefined reason");
        assert!(unknown.contains("reason 1 is not defined"), "{unknown}");

        // Once the run's table is full, a new reason is written in full and read back as it was.
        let numbered = lock(&sites.reasons).texts.len();
        for n in numbered..TraceSites::MAX_REASONS {
            sites.reason_number(&format!("filler {n}"));
        }
        let late: Arc<str> = "a reason met after the table filled".into();
        let third = row_of(&mut writer, &[&late]);
        assert!(third.reasons.is_empty());
        assert!(third.steps.contains(r#"{"none":"a reason met after the table filled"}"#), "{}", third.steps);
        assert_eq!(read_row(&p, &sites, &third)[0].value, Some(Value::None(late)));
    }

    #[test]
    fn the_schema_and_rules_are_checked_in_the_first_row_and_wherever_given() {
        let p = program();
        let row =
            |head: &str| -> J { serde_json::from_str(&format!(r#"{{{head}"sites":{{}},"steps":[]}}"#)).expect("JSON") };
        let head = format!(r#""schema":"{TRACE_SCHEMA}","rules":"r","#);
        let mut reader = TraceReader::new(&p, "r".into());
        let headless = reader.read(&row("")).expect_err("a first row without the schema");
        assert!(headless.contains("not a `covenant.trace/2` trace"), "{headless}");
        reader.read(&row(&head)).expect("the first row");
        reader.read(&row("")).expect("a later row leaves them out");
        let other = reader.read(&row(&head.replace(r#""r""#, r#""s""#))).expect_err("a later run's rules");
        assert!(other.contains("other rules"), "{other}");
    }

    #[test]
    fn damaged_reason_definitions_are_refused() {
        let p = program();
        let head = format!(r#""schema":"{TRACE_SCHEMA}","rules":"r","sites":{{}},"steps":[]"#);
        for (reasons, error) in
            [(r#"{"x":"a reason"}"#, "reason `x` is not a number"), (r#"{"0":7}"#, "reason 0 is `7`, not a text")]
        {
            let trace: J = serde_json::from_str(&format!(r#"{{{head},"reasons":{reasons}}}"#)).expect("JSON");
            let refused = TraceReader::new(&p, "r".into()).read(&trace).expect_err("a damaged reason");
            assert!(refused.contains(error), "{refused}");
        }
    }

    #[test]
    fn traces_of_the_first_layout_are_still_read() {
        let p = program();
        let site =
            r#"{"kind":"let","node":null,"label":"let","ty":"Int","span":{"file":0,"start":0,"end":0},"children":0}"#;
        let trace = format!(
            r#"{{"schema":"covenant.trace/1","rules":"r","sites":{{"0":{site}}},"steps":[0,{{"none":"not given"}}]}}"#
        );
        let trace = trace.replace(r#""Int""#, r#"{"Num":{"kind":"int","unit":null,"per":null}}"#);
        let roots = TraceReader::new(&p, "r".into()).read(&serde_json::from_str(&trace).expect("JSON")).expect("reads");
        assert_eq!(roots[0].value, Some(Value::None("not given".into())));
        let other = trace.replace("covenant.trace/1", "covenant.trace/9");
        let refused = TraceReader::new(&p, "r".into()).read(&serde_json::from_str(&other).expect("JSON"));
        assert!(refused.is_err());
    }
}
