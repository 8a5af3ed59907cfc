"""Streaming readers of the containers a Debian package is made of: ``ar``, compressed ``tar``, a member.

A ``.deb`` is read front to back, never whole: the ``ar`` walker skips to the
``data.tar.*`` member, the codec inflates it chunk by chunk, and the tar
reader (our own: no ``tarfile``, whose pax-header regular expression is
quadratic on CPython 3.11.7, CVE-2024-6232) walks the headers until a member
the caller wants; that member is handed over as a bounded file-like stream.
Nothing decompressed is held beyond the current chunk.

Every walker charges the input's :class:`~netmem_ffi.layout.budget.Budget`:
``members`` (ar and tar headers), ``header`` (pax and GNU long-name data),
``inflate`` (bytes decompressed, skipped members included).  Non-regular files
(FIFOs, devices) are refused before anything is read.  Errors are
:class:`~netmem_ffi.errors.KernelInputError` naming the file and offset.

>>> with open_member("linux-image.deb", lambda name: name.endswith("/vmlinux")) as fh:  # doctest: +SKIP
...     elf_header = fh.read(64)
"""

from __future__ import annotations

import io
import os
import re
import stat
from collections.abc import Callable, Iterator

from netmem_ffi.errors import KernelInputError
from netmem_ffi.kernel.codecs import ChunkReader, Read, stream_chunks
from netmem_ffi.layout.budget import Budget

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple

__all__ = [
    "TAR_CODECS",
    "MemberNotFound",
    "MemberStream",
    "TarMember",
    "ar_members",
    "control_fields",
    "member_of",
    "open_input",
    "open_member",
    "open_package_tar",
    "tar_members",
]

AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60
_BLOCK = 512
#: ``PREFIX.tar.SUFFIX`` -> codec name.
TAR_CODECS = {"": "", "gz": "gzip", "xz": "xz", "zst": "zstd", "bz2": "bzip2", "lzma": "lzma"}
_SKIP_CHUNK = 1 << 20
_OCTAL = re.compile(rb"[0-7]+")


def open_input(path: str | os.PathLike[str]) -> BinaryIO:
    """Open *path* for reading, refusing anything but a regular file (FIFOs and devices never end).

    Raises :class:`KernelInputError` naming the file.
    """
    name = os.fspath(path)
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise KernelInputError(f"cannot read: {exc.strerror or exc}", name) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a directory" if stat.S_ISDIR(mode) else "not a regular file")
        raise KernelInputError(f"not a regular file ({kind}): kernel inputs are read from files", name)
    os.set_blocking(fd, True)
    fh: BinaryIO = os.fdopen(fd, "rb")
    return fh


class Limited:
    """``read(n)`` over the next *size* bytes of *read*; :meth:`skip` discards what is left.

    *advance* (when the bytes below are a seekable file) moves past *n* bytes without reading them.
    """

    def __init__(self, read: Read, size: int, advance: Callable[[int], bool] | None = None) -> None:
        self._read = read
        self._advance = advance
        self.left = size

    @property
    def seekable(self) -> bool:
        """Whether :meth:`advance` seeks rather than reads."""
        return self._advance is not None

    def advance(self, n: int) -> bool:
        """Move past the next *n* bytes, seeking when possible; False when fewer than *n* are left."""
        if n > self.left:
            return False
        if self._advance is not None:
            self.left -= n
            return self._advance(n)
        while n:
            got = len(self.read(min(n, _SKIP_CHUNK)))
            if not got:
                return False
            n -= got
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        if n <= 0:
            return b""
        out = self._read(n)
        self.left -= len(out)
        return out

    def skip(self) -> bool:
        """Discard the rest; False when the underlying stream ended first (or a seek went past its end)."""
        return self.advance(self.left)


def _exact(read: Read, n: int) -> bytes:
    parts: list[bytes] = []
    while n:
        part = read(n)
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _size(fh: BinaryIO) -> int | None:
    """The size of *fh* when it is seekable (its end is known), else None."""
    if not fh.seekable():
        return None
    here = fh.tell()
    end = fh.seek(0, os.SEEK_END)
    fh.seek(here)
    return end


def _seeker(fh: BinaryIO) -> Callable[[int], bool] | None:
    """Skip forward in *fh* by seeking, when it can; False when that goes past its end."""
    end = _size(fh)
    if end is None:
        return None

    def advance(n: int) -> bool:
        pos = fh.seek(n, os.SEEK_CUR)
        if pos > end:
            fh.seek(end)
            return False
        return True

    return advance


# -- ar ---------------------------------------------------------------------------


