"""The runtime used as an attacker or a careless script would (issue 12): no crash, nothing lost.

Copies of memory owners, buffers rewritten during a bulk call, frames of another
map, fork() during a bulk call, registries hit from many threads, a niov's
cdata used after close().
"""

from __future__ import annotations

import array
import copy
import gc
import pickle
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from typing import Any

import pytest

import netmem_ffi as nm


def _python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout)


# ---- memory owners cannot be copied or pickled ------------------------------------------------

COPIES: list[tuple[str, Callable[[Any], Any]]] = [
    ("copy", copy.copy),
    ("deepcopy", copy.deepcopy),
    ("pickle", lambda obj: pickle.dumps(obj)),
    ("pickle protocol 0", lambda obj: pickle.dumps(obj, protocol=0)),
]


@pytest.mark.parametrize("how", [c[1] for c in COPIES], ids=[c[0] for c in COPIES])
@pytest.mark.parametrize("owner", ["area", "uring", "adopted", "pages"])
def test_memory_owners_refuse_copy_and_pickle(v72: nm.Profile, owner: str, how: Callable[[Any], Any]) -> None:
    made: dict[str, Callable[[], Any]] = {
        "area": lambda: v72.NetIovArea(4),
        "uring": lambda: v72.NetIovArea(4, nm.NET_IOV_IOURING),
        "adopted": lambda: v72.NetIovArea.from_buffer(bytearray(v72.ffi.sizeof("struct net_iov") * 2)),
        "pages": lambda: v72.PageMap(4),
    }
    obj = made[owner]()
    with pytest.raises(nm.NetmemTypeError, match="cannot be copied or pickled"):
        how(obj)
    assert not obj.closed
    obj.close()
    assert obj.closed
    gc.collect()


def test_a_niov_view_copies_as_a_view_of_the_same_area(v72: nm.Profile) -> None:
    with v72.NetIovArea(2) as area:
        view = copy.copy(area[1])
        assert view == area[1] and view.area is area
        for how in (copy.deepcopy, pickle.dumps):
            with pytest.raises(nm.NetmemTypeError, match="cannot be copied or pickled"):
                how(area[1])


def test_profiles_copy_and_pickle_as_themselves(v72: nm.Profile) -> None:
    assert copy.copy(v72) is v72 and copy.deepcopy(v72) is v72 and pickle.loads(pickle.dumps(v72)) is v72


# ---- bulk calls read the caller's refs once ---------------------------------------------------


def test_bulk_reads_a_buffer_in_place(v72: nm.Profile) -> None:
    """No copy before the call: the C batch reads the caller's buffer (each ref once) and names the bad ref as read."""
    rt = v72.runtime
    source = array.array("Q", [1, 2, 3])
    batch = rt.ref_batch(source)
    source[0] = 99
    assert len(batch) == 3 and batch[0] == 99
    with pytest.raises(BufferError):
        source.append(4)  # exported (unresizable) while the batch holds it
    del batch
    assert list(rt.ref_batch([4, 5])) == [4, 5]  # a sequence is converted once
    with v72.PageMap(4) as pm:
        page = pm.alloc()
        src = v72.ffi.new("netmem_ref[]", [page, page, 0x10])
        bad, bad_ref = v72.ffi.new("size_t *"), v72.ffi.new("netmem_ref *")
        assert v72.lib.nm_netmem_bulk(src, 3, 1, bad, bad_ref) == v72.lib.NM_E_NOT_OWNED
        assert (bad[0], bad_ref[0], v72.netmem_ref_count(page)) == (2, 0x10, 1)  # undone
        assert v72.lib.nm_netmem_bulk(src, 3, 2, bad, bad_ref) == v72.lib.NM_E_INVAL
        assert v72.lib.nm_netmem_bulk(src, 2, 1, bad, v72.ffi.NULL) == 0 and v72.netmem_ref_count(page) == 3
        v72.put_netmem_bulk([page] * 3)
        assert pm.allocated == 0


def test_bulk_outcome_unchanged_by_a_thread_rewriting_the_buffer(v72: nm.Profile) -> None:
    """A failing batch is undone exactly, whatever another thread writes into the buffer meanwhile."""
    with v72.PageMap(64) as pm:
        a, b = pm.alloc(), pm.alloc()
        v72.get_netmem_bulk([a] * 100 + [b] * 100)  # both at 101: any mix of 200 puts stays above zero
        refs = array.array("Q", [a] * 200 + [0])  # the last ref is bad: every batch fails and is undone
        stop = threading.Event()

        def rewrite() -> None:
            flip = 0
            while not stop.is_set():
                flip ^= 1
                for i in range(200):
                    refs[i] = a if (i + flip) & 1 else b

        writer = threading.Thread(target=rewrite)
        writer.start()
        try:
            for _ in range(300):
                with pytest.raises(nm.NotOwnedError, match=r"refs\[200\].*undone"):
                    v72.put_netmem_bulk(refs)
                with pytest.raises(nm.NotOwnedError):
                    v72.get_netmem_bulk(refs)
        finally:
            stop.set()
            writer.join()
        assert (v72.netmem_ref_count(a), v72.netmem_ref_count(b)) == (101, 101)
        v72.put_netmem_bulk([a] * 101 + [b] * 101)
        assert pm.allocated == 0


