"""GitHub Actions workflow commands for a layout diff: ``::error file=...,title=...::message``.

Printed in a workflow step, each line becomes an annotation on the run (and,
when the old side is a snapshot file, on that file in a pull request's diff).  A breaking change is an
``error``, a non-breaking one a ``notice``, an unreadable input an ``error``;
changes identical on several architectures are annotated once ("on x86_64,
arm64").  Data and properties are escaped as the runner expects (``%``, CR, LF;
and ``:`` and ``,`` in properties).
"""

from __future__ import annotations

from netmem_ffi.abicheck.diff import DiffResult


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (``file=``, ``title=``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, *, title: str, file: str | None = None) -> str:
    """One workflow command line: ``::LEVEL file=F,title=T::MESSAGE``."""
    props = ([f"file={escape_property(file)}"] if file else []) + [f"title={escape_property(title)}"]
    return f"::{level} {','.join(props)}::{escape_data(message)}"


def render_github(result: DiffResult) -> str:
    """One annotation per unreadable input and per change of each group of pairs, then a summary notice."""
    lines = [command("error", e.message, title="netmem layout gate: unreadable input") for e in result.errors]
    for group in result.groups():
        for c in group.first.changes:
            lines.append(command("error" if c.breaking else "notice", f"{group.label}: {c.describe()}",
                                 title=f"netmem layout {'break' if c.breaking else 'change'}: {c.container}",
                                 file=result.old_label if result.old_label.endswith(".json") else None))
    s = result.summary()
    level = "error" if result.breaking or result.errors else "notice"
    lines.append(command(level, f"{s['breaking']} breaking of {s['changes']} changes in {s['pairs_changed']} of "
                         f"{s['pairs']} pairs (exit {result.exit_code})", title="netmem layout gate"))
    return "\n".join(lines) + "\n"
