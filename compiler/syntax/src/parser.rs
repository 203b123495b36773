//! The chumsky grammar of `.cov` files.
//!
//! Error recovery works at item level: the lexer's tokens are cut into chunks at the tokens
//! that can only start an item (`decision`, `table`, a doc comment, …), and each chunk is
//! parsed on its own. A mistake therefore costs one diagnostic for its item, and the rest of
//! the file is still parsed and checked. Each grammar function returns a boxed parser, which
//! keeps chumsky's compile time in check.

use crate::ast::*;
use crate::token::Token;
use chumsky::{error::LabelError, input::ValueInput, prelude::*};
use covenant_source::{FileId, Span};
use rust_decimal::Decimal;

type P<'t, I, O, E> = Boxed<'t, 't, I, O, extra::Err<E>>;

pub(crate) trait Tokens<'t, 's: 't>: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan> {}
impl<'t, 's: 't, I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>> Tokens<'t, 's> for I {}

/// What the grammar asks of its error type. The grammar is built twice: with [`EmptyErr`],
/// which costs nothing when an alternative fails (most do, even in a correct file), and with
/// [`Rich`], whose expected-and-found errors make the diagnostics. `parse` tries the first
/// and re-parses an item with the second only when it fails.
pub(crate) trait Fail<'t, I: Input<'t, Span = SimpleSpan>>:
    chumsky::error::Error<'t, I> + LabelError<'t, I, &'static str> + 't
{
    /// An error of our own making, with its message.
    fn custom(span: SimpleSpan, message: &'static str) -> Self;
}

impl<'t, I: Input<'t, Span = SimpleSpan>> Fail<'t, I> for EmptyErr {
    fn custom(_: SimpleSpan, _: &'static str) -> Self {
        EmptyErr::default()
    }
}

impl<'t, 's: 't, I: Tokens<'t, 's>> Fail<'t, I> for Rich<'t, Token<'s>, SimpleSpan> {
    fn custom(span: SimpleSpan, message: &'static str) -> Self {
        Rich::custom(span, message)
    }
}

fn sp(file: FileId, s: SimpleSpan) -> Span {
    Span::new(file, s.start, s.end)
}

fn name<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, Name, E> {
    select! { Token::Ident(s) => s }
        .map_with(move |s: &str, e| Name { text: s.to_string(), span: sp(file, e.span()) })
        .labelled("a name")
        .boxed()
}

/// A word that is special only here (`hit`, `per`, `up`, …).
fn word<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(w: &'static str) -> P<'t, I, (), E> {
    select! { Token::Ident(s) if s == w => () }.labelled(w).boxed()
}

fn text<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>() -> P<'t, I, String, E> {
    select! { Token::Text(s) => unescape(s) }.labelled("a text in quotes").boxed()
}

fn unescape(quoted: &str) -> String {
    let inner = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or("");
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses a decimal literal exactly; `None` if it does not fit (reported as E0003).
pub(crate) fn decimal(digits: &str) -> Option<Decimal> {
    Decimal::from_str_exact(digits).ok()
}

fn number_token<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>() -> P<'t, I, (Decimal, bool), E> {
    select! {
        Token::Int(s) => (decimal(s).unwrap_or(Decimal::MAX), true),
        Token::Decimal(s) => (decimal(s).unwrap_or(Decimal::MAX), false),
    }
    .labelled("a number")
    .boxed()
}

pub(crate) fn money_value(s: &str) -> Option<Decimal> {
    decimal(&s.trim_start_matches('£').replace(',', ""))
}

pub(crate) fn percent_value(s: &str) -> Option<Decimal> {
    decimal(s.trim_end_matches('%'))?.checked_div(Decimal::ONE_HUNDRED)
}

const DURATION_WORDS: &[&str] = &["day", "days", "week", "weeks", "month", "months", "year", "years"];

fn type_expr<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, TypeExpr, E> {
    recursive(move |ty| {
        let named = name(file)
            .then(word("per").ignore_then(name(file)).or_not())
            .map_with(move |(name, per), e| TypeExpr { kind: TypeKind::Named { name, per }, span: sp(file, e.span()) });
        let list = word("list")
            .ignore_then(word("of"))
            .ignore_then(ty.clone())
            .map_with(move |t, e| TypeExpr { kind: TypeKind::List(Box::new(t)), span: sp(file, e.span()) });
        let optional = word("optional")
            .ignore_then(ty)
            .map_with(move |t, e| TypeExpr { kind: TypeKind::Optional(Box::new(t)), span: sp(file, e.span()) });
        choice((list, optional, named)).labelled("a type")
    })
    .boxed()
}

