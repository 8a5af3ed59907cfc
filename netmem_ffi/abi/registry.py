"""The netmem ABI generations as data: one entry per profile, oldest first.

This module is the single source of truth for what distinguishes one generation
of ``include/net/netmem.h`` from the next.  It has no imports from the rest of
the package so that ``build_ffi.py`` can load it before anything is compiled.

Each :class:`ProfileSpec` names

* the ``cdefs/`` pieces whose concatenation *is* that generation's declarations
  (the same text is fed to cffi's ``cdef`` and to the C compiler),
* the kernel's own static asserts for that generation (evaluated by the C
  compiler at build time, by :mod:`netmem_ffi.abicheck.asserts` on any layout, and on
  a kernel's BTF by ``netmem-ffi check``),
* the feature switches the C runtime needs (whether ``net_iov`` has a ``type``
  word, whether owners are ``struct net_iov_area``, how the common descriptor
  fields are reached), each with the kernel change that introduced it.
"""

from __future__ import annotations

import os

from netmem_ffi.errors import UnknownProfileError

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc too: collections costs every first call ~2.5 ms
    from collections.abc import Callable, Mapping
    from typing import NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple

#: Pieces every generation starts with: netmem_ref, atomics, the page window.
COMMON_CDEFS = ("common.h",)
#: Declarations of the C runtime (areas, page maps, helpers, refcount path).
RUNTIME_CDEFS = ("netmem_rt.h",)
#: C sources of the runtime, compiled once per generation as one translation
#: unit, in this order: core (regions, validation, counters), page maps, the
#: refcount path and its bulk form, field access, areas, then the CPython entry points.
RUNTIME_SOURCES = (
    "netmem_rt.c",
    "netmem_rt_pages.c",
    "netmem_rt_refs.c",
    "netmem_rt_bulk.c",
    "netmem_rt_access.c",
    "netmem_rt_areas.c",
    "netmem_py.c",
)

#: The six words of the netmem window, as named in ``struct netmem_desc``
#: (v6.17+) and mirrored in ``struct page``.
DESC_FIELDS = ("_flags", "pp_magic", "pp", "_pp_mapping_pad", "dma_addr", "pp_ref_count")
#: The struct page member each descriptor field mirrors.
PAGE_MIRROR = {"_flags": "flags"}
#: The four fields NET_IOV_ASSERT_OFFSET pins against struct page in 6.12-6.16.
PAGE_ASSERTED_FIELDS = ("pp_magic", "pp", "dma_addr", "pp_ref_count")

#: Structs every layout set describes (SPEC 5), in report order.
STRUCTS = ("netmem_desc", "net_iov", "net_iov_area", "page")
#: The members of struct page that netmem relies on; layouts of ``page`` are
#: limited to these (SPEC 7, check --json).  From 7.1 the kernel calls the
#: tail-page word ``compound_info`` (same offset and size as ``compound_head``,
#: which the model keeps): comparisons report it as a rename, not a break.
PAGE_MEMBERS = (
    "flags",
    "pp_magic",
    "compound_head",
    "compound_info",
    "pp",
    "_pp_mapping_pad",
    "dma_addr",
    "pp_ref_count",
    "page_type",
    "_mapcount",
    "_refcount",
)
#: The enum every layout set describes.
ENUMS = ("net_iov_type",)


class OffsetEq(NamedTuple):
    """``static_assert(offsetof(struct A, a) == offsetof(struct B, b))``."""

    struct_a: str
    field_a: str
    struct_b: str
    field_b: str
    macro: str

    def c_expr(self) -> str:
        return (
            f"offsetof(struct {self.struct_a}, {self.field_a}) == "
            f"offsetof(struct {self.struct_b}, {self.field_b})"
        )


class SizeLeOffset(NamedTuple):
    """``static_assert(sizeof(struct A) <= offsetof(struct B, b))``."""

    struct_a: str
    struct_b: str
    field_b: str
    macro: str = "static_assert"

    def c_expr(self) -> str:
        return f"sizeof(struct {self.struct_a}) <= offsetof(struct {self.struct_b}, {self.field_b})"


