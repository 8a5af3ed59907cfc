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

HOST_ULONG_MAX = (1 << (8 * cffi.FFI().sizeof("unsigned long"))) - 1


def _read(name: str) -> str:
    return (CDEFS / name).read_text(encoding="utf-8")


def make_ffi(profile) -> cffi.FFI:
    """The cffi builder of one generation (``profile`` is a registry.ProfileSpec)."""
    ffi = cffi.FFI()
    api = "".join(_read(n) for n in registry.RUNTIME_CDEFS)
    ffi.cdef(registry.declarations(profile, str(CDEFS), host_ulong_max=HOST_ULONG_MAX))
    ffi.cdef(api)
    switches = {
        "NM_HAS_TYPE": profile.has_type_field,
        "NM_HAS_AREA": profile.has_area,
        "NM_DESC_MEMBER": profile.desc_member,
    }
    enum_size = "sizeof(unsigned long)" if profile.enum_has_max else "sizeof(int)"
    enum_assert = (
        f'_Static_assert(sizeof(enum net_iov_type) == {enum_size}, "enum net_iov_type size");\n'
        if profile.has_type_field
        else ""
    )
    source = (
        "#include <limits.h>\n#include <stddef.h>\n#include <stdint.h>\n"
        + "".join(f"#define {k} {int(v)}\n" for k, v in switches.items())
        + registry.declarations(profile, str(CDEFS))
        + f"\n/* ---- kernel static asserts of {profile.name} ---- */\n"
        + registry.c_static_asserts(profile)
        + enum_assert
        + api
        + "".join(f'#include "{name}"\n' for name in registry.RUNTIME_SOURCES)
    )
    ffi.set_source(
        f"netmem_ffi.{profile.module}",
        source,
        include_dirs=[str(CDEFS)],
        depends=[str(p) for p in CDEFS.iterdir()],
        extra_compile_args=["-O2", "-std=gnu11", "-fno-strict-aliasing", "-Wall", "-Wno-unused-function"],
        libraries=["pthread"],
    )
    return ffi


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
