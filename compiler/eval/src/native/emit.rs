//! The generator behind `covenant emit-rust`: a program's decisions, params and tables as a
//! Rust module that calls the runtime in [`super`] (see its documentation for why the
//! results are the interpreter's).
//!
//! Every node becomes a Rust expression of type `R<T>`, where `T` is `bool`, `Decimal`, `i64`
//! (a whole number, `Int`: see [`KindOf::Int`]), `u32` (an enum variant's index) or `Value`. `?` is used only after `rt::strict` or `rt::slot`, so
//! the only thing it carries out of a function is [`Stop::Back`](super::Stop::Back): "no
//! value" stays a value where the interpreter accepts it. Locals of record, list and other
//! value types are held as `R<&Value>` places, so reading a field of a list element copies
//! nothing; records and lists of records of the inputs are read into the module's own
//! structs first ([`Place::Typed`]), so that reading their fields checks nothing. A node the generator does not compile (splits, payments, contract dates) hands
//! the row back, and the decisions that reach it are reported as not covered.

use super::levels::Levels;
use crate::ops::{self, Selected};
use crate::session::{MAX_CALL_DEPTH, MAX_EXPR_DEPTH};
use covenant_ir::{
    AggOp, BinOp, Cell, DecisionId, HitPolicy, Key, KeyAlt, LocalId, NodeId, NodeKind, NumTy, Program, RuleArm,
    TableDef, TableId, Ty, UnOp, Value,
};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

/// The code of a node the generator does not compile: the row is handed back.
const REFUSED: &str = "Err(Stop::Back)";

/// The most combinations of key values a table's grid ([`Gen::cell_grid`]) holds.
const MAX_GRID: usize = 1024;
/// In a grid of rows: no row matches.
const GRID_NONE: u16 = u16::MAX;
/// In a grid of rows: the interpreter's to report (two rows of a `hit unique` table).
const GRID_BACK: u16 = u16::MAX - 1;

/// How many elements of a list of the inputs a call remembered by position
/// ([`positional_calls`]) is remembered for; calls on later elements are computed again.
const POSITIONS: usize = 32;

/// The deepest nesting of nodes, through every call, of a program the generator takes: far
/// below the interpreter's limits, so that a row that succeeds natively could not fail there.
pub const MAX_LEVELS: u32 = if MAX_EXPR_DEPTH < MAX_CALL_DEPTH { MAX_EXPR_DEPTH / 2 } else { MAX_CALL_DEPTH / 2 };

/// A generated module, and which decisions it computes.
pub struct Emitted {
    /// The Rust source.
    pub code: String,
    /// Parameterless decisions computed natively, by name, in declaration order.
    pub covered: Vec<String>,
    /// Parameterless decisions always handed back, with the first reason why.
    pub not_covered: Vec<(String, String)>,
}

/// Generates the Rust module for `program`; `origin` names the files in its header. An
/// error says why the program is not taken.
pub fn emit(program: &Program, origin: &str) -> Result<Emitted, String> {
    if !Levels::within(program, MAX_LEVELS) {
        return Err(format!(
            "the rules nest more than {MAX_LEVELS} levels deep through their calls, or a decision calls itself; \
             the Rust backend takes only rules well inside the evaluator's limits"
        ));
    }
    // A parameter taking a record (or list of records) held in the module's structs takes
    // the struct when every call passes one; generating the module again without those
    // some call does not, until none is left, ends: each round takes at least one away.
    let structs = input_structs(program);
    let mut typed_params: BTreeSet<(u32, u32)> = BTreeSet::new();
    for (i, def) in program.decisions.iter().enumerate() {
        for (k, (_, ty)) in def.params.iter().enumerate() {
            if shape_of(&structs, ty).is_some() {
                typed_params.insert((i as u32, k as u32));
            }
        }
    }
    loop {
        let (emitted, untyped) = generate(program, origin, &structs, &typed_params);
        if untyped.is_empty() {
            return Ok(emitted);
        }
        typed_params.retain(|param| !untyped.contains(param));
    }
}