Assert = OffsetEq | SizeLeOffset


def _page_vs_niov() -> tuple[Assert, ...]:
    # NET_IOV_ASSERT_OFFSET(pg, iov) in 6.12 .. 6.16: struct page vs struct net_iov.
    return tuple(OffsetEq("page", f, "net_iov", f, "NET_IOV_ASSERT_OFFSET") for f in PAGE_ASSERTED_FIELDS)


def _page_vs_desc() -> tuple[Assert, ...]:
    # NETMEM_DESC_ASSERT_OFFSET(pg, desc) from 6.17, plus the size bound.
    pairs = tuple(
        OffsetEq("page", PAGE_MIRROR.get(f, f), "netmem_desc", f, "NETMEM_DESC_ASSERT_OFFSET")
        for f in DESC_FIELDS
    )
    return pairs + (SizeLeOffset("netmem_desc", "page", "_refcount"),)


def _desc_vs_niov() -> tuple[Assert, ...]:
    # NET_IOV_ASSERT_OFFSET(desc, iov) in 6.17 .. 6.19: netmem_desc vs net_iov mirror.
    return tuple(OffsetEq("netmem_desc", f, "net_iov", f, "NET_IOV_ASSERT_OFFSET") for f in DESC_FIELDS)


#: The assert families by the name the registry builds them with (a derived
#: generation's entry is written with these calls).
ASSERT_GROUPS: dict[str, Callable[[], tuple[Assert, ...]]] = {
    "_page_vs_niov": _page_vs_niov, "_page_vs_desc": _page_vs_desc, "_desc_vs_niov": _desc_vs_niov,
}


class ProfileSpec(NamedTuple):
    """One ABI generation of include/net/netmem.h."""

    name: str
    kernels: tuple[str, ...]
    summary: str
    cdefs: tuple[str, ...]
    asserts: tuple[Assert, ...]
    #: net_iov carries ``enum net_iov_type type`` (6.16, Almasry "netmem: add
    #: niov->type attribute"); before it the provider is known only to its owner.
    has_type_field: bool
    #: ``owner`` is a ``struct net_iov_area *`` (commit 7d60fa9e1ab1, 6.15);
    #: before it, a ``struct dmabuf_genpool_chunk_owner *``.
    has_area: bool
    #: The common fields sit in a named ``desc`` member, not at top level (7.2).
    desc_member: bool
    #: ``enum net_iov_type`` has ``NET_IOV_MAX = ULONG_MAX`` (6.16 .. 6.18).
    enum_has_max: bool
    #: ``struct netmem_desc`` exists (commit f3d85c9ee510, 6.17).
    has_netmem_desc: bool
    notes: tuple[str, ...] = ()
    #: pp_magic carries a DMA index (6.15, commit ee62ce7a1d90; in 6.12 only from a
    #: later stable release, so not in the 6.12 release the v6.12 surface follows).
    has_dma_index: bool = True
    #: net_is_devmem_iov() tests ``niov->pp->mp_ops == &dmabuf_devmem_ops`` (6.15; from
    #: 6.16 it tests ``niov->type``, before 6.15 its form is not pinned).
    devmem_iov_by_pp: bool = False
    #: The release whose helper surface the generation has (default: the one it is named after); a
    #: generation derived from a kernel takes that of its nearest registry generation.
    surface: str | None = None

    @property
    def release(self) -> str:
        """The kernel release whose helper surface the generation has (the one it is named after by default)."""
        return self.surface or self.name.lstrip("v")

    @property
    def absent_helpers(self) -> tuple[str, ...]:
        """Kernel names of the helpers of :data:`HELPERS` this generation's release did not have."""
        return tuple(h.name for h in HELPERS if not h.present_in(self.release))

    @property
    def module(self) -> str:
        """Name of the compiled cffi extension inside the package."""
        return "_abi_" + self.name.replace(".", "_")

    def sources(self) -> tuple[str, ...]:
        """All cdefs pieces, in order, that make up this generation's declarations."""
        return COMMON_CDEFS + self.cdefs


