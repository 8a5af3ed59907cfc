"""Compare two layout sets member by member: the one comparison every report uses.

:func:`compare` yields :class:`Change` records; ``check`` (model vs kernel) and
``diff`` (old vs new) only choose which changes count and how to render them.
Members are matched by name; a member that disappears while another appears
at the same offset with the same size is a rename.  Whether a change breaks the ABI is decided in one place, :class:`Policy`
(abidiff's defaults: a rename, a type spelling change, an enumerator appended
after the existing ones, a struct or enum that appeared are reported but do not
break); :data:`DIFF` is the policy of ``diff`` and ``gate``, :data:`CHECK` that
of ``check`` (model vs kernel).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from netmem_ffi.layout.types import EnumLayout, Field, LayoutSet, StructLayout


class Change(NamedTuple):
    """One difference between an old and a new layout set."""

    kind: str
    container: str  # "struct net_iov" or "enum net_iov_type"
    member: str | None
    old: Any
    new: Any
    breaking: bool
    #: What the change is about, as it was and as it is: ``{offset, size, type}`` for a member,
    #: ``{size, align}`` for a struct, ``{size}`` for an enum, ``{value}`` for an enumerator.
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

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
        """The JSON form: ``old``/``new`` are the structured :attr:`before`/:attr:`after` objects."""
        return {
            "kind": self.kind,
            "container": self.container,
            "member": self.member,
            "old": self.before,
            "new": self.after,
            "breaking": self.breaking,
            "message": self.describe(),
        }

    def key(self) -> tuple[Any, ...]:
        """What makes two changes the same change (on different architectures, say)."""
        return self.kind, self.container, self.member, self.old, self.new, self.breaking


@dataclass(frozen=True)
class Policy:
    """The one answer to "does this change break the ABI?", for every command and report.

    A change arrives with abidiff's default classification in ``breaking`` (set
    by :func:`compare`); the policy may make renames, appended enumerators or
    added structs and enums breaking, and may exempt the size of structs whose
    size depends on the kernel config (``struct page``: MEMCG, KMSAN ...).
    """

    renames_break: bool = False
    enum_additions_break: bool = False
    additions_break: bool = False
    config_dependent_size: frozenset[str] = frozenset()
    config_dependent_members: frozenset[tuple[str, str]] = frozenset()

    def breaking(self, change: Change) -> bool:
        """Whether *change* breaks the ABI under this policy."""
        kind = change.kind
        if kind in ("struct_added", "enum_added"):
            return self.additions_break
        if kind == "member_renamed":
            return self.renames_break
        if kind == "enumerator_added":
            return self.enum_additions_break or change.breaking
        if kind == "struct_size" and change.container in self.config_dependent_size:
            return False
        if kind in ("member_added", "member_removed") and \
                (change.container, change.member) in self.config_dependent_members:
            return False
        return change.breaking


#: ``diff`` and ``gate``: abidiff's defaults.
DIFF = Policy()
#: Members of ``struct page`` that exist or not by kernel config (WANT_PAGE_VIRTUAL/highmem, LAST_CPUPID not in
#: page flags, MEMCG), outside the netmem window: they change its size, never the netmem layout.
PAGE_CONFIG_MEMBERS = ("virtual", "_last_cpupid", "memcg_data")
#: ``check`` (model vs a kernel): whatever the kernel has beyond the model counts; struct page's size and its
#: config-dependent members do not.
CHECK = Policy(additions_break=True, config_dependent_size=frozenset({"struct page"}),
               config_dependent_members=frozenset(("struct page", m) for m in PAGE_CONFIG_MEMBERS))


def _where(field: Any) -> str:
    return f"offset {field.offset}, size {field.size}, {field.type}"


def _member(f: Field | None) -> dict[str, Any] | None:
    return None if f is None else {"offset": f.offset, "size": f.size, "type": f.type}


def _struct(s: StructLayout | None) -> dict[str, Any] | None:
    return None if s is None else {"size": s.size, "align": s.align}


def _enum(e: EnumLayout | None) -> dict[str, Any] | None:
    return None if e is None else {"size": e.size}


def _value(v: int | None) -> dict[str, Any] | None:
    return None if v is None else {"value": v}


def compare_structs(old: StructLayout, new: StructLayout, *, compare_align: bool = True) -> Iterator[Change]:
    """The changes from *old* to *new* of one struct, classified with abidiff's defaults."""
    c = f"struct {new.name}"
    sides = _struct(old), _struct(new)
    if old.size != new.size:
        yield Change("struct_size", c, None, old.size, new.size, True, *sides)
    if compare_align and old.align and new.align and old.align != new.align:
        yield Change("struct_align", c, None, old.align, new.align, True, *sides)
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
                sides = _member(r), _member(a)
                yield Change("member_renamed", c, a.name, r.name, a.name, False, *sides)
                if a.type != r.type:  # renamed and retyped at once (v6.16: __unused_padding -> type)
                    yield Change("member_type", c, a.name, r.type, a.type, False, *sides)
                break
    for name, of in old_by.items():
        nf = new_by.get(name)
        if nf is None:
            if name not in renamed:
                yield Change("member_removed", c, name, _where(of), None, True, _member(of), None)
            continue
        sides = _member(of), _member(nf)
        if of.offset != nf.offset or of.bit_offset != nf.bit_offset:
            yield Change("member_moved", c, name, of.offset, nf.offset, True, *sides)
        if of.size != nf.size or of.bit_size != nf.bit_size:
            yield Change("member_resized", c, name, of.size, nf.size, True, *sides)
        if of.type != nf.type and of.size == nf.size:
            yield Change("member_type", c, name, of.type, nf.type, False, *sides)
    for a in added:
        if a.name not in renamed:
            yield Change("member_added", c, a.name, None, _where(a), True, None, _member(a))


