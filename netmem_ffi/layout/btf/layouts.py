"""BTF to :class:`~netmem_ffi.layout.types.LayoutSet`: the kernel's netmem layouts as read.

Members are flattened by :func:`netmem_ffi.layout.types.flatten`, exactly as
:mod:`netmem_ffi.layout.host` does for cffi, and type texts are spelled the way
cffi spells a ``cname`` (``unsigned long``, ``struct page_pool *``,
``atomic_long_t``, ``void(*)(struct callback_head *)``): typedefs are resolved
except those of anonymous structs/unions/enums and cffi's own primitive names
(``size_t`` ...), ``const``/``volatile`` are dropped, DWARF integer names are
put in C order (``long unsigned int`` -> ``unsigned long``).

BTF records no alignment, so struct ``align`` is 0 (unknown; comparisons skip
it).  Arch facts: pointer size from the ``long`` integer type, endianness from
the magic.
"""

from __future__ import annotations

from collections.abc import Iterator

from netmem_ffi.abi import registry
from netmem_ffi.layout.btf.reader import BTF, LONG_TYPES, MAX_CHAIN, BTFType
from netmem_ffi.layout.btf.uapi import MODIFIER_KINDS, Kind, int_bits, int_offset
from netmem_ffi.layout.types import (
    EnumLayout,
    LayoutSet,
    Member,
    StructLayout,
    flatten,
    limit_page,
)

#: Typedef names cffi treats as primitive types and keeps in a ``cname``.
CFFI_PRIMITIVE_TYPEDEFS = frozenset(
    {"size_t", "ssize_t", "ptrdiff_t", "intptr_t", "uintptr_t", "intmax_t", "uintmax_t", "wchar_t",
     "char16_t", "char32_t"}
    | {f"{u}int{w}_t" for u in ("", "u") for w in (8, 16, 32, 64)}
    | {f"{u}int_{q}{w}_t" for u in ("", "u") for q in ("least", "fast") for w in (8, 16, 32, 64)}
)

#: What the netmem layouts are built from: name -> kinds looked for.
STRUCT_KINDS = frozenset({Kind.STRUCT})
ENUM_KINDS = frozenset({Kind.ENUM, Kind.ENUM64})
WANTED = {**{name: STRUCT_KINDS for name in registry.STRUCTS}, **{name: ENUM_KINDS for name in registry.ENUMS}}
#: Every type :func:`layout_set` looks up, the ``long`` types of the pointer size included: asked for
#: together, they are found in one walk of the type section.
NETMEM_TYPES = {**WANTED, **LONG_TYPES}


def int_spelling(name: str) -> str:
    """A DWARF/BTF integer name in cffi's spelling: ``long unsigned int`` -> ``unsigned long``."""
    words = name.split()
    if name in ("_Bool", "bool"):
        return "_Bool"
    unsigned = "unsigned" in words
    if "char" in words:
        return "unsigned char" if unsigned else "signed char" if "signed" in words else "char"
    longs = words.count("long")
    base = ("long long" if longs >= 2 else "long" if longs else "short" if "short" in words
            else "__int128" if "__int128" in words else "int" if "int" in words or "signed" in words or unsigned
            else None)
    if base is None:
        return name
    return ("unsigned " if unsigned else "") + base


def _marked(btf: BTF, tid: int, depth: int, referrer: int) -> str:
    """cffi's ``c_name_with_marker`` for type *tid* (named by *referrer*): the declarator's place is ``&``.

    Memoized per type id (a type graph that shares prototypes is spelled once
    per type, not once per path), and no text may grow past the ``type_text``
    budget (prototypes whose parameters are pointers to the next prototype,
    forty deep, would spell 2^40 characters).
    """
    known = btf.spellings.get(tid)
    if known is not None:
        return known
    text = _spell_once(btf, tid, depth, referrer)
    btf.budget.check("type_text", len(text), f"spelling type [{tid}]", btf.path, btf.where(tid))
    btf.spellings[tid] = text
    return text


