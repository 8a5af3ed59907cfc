"""The overlay picture: geometry (no text outside its box, nothing outside the canvas), colours, boxes.

Text widths come from a real renderer when one is installed: cairo's own
measurement of DejaVu Sans Mono (``cairocffi``, which ``cairosvg`` brings), and
each picture is rendered to PNG by ``cairosvg`` at its declared size.  Without
cairo, the font's published metrics are used (advance 1233/2048 em for every
glyph; ink from -0.76 em to +0.24 em of the baseline), so the geometry tests
still run and only the rendering test skips.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from netmem_ffi.abi import arches, registry
from netmem_ffi.cli import main
from netmem_ffi.kernel.references import names as reference_names
from netmem_ffi.layout.types import Field, StructLayout
from netmem_ffi.report.overlay import identity
from netmem_ffi.report.subject import Subject, kernel_subject, model_subject
from netmem_ffi.report.svg import overlay_svg

NS = "{http://www.w3.org/2000/svg}"
RUNNING = arches.RUNNING_KERNEL_BTF


def svg_of(subject: Subject, hex_offsets: bool = False) -> str:
    return overlay_svg(subject.overlay_structs(), title=subject.title, shown=subject.overlay_members,
                       hex_offsets=hex_offsets)


@cache
def _cairo_context(size: float, bold: bool) -> Any:
    import cairocffi as cairo

    ctx = cairo.Context(cairo.ImageSurface(cairo.FORMAT_ARGB32, 1, 1))
    ctx.select_font_face("DejaVu Sans Mono", cairo.FONT_SLANT_NORMAL,
                         cairo.FONT_WEIGHT_BOLD if bold else cairo.FONT_WEIGHT_NORMAL)
    ctx.set_font_size(size)
    return ctx


def text_box(el: ET.Element) -> tuple[float, float, float, float]:
    """x0, y0, x1, y1 of a <text> element's ink (vertical) and advance (horizontal)."""
    text = el.text or ""
    size = float(el.get("font-size", "12"))
    try:
        _, y_bearing, _, height, advance, _ = _cairo_context(size, el.get("font-weight") == "bold").text_extents(text)
    except ImportError:
        advance, y_bearing, height = len(text) * size * 1233 / 2048, -0.76 * size, size
    x, y = float(el.get("x", "0")), float(el.get("y", "0"))
    anchor = el.get("text-anchor", "start")
    x0 = x - {"start": 0, "middle": advance / 2, "end": advance}[anchor]
    return x0, y + y_bearing, x0 + advance, y + y_bearing + height


def rect_box(el: ET.Element) -> tuple[float, float, float, float]:
    x, y = float(el.get("x", "0")), float(el.get("y", "0"))
    return x, y, x + float(el.get("width", "0")), y + float(el.get("height", "0"))


def inside(inner: tuple[float, ...], outer: tuple[float, ...], slack: float = 0.5) -> bool:
    return (inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack
            and inner[2] <= outer[2] + slack and inner[3] <= outer[3] + slack)


def check_geometry(svg: str) -> ET.Element:
    """Every label inside its box, every element inside the canvas; returns the parsed root."""
    root = ET.fromstring(svg)
    width, height = float(root.get("width", "0")), float(root.get("height", "0"))
    assert root.get("viewBox") == f"0 0 {width:.0f} {height:.0f}"
    canvas = (0.0, 0.0, width, height)
    for el in root.iter(f"{NS}rect"):
        assert inside(rect_box(el), canvas), ET.tostring(el)
    for el in root.iter(f"{NS}text"):
        assert inside(text_box(el), canvas), (el.text, text_box(el), canvas)
    for group in root.iter(f"{NS}g"):
        rect, text = group.find(f"{NS}rect"), group.find(f"{NS}text")
        if group.get("class") != "legend" and rect is not None and text is not None:
            assert inside(text_box(text), rect_box(rect)), (text.text, text_box(text), rect_box(rect))
    return root


def boxes(root: ET.Element) -> list[tuple[str, str, str, ET.Element]]:
    """(class, tooltip, fill, group) of every drawn box."""
    out = []
    for group in root.iter(f"{NS}g"):
        if group.get("class") in ("member", "hole", "padding", "other-members"):
            rect = group.find(f"{NS}rect")
            assert rect is not None
            out.append((group.get("class", ""), group.findtext(f"{NS}title") or "", rect.get("fill", ""), group))
    return out


@pytest.mark.parametrize("arch", arches.ARCHES)
@pytest.mark.parametrize("profile", registry.names())
def test_geometry_every_profile_and_arch(profile: str, arch: str) -> None:
    root = check_geometry(svg_of(model_subject(profile, arch)))
    texts = [t.text or "" for t in root.iter(f"{NS}text")]
    assert any(t.startswith("struct net_iov (") for t in texts)


