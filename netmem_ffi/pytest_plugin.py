"""pytest plugin (entry point ``pytest11``): fail a test run when netmem layouts drift.

Options::

    --netmem-baseline=FILE     compare the model's layouts with the snapshot FILE; adds
                               the test item ``netmem-layout-gate`` to the run
    --netmem-update-baseline   write the current layouts to FILE instead (on purpose)
    --netmem-profiles=P,...    profiles to check (default: those in the baseline;
                               a new baseline: every profile)
    --netmem-arches=A,...      architectures to check (default: those in the baseline;
                               a new baseline: every architecture the engine models)

The fixture ``netmem_layout_gate`` is the same :class:`LayoutGate`, for tests
that gate on a baseline of their own (``netmem_layout_gate.check("base.json")``).
A break, as ``netmem-ffi diff`` classifies it, fails with the diff in the
failure text; non-breaking changes pass and are listed in the summary.

This module imports nothing heavy at load time and does nothing unless its
options or its fixture are used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from netmem_ffi.abicheck.diff import DiffResult
    from netmem_ffi.abicheck.snapshot import Snapshot

GATE_ITEM = "netmem-layout-gate"
_GATE_KEY = pytest.StashKey["LayoutGate"]()


def _names(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [n.strip() for n in value.split(",") if n.strip()]


class LayoutGate:
    """Current model layouts vs a baseline snapshot, for one test session."""

    def __init__(self, baseline: str | os.PathLike[str] | None = None, *, update: bool = False,
                 profiles: list[str] | None = None, arches: list[str] | None = None) -> None:
        self.baseline = None if baseline is None else os.fspath(baseline)
        self.update = update
        self.profiles = profiles
        self.arches = arches
        self.results: dict[str, DiffResult] = {}
        self.updated: list[str] = []

    def _command(self, path: str) -> str:
        return f"pytest --netmem-baseline={path} --netmem-update-baseline"

    def _load(self, path: str) -> Snapshot:
        from netmem_ffi.errors import NetmemError, SnapshotError
        from netmem_ffi.abi.arches import normalize_arch
        from netmem_ffi.abicheck.snapshot import load

        if not os.path.exists(path):
            pytest.fail(f"netmem layout baseline {path} does not exist; create it on purpose with "
                        f"`{self._command(path)}` (or `netmem-ffi snapshot -o {path}`)", pytrace=False)
        try:
            base = load(path)
            arches = None if self.arches is None else [normalize_arch(a) for a in self.arches]
        except SnapshotError as exc:
            pytest.fail(f"netmem layout baseline unreadable: {exc}", pytrace=False)
        except NetmemError as exc:
            pytest.fail(f"--netmem-arches: {exc}", pytrace=False)
        return base.select(self.profiles, arches)

    def current(self, like: Snapshot | None = None) -> Snapshot:
        """The model's layouts for the options' profiles and arches (default: the pairs of *like*, or all)."""
        from netmem_ffi.errors import NetmemError
        from netmem_ffi.abi.arches import ARCHES
        from netmem_ffi.abicheck.snapshot import retake, take

        try:
            if like is None:
                return take(self.profiles, self.arches or ARCHES)
            return retake(like, self.profiles, self.arches)
        except NetmemError as exc:
            pytest.fail(f"netmem layout gate: {exc}", pytrace=False)

    def compare(self, baseline: str | os.PathLike[str] | None = None) -> DiffResult:
        """The diff from the baseline to the current layouts (no pass/fail decision)."""
        from netmem_ffi.abicheck.diff import diff

        path = self._path(baseline)
        base = self._load(path)
        result = diff(base, self.current(like=base), old_label=path, new_label="current model")
        self.results[path] = result
        return result

    def check(self, baseline: str | os.PathLike[str] | None = None) -> DiffResult | None:
        """Fail the calling test on a layout break; with ``update``, rewrite the baseline instead."""
        from netmem_ffi.report.formats import render_text

        path = self._path(baseline)
        if self.update:
            self.write(path)
            return None
        result = self.compare(path)
        if result.breaking:
            pytest.fail(f"netmem layouts drifted from the baseline {path}:\n\n{render_text(result)}\n"
                        f"If the change is intended, update the baseline: `{self._command(path)}`",
                        pytrace=False)
        return result

    def write(self, baseline: str | os.PathLike[str] | None = None) -> Snapshot:
        """Write the current layouts to the baseline file."""
        from netmem_ffi.errors import SnapshotError
        from netmem_ffi.abicheck.snapshot import dump, load

        path = self._path(baseline)
        like = None
        if os.path.exists(path) and not (self.profiles and self.arches):
            try:
                like = load(path)
            except SnapshotError:
                like = None  # being rewritten on purpose: an unreadable old file does not matter
        snap = self.current(like=like)
        try:
            dump(snap, path)
        except SnapshotError as exc:
            pytest.fail(str(exc), pytrace=False)
        self.updated.append(path)
        return snap

    def _path(self, baseline: str | os.PathLike[str] | None) -> str:
        path = self.baseline if baseline is None else os.fspath(baseline)
        if path is None:
            pytest.skip("no netmem layout baseline: pass --netmem-baseline=FILE")
        return path

    def summary_lines(self) -> list[str]:
        from netmem_ffi.report.formats import verdict

        lines = [f"{path}: {verdict(result)}" for path, result in self.results.items()]
        return lines + [f"{path}: baseline updated" for path in self.updated]


class LayoutGateItem(pytest.Item):
    """The test item the plugin adds when ``--netmem-baseline`` is given."""

    def runtest(self) -> None:
        self.config.stash[_GATE_KEY].check()

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"netmem layout gate ({self.config.stash[_GATE_KEY].baseline})"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("netmem", "netmem_ffi layout regression gate")
    group.addoption("--netmem-baseline", metavar="FILE", default=None,
                    help="fail the run when netmem layouts drift from the snapshot FILE")
    group.addoption("--netmem-update-baseline", action="store_true", default=False,
                    help="rewrite the --netmem-baseline FILE with the current layouts")
    group.addoption("--netmem-profiles", metavar="P,...", default=None,
                    help="profiles to gate (default: those in the baseline)")
    group.addoption("--netmem-arches", metavar="A,...", default=None,
                    help="architectures to gate (default: those in the baseline)")


def pytest_configure(config: pytest.Config) -> None:
    baseline = config.getoption("netmem_baseline")
    update = config.getoption("netmem_update_baseline")
    if update and not baseline:
        raise pytest.UsageError("--netmem-update-baseline needs --netmem-baseline=FILE")
    profiles = _names(config.getoption("netmem_profiles"))
    if profiles:
        from netmem_ffi.abi.registry import names

        unknown = [p for p in profiles if p not in names()]
        if unknown:
            raise pytest.UsageError(f"--netmem-profiles: unknown profile(s) {', '.join(unknown)}; "
                                    f"valid: {', '.join(names())}")
    config.stash[_GATE_KEY] = LayoutGate(baseline, update=update, profiles=profiles,
                                         arches=_names(config.getoption("netmem_arches")))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash[_GATE_KEY].baseline is not None:
        items.append(LayoutGateItem.from_parent(session, name=GATE_ITEM))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    gate = config.stash.get(_GATE_KEY, None)
    lines = gate.summary_lines() if gate is not None else []
    if lines:
        terminalreporter.write_sep("-", "netmem layout gate")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def netmem_layout_gate(pytestconfig: pytest.Config) -> LayoutGate:
    """The session's :class:`LayoutGate` (configured by the ``--netmem-*`` options)."""
    return pytestconfig.stash[_GATE_KEY]