PROFILES: tuple[ProfileSpec, ...] = (
    ProfileSpec(
        name="v6.12",
        kernels=("6.12", "6.13", "6.14"),
        summary="first struct net_iov (devmem TCP RX): six words mirroring the page_pool words "
        "of struct page; word 0 __unused_padding, owner a dmabuf_genpool_chunk_owner",
        cdefs=("owner_v6_12.h", "net_iov_v6_12.h"),
        asserts=_page_vs_niov(),
        has_type_field=False,
        has_area=False,
        desc_member=False,
        enum_has_max=False,
        has_netmem_desc=False,
        notes=(
            "net_iov_owner()/net_iov_idx() live in net/core/devmem.h; owner->niovs is the chunk's array",
            "no io_uring zcrx provider yet (it shipped in 6.15): areas are NET_IOV_DMABUF only",
            "the 6.14 page helper wrappers (commit 9bd9f72a7434) are absent in 6.12/6.13",
            "pp_magic has no DMA index bits in the 6.12 release (a later 6.12 stable added them)",
        ),
        has_dma_index=False,
    ),
    ProfileSpec(
        name="v6.15",
        kernels=("6.15",),
        summary="owner becomes struct net_iov_area * (commit 7d60fa9e1ab1); "
        "net_iov_owner()/net_iov_idx() move into netmem.h; no offset changes",
        cdefs=("net_iov_area.h", "owners.h", "net_iov_v6_15.h"),
        asserts=_page_vs_niov(),
        has_type_field=False,
        has_area=True,
        desc_member=False,
        enum_has_max=False,
        has_netmem_desc=False,
        notes=("net_is_devmem_iov() tests niov->pp->mp_ops, and so does the model",),
        devmem_iov_by_pp=True,
    ),
    ProfileSpec(
        name="v6.16",
        kernels=("6.16",),
        summary="enum net_iov_type type replaces __unused_padding at offset 0; NET_IOV_MAX = "
        "ULONG_MAX makes the enum word-sized; out-of-line get_netmem()/put_netmem()",
        cdefs=("net_iov_area.h", "owners.h", "net_iov_type_max.h", "net_iov_v6_16.h"),
        asserts=_page_vs_niov(),
        has_type_field=True,
        has_area=True,
        desc_member=False,
        enum_has_max=True,
        has_netmem_desc=False,
    ),
    ProfileSpec(
        name="v6.17",
        kernels=("6.17", "6.18"),
        summary="new struct netmem_desc; net_iov = union {desc; mirror of its six fields}, "
        "owner@48, type@56 (8-byte enum)",
        cdefs=("net_iov_area.h", "owners.h", "net_iov_type_max.h", "netmem_desc.h", "net_iov_v6_17.h"),
        asserts=_page_vs_desc() + _desc_vs_niov(),
        has_type_field=True,
        has_area=True,
        desc_member=False,
        enum_has_max=True,
        has_netmem_desc=True,
    ),
    ProfileSpec(
        name="v6.19",
        kernels=("6.19", "7.0"),
        summary="NET_IOV_MAX removed: type is a 4-byte enum at 56 with 4 bytes of tail padding; "
        "union and owner@48 unchanged",
        # The 6.19 change ("net: netmem: remove NET_IOV_MAX") touched only the
        # enum, so this generation reuses 6.17's struct net_iov declaration.
        cdefs=("net_iov_area.h", "owners.h", "net_iov_type.h", "netmem_desc.h", "net_iov_v6_17.h"),
        asserts=_page_vs_desc() + _desc_vs_niov(),
        has_type_field=True,
        has_area=True,
        desc_member=False,
        enum_has_max=False,
        has_netmem_desc=True,
    ),
    ProfileSpec(
        name="v7.2",
        kernels=("7.1", "7.2", "7.3"),
        summary="union gone: net_iov = {desc; type (4 bytes)@48; hole; owner@56}; net_iov_init(), "
        "netmem_to_nmdesc(), netmem_dma_addr_*; inline get/put over __get_netmem/__put_netmem",
        cdefs=("net_iov_area.h", "owners.h", "net_iov_type.h", "netmem_desc.h", "net_iov_v7_2.h"),
        asserts=_page_vs_desc(),
        has_type_field=True,
        has_area=True,
        desc_member=True,
        enum_has_max=False,
        has_netmem_desc=True,
        notes=("nothing asserts that desc sits at offset 0, although netmem_to_nmdesc() relies on it",),
    ),
)

