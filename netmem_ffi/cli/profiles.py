"""``netmem-ffi profiles``: the ABI generations, what changed between them, their kernels."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profiles",
        help="list the netmem ABI generations, what changed, and the kernels that carry them",
        description="List the ABI generations of include/net/netmem.h (oldest first): the kernels known "
        "to carry each, what changed from the previous one, sizeof(struct net_iov) on LP64, the "
        "number of kernel static asserts, and the reference kernels shipped in the package.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def rows() -> list[dict[str, object]]:
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


def _plain(data: list[dict[str, object]]) -> None:
    for r in data:
        default = " (default)" if r["default"] else ""
        enum = f", enum net_iov_type {r['enum_size']} B" if r["enum_size"] else ""
        print(f"{r['name']}{default}  kernels {', '.join(r['kernels'])}  "  # type: ignore[arg-type]
              f"net_iov {r['net_iov_size']} B{enum}  static asserts {r['static_asserts']}")
        print(f"    {r['summary']}")
        print(f"    members: {', '.join(r['net_iov_members'])}")  # type: ignore[arg-type]
        if r["kernel_lacked"]:
            print(f"    its kernels lacked: {', '.join(r['kernel_lacked'])}")  # type: ignore[arg-type]
        for note in r["notes"]:  # type: ignore[attr-defined]
            print(f"    note: {note}")
        if r["references"]:
            print(f"    reference kernels: {', '.join(r['references'])}")  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    from netmem_ffi.cli.output import console, print_json, use_rich

    data = rows()
    if args.json:
        print_json(data)
        return 0
    if not use_rich():
        _plain(data)
        return 0
    from rich.table import Table

    table = Table(title="netmem ABI generations (include/net/netmem.h)", show_lines=True)
    for col in ("profile", "kernels", "what changed", "net_iov", "asserts", "reference kernels"):
        table.add_column(col, overflow="fold")
    for r in data:
        name = f"{r['name']} (default)" if r["default"] else str(r["name"])
        members = ", ".join(r["net_iov_members"])  # type: ignore[arg-type]
        enum = f"; enum {r['enum_size']} B" if r["enum_size"] else ""
        table.add_row(name, ", ".join(r["kernels"]), str(r["summary"]),  # type: ignore[arg-type]
                      f"{r['net_iov_size']} B: {members}{enum}", str(r["static_asserts"]),
                      ", ".join(r["references"]) or "-")  # type: ignore[arg-type]
    console().print(table)
    return 0
