"""Type look-ups by name (issue 18): found in C, during the one walk of the type section or after it.

Names are compared by content (libbpf's ``btf__find_by_name_kind``), the first
record of a wanted kind wins, and a look-up gives the same answer whether the
walk is still to come or already done.  Raw BTF is built here by hand, so
that strings can be duplicated or left unterminated the way hostile input is.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import pytest
from btf_support import need_vmlinux

from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.btf.layouts import NETMEM_TYPES
from netmem_ffi.layout.btf.reader import BTF, load_btf
from netmem_ffi.layout.btf.uapi import Kind, make_info

STRUCT = frozenset({Kind.STRUCT})
TYPEDEF = frozenset({Kind.TYPEDEF})


def raw_btf(records: Sequence[tuple[int, int, int, int]], strings: bytes, byteorder: str = "<") -> bytes:
    """Raw BTF of *records* (name_off, kind, size_or_type, vlen 0; an INT gets its encoding word) and *strings*."""
    types = b""
    for name_off, kind, size_type, _ in records:
        types += struct.pack(byteorder + "III", name_off, make_info(kind, 0, False), size_type)
        if kind == Kind.INT:
            types += struct.pack(byteorder + "I", 8 * size_type)
    header = struct.pack(byteorder + "HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return header + types + strings


#: "\0a\0a\0x\0long int\0ünï\0tail" -- two copies of "a"; "tail" has no NUL inside the section.
STRINGS = b"\0a\0a\0x\0long int\0" + "ünï".encode() + b"\0tail"
A1, A2, X, LONG, UNI, TAIL = 1, 3, 5, 7, 16, STRINGS.index(b"tail")
RECORDS = [
    (X, Kind.TYPEDEF, 3, 0),  # [1] typedef x -> [3]
    (A2, Kind.STRUCT, 8, 0),  # [2] struct a, named through the second copy of "a"
    (X, Kind.STRUCT, 4, 0),  # [3] struct x
    (A1, Kind.STRUCT, 16, 0),  # [4] struct a again, the first copy
    (LONG, Kind.INT, 8, 0),  # [5] long int
    (UNI, Kind.STRUCT, 4, 0),  # [6] struct ünï
    (TAIL, Kind.STRUCT, 4, 0),  # [7] a name running off the end of the section
    (len(STRINGS) + 40, Kind.STRUCT, 4, 0),  # [8] a name offset past the section
]
WANTED = {"a": STRUCT, "x": TYPEDEF, "long int": frozenset({Kind.INT}), "ünï": STRUCT, "tail": STRUCT,
          "missing": STRUCT, "nul\0inside": STRUCT}
EXPECTED = {"a": 2, "x": 1, "long int": 5, "ünï": 6}


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("walked_first", [False, True])
def test_names_match_by_content_first_of_the_kind(byteorder: str, walked_first: bool) -> None:
    btf = BTF(raw_btf(RECORDS, STRINGS, byteorder), "hand-made")
    if walked_first:
        assert len(btf) == len(RECORDS)  # the walk, without names
    assert btf.find_types(WANTED) == EXPECTED
    assert btf.find("x", STRUCT) == 3 and btf.find("a", TYPEDEF) is None
    assert btf.pointer_size == 8


def test_more_names_than_one_pass_takes() -> None:
    """Past BTF_SCAN_MAX_NAMES, names go in further passes; the ones in the first pass still come from the walk."""
    wanted = {f"absent{i}": STRUCT for i in range(70)} | {"ünï": STRUCT, "a": STRUCT}
    before = BTF(raw_btf(RECORDS, STRINGS), "hand-made").find_types(wanted)
    after = BTF(raw_btf(RECORDS, STRINGS), "hand-made")
    len(after)
    assert before == after.find_types(wanted) == {"ünï": 6, "a": 2}


def test_a_failed_walk_fails_every_look_up() -> None:
    data = raw_btf(RECORDS, STRINGS)
    bad = bytearray(data)
    struct.pack_into("<I", bad, 24 + 12 + 4, make_info(25, 0, False))  # [2]'s info (after [1]'s 12 bytes): kind 25
    btf = BTF(bytes(bad), "bad")
    for _ in range(2):
        with pytest.raises(KernelInputError, match=r"type \[2\] has unknown BTF kind 25"):
            btf.find_types({"x": TYPEDEF})


def test_the_running_kernel_gives_the_same_ids_in_the_walk_and_after() -> None:
    path = need_vmlinux()
    during = load_btf(path)
    found = during.find_types(NETMEM_TYPES)
    after = load_btf(path)
    assert len(after) > 1000
    assert after.find_types(NETMEM_TYPES) == found
    for name, tid in found.items():
        t = during.type(tid)
        assert t.name == name and t.kind in NETMEM_TYPES[name]