def compare_enums(old: EnumLayout, new: EnumLayout) -> Iterator[Change]:
    """The changes from *old* to *new* of one enum, classified with abidiff's defaults."""
    c = f"enum {new.name}"
    if old.size != new.size:
        yield Change("enum_size", c, None, old.size, new.size, True, _enum(old), _enum(new))
    ov, nv = dict(old.values), dict(new.values)
    for name, value in old.values:
        if name not in nv:
            yield Change("enumerator_removed", c, name, value, None, True, _value(value), None)
        elif nv[name] != value:
            yield Change("enumerator_value", c, name, value, nv[name], True, _value(value), _value(nv[name]))
    old_max = max(ov.values(), default=None)
    for name, value in new.values:
        if name not in ov:
            appended = old_max is None or value > old_max
            yield Change("enumerator_added", c, name, None, value, not appended, None, _value(value))


def _one_sided(kind: str, container: str, old: Any, new: Any, describe: Callable[[Any], Any]) -> Change:
    """A struct or enum present on one side only."""
    size = f"size {(old if new is None else new).size}"
    if new is None:
        return Change(f"{kind}_removed", container, None, size, None, True, describe(old), None)
    return Change(f"{kind}_added", container, None, None, size, True, None, describe(new))


def compare(old: LayoutSet, new: LayoutSet, *, structs: Iterable[str] | None = None,
            compare_align: bool = True, policy: Policy = DIFF) -> list[Change]:
    """Every change from *old* to *new*, structs first, then enums, in a stable order.

    Each change's ``breaking`` is decided by *policy*.
    """
    names = list(structs) if structs is not None else sorted(set(old.structs) | set(new.structs))
    out: list[Change] = []
    for name in names:
        o, n = old.structs.get(name), new.structs.get(name)
        if o is not None and n is not None:
            out.extend(compare_structs(o, n, compare_align=compare_align))
        elif o is not None or n is not None:
            out.append(_one_sided("struct", f"struct {name}", o, n, _struct))
    for name in sorted(set(old.enums) | set(new.enums)):
        oe, ne = old.enums.get(name), new.enums.get(name)
        if oe is not None and ne is not None:
            out.extend(compare_enums(oe, ne))
        else:
            out.append(_one_sided("enum", f"enum {name}", oe, ne, _enum))
    return [c._replace(breaking=policy.breaking(c)) for c in out]
