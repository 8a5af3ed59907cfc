"""Layout snapshots: versioned JSON of chosen profiles x architectures.

A snapshot is the baseline a CI gate compares against (``netmem-ffi snapshot``,
``netmem-ffi gate``, ``netmem-ffi diff``, the pytest plugin).  It holds one
:class:`LayoutSet` per (profile, architecture) pair of the model, or per kernel
read (:func:`take_kernels`: the kernel's detected profile, or none, and its
source as named), in a stable order (profiles oldest first, then
architectures in the engine's order), with the schema version and the
package version that wrote it, and no timestamps, so that the same model
always writes the same bytes::

    {"schema": 1, "format": "netmem-ffi-snapshot", "netmem_ffi": "0.1.0",
     "layouts": [{"profile": "v6.12", "arch": "x86_64", "pointer_size": 8,
                  "endianness": "little", "source": "...",
                  "structs": {...}, "enums": {...}}, ...]}

Reading checks every key it needs and raises :class:`SnapshotError` naming the
file and the JSON path of what is wrong (``layouts[2].structs.net_iov.fields[3]:
missing key 'offset'``).  A snapshot written by a newer schema is refused
rather than half-read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from netmem_ffi.abi import registry
from netmem_ffi.abi.arches import ARCHES, normalize_arch
from netmem_ffi.abicheck.check import check_source
from netmem_ffi.errors import SnapshotError
from netmem_ffi.layout.models import model_layouts
from netmem_ffi.layout.types import LayoutSet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any
else:
    from netmem_ffi.abi.record import dataclass

#: Schema version this module writes and the newest it reads.
SCHEMA = 1
#: Value of the ``format`` key, so a snapshot is recognisable among JSON files.
FORMAT = "netmem-ffi-snapshot"


def key(layouts: LayoutSet) -> str:
    """The pair label of a layout set: ``"v6.19@x86_64"`` (``"unrecognized@x86_64"`` without a profile)."""
    return f"{layouts.profile or 'unrecognized'}@{layouts.arch}"


def _sort_key(layouts: LayoutSet) -> tuple[int, str, int, str, str]:
    profiles = registry.names()
    arches = ARCHES
    p = layouts.profile or ""
    return (
        profiles.index(p) if p in profiles else len(profiles),
        p,
        arches.index(layouts.arch) if layouts.arch in arches else len(arches),
        layouts.arch,
        layouts.source,
    )


@dataclass(frozen=True)
class Snapshot:
    """Layout sets of several (profile, arch) pairs, in stable order."""

    layouts: tuple[LayoutSet, ...]
    version: str
    schema: int = SCHEMA
    path: str | None = None  # the file it was read from, for messages

    @property
    def label(self) -> str:
        return self.path or "snapshot"

    def keys(self) -> tuple[str, ...]:
        """The pair labels, ``profile@arch``, in order."""
        return tuple(key(ls) for ls in self.layouts)

    def get(self, profile: str, arch: str) -> LayoutSet | None:
        """The layout set of one pair, or None when the snapshot lacks it."""
        for ls in self.layouts:
            if (ls.profile, ls.arch) == (profile, arch):
                return ls
        return None

    def select(self, profiles: Iterable[str] | None = None, arches: Iterable[str] | None = None) -> Snapshot:
        """The same snapshot limited to the profiles and architectures named (None: all)."""
        ps = None if profiles is None else set(profiles)
        arch_set = None if arches is None else set(arches)
        kept = tuple(
            ls for ls in self.layouts
            if (ps is None or ls.profile in ps) and (arch_set is None or ls.arch in arch_set)
        )
        return Snapshot(kept, self.version, self.schema, self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "format": FORMAT,
            "netmem_ffi": self.version,
            "layouts": [ls.to_dict() for ls in self.layouts],
        }

    def dumps(self) -> str:
        """The snapshot as JSON text: stable (same layouts, same bytes), one member per line."""
        return _pretty(self.to_dict()) + "\n"


def _pretty(value: Any, indent: str = "") -> str:
    """JSON with objects and arrays of scalars on one line (a member, an enum's values)."""
    inner = indent + "  "
    if isinstance(value, dict) and any(isinstance(v, (dict, list)) for v in value.values()):
        items = (f"{inner}{json.dumps(k)}: {_pretty(v, inner)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(inner + _pretty(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value)


def _package_version() -> str:
    from netmem_ffi.abi.version import __version__

    return __version__


def take(profiles: Iterable[str] | None = None, arches: Iterable[str] | None = None) -> Snapshot:
    """A snapshot of *profiles* (default: all) x *arches* (default: the host).

    Names are validated (unknown profile: ``UnknownProfileError``; unknown
    architecture: ``UnsupportedArchError``); duplicates are dropped.
    """
    names = list(registry.names()) if profiles is None else [registry.profile_name(p) for p in profiles]
    targets: list[str | None] = [None] if arches is None else [normalize_arch(a) for a in arches]
    pairs = dict.fromkeys((p, a) for p in names for a in targets)
    return from_layouts(model_layouts(p, a) for p, a in pairs)


def retake(base: Snapshot, profiles: Iterable[str] | None = None, arches: Iterable[str] | None = None) -> Snapshot:
    """The current model for the profiles and architectures of *base* (or those given instead)."""
    profiles = list(profiles) if profiles else list(dict.fromkeys(str(ls.profile) for ls in base.layouts))
    arches = list(arches) if arches else list(dict.fromkeys(ls.arch for ls in base.layouts))
    return take(profiles, arches)


def read_kernel(source: str | os.PathLike[str]) -> LayoutSet:
    """A kernel's layouts (raw BTF, vmlinux, image, .deb), labelled with its detected profile and its source.

    The profile is None when the kernel's net_iov matches no generation exactly
    (nothing is guessed); the source is *source* as given, so that a baseline
    recorded from ``build/vmlinux`` pairs with the next build's ``build/vmlinux``.
    Raises :class:`KernelInputError` naming the file.
    """
    checked = check_source(source)
    return checked.layouts._replace(profile=checked.detection.profile, source=os.fspath(source))


def take_kernels(sources: Iterable[str | os.PathLike[str]]) -> Snapshot:
    """A snapshot of kernels' layouts (see :func:`read_kernel`); the first unreadable one raises."""
    return from_layouts(read_kernel(s) for s in dict.fromkeys(os.fspath(s) for s in sources))


def from_layouts(layouts: Iterable[LayoutSet]) -> Snapshot:
    """A snapshot of layout sets in stable order (from the model, or e.g. kernels' BTF)."""
    return Snapshot(tuple(sorted(layouts, key=_sort_key)), _package_version())


def dump(snap: Snapshot, path: str | os.PathLike[str]) -> None:
    """Write *snap* to *path*; ``SnapshotError`` naming the file if it cannot be written."""
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(snap.dumps())
    except OSError as exc:
        raise SnapshotError(f"{os.fspath(path)}: cannot write snapshot: {exc.strerror or exc}", value=path) from None


def load(path: str | os.PathLike[str]) -> Snapshot:
    """Read a snapshot file; ``SnapshotError`` naming the file and what is wrong."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise SnapshotError(f"{name}: cannot read snapshot: {exc.strerror or exc}", value=name) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SnapshotError(f"{name}: not a netmem-ffi snapshot: not UTF-8 text (byte {exc.start})", value=name) from None
    return loads(text, name)


def loads(text: str, name: str = "<string>") -> Snapshot:
    """Parse snapshot JSON text; *name* is used in error messages."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{name}: not a netmem-ffi snapshot: bad JSON at line {exc.lineno} column {exc.colno}: "
                            f"{exc.msg}", value=name) from None
    except RecursionError:
        raise SnapshotError(f"{name}: not a snapshot: JSON nested too deeply", value=name) from None
    except ValueError as exc:  # an integer of more digits than int() converts (sys.get_int_max_str_digits)
        raise SnapshotError(f"{name}: not a snapshot: an integer of too many digits ({str(exc)[:60]})",
                            value=name) from None
    return from_dict(doc, name)


def from_dict(doc: Any, name: str = "<snapshot>") -> Snapshot:
    """Validate and convert a decoded snapshot document; *name* is used in error messages."""
    reader = _Reader(name)
    reader.check_header(doc)
    layouts = tuple(reader.layout_set(d, f"layouts[{i}]")
                    for i, d in enumerate(reader.get(doc, "layouts", list, "top level")))
    seen: set[tuple[str, str]] = set()
    for ls in layouts:  # two kernels of one profile@arch differ by their source
        if (key(ls), ls.source) in seen:
            raise reader.error(f"duplicate layouts for {key(ls)}")
        seen.add((key(ls), ls.source))
    return Snapshot(layouts, str(doc.get("netmem_ffi", "unknown")), doc["schema"], name)


_TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer"}
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1


def _show(v: Any) -> str:
    """A short, always printable rendering of a JSON value for an error message."""
    if isinstance(v, int) and not isinstance(v, bool) and not _INT_MIN <= v <= _INT_MAX:
        return f"<integer of {v.bit_length()} bits>"
    return json.dumps(v, ensure_ascii=True)[:40]


class _Reader:
    """Walks a decoded snapshot, naming the file and JSON path of the first problem."""

    def __init__(self, name: str) -> None:
        self.name = name

    def error(self, message: str) -> SnapshotError:
        return SnapshotError(f"{self.name}: {message}", value=self.name)

    def get(self, d: Any, k: str, t: type, where: str) -> Any:
        """``d[k]``, checked to be a *t*."""
        if not isinstance(d, dict):
            raise self.error(f"{where}: expected an object, found {_show(d)}")
        if k not in d:
            raise self.error(f"{where}: missing key {k!r}")
        v = d[k]
        if not isinstance(v, t) or (t is int and isinstance(v, bool)):
            raise self.error(f"{where}.{k}: expected {_TYPE_NAMES[t]}, found {_show(v)}")
        if isinstance(v, int) and not _INT_MIN <= v <= _INT_MAX:
            raise self.error(f"{where}.{k}: integer {_show(v)} is outside 64 bits")
        if isinstance(v, str):
            self.text(v, f"{where}.{k}")
        return v

    def text(self, v: str, where: str) -> str:
        """*v*, checked to be encodable text (no lone surrogate from a ``\\ud800`` escape)."""
        try:
            v.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise self.error(f"{where}: string has a lone surrogate at index {exc.start}") from None
        return v

    def check_header(self, doc: Any) -> None:
        if not isinstance(doc, dict) or "schema" not in doc:
            raise self.error("not a netmem-ffi snapshot (no 'schema' key at top level)")
        if doc.get("format", FORMAT) != FORMAT:
            raise self.error(f"not a netmem-ffi snapshot (format {doc['format']!r}, expected {FORMAT!r})")
        schema = self.get(doc, "schema", int, "top level")
        if schema > SCHEMA:
            raise self.error(f"snapshot schema {schema} is newer than this netmem_ffi reads (up to {SCHEMA}; "
                             f"written by netmem_ffi {doc.get('netmem_ffi', 'unknown')}): upgrade netmem_ffi")
        if schema < 1:
            raise self.error(f"unknown snapshot schema {schema} (this netmem_ffi reads 1..{SCHEMA})")

    def layout_set(self, d: Any, where: str) -> LayoutSet:
        for k, t in (("arch", str), ("pointer_size", int), ("endianness", str)):
            self.get(d, k, t, where)
        self.optional(d, "profile", where, str)  # null: a kernel of no recognised generation
        if d["endianness"] not in ("little", "big"):
            raise self.error(f"{where}.endianness: expected 'little' or 'big', found {d['endianness']!r}")
        where = f"{where} ({d.get('profile')}@{d['arch']})"
        for sname, s in self.get(d, "structs", dict, where).items():
            self.struct(s, f"{where}.structs.{self.text(sname, f'{where}.structs')}")
        for ename, e in self.get(d, "enums", dict, where).items():
            self.get(e, "size", int, f"{where}.enums.{self.text(ename, f'{where}.enums')}")
            values = self.get(e, "values", dict, f"{where}.enums.{ename}")
            for vname in values:
                self.get(values, self.text(vname, f"{where}.enums.{ename}.values"), int,
                         f"{where}.enums.{ename}.values")
        return LayoutSet.from_dict(d)

    def struct(self, s: Any, where: str) -> None:
        self.get(s, "size", int, where)
        self.optional(s, "align", where)
        for i, f in enumerate(self.get(s, "fields", list, where)):
            for k, t in (("name", str), ("offset", int), ("size", int), ("type", str)):
                self.get(f, k, t, f"{where}.fields[{i}]")
            for k in ("bit_offset", "bit_size"):
                self.optional(f, k, f"{where}.fields[{i}]")

    def optional(self, d: dict[str, Any], k: str, where: str, t: type = int) -> None:
        """An optional key of type *t* (absent or null is fine)."""
        if d.get(k) is not None:
            self.get(d, k, t, where)
