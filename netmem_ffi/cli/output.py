"""Shared CLI rendering: rich on a terminal, plain text when piped, colour policy, JSON, stdin; the exit bits.

The exit bits are :mod:`netmem_ffi.abicheck.verdict`'s (abidiff's), named here as the commands use them.
Colour and rich layout are decided here only (:func:`color_mode`): ``--color`` beats the
environment, ``NO_COLOR`` beats ``FORCE_COLOR``, and ``auto`` means "on a terminal".
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence

from netmem_ffi.abicheck.verdict import CHANGE as EXIT_DIFF
from netmem_ffi.abicheck.verdict import ERROR as EXIT_INPUT
from netmem_ffi.abicheck.verdict import INCOMPATIBLE as EXIT_INCOMPATIBLE
from netmem_ffi.abicheck.verdict import SAME as EXIT_OK
from netmem_ffi.abicheck.verdict import TABLE as EXIT_TABLE
from netmem_ffi.abicheck.verdict import USAGE as EXIT_USAGE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "COLOR_HELP",
    "COLOR_MODES",
    "EXIT_DIFF",
    "EXIT_INCOMPATIBLE",
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_TABLE",
    "EXIT_USAGE",
    "color_mode",
    "console",
    "fail",
    "print_json",
    "print_lines",
    "print_table",
    "resolve_profile",
    "set_color",
    "stdin_file",
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


COLOR_MODES = ("auto", "always", "never")
COLOR_HELP = ("colour and terminal layout: auto (on a terminal only; the default), always (also when piped), "
              "never (no escape sequences at all). --color beats the environment: otherwise a non-empty "
              "NO_COLOR means never, else a non-empty FORCE_COLOR means always")

#: The --color the command line gave (None: decided by the environment).
_color_flag: str | None = None


def set_color(mode: str | None) -> None:
    """Record the ``--color`` of the command line (None: not given)."""
    global _color_flag
    if mode is not None and mode not in COLOR_MODES:
        raise ValueError(f"--color takes {', '.join(COLOR_MODES)}, not {mode!r}")
    _color_flag = mode


def color_mode() -> str:
    """``auto``, ``always`` or ``never``: --color, else NO_COLOR (non-empty), else FORCE_COLOR (non-empty), else auto."""
    if _color_flag is not None:
        return _color_flag
    if os.environ.get("NO_COLOR"):
        return "never"
    if os.environ.get("FORCE_COLOR"):
        return "always"
    return "auto"


def _terminal(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


def use_rich(stream: Any = None) -> bool:
    """Rich layout on a terminal (or forced by ``always``); plain text when piped, on TERM=dumb, or ``never`` piped.

    Only stdout (the report) is forced: live displays on stderr (progress) need a real terminal.
    """
    if stream is None or stream is sys.stdout:
        return color_mode() == "always" or _terminal(sys.stdout)
    return _terminal(stream)


def use_color(stream: Any = None) -> bool:
    """Whether escape sequences (colour, bold) may be written to *stream*: ``always``, or ``auto`` on a terminal."""
    mode = color_mode()
    return mode == "always" or (mode == "auto" and _terminal(stream or sys.stdout))


def console(stderr: bool = False) -> Any:
    """A rich Console following :func:`color_mode`; imported lazily (rich is slow to import)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    colour = use_color(stream)
    return Console(
        file=stream,
        no_color=not colour,
        # rich finds no colours on TERM=dumb; --color always / FORCE_COLOR still mean colour (16 of them)
        color_system=None if not colour else "standard" if os.environ.get("TERM") in ("dumb", "unknown") else "auto",
        force_terminal=use_rich(stream),
        highlight=False,
        soft_wrap=not use_rich(stream),
    )


def print_lines(lines: Iterable[tuple[str, str | None]]) -> None:
    """Print (text, style) lines: the same words everywhere; a rich console adds the styles only.

    Long lines are never cut or re-wrapped by the program (the terminal folds them), so
    every name and number stays whole at any width.
    """
    if not use_rich():
        for text, _ in lines:
            print(text)
        return
    from rich.text import Text

    con = console()
    for text, style in lines:
        con.print(Text(text, style=style or ""), soft_wrap=True)


