"""``netmem-ffi check [SOURCE...]``: cross-check kernels' netmem ABI against the model."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from netmem_ffi.cli.output import EXIT_INPUT, EXIT_TABLE, EXIT_USAGE, fail, print_json, use_rich

from netmem_ffi.abi.arches import RUNNING_KERNEL_BTF as DEFAULT_SOURCE
#: How a shipped reference kernel is named among the sources (and in the results).
REFERENCE_PREFIX = "reference:"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "check",
        help="cross-check kernels' netmem layouts against the model",
        description="Read each kernel (raw BTF, ELF vmlinux, compressed image or Debian package; a -dbg vmlinux, "
        f".ko or -dbg package through its DWARF; default: the running kernel, {DEFAULT_SOURCE}), detect its "
        "architecture (from the container, else from its own types), byte order and netmem profile, "
        "compare every member offset and size, struct size, enum size and values with the model, and "
        "evaluate the kernel's own static asserts on the kernel's own types.",
        epilog="--json prints one object for one SOURCE and a list of objects for several (keys: source, "
        "kernel {release, arch, arch_from (user, elf, package, running, btf or dwarf: how the architecture was found), "
        "pointer_size, endianness, input}, profile, match, status, structs, enums, asserts, "
        "mismatches, notes). A kernel that differs from its model exits 12; one of no recognised generation "
        "without an incompatible difference (a kernel before 6.12, which has no net_iov) exits 4. "
        + EXIT_TABLE + ".",
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE", help=f"kernel input (default: {DEFAULT_SOURCE})")
    p.add_argument("--reference", action="append", default=[], metavar="NAME",
                   help="check a reference kernel shipped in the package (repeatable; `netmem-ffi profiles` "
                   "lists them); works without the running kernel's BTF")
    p.add_argument("--references", action="store_true", help="check every shipped reference kernel")
    p.add_argument("--or-references", action="store_true",
                   help="with no SOURCE: when the running kernel has no BTF (and only then), check the shipped "
                   "reference kernels instead, with a notice on stderr; a running kernel that mismatches still fails")
    p.add_argument("--json", action="store_true", help="print JSON (see below)")
    p.add_argument("--budget", action="append", default=[], metavar="NAME=N",
                   help="raise or lower one reading budget for each input (repeatable; names and defaults in "
                   "docs/reliability.md, e.g. members=200000; same as the NETMEM_FFI_MAX_NAME variable)")
    p.add_argument("--arch", metavar="ARCH", help="the kernels' architecture (any spelling: amd64, loong64 ...), "
                   "overriding what the input and its types say (kernel.arch_from: user)")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="check N kernels at once, in worker processes (output stays in input order)")
    p.set_defaults(run=run)
    return p


def _apply_budgets(items: list[str]) -> None:
    """``--budget NAME=N``: validated, then set as ``NETMEM_FFI_MAX_*`` for every input this run reads."""
    from netmem_ffi.layout.budget import LIMITS, Budget

    budget = Budget.parse_assignments(items)
    for item in items:
        name = item.partition("=")[0].strip()
        os.environ[LIMITS[name].env] = str(budget.limit(name))


def sources(args: argparse.Namespace) -> list[str]:
    """The kernel inputs the arguments name, in order (the default when none); references as ``reference:NAME``."""
    wanted = list(args.reference)
    if args.references:
        from netmem_ffi.kernel.references import names

        wanted += [n for n in names() if n not in wanted]
    return list(args.sources) + [REFERENCE_PREFIX + n for n in wanted] or [DEFAULT_SOURCE]


def check_one(name: str, arch: str | None = None) -> Any:
    """Check one source (``reference:NAME`` for a shipped one); an unreadable one gives its ``NetmemError``."""
    from netmem_ffi.abicheck.check import check_reference, check_source
    from netmem_ffi.errors import NetmemError

    try:
        if name.startswith(REFERENCE_PREFIX):
            return check_reference(name.removeprefix(REFERENCE_PREFIX), arch)
        return check_source(name, arch)
    except NetmemError as exc:
        return NetmemError(str(exc))  # plain, so that a worker process can send it back


def _check_all(names: list[str], arch: str | None = None, jobs: int = 1) -> list[Any]:
    """Check each source, *jobs* at a time in worker processes; results in input order."""
    if jobs > 1 and len(names) > 1:  # imported only here: it imports multiprocessing (~20 ms)
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(names))) as pool:
            return _in_order(names, lambda n: pool.submit(check_one, n, arch).result, len(names))
    return _in_order(names, lambda n: lambda: check_one(n, arch), len(names))


def _in_order(names: list[str], start: Any, total: int) -> list[Any]:
    """Start every check (``start(name)`` returns a callable giving its result), then collect them in order;
    a progress bar on a terminal when there are several."""
    if total < 2 or not use_rich(sys.stderr):
        return [get() for get in [start(n) for n in names]]
    from rich.progress import Progress

    from netmem_ffi.cli.output import console

    out = []
    with Progress(console=console(stderr=True), transient=True) as progress:
        task = progress.add_task("checking", total=total)
        pending = [start(n) for n in names]
        for n, get in zip(names, pending):
            progress.update(task, description=n)
            out.append(get())
            progress.advance(task)
    return out


def _exit_code(results: list[Any]) -> int:
    """abidiff's bits OR-ed over the sources: 1 unreadable, 4 differs, 8 incompatible (mismatch, failed assert)."""
    from netmem_ffi.abicheck.verdict import of_check

    bits = 0
    for r in results:
        if isinstance(r, Exception):
            bits |= EXIT_INPUT
        else:
            bits |= of_check(r.match, bool(r.mismatches) or not all(a.ok for a in r.asserts))
    return bits


