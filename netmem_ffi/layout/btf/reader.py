"""Read raw BTF (``/sys/kernel/btf/vmlinux``, ``.BTF`` sections) in either byte order.

The reader validates the header when built; the first question that needs
type ids walks the whole type section once, in C (:mod:`netmem_ffi._btfscan`),
recording where each record starts (its length comes from the kind:
:data:`uapi.KIND_EXTRA`, or the header's layout section for kinds newer than
this reader), and finds the names asked for in the same pass (compared by
content, only for records of a wanted kind).  Full records are decoded only for
the types asked for; the records and the header decoder live in
:mod:`netmem_ffi.layout.btf.records`.  Finding the netmem types in
a 120k-type vmlinux BTF takes a few milliseconds.  If the walk fails, every
later question raises the same error.

Every malformed input raises :class:`~netmem_ffi.errors.KernelInputError`
naming the file and the byte offset: truncated data, a bad magic, sections past
the end, a record running past its section, a type id out of range, a string
offset out of range, an unknown kind the header does not describe, a
typedef/modifier cycle.  Nothing allocates more than the input's size.
"""

from __future__ import annotations

import functools
import os
import stat
import struct
import sys
from array import array
from collections.abc import Iterator, Mapping

from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.btf import uapi
from netmem_ffi.layout.btf.records import (
    MAGIC_PREFIX,
    MAX_CHAIN,
    BTFMember,
    BTFType,
    Header,
    byte_order,
    unpack_header,
)
from netmem_ffi.layout.btf.uapi import Kind
from netmem_ffi.layout.budget import Budget

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mmap import mmap
    from typing import Any


#: The reader's names, and the records it re-exports from :mod:`netmem_ffi.layout.btf.records`.
__all__ = ["BTF", "LONG_TYPES", "MAGIC_PREFIX", "MAX_CHAIN", "BTFMember", "BTFType", "Header", "byte_order",
           "load_btf", "unpack_header"]

@functools.lru_cache(maxsize=16)
def _step_tables(described: tuple[tuple[int, tuple[int, int]], ...]) -> tuple[list[int], list[int]]:
    """Words to skip per record, indexed by ``info >> 24`` (kind and kind_flag): base and per-vlen.

    *described* is the layout section as sorted ``(kind, (info_sz, elem_sz))`` pairs (cached: most
    blobs have none).
    """
    layout = dict(described)
    base = [0] * 256
    per = [0] * 256
    for kind in range(1, 128):  # the same for both values of the kind_flag bit (top = kind | 0x80)
        if kind in layout:
            info_sz, elem_sz = layout[kind]
        elif kind <= uapi.MAX_KIND:
            info_sz, elem_sz = uapi.KIND_EXTRA.get(kind, (0, 0))  # type: ignore[call-overload]
        else:
            continue
        base[kind] = base[kind | 0x80] = (uapi.BTF_TYPE_LEN + info_sz) // 4
        per[kind] = per[kind | 0x80] = elem_sz // 4
    return base, per


#: The integer types whose size is the pointer size (as libbpf determines it), by name.
LONG_TYPES: Mapping[str, frozenset[int]] = {
    n: frozenset({Kind.INT}) for n in ("long unsigned int", "long int", "unsigned long", "long")}


