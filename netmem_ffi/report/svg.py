"""The page / netmem_desc / net_iov overlay as an SVG picture (hand-written SVG, no dependency).

One column per struct, bytes running down (a band per byte range of the
overlay, height growing with its size), offsets on the left:

* one box per member, whatever the word size (an 8-byte ``owner`` is one box
  on a 4-byte-word target); union alternatives side by side in lanes; the
  same field under two names (``desc.pp`` and ``pp`` of net_iov's union) one
  box;
* one colour per field identity (:func:`netmem_ffi.report.overlay.identity`)
  across all columns, listed in a legend; a net_iov member that shares bytes
  with a different struct page field is outlined in red;
* holes and tail padding hatched, bytes of members the overlay does not name
  (a kernel's other struct page union alternatives) grey;
* every label fits its box: it is shortened (``…``) when it must be, and each
  box carries the full name, offset, size and type in a ``<title>`` tooltip;
  the canvas is sized to its content (title, columns, legend).

Text is set in DejaVu Sans Mono, whose advance is :data:`ADVANCE` em for
every character, so widths are known without a renderer.
"""

from __future__ import annotations

import colorsys
from collections.abc import Collection, Mapping
from html import escape

from netmem_ffi.layout.types import Field, StructLayout
from netmem_ffi.report.overlay import (
    COLUMNS,
    OTHER_MEMBERS,
    OverlayRow,
    identity,
    leaves,
    overlay,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass, replace
else:
    from netmem_ffi.abi.record import dataclass, replace

__all__ = ["ADVANCE", "FONT_FAMILY", "Box", "overlay_boxes", "overlay_svg", "text_width"]

def _hsl(hue: float, saturation: float, lightness: float) -> str:
    """``#rrggbb`` of an HSL colour."""
    r, g, b = colorsys.hls_to_rgb(hue / 360, lightness, saturation)
    return f"#{round(255 * r):02x}{round(255 * g):02x}{round(255 * b):02x}"


FONT_FAMILY = "DejaVu Sans Mono, monospace"
#: Advance width of every DejaVu Sans Mono glyph, in em (1233/2048), rounded up.
ADVANCE = 0.603
FONT, TITLE_FONT = 12, 14
PAD, ROW_MIN, PX_PER_BYTE, GAP, LANE_MIN, LANE_MAX = 6, 22, 5, 18, 96, 240
#: 24 distinct light colours, successive ones far apart in hue (12 hues, two lightnesses);
#: field identities take them in order of first appearance.
PALETTE = tuple(_hsl(150 * i % 360, 0.75 if i % 24 < 12 else 0.6, 0.82 if i % 24 < 12 else 0.66) for i in range(24))
_GAPS = {"(hole)": "hole", "(padding)": "padding", OTHER_MEMBERS: "other members"}
_CLASH = "#d62728"


def text_width(text: str, size: float = FONT) -> float:
    """Rendered width of *text* in DejaVu Sans Mono at *size* px."""
    return len(text) * size * ADVANCE


@dataclass(frozen=True)
class Box:
    """One box of a column: a member (or several names of one field), a hole, padding or other members."""

    column: str
    start: int
    end: int
    lane: int
    span: int  # lanes covered from ``lane``
    names: tuple[str, ...]
    kind: str  # "member", "hole", "padding", "other members"
    identity: str | None = None
    detail: str = ""
    clash: bool = False

    @property
    def label(self) -> str:
        """The names shown: one per distinct field (``desc.pp / pp`` shows ``pp``)."""
        if self.kind != "member":
            return self.kind
        by_field: dict[str, str] = {}
        for name in sorted(self.names, key=len):
            by_field.setdefault(name.rsplit(".", 1)[-1], name)
        return " / ".join(by_field.values())


def _member_items(layout: StructLayout, shown: Collection[str] | None) -> list[tuple[int, int, list[Field]]]:
    """Members of one struct merged by (offset, size, field identity), in declaration order."""
    items: dict[tuple[int, int, str], list[Field]] = {}
    for f in leaves(layout):
        if shown is None or f.name in shown:
            items.setdefault((f.offset, f.offset + f.size, identity(f.name)), []).append(f)
    return [(start, end, fields) for (start, end, _), fields in items.items()]


def _lanes(items: list[tuple[int, int, list[Field]]]) -> tuple[list[tuple[int, int]], int]:
    """(lane, span) per item: union alternatives side by side, each box as wide as its bytes allow."""
    order = sorted(range(len(items)), key=lambda i: (items[i][0], -(items[i][1] - items[i][0]), i))
    ends: list[int] = []
    lane_of = [0] * len(items)
    for i in order:
        start, end, _ = items[i]
        lane = next((n for n, e in enumerate(ends) if e <= start), len(ends))
        if lane == len(ends):
            ends.append(end)
        ends[lane] = end
        lane_of[i] = lane
    total = max(len(ends), 1)
    placed = []
    for i, (start, end, _) in enumerate(items):
        right = min((lane_of[j] for j, (s, e, _) in enumerate(items)
                     if lane_of[j] > lane_of[i] and s < end and start < e), default=total)
        placed.append((lane_of[i], right - lane_of[i]))
    return placed, total


def _gap_boxes(column: str, rows: list[OverlayRow]) -> list[Box]:
    """Holes, padding and other members of one column: consecutive rows of the same kind merged."""
    boxes: list[Box] = []
    for row in rows:
        kind = _GAPS.get(row.cells.get(column, ""))
        if kind is None:
            continue
        if boxes and boxes[-1].kind == kind and boxes[-1].end == row.offset:
            last = boxes[-1]
            boxes[-1] = replace(last, end=row.offset + row.size)
        else:
            boxes.append(Box(column, row.offset, row.offset + row.size, 0, 0, (), kind))
    return boxes


def overlay_boxes(structs: Mapping[str, StructLayout], rows: list[OverlayRow],
                  shown: Mapping[str, Collection[str]] | None = None) -> tuple[dict[str, list[Box]], dict[str, int]]:
    """Every column's boxes and lane count (see the module doc)."""
    shown = shown or {}
    columns = [c for c in COLUMNS if c in structs]
    out: dict[str, list[Box]] = {}
    lanes: dict[str, int] = {}
    for column in columns:
        items = _member_items(structs[column], shown.get(column))
        placed, lanes[column] = _lanes(items)
        boxes = [Box(column, start, end, lane, span, tuple(f.name for f in fields), "member", identity(fields[0].name),
                     "; ".join(f"{f.type} {f.name}" for f in fields))
                 for (start, end, fields), (lane, span) in zip(items, placed, strict=True)]
        out[column] = boxes + [replace(b, span=lanes[column]) for b in _gap_boxes(column, rows)]
    page = [b for b in out.get("page", []) if b.kind == "member"]
    out["net_iov"] = [_mark_clash(b, page) for b in out.get("net_iov", [])]
    return out, lanes


def _mark_clash(box: Box, page: list[Box]) -> Box:
    """A net_iov member over bytes where struct page has only other fields gets the red outline."""
    under = {b.identity for b in page if b.start < box.end and box.start < b.end}
    if box.kind != "member" or not under or box.identity in under:
        return box
    return replace(box, clash=True)


# ---- drawing ----------------------------------------------------------------------------------------


def fit(text: str, width: float, size: float = FONT) -> str:
    """*text*, shortened with "…" to fit *width* px (empty when not even one character and "…" fit)."""
    if text_width(text, size) <= width:
        return text
    keep = int(width // (size * ADVANCE)) - 1
    return text[:keep] + "…" if keep > 0 else ""


class _Canvas:
    """Positions: a y per offset (bands of the overlay rows), an x and width per column lane."""

    def __init__(self, rows: list[OverlayRow], lanes: dict[str, int], boxes: dict[str, list[Box]],
                 structs: Mapping[str, StructLayout], left: float, top: float) -> None:
        self.y: dict[int, float] = {}
        y = top
        for row in rows:
            self.y[row.offset] = y
            y += max(ROW_MIN, row.size * PX_PER_BYTE)
            self.y[row.offset + row.size] = y
        self.bottom = y
        self.x: dict[str, float] = {}
        self.lane_w: dict[str, float] = {}
        self.headers = {c: f"struct {c} ({structs[c].size} bytes)" for c in lanes}
        x = left
        for column, count in lanes.items():
            wanted = max((text_width(f"{b.label} (0x00)") + 2 * PAD) / b.span for b in boxes[column])
            lane_w = max(LANE_MIN, min(LANE_MAX, wanted))
            lane_w = max(lane_w, (text_width(self.headers[column]) + 2 * PAD) / count)
            self.x[column], self.lane_w[column] = x, lane_w
            x += count * lane_w + GAP
        self.right = x - GAP

    def rect(self, box: Box) -> tuple[float, float, float, float]:
        """x, y, width, height of *box*."""
        x = self.x[box.column] + box.lane * self.lane_w[box.column]
        return x, self.y[box.start], box.span * self.lane_w[box.column], self.y[box.end] - self.y[box.start]


def _text(x: float, y: float, text: str, *, size: int = FONT, anchor: str = "start", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>'
            f"{escape(text)}</text>")


def _box_svg(box: Box, canvas: _Canvas, colours: Mapping[str, str], hex_offsets: bool) -> str:
    x, y, w, h = canvas.rect(box)
    size = f"{box.end - box.start:#x}" if hex_offsets else str(box.end - box.start)
    start = f"{box.start:#x}" if hex_offsets else str(box.start)
    if box.kind == "member":
        fill = colours[box.identity or ""]
        tip = f"{box.detail}: offset {start}, size {size}"
    else:
        fill = "url(#hatch)" if box.kind in ("hole", "padding") else "#e0e0e0"
        tip = f"{box.kind}: offset {start}, size {size}"
    if box.clash:
        tip += "; shares these bytes with a different struct page field"
    stroke = f'stroke="{_CLASH}" stroke-width="3"' if box.clash else 'stroke="#333333" stroke-width="1"'
    room = w - 2 * PAD - (3 if box.clash else 0)
    label = f"{box.label} ({size})"
    shown = label if text_width(label) <= room else fit(box.label, room)
    baseline = y + h / 2 + FONT * 0.35
    return (f'<g class="{box.kind.replace(" ", "-")}"><title>{escape(tip)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}" {stroke}/>'
            + (_text(x + w / 2, baseline, shown, anchor="middle") if shown else "") + "</g>")


def _legend(colours: Mapping[str, str], where: dict[str, list[str]], boxes: list[Box], x0: float, y0: float,
            width: float) -> tuple[list[str], float, float]:
    """Legend entries flowed in rows across *width*; returns the SVG, its bottom and its widest row."""
    entries: list[tuple[str, str]] = [(colours[i], f"{i} ({', '.join(where[i])})") for i in colours]
    kinds = {b.kind for b in boxes} | {"clash" for b in boxes if b.clash}
    entries += [(fill, text) for kind, fill, text in (
        ("hole", "url(#hatch)", "hole"), ("padding", "url(#hatch)", "padding"),
        ("other members", "#e0e0e0", "other members (not drawn)"),
        ("clash", "clash", "net_iov member over a different struct page field")) if kind in kinds]
    out = [_text(x0, y0 + FONT, "legend", extra=' font-weight="bold"')]
    x, y, widest = x0, y0 + FONT + 10, 0.0
    for fill, text in entries:
        w = 18 + text_width(text) + 2 * PAD
        if x > x0 and x + w > x0 + width:
            x, y = x0, y + ROW_MIN
        stroke = f'stroke="{_CLASH}" stroke-width="3" fill="white"' if fill == "clash" else \
            f'stroke="#333333" fill="{fill}"'
        out.append(f'<g class="legend"><rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" {stroke}/>'
                   + _text(x + 18, y + 10.5, text) + "</g>")
        x += w
        widest = max(widest, x - x0)
    return out, y + ROW_MIN, widest


_HATCH = ('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
          'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4f4f4"/>'
          '<line x1="0" y1="0" x2="0" y2="6" stroke="#9a9a9a" stroke-width="2"/></pattern></defs>')


def _frame(width: float, height: float, title: str) -> list[str]:
    """The ``<svg>`` element's opening, its tooltip title, the hatch pattern and the white background."""
    return [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT_FAMILY}">'),
            f"<title>{escape(title)}</title>", _HATCH,
            f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="white"/>']


def _colours(boxes: Mapping[str, list[Box]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """A colour per field identity (order of first appearance) and the columns each appears in."""
    colours: dict[str, str] = {}
    where: dict[str, list[str]] = {}
    for column, column_boxes in boxes.items():
        for b in sorted((b for b in column_boxes if b.identity), key=lambda b: b.start):
            assert b.identity is not None
            colours.setdefault(b.identity, PALETTE[len(colours) % len(PALETTE)])
            if column not in where.setdefault(b.identity, []):
                where[b.identity].append(column)
    return colours, where


def overlay_svg(structs: Mapping[str, StructLayout], *, title: str,
                shown: Mapping[str, Collection[str]] | None = None, hex_offsets: bool = False) -> str:
    """SVG text of the overlay of *structs* (see :func:`netmem_ffi.report.overlay.overlay` and the module doc).

    Raises ``KeyError`` when ``page`` or ``net_iov`` is missing.
    """
    rows = overlay(structs, shown)
    boxes, lanes = overlay_boxes(structs, rows, shown)
    colours, where = _colours(boxes)
    ends = sorted({r.offset for r in rows} | {rows[-1].offset + rows[-1].size})
    offsets = [f"{o:#x}" if hex_offsets else str(o) for o in ends]
    left = PAD + max(text_width(o) for o in offsets) + 2 * PAD
    titles = ["struct page / netmem_desc / net_iov overlay", title]
    top = 2 * PAD + len(titles) * (TITLE_FONT + 6) + FONT + 14
    canvas = _Canvas(rows, lanes, boxes, structs, left, top)
    content = max(canvas.right, left + 480)
    every = [b for column_boxes in boxes.values() for b in column_boxes]
    legend, legend_bottom, legend_w = _legend(colours, where, every, left, canvas.bottom + 2 * PAD, content - left)
    width = PAD + max(content, left + legend_w, *(PAD + text_width(t, TITLE_FONT) for t in titles))
    height = legend_bottom + PAD
    out = _frame(width, height, title)
    for i, text in enumerate(titles):
        out.append(_text(PAD, PAD + (i + 1) * (TITLE_FONT + 6), text, size=TITLE_FONT,
                         extra=' font-weight="bold"' if i == 0 else ""))
    for column in lanes:
        mid = canvas.x[column] + lanes[column] * canvas.lane_w[column] / 2
        out.append(_text(mid, top - 8, canvas.headers[column], anchor="middle", extra=' font-weight="bold"'))
    for offset, text in zip(sorted(canvas.y), offsets, strict=True):
        out.append(_text(left - PAD, canvas.y[offset] + FONT * 0.35, text, anchor="end"))
    out += [_box_svg(b, canvas, colours, hex_offsets) for column in lanes for b in boxes[column]]
    out += legend
    out.append("</svg>")
    return "\n".join(out) + "\n"
