"""cffi out-of-line API-mode builders of a generation's extension: its declarations plus the C runtime.

One builder serves the registry's generations (``build_ffi.py`` at install time)
and generations derived from a kernel (:mod:`netmem_ffi.runtime.derived`, at run
time).  The same declarations text goes to cffi's ``cdef`` and to the C
compiler; the C side adds the generation's runtime switches, its kernel static
asserts (:func:`netmem_ffi.abi.registry.c_static_asserts`) and the runtime
(``cdefs/netmem_rt*.c``), so a wrong declaration fails the build.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
import tempfile

import cffi  # type: ignore[import-untyped]

from netmem_ffi.abi import registry
from netmem_ffi.errors import BuildError

__all__ = ["BUILD_TAG", "HOST_ULONG_MAX", "cdef_text", "check_source", "compile_ffi", "make_ffi", "registry_ffi",
           "switches"]

#: The host's ULONG_MAX, substituted for the macro in cffi's cdef (which cannot evaluate it).
HOST_ULONG_MAX = (1 << (8 * cffi.FFI().sizeof("unsigned long"))) - 1
#: What else decides the extension's binary: cffi's version and the interpreter's extension ABI.
BUILD_TAG = f"cffi {cffi.__version__} {sysconfig.get_config_var('EXT_SUFFIX')}"
#: ``__attribute__((...))`` as kernel declarations carry it; cffi's cdef parser does not read it.
_ATTRIBUTE = re.compile(r"\s*__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)")
#: A top-level record definition of declarations text (nested records are indented).
_RECORD = re.compile(r"^((?:struct|union) \w+ \{\n)(.*?)^\}[^;\n]*;", re.MULTILINE | re.DOTALL)
_HEADERS = "#include <limits.h>\n#include <stddef.h>\n#include <stdint.h>\n"
_CFLAGS = ["-O2", "-std=gnu11", "-fno-strict-aliasing", "-Wall", "-Wno-unused-function"]


def switches(spec: registry.ProfileSpec) -> dict[str, bool]:
    """The C runtime's compile-time switches of *spec* (see ``cdefs/netmem_rt.c``)."""
    return {"NM_HAS_TYPE": spec.has_type_field, "NM_HAS_AREA": spec.has_area, "NM_DESC_MEMBER": spec.desc_member}


def _asserts(spec: registry.ProfileSpec) -> str:
    """The generation's kernel static asserts, plus the size of its enum."""
    enum_size = "sizeof(unsigned long)" if spec.enum_has_max else "sizeof(int)"
    enum_assert = (f'_Static_assert(sizeof(enum net_iov_type) == {enum_size}, "enum net_iov_type size");\n'
                   if spec.has_type_field else "")
    return f"\n/* ---- kernel static asserts of {spec.name} ---- */\n{registry.c_static_asserts(spec)}{enum_assert}"


def _prologue(spec: registry.ProfileSpec, declarations: str) -> str:
    """Headers, switches, declarations and static asserts: the C text before the runtime."""
    defines = "".join(f"#define {k} {int(v)}\n" for k, v in switches(spec).items())
    return _HEADERS + defines + declarations + _asserts(spec)


def cdef_text(declarations: str) -> str:
    """*declarations* as cffi's cdef reads them: ``ULONG_MAX`` as the host's value, no attributes.

    A record whose layout needs attributes (an over-aligned member, ``packed``)
    becomes a partial record (``...;``), so cffi takes its layout from the C
    compiler instead of its own rules.
    """
    def partial(m: re.Match[str]) -> str:
        return m.group(0) if "__attribute__" not in m.group(0) else m.group(1) + m.group(2) + "\t...;\n};"

    text = _ATTRIBUTE.sub("", _RECORD.sub(partial, declarations))
    return text.replace("ULONG_MAX", hex(HOST_ULONG_MAX) + "UL")


def make_ffi(spec: registry.ProfileSpec, declarations: str, *, module: str, cdefs_dir: str) -> cffi.FFI:
    """The cffi builder of extension *module* (``netmem_ffi._abi_*``) for *spec* with *declarations*.

    *declarations* is C as the compiler reads it; cffi's cdef gets the same text
    through :func:`cdef_text`.
    """
    ffi = cffi.FFI()
    api = "".join(_read(cdefs_dir, n) for n in registry.RUNTIME_CDEFS)
    ffi.cdef(cdef_text(declarations))
    ffi.cdef(api)
    source = (_prologue(spec, declarations) + api
              + "".join(f'#include "{name}"\n' for name in registry.RUNTIME_SOURCES))
    ffi.set_source(module, source, include_dirs=[cdefs_dir],
                   depends=[os.path.join(cdefs_dir, p) for p in sorted(os.listdir(cdefs_dir))],
                   extra_compile_args=list(_CFLAGS), libraries=["pthread"])
    return ffi


def registry_ffi(spec: registry.ProfileSpec, cdefs_dir: str) -> cffi.FFI:
    """The builder of a registry generation: ``netmem_ffi.<spec.module>`` from its ``cdefs/`` pieces."""
    return make_ffi(spec, registry.declarations(spec, cdefs_dir), module=f"netmem_ffi.{spec.module}",
                    cdefs_dir=cdefs_dir)


def check_source(spec: registry.ProfileSpec, declarations: str) -> None:
    """Compile the declarations and static asserts alone (``-fsyntax-only``), before the whole runtime.

    Raises :class:`BuildError` with the compiler's diagnostics (a failing
    ``_Static_assert`` is named by its message, e.g. ``NET_IOV_ASSERT_OFFSET:
    offsetof(struct page, pp) == offsetof(struct net_iov, pp)``), or when no C
    compiler is found.
    """
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        raise BuildError(f"no C compiler ({cc}) to build generation {spec.name}")
    with tempfile.TemporaryDirectory(prefix="netmem-ffi-") as tmp:
        path = os.path.join(tmp, "decls.c")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(_prologue(spec, declarations))
        done = subprocess.run([cc, "-fsyntax-only", "-std=gnu11", path], capture_output=True, text=True,
                              check=False, timeout=120)
    if done.returncode != 0:
        failed = re.findall(r"static assertion failed: \"([^\"]*)\"", done.stderr)
        detail = "; ".join(failed) if failed else done.stderr.strip().replace(path, "<declarations>")[-2000:]
        raise BuildError(f"generation {spec.name} does not compile: {detail}")


def compile_ffi(ffi: cffi.FFI, workdir: str) -> str:
    """Compile *ffi* in *workdir*; the path of the extension.  Raises :class:`BuildError` when it fails."""
    try:
        return str(ffi.compile(tmpdir=workdir, verbose=False))
    except (cffi.VerificationError, OSError) as exc:
        raise BuildError(f"the C runtime did not compile: {exc}") from None


def _read(cdefs_dir: str, name: str) -> str:
    with open(os.path.join(cdefs_dir, name), encoding="utf-8") as fh:
        return fh.read()

