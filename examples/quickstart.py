"""Quickstart: netmem refs, helpers and refcounts over memory netmem_ffi owns.

Run: python examples/quickstart.py
"""

import netmem_ffi as nm

print("profiles:", ", ".join(p.name for p in nm.profiles()), "- default", nm.DEFAULT_PROFILE)
niov_layout = nm.profile("v7.2").layouts.struct("net_iov")
print("struct net_iov (v7.2):", ", ".join(f"{f.name}@{f.offset}" for f in niov_layout.top_level()))

with nm.NetIovArea(4, nm.NET_IOV_DMABUF, base_dma_addr=0x8000_0000) as area, nm.PageMap(16, nid=1) as pages:
    niov = area[2]
    page = pages.alloc()
    print(f"niov ref {niov.netmem:#x}: is_net_iov={nm.netmem_is_net_iov(niov.netmem)} "
          f"idx={nm.net_iov_idx(niov)} dma={nm.netmem_get_dma_addr(niov.netmem):#x}")
    print(f"page ref {page:#x}: pfn={nm.netmem_pfn_trace(page):#x} nid1={nm.netmem_is_pref_nid(page, 1)} "
          f"refcount={nm.netmem_ref_count(page)}")

    nm.get_netmem(niov.netmem)          # the devmem binding's refcount
    nm.get_netmem(page)                 # the page's _refcount
    print("binding refcount", area.binding_refcount, "page refcount", nm.netmem_ref_count(page))
    nm.put_netmem(niov.netmem)
    nm.put_netmem(page)
    nm.put_netmem(page)                 # the last reference: the page is freed and poisoned
    print("pages allocated after the last put:", pages.allocated)

    try:
        nm.get_netmem(page)
    except nm.UseAfterFreeError as exc:
        print("use after free is caught:", exc)
