"""ELF: find the ``.BTF`` section (and the banner in ``.rodata``) of a ``vmlinux``, in linear time.

Hand-written rather than :mod:`elftools`: pyelftools looks every section name
up by reading the string table from the name's offset to its NUL, which is
quadratic on a crafted table (every header naming offset 0 of a large table
without a NUL), and it would still need our bounds around it.  Here each
section header is read once, each name at most :data:`MAX_NAME` bytes, the
number of headers is bounded by the ``sections`` budget, and only the bytes
asked for are read, so a ``vmlinux`` of a gigabyte on disk (a ``-dbg``
package's) costs its headers and its ``.BTF`` section, not its size.
"""

from __future__ import annotations

import os
import struct

from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.budget import Budget

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import BinaryIO
else:
    from netmem_ffi.abi.record import dataclass

__all__ = ["ELF_MACHINES", "Blob", "ElfBtf", "elf_btf"]

#: ELF e_machine -> architecture name (SPEC 5 names), by ELF class and data.
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
#: Longest section name compared (kernel section names are short; a longer one matches nothing).
MAX_NAME = 64
_SHT_NOBITS = 8
_SHN_XINDEX = 0xFFFF


class Blob:
    """Random access to an input, in memory (*data*) or in a file (*fh*, read with ``pread``)."""

    def __init__(self, data: bytes | bytearray | memoryview | None = None, fh: BinaryIO | None = None) -> None:
        self._view = memoryview(data) if data is not None else None
        self._fh = fh
        self.size = len(self._view) if self._view is not None else os.fstat(fh.fileno()).st_size if fh else 0

    def read(self, off: int, n: int) -> bytes:
        """Up to *n* bytes at *off* (fewer at the end)."""
        if off < 0 or n <= 0 or off >= self.size:
            return b""
        if self._view is not None:
            return bytes(self._view[off:off + n])
        assert self._fh is not None
        return os.pread(self._fh.fileno(), min(n, self.size - off), off)


@dataclass
class ElfBtf:
    """What an ELF file holds for us: its ``.BTF`` bytes (None when it has none) and facts about it."""

    btf: bytes | None
    arch: str | None
    release_range: tuple[int, int] | None  # (offset, size) of .rodata, where the banner is
    why: str = ""  # when btf is None: "no section headers" / "no .BTF section"
    dwarf: bool = False
    btf_at: int = 0  # file offset of the .BTF section


def _u(fmt: str, blob: Blob, pos: int, source: str, what: str) -> tuple[int, ...]:
    size = struct.calcsize(fmt)
    data = blob.read(pos, size)
    if len(data) < size:
        raise KernelInputError(f"{what} runs past the end of the file ({blob.size} bytes)", source, pos)
    return struct.unpack(fmt, data)


def _check_range(blob: Blob, off: int, size: int, source: str, what: str) -> None:
    if off < 0 or size < 0 or off + size > blob.size:
        raise KernelInputError(f"{what} ({size} bytes) runs past the end of the file ({blob.size} bytes)", source, off)


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


def elf_btf(blob: Blob, source: str, budget: Budget) -> ElfBtf:
    """The ``.BTF`` section of the ELF file in *blob* (see the module doc for the bounds).

    Raises :class:`KernelInputError` naming the file and offset when a header is malformed.
    """
    ident = blob.read(0, 16)
    if len(ident) < 16 or ident[4] not in (1, 2) or ident[5] not in (1, 2):
        raise KernelInputError("ELF header: bad EI_CLASS/EI_DATA", source, 4)
    is64, end = ident[4] == 2, "<" if ident[5] == 1 else ">"
    hdr = end + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    (_, machine, _, _, _, shoff, _, _, _, _, shentsize, shnum, shstrndx) = _u(hdr, blob, 16, source, "ELF header")
    sh = end + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    arch = elf_arch(machine, is64, ident[5] == 1)
    if shoff == 0:
        return ElfBtf(None, arch, None, "no section headers")
    if shentsize < struct.calcsize(sh):
        raise KernelInputError(f"ELF e_shentsize {shentsize} is too small", source, 0x3A if is64 else 0x2E)
    head = _u(sh, blob, shoff, source, "ELF section header 0")
    if shnum == 0 or shstrndx == _SHN_XINDEX:  # extended numbering lives in section 0
        shnum = shnum or head[5]
        shstrndx = head[6] if shstrndx == _SHN_XINDEX else shstrndx
    if shoff + shnum * shentsize > blob.size:
        raise KernelInputError(f"e_shoff {shoff:#x}: {shnum} section headers of {shentsize} bytes run past the end "
                               f"of the file ({blob.size} bytes)", source, 0x28 if is64 else 0x20)
    budget.check("sections", shnum, f"ELF file with {shnum:,} section headers", source, shoff)
    if shstrndx >= shnum:
        raise KernelInputError(f"ELF e_shstrndx {shstrndx} out of range ({shnum} sections)", source,
                               0x3E if is64 else 0x32)
    budget.check("held", shnum * shentsize, f"ELF section header table of {shnum * shentsize:,} bytes", source, shoff)
    table = blob.read(shoff, shnum * shentsize)
    headers = [struct.unpack_from(sh, table, i * shentsize)[:6] for i in range(shnum)]
    stroff, strsize = headers[shstrndx][4], headers[shstrndx][5]
    _check_range(blob, stroff, strsize, source, "ELF section name table")
    sections: dict[bytes, tuple[int, int, int]] = {}
    for i, (name_off, stype, _, _, off, size) in enumerate(headers):
        if name_off >= strsize:
            raise KernelInputError(f"ELF section {i} name offset {name_off} outside the name table", source,
                                   shoff + i * shentsize)
        raw = blob.read(stroff + name_off, min(MAX_NAME + 1, strsize - name_off))
        nul = raw.find(b"\x00")
        sections.setdefault(raw[:nul] if nul >= 0 else b"", (stype, off, size))
    ro = sections.get(b".rodata")
    ro_range = (ro[1], ro[2]) if ro and ro[0] != _SHT_NOBITS and ro[1] + ro[2] <= blob.size else None
    if b".BTF" not in sections:
        return ElfBtf(None, arch, ro_range, "no .BTF section", b".debug_info" in sections)
    stype, off, size = sections[b".BTF"]
    if stype == _SHT_NOBITS:
        raise KernelInputError(".BTF section has no file data (SHT_NOBITS)", source, shoff)
    _check_range(blob, off, size, source, ".BTF section")
    budget.check("held", size, f".BTF section of {size:,} bytes", source, off)
    return ElfBtf(blob.read(off, size), arch, ro_range, btf_at=off)
