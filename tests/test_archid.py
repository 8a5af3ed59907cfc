"""The architecture from a kernel's own types (netmem_ffi.layout.archid) and how ``check`` reports it.

Each target's ``struct pt_regs`` is rebuilt as BTF from the register names the
kernel declares (arch/*/include/asm/ptrace.h, as the kernels' BTF shows them),
in the target's word size and byte order; the running kernel's BTF and the
real loong64/armhf DWARF (tests/test_dwarf.py) are the real-kernel cases.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netmem_ffi.abi import arches
from netmem_ffi.abicheck.check import check_source
from netmem_ffi.abicheck.detect import ARCH_FROM, UNKNOWN_ARCH, choose_arch
from netmem_ffi.errors import KernelInputError
from netmem_ffi.kernel.references import reference
from netmem_ffi.layout.archid import ARCH_TYPES, SIGNATURES, identify, identify_btf, pt_regs_members
from netmem_ffi.layout.btf.reader import BTF, BTFMember, BTFType
from netmem_ffi.layout.btf.uapi import Kind
from netmem_ffi.kernel.references import names as reference_names
from netmem_ffi.layout.btf.writer import NETMEM_ROOTS, encode, extract

_X86 = ["bx", "cx", "dx", "si", "di", "bp", "ax", "orig_ax", "ip", "cs", "flags", "sp", "ss"]
#: struct pt_regs per target: (nested struct name or "", member names), as the kernels declare them.
PT_REGS: dict[str, tuple[str, list[str]]] = {
    "x86_64": ("", ["r15", "r14", "r13", "r12", *_X86[:6], "r11", "r10", "r9", "r8", *_X86[6:]]),
    "i386": ("", [*_X86[:7], "ds", "es", "fs", "gs", *_X86[7:]]),
    "arm64": ("user_pt_regs", ["regs", "sp", "pc", "pstate", "orig_x0", "syscallno", "orig_addr_limit"]),
    "armhf": ("", ["uregs"]),
    "s390x": ("", ["args", "psw", "gprs", "orig_gpr2", "int_code", "int_parm_long", "flags", "cr1"]),
    "ppc64le": ("user_pt_regs", ["gpr", "nip", "msr", "orig_gpr3", "ctr", "link", "xer", "ccr", "softe", "trap"]),
    "ppc64": ("user_pt_regs", ["gpr", "nip", "msr", "orig_gpr3", "ctr", "link", "xer", "ccr", "softe", "trap"]),
    "riscv64": ("", ["epc", "ra", "sp", "gp", "tp", "t0", "a0", "status", "badaddr", "cause", "orig_a0"]),
    "loongarch64": ("", ["regs", "orig_a0", "csr_era", "csr_badvaddr", "csr_crmd", "csr_prmd", "csr_estat"]),
}


def pt_regs_btf(arch: str, *, word: int | None = None, order: str | None = None, names: list[str] | None = None,
                nested: str | None = None) -> bytes:
    """BTF with ``long`` and a ``struct pt_regs`` of *arch*'s registers (nested in ``user_regs`` where the kernel does)."""
    model = arches.MODELS[arch]
    word = word or model.pointer
    wrapper, regs = PT_REGS[arch]
    regs = names if names is not None else regs
    nested = wrapper if nested is None else nested
    long = BTFType(1, Kind.INT, "long int", word, extra=word * 8 | (1 << 24))
    members = tuple(BTFMember(n, 1, 8 * word * i) for i, n in enumerate(regs))
    if not nested:
        return encode([long, BTFType(2, Kind.STRUCT, "pt_regs", word * len(regs), members=members)],
                      order or model.endianness)
    inner = BTFType(2, Kind.STRUCT, nested, word * len(regs), members=members[:4])
    outer = BTFType(3, Kind.STRUCT, "pt_regs", word * len(regs),
                    members=(BTFMember("user_regs", 2, 0),) + members[4:])
    return encode([long, inner, outer], order or model.endianness)


@pytest.mark.parametrize("arch", arches.ARCHES)
def test_each_target_is_told_apart(arch: str) -> None:
    btf = BTF(pt_regs_btf(arch), arch)
    assert identify_btf(btf) == arch
    family = next(f for _, f in SIGNATURES if arch in f)  # told apart by word size and byte order instead
    others = {a for a in arches.ARCHES if a not in family}
    assert all(identify(pt_regs_members(BTF(pt_regs_btf(o), o)) or frozenset(),
                        btf.pointer_size, btf.byteorder) != arch for o in others)


