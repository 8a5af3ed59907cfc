"""One member at the end of a multi-block ``data.tar.xz``, found without inflating what comes before it.

``dpkg-deb`` compresses with ``xz`` in threads, so a ``-dbg`` package's
``data.tar.xz`` is a single stream of independent 24 MiB blocks with an index
at its end (xz file format 1.2.1: sections 2.1.2 stream footer, 3.1 block
header, 4 index).  Its vmlinux comes after every module's debug file (the
last few hundred MB of 3-9 GB), so :func:`spool_tail_member` decompresses
blocks from the end backwards, writing each at its own offset of a sparse
spool file, until a block holds the member's tar header; the member's bytes
are then already in the spool.  Two blocks are inflated at a time
(``lzma`` releases the GIL).  Blocks are not checked against their CRC64
(no CRC64 in the standard library): the tar header's checksum and the ELF
reader's structure checks catch corruption.

Anything else (one block, several streams, filters other than LZMA2, other
codecs) returns None and the caller streams the package from the front.
"""

from __future__ import annotations

import lzma
import os
import re
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from netmem_ffi.kernel.archive import ar_members
from netmem_ffi.layout.budget import Budget

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple

__all__ = ["Block", "TailMember", "spool_tail_member", "xz_blocks"]

_FOOTER_MAGIC = b"YZ"
_HEADER_MAGIC = b"\xfd7zXZ\x00"
_LZMA2 = 0x21
_CHECK_SIZES = (0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64)


class Block(NamedTuple):
    """One xz block: where it starts in the file, its size there, and its place in the uncompressed data."""

    offset: int  # of its header, in the file
    unpadded: int  # header + compressed data + check
    uncompressed_offset: int
    uncompressed: int


class TailMember(NamedTuple):
    """The member found: its tar name, size, and offset in the spool file."""

    name: str
    size: int
    offset: int


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """An xz multibyte integer (1.2: up to 9 bytes, little-endian groups of 7 bits)."""
    value = shift = 0
    for i in range(9):
        if pos + i >= len(data):
            break
        b = data[pos + i]
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos + i + 1
    raise ValueError("bad xz multibyte integer")


def xz_blocks(fh: BinaryIO, start: int, size: int) -> tuple[list[Block], int] | None:
    """The blocks of the one-stream ``.xz`` at *start* (*size* bytes) of *fh*, and its check size; None when
    the stream cannot be read block by block (no footer or index, several streams)."""
    fh.seek(start)
    if fh.read(6) != _HEADER_MAGIC or size < 32:
        return None
    end = start + size
    fh.seek(end - 12)
    footer = fh.read(12)
    if footer[10:] != _FOOTER_MAGIC:
        return None  # stream padding or another stream after it: not this fast path
    backward = (struct.unpack_from("<I", footer, 4)[0] + 1) * 4
    check = _CHECK_SIZES[footer[9] & 0x0F]
    if backward > size - 24:
        return None
    fh.seek(end - 12 - backward)
    index = fh.read(backward)
    try:
        if index[0] != 0:
            return None
        count, pos = _varint(index, 1)
        blocks, offset, uncompressed = [], start + 12, 0
        for _ in range(count):
            unpadded, pos = _varint(index, pos)
            usize, pos = _varint(index, pos)
            blocks.append(Block(offset, unpadded, uncompressed, usize))
            offset += (unpadded + 3) & ~3
            uncompressed += usize
    except (ValueError, IndexError):
        return None
    if offset != end - 12 - backward or len(blocks) < 2:
        return None
    return blocks, check


def _inflate(fh_read: Callable[[int, int], bytes], block: Block, check: int) -> bytes | None:
    """The uncompressed bytes of *block* (LZMA2 only; None for another filter chain)."""
    raw = fh_read(block.offset, block.unpadded)
    header_size = (raw[0] + 1) * 4
    flags = raw[1]
    if flags & 0x03 or header_size > len(raw):  # one filter only
        return None
    pos = 2
    for present in (flags & 0x40, flags & 0x80):
        if present:
            _, pos = _varint(raw, pos)
    filter_id, pos = _varint(raw, pos)
    props_size, pos = _varint(raw, pos)
    if filter_id != _LZMA2 or props_size != 1:
        return None
    p = raw[pos]
    dict_size = 0xFFFFFFFF if p == 40 else (2 | (p & 1)) << (p // 2 + 11)
    data = raw[header_size:block.unpadded - check]
    out = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "dict_size": dict_size}]) \
        .decompress(data, max_length=block.uncompressed + 1)
    return out if len(out) == block.uncompressed else None


