"""The refcount path of one generation: get/put_netmem, bulk forms, io_uring user refs, pp_ref_count.

Every counter is moved by the C runtime with real atomics, the GIL released,
and nothing changed when a call fails.  ``get_netmem``/``put_netmem`` are the
compiled METH_O entry points of ``cdefs/netmem_py.c`` (one C call per ref,
argument and error checks in C); the rest are methods over
:class:`~netmem_ffi.runtime.core.Runtime`.
"""

from __future__ import annotations

from netmem_ffi.runtime import validate
from netmem_ffi.runtime.core import Runtime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from netmem_ffi.runtime.core import RefOp

__all__ = ["RefcountPath"]


class RefcountPath:
    """The refcount helpers of one generation's runtime (a base of :class:`~netmem_ffi.Profile`)."""

    #: ``get_netmem(netmem, /)``: take a reference (the head page's ``_refcount``, or
    #: the devmem binding's refcount; io_uring niovs are left alone).  Compiled.
    get_netmem: RefOp
    #: ``put_netmem(netmem, /)``: drop a reference (a page is freed and poisoned at
    #: zero; the area's own binding reference cannot be dropped).  Compiled.
    put_netmem: RefOp

    def __init__(self, rt: Runtime) -> None:
        self.runtime = rt
        self.get_netmem = rt.get_netmem
        self.put_netmem = rt.put_netmem

    def _bulk(self, sign: int, refs: object) -> int:
        rt = self.runtime
        batch = rt.ref_batch(refs)
        n = len(batch)
        bad, bad_ref = rt.ffi.new("size_t *"), rt.ffi.new("netmem_ref *")
        rc = rt.lib.nm_netmem_bulk(batch, n, sign, bad, bad_ref)
        if rc:
            i, ref = int(bad[0]), int(bad_ref[0])  # the ref as the batch read it
            err = rt.error(rc, ref, f"refs[{i}] =")
            raise type(err)(f"{err} (whole batch of {n} undone)", ref)
        return n

    def get_netmem_bulk(self, refs: object) -> int:
        """get_netmem() on every ref in one C call; all or nothing.  Returns the count.

        ``refs``: a sequence of ints, a buffer of 8-byte unsigned ints (``array('Q')``)
        or a ``netmem_ref[]`` cdata, each ref's value read once (a buffer in place, with no
        copy first; another thread rewriting it meanwhile cannot change the outcome:
        a failed batch is undone from a log of its moves).
        Consecutive niovs of one devmem binding move it once.  On an error nothing
        is changed; the error names the first bad ref.
        """
        return self._bulk(1, refs)

    def put_netmem_bulk(self, refs: object) -> int:
        """put_netmem() on every ref in one C call; all or nothing (pages freed only at the end).

        Same arguments and guarantees as :meth:`get_netmem_bulk`.
        """
        return self._bulk(-1, refs)

    def io_zcrx_get_niov_uref(self, niov: object) -> None:
        """``atomic_inc(&area->user_refs[net_iov_idx(niov)])`` of an io_uring zcrx niov.

        Raises :class:`WrongProviderError` for a devmem niov.
        """
        rt = self.runtime
        rt.call(rt.lib.nm_uref_get, validate.niov_ref(niov))

    def io_zcrx_put_niov_uref(self, niov: object) -> bool:
        """Decrement the niov's user ref only if it is above 0; False when it was 0."""
        rt = self.runtime
        dropped = rt.ffi.new("int *")
        rt.call(rt.lib.nm_uref_put, validate.niov_ref(niov), dropped)
        return bool(dropped[0])

    def page_pool_fragment_netmem(self, netmem: int, nr: int) -> None:
        """Set ``pp_ref_count`` to ``nr`` (the caller owns a fresh netmem)."""
        rt = self.runtime
        rt.call(rt.lib.nm_pp_fragment, netmem, validate.count(nr, "nr"))

    def page_pool_ref_netmem(self, netmem: int) -> None:
        """``atomic_long_inc(&pp_ref_count)``; :class:`RefcountOverflowError` at LONG_MAX."""
        rt = self.runtime
        rt.call(rt.lib.nm_pp_ref, netmem)

    def page_pool_unref_netmem(self, netmem: int, nr: int) -> int:
        """Drop ``nr`` pp references; returns what remains (0: the caller held the last).

        Fast path: a counter equal to ``nr`` ends at 1 and 0 is returned.
        Otherwise ``nr`` is subtracted.  Where the kernel would WARN on a
        negative result, :class:`~netmem_ffi.RefcountUnderflowError` is raised
        and the counter is left as it was.
        """
        rt = self.runtime
        ret = rt.ffi.new("long *")
        rt.call(rt.lib.nm_pp_unref, netmem, validate.count(nr, "nr", 1), ret)
        return int(ret[0])

    def page_pool_unref_and_test(self, netmem: int) -> bool:
        """``page_pool_unref_netmem(netmem, 1) == 0``: whether the caller dropped the last pp reference (6.14+)."""
        return self.page_pool_unref_netmem(netmem, 1) == 0

    def page_pool_is_last_ref(self, netmem: int) -> bool:
        """6.12/6.13's name of :meth:`page_pool_unref_and_test` (same semantics)."""
        return self.page_pool_unref_netmem(netmem, 1) == 0
