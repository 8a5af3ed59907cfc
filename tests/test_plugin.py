"""The pytest plugin (pytest11 entry point): the gate item, its options, its selection, its reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pycparser.c_ast  # noqa: F401  (see below)
import pytest
from btf_support import need_vmlinux

import netmem_ffi.abicheck.gate  # noqa: F401
from netmem_ffi.abi import arches
from netmem_ffi.abicheck import snapshot
from netmem_ffi.pytest_plugin import GATE_NODEID

pytest_plugins = ["pytester"]
# pytester's in-process runs unload the modules a run imported; the gate's (and pycparser's, whose
# node classes the engine tests with isinstance) are imported here first so that every run shares them.

PLAIN_TEST = "def test_plain():\n    assert 1 + 1 == 2\n"


def _baseline(path: Path, profiles: list[str] | None = None, arches: list[str] | None = None) -> Path:
    snapshot.dump(snapshot.take(profiles, arches), path)
    return path


def _drift(path: Path, pair: int = 0, struct: str = "net_iov", member: int = 1, delta: int = 8) -> tuple[str, int, int]:
    """Move one member in a baseline file: (member, baseline offset, model offset)."""
    doc = json.loads(path.read_text())
    field = doc["layouts"][pair]["structs"][struct]["fields"][member]
    model = field["offset"]
    field["offset"] += delta
    path.write_text(json.dumps(doc))
    return field["name"], field["offset"], model


@pytest.fixture()
def plain(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_plain=PLAIN_TEST)
    return pytester


def test_a_run_without_options_is_untouched(plain: pytest.Pytester) -> None:
    result = plain.runpytest()
    result.assert_outcomes(passed=1)
    assert "netmem layout gate" not in result.stdout.str() and "netmem-layout-gate" not in result.stdout.str()


def test_plugin_module_imports_nothing_heavy() -> None:
    code = ("import sys, netmem_ffi.pytest_plugin; "
            "print(sorted(m for m in ('rich', 'netmem_ffi.abicheck.diff', 'netmem_ffi.abicheck.snapshot', 'netmem_ffi.layout.engine') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_matching_baseline_passes(plain: pytest.Pytester) -> None:
    base = _baseline(plain.path / "base.json")
    result = plain.runpytest(f"--netmem-baseline={base}", "-rA")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*netmem layout gate*", f"*base.json: same: {len(snapshot.load(base).layouts)} pairs*"])


def test_drift_fails_with_the_diff(plain: pytest.Pytester) -> None:
    base = _baseline(plain.path / "base.json", ["v7.2", "v6.19"], ["x86_64", "armhf"])
    member, old, new = _drift(base, pair=3)
    result = plain.runpytest(f"--netmem-baseline={base}")
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "netmem layouts drifted from the baseline" in out
    assert f"moved {old} -> {new}" in out and member in out
    assert "--netmem-update-baseline" in out
    assert "Traceback" not in out


def test_update_rewrites_the_baseline_on_purpose(plain: pytest.Pytester) -> None:
    base = _baseline(plain.path / "base.json", ["v7.2"], ["s390x", "i386"])
    _drift(base)
    result = plain.runpytest(f"--netmem-baseline={base}", "--netmem-update-baseline")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*base.json: baseline updated*"])
    assert base.read_text() == snapshot.take(["v7.2"], ["s390x", "i386"]).dumps()
    plain.runpytest(f"--netmem-baseline={base}").assert_outcomes(passed=2)


def test_update_creates_a_missing_baseline(plain: pytest.Pytester) -> None:
    base = plain.path / "new.json"
    plain.runpytest(f"--netmem-baseline={base}", "--netmem-update-baseline", "--netmem-profiles=v6.12,v7.2")
    assert snapshot.load(base).keys() == snapshot.take(["v6.12", "v7.2"], arches.ARCHES).keys()


def test_profiles_and_arches_limit_the_gate(plain: pytest.Pytester) -> None:
    base = _baseline(plain.path / "base.json", ["v6.19", "v7.2"], ["x86_64", "riscv64"])
    _drift(base, pair=0)  # v6.19@x86_64
    plain.runpytest(f"--netmem-baseline={base}").assert_outcomes(passed=1, failed=1)
    limited = plain.runpytest(f"--netmem-baseline={base}", "--netmem-profiles=v7.2", "--netmem-arches=amd64,rv64")
    limited.assert_outcomes(passed=2)
    limited.stdout.fnmatch_lines(["*same: 2 pairs*"])


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "baseline does not exist; record it on purpose"), ("{oops", "not a netmem-ffi snapshot: bad JSON")],
)
def test_missing_or_broken_baseline_fails_clearly(plain: pytest.Pytester, content: str | None, message: str) -> None:
    base = plain.path / "base.json"
    if content is not None:
        base.write_text(content)
    result = plain.runpytest(f"--netmem-baseline={base}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"*{message}*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--netmem-update-baseline"], "*--netmem-update-baseline needs --netmem-baseline*"),
        (["--netmem-kernel=vmlinux"], "*--netmem-kernel needs --netmem-baseline*"),
        (["--netmem-baseline=b.json", "--netmem-profiles=v9.9"], "*--netmem-profiles: *v9.9*"),
        (["--netmem-baseline=b.json", "--netmem-arches=mips"], "*--netmem-arches: *mips*"),
        (["--netmem-baseline=b.json", "--netmem-kernel=k", "--netmem-arches=x86_64"], "*cannot go with --netmem-kernel*"),
    ],
)
def test_usage_errors(plain: pytest.Pytester, args: list[str], message: str) -> None:
    result = plain.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.parametrize(
    ("args", "runs_gate"),
    [
        ([], True),
        (["-k", "plain"], False),
        (["-k", "netmem_layout_gate"], True),
        (["-m", "netmem_layout_gate"], True),
        (["-m", "not netmem_layout_gate"], False),
        (["--deselect", GATE_NODEID], False),
        (["test_plain.py::test_plain"], False),
        (["test_plain.py"], True),
    ],
)
def test_the_gate_item_obeys_selection(plain: pytest.Pytester, args: list[str], runs_gate: bool) -> None:
    base = _baseline(plain.path / "base.json", ["v7.2"], ["x86_64"])
    _drift(base)  # the gate fails whenever it runs
    result = plain.runpytest(f"--netmem-baseline={base}", "-v", *args)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == int(runs_gate), result.stdout.str()
    assert (GATE_NODEID in result.stdout.str()) == runs_gate


def test_collected_count_equals_what_runs(plain: pytest.Pytester) -> None:
    base = _baseline(plain.path / "base.json", ["v7.2"], ["x86_64"])
    collected = plain.runpytest(f"--netmem-baseline={base}", "--collect-only", "-q")
    collected.stdout.fnmatch_lines(["*2 tests collected*"])
    assert GATE_NODEID in collected.stdout.str()
    ran = plain.runpytest(f"--netmem-baseline={base}")
    ran.stdout.fnmatch_lines(["collected 2 items"])
    ran.assert_outcomes(passed=2)


def test_junit_names_the_gate_with_a_classname(plain: pytest.Pytester) -> None:
    base = _baseline(plain.path / "base.json", ["v7.2"], ["x86_64"])
    _drift(base)
    plain.runpytest(f"--netmem-baseline={base}", "--junitxml=out.xml")
    cases = {c.attrib["name"]: c for c in ET.parse(plain.path / "out.xml").iter("testcase")}
    gate = cases["netmem-layout-gate"]
    assert gate.attrib["classname"] == "netmem_ffi" and gate.find("failure") is not None
    assert "moved" in (gate.find("failure").text or "")  # type: ignore[union-attr]


def test_baseline_updated_is_printed_once(plain: pytest.Pytester) -> None:
    base = _baseline(plain.path / "base.json", ["v7.2"], ["x86_64"])
    result = plain.runpytest(f"--netmem-baseline={base}", "--netmem-update-baseline")
    assert result.stdout.str().count("baseline updated") == 1


def test_fixture_gates_on_a_baseline_of_its_own(pytester: pytest.Pytester) -> None:
    base = _baseline(pytester.path / "own.json", ["v6.17"], ["ppc64"])
    member, _, _ = _drift(base, struct="netmem_desc", member=2)
    pytester.makepyfile(test_own_baseline=f"""
        def test_gate(netmem_layout_gate):
            netmem_layout_gate.check({str(base)!r})

        def test_compare_only(netmem_layout_gate):
            result = netmem_layout_gate.compare({str(base)!r})
            assert result.exit_code == 12

        def test_no_baseline_skips(netmem_layout_gate):
            netmem_layout_gate.check()
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*struct netmem_desc*", f"*{member}*moved*", "*no netmem layout baseline*"])




