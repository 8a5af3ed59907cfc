"""``netmem-ffi layout``: pahole-style struct layouts and the page / netmem_desc / net_iov overlay.

Of a profile's model on an architecture (the portable engine), or of a kernel
(``--kernel SOURCE``: any input ``check`` reads, or ``reference:NAME``).
"""

from __future__ import annotations

import argparse
import sys

from netmem_ffi.cli.output import EXIT_INPUT, EXIT_OK, EXIT_USAGE, fail, print_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORMATS = ("text", "json", "c")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "layout",
        help="pahole-style layout of the netmem structs of a profile or a kernel; overlay; SVG",
        description="Show where every member of the netmem structs sits, for one ABI generation on one "
        "architecture or for a kernel (--kernel), as pahole does (offsets, sizes, holes, padding, cacheline "
        "boundaries), and the overlay of struct page / netmem_desc / net_iov (which page field each net_iov "
        "byte aliases). Model layouts come from the portable engine, which equals the compiled module on "
        "the host; a kernel's come from its BTF.",
    )
    p.add_argument("structs", nargs="*", metavar="STRUCT",
                   help="structs to show (default: netmem_desc net_iov net_iov_area page); any struct "
                   "the cdefs (or the kernel's BTF) define, e.g. dmabuf_genpool_chunk_owner")
    p.add_argument("--profile", "-p", help="ABI generation or kernel release (default: the newest)")
    p.add_argument("--arch", "-a", help="target architecture, e.g. x86_64 i386 arm64 armhf s390x ppc64le "
                   "ppc64 riscv64 (default: this machine)")
    p.add_argument("--kernel", "-k", metavar="SOURCE",
                   help="show this kernel's own layouts instead of the model: raw BTF (/sys/kernel/btf/vmlinux), "
                   "ELF vmlinux, compressed image, .deb, or reference:NAME for a shipped reference kernel")
    p.add_argument("--hex", action="store_true", help="offsets and sizes in hexadecimal")
    p.add_argument("--format", "-f", choices=FORMATS, default="text",
                   help="text (pahole style, default), json ({profile, arch, structs}; a kernel's structs in "
                   "check --json's format) or c (a compilable C header: the declarations, the kernel's static "
                   "asserts and the layout pinned on the target)")
    p.add_argument("--json", action="store_const", const="json", dest="format", help="short for --format json")
    p.add_argument("--overlay", action="store_true", help="show the struct page / netmem_desc / net_iov overlay")
    p.add_argument("--svg", metavar="FILE", help="write the overlay as an SVG picture to FILE (- for stdout)")
    p.add_argument("--kernel-config", action="store_true",
                   help="apply the architecture's CONFIG_HAVE_ALIGNED_STRUCT_PAGE to struct page (model only)")
    p.add_argument("--dma-addr-bits", type=int, choices=(32, 64), default=64,
                   help="width of dma_addr_t (model owner structs only; 32 for a 32-bit kernel without "
                   "CONFIG_ARCH_DMA_ADDR_T_64BIT; default 64)")
    p.set_defaults(run=run)


def _subject(args: argparse.Namespace) -> Any:
    """The model or kernel the arguments name (raises NetmemError for bad names or input)."""
    from netmem_ffi.report import subject

    if args.kernel:
        if args.profile or args.arch or args.kernel_config or args.dma_addr_bits != 64:
            raise ValueError("--kernel shows the kernel's own layouts: it takes no --profile, --arch, "
                             "--kernel-config or --dma-addr-bits")
        return subject.kernel_subject(args.kernel)
    from netmem_ffi.abi import registry
    from netmem_ffi.abi.arches import host_arch
    from netmem_ffi.layout import engine

    arch = args.arch or host_arch()
    config = (engine.KernelConfig.kernel(arch, dma_addr_bits=args.dma_addr_bits) if args.kernel_config
              else engine.KernelConfig(dma_addr_bits=args.dma_addr_bits))
    return subject.model_subject(args.profile or registry.DEFAULT_PROFILE, arch, config)


def run(args: argparse.Namespace) -> int:
    from netmem_ffi.errors import KernelInputError, NetmemError, UnknownReferenceError

    try:
        subj = _subject(args)
        names = subj.names(args.structs) if args.structs or not (args.overlay or args.svg) else []
    except (KernelInputError, UnknownReferenceError) as exc:
        return fail(str(exc), EXIT_INPUT if isinstance(exc, KernelInputError) else EXIT_USAGE)
    except (ValueError, NetmemError) as exc:
        return fail(str(exc), EXIT_USAGE)
    rows = None
    if args.overlay or args.svg:
        from netmem_ffi.report.overlay import overlay

        try:
            rows = overlay(subj.overlay_structs(), subj.overlay_members)
        except KeyError as exc:  # a kernel before 6.12 has no net_iov to overlay
            return fail(f"{exc.args[0]} ({subj.title})", EXIT_INPUT)
    if args.svg:
        code = _write_svg(args, subj)
        if code or args.svg == "-":
            return code
    if args.format == "c":
        return _print_header(args, subj)
    if args.format == "json":
        doc: dict[str, Any] = {"profile": subj.profile, "arch": subj.arch.name}
        if subj.kernel is not None:
            doc = {"source": subj.kernel.source, "release": subj.kernel.release, **doc}
        doc["structs"] = subj.json_structs(names)
        if rows is not None and args.overlay:
            doc["overlay"] = [r.to_dict() for r in rows]
        print_json(doc)
        return EXIT_OK
    if names or args.overlay:
        _print_text(subj, [subj.struct(n) for n in names], rows if args.overlay else None, args.hex)
    return EXIT_OK


