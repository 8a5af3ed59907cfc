"""Views of a layout over raw bytes: ``construct`` structs, ``ctypes`` structures, bulk records.

Every view is generated from a :class:`~netmem_ffi.layout.types.LayoutSet` (any
source: compiled module, engine, kernel BTF), never written by hand:

* :func:`construct_struct` -- a ``construct.Struct`` in the layout's byte order
  and word size, built from the top-level members: each at its offset
  (``Padding`` over holes and tail padding), named struct members as nested
  Structs, atomic types and pointers as integers.  Members that share bytes
  (anonymous unions) all parse; building writes the first-declared, longest
  member of each shared range (the others are read with ``Peek``).
* :func:`ctypes_struct` -- a ``ctypes`` structure with the same member names at
  the same offsets (``_pack_ = 1``, explicit padding, overlapping members in
  anonymous unions); pointers are ``c_void_p`` in the host's byte order.
* :func:`record_format` / :func:`parse_array` -- a ``struct.Struct`` over the
  scalar members (one per byte range) for parsing many records at once.

Bitfields are not supported by these views (the netmem structs have none);
they raise :class:`~netmem_ffi.errors.NetmemValueError`.
"""

from __future__ import annotations

import ctypes
import re
import struct
import sys
from collections.abc import Sequence

from netmem_ffi.errors import NetmemValueError
from netmem_ffi.layout.types import LEAF_TYPES, Field, LayoutSet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any
else:
    from netmem_ffi.abi.record import dataclass

_CODES = {1: "b", 2: "h", 4: "i", 8: "q"}
_UNSIGNED_NAMES = {"_Bool", "size_t", "uintptr_t", "memdesc_flags_t"}
_SIGNED_LEAVES = {"atomic_t", "atomic_long_t", "atomic64_t", "refcount_t"}
_ARRAY = re.compile(r"^(?P<elem>.*?)(?P<dims>(\[\d+\])+)$")


@dataclass(frozen=True)
class _Scalar:
    """How one member's bytes read as a number (or raw bytes when ``code`` is ``s``)."""

    code: str  # struct module code
    count: int = 1  # array elements


def _children(fields: Sequence[Field], prefix: str) -> list[Field]:
    """The members directly below *prefix* (``desc.``), with names and offsets made relative."""
    base = next(f.offset for f in fields if f.name == prefix[:-1])
    return [
        Field(f.name[len(prefix):], f.offset - base, f.size, f.type, f.bit_offset, f.bit_size)
        for f in fields
        if f.name.startswith(prefix)
    ]


def _is_container(fields: Sequence[Field], f: Field) -> bool:
    return any(g.name.startswith(f.name + ".") for g in fields)


def _scalar(f: Field, layouts: LayoutSet) -> _Scalar:
    """The number format of a non-container member on the layout's target."""
    if f.bit_size is not None:
        raise NetmemValueError(f"member {f.name!r} is a bitfield; the views do not support bitfields", f.name)
    match = _ARRAY.match(f.type)
    text, count = f.type, 1
    if match:
        text = match["elem"].strip()
        for n in re.findall(r"\d+", match["dims"]):
            count *= int(n)
    size = f.size // count if count else f.size
    pointer = text.endswith("*")
    if size not in _CODES or (not pointer and text.startswith(("struct ", "union ")) and text not in LEAF_TYPES):
        return _Scalar(f"{f.size}s")
    code = _CODES[size]
    return _Scalar(code.upper() if pointer or _unsigned(text, layouts) else code, count)


def _unsigned(text: str, layouts: LayoutSet) -> bool:
    if text in _SIGNED_LEAVES:
        return False
    if text.startswith("enum "):
        enum = layouts.enums.get(text[5:])
        return enum is None or all(v >= 0 for _, v in enum.values)
    if text == "char":
        from netmem_ffi.abi.arches import MODELS

        model = MODELS.get(layouts.arch)
        return model is not None and not model.char_signed
    return text in _UNSIGNED_NAMES or text.startswith(("unsigned", "uint"))


def _cover(fields: Sequence[Field]) -> tuple[list[Field], dict[str, list[Field]]]:
    """Split members into a non-overlapping cover (first-declared, longest first) and aliases.

    Returns the cover in offset order and, per cover member, the members that
    overlap it and start inside it.
    """
    primaries: list[Field] = []
    aliases: dict[str, list[Field]] = {}
    end = 0
    for f in sorted(fields, key=lambda f: (f.offset, -f.size)):
        if f.offset >= end or not primaries:
            primaries.append(f)
            aliases[f.name] = []
        else:
            aliases[primaries[-1].name].append(f)
        end = max(end, f.offset + f.size)
    return primaries, aliases


# ---- construct ------------------------------------------------------------------------------


