"""One compiled generation's C runtime: loading it, calling it, and mapping its errors.

:func:`runtime` loads a generation's compiled cffi module (``netmem_ffi._abi_*``)
once per process and wraps it in a :class:`Runtime`: validated field loads and
updates, the ``NM_E_*`` error codes as :class:`~netmem_ffi.NetmemError`
subclasses, private copies of ref batches, and the CPython entry points of
``cdefs/netmem_py.c`` (``get_netmem``/``put_netmem`` with the argument check,
GIL release and error check in C).  Everything above this module (memory,
helpers, profiles) reaches C only through a Runtime.
"""

from __future__ import annotations

import _thread  # threading's own locks, without importing threading (start-up time, issue 18)
import os

from netmem_ffi import errors
from netmem_ffi.abi import registry
from netmem_ffi.runtime import validate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from importlib.machinery import ExtensionFileLoader
    from types import ModuleType
    from typing import Any, TypeVar

    _T = TypeVar("_T")

    #: ``get_netmem`` / ``put_netmem``: one ref in, nothing out (compiled, METH_O).
    RefOp = Callable[[int], None]

# (collections.abc and types are for the type checker only: collections costs every first call ~2.5 ms)
__all__ = ["Runtime", "loaded", "once", "runtime"]

#: The buffer formats whose items are 8-byte unsigned refs.
_REF_FORMATS = ("Q", "<Q", "=Q", "@Q", "L", "<L", "=L", "@L")