def table_lines(title: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                styles: Sequence[str | None] = (), indent: str = "  ") -> list[tuple[str, str | None]]:
    """A titled table as plain aligned (text, style) lines: title, header, one line per row."""
    from netmem_ffi.report.formats import STYLE_HEAD, table

    text = table(header, rows, indent)
    return [(title, STYLE_HEAD), (text[0], STYLE_HEAD),
            *zip(text[1:], [*styles, *[None] * (len(rows) - len(styles))])]


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                styles: Sequence[str | None] = (), right: Sequence[int] = ()) -> None:
    """A table: a rich table on a terminal wide enough for every cell whole, else the plain lines.

    Cells are never cut or folded (no "…"): a table that does not fit falls back to
    :func:`table_lines`, whose long lines the terminal folds.
    """
    if not use_rich():
        print_lines(table_lines(title, header, rows, styles))
        return
    from rich.measure import Measurement
    from rich.table import Table

    con = console()
    grid = Table(title=title)
    for i, col in enumerate(header):
        grid.add_column(col, justify="right" if i in right else "left", no_wrap=True, overflow="fold")
    for i, row in enumerate(rows):
        grid.add_row(*row, style=styles[i] if i < len(styles) else None)
    if Measurement.get(con, con.options.update_width(1 << 16), grid).maximum > con.width:
        print_lines(table_lines(title, header, rows, styles))
        return
    con.print(grid)


#: The file name that means stdin (or stdout, for ``-o``).
STDIN = "-"
#: Bytes ``-`` may bring on stdin (a kernel .deb is ~100 MiB; the decompression budget is 1 GiB).
STDIN_LIMIT = 1 << 30


@contextlib.contextmanager
def stdin_file(limit: int | None = None) -> Iterator[str]:
    """Spool stdin (binary) to a temporary file for the duration; yields its path.

    Raises :class:`~netmem_ffi.errors.KernelInputError` naming ``-`` when stdin
    brings more than *limit* bytes (default :data:`STDIN_LIMIT`); the file is
    removed in every case.
    """
    import tempfile  # only here: it costs startup time to every command

    from netmem_ffi.errors import KernelInputError

    limit = STDIN_LIMIT if limit is None else limit
    source = sys.stdin.buffer
    with tempfile.NamedTemporaryFile(prefix="netmem-ffi-stdin-") as tmp:
        total = 0
        for block in iter(lambda: source.read(1 << 20), b""):
            total += len(block)
            if total > limit:
                raise KernelInputError(f"stdin brings more than the {limit} byte input budget", STDIN)
            tmp.write(block)
        tmp.flush()
        yield tmp.name


@contextlib.contextmanager
def stdin_args(names: Sequence[str]) -> Iterator[tuple[list[str], str | None]]:
    """*names* with ``-`` replaced by the path of stdin spooled to a file, and that path (None: no ``-``).

    Raises :class:`~netmem_ffi.errors.NetmemValueError` when ``-`` is named more
    than once (stdin can be read once), :class:`~netmem_ffi.errors.KernelInputError`
    past the stdin budget.
    """
    from netmem_ffi.errors import NetmemValueError

    count = list(names).count(STDIN)
    if count > 1:
        raise NetmemValueError("'-' (stdin) can be named only once", value=STDIN)
    if not count:
        yield list(names), None
        return
    with stdin_file() as path:
        yield [path if n == STDIN else n for n in names], path


def relabel(message: str, path: str | None) -> str:
    """*message* with the spooled stdin file *path* written as ``-`` (what the user named)."""
    return message if path is None else message.replace(path, STDIN)


_shown: set[str] = set()


def resolve_profile(name: str) -> str:
    """The profile *name* means (a kernel release maps to its generation), shown once on stderr when mapped.

    Raises :class:`~netmem_ffi.errors.UnknownProfileError` listing the valid names.
    """
    from netmem_ffi.abi.registry import profile_name

    mapped = profile_name(name)
    if mapped != name and name not in _shown:
        _shown.add(name)
        print(f"netmem-ffi: profile {name} → {mapped} (the ABI generation of kernel {name})", file=sys.stderr)
    return mapped


def write_report(text: str, path: str | None) -> int:
    """Write a report to *path* (stdout when None); ``EXIT_INPUT`` with a one-line error if it cannot be written."""
    if path is None or path == STDIN:
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
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the report to FILE (- for stdout); the verdict goes to stderr")


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

    output = None if output == STDIN else output
    for error in result.errors:
        fail(error.message)
    if result.errors and not result.pairs and output is None and fmt == "text":
        return int(result.exit_code)
    if output is None and fmt == "text":  # the errors are on stderr already: not repeated in the report
        print_lines(formats.text_lines(result, errors=False))
        return int(result.exit_code)
    written = write_report(formats.render(result, fmt), output)
    if written:
        return written | int(result.exit_code)
    if output is not None and not result.errors:
        print(formats.verdict(result), file=sys.stderr)
    return int(result.exit_code)