class BTF:
    """A raw BTF blob.  ``BTF(data, path)``; ``path`` and ``base_offset`` only label errors.

    ``byteorder`` ("little"/"big") comes from the magic.  Type ids start at 1
    (0 is ``void``).  Look-ups: :meth:`find`, :meth:`find_types`, :meth:`type`,
    :meth:`resolve`, :meth:`size_of`; :meth:`__len__` and :meth:`types` walk
    everything.
    """

    def __init__(self, data: bytes | mmap, path: object = "<bytes>", base_offset: int = 0,
                 budget: Budget | None = None) -> None:
        self.data = _kept(data)
        self.path = path
        self.base_offset = base_offset
        #: Bounds the work of turning this BTF into layouts (flattening, type spelling).
        self.budget = budget if budget is not None else Budget.from_env()
        #: The error the type-section walk stopped at; every later question raises it again.
        self._failed: KernelInputError | None = None
        self.header, self.byteorder = self._parse_header()
        h = self.header
        self._e = "<" if self.byteorder == "little" else ">"
        self._types_at = h.hdr_len + h.type_off
        self._strs_at = h.hdr_len + h.str_off
        self._strs_end = self._strs_at + h.str_len
        layout = self._parse_layout()
        self._base, self._per = _step_tables(tuple(sorted(layout.items())))
        section = memoryview(self.data)[self._types_at:self._types_at + h.type_len]
        if self.byteorder == sys.byteorder:
            self._words: memoryview | array[int] = section.cast("I")
        else:
            self._words = array("I")
            self._words.frombytes(section)
            self._words.byteswap()
        self._offsets: array[int] = array("I")  # word index of each scanned record; id = index + 1
        self._done = h.type_len == 0
        self._cache: dict[int, BTFType] = {}
        #: (name, kinds) -> the first type id of that name and one of those kinds, 0 when none.
        self._found: dict[tuple[str, frozenset[int]], int] = {}
        self._pointer_size: int | None = None
        #: C spellings by type id, filled by :mod:`netmem_ffi.layout.btf.layouts` (memoized).
        self.spellings: dict[int, str] = {}

    # ---- errors ---------------------------------------------------------------------------

    def error(self, message: str, offset: int | None = None) -> KernelInputError:
        """A :class:`KernelInputError` naming this file and the absolute *offset*."""
        return KernelInputError(message, self.path, None if offset is None else self.base_offset + offset)

    def _type_offset(self, tid: int) -> int:
        return self._types_at + 4 * self._offsets[tid - 1]

    def where(self, tid: int | None) -> int | None:
        """Byte offset (in the blob) of type *tid*'s record, when it has been walked; for errors."""
        return self._type_offset(tid) if tid and tid <= len(self._offsets) else None

    # ---- header and sections --------------------------------------------------------------

    def _parse_header(self) -> tuple[Header, str]:
        d = self.data
        if len(d) < 4:
            raise self.error(f"truncated BTF: {len(d)} bytes, the header needs {uapi.BTF_HEADER_LEN}", 0)
        unpacked = unpack_header(d)
        if unpacked is None and byte_order(d) is None:
            magic = struct.unpack_from("<H", d, 0)[0]
            raise self.error(f"bad BTF magic {magic:#06x} (expected {uapi.BTF_MAGIC:#06x} in either byte order)", 0)
        if unpacked is None:
            raise self.error(f"truncated BTF: {len(d)} bytes, the header needs {uapi.BTF_HEADER_LEN}", len(d))
        header, order = unpacked
        e = "<" if order == "little" else ">"
        version, hdr_len = header.version, header.hdr_len
        if version != uapi.BTF_VERSION:
            raise self.error(f"unsupported BTF version {version} (expected {uapi.BTF_VERSION})", 2)
        if hdr_len < uapi.BTF_HEADER_LEN or hdr_len > len(d):
            raise self.error(f"header length {hdr_len} outside {uapi.BTF_HEADER_LEN}..{len(d)} "
                             f"(the data has {len(d)} bytes)", 4)
        if hdr_len >= uapi.BTF_HEADER_LAYOUT_LEN:
            layout_off, layout_len = struct.unpack_from(e + "II", d, uapi.BTF_HEADER_LEN)
            header = header._replace(layout_off=layout_off, layout_len=layout_len)
        self._check_section("type", header.type_off, header.type_len, hdr_len, 8)
        self._check_section("string", header.str_off, header.str_len, hdr_len, 16)
        if header.type_len % 4:
            raise self.error(f"type section length {header.type_len} is not a multiple of 4", 12)
        return header, order

    def _check_section(self, what: str, off: int, length: int, hdr_len: int, field_at: int) -> None:
        end = hdr_len + off + length
        if end > len(self.data):
            raise self.error(f"{what} section [{hdr_len + off}, {end}) runs past the end of the data "
                             f"({len(self.data)} bytes)", field_at)

    def _parse_layout(self) -> dict[int, tuple[int, int]]:
        """The layout section (``struct btf_layout`` per kind), when the header has one."""
        h = self.header
        if not h.layout_len:
            return {}
        self._check_section("layout", h.layout_off, h.layout_len, h.hdr_len, 24)
        at = h.hdr_len + h.layout_off
        if h.layout_len % uapi.BTF_LAYOUT_LEN:
            raise self.error(f"layout section length {h.layout_len} is not a multiple of {uapi.BTF_LAYOUT_LEN}", 28)
        out: dict[int, tuple[int, int]] = {}
        for kind in range(min(h.layout_len // uapi.BTF_LAYOUT_LEN, 128)):
            info_sz, elem_sz, _flags = struct.unpack_from(self._e + "BBH", self.data, at + 4 * kind)
            if info_sz % 4 or elem_sz % 4:
                raise self.error(f"layout of kind {kind}: sizes {info_sz}/{elem_sz} are not multiples of 4",
                                 at + 4 * kind)
            if 0 < kind <= uapi.MAX_KIND and (info_sz, elem_sz) != uapi.KIND_EXTRA.get(Kind(kind), (0, 0)):
                raise self.error(f"layout section describes {Kind(kind).name} as {info_sz}+{elem_sz}*vlen bytes, "
                                 f"btf.h says {uapi.KIND_EXTRA.get(Kind(kind), (0, 0))}", at + 4 * kind)
            out[kind] = (info_sz, elem_sz)
        return out

    # ---- strings ----------------------------------------------------------------------------

    def name(self, name_off: int, where: int | None = None) -> str:
        """The NUL-terminated string at *name_off* of the string section."""
        if name_off == 0:
            return ""
        size = self.header.str_len
        if name_off >= size:
            raise self.error(f"string offset {name_off} out of range (string section has {size} bytes)", where)
        start = self._strs_at + name_off
        end = self.data.find(b"\0", start, self._strs_end)
        if end < 0:
            raise self.error(f"string at offset {name_off} is not NUL-terminated", where)
        return self.data[start:end].decode("utf-8", "replace")

    def _scan(self, chunk: list[tuple[bytes, frozenset[int]]] | None = None) -> list[int]:
        """Walk every record once (in C, :mod:`netmem_ffi._btfscan`), recording where each starts.

        The same pass finds the names of *chunk* (see :meth:`_look_up`) and returns their type ids.
        Raises :class:`KernelInputError` at the first record that is truncated,
        of an unknown kind, runs past the section, or passes ``BTF_MAX_TYPE``.
        """
        from netmem_ffi._btfscan import ffi, lib

        n = len(self._words)
        cap = min(n // 3 + 1, uapi.BTF_MAX_TYPE + 1)  # a record has 3 words at least (a truncated last one: +1)
        offsets = _uncleared(ffi)("uint32_t[]", cap)  # the walk writes what is read back
        count = ffi.new("size_t *")
        names, by_kind, found = _name_args(ffi, chunk or [])
        strs = ffi.from_buffer(self.data)  # alive for the call: the pointer below does not hold it
        rc = lib.btf_scan(ffi.from_buffer("uint32_t[]", self._words), n, ffi.new("uint32_t[256]", self._base),
                          ffi.new("uint32_t[256]", self._per), offsets, cap, count, strs + self._strs_at,
                          self.header.str_len, names, len(chunk or ()), by_kind, found)
        walked = array("I")
        walked.frombytes(ffi.buffer(offsets, 4 * int(count[0])))
        self._offsets = walked
        self._done = True
        if rc >= 0:
            return list(found)
        self._failed = self._scan_error(rc, walked, n)
        raise self._failed

    def _scan_error(self, rc: int, walked: array[int], n: int) -> KernelInputError:
        from netmem_ffi._btfscan import lib

        last = len(walked)
        where = self._types_at + 4 * walked[-1]
        if rc == lib.BTF_SCAN_TRUNCATED:
            return self.error(f"type [{last}] is truncated: its header runs past the end of the type section", where)
        if rc == lib.BTF_SCAN_UNKNOWN_KIND:
            return self._unknown_kind(last, (self._words[walked[-1] + 1] >> 24) & 0x7F)
        if rc == lib.BTF_SCAN_PAST_END:
            info = self._words[walked[-1] + 1]
            top = info >> 24
            extra = self._base[top] + (info & 0xFFFFFF) * self._per[top] - (n - walked[-1])
            return self.error(f"type [{last}] runs past the end of the type section ({4 * extra} bytes too long)",
                             where)
        return self.error(f"more than {uapi.BTF_MAX_TYPE} types", where)

    def _unknown_kind(self, tid: int, kind: int) -> KernelInputError:
        where = self._types_at + 4 * self._offsets[tid - 1]
        if kind == Kind.UNKN:
            return self.error(f"type [{tid}] has kind 0 (BTF_KIND_UNKN)", where)
        return self.error(f"type [{tid}] has unknown BTF kind {kind} and the header has no layout section "
                          "describing it", where)

    def _walked(self) -> None:
        """Walk the type section if not yet done; raise the walk's error again if it failed."""
        if self._failed is not None:
            raise self._failed.with_traceback(None)
        if not self._done:
            self._scan()

    def _ensure(self, tid: int, where: int | None = None) -> None:
        if tid > len(self._offsets) or self._failed is not None:
            self._walked()
        if not 0 < tid <= len(self._offsets):
            raise self.error(f"type id {tid} out of range (1..{len(self)})", where)

    def __len__(self) -> int:
        """Number of types (void excluded); walks the whole type section."""
        self._walked()
        return len(self._offsets)

    def find_types(self, wanted: Mapping[str, frozenset[int]]) -> dict[str, int]:
        """The first type id of each name whose kind is one of the kinds given; absent names are left out.

        A record's name is compared as bytes with the UTF-8 of the wanted name (libbpf's
        ``btf__find_by_name_kind``); each (name, kinds) is looked up once per blob, in C: with the
        walk of the type section when that is still to come, else in one pass over the records.
        """
        todo = [item for item in wanted.items() if item not in self._found]
        if todo:
            self._look_up(todo)
        return {name: tid for name, kinds in wanted.items() if (tid := self._found[name, kinds])}

    def _look_up(self, todo: list[tuple[str, frozenset[int]]]) -> None:
        """Fill :attr:`_found` for every (name, kinds) of *todo*, :data:`BTF_SCAN_MAX_NAMES` per C pass."""
        from netmem_ffi._btfscan import ffi, lib

        searchable: list[tuple[str, frozenset[int]]] = []
        encoded: list[tuple[bytes, frozenset[int]]] = []
        for name, kinds in todo:
            raw = name.encode("utf-8", "surrogatepass")
            if b"\0" in raw:  # no BTF name holds a NUL
                self._found[name, kinds] = 0
            else:
                searchable.append((name, kinds))
                encoded.append((raw, kinds))
        for at in range(0, len(encoded), lib.BTF_SCAN_MAX_NAMES):
            chunk = encoded[at:at + lib.BTF_SCAN_MAX_NAMES]
            if not self._done and self._failed is None:
                ids = self._scan(chunk)
            else:
                self._walked()
                names, by_kind, found = _name_args(ffi, chunk)
                strs = ffi.from_buffer(self.data)
                lib.btf_find_names(ffi.from_buffer("uint32_t[]", self._words),
                                   ffi.from_buffer("uint32_t[]", self._offsets), len(self._offsets),
                                   strs + self._strs_at, self.header.str_len, names, len(chunk), by_kind, found)
                ids = list(found)
            self._found.update(zip(searchable[at:at + lib.BTF_SCAN_MAX_NAMES], ids))

    def find(self, name: str, kinds: frozenset[int]) -> int | None:
        """The first type id called *name* whose kind is in *kinds* (libbpf's find_by_name_kind)."""
        return self.find_types({name: kinds}).get(name)

    # ---- records ----------------------------------------------------------------------------

    def type(self, tid: int, where: int | None = None) -> BTFType:
        """The full record of type *tid* (1-based); ``KernelInputError`` when out of range."""
        cached = self._cache.get(tid)
        if cached is not None:
            return cached
        self._ensure(tid, where)
        rec = self._decode(tid)
        self._cache[tid] = rec
        return rec

    def _decode(self, tid: int) -> BTFType:
        w = self._words
        i = self._offsets[tid - 1]
        at = self._types_at + 4 * i
        name_off, info, st = w[i], w[i + 1], w[i + 2]
        kind, vlen, kflag = uapi.info_kind(info), uapi.info_vlen(info), uapi.info_kflag(info)
        name = self.name(name_off, at)
        t = i + 3
        if kind > uapi.MAX_KIND:
            info_sz, elem_sz = self._base[info >> 24] * 4 - uapi.BTF_TYPE_LEN, self._per[info >> 24] * 4
            raw = self.data[self._types_at + 4 * t:self._types_at + 4 * t + info_sz + vlen * elem_sz]
            return BTFType(tid, kind, name, st, kflag, raw=raw, vlen=vlen)
        k = Kind(kind)
        if k in (Kind.INT, Kind.VAR):
            return BTFType(tid, kind, name, st, kflag, extra=w[t], vlen=vlen)
        if k is Kind.DECL_TAG:
            return BTFType(tid, kind, name, st, kflag, extra=_s32(w[t]), vlen=vlen)
        if k is Kind.ARRAY:
            return BTFType(tid, kind, name, st, kflag, array=(w[t], w[t + 1], w[t + 2]), vlen=vlen)
        if k in (Kind.STRUCT, Kind.UNION):
            members = []
            for j in range(t, t + 3 * vlen, 3):
                off = w[j + 2]
                bits = (uapi.member_bitfield_size(off), uapi.member_bit_offset(off)) if kflag else (0, off)
                members.append(BTFMember(self.name(w[j], self._types_at + 4 * j), w[j + 1], bits[1], bits[0]))
            return BTFType(tid, kind, name, st, kflag, members=tuple(members))
        if k is Kind.ENUM:
            conv = _s32 if kflag else int
            values = tuple((self.name(w[j], self._types_at + 4 * j), conv(w[j + 1])) for j in range(t, t + 2 * vlen, 2))
            return BTFType(tid, kind, name, st, kflag, enumerators=values)
        if k is Kind.ENUM64:
            values = tuple((self.name(w[j], self._types_at + 4 * j), _u64(w[j + 1], w[j + 2], kflag))
                           for j in range(t, t + 3 * vlen, 3))
            return BTFType(tid, kind, name, st, kflag, enumerators=values)
        if k is Kind.FUNC_PROTO:
            params = tuple((self.name(w[j], self._types_at + 4 * j), w[j + 1]) for j in range(t, t + 2 * vlen, 2))
            return BTFType(tid, kind, name, st, kflag, params=params)
        if k is Kind.DATASEC:
            infos = tuple((w[j], w[j + 1], w[j + 2]) for j in range(t, t + 3 * vlen, 3))
            return BTFType(tid, kind, name, st, kflag, secinfos=infos)
        return BTFType(tid, kind, name, st, kflag, vlen=vlen)

    def types(self) -> Iterator[BTFType]:
        """Every type record, in id order (walks and decodes everything)."""
        for tid in range(1, len(self) + 1):
            yield self.type(tid)

    # ---- resolving --------------------------------------------------------------------------

    def resolve(self, tid: int, *, keep_typedefs: bool = False, referrer: int | None = None) -> int:
        """Follow CONST/VOLATILE/RESTRICT/TYPE_TAG (and TYPEDEF unless *keep_typedefs*) to the real type.

        *referrer* (the type whose record names *tid*) locates errors.  Raises
        ``KernelInputError`` on an id out of range, a cycle or a chain longer
        than :data:`MAX_CHAIN`.
        """
        start = tid
        for _ in range(MAX_CHAIN):
            if tid == 0:
                return 0
            t = self._cache.get(tid) or self.type(tid, self.where(referrer))  # where: only for a miss
            if t.kind not in uapi.MODIFIER_KINDS or (keep_typedefs and t.kind == Kind.TYPEDEF):
                return tid
            referrer, tid = tid, t.size_type
        raise self.error(f"typedef/modifier chain from type [{start}] loops or exceeds {MAX_CHAIN} links",
                         self._type_offset(start))

    def size_of(self, tid: int, _depth: int = 0, referrer: int | None = None) -> int:
        """``sizeof`` the type *tid*: sized kinds, pointers, arrays, through typedefs and modifiers."""
        if _depth > MAX_CHAIN:
            raise self.error(f"array nesting from type [{tid}] loops or exceeds {MAX_CHAIN} levels",
                             self.where(tid))
        rid = self.resolve(tid, referrer=referrer)
        t = self.type(rid) if rid else None
        if t is None or t.kind in (Kind.FWD, Kind.FUNC, Kind.FUNC_PROTO, Kind.VAR, Kind.DECL_TAG):
            what = "void" if t is None else f"{t.kind_name} {t.name!r}"
            raise self.error(f"type [{tid}] ({what}) has no size", None if t is None else self._type_offset(rid))
        if t.kind == Kind.PTR:
            return self.pointer_size
        if t.kind == Kind.ARRAY:
            assert t.array is not None
            return t.array[2] * self.size_of(t.array[0], _depth + 1, rid)
        return t.size_type

    @property
    def pointer_size(self) -> int:
        """Bytes of a pointer: the size of the ``long`` integer type (as libbpf determines it)."""
        if self._pointer_size is None:
            found = self.find_types(LONG_TYPES)
            sizes = {self.type(tid).size_type for tid in found.values()}
            if len(sizes) != 1 or not sizes <= {4, 8}:
                raise self.error(f"cannot tell the pointer size: long integer types of sizes {sorted(sizes)}")
            self._pointer_size = sizes.pop()
        return self._pointer_size


def _kept(data: bytes | mmap) -> bytes | mmap:
    """*data* as the reader keeps it: bytes or a read-only mapping as given, any other buffer copied to bytes."""
    mapping = sys.modules.get("mmap")  # loaded whenever *data* is a mapping: the reader need not import it
    if isinstance(data, bytes) or (mapping is not None and isinstance(data, mapping.mmap)):
        return data
    return bytes(data)


@functools.cache
def _uncleared(ffi: Any) -> Any:
    """*ffi*'s allocator that does not zero memory (the walk writes its offsets, up to 4 MiB, before any is read)."""
    return ffi.new_allocator(should_clear_after_alloc=False)


def _name_args(ffi: Any, chunk: list[tuple[bytes, frozenset[int]]]) -> tuple[Any, Any, Any]:
    """The C arguments naming *chunk* (UTF-8 names and their kinds): names, ``by_kind`` and the ``found`` out-array."""
    by_kind = [0] * 128
    for j, (_, kinds) in enumerate(chunk):
        for kind in kinds:
            by_kind[kind & 0x7F] |= 1 << j
    return (ffi.new("char[]", b"".join(name + b"\0" for name, _ in chunk)), ffi.new("uint64_t[128]", by_kind),
            ffi.new("uint32_t[]", max(len(chunk), 1)))


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def _u64(lo: int, hi: int, signed: bool) -> int:
    v = (hi << 32) | lo
    return v - (1 << 64) if signed and v >> 63 else v


def load_btf(path: str, base_offset: int = 0) -> BTF:
    """Read the raw BTF file at *path*; ``KernelInputError`` if it cannot be read or is not a regular file.

    Raw BTF only: every other kernel input goes through ``netmem_ffi.kernel.source.read_source``.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise KernelInputError("not a regular file: BTF is read from files", path)
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise KernelInputError(f"cannot read: {exc.strerror or exc}", path) from None
    return BTF(data, path, base_offset)
