//! Table analysis: gaps, overlaps and masked rows, each with a concrete example input.
//!
//! Every key column's domain is cut into **atoms**: the variants of an enum, `true` and
//! `false`, or for numbers every bound written in the column (as a point) and the open
//! intervals between them; for other types, each value written plus "any other value".
//! Within one atom every row either matches all values or none, so checking one
//! representative value per atom (with [`Key::matches`], the evaluator's own rule) decides
//! the whole atom.
//!
//! The analysis walks the columns left to right, keeping the set of rows still matching.
//! Atoms of a column that leave the same set of rows are merged, so the walk visits at most
//! one branch per distinct row set: a 5,000-row table keyed by one number costs a few
//! thousand steps, not the product of all column sizes. At the end of a branch:
//!
//! - no row matches: a **gap** (E0410, a warning; silenced by an `otherwise` row or by
//!   declaring the table `partial`);
//! - two rows match in a `hit unique` table: an **overlap** (E0411, an error, since
//!   evaluating that input would fail);
//! - in a `hit first` table, the first matching row wins; a row that is never first
//!   anywhere is **masked** by earlier rows (E0412, a warning).

use crate::describe;
use covenant_ir::value::display;
use covenant_ir::{HitPolicy, Key, KeyAlt, NumKind, Program, TableDef, Ty, Value};
use covenant_source::Diagnostic;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// At most this many findings of each kind are reported per table.
const MAX_FINDINGS: usize = 3;
/// The walk stops after this many branches (a note says so); real tables need far fewer.
const MAX_BRANCHES: usize = 1_000_000;

pub(crate) fn analyse_tables(program: &Program, out: &mut Vec<Diagnostic>) {
    for table in &program.tables {
        // A key that failed to lower (already reported) would look like a row matching nothing.
        let broken_key =
            table.rows.iter().any(|r| r.keys.iter().any(|k| matches!(k, Key::Alts(alts) if alts.is_empty())));
        if table.columns.iter().any(|(_, ty)| *ty == Ty::Error) || table.rows.is_empty() || broken_key {
            continue;
        }
        analyse(program, table).report(out);
    }
}

/// One cell of a column's partition, with a value that stands for all of it.
struct Atom {
    value: Value,
    /// `true` for "any other value" of an open domain (text, dates): no row written so far
    /// matches it unless its key is `_`.
    other: bool,
}

pub(crate) struct Analysis<'p> {
    program: &'p Program,
    table: &'p TableDef,
    atoms: Vec<Vec<Atom>>,
    /// Up to [`MAX_FINDINGS`] inputs that match no row, as atom indices per column.
    pub(crate) gaps: Vec<Vec<usize>>,
    pub(crate) gap_count: usize,
    /// Overlapping row pairs, each with one example.
    overlaps: BTreeMap<(usize, usize), Vec<usize>>,
    /// For `hit first`: rows that are first somewhere.
    pub(crate) reachable: BTreeSet<usize>,
    /// For `hit first`: for each row, the earlier rows that beat it somewhere.
    maskers: BTreeMap<usize, BTreeSet<usize>>,
    branches: usize,
}

/// Analyses a table (or the arms of a `match`, seen as a one-column `hit first` table)
/// without reporting: the caller reads the findings.
pub(crate) fn analyse<'p>(program: &'p Program, table: &'p TableDef) -> Analysis<'p> {
    let mut analysis = Analysis::new(program, table);
    let all: Vec<usize> = (0..table.rows.len()).collect();
    analysis.walk(0, &all, &mut Vec::new());
    analysis
}

