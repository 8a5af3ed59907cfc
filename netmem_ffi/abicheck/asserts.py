"""The kernel's own static asserts, evaluated on any layout set.

The asserts are data in :mod:`netmem_ffi.abi.registry` (the same data generates
the C ``_Static_assert`` lines of the build), so a kernel's BTF, the compiled
model and the portable engine are all judged by one list.
"""

from __future__ import annotations

from netmem_ffi.abi import registry
from netmem_ffi.layout.types import LayoutSet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from netmem_ffi.abi.record import NamedTuple


class AssertResult(NamedTuple):
    """One static assert: its C text, whether it holds, and the values seen."""

    macro: str
    expr: str
    ok: bool
    lhs: int | None
    rhs: int | None
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"macro": self.macro, "expr": self.expr, "ok": self.ok, "lhs": self.lhs, "rhs": self.rhs,
                "error": self.error}


def _offset(layouts: LayoutSet, struct: str, member: str) -> int:
    return layouts.struct(struct).offsetof(member)


def evaluate(assertion: registry.Assert, layouts: LayoutSet) -> AssertResult:
    """Evaluate one assert; a missing struct or member makes it fail with a reason."""
    try:
        if isinstance(assertion, registry.OffsetEq):
            lhs = _offset(layouts, assertion.struct_a, assertion.field_a)
            rhs = _offset(layouts, assertion.struct_b, assertion.field_b)
            ok = lhs == rhs
        else:
            lhs = layouts.struct(assertion.struct_a).size
            rhs = _offset(layouts, assertion.struct_b, assertion.field_b)
            ok = lhs <= rhs
    except KeyError as exc:
        return AssertResult(assertion.macro, assertion.c_expr(), False, None, None, str(exc.args[0]))
    return AssertResult(assertion.macro, assertion.c_expr(), ok, lhs, rhs)


def evaluate_all(profile: registry.ProfileSpec, layouts: LayoutSet) -> list[AssertResult]:
    """Every static assert of *profile*, evaluated on *layouts* (e.g. a kernel's BTF)."""
    return [evaluate(a, layouts) for a in profile.asserts]
