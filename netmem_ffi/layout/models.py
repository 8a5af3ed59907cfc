"""The model's layouts: one dispatcher for every tool that compares against the model.

The portable engine (:mod:`netmem_ffi.layout.engine`) lays a profile's declarations
out for any supported architecture, the host included: on the host it equals the
compiled cffi module's offsets (``tests/test_engine.py`` checks that), so tools never
load a runtime extension to learn the model.  The C compiler's own host layouts stay
available as ``netmem_ffi.profile(name).layouts`` (:mod:`netmem_ffi.layout.host`).
"""

from __future__ import annotations

from netmem_ffi.abi import registry
from netmem_ffi.abi.arches import ARCHES, host_arch, normalize_arch
from netmem_ffi.layout.types import LayoutSet

__all__ = ["model_layouts", "ARCHES"]


def model_layouts(profile: str, arch: str | None = None) -> LayoutSet:
    """The model's layouts of *profile* (a name or kernel version) on *arch* (default: the host).

    Raises :class:`~netmem_ffi.errors.UnknownProfileError` /
    :class:`~netmem_ffi.errors.UnsupportedArchError`.
    """
    from netmem_ffi.layout.engine import layout_set

    name = registry.profile_name(profile)
    return layout_set(name, normalize_arch(host_arch() if arch is None else arch))
