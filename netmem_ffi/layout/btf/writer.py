"""Encode types back to raw BTF, in either byte order.

* :func:`encode` writes a list of :class:`~netmem_ffi.layout.btf.reader.BTFType`
  records (ids = positions, from 1) with a fresh string section, optionally
  with a layout section (needed for kinds newer than btf.h knows).
* :func:`extract` keeps only what lays out the given roots (by default the
  netmem structs, ``enum net_iov_type`` and ``struct page``): member types
  through typedefs, modifiers and arrays in full; a struct or union reached
  only through a pointer becomes a ``FWD``.  The result is a small
  "reference extract" that reads back to the same layouts.
* :func:`synthesize` builds BTF from a :class:`~netmem_ffi.layout.types.LayoutSet`
  (e.g. a profile's model), to make synthetic kernels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from types import SimpleNamespace

from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.btf import uapi
from netmem_ffi.layout.btf.format import declare
from netmem_ffi.layout.btf.reader import BTF, BTFMember, BTFType
from netmem_ffi.layout.btf.uapi import Kind
from netmem_ffi.layout.types import LayoutSet, StructLayout


class _Strings:
    """A string section under construction: each string stored once."""

    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.offsets = {"": 0}

    def add(self, s: str) -> int:
        off = self.offsets.get(s)
        if off is None:
            off = self.offsets[s] = len(self.data)
            self.data += s.encode() + b"\0"
        return off


def _u32(v: int) -> int:
    return v & 0xFFFFFFFF


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def _trailing(f: SimpleNamespace, t: BTFType, strs: _Strings) -> bytes:
    """The bytes after ``struct btf_type`` for record *t*."""
    k = t.kind
    if k > uapi.MAX_KIND:
        return t.raw
    one, elem = f.trailing.get(Kind(k), (None, None))
    if k in (Kind.INT, Kind.VAR):
        return bytes(one.build(t.extra) if k == Kind.INT else one.build({"linkage": t.extra}))
    if k == Kind.DECL_TAG:
        return bytes(one.build({"component_idx": _s32(t.extra)}))
    if k == Kind.ARRAY:
        assert t.array is not None
        return bytes(one.build(dict(zip(("type", "index_type", "nelems"), t.array))))
    if k in (Kind.STRUCT, Kind.UNION):
        return b"".join(
            elem.build({"name_off": strs.add(m.name), "type": m.type,
                        "offset": (m.bitfield_size << 24 | m.bit_offset) if t.kflag else m.bit_offset})
            for m in t.members)
    if k == Kind.ENUM:
        return b"".join(elem.build({"name_off": strs.add(n), "val": _s32(v)}) for n, v in t.enumerators)
    if k == Kind.ENUM64:
        return b"".join(elem.build({"name_off": strs.add(n), "val_lo32": _u32(v), "val_hi32": _u32(v >> 32)})
                        for n, v in t.enumerators)
    if k == Kind.FUNC_PROTO:
        return b"".join(elem.build({"name_off": strs.add(n), "type": tid}) for n, tid in t.params)
    if k == Kind.DATASEC:
        return b"".join(elem.build(dict(zip(("type", "offset", "size"), s))) for s in t.secinfos)
    return b""


def _vlen(t: BTFType) -> int:
    return len(t.members) or len(t.enumerators) or len(t.params) or len(t.secinfos) or t.vlen


def encode(types: Sequence[BTFType], byteorder: str = "little", *,
           layout: bool | Mapping[int, tuple[int, int]] = False) -> bytes:
    """Raw BTF holding *types* as ids 1..len(types).

    *layout*: False for the classic 24-byte header; True (or a mapping
    ``kind -> (info_sz, elem_sz)`` for extra kinds) for a 32-byte header and a
    layout section describing every kind up to the highest one used.
    """
    f = declare(byteorder)
    strs = _Strings()
    body = bytearray()
    for t in types:
        tail = _trailing(f, t, strs)
        info = uapi.make_info(t.kind, _vlen(t), t.kflag)
        body += f.btf_type.build({"name_off": strs.add(t.name), "info": info, "size_type": _u32(t.size_type)})
        body += tail
    strings = bytes(strs.data)
    layout_bytes = b""
    if layout is not False:
        extra = {} if layout is True else dict(layout)
        top = max([int(uapi.MAX_KIND), *extra, *(t.kind for t in types)])
        entries = []
        for kind in range(top + 1):
            known = uapi.KIND_EXTRA.get(Kind(kind), (0, 0)) if kind <= uapi.MAX_KIND else (0, 0)
            info_sz, elem_sz = extra.get(kind, known)
            entries.append(f.btf_layout.build({"info_sz": info_sz, "elem_sz": elem_sz, "flags": 0}))
        layout_bytes = b"".join(entries)
    pad = b"\0" * (-len(strings) % 4) if layout_bytes else b""
    fields = {"version": uapi.BTF_VERSION, "flags": 0, "type_off": 0, "type_len": len(body),
              "str_off": len(body), "str_len": len(strings)}
    if layout_bytes:
        header = f.btf_header_layout.build({**fields, "hdr_len": uapi.BTF_HEADER_LAYOUT_LEN,
                                            "layout_off": len(body) + len(strings) + len(pad),
                                            "layout_len": len(layout_bytes)})
    else:
        header = f.btf_header.build({**fields, "hdr_len": uapi.BTF_HEADER_LEN})
    return bytes(header) + bytes(body) + strings + pad + layout_bytes


# ---- extract ---------------------------------------------------------------------------------

#: The default roots of a netmem reference extract, with the kinds looked for.
NETMEM_ROOTS: dict[str, frozenset[int]] = {
    "netmem_desc": frozenset({Kind.STRUCT}),
    "net_iov": frozenset({Kind.STRUCT}),
    "net_iov_area": frozenset({Kind.STRUCT}),
    "page": frozenset({Kind.STRUCT}),
    "net_iov_type": frozenset({Kind.ENUM, Kind.ENUM64}),
    # the architecture's own register frame: netmem_ffi.layout.archid names the target from it
    "pt_regs": frozenset({Kind.STRUCT}),
    "user_pt_regs": frozenset({Kind.STRUCT}),
    # the long types tell the pointer size
    "long int": frozenset({Kind.INT}),
    "long unsigned int": frozenset({Kind.INT}),
}


def closure(btf: BTF, roots: Iterable[int]) -> tuple[list[int], set[int]]:
    """Type ids needed to lay out *roots*: (all kept ids in id order, ids kept only as ``FWD``)."""
    full: set[int] = set()
    shallow: set[int] = set()
    work = [(tid, False, 0) for tid in roots]
    while work:
        tid, by_ptr, referrer = work.pop()
        if tid == 0 or tid in full:
            continue
        t = btf.type(tid, btf.where(referrer))
        if by_ptr and t.kind in (Kind.STRUCT, Kind.UNION) and t.name:
            shallow.add(tid)
            continue
        full.add(tid)
        if t.kind in (Kind.STRUCT, Kind.UNION):
            child_by_ptr = False
        elif t.kind in (Kind.PTR, Kind.FUNC_PROTO, Kind.FUNC):
            child_by_ptr = True
        else:
            child_by_ptr = by_ptr
        work.extend((r, child_by_ptr, tid) for r in t.refs())
    shallow -= full
    return sorted(full | shallow), shallow


def extract(btf: BTF, roots: Iterable[str | int] | None = None, byteorder: str | None = None) -> bytes:
    """Raw BTF with only the closure of *roots* (names or type ids; default :data:`NETMEM_ROOTS`).

    Names absent from *btf* are skipped (a 6.12 kernel has no netmem_desc).
    The byte order is *btf*'s unless given.
    """
    ids: list[int] = []
    names: dict[str, frozenset[int]] = {}
    for r in NETMEM_ROOTS if roots is None else roots:
        if isinstance(r, int):
            ids.append(r)
        else:
            names[r] = NETMEM_ROOTS.get(r, frozenset({Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
                                                      Kind.TYPEDEF, Kind.INT}))
    ids.extend(btf.find_types(names).values())
    keep, shallow = closure(btf, ids)
    new_id = {old: new for new, old in enumerate(keep, 1)}
    new_id[0] = 0

    def remap(tid: int) -> int:
        return new_id[tid]

    out = []
    for old in keep:
        t = btf.type(old)
        if old in shallow:
            out.append(BTFType(0, Kind.FWD, t.name, 0, t.kind == Kind.UNION))
            continue
        refs_type = t.kind not in uapi.SIZED_KINDS
        out.append(t._replace(
            size_type=remap(t.size_type) if refs_type else t.size_type,
            array=None if t.array is None else (remap(t.array[0]), remap(t.array[1]), t.array[2]),
            members=tuple(m._replace(type=remap(m.type)) for m in t.members),
            params=tuple((n, remap(p)) for n, p in t.params),
            secinfos=tuple((remap(s), o, z) for s, o, z in t.secinfos),
        ))
    return encode(out, byteorder or btf.byteorder)


# ---- synthesize -------------------------------------------------------------------------------

_INT_NAMES = {  # cffi spelling -> (BTF/DWARF name, signed)
    "char": ("char", True), "signed char": ("signed char", True), "unsigned char": ("unsigned char", False),
    "short": ("short int", True), "unsigned short": ("short unsigned int", False),
    "int": ("int", True), "unsigned int": ("unsigned int", False),
    "long": ("long int", True), "unsigned long": ("long unsigned int", False),
    "long long": ("long long int", True), "unsigned long long": ("long long unsigned int", False),
    "_Bool": ("_Bool", False),
}
#: Typedefs of the kernel that layouts name: typedef name -> (underlying cffi spelling, wraps a struct).
_TYPEDEFS = {"atomic_t": ("int", True), "atomic_long_t": ("long", True), "atomic64_t": ("long long", True),
             "refcount_t": ("int", True), "memdesc_flags_t": ("unsigned long", True),
             "size_t": ("unsigned long", False), "dma_addr_t": ("unsigned long long", False)}


class _Synth:
    """Turns cffi-spelled type texts and struct layouts into BTF records."""

    def __init__(self, layouts: LayoutSet) -> None:
        self.layouts = layouts
        self.types: list[BTFType] = []
        self.by_text: dict[str, int] = {}

    def add(self, t: BTFType) -> int:
        self.types.append(t)
        return len(self.types)

    def scalar_size(self, text: str) -> int:
        ps = self.layouts.pointer_size
        return {"char": 1, "short": 2, "int": 4, "long": ps, "long long": 8, "_Bool": 1}[
            text.replace("unsigned ", "").replace("signed ", "")]

    def type_id(self, text: str) -> int:
        """The id of the type spelled *text* (``unsigned long``, ``struct page_pool *``, ...)."""
        if text in self.by_text:
            return self.by_text[text]
        tid = self._make(text)
        self.by_text[text] = tid
        return tid

    def _make(self, text: str) -> int:
        if text.endswith("*"):
            target = self.type_id(text[:-1].rstrip()) if text[:-1].strip() != "void" else 0
            return self.add(BTFType(0, Kind.PTR, "", target))
        if text in _INT_NAMES:
            name, signed = _INT_NAMES[text]
            size = self.scalar_size(text)
            enc = (uapi.BTF_INT_BOOL if text == "_Bool" else uapi.BTF_INT_SIGNED if signed else 0) << 24
            return self.add(BTFType(0, Kind.INT, name, size, extra=enc | size * 8))
        if text in _TYPEDEFS:
            under, wraps = _TYPEDEFS[text]
            target = self.type_id(under)
            if wraps:
                member = BTFMember("f" if text == "memdesc_flags_t" else "counter", target, 0)
                target = self.add(BTFType(0, Kind.STRUCT, "", self.scalar_size(under), members=(member,)))
            return self.add(BTFType(0, Kind.TYPEDEF, text, target))
        kind, _, name = text.partition(" ")
        if kind == "enum":
            enum = self.layouts.enums.get(name)
            if enum is None:
                return self.add(BTFType(0, Kind.FWD, name, 0))
            k = Kind.ENUM64 if enum.size == 8 else Kind.ENUM
            return self.add(BTFType(0, k, name, enum.size, enumerators=enum.values))
        if kind in ("struct", "union") and re.fullmatch(r"\w+", name):
            if name in self.layouts.structs:
                return self.struct(self.layouts.structs[name])
            return self.add(BTFType(0, Kind.FWD, name, 0, kind == "union"))
        raise KernelInputError(f"cannot synthesize BTF for type {text!r}")

    def struct(self, layout: StructLayout) -> int:
        """A STRUCT whose members are the top-level (undotted) members of *layout*."""
        tid = self.add(BTFType(0, Kind.STRUCT, layout.name, layout.size))
        self.by_text[f"struct {layout.name}"] = tid  # before the members: they may point back
        members = tuple(BTFMember(fl.name, self.type_id(fl.type), fl.offset * 8) for fl in layout.top_level())
        self.types[tid - 1] = self.types[tid - 1]._replace(members=members)
        return tid


def synthesize(layouts: LayoutSet, byteorder: str | None = None) -> bytes:
    """Raw BTF declaring the structs and enums of *layouts* (flattened members become direct members).

    A member's struct type is taken from *layouts* when it holds that struct;
    other named structs become ``FWD``.  Reads back to the same flattened
    layouts (struct ``page`` as far as *layouts* has it).
    """
    s = _Synth(layouts)
    for name in ("long", "unsigned long"):
        s.type_id(name)
    for name in layouts.enums:
        s.type_id(f"enum {name}")
    for name in layouts.structs:
        s.type_id(f"struct {name}")
    return encode(s.types, byteorder or layouts.endianness)
