"""The public API as type checkers and introspection see it: typed, complete, no ``Any`` names.

mypy runs in a subprocess (skipped where it is not installed).  The stub
``netmem_ffi/__init__.pyi`` must declare exactly the names of ``__all__``.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
import subprocess
import sys
import textwrap

import pytest

import netmem_ffi
from netmem_ffi.runtime.profiles import API

ROOT = pathlib.Path(__file__).resolve().parent.parent
STUB = ROOT / "netmem_ffi" / "__init__.pyi"
#: Files whose typing this part of the package answers for (the rest is checked package-wide below).
RUNTIME_FILES = ["netmem_ffi/__init__.pyi", "netmem_ffi/runtime", "netmem_ffi/errors.py", "netmem_ffi/abi"]

needs_mypy = pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import mypy"], capture_output=True).returncode != 0,
    reason="mypy is not installed (pip install -e '.[test]')")


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir=/dev/null",
                           *args], capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_stub_declares_exactly_the_public_names() -> None:
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    declared = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "netmem_ffi.errors" and node.names[0].name == "*":
            declared |= set(netmem_ffi.errors.__all__)
        elif isinstance(node, ast.ImportFrom):
            declared |= {a.asname for a in node.names if a.asname and a.asname == a.name}
        elif isinstance(node, ast.FunctionDef):
            declared.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            declared |= {t.id for t in targets if isinstance(t, ast.Name)}
    declared -= {"__all__", "_default", "errors"}
    assert declared == set(netmem_ffi.__all__)
    assert set(API) <= declared


@pytest.mark.parametrize("name", [n for n in API if n[0].islower()])
def test_every_runtime_function_has_a_signature(name: str) -> None:
    fn = getattr(netmem_ffi, name)
    params = inspect.signature(fn).parameters
    assert params, name
    assert "self" not in params and "module" not in params, name


def test_compiled_entry_points_carry_text_signatures() -> None:
    assert str(inspect.signature(netmem_ffi.get_netmem)) == "(netmem, /)"
    assert str(inspect.signature(netmem_ffi.put_netmem)) == "(netmem, /)"
    assert netmem_ffi.get_netmem.__module__ == "netmem_ffi"


def test_import_loads_no_compiled_module() -> None:
    code = ("import sys, netmem_ffi, netmem_ffi.abicheck.check\n"
            "assert not [m for m in sys.modules if '_abi_' in m], sorted(sys.modules)\n"
            "import netmem_ffi.runtime.profiles\n"
            "assert not [m for m in sys.modules if '_abi_' in m]\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


@needs_mypy
def test_runtime_and_quickstart_pass_mypy_strict() -> None:
    out = _mypy(*RUNTIME_FILES, "examples/quickstart.py")
    assert out.returncode == 0, out.stdout + out.stderr


@needs_mypy
def test_the_whole_package_passes_mypy_strict() -> None:
    """``mypy --strict netmem_ffi``: no error anywhere in the package."""
    out = _mypy("netmem_ffi")
    assert out.returncode == 0, out.stdout


@needs_mypy
def test_user_script_sees_real_types_and_rejects_misspelt_names(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "user.py"
    script.write_text(textwrap.dedent("""\
        import netmem_ffi as nm
        reveal_type(nm.get_netmem)
        reveal_type(nm.netmem_get_pp)
        reveal_type(nm.NetIovArea)
        area: nm.NetIovArea = nm.NetIovArea(4)
        n: int = nm.netmem_get_pp(area[0].netmem)
        nm.no_such_name
        nm.profile("v6.12").netmem_get_ppp
        nm.get_netmem("not a ref")
        """), encoding="utf-8")
    out = _mypy(str(script)).stdout
    lines = out.splitlines()
    assert 'Revealed type is "def (builtins.int)"' in lines[0] or 'Revealed type is "def (int)"' in lines[0], out
    assert 'def (netmem: builtins.int) -> builtins.int' in lines[1] or "def (netmem: int) -> int" in lines[1], out
    assert "NetIovArea" in lines[2] and "Any" not in out, out
    assert 'Module has no attribute "no_such_name"' in out
    assert '"Profile" has no attribute "netmem_get_ppp"' in out
    assert 'Argument 1 has incompatible type "str"' in out
