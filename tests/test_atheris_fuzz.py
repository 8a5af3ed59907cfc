"""Coverage-guided fuzzing (atheris/libFuzzer) of the BTF reader, the kernel-input unpacker and the
snapshot loader, from the seed corpus in tests/corpus/ (slow tier, a fixed number of runs each).

A finding is any exception other than a ``NetmemError`` subclass, an input running past
``-timeout`` seconds, or one using more than ``-rss_limit_mb``; libFuzzer then exits non-zero and
writes ``crash-*``/``timeout-*``/``oom-*``, which the assertion shows.  The corpus grown by the run
stays in a temporary directory (the repository's seeds are never rewritten).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris (coverage-guided fuzzing) is not installed")

HERE = Path(__file__).parent
#: target -> libFuzzer runs in the slow tier.
RUNS = {"btf": 50_000, "inputs": 50_000, "snapshot": 20_000}


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(RUNS))
def test_coverage_guided_fuzzing(target: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(HERE / "corpus" / target, corpus)
    done = subprocess.run(
        [sys.executable, str(HERE / "fuzz_atheris.py"), target, f"-runs={RUNS[target]}", "-max_len=65536",
         "-timeout=5", "-rss_limit_mb=1024", f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=1800, check=False, cwd=tmp_path)
    findings = sorted(p.name for p in tmp_path.iterdir() if re.match(r"(crash|timeout|oom|leak)-", p.name))
    assert done.returncode == 0 and not findings, (findings, done.stderr[-3000:])
    assert f"Done {RUNS[target]} runs" in done.stderr
    cov = re.findall(r"cov: (\d+)", done.stderr)
    print(f"{target}: {RUNS[target]} runs, coverage {cov[-1] if cov else '?'} edges, "
          f"corpus {len(list(corpus.iterdir()))} inputs, no findings")
