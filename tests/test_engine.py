"""The portable layout engine: host agreement, documented ILP32/LP64 numbers, options, errors."""

from __future__ import annotations

import re

import cffi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netmem_ffi
from netmem_ffi.layout import engine
from netmem_ffi.abi import registry
from netmem_ffi.abicheck.asserts import evaluate_all
from netmem_ffi.errors import NetmemValueError, UnknownProfileError, UnsupportedArchError
from netmem_ffi.abi.arches import host_arch
from netmem_ffi.layout.host import struct_layout
from netmem_ffi.abi import arches
from netmem_ffi.layout.models import model_layouts

PROFILES = registry.names()
LP64 = [a for a in arches.ARCHES if arches.MODELS[a].long == 8]
ILP32 = [a for a in arches.ARCHES if arches.MODELS[a].long == 4]


def offsets(layouts, struct: str) -> dict[str, tuple[int, int]]:
    return {f.name: (f.offset, f.size) for f in layouts.struct(struct).fields}


@pytest.mark.parametrize("profile", PROFILES)
def test_host_engine_equals_compiled_module(profile: str) -> None:
    host = netmem_ffi.profile(profile).layouts
    mine = engine.layout_set(profile, host_arch())
    assert mine.source.startswith("engine:") and host.source.startswith("cffi:")
    assert mine._replace(source="") == host._replace(source="")


@pytest.mark.parametrize("profile", PROFILES)
def test_model_layouts_come_from_the_engine_without_a_runtime(profile: str) -> None:
    # tools read the model from the engine on every architecture, the host included
    assert model_layouts(profile).source == f"engine:{arches.normalize_arch(host_arch())}"
    assert model_layouts(profile, host_arch()) == model_layouts(profile)
    assert model_layouts(profile, "s390x").source == "engine:s390x"


@pytest.mark.parametrize("arch", arches.ARCHES)
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("kernel_config", [False, True], ids=["plain", "kernel"])
def test_kernel_static_asserts_hold_everywhere(profile: str, arch: str, kernel_config: bool) -> None:
    config = engine.KernelConfig.kernel(arch) if kernel_config else None
    results = evaluate_all(registry.spec(profile), engine.layout_set(profile, arch, config))
    assert results and all(r.ok for r in results), [r for r in results if not r.ok]


# docs/netmem-abi.md section 2: (profile, struct, member) -> (LP64 offset/size, ILP32 offset/size)
DOCUMENTED = [
    ("v6.12", "net_iov", "__unused_padding", (0, 8), (0, 4)),
    ("v6.12", "net_iov", "pp_ref_count", (40, 8), (20, 4)),
    ("v6.15", "net_iov", "owner", (24, 8), (12, 4)),
    ("v6.16", "net_iov", "type", (0, 8), (0, 4)),
    ("v6.17", "net_iov", "owner", (48, 8), (24, 4)),
    ("v6.17", "net_iov", "type", (56, 8), (28, 4)),
    ("v6.19", "net_iov", "owner", (48, 8), (24, 4)),
    ("v6.19", "net_iov", "type", (56, 4), (28, 4)),
    ("v7.2", "net_iov", "type", (48, 4), (24, 4)),
    ("v7.2", "net_iov", "owner", (56, 8), (28, 4)),
    ("v7.2", "net_iov", "desc.pp", (16, 8), (8, 4)),
    ("v7.2", "netmem_desc", "pp_ref_count", (40, 8), (20, 4)),
    ("v7.2", "net_iov_area", "base_virtual", (16, 8), (8, 4)),
    ("v7.2", "page", "_refcount", (52, 4), (28, 4)),
]
SIZES = {"v6.12": (48, 24), "v6.15": (48, 24), "v6.16": (48, 24), "v6.17": (64, 32), "v6.19": (64, 32),
         "v7.2": (64, 32)}


@pytest.mark.parametrize("profile,struct,member,lp64,ilp32", DOCUMENTED)
@pytest.mark.parametrize("arch", arches.ARCHES)
def test_documented_offsets(profile: str, struct: str, member: str, lp64, ilp32, arch: str) -> None:
    want = lp64 if arches.MODELS[arch].long == 8 else ilp32
    assert offsets(engine.layout_set(profile, arch), struct)[member] == want


