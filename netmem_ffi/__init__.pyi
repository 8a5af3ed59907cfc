"""Types of the public API: every name of ``netmem_ffi.__all__``, with no module ``__getattr__``.

The runtime names are bound at run time from the default profile (v7.2); here
each is declared as what it is, the attribute of a :class:`Profile`, so a
type checker sees its real signature and rejects a misspelt name.
"""

import os

from netmem_ffi import errors as errors
from netmem_ffi.abi.constants import NET_IOV as NET_IOV
from netmem_ffi.abi.providers import NET_IOV_DMABUF as NET_IOV_DMABUF
from netmem_ffi.abi.providers import NET_IOV_IOURING as NET_IOV_IOURING
from netmem_ffi.abi.providers import NetIovType as NetIovType
from netmem_ffi.abi.version import __version__ as __version__
from netmem_ffi.errors import *
from netmem_ffi.runtime.memory import DmaDevice as DmaDevice
from netmem_ffi.runtime.memory import NetIov as NetIov
from netmem_ffi.runtime.memory import NetIovArea as NetIovArea
from netmem_ffi.runtime.memory import PageMap as PageMap
from netmem_ffi.runtime.page_pool import PagePool as PagePool
from netmem_ffi.runtime.profiles import DEFAULT_PROFILE as DEFAULT_PROFILE
from netmem_ffi.runtime.profiles import Profile as Profile
from netmem_ffi.runtime.profiles import profile as profile
from netmem_ffi.runtime.profiles import profiles as profiles

def profile_for_kernel(source: str | os.PathLike[str] | None = None, *, derive: bool = False) -> Profile: ...

_default: Profile

get_netmem = _default.get_netmem
put_netmem = _default.put_netmem
get_netmem_bulk = _default.get_netmem_bulk
put_netmem_bulk = _default.put_netmem_bulk
io_zcrx_get_niov_uref = _default.io_zcrx_get_niov_uref
io_zcrx_put_niov_uref = _default.io_zcrx_put_niov_uref
page_pool_fragment_netmem = _default.page_pool_fragment_netmem
page_pool_ref_netmem = _default.page_pool_ref_netmem
page_pool_unref_netmem = _default.page_pool_unref_netmem
page_pool_unref_and_test = _default.page_pool_unref_and_test
page_pool_is_last_ref = _default.page_pool_is_last_ref
netmem_is_net_iov = _default.netmem_is_net_iov
net_iov_to_netmem = _default.net_iov_to_netmem
page_to_netmem = _default.page_to_netmem
netmem_to_page_unchecked = _default.netmem_to_page_unchecked
netmem_to_page = _default.netmem_to_page
netmem_to_net_iov = _default.netmem_to_net_iov
virt_to_netmem = _default.virt_to_netmem
netmem_ref_count = _default.netmem_ref_count
netmem_pfn_trace = _default.netmem_pfn_trace
netmem_to_nmdesc = _default.netmem_to_nmdesc
netmem_clear_lsb = _default.netmem_clear_lsb
pp_page_to_nmdesc = _default.pp_page_to_nmdesc
netmem_to_nmdesc_unchecked = _default.netmem_to_nmdesc_unchecked
netmem_get_pp = _default.netmem_get_pp
netmem_get_pp_unchecked = _default.netmem_get_pp_unchecked
netmem_get_pp_ref_count_ref = _default.netmem_get_pp_ref_count_ref
netmem_is_pref_nid = _default.netmem_is_pref_nid
netmem_compound_head = _default.netmem_compound_head
netmem_address = _default.netmem_address
netmem_address_unchecked = _default.netmem_address_unchecked
netmem_is_pfmemalloc = _default.netmem_is_pfmemalloc
netmem_get_dma_addr = _default.netmem_get_dma_addr
netmem_dma_addr_encode = _default.netmem_dma_addr_encode
netmem_dma_addr_decode = _default.netmem_dma_addr_decode
netmem_dma_addr_fits = _default.netmem_dma_addr_fits
net_is_devmem_iov = _default.net_is_devmem_iov
net_iov_owner = _default.net_iov_owner
net_iov_idx = _default.net_iov_idx
net_iov_init = _default.net_iov_init
netmem_dma_unmap_addr_set = _default.netmem_dma_unmap_addr_set
netmem_dma_unmap_page_attrs = _default.netmem_dma_unmap_page_attrs
netmem_set_pp = _default.netmem_set_pp
netmem_set_dma_addr = _default.netmem_set_dma_addr
netmem_get_pp_magic = _default.netmem_get_pp_magic
netmem_or_pp_magic = _default.netmem_or_pp_magic
netmem_clear_pp_magic = _default.netmem_clear_pp_magic
netmem_is_pp = _default.netmem_is_pp
page_pool_page_is_pp = _default.page_pool_page_is_pp
netmem_get_dma_index = _default.netmem_get_dma_index
netmem_set_dma_index = _default.netmem_set_dma_index
page_pool_set_pp_info = _default.page_pool_set_pp_info
page_pool_clear_pp_info = _default.page_pool_clear_pp_info
page_pool_get_dma_addr_netmem = _default.page_pool_get_dma_addr_netmem
page_pool_set_dma_addr_netmem = _default.page_pool_set_dma_addr_netmem
netmem_kind = _default.netmem_kind
page_pool_fragment_page = _default.page_pool_fragment_page
page_pool_unref_page = _default.page_pool_unref_page
page_pool_ref_page = _default.page_pool_ref_page
page_pool_get_dma_addr = _default.page_pool_get_dma_addr
net_mp_niov_set_page_pool = _default.net_mp_niov_set_page_pool
net_mp_niov_clear_page_pool = _default.net_mp_niov_clear_page_pool
net_mp_niov_set_dma_addr = _default.net_mp_niov_set_dma_addr
net_iov_virtual_addr = _default.net_iov_virtual_addr
net_devmem_iov_binding = _default.net_devmem_iov_binding
page_pool_alloc_netmems = _default.page_pool_alloc_netmems
page_pool_put_netmem = _default.page_pool_put_netmem
page_pool_put_full_netmem = _default.page_pool_put_full_netmem
page_pool_recycle_direct_netmem = _default.page_pool_recycle_direct_netmem
page_pool_destroy = _default.page_pool_destroy
page_pool_is_unreadable = _default.page_pool_is_unreadable
page_pool_nid_changed = _default.page_pool_nid_changed
net_devmem_iov_binding_id = _default.net_devmem_iov_binding_id
