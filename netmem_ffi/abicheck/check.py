"""Cross-check a kernel's netmem ABI against the model: the library behind ``netmem-ffi check``.

* :func:`kernel_layouts` reads a kernel input (raw BTF, ELF vmlinux, image,
  ``.deb``) and returns its netmem layouts as a :class:`LayoutSet`.
* :func:`check_source` also detects the profile (:mod:`netmem_ffi.abicheck.detect`),
  compares every member offset and size, struct size, enum size and values with
  the model on the kernel's architecture, and evaluates the profile's kernel
  static asserts on the kernel's own layouts.  :meth:`CheckResult.to_dict` is
  the ``check --json`` object of SPEC 7.

``struct page``'s size and its config-dependent members (``virtual``,
``_last_cpupid``, ``memcg_data``) depend on the kernel config, so they are
notes (``breaking: false``), never mismatches; changes abidiff calls harmless
(a member's type spelled differently at the same offset and size) are notes
too.  The model is spelled as the generation's kernels spell ``struct page``
(``memdesc_flags_t`` from 6.18, ``compound_info`` from 7.1) where all of them
agree, so those notes appear only where a kernel really differs.
"""

from __future__ import annotations

import os

from netmem_ffi.abi import registry
from netmem_ffi.abicheck.asserts import AssertResult, evaluate_all
from netmem_ffi.abicheck.compare import CHECK, Change, compare
from netmem_ffi.abicheck.detect import (
    MATCH,
    PRE_6_12,
    ArchChoice,
    Detection,
    choose_arch,
    detect_profile,
)
from netmem_ffi.kernel.source import DEFAULT_SOURCE, KernelSource, read_source
from netmem_ffi.layout.archid import identify_btf
from netmem_ffi.layout.btf.layouts import NETMEM_TYPES, layout_set
from netmem_ffi.layout.models import model_layouts
from netmem_ffi.layout.types import LayoutSet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple
    from netmem_ffi.kernel.references import Reference
else:
    from netmem_ffi.abi.record import NamedTuple

#: How a container's architecture hint was found, by input kind (ELF kinds: "elf").
_HINT_FROM = {"raw-btf": "running", "reference": "package", "deb": "package", "dwarf": "package",
              "deb-dwarf": "package"}
#: Input kinds whose types came from DWARF.
_DWARF_KINDS = frozenset({"dwarf", "elf-dwarf", "deb-dwarf"})


def kernel_arch(kernel: KernelSource, user: str | None = None) -> ArchChoice:
    """The architecture of *kernel*: *user*'s, the container's, its types' or unknown (see :func:`choose_arch`)."""
    btf = kernel.btf
    identified = None if user or kernel.arch_hint else identify_btf(btf)
    return choose_arch(btf.pointer_size, btf.byteorder, user=user, hint=kernel.arch_hint,
                       hint_from=_HINT_FROM.get(kernel.kind, "elf"), identified=identified,
                       types_from="dwarf" if kernel.kind in _DWARF_KINDS else "btf")


def _layouts(kernel: KernelSource, user: str | None = None) -> tuple[LayoutSet, ArchChoice]:
    kernel.btf.find_types(NETMEM_TYPES)  # first, so that one walk finds them all (the pointer size's too)
    arch = kernel_arch(kernel, user)
    return layout_set(kernel.btf, arch=arch.model, source=kernel.source), arch


def kernel_layouts(source: str | os.PathLike[str] = DEFAULT_SOURCE, arch: str | None = None) -> LayoutSet:
    """The netmem layouts of the kernel at *source* (``page`` limited to the netmem members).

    *arch* overrides the architecture the input and its types give.
    """
    return _layouts(read_source(source), arch)[0]


