"""Kernel fidelity of the runtime (issue 15): each profile's helper surface is its kernel's."""

from __future__ import annotations

import enum
import inspect

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netmem_ffi as nm
from netmem_ffi.abi import registry


@pytest.mark.parametrize(("profile_name", "name", "first"), [
    ("v6.12", "get_netmem", "v6.16"),
    ("v6.15", "put_netmem", "v6.16"),
    ("v6.12", "get_netmem_bulk", "v6.16"),
    ("v6.12", "page_pool_unref_and_test", "v6.15"),
    ("v6.12", "netmem_to_page_unchecked", "v6.15"),
    ("v6.12", "net_iov_init", "v7.2"),
    ("v6.15", "net_iov_init", "v7.2"),
    ("v6.19", "netmem_to_nmdesc", "v7.2"),
    ("v6.16", "pp_page_to_nmdesc", "v6.17"),
    ("v7.2", "page_pool_is_last_ref", "v6.12"),
    ("v7.2", "netmem_clear_lsb", "v6.12"),
])
def test_a_helper_the_generation_lacks_raises_unavailable(profile_name: str, name: str, first: str) -> None:
    p = nm.profile(profile_name)
    assert not p.available(name)
    with pytest.raises(nm.UnavailableError) as info:
        getattr(p, name)(1)
    assert isinstance(info.value, nm.NetmemError)
    assert info.value.value == name and info.value.first == first
    assert name in str(info.value) and profile_name in str(info.value)


def test_net_iov_init_on_old_generations_changes_nothing() -> None:
    p = nm.profile("v6.15")
    with p.NetIovArea(2) as area:
        before = bytes(p.ffi.buffer(p.ffi.cast("struct net_iov *", area[0].addr)))
        with pytest.raises(nm.UnavailableError, match="appeared in kernel 7.2"):
            p.net_iov_init(area[0], area, nm.NET_IOV_IOURING)
        assert bytes(p.ffi.buffer(p.ffi.cast("struct net_iov *", area[0].addr))) == before


def test_renamed_helper_names_the_generation_name() -> None:
    old, new = nm.profile("v6.12"), nm.profile("v6.15")
    with pytest.raises(nm.UnavailableError, match="kernel 6.12 calls it page_pool_is_last_ref"):
        old.page_pool_unref_and_test(1)
    with pytest.raises(nm.UnavailableError, match="later kernels call it page_pool_unref_and_test"):
        new.page_pool_is_last_ref(1)
    assert old.available("page_pool_is_last_ref") and new.available("page_pool_unref_and_test")


def test_old_name_has_the_new_semantics(prof: nm.Profile, pages: object) -> None:
    name = "page_pool_is_last_ref" if prof.available("page_pool_is_last_ref") else "page_pool_unref_and_test"
    ref = pages.alloc()  # type: ignore[attr-defined]
    prof.page_pool_fragment_netmem(ref, 2)
    last_ref = getattr(prof, name)
    assert last_ref(ref) is False and last_ref(ref) is True
    assert prof.page_pool_unref_netmem(ref, 1) == 0  # the counter reads 1 again after the last ref


@pytest.mark.parametrize("spec", registry.PROFILES, ids=lambda s: s.name)
def test_surface_follows_the_table(spec: registry.ProfileSpec) -> None:
    """Every gated name is callable exactly where its release window holds, under kernel and attribute name."""
    p = nm.profile(spec.name)
    key = registry.release_key(spec.release)
    for h in registry.HELPERS:
        expect = registry.release_key(h.since) <= key and (h.until is None or key <= registry.release_key(h.until))
        assert p.available(h.name) is expect is p.available(h.attr), h
        assert (h.name in spec.absent_helpers) is not expect
        if h.name != h.attr:
            assert getattr(p, h.name) == getattr(p, h.attr)


def test_kernel_double_underscore_names_resolve() -> None:
    p = nm.profile("v7.2")
    with p.PageMap(2) as pages:
        ref = pages.alloc()
        assert getattr(p, "__netmem_to_page")(ref) == ref
        assert getattr(p, "__netmem_to_nmdesc")(ref) == ref
        p.put_netmem(ref)
    with pytest.raises(AttributeError):
        getattr(p, "__no_such_helper")


