"""Issue 12's "never hold two decompressed levels": each level of an input is held alone, then re-streamed."""

from __future__ import annotations

import errno
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_kernel_inputs import (
    COMPRESSORS,
    make_btf,
    make_bzimage,
    make_deb,
    make_elf,
    make_raw_image,
)

from netmem_ffi.errors import KernelInputError
from netmem_ffi.kernel import levels
from netmem_ffi.kernel.codecs import stream_chunks
from netmem_ffi.kernel.inputs import read_btf_bytes
from netmem_ffi.kernel.levels import BufferLevel, StreamLevel, _window, take
from netmem_ffi.layout.budget import Budget

_MiB = 1 << 20
LEVEL = 32 * _MiB
#: What streaming costs beside the level held, per level of the chain re-inflated (chunks of 1 MiB in flight).
IN_FLIGHT = 4 * _MiB


def _padded(inner: bytes, size: int = LEVEL) -> bytes:
    """*inner* embedded in a level of *size* bytes (zeros around it, so it compresses to little)."""
    return b"\x00" * 64 + inner + b"\x00" * (size - 64 - len(inner))


def _onion(levels: int) -> tuple[bytes, bytes]:
    """An image *levels* gzip streams deep, each level inflating to 32 MiB; (the file, its BTF)."""
    btf = make_btf()
    data = _padded(make_raw_image(btf))
    for _ in range(levels - 1):
        data = _padded(COMPRESSORS["gzip"](data))
    return COMPRESSORS["gzip"](data), btf


def _peak_reading(path: Path) -> tuple[bytes, int]:
    tracemalloc.start()
    try:
        blob = read_btf_bytes(path)
        return blob.btf, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("levels", [2, 3])
def test_one_decompressed_level_is_held_at_a_time(tmp_path: Path, levels: int) -> None:
    """Levels of 32 MiB each, nested 2 and 3 deep: the peak is one level (its growth slack included) and
    the chunks in flight, well under two levels."""
    data, btf = _onion(levels)
    path = tmp_path / "onion"
    path.write_bytes(data)
    found, peak = _peak_reading(path)
    assert found == btf
    assert peak < LEVEL * 9 // 8 + IN_FLIGHT * levels < 2 * LEVEL, f"{peak:,} bytes at peak for {levels} levels of {LEVEL:,}"


def test_each_level_is_inflated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A decompressed level with children is kept in a temporary file: its children never inflate it again."""
    inflated: list[int] = []

    def counting(*args: object, **kwargs: object) -> Iterator[bytes]:
        for chunk in stream_chunks(*args, **kwargs):  # type: ignore[arg-type]
            inflated.append(len(chunk))
            yield chunk

    monkeypatch.setattr(levels, "stream_chunks", counting)
    data, btf = _onion(3)
    path = tmp_path / "onion"
    path.write_bytes(data)
    assert read_btf_bytes(path).btf == btf
    assert sum(inflated) == 3 * LEVEL  # each level once: the file's payload, then the stream inside each


def test_a_temporary_file_that_cannot_be_written_is_a_kernel_input_error(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def full(*args: object, **kwargs: object) -> object:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", full)
    data, _ = _onion(2)
    path = tmp_path / "onion"
    path.write_bytes(data)
    with pytest.raises(KernelInputError, match="temporary file for the gzip payload: No space left on device"):
        read_btf_bytes(path)


def test_deb_inside_a_compressed_stream_is_walked_from_the_stream(tmp_path: Path) -> None:
    """A package that is itself a decompressed level (not the file): kept in a temporary file and walked there."""
    btf = make_btf()
    path = tmp_path / "deb.gz"
    path.write_bytes(COMPRESSORS["gzip"](make_deb(make_bzimage(make_elf(btf), "xz"), data_codec="xz")))
    blob = read_btf_bytes(path)
    assert (blob.btf, blob.arch_hint) == (btf, "x86_64")


def test_a_level_larger_than_the_held_budget_is_refused_while_streaming() -> None:
    data = COMPRESSORS["gzip"](b"\x00" * (4 * _MiB))
    level = StreamLevel(BufferLevel(data, "x"), 0, len(data), "gzip", "x (gzip payload at 0x0)")
    budget = Budget(held=_MiB)
    with pytest.raises(KernelInputError, match="held budget"):
        take(level, budget, "gzip payload")
    assert budget.spent.get("inflate", 0) <= 2 * _MiB  # stopped at the first chunk past the budget


def _chunked(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    pos = 0
    for size in sizes:
        yield data[pos:pos + size]
        pos += size
    yield data[pos:]


@given(data=st.binary(max_size=300), sizes=st.lists(st.integers(0, 40), max_size=12),
       offset=st.integers(0, 320), size=st.one_of(st.none(), st.integers(0, 320)))
def test_window_is_the_slice(data: bytes, sizes: list[int], offset: int, size: int | None) -> None:
    got = b"".join(_window(_chunked(data, sizes), offset, size))
    assert got == data[offset:None if size is None else offset + size]


def test_an_input_file_larger_than_the_held_budget_is_refused_unread(tmp_path: Path) -> None:
    """A sparse file of 1 GiB (no disk, no memory): refused by its size, not after reading 128 MiB of it."""
    path = tmp_path / "huge.img"
    with open(path, "wb") as fh:
        fh.truncate(1 << 30)
    budget = Budget()
    with pytest.raises(KernelInputError, match=r"input file of 1,073,741,824 bytes is larger than .*held budget"):
        read_btf_bytes(path, budget)
    tracemalloc.start()
    try:
        with pytest.raises(KernelInputError):
            read_btf_bytes(path, budget)
        assert tracemalloc.get_traced_memory()[1] < _MiB
    finally:
        tracemalloc.stop()


def test_a_file_that_grows_after_its_size_was_checked_is_not_held_whole(tmp_path: Path) -> None:
    """``take`` checks the size once and reads a buffer of that size only: a file that grew since is streamed,
    within the held budget, not read whole at its new size."""
    path = tmp_path / "grows.img"
    path.write_bytes(b"a" * 4096)
    with open(path, "rb") as fh:
        level = levels.FileLevel(fh, str(path))
        assert level.whole(4096) == b"a" * 4096
        with open(path, "ab") as more:
            more.write(b"b" * 4096)
        assert level.whole(4096) is None  # not the size told: the caller falls back to bounded chunks
        with pytest.raises(KernelInputError, match="held"):
            take(level, Budget(held=6000), "input file")  # told 8,192 now: refused by its size