/// The module for `program` with the parameters in `typed_params` taking structs of the
/// inputs; and those of them that some call passes something else.
fn generate(
    program: &Program,
    origin: &str,
    structs: &BTreeSet<u32>,
    typed_params: &BTreeSet<(u32, u32)>,
) -> (Emitted, BTreeSet<(u32, u32)>) {
    let mut typed_inputs = HashMap::new();
    for (k, def) in program.inputs.iter().enumerate() {
        if let Some(shape) = shape_of(structs, &def.ty) {
            typed_inputs.insert(k as u32, shape);
        }
    }
    let mut g = Gen {
        program,
        reasons: Vec::new(),
        reason_numbers: HashMap::new(),
        constants: Vec::new(),
        locals: HashMap::new(),
        stable: HashMap::new(),
        temp: 0,
        unit: Unit::default(),
        one_arg: BTreeSet::new(),
        kept: BTreeSet::new(),
        tables: BTreeSet::new(),
        selections: HashMap::new(),
        selection_code: BTreeMap::new(),
        shared: HashMap::new(),
        positional: positional_calls(program),
        positions: HashMap::new(),
        position_memos: Vec::new(),
        grids: BTreeMap::new(),
        structs: structs.clone(),
        typed_inputs,
        typed_locals: HashMap::new(),
        typed_params: typed_params.clone(),
        untyped: BTreeSet::new(),
    };
    let mut functions = String::new();
    let mut units: HashMap<Root, Unit> = HashMap::new();

    for (i, def) in program.decisions.iter().enumerate() {
        g.start();
        let kind = kind_of(&def.ty);
        for (k, (_, ty)) in def.params.iter().enumerate() {
            g.locals.insert(k as u32, kind_of(ty));
            if kind_of(ty) == KindOf::Val {
                g.stable.insert(k as u32, format!("s{k}"));
            }
            if let Some(shape) = g.param_shape(i as u32, k as u32) {
                g.typed_locals.insert(k as u32, shape);
            }
        }
        // A call repeated on a parameter is computed once, where it is first needed.
        let mut shared_locals = String::new();
        for (n, (callee, param)) in repeated_calls(program, def.body, def.params.len() as u32).into_iter().enumerate() {
            g.shared.insert((callee, param), n);
            let t = program.decisions.get(callee as usize).map_or(KindOf::Val, |d| kind_of(&d.ty)).rust();
            let _ = write!(shared_locals, "let mut m{n}: Option<R<{t}>> = None;\n ");
        }
        let body = if program.nodes.get(def.body.index()).is_some_and(|n| kind_of(&n.ty).fits(kind)) {
            format!("{shared_locals}{}", g.expr_to(def.body, kind))
        } else {
            g.refuse("its body's type differs from the declared one")
        };
        let doc = format!("`{}` ({})", def.qualified, g.span_note(def.span));
        if def.params.is_empty() {
            let _ = write!(
                functions,
                "    /// {doc}, computed once per row.\n    fn d{i}(&mut self) -> R<{t}> {{\n        if let Some(known) = &self.m.d{i} {{\n            return known.clone();\n        }}\n        let value = self.d{i}_body();\n        self.m.d{i} = Some(value.clone());\n        value\n    }}\n\n    fn d{i}_body(&mut self) -> R<{t}> {{\n        {body}\n    }}\n\n",
                t = kind.rust()
            );
        } else {
            let mut params: Vec<String> = def
                .params
                .iter()
                .enumerate()
                .map(|(k, (_, ty))| format!("l{k}: {}", g.param_type(i as u32, k as u32, ty)))
                .collect();
            params.extend(
                def.params
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, ty))| kind_of(ty) == KindOf::Val)
                    .map(|(k, _)| format!("s{k}: bool")),
            );
            let _ = write!(
                functions,
                "    /// {doc}.\n    fn d{i}(&mut self, {}) -> R<{}> {{\n        {body}\n    }}\n\n",
                params.join(", "),
                kind.rust()
            );
        }
        units.insert(Root::Decision(i), g.finish());
    }
    for (i, def) in program.params.iter().enumerate() {
        g.start();
        let kind = g.kind(def.value);
        let body = g.expr(def.value);
        let _ = write!(
            functions,
            "    /// param `{}`, computed once per row.\n    fn p{i}(&mut self) -> R<{t}> {{\n        if let Some(known) = &self.m.p{i} {{\n            return known.clone();\n        }}\n        let value = {body};\n        self.m.p{i} = Some(value.clone());\n        value\n    }}\n\n",
            def.name,
            t = kind.rust()
        );
        units.insert(Root::Param(i), g.finish());
    }
    if let Some(as_of) = program.as_of {
        g.start();
        let body = g.expr(as_of);
        let _ = write!(
            functions,
            "    /// The date that chooses dated versions: `--as-of`, or the rules' `as of`.\n    fn as_of(&mut self) -> R<rt::Date> {{\n        if let Some(date) = self.b.given_as_of {{\n            return Ok(date);\n        }}\n        if let Some(known) = self.m.as_of {{\n            return known;\n        }}\n        let date = rt::date({body});\n        self.m.as_of = Some(date);\n        date\n    }}\n\n"
        );
        units.insert(Root::AsOf, g.finish());
    } else {
        let _ = write!(
            functions,
            "    /// The date that chooses dated versions: only `--as-of`, since the rules declare none.\n    fn as_of(&mut self) -> R<rt::Date> {{\n        self.b.given_as_of.ok_or(Stop::Back)\n    }}\n\n"
        );
    }
    // Tables looked up anywhere, and the one-argument calls, in a stable order.
    let mut done_tables = BTreeSet::new();
    loop {
        let pending: Vec<u32> = g.tables.difference(&done_tables).copied().collect();
        if pending.is_empty() {
            break;
        }
        for t in pending {
            done_tables.insert(t);
            g.start();
            let code = g.table_cells(TableId(t));
            functions.push_str(&code);
            units.insert(Root::Table(t as usize), g.finish());
        }
    }
    for (&t, code) in &g.selection_code {
        let def = &program.tables[t as usize];
        let mut sharing: Vec<&str> = g
            .selections
            .iter()
            .filter(|&(&other, &s)| other != t && s == Some(t))
            .map(|(&other, _)| program.tables[other as usize].qualified.as_str())
            .collect();
        sharing.sort_unstable();
        let also = if sharing.is_empty() {
            String::new()
        } else {
            format!(" Also for `{}`, whose keys and rows are the same.", sharing.join("`, `"))
        };
        let hit = if def.hit == HitPolicy::Unique { "hit unique" } else { "hit first" };
        let _ = write!(
            functions,
            "    /// The row of table `{}` ({hit}) that its keys select, compiled.{also}\n    fn s{t}{code}\n\n",
            def.qualified
        );
    }
    for (&t, code) in &g.grids {
        if let Some(code) = code {
            let _ = write!(
                functions,
                "    /// The cell of table `{}` that its keys select, for every combination of their values (worked out when the module was generated).\n    fn g{t}{code}\n\n",
                program.tables[t as usize].qualified
            );
        }
    }
    for &i in &g.kept {
        let _ = write!(
            functions,
            "    /// `{}`, computed once per row: the value the row keeps, borrowed.\n    fn d{i}_kept(&mut self) -> R<&Value> {{\n        if self.m.d{i}.is_none() {{\n            let value = self.d{i}_body();\n            self.m.d{i} = Some(value);\n        }}\n        match &self.m.d{i} {{\n            Some(kept) => rt::as_ref(kept),\n            None => Err(Stop::Back),\n        }}\n    }}\n\n",
            program.decisions[i as usize].qualified
        );
    }
    let heavy = heaviness(program, &units);
    // The memo's caches of remembered calls.
    let mut calls = String::new();
    for &i in &g.one_arg.clone() {
        let def = &program.decisions[i as usize];
        let (kind, arg) = (kind_of(&def.ty), kind_of(&def.params[0].1));
        let arg_type = g.param_type(i, 0, &def.params[0].1);
        let typed = g.param_shape(i, 0).is_some();
        if !heavy[i as usize] {
            let pass = if arg == KindOf::Val { ", stable" } else { "" };
            let _ = write!(
                functions,
                "    /// `{}` on one argument: cheaper to compute again than to remember.\n    #[inline]\n    fn c{i}(&mut self, l0: {arg_type}, stable: bool) -> R<{t}> {{\n        self.d{i}(l0{pass})\n    }}\n\n",
                def.qualified,
                t = kind.rust()
            );
            continue;
        }
        // Records and lists are kept for the row unless they live as long as it does.
        // A struct of the inputs lives as long as the row: it is known by its address.
        let (identity, keep) = match arg {
            KindOf::Val if typed => ("Some((std::ptr::from_ref(*v) as usize as u64) | 1)", ""),
            KindOf::Val => ("(*v).identity()", "if !stable {\n self.m.kept.push((*v).clone());\n }\n "),
            _ => ("v.identity()", ""),
        };
        let pass = if arg == KindOf::Val { ", stable" } else { "" };
        let _ = writeln!(calls, "    c{i}: rt::Calls<{}>,", kind.rust());
        let _ = write!(
            functions,
            "    /// `{}` on one argument, remembered for the row by the argument's identity.\n    fn c{i}(&mut self, l0: {arg_type}, stable: bool) -> R<{t}> {{\n        let key = match &l0 {{\n            Ok(v) => {identity},\n            Err(_) => None,\n        }};\n        if let Some(k) = key\n            && let Some(known) = self.m.c{i}.recall(k)\n        {{\n            return known;\n        }}\n        let value = self.d{i}(l0{pass});\n        if let (Some(k), Ok(v)) = (key, &l0) {{\n {keep}self.m.c{i}.remember(k, &value);\n        }}\n        value\n    }}\n\n",
            def.qualified,
            t = kind.rust()
        );
    }

    // Calls remembered by position: the first `POSITIONS` elements of the list.
    for (k, (i, _)) in g.position_memos.iter().enumerate() {
        let def = &program.decisions[*i as usize];
        let kind = kind_of(&def.ty);
        let arg_type = g.param_type(*i, 0, &def.params[0].1);
        let _ = writeln!(calls, "    q{k}: [Option<R<{}>>; {POSITIONS}],", kind.rust());
        let _ = write!(
            functions,
            "    /// `{}` on element `at` of a list of the inputs, remembered for the row by its position.\n    #[inline]\n    fn q{k}(&mut self, at: usize, l0: {arg_type}, stable: bool) -> R<{t}> {{\n        if let Some(Some(known)) = self.m.q{k}.get(at) {{\n            return known.clone();\n        }}\n        let value = self.c{i}(l0, stable);\n        if let Some(place) = self.m.q{k}.get_mut(at) {{\n            *place = Some(value.clone());\n        }}\n        value\n    }}\n\n",
            def.qualified,
            t = kind.rust()
        );
    }

    let covered = coverage(program, &units);
    let mut asked = String::new();
    let (mut names, mut not_covered) = (Vec::new(), Vec::new());
    for (i, def) in program.decisions.iter().enumerate() {
        if !def.params.is_empty() {
            continue;
        }
        match &covered[i] {
            Ok(()) => {
                names.push(def.name.clone());
                let _ = writeln!(
                    asked,
                    "            {i} => {{\n                let value = row.d{i}();\n                row.b.output(value)\n            }}"
                );
            }
            Err(why) => not_covered.push((def.name.clone(), why.clone())),
        }
    }

    let mut memo = String::new();
    for (i, def) in program.decisions.iter().enumerate() {
        if def.params.is_empty() {
            let _ = writeln!(memo, "    d{i}: Option<R<{}>>,", kind_of(&def.ty).rust());
        }
    }
    for (i, def) in program.params.iter().enumerate() {
        let kind = program.nodes.get(def.value.index()).map_or(KindOf::Val, |n| kind_of(&n.ty));
        let _ = writeln!(memo, "    p{i}: Option<R<{}>>,", kind.rust());
    }
    // Before the reasons are written out: reading an input left out gives one.
    let inputs_code = g.inputs_code();
    let reasons: Vec<String> = g.reasons.iter().map(|r| format!("{r:?}")).collect();
    let constants: Vec<String> = g.constants.iter().map(u32::to_string).collect();
    let covered_flags: Vec<String> = covered
        .iter()
        .enumerate()
        .map(|(i, c)| (c.is_ok() && program.decisions[i].params.is_empty()).to_string())
        .collect();

    let mut code = String::new();
    let _ = write!(
        code,
        "// @generated by `covenant emit-rust` from {origin}. Do not edit: generate it again.\n\
         //! The rules of {origin}, compiled to Rust by `covenant emit-rust`.\n\
         //!\n\
         //! [`decide`] computes a row's decisions, or hands the row back for the interpreter to\n\
         //! evaluate (see `covenant_eval::native`). It runs only on the program it was generated\n\
         //! from ([`MODULE`]'s fingerprint).\n\n\
         #![allow(clippy::all, clippy::pedantic, unused, deprecated, non_snake_case)]\n\n\
         use covenant_eval::native::{{self as rt, Decimal, Kind as _, R, RoundingStrategy, Stop, Val as Value}};\n\n\
         /// What `rt::Module::check` checks and `rt::Base::new` copies.\n\
         pub static MODULE: rt::Module = rt::Module {{\n    fingerprint: {fingerprint:#018x},\n    reasons: &[{reasons}],\n    constants: &[{constants}],\n}};\n\n\
         /// Per decision: whether [`decide`] computes it (the others are always handed back).\n\
         pub static COVERED: [bool; {n}] = [{flags}];\n\n\
         /// Computes `decisions` (parameterless, [`COVERED`]) for one row of `inputs` and appends\n\
         /// their values to `out`; or, when one of them fails (`base.error()` gives the error)\n\
         /// or needs the interpreter, appends nothing. Reads the row into [`Inputs`] first:\n\
         /// [`decode`] once and [`decide_row`] for rows computed more than once.\n\
         pub fn decide(base: &mut rt::Base<'_>, inputs: &[Value], decisions: &[rt::DecisionId], out: &mut Vec<Value>) -> rt::Decided {{\n\
         \x20   decide_row(base, &decode(inputs), decisions, out)\n\
         }}\n\n\
         /// The module's rules, for hosts generic over modules ([`rt::Rules`]).\n\
         pub struct Rules;\n\n\
         impl rt::Rules for Rules {{\n\
         \x20   type Inputs<'a> = Inputs<'a>;\n\
         \x20   fn decode(inputs: &[Value]) -> Inputs<'_> {{\n\
         \x20       decode(inputs)\n\
         \x20   }}\n\
         \x20   fn decide(base: &mut rt::Base<'_>, row: &Inputs<'_>, decisions: &[rt::DecisionId], out: &mut Vec<Value>) -> rt::Decided {{\n\
         \x20       decide_row(base, row, decisions, out)\n\
         \x20   }}\n\
         }}\n\n\
         {inputs_code}\
         /// [`decide`] on a row already read into [`Inputs`].\n\
         pub fn decide_row(base: &mut rt::Base<'_>, row: &Inputs<'_>, decisions: &[rt::DecisionId], out: &mut Vec<Value>) -> rt::Decided {{\n\
         \x20   let start = out.len();\n\
         \x20   base.begin_row();\n\
         \x20   let mut row = Row {{ b: base, inputs: row.values, t: row, m: Memo::default() }};\n\
         \x20   for id in decisions {{\n\
         \x20       let value = match id.0 {{\n{asked}            _ => Err(Stop::Back),\n        }};\n\
         \x20       match value {{\n\
         \x20           Ok(value) => out.push(value),\n\
         \x20           Err(_) => {{\n\
         \x20               out.truncate(start);\n\
         \x20               return row.b.stopped(*id);\n\
         \x20           }}\n\
         \x20       }}\n\
         \x20   }}\n\
         \x20   rt::Decided::Values\n\
         }}\n\n\
         /// What a row computes once: parameterless decisions, params, the date; and the\n\
         /// calls it remembers, with the arguments it must keep so that no identity is reused.\n\
         #[derive(Default)]\n\
         struct Memo {{\n{memo}    as_of: Option<R<rt::Date>>,\n{calls}    kept: Vec<Value>,\n}}\n\n\
         struct Row<'r, 'b, 'a> {{\n    b: &'r mut rt::Base<'b>,\n    inputs: &'a [Value],\n    t: &'a Inputs<'a>,\n    m: Memo,\n}}\n\n\
         impl<'a> Row<'_, '_, 'a> {{\n{functions}}}\n",
        fingerprint = super::fingerprint(program),
        reasons = reasons.join(", "),
        constants = constants.join(", "),
        n = covered_flags.len(),
        flags = covered_flags.join(", "),
        functions = functions.trim_end_matches('\n').to_string() + "\n",
    );
    (Emitted { code: indent(&code), covered: names, not_covered }, g.untyped)
}

/// Re-indents generated code by its nesting: four spaces a level, lines trimmed (brackets
/// inside string literals and comments are not counted).
fn indent(code: &str) -> String {
    let mut out = String::with_capacity(code.len() + code.len() / 2);
    let mut depth: usize = 0;
    for line in code.lines() {
        let line = line.trim();
        if line.is_empty() {
            out.push('\n');
            continue;
        }
        let (mut opens, mut closes_first, mut leading) = (0usize, 0usize, true);
        let mut closes = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => in_string = true,
                '/' if chars.peek() == Some(&'/') => break,
                '{' | '(' | '[' => opens += 1,
                '}' | ')' | ']' => {
                    if leading && opens == 0 {
                        closes_first += 1;
                    } else if opens > 0 {
                        opens -= 1;
                    } else {
                        closes += 1;
                    }
                }
                _ => {}
            }
            if !matches!(c, '}' | ')' | ']') {
                leading = false;
            }
        }
        depth = depth.saturating_sub(closes_first);
        for _ in 0..depth {
            out.push_str("    ");
        }
        out.push_str(line);
        out.push('\n');
        depth = (depth + opens).saturating_sub(closes);
    }
    out
}

/// What a function of the module is generated for.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Root {
    Decision(usize),
    Param(usize),
    Table(usize),
    AsOf,
}

/// What one generated function refers to, and whether all of it was compiled.
#[derive(Default)]
struct Unit {
    refused: Option<String>,
    refers: Vec<Root>,
    /// Whether it loops over a list or looks a table up through the interpreter's indexes:
    /// worth remembering a call for, where recomputing anything else is cheaper.
    heavy: bool,
}

/// Per decision: whether it, and everything it reaches, is compiled (or the first reason
/// why not).
fn coverage(program: &Program, units: &HashMap<Root, Unit>) -> Vec<Result<(), String>> {
    fn visit(
        units: &HashMap<Root, Unit>,
        state: &mut HashMap<Root, Option<Result<(), String>>>,
        root: Root,
    ) -> Result<(), String> {
        match state.get(&root) {
            Some(Some(known)) => return known.clone(),
            // Being worked out: a cycle through tables or params, which the levels check rules out.
            Some(None) => return Ok(()),
            None => {}
        }
        state.insert(root, None);
        let result = match units.get(&root) {
            None => Err("a part of it is not compiled".to_string()),
            Some(unit) => match &unit.refused {
                Some(why) => Err(why.clone()),
                None => unit.refers.iter().try_for_each(|r| visit(units, state, *r)),
            },
        };
        state.insert(root, Some(result.clone()));
        result
    }
    let mut state = HashMap::new();
    (0..program.decisions.len()).map(|i| visit(units, &mut state, Root::Decision(i))).collect()
}

/// A list or record of the inputs, as the input it is read from and the fields read in
/// turn: every node reading it reads the same value throughout a row.
type InputPath = (u32, Vec<u32>);

/// The input a chain of field reads starts from, and the fields read (`person.ratings`).
fn input_path(program: &Program, mut id: NodeId) -> Option<InputPath> {
    let mut fields = Vec::new();
    for _ in 0..=program.nodes.len() {
        match &program.nodes.get(id.index())?.kind {
            NodeKind::Field { record, index } => {
                fields.push(*index);
                id = *record;
            }
            NodeKind::Input(input) => {
                fields.reverse();
                return Some((input.0, fields));
            }
            _ => return None,
        }
    }
    None
}

