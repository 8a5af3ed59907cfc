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
every read is bounds-checked and every decompression bounded
(:data:`netmem_ffi.kernel.codecs.MAX_OUTPUT`).
"""

from __future__ import annotations

import os
import re
import struct
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from netmem_ffi.kernel import codecs as kernel_codecs
from netmem_ffi.errors import KernelInputError
from netmem_ffi.kernel.codecs import Buffer

__all__ = ["KernelBlob", "read_btf_bytes", "btf_from_bytes", "btf_span", "DEB_ARCHES", "ELF_MACHINES"]

BTF_MAGIC = 0xEB9F
#: Smallest BTF header (magic, version, flags, hdr_len, type_off/len, str_off/len).
BTF_HEADER_LEN = 24
#: Larger headers exist (newer kernels append sections); anything past this is nonsense.
BTF_MAX_HEADER_LEN = 4096
_BTF_HEADER = {"little": struct.Struct("<HBBIIIII"), "big": struct.Struct(">HBBIIIII")}
_BTF_PREFIX = {"little": b"\x9f\xeb\x01", "big": b"\xeb\x9f\x01"}

#: ELF e_machine -> architecture name (SPEC 5 names), by ELF class and data.
ELF_MACHINES: dict[int, str] = {
    3: "i386",
    20: "ppc",
    21: "ppc64",
    22: "s390x",
    40: "armhf",
    62: "x86_64",
    183: "arm64",
    243: "riscv64",
    258: "loongarch64",
}
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
#: Nested containers (deb -> image -> payload -> ...) deeper than this are refused.
_MAX_DEPTH = 4
#: Compressed-stream candidates tried per scanned image.
_MAX_STREAM_CANDIDATES = 24
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


def read_btf_bytes(path: str | os.PathLike[str]) -> KernelBlob:
    """Read the kernel input at *path* and return its BTF (see the module doc for the formats).

    Raises :class:`KernelInputError` naming the file (and the offset, where
    parsing failed) when the file cannot be read, is malformed or holds no BTF.
    """
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise KernelInputError(f"cannot read: {exc.strerror or exc}", name) from None
    return btf_from_bytes(data, name)


def btf_from_bytes(data: Buffer, source: str = "<bytes>") -> KernelBlob:
    """Like :func:`read_btf_bytes` for an input already in memory; *source* names it in errors."""
    kind = _kind(data)
    try:
        found = _extract(data, source, 0)
    except _NoBtf as exc:
        raise KernelInputError(exc.message, exc.source) from None
    return KernelBlob(btf=found.btf, release=found.release, arch_hint=found.arch, source=source, kind=kind)


def btf_span(buf: Buffer, pos: int) -> tuple[int, str] | None:
    """Length and byte order of a plausible BTF blob at *pos*, or None.

    Checks the header fields against each other and against the buffer; the
    content is left to the BTF reader.
    """
    for order, prefix in _BTF_PREFIX.items():
        if bytes(buf[pos : pos + 3]) != prefix:
            continue
        if len(buf) - pos < BTF_HEADER_LEN:
            return None
        _, _, _, hdr_len, type_off, type_len, str_off, str_len = _BTF_HEADER[order].unpack_from(buf, pos)
        if not BTF_HEADER_LEN <= hdr_len <= BTF_MAX_HEADER_LEN or hdr_len % 4:
            return None
        end = hdr_len + max(type_off + type_len, str_off + str_len)
        if str_len == 0 or end > len(buf) - pos:
            return None
        return end, order
    return None


def _kind(data: Buffer) -> str:
    if _is_btf(data):
        return "raw-btf"
    head = bytes(data[:8])
    if head.startswith(b"\x7fELF"):
        return "elf"
    if head == b"!<arch>\n":
        return "deb"
    if head[:2] == b"MZ" and head[4:8] == b"zimg":
        return "zboot"
    if bytes(data[0x202:0x206]) == b"HdrS":
        return "bzimage"
    codec = kernel_codecs.codec_at(data)
    return codec.name if codec else "image"


def _is_btf(data: Buffer) -> bool:
    return bytes(data[:2]) in (b"\x9f\xeb", b"\xeb\x9f")


def _extract(data: Buffer, source: str, depth: int) -> _Found:
    if depth > _MAX_DEPTH:
        raise KernelInputError(f"containers nested more than {_MAX_DEPTH} deep", source, 0)
    kind = _kind(data)
    if kind == "raw-btf":
        return _raw_btf(data, source)
    if kind == "elf":
        return _elf(data, source, depth)
    if kind == "deb":
        return _deb(data, source, depth)
    if kind == "zboot":
        return _zboot(data, source, depth)
    if kind == "bzimage":
        return _bzimage(data, source, depth)
    if kind != "image":
        return _payload(data, 0, len(data), kind, source, depth)
    return _scan_image(data, source, depth)


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
    hay = data if isinstance(data, bytes) else bytes(data)
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


# -- ELF ----------------------------------------------------------------------

_SHT_NOBITS = 8
_SHN_XINDEX = 0xFFFF


def _elf(data: Buffer, source: str, depth: int) -> _Found:
    ident = bytes(data[:16])
    if len(ident) < 16 or ident[4] not in (1, 2) or ident[5] not in (1, 2):
        raise KernelInputError("ELF header: bad EI_CLASS/EI_DATA", source, 4)
    is64, end = ident[4] == 2, "<" if ident[5] == 1 else ">"
    hdr = end + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    (_, machine, _, _, _, shoff, _, _, _, _, shentsize, shnum, shstrndx) = _u(hdr, data, 16, source, "ELF header")
    sh = end + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    arch = _elf_arch(machine, is64, ident[5] == 1)
    if shoff == 0:
        return _elf_without_btf(data, source, depth, arch, "no section headers")
    if shentsize < struct.calcsize(sh):
        raise KernelInputError(f"ELF e_shentsize {shentsize} is too small", source, 0x3A if is64 else 0x2E)

    def section(i: int) -> tuple[int, ...]:
        name, stype, _, _, off, size, link = _u(sh, data, shoff + i * shentsize, source, f"ELF section header {i}")[:7]
        return name, stype, off, size, link

    def check_table(count: int) -> None:
        if shoff + count * shentsize > len(data):
            raise KernelInputError(
                f"e_shoff {shoff:#x}: {count} section headers of {shentsize} bytes run past the end "
                f"of the file ({len(data)} bytes)",
                source,
                0x28 if is64 else 0x20,
            )

    check_table(1)
    if shnum == 0 or shstrndx == _SHN_XINDEX:  # extended numbering lives in section 0
        _, _, _, size0, link0 = section(0)
        shnum = shnum or size0
        shstrndx = link0 if shstrndx == _SHN_XINDEX else shstrndx
    check_table(shnum)
    if shstrndx >= shnum:
        raise KernelInputError(
            f"ELF e_shstrndx {shstrndx} out of range ({shnum} sections)", source, 0x3E if is64 else 0x32
        )
    _, _, stroff, strsize, _ = section(shstrndx)
    _check_range(data, stroff, strsize, source, "ELF section name table")
    sections: dict[str, tuple[int, int, int]] = {}
    for i in range(shnum):
        name_off, stype, off, size, _ = section(i)
        if name_off >= strsize:
            raise KernelInputError(f"ELF section {i} name offset {name_off} outside the name table", source, shoff + i * shentsize)
        nul = bytes(data[stroff + name_off : stroff + strsize]).find(b"\x00")
        name = bytes(data[stroff + name_off : stroff + name_off + (nul if nul >= 0 else 0)]).decode("latin-1")
        sections.setdefault(name, (stype, off, size))
    if ".BTF" not in sections:
        return _elf_without_btf(data, source, depth, arch, "no .BTF section", ".debug_info" in sections)
    stype, off, size = sections[".BTF"]
    if stype == _SHT_NOBITS:
        raise KernelInputError(".BTF section has no file data (SHT_NOBITS)", source, shoff)
    _check_range(data, off, size, source, ".BTF section")
    release = None
    if ".rodata" in sections:
        _, ro_off, ro_size = sections[".rodata"]
        if sections[".rodata"][0] != _SHT_NOBITS and ro_off + ro_size <= len(data):
            release = _banner(data, ro_off, ro_off + ro_size)
    return _Found(bytes(data[off : off + size]), release or _banner(data), arch)


def _elf_arch(machine: int, is64: bool, little: bool) -> str | None:
    arch = ELF_MACHINES.get(machine)
    if arch == "ppc64" and little:
        return "ppc64le"
    if arch == "armhf" and not little:
        return "armeb"
    if arch == "s390x" and not is64:
        return "s390"
    return arch


def _elf_without_btf(data: Buffer, source: str, depth: int, arch: str | None, why: str, dwarf: bool = False) -> _Found:
    """An ELF with no .BTF: a boot wrapper may still carry a compressed kernel."""
    try:
        found = _scan_streams(data, source, depth)
    except _NoBtf:
        hint = (
            "; it has DWARF (.debug_info): `pahole --btf_encode_detached=OUT.btf FILE` makes BTF from it"
            if dwarf
            else " (kernel built without CONFIG_DEBUG_INFO_BTF?)"
        )
        raise _NoBtf(f"ELF file has {why}{hint}", source) from None
    found.arch = found.arch or arch
    return found


def _check_range(data: Buffer, off: int, size: int, source: str, what: str) -> None:
    if off < 0 or size < 0 or off + size > len(data):
        raise KernelInputError(f"{what} ({size} bytes) runs past the end of the file ({len(data)} bytes)", source, off)


# -- images ---------------------------------------------------------------------


def _payload(data: Buffer, off: int, size: int, codec: str, source: str, depth: int) -> _Found:
    """Decompress the *codec* stream at data[off:off+size] and extract from what it holds."""
    _check_range(data, off, size, source, f"{codec} payload")
    inner = kernel_codecs.decompress(codec, memoryview(data)[off : off + size], source, off)
    found = _extract(inner, f"{source} ({codec} payload at {off:#x})", depth + 1)
    found.release = found.release or _banner(inner)
    return found


def _bzimage(data: Buffer, source: str, depth: int) -> _Found:
    """x86 boot protocol: setup_sects@0x1f1, payload_offset/length@0x248 (from protocol 2.08)."""
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
    found = _payload(data, start, payload_length, codec.name, source, depth)
    found.arch = found.arch or ("x86_64" if xloadflags & 1 else "i386")
    found.release = found.release or _setup_version(data)
    return found


def _setup_version(data: Buffer) -> str | None:
    """The release from the setup header's kernel_version string (boot protocol 2.00+)."""
    if len(data) < 0x210:
        return None
    (ptr,) = struct.unpack_from("<H", data, 0x20E)
    text = bytes(data[ptr + 0x200 : ptr + 0x200 + 128]).split(b"\x00")[0].split(b" ")[0]
    return text.decode("ascii", "replace") if ptr and text and text[:1].isdigit() else None


