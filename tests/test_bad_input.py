"""Bad input to the runtime: each case raises its specific error, names the value, and changes nothing."""

from __future__ import annotations

import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import netmem_ffi as nm
from netmem_ffi import NET_IOV_IOURING


@dataclass
class World:
    prof: Any
    area: Any
    uring: Any
    pages: Any
    page: int
    head: int
    freed: int
    closed_niov: int
    closed_page: int
    other_profile_niov: int
    lonely: Any


@pytest.fixture
def world(v72):
    area = v72.NetIovArea(8)
    uring = v72.NetIovArea(4, NET_IOV_IOURING)
    pages = v72.PageMap(32)
    page = pages.alloc()
    head = pages.alloc(order=2)
    freed = pages.alloc()
    v72.put_netmem(freed)
    v72.page_pool_fragment_netmem(page, 3)
    v72.get_netmem(area[1].netmem)
    v72.io_zcrx_get_niov_uref(uring[2])
    other = nm.profile("v6.12").NetIovArea(2)
    lonely = v72.NetIovArea(2)
    closed = v72.NetIovArea(2)
    closed_niov = closed[1].netmem
    closed.close()
    closed_map = v72.PageMap(2)
    closed_page = closed_map.page(0)
    closed_map.close()
    yield World(v72, area, uring, pages, page, head, freed, closed_niov, closed_page, other[0].netmem, lonely)
    other.close()
    lonely.close()
    v72.put_netmem(area[1].netmem)
    v72.io_zcrx_put_niov_uref(uring[2])
    for a in (area, uring):
        a.close()


def state(w: World) -> tuple:
    """Every counter the cases could touch."""
    p = w.prof
    return (
        w.area.binding_refcount,
        w.lonely.binding_refcount,
        tuple(w.uring.user_refs(i) for i in range(4)),
        tuple(w.area[i].pp_ref_count for i in range(8)),
        p.netmem_ref_count(w.page), p.netmem_ref_count(w.head),
        p.ffi.cast("struct page *", w.page).pp_ref_count.counter,
        w.pages.allocated,
        tuple(w.area[i].pp_magic for i in range(8)),
        p.netmem_get_pp(w.page), p.netmem_get_dma_addr(w.page),
    )


