"""The BTF records declared with ``construct``, as ``include/uapi/linux/btf.h`` declares them.

``declare(byteorder)`` returns the records for one byte order (cached).  The
writer builds with them; the reader's hot scan does not import this module
(``construct`` costs ~40 ms to import) and uses the sizes in
:mod:`netmem_ffi.layout.btf.uapi`, which a test checks against these declarations.

>>> f = declare("little")
>>> f.btf_member.build({"name_off": 1, "type": 2, "offset": 64}).hex()
'010000000200000040000000'
"""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace

from construct import (
    Const,
    Int8ub,
    Int16ub,
    Int16ul,
    Int32sb,
    Int32sl,
    Int32ub,
    Int32ul,
    Struct,
)

from netmem_ffi.layout.btf.uapi import BTF_MAGIC, Kind


@lru_cache(maxsize=2)
def declare(byteorder: str = "little") -> SimpleNamespace:
    """The BTF records in *byteorder* ("little" or "big")."""
    little = byteorder == "little"
    __u8 = Int8ub
    __u16 = Int16ul if little else Int16ub
    __u32 = Int32ul if little else Int32ub
    __s32 = Int32sl if little else Int32sb

    btf_header = Struct(
        "magic" / Const(BTF_MAGIC, __u16),
        "version" / __u8,
        "flags" / __u8,
        "hdr_len" / __u32,
        # All offsets are in bytes relative to the end of this header.
        "type_off" / __u32,  # offset of type section
        "type_len" / __u32,  # length of type section
        "str_off" / __u32,  # offset of string section
        "str_len" / __u32,  # length of string section
    )
    # Newer headers append the layout section: one struct btf_layout per kind.
    btf_header_layout = Struct(
        *btf_header.subcons,
        "layout_off" / __u32,  # offset of layout section
        "layout_len" / __u32,  # length of layout section
    )
    btf_layout = Struct(
        "info_sz" / __u8,  # size of singular element after btf_type
        "elem_sz" / __u8,  # size of each of btf_vlen(t) elements
        "flags" / __u16,
    )
    btf_type = Struct(
        "name_off" / __u32,
        # bits 0-15 (24 with a layout section): vlen; 24-28 (30): kind; 31: kind_flag
        "info" / __u32,
        "size_type" / __u32,  # union { size; type; }
    )
    btf_int = __u32  # BTF_INT_ENCODING << 24 | BTF_INT_OFFSET << 16 | BTF_INT_BITS
    btf_enum = Struct("name_off" / __u32, "val" / __s32)
    btf_array = Struct("type" / __u32, "index_type" / __u32, "nelems" / __u32)
    btf_member = Struct(
        "name_off" / __u32,
        "type" / __u32,
        # kind_flag set: BTF_MEMBER_BITFIELD_SIZE << 24 | BTF_MEMBER_BIT_OFFSET
        "offset" / __u32,
    )
    btf_param = Struct("name_off" / __u32, "type" / __u32)
    btf_var = Struct("linkage" / __u32)
    btf_var_secinfo = Struct("type" / __u32, "offset" / __u32, "size" / __u32)
    btf_decl_tag = Struct("component_idx" / __s32)
    btf_enum64 = Struct("name_off" / __u32, "val_lo32" / __u32, "val_hi32" / __u32)

    # What follows struct btf_type, per kind: (one record, per-vlen element).
    trailing = {
        Kind.INT: (btf_int, None),
        Kind.ARRAY: (btf_array, None),
        Kind.STRUCT: (None, btf_member),
        Kind.UNION: (None, btf_member),
        Kind.ENUM: (None, btf_enum),
        Kind.FUNC_PROTO: (None, btf_param),
        Kind.VAR: (btf_var, None),
        Kind.DATASEC: (None, btf_var_secinfo),
        Kind.DECL_TAG: (btf_decl_tag, None),
        Kind.ENUM64: (None, btf_enum64),
    }
    return SimpleNamespace(**{k: v for k, v in locals().items() if k.startswith("btf_")}, trailing=trailing)
