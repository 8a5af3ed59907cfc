"""Bounded decompression of the formats kernels and Debian packages are shipped in.

Every codec the kernel's ``compressed/`` wrappers and ``dpkg-deb`` use is read
here as a stream of output chunks pulled from a ``read(n)`` callable (a file or
an in-memory buffer), each chunk charged to the input's
:class:`~netmem_ffi.layout.budget.Budget` (``inflate``, shared by every nesting
level), so a malformed or hostile input cannot hang or exhaust memory.  Errors
are :class:`~netmem_ffi.errors.KernelInputError` naming the source and the
offset of the compressed stream (or of its end, when it is truncated).
"""

from __future__ import annotations

import bz2
import importlib
import io
import lzma
import re
import struct
import zlib
from collections.abc import Callable, Iterator

from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.budget import Budget

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Protocol
else:
    from netmem_ffi.abi.record import dataclass
    Protocol = object  # a typing-only base: nothing at run time

#: Input fed to a decompressor per call, and output asked of it per call.
_IN_CHUNK = 1 << 16
_OUT_CHUNK = 1 << 20
#: The kernel's legacy LZ4 container: a magic word, then (u32 size, block)*.
_LZ4_LEGACY_MAGIC = 0x184C2102
_LZ4_LEGACY_BLOCK = 8 << 20
#: LZ4_COMPRESSBOUND of a legacy block: no real block is larger.
_LZ4_MAX_COMPRESSED = _LZ4_LEGACY_BLOCK + _LZ4_LEGACY_BLOCK // 255 + 16
#: zstd window the reader accepts (the kernel's own images use at most 128 MiB).
_ZSTD_MAX_WINDOW = 1 << 28
_ZSTD_IN_CHUNK = 1 << 10
#: Memory the lzma/xz decoders may use (dictionary included); the kernel's own use 32 MiB at most.
_LZMA_MEMLIMIT = 1 << 28

Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True)
class Codec:
    """A compression format: its name, its magic, and the regular expression a plausible start matches."""

    name: str
    magic: bytes
    #: The magic plus what else a real stream start has (gzip's FLG, bzip2's block magic ...).
    pattern: bytes


#: Codecs by name, in the order a scan prefers them at one position.
CODECS: dict[str, Codec] = {
    c.name: c
    for c in (
        Codec("zstd", b"\x28\xb5\x2f\xfd", rb"\x28\xb5\x2f\xfd"),
        Codec("gzip", b"\x1f\x8b\x08", rb"\x1f\x8b\x08[\x00-\x1f]"),  # FLG: reserved bits clear
        Codec("xz", b"\xfd7zXZ\x00", rb"\xfd7zXZ\x00"),
        Codec("lz4", struct.pack("<I", _LZ4_LEGACY_MAGIC), re.escape(struct.pack("<I", _LZ4_LEGACY_MAGIC))),
        Codec("lz4-frame", b"\x04\x22\x4d\x18", rb"\x04\x22\x4d\x18"),
        Codec("bzip2", b"BZh", rb"BZh[1-9]1AY&SY"),
        # xz-utils' .lzma from a pipe (the kernel's wrapper): unknown size, all ones.
        Codec("lzma", b"\x5d\x00\x00", rb"\x5d\x00\x00..\xff{8}"),
    )
}
_EACH = {n: re.compile(c.pattern, re.DOTALL) for n, c in CODECS.items()}


def codec_at(buf: Buffer, pos: int = 0) -> Codec | None:
    """The codec whose plausible stream start is at *pos* of *buf*, if any."""
    head = bytes(buf[pos:pos + 16])
    for name, pattern in _EACH.items():
        if pattern.match(head):
            return CODECS[name]
    return None


def find_streams(buf: Buffer, hits: Callable[[int], None]) -> Iterator[tuple[int, Codec]]:
    """Plausible compressed-stream starts in *buf*, in file order.

    One regular-expression search per codec (each starts with a literal, which
    the engine finds at memory speed), merged by position.  *hits* is called
    with each position before it is yielded (it charges a budget and may raise).
    """
    import heapq  # only when an image is scanned

    names = list(CODECS)
    for pos, which in heapq.merge(*(_positions(_EACH[name], buf, i) for i, name in enumerate(names))):
        hits(pos)
        yield pos, CODECS[names[which]]


