"""Work and memory budgets for reading one untrusted input (a kernel image, a ``.deb``, a BTF blob).

A :class:`Budget` is made once per input (:meth:`Budget.from_env`) and passed
down through every reader that input reaches: the container walkers
(:mod:`netmem_ffi.kernel`), the codecs, the BTF reader and :func:`flatten`.
Each limit counts across all nesting levels of that input, not per stream, so
a file nesting compressed streams inside compressed streams spends one
allowance.  Exceeding a limit raises :class:`~netmem_ffi.errors.BudgetExceededError`
naming the limit, the environment variable that raises it and its value.

Defaults are sized for the largest real kernel package: a ``-dbg`` ``.deb`` of
about 1 GB holding 8.5 GB of module debug files before its ``vmlinux``
(docs/reliability.md lists them with figures).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from netmem_ffi.errors import BudgetExceededError, NetmemValueError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple

__all__ = ["LIMITS", "Budget"]

_GiB = 1 << 30
_MiB = 1 << 20


class Limit(NamedTuple):
    """One budget: its name, environment variable, default and what it bounds."""

    name: str
    env: str
    default: int
    what: str


#: Every budget, by name (the order docs/reliability.md lists them in).
LIMITS: Mapping[str, Limit] = {
    lim.name: lim
    for lim in (
        Limit("inflate", "NETMEM_FFI_MAX_INFLATE", 16 * _GiB,
              "bytes decompressed in total, across every nesting level (skipped archive members included)"),
        Limit("held", "NETMEM_FFI_MAX_HELD", 128 * _MiB,
              "bytes of one level held in memory (one at a time), and of one ELF section or header table read"),
        Limit("spool", "NETMEM_FFI_MAX_SPOOL", 4 * _GiB,
              "bytes of one archive member spooled to a temporary file (a -dbg vmlinux)"),
        Limit("depth", "NETMEM_FFI_MAX_DEPTH", 4, "containers nested inside each other"),
        Limit("candidates", "NETMEM_FFI_MAX_CANDIDATES", 32, "embedded compressed streams tried"),
        Limit("scan_hits", "NETMEM_FFI_MAX_SCAN_HITS", 100_000, "magic-number hits examined while scanning images"),
        Limit("members", "NETMEM_FFI_MAX_MEMBERS", 30_000, "ar and tar members walked"),
        Limit("header", "NETMEM_FFI_MAX_HEADER", 1 * _MiB, "bytes of one pax or GNU long-name tar header"),
        Limit("sections", "NETMEM_FFI_MAX_SECTIONS", 65_536, "ELF section headers read"),
        Limit("fields", "NETMEM_FFI_MAX_FIELDS", 20_000, "members produced while flattening one struct"),
        Limit("type_text", "NETMEM_FFI_MAX_TYPE_TEXT", 16_384, "characters of one spelled C type"),
    )
}


class Budget:
    """The limits of one input and what it has spent so far (see the module doc).

    ``Budget()`` has the defaults; ``Budget.from_env()`` applies the
    ``NETMEM_FFI_MAX_*`` variables; ``Budget(inflate=1 << 20)`` sets one.
    Two budgets are equal when their limits are (what they spent does not count).
    """

    __slots__ = (*LIMITS, "spent")

    inflate: int
    held: int
    spool: int
    depth: int
    candidates: int
    scan_hits: int
    members: int
    header: int
    sections: int
    fields: int
    type_text: int
    #: What has been spent, by budget name (cumulative ones only).
    spent: dict[str, int]

    def __init__(self, *, inflate: int = LIMITS["inflate"].default, held: int = LIMITS["held"].default,
                 spool: int = LIMITS["spool"].default, depth: int = LIMITS["depth"].default,
                 candidates: int = LIMITS["candidates"].default, scan_hits: int = LIMITS["scan_hits"].default,
                 members: int = LIMITS["members"].default, header: int = LIMITS["header"].default,
                 sections: int = LIMITS["sections"].default, fields: int = LIMITS["fields"].default,
                 type_text: int = LIMITS["type_text"].default) -> None:
        self.inflate, self.held, self.spool, self.depth = inflate, held, spool, depth
        self.candidates, self.scan_hits, self.members, self.header = candidates, scan_hits, members, header
        self.sections, self.fields, self.type_text = sections, fields, type_text
        self.spent = {}

    def limits(self) -> dict[str, int]:
        """Every limit by name, in :data:`LIMITS` order."""
        return {name: getattr(self, name) for name in LIMITS}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Budget) or type(other) is not type(self):
            return NotImplemented
        return self.limits() == other.limits()

    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable

    def __repr__(self) -> str:
        return f"Budget({', '.join(f'{k}={v!r}' for k, v in self.limits().items())}, spent={self.spent!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: int) -> Budget:
        """The defaults, overridden by ``NETMEM_FFI_MAX_*`` in *environ* (``os.environ``), then by *overrides*.

        Raises :class:`NetmemValueError` naming a variable that is not a non-negative integer.
        """
        env = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for lim in LIMITS.values():
            text = env.get(lim.env)
            if text is None or not text.strip():
                continue
            values[lim.name] = _parse(lim.env, text)
        values.update(overrides)
        out = cls()
        for name, value in values.items():
            setattr(out, name, value)
        return out

    @classmethod
    def parse_assignments(cls, items: list[str], base: Budget | None = None) -> Budget:
        """*base* (default :meth:`from_env`) with ``NAME=VALUE`` items applied (the CLI's ``--budget``)."""
        out = base or cls.from_env()
        for item in items:
            name, sep, text = item.partition("=")
            if not sep or name.strip() not in LIMITS:
                raise NetmemValueError(f"--budget {item!r}: expected NAME=VALUE with NAME one of "
                                       f"{', '.join(LIMITS)}", value=item)
            out = out.fresh()
            setattr(out, name.strip(), _parse(f"--budget {name}", text))
        return out

    def fresh(self) -> Budget:
        """The same limits with nothing spent (one per input)."""
        return type(self)(**self.limits())

    def limit(self, name: str) -> int:
        """The value of budget *name*."""
        return int(getattr(self, name))

    def exceeded(self, name: str, what: str, source: object = None, offset: int | None = None) -> BudgetExceededError:
        """The error for budget *name*: *what* happened, the limit, and how to raise it."""
        lim = LIMITS[name]
        return BudgetExceededError(
            f"{what}: over the {name} budget ({LIMITS[name].what}: {self.limit(name):,}); "
            f"raise it with {lim.env}=N or --budget {name}=N", name, source, offset)

    def check(self, name: str, amount: int, what: str, source: object = None, offset: int | None = None) -> None:
        """Raise :meth:`exceeded` when *amount* (a size, a depth) is over budget *name* (nothing is spent)."""
        if amount > self.limit(name):
            raise self.exceeded(name, what, source, offset)

    @contextmanager
    def hold(self, amount: int, what: str, source: object = None, offset: int | None = None) -> Iterator[None]:
        """Count *amount* bytes as held in memory while the block runs; all held at once stay within ``held``."""
        live = self.spent.get("live", 0) + amount
        if live > self.held:
            raise self.exceeded("held", f"{what} ({amount:,} bytes, {live:,} held in all)", source, offset)
        self.spent["live"] = live
        try:
            yield
        finally:
            self.spent["live"] -= amount

    def held_left(self) -> int:
        """Bytes that may still be held before the ``held`` budget is reached."""
        return max(0, self.held - self.spent.get("live", 0))

    def spend(self, name: str, amount: int, what: str, source: object = None, offset: int | None = None) -> None:
        """Add *amount* to what budget *name* has spent; raise :meth:`exceeded` past its limit."""
        total = self.spent.get(name, 0) + amount
        self.spent[name] = total
        if total > self.limit(name):
            raise self.exceeded(name, what, source, offset)


def _parse(where: str, text: str) -> int:
    try:
        value = int(text.strip().replace("_", ""), 0)
    except ValueError:
        raise NetmemValueError(f"{where}={text!r}: expected a non-negative integer", value=text) from None
    if value < 0:
        raise NetmemValueError(f"{where}={text!r}: expected a non-negative integer", value=text)
    return value


assert Budget.__init__.__kwdefaults__ == {lim.name: lim.default for lim in LIMITS.values()}
