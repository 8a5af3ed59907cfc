"""The CI gate: kernels (or the model) against a baseline snapshot, the library behind ``netmem-ffi gate``.

:func:`gate` reads the baseline and what it gates, and returns a
:class:`GateResult` whose :attr:`~GateResult.diff` every report format renders
and whose :attr:`~GateResult.exit_code` is abidiff's bit mask
(:mod:`netmem_ffi.abicheck.verdict`).  What is gated:

* ``kernels`` given: each kernel's layouts (:func:`~netmem_ffi.abicheck.snapshot.read_kernel`),
  paired with the baseline entry of the same source, else of the same
  ``profile@arch``, else the only one on its architecture; a baseline entry no
  kernel pairs with is reported as removed;
* otherwise the model's layouts for the baseline's profiles x architectures
  (``profiles`` / ``arches`` narrow them).

An input that cannot be read is an :class:`~netmem_ffi.abicheck.diff.InputError`
in the result (bit 1, OR-ed with the bits of the kernels that were read), never
an exception.  ``update=True`` writes what was read
to the baseline instead, and only when every input was read (bad input changes
nothing).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from netmem_ffi.abi import registry
from netmem_ffi.abi.arches import ARCHES, normalize_arch
from netmem_ffi.abicheck import snapshot, verdict
from netmem_ffi.abicheck.compare import DIFF, Policy
from netmem_ffi.abicheck.diff import (
    DiffResult,
    InputError,
    PairDiff,
    diff,
    diff_sets,
    unreadable,
)
from netmem_ffi.errors import NetmemError, NetmemValueError, SnapshotError
from netmem_ffi.layout.types import LayoutSet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from netmem_ffi.abi.record import dataclass

#: The ``new`` label of a gate of the model.
MODEL_LABEL = "current model"


@dataclass(frozen=True)
class GateResult:
    """One gate run: the diff from the baseline (with any unreadable input) or the baseline written."""

    baseline: str
    diff: DiffResult
    updated: snapshot.Snapshot | None = None

    @property
    def exit_code(self) -> int:
        """0 after an update; otherwise the diff's bits (4 changed, 12 broken, | 1 unreadable input)."""
        if self.updated is not None:
            return verdict.SAME
        return self.diff.exit_code


def update_command(baseline: str, kernels: Sequence[str] | None = None) -> str:
    """The command that rewrites *baseline* on purpose."""
    return " ".join(["netmem-ffi gate", baseline, *(f"--kernel {k}" for k in kernels or ()), "--update"])


def _read_kernels(sources: Iterable[str]) -> tuple[list[LayoutSet], list[InputError]]:
    sets: list[LayoutSet] = []
    errors: list[InputError] = []
    for source in dict.fromkeys(sources):
        try:
            sets.append(snapshot.read_kernel(source))
        except NetmemError as exc:
            errors.append(InputError(source, str(exc)))
    return sets, errors


def _read_baseline(path: str, kernels: Sequence[str] | None) -> snapshot.Snapshot | InputError:
    if not os.path.exists(path):
        return InputError(path, f"{path}: baseline does not exist; record it on purpose with "
                                f"`{update_command(path, kernels)}`")
    try:
        return snapshot.load(path)
    except SnapshotError as exc:
        return InputError(path, str(exc))


def _model(base: snapshot.Snapshot | None, profiles: Sequence[str] | None,
           arches: Sequence[str] | None) -> snapshot.Snapshot:
    """The model's layouts for the baseline's pairs (all profiles on every architecture for a new one)."""
    if base is None:
        return snapshot.take(profiles, arches or ARCHES)
    kernels = [ls.source or snapshot.key(ls) for ls in base.layouts if ls.profile is None]
    if kernels and not profiles:
        raise NetmemValueError(f"{base.label} holds kernels of no recognised profile ({', '.join(kernels)}); "
                               "gate them with --kernel SOURCE", value=base.label)
    return snapshot.retake(base, profiles, arches)