@pytest.mark.parametrize("source", [f"reference:{n}" for n in reference_names()] + [RUNNING])
def test_geometry_of_kernels(source: str) -> None:
    if source == RUNNING and not Path(RUNNING).is_file():
        pytest.skip(f"no running kernel BTF at {RUNNING}")
    subject = kernel_subject(source)
    root = check_geometry(svg_of(subject, hex_offsets=True))
    assert root.findtext(f"{NS}title") == subject.title


@pytest.mark.parametrize("profile", ["v6.12", "v6.16", "v7.2"])
def test_renders_at_its_size(profile: str, tmp_path: Path) -> None:
    cairosvg = pytest.importorskip("cairosvg", reason="rendering needs cairosvg (pip install cairosvg)")
    svg = svg_of(model_subject(profile, "armhf"))
    png = cairosvg.svg2png(bytestring=svg.encode())
    root = ET.fromstring(svg)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (int(root.get("width", "0")), int(root.get("height", "0")))


def test_one_colour_per_field_identity() -> None:
    """pp_magic has one colour in every column; flags, memcg_data and owner have three different ones."""
    root = check_geometry(svg_of(model_subject("v6.17", "x86_64")))
    by_identity: dict[str, set[str]] = {}
    for kind, tip, fill, _ in boxes(root):
        if kind == "member":
            for decl in tip.split(":")[0].split("; "):
                by_identity.setdefault(identity(decl.split()[-1]), set()).add(fill)
    assert all(len(fills) == 1 for fills in by_identity.values()), by_identity
    colours = [next(iter(f)) for f in by_identity.values()]
    assert len(set(colours)) == len(colours)
    legend = [g.findtext(f"{NS}text") or "" for g in root.iter(f"{NS}g") if g.get("class") == "legend"]
    assert "pp_magic (page, netmem_desc, net_iov)" in legend and "owner (net_iov)" in legend


@pytest.mark.parametrize("arch", ["armhf", "x86_64"])
def test_one_box_per_member_whatever_the_word_size(arch: str) -> None:
    """v6.17's 8-byte owner on a 4-byte-word target is one box, not "owner (4)" and "owner+4 (4)"."""
    root = check_geometry(svg_of(model_subject("v6.17", arch)))
    owners = [tip for kind, tip, _, _ in boxes(root) if kind == "member" and " owner:" in tip]
    assert len(owners) == 1 and "+4" not in "".join(t.text or "" for t in root.iter(f"{NS}text"))
    owner_size = model_subject("v6.17", arch).struct("net_iov").field("owner").size
    assert owners[0].endswith(f"size {owner_size}; shares these bytes with a different struct page field")


def test_holes_padding_and_clash_are_drawn() -> None:
    root = check_geometry(svg_of(model_subject("v7.2", "x86_64")))
    tips = {tip: (kind, group) for kind, tip, _, group in boxes(root)}
    assert tips["hole: offset 52, size 4"][0] == "hole"
    owner = next(g for t, (_, g) in tips.items() if t.startswith("struct net_iov_area * owner:"))
    rect = owner.find(f"{NS}rect")
    assert rect is not None and rect.get("stroke") == "#d62728"
    magic = next(g for t, (_, g) in tips.items() if t.startswith("unsigned long desc.pp_magic:"))
    assert magic.find(f"{NS}rect").get("stroke") != "#d62728"  # type: ignore[union-attr]
    padded = check_geometry(svg_of(model_subject("v6.19", "x86_64")))
    assert any(kind == "padding" for kind, _, _, _ in boxes(padded))


def test_long_names_are_shortened_with_the_full_name_in_the_tooltip() -> None:
    long = "a_member_name_far_too_long_for_any_box_in_the_picture_" * 3
    page = StructLayout("page", 16, 8, (Field("flags", 0, 8, "unsigned long"), Field(long, 8, 8, "unsigned long")))
    niov = StructLayout("net_iov", 16, 8, (Field("pp_magic", 0, 8, "unsigned long"), Field("owner", 8, 8, "void *")))
    root = check_geometry(overlay_svg({"page": page, "net_iov": niov}, title="synthetic"))
    group = next(g for kind, tip, _, g in boxes(root) if long in tip)
    shown = group.findtext(f"{NS}text") or ""
    assert shown.endswith("…") and long.startswith(shown[:-1]) and group.findtext(f"{NS}title") == \
        f"unsigned long {long}: offset 8, size 8"


def test_svg_to_stdout(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["layout", "--svg", "-", "--kernel", "reference:armhf-7.2"]) == 0
    out, err = capsys.readouterr()
    root = check_geometry(out)
    assert "kernel reference:armhf-7.2" in (root.findtext(f"{NS}title") or "")
    assert err == "" and not (tmp_path / "-").exists()
