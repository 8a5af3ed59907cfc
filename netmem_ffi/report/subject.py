"""What a layout report describes: a profile's model on an architecture, or a kernel as read.

``netmem-ffi layout`` shows either; every renderer (pahole text, JSON, overlay,
SVG, C header) reads a :class:`Subject` and never knows which it is.

* :func:`model_subject` -- the portable engine's layouts of a profile on an
  architecture (every struct the profile's cdefs define, unabridged).
* :func:`kernel_subject` -- a kernel input as ``netmem-ffi check`` reads it
  (raw BTF, ELF, image, ``.deb``, ``reference:NAME`` for a shipped reference
  kernel): its netmem layouts exactly as ``check --json`` reports them (``page``
  limited to the members netmem uses), any other struct of its BTF in full, its
  architecture and detected profile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from netmem_ffi.abi import registry
from netmem_ffi.abi.arches import DataModel, data_model
from netmem_ffi.abicheck.check import check_kernel
from netmem_ffi.errors import NetmemValueError
from netmem_ffi.kernel.references import REFERENCE_PREFIX, read_kernel
from netmem_ffi.kernel.source import KernelSource
from netmem_ffi.layout import engine
from netmem_ffi.layout.btf.layouts import struct_layout
from netmem_ffi.layout.btf.uapi import Kind
from netmem_ffi.layout.types import LayoutSet, StructLayout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from typing import Any
else:
    from netmem_ffi.abi.record import dataclass, field

__all__ = ["REFERENCE_PREFIX", "Subject", "kernel_subject", "model_subject", "read_kernel"]

_RECORD_KINDS = frozenset({Kind.STRUCT, Kind.UNION})


@dataclass(frozen=True)
class Subject:
    """One layout report's subject: its title, target, netmem layouts and any struct by name.

    ``layouts`` holds the netmem structs and enums (for a kernel: exactly
    ``check --json``'s); :meth:`struct` gives any struct in full.  ``kernel`` is
    the input as read (None for a model); ``profile`` the model's profile or
    the kernel's detected one (None when no profile matches).
    """

    title: str
    arch: DataModel
    profile: str | None
    layouts: LayoutSet
    lookup: Callable[[str], StructLayout | None]
    known: str  # what to list when a struct is unknown
    kernel: KernelSource | None = None
    #: Per overlay column, the members it labels (None: all); the others show as "(other members)".
    overlay_members: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def bits(self) -> str:
        """``64-bit, little-endian``: the target's word size and byte order in words."""
        return f"{8 * self.arch.long}-bit, {self.arch.endianness}-endian"

    def struct(self, name: str) -> StructLayout:
        """The full layout of ``struct name``; :class:`NetmemValueError` naming what exists otherwise."""
        found = self.lookup(name)
        if found is None:
            raise NetmemValueError(f"unknown struct {name!r}; {self.known}", name)
        return found

    def names(self, asked: list[str]) -> list[str]:
        """The struct names asked for (``struct page`` and ``page`` both work), checked; the netmem ones if none."""
        names = [n.removeprefix("struct ").strip() for n in asked if n.strip() != "struct"]
        for name in names:
            self.struct(name)
        return names or [n for n in registry.STRUCTS if n in self.layouts.structs]

    def json_structs(self, names: list[str]) -> dict[str, Any]:
        """The ``structs`` object of ``layout --json``: the model's as the engine gives them, a kernel's as
        ``check --json`` gives them (``page`` limited to the netmem members)."""
        out: dict[str, Any] = {}
        for name in names:
            layout = self.layouts.structs.get(name) or self.struct(name)
            out[name] = layout.to_dict() if self.kernel is None else {
                "size": layout.size, "fields": [f.to_dict() for f in layout.fields]}
        return out

    def overlay_structs(self) -> dict[str, StructLayout]:
        """The structs the overlay draws (``page`` in full, its labels limited by :attr:`overlay_members`)."""
        return {name: found for name in registry.STRUCTS if (found := self.lookup(name)) is not None}


def model_subject(profile: str, arch: str, config: engine.KernelConfig | None = None) -> Subject:
    """The engine's layouts of *profile* (a name or kernel release) on *arch*.

    Raises :class:`UnknownProfileError`, :class:`UnsupportedArchError`, or
    :class:`NetmemValueError` for a bad config.
    """
    name = registry.spec(profile).name
    model = data_model(arch)
    full = engine.struct_layouts(name, model.name, config)
    layouts = engine.layout_set(name, model.name, config)
    title = f"netmem {name} on {model.name} ({8 * model.long}-bit, {model.endianness}-endian)"
    return Subject(title, model, name, layouts, full.get, f"this profile defines: {', '.join(full)}")


def kernel_subject(source: str | KernelSource) -> Subject:
    """The kernel at *source* (see :func:`netmem_ffi.kernel.references.read_kernel`) as ``netmem-ffi check`` reads it.

    Raises :class:`KernelInputError` for an unreadable or malformed input.
    """
    kernel = read_kernel(source) if isinstance(source, str) else source
    result = check_kernel(kernel)
    btf = kernel.btf
    found: dict[str, StructLayout | None] = {}

    def lookup(name: str) -> StructLayout | None:
        if name not in found:
            tid = btf.find(name, _RECORD_KINDS)
            found[name] = None if tid is None else struct_layout(btf, tid)
        return found[name]

    profile = result.detection.profile
    release = kernel.release or "release unknown"
    what = f"profile {profile}" if profile else result.detection.describe()
    model = data_model(result.arch.model)  # the architecture, or the target it is compared on when unknown
    where = model.name if result.arch.arch == result.arch.model else f"an unknown architecture (as {model.name})"
    title = (f"kernel {kernel.source} ({release}) on {where} ({8 * model.long}-bit, "
             f"{model.endianness}-endian), {what}")
    page_labels = frozenset(registry.PAGE_MEMBERS) | {f.name for f in _model_page(model.name).fields}
    return Subject(title, model, profile, result.layouts, lookup, "the kernel's BTF has no such struct",
                   kernel, {"page": page_labels})


def _model_page(arch: str) -> StructLayout:
    """The model's struct page: its members are the ones the overlay labels in a kernel's page."""
    return engine.struct_layouts(registry.DEFAULT_PROFILE, arch)["page"]
