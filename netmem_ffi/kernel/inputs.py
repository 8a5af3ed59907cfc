"""Kernel inputs (SPEC 6): find a kernel's BTF in whatever file carries it.

:func:`read_btf_bytes` accepts

* raw BTF (``/sys/kernel/btf/vmlinux``, a ``.btf`` file), either byte order;
* an ELF ``vmlinux`` (its ``.BTF`` section);
* an x86 bzImage (the setup header locates the compressed payload);
* an EFI zboot image (arm64, riscv64, loongarch: the ``zimg`` header does);
* a compressed image (``Image.gz``, ``vmlinuz`` of other architectures), or a
  raw kernel image with a compressed kernel embedded, found by scanning for
  the compression magics;
* a Debian kernel package (``.deb``): ``ar`` archive, ``data.tar.*``, then the
  image under ``boot/`` or ``usr/lib/modules/<release>/``.

It returns a :class:`KernelBlob`: the BTF bytes plus what the container told
(kernel release from the ``Linux version`` banner or the package, an
architecture hint from the ELF header or the package).  Parsing the BTF itself
is :mod:`netmem_ffi.layout.btf`'s job.  Malformed input raises
:class:`~netmem_ffi.errors.KernelInputError` naming the file and the offset;
every read is bounds-checked, and the work and memory of one input are bounded
by its :class:`~netmem_ffi.layout.budget.Budget` across every nesting level
(:class:`~netmem_ffi.errors.BudgetExceededError` names the budget).  Files are
read only when regular; a ``.deb`` is streamed (:mod:`netmem_ffi.kernel.archive`)
and its image member spooled to a temporary file; an ELF file is read by its
headers and ``.BTF`` section only.  One level is held at a time
(:mod:`netmem_ffi.kernel.levels`): :func:`_examine` learns from a level's bytes
what it is and where its children start, the bytes are dropped, and the child
is streamed from the file again.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from itertools import chain

from netmem_ffi.errors import KernelInputError
from netmem_ffi.kernel import codecs as kernel_codecs
from netmem_ffi.kernel.archive import (
    AR_MAGIC,
    Limited,
    control_fields,
    find_member,
    open_input,
)
from netmem_ffi.kernel.codecs import Buffer
from netmem_ffi.kernel.elf import ELF_MACHINES, Blob, ElfBtf, elf_btf
from netmem_ffi.kernel.levels import (
    BufferLevel,
    FileLevel,
    Level,
    StreamLevel,
    spool,
    take,
)
from netmem_ffi.layout.btf.reader import MAGIC_PREFIX, byte_order, unpack_header
from netmem_ffi.layout.btf.uapi import BTF_HEADER_LEN
from netmem_ffi.layout.budget import Budget

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from dataclasses import dataclass
else:
    from netmem_ffi.abi.record import dataclass

__all__ = ["DEB_ARCHES", "ELF_MACHINES", "KernelBlob", "btf_from_bytes", "btf_span", "read_btf_bytes"]

#: Larger headers exist (newer kernels append sections); anything past this is nonsense.
BTF_MAX_HEADER_LEN = 4096
#: Debian architecture -> architecture name (SPEC 5 names).
DEB_ARCHES = {
    "amd64": "x86_64",
    "i386": "i386",
    "arm64": "arm64",
    "armhf": "armhf",
    "armel": "armel",
    "s390x": "s390x",
    "ppc64el": "ppc64le",
    "ppc64": "ppc64",
    "riscv64": "riscv64",
    "loong64": "loongarch64",
}
_BANNER = re.compile(rb"Linux version (\d+\.\d+[^\s\x00]*) \(")
_MAX_BANNER_HITS = 64
_BANNER_WINDOW = 4 << 20
#: Any BTF magic with version 1 and flags 0, in either byte order.
_BTF_STARTS = tuple(p + b"\x00" for p in MAGIC_PREFIX.values())
#: Paths in a package's data.tar that hold the kernel image, in preference order.
_DEB_IMAGE = re.compile(
    r"^\.?/?(?:boot/vmlinu[xz]-(?P<r1>[^/]+)"
    r"|usr/lib/modules/(?P<r2>[^/]+)/vmlinu[xz](?:\.unsigned|\.efi)?"
    r"|usr/lib/debug/(?:boot/vmlinux-(?P<r3>[^/]+)|lib/modules/(?P<r4>[^/]+)/vmlinux))$"
)
_DEB_NAME = re.compile(r"^linux-(?:image|binary)(?:-unsigned)?-(?P<release>\d+\.\d+\S*?)(?:-unsigned|-dbg)?$")


@dataclass(frozen=True)
class KernelBlob:
    """A kernel's BTF as found in an input file, with what the container said about it."""

    btf: bytes
    release: str | None
    arch_hint: str | None
    source: str
    kind: str  # "raw-btf" | "elf" | "bzimage" | "zboot" | "image" | a codec name | "deb" | "dwarf"


