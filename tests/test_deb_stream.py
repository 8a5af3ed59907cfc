"""The streaming .deb API (``netmem_ffi.kernel.debian.open_member``): ar -> compressed tar -> one member."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from test_kernel_inputs import COMPRESSORS, make_ar

from netmem_ffi.errors import BudgetExceededError, KernelInputError
from netmem_ffi.kernel.archive import MemberNotFound, tar_members
from netmem_ffi.kernel.debian import open_member
from netmem_ffi.layout.budget import Budget


def _tar(files: list[tuple[str, bytes]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _deb(data_tar: bytes, codec: str = "xz", tail: bytes = b"") -> bytes:
    suffix = {"xz": ".xz", "gzip": ".gz", "zstd": ".zst", "bzip2": ".bz2", "none": ""}[codec]
    packed = data_tar if codec == "none" else COMPRESSORS[codec](data_tar)
    control = COMPRESSORS["xz"](_tar([("./control", b"Package: p\nArchitecture: amd64\n")]))
    return make_ar([("debian-binary", b"2.0\n"), ("control.tar.xz", control), (f"data.tar{suffix}", packed + tail)])


@pytest.mark.parametrize("codec", ["xz", "gzip", "zstd", "bzip2", "none"])
@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_open_member_streams_the_wanted_member(tmp_path: Path, codec: str, fmt: int) -> None:
    payload = os.urandom(200_000)
    long_dir = "./usr/lib/debug/" + "d" * 120 if fmt != tarfile.USTAR_FORMAT else "./usr/lib/debug"
    path = tmp_path / "p.deb"
    path.write_bytes(_deb(_tar([("./a", b"x" * 1000), (f"{long_dir}/vmlinux", payload), ("./z", b"z")], fmt), codec))
    with open_member(path, lambda n: n.endswith("/vmlinux")) as fh:
        assert fh.name == f"{long_dir}/vmlinux" and fh.size == len(payload)
        assert fh.read(10) == payload[:10]
        assert fh.read() == payload[10:]
        assert fh.read(5) == b""


def test_open_member_stops_at_the_member(tmp_path: Path) -> None:
    """Garbage after the wanted member is never read (the stream stops there)."""
    data_tar = _tar([("./boot/vmlinuz", b"k" * 5000)])
    path = tmp_path / "p.deb"
    path.write_bytes(_deb(data_tar[:-1024] + b"\x01" * 4096, codec="none"))
    with open_member(path, lambda n: n == "./boot/vmlinuz") as fh:
        assert fh.read() == b"k" * 5000


def test_open_member_missing_member_and_counts_members(tmp_path: Path) -> None:
    path = tmp_path / "p.deb"
    path.write_bytes(_deb(_tar([(f"./f{i}", b"") for i in range(50)])))
    with pytest.raises(MemberNotFound, match="no member"):
        open_member(path, lambda n: False)
    with pytest.raises(BudgetExceededError, match="NETMEM_FFI_MAX_MEMBERS") as info:
        open_member(path, lambda n: False, Budget(members=20))
    assert info.value.budget == "members"


def test_open_member_refuses_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.deb"
    os.mkfifo(fifo)
    with pytest.raises(KernelInputError, match="FIFO"):
        open_member(fifo, lambda n: True)


def test_pax_header_of_digits_is_linear() -> None:
    """CVE-2024-6232's shape: a pax header that is a long run of digits is refused at once."""
    body = b"9" * 500_000
    header = tarfile.TarInfo("././@PaxHeader")
    header.size = len(body)
    header.type = tarfile.XHDTYPE
    raw = header.tobuf(tarfile.USTAR_FORMAT) + body + b"\0" * (-len(body) % 512) + b"\0" * 1024
    with pytest.raises(KernelInputError, match="pax header record"):
        list(tar_members(io.BytesIO(raw).read, "t", Budget()))