def _match(candidates: list[LayoutSet], kernel: LayoutSet) -> LayoutSet | None:
    """The baseline entry of a kernel: same source, else same profile@arch, else the only one on its arch."""
    for same in (lambda b: b.source == kernel.source,
                 lambda b: kernel.profile is not None and snapshot.key(b) == snapshot.key(kernel)):
        found = [b for b in candidates if same(b)]
        if found:
            return found[0]
    on_arch = [b for b in candidates if b.arch == kernel.arch]
    return on_arch[0] if len(on_arch) == 1 else None


def _kernel_pairs(base: snapshot.Snapshot, kernels: list[LayoutSet], policy: Policy,
                  removed: bool = True) -> tuple[PairDiff, ...]:
    """Each kernel against its baseline entry; with *removed*, the entries no kernel paired with as removed."""
    remaining = list(base.layouts)
    pairs = []
    for kernel in kernels:
        old = _match(remaining, kernel)
        if old is not None:
            remaining.remove(old)
        pairs.append(diff_sets(old, kernel, policy, name=f"{kernel.source} ({snapshot.key(kernel)})"))
    for old in remaining if removed else ():  # not when a kernel was unreadable: it may have been that one
        pairs.append(diff_sets(old, None, policy, name=f"{old.source} ({snapshot.key(old)})"))
    return tuple(pairs)


def gate(baseline: str | os.PathLike[str], kernels: Sequence[str | os.PathLike[str]] | None = None, *,
         profiles: Sequence[str] | None = None, arches: Sequence[str] | None = None,
         policy: Policy = DIFF, update: bool = False) -> GateResult:
    """Gate *kernels* (or the model) against the snapshot *baseline*; see the module doc.

    Raises :class:`~netmem_ffi.errors.UnknownProfileError` /
    :class:`~netmem_ffi.errors.UnsupportedArchError` for names the model does
    not know and :class:`NetmemValueError` for a kernel baseline gated without
    kernels (usage errors); :class:`SnapshotError` when ``update`` cannot write.
    """
    path = os.fspath(baseline)
    names = None if kernels is None else [os.fspath(k) for k in kernels]
    profiles = None if profiles is None else [registry.profile_name(p) for p in profiles]
    arches = None if arches is None else [normalize_arch(a) for a in arches]
    label = MODEL_LABEL if names is None else ", ".join(names)
    if update:
        return _update(path, names, label, profiles, arches, policy)
    base = _read_baseline(path, names)
    sets, errors = _read_kernels(names or ())
    if isinstance(base, InputError):
        return GateResult(path, unreadable(path, label, [base, *errors], policy))
    base = base.select(profiles, arches)
    if names is None:
        return GateResult(path, diff(base, _model(base, profiles, arches), policy, old_label=path, new_label=label))
    pairs = _kernel_pairs(base, sets, policy, removed=not errors)
    return GateResult(path, DiffResult(path, label, pairs, policy, tuple(errors)))


def _update(path: str, names: list[str] | None, label: str, profiles: Sequence[str] | None,
            arches: Sequence[str] | None, policy: Policy) -> GateResult:
    """Write what *names* (or the model) give now to the baseline; nothing when an input is unreadable."""
    if names is None:
        old = _read_baseline(path, None) if not (profiles and arches) else None
        like = old if isinstance(old, snapshot.Snapshot) and all(ls.profile for ls in old.layouts) else None
        current = _model(like, profiles, arches)  # the pairs of a readable model baseline, else all
    else:
        sets, errors = _read_kernels(names)
        if errors:
            return GateResult(path, unreadable(path, label, errors, policy))
        current = snapshot.from_layouts(sets)
    snapshot.dump(current, path)
    return GateResult(path, diff(current, current, policy, old_label=path, new_label=label), current)


__all__ = ["MODEL_LABEL", "GateResult", "gate", "update_command"]