def _tar_header_at(data: bytes, pos: int) -> tuple[str, int] | None:
    """(name, size) of a valid ustar/GNU regular-file header at *pos* of *data*."""
    h = data[pos:pos + 512]
    if len(h) < 512 or h[156:157] not in (b"0", b"\0"):
        return None
    try:
        stored = int(h[148:156].strip(b" \0") or b"0", 8)
        size = int(h[124:136].strip(b" \0") or b"0", 8)
    except ValueError:
        return None
    if stored != sum(h[:148]) + 256 + sum(h[156:]):
        return None
    prefix = h[345:500].split(b"\0", 1)[0] if h[257:262] == b"ustar" else b""
    name = h[:100].split(b"\0", 1)[0]
    return ((prefix + b"/" + name) if prefix else name).decode("utf-8", "replace"), size


def _headers_in(data: bytes, base: int, wanted: re.Pattern[str], anchor: bytes) -> Iterator[tuple[str, int, int]]:
    """Tar headers (name, size, tar offset) in *data* (at tar offset *base*) whose name *wanted* matches in
    full; *anchor*, searched for first (C speed), starts the name or follows its ``./``."""
    hit = data.find(anchor)
    while hit >= 0:
        for at in (hit, hit - 2):
            if at >= 0 and (base + at) % 512 == 0:
                found = _tar_header_at(data, at)
                if found is not None and wanted.fullmatch(found[0]):
                    yield found[0], found[1], base + at
        hit = data.find(anchor, hit + 1)


def _backwards(blocks: list[Block]) -> Iterator[list[Block]]:
    """The blocks from the last, two at a time."""
    for i in range(len(blocks), 0, -2):
        yield blocks[max(0, i - 2):i][::-1]


def spool_tail_member(fh: BinaryIO, source: str, name_pattern: str, anchor: bytes, spool: BinaryIO,
                      budget: Budget, progress: Callable[[int], None] | None = None) -> TailMember | None:
    """Find the last member of the package's ``data.tar.xz`` whose tar name *name_pattern* matches in full
    (*anchor*: a literal part of it), inflating blocks from the end into *spool*; *progress* is told the
    compressed bytes inflated so far.

    None when the package has no multi-block ``data.tar.xz`` (see the module doc) or no such member.
    Raises :class:`KernelInputError` for a malformed package, and the budget's error past ``inflate``.
    """
    start = size = None
    for name, offset, member_size, _body in ar_members(fh, source, budget):
        if name == "data.tar.xz":
            start, size = offset, member_size
            break
    if start is None or size is None:
        return None
    layout = xz_blocks(fh, start, size)
    if layout is None:
        return None
    blocks, check = layout
    wanted = re.compile(name_pattern)
    anchor_len = len(anchor)

    def read(offset: int, n: int) -> bytes:  # pread: the two inflating threads share the file
        return os.pread(fh.fileno(), n, offset)

    spooled = 0
    later = b""  # the first 512 bytes of the block after the current ones: a header may straddle blocks
    with ThreadPoolExecutor(2) as pool:
        for group in _backwards(blocks):
            for block in group:
                budget.spend("inflate", block.uncompressed, "data.tar.xz blocks", source, block.offset)
            datas = list(pool.map(lambda b: _inflate(read, b, check), group))
            if progress is not None:
                progress(blocks[-1].offset + blocks[-1].unpadded - group[-1].offset)
            for block, data in zip(group, datas):
                if data is None:
                    return None
                spool.seek(block.uncompressed_offset)
                spool.write(data)
                spooled += len(data)
                budget.check("spool", spooled, "data.tar.xz blocks spooled to a temporary file", source)
                edge = len(data) - 512 - anchor_len  # a header straddling into the next block: searched with it
                for name, member_size, at in (*_headers_in(data[edge:] + later, block.uncompressed_offset + edge,
                                                           wanted, anchor),
                                              *_headers_in(data, block.uncompressed_offset, wanted, anchor)):
                    return TailMember(name, member_size, at + 512)
                later = data[:512 + anchor_len]
    return None
