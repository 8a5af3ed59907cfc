"""The examples run and say what they should (so they cannot rot)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def run(name: str) -> str:
    out = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_quickstart() -> None:
    out = run("quickstart.py")
    assert "desc@0, type@48, owner@56" in out
    assert "binding refcount 2 page refcount 2" in out
    assert "pages allocated after the last put: 0" in out
    assert "use after free is caught" in out


def test_devmem_rx() -> None:
    out = run("devmem_rx.py")
    assert "pool is unreadable (memory provider): True" in out
    assert "delivered 200 packets; binding refcount peaked at 11, now 1" in out
    assert "niovs taken from the binding: 3;" in out  # 10 skbs in flight need 3 four-frag niovs; then recycled
    assert "pool destroyed: True inflight: 0" in out
    assert "binding unbound; refcount 0" in out


def test_io_uring_zcrx() -> None:
    out = run("io_uring_zcrx.py")
    assert "devmem? False - idx 5" in out
    assert "user refs: 3 outstanding: 3" in out
    assert "[True, True, True, False]" in out
    assert "user refs now: 0" in out


@pytest.mark.parametrize("path", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_runs(path: str) -> None:
    run(path)
