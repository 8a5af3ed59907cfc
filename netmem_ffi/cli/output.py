"""Shared CLI rendering: rich on a terminal, plain text when piped, NO_COLOR, JSON; the exit bits.

The exit bits are :mod:`netmem_ffi.abicheck.verdict`'s (abidiff's), named here as the commands use them.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from netmem_ffi.abicheck.verdict import CHANGE as EXIT_DIFF
from netmem_ffi.abicheck.verdict import ERROR as EXIT_INPUT
from netmem_ffi.abicheck.verdict import INCOMPATIBLE as EXIT_INCOMPATIBLE
from netmem_ffi.abicheck.verdict import SAME as EXIT_OK
from netmem_ffi.abicheck.verdict import TABLE as EXIT_TABLE
from netmem_ffi.abicheck.verdict import USAGE as EXIT_USAGE

__all__ = [
    "EXIT_DIFF",
    "EXIT_INCOMPATIBLE",
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_TABLE",
    "EXIT_USAGE",
    "console",
    "fail",
    "print_json",
    "use_rich",
    "write_report",
]


def fail(message: str, code: int = EXIT_INPUT) -> int:
    """Print a one-line error (no traceback) and return *code*."""
    print(f"netmem-ffi: error: {message}", file=sys.stderr)
    return code


def print_json(obj: Any) -> None:
    """JSON on stdout: indented on a terminal, compact (the C encoder, much faster) when piped."""
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(obj, indent=indent, default=str) + "\n")  # dumps: one C-encoder pass


def use_rich(stream: Any = None) -> bool:
    """Rich output only on a terminal; plain text when piped (or TERM=dumb)."""
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


def console(stderr: bool = False) -> Any:
    """A rich Console honouring NO_COLOR; imported lazily (rich is slow to import)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(
        file=stream,
        no_color="NO_COLOR" in os.environ,
        force_terminal=use_rich(stream),
        highlight=False,
        soft_wrap=not use_rich(stream),
    )


def write_report(text: str, path: str | None) -> int:
    """Write a report to *path* (stdout when None); ``EXIT_INPUT`` with a one-line error if it cannot be written."""
    if path is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        return fail(f"{path}: cannot write report: {exc.strerror or exc}", EXIT_INPUT)
    return EXIT_OK


#: The report formats of the commands that compare (netmem_ffi.report.formats.FORMATS, without importing it).
FORMATS = ("text", "json", "junit", "markdown", "sarif", "github")


def add_report_args(p: Any) -> None:
    """``--format``, ``--json`` and ``-o`` of a command that reports differences (diff, gate)."""
    p.add_argument("--format", choices=FORMATS, default=None, help="report format (default: text)")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE; the verdict goes to stderr")


def report_format(args: Any) -> str | None:
    """The format asked for; None (after a usage error line) when --json contradicts --format."""
    if args.json and args.format not in (None, "json"):
        fail(f"--json contradicts --format {args.format}", EXIT_USAGE)
        return None
    return "json" if args.json else args.format or "text"


def emit(result: Any, fmt: str, output: str | None) -> int:
    """Report a diff result and return its exit bits.

    Unreadable inputs: one error line each on stderr; the report still goes to
    ``-o`` FILE (with its error elements) or, in a machine format, to stdout.
    Otherwise the report goes to FILE (the verdict to stderr) or stdout (rich text on a terminal).
    """
    from netmem_ffi.report import formats

    for error in result.errors:
        fail(error.message)
    if result.errors and not result.pairs and output is None and fmt == "text":
        return int(result.exit_code)
    if output is None and fmt == "text" and use_rich():
        from rich.text import Text

        con = console()
        for line, style in formats.text_lines(result):
            con.print(Text(line, style=style or ""), overflow="ignore", crop=False)
        return int(result.exit_code)
    written = write_report(formats.render(result, fmt), output)
    if written:
        return written | int(result.exit_code)
    if output is not None and not result.errors:
        print(formats.verdict(result), file=sys.stderr)
    return int(result.exit_code)
