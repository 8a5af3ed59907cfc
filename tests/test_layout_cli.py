"""``netmem-ffi layout``: pahole-style text (checked against pahole itself), JSON, overlay, SVG, errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from netmem_ffi.abi import arches, registry
from netmem_ffi.cli import main
from netmem_ffi.kernel.references import names as reference_names
from netmem_ffi.kernel.references import reference
from netmem_ffi.layout import engine
from netmem_ffi.report.overlay import overlay
from netmem_ffi.report.pahole import struct_text
from netmem_ffi.report.subject import kernel_subject


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["layout", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_text_is_pahole_like(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--profile", "v7.2", "--arch", "x86_64")
    assert code == 0
    for name in registry.STRUCTS:
        assert f"struct {name} {{" in out
    assert "/* XXX 4 bytes hole, try to pack */" in out
    assert "/* size: 64, cachelines: 1, members: 3 */" in out
    assert "/* sum members: 60, holes: 1, sum holes: 4 */" in out


@pytest.mark.parametrize("arch,owner", [("x86_64", "/*    56     8 */"), ("i386", "/*    28     4 */")])
def test_offsets_follow_arch(capsys: pytest.CaptureFixture[str], arch: str, owner: str) -> None:
    _, out, _ = run(capsys, "net_iov", "--arch", arch)
    assert re.search(r"owner;\s+" + re.escape(owner), out)


def test_hex_offsets(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "struct", "net_iov", "--hex", "--arch", "amd64")
    assert re.search(r"type;\s+/\*  0x30   0x4 \*/", out)


def test_padding_and_cacheline_boundary() -> None:
    v619 = engine.struct_layouts("v6.19", "x86_64")["net_iov"]
    assert "/* padding: 4 */" in struct_text(v619)
    text = struct_text(engine.struct_layouts("v7.2", "x86_64")["page"], cacheline=32)
    assert "/* --- cacheline 1 boundary (32 bytes) --- */" in text
    assert text.index("cacheline 1 boundary") < text.index("dma_addr;")
    assert "/* size: 64, cachelines: 2, members: 5 */" in text


@pytest.mark.parametrize("profile", registry.names())
def test_json_matches_engine(capsys: pytest.CaptureFixture[str], profile: str) -> None:
    code, out, _ = run(capsys, "--json", "--profile", profile, "--arch", "s390x")
    doc = json.loads(out)
    assert code == 0 and doc["profile"] == profile and doc["arch"] == "s390x"
    expected = engine.layout_set(profile, "s390x")
    assert doc["structs"] == {n: s.to_dict() for n, s in expected.structs.items()}


def test_overlay_marks_owner_over_mapping(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "--overlay", "--profile", "v6.12", "--arch", "x86_64")
    row = next(line for line in out.splitlines() if line.startswith("24-31"))
    assert "_pp_mapping_pad" in row and "owner" in row and row.rstrip().endswith("NO")
    assert "struct net_iov {" not in out  # only the overlay when no struct is named


@pytest.mark.parametrize("arch", arches.ARCHES)
@pytest.mark.parametrize("profile", registry.names())
def test_overlay_window_mirrors_page(profile: str, arch: str) -> None:
    """The four asserted words always mirror the page; past the window nothing does."""
    rows = overlay(engine.struct_layouts(profile, arch))
    word = arches.MODELS[arch].long
    by_offset = {r.offset: r for r in rows}
    for index in (1, 2, 4, 5):  # pp_magic, pp, dma_addr, pp_ref_count
        assert by_offset[index * word].mirrored is True
    assert all(r.mirrored is not True for r in rows if r.offset >= 6 * word)


def test_svg_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "overlay.svg"
    code, out, err = run(capsys, "--svg", str(target), "--profile", "v6.16", "--arch", "armhf")
    assert code == 0 and out == "" and str(target) in err
    root = ET.parse(target).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any(t.startswith("owner") for t in texts) and any("struct page" in t for t in texts)


@pytest.mark.parametrize(
    "argv,code,message",
    [(["nosuch"], 3, "unknown struct 'nosuch'"), (["--arch", "mips"], 3, "unsupported architecture 'mips'"),
     (["--profile", "v9.9"], 3, "unknown netmem profile 'v9.9'"),
     (["--svg", "/nonexistent-dir/x.svg"], 1, "cannot write /nonexistent-dir/x.svg")],
)
def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str) -> None:
    got, out, err = run(capsys, *argv)
    assert got == code and out == ""
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# Ground truth for the text: pahole over DWARF of the same declarations.
PAHOLE_TARGETS = [("x86_64", "gcc"), ("i386", "i686-linux-gnu-gcc")]


def normalized(text: str) -> list[str]:
    text = text.replace("long unsigned int", "unsigned long")
    return [re.sub(r"[ \t]+", " ", line).strip() for line in text.strip().splitlines()]


@pytest.mark.parametrize("arch,cc", PAHOLE_TARGETS)
def test_text_equals_pahole(arch: str, cc: str, tmp_path: Path) -> None:
    if shutil.which("pahole") is None or shutil.which(cc) is None:
        pytest.skip(f"needs pahole (apt: dwarves) and {cc}")
    for profile in ("v6.15", "v6.19", "v7.2"):
        src = tmp_path / f"{registry.spec(profile).module}.c"
        decls = registry.declarations(registry.spec(profile), registry.cdefs_dir())
        src.write_text("typedef __SIZE_TYPE__ size_t;\n#define ULONG_MAX (__LONG_MAX__ * 2UL + 1UL)\n" + decls
                       + "\nstruct net_iov nm_niov;\nstruct net_iov_area nm_area;\n")
        subprocess.run([cc, "-g", "-c", "-o", str(src.with_suffix(".o")), str(src)], check=True)
        for name in ("net_iov", "net_iov_area"):
            theirs = subprocess.run(["pahole", "-C", name, str(src.with_suffix(".o"))], check=True,
                                    capture_output=True, text=True).stdout
            ours = struct_text(engine.struct_layouts(profile, arch)[name], cacheline=64)
            assert normalized(ours) == normalized(theirs), (profile, arch, name)


# ---- the kernel's own layouts (--kernel) ------------------------------------------------------

RUNNING = arches.RUNNING_KERNEL_BTF
KERNELS = [f"reference:{name}" for name in reference_names()] + [RUNNING]


def _needs(source: str) -> None:
    if source == RUNNING and not Path(RUNNING).is_file():
        pytest.skip(f"no running kernel BTF at {RUNNING}")


def _btf_file(source: str) -> str:
    return str(reference(source.removeprefix("reference:")).path) if source.startswith("reference:") else source


@pytest.mark.parametrize("source", KERNELS)
def test_kernel_json_equals_check(capsys: pytest.CaptureFixture[str], source: str) -> None:
    _needs(source)
    code, out, _ = run(capsys, "--kernel", source, "--json")
    assert code == 0
    doc = json.loads(out)
    check_argv = ["--reference", source.removeprefix("reference:")] if source.startswith("reference:") else [source]
    assert main(["check", "--json", *check_argv]) in (0, 4)
    checked = json.loads(capsys.readouterr().out)
    assert doc["structs"] == checked["structs"]
    assert doc["profile"] == checked["profile"] and doc["arch"] == checked["kernel"]["arch"]
    assert doc["source"] == checked["source"]


@pytest.mark.parametrize("source", KERNELS)
def test_kernel_text_equals_pahole(source: str) -> None:
    """The kernel's own net_iov and net_iov_area read as pahole reads the same BTF."""
    _needs(source)
    if shutil.which("pahole") is None:
        pytest.skip("needs pahole (apt: dwarves)")
    subject = kernel_subject(source)
    for name in ("net_iov", "net_iov_area"):
        if name not in subject.layouts.structs:
            continue
        theirs = subprocess.run(["pahole", "-F", "btf", f"--cacheline_size={subject.arch.cacheline}", "-C", name,
                                 _btf_file(source)], check=True,
                                capture_output=True, text=True).stdout
        ours = struct_text(subject.struct(name), cacheline=subject.arch.cacheline)
        assert normalized(ours) == normalized(theirs), (source, name)


