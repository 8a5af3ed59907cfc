"""The netmem.h and page_pool helpers, by their kernel names, over memory the runtime owns.

Semantics are those of the newest generation (v7.2, docs/netmem-abi.md
section 3.1) on every profile; what a generation's kernel did differently is
listed in :mod:`netmem_ffi.abi.registry` (``absent_helpers``, ``notes``) and, where
the model itself differs, here, in one place:

* ``net_is_devmem_iov``: 6.16+ test ``niov->type == NET_IOV_DMABUF``; 6.15
  tested ``niov->pp->mp_ops == &dmabuf_devmem_ops`` and 6.12 had only devmem
  niovs, so profiles without a ``type`` member ask the owning area instead
  (the C runtime's ``NM_F_TYPE``).

Every helper that reads memory validates the ref in C first (under the
runtime's lock) and raises a :class:`~netmem_ffi.RefError` subclass for a ref
it does not own; pure bit operations (``netmem_is_net_iov``,
``net_iov_to_netmem``) only check the value's range.  Where the kernel would
WARN and return NULL, the helper returns ``None`` and warns with
:class:`~netmem_ffi.NetmemWarning`.
"""

from __future__ import annotations

from netmem_ffi import errors
from netmem_ffi.abi.constants import LP64, LP64_NO_DMA_INDEX, NET_IOV, NET_IOV_DMABUF, NODES_MASK, PAGE_SHIFT
from netmem_ffi.runtime import validate
from netmem_ffi.runtime.core import Runtime
from netmem_ffi.runtime.pools import POOLS
from netmem_ffi.runtime.refcount import RefcountPath

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Helpers"]

WORD_MASK = validate.WORD_MASK
#: Word constants of the modelled LP64 host.
_C = LP64


def _warn(message: str) -> None:
    import warnings  # here, not at the top: only a WARN_ON_ONCE path warns (start-up time, issue 18)

    warnings.warn(message, errors.NetmemWarning, stacklevel=3)


