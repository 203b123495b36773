"""Turns bench/data/results.tsv and compare.tsv into the results tables (Markdown).

    python report.py results.tsv compare.tsv machine.txt

Times are wall-clock seconds: end to end is the whole process (start-up, reading, computing,
writing), the median of the runs made; compute-only is the best timed pass over rows already
in memory, as each program reports it. Peak RSS is the largest of the runs.
"""

import re
import statistics
import sys
from collections import defaultdict

results_path, compare_path, machine_path = sys.argv[1:4]

runs = defaultdict(list)  # (model, rows, system, mode) -> [(wall, rss_kib, rc, busy, log)]
with open(results_path) as f:
    for line in f:
        model, rows, system, mode, wall, rss, rc, busy, log = line.rstrip("\n").split("\t")
        runs[(model, int(rows), system, mode)].append((float(wall), int(rss or 0), int(rc), int(busy), log))

compares = {}
explain_bytes = {}
explain_rows = {}
compact_bytes = {}
with open(compare_path) as f:
    for line in f:
        model, rows, pair, rest = line.rstrip("\n").split("\t", 3)
        if pair == "explain_bytes":
            explain_bytes[(model, int(rows))] = int(rest or 0)
        elif pair == "explain_rows":
            explain_rows[(model, int(rows))] = int(rest or 0)
        elif pair == "explain_compact_bytes":
            compact_bytes[(model, int(rows))] = int(rest or 0)
        elif pair == "explain_compact_rows":
            pass
        else:
            compares[(model, int(rows), pair)] = dict(kv.split("=", 1) for kv in rest.split() if "=" in kv)


def completed(rc):
    return rc in (0, 1)  # 1: some rows failed (reported per row), the run itself finished


def status(rc):
    if completed(rc):
        return ""
    if rc == 124:
        return "stopped at the time limit"
    if rc > 128:
        return f"killed by signal {rc - 128}"
    return f"exit {rc}"


def last_line(log):
    """The line of a failed run's log that says why (an allocation failure first)."""
    try:
        with open(log) as f:
            lines = [l.strip() for l in f if l.strip()]
    except FileNotFoundError:
        return ""
    for line in lines:
        if "memory allocation" in line or "out of memory" in line.lower():
            return line
    return lines[-1] if lines else ""


def log_text(log):
    try:
        with open(log) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def e2e(model, rows, system, mode="end-to-end"):
    """(median wall, max rss KiB, status, log) of an end-to-end measurement, or None."""
    rs = runs.get((model, rows, system, mode))
    if not rs:
        return None
    done = [r for r in rs if completed(r[2])]
    pick = done or rs
    return statistics.median(r[0] for r in pick), max(r[1] for r in rs), status(pick[0][2]), pick[0][4]


def compute_only(model, rows, system, mode=None):
    """(seconds, rss KiB, status, extra) of a compute-only measurement, parsed from its log."""
    mode = mode or ("compute-only (library)" if system == "covenant" else "compute-only")
    rs = runs.get((model, rows, system, mode))
    if not rs:
        return None
    wall, rss, rc, _, log = rs[0]
    text = log_text(log)
    if system == "covenant":
        m = re.search(r"engine: rows=(\d+) csv=([\d.]+) inputs=([\d.]+) eval1=([\d.]+) eval2=([\d.]+) cells=([\d.]+)", text)
        if not m:
            return None, rss, status(rc) or "no timing line", None
        phases = dict(zip(["csv", "inputs", "eval1", "eval2", "cells"], map(float, m.groups()[1:])))
        return phases["eval1"], rss, status(rc), phases
    m = re.search(r"compute-only: \d+ rows in ([\d.]+) s", text)
    return (float(m.group(1)) if m else None), rss, status(rc) or ("" if m else "no timing line"), None


def rate(rows, seconds):
    if not seconds:
        return "–"
    r = rows / seconds
    return f"{r / 1e6:.2f} M" if r >= 1e6 else f"{r / 1e3:.1f} k"


