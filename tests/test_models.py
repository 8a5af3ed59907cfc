"""The model table (netmem_ffi/layout/model_table.json) is exactly what the engine computes."""

from __future__ import annotations

import subprocess
import sys

from netmem_ffi.abi import registry
from netmem_ffi.abi.arches import ARCHES
from netmem_ffi.layout import models

REGENERATE = "python -m netmem_ffi.layout.models"


def test_table_is_what_the_engine_computes() -> None:
    stale = [k for k, v in models.computed_table().items() if models.table().get(k) != v]
    assert not stale, f"model_table.json is out of date for {stale}; regenerate it: {REGENERATE}"
    assert set(models.table()) == {models.key(p, a) for p in registry.names() for a in ARCHES}


def test_model_layouts_come_from_the_table_without_parsing_c() -> None:
    code = ("import sys; from netmem_ffi.layout.models import model_layouts; "
            "ls = model_layouts('v7.2', 's390x'); "
            "assert ls.struct('net_iov').size == 64 and ls.endianness == 'big'; "
            "assert 'pycparser' not in sys.modules and 'netmem_ffi.layout.engine' not in sys.modules, "
            "sorted(m for m in sys.modules if 'pycparser' in m or 'engine' in m)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_entry_falls_back_to_the_engine(monkeypatch) -> None:
    monkeypatch.setattr(models, "table", lambda: {})
    models._SETS.clear()
    ls = models.model_layouts("6.18", "i386")  # a kernel release names its generation
    assert ls.profile == "v6.17" and ls.source == "engine:i386"
    assert ls == models.engine_layouts("v6.17", "i386")


def test_write_table_round_trips(tmp_path) -> None:
    path = tmp_path / "table.json"
    try:
        models.write_table(str(path))
        assert path.read_text(encoding="utf-8").startswith("{")
    finally:
        models.table.cache_clear()
        models._SETS.clear()


def test_table_decodes_each_entry_as_the_whole_file_does() -> None:
    import json

    with open(models.TABLE, encoding="utf-8") as fh:
        whole = json.load(fh)
    lazy = models.Table(json.dumps(whole, indent=1, sort_keys=True))
    assert lazy.get("v6.17@x86_64") == whole["v6.17@x86_64"] and len(lazy) == len(whole)
    assert dict(lazy) == whole
    assert lazy.get("v6.17@nowhere") is None and lazy.get('v6.17"@x86_64') is None
    assert models.Table("").get("v6.17@x86_64") is None and len(models.Table("")) == 0
