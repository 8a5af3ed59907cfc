"""The CI gate (abicheck.gate, ``netmem-ffi gate``) and the report formats it writes: SARIF, GitHub, JUnit."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from btf_support import with_member_moved, write_kernel
from sarif_schema import SCHEMA

from netmem_ffi.abicheck import diff, gate, snapshot, verdict
from netmem_ffi.cli import main
from netmem_ffi.errors import (
    NetmemValueError,
    UnknownProfileError,
    UnsupportedArchError,
)
from netmem_ffi.layout.models import model_layouts
from netmem_ffi.layout.types import LayoutSet
from netmem_ffi.report import formats, github

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def v72() -> LayoutSet:
    return model_layouts("v7.2", "x86_64")


@pytest.fixture()
def kernel(tmp_path: Path, v72: LayoutSet) -> tuple[str, Path]:
    """A synthesized v7.2 kernel and a baseline recorded from it."""
    path = write_kernel(tmp_path / "vmlinux.btf", v72)
    base = tmp_path / "kernel-base.json"
    assert gate.gate(base, [path], update=True).exit_code == 0
    return path, base


def _model_baseline(path: Path, profiles: list[str], arches: list[str]) -> Path:
    snapshot.dump(snapshot.take(profiles, arches), path)
    return path


def _drift(path: Path, member: str = "owner", delta: int = 8, struct: str = "net_iov") -> None:
    """Move *member* in every pair of a baseline file."""
    doc = json.loads(path.read_text())
    for ls in doc["layouts"]:
        for f in ls["structs"][struct]["fields"]:
            if f["name"] == member:
                f["offset"] += delta
    path.write_text(json.dumps(doc))


# ---- the library -----------------------------------------------------------------------------


def test_a_kernel_baseline_records_the_kernel(kernel: tuple[str, Path]) -> None:
    path, base = kernel
    snap = snapshot.load(base)
    assert [(ls.profile, ls.arch, ls.source) for ls in snap.layouts] == [("v7.2", "x86_64", path)]
    assert gate.gate(base, [path]).exit_code == verdict.SAME


def test_a_moved_field_in_the_kernel_fails_with_12(kernel: tuple[str, Path], v72: LayoutSet) -> None:
    path, base = kernel
    write_kernel(path, with_member_moved(v72, "net_iov_area", "num_niovs", 8))
    result = gate.gate(base, [path])
    assert result.exit_code == verdict.CHANGE | verdict.INCOMPATIBLE
    (change,) = [c for _, c in result.diff.changes()]
    assert (change.kind, change.member, change.old, change.new) == ("member_moved", "num_niovs", 8, 16)
    assert result.diff.pairs[0].label == f"{path} (v7.2@x86_64)"


def test_a_kernel_pairs_by_profile_and_arch_when_its_path_changed(kernel: tuple[str, Path], tmp_path: Path,
                                                                  v72: LayoutSet) -> None:
    _, base = kernel
    elsewhere = write_kernel(tmp_path / "other-build.btf", v72)
    assert gate.gate(base, [elsewhere]).exit_code == verdict.SAME


def test_a_kernel_no_entry_pairs_with_is_reported(kernel: tuple[str, Path], tmp_path: Path) -> None:
    _, base = kernel
    other = write_kernel(tmp_path / "s390x.btf", model_layouts("v6.12", "s390x"))
    result = gate.gate(base, [other])
    assert sorted(p.status for p in result.diff.pairs) == ["added", "removed"]
    assert result.exit_code == 12


def test_unreadable_inputs_or_their_bit_and_update_writes_nothing(kernel: tuple[str, Path], tmp_path: Path) -> None:
    path, base = kernel
    before = base.read_bytes()
    missing = str(tmp_path / "missing.btf")
    result = gate.gate(base, [path, missing])
    assert result.exit_code == verdict.ERROR and [e.source for e in result.diff.errors] == [missing]
    updated = gate.gate(base, [path, missing], update=True)
    assert updated.updated is None and updated.exit_code == verdict.ERROR
    assert base.read_bytes() == before


def test_a_moved_field_and_a_missing_kernel_or_their_bits(kernel: tuple[str, Path], v72: LayoutSet,
                                                          tmp_path: Path) -> None:
    path, base = kernel
    write_kernel(path, with_member_moved(v72, "net_iov", "owner", 8))
    result = gate.gate(base, [path, str(tmp_path / "missing.btf")])
    assert result.exit_code == verdict.ERROR | verdict.CHANGE | verdict.INCOMPATIBLE == 13
    assert [p.status for p in result.diff.pairs] == ["changed"]


def test_missing_and_broken_baselines(tmp_path: Path) -> None:
    missing = gate.gate(tmp_path / "none.json")
    assert missing.exit_code == 1 and "does not exist" in missing.diff.errors[0].message
    assert "netmem-ffi gate" in missing.diff.errors[0].message and "--update" in missing.diff.errors[0].message
    (tmp_path / "bad.json").write_text("{")
    assert "not a netmem-ffi snapshot" in gate.gate(tmp_path / "bad.json").diff.errors[0].message


def test_the_model_gate(tmp_path: Path) -> None:
    base = _model_baseline(tmp_path / "model.json", ["v6.19", "v7.2"], ["x86_64", "i386"])
    assert gate.gate(base).exit_code == 0
    assert [p.label for p in gate.gate(base, profiles=["v7.2"], arches=["amd64"]).diff.pairs] == ["v7.2@x86_64"]
    _drift(base)
    result = gate.gate(base)
    assert result.exit_code == 12 and result.diff.new_label == gate.MODEL_LABEL


def test_model_gate_usage_errors(kernel: tuple[str, Path], tmp_path: Path) -> None:
    _, base = kernel
    (tmp_path / "kernel-base.json").write_text(
        (tmp_path / "kernel-base.json").read_text().replace('"profile": "v7.2"', '"profile": null'))
    with pytest.raises(NetmemValueError, match="gate them with --kernel"):
        gate.gate(base)
    with pytest.raises(UnknownProfileError):
        gate.gate(base, profiles=["v1.0"])
    with pytest.raises(UnsupportedArchError):
        gate.gate(base, arches=["mips"])


def test_update_creates_a_model_baseline(tmp_path: Path) -> None:
    base = tmp_path / "new.json"
    result = gate.gate(base, profiles=["v7.2"], arches=["arm64", "riscv64"], update=True)
    assert result.exit_code == 0 and result.updated is not None
    assert base.read_text() == snapshot.take(["v7.2"], ["arm64", "riscv64"]).dumps()


# ---- reports ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grouped() -> diff.DiffResult:
    """v6.19 -> v7.2 on three architectures of one word size: the same changes three times."""
    arches = ["x86_64", "arm64", "riscv64"]
    return diff.diff(snapshot.take(["v6.19"], arches), snapshot.take(["v7.2"], arches))


def test_identical_changes_across_arches_are_grouped(grouped: diff.DiffResult) -> None:
    groups = grouped.groups()
    assert [g.label for g in groups] == ["v6.19 on x86_64, arm64, riscv64", "v7.2 on x86_64, arm64, riscv64"]
    text = formats.render_text(grouped)
    assert text.count("on x86_64, arm64, riscv64") == 2 and "v6.19@arm64" not in text
    assert "on x86_64, arm64, riscv64" in formats.render_markdown(grouped)
    assert len(json.loads(formats.render_json(grouped))["pairs"]) == 6  # machines get every pair


def test_different_changes_are_not_grouped(tmp_path: Path) -> None:
    """The same member moved on LP64 and ILP32 is at different offsets there: two groups."""
    base = _model_baseline(tmp_path / "b.json", ["v7.2"], ["x86_64", "i386", "arm64"])
    _drift(base)
    groups = gate.gate(base).diff.groups()
    assert [g.label for g in groups] == ["v7.2 on x86_64, arm64", "v7.2@i386"]


def test_json_old_and_new_are_structured() -> None:
    doc = json.loads(formats.render_json(diff.diff(model_layouts("v6.19"), model_layouts("v7.2"))))
    changes = doc["pairs"][0]["changes"]
    moved = next(c for c in changes if c["kind"] == "member_moved" and c["member"] == "owner")
    assert moved["old"] == {"offset": 48, "size": 8, "type": "struct net_iov_area *"}
    assert moved["new"] == {"offset": 56, "size": 8, "type": "struct net_iov_area *"}
    removed = next(c for c in changes if c["kind"] == "member_removed")
    assert removed["new"] is None and set(removed["old"]) == {"offset", "size", "type"}


def _sarif_ok(text: str) -> dict[str, object]:
    log = json.loads(text)
    jsonschema.validate(log, SCHEMA)
    return log  # type: ignore[no-any-return]


def test_sarif_validates_and_carries_every_change(grouped: diff.DiffResult) -> None:
    log = _sarif_ok(formats.render(grouped, "sarif"))
    run = log["runs"][0]  # type: ignore[index]
    changes = [c for g in grouped.groups() for c in g.first.changes]
    assert len(run["results"]) == len(changes)
    assert [r["level"] for r in run["results"]] == ["error" if c.breaking else "note" for c in changes]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert all(rules[r["ruleIndex"]] == r["ruleId"] for r in run["results"])
    assert run["invocations"][0]["executionSuccessful"] is True and run["invocations"][0]["exitCode"] == 12


def test_sarif_schema_is_not_vacuous() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]}, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "2.0.0", "runs": []}, SCHEMA)


def test_sarif_of_an_unreadable_input() -> None:
    result = diff.unreadable("base.json", "vmlinux", [diff.InputError("vmlinux", "vmlinux: cannot read")])
    run = _sarif_ok(formats.render(result, "sarif"))["runs"][0]  # type: ignore[index]
    assert run["invocations"][0]["executionSuccessful"] is False
    assert run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"] == "vmlinux: cannot read"


def test_github_annotations(kernel: tuple[str, Path], v72: LayoutSet) -> None:
    path, base = kernel
    write_kernel(path, with_member_moved(v72, "net_iov", "owner", 8))
    lines = formats.render(gate.gate(base, [path]).diff, "github").splitlines()
    assert lines[0].startswith(f"::error file={github.escape_property(str(base))},title=netmem layout break%3A "
                               "struct net_iov::")
    assert "owner: moved from offset 56 to 64" in lines[0]
    assert lines[-1].startswith("::error title=netmem layout gate::") and "(exit 12)" in lines[-1]
    assert github.escape_data("50%\nx") == "50%25%0Ax" and github.escape_property("a:b,c") == "a%3Ab%2Cc"


def test_junit_classnames_have_no_dots(grouped: diff.DiffResult) -> None:
    root = ET.fromstring(formats.render_junit(grouped))
    names = [c.attrib["classname"] for c in root.iter("testcase")]
    assert names and all("." not in n for n in names) and "v6_19@x86_64" in names


@pytest.mark.parametrize("name", ["own\x00er", "bad\x1b[31m", "uni\ud800code", "tab\tok", "\ufffe"])
def test_junit_is_valid_xml_for_any_member_name(v72: LayoutSet, name: str) -> None:
    niov = v72.structs["net_iov"]
    renamed = niov._replace(fields=tuple(f._replace(name=name, offset=f.offset + 8) if f.name == "owner" else f
                                         for f in niov.fields))
    result = diff.diff(v72, v72._replace(structs={**v72.structs, "net_iov": renamed}))
    root = ET.fromstring(formats.render_junit(result).encode("utf-8", "surrogatepass"))
    failure = next(c.find("failure") for c in root.iter("testcase") if c.find("failure") is not None)
    assert "added" in (failure.text or "")  # type: ignore[union-attr]


# ---- the command -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_cli_every_format_with_exit_12(fmt: str, kernel: tuple[str, Path], v72: LayoutSet, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path, base = kernel
    write_kernel(path, with_member_moved(v72, "net_iov", "type", 16))
    out = tmp_path / f"report.{fmt}"
    assert main(["gate", str(base), "--kernel", path, "--format", fmt, "-o", str(out)]) == 12
    err = capsys.readouterr().err
    assert "layout break" in err and f"netmem-ffi gate {base} --kernel {path} --update" in err
    text = out.read_text()
    assert "type" in text
    if fmt == "sarif":
        _sarif_ok(text)
    elif fmt == "junit":
        ET.fromstring(text)
    elif fmt == "json":
        assert json.loads(text)["exit_code"] == 12


def test_cli_update_then_pass(kernel: tuple[str, Path], v72: LayoutSet, capsys: pytest.CaptureFixture[str]) -> None:
    path, base = kernel
    write_kernel(path, with_member_moved(v72, "net_iov", "type", 16))
    assert main(["gate", str(base), "--kernel", path]) == 12
    assert main(["gate", str(base), "--kernel", path, "--update"]) == 0
    assert capsys.readouterr().out.count("baseline updated") == 1
    assert main(["gate", str(base), "--kernel", path]) == 0


@pytest.mark.parametrize("fmt", ["junit", "sarif", "json"])
def test_cli_unreadable_input_still_writes_the_report(fmt: str, kernel: tuple[str, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, base = kernel
    missing = str(tmp_path / "gone.btf")
    out = tmp_path / f"report.{fmt}"
    assert main(["gate", str(base), "--kernel", missing, "--format", fmt, "-o", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("netmem-ffi: error: ") and "gone.btf" in err[0]
    text = out.read_text()
    if fmt == "junit":
        (error,) = ET.fromstring(text).iter("error")
        assert "gone.btf" in error.attrib["message"]
    elif fmt == "sarif":
        assert _sarif_ok(text)["runs"][0]["invocations"][0]["executionSuccessful"] is False  # type: ignore[index]
    else:
        assert json.loads(text)["errors"][0]["source"] == missing


def test_cli_model_gate_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _model_baseline(tmp_path / "m.json", ["v7.2"], ["x86_64", "arm64", "ppc64"])
    assert main(["gate", str(base)]) == 0
    _drift(base, member="pp_magic", struct="netmem_desc")
    assert main(["gate", str(base)]) == 12
    out = capsys.readouterr().out
    assert "v7.2 on x86_64, arm64, ppc64" in out and "pp_magic" in out


def test_snapshot_command_records_kernels(kernel: tuple[str, Path], tmp_path: Path) -> None:
    path, base = kernel
    out = tmp_path / "snap.json"
    assert main(["snapshot", "--kernel", path, "-o", str(out)]) == 0
    assert out.read_text() == base.read_text()
    assert main(["snapshot", "--kernel", path, "--kernel", str(tmp_path / "nope"), "-o", str(tmp_path / "x.json")]) == 1
    assert not (tmp_path / "x.json").exists()
