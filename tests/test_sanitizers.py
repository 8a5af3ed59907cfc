"""The C path under AddressSanitizer+UBSan, ThreadSanitizer and valgrind: zero reports.

Each sanitizer build (``scripts/sanitize.py``) is compiled once per module into a
temp dir and runs ``tests/fuzz_c_path.py`` in a subprocess with the runtime
preloaded.  Controls prove each tool is live: a real use-after-free and a real
data race must be reported.  Tests skip when gcc, the sanitizer runtime or
valgrind is missing.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DRIVER = str(ROOT / "tests" / "fuzz_c_path.py")


def _load_sanitize():
    spec = importlib.util.spec_from_file_location("netmem_sanitize", ROOT / "scripts" / "sanitize.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


sanitize = _load_sanitize()
Runner = Callable[..., subprocess.CompletedProcess]


def _runner(kind: str, profiles: list[str], tmp: Path) -> Runner:
    if sanitize.runtime_library(sanitize.SANITIZERS[kind]) is None:
        pytest.skip(f"gcc with {sanitize.SANITIZERS[kind].runtime} is not installed")
    modules = sanitize.build(kind, profiles, tmp)

    def run(*driver_args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd, env = sanitize.command(kind, modules, [DRIVER, *driver_args])
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)

    return run


@pytest.fixture(scope="module")
def asan(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """Runs the driver over ASan+UBSan builds of v7.2 (newest layout) and v6.12 (oldest: no area, no type)."""
    return _runner("asan", ["v7.2", "v6.12"], tmp_path_factory.mktemp("asan"))


@pytest.fixture(scope="module")
def tsan(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return _runner("tsan", ["v7.2"], tmp_path_factory.mktemp("tsan"))


def _reports(stderr: str) -> list[str]:
    return re.findall(r"(?:ERROR: AddressSanitizer|runtime error|WARNING: ThreadSanitizer)[^\n]*", stderr)


def _clean(out: subprocess.CompletedProcess, mode: str) -> None:
    assert _reports(out.stderr) == [], out.stderr[-4000:]
    assert out.returncode == 0, out.stderr[-4000:]
    assert out.stdout.splitlines()[-1].startswith(f"{mode}: "), out.stdout


def test_driver_calls_every_declared_entry_point() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import fuzz_c_path
    finally:
        sys.path.remove(str(ROOT / "tests"))
    declared = fuzz_c_path.declared_functions()
    assert {"nm_area_create", "nm_put_netmem_bulk", "nm_pp_unref", "nm_counter_add_loop"} <= declared
    assert len(declared) >= 30


def test_asan_every_entry_point_is_clean(asan: Runner) -> None:
    _clean(asan("memory", "v7.2", "v6.12"), "memory")


def test_asan_threads_and_free_at_zero_are_clean(asan: Runner) -> None:
    _clean(asan("threads", "v7.2", "v6.12"), "threads")


def test_asan_niov_cdata_after_close_is_clean(asan: Runner) -> None:
    """A niov's cdata and its owner, used after close(): memory the cdata keeps alive, never freed."""
    _clean(asan("cdata-after-close", "v7.2", "v6.12"), "cdata-after-close")


def test_asan_reports_a_use_after_free(asan: Runner) -> None:
    """Control: a page map's struct page freed by close() and read through a pointer cast before."""
    out = asan("use-after-close")
    assert out.returncode == sanitize.REPORT_EXIT
    assert "heap-use-after-free" in out.stderr


def test_tsan_threads_on_shared_refs_are_clean(tsan: Runner) -> None:
    _clean(tsan("threads"), "threads")


def test_tsan_reports_a_data_race(tsan: Runner) -> None:
    """Control: a plain memcpy into a niov while the runtime stores to it atomically."""
    out = tsan("race")
    assert out.returncode == sanitize.REPORT_EXIT
    assert "WARNING: ThreadSanitizer: data race" in out.stderr


def test_tsan_stale_refs_racing_free_and_realloc(tsan: Runner) -> None:
    """get/put/ref_count on refs of pages other threads free and reallocate: errors, never a data race."""
    _clean(tsan("stale"), "stale")


def _our_valgrind_errors(stderr: str) -> list[str]:
    """valgrind error blocks with a frame in our code (CPython's own noise is not ours to fix)."""
    blocks = re.split(r"\n==\d+== \n", stderr)
    return [b for b in blocks if re.search(r"_abi_v|netmem_rt\.c|netmem_py\.c", b)]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_valgrind_memcheck_normal_build() -> None:
    """The shipped build (not a sanitizer build) under memcheck: no error with a frame in our code."""
    env = dict(os.environ, PYTHONMALLOC="malloc")
    out = subprocess.run(["valgrind", "--quiet", "--num-callers=30", sys.executable, DRIVER, "memory", "v7.2"],
                         env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.stdout.splitlines()[-1].startswith("memory: "), out.stderr[-4000:]
    assert _our_valgrind_errors(out.stderr) == []
