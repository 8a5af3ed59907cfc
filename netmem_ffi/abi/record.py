"""Run-time stand-ins for :class:`typing.NamedTuple` and :func:`dataclasses.dataclass` (issue 18).

Importing :mod:`typing` costs 10-15 ms (it pulls in :mod:`re`) and
:mod:`dataclasses` pulls in :mod:`inspect` (``ast``, ``dis``, ``tokenize``):
together most of what ``import netmem_ffi`` and ``netmem-ffi check`` spent
starting.  A module declares its records as usual and lets type checkers see
the real ones::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from netmem_ffi.abi.record import NamedTuple

(mypy treats any name ``TYPE_CHECKING`` as true).  :class:`NamedTuple` builds
the same class ``typing.NamedTuple`` does: a named-tuple class as
:func:`collections.namedtuple` makes it (built here, from the same C field
accessors, so the collections module stays off the start-up paths), carrying
the body's methods, properties, docstring and defaults, so ``_replace``,
``_asdict``, ``_fields``, pickling, equality and hashing are those of a named
tuple; ``__annotations__`` keep the body's annotations as
written (strings under ``from __future__ import annotations``).

:func:`dataclass` covers the subset this package uses: ``init``, ``repr``,
``eq`` and ``frozen``, :func:`field` with ``default``/``default_factory``/
``init``/``repr``/``compare``/``hash``, :func:`fields` and :func:`replace`.
Any other option is a ``TypeError`` (an unexpected keyword), never ignored.
"""

from __future__ import annotations

import reprlib
from _collections import _tuplegetter  # type: ignore[import-not-found]  # collections' C half: ~2.5 ms less

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = ["Field", "FrozenInstanceError", "NamedTuple", "dataclass", "field", "fields", "replace"]

#: Names a named tuple defines itself; a class body may not redefine them.
_RESERVED = frozenset({"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults",
                       "_make", "_replace", "_asdict", "_source"})
#: Class-body entries the named tuple already has or that are not attributes.
_NOT_COPIED = frozenset({"__module__", "__name__", "__annotations__"})


def _named_tuple(name: str, fields: tuple[str, ...], defaults: tuple[object, ...], module: str) -> type:
    """A tuple subclass with named fields, as :func:`collections.namedtuple` builds one."""
    for f in fields:
        if not f.isidentifier() or f.startswith("_"):
            raise ValueError(f"Field names cannot start with an underscore or be other than identifiers: {f!r}")
    args = ", ".join(fields)
    # the constructor is compiled, as collections does it, so that its signature is the fields'
    new = eval(f"lambda _cls, {args}: _tuple_new(_cls, ({args}{',' if len(fields) == 1 else ''}))"
               if fields else "lambda _cls: _tuple_new(_cls, ())", {"_tuple_new": tuple.__new__})
    new.__name__, new.__qualname__ = "__new__", f"{name}.__new__"
    new.__doc__ = f"Create new instance of {name}({args})"
    new.__defaults__ = defaults or None

    def _make(cls: type, iterable: Iterable[object]) -> Any:
        result: tuple[object, ...] = tuple.__new__(cls, iterable)
        if len(result) != len(fields):
            raise TypeError(f"Expected {len(fields)} arguments, got {len(result)}")
        return result

    def _replace(self: Any, /, **kwds: object) -> Any:
        result = self._make(map(kwds.pop, fields, self))
        if kwds:
            raise ValueError(f"Got unexpected field names: {list(kwds)!r}")
        return result

    def __repr__(self: Any) -> str:
        cls_name: str = self.__class__.__name__
        return cls_name + "(" + ", ".join(f"{f}={v!r}" for f, v in zip(fields, self)) + ")"

    def _asdict(self: Any) -> dict[str, object]:
        return dict(zip(fields, self))

    def __getnewargs__(self: Any) -> tuple[object, ...]:
        return tuple(self)

    body: dict[str, object] = {
        "__doc__": f"{name}({args})", "__slots__": (), "_fields": fields,
        "_field_defaults": dict(zip(fields[len(fields) - len(defaults):], defaults)) if defaults else {},
        "__new__": new, "_make": classmethod(_make), "_replace": _replace, "__repr__": __repr__,
        "_asdict": _asdict, "__getnewargs__": __getnewargs__, "__match_args__": fields, "__module__": module,
    }
    for index, f in enumerate(fields):
        body[f] = _tuplegetter(index, f"Alias for field number {index}")
    cls = type(name, (tuple,), body)
    for method in (_make, _replace, __repr__, _asdict, __getnewargs__):
        method.__qualname__ = f"{name}.{method.__name__}"
    return cls


