"""A page_pool over owned memory: allocation, recycling cache and ring, fragments, destroy with inflight.

``PagePool(source, pool_size=…, nid=…)`` runs net/core/page_pool.c's lifecycle over a
:class:`~netmem_ffi.PageMap` (order-0 pages) or a :class:`~netmem_ffi.NetIovArea` (a
memory provider: devmem or io_uring).  Every netmem it hands out carries the pool in
``pp``, ``PP_SIGNATURE`` in ``pp_magic`` and ``pp_ref_count`` 1 (``page_pool_set_pp_info``);
the kernel-named functions of :class:`PagePoolAPI` (methods of every profile) drive it.
One lock guards the cache and ring (the kernel's NAPI-local cache and ``ptr_ring``).
"""

from __future__ import annotations

import _thread  # threading's own locks, without importing threading (start-up time, issue 18)

from netmem_ffi import errors
from netmem_ffi.runtime import validate
from netmem_ffi.runtime.helpers import Helpers
from netmem_ffi.runtime.memory import NetIovArea, PageMap
from netmem_ffi.runtime.pools import POOLS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections import deque
    from typing import ClassVar
else:
    from _collections import deque  # collections' C half: the module itself costs every first call ~1.5 ms

__all__ = ["NUMA_NO_NODE", "PP_ALLOC_CACHE_REFILL", "PP_ALLOC_CACHE_SIZE", "PagePool", "PagePoolAPI"]

#: include/net/page_pool/types.h with 4 KiB pages.
PP_ALLOC_CACHE_REFILL = 64
PP_ALLOC_CACHE_SIZE = 2 * PP_ALLOC_CACHE_REFILL
NUMA_NO_NODE = -1


