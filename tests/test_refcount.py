"""The refcount path: get/put_netmem, bulk forms, pp_ref_count rules, io_uring user refs, threads."""

from __future__ import annotations

import array
import threading

import pytest

import netmem_ffi


def test_devmem_binding_refcount(prof, area) -> None:
    refs = [area[i].netmem for i in (0, 3, 15)]
    assert area.binding_refcount == 1
    for r in refs:
        prof.model.get_netmem(r)
    assert area.binding_refcount == 4  # one counter for the whole binding
    assert area.outstanding == 3
    with pytest.raises(netmem_ffi.BusyError, match="3 reference"):
        area.close()
    for r in refs:
        prof.model.put_netmem(r)
    assert area.binding_refcount == 1
    with pytest.raises(netmem_ffi.RefcountUnderflowError):
        prof.model.put_netmem(refs[0])
    assert area.binding_refcount == 1


def test_io_uring_niovs_left_alone_by_get_put(v72, uring_area) -> None:
    n = uring_area[4]
    v72.get_netmem(n.netmem)
    v72.put_netmem(n.netmem)
    v72.put_netmem(n.netmem)
    assert [uring_area.user_refs(i) for i in range(8)] == [0] * 8
    assert uring_area.outstanding == 0


def test_io_zcrx_user_refs(v72, uring_area) -> None:
    n = uring_area[6]
    assert v72.io_zcrx_put_niov_uref(n) is False  # decrement only when above 0
    assert uring_area.user_refs(6) == 0
    for _ in range(3):
        v72.io_zcrx_get_niov_uref(n)
    assert uring_area.user_refs(6) == 3 == n.user_refs
    assert [uring_area.user_refs(i) for i in range(8) if i != 6] == [0] * 7  # indexed by net_iov_idx
    with pytest.raises(netmem_ffi.BusyError):
        uring_area.close()
    assert [v72.io_zcrx_put_niov_uref(n) for _ in range(4)] == [True, True, True, False]


def test_user_refs_need_io_uring(prof, area) -> None:
    with pytest.raises(netmem_ffi.WrongProviderError):
        prof.model.io_zcrx_get_niov_uref(area[0])
    with pytest.raises(netmem_ffi.WrongProviderError):
        area.user_refs(0)


def test_page_refcount_free_at_zero(prof, pages) -> None:
    p = pages.alloc()
    prof.model.get_netmem(p)
    prof.model.get_netmem(p)
    assert prof.netmem_ref_count(p) == 3
    for _ in range(3):
        prof.model.put_netmem(p)
    assert pages.allocated == 0
    with pytest.raises(netmem_ffi.UseAfterFreeError):
        prof.model.put_netmem(p)
    with pytest.raises(netmem_ffi.UseAfterFreeError):
        prof.model.get_netmem(p)
    q = pages.alloc()  # the freed block is reused
    assert q == p and prof.netmem_ref_count(q) == 1


@pytest.mark.parametrize("nr", [1, 2, 5])
def test_pp_unref_fast_path(prof, area, nr) -> None:
    n = area[1].netmem
    prof.page_pool_fragment_netmem(n, nr)
    assert prof.page_pool_unref_netmem(n, nr) == 0  # counter == nr: the caller held them all
    assert area[1].pp_ref_count == 1  # reset to 1 after the last reference, never 0


def test_pp_unref_slow_path_and_underflow(prof, pages) -> None:
    p = pages.alloc()
    prof.page_pool_fragment_netmem(p, 10)
    assert prof.page_pool_unref_netmem(p, 3) == 7
    prof.page_pool_ref_netmem(p)
    assert prof.page_pool_unref_netmem(p, 5) == 3
    with pytest.raises(netmem_ffi.RefcountUnderflowError):
        prof.page_pool_unref_netmem(p, 4)
    assert prof.page_pool_unref_netmem(p, 2) == 1
    assert prof.model.page_pool_unref_and_test(p)  # counter 1 == nr 1
    assert prof.ffi.cast("struct page *", p).pp_ref_count.counter == 1


def test_bulk_get_put(prof, area, pages) -> None:
    refs = area.refs()
    assert len(refs) == 16 and refs[3] == area[3].netmem
    head = pages.alloc(order=1)
    mixed = array.array("Q", list(refs) + [head, head + pages.stride])
    assert prof.model.get_netmem_bulk(mixed) == 18
    assert area.binding_refcount == 17 and prof.netmem_ref_count(head) == 3
    assert prof.model.put_netmem_bulk(list(mixed)) == 18
    assert area.binding_refcount == 1 and prof.netmem_ref_count(head) == 1