fn literal<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, Lit, E> {
    let per = word("per").ignore_then(name(file));
    let money = select! { Token::Money(s) => money_value(s).unwrap_or(Decimal::MAX) }
        .then(per.clone().or_not())
        .map(|(m, per)| Lit::Money(m, per));
    let duration_word = select! { Token::Ident(s) if DURATION_WORDS.contains(&s) => s }
        .map_with(move |s: &str, e| Name { text: s.to_string(), span: sp(file, e.span()) });
    let hours_word = select! { Token::Ident(s) if s == "hours" || s == "hour" => () };
    let number = number_token().then(
        choice((duration_word.map(Suffix::Duration), hours_word.ignore_then(per.or_not()).map(Suffix::Hours))).or_not(),
    );
    let number = number.map(|((value, is_int), suffix)| match suffix {
        Some(Suffix::Duration(unit)) => Lit::Duration(i64::try_from(value.trunc()).unwrap_or(i64::MAX), unit),
        Some(Suffix::Hours(per)) => Lit::Hours(value, per),
        None if is_int => Lit::Int(value),
        None => Lit::Decimal(value),
    });
    choice((
        money,
        number,
        select! {
            Token::Percent(s) => Lit::Percent(percent_value(s).unwrap_or(Decimal::MAX)),
            Token::Date(s) => Lit::Date(s.to_string()),
            Token::Text(s) => Lit::Text(unescape(s)),
            Token::True => Lit::Bool(true),
            Token::False => Lit::Bool(false),
        },
    ))
    .labelled("a value")
    .boxed()
}

enum Suffix {
    Duration(Name),
    Hours(Option<Name>),
}

fn expr_node(kind: ExprKind, span: Span) -> Expr {
    Expr { kind, span }
}

fn binary(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    let span = l.span.to(r.span);
    expr_node(ExprKind::Binary(op, Box::new(l), Box::new(r)), span)
}

