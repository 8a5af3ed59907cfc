"""ELF: the one reader of an ELF file's header and section table, in linear time and within budgets.

Both ELF consumers stand on it: :mod:`netmem_ffi.kernel.elf` (the ``.BTF``
section and the banner of a ``vmlinux``) and :mod:`netmem_ffi.layout.dwarf.elf`
(the DWARF sections of a ``-dbg`` vmlinux, a ``.ko`` or an object file).

Hand-written rather than :mod:`elftools`: pyelftools looks every section name
up by reading the string table from the name's offset to its NUL, which is
quadratic on a crafted table (every header naming offset 0 of a large table
without a NUL), and it would still need our bounds around it.  Here the
section header table and the name table are each read once (both counted
against the ``held`` budget), each name is looked for within :data:`MAX_NAME`
bytes of its offset, the number of headers is bounded by the ``sections``
budget, and section bodies are read only when asked for, so a ``vmlinux`` of
a gigabyte on disk costs its headers and the sections wanted, not its size.
"""

from __future__ import annotations

import mmap
import os
import struct

from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.budget import Budget

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple

__all__ = ["ELF_MACHINES", "MAX_NAME", "SHT_NOBITS", "Buffer", "Elf", "Reader", "Section", "elf_arch", "is_elf",
           "read_elf"]

#: What ELF bytes are read from when they are in memory.
Buffer = bytes | bytearray | memoryview | mmap.mmap

#: ELF e_machine -> architecture name (SPEC 5 names), before class and byte order refine it (:func:`elf_arch`).
ELF_MACHINES: dict[int, str] = {
    3: "i386",
    20: "ppc",
    21: "ppc64",
    22: "s390x",
    40: "armhf",
    62: "x86_64",
    183: "arm64",
    243: "riscv64",
    258: "loongarch64",
}
#: Longest section name read: a name is found within this many bytes of its offset or not at all, so a
#: crafted table of unterminated names costs at most this much per header (linear, not quadratic).
MAX_NAME = 64
SHT_NOBITS = 8
_SHN_XINDEX = 0xFFFF


def is_elf(data: bytes) -> bool:
    """Whether *data* starts with the ELF magic."""
    return data[:4] == b"\x7fELF"


def elf_arch(machine: int, is64: bool, little: bool) -> str | None:
    """The architecture name of an ELF e_machine in its class and byte order."""
    arch = ELF_MACHINES.get(machine)
    if arch == "ppc64" and little:
        return "ppc64le"
    if arch == "armhf" and not little:
        return "armeb"
    if arch == "s390x" and not is64:
        return "s390"
    return arch


class Reader:
    """Random access to an ELF held in memory (*data*) or in an open file (*fh*, read with ``pread``).

    The ELF starts *base* bytes in and is *size* bytes long (default: the rest).
    Sections are read, never mapped: a mapped vmlinux would count twice in the
    resident set once its sections are copied.
    """

    def __init__(self, data: Buffer | None = None, fh: BinaryIO | None = None, base: int = 0,
                 size: int | None = None) -> None:
        self._view = memoryview(data) if data is not None else None
        self._fh = fh
        total = len(self._view) if self._view is not None else os.fstat(fh.fileno()).st_size if fh else 0
        self.base = base
        self.size = max(0, total - base if size is None else min(size, total - base))

    def read(self, off: int, n: int) -> bytes:
        """Up to *n* bytes at *off* (fewer at the end)."""
        if off < 0 or n <= 0 or off >= self.size:
            return b""
        n = min(n, self.size - off)
        if self._view is not None:
            return bytes(self._view[self.base + off:self.base + off + n])
        assert self._fh is not None
        return os.pread(self._fh.fileno(), n, self.base + off)


class Section(NamedTuple):
    """One section header: its number, name (latin-1, at most :data:`MAX_NAME` bytes) and the fields used."""

    number: int
    name: str
    type: int
    offset: int
    size: int
    link: int
    info: int


class Elf(NamedTuple):
    """An ELF file's header facts and its sections (none when it has no section header table)."""

    byteorder: str  # "little" or "big"
    is64: bool
    e_type: int
    machine: int
    sections: tuple[Section, ...]
    shoff: int

    @property
    def arch(self) -> str | None:
        """The architecture name (:func:`elf_arch`)."""
        return elf_arch(self.machine, self.is64, self.byteorder == "little")

    def find(self, name: str) -> Section | None:
        """The first section called *name*, None without one."""
        return next((s for s in self.sections if s.name == name), None)

    def body(self, reader: Reader, section: Section, source: str, budget: Budget | None = None) -> bytes:
        """The bytes of *section* (empty for ``SHT_NOBITS``); *budget* counts them as ``held`` when given.

        Raises :class:`KernelInputError` when the section runs past the end of the file.
        """
        if section.type == SHT_NOBITS:
            return b""
        check_range(reader, section.offset, section.size, source, f"{section.name or section.number} section")
        if budget is not None:
            budget.check("held", section.size, f"ELF section {section.name} of {section.size:,} bytes", source,
                         section.offset)
        return reader.read(section.offset, section.size)


