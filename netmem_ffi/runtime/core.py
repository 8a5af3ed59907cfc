"""The runtime of one profile: error mapping and the refcount path over the C runtime.

:func:`bind` gives a :class:`~netmem_ffi.runtime.profiles.Profile` every name of
:data:`RUNTIME_NAMES`: the refcount path (here), the netmem and page_pool
helpers (:mod:`netmem_ffi.runtime.helpers`) and the owned memory
(:mod:`netmem_ffi.runtime.memory`).  The hot functions are closures over the compiled
``lib`` so that a call from Python costs one cffi call plus a compare; the C
side validates the ref before touching memory and releases the GIL.
"""

from __future__ import annotations

import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from netmem_ffi import errors
from netmem_ffi.abi.constants import NET_IOV_DMABUF, NET_IOV_IOURING

if TYPE_CHECKING:
    from netmem_ffi.runtime.profiles import Profile

__all__ = ["NET_IOV_DMABUF", "NET_IOV_IOURING", "RUNTIME_NAMES", "bind", "Runtime"]

#: Names every profile (and the top level, for the default profile) exports.
RUNTIME_NAMES = (
    # memory
    "NetIovArea",
    "NetIov",
    "PageMap",
    "DmaDevice",
    # refcount path
    "get_netmem",
    "put_netmem",
    "get_netmem_bulk",
    "put_netmem_bulk",
    "io_zcrx_get_niov_uref",
    "io_zcrx_put_niov_uref",
    "page_pool_fragment_netmem",
    "page_pool_ref_netmem",
    "page_pool_unref_netmem",
    "page_pool_unref_and_test",
    # netmem.h helpers
    "NET_IOV",
    "netmem_is_net_iov",
    "netmem_to_page_unchecked",
    "netmem_to_page",
    "netmem_to_net_iov",
    "net_iov_to_netmem",
    "page_to_netmem",
    "virt_to_netmem",
    "netmem_ref_count",
    "netmem_pfn_trace",
    "netmem_to_nmdesc",
    "netmem_to_nmdesc_unchecked",
    "netmem_get_pp",
    "netmem_get_pp_unchecked",
    "netmem_get_pp_ref_count_ref",
    "netmem_is_pref_nid",
    "netmem_compound_head",
    "netmem_address",
    "netmem_address_unchecked",
    "netmem_is_pfmemalloc",
    "netmem_get_dma_addr",
    "netmem_dma_addr_encode",
    "netmem_dma_addr_decode",
    "netmem_dma_addr_fits",
    "net_is_devmem_iov",
    "net_iov_owner",
    "net_iov_idx",
    "net_iov_init",
    "netmem_dma_unmap_addr_set",
    "netmem_dma_unmap_page_attrs",
    # page_pool side (net/core/netmem_priv.h, page_pool helpers)
    "netmem_set_pp",
    "netmem_set_dma_addr",
    "netmem_get_pp_magic",
    "netmem_or_pp_magic",
    "netmem_clear_pp_magic",
    "netmem_is_pp",
    "netmem_get_dma_index",
    "netmem_set_dma_index",
    "page_pool_page_is_pp",
    "page_pool_set_pp_info",
    "page_pool_clear_pp_info",
    "page_pool_get_dma_addr_netmem",
    "page_pool_set_dma_addr_netmem",
    "netmem_kind",
)


