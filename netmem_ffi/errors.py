"""The package's exceptions: one base class, :class:`NetmemError`, and specific subclasses.

Runtime errors carry the offending value (``.value``) and say in the message
what was expected.  Each also derives from the closest built-in exception
(``ValueError``, ``TypeError`` ...), so generic handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "NetmemError",
    "BuildError",
    "NetmemTypeError",
    "NetmemValueError",
    "NetmemIndexError",
    "RefError",
    "NotOwnedError",
    "MisalignedRefError",
    "NotNetIovError",
    "NotPageError",
    "TagMismatchError",
    "UseAfterFreeError",
    "ClosedError",
    "RefcountUnderflowError",
    "RefcountOverflowError",
    "BusyError",
    "BindingDeadError",
    "WrongProviderError",
    "OutOfPagesError",
    "NetmemMemoryError",
    "UnknownProfileError",
    "KernelInputError",
    "BudgetExceededError",
    "UnknownReferenceError",
    "ArchiveError",
    "SnapshotError",
    "UnsupportedArchError",
    "NetmemWarning",
    "UnavailableError",
    "WouldOopsError",
    "NullOwnerError",
    "ForeignOwnerError",
    "CompoundHeadError",
    "NullPoolError",
    "ForeignPoolError",
]


class NetmemError(Exception):
    """Base class of every error netmem_ffi raises on purpose."""

    def __init__(self, message: str, value: object = None) -> None:
        super().__init__(message)
        self.value = value


class NetmemTypeError(NetmemError, TypeError):
    """An argument of the wrong Python type (e.g. a str where a netmem_ref is expected)."""


class NetmemValueError(NetmemError, ValueError):
    """An argument of the right type but out of range (negative, too large, bad enum value)."""


class NetmemIndexError(NetmemError, IndexError):
    """An index outside a container of the runtime (a niov index past the end of its area)."""


class RefError(NetmemError, ValueError):
    """A netmem_ref that cannot be used for the operation asked."""


class NotOwnedError(RefError):
    """The ref points at no memory this profile's runtime owns (it is never dereferenced)."""


class MisalignedRefError(RefError):
    """The ref points inside owned memory but not at the start of a struct page / net_iov."""


class NotNetIovError(RefError):
    """A page ref (bit 0 clear) where a net_iov ref is required."""


class NotPageError(RefError):
    """A net_iov ref (bit 0 set) where a page ref is required."""


class TagMismatchError(RefError):
    """The NET_IOV tag bit disagrees with the memory the ref points at."""


class UseAfterFreeError(RefError):
    """The ref points at a page that was freed (its _refcount reached zero)."""


class ClosedError(RefError):
    """The ref, area or page map belongs to memory that was closed."""


class RefcountUnderflowError(NetmemError, ValueError):
    """The operation would take a reference count below its floor; nothing was changed."""


class RefcountOverflowError(NetmemError, OverflowError):
    """The operation would overflow a reference count; nothing was changed."""


class BusyError(NetmemError, RuntimeError):
    """An area or page map cannot be closed while references to it are outstanding."""


class BindingDeadError(NetmemError, RuntimeError):
    """refcount_inc_not_zero() on a devmem binding whose count already reached zero."""


class WrongProviderError(NetmemError, ValueError):
    """An io_uring-only operation on a devmem niov, or the reverse."""


class OutOfPagesError(NetmemError, MemoryError):
    """The page map has no free block of the order asked for."""


class NetmemMemoryError(NetmemError, MemoryError):
    """The C runtime could not allocate memory."""


class UnknownProfileError(NetmemError, KeyError):
    """A profile name that is not one of the known ABI generations."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class KernelInputError(NetmemError):
    """A kernel input (BTF, ELF, image, .deb) could not be read; names the file and offset."""

    def __init__(self, message: str, path: object = None, offset: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}: "
        if offset is not None:
            where += f"at offset {offset:#x}: "
        super().__init__(where + message, value=path)
        self.path = path
        self.offset = offset


class BudgetExceededError(KernelInputError):
    """Reading an input would exceed one of its budgets (:mod:`netmem_ffi.layout.budget`).

    ``budget`` is the budget's name; the message names its environment variable.
    """

    def __init__(self, message: str, budget: str, path: object = None, offset: int | None = None) -> None:
        super().__init__(message, path, offset)
        self.budget = budget


class UnknownReferenceError(NetmemError, KeyError):
    """A reference kernel name that is not one of those shipped in the package."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ArchiveError(NetmemError, RuntimeError):
    """Debian's archive could not be reached through apt, or a package is not (or no longer) in it."""


class SnapshotError(NetmemError, ValueError):
    """A layout snapshot that cannot be read (bad JSON, unknown or newer schema)."""


class UnsupportedArchError(NetmemError, ValueError):
    """An architecture name the portable layout engine does not know."""


class BuildError(NetmemError, RuntimeError):
    """A generation's extension could not be built (a kernel static assert fails, no C compiler ...)."""


class NetmemWarning(UserWarning):
    """Where the kernel would WARN_ON_ONCE and return NULL, the model warns with this."""


class UnavailableError(NetmemError, RuntimeError):
    """A helper the profile's kernels did not have (under that name); ``.value`` is the name.

    ``.first`` names the first generation that has it (None: none does, e.g. a
    name the kernel dropped).  ``profile.available(name)`` answers beforehand.
    """

    def __init__(self, message: str, value: object = None, first: str | None = None) -> None:
        super().__init__(message, value)
        self.first = first


class WouldOopsError(RefError):
    """Owned memory whose stored words the kernel would follow into an oops; the model refuses."""


class NullOwnerError(WouldOopsError):
    """A net_iov whose ``owner`` word is NULL: the kernel would dereference it."""


class ForeignOwnerError(WouldOopsError):
    """A net_iov whose ``owner`` word points at no area the package owns."""


class CompoundHeadError(WouldOopsError):
    """A tail page whose ``compound_head`` word points outside its memory map."""


class NullPoolError(WouldOopsError):
    """A netmem whose ``pp`` word is NULL where the kernel would read ``pp->...``."""


class ForeignPoolError(WouldOopsError):
    """A netmem whose ``pp`` word points at no page_pool the package owns."""
