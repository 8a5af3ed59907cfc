"""The DWARF reader (netmem_ffi.layout.dwarf) against the compilers, pahole and the engine.

Every profile's cdefs are compiled with ``-g -gdwarf-4`` and ``-gdwarf-5`` by
each target's compiler (one invocation per target and version), together with
the target's ``struct pt_regs``; ``check`` reads the objects through DWARF and
must give the engine's layouts, pahole's offsets (``pahole -F dwarf``) and the
target's architecture from the types.  The network tier reads Debian's real
``-dbg`` packages of armhf and loong64 (cached) and compares with pahole.
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest
from btf_support import pahole_struct
from test_archid import PT_REGS
from test_engine_cross import PRELUDE, compiler

from netmem_ffi.abi import arches, registry
from netmem_ffi.abicheck.check import check_source, kernel_layouts
from netmem_ffi.errors import KernelInputError
from netmem_ffi.kernel.source import read_source
from netmem_ffi.layout import engine
from netmem_ffi.layout.archid import identify_btf
from netmem_ffi.layout.btf.reader import BTF
from netmem_ffi.layout.budget import Budget
from netmem_ffi.layout.dwarf import DebugInfo, elf_dwarf, read_dwarf_btf
from netmem_ffi.layout.elf import Reader, read_elf

DWARF_VERSIONS = (4, 5)


def pt_regs_c(arch: str) -> str:
    """The target's ``struct pt_regs`` as C (register names as the kernel declares them), and a use of it."""
    wrapper, regs = PT_REGS[arch]
    if wrapper:
        inner = "".join(f"unsigned long {r}; " for r in regs[:4])
        rest = "".join(f"unsigned long {r}; " for r in regs[4:])
        body = f"struct {wrapper} {{ {inner}}}; struct pt_regs {{ struct {wrapper} user_regs; {rest}}};"
    else:
        body = "struct pt_regs { " + "".join(f"unsigned long {r}; " for r in regs) + "};"
    return body + "\nstruct pt_regs nm_pt_regs;\n"


def dwarf_c(profile: str, arch: str) -> str:
    """A profile's cdefs with one object of each netmem type (GCC emits DWARF only for types used)."""
    decls = registry.declarations(registry.spec(profile), registry.cdefs_dir())
    uses = "".join(f"struct {tag} nm_{tag};\n" for tag in registry.STRUCTS if tag in engine.struct_layouts(profile, arch))
    uses += "".join(f"enum {tag} nm_{tag};\n" for tag in engine.enum_layouts(profile, arch))
    return f"{PRELUDE}{decls}\n{uses}{pt_regs_c(arch)}"


@pytest.fixture(scope="module", params=[(a, v) for a in arches.ARCHES for v in DWARF_VERSIONS],
                ids=lambda p: f"{p[0]}-dwarf{p[1]}")
def objects(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Path]]:
    """Per target and DWARF version: {profile: object file}, from one compiler run."""
    arch, version = request.param
    cc = compiler(arch)
    if cc is None:
        pytest.skip(f"no C compiler for {arch} (Debian has no cross compiler for loong64; its real DWARF is "
                    "the network tier's)" if arch == "loongarch64" else f"no C compiler for {arch}")
    workdir = tmp_path_factory.mktemp(f"{arch}-dwarf{version}")
    sources = []
    for profile in registry.names():
        src = workdir / f"{registry.spec(profile).module}.c"
        src.write_text(dwarf_c(profile, arch))
        sources.append(src.name)
    subprocess.run([cc, "-std=gnu11", "-O0", "-g", f"-gdwarf-{version}", "-c", *sources], cwd=workdir, check=True,
                   capture_output=True)
    return arch, {p: workdir / f"{registry.spec(p).module}.o" for p in registry.names()}


def _fields(layouts_struct: object) -> list[tuple[str, int, int, str]]:
    return [(f.name, f.offset, f.size, f.type) for f in layouts_struct.fields]  # type: ignore[attr-defined]


