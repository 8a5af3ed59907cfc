"""Network tier: the real Debian packages behind the shipped reference kernels.

Downloads (cached under ``$NETMEM_FFI_CACHE/debian``, default
``~/.cache/netmem_ffi/debian``) each reference's exact package through apt,
reads it with the kernel input reader, checks the full kernel, and checks that
the shipped extract is what the full kernel BTF gives again.

Which references: ``NETMEM_FFI_NETWORK_REFERENCES`` = ``all`` or a comma list of
names; unset, CI (``CI`` set) takes :data:`CI_SUBSET` (two small packages, a 6.12
and a 7.x kernel), a person running it by hand takes all of them (the armhf ones
download ~0.7-0.9 GB -dbg packages and need pahole).
"""

from __future__ import annotations

import os
import shutil
from functools import cache

import pytest

from netmem_ffi.kernel import references as refs
from netmem_ffi.abicheck.check import check_kernel, check_reference, check_source
from netmem_ffi.kernel.source import KernelSource
from netmem_ffi.kernel.debian import Apt, DebFile, archive_uri, kernel_btf
from netmem_ffi.errors import ArchiveError
from netmem_ffi.kernel.inputs import KernelBlob
from netmem_ffi.layout.btf.reader import BTF
from netmem_ffi.layout.btf.writer import extract

pytestmark = pytest.mark.network

CI_SUBSET = "amd64-6.12,amd64-7.2"


def _selected() -> list[refs.Reference]:
    wanted = os.environ.get("NETMEM_FFI_NETWORK_REFERENCES") or (CI_SUBSET if os.environ.get("CI") else "all")
    if wanted == "all":
        return refs.references()
    return [refs.reference(name.strip()) for name in wanted.split(",") if name.strip()]


SELECTED = _selected()


@cache
def _apt(deb_arch: str) -> Apt:
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is not installed: Debian's archive is reached through apt")
    try:
        archive_uri()
    except ArchiveError as exc:
        pytest.skip(str(exc))
    apt = Apt(deb_arch)
    apt.update()
    return apt


@cache
def _fetch(name: str) -> tuple[DebFile, KernelBlob]:
    ref = refs.reference(name)
    apt = _apt(ref.deb_arch)
    try:
        apt.show(ref.package, ref.version)
    except ArchiveError as exc:
        pytest.skip(f"{ref.package}={ref.version} is not in the archive's lists ({exc}); regenerate the references")
    if ref.method == "dwarf" and shutil.which("pahole") is None:
        pytest.skip("pahole (apt package dwarves) is needed to turn the -dbg DWARF into BTF")
    deb = apt.download(ref.package, ref.version)
    return deb, kernel_btf(deb.path, ref.method)


@pytest.mark.parametrize("ref", SELECTED, ids=[r.name for r in SELECTED])
def test_package_is_the_recorded_one_and_reads(ref: refs.Reference) -> None:
    deb, blob = _fetch(ref.name)
    assert (deb.package, deb.version, deb.sha256) == (ref.package, ref.version, ref.sha256)
    assert blob.release == ref.release
    assert blob.arch_hint == ref.arch
    assert blob.kind == ("deb" if ref.method == "btf" else "dwarf")


@pytest.mark.parametrize("ref", SELECTED, ids=[r.name for r in SELECTED])
def test_shipped_extract_is_the_full_kernels_closure(ref: refs.Reference) -> None:
    _, blob = _fetch(ref.name)
    again = extract(BTF(blob.btf, ref.name))
    if ref.method == "btf":
        assert again == ref.read()
    else:  # another pahole version may encode the same types differently: compare what they lay out
        fresh = check_kernel(KernelSource(ref.name, BTF(again, ref.name), ref.release, ref.arch, "dwarf"))
        assert fresh.layouts.structs == check_reference(ref).layouts.structs


@pytest.mark.parametrize("ref", [r for r in SELECTED if r.method == "btf"], ids=lambda r: r.name)
def test_full_package_checks_like_its_reference(ref: refs.Reference) -> None:
    deb, _ = _fetch(ref.name)
    full = check_source(deb.path)
    shipped = check_reference(ref)
    assert full.detection.profile == ref.expected_profile
    assert full.release == ref.release
    assert full.layouts.structs == shipped.layouts.structs
    assert full.layouts.enums == shipped.layouts.enums
    assert [a.ok for a in full.asserts] == [a.ok for a in shipped.asserts]


def _bounded_read(path: str) -> dict[str, object]:
    """Read *path* in a subprocess capped at its own size + 256 MiB (tests/hostile_cases.py)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    runner = Path(__file__).parent / "hostile_cases.py"
    done = subprocess.run([sys.executable, str(runner), "package", path], capture_output=True, text=True,
                          timeout=1800, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.parametrize("ref", [r for r in SELECTED if r.method == "dwarf"][:1], ids=lambda r: r.name)
def test_dbg_package_is_streamed_within_the_memory_bound(ref: refs.Reference) -> None:
    """A -dbg package (~0.9 GB holding GBs of module debug files before its vmlinux) is read as a stream:
    the vmlinux is spooled to disk, its headers read, and it is refused (no .BTF, DWARF) in bounded memory."""
    from hostile_cases import MEMORY_BOUND

    deb, _ = _fetch(ref.name)
    outcome = _bounded_read(str(deb.path))
    assert outcome["error"] == "KernelInputError" and "pahole --btf_encode_detached" in str(outcome["message"])
    assert int(outcome["rss_growth"]) < MEMORY_BOUND, outcome  # type: ignore[call-overload]


@pytest.mark.parametrize("ref", [r for r in SELECTED if r.method == "btf"][:1], ids=lambda r: r.name)
def test_image_package_reads_within_the_memory_bound(ref: refs.Reference) -> None:
    from hostile_cases import MEMORY_BOUND

    deb, _ = _fetch(ref.name)
    outcome = _bounded_read(str(deb.path))
    assert outcome["error"] == "", outcome
    assert int(outcome["rss_growth"]) < MEMORY_BOUND, outcome  # type: ignore[call-overload]
