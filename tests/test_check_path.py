"""The work of ``netmem-ffi check`` on the running kernel (issue 18): mapped, not copied, and nothing extra.

The running kernel's BTF is mapped where the kernel allows it (Linux 6.16+) and
read otherwise, with the same layouts and the same budget; the container readers,
``shutil`` and the parsers of other commands stay out of the path.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import subprocess
import sys

import pytest

from netmem_ffi.abi.arches import RUNNING_KERNEL_BTF
from netmem_ffi.cli import RENDERERS, build_parser, terminal_columns
from netmem_ffi.errors import BudgetExceededError
from netmem_ffi.kernel import source
from netmem_ffi.layout.btf.layouts import layout_set
from netmem_ffi.layout.btf.reader import BTF
from netmem_ffi.layout.budget import Budget

needs_running = pytest.mark.skipif(not os.path.exists(RUNNING_KERNEL_BTF), reason=f"{RUNNING_KERNEL_BTF} is absent")


def _mappable() -> bool:
    try:
        with open(RUNNING_KERNEL_BTF, "rb", buffering=0) as fh:
            mmap.mmap(fh.fileno(), os.fstat(fh.fileno()).st_size, flags=mmap.MAP_PRIVATE,
                      prot=mmap.PROT_READ).close()
    except (OSError, ValueError):
        return False
    return True


@needs_running
def test_the_running_kernel_is_mapped_or_read_with_the_same_layouts(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = source.read_source(RUNNING_KERNEL_BTF)
    assert isinstance(kernel.btf.data, mmap.mmap) == _mappable()
    with open(RUNNING_KERNEL_BTF, "rb") as fh:
        copied = BTF(fh.read(), RUNNING_KERNEL_BTF)
    arch = kernel.arch_hint or "x86_64"
    assert layout_set(kernel.btf, arch=arch) == layout_set(copied, arch=arch)

    def refuse(*args: object, **kwargs: object) -> mmap.mmap:
        raise OSError(19, "No such device")  # what a kernel before 6.16 answers

    monkeypatch.setattr(mmap, "mmap", refuse)
    read = source.read_source(RUNNING_KERNEL_BTF)
    assert isinstance(read.btf.data, bytes)
    assert (read.release, read.arch_hint, read.kind) == (kernel.release, kernel.arch_hint, "raw-btf")
    assert layout_set(read.btf, arch=arch) == layout_set(copied, arch=arch)


@needs_running
@pytest.mark.parametrize("mapped", [True, False])
def test_the_held_budget_counts_the_running_kernel(mapped: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not mapped:
        monkeypatch.setattr(source, "_map_running", lambda name, budget: None)
    with pytest.raises(BudgetExceededError, match="held") as caught:
        source.read_source(RUNNING_KERNEL_BTF, Budget(held=4096))
    assert RUNNING_KERNEL_BTF in str(caught.value)


PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
from netmem_ffi.cli import main
main(sys.argv[1:])
"""


@needs_running
def test_check_of_the_running_kernel_loads_no_container_reader_nor_shutil() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, "check", "--json", RUNNING_KERNEL_BTF], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"}, stdin=subprocess.DEVNULL,
                         check=False)  # any verdict: what matters is what was imported
    mods = json.loads(out.stderr.strip().splitlines()[-1])
    assert json.loads(out.stdout)["source"] == RUNNING_KERNEL_BTF
    unwanted = ("netmem_ffi.kernel.inputs", "netmem_ffi.kernel.codecs", "netmem_ffi.kernel.archive", "shutil",
                "lzma", "bz2", "netmem_ffi.cli.completion", "netmem_ffi.cli.man", "netmem_ffi.cli.layout")
    assert [m for m in mods if m.startswith(unwanted)] == []


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    """The subcommands *parser* was built with."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name for action in actions for name in action.choices}


def test_a_named_command_is_built_alone() -> None:
    assert _commands(build_parser(["check"])) == {"check"}
    assert _commands(build_parser()) >= {"check", "layout", *RENDERERS}


@pytest.mark.parametrize(("columns", "width"), [("57", 57), ("0", None), ("wide", None), ("", None)])
def test_help_width_follows_columns(columns: str, width: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    got = terminal_columns()
    if width is not None:
        assert got == width
    else:  # not a positive number: the terminal's width, else 80
        try:
            expected = os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            expected = 80
        assert got == expected
    assert build_parser(["check"])._get_formatter()._width == got - 2