class _NamedTupleMeta(type):
    """Turns ``class X(NamedTuple): ...`` into a named-tuple class (:func:`_named_tuple`) with the body's members."""

    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, object]) -> type:
        if not bases:  # the root, NamedTuple itself
            return super().__new__(mcls, name, bases, ns)
        if bases != (NamedTuple,):
            raise TypeError("a NamedTuple class can only inherit from NamedTuple")
        annotations = dict(ns.get("__annotations__", {}))  # type: ignore[call-overload]
        defaults: dict[str, object] = {}
        for field_name in annotations:
            if field_name in ns:
                defaults[field_name] = ns[field_name]
            elif defaults:
                raise TypeError(f"Non-default namedtuple field {field_name} cannot follow default field"
                                f"{'s' if len(defaults) > 1 else ''} {', '.join(defaults)}")
        cls = _named_tuple(name, tuple(annotations), tuple(defaults.values()), str(ns["__module__"]))
        cls.__annotations__ = annotations
        for key, value in ns.items():
            if key in _RESERVED:
                raise AttributeError(f"Cannot overwrite NamedTuple attribute {key}")
            if key in _NOT_COPIED or key in annotations:
                continue
            setattr(cls, key, value)
            set_name = getattr(type(value), "__set_name__", None)
            if set_name is not None:
                set_name(value, cls, key)
        return cls


class NamedTuple(metaclass=_NamedTupleMeta):
    """Base of a named-tuple class declared with annotations (the class statement form of ``typing.NamedTuple``)."""


class FrozenInstanceError(AttributeError):
    """Assigning to (or deleting) a field of a frozen dataclass."""


class _Missing:
    """No default given."""

    def __repr__(self) -> str:
        return "MISSING"


_MISSING: object = _Missing()


class _Factory:
    """The default of a parameter whose field has a default factory."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY: object = _Factory()


class Field:
    """One field of a dataclass: its name, default or factory, and which generated methods use it."""

    __slots__ = ("compare", "default", "default_factory", "hash", "init", "name", "repr")

    def __init__(self, default: object, default_factory: object, init: bool, repr: bool, compare: bool,
                 hash: bool | None) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare
        self.hash = hash

    def __repr__(self) -> str:
        return (f"Field(name={self.name!r}, default={self.default!r}, default_factory={self.default_factory!r}, "
                f"init={self.init}, repr={self.repr}, compare={self.compare}, hash={self.hash})")


def field(*, default: object = _MISSING, default_factory: object = _MISSING, init: bool = True, repr: bool = True,
          compare: bool = True, hash: bool | None = None) -> object:
    """A field with options (``dataclasses.field``); giving both *default* and *default_factory* is a ValueError."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, init, repr, compare, hash)


def fields(obj: object) -> tuple[Field, ...]:
    """The fields of a dataclass or of an instance of one, in order; TypeError for anything else."""
    try:
        found: dict[str, Field] = obj.__dataclass_fields__  # type: ignore[attr-defined]
    except AttributeError:
        raise TypeError("must be called with a dataclass type or instance") from None
    return tuple(found.values())


def replace(obj: object, /, **changes: object) -> object:
    """A copy of dataclass instance *obj* with *changes*; ValueError for a field ``init=False``."""
    for f in fields(obj):
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be specified with replace()")
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


def dataclass(cls: type | None = None, /, *, init: bool = True, repr: bool = True, eq: bool = True,
              frozen: bool = False) -> object:
    """``@dataclass`` / ``@dataclass(...)``: add ``__init__``, ``__repr__``, ``__eq__`` (hash, freezing) to *cls*."""
    def wrap(c: type) -> type:
        return _process(c, init=init, repr_=repr, eq=eq, frozen=frozen)

    return wrap if cls is None else wrap(cls)


