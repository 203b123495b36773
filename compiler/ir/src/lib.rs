//! The compiled Covenant program: the contract between compiling and evaluating.
//!
//! The checker lowers a type-checked source program into a [`Program`]: declarations
//! (enums, records, inputs, params, tables, decisions, tests) plus one flat arena of
//! expression [`Node`]s. Every node has a resolved operation, its static [`Ty`] and an
//! [`Origin`] (source span, and the decision or table it belongs to), so the evaluator can
//! run and explain a program without the parser or the checker. A program is plain data and
//! serialises with serde; its canonical JSON is what the receipt's rules hash covers.

pub mod date;
pub mod hash;
pub mod json;
pub mod types;
pub mod value;

pub use covenant_source::{FileId, Span};
pub use date::{Date, Duration};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
pub use types::{EnumId, NumKind, NumTy, RecordId, Ty, Unit};
pub use value::Value;

macro_rules! id {
    ($($name:ident),*) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub u32);
        impl $name {
            pub fn index(self) -> usize { self.0 as usize }
        }
    )*};
}
id!(NodeId, InputId, ParamId, DecisionId, TableId, LocalId, SplitId, PaymentId);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Program {
    /// Display names of the source files, indexed by `FileId`. The first field:
    /// `covenant_eval::native::fingerprint` leaves the names out of the program's JSON by
    /// their place at its start.
    pub files: Vec<String>,
    pub enums: Vec<EnumDef>,
    pub records: Vec<RecordDef>,
    pub inputs: Vec<InputDef>,
    pub params: Vec<ParamDef>,
    pub tables: Vec<TableDef>,
    pub decisions: Vec<DecisionDef>,
    pub tests: Vec<TestDef>,
    pub splits: Vec<SplitDef>,
    /// The contract whose payments the program states, if it declares one.
    pub contract: Option<ContractDef>,
    pub payments: Vec<PaymentDef>,
    pub nodes: Vec<Node>,
    /// `as of EXPR`: the date that chooses dated versions (unless the caller gives one).
    pub as_of: Option<NodeId>,
}

impl Program {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }
    pub fn enum_def(&self, id: EnumId) -> &EnumDef {
        &self.enums[id.0 as usize]
    }
    pub fn record_def(&self, id: RecordId) -> &RecordDef {
        &self.records[id.0 as usize]
    }
    pub fn decision(&self, id: DecisionId) -> &DecisionDef {
        &self.decisions[id.index()]
    }
    pub fn table(&self, id: TableId) -> &TableDef {
        &self.tables[id.index()]
    }
    pub fn input(&self, id: InputId) -> &InputDef {
        &self.inputs[id.index()]
    }
    pub fn param(&self, id: ParamId) -> &ParamDef {
        &self.params[id.index()]
    }
    /// The decision node `id` calls, when it calls one without parameters (whose value a
    /// row computes once and keeps).
    pub fn parameterless_call(&self, id: NodeId) -> Option<DecisionId> {
        match &self.nodes.get(id.index())?.kind {
            NodeKind::Decision { id: decision, args } if args.is_empty() => {
                self.decisions.get(decision.index()).filter(|d| d.params.is_empty()).map(|_| *decision)
            }
            _ => None,
        }
    }
    /// A type as people read it: `Money per hour`, `list of ItemRating`, `Cluster`.
    pub fn type_name(&self, ty: &Ty) -> String {
        match ty {
            Ty::Bool => "Bool".into(),
            Ty::Text => "Text".into(),
            Ty::Date => "Date".into(),
            Ty::Duration => "Duration".into(),
            Ty::Num(n) => n.to_string(),
            // Looked up with `get`: a program read from JSON may be inconsistent.
            Ty::Enum(id) => self.enums.get(id.0 as usize).map_or("an enum".into(), |e| e.name.clone()),
            Ty::Record(id) => self.records.get(id.0 as usize).map_or("a record".into(), |r| r.name.clone()),
            Ty::List(inner) => format!("list of {}", self.type_name(inner)),
            Ty::Error => "an unknown type".into(),
        }
    }

    /// Finds a decision by name (qualified `module.name` or, if unique, bare `name`). The
    /// versions of a dated decision are found through the decision that chooses among them.
    pub fn find_decision(&self, name: &str) -> Option<DecisionId> {
        let pos = self.decisions.iter().position(|d| d.valid.is_none() && (d.name == name || d.qualified == name))?;
        Some(DecisionId(pos as u32))
    }
}

