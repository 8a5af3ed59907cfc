"""ELF: the ``.BTF`` section (and the banner's place in ``.rodata``) of a ``vmlinux``.

The header and section table are read by :mod:`netmem_ffi.layout.elf` (linear
time, bounded by the ``sections`` and ``held`` budgets); only the ``.BTF``
section's bytes are read besides, so a ``vmlinux`` of a gigabyte on disk (a
``-dbg`` package's) costs its headers and its ``.BTF`` section, not its size.
"""

from __future__ import annotations

from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.budget import Budget
from netmem_ffi.layout.elf import ELF_MACHINES, SHT_NOBITS, elf_arch, read_elf
from netmem_ffi.layout.elf import Reader as Blob

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from netmem_ffi.abi.record import dataclass

__all__ = ["ELF_MACHINES", "Blob", "ElfBtf", "elf_arch", "elf_btf"]


@dataclass
class ElfBtf:
    """What an ELF file holds for us: its ``.BTF`` bytes (None when it has none) and facts about it."""

    btf: bytes | None
    arch: str | None
    release_range: tuple[int, int] | None  # (offset, size) of .rodata, where the banner is
    why: str = ""  # when btf is None: "no section headers" / "no .BTF section"
    dwarf: bool = False
    btf_at: int = 0  # file offset of the .BTF section


def elf_btf(blob: Blob, source: str, budget: Budget) -> ElfBtf:
    """The ``.BTF`` section of the ELF file in *blob*.

    Raises :class:`KernelInputError` naming the file and offset when a header is malformed.
    """
    elf = read_elf(blob, source, budget)
    if not elf.sections:
        return ElfBtf(None, elf.arch, None, "no section headers")
    ro = elf.find(".rodata")
    ro_range = ((ro.offset, ro.size) if ro and ro.type != SHT_NOBITS and ro.offset + ro.size <= blob.size
                else None)
    btf = elf.find(".BTF")
    if btf is None:
        return ElfBtf(None, elf.arch, ro_range, "no .BTF section", elf.find(".debug_info") is not None)
    if btf.type == SHT_NOBITS:
        raise KernelInputError(".BTF section has no file data (SHT_NOBITS)", source, elf.shoff)
    return ElfBtf(elf.body(blob, btf, source, budget), elf.arch, ro_range, btf_at=btf.offset)