def test_kernel_gate_fails_on_a_moved_field_then_passes_after_update(plain: pytest.Pytester) -> None:
    from btf_support import with_member_moved, write_kernel

    from netmem_ffi.layout.models import model_layouts

    model = model_layouts("v7.2", "x86_64")
    kernel = write_kernel(plain.path / "vmlinux.btf", model)
    base = plain.path / "kernel-base.json"
    args = [f"--netmem-baseline={base}", f"--netmem-kernel={kernel}"]
    plain.runpytest(*args, "--netmem-update-baseline").assert_outcomes(passed=2)
    assert [ls.source for ls in snapshot.load(base).layouts] == [kernel]
    plain.runpytest(*args).assert_outcomes(passed=2)
    write_kernel(kernel, with_member_moved(model, "net_iov_area", "base_virtual", 8))
    failed = plain.runpytest(*args)
    failed.assert_outcomes(passed=1, failed=1)
    failed.stdout.fnmatch_lines(["*netmem layouts drifted*", "*base_virtual*moved*"])
    plain.runpytest(*args, "--netmem-update-baseline").assert_outcomes(passed=2)
    plain.runpytest(*args).assert_outcomes(passed=2)


def test_unreadable_kernel_fails_the_gate(plain: pytest.Pytester) -> None:
    base = _baseline(plain.path / "base.json", ["v7.2"], ["x86_64"])
    result = plain.runpytest(f"--netmem-baseline={base}", f"--netmem-kernel={plain.path / 'nothing'}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*nothing: cannot read*"])


def test_running_kernel_gate(plain: pytest.Pytester) -> None:
    vmlinux = need_vmlinux()
    base = plain.path / "running.json"
    args = [f"--netmem-baseline={base}", f"--netmem-kernel={vmlinux}"]
    plain.runpytest(*args, "--netmem-update-baseline").assert_outcomes(passed=2)
    plain.runpytest(*args).assert_outcomes(passed=2)