class PagePool:
    """``struct page_pool`` over a PageMap or a NetIovArea (memory provider ``devmem`` / ``io_uring``).

    ``addr`` is the pointer value stored in each netmem's ``pp``.  Counters:
    ``pages_state_hold_cnt`` (netmems handed to the pool), ``pages_state_release_cnt``
    (returned to the source), ``inflight`` (their difference).  ``destroyed`` is true
    once ``page_pool_destroy`` ran and the last inflight netmem came back.
    """

    def __init__(self, source: PageMap | NetIovArea, pool_size: int = 1024, nid: int = NUMA_NO_NODE) -> None:
        if not isinstance(source, (PageMap, NetIovArea)):
            raise errors.NetmemTypeError(f"a PagePool needs a PageMap or a NetIovArea, got {validate.shown(source)}",
                                         source)
        self.source = source
        self.pool_size = validate.count(pool_size, "pool_size", 1, 1 << 15)
        self.nid = validate.count(nid, "nid", NUMA_NO_NODE, (1 << 10) - 1)
        self.helpers = Helpers(source.runtime)
        self.mp_ops: str | None = None
        if isinstance(source, NetIovArea):
            self.mp_ops = "devmem" if source.type == 0 else "io_uring"
            self._free = deque(source)
        self._anchor = source.runtime.ffi.new("char[64]")  # the address a netmem's pp points at
        self.addr = int(source.runtime.ffi.cast("uintptr_t", self._anchor))
        POOLS[self.addr] = self
        self.cache: list[int] = []
        self.ring: deque[int] = deque()
        self.pages_state_hold_cnt = 0
        self.pages_state_release_cnt = 0
        self.destroying = False
        self.destroyed = False
        self._lock = _thread.allocate_lock()

    @property
    def inflight(self) -> int:
        """``hold - release``: netmems the pool handed out or keeps, not yet returned to the source."""
        return self.pages_state_hold_cnt - self.pages_state_release_cnt

    def __repr__(self) -> str:
        kind = self.mp_ops or "pages"
        return f"<PagePool {kind} at {self.addr:#x} inflight={self.inflight} cache={len(self.cache)} ring={len(self.ring)}>"

    # ---- net/core/page_pool.c, under self._lock ----

    def _alloc_slow(self) -> int:
        h = self.helpers
        if self.mp_ops is None:
            assert isinstance(self.source, PageMap)
            try:
                ref = self.source.alloc()
            except errors.OutOfPagesError:
                return 0
            h.page_pool_set_pp_info(self, ref)
            self.pages_state_hold_cnt += 1
            return ref
        if not self._free:
            return 0
        niov = self._free.popleft()
        h.net_mp_niov_set_page_pool(self, niov)  # bumps pages_state_hold_cnt
        return int(niov.netmem)

    def _release(self, netmem: int) -> None:
        """page_pool_return_page(): back to the source; the pool finishes when destroying and idle."""
        h = self.helpers
        h.page_pool_clear_pp_info(netmem)
        self.pages_state_release_cnt += 1
        if self.mp_ops is None:
            h.put_netmem(netmem)  # the pool's page reference: the page is freed
        else:
            assert isinstance(self.source, NetIovArea)
            self._free.append(self.source[((netmem & ~1) - self.source.base) // self.source.stride])
        if self.destroying and self.inflight == 0:
            self.destroyed = True

    def _recyclable(self, netmem: int) -> bool:
        """__page_pool_page_can_be_recycled(): sole owner, not pfmemalloc, on the pool's node."""
        h = self.helpers
        if self.destroying:
            return False
        return (h.netmem_ref_count(netmem) == 1 and not h.netmem_is_pfmemalloc(netmem)
                and (self.nid == NUMA_NO_NODE or h.netmem_is_pref_nid(netmem, self.nid)))

    def alloc_netmem(self) -> int:
        """page_pool_alloc_netmems(): from the cache, refilled from the ring, else the source; 0 when empty."""
        with self._lock:
            if self.destroying:
                raise errors.ClosedError(f"page_pool at {self.addr:#x} is being destroyed", self.addr)
            if not self.cache:
                while self.ring and len(self.cache) < PP_ALLOC_CACHE_REFILL:
                    self.cache.append(self.ring.popleft())
            if self.cache:
                return self.cache.pop()
            return self._alloc_slow()

    def put_unrefed(self, netmem: int, allow_direct: bool) -> None:
        """page_pool_put_unrefed_netmem(): recycle into the cache (direct) or ring, else release."""
        with self._lock:
            if not self._recyclable(netmem):
                self._release(netmem)
            elif allow_direct and len(self.cache) < PP_ALLOC_CACHE_SIZE:
                self.cache.append(netmem)
            elif len(self.ring) < self.pool_size:
                self.ring.append(netmem)
            else:
                self._release(netmem)

    def destroy(self) -> None:
        """page_pool_destroy(): release what the pool holds; it finishes when the last inflight netmem returns."""
        with self._lock:
            if self.destroying:
                raise errors.ClosedError(f"page_pool at {self.addr:#x} is already destroyed", self.addr)
            self.destroying = True
            while self.cache:
                self._release(self.cache.pop())
            while self.ring:
                self._release(self.ring.popleft())
            if self.inflight == 0:
                self.destroyed = True

    def update_nid(self, new_nid: int) -> None:
        """page_pool_update_nid(): the new node; the alloc cache (pages of the old node) is released."""
        with self._lock:
            self.nid = validate.count(new_nid, "nid", NUMA_NO_NODE, (1 << 10) - 1)
            while self.cache:
                self._release(self.cache.pop())


#: The pool type under a second name: inside PagePoolAPI, ``PagePool`` is the class attribute.
_PagePool = PagePool


def _pool(pool: object) -> PagePool:
    if not isinstance(pool, PagePool):
        raise errors.NetmemTypeError(f"pool must be a PagePool, got {validate.shown(pool)}", pool)
    return pool


class PagePoolAPI:
    """The page_pool functions by their kernel names (include/net/page_pool/*.h); a base of every profile."""

    PagePool: ClassVar[type[_PagePool]] = _PagePool

    def page_pool_alloc_netmems(self, pool: _PagePool) -> int:
        """A netmem with ``pp_ref_count`` 1 owned by the caller; 0 when the source is exhausted."""
        return _pool(pool).alloc_netmem()

    def page_pool_put_netmem(self, pool: _PagePool, netmem: int, dma_sync_size: int = -1,
                             allow_direct: bool = False) -> None:
        """Drop one pp reference (``page_pool_unref_and_test``); the last one recycles or releases the netmem."""
        p = _pool(pool)
        validate.count(dma_sync_size, "dma_sync_size", -1, (1 << 31) - 1)
        h = p.helpers
        if h.netmem_get_pp(netmem) != p.addr:
            raise errors.NetmemValueError(f"netmem {netmem:#x} does not belong to page_pool at {p.addr:#x}", netmem)
        if h.page_pool_unref_netmem(netmem, 1) == 0:
            p.put_unrefed(netmem, allow_direct)

    def page_pool_put_full_netmem(self, pool: _PagePool, netmem: int, allow_direct: bool = False) -> None:
        """``page_pool_put_netmem(pool, netmem, -1, allow_direct)``."""
        self.page_pool_put_netmem(pool, netmem, -1, allow_direct)

    def page_pool_recycle_direct_netmem(self, pool: _PagePool, netmem: int) -> None:
        """``page_pool_put_full_netmem(pool, netmem, true)``: into the alloc cache when it has room."""
        self.page_pool_put_netmem(pool, netmem, -1, True)

    def page_pool_destroy(self, pool: _PagePool) -> None:
        """Release the cache and ring; ``pool.destroyed`` once the last inflight netmem comes back."""
        _pool(pool).destroy()

    def page_pool_is_unreadable(self, pool: _PagePool) -> bool:
        """``!!pool->mp_ops``: a memory-provider pool (its netmems have no kernel mapping)."""
        return _pool(pool).mp_ops is not None

    def page_pool_nid_changed(self, pool: _PagePool, new_nid: int) -> None:
        """``if (pool->p.nid != new_nid) page_pool_update_nid(pool, new_nid)``."""
        p = _pool(pool)
        if p.nid != new_nid:
            p.update_nid(new_nid)
