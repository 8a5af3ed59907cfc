"""Layouts as data: the one type every source produces and every consumer reads.

A :class:`StructLayout` is a struct's name, size, alignment and its members in
declaration order, flattened the way ``pahole -E`` shows them:

* members of anonymous structs and unions keep their own names (``pp_magic``);
* a named member whose type is a struct or union is listed itself and then
  expanded with dotted names (``desc``, ``desc._flags``, ``desc.pp`` ...),
  except for the kernel's wrapper types in :data:`LEAF_TYPES`
  (``atomic_long_t`` stays one member, not ``pp_ref_count.counter``).

Sources (the compiled cffi module, the portable engine, a kernel's BTF) all
follow :func:`flatten`, so a comparison never needs to know where a layout
came from.  JSON form (SPEC 5/7)::

    {"net_iov": {"size": 64, "align": 8,
                 "fields": [{"name": "desc", "offset": 0, "size": 48,
                             "type": "struct netmem_desc"}, ...]}}
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from types import MappingProxyType

from netmem_ffi.abi import registry
from netmem_ffi.layout.budget import Budget

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple

#: Struct-typed members that are listed as one member and not expanded.
LEAF_TYPES = frozenset(
    {"atomic_t", "atomic_long_t", "atomic64_t", "refcount_t", "memdesc_flags_t", "struct list_head"}
)


class Field(NamedTuple):
    """One member: dotted name, byte offset, byte size and C type text."""

    name: str
    offset: int
    size: int
    type: str
    bit_offset: int | None = None  # bitfields only: offset in bits from the struct start
    bit_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "offset": self.offset, "size": self.size, "type": self.type}
        if self.bit_size is not None:
            d["bit_offset"] = self.bit_offset
            d["bit_size"] = self.bit_size
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Field:
        return cls(
            name=str(d["name"]),
            offset=int(d["offset"]),
            size=int(d["size"]),
            type=str(d.get("type", "")),
            bit_offset=None if d.get("bit_offset") is None else int(d["bit_offset"]),
            bit_size=None if d.get("bit_size") is None else int(d["bit_size"]),
        )


class StructLayout(NamedTuple):
    """A struct: ``name`` (without the ``struct`` keyword), size, alignment, members."""

    name: str
    size: int
    align: int
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"struct {self.name} has no member {name!r}")

    def __contains__(self, name: object) -> bool:
        return any(f.name == name for f in self.fields)

    def offsetof(self, name: str) -> int:
        return self.field(name).offset

    def top_level(self) -> tuple[Field, ...]:
        """Members that are not expansions of another member (no dot in the name)."""
        return tuple(f for f in self.fields if "." not in f.name)

    def limited_to(self, names: Iterable[str]) -> StructLayout:
        """The same struct with only the members named (in the struct's order)."""
        keep = set(names)
        return StructLayout(self.name, self.size, self.align, tuple(f for f in self.fields if f.name in keep))

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "align": self.align, "fields": [f.to_dict() for f in self.fields]}

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> StructLayout:
        return cls(
            name=name,
            size=int(d["size"]),
            align=int(d.get("align") or 0),
            fields=tuple(Field.from_dict(f) for f in d["fields"]),
        )


class EnumLayout(NamedTuple):
    """An enum: size in bytes and its enumerators in declaration order."""

    name: str
    size: int
    values: tuple[tuple[str, int], ...]

    def value(self, name: str) -> int:
        return dict(self.values)[name]

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "values": {k: v for k, v in self.values}}

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> EnumLayout:
        return cls(name=name, size=int(d["size"]), values=tuple((str(k), int(v)) for k, v in d["values"].items()))


#: The default, immutable, empty enum mapping of a LayoutSet.
_NO_ENUMS: Mapping[str, EnumLayout] = MappingProxyType({})


