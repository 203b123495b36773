//! Lexer and parser: `.cov` source text to a syntax tree plus diagnostics.
//!
//! [`parse`] never fails: it returns the items it could read and one diagnostic per problem.
//! Lexing is done by logos ([`token`]); the grammar is chumsky ([`parser`]). Error codes
//! produced here are in the `E00xx` range and documented in `spec/errors.md`.

pub mod ast;
mod parser;
pub mod token;

use chumsky::error::{EmptyErr, Rich, RichPattern};
use chumsky::prelude::*;
use covenant_source::{Diagnostic, FileId, Span};
use logos::Logos;
use token::Token;

/// Lexes a file into tokens with byte spans, reporting characters that start no token.
pub fn lex(file: FileId, text: &str) -> (Vec<(Token<'_>, SimpleSpan)>, Vec<Diagnostic>) {
    let mut tokens = Vec::new();
    let mut diagnostics = Vec::new();
    for (token, range) in Token::lexer(text).spanned() {
        let span = Span::new(file, range.start, range.end);
        let slice = text.get(range.clone()).unwrap_or("");
        let token = match token {
            Ok(t) => t,
            Err(()) => {
                diagnostics.push(lex_error(span, slice));
                Token::Error
            }
        };
        if let Some(d) = check_literal(&token, span) {
            diagnostics.push(d);
        }
        tokens.push((token, SimpleSpan::from(range)));
    }
    (tokens, diagnostics)
}

fn lex_error(span: Span, slice: &str) -> Diagnostic {
    if slice.starts_with('"') {
        Diagnostic::error("E0002", "this text is not closed", span, "the text starts here")
            .with_help("close the text with a `\"` on the same line")
    } else if slice.starts_with('£') {
        Diagnostic::error("E0003", "malformed money amount", span, "expected digits after `£`")
            .with_help("write money like `£1,234.50`")
    } else {
        Diagnostic::error("E0001", format!("unexpected character `{slice}`"), span, "not part of any token")
            .with_help("remove it, or put it inside a text in quotes")
    }
}

/// Checks literals that the lexer accepts but whose value is malformed or too large.
fn check_literal(token: &Token<'_>, span: Span) -> Option<Diagnostic> {
    let too_large = |what: &str| {
        Diagnostic::error(
            "E0003",
            format!("this {what} is too large or too precise"),
            span,
            "cannot be represented exactly",
        )
        .with_note("numbers have at most 28 significant digits")
    };
    match token {
        Token::Money(s) => {
            if !commas_group_thousands(s.trim_start_matches('£')) {
                return Some(
                    Diagnostic::error(
                        "E0003",
                        "commas in a money amount must group thousands",
                        span,
                        "badly placed comma",
                    )
                    .with_help("write `£1,234.50` or `£1234.50`"),
                );
            }
            parser::money_value(s).is_none().then(|| too_large("money amount"))
        }
        Token::Int(s) | Token::Decimal(s) => parser::decimal(s).is_none().then(|| too_large("number")),
        Token::Percent(s) => parser::percent_value(s).is_none().then(|| too_large("percentage")),
        _ => None,
    }
}

/// Whether the commas in a written amount (`1,234.50`) group thousands: the rule for money
/// literals in source and for money in input cases alike.
pub fn commas_group_thousands(amount: &str) -> bool {
    let int_part = amount.trim_start_matches('-').split('.').next().unwrap_or("");
    let groups: Vec<&str> = int_part.split(',').collect();
    groups.len() == 1
        || (!groups[0].is_empty()
            && groups[0].len() <= 3
            && groups[1..].iter().all(|g| g.len() == 3 && g.chars().all(|c| c.is_ascii_digit())))
}

/// Parses one file. Never fails: unreadable items are skipped after one diagnostic each.
pub fn parse(file: FileId, text: &str) -> (ast::File, Vec<Diagnostic>) {
    parse_items(file, text, true)
}

/// [`parse`], trying each item first with the grammar that keeps no diagnostics when
/// `quick_first` (as `parse` does), or only with the explaining grammar (to test that the
/// two agree).
fn parse_items(file: FileId, text: &str, quick_first: bool) -> (ast::File, Vec<Diagnostic>) {
    let (tokens, mut diagnostics) = lex(file, text);
    let mut result = ast::File::default();
    // Each item is parsed on its own (an error stops at its item), by parsers built once for
    // the whole file: building the grammar costs more than parsing a typical item with it.
    // Most alternatives the grammar tries fail, even in a correct item, and chumsky's rich
    // errors (what was expected, what was found) are built for each: an item is parsed first
    // by the grammar with errors that cost nothing, and again by the one with rich errors
    // only if that fails, to say why.
    let mut items = Vec::new();
    for (index, chunk) in split_items(&tokens).into_iter().enumerate() {
        let Some(first) = chunk.first() else { continue };
        let last = chunk.last().map_or(first.1.end, |t| t.1.end);
        let eoi = SimpleSpan::from(last..last);
        if index == 0 && first.0 == Token::Module {
            items.push(Chunk::Module(chunk, eoi));
        } else if let Some(d) = too_deep(file, chunk) {
            items.push(Chunk::TooDeep(d));
        } else {
            items.push(Chunk::Item(mark_table_rows(text, &without_inner_docs(chunk)), eoi));
        }
    }
    let item_parser = parser::item::<_, EmptyErr>(file).then_ignore(end());
    // The parser whose errors say what was expected is built only when an item fails.
    let mut explaining_parser = None;
    for chunk in &items {
        match chunk {
            Chunk::Module(tokens, eoi) => {
                let input = tokens.split_token_span(*eoi);
                let (path, errors) = parser::module_decl(file).then_ignore(end()).parse(input).into_output_errors();
                match (path, errors.into_iter().next()) {
                    (Some(path), None) => result.module = Some(path),
                    (_, Some(error)) => diagnostics.extend(syntax_error(file, &error)),
                    (None, None) => {}
                }
            }
            Chunk::TooDeep(d) => diagnostics.push(d.clone()),
            Chunk::Item(tokens, eoi) => {
                let input = || tokens.as_slice().split_token_span(*eoi);
                if quick_first && let Ok(item) = item_parser.parse(input()).into_result() {
                    result.items.push(item);
                    continue;
                }
                let parser = explaining_parser.get_or_insert_with(|| parser::item(file).then_ignore(end()));
                match parser.parse(input()).into_output_errors() {
                    (_, errors) if !errors.is_empty() => diagnostics.extend(syntax_error(file, &errors[0])),
                    // Both grammars accept the same items; this is only in case they differ.
                    (Some(item), _) => result.items.push(item),
                    (None, _) => {}
                }
            }
        }
    }
    desugar_contracts(&mut result);
    (result, diagnostics)
}

/// An item's tokens as [`parse`] takes them: the module declaration, an item nested too
/// deeply to parse (its error), or an item's tokens ready to parse and where it ends.
enum Chunk<'a, 's> {
    Module(&'a [(Token<'s>, SimpleSpan)], SimpleSpan),
    TooDeep(Diagnostic),
    Item(Vec<(Token<'s>, SimpleSpan)>, SimpleSpan),
}

/// A contract's parties become an enum `Party` (so splits can share amounts between them),
/// and each clause heading is cited by the declarations after it that cite no clause.
fn desugar_contracts(file: &mut ast::File) {
    use ast::{EnumDecl, ItemKind, Name, VariantDecl};
    let mut parties = Vec::new();
    let mut heading: Option<(String, Span)> = None;
    for item in &mut file.items {
        let cited = match &mut item.kind {
            ItemKind::Clause(h) => {
                heading = Some((h.citation(), item.span));
                continue;
            }
            ItemKind::Contract(c) => {
                let variants = c
                    .parties
                    .iter()
                    .map(|p| VariantDecl { name: p.name.clone(), code: None, label: p.label.clone() })
                    .collect();
                let name = Name { text: "Party".into(), span: c.name.span };
                parties.push(ast::Item {
                    doc: Some(format!("The parties to contract `{}`.", c.name.text)),
                    kind: ItemKind::Enum(EnumDecl { name, ordered: false, variants }),
                    span: item.span,
                });
                continue;
            }
            ItemKind::Decision(d) => &mut d.clause,
            ItemKind::Param(p) => &mut p.clause,
            ItemKind::Table(t) => &mut t.clause,
            ItemKind::Split(s) => &mut s.clause,
            ItemKind::Payment(p) => &mut p.clause,
            _ => continue,
        };
        if cited.is_none() {
            cited.clone_from(&heading);
        }
    }
    file.items.extend(parties);
}

/// The chunk without the doc comments inside its braces (on record fields, contract
/// lines, table rows): they are for the reader of the source and mean nothing to the rules.
fn without_inner_docs<'s>(chunk: &[(Token<'s>, SimpleSpan)]) -> Vec<(Token<'s>, SimpleSpan)> {
    let mut depth = 0usize;
    let mut out = Vec::with_capacity(chunk.len());
    for (token, span) in chunk {
        match token {
            Token::LBrace => depth += 1,
            Token::RBrace => depth = depth.saturating_sub(1),
            Token::DocComment(_) if depth > 0 => continue,
            _ => {}
        }
        out.push((token.clone(), *span));
    }
    out
}

