"""cffi out-of-line API-mode builders: one compiled extension per ABI generation.

``setup.py`` lists ``build_ffi.py:ffi_v6_12`` ... in ``cffi_modules``, so
``pip install .`` compiles every generation.  For each one, the same
``cdefs/`` text goes to cffi's ``cdef`` and to the C compiler; the C side adds
the generation's kernel static asserts (from ``netmem_ffi/abi/registry.py``) and
the runtime (``cdefs/netmem_rt.c``), so a wrong declaration fails the build.

Run directly (``python build_ffi.py``) to compile all generations in place.
"""

from __future__ import annotations

import pathlib
import sys

import cffi

HERE = pathlib.Path(__file__).resolve().parent
CDEFS = HERE / "cdefs"


# The generations as data: abi/ imports nothing but the error classes, and the
# package's import loads no compiled module, so it reads before anything is built.
sys.path.insert(0, str(HERE))
from netmem_ffi.abi import registry  # noqa: E402
from netmem_ffi.runtime import builder  # noqa: E402

HOST_ULONG_MAX = (1 << (8 * cffi.FFI().sizeof("unsigned long"))) - 1


def _read(name: str) -> str:
    return (CDEFS / name).read_text(encoding="utf-8")


def make_ffi(profile) -> cffi.FFI:
    """The cffi builder of one generation (``profile`` is a registry.ProfileSpec)."""
    return builder.registry_ffi(profile, str(CDEFS))


def make_btfscan_ffi() -> cffi.FFI:
    """The BTF reader's type-section walk (tooling, not runtime): ``netmem_ffi._btfscan``."""
    ffi = cffi.FFI()
    header = _read("btf_scan.h")
    ffi.cdef(header)
    ffi.set_source("netmem_ffi._btfscan",
                   "#include <stdint.h>\n#include <stddef.h>\n#include <string.h>\n" + header + _read("btf_scan.c"),
                   extra_compile_args=["-O2", "-std=gnu11", "-Wall"])
    return ffi


BUILDERS = {p.name: make_ffi(p) for p in registry.PROFILES}
BUILDERS["btfscan"] = ffi_btfscan = make_btfscan_ffi()
globals().update({"ffi_" + p.module.removeprefix("_abi_"): BUILDERS[p.name] for p in registry.PROFILES})
#: ``module:attribute`` strings for setup.py's cffi_modules.
CFFI_MODULES = ["build_ffi.py:ffi_" + p.module.removeprefix("_abi_") for p in registry.PROFILES]
CFFI_MODULES.append("build_ffi.py:ffi_btfscan")

if __name__ == "__main__":
    for name, ffi in BUILDERS.items():
        print(f"compiling {name} ...", flush=True)
        ffi.compile(tmpdir=str(HERE), verbose=False)
