"""Profile detection: exact shapes only; transient layouts unknown; no net_iov is 'before 6.12'."""

from __future__ import annotations

import pytest
from btf_support import TRANSIENTS, transient_layouts, without_net_iov


from netmem_ffi.abi import registry
from netmem_ffi.layout.btf import layouts as btf_layouts
from netmem_ffi.layout.btf.reader import BTF
from netmem_ffi.layout.btf.writer import synthesize
from netmem_ffi.abicheck.detect import MATCH, PRE_6_12, UNKNOWN, ArchChoice, choose_arch, detect_profile
from netmem_ffi.errors import KernelInputError, UnsupportedArchError
from netmem_ffi.layout.types import LayoutSet
from netmem_ffi.layout.models import model_layouts

ARCHES = ("x86_64", "i386", "s390x", "armhf")


def as_kernel(model: LayoutSet) -> tuple[LayoutSet, ArchChoice]:
    """The layouts a kernel with *model*'s types would show, read back through BTF."""
    btf = BTF(synthesize(model), f"synthetic-{model.profile}-{model.arch}")
    arch = choose_arch(btf.pointer_size, btf.byteorder, hint=model.arch)
    return btf_layouts.layout_set(btf, arch=arch.arch), arch


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("profile", registry.names())
def test_every_profile_shape_detected(profile: str, arch: str) -> None:
    kernel, choice = as_kernel(model_layouts(profile, arch))
    found = detect_profile(kernel, choice)
    assert (found.status, found.profile) == (MATCH, profile)


def test_profile_shapes_are_distinct() -> None:
    from netmem_ffi.abicheck.detect import shape

    for arch in ARCHES:
        shapes = [shape(model_layouts(p, arch)) for p in registry.names()]
        assert len(set(shapes)) == len(shapes), arch


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
@pytest.mark.parametrize("name", list(TRANSIENTS))
def test_transient_layouts_are_unknown(name: str, arch: str) -> None:
    kernel, choice = as_kernel(transient_layouts(TRANSIENTS[name], arch))
    found = detect_profile(kernel, choice)
    assert found.status == UNKNOWN and found.profile is None
    assert found.nearest in registry.names()
    assert found.differences, "an unknown shape is reported with its differences"
    assert "unrecognized" in found.describe()


def test_union_removed_transient_is_not_v619() -> None:
    """Same offsets as v6.19, different members: offset-only matching would misreport it."""
    kernel, choice = as_kernel(transient_layouts(TRANSIENTS["union removed, owner before type"]))
    v619 = model_layouts("v6.19", "x86_64").struct("net_iov")
    niov = kernel.struct("net_iov")
    assert [(f.offset, f.size) for f in niov.top_level()][-2:] == [(f.offset, f.size) for f in v619.top_level()][-2:]
    assert detect_profile(kernel, choice).profile is None


def test_no_net_iov_is_before_612() -> None:
    kernel, choice = as_kernel(without_net_iov(model_layouts("v6.12", "x86_64")))
    found = detect_profile(kernel, choice)
    assert (found.status, found.profile) == (PRE_6_12, None)
    assert "before 6.12" in found.describe()


def test_choose_arch() -> None:
    assert choose_arch(8, "little", hint="amd64") == ArchChoice("x86_64", "elf", "x86_64")
    big = choose_arch(8, "big")
    assert (big.arch, big.how, big.model) == ("unknown", "btf", "s390x")  # never a guess reported as the arch
    assert choose_arch(4, "little", identified="armhf", types_from="dwarf") == ArchChoice("armhf", "dwarf", "armhf")
    with pytest.raises(KernelInputError):
        choose_arch(8, "little", hint="i386")
    with pytest.raises(KernelInputError):
        choose_arch(4, "big")
    with pytest.raises(UnsupportedArchError):
        choose_arch(8, "little", hint="vax")


@pytest.mark.parametrize("profile", registry.names())
def test_a_release_hint_saves_reading_models_never_changes_the_answer(profile: str) -> None:
    kernel, choice = as_kernel(model_layouts(profile, "i386"))
    asked: list[str] = []

    def counting(name: str, arch: str) -> LayoutSet:
        asked.append(name)
        return model_layouts(name, arch)

    plain = detect_profile(kernel, choice, counting)
    release = registry.spec(profile).kernels[0]
    asked.clear()
    assert detect_profile(kernel, choice, counting, release=release + ".7-amd64") == plain
    assert asked == [profile]  # the release's generation, first and only
    others = [p for p in registry.names() if p != profile]
    wrong = registry.spec(others[0]).kernels[0]
    for hint in (wrong, "5.10.0", "not a release", None):
        assert detect_profile(kernel, choice, counting, release=hint) == plain
    unknown, unknown_choice = as_kernel(transient_layouts(next(iter(TRANSIENTS.values())), "i386"))
    hinted = detect_profile(unknown, unknown_choice, release=release)
    assert hinted.status == UNKNOWN and hinted == detect_profile(unknown, unknown_choice)  # the same nearest
