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
from netmem_ffi.cli.man import ENVIRONMENT
from netmem_ffi.cli.profiles import rows
from netmem_ffi.cli.reference import Argument, Command, program


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
        section += nodes.literal_block(command.synopsis(), command.synopsis(), language="text")
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
            nodes.literal_block(root.synopsis(), root.synopsis(), language="text"),
            _paragraph(root.description),
            _arguments(root.arguments),
        ]
        if root.epilog:
            out.append(_paragraph(root.epilog))
        environment = nodes.definition_list()
        for variable, meaning in ENVIRONMENT:
            term = nodes.term("", "", nodes.literal(variable, variable))
            environment += nodes.definition_list_item("", term, nodes.definition("", _paragraph(meaning)))
        out += [nodes.rubric("Environment", "Environment"), environment]
        return out + [self._section(command) for command in root.subcommands]


def _row(cells: list[str]) -> nodes.row:
    row = nodes.row()
    for text in cells:
        row += nodes.entry("", _paragraph(text))
    return row


class GenerationsDirective(Directive):
    """The generations of include/net/netmem.h, oldest first, as a table."""

    has_content = False
    HEADER: ClassVar[list[str]] = ["profile", "kernels", "what changed", "struct net_iov", "static asserts", "its kernels lacked",
              "reference kernels"]

    def run(self) -> list[nodes.Node]:
        data = rows()
        group = nodes.tgroup(cols=len(self.HEADER))
        for width in (8, 8, 30, 22, 6, 18, 12):
            group += nodes.colspec(colwidth=width)
        group += nodes.thead("", _row(self.HEADER))
        body = nodes.tbody()
        for r in data:
            enum = f"; enum net_iov_type {r['enum_size']} B" if r["enum_size"] else ""
            summary = "; ".join([str(r["summary"]), *r["notes"]])  # type: ignore[list-item]
            body += _row([
                f"{r['name']} (default)" if r["default"] else str(r["name"]),
                ", ".join(r["kernels"]),  # type: ignore[arg-type]
                summary,
                f"{r['net_iov_size']} B: " + ", ".join(r["net_iov_members"]) + enum,  # type: ignore[arg-type]
                str(r["static_asserts"]),
                ", ".join(r["kernel_lacked"]) or "-",  # type: ignore[arg-type]
                ", ".join(r["references"]) or "-",  # type: ignore[arg-type]
            ])
        group += body
        caption = f"netmem ABI generations; layouts of the model on {host_arch()} (the machine that built this page)"
        table = nodes.table("", nodes.title(caption, caption), group)
        return [table]


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
                lines += [f".. autoclass:: netmem_ffi.{name}", "   :members:", ""]
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
