"""The page_pool lifecycle: alloc -> fragment -> put -> recycle -> destroy with inflight, counts exact."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

import netmem_ffi as nm

SOURCES = ["pages", "devmem", "io_uring"]


@pytest.fixture(params=SOURCES)
def source(request: pytest.FixtureRequest, v72: nm.Profile) -> Iterator[object]:
    kind = request.param
    src: object
    if kind == "pages":
        src = v72.PageMap(64, nid=0)
    else:
        src = v72.NetIovArea(64, nm.NET_IOV_DMABUF if kind == "devmem" else nm.NET_IOV_IOURING)
    yield src
    src.close()  # type: ignore[attr-defined]


def test_lifecycle(v72: nm.Profile, source: object) -> None:
    pool = v72.PagePool(source, pool_size=16)  # type: ignore[arg-type]
    assert v72.page_pool_is_unreadable(pool) is not isinstance(source, v72.PageMap)
    refs = [v72.page_pool_alloc_netmems(pool) for _ in range(8)]
    assert len(set(refs)) == 8 and 0 not in refs
    assert pool.pages_state_hold_cnt == 8 and pool.inflight == 8
    for r in refs:
        assert v72.netmem_get_pp(r) == pool.addr and v72.netmem_is_pp(r)
        assert v72.netmem_to_nmdesc(r) == r & ~1
    # fragments: three users of refs[0]; only the last put returns it
    v72.page_pool_fragment_netmem(refs[0], 3)
    v72.page_pool_put_netmem(pool, refs[0], -1, False)
    v72.page_pool_put_netmem(pool, refs[0], -1, False)
    assert len(pool.ring) == 0 and len(pool.cache) == 0
    v72.page_pool_put_full_netmem(pool, refs[0], False)
    assert list(pool.ring) == [refs[0]]
    v72.page_pool_recycle_direct_netmem(pool, refs[1])
    assert pool.cache == [refs[1]]
    # recycled netmems come back first: the cache, then a refill from the ring
    assert v72.page_pool_alloc_netmems(pool) == refs[1]
    assert v72.page_pool_alloc_netmems(pool) == refs[0]
    assert pool.pages_state_hold_cnt == 8  # nothing new from the source
    for r in refs[2:]:
        v72.page_pool_put_full_netmem(pool, r)
    assert pool.inflight == 8 and len(pool.ring) == 6
    v72.page_pool_destroy(pool)
    assert pool.pages_state_release_cnt == 6 and pool.inflight == 2 and not pool.destroyed
    v72.page_pool_put_full_netmem(pool, refs[1])  # released, not recycled: the pool is going away
    assert pool.inflight == 1 and not pool.destroyed
    v72.page_pool_put_full_netmem(pool, refs[0])
    assert pool.inflight == 0 and pool.destroyed  # finished with the last inflight netmem
    for r in refs:
        if isinstance(source, v72.PageMap):
            with pytest.raises(nm.UseAfterFreeError):  # returned to the page allocator: freed
                v72.netmem_get_pp(r)
        else:
            assert v72.netmem_get_pp(r) == 0 and not v72.netmem_is_pp(r)
    with pytest.raises(nm.ClosedError):
        v72.page_pool_alloc_netmems(pool)


def test_exhausted_source_gives_zero_and_ring_overflow_releases(v72: nm.Profile) -> None:
    with v72.NetIovArea(4) as area:
        pool = v72.PagePool(area, pool_size=2)
        refs = [v72.page_pool_alloc_netmems(pool) for _ in range(4)]
        assert v72.page_pool_alloc_netmems(pool) == 0  # the provider has no free niov
        for r in refs:
            v72.page_pool_put_full_netmem(pool, r)
        assert len(pool.ring) == 2 and pool.pages_state_release_cnt == 2 and pool.inflight == 2
        v72.page_pool_destroy(pool)
        assert pool.destroyed and pool.inflight == 0


def test_pages_not_recycled_when_shared_pfmemalloc_or_on_another_node(v72: nm.Profile) -> None:
    with v72.PageMap(8, nid=1) as pages:
        pool = v72.PagePool(pages, nid=1)
        a, b = v72.page_pool_alloc_netmems(pool), v72.page_pool_alloc_netmems(pool)
        v72.get_netmem(a)  # someone else holds the page too: page_ref_count != 1
        v72.page_pool_put_full_netmem(pool, a)
        assert pool.pages_state_release_cnt == 1 and v72.netmem_ref_count(a) == 1 and not v72.netmem_is_pp(a)
        v72.put_netmem(a)
        v72.page_pool_nid_changed(pool, 2)
        v72.page_pool_put_full_netmem(pool, b)  # the page sits on node 1, the pool now prefers 2
        assert pool.pages_state_release_cnt == 2 and pool.inflight == 0
        v72.page_pool_destroy(pool)
        assert pool.destroyed


def test_put_of_a_foreign_netmem_is_refused(v72: nm.Profile) -> None:
    with v72.PageMap(4) as pages:
        pool = v72.PagePool(pages)
        stray = pages.alloc()
        with pytest.raises(nm.NetmemValueError, match="does not belong to page_pool"):
            v72.page_pool_put_netmem(pool, stray)
        with pytest.raises(nm.NetmemTypeError):
            v72.page_pool_alloc_netmems(object())  # type: ignore[arg-type]
        v72.put_netmem(stray)
        v72.page_pool_destroy(pool)


def _threads(n: int, work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_many_threads_counts_exact(v72: nm.Profile, source: object) -> None:
    """Four threads alloc, fragment, put and recycle; then destroy: every count adds up."""
    pool = v72.PagePool(source, pool_size=8)  # type: ignore[arg-type]
    rounds = 300
    errors_seen: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(rounds):
                ref = v72.page_pool_alloc_netmems(pool)
                assert ref
                v72.page_pool_fragment_netmem(ref, 2)
                v72.page_pool_put_netmem(pool, ref, -1, False)
                if i % 2:
                    v72.page_pool_recycle_direct_netmem(pool, ref)
                else:
                    v72.page_pool_put_full_netmem(pool, ref)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors_seen.append(exc)

    _threads(4, work)
    assert not errors_seen
    held = len(pool.cache) + len(pool.ring)
    assert pool.inflight == held and pool.pages_state_hold_cnt <= 64
    v72.page_pool_destroy(pool)
    assert pool.destroyed and pool.pages_state_release_cnt == pool.pages_state_hold_cnt
