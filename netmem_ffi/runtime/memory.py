"""Memory the runtime owns: net_iov areas, simulated page maps, and a recording DMA device.

:class:`NetIovArea` and :class:`PageMap` are bound to one generation by
subclassing (``profile("v6.12").NetIovArea`` lays out that generation's
``struct net_iov``; ``netmem_ffi.NetIovArea`` is the default profile's).  The
C runtime (``cdefs/netmem_rt*.c``) validates and works in the memory; the
memory itself is Python-owned (mmap'ed blocks freed when the last Python
reference goes), so nothing a caller still holds (a frame view, a niov's
``cdata``) ever points at freed memory.
"""

from __future__ import annotations


from netmem_ffi import errors
from netmem_ffi.abi.constants import NET_IOV, NET_IOV_DMABUF, NET_IOV_IOURING, PAGE_SHIFT
from netmem_ffi.runtime import validate
from netmem_ffi.runtime.core import Runtime

TYPE_CHECKING = False
if TYPE_CHECKING:
    import array
    from collections.abc import Iterator
    from typing import Any, ClassVar, NoReturn, Self

    from netmem_ffi.abi.providers import NetIovType

__all__ = ["NetIov", "NetIovArea", "PageMap", "DmaDevice", "bind_memory"]

#: Python-owned memory the C runtime works in (a PageMap's frames, an area's
#: block, an adopted buffer), by the address of its open map or area.  It lives
#: exactly as long as the C side can touch it, whatever happens to the Python
#: object: a map or area collected with references outstanding stays open, and
#: so does this.  (Single dict operations are atomic under the GIL.)
_HELD: dict[int, Any] = {}


def _handle_key(rt: Runtime, handle: Any) -> int:
    return int(rt.ffi.cast("uintptr_t", handle))


class _CMemory:
    """Memory a C-runtime handle owns: the open/close lifecycle shared by areas and page maps.

    Subclasses give ``_c_close()`` (the C close call), ``_busy()`` (why it cannot
    close now) and ``address`` (for messages).  ``close()`` is idempotent, refuses
    with :class:`~netmem_ffi.BusyError` while references are outstanding, and
    releases the Python-owned memory the C side worked in only once it is closed.
    Owners of C memory cannot be copied or pickled (a copy would close it twice).
    """

    runtime: ClassVar[Runtime]
    _handle: Any = None

    @classmethod
    def _runtime(cls) -> Runtime:
        rt: Runtime | None = getattr(cls, "runtime", None)
        if rt is None:
            raise errors.NetmemTypeError(
                f"{cls.__name__} is bound to no profile: use netmem_ffi.{cls.__name__} or "
                f"netmem_ffi.profile(name).{cls.__name__}", cls)
        return rt

    @property
    def address(self) -> int:
        raise NotImplementedError

    def _c_close(self) -> int:
        raise NotImplementedError

    def _busy(self) -> str:
        raise NotImplementedError

    def _open(self, handle: Any, memory: Any) -> None:
        """Record the C handle and hold the Python-owned ``memory`` it works in until close."""
        self._handle = handle
        _HELD[_handle_key(self.runtime, handle)] = memory

    @property
    def closed(self) -> bool:
        return self._handle is None

    def _require_open(self) -> None:
        if self._handle is None:
            raise errors.ClosedError(f"{type(self).__name__} at {self.address:#x} is closed", self)

    def close(self) -> None:
        """Free the memory (``BusyError`` while references are outstanding; idempotent)."""
        if self._handle is None:
            return
        rt = self.runtime
        rc = self._c_close()
        if rc == rt.lib.NM_E_BUSY:
            raise errors.BusyError(f"{type(self).__name__} at {self.address:#x} {self._busy()}", self)
        rt.check(rc, self.address, f"{type(self).__name__} at")
        _HELD.pop(_handle_key(rt, self._handle), None)
        self._handle = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        """``close()``; when an exception is already in flight a failed close warns instead of replacing it."""
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except errors.NetmemError as failed:
            import warnings  # only here: a failed close while an exception propagates

            warnings.warn(f"{failed} (while {exc_type.__name__ if exc_type else 'an exception'} "
                          "propagated; the memory stays allocated)", errors.NetmemWarning, stacklevel=2)

    def __del__(self) -> None:
        # With references outstanding the C side stays open, and so does the memory it holds.
        if getattr(self, "_handle", None) is not None:
            try:
                self.close()
            except errors.BusyError:
                pass

    def _refuse_copy(self, *args: object) -> NoReturn:
        raise errors.NetmemTypeError(
            f"{type(self).__name__} owns C memory and cannot be copied or pickled; share the object itself", self)

    __copy__ = __deepcopy__ = __reduce__ = __reduce_ex__ = __getstate__ = _refuse_copy