pub(crate) fn expr<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, Expr, E> {
    recursive(move |expr| {
        let lit = literal(file).map_with(move |l, e| expr_node(ExprKind::Lit(l), sp(file, e.span())));

        let record_fields = name(file)
            .then_ignore(just(Token::Colon))
            .then(expr.clone())
            .separated_by(just(Token::Comma))
            .allow_trailing()
            .collect::<Vec<_>>()
            .delimited_by(just(Token::LBrace), just(Token::RBrace));
        let record = name(file)
            .or_not()
            .then(record_fields)
            .map_with(move |(name, fields), e| expr_node(ExprKind::Record { name, fields }, sp(file, e.span())));

        let list = expr
            .clone()
            .separated_by(just(Token::Comma))
            .allow_trailing()
            .collect::<Vec<_>>()
            .delimited_by(just(Token::LBracket), just(Token::RBracket))
            .map_with(move |items, e| expr_node(ExprKind::List(items), sp(file, e.span())));

        let comprehension = just(Token::For)
            .ignore_then(name(file))
            .then_ignore(just(Token::In))
            .then(expr.clone())
            .then(just(Token::If).ignore_then(expr.clone()).or_not());
        let args = expr
            .clone()
            .then(comprehension.or_not())
            .then(just(Token::Comma).ignore_then(expr.clone()).repeated().collect::<Vec<_>>())
            .or_not()
            .then_ignore(just(Token::Comma).or_not())
            .delimited_by(just(Token::LParen), just(Token::RParen));
        let call = name(file).then(args).map_with(move |(callee, args), e| {
            let (args, comprehension) = match args {
                None => (Vec::new(), None),
                Some(((first, Some(((var, list), filter))), rest)) => {
                    (rest, Some(Box::new(Comprehension { body: first, var, list, filter })))
                }
                Some(((first, None), rest)) => (std::iter::once(first).chain(rest).collect(), None),
            };
            expr_node(ExprKind::Call { callee, args, comprehension }, sp(file, e.span()))
        });

        let variable = name(file).map(|n| {
            let span = n.span;
            expr_node(ExprKind::Name(n), span)
        });
        // The brackets belong to the expression's span, so quoting it quotes them too.
        let parens =
            expr.clone().delimited_by(just(Token::LParen), just(Token::RParen)).map_with(move |mut inner: Expr, e| {
                inner.span = sp(file, e.span());
                inner
            });

        let no_value = just(Token::None)
            .ignore_then(text())
            .map_with(move |reason, e| expr_node(ExprKind::NoValue(reason), sp(file, e.span())));
        let atom = choice((lit, no_value, call, record, variable, list, parens)).boxed();

        let postfix = atom
            .foldl(just(Token::Dot).ignore_then(name(file)).repeated(), |base, field| {
                let span = base.span.to(field.span);
                expr_node(ExprKind::Field(Box::new(base), field), span)
            })
            .boxed();

        let unary = recursive(|unary| {
            just(Token::Minus)
                .map_with(move |_, e| sp(file, e.span()))
                .then(unary)
                .map(|(start, operand): (Span, Expr)| {
                    let span = start.to(operand.span);
                    expr_node(ExprKind::Unary(UnaryOp::Neg, Box::new(operand)), span)
                })
                .or(postfix.clone())
        })
        .boxed();

        let product = unary
            .clone()
            .foldl(
                choice((just(Token::Star).to(BinaryOp::Mul), just(Token::Slash).to(BinaryOp::Div)))
                    .then(unary)
                    .repeated(),
                |l, (op, r)| binary(op, l, r),
            )
            .boxed();
        let sum = product
            .clone()
            .foldl(
                choice((just(Token::Plus).to(BinaryOp::Add), just(Token::Minus).to(BinaryOp::Sub)))
                    .then(product)
                    .repeated(),
                |l, (op, r)| binary(op, l, r),
            )
            .boxed();
        let other = sum
            .clone()
            .foldl(just(Token::Otherwise).ignore_then(sum).repeated(), |l, r| {
                let span = l.span.to(r.span);
                expr_node(ExprKind::Otherwise(Box::new(l), Box::new(r)), span)
            })
            .boxed();

        let cmp_op = choice((
            just(Token::EqEq).to(BinaryOp::Eq),
            just(Token::NotEq).to(BinaryOp::Ne),
            just(Token::LtEq).to(BinaryOp::Le),
            just(Token::GtEq).to(BinaryOp::Ge),
            just(Token::Lt).to(BinaryOp::Lt),
            just(Token::Gt).to(BinaryOp::Gt),
        ));
        let set = postfix
            .clone()
            .separated_by(just(Token::Comma))
            .allow_trailing()
            .collect::<Vec<_>>()
            .delimited_by(just(Token::LBrace), just(Token::RBrace));
        let is_target = choice((just(Token::None).to(None), postfix.clone().map(Some)));
        let comparison = other
            .clone()
            .then(
                choice((
                    cmp_op.then(other).map(Tail::Cmp),
                    just(Token::In).ignore_then(set).map(Tail::In),
                    just(Token::Is)
                        .ignore_then(just(Token::Not).or_not())
                        .then(is_target)
                        .map_with(move |(negated, target), e| Tail::Is(negated.is_some(), target, sp(file, e.span()))),
                ))
                .or_not(),
            )
            .map(|(l, tail)| match tail {
                None => l,
                Some(Tail::Cmp((op, r))) => binary(op, l, r),
                Some(Tail::In(set)) => {
                    let span = set.last().map_or(l.span, |last| l.span.to(last.span));
                    expr_node(ExprKind::InSet(Box::new(l), set), span)
                }
                Some(Tail::Is(negated, target, tail_span)) => {
                    let span = l.span.to(tail_span);
                    match target {
                        None => expr_node(ExprKind::IsNone { value: Box::new(l), negated }, span),
                        Some(variant) => expr_node(
                            ExprKind::IsVariant { value: Box::new(l), negated, variant: Box::new(variant) },
                            span,
                        ),
                    }
                }
            })
            .boxed();

        let negation = recursive(|negation| {
            just(Token::Not)
                .map_with(move |_, e| sp(file, e.span()))
                .then(negation)
                .map(|(start, operand): (Span, Expr)| {
                    let span = start.to(operand.span);
                    expr_node(ExprKind::Unary(UnaryOp::Not, Box::new(operand)), span)
                })
                .or(comparison)
        })
        .boxed();
        let conjunction = negation
            .clone()
            .foldl(just(Token::And).ignore_then(negation).repeated(), |l, r| binary(BinaryOp::And, l, r))
            .boxed();
        let disjunction = conjunction
            .clone()
            .foldl(just(Token::Or).ignore_then(conjunction).repeated(), |l, r| binary(BinaryOp::Or, l, r))
            .boxed();

        let if_expr = just(Token::If)
            .ignore_then(expr.clone())
            .then_ignore(just(Token::Then))
            .then(expr.clone())
            .then_ignore(just(Token::Else))
            .then(expr.clone())
            .map_with(move |((cond, then), els), e| {
                expr_node(
                    ExprKind::If { cond: Box::new(cond), then: Box::new(then), els: Box::new(els) },
                    sp(file, e.span()),
                )
            });
        let let_expr = just(Token::Let)
            .ignore_then(name(file))
            .then_ignore(just(Token::Eq))
            .then(expr.clone())
            .then_ignore(just(Token::In))
            .then(expr.clone())
            .map_with(move |((name, value), body), e| {
                expr_node(ExprKind::Let { name, value: Box::new(value), body: Box::new(body) }, sp(file, e.span()))
            });
        let arm = key_expr(file)
            .then_ignore(just(Token::FatArrow))
            .then(expr.clone())
            .map_with(move |(key, body), e| ArmDecl { key, body, span: sp(file, e.span()) });
        let match_expr = just(Token::Match)
            .ignore_then(expr.clone())
            .then(
                arm.separated_by(just(Token::Comma))
                    .allow_trailing()
                    .collect::<Vec<_>>()
                    .delimited_by(just(Token::LBrace), just(Token::RBrace)),
            )
            .map_with(move |(scrutinee, arms), e| {
                expr_node(ExprKind::Match { scrutinee: Box::new(scrutinee), arms }, sp(file, e.span()))
            });

        choice((if_expr, let_expr, match_expr, disjunction)).labelled("an expression")
    })
    .boxed()
}

