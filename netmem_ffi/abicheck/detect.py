"""Which netmem ABI generation a kernel carries, from its own layouts (docs/netmem-abi.md 1.3).

Checker rule: a kernel matches a profile only when its ``struct net_iov`` is
exactly the model's for that profile on that architecture (member names in
order, offsets, sizes and types, struct size) and ``enum net_iov_type`` has the
model's size.  No nearest-profile guessing: a kernel without ``struct net_iov``
is "before 6.12", any other shape is unknown (reported with the nearest profile
and the differences, never forced onto it).

The model for the kernel's architecture comes from
:func:`netmem_ffi.layout.engine.model_layouts` (the compiled module on the host, the
portable engine elsewhere).  The architecture is the user's (``--arch``), else
the input's hint (ELF ``e_machine``, package, the running system), else the
one the kernel's own types identify (:mod:`netmem_ffi.layout.archid`), else
unknown (compared on the first target of its word size and byte order, never
reported as the host's); :class:`ArchChoice` says which.
"""

from __future__ import annotations

from collections.abc import Callable

from netmem_ffi.abi import arches, registry
from netmem_ffi.abicheck.compare import Change, compare
from netmem_ffi.errors import KernelInputError, UnknownProfileError
from netmem_ffi.layout.models import model_layouts
from netmem_ffi.layout.types import LayoutSet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple

PRE_NET_IOV = "before 6.12 (no net_iov)"

#: Statuses of a :class:`Detection`.
MATCH, UNKNOWN, PRE_6_12 = "match", "unknown", "pre-6.12"


#: How the architecture was found: ``check --arch``, the container (ELF ``e_machine``, the package's
#: architecture, the running system) or the kernel's own types (:mod:`netmem_ffi.layout.archid`).
ARCH_FROM = ("user", "elf", "package", "running", "btf", "dwarf")
#: The architecture reported when the types do not identify it.
UNKNOWN_ARCH = "unknown"
_FROM_TEXT = {"user": "given with --arch", "elf": "from the ELF header", "package": "from the package",
              "running": "the running kernel's", "btf": "identified from the kernel's BTF types",
              "dwarf": "identified from the kernel's DWARF types"}


class ArchChoice(NamedTuple):
    """The kernel's architecture (or :data:`UNKNOWN_ARCH`), how it was found (:data:`ARCH_FROM`), and
    ``model``: the target whose model the kernel is compared with (the architecture itself when known,
    else the first target of the kernel's word size and byte order)."""

    arch: str
    how: str
    model: str

    def describe(self) -> str:
        if self.arch == UNKNOWN_ARCH:
            m = arches.MODELS[self.model]
            return (f"{UNKNOWN_ARCH} architecture (its types do not identify it; compared on the "
                    f"{m.pointer}-byte {m.endianness}-endian model of {self.model})")
        return f"{self.arch} ({_FROM_TEXT[self.how]})"


def choose_arch(pointer_size: int, endianness: str, *, user: str | None = None, hint: str | None = None,
                hint_from: str = "elf", identified: str | None = None, types_from: str = "btf") -> ArchChoice:
    """The architecture of a kernel of this word size and byte order: *user*'s, else the container's
    *hint* (found as *hint_from*), else the one its types *identified* (found as *types_from*), else
    :data:`UNKNOWN_ARCH` (never the host's).

    Raises :class:`KernelInputError` when the chosen architecture contradicts the word size or byte
    order, or no known architecture has them; :class:`~netmem_ffi.errors.UnsupportedArchError` for a
    name no target models.
    """
    fits = [m.name for m in arches.MODELS.values() if (m.pointer, m.endianness) == (pointer_size, endianness)]
    for given, how in ((user, "user"), (hint, hint_from), (identified, types_from)):
        if not given:
            continue
        arch = arches.normalize_arch(given)
        if arch not in fits:
            model = arches.MODELS[arch]
            said = "--arch says" if how == "user" else "the input says"
            raise KernelInputError(f"{said} {given} ({model.pointer}-byte, {model.endianness}-endian) "
                                   f"but the kernel's types are {pointer_size}-byte, {endianness}-endian")
        return ArchChoice(arch, how, arch)
    if not fits:
        raise KernelInputError(f"no supported architecture is {pointer_size}-byte {endianness}-endian")
    return ArchChoice(UNKNOWN_ARCH, types_from, fits[0])


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


def _generation(release: str | None) -> str | None:
    """The profile kernel *release* belongs to (``6.18.3-amd64`` -> ``v6.17``); None when unknown or not listed."""
    if not release:
        return None
    try:
        return registry.profile_name(release)
    except UnknownProfileError:
        return None


def detect_profile(kernel: LayoutSet, arch: ArchChoice, models: Callable[[str, str], LayoutSet] = model_layouts,
                   *, release: str | None = None) -> Detection:
    """Match *kernel*'s net_iov shape against every profile's model on *arch* (newest first).

    *release* (the kernel's version, when the input names it) only saves work: the
    generation it belongs to is tried first.  No two profiles have one shape on an
    architecture (``tests/test_detect.py``), so the answer is the same.
    """
    found = shape(kernel)
    if found is None:
        return Detection(PRE_6_12, None, arch)
    likely = _generation(release)
    if likely is not None and shape(models(likely, arch.model)) == found:
        return Detection(MATCH, likely, arch)
    scored: list[tuple[str, list[Change]]] = []
    for spec in reversed(registry.PROFILES):
        model = models(spec.name, arch.model)
        if shape(model) == found:
            return Detection(MATCH, spec.name, arch)
        scored.append((spec.name, compare(model, kernel, structs=["net_iov"], compare_align=False)))
    nearest, changes = min(scored, key=lambda s: len(s[1]))
    return Detection(UNKNOWN, None, arch, nearest, tuple(changes))