/// In a table or split body, a line break between tokens at the body's own bracket level ends a row:
/// inserts [`Token::RowBreak`] there. Elsewhere line breaks mean nothing.
fn mark_table_rows<'s>(text: &str, chunk: &[(Token<'s>, SimpleSpan)]) -> Vec<(Token<'s>, SimpleSpan)> {
    // Tables and splits have one row per line.
    let rows_by_line = chunk
        .iter()
        .find(|(t, _)| !matches!(t, Token::DocComment(_)))
        .is_some_and(|(t, _)| matches!(t, Token::Table | Token::Split));
    if !rows_by_line {
        return chunk.to_vec();
    }
    let mut out = Vec::with_capacity(chunk.len() + chunk.len() / 4);
    let mut depth = 0usize;
    let mut in_body = false;
    for (i, (token, span)) in chunk.iter().enumerate() {
        if *token == Token::LBrace && depth == 0 {
            in_body = true;
        }
        if i > 0 && in_body && depth == 1 && *token != Token::RBrace {
            let gap = text.get(chunk[i - 1].1.end..span.start).unwrap_or("");
            if gap.contains('\n') {
                out.push((Token::RowBreak, SimpleSpan::from(span.start..span.start)));
            }
        }
        match token {
            Token::LParen | Token::LBracket | Token::LBrace => depth += 1,
            Token::RParen | Token::RBracket | Token::RBrace => depth = depth.saturating_sub(1),
            _ => {}
        }
        out.push((token.clone(), *span));
    }
    out
}