enum Tail {
    Cmp((BinaryOp, Expr)),
    In(Vec<Expr>),
    Is(bool, Option<Expr>, Span),
}

fn binding<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, Binding, E> {
    name(file).then_ignore(just(Token::Colon)).then(type_expr(file)).map(|(name, ty)| Binding { name, ty }).boxed()
}

fn bindings<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, Vec<Binding>, E> {
    binding(file)
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(just(Token::LParen), just(Token::RParen))
        .boxed()
}

/// A key: `_`, or alternatives separated by `|`, each a literal, a variant or a range with
/// explicit ends. Used by table rows and by `match` arms.
fn key_expr<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, KeyExpr, E> {
    let bound = literal_expr(file);
    let range = choice((
        word("up").ignore_then(word("to")).ignore_then(bound.clone()).map(|b| (None, Some((b, true)))),
        word("under").ignore_then(bound.clone()).map(|b| (None, Some((b, false)))),
        word("at").ignore_then(word("least")).ignore_then(bound.clone()).map(|b| (Some((b, true)), None)),
        word("over")
            .ignore_then(bound.clone())
            .then(word("to").ignore_then(word("under").or_not()).then(bound.clone()).or_not())
            .map(|(low, high)| (Some((low, false)), high.map(|(under, h)| (h, under.is_none())))),
        bound.clone().then_ignore(just(Token::And)).then_ignore(word("over")).map(|low| (Some((low, true)), None)),
        bound
            .clone()
            .then_ignore(word("to"))
            .then(word("under").or_not())
            .then(bound.clone())
            .map(|((low, under), high)| (Some((low, true)), Some((high, under.is_none())))),
    ))
    .map_with(move |(low, high), e| AltExpr::Range { low, high, span: sp(file, e.span()) });
    let alt = choice((range, bound.map(AltExpr::Value)));
    choice((
        just(Token::Underscore).to(KeyKind::Any),
        alt.separated_by(just(Token::Bar)).at_least(1).collect::<Vec<_>>().map(KeyKind::Alts),
    ))
    .map_with(move |kind, e| KeyExpr { kind, span: sp(file, e.span()) })
    .boxed()
}

fn table_row<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, RowDecl, E> {
    let key = key_expr(file);
    let cell = choice((
        just(Token::None)
            .ignore_then(text())
            .map_with(move |reason, e| CellExpr::NoValue { reason, span: sp(file, e.span()) }),
        expr(file).map(CellExpr::Value),
    ));
    let keys = key.separated_by(just(Token::Comma)).at_least(1).collect::<Vec<_>>().map(Some);
    choice((just(Token::Otherwise).to(None), keys))
        .then_ignore(just(Token::FatArrow))
        .then(cell)
        .map_with(move |(keys, cell), e| RowDecl {
            otherwise: keys.is_none(),
            keys: keys.unwrap_or_default(),
            cell,
            span: sp(file, e.span()),
        })
        .labelled("a table row")
        .boxed()
}

/// A key or bound: a literal, a variant name, or a negated literal.
fn literal_expr<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, Expr, E> {
    let lit = literal(file).map_with(move |l, e| expr_node(ExprKind::Lit(l), sp(file, e.span())));
    let variable = name(file).then(just(Token::Dot).ignore_then(name(file)).or_not()).map(|(first, second)| {
        let base = expr_node(ExprKind::Name(first.clone()), first.span);
        match second {
            None => base,
            Some(field) => {
                let span = first.span.to(field.span);
                expr_node(ExprKind::Field(Box::new(base), field), span)
            }
        }
    });
    let atom = choice((lit, variable));
    just(Token::Minus)
        .map_with(move |_, e| sp(file, e.span()))
        .or_not()
        .then(atom)
        .map(|(minus, operand)| match minus {
            None => operand,
            Some(start) => {
                let span = start.to(operand.span);
                expr_node(ExprKind::Unary(UnaryOp::Neg, Box::new(operand)), span)
            }
        })
        .boxed()
}