/// The calls of a one-parameter decision on the element of a loop over a list of the inputs
/// that two loops or more over the same list make (`points` and `critical_items` both ask
/// for `item_points(r)` of each `r` in `person.ratings`), by callee and list. Such a call is
/// remembered for the row by the element's position: within a row a decision's value
/// depends only on its argument, and the list is the same in every loop.
fn positional_calls(program: &Program) -> BTreeSet<(u32, InputPath)> {
    let mut loops: BTreeMap<(u32, InputPath), usize> = BTreeMap::new();
    for node in &program.nodes {
        let NodeKind::Aggregate { local, list, body, filter, .. } = &node.kind else { continue };
        let Some(path) = input_path(program, *list) else { continue };
        let mut callees = BTreeSet::new();
        let mut stack: Vec<NodeId> = std::iter::once(*body).chain(*filter).collect();
        while let Some(id) = stack.pop() {
            let Some(node) = program.nodes.get(id.index()) else { continue };
            match &node.kind {
                NodeKind::Decision { id: callee, args } if args.len() == 1 => {
                    if matches!(program.nodes.get(args[0].index()).map(|n| &n.kind), Some(NodeKind::Local(l)) if l == local)
                    {
                        callees.insert(callee.0);
                    }
                }
                // Below a binding of the same local, it names something else.
                NodeKind::Let { local: inner, .. } | NodeKind::Aggregate { local: inner, .. } if inner == local => {
                    continue;
                }
                _ => {}
            }
            node.kind.for_each_child(|child| stack.push(child));
        }
        for callee in callees {
            *loops.entry((callee, path.clone())).or_default() += 1;
        }
    }
    loops.into_iter().filter(|&(_, n)| n > 1).map(|(pair, _)| pair).collect()
}

/// The one-argument calls on a parameter (`callee(p)`, by callee and parameter number) that
/// a decision's body makes more than once, in a stable order. None when the body binds a
/// local with a parameter's number, so that `p` always means the parameter.
fn repeated_calls(program: &Program, body: NodeId, params: u32) -> Vec<(u32, u32)> {
    let mut counts: HashMap<(u32, u32), u32> = HashMap::new();
    let mut stack = vec![body];
    while let Some(id) = stack.pop() {
        let Some(node) = program.nodes.get(id.index()) else { continue };
        match &node.kind {
            NodeKind::Decision { id: callee, args } if args.len() == 1 => {
                if let Some(NodeKind::Local(local)) = program.nodes.get(args[0].index()).map(|n| &n.kind)
                    && local.0 < params
                {
                    *counts.entry((callee.0, local.0)).or_default() += 1;
                }
            }
            NodeKind::Let { local, .. } | NodeKind::Aggregate { local, .. } if local.0 < params => return Vec::new(),
            _ => {}
        }
        node.kind.for_each_child(|child| stack.push(child));
    }
    let mut repeated: Vec<(u32, u32)> = counts.into_iter().filter(|&(_, n)| n > 1).map(|(pair, _)| pair).collect();
    repeated.sort_unstable();
    repeated
}

/// Per decision: whether calling it does heavy work ([`Unit::heavy`]), itself or through
/// the decisions with parameters and tables it reaches. Params and parameterless
/// decisions are computed once per row, so reaching them again costs nothing.
fn heaviness(program: &Program, units: &HashMap<Root, Unit>) -> Vec<bool> {
    fn visit(program: &Program, units: &HashMap<Root, Unit>, state: &mut HashMap<Root, bool>, root: Root) -> bool {
        if let Some(&known) = state.get(&root) {
            return known;
        }
        // Provisionally light: a cycle is ruled out by the levels check.
        state.insert(root, false);
        let heavy = units.get(&root).is_some_and(|unit| {
            unit.heavy
                || unit.refers.iter().any(|&r| match r {
                    Root::Decision(d) if program.decisions.get(d).is_some_and(|def| !def.params.is_empty()) => {
                        visit(program, units, state, r)
                    }
                    Root::Table(_) => visit(program, units, state, r),
                    _ => false,
                })
        });
        state.insert(root, heavy);
        heavy
    }
    let mut state = HashMap::new();
    (0..program.decisions.len()).map(|i| visit(program, units, &mut state, Root::Decision(i))).collect()
}

/// How a record, or a list of records, of the inputs is held in the module's structs: by
/// the record type's number (`In{n}`, or `rt::List` of them).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    Record(u32),
    List(u32),
}

/// Where a node's value is: code of type `R<&Value>`; of type `R<&S>` for a struct of the
/// inputs (`S` by its shape); or, for a number, variant or truth value held in such a
/// struct, code of type `R<T>` reading it.
enum Place {
    Value(String),
    Typed(String, Shape),
    Read(String),
}

/// The record types the module reads the inputs into structs of: those of the inputs, and
/// of their fields and list elements in turn. A record that holds itself through its
/// fields (not through a list) is left as a value, as is everything holding it.
fn input_structs(program: &Program) -> BTreeSet<u32> {
    fn record_in(ty: &Ty) -> Option<u32> {
        match ty {
            Ty::Record(r) => Some(r.0),
            Ty::List(element) => match &**element {
                Ty::Record(r) => Some(r.0),
                _ => None,
            },
            _ => None,
        }
    }
    // Whether a record holds itself inline: a struct of it would have no size.
    fn holds_itself(program: &Program, start: u32) -> bool {
        let mut seen = BTreeSet::new();
        let mut pending = vec![start];
        while let Some(r) = pending.pop() {
            let Some(def) = program.records.get(r as usize) else { return true };
            for field in &def.fields {
                if let Ty::Record(inner) = &field.ty {
                    if inner.0 == start {
                        return true;
                    }
                    if seen.insert(inner.0) {
                        pending.push(inner.0);
                    }
                }
            }
        }
        false
    }
    let mut structs = BTreeSet::new();
    let mut pending: Vec<u32> = program.inputs.iter().filter_map(|input| record_in(&input.ty)).collect();
    while let Some(r) = pending.pop() {
        if structs.contains(&r) || holds_itself(program, r) {
            continue;
        }
        structs.insert(r);
        if let Some(def) = program.records.get(r as usize) {
            pending.extend(def.fields.iter().filter_map(|field| record_in(&field.ty)));
        }
    }
    // A record holding (inline) one left as a value is a value too.
    loop {
        let leave: Vec<u32> = structs
            .iter()
            .copied()
            .filter(|&r| {
                program.records.get(r as usize).is_none_or(|def| {
                    def.fields.iter().any(|f| matches!(&f.ty, Ty::Record(inner) if !structs.contains(&inner.0)))
                })
            })
            .collect();
        if leave.is_empty() {
            return structs;
        }
        for r in leave {
            structs.remove(&r);
        }
    }
}

/// How a value of type `ty` is held in the module's structs, if it is.
fn shape_of(structs: &BTreeSet<u32>, ty: &Ty) -> Option<Shape> {
    match ty {
        Ty::Record(r) if structs.contains(&r.0) => Some(Shape::Record(r.0)),
        Ty::List(element) => match &**element {
            Ty::Record(r) if structs.contains(&r.0) => Some(Shape::List(r.0)),
            _ => None,
        },
        _ => None,
    }
}

/// Code reading the value in `place` (of type `R<&Value>`) into a struct of this shape.
fn decode_code(shape: Shape, place: &str) -> String {
    match shape {
        Shape::Record(r) => format!("decode_in{r}({place})"),
        Shape::List(r) => format!("rt::decode_list({place}, decode_in{r})"),
    }
}

/// The Rust type of a struct of the inputs of this shape.
fn shape_type(shape: Shape) -> String {
    match shape {
        Shape::Record(r) => format!("In{r}<'a>"),
        Shape::List(r) => format!("rt::List<'a, In{r}<'a>>"),
    }
}

/// The kind of value a type compiles to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KindOf {
    Bool,
    Num,
    /// A whole number (`Int`), as a machine integer: every `Int` the interpreter computes
    /// from whole numbers is one, with no decimal places; one that is not, or that does not
    /// fit, hands the row back where it is read.
    Int,
    Enum,
    Val,
}

impl KindOf {
    fn rust(self) -> &'static str {
        match self {
            KindOf::Bool => "bool",
            KindOf::Num => "Decimal",
            KindOf::Int => "i64",
            KindOf::Enum => "u32",
            KindOf::Val => "Value",
        }
    }

    /// The type of a local of this kind: values of other types are held by reference.
    fn local(self) -> &'static str {
        match self {
            KindOf::Bool => "R<bool>",
            KindOf::Num => "R<Decimal>",
            KindOf::Int => "R<i64>",
            KindOf::Enum => "R<u32>",
            KindOf::Val => "R<&Value>",
        }
    }

    /// Whether a value of this kind may stand where one of kind `wanted` is wanted: its own
    /// kind, or a whole number where any number is (made one by [`Gen::expr_to`]).
    fn fits(self, wanted: KindOf) -> bool {
        self == wanted || (self, wanted) == (KindOf::Int, KindOf::Num)
    }
}

fn kind_of(ty: &Ty) -> KindOf {
    match ty {
        Ty::Bool => KindOf::Bool,
        Ty::Num(n) if *n == NumTy::INT => KindOf::Int,
        Ty::Num(_) => KindOf::Num,
        Ty::Enum(_) => KindOf::Enum,
        _ => KindOf::Val,
    }
}

struct Gen<'p> {
    program: &'p Program,
    reasons: Vec<String>,
    reason_numbers: HashMap<String, u32>,
    /// Nodes whose constant values the module reads at run time, by number.
    constants: Vec<u32>,
    /// The kinds of the locals bound where code is being generated.
    locals: HashMap<u32, KindOf>,
    /// Of those holding records or lists: whether they hold a part of the inputs, which
    /// lives as long as the row, as a Rust expression (`true`, `false`, or a parameter's
    /// flag `s0` passed by the caller).
    stable: HashMap<u32, String>,
    temp: u32,
    unit: Unit,
    /// Decisions called with one argument somewhere (each gets a remembering wrapper).
    one_arg: BTreeSet<u32>,
    /// Parameterless decisions whose value some code borrows where the row keeps it.
    kept: BTreeSet<u32>,
    tables: BTreeSet<u32>,
    /// Per table looked up: the table whose generated selection function (`s{n}`) it calls,
    /// itself or an earlier one with the same keys and rows (a dated table's versions, often);
    /// `None` when the lookup goes through the interpreter's indexes.
    selections: HashMap<u32, Option<u32>>,
    /// The selection functions generated: the table that names each, and its code.
    selection_code: BTreeMap<u32, String>,
    /// In the decision being generated: calls on one of its parameters that its body makes
    /// more than once, by (callee, parameter), with the number of the local holding the
    /// first result (`m{n}`).
    shared: HashMap<(u32, u32), usize>,
    /// Calls remembered by the position of their argument in a list of the inputs
    /// ([`positional_calls`]), by callee and list.
    positional: BTreeSet<(u32, InputPath)>,
    /// The loop elements in scope that are elements of a list of the inputs: the list, and
    /// the Rust variable holding the element's position.
    positions: HashMap<u32, (InputPath, String)>,
    /// The memos of calls remembered by position (`q{k}`): callee and list.
    position_memos: Vec<(u32, InputPath)>,
    /// Per table looked up through a selection function: the code of its grid of cells
    /// (`g{t}`), when it has one ([`Gen::cell_grid`]).
    grids: BTreeMap<u32, Option<String>>,
    /// The record types held in structs of the inputs ([`input_structs`]).
    structs: BTreeSet<u32>,
    /// The inputs held in structs, by number.
    typed_inputs: HashMap<u32, Shape>,
    /// The locals in scope holding a struct of the inputs.
    typed_locals: HashMap<u32, Shape>,
    /// The parameters, by decision and number, that take a struct of the inputs.
    typed_params: BTreeSet<(u32, u32)>,
    /// Of those: the ones some call passes something else.
    untyped: BTreeSet<(u32, u32)>,
}

