"""Kernel constants the netmem helpers use, computed for a word size from their definitions.

Values follow include/linux/poison.h, include/linux/mm.h and
include/net/netmem.h (docs/netmem-abi.md section 5.3): LP64 with
``CONFIG_ILLEGAL_POINTER_VALUE=0xdead000000000000`` (Debian amd64), ILP32 with
``POISON_POINTER_DELTA = 0`` and a constant ``PAGE_OFFSET``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple

NET_IOV = 0x1
#: ``enum net_iov_type`` (include/net/netmem.h) as numbers; :mod:`netmem_ffi.abi.providers` gives them
#: their public face, the ``NetIovType`` IntEnum (apart: ``enum`` costs ~4 ms, a script's first
#: get_netmem does not need it, and neither do the tools).
NET_IOV_DMABUF = 0
NET_IOV_IOURING = 1
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
#: CONFIG_NODES_SHIFT=10 (both Debian amd64 configs); nid sits at the top of page->flags.
NODES_WIDTH = 10
NODES_MASK = (1 << NODES_WIDTH) - 1


def _genmask(high: int, low: int) -> int:
    return ((1 << (high - low + 1)) - 1) << low


def _ffs(x: int) -> int:
    return (x & -x).bit_length() - 1


class WordConstants(NamedTuple):
    """pp_magic / poison constants for one word size (and, on ILP32, one PAGE_OFFSET)."""

    bits: int
    poison_pointer_delta: int
    pp_signature: int
    pp_dma_index_shift: int
    pp_dma_index_bits: int
    pp_dma_index_mask: int
    pp_magic_mask: int
    list_poison1: int
    list_poison2: int
    nodes_pgshift: int

    @property
    def word_mask(self) -> int:
        return (1 << self.bits) - 1

    @property
    def pp_dma_index_limit(self) -> tuple[int, int]:
        """XA_LIMIT(1, BIT(PP_DMA_INDEX_BITS) - 1)."""
        return (1, (1 << self.pp_dma_index_bits) - 1)


def word_constants(bits: int = 64, page_offset: int = 0xC0000000, *, dma_index: bool = True) -> WordConstants:
    """The constants for a ``bits``-bit kernel; ``page_offset`` matters only on ILP32.

    ``dma_index=False``: a kernel before the DMA index in pp_magic (6.15, commit
    ee62ce7a1d90 "page_pool: Track DMA-mapped pages and unmap them when
    destroying the pool"; backported to a later 6.12 stable release): no index
    bits, and ``PP_MAGIC_MASK`` is ``~0x3``.
    """
    mask = (1 << bits) - 1
    delta = 0xDEAD000000000000 if bits == 64 else 0
    signature = 0x40 + delta
    shift = 1 + ((signature - delta).bit_length() - 1)  # 1 + __fls(0x40) = 7
    if not dma_index:
        index_bits = 0
    elif delta:
        index_bits = min(32, _ffs(delta) - shift)
    elif page_offset >= (1 << (shift + 8)) and page_offset % (1 << (shift + 8)) == 0:
        index_bits = min(32, _ffs(page_offset) - shift)
    else:
        index_bits = 0
    index_mask = _genmask(index_bits + shift - 1, shift) if index_bits else 0
    return WordConstants(
        bits=bits,
        poison_pointer_delta=delta,
        pp_signature=signature,
        pp_dma_index_shift=shift,
        pp_dma_index_bits=index_bits,
        pp_dma_index_mask=index_mask,
        pp_magic_mask=~(index_mask | 0x3) & mask,
        list_poison1=0x100 + delta,
        list_poison2=0x122 + delta,
        nodes_pgshift=bits - NODES_WIDTH,
    )


LP64 = word_constants(64)
#: LP64 before the DMA index bits of pp_magic (the 6.12 release).
LP64_NO_DMA_INDEX = word_constants(64, dma_index=False)
