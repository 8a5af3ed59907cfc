"""The cdefs declarations of a profile as an architecture-neutral type tree.

:func:`parse` reads the same text the C compiler and cffi read (see
``registry.declarations``) with pycparser and turns it into :class:`CType`
objects: primitives, pointers, arrays, records (struct/union) and enums.
Nothing here knows a size: :mod:`netmem_ffi.layout.engine` lays the tree out for a
target data model.  Type text follows cffi's spelling (``unsigned long``,
``struct page_pool *``, ``atomic_long_t``, ``unsigned long[4]``) so that the
engine's layouts equal the compiled module's member for member.

Enumerator values stay expressions (``NET_IOV_MAX = ULONG_MAX``) because
their value, and with it the enum's size, depends on the target.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from netmem_ffi.errors import NetmemValueError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from typing import Any
else:
    from netmem_ffi.abi.record import dataclass, field

#: Typedef names cffi knows natively and keeps in type text, with the
#: primitive each one is on every Linux target (same size and alignment).
BUILTIN_TYPEDEFS = {
    "size_t": "unsigned long",
    "ssize_t": "long",
    "uintptr_t": "unsigned long",
    "intptr_t": "long",
    "ptrdiff_t": "long",
    "int8_t": "signed char",
    "uint8_t": "unsigned char",
    "int16_t": "short",
    "uint16_t": "unsigned short",
    "int32_t": "int",
    "uint32_t": "unsigned int",
    "int64_t": "long long",
    "uint64_t": "unsigned long long",
}

_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


class CType:
    """A C type; ``marker`` is its cffi-style text with ``&`` where a declarator goes."""

    marker: str

    @property
    def text(self) -> str:
        return self.marker.replace("&", "").strip()


@dataclass(eq=False)
class Prim(CType):
    """An arithmetic type: ``kind`` is its canonical name (``unsigned long``, ``_Bool``)."""

    kind: str
    marker: str
    typedef: str | None = None  # the kernel typedef it was declared through (dma_addr_t)


@dataclass(eq=False)
class Pointer(CType):
    """Any data pointer; its target does not matter to a layout."""

    marker: str


@dataclass(eq=False)
class Array(CType):
    """``elem[length]``; ``length`` None for a flexible array member."""

    elem: CType
    length: int | None
    marker: str


@dataclass(eq=False)
class MemberDecl:
    """One declared member of a record; ``name`` None for an anonymous struct/union."""

    name: str | None
    type: CType
    bit_size: int | None = None


@dataclass(eq=False)
class Record(CType):
    """A struct or union; ``members`` is None while the record is only declared."""

    kind: str  # "struct" | "union"
    tag: str | None
    marker: str
    members: list[MemberDecl] | None = None


@dataclass(eq=False)
class Enum(CType):
    """An enum; each enumerator keeps its value expression (a pycparser node or None)."""

    tag: str | None
    marker: str
    enumerators: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class Declarations:
    """Every tagged record and enum, and every typedef, of one profile's text."""

    records: dict[str, Record] = field(default_factory=dict)
    enums: dict[str, Enum] = field(default_factory=dict)
    typedefs: dict[str, CType] = field(default_factory=dict)

    def struct_names(self) -> tuple[str, ...]:
        """Tags of the complete structs, in declaration order."""
        return tuple(t for t, r in self.records.items() if r.kind == "struct" and r.members is not None)


def canonical_prim(words: list[str]) -> str:
    """cffi's spelling of an arithmetic type given as specifier words."""
    unsigned = "unsigned" in words
    base = [w for w in words if w not in ("signed", "unsigned", "int")]
    if base in (["char"], ["_Bool"], ["float"], ["double"], ["void"]):
        if base == ["char"] and (unsigned or "signed" in words):
            return ("unsigned " if unsigned else "signed ") + "char"
        return base[0]
    rank = " ".join(base) or "int"
    if rank not in ("short", "long", "long long", "int"):
        raise NetmemValueError(f"unsupported C type specifier {' '.join(words)!r}", " ".join(words))
    return ("unsigned " if unsigned else "") + rank


