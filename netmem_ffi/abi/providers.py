"""``enum net_iov_type`` as the public ``NetIovType`` IntEnum (``netmem_ffi.NetIovType``).

Its numbers live in :mod:`netmem_ffi.abi.constants`; this module adds the
names, and with them the ``enum`` import, which only the users of the enum pay
(``netmem_ffi`` binds these names on first access, ``NetIov.type`` on first read).
"""

from __future__ import annotations

from enum import IntEnum

from netmem_ffi.abi import constants

__all__ = ["NET_IOV_DMABUF", "NET_IOV_IOURING", "NetIovType"]


class NetIovType(IntEnum):
    """``enum net_iov_type`` (include/net/netmem.h): the memory provider a net_iov belongs to.

    6.16-6.18 also declare ``NET_IOV_MAX = ULONG_MAX``, a sentinel that only widens
    the enum to a word; it names no provider, so it is not a member.
    """

    NET_IOV_DMABUF = constants.NET_IOV_DMABUF
    NET_IOV_IOURING = constants.NET_IOV_IOURING


NET_IOV_DMABUF = NetIovType.NET_IOV_DMABUF
NET_IOV_IOURING = NetIovType.NET_IOV_IOURING
