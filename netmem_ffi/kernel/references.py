"""Reference kernels shipped in the package: small BTF extracts of real Debian kernels.

Each extract holds only the types reachable from ``struct netmem_desc``,
``struct net_iov``, ``struct net_iov_area``, ``enum net_iov_type`` and
``struct page``, cut out of a real kernel's BTF by
:func:`netmem_ffi.layout.btf.writer.extract` (a few KB instead of several MB), so
``netmem-ffi check --reference NAME`` and the offline tests exercise real
kernel data on any machine.  ``netmem_ffi/kernel/reference_kernels/index.json`` records, for
each, the kernel release, architecture, expected profile and the Debian package
(name, version, sha256) it came from; ``scripts/make_references.py``
regenerates them all, and a network-tier test checks each extract against the
full kernel BTF again.

Example::

    >>> from netmem_ffi.kernel.references import reference
    >>> reference("amd64-7.2").expected_profile
    'v7.2'
"""

from __future__ import annotations

import json
import os
from functools import cache

from netmem_ffi.errors import NetmemError, UnknownReferenceError
from netmem_ffi.kernel.source import DEFAULT_SOURCE, KernelSource, read_source
from netmem_ffi.layout.btf.reader import BTF

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from dataclasses import dataclass, fields
    from typing import Any
else:
    from netmem_ffi.abi.record import dataclass, fields

__all__ = ["DATA_DIR", "INDEX", "REFERENCE_PREFIX", "SCHEMA", "Reference", "names", "read_kernel", "reference",
           "references"]

#: How a shipped reference kernel is named wherever a kernel input is taken.
REFERENCE_PREFIX = "reference:"

#: Index file beside the extracts, and its format version.
INDEX = "index.json"
SCHEMA = 1
#: Where the extracts live inside the package.
DATA_DIR = "reference_kernels"


@dataclass(frozen=True)
class Reference:
    """One shipped reference kernel: where its extract is and where it came from."""

    name: str
    file: str
    release: str
    arch: str
    pointer_size: int
    endianness: str
    #: Profile the kernel is known to carry (None: older than net_iov).
    expected_profile: str | None
    #: The Debian package the extract was cut from: name, version, architecture, SHA256.
    package: str
    version: str
    deb_arch: str
    sha256: str
    #: Where the full BTF came from: "btf" (the image's own) or "dwarf" (pahole from the -dbg DWARF).
    method: str
    #: How the extract was made, in words (input kind, tools and versions).
    made: str
    #: SHA256 of the extract itself.
    extract_sha256: str

    @property
    def path(self) -> Path:
        """The extract's file (raw BTF) inside the installed package."""
        from importlib import resources  # importlib.resources imports typing: only when a reference is read
        from pathlib import Path

        return Path(str(resources.files("netmem_ffi.kernel").joinpath(DATA_DIR, self.file)))

    def read(self) -> bytes:
        """The extract's bytes (raw BTF)."""
        return self.path.read_bytes()

    def source(self) -> KernelSource:
        """This reference as a kernel input: ``reference:NAME``, release and architecture from the index."""
        name = f"reference:{self.name}"
        return KernelSource(name, BTF(self.read(), name), self.release, self.arch, "reference")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reference:
        missing = [f.name for f in fields(cls) if f.name not in d]
        if missing:
            raise NetmemError(f"reference index entry {d.get('name')!r} lacks {', '.join(missing)}")
        return cls(**{f.name: d[f.name] for f in fields(cls)})


@cache
def _load() -> tuple[Reference, ...]:
    from importlib import resources

    index = resources.files("netmem_ffi.kernel").joinpath(DATA_DIR, INDEX)
    if not index.is_file():
        return ()
    data = json.loads(index.read_text(encoding="utf-8"))
    if data.get("schema") != SCHEMA:
        raise NetmemError(f"reference index schema {data.get('schema')!r}; this netmem_ffi reads {SCHEMA}")
    return tuple(Reference.from_dict(entry) for entry in data["references"])


def references() -> list[Reference]:
    """Every shipped reference kernel, in index order (oldest kernel first, amd64 first)."""
    return list(_load())


def names() -> list[str]:
    """The names of the shipped reference kernels."""
    return [r.name for r in _load()]


def reference(name: str) -> Reference:
    """The shipped reference kernel *name*; :class:`UnknownReferenceError` listing the valid names otherwise."""
    for ref in _load():
        if ref.name == name:
            return ref
    raise UnknownReferenceError(f"unknown reference kernel {name!r}; shipped: {', '.join(names()) or 'none'}", name)


def read_kernel(source: str | os.PathLike[str] | None = None) -> KernelSource:
    """Read a kernel input: a path, ``reference:NAME`` (a shipped reference kernel), or the running kernel.

    Raises :class:`~netmem_ffi.errors.KernelInputError` / :class:`UnknownReferenceError`.
    """
    name = os.fspath(source) if source is not None else DEFAULT_SOURCE
    if name.startswith(REFERENCE_PREFIX):
        return reference(name.removeprefix(REFERENCE_PREFIX)).source()
    return read_source(name)
