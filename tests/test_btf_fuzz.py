"""Malformed BTF: every case raises KernelInputError naming the file and offset; fuzzing lets nothing else out."""

from __future__ import annotations

import os
import random
import struct
import time
from collections.abc import Callable

import pytest
from btf_support import VMLINUX

import netmem_ffi
from netmem_ffi.layout.btf import layouts as btf_layouts
from netmem_ffi.layout.btf.reader import BTF, BTFMember, BTFType, load_btf
from netmem_ffi.layout.btf.uapi import Kind
from netmem_ffi.layout.btf.writer import encode, extract, synthesize
from netmem_ffi.errors import KernelInputError, NetmemError

NAME = "bad.btf"


def read_everything(data: bytes) -> None:
    """Everything check does with a BTF, then every record: must raise only NetmemError."""
    btf = BTF(data, NAME)
    btf_layouts.layout_set(btf, arch="x86_64")
    for _ in btf.types():
        pass


@pytest.fixture(scope="module")
def good() -> bytes:
    """A real closure (the running kernel's, else the v7.2 model's) to break."""
    if os.access(VMLINUX, os.R_OK):
        return extract(load_btf(VMLINUX))
    return synthesize(netmem_ffi.profile("v7.2").layouts)


def _patch(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<" + fmt, out, at, value)
    return bytes(out)


def _struct_with(member_type: int = 1, name_off_bump: int = 0, vlen_extra: int = 0) -> bytes:
    types = [BTFType(1, Kind.INT, "long unsigned int", 8, extra=64),
             BTFType(2, Kind.STRUCT, "net_iov", 8, members=(BTFMember("x", member_type, 0),))]
    data = encode(types)
    if name_off_bump:  # the member's name_off (after header, 2 records' btf_type, int word)
        data = _patch(data, 24 + 16 + 12, "I", name_off_bump)
    if vlen_extra:
        data = _patch(data, 24 + 16 + 4, "I", (Kind.STRUCT << 24) | vlen_extra)
    return data


def _typedef_cycle() -> bytes:
    return encode([BTFType(1, Kind.INT, "long unsigned int", 8, extra=64),
                   BTFType(2, Kind.TYPEDEF, "a_t", 3), BTFType(3, Kind.TYPEDEF, "b_t", 2),
                   BTFType(4, Kind.STRUCT, "net_iov", 8, members=(BTFMember("x", 2, 0),))])


def _array_cycle() -> bytes:
    return encode([BTFType(1, Kind.INT, "long unsigned int", 8, extra=64),
                   BTFType(2, Kind.ARRAY, "", 0, array=(2, 1, 2)),
                   BTFType(3, Kind.STRUCT, "net_iov", 8, members=(BTFMember("x", 2, 0),))])


CASES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "empty": (lambda d: b"", "truncated"),
    "magic only": (lambda d: d[:2], "truncated"),
    "truncated in version": (lambda d: d[:3], "truncated"),
    "truncated before hdr_len": (lambda d: d[:4], "truncated"),
    "truncated in hdr_len": (lambda d: d[:6], "truncated"),
    "truncated before type_off": (lambda d: d[:8], "truncated"),
    "truncated before type_len": (lambda d: d[:12], "truncated"),
    "truncated before str_off": (lambda d: d[:16], "truncated"),
    "truncated before str_len": (lambda d: d[:20], "truncated"),
    "header only": (lambda d: d[:24], "past the end"),
    "truncated strings": (lambda d: d[:-3], "past the end"),
    "bad magic": (lambda d: b"\x00\x00" + d[2:], "bad BTF magic"),
    "version 2": (lambda d: d[:2] + b"\x02" + d[3:], "version"),
    "hdr_len past end": (lambda d: _patch(d, 4, "I", len(d) + 1), "header length"),
    "hdr_len too small": (lambda d: _patch(d, 4, "I", 8), "header length"),
    "type_len past end": (lambda d: _patch(d, 12, "I", len(d)), "type section"),
    "type_len not a multiple of 4": (lambda d: _patch(d, 12, "I", struct.unpack_from("<I", d, 12)[0] - 2),
                                     "multiple of 4"),
    "layout section past end": (lambda d: _patch(_patch(d, 4, "I", 32), 28, "I", 1 << 20), "past the end"),
    "type id out of range": (lambda d: _struct_with(member_type=99), "out of range"),
    "string offset out of range": (lambda d: _struct_with(name_off_bump=1 << 20), "string offset"),
    "huge vlen": (lambda d: _struct_with(vlen_extra=0xFFFF), "runs past the end"),
    "kind 0": (lambda d: _patch(d, 24 + 4, "I", 0), "BTF_KIND_UNKN"),
    "unknown kind, no layout section": (lambda d: _patch(d, 24 + 4, "I", 25 << 24), "unknown BTF kind 25"),
    "typedef cycle": (lambda d: _typedef_cycle(), "loops"),
    "array cycle": (lambda d: _array_cycle(), "loops"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed(good: bytes, case: str) -> None:
    make, words = CASES[case]
    with pytest.raises(KernelInputError) as info:
        read_everything(make(good))
    message = str(info.value)
    assert message.startswith(NAME), message
    assert words in message, message
    if case not in ("typedef cycle", "array cycle", "empty"):
        assert info.value.offset is not None, message


def test_unterminated_string_is_an_error(good: bytes) -> None:
    data = bytearray(good)
    data[-1] = ord("x")  # the last string loses its NUL
    with pytest.raises(KernelInputError, match="NUL-terminated|string"):
        read_everything(bytes(data))


def test_fuzz_mutations_raise_only_netmem_errors(good: bytes) -> None:
    """Thousands of byte flips, word smashes and truncations of a real closure, bounded in time."""
    rng = random.Random(0x9F_EB)
    deadline = time.monotonic() + float(os.environ.get("NETMEM_FFI_FUZZ_SECONDS", "12"))
    counts = {"ok": 0, "error": 0}
    interesting = [0, 0xFF, 0x7F, 0x80, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 1 << 24, 0xFFFF]
    while time.monotonic() < deadline:
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            how = rng.random()
            at = rng.randrange(len(data))
            if how < 0.5:
                data[at] ^= 1 << rng.randrange(8)
            elif how < 0.8 and at + 4 <= len(data):
                struct.pack_into("<I", data, at & ~3, rng.choice(interesting) if rng.random() < 0.7
                                 else rng.getrandbits(32))
            else:
                del data[at:]
                break
        try:
            read_everything(bytes(data))
            counts["ok"] += 1
        except NetmemError:
            counts["error"] += 1
    assert counts["ok"] + counts["error"] >= 1000, counts
    assert counts["error"] > 0 and counts["ok"] > 0, counts
