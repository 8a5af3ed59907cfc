"""Layout diff: old vs new layout sets, classified like abidiff, ready to report.

:mod:`netmem_ffi.abicheck.compare` finds the changes; this module decides which of them
break the ABI (through :class:`~netmem_ffi.abicheck.compare.Policy`, the one
place that decides), pairs up the layout sets of two snapshots by
``profile@arch``, builds the side-by-side member view reports show, and turns
command-line operands (a snapshot file, a profile name such as ``v6.19`` or
``v6.19@i386``, a kernel's BTF / vmlinux / image) into layout sets.

Classification (abidiff's defaults): a member moved, resized, added or
removed, a struct or enum size change, a changed or removed enumerator, and a
struct, enum or (profile, arch) pair that disappeared break the ABI.  A member
renamed in place, a type respelled at the same size, an enumerator appended
after the existing ones, and a struct, enum or pair that appeared are reported
but do not, unless the :class:`Policy` says so.  The exit status is
:mod:`netmem_ffi.abicheck.verdict`'s: 4 for any change, 12 when one breaks, with
bit 1 when an input could not be read (:attr:`DiffResult.errors`).  Pairs whose
changes are identical on several architectures form one :class:`PairGroup`.

>>> from netmem_ffi.abicheck import diff
>>> result = diff.diff(diff.load_side("v6.19"), diff.load_side("v7.2"))
>>> [c.describe() for c in result.pairs[0].changes if c.kind == "member_moved"]
['struct net_iov.owner: moved from offset 48 to 56', 'struct net_iov.type: moved from offset 56 to 48']
>>> result.exit_code
12
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from netmem_ffi.abi import registry
from netmem_ffi.abicheck import verdict
from netmem_ffi.abicheck.compare import DIFF, Change, Policy, compare
from netmem_ffi.abicheck.snapshot import Snapshot, key, load, read_kernel
from netmem_ffi.errors import KernelInputError, NetmemError, NetmemValueError
from netmem_ffi.layout.models import model_layouts
from netmem_ffi.layout.types import Field, LayoutSet, StructLayout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from typing import Any, NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple, dataclass, field


class InputError(NamedTuple):
    """An input that could not be read: what was named and why (a report renders it as an error)."""

    source: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "error": self.message}


@dataclass(frozen=True)
class MemberRow:
    """One line of the side-by-side member view: a member as it was and as it is."""

    name: str  # "old -> new" for a rename
    old: Field | None
    new: Field | None
    changes: tuple[Change, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "member": self.name,
            "old": None if self.old is None else self.old.to_dict(),
            "new": None if self.new is None else self.new.to_dict(),
            "changes": [c.kind for c in self.changes],
        }


def member_rows(old: StructLayout, new: StructLayout, changes: Iterable[Change]) -> list[MemberRow]:
    """The side-by-side view of one struct: old members in order, new ones where they appear.

    A renamed member is one row; a member only in *new* follows the row of its
    predecessor in *new*'s order.
    """
    renames = {c.old: c.new for c in changes if c.kind == "member_renamed"}
    by_member: dict[str, list[Change]] = {}
    for c in changes:
        if c.member is not None:
            by_member.setdefault(c.member, []).append(c)
    new_by = {f.name: f for f in new.fields}
    rows: list[MemberRow] = []
    row_of: dict[str, int] = {}  # new member name -> index in rows
    for f in old.fields:
        new_name = renames.get(f.name, f.name)
        label = f"{f.name} -> {new_name}" if new_name != f.name else f.name
        changed = by_member.get(new_name, []) + (by_member.get(f.name, []) if new_name != f.name else [])
        if new_name in new_by:
            row_of[new_name] = len(rows)
        rows.append(MemberRow(label, f, new_by.get(new_name), tuple(changed)))
    prev: str | None = None
    for f in new.fields:
        if f.name not in row_of:
            at = row_of[prev] + 1 if prev is not None else 0
            row_of = {n: i + (i >= at) for n, i in row_of.items()}
            row_of[f.name] = at
            rows.insert(at, MemberRow(f.name, None, f, tuple(by_member.get(f.name, []))))
        prev = f.name
    return rows


def _empty_like(ls: LayoutSet) -> LayoutSet:
    return LayoutSet(ls.arch, ls.pointer_size, ls.endianness, {}, {}, ls.profile, "absent")


@dataclass(frozen=True)
class PairDiff:
    """The diff of one (profile, arch) pair; one side is None when only the other has it."""

    old: LayoutSet | None
    new: LayoutSet | None
    changes: tuple[Change, ...]
    name: str | None = None  # a label of its own (a kernel gated against its baseline)

    @property
    def label(self) -> str:
        if self.name is not None:
            return self.name
        old, new = (None if s is None else key(s) for s in (self.old, self.new))
        if old == new or new is None:
            return str(old)
        return str(new) if old is None else f"{old} -> {new}"

    @property
    def status(self) -> str:
        """``same``, ``changed``, ``added`` (only in new) or ``removed`` (only in old)."""
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed" if self.changes else "same"

    @property
    def breaking(self) -> bool:
        return any(c.breaking for c in self.changes)

    def containers(self) -> list[str]:
        """``struct X`` / ``enum Y`` for every struct and enum on either side, in report order."""
        sides = [s for s in (self.old, self.new) if s is not None]
        structs = {n for s in sides for n in s.structs}
        enums = {n for s in sides for n in s.enums}
        ordered = [n for n in registry.STRUCTS if n in structs] + sorted(structs - set(registry.STRUCTS))
        return [f"struct {n}" for n in ordered] + [f"enum {n}" for n in sorted(enums)]

    def changes_of(self, container: str) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.container == container)

    def rows(self, struct: str) -> list[MemberRow]:
        """The side-by-side member view of ``struct`` (name without the keyword); [] if on one side only."""
        if self.old is None or self.new is None or struct not in self.old.structs or struct not in self.new.structs:
            return []
        return member_rows(self.old.structs[struct], self.new.structs[struct], self.changes_of(f"struct {struct}"))

    def to_dict(self) -> dict[str, Any]:
        changed_structs = sorted({c.container[len("struct "):] for c in self.changes if c.container.startswith("struct ")})
        return {
            "pair": self.label,
            "old": None if self.old is None else key(self.old),
            "new": None if self.new is None else key(self.new),
            "status": self.status,
            "breaking": self.breaking,
            "changes": [c.to_dict() for c in self.changes],
            "members": {s: [r.to_dict() for r in self.rows(s)] for s in changed_structs if self.rows(s)},
        }


def diff_sets(old: LayoutSet | None, new: LayoutSet | None, policy: Policy = DIFF,
              name: str | None = None) -> PairDiff:
    """Diff two layout sets (either may be None: a pair present on one side only).

    Raises :class:`NetmemValueError` when both are None.
    """
    if old is None:
        if new is None:
            raise NetmemValueError("diff_sets needs at least one layout set, got two None")
        old_side, new_side = _empty_like(new), new
    else:
        old_side, new_side = old, new if new is not None else _empty_like(old)
    return PairDiff(old, new, tuple(compare(old_side, new_side, policy=policy)), name)


@dataclass(frozen=True)
class PairGroup:
    """Pairs whose changes are identical, differing only in architecture: reported once."""

    pairs: tuple[PairDiff, ...]

    @property
    def first(self) -> PairDiff:
        return self.pairs[0]

    @property
    def label(self) -> str:
        """``v6.19@x86_64 -> v7.2@x86_64`` for one pair, ``v6.19 -> v7.2 on x86_64, arm64`` for several."""
        if len(self.pairs) == 1:
            return self.first.label
        sides = [None if s is None else str(s.profile or "unrecognized") for s in (self.first.old, self.first.new)]
        names = sides[0] if sides[0] == sides[1] or sides[1] is None else \
            sides[1] if sides[0] is None else f"{sides[0]} -> {sides[1]}"
        return f"{names} on {', '.join(self.arches)}"

    @property
    def arches(self) -> list[str]:
        return [(p.new or p.old).arch for p in self.pairs]  # type: ignore[union-attr]


def _group_key(pair: PairDiff) -> tuple[object, ...]:
    profiles = tuple(None if s is None else s.profile for s in (pair.old, pair.new))
    return pair.name, profiles, pair.status, tuple(c.key() for c in pair.changes)


@dataclass(frozen=True)
class DiffResult:
    """The diff of two sides (snapshots or layout sets), pair by pair."""

    old_label: str
    new_label: str
    pairs: tuple[PairDiff, ...]
    policy: Policy = field(default_factory=Policy)
    errors: tuple[InputError, ...] = ()

    @property
    def breaking(self) -> bool:
        return any(p.breaking for p in self.pairs)

    @property
    def changed(self) -> bool:
        """Whether anything at all differs (breaking or not)."""
        return any(p.status != "same" for p in self.pairs)

    @property
    def exit_code(self) -> int:
        """abidiff's bits (:mod:`~netmem_ffi.abicheck.verdict`): 0 same, 4 changed, 12 broken, | 1 unreadable input."""
        bits = verdict.of_changes(c for _, c in self.changes())
        return bits | (verdict.ERROR if self.errors else verdict.SAME)

    def groups(self) -> list[PairGroup]:
        """The changed pairs, those with identical changes on several architectures grouped, in order."""
        by_key: dict[tuple[object, ...], list[PairDiff]] = {}
        for p in self.pairs:
            if p.status != "same":
                by_key.setdefault(_group_key(p), []).append(p)
        return [PairGroup(tuple(ps)) for ps in by_key.values()]

    def changes(self) -> Iterator[tuple[PairDiff, Change]]:
        for p in self.pairs:
            for c in p.changes:
                yield p, c

    def summary(self) -> dict[str, int]:
        changes = [c for _, c in self.changes()]
        return {
            "pairs": len(self.pairs),
            "pairs_changed": sum(p.status != "same" for p in self.pairs),
            "changes": len(changes),
            "breaking": sum(c.breaking for c in changes),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old_label,
            "new": self.new_label,
            "options": {"renames_break": self.policy.renames_break,
                        "enum_additions_break": self.policy.enum_additions_break},
            "breaking": self.breaking,
            "changed": self.changed,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "errors": [e.to_dict() for e in self.errors],
            "pairs": [p.to_dict() for p in self.pairs],
        }


