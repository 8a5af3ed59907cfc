"""Which architecture a kernel was built for, from its own type information.

A vmlinux BTF (or the DWARF of a ``-dbg`` vmlinux, read into BTF by
:mod:`netmem_ffi.layout.dwarf`) has no ELF header to name the machine, but it
carries the architecture's own declarations.  ``struct pt_regs`` is declared
by every architecture in ``arch/*/include/asm/ptrace.h`` with its own register
names (docs/netmem-abi.md 1.5):

==============  ==========================================================
x86_64          ``r15`` ... ``r8``, ``bx``, ``orig_ax``, ``ip`` (8-byte words)
i386            ``bx``, ``cx`` ... ``orig_ax``, ``ip`` (4-byte words)
arm64           ``user_regs`` {``regs[31]``, ``sp``, ``pc``, ``pstate``}, ``orig_x0``
armhf           ``uregs[18]``
s390x           ``psw``, ``gprs[16]``, ``orig_gpr2``
ppc64, ppc64le  ``gpr[32]``, ``nip``, ``msr`` (byte order tells them apart)
riscv64         ``epc``, ``ra`` ... ``cause``, ``orig_a0``
loongarch64     ``regs[32]``, ``orig_a0``, ``csr_era``, ``csr_badvaddr``
==============  ==========================================================

The member names pick a family; the word size and byte order of the type
information pick the member of the family (x86_64/i386, ppc64/ppc64le).  When
the types do not decide (no ``struct pt_regs``, a family with no target of
that word size and byte order) the answer is None: the caller says
``unknown``, never the host's name.
"""

from __future__ import annotations

from collections.abc import Iterator

from netmem_ffi.abi.arches import MODELS
from netmem_ffi.layout.btf.reader import BTF, MAX_CHAIN
from netmem_ffi.layout.btf.uapi import Kind

__all__ = ["ARCH_TYPES", "SIGNATURES", "identify", "identify_btf", "pt_regs_members"]

#: The struct whose members identify the architecture, and the helper struct some arches nest in it.
ARCH_TYPES = ("pt_regs", "user_pt_regs")

#: Register names of ``struct pt_regs`` (anonymous members looked through) that identify a family,
#: and the targets of that family.
SIGNATURES: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = (
    (frozenset({"bx", "orig_ax", "ip", "flags"}), ("x86_64", "i386")),
    (frozenset({"pc", "pstate", "orig_x0"}), ("arm64",)),
    (frozenset({"uregs"}), ("armhf",)),
    (frozenset({"psw", "gprs", "orig_gpr2"}), ("s390x",)),
    (frozenset({"gpr", "nip", "msr"}), ("ppc64le", "ppc64")),
    (frozenset({"epc", "cause", "orig_a0"}), ("riscv64",)),
    (frozenset({"regs", "csr_era", "orig_a0"}), ("loongarch64",)),
)


def identify(members: frozenset[str] | set[str], pointer_size: int, endianness: str) -> str | None:
    """The one target whose ``struct pt_regs`` has these *members* and this word size and byte order.

    None when no signature matches, several do, or the family has no target of
    that word size and byte order (a 31-bit s390, a 32-bit powerpc).
    """
    found = [arch for names, family in SIGNATURES if names <= members for arch in family
             if (MODELS[arch].pointer, MODELS[arch].endianness) == (pointer_size, endianness)]
    return found[0] if len(found) == 1 else None


def _names(btf: BTF, tid: int, depth: int = 0) -> Iterator[str]:
    """Member names of STRUCT/UNION *tid*, looking through anonymous members and the arm64/s390 ``user_regs``."""
    if depth > MAX_CHAIN:
        return
    for m in btf.type(tid).members:
        rid = btf.resolve(m.type, referrer=tid)
        nested = rid and btf.type(rid).kind in (Kind.STRUCT, Kind.UNION)
        if m.name and m.name != "user_regs":
            yield m.name
        elif nested:
            yield from _names(btf, rid, depth + 1)


def pt_regs_members(btf: BTF) -> frozenset[str] | None:
    """The register names of *btf*'s ``struct pt_regs`` (see :func:`_names`), None without one."""
    tid = btf.find_types({"pt_regs": frozenset({Kind.STRUCT})}).get("pt_regs")
    return None if tid is None else frozenset(_names(btf, tid))


def identify_btf(btf: BTF) -> str | None:
    """The architecture *btf*'s own types identify (:func:`identify`), None when they do not decide."""
    members = pt_regs_members(btf)
    if members is None:
        return None
    return identify(members, btf.pointer_size, btf.byteorder)
