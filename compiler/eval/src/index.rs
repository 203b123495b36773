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
//!
//! A small table also gets a *grid*: the row selected for every combination of atoms, one
//! per column, computed once with the same selection as a scan. A lookup then finds each
//! key's atom and reads the row, testing no key at all. A combination that a `hit unique`
//! table matches twice is marked in the grid and looked up by scanning, so the error is
//! the scan's. Grids are built only while the work to build one (combinations times rows)
//! stays small, so a large table keeps its candidate index.

use crate::ops::{self, Selected, select_among};
use covenant_ir::{Key, KeyAlt, Program, TableDef, TableId, Ty, Value};
use rust_decimal::Decimal;

/// Indexes of every table of a program. Built once; shared by every session (and thread).
#[derive(Debug, Default)]
pub struct Indexes {
    tables: Vec<Option<TableIndex>>,
    grids: Vec<Option<Grid>>,
}

/// What a lookup in a grid found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GridHit {
    /// The row selected (`None`: no row matches).
    Row(Option<usize>),
    /// The grid cannot say (two rows of a `hit unique` table match): scan.
    Scan,
}

/// The selected row for every combination of column atoms (see the module documentation).
#[derive(Debug)]
struct Grid {
    /// Per column: how its value becomes an atom, and the stride of its atoms in `cells`.
    columns: Vec<(Atoms, usize)>,
    /// Per combination of atoms: a row, [`NO_ROW`] or [`SCAN`].
    cells: Vec<u32>,
}

const NO_ROW: u32 = u32::MAX;
const SCAN: u32 = u32::MAX - 1;
/// A grid is built only when combinations × rows stays under this (key tests at build time).
const MAX_GRID_WORK: usize = 1 << 20;

#[derive(Debug)]
struct TableIndex {
    column: usize,
    atoms: Atoms,
    /// Candidate rows per atom, in row order.
    rows: Vec<Vec<u32>>,
}

#[derive(Debug)]
enum Atoms {
    /// One atom per variant index (this many variants).
    Enum(u32),
    Bool,
    /// Every row accepts any value (`_`): one atom.
    Any,
    /// Sorted distinct points; atom `2i` is the interval just below `points[i]`, atom `2i + 1`
    /// the point itself, and atom `2n` the interval above the last point.
    Number(Points),
}

/// A number column's points, and their mantissas when they all have one scale: a key of
/// that scale (a rating against whole-number bounds) is then placed by comparing integers.
#[derive(Debug)]
struct Points {
    points: Vec<Decimal>,
    same_scale: Option<(u32, Vec<i128>)>,
    /// When the points are of one scale and close together (ratings 0-4 as bounds): the atom
    /// of every mantissa from the first point's to the last's, so a key of that scale finds
    /// its atom by one subtraction.
    dense: Option<Dense>,
}

#[derive(Debug)]
struct Dense {
    first: i128,
    last: i128,
    atoms: Box<[u32]>,
}

/// The widest range of mantissas given a dense table of atoms.
const MAX_DENSE_SPAN: i128 = 1024;

impl Points {
    fn new(points: Vec<Decimal>) -> Points {
        let same_scale = match points.first() {
            Some(first) if points.iter().all(|p| p.scale() == first.scale()) => {
                Some((first.scale(), points.iter().map(Decimal::mantissa).collect::<Vec<i128>>()))
            }
            _ => None,
        };
        let mut points = Points { points, same_scale, dense: None };
        if let Some((_, mantissas)) = &points.same_scale
            && let (Some(&first), Some(&last)) = (mantissas.first(), mantissas.last())
            && last - first < MAX_DENSE_SPAN
        {
            let atoms = (first..=last)
                .map(|m| u32::try_from(atom_at(mantissas.binary_search(&m))).unwrap_or(u32::MAX))
                .collect();
            points.dense = Some(Dense { first, last, atoms });
        }
        points
    }

    /// The atom `x` falls in (see [`Atoms::Number`]).
    #[inline]
    fn atom(&self, x: &Decimal) -> usize {
        match &self.same_scale {
            // Mantissas of one scale are in the order of the numbers.
            Some((scale, mantissas)) if x.scale() == *scale => {
                let m = x.mantissa();
                match &self.dense {
                    Some(dense) if m < dense.first => 0,
                    Some(dense) if m > dense.last => 2 * mantissas.len(),
                    Some(dense) => dense.atoms.get((m - dense.first) as usize).map_or(0, |&a| a as usize),
                    None => atom_at(mantissas.binary_search(&m)),
                }
            }
            _ => atom_at(self.points.binary_search_by(|p| ops::num_order(p, x))),
        }
    }
}

/// The atom of a search's result: at point `i` (`Ok(i)`), or just below it (`Err(i)`).
#[inline]
fn atom_at(found: Result<usize, usize>) -> usize {
    match found {
        Ok(i) => 2 * i + 1,
        Err(i) => 2 * i,
    }
}

/// A table is indexed only when the index narrows the search at least this much on average.
const MIN_NARROWING: usize = 4;

impl Indexes {
    pub fn build(program: &Program) -> Indexes {
        Indexes {
            tables: program.tables.iter().map(|t| best_index(program, t)).collect(),
            grids: program.tables.iter().map(|t| grid(program, t)).collect(),
        }
    }

    /// How many combinations of key atoms the table's grid holds, when it has one (see the
    /// module documentation).
    pub fn grid_size(&self, table: TableId) -> Option<usize> {
        Some(self.grids.get(table.index())?.as_ref()?.cells.len())
    }

