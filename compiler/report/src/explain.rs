//! Explanations as text and JSON.
//!
//! An explanation is the [`Step`] tree recorded by `covenant_eval::Recorder` while a decision
//! was evaluated. [`explain_text`] renders it for a terminal: the answer first, then the
//! reasons as a tree, each with its value and where it came from. [`explain_json`] renders it
//! as versioned JSON (`covenant.explanation/1`) for storage and other programs: every step
//! with its kind, value (money and decimals as strings), type, source location and children.
//! Both layouts are specified in `spec/explanations.md`. [`explain_texts`] renders the
//! explanations of one evaluation (a batch row) as one text. A compact trace
//! (`covenant.trace/2`, module `trace`) stores every row's explanations of a batch in a few
//! kilobytes a row and reads back into the same [`Step`] trees.
//!
//! Rendering is deterministic: no hash-map iteration, no colours, no clock. Source text is
//! only read through the [`SourceMap`]; a span whose file is unknown renders without a
//! location rather than failing.

mod json;
mod statement;
#[cfg(test)]
mod tests;
mod text;
mod trace;

pub use statement::STATEMENT_SCHEMA;
pub use trace::{RowOutline, TRACE_SCHEMA, TraceReader, TraceRow, TraceSites, TraceWriter};

use covenant_eval::Step;
use covenant_ir::json::JsonOut;
use covenant_ir::types::Ty;
use covenant_ir::{Program, Span};
use covenant_source::{SourceFile, SourceMap};
use std::cell::RefCell;
use std::collections::HashMap;

/// The version tag of the JSON explanation schema.
pub const SCHEMA: &str = "covenant.explanation/1";

/// The explanation as terminal text: the answer, then the reasons as a tree.
pub fn explain_text(program: &Program, sources: &SourceMap, step: &Step) -> String {
    text::render(&Ctx { program, sources, places: None }, step)
}

/// The explanations of one evaluation (a batch row's decisions) as text, to be read one after
/// another: a decision expanded in one is referred to in the later ones, and a repeat whose
/// steps were recorded only out of sight is expanded where it is met.
pub fn explain_texts(program: &Program, sources: &SourceMap, steps: &[Step]) -> Vec<String> {
    text::render_all(&Ctx { program, sources, places: None }, steps)
}

/// The explanation as JSON: `{"schema": "covenant.explanation/1", "step": {…}}`.
pub fn explain_json(program: &Program, sources: &SourceMap, step: &Step) -> serde_json::Value {
    serde_json::from_str(&explain_json_text(program, sources, step)).unwrap_or(serde_json::Value::Null)
}

/// Writes the explanation's JSON ([`explain_json`]) straight into `out`, byte for byte the
/// compact text of that value, without building it first. `places` remembers the text of the
/// source locations written, for the next explanation of the same program.
pub fn write_explanation_json(
    program: &Program,
    sources: &SourceMap,
    places: &JsonPlaces,
    step: &Step,
    out: &mut JsonOut,
) {
    out.begin_object();
    out.key("schema").str(SCHEMA);
    out.key("step");
    json::write_step(&Ctx { program, sources, places: Some(places) }, step, out);
    out.end_object();
}

/// The JSON text of source locations and excerpts already written. A batch explains every
/// row with the same few hundred places of one program; keeping their text (a line and
/// column lookup, a quoted excerpt) saves redoing it for every step.
#[derive(Debug, Default)]
pub struct JsonPlaces {
    texts: RefCell<HashMap<(Span, Place), Box<str>>>,
}

impl JsonPlaces {
    /// Places kept at most (about 200 bytes each); later ones are written afresh each time.
    const MAX_PLACES: usize = 50_000;

    pub fn new() -> JsonPlaces {
        JsonPlaces::default()
    }
}

/// What is written about a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Place {
    Location,
    Source,
    Excerpt,
}

/// A contract's payment statement as terminal text: payments made, payments not made and
/// why not, totals per party.
pub fn statement_text(program: &Program, sources: &SourceMap, statement: &covenant_eval::Statement) -> String {
    statement::render_text(&Ctx { program, sources, places: None }, statement)
}

/// A contract's payment statement as JSON (`covenant.statement/1`).
pub fn statement_json(
    program: &Program,
    sources: &SourceMap,
    statement: &covenant_eval::Statement,
) -> serde_json::Value {
    statement::render_json(&Ctx { program, sources, places: None }, statement)
}