class _NoBtf(Exception):
    """Internal: the input is well-formed but carries no BTF (a scan may try elsewhere)."""

    def __init__(self, message: str, source: str) -> None:
        super().__init__(message)
        self.message = message
        self.source = source


@dataclass
class _Found:
    btf: bytes
    release: str | None = None
    arch: str | None = None


def read_btf_bytes(path: str | os.PathLike[str], budget: Budget | None = None) -> KernelBlob:
    """Read the kernel input at *path* and return its BTF (see the module doc for the formats).

    Raises :class:`KernelInputError` naming the file (and the offset, where
    parsing failed) when the file cannot be read, is not a regular file, is
    malformed, holds no BTF or is over *budget* (default :meth:`Budget.from_env`).
    """
    name = os.fspath(path)
    budget = (budget or Budget.from_env()).fresh()
    with open_input(name) as fh:
        try:
            head = fh.read(0x210)
            fh.seek(0)
        except OSError as exc:
            raise KernelInputError(f"cannot read: {exc.strerror or exc}", name) from None
        kind = _kind(head)
        level = FileLevel(fh, name)
        try:
            if kind == "elf":
                return _blob(_elf_file(level, 0, budget), name, kind)
            if kind == "deb":
                return _blob(_deb(level, 0, budget), name, kind)
            return _blob(_extract(level, 0, budget), name, kind)
        except _NoBtf as exc:
            raise KernelInputError(exc.message, exc.source) from None


def btf_from_bytes(data: Buffer, source: str = "<bytes>", budget: Budget | None = None) -> KernelBlob:
    """Like :func:`read_btf_bytes` for an input already in memory; *source* names it in errors."""
    budget = (budget or Budget.from_env()).fresh()
    try:
        return _blob(_follow(_learn(data, BufferLevel(data, source), budget, _examine), 0, budget), source, _kind(data))
    except _NoBtf as exc:
        raise KernelInputError(exc.message, exc.source) from None


def _blob(found: _Found, source: str, kind: str) -> KernelBlob:
    return KernelBlob(btf=found.btf, release=found.release, arch_hint=found.arch, source=source, kind=kind)


def btf_span(buf: Buffer, pos: int) -> tuple[int, str] | None:
    """Length and byte order of a plausible BTF blob at *pos*, or None.

    Checks the header fields against each other and against the buffer; the
    content is left to the BTF reader.
    """
    unpacked = unpack_header(buf, pos)
    if unpacked is None:
        return None
    h, order = unpacked
    if h.version != 1 or not BTF_HEADER_LEN <= h.hdr_len <= BTF_MAX_HEADER_LEN or h.hdr_len % 4:
        return None
    end = h.hdr_len + max(h.type_off + h.type_len, h.str_off + h.str_len)
    if h.str_len == 0 or end > len(buf) - pos:
        return None
    return end, order