@pytest.mark.parametrize("profile", registry.names())
def test_dwarf_equals_engine(objects: tuple[str, dict[str, Path]], profile: str) -> None:
    arch, objs = objects
    got = kernel_layouts(objs[profile])
    want = engine.layout_set(profile, arch)
    assert (got.pointer_size, got.endianness) == (want.pointer_size, want.endianness)
    assert set(got.structs) == set(want.structs) and set(got.enums) == set(want.enums)
    for name, s in want.structs.items():
        assert (got.structs[name].size, _fields(got.structs[name])) == (s.size, _fields(s)), (arch, profile, name)
    assert got.enums == want.enums


def test_dwarf_check_matches_and_names_the_architecture(objects: tuple[str, dict[str, Path]]) -> None:
    arch, objs = objects
    for profile, obj in objs.items():
        result = check_source(obj)
        assert (result.detection.profile, result.match) == (profile, True), [c.describe() for c in result.mismatches]
        assert (result.arch.arch, result.arch.how, result.kind) == (arch, "elf", "elf-dwarf")
        raw, _ = read_dwarf_btf(obj.read_bytes(), str(obj))
        assert identify_btf(BTF(raw, "dwarf")) == arch  # the types alone tell the target (ppc64: big-endian)


@pytest.mark.parametrize("struct", ["net_iov", "netmem_desc", "net_iov_area", "page"])
def test_dwarf_equals_pahole(objects: tuple[str, dict[str, Path]], struct: str) -> None:
    _, objs = objects
    obj = objs["v7.2"]
    members, size = pahole_struct(str(obj), struct, "-F", "dwarf")
    ours = kernel_layouts(obj).struct(struct)
    if struct != "page":  # page is limited to the netmem members
        assert ours.size == size
        assert {f.name for f in ours.top_level()} <= set(members)
    for f in ours.top_level():
        assert (f.offset, f.size) == members[f.name], (struct, f.name)


def test_relocations_are_applied(objects: tuple[str, dict[str, Path]]) -> None:
    """In an object file every strp is relocated: the unrelocated section would name everything alike."""
    _, objs = objects
    data = objs["v7.2"].read_bytes()
    elf = elf_dwarf(data, "obj")
    info = DebugInfo(elf.sections, elf.byteorder, "obj")
    unit = info.unit_at(info.unit_offsets[0])
    root = unit.die(unit.first_die)
    assert root is not None
    names = {unit.string(d) for d in unit.children(root)}
    assert {"net_iov", "netmem_desc", "page", "pt_regs"} <= names


def test_relocation_linking_a_missing_symbol_table_is_a_clear_error(objects: tuple[str, dict[str, Path]]) -> None:
    """An object whose .debug_info relocations name a section past the table: KernelInputError, not IndexError."""
    _, objs = objects
    data = bytearray(objs["v7.2"].read_bytes())
    elf = read_elf(Reader(data), "obj", Budget())
    info = elf.find(".debug_info")
    assert info is not None
    rel = next(s for s in elf.sections if s.type in (4, 9) and s.info == info.number)  # SHT_RELA / SHT_REL
    entsize = 64 if elf.is64 else 40
    link_at = elf.shoff + rel.number * entsize + (40 if elf.is64 else 24)  # sh_link
    struct.pack_into("<I" if elf.byteorder == "little" else ">I", data, link_at, 0xFFFF)
    with pytest.raises(KernelInputError, match="links symbol table 65535, out of range"):
        elf_dwarf(bytes(data), "obj")


