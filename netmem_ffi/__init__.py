"""netmem_ffi: the Linux kernel's netmem ABI made real in user space.

* ``profiles()`` / ``profile(name)``: the ABI generations of include/net/netmem.h,
  each with its compiled cffi module (``.ffi``, ``.lib``), host layouts,
  constants and the whole runtime API.
* The top-level runtime names (``get_netmem``, ``NetIovArea``, ``PageMap`` ...)
  are those of the default (newest) profile, ``v7.2``.  They are bound on
  first use, so tools that only read layouts or BTF never load a compiled
  module.
"""

from __future__ import annotations

import os
from typing import Any

from netmem_ffi.abi.version import __version__

from netmem_ffi.abi.constants import NET_IOV_DMABUF, NET_IOV_IOURING
from netmem_ffi.errors import *  # noqa: F401,F403
from netmem_ffi.errors import __all__ as _error_names
from netmem_ffi.runtime.profiles import DEFAULT_PROFILE, Profile, profile, profiles
from netmem_ffi.runtime.core import RUNTIME_NAMES


def __getattr__(name: str) -> Any:
    """PEP 562: the default profile's runtime names, bound on first access."""
    if name in RUNTIME_NAMES:
        value = getattr(profile(DEFAULT_PROFILE), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'netmem_ffi' has no attribute {name!r}")


def profile_for_kernel(source: str | os.PathLike[str] | None = None, *, derive: bool = False) -> Profile:
    """The profile of the kernel at *source* (default: the running one; ``reference:NAME`` too).

    The registry's profile when the kernel's layouts match one (unless
    *derive*); otherwise one derived from the kernel's own types, compiled with
    the C runtime on first use and cached (``profile.derived`` is True,
    ``profile.source`` names the input).  Raises :class:`KernelInputError` for
    an unreadable kernel or one lacking a member the runtime needs,
    :class:`UnsupportedArchError` when the host cannot run its layout, and
    :class:`BuildError` when its static asserts fail.
    """
    # The facade is the top layer: it reads the kernel with the tooling and hands the
    # derived declarations to the runtime, which never imports the tooling itself.
    from netmem_ffi.abicheck.check import check_kernel
    from netmem_ffi.abicheck.derive import derive_generation, read_kernel
    from netmem_ffi.runtime.derived import load_derived

    kernel = read_kernel(source)
    result = check_kernel(kernel)
    if result.match and not derive and result.detection.profile:
        return profile(result.detection.profile)
    gen = derive_generation(kernel, result)
    return load_derived(gen.spec, gen.declarations(), gen.type_hash, source=gen.source, arch=gen.layouts.arch)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(RUNTIME_NAMES))


__all__ = [
    "__version__",
    "DEFAULT_PROFILE",
    "Profile",
    "profile",
    "profiles",
    "profile_for_kernel",
    "NET_IOV_DMABUF",
    "NET_IOV_IOURING",
    *_error_names,
    *RUNTIME_NAMES,
]
