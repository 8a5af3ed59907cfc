"""Reference kernels shipped in the package (issue 8): real Debian kernels' netmem types, offline.

Every extract is read, detected as the profile its index entry expects, and
compared with the model on its own architecture, so the default tier
exercises real kernel data without the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from netmem_ffi.abicheck.check import check_reference
from netmem_ffi.kernel import references as refs
from netmem_ffi.errors import NetmemError, UnknownReferenceError
from netmem_ffi.kernel.inputs import btf_span, read_btf_bytes
from netmem_ffi.abi.registry import names as profile_names

#: The profiles that shipped in released kernels (issue 8); v6.15 had no Debian kernel.
SHIPPED_PROFILES = {"v6.12", "v6.16", "v6.17", "v6.19", "v7.2"}
ALL = refs.references()
NAMES = [r.name for r in ALL]


def _page_has(ref: refs.Reference, member: str) -> bool:
    """Whether the kernel's own struct page has *member* (read from the extract, not the model)."""
    from netmem_ffi.layout.btf.layouts import struct_layout
    from netmem_ffi.layout.btf.reader import BTF
    from netmem_ffi.layout.btf.uapi import Kind

    btf = BTF(ref.read(), ref.name)
    page = btf.find_types({"page": frozenset({Kind.STRUCT})})["page"]
    return member in struct_layout(btf, page)


def test_index_covers_every_shipped_profile_on_amd64_plus_big_endian_and_32_bit() -> None:
    amd64 = {r.expected_profile for r in ALL if r.arch == "x86_64"}
    assert SHIPPED_PROFILES <= amd64
    assert any(r.endianness == "big" for r in ALL)
    assert any(r.pointer_size == 4 for r in ALL)
    assert len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("ref", ALL, ids=NAMES)
def test_extract_is_small_intact_raw_btf(ref: refs.Reference) -> None:
    data = ref.read()
    assert hashlib.sha256(data).hexdigest() == ref.extract_sha256
    assert len(data) < 16 << 10
    blob = read_btf_bytes(ref.path)
    assert blob.kind == "raw-btf"
    assert btf_span(data, 0) == (len(data), ref.endianness)
    assert ref.expected_profile in profile_names()
    assert ref.method in ("btf", "dwarf") and len(ref.sha256) == 64


@pytest.mark.parametrize("ref", ALL, ids=NAMES)
def test_reference_detected_as_expected_profile(ref: refs.Reference) -> None:
    result = check_reference(ref)
    assert result.detection.profile == ref.expected_profile, result.summary()
    assert (result.layouts.pointer_size, result.layouts.endianness) == (ref.pointer_size, ref.endianness)
    assert result.arch.arch == ref.arch
    assert result.release == ref.release and result.source == f"reference:{ref.name}"


@pytest.mark.parametrize("ref", ALL, ids=NAMES)
def test_reference_static_asserts_hold(ref: refs.Reference) -> None:
    result = check_reference(ref)
    assert result.asserts, "every profile carries static asserts"
    failed = [f"{a.expr} ({a.lhs} vs {a.rhs})" for a in result.asserts if not a.ok]
    assert not failed


@pytest.mark.parametrize("ref", ALL, ids=NAMES)
def test_reference_matches_model(ref: refs.Reference) -> None:
    result = check_reference(ref)
    if not result.match and not _page_has(ref, "compound_head") and _page_has(ref, "compound_info"):
        pytest.xfail("the kernel renamed struct page.compound_head to compound_info; the model has compound_head")
    assert result.match, [c.describe() for c in result.mismatches]


def test_unknown_reference_lists_the_valid_names() -> None:
    with pytest.raises(UnknownReferenceError) as info:
        refs.reference("amd64-2.6")
    assert isinstance(info.value, NetmemError)
    assert all(name in str(info.value) for name in NAMES)


def test_reference_lookup_and_index_round_trip() -> None:
    for ref in ALL:
        assert refs.reference(ref.name) == ref
        assert refs.Reference.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref


def test_index_entry_missing_a_field_is_a_netmem_error() -> None:
    entry = ALL[0].to_dict()
    del entry["sha256"]
    with pytest.raises(NetmemError, match="sha256"):
        refs.Reference.from_dict(entry)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netmem_ffi", "check", *args],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **(env or {})},
    )


def test_cli_check_reference_json() -> None:
    ref = next(r for r in ALL if r.expected_profile == "v6.19")
    done = _cli("--reference", ref.name, "--json")
    out = json.loads(done.stdout)
    assert out["source"] == f"reference:{ref.name}"
    assert out["profile"] == ref.expected_profile and out["kernel"]["release"] == ref.release
    assert done.returncode == (0 if out["match"] else 4)


def test_cli_check_all_references_one_row_each() -> None:
    done = _cli("--references")
    lines = [line for line in done.stdout.splitlines() if line.startswith("reference:")]
    assert [line.split(":")[1] for line in lines] == NAMES
    assert done.returncode in (0, 4), done.stderr


def test_cli_unknown_reference_is_a_usage_error() -> None:
    done = _cli("--reference", "no-such-kernel")
    assert done.returncode == 3  # like an unknown profile name: a usage error (abidiff ERROR|USAGE_ERROR)
    assert "no-such-kernel" in done.stderr and NAMES[0] in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_check_without_kernel_btf_points_to_references(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str]
) -> None:
    from netmem_ffi.cli import check as check_cli
    from netmem_ffi.cli import main

    absent = os.path.join(tmp_path, "no-btf-here")
    monkeypatch.setattr(check_cli, "DEFAULT_SOURCE", absent)
    assert main(["check"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert absent in err and "--reference" in err
