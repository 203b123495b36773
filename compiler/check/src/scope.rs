//! Declarations and scopes: which name means what in each module.
//!
//! Every module sees its own top-level names and those of the modules it imports. Inputs
//! are also global (they are the keys of the input JSON), so two modules may not declare
//! the same input. Names are kept in `BTreeMap`s so that nothing depends on hash order.

use crate::ParsedModule;
use covenant_ir::{
    DecisionDef, DecisionId, EnumDef, EnumId, FieldDef, InputDef, InputId, NodeId, NumTy, ParamDef, ParamId, Program,
    RecordDef, RecordId, TableDef, TableId, Ty, Unit, Variant,
};
use covenant_source::{Diagnostic, Span};
use covenant_syntax::ast::{self, ItemKind, TypeExpr, TypeKind};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Def {
    Enum(EnumId),
    Record(RecordId),
    Input(InputId),
    Param(ParamId),
    Table(TableId),
    Decision(DecisionId),
}

#[derive(Default)]
pub(crate) struct Scope {
    pub own: BTreeMap<String, (Def, Span)>,
}

pub(crate) struct Context<'m> {
    pub modules: &'m [ParsedModule],
    pub program: Program,
    pub diagnostics: Vec<Diagnostic>,
    pub scopes: Vec<Scope>,
    /// `calls[d]`: decisions referenced by decision `d`.
    pub calls: Vec<Vec<(DecisionId, Span)>>,
    /// Where each declaration's AST lives: (module index, item index).
    pub decision_items: Vec<(usize, usize)>,
    pub table_items: Vec<(usize, usize)>,
    pub param_items: Vec<(usize, usize)>,
    pub input_items: Vec<(usize, usize)>,
    pub enum_items: Vec<(usize, usize)>,
    pub record_items: Vec<(usize, usize)>,
}

const BUILTIN_TYPES: &[&str] =
    &["Bool", "Int", "Decimal", "Money", "Percent", "Date", "Duration", "Text", "Hours", "hours"];

impl<'m> Context<'m> {
    pub fn new(modules: &'m [ParsedModule], files: Vec<String>) -> Context<'m> {
        Context {
            modules,
            program: Program { files, ..Program::default() },
            diagnostics: Vec::new(),
            scopes: modules.iter().map(|_| Scope::default()).collect(),
            calls: Vec::new(),
            decision_items: Vec::new(),
            table_items: Vec::new(),
            param_items: Vec::new(),
            input_items: Vec::new(),
            enum_items: Vec::new(),
            record_items: Vec::new(),
        }
    }

    pub fn finish(self) -> (Program, Vec<Diagnostic>) {
        (self.program, self.diagnostics)
    }

    pub fn item(&self, at: (usize, usize)) -> &'m ast::Item {
        &self.modules[at.0].ast.items[at.1]
    }

    fn qualified(&self, module: usize, name: &str) -> String {
        format!("{}.{}", self.modules[module].name, name)
    }

