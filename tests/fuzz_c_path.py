"""Driver for the sanitizer and valgrind runs: exercise every C entry point of the runtime.

    python tests/fuzz_c_path.py memory [PROFILE ...]   # every entry point, good and hostile refs
    python tests/fuzz_c_path.py threads [PROFILE ...]  # threads hammering shared refs, exact counts
    python tests/fuzz_c_path.py stale [PROFILE ...]    # threads using refs of pages freed and reused under them
    python tests/fuzz_c_path.py use-after-close|race   # controls: a real bug each sanitizer must report

Run it under ``scripts/sanitize.py`` (ASan+UBSan, TSan) or valgrind.  It
asserts the counters it can predict and, in ``memory`` mode, that every
function declared in ``cdefs/netmem_rt.h`` was called directly at least once;
the sanitizer's verdict is its exit status.  The last line on stdout is a
summary (``<mode>: <calls> calls ...``).
"""

from __future__ import annotations

import random
import re
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import netmem_ffi as nm
from netmem_ffi.runtime.profiles import API

HEADER = Path(__file__).resolve().parent.parent / "cdefs" / "netmem_rt.h"
U64 = (1 << 64) - 1


def declared_functions() -> set[str]:
    """Every function ``cdefs/netmem_rt.h`` declares."""
    return set(re.findall(r"^[a-z][\w \*]*?\b(nm_\w+)\(", HEADER.read_text(), re.M))


