#!/usr/bin/env python3
"""Regenerate the reference kernels shipped in ``netmem_ffi/kernel/reference_kernels/`` (maintainers only).

For each entry of :data:`CATALOGUE` this takes the newest matching Debian
kernel package the archive offers now (through apt with a private state, see
:mod:`netmem_ffi.kernel.debian`), reads the kernel's full BTF (from the image, or from
the ``-dbg`` package's DWARF through pahole), cuts the netmem closure out of it
(:func:`netmem_ffi.layout.btf.writer.extract`), checks that the extract is
detected as the profile the catalogue expects and lays out exactly as the full
BTF does, writes ``<name>.btf`` and records package, version and sha256 in
``index.json``.

    python scripts/make_references.py                 # all of them
    python scripts/make_references.py --only amd64-7.2 s390x-7.2
    python scripts/make_references.py --list          # what would be fetched

Entries not regenerated keep their index records.  Exits non-zero, writing
nothing for that entry, when a kernel is not detected as expected.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from netmem_ffi.kernel import references as refs
from netmem_ffi.layout.btf.reader import BTF
from netmem_ffi.layout.btf.writer import extract
from netmem_ffi.abicheck.check import CheckResult, check_kernel
from netmem_ffi.kernel.source import KernelSource
from netmem_ffi.kernel.debian import Apt, kernel_btf
from netmem_ffi.errors import NetmemError
from netmem_ffi.kernel.inputs import DEB_ARCHES

OUT_DIR = Path(__file__).resolve().parent.parent / "netmem_ffi" / "kernel" / refs.DATA_DIR


@dataclass(frozen=True)
class Wanted:
    """A reference kernel to make: which package to take, what it must turn out to be."""

    name: str
    deb_arch: str
    #: Regular expression on package names; the highest version in the name wins.
    package: str
    #: Profile the kernel is known to carry (docs/netmem-abi.md 1.2, or read with pahole).
    expected_profile: str
    method: str = "btf"
    #: Suites to search (fewer lists to fetch for other architectures).
    suites: tuple[str, ...] = ("bookworm-backports", "trixie", "trixie-backports", "sid")


CATALOGUE: tuple[Wanted, ...] = (
    Wanted("amd64-6.12", "amd64", r"^linux-image-6\.12\.[0-9]+\+deb13-cloud-amd64-unsigned$", "v6.12"),
    Wanted("amd64-6.16", "amd64", r"^linux-image-6\.16\.[0-9]+\+deb13-cloud-amd64$", "v6.16"),
    Wanted("amd64-6.17", "amd64", r"^linux-image-6\.17\.[0-9]+\+deb13-cloud-amd64$", "v6.17"),
    Wanted("amd64-6.18", "amd64", r"^linux-image-6\.18\.[0-9]+\+deb13-cloud-amd64$", "v6.17"),
    Wanted("amd64-6.19", "amd64", r"^linux-binary-6\.19\.[0-9]+\+deb13-cloud-amd64$", "v6.19"),
    # 7.0 still has 6.19's union; Debian's 7.1 already has 7.2's layout (read with pahole).
    Wanted("amd64-7.0", "amd64", r"^linux-binary-7\.0\.[0-9]+\+deb13-cloud-amd64$", "v6.19"),
    Wanted("amd64-7.1", "amd64", r"^linux-binary-7\.1\.[0-9]+\+deb13-cloud-amd64$", "v7.2"),
    Wanted("amd64-7.2", "amd64", r"^linux-binary-unsigned-7\.2\.[0-9]+\+deb14-cloud-amd64$", "v7.2"),
    Wanted("amd64-7.3", "amd64", r"^linux-binary-unsigned-7\.3\.[0-9]+\+deb13-cloud-amd64$", "v7.2"),
    # Big-endian LP64: s390x images embed BTF.
    Wanted("s390x-6.12", "s390x", r"^linux-image-6\.12\.[0-9]+\+deb12-s390x$", "v6.12", suites=("bookworm-backports",)),
    Wanted("s390x-7.2", "s390x", r"^linux-binary-7\.2\.[0-9]+\+deb14-s390x$", "v7.2", suites=("sid",)),
    # Other 64-bit architectures: arm64 and riscv64 ship raw Images, ppc64el an ELF vmlinux.
    Wanted("arm64-7.2", "arm64", r"^linux-binary-7\.2\.[0-9]+\+deb14-arm64$", "v7.2", suites=("sid",)),
    Wanted("riscv64-7.2", "riscv64", r"^linux-binary-7\.2\.[0-9]+\+deb14-riscv64$", "v7.2", suites=("sid",)),
    Wanted("ppc64el-7.2", "ppc64el", r"^linux-binary-7\.2\.[0-9]+\+deb14-powerpc64le$", "v7.2", suites=("sid",)),
    # ILP32: armhf images carry no BTF; pahole encodes the -dbg package's DWARF.
    Wanted("armhf-6.12", "armhf", r"^linux-image-6\.12\.[0-9]+\+deb12-armmp-dbg$", "v6.12", "dwarf",
           ("bookworm-backports",)),
    Wanted("armhf-7.2", "armhf", r"^linux-image-7\.2\.[0-9]+\+deb14-armmp-dbg$", "v7.2", "dwarf", ("sid",)),
)


def _pahole_version() -> str:
    exe = shutil.which("pahole")
    if exe is None:
        return "pahole (absent)"
    return "pahole " + subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout.strip()


def _describe(want: Wanted, kind: str) -> str:
    how = {
        "btf": f"BTF of the kernel image ({kind}) read by netmem_ffi.kernel.inputs",
        "dwarf": f"BTF encoded by `{_pahole_version()} --btf_encode_detached` from the -dbg vmlinux DWARF",
    }[want.method]
    return f"{how}; netmem closure cut by netmem_ffi.layout.btf.writer.extract (scripts/make_references.py)"


def _check(btf: bytes, source: str, release: str | None, arch: str | None) -> CheckResult:
    return check_kernel(KernelSource(source, BTF(btf, source), release, arch, "raw-btf"))


def make(want: Wanted) -> dict[str, object]:
    """Fetch, extract, verify and write one reference; return its index record."""
    apt = Apt(want.deb_arch, want.suites)
    apt.update()
    deb = apt.download(apt.newest(want.package))
    print(f"{want.name}: {deb.package} {deb.version} ({deb.path.stat().st_size >> 20} MiB)", flush=True)
    blob = kernel_btf(deb.path, want.method)
    cut_btf = extract(BTF(blob.btf, str(deb.path)))
    arch = DEB_ARCHES.get(want.deb_arch, want.deb_arch)
    full = _check(blob.btf, str(deb.path), blob.release, arch)
    cut = _check(cut_btf, want.name, blob.release, arch)
    if cut.to_dict()["structs"] != full.to_dict()["structs"] or cut.to_dict()["enums"] != full.to_dict()["enums"]:
        raise SystemExit(f"{want.name}: the extract does not lay out as the full BTF does")
    detected = cut.to_dict()["profile"]
    if detected != want.expected_profile:
        raise SystemExit(f"{want.name}: detected as {detected}, the catalogue expects {want.expected_profile}")
    kernel = cut.to_dict()["kernel"]
    path = OUT_DIR / f"{want.name}.btf"
    path.write_bytes(cut_btf)
    print(f"  {blob.release} {kernel['arch']} {detected}: {len(blob.btf)} -> {len(cut_btf)} bytes", flush=True)
    return refs.Reference(
        name=want.name,
        file=path.name,
        release=blob.release or "",
        arch=str(kernel["arch"]),
        pointer_size=int(kernel["pointer_size"]),
        endianness=str(kernel["endianness"]),
        expected_profile=want.expected_profile,
        package=deb.package,
        version=deb.version,
        deb_arch=want.deb_arch,
        sha256=deb.sha256,
        method=want.method,
        made=_describe(want, blob.kind),
        extract_sha256=hashlib.sha256(cut_btf).hexdigest(),
    ).to_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=[w.name for w in CATALOGUE])
    parser.add_argument("--list", action="store_true", help="print the catalogue and exit")
    args = parser.parse_args(argv)
    if args.list:
        for w in CATALOGUE:
            print(f"{w.name:12} {w.deb_arch:6} {w.expected_profile:6} {w.method:5} {w.package}")
        return 0
    index_path = OUT_DIR / refs.INDEX
    old = json.loads(index_path.read_text()) if index_path.exists() else {"references": []}
    records = {r["name"]: r for r in old["references"]}
    order = [w.name for w in CATALOGUE]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for want in CATALOGUE:
        if args.only and want.name not in args.only:
            continue
        try:
            records[want.name] = make(want)
        except NetmemError as exc:
            print(f"{want.name}: {exc}", file=sys.stderr)
            return 1
        entries = sorted(records.values(), key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))
        index_path.write_text(json.dumps({"schema": refs.SCHEMA, "references": entries}, indent=2) + "\n")
    print(f"{index_path}: {len(records)} references")
    return 0

if __name__ == "__main__":
    sys.exit(main())