DEFAULT_PROFILE = PROFILES[-1].name


#: release_key's answers: a profile asks ~100 times while binding its helper surface, always of the same
#: few releases (a dict, not functools.cache: functools and collections would cost every first call ~2 ms).
_RELEASE_KEYS: dict[str, tuple[int, ...]] = {}


def release_key(release: str) -> tuple[int, ...]:
    """``"6.14"`` -> ``(6, 14)``: kernel releases in numeric order."""
    key = _RELEASE_KEYS.get(release)
    if key is None:
        key = _RELEASE_KEYS[release] = tuple(int(part) for part in release.split("."))
    return key


class HelperName(NamedTuple):
    """One name of a helper: the kernel called it ``name`` from release ``since`` through ``until``.

    ``attr`` is the :class:`~netmem_ffi.Profile` attribute that implements it
    (a kernel ``__x`` keeps its name in ``profile.available`` and ``getattr``;
    its attribute drops the underscores, with ``_unchecked`` where the plain
    name is another helper).  ``until`` is the last release with the name
    (renamed or removed after it); ``successor`` is its newer name.
    """

    name: str
    attr: str
    since: str
    until: str | None = None
    successor: str | None = None

    def present_in(self, release: str) -> bool:
        """Whether kernel ``release`` had the helper under this name."""
        key = release_key(release)
        return release_key(self.since) <= key and (self.until is None or key <= release_key(self.until))


#: Per-generation helper surface: every helper that some generation lacks, under
#: the name each kernel gave it.  A helper not listed here is in every generation
#: (netmem.h 6.12 onwards, docs/netmem-abi.md section 3.2).  A profile's surface is
#: that of the release it is named after (``v6.12``: 6.12, though it also covers
#: 6.13 and 6.14), so code checked against a profile runs on every kernel it covers.
HELPERS: tuple[HelperName, ...] = (
    # 6.14, commit 9bd9f72a7434 "netmem: add a couple of page helper wrappers".
    HelperName("__netmem_to_page", "netmem_to_page_unchecked", "6.14"),
    HelperName("virt_to_netmem", "virt_to_netmem", "6.14"),
    HelperName("__netmem_get_pp", "netmem_get_pp_unchecked", "6.14"),
    HelperName("__netmem_address", "netmem_address_unchecked", "6.14"),
    HelperName("netmem_is_pfmemalloc", "netmem_is_pfmemalloc", "6.14"),
    # The last-ref test was page_pool_is_last_ref() in 6.12/6.13; 6.14's page_pool
    # netmem conversion (commit not pinned) renamed it page_pool_unref_and_test().
    HelperName("page_pool_is_last_ref", "page_pool_is_last_ref", "6.12", "6.13", "page_pool_unref_and_test"),
    HelperName("page_pool_unref_and_test", "page_pool_unref_and_test", "6.14"),
    # The descriptor as a struct net_iov * until netmem_to_nmdesc() replaced it (v7.2).
    HelperName("__netmem_clear_lsb", "netmem_clear_lsb", "6.12", "7.0", "netmem_to_nmdesc"),
    # io_uring zcrx, the second memory provider, shipped in 6.15.
    HelperName("io_zcrx_get_niov_uref", "io_zcrx_get_niov_uref", "6.15"),
    HelperName("io_zcrx_put_niov_uref", "io_zcrx_put_niov_uref", "6.15"),
    # Memory-provider hooks of page_pool.c, with io_uring zcrx (6.15).
    HelperName("net_mp_niov_set_page_pool", "net_mp_niov_set_page_pool", "6.15"),
    HelperName("net_mp_niov_clear_page_pool", "net_mp_niov_clear_page_pool", "6.15"),
    HelperName("net_mp_niov_set_dma_addr", "net_mp_niov_set_dma_addr", "6.15"),
    # Out-of-line get_netmem()/put_netmem() in net/core/skbuff.c (6.16, Almasry's devmem TX series).
    HelperName("get_netmem", "get_netmem", "6.16"),
    HelperName("put_netmem", "put_netmem", "6.16"),
    # The DMA index in pp_magic: 6.15, commit ee62ce7a1d90 (and a later 6.12 stable, not the 6.12 release).
    HelperName("netmem_get_dma_index", "netmem_get_dma_index", "6.15"),
    HelperName("netmem_set_dma_index", "netmem_set_dma_index", "6.15"),
    # dma-unmap markers for net_iov: 6.16 or 6.17 (unverified); absent in 6.12 and 6.15.
    HelperName("netmem_dma_unmap_addr_set", "netmem_dma_unmap_addr_set", "6.16"),
    HelperName("netmem_dma_unmap_page_attrs", "netmem_dma_unmap_page_attrs", "6.16"),
    # struct netmem_desc, commit f3d85c9ee510 (6.17).
    HelperName("__netmem_to_nmdesc", "netmem_to_nmdesc_unchecked", "6.17"),
    HelperName("pp_page_to_nmdesc", "pp_page_to_nmdesc", "6.17"),
    # The v7.2 netmem.h: net_iov_init(), netmem_to_nmdesc(), NETMEM_32BIT_ARCH_WITH_64BIT_DMA helpers.
    HelperName("netmem_to_nmdesc", "netmem_to_nmdesc", "7.2"),
    HelperName("net_iov_init", "net_iov_init", "7.2"),
    HelperName("netmem_dma_addr_encode", "netmem_dma_addr_encode", "7.2"),
    HelperName("netmem_dma_addr_decode", "netmem_dma_addr_decode", "7.2"),
    HelperName("netmem_dma_addr_fits", "netmem_dma_addr_fits", "7.2"),
)