impl Gen<'_> {
    fn start(&mut self) {
        self.locals.clear();
        self.typed_locals.clear();
        self.stable.clear();
        self.shared.clear();
        self.positions.clear();
        self.unit = Unit::default();
    }

    fn finish(&mut self) -> Unit {
        std::mem::take(&mut self.unit)
    }

    /// How parameter `k` of decision `i` holds its argument, when it takes a struct.
    fn param_shape(&self, i: u32, k: u32) -> Option<Shape> {
        if !self.typed_params.contains(&(i, k)) {
            return None;
        }
        let ty = &self.program.decisions.get(i as usize)?.params.get(k as usize)?.1;
        shape_of(&self.structs, ty)
    }

    /// The Rust type of parameter `k` of decision `i`, of type `ty`.
    fn param_type(&self, i: u32, k: u32, ty: &Ty) -> String {
        match self.param_shape(i, k) {
            Some(shape) => format!("R<&'a {}>", shape_type(shape)),
            None => kind_of(ty).local().to_string(),
        }
    }

    /// The structs of the inputs, [`Inputs`] and `decode`.
    fn inputs_code(&mut self) -> String {
        let program = self.program;
        let mut code = String::new();
        for &r in &self.structs {
            let Some(def) = program.records.get(r as usize) else { continue };
            let (mut fields, mut reads) = (String::new(), String::new());
            for (k, field) in def.fields.iter().enumerate() {
                let place = format!("rt::place_at(fields, {k})");
                let (ty, read) = match (shape_of(&self.structs, &field.ty), kind_of(&field.ty)) {
                    (Some(shape), _) => (format!("R<{}>", shape_type(shape)), decode_code(shape, &place)),
                    (None, KindOf::Val) => ("R<&'a Value>".to_string(), place),
                    (None, kind) => (format!("R<{}>", kind.rust()), format!("rt::read::<{}>({place})", kind.rust())),
                };
                let _ = write!(
                    fields,
                    "    /// `{}`: {}.\n    pub f{k}: {ty},\n",
                    field.name,
                    program.type_name(&field.ty)
                );
                let _ = writeln!(reads, " f{k}: {read},");
            }
            let _ = write!(
                code,
                "/// A `{name}` of the inputs, its fields read.\npub struct In{r}<'a> {{\n    /// The record as the interpreter holds it.\n    pub value: &'a Value,\n{fields}}}\n\n\
                 impl<'a> rt::Record<'a> for In{r}<'a> {{\n    fn value(&self) -> &'a Value {{\n        self.value\n    }}\n}}\n\n\
                 /// Reads a `{name}` (a value of another type is the interpreter's to report).\n\
                 fn decode_in{r}(place: R<&Value>) -> R<In{r}<'_>> {{\n    match place? {{\n        value @ Value::Record(fields) => Ok(In{r} {{\n value,\n{reads} }}),\n        _ => Err(Stop::Back),\n    }}\n}}\n\n",
                name = def.name
            );
        }
        let (mut fields, mut reads) = (String::new(), String::new());
        let mut typed: Vec<(u32, Shape)> = self.typed_inputs.iter().map(|(&k, &shape)| (k, shape)).collect();
        typed.sort_by_key(|&(k, _)| k);
        for (k, shape) in typed {
            let Some(def) = program.inputs.get(k as usize) else { continue };
            let not_given = self.reason("not given");
            let place = format!("rt::input(values, {k}, {}, {not_given})", def.optional);
            let read = decode_code(shape, &place);
            let _ = write!(fields, "    /// Input `{}`.\n    pub i{k}: R<{}>,\n", def.name, shape_type(shape));
            let _ = writeln!(reads, " i{k}: {read},");
        }
        let _ = write!(
            code,
            "/// A row's inputs, its records and lists of records read into structs, so that\n\
             /// reading a field follows no pointer and checks no kind.\n\
             pub struct Inputs<'a> {{\n    /// The inputs as the interpreter holds them.\n    pub values: &'a [Value],\n{fields}}}\n\n\
             /// Reads a row's inputs into [`Inputs`].\n\
             pub fn decode(values: &[Value]) -> Inputs<'_> {{\n    Inputs {{\n values,\n{reads} }}\n}}\n\n"
        );
        code
    }

    /// Where a node's value is held, for an input, a local or a field read through them.
    fn place_of(&mut self, id: NodeId) -> Option<Place> {
        let program = self.program;
        match &program.nodes.get(id.index())?.kind {
            NodeKind::Input(input) => {
                if let Some(&shape) = self.typed_inputs.get(&input.0) {
                    return Some(Place::Typed(format!("rt::as_ref(&self.t.i{})", input.0), shape));
                }
                let def = program.inputs.get(input.index())?;
                let not_given = self.reason("not given");
                Some(Place::Value(format!("rt::input(self.inputs, {}, {}, {not_given})", input.index(), def.optional)))
            }
            NodeKind::Local(local) => match self.locals.get(&local.0)? {
                KindOf::Val => Some(match self.typed_locals.get(&local.0) {
                    Some(&shape) => Place::Typed(format!("l{}", local.0), shape),
                    None => Place::Value(format!("l{}", local.0)),
                }),
                // A local of another kind is not a place; reading it is done in `expr`.
                _ => None,
            },
            NodeKind::Field { record, index } => match self.place_of(*record)? {
                Place::Value(record) => Some(Place::Value(format!("rt::field({record}, {index})"))),
                Place::Typed(record, Shape::Record(r)) => {
                    let ty = &program.records.get(r as usize)?.fields.get(*index as usize)?.ty;
                    Some(match (shape_of(&self.structs, ty), kind_of(ty)) {
                        (Some(shape), _) => {
                            Place::Typed(format!("rt::tf({record}, |s| rt::as_ref(&s.f{index}))"), shape)
                        }
                        (None, KindOf::Val) => Place::Value(format!("rt::tf({record}, |s| s.f{index})")),
                        (None, _) => Place::Read(format!("rt::tf({record}, |s| s.f{index})")),
                    })
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Code that hands the row back, for something not compiled.
    fn refuse(&mut self, why: &str) -> String {
        if self.unit.refused.is_none() {
            self.unit.refused = Some(why.to_string());
        }
        REFUSED.to_string()
    }

    fn span_note(&self, span: covenant_source::Span) -> String {
        let file = self.program.files.get(span.file.0 as usize).map_or("?", String::as_str);
        format!("{file}, bytes {}..{}", span.start, span.end)
    }

    fn fresh(&mut self) -> u32 {
        self.temp += 1;
        self.temp
    }

    /// The number of a reason of "no value", given once for each text.
    fn reason(&mut self, text: &str) -> u32 {
        if let Some(&known) = self.reason_numbers.get(text) {
            return known;
        }
        let number = self.reasons.len() as u32;
        self.reasons.push(text.to_string());
        self.reason_numbers.insert(text.to_string(), number);
        number
    }

    fn kind(&self, id: NodeId) -> KindOf {
        self.program.nodes.get(id.index()).map_or(KindOf::Val, |n| kind_of(&n.ty))
    }

    /// Code of type `R<T>` for a node, `T` its kind's type.
    /// A node as a Rust expression of type `R<T>`, `T` its kind's type.
    fn expr(&mut self, id: NodeId) -> String {
        let code = self.expr_code(id);
        // A node the generator refuses hands the row back; its type is written out, so that
        // the code around it compiles whatever it does with the value (`a + b` where both
        // are refused, say).
        match self.program.nodes.get(id.index()) {
            Some(node) if code == REFUSED => format!("Err::<{}, Stop>(Stop::Back)", kind_of(&node.ty).rust()),
            _ => code,
        }
    }

    /// A node as an expression of kind `want`: a whole number where any number is wanted
    /// becomes a `Decimal`, as the interpreter holds it.
    fn expr_to(&mut self, id: NodeId, want: KindOf) -> String {
        let code = self.expr(id);
        if self.kind(id) == KindOf::Int && want == KindOf::Num { format!("rt::widen({code})") } else { code }
    }

    fn expr_code(&mut self, id: NodeId) -> String {
        let program = self.program;
        let Some(node) = program.nodes.get(id.index()) else { return self.refuse("a node is missing") };
        let kind = kind_of(&node.ty);
        match &node.kind {
            NodeKind::Const(value) => self.constant(id, value, kind),
            NodeKind::Local(local) if self.locals.get(&local.0).is_some_and(|k| *k != KindOf::Val) => {
                if self.locals.get(&local.0) != Some(&kind) {
                    return self.refuse("a local read as another type than it was bound with");
                }
                format!("l{}", local.0)
            }
            NodeKind::Input(_) | NodeKind::Local(_) | NodeKind::Field { .. } => match self.place_of(id) {
                Some(Place::Read(code)) => code,
                Some(Place::Value(place)) => format!("rt::read::<{}>({place})", kind.rust()),
                Some(Place::Typed(place, _)) => format!("rt::read::<{}>(rt::tvalue({place}))", kind.rust()),
                None => match &node.kind {
                    NodeKind::Field { record, index } => {
                        // A field of a record the row remembers is read where it is kept.
                        if kind != KindOf::Val
                            && let Some(place) = self.remembered(*record)
                        {
                            return format!("rt::read::<{}>(rt::field({place}, {index}))", kind.rust());
                        }
                        let record = self.expr(*record);
                        let o = self.fresh();
                        format!(
                            "{{\n let o{o} = rt::strict({record})?;\n rt::read::<{}>(rt::field(Ok(&o{o}), {index}))\n }}",
                            kind.rust()
                        )
                    }
                    _ => self.refuse("a local is read before it is bound"),
                },
            },
            NodeKind::Param(p) => {
                self.unit.refers.push(Root::Param(p.index()));
                if program.params.get(p.index()).is_none() {
                    return self.refuse("a param is missing");
                }
                format!("self.p{}()", p.index())
            }
            NodeKind::Decision { id: callee, args } => self.call(*callee, args),
            NodeKind::Table { id: table, args } => self.table(*table, args),
            NodeKind::Unary(op, x) => match (op, kind) {
                (UnOp::Not, KindOf::Bool) => format!("Ok(!rt::strict({})?)", self.expr(*x)),
                (UnOp::Neg, KindOf::Num) => {
                    format!("Decimal::ZERO.checked_sub(rt::strict({})?).ok_or(Stop::Back)", self.expr_to(*x, kind))
                }
                (UnOp::Neg, KindOf::Int) if self.kind(*x) == KindOf::Int => {
                    format!("0i64.checked_sub(rt::strict({})?).ok_or(Stop::Back)", self.expr(*x))
                }
                (UnOp::Neg, KindOf::Val) => format!("rt::negate(rt::strict({})?)", self.expr(*x)),
                _ => self.refuse("a unary operator on an unexpected type"),
            },
            NodeKind::Binary(op, l, r) => self.binary(id, *op, *l, *r, kind),
            NodeKind::If { cond, then, els } => {
                let (c, t, e) = (self.expr(*cond), self.expr_to(*then, kind), self.expr_to(*els, kind));
                format!("if rt::strict({c})? {{\n {t}\n }} else {{\n {e}\n }}")
            }
            NodeKind::Match { scrutinee, arms } => self.match_node(id, *scrutinee, arms, kind),
            NodeKind::Let { local, value, body } => {
                let typed = if self.kind(*value) == KindOf::Val { self.typed_place(*value) } else { None };
                let bind = match &typed {
                    Some((place, _)) => format!("let l{} = rt::slot({place})?;", local.0),
                    None => self.bind(*local, *value),
                };
                let saved = self.locals.insert(local.0, self.kind(*value));
                let stable = self.stable(*value);
                let was_stable = self.stable.insert(local.0, stable);
                let was_position = self.positions.remove(&local.0);
                let was_typed = self.bind_typed(*local, typed.map(|(_, shape)| shape));
                let body = self.expr(*body);
                self.bind_typed(*local, was_typed);
                self.restore_position(*local, was_position);
                self.restore_stable(*local, was_stable);
                self.restore(*local, saved);
                format!("{{\n {bind}\n {body}\n }}")
            }
            NodeKind::Record(_) | NodeKind::List(_) if super::constant_value(program, id.0).is_some() => {
                // Built once per worker, as the module's constant.
                let k = self.constants.len();
                self.constants.push(id.0);
                format!("self.b.constant({k})")
            }
            NodeKind::Record(items) | NodeKind::List(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|&item| format!("{{\n let item = rt::slot({})?;\n self.b.output(item)?\n }}", self.expr(item)))
                    .collect();
                let which = if matches!(node.kind, NodeKind::Record(_)) { "Record" } else { "List" };
                format!("Ok(Value::{which}(vec![{}].into()))", items.join(", "))
            }
            NodeKind::Aggregate { op, local, list, body, filter } => {
                self.aggregate(*op, (*local, *list, *body, *filter), &node.ty)
            }
            NodeKind::Round { value, places, mode } => {
                match (self.kind(*value), kind) {
                    // A whole number rounded to a whole number of places is itself.
                    (KindOf::Int, KindOf::Int) => return self.expr(*value),
                    (KindOf::Int | KindOf::Num, KindOf::Num) => {}
                    _ => return self.refuse("rounding something that is not a number"),
                }
                format!(
                    "Ok(rt::round(rt::strict({})?, {places}, RoundingStrategy::{:?}))",
                    self.expr_to(*value, KindOf::Num),
                    mode.strategy()
                )
            }
            NodeKind::Builtin { args, .. } => {
                let values: Vec<String> =
                    args.iter().map(|&a| format!("rt::strict({})?.into_value()", self.expr(a))).collect();
                let zero = self.reason("the denominator of the ratio is zero");
                format!(
                    "{{\n let values = [{}];\n rt::convert::<{}>(self.b.builtin({}, &values, {zero}))\n }}",
                    values.join(", "),
                    kind.rust(),
                    id.0
                )
            }
            NodeKind::InSet { value, variants } => {
                if self.kind(*value) != KindOf::Enum {
                    return self.refuse("`in` on something that is not an enum");
                }
                let x = self.expr(*value);
                if variants.is_empty() {
                    format!("{{\n rt::strict({x})?;\n Ok(false)\n }}")
                } else {
                    let set: Vec<String> = variants.iter().map(u32::to_string).collect();
                    format!("Ok(matches!(rt::strict({x})?, {}))", set.join(" | "))
                }
            }
            NodeKind::IsNone(x) => {
                if let Some((place, _)) = self.typed_place(*x) {
                    return format!("Ok(rt::slot({place})?.is_err())");
                }
                let x = self.remembered(*x).unwrap_or_else(|| self.expr(*x));
                format!("Ok(rt::slot({x})?.is_err())")
            }
            NodeKind::Otherwise(primary, fallback) => {
                let (p, f) = (self.expr_to(*primary, kind), self.expr_to(*fallback, kind));
                format!("match {p} {{\n Err(Stop::Absent(_)) => {f},\n other => other,\n }}")
            }
            NodeKind::Rules { rules, default } => self.rules(rules, *default, kind),
            NodeKind::Versioned { versions, .. } => {
                if program.as_of.is_some() {
                    self.unit.refers.push(Root::AsOf);
                }
                let arms: Vec<String> = versions
                    .iter()
                    .enumerate()
                    .map(|(k, v)| format!("{k} => {},", self.expr_to(v.node, kind)))
                    .collect();
                // The first version valid on the date, as the interpreter chooses it: by the
                // date's day number against the versions' first and last days, with the
                // interpreter's own test.
                let mut choose = String::new();
                for (k, v) in versions.iter().enumerate() {
                    let _ = write!(choose, "if rt::day_within(day, {:?}) {{ {k} }} else ", v.valid.days());
                }
                format!(
                    "{{\n let date = rt::strict(self.as_of())?;\n let day = date.day_number();\n match {choose}{{ self.b.no_version({}, date)? }} {{\n {}\n _ => Err(Stop::Back),\n }}\n }}",
                    id.0,
                    arms.join("\n")
                )
            }
            NodeKind::Split { .. } => self.refuse("it uses a split, which only the interpreter computes"),
            NodeKind::Payment(_) | NodeKind::PaymentPart { .. } => {
                self.refuse("it uses a payment, which only the interpreter computes")
            }
            NodeKind::ContractDate(_) => self.refuse("it uses a contract date, which only the interpreter computes"),
        }
    }

    fn restore_stable(&mut self, local: LocalId, saved: Option<String>) {
        match saved {
            Some(stable) => self.stable.insert(local.0, stable),
            None => self.stable.remove(&local.0),
        };
    }

    fn restore_position(&mut self, local: LocalId, saved: Option<(InputPath, String)>) {
        match saved {
            Some(position) => self.positions.insert(local.0, position),
            None => self.positions.remove(&local.0),
        };
    }

    fn restore(&mut self, local: LocalId, saved: Option<KindOf>) {
        match saved {
            Some(kind) => self.locals.insert(local.0, kind),
            None => self.locals.remove(&local.0),
        };
    }

    /// Records whether a local holds a struct of the inputs (and its shape), giving back
    /// what it held before.
    fn bind_typed(&mut self, local: LocalId, shape: Option<Shape>) -> Option<Shape> {
        match shape {
            Some(shape) => self.typed_locals.insert(local.0, shape),
            None => self.typed_locals.remove(&local.0),
        }
    }

    /// Code of type `R<&Value>` for an input, a local or a field read through them, held in
    /// place (a struct of the inputs by its value); `None` for anything else.
    fn place(&mut self, id: NodeId) -> Option<String> {
        match self.place_of(id)? {
            Place::Value(code) => Some(code),
            Place::Typed(code, _) => Some(format!("rt::tvalue({code})")),
            Place::Read(_) => None,
        }
    }

    /// A struct of the inputs holding a node's value, as a place, and its shape.
    fn typed_place(&mut self, id: NodeId) -> Option<(String, Shape)> {
        match self.place_of(id)? {
            Place::Typed(code, shape) => Some((code, shape)),
            _ => None,
        }
    }

    /// Whether a node is a place holding a part of the inputs (which lives as long as the
    /// row), as a Rust expression.
    fn stable(&self, id: NodeId) -> String {
        match self.program.nodes.get(id.index()).map(|n| &n.kind) {
            Some(NodeKind::Input(_)) => "true".to_string(),
            Some(NodeKind::Local(local)) if self.locals.get(&local.0) == Some(&KindOf::Val) => {
                self.stable.get(&local.0).cloned().unwrap_or_else(|| "false".to_string())
            }
            Some(NodeKind::Field { record, .. }) => self.stable(*record),
            _ => "false".to_string(),
        }
    }

    /// For a call of a parameterless decision whose value is a record, list or other value:
    /// code of type `R<&Value>` borrowing the value the row keeps, instead of a copy. Only
    /// for a use that ends before anything else is computed (a field read as a number, enum
    /// or truth value; `is none`).
    fn remembered(&mut self, id: NodeId) -> Option<String> {
        let program = self.program;
        let callee = program.parameterless_call(id)?;
        if self.kind(id) != KindOf::Val
            || program.decisions.get(callee.index()).map(|d| kind_of(&d.ty)) != Some(KindOf::Val)
        {
            return None;
        }
        self.unit.refers.push(Root::Decision(callee.index()));
        self.kept.insert(callee.0);
        Some(format!("self.d{}_kept()", callee.index()))
    }

    /// Binds a local to a node's value (which may have none) in a `let` statement.
    fn bind(&mut self, local: LocalId, value: NodeId) -> String {
        match self.kind(value) {
            KindOf::Val => match self.place(value) {
                Some(place) => format!("let l{} = rt::slot({place})?;", local.0),
                None => {
                    let o = self.fresh();
                    format!("let o{o} = rt::slot({})?;\n let l{} = rt::as_ref(&o{o});", self.expr(value), local.0)
                }
            },
            _ => format!("let l{} = rt::slot({})?;", local.0, self.expr(value)),
        }
    }

    fn constant(&mut self, id: NodeId, value: &Value, kind: KindOf) -> String {
        if let Some(code) = self.scalar_constant(value, kind) {
            return code;
        }
        if kind != KindOf::Val {
            return self.refuse("a constant of another type than its node's");
        }
        let k = self.constants.len();
        self.constants.push(id.0);
        format!("self.b.constant({k})")
    }

    /// A constant truth value, number, variant or "no value" of `kind`, as an expression a
    /// `const` can hold (`None` for any other value).
    fn scalar_constant(&mut self, value: &Value, kind: KindOf) -> Option<String> {
        Some(match (value, kind) {
            (Value::None(reason), _) => format!("Err(Stop::Absent({}))", self.reason(reason)),
            (Value::Bool(b), KindOf::Bool) => format!("Ok({b})"),
            (Value::Num(n), KindOf::Num) => format!("Ok({})", decimal(*n)),
            (Value::Num(n), KindOf::Int) if n.scale() == 0 => format!("Ok({}i64)", i64::try_from(n.mantissa()).ok()?),
            (Value::Enum(i), KindOf::Enum) => format!("Ok({i}u32)"),
            _ => return None,
        })
    }

    fn call(&mut self, callee: DecisionId, args: &[NodeId]) -> String {
        let program = self.program;
        let Some(def) = program.decisions.get(callee.index()) else { return self.refuse("a decision is missing") };
        if def.params.len() != args.len() {
            return self.refuse("a call with the wrong number of arguments");
        }
        self.unit.refers.push(Root::Decision(callee.index()));
        let i = callee.index();
        if args.is_empty() {
            return format!("self.d{i}()");
        }
        let mut lets = String::new();
        let mut names = Vec::new();
        let mut flags = Vec::new();
        for &arg in args {
            if self.kind(arg) == KindOf::Val {
                flags.push(if self.place(arg).is_some() { self.stable(arg) } else { "false".to_string() });
            }
        }
        for (k, &arg) in args.iter().enumerate() {
            let want = kind_of(&def.params[k].1);
            if !self.kind(arg).fits(want) {
                return self.refuse("an argument of another type than its parameter's");
            }
            let a = self.fresh();
            if let Some(shape) = self.param_shape(callee.0, k as u32) {
                match self.typed_place(arg) {
                    Some((place, held)) if held == shape => {
                        let _ = write!(lets, "let a{a} = rt::slot({place})?;\n ");
                    }
                    // Generated again with the parameter taking a value.
                    _ => {
                        self.untyped.insert((callee.0, k as u32));
                    }
                }
                names.push(format!("a{a}"));
                continue;
            }
            match self.kind(arg) {
                KindOf::Val => match self.place(arg) {
                    Some(place) => {
                        let _ = write!(lets, "let a{a} = rt::slot({place})?;\n ");
                    }
                    None => {
                        let _ = write!(
                            lets,
                            "let o{a} = rt::slot({})?;\n let a{a} = rt::as_ref(&o{a});\n ",
                            self.expr(arg)
                        );
                    }
                },
                _ => {
                    let _ = write!(lets, "let a{a} = rt::slot({})?;\n ", self.expr_to(arg, want));
                }
            }
            names.push(format!("a{a}"));
        }
        if args.len() == 1 {
            self.one_arg.insert(callee.0);
            let stable = flags.first().cloned().unwrap_or_else(|| "true".to_string());
            if let Some((k, at)) = self.position_of(callee, args[0]) {
                return format!("{{\n {lets}self.q{k}({at}, {}, {stable})\n }}", names.join(", "));
            }
            let computed = format!("{{\n {lets}self.c{i}({}, {stable})\n }}", names.join(", "));
            let shared = match program.nodes.get(args[0].index()).map(|n| &n.kind) {
                Some(NodeKind::Local(local)) => self.shared.get(&(callee.0, local.0)).copied(),
                _ => None,
            };
            return match shared {
                Some(m) => format!(
                    "match m{m}.clone() {{\n Some(known) => known,\n None => {{\n let value = {computed};\n m{m} = Some(value.clone());\n value\n }}\n }}"
                ),
                None => computed,
            };
        }
        names.extend(flags);
        format!("{{\n {lets}self.d{i}({})\n }}", names.join(", "))
    }

    /// For a call remembered by its argument's position ([`positional_calls`]): the number of
    /// its memo, and the Rust variable holding the position.
    fn position_of(&mut self, callee: DecisionId, arg: NodeId) -> Option<(usize, String)> {
        let Some(NodeKind::Local(local)) = self.program.nodes.get(arg.index()).map(|n| &n.kind) else { return None };
        let (path, at) = self.positions.get(&local.0)?;
        let pair = (callee.0, path.clone());
        if !self.positional.contains(&pair) {
            return None;
        }
        let at = at.clone();
        let k = match self.position_memos.iter().position(|memo| *memo == pair) {
            Some(k) => k,
            None => {
                self.position_memos.push(pair);
                self.position_memos.len() - 1
            }
        };
        Some((k, at))
    }

    fn table(&mut self, table: TableId, args: &[NodeId]) -> String {
        let Some(def) = self.program.tables.get(table.index()) else { return self.refuse("a table is missing") };
        if def.columns.len() != args.len() || def.rows.iter().any(|r| r.keys.len() != args.len()) {
            return self.refuse("a lookup with the wrong number of keys");
        }
        self.tables.insert(table.0);
        self.unit.refers.push(Root::Table(table.index()));
        let unmatched = self.reason(&format!("no row of table {} matched", def.name));
        if let Some(select) = self.selection_of(table) {
            let keys: Vec<String> =
                args.iter().map(|&a| format!("rt::strict({})?", self.expr_to(a, KindOf::Num))).collect();
            if self.cell_grid(table, select, unmatched) {
                return format!("{{\n let keys = ({},);\n self.g{}(keys)\n }}", keys.join(", "), table.0);
            }
            return format!(
                "{{\n let keys = ({},);\n match self.s{select}(keys)? {{\n None => Err(Stop::Absent({unmatched})),\n Some(row) => self.t{}(row),\n }}\n }}",
                keys.join(", "),
                table.0
            );
        }
        self.unit.heavy = true;
        let keys: Vec<String> = args.iter().map(|&a| format!("rt::strict({})?.into_value()", self.expr(a))).collect();
        format!(
            "{{\n let keys = [{}];\n match self.b.select({}, &keys)? {{\n None => Err(Stop::Absent({unmatched})),\n Some(row) => self.t{}(row),\n }}\n }}",
            keys.join(", "),
            table.0,
            table.0
        )
    }

    /// Whether a lookup in `table` goes through a grid (`g{t}`): every key column an enum or
    /// a truth value, at most [`MAX_GRID`] combinations of their values, each entry worked
    /// out by `ops::select_among` (the interpreter's own selection) when the module is
    /// generated. When every cell selected is a constant number, variant or truth value, or
    /// no value, the grid holds what the lookup gives, so a lookup is an index instead of a
    /// chain of tests and a second `match` on the row; otherwise it holds the row, whose
    /// cell `t{t}` gives. A key out of its enum's range takes the selection function
    /// `s{select}`.
    fn cell_grid(&mut self, table: TableId, select: u32, unmatched: u32) -> bool {
        if let Some(known) = self.grids.get(&table.0) {
            return known.is_some();
        }
        let code = self.grid_code(table, select, unmatched);
        let made = code.is_some();
        self.grids.insert(table.0, code);
        made
    }

    fn grid_code(&mut self, table: TableId, select: u32, unmatched: u32) -> Option<String> {
        let program = self.program;
        let def = program.tables.get(table.index())?;
        let kind = kind_of(&def.ty);
        if def.columns.is_empty() {
            return None;
        }
        // Each column's number of values, and how its key is written as a value.
        let mut sizes = Vec::new();
        for (_, ty) in &def.columns {
            sizes.push(match ty {
                Ty::Bool => (2, KindOf::Bool),
                Ty::Enum(e) => (program.enums.get(e.0 as usize)?.variants.len(), KindOf::Enum),
                _ => return None,
            });
        }
        let combinations = sizes.iter().try_fold(1usize, |n, &(size, _)| n.checked_mul(size))?;
        if combinations == 0 || combinations > MAX_GRID || def.rows.len() >= usize::from(GRID_BACK) {
            return None;
        }
        // The row each combination selects (`None`: none; `Some(None)`: the interpreter's to
        // report: two rows of a `hit unique` table, or a key it cannot compare).
        let mut selected = Vec::with_capacity(combinations);
        for index in 0..combinations {
            // The key values of combination `index`, the last column varying fastest.
            let mut rest = index;
            let mut keys = vec![Value::Bool(false); sizes.len()];
            for (c, &(size, key_kind)) in sizes.iter().enumerate().rev() {
                let value = (rest % size) as u32;
                rest /= size;
                keys[c] = if key_kind == KindOf::Bool { Value::Bool(value == 1) } else { Value::Enum(value) };
            }
            selected.push(match ops::select_among(def, 0..def.rows.len(), &keys) {
                Ok(Selected::Row(row)) => row.map(Some),
                Ok(Selected::Two(..)) | Err(_) => Some(None),
            });
        }
        // The cells themselves when they are all constants of a kind a `const` holds; else
        // the rows, whose cells `t{t}` gives.
        let cells: Option<Vec<String>> = selected
            .iter()
            .map(|&selected| match selected {
                None => Some(format!("Err(Stop::Absent({unmatched}))")),
                Some(None) => Some("Err(Stop::Back)".to_string()),
                Some(Some(r)) => match &def.rows.get(r)?.cell {
                    Cell::NoValue(reason) => Some(format!("Err(Stop::Absent({}))", self.reason(reason))),
                    Cell::Value(node) => {
                        let value = super::constant_value(program, node.0)?;
                        self.scalar_constant(&value, kind)
                    }
                },
            })
            .collect();
        let names: Vec<String> = (0..sizes.len()).map(|c| format!("k{c}")).collect();
        let types: Vec<&str> = sizes.iter().map(|&(_, k)| k.rust()).collect();
        let mut index = String::new();
        let mut in_range = Vec::new();
        for (c, &(size, key_kind)) in sizes.iter().enumerate() {
            let key = format!("(k{c} as usize)");
            index = if index.is_empty() { key } else { format!("({index} * {size} + {key})") };
            if key_kind == KindOf::Enum {
                in_range.push(format!("k{c} < {size}"));
            }
        }
        let guard = if in_range.is_empty() { "true".to_string() } else { in_range.join(" && ") };
        let lookup = match cells {
            Some(cells) => format!(
                "const CELLS: [R<{t}>; {combinations}] = [{}];\n        if {guard} {{\n            return CELLS[{index}];\n        }}",
                cells.join(", "),
                t = kind.rust()
            ),
            None => {
                let rows: Vec<String> = selected
                    .iter()
                    .map(|selected| match selected {
                        None => GRID_NONE.to_string(),
                        Some(None) => GRID_BACK.to_string(),
                        Some(Some(r)) => r.to_string(),
                    })
                    .collect();
                format!(
                    "const ROWS: [u16; {combinations}] = [{}];\n        if {guard} {{\n            return match ROWS[{index}] {{\n                {GRID_NONE} => Err(Stop::Absent({unmatched})),\n                {GRID_BACK} => Err(Stop::Back),\n                row => self.t{}(usize::from(row)),\n            }};\n        }}",
                    rows.join(", "),
                    table.0
                )
            }
        };
        Some(format!(
            "(&mut self, ({},): ({},)) -> R<{t}> {{\n        {lookup}\n        match self.s{select}(({},))? {{\n            None => Err(Stop::Absent({unmatched})),\n            Some(row) => self.t{}(row),\n        }}\n    }}",
            names.join(", "),
            types.join(", "),
            names.join(", "),
            table.0,
            t = kind.rust()
        ))
    }

    /// The table whose selection function a lookup in `table` calls (see [`Gen::selections`]).
    fn selection_of(&mut self, table: TableId) -> Option<u32> {
        if let Some(&known) = self.selections.get(&table.0) {
            return known;
        }
        let code = selection(self.program, table);
        let select = code.map(|code| match self.selection_code.iter().find(|(_, c)| **c == code) {
            Some((&same, _)) => same,
            None => {
                self.selection_code.insert(table.0, code);
                table.0
            }
        });
        self.selections.insert(table.0, select);
        select
    }

    /// A table's cells, as a function of the row selected.
    fn table_cells(&mut self, table: TableId) -> String {
        let program = self.program;
        let def = &program.tables[table.index()];
        let kind = kind_of(&def.ty);
        let mut arms = String::new();
        for (r, row) in def.rows.iter().enumerate() {
            let cell = match &row.cell {
                Cell::NoValue(reason) => format!("Err(Stop::Absent({}))", self.reason(reason)),
                Cell::Value(cell) => {
                    if self.kind(*cell) != kind {
                        self.refuse("a cell of another type than its table's")
                    } else {
                        // A cell is evaluated outside any frame, as the interpreter does.
                        self.locals.clear();
                        self.expr(*cell)
                    }
                }
            };
            let _ = writeln!(arms, "            {r} => {cell},");
        }
        format!(
            "    /// The cells of table `{}` ({}), by the row selected.\n    fn t{}(&mut self, row: usize) -> R<{}> {{\n        match row {{\n{arms}            _ => Err(Stop::Back),\n        }}\n    }}\n\n",
            def.qualified,
            if def.hit == HitPolicy::Unique { "hit unique" } else { "hit first" },
            table.0,
            kind.rust()
        )
    }

    fn binary(&mut self, id: NodeId, op: BinOp, l: NodeId, r: NodeId, kind: KindOf) -> String {
        let (lk, rk) = (self.kind(l), self.kind(r));
        match op {
            BinOp::And | BinOp::Or => {
                if (lk, rk) != (KindOf::Bool, KindOf::Bool) {
                    return self.refuse("`and` or `or` on something that is not true or false");
                }
                let and = op == BinOp::And;
                let (a, b) = (self.expr(l), self.expr(r));
                format!(
                    "{{\n let left = rt::strict({a})?;\n if left != {and} {{ Ok(left) }} else {{ rt::strict({b}) }}\n }}"
                )
            }
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                // A whole number against another number: both as decimals.
                let lk = if lk != rk && lk.fits(KindOf::Num) && rk.fits(KindOf::Num) { KindOf::Num } else { lk };
                if !rk.fits(lk) {
                    return self.refuse("a comparison of two kinds of value");
                }
                let holds = match op {
                    BinOp::Eq => "== std::cmp::Ordering::Equal",
                    BinOp::Ne => "!= std::cmp::Ordering::Equal",
                    BinOp::Lt => "== std::cmp::Ordering::Less",
                    BinOp::Le => "!= std::cmp::Ordering::Greater",
                    BinOp::Gt => "== std::cmp::Ordering::Greater",
                    _ => "!= std::cmp::Ordering::Less",
                };
                let (a, b) = (self.expr_to(l, lk), self.expr_to(r, lk));
                let compared = match lk {
                    KindOf::Num => format!("rt::num_order(&a, &b) {holds}"),
                    KindOf::Val if matches!(op, BinOp::Eq) => "rt::value_equal(&a, &b)".to_string(),
                    KindOf::Val if matches!(op, BinOp::Ne) => "!rt::value_equal(&a, &b)".to_string(),
                    KindOf::Val => format!("rt::value_order(&a, &b)? {holds}"),
                    _ => format!("a.cmp(&b) {holds}"),
                };
                format!("{{\n let a = rt::strict({a})?;\n let b = rt::strict({b})?;\n Ok({compared})\n }}")
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul if (lk, rk, kind) == (KindOf::Int, KindOf::Int, KindOf::Int) => {
                // Whole numbers stay whole under these; beyond a machine integer the row is
                // handed back, and the interpreter computes it.
                let (a, b) = (self.expr(l), self.expr(r));
                let apply = match op {
                    BinOp::Add => "a.checked_add(b)",
                    BinOp::Sub => "a.checked_sub(b)",
                    _ => "a.checked_mul(b)",
                };
                format!("{{\n let a = rt::strict({a})?;\n let b = rt::strict({b})?;\n {apply}.ok_or(Stop::Back)\n }}")
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div
                if kind == KindOf::Num && lk.fits(KindOf::Num) && rk.fits(KindOf::Num) =>
            {
                let (a, b) = (self.expr_to(l, KindOf::Num), self.expr_to(r, KindOf::Num));
                let apply = match op {
                    BinOp::Add => "a.checked_add(b).ok_or(Stop::Back)",
                    BinOp::Sub => "a.checked_sub(b).ok_or(Stop::Back)",
                    BinOp::Mul => "a.checked_mul(b).ok_or(Stop::Back)",
                    _ => "rt::divide(a, b)",
                };
                format!("{{\n let a = rt::strict({a})?;\n let b = rt::strict({b})?;\n {apply}\n }}")
            }
            _ => {
                if !matches!(kind, KindOf::Val | KindOf::Num | KindOf::Int) {
                    return self.refuse("arithmetic giving an unexpected type");
                }
                // Dates, durations and rates: computed on values, as the interpreter does; an
                // operator with no unit is named in the module, the others read from the node.
                let (a, b) = (self.expr(l), self.expr(r));
                let combine = match op {
                    BinOp::DateAddDuration
                    | BinOp::DateSubDuration
                    | BinOp::DurationAdd
                    | BinOp::DurationSub
                    | BinOp::ScaleDuration => format!("rt::combine(rt::BinOp::{op:?}, &a, &b)"),
                    _ => format!("self.b.combine({}, &a, &b)", id.0),
                };
                format!(
                    "{{\n let a = rt::strict({a})?.into_value();\n let b = rt::strict({b})?.into_value();\n rt::convert::<{}>({combine})\n }}",
                    kind.rust()
                )
            }
        }
    }

    fn match_node(&mut self, id: NodeId, scrutinee: NodeId, arms: &[covenant_ir::MatchArm], kind: KindOf) -> String {
        let program = self.program;
        let s_ty = program.nodes.get(scrutinee.index()).map(|n| n.ty.clone());
        let bodies: Vec<String> = arms.iter().map(|arm| self.expr_to(arm.body, kind)).collect();
        let s = self.expr(scrutinee);
        if let Some(Ty::Enum(e)) = s_ty {
            // Each variant's arm, found once: the first whose key accepts it.
            let count = program.enums.get(e.0 as usize).map_or(0, |e| e.variants.len() as u32);
            let mut by_arm: Vec<Vec<u32>> = vec![Vec::new(); arms.len()];
            for v in 0..count {
                if let Some(a) = arms.iter().position(|arm| arm.key.matches(&Value::Enum(v)).unwrap_or(false)) {
                    by_arm[a].push(v);
                }
            }
            let mut out = format!("match rt::strict({s})? {{\n");
            for (a, variants) in by_arm.iter().enumerate() {
                if !variants.is_empty() {
                    let pattern: Vec<String> = variants.iter().map(u32::to_string).collect();
                    let _ = writeln!(out, " {} => {},", pattern.join(" | "), bodies[a]);
                }
            }
            out.push_str(" _ => Err(Stop::Back),\n }");
            return out;
        }
        let mut out =
            format!("{{\n let value = rt::strict({s})?.into_value();\n match self.b.match_arm({}, &value)? {{\n", id.0);
        for (a, body) in bodies.iter().enumerate() {
            let _ = writeln!(out, " {a} => {body},");
        }
        out.push_str(" _ => Err(Stop::Back),\n }\n }");
        out
    }

    fn aggregate(
        &mut self,
        op: AggOp,
        (local, list, body, filter): (LocalId, NodeId, NodeId, Option<NodeId>),
        ty: &Ty,
    ) -> String {
        let program = self.program;
        let Some(Ty::List(element)) = program.nodes.get(list.index()).map(|n| &n.ty) else {
            return self.refuse("an aggregation over something that is not a list");
        };
        let element = kind_of(element);
        self.unit.heavy = true;
        let o = self.fresh();
        let list_stable = if self.place_of(list).is_some() { self.stable(list) } else { "false".to_string() };
        let typed = self.typed_place(list);
        let element_shape = match &typed {
            Some((_, Shape::List(r))) => Some(Shape::Record(*r)),
            _ => None,
        };
        let items = match (&typed, element_shape) {
            (Some((place, _)), Some(_)) => format!("let items{o} = rt::titems({place})?;"),
            _ => match self.place(list) {
                Some(place) => format!("let items{o} = rt::items({place})?;"),
                None => {
                    format!("let o{o} = rt::strict({})?;\n let items{o} = rt::items(Ok(&o{o}))?;", self.expr(list))
                }
            },
        };
        let saved = self.locals.insert(local.0, element);
        let was_typed = self.bind_typed(local, element_shape);
        let was_stable = self.stable.insert(local.0, list_stable);
        // The element's position, when a call on it is remembered by position.
        let path = input_path(program, list).filter(|path| self.positional.iter().any(|(_, p)| p == path));
        let was_position = match path {
            Some(path) => self.positions.insert(local.0, (path, format!("i{o}"))),
            None => self.positions.remove(&local.0),
        };
        let each = if self.positions.contains_key(&local.0) {
            format!("for (i{o}, item) in items{o}.iter().enumerate()")
        } else {
            format!("for item in items{o}")
        };
        let bind = match element {
            KindOf::Val if element_shape.is_some() => format!("let l{} = rt::as_ref(item);", local.0),
            KindOf::Val => format!("let l{} = rt::place(item);", local.0),
            other => format!("let l{} = <{} as rt::Kind>::read(item);", local.0, other.rust()),
        };
        let filter = match filter {
            Some(f) => format!("if !rt::strict({})? {{\n continue;\n }}\n ", self.expr(f)),
            None => String::new(),
        };
        let body_is_element =
            matches!(program.nodes.get(body.index()).map(|n| &n.kind), Some(NodeKind::Local(l)) if *l == local);
        let kind = kind_of(ty);
        let code = match (op, kind) {
            (AggOp::Count, KindOf::Num | KindOf::Int) => {
                // The elements' values are not used: only a failure in computing them counts.
                let step = if body_is_element { String::new() } else { format!("rt::slot({})?;\n ", self.expr(body)) };
                let value = if kind == KindOf::Int { "count" } else { "Decimal::from(count)" };
                format!(
                    "let mut count: i64 = 0;\n {items}\n {each} {{\n {bind}\n {filter}{step}count += 1;\n }}\n Ok({value})"
                )
            }
            (AggOp::Sum, KindOf::Int) if self.kind(body) == KindOf::Int => format!(
                "let mut total: i64 = 0;\n {items}\n {each} {{\n {bind}\n {filter}total = total.checked_add(rt::strict({})?).ok_or(Stop::Back)?;\n }}\n Ok(total)",
                self.expr(body)
            ),
            (AggOp::Sum, KindOf::Num) => format!(
                "let mut total = Decimal::ZERO;\n {items}\n {each} {{\n {bind}\n {filter}total = total.checked_add(rt::strict({})?).ok_or(Stop::Back)?;\n }}\n Ok(total)",
                self.expr_to(body, KindOf::Num)
            ),
            (AggOp::Sum, KindOf::Val) if *ty == Ty::Duration => format!(
                "let mut total = rt::Duration::default();\n {items}\n {each} {{\n {bind}\n {filter}rt::add_duration(&mut total, rt::strict({})?)?;\n }}\n Ok(Value::Duration(total))",
                self.expr(body)
            ),
            (AggOp::All | AggOp::Any, KindOf::Bool) => {
                // `all` stops at the first false element, `any` at the first true one.
                let all = op == AggOp::All;
                let combine = if all { "result && b" } else { "result || b" };
                format!(
                    "let mut result = {all};\n {items}\n {each} {{\n {bind}\n {filter}let b = rt::strict({})?;\n result = {combine};\n if result != {all} {{\n break;\n }}\n }}\n Ok(result)",
                    self.expr(body)
                )
            }
            (AggOp::Min | AggOp::Max, _) => {
                let wanted = if op == AggOp::Min { "Less" } else { "Greater" };
                let order = match kind {
                    KindOf::Num => "rt::num_order(&v, current)",
                    KindOf::Val => "rt::value_order(&v, current)?",
                    _ => "v.cmp(current)",
                };
                // The least or greatest of no elements is an error (E0502).
                format!(
                    "let mut best: Option<{}> = None;\n {items}\n {each} {{\n {bind}\n {filter}let v = rt::strict({})?;\n let replace = match &best {{\n None => true,\n Some(current) => {order} == std::cmp::Ordering::{wanted},\n }};\n if replace {{\n best = Some(v);\n }}\n }}\n best.ok_or(Stop::Back)",
                    kind.rust(),
                    self.expr_to(body, kind)
                )
            }
            (AggOp::Filter, KindOf::Val) => format!(
                "let mut kept = Vec::new();\n {items}\n {each} {{\n {bind}\n {filter}let value = rt::slot({})?;\n kept.push(self.b.output(value)?);\n }}\n Ok(Value::List(kept.into()))",
                self.expr(body)
            ),
            _ => REFUSED.to_string(),
        };
        self.bind_typed(local, was_typed);
        self.restore(local, saved);
        self.restore_stable(local, was_stable);
        self.restore_position(local, was_position);
        if code == REFUSED {
            return self.refuse("an aggregation of an unexpected type");
        }
        format!("{{\n {code}\n }}")
    }

    fn rules(&mut self, rules: &[RuleArm], default: Option<NodeId>, kind: KindOf) -> String {
        // The ranks: the roots first, then the exceptions to each rule, in order.
        let mut ranks: Vec<Vec<usize>> = vec![Vec::new(); rules.len() + 1];
        for (i, rule) in rules.iter().enumerate() {
            match rule.parent {
                None => ranks[0].push(i),
                Some(p) if (p as usize) < rules.len() => ranks[p as usize + 1].push(i),
                Some(_) => return self.refuse("an exception to a rule that is missing"),
            }
        }
        let weighed = self.weigh(rules, &ranks, 0, kind);
        let default = match default {
            Some(d) => self.expr_to(d, kind),
            // No rule applies and there is no default (E0510).
            None => "Err(Stop::Back)".to_string(),
        };
        format!("match {weighed} {{\n Some(value) => value,\n None => {default},\n }}")
    }

    /// Code of type `Option<R<T>>`: the value of the rule of a rank that applies, if any; two
    /// that apply are a conflict (E0509), which hands the row back.
    fn weigh(&mut self, rules: &[RuleArm], ranks: &[Vec<usize>], rank: usize, kind: KindOf) -> String {
        let members = ranks.get(rank).cloned().unwrap_or_default();
        if members.is_empty() {
            return "None".to_string();
        }
        let mut out = String::from("{\n let mut applied = None;\n ");
        for i in members {
            let overriding = self.weigh(rules, ranks, i + 1, kind);
            let value = self.expr_to(rules[i].value, kind);
            let apply = match rules[i].condition {
                Some(c) => {
                    format!("if rt::strict({})? {{\n Some(rt::slot({value})?)\n }} else {{\n None\n }}", self.expr(c))
                }
                None => format!("Some(rt::slot({value})?)"),
            };
            // A rule applies through one of its exceptions, or else when its condition holds.
            let _ = write!(
                out,
                "let got = match {overriding} {{\n Some(value) => Some(value),\n None => {apply},\n }};\n if let Some(value) = got {{\n if applied.is_some() {{\n return Err(Stop::Back);\n }}\n applied = Some(value);\n }}\n "
            );
        }
        out.push_str("applied\n }");
        out
    }
}

/// The most rows a compiled selection tests for one lookup; a table with more (after
/// dispatching on an enum or boolean column) is looked up through the interpreter's indexes.
const MAX_ROWS_TESTED: usize = 32;

/// How a compiled selection narrows a table's rows: by the values of one enum or boolean
/// column, as Rust patterns, each with the rows that accept it.
struct Dispatch {
    /// The most rows left for one value.
    widest: usize,
    column: usize,
    buckets: Vec<(String, Vec<usize>)>,
}

/// A table's row selection as a function of its typed keys, exactly as `ops::select_among`
/// selects: rows are tested in order, `hit first` takes the first that matches, `hit
/// unique` hands the row back when a second matches, and an `otherwise` row applies only
/// when no row before it matched. The rows to test are first narrowed by the enum or
/// boolean column that leaves the fewest; rows that do not accept the value there cannot
/// match. `None` when a column is not a number, enum or boolean, a range tests something
/// that is not a number, or more than [`MAX_ROWS_TESTED`] rows would be tested. The code is
/// a function's parameters and body, without its name, so that tables with the same keys
/// and rows share one function.
fn selection(program: &Program, table: TableId) -> Option<String> {
    let def = program.tables.get(table.index())?;
    // Whole-number keys are given as decimals (`Gen::table`), like any number.
    let kinds: Vec<KindOf> = def
        .columns
        .iter()
        .map(|(_, ty)| match kind_of(ty) {
            KindOf::Int => KindOf::Num,
            other => other,
        })
        .collect();
    if kinds.contains(&KindOf::Val) || def.rows.iter().any(|row| row.keys.len() != kinds.len()) {
        return None;
    }
    // Per row, the test of each column's key (`None`: it accepts anything).
    let mut tests: Vec<Vec<Option<String>>> = Vec::with_capacity(def.rows.len());
    for row in &def.rows {
        let row_tests: Option<Vec<Option<String>>> =
            row.keys.iter().enumerate().map(|(c, key)| key_test(key, &format!("k{c}"), kinds[c])).collect();
        tests.push(row_tests?);
    }
    // A row's condition, leaving out the column already dispatched on.
    let condition = |r: usize, dispatched: Option<usize>| -> String {
        let kept: Vec<&str> = tests[r]
            .iter()
            .enumerate()
            .filter(|(c, _)| Some(*c) != dispatched)
            .filter_map(|(_, t)| t.as_deref())
            .collect();
        if kept.is_empty() { "true".to_string() } else { kept.join(" && ") }
    };
    // The values a dispatch column takes, as Rust patterns with the rows accepting each.
    let mut best: Option<Dispatch> = None;
    for (c, (_, ty)) in def.columns.iter().enumerate() {
        let values: Vec<(String, Value)> = match ty {
            Ty::Bool => vec![("false".to_string(), Value::Bool(false)), ("true".to_string(), Value::Bool(true))],
            Ty::Enum(e) => {
                let count = program.enums.get(e.0 as usize)?.variants.len() as u32;
                (0..count).map(|v| (v.to_string(), Value::Enum(v))).collect()
            }
            _ => continue,
        };
        let mut buckets = Vec::with_capacity(values.len());
        for (pattern, value) in values {
            let mut rows = Vec::new();
            for (r, row) in def.rows.iter().enumerate() {
                if row.keys[c].matches(&value).ok()? {
                    rows.push(r);
                }
            }
            buckets.push((pattern, rows));
        }
        let widest = buckets.iter().map(|(_, rows)| rows.len()).max().unwrap_or(0);
        if best.as_ref().is_none_or(|b| widest < b.widest) {
            best = Some(Dispatch { widest, column: c, buckets });
        }
    }
    let scan = |rows: &[usize], dispatched: Option<usize>| -> String {
        let mut out = String::new();
        match def.hit {
            HitPolicy::First => {
                for &r in rows {
                    let condition = condition(r, dispatched);
                    if condition == "true" {
                        // The rows after one that matches anything are never reached.
                        let _ = write!(out, "Ok(Some({r}))");
                        return out;
                    }
                    let _ = write!(out, "if {condition} {{\n return Ok(Some({r}));\n }}\n ");
                }
                out.push_str("Ok(None)");
            }
            HitPolicy::Unique => {
                out.push_str("let mut matched: Option<usize> = None;\n ");
                for &r in rows {
                    if def.rows[r].otherwise {
                        let condition = match condition(r, dispatched) {
                            anything if anything == "true" => String::new(),
                            some => format!(" && {some}"),
                        };
                        let _ = write!(out, "if matched.is_none(){condition} {{\n matched = Some({r});\n }}\n ");
                    } else {
                        let _ = write!(
                            out,
                            "if {} {{\n if matched.is_some() {{\n return Err(Stop::Back);\n }}\n matched = Some({r});\n }}\n ",
                            condition(r, dispatched)
                        );
                    }
                }
                out.push_str("Ok(matched)");
            }
        }
        out
    };
    let body = match best {
        Some(Dispatch { widest, column, buckets }) if widest <= MAX_ROWS_TESTED && widest < def.rows.len() => {
            let mut out = format!("match k{column} {{\n");
            for (pattern, rows) in &buckets {
                let _ = write!(out, " {pattern} => {{\n {}\n }}\n", scan(rows, Some(column)));
            }
            out.push_str(" _ => Err(Stop::Back),\n }");
            out
        }
        _ if def.rows.len() <= MAX_ROWS_TESTED => scan(&(0..def.rows.len()).collect::<Vec<_>>(), None),
        _ => return None,
    };
    // A whole-number key of a one-column table selects its row by a `match` on the integer.
    let body = match integer_arms(def) {
        Some(arms) if kinds == [KindOf::Num] => {
            let mut out = "if let Some(k) = rt::whole(&k0) {\n return match k {\n".to_string();
            for (n, (low, high, selected)) in arms.iter().enumerate() {
                let pattern = match (low, high) {
                    _ if n + 1 == arms.len() => "_".to_string(),
                    (low, high) if low == high => integer(*low),
                    (&i64::MIN, high) => format!("..={}", integer(*high)),
                    (low, high) => format!("{}..={}", integer(*low), integer(*high)),
                };
                let result = match selected {
                    Selected::Row(Some(r)) => format!("Ok(Some({r}))"),
                    Selected::Row(None) => "Ok(None)".to_string(),
                    Selected::Two(..) => "Err(Stop::Back)".to_string(),
                };
                let _ = writeln!(out, " {pattern} => {result},");
            }
            let _ = write!(out, " }};\n }}\n {body}");
            out
        }
        _ => body,
    };
    let names: Vec<String> = (0..kinds.len()).map(|c| format!("k{c}")).collect();
    let types: Vec<&str> = kinds.iter().map(|k| k.rust()).collect();
    Some(format!("(&self, ({},): ({},)) -> R<Option<usize>> {{\n {body}\n }}", names.join(", "), types.join(", "),))
}

/// The most arms of the `match` on a whole-number key that [`integer_arms`] gives.
const MAX_INTEGER_ARMS: usize = 64;

/// For a table with one key column: the row each whole number selects, as runs of
/// consecutive integers (`low..=high`, covering every machine integer) with what
/// `ops::select_among` selects for them. A row's key starts or stops accepting integers
/// only at the floor of one of its values or bounds, or one above (`over 2.5` from 3, `up
/// to 2.5` until 2, `under 3` until 2, `3` at 3 alone); the runs break at all of those, so
/// that every integer of a run is selected alike, and the run's selection is
/// `select_among`'s own for its first integer. `None` when a value or bound is beyond a
/// machine integer, or there would be more than [`MAX_INTEGER_ARMS`] runs.
fn integer_arms(def: &TableDef) -> Option<Vec<(i64, i64, Selected)>> {
    let mut starts = BTreeSet::from([i64::MIN]);
    for row in &def.rows {
        let [key] = row.keys.as_slice() else { return None };
        let Key::Alts(alts) = key else { continue };
        for alt in alts {
            let values = match alt {
                KeyAlt::Equals(Value::Num(v)) => vec![*v],
                KeyAlt::Equals(_) => Vec::new(),
                KeyAlt::Range { low, high } => low.iter().chain(high).map(|b| b.value).collect(),
            };
            for v in values {
                let edge = v.floor().to_i64()?;
                starts.insert(edge);
                starts.extend(edge.checked_add(1));
            }
        }
    }
    // Each run costs a selection here: a table with many distinct values is left as it is.
    if starts.len() > 16 * MAX_INTEGER_ARMS {
        return None;
    }
    let starts: Vec<i64> = starts.into_iter().collect();
    let mut arms: Vec<(i64, i64, Selected)> = Vec::new();
    for (i, &low) in starts.iter().enumerate() {
        let high = starts.get(i + 1).map_or(i64::MAX, |next| next - 1);
        let selected = ops::select_among(def, 0..def.rows.len(), &[Value::Num(Decimal::from(low))]).ok()?;
        match arms.last_mut() {
            Some(last) if last.2 == selected => last.1 = high,
            _ => arms.push((low, high, selected)),
        }
    }
    (arms.len() <= MAX_INTEGER_ARMS).then_some(arms)
}

/// A machine integer as a Rust pattern.
fn integer(n: i64) -> String {
    match n {
        i64::MIN => "i64::MIN".to_string(),
        i64::MAX => "i64::MAX".to_string(),
        n => n.to_string(),
    }
}

/// A test of a key value `k` against a row key, as `Key::matches` tests it (`Ok(None)`: the
/// key accepts anything); `None` when it cannot be compiled.
fn key_test(key: &Key, k: &str, kind: KindOf) -> Option<Option<String>> {
    let Key::Alts(alts) = key else { return Some(None) };
    let mut tests = Vec::with_capacity(alts.len());
    for alt in alts {
        tests.push(match alt {
            KeyAlt::Equals(value) => match (value, kind) {
                (Value::Bool(b), KindOf::Bool) => format!("{k} == {b}"),
                (Value::Enum(i), KindOf::Enum) => format!("{k} == {i}"),
                (Value::Num(n), KindOf::Num) => format!("rt::num_order(&{k}, &{}).is_eq()", decimal(*n)),
                // A value of another type is never equal.
                _ => "false".to_string(),
            },
            KeyAlt::Range { low, high } => {
                if kind != KindOf::Num {
                    return None;
                }
                let mut sides = Vec::new();
                if let Some(b) = low {
                    let holds = if b.inclusive { "is_ge" } else { "is_gt" };
                    sides.push(format!("rt::num_order(&{k}, &{}).{holds}()", decimal(b.value)));
                }
                if let Some(b) = high {
                    let holds = if b.inclusive { "is_le" } else { "is_lt" };
                    sides.push(format!("rt::num_order(&{k}, &{}).{holds}()", decimal(b.value)));
                }
                if sides.is_empty() { "true".to_string() } else { sides.join(" && ") }
            }
        });
    }
    Some(Some(if tests.is_empty() { "false".to_string() } else { format!("({})", tests.join(" || ")) }))
}

/// A decimal as a constant expression.
fn decimal(n: Decimal) -> String {
    let mantissa = n.mantissa().unsigned_abs();
    format!(
        "Decimal::from_parts({}, {}, {}, {}, {})",
        mantissa as u32,
        (mantissa >> 32) as u32,
        (mantissa >> 64) as u32,
        n.is_sign_negative(),
        n.scale()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use covenant_ir::{Bound, Row};
    use std::str::FromStr;

    fn table(hit: HitPolicy, rows: Vec<(Key, bool)>) -> TableDef {
        TableDef {
            name: "t".into(),
            qualified: "t".into(),
            columns: vec![("k".into(), Ty::INT)],
            ty: Ty::INT,
            hit,
            valid: None,
            partial: false,
            source: None,
            rows: rows
                .into_iter()
                .map(|(key, otherwise)| Row {
                    keys: vec![key],
                    otherwise,
                    cell: Cell::NoValue(String::new()),
                    span: Default::default(),
                })
                .collect(),
            span: Default::default(),
            name_span: Default::default(),
            doc: None,
            clause: None,
        }
    }

    fn bound(value: &str, inclusive: bool) -> Option<Bound> {
        Some(Bound { value: Decimal::from_str(value).expect("a decimal"), inclusive })
    }

    fn equals(value: &str) -> KeyAlt {
        KeyAlt::Equals(Value::Num(Decimal::from_str(value).expect("a decimal")))
    }

    /// Every whole number near the tables' values, and the extremes, falls in a run whose
    /// selection is the one `select_among` makes for it: ranges with every kind of end at
    /// whole and fractional bounds, values written at other scales and fractional values,
    /// overlapping rows under both hit policies, an `otherwise` row and a wildcard.
    #[test]
    fn whole_number_runs_select_what_select_among_selects() {
        let range = |low, high| KeyAlt::Range { low, high };
        let alts = |alts: Vec<KeyAlt>| Key::Alts(alts);
        let rows = vec![
            (alts(vec![range(None, bound("-1", false))]), false),
            (alts(vec![range(bound("-1", true), bound("0", false))]), false),
            (alts(vec![equals("0"), equals("0.5"), equals("7.00")]), false),
            (alts(vec![range(bound("0", false), bound("0.5", false))]), false),
            (alts(vec![range(bound("0.5", false), bound("2", true))]), false),
            (alts(vec![range(bound("2", false), bound("2.50", false))]), false),
            (alts(vec![range(bound("2.5", true), None), equals("-3")]), false),
            (alts(vec![range(bound("4.2", true), bound("9.7", true))]), false),
            (Key::Any, true),
        ];
        for hit in [HitPolicy::Unique, HitPolicy::First] {
            for without_catch_all in [false, true] {
                let mut rows = rows.clone();
                if without_catch_all {
                    rows.pop();
                }
                let def = table(hit, rows);
                let arms = integer_arms(&def).expect("runs for a small table");
                assert_eq!(arms.first().map(|a| a.0), Some(i64::MIN));
                assert_eq!(arms.last().map(|a| a.1), Some(i64::MAX));
                let probes = (-20..=20).chain([i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX]);
                for k in probes {
                    let (_, _, selected) =
                        arms.iter().find(|(low, high, _)| *low <= k && k <= *high).expect("every integer has a run");
                    let expected =
                        ops::select_among(&def, 0..def.rows.len(), &[Value::Num(Decimal::from(k))]).expect("selects");
                    assert_eq!(*selected, expected, "{k} under {hit:?}");
                }
            }
        }
    }

    /// A bound beyond a machine integer leaves the table to the general selection.
    #[test]
    fn bounds_beyond_machine_integers_are_not_compiled_to_runs() {
        let huge = KeyAlt::Range { low: bound("1e20", true), high: None };
        assert!(integer_arms(&table(HitPolicy::First, vec![(Key::Alts(vec![huge]), false)])).is_none());
    }
}