class NetIov:
    """A view of one ``struct net_iov`` of an area: its index, address and ``netmem_ref``.

    Field reads go through the C runtime (validated; a closed area raises
    :class:`~netmem_ffi.ClosedError`).  ``cdata`` is the raw cffi pointer.
    """

    __slots__ = ("area", "index", "addr", "netmem")

    def __init__(self, area: NetIovArea, index: int) -> None:
        self.area = area
        self.index = index
        self.addr = area.base + index * area.stride
        self.netmem = self.addr | NET_IOV

    def _load(self, name: str) -> int:
        rt = self.area.runtime
        return rt.load(self.netmem, getattr(rt.lib, "NM_F_" + name))

    @property
    def cdata(self) -> Any:
        """``struct net_iov *`` for this niov (the area must be open); it keeps the niov's memory alive.

        Kept and used after ``close()`` it reads and writes memory the runtime
        no longer uses, never freed memory; ``owner`` points into the same
        block (an adopted buffer's stored ``owner`` is whatever the buffer holds).
        """
        return self.area._niov_cdata(self.index)

    @property
    def type(self) -> NetIovType | int:
        """``niov->type`` as stored: a :class:`NetIovType`, or the raw int when it names no provider."""
        from netmem_ffi.abi.providers import NetIovType  # on first read: the enum module is not a first call's

        value = self._load("TYPE")
        return NetIovType(value) if value in validate.PROVIDER_NAMES else value

    @property
    def owner(self) -> int:
        return self._load("OWNER")

    @property
    def pp(self) -> int:
        return self._load("PP")

    @property
    def pp_magic(self) -> int:
        return self._load("PP_MAGIC")

    @property
    def dma_addr(self) -> int:
        return self._load("DMA_ADDR")

    @property
    def pp_ref_count(self) -> int:
        v = self._load("PP_REF_COUNT")
        return v - (1 << 64) if v >= 1 << 63 else v

    @property
    def user_refs(self) -> int:
        return self.area.user_refs(self.index)

    def __repr__(self) -> str:
        return f"<NetIov {self.area.runtime.name} #{self.index} netmem={self.netmem:#x}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NetIov) and other.netmem == self.netmem

    def __hash__(self) -> int:
        return hash(self.netmem)


