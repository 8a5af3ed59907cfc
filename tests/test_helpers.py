"""Semantics of every netmem.h / page_pool helper, on pages and niovs, per profile."""

from __future__ import annotations

import warnings

import pytest

import netmem_ffi
from netmem_ffi.abi.constants import LP64, NET_IOV_DMABUF, NET_IOV_IOURING
from netmem_ffi.runtime.profiles import API


def test_every_runtime_name_exists_on_every_profile_and_top_level(prof: netmem_ffi.Profile) -> None:
    assert set(API) <= set(netmem_ffi.__all__)
    for name in API:
        assert hasattr(prof, name), name
        assert hasattr(netmem_ffi, name), name
        assert name in dir(netmem_ffi)


def test_api_is_every_public_name_of_a_profile(v72: netmem_ffi.Profile) -> None:
    """API names the profile's whole runtime surface: no helper left out of the exports."""
    mine = {n for n in dir(v72) if not n.startswith("_")}
    assert mine - set(API) == {"spec", "name", "ffi", "lib", "module_file", "runtime", "layouts", "kernels", "summary",
                               "derived", "source", "model", "available"}


def test_netmem_ref_bits(prof, area, pages) -> None:
    n = area[2]
    p = pages.alloc()
    assert n.netmem == n.addr | 1
    assert prof.netmem_is_net_iov(n.netmem) and not prof.netmem_is_net_iov(p)
    assert prof.net_iov_to_netmem(n.addr) == n.netmem == prof.net_iov_to_netmem(n)
    assert prof.page_to_netmem(p) == p
    assert prof.model.netmem_to_page_unchecked(p) == p
    assert prof.netmem_to_net_iov(n.netmem) == n.addr
    assert prof.model.netmem_to_nmdesc(n.netmem) == n.addr and prof.model.netmem_to_nmdesc(p) == p
    assert prof.netmem_kind(n.netmem) == "net_iov" and prof.netmem_kind(p) == "page"
    with pytest.raises(netmem_ffi.NetmemValueError):
        prof.page_to_netmem(p | 1)
    with pytest.raises(netmem_ffi.NetmemValueError):
        prof.net_iov_to_netmem(n.netmem)


def test_warn_and_null(prof, area, pages) -> None:
    n, p = area[0].netmem, pages.alloc()
    with pytest.warns(netmem_ffi.NetmemWarning, match="WARN_ON_ONCE"):
        assert prof.netmem_to_page(n) is None
    with pytest.warns(netmem_ffi.NetmemWarning):
        assert prof.netmem_to_net_iov(p) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert prof.netmem_to_page(p) == p


def test_page_side_helpers(prof, pages) -> None:
    p = pages.alloc()
    assert prof.netmem_ref_count(p) == 1
    idx = (p - pages.pages) // pages.stride
    assert prof.netmem_pfn_trace(p) == 0x2000 + idx
    assert prof.netmem_is_pref_nid(p, 3) and not prof.netmem_is_pref_nid(p, 0)
    assert prof.netmem_address(p) == pages.frames + idx * 4096
    assert prof.model.netmem_address_unchecked(p) == prof.netmem_address(p)
    assert prof.model.virt_to_netmem(prof.netmem_address(p) + 123) == p
    assert prof.netmem_compound_head(p) == p
    assert not prof.model.netmem_is_pfmemalloc(p)
    q = pages.alloc(pfmemalloc=True)
    assert prof.model.netmem_is_pfmemalloc(q)
    assert bytes(pages.frame(p)[:16]) == bytes(16)


def test_niov_side_helpers(prof, area) -> None:
    n = area[5]
    assert prof.netmem_ref_count(n.netmem) == 1
    assert prof.netmem_pfn_trace(n.netmem) == 0
    assert prof.netmem_is_pref_nid(n.netmem, 7)
    assert prof.netmem_address(n.netmem) is None
    assert prof.netmem_compound_head(n.netmem) == n.netmem
    assert not prof.model.netmem_is_pfmemalloc(n.netmem)
    assert prof.net_iov_idx(n) == 5 == prof.net_iov_idx(n.netmem)
    assert prof.net_iov_owner(n) == area.owner
    if prof.spec.devmem_iov_by_pp:  # 6.15 asks niov->pp->mp_ops: NULL until a page_pool owns it
        with pytest.raises(netmem_ffi.NullPoolError):
            prof.net_is_devmem_iov(n)
    else:
        assert prof.net_is_devmem_iov(n)
    # devmem: dma_addr = owner->base_dma_addr + (idx << PAGE_SHIFT)
    assert prof.netmem_get_dma_addr(n.netmem) == 0x10_0000_0000 + (5 << 12)
    assert prof.page_pool_get_dma_addr_netmem(n.netmem) == 0x10_0000_0000 + (5 << 12)
    assert prof.netmem_get_pp_ref_count_ref(n.netmem) == n.addr + prof.ffi.offsetof("struct page", "pp_ref_count")
    with pytest.raises(netmem_ffi.NotPageError):
        prof.model.netmem_get_pp_unchecked(n.netmem)


