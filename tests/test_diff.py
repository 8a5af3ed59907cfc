"""Layout diff: classification, pairing, side-by-side rows, reports, and the diff command."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netmem_ffi.abi import registry
from netmem_ffi.abicheck import diff, snapshot, verdict
from netmem_ffi.cli import main
from netmem_ffi.errors import (
    KernelInputError,
    NetmemError,
    NetmemValueError,
    UnsupportedArchError,
)
from netmem_ffi.layout.models import model_layouts
from netmem_ffi.layout.types import EnumLayout, LayoutSet, StructLayout
from netmem_ffi.report import formats


def _with_struct(ls: LayoutSet, struct: StructLayout) -> LayoutSet:
    return ls._replace(structs={**ls.structs, struct.name: struct})


def _with_field(ls: LayoutSet, struct: str, name: str, **changes: object) -> LayoutSet:
    s = ls.structs[struct]
    fields = tuple(f._replace(**changes) if f.name == name else f for f in s.fields)  # type: ignore[arg-type]
    return _with_struct(ls, s._replace(fields=fields))


def _with_enum(ls: LayoutSet, values: tuple[tuple[str, int], ...]) -> LayoutSet:
    e = ls.enums["net_iov_type"]
    return ls._replace(enums={"net_iov_type": EnumLayout(e.name, e.size, values)})


@pytest.fixture(scope="module")
def v619() -> LayoutSet:
    return model_layouts("v6.19")


@pytest.fixture(scope="module")
def v72() -> LayoutSet:
    return model_layouts("v7.2")


@pytest.fixture(scope="module")
def swap(v619: LayoutSet, v72: LayoutSet) -> diff.DiffResult:
    return diff.diff(v619, v72, old_label="v6.19", new_label="v7.2")


def test_owner_type_swap_is_reported_as_two_moves(swap: diff.DiffResult, v619: LayoutSet, v72: LayoutSet) -> None:
    old, new = v619.structs["net_iov"], v72.structs["net_iov"]
    moved = {c.member: (c.old, c.new) for c in swap.pairs[0].changes if c.kind == "member_moved"}
    assert moved == {m: (old.offsetof(m), new.offsetof(m)) for m in ("owner", "type")}
    assert (old.offsetof("owner"), old.offsetof("type")) == (new.offsetof("type"), new.offsetof("owner"))
    assert old.size == new.size  # a size check alone cannot see it
    assert swap.breaking and swap.exit_code == verdict.CHANGE | verdict.INCOMPATIBLE == 12


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_swap_reads_in_one_side_by_side_view(swap: diff.DiffResult, fmt: str, v619: LayoutSet, v72: LayoutSet) -> None:
    report = formats.render(swap, fmt)
    arrow = "->" if fmt == "text" else "→"
    for member in ("owner", "type"):
        o, n = v619.structs["net_iov"].field(member), v72.structs["net_iov"].field(member)
        row = next(line for line in report.splitlines() if f"moved {o.offset} {arrow} {n.offset}" in line)
        assert member in row and f"{o.offset} / {o.size}" in row and f"{n.offset} / {n.size}" in row


def test_same_layouts_exit_zero(v72: LayoutSet) -> None:
    result = diff.diff(v72, v72)
    assert not result.changed and result.exit_code == verdict.SAME
    assert [p.status for p in result.pairs] == ["same"]


def test_rename_is_reported_but_breaks_only_when_asked() -> None:
    old, new = model_layouts("v6.15"), model_layouts("v6.16")
    default = diff.diff(old, new)
    renames = [c for _, c in default.changes() if c.kind == "member_renamed"]
    assert [(c.old, c.new) for c in renames] == [("__unused_padding", "type")]
    assert default.exit_code == verdict.CHANGE and default.changed
    assert diff.diff(old, new, diff.Policy(renames_break=True)).exit_code == 12


def test_rename_and_type_change_on_one_member_are_both_reported() -> None:
    """v6.16 renamed net_iov's __unused_padding to type and made it an enum: two changes, one row."""
    pair = diff.diff(model_layouts("v6.15"), model_layouts("v6.16")).pairs[0]
    on_type = {c.kind: c for c in pair.changes if c.member == "type"}
    assert set(on_type) == {"member_renamed", "member_type"}
    assert (on_type["member_type"].old, on_type["member_type"].new) == ("unsigned long", "enum net_iov_type")
    (row,) = [r for r in pair.rows("net_iov") if r.changes]
    assert row.name == "__unused_padding -> type" and {c.kind for c in row.changes} == set(on_type)
    assert "renamed __unused_padding -> type, type unsigned long -> enum net_iov_type" in formats.render_text(
        diff.diff(model_layouts("v6.15"), model_layouts("v6.16")))


