"""construct / ctypes / bulk views generated from layouts, checked against cffi over real memory."""

from __future__ import annotations

import ctypes
import random
from typing import Any

import pytest

import netmem_ffi
from netmem_ffi.abi import registry
from netmem_ffi.errors import NetmemValueError
from netmem_ffi.kernel.references import names as reference_names
from netmem_ffi.layout import engine, views
from netmem_ffi.layout.types import LayoutSet, StructLayout
from netmem_ffi.report.subject import kernel_subject

PROFILES = registry.names()


def leaves(layout: StructLayout) -> list[str]:
    """Member names that are not expanded further (scalars, pointers, atomics)."""
    return [f.name for f in layout.fields if not any(g.name.startswith(f.name + ".") for g in layout.fields)]


def cffi_value(ffi: Any, cdata: Any, dotted: str) -> int:
    value = cdata
    for part in dotted.split("."):
        value = getattr(value, part)
    if isinstance(value, ffi.CData):
        kind = ffi.typeof(value).kind
        value = value.counter if kind == "struct" else int(ffi.cast("uintptr_t", value))
    return int(value)


def construct_value(parsed: Any, dotted: str) -> int:
    for part in dotted.split("."):
        parsed = parsed[part]
    return parsed


def covered(layout: StructLayout) -> bytearray:
    """1 for every byte some member covers, 0 for holes and tail padding."""
    mask = bytearray(layout.size)
    for f in layout.fields:
        mask[f.offset: f.offset + f.size] = b"\1" * f.size
    return mask


def live_records(prof: Any, name: str) -> list[bytes]:
    """Raw bytes of live runtime objects: niovs of both providers, and an allocated page."""
    ffi = prof.ffi
    if name == "page":
        pages = prof.PageMap(4)
        ref = pages.alloc(order=1)
        raw = [bytes(ffi.buffer(ffi.cast("struct page *", ref + i * pages.stride))) for i in range(2)]
        prof.model.put_netmem(ref)
        return raw
    out = []
    for provider in (netmem_ffi.NET_IOV_DMABUF, netmem_ffi.NET_IOV_IOURING):
        if provider == netmem_ffi.NET_IOV_IOURING and not registry.spec(prof.name).has_area:
            continue
        with prof.NetIovArea(3, provider, base_dma_addr=0x40000) as area:
            prof.model.get_netmem(area[1].netmem)
            out += [bytes(ffi.buffer(area[i].cdata)) for i in range(3)]
            prof.model.put_netmem(area[1].netmem)
    return out


@pytest.mark.parametrize("name", ["net_iov", "page"])
@pytest.mark.parametrize("profile", PROFILES)
def test_construct_parses_live_memory_like_cffi(profile: str, name: str) -> None:
    prof = netmem_ffi.profile(profile)
    layouts = prof.layouts
    view = views.construct_struct(layouts, name)
    for raw in live_records(prof, name):
        parsed = view.parse(raw)
        cdata = prof.ffi.from_buffer(f"struct {name} *", bytearray(raw))
        for member in leaves(layouts.struct(name)):
            assert construct_value(parsed, member) == cffi_value(prof.ffi, cdata, member), member
        assert view.build(parsed) == raw  # holes and padding of live objects are zero


@pytest.mark.parametrize("name", ["netmem_desc", "net_iov", "net_iov_area", "page"])
@pytest.mark.parametrize("profile", PROFILES)
def test_construct_and_ctypes_on_random_bytes(profile: str, name: str) -> None:
    prof = netmem_ffi.profile(profile)
    layouts = prof.layouts
    if name not in layouts.structs:
        pytest.skip(f"{profile} has no struct {name}")
    layout = layouts.struct(name)
    rng = random.Random(f"{profile}/{name}")
    raw = bytes(rng.getrandbits(8) for _ in range(layout.size))
    cdata = prof.ffi.from_buffer(f"struct {name} *", bytearray(raw))
    parsed = views.construct_struct(layouts, name).parse(raw)
    cls = views.ctypes_struct(layouts, name)
    instance = cls.from_buffer_copy(raw)
    assert ctypes.sizeof(cls) == prof.ffi.sizeof(f"struct {name}")
    for member in leaves(layout):
        want = cffi_value(prof.ffi, cdata, member)
        assert construct_value(parsed, member) == want, member
        got = instance
        for part in member.split("."):
            got = getattr(got, part)
        assert (got or 0) == want, member  # c_void_p reads NULL as None
    expected = bytes(b if keep else 0 for b, keep in zip(raw, covered(layout)))
    assert views.construct_struct(layouts, name).build(parsed) == expected


def ctypes_offset(cls: type, dotted: str) -> tuple[int, int]:
    """(offset, size) of a dotted member of a ctypes class, walking nested classes."""
    offset = 0
    for part in dotted.split("."):
        descriptor = getattr(cls, part)
        offset += descriptor.offset
        size = descriptor.size
        cls = type(getattr(cls.from_buffer_copy(bytes(ctypes.sizeof(cls))), part))
    return offset, size