/// Where a node comes from: its source span and the declaration that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub span: Span,
    pub owner: Owner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Owner {
    Decision(DecisionId),
    Table(TableId),
    Param(ParamId),
    Test(u32),
    /// The program's `as of` declaration.
    AsOf,
    Split(SplitId),
    /// The contract's statement period.
    Contract,
}

/// The dates over which a version is valid, both ends included; an open end is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validity {
    pub from: Option<Date>,
    pub to: Option<Date>,
}

impl Validity {
    pub fn contains(&self, date: Date) -> bool {
        day_within(date.day_number(), self.days())
    }

    /// The day numbers ([`Date::day_number`]) of its first and last days (`None`: no limit).
    pub fn days(&self) -> (Option<i32>, Option<i32>) {
        (self.from.map(Date::day_number), self.to.map(Date::day_number))
    }
}

/// Whether day number `day` is within a version's first and last days, both included: the
/// one test of a version's validity, which rules compiled to Rust make too.
#[inline]
pub fn day_within(day: i32, (first, last): (Option<i32>, Option<i32>)) -> bool {
    first.is_none_or(|f| f <= day) && last.is_none_or(|l| day <= l)
}

impl std::fmt::Display for Validity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.from, self.to) {
            (Some(a), Some(b)) => write!(f, "{a} to {b}"),
            (Some(a), None) => write!(f, "from {a}"),
            (None, Some(b)) => write!(f, "until {b}"),
            (None, None) => f.write_str("always"),
        }
    }
}

/// One version of a dated table, param or decision, as chosen by `NodeKind::Versioned`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionArm {
    pub valid: Validity,
    /// The reference to this version (a table lookup, a param, a decision call).
    pub node: NodeId,
    /// The version's declaration.
    pub span: Span,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    pub kind: NodeKind,
    pub ty: Ty,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum NodeKind {
    Const(Value),
    Input(InputId),
    Param(ParamId),
    /// A slot of the current frame: decision parameters first, then `let` and loop variables.
    Local(LocalId),
    /// A decision; memoised per evaluation when it has no parameters.
    Decision {
        id: DecisionId,
        args: Vec<NodeId>,
    },
    Table {
        id: TableId,
        args: Vec<NodeId>,
    },
    Unary(UnOp, NodeId),
    Binary(BinOp, NodeId, NodeId),
    If {
        cond: NodeId,
        then: NodeId,
        els: NodeId,
    },
    Match {
        scrutinee: NodeId,
        arms: Vec<MatchArm>,
    },
    Let {
        local: LocalId,
        value: NodeId,
        body: NodeId,
    },
    Field {
        record: NodeId,
        index: u32,
    },
    Record(Vec<NodeId>),
    List(Vec<NodeId>),
    /// `op(body for local in list if filter)`; `count(xs)` and `sum(xs)` lower to body = Local.
    Aggregate {
        op: AggOp,
        local: LocalId,
        list: NodeId,
        body: NodeId,
        filter: Option<NodeId>,
    },
    Round {
        value: NodeId,
        places: u32,
        mode: RoundMode,
    },
    Builtin {
        f: Builtin,
        args: Vec<NodeId>,
    },
    /// `value in {A, B}` on enum variant indices.
    InSet {
        value: NodeId,
        variants: Vec<u32>,
    },
    IsNone(NodeId),
    /// `value otherwise fallback`.
    Otherwise(NodeId, NodeId),
    /// A default, labelled rules and exceptions (legal drafting: "X applies, except where Y,
    /// unless Z"). Exceptions are weighed before the rule they are an exception to; two
    /// applicable rules of the same rank are a conflict, and none with no default is empty.
    Rules {
        rules: Vec<RuleArm>,
        default: Option<NodeId>,
    },
    /// `split(amount, party)`: the party's part of an amount under a split.
    Split {
        id: SplitId,
        amount: NodeId,
        party: NodeId,
    },
    /// The amount a payment pays in the statement period (zero when it is not paid).
    Payment(PaymentId),
    /// `paid_to(payment, party)` (`receiving`) or `paid_by(payment, party)`: what the party
    /// receives from, or pays under, a payment in the statement period.
    PaymentPart {
        id: PaymentId,
        party: NodeId,
        receiving: bool,
    },
    /// `term_start()`, `term_end()`, `period_start()`, `period_end()`: the contract's dates.
    ContractDate(ContractDate),
    /// A reference to something with dated versions: the version valid on the evaluation date
    /// is evaluated. No date, or no version valid on it, is an evaluation error.
    Versioned {
        name: String,
        versions: Vec<VersionArm>,
    },
}

