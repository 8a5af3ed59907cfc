"""Exit status of every command that compares layouts: abidiff's bit mask, defined once.

=====  ==================================================================
 bit   meaning
=====  ==================================================================
  0    same / matches
  1    an input could not be read (``ERROR``)
  3    usage error (``ERROR | USAGE_ERROR``, as abidiff gives it)
  4    a layout differs (``CHANGE``)
  8    the difference is incompatible (``INCOMPATIBLE``; given with 4: 12)
=====  ==================================================================

Several sources OR their bits: a kernel before 6.12 (4) checked together with
a missing file (1) exits 5; a moved member (12) and an unreadable input exit 13.
"""

from __future__ import annotations

from collections.abc import Iterable

TYPE_CHECKING = False
if TYPE_CHECKING:  # nothing imported at run time: the CLI reads these bits before anything else
    from netmem_ffi.abicheck.compare import Change

SAME = 0
ERROR = 1
USAGE_ERROR = 2
#: What a usage error exits with (abidiff: ``ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR``).
USAGE = ERROR | USAGE_ERROR
CHANGE = 4
INCOMPATIBLE = 8

#: The table above, for ``--help`` epilogs (README.md carries the same table).
TABLE = ("exit status (abidiff's bits, OR-ed over every input): 0 same/matches; 1 an input could not "
         "be read; 3 usage error; 4 a layout differs; 8 the difference is incompatible (so 12)")


def of_changes(changes: Iterable[Change]) -> int:
    """``CHANGE`` when there is any change, with ``INCOMPATIBLE`` when one of them breaks the ABI."""
    bits = SAME
    for change in changes:
        bits |= CHANGE | (INCOMPATIBLE if change.breaking else SAME)
    return bits


def of_check(matched: bool, incompatible: bool) -> int:
    """A checked kernel: 0 when it matches its model; 4 when not; 12 when what differs is incompatible."""
    if matched:
        return SAME
    return CHANGE | (INCOMPATIBLE if incompatible else SAME)


def describe(bits: int) -> str:
    """The bits in words: ``"differs, incompatible, unreadable input"`` (``"same"`` for 0)."""
    words = [w for bit, w in ((CHANGE, "differs"), (INCOMPATIBLE, "incompatible"), (ERROR, "unreadable input"),
                              (USAGE_ERROR, "usage error")) if bits & bit]
    return ", ".join(words) or "same"


__all__ = [
    "CHANGE",
    "ERROR",
    "INCOMPATIBLE",
    "SAME",
    "TABLE",
    "USAGE",
    "USAGE_ERROR",
    "describe",
    "of_changes",
    "of_check",
]