def test_kernel_text_overlay_and_any_struct(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--kernel", "reference:amd64-6.12", "--overlay", "callback_head")
    assert code == 0
    assert "kernel reference:amd64-6.12 (6.12." in out and "profile v6.12" in out
    assert "struct callback_head {" in out and re.search(r"func;\s+/\*\s+8\s+8 \*/", out)
    row = next(line for line in out.splitlines() if line.startswith("24-31"))
    assert "mapping / _pp_mapping_pad" in row and "owner" in row and row.rstrip().endswith("NO")


@pytest.mark.parametrize(
    "argv,code,message",
    [(["--kernel", "/nonexistent.btf"], 1, "/nonexistent.btf: cannot read"),
     (["--kernel", "reference:nosuch"], 3, "unknown reference kernel 'nosuch'"),
     (["--kernel", "reference:amd64-7.2", "nosuch"], 3, "unknown struct 'nosuch'; the kernel's BTF"),
     (["--kernel", "reference:amd64-7.2", "--arch", "i386"], 3, "takes no --profile, --arch"),
     (["--kernel", "reference:amd64-7.2", "--dma-addr-bits", "32"], 3, "--kernel-config or --dma-addr-bits")],
)
def test_kernel_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], code: int,
                                    message: str) -> None:
    got, out, err = run(capsys, *argv)
    assert got == code and out == ""
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_kernel_input_garbage_is_an_input_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.btf"
    bad.write_bytes(b"\x9f\xeb\x01\x00" + b"\xff" * 40)
    got, out, err = run(capsys, "--kernel", str(bad))
    assert got == 1 and out == "" and str(bad) in err and len(err.strip().splitlines()) == 1