def construct_struct(layouts: LayoutSet, name: str) -> Any:
    """A ``construct.Struct`` for ``struct name`` of *layouts* (byte order and word size of its target).

    ``.parse(bytes)`` gives every top-level member (nested structs as
    Containers); ``.build(dict)`` gives ``sizeof(struct name)`` bytes.
    Raises ``KeyError`` for an unknown struct, :class:`NetmemValueError` for bitfields.
    """
    layout = layouts.struct(name)
    return _construct(layouts, list(layout.fields), layout.size)


def _construct(layouts: LayoutSet, fields: list[Field], size: int) -> Any:
    import construct as c

    order = "<" if layouts.endianness == "little" else ">"
    top = [f for f in fields if "." not in f.name]
    primaries, aliases = _cover(top)
    subcons: list[Any] = []
    cursor = 0
    for p in primaries:
        if p.offset > cursor:
            subcons.append(c.Padding(p.offset - cursor))
        for a in aliases[p.name]:
            value = _construct_member(layouts, fields, a, order)
            subcons.append(a.name / c.Peek(c.FocusedSeq("v", c.Padding(a.offset - p.offset), "v" / value)))
        subcons.append(p.name / _construct_member(layouts, fields, p, order))
        cursor = max(cursor, p.offset + p.size)
    if size > cursor:
        subcons.append(c.Padding(size - cursor))
    return c.Struct(*subcons)


_CONSTRUCT_CODES = {"i": "l", "I": "L"}  # construct spells 4-byte integers l/L


def _construct_member(layouts: LayoutSet, fields: list[Field], f: Field, order: str) -> Any:
    import construct as c

    if _is_container(fields, f):
        return _construct(layouts, _children(fields, f.name + "."), f.size)
    scalar = _scalar(f, layouts)
    if scalar.code.endswith("s"):
        return c.Bytes(f.size)
    item = c.FormatField(order, _CONSTRUCT_CODES.get(scalar.code, scalar.code))
    return item if scalar.count == 1 else c.Array(scalar.count, item)


# ---- ctypes ---------------------------------------------------------------------------------


def ctypes_struct(layouts: LayoutSet, name: str) -> type[ctypes.Structure]:
    """A ``ctypes`` structure class for ``struct name`` with every top-level member at its offset.

    Works for any layout; the byte order is the layout's (``BigEndianStructure``
    on a little-endian host for s390x/ppc64).  Raises ``KeyError`` for an
    unknown struct, :class:`NetmemValueError` for bitfields.
    """
    layout = layouts.struct(name)
    return _ctypes(layouts, name, list(layout.fields), layout.size)


def _ctypes_bases(layouts: LayoutSet) -> tuple[type, type]:
    if layouts.endianness == sys.byteorder:
        return ctypes.Structure, ctypes.Union
    if layouts.endianness == "big":
        return ctypes.BigEndianStructure, ctypes.BigEndianUnion
    return ctypes.LittleEndianStructure, ctypes.LittleEndianUnion


def _ctypes(layouts: LayoutSet, name: str, fields: list[Field], size: int) -> type[ctypes.Structure]:
    struct_base, union_base = _ctypes_bases(layouts)
    members: list[tuple[str, Any]] = []
    anonymous: list[str] = []
    cursor = 0
    for group in _overlap_groups([f for f in fields if "." not in f.name]):
        start = group[0].offset
        if start > cursor:
            members.append((f"_pad{cursor}", ctypes.c_uint8 * (start - cursor)))
        if len(group) == 1:
            members.append((group[0].name, _ctypes_member(layouts, fields, group[0])))
        else:
            members.append((f"_union{start}", _ctypes_union(layouts, fields, group, struct_base, union_base)))
            anonymous.append(f"_union{start}")
        cursor = max([cursor] + [f.offset + f.size for f in group])
    if size > cursor:
        members.append((f"_pad{cursor}", ctypes.c_uint8 * (size - cursor)))
    cls: type[ctypes.Structure] = type(name, (struct_base,), {
        "_pack_": 1, "_anonymous_": tuple(anonymous), "_fields_": members})
    if ctypes.sizeof(cls) != size:
        raise NetmemValueError(f"ctypes view of struct {name} is {ctypes.sizeof(cls)} bytes, layout says {size}", name)
    return cls


