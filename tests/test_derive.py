"""Profiles derived from a kernel (issue 14): reference kernels, synthesized future kernels, derive CLI."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import test_helpers
import test_refcount
from btf_support import VMLINUX, need_vmlinux, without_net_iov

import netmem_ffi
from netmem_ffi.abi import registry
from netmem_ffi.abicheck.asserts import evaluate_all
from netmem_ffi.abicheck.check import check_source
from netmem_ffi.abicheck.derive import derive_generation, derive_source, read_kernel
from netmem_ffi.cli import main
from netmem_ffi.cli.output import EXIT_DIFF, EXIT_USAGE
from netmem_ffi.layout import engine
from netmem_ffi.layout.btf.writer import synthesize
from netmem_ffi.layout.types import EnumLayout, LayoutSet, limit_page
from netmem_ffi.runtime import builder, derived

#: x86_64 reference kernels by generation (compiled in the default tier; the others are slow).
FAST_REFERENCES = ("amd64-6.12", "amd64-6.16", "amd64-6.17", "amd64-6.19", "amd64-7.2")
SLOW_REFERENCES = ("amd64-6.18", "amd64-7.0", "amd64-7.1", "amd64-7.3")
V72_NIOV = "struct netmem_desc desc; enum net_iov_type type; struct net_iov_area *owner;"
#: Future kernels: v7.2 with net_iov's body replaced (and the enum widened for "type resized").
FUTURES = {
    "reordered": "struct netmem_desc desc; struct net_iov_area *owner; enum net_iov_type type;",
    "new member": "struct netmem_desc desc; enum net_iov_type type; unsigned int page_type; "
                  "struct net_iov_area *owner; unsigned long private;",
    "type resized": V72_NIOV,
    "descriptor moved": "enum net_iov_type type; struct net_iov_area *owner; struct netmem_desc desc;",
}
_MAX = ("NET_IOV_MAX", (1 << 64) - 1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One user cache directory for the module's derived profiles."""
    path = tmp_path_factory.mktemp("xdg-cache")
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(path)
    yield path
    if old is None:
        os.environ.pop("XDG_CACHE_HOME")
    else:
        os.environ["XDG_CACHE_HOME"] = old


def future_layouts(body: str, *, widen_enum: bool = False, base: str = "v7.2", desc: str | None = None
                   ) -> LayoutSet:
    """The *base* model on x86_64 with struct net_iov's members replaced by *body* (netmem_desc's by *desc*)."""
    text = registry.declarations(registry.spec(base), registry.cdefs_dir())
    text = re.sub(r"struct net_iov \{[^}]*\};", f"struct net_iov {{ {body} }};", text)
    if desc is not None:
        text = re.sub(r"struct netmem_desc \{[^}]*\};", f"struct netmem_desc {{ {desc} }};", text)
    enums = dict(engine.layout_set(base, "x86_64").enums)
    if widen_enum:
        text = text.replace("NET_IOV_IOURING\n", "NET_IOV_IOURING,\n\tNET_IOV_MAX = ULONG_MAX\n")
        old = enums["net_iov_type"]
        enums["net_iov_type"] = EnumLayout(old.name, 8, (*old.values, _MAX))
    structs = engine.layout_text(text, "x86_64")
    return LayoutSet("x86_64", 8, "little", limit_page({n: structs[n] for n in registry.STRUCTS if n in structs}),
                     enums, None, "synthetic")


def write_kernel(tmp: Path, name: str, layouts: LayoutSet) -> str:
    path = tmp / (re.sub(r"\W+", "-", name) + ".btf")
    path.write_bytes(synthesize(layouts))
    return str(path)