def _print_header(args: argparse.Namespace, subj: Any) -> int:
    """``--format c``: the C header on stdout; the exit code."""
    from netmem_ffi.errors import KernelInputError, NetmemError
    from netmem_ffi.report.cheader import c_header

    if subj.kernel is None and (args.kernel_config or args.dma_addr_bits != 64):
        return fail("--format c writes the profile's declarations as the kernel spells them; "
                    "--kernel-config and --dma-addr-bits 32 cannot be expressed in them", EXIT_USAGE)
    try:
        sys.stdout.write(c_header(subj, args.structs))
    except NetmemError as exc:
        return fail(str(exc), EXIT_INPUT if isinstance(exc, KernelInputError) else EXIT_USAGE)
    return EXIT_OK


def _write_svg(args: argparse.Namespace, subj: Any) -> int:
    """Write the overlay picture to ``--svg`` (``-``: stdout); the exit code."""
    from netmem_ffi.report.svg import overlay_svg

    text = overlay_svg(subj.overlay_structs(), title=subj.title,
                       shown=subj.overlay_members, hex_offsets=args.hex)
    if args.svg == "-":
        sys.stdout.write(text)
        return EXIT_OK
    try:
        with open(args.svg, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        return fail(f"cannot write {args.svg}: {exc.strerror or exc}", EXIT_INPUT)
    print(f"wrote {args.svg}", file=sys.stderr)
    return EXIT_OK


def _print_text(subj: Any, layouts: list[Any], rows: list[Any] | None, hex_offsets: bool) -> None:
    """The structs (pahole style) and the overlay: plain when piped; on a terminal, coloured where it fits.

    A struct or the overlay table wider than the terminal is printed in the
    plain form (soft-wrapped by the terminal, never cut), so every name,
    offset and size is there at any width, in the same words as piped.
    """
    from netmem_ffi.cli.output import use_rich
    from netmem_ffi.report.overlay import overlay_text
    from netmem_ffi.report.pahole import struct_text

    texts = [struct_text(layout, cacheline=subj.arch.cacheline, hex_offsets=hex_offsets) for layout in layouts]
    plain_overlay = None if rows is None else overlay_text(rows, hex_offsets=hex_offsets)
    if not use_rich():
        print(f"/* {subj.title} */\n")
        print("\n".join(texts), end="")
        if plain_overlay is not None:
            print(("\n" if texts else "") + plain_overlay, end="")
        return
    from rich.syntax import Syntax

    from netmem_ffi.cli.output import console

    out = console()
    out.print(subj.title, style="bold", markup=False, highlight=False, soft_wrap=True)
    out.print()
    for text in texts:
        if max(len(line.expandtabs(8)) for line in text.splitlines()) <= out.width:
            out.print(Syntax(text, "c", theme="ansi_dark", background_color="default", tab_size=8))
        else:
            out.print(text, markup=False, highlight=False, soft_wrap=True, end="")
    if rows is not None and plain_overlay is not None:
        table = _overlay_table(rows, hex_offsets)
        if out.measure(table, options=out.options.update_width(1 << 16)).maximum <= out.width:
            out.print(table)
        else:
            out.print(("\n" if texts else "") + plain_overlay, markup=False, highlight=False, soft_wrap=True, end="")


def _overlay_table(rows: list[Any], hex_offsets: bool) -> Any:
    """The overlay as a rich table (columns never wrapped: the caller falls back to text when it is too wide)."""
    from rich.table import Table

    from netmem_ffi.report.overlay import COLUMNS

    columns = [c for c in COLUMNS if c in rows[0].cells]
    table = Table()
    table.add_column("bytes", justify="right", no_wrap=True)
    for c in columns:
        table.add_column(c, no_wrap=True)
    table.add_column("aliases page", no_wrap=True)
    for row in rows:
        end = row.offset + row.size - 1
        span = f"{row.offset:#x}-{end:#x}" if hex_offsets else f"{row.offset}-{end}"
        verdict = {True: "[green]yes[/green]", False: "[bold red]NO[/bold red]", None: "-"}[row.mirrored]
        table.add_row(span, *(_escape(row.cells[c] or "-") for c in columns), verdict)
    return table


def _escape(text: str) -> str:
    """*text* with rich markup escaped (member names such as ``[0]`` are not styles)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)