def _ctypes_union(layouts: LayoutSet, fields: list[Field], group: list[Field], struct_base: type,
                  union_base: type) -> type:
    """An anonymous union of the members sharing bytes; a member starting later is led by padding."""
    start = group[0].offset
    alternatives: list[tuple[str, Any]] = []
    anonymous: list[str] = []
    for f in group:
        ctype = _ctypes_member(layouts, fields, f)
        if f.offset == start:
            alternatives.append((f.name, ctype))
            continue
        label = f"_at{f.offset}_{f.name}"
        lead = ctypes.c_uint8 * (f.offset - start)
        alternatives.append((label, type(label, (struct_base,), {"_pack_": 1, "_fields_": [("_lead", lead),
                                                                                          (f.name, ctype)]})))
        anonymous.append(label)
    union = type(f"_union_at{start}", (union_base,), {
        "_pack_": 1, "_anonymous_": tuple(anonymous), "_fields_": alternatives})
    if layouts.endianness != sys.byteorder:
        # Python 3.11's ctypes refuses unions inside Big/LittleEndianStructure; this
        # union already has the foreign byte order, so declare it its own swapped type.
        setattr(union, "__ctype_be__" if layouts.endianness == "big" else "__ctype_le__", union)
    return union


_CTYPES = {"b": ctypes.c_int8, "B": ctypes.c_uint8, "h": ctypes.c_int16, "H": ctypes.c_uint16,
           "i": ctypes.c_int32, "I": ctypes.c_uint32, "q": ctypes.c_int64, "Q": ctypes.c_uint64}


def _ctypes_member(layouts: LayoutSet, fields: list[Field], f: Field) -> Any:
    if _is_container(fields, f):
        return _ctypes(layouts, f.type.split()[-1], _children(fields, f.name + "."), f.size)
    scalar = _scalar(f, layouts)
    if scalar.code.endswith("s"):
        return ctypes.c_uint8 * f.size
    native = layouts.endianness == sys.byteorder
    if f.type.endswith("*") and native and f.size == ctypes.sizeof(ctypes.c_void_p):
        return ctypes.c_void_p
    item = _CTYPES[scalar.code]
    return item if scalar.count == 1 else item * scalar.count


def _overlap_groups(fields: Sequence[Field]) -> list[list[Field]]:
    """Members in offset order, grouped into runs whose byte ranges overlap (anonymous unions)."""
    groups: list[list[Field]] = []
    end = 0
    for f in sorted(fields, key=lambda f: (f.offset, -f.size)):
        if groups and f.offset < end:
            groups[-1].append(f)
            end = max(end, f.offset + f.size)
        else:
            groups.append([f])
            end = f.offset + f.size
    return groups


# ---- many records at once -------------------------------------------------------------------


@dataclass(frozen=True)
class RecordFormat:
    """A ``struct.Struct`` over one record's scalar members (one per byte range) and their names."""

    struct: struct.Struct
    names: tuple[str, ...]

    @property
    def size(self) -> int:
        return self.struct.size


def record_format(layouts: LayoutSet, name: str) -> RecordFormat:
    """The bulk format of ``struct name``: leaf members in offset order, holes as pad bytes.

    Where members share bytes, the first-declared, longest one is read (``desc.pp``
    rather than its union twin ``pp``); arrays give ``name[i]`` entries.
    """
    layout = layouts.struct(name)
    scalars = [f for f in layout.fields if not _is_container(layout.fields, f)]
    codes = ["<" if layouts.endianness == "little" else ">"]
    names: list[str] = []
    cursor = 0
    for f in _cover(scalars)[0]:
        if f.offset > cursor:
            codes.append(f"{f.offset - cursor}x")
        scalar = _scalar(f, layouts)
        if scalar.code.endswith("s") or scalar.count == 1:
            codes.append(scalar.code)
            names.append(f.name)
        else:
            codes.append(f"{scalar.count}{scalar.code}")
            names.extend(f"{f.name}[{i}]" for i in range(scalar.count))
        cursor = max(cursor, f.offset + f.size)
    if layout.size > cursor:
        codes.append(f"{layout.size - cursor}x")
    return RecordFormat(struct.Struct("".join(codes)), tuple(names))


def parse_array(layouts: LayoutSet, name: str, buf: Any, count: int | None = None, offset: int = 0,
                *, as_dict: bool = True) -> list[Any]:
    """Parse *count* consecutive ``struct name`` records from *buf* at *offset* (``struct.iter_unpack``).

    *buf* is any buffer (bytes, bytearray, mmap, cffi buffer); *count* None
    reads as many whole records as fit.  Returns dicts keyed by
    :attr:`RecordFormat.names`, or plain tuples with ``as_dict=False``.
    Raises :class:`NetmemValueError` when the buffer is too short.
    """
    fmt = record_format(layouts, name)
    view = memoryview(buf).cast("B")
    available = max(0, (len(view) - offset) // fmt.size)
    count = available if count is None else count
    if count < 0 or offset < 0 or count > available:
        raise NetmemValueError(
            f"{count} records of struct {name} ({fmt.size} bytes each) at offset {offset} do not fit "
            f"in a buffer of {len(view)} bytes", count)
    rows = fmt.struct.iter_unpack(view[offset: offset + count * fmt.size])
    if not as_dict:
        return list(rows)
    names = fmt.names
    return [dict(zip(names, row)) for row in rows]
