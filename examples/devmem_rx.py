"""A devmem TCP receive path, modelled: a dmabuf binding, a page_pool-style consumer, skb frags.

1. The NIC driver binds a dmabuf: a NetIovArea of NET_IOV_DMABUF niovs, each with
   its DMA address (base + idx << PAGE_SHIFT) and one refcount for the binding.
2. A page_pool hands niovs to the RX ring: page_pool_set_pp_info() stamps pp and
   the PP_SIGNATURE and sets pp_ref_count to 1; the driver fragments a niov into
   several receive buffers (page_pool_fragment_netmem).
3. The stack builds skbs: each frag takes a reference with get_netmem() (the
   binding's counter) and drops it with put_netmem() when the skb is freed.
4. Each fragment is returned to the pool with page_pool_unref_netmem(); the last
   one sees 0 and recycles the niov; the counter reads 1 again, never 0.

Run: python examples/devmem_rx.py
"""

import netmem_ffi as nm

POOL = 0xFFFF8881_2345_6000  # the struct page_pool * of our pretend pool
FRAGS_PER_NIOV = 4

with nm.NetIovArea(8, nm.NET_IOV_DMABUF, base_dma_addr=0x1_0000_0000) as binding:
    ring = []
    for niov in binding:
        nm.page_pool_set_pp_info(POOL, niov.netmem)
        nm.page_pool_fragment_netmem(niov.netmem, FRAGS_PER_NIOV)
        ring.extend([niov.netmem] * FRAGS_PER_NIOV)
    print(f"RX ring: {len(ring)} buffers on {len(binding)} niovs, all pp={POOL:#x}:",
          all(nm.netmem_get_pp(r) == POOL and nm.netmem_is_pp(r) for r in ring))
    print("first buffer DMA address:", hex(nm.page_pool_get_dma_addr_netmem(ring[0])))

    # The stack: skbs hold frags; one refcount for the whole binding.
    skb_frags = ring[:10]
    nm.get_netmem_bulk(skb_frags)
    print("binding refcount with 10 frags in flight:", binding.binding_refcount)
    nm.put_netmem_bulk(skb_frags)
    print("after the skbs are freed:", binding.binding_refcount)

    recycled = 0
    for ref in ring:
        if nm.page_pool_unref_and_test(ref):  # the last fragment of that niov
            recycled += 1
    print(f"recycled {recycled} niovs; pp_ref_count now", {niov.pp_ref_count for niov in binding})
    for niov in binding:
        nm.page_pool_clear_pp_info(niov.netmem)
print("binding closed: no references outstanding")