/// `valid from D (to D)?`, `valid to D`, or a financial year `valid 2015/16`.
fn valid_clause<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, ValidClause, E> {
    let date = select! { Token::Date(s) => s }
        .map_with(move |s: &str, e| (s.to_string(), sp(file, e.span())))
        .labelled("a date (YYYY-MM-DD)");
    let year = select! { Token::Int(s) => s }.map_with(move |s: &str, e| (s.to_string(), sp(file, e.span())));
    let financial_year =
        year.then_ignore(just(Token::Slash)).then(year).map(|((first, first_span), (second, span))| {
            // `2015/16` runs from 1 April 2015 to 31 March 2016; the checker validates the pair.
            let next = first.parse::<i64>().map_or(0, |y| y + 1);
            let to = if second.len() == 2 && next % 100 == second.parse::<i64>().unwrap_or(-1) {
                format!("{next:04}-03-31")
            } else {
                format!("{second}/not-the-next-year")
            };
            // A first year that is not four digits is reported with the financial-year message.
            let from = if first.len() == 4 { format!("{first}-04-01") } else { format!("{first}/{second}") };
            (Some((from, first_span)), Some((to, span)))
        });
    let range = choice((
        word("from").ignore_then(date).then(word("to").ignore_then(date).or_not()).map(|(from, to)| (Some(from), to)),
        word("to").ignore_then(date).map(|to| (None, Some(to))),
        financial_year,
    ));
    word("valid")
        .ignore_then(range)
        .map_with(move |(from, to), e| ValidClause { from, to, span: sp(file, e.span()) })
        .labelled("a validity (`valid from 2015-04-01`, `valid 2015/16`)")
        .boxed()
}

#[derive(Clone)]
enum TableOption {
    Partial,
    Hit(Name),
    Valid(ValidClause),
    Source((String, Span)),
    Clause((String, Span)),
}

/// `clause "Schedule 2, 4.1"`: the contract clause a declaration comes from.
fn clause<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, (String, Span), E> {
    just(Token::Clause).ignore_then(quoted(file)).labelled("a clause (`clause \"Schedule 2, 4.1\"`)").boxed()
}

/// Text in quotes, unescaped, with its span.
fn quoted<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, (String, Span), E> {
    select! { Token::Text(s) => s }.map_with(move |s: &str, e| (unescape(s), sp(file, e.span()))).boxed()
}

enum ContractLine {
    Term(Expr, Expr),
    Period(Expr, Expr),
    Rounding(Name),
    Source((String, Span)),
    Party(PartyDecl),
}

/// `contract NAME "Title" { term …  period …  rounding …  source …  party … }`.
fn contract<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, ItemKind, E> {
    let range = |w: &'static str| word(w).ignore_then(expr(file)).then_ignore(word("to")).then(expr(file));
    let line = choice((
        range("term").map(|(a, b)| ContractLine::Term(a, b)),
        range("period").map(|(a, b)| ContractLine::Period(a, b)),
        word("rounding").ignore_then(name(file)).map(ContractLine::Rounding),
        word("source").ignore_then(quoted(file)).map(ContractLine::Source),
        word("party")
            .ignore_then(name(file))
            .then(name(file))
            .then(quoted(file).or_not())
            .map(|((name, role), label)| ContractLine::Party(PartyDecl { name, role, label: label.map(|l| l.0) })),
    ))
    .labelled("a contract line (`term`, `period`, `rounding`, `source` or `party`)");
    just(Token::Contract)
        .ignore_then(name(file))
        .then(quoted(file).or_not())
        .then(line.repeated().collect::<Vec<_>>().delimited_by(just(Token::LBrace), just(Token::RBrace)))
        .map(|((name, title), lines)| {
            let mut c = ContractDecl {
                name,
                title,
                term: None,
                period: None,
                rounding: None,
                source: None,
                parties: Vec::new(),
            };
            for line in lines {
                match line {
                    ContractLine::Term(a, b) => c.term = Some((a, b)),
                    ContractLine::Period(a, b) => c.period = Some((a, b)),
                    ContractLine::Rounding(r) => c.rounding = Some(r),
                    ContractLine::Source(s) => c.source = Some(s),
                    ContractLine::Party(p) => c.parties.push(p),
                }
            }
            ItemKind::Contract(Box::new(c))
        })
        .boxed()
}

enum PaymentLine {
    Amount(PaymentAmount),
    Schedule(ScheduleDecl, Span),
    Within(Expr),
    Gate(String, Span, Expr),
    When(Expr),
    Cap(Expr),
    Floor(Expr),
    Of(Expr),
    Shadow(Span),
    Clause((String, Span)),
}