class Runtime:
    """Error mapping and low-level access for one compiled profile (``lib``, ``ffi``)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.name = profile.name
        self.ffi = profile.ffi
        self.lib = profile.lib
        self.module_file = profile.module_file
        lib = self.lib
        #: Page-frame memory of PageMaps: mmap'ed by the C runtime, owned (and freed) by Python.
        self.frames_allocator = self.ffi.new_allocator(
            alloc=lib.nm_frames_alloc, free=lib.nm_frames_free, should_clear_after_alloc=False)
        self.messages: dict[int, tuple[type[errors.NetmemError], str]] = {
            lib.NM_E_NOT_OWNED: (errors.NotOwnedError, "does not point at any net_iov or struct page owned by profile {p}"),
            lib.NM_E_MISALIGNED: (errors.MisalignedRefError, "points inside owned memory but not at the start of a struct net_iov / struct page"),
            lib.NM_E_NOT_NIOV: (errors.NotNetIovError, "is a page ref (NET_IOV bit clear); a net_iov ref was expected"),
            lib.NM_E_NOT_PAGE: (errors.NotPageError, "is a net_iov ref (NET_IOV bit set) or page-frame address; a struct page ref was expected"),
            lib.NM_E_TAG_MISMATCH: (errors.TagMismatchError, "has a NET_IOV bit that disagrees with the memory it points at"),
            lib.NM_E_FREED: (errors.UseAfterFreeError, "points at a freed page (its _refcount reached zero)"),
            lib.NM_E_CLOSED: (errors.ClosedError, "points into a NetIovArea or PageMap that was closed"),
            lib.NM_E_UNDERFLOW: (errors.RefcountUnderflowError, "would take its reference count below its floor; nothing was changed"),
            lib.NM_E_OVERFLOW: (errors.RefcountOverflowError, "would overflow its reference count; nothing was changed"),
            lib.NM_E_BUSY: (errors.BusyError, "still has references outstanding"),
            lib.NM_E_NOMEM: (errors.NetmemMemoryError, "could not be allocated"),
            lib.NM_E_INVAL: (errors.NetmemValueError, "is out of range"),
            lib.NM_E_BINDING_DEAD: (errors.BindingDeadError, "belongs to a devmem binding whose refcount already reached zero"),
            lib.NM_E_WRONG_PROVIDER: (errors.WrongProviderError, "is not an io_uring (NET_IOV_IOURING) niov; user refs exist only there"),
            lib.NM_E_NO_SPACE: (errors.OutOfPagesError, "has no free block of that order"),
        }

    def error(self, code: int, value: object, what: str = "netmem_ref") -> errors.NetmemError:
        """The exception for C error ``code`` about ``value``."""
        hint = ""
        if code in (self.lib.NM_E_NOT_OWNED, self.lib.NM_E_CLOSED) and isinstance(value, int):
            owner = self._other_owner(value)  # memory another generation's runtime owns
            if owner:
                code, hint = self.lib.NM_E_NOT_OWNED, f" (it belongs to profile {owner}; call that profile's helpers)"
        cls, message = self.messages.get(code, (errors.NetmemError, f"failed with C error {code}"))
        shown = f"{value:#x}" if isinstance(value, int) and not isinstance(value, bool) else repr(value)
        return cls(f"{what} {shown} " + message.format(p=self.name) + hint, value)

    def _other_owner(self, value: int) -> str | None:
        from netmem_ffi.runtime.profiles import loaded

        for other in loaded():
            if other.name != self.name and value >= 0 and value < 1 << 64 and other.lib.nm_owns(value):
                return other.name
        return None

    def bad_ref(self, value: object, what: str = "netmem_ref") -> errors.NetmemError:
        """The exception for an argument cffi could not convert to an unsigned long."""
        if isinstance(value, int):
            return errors.NetmemValueError(f"{what} {value:#x} is outside 0 .. 2**64-1", value)
        hint = " (pass its .netmem)" if hasattr(value, "netmem") else ""
        return errors.NetmemTypeError(f"{what} must be an int, got {type(value).__name__} {value!r}{hint}", value)

    def fast_entry_points(self) -> dict[str, Any]:
        """The CPython-level get/put_netmem of ``cdefs/netmem_py.c`` (argument check, GIL
        release and error check in C), bound to this runtime's error mapping."""
        import ctypes

        def make_error(code: int, value: object) -> errors.NetmemError:
            return self.bad_ref(value) if code == 0 else self.error(code, value)

        bind = ctypes.PyDLL(self.module_file).nm_py_bind
        bind.argtypes = [ctypes.py_object]
        bind.restype = ctypes.py_object
        return dict(bind(make_error))

    def check(self, code: int, value: object, what: str = "netmem_ref") -> None:
        if code:
            raise self.error(code, value, what)

    def call(self, fn: Callable[..., int], value: object, *args: Any, what: str = "netmem_ref") -> int:
        """Call ``fn(value, *args)``; map conversion failures and error codes to exceptions."""
        try:
            code = fn(value, *args)
        except (TypeError, OverflowError):
            raise self.bad_ref(value, what) from None
        if code:
            raise self.error(code, value, what)
        return code

    def load(self, netmem: object, field: int) -> int:
        """Validated load of one descriptor field (``NM_F_*``)."""
        out = self.ffi.new("unsigned long *")
        self.call(self.lib.nm_load, netmem, field, out)
        return int(out[0])

    def kind(self, netmem: object) -> int:
        """``NM_KIND_NIOV`` or ``NM_KIND_PAGE`` for a valid ref; raises otherwise."""
        try:
            rc = self.lib.nm_classify(netmem)
        except (TypeError, OverflowError):
            raise self.bad_ref(netmem) from None
        if rc < 0:
            raise self.error(-rc, netmem)
        return int(rc)

    def refs_buffer(self, refs: Any) -> tuple[Any, int]:
        """A ``netmem_ref[]`` for a sequence of ints or a buffer of 8-byte refs, and its length."""
        if isinstance(refs, self.ffi.CData):
            ctype = self.ffi.typeof(refs)
            if ctype.kind != "array" or ctype.item is not self.ffi.typeof("netmem_ref"):
                raise errors.NetmemTypeError(f"refs cdata must be a netmem_ref[] array, got {ctype.cname}", refs)
            return refs, len(refs)
        if isinstance(refs, (bytes, bytearray, memoryview, array.array)) or hasattr(refs, "__array_interface__"):
            view = memoryview(refs)
            if view.itemsize != 8 or view.format not in ("Q", "L", "<Q", "=Q", "@Q", "B") or view.nbytes % 8:
                raise errors.NetmemTypeError(
                    f"a buffer of refs must hold 8-byte unsigned ints (format 'Q'), got format {view.format!r} "
                    f"itemsize {view.itemsize}", refs)
            return self.ffi.from_buffer("netmem_ref[]", refs), view.nbytes // 8
        try:
            seq = list(refs)
        except TypeError:
            raise errors.NetmemTypeError(f"refs must be a sequence or buffer of netmem_ref ints, got {type(refs).__name__}", refs) from None
        try:
            return self.ffi.new("netmem_ref[]", seq), len(seq)
        except (TypeError, OverflowError):
            for i, v in enumerate(seq):
                if not isinstance(v, int) or not 0 <= v < 1 << 64:
                    err = self.bad_ref(v, f"refs[{i}]")
                    raise type(err)(str(err), v) from None
            raise