Side = Snapshot | LayoutSet


def _sets(side: Side) -> tuple[LayoutSet, ...]:
    return side.layouts if isinstance(side, Snapshot) else (side,)


def _label(side: Side) -> str:
    if isinstance(side, Snapshot):
        return side.label
    return key(side) if side.profile is not None else side.source or side.arch


def _focus(sets: tuple[LayoutSet, ...], other: Side) -> tuple[LayoutSet, ...]:
    """A snapshot's sets narrowed to the pair of a single layout set on the other side, when it has it."""
    if isinstance(other, LayoutSet):
        match = tuple(s for s in sets if key(s) == key(other))
        return match or sets
    return sets


def diff(old: Side, new: Side, policy: Policy = DIFF, *,
         old_label: str | None = None, new_label: str | None = None) -> DiffResult:
    """Diff two sides.

    When each side is a single layout set they are compared directly (``v6.19``
    vs ``v7.2``); a single layout set against a snapshot is compared with the
    snapshot's pair of the same ``profile@arch``; otherwise layout sets are
    paired by ``profile@arch``, and a pair present on one side only is reported
    as added (not a break) or removed (a break).
    """
    olds, news = _focus(_sets(old), new), _focus(_sets(new), old)
    pairs: tuple[PairDiff, ...]
    if len(olds) == 1 and len(news) == 1:
        pairs = (diff_sets(olds[0], news[0], policy),)
    else:
        old_by = {key(s): s for s in olds}
        new_by = {key(s): s for s in news}
        keys = list(old_by) + [k for k in new_by if k not in old_by]
        pairs = tuple(diff_sets(old_by.get(k), new_by.get(k), policy) for k in keys)
    return DiffResult(old_label or _label(old), new_label or _label(new), pairs, policy)