def _kind(data: Buffer) -> str:
    if byte_order(data) is not None:
        return "raw-btf"
    head = bytes(data[:8])
    if head.startswith(b"\x7fELF"):
        return "elf"
    if head == AR_MAGIC:
        return "deb"
    if head[:2] == b"MZ" and head[4:8] == b"zimg":
        return "zboot"
    if bytes(data[0x202:0x206]) == b"HdrS":
        return "bzimage"
    codec = kernel_codecs.codec_at(data)
    return codec.name if codec else "image"


@dataclass
class _Plan:
    """Where a level holding no BTF of its own leads: the children to follow, and what it says of the kernel.

    *scan*: the children are candidates found by scanning, tried in order, and
    one that does not decompress is passed over.  *package*: the level is a
    Debian package, walked by :func:`_deb`.
    """

    source: str
    children: list[StreamLevel]
    scan: bool = False
    nobtf: str | None = None  # why there is no BTF when no candidate holds it (default: counts)
    release: str | None = None
    arch: str | None = None
    package: Level | None = None


if TYPE_CHECKING:  # what a level's bytes tell: BTF found in them, or where to look next
    Examine = Callable[[Buffer, Level, Budget], _Found | _Plan]


def _extract(level: Level, depth: int, budget: Budget, what: str | None = None,
             examine: Examine | None = None) -> _Found:
    """Hold *level*'s bytes, learn what they tell (*examine*, default :func:`_examine`), drop them, and only then
    follow into its children."""
    what = what or level.what
    budget.check("depth", depth, f"containers nested more than {budget.depth} deep", level.source, 0)
    data = take(level, budget, what)
    with budget.hold(len(data), what, level.source):
        step = _learn(data, level, budget, examine or _examine)
        kept = _keep(data, step, level, budget)
    del data  # the only reference: freed before any child is read
    if kept is None:
        return _follow(step, depth, budget)
    with kept:
        return _follow(step, depth, budget)


def _keep(data: Buffer, step: _Found | _Plan, level: Level, budget: Budget) -> FileLevel | None:
    """A decompressed level that has children, written to a temporary file they are then streamed from.

    Without it each child would inflate the level again from the file (and a
    scan, once per candidate).  The file level and the caller's buffer are
    read again as they are (None).
    """
    if isinstance(step, _Found) or isinstance(level, (FileLevel, BufferLevel)):
        return None
    if not step.children and step.package is None:  # a scan that found nothing to try
        return None
    kept = spool((data,), len(data), level.what, level.source, budget)
    for child in step.children:
        child.parent = kept
    if step.package is not None:
        step.package = kept
    return kept


def _learn(data: Buffer, level: Level, budget: Budget, examine: Examine) -> _Found | _Plan:
    """*examine*, with the level's banner as the release when nothing closer names one."""
    step = examine(data, level, budget)
    if step.release is None:
        step.release = _banner(data)
    return step


def _follow(step: _Found | _Plan, depth: int, budget: Budget) -> _Found:
    """The BTF *step* leads to: itself when found, else its children's."""
    if isinstance(step, _Found):
        return step
    if step.package is not None:
        found = _deb(step.package, depth, budget)
    elif step.scan:
        found = _try_candidates(step, depth, budget)
    else:
        (child,) = step.children
        found = _extract(child, depth + 1, budget)
    found.release = found.release or step.release
    found.arch = found.arch or step.arch
    return found


def _examine(data: Buffer, level: Level, budget: Budget) -> _Found | _Plan:
    """What the bytes of *level* (held as *data*) are: BTF found in them, or where to look next."""
    source = level.source
    kind = _kind(data)
    if kind == "raw-btf":
        return _raw_btf(data, source)
    if kind == "elf":
        return _elf_held(data, level, budget)
    if kind == "deb":
        return _Plan(source, [], package=level)
    if kind == "zboot":
        return _zboot(data, level)
    if kind == "bzimage":
        return _bzimage(data, level)
    if kind != "image":
        return _Plan(source, [_stream(level, 0, len(data), kind)])
    found = _scan_btf(data, source, budget)
    return found if found is not None else _Plan(source, _candidates(data, level, budget), scan=True)