def ar_members(fh: BinaryIO, source: str, budget: Budget) -> Iterator[tuple[str, int, int, Limited]]:
    """The members of the ``ar`` archive open in *fh*: (name, offset of its data, size, a reader of it).

    Each member's reader must be used before the next is asked for (the walk
    skips what is left of it).
    """
    if _exact(fh.read, len(AR_MAGIC)) != AR_MAGIC:
        raise KernelInputError("not an ar archive (no !<arch> magic)", source, 0)
    pos = len(AR_MAGIC)
    seeker = _seeker(fh)
    end = _size(fh)
    while True:
        header = _exact(fh.read, _AR_HEADER)
        if not header:
            return
        if len(header) < _AR_HEADER or header[58:60] != b"`\n":
            raise KernelInputError("ar member header is truncated or has a bad terminator", source, pos)
        budget.spend("members", 1, "ar archive", source, pos)
        size_text = header[48:58].strip()
        if not size_text.isdigit():
            raise KernelInputError(f"ar member size {size_text!r} is not a number", source, pos + 48)
        size = int(size_text)
        name = header[:16].decode("latin-1").rstrip(" ").rstrip("/")
        if end is not None and pos + _AR_HEADER + size > end:
            raise KernelInputError(f"ar member {name} ({size} bytes) runs past the end of the file ({end} bytes)",
                                   source, pos)
        body = Limited(fh.read, size, seeker)
        yield name, pos + _AR_HEADER, size, body
        if not body.skip():
            raise KernelInputError(f"ar member {name} ({size} bytes) runs past the end of the file", source, pos)
        if size & 1:
            fh.read(1)
        pos += _AR_HEADER + size + (size & 1)


# -- tar --------------------------------------------------------------------------


class TarMember(NamedTuple):
    """One tar member as its headers describe it (``type`` is the typeflag character)."""

    name: str
    size: int
    type: str
    offset: int  # of its header in the tar stream

    @property
    def regular(self) -> bool:
        return self.type in ("0", "\0", "7")


def _octal(field: bytes, what: str, source: str, offset: int) -> int:
    """A tar numeric field: octal text, or base-256 (GNU) when the top bit of the first byte is set."""
    if field[:1] and field[0] & 0x80:
        if field[0] & 0x40:
            raise KernelInputError(f"tar {what} is negative", source, offset)
        return int.from_bytes(bytes([field[0] & 0x3F]) + field[1:], "big")
    text = field.replace(b"\0", b" ").strip()
    if not text:
        return 0
    if _OCTAL.fullmatch(text) is None:
        raise KernelInputError(f"tar {what} {text[:24]!r} is not an octal number", source, offset)
    return int(text, 8)