def _zboot(data: Buffer, source: str, depth: int) -> _Found:
    """EFI zboot: 'MZ', 'zimg', payload offset and size, then the codec name at 0x18."""
    payload_offset, payload_size = _u("<II", data, 8, source, "zboot header")
    name = bytes(data[0x18:0x38]).split(b"\x00")[0].decode("ascii", "replace")
    codec = {"gzip": "gzip", "zstd": "zstd", "lz4": "lz4", "lzma": "lzma", "xzkern": "xz", "xz": "xz", "bzip2": "bzip2"}
    if name not in codec:
        raise KernelInputError(f"zboot compression {name!r} is not supported", source, 0x18)
    return _payload(data, payload_offset, payload_size, codec[name], source, depth)


def _scan_image(data: Buffer, source: str, depth: int) -> _Found:
    """A raw kernel image: BTF in the clear, else a compressed kernel inside."""
    found = _scan_btf(data)
    if found is not None:
        return found
    return _scan_streams(data, source, depth)


def _scan_btf(data: Buffer) -> _Found | None:
    """The largest plausible BTF blob in a raw image (vmlinux BTF dwarfs any other)."""
    hay = data if isinstance(data, bytes) else bytes(data)
    best: tuple[int, int] | None = None
    for prefix in _BTF_PREFIX.values():
        pos = hay.find(prefix)
        while pos >= 0:
            span = btf_span(hay, pos)
            if span is not None and (best is None or span[0] > best[1]):
                best = (pos, span[0])
            pos = hay.find(prefix, pos + 1)
    if best is None:
        return None
    return _Found(hay[best[0] : best[0] + best[1]], _banner(hay), _image_arch(hay))