@pytest.mark.parametrize(("arch", "word", "order"), [("s390x", 4, "big"), ("ppc64", 4, "big"),
                                                     ("armhf", 4, "big"), ("x86_64", 8, "big")])
def test_no_target_of_that_word_size_and_byte_order_is_unknown(arch: str, word: int, order: str) -> None:
    assert identify_btf(BTF(pt_regs_btf(arch, word=word, order=order), "odd")) is None


def test_unrecognised_registers_and_missing_pt_regs_are_unknown() -> None:
    assert identify_btf(BTF(pt_regs_btf("x86_64", names=["foo", "bar"]), "odd")) is None
    assert identify(frozenset({"uregs", "psw", "gprs", "orig_gpr2"}), 4, "little") == "armhf"
    assert identify(frozenset({"uregs", "regs", "csr_era", "orig_a0"}), 8, "little") == "loongarch64"
    without = BTF(encode([BTFType(1, Kind.INT, "long int", 8, extra=64 | (1 << 24))]), "none")
    assert pt_regs_members(without) is None and identify_btf(without) is None


def test_running_kernel_btf() -> None:
    path = "/sys/kernel/btf/vmlinux"
    if not os.path.exists(path):
        pytest.skip("the running kernel has no BTF")
    btf = BTF(Path(path).read_bytes(), path)
    assert identify_btf(btf) == arches.host_arch()
    assert "r15" in (pt_regs_members(btf) or ())


def test_choose_arch_order_and_contradictions() -> None:
    assert choose_arch(8, "little", user="loong64", hint="amd64", identified="arm64") == ("loongarch64", "user",
                                                                                          "loongarch64")
    assert choose_arch(8, "little", hint="amd64", hint_from="package", identified="arm64").how == "package"
    assert choose_arch(8, "big", identified="ppc64", types_from="dwarf") == ("ppc64", "dwarf", "ppc64")
    unknown = choose_arch(8, "big")
    assert (unknown.arch, unknown.how, unknown.model) == (UNKNOWN_ARCH, "btf", "s390x")
    assert "unknown" in unknown.describe() and arches.host_arch() not in unknown.describe()
    with pytest.raises(KernelInputError, match="--arch says i386"):
        choose_arch(8, "little", user="i386")
    with pytest.raises(KernelInputError, match="no supported architecture"):
        choose_arch(2, "little")


def test_raw_btf_reports_its_types_architecture(tmp_path: Path) -> None:
    """A reference kernel's extract with the arch's pt_regs added: raw, it reports the real architecture."""
    ref = reference("riscv64-7.2")
    raw = tmp_path / "riscv.btf"
    raw.write_bytes(pt_regs_btf("riscv64"))
    assert check_source(raw).arch[:2] == ("riscv64", "btf")
    plain = tmp_path / "plain.btf"
    plain.write_bytes(extract(BTF(ref.read(), "ref"), [r for r in NETMEM_ROOTS if r not in ARCH_TYPES]))
    result = check_source(plain)
    assert (result.arch.arch, result.arch.how) == (UNKNOWN_ARCH, "btf")
    assert result.to_dict()["kernel"]["arch_from"] in ARCH_FROM
    kernel = check_source(plain, arch="riscv").to_dict()["kernel"]
    assert {"arch": "riscv64", "arch_from": "user"}.items() <= kernel.items()


@pytest.mark.parametrize("name", reference_names())
def test_shipped_reference_read_raw_names_its_architecture(name: str, tmp_path: Path) -> None:
    """Each shipped extract keeps struct pt_regs: copied off as a raw .btf, it reports its own architecture."""
    raw = tmp_path / f"{name}.btf"
    raw.write_bytes(reference(name).read())
    result = check_source(raw)
    assert (result.arch.arch, result.arch.how) == (reference(name).arch, "btf")


def _network_refs() -> list[object]:
    from test_debian_kernels import SELECTED

    return list(SELECTED)


@pytest.mark.network
@pytest.mark.parametrize("ref", _network_refs(), ids=lambda r: r.name)  # type: ignore[attr-defined]
def test_full_reference_kernel_btf_names_its_architecture(ref: object) -> None:
    """Each reference kernel's full BTF (its Debian package, not the shipped extract) names its arch."""
    from test_debian_kernels import _fetch

    name = ref.name  # type: ignore[attr-defined]
    _, blob = _fetch(name)
    assert identify_btf(BTF(blob.btf, name)) == reference(name).arch