    /// Step 1: give every declaration an id and a place in its module's scope.
    pub fn declare(&mut self) {
        for (m, module) in self.modules.iter().enumerate() {
            for (i, item) in module.ast.items.iter().enumerate() {
                let at = (m, i);
                let doc = item.doc.clone();
                let (name, def) = match &item.kind {
                    ItemKind::Import(_) | ItemKind::Test(_) => continue,
                    ItemKind::Enum(e) => {
                        self.enum_items.push(at);
                        let id = EnumId(self.program.enums.len() as u32);
                        self.program.enums.push(EnumDef {
                            name: e.name.text.clone(),
                            ordered: e.ordered,
                            variants: Vec::new(),
                            span: e.name.span,
                        });
                        (&e.name, Def::Enum(id))
                    }
                    ItemKind::Record(r) => {
                        self.record_items.push(at);
                        let id = RecordId(self.program.records.len() as u32);
                        self.program.records.push(RecordDef {
                            name: r.name.text.clone(),
                            fields: Vec::new(),
                            span: r.name.span,
                        });
                        (&r.name, Def::Record(id))
                    }
                    ItemKind::Input(input) => {
                        if let Some(other) = self.program.inputs.iter().find(|i| i.name == input.name.text) {
                            let previous = other.span;
                            self.diagnostics.push(duplicate(&input.name, previous, "input"));
                            continue;
                        }
                        self.input_items.push(at);
                        let id = InputId(self.program.inputs.len() as u32);
                        self.program.inputs.push(InputDef {
                            name: input.name.text.clone(),
                            ty: Ty::Error,
                            optional: false,
                            span: input.name.span,
                            doc,
                        });
                        (&input.name, Def::Input(id))
                    }
                    ItemKind::Param(p) => {
                        self.param_items.push(at);
                        let id = ParamId(self.program.params.len() as u32);
                        self.program.params.push(ParamDef {
                            name: p.name.text.clone(),
                            ty: Ty::Error,
                            value: NodeId(0),
                            span: p.name.span,
                            doc,
                        });
                        (&p.name, Def::Param(id))
                    }
                    ItemKind::Table(t) => {
                        self.table_items.push(at);
                        let id = TableId(self.program.tables.len() as u32);
                        self.program.tables.push(TableDef {
                            name: t.name.text.clone(),
                            qualified: self.qualified(m, &t.name.text),
                            columns: Vec::new(),
                            ty: Ty::Error,
                            hit: covenant_ir::HitPolicy::Unique,
                            partial: t.partial,
                            source: t.source.as_ref().map(|(s, _)| s.clone()),
                            rows: Vec::new(),
                            span: item.span,
                            name_span: t.name.span,
                            doc,
                        });
                        (&t.name, Def::Table(id))
                    }
                    ItemKind::Decision(d) => {
                        self.decision_items.push(at);
                        self.calls.push(Vec::new());
                        let id = DecisionId(self.program.decisions.len() as u32);
                        self.program.decisions.push(DecisionDef {
                            name: d.name.text.clone(),
                            qualified: self.qualified(m, &d.name.text),
                            params: Vec::new(),
                            locals: 0,
                            ty: Ty::Error,
                            body: NodeId(0),
                            span: item.span,
                            name_span: d.name.span,
                            doc,
                        });
                        (&d.name, Def::Decision(id))
                    }
                };
                if let Some((_, previous)) = self.scopes[m].own.get(&name.text) {
                    let previous = *previous;
                    self.diagnostics.push(duplicate(name, previous, "name"));
                } else {
                    self.scopes[m].own.insert(name.text.clone(), (def, name.span));
                }
            }
        }
    }

    /// Looks a name up in a module: its own names first, then its imports in order.
    pub fn lookup(&self, module: usize, name: &str) -> Option<Def> {
        if let Some((def, _)) = self.scopes[module].own.get(name) {
            return Some(*def);
        }
        self.modules[module].imports.iter().find_map(|&m| self.scopes[m].own.get(name).map(|(d, _)| *d))
    }

    /// Every name visible in a module, for "did you mean" suggestions.
    pub fn visible_names(&self, module: usize) -> Vec<String> {
        let mut names: Vec<String> = self.scopes[module].own.keys().cloned().collect();
        for &m in &self.modules[module].imports {
            names.extend(self.scopes[m].own.keys().cloned());
        }
        names
    }

    /// Enums visible in a module, for resolving bare variant names.
    pub fn visible_enums(&self, module: usize) -> Vec<EnumId> {
        let mut out = Vec::new();
        let mut add = |scope: &Scope| {
            for (def, _) in scope.own.values() {
                if let Def::Enum(id) = def
                    && !out.contains(id)
                {
                    out.push(*id);
                }
            }
        };
        add(&self.scopes[module]);
        for &m in &self.modules[module].imports {
            add(&self.scopes[m]);
        }
        out
    }

