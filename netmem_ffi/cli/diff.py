"""``netmem-ffi diff OLD NEW``: compare two layout sets, classify like abidiff, report."""

from __future__ import annotations

import argparse
import os

from netmem_ffi.cli.output import (
    EXIT_TABLE,
    EXIT_USAGE,
    add_report_args,
    emit,
    fail,
    relabel,
    report_format,
    resolve_profile,
    stdin_args,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "diff",
        help="compare two layout sets: snapshots, profiles (v6.19, v6.19@i386) or kernels",
        description="Compare two layout sets member by member. Each side is a snapshot file, a profile "
        "name (optionally @ARCH) or a kernel source (BTF, vmlinux, image). Snapshots are compared pair by "
        "pair (profile@arch); identical changes on several architectures are reported once. Renames and "
        "appended enumerators are reported (exit 4) but do not break the ABI (exit 12) unless asked.",
        epilog=EXIT_TABLE + ".",
    )
    p.add_argument("old", metavar="OLD", help="snapshot file, profile[@arch] (or a kernel release: 6.18[@arch]), "
                   "kernel source, or - for stdin")
    p.add_argument("new", metavar="NEW", help="the same kinds as OLD")
    add_report_args(p)
    add_policy_args(p)
    p.set_defaults(run=run)


def add_policy_args(p: Any) -> None:
    """The breaking-policy flags of diff and gate."""
    p.add_argument("--renames-break", action="store_true", help="a renamed member is a break")
    p.add_argument("--enum-additions-break", action="store_true", help="an appended enumerator is a break")


def policy(args: argparse.Namespace) -> Any:
    """The :class:`~netmem_ffi.abicheck.compare.Policy` the flags ask for."""
    from netmem_ffi.abicheck.compare import Policy

    return Policy(renames_break=args.renames_break, enum_additions_break=args.enum_additions_break)


def side_name(spec: str) -> str:
    """*spec* with a kernel release in place of a profile mapped to it (``6.18@i386`` -> ``v6.17@i386``).

    An existing file, ``-`` and names that are no release stay as they are (the loader reports them).
    """
    from netmem_ffi.errors import UnknownProfileError

    profile, at, arch = spec.partition("@")
    if spec == "-" or os.path.exists(spec):
        return spec
    try:
        return resolve_profile(profile) + at + arch
    except UnknownProfileError:
        return spec


def _load_sides(specs: list[str]) -> tuple[list[Any], list[Any]] | int:
    """The two sides (reading ``-`` from stdin) and the unreadable ones' errors; the exit bits on a usage error."""
    from netmem_ffi.abicheck import diff
    from netmem_ffi.errors import (
        NetmemError,
        NetmemValueError,
        UnknownProfileError,
        UnsupportedArchError,
    )

    sides, errors = [], []
    try:
        with stdin_args([side_name(s) for s in specs]) as (paths, spooled):
            for spec, path in zip(specs, paths):
                try:
                    sides.append(diff.load_side(path))
                except (UnknownProfileError, UnsupportedArchError) as exc:
                    return fail(f"{spec}: {exc}", EXIT_USAGE)
                except NetmemError as exc:
                    errors.append(diff.InputError(spec, relabel(str(exc), spooled)))
    except NetmemValueError as exc:
        return fail(str(exc), EXIT_USAGE)
    except NetmemError as exc:  # stdin past its budget
        errors.append(diff.InputError("-", str(exc)))
    return sides, errors


def run(args: argparse.Namespace) -> int:
    from netmem_ffi.abicheck import diff

    fmt = report_format(args)
    if fmt is None:
        return EXIT_USAGE
    loaded = _load_sides([args.old, args.new])
    if isinstance(loaded, int):
        return loaded
    sides, errors = loaded
    if errors:
        result = diff.unreadable(args.old, args.new, errors, policy(args))
    else:
        result = diff.diff(sides[0], sides[1], policy(args), old_label=args.old, new_label=args.new)
    return emit(result, fmt, args.output)
