"""pytest plugin (entry point ``pytest11``): fail a test run when netmem layouts drift.

Options::

    --netmem-baseline=FILE     gate on the snapshot FILE; adds the test item
                               ``netmem_ffi::netmem-layout-gate`` to the run
    --netmem-kernel=SOURCE     gate this kernel build (vmlinux, BTF, image, .deb) instead of
                               the model (repeatable); see ``netmem-ffi gate``
    --netmem-update-baseline   write the current layouts to FILE instead (on purpose)
    --netmem-profiles=P,...    model profiles to gate (default: those in the baseline;
                               a new baseline: every profile)
    --netmem-arches=A,...      model architectures to gate (default: those in the baseline;
                               a new baseline: every architecture the engine models)

The gate item is an ordinary test: ``-k``, ``-m`` (it carries the marker
``netmem_layout_gate``) and ``--deselect netmem_ffi::netmem-layout-gate``
select it, it is counted among the collected tests, and its JUnit classname is
``netmem_ffi``.  It joins a run unless the run names test ids
(``pytest tests/x.py::test_y``).  A bad option value is a usage error.

The fixture ``netmem_layout_gate`` is the same :class:`LayoutGate`, for tests
that gate on a baseline of their own (``netmem_layout_gate.check("base.json")``).
A break (exit bit 8, as ``netmem-ffi gate`` classifies it) or an unreadable
input fails with the diff or the error in the failure text; non-breaking
changes pass and are listed in the summary.

This module imports nothing heavy at load time and does nothing unless its
options or its fixture are used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from netmem_ffi.abicheck.diff import DiffResult
    from netmem_ffi.abicheck.gate import GateResult

GATE_ITEM = "netmem-layout-gate"
GATE_NODEID = f"netmem_ffi::{GATE_ITEM}"
GATE_MARKER = "netmem_layout_gate"
_GATE_KEY = pytest.StashKey["LayoutGate"]()


def _names(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [n.strip() for n in value.split(",") if n.strip()]


class LayoutGate:
    """Kernels (or the model) vs a baseline snapshot, for one test session."""

    def __init__(self, baseline: str | os.PathLike[str] | None = None, *, update: bool = False,
                 profiles: list[str] | None = None, arches: list[str] | None = None,
                 kernels: list[str] | None = None) -> None:
        self.baseline = None if baseline is None else os.fspath(baseline)
        self.update = update
        self.profiles = profiles
        self.arches = arches
        self.kernels = kernels
        self.results: dict[str, DiffResult] = {}
        self.updated: dict[str, None] = {}

    def _command(self, path: str) -> str:
        kernels = "".join(f" --netmem-kernel={k}" for k in self.kernels or ())
        return f"pytest --netmem-baseline={path}{kernels} --netmem-update-baseline"

    def _gate(self, path: str, update: bool) -> GateResult:
        from netmem_ffi.abicheck.gate import gate
        from netmem_ffi.errors import NetmemError

        try:
            return gate(path, self.kernels, profiles=self.profiles, arches=self.arches, update=update)
        except NetmemError as exc:
            pytest.fail(f"netmem layout gate: {exc}", pytrace=False)

    def compare(self, baseline: str | os.PathLike[str] | None = None) -> DiffResult:
        """The diff from the baseline to the current layouts (no pass/fail decision)."""
        path = self._path(baseline)
        result = self._gate(path, update=False).diff
        self.results[path] = result
        return result

    def check(self, baseline: str | os.PathLike[str] | None = None) -> DiffResult | None:
        """Fail the calling test on a layout break or an unreadable input; with ``update``, rewrite the baseline."""
        from netmem_ffi.report.formats import render_text

        path = self._path(baseline)
        if self.update:
            self.write(path)
            return None
        result = self.compare(path)
        if result.errors:
            pytest.fail("netmem layout gate: " + "; ".join(e.message for e in result.errors) +
                        f"\nRecord the baseline on purpose: `{self._command(path)}`", pytrace=False)
        if result.breaking:
            pytest.fail(f"netmem layouts drifted from the baseline {path}:\n\n{render_text(result)}\n"
                        f"If the change is intended, update the baseline: `{self._command(path)}`",
                        pytrace=False)
        return result

    def write(self, baseline: str | os.PathLike[str] | None = None) -> None:
        """Write the current layouts to the baseline file (nothing when an input is unreadable)."""
        path = self._path(baseline)
        result = self._gate(path, update=True)
        if result.updated is None:
            pytest.fail("netmem layout gate: baseline not updated: " +
                        "; ".join(e.message for e in result.diff.errors), pytrace=False)
        self.updated[path] = None

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
    group.addoption("--netmem-kernel", metavar="SOURCE", action="append", default=None,
                    help="gate this kernel (vmlinux, BTF, image, .deb) against --netmem-baseline (repeatable)")
    group.addoption("--netmem-update-baseline", action="store_true", default=False,
                    help="rewrite the --netmem-baseline FILE with the current layouts")
    group.addoption("--netmem-profiles", metavar="P,...", default=None,
                    help="profiles to gate (default: those in the baseline)")
    group.addoption("--netmem-arches", metavar="A,...", default=None,
                    help="architectures to gate (default: those in the baseline)")


def _validated(config: pytest.Config) -> LayoutGate:
    """The session's gate from its options; every bad option is a ``pytest.UsageError`` naming it."""
    from netmem_ffi.abi.arches import normalize_arch
    from netmem_ffi.abi.registry import profile_name
    from netmem_ffi.errors import NetmemError

    baseline = config.getoption("netmem_baseline")
    kernels = config.getoption("netmem_kernel")
    update = config.getoption("netmem_update_baseline")
    if not (baseline or kernels or update or config.getoption("netmem_profiles") or config.getoption("netmem_arches")):
        return LayoutGate()
    for flag, given in (("--netmem-update-baseline", update), ("--netmem-kernel", kernels)):
        if given and not baseline:
            raise pytest.UsageError(f"{flag} needs --netmem-baseline=FILE")
    values: dict[str, list[str] | None] = {}
    for flag, check in (("profiles", profile_name), ("arches", normalize_arch)):
        names = _names(config.getoption(f"netmem_{flag}"))
        if names and kernels:
            raise pytest.UsageError(f"--netmem-{flag} chooses model pairs; it cannot go with --netmem-kernel")
        try:
            values[flag] = None if names is None else [check(n) for n in names]
        except NetmemError as exc:
            raise pytest.UsageError(f"--netmem-{flag}: {exc}") from None
    return LayoutGate(baseline, update=update, kernels=kernels, **values)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{GATE_MARKER}: the netmem layout gate item (netmem_ffi plugin)")
    config.stash[_GATE_KEY] = _validated(config)


def _names_test_ids(config: pytest.Config) -> bool:
    """Whether the run was narrowed to test ids on the command line (``tests/x.py::test_y``)."""
    return any("::" in str(arg) for arg in config.args)


@pytest.hookimpl(tryfirst=True)  # before -k, -m and --deselect filter the items
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash[_GATE_KEY].baseline is None or _names_test_ids(config):
        return
    item = LayoutGateItem.from_parent(session, name=GATE_ITEM, nodeid=GATE_NODEID)
    item.add_marker(GATE_MARKER)
    items.append(item)
    # counted among the collected tests, as a collector would have reported it
    config.hook.pytest_collectreport(report=pytest.CollectReport(GATE_NODEID, "passed", None, [item]))


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
