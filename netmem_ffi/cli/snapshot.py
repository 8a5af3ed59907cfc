"""``netmem-ffi snapshot``: write a versioned JSON snapshot of profiles x architectures, or of kernels."""

from __future__ import annotations

import argparse
import sys

from netmem_ffi.cli.output import (
    EXIT_INPUT,
    EXIT_OK,
    EXIT_TABLE,
    EXIT_USAGE,
    STDIN,
    fail,
    print_json,
    relabel,
    stdin_args,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def split_names(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated option values as one list (None when not given)."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "snapshot",
        help="write a versioned JSON snapshot of chosen profiles x architectures, or of kernels",
        description="Write the model layouts of the chosen profiles on the chosen architectures, or with "
        "--kernel the layouts of kernels (each labelled with its detected profile and its source), as a "
        "versioned JSON snapshot (stable ordering, no timestamps), the baseline of `netmem-ffi gate`, "
        "`netmem-ffi diff` and the pytest plugin. Default: every profile on the host. Nothing is written "
        "when a kernel cannot be read.",
        epilog=EXIT_TABLE + ".",
    )
    p.add_argument("--kernel", action="append", metavar="SOURCE",
                   help="record this kernel's layouts (repeatable): raw BTF, ELF vmlinux, image, .deb, or - for stdin")
    p.add_argument("--profile", action="append", metavar="P", help="profile (repeatable or comma-separated)")
    p.add_argument("--arch", action="append", metavar="A", help="architecture (repeatable or comma-separated)")
    p.add_argument("--all-arches", action="store_true", help="every architecture the layout engine models")
    p.add_argument("-o", "--output", metavar="FILE", help="write the snapshot to FILE (default, or -: stdout)")
    p.add_argument("--json", action="store_true", help="with -o: print a JSON summary instead of a line")
    p.set_defaults(run=run)


def _kernels(sources: list[str]) -> Any:
    """The snapshot of *sources* (``-``: stdin, recorded as ``-``), or the exit bits after one error line each."""
    from netmem_ffi.abicheck import snapshot
    from netmem_ffi.errors import NetmemError

    sets, code = [], EXIT_OK
    names = list(dict.fromkeys(sources))
    try:
        with stdin_args(names) as (paths, spooled):
            for name, path in zip(names, paths):
                try:
                    layouts = snapshot.read_kernel(path)
                    sets.append(layouts._replace(source=STDIN) if name == STDIN else layouts)
                except NetmemError as exc:
                    code |= fail(relabel(str(exc), spooled), EXIT_INPUT)
    except NetmemError as exc:  # stdin past its budget ('-' is named once: the names are deduplicated)
        return fail(str(exc), EXIT_INPUT)
    return code or snapshot.from_layouts(sets)


def run(args: argparse.Namespace) -> int:
    from netmem_ffi.abi.arches import ARCHES
    from netmem_ffi.abicheck import snapshot
    from netmem_ffi.errors import (
        NetmemError,
        SnapshotError,
        UnknownProfileError,
        UnsupportedArchError,
    )

    arches = split_names(args.arch)
    if args.kernel and (arches or args.all_arches or args.profile):
        return fail("--kernel records kernels; --profile, --arch and --all-arches choose model pairs", EXIT_USAGE)
    if args.all_arches:
        if arches:
            return fail("--arch and --all-arches exclude each other", EXIT_USAGE)
        arches = list(ARCHES)
    try:
        snap = _kernels(args.kernel) if args.kernel else snapshot.take(split_names(args.profile), arches)
    except (UnknownProfileError, UnsupportedArchError) as exc:
        return fail(str(exc), EXIT_USAGE)
    except NetmemError as exc:
        return fail(str(exc), EXIT_INPUT)
    if isinstance(snap, int):
        return snap
    if not args.output or args.output == "-":
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