class TracedLib:
    """``lib`` with a count of the functions called through it."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self._lib, name)
        if not callable(fn):
            return fn

        def traced(*args: Any) -> Any:
            self.calls[name] += 1
            return fn(*args)

        return traced


_KEEP: list[Any] = []  # page frames handed to the C runtime live as long as the driver


def aligned(ffi: Any, size: int, align: int) -> Any:
    """A ``char *`` to *size* bytes aligned to *align*, kept alive until the driver exits."""
    raw = ffi.new("char[]", size + align)
    _KEEP.append(raw)
    return raw + (-int(ffi.cast("uintptr_t", raw)) % align)


class Memory:
    """One profile's world: areas of each provider, an adopted buffer, page maps, freed and closed refs."""

    def __init__(self, prof: Any, seed: int) -> None:
        self.prof = prof
        self.rt = prof.NetIovArea.runtime
        self.ffi = prof.ffi
        self.lib = TracedLib(prof.lib)
        self.rng = random.Random(seed)
        self.uring_ok = prof.spec.has_area

    # ---- direct calls of every entry point ----------------------------------------------------

    def create_area(self, n: int, kind: int, dma: int = 0, niovs: Any = None, length: int | None = None) -> tuple[int, Any]:
        """``nm_area_create`` in a fresh block (kept alive by the driver): its code and area."""
        lib, ffi = self.lib, self.ffi
        size = lib.nm_area_block_size(n, kind, niovs is None)
        block = aligned(ffi, max(size, 64), 64)
        out = ffi.new("struct nm_area **")
        rc = lib.nm_area_create(block, size if length is None else length, ffi.NULL if niovs is None else niovs,
                                n, kind, dma, out)
        return rc, out[0]

    def areas(self) -> None:
        lib, ffi = self.lib, self.ffi
        for n, kind in ((1, 0), (7, 0), (33, 1 if self.uring_ok else 0)):
            rc, a = self.create_area(n, kind, 0x1000 * n)
            assert rc == 0
            assert lib.nm_area_num_niovs(a) == n
            base = int(ffi.cast("uintptr_t", lib.nm_area_niovs(a)))
            assert lib.nm_area_owner(a) != ffi.NULL
            bid = ffi.new("unsigned int *")
            assert lib.nm_binding_id(0, bid) == lib.NM_E_NULL_OWNER
            assert lib.nm_binding_id(base + 8, bid) == lib.NM_E_NOT_OWNED
            ref = base | 1
            assert lib.nm_get_netmem(ref) == 0
            held = ffi.new("size_t *")
            lib.nm_area_outstanding(a, held)
            assert held[0] == (0 if kind else 1)
            assert lib.nm_area_close(a) == (0 if kind else lib.NM_E_BUSY)
            if not kind:
                assert lib.nm_area_binding_refcount(a) == 2
                assert lib.nm_area_unbound(a) == 0
                assert lib.nm_area_unbind(a) == 0 and lib.nm_area_unbound(a) == 1
                assert lib.nm_area_unbind(a) == lib.NM_E_BINDING_DEAD
                assert lib.nm_put_netmem(ref) == 0  # the last reference: the binding dies
                assert lib.nm_area_binding_refcount(a) == 0
                assert lib.nm_get_netmem(ref) == lib.NM_E_BINDING_DEAD
                assert lib.nm_area_close(a) == 0
            else:
                assert lib.nm_area_unbind(a) == lib.NM_E_WRONG_PROVIDER
            assert lib.nm_classify(ref) == -lib.NM_E_CLOSED
        for bad in ((0, 0), (1 << 33, 0), (4, 7), (4, -1)):
            assert lib.nm_area_block_size(bad[0], bad[1], 1) == 0
            assert self.create_area(bad[0], bad[1])[0] == lib.NM_E_INVAL
        assert self.create_area(4, 0, length=lib.nm_area_block_size(4, 0, 1) - 1)[0] == lib.NM_E_INVAL
        out = ffi.new("struct nm_area **")
        assert lib.nm_area_create(ffi.NULL, 4096, ffi.NULL, 1, 0, 0, out) == lib.NM_E_INVAL
        size = ffi.sizeof("struct net_iov")
        buf = bytearray(size * 5 + 8)
        cbuf = ffi.from_buffer(buf)
        addr = int(ffi.cast("uintptr_t", cbuf))
        start = (-addr) % 8
        view = ffi.from_buffer(memoryview(buf)[start:start + size * 5])
        assert self.create_area(5, 0, niovs=ffi.cast("char *", view) + 1)[0] == lib.NM_E_INVAL
        rc, adopted = self.create_area(5, 0, niovs=view)
        assert rc == 0
        base = int(ffi.cast("uintptr_t", view))
        assert self.create_area(5, 0, niovs=view)[0] == lib.NM_E_INVAL  # overlaps: refused
        owner = int(ffi.cast("uintptr_t", lib.nm_area_owner(adopted)))
        assert lib.nm_net_iov_init(base + size | 1, owner, 0) == 0
        assert lib.nm_net_iov_init(base + size | 1, owner + 8, 0) == lib.NM_E_INVAL
        assert lib.nm_net_iov_init(base + size | 1, owner, 5) == lib.NM_E_INVAL
        val = ffi.new("int *")
        assert lib.nm_area_user_refs(adopted, 0, val) == lib.NM_E_WRONG_PROVIDER
        assert lib.nm_area_close(adopted) == 0

    def user_refs(self) -> None:
        if not self.uring_ok:
            return
        lib, ffi = self.lib, self.ffi
        rc, a = self.create_area(4, 1)
        assert rc == 0
        ref = int(ffi.cast("uintptr_t", lib.nm_area_niovs(a))) + 3 * ffi.sizeof("struct net_iov") | 1
        dropped, val = ffi.new("int *"), ffi.new("int *")
        assert lib.nm_uref_put(ref, dropped) == 0 and dropped[0] == 0
        assert lib.nm_uref_get(ref) == 0 and lib.nm_uref_get(ref) == 0
        assert lib.nm_area_user_refs(a, 3, val) == 0 and val[0] == 2
        assert lib.nm_area_user_refs(a, 4, val) == lib.NM_E_INVAL
        assert lib.nm_area_close(a) == lib.NM_E_BUSY
        assert lib.nm_uref_put(ref, dropped) == 0 and dropped[0] == 1
        assert lib.nm_uref_put(ref, dropped) == 0 and dropped[0] == 1
        assert lib.nm_area_close(a) == 0
        assert lib.nm_uref_get(ref) == lib.NM_E_CLOSED

    def pages(self) -> None:
        lib, ffi = self.lib, self.ffi
        out = ffi.new("struct nm_pagemap **")
        info = ffi.new("struct nm_pagemap_info *")
        ref = ffi.new("netmem_ref *")
        for shift in (12, 14, 16):
            frames = aligned(ffi, 16 << shift, 1 << shift)
            assert lib.nm_pagemap_create(16, shift, 5, 0x4000, frames, out) == 0
            mapped = lib.nm_frames_alloc(16 << shift)  # the mmap allocator PageMap frames come from
            assert mapped != ffi.NULL and int(ffi.cast("uintptr_t", mapped)) % 4096 == 0
            ffi.memmove(mapped, b"\xaa" * (16 << shift), 16 << shift)
            lib.nm_frames_free(mapped)
            block = lib.nm_zalloc(16 << shift)  # the calloc allocator area blocks come from: zeroed
            assert block != ffi.NULL and bytes(ffi.buffer(block, 16 << shift)) == bytes(16 << shift)
            lib.nm_zfree(block)
            m = out[0]
            lib.nm_pagemap_info(m, info)
            assert info.num_pages == 16 and info.page_size == 1 << shift
            heads = []
            for order, pfm in ((0, 0), (3, 1), (2, 0), (1, 0)):
                assert lib.nm_page_alloc(m, order, pfm, ref) == 0
                heads.append((int(ref[0]), order))
            assert lib.nm_page_alloc(m, 4, 0, ref) == lib.NM_E_NO_SPACE
            assert lib.nm_page_alloc(m, 11, 0, ref) == lib.NM_E_INVAL
            assert lib.nm_pagemap_allocated(m) == 1 + 8 + 4 + 2
            assert lib.nm_pagemap_close(m) == lib.NM_E_BUSY
            word = ffi.new("unsigned long *")
            for head, order in heads:
                for tail in range(1 << order):
                    page = head + tail * int(info.stride)
                    for field in range(-1, 15):
                        lib.nm_load(page, field, word)
                        lib.nm_update(page, field, U64, 0, word)
                    assert lib.nm_load(page, lib.NM_F_HEAD, word) == 0 and word[0] == head
                    assert lib.nm_load(page, lib.NM_F_ADDRESS, word) == 0
                    frame = int(word[0])
                    assert lib.nm_virt_to_page(frame + (1 << shift) - 1, ref) == 0 and ref[0] == page
                    assert lib.nm_get_netmem(page) == 0  # tail refs count on the head
                    assert lib.nm_classify(page) == lib.NM_KIND_PAGE
                    assert lib.nm_pp_fragment(page, 2) == 0 and lib.nm_pp_ref(page) == 0
                    ret = ffi.new("long *")
                    assert lib.nm_pp_unref(page, 3, ret) == 0 and ret[0] == 0
                    assert lib.nm_pp_unref(page, 2, ret) == lib.NM_E_UNDERFLOW
                    assert lib.nm_net_iov_init(page, 0, 0) == lib.NM_E_NOT_NIOV
                    assert lib.nm_uref_get(page) == lib.NM_E_NOT_NIOV
                assert lib.nm_load(head, lib.NM_F_REFCOUNT, word) == 0 and word[0] == 1 + (1 << order)
                for tail in range(1 << order):
                    assert lib.nm_put_netmem(head + tail * int(info.stride)) == 0
            for head, order in heads:  # free at zero, then every page of the block is gone
                assert lib.nm_put_netmem(head) == 0
                for tail in range(1 << order):
                    page = head + tail * int(info.stride)
                    assert lib.nm_get_netmem(page) == lib.NM_E_FREED
                    assert lib.nm_put_netmem(page) == lib.NM_E_FREED
            assert lib.nm_pagemap_allocated(m) == 0
            assert lib.nm_virt_to_page(int(info.pages), ref) == lib.NM_E_INVAL
            assert lib.nm_pagemap_close(m) == 0
            assert lib.nm_classify(int(info.pages)) == -lib.NM_E_CLOSED
        frames = aligned(ffi, 4 << 12, 1 << 12)
        for bad in ((0, 12, 0, 0, frames), (4, 11, 0, 0, frames), (4, 17, 0, 0, frames), (4, 12, -1, 0, frames),
                    (4, 12, 1024, 0, frames), (4, 12, 0, U64 - 1, frames), (4, 12, 0, 0, ffi.NULL),
                    (4, 12, 0, 0, frames + 8)):
            assert lib.nm_pagemap_create(*bad, out) == lib.NM_E_INVAL

    def bulk(self) -> None:
        """Batches with an error at every position: all undone; pages freed only by a whole batch."""
        lib, ffi, prof = self.lib, self.ffi, self.prof
        bad = ffi.new("size_t *")
        with prof.NetIovArea(8) as area, prof.PageMap(32) as pm:
            pages = [pm.alloc(order=o) for o in (0, 0, 1, 2)]
            good = [area[i].netmem for i in range(8)] + pages + [pages[2] + pm.stride]
            prof.model.get_netmem_bulk(good)  # every ref in the batch can be put once
            for pos in range(len(good) + 1):
                for junk in (0, 1, area.base + 3, pm.frames, U64):
                    refs = good[:pos] + [junk] + good[pos:]
                    before = [prof.netmem_ref_count(r) for r in good]
                    arr = ffi.new("netmem_ref[]", refs)
                    assert lib.nm_get_netmem_bulk(arr, len(refs), bad) != 0 and bad[0] == pos
                    assert lib.nm_put_netmem_bulk(arr, len(refs), bad) != 0 and bad[0] == pos
                    assert [prof.netmem_ref_count(r) for r in good] == before
            src, bad_ref = ffi.new("netmem_ref[]", good + [0]), ffi.new("netmem_ref *")
            assert lib.nm_netmem_bulk(src, len(good) + 1, 1, bad, bad_ref) == lib.NM_E_NOT_OWNED
            assert (bad[0], bad_ref[0]) == (len(good), 0)  # the batch undone from its log of moves
            assert lib.nm_netmem_bulk(src, len(good), 1, bad, bad_ref) == 0
            assert lib.nm_netmem_bulk(src, len(good), -1, bad, ffi.NULL) == 0
            prof.model.put_netmem_bulk(good)
            arr = ffi.new("netmem_ref[]", pages * 300)  # pending-free list grows past its first block
            assert lib.nm_get_netmem_bulk(arr, len(pages) * 300, bad) == 0
            assert lib.nm_put_netmem_bulk(arr, len(pages) * 300, bad) == 0
            assert lib.nm_get_netmem_bulk(arr, 0, bad) == 0
            doomed = pages + [area.base + 3]  # every page would reach zero, then the batch fails
            arr = ffi.new("netmem_ref[]", doomed)
            assert lib.nm_put_netmem_bulk(arr, len(doomed), bad) == lib.NM_E_MISALIGNED
            assert all(prof.netmem_ref_count(p) == 1 for p in pages)
            arr = ffi.new("netmem_ref[]", pages)
            assert lib.nm_put_netmem_bulk(arr, len(pages), bad) == 0
            assert pm.allocated == 0
            many = [area[i % 8].netmem for i in range(10_000)]
            assert prof.model.get_netmem_bulk(many) == 10_000 and area.binding_refcount == 10_001
            assert prof.model.put_netmem_bulk(many) == 10_000 and area.binding_refcount == 1
            arr = ffi.new("netmem_ref[]", good[:8])
            lib.nm_counter_add_loop(arr, 8, 1)
            lib.nm_counter_add_loop(arr, 8, -1)
            assert area.binding_refcount == 1

    def hostile(self) -> Iterator[int]:
        """Ints near every region this profile owns or owned, and far from all of them."""
        size = self.ffi.sizeof("struct net_iov")
        area = self.prof.NetIovArea(6)
        closed = self.prof.NetIovArea(3)
        pm = self.prof.PageMap(8)
        live = pm.alloc(order=1)
        freed = pm.alloc()
        self.prof.model.put_netmem(freed)
        gone = self.prof.PageMap(2)
        anchors = [area.base, closed.base, pm.pages, pm.frames, live, freed, gone.pages, gone.frames]
        closed.close()
        gone.close()
        self._keep = (area, pm, live)
        yield from (0, 1, 2, 3, 8, 0x1000, U64, U64 - 1, 1 << 63, (1 << 63) | 1)
        for a in anchors:
            for delta in (-size, -8, -1, 0, 1, 7, 8, size // 2, size, size + 1, 64, 65, 4095, 4096, 4097):
                yield (a + delta) & U64
                yield ((a + delta) | 1) & U64
        for _ in range(400):
            a = self.rng.choice(anchors)
            yield (a + self.rng.randrange(-1 << 14, 1 << 14)) & U64
            yield self.rng.getrandbits(64)

    def every_call_on(self, value: int) -> None:
        """Every ref-taking entry point on *value*; what succeeds is undone."""
        lib, ffi = self.lib, self.ffi
        word = ffi.new("unsigned long *")
        ret = ffi.new("long *")
        flag = ffi.new("int *")
        ref = ffi.new("netmem_ref *")
        lib.nm_classify(value)
        lib.nm_owns(value)
        for field in (-1, 0, 5, 9, 11, 12, 13, 99):
            lib.nm_load(value, field, word)
        lib.nm_update(value, lib.NM_F_PP_MAGIC, U64, 0, word)  # keeps every bit: changes nothing
        lib.nm_virt_to_page(value, ref)
        lib.nm_empty(value)
        if lib.nm_get_netmem(value) == 0:
            assert lib.nm_put_netmem(value) == 0
        if lib.nm_load(value, lib.NM_F_PP_REF_COUNT, word) == 0:
            old = int(word[0])
            if lib.nm_pp_ref(value) == 0:
                assert lib.nm_pp_fragment(value, old) == 0
            lib.nm_pp_unref(value, old + 1, ret)
            lib.nm_pp_unref(value, 0, ret)
            assert lib.nm_pp_fragment(value, -1) == lib.NM_E_INVAL
        else:
            assert lib.nm_pp_ref(value) != 0 and lib.nm_pp_unref(value, 1, ret) != 0
            assert lib.nm_pp_fragment(value, 1) != 0
        if lib.nm_uref_get(value) == 0:
            assert lib.nm_uref_put(value, flag) == 0 and flag[0] == 1
        else:
            assert lib.nm_uref_put(value, flag) != 0
        arr = ffi.new("netmem_ref[]", [value, value])
        bad = ffi.new("size_t *")
        if lib.nm_get_netmem_bulk(arr, 2, bad) == 0:
            assert lib.nm_put_netmem_bulk(arr, 2, bad) == 0
        else:
            lib.nm_put_netmem_bulk(arr, 2, bad)

    def python_api(self, values: list[int]) -> None:
        """Every public runtime name of the profile, on hostile and wrong-typed arguments."""
        prof = self.prof
        rt = prof.runtime
        fast = {"get_netmem": rt.get_netmem, "put_netmem": rt.put_netmem, "empty": rt.empty}
        odd: list[Any] = ["x", None, -1, 1 << 64, 1.5, b"\x01" * 8, [1], object()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in ("get_netmem", "put_netmem", "empty"):
                for v in odd + values[:50]:
                    try:
                        fast[name](v)
                    except nm.NetmemError:
                        pass
            for name in API:  # the whole model API, also what this generation's surface lacks
                fn = getattr(prof.model, name, None) or getattr(prof, name)
                if isinstance(fn, type) or not callable(fn):
                    continue
                for v in odd + values[::7]:
                    for args in ((v,), (v, 1), (v, 1, 0)):
                        try:
                            fn(*args)
                        except (nm.NetmemError, TypeError):
                            pass

    def frame_views(self) -> None:
        """Views of page frames kept past free and close(): reads stay inside live memory."""
        pm = self.prof.PageMap(64)
        page = pm.alloc(order=2)
        views = [pm.frame(page + i * pm.stride) for i in range(4)]
        views[3][:4] = b"tail"
        self.prof.model.put_netmem(page)
        assert bytes(views[3][:4]) == b"\xaa" * 4  # freed and poisoned, still readable
        pm.close()
        del pm
        assert all(len(bytes(v)) == 4096 for v in views)

    def churn(self) -> None:
        """More regions than the table's first block, and more closes than the tombstone ring holds."""
        kept = [self.prof.NetIovArea(2) for _ in range(40)]
        for _ in range(150):
            self.prof.NetIovArea(1).close()
            self.prof.PageMap(1).close()
        for a in kept:
            a.close()

    def run(self) -> int:
        self.areas()
        self.user_refs()
        self.pages()
        self.bulk()
        values = list(self.hostile())
        for v in values:
            self.every_call_on(v)
        self.python_api(values)
        self.frame_views()
        self.churn()
        area, pm, live = self._keep
        self.prof.model.put_netmem(live)
        area.close()
        pm.close()
        missing = declared_functions() - set(self.lib.calls)
        assert not missing, f"entry points never called: {sorted(missing)}"
        return sum(self.lib.calls.values())


def hammer(threads: int, body: Callable[[int], None]) -> None:
    """Run *body(thread index)* on *threads* threads released together."""
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            body(i)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


def threads(prof: Any, n_threads: int = 4, rounds: int = 3000) -> int:
    """get/put, pp_ref/unref (fast path included), user refs, failing bulks and free-at-zero on shared refs."""
    uring = prof.NetIovArea(4, nm.NET_IOV_IOURING) if prof.spec.has_area else None
    with prof.NetIovArea(8) as area, prof.PageMap(256) as pm:
        compound = pm.alloc(order=2)
        tail = compound + 3 * pm.stride
        niov = area[3].netmem
        prof.page_pool_fragment_netmem(niov, 1)
        prof.page_pool_fragment_netmem(compound, 1)
        batch = [niov, compound, tail, area[5].netmem]

        def shared(i: int) -> None:
            for k in range(rounds):
                prof.model.get_netmem(niov)
                prof.model.get_netmem(tail if k & 1 else compound)
                prof.page_pool_ref_netmem(niov)
                prof.page_pool_ref_netmem(compound)
                prof.model.put_netmem(compound if k & 1 else tail)
                prof.page_pool_unref_netmem(niov, 1)  # ends at 1 (fast path) once every thread is done
                prof.page_pool_unref_netmem(compound, 1)
                prof.model.put_netmem(niov)
                if uring is not None:
                    prof.model.io_zcrx_get_niov_uref(uring[i % 4])
                    assert prof.model.io_zcrx_put_niov_uref(uring[i % 4])
                if k % 16 == 0:
                    prof.model.get_netmem_bulk(batch)
                    try:
                        prof.model.put_netmem_bulk(batch + [area.base + 3])
                    except nm.MisalignedRefError:
                        pass
                    prof.model.put_netmem_bulk(batch)

        hammer(n_threads, shared)
        assert area.binding_refcount == 1
        assert prof.netmem_ref_count(compound) == 1
        rt = area.runtime
        assert rt.load(niov, rt.lib.NM_F_PP_REF_COUNT) == 1
        assert rt.load(compound, rt.lib.NM_F_PP_REF_COUNT) == 1
        if uring is not None:
            assert [uring.user_refs(i) for i in range(4)] == [0] * 4
            uring.close()

        # free at zero: every thread holds a reference to the same pages; the last put frees them
        blocks = rounds // 50
        for _ in range(blocks):
            held = [pm.alloc(order=o % 3) for o in range(12)]
            taken = threading.Barrier(n_threads)

            def take_and_drop(i: int) -> None:
                for p in held:
                    prof.model.get_netmem(p)
                taken.wait()
                if i == 0:
                    for p in held:
                        prof.model.put_netmem(p)  # the allocation's own reference, while others hold theirs
                for p in reversed(held) if i & 1 else held:
                    prof.model.put_netmem(p)

            hammer(n_threads, take_and_drop)
            assert pm.allocated == 4  # only the order-2 compound page of the first part
            for p in held:
                try:
                    prof.model.get_netmem(p)
                except (nm.UseAfterFreeError, nm.MisalignedRefError):
                    continue
                raise AssertionError(f"page {p:#x} survived its last put")
        prof.model.put_netmem(compound)
        assert pm.allocated == 0
    return n_threads * rounds * 8 + blocks * n_threads * 24


def stale(prof: Any, n_threads: int = 3, seconds: float = 2.0) -> int:
    """Threads calling get/put/load on refs of pages that other threads free and reallocate meanwhile."""
    calls = Counter[int]()
    with prof.PageMap(16) as pm:
        refs = [pm.page(i) for i in range(16)]
        stop = time.monotonic() + seconds

        def churner(i: int) -> None:
            while time.monotonic() < stop:
                try:
                    prof.model.put_netmem(pm.alloc(order=i % 2))
                except nm.OutOfPagesError:
                    pass
                calls[i] += 1

        def prober(i: int) -> None:
            while time.monotonic() < stop:
                for r in refs:
                    try:
                        prof.model.get_netmem(r)
                        prof.netmem_ref_count(r)
                        prof.model.put_netmem(r)
                    except nm.NetmemError:
                        pass
                    calls[i] += 1

        hammer(n_threads, lambda i: churner(i) if i == 0 else prober(i))
        assert pm.allocated == 0, f"{pm.allocated} pages left allocated"
    return sum(calls.values())


def use_after_close(prof: Any) -> int:
    """Control for ASan: read a closed map's struct page through a pointer cast from its ref before close().

    A pointer the caller casts from an int is the one thing the runtime cannot keep alive.
    """
    pm = prof.PageMap(4)
    page = pm.alloc()
    raw = prof.ffi.buffer(prof.ffi.cast("struct page *", page))
    prof.model.put_netmem(page)
    pm.close()
    return len(bytes(raw))


def cdata_after_close(prof: Any) -> int:
    """A niov's cdata (and the owner it points at) kept past close(): read and written, never freed memory."""
    total = 0
    for kind in (0, 1) if prof.spec.has_area else (0,):
        area = prof.NetIovArea(4, kind)
        cdata = area[1].cdata
        owner = cdata.owner
        area.close()
        del area
        total += len(bytes(prof.ffi.buffer(cdata)))
        prof.ffi.buffer(cdata)[:8] = b"\x01" * 8
        total += int(prof.ffi.cast("uintptr_t", owner.niovs)) & 1
    return total


def racing_write(prof: Any, seconds: float = 1.0) -> int:
    """Control for TSan: a plain memcpy into a niov races with the runtime's atomic stores to it."""
    calls = Counter[int]()
    with prof.NetIovArea(2) as area:
        niov = area[0]
        raw = prof.ffi.buffer(niov.cdata)
        zeros = bytes(len(raw))
        stop = time.monotonic() + seconds

        def body(i: int) -> None:
            while time.monotonic() < stop:
                if i:
                    raw[:] = zeros
                else:
                    prof.page_pool_fragment_netmem(niov.netmem, 1)
                calls[i] += 1

        hammer(2, body)
    return sum(calls.values())


MODES: dict[str, Callable[[Any], int]] = {
    "memory": lambda prof: Memory(prof, seed=len(prof.name)).run(),
    "threads": threads,
    "stale": stale,
    "use-after-close": use_after_close,
    "cdata-after-close": cdata_after_close,
    "race": racing_write,
}


def main(argv: list[str]) -> int:
    mode, names = argv[0], argv[1:] or ["v7.2"]
    if mode not in MODES:
        raise SystemExit(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
    started = time.perf_counter()
    total = 0
    for name in names:
        total += MODES[mode](nm.profile(name))
    print(f"{mode}: {total} calls on {','.join(names)} in {time.perf_counter() - started:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
