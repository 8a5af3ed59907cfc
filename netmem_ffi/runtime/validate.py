"""The one place that checks Python arguments of the runtime: words, counts, refs, enums.

Every runtime function validates its Python arguments here before any C call,
so a wrong type or an out-of-range value raises the same
:class:`~netmem_ffi.NetmemTypeError` / :class:`~netmem_ffi.NetmemValueError`
with the same wording wherever it is passed.  Whether a ref points at owned
memory is the C runtime's decision (``netmem_ffi.runtime.core``), not this
module's.
"""

from __future__ import annotations

from netmem_ffi import errors
from netmem_ffi.abi.constants import LP64, NET_IOV, NET_IOV_DMABUF, NET_IOV_IOURING

__all__ = ["WORD_MASK", "COUNT_MAX", "shown", "word", "count", "niov_ref", "provider", "PROVIDER_NAMES"]

#: The largest machine word of the modelled LP64 host (``unsigned long``).
WORD_MASK = LP64.word_mask
#: The largest ``long`` counter argument (``nr`` of the page_pool helpers).
COUNT_MAX = (1 << 63) - 1
PROVIDER_NAMES: dict[int, str] = {NET_IOV_DMABUF: "NET_IOV_DMABUF", NET_IOV_IOURING: "NET_IOV_IOURING"}


def shown(value: object) -> str:
    """``value`` for an error message: its type and repr, cut at 80 characters."""
    return f"{type(value).__name__} {value!r}"[:80]


def _int(value: object, what: str) -> int:
    """``value`` itself if it is an ``int`` (not a ``bool``); :class:`NetmemTypeError` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    hint = " (pass its .netmem)" if hasattr(value, "netmem") else ""
    raise errors.NetmemTypeError(f"{what} must be an int, got {shown(value)}{hint}", value)


def word(value: object, what: str = "netmem_ref") -> int:
    """A machine word (a ref, an address, a DMA address): an ``int`` in ``0 .. 2**64-1``.

    Raises :class:`NetmemTypeError` for a non-int, :class:`NetmemValueError` out of range.
    """
    n = _int(value, what)
    if not 0 <= n <= WORD_MASK:
        raise errors.NetmemValueError(f"{what} {n:#x} is outside 0 .. 2**64-1", n)
    return n


def count(value: object, what: str, low: int = 0, high: int = COUNT_MAX) -> int:
    """A count or index: an ``int`` in ``low .. high``.

    Raises :class:`NetmemTypeError` for a non-int, :class:`NetmemValueError` out of range.
    """
    n = _int(value, what)
    if not low <= n <= high:
        raise errors.NetmemValueError(f"{what} = {n} is out of range ({low} .. {_bound(high)})", n)
    return n


def _bound(n: int) -> str:
    """A large bound as the power of two it is next to (``2**63-1``, ``2**32``)."""
    if n >= 1 << 32 and not (n + 1) & n:
        return f"2**{n.bit_length()}-1"
    if n >= 1 << 32 and not n & (n - 1):
        return f"2**{n.bit_length() - 1}"
    return str(n)


def niov_ref(niov: object) -> int:
    """A ``struct net_iov *`` argument (a NetIov view or a niov ``netmem_ref``) as its ref.

    Raises :class:`NotNetIovError` for a page ref (NET_IOV bit clear); whether the
    niov exists is left to the C runtime.
    """
    ref = word(getattr(niov, "netmem", niov), "niov")
    if not ref & NET_IOV:
        raise errors.NotNetIovError(f"niov {ref:#x} is not a net_iov ref (NET_IOV bit clear)", ref)
    return ref


def provider(value: object) -> int:
    """An ``enum net_iov_type`` value, as a plain int: ``NET_IOV_DMABUF`` or ``NET_IOV_IOURING``.

    Raises :class:`NetmemValueError` for anything else (``True`` included).
    """
    if isinstance(value, int) and not isinstance(value, bool) and value in PROVIDER_NAMES:
        return int(value)
    raise errors.NetmemValueError(
        f"type {value!r} is not NET_IOV_DMABUF ({NET_IOV_DMABUF}) or NET_IOV_IOURING ({NET_IOV_IOURING})", value)
