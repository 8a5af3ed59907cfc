"""The house rule: layers import only downward, no module cycle, tooling never imports the runtime.

Every import counts: at module level, inside functions, and under ``TYPE_CHECKING``.
The layers, lowest first (docs/architecture.md):

    errors -> abi -> layout -> kernel -> abicheck -> report -> cli, pytest_plugin, bench

and, beside the tooling chain, ``runtime`` (which may use ``errors``, ``abi``,
``layout`` and the compiled modules).  Only the package facade (``netmem_ffi``,
``__main__``) and ``bench`` may import the runtime.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "netmem_ffi"

#: Layer rank of each top-level part of the package; a module may import ranks <= its own.
RANKS = {
    "errors": 0,
    "abi": 1,
    "layout": 2,
    "_btfscan": 2,  # the BTF reader's compiled walk
    "kernel": 3,
    "abicheck": 4,
    "report": 5,
    "cli": 6,
    "pytest_plugin": 6,
    "bench": 6,  # measures the runtime, so it may import it
    "__main__": 7,
    "": 8,  # the facade, netmem_ffi/__init__.py
}
#: What the runtime may import, and who may import the runtime.
RUNTIME_MAY_IMPORT = {"errors", "abi", "layout", "runtime", "_abi"}
MAY_IMPORT_RUNTIME = {"", "bench", "runtime"}


def module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: pathlib.Path) -> set[str]:
    """Every ``netmem_ffi`` module *path* imports, wherever the import statement stands."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "netmem_ffi")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "netmem_ffi":
                continue
            modules = {f"{target}.{a.name}" for a in node.names if is_module(f"{target}.{a.name}")}
            found.update(modules)
            if len(modules) < len(node.names):  # names defined in the target itself
                found.add(target)
    found.discard(name)
    return found


def is_module(dotted: str) -> bool:
    rel = pathlib.Path(*dotted.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").exists() or (PACKAGE / rel / "__init__.py").exists()


def part(dotted: str) -> str:
    """The top-level part of the package a module belongs to (``""`` for the facade)."""
    parts = dotted.split(".")
    if len(parts) == 1:
        return ""
    head = parts[1]
    return "_abi" if head.startswith("_abi_") else head


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def violations(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for src, targets in edges.items():
        for dst in sorted(targets):
            s, d = part(src), part(dst)
            if d == "runtime" and s not in MAY_IMPORT_RUNTIME:
                bad.append(f"{src} -> {dst}: tooling must not import the runtime")
            elif s == "runtime" and d not in RUNTIME_MAY_IMPORT:
                bad.append(f"{src} -> {dst}: the runtime imports only errors, abi, layout and compiled modules")
            elif s != "runtime" and d not in ("runtime", "_abi") and RANKS.get(d, 99) > RANKS.get(s, -1):
                bad.append(f"{src} -> {dst}: upward import ({s or 'netmem_ffi'} is below {d or 'netmem_ffi'})")
    return bad


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def without_package_inits(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first; that is not a design edge."""
    return {src: {d for d in dsts if not src.startswith(d + ".")} for src, dsts in edges.items()}


def test_every_import_points_downward() -> None:
    assert violations(graph()) == []


def test_no_module_cycle() -> None:
    assert cycles(without_package_inits(graph())) == []


def test_every_part_has_a_rank() -> None:
    parts = {part(m) for m in graph()}
    assert parts <= set(RANKS) | {"runtime", "_abi"}, parts - set(RANKS)


@pytest.mark.parametrize("plant, expect", [
    ({"netmem_ffi.abi.arches": {"netmem_ffi.layout.engine"}}, "upward import"),
    ({"netmem_ffi.abicheck.check": {"netmem_ffi.runtime.profiles"}}, "must not import the runtime"),
    ({"netmem_ffi.runtime.core": {"netmem_ffi.abicheck.check"}}, "runtime imports only"),
])
def test_a_planted_upward_import_fails(plant: dict[str, set[str]], expect: str) -> None:
    edges = graph()
    for src, dsts in plant.items():
        edges[src] = edges[src] | dsts
    assert any(expect in v for v in violations(edges))


def test_a_planted_cycle_fails() -> None:
    edges = without_package_inits(graph())
    edges["netmem_ffi.layout.types"] = edges["netmem_ffi.layout.types"] | {"netmem_ffi.layout.engine"}
    assert any("netmem_ffi.layout.engine" in c and "netmem_ffi.layout.types" in c for c in cycles(edges))


def test_deferred_imports_are_seen(tmp_path: pathlib.Path) -> None:
    source = PACKAGE / "abi" / "_planted_for_test.py"
    source.write_text("def f():\n    from netmem_ffi.cli import main\n", encoding="utf-8")
    try:
        assert "netmem_ffi.cli" in imports_of(source)
        assert any("upward import" in v for v in violations(graph()))
    finally:
        source.unlink()