impl NodeKind {
    /// Calls `f` with each node this one evaluates directly: operands, arguments, branches,
    /// arms, versions (not the bodies of the decisions it calls, nor the cells of the tables
    /// it looks up).
    pub fn for_each_child(&self, mut f: impl FnMut(NodeId)) {
        match self {
            NodeKind::Const(_)
            | NodeKind::Input(_)
            | NodeKind::Param(_)
            | NodeKind::Local(_)
            | NodeKind::Payment(_)
            | NodeKind::ContractDate(_) => {}
            NodeKind::Decision { args, .. }
            | NodeKind::Table { args, .. }
            | NodeKind::Builtin { args, .. }
            | NodeKind::Record(args)
            | NodeKind::List(args) => args.iter().copied().for_each(f),
            NodeKind::Unary(_, x)
            | NodeKind::Field { record: x, .. }
            | NodeKind::Round { value: x, .. }
            | NodeKind::InSet { value: x, .. }
            | NodeKind::IsNone(x)
            | NodeKind::PaymentPart { party: x, .. } => f(*x),
            NodeKind::Binary(_, l, r) | NodeKind::Otherwise(l, r) | NodeKind::Split { amount: l, party: r, .. } => {
                f(*l);
                f(*r);
            }
            NodeKind::If { cond, then, els } => [*cond, *then, *els].into_iter().for_each(f),
            NodeKind::Let { value, body, .. } => {
                f(*value);
                f(*body);
            }
            NodeKind::Match { scrutinee, arms } => {
                f(*scrutinee);
                arms.iter().for_each(|arm| f(arm.body));
            }
            NodeKind::Aggregate { list, body, filter, .. } => {
                f(*list);
                f(*body);
                filter.iter().copied().for_each(f);
            }
            NodeKind::Rules { rules, default } => {
                for rule in rules {
                    rule.condition.iter().copied().for_each(&mut f);
                    f(rule.value);
                }
                default.iter().copied().for_each(f);
            }
            NodeKind::Versioned { versions, .. } => versions.iter().for_each(|v| f(v.node)),
        }
    }
}

/// A contract: its parties (the variants of the enum `Party`), term and statement period.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContractDef {
    pub name: String,
    pub title: Option<String>,
    pub parties: EnumId,
    /// Each party's role (`commissioner`, `provider`, …), by variant index.
    pub roles: Vec<String>,
    /// First and last day of the term, both included.
    pub term: (Date, Date),
    /// The first and last day of the statement period; the whole term when not declared.
    pub period: Option<(NodeId, NodeId)>,
    /// How each payment is rounded to pence.
    pub rounding: RoundMode,
    pub source: Option<String>,
    pub span: Span,
    pub name_span: Span,
}

/// A date of the contract that expressions can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContractDate {
    TermStart,
    TermEnd,
    /// The statement period as given (before it is clipped to the term).
    PeriodStart,
    PeriodEnd,
}

impl ContractDate {
    pub fn from_name(name: &str) -> Option<ContractDate> {
        Some(match name {
            "term_start" => ContractDate::TermStart,
            "term_end" => ContractDate::TermEnd,
            "period_start" => ContractDate::PeriodStart,
            "period_end" => ContractDate::PeriodEnd,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            ContractDate::TermStart => "term_start",
            ContractDate::TermEnd => "term_end",
            ContractDate::PeriodStart => "period_start",
            ContractDate::PeriodEnd => "period_end",
        }
    }
}

/// Who pays or is paid: one party, or the parties of a split in their shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartyRef {
    Party(u32),
    Split(SplitId),
}