/// The statement's JSON ([`statement_json`]) as compact text, written without building it as
/// a value first (a statement explained over many cases runs to tens of megabytes).
pub fn statement_json_text(program: &Program, sources: &SourceMap, statement: &covenant_eval::Statement) -> String {
    statement::render_json_text(&Ctx { program, sources, places: None }, statement)
}

/// The explanation's JSON ([`explain_json`]) as compact text.
pub fn explain_json_text(program: &Program, sources: &SourceMap, step: &Step) -> String {
    let mut out = JsonOut::new();
    write_explanation_json(program, sources, &JsonPlaces::new(), step, &mut out);
    out.into_string()
}

/// What both renderers read: the program (names, types) and the sources (locations, text),
/// and, when writing JSON for many explanations, the places already written.
struct Ctx<'a> {
    program: &'a Program,
    sources: &'a SourceMap,
    places: Option<&'a JsonPlaces>,
}

/// A span resolved against the source map.
struct Location<'a> {
    file: &'a SourceFile,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    span: Span,
}

impl<'a> Ctx<'a> {
    fn file(&self, span: Span) -> Option<&'a SourceFile> {
        self.sources.files().find(|(id, _)| *id == span.file).map(|(_, f)| f)
    }

    fn locate(&self, span: Span) -> Option<Location<'a>> {
        let file = self.file(span)?;
        if span.end as usize > file.text.len() || span.start > span.end {
            return None;
        }
        let (line, column) = file.line_col(span.start);
        let (end_line, end_column) = file.line_col(span.end);
        Some(Location { file, line, column, end_line, end_column, span })
    }

    /// The exact source text of a span.
    fn source(&self, span: Span) -> Option<&'a str> {
        self.locate(span).map(|l| l.file.slice(span))
    }

    /// The source text of a span when it is short enough to quote inline: one line, at most
    /// 60 characters, runs of spaces collapsed.
    fn snippet(&self, span: Span) -> Option<String> {
        let text = self.source(span)?;
        if text.contains('\n') || text.trim().is_empty() {
            return None;
        }
        let text = collapse(text);
        (text.chars().count() <= 60).then_some(text)
    }

    /// The source text of a span on one line (comments dropped, whitespace collapsed),
    /// shortened to `max` characters.
    fn brief(&self, span: Span, max: usize) -> Option<String> {
        let text = self.source(span)?;
        let text = collapse(&text.lines().map(strip_comment).collect::<Vec<_>>().join(" "));
        (!text.is_empty()).then(|| shorten(&text, max))
    }

    /// The line a span starts on without its comment, trimmed, spaces collapsed, and
    /// shortened to 100 characters.
    fn excerpt(&self, span: Span) -> Option<String> {
        let loc = self.locate(span)?;
        let line = collapse(strip_comment(loc.file.line_text(loc.line)));
        (!line.is_empty()).then(|| shorten(&line, 100))
    }

    /// A value as people read it. A number whose fraction runs past eight places (a ratio
    /// such as two thirds) is shown to six places after `≈`; the JSON `value` stays exact.
    fn display(&self, value: &covenant_ir::Value, ty: &Ty) -> String {
        if let covenant_ir::Value::Num(n) = value
            && n.normalize().scale() > 8
        {
            let shown = covenant_ir::Value::Num(n.round_dp(6));
            return format!("≈{}", covenant_ir::value::display(self.program, &shown, ty));
        }
        covenant_ir::value::display(self.program, value, ty)
    }

    /// A type as the programmer writes it: `Money per week`, `list of ItemRating`.
    fn ty_text(&self, ty: &Ty) -> String {
        self.program.type_name(ty)
    }
}

/// Trims a text and collapses each run of whitespace into one space.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A source line without its `//` comment (a `//` inside a text literal is kept).
fn strip_comment(line: &str) -> &str {
    let mut in_text = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_text => escaped = true,
            '"' => in_text = !in_text,
            '/' if !in_text && line[i + 1..].starts_with('/') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Shortens a text to `max` characters, ending it with `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The name bound by a `let` expression, read from its source (`let rate = … in …`).
fn let_name(source: &str) -> Option<&str> {
    let rest = source.trim_start().strip_prefix("let")?;
    let rest = rest.trim_start();
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}