def _refcount_path(rt: Runtime) -> dict[str, Any]:
    """get/put_netmem, bulk forms, io_zcrx user refs and pp_ref_count, as lean closures."""
    lib, ffi = rt.lib, rt.ffi
    fast = rt.fast_entry_points()
    get_netmem, put_netmem = fast["get_netmem"], fast["put_netmem"]
    c_get_bulk, c_put_bulk = lib.nm_get_netmem_bulk, lib.nm_put_netmem_bulk
    error, call = rt.error, rt.call

    def _bulk(fn: Callable[..., int], refs: Any) -> int:
        buf, n = rt.refs_buffer(refs)
        bad = ffi.new("size_t *")
        rc = fn(buf, n, bad)
        if rc:
            i = int(bad[0])
            err = error(rc, int(buf[i]), f"refs[{i}] =")
            raise type(err)(f"{err} (whole batch of {n} undone)", int(buf[i]))
        return n

    def get_netmem_bulk(refs: Any) -> int:
        """get_netmem() on every ref in one C call; all or nothing. Returns the count."""
        return _bulk(c_get_bulk, refs)

    def put_netmem_bulk(refs: Any) -> int:
        """put_netmem() on every ref in one C call; all or nothing (pages freed only at the end)."""
        return _bulk(c_put_bulk, refs)

    def io_zcrx_get_niov_uref(niov: Any) -> None:
        """``atomic_inc(&area->user_refs[net_iov_idx(niov)])`` of an io_uring zcrx niov."""
        call(lib.nm_uref_get, _niov_ref(niov))

    def io_zcrx_put_niov_uref(niov: Any) -> bool:
        """Decrement the niov's user ref only if it is above 0; False when it was 0."""
        dropped = ffi.new("int *")
        call(lib.nm_uref_put, _niov_ref(niov), dropped)
        return bool(dropped[0])

    def page_pool_fragment_netmem(netmem: int, nr: int) -> None:
        """Set ``pp_ref_count`` to ``nr`` (the caller owns a fresh netmem)."""
        _check_count(nr, "nr")
        call(lib.nm_pp_fragment, netmem, nr)

    def page_pool_ref_netmem(netmem: int) -> None:
        """``atomic_long_inc(&pp_ref_count)``."""
        call(lib.nm_pp_ref, netmem)

    def page_pool_unref_netmem(netmem: int, nr: int) -> int:
        """Drop ``nr`` pp references; returns what remains (0: the caller held the last).

        Fast path: a counter equal to ``nr`` ends at 1 and 0 is returned.
        Otherwise ``nr`` is subtracted.  Where the kernel would WARN on a
        negative result, :class:`~netmem_ffi.RefcountUnderflowError` is raised
        and the counter is left as it was.
        """
        _check_count(nr, "nr", minimum=1)
        ret = ffi.new("long *")
        call(lib.nm_pp_unref, netmem, nr, ret)
        return int(ret[0])

    def page_pool_unref_and_test(netmem: int) -> bool:
        """``page_pool_unref_netmem(netmem, 1) == 0`` (``page_pool_is_last_ref`` in 6.12)."""
        return page_pool_unref_netmem(netmem, 1) == 0

    return {k: v for k, v in locals().items() if k in RUNTIME_NAMES}


def _niov_ref(niov: Any) -> Any:
    """A niov argument: a NetIov view or a netmem_ref; the C side checks the rest."""
    return getattr(niov, "netmem", niov)


def _check_count(nr: object, what: str, minimum: int = 0) -> None:
    if not isinstance(nr, int) or isinstance(nr, bool):
        raise errors.NetmemTypeError(f"{what} must be an int, got {type(nr).__name__} {nr!r}", nr)
    if not minimum <= nr < 1 << 63:
        raise errors.NetmemValueError(f"{what} = {nr} is out of range ({minimum} .. 2**63-1)", nr)


def bind(profile: Profile) -> None:
    """Attach the whole runtime API of :data:`RUNTIME_NAMES` to ``profile``."""
    from netmem_ffi.runtime import helpers
    from netmem_ffi.runtime import memory

    rt = Runtime(profile)
    names: dict[str, Any] = {}
    names.update(_refcount_path(rt))
    names.update(helpers.make_helpers(rt))
    names.update(memory.make_memory(rt))
    missing = set(RUNTIME_NAMES) - set(names)
    if missing:
        raise RuntimeError(f"runtime of {profile.name} lacks {sorted(missing)}")
    profile.runtime = rt
    for name in RUNTIME_NAMES:
        setattr(profile, name, names[name])
