"""Renderings of a :class:`~netmem_ffi.abicheck.diff.DiffResult`: text, JSON, JUnit XML, markdown, SARIF, GitHub.

Every format reads the same result; none recomputes a comparison.  An input
that could not be read (:attr:`DiffResult.errors`) appears in every format.

* ``text`` — for a terminal or a CI log: per group of pairs with identical
  changes ("v6.19 -> v7.2 on x86_64, arm64"), the struct and enum changes, and
  for each changed struct a side-by-side member table (old offset/size, new
  offset/size, what happened), so that a swap such as ``owner`` 48→56 /
  ``type`` 56→48 reads in one view.
* ``json`` — :meth:`DiffResult.to_dict` (every pair, ``old``/``new`` as
  ``{offset, size, type}`` objects).
* ``junit`` — one ``<testsuite>`` per (profile, arch) pair, one ``<testcase>``
  per struct and per enum (classnames without dots: Jenkins splits on them); a
  ``<failure>`` carries the breaking changes, ``<system-out>`` the
  non-breaking ones, an ``<error>`` each unreadable input.  Any member name
  gives valid XML (characters XML cannot carry are written as ``\\xNN``).
* ``markdown`` — a pull-request comment: verdict, then per changed group a
  table of the changed members and bullets for struct and enum changes.
* ``sarif`` — SARIF 2.1.0 (:mod:`netmem_ffi.report.sarif`), ``github`` —
  workflow annotations (:mod:`netmem_ffi.report.github`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence

from netmem_ffi.abicheck.compare import Change
from netmem_ffi.abicheck.diff import DiffResult, MemberRow, PairDiff
from netmem_ffi.errors import NetmemValueError
from netmem_ffi.layout.types import Field
from netmem_ffi.report import github, sarif

TYPE_CHECKING = False
if TYPE_CHECKING:
    from xml.etree import ElementTree as ET

FORMATS = ("text", "json", "junit", "markdown", "sarif", "github")

#: Styles of text lines, for a rich console (None: plain).
STYLE_BREAK = "bold red"
STYLE_NOTE = "yellow"
STYLE_OK = "green"
STYLE_HEAD = "bold"


#: What happened to a member, in a few words, per change kind.
_SHORT = {
    "member_moved": "moved {old} {arrow} {new}",
    "member_resized": "resized {old} {arrow} {new}",
    "member_renamed": "renamed {old} {arrow} {new}",
    "member_type": "type {old} {arrow} {new}",
    "member_added": "added",
    "member_removed": "removed",
}


def short(change: Change, arrow: str = "->") -> str:
    """What happened to a member, in a few words (``moved 48 -> 56``); other changes described in full."""
    template = _SHORT.get(change.kind)
    return change.describe() if template is None else template.format(old=change.old, new=change.new, arrow=arrow)


def _place(f: Field | None) -> str:
    return "-" if f is None else f"{f.offset} / {f.size}"


def _row_change(row: MemberRow, arrow: str = "->") -> str:
    return ", ".join(short(c, arrow) for c in row.changes)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def verdict(result: DiffResult) -> str:
    """One line: what the diff found and the exit code it maps to."""
    s = result.summary()
    if result.errors:
        unread = _n(len(result.errors), "input")
        if not result.pairs:
            return f"error: {unread} could not be read (exit {result.exit_code})"
        return f"error: {unread} could not be read; the rest compared (exit {result.exit_code})"
    if result.breaking:
        return (f"layout break: {s['breaking']} breaking of {_n(s['changes'], 'change')} in "
                f"{s['pairs_changed']} of {_n(s['pairs'], 'pair')} (exit {result.exit_code})")
    if result.changed:
        return (f"no layout break: {_n(s['changes'], 'non-breaking change')} in {s['pairs_changed']} of "
                f"{_n(s['pairs'], 'pair')} (exit {result.exit_code})")
    return f"same: {_n(s['pairs'], 'pair')}, no changes (exit {result.exit_code})"


def _struct_head(pair: PairDiff, container: str, arrow: str = "->") -> str:
    name = container.split(" ", 1)[1]
    sizes = [None if s is None or name not in s.structs else s.structs[name].size for s in (pair.old, pair.new)]
    return f"{container} (size {sizes[0] if sizes[0] is not None else '-'} {arrow} " \
           f"{sizes[1] if sizes[1] is not None else '-'})"


def _level_changes(pair: PairDiff, container: str) -> list[Change]:
    """Changes of a container not shown in its member table (struct size, enum changes ...)."""
    shown = container.startswith("struct ") and bool(pair.rows(container[len("struct "):]))
    return [c for c in pair.changes_of(container) if not (shown and c.kind.startswith("member_"))]


_ONE_SIDED = {"added": "only in new (appeared)", "removed": "only in old (disappeared: a break)"}


def _one_sided(pair: PairDiff) -> str:
    return f"{_ONE_SIDED[pair.status]}; {', '.join(pair.containers())}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """*header* and *rows* as aligned text lines (two spaces between columns; cells never cut)."""
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [(indent + fmt.format(*r)).rstrip() for r in (header, *rows)]


def text_lines(result: DiffResult, errors: bool = True) -> Iterator[tuple[str, str | None]]:
    """The text report as (line, rich style) pairs; *errors* False leaves out the unreadable inputs' lines.

    (The CLI prints those on stderr when the report goes to stdout: said once; the verdict line still counts them.)
    """
    yield f"netmem layout diff: {result.old_label} -> {result.new_label}", STYLE_HEAD
    for error in result.errors if errors else ():
        yield f"error: {error.message}", STYLE_BREAK
    same = [p.label for p in result.pairs if p.status == "same"]
    for group in result.groups():
        pair = group.first
        n_break = sum(c.breaking for c in pair.changes)
        yield "", None
        if pair.status in _ONE_SIDED:
            yield f"{group.label}: {_one_sided(pair)}", STYLE_BREAK if n_break else STYLE_NOTE
            continue
        yield f"{group.label}: {_n(len(pair.changes), 'change')}, {n_break} breaking", STYLE_BREAK if n_break else STYLE_NOTE
        for container in pair.containers():
            changes = pair.changes_of(container)
            if not changes:
                continue
            yield f"  {_struct_head(pair, container) if container.startswith('struct ') else container}", STYLE_HEAD
            for c in _level_changes(pair, container):
                yield f"    {'BREAK' if c.breaking else 'note '}  {c.describe()}", STYLE_BREAK if c.breaking else STYLE_NOTE
            rows = pair.rows(container[len("struct "):]) if container.startswith("struct ") else []
            if rows:
                cells = [(r.name, _place(r.old), _place(r.new), _row_change(r),
                          "yes" if any(c.breaking for c in r.changes) else "") for r in rows]
                lines = table(("member", "old off/size", "new off/size", "change", "breaks"), cells, "    ")
                yield lines[0], STYLE_HEAD
                for line, r in zip(lines[1:], rows):
                    style = None if not r.changes else STYLE_BREAK if any(c.breaking for c in r.changes) else STYLE_NOTE
                    yield line, style
    if same:
        yield "", None
        yield f"same: {', '.join(same)}", STYLE_OK
    yield "", None
    yield verdict(result), STYLE_BREAK if result.breaking or result.errors else STYLE_OK


def render_text(result: DiffResult) -> str:
    return "\n".join(line for line, _ in text_lines(result)) + "\n"


def render_json(result: DiffResult) -> str:
    return json.dumps(result.to_dict(), indent=2) + "\n"


#: Characters XML 1.0 cannot carry (C0 controls but tab, CR, LF; surrogates; U+FFFE/U+FFFF), compiled on
#: first use by re's cache: the class spans all of Unicode, and compiling it at import cost every diff
#: and gate start ~10 ms.
_XML_INVALID = "[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"


def _xml_safe(text: str) -> str:
    """*text* with every character XML cannot carry written as ``\\xNN`` (so any member name is valid XML)."""
    return re.sub(_XML_INVALID, lambda m: f"\\x{ord(m.group()):02x}", text)


def _classname(label: str) -> str:
    """A JUnit classname without dots (Jenkins splits classnames on them): ``v6_19@x86_64``."""
    return label.replace(".", "_")


def _junit_pair(root: ET.Element, pair: PairDiff) -> dict[str, int]:
    from xml.etree import ElementTree as ET

    suite = ET.SubElement(root, "testsuite", name=pair.label)
    counts = {"tests": 0, "failures": 0, "errors": 0}
    for container in pair.containers():
        changes = pair.changes_of(container)
        case = ET.SubElement(suite, "testcase", classname=_classname(pair.label), name=container, time="0")
        counts["tests"] += 1
        breaking = [c for c in changes if c.breaking]
        if breaking:
            counts["failures"] += 1
            failure = ET.SubElement(case, "failure", type="layout-break",
                                    message=f"{_n(len(breaking), 'breaking layout change')} in {container}")
            failure.text = "\n".join(c.describe() for c in breaking)
        notes = [c for c in changes if not c.breaking]
        if notes:
            ET.SubElement(case, "system-out").text = "\n".join("note: " + c.describe() for c in notes)
    suite.attrib.update({k: str(v) for k, v in counts.items()}, skipped="0", time="0")
    return counts


def _junit_errors(root: ET.Element, result: DiffResult) -> dict[str, int]:
    from xml.etree import ElementTree as ET

    suite = ET.SubElement(root, "testsuite", name="netmem layout inputs")
    for e in result.errors:
        case = ET.SubElement(suite, "testcase", classname="netmem-layout-inputs", name=e.source, time="0")
        ET.SubElement(case, "error", type="unreadable-input", message=e.message).text = e.message
    counts = {"tests": len(result.errors), "failures": 0, "errors": len(result.errors)}
    suite.attrib.update({k: str(v) for k, v in counts.items()}, skipped="0", time="0")
    return counts


def render_junit(result: DiffResult) -> str:
    """JUnit XML: testsuites > testsuite (a pair; the unreadable inputs) > testcase (a struct or enum) > failure."""
    from xml.etree import ElementTree as ET  # only for JUnit: xml.etree costs diff and check ~3 ms of start-up

    root = ET.Element("testsuites", name=f"netmem layout diff {result.old_label} -> {result.new_label}")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    parts = [_junit_pair(root, pair) for pair in result.pairs]
    if result.errors:
        parts.append(_junit_errors(root, result))
    for counts in parts:
        for k in totals:
            totals[k] += counts[k]
    root.attrib.update({k: str(v) for k, v in totals.items()}, time="0")
    for el in root.iter():
        el.attrib.update({k: _xml_safe(v) for k, v in el.attrib.items()})
        if el.text:
            el.text = _xml_safe(el.text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _md(text: str) -> str:
    """Escape a table cell for GitHub markdown."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else _md(text)


