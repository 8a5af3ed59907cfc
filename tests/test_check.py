"""``check``: the library (check_source, kernel_layouts) and the CLI (in process and as a subprocess)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from btf_support import TRANSIENTS, need_vmlinux, transient_layouts, without_net_iov

from netmem_ffi.layout.btf.writer import synthesize
from netmem_ffi.abicheck.check import check_source, kernel_layouts
from netmem_ffi.cli import main
from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.types import LayoutSet
from netmem_ffi.layout.models import model_layouts

SPEC_KEYS = {"source", "kernel", "profile", "match", "structs", "enums", "asserts", "mismatches"}


def write(tmp_path: Path, name: str, layouts: LayoutSet) -> str:
    path = tmp_path / f"{name}.btf"
    path.write_bytes(synthesize(layouts))
    return str(path)


def test_running_kernel() -> None:
    result = check_source(need_vmlinux())
    assert result.detection.profile is not None, result.summary()
    assert result.asserts and all(a.ok for a in result.asserts)
    assert result.match and not result.mismatches
    if platform.release().startswith(("6.17", "6.18")):
        assert result.detection.profile == "v6.17"
    d = result.to_dict()
    assert SPEC_KEYS <= set(d)
    assert set(d["structs"]) == {"netmem_desc", "net_iov", "net_iov_area", "page"}
    assert d["kernel"]["pointer_size"] == 8 and d["kernel"]["endianness"] == sys.byteorder


@pytest.mark.parametrize("profile", ["v6.12", "v6.17", "v7.2"])
@pytest.mark.parametrize("arch", ["x86_64", "s390x"])
def test_synthetic_kernels_match(tmp_path: Path, profile: str, arch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, f"{profile}-{arch}", model_layouts(profile, arch))
    result = check_source(path)
    # the synthetic BTF has no struct pt_regs: the architecture is unknown, compared on the first of its data model
    assert (result.arch.arch, result.arch.how) == ("unknown", "btf")
    assert result.arch.model == {"x86_64": "x86_64", "s390x": "s390x"}[arch]
    assert (result.detection.profile, result.match) == (profile, True), [c.describe() for c in result.mismatches]
    assert all(a.ok for a in result.asserts)


def test_moved_member_is_a_mismatch(tmp_path: Path) -> None:
    """Same net_iov shape but net_iov_area reordered: detected, and the moves are mismatches."""
    model = model_layouts("v7.2", "x86_64")
    area = model.struct("net_iov_area")
    fields = tuple(f.__class__(f.name, 16 - f.offset if f.offset != 8 else 8, f.size, f.type) for f in area.fields)
    bad = LayoutSet(model.arch, model.pointer_size, model.endianness,
                    {**model.structs, "net_iov_area": area.__class__(area.name, area.size, area.align, fields)},
                    model.enums)
    result = check_source(write(tmp_path, "moved", bad))
    assert result.detection.profile == "v7.2" and not result.match
    assert {c.kind for c in result.mismatches} == {"member_moved"}
    assert main(["check", str(tmp_path / "moved.btf")]) == 12  # differs (4), incompatibly (8)


def test_transient_is_unknown_exit_12(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "pagenetpp", transient_layouts(TRANSIENTS["PageNetpp"]))
    assert main(["check", "--json", path]) == 12
    d = json.loads(capsys.readouterr().out)
    assert d["profile"] is None and d["match"] is False and d["status"] == "unknown"
    assert d["nearest_profile"] and d["mismatches"]


def test_before_612_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "old", without_net_iov(model_layouts("v6.12", "x86_64")))
    assert main(["check", path]) == 4
    out = capsys.readouterr().out
    assert "before 6.12" in out


@pytest.mark.parametrize(("kernels", "code"), [
    (["old"], 4), (["old", "missing"], 5), (["moved", "missing"], 13), (["old", "moved"], 12),
    (["v619", "missing"], 1), (["v619"], 0),
])
def test_sources_or_their_bits(tmp_path: Path, kernels: list[str], code: int) -> None:
    """abidiff's bits OR-ed over the sources: a pre-6.12 kernel with a missing file exits 4 | 1."""
    model = model_layouts("v6.19", "x86_64")
    write(tmp_path, "old", without_net_iov(model))
    write(tmp_path, "v619", model)
    area = model.struct("net_iov_area")
    moved = area._replace(fields=tuple(f._replace(offset=f.offset + 8) if f.name == "base_virtual" else f
                                       for f in area.fields))
    write(tmp_path, "moved", model._replace(structs={**model.structs, "net_iov_area": moved}))
    assert main(["check", *(str(tmp_path / f"{k}.btf") for k in kernels)]) == code