def test_bad_dwarf_is_a_clear_error(tmp_path: Path) -> None:
    cc = compiler(arches.host_arch())
    if cc is None:
        pytest.skip("no host C compiler")
    src = tmp_path / "x.c"
    src.write_text(dwarf_c("v7.2", arches.host_arch()))
    subprocess.run([cc, "-g", "-c", "-o", str(tmp_path / "x.o"), str(src)], check=True, capture_output=True)
    good = (tmp_path / "x.o").read_bytes()
    with pytest.raises(KernelInputError, match="DIEs decoded"):
        read_dwarf_btf(good, "x.o", max_dies=5)
    from elftools.elf.elffile import ELFFile

    with (tmp_path / "x.o").open("rb") as fh:
        at = ELFFile(fh).get_section_by_name(".debug_info")["sh_offset"]
    bad = bytearray(good)
    bad[at + 4:at + 6] = b"\x09\x00"  # unit version 9
    path = tmp_path / "bad.o"
    path.write_bytes(bad)
    with pytest.raises(KernelInputError, match="unit header") as info:
        read_source(path)
    assert "bad.o" in str(info.value)
    empty = tmp_path / "empty.c"
    empty.write_text("int nm_nothing;\n")
    subprocess.run([cc, "-g", "-c", "-o", str(tmp_path / "empty.o"), str(empty)], check=True, capture_output=True)
    with pytest.raises(KernelInputError, match="neither struct net_iov nor struct page"):
        read_source(tmp_path / "empty.o")


# ---- real kernels: Debian's -dbg packages (network tier, cached) ----------------------------------------

#: Debian architecture -> (suites, package pattern, architecture, profile, sizeof(struct page) or None).
#: Debian's i386 kernels stop at 6.1 (bookworm): before net_iov, still an i386 kernel told apart by its types.
DBG_PACKAGES = {
    "armhf": (("sid",), r"^linux-image-7\.2\.[0-9]+\+deb14-armmp-dbg$", "armhf", "v7.2", 36),
    "loong64": (("sid",), r"^linux-image-7\.2\.[0-9]+\+deb14-loong64-dbg$", "loongarch64", "v7.2", 80),
    "i386": (("bookworm",), r"^linux-image-6\.1\.0-[0-9]+-686-dbg$", "i386", None, None),
}


@pytest.fixture(scope="module", params=sorted(DBG_PACKAGES))
def dbg_package(request: pytest.FixtureRequest) -> tuple[Path, str, str | None, int | None]:
    from netmem_ffi.kernel.debian import Apt

    suites, pattern, arch, profile, page_size = DBG_PACKAGES[request.param]
    apt = Apt(request.param, suites)
    apt.update()
    return apt.download(apt.newest(pattern)).path, arch, profile, page_size


@pytest.mark.network
@pytest.mark.slow
def test_real_dbg_package(dbg_package: tuple[Path, str, str | None, int | None], tmp_path: Path) -> None:
    """A real -dbg .deb: its generation, the package's architecture, the same layouts as pahole on its vmlinux,
    and the architecture its own DWARF types name."""
    deb, arch, profile, page_size = dbg_package
    result = check_source(deb)
    assert (result.detection.profile, result.match, result.arch.arch, result.arch.how) == (
        profile, profile is not None, arch, "package")
    if page_size is not None:
        assert result.layouts.struct("page").size == page_size
    vmlinux = tmp_path / "vmlinux"
    from netmem_ffi.kernel.archive import open_member
    from netmem_ffi.kernel.dwarf import DBG_VMLINUX

    with open_member(deb, lambda n: DBG_VMLINUX.match(n) is not None) as member, vmlinux.open("wb") as out:
        while chunk := member.read(1 << 20):
            out.write(chunk)
    for struct in result.layouts.structs:
        members, size = pahole_struct(str(vmlinux), struct, "-F", "dwarf")
        ours = result.layouts.struct(struct)
        assert ours.size == size, struct
        for f in ours.top_level():
            assert (f.offset, f.size) == members[f.name], (struct, f.name)
    elf = read_source(vmlinux)
    assert identify_btf(elf.btf) == arch  # the vmlinux's own DWARF types name the architecture
    os.unlink(vmlinux)


# ---- -dbg packages, built here: the block-seeking path and the streaming fallback ---------------------


