"""Offsets and sizes of every struct of every profile, from the compiled modules,
against the tables of docs/netmem-abi.md (LP64), and v6.17 against the running kernel."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

import netmem_ffi
from netmem_ffi.abicheck import asserts
# docs/netmem-abi.md sections 2.3 and 2.5: (member, offset, size) in order, and sizeof.
NET_IOV_LP64 = {
    "v6.12": (48, [("__unused_padding", 0, 8), ("pp_magic", 8, 8), ("pp", 16, 8), ("owner", 24, 8),
                   ("dma_addr", 32, 8), ("pp_ref_count", 40, 8)]),
    "v6.15": (48, [("__unused_padding", 0, 8), ("pp_magic", 8, 8), ("pp", 16, 8), ("owner", 24, 8),
                   ("dma_addr", 32, 8), ("pp_ref_count", 40, 8)]),
    "v6.16": (48, [("type", 0, 8), ("pp_magic", 8, 8), ("pp", 16, 8), ("owner", 24, 8),
                   ("dma_addr", 32, 8), ("pp_ref_count", 40, 8)]),
    "v6.17": (64, [("desc", 0, 48), ("_flags", 0, 8), ("pp_magic", 8, 8), ("pp", 16, 8),
                   ("_pp_mapping_pad", 24, 8), ("dma_addr", 32, 8), ("pp_ref_count", 40, 8),
                   ("owner", 48, 8), ("type", 56, 8)]),
    "v6.19": (64, [("desc", 0, 48), ("_flags", 0, 8), ("pp_magic", 8, 8), ("pp", 16, 8),
                   ("_pp_mapping_pad", 24, 8), ("dma_addr", 32, 8), ("pp_ref_count", 40, 8),
                   ("owner", 48, 8), ("type", 56, 4)]),
    "v7.2": (64, [("desc", 0, 48), ("type", 48, 4), ("owner", 56, 8)]),
}
NET_IOV_OWNER_TYPE = {
    "v6.12": "struct dmabuf_genpool_chunk_owner *",
    "v6.15": "struct net_iov_area *",
    "v6.16": "struct net_iov_area *",
    "v6.17": "struct net_iov_area *",
    "v6.19": "struct net_iov_area *",
    "v7.2": "struct net_iov_area *",
}
NETMEM_DESC_LP64 = [("_flags", 0, 8), ("pp_magic", 8, 8), ("pp", 16, 8), ("_pp_mapping_pad", 24, 8),
                    ("dma_addr", 32, 8), ("pp_ref_count", 40, 8)]
NET_IOV_AREA_LP64 = [("niovs", 0, 8), ("num_niovs", 8, 8), ("base_virtual", 16, 8)]
PAGE_WINDOW_LP64 = {"flags": (0, 8), "pp_magic": (8, 8), "compound_head": (8, 8), "pp": (16, 8),
                    "_pp_mapping_pad": (24, 8), "dma_addr": (32, 8), "pp_ref_count": (40, 8),
                    "page_type": (48, 4), "_refcount": (52, 4)}
ENUM_SIZE = {"v6.16": 8, "v6.17": 8, "v6.19": 4, "v7.2": 4}
ASSERT_COUNT = {"v6.12": 4, "v6.15": 4, "v6.16": 4, "v6.17": 13, "v6.19": 13, "v7.2": 7}


def top(layout):
    return [(f.name, f.offset, f.size) for f in layout.top_level()]


def test_net_iov_matches_docs(prof: netmem_ffi.Profile) -> None:
    size, members = NET_IOV_LP64[prof.name]
    niov = prof.layouts.struct("net_iov")
    assert niov.size == size == prof.ffi.sizeof("struct net_iov")
    assert niov.align == 8
    assert top(niov) == members
    assert niov.field("owner").type == NET_IOV_OWNER_TYPE[prof.name]


def test_netmem_desc_and_area(prof: netmem_ffi.Profile) -> None:
    structs = prof.layouts.structs
    assert ("netmem_desc" in structs) == prof.spec.has_netmem_desc
    if prof.spec.has_netmem_desc:
        assert structs["netmem_desc"].size == 48
        assert top(structs["netmem_desc"]) == NETMEM_DESC_LP64
    assert ("net_iov_area" in structs) == prof.spec.has_area
    if prof.spec.has_area:
        assert structs["net_iov_area"].size == 24
        assert top(structs["net_iov_area"]) == NET_IOV_AREA_LP64


def test_v72_desc_members_are_dotted(v72: netmem_ffi.Profile) -> None:
    niov = v72.layouts.struct("net_iov")
    assert [(f.name, f.offset) for f in niov.fields if f.name.startswith("desc.")] == [
        ("desc." + n, o) for n, o, _ in NETMEM_DESC_LP64]
    # the hole the 7.2 reordering left between type and owner
    assert niov.field("owner").offset - (niov.field("type").offset + niov.field("type").size) == 4


def test_page_window(prof: netmem_ffi.Profile) -> None:
    page = prof.layouts.struct("page")
    assert {f.name: (f.offset, f.size) for f in page.fields} == PAGE_WINDOW_LP64 | {"_mapcount": (48, 4)}
    assert page.size == 64  # CONFIG_MEMCG=y, as Debian's amd64 configs


def test_enum_size_per_generation(prof: netmem_ffi.Profile) -> None:
    enums = prof.layouts.enums
    if prof.name not in ENUM_SIZE:
        assert "net_iov_type" not in enums
        return
    e = enums["net_iov_type"]
    assert e.size == ENUM_SIZE[prof.name]
    assert e.value("NET_IOV_DMABUF") == 0 and e.value("NET_IOV_IOURING") == 1
    assert ("NET_IOV_MAX" in dict(e.values)) == prof.spec.enum_has_max
    if prof.spec.enum_has_max:
        assert e.value("NET_IOV_MAX") == 2**64 - 1


def test_static_asserts_hold_and_count(prof: netmem_ffi.Profile) -> None:
    results = asserts.evaluate_all(prof.spec, prof.layouts)
    assert len(results) == ASSERT_COUNT[prof.name]
    assert all(r.ok for r in results), [r for r in results if not r.ok]


def test_assert_evaluation_catches_a_swap(v72: netmem_ffi.Profile) -> None:
    """The assert evaluator fails when a descriptor field moves (it can fail)."""
    desc = v72.layouts.struct("netmem_desc")
    swapped = tuple(f._replace(offset={8: 16, 16: 8}.get(f.offset, f.offset)) for f in desc.fields)
    broken = v72.layouts._replace(structs={**v72.layouts.structs,
                                                       "netmem_desc": desc._replace(fields=swapped)})
    failed = [r.expr for r in asserts.evaluate_all(v72.spec, broken) if not r.ok]
    assert len(failed) == 2 and all("pp" in e for e in failed)


def test_profiles_api() -> None:
    names = [p.name for p in netmem_ffi.profiles()]
    assert names == ["v6.12", "v6.15", "v6.16", "v6.17", "v6.19", "v7.2"]
    assert netmem_ffi.DEFAULT_PROFILE == "v7.2"
    assert netmem_ffi.get_netmem is netmem_ffi.profile("v7.2").get_netmem
    with pytest.raises(netmem_ffi.UnknownProfileError, match="v6.12, v6.15"):
        netmem_ffi.profile("v5.4")
    with pytest.raises(KeyError):
        netmem_ffi.profile("v5.4")


BTF = "/sys/kernel/btf/vmlinux"


def _pahole_members(struct: str) -> list[tuple[str, int, int]]:
    out = subprocess.run(["pahole", "-C", struct, BTF], capture_output=True, text=True, check=True).stdout
    members = []
    for line in out.splitlines():
        m = re.match(r"\s+(?:[^;/]*?[\s*])?(\w+);\s+/\*\s+(\d+)\s+(\d+)\s+\*/", line)
        if m:
            members.append((m.group(1), int(m.group(2)), int(m.group(3))))
    return members


@pytest.mark.skipif(not os.path.exists(BTF), reason="no /sys/kernel/btf/vmlinux on this machine")
@pytest.mark.skipif(shutil.which("pahole") is None, reason="pahole (Debian dwarves) not installed")
def test_v617_matches_running_kernel_via_pahole() -> None:
    release = os.uname().release
    if not release.startswith(("6.17", "6.18")):
        pytest.skip(f"running kernel {release} is not a v6.17-profile kernel (6.17/6.18)")
    model = netmem_ffi.profile("v6.17").layouts
    for struct in ("netmem_desc", "net_iov_area"):
        assert _pahole_members(struct) == top(model.struct(struct))
    kernel = _pahole_members("net_iov")
    # pahole prints the anonymous union's members (desc, then the mirror fields) with their offsets
    assert kernel == [(n, o, s) for n, o, s in top(model.struct("net_iov"))]
