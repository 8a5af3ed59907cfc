"""Every kernel input, read into one :class:`KernelSource`: its BTF and what the container said.

Raw BTF is read directly; ELF images, compressed kernels and Debian packages go
through :mod:`netmem_ffi.kernel.inputs`.  This is the one place that turns a path
into kernel type information.
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

from netmem_ffi.abi.arches import RUNNING_KERNEL_BTF, host_arch
from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.btf.reader import BTF

__all__ = ["DEFAULT_SOURCE", "KernelSource", "read_source"]

#: The running kernel's BTF.
DEFAULT_SOURCE = RUNNING_KERNEL_BTF
_BTF_MAGICS = (b"\x9f\xeb", b"\xeb\x9f")


class KernelSource(NamedTuple):
    """A kernel input as read: its BTF and what the container said about it."""

    source: str
    btf: BTF
    release: str | None
    arch_hint: str | None
    kind: str


def read_source(source: str | os.PathLike[str] = DEFAULT_SOURCE) -> KernelSource:
    """Read the kernel input at *source*; raw BTF directly, anything else through :mod:`kernel_inputs`.

    Raises :class:`KernelInputError` naming the file (and offset) when it cannot be read.
    """
    name = os.fspath(source)
    dwarf = _dwarf_source(name)
    if dwarf is not None:
        return dwarf
    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise KernelInputError(f"cannot read: {exc.strerror or exc}", name) from None
    if data[:2] in _BTF_MAGICS:  # raw BTF: skip importing the container readers
        if os.path.realpath(name) == DEFAULT_SOURCE:
            # the running kernel's own BTF: its release and architecture are this machine's
            return KernelSource(name, BTF(data, name), os.uname().release, host_arch(), "raw-btf")
        return KernelSource(name, BTF(data, name), None, None, "raw-btf")
    from netmem_ffi.kernel.inputs import btf_from_bytes

    blob = btf_from_bytes(data, name)
    return KernelSource(name, BTF(blob.btf, f"{name} (BTF from {blob.kind})"), blob.release, blob.arch_hint,
                        blob.kind)


def _dwarf_source(name: str) -> KernelSource | None:
    """An ELF or Debian package with DWARF and no BTF (-dbg vmlinux or package, .ko) read through its DWARF;
    None for anything else (the DWARF reader is imported only for an ELF or ``ar`` file)."""
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
