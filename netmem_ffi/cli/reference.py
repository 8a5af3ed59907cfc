"""The command line described as data, read from the argparse parser.

One walk over :func:`netmem_ffi.cli.build_parser`'s parser gives a tree of
:class:`Command` and :class:`Argument` records; the man page
(:mod:`netmem_ffi.cli.man`), the shell completion scripts
(:mod:`netmem_ffi.cli.completion`) and the documentation site's CLI reference
all render that tree, so an option added to a command's ``add_parser`` appears
in each of them without being written down again.
"""

from __future__ import annotations

import argparse

from netmem_ffi.abi.arches import ARCHES
from netmem_ffi.abi.registry import STRUCTS, names
from netmem_ffi.cli import build_parser
from netmem_ffi.kernel.references import names as reference_names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple

#: Metavars whose values are paths: completed as file names.
FILE_METAVARS = frozenset({"FILE", "SOURCE", "OLD", "NEW", "BASELINE", "DIR", "PATH"})


class Argument(NamedTuple):
    """One option or positional argument of a command."""

    #: Option strings (``("-p", "--profile")``); empty for a positional.
    flags: tuple[str, ...]
    #: What the value is called (``FILE``); ``None`` for a flag that takes no value.
    metavar: str | None
    #: The help text, with ``%(default)s`` and friends expanded.
    help: str
    #: The values argparse accepts, when it restricts them.
    choices: tuple[str, ...]
    #: argparse's ``nargs`` (``None``, ``"?"``, ``"*"``, ``"+"`` or a count).
    nargs: str | int | None
    #: The option may be given more than once (``action="append"``).
    repeatable: bool
    #: The argparse destination (``profile``, ``sources``): what the value means.
    dest: str

    @property
    def positional(self) -> bool:
        return not self.flags

    @property
    def takes_value(self) -> bool:
        return self.metavar is not None

    @property
    def is_file(self) -> bool:
        """The value is a path (by its metavar)."""
        return self.metavar in FILE_METAVARS

    def value_words(self) -> tuple[str, ...]:
        """The words a value can be, where they are known: choices, profiles, architectures, references."""
        if self.choices:
            return self.choices
        if self.dest in ("profile", "old", "new"):
            return names()
        if self.dest == "arch":
            return ARCHES
        if self.dest == "reference":
            return tuple(reference_names())
        if self.dest == "kernel":
            return tuple(f"reference:{name}" for name in reference_names())
        if self.dest == "structs":
            return STRUCTS
        return ()

    def synopsis(self) -> str:
        """The argument as a usage line shows it: ``[--profile P]``, ``[SOURCE ...]``, ``OLD``."""
        if self.positional:
            word = str(self.metavar)
            if self.nargs == "*":
                return f"[{word} ...]"
            if self.nargs == "?":
                return f"[{word}]"
            if self.nargs == "+":
                return f"{word} [{word} ...]"
            return word
        flag = self.flags[-1] if self.flags[-1].startswith("--") else self.flags[0]
        text = f"{flag} {self.metavar}" if self.takes_value else flag
        return f"[{text}]" + (" ..." if self.repeatable else "")


class Command(NamedTuple):
    """A command (the program itself, or one subcommand) and what it takes."""

    #: The words that invoke it: ``("netmem-ffi",)``, ``("netmem-ffi", "check")``.
    path: tuple[str, ...]
    #: The one-line help shown in the command list (the program's: its description).
    summary: str
    description: str
    epilog: str
    arguments: tuple[Argument, ...]
    subcommands: tuple[Command, ...]

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def prog(self) -> str:
        return " ".join(self.path)

    def options(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.arguments if not a.positional)

    def positionals(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.arguments if a.positional)

    def synopsis_words(self) -> list[str]:
        """The usage line in pieces: the command, its options, then its positionals (or ``COMMAND ...``)."""
        words = [self.prog, *(a.synopsis() for a in self.options() if a.dest != "help")]
        if self.subcommands:
            words.append("COMMAND [OPTIONS]")
        return words + [a.synopsis() for a in self.positionals()]

    def synopsis(self) -> str:
        """The usage line as one string."""
        return " ".join(self.synopsis_words())

    def option_words(self) -> tuple[str, ...]:
        """Every option string of the command, in declaration order."""
        return tuple(flag for a in self.options() for flag in a.flags)


def _argument(action: argparse.Action, formatter: argparse.HelpFormatter) -> Argument:
    """The record of one argparse action."""
    takes_value = action.nargs != 0
    if action.metavar is not None:
        metavar: str | None = str(action.metavar)
    elif not takes_value:
        metavar = None
    elif action.choices is not None:
        metavar = "{" + ",".join(str(c) for c in action.choices) + "}"
    else:
        metavar = action.dest.upper() if action.option_strings else action.dest
    help_text = "" if action.help in (None, argparse.SUPPRESS) else formatter._expand_help(action)
    return Argument(
        flags=tuple(action.option_strings),
        metavar=metavar,
        help=" ".join(help_text.split()),
        choices=tuple(str(c) for c in action.choices or ()),
        nargs=action.nargs,
        repeatable=isinstance(action, argparse._AppendAction),
        dest=action.dest,
    )


def describe(parser: argparse.ArgumentParser, path: tuple[str, ...] = (), summary: str = "") -> Command:
    """The :class:`Command` tree of *parser* and its subparsers (hidden arguments left out)."""
    path = path or (parser.prog,)
    formatter = parser._get_formatter()
    arguments: list[Argument] = []
    subcommands: list[Command] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                subcommands.append(describe(sub, (*path, name), helps.get(name, "")))
        elif action.help != argparse.SUPPRESS:
            arguments.append(_argument(action, formatter))
    description = " ".join((parser.description or "").split())
    return Command(
        path=path,
        summary=" ".join(summary.split()) or description,
        description=description,
        epilog=" ".join((parser.epilog or "").split()),
        arguments=tuple(arguments),
        subcommands=tuple(subcommands),
    )


def program() -> Command:
    """The whole ``netmem-ffi`` command line, every subcommand included."""
    return describe(build_parser())
