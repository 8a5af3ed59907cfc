"""DWARF input: the netmem types of a ``-dbg`` vmlinux, a ``.ko`` or any object with ``.debug_info``.

>>> from netmem_ffi.layout.dwarf import read_dwarf_btf  # doctest: +SKIP
>>> btf = read_dwarf_btf(open("vmlinux", "rb").read(), "vmlinux")  # raw BTF of the netmem closure

:func:`read_dwarf_btf` is the whole path: ELF sections (:mod:`.elf`), units and
DIEs on demand (:mod:`.units`), the closure as BTF (:mod:`.tobtf`).
"""

from __future__ import annotations

from netmem_ffi.layout.dwarf.elf import Buffer, ElfDwarf, elf_dwarf, is_elf
from netmem_ffi.layout.dwarf.tobtf import ROOTS, dwarf_btf, find_roots
from netmem_ffi.layout.dwarf.units import MAX_DIES, DebugInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = [
    "MAX_DIES",
    "ROOTS",
    "Buffer",
    "DebugInfo",
    "ElfDwarf",
    "dwarf_btf",
    "elf_dwarf",
    "find_roots",
    "is_elf",
    "read_dwarf_btf",
]


def read_dwarf_btf(data: Buffer | BinaryIO, source: str, max_dies: int = MAX_DIES, *, base: int = 0,
                   size: int | None = None) -> tuple[bytes, ElfDwarf]:
    """Raw BTF of the netmem types in the DWARF of the ELF file *data* (bytes or an open file; the ELF
    at *base*, *size* bytes long), and its facts.

    Raises :class:`~netmem_ffi.errors.KernelInputError` naming *source* for a
    malformed ELF or DWARF, a file without ``.debug_info`` or without the
    netmem types, or more than *max_dies* DIEs to decode.
    """
    elf = elf_dwarf(data, source, base, size)
    return dwarf_btf(DebugInfo(elf.sections, elf.byteorder, source, max_dies)), elf
