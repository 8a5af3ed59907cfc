"""The run-time record stand-ins (netmem_ffi.abi.record) behave as typing.NamedTuple and dataclasses do.

Each shape is one class body, built once over the real base and once over the
stand-in; every observable behaviour the package relies on is compared.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import typing
from collections.abc import Callable
from typing import Any

import pytest

from netmem_ffi.abi import record

NAMED_TUPLES = {
    "Plain": '''
class Plain(Base):
    a: int
    b: str
''',
    "Rich": '''
class Rich(Base):
    """A record with defaults, methods and a property."""

    x: int
    y: int = 2
    tags: tuple[str, ...] = ()

    def norm(self) -> int:
        return abs(self.x) + abs(self.y)

    @property
    def swapped(self) -> Rich:
        return self._replace(x=self.y, y=self.x)

    @classmethod
    def origin(cls) -> Rich:
        return cls(0, 0)

    LIMIT = 7
''',
}


def build(body: str, name: str, base: object, prefix: str) -> Any:
    """Class *name* of *body* over *base*, published in this module as *prefix + name* (so pickle finds it)."""
    ns: dict[str, Any] = {"Base": base, "__name__": __name__, "Rich": None}
    exec(body.replace(name, prefix + name), ns)  # noqa: S102 - the shapes above
    cls = ns[prefix + name]
    globals()[prefix + name] = cls
    return cls


@pytest.fixture(params=sorted(NAMED_TUPLES))
def pair(request: pytest.FixtureRequest) -> tuple[Any, Any]:
    name = request.param
    return (build(NAMED_TUPLES[name], name, typing.NamedTuple, "Real"),
            build(NAMED_TUPLES[name], name, record.NamedTuple, "Lean"))


def test_named_tuple_class_matches_typing(pair: tuple[Any, Any]) -> None:
    real, lean = pair
    assert lean.__mro__[1:] == real.__mro__[1:] == (tuple, object)
    assert lean._fields == real._fields and lean._field_defaults == real._field_defaults
    assert (lean.__doc__ == real.__doc__) if "A record" in str(real.__doc__) else lean.__doc__.startswith("Lean")
    assert lean.__module__ == real.__module__ == __name__
    assert lean.__qualname__.removeprefix("Lean") == real.__qualname__.removeprefix("Real")
    public = {n for n in vars(real) if not n.startswith("_")}
    assert public == {n for n in vars(lean) if not n.startswith("_")}
    assert _params(lean) == _params(real)


def _params(cls: Any) -> list[tuple[str, object, object]]:
    """The constructor's parameters without annotations (typing's are ForwardRefs, the stand-in's strings)."""
    return [(p.name, p.default, p.kind) for p in inspect.signature(cls).parameters.values()]


def test_named_tuple_instances_match_typing(pair: tuple[Any, Any]) -> None:
    real, lean = pair
    args = (3, -4) if "x" in real._fields else (1, "one")
    r, m = real(*args), lean(*args)
    assert tuple(r) == tuple(m) and m == r and hash(m) == hash(r) and m == tuple(m)
    assert repr(m).removeprefix("Lean") == repr(r).removeprefix("Real")
    assert m._asdict() == r._asdict()
    assert tuple(m._replace(**{real._fields[0]: 9})) == tuple(r._replace(**{real._fields[0]: 9}))
    assert lean._make(r) == real._make(m)
    for copy in (pickle.loads(pickle.dumps(m, protocol)) for protocol in range(pickle.HIGHEST_PROTOCOL + 1)):
        assert type(copy) is lean and copy == m
    if "x" in real._fields:
        assert (m.norm(), m.swapped, lean.origin(), m.LIMIT) == (r.norm(), tuple(r.swapped), tuple(real.origin()), 7)
        assert type(m.swapped) is lean
    with pytest.raises(AttributeError):
        m.new_attribute = 1


@pytest.mark.parametrize(("body", "error"), [
    ("class Bad(Base):\n    a: int = 1\n    b: int\n", TypeError),
    ("class Bad(Base):\n    a: int\n    def _replace(self): pass\n", AttributeError),
    ("class Bad(Base, int):\n    a: int\n", TypeError),
])
def test_named_tuple_rejects_what_typing_rejects(body: str, error: type[Exception]) -> None:
    with pytest.raises(error) as real:
        build(body, "Bad", typing.NamedTuple, "Real")
    with pytest.raises(error) as lean:
        build(body, "Bad", record.NamedTuple, "Lean")
    if error is not TypeError or "int)" not in body:
        assert str(lean.value) == str(real.value)


