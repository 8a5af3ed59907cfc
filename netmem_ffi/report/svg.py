"""The page / netmem_desc / net_iov overlay as an SVG picture (hand-written SVG, no dependency).

One column per struct, one band per byte range (height proportional to its
size), offsets on the left.  A net_iov cell that mirrors the page's field is
drawn in that field's colour; one that merely shares the bytes (``owner`` over
``mapping``, ``type`` over ``page_type``) is outlined in red; holes and
padding are grey.
"""

from __future__ import annotations

import zlib
from html import escape

from collections.abc import Collection, Mapping

from netmem_ffi.layout.types import StructLayout
from netmem_ffi.report.overlay import COLUMNS, overlay

_PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
            "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f")
_LEFT, _TOP, _COL, _GAP, _PX_PER_BYTE, _MIN_ROW = 90, 70, 260, 16, 7, 20


def _colour(label: str) -> str:
    if not label:
        return "none"
    if label.startswith("("):
        return "#eeeeee"
    base = label.split(" / ")[-1].split("+")[0].rsplit(".", 1)[-1].lstrip("_").removeprefix("flags")
    return _PALETTE[zlib.crc32(base.encode()) % len(_PALETTE)] if base else _PALETTE[0]


def overlay_svg(structs: Mapping[str, StructLayout], *, title: str,
                shown: Mapping[str, Collection[str]] | None = None, hex_offsets: bool = False) -> str:
    """SVG text of the overlay of *structs* (see :func:`netmem_ffi.report.overlay.overlay`)."""
    rows = overlay(structs, shown)
    columns = [c for c in COLUMNS if rows and c in rows[0].cells]
    heights = [max(_MIN_ROW, row.size * _PX_PER_BYTE) for row in rows]
    width = _LEFT + len(columns) * (_COL + _GAP) + 20
    height = _TOP + sum(heights) + 50
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
        f'<text x="{_LEFT}" y="24" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    for i, name in enumerate(columns):
        x = _LEFT + i * (_COL + _GAP)
        out.append(f'<text x="{x + _COL // 2}" y="{_TOP - 10}" text-anchor="middle" '
                   f'font-weight="bold">struct {escape(name)}</text>')
    y = _TOP
    for row, h in zip(rows, heights):
        offset = f"{row.offset:#x}" if hex_offsets else str(row.offset)
        out.append(f'<text x="{_LEFT - 8}" y="{y + 13}" text-anchor="end">{offset}</text>')
        for i, name in enumerate(columns):
            label = row.cells[name]
            if not label:
                continue
            x = _LEFT + i * (_COL + _GAP)
            clash = name == "net_iov" and row.mirrored is False
            fill = _colour(row.cells["page"]) if name == "net_iov" and row.mirrored else _colour(label)
            stroke = ' stroke="#d62728" stroke-width="3"' if clash else ' stroke="#333333"'
            out.append(f'<rect x="{x}" y="{y}" width="{_COL}" height="{h}" fill="{fill}"{stroke}/>')
            out.append(f'<text x="{x + _COL // 2}" y="{y + h // 2 + 4}" text-anchor="middle">'
                       f"{escape(label)} ({row.size})</text>")
        y += h
    out.append(f'<text x="{_LEFT - 8}" y="{y + 13}" text-anchor="end">'
               f"{f'{rows[-1].offset + rows[-1].size:#x}' if hex_offsets and rows else sum(r.size for r in rows)}"
               "</text>")
    out.append(f'<text x="{_LEFT}" y="{y + 36}" fill="#d62728">red outline: net_iov member sharing bytes with a '
               "different struct page field</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