def _image_arch(data: bytes) -> str | None:
    """Architecture from a raw boot image header (arm64 'ARM\\x64', riscv 'RSC\\x05' at 0x38)."""
    magic = data[0x38:0x3C]
    return {b"ARM\x64": "arm64", b"RSC\x05": "riscv64"}.get(magic)


def _scan_streams(data: Buffer, source: str, depth: int) -> _Found:
    """Try each embedded compressed stream, in file order, until one holds BTF."""
    candidates = kernel_codecs.find_streams(data, _MAX_STREAM_CANDIDATES)
    inflated = failed = 0
    for pos, codec in candidates:
        try:
            return _payload(data, pos, len(data) - pos, codec.name, source, depth)
        except _NoBtf:
            inflated += 1
        except KernelInputError:
            failed += 1
    raise _NoBtf(
        f"no BTF found: none in the clear, none in the {inflated} compressed stream(s) inside "
        f"({failed} more candidate(s) did not decompress); kernel built without CONFIG_DEBUG_INFO_BTF?",
        source,
    )


# -- Debian packages --------------------------------------------------------------

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60


def _ar_members(data: Buffer, source: str) -> dict[str, tuple[int, int]]:
    """An ar archive's members: name -> (offset of the data, size)."""
    members: dict[str, tuple[int, int]] = {}
    pos = len(_AR_MAGIC)
    while pos < len(data):
        header = bytes(data[pos : pos + _AR_HEADER])
        if len(header) < _AR_HEADER or header[58:60] != b"`\n":
            raise KernelInputError("ar member header is truncated or has a bad terminator", source, pos)
        size_text = header[48:58].strip()
        if not size_text.isdigit():
            raise KernelInputError(f"ar member size {size_text!r} is not a number", source, pos + 48)
        size = int(size_text)
        _check_range(data, pos + _AR_HEADER, size, source, "ar member")
        name = header[:16].decode("latin-1").rstrip(" ").rstrip("/")
        members.setdefault(name, (pos + _AR_HEADER, size))
        pos += _AR_HEADER + size + (size & 1)
    return members


