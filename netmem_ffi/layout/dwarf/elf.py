"""The DWARF sections of an ELF file, relocated where the file is relocatable (``.o``, ``.ko``).

Only what the DWARF reader needs: the ELF header (class, byte order,
machine, type), the section headers by name, and for ``ET_REL`` files the
32-bit absolute relocations of ``.debug_info`` (``DW_FORM_strp``, abbrev
offsets and ``DW_FORM_ref_addr`` are relocated against section symbols in an
object file; other relocation types only touch addresses and lengths the
layouts never read).  Only the DWARF sections are read, from bytes or an open
file (a vmlinux is never read whole).
"""

from __future__ import annotations

import mmap
import os
import struct

from netmem_ffi.errors import KernelInputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple

#: What ELF bytes are read from: the file mapped, or bytes.
Buffer = bytes | bytearray | mmap.mmap

__all__ = ["DWARF_SECTIONS", "Buffer", "ElfDwarf", "elf_dwarf", "is_elf", "section_names"]

#: The sections the reader uses (``.debug_info`` is required).
DWARF_SECTIONS = (".debug_info", ".debug_abbrev", ".debug_str", ".debug_line_str", ".debug_str_offsets")
_ET_REL = 1
_SHT_SYMTAB, _SHT_RELA, _SHT_REL, _SHT_NOBITS = 2, 4, 9, 8
#: e_machine -> the relocation type of a 32-bit absolute word (each psABI), and whether the file uses RELA.
_ABS32 = {3: 1, 62: 10, 40: 2, 183: 258, 22: 4, 21: 1, 243: 1, 258: 1}


class ElfDwarf(NamedTuple):
    """The DWARF sections of one ELF file (absent ones empty), its byte order, class and machine."""

    sections: dict[str, bytes]
    byteorder: str
    is64: bool
    machine: int


def is_elf(data: bytes) -> bool:
    """Whether *data* starts with the ELF magic."""
    return data[:4] == b"\x7fELF"


class _File:
    """Byte ranges of an ELF held in memory or open as a file (sections are read, not mapped: a
    mapped vmlinux would count twice in the resident set once its sections are copied)."""

    def __init__(self, data: Buffer | BinaryIO, base: int = 0, size: int | None = None) -> None:
        self._buf: Buffer | None = None
        self._fh: BinaryIO | None = None
        self.base = base
        if isinstance(data, bytes | bytearray | mmap.mmap):
            self._buf, total = data, len(data)
        else:
            self._fh, total = data, os.fstat(data.fileno()).st_size
        self.size = total - base if size is None else min(size, total - base)

    def read(self, off: int, size: int) -> bytes:
        size = max(0, min(size, self.size - off))
        if self._fh is None:
            assert self._buf is not None
            return bytes(self._buf[self.base + off:self.base + off + size])
        self._fh.seek(self.base + off)
        return self._fh.read(size)


