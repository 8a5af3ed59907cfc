"""Which netmem ABI generation a kernel carries, from its own layouts (docs/netmem-abi.md 1.3).

Checker rule: a kernel matches a profile only when its ``struct net_iov`` is
exactly the model's for that profile on that architecture (member names in
order, offsets, sizes and types, struct size) and ``enum net_iov_type`` has the
model's size.  No nearest-profile guessing: a kernel without ``struct net_iov``
is "before 6.12", any other shape is unknown (reported with the nearest profile
and the differences, never forced onto it).

The model for the kernel's architecture comes from
:func:`netmem_ffi.layout.engine.model_layouts` (the compiled module on the host, the
portable engine elsewhere).  BTF alone cannot tell x86_64 from arm64, so the
architecture is the input's hint when it has one (ELF ``e_machine``, package
name), else the host's when its word size and byte order fit, else the first
architecture that fits; :class:`ArchChoice` says which.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from netmem_ffi.abi import arches, registry
from netmem_ffi.abicheck.compare import Change, compare
from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.models import model_layouts
from netmem_ffi.layout.types import LayoutSet

PRE_NET_IOV = "before 6.12 (no net_iov)"

#: Statuses of a :class:`Detection`.
MATCH, UNKNOWN, PRE_6_12 = "match", "unknown", "pre-6.12"


class ArchChoice(NamedTuple):
    """The architecture a kernel is compared on, and how it was chosen ("hint", "host", "assumed")."""

    arch: str
    how: str

    def describe(self) -> str:
        if self.how == "hint":
            return f"{self.arch} (from the input)"
        if self.how == "host":
            return f"{self.arch} (assumed: the host's; BTF tells only word size and byte order)"
        return f"{self.arch} (assumed: first architecture with this word size and byte order)"


def choose_arch(pointer_size: int, endianness: str, hint: str | None = None) -> ArchChoice:
    """The architecture to compare a kernel of this word size and byte order on.

    Raises :class:`KernelInputError` when the hint contradicts the BTF, or no
    known architecture has that word size and byte order.
    """
    fits = [m.name for m in arches.MODELS.values() if (m.pointer, m.endianness) == (pointer_size, endianness)]
    if hint:
        arch = arches.normalize_arch(hint)
        if arch not in fits:
            model = arches.MODELS[arch]
            raise KernelInputError(f"the input says {hint} ({model.pointer}-byte, {model.endianness}-endian) "
                                   f"but its BTF is {pointer_size}-byte, {endianness}-endian")
        return ArchChoice(arch, "hint")
    host = arches.host_arch()
    if host in fits:
        return ArchChoice(host, "host")
    if not fits:
        raise KernelInputError(f"no supported architecture is {pointer_size}-byte {endianness}-endian")
    return ArchChoice(fits[0], "assumed")


def shape(layouts: LayoutSet) -> tuple[object, ...] | None:
    """What must match exactly: net_iov's members (name, offset, size, type) in order, its size, the enum.

    The enum counts with its size and its enumerators: on ILP32 ``NET_IOV_MAX``
    (v6.17) does not widen the enum, so v6.17 and v6.19 differ only there.
    """
    niov = layouts.structs.get("net_iov")
    if niov is None:
        return None
    enum = layouts.enums.get("net_iov_type")
    members = tuple((f.name, f.offset, f.size, f.type, f.bit_offset, f.bit_size) for f in niov.fields)
    return members, niov.size, None if enum is None else (enum.size, enum.values)


class Detection(NamedTuple):
    """The outcome: ``status`` is :data:`MATCH` (``profile`` set), :data:`UNKNOWN` or :data:`PRE_6_12`.

    For an unknown shape, ``nearest`` is the profile with the fewest
    differences and ``differences`` the changes from its model to the kernel.
    """

    status: str
    profile: str | None
    arch: ArchChoice
    nearest: str | None = None
    differences: tuple[Change, ...] = ()

    def describe(self) -> str:
        if self.status == MATCH:
            return f"profile {self.profile}"
        if self.status == PRE_6_12:
            return PRE_NET_IOV
        return (f"unrecognized net_iov layout (nearest: {self.nearest}, "
                f"{len(self.differences)} difference{'s' * (len(self.differences) != 1)})")


def detect_profile(kernel: LayoutSet, arch: ArchChoice,
                   models: Callable[[str, str], LayoutSet] = model_layouts) -> Detection:
    """Match *kernel*'s net_iov shape against every profile's model on *arch* (newest first)."""
    found = shape(kernel)
    if found is None:
        return Detection(PRE_6_12, None, arch)
    scored: list[tuple[str, list[Change]]] = []
    for spec in reversed(registry.PROFILES):
        model = models(spec.name, arch.arch)
        if shape(model) == found:
            return Detection(MATCH, spec.name, arch)
        scored.append((spec.name, compare(model, kernel, structs=["net_iov"], compare_align=False)))
    nearest, changes = min(scored, key=lambda s: len(s[1]))
    return Detection(UNKNOWN, None, arch, nearest, tuple(changes))