/// `payment NAME "Title" from PARTY to PARTY` and then, in any order: `block …` or
/// `amount …`, `paid …`, `within …`, `gate "…" requires …`, `when …`, `cap …`, `floor …`,
/// `of …`, `shadow`.
fn payment<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, ItemKind, E> {
    let timing = just(Token::In).ignore_then(choice((word("advance").to(true), word("arrears").to(false))));
    let schedule = word("paid")
        .ignore_then(choice((
            word("monthly").ignore_then(timing.clone()).map(|in_advance| ScheduleDecl::Monthly { in_advance }),
            word("quarterly").ignore_then(timing.clone()).map(|in_advance| ScheduleDecl::Quarterly { in_advance }),
            timing.map(|in_advance| ScheduleDecl::Once { in_advance }),
            word("at").ignore_then(just(Token::Contract)).ignore_then(word("end")).to(ScheduleDecl::AtContractEnd),
            word("on").ignore_then(expr(file)).map(ScheduleDecl::On),
        )))
        .map_with(move |s, e| PaymentLine::Schedule(s, sp(file, e.span())))
        .labelled("a schedule (`paid monthly in advance`, `paid in arrears`, `paid at contract end`, …)");
    let line = choice((
        word("block").ignore_then(expr(file)).map(|e| PaymentLine::Amount(PaymentAmount::Block(e))),
        word("amount").ignore_then(expr(file)).map(|e| PaymentLine::Amount(PaymentAmount::Amount(e))),
        schedule,
        word("within").ignore_then(expr(file)).map(PaymentLine::Within),
        word("gate")
            .ignore_then(quoted(file))
            .then_ignore(word("requires"))
            .then(expr(file))
            .map(|((label, span), cond)| PaymentLine::Gate(label, span, cond)),
        word("when").ignore_then(expr(file)).map(PaymentLine::When),
        word("cap").ignore_then(expr(file)).map(PaymentLine::Cap),
        word("floor").ignore_then(expr(file)).map(PaymentLine::Floor),
        word("of").ignore_then(expr(file)).map(PaymentLine::Of),
        word("shadow").map_with(move |_, e| PaymentLine::Shadow(sp(file, e.span()))),
        clause(file).map(PaymentLine::Clause),
    ))
    .labelled("a payment line (`block`, `amount`, `paid`, `within`, `gate`, `when`, `cap`, `floor`, `of`, `shadow`)");
    just(Token::Payment)
        .ignore_then(name(file))
        .then(quoted(file).or_not())
        .then_ignore(word("from"))
        .then(name(file))
        .then_ignore(word("to"))
        .then(name(file))
        .then(line.repeated().collect::<Vec<_>>())
        .map(|((((name, title), from), to), lines)| {
            let mut p = PaymentDecl {
                name,
                title,
                from,
                to,
                amount: None,
                schedule: None,
                within: None,
                gates: Vec::new(),
                when: None,
                cap: None,
                floor: None,
                of: None,
                shadow: None,
                clause: None,
            };
            for line in lines {
                match line {
                    PaymentLine::Amount(a) => p.amount = Some(a),
                    PaymentLine::Schedule(s, span) => p.schedule = Some((s, span)),
                    PaymentLine::Within(e) => p.within = Some(e),
                    PaymentLine::Gate(label, span, cond) => p.gates.push((label, span, cond)),
                    PaymentLine::When(e) => p.when = Some(e),
                    PaymentLine::Cap(e) => p.cap = Some(e),
                    PaymentLine::Floor(e) => p.floor = Some(e),
                    PaymentLine::Of(e) => p.of = Some(e),
                    PaymentLine::Shadow(span) => p.shadow = Some(span),
                    PaymentLine::Clause(c) => p.clause = Some(c),
                }
            }
            ItemKind::Payment(Box::new(p))
        })
        .boxed()
}

/// `clause "4.1" "Core payment"`: a heading for the declarations that follow.
fn clause_heading<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, ItemKind, E> {
    just(Token::Clause)
        .ignore_then(quoted(file))
        .then(quoted(file))
        .map(|(number, title)| ItemKind::Clause(ClauseHeading { number, title }))
        .boxed()
}

/// The validity and the cited clause of a param or decision.
type Options = (Option<ValidClause>, Option<(String, Span)>);

