"""Golden layouts: every profile on every architecture, as committed in tests/golden/layouts.json.

A change to ``cdefs/`` (or to the engine) that moves any offset fails here
until the golden file is regenerated in the same commit, so a layout change
is always a reviewed diff of that file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netmem_ffi.abicheck import diff

from netmem_ffi.layout import engine

from netmem_ffi.abi import registry

from netmem_ffi.abicheck import snapshot
from netmem_ffi.report.formats import render_text
from netmem_ffi.abi import arches
from netmem_ffi.layout.models import model_layouts

GOLDEN = Path(__file__).resolve().parent / "golden" / "layouts.json"
REGENERATE = "netmem-ffi snapshot --all-arches -o tests/golden/layouts.json"


@pytest.fixture(scope="module")
def golden() -> snapshot.Snapshot:
    return snapshot.load(GOLDEN)


def _gate(old: diff.Side, new: diff.Side, new_label: str) -> None:
    result = diff.diff(old, new, old_label="tests/golden/layouts.json", new_label=new_label)
    if result.changed:
        pytest.fail(f"{new_label} differs from the golden layouts:\n\n{render_text(result)}\n"
                    f"If the change is intended, regenerate the golden file in the same commit:\n    {REGENERATE}",
                    pytrace=False)


def test_golden_covers_every_profile_and_architecture(golden: snapshot.Snapshot) -> None:
    expected = [f"{p}@{a}" for p in registry.names() for a in arches.ARCHES]
    assert list(golden.keys()) == expected, f"golden file out of date; run: {REGENERATE}"
    assert golden.schema == snapshot.SCHEMA


def test_model_matches_golden(golden: snapshot.Snapshot) -> None:
    """The host's compiled layouts and the engine's for every other architecture."""
    _gate(golden, snapshot.take(None, arches.ARCHES), "the current model")


def test_engine_matches_golden_on_the_host_arch_too(golden: snapshot.Snapshot) -> None:
    """On the host the snapshot holds the C compiler's layouts; the engine must agree with them."""
    host = arches.normalize_arch(model_layouts(registry.DEFAULT_PROFILE).arch)
    engine_sets = snapshot.from_layouts(engine.layout_set(p, host) for p in registry.names())
    _gate(golden.select(arches=[host]), engine_sets, f"the engine on {host}")


def test_the_gate_sees_a_moved_offset(golden: snapshot.Snapshot) -> None:
    """The golden check is not vacuous: one moved member in one pair makes it fail with the diff."""
    victim = golden.layouts[-1]
    niov = victim.structs["net_iov"]
    moved = niov._replace(fields=(niov.fields[-1]._replace(offset=niov.fields[-1].offset + 1),
                                 *niov.fields[:-1]))
    changed = victim._replace(structs={**victim.structs, "net_iov": moved})
    tampered = snapshot.from_layouts((*golden.layouts[:-1], changed))
    with pytest.raises(pytest.fail.Exception, match=rf"(?s)moved.*{REGENERATE}"):
        _gate(golden, tampered, "tampered")