def _headers(f: _File, source: str) -> tuple[str, bool, int, int, list[tuple[int, ...]], int]:
    """(byte order, 64-bit, e_type, e_machine, section headers, index of the names section) of *f*'s ELF."""
    data = f.read(0, 64)
    if len(data) < 64 or not is_elf(data) or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise KernelInputError("not an ELF file (bad magic, class or data encoding)", source, 0)
    is64, order = data[4] == 2, "<" if data[5] == 1 else ">"
    head = struct.unpack_from(order + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH"), data, 16)
    e_type, machine, shoff, shentsize, shnum, shstrndx = head[0], head[1], head[5], head[10], head[11], head[12]
    fmt = order + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    if shentsize != struct.calcsize(fmt) or shoff + shnum * shentsize > f.size or shstrndx >= max(shnum, 1):
        raise KernelInputError(f"ELF section header table ({shnum} x {shentsize} bytes at {shoff}) "
                               f"does not fit the file ({f.size} bytes)", source, 32)
    table = f.read(shoff, shnum * shentsize)
    shdrs = [struct.unpack_from(fmt, table, i * shentsize) for i in range(shnum)]
    return ("little" if order == "<" else "big"), is64, e_type, machine, shdrs, shstrndx


def _body(f: _File, sh: tuple[int, ...], source: str, what: str) -> bytes:
    off, size = sh[4], sh[5]
    if sh[1] == _SHT_NOBITS:
        return b""
    if off + size > f.size:
        raise KernelInputError(f"section {what} ({size} bytes at {off}) runs past the end of the file", source, off)
    return f.read(off, size)


def _relocate(info: bytes, rel: bytes, symtab: bytes, *, rela: bool, is64: bool, order: str,
              abs32: int, source: str) -> bytes:
    """A copy of *info* with its 32-bit absolute relocations applied (S + A; A in place for REL)."""
    out = bytearray(info)
    sym_fmt = order + ("IBBHQQ" if is64 else "IIIBBH")
    sym_size = struct.calcsize(sym_fmt)
    rel_fmt = order + ("QQ" if is64 else "II") + (("q" if is64 else "i") if rela else "")
    word = order + "I"
    for entry in struct.iter_unpack(rel_fmt, rel[: len(rel) - len(rel) % struct.calcsize(rel_fmt)]):
        offset, r_info = entry[0], entry[1]
        sym, rtype = (r_info >> 32, r_info & 0xFFFFFFFF) if is64 else (r_info >> 8, r_info & 0xFF)
        if rtype != abs32:
            continue
        if offset + 4 > len(out) or (sym + 1) * sym_size > len(symtab):
            raise KernelInputError(f"relocation of .debug_info at {offset} (symbol {sym}) is out of range", source)
        fields = struct.unpack_from(sym_fmt, symtab, sym * sym_size)
        value = fields[4] if is64 else fields[1]
        addend = entry[2] if rela else struct.unpack_from(word, out, offset)[0]
        struct.pack_into(word, out, offset, (value + addend) & 0xFFFFFFFF)
    return bytes(out)


def section_names(data: Buffer | BinaryIO, source: str) -> set[str]:
    """The names of the sections of the ELF file in *data* (:class:`KernelInputError` when malformed)."""
    f = _File(data)
    _, _, _, _, shdrs, shstrndx = _headers(f, source)
    names = _body(f, shdrs[shstrndx], source, ".shstrtab")
    return {_name(names, sh) for sh in shdrs}


#: Longest section name read: a name is found within this many bytes of its offset or not at all, so a
#: crafted table of unterminated names costs at most this much per header (linear, not quadratic).
MAX_NAME = 64


def _name(names: bytes, sh: tuple[int, ...]) -> str:
    start = sh[0]
    end = names.find(b"\0", start, start + MAX_NAME)
    return names[start:end if end >= 0 else min(len(names), start + MAX_NAME)].decode("latin-1")


def elf_dwarf(file: Buffer | BinaryIO, source: str, base: int = 0, size: int | None = None) -> ElfDwarf:
    """The DWARF sections of the ELF file in *file* (bytes or an open file; relocated for ``ET_REL``), which
    starts at *base* and is *size* bytes long (default: the rest of *file*).

    Raises :class:`KernelInputError` for a malformed ELF or one without ``.debug_info``.
    """
    data = _File(file, base, size)
    byteorder, is64, e_type, machine, shdrs, shstrndx = _headers(data, source)
    names = _body(data, shdrs[shstrndx], source, ".shstrtab")
    by_name = {_name(names, sh): (i, sh) for i, sh in enumerate(shdrs)}
    if ".debug_info" not in by_name:
        raise KernelInputError("ELF file has no DWARF (.debug_info)", source)
    sections = {n: _body(data, by_name[n][1], source, n) if n in by_name else b"" for n in DWARF_SECTIONS}
    if e_type == _ET_REL and machine in _ABS32:
        info_index = by_name[".debug_info"][0]
        for sh in shdrs:
            if sh[1] in (_SHT_REL, _SHT_RELA) and sh[7] == info_index:
                sections[".debug_info"] = _relocate(
                    sections[".debug_info"], _body(data, sh, source, "relocations"),
                    _body(data, shdrs[sh[6]], source, "symbols"), rela=sh[1] == _SHT_RELA, is64=is64,
                    order="<" if byteorder == "little" else ">", abs32=_ABS32[machine], source=source)
    return ElfDwarf(sections, byteorder, is64, machine)