E = nm
CASES: list[tuple[str, Callable[[World], Any], type[Exception], str]] = [
    ("zero", lambda w: w.prof.get_netmem(0), E.NotOwnedError, "0x0"),
    ("one (NULL|NET_IOV)", lambda w: w.prof.put_netmem(1), E.NotOwnedError, "0x1"),
    ("foreign even int", lambda w: w.prof.get_netmem(0x7F0012345678), E.NotOwnedError, "0x7f0012345678"),
    ("foreign odd int", lambda w: w.prof.put_netmem(0x7F0012345679), E.NotOwnedError, "0x7f0012345679"),
    ("kernel-looking pointer", lambda w: w.prof.get_netmem(0xFFFF888000000000), E.NotOwnedError, "0xffff888000000000"),
    ("negative", lambda w: w.prof.get_netmem(-8), E.NetmemValueError, "-0x8"),
    ("above 2**64", lambda w: w.prof.put_netmem(2**64 + 1), E.NetmemValueError, "0x10000000000000001"),
    ("str", lambda w: w.prof.get_netmem("0x1000"), E.NetmemTypeError, "str"),
    ("float", lambda w: w.prof.get_netmem(4096.0), E.NetmemTypeError, "float"),
    ("None", lambda w: w.prof.put_netmem(None), E.NetmemTypeError, "NoneType"),
    ("view instead of ref", lambda w: w.prof.get_netmem(w.area[0]), E.NetmemTypeError, ".netmem"),
    ("niov untagged", lambda w: w.prof.get_netmem(w.area[2].addr), E.TagMismatchError, "NET_IOV bit"),
    ("page tagged", lambda w: w.prof.put_netmem(w.page | 1), E.TagMismatchError, "NET_IOV bit"),
    ("inside a niov", lambda w: w.prof.get_netmem(w.area[3].netmem + 8), E.MisalignedRefError, "start of"),
    ("inside a struct page", lambda w: w.prof.put_netmem(w.page + 16), E.MisalignedRefError, "start of"),
    ("page frame address", lambda w: w.prof.get_netmem(w.prof.netmem_address(w.page)), E.NotPageError, "page"),
    ("freed page get", lambda w: w.prof.get_netmem(w.freed), E.UseAfterFreeError, "freed"),
    ("freed page put", lambda w: w.prof.put_netmem(w.freed), E.UseAfterFreeError, "freed"),
    ("freed page field read", lambda w: w.prof.netmem_get_pp(w.freed), E.UseAfterFreeError, "freed"),
    ("freed tail page", lambda w: w.prof.netmem_ref_count(w.freed + w.pages.stride), E.UseAfterFreeError, "freed"),
    ("never-allocated page", lambda w: w.prof.get_netmem(w.pages.page(31)), E.UseAfterFreeError, "freed"),
    ("closed area", lambda w: w.prof.get_netmem(w.closed_niov), E.ClosedError, "closed"),
    ("closed page map", lambda w: w.prof.put_netmem(w.closed_page), E.ClosedError, "closed"),
    ("other profile's niov", lambda w: w.prof.get_netmem(w.other_profile_niov), E.NotOwnedError, "v6.12"),
    ("binding underflow", lambda w: w.prof.put_netmem(w.lonely[0].netmem), E.RefcountUnderflowError, "floor"),
    ("pp unref underflow", lambda w: w.prof.page_pool_unref_netmem(w.page, 4), E.RefcountUnderflowError, "nothing was changed"),
    ("pp unref nr 0", lambda w: w.prof.page_pool_unref_netmem(w.page, 0), E.NetmemValueError, "nr = 0"),
    ("pp unref nr negative", lambda w: w.prof.page_pool_unref_netmem(w.page, -1), E.NetmemValueError, "nr = -1"),
    ("pp fragment negative", lambda w: w.prof.page_pool_fragment_netmem(w.page, -5), E.NetmemValueError, "-5"),
    ("pp fragment huge", lambda w: w.prof.page_pool_fragment_netmem(w.page, 2**63), E.NetmemValueError, "2**63"),
    ("pp ref on foreign", lambda w: w.prof.page_pool_ref_netmem(0x1000), E.NotOwnedError, "0x1000"),
    ("uref on devmem niov", lambda w: w.prof.io_zcrx_get_niov_uref(w.area[0]), E.WrongProviderError, "io_uring"),
    ("uref on page", lambda w: w.prof.io_zcrx_put_niov_uref(w.page), E.NotNetIovError, "NET_IOV bit clear"),
    ("net_iov_idx of page", lambda w: w.prof.net_iov_idx(w.page), E.NotNetIovError, "NET_IOV bit clear"),
    ("net_is_devmem_iov of foreign", lambda w: w.prof.net_is_devmem_iov(0x55), E.NotOwnedError, "0x55"),
    ("bulk with a foreign ref", lambda w: w.prof.get_netmem_bulk([w.page, w.area[0].netmem, 12]), E.NotOwnedError, "refs[2]"),
    ("bulk put underflow", lambda w: w.prof.put_netmem_bulk([w.page, w.page, w.head]), E.UseAfterFreeError, "refs[1]"),
    ("bulk of wrong itemsize", lambda w: w.prof.get_netmem_bulk(array.array("H", [1, 2, 3, 4])), E.NetmemTypeError, "format"),
    ("bulk of non-ints", lambda w: w.prof.put_netmem_bulk([w.page, 1.5]), E.NetmemTypeError, "refs[1]"),
    ("area of 0 niovs", lambda w: w.prof.NetIovArea(0), E.NetmemValueError, "num_niovs = 0"),
    ("area of -3 niovs", lambda w: w.prof.NetIovArea(-3), E.NetmemValueError, "num_niovs = -3"),
    ("area huge", lambda w: w.prof.NetIovArea(2**40), E.NetmemValueError, "num_niovs"),
    ("area bad type", lambda w: w.prof.NetIovArea(4, 2), E.NetmemValueError, "type 2"),
    ("area bool type", lambda w: w.prof.NetIovArea(4, True), E.NetmemValueError, "type True"),
    ("area str count", lambda w: w.prof.NetIovArea("4"), E.NetmemTypeError, "str"),
    ("area unaligned dma", lambda w: w.prof.NetIovArea(4, base_dma_addr=0x1001), E.NetmemValueError, "page-aligned"),
    ("area index out of range", lambda w: w.area[8], E.NetmemIndexError, "8"),
    ("user_refs index out of range", lambda w: w.uring.user_refs(4), E.NetmemValueError, "niov index = 4"),
    ("page alloc order 11", lambda w: w.pages.alloc(order=11), E.NetmemValueError, "order = 11"),
    ("page alloc too big", lambda w: w.pages.alloc(order=5), E.OutOfPagesError, "order"),
    ("pagemap bad page size", lambda w: w.prof.PageMap(4, page_size=1000), E.NetmemValueError, "1000"),
    ("pagemap bad nid", lambda w: w.prof.PageMap(4, nid=1024), E.NetmemValueError, "nid = 1024"),
    ("close busy area", lambda w: w.area.close(), E.BusyError, "1 reference"),
    ("close busy page map", lambda w: w.pages.close(), E.BusyError, "allocated"),
    ("virt_to_netmem outside frames", lambda w: w.prof.virt_to_netmem(w.page), E.NetmemValueError, "out of range"),
    ("set_dma_index too big", lambda w: w.prof.netmem_set_dma_index(w.page, 2**32), E.NetmemValueError, "PP_DMA_INDEX_LIMIT"),
    ("set_pp with str", lambda w: w.prof.netmem_set_pp(w.page, "pool"), E.NetmemTypeError, "str"),
    ("set_dma_addr negative", lambda w: w.prof.netmem_set_dma_addr(w.page, -1), E.NetmemValueError, "-0x1"),
    ("is_pref_nid with str", lambda w: w.prof.netmem_is_pref_nid(w.page, "0"), E.NetmemTypeError, "pref_nid"),
    ("pp_info on foreign", lambda w: w.prof.page_pool_set_pp_info(0x1000, 0x2000), E.NotOwnedError, "0x2000"),
    ("adopt a bytes object", lambda w: w.prof.NetIovArea.from_buffer(b"\0" * 64), E.NetmemTypeError, "bytes"),
    ("adopt a ragged buffer", lambda w: w.prof.NetIovArea.from_buffer(bytearray(100)), E.NetmemValueError, "100 bytes"),
    ("adopt an empty buffer", lambda w: w.prof.NetIovArea.from_buffer(bytearray()), E.NetmemValueError, "0 bytes"),
    ("unknown profile", lambda w: nm.profile("v9.9"), E.UnknownProfileError, "v9.9"),
]


@pytest.mark.parametrize("name,call,exc,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input(world: World, name: str, call, exc, fragment: str) -> None:
    before = state(world)
    with pytest.raises(exc) as info:
        call(world)
    assert fragment in str(info.value), f"message {str(info.value)!r} should name {fragment!r}"
    assert state(world) == before, f"{name}: state changed"


def test_catalogue_is_large_and_specific() -> None:
    assert len(CASES) >= 60
    assert len({c[2] for c in CASES}) >= 15
