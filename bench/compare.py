"""Compares two benchmark outputs row by row (standard library only).

    python compare.py REFERENCE.csv REF_ERRORS.txt OTHER.csv OTHER_ERRORS.txt [--money COL,...]

Both outputs are in the `covenant batch` layout: a `row` column (the input row number) and
one column per decision; failed rows are absent from the CSV and listed in the errors file
as `row N: ...`. Reported, on the last line, as `key=value` pairs:

- `rows`: rows in the reference output; `missing` / `extra`: rows only in one of them;
- `failed_ref` / `failed_other` / `failed_diff`: failed rows, and rows failed in only one
  (or failed in both for a different table, when the message names one in backticks);
- `cells`: cells that differ as text; `rows_diff`: rows with any differing cell;
- for each money column COL: `COL_diff` (rows whose amounts differ at the penny, or where
  one has a value and the other none) and `COL_max` (the largest difference, in pounds).

Exit 0 when everything matches, 1 otherwise. The first differences are printed above.
"""

import csv
import re
import sys
from decimal import Decimal, InvalidOperation

ROW = re.compile(r"^row (\d+): (.*)$")
NAME = re.compile(r"`([^`]+)`")


def failures(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                m = ROW.match(line.strip())
                if m:
                    names = NAME.findall(m.group(2))
                    out.setdefault(int(m.group(1)), names[0] if names else "")
    except FileNotFoundError:
        pass
    return out


def read(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, {int(r[0]): r[1:] for r in reader}


def money(text):
    try:
        return Decimal(text) if text != "" else None
    except InvalidOperation:
        return None


def main():
    args = sys.argv[1:]
    money_columns = []
    if "--money" in args:
        i = args.index("--money")
        money_columns = [c for c in args[i + 1].split(",") if c]
        del args[i : i + 2]
    ref_csv, ref_err, other_csv, other_err = args
    header, ref = read(ref_csv)
    other_header, other = read(other_csv)
    if header != other_header:
        print(f"different headers: {header} vs {other_header}")
        print("rows=0 header_diff=1")
        return 1
    columns = header[1:]
    money_index = {c: columns.index(c) for c in money_columns if c in columns}

    missing = [r for r in ref if r not in other]
    extra = [r for r in other if r not in ref]
    failed_ref, failed_other = failures(ref_err), failures(other_err)
    failed_diff = sorted(
        r
        for r in set(failed_ref) | set(failed_other)
        if r not in failed_ref or r not in failed_other or failed_ref[r] != failed_other[r]
    )
    cells = rows_diff = 0
    money_diff = {c: 0 for c in money_index}
    money_max = {c: Decimal(0) for c in money_index}
    shown = 0
    for r, a in ref.items():
        b = other.get(r)
        if b is None:
            continue
        if a == b:
            continue
        differing = [i for i, (x, y) in enumerate(zip(a, b)) if x != y] + list(range(min(len(a), len(b)), max(len(a), len(b))))
        real = []
        for i in differing:
            column = columns[i] if i < len(columns) else "?"
            if column in money_index:
                x, y = money(a[i]) if i < len(a) else None, money(b[i]) if i < len(b) else None
                if x == y:
                    continue  # the same amount written differently (e.g. 5.0 and 5.00)
                money_diff[column] += 1
                if x is not None and y is not None:
                    money_max[column] = max(money_max[column], abs(x - y))
            real.append(i)
        if not real:
            continue
        rows_diff += 1
        cells += len(real)
        if shown < 5:
            shown += 1
            print(f"row {r}: " + "; ".join(f"{columns[i]}: {a[i]!r} vs {b[i]!r}" for i in real if i < len(a) and i < len(b)))
    for r in failed_diff[:5]:
        print(f"row {r}: failed as {failed_ref.get(r, '(not failed)')!r} vs {failed_other.get(r, '(not failed)')!r}")
    fields = {
        "rows": len(ref),
        "missing": len(missing),
        "extra": len(extra),
        "failed_ref": len(failed_ref),
        "failed_other": len(failed_other),
        "failed_diff": len(failed_diff),
        "cells": cells,
        "rows_diff": rows_diff,
    }
    for c in money_index:
        fields[f"{c}_diff"] = money_diff[c]
        fields[f"{c}_max"] = money_max[c]
    print(" ".join(f"{k}={v}" for k, v in fields.items()))
    clean = not (missing or extra or failed_diff or rows_diff)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