@pytest.mark.parametrize(
    ("extra", "flag", "breaking"),
    [(("NET_IOV_NEW", 2), False, False), (("NET_IOV_NEW", 2), True, True), (("NET_IOV_NEG", -1), False, True)],
)
def test_enumerator_additions(v72: LayoutSet, extra: tuple[str, int], flag: bool, breaking: bool) -> None:
    new = _with_enum(v72, (*v72.enums["net_iov_type"].values, extra))
    result = diff.diff(v72, new, diff.Policy(enum_additions_break=flag))
    (change,) = [c for _, c in result.changes()]
    assert (change.kind, change.member, change.new) == ("enumerator_added", extra[0], extra[1])
    assert result.breaking is breaking


def test_struct_appears_without_break_and_disappears_with_one(v72: LayoutSet) -> None:
    fewer = v72._replace(structs={n: s for n, s in v72.structs.items() if n != "net_iov_area"})
    appeared, gone = diff.diff(fewer, v72), diff.diff(v72, fewer)
    assert [(c.kind, c.breaking) for _, c in appeared.changes()] == [("struct_added", False)]
    assert [(c.kind, c.breaking) for _, c in gone.changes()] == [("struct_removed", True)]
    assert (appeared.exit_code, gone.exit_code) == (4, 12)


def test_resize_and_struct_size(v72: LayoutSet) -> None:
    bigger = _with_field(v72, "net_iov", "type", size=8)
    bigger = _with_struct(bigger, bigger.structs["net_iov"]._replace(size=v72.structs["net_iov"].size + 8))
    kinds = {(c.kind, c.member) for _, c in diff.diff(v72, bigger).changes()}
    assert kinds == {("struct_size", None), ("member_resized", "type")}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["v6.12", "v6.17", "v7.2"]), st.data())
def test_any_moved_member_is_found_and_breaks(profile: str, data: st.DataObject) -> None:
    base = model_layouts(profile)
    struct = data.draw(st.sampled_from(sorted(base.structs)))
    member = data.draw(st.sampled_from([f.name for f in base.structs[struct].fields]))
    delta = data.draw(st.integers(1, 64))
    moved = _with_field(base, struct, member, offset=base.structs[struct].offsetof(member) + delta)
    result = diff.diff(base, moved)
    assert [(c.kind, c.container, c.member) for _, c in result.changes()] == [
        ("member_moved", f"struct {struct}", member)
    ]
    assert result.exit_code == 12
    (row,) = [r for r in result.pairs[0].rows(struct) if r.changes]
    assert row.old is not None and row.new is not None and row.new.offset - row.old.offset == delta


@pytest.mark.parametrize(("old", "new"), [("v6.12", "v6.15"), ("v6.15", "v6.17"), ("v6.19", "v7.2"), ("v7.2", "v6.12")])
def test_rows_cover_each_member_once(old: str, new: str) -> None:
    pair = diff.diff(model_layouts(old), model_layouts(new)).pairs[0]
    for name in set(pair.old.structs) & set(pair.new.structs):  # type: ignore[union-attr]
        rows = pair.rows(name)
        assert [r.old.name for r in rows if r.old] == [f.name for f in pair.old.structs[name].fields]  # type: ignore[union-attr]
        assert sorted(r.new.name for r in rows if r.new) == sorted(f.name for f in pair.new.structs[name].fields)  # type: ignore[union-attr]
        changed = {c.member for c in pair.changes_of(f"struct {name}") if c.member}
        assert changed == {c.member for r in rows for c in r.changes}


def test_snapshots_pair_by_profile_and_arch() -> None:
    old = snapshot.take(["v6.19", "v7.2"], ["x86_64", "i386"])
    new = snapshot.take(["v7.2", "v6.19"], ["i386", "arm64"])
    result = diff.diff(old, new)
    status = {p.label: p.status for p in result.pairs}
    assert status == {"v6.19@x86_64": "removed", "v6.19@i386": "same", "v7.2@x86_64": "removed",
                      "v7.2@i386": "same", "v6.19@arm64": "added", "v7.2@arm64": "added"}
    assert result.breaking  # a pair the baseline had is gone
    only_added = diff.diff(old.select(arches=["i386"]), new)
    assert only_added.changed and not only_added.breaking