DATACLASSES = {
    "Plain": ("", '''
class Plain:
    a: int
    b: str = "b"
    c: typing.ClassVar[int] = 3
'''),
    "Frozen": ("frozen=True", '''
class Frozen:
    """Frozen, with a factory and a field left out of comparisons."""

    name: str
    items: tuple[int, ...] = field(default_factory=tuple)
    note: str = field(default="", compare=False)

    def size(self) -> int:
        return len(self.items)
'''),
    "Identity": ("eq=False", '''
class Identity:
    value: int
    made: list[int] = field(default_factory=lambda: [1], init=False, repr=False)
'''),
}


def build_dataclass(shape: str, dataclass: Callable[..., Any], field: Callable[..., Any], prefix: str) -> Any:
    options, body = DATACLASSES[shape]
    ns: dict[str, Any] = {"__name__": __name__, "field": field, "typing": typing, "dataclass": dataclass}
    exec(f"@dataclass({options})" + body.replace(shape, prefix + shape), ns)  # noqa: S102 - the shapes above
    return ns[prefix + shape]


@pytest.fixture(params=sorted(DATACLASSES))
def dc_pair(request: pytest.FixtureRequest) -> tuple[Any, Any, str]:
    shape = request.param
    return (build_dataclass(shape, dataclasses.dataclass, dataclasses.field, "Real"),
            build_dataclass(shape, record.dataclass, record.field, "Lean"), shape)


def _args(shape: str) -> tuple[Any, ...]:
    return {"Plain": (1,), "Frozen": ("n", (1, 2)), "Identity": (5,)}[shape]


def test_dataclass_matches_dataclasses(dc_pair: tuple[Any, Any, str]) -> None:
    real, lean, shape = dc_pair
    names = [f.name for f in dataclasses.fields(real)]
    assert [f.name for f in record.fields(lean)] == names and lean.__match_args__ == real.__match_args__
    assert [(n, repr(d), k) for n, d, k in _params(lean)] == [(n, repr(d), k) for n, d, k in _params(real)]
    r, m = real(*_args(shape)), lean(*_args(shape))
    assert repr(m).removeprefix("Lean") == repr(r).removeprefix("Real")
    assert [getattr(m, n) for n in names] == [getattr(r, n) for n in names]
    assert (m == lean(*_args(shape))) == (r == real(*_args(shape)))
    assert (m == r) is False and m != r
    assert (lean.__hash__ is None) == (real.__hash__ is None)
    if real.__hash__ is not None:
        assert (hash(m) == hash(lean(*_args(shape)))) == (hash(r) == hash(real(*_args(shape))))
    changed = {names[0]: _args(shape)[0] * 2}
    if shape != "Identity":
        assert repr(record.replace(m, **changed)).removeprefix("Lean") == repr(
            dataclasses.replace(r, **changed)).removeprefix("Real")
    assert lean.__init__.__qualname__ == f"Lean{shape}.__init__"


def test_frozen_and_defaults_behave_as_dataclasses() -> None:
    lean = build_dataclass("Frozen", record.dataclass, record.field, "Lean")
    a, b = lean("n"), lean("n", note="other")
    assert a == b and hash(a) == hash(b) and a.items == ()
    with pytest.raises(record.FrozenInstanceError, match="cannot assign to field 'name'"):
        a.name = "x"
    with pytest.raises(AttributeError):
        del a.items
    with pytest.raises(TypeError):
        lean()
    with pytest.raises(TypeError):
        lean("n", [], "note", "extra")
    ident = build_dataclass("Identity", record.dataclass, record.field, "Lean")
    assert ident(1) != ident(1) and ident(1).made == [1]
    with pytest.raises(ValueError, match="init=False"):
        record.replace(ident(1), made=[])


@pytest.mark.parametrize(("body", "error"), [
    ("class Bad:\n    a: int = 1\n    b: int\n", TypeError),
    ("class Bad:\n    a: list[int] = []\n", ValueError),
    ("class Bad:\n    a: int = field(default=1, default_factory=int)\n", ValueError),
])
def test_dataclass_rejects_what_dataclasses_rejects(body: str, error: type[Exception]) -> None:
    for dataclass, field in ((dataclasses.dataclass, dataclasses.field), (record.dataclass, record.field)):
        with pytest.raises(error):
            exec("@dataclass\n" + body, {"dataclass": dataclass, "field": field})  # noqa: S102


def test_unsupported_options_fail_loudly() -> None:
    with pytest.raises(TypeError):
        record.dataclass(order=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        record.fields(object())


def test_a_record_reachable_from_itself_repr_as_dataclasses_do() -> None:
    reprs = []
    for dataclass, field in ((dataclasses.dataclass, dataclasses.field), (record.dataclass, record.field)):
        ns: dict[str, Any] = {"dataclass": dataclass, "field": field}
        exec("@dataclass(eq=False)\nclass Node:\n    name: str\n    next: object = None\n", ns)  # noqa: S102
        node = ns["Node"]("a")
        node.next = node
        reprs.append(repr(node))
    assert reprs[1] == reprs[0].replace("test_a_record_reachable_from_itself_repr_as_dataclasses_do.<locals>.", "")
