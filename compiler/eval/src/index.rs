//! Table indexes: candidate rows for a lookup, so a 5,000-row table costs about what a
//! 5-row table does.
//!
//! For each table, one key column is indexed: the one that leaves the fewest candidate rows
//! overall. Its values are cut into the same atoms the checker's analysis uses (enum
//! variants; or for numbers, each value written in the column and the open intervals between
//! them), and each atom lists the rows whose key for that column accepts it, in row order. A
//! lookup finds its atom (an array index, or a binary search for numbers) and tests only those
//! rows, fully, with `Key::matches`, so hit policies and results are exactly those of a scan.
//! Tables whose columns would not narrow the search (every row `_`) are scanned.

use covenant_ir::{Key, KeyAlt, Program, TableDef, TableId, Ty, Value};
use rust_decimal::Decimal;

/// Indexes of every table of a program. Built once; shared by every session (and thread).
#[derive(Debug, Default)]
pub struct Indexes {
    tables: Vec<Option<TableIndex>>,
}

#[derive(Debug)]
struct TableIndex {
    column: usize,
    atoms: Atoms,
    /// Candidate rows per atom, in row order.
    rows: Vec<Vec<u32>>,
}

#[derive(Debug)]
enum Atoms {
    /// One atom per variant index.
    Enum,
    Bool,
    /// Sorted distinct points; atom `2i` is the interval just below `points[i]`, atom `2i + 1`
    /// the point itself, and atom `2n` the interval above the last point.
    Number(Vec<Decimal>),
}

/// A table is indexed only when the index narrows the search at least this much on average.
const MIN_NARROWING: usize = 4;

impl Indexes {
    pub fn build(program: &Program) -> Indexes {
        Indexes { tables: program.tables.iter().map(|t| best_index(program, t)).collect() }
    }

    /// The rows to test for these key values, or `None` to test every row.
    pub fn candidates(&self, table: TableId, keys: &[Value]) -> Option<&[u32]> {
        let index = self.tables.get(table.index())?.as_ref()?;
        let atom = match (&index.atoms, keys.get(index.column)?) {
            (Atoms::Enum, Value::Enum(i)) => *i as usize,
            (Atoms::Bool, Value::Bool(b)) => usize::from(*b),
            (Atoms::Number(points), Value::Num(x)) => match points.binary_search(x) {
                Ok(i) => 2 * i + 1,
                Err(i) => 2 * i,
            },
            _ => return None,
        };
        index.rows.get(atom).map(Vec::as_slice)
    }
}

fn best_index(program: &Program, table: &TableDef) -> Option<TableIndex> {
    let n = table.rows.len();
    if n < 2 * MIN_NARROWING {
        return None;
    }
    (0..table.columns.len())
        .filter_map(|c| column_index(program, table, c))
        .filter(|index| {
            let total: usize = index.rows.iter().map(Vec::len).sum();
            // On average an atom must keep at most 1/MIN_NARROWING of the rows.
            total.saturating_mul(MIN_NARROWING) <= n.saturating_mul(index.rows.len())
        })
        .min_by_key(|index| {
            let total: usize = index.rows.iter().map(Vec::len).sum();
            (total, index.column)
        })
}

fn column_index(program: &Program, table: &TableDef, column: usize) -> Option<TableIndex> {
    let (atoms, representatives): (Atoms, Vec<Value>) = match &table.columns[column].1 {
        Ty::Enum(id) => {
            let count = program.enums.get(id.0 as usize)?.variants.len() as u32;
            (Atoms::Enum, (0..count).map(Value::Enum).collect())
        }
        Ty::Bool => (Atoms::Bool, vec![Value::Bool(false), Value::Bool(true)]),
        Ty::Num(_) => {
            let points = column_points(table, column);
            let representatives = number_representatives(&points)?;
            (Atoms::Number(points), representatives)
        }
        _ => return None,
    };
    let rows = representatives
        .iter()
        .map(|value| {
            (0..table.rows.len() as u32)
                .filter(|&r| table.rows[r as usize].keys.get(column).is_none_or(|k| k.matches(value).unwrap_or(true)))
                .collect()
        })
        .collect();
    Some(TableIndex { column, atoms, rows })
}

fn column_points(table: &TableDef, column: usize) -> Vec<Decimal> {
    let mut points: Vec<Decimal> = Vec::new();
    for row in &table.rows {
        let Some(Key::Alts(alts)) = row.keys.get(column) else { continue };
        for alt in alts {
            match alt {
                KeyAlt::Equals(Value::Num(v)) => points.push(*v),
                KeyAlt::Range { low, high } => points.extend(low.iter().chain(high).map(|b| b.value)),
                KeyAlt::Equals(_) => {}
            }
        }
    }
    points.sort();
    points.dedup();
    points
}

/// One value inside each atom, in atom order (interval, point, interval, …, interval).
fn number_representatives(points: &[Decimal]) -> Option<Vec<Value>> {
    let mut out = Vec::with_capacity(points.len() * 2 + 1);
    let Some((&first, _)) = points.split_first() else {
        return Some(vec![Value::Num(Decimal::ZERO)]);
    };
    out.push(Value::Num(first.checked_sub(Decimal::ONE)?));
    for (i, &p) in points.iter().enumerate() {
        out.push(Value::Num(p));
        let above = match points.get(i + 1) {
            Some(&q) => p.checked_add(q)?.checked_div(Decimal::TWO)?,
            None => p.checked_add(Decimal::ONE)?,
        };
        out.push(Value::Num(above));
    }
    Some(out)
}
