"""Bounded decompression of the formats kernels and Debian packages are shipped in.

Every codec the kernel's ``compressed/`` wrappers and ``dpkg-deb`` use is read
here as a stream of output chunks, never more than :data:`MAX_OUTPUT` bytes in
total, so a malformed or hostile input cannot hang or exhaust memory.  Errors
are :class:`~netmem_ffi.errors.KernelInputError` naming the source and the
offset of the compressed stream (or of its end, when it is truncated).
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from netmem_ffi.errors import KernelInputError

#: Upper bound on what one compressed stream may decompress to.
MAX_OUTPUT = 1 << 30
#: Input fed to a decompressor per call, and output asked of it per call.
_IN_CHUNK = 1 << 16
_OUT_CHUNK = 1 << 20
#: The kernel's legacy LZ4 container: a magic word, then (u32 size, block)*.
_LZ4_LEGACY_MAGIC = 0x184C2102
_LZ4_LEGACY_BLOCK = 8 << 20
#: zstd window the reader accepts (the kernel's own images use at most 128 MiB).
_ZSTD_MAX_WINDOW = 1 << 28
_ZSTD_IN_CHUNK = 1 << 10

Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True)
class Codec:
    """A compression format: its name, its magic and how to recognise it in a scan."""

    name: str
    magic: bytes
    #: Further check on the bytes at a magic hit (None: the magic alone is strong).
    plausible: Callable[[Buffer, int], bool] | None = None


def _gzip_plausible(buf: Buffer, pos: int) -> bool:
    return len(buf) > pos + 3 and buf[pos + 3] < 0x20  # FLG: reserved bits clear


def _lzma_plausible(buf: Buffer, pos: int) -> bool:
    # xz-utils' .lzma from a pipe (the kernel's wrapper): unknown size, all ones.
    return bytes(buf[pos + 5 : pos + 13]) == b"\xff" * 8


def _bzip2_plausible(buf: Buffer, pos: int) -> bool:
    return bytes(buf[pos + 3 : pos + 10]) in {bytes([d]) + b"1AY&SY" for d in b"123456789"}


#: Codecs by name, in the order a scan prefers them.
CODECS: dict[str, Codec] = {
    c.name: c
    for c in (
        Codec("zstd", b"\x28\xb5\x2f\xfd"),
        Codec("gzip", b"\x1f\x8b\x08", _gzip_plausible),
        Codec("xz", b"\xfd7zXZ\x00"),
        Codec("lz4", struct.pack("<I", _LZ4_LEGACY_MAGIC)),
        Codec("lz4-frame", b"\x04\x22\x4d\x18"),
        Codec("bzip2", b"BZh", _bzip2_plausible),
        Codec("lzma", b"\x5d\x00\x00", _lzma_plausible),
    )
}


def codec_at(buf: Buffer, pos: int = 0) -> Codec | None:
    """The codec whose magic starts at *pos* of *buf*, if any."""
    for codec in CODECS.values():
        end = pos + len(codec.magic)
        if bytes(buf[pos:end]) == codec.magic and (codec.plausible is None or codec.plausible(buf, pos)):
            return codec
    return None


def find_streams(buf: Buffer, limit: int) -> list[tuple[int, Codec]]:
    """Up to *limit* plausible compressed-stream starts in *buf*, in file order."""
    data = bytes(buf) if not isinstance(buf, bytes) else buf
    hits: list[tuple[int, Codec]] = []
    for codec in CODECS.values():
        pos = data.find(codec.magic)
        found = 0
        while pos >= 0 and found < limit:
            if codec.plausible is None or codec.plausible(data, pos):
                hits.append((pos, codec))
                found += 1
            pos = data.find(codec.magic, pos + 1)
    hits.sort(key=lambda hit: hit[0])
    return hits[:limit]


def _feed(decompress: Callable[[bytes, int], bytes], more: Callable[[], bool], buf: Buffer) -> Iterator[bytes]:
    """Drive an lzma/bz2/lz4-frame style decompressor (``needs_input`` protocol)."""
    view = memoryview(buf)
    for start in range(0, len(view), _IN_CHUNK):
        yield decompress(bytes(view[start : start + _IN_CHUNK]), _OUT_CHUNK)
        while more():
            yield decompress(b"", _OUT_CHUNK)


def _inflate_gzip(buf: Buffer) -> tuple[Iterator[bytes], Callable[[], bool]]:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def gen() -> Iterator[bytes]:
        view = memoryview(buf)
        for start in range(0, len(view), _IN_CHUNK):
            data = bytes(view[start : start + _IN_CHUNK])
            while data and not d.eof:
                yield d.decompress(data, _OUT_CHUNK)
                data = d.unconsumed_tail
            if d.eof:
                return

    return gen(), lambda: d.eof


class _NeedsInput(Protocol):
    """lzma, bz2 and lz4.frame decompressors: bounded output, ``needs_input``, ``eof``."""

    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def _inflate_needs_input(d: _NeedsInput, buf: Buffer) -> tuple[Iterator[bytes], Callable[[], bool]]:
    def more() -> bool:
        return not d.eof and not d.needs_input

    def decompress(data: bytes, size: int) -> bytes:
        return b"" if d.eof else d.decompress(data, size)

    return _feed(decompress, more, buf), lambda: d.eof


def _inflate_zstd(buf: Buffer) -> tuple[Iterator[bytes], Callable[[], bool]]:
    import zstandard

    d = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW).decompressobj()
    view = memoryview(buf)

    def gen() -> Iterator[bytes]:
        # No output bound per call: small input pieces keep each call's output
        # small (an RLE block of 4 input bytes yields at most 128 KiB).
        for start in range(0, len(view), _ZSTD_IN_CHUNK):
            yield d.decompress(bytes(view[start : start + _ZSTD_IN_CHUNK]))
            if d.eof:  # the rest (the kernel's size trailer) is not ours
                return

    return gen(), lambda: d.eof


def _inflate_lz4_legacy(buf: Buffer) -> tuple[Iterator[bytes], Callable[[], bool]]:
    import lz4.block

    view = memoryview(buf)

    def gen() -> Iterator[bytes]:
        pos = 4
        while pos + 4 <= len(view):
            (size,) = struct.unpack_from("<I", view, pos)
            if size == _LZ4_LEGACY_MAGIC:  # concatenated stream
                pos += 4
                continue
            if pos + 4 + size > len(view):
                if pos == 4:
                    raise ValueError(f"first block of {size} bytes runs past the end")
                return  # the size trailer the kernel's wrapper appends
            yield lz4.block.decompress(bytes(view[pos + 4 : pos + 4 + size]), uncompressed_size=_LZ4_LEGACY_BLOCK)
            pos += 4 + size

    # The legacy container has no end marker: a clean stop is the end.
    return gen(), lambda: True


def _open(codec: str, buf: Buffer) -> tuple[Iterator[bytes], Callable[[], bool]]:
    if codec == "gzip":
        return _inflate_gzip(buf)
    if codec == "zstd":
        return _inflate_zstd(buf)
    if codec == "lz4":
        return _inflate_lz4_legacy(buf)
    if codec == "xz":
        return _inflate_needs_input(lzma.LZMADecompressor(lzma.FORMAT_XZ), buf)
    if codec == "lzma":
        return _inflate_needs_input(lzma.LZMADecompressor(lzma.FORMAT_ALONE), buf)
    if codec == "bzip2":
        return _inflate_needs_input(bz2.BZ2Decompressor(), buf)
    if codec == "lz4-frame":
        import lz4.frame

        return _inflate_needs_input(lz4.frame.LZ4FrameDecompressor(), buf)
    raise KeyError(codec)


def _codec_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [zlib.error, lzma.LZMAError, OSError, EOFError, ValueError, RuntimeError]
    try:
        import zstandard

        errors.append(zstandard.ZstdError)
    except ImportError:  # pragma: no cover - zstandard is a dependency
        pass
    return tuple(errors)


def chunks(codec: str, buf: Buffer, source: str, offset: int = 0, limit: int = MAX_OUTPUT) -> Iterator[bytes]:
    """Decompress one *codec* stream from *buf* as chunks, at most *limit* bytes in all.

    *source* and *offset* (where *buf* starts in it) name the stream in errors:
    a corrupt stream, one that ends early, or one that inflates past *limit*.
    """
    errors = _codec_errors()
    total = 0
    try:
        stream, finished = _open(codec, buf)
        for chunk in stream:
            total += len(chunk)
            if total > limit:
                raise KernelInputError(
                    f"{codec} stream inflates past the {limit >> 20} MiB limit", source, offset
                )
            yield chunk
    except ImportError as exc:
        raise KernelInputError(f"{codec} stream needs the Python package {exc.name!r}", source, offset) from None
    except errors as exc:
        raise KernelInputError(f"corrupt {codec} stream: {exc}", source, offset) from None
    if not finished():
        raise KernelInputError(f"{codec} stream is truncated", source, offset + len(buf))


def decompress(codec: str, buf: Buffer, source: str, offset: int = 0, limit: int = MAX_OUTPUT) -> bytes:
    """The whole output of one *codec* stream (see :func:`chunks` for the bounds and errors)."""
    return b"".join(chunks(codec, buf, source, offset, limit))


class ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (feeds ``tarfile`` in stream mode)."""

    def __init__(self, source: Iterator[bytes]) -> None:
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
