"""``netmem-ffi profiles``: the ABI generations, what changed between them, their kernels."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "profiles",
        help="list the netmem ABI generations, what changed, and the kernels that carry them",
        description="List the ABI generations of include/net/netmem.h (oldest first): the kernels known "
        "to carry each, what changed from the previous one, sizeof(struct net_iov) on LP64, the "
        "number of kernel static asserts, and the reference kernels shipped in the package.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def rows() -> list[dict[str, Any]]:
    """One row per profile: name, kernels, summary, net_iov size, asserts, notes, references."""
    from netmem_ffi.abi import registry
    from netmem_ffi.layout.models import model_layouts

    try:
        from netmem_ffi.kernel.references import references

        refs = references()
    except ImportError:
        refs = []
    out = []
    for spec in registry.PROFILES:
        layouts = model_layouts(spec.name)
        out.append({
            "name": spec.name,
            "default": spec.name == registry.DEFAULT_PROFILE,
            "kernels": list(spec.kernels),
            "summary": spec.summary,
            "net_iov_size": layouts.struct("net_iov").size,
            "net_iov_members": [f.name for f in layouts.struct("net_iov").top_level()],
            "enum_size": layouts.enums["net_iov_type"].size if "net_iov_type" in layouts.enums else None,
            "static_asserts": len(spec.asserts),
            "kernel_lacked": list(spec.absent_helpers),
            "notes": list(spec.notes),
            "references": [r.name for r in refs if r.expected_profile == spec.name],
        })
    return out


def lines(data: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The listing as (text, style) lines: the same words piped and on a terminal (which adds the styles)."""
    out: list[tuple[str, str]] = []
    for r in data:
        default = " (default)" if r["default"] else ""
        enum = f", enum net_iov_type {r['enum_size']} B" if r["enum_size"] else ""
        head = (f"{r['name']}{default}  kernels {', '.join(r['kernels'])}  "
                f"net_iov {r['net_iov_size']} B{enum}  static asserts {r['static_asserts']}")
        out.append((head, "bold"))
        out.append((f"    {r['summary']}", ""))
        out.append((f"    members: {', '.join(r['net_iov_members'])}", ""))
        if r["kernel_lacked"]:
            out.append((f"    its kernels lacked: {', '.join(r['kernel_lacked'])}", "dim"))
        out.extend((f"    note: {note}", "italic") for note in r["notes"])
        if r["references"]:
            out.append((f"    reference kernels: {', '.join(r['references'])}", "cyan"))
    return out


def run(args: argparse.Namespace) -> int:
    from netmem_ffi.cli.output import print_json, print_lines

    data = rows()
    if args.json:
        print_json(data)
    else:
        print_lines(lines(data))
    return 0