def unreadable(old_label: str, new_label: str, errors: Iterable[InputError], policy: Policy = DIFF) -> DiffResult:
    """The result of a diff whose inputs could not all be read: no pairs, the errors (exit 1)."""
    return DiffResult(old_label, new_label, (), policy, tuple(errors))


def _is_json(path: str) -> bool:
    """Whether a file is meant as a snapshot: named ``*.json`` or starting like a JSON document."""
    if path.lower().endswith(".json"):
        return True
    with open(path, "rb") as fh:
        return fh.read(64).lstrip()[:1] in (b"{", b"[")


def load_side(spec: str | os.PathLike[str]) -> Side:
    """A diff operand: a profile name (``v6.19``, ``v6.19@i386``), a snapshot file or a kernel source.

    A profile name wins over a file of the same name; write ``./v6.19`` for the
    file.  A file named ``*.json`` or starting like JSON is read as a snapshot
    (``SnapshotError`` "not a netmem-ffi snapshot" when it is not one).  Raises
    :class:`SnapshotError`, :class:`KernelInputError`, :class:`UnsupportedArchError`
    or :class:`NetmemError` naming the operand.
    """
    text = os.fspath(spec)
    profile, _, arch = text.partition("@")
    if profile in registry.names():
        return model_layouts(profile, arch or None)
    if not os.path.exists(text):
        valid = ", ".join(registry.names())
        raise NetmemError(f"{text!r} is neither an existing file (snapshot or kernel) nor a profile "
                          f"({valid}, optionally @ARCH)", value=text)
    try:
        is_json = _is_json(text)
    except OSError as exc:
        raise KernelInputError(f"cannot read: {exc.strerror or exc}", text) from None
    return load(text) if is_json else read_kernel(text)


__all__ = [
    "DiffResult",
    "InputError",
    "MemberRow",
    "PairDiff",
    "PairGroup",
    "Policy",
    "Side",
    "diff",
    "diff_sets",
    "load_side",
    "member_rows",
    "unreadable",
]
