"""A devmem TCP receive loop over a real page_pool: binding, pool, RX ring, skb frags, recycle, teardown.

1. The NIC driver binds a dmabuf: a NetIovArea of NET_IOV_DMABUF niovs, each with
   its DMA address (base + idx << PAGE_SHIFT) and one refcount for the binding.
2. The RX queue's page_pool uses the binding as its memory provider:
   page_pool_alloc_netmems() hands out niovs with pp, PP_SIGNATURE and
   pp_ref_count 1; the driver splits each into fragments (page_pool_fragment_netmem).
3. The stack builds skbs: each frag takes a reference with get_netmem() (the
   binding's counter) and drops it when the skb is freed; then the frag goes
   back with page_pool_put_netmem(); the last fragment recycles the niov into the
   pool's cache (direct, in NAPI) or ring.
4. Teardown: page_pool_destroy() releases what the pool holds and finishes when
   the last inflight niov returns; unbind() drops the binding, which dies with
   its last reference.

Run: python examples/devmem_rx.py
"""

import netmem_ffi as nm

FRAGS_PER_NIOV = 4
PACKETS = 200

with nm.NetIovArea(16, nm.NET_IOV_DMABUF, base_dma_addr=0x1_0000_0000) as binding:
    pool = nm.PagePool(binding, pool_size=64)
    print("pool is unreadable (memory provider):", nm.page_pool_is_unreadable(pool))
    rx_ring: list[int] = []
    in_flight: list[int] = []  # skbs the application has not read yet
    delivered = peak = 0
    for packet in range(PACKETS):
        if not rx_ring:  # refill: one niov becomes FRAGS_PER_NIOV receive buffers
            niov = nm.page_pool_alloc_netmems(pool)
            nm.page_pool_fragment_netmem(niov, FRAGS_PER_NIOV)
            rx_ring.extend([niov] * FRAGS_PER_NIOV)
        frag = rx_ring.pop()
        nm.get_netmem(frag)  # the skb's frag reference: the binding's counter
        in_flight.append(frag)
        peak = max(peak, binding.binding_refcount)
        if len(in_flight) == 10:  # recvmsg() consumed ten skbs
            for done in in_flight:
                nm.put_netmem(done)
                nm.page_pool_put_netmem(pool, done, -1, packet % 20 < 10)  # direct only in NAPI
                delivered += 1
            in_flight.clear()
    print(f"delivered {delivered} packets; binding refcount peaked at {peak}, now {binding.binding_refcount}")
    print(f"niovs taken from the binding: {pool.pages_state_hold_cnt}; recycled into cache {len(pool.cache)}, "
          f"ring {len(pool.ring)}")
    for frag in rx_ring:  # the driver returns the buffers still posted on its RX ring
        nm.page_pool_put_netmem(pool, frag, -1, False)
    nm.page_pool_destroy(pool)
    print("pool destroyed:", pool.destroyed, "inflight:", pool.inflight)
    binding.unbind()
    print("binding unbound; refcount", binding.binding_refcount)
print("binding closed: no references outstanding")
