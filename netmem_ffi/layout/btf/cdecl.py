"""C declarations of a kernel's BTF types in dependency order, compilable by a C compiler.

Like ``bpftool btf dump file X format c`` but limited to the roots asked for
and what they reach: every struct or union a root reaches is forward-declared
first, then each typedef, enum, struct and union is defined after everything
it holds by value (a pointer needs only the forward declaration).  Where the
target's natural C layout would misplace a member, the member gets
``__attribute__((aligned(N)))`` or the record ``packed`` / ``aligned(N)``, as
bpftool infers them.  Used by ``layout --format c`` on a kernel and by the
declarations of a generation derived from a kernel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from netmem_ffi.abi.arches import DataModel
from netmem_ffi.errors import NetmemValueError
from netmem_ffi.layout.btf.reader import BTF, BTFMember, BTFType
from netmem_ffi.layout.btf.uapi import Kind, int_bits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple

__all__ = ["kernel_declarations"]

_RECORDS = (Kind.STRUCT, Kind.UNION)
_ENUMS = (Kind.ENUM, Kind.ENUM64)
_QUALIFIERS = {Kind.CONST: "const", Kind.VOLATILE: "volatile", Kind.RESTRICT: "restrict"}

def _keyword(t: BTFType) -> str:
    if t.kind in _ENUMS:
        return "enum"
    return "union" if t.kind == Kind.UNION or (t.kind == Kind.FWD and t.kflag) else "struct"


def _round_up(value: int, align: int) -> int:
    return -(-value // align) * align


def _attribute_alignment(start: int, at: int, natural: int) -> int | None:
    """The smallest power-of-two alignment >= *natural* that moves *start* to *at* (None: none does)."""
    align = natural
    while align <= 1 << 16:
        if _round_up(start, align) == at:
            return align
        align *= 2
    return None


class _Shape(NamedTuple):
    """How a record must be declared for the C compiler to reproduce the BTF's offsets and size."""

    align: int
    packed: bool = False
    member_align: Mapping[int, int] = MappingProxyType({})  # member index -> __attribute__((aligned))
    record_align: int | None = None