def _spell_once(btf: BTF, tid: int, depth: int, referrer: int) -> str:
    if depth > MAX_CHAIN:
        raise btf.error(f"type [{tid}]: declarator nesting loops or exceeds {MAX_CHAIN} levels", btf.where(tid))
    if tid == 0:
        return "void&"
    t = btf.type(tid, btf.where(referrer))
    k = t.kind
    if k in MODIFIER_KINDS and k != Kind.TYPEDEF:
        return _marked(btf, t.size_type, depth + 1, tid)
    if k == Kind.TYPEDEF:
        target = btf.resolve(tid, referrer=referrer)
        tt = btf.type(target) if target else None
        anonymous = tt is not None and tt.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64) and not tt.name
        if t.name in CFFI_PRIMITIVE_TYPEDEFS or anonymous:
            return t.name + "&"
        return _marked(btf, t.size_type, depth + 1, tid)
    if k == Kind.INT:
        return int_spelling(t.name) + "&"
    if k == Kind.FLOAT:
        return t.name + "&"
    if k in (Kind.STRUCT, Kind.UNION, Kind.FWD, Kind.ENUM, Kind.ENUM64):
        keyword = ("union" if k == Kind.UNION or (k == Kind.FWD and t.kflag)
                   else "enum" if k in (Kind.ENUM, Kind.ENUM64) else "struct")
        return f"{keyword} {t.name or '$' + str(tid)}&"
    if k == Kind.ARRAY:
        assert t.array is not None
        return _marked(btf, t.array[0], depth + 1, tid).replace("&", f"&[{t.array[2]}]")
    if k == Kind.PTR:
        target = btf.resolve(t.size_type, keep_typedefs=True, referrer=tid)
        if target and btf.type(target).kind == Kind.FUNC_PROTO:
            return _function(btf, btf.type(target), "(*&)", depth)
        inner = _marked(btf, t.size_type, depth + 1, tid)
        is_array = bool(target) and btf.type(target).kind == Kind.ARRAY
        return inner.replace("&", "(*&)" if is_array else " *&")
    if k == Kind.FUNC_PROTO:
        return _function(btf, t, "(&)", depth)
    raise btf.error(f"type [{tid}] ({t.kind_name} {t.name!r}) is not a C object type")


def _function(btf: BTF, proto: BTFType, pattern: str, depth: int) -> str:
    args = [spell(btf, p, depth + 1, proto.id) for _, p in proto.params if p]
    if proto.params and proto.params[-1][1] == 0:
        args.append("...")
    return _marked(btf, proto.size_type, depth + 1, proto.id).replace("&", f"{pattern}({', '.join(args) or 'void'})")


def spell(btf: BTF, tid: int, depth: int = 0, referrer: int = 0) -> str:
    """The C text of type *tid*, as cffi's ``cname`` would give it (*referrer* locates errors)."""
    return _marked(btf, tid, depth, referrer).replace("&", "")


def _members(btf: BTF, t: BTFType, depth: int = 0) -> Iterator[Member]:
    """The declared members of STRUCT/UNION *t*, source-neutral, for :func:`flatten`."""
    if depth > MAX_CHAIN:
        raise btf.error(f"struct nesting at type [{t.id}] loops or exceeds {MAX_CHAIN} levels")
    for m in t.members:
        rid = btf.resolve(m.type, referrer=t.id)
        rt = btf.type(rid) if rid else None
        children = None
        if rt is not None and rt.kind in (Kind.STRUCT, Kind.UNION):
            children = lambda rt=rt: _members(btf, rt, depth + 1)
        key = rt.id if children is not None and rt is not None else None
        size = btf.size_of(m.type, referrer=t.id)
        bit_size = m.bitfield_size
        bit_offset = m.bit_offset
        if not bit_size and rt is not None and rt.kind == Kind.INT and int_bits(rt.extra) != 8 * size:
            bit_size = int_bits(rt.extra)  # pre-kind_flag bitfield: BTF_INT_BITS/OFFSET on the int
            bit_offset += int_offset(rt.extra)
        if bit_size:
            offset = bit_offset // (8 * size) * size if size else bit_offset // 8  # storage unit, as cffi
            yield Member(m.name or None, offset, size, spell(btf, m.type, referrer=t.id), children, bit_offset,
                         bit_size, key)
        else:
            yield Member(m.name or None, bit_offset // 8, size, spell(btf, m.type, referrer=t.id), children,
                         key=key)


def struct_layout(btf: BTF, tid: int) -> StructLayout:
    """The flattened layout of STRUCT/UNION type *tid* (``align`` 0: BTF has none)."""
    t = btf.type(tid)
    return StructLayout(t.name, t.size_type, 0, tuple(flatten(_members(btf, t), budget=btf.budget, source=btf.path)))


def enum_layout(btf: BTF, tid: int) -> EnumLayout:
    """Size and enumerators (declaration order) of ENUM/ENUM64 type *tid*."""
    t = btf.type(tid)
    return EnumLayout(t.name, t.size_type, t.enumerators)


def layout_set(btf: BTF, *, arch: str, source: str = "") -> LayoutSet:
    """The netmem structs (``page`` limited to :data:`registry.PAGE_MEMBERS`) and enums found in *btf*."""
    found = btf.find_types(NETMEM_TYPES)  # one walk, pointer_size included
    structs = {n: struct_layout(btf, found[n]) for n in registry.STRUCTS if n in found}
    enums = {n: enum_layout(btf, found[n]) for n in registry.ENUMS if n in found}
    return LayoutSet(
        arch=arch,
        pointer_size=btf.pointer_size,
        endianness=btf.byteorder,
        structs=limit_page(structs),
        enums=enums,
        profile=None,
        source=source or str(btf.path),
    )