def mib(kib):
    return f"{kib / 1024:.0f}" if kib >= 10 * 1024 else f"{kib / 1024:.1f}"


def ratio(a, b):
    return f"{a / b:.1f}×" if a and b else "–"


def differences(model, rows, pair, money):
    c = compares.get((model, rows, pair))
    if not c:
        return "not compared"
    if "header_diff" in c:
        return "different header"
    parts = []
    if c.get("missing") != "0" or c.get("extra") != "0":
        parts.append(f"{c['missing']} rows missing, {c['extra']} extra")
    if c.get("failed_diff") != "0":
        parts.append(f"{c['failed_diff']} rows failed differently")
    n = int(c.get("rows", 0)) or 1
    if money:
        for col in money:
            d = int(c.get(f"{col}_diff", 0))
            if d:
                parts.append(f"{col}: {d:,} rows ({100 * d / n:.2f}%) differ, by up to £{c.get(f'{col}_max')}")
        other = int(c.get("rows_diff", 0)) - max([int(c.get(f"{col}_diff", 0)) for col in money] + [0])
        if other > 0:
            parts.append(f"{other} rows differ in other columns")
    elif c.get("rows_diff") != "0":
        parts.append(f"{c['rows_diff']} rows differ ({c['cells']} cells)")
    return "; ".join(parts) if parts else "none (every row identical)"


MONEY = {"suffolk": ["indicative_budget", "moderated_budget"], "housing": ["weekly_cost"]}
TITLE = {"suffolk": "Suffolk personal budget", "housing": "Housing-support tariff"}

with open(machine_path) as f:
    print("Machine and versions:\n")
    for line in f:
        print(f"    {line.rstrip()}")
    print()

