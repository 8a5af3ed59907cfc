"""Sphinx directives that generate pages from the package itself, so they cannot go stale.

``{netmem-cli}``
    The command-line reference, from :func:`netmem_ffi.cli.reference.program`:
    the same walk over the argparse parser that writes the man page and the
    shell completion scripts.
``{netmem-public-names}``
    autodoc entries for every public name of ``netmem_ffi`` (its ``__all__``)
    except the errors, which :mod:`netmem_ffi.errors` documents.
``{netmem-generations}``
    The ABI generations table, from :func:`netmem_ffi.cli.profiles.rows` (the
    registry and the model's layouts: what ``netmem-ffi profiles --json`` prints).
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

import netmem_ffi
from netmem_ffi import errors
from netmem_ffi.abi.arches import host_arch
from netmem_ffi.cli.man import environment
from netmem_ffi.cli.profiles import rows
from netmem_ffi.cli.reference import Argument, Command, program


def _synopsis(command: Command, width: int = 88) -> nodes.literal_block:
    """The usage line, wrapped between arguments the way argparse wraps it (continuations indented)."""
    words = command.synopsis_words()
    lines = [words[0]]
    indent = " " * (len(command.prog) + 1)
    for word in words[1:]:
        if len(lines[-1]) + 1 + len(word) > width:
            lines.append(indent + word)
        else:
            lines[-1] += " " + word
    text = "\n".join(lines)
    return nodes.literal_block(text, text, language="text")


def _paragraph(text: str) -> nodes.paragraph:
    return nodes.paragraph(text, text)


def _argument_item(argument: Argument) -> nodes.definition_list_item:
    """``--profile P, -p P`` as a term (literal), its help as the definition."""
    term = nodes.term()
    spellings = argument.flags or (str(argument.metavar),)
    for i, flag in enumerate(spellings):
        if i:
            term += nodes.Text(", ")
        term += nodes.literal(flag, flag)
        if argument.takes_value and argument.flags:
            term += nodes.Text(" ")
            term += nodes.emphasis(str(argument.metavar), str(argument.metavar))
    facts = []
    if argument.repeatable:
        facts.append("repeatable")
    if argument.choices:
        facts.append("one of " + ", ".join(argument.choices))
    text = argument.help + (f" ({'; '.join(facts)})" if facts and "repeatable" not in argument.help else "")
    return nodes.definition_list_item("", term, nodes.definition("", _paragraph(text)))


def _arguments(arguments: tuple[Argument, ...]) -> nodes.definition_list:
    listing = nodes.definition_list()
    for argument in arguments:
        listing += _argument_item(argument)
    return listing


class CliDirective(Directive):
    """Every command of ``netmem-ffi``: synopsis, description, arguments, epilog, one section each."""

    has_content = False

    def _section(self, command: Command) -> nodes.section:
        section = nodes.section(ids=[nodes.make_id("command-" + command.prog)], names=[command.prog])
        section += nodes.title(command.prog, "", nodes.literal(command.prog, command.prog))
        section += _synopsis(command)
        section += _paragraph(command.description)
        if command.arguments:
            section += _arguments(command.arguments)
        if command.epilog:
            section += _paragraph(command.epilog)
        self.state.document.note_implicit_target(section, section)
        return section

    def run(self) -> list[nodes.Node]:
        root = program()
        out: list[nodes.Node] = [
            _synopsis(root),
            _paragraph(root.description),
            _arguments(root.arguments),
        ]
        if root.epilog:
            out.append(_paragraph(root.epilog))
        variables = nodes.definition_list()
        for variable, meaning in environment():
            term = nodes.term("", "", nodes.literal(variable, variable))
            variables += nodes.definition_list_item("", term, nodes.definition("", _paragraph(meaning)))
        out += [nodes.rubric("Environment", "Environment"), variables]
        return out + [self._section(command) for command in root.subcommands]


def _row(cells: list[str]) -> nodes.row:
    row = nodes.row()
    for text in cells:
        row += nodes.entry("", _paragraph(text))
    return row


class GenerationsDirective(Directive):
    """The generations of include/net/netmem.h, oldest first: a layout table, then what each lacked."""

    has_content = False
    HEADER: ClassVar[list[str]] = ["profile", "kernels", "struct net_iov", "static asserts", "what changed"]

    def _table(self, data: list[dict[str, Any]]) -> nodes.table:
        group = nodes.tgroup(cols=len(self.HEADER))
        for width in (9, 9, 30, 7, 45):
            group += nodes.colspec(colwidth=width)
        group += nodes.thead("", _row(self.HEADER))
        body = nodes.tbody()
        for r in data:
            enum = f"; enum net_iov_type {r['enum_size']} B" if r["enum_size"] else ""
            body += _row([
                f"{r['name']} (default)" if r["default"] else r["name"],
                ", ".join(r["kernels"]),
                f"{r['net_iov_size']} B: " + ", ".join(r["net_iov_members"]) + enum,
                str(r["static_asserts"]),
                r["summary"],
            ])
        group += body
        caption = f"netmem ABI generations; the model's layouts on {host_arch()} (the machine that built this page)"
        return nodes.table("", nodes.title(caption, caption), group)

    def _details(self, data: list[dict[str, Any]]) -> nodes.definition_list:
        listing = nodes.definition_list()
        for r in data:
            facts = nodes.bullet_list()
            lines = [f"its kernels lacked: {', '.join(r['kernel_lacked'])}"] if r["kernel_lacked"] else []
            lines += [f"note: {note}" for note in r["notes"]]
            lines.append(f"reference kernels shipped: {', '.join(r['references']) or 'none'}")
            for line in lines:
                facts += nodes.list_item("", _paragraph(line))
            term = nodes.term("", "", nodes.literal(r["name"], r["name"]))
            listing += nodes.definition_list_item("", term, nodes.definition("", facts))
        return listing

    def run(self) -> list[nodes.Node]:
        data = rows()
        heading = "What each generation's kernels lacked, notes, reference kernels"
        return [self._table(data), nodes.rubric(heading, heading), self._details(data)]


class PublicNamesDirective(SphinxDirective):
    """``autoclass`` / ``autofunction`` / ``autodata`` for each name of ``netmem_ffi.__all__`` (MyST pages only)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        lines = ["```{eval-rst}"]
        for name in netmem_ffi.__all__:
            if name.startswith("_") or name in errors.__all__:
                continue
            value = getattr(netmem_ffi, name)
            if inspect.isclass(value):
                # a member that is itself a public name (Profile.NetIov) is documented once, at the top
                again = sorted(set(vars(value)) & set(netmem_ffi.__all__))
                lines += [f".. autoclass:: netmem_ffi.{name}", "   :members:"]
                lines += [f"   :exclude-members: {', '.join(again)}"] if again else []
                lines.append("")
            elif callable(value):
                lines += [f".. autofunction:: netmem_ffi.{name}", ""]
            else:  # a constant: its value, not the docstring of its type
                lines += [f".. py:data:: {name}", "   :module: netmem_ffi", f"   :value: {value!r}", ""]
        lines.append("```")
        container = nodes.section()
        self.state.nested_parse(StringList(lines, source="netmem_ffi.__all__"), self.content_offset, container)
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("netmem-cli", CliDirective)
    app.add_directive("netmem-generations", GenerationsDirective)
    app.add_directive("netmem-public-names", PublicNamesDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