class _Alignments:
    """Natural alignments on the target, and the attributes a record needs (as bpftool infers them)."""

    def __init__(self, btf: BTF, model: DataModel) -> None:
        self.btf = btf
        self.model = model
        self.shapes: dict[int, _Shape] = {}

    def align(self, tid: int, depth: int = 0) -> int:
        """The alignment of type *tid* inside a struct on the target."""
        rid = self.btf.resolve(tid)
        t = self.btf.type(rid) if rid else None
        if t is None or depth > 64:
            raise self.btf.error(f"type [{tid}] has no alignment (void, or nesting beyond 64 levels)")
        if t.kind == Kind.PTR:
            return self.model.pointer
        if t.kind == Kind.ARRAY:
            assert t.array is not None
            return self.align(t.array[0], depth + 1)
        if t.kind in _RECORDS:
            return self.shape(t, depth).align
        size = t.size_type
        return self.model.long_long_align if size == 8 else max(1, min(size, 16))

    def _bits(self, m: BTFMember) -> int:
        return m.bitfield_size or _int_bitfield(self.btf, m.type)

    def shape(self, t: BTFType, depth: int = 0) -> _Shape:
        """The declaration attributes of STRUCT/UNION *t* (memoized)."""
        if t.id not in self.shapes:
            shape = self._layout(t, False, depth)
            if shape is None:
                shape = self._layout(t, True, depth) or _Shape(1, True)
            self.shapes[t.id] = shape
        return self.shapes[t.id]

    def _layout(self, t: BTFType, packed: bool, depth: int) -> _Shape | None:
        """Attributes placing every member at its BTF offset (None when the struct must be packed)."""
        cursor, biggest, member_align = 0, 1, {}
        for i, m in enumerate(t.members):
            natural = self.align(m.type, depth + 1)
            bits = self._bits(m)
            if bits:
                biggest = max(biggest, 1 if packed else natural)
                cursor = max(cursor, -(-(m.bit_offset + bits) // 8)) if t.kind == Kind.STRUCT else cursor
                continue
            at = m.bit_offset // 8
            start = 0 if t.kind == Kind.UNION else cursor
            align = 1 if packed else natural
            if _round_up(start, align) > at:
                return None
            if _round_up(start, align) < at:
                found = _attribute_alignment(start, at, align)
                if found is None:
                    return None
                member_align[i], align = found, found
            biggest = max(biggest, align)
            cursor = max(cursor, at + self.btf.size_of(m.type))
        if _round_up(cursor, biggest) == t.size_type:
            return _Shape(biggest, packed, member_align)
        record = _attribute_alignment(cursor, t.size_type, biggest)
        return None if record is None else _Shape(record, packed, member_align, record)


class _Dumper:
    """C declarations of BTF types in dependency order (see the module doc)."""

    def __init__(self, btf: BTF, model: DataModel, provided: frozenset[str] = frozenset()) -> None:
        self.btf = btf
        self.provided = provided
        self.alignments = _Alignments(btf, model)
        self.forward: dict[str, str] = {}  # "struct page" -> "struct page;" in first-reached order
        self.body: list[str] = []
        self.defined: set[int] = set()
        self.defining: set[int] = set()

    def require(self, tid: int, complete: bool, depth: int = 0) -> None:
        """Emit what type *tid* needs before a use of it (*complete*: by value, not through a pointer)."""
        if depth > 64:
            raise self.btf.error(f"type [{tid}]: nesting loops or exceeds 64 levels", self.btf.where(tid))
        if tid == 0:
            return
        t = self.btf.type(tid)
        k = t.kind
        if t.name and (t.name if k == Kind.TYPEDEF else f"{_keyword(t)} {t.name}") in self.provided:
            return
        if k == Kind.PTR:
            self.require(t.size_type, False, depth + 1)
        elif k == Kind.ARRAY:
            assert t.array is not None
            self.require(t.array[0], True, depth + 1)
        elif k in _QUALIFIERS or k == Kind.TYPE_TAG:
            self.require(t.size_type, complete, depth + 1)
        elif k == Kind.FUNC_PROTO:
            for ref in (t.size_type, *(p for _, p in t.params)):
                self.require(ref, False, depth + 1)
        elif k == Kind.TYPEDEF:
            self._typedef(t, complete, depth)
        elif k in _RECORDS or k == Kind.FWD:
            self._record(t, complete, depth)
        elif k in _ENUMS and t.name and tid not in self.defined:
            self.defined.add(tid)
            self.body.append(self.definition(t) + ";\n")

    def _typedef(self, t: BTFType, complete: bool, depth: int) -> None:
        target = self.btf.type(t.size_type) if t.size_type else None
        inline = target is not None and target.kind in (*_RECORDS, *_ENUMS) and not target.name
        self.require(t.size_type, complete or inline, depth + 1)
        if t.id not in self.defined:
            self.defined.add(t.id)
            self.body.append(f"typedef {self.declarator(t.size_type, t.name, 0)};\n")

    def _record(self, t: BTFType, complete: bool, depth: int) -> None:
        if t.name:
            self.forward.setdefault(f"{_keyword(t)} {t.name}", f"{_keyword(t)} {t.name};")
        if not complete or t.kind == Kind.FWD or t.id in self.defined:
            return
        if t.id in self.defining:
            raise self.btf.error(f"type [{t.id}] ({t.name or 'anonymous'}) contains itself by value",
                                 self.btf.where(t.id))
        self.defining.add(t.id)
        end = 0
        for m in t.members:
            self.require(m.type, True, depth + 1)
            if t.kind == Kind.STRUCT and not (m.bitfield_size or _int_bitfield(self.btf, m.type)):
                if m.bit_offset < end:
                    raise self.btf.error(f"member {m.name or '(anonymous)'} of struct {t.name or t.id} overlaps "
                                         "the member before it: the BTF cannot be written as C",
                                         self.btf.where(t.id))
                end = m.bit_offset + 8 * self.btf.size_of(m.type)
        self.defining.discard(t.id)
        if t.name:
            self.defined.add(t.id)
            self.body.append(self.definition(t) + ";\n")

    def definition(self, t: BTFType, indent: int = 0) -> str:
        """``struct name { ... }`` (or union, enum) with its members; anonymous types have no name."""
        head = f"{_keyword(t)} {t.name}".rstrip()
        body = self._record_body(t, indent) if t.kind in _RECORDS else self._enum_body(t, indent)
        return f"{head} {body}"

    def declarator(self, tid: int, inner: str, indent: int) -> str:
        """The C declaration of *inner* (a name, or empty) with type *tid*; anonymous types written inline."""
        if tid == 0:
            return f"void {inner}".rstrip()
        t = self.btf.type(tid)
        k = t.kind
        if k == Kind.PTR:
            target = self.btf.type(t.size_type) if t.size_type else None
            wrap = target is not None and target.kind in (Kind.ARRAY, Kind.FUNC_PROTO)
            return self.declarator(t.size_type, f"(*{inner})" if wrap else f"*{inner}", indent)
        if k == Kind.ARRAY:
            assert t.array is not None
            return self.declarator(t.array[0], f"{inner}[{t.array[2]}]", indent)
        if k in _QUALIFIERS:
            return self.declarator(t.size_type, f"{_QUALIFIERS[Kind(k)]} {inner}".rstrip(), indent)
        if k == Kind.TYPE_TAG:
            return self.declarator(t.size_type, inner, indent)
        if k == Kind.FUNC_PROTO:
            params = [self.declarator(p, "", indent) for _, p in t.params if p]
            if t.params and t.params[-1][1] == 0:
                params.append("...")
            return self.declarator(t.size_type, f"{inner}({', '.join(params) or 'void'})", indent)
        if k in (Kind.INT, Kind.FLOAT, Kind.TYPEDEF):
            return f"{t.name} {inner}".rstrip()
        if k in (*_RECORDS, *_ENUMS, Kind.FWD):
            head = f"{_keyword(t)} {t.name}" if t.name else self.definition(t, indent)
            return f"{head} {inner}".rstrip()
        raise self.btf.error(f"type [{tid}] ({t.kind_name} {t.name!r}) is not a C object type", self.btf.where(tid))

    def _record_body(self, t: BTFType, indent: int) -> str:
        pad = "\t" * (indent + 1)
        shape = self.alignments.shape(t)
        lines = ["{"]
        for i, m in enumerate(t.members):
            text = self.declarator(m.type, m.name, indent + 1)
            bits = m.bitfield_size or _int_bitfield(self.btf, m.type)
            aligned = f" __attribute__((aligned({shape.member_align[i]})))" if i in shape.member_align else ""
            lines.append(f"{pad}{text}{f': {bits}' if bits else ''}{aligned};")
        close = "\t" * indent + "}"
        if shape.packed:
            close += " __attribute__((packed))"
        if shape.record_align:
            close += f" __attribute__((aligned({shape.record_align})))"
        lines.append(close)
        return "\n".join(lines)

    def _enum_body(self, t: BTFType, indent: int) -> str:
        pad = "\t" * (indent + 1)
        values = [f"{pad}{name} = {_enum_value(value, t.size_type)}," for name, value in t.enumerators]
        return "\n".join(["{", *values, "\t" * indent + "}"])


def _int_bitfield(btf: BTF, tid: int) -> int:
    """A pre-kind_flag bitfield's width (BTF_INT_BITS narrower than the int), else 0."""
    t = btf.type(btf.resolve(tid)) if tid else None
    if t is None or t.kind != Kind.INT:
        return 0
    bits = int_bits(t.extra)
    return bits if bits != 8 * t.size_type else 0


def _enum_value(value: int, size: int) -> str:
    """An enumerator as a C constant whose type keeps the enum at *size* bytes (GCC picks the enum's type)."""
    if value < 0:
        return f"({value + 1}LL - 1)" if value == -(1 << 63) else str(value)
    if value >= 1 << 63 or (size == 8 and value >= 1 << 32):
        return f"{value}ULL"
    return f"{value}U" if value >= 1 << 31 else str(value)


def kernel_declarations(btf: BTF, roots: Iterable[str], model: DataModel,
                        provided: Iterable[str] = ()) -> str:
    """C declarations of the structs/unions/enums named *roots* in *btf* and everything they reach.

    Types named in *provided* (typedef names, ``struct page``) are declared
    elsewhere (e.g. by the runtime's ``cdefs/common.h``): neither declared nor
    followed.

    Where the target's natural C layout (*model*) would not put a member at
    its BTF offset, the member gets ``__attribute__((aligned(N)))`` or the
    record ``packed`` / ``aligned(N)``, as ``bpftool`` infers them.

    Raises :class:`NetmemValueError` when a root is not in the BTF, and
    :class:`KernelInputError` on malformed type records.
    """
    dumper = _Dumper(btf, model, frozenset(provided))
    for name in roots:
        tid = btf.find(name, frozenset({*_RECORDS, *_ENUMS}))
        if tid is None:
            raise NetmemValueError(f"the kernel's BTF has no struct, union or enum {name!r}", name)
        dumper.require(tid, True)
    forward = "".join(line + "\n" for line in dumper.forward.values())
    return forward + "\n" + "\n".join(dumper.body)