def test_bulk_is_all_or_nothing(prof, area, pages) -> None:
    p = pages.alloc()
    good = [area[0].netmem, p, area[1].netmem]
    with pytest.raises(netmem_ffi.NotOwnedError, match=r"refs\[3\]"):
        prof.model.get_netmem_bulk(good + [0xDEAD0000])
    assert area.binding_refcount == 1 and prof.netmem_ref_count(p) == 1
    prof.model.get_netmem(area[0].netmem)
    # put: the page reaches zero at index 1, then index 2 underflows the binding -> all undone
    with pytest.raises(netmem_ffi.RefcountUnderflowError, match=r"refs\[2\]"):
        prof.model.put_netmem_bulk([area[0].netmem, p, area[1].netmem])
    assert pages.allocated == 1 and prof.netmem_ref_count(p) == 1
    assert area.binding_refcount == 2
    prof.model.put_netmem(area[0].netmem)


def _binding(v72, area):
    """The devmem binding's refcount_t of a v7.2 area, writable (its first member)."""
    owner = v72.ffi.cast("struct dmabuf_genpool_chunk_owner *", area.owner)
    return v72.ffi.cast("int *", owner.binding)


def test_bulk_run_on_one_binding_names_its_first_bad_ref(v72) -> None:
    """Consecutive niovs of one area move the binding once; a run that cannot move whole is redone ref by ref.

    65,545 puts span many runs (each capped at 64 refs); the binding holds
    65,540 of them, so ref 65,540 is the first that would drop the area's own
    reference, and the whole batch is undone.  The error names that ref as the
    batch read it (the batch keeps only the current run's refs, not a copy).
    """
    with v72.NetIovArea(8) as area:
        refs = area.refs()
        held = [refs[i % 8] for i in range(65_540)]
        assert v72.get_netmem_bulk(held) == 65_540 and area.binding_refcount == 65_541
        with pytest.raises(netmem_ffi.RefcountUnderflowError,
                           match=rf"refs\[65540\] = {refs[5]:#x} .*\(whole batch of 65545 undone\)"):
            v72.put_netmem_bulk(held + list(refs[5:]) + list(refs[:2]))  # neighbours refs[3], refs[6]
        assert area.binding_refcount == 65_541
        assert v72.put_netmem_bulk(held) == 65_540 and area.binding_refcount == 1


def test_bulk_run_overflow_at_the_exact_ref(v72) -> None:
    with v72.NetIovArea(8) as area:
        counter = _binding(v72, area)
        counter[0] = 2**31 - 3  # two more references fit
        try:
            with pytest.raises(netmem_ffi.RefcountOverflowError, match=r"refs\[2\]"):
                v72.get_netmem_bulk(area.refs()[:4])
            assert counter[0] == 2**31 - 3
            assert v72.get_netmem_bulk(area.refs()[:2]) == 2 and counter[0] == 2**31 - 1
        finally:
            counter[0] = 1


def test_bulk_mixed_runs_count_exactly(v72, uring_area) -> None:
    """Runs broken by pages, io_uring niovs and another area's niovs: every counter moves by its own refs."""
    with v72.NetIovArea(8) as a, v72.NetIovArea(8) as b, v72.PageMap(8) as pages:
        p = pages.alloc()
        batch = [a[0].netmem, a[1].netmem, p, a[2].netmem, uring_area[0].netmem, a[3].netmem, b[0].netmem,
                 a[4].netmem, p, p]
        assert v72.get_netmem_bulk(batch) == 10
        assert (a.binding_refcount, b.binding_refcount, v72.netmem_ref_count(p)) == (6, 2, 4)
        assert uring_area.user_refs(0) == 0
        with pytest.raises(netmem_ffi.UseAfterFreeError, match=r"refs\[11\]"):
            v72.put_netmem_bulk(batch + [p, p])  # p reaches zero at refs[10]
        assert (a.binding_refcount, b.binding_refcount, v72.netmem_ref_count(p)) == (6, 2, 4)
        assert v72.put_netmem_bulk(batch) == 10
        assert (a.binding_refcount, b.binding_refcount, v72.netmem_ref_count(p)) == (1, 1, 1)
        v72.put_netmem(p)