def test_single_set_against_a_snapshot_compares_its_own_pair() -> None:
    snap = snapshot.take(["v6.19", "v7.2"], ["x86_64", "i386"])
    for side in (model_layouts("v6.19", "i386"), model_layouts("v7.2", "x86_64")):
        for result in (diff.diff(snap, side), diff.diff(side, snap)):
            assert [p.label for p in result.pairs] == [snapshot.key(side)] and not result.changed
    unmatched = diff.diff(snap, model_layouts("v6.12", "i386"))
    assert {p.status for p in unmatched.pairs} == {"removed", "added"} and unmatched.breaking


def test_json_report_is_the_result(swap: diff.DiffResult) -> None:
    doc = json.loads(formats.render(swap, "json"))
    assert doc == json.loads(json.dumps(swap.to_dict()))
    assert doc["exit_code"] == 12 and doc["summary"]["breaking"] == sum(c.breaking for _, c in swap.changes())
    rows = {r["member"]: r for r in doc["pairs"][0]["members"]["net_iov"]}
    assert rows["owner"]["changes"] == ["member_moved"]


def _check_junit(text: str, result: diff.DiffResult) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == len(result.pairs)
    for el in (root, *suites):
        assert {"name", "tests", "failures", "errors", "time"} <= set(el.attrib)
        float(el.attrib["time"])
    for suite, pair in zip(suites, result.pairs):
        cases = suite.findall("testcase")
        assert [c.attrib["name"] for c in cases] == pair.containers()
        assert int(suite.attrib["tests"]) == len(cases)
        assert int(suite.attrib["failures"]) == sum(c.find("failure") is not None for c in cases)
        for case in cases:
            assert {"name", "classname", "time"} <= set(case.attrib)
            failure = case.find("failure")
            breaking = [c for c in pair.changes_of(case.attrib["name"]) if c.breaking]
            assert (failure is not None) == bool(breaking)
            if failure is not None:
                assert {"message", "type"} <= set(failure.attrib)
                assert all(c.describe() in (failure.text or "") for c in breaking)
    assert int(root.attrib["tests"]) == sum(int(s.attrib["tests"]) for s in suites)
    assert int(root.attrib["failures"]) == sum(int(s.attrib["failures"]) for s in suites)
    return root


def test_junit_structure(swap: diff.DiffResult) -> None:
    root = _check_junit(formats.render(swap, "junit"), swap)
    failed = [c.attrib["name"] for c in root.iter("testcase") if c.find("failure") is not None]
    assert failed == ["struct net_iov"]


def test_junit_of_snapshots_with_notes() -> None:
    old = snapshot.take(["v6.15", "v7.2"], ["i386"])
    new = snapshot.take(["v6.16", "v7.2"], ["i386"])
    result = diff.diff(old.select(profiles=["v6.15"]), new.select(profiles=["v6.16"]))
    root = _check_junit(formats.render(result, "junit"), result)
    notes = [c.find("system-out") for c in root.iter("testcase")]
    assert any(n is not None and "renamed" in (n.text or "") for n in notes)
    _check_junit(formats.render(diff.diff(old, new), "junit"), diff.diff(old, new))


def test_markdown_table(swap: diff.DiffResult) -> None:
    md = formats.render(swap, "markdown")
    lines = md.splitlines()
    assert lines[0].startswith("### ") and ":x:" in md
    header = lines.index("| member | old offset / size | new offset / size | change | breaks ABI |")
    assert set(lines[header + 1]) <= set("|-: ")
    body = [line for line in lines[header + 2:] if line.startswith("|")]
    changed_rows = [r for r in swap.pairs[0].rows("net_iov") if r.changes]
    assert len(body) == len(changed_rows)
    assert all(line.count("|") == 6 for line in body)


def test_markdown_escapes_cells(v72: LayoutSet) -> None:
    odd = _with_field(v72, "net_iov", "owner", type="int | char")
    md = formats.render(diff.diff(v72, odd), "markdown")
    assert "int \\| char" in md


def test_library_misuse_is_a_netmem_error(swap: diff.DiffResult) -> None:
    with pytest.raises(NetmemValueError, match="yaml"):
        formats.render(swap, "yaml")
    with pytest.raises(NetmemValueError, match="at least one layout set"):
        diff.diff_sets(None, None)


def test_load_side_errors(tmp_path: Path) -> None:
    with pytest.raises(NetmemError, match="neither an existing file"):
        diff.load_side("v9.9")
    with pytest.raises(UnsupportedArchError, match="sparc"):
        diff.load_side("v7.2@sparc")
    assert diff.load_side("v7.2@aarch64").arch == "arm64"  # type: ignore[union-attr]
    with pytest.raises(KernelInputError, match="cannot read"):
        diff.load_side(str(tmp_path))


