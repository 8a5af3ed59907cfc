"""Helpers shared by the BTF/detection/check tests: synthetic kernels and the running kernel's BTF."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from netmem_ffi.layout import engine

from netmem_ffi.abi import registry
from netmem_ffi.abi.arches import RUNNING_KERNEL_BTF
from netmem_ffi.layout.types import LayoutSet

VMLINUX = RUNNING_KERNEL_BTF

#: The two net-next layouts of docs 1.3 that match no profile.
TRANSIENTS = {
    "union removed, owner before type": "struct netmem_desc desc; struct net_iov_area *owner; enum net_iov_type type;",
    "PageNetpp": "struct netmem_desc desc; unsigned int page_type; enum net_iov_type type; struct net_iov_area *owner;",
}


def need_vmlinux() -> str:
    if not os.path.exists(VMLINUX):
        pytest.skip(f"{VMLINUX} absent (kernel without CONFIG_DEBUG_INFO_BTF or not Linux)")
    if not os.access(VMLINUX, os.R_OK):
        pytest.skip(f"{VMLINUX} not readable")
    return VMLINUX


def transient_layouts(body: str, arch: str = "x86_64") -> LayoutSet:
    """The v7.2 model on *arch* with struct net_iov's members replaced by *body*."""
    text = registry.declarations(registry.spec("v7.2"), registry.cdefs_dir())
    text = re.sub(r"struct net_iov \{[^}]*\};", f"struct net_iov {{ {body} }};", text)
    base = engine.layout_set("v7.2", arch)
    niov = engine.layout_text(text, arch)["net_iov"]
    return LayoutSet(base.arch, base.pointer_size, base.endianness, {**base.structs, "net_iov": niov},
                     base.enums, None, "transient")


def without_net_iov(layouts: LayoutSet) -> LayoutSet:
    """A kernel before 6.12: only struct page."""
    return LayoutSet(layouts.arch, layouts.pointer_size, layouts.endianness,
                     {"page": layouts.structs["page"]}, {}, None, "pre-6.12")


def write_kernel(path: os.PathLike[str] | str, layouts: LayoutSet) -> str:
    """A synthesized kernel: raw BTF declaring *layouts*, written to *path*."""
    from netmem_ffi.layout.btf.writer import synthesize

    with open(path, "wb") as fh:
        fh.write(synthesize(layouts))
    return os.fspath(path)


def with_member_moved(layouts: LayoutSet, struct: str, member: str, delta: int) -> LayoutSet:
    """*layouts* with one member of *struct* moved by *delta* bytes (a kernel build that moved a field)."""
    s = layouts.structs[struct]
    fields = tuple(f._replace(offset=f.offset + delta) if f.name == member else f for f in s.fields)
    return layouts._replace(structs={**layouts.structs, struct: s._replace(fields=fields)})


_PAHOLE_MEMBER = re.compile(r"^\s+.*?[\s*](\w+)(?:\[\d+\])*;\s+/\*\s+(\d+)\s+(\d+)\s+\*/")
_PAHOLE_SIZE = re.compile(r"/\* size: (\d+),")


def pahole_struct(path: str, struct: str, *flags: str) -> tuple[dict[str, tuple[int, int]], int]:
    """pahole's reading of *struct* in *path*: {member: (offset, size)} (anonymous members looked through), size.

    Skips the test when pahole is absent.
    """
    if shutil.which("pahole") is None:
        pytest.skip("pahole (dwarves) not installed")
    out = subprocess.run(["pahole", *flags, "-C", struct, path], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    members = {m.group(1): (int(m.group(2)), int(m.group(3)))
               for m in map(_PAHOLE_MEMBER.match, out.splitlines()) if m}
    size = _PAHOLE_SIZE.search(out)
    assert size, out
    return members, int(size.group(1))
