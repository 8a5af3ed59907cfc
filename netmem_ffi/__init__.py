"""netmem_ffi: the Linux kernel's netmem ABI made real in user space.

* ``profiles()`` / ``profile(name)``: the ABI generations of include/net/netmem.h,
  each with its compiled cffi module (``.ffi``, ``.lib``), host layouts,
  constants and the whole runtime API.
* The top-level names are those of the default (newest) profile, ``v7.2``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import *  # noqa: F401,F403
from .errors import __all__ as _error_names
from .profiles import DEFAULT_PROFILE, Profile, profile, profiles
from .runtime import NET_IOV_DMABUF, NET_IOV_IOURING, RUNTIME_NAMES

_default = profile(DEFAULT_PROFILE)
globals().update({name: getattr(_default, name) for name in RUNTIME_NAMES})

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
