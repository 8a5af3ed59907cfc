"""BTF reader, writer and BTF -> LayoutSet: the running kernel, pahole, round trips, every kind."""

from __future__ import annotations

import struct

import cffi
import pytest
from btf_support import need_vmlinux, pahole_struct

import netmem_ffi
from netmem_ffi.layout import host as hostlayout
from netmem_ffi.layout.btf import layouts as btf_layouts
from netmem_ffi.layout.btf import uapi
from netmem_ffi.layout.btf.format import declare
from netmem_ffi.layout.btf.reader import BTF, BTFMember, BTFType, load_btf
from netmem_ffi.layout.btf.uapi import Kind
from netmem_ffi.layout.btf.writer import encode, extract, synthesize
from netmem_ffi.errors import KernelInputError
from netmem_ffi.abi import arches



@pytest.fixture(scope="module")
def kernel() -> BTF:
    return load_btf(need_vmlinux())


@pytest.fixture(scope="module")
def kernel_layouts(kernel: BTF) -> netmem_ffi.layout.types.LayoutSet:
    return btf_layouts.layout_set(kernel, arch=arches.host_arch())


def _pahole(struct: str) -> tuple[dict[str, tuple[int, int]], int]:
    return pahole_struct(need_vmlinux(), struct)


@pytest.mark.parametrize("struct", ["net_iov", "netmem_desc", "net_iov_area"])
def test_offsets_equal_pahole(kernel_layouts: netmem_ffi.layout.types.LayoutSet, struct: str) -> None:
    if struct not in kernel_layouts.structs:
        pytest.skip(f"the running kernel has no struct {struct}")
    members, size = _pahole(struct)
    ours = kernel_layouts.struct(struct)
    assert members, "pahole printed no members"
    assert ours.size == size
    for name, (offset, msize) in members.items():
        assert (ours.field(name).offset, ours.field(name).size) == (offset, msize), name


def test_page_window_equals_pahole(kernel_layouts: netmem_ffi.layout.types.LayoutSet) -> None:
    members, size = _pahole("page")
    page = kernel_layouts.struct("page")
    assert page.size == size
    for f in page.fields:
        if f.name in members:
            assert (f.offset, f.size) == members[f.name], f.name


def test_running_kernel_equals_v617_model(kernel_layouts: netmem_ffi.layout.types.LayoutSet) -> None:
    if "netmem_desc" not in kernel_layouts.structs or kernel_layouts.struct("net_iov").size != 64:
        pytest.skip("the running kernel is not of the v6.17 generation")
    if kernel_layouts.enums["net_iov_type"].size != 8:
        pytest.skip("the running kernel is not of the v6.17 generation")
    model = netmem_ffi.profile("v6.17").layouts
    for name in ("netmem_desc", "net_iov", "net_iov_area"):
        assert kernel_layouts.struct(name).fields == model.struct(name).fields
        assert kernel_layouts.struct(name).size == model.struct(name).size
    assert kernel_layouts.enums == model.enums
    page, mpage = kernel_layouts.struct("page"), model.struct("page")
    assert [(f.name, f.offset, f.size) for f in page.fields] == [(f.name, f.offset, f.size) for f in mpage.fields]
    assert {f.name for f in page.fields if f.type != mpage.field(f.name).type} <= {"flags"}


def test_c_scan_matches_a_python_walk(kernel: BTF) -> None:
    """The C walk of the type section finds the same record starts as a plain Python walk."""
    fresh = BTF(kernel.data, kernel.path)
    assert fresh.find("net_iov", frozenset({Kind.STRUCT})) is not None
    words, base, per = fresh._words, fresh._base, fresh._per
    starts, i = [], 0
    while i < len(words):
        starts.append(i)
        top = words[i + 1] >> 24
        i += base[top] + (words[i + 1] & 0xFFFFFF) * per[top]
    assert list(fresh._offsets) == starts and len(fresh) == len(starts) > 1000


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_extract_round_trip(kernel: BTF, kernel_layouts: netmem_ffi.layout.types.LayoutSet, byteorder: str) -> None:
    data = extract(kernel, byteorder=byteorder)
    back = BTF(data, "extract")
    assert back.byteorder == byteorder
    assert len(back) < 200 and len(data) < 16384
    again = btf_layouts.layout_set(back, arch=kernel_layouts.arch)
    assert again.structs == kernel_layouts.structs
    assert again.enums == kernel_layouts.enums
    assert again.pointer_size == kernel_layouts.pointer_size
    assert extract(back, byteorder=byteorder) == data  # the closure of a closure is itself


def test_synthesize_round_trip(prof: netmem_ffi.Profile) -> None:
    model = prof.layouts
    for byteorder in ("little", "big"):
        back = btf_layouts.layout_set(BTF(synthesize(model, byteorder), "synthetic"), arch=model.arch)
        assert back.endianness == byteorder
        assert set(back.structs) == set(model.structs)
        for name, s in model.structs.items():
            assert (back.struct(name).size, back.struct(name).fields) == (s.size, s.fields)
        assert back.enums == model.enums


