"""``netmem-ffi man``: the manual page, generated from the parser as roff (``man -l`` reads it).

The page is rendered from :func:`netmem_ffi.cli.reference.program`, so every
command and option the parser declares is in it, with the help text the parser
gives.  Output is plain ASCII roff: other characters become ``\\[uXXXX]``
escapes, so groff reads it in any locale.
"""

from __future__ import annotations

import argparse
import sys

from netmem_ffi.abi.version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from netmem_ffi.cli.reference import Argument, Command

#: Sections at the end of the page: what the parser does not say (the input budgets are added from
#: netmem_ffi.layout.budget.LIMITS by :func:`environment`).
ENVIRONMENT = (
    ("NO_COLOR", "When set, terminal output has no colour."),
    ("TERM", "When it is dumb, output is the plain form used when piped."),
    ("XDG_CACHE_HOME", "Where profiles derived from a kernel are cached (default ~/.cache)."),
    ("NETMEM_FFI_CACHE", "Where downloaded Debian kernel packages are cached (default ~/.cache/netmem_ffi)."),
)
SEE_ALSO = "pahole(1), abidiff(1), bpftool(8)"


def environment() -> tuple[tuple[str, str], ...]:
    """The environment variables the program reads and what each does, budgets of hostile input included."""
    # Only when a page is rendered, not on every start.
    from netmem_ffi.layout.budget import LIMITS

    budgets = tuple((limit.env, f"Limit on {limit.what} for one input (default {limit.default}).")
                    for limit in LIMITS.values())
    return ENVIRONMENT + budgets


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "man",
        help="print the manual page (roff), generated from this parser",
        description="Print the netmem-ffi(1) manual page as roff on stdout, generated from the command-line "
        "parser: every command and option, the exit codes and the environment. "
        "Read it with: netmem-ffi man > netmem-ffi.1 && man -l netmem-ffi.1",
    )
    p.set_defaults(run=run)


def escape(text: str) -> str:
    """*text* as roff body text: backslashes, hyphens, leading dots and quotes, non-ASCII escaped."""
    out = text.replace("\\", "\\e").replace("-", "\\-")
    out = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in out)
    return "\\&" + out if out[:1] in (".", "'") else out


def _argument_item(argument: Argument) -> list[str]:
    """A ``.TP`` item: the option strings in bold and the value in italics, then the help."""
    if argument.positional:
        head = f"\\fI{escape(str(argument.metavar))}\\fR"
    else:
        value = f" \\fI{escape(str(argument.metavar))}\\fR" if argument.takes_value else ""
        head = ", ".join(f"\\fB{escape(flag)}\\fR{value}" for flag in argument.flags)
    repeat = argument.repeatable and "repeatable" not in argument.help
    help_text = argument.help + (" (repeatable)" if repeat else "")
    return [".TP", head, escape(help_text)]


def _synopsis(command: Command) -> list[str]:
    """The usage line, the command words in bold; lines break only between arguments."""
    words = [escape(word).replace(" ", "\\ ") for word in command.synopsis_words()[1:]]
    return [".nh", ".ad l", f"\\fB{escape(command.prog)}\\fR " + " ".join(words), ".ad", ".hy"]


def _command_section(command: Command) -> list[str]:
    lines = [f'.SS "{escape(command.prog)}"', *_synopsis(command), ".PP", escape(command.description)]
    for argument in command.arguments:
        lines += _argument_item(argument)
    if command.epilog:
        lines += [".PP", escape(command.epilog)]
    return lines


def render(program: Command, version: str) -> str:
    """The whole page for *program* (the root :class:`Command`) at *version*, as roff text."""
    name = program.prog
    first = program.description.split(". ")[0].rstrip(".")
    lines = [
        f'.TH "{escape(name.upper())}" "1" "" "{escape(name)} {escape(version)}" "User Commands"',
        ".SH NAME",
        f"{escape(name)} \\- {escape(first[:1].lower() + first[1:])}",
        ".SH SYNOPSIS",
        *_synopsis(program),
        ".SH DESCRIPTION",
        escape(program.description),
        ".SH OPTIONS",
    ]
    for argument in program.arguments:
        lines += _argument_item(argument)
    lines += [".SH COMMANDS"]
    for command in program.subcommands:
        lines += [".TP", f"\\fB{escape(command.name)}\\fR", escape(command.summary)]
    for command in program.subcommands:
        lines += _command_section(command)
    if program.epilog:
        lines += [".SH EXIT STATUS", escape(program.epilog)]
    lines += [".SH ENVIRONMENT"]
    for variable, meaning in environment():
        lines += [".TP", f"\\fB{variable}\\fR", escape(meaning)]
    lines += [".SH SEE ALSO", escape(SEE_ALSO)]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    # Here, not at the top: this module is imported on every start, to register its parser.
    from netmem_ffi.cli.reference import program

    sys.stdout.write(render(program(), __version__))
    return 0