def test_owner_is_the_area_in_c(prof, area) -> None:
    """niov->owner points at the area's owner, whose niovs are the area's array (container_of)."""
    n = area[3]
    owner = prof.ffi.cast("struct dmabuf_genpool_chunk_owner *", prof.net_iov_owner(n))
    niovs = owner.area.niovs if prof.spec.has_area else owner.niovs
    assert int(prof.ffi.cast("uintptr_t", niovs)) == area.base
    assert int(prof.ffi.cast("uintptr_t", n.cdata.owner)) == area.owner


def test_compound_pages(prof, pages) -> None:
    head = pages.alloc(order=2)
    tails = [head + i * pages.stride for i in range(1, 4)]
    for t in tails:
        assert prof.netmem_compound_head(t) == head
        assert prof.netmem_ref_count(t) == 0  # a tail's own _refcount; get/put use the head's
    prof.model.get_netmem(tails[1])
    assert prof.netmem_ref_count(head) == 2
    prof.model.put_netmem(tails[2])
    assert prof.netmem_ref_count(head) == 1
    prof.model.put_netmem(head)
    assert pages.allocated == 0
    with pytest.raises(netmem_ffi.UseAfterFreeError):
        prof.netmem_ref_count(tails[0])


def test_free_poisons(prof, pages) -> None:
    p = pages.alloc()
    frame_addr = prof.netmem_address(p)
    prof.model.put_netmem(p)
    lru_next = prof.ffi.cast("struct page *", p).lru.next
    assert int(prof.ffi.cast("uintptr_t", lru_next)) == LP64.list_poison1
    assert prof.ffi.buffer(prof.ffi.cast("char *", frame_addr), 8)[:] == b"\xaa" * 8


def test_pp_magic_and_pp_info(prof, pages, area) -> None:
    pool = 0xFFFF888012340000
    for ref in (pages.alloc(), area[1].netmem):
        assert not prof.netmem_is_pp(ref)
        prof.page_pool_set_pp_info(pool, ref)
        assert prof.netmem_is_pp(ref)
        assert prof.netmem_get_pp(ref) == pool
        assert prof.netmem_get_pp_magic(ref) == LP64.pp_signature == 0xDEAD000000000040
        assert prof.model.page_pool_unref_and_test(ref)  # fragment(1) by set_pp_info: the last ref
        prof.page_pool_clear_pp_info(ref)
        assert not prof.netmem_is_pp(ref) and prof.netmem_get_pp(ref) == 0


def test_dma_index(prof, pages, area) -> None:
    if not prof.spec.has_dma_index:  # the 6.12 release: no index bits, no index helpers
        p = pages.alloc()
        prof.netmem_or_pp_magic(p, LP64.pp_signature | 0x1234 << LP64.pp_dma_index_shift)
        assert not prof.available("netmem_set_dma_index")
        assert prof.netmem_get_pp_magic(p) == LP64.pp_signature | 0x1234 << LP64.pp_dma_index_shift
        assert not prof.netmem_is_pp(p)  # the high bits are part of the signature test there
        prof.netmem_clear_pp_magic(p)
        prof.model.put_netmem(p)
        return
    p = pages.alloc(pfmemalloc=True)
    prof.netmem_or_pp_magic(p, LP64.pp_signature)
    prof.netmem_set_dma_index(p, 0x1234)
    assert prof.netmem_get_dma_index(p) == 0x1234
    assert prof.netmem_is_pp(p)  # the index bits are masked out of the signature test
    assert prof.page_pool_page_is_pp(p)
    assert prof.model.netmem_is_pfmemalloc(p)  # bit 1 survives
    prof.netmem_set_dma_index(p, 7)  # replaces, not ORs
    assert prof.netmem_get_dma_index(p) == 7
    with pytest.warns(netmem_ffi.NetmemWarning, match="DMA index"):
        prof.netmem_clear_pp_magic(p)
    with pytest.warns(netmem_ffi.NetmemWarning):
        assert prof.netmem_get_dma_index(area[0].netmem) == 0
    with pytest.raises(netmem_ffi.NetmemValueError):
        prof.netmem_set_dma_index(p, 1 << 32)


