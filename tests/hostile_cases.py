"""Hostile kernel inputs of issue 12, each made by code (never a committed blob), and a bounded runner.

``build(name, directory) -> path`` writes one case; ``python hostile_cases.py NAME PATH`` reads it in
a fresh interpreter whose address space is capped at its own size after imports plus
:data:`MEMORY_BOUND` (``RLIMIT_AS``, as ``ulimit -v`` does) and prints one JSON line: the error
class, its message, the seconds taken (wall and CPU) and the peak RSS growth.  tests/test_hostile_inputs.py runs
every case and asserts the specific error, the time and the memory.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import resource
import struct
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

MEMORY_BOUND = 256 << 20
TIME_BOUND = 2.0


# -- builders -----------------------------------------------------------------------


def _btf(types: list[object]) -> bytes:
    from netmem_ffi.layout.btf.writer import encode

    return encode(types)  # type: ignore[arg-type]


def _doubling_structs(levels: int = 40) -> bytes:
    """Each struct holds two members of the next: flattening it as a tree is 2^levels rows."""
    from netmem_ffi.layout.btf.reader import BTFMember, BTFType
    from netmem_ffi.layout.btf.uapi import Kind

    types: list[object] = [BTFType(1, Kind.INT, "int", 4, extra=32)]
    types.append(BTFType(2, Kind.STRUCT, "s0", 8, members=(BTFMember("a", 1, 0), BTFMember("b", 1, 32))))
    for level in range(1, levels + 1):
        tid = level + 2  # both members at offset 0: BTF does not check overlap, flattening still doubles
        types.append(BTFType(tid, Kind.STRUCT, f"s{level}", 8,
                             members=(BTFMember("x", tid - 1, 0), BTFMember("y", tid - 1, 0))))
    return _btf(types)


def _doubling_prototypes(levels: int = 40) -> bytes:
    """Function prototypes whose two parameters point to the previous prototype: a 2^levels-long spelling."""
    from netmem_ffi.layout.btf.reader import BTFMember, BTFType
    from netmem_ffi.layout.btf.uapi import Kind

    types: list[object] = [BTFType(1, Kind.INT, "int", 4, extra=32),
                           BTFType(2, Kind.INT, "long int", 8, extra=64),
                           BTFType(3, Kind.FUNC_PROTO, "", 1, params=(("", 1),)),
                           BTFType(4, Kind.PTR, "", 3)]
    for level in range(levels):
        proto, ptr = 5 + 2 * level, 6 + 2 * level
        types.append(BTFType(proto, Kind.FUNC_PROTO, "", 1, params=(("", ptr - 2), ("", ptr - 2))))
        types.append(BTFType(ptr, Kind.PTR, "", proto))
    top = len(types)
    types.append(BTFType(top + 1, Kind.STRUCT, "holder", 8, members=(BTFMember("fn", top, 0),)))
    return _btf(types)


def _nested_streams(levels: int = 6, fanout: int = 6) -> bytes:
    """Compressed streams holding compressed streams, *fanout* per level: every one a candidate."""
    data = b"no btf here" * 10
    for _ in range(levels):
        data = b"".join(b"\x00" * 7 + gzip.compress(data, mtime=0) for _ in range(fanout))
    return data


def _elf_names_at_zero(sections: int = 60_000, table: int = 8 << 20) -> bytes:
    """An ELF whose section headers all name offset 0 of a large name table without a NUL."""
    ehsize, shentsize = 64, 64
    strtab_off = ehsize
    shoff = strtab_off + table
    header = b"\x7fELF" + bytes([2, 1, 1]) + b"\x00" * 9 + struct.pack(
        "<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, ehsize, 0, 0, shentsize, sections, sections - 1)
    entry = struct.pack("<IIQQQQIIQQ", 0, 1, 0, 0, strtab_off, table, 0, 0, 1, 0)
    return header + b"A" * table + entry * sections


def _zstd_bomb(size: int) -> bytes:
    import zstandard

    out = io.BytesIO()
    with zstandard.ZstdCompressor(level=1).stream_writer(out, closefd=False) as w:
        chunk = b"\x00" * (1 << 20)
        for _ in range(size >> 20):
            w.write(chunk)
    return out.getvalue()


def _held_levels() -> bytes:
    """A small image whose levels inflate to more than the held budget (a gzip around a zstd bomb)."""
    return gzip.compress(_zstd_bomb(1 << 30), mtime=0)


def _candidates_after_a_large_level(size: int = 64 << 20, count: int = 40) -> bytes:
    """A small file inflating to a 64 MiB level whose end holds *count* gzip candidates that fail: a reader
    that inflated the level again for each candidate would do 40 times the work."""
    import zlib

    tail = b"".join(b"\x1f\x8b\x08\x00" + b"\xff" * 12 for _ in range(count))
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\x00" * (1 << 20)
    out = [packer.compress(zeros) for _ in range(size >> 20)]
    return b"".join([*out, packer.compress(tail), packer.flush()])


def _lzma_dictionary() -> bytes:
    """An .lzma header asking for a 4 GiB dictionary."""
    return b"\x5d" + struct.pack("<I", 0xFFFF0000) + b"\xff" * 8 + b"\x00" * 64


def _lz4_block_error() -> bytes:
    """28 bytes: the lz4 legacy magic, a block size, and a block lz4 cannot decode."""
    return struct.pack("<II", 0x184C2102, 20) + b"\xff" * 20


def _tar_block(name: str, size: int, kind: bytes = b"0") -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    block = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    block[156:157] = kind
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block)


def _deb(data_tar: bytes, suffix: str = "") -> bytes:
    control_tar = io.BytesIO()
    with tarfile.open(fileobj=control_tar, mode="w", format=tarfile.GNU_FORMAT) as tar:
        text = b"Package: linux-image-7.0.0-1-amd64\nArchitecture: amd64\n"
        info = tarfile.TarInfo("./control")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    members = [("debian-binary", b"2.0\n"), ("control.tar", control_tar.getvalue()), (f"data.tar{suffix}", data_tar)]
    out = b"!<arch>\n"
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}".encode() + b"`\n" + data
        out += b"\n" if len(data) % 2 else b""
    return out


def _pax_digits() -> bytes:
    body = b"9" * 1_000_000
    tar = _tar_block("././@PaxHeader", len(body), b"x") + body + b"\x00" * (-len(body) % 512)
    return _deb(tar + b"\x00" * 1024)


def _sparse_member() -> bytes:
    tar = _tar_block("./boot/vmlinuz-7.0.0-1-amd64", 512, b"S") + b"\x00" * 512 + b"\x00" * 1024
    return _deb(tar)


def _many_members(count: int = 2_000_000) -> bytes:
    import zstandard

    block = _tar_block("./f", 0)
    out = io.BytesIO()
    with zstandard.ZstdCompressor(level=1).stream_writer(out, closefd=False) as w:
        batch = block * 4096
        for _ in range(count // 4096):
            w.write(batch)
        w.write(b"\x00" * 1024)
    return _deb(out.getvalue(), ".zst")


def _write_big_deb(path: Path, junk: int = 600 << 20) -> None:
    """A .deb (uncompressed data.tar) holding *junk* bytes of module files before its kernel image.

    Written sparse, so it costs no disk; reading it whole would need *junk* bytes of memory.
    """
    sys.path.insert(0, str(Path(__file__).parent))
    from test_kernel_inputs import make_btf, make_bzimage, make_elf

    image = make_bzimage(make_elf(make_btf()), "gzip")
    head = _tar_block("./usr/lib/modules/7.0.0-1-amd64/kernel/big.ko", junk)
    tail = _tar_block("./boot/vmlinuz-7.0.0-1-amd64", len(image)) + image + b"\x00" * (-len(image) % 512)
    tail += b"\x00" * 1024
    size = len(head) + junk + len(tail)
    deb = _deb(b"")  # headers only; patch the data.tar size
    deb = deb[: -60] + f"{'data.tar':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{size:<10}".encode() + b"`\n"
    with open(path, "wb") as fh:
        fh.write(deb + head)
        fh.seek(junk, os.SEEK_CUR)
        fh.write(tail)


#: name -> (builder writing the case to a path, the error class expected, a fragment of its message).
CASES: dict[str, tuple[Callable[[Path], None], str, str]] = {}


def _case(name: str, error: str, fragment: str) -> Callable[[Callable[[], bytes]], Callable[[], bytes]]:
    def register(make: Callable[[], bytes]) -> Callable[[], bytes]:
        CASES[name] = (lambda path: path.write_bytes(make()), error, fragment)
        return make

    return register


_case("flatten-doubling-structs", "BudgetExceededError", "fields budget")(_doubling_structs)
_case("spelling-doubling-prototypes", "BudgetExceededError", "type_text budget")(_doubling_prototypes)
_case("nested-compressed-streams", "BudgetExceededError", "budget")(_nested_streams)
_case("elf-names-at-offset-0", "KernelInputError", "no .BTF section")(_elf_names_at_zero)
_case("one-magic-1mb", "BudgetExceededError", "candidates budget")(lambda: b"\x00" * 64 + b"\x1f\x8b\x08\x00" * (1 << 18))
_case("btf-magic-1mb", "BudgetExceededError", "scan_hits budget")(lambda: b"\x00" * 64 + b"\x9f\xeb\x01\x00" * (1 << 18))
_case("btf-prefix-1mb", "KernelInputError", "no BTF found")(lambda: b"\x00" * 64 + b"\x9f\xeb\x01" * 349_525)
_case("pax-header-digits", "KernelInputError", "pax header record")(_pax_digits)
_case("tar-2m-members", "BudgetExceededError", "members budget")(_many_members)
_case("levels-held-at-once", "BudgetExceededError", "held budget")(_held_levels)
_case("candidates-after-a-64mib-level", "BudgetExceededError", "candidates budget")(_candidates_after_a_large_level)
_case("lzma-huge-dictionary", "KernelInputError", "corrupt lzma stream")(_lzma_dictionary)
_case("lz4-block-error-28-bytes", "KernelInputError", "corrupt lz4 stream")(_lz4_block_error)
_case("tar-sparse-member", "KernelInputError", "has no kernel image")(_sparse_member)
CASES["deb-600mb-before-image"] = (_write_big_deb, "", "")
CASES["dev-zero"] = (lambda path: path.symlink_to("/dev/zero"), "KernelInputError", "character device")
CASES["dev-urandom"] = (lambda path: path.symlink_to("/dev/urandom"), "KernelInputError", "character device")
CASES["fifo"] = (lambda path: os.mkfifo(path), "KernelInputError", "FIFO")

#: Cases that are BTF (read as layouts) rather than containers.
BTF_CASES = {"flatten-doubling-structs", "spelling-doubling-prototypes"}


def _read(name: str, path: str) -> None:
    from netmem_ffi.kernel.source import read_source
    from netmem_ffi.layout.btf.layouts import struct_layout

    src = read_source(path)
    if name in BTF_CASES:
        btf = src.btf
        for tid in range(1, len(btf) + 1):
            if btf.type(tid).kind == 4:  # every struct
                struct_layout(btf, tid)


def _vm_size() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")


def main(name: str, path: str) -> None:
    """Read case *name* at *path* under the memory bound and print the outcome as JSON."""
    import netmem_ffi._btfscan

    import netmem_ffi.kernel.source
    import netmem_ffi.layout.btf.layouts  # noqa: F401

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    limit = _vm_size() + MEMORY_BOUND
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    start = time.perf_counter()
    cpu0 = _cpu()
    error, message = "", ""
    try:
        _read(name, path)
    except Exception as exc:  # noqa: BLE001 - the outcome is reported, not raised
        error, message = type(exc).__name__, str(exc)
    seconds = time.perf_counter() - start
    cpu = _cpu() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"error": error, "message": message[:400], "seconds": seconds, "cpu_seconds": cpu,
                      "rss_growth": max(0, peak - base_rss)}))


def _cpu() -> float:
    """CPU seconds (user + system) this process has used: the work done, whatever the machine's load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