def _tar_member(data: Buffer, source: str, prefix: str, want: Callable[[str], bool]) -> tuple[str, bytes] | None:
    """The first member of the ar member ``PREFIX.tar[.codec]`` whose name *want* accepts."""
    members = _ar_members(data, source)
    name = next((n for n in members if n == prefix + ".tar" or n.startswith(prefix + ".tar.")), None)
    if name is None:
        raise KernelInputError(f"package has no {prefix}.tar member (members: {', '.join(members) or 'none'})", source, 8)
    off, size = members[name]
    suffix = name.removeprefix(prefix + ".tar").lstrip(".")
    codecs = {"gz": "gzip", "xz": "xz", "zst": "zstd", "bz2": "bzip2", "lzma": "lzma"}
    if suffix and suffix not in codecs:
        raise KernelInputError(f"package member {name} has an unknown compression", source, off)
    where = f"{source}:{name}"
    view = memoryview(data)[off : off + size]
    stream = kernel_codecs.chunks(codecs[suffix], view, source, off) if suffix else iter([bytes(view)])
    try:
        with tarfile.open(fileobj=kernel_codecs.ChunkReader(stream), mode="r|") as tar:
            for member in tar:
                if member.isfile() and want(member.name):
                    if member.size > (1 << 30):
                        raise KernelInputError(f"{member.name} is {member.size} bytes", where, member.offset)
                    fh = tar.extractfile(member)
                    if fh is None:
                        raise KernelInputError(f"{member.name} cannot be read", where, member.offset)
                    return member.name, fh.read()
    except (tarfile.TarError, EOFError) as exc:
        raise KernelInputError(f"bad tar stream: {exc}", where, None) from None
    return None


def _control(data: Buffer, source: str) -> dict[str, str]:
    found = _tar_member(data, source, "control", lambda n: n.lstrip("./") == "control")
    if found is None:
        raise KernelInputError("package control.tar has no control file", source, None)
    fields: dict[str, str] = {}
    for line in found[1].decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and not line[:1].isspace():
            fields[key.strip()] = value.strip()
    return fields


def _deb(data: Buffer, source: str, depth: int) -> _Found:
    control = _control(data, source)
    package = control.get("Package", "")
    found = _tar_member(data, source, "data", lambda n: _DEB_IMAGE.match(n) is not None)
    if found is None:
        raise _NoBtf(
            f"package {package or '?'} has no kernel image (boot/vmlinu[xz]-*, usr/lib/modules/*/vmlinu[xz]*)", source
        )
    member, image = found
    result = _extract(image, f"{source}:{member.lstrip('./')}", depth + 1)
    m = _DEB_IMAGE.match(member)
    path_release = next((v for v in m.groupdict().values() if v), None) if m else None
    name_match = _DEB_NAME.match(package)
    result.release = result.release or path_release or (name_match.group("release") if name_match else None)
    arch = control.get("Architecture")
    result.arch = DEB_ARCHES.get(arch or "", arch) or result.arch
    return result
