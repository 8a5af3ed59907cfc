"""``netmem-ffi layout``: pahole-style struct layouts and the page / netmem_desc / net_iov overlay."""

from __future__ import annotations

import argparse
from typing import Any

from netmem_ffi.cli.output import EXIT_INPUT, EXIT_OK, EXIT_USAGE, fail, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "layout",
        help="pahole-style layout of the netmem structs for a profile and architecture; overlay; SVG",
        description="Show where every member of the netmem structs sits for one ABI generation on one "
        "architecture, as pahole does (offsets, sizes, holes, padding, cacheline boundaries), and the "
        "overlay of struct page / netmem_desc / net_iov (which page field each net_iov byte aliases). "
        "Layouts come from the portable engine, which equals the compiled module on the host.",
    )
    p.add_argument("structs", nargs="*", metavar="STRUCT",
                   help="structs to show (default: netmem_desc net_iov net_iov_area page); any struct "
                   "the cdefs define, e.g. dmabuf_genpool_chunk_owner")
    p.add_argument("--profile", "-p", help="ABI generation (default: the newest)")
    p.add_argument("--arch", "-a", help="target architecture, e.g. x86_64 i386 arm64 armhf s390x ppc64le "
                   "ppc64 riscv64 (default: this machine)")
    p.add_argument("--hex", action="store_true", help="offsets and sizes in hexadecimal")
    p.add_argument("--json", action="store_true", help="print {profile, arch, structs} as JSON")
    p.add_argument("--overlay", action="store_true", help="show the struct page / netmem_desc / net_iov overlay")
    p.add_argument("--svg", metavar="FILE", help="write the overlay as an SVG picture to FILE")
    p.add_argument("--kernel-config", action="store_true",
                   help="apply the architecture's CONFIG_HAVE_ALIGNED_STRUCT_PAGE to struct page")
    p.add_argument("--dma-addr-bits", type=int, choices=(32, 64), default=64,
                   help="width of dma_addr_t (owner structs only; 32 for a 32-bit kernel without "
                   "CONFIG_ARCH_DMA_ADDR_T_64BIT; default 64)")
    p.set_defaults(run=run)


def _select(args: argparse.Namespace, available: dict[str, Any]) -> list[str]:
    """The struct names asked for ("struct page" and "page" both work); ValueError names bad ones."""
    from netmem_ffi.abi import registry

    names = [n.removeprefix("struct ").strip() for n in args.structs if n.strip() != "struct"]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"unknown struct {', '.join(map(repr, unknown))}; this profile defines: "
                         f"{', '.join(available)}")
    if names or args.overlay or args.svg:
        return names
    return [n for n in registry.STRUCTS if n in available]


def run(args: argparse.Namespace) -> int:
    from netmem_ffi.layout import engine
    from netmem_ffi.abi import registry
    from netmem_ffi.errors import NetmemError
    from netmem_ffi.abi.arches import data_model, host_arch

    try:
        profile = registry.spec(args.profile or registry.DEFAULT_PROFILE).name
        model = data_model(args.arch or host_arch())
        config = (engine.KernelConfig.kernel(model.name, dma_addr_bits=args.dma_addr_bits) if args.kernel_config
                  else engine.KernelConfig(dma_addr_bits=args.dma_addr_bits))
        full = engine.struct_layouts(profile, model.name, config)
        names = _select(args, full)
    except (KeyError, ValueError, NetmemError) as exc:
        return fail(str(exc.args[0]) if isinstance(exc, KeyError) else str(exc), EXIT_USAGE)
    rows = None
    if args.overlay or args.svg:
        from netmem_ffi.report.overlay import overlay

        rows = overlay(full)
    title = f"netmem {profile} on {model.name} ({8 * model.long}-bit, {model.endianness}-endian)"
    if args.svg:
        from netmem_ffi.report.svg import overlay_svg

        try:
            with open(args.svg, "w", encoding="utf-8") as fh:
                fh.write(overlay_svg(rows or [], title=f"struct page / netmem_desc / net_iov: {title}",
                                     hex_offsets=args.hex))
        except OSError as exc:
            return fail(f"cannot write {args.svg}: {exc.strerror or exc}", EXIT_INPUT)
    if args.json:
        model_set = engine.layout_set(profile, model.name, config).structs
        doc: dict[str, Any] = {
            "profile": profile,
            "arch": model.name,
            "structs": {n: (model_set.get(n) or full[n]).to_dict() for n in names},
        }
        if rows is not None and args.overlay:
            doc["overlay"] = [r.to_dict() for r in rows]
        print_json(doc)
        return EXIT_OK
    if names or args.overlay:
        _print_text(title, [full[n] for n in names], rows if args.overlay else None, model.cacheline, args.hex)
    if args.svg:
        import sys

        print(f"wrote {args.svg}", file=sys.stderr)
    return EXIT_OK


def _print_text(title: str, layouts: list[Any], rows: list[Any] | None, cacheline: int, hex_offsets: bool) -> None:
    from netmem_ffi.report.overlay import overlay_text
    from netmem_ffi.report.pahole import struct_text
    from netmem_ffi.cli.output import use_rich

    texts = [struct_text(layout, cacheline=cacheline, hex_offsets=hex_offsets) for layout in layouts]
    if not use_rich():
        print(f"/* {title} */\n")
        print("\n".join(texts), end="")
        if rows is not None:
            print(("\n" if texts else "") + overlay_text(rows, hex_offsets=hex_offsets), end="")
        return
    from rich.syntax import Syntax

    from netmem_ffi.cli.output import console

    out = console()
    out.print(f"[bold]{title}[/bold]\n")
    for text in texts:
        out.print(Syntax(text, "c", theme="ansi_dark", background_color="default"))
    if rows is not None:
        out.print(_overlay_table(rows, hex_offsets))


def _overlay_table(rows: list[Any], hex_offsets: bool) -> Any:
    from rich.table import Table

    from netmem_ffi.report.overlay import COLUMNS

    columns = [c for c in COLUMNS if c in rows[0].cells]
    table = Table(title="struct page / netmem_desc / net_iov overlay")
    table.add_column("bytes", justify="right")
    for c in columns:
        table.add_column(f"struct {c}")
    table.add_column("aliases page")
    for row in rows:
        end = row.offset + row.size - 1
        span = f"{row.offset:#x}-{end:#x}" if hex_offsets else f"{row.offset}-{end}"
        verdict = {True: "[green]yes[/green]", False: "[bold red]NO[/bold red]", None: "-"}[row.mirrored]
        table.add_row(span, *(row.cells[c] or "-" for c in columns), verdict)
    return table
