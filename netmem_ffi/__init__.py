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


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(RUNTIME_NAMES))


__all__ = [
    "__version__",
    "DEFAULT_PROFILE",
    "Profile",
    "profile",
    "profiles",
    "NET_IOV_DMABUF",
    "NET_IOV_IOURING",
    *_error_names,
    *RUNTIME_NAMES,
]
