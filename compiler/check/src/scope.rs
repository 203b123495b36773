//! Declarations and scopes: which name means what in each module.
//!
//! Every module sees its own top-level names and those of the modules it imports. Inputs
//! are also global (they are the keys of the input JSON), so two modules may not declare
//! the same input. Names are kept in `BTreeMap`s so that nothing depends on hash order.

use crate::ParsedModule;
use covenant_ir::{
    DecisionDef, DecisionId, EnumDef, EnumId, FieldDef, InputDef, InputId, NodeId, NumTy, ParamDef, ParamId, Program,
    RecordDef, RecordId, SplitId, TableDef, TableId, Ty, Unit, Variant,
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
    Split(SplitId),
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
    /// Dated versions: the declaration a name resolves to, and every version of it.
    pub version_groups: Vec<(Def, Vec<Def>)>,
    /// Decisions that choose among the versions of a dated decision, with those versions.
    pub dispatchers: Vec<(DecisionId, Vec<DecisionId>)>,
    /// `as of` declarations: (module index, item index).
    pub as_of_items: Vec<(usize, usize)>,
    pub split_items: Vec<(usize, usize)>,
    pub contract_items: Vec<(usize, usize)>,
    pub payment_items: Vec<(usize, usize)>,
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
            version_groups: Vec::new(),
            dispatchers: Vec::new(),
            as_of_items: Vec::new(),
            split_items: Vec::new(),
            contract_items: Vec::new(),
            payment_items: Vec::new(),
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
                    ItemKind::Import(_) | ItemKind::Test(_) | ItemKind::Clause(_) => continue,
                    ItemKind::Contract(_) => {
                        self.contract_items.push(at);
                        continue;
                    }
                    ItemKind::Payment(p) => {
                        // A payment is also the decision giving what it pays in the period.
                        self.payment_items.push(at);
                        self.decision_items.push(at);
                        self.calls.push(Vec::new());
                        let decision = DecisionId(self.program.decisions.len() as u32);
                        let clause = p.clause.as_ref().map(|(c, _)| c.clone());
                        self.program.decisions.push(DecisionDef {
                            name: p.name.text.clone(),
                            qualified: self.qualified(m, &p.name.text),
                            params: Vec::new(),
                            locals: 0,
                            ty: Ty::MONEY,
                            body: NodeId(0),
                            valid: None,
                            clause: clause.clone(),
                            span: item.span,
                            name_span: p.name.span,
                            doc,
                        });
                        self.program.payments.push(covenant_ir::PaymentDef {
                            name: p.name.text.clone(),
                            title: p.title.as_ref().map(|(t, _)| t.clone()),
                            decision,
                            payer: covenant_ir::PartyRef::Party(0),
                            payee: covenant_ir::PartyRef::Party(0),
                            amount: covenant_ir::PaymentAmount::Period(NodeId(0)),
                            schedule: covenant_ir::Schedule::AtContractEnd,
                            within: None,
                            gates: Vec::new(),
                            trigger: None,
                            cap: None,
                            floor: None,
                            of: None,
                            shadow: p.shadow.is_some(),
                            clause,
                            span: item.span,
                            name_span: p.name.span,
                        });
                        (&p.name, Def::Decision(decision))
                    }
                    ItemKind::AsOf(_) => {
                        self.as_of_items.push(at);
                        continue;
                    }
                    ItemKind::Split(split) => {
                        self.split_items.push(at);
                        let id = SplitId(self.program.splits.len() as u32);
                        self.program.splits.push(covenant_ir::SplitDef {
                            name: split.name.text.clone(),
                            over: EnumId(0),
                            shares: Vec::new(),
                            remainder: 0,
                            source: split.source.as_ref().map(|(s, _)| s.clone()),
                            clause: split.clause.as_ref().map(|(c, _)| c.clone()),
                            span: item.span,
                            name_span: split.name.span,
                        });
                        (&split.name, Def::Split(id))
                    }
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
                            valid: None,
                            clause: p.clause.as_ref().map(|(c, _)| c.clone()),
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
                            valid: None,
                            clause: t.clause.as_ref().map(|(c, _)| c.clone()),
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
                            valid: None,
                            clause: d.clause.as_ref().map(|(c, _)| c.clone()),
                            span: item.span,
                            name_span: d.name.span,
                            doc,
                        });
                        (&d.name, Def::Decision(id))
                    }
                };
                if let Some(&(first, previous)) = self.scopes[m].own.get(&name.text) {
                    if self.is_version_of(first, def) {
                        self.add_version(first, def);
                    } else {
                        let mut d = duplicate(name, previous, "name");
                        if valid_clause(&item.kind).is_some() || self.def_valid(first) {
                            d = d.with_note("dated versions of a table, param or decision each say when they are valid, with `valid from …`, `valid to …` or `valid 2015/16`");
                        }
                        self.diagnostics.push(d);
                    }
                } else {
                    self.scopes[m].own.insert(name.text.clone(), (def, name.span));
                }
            }
        }
        self.group_single_versions();
        self.create_dispatchers();
    }

    /// A dated declaration with no other version is still a version: outside its validity
    /// there is no value, so references to it choose by date like any other.
    fn group_single_versions(&mut self) {
        let dated: Vec<Def> = (0..self.table_items.len())
            .map(|i| Def::Table(TableId(i as u32)))
            .chain((0..self.param_items.len()).map(|i| Def::Param(ParamId(i as u32))))
            .chain((0..self.decision_items.len()).map(|i| Def::Decision(DecisionId(i as u32))))
            .filter(|d| self.def_valid(*d))
            .collect();
        for def in dated {
            let grouped = self.version_groups.iter().any(|(_, versions)| versions.contains(&def));
            if !grouped {
                self.version_groups.push((def, vec![def]));
            }
        }
    }

    /// The AST item of a table, param or decision.
    fn def_item(&self, def: Def) -> Option<&'m ast::Item> {
        let at = match def {
            Def::Table(id) => self.table_items.get(id.index()),
            Def::Param(id) => self.param_items.get(id.index()),
            Def::Decision(id) => self.decision_items.get(id.index()),
            _ => None,
        }?;
        Some(self.item(*at))
    }

    fn def_valid(&self, def: Def) -> bool {
        self.def_item(def).is_some_and(|item| valid_clause(&item.kind).is_some())
    }

    /// Two declarations of one name are versions when both are dated and of the same kind.
    fn is_version_of(&self, first: Def, new: Def) -> bool {
        let same_kind = matches!(
            (first, new),
            (Def::Table(_), Def::Table(_)) | (Def::Param(_), Def::Param(_)) | (Def::Decision(_), Def::Decision(_))
        );
        same_kind && self.def_valid(first) && self.def_valid(new)
    }

    fn add_version(&mut self, first: Def, new: Def) {
        match self.version_groups.iter_mut().find(|(d, _)| *d == first) {
            Some((_, versions)) => versions.push(new),
            None => self.version_groups.push((first, vec![first, new])),
        }
    }

    /// A dated decision is reached through a decision of the same name that chooses its
    /// version by date; the name now means that one.
    fn create_dispatchers(&mut self) {
        for (first, versions) in self.version_groups.clone() {
            let Def::Decision(first_id) = first else { continue };
            let template = self.program.decision(first_id).clone();
            let id = DecisionId(self.program.decisions.len() as u32);
            // It has no text of its own: it is located at the first version's name.
            let span = template.name_span;
            self.program.decisions.push(DecisionDef { valid: None, doc: None, span, ..template });
            self.calls.push(Vec::new());
            let ids = versions.iter().filter_map(|d| if let Def::Decision(v) = d { Some(*v) } else { None }).collect();
            self.dispatchers.push((id, ids));
            let (m, _) = self.decision_items[first_id.index()];
            let name = self.program.decision(first_id).name.clone();
            if let Some(entry) = self.scopes[m].own.get_mut(&name) {
                entry.0 = Def::Decision(id);
            }
        }
    }

    /// All versions of a table or param name, if it has dated versions.
    pub fn versions_of(&self, def: Def) -> Option<&[Def]> {
        self.version_groups.iter().find(|(d, _)| *d == def).map(|(_, v)| v.as_slice())
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
        self.resolve_versions();
    }

    /// Validity ranges of dated versions, and the checks on each group of versions: the same
    /// signature, no overlapping ranges (E0430), and no gaps between them (E0431).
    fn resolve_versions(&mut self) {
        for (kind_index, items) in
            [self.table_items.clone(), self.param_items.clone(), self.decision_items.clone()].into_iter().enumerate()
        {
            for (index, at) in items.into_iter().enumerate() {
                let Some(clause) = valid_clause(&self.item(at).kind) else { continue };
                let valid = self.validity(clause);
                match kind_index {
                    0 => {
                        let table = &mut self.program.tables[index];
                        if let Some(v) = valid {
                            table.qualified = format!("{} (valid {v})", table.qualified);
                        }
                        table.valid = valid;
                    }
                    1 => self.program.params[index].valid = valid,
                    _ => {
                        // Versions share a name; their qualified names tell them apart.
                        let def = &mut self.program.decisions[index];
                        if let Some(v) = valid {
                            def.qualified = format!("{} (valid {v})", def.qualified);
                        }
                        def.valid = valid;
                    }
                }
            }
        }
        for (dispatcher, versions) in self.dispatchers.clone() {
            let first = self.program.decision(versions[0]).clone();
            let def = &mut self.program.decisions[dispatcher.index()];
            def.params = first.params;
            def.ty = first.ty;
        }
        for (_, versions) in self.version_groups.clone() {
            self.check_version_group(&versions);
        }
    }

    fn validity(&mut self, clause: &ast::ValidClause) -> Option<covenant_ir::Validity> {
        let mut date = |end: &Option<(String, Span)>| -> Result<Option<covenant_ir::Date>, ()> {
            let Some((text, span)) = end else { return Ok(None) };
            match covenant_ir::Date::parse(text) {
                Some(d) => Ok(Some(d)),
                None => {
                    let message = if text.contains('/') {
                        "a financial year is written with the next year's last two digits, as in `2015/16`".to_string()
                    } else {
                        format!("`{text}` is not a date")
                    };
                    self.diagnostics.push(Diagnostic::error("E0433", message, *span, "not a valid date"));
                    Err(())
                }
            }
        };
        let (Ok(from), Ok(to)) = (date(&clause.from), date(&clause.to)) else { return None };
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            self.diagnostics.push(
                Diagnostic::error(
                    "E0433",
                    format!("this validity ends ({t}) before it starts ({f})"),
                    clause.span,
                    "empty validity",
                )
                .with_help("both ends are included: `valid from 2015-04-01 to 2016-03-31`"),
            );
            return None;
        }
        Some(covenant_ir::Validity { from, to })
    }

    fn version_info(&self, def: Def) -> (String, Option<covenant_ir::Validity>, Span, String) {
        match def {
            Def::Table(id) => {
                let t = self.program.table(id);
                let signature = format!("{:?} -> {:?}", t.columns.iter().map(|c| &c.1).collect::<Vec<_>>(), t.ty);
                (t.name.clone(), t.valid, self.item(self.table_items[id.index()]).span, signature)
            }
            Def::Param(id) => {
                let p = self.program.param(id);
                (p.name.clone(), p.valid, self.item(self.param_items[id.index()]).span, format!("{:?}", p.ty))
            }
            Def::Decision(id) => {
                let d = self.program.decision(id);
                let params: Vec<&Ty> = d.params.iter().map(|p| &p.1).collect();
                (d.name.clone(), d.valid, d.span, format!("{params:?} -> {:?}", d.ty))
            }
            _ => (String::new(), None, Span::default(), String::new()),
        }
    }

    fn check_version_group(&mut self, versions: &[Def]) {
        let infos: Vec<_> = versions.iter().map(|d| self.version_info(*d)).collect();
        let name = infos[0].0.clone();
        for info in &infos[1..] {
            if info.3 != infos[0].3 {
                self.diagnostics.push(
                    Diagnostic::error(
                        "E0432",
                        format!("the versions of `{name}` have different types"),
                        info.2,
                        "this version",
                    )
                    .with_label(infos[0].2, "differs from this one")
                    .with_help("every version must take the same keys or parameters and give the same type"),
                );
                return;
            }
        }
        let mut dated: Vec<(covenant_ir::Validity, Span)> =
            infos.iter().filter_map(|i| i.1.map(|v| (v, i.2))).collect();
        if dated.len() != infos.len() {
            return; // a validity was reported as invalid already
        }
        dated.sort_by_key(|(v, _)| v.from);
        for pair in dated.windows(2) {
            let ((a, a_span), (b, b_span)) = (pair[0], pair[1]);
            let a_end = a.to;
            let overlaps = match (a_end, b.from) {
                (None, _) | (_, None) => true,
                (Some(end), Some(start)) => start <= end,
            };
            if overlaps {
                let on =
                    b.from.map_or_else(|| a.from.map_or("any date".to_string(), |d| d.to_string()), |d| d.to_string());
                self.diagnostics.push(
                    Diagnostic::error("E0430", format!("two versions of `{name}` are both valid on {on}"), b_span, format!("valid {b}"))
                        .with_label(a_span, format!("valid {a}"))
                        .with_help("the validities of versions must not overlap; end the earlier one the day before the later one starts"),
                );
                continue;
            }
            if let (Some(end), Some(start)) = (a_end, b.from) {
                let next_day = end.add(covenant_ir::Duration { months: 0, days: 1 });
                if next_day.is_some_and(|d| d < start) {
                    let last_gap_day = start.sub(covenant_ir::Duration { months: 0, days: 1 });
                    let until = last_gap_day.map_or_else(String::new, |d| format!(" to {d}"));
                    let from = next_day.map_or_else(String::new, |d| d.to_string());
                    self.diagnostics.push(
                        Diagnostic::warning(
                            "E0431",
                            format!("no version of `{name}` is valid from {from}{until}"),
                            b_span,
                            format!("valid {b}"),
                        )
                        .with_label(a_span, format!("valid {a}"))
                        .with_note("evaluating on a date in this gap is an error")
                        .with_help(
                            "start the later version the day after the earlier one ends, or add a version for the gap",
                        ),
                    );
                }
            }
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

/// The `valid` clause of a table, param or decision.
pub(crate) fn valid_clause(kind: &ItemKind) -> Option<&ast::ValidClause> {
    match kind {
        ItemKind::Table(t) => t.valid.as_ref(),
        ItemKind::Param(p) => p.valid.as_ref(),
        ItemKind::Decision(d) => d.valid.as_ref(),
        _ => None,
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