# ---- frame() of another map's page ------------------------------------------------------------


def test_frame_of_a_page_of_another_map_raises(v72: nm.Profile) -> None:
    with v72.PageMap(4) as first, v72.PageMap(4) as second:
        mine, theirs = first.alloc(), second.alloc()
        second.frame(theirs)[:4] = b"safe"
        with pytest.raises(nm.NotOwnedError, match="another PageMap"):
            first.frame(theirs)
        assert bytes(second.frame(theirs)[:4]) == b"safe"
        assert len(first.frame(mine)) == 4096
        v72.put_netmem_bulk([mine, theirs])


# ---- fork() while another thread is in a bulk call --------------------------------------------

FORK_DURING_BULK = """
import os, signal, threading, time, warnings
import netmem_ffi as nm
warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads (3.12+)

area = nm.NetIovArea(1 << 16)
refs = area.refs()
stop = threading.Event()

def bulk():
    while not stop.is_set():
        nm.get_netmem_bulk(refs)
        nm.put_netmem_bulk(refs)

workers = [threading.Thread(target=bulk, daemon=True) for _ in range(2)]
for w in workers:
    w.start()
hung = 0
for _ in range(FORKS):
    time.sleep(0.01)
    pid = os.fork()
    if pid == 0:  # the child takes the runtime lock for writing (create, close) and uses the area
        with nm.NetIovArea(4) as mine:
            nm.get_netmem(mine[0].netmem); nm.put_netmem(mine[0].netmem)
        nm.get_netmem(refs[5]); nm.put_netmem(refs[5])
        nm.profile("v6.12").NetIovArea(2).close()  # a profile the parent never loaded
        # fork() waited for in-flight batches: the copy holds whole batches only
        os._exit(0 if (area.binding_refcount - 1) % len(refs) == 0 else 3)
    deadline = time.monotonic() + 30  # a hang never ends; a child on a loaded CI machine does
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.waitstatus_to_exitcode(status) != 0:
                print("child failed", status); os._exit(1)
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0); hung += 1
            break
        time.sleep(0.005)
stop.set()
for w in workers:
    w.join()
area.close()
print("hung", hung)
"""


def test_fork_during_bulk_calls_never_hangs_the_child() -> None:
    out = _python(FORK_DURING_BULK.replace("FORKS", "20"), timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hung 0"


# ---- registries hit from many threads ---------------------------------------------------------

THREADED_REGISTRIES = """
import threading
import netmem_ffi as nm
from netmem_ffi.abi import registry

names = list(registry.names()) * 4
seen, errors = [], []
barrier = threading.Barrier(len(names))

def load(name):
    try:
        barrier.wait()
        p = nm.profile(name)
        seen.append((name, id(p), id(p.runtime)))
        for _ in range(50):
            with p.NetIovArea(2) as a:
                p.model.net_iov_init(a[1], a, nm.NET_IOV_DMABUF)
                try:
                    nm.get_netmem(a[0].netmem)  # another profile's niov: named by its owner
                except nm.NotOwnedError as exc:
                    assert name == "v7.2" or "belongs to profile" in str(exc), exc
                else:
                    nm.put_netmem(a[0].netmem)
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=load, args=(n,)) for n in names]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors
ids = {}
for name, p, rt in seen:
    assert ids.setdefault(name, (p, rt)) == (p, rt), name
print(len(seen))
"""


def test_profiles_and_net_iov_init_from_many_threads() -> None:
    """Profiles load once under contention; net_iov_init and error mapping never see a registry change size."""
    out = _python(THREADED_REGISTRIES)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == 24


def test_net_iov_init_refuses_another_areas_owner(v72: nm.Profile) -> None:
    with v72.NetIovArea(2) as mine, v72.NetIovArea(2) as other:
        with pytest.raises(nm.NetmemValueError, match="not the area that holds"):
            v72.net_iov_init(mine[0], other, nm.NET_IOV_DMABUF)
        v72.net_iov_init(mine[0], mine.owner, nm.NET_IOV_DMABUF)
        assert v72.net_iov_owner(mine[0]) == mine.owner


# ---- a niov's cdata after close() -------------------------------------------------------------


@pytest.mark.parametrize("kind", [nm.NET_IOV_DMABUF, nm.NET_IOV_IOURING])
def test_niov_cdata_used_after_close_reads_live_memory(v72: nm.Profile, kind: int) -> None:
    area = v72.NetIovArea(8, kind)
    niov = area[3]
    cdata = niov.cdata
    v72.netmem_set_pp(niov.netmem, 0x1234_5000)
    owner = cdata.owner
    area.close()
    with pytest.raises(nm.ClosedError):
        _ = niov.cdata
    del area, niov
    gc.collect()
    churn = [v72.NetIovArea(8, kind) for _ in range(20)]  # reuse of freed memory would show here
    assert int(v72.ffi.cast("uintptr_t", cdata.desc.pp)) == 0x1234_5000
    assert int(owner.num_niovs) == 8
    assert int(v72.ffi.cast("uintptr_t", owner.niovs)) + 3 * v72.ffi.sizeof("struct net_iov") == int(
        v72.ffi.cast("uintptr_t", cdata))
    cdata.desc.pp_magic = 7  # memory the runtime no longer uses: harmless
    for a in churn:
        a.close()
