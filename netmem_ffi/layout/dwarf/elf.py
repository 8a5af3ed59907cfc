"""The DWARF sections of an ELF file, relocated where the file is relocatable (``.o``, ``.ko``).

Only what the DWARF reader needs: the ELF header and section table (read by
:mod:`netmem_ffi.layout.elf`, the package's one ELF reader), the DWARF
sections by name, and for ``ET_REL`` files the 32-bit absolute relocations of
``.debug_info`` (``DW_FORM_strp``, abbrev offsets and ``DW_FORM_ref_addr`` are
relocated against section symbols in an object file; other relocation types
only touch addresses and lengths the layouts never read).  Only the DWARF
sections are read, from bytes or an open file (a vmlinux is never read whole).
"""

from __future__ import annotations

import struct

from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.budget import Budget
from netmem_ffi.layout.elf import Buffer, Elf, Reader, is_elf, read_elf

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple

__all__ = ["DWARF_SECTIONS", "Buffer", "ElfDwarf", "elf_dwarf", "is_elf", "section_names"]

#: The sections the reader uses (``.debug_info`` is required).
DWARF_SECTIONS = (".debug_info", ".debug_abbrev", ".debug_str", ".debug_line_str", ".debug_str_offsets")
_ET_REL = 1
_SHT_REL, _SHT_RELA = 9, 4
#: e_machine -> the relocation type of a 32-bit absolute word (each psABI).
_ABS32 = {3: 1, 62: 10, 40: 2, 183: 258, 22: 4, 21: 1, 243: 1, 258: 1}


class ElfDwarf(NamedTuple):
    """The DWARF sections of one ELF file (absent ones empty), its byte order, class and machine."""

    sections: dict[str, bytes]
    byteorder: str
    is64: bool
    machine: int


def _open(file: Buffer | BinaryIO, source: str, base: int = 0, size: int | None = None,
          budget: Budget | None = None) -> tuple[Reader, Elf]:
    reader = (Reader(file, base=base, size=size) if isinstance(file, Buffer)
              else Reader(fh=file, base=base, size=size))
    return reader, read_elf(reader, source, budget if budget is not None else Budget.from_env())


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
    return {s.name for s in _open(data, source)[1].sections}


def elf_dwarf(file: Buffer | BinaryIO, source: str, base: int = 0, size: int | None = None,
              budget: Budget | None = None) -> ElfDwarf:
    """The DWARF sections of the ELF file in *file* (bytes or an open file; relocated for ``ET_REL``), which
    starts at *base* and is *size* bytes long (default: the rest of *file*).

    Raises :class:`KernelInputError` for a malformed ELF or one without ``.debug_info``.
    """
    reader, elf = _open(file, source, base, size, budget)
    info = elf.find(".debug_info")
    if info is None:
        raise KernelInputError("ELF file has no DWARF (.debug_info)", source)
    found = {n: elf.find(n) for n in DWARF_SECTIONS}
    sections = {n: elf.body(reader, s, source) if s is not None else b"" for n, s in found.items()}
    if elf.e_type == _ET_REL and elf.machine in _ABS32:
        for sh in elf.sections:
            if sh.type in (_SHT_REL, _SHT_RELA) and sh.info == info.number:
                if sh.link >= len(elf.sections):
                    raise KernelInputError(f"relocation section {sh.name} links symbol table {sh.link}, "
                                           f"out of range ({len(elf.sections)} sections)", source)
                sections[".debug_info"] = _relocate(
                    sections[".debug_info"], elf.body(reader, sh, source),
                    elf.body(reader, elf.sections[sh.link], source), rela=sh.type == _SHT_RELA, is64=elf.is64,
                    order="<" if elf.byteorder == "little" else ">", abs32=_ABS32[elf.machine], source=source)
    return ElfDwarf(sections, elf.byteorder, elf.is64, elf.machine)
