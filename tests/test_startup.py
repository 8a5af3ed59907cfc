"""What each path users start most imports (issue 18): a heavy import creeping back fails here.

Each path runs in a fresh interpreter that lists ``sys.modules`` at exit.  The lists are
the design: tools load no runtime module, no compiled runtime extension, no C parser,
no construct and (piped) no rich; ``import netmem_ffi`` loads only the errors and abi.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from netmem_ffi.abi.arches import RUNNING_KERNEL_BTF

PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
from netmem_ffi.cli import main
main(sys.argv[1:])
"""

#: Never imported by a tool.
HEAVY_FOR_TOOLS = ("netmem_ffi.runtime", "netmem_ffi._abi_", "construct", "rich", "multiprocessing",
                   "elftools", "cffi.api", "ctypes")


def modules_of(*argv: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "NO_COLOR": "1"}, stdin=subprocess.DEVNULL)
    return json.loads(out.stderr.strip().splitlines()[-1])


def heavy(mods: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in mods if m.startswith(names)]


@pytest.mark.skipif(not os.path.exists(RUNNING_KERNEL_BTF), reason=f"{RUNNING_KERNEL_BTF} is absent")
def test_check_of_the_running_kernel() -> None:
    mods = modules_of("check", "--json", RUNNING_KERNEL_BTF)
    assert heavy(mods, (*HEAVY_FOR_TOOLS, "pycparser", "netmem_ffi.report", "xml")) == []


def test_check_of_a_reference_kernel() -> None:
    mods = modules_of("check", "--reference", "amd64-7.2")
    assert heavy(mods, (*HEAVY_FOR_TOOLS, "pycparser", "netmem_ffi.layout.dwarf")) == []


def test_diff_of_two_profiles_reads_the_model_table() -> None:
    mods = modules_of("diff", "v6.19", "v7.2")
    assert heavy(mods, (*HEAVY_FOR_TOOLS, "pycparser", "netmem_ffi.layout.engine")) == []


def test_layout_of_the_model() -> None:
    assert heavy(modules_of("layout"), HEAVY_FOR_TOOLS) == []


def test_import_and_first_call_load_one_runtime_extension_and_no_tooling() -> None:
    code = ("import sys, netmem_ffi as nm; before = sorted(sys.modules); a = nm.NetIovArea(1); "
            "r = a[0].netmem; nm.get_netmem(r); nm.put_netmem(r); a.close(); "
            "print(before); print(sorted(sys.modules))")
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    before, after = eval(lines[0]), eval(lines[1])  # noqa: S307 - our own repr of two lists of names
    ours = [m for m in before if m.startswith("netmem_ffi")]
    assert set(ours) <= {"netmem_ffi", "netmem_ffi.errors", "netmem_ffi.abi", "netmem_ffi.abi.constants",
                         "netmem_ffi.abi.registry", "netmem_ffi.abi.version"}, ours
    assert {m.split(".")[1] for m in after if m.startswith("netmem_ffi._abi_")} == {"_abi_v7_2"}
    assert heavy(after, ("netmem_ffi.abicheck", "netmem_ffi.kernel", "netmem_ffi.cli", "netmem_ffi.report",
                         "pycparser", "construct", "rich")) == []
