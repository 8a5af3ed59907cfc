"""pahole-style text of a struct layout: offsets and sizes in comments, holes, padding, cachelines.

The flattened :class:`~netmem_ffi.layout.types.StructLayout` does not keep the
anonymous unions of the declaration, so they are rebuilt from the bytes:
top-level members that overlap form a ``union { ... };`` whose alternatives
are the runs of members in declaration order (a run of several members is an
anonymous ``struct { ... };``), as ``pahole`` prints the kernel's struct page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from netmem_ffi.layout.types import Field, StructLayout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass, field
else:
    from netmem_ffi.abi.record import dataclass, field

_ARRAY_DIMS = re.compile(r"((\[\d*\])+)$")
#: Column where the offset/size comment starts, and the width of top-level
#: type names (pahole's look with 8-column tabs).
COMMENT_COLUMN = 57
TYPE_WIDTH = 26


def _hex(value: int) -> str:
    return f"{value:#x}" if value else "0"


@dataclass
class _Stats:
    """Summary counts of one struct body (top level only, as pahole counts them)."""

    members: int = 0
    sum_members: int = 0
    holes: list[int] = field(default_factory=list)


class _Writer:
    def __init__(self, layout: StructLayout, cacheline: int, hex_offsets: bool) -> None:
        self.layout = layout
        self.cacheline = cacheline
        self.hex = hex_offsets
        self.lines: list[str] = []
        self.next_boundary = cacheline

    def numbers(self, offset: int, size: int) -> str:
        if self.hex:
            return f"/* {_hex(offset):>5} {_hex(size):>5} */"
        return f"/* {offset:5d} {size:5d} */"

    def line(self, depth: int, text: str, offset: int | None = None, size: int | None = None) -> None:
        body = "\t" * depth + text
        if offset is not None and size is not None:
            width = len(body.expandtabs(8))
            body += " " * max(1, COMMENT_COLUMN - width) + self.numbers(offset, size)
        self.lines.append(body)

    def boundary(self, depth: int, offset: int) -> None:
        while offset >= self.next_boundary:
            n = self.next_boundary // self.cacheline
            self.line(depth, f"/* --- cacheline {n} boundary ({self.next_boundary} bytes) --- */")
            self.next_boundary += self.cacheline

    def member(self, depth: int, f: Field) -> None:
        self.boundary(depth, f.offset)
        dims = _ARRAY_DIMS.search(f.type)
        type_text = f.type[: dims.start()] if dims else f.type
        name = f.name + (dims.group(1) if dims else "")
        bits = f":{f.bit_size}" if f.bit_size is not None else ""
        self.line(depth, f"{type_text:<{TYPE_WIDTH if depth == 1 else 0}} {name}{bits};", f.offset, f.size)

    def hole(self, depth: int, size: int, stats: _Stats | None) -> None:
        self.lines.append("")
        self.line(depth, f"/* XXX {size} byte{'s' if size != 1 else ''} hole, try to pack */")
        self.lines.append("")
        if stats is not None:
            stats.holes.append(size)

    def sequence(self, depth: int, fields: Sequence[Field], start: int, stats: _Stats | None) -> int:
        """Members of one scope in offset order, with holes; returns the end offset."""
        cursor = start
        for group in _unions(fields):
            first = min(f.offset for f in group)
            if first > cursor:
                self.hole(depth, first - cursor, stats)
            end = max(f.offset + f.size for f in group)
            if len(group) == 1:
                self.member(depth, group[0])
            else:
                self.union(depth, group, first, end)
            if stats is not None:
                stats.members += 1
                stats.sum_members += end - first
            cursor = max(cursor, end)
        return cursor

    def union(self, depth: int, members: list[Field], start: int, end: int) -> None:
        self.boundary(depth, start)
        self.line(depth, "union {")
        for run in _runs(members):
            if len(run) == 1:
                self.member(depth + 1, run[0])
                continue
            run_start = run[0].offset
            self.line(depth + 1, "struct {")
            run_end = self.sequence(depth + 2, run, run_start, None)
            self.line(depth + 1, "};", run_start, run_end - run_start)
        self.line(depth, "};", start, end - start)


def _unions(fields: Sequence[Field]) -> list[list[Field]]:
    """Members in declaration order, grouped into the anonymous unions they were declared in.

    A member that starts before the end of what came before it goes back into
    an earlier member's bytes: everything from the member it overlaps to here
    was one union.
    """
    groups: list[list[Field]] = []
    for f in fields:
        first = len(groups)
        while first > 0 and f.offset < max(g.offset + g.size for g in groups[first - 1]):
            first -= 1
        merged = [g for group in groups[first:] for g in group] + [f]
        groups[first:] = [merged]
    return groups


def _runs(members: list[Field]) -> list[list[Field]]:
    """Alternatives of a union: consecutive members (declaration order) that do not overlap."""
    runs: list[list[Field]] = []
    end = None
    for f in members:
        if end is None or f.offset < end:
            runs.append([f])
        else:
            runs[-1].append(f)
        end = f.offset + f.size
    return runs


def struct_text(layout: StructLayout, *, cacheline: int = 64, hex_offsets: bool = False) -> str:
    """``pahole``-style text of one struct: members, holes, cacheline boundaries and the summary block."""
    w = _Writer(layout, cacheline, hex_offsets)
    w.line(0, f"struct {layout.name} {{")
    stats = _Stats()
    end = w.sequence(1, layout.top_level(), 0, stats)
    w.lines.append("")
    cachelines = -(-layout.size // cacheline)
    w.line(1, f"/* size: {layout.size}, cachelines: {cachelines}, members: {stats.members} */")
    if stats.holes:
        w.line(1, f"/* sum members: {stats.sum_members}, holes: {len(stats.holes)}, "
                  f"sum holes: {sum(stats.holes)} */")
    if layout.size > end:
        w.line(1, f"/* padding: {layout.size - end} */")
    if layout.size % cacheline:
        w.line(1, f"/* last cacheline: {layout.size % cacheline} bytes */")
    w.line(0, "};")
    return "\n".join(w.lines) + "\n"