class Runtime:
    """The C runtime of one compiled generation (``ffi``, ``lib``) and its error mapping."""

    def __init__(self, spec: registry.ProfileSpec, module: ModuleType | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        # __import__, not importlib.import_module: importing importlib (and warnings) costs the first call ~1 ms
        self.module = module = module or __import__(f"netmem_ffi.{spec.module}", fromlist=("ffi",))
        self.ffi: Any = module.ffi
        self.lib: Any = module.lib
        self.module_file = str(module.__file__)
        lib, ffi = self.lib, self.ffi
        #: Page frames: Python-owned memory the C runtime works in, mmap'ed by C (zeroed)
        #: and unmapped when the last Python reference to it goes.
        self.frames_allocator = ffi.new_allocator(
            alloc=lib.nm_frames_alloc, free=lib.nm_frames_free, should_clear_after_alloc=False)
        #: Ref copies: Python-owned, not cleared (the C side writes every byte it reads).
        self.raw_allocator = ffi.new_allocator(should_clear_after_alloc=False)
        #: Area blocks: zeroed by calloc (a large one's pages stay untouched until the area uses them).
        self.zeroed_allocator = ffi.new_allocator(alloc=lib.nm_zalloc, free=lib.nm_zfree,
                                                  should_clear_after_alloc=False)
        #: The ``NM_F_*`` field numbers of nm_load/nm_update, by name (``"PP"``, ``"HEAD"`` ...).
        self.fields: dict[str, int] = {n[len("NM_F_"):]: getattr(lib, n) for n in dir(lib) if n.startswith("NM_F_")}
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
            lib.NM_E_NULL_OWNER: (errors.NullOwnerError, "is a net_iov whose owner word is NULL; the kernel would oops dereferencing niov->owner"),
            lib.NM_E_FOREIGN_OWNER: (errors.ForeignOwnerError, "is a net_iov whose owner word points at no net_iov_area profile {p} owns; the kernel would follow it"),
            lib.NM_E_BAD_HEAD: (errors.CompoundHeadError, "is a tail page whose compound_head word points outside its memory map; the kernel would follow it"),
        }
        fast = self._fast_entry_points()
        #: ``get_netmem`` / ``put_netmem`` / ``empty``, compiled (cdefs/netmem_py.c).
        self.get_netmem: RefOp = fast["get_netmem"]
        self.put_netmem: RefOp = fast["put_netmem"]
        self.empty: RefOp = fast["empty"]

    def error(self, code: int, value: object, what: str = "netmem_ref") -> errors.NetmemError:
        """The exception for C error ``code`` about ``value``."""
        hint = ""
        if code in (self.lib.NM_E_NOT_OWNED, self.lib.NM_E_CLOSED) and isinstance(value, int):
            owner = self._other_owner(value)  # memory another generation's runtime owns
            if owner:
                code, hint = self.lib.NM_E_NOT_OWNED, f" (it belongs to profile {owner}; call that profile's helpers)"
        cls, message = self.messages.get(code, (errors.NetmemError, f"failed with C error {code}"))
        text = f"{value:#x}" if isinstance(value, int) and not isinstance(value, bool) else repr(value)
        return cls(f"{what} {text} " + message.format(p=self.name) + hint, value)

    def _other_owner(self, value: int) -> str | None:
        if not 0 <= value <= validate.WORD_MASK:
            return None
        for other in loaded():
            if other is not self and other.lib.nm_owns(value):
                return other.name
        return None

    def argument_error(self, code: int, value: object) -> errors.NetmemError:
        """The exception for a failed call on ``value``: code 0 means cffi could not convert it."""
        if code:
            return self.error(code, value)
        try:
            validate.word(value)
        except errors.NetmemError as exc:
            return exc
        return self.error(self.lib.NM_E_INVAL, value)

    def _fast_entry_points(self) -> dict[str, RefOp]:
        """The METH_O builtins of ``cdefs/netmem_py.c``, bound to this runtime's error mapping.

        They come from the second extension module the compiled file carries
        (``PyInit_entry_points``), loaded from that file without ctypes, by the
        classes that loaded the compiled module (``importlib.machinery``'s
        ExtensionFileLoader and ModuleSpec, reached without importing importlib).
        """
        name = f"{self.module.__name__}.entry_points"
        compiled: Any = self.module.__spec__
        loader: ExtensionFileLoader = type(compiled.loader)(name, self.module_file)
        entry = loader.create_module(type(compiled)(name, loader, origin=self.module_file))
        loader.exec_module(entry)
        return dict(entry.bind(self.argument_error, self.module))

    def check(self, code: int, value: object, what: str = "netmem_ref") -> None:
        """Raise the exception of C error ``code`` (0: success) about ``value``."""
        if code:
            raise self.error(code, value, what)

    def call(self, fn: Callable[..., int], value: object, *args: Any, what: str = "netmem_ref") -> None:
        """Call ``fn(value, *args)``; map conversion failures and error codes to exceptions."""
        try:
            code = fn(value, *args)
        except (TypeError, OverflowError):
            validate.word(value, what)
            raise
        if code:
            raise self.error(code, value, what)

    def load(self, netmem: object, field: int) -> int:
        """Validated load of one descriptor field (``NM_F_*``)."""
        out = self.ffi.new("unsigned long *")
        self.call(self.lib.nm_load, netmem, field, out)
        return int(out[0])

    def update(self, netmem: object, field: int, keep: int, bits: int) -> int:
        """Validated atomic ``word = (word & keep) | bits`` of one descriptor word; returns the old word."""
        old = self.ffi.new("unsigned long *")
        self.call(self.lib.nm_update, netmem, field, keep, bits, old)
        return int(old[0])

    def kind(self, netmem: object) -> int:
        """``NM_KIND_NIOV`` or ``NM_KIND_PAGE`` for a valid ref; raises otherwise."""
        try:
            rc = self.lib.nm_classify(netmem)
        except (TypeError, OverflowError):
            validate.word(netmem)
            raise
        if rc < 0:
            raise self.error(-rc, netmem)
        return int(rc)

    def ref_batch(self, refs: object) -> Any:
        """The ``netmem_ref[]`` a bulk call reads: ``refs`` itself when it is one, else a view or a conversion.

        ``refs`` is a sequence of ints, a buffer of 8-byte unsigned ints (format
        ``'Q'``) or a ``netmem_ref[]`` cdata.  A buffer or cdata is read in place
        (no copy first): ``nm_netmem_bulk`` takes each ref's value in one read and
        undoes a failed batch from a log of its moves, so a caller rewriting the buffer
        while the C call runs cannot change the outcome; the view keeps the
        buffer exported (unresizable) meanwhile.  A sequence is converted in one
        pass.  Raises :class:`NetmemTypeError` / :class:`NetmemValueError` naming
        the bad item.
        """
        ffi = self.ffi
        if isinstance(refs, ffi.CData):
            ctype = ffi.typeof(refs)
            if ctype.kind != "array" or ctype.item is not ffi.typeof("netmem_ref"):
                raise errors.NetmemTypeError(f"refs cdata must be a netmem_ref[] array, got {ctype.cname}", refs)
            return refs
        import array  # per batch, not at the top: array imports collections (~2.5 ms of every first call)

        if isinstance(refs, (bytes, bytearray, memoryview, array.array)) or hasattr(refs, "__array_interface__"):
            view = memoryview(refs)  # type: ignore[arg-type]
            if view.itemsize != 8 or view.format not in _REF_FORMATS or not view.c_contiguous:
                raise errors.NetmemTypeError(
                    f"a buffer of refs must hold contiguous 8-byte unsigned ints (format 'Q'), got format "
                    f"{view.format!r} itemsize {view.itemsize}", refs)
            return ffi.from_buffer("netmem_ref[]", view)
        return self._convert(refs)

    def _convert(self, refs: object) -> Any:
        """A private ``netmem_ref[]`` of a sequence of ints (a list or tuple in one pass)."""
        try:  # another iterable is listed first
            seq = refs if isinstance(refs, (list, tuple)) else list(refs)  # type: ignore[call-overload]
        except TypeError:
            raise errors.NetmemTypeError(
                f"refs must be a sequence or buffer of netmem_ref ints, got {type(refs).__name__}", refs) from None
        try:
            return self.raw_allocator("netmem_ref[]", seq)  # every item written: no clearing first
        except (TypeError, OverflowError):
            for i, v in enumerate(seq):
                validate.word(v, f"refs[{i}]")
            raise


_LOCK = _thread.RLock()  # re-entered: a profile loads its runtime inside once()


def _fresh_lock_in_child() -> None:
    """After fork() the child's only thread starts with a free load lock (as the C runtime's lock)."""
    global _LOCK
    _LOCK = _thread.RLock()


os.register_at_fork(after_in_child=_fresh_lock_in_child)


def once(cache: dict[str, _T], key: str, make: Callable[[], _T]) -> _T:
    """``cache[key]``, made by ``make()`` the first time, once even when threads race for it."""
    found = cache.get(key)
    if found is None:
        with _LOCK:
            found = cache.get(key)
            if found is None:
                found = cache[key] = make()
    return found


_RUNTIMES: dict[str, Runtime] = {}


def runtime(name: str) -> Runtime:
    """The runtime of the generation called (or carried by kernel release) ``name``, loaded once.

    Raises :class:`UnknownProfileError` listing the valid names.
    """
    spec = registry.spec(name)
    return once(_RUNTIMES, spec.name, lambda: Runtime(spec))


def loaded() -> tuple[Runtime, ...]:
    """The runtimes loaded in this process (a snapshot, safe while other threads load more)."""
    return tuple(_RUNTIMES.values())