/// Deepest bracket nesting accepted in one declaration.
pub const MAX_BRACKET_DEPTH: usize = 100;
/// Most operators accepted in one expression (each table row counts on its own). Together
/// with the bracket limit this bounds how deep a syntax tree can be, so no later pass can
/// exhaust the stack; it matches the evaluator's nesting limit.
pub const MAX_OPERATORS: usize = 500;

/// Rejects a declaration nested too deeply to compile safely, before it is parsed.
fn too_deep(file: FileId, chunk: &[(Token<'_>, SimpleSpan)]) -> Option<Diagnostic> {
    let is_table =
        chunk.iter().find(|(t, _)| !matches!(t, Token::DocComment(_))).is_some_and(|(t, _)| *t == Token::Table);
    let mut depth = 0usize;
    let mut operators = 0usize;
    for (token, range) in chunk {
        let span = Span::new(file, range.start, range.end);
        match token {
            Token::LParen | Token::LBracket | Token::LBrace => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    return Some(
                        Diagnostic::error(
                            "E0004",
                            "brackets are nested too deeply",
                            span,
                            format!("more than {MAX_BRACKET_DEPTH} levels deep"),
                        )
                        .with_help("split the expression into named decisions or `let` bindings"),
                    );
                }
            }
            Token::RParen | Token::RBracket | Token::RBrace => depth = depth.saturating_sub(1),
            // Each row of a table is a separate expression.
            Token::FatArrow if is_table && depth == 1 => operators = 0,
            Token::Plus
            | Token::Minus
            | Token::Star
            | Token::Slash
            | Token::EqEq
            | Token::NotEq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::And
            | Token::Or
            | Token::Not
            | Token::Otherwise
            | Token::Dot
            | Token::If
            | Token::Let
            | Token::Match
            | Token::Is
            | Token::In => {
                operators += 1;
                if operators > MAX_OPERATORS {
                    return Some(
                        Diagnostic::error(
                            "E0004",
                            "this expression is too long",
                            span,
                            format!("more than {MAX_OPERATORS} operators"),
                        )
                        .with_help("split the expression into named decisions or `let` bindings"),
                    );
                }
            }
            _ => {}
        }
    }
    None
}

/// Cuts the token list before every token that can only start an item (a run of doc
/// comments stays with the item it documents).
fn split_items<'a, 's>(tokens: &'a [(Token<'s>, SimpleSpan)]) -> Vec<&'a [(Token<'s>, SimpleSpan)]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut depth = 0usize;
    for i in 0..tokens.len() {
        match tokens[i].0 {
            Token::LBrace => depth += 1,
            Token::RBrace => depth = depth.saturating_sub(1),
            _ => {}
        }
        let starts = tokens[i].0.starts_item() && !continues_item(tokens, i, depth);
        let after_doc = i > 0 && matches!(tokens[i - 1].0, Token::DocComment(_));
        if starts && !after_doc && i > start {
            chunks.push(&tokens[start..i]);
            start = i;
        }
        // A declaration keyword never appears inside braces, so one after an unclosed `{`
        // starts afresh: the doc comments of the declarations after it stay theirs.
        if starts && !matches!(tokens[i].0, Token::DocComment(_) | Token::As) {
            depth = 0;
        }
    }
    if start < tokens.len() {
        chunks.push(&tokens[start..]);
    }
    chunks
}

