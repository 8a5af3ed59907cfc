"""Every kernel input, read into one :class:`KernelSource`: its BTF and what the container said.

Every container (raw BTF, ELF, compressed images, Debian packages) goes through
:mod:`netmem_ffi.kernel.inputs` under one :class:`~netmem_ffi.layout.budget.Budget`
per input.  This is the one place that turns a path into kernel type information.
"""

from __future__ import annotations

import os
import stat

from netmem_ffi.abi.arches import RUNNING_KERNEL_BTF, host_arch
from netmem_ffi.layout.btf.reader import BTF, byte_order
from netmem_ffi.layout.budget import Budget

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mmap import mmap
    from typing import NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple

__all__ = ["DEFAULT_SOURCE", "KernelSource", "read_source"]

#: The running kernel's BTF.
DEFAULT_SOURCE = RUNNING_KERNEL_BTF


class KernelSource(NamedTuple):
    """A kernel input as read: its BTF and what the container said about it."""

    source: str
    btf: BTF
    release: str | None
    arch_hint: str | None
    kind: str


def read_source(source: str | os.PathLike[str] = DEFAULT_SOURCE, budget: Budget | None = None) -> KernelSource:
    """Read the kernel input at *source* (raw BTF, ELF, image, ``.deb``: :mod:`netmem_ffi.kernel.inputs`).

    The one entry from a path to kernel type information.  *budget* (default
    :meth:`Budget.from_env`) bounds the work and memory of this input, the BTF
    reading included.  Raises :class:`~netmem_ffi.errors.KernelInputError` (or its
    :class:`~netmem_ffi.errors.BudgetExceededError`) naming the file (and offset).
    """
    name = os.fspath(source)
    budget = (budget or Budget.from_env()).fresh()
    running = os.path.realpath(name) == DEFAULT_SOURCE
    mapped = _map_running(name, budget) if running else None
    if mapped is not None:
        return KernelSource(name, BTF(mapped, name, budget=budget), os.uname().release, host_arch(), "raw-btf")
    dwarf = _dwarf_source(name)
    if dwarf is not None:
        return dwarf
    # the container readers (and their codecs) only where the input is not the mapped running kernel
    from netmem_ffi.kernel.inputs import read_btf_bytes

    blob = read_btf_bytes(name, budget)
    if blob.kind == "raw-btf":
        release, arch = None, None
        if running:
            # the running kernel's own BTF: its release and architecture are this machine's
            release, arch = os.uname().release, host_arch()
        return KernelSource(name, BTF(blob.btf, name, budget=budget), release, arch, "raw-btf")
    return KernelSource(name, BTF(blob.btf, f"{name} (BTF from {blob.kind})", budget=budget), blob.release,
                        blob.arch_hint, blob.kind)


def _map_running(name: str, budget: Budget) -> mmap | None:
    """The running kernel's BTF (*name* leads to it) mapped read-only, not copied; None where it cannot be.

    Linux 6.16 and later map ``/sys/kernel/btf/vmlinux`` (private, read-only: the
    kernel's own pages, which never change); earlier kernels refuse, and the
    caller reads the file.  A mapping that does not start with the BTF magic is
    left to the reader's errors too.  The file's size counts against the
    ``held`` budget, as a read would.
    """
    import mmap as mmap_module  # only here: the mapping is the one user (its import is ~0.5 ms)

    try:
        with open(DEFAULT_SOURCE, "rb", buffering=0) as fh:
            size = os.fstat(fh.fileno()).st_size
            budget.check("held", size, "input file", name)
            mapped = mmap_module.mmap(fh.fileno(), size, flags=mmap_module.MAP_PRIVATE, prot=mmap_module.PROT_READ)
    except (OSError, ValueError):  # no such mapping (older kernels), or an empty file
        return None
    if byte_order(mapped) is None:
        mapped.close()
        return None
    return mapped


def _dwarf_source(name: str) -> KernelSource | None:
    """An ELF or Debian package with DWARF and no BTF (a -dbg vmlinux or package, a .ko), read through its DWARF.

    None for anything else; the DWARF reader is imported only for an ELF or ``ar`` file.
    """
    try:
        if not stat.S_ISREG(os.stat(name).st_mode):  # a FIFO would block the open: the readers below refuse it
            return None
        with open(name, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return None
    if head[:4] != b"\x7fELF" and head != b"!<arch>\n":
        return None
    from netmem_ffi.kernel.dwarf import dwarf_source

    blob = dwarf_source(name)
    if blob is None:
        return None
    return KernelSource(name, BTF(blob.btf, f"{name} (BTF from DWARF)"), blob.release, blob.arch_hint, blob.kind)
