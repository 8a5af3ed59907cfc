"""Ground truth for the portable engine: every target's real compiler.

For each target, every profile's cdefs are compiled (one compiler invocation
per target, one object per profile) together with a table of ``sizeof``,
``_Alignof``, ``offsetof`` and enumerator values emitted as initialised data.
The table is read back from the object's symbol with pyelftools, in the
object's own byte order, and must equal the engine's numbers for every struct
the cdefs define (owners and struct page in full, not only the netmem window),
every member and every enum.  A target whose cross compiler is absent is
skipped with the Debian package to install.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from netmem_ffi.layout import engine

from netmem_ffi.abi import registry
from netmem_ffi.abi.arches import host_arch
from netmem_ffi.abi import arches

#: Debian package of each target's compiler.
PACKAGES = {m.name: "gcc-" + m.triplet.replace("_", "-") for m in arches.MODELS.values()}

# The cdefs text is compiled freestanding: no libc headers are needed.
PRELUDE = """\
typedef __SIZE_TYPE__ size_t;
#define ULONG_MAX (__LONG_MAX__ * 2UL + 1UL)
#define offsetof(t, m) __builtin_offsetof(t, m)
"""


def compiler(arch: str) -> str | None:
    """The C compiler for *arch*: the host's gcc on the host, else Debian's cross gcc."""
    name = "gcc" if arch == arches.normalize_arch(host_arch()) else f"{arches.MODELS[arch].triplet}-gcc"
    return shutil.which(name)


def table_entries(profile: str, arch: str) -> list[tuple[str, str, int]]:
    """(label, C expression, engine value) rows for one profile on one target."""
    rows = []
    for tag, layout in engine.struct_layouts(profile, arch).items():
        rows.append((f"sizeof {tag}", f"sizeof(struct {tag})", layout.size))
        rows.append((f"alignof {tag}", f"_Alignof(struct {tag})", layout.align))
        for f in layout.fields:
            assert f.bit_size is None, "the cdefs declare no bitfields; extend the table if they do"
            rows.append((f"{tag}.{f.name} offset", f"offsetof(struct {tag}, {f.name})", f.offset))
            rows.append((f"{tag}.{f.name} size", f"sizeof(((struct {tag} *)0)->{f.name})", f.size))
    for tag, enum in engine.enum_layouts(profile, arch).items():
        rows.append((f"sizeof enum {tag}", f"sizeof(enum {tag})", enum.size))
        rows.extend((f"{tag}.{name}", f"(unsigned long long){name}", value) for name, value in enum.values)
    return rows


def c_source(profile: str, rows: list[tuple[str, str, int]]) -> str:
    decls = registry.declarations(registry.spec(profile), registry.cdefs_dir())
    table = ",\n".join(f"\t{expr}" for _, expr, _ in rows)
    return f"{PRELUDE}{decls}\nconst unsigned long long nm_layout_table[] = {{\n{table}\n}};\n"


def read_table(obj: Path, count: int) -> list[int]:
    """The ``nm_layout_table`` symbol's values, decoded in the object's byte order."""
    from elftools.elf.elffile import ELFFile

    with obj.open("rb") as fh:
        elf = ELFFile(fh)
        symbol = elf.get_section_by_name(".symtab").get_symbol_by_name("nm_layout_table")[0]
        section = elf.get_section(symbol["st_shndx"])
        data = section.data()[symbol["st_value"]: symbol["st_value"] + symbol["st_size"]]
        order = "<" if elf.little_endian else ">"
    assert len(data) == 8 * count
    return list(struct.unpack(f"{order}{count}Q", data))


@pytest.fixture(scope="module", params=arches.ARCHES)
def compiled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Per target: {profile: [(label, compiler value, engine value)]}, from one compiler run."""
    arch = request.param
    cc = compiler(arch)
    if cc is None:
        pytest.skip(f"no C compiler for {arch}: install {PACKAGES[arch]}")
    workdir = tmp_path_factory.mktemp(arch)
    rows = {p: table_entries(p, arch) for p in registry.names()}
    sources = []
    for profile, profile_rows in rows.items():
        src = workdir / f"{registry.spec(profile).module}.c"
        src.write_text(c_source(profile, profile_rows))
        sources.append(src.name)
    subprocess.run([cc, "-std=gnu11", "-O0", "-c", *sources], cwd=workdir, check=True, capture_output=True)
    result = {}
    for profile, profile_rows in rows.items():
        values = read_table(workdir / f"{registry.spec(profile).module}.o", len(profile_rows))
        result[profile] = [(label, got, want) for (label, _, want), got in zip(profile_rows, values)]
    return arch, result


@pytest.mark.parametrize("profile", registry.names())
def test_engine_equals_compiler(compiled, profile: str) -> None:
    arch, result = compiled
    mismatches = [(label, got, want % (1 << 64)) for label, got, want in result[profile] if got != want % (1 << 64)]
    assert not mismatches, f"{profile} on {arch}: (what, compiler, engine) {mismatches}"
    assert len(result[profile]) > 40


def test_compiled_objects_have_target_byte_order(compiled) -> None:
    """The table decodes in the target's byte order: ULONG_MAX and the page size read right."""
    arch, result = compiled
    values = {label: got for label, got, _ in result["v6.17"]}
    word = arches.MODELS[arch].long
    assert values["net_iov_type.NET_IOV_MAX"] == (1 << (8 * word)) - 1
    assert values["sizeof page"] == {8: 64, 4: 36}[word]  # docs 6.2: MEMCG=y, no aligned struct page
