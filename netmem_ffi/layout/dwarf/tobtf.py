"""The netmem types of a DWARF file, as BTF: what the rest of the package reads.

:func:`dwarf_btf` finds one compilation unit that defines ``struct net_iov``
(``struct page`` for kernels without it) and reads only the DIEs reachable
from the netmem roots (:data:`ROOTS`), by value in full; a named struct or
union reached through a pointer becomes a ``FWD``, exactly as
:func:`netmem_ffi.layout.btf.writer.extract` cuts a kernel's BTF.  The result
is encoded as raw BTF in the file's byte order, so
:func:`netmem_ffi.layout.btf.layouts.layout_set`, the architecture
identification (``struct pt_regs`` comes along) and every consumer read a
DWARF kernel exactly as they read a BTF one, as pahole's DWARF-to-BTF encoder
would give it.

Finding the unit without parsing a whole vmlinux: the root's name is looked
up in ``.debug_str``; its offset, as the 4-byte ``DW_FORM_strp`` value, is
searched for in ``.debug_info`` (a C-speed byte search), and each hit is
checked by decoding the DIE that would start just before it.  Files whose
names are not ``strp`` (small objects, ``strx``) are walked unit by unit,
top-level DIEs only, when ``.debug_info`` is under :data:`WALK_LIMIT` bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from netmem_ffi.abi import registry
from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.btf.reader import BTFMember, BTFType
from netmem_ffi.layout.btf.uapi import Kind
from netmem_ffi.layout.btf.writer import encode
from netmem_ffi.layout.dwarf import constants as c
from netmem_ffi.layout.dwarf.constants import At, Form, Tag
from netmem_ffi.layout.dwarf.units import DIE, MAX_DEPTH, DebugInfo, Unit

__all__ = ["PRIMARY", "ROOTS", "WALK_LIMIT", "dwarf_btf", "find_roots"]

_STRUCT = frozenset({Tag.structure_type})
#: The DIEs read, by name and tag: the netmem structs and enum, ``struct pt_regs`` (the architecture),
#: and the ``long`` integers (the word size).
ROOTS: dict[str, frozenset[int]] = {
    **{n: _STRUCT for n in registry.STRUCTS}, **{n: frozenset({Tag.enumeration_type}) for n in registry.ENUMS},
    "pt_regs": _STRUCT, "long int": frozenset({Tag.base_type}), "long unsigned int": frozenset({Tag.base_type})}
#: The root whose unit is read first (the next one for kernels without it).
PRIMARY = ("net_iov", "page")
#: ``.debug_info`` sizes up to which every unit may be walked when the name search finds nothing.
WALK_LIMIT = 64 << 20
#: Occurrences of one name in ``.debug_str`` tried (a suffix of longer strings, merged by the linker).
MAX_NAME_HITS = 512
_RECORDS = (Tag.structure_type, Tag.union_type)


def _defines(unit: Unit, die: DIE, name: str) -> bool:
    """Whether *die* is a definition (not a declaration) of root *name*."""
    return die.tag in ROOTS[name] and At.declaration not in die.attrs and unit.string(die) == name


def _scan_unit(unit: Unit, names: set[str], found: dict[str, DIE]) -> None:
    """Add to *found* the definitions of *names* among *unit*'s top-level DIEs."""
    root = unit.die(unit.first_die)
    if root is None:
        return
    tags = frozenset().union(*(ROOTS[n] for n in names))
    for die in unit.children(root):
        if die.tag in tags and At.declaration not in die.attrs:
            name = unit.string(die)
            if name in names and name not in found and die.tag in ROOTS[name]:
                found[name] = die
                if names <= found.keys():
                    return


def _strp_definitions(info: DebugInfo, name: str) -> Iterator[DIE]:
    """Definitions of *name* whose ``DW_AT_name`` is a ``strp`` (see the module doc), in file order.

    Every place ``.debug_str`` holds the name (the linker merges it into the tails of longer strings)
    is a candidate offset; one regular-expression pass over ``.debug_info`` looks for all of them.
    """
    strs, needle = info.sections[".debug_str"], name.encode() + b"\0"
    offsets, at = [], strs.find(needle)
    while at >= 0 and len(offsets) < MAX_NAME_HITS:
        offsets.append(at)
        at = strs.find(needle, at + 1)
    if not offsets:
        return
    pattern = re.compile(b"|".join(re.escape(o.to_bytes(4, info.byteorder)) for o in offsets))
    for hit in pattern.finditer(info.data):
        die = _die_named_at(info, hit.start(), int.from_bytes(hit.group(), info.byteorder))
        if die is not None and _defines(die.unit, die, name):
            yield die


def _die_named_at(info: DebugInfo, hit: int, strp: int) -> DIE | None:
    """The DIE whose ``DW_AT_name`` (``strp`` *strp*) is stored at *hit*, if one starts 1-3 bytes before."""
    unit = info.unit_at(hit)
    for back in (1, 2, 3):
        start = hit - back
        if start < unit.first_die:
            break
        try:
            die = unit.die(start)
        except KernelInputError:
            continue
        if die is not None and die.attrs.get(At.name) == (Form.strp, strp) and die.end > hit:
            return die
    return None


