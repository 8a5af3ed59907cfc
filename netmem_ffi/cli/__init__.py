"""``netmem-ffi``: the command line.  Thin: parse, call the library, render.

Each command lives in ``netmem_ffi/cli/<command>.py`` with two functions:
``add_parser(subparsers)`` (declare arguments; keep imports light so that
``--help`` and ``check --json`` start fast) and ``run(args) -> int`` (the exit
code).  Exit codes are abidiff's bit mask, defined once in
:mod:`netmem_ffi.abicheck.verdict`: 0 same/matches, bit 1 an input could not
be read, 3 usage error (argparse's included), bit 4 a layout differs, bit 8
the difference is incompatible (12); several inputs OR their bits.
``--color`` (before or after the command), ``NO_COLOR`` and ``FORCE_COLOR`` are
decided in :func:`netmem_ffi.cli.output.color_mode`; ``--profile`` values that
are kernel releases are mapped to their generation here, once, for every command.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from netmem_ffi.cli import output
from netmem_ffi.cli.output import (
    COLOR_HELP,
    COLOR_MODES,
    EXIT_INPUT,
    EXIT_TABLE,
    EXIT_USAGE,
    fail,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

COMMANDS = ("check", "layout", "profiles", "snapshot", "diff", "gate", "derive", "bench")
#: Commands that render the whole parser (shell completion, the man page).
RENDERERS = ("completion", "man")


def terminal_columns() -> int:
    """The width help is formatted to, as ``shutil.get_terminal_size`` documents it: ``COLUMNS`` when it is
    a positive number, else the width of the terminal on standard output, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns or 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, told its width (:func:`terminal_columns` less 2, as argparse takes it).

    Left to itself, argparse imports ``shutil`` (and with it ``bz2``, ``lzma``,
    ``fnmatch``: ~2.5 ms) for the width at the first ``add_argument`` of every start.
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, terminal_columns() - 2 if width is None else width)


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` with :class:`HelpFormatter`; its subcommands' parsers are of this class too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser(commands: Sequence[str] = COMMANDS) -> argparse.ArgumentParser:
    """The parser, with the subcommands *commands* (all of them for help and usage errors)."""
    parser = ArgumentParser(
        prog="netmem-ffi",
        description="Cross-check, model and gate the Linux kernel's netmem ABI "
        "(struct netmem_desc, net_iov, net_iov_area, netmem_ref).",
        epilog=EXIT_TABLE,
    )
    from netmem_ffi.abi.version import __version__

    parser.add_argument("--version", action="version", version=f"netmem-ffi {__version__}")
    parser.add_argument("--color", choices=COLOR_MODES, default=None, help=COLOR_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # the commands that render this parser (completion, man) come with the whole of it: a command named
    # on the command line is built alone (startup)
    renderers = RENDERERS if set(commands) >= set(COMMANDS) else ()
    for name in (*commands, *renderers):
        module = importlib.import_module(f"{__name__}.{name}")
        module.add_parser(sub)
        # also after the command (`netmem-ffi check --color never`); SUPPRESS keeps a global one given before it
        sub.choices[name].add_argument("--color", choices=COLOR_MODES, default=argparse.SUPPRESS, help=COLOR_HELP)
    return parser


def _command_parser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The parser of *command* (the top parser when there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]  # type: ignore[no-any-return]
    return parser


def _requested(argv: Sequence[str]) -> list[str]:
    """The command named first (after a global ``--color``), else all: unnamed parsers are not built (startup)."""
    argv = list(argv)
    if argv[:1] == ["--color"]:
        argv = argv[2:]
    elif argv and argv[0].startswith("--color="):
        argv = argv[1:]
    if argv and argv[0] in COMMANDS:
        return [argv[0]]
    return list(COMMANDS)


def _resolve_profiles(args: argparse.Namespace) -> None:
    """Map kernel releases given as ``--profile`` to their generation (``6.18`` -> ``v6.17``), in place.

    Every command's ``--profile`` goes through here (one place decides); a list
    option's comma-separated values are split.  Raises UnknownProfileError.
    """
    value = getattr(args, "profile", None)
    if isinstance(value, str):
        args.profile = output.resolve_profile(value)
    elif isinstance(value, list):
        args.profile = [output.resolve_profile(n.strip()) for v in value for n in v.split(",") if n.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_requested(argv))
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # reported by the command's own parser, with its usage (argparse would show the top one)
            _command_parser(parser, getattr(args, "command", None)).error(
                f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # argparse: --help (0) or a usage error (its 2 becomes abidiff's 3)
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USAGE
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    output.set_color(getattr(args, "color", None))
    from netmem_ffi.errors import UnknownProfileError

    try:
        _resolve_profiles(args)
    except UnknownProfileError as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INPUT)
    except BrokenPipeError:
        return 0