def _raw_btf(data: Buffer, source: str) -> _Found:
    if len(data) < BTF_HEADER_LEN:
        raise KernelInputError(f"BTF header needs {BTF_HEADER_LEN} bytes, file has {len(data)}", source, len(data))
    return _Found(bytes(data))


def _u(fmt: str, data: Buffer, pos: int, source: str, what: str) -> tuple[int, ...]:
    """struct.unpack_from with a bounds check that names *what* was being read."""
    size = struct.calcsize(fmt)
    if pos < 0 or pos + size > len(data):
        raise KernelInputError(f"{what} runs past the end of the file ({len(data)} bytes)", source, pos)
    return struct.unpack_from(fmt, data, pos)


def _banner(data: Buffer, start: int = 0, end: int | None = None) -> str | None:
    """The release from the first ``Linux version X (`` banner in data[start:end]."""
    hay = data if isinstance(data, (bytes, bytearray)) else bytes(data)
    end = len(hay) if end is None else end
    pos = hay.find(b"Linux version ", start, end)
    for _ in range(_MAX_BANNER_HITS):
        if pos < 0:
            return None
        m = _BANNER.match(hay, pos, min(end, pos + 256))
        if m:
            return m.group(1).decode("ascii", "replace")
        pos = hay.find(b"Linux version ", pos + 1, end)
    return None


def _windows(blob: Blob, off: int, size: int) -> Iterator[bytes]:
    """*size* bytes of *blob* from *off* in overlapping windows (a banner never falls between two)."""
    for start in range(off, off + size, _BANNER_WINDOW):
        yield blob.read(start, min(_BANNER_WINDOW + 256, off + size - start))


def _check_range(data: Buffer, off: int, size: int, source: str, what: str) -> None:
    if off < 0 or size < 0 or off + size > len(data):
        raise KernelInputError(f"{what} ({size} bytes) runs past the end of the file ({len(data)} bytes)", source, off)


def _stream(level: Level, off: int, size: int, codec: str) -> StreamLevel:
    """The *codec* stream at *off* of *level*, as a level of its own."""
    return StreamLevel(level, off, size, codec, f"{level.source} ({codec} payload at {off:#x})")


# -- ELF ----------------------------------------------------------------------


def _elf_btf(blob: Blob, source: str, budget: Budget) -> tuple[_Found | None, ElfBtf]:
    """The BTF of the ELF in *blob* (None when it has none), and the ELF's facts."""
    facts = elf_btf(blob, source, budget)
    if facts.btf is None:
        return None, facts
    if btf_span(facts.btf, 0) is None:
        raise KernelInputError(f".BTF section ({len(facts.btf)} bytes) does not start with a BTF header whose "
                               "sections fit in it", source, facts.btf_at)
    release = None
    if facts.release_range is not None:
        release = next((r for w in _windows(blob, *facts.release_range) if (r := _banner(w))), None)
    return _Found(facts.btf, release, facts.arch), facts


def _no_elf_btf(facts: ElfBtf) -> str:
    hint = ("; it has DWARF (.debug_info): `pahole --btf_encode_detached=OUT.btf FILE` makes BTF from it"
            if facts.dwarf else " (kernel built without CONFIG_DEBUG_INFO_BTF?)")
    return f"ELF file has {facts.why}{hint}"


def _elf_file(level: FileLevel, depth: int, budget: Budget) -> _Found:
    """An ELF file on disk, read by its headers and .BTF; one without, small enough, is scanned as a boot wrapper."""
    blob = Blob(fh=level.fh)
    found, facts = _elf_btf(blob, level.source, budget)
    if found is not None:
        return found
    if facts.dwarf or blob.size > budget.held_left():
        raise _NoBtf(_no_elf_btf(facts), level.source)
    return _extract(level, depth, budget, "ELF file", lambda data, lv, b: _boot_wrapper(data, lv, b, facts))


def _elf_held(data: Buffer, level: Level, budget: Budget) -> _Found | _Plan:
    """An ELF in memory: its .BTF, else the compressed kernel a boot wrapper may carry."""
    found, facts = _elf_btf(Blob(data), level.source, budget)
    return found if found is not None else _boot_wrapper(data, level, budget, facts)


