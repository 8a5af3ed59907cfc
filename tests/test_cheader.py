"""``layout --format c``: the header compiles on every target and its DWARF has the layout's offsets.

Each header is compiled by the target's own compiler (the host's gcc, or
Debian's cross gcc; skipped with the package to install when absent) with
``-std=gnu11 -Wall -Wextra -Werror`` (the kernel's dialect), together with one
object of each netmem struct so that the DWARF describes them.  The structs'
sizes and every member's offset and size are read back from the object's
DWARF with pyelftools and compared with the layout the header was made from:
every profile on every architecture, every reference kernel and the running
kernel.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from netmem_ffi.abi import arches, registry
from netmem_ffi.cli import main
from netmem_ffi.errors import NetmemValueError
from netmem_ffi.kernel.references import names as reference_names
from netmem_ffi.layout.types import StructLayout
from netmem_ffi.report.cheader import c_header
from netmem_ffi.report.subject import Subject, kernel_subject, model_subject

RUNNING = arches.RUNNING_KERNEL_BTF
X86_64 = arches.MODELS["x86_64"]
CFLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-g", "-x", "c"]
#: Linked (not -c): the linker applies the DWARF relocations, which pyelftools cannot for every target.
LINK = ["-nostdlib", "-shared", "-fPIC"]


def compiler(arch: str) -> str:
    """The target's compiler, or a skip naming the Debian package."""
    name = "gcc" if arch == arches.normalize_arch(arches.host_arch()) else f"{arches.MODELS[arch].triplet}-gcc"
    if shutil.which(name) is None:
        pytest.skip(f"needs {name} (apt: gcc-{arches.MODELS[arch].triplet.replace('_', '-')})")
    return name


def compile_header(subject: Subject, tmp_path: Path, extra: str = "") -> subprocess.CompletedProcess[str]:
    uses = "".join(f"struct {name} nm_use_{name};\n" for name in subject.layouts.structs)
    src = tmp_path / "header.c"
    src.write_text(c_header(subject) + extra + uses)
    return subprocess.run([compiler(subject.arch.name), *CFLAGS, *LINK, str(src), "-o", str(tmp_path / "header.o")],
                          check=False, capture_output=True, text=True)


# ---- DWARF: struct sizes and flattened member offsets and sizes ----------------------------------

_SKIP = ("DW_TAG_typedef", "DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_restrict_type")
_RECORDS = ("DW_TAG_structure_type", "DW_TAG_union_type")


def _strip(die: Any) -> Any:
    while die.tag in _SKIP:
        die = die.get_DIE_from_attribute("DW_AT_type")
    return die


def _size(die: Any) -> int:
    die = _strip(die)
    if die.tag == "DW_TAG_array_type":
        count = 1
        for sub in die.iter_children():
            if "DW_AT_count" in sub.attributes:
                count *= sub.attributes["DW_AT_count"].value
            elif "DW_AT_upper_bound" in sub.attributes:
                count *= sub.attributes["DW_AT_upper_bound"].value + 1
            else:
                count = 0
        return count * _size(die.get_DIE_from_attribute("DW_AT_type"))
    return int(die.attributes["DW_AT_byte_size"].value)


def _members(record: Any, prefix: str, base: int, out: dict[str, tuple[int, int]]) -> None:
    """Every member, dotted through named struct members and transparent through anonymous ones."""
    for m in record.iter_children():
        if m.tag != "DW_TAG_member":
            continue
        offset = base + (m.attributes["DW_AT_data_member_location"].value
                         if "DW_AT_data_member_location" in m.attributes else 0)
        mtype = m.get_DIE_from_attribute("DW_AT_type")
        name = m.attributes["DW_AT_name"].value.decode() if "DW_AT_name" in m.attributes else None
        if name is not None:
            out[prefix + name] = (offset, _size(mtype))
        inner = _strip(mtype)
        if inner.tag in _RECORDS:
            _members(inner, prefix if name is None else f"{prefix}{name}.", offset, out)


def dwarf_structs(obj: Path) -> dict[str, tuple[int, dict[str, tuple[int, int]]]]:
    """name -> (size, {member: (offset, size)}) of every defined struct in the object's DWARF."""
    from elftools.elf.elffile import ELFFile

    found: dict[str, tuple[int, dict[str, tuple[int, int]]]] = {}
    with obj.open("rb") as fh:
        for cu in ELFFile(fh).get_dwarf_info().iter_CUs():
            for die in cu.iter_DIEs():
                if (die.tag == "DW_TAG_structure_type" and "DW_AT_name" in die.attributes
                        and "DW_AT_declaration" not in die.attributes):
                    members: dict[str, tuple[int, int]] = {}
                    _members(die, "", 0, members)
                    found[die.attributes["DW_AT_name"].value.decode()] = (die.attributes["DW_AT_byte_size"].value,
                                                                          members)
    return found


def assert_same_layout(layouts: dict[str, StructLayout], obj: Path) -> None:
    dwarf = dwarf_structs(obj)
    for name, layout in layouts.items():
        size, members = dwarf[name]
        assert size == layout.size, (name, size, layout.size)
        for f in layout.fields:
            assert members.get(f.name) == (f.offset, f.size), (name, f, members.get(f.name))


