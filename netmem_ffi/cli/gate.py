"""``netmem-ffi gate BASELINE [--kernel SOURCE...] [--update]``: the CI gate on a baseline snapshot."""

from __future__ import annotations

import argparse
import sys

from netmem_ffi.cli import output
from netmem_ffi.cli.diff import add_policy_args, policy
from netmem_ffi.cli.snapshot import split_names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "gate",
        help="the CI gate: compare kernels (or the model) with a baseline snapshot",
        description="Compare the layouts of the kernels named with --kernel (a vmlinux built in the pipeline, "
        "a BTF file, an image, a .deb) with the baseline snapshot; without --kernel, the model's layouts for "
        "the baseline's profiles x architectures. Each kernel pairs with the baseline entry of the same source "
        "path, else of the same profile@arch, else the only one on its architecture. --update records the "
        "baseline on purpose (`netmem-ffi gate BASELINE --kernel build/vmlinux --update`); nothing is written "
        "when an input cannot be read.",
        epilog=output.EXIT_TABLE + ".",
    )
    p.add_argument("baseline", metavar="BASELINE", help="the committed snapshot file")
    p.add_argument("--kernel", action="append", metavar="SOURCE",
                   help="gate this kernel (repeatable): raw BTF, ELF vmlinux, compressed image or .deb")
    p.add_argument("--update", action="store_true", help="write the current layouts to BASELINE instead")
    p.add_argument("--profile", action="append", metavar="P", help="model profiles (repeatable or comma-separated)")
    p.add_argument("--arch", action="append", metavar="A", help="architectures (repeatable or comma-separated)")
    output.add_report_args(p)
    add_policy_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from netmem_ffi.abicheck.gate import gate, update_command
    from netmem_ffi.errors import (
        NetmemValueError,
        SnapshotError,
        UnknownProfileError,
        UnsupportedArchError,
    )

    fmt = output.report_format(args)
    if fmt is None:
        return output.EXIT_USAGE
    if args.baseline == "-":
        return output.fail("BASELINE is a file gate reads and --update rewrites; - (stdin) is not one "
                           "(-o - writes the report to stdout)", output.EXIT_USAGE)
    if "-" in (args.kernel or ()):
        return output.fail("gate --kernel takes a file: a kernel pairs with the baseline entry recorded from the "
                           "same path, which stdin (-) has not", output.EXIT_USAGE)
    if args.kernel and (args.profile or args.arch):
        return output.fail("--kernel gates kernels; --profile and --arch choose model pairs", output.EXIT_USAGE)
    try:
        result = gate(args.baseline, args.kernel, profiles=split_names(args.profile), arches=split_names(args.arch),
                      policy=policy(args), update=args.update)
    except (UnknownProfileError, UnsupportedArchError, NetmemValueError) as exc:
        return output.fail(str(exc), output.EXIT_USAGE)
    except SnapshotError as exc:
        return output.fail(str(exc), output.EXIT_INPUT)
    if result.updated is not None:
        print(f"{args.baseline}: baseline updated ({', '.join(result.updated.keys())})")
        return result.exit_code
    code = output.emit(result.diff, fmt, args.output)
    if code & ~output.EXIT_INPUT:
        print(f"If the change is intended, record it: {update_command(args.baseline, args.kernel)}",
              file=sys.stderr)
    return code