def test_bulk_follows_each_niovs_owner_word(v72) -> None:
    """Owner words re-pointed at other areas: each ref moves the binding its own word names, never a cached one."""
    with v72.NetIovArea(8) as a, v72.NetIovArea(4) as b, v72.NetIovArea(4) as c:
        def point(i: int, owner: int) -> None:
            a[i].cdata.owner = v72.ffi.cast("struct net_iov_area *", owner)

        for i, target in ((0, b), (1, c), (2, b), (3, c)):
            point(i, target.owner)
        try:
            batch = [a[i].netmem for i in (0, 1, 2, 3, 4, 0)]
            assert v72.get_netmem_bulk(batch) == 6
            assert (a.binding_refcount, b.binding_refcount, c.binding_refcount) == (2, 4, 3)
            point(5, 0x1000)  # no area's owner: the kernel would follow it
            with pytest.raises(netmem_ffi.ForeignOwnerError, match=r"refs\[6\]"):
                v72.put_netmem_bulk(batch + [a[5].netmem])
            assert (a.binding_refcount, b.binding_refcount, c.binding_refcount) == (2, 4, 3)
            assert v72.put_netmem_bulk(batch) == 6
            assert (a.binding_refcount, b.binding_refcount, c.binding_refcount) == (1, 1, 1)
        finally:
            for i in range(6):
                point(i, a.owner)


def test_bulk_rejects_bad_buffers(prof) -> None:
    with pytest.raises(netmem_ffi.NetmemTypeError):
        prof.model.get_netmem_bulk(array.array("I", [1, 2]))
    with pytest.raises(netmem_ffi.NetmemTypeError, match=r"refs\[1\]"):
        prof.model.get_netmem_bulk([1, "x"])
    with pytest.raises(netmem_ffi.NetmemTypeError):
        prof.model.get_netmem_bulk(42)
    assert prof.model.get_netmem_bulk([]) == 0