impl<'p> Analysis<'p> {
    fn new(program: &'p Program, table: &'p TableDef) -> Analysis<'p> {
        let atoms = (0..table.columns.len()).map(|c| column_atoms(program, table, c)).collect();
        Analysis {
            program,
            table,
            atoms,
            gaps: Vec::new(),
            gap_count: 0,
            overlaps: BTreeMap::new(),
            reachable: BTreeSet::new(),
            maskers: BTreeMap::new(),
            branches: 0,
        }
    }

    /// Whether the walk stopped before seeing every combination of keys.
    pub(crate) fn truncated(&self) -> bool {
        self.branches >= MAX_BRANCHES
    }

    fn matches(&self, row: usize, column: usize, atom: &Atom) -> bool {
        let key = &self.table.rows[row].keys[column];
        match key {
            Key::Any => true,
            // "Any other value" is, by construction, none of the values written in keys.
            _ if atom.other => false,
            _ => key.matches(&atom.value).unwrap_or(false),
        }
    }

    fn walk(&mut self, column: usize, rows: &[usize], prefix: &mut Vec<usize>) {
        if self.branches >= MAX_BRANCHES {
            return;
        }
        self.branches += 1;
        if column == self.table.columns.len() {
            self.leaf(rows, prefix);
            return;
        }
        let mut seen: BTreeSet<Vec<usize>> = BTreeSet::new();
        for a in 0..self.atoms[column].len() {
            let subset: Vec<usize> =
                rows.iter().copied().filter(|&r| self.matches(r, column, &self.atoms[column][a])).collect();
            if !seen.insert(subset.clone()) {
                continue;
            }
            prefix.push(a);
            self.walk(column + 1, &subset, prefix);
            prefix.pop();
        }
    }

    fn leaf(&mut self, rows: &[usize], prefix: &[usize]) {
        // The `otherwise` row applies only when no other row does.
        let ordinary: Vec<usize> = rows.iter().copied().filter(|&r| !self.table.rows[r].otherwise).collect();
        let effective = if ordinary.is_empty() { rows.to_vec() } else { ordinary };
        match effective.as_slice() {
            [] => {
                if !self.table.partial {
                    self.gap_count += 1;
                    if self.gaps.len() < MAX_FINDINGS {
                        self.gaps.push(prefix.to_vec());
                    }
                }
            }
            [first, rest @ ..] => match self.table.hit {
                HitPolicy::Unique => {
                    for (i, &a) in effective.iter().enumerate() {
                        for &b in &effective[i + 1..] {
                            self.overlaps.entry((a, b)).or_insert_with(|| prefix.to_vec());
                        }
                    }
                }
                HitPolicy::First => {
                    self.reachable.insert(*first);
                    for &r in rest {
                        self.maskers.entry(r).or_default().insert(*first);
                    }
                }
            },
        }
    }

    /// One value of a one-column analysis (a `match`), as people write it.
    pub(crate) fn example_value(&self, prefix: &[usize]) -> String {
        let (Some(&a), Some((_, ty))) = (prefix.first(), self.table.columns.first()) else { return String::new() };
        let atom = &self.atoms[0][a];
        if atom.other {
            format!("any other {}", describe(self.program, ty))
        } else {
            display(self.program, &atom.value, ty)
        }
    }

    /// `cluster = C9, service = Crisis` for an example input.
    fn example(&self, prefix: &[usize]) -> String {
        prefix
            .iter()
            .enumerate()
            .map(|(c, &a)| {
                let (name, ty) = &self.table.columns[c];
                let atom = &self.atoms[c][a];
                if atom.other {
                    format!("{name} = any other {}", describe(self.program, ty))
                } else {
                    format!("{name} = {}", display(self.program, &atom.value, ty))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn report(&self, out: &mut Vec<Diagnostic>) {
        let table = self.table;
        let name = &table.name;
        let truncated = self.branches >= MAX_BRANCHES;
        for gap in &self.gaps {
            let mut d = Diagnostic::warning(
                "E0410",
                format!("table `{name}` has no row for {}", self.example(gap)),
                table.name_span,
                "this input matches no row",
            )
            .with_note("a lookup with this input gives no value, and using it is an evaluation error");
            if self.gap_count > self.gaps.len() {
                d = d.with_note(format!(
                    "{} inputs of this kind found in all; the first {} are shown",
                    self.gap_count,
                    self.gaps.len()
                ));
            }
            out.push(d.with_help(
                "add a row for it, end the table with an `otherwise => …` row, or declare the table `partial` if some inputs deliberately have no row",
            ));
        }
        for ((a, b), example) in self.overlaps.iter().take(MAX_FINDINGS) {
            let (ra, rb) = (&table.rows[*a], &table.rows[*b]);
            out.push(
                Diagnostic::error(
                    "E0411",
                    format!("rows {} and {} of table `{name}` both match {}", a + 1, b + 1, self.example(example)),
                    rb.span,
                    format!("row {} matches", b + 1),
                )
                .with_label(ra.span, format!("row {} matches too", a + 1))
                .with_note("the table is `hit unique`, so evaluating this input would stop with an error")
                .with_help("make the rows exclusive (check the ends of ranges: `up to 5` and `5 to 10` share 5), or declare `hit first` if the first row should win"),
            );
        }
        if self.overlaps.len() > MAX_FINDINGS
            && let Some(last) = out.last_mut()
        {
            last.notes.push(format!("{} overlapping pairs of rows in all", self.overlaps.len()));
        }
        if table.hit == HitPolicy::First && !truncated {
            let mut shown = 0;
            for (r, row) in table.rows.iter().enumerate() {
                if self.reachable.contains(&r) || shown >= MAX_FINDINGS {
                    continue;
                }
                shown += 1;
                let mut d = Diagnostic::warning(
                    "E0412",
                    format!("row {} of table `{name}` is never used: earlier rows match everything it matches", r + 1),
                    row.span,
                    "never the first matching row",
                );
                let earlier: Vec<usize> = self.maskers.get(&r).map(|s| s.iter().copied().collect()).unwrap_or_default();
                for e in earlier.iter().take(MAX_FINDINGS) {
                    d = d.with_label(table.rows[*e].span, format!("row {} comes first", e + 1));
                }
                out.push(d.with_help("remove the row, or move it above the rows that hide it"));
            }
        }
        if truncated {
            out.push(
                Diagnostic::warning(
                    "E0413",
                    format!("table `{name}` is too large to analyse completely"),
                    table.name_span,
                    "analysis stopped early",
                )
                .with_note(format!("the analysis stopped after {MAX_BRANCHES} combinations of keys")),
            );
        }
    }
}

fn column_atoms(program: &Program, table: &TableDef, column: usize) -> Vec<Atom> {
    let ty = &table.columns[column].1;
    let keys = table.rows.iter().map(|r| &r.keys[column]);
    let plain = |value: Value| Atom { value, other: false };
    match ty {
        Ty::Enum(id) => (0..program.enum_def(*id).variants.len() as u32).map(|i| plain(Value::Enum(i))).collect(),
        Ty::Bool => vec![plain(Value::Bool(false)), plain(Value::Bool(true))],
        Ty::Num(n) => {
            let mut points: BTreeSet<Decimal> = BTreeSet::new();
            for key in keys {
                let Key::Alts(alts) = key else { continue };
                for alt in alts {
                    match alt {
                        KeyAlt::Equals(Value::Num(v)) => {
                            points.insert(*v);
                        }
                        KeyAlt::Range { low, high } => {
                            points.extend(low.iter().chain(high).map(|b| b.value));
                        }
                        KeyAlt::Equals(_) => {}
                    }
                }
            }
            number_atoms(&points, n.kind == NumKind::Int).into_iter().map(|d| plain(Value::Num(d))).collect()
        }
        _ => {
            let mut values: Vec<Value> = Vec::new();
            for key in keys {
                let Key::Alts(alts) = key else { continue };
                for alt in alts {
                    if let KeyAlt::Equals(v) = alt
                        && !values.contains(v)
                    {
                        values.push(v.clone());
                    }
                }
            }
            let mut atoms: Vec<Atom> = values.into_iter().map(plain).collect();
            atoms.push(Atom { value: Value::None("any other value".into()), other: true });
            atoms
        }
    }
}

/// Representatives of each point and each open interval around and between the points.
/// For whole-number columns, intervals holding no whole number are left out.
fn number_atoms(points: &BTreeSet<Decimal>, whole: bool) -> Vec<Decimal> {
    let points: Vec<Decimal> = points.iter().copied().collect();
    let mut out = Vec::with_capacity(points.len() * 2 + 1);
    let Some((&first, _)) = points.split_first() else {
        return vec![Decimal::ZERO];
    };
    let below = if whole { first.floor().checked_sub(Decimal::ONE) } else { first.checked_sub(Decimal::ONE) };
    out.extend(below);
    for (i, &p) in points.iter().enumerate() {
        out.push(p);
        let next = points.get(i + 1).copied();
        let between = match next {
            Some(q) if whole => {
                let candidate = p.floor().checked_add(Decimal::ONE);
                candidate.filter(|c| *c < q)
            }
            Some(q) => p.checked_add(q).and_then(|s| s.checked_div(Decimal::TWO)),
            None if whole => p.floor().checked_add(Decimal::ONE),
            None => p.checked_add(Decimal::ONE),
        };
        out.extend(between);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn atoms_cover_points_and_the_gaps_between_them() {
        let points: BTreeSet<Decimal> = [d("5"), d("10")].into_iter().collect();
        assert_eq!(number_atoms(&points, false), vec![d("4"), d("5"), d("7.5"), d("10"), d("11")]);
        assert_eq!(number_atoms(&points, true), vec![d("4"), d("5"), d("6"), d("10"), d("11")]);
        let adjacent: BTreeSet<Decimal> = [d("1"), d("2")].into_iter().collect();
        assert_eq!(number_atoms(&adjacent, true), vec![d("0"), d("1"), d("2"), d("3")]);
    }
}