def _positions(pattern: re.Pattern[bytes], buf: Buffer, which: int) -> Iterator[tuple[int, int]]:
    """(position, *which*) of every match of *pattern* in *buf*."""
    for m in pattern.finditer(buf):
        yield m.start(), which


Read = Callable[[int], bytes]


def _feed(d: _NeedsInput, read: Read) -> Iterator[bytes]:
    """Drive an lzma/bz2/lz4-frame style decompressor (``needs_input`` protocol) over *read*."""
    while not d.eof:
        data = b""
        if d.needs_input:
            data = read(_IN_CHUNK)
            if not data:
                return
        yield d.decompress(data, _OUT_CHUNK)


def _inflate_gzip(read: Read) -> tuple[Iterator[bytes], Callable[[], bool]]:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def gen() -> Iterator[bytes]:
        while not d.eof:
            data = read(_IN_CHUNK)
            if not data:
                return
            while data and not d.eof:
                yield d.decompress(data, _OUT_CHUNK)
                data = d.unconsumed_tail

    return gen(), lambda: d.eof


class _NeedsInput(Protocol):
    """lzma, bz2 and lz4.frame decompressors: bounded output, ``needs_input``, ``eof``."""

    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def _inflate_needs_input(d: _NeedsInput, read: Read) -> tuple[Iterator[bytes], Callable[[], bool]]:
    return _feed(d, read), lambda: d.eof


def _inflate_zstd(read: Read) -> tuple[Iterator[bytes], Callable[[], bool]]:
    import zstandard

    d = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW).decompressobj()

    def gen() -> Iterator[bytes]:
        # No output bound per call: small input pieces keep each call's output
        # small (an RLE block of 4 input bytes yields at most 128 KiB).
        while not d.eof:  # the rest (the kernel's size trailer) is not ours
            data = read(_ZSTD_IN_CHUNK)
            if not data:
                return
            yield d.decompress(data)

    return gen(), lambda: d.eof


