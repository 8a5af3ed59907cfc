"""Coverage-guided fuzz targets (atheris/libFuzzer) for the readers of untrusted files.

``python tests/fuzz_atheris.py TARGET [libFuzzer flags] CORPUS_DIR...`` with TARGET one of
:data:`TARGETS`: ``btf`` (the BTF reader and the layouts built from it), ``inputs`` (the
kernel-input unpacker: ELF, images, codecs, .deb), ``snapshot`` (the snapshot loader).  The
contract: a target returns, or raises a ``NetmemError`` subclass; anything else is a finding
(libFuzzer saves the input as ``crash-*``).  tests/test_atheris_fuzz.py runs each with a fixed
number of runs over the seed corpus in tests/corpus/TARGET/ and records what they did.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris

with atheris.instrument_imports(include=["netmem_ffi"]):
    from netmem_ffi.abicheck import snapshot
    from netmem_ffi.errors import NetmemError
    from netmem_ffi.kernel.inputs import btf_from_bytes
    from netmem_ffi.layout.btf import layouts
    from netmem_ffi.layout.btf.reader import BTF
    from netmem_ffi.layout.budget import Budget

#: Small budgets: the fuzzer looks for crashes, not for inputs that are merely big.
BUDGET = Budget(inflate=64 << 20, held=32 << 20, members=2_000, fields=2_000, type_text=4_096)


def fuzz_btf(data: bytes) -> None:
    btf = BTF(data, "fuzz", budget=BUDGET.fresh())
    layouts.layout_set(btf, arch="x86_64")
    for tid in range(1, min(len(btf), 64) + 1):
        kind = btf.type(tid).kind
        if kind in (4, 5):
            layouts.struct_layout(btf, tid)


def fuzz_inputs(data: bytes) -> None:
    blob = btf_from_bytes(data, "fuzz", BUDGET)
    assert len(blob.btf) >= 24


def fuzz_snapshot(data: bytes) -> None:
    snap = snapshot.loads(data.decode("utf-8", "replace"), "fuzz")
    snap.dumps()


TARGETS: dict[str, Callable[[bytes], None]] = {"btf": fuzz_btf, "inputs": fuzz_inputs, "snapshot": fuzz_snapshot}


def main() -> None:
    target = TARGETS[sys.argv[1]]

    def one(data: bytes) -> None:
        try:
            target(data)
        except NetmemError:
            pass

    atheris.Setup([sys.argv[0], *sys.argv[2:]], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
