//! Tokens of the `.cov` language, produced by logos.
//!
//! Hard keywords are tokens; words that are only special in one place (`hit`, `unique`,
//! `source`, `per`, `up to`, `hours`, …) are plain identifiers that the parser recognises
//! in context, so they stay usable as field and decision names.

use logos::Logos;
use std::fmt;

#[derive(Logos, Debug, Clone, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
pub enum Token<'src> {
    #[regex(r"///[^\n]*", allow_greedy = true, callback = |lex| lex.slice().trim_start_matches('/').trim())]
    DocComment(&'src str),
    #[regex(r"//([^/\n][^\n]*)?", logos::skip, allow_greedy = true)]
    Comment,

    #[token("module")]
    Module,
    #[token("import")]
    Import,
    #[token("enum")]
    Enum,
    #[token("record")]
    Record,
    #[token("input")]
    Input,
    #[token("param")]
    Param,
    #[token("table")]
    Table,
    #[token("decision")]
    Decision,
    #[token("test")]
    Test,
    #[token("split")]
    Split,
    #[token("contract")]
    Contract,
    #[token("payment")]
    Payment,
    #[token("clause")]
    Clause,
    #[token("as")]
    As,
    #[token("if")]
    If,
    #[token("then")]
    Then,
    #[token("else")]
    Else,
    #[token("let")]
    Let,
    #[token("in")]
    In,
    #[token("match")]
    Match,
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("not")]
    Not,
    #[token("is")]
    Is,
    #[token("none")]
    None,
    #[token("otherwise")]
    Otherwise,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("for")]
    For,

    #[regex(r"[A-Za-z_][A-Za-z0-9_]*", priority = 1)]
    Ident(&'src str),
    #[regex(r"[0-9]+")]
    Int(&'src str),
    #[regex(r"[0-9]+\.[0-9]+")]
    Decimal(&'src str),
    #[regex(r"£[0-9]+(,[0-9]+)*(\.[0-9]+)?")]
    Money(&'src str),
    #[regex(r"[0-9]+(\.[0-9]+)?%")]
    Percent(&'src str),
    #[regex(r"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]")]
    Date(&'src str),
    #[regex(r#""([^"\\\n]|\\.)*""#)]
    Text(&'src str),

    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token(".")]
    Dot,
    #[token("=>")]
    FatArrow,
    #[token("->")]
    Arrow,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<=")]
    LtEq,
    #[token(">=")]
    GtEq,
    #[token("<")]
    Lt,
    #[token(">")]
    Gt,
    #[token("=")]
    Eq,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("|")]
    Bar,
    #[token("_")]
    Underscore,

    /// A character that starts no token; reported by the lexer, kept so parsing goes on.
    Error,
    /// A line break between two rows of a table body. Never produced by logos: the parser
    /// inserts it, so rows are one per line and a row may start with a minus sign.
    RowBreak,
}

impl Token<'_> {
    /// Tokens that start a top-level item; the parser resynchronises on them after an error.
    pub fn starts_item(&self) -> bool {
        matches!(
            self,
            Token::Module
                | Token::Import
                | Token::Enum
                | Token::Record
                | Token::Input
                | Token::Param
                | Token::Table
                | Token::Decision
                | Token::Test
                | Token::Split
                | Token::Contract
                | Token::Payment
                | Token::Clause
                | Token::As
                | Token::DocComment(_)
        )
    }
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Token::DocComment(_) => "a doc comment",
            Token::Comment => "a comment",
            Token::Module => "`module`",
            Token::Import => "`import`",
            Token::Enum => "`enum`",
            Token::Record => "`record`",
            Token::Input => "`input`",
            Token::Param => "`param`",
            Token::Table => "`table`",
            Token::Decision => "`decision`",
            Token::Test => "`test`",
            Token::Split => "`split`",
            Token::Contract => "`contract`",
            Token::Payment => "`payment`",
            Token::Clause => "`clause`",
            Token::As => "`as`",
            Token::If => "`if`",
            Token::Then => "`then`",
            Token::Else => "`else`",
            Token::Let => "`let`",
            Token::In => "`in`",
            Token::Match => "`match`",
            Token::And => "`and`",
            Token::Or => "`or`",
            Token::Not => "`not`",
            Token::Is => "`is`",
            Token::None => "`none`",
            Token::Otherwise => "`otherwise`",
            Token::True => "`true`",
            Token::False => "`false`",
            Token::For => "`for`",
            Token::Ident(s) => return write!(f, "`{s}`"),
            Token::Int(s) | Token::Decimal(s) | Token::Money(s) | Token::Percent(s) | Token::Date(s) => {
                return write!(f, "`{s}`");
            }
            Token::Text(_) => "a text",
            Token::LParen => "`(`",
            Token::RParen => "`)`",
            Token::LBrace => "`{`",
            Token::RBrace => "`}`",
            Token::LBracket => "`[`",
            Token::RBracket => "`]`",
            Token::Comma => "`,`",
            Token::Colon => "`:`",
            Token::Dot => "`.`",
            Token::FatArrow => "`=>`",
            Token::Arrow => "`->`",
            Token::EqEq => "`==`",
            Token::NotEq => "`!=`",
            Token::LtEq => "`<=`",
            Token::GtEq => "`>=`",
            Token::Lt => "`<`",
            Token::Gt => "`>`",
            Token::Eq => "`=`",
            Token::Plus => "`+`",
            Token::Minus => "`-`",
            Token::Star => "`*`",
            Token::Slash => "`/`",
            Token::Bar => "`|`",
            Token::Underscore => "`_`",
            Token::Error => "an unknown character",
            Token::RowBreak => "the end of the row",
        };
        f.write_str(text)
    }
}