#: Package forms that exist exactly where the helper they batch does.
BATCHES = {"get_netmem_bulk": "get_netmem", "put_netmem_bulk": "put_netmem"}

_HELPER_BY_NAME = {h.name: h for h in HELPERS} | {h.attr: h for h in HELPERS}


def helper_name(name: str) -> HelperName | None:
    """The table entry for a kernel name or Profile attribute (a batch form: its helper's); None: in every generation."""
    return _HELPER_BY_NAME.get(BATCHES.get(name, name))


def has_helper(profile: ProfileSpec, name: str) -> bool:
    """Whether the generation's release had helper ``name`` (kernel name or Profile attribute)."""
    entry = helper_name(name)
    return entry is None or entry.present_in(profile.release)


def first_with(name: str) -> str | None:
    """The first generation whose release has helper ``name``; None when none does."""
    return next((p.name for p in PROFILES if has_helper(p, name)), None)


def unavailable_message(profile: ProfileSpec, name: str) -> str:
    """Why generation ``profile`` lacks helper ``name``: when it appeared, or what replaced it."""
    entry = helper_name(name)
    assert entry is not None
    head = f"{name} is not in profile {profile.name} (kernel {profile.release}'s netmem API)"
    if release_key(profile.release) < release_key(entry.since):
        older = next((h.name for h in HELPERS if h.successor == entry.name and h.present_in(profile.release)), None)
        if older:
            return f"{head}: it appeared in kernel {entry.since}; kernel {profile.release} calls it {older}"
        return f"{head}: it appeared in kernel {entry.since}; the first generation that has it is {first_with(name)}"
    last = [p.name for p in PROFILES if has_helper(p, name)]
    return (f"{head}: kernel {entry.until} was the last to call it {entry.name} (profiles {', '.join(last)}); "
            f"later kernels call it {entry.successor}")


class PageRespelling(NamedTuple):
    """A ``struct page`` member whose spelling changed in *release* without moving (docs 1.5)."""

    member: str  # as the model (cdefs/common.h) names it
    attribute: str  # "type" or "name"
    old: str
    new: str
    release: str


