"""Owned memory: lifetime, adoption of foreign buffers, no growth across create/close cycles."""

from __future__ import annotations

import gc
import mmap
import resource
import subprocess
import sys

import pytest

import netmem_ffi as nm


def _rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * (resource.getpagesize() // 1024)


def test_create_close_cycles_do_not_grow(v72) -> None:
    for _ in range(20):  # warm up allocator caches
        v72.NetIovArea(4096).close()
    before = _rss_kib()
    for _ in range(100):
        with v72.NetIovArea(4096) as a:  # 256 KiB of niovs each
            v72.get_netmem(a[7].netmem)
            v72.put_netmem(a[7].netmem)
        with v72.PageMap(64) as m:
            v72.put_netmem(m.alloc(order=3))
    gc.collect()
    grown = _rss_kib() - before
    assert grown < 2048, f"RSS grew by {grown} KiB over 100 cycles"


def test_area_context_manager_and_idempotent_close(v72) -> None:
    with v72.NetIovArea(4) as a:
        ref = a[0].netmem
        assert not a.closed
    assert a.closed
    a.close()
    with pytest.raises(nm.ClosedError):
        a[0]
    with pytest.raises(nm.ClosedError):
        _ = a.binding_refcount
    with pytest.raises(nm.ClosedError, match="closed"):
        v72.netmem_get_pp(ref)


def test_close_refused_under_live_reference_keeps_memory(v72) -> None:
    a = v72.NetIovArea(4)
    ref = a[1].netmem
    v72.get_netmem(ref)
    with pytest.raises(nm.BusyError):
        a.close()
    assert v72.net_iov_idx(ref) == 1  # still readable: nothing was freed
    v72.put_netmem(ref)
    a.close()


@pytest.mark.parametrize("name", ["v6.12", "v6.17", "v7.2"])
def test_adopt_buffer(name: str) -> None:
    prof = nm.profile(name)
    size = prof.ffi.sizeof("struct net_iov")
    buf = bytearray(size * 8)
    view = prof.ffi.from_buffer("struct net_iov[]", buf)
    pp_off = prof.ffi.offsetof("struct net_iov", "desc") if prof.spec.desc_member else 0
    # a captured niov array: pp and dma_addr words already set
    for i in range(8):
        raw = prof.ffi.cast("unsigned long *", prof.ffi.addressof(view[i]))
        raw[pp_off // 8 + 2] = 0xFFFF888000100000 + i
        raw[pp_off // 8 + 4] = 0x1000 * i
    area = prof.NetIovArea.from_buffer(buf)
    try:
        n = area[5]
        assert prof.netmem_get_pp(n.netmem) == 0xFFFF888000100005
        assert prof.netmem_get_dma_addr(n.netmem) == 0x5000
        with pytest.raises(nm.NullOwnerError, match="owner word is NULL"):  # the kernel would oops
            prof.net_iov_idx(n)
        with pytest.raises(nm.NullOwnerError):
            prof.model.get_netmem(n.netmem)
        assert area.binding_refcount == 1
        prof.model.net_iov_init(n, area, nm.NET_IOV_DMABUF)  # link it to the adopting area
        assert prof.net_iov_idx(n) == 5
        prof.model.get_netmem(n.netmem)
        assert area.binding_refcount == 2
        prof.model.put_netmem(n.netmem)
    finally:
        area.close()
    assert bytes(buf[:8]) == bytes(8)  # the caller's buffer is alive; only niov 5's owner was written


def test_adopt_mmap_of_a_dump_file(tmp_path, v72) -> None:
    path = tmp_path / "niovs.bin"
    path.write_bytes(bytes(64 * 4))
    with open(path, "r+b") as fh, mmap.mmap(fh.fileno(), 0) as mm:
        area = v72.NetIovArea.from_buffer(mm)
        v72.page_pool_fragment_netmem(area[2].netmem, 9)
        area.close()
        assert int.from_bytes(mm[2 * 64 + 40: 2 * 64 + 48], sys.byteorder) == 9


def test_interpreter_exit_with_live_areas_is_clean() -> None:
    code = (
        "import netmem_ffi as nm\n"
        "a = nm.NetIovArea(64); b = nm.NetIovArea(8, nm.NET_IOV_IOURING); m = nm.PageMap(16)\n"
        "nm.get_netmem(a[3].netmem); nm.io_zcrx_get_niov_uref(b[1]); p = m.alloc(2)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok" and out.stderr == ""


def test_busy_map_and_area_collected_in_a_cycle_keep_their_memory(v72) -> None:
    """An open map or adopted area dropped in a reference cycle: the C side still serves its refs."""
    m = v72.PageMap(32)
    page = m.alloc()
    m.cycle = m  # type: ignore[attr-defined]
    buf = bytearray(64 * 4)
    a = v72.NetIovArea.from_buffer(buf)
    niov = a[1].netmem
    v72.net_iov_init(a[1], a, nm.NET_IOV_DMABUF)  # a zeroed capture has a NULL owner
    v72.get_netmem(niov)
    a.cycle = a  # type: ignore[attr-defined]
    del m, a, buf
    gc.collect()
    fresh = [v72.PageMap(32) for _ in range(4)]  # new mappings never land on the held memory
    assert v72.netmem_ref_count(page) == 1 and v72.net_iov_idx(niov) == 1
    v72.get_netmem(page)
    v72.put_netmem(page)
    for f in fresh:
        f.close()
