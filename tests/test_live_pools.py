"""runtime.pools.POOLS: page_pools by address, held weakly (without the weakref module, issue 18)."""

from __future__ import annotations

import gc

from netmem_ffi.runtime.pools import _LivePools


class _Pool:
    pass


def test_a_pool_that_becomes_garbage_drops_out() -> None:
    pools, pool = _LivePools(), _Pool()
    pools[0x1000] = pool
    assert pools.get(0x1000) is pool and pools.get(0x2000) is None
    del pool
    gc.collect()
    assert pools.get(0x1000) is None and pools._refs == {}


def test_a_dead_pool_does_not_remove_the_pool_now_at_its_address() -> None:
    pools, old, new = _LivePools(), _Pool(), _Pool()
    pools[0x1000] = old
    pools[0x1000] = new  # the address reused before the old one is collected
    del old
    gc.collect()
    assert pools.get(0x1000) is new
