"""The portable layout engine: a profile's cdefs laid out for any supported architecture.

cffi gives the host's offsets; kernels also run on 32-bit and big-endian
machines where the same declarations land elsewhere.  The engine parses a
profile's declarations once (:mod:`netmem_ffi.layout.cparse`) and applies the
target's C data model (the psABI rules GCC follows) to them:

* sizes and alignments of ``char``/``short``/``int``/``long``/``long long``,
  pointers and ``_Bool``; ``long long`` is 4-aligned inside structs on i386
  and 8-aligned on ARM EABI (armhf);
* enums take ``int`` unless a value needs more (GCC): ``NET_IOV_MAX =
  ULONG_MAX`` is evaluated per target, so the enum is 8 bytes on LP64 and 4 on
  ILP32;
* struct/union rules: members at their alignment, size rounded up to the
  record's alignment, anonymous members transparent, arrays, and bitfields
  (System V allocation: a field starts a new unit only when it would cross
  the unit of its declared type);
* the result is flattened exactly like :mod:`netmem_ffi.layout.host`, so
  ``layout_set(p, host_arch())`` equals ``netmem_ffi.profile(p).layouts`` apart
  from ``source`` (tested, and against each cross compiler for every target).

Two kernel configuration facts cannot be written in the cdefs text and are
options of :class:`KernelConfig`:

* ``dma_addr_bits``: the cdefs declare ``dma_addr_t`` as ``unsigned long long``
  (what ``CONFIG_ARCH_DMA_ADDR_T_64BIT`` gives, always on 64-bit kernels and
  on Debian's PAE/LPAE 32-bit flavours), so the default is 64; pass 32 for a
  32-bit kernel without it.  Only the owner structs contain ``dma_addr_t``.
* ``aligned_struct_page``: ``CONFIG_HAVE_ALIGNED_STRUCT_PAGE`` aligns
  ``struct page`` to ``2 * sizeof(long)`` (x86, arm64, s390, riscv; docs 6.2).
  The default reproduces the plain C layout (what the compilers and the host
  cffi module give for the cdefs); :meth:`KernelConfig.kernel` turns the
  alignment on where the architecture selects it.  ``memcg=False`` drops
  ``memcg_data`` (a kernel without ``CONFIG_MEMCG``): 32/36/40-byte pages on
  ILP32 follow from these two knobs.  ``page_virtual`` appends ``void
  *virtual`` (``WANT_PAGE_VIRTUAL``, selected by LoongArch: Debian's loong64
  page is 80 bytes, ``virtual`` at 64, 16-byte aligned).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from netmem_ffi.abi import registry
from netmem_ffi.abi.arches import MODELS, DataModel, data_model, normalize_arch
from netmem_ffi.layout.cparse import Array, CType, Declarations, Enum, MemberDecl, Pointer, Prim, Record, evaluate, parse
from netmem_ffi.errors import NetmemValueError
from netmem_ffi.layout.types import EnumLayout, LayoutSet, Member, StructLayout, flatten, limit_page

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from netmem_ffi.abi.record import dataclass


@dataclass(frozen=True)
class KernelConfig:
    """Kernel configuration the cdefs cannot express (see the module doc)."""

    dma_addr_bits: int = 64
    aligned_struct_page: bool = False
    memcg: bool = True
    page_virtual: bool = False

    @classmethod
    def kernel(cls, arch: str, **overrides: object) -> KernelConfig:
        """The configuration a distribution kernel of *arch* has: struct page alignment and ``virtual`` as selected."""
        model = data_model(arch)
        values: dict[str, object] = {"aligned_struct_page": model.aligned_struct_page,
                                     "page_virtual": model.page_virtual} | overrides
        return cls(**values)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=None)
def declarations(profile: str) -> Declarations:
    """The parsed declarations of *profile* (parsed once per process)."""
    spec = registry.spec(profile)
    return parse(registry.declarations(spec, registry.cdefs_dir()))


@dataclass(frozen=True)
class _RecordLayout:
    size: int
    align: int
    members: tuple[tuple[MemberDecl, int, int | None], ...]  # (decl, byte offset, bit offset)


class _Layouter:
    """Sizes, alignments and member offsets of one profile's types on one target."""

    def __init__(self, decls: Declarations, model: DataModel, config: KernelConfig) -> None:
        if config.dma_addr_bits not in (32, 64) or (model.long == 8 and config.dma_addr_bits != 64):
            raise NetmemValueError(
                f"dma_addr_bits={config.dma_addr_bits!r} is not valid on {model.name} "
                f"(64, or 32 on a 32-bit target)", config.dma_addr_bits)
        self.decls = decls
        self.model = model
        self.config = config
        self.records: dict[int, _RecordLayout] = {}

    def size_align(self, t: CType) -> tuple[int, int]:
        if isinstance(t, Prim):
            if t.typedef == "dma_addr_t":
                return self.model.prim("long long" if self.config.dma_addr_bits == 64 else "int")
            return self.model.prim(t.kind)
        if isinstance(t, Pointer):
            return self.model.pointer, self.model.pointer
        if isinstance(t, Array):
            size, align = self.size_align(t.elem)
            return size * (t.length or 0), align
        if isinstance(t, Enum):
            return self.model.prim(self.enum_kind(t))
        if isinstance(t, Record):
            rec = self.record(t)
            return rec.size, rec.align
        raise NetmemValueError(f"cannot lay out {t.text!r}", t.text)

    def enum_values(self, t: Enum) -> list[tuple[str, int]]:
        """Enumerator values; ``ULONG_MAX`` and unsigned arithmetic use the target's long."""
        bits = 8 * self.model.long
        names = {"ULONG_MAX": (1 << bits) - 1, "LONG_MAX": (1 << (bits - 1)) - 1, "UINT_MAX": 0xFFFFFFFF,
                 "INT_MAX": 0x7FFFFFFF}
        values, next_value = [], 0
        for name, expr in t.enumerators:
            value = next_value if expr is None else evaluate(expr, names, bits)
            values.append((name, value))
            names[name] = value
            next_value = value + 1
        return values

    def enum_kind(self, t: Enum) -> str:
        """GCC's underlying type: int-sized unless a value needs a wider integer."""
        values = [v for _, v in self.enum_values(t)] or [0]
        lo, hi = min(values), max(values)
        for kind in ("int", "long", "long long"):
            bits = 8 * self.model.prim(kind)[0]
            if lo >= 0 and hi < (1 << bits):
                return "unsigned " + kind
            if lo >= -(1 << (bits - 1)) and hi < (1 << (bits - 1)):
                return kind
        raise NetmemValueError(f"enum {t.text!r} has a value wider than 64 bits", t.text)

    def record(self, t: Record) -> _RecordLayout:
        cached = self.records.get(id(t))
        if cached is not None:
            return cached
        if t.members is None:
            raise NetmemValueError(f"{t.text} is declared but not defined in the cdefs", t.text)
        members = [m for m in t.members if not self._omitted(t, m)]
        if t.tag == "page" and self.config.page_virtual:
            members.append(_PAGE_VIRTUAL)
        placed: list[tuple[MemberDecl, int, int | None]] = []
        bit_pos, max_align, size = 0, 1, 0
        for m in members:
            m_size, m_align = self.size_align(m.type)
            if m.bit_size is not None:
                unit = 8 * m_size
                start = 0 if t.kind == "union" else bit_pos
                if m.bit_size == 0 or (start % (8 * m_align)) + m.bit_size > unit:
                    start = -(-start // (8 * m_align)) * (8 * m_align)
                if m.name is not None:
                    placed.append((m, (start // (8 * m_align)) * m_align, start))
                    max_align = max(max_align, m_align)
                end_bits = start + m.bit_size
            else:
                offset = 0 if t.kind == "union" else -(-bit_pos // (8 * m_align)) * m_align
                placed.append((m, offset, None))
                max_align = max(max_align, m_align)
                end_bits = 8 * (offset + m_size)
            bit_pos = max(bit_pos, end_bits) if t.kind == "union" else end_bits
            size = max(size, -(-bit_pos // 8))
        if t.tag == "page" and self.config.aligned_struct_page:
            max_align = max(max_align, 2 * self.model.long)
        result = _RecordLayout(-(-size // max_align) * max_align, max_align, tuple(placed))
        self.records[id(t)] = result
        return result

    def _omitted(self, t: Record, m: MemberDecl) -> bool:
        return t.tag == "page" and m.name == "memcg_data" and not self.config.memcg

    def members(self, t: Record) -> Iterator[Member]:
        """The record's members as :class:`layout.Member` rows for :func:`layout.flatten`."""
        for decl, offset, bit_offset in self.record(t).members:
            child = decl.type
            children = None
            if isinstance(child, Record):
                children = functools.partial(self.members, child)
            size, _ = self.size_align(decl.type)
            yield Member(decl.name, offset, size, decl.type.text, children, bit_offset, decl.bit_size)

    def struct(self, tag: str) -> StructLayout:
        rec = self.decls.records[tag]
        shape = self.record(rec)
        return StructLayout(tag, shape.size, shape.align, tuple(flatten(self.members(rec))))

    def enum(self, tag: str) -> EnumLayout:
        t = self.decls.enums[tag]
        size, _ = self.model.prim(self.enum_kind(t))
        return EnumLayout(tag, size, tuple(sorted(self.enum_values(t), key=lambda kv: kv[1])))


#: ``void *virtual``, the last member of struct page under WANT_PAGE_VIRTUAL (LoongArch; highmem configs).
_PAGE_VIRTUAL = MemberDecl("virtual", Pointer("void *&"))


@functools.lru_cache(maxsize=256)
def _layouter(profile: str, arch: str, config: KernelConfig) -> _Layouter:
    return _Layouter(declarations(profile), MODELS[arch], config)


def struct_layouts(profile: str, arch: str, config: KernelConfig | None = None) -> dict[str, StructLayout]:
    """Every struct the profile's cdefs define (owners, list_head ...), unabridged, on *arch*.

    Raises :class:`UnknownProfileError` / :class:`UnsupportedArchError`.
    """
    spec = registry.spec(profile)
    lay = _layouter(spec.name, normalize_arch(arch), config or KernelConfig())
    return {tag: lay.struct(tag) for tag in lay.decls.struct_names()}


def layout_text(text: str, arch: str, config: KernelConfig | None = None) -> dict[str, StructLayout]:
    """Every struct defined in plain C declarations *text*, laid out for *arch*.

    The same parser and rules as the profiles' cdefs (no macros, no attributes).
    Raises :class:`NetmemValueError` naming what cannot be laid out.
    """
    lay = _Layouter(parse(text), data_model(arch), config or KernelConfig())
    return {tag: lay.struct(tag) for tag in lay.decls.struct_names()}


def enum_layouts(profile: str, arch: str) -> dict[str, EnumLayout]:
    """Every tagged enum of the profile's cdefs on *arch*, values evaluated for that target."""
    spec = registry.spec(profile)
    lay = _layouter(spec.name, normalize_arch(arch), KernelConfig())
    return {tag: lay.enum(tag) for tag in lay.decls.enums}


def layout_set(profile: str, arch: str, config: KernelConfig | None = None) -> LayoutSet:
    """The netmem structs (registry.STRUCTS, page limited) and enums of *profile* on *arch*.

    Same data, flattening and type text as :func:`netmem_ffi.layout.host.layout_set`;
    ``source`` is ``engine:<arch>``.  Raises :class:`UnknownProfileError`,
    :class:`UnsupportedArchError`, or :class:`NetmemValueError` for a bad config.
    """
    spec = registry.spec(profile)
    model = data_model(arch)
    structs = struct_layouts(spec.name, model.name, config)
    enums = enum_layouts(spec.name, model.name)
    return LayoutSet(
        arch=model.name,
        pointer_size=model.pointer,
        endianness=model.endianness,
        structs=limit_page({n: structs[n] for n in registry.STRUCTS if n in structs}),
        enums={n: enums[n] for n in registry.ENUMS if n in enums},
        profile=spec.name,
        source=f"engine:{model.name}",
    )