def _read_exact(read: Read, size: int) -> bytes:
    """*size* bytes from *read*, fewer only at the end of the input."""
    parts: list[bytes] = []
    left = size
    while left:
        part = read(min(left, _LZ4_LEGACY_BLOCK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _inflate_lz4_legacy(read: Read) -> tuple[Iterator[bytes], Callable[[], bool]]:
    import lz4.block

    def gen() -> Iterator[bytes]:
        first = True
        while True:
            word = _read_exact(read, 4)
            if len(word) < 4:
                return
            (size,) = struct.unpack("<I", word)
            if size == _LZ4_LEGACY_MAGIC:  # concatenated stream
                continue
            if size > _LZ4_MAX_COMPRESSED:
                if first:
                    raise ValueError(f"first block of {size} bytes is larger than an lz4 block can be")
                return  # the size trailer the kernel's wrapper appends
            block = _read_exact(read, size)
            if len(block) < size:
                if first:
                    raise ValueError(f"first block of {size} bytes runs past the end")
                return  # the size trailer the kernel's wrapper appends
            first = False
            yield lz4.block.decompress(block, uncompressed_size=_LZ4_LEGACY_BLOCK)

    # The legacy container has no end marker: a clean stop is the end.
    return gen(), lambda: True


def _skip_magic(read: Read, magic: bytes) -> Read:
    """*read* after checking and consuming *magic* (the lz4 legacy header)."""
    head = _read_exact(read, len(magic))
    if head != magic:
        raise ValueError(f"bad magic {head.hex()}")
    return read


def _open(codec: str, read: Read) -> tuple[Iterator[bytes], Callable[[], bool]]:
    if codec == "gzip":
        return _inflate_gzip(read)
    if codec == "zstd":
        return _inflate_zstd(read)
    if codec == "lz4":
        return _inflate_lz4_legacy(_skip_magic(read, CODECS["lz4"].magic))
    if codec == "xz":
        return _inflate_needs_input(lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=_LZMA_MEMLIMIT), read)
    if codec == "lzma":
        return _inflate_needs_input(lzma.LZMADecompressor(lzma.FORMAT_ALONE, memlimit=_LZMA_MEMLIMIT), read)
    if codec == "bzip2":
        return _inflate_needs_input(bz2.BZ2Decompressor(), read)
    if codec == "lz4-frame":
        import lz4.frame

        return _inflate_needs_input(lz4.frame.LZ4FrameDecompressor(), read)
    raise KernelInputError(f"unknown codec {codec!r}")


def _codec_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [zlib.error, lzma.LZMAError, OSError, EOFError, ValueError, RuntimeError]
    for module, name in (("zstandard", "ZstdError"), ("lz4.block", "LZ4BlockError")):
        try:
            imported = importlib.import_module(module)
        except ImportError:  # pragma: no cover - both are dependencies
            continue
        errors.append(getattr(imported, name))
    return tuple(errors)


def _view_reader(buf: Buffer) -> Read:
    """``read(n)`` over an in-memory buffer, without copying it whole."""
    view = memoryview(buf)
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        out = bytes(view[pos:pos + n])
        pos += len(out)
        return out

    return read


def stream_chunks(codec: str, read: Read, source: str, offset: int = 0, budget: Budget | None = None,
                  limit: int | None = None) -> Iterator[bytes]:
    """Decompress one *codec* stream pulled from *read* as chunks.

    Every chunk is charged to *budget*'s ``inflate`` allowance (shared by all
    levels of one input); *limit* additionally bounds this stream alone.
    *source* and *offset* (where the stream starts in it) name the stream in
    errors: a corrupt stream, one that ends early, one over budget.
    """
    budget = budget if budget is not None else Budget.from_env()
    errors = _codec_errors()
    total = 0
    try:
        stream, finished = _open(codec, read)
        for chunk in stream:
            total += len(chunk)
            if limit is not None and total > limit:
                raise budget.exceeded("held", f"{codec} stream inflates past {limit:,} bytes", source, offset)
            budget.spend("inflate", len(chunk), f"{codec} stream at {offset:#x}", source, offset)
            yield chunk
    except ImportError as exc:
        raise KernelInputError(f"{codec} stream needs the Python package {exc.name!r}", source, offset) from None
    except MemoryError:
        raise KernelInputError(f"{codec} stream: out of memory after {total:,} bytes (lower NETMEM_FFI_MAX_HELD)",
                               source, offset) from None
    except errors as exc:
        raise KernelInputError(f"corrupt {codec} stream: {exc}", source, offset) from None
    if not finished():
        raise KernelInputError(f"{codec} stream is truncated", source, offset)


def chunks(codec: str, buf: Buffer, source: str, offset: int = 0, limit: int | None = None,
           budget: Budget | None = None) -> Iterator[bytes]:
    """Decompress one *codec* stream held in *buf* (see :func:`stream_chunks` for the bounds and errors)."""
    return stream_chunks(codec, _view_reader(buf), source, offset, budget, limit)


def decompress(codec: str, buf: Buffer, source: str, offset: int = 0, limit: int | None = None,
               budget: Budget | None = None) -> bytearray:
    """The whole output of one *codec* stream, at most *limit* (default: the ``held`` budget) bytes.

    A bytearray grown in place: the output is never copied once more at the end.
    """
    budget = budget if budget is not None else Budget.from_env()
    out = bytearray()
    for chunk in chunks(codec, buf, source, offset, budget.held if limit is None else limit, budget):
        out += chunk
    return out


class ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (feeds ``tarfile`` in stream mode)."""

    def __init__(self, source: Iterator[Buffer]) -> None:
        self._source = source
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            nxt = next(self._source, None)
            if nxt is None:
                return 0
            self._pending = memoryview(nxt)
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
