"""The supported architectures: their C data models, their spellings, and the host's.

Kept apart from :mod:`netmem_ffi.layout.engine` (which parses C) so that tools
which only need to name or choose an architecture, like ``check`` on the
host, import nothing heavy.
"""

from __future__ import annotations

import os

from netmem_ffi.errors import NetmemValueError, UnsupportedArchError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple


class DataModel(NamedTuple):
    """The C data model of one target: what the engine needs to lay out declarations."""

    name: str
    long: int  # sizeof(long) == sizeof(void *) on every Linux target
    endianness: str  # "little" | "big"
    long_long_align: int  # alignment of 8-byte integers inside structs
    char_signed: bool
    cacheline: int  # L1_CACHE_BYTES, for the pahole-style view
    aligned_struct_page: bool  # the architecture selects CONFIG_HAVE_ALIGNED_STRUCT_PAGE
    triplet: str  # GNU triplet of Debian's cross compiler
    page_virtual: bool = False  # the architecture selects WANT_PAGE_VIRTUAL: struct page ends in void *virtual

    @property
    def pointer(self) -> int:
        return self.long

    def prim(self, kind: str) -> tuple[int, int]:
        """(size, alignment) of an arithmetic type given by its canonical name."""
        rank = kind.removeprefix("unsigned ").removeprefix("signed ")
        size = {"char": 1, "_Bool": 1, "short": 2, "int": 4, "float": 4, "long": self.long,
                "long long": 8, "double": 8}.get(rank)
        if size is None:
            raise NetmemValueError(f"type {kind!r} has no size on {self.name}", kind)
        return size, (self.long_long_align if size == 8 else size)


_MODELS = (
    DataModel("x86_64", 8, "little", 8, True, 64, True, "x86_64-linux-gnu"),
    DataModel("i386", 4, "little", 4, True, 64, True, "i686-linux-gnu"),
    DataModel("arm64", 8, "little", 8, False, 64, True, "aarch64-linux-gnu"),
    DataModel("armhf", 4, "little", 8, False, 64, False, "arm-linux-gnueabihf"),
    DataModel("s390x", 8, "big", 8, False, 256, True, "s390x-linux-gnu"),
    DataModel("ppc64le", 8, "little", 8, False, 128, False, "powerpc64le-linux-gnu"),
    DataModel("ppc64", 8, "big", 8, False, 128, False, "powerpc64-linux-gnu"),
    DataModel("riscv64", 8, "little", 8, False, 64, True, "riscv64-linux-gnu"),
    # LoongArch: signed char (GCC's default there); Debian's struct page is 80 bytes (WANT_PAGE_VIRTUAL adds
    # ``virtual`` at 64) and 16-byte aligned.  No Debian cross compiler: checked against loong64's own DWARF.
    DataModel("loongarch64", 8, "little", 8, True, 64, True, "loongarch64-linux-gnu", page_virtual=True),
)
MODELS = {m.name: m for m in _MODELS}
#: The architectures the engine lays out (SPEC 5 spelling).
ARCHES: tuple[str, ...] = tuple(MODELS)
#: Other spellings: Debian, uname -m, GNU triplets, kernel ARCH names.
ALIASES = {
    "amd64": "x86_64", "x86-64": "x86_64", "x64": "x86_64",
    "x86": "i386", "i686": "i386", "i586": "i386", "i486": "i386", "ia32": "i386",
    "aarch64": "arm64", "armv8": "arm64",
    "arm": "armhf", "armv7": "armhf", "armv7l": "armhf", "armv7hl": "armhf", "armel": "armhf",
    "s390": "s390x",
    "ppc64el": "ppc64le", "powerpc64le": "ppc64le", "powerpc64": "ppc64", "ppc64be": "ppc64",
    "riscv": "riscv64", "rv64": "riscv64",
    "loong64": "loongarch64", "loongarch": "loongarch64", "la64": "loongarch64",
} | {m.triplet: m.name for m in _MODELS}


def normalize_arch(name: str) -> str:
    """The engine's name for an architecture spelled any common way (``amd64`` -> ``x86_64``).

    Raises :class:`UnsupportedArchError` listing the valid names.
    """
    key = str(name).strip().lower()
    if key in MODELS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    raise UnsupportedArchError(
        f"unsupported architecture {name!r}; valid: {', '.join(ARCHES)} (aliases: {', '.join(sorted(ALIASES))})",
        name,
    )


def data_model(arch: str) -> DataModel:
    """The :class:`DataModel` of *arch* (any spelling :func:`normalize_arch` accepts)."""
    return MODELS[normalize_arch(arch)]


#: The running kernel's BTF: the default kernel input of every command.
RUNNING_KERNEL_BTF = "/sys/kernel/btf/vmlinux"


def host_arch() -> str:
    """The architecture name (SPEC 5 spelling) of this machine; ``uname -m`` when no target models it."""
    machine = os.uname().machine
    return ALIASES.get(machine, machine)
