#!/usr/bin/env python3
"""Gate a repository on a netmem layout baseline: fail CI the moment a layout moves.

Run::

    python examples/layout_gate.py BASELINE.json [--junit FILE] [--markdown FILE]
    python examples/layout_gate.py BASELINE.json --update        # accept the current layouts on purpose

It takes the layouts netmem_ffi models now for every (profile, architecture)
pair the baseline holds (``--profiles`` / ``--arches`` narrow that), diffs
them against the baseline, prints the diff and exits like ``netmem-ffi diff``:
0 same or only non-breaking changes, 4 a layout break, 1 the baseline could
not be read, 2 usage.  ``--junit`` writes a report for the CI's test view,
``--markdown`` one for a pull-request comment; under GitHub Actions the
markdown also goes to the job summary (``$GITHUB_STEP_SUMMARY``).
"""

from __future__ import annotations

import argparse
import os
import sys

from netmem_ffi.abicheck import diff

from netmem_ffi.report import formats

from netmem_ffi.abicheck import snapshot
from netmem_ffi.errors import NetmemError
from netmem_ffi.abi import arches as abi_arches


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("baseline", help="the committed snapshot (netmem-ffi snapshot -o FILE writes one)")
    p.add_argument("--update", action="store_true", help="rewrite the baseline with the current layouts")
    p.add_argument("--profiles", help="comma-separated profiles (default: the baseline's; new: all)")
    p.add_argument("--arches", help="comma-separated architectures (default: the baseline's; new: all)")
    p.add_argument("--renames-break", action="store_true", help="a renamed member is a break")
    p.add_argument("--enum-additions-break", action="store_true", help="an appended enumerator is a break")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report")
    p.add_argument("--markdown", metavar="FILE", help="also write a markdown report")
    return p.parse_args(argv)


def names(value: str | None) -> list[str] | None:
    return [n.strip() for n in value.split(",") if n.strip()] if value else None


def current_for(baseline: str, profiles: list[str] | None, arches: list[str] | None) -> snapshot.Snapshot:
    """The model's layouts now, for the pairs of the baseline (every pair when there is none yet)."""
    if os.path.exists(baseline):
        return snapshot.retake(snapshot.load(baseline), profiles, arches)
    return snapshot.take(profiles, arches or abi_arches.ARCHES)


def write_reports(result: diff.DiffResult, args: argparse.Namespace) -> None:
    targets = [("junit", args.junit), ("markdown", args.markdown)]
    for fmt, path in targets:
        if path:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(formats.render(result, fmt))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(formats.render(result, "markdown"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profiles, arches = names(args.profiles), names(args.arches)
    try:
        if args.update:
            current = current_for(args.baseline, profiles, arches)
            snapshot.dump(current, args.baseline)
            print(f"{args.baseline}: baseline updated ({', '.join(current.keys())})")
            return 0
        baseline = snapshot.load(args.baseline).select(profiles, arches and [abi_arches.normalize_arch(a) for a in arches])
        current = snapshot.retake(baseline, profiles, arches)
        options = diff.Options(renames_break=args.renames_break, enum_additions_break=args.enum_additions_break)
        result = diff.diff(baseline, current, options, old_label=args.baseline, new_label="current model")
        sys.stdout.write(formats.render_text(result))
        write_reports(result, args)
    except (NetmemError, OSError) as exc:
        print(f"layout_gate: error: {exc}", file=sys.stderr)
        return 1
    if result.breaking:
        print(f"\nIf the change is intended: python {sys.argv[0]} {args.baseline} --update", file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