def render_markdown(result: DiffResult) -> str:
    """A pull-request comment: verdict, then per changed pair its tables."""
    icon = ":x:" if result.breaking or result.errors else ":warning:" if result.changed else ":white_check_mark:"
    out = [f"### netmem layout diff: {_code(result.old_label)} → {_code(result.new_label)}", "",
           f"{icon} **{verdict(result)}**", ""]
    out += [f"- :x: {_md(e.message)}" for e in result.errors] + [""] * bool(result.errors)
    for group in result.groups():
        pair = group.first
        out += [f"#### {_code(group.label)}", ""]
        if pair.status in _ONE_SIDED:
            out += [f"{':x:' if pair.breaking else ':information_source:'} {_md(_one_sided(pair))}", ""]
            continue
        for container in pair.containers():
            if not pair.changes_of(container):
                continue
            head = _struct_head(pair, container, "→") if container.startswith("struct ") else container
            out += [f"**{_md(head)}**", ""]
            level = _level_changes(pair, container)
            out += [f"- {':x:' if c.breaking else ':information_source:'} {_md(c.describe())}" for c in level]
            rows = [r for r in pair.rows(container[len("struct "):]) if r.changes] \
                if container.startswith("struct ") else []
            if rows:
                out += [""] * bool(level) + ["| member | old offset / size | new offset / size | change | breaks ABI |",
                        "|---|---:|---:|---|:---:|"]
                out += [f"| {_code(r.name)} | {_place(r.old)} | {_place(r.new)} | {_md(_row_change(r, '→'))} | "
                        f"{':x:' if any(c.breaking for c in r.changes) else ''} |" for r in rows]
            out.append("")
    same = [p.label for p in result.pairs if p.status == "same"]
    if same:
        out += [f"Unchanged: {', '.join(_code(s) for s in same)}", ""]
    return "\n".join(out)


RENDERERS: dict[str, Callable[[DiffResult], str]] = {
    "text": render_text,
    "json": render_json,
    "junit": render_junit,
    "markdown": render_markdown,
    "sarif": sarif.render_sarif,
    "github": github.render_github,
}


def render(result: DiffResult, fmt: str = "text") -> str:
    """*result* in format *fmt* (one of :data:`FORMATS`); :class:`NetmemValueError` for another name."""
    if fmt not in RENDERERS:
        raise NetmemValueError(f"unknown diff format {fmt!r}; choose one of {', '.join(FORMATS)}", value=fmt)
    return RENDERERS[fmt](result)