/// Whether a keyword that can start an item is, here, part of the item before it: `as of`
/// inside a test, `paid at contract end` in a payment, and `clause "…"` citing a clause
/// (a heading is `clause "number" "title"`).
fn continues_item(tokens: &[(Token<'_>, SimpleSpan)], i: usize, depth: usize) -> bool {
    match tokens[i].0 {
        // A doc comment inside braces documents a field, a party or a row, not an item.
        Token::As | Token::DocComment(_) => depth > 0,
        Token::Contract => i > 0 && tokens[i - 1].0 == Token::Ident("at"),
        Token::Clause => !matches!(
            (tokens.get(i + 1).map(|t| &t.0), tokens.get(i + 2).map(|t| &t.0)),
            (Some(Token::Text(_)), Some(Token::Text(_)))
        ),
        _ => false,
    }
}

/// The diagnostic for a parse error, or `None` when the lexer has already reported its cause.
fn syntax_error(file: FileId, error: &Rich<'_, Token<'_>, SimpleSpan>) -> Option<Diagnostic> {
    let range = error.span();
    let span = Span::new(file, range.start, range.end);
    let found = match error.found() {
        Some(Token::Error) => return None,
        Some(token) => token.to_string(),
        None => "the end of the declaration".to_string(),
    };
    // Labels ("a rule", "a type") say what was meant; they come before single tokens.
    let mut expected: Vec<(u8, String)> = error
        .expected()
        .filter_map(|p| match p {
            RichPattern::Label(l) => Some((0, l.to_string())),
            RichPattern::Token(t) => Some((1, t.to_string())),
            RichPattern::Identifier(i) => Some((1, format!("`{i}`"))),
            RichPattern::EndOfInput => Some((2, "the end of the declaration".to_string())),
            _ => None,
        })
        .collect();
    expected.sort();
    expected.dedup();
    let expected: Vec<String> = expected.into_iter().map(|(_, e)| e).collect();
    let wanted = match expected.len() {
        0 => "something else".to_string(),
        1 => expected[0].clone(),
        n if n <= 6 => format!("{} or {}", expected[..n - 1].join(", "), expected[n - 1]),
        _ => format!("{}, …", expected[..6].join(", ")),
    };
    let context = error.contexts().next().map(|(label, _)| label.to_string());
    let mut d = Diagnostic::error(
        "E0010",
        format!("expected {wanted}, found {found}"),
        span,
        if error.found().is_some() { format!("unexpected {found}") } else { "the declaration ends here".to_string() },
    );
    if let Some(context) = context {
        d = d.with_note(format!("while reading {context}"));
    }
    Some(d.with_help("the rest of this declaration was skipped; declarations after it are still checked"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every `.cov` file of the examples and the standard library, by name.
    fn shipped_files() -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        for top in ["examples", "stdlib"] {
            for dir in std::fs::read_dir(root.join(top)).expect("a shipped folder").flatten() {
                for entry in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "cov") {
                        let text = std::fs::read_to_string(&path).expect("a readable file");
                        files.push((path.display().to_string(), text));
                    }
                }
            }
        }
        assert!(files.len() >= 12, "the examples and the standard library are found");
        files
    }

    /// The grammar that keeps no diagnostics accepts exactly what the explaining one does, and
    /// builds the same items: on every shipped file, and on copies with mistakes made in one
    /// line in eleven (a word moved to the end, a letter made a digit, a bracket left open),
    /// in turn at each line.
    #[test]
    fn quick_and_explaining_grammars_agree_on_every_item() {
        type Mistake = fn(&str) -> String;
        let mistakes: [Mistake; 3] = [
            |line| match line.trim_start().split_once(' ') {
                Some((first, rest)) => format!("{rest} {first}"),
                None => line.to_string(),
            },
            |line| line.replacen(|c: char| c.is_alphabetic(), "7", 1),
            |line| format!("{line} ("),
        ];
        let mut diagnostics = 0;
        for (name, text) in shipped_files() {
            let mut variants = vec![text.clone()];
            for mistake in mistakes {
                for offset in 0..11 {
                    let lines = text.lines().enumerate();
                    let broken = lines.map(|(i, line)| if i % 11 == offset { mistake(line) } else { line.to_string() });
                    variants.push(broken.collect::<Vec<_>>().join("\n"));
                }
            }
            for variant in &variants {
                let quick = parse_items(FileId(0), variant, true);
                let explaining = parse_items(FileId(0), variant, false);
                assert_eq!(format!("{quick:?}"), format!("{explaining:?}"), "{name}:\n{variant}");
                diagnostics += quick.1.len();
            }
        }
        assert!(diagnostics > 5000, "the mistakes are found ({diagnostics} diagnostics)");
    }
}
