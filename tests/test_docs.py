"""The documentation site: it builds warning-free, it shows what the code has, and its examples run.

The build needs the ``docs`` extra (``pip install -e ".[docs]"``); without it those tests
skip. The examples run either way: every ```python block of every page in its own
interpreter, and every ``netmem-ffi`` line of every shell block, whose exit code the page
states in a ``# exit N`` comment.
"""

from __future__ import annotations

import html
import importlib.util
import os
import pathlib
import re
import shlex
import subprocess
import sys
from typing import NamedTuple

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md"))
SHELL_LANGUAGES = ("sh", "bash", "console", "shell")
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
COMMAND = re.compile(r"^(?:\$\s+)?(netmem-ffi\b.*)$")
STATED_EXIT = re.compile(r"#\s*exit\s+(\d+)\b")


class Block(NamedTuple):
    """One fenced code block of a page."""

    page: str
    index: int
    language: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.index}"


def blocks(pages: list[pathlib.Path], languages: tuple[str, ...]) -> list[Block]:
    """The fenced blocks in *languages* of *pages*, numbered per page."""
    found = []
    for page in pages:
        for i, m in enumerate(FENCE.finditer(page.read_text(encoding="utf-8"))):
            if m.group(1) in languages:
                found.append(Block(page.name, i, m.group(1), m.group(2)))
    return found


def commands(block: Block) -> list[tuple[str, int]]:
    """The ``netmem-ffi`` lines of a shell block and the exit code each states.

    Raises ValueError for a ``netmem-ffi`` line that does not state its exit code.
    """
    out = []
    for line in block.text.splitlines():
        m = COMMAND.match(line.strip())
        if not m:
            continue
        stated = STATED_EXIT.search(m.group(1))
        if stated is None:
            raise ValueError(f"{block.id}: {line.strip()!r} does not state its exit code (# exit N)")
        out.append((m.group(1), int(stated.group(1))))
    return out


PYTHON_BLOCKS = blocks(PAGES, ("python",))
SHELL_BLOCKS = [b for b in blocks(PAGES, SHELL_LANGUAGES) if any(COMMAND.match(x.strip()) for x in b.text.splitlines())]


def test_the_pages_have_examples() -> None:
    assert len(PYTHON_BLOCKS) >= 8
    assert sum(len(commands(b)) for b in SHELL_BLOCKS) >= 20
    assert {b.page for b in PYTHON_BLOCKS} >= {"python-api.md", "cross-check.md", "ci-gate.md"}


def test_a_command_without_its_exit_code_is_refused() -> None:
    block = Block("planted.md", 0, "sh", "netmem-ffi profiles   # exit 0\nnetmem-ffi check --references\n")
    with pytest.raises(ValueError, match="does not state its exit code"):
        commands(block)
    assert commands(Block("planted.md", 0, "sh", "$ netmem-ffi diff v6.19 v7.2  # exit 4: a break\n")) == [
        ("netmem-ffi diff v6.19 v7.2  # exit 4: a break", 4)]


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_python_example_runs(block: Block, tmp_path: pathlib.Path) -> None:
    out = subprocess.run([sys.executable, "-c", block.text], check=False, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, f"{block.id} failed:\n{block.text}\n{out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.id for b in SHELL_BLOCKS])
def test_shell_example_exits_as_stated(block: Block, tmp_path: pathlib.Path) -> None:
    """Each line in order, in one scratch folder (a later line may read what an earlier one wrote)."""
    # netmem-ffi is this interpreter's, whatever PATH holds.
    define = f"netmem-ffi() {{ {shlex.quote(sys.executable)} -m netmem_ffi \"$@\"; }}\n"
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    for line, stated in commands(block):
        out = subprocess.run(["bash", "-c", define + line], check=False, cwd=tmp_path, capture_output=True, text=True,
                             timeout=300, env=env, stdin=subprocess.DEVNULL)
        assert out.returncode == stated, f"{block.id}: {line!r} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
        assert "Traceback" not in out.stderr, out.stderr


# ---- the site ---------------------------------------------------------------------------------

needs_sphinx = pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("myst_parser") is None,
    reason='the docs extra is not installed (pip install -e ".[docs]")',
)


def _text(path: pathlib.Path) -> str:
    """The visible text of an HTML page, whitespace collapsed."""
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The HTML site, built from scratch with warnings as errors."""
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)], check=False,
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    assert build.returncode == 0, f"sphinx-build -W failed:\n{build.stdout}\n{build.stderr}"
    assert build.stderr.strip() == "", build.stderr
    return out


@needs_sphinx
def test_every_page_is_built(site: pathlib.Path) -> None:
    sources = {p.stem for p in PAGES} - {"reliability", "architecture"}
    assert sources <= {p.stem for p in site.glob("*.html")}
    for page in site.glob("*.html"):
        text = _text(page)
        assert ".. auto" not in text and "```" not in text, f"{page.name} shows unrendered markup"


@needs_sphinx
def test_cli_reference_has_every_command_and_option(site: pathlib.Path) -> None:
    from netmem_ffi.cli.man import environment
    from netmem_ffi.cli.reference import program

    text = _text(site / "cli.html")
    assert all(variable in text for variable, _ in environment())
    assert "NETMEM_FFI_MAX_INFLATE" in text
    root = program()
    for command in root.subcommands:
        assert command.prog in text and command.description[:60] in text
        for flag in command.option_words():
            assert flag in text, f"{command.prog} {flag} is not in the CLI reference"


@needs_sphinx
def test_api_reference_documents_the_public_names(site: pathlib.Path) -> None:
    import netmem_ffi

    page = (site / "api.html").read_text(encoding="utf-8")
    for name in netmem_ffi.__all__:
        if not name.startswith("_"):
            assert f'id="netmem_ffi.{name}"' in page or f'id="netmem_ffi.errors.{name}"' in page, name
    for name in ("abicheck.check.check_source", "abicheck.snapshot.take", "abicheck.diff.diff",
                 "layout.models.model_layouts", "kernel.source.read_source", "abi.registry.ProfileSpec",
                 "abicheck.gate.gate", "abicheck.verdict.describe"):
        assert f'id="netmem_ffi.{name}"' in page, name


@needs_sphinx
def test_generations_table_follows_the_registry(site: pathlib.Path) -> None:
    from netmem_ffi.abi import registry
    from netmem_ffi.abi.arches import host_arch
    from netmem_ffi.layout.models import model_layouts

    text = _text(site / "generations.html")
    for spec in registry.PROFILES:
        size = model_layouts(spec.name, host_arch()).struct("net_iov").size
        assert re.search(rf"{re.escape(spec.name)}( \(default\))? {re.escape(', '.join(spec.kernels))} ", text)
        assert spec.summary[:50] in text
        assert f"{size} B:" in text
        for helper in spec.absent_helpers:
            assert helper in text


@needs_sphinx
@pytest.mark.parametrize("note", ["reliability.md", "architecture.md"])
def test_notes_are_included(site: pathlib.Path, note: str) -> None:
    first = (DOCS / note).read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
    assert first in _text(site / f"notes-{note.removesuffix('.md')}.html")
