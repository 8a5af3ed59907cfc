"""Bad input to every ``netmem-ffi`` command: exit 1 or 3 with a one-line error, never a traceback.

Each case runs ``python -m netmem_ffi ...`` in a subprocess (the cases run
concurrently, once per module).  Exit 1 (an input could not be read) must come
with exactly one line on stderr, ``netmem-ffi: error: ...``, naming the bad
value; exit 3 (usage: abidiff's ERROR|USAGE_ERROR) with that line or
argparse's usage text (the subcommand's) and its ``error:`` line.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from netmem_ffi.abicheck import snapshot


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    exit: frozenset[int]
    names: str = ""  # a text the error line must contain (the bad value); "{dir}" is the files' folder


def case(*args: str, exit: int | tuple[int, ...] = 1, names: str = "") -> Case:
    return Case(args, frozenset((exit,) if isinstance(exit, int) else exit), names)


def _btf_header(type_len: int) -> bytes:
    return struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, type_len, type_len, 1) + b"\0" * 8


CASES: dict[str, Case] = {
    # check
    "check-missing-file": case("check", "{dir}/missing.btf", names="missing.btf"),
    "check-empty-file": case("check", "{dir}/empty", names="empty"),
    "check-directory": case("check", "{dir}/adir", names="adir"),
    "check-garbage": case("check", "{dir}/garbage.bin", names="garbage.bin"),
    "check-truncated-btf": case("check", "{dir}/truncated.btf", names="truncated.btf"),
    "check-btf-huge-lengths": case("check", "{dir}/huge.btf", names="huge.btf"),
    "check-byte-swapped-garbage": case("check", "{dir}/swapped.btf", names="swapped.btf"),
    "check-unknown-reference": case("check", "--reference", "linux-0.01-nosuch", exit=(1, 3), names="linux-0.01-nosuch"),
    "check-bad-flag": case("check", "--frobnicate", exit=3),
    # layout
    "layout-unknown-profile": case("layout", "--profile", "v9.9", exit=3, names="v9.9"),
    "layout-unknown-arch": case("layout", "--arch", "vax", exit=3, names="vax"),
    "layout-unknown-struct": case("layout", "no_such_struct", exit=(1, 3), names="no_such_struct"),
    "layout-svg-unwritable": case("layout", "--overlay", "--svg", "{dir}/missing-dir/out.svg", names="out.svg"),
    "layout-svg-is-directory": case("layout", "--overlay", "--svg", "{dir}/adir", names="adir"),
    "layout-bad-dma-bits": case("layout", "--dma-addr-bits", "48", exit=3),
    "layout-profile-without-value": case("layout", "--profile", exit=3),
    # profiles
    "profiles-extra-argument": case("profiles", "v7.2", exit=3),
    "profiles-bad-flag": case("profiles", "--nope", exit=3),
    # snapshot
    "snapshot-unknown-profile": case("snapshot", "--profile", "v0.1", exit=3, names="v0.1"),
    "snapshot-unknown-arch": case("snapshot", "--arch", "pdp11", exit=3, names="pdp11"),
    "snapshot-arch-and-all-arches": case("snapshot", "--arch", "x86_64", "--all-arches", exit=3, names="--all-arches"),
    "snapshot-output-unwritable": case("snapshot", "--profile", "v7.2", "-o", "{dir}/missing-dir/s.json",
                                       names="s.json"),
    "snapshot-output-is-directory": case("snapshot", "--profile", "v7.2", "-o", "{dir}/adir", names="adir"),
    # diff
    "diff-no-arguments": case("diff", exit=3),
    "diff-one-argument": case("diff", "v7.2", exit=3),
    "diff-missing-file": case("diff", "{dir}/missing.json", "v7.2", exit=(1, 3), names="missing.json"),
    "diff-empty-file": case("diff", "{dir}/empty", "v7.2", names="empty"),
    "diff-directory": case("diff", "{dir}/adir", "v7.2", names="adir"),
    "diff-bad-json": case("diff", "{dir}/bad.json", "v7.2", names="bad.json"),
    "diff-not-utf8": case("diff", "{dir}/latin1.json", "v7.2", names="latin1.json"),
    "diff-newer-schema": case("diff", "{dir}/newer.json", "v7.2", names="newer.json"),
    "diff-snapshot-wrong-types": case("diff", "v7.2", "{dir}/wrongtypes.json", names="wrongtypes.json"),
    "diff-garbage-kernel": case("diff", "v7.2", "{dir}/garbage.bin", names="garbage.bin"),
    "diff-unknown-profile": case("diff", "v7.2", "v9.9", exit=(1, 3), names="v9.9"),
    "diff-unknown-arch": case("diff", "v7.2@vax", "v7.2", exit=3, names="vax"),
    "diff-bad-format": case("diff", "--format", "xml", "v7.2", "v6.12", exit=3),
    "diff-json-contradicts-format": case("diff", "--json", "--format", "text", "v7.2", "v6.12", exit=3),
    "diff-report-unwritable": case("diff", "v7.2", "v6.12", "-o", "{dir}/missing-dir/r.txt", exit=13,
                                   names="r.txt"),
    "diff-garbage-named-json": case("diff", "{dir}/garbage.json", "v7.2", names="not a netmem-ffi snapshot"),
    "diff-json-not-a-snapshot": case("diff", "{dir}/other.json", "v7.2", names="not a netmem-ffi snapshot"),
    # gate
    "gate-missing-baseline": case("gate", "{dir}/missing.json", names="missing.json"),
    "gate-bad-baseline": case("gate", "{dir}/bad.json", names="bad.json"),
    "gate-missing-kernel": case("gate", "{dir}/good.json", "--kernel", "{dir}/missing.btf", names="missing.btf"),
    "gate-garbage-kernel": case("gate", "{dir}/good.json", "--kernel", "{dir}/garbage.bin", names="garbage.bin"),
    "gate-update-garbage-kernel": case("gate", "{dir}/new.json", "--kernel", "{dir}/garbage.bin", "--update",
                                       names="garbage.bin"),
    "gate-unknown-profile": case("gate", "{dir}/good.json", "--profile", "v0.1", exit=3, names="v0.1"),
    "gate-unknown-arch": case("gate", "{dir}/good.json", "--arch", "mips", exit=3, names="mips"),
    "gate-kernel-and-profile": case("gate", "{dir}/good.json", "--kernel", "k", "--profile", "v7.2", exit=3),
    "gate-bad-format": case("gate", "{dir}/good.json", "--format", "xml", exit=3),
    "gate-no-baseline": case("gate", exit=3),
    "snapshot-missing-kernel": case("snapshot", "--kernel", "{dir}/missing.btf", names="missing.btf"),
    "snapshot-kernel-and-arch": case("snapshot", "--kernel", "k", "--arch", "i386", exit=3),
    # bench
    "bench-unknown-only": case("bench", "--quick", "--only", "nosuch", exit=3, names="nosuch"),
    "bench-bad-flag": case("bench", "--nope", exit=3),
    # derive
    "derive-missing-file": case("derive", "{dir}/missing.btf", "-o", "{dir}/out", names="missing.btf"),
    "derive-garbage": case("derive", "{dir}/garbage.bin", "-o", "{dir}/out", names="garbage.bin"),
    "derive-unknown-reference": case("derive", "reference:nosuch", "-o", "{dir}/out", names="nosuch"),
    "derive-bad-name": case("derive", "reference:amd64-7.2", "--name", "7 4", "-o", "{dir}/out", exit=3, names="7 4"),
    "derive-output-is-file": case("derive", "reference:amd64-7.2", "-o", "{dir}/empty", names="empty"),
    # top level
    "no-command": case(exit=3),
    "unknown-command": case("frobnicate", exit=3),
}
CASES["diff-deep-json"] = case("diff", "{dir}/deep.json", "v7.2", names="deep.json")


def _write_inputs(d: Path) -> None:
    (d / "empty").write_bytes(b"")
    (d / "adir").mkdir()
    (d / "garbage.bin").write_bytes(bytes(range(256)) * 64)
    good = snapshot.take(["v7.2"], ["x86_64"])
    synthesized = _btf_header(16) + struct.pack("<IIII", 1, 1 << 24, 4, 32) + b"\0"
    (d / "truncated.btf").write_bytes(synthesized[:20])
    (d / "huge.btf").write_bytes(_btf_header(0xFFFFFFF0) + b"\0" * 64)
    (d / "swapped.btf").write_bytes(bytes(reversed(synthesized)))
    (d / "bad.json").write_text('{"schema": 1, "layouts": [')
    (d / "latin1.json").write_bytes('{"schema": 1, "x": "\xe9"}'.encode("latin-1"))
    doc = good.to_dict()
    (d / "newer.json").write_text(json.dumps({**doc, "schema": 999}))
    doc["layouts"][0]["pointer_size"] = "eight"
    (d / "wrongtypes.json").write_text(json.dumps(doc))
    (d / "garbage.json").write_bytes(bytes(range(256)) * 4)
    (d / "other.json").write_text('{"name": "not ours"}')
    snapshot.dump(good, d / "good.json")
    (d / "deep.json").write_text('{"schema": 1, "layouts": ' + "[" * 100_000 + "]" * 100_000 + "}")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess, str]]:
    d = tmp_path_factory.mktemp("cli-inputs")
    _write_inputs(d)
    env = dict(os.environ, NO_COLOR="1", COLUMNS="120")

    def run(c: Case) -> subprocess.CompletedProcess:
        args = [a.replace("{dir}", str(d)) for a in c.args]
        return subprocess.run([sys.executable, "-m", "netmem_ffi", *args], capture_output=True, text=True,
                              timeout=120, env=env, stdin=subprocess.DEVNULL)

    with ThreadPoolExecutor(max_workers=4) as pool:
        done = dict(zip(CASES, pool.map(run, CASES.values())))
    return {name: (out, str(d)) for name, out in done.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_cli_bad_input(name: str, results: dict[str, tuple[subprocess.CompletedProcess, str]]) -> None:
    c = CASES[name]
    out, folder = results[name]
    lines = out.stderr.splitlines()
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode in c.exit, f"exit {out.returncode}, expected {sorted(c.exit)}: {out.stderr}"
    one_line = len(lines) == 1 and lines[0].startswith("netmem-ffi: error: ")
    if out.returncode & 1 and not out.returncode & 2:
        assert one_line, f"exit 1 wants one 'netmem-ffi: error:' line, got: {out.stderr!r}"
    else:
        usage = out.stderr.startswith("usage: netmem-ffi") and (
            not c.args or any(line.startswith("netmem-ffi") and ": error: " in line for line in lines))
        assert one_line or usage, f"exit 3 wants an error line or argparse usage, got: {out.stderr!r}"
    if c.names:
        error_line = next(line for line in lines if ": error: " in line)
        assert c.names.replace("{dir}", folder) in error_line, error_line


def test_catalogue_covers_every_command() -> None:
    from netmem_ffi.cli import COMMANDS

    assert len(CASES) >= 25
    assert set(COMMANDS) <= {c.args[0] for c in CASES.values() if c.args}