def _every_kind() -> list[BTFType]:
    """One record of every kind, referring to each other by id (1-based positions)."""
    return [
        BTFType(1, Kind.INT, "long unsigned int", 8, extra=64),
        BTFType(2, Kind.INT, "int", 4, extra=uapi.BTF_INT_SIGNED << 24 | 32),
        BTFType(3, Kind.PTR, "", 1),
        BTFType(4, Kind.ARRAY, "", 0, array=(2, 1, 4)),
        BTFType(5, Kind.STRUCT, "bits", 16, True, members=(
            BTFMember("a", 2, 0, 3), BTFMember("b", 2, 3, 5), BTFMember("c", 1, 64, 0))),
        BTFType(6, Kind.UNION, "u", 8, members=(BTFMember("x", 1, 0), BTFMember("y", 2, 0))),
        BTFType(7, Kind.ENUM, "e", 4, True, enumerators=(("NEG", -1), ("POS", 7))),
        BTFType(8, Kind.FWD, "later", 0, True),
        BTFType(9, Kind.TYPEDEF, "ul_t", 1),
        BTFType(10, Kind.VOLATILE, "", 9),
        BTFType(11, Kind.CONST, "", 10),
        BTFType(12, Kind.RESTRICT, "", 3),
        BTFType(13, Kind.FUNC_PROTO, "", 2, params=(("p", 3), ("", 0))),
        BTFType(14, Kind.FUNC, "f", 13, extra=0, vlen=1),
        BTFType(15, Kind.VAR, "v", 2, extra=1),
        BTFType(16, Kind.DATASEC, ".data", 4, secinfos=((15, 0, 4),)),
        BTFType(17, Kind.FLOAT, "double", 8),
        BTFType(18, Kind.DECL_TAG, "tag", 5, extra=-1),
        BTFType(19, Kind.TYPE_TAG, "user", 3),
        BTFType(20, Kind.ENUM64, "e64", 8, enumerators=(("BIG", 2**64 - 1), ("ONE", 1))),
    ]


@pytest.mark.parametrize("byteorder", ["little", "big"])
@pytest.mark.parametrize("layout", [False, True])
def test_every_kind_round_trips(byteorder: str, layout: bool) -> None:
    types = _every_kind()
    data = encode(types, byteorder, layout=layout)
    back = BTF(data, "kinds")
    assert back.byteorder == byteorder
    assert back.header.hdr_len == (32 if layout else 24)
    assert list(back.types()) == types
    assert encode(list(back.types()), byteorder, layout=layout) == data


def test_spelling_like_cffi() -> None:
    types = _every_kind() + [
        BTFType(21, Kind.PTR, "", 13),  # int (*)(int *, ...)
        BTFType(22, Kind.PTR, "", 4),  # pointer to int[4]
        BTFType(23, Kind.STRUCT, "s", 40, members=(
            BTFMember("fp", 21, 0), BTFMember("pa", 22, 64), BTFMember("cv", 11, 128),
            BTFMember("arr", 4, 192), BTFMember("tag", 19, 256))),
    ]
    btf = BTF(encode(types), "spell")
    got = {f.name: f.type for f in btf_layouts.struct_layout(btf, 23).fields}
    assert got == {"fp": "int(*)(unsigned long *, ...)", "pa": "int(*)[4]", "cv": "unsigned long",
                   "arr": "int[4]", "tag": "unsigned long *"}


def test_bitfields_like_cffi() -> None:
    ffi = cffi.FFI()
    ffi.cdef("struct bits { int a:3; int b:5; unsigned long c; };")
    host = hostlayout.struct_layout(ffi, "bits")
    btf = BTF(encode(_every_kind()), "bits")
    ours = btf_layouts.struct_layout(btf, 5)
    assert [(f.name, f.offset, f.size, f.bit_offset, f.bit_size) for f in ours.fields] == \
        [(f.name, f.offset, f.size, f.bit_offset, f.bit_size) for f in host.fields]


@pytest.mark.parametrize("name,expected", [
    ("long unsigned int", "unsigned long"), ("long int", "long"), ("short unsigned int", "unsigned short"),
    ("long long unsigned int", "unsigned long long"), ("char", "char"), ("signed char", "signed char"),
    ("unsigned char", "unsigned char"), ("_Bool", "_Bool"), ("unsigned int", "unsigned int"),
])
def test_int_spelling(name: str, expected: str) -> None:
    assert btf_layouts.int_spelling(name) == expected


def test_unknown_kind_described_by_layout_section() -> None:
    types = [*_every_kind(), BTFType(21, 25, "future", 0, raw=bytes(range(4)) + bytes(16), vlen=2)]
    data = encode(types, layout={25: (4, 8)})
    back = BTF(data, "future")
    assert back.type(21).raw == types[-1].raw
    assert back.find("e64", frozenset({Kind.ENUM64})) == 20
    with pytest.raises(KernelInputError, match="unknown BTF kind 25"):
        len(BTF(encode(types), "future"))


def test_construct_declarations_agree_with_reader_sizes() -> None:
    f = declare("little")
    assert f.btf_header.sizeof() == uapi.BTF_HEADER_LEN
    assert f.btf_header_layout.sizeof() == uapi.BTF_HEADER_LAYOUT_LEN
    assert f.btf_type.sizeof() == uapi.BTF_TYPE_LEN
    assert f.btf_layout.sizeof() == uapi.BTF_LAYOUT_LEN
    for kind, (one, elem) in f.trailing.items():
        assert uapi.KIND_EXTRA[kind] == (one.sizeof() if one else 0, elem.sizeof() if elem else 0), kind
    assert set(f.trailing) == set(uapi.KIND_EXTRA)


def test_pointer_size_from_long(kernel: BTF) -> None:
    assert kernel.pointer_size == struct.calcsize("P")  # the running kernel has the host's word size
    assert kernel.size_of(kernel.find("long unsigned int", frozenset({Kind.INT}))) == kernel.pointer_size