class NetIovArea(_CMemory):
    """A ``struct net_iov_area`` and its array of ``struct net_iov``, run by the C runtime.

    ``NetIovArea(num_niovs, type=NET_IOV_DMABUF, base_dma_addr=0)`` allocates
    the niovs and runs ``net_iov_init()`` on each.  ``NET_IOV_DMABUF`` models a
    devmem binding (one refcount for the whole binding, ``binding_refcount``,
    starting at 1 for the area's own reference; each niov's ``dma_addr`` is
    ``base_dma_addr + (idx << PAGE_SHIFT)``); ``NET_IOV_IOURING`` models an
    io_uring zcrx area (per-niov user refs, ``user_refs(i)``).  ``close()``
    refuses with :class:`~netmem_ffi.BusyError` while references are held.
    Raises :class:`NetmemTypeError`/:class:`NetmemValueError` for bad arguments,
    :class:`WrongProviderError` for io_uring on a generation before 6.15.
    """

    num_niovs: int
    base: int
    stride: int
    owner: int
    type: int
    _niov_memory: Any
    _niov_offset: int

    def __init__(self, num_niovs: int, type: int = NET_IOV_DMABUF, *, base_dma_addr: int = 0) -> None:  # noqa: A002
        rt = self._runtime()
        num = validate.count(num_niovs, "num_niovs", 1, 1 << 32)
        provider = self._provider(type)
        dma = validate.word(base_dma_addr, "base_dma_addr")
        if dma & ((1 << PAGE_SHIFT) - 1):
            raise errors.NetmemValueError(f"base_dma_addr {dma:#x} is not page-aligned", dma)
        if dma + (num << PAGE_SHIFT) > 1 << 64:
            raise errors.NetmemValueError(f"base_dma_addr {dma:#x} + {num} pages passes 2**64", dma)
        block = self._block(num, provider, with_niovs=True)
        out = rt.ffi.new("struct nm_area **")
        rt.check(rt.lib.nm_area_create(block, len(block), rt.ffi.NULL, num, provider, dma, out), num,
                 "NetIovArea of")
        self._attach(out[0], provider, block, (block,))

    @classmethod
    def from_buffer(cls, buf: Any, *, type: int = NET_IOV_DMABUF) -> NetIovArea:  # noqa: A002
        """Adopt a writable buffer holding an array of this profile's ``struct net_iov``.

        The buffer (a ``bytearray``, an ``mmap``, any writable buffer, aligned
        to ``alignof(struct net_iov)``) stays referenced while adopted; its
        contents are used as they are (``net_iov_init()`` is not run).  The
        helpers follow the stored ``owner`` word as the kernel does: a NULL or
        foreign owner raises :class:`NullOwnerError` / :class:`ForeignOwnerError`
        where the kernel would dereference it, until ``net_iov_init(niov, area,
        type)`` links the niov to this area.
        """
        rt = cls._runtime()
        provider = cls._provider(type)
        try:
            cbuf = rt.ffi.from_buffer(buf, require_writable=True)
        except (TypeError, BufferError) as exc:
            raise errors.NetmemTypeError(f"cannot adopt {validate.shown(buf)}: {exc}", buf) from None
        size, align = rt.ffi.sizeof("struct net_iov"), rt.ffi.alignof("struct net_iov")
        n = len(cbuf)
        addr = int(rt.ffi.cast("uintptr_t", cbuf))
        if n == 0 or n % size:
            raise errors.NetmemValueError(f"buffer of {n} bytes is not a whole number of {size}-byte struct net_iov", buf)
        if addr % align:
            raise errors.NetmemValueError(f"buffer at {addr:#x} is not {align}-byte aligned for struct net_iov", buf)
        self = cls.__new__(cls)
        block = self._block(n // size, provider, with_niovs=False)
        out = rt.ffi.new("struct nm_area **")
        rt.check(rt.lib.nm_area_create(block, len(block), cbuf, n // size, provider, 0, out), addr, "buffer at")
        self._attach(out[0], provider, cbuf, (block, buf, cbuf))
        return self

    @classmethod
    def _provider(cls, type_: object) -> int:
        provider = validate.provider(type_)
        if provider == NET_IOV_IOURING and not cls._runtime().spec.has_area:
            raise errors.WrongProviderError(
                f"profile {cls.runtime.name} predates io_uring zcrx (6.15): only NET_IOV_DMABUF areas exist", provider)
        return provider

    def _block(self, num: int, provider: int, *, with_niovs: bool) -> Any:
        """The Python-owned block holding the area's C state (and its niovs, unless adopted)."""
        rt = self.runtime
        size = int(rt.lib.nm_area_block_size(num, provider, with_niovs))
        if size == 0:
            rt.check(rt.lib.NM_E_INVAL, num, "NetIovArea of")
        try:
            return rt.zeroed_allocator("char[]", size)
        except MemoryError:
            raise errors.NetmemMemoryError(f"NetIovArea of {num} niovs could not be allocated", num) from None

    def _attach(self, handle: Any, provider: int, niov_memory: Any, keep: tuple[Any, ...]) -> None:
        rt = self.runtime
        self.type = provider
        self.num_niovs = int(rt.lib.nm_area_num_niovs(handle))
        self.base = int(rt.ffi.cast("uintptr_t", rt.lib.nm_area_niovs(handle)))
        self.stride = rt.ffi.sizeof("struct net_iov")
        self.owner = int(rt.ffi.cast("uintptr_t", rt.lib.nm_area_owner(handle)))
        self._niov_memory = niov_memory
        self._niov_offset = self.base - int(rt.ffi.cast("uintptr_t", niov_memory))
        self._open(handle, keep)

    def _niov_cdata(self, index: int) -> Any:
        """``struct net_iov *`` of niov ``index``, keeping its memory alive (not the area open)."""
        self._require_open()
        start = self._niov_offset + index * self.stride
        raw = memoryview(self.runtime.ffi.buffer(self._niov_memory))[start:start + self.stride]
        return self.runtime.ffi.from_buffer("struct net_iov *", raw, require_writable=True)

    # ---- container protocol ----
    def __len__(self) -> int:
        return self.num_niovs

    def __getitem__(self, index: int) -> NetIov:
        if not isinstance(index, int) or isinstance(index, bool):
            raise errors.NetmemTypeError(f"area index must be an int, got {validate.shown(index)}", index)
        if index < 0:
            index += self.num_niovs
        if not 0 <= index < self.num_niovs:
            raise errors.NetmemIndexError(f"niov index {index} out of range for an area of {self.num_niovs}", index)
        self._require_open()
        return NetIov(self, index)

    def __iter__(self) -> Iterator[NetIov]:
        for i in range(self.num_niovs):
            yield self[i]

    def refs(self) -> array.array[int]:
        """Every niov's ``netmem_ref``, as an ``array('Q')`` ready for the bulk calls."""
        import array  # here: array imports collections, which a first get_netmem does not need (~2.5 ms)

        self._require_open()
        return array.array("Q", range(self.base | NET_IOV, self.base + self.num_niovs * self.stride, self.stride))

    # ---- counters ----
    @property
    def address(self) -> int:
        """Address of the niov array."""
        return self.base

    @property
    def binding_refcount(self) -> int:
        """The devmem binding's refcount (1 = only the area's own reference)."""
        self._require_open()
        if self.type != NET_IOV_DMABUF:
            raise errors.WrongProviderError("binding_refcount exists only on NET_IOV_DMABUF areas", self.type)
        return int(self.runtime.lib.nm_area_binding_refcount(self._handle))

    def unbind(self) -> None:
        """``net_devmem_unbind_dmabuf()``: drop the area's own reference to its devmem binding.

        The binding stays alive while niovs are still referenced; the last
        ``put_netmem`` takes its refcount to 0 and frees it, after which a
        ``get_netmem`` fails as ``refcount_inc_not_zero()`` does
        (:class:`BindingDeadError`).  Raises :class:`WrongProviderError` for an
        io_uring area, :class:`BindingDeadError` when already unbound.
        """
        self._require_open()
        if self.type != NET_IOV_DMABUF:
            raise errors.WrongProviderError("unbind() is net_devmem_unbind_dmabuf(): NET_IOV_DMABUF areas only", self.type)
        rc = self.runtime.lib.nm_area_unbind(self._handle)
        if rc == self.runtime.lib.NM_E_BINDING_DEAD:
            raise errors.BindingDeadError(f"NetIovArea at {self.base:#x} is already unbound", self)
        self.runtime.check(rc, self.base, "NetIovArea at")

    @property
    def unbound(self) -> bool:
        """Whether :meth:`unbind` ran (the binding then dies with its last reference)."""
        self._require_open()
        return bool(self.runtime.lib.nm_area_unbound(self._handle))

    def user_refs(self, index: int) -> int:
        """io_uring's ``user_refs[index]`` (NET_IOV_IOURING areas only)."""
        self._require_open()
        idx = validate.count(index, "niov index", 0, self.num_niovs - 1)
        out = self.runtime.ffi.new("int *")
        self.runtime.check(self.runtime.lib.nm_area_user_refs(self._handle, idx, out), idx, "user_refs of niov")
        return int(out[0])

    @property
    def outstanding(self) -> int:
        """References that keep the area open: binding refs beyond its own, plus user refs."""
        self._require_open()
        out = self.runtime.ffi.new("size_t *")
        self.runtime.lib.nm_area_outstanding(self._handle, out)
        return int(out[0])

    def _c_close(self) -> int:
        return int(self.runtime.lib.nm_area_close(self._handle))

    def close(self) -> None:
        """Free the area (``BusyError`` while references are outstanding; idempotent).

        An adopted buffer is released (an ``mmap`` can be closed again) unless a
        niov ``cdata`` taken before still points into it.
        """
        super().close()
        self._niov_memory = None

    def _busy(self) -> str:
        return f"still has {self.outstanding} reference(s) outstanding; put them before close()"

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else f"at {self.base:#x}"
        return f"<NetIovArea {self.runtime.name} {validate.PROVIDER_NAMES[self.type]} x{self.num_niovs} {state}>"


class PageMap(_CMemory):
    """A simulated memory map: an array of ``struct page`` plus the page frames it describes.

    ``PageMap(num_pages, page_size=4096, nid=0, base_pfn=0x100000)``.
    ``alloc(order=0)`` returns the head page's ``netmem_ref`` of a naturally
    aligned block with ``_refcount`` 1 (tails point at the head through
    ``compound_head`` bit 0); the node id sits in ``flags``; ``pfmemalloc=True``
    sets bit 1 of ``lru.next``.  A page whose ``_refcount`` reaches zero is
    freed and poisoned (``LIST_POISON1/2``, frames filled with 0xaa).
    ``close()`` refuses with :class:`~netmem_ffi.BusyError` while pages are allocated.
    """

    def __init__(self, num_pages: int, *, page_size: int = 4096, nid: int = 0, base_pfn: int = 0x100000) -> None:
        rt = self._runtime()
        num = validate.count(num_pages, "num_pages", 1, 1 << 24)
        if page_size not in (4096, 16384, 65536) or isinstance(page_size, bool):
            raise errors.NetmemValueError(f"page_size {page_size!r} is not 4096, 16384 or 65536", page_size)
        validate.count(nid, "nid", 0, 1023)
        validate.count(base_pfn, "base_pfn", 0, (1 << 52) - num)
        # The frames are Python-owned memory: views of page contents (frame())
        # keep them alive, so a view that outlives close() never reads freed memory.
        try:
            self._frames_owner = rt.frames_allocator("char[]", (num + 1) * page_size)
        except MemoryError:
            raise errors.NetmemMemoryError(f"PageMap of {num} pages: frames could not be allocated", num) from None
        owner_addr = int(rt.ffi.cast("uintptr_t", self._frames_owner))
        self._frames_offset = -owner_addr % page_size
        out = rt.ffi.new("struct nm_pagemap **")
        rt.check(rt.lib.nm_pagemap_create(num, page_size.bit_length() - 1, nid, base_pfn,
                                          self._frames_owner + self._frames_offset, out), num, "PageMap of")
        self._open(out[0], self._frames_owner)
        info = rt.ffi.new("struct nm_pagemap_info *")
        rt.lib.nm_pagemap_info(self._handle, info)
        self.num_pages = num
        self.page_size = page_size
        self.nid = nid
        self.base_pfn = base_pfn
        self.pages = int(info.pages)
        self.frames = int(info.frames)
        self.stride = int(info.stride)

    def alloc(self, order: int = 0, *, pfmemalloc: bool = False) -> int:
        """Allocate ``2**order`` pages; returns the head page's ``netmem_ref``."""
        self._require_open()
        rt = self.runtime
        validate.count(order, "order", 0, 10)
        out = rt.ffi.new("netmem_ref *")
        rt.check(rt.lib.nm_page_alloc(self._handle, order, bool(pfmemalloc), out), order, "PageMap alloc of order")
        return int(out[0])

    def page(self, index: int) -> int:
        """The ``struct page *`` (= netmem_ref) of page ``index``, allocated or not."""
        validate.count(index, "page index", 0, self.num_pages - 1)
        return self.pages + index * self.stride

    def frame(self, netmem: int) -> memoryview:
        """The bytes of a live page's frame (``page_address(page)``, ``page_size`` bytes), writable.

        The view keeps the frame memory alive: it stays valid (if meaningless)
        after the page is freed or the map closed.  A page of another map raises
        :class:`~netmem_ffi.NotOwnedError`.
        """
        addr = self.runtime.load(netmem, self.runtime.lib.NM_F_ADDRESS)
        if not self.frames <= addr < self.frames + self.num_pages * self.page_size:
            raise errors.NotOwnedError(f"netmem_ref {netmem:#x} is a page of another PageMap, not of {self!r}", netmem)
        start = addr - self.frames + self._frames_offset
        return memoryview(self.runtime.ffi.buffer(self._frames_owner))[start:start + self.page_size]

    @property
    def allocated(self) -> int:
        """How many pages are allocated now."""
        self._require_open()
        return int(self.runtime.lib.nm_pagemap_allocated(self._handle))

    @property
    def address(self) -> int:
        """Address of the struct page array."""
        return self.pages

    def _c_close(self) -> int:
        return int(self.runtime.lib.nm_pagemap_close(self._handle))

    def _busy(self) -> str:
        return f"still has {self.allocated} page(s) allocated; put them first"

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else f"at {self.pages:#x}"
        return f"<PageMap {self.runtime.name} {self.num_pages} pages {state}>"


class DmaDevice:
    """A recording DMA device: ``unmap_page()`` calls are kept in ``unmapped`` for inspection."""

    def __init__(self, name: str = "netmem-ffi-dma") -> None:
        self.name = name
        self.unmapped: list[tuple[int, int, int, int]] = []

    def unmap_page(self, addr: int, size: int, dir: int, attrs: int = 0) -> None:  # noqa: A002
        """``dma_unmap_page_attrs(dev, addr, size, dir, attrs)``: records the call."""
        self.unmapped.append((addr, size, dir, attrs))

    def __repr__(self) -> str:
        return f"DmaDevice(name={self.name!r}, unmapped={self.unmapped!r})"


def bind_memory(rt: Runtime) -> tuple[type[NetIovArea], type[PageMap]]:
    """``NetIovArea`` and ``PageMap`` bound to one generation's runtime (subclasses of the classes here)."""
    doc = f"\n\nProfile {rt.name}: struct net_iov is {rt.ffi.sizeof('struct net_iov')} bytes here."
    area = type("NetIovArea", (NetIovArea,), {"runtime": rt, "__doc__": (NetIovArea.__doc__ or "") + doc,
                                              "__module__": "netmem_ffi"})
    pages = type("PageMap", (PageMap,), {"runtime": rt, "__doc__": PageMap.__doc__, "__module__": "netmem_ffi"})
    return area, pages