@pytest.mark.parametrize("profile", PROFILES)
def test_ctypes_offsets_equal_cffi(profile: str) -> None:
    prof = netmem_ffi.profile(profile)
    for name, layout in prof.layouts.structs.items():
        cls = views.ctypes_struct(prof.layouts, name)
        for f in layout.fields:
            assert ctypes_offset(cls, f.name) == (
                prof.ffi.offsetof(f"struct {name}", *f.name.split(".")), f.size), (name, f.name)


def values_for(layouts: LayoutSet, name: str, seed: int) -> dict[str, Any]:
    """A random value for every top-level member (nested structs as dicts)."""
    rng = random.Random(seed)
    layout = layouts.struct(name)

    def fill(prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in layout.fields:
            rest = f.name[len(prefix):]
            if not f.name.startswith(prefix) or "." in rest:
                continue
            if any(g.name.startswith(f.name + ".") for g in layout.fields):
                out[rest] = fill(f.name + ".")
            else:
                signed = f.type.startswith("atomic")
                bits = 8 * f.size
                out[rest] = rng.randrange(-(1 << (bits - 1)), 1 << (bits - 1)) if signed else rng.getrandbits(bits)
        return out

    return fill("")


def strip(parsed: Any) -> Any:
    if hasattr(parsed, "items"):
        return {k: strip(v) for k, v in parsed.items() if k != "_io"}
    return parsed


@pytest.mark.parametrize("arch", ["s390x", "ppc64", "i386", "armhf", "x86_64"])
@pytest.mark.parametrize("profile", ["v6.16", "v6.19", "v7.2"])
def test_cross_target_views_round_trip(profile: str, arch: str) -> None:
    """Big-endian and 32-bit views: build -> parse gives the values back, in the target's byte order."""
    layouts = engine.layout_set(profile, arch)
    view = views.construct_struct(layouts, "net_iov")
    values = values_for(layouts, "net_iov", seed=hash((profile, arch)) & 0xFFFF)
    if profile == "v6.19":  # the mirror shares the desc bytes: give both the same values
        values.update(values["desc"])
    raw = view.build(values)
    assert len(raw) == layouts.struct("net_iov").size
    assert strip(view.parse(raw)) == values
    owner = layouts.struct("net_iov").field("owner")
    assert raw[owner.offset: owner.offset + owner.size] == values["owner"].to_bytes(owner.size, layouts.endianness)
    instance = views.ctypes_struct(layouts, "net_iov").from_buffer_copy(raw)
    assert instance.owner == values["owner"]
    assert views.parse_array(layouts, "net_iov", raw * 3)[2]["owner"] == values["owner"]


@pytest.mark.parametrize("profile", PROFILES)
def test_parse_array_over_a_live_area(profile: str) -> None:
    prof = netmem_ffi.profile(profile)
    layouts = prof.layouts
    with prof.NetIovArea(200) as area:
        buf = prof.ffi.buffer(area[0].cdata, 200 * layouts.struct("net_iov").size)
        records = views.parse_array(layouts, "net_iov", buf)
        tuples = views.parse_array(layouts, "net_iov", buf, 5, offset=layouts.struct("net_iov").size, as_dict=False)
        assert len(records) == 200
        for i in (0, 1, 199):
            cdata = area[i].cdata
            for member, value in records[i].items():
                assert value == cffi_value(prof.ffi, cdata, member), (i, member)
        assert tuples[0] == tuple(records[1].values())
        with pytest.raises(NetmemValueError, match="201 records"):
            views.parse_array(layouts, "net_iov", buf, 201)


def test_record_format_names_one_member_per_byte_range() -> None:
    fmt = views.record_format(engine.layout_set("v6.17", "x86_64"), "net_iov")
    assert fmt.size == 64
    assert fmt.names == ("desc._flags", "desc.pp_magic", "desc.pp", "desc._pp_mapping_pad", "desc.dma_addr",
                         "desc.pp_ref_count", "owner", "type")


def test_bitfields_are_refused_by_name() -> None:
    from netmem_ffi.layout.types import Field

    layouts = engine.layout_set("v7.2", "x86_64")
    layout = StructLayout("bits", 4, 4, (Field("flag", 0, 4, "unsigned int", 0, 1),))
    bits = LayoutSet(layouts.arch, 8, "little", {"bits": layout})
    with pytest.raises(NetmemValueError, match="'flag' is a bitfield"):
        views.construct_struct(bits, "bits")


@pytest.mark.parametrize("ref", reference_names())
def test_views_of_a_kernels_own_layouts(ref: str) -> None:
    """`layout --kernel`'s layouts (a kernel as read, any byte order and word size) give working views."""
    layouts = kernel_subject(f"reference:{ref}").layouts
    layout = layouts.struct("net_iov")
    cls = views.ctypes_struct(layouts, "net_iov")
    for f in layout.fields:
        assert ctypes_offset(cls, f.name) == (f.offset, f.size), (ref, f.name)
    values = values_for(layouts, "net_iov", seed=len(ref))
    if isinstance(values.get("desc"), dict) and set(values["desc"]) & set(values):
        values.update(values["desc"])  # the union mirror shares the desc bytes: same values
    view = views.construct_struct(layouts, "net_iov")
    raw = view.build(values)
    assert len(raw) == layout.size and strip(view.parse(raw)) == values
    owner = layout.field("owner")
    assert raw[owner.offset: owner.offset + owner.size] == values["owner"].to_bytes(owner.size, layouts.endianness)