    /// Step 2: resolve every declared type.
    pub fn resolve_signatures(&mut self) {
        for (index, &at) in self.enum_items.clone().iter().enumerate() {
            let ItemKind::Enum(e) = &self.item(at).kind else { continue };
            let mut variants: Vec<Variant> = Vec::new();
            let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
            let mut codes: BTreeMap<i64, Span> = BTreeMap::new();
            for v in &e.variants {
                if let Some(previous) = seen.insert(&v.name.text, v.name.span) {
                    self.diagnostics.push(duplicate(&v.name, previous, "variant"));
                    continue;
                }
                if let Some((code, span)) = v.code
                    && let Some(previous) = codes.insert(code, span)
                {
                    self.diagnostics.push(
                        Diagnostic::error(
                            "E0201",
                            format!("code {code} is used twice in `{}`", e.name.text),
                            span,
                            "second use",
                        )
                        .with_label(previous, "first use"),
                    );
                }
                variants.push(Variant { name: v.name.text.clone(), code: v.code.map(|c| c.0), label: v.label.clone() });
            }
            if variants.is_empty() {
                self.diagnostics.push(
                    Diagnostic::error(
                        "E0209",
                        format!("enum `{}` has no variants", e.name.text),
                        e.name.span,
                        "empty enum",
                    )
                    .with_help("list at least one variant between the braces"),
                );
            }
            self.program.enums[index].variants = variants;
        }
        for (index, &at) in self.record_items.clone().iter().enumerate() {
            let ItemKind::Record(r) = &self.item(at).kind else { continue };
            let mut fields: Vec<FieldDef> = Vec::new();
            let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
            for f in &r.fields {
                if let Some(previous) = seen.insert(&f.name.text, f.name.span) {
                    self.diagnostics.push(duplicate(&f.name, previous, "field"));
                    continue;
                }
                let (ty, optional) = self.resolve_type(at.0, &f.ty);
                fields.push(FieldDef { name: f.name.text.clone(), ty, optional });
            }
            self.program.records[index].fields = fields;
        }
        for (index, &at) in self.input_items.clone().iter().enumerate() {
            let ItemKind::Input(input) = &self.item(at).kind else { continue };
            let (ty, optional) = self.resolve_type(at.0, &input.ty);
            self.program.inputs[index].ty = ty;
            self.program.inputs[index].optional = optional;
        }
        for (index, &at) in self.param_items.clone().iter().enumerate() {
            let ItemKind::Param(p) = &self.item(at).kind else { continue };
            self.program.params[index].ty = self.resolve_plain_type(at.0, &p.ty);
        }
        for (index, &at) in self.table_items.clone().iter().enumerate() {
            let ItemKind::Table(t) = &self.item(at).kind else { continue };
            let columns =
                t.columns.iter().map(|c| (c.name.text.clone(), self.resolve_plain_type(at.0, &c.ty))).collect();
            self.program.tables[index].columns = columns;
            self.program.tables[index].ty = self.resolve_plain_type(at.0, &t.result);
        }
        for (index, &at) in self.decision_items.clone().iter().enumerate() {
            let ItemKind::Decision(d) = &self.item(at).kind else { continue };
            let params = d
                .params
                .iter()
                .flatten()
                .map(|p| (p.name.text.clone(), self.resolve_plain_type(at.0, &p.ty)))
                .collect();
            self.program.decisions[index].params = params;
            self.program.decisions[index].ty = self.resolve_plain_type(at.0, &d.ty);
        }
    }

    /// A type where `optional` is not allowed (tables, params, decisions).
    fn resolve_plain_type(&mut self, module: usize, ty: &TypeExpr) -> Ty {
        let (resolved, optional) = self.resolve_type(module, ty);
        if optional {
            self.diagnostics.push(
                Diagnostic::error(
                    "E0203",
                    "`optional` is only allowed on inputs and record fields",
                    ty.span,
                    "not allowed here",
                )
                .with_help("a table cell can be `none \"reason\"` instead, and `x otherwise y` supplies a fallback"),
            );
        }
        resolved
    }