def _dbg_deb(tmp_path: Path, vmlinux: Path, *, xz_args: list[str], arch: str = "armhf") -> Path:
    """A -dbg .deb whose data.tar.xz holds module debug files, then usr/lib/debug/lib/modules/9.9-test/vmlinux."""
    root = tmp_path / "root"
    mods = root / "usr/lib/debug/lib/modules/9.9-test"
    (mods / "kernel").mkdir(parents=True)
    for i in range(6):  # incompressible filler before the vmlinux, as the modules' debug files are
        (mods / "kernel" / f"m{i}.ko").write_bytes(os.urandom(150_000))
    (mods / "vmlinux").write_bytes(vmlinux.read_bytes())
    (root / "usr/lib/debug/boot").mkdir(parents=True)
    (root / "usr/lib/debug/boot/vmlinux-9.9-test").symlink_to("../lib/modules/9.9-test/vmlinux")
    work = tmp_path / "deb"
    work.mkdir()
    (work / "control").write_text(f"Package: linux-image-9.9-test-dbg\nVersion: 9.9-1\nArchitecture: {arch}\n")
    subprocess.run(["tar", "-cJf", "control.tar.xz", "./control"], cwd=work, check=True)
    subprocess.run(["tar", "-cf", str(work / "data.tar"), "--sort=name", "."], cwd=root, check=True)
    subprocess.run(["xz", *xz_args, "data.tar"], cwd=work, check=True)
    (work / "debian-binary").write_text("2.0\n")
    deb = tmp_path / "linux-image-9.9-test-dbg_9.9-1.deb"
    subprocess.run(["ar", "rc", str(deb), "debian-binary", "control.tar.xz", "data.tar.xz"], cwd=work, check=True)
    return deb


@pytest.mark.parametrize("xz_args", [["--block-size=65536", "-T1"], []], ids=["blocks", "one-block"])
def test_dbg_package_read(tmp_path: Path, xz_args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The vmlinux found by inflating blocks from the end (or, for one block, by streaming from the front)."""
    import shutil

    from netmem_ffi.kernel import xzseek

    cc = compiler("armhf")
    if cc is None or not all(shutil.which(t) for t in ("xz", "ar", "tar")):
        pytest.skip("needs the armhf cross compiler, xz, ar and tar")
    src = tmp_path / "k.c"
    src.write_text(dwarf_c("v7.2", "armhf"))
    subprocess.run([cc, "-g", "-c", "-o", str(tmp_path / "k.o"), str(src)], check=True, capture_output=True)
    deb = _dbg_deb(tmp_path, tmp_path / "k.o", xz_args=xz_args)
    inflated: list[int] = []
    real = xzseek._inflate
    monkeypatch.setattr(xzseek, "_inflate", lambda *a: inflated.append(1) or real(*a))
    result = check_source(deb)
    assert (result.detection.profile, result.match, result.kind, result.release) == ("v7.2", True, "deb-dwarf",
                                                                                      "9.9-test")
    assert (result.arch.arch, result.arch.how) == ("armhf", "package")
    if xz_args:
        data_tar = tmp_path / "deb" / "data.tar.xz"
        with data_tar.open("rb") as fh:
            blocks = xzseek.xz_blocks(fh, 0, data_tar.stat().st_size)
        assert blocks is not None and 0 < len(inflated) < len(blocks[0])  # not every block inflated
    else:
        assert not inflated


def test_not_a_dbg_package_is_left_to_the_other_readers(tmp_path: Path) -> None:
    from netmem_ffi.kernel.dwarf import dwarf_source

    work = tmp_path / "w"
    work.mkdir()
    (work / "control").write_text("Package: hello\nArchitecture: amd64\n")
    subprocess.run(["tar", "-cJf", "control.tar.xz", "./control"], cwd=work, check=True)
    (work / "debian-binary").write_text("2.0\n")
    deb = tmp_path / "hello.deb"
    subprocess.run(["ar", "rc", str(deb), "debian-binary", "control.tar.xz"], cwd=work, check=True)
    assert dwarf_source(str(deb)) is None
    lib = tmp_path / "lib.a"
    lib.write_bytes(b"!<arch>\n")
    assert dwarf_source(str(lib)) is None
