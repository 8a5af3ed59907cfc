"""Compile, cache and load a generation derived from a kernel (``netmem_ffi.profile_for_kernel``).

The declarations (written by :mod:`netmem_ffi.abicheck.derive` from the
kernel's types) are compiled with the C runtime exactly like a registry
generation (:mod:`netmem_ffi.runtime.builder`, cffi API mode, the kernel's
static asserts compiled in), into the user cache directory
(``$XDG_CACHE_HOME/netmem_ffi/derived`` or ``~/.cache/netmem_ffi/derived``),
one extension per kernel type-information hash (and runtime version).  A
second load of the same kernel imports the cached extension.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import sysconfig
import tempfile
import threading
from types import ModuleType

from netmem_ffi.abi import registry
from netmem_ffi.abi.arches import data_model, host_arch
from netmem_ffi.errors import BuildError, UnsupportedArchError
from netmem_ffi.runtime import builder
from netmem_ffi.runtime.core import Runtime
from netmem_ffi.runtime.profiles import Profile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DerivedProfile", "cache_dir", "check_host", "load_derived"]

_lock = threading.Lock()  # one build of a generation per process, whatever the threads
_modules: dict[str, ModuleType] = {}
_loaded: dict[tuple[str, str], DerivedProfile] = {}


class DerivedProfile(Profile):
    """A profile whose generation was derived from a kernel: ``derived`` is True, ``source`` names the kernel."""

    derived = True

    def __init__(self, spec: registry.ProfileSpec, rt: Runtime, declarations: str, type_hash: str, *,
                 source: str, arch: str) -> None:
        super().__init__(spec, rt)
        self.source: str | None = source
        self._made = (spec, declarations, type_hash, source, arch)

    def __repr__(self) -> str:
        return f"<netmem_ffi profile {self.name}: derived from {self.source}>"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with what it was made from: another process loads it from the cache (or builds it)."""
        return (_restore, self._made)


def _restore(spec: registry.ProfileSpec, declarations: str, type_hash: str, source: str, arch: str
             ) -> DerivedProfile:
    return load_derived(spec, declarations, type_hash, source=source, arch=arch)


def cache_dir() -> str:
    """Where derived extensions are cached: ``$XDG_CACHE_HOME/netmem_ffi/derived`` (default ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "netmem_ffi", "derived")


def _describe(arch: str) -> str:
    model = data_model(arch)
    return f"{arch} {8 * model.pointer}-bit {model.endianness}-endian"


def check_host(arch: str) -> None:
    """Raise :class:`UnsupportedArchError` unless layouts of *arch* compile unchanged on this host.

    The host's C compiler lays the declarations out: its word size, byte order
    and 8-byte alignment must be the kernel's.
    """
    kernel, host = data_model(arch), data_model(host_arch())
    if (kernel.pointer, kernel.endianness, kernel.long_long_align) != (host.pointer, host.endianness,
                                                                      host.long_long_align):
        raise UnsupportedArchError(f"derived for {_describe(arch)}; this host is {_describe(host_arch())}; "
                                   "use --format c / layout instead", arch)


def _key(type_hash: str, declarations: str, cdefs_dir: str) -> str:
    """The cache key: the kernel's type hash, the declarations, the runtime's C sources, cffi and the ABI."""
    digest = hashlib.sha256(f"{type_hash}\n{declarations}".encode())
    for name in (*registry.RUNTIME_CDEFS, *registry.RUNTIME_SOURCES):
        with open(os.path.join(cdefs_dir, name), "rb") as fh:
            digest.update(fh.read())
    digest.update(builder.BUILD_TAG.encode())
    return digest.hexdigest()[:24]


def _build(spec: registry.ProfileSpec, declarations: str, module: str, path: str, cdefs_dir: str) -> None:
    """Compile the extension into *path* (atomically: a concurrent loader sees it whole or not at all)."""
    builder.check_source(spec, declarations)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="build-", dir=os.path.dirname(path))
    try:
        ffi = builder.make_ffi(spec, declarations, module=module, cdefs_dir=cdefs_dir)
        os.replace(builder.compile_ffi(ffi, workdir), path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def load_derived(spec: registry.ProfileSpec, declarations: str, type_hash: str, *, source: str,
                 arch: str) -> DerivedProfile:
    """The profile of a derived generation: compiled on first use, then loaded from the cache.

    ``profile.derived`` is True and ``profile.source`` names the kernel input.
    Raises :class:`UnsupportedArchError` for a layout the host cannot run and
    :class:`BuildError` when the declarations do not compile (a kernel static
    assert that fails is named).
    """
    check_host(arch)
    cdefs_dir = registry.cdefs_dir()
    key = _key(type_hash, declarations, cdefs_dir)
    with _lock:
        if (key, source) not in _loaded:
            rt = Runtime(spec, _module(key, spec, declarations, cdefs_dir))
            _loaded[key, source] = DerivedProfile(spec, rt, declarations, type_hash, source=source, arch=arch)
        return _loaded[key, source]


def _module(key: str, spec: registry.ProfileSpec, declarations: str, cdefs_dir: str) -> ModuleType:
    """The compiled extension of cache key *key*: imported once per process, built when not cached."""
    if key not in _modules:
        module = f"netmem_ffi._abi_derived_{key}"
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        path = os.path.join(cache_dir(), key, module.rpartition(".")[2] + suffix)
        if not os.path.exists(path):
            _build(spec, declarations, module, path, cdefs_dir)
        try:
            compiled = _import(module, path)
        except ImportError:  # a damaged cache entry (truncated, foreign): build it again
            os.unlink(path)
            _build(spec, declarations, module, path, cdefs_dir)
            compiled = _import(module, path)
        sys.modules[module] = _modules[key] = compiled
    return _modules[key]


def _import(module: str, path: str) -> ModuleType:
    """Import the extension *module* from *path*."""
    found = importlib.util.spec_from_file_location(module, path)
    if found is None or found.loader is None:
        raise BuildError(f"cannot load the derived extension {path}")
    compiled = importlib.util.module_from_spec(found)
    found.loader.exec_module(compiled)
    return compiled