    /// Resolves a type expression; the flag says whether it was marked `optional`.
    pub fn resolve_type(&mut self, module: usize, ty: &TypeExpr) -> (Ty, bool) {
        match &ty.kind {
            TypeKind::Optional(inner) => {
                let (t, _) = self.resolve_type(module, inner);
                (t, true)
            }
            TypeKind::List(inner) => {
                let (t, _) = self.resolve_type(module, inner);
                (Ty::List(Box::new(t)), false)
            }
            TypeKind::Named { name, per } => {
                let base = match name.text.as_str() {
                    "Bool" => Ty::Bool,
                    "Int" => Ty::INT,
                    "Decimal" => Ty::DECIMAL,
                    "Money" => Ty::MONEY,
                    "Percent" => Ty::PERCENT,
                    "Date" => Ty::Date,
                    "Duration" => Ty::Duration,
                    "Text" => Ty::Text,
                    "Hours" | "hours" => Ty::Num(NumTy::HOURS),
                    other => match self.lookup(module, other) {
                        Some(Def::Enum(id)) => Ty::Enum(id),
                        Some(Def::Record(id)) => Ty::Record(id),
                        _ => {
                            let mut candidates: Vec<String> = BUILTIN_TYPES.iter().map(|s| s.to_string()).collect();
                            candidates.extend(
                                self.visible_names(module)
                                    .into_iter()
                                    .filter(|n| matches!(self.lookup(module, n), Some(Def::Enum(_) | Def::Record(_)))),
                            );
                            let mut d =
                                Diagnostic::error("E0203", format!("unknown type `{other}`"), name.span, "not a type");
                            d = match suggest(other, &candidates) {
                                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                                None => d.with_help("types are Bool, Int, Decimal, Money, Percent, Date, Duration, Text, Hours, or an enum or record declared or imported here"),
                            };
                            self.diagnostics.push(d);
                            Ty::Error
                        }
                    },
                };
                let Some(per) = per else { return (base, false) };
                let Some(unit) = Unit::from_word(&per.text) else {
                    self.diagnostics.push(
                        Diagnostic::error("E0207", format!("unknown unit `{}`", per.text), per.span, "not a unit")
                            .with_help("units are hour, day, week, month, year, bed_day and case"),
                    );
                    return (Ty::Error, false);
                };
                match base {
                    Ty::Num(n) if n.per.is_none() && n.kind != covenant_ir::NumKind::Percent => {
                        (Ty::Num(NumTy { per: Some(unit), ..n }), false)
                    }
                    Ty::Error => (Ty::Error, false),
                    _ => {
                        self.diagnostics.push(Diagnostic::error(
                            "E0207",
                            format!("`{}` cannot be a rate", name.text),
                            ty.span,
                            "only Money, Int, Decimal and Hours can be `per` a unit",
                        ));
                        (Ty::Error, false)
                    }
                }
            }
        }
    }
}

pub(crate) fn duplicate(name: &ast::Name, previous: Span, what: &str) -> Diagnostic {
    Diagnostic::error("E0201", format!("the {what} `{}` is defined twice", name.text), name.span, "second definition")
        .with_label(previous, "first definition")
        .with_help("rename one of them, or remove the duplicate")
}

/// The closest candidate by edit distance, if it is close enough to be a likely typo.
pub(crate) fn suggest(name: &str, candidates: &[String]) -> Option<String> {
    let length = name.chars().count();
    if length < 3 {
        return None;
    }
    let limit = (length / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(&name.to_lowercase(), &c.to_lowercase()), edit_distance(name, c), c))
        .filter(|(d, _, _)| *d <= limit)
        .min_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)))
        .map(|(_, _, c)| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb { previous } else { 1 + previous.min(row[j]).min(row[j + 1]) };
            previous = current;
        }
    }
    row[b.len()]
}