def test_available_rejects_unknown_names() -> None:
    with pytest.raises(nm.NetmemValueError, match="not a helper"):
        nm.profile("v7.2").available("netmem_frobnicate")
    assert nm.profile("v6.12").available("netmem_is_net_iov")  # in every generation


def test_stand_in_keeps_the_signature_and_the_model_keeps_everything() -> None:
    p = nm.profile("v6.12")
    assert inspect.signature(p.net_iov_init) == inspect.signature(nm.profile("v7.2").net_iov_init)
    with p.NetIovArea(2) as area:
        p.model.get_netmem(area[1].netmem)
        assert area.binding_refcount == 2
        p.model.put_netmem(area[1].netmem)
        assert area.binding_refcount == 1


def test_clear_lsb_and_pp_page_to_nmdesc(v72: nm.Profile) -> None:
    old = nm.profile("v6.17")
    with old.NetIovArea(1) as area, old.PageMap(2) as pages:
        assert old.netmem_clear_lsb(area[0].netmem) == area[0].addr
        page = pages.alloc()
        with pytest.warns(nm.NetmemWarning, match="not a page_pool page"):
            assert old.pp_page_to_nmdesc(page) == page
        old.page_pool_set_pp_info(0x1000, page)
        assert old.pp_page_to_nmdesc(page) == page
        with pytest.raises(nm.NotPageError):
            old.pp_page_to_nmdesc(area[0].netmem)
        old.page_pool_clear_pp_info(page)
        old.put_netmem(page)


def test_net_iov_type_is_an_int_enum(prof: nm.Profile, area: object) -> None:
    assert issubclass(nm.NetIovType, enum.IntEnum)
    assert nm.NET_IOV_DMABUF is nm.NetIovType.NET_IOV_DMABUF and nm.NET_IOV_DMABUF == 0
    assert nm.NET_IOV_IOURING is nm.NetIovType.NET_IOV_IOURING and nm.NET_IOV_IOURING == 1
    assert [m.name for m in nm.NetIovType] == ["NET_IOV_DMABUF", "NET_IOV_IOURING"]
    assert area[0].type is nm.NetIovType.NET_IOV_DMABUF  # type: ignore[index]
    assert "NET_IOV_DMABUF" in repr(area)


def test_exit_never_replaces_the_exception_in_flight(v72: nm.Profile) -> None:
    area = v72.NetIovArea(2)
    with pytest.warns(nm.NetmemWarning, match="while KeyError propagated"), pytest.raises(KeyError, match="mine"):
        with area:
            v72.get_netmem(area[0].netmem)
            raise KeyError("mine")
    assert not area.closed and area.binding_refcount == 2  # busy: nothing was freed under the reference
    with pytest.raises(nm.BusyError):  # without an exception in flight the failure is raised
        with area:
            pass
    v72.put_netmem(area[0].netmem)
    area.close()


def test_messages_show_refs_in_hex(v72: nm.Profile) -> None:
    with pytest.raises(nm.NotOwnedError, match="0x1001 "):
        v72.get_netmem(0x1001)
    with v72.NetIovArea(1) as area:
        assert f"{area[0].netmem:#x}" in repr(area[0])


# ---- the bytes decide: helpers against a model of the kernel's own logic, words overwritten ----

WORD = (1 << 64) - 1
words = st.integers(0, WORD)


def _niov_offset(p: nm.Profile, field: str) -> int:
    """Offset in struct net_iov of a descriptor field (inside ``desc`` from 7.2)."""
    if p.spec.desc_member and field != "owner":
        return int(p.ffi.offsetof("struct net_iov", "desc", field))
    return int(p.ffi.offsetof("struct net_iov", field))


def _poke(p: nm.Profile, addr: int, value: int) -> None:
    p.ffi.cast("unsigned long *", addr)[0] = value