def check_range(reader: Reader, off: int, size: int, source: str, what: str) -> None:
    """Raise :class:`KernelInputError` unless *size* bytes at *off* lie inside the file."""
    if off < 0 or size < 0 or off + size > reader.size:
        raise KernelInputError(f"{what} ({size} bytes) runs past the end of the file ({reader.size} bytes)",
                               source, off)


def _unpack(fmt: str, reader: Reader, pos: int, source: str, what: str) -> tuple[int, ...]:
    size = struct.calcsize(fmt)
    data = reader.read(pos, size)
    if len(data) < size:
        raise KernelInputError(f"{what} runs past the end of the file ({reader.size} bytes)", source, pos)
    return struct.unpack(fmt, data)


def read_elf(reader: Reader, source: str, budget: Budget) -> Elf:
    """The header and section table of the ELF file in *reader* (see the module doc for the bounds).

    Raises :class:`KernelInputError` naming the file and offset when a header is malformed,
    :class:`~netmem_ffi.errors.BudgetExceededError` when a table exceeds its budget.
    """
    ident = reader.read(0, 16)
    if not is_elf(ident):
        raise KernelInputError("not an ELF file (bad magic)", source, 0)
    if len(ident) < 16 or ident[4] not in (1, 2) or ident[5] not in (1, 2):
        raise KernelInputError("ELF header: bad EI_CLASS/EI_DATA", source, 4)
    is64, end = ident[4] == 2, "<" if ident[5] == 1 else ">"
    hdr = end + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    (e_type, machine, _, _, _, shoff, _, _, _, _, shentsize, shnum, shstrndx) = _unpack(
        hdr, reader, 16, source, "ELF header")
    order = "little" if end == "<" else "big"
    if shoff == 0:
        return Elf(order, is64, e_type, machine, (), 0)
    sh = end + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    if shentsize < struct.calcsize(sh):
        raise KernelInputError(f"ELF e_shentsize {shentsize} is too small", source, 0x3A if is64 else 0x2E)
    head = _unpack(sh, reader, shoff, source, "ELF section header 0")
    if shnum == 0 or shstrndx == _SHN_XINDEX:  # extended numbering lives in section 0
        shnum = shnum or head[5]
        shstrndx = head[6] if shstrndx == _SHN_XINDEX else shstrndx
    if shoff + shnum * shentsize > reader.size:
        raise KernelInputError(f"e_shoff {shoff:#x}: {shnum} section headers of {shentsize} bytes run past the end "
                               f"of the file ({reader.size} bytes)", source, 0x28 if is64 else 0x20)
    budget.check("sections", shnum, f"ELF file with {shnum:,} section headers", source, shoff)
    if shstrndx >= shnum:
        raise KernelInputError(f"ELF e_shstrndx {shstrndx} out of range ({shnum} sections)", source,
                               0x3E if is64 else 0x32)
    budget.check("held", shnum * shentsize, f"ELF section header table of {shnum * shentsize:,} bytes", source, shoff)
    table = reader.read(shoff, shnum * shentsize)
    headers = [struct.unpack_from(sh, table, i * shentsize) for i in range(shnum)]
    stroff, strsize = headers[shstrndx][4], headers[shstrndx][5]
    check_range(reader, stroff, strsize, source, "ELF section name table")
    budget.check("held", strsize, f"ELF section name table of {strsize:,} bytes", source, stroff)
    names = reader.read(stroff, strsize)
    sections = []
    for i, (name_off, stype, _, _, off, size, link, info, _, _) in enumerate(headers):
        if name_off >= strsize:
            raise KernelInputError(f"ELF section {i} name offset {name_off} outside the name table", source,
                                   shoff + i * shentsize)
        nul = names.find(b"\0", name_off, name_off + MAX_NAME + 1)
        name = names[name_off:nul].decode("latin-1") if nul >= 0 else ""
        sections.append(Section(i, name, stype, off, size, link, info))
    return Elf(order, is64, e_type, machine, tuple(sections), shoff)