# ---- profiles x architectures ----------------------------------------------------------------------


@pytest.mark.parametrize("arch", arches.ARCHES)
@pytest.mark.parametrize("profile", registry.names())
def test_profile_header_compiles_with_the_layouts_offsets(profile: str, arch: str, tmp_path: Path) -> None:
    subject = model_subject(profile, arch)
    result = compile_header(subject, tmp_path)
    assert result.returncode == 0, result.stderr
    assert_same_layout(dict(subject.layouts.structs), tmp_path / "header.o")


@pytest.mark.parametrize("source", [f"reference:{n}" for n in reference_names()] + [RUNNING])
def test_kernel_header_compiles_with_the_kernels_offsets(source: str, tmp_path: Path) -> None:
    if source == RUNNING and not Path(RUNNING).is_file():
        pytest.skip(f"no running kernel BTF at {RUNNING}")
    subject = kernel_subject(source)
    result = compile_header(subject, tmp_path)
    assert result.returncode == 0, result.stderr
    assert_same_layout(dict(subject.layouts.structs), tmp_path / "header.o")
    header = c_header(subject)
    if subject.profile:
        assert header.count("_ASSERT_OFFSET: ") == sum(a.macro != "static_assert"
                                                        for a in registry.spec(subject.profile).asserts)


# ---- the asserts can fail ----------------------------------------------------------------------------


def test_header_for_another_target_fails_at_the_member(tmp_path: Path) -> None:
    subject = model_subject("v7.2", "x86_64")
    header = c_header(subject)
    src = tmp_path / "wrong.c"
    src.write_text(header)
    result = subprocess.run([compiler("i386"), *CFLAGS, "-c", str(src), "-o", str(tmp_path / "wrong.o")],
                            check=False, capture_output=True, text=True)
    assert result.returncode != 0
    assert "sizeof(struct net_iov) on x86_64" in result.stderr


def test_kernel_static_assert_fails_when_the_kernel_moves_a_member(tmp_path: Path) -> None:
    """The kernel's own NET_IOV_ASSERT_OFFSET, compiled against a net_iov whose pp moved, fails."""
    subject = kernel_subject("reference:amd64-6.12")
    header = c_header(subject)
    moved = header.replace("\tstruct page_pool *pp;\n\tstruct dmabuf_genpool_chunk_owner *owner;",
                           "\tstruct dmabuf_genpool_chunk_owner *owner;\n\tstruct page_pool *pp;", 1)
    assert moved != header
    src = tmp_path / "moved.c"
    src.write_text("#define NETMEM_NO_LAYOUT_ASSERTS\n" + moved)
    result = subprocess.run([compiler("x86_64"), *CFLAGS, "-c", str(src), "-o", str(tmp_path / "moved.o")],
                            check=False, capture_output=True, text=True)
    assert result.returncode != 0
    assert "NET_IOV_ASSERT_OFFSET: offsetof(struct page, pp) == offsetof(struct net_iov, pp)" in result.stderr


# ---- the command line --------------------------------------------------------------------------------


def test_cli_format_c(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layout", "--format", "c", "--kernel", "reference:s390x-7.2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("/* kernel reference:s390x-7.2 (")
    assert "struct net_iov {\n\tstruct netmem_desc desc;\n\tenum net_iov_type type;" in out
    assert main(["layout", "-f", "c", "-p", "6.18", "-a", "armhf", "net_iov"]) == 0
    out = capsys.readouterr().out
    assert "/* the kernel's static asserts of v6.17 */" in out and "on armhf" in out
    assert "sizeof(struct page) on armhf" not in out  # only the struct asked for is pinned


@pytest.mark.parametrize("argv,message", [
    (["-f", "c", "--kernel-config"], "--kernel-config and --dma-addr-bits 32 cannot be expressed"),
    (["-f", "c", "--kernel", "reference:amd64-7.2", "nosuch"], "unknown struct 'nosuch'"),
])
def test_cli_format_c_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["layout", *argv]) == 3
    out, err = capsys.readouterr()
    assert out == "" and message in err and len(err.strip().splitlines()) == 1


