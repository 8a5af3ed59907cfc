"""The pytest plugin (pytest11 entry point) and the CI gate examples that use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from netmem_ffi.abicheck import snapshot
from netmem_ffi.abi import arches
pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
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
    [(None, "does not exist; create it on purpose"), ("{oops", "baseline unreadable: *bad JSON")],
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
        (["--netmem-baseline=b.json", "--netmem-profiles=v9.9"], "*unknown profile(s) v9.9*"),
    ],
)
def test_usage_errors(plain: pytest.Pytester, args: list[str], message: str) -> None:
    result = plain.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_bad_arch_fails_the_gate_item(plain: pytest.Pytester) -> None:
    base = _baseline(plain.path / "base.json", ["v7.2"])
    result = plain.runpytest(f"--netmem-baseline={base}", "--netmem-arches=vax")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*unsupported architecture 'vax'*"])


def test_fixture_gates_on_a_baseline_of_its_own(pytester: pytest.Pytester) -> None:
    base = _baseline(pytester.path / "own.json", ["v6.17"], ["ppc64"])
    member, _, _ = _drift(base, struct="netmem_desc", member=2)
    pytester.makepyfile(test_gate=f"""
        def test_gate(netmem_layout_gate):
            netmem_layout_gate.check({str(base)!r})

        def test_compare_only(netmem_layout_gate):
            result = netmem_layout_gate.compare({str(base)!r})
            assert result.exit_code == 4

        def test_no_baseline_skips(netmem_layout_gate):
            netmem_layout_gate.check()
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*struct netmem_desc*", f"*{member}*moved*", "*no netmem layout baseline*"])


# ---- examples/layout_gate.py and examples/ci-layout-gate.yml ----------------------------------------


def _gate(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / "layout_gate.py"), *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=120)


def test_gate_script_passes_on_a_matching_baseline(tmp_path: Path) -> None:
    base = _baseline(tmp_path / "base.json", None, ["x86_64", "i386"])
    run = _gate(str(base), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "same:" in run.stdout


def test_gate_script_fails_on_drift_with_reports(tmp_path: Path) -> None:
    base = _baseline(tmp_path / "base.json", ["v7.2"], ["arm64"])
    member, old, new = _drift(base, member=7)
    summary = tmp_path / "summary.md"
    run = _gate(str(base), "--junit", "gate.xml", "--markdown", "gate.md", cwd=tmp_path,
                env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert run.returncode == 4, run.stdout + run.stderr
    assert member in run.stdout and f"moved {old} -> {new}" in run.stdout
    from xml.etree import ElementTree as ET

    failures = [c.attrib["name"] for c in ET.parse(tmp_path / "gate.xml").iter("testcase") if c.find("failure") is not None]
    assert failures == ["struct net_iov"]
    assert f"moved {old} → {new}" in (tmp_path / "gate.md").read_text()
    assert summary.read_text() == (tmp_path / "gate.md").read_text()


@pytest.mark.parametrize(("args", "code", "message"), [
    (["missing.json"], 1, "missing.json: cannot read snapshot"),
    ([], 2, "usage"),
])
def test_gate_script_errors(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    run = _gate(*args, cwd=tmp_path)
    assert run.returncode == code and message in run.stderr and "Traceback" not in run.stderr


def test_gate_script_update(tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    assert _gate(str(base), "--update", "--profiles", "v7.2", "--arches", "i386", cwd=tmp_path).returncode == 0
    assert base.read_text() == snapshot.take(["v7.2"], ["i386"]).dumps()


def _workflow() -> Any:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((EXAMPLES / "ci-layout-gate.yml").read_text())


def test_workflow_is_a_github_actions_workflow() -> None:
    wf = _workflow()
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers and "pull_request" in triggers
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    assert all(("uses" in s) != ("run" in s) for s in steps)
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "layout_gate.py" in runs and "--netmem-baseline" in runs
