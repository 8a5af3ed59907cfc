"""Layout snapshots: content, stable bytes, round trip, and clear errors on bad files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netmem_ffi
from netmem_ffi.abi import registry
from netmem_ffi.abicheck import snapshot
from netmem_ffi.cli import main
from netmem_ffi.errors import SnapshotError, UnknownProfileError, UnsupportedArchError
from netmem_ffi.abi.arches import host_arch
from netmem_ffi.abi import arches
from netmem_ffi.layout.models import model_layouts


@pytest.fixture(scope="module")
def host_snapshot() -> snapshot.Snapshot:
    return snapshot.take()


@pytest.fixture(scope="module")
def cross_snapshot() -> snapshot.Snapshot:
    return snapshot.take(["v6.19", "v7.2"], ["i386", "s390x"])


def test_default_is_every_profile_on_the_host(host_snapshot: snapshot.Snapshot) -> None:
    host = arches.normalize_arch(host_arch())
    assert host_snapshot.keys() == tuple(f"{p}@{host}" for p in registry.names())
    for ls in host_snapshot.layouts:
        # the engine on the host, equal to the C compiler's layouts apart from the source
        compiled = netmem_ffi.profile(str(ls.profile)).layouts
        assert ls.source.startswith("engine:") and ls._replace(source="") == compiled._replace(source="")


def test_header_carries_schema_and_package_version(host_snapshot: snapshot.Snapshot) -> None:
    doc = json.loads(host_snapshot.dumps())
    assert doc["schema"] == snapshot.SCHEMA
    assert doc["format"] == snapshot.FORMAT
    assert doc["netmem_ffi"] == netmem_ffi.__version__
    assert [f"{d['profile']}@{d['arch']}" for d in doc["layouts"]] == list(host_snapshot.keys())


def test_same_model_same_bytes_whatever_the_order_asked() -> None:
    forward = snapshot.take(["v6.12", "v7.2"], ["s390x", "x86_64"])
    backward = snapshot.take(["v7.2", "v6.12", "v7.2"], ["amd64", "s390x"])
    assert forward.dumps() == backward.dumps()
    assert forward.keys() == ("v6.12@x86_64", "v6.12@s390x", "v7.2@x86_64", "v7.2@s390x")


def test_arch_layouts_come_from_the_engine(cross_snapshot: snapshot.Snapshot) -> None:
    for ls in cross_snapshot.layouts:
        assert ls.to_dict() == model_layouts(str(ls.profile), ls.arch).to_dict()
    assert {ls.pointer_size for ls in cross_snapshot.layouts} == {4, 8}
    assert {ls.endianness for ls in cross_snapshot.layouts} == {"little", "big"}


def test_round_trip_through_a_file(tmp_path: Path, cross_snapshot: snapshot.Snapshot) -> None:
    path = tmp_path / "snap.json"
    snapshot.dump(cross_snapshot, path)
    back = snapshot.load(path)
    assert back.path == str(path)
    assert back.dumps() == cross_snapshot.dumps()
    assert back.get("v7.2", "s390x") == cross_snapshot.get("v7.2", "s390x")
    assert back.get("v7.2", "riscv64") is None


def test_select_and_retake(cross_snapshot: snapshot.Snapshot) -> None:
    only = cross_snapshot.select(profiles=["v7.2"], arches=["i386"])
    assert only.keys() == ("v7.2@i386",)
    assert snapshot.retake(cross_snapshot).dumps() == cross_snapshot.dumps()


@pytest.mark.parametrize(
    ("profiles", "arches", "error"),
    [(["v5.4"], None, UnknownProfileError), (None, ["sparc"], UnsupportedArchError)],
)
def test_unknown_names(profiles: list[str] | None, arches: list[str] | None, error: type[Exception]) -> None:
    with pytest.raises(error, match="v5.4|sparc"):
        snapshot.take(profiles, arches)


def _doc(snap: snapshot.Snapshot) -> dict[str, Any]:
    return json.loads(snap.dumps())


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target = doc
    for k in path[:-1]:
        target = target[k]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()
_FIELD = ("layouts", 0, "structs", "net_iov", "fields", 1)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("schema",), snapshot.SCHEMA + 1, "newer than this netmem_ffi reads"),
        (("schema",), 0, "unknown snapshot schema 0"),
        (("schema",), "1", "schema: expected an integer"),
        (("schema",), _DELETE, "no 'schema' key"),
        (("format",), "something-else", "not a netmem-ffi snapshot"),
        (("layouts",), _DELETE, "missing key 'layouts'"),
        (("layouts",), {}, "layouts: expected an array"),
        (("layouts", 0), [], r"layouts\[0\]: expected an object"),
        (("layouts", 0, "arch"), _DELETE, r"layouts\[0\]: missing key 'arch'"),
        (("layouts", 0, "endianness"), "middle", "expected 'little' or 'big'"),
        ((*_FIELD, "offset"), _DELETE, r"structs.net_iov.fields\[1\]: missing key 'offset'"),
        ((*_FIELD, "size"), True, r"fields\[1\].size: expected an integer"),
        ((*_FIELD, "bit_size"), "3", r"fields\[1\].bit_size: expected an integer"),
        (("layouts", 0, "structs", "net_iov", "align"), [8], r"net_iov.align: expected an integer"),
        (("layouts", 0, "enums"), [], "enums: expected an object"),
    ],
)
def test_bad_documents_name_file_and_place(
    tmp_path: Path, host_snapshot: snapshot.Snapshot, path: tuple[Any, ...], value: Any, message: str
) -> None:
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(_set(_doc(host_snapshot), path, value)))
    with pytest.raises(SnapshotError, match=message) as info:
        snapshot.load(file)
    assert str(file) in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"{not json", "bad JSON at line 1"), (b"[1, 2]", "no 'schema' key"), (b"\xff\xfe{", "not UTF-8")],
)
def test_unreadable_files(tmp_path: Path, content: bytes, message: str) -> None:
    file = tmp_path / "bad.json"
    file.write_bytes(content)
    with pytest.raises(SnapshotError, match=message):
        snapshot.load(file)


def test_missing_file_and_duplicates(tmp_path: Path, host_snapshot: snapshot.Snapshot) -> None:
    with pytest.raises(SnapshotError, match="nope.json: cannot read"):
        snapshot.load(tmp_path / "nope.json")
    doc = _doc(host_snapshot)
    doc["layouts"].append(doc["layouts"][0])
    with pytest.raises(SnapshotError, match="duplicate layouts for v6.12@"):
        snapshot.from_dict(doc, "dup.json")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["schema", "layouts", "format"]) | st.text(max_size=6), _json,
       st.sampled_from(["arch", "structs", "enums", "pointer_size", "profile"]),
       st.sampled_from(["name", "offset", "size", "type", "bit_offset", "bit_size"]))
def test_any_damage_is_a_snapshot_error(top: str, junk: Any, inner: str, member_key: str) -> None:
    """Replacing any value of a valid document with junk reads or raises SnapshotError, nothing else."""
    doc = _doc(snapshot.take(["v7.2"]))
    for path in ((top,), ("layouts", 0, inner), (*_FIELD, member_key)):
        damaged = _set(doc, path, junk)
        try:
            snapshot.from_dict(damaged, "junk.json")
        except SnapshotError as exc:
            assert "junk.json" in str(exc)


def test_cli_writes_a_loadable_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.json"
    assert main(["snapshot", "--profile", "v7.2,v6.19", "--arch", "riscv64", "-o", str(out)]) == 0
    assert "profiles v6.19, v7.2; arches riscv64" in capsys.readouterr().out
    assert snapshot.load(out).keys() == ("v6.19@riscv64", "v7.2@riscv64")
    assert main(["snapshot", "--profile", "v6.12"]) == 0
    assert snapshot.loads(capsys.readouterr().out).keys() == (f"v6.12@{arches.normalize_arch(host_arch())}",)


def test_cli_all_arches(tmp_path: Path) -> None:
    out = tmp_path / "all.json"
    assert main(["snapshot", "--all-arches", "--profile", "v7.2", "-o", str(out)]) == 0
    assert [ls.arch for ls in snapshot.load(out).layouts] == list(arches.ARCHES)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["snapshot", "--profile", "v5.4"], 3, "unknown netmem profile 'v5.4'"),
        (["snapshot", "--arch", "vax"], 3, "unsupported architecture 'vax'"),
        (["snapshot", "--arch", "i386", "--all-arches"], 3, "exclude each other"),
        (["snapshot", "-o", "/nonexistent-dir/x.json"], 1, "cannot write snapshot"),
    ],
)
def test_cli_errors(argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("profile", [None, "absent"])
def test_a_kernel_of_no_recognised_profile_round_trips(profile: str | None, tmp_path: Path) -> None:
    doc = snapshot.take(["v7.2"], ["x86_64"]).to_dict()
    if profile is None:
        doc["layouts"][0]["profile"] = None
    else:
        del doc["layouts"][0]["profile"]
    snap = snapshot.from_dict(doc, "k.json")
    assert snap.layouts[0].profile is None and snap.keys() == ("unrecognized@x86_64",)
    doc["layouts"][0]["profile"] = 7
    with pytest.raises(SnapshotError, match=r"layouts\[0\]\.profile: expected a string"):
        snapshot.from_dict(doc, "k.json")
