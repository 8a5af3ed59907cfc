"""Lifetime of owned memory: flat RSS over create/close cycles, nothing freed under a live ref, clean exit."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap

import pytest

import netmem_ffi as nm
from netmem_ffi.abi import registry
def _python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout)


RSS_CYCLES = """
import json, resource
import netmem_ffi as nm

def rss_kib():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() // 1024

def areas(n):
    for i in range(n):
        kind = nm.NET_IOV_IOURING if i & 1 else nm.NET_IOV_DMABUF
        with nm.NetIovArea(1024, kind) as a:
            ref = a[i % 1024].netmem
            nm.get_netmem(ref)
            nm.page_pool_fragment_netmem(ref, 3)
            nm.put_netmem(ref)
            if kind == nm.NET_IOV_IOURING:
                nm.io_zcrx_get_niov_uref(a[1])
                nm.io_zcrx_put_niov_uref(a[1])
            nm.get_netmem_bulk(a.refs())
            nm.put_netmem_bulk(a.refs())
        nm.NetIovArea.from_buffer(bytearray(64 * 16)).close()

def page_maps(n):
    for i in range(n):
        with nm.PageMap(256) as m:
            pages = [m.alloc(order=o) for o in (0, 1, 3, 5)]
            nm.get_netmem_bulk(pages)
            nm.put_netmem_bulk(pages + pages)  # the second half frees every block
            page = m.alloc()
            bytes(m.frame(page)[:64])
            nm.put_netmem(nm.virt_to_netmem(nm.netmem_address(page) + 100))

out = {}
for name, cycle in (("areas", areas), ("page_maps", page_maps)):
    cycle(100)  # warm-up: allocator caches, interned objects
    before = rss_kib()
    cycle(1000)
    out[name] = rss_kib() - before