def _boot_wrapper(data: Buffer, level: Level, budget: Budget, facts: ElfBtf) -> _Plan:
    """An ELF without .BTF (*facts*): the compressed streams inside it, tried in order."""
    return _Plan(level.source, _candidates(data, level, budget), scan=True, nobtf=_no_elf_btf(facts), arch=facts.arch)


# -- images ---------------------------------------------------------------------


def _bzimage(data: Buffer, level: Level) -> _Plan:
    """x86 boot protocol: setup_sects@0x1f1, payload_offset/length@0x248 (from protocol 2.08)."""
    source = level.source
    (setup_sects,) = _u("<B", data, 0x1F1, source, "bzImage setup header")
    (version,) = _u("<H", data, 0x206, source, "bzImage setup header")
    if version < 0x208:
        raise KernelInputError(f"boot protocol {version >> 8}.{version & 0xFF:02d} has no payload fields", source, 0x206)
    payload_offset, payload_length = _u("<II", data, 0x248, source, "bzImage setup header")
    (xloadflags,) = _u("<H", data, 0x236, source, "bzImage setup header")
    start = ((setup_sects or 4) + 1) * 512 + payload_offset
    _check_range(data, start, payload_length, source, "bzImage payload")
    codec = kernel_codecs.codec_at(data, start)
    if codec is None:
        raise KernelInputError("bzImage payload has no known compression magic", source, start)
    return _Plan(source, [_stream(level, start, payload_length, codec.name)], release=_setup_version(data),
                 arch="x86_64" if xloadflags & 1 else "i386")


def _setup_version(data: Buffer) -> str | None:
    """The release from the setup header's kernel_version string (boot protocol 2.00+)."""
    if len(data) < 0x210:
        return None
    (ptr,) = struct.unpack_from("<H", data, 0x20E)
    text = bytes(data[ptr + 0x200 : ptr + 0x200 + 128]).split(b"\x00")[0].split(b" ")[0]
    return text.decode("ascii", "replace") if ptr and text and text[:1].isdigit() else None


def _zboot(data: Buffer, level: Level) -> _Plan:
    """EFI zboot: 'MZ', 'zimg', payload offset and size, then the codec name at 0x18."""
    source = level.source
    payload_offset, payload_size = _u("<II", data, 8, source, "zboot header")
    name = bytes(data[0x18:0x38]).split(b"\x00")[0].decode("ascii", "replace")
    codec = {"gzip": "gzip", "zstd": "zstd", "lz4": "lz4", "lzma": "lzma", "xzkern": "xz", "xz": "xz", "bzip2": "bzip2"}
    if name not in codec:
        raise KernelInputError(f"zboot compression {name!r} is not supported", source, 0x18)
    _check_range(data, payload_offset, payload_size, source, f"{codec[name]} payload")
    return _Plan(source, [_stream(level, payload_offset, payload_size, codec[name])])


def _scan_btf(data: Buffer, source: str, budget: Budget) -> _Found | None:
    """The largest plausible BTF blob in a raw image (vmlinux BTF dwarfs any other; the first of equals).

    One ``find`` pass per byte order: a literal is found at memory speed.
    """
    hay = data if isinstance(data, (bytes, bytearray)) else bytes(data)
    best: tuple[int, int] | None = None  # (length, -position)
    for start in _BTF_STARTS:
        pos = hay.find(start)
        while pos >= 0:
            budget.spend("scan_hits", 1, "scanning an image for BTF", source, pos)
            span = btf_span(hay, pos)
            if span is not None and (best is None or (span[0], -pos) > best):
                best = (span[0], -pos)
            pos = hay.find(start, pos + 1)
    if best is None:
        return None
    length, at = best[0], -best[1]
    return _Found(bytes(hay[at : at + length]), _banner(hay), _image_arch(bytes(hay[:0x40])))