class LayoutSet(NamedTuple):
    """The netmem structs and enums of one ABI on one architecture, from one source."""

    arch: str
    pointer_size: int
    endianness: str  # "little" | "big"
    structs: Mapping[str, StructLayout]
    enums: Mapping[str, EnumLayout] = _NO_ENUMS
    profile: str | None = None
    source: str = ""

    def struct(self, name: str) -> StructLayout:
        try:
            return self.structs[name]
        except KeyError:
            raise KeyError(f"layout set {self.source or self.arch!r} has no struct {name!r}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "arch": self.arch,
            "pointer_size": self.pointer_size,
            "endianness": self.endianness,
            "source": self.source,
            "structs": {n: s.to_dict() for n, s in self.structs.items()},
            "enums": {n: e.to_dict() for n, e in self.enums.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LayoutSet:
        return cls(
            arch=str(d["arch"]),
            pointer_size=int(d["pointer_size"]),
            endianness=str(d["endianness"]),
            structs={n: StructLayout.from_dict(n, s) for n, s in d["structs"].items()},
            enums={n: EnumLayout.from_dict(n, e) for n, e in d.get("enums", {}).items()},
            profile=d.get("profile"),
            source=str(d.get("source", "")),
        )


class Member(NamedTuple):
    """A source-neutral view of one declared member, input to :func:`flatten`.

    ``name`` is None for an anonymous struct/union member.  ``children`` returns
    the members of a struct/union type (None for scalars, pointers, enums).
    ``key`` names that struct/union type (a BTF type id, a cffi type): members
    of the same key are flattened once and reused, so a type graph that shares
    structs is never expanded as a tree.
    """

    name: str | None
    offset: int
    size: int
    type: str
    children: Callable[[], Iterable[Member]] | None = None
    bit_offset: int | None = None
    bit_size: int | None = None
    key: Hashable | None = None


def flatten(members: Iterable[Member], prefix: str = "", base: int = 0, budget: Budget | None = None,
            source: object = None) -> Iterator[Field]:
    """Flatten declared members into :class:`Field` rows (see the module doc).

    Each keyed struct is flattened once (memoized), and the rows produced are
    charged to *budget*'s ``fields`` allowance (default :meth:`Budget.from_env`):
    structs nesting two members of the next struct forty levels deep raise
    :class:`~netmem_ffi.errors.BudgetExceededError` (naming *source*) instead of
    expanding 2^40 rows.
    """
    meter = _Meter(budget if budget is not None else Budget.from_env(), source)
    rows = _rows(members, {}, meter)
    return iter(_shift(rows, prefix, base))


class _Meter:
    """Rows produced by one :func:`flatten` call, checked against the ``fields`` budget."""

    def __init__(self, budget: Budget, source: object) -> None:
        self.budget, self.source, self.rows = budget, source, 0

    def charge(self, rows: int) -> None:
        self.rows += rows
        self.budget.check("fields", self.rows, "flattening struct members", self.source)


_Rows = tuple[Field, ...]


def _shift(rows: _Rows, prefix: str, off: int) -> list[Field]:
    """*rows* (relative to their struct) renamed under *prefix* and moved by *off* bytes."""
    return [Field(prefix + f.name, f.offset + off, f.size, f.type,
                  None if f.bit_offset is None else f.bit_offset + 8 * off, f.bit_size) for f in rows]


def _rows(members: Iterable[Member], memo: dict[Hashable, _Rows], meter: _Meter) -> _Rows:
    """The rows of one struct's members, relative to it (offset 0, no prefix)."""
    out: list[Field] = []
    for m in members:
        if m.name is not None:
            out.append(Field(m.name, m.offset, m.size, m.type, m.bit_offset, m.bit_size))
            meter.charge(1)
        if m.children is not None and (m.name is None or m.type not in LEAF_TYPES):
            rows = _child_rows(m, memo, meter)
            meter.charge(len(rows))
            out += _shift(rows, "" if m.name is None else m.name + ".", m.offset)
    return tuple(out)


def _child_rows(m: Member, memo: dict[Hashable, _Rows], meter: _Meter) -> _Rows:
    assert m.children is not None
    if m.key is not None and m.key in memo:
        return memo[m.key]
    rows = _rows(m.children(), memo, meter)
    if m.key is not None:
        memo[m.key] = rows
    return rows


def limit_page(structs: dict[str, StructLayout]) -> dict[str, StructLayout]:
    """Restrict ``page`` to the members netmem relies on (registry.PAGE_MEMBERS)."""
    if "page" in structs:
        structs["page"] = structs["page"].limited_to(registry.PAGE_MEMBERS)
    return structs
