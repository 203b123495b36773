//! The syntax tree of one `.cov` file, exactly as written (names unresolved, types unchecked).

use covenant_source::Span;
use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, Default)]
pub struct File {
    pub module: Option<Path>,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone)]
pub struct Path {
    pub segments: Vec<Name>,
    pub span: Span,
}

impl Path {
    pub fn dotted(&self) -> String {
        self.segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(".")
    }
}

#[derive(Debug, Clone)]
pub struct Item {
    pub doc: Option<String>,
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ItemKind {
    Import(Path),
    Enum(EnumDecl),
    Record(RecordDecl),
    Input(InputDecl),
    Param(ParamDecl),
    Table(TableDecl),
    Decision(DecisionDecl),
    Test(TestDecl),
    /// `as of EXPR`: the date that chooses dated versions, usually from the inputs.
    AsOf(Expr),
    Split(SplitDecl),
    Contract(Box<ContractDecl>),
    /// `clause "4.1" "Core payment"`: a heading; the declarations after it (to the next
    /// heading) come from that clause and cite it.
    Clause(ClauseHeading),
    Payment(Box<PaymentDecl>),
}

/// `contract alliance "Title" { term …  period …  party …  }`: the parties, the term and the
/// statement period of the contract whose clauses follow in the file.
#[derive(Debug, Clone)]
pub struct ContractDecl {
    pub name: Name,
    pub title: Option<(String, Span)>,
    /// `term 2015-04-01 to 2016-03-31`: first and last day, both included.
    pub term: Option<(Expr, Expr)>,
    /// `period quarter.start to quarter.end`: the statement period, usually from the inputs.
    pub period: Option<(Expr, Expr)>,
    /// `rounding half_even`: how payments are rounded to pence (half up by default).
    pub rounding: Option<Name>,
    pub source: Option<(String, Span)>,
    pub parties: Vec<PartyDecl>,
}

/// `party Council commissioner "Suffolk County Council"`.
#[derive(Debug, Clone)]
pub struct PartyDecl {
    pub name: Name,
    pub role: Name,
    pub label: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ClauseHeading {
    pub number: (String, Span),
    pub title: (String, Span),
}

impl ClauseHeading {
    /// How the clause is cited: `4.1 "Core payment"`.
    pub fn citation(&self) -> String {
        format!("{} \"{}\"", self.number.0, self.title.0)
    }
}

/// `payment core "Core payment" from Council to Provider block core_value paid monthly in advance`.
#[derive(Debug, Clone)]
pub struct PaymentDecl {
    pub name: Name,
    pub title: Option<(String, Span)>,
    /// A party, or a split that shares the amount between parties.
    pub from: Name,
    pub to: Name,
    pub amount: Option<PaymentAmount>,
    pub schedule: Option<(ScheduleDecl, Span)>,
    /// `within 30 days`: added to each due date.
    pub within: Option<Expr>,
    /// `gate "label" requires condition`: no payment unless the condition holds.
    pub gates: Vec<(String, Span, Expr)>,
    /// `when condition`: the trigger.
    pub when: Option<Expr>,
    pub cap: Option<Expr>,
    pub floor: Option<Expr>,
    /// `of £250,000.00`: the most the payment can pay, shown beside what it paid.
    pub of: Option<Expr>,
    /// `shadow`: worked out and shown on the statement, but no money moves.
    pub shadow: Option<Span>,
    pub clause: Option<(String, Span)>,
}

#[derive(Debug, Clone)]
pub enum PaymentAmount {
    /// `block value`: a rate (per year or per month) paid in instalments, pro-rated by day.
    Block(Expr),
    /// `amount value`: the amount for the statement period, paid once.
    Amount(Expr),
}

#[derive(Debug, Clone)]
pub enum ScheduleDecl {
    Monthly { in_advance: bool },
    Quarterly { in_advance: bool },
    Once { in_advance: bool },
    AtContractEnd,
    On(Expr),
}

/// `split gain_share over Member remainder to Trust { Trust => 40%  … }`: shares of an
/// amount between the variants of an enum (the parties), summing to 100%.
#[derive(Debug, Clone)]
pub struct SplitDecl {
    pub name: Name,
    /// The enum whose variants are the parties.
    pub over: Name,
    /// The party that receives what rounding to the penny leaves over.
    pub remainder: Expr,
    pub source: Option<(String, Span)>,
    /// (party, share) rows.
    pub shares: Vec<(Expr, Expr, Span)>,
    /// `clause "Schedule 2, 4.1"`: the contract clause this comes from, cited in explanations.
    pub clause: Option<(String, Span)>,
}

/// `valid from 2015-04-01 to 2016-03-31`, `valid from 2016-04-01`, `valid to 2015-03-31`,
/// or a financial year `valid 2015/16`. Both ends are included.
#[derive(Debug, Clone)]
pub struct ValidClause {
    pub from: Option<(String, Span)>,
    pub to: Option<(String, Span)>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct EnumDecl {
    pub name: Name,
    pub ordered: bool,
    pub variants: Vec<VariantDecl>,
}

#[derive(Debug, Clone)]
pub struct VariantDecl {
    pub name: Name,
    pub code: Option<(i64, Span)>,
    pub label: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RecordDecl {
    pub name: Name,
    pub fields: Vec<Binding>,
}

/// `name: Type`, used by record fields, table columns and decision parameters.
#[derive(Debug, Clone)]
pub struct Binding {
    pub name: Name,
    pub ty: TypeExpr,
}

#[derive(Debug, Clone)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum TypeKind {
    /// `Money`, `hours`, `Cluster`, optionally `per week`.
    Named {
        name: Name,
        per: Option<Name>,
    },
    List(Box<TypeExpr>),
    Optional(Box<TypeExpr>),
}

#[derive(Debug, Clone)]
pub struct InputDecl {
    pub name: Name,
    pub ty: TypeExpr,
}

#[derive(Debug, Clone)]
pub struct ParamDecl {
    pub name: Name,
    pub ty: TypeExpr,
    pub value: Expr,
    pub valid: Option<ValidClause>,
    /// `clause "Schedule 2, 4.1"`: the contract clause this comes from, cited in explanations.
    pub clause: Option<(String, Span)>,
}

#[derive(Debug, Clone)]
pub struct TableDecl {
    pub name: Name,
    pub columns: Vec<Binding>,
    pub result: TypeExpr,
    pub hit: Option<Name>,
    /// Declared `partial`: some inputs deliberately match no row.
    pub partial: bool,
    pub valid: Option<ValidClause>,
    pub source: Option<(String, Span)>,
    pub rows: Vec<RowDecl>,
    /// `clause "Schedule 2, 4.1"`: the contract clause this comes from, cited in explanations.
    pub clause: Option<(String, Span)>,
}

#[derive(Debug, Clone)]
pub struct RowDecl {
    /// Empty for an `otherwise` row.
    pub keys: Vec<KeyExpr>,
    /// `otherwise => cell`: applies when no other row does.
    pub otherwise: bool,
    pub cell: CellExpr,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct KeyExpr {
    pub kind: KeyKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum KeyKind {
    Any,
    Alts(Vec<AltExpr>),
}

#[derive(Debug, Clone)]
pub enum AltExpr {
    /// A literal or a variant name (or an enum code for an enum column).
    Value(Expr),
    /// Bounds with inclusivity: `(expr, inclusive)`.
    Range { low: Option<(Expr, bool)>, high: Option<(Expr, bool)>, span: Span },
}

#[derive(Debug, Clone)]
pub enum CellExpr {
    Value(Expr),
    NoValue { reason: String, span: Span },
}

#[derive(Debug, Clone)]
pub struct DecisionDecl {
    pub name: Name,
    pub params: Option<Vec<Binding>>,
    pub ty: TypeExpr,
    pub body: Expr,
    pub valid: Option<ValidClause>,
    /// `clause "Schedule 2, 4.1"`: the contract clause this comes from, cited in explanations.
    pub clause: Option<(String, Span)>,
}

#[derive(Debug, Clone)]
pub struct TestDecl {
    pub name: String,
    pub name_span: Span,
    pub givens: Vec<(Name, Expr)>,
    pub expects: Vec<ExpectDecl>,
    /// `as of DATE` inside the test: the date that chooses dated versions.
    pub as_of: Option<Expr>,
}

#[derive(Debug, Clone)]
pub struct ExpectDecl {
    /// What is tested: the left side of `==`.
    pub target: Expr,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Lit(Lit),
    Name(Name),
    Field(Box<Expr>, Name),
    Call {
        callee: Name,
        args: Vec<Expr>,
        comprehension: Option<Box<Comprehension>>,
    },
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        els: Box<Expr>,
    },
    Let {
        name: Name,
        value: Box<Expr>,
        body: Box<Expr>,
    },
    Match {
        scrutinee: Box<Expr>,
        arms: Vec<ArmDecl>,
    },
    InSet(Box<Expr>, Vec<Expr>),
    IsVariant {
        value: Box<Expr>,
        negated: bool,
        variant: Box<Expr>,
    },
    IsNone {
        value: Box<Expr>,
        negated: bool,
    },
    Otherwise(Box<Expr>, Box<Expr>),
    Record {
        name: Option<Name>,
        fields: Vec<(Name, Expr)>,
    },
    /// `none "reason"`: deliberately no value, of whatever type the context expects.
    NoValue(String),
    /// A decision body written as a default, labelled rules and exceptions.
    Rules {
        default: Option<Box<Expr>>,
        rules: Vec<RuleDecl>,
    },
    List(Vec<Expr>),
    /// Stands in for an expression that failed to parse (already reported).
    Error,
}

/// `rule "label" except "other label" when condition => value`.
#[derive(Debug, Clone)]
pub struct RuleDecl {
    pub label: String,
    pub label_span: Span,
    /// The label of the rule this one is an exception to.
    pub except: Option<(String, Span)>,
    /// No condition: the rule always applies (unless an exception to it does).
    pub condition: Option<Expr>,
    pub value: Expr,
    pub span: Span,
}

/// `body for var in list if filter`, the first argument of an aggregation.
#[derive(Debug, Clone)]
pub struct Comprehension {
    pub body: Expr,
    pub var: Name,
    pub list: Expr,
    pub filter: Option<Expr>,
}

#[derive(Debug, Clone)]
pub struct ArmDecl {
    /// What the arm accepts, written like a table key: `_`, `A | B`, `up to 5`, `over 5 to 10`.
    pub key: KeyExpr,
    pub body: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Lit {
    Int(Decimal),
    Decimal(Decimal),
    /// Money, optionally a rate (`£10.00 per hour`).
    Money(Decimal, Option<Name>),
    /// Stored as a fraction: `74%` is 0.74.
    Percent(Decimal),
    /// `YYYY-MM-DD` as written; validated by the checker.
    Date(String),
    Text(String),
    Bool(bool),
    /// `6 months`, `2 weeks`: amount and unit word.
    Duration(i64, Name),
    /// `5 hours`, `5 hours per week`.
    Hours(Decimal, Option<Name>),
}
