"""The live page_pools of this process by the address their netmems store in ``pp``.

:mod:`netmem_ffi.runtime.page_pool` registers each pool; the helpers
(:mod:`netmem_ffi.runtime.helpers`) answer what a ``pp`` word points at, when
it is the package's own.  Held weakly, on ``_weakref`` (the weakref module's C
half: the module itself would cost every first call ~1.5 ms).
"""

from __future__ import annotations

import _weakref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["POOLS"]


class _LivePools:
    """Live objects by address, held weakly: one that becomes garbage drops out (a WeakValueDictionary's part we use)."""

    __slots__ = ("_refs",)

    def __init__(self) -> None:
        self._refs: dict[int, _weakref.ReferenceType[Any]] = {}

    def __setitem__(self, addr: int, value: object) -> None:
        refs = self._refs
        # the callback removes the entry only while it still holds that dead reference (atomically, in C)
        refs[addr] = _weakref.ref(value, lambda _dead: _weakref._remove_dead_weakref(refs, addr))  # type: ignore[attr-defined]

    def get(self, addr: int) -> Any:
        """The live object at *addr*, or None."""
        ref = self._refs.get(addr)
        return None if ref is None else ref()


#: Live page_pools by the address their netmems store in ``pp`` (runtime/page_pool.py
#: registers them): what a ``pp`` word points at, when it is the package's own.
POOLS = _LivePools()
