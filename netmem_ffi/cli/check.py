"""``netmem-ffi check [SOURCE...]``: cross-check kernels' netmem ABI against the model."""

from __future__ import annotations

import argparse
import os
import sys

from netmem_ffi.cli.output import EXIT_INPUT, EXIT_TABLE, EXIT_USAGE, fail, print_json, use_rich

from netmem_ffi.abi.arches import RUNNING_KERNEL_BTF as DEFAULT_SOURCE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
#: How a shipped reference kernel is named among the sources (and in the results).
REFERENCE_PREFIX = "reference:"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
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
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help=f"kernel input, - for stdin (default: {DEFAULT_SOURCE})")
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


def _kernel_text(r: Any) -> str:
    return f"{r.release or 'release unknown'}, {r.arch.describe()}, {r.layouts.endianness}-endian"


def _summary_line(name: str, r: Any) -> tuple[str, str | None]:
    """One source's line: its status, summary and kernel; an unreadable one's error goes to stderr only."""
    if isinstance(r, Exception):
        return f"{name}: UNREADABLE (the error is on stderr)", "bold red"
    return f"{name}: {r.status.upper()}: {r.summary()} [{_kernel_text(r)}]", "green" if r.match else "bold red"


def _differences(r: Any) -> list[str]:
    """What a kernel that does not match differs in: its mismatching members, failed asserts, unknown shape."""
    if r.match:
        return []
    lines = [f"mismatch: {c.describe()}" for c in (*r.mismatches, *r.detection.differences)]
    lines += [f"assert FAILED: {a.macro}: {a.expr} ({a.lhs} vs {a.rhs})" for a in r.asserts if not a.ok]
    return lines


FIELD_HEADER = ("struct", "member", "offset", "size", "type", "model offset/size", "verdict")


def _renames(r: Any) -> dict[tuple[str, str], str]:
    """(struct, new member name) -> the model's name, for every rename the comparison noted."""
    return {(c.container.removeprefix("struct "), c.new): c.old
            for c in (*r.notes, *r.mismatches) if c.kind == "member_renamed"}


def _field_rows(r: Any) -> tuple[list[tuple[str, ...]], list[str | None]]:
    """(struct, member, offset, size, type, model offset/size, verdict) for every kernel member, and row styles."""
    rows: list[tuple[str, ...]] = []
    styles: list[str | None] = []
    renamed = _renames(r)
    for sname, s in r.layouts.structs.items():
        model = r.model.structs.get(sname) if r.model is not None else None
        for f in s.fields:
            old = renamed.get((sname, f.name))
            m = model.field(f.name) if model is not None and f.name in model else None
            if m is None and old is not None and model is not None and old in model:
                m = model.field(old)
            seen = "-" if m is None else f"{m.offset}/{m.size}"
            same = m is not None and (m.offset, m.size) == (f.offset, f.size)
            verdict = ("no model" if model is None else "missing in model" if m is None
                       else "DIFFERS" if not same else f"ok (renamed from {old})" if old else "ok")
            rows.append((sname, f.name, str(f.offset), str(f.size), f.type, seen, verdict))
            styles.append("green" if verdict == "ok" else "yellow" if same or model is None else "red")
    return rows, styles


def _detail_lines(r: Any) -> list[tuple[str, str | None]]:
    """Mismatches, notes and the kernel's static asserts, one line each."""
    lines: list[tuple[str, str | None]] = [(f"mismatch: {c.describe()}", "red") for c in r.mismatches]
    lines += [(f"note: {c.describe()}", "yellow") for c in r.notes]
    lines += [(f"assert {'ok' if a.ok else 'FAILED'}: {a.macro}: {a.expr} ({a.lhs} vs {a.rhs})",
               "green" if a.ok else "bold red") for a in r.asserts]
    return lines


def _render(names: list[str], results: list[Any]) -> None:
    """The report, the same words piped and on a terminal (which adds colour and table layout only)."""
    from netmem_ffi.cli.output import print_lines, print_table

    for n, r in zip(names, results):
        several = len(results) > 1 and not isinstance(r, Exception)
        print_lines([_summary_line(n, r), *((f"  {line}", "red") for line in (_differences(r) if several else []))])
    if len(results) != 1 or isinstance(results[0], Exception):
        return
    r = results[0]
    rows, styles = _field_rows(r)
    print_table(f"members (model: {r.model.profile if r.model else 'none'})", FIELD_HEADER, rows, styles,
                right=(2, 3, 5))
    print_lines(_detail_lines(r))


def _check_stdin(names: list[str], *check_args: Any) -> list[Any] | None:
    """:func:`_check_all` (with *check_args*) where ``-`` is stdin (spooled within the input budget), reported as ``-``.

    None (after a usage error line) when ``-`` is named more than once.
    """
    from netmem_ffi.cli.output import STDIN, relabel, stdin_args
    from netmem_ffi.errors import KernelInputError, NetmemError, NetmemValueError

    try:
        with stdin_args(names) as (paths, spooled):
            results = _check_all(paths, *check_args)
    except NetmemValueError as exc:
        fail(str(exc), EXIT_USAGE)
        return None
    except NetmemError as exc:  # stdin past its budget: the other sources are still checked
        rest = iter(_check_all([n for n in names if n != STDIN], *check_args))
        return [exc if n == STDIN else next(rest) for n in names]
    if spooled is None:
        return results
    return [(KernelInputError(relabel(str(r), spooled)) if isinstance(r, Exception) else r._replace(source=STDIN))
            if n == STDIN else r for n, r in zip(names, results)]


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
    results = _check_stdin(names, args.arch, args.jobs)
    if results is None:
        return EXIT_USAGE
    if args.json:
        objs = [_error_dict(n, r) if isinstance(r, Exception) else r.to_dict() for n, r in zip(names, results)]
        print_json(objs[0] if len(objs) == 1 else objs)
    else:
        _render(names, results)
    if not args.json and any(getattr(r, "status", "") == "unknown" for r in results):
        print("no profile matches: `netmem-ffi derive SOURCE -o DIR` writes its generation; in Python, "
              "`netmem_ffi.profile_for_kernel(SOURCE)` derives and compiles its profile")
    for name, r in zip(names, results):
        if isinstance(r, Exception):
            fail(str(r) if name in str(r) else f"{name}: {r}")
    return _exit_code(results)
