"""``netmem-ffi diff OLD NEW``: compare two layout sets, classify like abidiff, report."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from netmem_ffi.cli.output import EXIT_INPUT, EXIT_USAGE, fail, use_rich

FORMATS = ("text", "json", "junit", "markdown")  # netmem_ffi.report.formats.FORMATS, without importing it


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "diff",
        help="compare two layout sets: snapshots, profiles (v6.19, v6.19@i386) or kernels",
        description="Compare two layout sets member by member. Each side is a snapshot file, a profile "
        "name (optionally @ARCH) or a kernel source (BTF, vmlinux, image). Snapshots are compared pair by "
        "pair (profile@arch). Renames and appended enumerators are reported but do not break the ABI "
        "unless asked. Exit: 0 same or only non-breaking changes, 4 a break, 1 unreadable input, 2 usage.",
    )
    p.add_argument("old", metavar="OLD", help="snapshot file, profile[@arch] or kernel source")
    p.add_argument("new", metavar="NEW", help="snapshot file, profile[@arch] or kernel source")
    p.add_argument("--format", choices=FORMATS, default=None, help="report format (default: text)")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("--renames-break", action="store_true", help="a renamed member is a break")
    p.add_argument("--enum-additions-break", action="store_true", help="an appended enumerator is a break")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE; the verdict goes to stderr")
    p.set_defaults(run=run)


def _print_text(result: Any) -> None:
    from rich.text import Text

    from netmem_ffi.report.formats import text_lines
    from netmem_ffi.cli.output import console

    con = console()
    for line, style in text_lines(result):
        con.print(Text(line, style=style or ""), overflow="ignore", crop=False)


def run(args: argparse.Namespace) -> int:
    from netmem_ffi.abicheck import diff
    from netmem_ffi.report import formats
    from netmem_ffi.errors import NetmemError, UnknownProfileError, UnsupportedArchError

    if args.json and args.format not in (None, "json"):
        return fail(f"--json contradicts --format {args.format}", EXIT_USAGE)
    fmt = "json" if args.json else args.format or "text"
    options = diff.Options(renames_break=args.renames_break, enum_additions_break=args.enum_additions_break)
    sides = []
    for spec in (args.old, args.new):
        try:
            sides.append(diff.load_side(spec))
        except (UnknownProfileError, UnsupportedArchError) as exc:
            return fail(f"{spec}: {exc}", EXIT_USAGE)
        except NetmemError as exc:
            return fail(str(exc), EXIT_INPUT)
    result = diff.diff(sides[0], sides[1], options, old_label=args.old, new_label=args.new)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(formats.render(result, fmt))
        except OSError as exc:
            return fail(f"{args.output}: cannot write report: {exc.strerror or exc}", EXIT_INPUT)
        print(formats.verdict(result), file=sys.stderr)
    elif fmt == "text" and use_rich():
        _print_text(result)
    else:
        sys.stdout.write(formats.render(result, fmt))
    return result.exit_code
