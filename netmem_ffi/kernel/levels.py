"""The nesting levels of one kernel input, each a source its bytes can be streamed from again.

A kernel input nests containers: a package's image member, an image's
compressed payload, a stream found inside an image.  Each is a :class:`Level`
that streams its bytes from the start as often as asked: a file
(:class:`FileLevel`: the input itself, or a level written to a temporary file
by :func:`spool`), a buffer the caller holds (:class:`BufferLevel`), or a
codec stream at an offset of its parent level (:class:`StreamLevel`).

:mod:`netmem_ffi.kernel.inputs` holds one level's bytes at a time
(:func:`take`): it learns from them what the level tells (its kind, BTF in the
clear, ELF facts, the banner, where the children start), and when the level
has children and is not a file already, writes it to a temporary file.  Then
it drops the bytes and streams each child from that file.  No two
decompressed levels are ever in memory at once, and no level is inflated
twice: real kernels nest one compressed level below the file or the spooled
package member, so for them nothing more is written.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator

from netmem_ffi.errors import KernelInputError
from netmem_ffi.kernel.codecs import Buffer, ChunkReader, stream_chunks
from netmem_ffi.layout.budget import Budget

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Self

__all__ = ["BufferLevel", "FileLevel", "Level", "StreamLevel", "spool", "take"]

#: Bytes read or handed on per chunk.
_CHUNK = 1 << 20


class Level:
    """One nesting level of an input: *source* names it in errors; :meth:`chunks` streams its bytes."""

    source: str
    #: What the level is, in errors ("input file", "gzip payload" ...).
    what: str = "input"

    def chunks(self, budget: Budget, offset: int = 0, size: int | None = None) -> Iterator[Buffer]:
        """The level's bytes from *offset*, at most *size* of them, in chunks of at most 1 MiB."""
        raise NotImplementedError

    def open(self, budget: Budget) -> BinaryIO:
        """The level's bytes as a seekable file, from the start (a package is walked through it).

        Only a file or the caller's buffer is walked: a decompressed level that
        holds a package is written to a temporary file first (``inputs._keep``).
        """
        raise NotImplementedError


class FileLevel(Level):
    """The input file, or a level spooled to a temporary one (a regular file, read with ``pread``).

    A spooled level owns its file: use it in a ``with`` (closing deletes the file).
    """

    def __init__(self, fh: BinaryIO, source: str, what: str = "input file") -> None:
        self.fh = fh
        self.source = source
        self.what = what

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()

    def chunks(self, budget: Budget, offset: int = 0, size: int | None = None) -> Iterator[bytes]:
        end = None if size is None else offset + size
        while end is None or offset < end:
            part = os.pread(self.fh.fileno(), _CHUNK if end is None else min(_CHUNK, end - offset), offset)
            if not part:
                return
            offset += len(part)
            yield part

    def open(self, budget: Budget) -> BinaryIO:
        self.fh.seek(0)
        return self.fh

    def size(self) -> int:
        """The file's size as the file system tells it."""
        return os.fstat(self.fh.fileno()).st_size

    def whole(self, size: int) -> bytearray | None:
        """The file in one buffer of *size* bytes (its size as told); None when it is not that size (it changed)."""
        fd = self.fh.fileno()
        out = bytearray(size)
        view, got = memoryview(out), 0
        while got < size:  # sysfs files answer a page or so per read
            n = os.preadv(fd, [view[got:]], got)
            if not n:
                return None
            got += n
        return None if os.pread(fd, 1, size) else out


class BufferLevel(Level):
    """Bytes the caller already holds (:func:`~netmem_ffi.kernel.inputs.btf_from_bytes`): never copied whole."""

    def __init__(self, data: Buffer, source: str) -> None:
        self.view = memoryview(data)
        self.source = source

    def chunks(self, budget: Budget, offset: int = 0, size: int | None = None) -> Iterator[memoryview]:
        end = len(self.view) if size is None else min(len(self.view), offset + size)
        for start in range(offset, end, _CHUNK):
            yield self.view[start:min(end, start + _CHUNK)]

    def open(self, budget: Budget) -> BinaryIO:
        return io.BytesIO(self.view)


class StreamLevel(Level):
    """The *codec* stream that starts *offset* bytes into *parent* and may run for *size* bytes."""

    def __init__(self, parent: Level, offset: int, size: int, codec: str, source: str) -> None:
        self.parent, self.offset, self.size, self.codec = parent, offset, size, codec
        self.source = source
        self.what = f"{codec} payload"

    def chunks(self, budget: Budget, offset: int = 0, size: int | None = None) -> Iterator[bytes]:
        packed = ChunkReader(self.parent.chunks(budget, self.offset, self.size))
        out = stream_chunks(self.codec, packed.read, self.parent.source, self.offset, budget)
        return _window(out, offset, size)


def _window(chunks: Iterator[bytes], offset: int, size: int | None) -> Iterator[bytes]:
    """The bytes of *chunks* from *offset*, at most *size* of them (the stream is not pulled past them)."""
    left = size
    for chunk in chunks:
        if offset >= len(chunk):
            offset -= len(chunk)
            continue
        if offset:
            chunk, offset = chunk[offset:], 0
        if left is not None:
            if left <= len(chunk):
                if left:
                    yield chunk[:left]
                return
            left -= len(chunk)
        yield chunk


def take(level: Level, budget: Budget, what: str) -> bytearray:
    """The whole of *level* in memory, at most what the ``held`` budget has left.

    Raises :class:`~netmem_ffi.errors.BudgetExceededError` (``held``) past that,
    or the errors of the level's streams.
    """
    room = budget.held_left()
    if isinstance(level, FileLevel):
        size = level.size()  # told once: the buffer is never larger than the size checked here
        if size > room:  # refused before anything is read
            raise budget.exceeded("held", f"{what} of {size:,} bytes is larger than {room:,} bytes", level.source)
        whole = level.whole(size)
        if whole is not None:
            return whole
    out = bytearray()
    for chunk in level.chunks(budget):
        if len(out) + len(chunk) > room:
            raise budget.exceeded("held", f"{what} is larger than {room:,} bytes", level.source)
        out += chunk
    return out


def spool(chunks: Iterable[Buffer], size: int, what: str, source: str, budget: Budget) -> FileLevel:
    """*size* bytes (*chunks*) written to a temporary file (in ``TMPDIR``), as a level that owns it.

    Raises :class:`~netmem_ffi.errors.BudgetExceededError` past the ``spool``
    budget, :class:`KernelInputError` when the file cannot be written (a full disk).
    """
    import tempfile  # here, not at the top: tempfile (random) costs every command ~5 ms of start-up

    budget.check("spool", size, f"{what} of {size:,} bytes", source)
    try:
        fh: BinaryIO = tempfile.TemporaryFile(prefix="netmem-level-")  # noqa: SIM115 - the level owns it
    except OSError as exc:
        raise KernelInputError(f"cannot make a temporary file for the {what}: {exc.strerror or exc}", source) from None
    try:
        fh.writelines(chunks)
        fh.flush()
    except OSError as exc:
        fh.close()
        raise KernelInputError(f"cannot write the {what} to a temporary file: {exc.strerror or exc}", source) from None
    except BaseException:
        fh.close()
        raise
    return FileLevel(fh, source, what)