@pytest.mark.parametrize("arch", arches.ARCHES)
@pytest.mark.parametrize("profile", PROFILES)
def test_documented_net_iov_sizes(profile: str, arch: str) -> None:
    lp64, ilp32 = SIZES[profile]
    layouts = engine.layout_set(profile, arch)
    assert layouts.struct("net_iov").size == (lp64 if layouts.pointer_size == 8 else ilp32)
    assert layouts.struct("net_iov").align == layouts.pointer_size


@pytest.mark.parametrize("arch", arches.ARCHES)
@pytest.mark.parametrize("profile", ["v6.16", "v6.17", "v6.19", "v7.2"])
def test_enum_size_follows_ulong_max(profile: str, arch: str) -> None:
    """NET_IOV_MAX = ULONG_MAX: 8-byte enum on LP64, 4 on ILP32; without it 4 everywhere."""
    enum = engine.layout_set(profile, arch).enums["net_iov_type"]
    word = arches.MODELS[arch].long
    assert enum.size == (word if registry.spec(profile).enum_has_max else 4)
    if registry.spec(profile).enum_has_max:
        assert enum.value("NET_IOV_MAX") == (1 << (8 * word)) - 1


@pytest.mark.parametrize(
    "arch,memcg,aligned,size",
    [("i386", False, False, 32), ("i386", True, False, 36), ("i386", True, True, 40),
     ("armhf", True, False, 36), ("x86_64", False, False, 56), ("x86_64", False, True, 64),
     ("x86_64", True, True, 64), ("s390x", True, False, 64)],
)
def test_struct_page_size_config_knobs(arch: str, memcg: bool, aligned: bool, size: int) -> None:
    """docs 6.2: 32/36/40-byte pages on ILP32, 56/64 on LP64; the netmem window never moves."""
    config = engine.KernelConfig(aligned_struct_page=aligned, memcg=memcg)
    layouts = engine.layout_set("v7.2", arch, config)
    page = layouts.struct("page")
    assert page.size == size
    assert page.align == (2 if aligned else 1) * layouts.pointer_size
    assert offsets(layouts, "page") == offsets(engine.layout_set("v7.2", arch), "page")


def test_kernel_config_selects_aligned_page_per_arch() -> None:
    aligned = {a for a in arches.ARCHES if engine.KernelConfig.kernel(a).aligned_struct_page}
    assert aligned == {"x86_64", "i386", "arm64", "s390x", "riscv64", "loongarch64"}


def test_loongarch_page_is_debians() -> None:
    """docs 1.5: loong64's struct page is 80 bytes, ``virtual`` at 64, 16-byte aligned (its -dbg DWARF)."""
    full = engine.struct_layouts("v7.2", "loongarch64", engine.KernelConfig.kernel("loongarch64"))["page"]
    assert (full.size, full.align, full.offsetof("virtual"), full.field("virtual").type) == (80, 16, 64, "void *")
    plain = engine.struct_layouts("v7.2", "loongarch64")["page"]
    assert (plain.size, "virtual" in plain) == (64, False)
    assert offsets(engine.layout_set("v7.2", "loongarch64"), "net_iov") == offsets(
        engine.layout_set("v7.2", "x86_64"), "net_iov")


# docs 2.2: (profile, arch, dma_addr_bits) -> (base_dma_addr offset, size, struct size)
OWNER_DMA = [
    ("v6.15", "i386", 32, 16, 4, 20),
    ("v6.15", "i386", 64, 16, 8, 24),
    ("v6.15", "x86_64", 64, 32, 8, 40),
    ("v6.12", "i386", 32, 4, 4, 20),
    ("v6.12", "i386", 64, 4, 8, 24),
    ("v6.12", "armhf", 64, 8, 8, 32),
    ("v6.12", "arm64", 64, 8, 8, 40),
]


@pytest.mark.parametrize("profile,arch,bits,offset,size,total", OWNER_DMA)
def test_dma_addr_width_of_owner(profile: str, arch: str, bits: int, offset: int, size: int, total: int) -> None:
    owner = engine.struct_layouts(profile, arch, engine.KernelConfig(dma_addr_bits=bits))["dmabuf_genpool_chunk_owner"]
    assert (owner.field("base_dma_addr").offset, owner.field("base_dma_addr").size, owner.size) == (offset, size, total)


