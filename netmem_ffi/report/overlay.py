"""The overlay of struct page, struct netmem_desc and struct net_iov: which bytes alias which.

netmem works because ``struct net_iov`` (and from 6.17 ``struct netmem_desc``)
repeats the page_pool words of ``struct page`` at the same offsets (docs 6.1).
:func:`overlay` cuts the three structs at every member boundary and says, for
each byte range, which member of each struct sits there; ``mirrored`` tells
whether the net_iov member is the page's own field (the aliasing the kernel's
static asserts pin) or something else that happens to share the bytes
(``owner`` over ``mapping`` in 6.12-6.16, ``type``/``owner`` past the window).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from itertools import pairwise

from netmem_ffi.abi import registry
from netmem_ffi.layout.types import Field, StructLayout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any
else:
    from netmem_ffi.abi.record import dataclass

#: The structs of the overlay, left to right.
COLUMNS = ("page", "netmem_desc", "net_iov")
#: The cell of bytes covered only by members an overlay does not name.
OTHER_MEMBERS = "(other members)"


@dataclass(frozen=True)
class OverlayRow:
    """One byte range and, per struct, the member(s) there ("" past the struct's end)."""

    offset: int
    size: int
    cells: Mapping[str, str]
    mirrored: bool | None  # None where net_iov has no member or the page none

    def to_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "size": self.size, **self.cells, "mirrored": self.mirrored}


def leaves(layout: StructLayout) -> list[Field]:
    """The members that are not expanded into others (``desc`` is not one; ``desc.pp`` is)."""
    return [f for f in layout.fields if not any(g.name.startswith(f.name + ".") for g in layout.fields)]


def identity(name: str) -> str:
    """The field a member is, whatever struct holds it: ``desc.pp`` and page's ``pp`` are ``pp``;
    netmem_desc's ``_flags`` is page's ``flags`` (:data:`registry.PAGE_MIRROR`)."""
    base = name.rsplit(".", 1)[-1]
    return registry.PAGE_MIRROR.get(base, base)


def _cell(layout: StructLayout, leaves: list[Field], start: int, end: int,
          shown: Collection[str] | None = None) -> tuple[str, set[str]]:
    """Label of the members covering [start, end) and their page-side names.

    Only members in *shown* (all when None) are named; bytes that only others
    cover are "(other members)".
    """
    names, bases, others = [], set(), False
    for f in leaves:
        if f.offset < end and start < f.offset + f.size:
            if shown is not None and f.name not in shown:
                others = True
                continue
            names.append(f.name if f.offset == start else f"{f.name}+{start - f.offset}")
            bases.add(identity(f.name))
    if names:
        return " / ".join(names), bases
    if others:
        return OTHER_MEMBERS, bases
    if start >= layout.size:
        return "", bases
    last = max((f.offset + f.size for f in leaves), default=0)
    return ("(padding)" if start >= last else "(hole)"), bases


def overlay(structs: Mapping[str, StructLayout],
            shown: Mapping[str, Collection[str]] | None = None) -> list[OverlayRow]:
    """Rows of the page / netmem_desc / net_iov overlay over the largest of the three.

    *structs* maps struct names to layouts (``engine.struct_layouts`` or a
    LayoutSet's ``structs``); the structs of :data:`COLUMNS` that are present
    become columns.  *shown* limits, per struct, the members named in its cells
    (a kernel's full ``struct page`` has a dozen union alternatives netmem never
    touches); bytes only the others cover read "(other members)".  Raises
    ``KeyError`` when ``page`` or ``net_iov`` is missing.
    """
    shown = shown or {}
    present = {name: structs[name] for name in COLUMNS if name in structs}
    for required in ("page", "net_iov"):
        if required not in present:
            raise KeyError(f"the overlay needs struct {required}")
    members = {name: leaves(layout) for name, layout in present.items()}
    total = max(layout.size for layout in present.values())
    cuts = {0, total}
    for name, layout in present.items():
        cuts.add(layout.size)
        for f in members[name]:
            if name not in shown or f.name in shown[name]:
                cuts.update((f.offset, f.offset + f.size))
    bounds = sorted(c for c in cuts if c <= total)
    rows = []
    for start, end in pairwise(bounds):
        cells, bases = {}, {}
        for name, layout in present.items():
            cells[name], bases[name] = _cell(layout, members[name], start, end, shown.get(name))
        niov, page = bases["net_iov"], bases["page"]
        mirrored = bool(niov & page) if niov and page else None
        rows.append(OverlayRow(start, end - start, cells, mirrored))
    return rows


def overlay_text(rows: list[OverlayRow], *, hex_offsets: bool = False) -> str:
    """The overlay as a plain, aligned text table (one line per byte range)."""
    columns = [c for c in COLUMNS if c in rows[0].cells] if rows else []
    header = ["bytes", *columns, "aliases page"]
    table = [header]
    for row in rows:
        span = f"{row.offset:#x}-{row.offset + row.size - 1:#x}" if hex_offsets else \
            f"{row.offset}-{row.offset + row.size - 1}"
        verdict = {True: "yes", False: "NO", None: "-"}[row.mirrored]
        table.append([span, *(row.cells[c] or "-" for c in columns), verdict])
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table) + "\n"