def _in_threads(work, threads: int) -> None:
    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def _hammer(get, put, ref, threads=4, rounds=50_000) -> None:
    def work() -> None:
        for _ in range(rounds):
            get(ref)
        for _ in range(rounds // 2):
            put(ref)

    _in_threads(work, threads)


def test_concurrent_get_put_exact(v72) -> None:
    with v72.NetIovArea(8) as area, v72.PageMap(8) as pages:
        n, p = area[2].netmem, pages.alloc()
        _hammer(v72.get_netmem, v72.put_netmem, n)
        _hammer(v72.get_netmem, v72.put_netmem, p)
        assert area.binding_refcount == 1 + 4 * 25_000
        assert v72.netmem_ref_count(p) == 1 + 4 * 25_000
        v72.put_netmem_bulk([n] * 100_000 + [p] * 100_000)
        assert area.binding_refcount == 1 and v72.netmem_ref_count(p) == 1
        v72.put_netmem(p)


def test_concurrent_pp_ref_and_unref(v72) -> None:
    with v72.NetIovArea(2) as area:
        n = area[0].netmem
        v72.page_pool_fragment_netmem(n, 1)
        _hammer(v72.page_pool_ref_netmem, lambda r: v72.page_pool_unref_netmem(r, 1), n, rounds=20_000)
        assert area[0].pp_ref_count == 1 + 4 * 10_000


def test_the_concurrency_check_catches_a_lost_update(v72) -> None:
    """The exact-count check used above fails on an increment that is not atomic.

    Two threads do read-modify-write on a niov's pp_ref_count with the read and
    the write split by a barrier (the interleaving a plain ``c = c + 1`` allows),
    so every round loses one update and the check sees each one; the same check
    passes for the runtime's atomic page_pool_ref_netmem() from two threads.
    """
    rounds = 200
    with v72.NetIovArea(2) as area:
        niov = area[0]
        counter = niov.cdata.desc.pp_ref_count
        barrier = threading.Barrier(2)

        def racy() -> None:
            for _ in range(rounds):
                value = counter.counter
                barrier.wait()
                counter.counter = value + 1
                barrier.wait()

        _in_threads(racy, 2)
        lost = 2 * rounds - counter.counter
        counter.counter = 0

        def atomic() -> None:
            for _ in range(20_000):
                v72.page_pool_ref_netmem(niov.netmem)

        _in_threads(atomic, 2)
        exact = niov.pp_ref_count
    assert lost == rounds, "the check must see every update the racy increment lost"
    assert exact == 2 * 20_000



def _one_by_one(batch: list, counts: dict, key: dict, sign: int) -> tuple:
    """*batch* applied ref by ref to a model of *counts*: ((index, error type) of the first bad ref, None) or (None, counts)."""
    counts = dict(counts)
    for i, ref in enumerate(batch):
        k = key.get(ref)
        if k is None:
            return (i, netmem_ffi.NotOwnedError), None
        if k[0] == "page" and counts[k] < 1:
            return (i, netmem_ffi.UseAfterFreeError), None
        if k[0] == "binding" and sign < 0 and counts[k] - 1 < 1:  # the area's own reference cannot be dropped
            return (i, netmem_ffi.RefcountUnderflowError), None
        counts[k] += sign
    return None, counts


def test_bulk_matches_refs_one_by_one(prof) -> None:
    """Random batches over two areas and two page maps (map switches, tail pages, binding runs cut anywhere,
    owner words of area a re-pointed at area b).

    Each bulk call ends as its refs one by one would, or names their first bad
    ref as read and changes nothing (no page freed); pages put to zero are
    freed only when the whole batch succeeds.
    """
    import random

    rng = random.Random(1211)
    with prof.NetIovArea(8) as a, prof.NetIovArea(4) as b, prof.PageMap(16) as m1, prof.PageMap(8) as m2:
        areas, maps = {"a": a, "b": b}, {"m1": m1, "m2": m2}
        heads: dict[int, tuple[str, int]] = {}  # head ref -> (its map, order)

        def alloc(name: str) -> None:
            order = rng.choice((0, 1))
            heads[maps[name].alloc(order=order)] = (name, order)

        for name in ("m1", "m1", "m1", "m2", "m2"):
            alloc(name)
        owners = ["a"] * 8  # whose binding each niov of area a moves

        def point(i: int, name: str) -> None:
            niov = a[i].cdata
            niov.owner = prof.ffi.cast(prof.ffi.typeof(niov.owner), areas[name].owner)
            owners[i] = name

        for _ in range(300):
            if rng.random() < 0.3:
                point(rng.randrange(8), rng.choice("aab"))
            key = {b[i].netmem: ("binding", "b") for i in range(4)}
            key.update({a[i].netmem: ("binding", owners[i]) for i in range(8)})
            for h, (name, order) in heads.items():
                key[h] = key[h + order * maps[name].stride] = ("page", h)  # a tail moves its head
            counts = {("binding", n): ar.binding_refcount for n, ar in areas.items()}
            counts.update({("page", h): prof.netmem_ref_count(h) for h in heads})
            pool = list(key)
            batch = [rng.choice(pool) if rng.random() < 0.98 else 0xDEAD0000 for _ in range(rng.randrange(1, 40))]
            at = rng.randrange(len(batch))
            batch[at:at] = [a[rng.randrange(8)].netmem for _ in range(rng.choice((0, 3, 70, 140)))]  # a run
            sign = rng.choice((1, -1))
            bad, after = _one_by_one(batch, counts, key, sign)
            allocated = {n: m.allocated for n, m in maps.items()}
            call = prof.model.get_netmem_bulk if sign > 0 else prof.model.put_netmem_bulk
            if bad:
                with pytest.raises(bad[1], match=rf"refs\[{bad[0]}\] = {batch[bad[0]]:#x} .*whole batch"):
                    call(batch)
                after = counts
            else:
                assert call(array.array("Q", batch)) == len(batch)
            freed = [h for h in heads if after[("page", h)] == 0]
            for name, m in maps.items():
                assert m.allocated == allocated[name] - sum(1 << heads[h][1] for h in freed if heads[h][0] == name)
            for k, c in after.items():
                if k[0] == "binding":
                    assert areas[k[1]].binding_refcount == c, k
                elif c:
                    assert prof.netmem_ref_count(k[1]) == c, k
            for h in freed:
                alloc(heads.pop(h)[0])
        for h in heads:
            prof.model.put_netmem_bulk([h] * prof.netmem_ref_count(h))
        for i in range(8):
            point(i, "a")
        for ar in areas.values():
            prof.model.put_netmem_bulk([ar[0].netmem] * (ar.binding_refcount - 1))
