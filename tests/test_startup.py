"""What each path users start most imports (issue 18): a heavy import creeping back fails here.

Each path runs in a fresh interpreter started without ``site`` (``-S``, the package and
site-packages put on ``sys.path`` by hand), so nothing imported at start-up by an
editable install's finder (pathlib, re ...) hides what the path itself imports.  The
probe records, for every module first imported while the path runs, the chain of
modules executing at that moment, outermost first.

The lists are the design: tools load no runtime module, no compiled runtime extension,
no C parser, no construct and (piped) no rich; ``import netmem_ffi`` loads only the
errors and abi, and the first call adds only the runtime (no layout, no threading, weakref,
importlib or warnings module).  No path imports typing, inspect, dataclasses, tempfile, random, xml
or shlex from our own code (a third-party library may: pycparser does, for the model's
``layout``), and the first runtime call imports none of them, nor re, ctypes, enum, collections,
functools or array.
"""

from __future__ import annotations

import ast
import os
import site
import subprocess
import sys

import pytest

import netmem_ffi
from netmem_ffi.abi.arches import RUNNING_KERNEL_BTF

#: sys.path of a probe: the package under test, then site-packages (cffi, pycparser ...), without .pth files.
PATHS = [os.path.dirname(os.path.dirname(os.path.abspath(netmem_ffi.__file__))), *site.getsitepackages()]

PROBE = """
import sys, atexit
sys.path[:0] = {paths!r}
base = set(sys.modules)
chains = {{}}


class Watch:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name not in chains:
            frame, chain = sys._getframe(1), []
            while frame is not None:
                if frame.f_code.co_name == "<module>":
                    chain.append(frame.f_globals.get("__name__", "?"))
                frame = frame.f_back
            chains[name] = chain[::-1]
        return None


def chain_of(name):
    # a module another one put in sys.modules itself (typing.io) counts as imported with its package
    while name and name not in chains:
        name = name.rpartition(".")[0]
    return chains.get(name, [])


def report():
    sys.meta_path.remove(Watch)
    print(repr({{m: chain_of(m) for m in sorted(set(sys.modules) - base)}}), file=sys.stderr)


sys.meta_path.insert(0, Watch)
atexit.register(report)
{code}
"""

CLI = "from netmem_ffi.cli import main\nmain(sys.argv[1:])"
FIRST_CALL = ("import netmem_ffi as nm\nimported = sorted(sys.modules)\na = nm.NetIovArea(1)\nr = a[0].netmem\n"
              "nm.get_netmem(r)\nnm.put_netmem(r)\na.close()\nprint(repr(imported))")

#: Never imported by a tool.
HEAVY_FOR_TOOLS = ("netmem_ffi.runtime", "netmem_ffi._abi_", "construct", "rich", "multiprocessing",
                   "elftools", "cffi.api", "ctypes")
#: Never imported by our own code on the paths users start most (~25 ms together); the last four
#: only where a command needs them (spooling a -dbg vmlinux, JUnit output, completion scripts).
SLOW_STDLIB = ("typing", "inspect", "dataclasses", "tempfile", "random", "xml", "shlex")
#: Never imported by ``import netmem_ffi`` and the first get_netmem/put_netmem, by anyone.
HEAVY_FOR_FIRST_CALL = (*SLOW_STDLIB, "re", "ctypes", "enum", "collections", "functools", "array")


def probe(code: str, *argv: str) -> tuple[dict[str, list[str]], str]:
    """The modules *code* imports (each with the chain of modules importing it) and its stdout."""
    out = subprocess.run([sys.executable, "-S", "-c", PROBE.format(paths=PATHS, code=code), *argv],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"},
                         stdin=subprocess.DEVNULL)
    return ast.literal_eval(out.stderr.strip().splitlines()[-1]), out.stdout


def modules_of(*argv: str) -> dict[str, list[str]]:
    return probe(CLI, *argv)[0]


