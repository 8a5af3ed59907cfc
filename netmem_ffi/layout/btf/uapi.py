"""Constants of ``include/uapi/linux/btf.h``: kinds, info bits, record sizes.

Plain data, no ``construct``: the reader's hot scan uses these with
``struct.unpack_from``; :mod:`netmem_ffi.layout.btf.format` declares the same records
with ``construct`` for the writer (a test checks that both agree).
"""

from __future__ import annotations

from enum import IntEnum

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
#: ``struct btf_header`` up to ``str_len`` (every BTF has it).
BTF_HEADER_LEN = 24
#: With ``layout_off``/``layout_len`` (the layout section describing kinds).
BTF_HEADER_LAYOUT_LEN = 32
#: ``struct btf_type``: name_off, info, size/type.
BTF_TYPE_LEN = 12
#: ``struct btf_layout``: info_sz (u8), elem_sz (u8), flags (u16).
BTF_LAYOUT_LEN = 4
BTF_MAX_TYPE = 0x000FFFFF


class Kind(IntEnum):
    """``BTF_KIND_*``."""

    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


#: The newest kind this reader knows (``max(Kind)``, computed once: iterating an enum is slow).
MAX_KIND = max(Kind)

#: Bytes after ``struct btf_type`` per kind: (single trailing record, per-vlen element).
#: INT: u32 encoding; ARRAY: btf_array; STRUCT/UNION: btf_member; ENUM: btf_enum;
#: FUNC_PROTO: btf_param; VAR: btf_var; DATASEC: btf_var_secinfo;
#: DECL_TAG: btf_decl_tag; ENUM64: btf_enum64.
KIND_EXTRA: dict[Kind, tuple[int, int]] = {
    Kind.INT: (4, 0),
    Kind.ARRAY: (12, 0),
    Kind.STRUCT: (0, 12),
    Kind.UNION: (0, 12),
    Kind.ENUM: (0, 8),
    Kind.FUNC_PROTO: (0, 8),
    Kind.VAR: (4, 0),
    Kind.DATASEC: (0, 12),
    Kind.DECL_TAG: (4, 0),
    Kind.ENUM64: (0, 12),
}

#: Kinds whose ``size_type`` word is a size; the others refer to a type id.
SIZED_KINDS = frozenset({Kind.INT, Kind.ARRAY, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.FWD,
                         Kind.DATASEC, Kind.FLOAT, Kind.ENUM64})
#: Kinds that only qualify or rename the type they refer to.
MODIFIER_KINDS = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})

BTF_INT_SIGNED = 1 << 0
BTF_INT_CHAR = 1 << 1
BTF_INT_BOOL = 1 << 2


def info_kind(info: int) -> int:
    """``BTF_INFO_KIND``, read over 7 bits (classic BTF keeps bits 29-30 zero)."""
    return (info >> 24) & 0x7F


def info_vlen(info: int) -> int:
    """``BTF_INFO_VLEN``, read over 24 bits (classic BTF keeps bits 16-23 zero)."""
    return info & 0xFFFFFF


def info_kflag(info: int) -> bool:
    """``BTF_INFO_KFLAG``."""
    return bool(info >> 31)


def make_info(kind: int, vlen: int, kflag: bool) -> int:
    """``BTF_INFO_ENC(kind, kind_flag, vlen)``."""
    return (int(kflag) << 31) | ((kind & 0x7F) << 24) | (vlen & 0xFFFFFF)


def int_offset(val: int) -> int:
    """``BTF_INT_OFFSET``."""
    return (val & 0x00FF0000) >> 16


def int_bits(val: int) -> int:
    """``BTF_INT_BITS``."""
    return val & 0x000000FF


def member_bitfield_size(offset: int) -> int:
    """``BTF_MEMBER_BITFIELD_SIZE`` (kind_flag set)."""
    return offset >> 24


def member_bit_offset(offset: int) -> int:
    """``BTF_MEMBER_BIT_OFFSET`` (kind_flag set)."""
    return offset & 0xFFFFFF