@pytest.mark.parametrize("bits,arch", [(32, "x86_64"), (48, "i386"), (16, "armhf")])
def test_bad_dma_addr_width_is_rejected(bits: int, arch: str) -> None:
    with pytest.raises(NetmemValueError, match=str(bits)):
        engine.layout_set("v7.2", arch, engine.KernelConfig(dma_addr_bits=bits))


@pytest.mark.parametrize(
    "alias,name",
    [("amd64", "x86_64"), ("X86_64", "x86_64"), ("i686", "i386"), ("x86", "i386"), ("aarch64", "arm64"),
     ("armv7", "armhf"), ("arm", "armhf"), ("ppc64el", "ppc64le"), ("powerpc64", "ppc64"), ("s390", "s390x"),
     ("riscv64-linux-gnu", "riscv64")],
)
def test_arch_aliases(alias: str, name: str) -> None:
    assert arches.normalize_arch(alias) == name
    assert engine.layout_set("v7.2", alias).arch == name


@pytest.mark.parametrize("bad", ["mips", "", "sparc64"])
def test_unknown_arch_lists_valid_names(bad: str) -> None:
    with pytest.raises(UnsupportedArchError) as info:
        engine.layout_set("v7.2", bad)
    assert repr(bad) in str(info.value) and all(a in str(info.value) for a in arches.ARCHES)


def test_unknown_profile() -> None:
    with pytest.raises(UnknownProfileError, match="v5.0"):
        engine.layout_set("v5.0", "x86_64")


def test_endianness_and_pointer_size() -> None:
    for arch in arches.ARCHES:
        layouts = engine.layout_set("v7.2", arch)
        assert layouts.endianness == ("big" if arch in ("s390x", "ppc64") else "little")
        assert layouts.pointer_size == (4 if arch in ILP32 else 8)


def test_unsupported_declaration_is_a_clear_error() -> None:
    with pytest.raises(NetmemValueError, match="struct missing"):
        engine.layout_text("struct missing; struct s { struct missing m; };", "x86_64")


# Property: any struct of plain C members lays out on the host as cffi lays it out.
SCALARS = ["char", "signed char", "unsigned char", "short", "unsigned short", "int", "unsigned int", "long",
           "unsigned long", "long long", "unsigned long long", "_Bool", "void *", "size_t", "long unsigned int"]
BITFIELD_TYPES = {"unsigned int": 32, "int": 32, "unsigned char": 8, "unsigned short": 16, "unsigned long long": 64}


def member_strategy(depth: int) -> st.SearchStrategy[str]:
    scalar = st.tuples(st.sampled_from(SCALARS), st.sampled_from(["", "[1]", "[3]", "[2][2]"])).map(
        lambda t: (t[0], t[1])
    )
    plain = scalar.map(lambda t: f"{t[0]} {{name}}{t[1]};")
    bitfield = st.sampled_from(sorted(BITFIELD_TYPES)).flatmap(
        lambda t: st.integers(0, BITFIELD_TYPES[t]).map(lambda w: f"{t} {{name}}:{w};" if w else f"{t} :0;")
    )
    options = [plain, bitfield]
    if depth:
        options.append(
            st.tuples(st.sampled_from(["struct", "union"]), st.lists(member_strategy(depth - 1), min_size=1,
                                                                     max_size=4)).map(
                lambda t: t[0] + " { short {name}; " + " ".join(t[1]) + " };")
        )
    return st.one_of(*options)


@settings(max_examples=150, deadline=None)
@given(st.lists(member_strategy(2), min_size=1, max_size=8))
def test_engine_matches_cffi_for_any_struct(members: list[str]) -> None:
    # Records start with a named member: an empty struct is 0 bytes in GNU C but 1 in cffi.
    counter = iter(range(1000))
    body = re.sub(r"\{name\}", lambda _: f"m{next(counter)}", " ".join(["char first;", *members]))
    text = f"struct s {{ {body} }};"
    ffi = cffi.FFI()
    ffi.cdef(text)
    assert engine.layout_text(text, host_arch())["s"] == struct_layout(ffi, "s"), text