def _kernel_idx(niov: int, niovs: int, stride: int) -> int:
    """``(unsigned int)(niov - owner->niovs)``: C pointer difference (truncating), then the cast."""
    diff = niov - niovs
    q = abs(diff) // stride
    return (q if diff >= 0 else -q) & 0xFFFFFFFF


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_niov_helpers_read_the_stored_words(prof: nm.Profile, data: st.DataObject) -> None:
    """owner, pp, pp_magic, dma_addr, pp_ref_count overwritten: each helper answers what the kernel would."""
    from netmem_ffi.abi.constants import word_constants

    magic_c = word_constants(64, dma_index=prof.spec.has_dma_index)  # index bits only where the release had them
    with prof.NetIovArea(8) as a, prof.NetIovArea(4) as b:
        i = data.draw(st.integers(0, 7), label="niov")
        niov = a[i]
        owner = data.draw(st.sampled_from([a.owner, b.owner, 0, None]), label="owner")
        owner = data.draw(words.filter(lambda w: w not in (a.owner, b.owner, 0)), label="foreign") \
            if owner is None else owner
        pp, magic, dma = data.draw(words), data.draw(words), data.draw(words)
        pp_ref = data.draw(st.integers(-(1 << 63), (1 << 63) - 1))
        for field, value in (("owner", owner), ("pp", pp), ("pp_magic", magic), ("dma_addr", dma),
                             ("pp_ref_count", pp_ref & WORD)):
            _poke(prof, niov.addr + _niov_offset(prof, field), value)
        # the pure loads: the words as stored
        assert prof.net_iov_owner(niov) == owner
        assert prof.netmem_get_pp(niov.netmem) == pp
        assert prof.netmem_get_dma_addr(niov.netmem) == dma
        assert prof.netmem_get_pp_magic(niov.netmem) == magic & ~magic_c.pp_dma_index_mask & WORD
        assert prof.netmem_is_pp(niov.netmem) == (magic & magic_c.pp_magic_mask == magic_c.pp_signature)
        assert niov.pp_ref_count == pp_ref
        # through the owner: container_of(niov->owner) -> its area; NULL or foreign would oops
        target = {a.owner: a, b.owner: b}.get(owner)
        expect_error = nm.NullOwnerError if owner == 0 else nm.ForeignOwnerError
        if target is None:
            with pytest.raises(expect_error):
                prof.net_iov_idx(niov)
            with pytest.raises(expect_error):
                prof.model.get_netmem(niov.netmem)
            assert a.binding_refcount == 1 and b.binding_refcount == 1
        else:
            assert prof.net_iov_idx(niov) == _kernel_idx(niov.addr, target.base, a.stride)
            prof.model.get_netmem(niov.netmem)
            assert (a.binding_refcount, b.binding_refcount) == ((2, 1) if target is a else (1, 2))
            prof.model.put_netmem(niov.netmem)
        _poke(prof, niov.addr + _niov_offset(prof, "owner"), a.owner)  # let close() see its own niov
        _poke(prof, niov.addr + _niov_offset(prof, "pp_ref_count"), 0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_compound_head_is_the_stored_word(prof: nm.Profile, data: st.DataObject) -> None:
    """A tail's compound_head overwritten: head, and the _refcount get/put move, follow the word."""
    with prof.PageMap(16) as m, prof.PageMap(4) as other:
        head = m.alloc(order=2)  # pages 0..3
        single = m.alloc()  # page 4
        far = other.alloc()
        size = int(prof.ffi.sizeof("struct page"))
        tail = head + data.draw(st.integers(1, 3), label="tail") * size
        choice = data.draw(st.sampled_from(["own", "single", "free", "clear", "other", "wild"]), label="word")
        word = {"own": head | 1, "single": single | 1, "free": (head + 9 * size) | 1, "clear": 0,
                "other": far | 1, "wild": data.draw(words, label="wild") | 1}[choice]
        off = int(prof.ffi.offsetof("struct page", "compound_head"))
        _poke(prof, tail + off, word)
        # the kernel: bit 0 set -> head = word - 1; else the page is its own head
        expect = tail if not word & 1 else word - 1
        inside = m.page(0) <= expect < m.page(0) + 16 * size and (expect - m.page(0)) % size == 0
        if not inside:
            with pytest.raises(nm.CompoundHeadError, match="outside its memory map"):
                prof.netmem_compound_head(tail)
            with pytest.raises(nm.CompoundHeadError):
                prof.model.get_netmem(tail)
        elif choice == "free":
            with pytest.raises(nm.UseAfterFreeError):
                prof.netmem_compound_head(tail)
        else:
            assert prof.netmem_compound_head(tail) == expect
            before = prof.netmem_ref_count(expect)
            if before == 0:  # a tail made its own head: get_page() on a zero count (VM_BUG_ON): refused
                with pytest.raises(nm.UseAfterFreeError):
                    prof.model.get_netmem(tail)
                assert prof.netmem_ref_count(expect) == 0
            else:
                prof.model.get_netmem(tail)
                assert prof.netmem_ref_count(expect) == before + 1
                prof.model.put_netmem(tail)
                assert prof.netmem_ref_count(expect) == before
        _poke(prof, tail + off, head | 1)
        for ref in (head, single):
            prof.model.put_netmem(ref)
        prof.model.put_netmem(far)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_head_pages_count_is_checked_by_its_move(prof: nm.Profile, data: st.DataObject) -> None:
    """get/put of a head page, its ``_refcount`` written: the page must be live, and so must the head named.

    A head whose compound_head word is clear is planned without reading its count (the move's
    check answers); one whose word names a head (itself or another page) is checked both ways.
    """
    with prof.PageMap(8) as m:
        page, other = m.alloc(), m.alloc()
        counts = [-1, 0, 1, 2, 3, 2**31 - 1]
        own, theirs = data.draw(st.sampled_from(counts), label="own"), data.draw(st.sampled_from(counts), label="other")
        word = data.draw(st.sampled_from(["clear", "self", "other"]), label="word")
        target = {"clear": page, "self": page, "other": other}[word]
        pages = {page: prof.ffi.cast("struct page *", page), other: prof.ffi.cast("struct page *", other)}
        pages[page]._refcount.counter, pages[other]._refcount.counter = own, theirs
        pages[page].compound_head = {"clear": 0, "self": page | 1, "other": other | 1}[word]
        count = {page: own, other: theirs}

        def counts_now() -> tuple[int, int]:
            return int(pages[page]._refcount.counter), int(pages[other]._refcount.counter)

        before = counts_now()
        live = count[page] > 0 and count[target] > 0
        for op, bulk, delta in ((prof.model.get_netmem, prof.model.get_netmem_bulk, 1),
                                (prof.model.put_netmem, prof.model.put_netmem_bulk, -1)):
            error = (nm.UseAfterFreeError if not live else
                     nm.RefcountOverflowError if delta > 0 and count[target] == 2**31 - 1 else None)
            if delta < 0 and live and count[target] == 1:
                # a batch's second put finds the count its first took to zero: undone, nothing freed
                with pytest.raises(nm.UseAfterFreeError, match=r"refs\[1\]"):
                    bulk([page, page])
                assert counts_now() == before and m.allocated == 2
                continue
            for call in (op, lambda ref: bulk([ref])):
                if error is None:
                    call(page)
                    assert int(pages[target]._refcount.counter) == count[target] + delta
                    pages[target]._refcount.counter = count[target]
                else:
                    with pytest.raises(error):
                        call(page)
                assert counts_now() == before
        pages[page].compound_head = 0
        pages[page]._refcount.counter = pages[other]._refcount.counter = 1
        prof.model.put_netmem_bulk([page, other])


# ---- the devmem binding lifecycle: net_devmem_unbind_dmabuf() ----


def test_unbind_then_last_put_frees_the_binding(prof: nm.Profile) -> None:
    area = prof.NetIovArea(4)
    refs = [area[1].netmem, area[2].netmem, area[2].netmem]
    prof.model.get_netmem_bulk(refs)
    assert area.binding_refcount == 4 and not area.unbound
    with pytest.raises(nm.BusyError):
        area.close()
    area.unbind()  # the binding lives on: niovs are still referenced
    assert area.unbound and area.binding_refcount == 3 and area.outstanding == 3
    with pytest.raises(nm.BindingDeadError, match="already unbound"):
        area.unbind()
    prof.model.get_netmem(area[3].netmem)  # still alive: refcount_inc_not_zero succeeds
    for ref in refs + [area[3].netmem]:
        prof.model.put_netmem(ref)
    assert area.binding_refcount == 0 and area.outstanding == 0  # the last put freed it
    with pytest.raises(nm.BindingDeadError):  # refcount_inc_not_zero fails on a dead binding
        prof.model.get_netmem(area[0].netmem)
    with pytest.raises(nm.BindingDeadError):
        prof.model.put_netmem(area[0].netmem)
    assert area.binding_refcount == 0
    area.close()


def test_bound_area_still_refuses_the_last_put(v72: nm.Profile) -> None:
    with v72.NetIovArea(2) as area:
        with pytest.raises(nm.RefcountUnderflowError):
            v72.put_netmem(area[0].netmem)
        assert area.binding_refcount == 1


def test_unbind_of_io_uring_area_is_refused(v72: nm.Profile) -> None:
    with v72.NetIovArea(2, nm.NET_IOV_IOURING) as area, pytest.raises(nm.WrongProviderError):
        area.unbind()


def test_unbind_races_with_puts(v72: nm.Profile) -> None:
    """Threads put their references while the area is unbound: the count ends exactly at 0."""
    import threading

    area = v72.NetIovArea(8)
    per_thread = 2000
    v72.get_netmem_bulk([area[i % 8].netmem for i in range(4 * per_thread)])

    def worker(k: int) -> None:
        for i in range(per_thread):
            v72.put_netmem(area[(k + i) % 8].netmem)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    area.unbind()
    for t in threads:
        t.join()
    assert area.binding_refcount == 0
    with pytest.raises(nm.BindingDeadError):
        v72.get_netmem(area[0].netmem)
    area.close()


def test_dma_index_bits_only_where_the_release_had_them() -> None:
    """6.12 (release): PP_MAGIC_MASK = ~0x3; 6.15+: the index bits are masked out of the signature test."""
    from netmem_ffi.abi.constants import LP64

    sig_with_index = LP64.pp_signature | 5 << LP64.pp_dma_index_shift
    for name, is_pp in (("v6.12", False), ("v6.15", True), ("v7.2", True)):
        p = nm.profile(name)
        with p.PageMap(1) as pages:
            ref = pages.alloc()
            p.netmem_or_pp_magic(ref, sig_with_index)
            assert p.netmem_is_pp(ref) is is_pp and p.page_pool_page_is_pp(ref) is is_pp, name
            if is_pp:
                assert p.netmem_get_dma_index(ref) == 5
                p.netmem_set_dma_index(ref, 0)  # page_pool drops the index before it clears the magic
            p.netmem_clear_pp_magic(ref)
            p.model.put_netmem(ref)


# ---- the helpers a page_pool/netmem user reaches for ----


def test_page_forms_match_the_netmem_forms(prof: nm.Profile, pages: object, area: object) -> None:
    page = pages.alloc()  # type: ignore[attr-defined]
    prof.page_pool_fragment_page(page, 3)
    prof.page_pool_ref_page(page)
    assert prof.page_pool_unref_page(page, 2) == 2
    assert prof.page_pool_unref_page(page, 2) == 0
    prof.netmem_set_dma_addr(page, 0x7000)
    assert prof.page_pool_get_dma_addr(page) == 0x7000
    niov = area[0].netmem  # type: ignore[index]
    for call in (lambda: prof.page_pool_fragment_page(niov, 1), lambda: prof.page_pool_ref_page(niov),
                 lambda: prof.page_pool_unref_page(niov, 1), lambda: prof.page_pool_get_dma_addr(niov)):
        with pytest.raises(nm.NotPageError, match="takes a struct page"):
            call()
    prof.model.put_netmem(page)


def test_memory_provider_and_devmem_helpers(prof: nm.Profile) -> None:
    with prof.NetIovArea(4, base_dma_addr=0x10_0000) as area:
        niov = area[2]
        assert prof.net_devmem_iov_binding(niov) != 0  # the binding pointer stored in the chunk owner
        assert prof.net_iov_virtual_addr(niov) == 2 << 12  # base_virtual 0 + idx << PAGE_SHIFT
        if not prof.available("net_mp_niov_set_page_pool"):
            assert prof.spec.name == "v6.12"
            return

        class Pool:
            addr = 0xFFFF888012340000
            pages_state_hold_cnt = 0

        pool = Pool()
        prof.net_mp_niov_set_page_pool(pool, niov)
        assert prof.netmem_get_pp(niov.netmem) == pool.addr and prof.netmem_is_pp(niov.netmem)
        assert niov.pp_ref_count == 1 and pool.pages_state_hold_cnt == 1
        assert prof.net_mp_niov_set_dma_addr(niov, 0x4000) is False
        assert prof.netmem_get_dma_addr(niov.netmem) == 0x4000
        prof.net_mp_niov_clear_page_pool(niov)
        assert prof.netmem_get_pp(niov.netmem) == 0 and not prof.netmem_is_pp(niov.netmem)
        _poke(prof, niov.addr + _niov_offset(prof, "owner"), 0)
        with pytest.raises(nm.NullOwnerError):
            prof.net_iov_virtual_addr(niov)
        with pytest.raises(nm.NullOwnerError):
            prof.net_devmem_iov_binding(niov)
        _poke(prof, niov.addr + _niov_offset(prof, "owner"), area.owner)
        _poke(prof, niov.addr + _niov_offset(prof, "pp_ref_count"), 0)


def test_user_ref_index_outside_the_owner_area_is_refused(v72: nm.Profile) -> None:
    """Departure 8: the kernel indexes user_refs unchecked; an owner whose array is too short is refused."""
    with v72.NetIovArea(8, nm.NET_IOV_IOURING) as big, v72.NetIovArea(2, nm.NET_IOV_IOURING) as small:
        niov = big[5]
        _poke(v72, niov.addr + _niov_offset(v72, "owner"), small.owner)
        assert v72.net_iov_idx(niov) == _kernel_idx(niov.addr, small.base, big.stride)
        with pytest.raises(nm.NetmemValueError):
            v72.io_zcrx_get_niov_uref(niov)
        assert [small.user_refs(i) for i in range(2)] == [0, 0]
        _poke(v72, niov.addr + _niov_offset(v72, "owner"), big.owner)
        v72.io_zcrx_get_niov_uref(niov)
        assert big.user_refs(5) == 1 and v72.io_zcrx_put_niov_uref(niov)


def test_provider_before_6_16_is_the_owner_areas() -> None:
    """Departure 10: 6.12's net_is_devmem_iov (form not pinned) asks the owner area; a NULL owner would oops."""
    p = nm.profile("v6.12")
    with p.NetIovArea(2) as area:
        assert p.net_is_devmem_iov(area[0]) and area[0].type is nm.NET_IOV_DMABUF
        _poke(p, area[0].addr + _niov_offset(p, "owner"), 0)
        with pytest.raises(nm.NullOwnerError):
            p.net_is_devmem_iov(area[0])
        _poke(p, area[0].addr + _niov_offset(p, "owner"), area.owner)


def test_v6_15_net_is_devmem_iov_follows_pp_mp_ops() -> None:
    """6.15: niov->pp->mp_ops == &dmabuf_devmem_ops, not the area's type; NULL or foreign pp would oops."""
    p = nm.profile("v6.15")
    with p.NetIovArea(4) as devmem, p.NetIovArea(4, nm.NET_IOV_IOURING) as uring:
        own, other = p.PagePool(devmem), p.PagePool(uring)
        niov = p.page_pool_alloc_netmems(own)
        assert p.net_is_devmem_iov(niov)
        p.netmem_set_pp(niov, other.addr)  # a devmem niov in a foreign (io_uring) pool: the kernel says false
        assert not p.net_is_devmem_iov(niov)
        p.netmem_set_pp(niov, 0)
        with pytest.raises(nm.NullPoolError):
            p.net_is_devmem_iov(niov)
        p.netmem_set_pp(niov, 0xFFFF888000001000)
        with pytest.raises(nm.ForeignPoolError):
            p.net_is_devmem_iov(niov)
        p.netmem_set_pp(niov, own.addr)
        p.page_pool_put_full_netmem(own, niov)
        p.page_pool_destroy(own)
        p.page_pool_destroy(other)
        assert own.destroyed and other.destroyed


def test_binding_id_is_read_through_the_owner(prof: nm.Profile) -> None:
    with prof.NetIovArea(2) as a, prof.NetIovArea(2) as b:
        ida, idb = prof.net_devmem_iov_binding_id(a[0]), prof.net_devmem_iov_binding_id(b[1])
        assert ida >= 1 and idb == ida + 1 and prof.net_devmem_iov_binding_id(a[1]) == ida
        _poke(prof, a[0].addr + _niov_offset(prof, "owner"), b.owner)  # the owner decides the binding
        assert prof.net_devmem_iov_binding_id(a[0]) == idb
        _poke(prof, a[0].addr + _niov_offset(prof, "owner"), a.owner)
        binding_word = a.owner + int(prof.ffi.offsetof("struct dmabuf_genpool_chunk_owner", "binding"))
        saved = prof.ffi.cast("unsigned long *", binding_word)[0]
        _poke(prof, binding_word, 0xFFFF888000002000)  # a forged binding pointer in the owner
        with pytest.raises(nm.NotOwnedError):
            prof.net_devmem_iov_binding_id(a[0])
        _poke(prof, binding_word, saved)