def test_pp_magic_mask_values() -> None:
    assert LP64.pp_magic_mask == 0xFFFFFF800000007C
    assert LP64.pp_dma_index_mask == 0x0000007FFFFFFF80
    ilp32 = netmem_ffi.abi.constants.word_constants(32, 0xC0000000)
    assert (ilp32.pp_magic_mask, ilp32.pp_dma_index_bits) == (0xC000007C, 23)
    assert netmem_ffi.abi.constants.word_constants(32, 0x80000000).pp_magic_mask == 0x8000007C


def test_dma_addr_helpers(prof, pages) -> None:
    p = pages.alloc()
    assert prof.model.netmem_dma_addr_encode(0x1234_5000) == 0x1234_5000  # LP64: identity
    assert prof.model.netmem_dma_addr_fits(2**63)
    assert prof.page_pool_set_dma_addr_netmem(p, 0xABC000) is False
    assert prof.netmem_get_dma_addr(p) == 0xABC000
    prof.netmem_set_dma_addr(p, 0x5000)
    assert prof.page_pool_get_dma_addr_netmem(p) == 0x5000


def test_dma_unmap_helpers(prof, pages, area) -> None:
    p, n = pages.alloc(), area[0].netmem
    slots: dict[str, int] = {}
    prof.model.netmem_dma_unmap_addr_set(p, slots, "addr", 0x9000)
    prof.model.netmem_dma_unmap_addr_set(n, slots, "niov_addr", 0x9000)
    assert slots == {"addr": 0x9000, "niov_addr": 0}
    dev = prof.DmaDevice()
    prof.model.netmem_dma_unmap_page_attrs(dev, slots["niov_addr"], 4096, 2)
    prof.model.netmem_dma_unmap_page_attrs(dev, slots["addr"], 4096, 2, 0x10)
    assert dev.unmapped == [(0x9000, 4096, 2, 0x10)]


def test_net_iov_init_and_type(v72, uring_area) -> None:
    n = uring_area[2]
    assert not v72.net_is_devmem_iov(n) and n.type == NET_IOV_IOURING
    v72.net_iov_init(n, uring_area, NET_IOV_DMABUF)
    assert v72.net_is_devmem_iov(n) and n.cdata.type == NET_IOV_DMABUF
    v72.net_iov_init(n, uring_area.owner, NET_IOV_IOURING)
    assert n.cdata.type == NET_IOV_IOURING
    with pytest.raises(netmem_ffi.NetmemValueError, match="owner"):
        v72.net_iov_init(n, 0x1000, NET_IOV_IOURING)
    with pytest.raises(netmem_ffi.NetmemValueError, match="type 7"):
        v72.net_iov_init(n, uring_area, 7)


def test_generation_specific_owner_and_type() -> None:
    """6.12: chunk owner and no io_uring; 6.15: no type member (the pool's memory provider decides)."""
    p612 = netmem_ffi.profile("v6.12")
    with pytest.raises(netmem_ffi.WrongProviderError, match="6.15"):
        p612.NetIovArea(4, NET_IOV_IOURING)
    p615 = netmem_ffi.profile("v6.15")
    with p615.NetIovArea(4, NET_IOV_IOURING) as a:
        pool = p615.PagePool(a)
        niov = p615.page_pool_alloc_netmems(pool)
        assert not p615.net_is_devmem_iov(niov)
        p615.page_pool_put_full_netmem(pool, niov)
        p615.page_pool_destroy(pool)
        assert "type" not in {n for n, _ in p615.ffi.typeof("struct net_iov").fields}
    p616 = netmem_ffi.profile("v6.16")
    with p616.NetIovArea(4, NET_IOV_IOURING) as a:
        assert a[1].cdata.type == NET_IOV_IOURING  # 6.16: the word-0 enum
        assert p616.ffi.offsetof("struct net_iov", "type") == 0