print(json.dumps(out))
"""


def test_rss_flat_over_1000_area_and_page_map_cycles() -> None:
    """1,000 create/use/close cycles of areas (both providers, adopted buffers) and of page maps."""
    out = _python(RSS_CYCLES)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    grown = json.loads(out.stdout)
    assert grown["areas"] < 1024, f"areas: RSS grew {grown['areas']} KiB over 1,000 cycles"
    assert grown["page_maps"] < 1024, f"page maps: RSS grew {grown['page_maps']} KiB over 1,000 cycles"


def test_page_map_close_refused_under_live_page_and_nothing_freed(v72) -> None:
    m = v72.PageMap(8)
    head = m.alloc(order=2)
    tail = head + 3 * m.stride
    m.frame(tail)[:5] = b"alive"
    with pytest.raises(nm.BusyError, match=r"4 page\(s\) allocated"):
        m.close()
    assert not m.closed and m.allocated == 4
    assert bytes(m.frame(tail)[:5]) == b"alive"  # frames not poisoned, struct pages intact
    assert v72.netmem_compound_head(tail) == head
    assert v72.netmem_ref_count(head) == 1  # page_ref_count() of the head; tails read 0 as in the kernel
    v72.put_netmem(tail)  # the last reference, through a tail page
    m.close()
    with pytest.raises(nm.ClosedError, match=f"{head:#x}"):
        v72.get_netmem(head)


def test_area_close_refused_under_each_kind_of_reference(v72) -> None:
    """A binding ref (get_netmem, bulk get) or an io_uring user ref keeps the area; pp refs do not count."""
    dev = v72.NetIovArea(4, base_dma_addr=0x8000)
    uring = v72.NetIovArea(4, nm.NET_IOV_IOURING)
    v72.get_netmem_bulk([dev[0].netmem, dev[3].netmem])
    v72.io_zcrx_get_niov_uref(uring[2])
    for area, held in ((dev, 2), (uring, 1)):
        with pytest.raises(nm.BusyError, match=f"{held} reference"):
            area.close()
    assert v72.netmem_get_dma_addr(dev[3].netmem) == 0x8000 + 3 * 4096  # still readable
    assert uring.user_refs(2) == 1
    v72.put_netmem_bulk([dev[0].netmem, dev[3].netmem])
    assert v72.io_zcrx_put_niov_uref(uring[2])
    v72.page_pool_fragment_netmem(dev[1].netmem, 5)  # page_pool refs do not pin the area
    dev.close()
    uring.close()
    assert dev.closed and uring.closed


def test_dropping_an_area_with_live_refs_keeps_its_memory(v72) -> None:
    area = v72.NetIovArea(4)
    ref = area[2].netmem
    v72.get_netmem(ref)
    del area
    gc.collect()
    assert v72.net_iov_idx(ref) == 2  # __del__ refused to free under the live reference
    v72.put_netmem(ref)
    with pytest.raises(nm.RefcountUnderflowError):
        v72.put_netmem(ref)


def test_areas_of_every_profile_alive_at_once() -> None:
    profiles = [nm.profile(name) for name in registry.names()]
    areas = [p.NetIovArea(4) for p in profiles]
    maps = [p.PageMap(4) for p in profiles]
    pages = [m.alloc() for m in maps]
    try:
        for i, (p, a, page) in enumerate(zip(profiles, areas, pages)):
            for _ in range(i + 1):
                p.model.get_netmem(a[1].netmem)
                p.model.get_netmem(page)
        for i, (p, a, page) in enumerate(zip(profiles, areas, pages)):
            assert a.binding_refcount == i + 2  # counted by its own profile only
            assert p.netmem_ref_count(page) == i + 2
            other = profiles[(i + 1) % len(profiles)]
            with pytest.raises(nm.NotOwnedError, match=f"belongs to profile {p.name}"):
                other.model.get_netmem(a[1].netmem)
        for i, (p, a, page) in enumerate(zip(profiles, areas, pages)):
            p.model.put_netmem_bulk([a[1].netmem] * (i + 1) + [page] * (i + 2))
        for a, m in zip(reversed(areas), maps):  # close in any order
            a.close()
            m.close()
    finally:
        for obj in areas + maps:
            if not obj.closed:
                obj.close()


def test_interpreter_exit_with_live_memory_of_several_profiles_is_clean(tmp_path) -> None:
    """Live areas, refs, pp refs, user refs, adopted bytearray and mmap, allocated pages: rc 0, no output."""
    dump = tmp_path / "niovs.bin"
    dump.write_bytes(bytes(64 * 8))
    code = f"""
    import mmap, netmem_ffi as nm
    keep = []
    for p in nm.profiles():
        a = p.NetIovArea(16)
        p.model.get_netmem_bulk(a.refs())
        p.page_pool_fragment_netmem(a[2].netmem, 7)
        m = p.PageMap(8)
        keep += [a, m, m.alloc(order=2)]
        buf = bytearray(p.ffi.sizeof("struct net_iov") * 4)
        adopted = p.NetIovArea.from_buffer(buf)
        p.model.net_iov_init(adopted[1], adopted, nm.NET_IOV_DMABUF)
        p.model.get_netmem(adopted[1].netmem)
        keep += [adopted]
    u = nm.NetIovArea(4, nm.NET_IOV_IOURING)
    nm.io_zcrx_get_niov_uref(u[3])
    fh = open({str(dump)!r}, "r+b")
    mm = mmap.mmap(fh.fileno(), 0)
    dumped = nm.NetIovArea.from_buffer(mm)
    nm.net_iov_init(dumped[5], dumped, nm.NET_IOV_DMABUF)
    nm.get_netmem(dumped[5].netmem)
    print("ok")
    """
    out = _python(code)
    assert (out.returncode, out.stdout.strip(), out.stderr) == (0, "ok", "")


def test_interpreter_exit_while_threads_hammer_the_refcount_path() -> None:
    """Daemon threads inside get/put (GIL released) when the interpreter finalizes: rc 0, no output."""
    code = """
    import threading, netmem_ffi as nm
    a = nm.NetIovArea(8); m = nm.PageMap(8); page = m.alloc(order=1)
    def hammer():
        while True:
            nm.get_netmem(a[1].netmem); nm.get_netmem(page)
            nm.put_netmem(page); nm.put_netmem(a[1].netmem)
    for _ in range(4):
        threading.Thread(target=hammer, daemon=True).start()
    threading.Event().wait(0.2)
    print("ok")
    """
    for _ in range(3):
        out = _python(code, timeout=60)
        assert (out.returncode, out.stdout.strip(), out.stderr) == (0, "ok", "")


def test_frame_view_does_not_outlive_its_memory() -> None:
    """A frame view kept past close(): close refuses, the view raises, or its memory lives on with it.

    Once a use-after-free (a segfault on a large map): the frames were freed by close().
    """
    code = """
    import netmem_ffi as nm
    m = nm.PageMap(4096)
    page = m.alloc()
    view = m.frame(page)
    view[:4] = b"data"
    nm.put_netmem(page)
    try:
        m.close()
    except nm.BusyError:
        print("refused")
    else:
        del m
        try:
            print("read", bytes(view[:4]).hex())
        except (ValueError, nm.NetmemError):
            print("released")
    """
    out = _python(code)
    assert out.returncode == 0, f"interpreter died with {out.returncode}: {out.stderr[-2000:]}"
    assert out.stdout.split()[0] in ("refused", "released", "read"), out.stdout
