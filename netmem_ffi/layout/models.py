"""The model's layouts: one dispatcher for every tool that compares against the model.

The portable engine (:mod:`netmem_ffi.layout.engine`) lays a profile's declarations out
for any supported architecture, the host included: on the host it equals the compiled
cffi module's offsets (``tests/test_engine.py`` checks that), so tools never load a
runtime extension to learn the model.  The C compiler's own host layouts stay available
as ``netmem_ffi.profile(name).layouts`` (:mod:`netmem_ffi.layout.host`).

Parsing C costs tens of milliseconds at start-up, so the engine's output for every
profile and architecture (default kernel configuration) is also kept in
``model_table.json`` beside this module; :func:`model_layouts` reads it and falls back to
the engine for anything it lacks.  ``tests/test_models.py`` fails when the table is not
what the engine computes; regenerate it with ``python -m netmem_ffi.layout.models``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from functools import cache

from netmem_ffi.abi import registry
from netmem_ffi.abi.arches import ARCHES, host_arch, normalize_arch
from netmem_ffi.layout.types import LayoutSet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["model_layouts", "engine_layouts", "table", "write_table", "TABLE", "ARCHES"]

#: The generated table of the engine's layouts, beside this module.
TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_table.json")


def key(profile: str, arch: str) -> str:
    return f"{profile}@{arch}"


class Table(Mapping["str", "Any"]):  # quoted: typing is not imported at run time
    """The generated table as read: the text whole, each entry decoded when first asked for.

    ``json.load`` of all of it costs ~2.5 ms at every start, and ``check`` needs a
    few entries.  :func:`write_table` is the one writer: every top-level key starts
    a line after one space of indentation (``indent=1``), nothing deeper does, so
    ``\\n "KEY": `` finds an entry; ``tests/test_models.py`` reads every entry back.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._decoded: dict[str, Any] = {}
        self._keys: list[str] | None = None

    def _start(self, k: str) -> int:
        """Where entry *k*'s value starts in the text; -1 when the table has no such key."""
        mark = f'\n "{k}": '
        at = self._text.find(mark) if '"' not in k and "\\" not in k else -1
        return at + len(mark) if at >= 0 else -1

    def __getitem__(self, k: str) -> Any:
        if k not in self._decoded:
            at = self._start(k)
            if at < 0:
                raise KeyError(k)
            self._decoded[k] = _DECODER.raw_decode(self._text, at)[0]
        return self._decoded[k]

    def __iter__(self) -> Iterator[str]:
        if self._keys is None:
            self._keys = list(json.loads(self._text)) if self._text else []
        return iter(self._keys)

    def __len__(self) -> int:
        return sum(1 for _ in self)


_DECODER = json.JSONDecoder()


@cache
def table() -> Table:
    """The generated table (``{"profile@arch": LayoutSet dict}``, decoded per entry); empty when absent."""
    try:
        with open(TABLE, encoding="utf-8") as fh:
            return Table(fh.read())
    except FileNotFoundError:
        return Table("")


def engine_layouts(profile: str, arch: str) -> LayoutSet:
    """The engine's layouts of *profile* on *arch*, computed now (parses the declarations)."""
    from netmem_ffi.layout.engine import layout_set  # pycparser: only when the table lacks it

    return layout_set(registry.profile_name(profile), normalize_arch(arch))


def model_layouts(profile: str, arch: str | None = None) -> LayoutSet:
    """The model's layouts of *profile* (a name or kernel release) on *arch* (default: the host).

    Raises :class:`~netmem_ffi.errors.UnknownProfileError` /
    :class:`~netmem_ffi.errors.UnsupportedArchError`.
    """
    name = registry.profile_name(profile)
    target = normalize_arch(host_arch() if arch is None else arch)
    entry = table().get(key(name, target))
    if entry is not None:
        return _cached(name, target, entry)
    return engine_layouts(name, target)


_SETS: dict[str, LayoutSet] = {}


def _cached(name: str, arch: str, entry: dict[str, Any]) -> LayoutSet:
    k = key(name, arch)
    if k not in _SETS:
        _SETS[k] = LayoutSet.from_dict(entry)
    return _SETS[k]


def computed_table() -> dict[str, Any]:
    """What the table must hold: the engine's layouts of every profile on every architecture."""
    return {key(p, a): engine_layouts(p, a).to_dict() for p in registry.names() for a in ARCHES}


def write_table(path: str = TABLE) -> None:
    """Regenerate the table from the engine (a maintainer step; tests say when it is due)."""
    text = json.dumps(computed_table(), indent=1, sort_keys=True) + "\n"
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(path + ".tmp", path)
    table.cache_clear()
    _SETS.clear()


if __name__ == "__main__":
    write_table()
    print(f"wrote {TABLE}")