def _image_arch(data: bytes) -> str | None:
    """Architecture from a raw boot image header (arm64 'ARM\\x64', riscv 'RSC\\x05' at 0x38)."""
    magic = data[0x38:0x3C]
    return {b"ARM\x64": "arm64", b"RSC\x05": "riscv64"}.get(magic)


def _candidates(data: Buffer, level: Level, budget: Budget) -> list[StreamLevel]:
    """The compressed streams embedded in *level* (held as *data*), in file order, as many as may be tried."""
    room = budget.candidates - budget.spent.get("candidates", 0) + 1  # one more: trying it names the budget

    def hit(pos: int) -> None:
        budget.spend("scan_hits", 1, "scanning an image for compressed streams", level.source, pos)

    out: list[StreamLevel] = []
    for pos, codec in kernel_codecs.find_streams(data, hit):
        if len(out) >= room:
            break
        out.append(_stream(level, pos, len(data) - pos, codec.name))
    return out


def _try_candidates(plan: _Plan, depth: int, budget: Budget) -> _Found:
    """The first of *plan*'s embedded streams that holds BTF (one that does not decompress is passed over)."""
    inflated = failed = 0
    for child in plan.children:
        budget.spend("candidates", 1, "trying the compressed streams inside an image", plan.source, child.offset)
        try:
            return _extract(child, depth + 1, budget)
        except _NoBtf:
            inflated += 1
        except KernelInputError as exc:
            if exc.__class__ is not KernelInputError:  # a budget: the whole input is over it
                raise
            failed += 1
    raise _NoBtf(plan.nobtf or (
        f"no BTF found: none in the clear, none in the {inflated} compressed stream(s) inside "
        f"({failed} more candidate(s) did not decompress); kernel built without CONFIG_DEBUG_INFO_BTF?"),
        plan.source)


# -- Debian packages --------------------------------------------------------------


def _deb(package: Level, depth: int, budget: Budget) -> _Found:
    """A Debian package, streamed: its control file, then its kernel image member."""
    source = package.source
    control = control_fields(package.open(budget), source, budget)
    name = control.get("Package", "")
    found = find_member(package.open(budget), source, "data", lambda n: _DEB_IMAGE.match(n) is not None, budget)
    if found is None:
        raise _NoBtf(
            f"package {name or '?'} has no kernel image (boot/vmlinu[xz]-*, usr/lib/modules/*/vmlinu[xz]*)", source
        )
    member, body = found
    where = f"{source}:{member.name.lstrip('./')}"
    spooled, elf = _spool(body, member.size, where, depth + 1, budget)
    del found, body  # the package's decompressor (its dictionary: up to 64 MiB) goes before the member is read
    with spooled as level:  # the file, not memory, keeps the member while the levels inside it are read
        result = _elf_file(level, depth + 1, budget) if elf else _extract(level, depth + 1, budget)
    m = _DEB_IMAGE.match(member.name)
    path_release = next((v for v in m.groupdict().values() if v), None) if m else None
    name_match = _DEB_NAME.match(name)
    result.release = result.release or path_release or (name_match.group("release") if name_match else None)
    arch = control.get("Architecture")
    result.arch = DEB_ARCHES.get(arch or "", arch) or result.arch
    return result


def _spool(body: Limited, size: int, source: str, depth: int, budget: Budget) -> tuple[FileLevel, bool]:
    """A package's image member copied to a temporary file (a level that owns it), and whether it is ELF.

    An ELF member (a ``-dbg`` vmlinux of a gigabyte) is then read by its headers
    and ``.BTF`` only; one that is neither ELF nor small enough to hold is
    refused before it is copied.
    """
    budget.check("depth", depth, f"containers nested more than {budget.depth} deep", source, 0)
    head = body.read(4)
    elf = head == b"\x7fELF"
    if not elf and size > budget.held_left():
        raise budget.exceeded("held", f"package member of {size:,} bytes is not ELF and too large to hold", source)
    return spool(chain((head,), iter(lambda: body.read(1 << 20), b"")), size, "package member", source, budget), elf