/// A payment term of the contract. Its name is also a `Money` decision: the amount it pays
/// in the statement period.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentDef {
    pub name: String,
    pub title: Option<String>,
    pub decision: DecisionId,
    pub payer: PartyRef,
    pub payee: PartyRef,
    pub amount: PaymentAmount,
    pub schedule: Schedule,
    /// Added to every due date (`within 30 days`): a `Duration` node.
    pub within: Option<NodeId>,
    /// Data-quality and other gates: (label, condition); no payment unless all hold.
    pub gates: Vec<(String, NodeId)>,
    /// The trigger: no payment unless it holds.
    pub trigger: Option<NodeId>,
    pub cap: Option<NodeId>,
    pub floor: Option<NodeId>,
    /// The most it can pay (`of …`), shown beside what it paid: a `Money` node.
    pub of: Option<NodeId>,
    /// A shadow payment is worked out and shown on the statement, but no money moves.
    pub shadow: bool,
    pub clause: Option<String>,
    pub span: Span,
    pub name_span: Span,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum PaymentAmount {
    /// A rate per year or per month, paid in instalments and pro-rated by day.
    Block { rate: NodeId, per: Unit },
    /// The amount for the statement period, paid once.
    Period(NodeId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    Monthly {
        in_advance: bool,
    },
    Quarterly {
        in_advance: bool,
    },
    Once {
        in_advance: bool,
    },
    AtContractEnd,
    /// On a date (a `Date` node).
    On(NodeId),
}

impl Schedule {
    /// How the schedule is written: `monthly in advance`.
    pub fn describe(self) -> &'static str {
        match self {
            Schedule::Monthly { in_advance: true } => "monthly in advance",
            Schedule::Monthly { in_advance: false } => "monthly in arrears",
            Schedule::Quarterly { in_advance: true } => "quarterly in advance",
            Schedule::Quarterly { in_advance: false } => "quarterly in arrears",
            Schedule::Once { in_advance: true } => "in advance",
            Schedule::Once { in_advance: false } => "in arrears",
            Schedule::AtContractEnd => "at contract end",
            Schedule::On(_) => "on a date",
        }
    }
}

/// Shares of an amount between parties (the variants of an enum), summing to exactly 100%.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitDef {
    pub name: String,
    pub over: EnumId,
    /// (variant index, share as a fraction), in declaration order.
    pub shares: Vec<(u32, Decimal)>,
    /// The variant that receives what rounding to the penny leaves over.
    pub remainder: u32,
    pub source: Option<String>,
    pub span: Span,
    pub name_span: Span,
    /// The contract clause it comes from (`Schedule 2, 4.1`), cited in explanations.
    pub clause: Option<String>,
}