def _own_fields(cls: type) -> dict[str, Field]:
    """The fields *cls* inherits and declares, in order; the class attributes are left holding plain defaults."""
    out: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        out.update(base.__dict__.get("__dataclass_fields__", {}))
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        spelled = annotation if isinstance(annotation, str) else repr(annotation)
        if spelled.startswith(("ClassVar", "typing.ClassVar")):
            continue
        if spelled.startswith(("InitVar", "dataclasses.InitVar", "KW_ONLY", "dataclasses.KW_ONLY")):
            raise TypeError(f"{cls.__name__}.{name}: {spelled} is not supported by netmem_ffi.abi.record")
        value = cls.__dict__.get(name, _MISSING)
        f = value if isinstance(value, Field) else Field(value, _MISSING, True, True, True, None)
        f.name = name
        if f.default is not _MISSING and type(f.default).__hash__ is None:
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not allowed: use default_factory")
        if f.default is _MISSING and name in cls.__dict__:
            delattr(cls, name)
        elif f.default is not _MISSING:
            setattr(cls, name, f.default)
        out[name] = f
    return out


def _make_init(cls: type, fs: dict[str, Field], frozen: bool) -> object:
    """``__init__`` taking the init fields in order (defaults and factories applied), compiled once per class."""
    ns: dict[str, object] = {"_FACTORY": _FACTORY, "_set": object.__setattr__}
    params, body, seen_default = [], [], ""
    for f in fs.values():
        n = f.name
        if f.init and f.default is _MISSING and f.default_factory is _MISSING and seen_default:
            raise TypeError(f"non-default argument {n!r} follows default argument {seen_default!r}")
        if f.default_factory is not _MISSING:
            ns[f"_factory_{n}"] = f.default_factory
            value = f"_factory_{n}() if {n} is _FACTORY else {n}" if f.init else f"_factory_{n}()"
            default = "_FACTORY"
        else:
            ns[f"_default_{n}"] = f.default
            value, default = (n, f"_default_{n}") if f.init else (f"_default_{n}", "")
            if not f.init and f.default is _MISSING:
                continue
        if f.init:
            params.append(n if f.default is _MISSING and f.default_factory is _MISSING else f"{n}={default}")
            seen_default = seen_default or (n if "=" in params[-1] else "")
        body.append(f"_set(__self__, {n!r}, {value})" if frozen else f"__self__.{n} = {value}")
    source = f"def __init__(__self__, {', '.join(params)}):\n    " + "\n    ".join(body or ["pass"])
    exec(source, ns)  # noqa: S102 - our own text: field names are identifiers from the class's annotations
    function = ns["__init__"]
    function.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    return function


def _process(cls: type, *, init: bool, repr_: bool, eq: bool, frozen: bool) -> type:
    """Add the generated methods to *cls*; a method the class defines itself is kept."""
    fs = _own_fields(cls)
    cls.__dataclass_fields__ = fs  # type: ignore[attr-defined]
    shown = tuple(f.name for f in fs.values() if f.repr)
    compared = tuple(f.name for f in fs.values() if f.compare)
    hashed = tuple(f.name for f in fs.values() if (f.compare if f.hash is None else f.hash))

    @reprlib.recursive_repr()
    def __repr__(self: object) -> str:  # a record reachable from itself shows "..." there, as dataclasses do
        return f"{type(self).__qualname__}(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in shown) + ")"

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return tuple(getattr(self, n) for n in compared) == tuple(getattr(other, n) for n in compared)

    def __hash__(self: object) -> int:
        return hash(tuple(getattr(self, n) for n in hashed))

    def __setattr__(self: Any, name: str, value: object) -> None:
        if type(self) is cls or name in fs:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)  # type: ignore[arg-type]

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in fs:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)  # type: ignore[arg-type]

    own = cls.__dict__
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    methods: dict[str, Any] = {}
    if init:
        methods["__init__"] = _make_init(cls, fs, frozen)
    if repr_:
        methods["__repr__"] = __repr__
    if eq:
        methods["__eq__"] = __eq__
    if frozen:
        for name, method in (("__setattr__", __setattr__), ("__delattr__", __delattr__)):
            if name in own:
                raise TypeError(f"cannot overwrite attribute {name} in class {cls.__name__}")
            methods[name] = method
    for name, method in methods.items():
        if name not in own:
            if name != "__init__":
                method.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, method)
    if eq and not explicit_hash:
        cls.__hash__ = __hash__ if frozen else None  # type: ignore[assignment,method-assign]
        if frozen:
            __hash__.__qualname__ = f"{cls.__qualname__}.__hash__"
    if "__match_args__" not in own:
        setattr(cls, "__match_args__", tuple(f.name for f in fs.values() if f.init))  # noqa: B010 - a new attribute
    return cls
