"""A downstream repository, as a user sets one up: netmem_ffi installed from a wheel, gating its kernel build.

The scratch project gets a kernel "built in its pipeline" (a synthesized vmlinux: an ELF whose
``.BTF`` declares the v7.2 layouts, or raw BTF where objcopy is absent), records its baselines,
then runs the steps of ``examples/ci-layout-gate.yml`` as written: they pass; a build that
moves a field fails them with the diff, exit 12, valid JUnit and SARIF; ``--update`` makes
them pass again.  Slow: building the wheel compiles every extension.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from btf_support import with_member_moved, write_kernel

from netmem_ffi.layout.models import model_layouts

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "ci-layout-gate.yml"


def _workflow() -> Any:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(WORKFLOW.read_text())


def _gate_job() -> dict[str, Any]:
    return _workflow()["jobs"]["layout-gate"]  # type: ignore[no-any-return]


def _gate_steps() -> list[dict[str, Any]]:
    return [s for s in _gate_job()["steps"] if s.get("name", "").startswith("Gate")]


def test_workflow_installs_netmem_ffi_as_a_dependency_and_gates_a_kernel_and_the_model() -> None:
    wf = _workflow()
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers and "pull_request" in triggers
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    assert all(("uses" in s) != ("run" in s) for s in steps)
    runs = "\n".join(s.get("run", "") for s in _gate_job()["steps"])
    assert 'pip install "netmem_ffi' in runs and 'pip install "."' not in runs and ".[test]" not in runs
    assert "--kernel" in runs and '--format sarif' in runs and "--netmem-kernel" in runs
    assert any(s.get("uses", "").startswith("actions/download-artifact") for s in _gate_job()["steps"])
    assert any(s.get("uses", "").startswith("github/codeql-action/upload-sarif") for s in _gate_job()["steps"])
    uploads = [s["with"]["path"] for s in _gate_job()["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and all(name in uploads[0] for name in ("netmem-kernel.xml", "netmem-kernel.sarif", "pytest.xml"))
    build = "\n".join(s.get("run", "") for s in wf["jobs"]["build-kernel"]["steps"])
    assert "DEBUG_INFO_BTF" in build and "vmlinux" in build


def _vmlinux(path: Path, moved: bool) -> None:
    """The pipeline's kernel build: an ELF vmlinux carrying .BTF (raw BTF where objcopy is absent)."""
    model = model_layouts("v7.2", "x86_64")
    btf = path.with_suffix(".btf")
    write_kernel(btf, with_member_moved(model, "net_iov", "owner", 8) if moved else model)
    objcopy, gcc = shutil.which("objcopy"), shutil.which("gcc")
    if objcopy is None or gcc is None or sysconfig.get_platform() != "linux-x86_64":
        shutil.copyfile(btf, path)
        return
    obj = path.with_suffix(".o")
    src = path.with_suffix(".c")
    src.write_text("int netmem_downstream_marker;\n")
    subprocess.run([gcc, "-c", str(src), "-o", str(obj)], check=True)
    subprocess.run([objcopy, "--add-section", f".BTF={btf}", str(obj), str(path)], check=True)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with netmem_ffi installed from a wheel of this repository (dependencies reused)."""
    pytest.importorskip("wheel", reason="building the wheel offline needs the test extra's `wheel` (--no-build-isolation)")
    d = tmp_path_factory.mktemp("downstream-venv")
    wheels = d / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True, timeout=900, check=False)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("netmem_ffi-*.whl")
    env = d / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    python = env / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                             capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stderr[-3000:]
    # then the current environment's packages (cffi, construct, rich, pytest ...) after the venv's own; written
    # after the install, or pip would see this environment's netmem_ffi as "already satisfied" and skip the wheel
    Path(site, "current-site-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run([str(python), "-c", "import netmem_ffi; print(netmem_ffi.__file__)"], cwd=d,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(site), f"netmem_ffi imported from {where}, not from the wheel in {site}"
    return env


def _shell(script: str, cwd: Path, venv: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **{k: str(v) for k, v in _gate_job()["env"].items()},
           "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def _steps(project: Path, venv: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    return {s["name"]: _shell(s["run"], project, venv) for s in _gate_steps()}


@pytest.mark.slow
def test_downstream_gate_fails_on_a_moved_field_and_passes_after_update(venv: Path, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from sarif_schema import SCHEMA

    project = tmp_path / "my-driver"
    (project / "tests").mkdir(parents=True)
    (project / "build").mkdir()
    (project / "layouts").mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "my-driver"\nversion = "1"\n'
                                            'dependencies = ["netmem_ffi>=0.2"]\n')
    (project / "tests" / "test_driver.py").write_text("def test_driver():\n    assert True\n")
    _vmlinux(project / "build" / "vmlinux", moved=False)
    record = _shell('netmem-ffi gate "$KERNEL_BASELINE" --kernel "$VMLINUX" --update && '
                    'netmem-ffi gate "$MODEL_BASELINE" --update --profile v7.2 --arch x86_64,arm64', project, venv)
    assert record.returncode == 0, record.stderr
    assert json.loads((project / "layouts" / "kernel.json").read_text())["layouts"][0]["profile"] == "v7.2"

    for name, run in _steps(project, venv).items():
        assert run.returncode == 0, f"{name}: {run.stdout}{run.stderr}"

    _vmlinux(project / "build" / "vmlinux", moved=True)
    runs = _steps(project, venv)
    github, reports, model, plugin = (runs[s["name"]] for s in _gate_steps())
    assert github.returncode == 12 and "::error file=layouts/kernel.json,title=netmem layout break" in github.stdout
    assert "owner: moved from offset 56 to 64" in github.stdout
    assert reports.returncode == 12 and model.returncode == 0
    junit = ET.parse(project / "netmem-kernel.xml").getroot()
    failures = [c for c in junit.iter("testcase") if c.find("failure") is not None]
    assert [c.attrib["name"] for c in failures] == ["struct net_iov"] and "." not in failures[0].attrib["classname"]
    sarif = json.loads((project / "netmem-kernel.sarif").read_text())
    jsonschema.validate(sarif, SCHEMA)
    assert [r["level"] for r in sarif["runs"][0]["results"]] == ["error"]
    assert plugin.returncode == 1, plugin.stdout
    assert "netmem layouts drifted" in plugin.stdout and "moved 56 -> 64" in plugin.stdout
    cases = {c.attrib["name"]: c for c in ET.parse(project / "pytest.xml").iter("testcase")}
    assert cases["netmem-layout-gate"].find("failure") is not None and cases["netmem-layout-gate"].attrib["classname"]
    assert cases["test_driver"].find("failure") is None

    update = _shell('netmem-ffi gate "$KERNEL_BASELINE" --kernel "$VMLINUX" --update', project, venv)
    assert update.returncode == 0 and update.stdout.count("baseline updated") == 1
    for name, run in _steps(project, venv).items():
        assert run.returncode == 0, f"{name}: {run.stdout}{run.stderr}"
