"""DWARF 2-5 units and DIEs, decoded on demand (DWARF 5 sections 7.5, 7.5.1, 7.5.3).

A :class:`DebugInfo` lists the unit headers of ``.debug_info`` (one hop per
unit) and decodes a DIE only when asked for it by offset: the netmem reader
jumps from a structure's name straight to its DIE and follows references from
there, never building objects for a whole vmlinux.  Both byte orders, 32- and
64-bit DWARF, every form (so any DIE can be stepped over).  Offsets are
global (from the start of ``.debug_info``).

Bad input raises :class:`~netmem_ffi.errors.KernelInputError` with the
section offset; :data:`MAX_DIES` bounds the DIEs one read may decode.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.dwarf.constants import (
    UT_SKELETON,
    UT_SPLIT_COMPILE,
    UT_SPLIT_TYPE,
    UT_TYPE,
    At,
    Form,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal, NamedTuple

    #: A byte order as ``int.from_bytes`` takes it.
    ByteOrder = Literal["little", "big"]
else:
    from netmem_ffi.abi.record import NamedTuple

__all__ = ["DIE", "MAX_DEPTH", "MAX_DIES", "Abbrev", "DebugInfo", "Unit"]

#: DIEs one read may decode before it is abandoned (a hostile file cannot make it run for ever).
MAX_DIES = 4_000_000
#: Nesting of DIE children followed.
MAX_DEPTH = 64

_FIXED = {Form.addr: -1, Form.data1: 1, Form.ref1: 1, Form.flag: 1, Form.strx1: 1, Form.addrx1: 1,
          Form.data2: 2, Form.ref2: 2, Form.strx2: 2, Form.addrx2: 2, Form.strx3: 3, Form.addrx3: 3,
          Form.data4: 4, Form.ref4: 4, Form.ref_sup4: 4, Form.strx4: 4, Form.addrx4: 4,
          Form.data8: 8, Form.ref8: 8, Form.ref_sig8: 8, Form.ref_sup8: 8, Form.data16: 16,
          Form.flag_present: 0, Form.implicit_const: 0}
_OFFSET_FORMS = frozenset({Form.strp, Form.sec_offset, Form.line_strp, Form.strp_sup, Form.GNU_ref_alt,
                           Form.GNU_strp_alt})
_ULEB_FORMS = frozenset({Form.udata, Form.ref_udata, Form.strx, Form.addrx, Form.loclistx, Form.rnglistx,
                         Form.GNU_addr_index, Form.GNU_str_index})
_BLOCK_FORMS = {Form.block1: 1, Form.block2: 2, Form.block4: 4}


class Abbrev(NamedTuple):
    """One abbreviation: tag, whether DIEs have children, and ``(attribute, form, implicit value)`` specs."""

    tag: int
    children: bool
    specs: tuple[tuple[int, int, int], ...]


class DIE(NamedTuple):
    """A decoded DIE: global offset, tag, children flag, attributes (``attr -> (form, value)``), end offset."""

    offset: int
    tag: int
    children: bool
    attrs: dict[int, tuple[int, object]]
    end: int
    unit: Unit

    def get(self, attr: int) -> object:
        """The raw value of *attr*, None when absent."""
        v = self.attrs.get(attr)
        return None if v is None else v[1]


class Unit:
    """One unit: its header facts, its abbreviation table, and DIE decoding inside it."""

    def __init__(self, info: DebugInfo, offset: int) -> None:
        self.info, self.offset = info, offset
        data, order = info.data, info.byteorder
        length = info.uint(offset, 4)
        self.offset_size, pos = (8, offset + 12) if length == 0xFFFFFFFF else (4, offset + 4)
        if length == 0xFFFFFFFF:
            length = info.uint(offset + 4, 8)
        self.end = pos + length
        self.version = info.uint(pos, 2)
        if not 2 <= self.version <= 5 or self.end > len(data):
            raise info.error(f"unit header: version {self.version}, length {length}", offset)
        if self.version >= 5:
            unit_type, self.address_size = data[pos + 2], data[pos + 3]
            abbrev_offset = info.uint(pos + 4, self.offset_size)
            pos += 4 + self.offset_size
            pos += 8 if unit_type in (UT_SKELETON, UT_SPLIT_COMPILE) else 0
            pos += 8 + self.offset_size if unit_type in (UT_TYPE, UT_SPLIT_TYPE) else 0
        else:
            abbrev_offset = info.uint(pos + 2, self.offset_size)
            self.address_size = data[pos + 2 + self.offset_size]
            pos += 3 + self.offset_size
        self.first_die = pos
        self.abbrevs = info.abbrev_table(abbrev_offset)
        self._order = order
        self._str_offsets_base: int | None = None

    def die(self, off: int) -> DIE | None:
        """The DIE at global offset *off* (None for a null entry, which ends a list of children)."""
        info = self.info
        if not self.first_die <= off < self.end:
            raise info.error(f"DIE reference {off} is outside its unit ({self.offset}-{self.end})", off)
        info.count()
        code, pos = info.uleb(off)
        if code == 0:
            return None
        abbrev = self.abbrevs.get(code)
        if abbrev is None:
            raise info.error(f"DIE uses abbreviation {code}, which its unit does not define", off)
        attrs: dict[int, tuple[int, object]] = {}
        for attr, form, implicit in abbrev.specs:
            value, pos = self.value(pos, form, implicit)
            attrs[attr] = (form, value)
        if pos > self.end:
            raise info.error("DIE runs past the end of its unit", off)
        return DIE(off, abbrev.tag, abbrev.children, attrs, pos, self)

    def value(self, pos: int, form: int, implicit: int = 0) -> tuple[object, int]:
        """(value, next position) of an attribute of *form* at *pos*: an int, bytes or (for strings) str."""
        info = self.info
        size = _FIXED.get(form)
        if size is not None:
            if form == Form.implicit_const:
                return implicit, pos
            size = self.address_size if size < 0 else size
            return info.uint(pos, size), pos + size
        if form in _OFFSET_FORMS or form == Form.ref_addr:
            size = self.address_size if form == Form.ref_addr and self.version == 2 else self.offset_size
            return info.uint(pos, size), pos + size
        if form in _ULEB_FORMS:
            return info.uleb(pos)
        if form == Form.sdata:
            return info.sleb(pos)
        if form == Form.string:
            end = info.data.find(b"\0", pos, self.end)
            if end < 0:
                raise info.error("unterminated string", pos)
            return info.data[pos:end].decode("utf-8", "replace"), end + 1
        if form in _BLOCK_FORMS or form in (Form.block, Form.exprloc):
            width = _BLOCK_FORMS.get(form)
            n, start = info.uleb(pos) if width is None else (info.uint(pos, width), pos + width)
            return info.data[start:start + n], start + n
        if form == Form.indirect:
            real, pos = info.uleb(pos)
            return self.value(pos, real)
        raise info.error(f"unknown attribute form 0x{form:x}", pos)

    # ---- what values mean ------------------------------------------------------------

    def string(self, die: DIE, attr: int = At.name) -> str | None:
        """The string value of *attr* (any string form), None when absent."""
        got = die.attrs.get(attr)
        if got is None:
            return None
        form, value = got
        if isinstance(value, str):
            return value
        assert isinstance(value, int)
        if form in (Form.strp, Form.line_strp):
            return self.info.string_at(".debug_line_str" if form == Form.line_strp else ".debug_str", value)
        if form in (Form.strx, Form.strx1, Form.strx2, Form.strx3, Form.strx4, Form.GNU_str_index):
            return self.info.string_at(".debug_str", self._str_offset(value))
        raise self.info.error(f"attribute 0x{attr:x} in form 0x{form:x} is not a string", die.offset)

    def _str_offset(self, index: int) -> int:
        if self._str_offsets_base is None:
            root = self.die(self.first_die)
            base = None if root is None else root.get(At.str_offsets_base)
            self._str_offsets_base = base if isinstance(base, int) else 8 if self.offset_size == 4 else 16
        table = self.info.sections[".debug_str_offsets"]
        pos = self._str_offsets_base + index * self.offset_size
        if pos + self.offset_size > len(table):
            raise self.info.error(f"string index {index} is past .debug_str_offsets", None)
        return int.from_bytes(table[pos:pos + self.offset_size], self.info.byteorder)

    def ref(self, die: DIE, attr: int = At.type) -> int | None:
        """The global offset *attr* refers to, None when absent."""
        got = die.attrs.get(attr)
        if got is None:
            return None
        form, value = got
        assert isinstance(value, int)
        if form in (Form.ref1, Form.ref2, Form.ref4, Form.ref8, Form.ref_udata):
            return self.offset + value
        if form == Form.ref_addr:
            return value
        raise self.info.error(f"reference in form 0x{form:x} (type units, supplementary files) is not read",
                              die.offset)

    def children(self, die: DIE, depth: int = 0) -> Iterator[DIE]:
        """The children of *die* in order (their own children stepped over)."""
        if not die.children:
            return
        pos = die.end
        while True:
            child = self.die(pos)
            if child is None:
                return
            yield child
            pos = self.after(child, depth + 1)

    def after(self, die: DIE, depth: int = 0) -> int:
        """The offset just past *die* and its children (``DW_AT_sibling`` when the producer gave one)."""
        if not die.children:
            return die.end
        sibling = die.attrs.get(At.sibling)
        if sibling is not None:
            target = self.ref(die, At.sibling)
            if target is not None and target > die.offset:
                return target
        if depth > MAX_DEPTH:
            raise self.info.error(f"DIE children nest deeper than {MAX_DEPTH} levels", die.offset)
        pos = die.end
        while True:
            child = self.die(pos)
            if child is None:
                return pos + 1
            pos = self.after(child, depth + 1)


class DebugInfo:
    """``.debug_info`` with its companion sections: unit lookup and string/abbrev tables."""

    def __init__(self, sections: dict[str, bytes], byteorder: str, source: str,
                 max_dies: int = MAX_DIES) -> None:
        self.sections = sections
        self.data = sections[".debug_info"]
        self.byteorder: ByteOrder = "big" if byteorder == "big" else "little"
        self.source = source
        self.max_dies = max_dies
        self.decoded = 0
        self._abbrevs: dict[int, dict[int, Abbrev]] = {}
        self._units: dict[int, Unit] = {}
        self.unit_offsets = self._unit_offsets()

    def error(self, message: str, offset: int | None) -> KernelInputError:
        return KernelInputError(f".debug_info: {message}", self.source, offset)

    def count(self) -> None:
        self.decoded += 1
        if self.decoded > self.max_dies:
            raise KernelInputError(f"DWARF: more than {self.max_dies} DIEs decoded (budget); the netmem types "
                                   "should need far fewer", self.source)

    def uint(self, pos: int, size: int) -> int:
        if pos + size > len(self.data):
            raise self.error(f"{size}-byte value runs past the end of the section", pos)
        return int.from_bytes(self.data[pos:pos + size], self.byteorder)

    def uleb(self, pos: int, data: bytes | None = None) -> tuple[int, int]:
        data = self.data if data is None else data
        result = shift = 0
        end = len(data)
        while pos < end:
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result, pos
            shift += 7
            if shift > 70:
                break
        raise self.error("LEB128 number runs past the end or over 10 bytes", pos)

    def sleb(self, pos: int) -> tuple[int, int]:
        start = pos
        value, pos = self.uleb(pos)
        bits = 7 * (pos - start)
        return (value - (1 << bits) if value >> (bits - 1) & 1 else value), pos

    def _unit_offsets(self) -> list[int]:
        out, pos, end = [], 0, len(self.data)
        while pos + 11 <= end:
            out.append(pos)
            length = self.uint(pos, 4)
            pos += 4 + (self.uint(pos + 4, 8) + 8 if length == 0xFFFFFFFF else length)
        return out

    def unit_at(self, offset: int) -> Unit:
        """The unit containing global offset *offset*."""
        i = bisect.bisect_right(self.unit_offsets, offset) - 1
        if i < 0:
            raise self.error(f"offset {offset} is in no unit", offset)
        start = self.unit_offsets[i]
        unit = self._units.get(start)
        if unit is None:
            unit = self._units[start] = Unit(self, start)
        return unit

    def abbrev_table(self, offset: int) -> dict[int, Abbrev]:
        """The abbreviation table at *offset* in ``.debug_abbrev`` (parsed once)."""
        table = self._abbrevs.get(offset)
        if table is not None:
            return table
        data = self.sections[".debug_abbrev"]
        table, pos = {}, offset
        while True:
            code, pos = self.uleb(pos, data)
            if code == 0:
                break
            tag, pos = self.uleb(pos, data)
            if pos >= len(data):
                raise KernelInputError(".debug_abbrev: table runs past the end", self.source, pos)
            children, pos = bool(data[pos]), pos + 1
            specs = []
            while True:
                attr, pos = self.uleb(pos, data)
                form, pos = self.uleb(pos, data)
                if attr == 0 and form == 0:
                    break
                implicit = 0
                if form == Form.implicit_const:
                    start = pos
                    implicit, pos = self.uleb(pos, data)
                    bits = 7 * (pos - start)
                    implicit = implicit - (1 << bits) if implicit >> (bits - 1) & 1 else implicit
                specs.append((attr, form, implicit))
            table[code] = Abbrev(tag, children, tuple(specs))
        self._abbrevs[offset] = table
        return table

    def string_at(self, section: str, offset: int) -> str:
        data = self.sections[section]
        end = data.find(b"\0", offset)
        if offset >= len(data) or end < 0:
            raise KernelInputError(f"{section}: no string at offset {offset}", self.source, offset)
        return data[offset:end].decode("utf-8", "replace")