/// A param's or decision's options after its type: `valid …` and `clause "…"`, in any order.
fn options<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, Options, E> {
    choice((valid_clause(file).map(TableOption::Valid), clause(file).map(TableOption::Clause)))
        .repeated()
        .collect::<Vec<_>>()
        .map(|options| {
            let (mut valid, mut cited) = (None, None);
            for option in options {
                match option {
                    TableOption::Valid(v) => valid = Some(v),
                    TableOption::Clause(c) => cited = Some(c),
                    _ => {}
                }
            }
            (valid, cited)
        })
        .boxed()
}

pub(crate) fn item<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, Item, E> {
    let path = name(file)
        .separated_by(just(Token::Dot))
        .at_least(1)
        .collect::<Vec<_>>()
        .map_with(move |segments, e| Path { segments, span: sp(file, e.span()) });
    let import = just(Token::Import).ignore_then(path.clone()).map(ItemKind::Import);

    let variant = name(file)
        .then(
            just(Token::Eq)
                .ignore_then(select! { Token::Int(s) => s }.map_with(move |s: &str, e| (s, sp(file, e.span()))))
                .or_not(),
        )
        .then(text().or_not())
        .map(|((name, code), label)| VariantDecl {
            name,
            code: code.map(|(s, span)| (s.parse::<i64>().unwrap_or(i64::MAX), span)),
            label,
        });
    let enum_decl = just(Token::Enum)
        .ignore_then(name(file))
        .then(word("ordered").or_not())
        .then(
            variant
                .separated_by(just(Token::Comma))
                .allow_trailing()
                .collect::<Vec<_>>()
                .delimited_by(just(Token::LBrace), just(Token::RBrace)),
        )
        .map(|((name, ordered), variants)| ItemKind::Enum(EnumDecl { name, ordered: ordered.is_some(), variants }));

    let record = just(Token::Record)
        .ignore_then(name(file))
        .then(
            binding(file)
                .separated_by(just(Token::Comma))
                .allow_trailing()
                .collect::<Vec<_>>()
                .delimited_by(just(Token::LBrace), just(Token::RBrace)),
        )
        .map(|(name, fields)| ItemKind::Record(RecordDecl { name, fields }));

    let input =
        just(Token::Input).ignore_then(binding(file)).map(|b| ItemKind::Input(InputDecl { name: b.name, ty: b.ty }));

    let param = just(Token::Param)
        .ignore_then(binding(file))
        .then(options(file))
        .then_ignore(just(Token::Eq))
        .then(expr(file))
        .map(|((b, (valid, clause)), value)| {
            ItemKind::Param(ParamDecl { name: b.name, ty: b.ty, value, valid, clause })
        });

    let hit = word("hit").ignore_then(name(file));
    let source = word("source")
        .ignore_then(select! { Token::Text(s) => s }.map_with(move |s: &str, e| (unescape(s), sp(file, e.span()))));
    let option = choice((
        word("partial").to(TableOption::Partial),
        hit.map(TableOption::Hit),
        valid_clause(file).map(TableOption::Valid),
        source.map(TableOption::Source),
        clause(file).map(TableOption::Clause),
    ));
    let table = just(Token::Table)
        .ignore_then(name(file))
        .then(bindings(file))
        .then_ignore(just(Token::Arrow))
        .then(type_expr(file))
        .then(option.repeated().collect::<Vec<_>>())
        .then(
            table_row(file)
                .separated_by(just(Token::RowBreak).repeated().at_least(1))
                .allow_leading()
                .allow_trailing()
                .collect::<Vec<_>>()
                .delimited_by(just(Token::LBrace), just(Token::RBrace)),
        )
        .map(|((((name, columns), result), options), rows)| {
            let (mut partial, mut hit, mut valid, mut source, mut clause) = (false, None, None, None, None);
            for option in options {
                match option {
                    TableOption::Partial => partial = true,
                    TableOption::Hit(h) => hit = Some(h),
                    TableOption::Valid(v) => valid = Some(v),
                    TableOption::Source(s) => source = Some(s),
                    TableOption::Clause(c) => clause = Some(c),
                }
            }
            ItemKind::Table(TableDecl { name, columns, result, hit, partial, valid, source, rows, clause })
        });

    let labelled = move || {
        select! { Token::Text(s) => s }
            .map_with(move |s: &str, e| (unescape(s), sp(file, e.span())))
            .labelled("a label in quotes")
    };
    let rule = word("rule")
        .ignore_then(labelled())
        .then(word("except").ignore_then(labelled()).or_not())
        .then(word("when").ignore_then(expr(file)).or_not())
        .then_ignore(just(Token::FatArrow))
        .then(expr(file))
        .map_with(move |((((label, label_span), except), condition), value), e| RuleDecl {
            label,
            label_span,
            except,
            condition,
            value,
            span: sp(file, e.span()),
        })
        .labelled("a rule (`rule \"label\" when condition => value`)");
    let rules = word("default")
        .ignore_then(expr(file))
        .or_not()
        .then(rule.repeated().at_least(1).collect::<Vec<_>>())
        .map_with(move |(default, rules), e| {
            expr_node(ExprKind::Rules { default: default.map(Box::new), rules }, sp(file, e.span()))
        });
    let decision = just(Token::Decision)
        .ignore_then(name(file))
        .then(bindings(file).or_not())
        .then_ignore(just(Token::Colon))
        .then(type_expr(file))
        .then(options(file))
        .then(choice((just(Token::Eq).ignore_then(expr(file)), rules)))
        .map(|((((name, params), ty), (valid, clause)), body)| {
            ItemKind::Decision(DecisionDecl { name, params, ty, body, valid, clause })
        });

    let given = word("given")
        .ignore_then(name(file))
        .then_ignore(just(Token::Eq))
        .then(expr(file))
        .map(|(name, value)| TestLine::Given(name, value));
    let expect = word("expect").ignore_then(expr(file)).try_map_with(move |line, e| match line.kind {
        ExprKind::Binary(BinaryOp::Eq, target, value) => {
            Ok(TestLine::Expect(ExpectDecl { target: *target, value: *value, span: sp(file, e.span()) }))
        }
        _ => Err(E::custom(e.span(), "an `expect` line compares with `==`, as in `expect weekly_cost == £40.00`")),
    });
    let as_of_line = just(Token::As).ignore_then(word("of")).ignore_then(expr(file)).map(TestLine::AsOf);
    let test = just(Token::Test)
        .ignore_then(select! { Token::Text(s) => s }.map_with(move |s: &str, e| (unescape(s), sp(file, e.span()))))
        .then(
            choice((given, expect, as_of_line))
                .repeated()
                .collect::<Vec<_>>()
                .delimited_by(just(Token::LBrace), just(Token::RBrace)),
        )
        .map(|((name, name_span), lines)| {
            let mut givens = Vec::new();
            let mut expects = Vec::new();
            let mut as_of = None;
            for line in lines {
                match line {
                    TestLine::Given(name, value) => givens.push((name, value)),
                    TestLine::Expect(e) => expects.push(e),
                    TestLine::AsOf(date) => as_of = Some(date),
                }
            }
            ItemKind::Test(TestDecl { name, name_span, givens, expects, as_of })
        });

    let docs = select! { Token::DocComment(s) => s }.repeated().collect::<Vec<&str>>();
    let as_of = just(Token::As).ignore_then(word("of")).ignore_then(expr(file)).map(ItemKind::AsOf);
    let share_row = literal_expr(file)
        .then_ignore(just(Token::FatArrow))
        .then(literal_expr(file))
        .map_with(move |(party, share), e| (party, share, sp(file, e.span())));
    let split = just(Token::Split)
        .ignore_then(name(file))
        .then_ignore(word("over"))
        .then(name(file))
        .then_ignore(word("remainder"))
        .then_ignore(word("to"))
        .then(literal_expr(file))
        .then(
            word("source")
                .ignore_then(
                    select! { Token::Text(s) => s }.map_with(move |s: &str, e| (unescape(s), sp(file, e.span()))),
                )
                .or_not(),
        )
        .then(clause(file).or_not())
        .then(
            share_row
                .separated_by(just(Token::RowBreak).repeated().at_least(1))
                .allow_leading()
                .allow_trailing()
                .collect::<Vec<_>>()
                .delimited_by(just(Token::LBrace), just(Token::RBrace)),
        )
        .map(|(((((name, over), remainder), source), clause), shares)| {
            ItemKind::Split(SplitDecl { name, over, remainder, source, shares, clause })
        });
    docs.then(
        choice((
            import,
            enum_decl,
            record,
            input,
            param,
            table,
            decision,
            test,
            as_of,
            split,
            contract(file),
            payment(file),
            clause_heading(file),
        ))
        .labelled("a declaration"),
    )
    .map_with(move |(docs, kind), e| Item {
        doc: if docs.is_empty() { None } else { Some(docs.join("\n")) },
        kind,
        span: sp(file, e.span()),
    })
    .boxed()
}

enum TestLine {
    Given(Name, Expr),
    Expect(ExpectDecl),
    AsOf(Expr),
}

pub(crate) fn module_decl<'t, 's: 't, I: Tokens<'t, 's>, E: Fail<'t, I>>(file: FileId) -> P<'t, I, Path, E> {
    just(Token::Module)
        .ignore_then(
            name(file)
                .separated_by(just(Token::Dot))
                .at_least(1)
                .collect::<Vec<_>>()
                .map_with(move |segments, e| Path { segments, span: sp(file, e.span()) }),
        )
        .boxed()
}
