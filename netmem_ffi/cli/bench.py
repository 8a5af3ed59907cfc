"""``netmem-ffi bench``: the performance figures of SPEC 8, each a ratio measured in one run."""

from __future__ import annotations

import argparse
import math
import sys


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench",
        help="measure the performance figures (ratios to baselines in the same run)",
        description="Measure get/put_netmem per call against an empty cffi call and ctypes, bulk get/put "
        "against a plain C atomic loop, 2-thread scaling, `check` against pahole, area creation against "
        "memset, and record parsing against struct.unpack_from. Every figure is the median of repeats, "
        "interleaved with its baseline; compare ratios, not absolute times. Nothing is asserted.",
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (CI smoke run)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--only", action="append", metavar="NAME",
                   help="run only this benchmark group (repeatable): calls_niov, calls_page, bulk, threads, "
                   "startup, area, parse, derive, dwarf")
    p.set_defaults(run=run)


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "-"
    return f"{x:,.1f}" if x >= 10 else f"{x:.2f}"


def run(args: argparse.Namespace) -> int:
    from netmem_ffi.bench import Bench, Figure
    from netmem_ffi.cli.output import EXIT_USAGE, console, fail, print_json, use_rich

    bench = Bench(quick=args.quick)
    groups = {n.split("_", 1)[1]: n for n in bench.names()}
    only = None
    if args.only:
        unknown = [o for o in args.only if o not in groups]
        if unknown:
            return fail(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(groups)}", EXIT_USAGE)
        only = [groups[o] for o in args.only]
    selected = only or bench.names()
    figures: list[Figure] = []
    if use_rich(sys.stderr):
        from rich.progress import Progress

        with Progress(console=console(stderr=True), transient=True) as progress:
            task = progress.add_task("benchmarking", total=len(selected))
            for name in sorted(selected):
                progress.update(task, description=f"bench {name.split('_', 1)[1]}")
                figures.extend(bench.run([name]))
                progress.advance(task)
    else:
        for name in sorted(selected):
            print(f"bench {name.split('_', 1)[1]} ...", file=sys.stderr, flush=True)
            figures.extend(bench.run([name]))
    if args.json:
        print_json([f.to_dict() for f in figures])
        return 0
    if not use_rich():
        for f in figures:
            met = "-" if f.met is None else ("met" if f.met else "MISSED")
            print(f"{f.name}: {_fmt(f.value)} {f.unit} vs {f.baseline} {_fmt(f.baseline_value)} -> "
                  f"{_fmt(f.ratio)}x (target {f.target}: {met})" + (f" [{f.note}]" if f.note else ""))
        return 0
    from rich.table import Table

    table = Table(title="netmem-ffi bench" + (" --quick" if args.quick else ""))
    for col in ("figure", "value", "baseline", "ratio", "target", "met"):
        table.add_column(col, overflow="fold")
    for f in figures:
        met = "-" if f.met is None else ("yes" if f.met else "NO")
        table.add_row(f.name + (f"\n[dim]{f.note}[/dim]" if f.note else ""), f"{_fmt(f.value)} {f.unit}",
                      f"{f.baseline}: {_fmt(f.baseline_value)}", f"{_fmt(f.ratio)}x", f.target, met)
    console().print(table)
    return 0
