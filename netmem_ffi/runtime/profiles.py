"""ABI profiles: each generation's compiled module, host layouts, constants and runtime."""

from __future__ import annotations

import importlib
from functools import cached_property
from types import ModuleType
from typing import TYPE_CHECKING, Any

from netmem_ffi.abi import registry
from netmem_ffi.layout.types import LayoutSet

if TYPE_CHECKING:
    from netmem_ffi.runtime.core import Runtime

DEFAULT_PROFILE = registry.DEFAULT_PROFILE


class Profile:
    """One ABI generation of include/net/netmem.h, compiled for this host.

    Attributes: ``name``, ``spec`` (the registry entry), ``ffi``/``lib`` (the
    compiled cffi module), ``layouts`` (host :class:`LayoutSet`), ``constants``,
    and every runtime name of :data:`netmem_ffi.runtime.core.RUNTIME_NAMES`
    (``get_netmem``, ``NetIovArea``, ``PageMap`` ...), bound to this generation.
    """

    runtime: Runtime  # set by runtime.bind() on first use of a runtime name
    #: True for a generation derived from a kernel (runtime.derived), not the registry's.
    derived: bool = False
    #: The kernel input a derived profile came from; None for the registry's.
    source: str | None = None

    def __init__(self, spec: registry.ProfileSpec, module: ModuleType | None = None) -> None:
        """Bind *spec* to its compiled module: ``netmem_ffi.<spec.module>``, or *module* when given."""
        self.spec = spec
        self.name = spec.name
        if module is None:
            module = importlib.import_module(f"netmem_ffi.{spec.module}")
        self.ffi: Any = module.ffi
        self.lib: Any = module.lib
        self.module_file = str(module.__file__)

    def __getattr__(self, name: str) -> Any:
        """The runtime API, bound on first use (tools that only read layouts never bind it)."""
        from netmem_ffi.runtime.core import RUNTIME_NAMES, bind

        if name not in RUNTIME_NAMES and name != "runtime":
            raise AttributeError(f"profile {self.name} has no attribute {name!r}")
        bind(self)
        return object.__getattribute__(self, name)

    def __repr__(self) -> str:
        return f"<netmem_ffi profile {self.name}: kernels {', '.join(self.spec.kernels)}>"

    @cached_property
    def layouts(self) -> LayoutSet:
        """The host layouts of this generation, as the C compiler laid them out."""
        from netmem_ffi.layout.host import layout_set

        return layout_set(self.ffi, self.spec)

    @property
    def kernels(self) -> tuple[str, ...]:
        return self.spec.kernels

    @property
    def summary(self) -> str:
        return self.spec.summary


_loaded: dict[str, Profile] = {}


def profile(name: str) -> Profile:
    """The profile called *name* (``"v6.12"`` ... ``"v7.2"``).

    Raises :class:`UnknownProfileError` (a ``KeyError``) listing the valid names.
    """
    if isinstance(name, Profile):
        return name
    spec = registry.spec(name)
    if spec.name not in _loaded:
        _loaded[spec.name] = Profile(spec)
    return _loaded[spec.name]


def profiles() -> tuple[Profile, ...]:
    """Every profile, oldest first."""
    return tuple(profile(p.name) for p in registry.PROFILES)


def loaded() -> tuple[Profile, ...]:
    """The profiles whose compiled module is loaded in this process."""
    return tuple(_loaded.values())
