"""``netmem-ffi snapshot``: write a versioned JSON snapshot of profiles x architectures."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from netmem_ffi.cli.output import EXIT_INPUT, EXIT_OK, EXIT_USAGE, fail, print_json


def split_names(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated option values as one list (None when not given)."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "snapshot",
        help="write a versioned JSON snapshot of chosen profiles x architectures",
        description="Write the model layouts of the chosen profiles on the chosen architectures as a "
        "versioned JSON snapshot (stable ordering, no timestamps), the baseline of `netmem-ffi diff` "
        "and the pytest plugin. Default: every profile on the host.",
    )
    p.add_argument("--profile", action="append", metavar="P", help="profile (repeatable or comma-separated)")
    p.add_argument("--arch", action="append", metavar="A", help="architecture (repeatable or comma-separated)")
    p.add_argument("--all-arches", action="store_true", help="every architecture the layout engine models")
    p.add_argument("-o", "--output", metavar="FILE", help="write the snapshot to FILE (default: stdout)")
    p.add_argument("--json", action="store_true", help="with -o: print a JSON summary instead of a line")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from netmem_ffi.abi.arches import ARCHES
    from netmem_ffi.abicheck import snapshot
    from netmem_ffi.errors import NetmemError, SnapshotError, UnknownProfileError, UnsupportedArchError

    arches = split_names(args.arch)
    if args.all_arches:
        if arches:
            return fail("--arch and --all-arches exclude each other", EXIT_USAGE)
        arches = list(ARCHES)
    try:
        snap = snapshot.take(split_names(args.profile), arches)
    except (UnknownProfileError, UnsupportedArchError) as exc:
        return fail(str(exc), EXIT_USAGE)
    except NetmemError as exc:
        return fail(str(exc), EXIT_INPUT)
    if not args.output:
        sys.stdout.write(snap.dumps())
        return EXIT_OK
    try:
        snapshot.dump(snap, args.output)
    except SnapshotError as exc:
        return fail(str(exc), EXIT_INPUT)
    if args.json:
        print_json({"path": args.output, "schema": snap.schema, "pairs": list(snap.keys())})
    else:
        written = [dict.fromkeys(names) for names in zip(*((str(ls.profile), ls.arch) for ls in snap.layouts))]
        print(f"wrote {args.output}: schema {snap.schema}, {len(snap.layouts)} layout sets "
              f"(profiles {', '.join(written[0])}; arches {', '.join(written[1])})")
    return EXIT_OK
