"""netmem_ffi: the Linux kernel's netmem ABI made real in user space.

* ``profiles()`` / ``profile(name)``: the ABI generations of include/net/netmem.h,
  each with its compiled cffi module (``.ffi``, ``.lib``), host layouts,
  constants and the whole runtime API (:data:`netmem_ffi.runtime.profiles.API`).
* The top-level runtime names (``get_netmem``, ``NetIovArea``, ``PageMap`` ...)
  are those of the default (newest) profile, ``v7.2``.  They are bound on
  first use, so tools that only read layouts or BTF never load a compiled
  module.  ``__init__.pyi`` declares every name with its type for type checkers.
"""

from __future__ import annotations

import os

from netmem_ffi import errors
from netmem_ffi.abi.constants import NET_IOV
from netmem_ffi.abi.registry import DEFAULT_PROFILE
from netmem_ffi.abi.version import __version__
from netmem_ffi.errors import *  # noqa: F403 - every error class, by errors.__all__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from netmem_ffi.runtime.profiles import Profile

#: Runtime names that are not bound to a profile, and the runtime module each lives in.  Like the
#: profile-bound names, they are imported on first use: ``import netmem_ffi`` (and every tool, which
#: imports it as its package) loads no runtime module and no compiled one.
_RUNTIME_MODULES = {
    "Profile": "netmem_ffi.runtime.profiles",
    "profile": "netmem_ffi.runtime.profiles",
    "profiles": "netmem_ffi.runtime.profiles",
    "NetIov": "netmem_ffi.runtime.memory",
    "DmaDevice": "netmem_ffi.runtime.memory",
    "PagePool": "netmem_ffi.runtime.page_pool",
    # not runtime, but with the same reason to wait: the enum module is a tenth of a first call's cost
    "NetIovType": "netmem_ffi.abi.providers",
    "NET_IOV_DMABUF": "netmem_ffi.abi.providers",
    "NET_IOV_IOURING": "netmem_ffi.abi.providers",
}


def __getattr__(name: str) -> object:
    """PEP 562: runtime names on first access; helpers and memory owners bound from the default profile."""
    if name in _RUNTIME_MODULES:
        value = getattr(__import__(_RUNTIME_MODULES[name], fromlist=(name,)), name)
    elif name in __all__:
        from netmem_ffi.runtime.profiles import profile

        value = getattr(profile(DEFAULT_PROFILE), name)
    else:
        raise AttributeError(f"module 'netmem_ffi' has no attribute {name!r}")
    globals()[name] = value
    return value


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
    from netmem_ffi.runtime.profiles import profile

    kernel = read_kernel(source)
    result = check_kernel(kernel)
    if result.match and not derive and result.detection.profile:
        return profile(result.detection.profile)
    gen = derive_generation(kernel, result)
    return load_derived(gen.spec, gen.declarations(), gen.type_hash, source=gen.source, arch=gen.layouts.arch)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "__version__",
    "DEFAULT_PROFILE",
    "Profile",
    "profile",
    "profiles",
    "profile_for_kernel",
    "NET_IOV",
    "NET_IOV_DMABUF",
    "NET_IOV_IOURING",
    "NetIovType",
    # memory (netmem_ffi.runtime.memory; NetIovArea and PageMap of the default profile)
    "NetIovArea",
    "NetIov",
    "PageMap",
    "DmaDevice",
    # the refcount path (netmem_ffi.runtime.refcount)
    "get_netmem",
    "put_netmem",
    "get_netmem_bulk",
    "put_netmem_bulk",
    "io_zcrx_get_niov_uref",
    "io_zcrx_put_niov_uref",
    "page_pool_fragment_netmem",
    "page_pool_ref_netmem",
    "page_pool_unref_netmem",
    "page_pool_unref_and_test",
    "page_pool_is_last_ref",
    # include/net/netmem.h helpers (netmem_ffi.runtime.helpers)
    "netmem_is_net_iov",
    "net_iov_to_netmem",
    "page_to_netmem",
    "netmem_to_page_unchecked",
    "netmem_to_page",
    "netmem_to_net_iov",
    "virt_to_netmem",
    "netmem_ref_count",
    "netmem_pfn_trace",
    "netmem_to_nmdesc",
    "netmem_clear_lsb",
    "pp_page_to_nmdesc",
    "netmem_to_nmdesc_unchecked",
    "netmem_get_pp",
    "netmem_get_pp_unchecked",
    "netmem_get_pp_ref_count_ref",
    "netmem_is_pref_nid",
    "netmem_compound_head",
    "netmem_address",
    "netmem_address_unchecked",
    "netmem_is_pfmemalloc",
    "netmem_get_dma_addr",
    "netmem_dma_addr_encode",
    "netmem_dma_addr_decode",
    "netmem_dma_addr_fits",
    "net_is_devmem_iov",
    "net_iov_owner",
    "net_iov_idx",
    "net_iov_init",
    "netmem_dma_unmap_addr_set",
    "netmem_dma_unmap_page_attrs",
    # page_pool side (net/core/netmem_priv.h, include/linux/mm.h)
    "netmem_set_pp",
    "netmem_set_dma_addr",
    "netmem_get_pp_magic",
    "netmem_or_pp_magic",
    "netmem_clear_pp_magic",
    "netmem_is_pp",
    "page_pool_page_is_pp",
    "netmem_get_dma_index",
    "netmem_set_dma_index",
    "page_pool_set_pp_info",
    "page_pool_clear_pp_info",
    "page_pool_get_dma_addr_netmem",
    "page_pool_set_dma_addr_netmem",
    "netmem_kind",
    # page forms, memory providers, devmem
    "page_pool_fragment_page",
    "page_pool_unref_page",
    "page_pool_ref_page",
    "page_pool_get_dma_addr",
    "net_mp_niov_set_page_pool",
    "net_mp_niov_clear_page_pool",
    "net_mp_niov_set_dma_addr",
    "net_iov_virtual_addr",
    "net_devmem_iov_binding",
    "net_devmem_iov_binding_id",
    # a page_pool (netmem_ffi.runtime.page_pool)
    "PagePool",
    "page_pool_alloc_netmems",
    "page_pool_put_netmem",
    "page_pool_put_full_netmem",
    "page_pool_recycle_direct_netmem",
    "page_pool_destroy",
    "page_pool_is_unreadable",
    "page_pool_nid_changed",
]
__all__ += errors.__all__