    /// The row a lookup with these key values selects, read from the table's grid; `None`
    /// when the table has no grid or a value has no atom (then look the row up otherwise).
    #[inline]
    pub(crate) fn grid_row(&self, table: TableId, keys: &[Value]) -> Option<GridHit> {
        let grid = self.grids.get(table.index())?.as_ref()?;
        if keys.len() != grid.columns.len() {
            return None;
        }
        let mut cell = 0;
        for ((atoms, stride), value) in grid.columns.iter().zip(keys) {
            cell += atom(atoms, value)? * stride;
        }
        Some(match *grid.cells.get(cell)? {
            NO_ROW => GridHit::Row(None),
            SCAN => GridHit::Scan,
            row => GridHit::Row(Some(row as usize)),
        })
    }

    /// The rows to test for these key values, or `None` to test every row.
    pub fn candidates(&self, table: TableId, keys: &[Value]) -> Option<&[u32]> {
        let index = self.tables.get(table.index())?.as_ref()?;
        index.rows.get(atom(&index.atoms, keys.get(index.column)?)?).map(Vec::as_slice)
    }
}

/// The atom a key value falls in (`None`: a value of another type, or a variant out of range).
#[inline]
fn atom(atoms: &Atoms, value: &Value) -> Option<usize> {
    match (atoms, value) {
        (Atoms::Enum(count), Value::Enum(i)) => (*i < *count).then_some(*i as usize),
        (Atoms::Bool, Value::Bool(b)) => Some(usize::from(*b)),
        (Atoms::Number(points), Value::Num(x)) => Some(points.atom(x)),
        (Atoms::Any, _) => Some(0),
        _ => None,
    }
}

/// The grid of a table, when it is small enough to build (see [`MAX_GRID_WORK`]).
fn grid(program: &Program, table: &TableDef) -> Option<Grid> {
    let n = table.columns.len();
    if table.rows.iter().any(|row| row.keys.len() != n) {
        return None;
    }
    let mut columns = Vec::with_capacity(n);
    let mut representatives = Vec::with_capacity(n);
    for column in 0..n {
        let (atoms, values) = if table.rows.iter().all(|row| matches!(row.keys[column], Key::Any)) {
            // Any value will do: no row looks at it.
            (Atoms::Any, vec![Value::Bool(false)])
        } else {
            column_atoms(program, table, column)?
        };
        columns.push(atoms);
        representatives.push(values);
    }
    // Strides: the last column varies fastest.
    let mut strides = vec![0; n];
    let mut size = 1usize;
    for column in (0..n).rev() {
        strides[column] = size;
        size = size.checked_mul(representatives[column].len())?;
    }
    if size.checked_mul(table.rows.len().max(1))? > MAX_GRID_WORK {
        return None;
    }
    let mut cells = Vec::with_capacity(size);
    let mut keys: Vec<Value> = representatives.iter().map(|values| values[0].clone()).collect();
    for cell in 0..size {
        for column in 0..n {
            keys[column] = representatives[column][(cell / strides[column]) % representatives[column].len()].clone();
        }
        cells.push(match select_among(table, 0..table.rows.len(), &keys).ok()? {
            Selected::Row(None) => NO_ROW,
            Selected::Row(Some(row)) => u32::try_from(row).ok().filter(|&r| r < SCAN)?,
            Selected::Two(..) => SCAN,
        });
    }
    Some(Grid { columns: columns.into_iter().zip(strides).collect(), cells })
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

/// A column's atoms, and one value inside each atom, in atom order.
fn column_atoms(program: &Program, table: &TableDef, column: usize) -> Option<(Atoms, Vec<Value>)> {
    Some(match &table.columns.get(column)?.1 {
        Ty::Enum(id) => {
            let count = u32::try_from(program.enums.get(id.0 as usize)?.variants.len()).ok()?;
            (Atoms::Enum(count), (0..count).map(Value::Enum).collect())
        }
        Ty::Bool => (Atoms::Bool, vec![Value::Bool(false), Value::Bool(true)]),
        Ty::Num(_) => {
            let points = column_points(table, column);
            let representatives = number_representatives(&points)?;
            (Atoms::Number(Points::new(points)), representatives)
        }
        _ => return None,
    })
}

fn column_index(program: &Program, table: &TableDef, column: usize) -> Option<TableIndex> {
    let (atoms, representatives) = column_atoms(program, table, column)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The atom a number falls in is the same whether the points have a dense table, a
    /// search on mantissas or the general search, for keys of the points' scale and others.
    #[test]
    fn dense_atoms_are_those_a_search_finds() {
        let sets: [&[i64]; 6] = [&[0, 2, 3, 4], &[-5, 7], &[1], &[0, 1023], &[0, 1024], &[-3, 0, 40, 41]];
        for (set, scale) in sets.iter().flat_map(|set| [0, 2].map(|scale| (set, scale))) {
            let points: Vec<Decimal> = set.iter().map(|&p| Decimal::new(p, scale)).collect();
            let dense = Points::new(points.clone());
            assert_eq!(dense.dense.is_some(), set.last().unwrap() - set.first().unwrap() < 1024, "{set:?}");
            for key in (-12..1040).flat_map(|m| [Decimal::new(m, scale), Decimal::new(m, 1), Decimal::new(m, 3)]) {
                let searched = atom_at(points.binary_search_by(|p| ops::num_order(p, &key)));
                assert_eq!(dense.atom(&key), searched, "{key} among {points:?}");
            }
        }
    }
}
