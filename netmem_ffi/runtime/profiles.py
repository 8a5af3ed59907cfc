"""ABI profiles: each generation's compiled module, host layouts, and its whole runtime API.

A :class:`Profile` *is* the runtime API of its generation: every helper is a
typed method (inherited from :class:`~netmem_ffi.runtime.helpers.Helpers`),
``get_netmem``/``put_netmem`` are the compiled entry points, and
``NetIovArea``/``PageMap`` are the memory classes bound to its layouts.
:data:`API` names them all; ``netmem_ffi`` exports them for the default profile.
"""

from __future__ import annotations

from netmem_ffi import errors
from netmem_ffi.abi import registry
from netmem_ffi.runtime import core
from netmem_ffi.runtime.helpers import Helpers
from netmem_ffi.runtime.memory import DmaDevice, NetIov, NetIovArea, PageMap, bind_memory
from netmem_ffi.runtime.page_pool import PagePool, PagePoolAPI
from netmem_ffi.runtime.refcount import RefcountPath

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from netmem_ffi.layout.types import LayoutSet

__all__ = ["API", "DEFAULT_PROFILE", "Profile", "profile", "profiles", "loaded"]

DEFAULT_PROFILE = registry.DEFAULT_PROFILE


class Profile(Helpers, PagePoolAPI):
    """One ABI generation of include/net/netmem.h, compiled for this host, with its runtime.

    Attributes: ``name``, ``spec`` (the registry entry), ``ffi``/``lib`` (the
    compiled cffi module), ``layouts`` (host :class:`LayoutSet`), ``kernels``,
    ``summary``, the memory classes ``NetIovArea``/``PageMap`` bound to this
    generation, and every helper of :data:`API` as a method.
    """

    NetIov = NetIov
    DmaDevice = DmaDevice
    NetIovArea: type[NetIovArea]
    PageMap: type[PageMap]
    #: True for a generation derived from a kernel (runtime.derived), not the registry's.
    derived: bool = False
    #: The kernel input a derived profile came from; None for the registry's.
    source: str | None = None

    def __init__(self, spec: registry.ProfileSpec, rt: core.Runtime | None = None) -> None:
        """*spec* over its runtime: the registry's compiled module, or *rt* (a derived generation's)."""
        rt = rt or core.runtime(spec.name)
        super().__init__(rt)
        self.spec = spec
        self.name = spec.name
        self.ffi: Any = rt.ffi
        self.lib: Any = rt.lib
        self.module_file = rt.module_file
        self.NetIovArea, self.PageMap = bind_memory(rt)
        #: The whole model API over this generation's memory, ignoring its kernel's
        #: helper surface: for tools that run newer helpers over older layouts, and tests.
        self.model = Helpers(rt)
        for name in API:
            if not registry.has_helper(spec, name):
                setattr(self, name, _unavailable(spec, name, getattr(self, name)))

    def available(self, name: str) -> bool:
        """Whether this generation's kernel has helper ``name`` (its kernel name or attribute name).

        Calling a helper it lacks raises :class:`UnavailableError` naming the
        first generation that has it; this answers beforehand.  An unknown
        name is a :class:`NetmemValueError`.
        """
        if registry.helper_name(name) is None and name not in API:
            raise errors.NetmemValueError(f"{name!r} is not a helper of the netmem runtime API", name)
        return registry.has_helper(self.spec, name)

    if not TYPE_CHECKING:  # type checkers see only the real attributes; misspelt names stay errors
        def __getattr__(self, name: str) -> Any:
            """A helper by its kernel name where that is not a Python attribute name (``__netmem_to_page``)."""
            entry = registry.helper_name(name)
            if entry is not None and entry.name == name and entry.attr != name:
                return getattr(self, entry.attr)
            raise AttributeError(f"profile {self.spec.name} has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<netmem_ffi profile {self.name}: kernels {', '.join(self.spec.kernels)}>"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (and copied) by name: a profile is one per process."""
        return (profile, (self.name,))

    @property
    def layouts(self) -> LayoutSet:
        """The host layouts of this generation, as the C compiler laid them out (computed once)."""
        known: LayoutSet | None = self.__dict__.get("_layouts")
        if known is None:  # not functools.cached_property: functools costs every first call ~1 ms
            from netmem_ffi.layout.host import layout_set  # not at the top: the first runtime call needs no layout

            known = self.__dict__["_layouts"] = layout_set(self.ffi, self.spec)
        return known

    @property
    def kernels(self) -> tuple[str, ...]:
        return self.spec.kernels

    @property
    def summary(self) -> str:
        return self.spec.summary


def _unavailable(spec: registry.ProfileSpec, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """A stand-in for helper ``name`` (``real``'s signature) that ``spec`` lacks: calling it raises UnavailableError."""
    message = registry.unavailable_message(spec, name)
    first = registry.first_with(name)

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise errors.UnavailableError(message, name, first)

    unavailable.__name__ = unavailable.__qualname__ = name
    unavailable.__doc__ = message
    unavailable.__wrapped__ = real  # type: ignore[attr-defined]  # inspect.signature() reads real's, when asked
    return unavailable


def _public(cls: type) -> list[str]:
    return [n for n in vars(cls) if not n.startswith("_")]


#: Every runtime name a profile carries and ``netmem_ffi`` exports for the default profile.
API: tuple[str, ...] = (
    "NetIovArea", "NetIov", "PageMap", "DmaDevice",
    "get_netmem", "put_netmem", *_public(RefcountPath), *_public(Helpers), *_public(PagePoolAPI),
)

_loaded: dict[str, Profile] = {}


def profile(name: str | Profile) -> Profile:
    """The profile called *name* (``"v6.12"`` ... ``"v7.2"``, or a kernel release such as ``"6.18"``).

    Loads its compiled module on first use.  Raises :class:`UnknownProfileError`
    (a ``KeyError``) listing the valid names.
    """
    if isinstance(name, Profile):
        return name
    spec = registry.spec(name)
    return core.once(_loaded, spec.name, lambda: Profile(spec))


def profiles() -> tuple[Profile, ...]:
    """Every profile, oldest first."""
    return tuple(profile(p.name) for p in registry.PROFILES)


def loaded() -> tuple[Profile, ...]:
    """The profiles whose compiled module is loaded in this process (a snapshot)."""
    return tuple(_loaded.values())
