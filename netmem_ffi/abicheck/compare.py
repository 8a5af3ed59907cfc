"""Compare two layout sets member by member: the one comparison every report uses.

:func:`compare` yields :class:`Change` records; ``check`` (model vs kernel) and
``diff`` (old vs new) only choose which changes count and how to render them.
Members are matched by name; a member that disappears while another appears
at the same offset with the same size is a rename.  Classification follows
abidiff: a rename, a type spelling change, or an enumerator appended after the
existing ones is reported but is not a layout break (``breaking=False``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from netmem_ffi.layout.types import EnumLayout, LayoutSet, StructLayout

#: Change kinds, in the order reports list them.
KINDS = (
    "struct_removed",
    "struct_added",
    "struct_size",
    "struct_align",
    "member_moved",
    "member_resized",
    "member_removed",
    "member_added",
    "member_renamed",
    "member_type",
    "enum_removed",
    "enum_added",
    "enum_size",
    "enumerator_value",
    "enumerator_removed",
    "enumerator_added",
)


class Change(NamedTuple):
    """One difference between an old and a new layout set."""

    kind: str
    container: str  # "struct net_iov" or "enum net_iov_type"
    member: str | None
    old: Any
    new: Any
    breaking: bool

    def describe(self) -> str:
        where = self.container + (f".{self.member}" if self.member else "")
        k = self.kind
        if k == "member_moved":
            return f"{where}: moved from offset {self.old} to {self.new}"
        if k == "member_resized":
            return f"{where}: size {self.old} -> {self.new}"
        if k == "member_renamed":
            return f"{self.container}: member {self.old} renamed to {self.new} (same offset and size)"
        if k == "member_type":
            return f"{where}: type {self.old!r} -> {self.new!r}"
        if k in ("member_removed", "struct_removed", "enum_removed", "enumerator_removed"):
            return f"{where}: removed (was {self.old})"
        if k in ("member_added", "struct_added", "enum_added", "enumerator_added"):
            return f"{where}: added ({self.new})"
        if k in ("struct_size", "enum_size"):
            return f"{where}: size {self.old} -> {self.new}"
        if k == "struct_align":
            return f"{where}: alignment {self.old} -> {self.new}"
        if k == "enumerator_value":
            return f"{where}: value {self.old} -> {self.new}"
        return f"{where}: {k} {self.old} -> {self.new}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "container": self.container,
            "member": self.member,
            "old": self.old,
            "new": self.new,
            "breaking": self.breaking,
            "message": self.describe(),
        }


def _where(field: Any) -> str:
    return f"offset {field.offset}, size {field.size}, {field.type}"


def compare_structs(old: StructLayout, new: StructLayout, *, compare_align: bool = True) -> Iterator[Change]:
    c = f"struct {new.name}"
    if old.size != new.size:
        yield Change("struct_size", c, None, old.size, new.size, True)
    if compare_align and old.align and new.align and old.align != new.align:
        yield Change("struct_align", c, None, old.align, new.align, True)
    old_by = {f.name: f for f in old.fields}
    new_by = {f.name: f for f in new.fields}
    removed = [f for f in old.fields if f.name not in new_by]
    added = [f for f in new.fields if f.name not in old_by]
    renamed: set[str] = set()
    for r in removed:
        for a in added:
            if a.name not in renamed and (a.offset, a.size) == (r.offset, r.size) and "." not in a.name + r.name:
                renamed.add(a.name)
                renamed.add(r.name)
                yield Change("member_renamed", c, a.name, r.name, a.name, False)
                break
    for name, of in old_by.items():
        nf = new_by.get(name)
        if nf is None:
            if name not in renamed:
                yield Change("member_removed", c, name, _where(of), None, True)
            continue
        if of.offset != nf.offset or of.bit_offset != nf.bit_offset:
            yield Change("member_moved", c, name, of.offset, nf.offset, True)
        if of.size != nf.size or of.bit_size != nf.bit_size:
            yield Change("member_resized", c, name, of.size, nf.size, True)
        if of.type != nf.type and of.size == nf.size:
            yield Change("member_type", c, name, of.type, nf.type, False)
    for a in added:
        if a.name not in renamed:
            yield Change("member_added", c, a.name, None, _where(a), True)


def compare_enums(old: EnumLayout, new: EnumLayout) -> Iterator[Change]:
    c = f"enum {new.name}"
    if old.size != new.size:
        yield Change("enum_size", c, None, old.size, new.size, True)
    ov, nv = dict(old.values), dict(new.values)
    for name, value in old.values:
        if name not in nv:
            yield Change("enumerator_removed", c, name, value, None, True)
        elif nv[name] != value:
            yield Change("enumerator_value", c, name, value, nv[name], True)
    old_max = max(ov.values(), default=None)
    for name, value in new.values:
        if name not in ov:
            appended = old_max is None or value > old_max
            yield Change("enumerator_added", c, name, None, value, not appended)


def compare(old: LayoutSet, new: LayoutSet, *, structs: Iterable[str] | None = None,
            compare_align: bool = True) -> list[Change]:
    """Every change from *old* to *new*, structs first, then enums, in a stable order."""
    names = list(structs) if structs is not None else sorted(set(old.structs) | set(new.structs))
    out: list[Change] = []
    for name in names:
        o, n = old.structs.get(name), new.structs.get(name)
        if o is not None and n is not None:
            out.extend(compare_structs(o, n, compare_align=compare_align))
        elif n is not None:
            out.append(Change("struct_added", f"struct {name}", None, None, f"size {n.size}", True))
        elif o is not None:
            out.append(Change("struct_removed", f"struct {name}", None, f"size {o.size}", None, True))
    for name in sorted(set(old.enums) | set(new.enums)):
        oe, ne = old.enums.get(name), new.enums.get(name)
        if oe is not None and ne is not None:
            out.extend(compare_enums(oe, ne))
        elif ne is not None:
            out.append(Change("enum_added", f"enum {name}", None, None, f"size {ne.size}", True))
        elif oe is not None:
            out.append(Change("enum_removed", f"enum {name}", None, f"size {oe.size}", None, True))
    return out