@pytest.fixture()
def baseline(tmp_path: Path) -> Path:
    path = tmp_path / "base.json"
    snapshot.dump(snapshot.take(["v6.19", "v7.2"], ["x86_64", "ppc64"]), path)
    return path


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["v6.19", "v7.2"], 12),
        (["v7.2", "v7.2@amd64"], 0),
        (["v6.15", "v6.16"], 4),
        (["v6.15", "v6.16", "--renames-break"], 12),
        (["{base}", "{base}"], 0),
        (["{base}", "v7.2"], 0),
        (["{base}", "v7.2@i386"], 12),
        (["v9.9", "v7.2"], 1),
        (["v7.2@vax", "v7.2"], 3),
        (["v7.2", "v7.2", "--format", "yaml"], 3),
        (["v7.2", "v7.2", "--json", "--format", "junit"], 3),
        (["v7.2"], 3),
    ],
)
def test_cli_exit_codes(argv: list[str], code: int, baseline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", *(a.format(base=baseline) for a in argv)]) == code
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_cli_output_file(fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"report.{fmt}"
    assert main(["diff", "v6.19", "v7.2", "--format", fmt, "-o", str(out)]) == 12
    captured = capsys.readouterr()
    assert "layout break" in captured.err and captured.out == ""
    expected = formats.render(diff.diff(diff.load_side("v6.19"), diff.load_side("v7.2"), old_label="v6.19",
                                        new_label="v7.2"), fmt)
    assert out.read_text() == expected


def test_cli_text_shows_swap(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "v6.19", "v7.2"]) == 12
    out = capsys.readouterr().out
    assert "owner" in out and "type" in out and "layout break" in out


def test_cli_kernel_source(capsys: pytest.CaptureFixture[str]) -> None:
    """A kernel BTF side: labelled with its detected profile, paired with that profile in a snapshot."""
    btf = Path("/sys/kernel/btf/vmlinux")
    if not btf.exists():
        pytest.skip("no kernel BTF on this machine")
    kernel = diff.load_side(str(btf))
    assert isinstance(kernel, LayoutSet) and kernel.profile in (*registry.names(), None)
    same = diff.diff(kernel, diff.load_side(str(btf)))
    assert not same.changed and same.pairs[0].label == snapshot.key(kernel)
    golden = Path(__file__).parent / "golden" / "layouts.json"
    code = main(["diff", str(golden), str(btf), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == doc["exit_code"] and code in (0, 4, 12)
    if kernel.profile is not None:  # a recognised kernel is compared with its own pair of the snapshot
        assert [p["pair"] for p in doc["pairs"]] == [snapshot.key(kernel)]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("junk", b"\x00garbage" * 8, "no BTF found"),
    ("junk", b'{"schema": 99}', "newer"),
    ("garbage.json", b"\x00garbage" * 8, "not a netmem-ffi snapshot"),
    ("list.json", b"[1, 2]", "not a netmem-ffi snapshot"),
    ("other", b'{"name": "something else"}', "not a netmem-ffi snapshot"),
])
def test_cli_unreadable_sides(tmp_path: Path, name: str, content: bytes, message: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / name
    junk.write_bytes(content)
    assert main(["diff", str(junk), "v7.2"]) == 1
    err = capsys.readouterr().err
    assert str(junk) in err and message in err and "Traceback" not in err


def test_cli_text_on_a_terminal_is_styled(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")  # the terminal form, captured (cli.output.color_mode)
    assert main(["diff", "v6.19", "v7.2"]) == 12
    out = capsys.readouterr().out
    assert "\x1b[" in out
    plain = formats.render_text(diff.diff(diff.load_side("v6.19"), diff.load_side("v7.2"), old_label="v6.19",
                                          new_label="v7.2"))
    assert all(line.strip() in out for line in plain.splitlines())


@pytest.mark.parametrize("fmt", ["junit", "markdown", "github", "text"])
def test_cli_unreadable_side_still_writes_the_report(fmt: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "garbage.json"
    junk.write_bytes(b"\x00\x01not json")
    out = tmp_path / f"report.{fmt}"
    assert main(["diff", str(junk), "v7.2", "--format", fmt, "-o", str(out)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("netmem-ffi: error: ") and "not a netmem-ffi snapshot" in line
    text = out.read_text()
    assert "not a netmem-ffi snapshot" in text
    if fmt == "junit":
        root = ET.fromstring(text)
        (error,) = root.iter("error")
        assert root.attrib["errors"] == "1" and str(junk) in error.attrib["message"]