#: The respellings of ``struct page`` the cdefs (one text for every generation) do not carry.
PAGE_RESPELLINGS = (
    # 6.18, "mm: introduce memdesc_flags_t": page->flags becomes a one-word struct.
    PageRespelling("flags", "type", "unsigned long", "memdesc_flags_t", "6.18"),
    # 7.1: the tail-page word compound_head is renamed compound_info.
    PageRespelling("compound_head", "name", "compound_head", "compound_info", "7.1"),
)


def page_respellings(profile: ProfileSpec) -> tuple[PageRespelling, ...]:
    """The respellings every kernel of *profile* carries (where its kernels disagree, the model keeps the old)."""
    return tuple(r for r in PAGE_RESPELLINGS if all(release_key(k) >= release_key(r.release) for k in profile.kernels))

_BY_NAME = {p.name: p for p in PROFILES}


def profile_name(name: str) -> str:
    """The profile that *name* means: a profile name (``v6.17``) or a kernel release (``6.18`` -> ``v6.17``).

    A release names the generation the registry lists it under.  Raises
    :class:`UnknownProfileError` naming the valid profiles and releases.
    """
    if isinstance(name, str):
        if name in _BY_NAME:
            return name
        release = ".".join(name.strip().split(".")[:2])
        for p in PROFILES:
            if release in p.kernels:
                return p.name
    valid = ", ".join(_BY_NAME)
    releases = ", ".join(k for p in PROFILES for k in p.kernels)
    raise UnknownProfileError(f"unknown netmem profile {name!r}; valid profiles: {valid}; "
                              f"or a kernel release: {releases}", name)


def spec(name: str) -> ProfileSpec:
    """The spec of profile *name* (or of the generation of kernel version *name*).

    Raises :class:`UnknownProfileError` naming the valid profiles.
    """
    return _BY_NAME[profile_name(name)]


def names() -> tuple[str, ...]:
    return tuple(_BY_NAME)


def declarations(profile: ProfileSpec, cdefs_dir: str, *, host_ulong_max: int | None = None,
                 pieces: Mapping[str, str] | None = None) -> str:
    """The generation's C declarations: its ``cdefs/`` pieces concatenated.

    *pieces* gives the text of pieces that are not (yet) files in *cdefs_dir*
    (the piece of a generation derived from a kernel).

    cffi's cdef cannot evaluate ``ULONG_MAX``; pass ``host_ulong_max`` to
    substitute the host's value for it (the C compiler and the portable engine
    read the text as written).
    """
    parts = []
    for name in profile.sources():
        if pieces is not None and name in pieces:
            parts.append(f"/* ---- cdefs/{name} ---- */\n" + pieces[name])
            continue
        with open(os.path.join(cdefs_dir, name), encoding="utf-8") as fh:
            parts.append(f"/* ---- cdefs/{name} ---- */\n" + fh.read())
    text = "\n".join(parts)
    if host_ulong_max is not None:
        text = text.replace("ULONG_MAX", hex(host_ulong_max) + "UL")
    return text


def c_static_asserts(profile: ProfileSpec) -> str:
    """The generation's kernel static asserts as C11 ``_Static_assert`` lines."""
    lines = [f'_Static_assert({a.c_expr()}, "{a.macro}: {a.c_expr()}");' for a in profile.asserts]
    return "\n".join(lines) + "\n"


def cdefs_dir() -> str:
    """Directory of the ``netmem_ffi.cdefs`` package data.

    An installed wheel has it as a data-only subpackage, ``netmem_ffi/cdefs``;
    an editable install (``pip install -e .``) maps it to the checkout's
    ``cdefs/``, which setuptools' editable finder cannot import below a regular
    package, so the checkout beside the package is used then.  (Found by path:
    ``importlib.resources`` would import ``typing`` into every tool.)
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    installed = os.path.join(package, "cdefs")
    if os.path.isfile(os.path.join(installed, COMMON_CDEFS[0])):
        return installed
    return os.path.join(os.path.dirname(package), "cdefs")
