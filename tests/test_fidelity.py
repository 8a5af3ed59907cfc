"""Kernel fidelity of the runtime (issue 15): each profile's helper surface is its kernel's."""

from __future__ import annotations

import enum
import inspect

import pytest

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
