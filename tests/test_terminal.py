"""Output on a terminal at 60, 80 and 200 columns and piped carries the same facts (issue 17).

Each command runs as a real process (tests/cli_support.py): under a
pseudo-terminal whose window size is set with TIOCSWINSZ (rich reads it from
the terminal), or with its output piped.  Colour codes are stripped, then every offset, size, name and
verdict the JSON form reports must appear, whole, in every form: nothing cut
(``netmem…``), nothing dropped (``desc;   /*`` with no numbers).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from btf_support import need_vmlinux, with_member_moved, write_kernel
from cli_support import FORMS, has_row, run_cli, run_piped

from netmem_ffi.layout.models import model_layouts


def json_of(argv: list[str], codes: tuple[int, ...] = (0,)) -> object:
    return json.loads(run_cli([*argv, "--json"], "piped", codes))


SUBJECTS = {
    "model": (["-p", "v6.17", "-a", "x86_64"], "netmem v6.17 on x86_64 (64-bit, little-endian)"),
    "kernel": (["--kernel", "reference:s390x-7.2"], "kernel reference:s390x-7.2 (7.2."),
}


@pytest.fixture(scope="module")
def layouts() -> dict[str, object]:
    docs = {}
    for name, (argv, _) in SUBJECTS.items():
        docs[name] = json_of(["layout", *argv])
    return docs


@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("form", FORMS)
def test_layout_keeps_every_member_offset_and_size(form: int | str, subject: str,
                                                   layouts: dict[str, dict[str, object]]) -> None:
    argv, title = SUBJECTS[subject]
    out = run_cli(["layout", *argv], form)
    structs = layouts[subject]["structs"]
    assert isinstance(structs, dict)
    assert title in out
    for name, layout in structs.items():
        assert f"struct {name} {{" in out
        assert re.search(rf"/\* size: {layout['size']}, cachelines: \d+, members: \d+ \*/", out), name
        for f in layout["fields"]:
            leaf = f["name"].rsplit(".", 1)[-1]
            pattern = rf"\b{re.escape(leaf)}(\[\d+\])?;\s+/\*\s+{f['offset']}\s+{f['size']} \*/"
            assert re.search(pattern, out), (form, name, f)


@pytest.mark.parametrize("form", FORMS)
def test_overlay_keeps_every_row(form: int | str) -> None:
    argv = ["layout", "--overlay", "-p", "v6.16", "-a", "armhf"]
    doc = json_of(argv)
    assert isinstance(doc, dict)
    out = run_cli(argv, form)
    columns = [c for c in ("page", "netmem_desc", "net_iov") if c in doc["overlay"][0]]
    header = next(line for line in out.splitlines() if "bytes" in line and "aliases page" in line)
    assert all(c in header for c in columns)
    lines = out.splitlines()
    for row in doc["overlay"]:
        span = f"{row['offset']}-{row['offset'] + row['size'] - 1}"
        line = next((ln for ln in lines if re.search(rf"(^|[\s│|]){span}[\s│|]", ln)), None)
        assert line is not None, (form, span, out)
        verdict = {True: "yes", False: "NO", None: "-"}[row["mirrored"]]
        for cell in [*(row[c] or "-" for c in columns), verdict]:
            assert cell in line, (form, span, cell, line)


@pytest.mark.parametrize("form", FORMS)
def test_profiles_keeps_every_fact(form: int | str) -> None:
    data = json_of(["profiles"])
    assert isinstance(data, list)
    out = run_cli(["profiles"], form)
    for r in data:
        facts = [r["name"], r["summary"], f"net_iov {r['net_iov_size']} B", f"static asserts {r['static_asserts']}",
                 ", ".join(r["kernels"]), ", ".join(r["net_iov_members"]), *r["notes"]]
        if r["kernel_lacked"]:
            facts.append(f"its kernels lacked: {', '.join(r['kernel_lacked'])}")
        if r["references"]:
            facts.append(", ".join(r["references"]))
        for fact in facts:
            assert fact in out, (form, r["name"], fact)


def test_narrow_terminal_output_equals_piped_words() -> None:
    """At 60 columns the words are the piped ones (the terminal adds colour, never other text)."""
    argv = ["layout", "net_iov", "-p", "v7.2", "-a", "i386"]
    piped = run_cli(argv, "piped").split()
    narrow = run_cli(argv, 60).split()
    assert [w for w in piped if w not in ("/*", "*/")][:] == [w for w in narrow if w not in ("/*", "*/")]


# --- check, diff, gate, snapshot: every offset, size, name and verdict of --json in every form ---


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Synthesized kernels: the v7.2 model on x86_64, and the same with net_iov.owner moved by 8 bytes."""
    root = tmp_path_factory.mktemp("kernels")
    model = model_layouts("v7.2", "x86_64")
    return {"model": Path(write_kernel(root / "v72.btf", model)),
            "moved": Path(write_kernel(root / "moved.btf", with_member_moved(model, "net_iov", "owner", 8)))}