def _error_dict(name: str, exc: Exception) -> dict[str, Any]:
    return {"source": name, "error": str(exc), "match": False, "profile": None}


def _kernel_text(r: Any, long: bool = True) -> str:
    arch = r.arch.describe() if long else f"{r.arch.arch} ({r.arch.how})"
    return f"{r.release or 'release unknown'}, {arch}, {r.layouts.endianness}-endian"


def _plain(names: list[str], results: list[Any]) -> None:
    """Plain text (piped output): one line per source, then the details of a single source."""
    for name, r in zip(names, results):
        if isinstance(r, Exception):
            print(f"{name}: ERROR: {r}")
        else:
            print(f"{name}: {r.status.upper()}: {r.summary()} [{_kernel_text(r)}]")
            if len(results) > 1:
                for line in _differences(r):
                    print(f"  {line}")
    if len(results) == 1 and not isinstance(results[0], Exception):
        r = results[0]
        for row in _field_rows(r):
            print("  " + "  ".join(str(c) for c in row))
        for c in r.mismatches:
            print(f"  mismatch: {c.describe()}")
        for c in r.notes:
            print(f"  note: {c.describe()}")
        for a in r.asserts:
            print(f"  assert {'ok' if a.ok else 'FAILED'}: {a.expr} ({a.lhs} vs {a.rhs})")


def _differences(r: Any) -> list[str]:
    """What a kernel that does not match differs in: its mismatching members, failed asserts, unknown shape."""
    if r.match:
        return []
    lines = [f"mismatch: {c.describe()}" for c in (*r.mismatches, *r.detection.differences)]
    lines += [f"assert FAILED: {a.expr} ({a.lhs} vs {a.rhs})" for a in r.asserts if not a.ok]
    return lines


def _field_rows(r: Any) -> list[tuple[str, ...]]:
    """(struct, member, offset, size, type, model offset/size, verdict) for every kernel member."""
    rows: list[tuple[str, ...]] = []
    for sname, s in r.layouts.structs.items():
        model = r.model.structs.get(sname) if r.model is not None else None
        for f in s.fields:
            m = model.field(f.name) if model is not None and f.name in model else None
            seen = "-" if m is None else f"{m.offset}/{m.size}"
            verdict = "?" if model is None else "missing in model" if m is None else (
                "ok" if (m.offset, m.size) == (f.offset, f.size) else "DIFFERS")
            rows.append((sname, f.name, str(f.offset), str(f.size), f.type, seen, verdict))
    return rows