def heavy(mods: dict[str, list[str]], names: tuple[str, ...]) -> list[str]:
    """The modules of *mods* that are one of *names* or inside one (a name ending in ``_`` is a prefix)."""
    return sorted(m for m in mods if any(m == n or m.startswith(n if n.endswith("_") else n + ".") for n in names))


def third_party(chain: list[str]) -> bool:
    """Whether a module outside the package and the standard library stands in the import *chain*."""
    return any(c.split(".")[0] not in (*sys.stdlib_module_names, "netmem_ffi", "__main__") for c in chain)


def ours(mods: dict[str, list[str]], names: tuple[str, ...]) -> list[str]:
    """The modules of *names* that our code imported (no third-party library in between)."""
    return [m for m in heavy(mods, names) if not third_party(mods[m])]


@pytest.mark.skipif(not os.path.exists(RUNNING_KERNEL_BTF), reason=f"{RUNNING_KERNEL_BTF} is absent")
def test_check_of_the_running_kernel() -> None:
    mods = modules_of("check", "--json", RUNNING_KERNEL_BTF)
    assert heavy(mods, (*HEAVY_FOR_TOOLS, *SLOW_STDLIB, "pycparser", "netmem_ffi.report")) == []


def test_check_of_a_reference_kernel() -> None:
    # typing and tempfile come with importlib.resources, which reads the reference's packaged extract.
    mods = modules_of("check", "--reference", "amd64-7.2")
    assert heavy(mods, (*HEAVY_FOR_TOOLS, "inspect", "dataclasses", "pycparser", "netmem_ffi.layout.dwarf")) == []


def test_diff_of_two_profiles_reads_the_model_table() -> None:
    mods = modules_of("diff", "v6.19", "v7.2")
    assert heavy(mods, (*HEAVY_FOR_TOOLS, *SLOW_STDLIB, "pycparser", "netmem_ffi.layout.engine")) == []


def test_layout_of_the_model() -> None:
    mods = modules_of("layout")
    assert heavy(mods, HEAVY_FOR_TOOLS) == []
    assert ours(mods, SLOW_STDLIB) == []


def test_import_and_first_call_load_one_runtime_extension_and_no_tooling() -> None:
    mods, out = probe(FIRST_CALL)
    imported = ast.literal_eval(out.strip().splitlines()[-1])
    package = [m for m in imported if m.startswith("netmem_ffi")]
    assert set(package) <= {"netmem_ffi", "netmem_ffi.errors", "netmem_ffi.abi", "netmem_ffi.abi.constants",
                            "netmem_ffi.abi.record", "netmem_ffi.abi.registry", "netmem_ffi.abi.version"}, package
    assert {m.split(".")[1] for m in heavy(mods, ("netmem_ffi._abi_",))} == {"_abi_v7_2"}
    assert heavy(mods, ("netmem_ffi.layout", "netmem_ffi.abicheck", "netmem_ffi.kernel", "netmem_ffi.cli",
                        "netmem_ffi.report", "pycparser", "construct", "rich", "threading", "weakref", "importlib",
                        "warnings")) == []
    assert heavy(mods, HEAVY_FOR_FIRST_CALL) == []


def test_the_enum_comes_with_its_first_use() -> None:
    """NetIovType (and the enum module) load when a script names it or reads a niov's type, not before."""
    code = ("import netmem_ffi as nm\na = nm.NetIovArea(1)\nbefore = 'enum' in sys.modules\n"
            "t = a[0].type\nprint(before, type(t).__name__, t is nm.NET_IOV_DMABUF)")
    _, out = probe(code)
    assert out.strip().splitlines()[-1] == "False NetIovType True"


@pytest.mark.parametrize(("code", "blamed"), [
    ("import netmem_ffi.abi.registry\nimport typing", ["typing", "typing.io", "typing.re"]),  # ours: caught
    ("import netmem_ffi\nimport pycparser", []),  # pycparser's typing and dataclasses are not ours
])
def test_the_probe_blames_only_our_imports(code: str, blamed: list[str]) -> None:
    mods = probe(code)[0]
    assert "typing" in mods
    assert ours(mods, SLOW_STDLIB) == blamed