for model in ("suffolk", "housing"):
    model_sizes = sorted({k[1] for k in runs if k[0] == model and k[2] == "baseline"})
    for rows in model_sizes:
        cov = e2e(model, rows, "covenant")
        cov1 = e2e(model, rows, "covenant", "end-to-end, 1 thread")
        cov1core = e2e(model, rows, "covenant", "end-to-end, 1 core")
        exp = e2e(model, rows, "covenant", "end-to-end, --explain")
        compact = e2e(model, rows, "covenant", "end-to-end, --explain=compact")
        compiled = e2e(model, rows, "covenant", "end-to-end, --compiled")
        compiled1core = e2e(model, rows, "covenant", "end-to-end, --compiled, 1 core")
        base = e2e(model, rows, "baseline")
        of = e2e(model, rows, "openfisca")
        cov_c = compute_only(model, rows, "covenant")
        base_c = compute_only(model, rows, "baseline")
        of_c = compute_only(model, rows, "openfisca")
        reps = len(runs.get((model, rows, "covenant", "end-to-end"), []))
        print(f"### {TITLE[model]}, {rows:,} rows\n")
        print(f"End to end: median of {reps} run(s). Compute-only: best of 5 passes over rows already in memory (OpenFisca: best of 3).\n")
        print(
            "| System | Mode | Time (s) | Rows/s | Peak RSS (MiB) | Time ÷ hand-written (same mode) "
            "| Time ÷ OpenFisca (same mode) | Differences from Covenant `batch` |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---|")
        money = MONEY[model]

        def row(name, mode, m, kind, pair=None, mon=None):
            if m is None:
                return
            seconds, rss, st = m[0], m[1], m[2]
            shown_time = f"{seconds:.3f}" if seconds else "–"
            if st:
                shown_time = f"{shown_time} ({st})"
            diff = differences(model, rows, pair, mon) if pair else "–"
            b = (base if kind == "e2e" else base_c) or (None,)
            o = (of if kind == "e2e" else of_c) or (None,)
            print(
                f"| {name} | {mode} | {shown_time} | {rate(rows, seconds) if not st else '–'} | {mib(rss)} | "
                f"{ratio(seconds, b[0]) if not st else '–'} | {ratio(seconds, o[0]) if not st else '–'} | {diff} |"
            )

        row("Covenant `batch`", "end to end, 2 threads (default)", cov, "e2e")
        row("Covenant `batch`", "end to end, `--threads 1`", cov1, "e2e", "covenant/covenant-1-thread")
        row("Covenant `batch`", "end to end, one core (pinned)", cov1core, "e2e", "covenant/covenant-1-core")
        row("Covenant `batch --compiled`", "end to end, 2 threads (default)", compiled, "e2e", "covenant/compiled")
        row("Covenant `batch --compiled`", "end to end, one core (pinned)", compiled1core, "e2e", "covenant/compiled-1-core")
        row("Covenant `batch`", "end to end, `--explain` (JSON Lines to disk)", exp, "e2e")
        row("Covenant `batch`", "end to end, `--explain=compact` (JSON Lines to disk)", compact, "e2e")
        if cov_c:
            row("Covenant (library)", "compute-only, 1 thread", (cov_c[0], cov_c[1], cov_c[2]), "c", "covenant/library")
            if cov_c[3]:
                row("Covenant (library)", "compute-only, 2 threads", (cov_c[3]["eval2"], cov_c[1], cov_c[2]), "c")
        cov_n = compute_only(model, rows, "covenant", "compute-only (emit-rust)")
        if cov_n:
            row("Covenant compiled to Rust (`emit-rust`)", "compute-only, 1 thread", (cov_n[0], cov_n[1], cov_n[2]), "c", "covenant/emit-rust")
            if cov_n[3]:
                row("Covenant compiled to Rust (`emit-rust`)", "compute-only, 2 threads", (cov_n[3]["eval2"], cov_n[1], cov_n[2]), "c")
        row("Hand-written Rust", "end to end, 1 thread", base, "e2e", "covenant/baseline")
        row("Hand-written Rust", "compute-only, 1 thread", base_c, "c", "covenant/baseline-compute")
        row("OpenFisca", "end to end", of, "e2e", "covenant/openfisca", money)
        row("OpenFisca", "compute-only", of_c, "c", "covenant/openfisca-compute", money)
        print()
        eb = explain_bytes.get((model, rows), 0)
        er = explain_rows.get((model, rows), 0)
        if exp and exp[2]:
            why = last_line(exp[3]) if not exp[2].startswith("stopped") else ""
            print(f"`--explain` run: {exp[2]}" + (f"; last message: `{why}`" if why else "") + ".", end=" ")
            if er:
                print(
                    f"By then it had written {er:,} of the {rows:,} rows ({er / exp[0]:.0f} rows/s), "
                    f"{eb / 1e9:.2f} GB ({eb / er / 1e3:.1f} kB a row); at that rate all the rows would take "
                    f"{rows / (er / exp[0]) / 60:.0f} minutes and {eb / er * rows / 1e9:.0f} GB.",
                    end="",
                )
            print("\n")
        elif eb and exp:
            print(f"Explanations written: {eb / 1e9:.2f} GB ({eb / rows / 1e3:.1f} kB a row), deleted after timing.\n")
        cb = compact_bytes.get((model, rows), 0)
        if cb and compact and not compact[2]:
            print(f"Compact traces written: {cb / 1e9:.2f} GB ({cb / rows / 1e3:.1f} kB a row), deleted after timing.\n")
        if cov_c and cov_c[3]:
            p = cov_c[3]
            total = p["csv"] + p["inputs"] + p["eval1"] + p["cells"]
            print(
                "Covenant's phases on one thread (library harness): "
                + ", ".join(f"{k} {p[k]:.2f} s ({100 * p[k] / total:.0f}%)" for k in ("csv", "inputs", "eval1", "cells"))
                + ".\n"
            )
        busy = [(k[2], k[3], r[3]) for k, rs in runs.items() if k[0] == model and k[1] == rows for r in rs if r[3] >= 25]
        if busy:
            shown = ", ".join(f"{system} {mode} ({b}%)" for system, mode, b in busy)
            print(f"Started while other work still used the CPU (after waiting 5 minutes): {shown}.\n")

        # Targets from the issue.
        print("| Target (issue 5) | Measured | Met |")
        print("|---|---|---|")

        def target(text, value, ok):
            print(f"| {text} | {value} | {'yes' if ok else 'no'} |")

        if cov and base and not cov[2] and not base[2]:
            r = cov[0] / base[0]
            target("Covenant end to end within 2× of the hand-written program", f"{r:.1f}× slower", r <= 2)
        if compiled and base and not compiled[2] and not base[2]:
            r = compiled[0] / base[0]
            target("Covenant `batch --compiled` end to end within 2× of the hand-written program", f"{r:.2f}×", r <= 2)
        if cov and of and not cov[2] and not of[2]:
            r = of[0] / cov[0]
            target(
                "Covenant at least 2× faster than OpenFisca end to end",
                f"{r:.2f}× ({'faster' if r >= 1 else 'OpenFisca is ' + format(1 / r, '.1f') + '× faster'})",
                r >= 2,
            )
        if cov_c and base_c and cov_c[0] and base_c[0]:
            r = cov_c[0] / base_c[0]
            target("Covenant compute-only within 3× of the hand-written program (1 thread each)", f"{r:.0f}× slower", r <= 3)
        c = compares.get((model, rows, "covenant/baseline"))
        if c:
            ok = all(c.get(k) == "0" for k in ("missing", "extra", "failed_diff", "rows_diff"))
            target("Zero differences from the exact decimal reference", differences(model, rows, "covenant/baseline", None), ok)
        for layout, m in (("", exp), (" (`--explain=compact`)", compact)):
            if not (m and cov):
                continue
            text = f"Explanations for every row{layout} at most 5× the time without"
            if m[2]:
                target(text, f"did not finish ({m[2]})", False)
            else:
                target(text, f"{m[0] / cov[0]:.1f}×", m[0] / cov[0] <= 5)
        if cov:
            target("Peak memory under 64 MiB (without explanations)", f"{mib(cov[1])} MiB", cov[1] < 64 * 1024)
        # One core is the run pinned to one core; without a core to pin it to, `--threads 1`
        # (one worker, though the kernel's file writing may use a second core) stands in.
        one = cov1core or cov1
        if cov and one and not cov[2] and not one[2]:
            r = one[0] / cov[0]
            how = "pinned to one core" if cov1core else "`--threads 1`"
            target("1.7× speed-up from one core to two", f"{r:.2f}× ({how})", r >= 1.7)
        if compiled and compiled1core and not compiled[2] and not compiled1core[2]:
            r = compiled1core[0] / compiled[0]
            target("1.7× speed-up from one core to two, `batch --compiled`", f"{r:.2f}× (pinned to one core)", r >= 1.7)
        print()

    # The small explain sample.
    samples = [k for k in runs if k[0] == model and k[2] == "covenant" and k[3] == "end-to-end" and (model, k[1], "baseline", "end-to-end") not in runs]
    for key in samples:
        rows = key[1]
        plain = e2e(model, rows, "covenant")
        exp = e2e(model, rows, "covenant", "end-to-end, --explain")
        compact = e2e(model, rows, "covenant", "end-to-end, --explain=compact")
        if plain and compact and not compact[2]:
            cb = compact_bytes.get((model, rows), 0)
            print(
                f"{TITLE[model]}, first {rows:,} rows, `--explain=compact`: {compact[0]:.2f} s ({mib(compact[1])} MiB"
                + (f", {cb / rows / 1e3:.1f} kB a row" if cb else "")
                + f"): {compact[0] / plain[0]:.1f}× the time without explanations.\n"
            )
        if plain and exp:
            eb = explain_bytes.get((model, rows), 0)
            note = f", {eb / rows / 1e3:.1f} kB of explanation a row" if eb and not exp[2] else ""
            print(
                f"{TITLE[model]}, first {rows:,} rows: without explanations {plain[0]:.2f} s ({mib(plain[1])} MiB), "
                f"with `--explain` {exp[0]:.2f} s ({mib(exp[1])} MiB{note}){' ' + exp[2] if exp[2] else ''}: "
                f"{exp[0] / plain[0]:.0f}× the time.\n"
            )