def _rich(names: list[str], results: list[Any]) -> None:
    from rich.table import Table

    from netmem_ffi.cli.output import console

    con = console()
    summary = Table(title="netmem ABI check")
    for col in ("source", "kernel", "profile", "result", "asserts", "mismatches"):
        summary.add_column(col)
    for name, r in zip(names, results):
        if isinstance(r, Exception):
            summary.add_row(name, "", "", "[red]unreadable[/]", "", str(r))
            continue
        held = sum(a.ok for a in r.asserts)
        style = "green" if r.match else "red"
        summary.add_row(name, _kernel_text(r, long=False), r.detection.profile or r.detection.describe(),
                        f"[{style}]{r.status}[/]", f"{held}/{len(r.asserts)}", str(len(r.mismatches)))
    con.print(summary)
    if len(results) != 1:
        for name, r in zip(names, results):
            lines = [] if isinstance(r, Exception) else _differences(r)
            if lines:
                con.print(f"[red]{name}[/]:", *(f"  {line}" for line in lines), sep="\n", markup=True,
                          highlight=False)
        return
    if isinstance(results[0], Exception):
        return
    r = results[0]
    fields = Table(title=f"members (model: {r.model.profile if r.model else 'none'})")
    for col, just in (("struct", "left"), ("member", "left"), ("offset", "right"), ("size", "right"),
                      ("type", "left"), ("model", "right"), ("", "left")):
        fields.add_column(col, justify=just)  # type: ignore[arg-type]
    for row in _field_rows(r):
        colour = "green" if row[-1] == "ok" else "red"
        fields.add_row(*row[:-1], f"[{colour}]{row[-1]}[/]")
    con.print(fields)
    for c in r.mismatches:
        con.print(f"[red]mismatch[/]: {c.describe()}")
    for c in r.notes:
        con.print(f"[yellow]note[/]: {c.describe()}")
    for a in r.asserts:
        con.print(f"{'[green]ok[/]' if a.ok else '[red]FAILED[/]'} {a.macro}: {a.expr} ({a.lhs} vs {a.rhs})")


def run(args: argparse.Namespace) -> int:
    if args.budget:
        from netmem_ffi.errors import NetmemValueError

        try:
            _apply_budgets(args.budget)
        except NetmemValueError as exc:
            return fail(str(exc), EXIT_USAGE)
    if args.reference:
        from netmem_ffi.errors import UnknownReferenceError
        from netmem_ffi.kernel.references import reference

        try:
            for name in args.reference:
                reference(name)
        except UnknownReferenceError as exc:
            return fail(str(exc), EXIT_USAGE)
    names = sources(args)
    if names == [DEFAULT_SOURCE] and not os.path.exists(DEFAULT_SOURCE) and args.or_references:
        from netmem_ffi.kernel.references import names as reference_names

        print(f"netmem-ffi: notice: the running kernel has no BTF ({DEFAULT_SOURCE} is absent); checking the "
              "reference kernels shipped with netmem-ffi instead", file=sys.stderr)
        names = [REFERENCE_PREFIX + n for n in reference_names()]
    if names == [DEFAULT_SOURCE] and not os.path.exists(DEFAULT_SOURCE):
        return fail(f"the running kernel has no BTF ({DEFAULT_SOURCE} is absent); check the kernels shipped "
                    "with netmem-ffi instead: netmem-ffi check --reference NAME, --references for all, or "
                    "--or-references to fall back to them only where the running kernel has no BTF")
    if args.arch:
        from netmem_ffi.abi.arches import normalize_arch
        from netmem_ffi.errors import UnsupportedArchError

        try:
            normalize_arch(args.arch)
        except UnsupportedArchError as exc:
            return fail(str(exc), EXIT_USAGE)
    if args.jobs < 1:
        return fail(f"-j/--jobs must be at least 1, not {args.jobs}", EXIT_USAGE)
    results = _check_all(names, args.arch, args.jobs)
    if args.json:
        objs = [_error_dict(n, r) if isinstance(r, Exception) else r.to_dict() for n, r in zip(names, results)]
        print_json(objs[0] if len(objs) == 1 else objs)
    elif use_rich():
        _rich(names, results)
    else:
        _plain(names, results)
    if not args.json and any(getattr(r, "status", "") == "unknown" for r in results):
        print("no profile matches: `netmem-ffi derive SOURCE -o DIR` writes its generation; in Python, "
              "`netmem_ffi.profile_for_kernel(SOURCE)` derives and compiles its profile")
    for name, r in zip(names, results):
        if isinstance(r, Exception):
            fail(str(r) if name in str(r) else f"{name}: {r}")
    return _exit_code(results)