def find_roots(info: DebugInfo) -> dict[str, DIE]:
    """The definitions of :data:`ROOTS` to read: from the unit defining the first :data:`PRIMARY` root
    found, the rest looked for across the file.

    Raises :class:`KernelInputError` when neither primary root is defined anywhere.
    """
    walk = len(info.data) <= WALK_LIMIT
    found: dict[str, DIE] = {}
    for primary in PRIMARY:
        die = next(_strp_definitions(info, primary), None)
        if die is None and walk:
            for offset in info.unit_offsets:
                _scan_unit(info.unit_at(offset), {primary}, found)
                if primary in found:
                    die = found.pop(primary)
                    break
        if die is not None:
            found[primary] = die
            _scan_unit(die.unit, set(ROOTS), found)
            break
    else:
        raise KernelInputError("its DWARF defines neither struct net_iov nor struct page", info.source)
    for name in set(ROOTS) - found.keys():
        other = next(_strp_definitions(info, name), None)
        if other is not None:
            found[name] = other
    if walk and not ROOTS.keys() <= found.keys():
        for offset in info.unit_offsets:
            _scan_unit(info.unit_at(offset), set(ROOTS) - found.keys(), found)
    return found


class _Converter:
    """DIEs to BTF records (ids in the order they are first met, from 1)."""

    def __init__(self, info: DebugInfo) -> None:
        self.info = info
        self.types: list[BTFType] = []
        self.ids: dict[tuple[int, bool], int] = {}
        self._index_type = 0

    def _add(self, t: BTFType) -> int:
        self.types.append(t._replace(id=len(self.types) + 1))
        return len(self.types)

    def _set(self, tid: int, t: BTFType) -> int:
        self.types[tid - 1] = t._replace(id=tid)
        return tid

    def index_type(self) -> int:
        if not self._index_type:
            self._index_type = self._add(BTFType(0, Kind.INT, "__ARRAY_SIZE_TYPE__", 4, extra=32))
        return self._index_type

    def type_id(self, offset: int | None, by_ptr: bool, depth: int) -> int:
        """The BTF id of the type DIE at *offset* (0: void), converting it on first use."""
        if offset is None:
            return 0
        key = (offset, by_ptr)
        tid = self.ids.get(key)
        if tid is not None:
            return tid
        if depth > MAX_DEPTH:
            raise self.info.error(f"type references nest deeper than {MAX_DEPTH} levels", offset)
        unit = self.info.unit_at(offset)
        die = unit.die(offset)
        if die is None:
            raise self.info.error("a type reference points at a null entry", offset)
        if die.tag in (Tag.atomic_type, Tag.unspecified_type):  # _Atomic T lays out as T; unspecified: void
            tid = self.ids[key] = 0 if die.tag == Tag.unspecified_type else self.type_id(unit.ref(die), by_ptr,
                                                                                           depth + 1)
            return tid
        tid = self.ids[key] = self._add(BTFType(0, Kind.UNKN))  # reserved: cycles meet this id
        return self._set(tid, self._convert(unit, die, by_ptr, depth))

    def _convert(self, unit: Unit, die: DIE, by_ptr: bool, depth: int) -> BTFType:
        tag, name = die.tag, unit.string(die) or ""
        target = unit.ref(die)
        if tag in _RECORDS:
            if At.declaration in die.attrs or (by_ptr and name):
                return BTFType(0, Kind.FWD, name, 0, tag == Tag.union_type)
            return self._record(unit, die, name, depth)
        if tag == Tag.enumeration_type:
            return self._enum(unit, die, name)
        if tag == Tag.base_type:
            return _base(die, name)
        if tag == Tag.pointer_type:
            return BTFType(0, Kind.PTR, "", self.type_id(target, True, depth + 1))
        modifier = {Tag.const_type: Kind.CONST, Tag.volatile_type: Kind.VOLATILE, Tag.restrict_type: Kind.RESTRICT,
                    Tag.typedef: Kind.TYPEDEF}.get(tag)
        if modifier is not None:
            return BTFType(0, modifier, name if tag == Tag.typedef else "", self.type_id(target, by_ptr, depth + 1))
        if tag == Tag.array_type:
            return self._array(unit, die, target, by_ptr, depth)
        if tag == Tag.subroutine_type:
            params = tuple(("", 0 if p.tag == Tag.unspecified_parameters else self.type_id(unit.ref(p), True, depth + 1))
                           for p in unit.children(die, depth)
                           if p.tag in (Tag.formal_parameter, Tag.unspecified_parameters))
            return BTFType(0, Kind.FUNC_PROTO, "", self.type_id(target, True, depth + 1), params=params)
        raise self.info.error(f"type DIE with tag 0x{tag:x} is not a C object type", die.offset)

    def _record(self, unit: Unit, die: DIE, name: str, depth: int) -> BTFType:
        members = []
        for m in unit.children(die, depth):
            if m.tag != Tag.member:
                continue
            tid = self.type_id(unit.ref(m), False, depth + 1)
            bit_size = _int(m.get(At.bit_size))
            location = _location(m)
            if At.data_bit_offset in m.attrs:
                bit_offset = _int(m.get(At.data_bit_offset))
            elif bit_size and At.bit_offset in m.attrs:  # DWARF 2/3: counted from the storage unit's MSB
                storage = 8 * (_int(m.get(At.byte_size)) or self._size(unit.ref(m)))
                msb = _int(m.get(At.bit_offset))
                bit_offset = 8 * location + (msb if self.info.byteorder == "big" else storage - msb - bit_size)
            else:
                bit_offset = 8 * location
            members.append(BTFMember(unit.string(m) or "", tid, bit_offset, bit_size))
        kind = Kind.UNION if die.tag == Tag.union_type else Kind.STRUCT
        kflag = any(m.bitfield_size for m in members)
        return BTFType(0, kind, name, _int(die.get(At.byte_size)), kflag, members=tuple(members))

    def _size(self, offset: int | None) -> int:
        """``DW_AT_byte_size`` of the type at *offset*, through typedefs and qualifiers."""
        for _ in range(MAX_DEPTH):
            if offset is None:
                return 0
            unit = self.info.unit_at(offset)
            die = unit.die(offset)
            if die is None:
                return 0
            if At.byte_size in die.attrs:
                return _int(die.get(At.byte_size))
            offset = unit.ref(die)
        raise self.info.error("typedef chain loops", offset)

    def _enum(self, unit: Unit, die: DIE, name: str) -> BTFType:
        size = _int(die.get(At.byte_size)) or 4
        base = unit.ref(die)
        base_die = None if base is None else self.info.unit_at(base).die(base)
        signed = base_die is not None and _int(base_die.get(At.encoding)) in (c.ATE_SIGNED, c.ATE_SIGNED_CHAR)
        values = []
        for e in unit.children(die):
            if e.tag != Tag.enumerator:
                continue
            form, value = e.attrs.get(At.const_value, (Form.udata, 0))
            v = _int(value)
            width = {Form.data1: 8, Form.data2: 16, Form.data4: 32, Form.data8: 64}.get(form)
            if signed and width and v >> (width - 1) & 1:
                v -= 1 << width
            signed = signed or v < 0
            values.append((unit.string(e) or "", v))
        wide = size > 4 or any(not -(1 << 31) <= v < (1 << 32) for _, v in values)
        return BTFType(0, Kind.ENUM64 if wide else Kind.ENUM, name, size, signed, enumerators=tuple(values))

    def _array(self, unit: Unit, die: DIE, target: int | None, by_ptr: bool, depth: int) -> BTFType:
        counts = []
        for s in unit.children(die, depth):
            if s.tag == Tag.subrange_type:
                count, upper = s.get(At.count), s.get(At.upper_bound)
                counts.append(_int(count) if isinstance(count, int) else
                              _int(upper) + 1 if isinstance(upper, int) else 0)
        elem = self.type_id(target, by_ptr, depth + 1)
        for n in reversed(counts[1:]):
            elem = self._add(BTFType(0, Kind.ARRAY, "", 0, array=(elem, self.index_type(), n)))
        return BTFType(0, Kind.ARRAY, "", 0, array=(elem, self.index_type(), counts[0] if counts else 0))


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _location(member: DIE) -> int:
    """``DW_AT_data_member_location`` as a byte offset: a constant, or ``DW_OP_plus_uconst N`` (DWARF 2/3)."""
    value = member.get(At.data_member_location)
    if isinstance(value, bytes) and value[:1] == bytes([c.OP_PLUS_UCONST]):
        return member.unit.info.uleb(1, value)[0]
    return _int(value)


def _base(die: DIE, name: str) -> BTFType:
    """A ``DW_TAG_base_type`` as BTF INT (``BTF_INT_SIGNED/CHAR/BOOL`` from the encoding) or FLOAT."""
    size, ate = _int(die.get(At.byte_size)), _int(die.get(At.encoding))
    if ate == c.ATE_FLOAT:
        return BTFType(0, Kind.FLOAT, name, size)
    encoding = (1 if ate in (c.ATE_SIGNED, c.ATE_SIGNED_CHAR) else 0) | (2 if ate in (c.ATE_SIGNED_CHAR,
                c.ATE_UNSIGNED_CHAR) else 0) | (4 if ate == c.ATE_BOOLEAN else 0)
    return BTFType(0, Kind.INT, name, size, extra=encoding << 24 | 8 * size)


def dwarf_btf(info: DebugInfo) -> bytes:
    """Raw BTF (in *info*'s byte order) of the netmem roots' closure read from *info* (see the module doc)."""
    roots = find_roots(info)
    conv = _Converter(info)
    for name in ROOTS:
        if name in roots:
            conv.type_id(roots[name].offset, False, 0)
    return encode(conv.types, info.byteorder)
