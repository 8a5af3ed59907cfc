"""Host layouts read from a compiled cffi module: the C compiler's own offsets."""

from __future__ import annotations

import sys
from collections.abc import Iterator

from netmem_ffi.abi import registry
from netmem_ffi.abi.arches import host_arch
from netmem_ffi.layout.types import EnumLayout, LayoutSet, Member, StructLayout, flatten, limit_page

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

def _members(ffi: Any, ctype: Any) -> Iterator[Member]:
    # cffi already lists members of anonymous structs/unions with their own
    # names and offsets, which is exactly what flatten() would make of them.
    for name, fld in ctype.fields:
        t = fld.type
        children = None
        if t.kind in ("struct", "union"):
            children = lambda t=t: _members(ffi, t)  # noqa: E731
        bit_size = fld.bitsize if fld.bitsize >= 0 else None
        yield Member(
            name=name,
            offset=fld.offset,
            size=ffi.sizeof(t),
            type=t.cname,
            children=children,
            bit_offset=None if bit_size is None else fld.offset * 8 + fld.bitshift,
            bit_size=bit_size,
        )


def struct_layout(ffi: Any, name: str) -> StructLayout:
    """The layout of ``struct name`` as the C compiler laid it out."""
    ctype = ffi.typeof(f"struct {name}")
    return StructLayout(name, ffi.sizeof(ctype), ffi.alignof(ctype), tuple(flatten(_members(ffi, ctype))))


def enum_layout(ffi: Any, name: str) -> EnumLayout:
    ctype = ffi.typeof(f"enum {name}")
    values = sorted(ctype.elements.items())
    return EnumLayout(name, ffi.sizeof(ctype), tuple((n, v) for v, n in values))


def _declared(ffi: Any, keyword: str, names: tuple[str, ...]) -> list[str]:
    """The names of *names* that the module declares as ``keyword name``."""
    found = []
    for name in names:
        try:
            ffi.typeof(f"{keyword} {name}")
        except ffi.error:
            continue
        found.append(name)
    return found


def layout_set(ffi: Any, profile: registry.ProfileSpec) -> LayoutSet:
    """Every netmem struct and enum of *profile* that the compiled module declares."""
    structs = {name: struct_layout(ffi, name) for name in _declared(ffi, "struct", registry.STRUCTS)}
    enums = {name: enum_layout(ffi, name) for name in _declared(ffi, "enum", registry.ENUMS)}
    return LayoutSet(
        arch=host_arch(),
        pointer_size=ffi.sizeof("void *"),
        endianness=sys.byteorder,
        structs=limit_page(structs),
        enums=enums,
        profile=profile.name,
        source=f"cffi:{profile.module}",
    )