class CheckResult(NamedTuple):
    """One kernel checked: what was read, the detection, and every difference from the model."""

    source: str
    release: str | None
    kind: str
    arch: ArchChoice
    layouts: LayoutSet
    detection: Detection
    model: LayoutSet | None
    asserts: tuple[AssertResult, ...] = ()
    mismatches: tuple[Change, ...] = ()
    notes: tuple[Change, ...] = ()

    @property
    def match(self) -> bool:
        """True when the profile was recognised, nothing differs and every static assert holds."""
        return (self.detection.status == MATCH and not self.mismatches
                and all(a.ok for a in self.asserts))

    @property
    def status(self) -> str:
        """"match", "mismatch", "unknown" or "pre-6.12"."""
        if self.detection.status != MATCH:
            return self.detection.status
        return "match" if self.match else "mismatch"

    def summary(self) -> str:
        """One line: the profile or why there is none, and what differs."""
        text = self.detection.describe()
        failed = sum(not a.ok for a in self.asserts)
        if self.mismatches:
            text += f"; {len(self.mismatches)} mismatch{'es' * (len(self.mismatches) != 1)}"
        if failed:
            text += f"; {failed} static assert{'s' * (failed != 1)} failed"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The ``check --json`` object (SPEC 7)."""
        ls = self.layouts
        return {
            "source": self.source,
            "kernel": {"release": self.release, "arch": self.arch.arch, "arch_from": self.arch.how,
                       "pointer_size": ls.pointer_size, "endianness": ls.endianness, "input": self.kind},
            "profile": self.detection.profile,
            "match": self.match,
            "status": self.status,
            "summary": self.summary(),
            "nearest_profile": self.detection.nearest,
            "structs": {n: {"size": s.size, "fields": [f.to_dict() for f in s.fields]} for n, s in ls.structs.items()},
            "enums": {n: e.to_dict() for n, e in ls.enums.items()},
            "asserts": [a.to_dict() for a in self.asserts],
            "mismatches": [c.to_dict() for c in self.mismatches],
            "notes": [c.to_dict() for c in self.notes],
        }


def kernel_spelled(model: LayoutSet, spec: registry.ProfileSpec) -> LayoutSet:
    """*model* with ``struct page`` spelled as every kernel of *spec* spells it (:func:`registry.page_respellings`)."""
    page = model.structs.get("page")
    respell = registry.page_respellings(spec)
    if page is None or not respell:
        return model
    fields = []
    for f in page.fields:
        for r in respell:
            if f.name == r.member:
                f = f._replace(type=r.new) if r.attribute == "type" else f._replace(name=r.new)
        fields.append(f)
    return model._replace(structs={**model.structs, "page": page._replace(fields=tuple(fields))})


def check_kernel(kernel: KernelSource, arch: str | None = None) -> CheckResult:
    """Detect, compare and evaluate the asserts for a kernel already read (*arch*: see :func:`check_source`)."""
    layouts, choice = _layouts(kernel, arch)
    detection = detect_profile(layouts, choice, release=kernel.release)
    name = detection.profile or detection.nearest
    if detection.status == PRE_6_12 or name is None:
        return CheckResult(kernel.source, kernel.release, kernel.kind, choice, layouts, detection, None)
    spec = registry.spec(name)
    model = kernel_spelled(model_layouts(name, choice.model), spec)
    changes = compare(model, layouts, compare_align=False, policy=CHECK)
    mismatches = tuple(c for c in changes if c.breaking)
    notes = tuple(c for c in changes if not c.breaking)
    return CheckResult(
        kernel.source, kernel.release, kernel.kind, choice, layouts, detection, model,
        asserts=tuple(evaluate_all(spec, layouts)), mismatches=mismatches, notes=notes,
    )


def check_source(source: str | os.PathLike[str] = DEFAULT_SOURCE, arch: str | None = None) -> CheckResult:
    """Read the kernel at *source* and check it (see the module doc); *arch* (any spelling) overrides the
    architecture the input and its types give (``check --arch``).

    Raises :class:`KernelInputError` for an unreadable or malformed input and
    :class:`~netmem_ffi.errors.UnsupportedArchError` for an architecture hint
    the model does not know.
    """
    return check_kernel(read_source(source), arch)


def check_reference(ref: Reference | str, arch: str | None = None) -> CheckResult:
    """``netmem-ffi check`` on a shipped reference kernel (its release and architecture from the index).

    The result's source is ``reference:NAME``; an unknown name raises
    :class:`~netmem_ffi.errors.UnknownReferenceError`.
    """
    # the shipped references' index (json, importlib.resources) is read only when a reference is checked:
    # the running kernel's check, the path users start most, does not pay for it (issue 18)
    from netmem_ffi.kernel.references import reference

    return check_kernel((reference(ref) if isinstance(ref, str) else ref).source(), arch)