def test_json_is_the_short_form(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layout", "--json", "-p", "v6.15", "-a", "ppc64"]) == 0
    short = json.loads(capsys.readouterr().out)
    assert main(["layout", "--format", "json", "-p", "v6.15", "-a", "ppc64"]) == 0
    assert json.loads(capsys.readouterr().out) == short


# ---- kernels the header must cope with -----------------------------------------------------------


def _kernel_file(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "kernel.btf"
    path.write_bytes(data)
    return str(path)


def test_kernel_before_net_iov(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A kernel older than net_iov: its page alone, no kernel asserts; the overlay is a clear input error."""
    from netmem_ffi.kernel.references import reference
    from netmem_ffi.layout.btf.writer import extract

    real = reference("amd64-7.2").source().btf
    source = _kernel_file(tmp_path, extract(real, ["page", "long int", "long unsigned int"]))
    subject = kernel_subject(source)
    assert subject.profile is None and list(subject.layouts.structs) == ["page"]
    assert "no netmem profile matches: no kernel static asserts" in c_header(subject)
    result = compile_header(subject, tmp_path)
    assert result.returncode == 0, result.stderr
    assert_same_layout(dict(subject.layouts.structs), tmp_path / "header.o")
    assert main(["layout", "--kernel", source, "--overlay"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "the overlay needs struct net_iov" in err and len(err.strip().splitlines()) == 1


def test_declaration_loops_are_errors() -> None:
    """A pointer that points at itself, or a struct that holds itself by value, is an error, not a hang."""
    from netmem_ffi.errors import KernelInputError
    from netmem_ffi.layout.btf.reader import BTF, BTFMember, BTFType
    from netmem_ffi.layout.btf.uapi import Kind
    from netmem_ffi.layout.btf.writer import encode
    from netmem_ffi.report.cheader import kernel_declarations

    long_int = BTFType(1, Kind.INT, "long unsigned int", 8, extra=64)
    self_ptr = BTFType(2, Kind.PTR, "", 2)
    niov = BTFType(3, Kind.STRUCT, "net_iov", 8, members=(BTFMember("p", 2, 0),))
    with pytest.raises(KernelInputError, match="loops or exceeds"):
        kernel_declarations(BTF(encode([long_int, self_ptr, niov]), "loop.btf"), ["net_iov"], X86_64)
    holder = BTFType(2, Kind.STRUCT, "net_iov", 16, members=(BTFMember("a", 1, 0), BTFMember("self", 2, 64)))
    with pytest.raises(KernelInputError, match="contains itself by value"):
        kernel_declarations(BTF(encode([long_int, holder]), "self.btf"), ["net_iov"], X86_64)
    with pytest.raises(NetmemValueError, match="no struct, union or enum 'page'"):
        kernel_declarations(BTF(encode([long_int, holder]), "self.btf"), ["page"], X86_64)
    overlapping = BTFType(2, Kind.STRUCT, "net_iov", 8, members=(BTFMember("a", 1, 0), BTFMember("b", 1, 0)))
    with pytest.raises(KernelInputError, match="member b of struct net_iov overlaps"):
        kernel_declarations(BTF(encode([long_int, overlapping]), "overlap.btf"), ["net_iov"], X86_64)


def _attribute_kernel() -> bytes:
    """BTF of three structs plain C cannot lay out: an over-aligned member, a packed one, an over-aligned one."""
    from netmem_ffi.layout.btf.reader import BTFMember, BTFType
    from netmem_ffi.layout.btf.uapi import Kind
    from netmem_ffi.layout.btf.writer import encode

    types = [
        BTFType(1, Kind.INT, "long unsigned int", 8, extra=64),
        BTFType(2, Kind.INT, "unsigned int", 4, extra=32),
        BTFType(3, Kind.INT, "char", 1, extra=8),
        # pahole's page_type __attribute__((__aligned__(64))): b at 64, struct 128 bytes
        BTFType(4, Kind.STRUCT, "over_aligned_member", 128, members=(BTFMember("a", 1, 0), BTFMember("b", 2, 512))),
        # __packed: i right after c
        BTFType(5, Kind.STRUCT, "packed_pair", 5, members=(BTFMember("c", 3, 0), BTFMember("i", 2, 8))),
        # ____cacheline_aligned_in_smp struct: one long, 64 bytes
        BTFType(6, Kind.STRUCT, "over_aligned", 64, members=(BTFMember("a", 1, 0),)),
        BTFType(7, Kind.STRUCT, "holder", 192, members=(BTFMember("p", 5, 0), BTFMember("o", 6, 64 * 8),
                                                        BTFMember("tail", 2, 128 * 8))),
    ]
    return encode(types)


def test_attributes_reproduce_the_btf_offsets(tmp_path: Path) -> None:
    """Members and records the natural C layout would misplace get aligned/packed attributes, as bpftool does."""
    from netmem_ffi.layout.btf.layouts import struct_layout
    from netmem_ffi.layout.btf.reader import BTF
    from netmem_ffi.report.cheader import kernel_declarations

    btf = BTF(_attribute_kernel(), "attributes.btf")
    roots = ["over_aligned_member", "holder"]
    text = kernel_declarations(btf, roots, X86_64)
    assert "unsigned int b __attribute__((aligned(64)));" in text
    assert "} __attribute__((packed));" in text and "} __attribute__((aligned(64)));" in text
    src = tmp_path / "attributes.c"
    src.write_text(text + "".join(f"struct {name} nm_use_{name};\n" for name in roots))
    result = subprocess.run([compiler("x86_64"), *CFLAGS, *LINK, str(src), "-o", str(tmp_path / "a.o")],
                            check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    layouts = {name: struct_layout(btf, btf.find(name, frozenset({4})) or 0)
               for name in ("over_aligned_member", "packed_pair", "over_aligned", "holder")}
    assert_same_layout(layouts, tmp_path / "a.o")
