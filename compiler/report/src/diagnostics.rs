//! Diagnostics rendered for people (ariadne, with the source excerpt and a caret under the
//! text) and for programs (JSON with code, severity, message and spans).
//!
//! Spans are byte offsets, so ariadne is always configured with `IndexType::Byte`: money
//! literals such as `£1,234.50` contain a two-byte character, and character indices would
//! put the caret in the wrong place.

use ariadne::{Color, Config, IndexType, Label, Report, ReportKind};
use covenant_source::{Diagnostic, Severity, SourceMap, Span};

type AriadneSpan = (String, std::ops::Range<usize>);

fn ariadne_span(sources: &SourceMap, span: Span) -> AriadneSpan {
    let file = sources.get(span.file);
    let len = file.text.len();
    let start = (span.start as usize).min(len);
    let end = (span.end as usize).clamp(start, len);
    (file.name.clone(), start..end)
}

/// Renders one diagnostic as text: `error[E0302]: …` with the source lines and labels.
pub fn render(diagnostic: &Diagnostic, sources: &SourceMap, color: bool) -> String {
    let kind = match diagnostic.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
    };
    let primary = ariadne_span(sources, diagnostic.primary.span);
    let (primary_color, secondary_color) = (Color::Red, Color::Blue);
    let mut report = Report::build(kind, primary.clone())
        .with_config(Config::default().with_index_type(IndexType::Byte).with_color(color))
        .with_code(diagnostic.code)
        .with_message(&diagnostic.message)
        .with_label(
            Label::new(primary).with_message(&diagnostic.primary.message).with_color(primary_color).with_order(0),
        );
    for (i, label) in diagnostic.secondary.iter().enumerate() {
        report = report.with_label(
            Label::new(ariadne_span(sources, label.span))
                .with_message(&label.message)
                .with_color(secondary_color)
                .with_order(i as i32 + 1),
        );
    }
    for note in &diagnostic.notes {
        report = report.with_note(note);
    }
    if let Some(help) = &diagnostic.help {
        report = report.with_help(help);
    }
    let cache = ariadne::sources(sources.files().map(|(_, f)| (f.name.clone(), f.text.clone())));
    let mut out = Vec::new();
    if report.finish().write(cache, &mut out).is_err() {
        // Writing to a Vec only fails if ariadne cannot find a file; fall back to one line.
        return format!(
            "{}: {}[{}]: {}\n",
            sources.location(diagnostic.primary.span),
            kind_word(diagnostic),
            diagnostic.code,
            diagnostic.message
        );
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn kind_word(d: &Diagnostic) -> &'static str {
    match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// One line per diagnostic: `file:line:column: error[E0302]: message` (for editors and grep).
pub fn render_short(diagnostic: &Diagnostic, sources: &SourceMap) -> String {
    format!(
        "{}: {}[{}]: {}",
        sources.location(diagnostic.primary.span),
        kind_word(diagnostic),
        diagnostic.code,
        diagnostic.message
    )
}

/// The JSON form of a span: file, one-based line and column of both ends, and byte offsets.
pub fn span_json(sources: &SourceMap, span: Span) -> serde_json::Value {
    let file = sources.get(span.file);
    let (line, column) = file.line_col(span.start);
    let (end_line, end_column) = file.line_col(span.end);
    serde_json::json!({
        "file": file.name,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "start": span.start,
        "end": span.end,
    })
}

/// The JSON form of a diagnostic.
pub fn to_json(diagnostic: &Diagnostic, sources: &SourceMap) -> serde_json::Value {
    let labels: Vec<serde_json::Value> = std::iter::once(&diagnostic.primary)
        .chain(&diagnostic.secondary)
        .enumerate()
        .map(
            |(i, l)| serde_json::json!({ "primary": i == 0, "message": l.message, "span": span_json(sources, l.span) }),
        )
        .collect();
    serde_json::json!({
        "code": diagnostic.code,
        "severity": kind_word(diagnostic),
        "message": diagnostic.message,
        "labels": labels,
        "notes": diagnostic.notes,
        "help": diagnostic.help,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_lands_under_the_right_text_after_a_pound_sign() {
        let mut sources = SourceMap::default();
        let text = "param a: Money = £5 * £6\n";
        let file = sources.add("a.cov", text);
        let start = text.find("£6").expect("present");
        let d = Diagnostic::error(
            "E0302",
            "money cannot be multiplied by money",
            Span::new(file, start, start + "£6".len()),
            "this is Money",
        );
        let out = render(&d, &sources, false);
        assert!(out.contains("[E0302]"), "{out}");
        assert!(out.contains("a.cov:1:23"), "{out}");
        assert_eq!(render_short(&d, &sources), "a.cov:1:23: error[E0302]: money cannot be multiplied by money");
    }
}