class Helpers(RefcountPath):
    """The netmem.h and page_pool helpers of one generation, by their kernel names.

    A base of :class:`~netmem_ffi.Profile`: ``profile("v6.12").netmem_get_pp``
    reads v6.12 memory.  Refs are plain ``int``s (the kernel's bit pattern).
    """

    #: The NET_IOV tag bit of a netmem_ref.
    NET_IOV = NET_IOV

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt)
        self._niov_kind = int(rt.lib.NM_KIND_NIOV)
        self._pp_ref_count_offset = int(rt.ffi.offsetof("struct page", "pp_ref_count"))
        #: pp_magic constants of this generation's release (DMA index bits or not).
        self._magic = LP64 if rt.spec.has_dma_index else LP64_NO_DMA_INDEX

    def _kind(self, netmem: object) -> int:
        """``NM_KIND_NIOV`` or ``NM_KIND_PAGE`` for a ref this runtime owns; raises a RefError subclass otherwise."""
        return self.runtime.kind(netmem)

    def _is_niov(self, netmem: object) -> bool:
        """Whether a ref this runtime owns is a niov (False: a page); raises like :meth:`_kind`."""
        return self.runtime.kind(netmem) == self._niov_kind

    def _load(self, netmem: object, field: str) -> int:
        return self.runtime.load(netmem, self.runtime.fields[field])

    def _update(self, netmem: object, field: str, keep: int, bits: int) -> int:
        return self.runtime.update(netmem, self.runtime.fields[field], keep, bits)

    # ---- netmem_ref arithmetic (include/net/netmem.h) ----

    def netmem_is_net_iov(self, netmem: int) -> bool:
        """``netmem & NET_IOV``: whether the ref is a net_iov (bit 0 set)."""
        return bool(validate.word(netmem, "netmem_ref") & NET_IOV)

    def net_iov_to_netmem(self, niov: Any) -> int:
        """``(netmem_ref)niov | NET_IOV`` for a ``struct net_iov *`` address or a NetIov view."""
        if hasattr(niov, "netmem"):
            return int(niov.netmem)
        addr = validate.word(niov, "struct net_iov *")
        if addr & NET_IOV:
            raise errors.NetmemValueError(f"struct net_iov * {addr:#x} has bit 0 set; it is already a netmem_ref", addr)
        return addr | NET_IOV

    def page_to_netmem(self, page: int) -> int:
        """``(netmem_ref)page``: a ``struct page *`` is its own ref (bit 0 must be clear)."""
        addr = validate.word(page, "struct page *")
        if addr & NET_IOV:
            raise errors.NetmemValueError(f"struct page * {addr:#x} has bit 0 set; pages are word-aligned", addr)
        return addr

    def netmem_to_page_unchecked(self, netmem: int) -> int:
        """``__netmem_to_page()``: the ref as a ``struct page *``, no check (meaningless for a niov)."""
        return validate.word(netmem, "netmem_ref")

    def netmem_to_page(self, netmem: int) -> int | None:
        """The ``struct page *`` of a page ref; for a net_iov, WARN_ON_ONCE and NULL (None + warning)."""
        if self._is_niov(netmem):
            _warn(f"netmem_to_page({netmem:#x}): a net_iov is not a page (WARN_ON_ONCE, NULL)")
            return None
        return netmem

    def netmem_to_net_iov(self, netmem: int) -> int | None:
        """The ``struct net_iov *`` of a niov ref; for a page, DEBUG_NET_WARN_ON_ONCE and NULL."""
        if not self._is_niov(netmem):
            _warn(f"netmem_to_net_iov({netmem:#x}): a page is not a net_iov (DEBUG_NET_WARN_ON_ONCE, NULL)")
            return None
        return netmem & ~NET_IOV

    def virt_to_netmem(self, addr: int) -> int:
        """``page_to_netmem(virt_to_page(addr))`` for an address inside a PageMap's frames."""
        out = self.runtime.ffi.new("netmem_ref *")
        self.runtime.call(self.runtime.lib.nm_virt_to_page, addr, out, what="virtual address")
        return int(out[0])

    def netmem_ref_count(self, netmem: int) -> int:
        """``page_ref_count()`` of this very page (no head lookup); a net_iov reports 1."""
        if self._is_niov(netmem):
            return 1
        value = self._load(netmem, "REFCOUNT")
        return value - (1 << 64) if value >= 1 << 63 else value

    def netmem_pfn_trace(self, netmem: int) -> int:
        """``page_to_pfn()`` of a page; 0 for a net_iov."""
        return 0 if self._is_niov(netmem) else self._load(netmem, "PFN")

    def netmem_to_nmdesc(self, netmem: int) -> int:
        """``netmem_to_nmdesc()``: the descriptor address ``netmem & ~NET_IOV`` (``&niov->desc`` or the page)."""
        self._kind(netmem)
        return netmem & ~NET_IOV

    def netmem_to_nmdesc_unchecked(self, netmem: int) -> int:
        """``__netmem_to_nmdesc()``: page-only cast, no check (wrong for a net_iov: bit 0 stays)."""
        return validate.word(netmem, "netmem_ref")

    def netmem_clear_lsb(self, netmem: int) -> int:
        """``__netmem_clear_lsb()`` (6.12 .. 7.0): ``netmem & ~NET_IOV`` as a ``struct net_iov *``, no check."""
        return validate.word(netmem, "netmem_ref") & ~NET_IOV

    def pp_page_to_nmdesc(self, page: int) -> int:
        """``pp_page_to_nmdesc()``: a page_pool page as its ``struct netmem_desc *`` (the same address).

        DEBUG_NET_WARN_ON_ONCE (a warning) when the page's pp_magic lacks the
        page_pool signature; :class:`NotPageError` for a net_iov.
        """
        if not self.page_pool_page_is_pp(page):
            _warn(f"pp_page_to_nmdesc({page:#x}): not a page_pool page (DEBUG_NET_WARN_ON_ONCE)")
        return page

    def netmem_get_pp(self, netmem: int) -> int:
        """``netmem_to_nmdesc(netmem)->pp``: the page_pool pointer value."""
        return self._load(netmem, "PP")

    def netmem_get_pp_unchecked(self, netmem: int) -> int:
        """``__netmem_get_pp()``: ``pp`` of a ref known to be a page (a net_iov raises NotPageError)."""
        if self._is_niov(netmem):
            raise errors.NotPageError(f"__netmem_get_pp({netmem:#x}) reads a page; this is a net_iov", netmem)
        return self._load(netmem, "PP")

    def netmem_get_pp_ref_count_ref(self, netmem: int) -> int:
        """``&netmem_to_nmdesc(netmem)->pp_ref_count``: the counter's address."""
        self._kind(netmem)
        return (netmem & ~NET_IOV) + self._pp_ref_count_offset

    def netmem_is_pref_nid(self, netmem: int, pref_nid: int) -> bool:
        """``page_to_nid(page) == pref_nid``; always true for a net_iov (the provider decides)."""
        validate.count(pref_nid, "pref_nid", -(1 << 31), (1 << 31) - 1)
        if self._is_niov(netmem):
            return True
        return (self._load(netmem, "WORD0") >> _C.nodes_pgshift) & NODES_MASK == pref_nid

    def netmem_compound_head(self, netmem: int) -> int:
        """``page_to_netmem(compound_head(page))``; a net_iov is its own head."""
        return netmem if self._is_niov(netmem) else self._load(netmem, "HEAD")

    def netmem_address(self, netmem: int) -> int | None:
        """``page_address(page)``; NULL (None) for a net_iov (no kernel mapping)."""
        return None if self._is_niov(netmem) else self._load(netmem, "ADDRESS")

    def netmem_address_unchecked(self, netmem: int) -> int:
        """``__netmem_address()``: ``page_address()`` of a ref known to be a page."""
        if self._is_niov(netmem):
            raise errors.NotPageError(f"__netmem_address({netmem:#x}) needs a page; this is a net_iov", netmem)
        return self._load(netmem, "ADDRESS")

    def netmem_is_pfmemalloc(self, netmem: int) -> bool:
        """``page_is_pfmemalloc()``: bit 1 of ``lru.next``; false for a net_iov."""
        return not self._is_niov(netmem) and bool(self._load(netmem, "PP_MAGIC") & 2)

    def netmem_get_dma_addr(self, netmem: int) -> int:
        """The stored ``dma_addr`` word, still encoded (see netmem_dma_addr_decode)."""
        return self._load(netmem, "DMA_ADDR")

    # On LP64 sizeof(dma_addr_t) == sizeof(unsigned long): NETMEM_32BIT_ARCH_WITH_64BIT_DMA is false.
    def netmem_dma_addr_encode(self, addr: int) -> int:
        """``netmem_dma_addr_encode()``: identity on LP64 (no 32-bit-arch DMA shift)."""
        return validate.word(addr, "dma_addr_t")

    def netmem_dma_addr_decode(self, value: int) -> int:
        """``netmem_dma_addr_decode()``: identity on LP64."""
        return validate.word(value, "dma_addr")

    def netmem_dma_addr_fits(self, addr: int) -> bool:
        """``addr == decode(encode(addr))``: always true on LP64."""
        return Helpers.netmem_dma_addr_decode(self, Helpers.netmem_dma_addr_encode(self, addr)) == addr

    def net_is_devmem_iov(self, niov: Any) -> bool:
        """Whether the niov belongs to a devmem (dmabuf) binding: ``niov->type == NET_IOV_DMABUF``.

        6.15 (``spec.devmem_iov_by_pp``) asks ``niov->pp->mp_ops == &dmabuf_devmem_ops``:
        true only for a devmem :class:`PagePool`; a NULL ``pp`` (the kernel would oops)
        is :class:`NullPoolError`, a ``pp`` that is no pool of the package
        :class:`ForeignPoolError`.
        """
        ref = validate.niov_ref(niov)
        if not self.runtime.spec.devmem_iov_by_pp:
            return self._load(ref, "TYPE") == NET_IOV_DMABUF
        pp = self._load(ref, "PP")
        if pp == 0:
            raise errors.NullPoolError(f"niov {ref:#x} has pp NULL; 6.15's net_is_devmem_iov() would oops "
                                       "reading pp->mp_ops", ref)
        pool = POOLS.get(pp)
        if pool is None:
            raise errors.ForeignPoolError(f"niov {ref:#x} has pp {pp:#x}, no page_pool of the package; "
                                          "6.15's net_is_devmem_iov() would read its mp_ops", ref)
        return bool(pool.mp_ops == "devmem")

    def net_iov_owner(self, niov: Any) -> int:
        """``niov->owner``: the owner's address (a struct net_iov_area, or 6.12's chunk owner)."""
        return self._load(validate.niov_ref(niov), "OWNER")

    def net_iov_idx(self, niov: Any) -> int:
        """``niov - net_iov_owner(niov)->niovs``: the niov's index in its area."""
        return self._load(validate.niov_ref(niov), "IDX")

    def net_iov_init(self, niov: object, owner: object, type: int) -> None:  # noqa: A002 - the kernel's name
        """``net_iov_init()``: store ``owner`` and ``type``; nothing else.

        ``owner`` must be the niov's own area (a NetIovArea or its ``owner``
        address): the model never points a niov at memory it does not own
        (:class:`NetmemValueError` otherwise, and for a ``type`` that is not a provider).
        """
        ref = validate.niov_ref(niov)
        owner_addr = validate.word(getattr(owner, "owner", owner), "owner")
        provider = validate.provider(type)
        rt = self.runtime
        rc = rt.lib.nm_net_iov_init(ref, owner_addr, provider)
        if rc == rt.lib.NM_E_INVAL:
            raise errors.NetmemValueError(
                f"owner {owner_addr:#x} is not the area that holds niov {ref:#x}; the model only "
                "re-initialises a niov with its own area", owner)
        rt.check(rc, ref, "niov")

    def netmem_dma_unmap_addr_set(self, netmem: int, obj: Any, name: str, val: int) -> None:
        """``dma_unmap_addr_set(obj, name, val)`` for a page; stores 0 for a net_iov (the marker)."""
        value = 0 if self._is_niov(netmem) else validate.word(val, "dma address")
        if isinstance(obj, dict):
            obj[name] = value
        else:
            setattr(obj, name, value)

    def netmem_dma_unmap_page_attrs(self, dev: Any, addr: int, size: int, dir: int, attrs: int = 0) -> None:  # noqa: A002
        """Returns at once for ``addr == 0`` (a net_iov's marker); else ``dma_unmap_page_attrs()``."""
        if validate.word(addr, "dma address") == 0:
            return
        dev.unmap_page(addr, size, dir, attrs)

    # ---- page_pool side: net/core/netmem_priv.h, include/linux/mm.h ----

    def netmem_set_pp(self, netmem: int, pool: Any) -> None:
        """``netmem_to_nmdesc(netmem)->pp = pool`` (a pointer value, or an object with ``.addr``)."""
        value = validate.word(getattr(pool, "addr", 0 if pool is None else pool), "page_pool *")
        self._update(netmem, "PP", 0, value)

    def netmem_set_dma_addr(self, netmem: int, dma_addr: int) -> None:
        """``netmem_to_nmdesc(netmem)->dma_addr = dma_addr`` (already encoded)."""
        self._update(netmem, "DMA_ADDR", 0, validate.word(dma_addr, "dma_addr"))

    def netmem_get_pp_magic(self, netmem: int) -> int:
        """``pp_magic & ~PP_DMA_INDEX_MASK``."""
        return self._load(netmem, "PP_MAGIC") & ~self._magic.pp_dma_index_mask & WORD_MASK

    def netmem_or_pp_magic(self, netmem: int, pp_magic: int) -> None:
        """``pp_magic |= pp_magic``."""
        self._update(netmem, "PP_MAGIC", WORD_MASK, validate.word(pp_magic, "pp_magic"))

    def netmem_clear_pp_magic(self, netmem: int) -> None:
        """WARN_ON_ONCE if a DMA index is still set, then ``pp_magic = 0``."""
        if self._load(netmem, "PP_MAGIC") & self._magic.pp_dma_index_mask:
            _warn(f"netmem_clear_pp_magic({netmem:#x}): a DMA index is still stored (WARN_ON_ONCE)")
        self._update(netmem, "PP_MAGIC", 0, 0)

    def netmem_is_pp(self, netmem: int) -> bool:
        """``(netmem_get_pp_magic(netmem) & PP_MAGIC_MASK) == PP_SIGNATURE``."""
        return self.netmem_get_pp_magic(netmem) & self._magic.pp_magic_mask == self._magic.pp_signature

    def page_pool_page_is_pp(self, page: int) -> bool:
        """mm.h ``page_pool_page_is_pp()``: ``(pp_magic & PP_MAGIC_MASK) == PP_SIGNATURE`` for a page."""
        if self._is_niov(page):
            raise errors.NotPageError(f"page_pool_page_is_pp({page:#x}) takes a struct page; this is a net_iov", page)
        return self._load(page, "PP_MAGIC") & self._magic.pp_magic_mask == self._magic.pp_signature

    def netmem_get_dma_index(self, netmem: int) -> int:
        """The DMA index stored in ``pp_magic`` of a page; a net_iov: WARN_ON_ONCE, 0."""
        if self._is_niov(netmem):
            _warn(f"netmem_get_dma_index({netmem:#x}) on a net_iov (WARN_ON_ONCE)")
            return 0
        return (self._load(netmem, "PP_MAGIC") & self._magic.pp_dma_index_mask) >> self._magic.pp_dma_index_shift

    def netmem_set_dma_index(self, netmem: int, index: int) -> None:
        """Replace the page's DMA index in ``pp_magic``; a net_iov: WARN_ON_ONCE, nothing stored."""
        validate.count(index, "DMA index (PP_DMA_INDEX_LIMIT)", 0, self._magic.pp_dma_index_limit[1])
        if self._is_niov(netmem):
            _warn(f"netmem_set_dma_index({netmem:#x}) on a net_iov (WARN_ON_ONCE)")
            return
        self._update(netmem, "PP_MAGIC", ~self._magic.pp_dma_index_mask & WORD_MASK, index << self._magic.pp_dma_index_shift)

    def page_pool_set_pp_info(self, pool: Any, netmem: int) -> None:
        """``netmem_set_pp()``, ``netmem_or_pp_magic(PP_SIGNATURE)``, ``page_pool_fragment_netmem(1)``."""
        value = validate.word(getattr(pool, "addr", pool), "page_pool *")
        self._kind(netmem)
        self._update(netmem, "PP", 0, value)
        self._update(netmem, "PP_MAGIC", WORD_MASK, self._magic.pp_signature)
        self.runtime.call(self.runtime.lib.nm_pp_fragment, netmem, 1)

    def page_pool_clear_pp_info(self, netmem: int) -> None:
        """``netmem_clear_pp_magic()`` then ``netmem_set_pp(NULL)``."""
        self.netmem_clear_pp_magic(netmem)
        self._update(netmem, "PP", 0, 0)

    def page_pool_get_dma_addr_netmem(self, netmem: int) -> int:
        """``netmem_dma_addr_decode(netmem_get_dma_addr(netmem))`` (6.12-7.0: the same arithmetic inline)."""
        # Called through the class: a generation without the 7.2 helper names still has their arithmetic.
        return Helpers.netmem_dma_addr_decode(self, self.netmem_get_dma_addr(netmem))

    def page_pool_set_dma_addr_netmem(self, netmem: int, addr: int) -> bool:
        """Store ``encode(addr)``; returns ``not fits(addr)``, so True means failure."""
        self.netmem_set_dma_addr(netmem, Helpers.netmem_dma_addr_encode(self, addr))
        return not Helpers.netmem_dma_addr_fits(self, addr)

    # ---- page forms of the page_pool helpers (include/net/page_pool/helpers.h) ----

    def _page(self, page: int, helper: str) -> int:
        if self._is_niov(page):
            raise errors.NotPageError(f"{helper}({page:#x}) takes a struct page; this is a net_iov", page)
        return page

    def page_pool_fragment_page(self, page: int, nr: int) -> None:
        """``page_pool_fragment_netmem(page_to_netmem(page), nr)``."""
        self.page_pool_fragment_netmem(self._page(page, "page_pool_fragment_page"), nr)

    def page_pool_unref_page(self, page: int, nr: int) -> int:
        """``page_pool_unref_netmem(page_to_netmem(page), nr)``."""
        return self.page_pool_unref_netmem(self._page(page, "page_pool_unref_page"), nr)

    def page_pool_ref_page(self, page: int) -> None:
        """``page_pool_ref_netmem(page_to_netmem(page))``."""
        self.page_pool_ref_netmem(self._page(page, "page_pool_ref_page"))

    def page_pool_get_dma_addr(self, page: int) -> int:
        """``page_pool_get_dma_addr_netmem(page_to_netmem(page))``."""
        return self.page_pool_get_dma_addr_netmem(self._page(page, "page_pool_get_dma_addr"))

    # ---- memory providers (net/core/page_pool.c) and devmem (net/core/devmem.h) ----

    def net_mp_niov_set_page_pool(self, pool: Any, niov: Any) -> None:
        """``page_pool_set_pp_info(pool, net_iov_to_netmem(niov))``; bumps ``pool.pages_state_hold_cnt`` if it has one."""
        self.page_pool_set_pp_info(pool, validate.niov_ref(niov))
        if hasattr(pool, "pages_state_hold_cnt"):
            pool.pages_state_hold_cnt += 1

    def net_mp_niov_clear_page_pool(self, niov: Any) -> None:
        """``page_pool_clear_pp_info(net_iov_to_netmem(niov))``."""
        self.page_pool_clear_pp_info(validate.niov_ref(niov))

    def net_mp_niov_set_dma_addr(self, niov: Any, addr: int) -> bool:
        """``page_pool_set_dma_addr_netmem(net_iov_to_netmem(niov), addr)``: True means it did not fit."""
        return self.page_pool_set_dma_addr_netmem(validate.niov_ref(niov), addr)

    def _owner_word(self, niov: Any, *member: str) -> int:
        """A word of the chunk owner ``niov->owner`` points at (checked to be the package's own first)."""
        self.net_iov_idx(niov)  # NullOwnerError / ForeignOwnerError where the kernel would oops
        ffi = self.runtime.ffi
        offset = ffi.offsetof("struct dmabuf_genpool_chunk_owner", *member)
        return int(ffi.cast("unsigned long *", self.net_iov_owner(niov) + offset)[0])

    def net_iov_virtual_addr(self, niov: Any) -> int:
        """``owner->base_virtual + ((unsigned long)net_iov_idx(niov) << PAGE_SHIFT)`` (devmem.h)."""
        base = self._owner_word(niov, *(("area", "base_virtual") if self.runtime.spec.has_area else ("base_virtual",)))
        return (base + (self.net_iov_idx(niov) << PAGE_SHIFT)) & WORD_MASK

    def net_devmem_iov_binding(self, niov: Any) -> int:
        """``net_devmem_iov_to_chunk_owner(niov)->binding``: the binding pointer stored in the owner."""
        return self._owner_word(niov, "binding")

    def net_devmem_iov_binding_id(self, niov: Any) -> int:
        """``net_devmem_iov_binding(niov)->id``; the stored binding pointer must be a binding of the package."""
        binding = self.net_devmem_iov_binding(niov)
        out = self.runtime.ffi.new("unsigned int *")
        self.runtime.check(self.runtime.lib.nm_binding_id(binding, out), binding, "binding (niov->owner->binding)")
        return int(out[0])

    def netmem_kind(self, netmem: int) -> str:
        """``"net_iov"`` or ``"page"`` for a valid ref this profile owns (raises otherwise)."""
        return "net_iov" if self._is_niov(netmem) else "page"
