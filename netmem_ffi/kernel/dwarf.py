"""Kernel inputs read through their DWARF: an ELF with ``.debug_info`` and no ``.BTF``, a ``-dbg`` package.

Debian builds i386, armhf and loong64 kernels without BTF; their types exist
only as DWARF in the ``-dbg`` packages.  :func:`dwarf_source` reads

* an ELF file with ``.debug_info`` and no ``.BTF`` (a ``-dbg`` vmlinux, a
  ``.ko``, an object file): only its DWARF sections are read; the architecture is its
  ``e_machine`` (``arch_from`` "elf");
* a Debian ``-dbg`` package (its control file's ``Package`` ends in
  ``-dbg``): a multi-block ``data.tar.xz`` is inflated from its end until
  the vmlinux (:mod:`netmem_ffi.kernel.xzseek`: the vmlinux follows every
  module's debug file); otherwise ``data.tar`` is streamed from the front
  (:func:`netmem_ffi.kernel.archive.open_member`) up to the vmlinux, which
  is spooled to a temporary file (the ``spool`` budget).  Release and
  architecture come from the package.

Both give a :class:`~netmem_ffi.kernel.inputs.KernelBlob` whose BTF is the
netmem closure read from DWARF (:mod:`netmem_ffi.layout.dwarf`), which
:func:`netmem_ffi.kernel.source.read_source` turns into its ``KernelSource``.  On a
terminal, the streaming of a package shows its progress on stderr.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Callable

from netmem_ffi.errors import KernelInputError
from netmem_ffi.kernel.archive import control_fields, open_input, open_member
from netmem_ffi.kernel.elf import elf_arch
from netmem_ffi.kernel.inputs import DEB_ARCHES, KernelBlob
from netmem_ffi.kernel.xzseek import spool_tail_member
from netmem_ffi.layout.budget import Budget
from netmem_ffi.layout.dwarf import is_elf, read_dwarf_btf
from netmem_ffi.layout.dwarf.elf import section_names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = ["DBG_VMLINUX", "dwarf_source", "is_dbg_package"]

#: Where a ``-dbg`` package keeps the vmlinux (``boot/vmlinux-*`` is often a symlink to the second).
DBG_VMLINUX = re.compile(r"^(?:\./)?usr/lib/debug/(?:boot/vmlinux-[^/]+|lib/modules/([^/]+)/vmlinux)$")
_AR_MAGIC = b"!<arch>\n"
_CHUNK = 1 << 20


def _from_elf(fh: BinaryIO, name: str, release: str | None, arch: str | None, kind: str, base: int = 0,
              size: int | None = None) -> KernelBlob:
    raw, elf = read_dwarf_btf(fh, name, base=base, size=size)
    arch = arch or elf_arch(elf.machine, elf.is64, elf.byteorder == "little")
    return KernelBlob(raw, release, arch, name, kind)


def is_dbg_package(path: str) -> dict[str, str] | None:
    """The control fields of the Debian package at *path* when it is a ``-dbg`` package, else None."""
    try:
        with open_input(path) as fh:
            fields = control_fields(fh, path, Budget.from_env())
    except KernelInputError:  # not a Debian package: the other readers say what it is
        return None
    return fields if fields.get("Package", "").endswith("-dbg") else None


def _progress(what: str, total: int) -> Callable[[int], None]:
    """A progress line on stderr when it is a terminal (``done`` bytes of *total*); ``done < 0`` clears it."""
    if not sys.stderr.isatty():
        return lambda done: None
    shown = [0.0]

    def show(done: int) -> None:
        if done < 0:
            sys.stderr.write("\r\x1b[K")
        elif time.monotonic() - shown[0] > 0.2:
            shown[0] = time.monotonic()
            sys.stderr.write(f"\r{what}: {done >> 20} of {total >> 20} MiB\x1b[K")
        sys.stderr.flush()
    return show


def _spool(read: Callable[[int], bytes | None], dst: BinaryIO, size: int, name: str, budget: Budget) -> None:
    """Copy a package member (*read*) to *dst*, charging the ``spool`` budget; progress on a terminal."""
    budget.check("spool", size, f"{name} spooled to a temporary file", name)
    show = _progress(f"reading {name}", size)
    done = 0
    while chunk := read(_CHUNK):
        dst.write(chunk)
        done += len(chunk)
        show(done)
    show(-1)
    if done != size:
        raise KernelInputError(f"package member {name} ends after {done} of {size} bytes", name)


def _from_package(name: str, control: dict[str, str]) -> KernelBlob:
    budget = Budget.from_env()
    arch = DEB_ARCHES.get(control.get("Architecture", ""))
    with open_input(name) as fh, tempfile.TemporaryFile(prefix="netmem-data-tar-") as spool:
        show = _progress(f"inflating {name} from its end, up to the vmlinux", os.fstat(fh.fileno()).st_size)
        tail = spool_tail_member(fh, name, DBG_VMLINUX.pattern, b"usr/lib/debug/", spool, budget, show)
        show(-1)
        if tail is not None:
            found = DBG_VMLINUX.match(tail.name)
            return _from_elf(spool, name, found.group(1) if found else None, arch, "deb-dwarf", tail.offset, tail.size)
    with open_member(name, lambda n: DBG_VMLINUX.match(n) is not None, budget) as member, \
            tempfile.TemporaryFile(prefix="netmem-vmlinux-") as spool:
        _spool(member.read, spool, member.size, f"{name}:{member.name}", budget)
        spool.flush()
        found = DBG_VMLINUX.match(member.name)
        return _from_elf(spool, name, found.group(1) if found else None, arch, "deb-dwarf")


def dwarf_source(path: str) -> KernelBlob | None:
    """The netmem types (as BTF) of the kernel at *path* read through DWARF, or None when it is not such an input (see the module doc).

    Raises :class:`KernelInputError` (naming the file) for a malformed ELF,
    DWARF or package, and when the netmem types are not in its DWARF.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # FIFOs and devices: the other readers refuse them
            return None
        fh = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError:
        return None
    with fh:
        head = fh.read(len(_AR_MAGIC))
        if is_elf(head):
            names = section_names(fh, path)
            if ".debug_info" not in names or ".BTF" in names:
                return None
            return _from_elf(fh, path, None, None, "elf-dwarf")
    if head == _AR_MAGIC:
        control = is_dbg_package(path)
        if control is not None:
            return _from_package(path, control)
    return None