impl SplitDef {
    /// Every party's part of `amount`, conserving it exactly: each part is the amount times
    /// the share, rounded toward zero to the penny, and what is left (less than a penny per
    /// party) goes to the remainder party. `None` if a product overflows.
    pub fn allocate(&self, amount: Decimal) -> Option<Vec<(u32, Decimal)>> {
        let mut parts = Vec::with_capacity(self.shares.len());
        let mut given = Decimal::ZERO;
        for &(party, share) in &self.shares {
            let part = amount.checked_mul(share)?.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero);
            given = given.checked_add(part)?;
            parts.push((party, part));
        }
        let left = amount.checked_sub(given)?;
        if let Some(slot) = parts.iter_mut().find(|(p, _)| *p == self.remainder) {
            slot.1 = slot.1.checked_add(left)?;
        }
        Some(parts)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleArm {
    pub label: String,
    /// Index (in the same list) of the rule this one is an exception to.
    pub parent: Option<u32>,
    /// No condition: the rule applies whenever no exception to it does.
    pub condition: Option<NodeId>,
    pub value: NodeId,
    /// The whole rule.
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinOp {
    /// Numeric operations on decimals (checked; `Div` by zero is an error).
    Add,
    Sub,
    Mul,
    Div,
    /// `rate × duration`: the duration as a fraction of the rate's unit, times the rate;
    /// an error when the duration cannot be converted or the amount is not exact.
    MulRateDuration(Unit),
    DateAddDuration,
    DateSubDuration,
    DurationAdd,
    DurationSub,
    /// `count × duration` for a whole count (the count on the left).
    ScaleDuration,
    /// `amount ÷ duration`: the rate per `Unit` that pays the amount over the duration
    /// (exactly, or an error).
    DivAmountDuration(Unit),
    /// Comparisons: numbers, dates, text, booleans, and enums (ordered enums by declaration order).
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Short-circuiting.
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add | BinOp::DateAddDuration | BinOp::DurationAdd => "+",
            BinOp::Sub | BinOp::DateSubDuration | BinOp::DurationSub => "-",
            BinOp::Mul | BinOp::MulRateDuration(_) | BinOp::ScaleDuration => "×",
            BinOp::Div | BinOp::DivAmountDuration(_) => "÷",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatchArm {
    /// What the arm accepts, written and matched exactly like a table row's key (`_`,
    /// alternatives, ranges), so tables and matches share one analysis.
    pub key: Key,
    pub body: NodeId,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggOp {
    Sum,
    Count,
    Min,
    Max,
    All,
    Any,
    Filter,
}

impl AggOp {
    pub fn name(self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Count => "count",
            AggOp::Min => "min",
            AggOp::Max => "max",
            AggOp::All => "all",
            AggOp::Any => "any",
            AggOp::Filter => "filter",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoundMode {
    /// Half away from zero (commercial rounding): 2.125 → 2.13, -2.125 → -2.13.
    HalfUp,
    /// Half to even (banker's rounding): 2.125 → 2.12.
    HalfEven,
    /// Toward zero (truncate).
    Down,
    /// Away from zero.
    Up,
}

impl RoundMode {
    pub fn from_name(name: &str) -> Option<RoundMode> {
        Some(match name {
            "half_up" => RoundMode::HalfUp,
            "half_even" => RoundMode::HalfEven,
            "down" => RoundMode::Down,
            "up" => RoundMode::Up,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            RoundMode::HalfUp => "half_up",
            RoundMode::HalfEven => "half_even",
            RoundMode::Down => "down",
            RoundMode::Up => "up",
        }
    }
    pub fn strategy(self) -> rust_decimal::RoundingStrategy {
        use rust_decimal::RoundingStrategy as S;
        match self {
            RoundMode::HalfUp => S::MidpointAwayFromZero,
            RoundMode::HalfEven => S::MidpointNearestEven,
            RoundMode::Down => S::ToZero,
            RoundMode::Up => S::AwayFromZero,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Builtin {
    /// Two-argument minimum / maximum of numbers or dates.
    Min2,
    Max2,
    Abs,
    Year,
    Month,
    Day,
    MakeDate,
    DaysBetween,
    /// `ratio(numerator, denominator)`: a percentage; no value when the denominator is zero.
    Ratio,
    /// `pro_rata(x, low, high)`: 0% at or below `low`, 100% at or above `high`, in
    /// proportion between.
    ProRata,
}

impl Builtin {
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Min2 => "min",
            Builtin::Max2 => "max",
            Builtin::Abs => "abs",
            Builtin::Year => "year",
            Builtin::Month => "month",
            Builtin::Day => "day",
            Builtin::MakeDate => "date",
            Builtin::DaysBetween => "days_between",
            Builtin::Ratio => "ratio",
            Builtin::ProRata => "pro_rata",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnumDef {
    pub name: String,
    pub ordered: bool,
    pub variants: Vec<Variant>,
    pub span: Span,
}

impl EnumDef {
    pub fn variant_name(&self, index: u32) -> &str {
        self.variants.get(index as usize).map_or("?", |v| v.name.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    pub code: Option<i64>,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordDef {
    pub name: String,
    pub fields: Vec<FieldDef>,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldDef {
    pub name: String,
    pub ty: Ty,
    pub optional: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputDef {
    pub name: String,
    pub ty: Ty,
    pub optional: bool,
    pub span: Span,
    pub doc: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParamDef {
    pub name: String,
    pub ty: Ty,
    /// For a dated version: when it is valid.
    pub valid: Option<Validity>,
    pub value: NodeId,
    pub span: Span,
    pub doc: Option<String>,
    /// The contract clause it comes from (`Schedule 2, 4.1`), cited in explanations.
    pub clause: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionDef {
    pub name: String,
    /// `module.name`.
    pub qualified: String,
    pub params: Vec<(String, Ty)>,
    /// Frame size: parameters plus `let` and loop variables.
    pub locals: u32,
    pub ty: Ty,
    pub body: NodeId,
    /// For a dated version: when it is valid. Versions are evaluated through the decision
    /// of the same name that chooses among them.
    pub valid: Option<Validity>,
    /// The whole declaration.
    pub span: Span,
    /// The declaration's name.
    pub name_span: Span,
    pub doc: Option<String>,
    /// The contract clause it comes from (`Schedule 2, 4.1`), cited in explanations.
    pub clause: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HitPolicy {
    /// Exactly one row may match; two matching rows is an evaluation error.
    Unique,
    /// The first matching row in source order wins.
    First,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableDef {
    pub name: String,
    pub qualified: String,
    pub columns: Vec<(String, Ty)>,
    pub ty: Ty,
    pub hit: HitPolicy,
    /// For a dated version: when it is valid.
    pub valid: Option<Validity>,
    /// Declared `partial`: some inputs deliberately match no row, so gaps are not reported.
    pub partial: bool,
    pub source: Option<String>,
    pub rows: Vec<Row>,
    pub span: Span,
    pub name_span: Span,
    pub doc: Option<String>,
    /// The contract clause it comes from (`Schedule 2, 4.1`), cited in explanations.
    pub clause: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// One key per column.
    pub keys: Vec<Key>,
    /// An `otherwise` row (always last): it applies when no other row does, so it never
    /// conflicts with them, even in a `hit unique` table.
    pub otherwise: bool,
    pub cell: Cell,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Key {
    Any,
    /// Matches when any alternative matches.
    Alts(Vec<KeyAlt>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum KeyAlt {
    Equals(Value),
    Range { low: Option<Bound>, high: Option<Bound> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bound {
    pub value: Decimal,
    pub inclusive: bool,
}

impl Key {
    /// Whether a row key accepts a value: the one definition of table matching, used by the
    /// evaluator for lookups and by the checker's gap and overlap analysis. `Err` means a
    /// range was tested against something that is not a number (a checker bug).
    pub fn matches(&self, value: &Value) -> Result<bool, String> {
        let Key::Alts(alts) = self else { return Ok(true) };
        for alt in alts {
            let hit = match alt {
                KeyAlt::Equals(v) => v == value,
                KeyAlt::Range { low, high } => {
                    let Value::Num(x) = value else {
                        return Err("a range key was tested against a value that is not a number".to_string());
                    };
                    low.as_ref().is_none_or(|b| if b.inclusive { *x >= b.value } else { *x > b.value })
                        && high.as_ref().is_none_or(|b| if b.inclusive { *x <= b.value } else { *x < b.value })
                }
            };
            if hit {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Cell {
    /// A constant expression, evaluated when the row is hit.
    Value(NodeId),
    /// `none "reason"`: deliberately no value.
    NoValue(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestDef {
    pub name: String,
    pub span: Span,
    /// `as of DATE` in the test: the date that chooses dated versions.
    pub as_of: Option<NodeId>,
    pub givens: Vec<Given>,
    pub expects: Vec<Expect>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Given {
    pub input: InputId,
    pub value: NodeId,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expect {
    /// What is tested: usually a decision (`weekly_cost`) or a call (`review_due(C4, d)`),
    /// evaluated with the test's inputs.
    pub target: NodeId,
    /// The expected value, a constant.
    pub value: NodeId,
    /// The whole `expect` line.
    pub span: Span,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn split(shares: &[&str], remainder: u32) -> SplitDef {
        SplitDef {
            clause: None,
            name: "s".into(),
            over: EnumId(0),
            shares: shares.iter().enumerate().map(|(i, s)| (i as u32, Decimal::from_str(s).expect("share"))).collect(),
            remainder,
            source: None,
            span: Span::default(),
            name_span: Span::default(),
        }
    }

    #[test]
    fn allocation_conserves_every_amount_to_the_penny() {
        let splits = [
            split(&["0.4", "0.35", "0.15", "0.1"], 0),
            split(&["0.74", "0.18", "0.08"], 2),
            split(&["0.25", "0.75"], 1),
            split(&["0.3333", "0.3333", "0.3334"], 1),
        ];
        let mut checked = 0;
        for s in &splits {
            for pence in (0..20_000i64).chain([99_999_999_999, -12_345]) {
                let amount = Decimal::new(pence, 2);
                let parts = s.allocate(amount).expect("no overflow");
                let total: Decimal = parts.iter().map(|(_, a)| *a).sum();
                assert_eq!(total, amount, "parts of {amount} must sum to it exactly");
                for (party, part) in &parts {
                    let exact = amount * s.shares[*party as usize].1;
                    let extra = (*part - exact).abs();
                    // Each part is within a penny of its exact share, except the remainder
                    // party's, which is within a penny per party.
                    let limit =
                        if *party == s.remainder { Decimal::new(parts.len() as i64, 2) } else { Decimal::new(1, 2) };
                    assert!(extra < limit, "{party}: {part} is too far from {exact}");
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 4 * 20_002);
    }
}