@pytest.fixture(scope="module", params=sorted(FUTURES))
def future(request: pytest.FixtureRequest, cache: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[netmem_ffi.Profile, LayoutSet]:
    """A profile derived from a synthesized future kernel, with the kernel's layouts."""
    layouts = future_layouts(FUTURES[request.param], widen_enum=request.param == "type resized")
    path = write_kernel(tmp_path_factory.mktemp("kernels"), request.param, layouts)
    return netmem_ffi.profile_for_kernel(path), layouts


# ---- reference kernels ----------------------------------------------------------------------------------


def _registry_match(name: str) -> None:
    prof = netmem_ffi.profile_for_kernel(f"reference:{name}", derive=True)
    registered = netmem_ffi.profile_for_kernel(f"reference:{name}")
    assert prof.derived and prof.source == f"reference:{name}" and not registered.derived
    assert registered is netmem_ffi.profile(registered.name)
    assert prof.layouts.structs == registered.layouts.structs
    assert prof.layouts.enums == registered.layouts.enums
    for field in ("asserts", "has_type_field", "has_area", "desc_member", "enum_has_max", "has_netmem_desc",
                  "absent_helpers"):
        assert getattr(prof.spec, field) == getattr(registered.spec, field), field


@pytest.mark.parametrize("name", FAST_REFERENCES)
def test_reference_kernel_derives_to_its_registry_profile(cache: Path, name: str) -> None:
    _registry_match(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_REFERENCES)
def test_reference_kernel_derives_to_its_registry_profile_slow(cache: Path, name: str) -> None:
    _registry_match(name)


@pytest.mark.parametrize("name", ["s390x-7.2", "armhf-6.12"])
def test_host_incompatible_layouts_are_refused(cache: Path, name: str) -> None:
    gen = derive_source(f"reference:{name}")
    assert gen.spec.asserts  # derivation itself works on any architecture
    with pytest.raises(netmem_ffi.UnsupportedArchError, match=r"derived for (s390x 64-bit big|armhf 32-bit "
                       r"little)-endian; this host is x86_64 64-bit little-endian; use --format c / layout"):
        netmem_ffi.profile_for_kernel(f"reference:{name}", derive=True)


# ---- synthesized future kernels -------------------------------------------------------------------------


def test_future_kernels_match_no_profile_and_compile_to_the_btf_offsets(future) -> None:
    prof, layouts = future
    assert prof.derived and prof.spec.desc_member
    assert prof.spec.enum_has_max == (layouts.enums["net_iov_type"].size == 8)
    for struct in ("net_iov", "netmem_desc", "net_iov_area"):
        kernel = layouts.struct(struct)
        assert prof.ffi.sizeof(f"struct {struct}") == kernel.size
        for f in kernel.top_level():
            assert prof.ffi.offsetof(f"struct {struct}", f.name) == f.offset, (struct, f.name)
    assert prof.layouts.struct("net_iov").fields == tuple(
        f._replace(type=prof.layouts.struct("net_iov").field(f.name).type) for f in layouts.struct("net_iov").fields)


def test_an_over_aligned_member_compiles_to_the_btf_offsets(cache: Path, tmp_path: Path) -> None:
    # a future net_iov whose owner sits on its own cacheline: the declarations need
    # __attribute__((aligned(64))), which cffi's cdef cannot read (a partial struct there)
    layouts = future_layouts(V72_NIOV)
    niov = layouts.struct("net_iov")
    moved = niov._replace(size=128, align=64, fields=tuple(
        f._replace(offset=64) if f.name == "owner" else f for f in niov.fields))
    layouts = layouts._replace(structs={**layouts.structs, "net_iov": moved})
    gen = derive_source(write_kernel(tmp_path, "aligned", layouts))
    assert "__attribute__((aligned(64)))" in gen.text
    assert "...;" in builder.cdef_text(gen.declarations()) and "__attribute__" not in builder.cdef_text(
        gen.declarations())
    prof = netmem_ffi.profile_for_kernel(write_kernel(tmp_path, "aligned", layouts))
    assert prof.ffi.offsetof("struct net_iov", "owner") == 64 and prof.ffi.sizeof("struct net_iov") == 128
    with prof.NetIovArea(4) as area:
        assert prof.net_iov_owner(area[3]) == area.owner and prof.net_iov_idx(area[3]) == 3


#: The behavioural tests of the registry profiles, run on each derived profile (fixtures below).
BEHAVIOUR = [getattr(mod, name) for mod in (test_helpers, test_refcount) for name in dir(mod)
             if name.startswith("test_") and "prof" in getattr(mod, name).__code__.co_varnames[:3]
             and "v72" not in getattr(mod, name).__code__.co_varnames[:3]]
V72_BEHAVIOUR = [test_helpers.test_net_iov_init_and_type, test_refcount.test_io_uring_niovs_left_alone_by_get_put,
                 test_refcount.test_io_zcrx_user_refs, test_refcount.test_concurrent_get_put_exact]


def _call(test, fixtures: dict[str, object]) -> None:
    code = test.__code__
    test(**{n: fixtures[n] for n in code.co_varnames[:code.co_argcount]})


#: Derived (forced) from reference kernels: the other combinations of the runtime's switches.
DERIVED_REFERENCES = ("amd64-6.12", "amd64-6.16", "amd64-6.17")


@pytest.fixture(scope="module", params=DERIVED_REFERENCES)
def derived_reference(request: pytest.FixtureRequest, cache: Path) -> netmem_ffi.Profile:
    return netmem_ffi.profile_for_kernel(f"reference:{request.param}", derive=True)


@pytest.mark.parametrize("test", BEHAVIOUR, ids=lambda t: t.__name__)
def test_registry_behaviour_holds_on_profiles_derived_from_reference_kernels(derived_reference, test) -> None:
    _behaviour(derived_reference, test)


@pytest.mark.parametrize("test", BEHAVIOUR + V72_BEHAVIOUR, ids=lambda t: t.__name__)
def test_registry_behaviour_holds_on_derived_profiles(future, test) -> None:
    _behaviour(future[0], test)


def _behaviour(prof: netmem_ffi.Profile, test) -> None:
    """Run one registry behavioural test on *prof*, with fresh areas and pages."""
    area = prof.NetIovArea(16, netmem_ffi.NET_IOV_DMABUF, base_dma_addr=0x10_0000_0000)
    uring = prof.NetIovArea(8, netmem_ffi.NET_IOV_IOURING) if prof.spec.has_area else None
    pages = prof.PageMap(64, nid=3, base_pfn=0x2000)
    try:
        if test.__name__ == "test_pp_unref_fast_path":
            for nr in (1, 2, 5):
                _call(test, {"prof": prof, "area": area, "nr": nr})
        else:
            _call(test, {"prof": prof, "v72": prof, "area": area, "pages": pages, "uring_area": uring})
    finally:
        for obj in (area, uring, pages):
            try:
                if obj is not None:
                    obj.close()
            except netmem_ffi.BusyError:
                pass


# ---- what the runtime needs, and the kernel's asserts -----------------------------------------------------


@pytest.mark.parametrize(("body", "missing"), [
    ("struct netmem_desc desc; enum net_iov_type type;", "owner"),
    ("unsigned long pp_magic; struct page_pool *pp; struct net_iov_area *owner;", "dma_addr"),
])
def test_a_member_the_runtime_needs_is_named(tmp_path: Path, body: str, missing: str) -> None:
    path = write_kernel(tmp_path, "lacking", future_layouts(body))
    with pytest.raises(netmem_ffi.KernelInputError, match=f"no member '{missing}'"):
        netmem_ffi.profile_for_kernel(path)


def test_a_kernel_before_net_iov_has_nothing_to_derive(tmp_path: Path) -> None:
    path = write_kernel(tmp_path, "pre-6.12", without_net_iov(engine.layout_set("v7.2", "x86_64")))
    with pytest.raises(netmem_ffi.KernelInputError, match=r"no struct net_iov \(before 6.12\)"):
        netmem_ffi.profile_for_kernel(path)


_SWAPPED = ("unsigned long {w0}; struct page_pool *pp; unsigned long pp_magic; {w3} unsigned long dma_addr; "
            "atomic_long_t pp_ref_count;")
#: Kernels whose pp and pp_magic trade places: in net_iov (6.15 shape), in netmem_desc (7.2 shape).
VIOLATIONS: dict[str, dict[str, str]] = {
    "NET_IOV_ASSERT_OFFSET": {
        "body": _SWAPPED.format(w0="__unused_padding", w3="struct net_iov_area *owner;"), "base": "v6.15"},
    "NETMEM_DESC_ASSERT_OFFSET": {
        "body": V72_NIOV, "desc": _SWAPPED.format(w0="_flags", w3="unsigned long _pp_mapping_pad;")},
}


@pytest.mark.parametrize("macro", sorted(VIOLATIONS))
def test_a_violated_kernel_assert_fails_the_build_naming_it(cache: Path, tmp_path: Path, macro: str) -> None:
    layouts = future_layouts(**VIOLATIONS[macro])
    path = write_kernel(tmp_path, "swapped", layouts)
    gen = derive_source(path)
    failing = {(r.macro, r.expr) for r in evaluate_all(gen.spec, layouts) if not r.ok}
    other = "net_iov" if macro == "NET_IOV_ASSERT_OFFSET" else "netmem_desc"
    assert failing == {(macro, f"offsetof(struct page, {f}) == offsetof(struct {other}, {f})")
                       for f in ("pp", "pp_magic")}
    before = sorted(Path(derived.cache_dir()).glob("*/*"))
    with pytest.raises(netmem_ffi.BuildError) as info:
        netmem_ffi.profile_for_kernel(path)
    assert set(re.findall(r"(\w+_ASSERT_OFFSET): ([^;]*)", str(info.value))) == failing
    assert sorted(Path(derived.cache_dir()).glob("*/*")) == before


def test_cached_load_in_a_new_process_compiles_nothing(cache: Path) -> None:
    prof = netmem_ffi.profile_for_kernel("reference:amd64-6.19", derive=True)
    assert pickle.loads(pickle.dumps(prof)) is prof and "derived from reference:amd64-6.19" in repr(prof)
    so = Path(prof.module_file)
    assert so.is_relative_to(cache / "netmem_ffi" / "derived")
    before = so.stat().st_mtime_ns
    code = ("import netmem_ffi; p = netmem_ffi.profile_for_kernel('reference:amd64-6.19', derive=True); "
            "print(p.derived, p.module_file); a = p.NetIovArea(4); p.get_netmem(a[1].netmem); "
            "print(a.binding_refcount); p.put_netmem(a[1].netmem); a.close()")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["True", str(so), "2"]
    assert so.stat().st_mtime_ns == before and [p.name for p in so.parent.iterdir()] == [so.name]
    so.unlink()  # a new inode: this process still maps the old one (truncating it in place would SIGBUS us)
    so.write_bytes(b"\x7fELF damaged")  # a damaged cache entry is built again
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["True", str(so), "2"] and so.stat().st_size > 10_000


# ---- netmem-ffi derive --------------------------------------------------------------------------------------


def test_derive_writes_a_piece_that_compiles_and_an_entry_equal_to_the_spec(tmp_path: Path, capsys) -> None:
    path = write_kernel(tmp_path, "future", future_layouts(FUTURES["new member"]))
    assert main(["derive", path, "-o", str(tmp_path / "out"), "--name", "v7.4"]) == 0
    gen = derive_source(path, name="v7.4")
    piece = tmp_path / "out" / "cdefs" / "net_iov_v7_4.h"
    assert piece.read_text() == gen.text and str(piece) in capsys.readouterr().out
    builder.check_source(gen.spec, registry.declarations(gen.spec, registry.cdefs_dir(),
                                                         pieces={gen.piece: piece.read_text()}))
    entry = (tmp_path / "out" / "registry_v7_4.py").read_text()
    loaded = eval(entry, vars(registry))
    assert loaded == gen.spec and loaded.cdefs == ("net_iov_v7_4.h", "owners.h")


def test_derive_never_overwrites_another_generation(tmp_path: Path, capsys) -> None:
    assert main(["derive", "reference:amd64-7.2", "-o", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "v7.2" and out["spec"]["desc_member"] and len(out["written"]) == 2
    assert main(["derive", "reference:amd64-7.2", "-o", str(tmp_path)]) == 0  # same content: idempotent
    assert main(["derive", "reference:amd64-6.12", "-o", str(tmp_path), "--name", "v7.2"]) == 1
    assert "net_iov_v7_2.h exists with other content" in capsys.readouterr().err
    assert "struct netmem_desc desc;" in (tmp_path / "cdefs" / "net_iov_v7_2.h").read_text()
    assert "owners.h" in (tmp_path / "registry_v7_2.py").read_text()


def test_derive_input_errors_are_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.btf"
    bad.write_bytes(b"\x9f\xeb\x01\x00garbage")
    assert main(["derive", str(bad), "-o", str(tmp_path)]) == 1
    assert main(["derive", "reference:amd64-7.2", "-o", str(tmp_path), "--name", "7 4"]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "Traceback" not in "".join(err) and "'7 4'" in err[1]
    assert not list(tmp_path.glob("cdefs/*")) and not list(tmp_path.glob("registry_*"))


def test_check_names_derive_for_an_unknown_layout(tmp_path: Path, capsys) -> None:
    path = write_kernel(tmp_path, "future", future_layouts(FUTURES["reordered"]))
    assert main(["check", path]) & EXIT_DIFF
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "netmem-ffi derive" in last and "netmem_ffi.profile_for_kernel" in last
    assert main(["check", "--reference", "amd64-7.2"]) == 0
    assert "derive" not in capsys.readouterr().out


def test_running_kernel(cache: Path) -> None:
    need_vmlinux()
    result = check_source()
    found = netmem_ffi.profile_for_kernel()
    assert found.derived != result.match
    prof = netmem_ffi.profile_for_kernel(derive=True)
    assert prof.derived and prof.source == VMLINUX
    kernel = result.layouts.struct("net_iov")
    assert prof.ffi.sizeof("struct net_iov") == kernel.size
    assert [(f.name, f.offset, f.size) for f in prof.layouts.struct("net_iov").fields] == [
        (f.name, f.offset, f.size) for f in kernel.fields]


def test_derivation_of_a_kernel_read_once(cache: Path) -> None:
    kernel = read_kernel("reference:amd64-6.12")
    gen = derive_generation(kernel)
    assert gen.spec.name == "v6.12" and gen.spec.cdefs == ("net_iov_v6_12.h", "owner_v6_12.h")
    assert "struct net_iov {" in gen.text and "struct page {" not in gen.text
    assert gen.type_hash == derive_generation(kernel, name="other").type_hash
