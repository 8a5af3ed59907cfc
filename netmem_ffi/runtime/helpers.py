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

import warnings
from typing import TYPE_CHECKING, Any

from netmem_ffi import errors
from netmem_ffi.abi.constants import LP64, NET_IOV, NET_IOV_DMABUF, NODES_MASK, PAGE_SHIFT

if TYPE_CHECKING:
    from netmem_ffi.runtime.core import Runtime

WORD_MASK = LP64.word_mask


def _word(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        hint = " (pass its .netmem)" if hasattr(value, "netmem") else ""
        raise errors.NetmemTypeError(f"{what} must be an int, got {type(value).__name__} {value!r}{hint}", value)
    if not 0 <= value <= WORD_MASK:
        raise errors.NetmemValueError(f"{what} {value:#x} is outside 0 .. 2**64-1", value)
    return value


def _warn(message: str) -> None:
    warnings.warn(message, errors.NetmemWarning, stacklevel=3)


def make_helpers(rt: Runtime) -> dict[str, Any]:  # noqa: C901 - one closure per kernel helper
    """The helpers of :data:`~netmem_ffi.runtime.core.RUNTIME_NAMES` bound to one profile."""
    lib, ffi = rt.lib, rt.ffi
    load, kind = rt.load, rt.kind
    NIOV, PAGE = lib.NM_KIND_NIOV, lib.NM_KIND_PAGE
    desc = "struct netmem_desc" if rt.profile.spec.has_netmem_desc else "struct net_iov"
    pp_ref_count_offset = ffi.offsetof("struct page", "pp_ref_count")
    C = LP64

    def niov_ref(niov: Any) -> int:
        """A ``struct net_iov *`` argument: a NetIov view or a net_iov netmem_ref."""
        ref = getattr(niov, "netmem", niov)
        _word(ref, "niov")
        if not ref & NET_IOV:
            raise errors.NotNetIovError(f"niov {ref:#x} is not a net_iov ref (NET_IOV bit clear)", ref)
        return ref

    def update(netmem: int, field: int, keep: int, bits: int) -> int:
        old = ffi.new("unsigned long *")
        rt.call(lib.nm_update, netmem, field, keep, bits, old)
        return int(old[0])

    # ---- netmem_ref arithmetic (include/net/netmem.h) ----

    def netmem_is_net_iov(netmem: int) -> bool:
        """``netmem & NET_IOV``: whether the ref is a net_iov (bit 0 set)."""
        return bool(_word(netmem, "netmem_ref") & NET_IOV)

    def net_iov_to_netmem(niov: Any) -> int:
        """``(netmem_ref)niov | NET_IOV`` for a ``struct net_iov *`` address or a NetIov view."""
        if hasattr(niov, "netmem"):
            return int(niov.netmem)
        addr = _word(niov, "struct net_iov *")
        if addr & NET_IOV:
            raise errors.NetmemValueError(f"struct net_iov * {addr:#x} has bit 0 set; it is already a netmem_ref", addr)
        return addr | NET_IOV

    def page_to_netmem(page: int) -> int:
        """``(netmem_ref)page``: a ``struct page *`` is its own ref (bit 0 must be clear)."""
        addr = _word(page, "struct page *")
        if addr & NET_IOV:
            raise errors.NetmemValueError(f"struct page * {addr:#x} has bit 0 set; pages are word-aligned", addr)
        return addr

    def netmem_to_page_unchecked(netmem: int) -> int:
        """``__netmem_to_page()``: the ref as a ``struct page *``, no check (meaningless for a niov)."""
        return _word(netmem, "netmem_ref")

    def netmem_to_page(netmem: int) -> int | None:
        """The ``struct page *`` of a page ref; for a net_iov, WARN_ON_ONCE and NULL (None + warning)."""
        if kind(netmem) == NIOV:
            _warn(f"netmem_to_page({netmem:#x}): a net_iov is not a page (WARN_ON_ONCE, NULL)")
            return None
        return netmem

    def netmem_to_net_iov(netmem: int) -> int | None:
        """The ``struct net_iov *`` of a niov ref; for a page, DEBUG_NET_WARN_ON_ONCE and NULL."""
        if kind(netmem) == PAGE:
            _warn(f"netmem_to_net_iov({netmem:#x}): a page is not a net_iov (DEBUG_NET_WARN_ON_ONCE, NULL)")
            return None
        return netmem & ~NET_IOV

    def virt_to_netmem(addr: int) -> int:
        """``page_to_netmem(virt_to_page(addr))`` for an address inside a PageMap's frames."""
        out = ffi.new("netmem_ref *")
        rt.call(lib.nm_virt_to_page, addr, out, what="virtual address")
        return int(out[0])

    def netmem_ref_count(netmem: int) -> int:
        """``page_ref_count()`` of this very page (no head lookup); a net_iov reports 1."""
        if kind(netmem) == NIOV:
            return 1
        value = load(netmem, lib.NM_F_REFCOUNT)
        return value - (1 << 64) if value >= 1 << 63 else value

    def netmem_pfn_trace(netmem: int) -> int:
        """``page_to_pfn()`` of a page; 0 for a net_iov."""
        return 0 if kind(netmem) == NIOV else load(netmem, lib.NM_F_PFN)

    def netmem_to_nmdesc(netmem: int) -> int:
        """``netmem_to_nmdesc()``: the descriptor address ``netmem & ~NET_IOV`` (``&niov->desc`` or the page)."""
        kind(netmem)
        return netmem & ~NET_IOV

    def netmem_to_nmdesc_unchecked(netmem: int) -> int:
        """``__netmem_to_nmdesc()``: page-only cast, no check (wrong for a net_iov: bit 0 stays)."""
        return _word(netmem, "netmem_ref")

    def netmem_get_pp(netmem: int) -> int:
        """``netmem_to_nmdesc(netmem)->pp``: the page_pool pointer value."""
        return load(netmem, lib.NM_F_PP)

    def netmem_get_pp_unchecked(netmem: int) -> int:
        """``__netmem_get_pp()``: ``pp`` of a ref known to be a page (a net_iov raises NotPageError)."""
        if kind(netmem) == NIOV:
            raise errors.NotPageError(f"__netmem_get_pp({netmem:#x}) reads a page; this is a net_iov", netmem)
        return load(netmem, lib.NM_F_PP)

    def netmem_get_pp_ref_count_ref(netmem: int) -> int:
        """``&netmem_to_nmdesc(netmem)->pp_ref_count``: the counter's address."""
        kind(netmem)
        return (netmem & ~NET_IOV) + pp_ref_count_offset

    def netmem_is_pref_nid(netmem: int, pref_nid: int) -> bool:
        """``page_to_nid(page) == pref_nid``; always true for a net_iov (the provider decides)."""
        if not isinstance(pref_nid, int) or isinstance(pref_nid, bool):
            raise errors.NetmemTypeError(f"pref_nid must be an int, got {type(pref_nid).__name__}", pref_nid)
        if kind(netmem) == NIOV:
            return True
        return (load(netmem, lib.NM_F_WORD0) >> C.nodes_pgshift) & NODES_MASK == pref_nid

    def netmem_compound_head(netmem: int) -> int:
        """``page_to_netmem(compound_head(page))``; a net_iov is its own head."""
        return netmem if kind(netmem) == NIOV else load(netmem, lib.NM_F_HEAD)

    def netmem_address(netmem: int) -> int | None:
        """``page_address(page)``; NULL (None) for a net_iov (no kernel mapping)."""
        return None if kind(netmem) == NIOV else load(netmem, lib.NM_F_ADDRESS)

    def netmem_address_unchecked(netmem: int) -> int:
        """``__netmem_address()``: ``page_address()`` of a ref known to be a page."""
        if kind(netmem) == NIOV:
            raise errors.NotPageError(f"__netmem_address({netmem:#x}) needs a page; this is a net_iov", netmem)
        return load(netmem, lib.NM_F_ADDRESS)

    def netmem_is_pfmemalloc(netmem: int) -> bool:
        """``page_is_pfmemalloc()``: bit 1 of ``lru.next``; false for a net_iov."""
        return kind(netmem) == PAGE and bool(load(netmem, lib.NM_F_PP_MAGIC) & 2)

    def netmem_get_dma_addr(netmem: int) -> int:
        """The stored ``dma_addr`` word, still encoded (see netmem_dma_addr_decode)."""
        return load(netmem, lib.NM_F_DMA_ADDR)

    # On LP64 sizeof(dma_addr_t) == sizeof(unsigned long): NETMEM_32BIT_ARCH_WITH_64BIT_DMA is false.
    def netmem_dma_addr_encode(addr: int) -> int:
        """``netmem_dma_addr_encode()``: identity on LP64 (no 32-bit-arch DMA shift)."""
        return _word(addr, "dma_addr_t")

    def netmem_dma_addr_decode(value: int) -> int:
        """``netmem_dma_addr_decode()``: identity on LP64."""
        return _word(value, "dma_addr")

    def netmem_dma_addr_fits(addr: int) -> bool:
        """``addr == decode(encode(addr))``: always true on LP64."""
        return netmem_dma_addr_decode(netmem_dma_addr_encode(addr)) == addr

    def net_is_devmem_iov(niov: Any) -> bool:
        """Whether the niov belongs to a devmem (dmabuf) binding: ``niov->type == NET_IOV_DMABUF``."""
        return load(niov_ref(niov), lib.NM_F_TYPE) == NET_IOV_DMABUF

    def net_iov_owner(niov: Any) -> int:
        """``niov->owner``: the owner's address (a struct net_iov_area, or 6.12's chunk owner)."""
        return load(niov_ref(niov), lib.NM_F_OWNER)

    def net_iov_idx(niov: Any) -> int:
        """``niov - net_iov_owner(niov)->niovs``: the niov's index in its area."""
        return load(niov_ref(niov), lib.NM_F_IDX)

    def net_iov_init(niov: Any, owner: Any, type: int) -> None:  # noqa: A002 - the kernel's name
        """``net_iov_init()``: store ``owner`` and ``type``; nothing else.

        ``owner`` must be the niov's own area (a NetIovArea or its ``owner``
        address): the model never points a niov at memory it does not own.
        """
        ref = niov_ref(niov)
        owner_addr = getattr(owner, "owner", owner)
        if owner_addr != net_iov_owner_of_area(ref):
            raise errors.NetmemValueError(
                f"owner {owner_addr!r} is not the area that holds niov {ref:#x}; the model only "
                "re-initialises a niov with its own area", owner)
        if type not in (0, 1) or isinstance(type, bool):
            raise errors.NetmemValueError(f"type {type!r} is not NET_IOV_DMABUF (0) or NET_IOV_IOURING (1)", type)
        rt.call(lib.nm_net_iov_init, ref, type)

    def net_iov_owner_of_area(ref: int) -> int:
        from netmem_ffi.runtime.memory import area_of

        return area_of(rt, ref).owner

    def netmem_dma_unmap_addr_set(netmem: int, obj: Any, name: str, val: int) -> None:
        """``dma_unmap_addr_set(obj, name, val)`` for a page; stores 0 for a net_iov (the marker)."""
        value = 0 if kind(netmem) == NIOV else _word(val, "dma address")
        if isinstance(obj, dict):
            obj[name] = value
        else:
            setattr(obj, name, value)

    def netmem_dma_unmap_page_attrs(dev: Any, addr: int, size: int, dir: int, attrs: int = 0) -> None:  # noqa: A002
        """Returns at once for ``addr == 0`` (a net_iov's marker); else ``dma_unmap_page_attrs()``."""
        if _word(addr, "dma address") == 0:
            return
        dev.unmap_page(addr, size, dir, attrs)

    # ---- page_pool side: net/core/netmem_priv.h, include/linux/mm.h ----

    def netmem_set_pp(netmem: int, pool: Any) -> None:
        """``netmem_to_nmdesc(netmem)->pp = pool`` (a pointer value, or an object with ``.addr``)."""
        value = _word(getattr(pool, "addr", 0 if pool is None else pool), "page_pool *")
        update(netmem, lib.NM_F_PP, 0, value)

    def netmem_set_dma_addr(netmem: int, dma_addr: int) -> None:
        """``netmem_to_nmdesc(netmem)->dma_addr = dma_addr`` (already encoded)."""
        update(netmem, lib.NM_F_DMA_ADDR, 0, _word(dma_addr, "dma_addr"))

    def netmem_get_pp_magic(netmem: int) -> int:
        """``pp_magic & ~PP_DMA_INDEX_MASK``."""
        return load(netmem, lib.NM_F_PP_MAGIC) & ~C.pp_dma_index_mask & WORD_MASK

    def netmem_or_pp_magic(netmem: int, pp_magic: int) -> None:
        """``pp_magic |= pp_magic``."""
        update(netmem, lib.NM_F_PP_MAGIC, WORD_MASK, _word(pp_magic, "pp_magic"))

    def netmem_clear_pp_magic(netmem: int) -> None:
        """WARN_ON_ONCE if a DMA index is still set, then ``pp_magic = 0``."""
        if load(netmem, lib.NM_F_PP_MAGIC) & C.pp_dma_index_mask:
            _warn(f"netmem_clear_pp_magic({netmem:#x}): a DMA index is still stored (WARN_ON_ONCE)")
        update(netmem, lib.NM_F_PP_MAGIC, 0, 0)

    def netmem_is_pp(netmem: int) -> bool:
        """``(netmem_get_pp_magic(netmem) & PP_MAGIC_MASK) == PP_SIGNATURE``."""
        return netmem_get_pp_magic(netmem) & C.pp_magic_mask == C.pp_signature

    def page_pool_page_is_pp(page: int) -> bool:
        """mm.h ``page_pool_page_is_pp()``: ``(pp_magic & PP_MAGIC_MASK) == PP_SIGNATURE`` for a page."""
        if kind(page) == NIOV:
            raise errors.NotPageError(f"page_pool_page_is_pp({page:#x}) takes a struct page; this is a net_iov", page)
        return load(page, lib.NM_F_PP_MAGIC) & C.pp_magic_mask == C.pp_signature

    def netmem_get_dma_index(netmem: int) -> int:
        """The DMA index stored in ``pp_magic`` of a page; a net_iov: WARN_ON_ONCE, 0."""
        if kind(netmem) == NIOV:
            _warn(f"netmem_get_dma_index({netmem:#x}) on a net_iov (WARN_ON_ONCE)")
            return 0
        return (load(netmem, lib.NM_F_PP_MAGIC) & C.pp_dma_index_mask) >> C.pp_dma_index_shift

    def netmem_set_dma_index(netmem: int, index: int) -> None:
        """Replace the page's DMA index in ``pp_magic``; a net_iov: WARN_ON_ONCE, nothing stored."""
        low, high = C.pp_dma_index_limit
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= high:
            raise errors.NetmemValueError(f"DMA index {index!r} is outside 0 .. {high:#x} (PP_DMA_INDEX_LIMIT)", index)
        if kind(netmem) == NIOV:
            _warn(f"netmem_set_dma_index({netmem:#x}) on a net_iov (WARN_ON_ONCE)")
            return
        update(netmem, lib.NM_F_PP_MAGIC, ~C.pp_dma_index_mask & WORD_MASK, index << C.pp_dma_index_shift)

    def page_pool_set_pp_info(pool: Any, netmem: int) -> None:
        """``netmem_set_pp()``, ``netmem_or_pp_magic(PP_SIGNATURE)``, ``page_pool_fragment_netmem(1)``."""
        value = _word(getattr(pool, "addr", pool), "page_pool *")
        kind(netmem)
        update(netmem, lib.NM_F_PP, 0, value)
        update(netmem, lib.NM_F_PP_MAGIC, WORD_MASK, C.pp_signature)
        rt.call(lib.nm_pp_fragment, netmem, 1)

    def page_pool_clear_pp_info(netmem: int) -> None:
        """``netmem_clear_pp_magic()`` then ``netmem_set_pp(NULL)``."""
        netmem_clear_pp_magic(netmem)
        update(netmem, lib.NM_F_PP, 0, 0)

    def page_pool_get_dma_addr_netmem(netmem: int) -> int:
        """``netmem_dma_addr_decode(netmem_get_dma_addr(netmem))``."""
        return netmem_dma_addr_decode(netmem_get_dma_addr(netmem))

    def page_pool_set_dma_addr_netmem(netmem: int, addr: int) -> bool:
        """Store ``encode(addr)``; returns ``not fits(addr)``, so True means failure."""
        netmem_set_dma_addr(netmem, netmem_dma_addr_encode(addr))
        return not netmem_dma_addr_fits(addr)

    def netmem_kind(netmem: int) -> str:
        """``"net_iov"`` or ``"page"`` for a valid ref this profile owns (raises otherwise)."""
        return "net_iov" if kind(netmem) == NIOV else "page"

    from netmem_ffi.runtime.core import RUNTIME_NAMES

    names = {k: v for k, v in locals().items() if k in RUNTIME_NAMES}
    for fn in names.values():
        fn.__doc__ = f"{fn.__doc__}\n\nProfile {rt.name} ({desc} model)."
    names["NET_IOV"] = NET_IOV
    return names


__all__ = ["make_helpers", "PAGE_SHIFT"]