def test_unreadable_exit_1_no_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.btf"
    bad.write_bytes(b"\x9f\xeb\x01\x00" + b"\xff" * 30)
    assert main(["check", str(bad), str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert "bad.btf" in err and "missing" in err and "Traceback" not in err


def test_json_one_object_or_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "v619", model_layouts("v6.19", "x86_64"))
    assert main(["check", "--json", path]) == 0
    one = json.loads(capsys.readouterr().out)
    assert isinstance(one, dict) and SPEC_KEYS <= set(one) and one["profile"] == "v6.19"
    assert main(["check", "--json", path, path]) == 0
    several = json.loads(capsys.readouterr().out)
    assert isinstance(several, list) and len(several) == 2


def test_kernel_layouts(tmp_path: Path) -> None:
    model = model_layouts("v6.16", "i386")
    got = kernel_layouts(write(tmp_path, "v616-i386", model))
    assert (got.pointer_size, got.endianness) == (4, "little")
    assert got.struct("net_iov").fields == model.struct("net_iov").fields
    with pytest.raises(KernelInputError, match="cannot read"):
        kernel_layouts(tmp_path / "nothing")


def test_subprocess_json() -> None:
    vmlinux = need_vmlinux()
    proc = subprocess.run([sys.executable, "-m", "netmem_ffi", "check", "--json", vmlinux], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert SPEC_KEYS <= set(d) and d["match"] is True


def _page_resized(model: LayoutSet, size: int) -> LayoutSet:
    page = model.struct("page")
    return model._replace(structs={**model.structs, "page": page._replace(size=size)})


def test_config_dependent_page_is_a_note_not_a_break(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An 80-byte page (loong64's ``virtual``): match, the size note is not breaking, exit 0 — one verdict."""
    path = write(tmp_path, "page80", _page_resized(model_layouts("v7.2", "x86_64"), 80))
    result = check_source(path)
    assert result.match and not result.mismatches
    size = [c for c in result.notes if c.kind == "struct_size"]
    assert [(c.container, c.old, c.new, c.breaking) for c in size] == [("struct page", 64, 80, False)]
    assert all(not n["breaking"] for n in result.to_dict()["notes"])
    assert main(["check", "--json", path]) == 0
    capsys.readouterr()


def test_config_members_are_notes() -> None:
    """The one breaking policy (check's) makes struct page's config members notes, nothing else."""
    from netmem_ffi.abicheck.compare import CHECK, PAGE_CONFIG_MEMBERS, Change

    changes = [Change("member_added", "struct page", m, None, "offset 64", True) for m in PAGE_CONFIG_MEMBERS]
    moved = Change("member_moved", "struct page", "pp", 16, 24, True)
    other = Change("member_added", "struct net_iov", "virtual", None, "offset 64", True)
    assert [c for c in (*changes, moved, other) if CHECK.breaking(c)] == [moved, other]


def test_notes_only_for_real_differences() -> None:
    """7.1+ and 6.19/7.0 kernels: no respelling notes; 6.18 under v6.17 (6.17 still says unsigned long): one."""
    from netmem_ffi.abi import registry
    from netmem_ffi.abicheck.check import check_reference

    assert [r.new for r in registry.page_respellings(registry.spec("v7.2"))] == ["memdesc_flags_t", "compound_info"]
    assert [r.new for r in registry.page_respellings(registry.spec("v6.19"))] == ["memdesc_flags_t"]
    assert registry.page_respellings(registry.spec("v6.17")) == ()
    for name in ("amd64-7.1", "amd64-7.2", "amd64-7.3", "amd64-7.0", "amd64-6.19", "arm64-7.2", "armhf-7.2"):
        assert check_reference(name).notes == (), name
    flags = check_reference("amd64-6.18").notes
    assert [(c.kind, c.member, c.new) for c in flags] == [("member_type", "flags", "memdesc_flags_t")]



def test_old_spelling_under_a_new_generation_is_noted(tmp_path: Path) -> None:
    """The engine's model (compound_head, unsigned long flags) as a v7.2 kernel: both respellings are noted."""
    result = check_source(write(tmp_path, "old-spelling", model_layouts("v7.2", "x86_64")))
    assert result.match
    assert sorted((c.kind, c.new) for c in result.notes) == [("member_renamed", "compound_head"),
                                                             ("member_type", "unsigned long")]


def test_jobs_keep_input_order_and_list_what_differs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``check -j 2`` over several kernels: one line each in input order; a kernel that differs lists its members."""
    model = model_layouts("v7.2", "x86_64")
    area = model.struct("net_iov_area")
    moved = area._replace(fields=tuple(f._replace(offset=16 - f.offset) if f.offset != 8 else f for f in area.fields))
    paths = [write(tmp_path, "a-ok", model), write(tmp_path, "b-moved", model._replace(
        structs={**model.structs, "net_iov_area": moved})), str(tmp_path / "c-missing.btf"),
        write(tmp_path, "d-612", model_layouts("v6.12", "i386"))]
    assert main(["check", "-j", "2", *paths]) == 13  # a kernel that differs incompatibly (12) | an unreadable input (1)
    out = capsys.readouterr().out.splitlines()
    heads = [line for line in out if not line.startswith("  ")]
    assert [h.split(":")[0] for h in heads] == paths
    assert heads[0].startswith(f"{paths[0]}: MATCH") and heads[1].startswith(f"{paths[1]}: MISMATCH")
    listed = out[out.index(heads[1]) + 1:out.index(heads[2])]
    assert listed and all("net_iov_area" in line and "mismatch" in line for line in listed)
    assert main(["check", "--json", "-j", "2", *paths[:2], paths[3]]) == 12
    assert [d["source"] for d in json.loads(capsys.readouterr().out)] == [paths[0], paths[1], paths[3]]
    assert main(["check", "-j", "0", paths[0]]) == 3
    assert "at least 1" in capsys.readouterr().err
