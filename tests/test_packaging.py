"""Packaging: every Python package of the source tree is installed, and the installed
package carries its compiled modules, cdefs and data."""

from __future__ import annotations

import importlib.resources
import pathlib
import tomllib

import netmem_ffi
from netmem_ffi.abi import registry
ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "netmem_ffi").rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert config["package-dir"]["netmem_ffi.cdefs"] == "cdefs"


def test_every_profile_module_is_built_and_cdefs_ship() -> None:
    for spec in registry.PROFILES:
        assert netmem_ffi.profile(spec.name).lib.nm_empty(0) == 0
        for piece in spec.sources():
            assert (ROOT / "cdefs" / piece).is_file(), piece
    names = {p.name for p in (ROOT / "cdefs").iterdir()}
    assert set(registry.RUNTIME_SOURCES) | set(registry.RUNTIME_CDEFS) <= names


def test_installed_cdefs_are_readable() -> None:
    try:
        files = importlib.resources.files("netmem_ffi.cdefs")
        text = (files / "common.h").read_text()
    except ModuleNotFoundError:  # editable installs cannot map a subpackage onto cdefs/
        text = (ROOT / "cdefs" / "common.h").read_text()
    assert "struct page {" in text