class _Converter:
    """Walk pycparser's AST once, building :class:`Declarations`."""

    def __init__(self, c_ast: Any) -> None:
        self.ast = c_ast
        self.decls = Declarations()
        self.anonymous = 0

    def run(self, tree: Any) -> Declarations:
        for node in tree.ext:
            if isinstance(node, self.ast.Typedef):
                target = self.convert(node.type, typedef_name=node.name)
                if isinstance(target, Prim):
                    target = Prim(target.kind, target.marker, node.name)
                self.decls.typedefs[node.name] = target
            elif isinstance(node, self.ast.Decl) and not isinstance(node.type, self.ast.FuncDecl):
                self.convert(node.type)
        return self.decls

    def convert(self, node: Any, typedef_name: str | None = None) -> CType:
        ast = self.ast
        if isinstance(node, ast.TypeDecl):
            return self.convert(node.type, typedef_name)
        if isinstance(node, ast.PtrDecl):
            base = self.convert(node.type)
            extra = "(*&)" if "&[" in base.marker else " *&"
            return Pointer(base.marker.replace("&", extra))
        if isinstance(node, ast.ArrayDecl):
            elem = self.convert(node.type)
            length = None if node.dim is None else int(evaluate(node.dim, {}, 64))
            return Array(elem, length, elem.marker.replace("&", f"&[{'' if length is None else length}]"))
        if isinstance(node, ast.IdentifierType):
            return self.identifier(node.names)
        if isinstance(node, (ast.Struct, ast.Union)):
            return self.record(node, typedef_name)
        if isinstance(node, ast.Enum):
            return self.enum(node, typedef_name)
        raise NetmemValueError(f"unsupported declaration in cdefs: {type(node).__name__}", node)

    def identifier(self, words: list[str]) -> CType:
        if len(words) == 1 and words[0] in self.decls.typedefs:
            return self.decls.typedefs[words[0]]
        if len(words) == 1 and words[0] in BUILTIN_TYPEDEFS:
            return Prim(BUILTIN_TYPEDEFS[words[0]], words[0] + "&")
        kind = canonical_prim(words)
        return Prim(kind, kind + "&")

    def record(self, node: Any, typedef_name: str | None) -> Record:
        kind = "struct" if isinstance(node, self.ast.Struct) else "union"
        if node.name is None:
            self.anonymous += 1
            label = typedef_name or f"{kind} ${self.anonymous}"
            rec = Record(kind, None, label + "&")
        else:
            rec = self.decls.records.setdefault(node.name, Record(kind, node.name, f"{kind} {node.name}&"))
        if node.decls is not None:
            rec.members = [self.member(d) for d in node.decls]
        return rec

    def member(self, decl: Any) -> MemberDecl:
        bits = None if decl.bitsize is None else int(evaluate(decl.bitsize, {}, 64))
        return MemberDecl(decl.name, self.convert(decl.type), bits)

    def enum(self, node: Any, typedef_name: str | None) -> Enum:
        if node.name is None:
            self.anonymous += 1
            en = Enum(None, (typedef_name or f"enum ${self.anonymous}") + "&")
        else:
            en = self.decls.enums.setdefault(node.name, Enum(node.name, f"enum {node.name}&"))
        if node.values is not None:
            en.enumerators = [(e.name, e.value) for e in node.values.enumerators]
        return en


def parse(text: str) -> Declarations:
    """Parse plain C declarations (no macros, no attributes) into a type tree.

    Raises :class:`NetmemValueError` naming the construct when the text uses
    something the engine cannot lay out (functions as members, attributes).
    """
    from pycparser import c_ast, c_parser

    prelude = "".join(f"typedef {prim} {name};\n" for name, prim in BUILTIN_TYPEDEFS.items())
    tree = c_parser.CParser().parse(prelude + _COMMENTS.sub(" ", text), "<cdefs>")
    tree.ext = tree.ext[len(BUILTIN_TYPEDEFS):]
    return _Converter(c_ast).run(tree)


_SUFFIX = re.compile(r"[uUlL]+$")


def evaluate(node: Any, names: dict[str, int], long_bits: int) -> int:
    """Value of an integer constant expression (enumerator values, array sizes).

    ``names`` maps identifiers (earlier enumerators, ``ULONG_MAX``) to values;
    ``long_bits`` is the target's width of ``long``: ``~0UL`` and unsigned
    arithmetic wrap at it.  Raises :class:`NetmemValueError` for anything else.
    """
    from pycparser import c_ast

    if isinstance(node, c_ast.Constant):
        return _int_literal(node.value)
    if isinstance(node, c_ast.ID):
        if node.name not in names:
            raise NetmemValueError(f"unknown identifier {node.name!r} in a constant expression", node.name)
        return names[node.name]
    if isinstance(node, c_ast.UnaryOp) and node.op in _UNARY:
        value = evaluate(node.expr, names, long_bits)
        return _UNARY[node.op](value, _unsigned_width(node.expr, long_bits))
    if isinstance(node, c_ast.BinaryOp) and node.op in _BINARY:
        left = evaluate(node.left, names, long_bits)
        right = evaluate(node.right, names, long_bits)
        result = _BINARY[node.op](left, right)
        width = _unsigned_width(node, long_bits)
        return result & ((1 << width) - 1) if width else result
    raise NetmemValueError(f"unsupported constant expression {type(node).__name__}", node)


def _int_literal(text: str) -> int:
    """A C integer literal (decimal, octal, hex, binary; any U/L suffix)."""
    digits = _SUFFIX.sub("", text)
    if digits[:2].lower() in ("0x", "0b"):
        return int(digits, 0)
    return int(digits, 8) if len(digits) > 1 and digits[0] == "0" else int(digits, 10)


def _c_div(a: int, b: int) -> int:
    """C division: truncates toward zero."""
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def _unsigned_width(node: Any, long_bits: int) -> int:
    """Width of the unsigned type an expression has, or 0 when it is signed (from its suffixes)."""
    from pycparser import c_ast

    if isinstance(node, c_ast.Constant):
        match = _SUFFIX.search(node.value)
        suffix = match.group().lower() if match else ""
        if "u" not in suffix:
            return 0
        return 64 if suffix.count("l") == 2 else long_bits if "l" in suffix else 32
    if isinstance(node, c_ast.UnaryOp):
        return _unsigned_width(node.expr, long_bits)
    if isinstance(node, c_ast.BinaryOp):
        return max(_unsigned_width(node.left, long_bits), _unsigned_width(node.right, long_bits))
    return 0


def _complement(value: int, width: int) -> int:
    return (~value) & ((1 << width) - 1) if width else ~value


def _negate(value: int, width: int) -> int:
    return (-value) & ((1 << width) - 1) if width else -value


_UNARY: dict[str, Callable[[int, int], int]] = {"-": _negate, "+": lambda v, w: v, "~": _complement, "!": lambda v, w: int(not v)}
_BINARY: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _c_div,
    "%": lambda a, b: a - b * _c_div(a, b),
    "<<": lambda a, b: a << b,
    ">>": lambda a, b: a >> b,
    "|": lambda a, b: a | b,
    "&": lambda a, b: a & b,
    "^": lambda a, b: a ^ b,
}