def _check_argv(which: str, kernels: dict[str, Path]) -> tuple[list[str], tuple[int, ...]]:
    if which == "running":
        return [need_vmlinux()], (0, 4, 12)
    if which == "reference":
        return ["--reference", "s390x-7.2"], (0,)
    return [str(kernels["moved"])], (12,)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("which", ["running", "reference", "mismatch"])
def test_check_keeps_every_fact(form: int | str, which: str, kernels: dict[str, Path]) -> None:
    argv, codes = _check_argv(which, kernels)
    doc = json_of(["check", *argv], codes)
    assert isinstance(doc, dict)
    out = run_cli(["check", *argv], form, codes)
    assert f"{doc['status'].upper()}: {doc['summary']}" in out, (form, out)
    assert has_row(out, ("struct", "member", "offset", "size", "type", "model offset/size", "verdict"))
    for sname, layout in doc["structs"].items():
        for f in layout["fields"]:
            assert has_row(out, (sname, f["name"], str(f["offset"]), str(f["size"]), f["type"])), (form, sname, f)
    for kind in ("mismatches", "notes"):
        for c in doc[kind]:
            assert c["message"] in out, (form, c)
    for a in doc["asserts"]:
        assert f"assert {'ok' if a['ok'] else 'FAILED'}: {a['macro']}: {a['expr']} ({a['lhs']} vs {a['rhs']})" in out
    assert "…" not in out and "(hint)" not in out
    if which == "mismatch":
        assert has_row(out, ("net_iov", "owner", "64", "8")) and "DIFFERS" in out
    if doc["match"]:  # a kernel that matches has no red row (a renamed member reads "ok (renamed from ...)")
        assert "missing in model" not in out and "DIFFERS" not in out


def test_check_error_is_printed_once(tmp_path: Path) -> None:
    """An unreadable input: its message on stderr only; stdout's row says it is unreadable."""
    bad = tmp_path / "empty.btf"
    bad.write_bytes(b"")
    done = run_piped(["check", str(bad)], codes=(1,))
    err, out = done.stderr.decode(), done.stdout.decode()
    assert err.count(str(bad)) == 1 and err.startswith("netmem-ffi: error: ") and "Traceback" not in err
    assert out == f"{bad}: UNREADABLE (the error is on stderr)\n"


def _diff_facts(doc: dict[str, object], out: str, form: int | str) -> None:
    """Every changed member's old and new offset/size, and the verdict, appear in *out*."""
    pairs = doc["pairs"]
    assert isinstance(pairs, list)
    for pair in pairs:
        assert pair["pair"] in out or pair["status"] == "same", (form, pair["pair"])
        for c in pair["changes"]:
            if c["member"] is None or not c["container"].startswith("struct "):
                assert c["message"] in out, (form, c)
        for rows in pair["members"].values():  # every member row of a changed struct, changed or not
            for row in rows:
                places = [f"{side['offset']} / {side['size']}" if side else "-" for side in (row["old"], row["new"])]
                assert has_row(out, (row["member"], *places)), (form, row)
    assert f"(exit {doc['exit_code']})" in out
    assert ("layout break:" in out) == bool(doc["breaking"])


@pytest.mark.parametrize("form", FORMS)
def test_diff_keeps_every_fact(form: int | str) -> None:
    argv = ["diff", "v6.19", "v7.2"]
    doc = json_of(argv, (12,))
    assert isinstance(doc, dict)
    _diff_facts(doc, run_cli(argv, form, (12,)), form)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, kernels: dict[str, Path]) -> Path:
    path = tmp_path_factory.mktemp("gate") / "baseline.json"
    run_cli(["snapshot", "--kernel", str(kernels["model"]), "-o", str(path)], "piped")
    return path


@pytest.mark.parametrize("form", FORMS)
def test_gate_keeps_every_fact(form: int | str, baseline: Path, kernels: dict[str, Path]) -> None:
    argv = ["gate", str(baseline), "--kernel", str(kernels["moved"])]
    doc = json_of(argv, (12,))
    assert isinstance(doc, dict) and doc["breaking"]
    _diff_facts(doc, run_cli(argv, form, (12,)), form)


@pytest.mark.parametrize("form", FORMS)
def test_snapshot_keeps_every_fact(form: int | str, tmp_path: Path) -> None:
    target = tmp_path / "snap.json"
    argv = ["snapshot", "--profile", "v6.19,v7.2", "--arch", "x86_64,i386", "-o", str(target)]
    summary = json_of(argv)
    assert isinstance(summary, dict)
    out = run_cli(argv, form)
    assert f"wrote {target}: schema {summary['schema']}, {len(summary['pairs'])} layout sets" in out
    for pair in summary["pairs"]:
        profile, arch = pair.split("@")
        assert re.search(rf"profiles [^;]*\b{re.escape(profile)}\b", out) and re.search(rf"arches .*\b{arch}\b", out)
    # to stdout the snapshot is the same JSON document in every form
    snap = run_cli(["snapshot", "--profile", "v7.2"], form)
    assert json.loads(snap) == json.loads(run_cli(["snapshot", "--profile", "v7.2"], "piped"))
