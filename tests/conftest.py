"""Shared fixtures: every profile, and areas / page maps that are closed after each test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Child interpreters the tests start (python -c, python -m netmem_ffi, examples) must
# import the installed package, not the source tree in the current directory, which
# has no compiled modules in a plain (non-editable) install.
os.environ["PYTHONSAFEPATH"] = "1"

import netmem_ffi
from netmem_ffi.abi import registry
PROFILE_NAMES = registry.names()


@pytest.fixture(params=PROFILE_NAMES)
def prof(request: pytest.FixtureRequest) -> netmem_ffi.Profile:
    """Each ABI profile in turn."""
    return netmem_ffi.profile(request.param)


@pytest.fixture
def v72() -> netmem_ffi.Profile:
    return netmem_ffi.profile("v7.2")


def _drain_and_close(obj: object) -> None:
    try:
        obj.close()  # type: ignore[attr-defined]
    except netmem_ffi.BusyError:
        pass  # a test that leaves references behind keeps its memory; nothing is freed under a ref


@pytest.fixture
def area(prof: netmem_ffi.Profile) -> Iterator[object]:
    """A 16-niov devmem area of the profile under test."""
    a = prof.NetIovArea(16, netmem_ffi.NET_IOV_DMABUF, base_dma_addr=0x10_0000_0000)
    yield a
    _drain_and_close(a)


@pytest.fixture
def uring_area(v72: netmem_ffi.Profile) -> Iterator[object]:
    a = v72.NetIovArea(8, netmem_ffi.NET_IOV_IOURING)
    yield a
    _drain_and_close(a)


@pytest.fixture
def pages(prof: netmem_ffi.Profile) -> Iterator[object]:
    """A 64-page map on node 3 of the profile under test."""
    m = prof.PageMap(64, nid=3, base_pfn=0x2000)
    yield m
    _drain_and_close(m)
