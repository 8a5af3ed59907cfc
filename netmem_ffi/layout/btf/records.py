"""The records of raw BTF: the header, type and member tuples, and the one header decoder.

Apart from :mod:`netmem_ffi.layout.btf.reader` (which re-exports every name) so
that the reader's module holds the walk and the look-ups, and the records a
reader, writer and scanner share have one home.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from netmem_ffi.layout.btf import uapi
from netmem_ffi.layout.btf.uapi import Kind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mmap import mmap
    from typing import NamedTuple

    #: What the header helpers read: any buffer, a mapped file included.
    Readable = bytes | bytearray | memoryview | mmap
else:
    from netmem_ffi.abi.record import NamedTuple

__all__ = ["MAGIC_PREFIX", "MAX_CHAIN", "BTFMember", "BTFType", "Header", "byte_order", "unpack_header"]

#: Bound on typedef/modifier/array chains (the kernel verifier's limit is 32).
MAX_CHAIN = 64


class Header(NamedTuple):
    """``struct btf_header``; ``layout_off``/``layout_len`` are 0 in a 24-byte header."""

    magic: int
    version: int
    flags: int
    hdr_len: int
    type_off: int
    type_len: int
    str_off: int
    str_len: int
    layout_off: int = 0
    layout_len: int = 0


class BTFMember(NamedTuple):
    """``struct btf_member`` decoded: offsets in bits; ``bitfield_size`` 0 for plain members."""

    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0


class BTFType(NamedTuple):
    """One type record: ``struct btf_type`` plus its kind's trailing data.

    ``size_type`` is the size (INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT)
    or the referenced type id (the other kinds).  ``extra`` holds the single u32
    of INT (encoding word), VAR (linkage) and DECL_TAG (component_idx, signed).
    ``raw`` and ``vlen`` keep the trailing bytes of a kind this reader does not
    know (for the others ``vlen`` is the length of their element tuple).
    """

    id: int
    kind: int
    name: str = ""
    size_type: int = 0
    kflag: bool = False
    extra: int = 0
    array: tuple[int, int, int] | None = None  # (type, index_type, nelems)
    members: tuple[BTFMember, ...] = ()
    enumerators: tuple[tuple[str, int], ...] = ()
    params: tuple[tuple[str, int], ...] = ()  # FUNC_PROTO: (name, type)
    secinfos: tuple[tuple[int, int, int], ...] = ()  # DATASEC: (type, offset, size)
    raw: bytes = b""
    vlen: int = 0

    @property
    def kind_name(self) -> str:
        try:
            return Kind(self.kind).name
        except ValueError:
            return f"KIND_{self.kind}"

    def refs(self) -> Iterator[int]:
        """Every type id this record refers to (0 = void excluded)."""
        if self.kind not in uapi.SIZED_KINDS:
            yield self.size_type
        if self.array is not None:
            yield self.array[0]
            yield self.array[1]
        yield from (m.type for m in self.members)
        yield from (t for _, t in self.params)
        yield from (t for t, _, _ in self.secinfos)


_HEADER = {"little": struct.Struct("<HBBIIIII"), "big": struct.Struct(">HBBIIIII")}
#: The first three header bytes (magic, version 1) in each byte order.
MAGIC_PREFIX = {"little": b"\x9f\xeb\x01", "big": b"\xeb\x9f\x01"}


def byte_order(buf: Readable, pos: int = 0) -> str | None:
    """"little" or "big" when the BTF magic starts at *pos* of *buf*, else None."""
    magic = bytes(buf[pos:pos + 2])
    return "little" if magic == b"\x9f\xeb" else "big" if magic == b"\xeb\x9f" else None


def unpack_header(buf: Readable, pos: int = 0) -> tuple[Header, str] | None:
    """The 24-byte ``struct btf_header`` at *pos* and its byte order; None without a magic or 24 bytes.

    The one header decoder: :class:`BTF` validates what it returns, the kernel-input
    scanner (:func:`netmem_ffi.kernel.inputs.btf_span`) checks it for plausibility.
    """
    order = byte_order(buf, pos)
    if order is None or len(buf) - pos < uapi.BTF_HEADER_LEN:
        return None
    return Header(*_HEADER[order].unpack_from(buf, pos)), order