def _pax(data: bytes, source: str, offset: int) -> dict[str, str]:
    """The ``key=value`` records of a pax extended header, read in one linear pass."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos, pos + 21)
        digits = data[pos:space] if space > pos else b""
        if not digits.isdigit():
            raise KernelInputError("pax header record has no length", source, offset)
        length = int(digits)
        record = data[pos:pos + length]
        if length <= len(digits) + 1 or len(record) < length or not record.endswith(b"\n"):
            raise KernelInputError(f"pax header record of length {length} is malformed", source, offset)
        key, sep, value = record[len(digits) + 1:-1].partition(b"=")
        if not sep:
            raise KernelInputError("pax header record has no '='", source, offset)
        out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return out


def _tar_header(block: bytes, source: str, pos: int) -> tuple[str, int, str]:
    """Name, size and typeflag of one 512-byte header (checksum checked)."""
    stored = _octal(block[148:156], "header checksum", source, pos + 148)
    if stored != sum(block) - sum(block[148:156]) + 8 * 0x20:
        raise KernelInputError("tar header checksum mismatch", source, pos)
    name = block[:100].split(b"\0", 1)[0]
    if block[257:263] == b"ustar\x00" and block[345]:
        name = block[345:500].split(b"\0", 1)[0] + b"/" + name
    size = _octal(block[124:136], "member size", source, pos + 124)
    return name.decode("utf-8", "replace"), size, chr(block[156])


def tar_members(read: Read, source: str, budget: Budget,
                advance: Callable[[int], bool] | None = None) -> Iterator[tuple[TarMember, Limited]]:
    """The members of the tar stream *read*: (member, a reader of its data), in stream order.

    Pax (``x``, ``g``) and GNU long-name (``L``, ``K``) headers are applied to the
    member they precede and not yielded; their size is bounded by the
    ``header`` budget.  Members with a sparse map (GNU ``S`` or pax
    ``GNU.sparse.*``) are yielded with type ``"S"`` (not regular).
    """
    pos = 0
    pending: dict[str, str] = {}
    while True:
        block = _exact(read, _BLOCK)
        if len(block) < _BLOCK:
            raise KernelInputError("tar stream ends inside a header (no end-of-archive blocks)", source, pos)
        if block == b"\0" * _BLOCK:
            return
        budget.spend("members", 1, "tar archive", source, pos)
        name, size, kind = _tar_header(block, source, pos)
        body = Limited(read, size, advance)
        padded = size + (-size % _BLOCK)
        if kind in "xgLK":
            budget.check("header", size, f"tar {kind!r} header of {size:,} bytes", source, pos)
            data = _exact(read, padded)[:size]
            if len(data) < size:
                raise KernelInputError("tar extended header runs past the end of the stream", source, pos)
            if kind == "x":
                pending.update(_pax(data, source, pos))
            elif kind == "L":
                pending["path"] = data.split(b"\0", 1)[0].decode("utf-8", "replace")
            pos += _BLOCK + padded
            continue
        if "size" in pending:
            text = pending["size"]
            if not (text.isdigit() and len(text) <= 20):
                raise KernelInputError(f"pax size {text[:24]!r} is not a number", source, pos)
            size = int(text)
            body = Limited(read, size, advance)
            padded = size + (-size % _BLOCK)
        sparse = kind == "S" or any(k.startswith("GNU.sparse.") for k in pending)
        member = TarMember(pending.get("path", name), size, "S" if sparse else kind, pos)
        pending = {}
        yield member, body
        if not body.skip() or len(_exact(read, padded - size)) < padded - size:
            raise KernelInputError(f"tar member {member.name} runs past the end of the stream", source, pos)
        pos += _BLOCK + padded


# -- .deb -------------------------------------------------------------------------


def open_package_tar(fh: BinaryIO, source: str, prefix: str,
                     budget: Budget) -> tuple[str, Read, Callable[[int], bool] | None]:
    """The decompressed ``PREFIX.tar[.codec]`` member of the package open in *fh*.

    Returns its name, a reader, and (uncompressed in a seekable file) a way to skip without reading.
    """
    seen: list[str] = []
    for name, offset, _size, body in ar_members(fh, source, budget):
        seen.append(name)
        if name != prefix + ".tar" and not name.startswith(prefix + ".tar."):
            continue
        suffix = name.removeprefix(prefix + ".tar").lstrip(".")
        if suffix not in TAR_CODECS:
            raise KernelInputError(f"package member {name} has an unknown compression", source, offset)
        if not suffix:
            return name, body.read, body.advance if body.seekable else None
        stream = stream_chunks(TAR_CODECS[suffix], body.read, source, offset, budget)
        return name, io.BufferedReader(ChunkReader(stream), 1 << 16).read, None
    raise KernelInputError(f"package has no {prefix}.tar member (members: {', '.join(seen) or 'none'})", source, 8)


class MemberStream(io.RawIOBase):
    """A package member's data as a read-only stream; closing it closes the package file.

    ``name`` is the member's path in the tar, ``size`` its size in bytes.
    """

    def __init__(self, name: str, size: int, body: Limited, owner: BinaryIO) -> None:
        self.name = name
        self.size = size
        self._body = body
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._body.read(len(b))
        b[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._owner.close()
        super().close()


def open_member(path: str | os.PathLike[str], predicate: Callable[[str], bool], budget: Budget | None = None,
                prefix: str = "data") -> MemberStream:
    """Stream the first regular member of a ``.deb``'s ``PREFIX.tar`` whose name *predicate* accepts.

    Reads the package front to back and stops at that member: nothing before it
    is held, nothing after it is read.  The result is a binary file-like
    stream with ``name`` and ``size`` (use it in a ``with``; closing it closes
    the package).  Raises :class:`KernelInputError` (or its
    :class:`~netmem_ffi.errors.BudgetExceededError`) when the package is
    malformed, over budget, or has no such member.
    """
    source = os.fspath(path)
    return member_of(open_input(source), source, predicate, budget, prefix)


def member_of(fh: BinaryIO, source: str, predicate: Callable[[str], bool], budget: Budget | None = None,
              prefix: str = "data") -> MemberStream:
    """:func:`open_member` over a package already open in *fh* (which the result then owns)."""
    budget = budget if budget is not None else Budget.from_env()
    try:
        found = find_member(fh, source, prefix, predicate, budget)
    except BaseException:
        fh.close()
        raise
    if found is None:
        fh.close()
        raise MemberNotFound(f"package {prefix}.tar has no member the reader wants", source, None)
    return MemberStream(found[0].name, found[0].size, found[1], fh)


def find_member(fh: BinaryIO, source: str, prefix: str, predicate: Callable[[str], bool],
                budget: Budget) -> tuple[TarMember, Limited] | None:
    """The first regular member of the package's ``PREFIX.tar`` that *predicate* accepts, read from the start."""
    fh.seek(0)
    tar_name, read, advance = open_package_tar(fh, source, prefix, budget)
    for member, body in tar_members(read, f"{source}:{tar_name}", budget, advance):
        if member.regular and predicate(member.name):
            return member, body
    return None


def control_fields(fh: BinaryIO, source: str, budget: Budget) -> dict[str, str]:
    """The fields of the control file of the package open in *fh* (a field's continuation lines are not kept).

    Raises :class:`KernelInputError` when it is not a package or has no control file.
    """
    found = find_member(fh, source, "control", lambda n: n.lstrip("./") == "control", budget)
    if found is None:
        raise KernelInputError("package control.tar has no control file", source, None)
    member, body = found
    budget.check("header", member.size, f"control file of {member.size:,} bytes", source)
    fields: dict[str, str] = {}
    for line in body.read().decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and not line[:1].isspace():
            fields[key.strip()] = value.strip()
    return fields


class MemberNotFound(KernelInputError):
    """The package is well formed but has no member the predicate accepts."""
