"""Kernel inputs (SPEC 6): every container read_btf_bytes accepts, built here around a BTF blob,
and malformed versions of each, which must raise KernelInputError naming the file and offset."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netmem_ffi.kernel import codecs as kernel_codecs
from netmem_ffi.errors import KernelInputError
from netmem_ffi.kernel.inputs import KernelBlob, btf_from_bytes, btf_span, read_btf_bytes

RELEASE = "7.2.13+deb14-cloud-amd64"
BANNER = f"Linux version {RELEASE} (kbuild@localhost) (gcc 14) #1 SMP\n".encode()


# -- builders -------------------------------------------------------------------


def make_btf(order: str = "little", pad_header: int = 0) -> bytes:
    """A minimal valid BTF blob: one ``int`` type; *pad_header* extra header bytes (newer kernels)."""
    e = "<" if order == "little" else ">"
    strings = b"\x00int\x00"
    types = struct.pack(e + "IIII", 1, 1 << 24, 4, 32)  # name "int", kind INT, size 4, 32 bits
    hdr_len = 24 + pad_header
    header = struct.pack(e + "HBBIIIII", 0xEB9F, 1, 0, hdr_len, 0, len(types), len(types), len(strings))
    return header + b"\x00" * pad_header + types + strings


def make_elf(
    btf: bytes | None,
    *,
    machine: int = 62,
    is64: bool = True,
    little: bool = True,
    nobits: bool = False,
    extra: tuple[tuple[str, bytes], ...] = (),
) -> bytes:
    """An ELF file with sections: null, .rodata (banner), [.BTF], *extra*, .shstrtab."""
    e = "<" if little else ">"
    sections = [(".rodata", BANNER)] + ([(".BTF", btf)] if btf is not None else []) + list(extra)
    names = b"\x00" + b"".join(n.encode() + b"\x00" for n, _ in sections) + b".shstrtab\x00"
    ehsize, shentsize = (64, 64) if is64 else (52, 40)
    body = bytearray()
    placed = []
    name_off = 1
    for name, data in sections + [(".shstrtab", names)]:
        placed.append((name_off if name != ".shstrtab" else len(names) - 10, ehsize + len(body), len(data), name))
        name_off += len(name) + 1
        body += data
    shoff = ehsize + len(body)
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if little else 2, 1]) + b"\x00" * 9
    fmt = e + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    header = ident + struct.pack(fmt, 2, machine, 1, 0, 0, shoff, 0, ehsize, 0, 0, shentsize, len(placed) + 1, len(placed))
    sh = e + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    table = struct.pack(sh, *([0] * 10))
    for name_off, off, size, name in placed:
        stype = 8 if (nobits and name == ".BTF") else (3 if name == ".shstrtab" else 1)
        table += struct.pack(sh, name_off, stype, 2, 0, off, size, 0, 0, 1, 0)
    return header + bytes(body) + table


def lz4_legacy(data: bytes) -> bytes:
    import lz4.block

    out = struct.pack("<I", 0x184C2102)
    for i in range(0, len(data), 8 << 20):
        block = lz4.block.compress(data[i : i + (8 << 20)], store_size=False)
        out += struct.pack("<I", len(block)) + block
    return out


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def _lz4_frame(data: bytes) -> bytes:
    import lz4.frame

    return lz4.frame.compress(data)


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda d: gzip.compress(d, mtime=0),
    "zstd": _zstd,
    "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32),
    "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    "bzip2": bz2.compress,
    "lz4": lz4_legacy,
    "lz4-frame": _lz4_frame,
}


def make_bzimage(kernel: bytes, codec: str = "zstd", setup_sects: int = 4, version: int = 0x020F) -> bytes:
    """An x86 bzImage: boot sector + setup header, setup code, then the compressed payload + size trailer."""
    payload = COMPRESSORS[codec](kernel)
    setup = bytearray((setup_sects + 1) * 512)
    struct.pack_into("<B", setup, 0x1F1, setup_sects)
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    struct.pack_into("<H", setup, 0x20E, 0x300)  # kernel_version string at 0x300 + 0x200
    version_string = BANNER[len("Linux version ") :]
    setup[0x500 : 0x500 + len(version_string)] = version_string
    struct.pack_into("<H", setup, 0x236, 1)  # XLF_KERNEL_64
    head = b"\x90" * 0x40  # stands for the decompressor code
    struct.pack_into("<II", setup, 0x248, len(head), len(payload))
    return bytes(setup) + head + payload + struct.pack("<I", len(kernel)) + b"\x00" * 16


def make_zboot(kernel: bytes, codec: str = "gzip", name: str | None = None) -> bytes:
    """An EFI zboot image: 'MZ', 'zimg', payload offset and size, the codec name, then the payload."""
    payload = COMPRESSORS[codec](kernel)
    header = bytearray(0x200)
    header[0:2] = b"MZ"
    header[4:8] = b"zimg"
    struct.pack_into("<II", header, 8, len(header), len(payload))
    comp = (name or {"xz": "xzkern"}.get(codec, codec)).encode()
    header[0x18 : 0x18 + len(comp)] = comp
    return bytes(header) + payload + b"\x00" * 64


def make_raw_image(btf: bytes, arch_magic: bytes = b"ARM\x64") -> bytes:
    """A raw boot image (like arm64's Image): code, the banner, BTF in the clear."""
    head = bytearray(0x40)
    head[0x38:0x3C] = arch_magic
    return bytes(head) + b"\x00" * 1000 + BANNER + b"\x00" * 3 + btf + b"\x00" * 500


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_ar(members: list[tuple[str, bytes]]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}".encode() + b"`\n" + data
        out += b"\n" if len(data) % 2 else b""
    return out


def make_deb(
    image: bytes,
    path: str = f"./boot/vmlinuz-{RELEASE}",
    package: str = f"linux-image-{RELEASE}-unsigned",
    arch: str = "amd64",
    data_codec: str = "xz",
) -> bytes:
    control = f"Package: {package}\nVersion: 7.2.13-1\nArchitecture: {arch}\nDescription: Linux\n".encode()
    suffix = {"xz": ".xz", "zstd": ".zst", "gzip": ".gz", "bzip2": ".bz2", "none": ""}[data_codec]
    data_tar = _tar({"./usr/share/doc/x/copyright": b"GPL-2\n", path: image})
    packed = data_tar if data_codec == "none" else COMPRESSORS[data_codec](data_tar)
    return make_ar(
        [
            ("debian-binary", b"2.0\n"),
            ("control.tar.xz", COMPRESSORS["xz"](_tar({"./control": control}))),
            (f"data.tar{suffix}", packed),
        ]
    )


# -- well-formed inputs ----------------------------------------------------------


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, bytes], Path]:
    def _write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write


@pytest.mark.parametrize("order", ["little", "big"])
@pytest.mark.parametrize("pad", [0, 8])
def test_raw_btf_either_byte_order_and_long_headers(write: Callable[[str, bytes], Path], order: str, pad: int) -> None:
    btf = make_btf(order, pad)
    blob = read_btf_bytes(write("vmlinux.btf", btf))
    assert (blob.kind, blob.btf, blob.release) == ("raw-btf", btf, None)
    assert btf_span(btf, 0) == (len(btf), order)


@pytest.mark.parametrize(
    ("machine", "is64", "little", "arch"),
    [
        (62, True, True, "x86_64"),
        (3, False, True, "i386"),
        (183, True, True, "arm64"),
        (40, False, True, "armhf"),
        (22, True, False, "s390x"),
        (21, True, True, "ppc64le"),
        (21, True, False, "ppc64"),
        (243, True, True, "riscv64"),
    ],
)
def test_elf_vmlinux(write: Callable[[str, bytes], Path], machine: int, is64: bool, little: bool, arch: str) -> None:
    btf = make_btf("little" if little else "big")
    blob = read_btf_bytes(write("vmlinux", make_elf(btf, machine=machine, is64=is64, little=little)))
    assert blob == KernelBlob(btf, RELEASE, arch, blob.source, "elf")


@pytest.mark.parametrize("codec", sorted(COMPRESSORS))
def test_bzimage_every_payload_codec(write: Callable[[str, bytes], Path], codec: str) -> None:
    btf = make_btf()
    blob = read_btf_bytes(write("vmlinuz", make_bzimage(make_elf(btf), codec)))
    assert (blob.kind, blob.btf, blob.release, blob.arch_hint) == ("bzimage", btf, RELEASE, "x86_64")


def test_bzimage_release_from_setup_header_when_payload_has_no_banner() -> None:
    btf = make_btf()
    blob = btf_from_bytes(make_bzimage(btf, "gzip"), "vmlinuz")
    assert blob.release == RELEASE


@pytest.mark.parametrize("codec", ["gzip", "zstd", "xz", "lz4", "lzma"])
def test_zboot(codec: str) -> None:
    btf = make_btf()
    blob = btf_from_bytes(make_zboot(make_raw_image(btf), codec), "vmlinuz.efi")
    assert (blob.kind, blob.btf, blob.release, blob.arch_hint) == ("zboot", btf, RELEASE, "arm64")


@pytest.mark.parametrize("codec", ["gzip", "zstd", "xz", "bzip2"])
def test_compressed_raw_image(codec: str) -> None:
    """arm64/riscv64 ship Image.gz and friends: the whole file is one compressed raw image."""
    btf = make_btf()
    blob = btf_from_bytes(COMPRESSORS[codec](make_raw_image(btf, b"RSC\x05")), "Image.gz")
    assert (blob.kind, blob.btf, blob.release, blob.arch_hint) == (codec, btf, RELEASE, "riscv64")


def test_image_with_embedded_compressed_kernel_found_by_scanning() -> None:
    """s390x-style: a decompressor stub whose payload position no header tells."""
    btf = make_btf("big")
    stub = b"\x07\x07" * 700 + b"\x1f\x8b\x08\xff not gzip " + b"\x00" * 37
    image = stub + COMPRESSORS["gzip"](make_elf(btf, machine=22, little=False)) + b"\x00" * 99
    blob = btf_from_bytes(image, "vmlinuz")
    assert (blob.kind, blob.btf, blob.arch_hint, blob.release) == ("image", btf, "s390x", RELEASE)


def test_largest_btf_wins_in_a_raw_image() -> None:
    small, big = make_btf(), make_btf(pad_header=64)
    blob = btf_from_bytes(b"\x00" * 64 + small + b"\x00" * 8 + big, "Image")
    assert blob.btf == big


@pytest.mark.parametrize("data_codec", ["xz", "zstd", "gzip", "bzip2", "none"])
def test_deb_with_boot_vmlinuz(data_codec: str) -> None:
    btf = make_btf()
    deb = make_deb(make_bzimage(make_elf(btf)), data_codec=data_codec)
    blob = btf_from_bytes(deb, "linux-image.deb")
    assert (blob.kind, blob.btf, blob.release, blob.arch_hint) == ("deb", btf, RELEASE, "x86_64")


def test_deb_with_modules_dir_image_and_release_from_path() -> None:
    """Newer packages (linux-binary-*) keep the image in usr/lib/modules/<release>/."""
    btf = make_btf("big")
    image = COMPRESSORS["gzip"](make_raw_image(btf, b"\x00" * 4).replace(BANNER, b"x" * len(BANNER)))
    deb = make_deb(image, path="./usr/lib/modules/7.2.13+deb14-s390x/vmlinuz", package="linux-binary-x", arch="s390x")
    blob = btf_from_bytes(deb, "linux-binary.deb")
    assert (blob.btf, blob.release, blob.arch_hint) == (btf, "7.2.13+deb14-s390x", "s390x")


@pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"), reason="running kernel has no /sys/kernel/btf/vmlinux")
def test_running_kernel_btf() -> None:
    blob = read_btf_bytes("/sys/kernel/btf/vmlinux")
    assert blob.kind == "raw-btf"
    assert btf_span(blob.btf, 0) is not None
    assert btf_span(blob.btf, 0)[0] == len(blob.btf)  # type: ignore[index]


# -- malformed inputs --------------------------------------------------------------


def _elf_patch(fmt: str, pos: int, value: int) -> Callable[[bytes], bytes]:
    def patch(data: bytes) -> bytes:
        out = bytearray(data)
        struct.pack_into(fmt, out, pos, value)
        return bytes(out)

    return patch


GOOD_ELF = make_elf(make_btf())


def _elf_btf_past_end() -> bytes:
    data = bytearray(GOOD_ELF)
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    struct.pack_into("<Q", data, shoff + 2 * 64 + 32, 1 << 20)  # .BTF is section 2; sh_size at +32
    return bytes(data)

GOOD_BZ = make_bzimage(make_elf(make_btf()), "zstd")
GOOD_ZBOOT = make_zboot(make_raw_image(make_btf()), "gzip")

#: name -> (bytes, message fragment, whether an offset must be named)
MALFORMED: dict[str, tuple[bytes, str, bool]] = {
    "btf-short": (make_btf()[:20], "BTF header needs", True),
    "elf-short": (GOOD_ELF[:40], "ELF header", True),
    "elf-class": (GOOD_ELF[:4] + b"\x07" + GOOD_ELF[5:], "EI_CLASS", True),
    "elf-shoff-past-end": (_elf_patch("<Q", 0x28, 1 << 40)(GOOD_ELF), "section header", True),
    "elf-shentsize": (_elf_patch("<H", 0x3A, 8)(GOOD_ELF), "e_shentsize", True),
    "elf-shstrndx": (_elf_patch("<H", 0x3E, 99)(GOOD_ELF), "e_shstrndx", True),
    "elf-btf-past-end": (_elf_btf_past_end(), ".BTF section", True),
    "elf-nobits": (make_elf(make_btf(), nobits=True), "SHT_NOBITS", True),
    "elf-btf-empty": (make_elf(b""), ".BTF section (0 bytes) does not start with a BTF header", True),  # atheris
    "elf-btf-short": (make_elf(make_btf()[:20]), "does not start with a BTF header", True),
    "elf-no-btf": (make_elf(None), "no .BTF section", False),
    "elf-dwarf-only": (make_elf(None, extra=((".debug_info", b"\x00" * 16),)), "pahole --btf_encode_detached", False),
    "bz-truncated": (GOOD_BZ[:-50], "bzImage payload (", True),
    "bz-cut-in-setup": (GOOD_BZ[:0x300], "runs past the end", True),
    "bz-cut-in-header": (GOOD_BZ[:0x240], "bzImage setup header", True),
    "bz-protocol": (_elf_patch("<H", 0x206, 0x0204)(GOOD_BZ), "boot protocol", True),
    "bz-no-magic": (_elf_patch("<I", 0x248, 0x10)(GOOD_BZ), "no known compression magic", True),
    # the zstd frame header, right after the magic at the payload start ((4 + 1) * 512 + 0x40)
    "bz-corrupt": (GOOD_BZ[:0xA44] + b"\xff" * 12 + GOOD_BZ[0xA50:], "corrupt zstd stream", True),
    "bz-payload-cut": (_elf_patch("<I", 0x24C, 200)(GOOD_BZ), "zstd stream is truncated", True),
    "zboot-codec": (GOOD_ZBOOT[:0x18] + b"brotli\x00\x00" + GOOD_ZBOOT[0x20:], "'brotli' is not supported", True),
    "zboot-size": (_elf_patch("<I", 12, 1 << 30)(GOOD_ZBOOT), "runs past the end", True),
    "gzip-truncated": (COMPRESSORS["gzip"](make_raw_image(make_btf()))[:-40], "gzip stream is truncated", True),
    "xz-corrupt": (COMPRESSORS["xz"](make_raw_image(make_btf()))[:40] + b"\x00" * 200, "xz stream", True),
    "image-no-btf": (b"\x00" * 4096, "no BTF found", False),
}


def _deb_cases() -> dict[str, tuple[bytes, str, bool]]:
    good = make_deb(make_bzimage(make_elf(make_btf())))
    ar_members_start = 8
    return {
        "deb-short-header": (good[:30], "ar member header", True),
        "deb-bad-size": (good[: ar_members_start + 48] + b"12x4      " + good[ar_members_start + 58 :], "not a number", True),
        "deb-member-past-end": (good[:-100], "runs past the end", True),
        "deb-no-data": (make_ar([("debian-binary", b"2.0\n"), ("control.tar.xz", COMPRESSORS["xz"](_tar({"./control": b"Package: p\n"})))]), "no data.tar member", True),
        "deb-unknown-codec": (good.replace(b"data.tar.xz ", b"data.tar.br "), "unknown compression", True),
        "deb-no-image": (make_deb(b"x", path="./etc/motd"), "has no kernel image", False),
        "deb-no-control": (make_ar([("debian-binary", b"2.0\n"), ("control.tar", _tar({"./md5sums": b""}))]), "no control file", False),
    }


MALFORMED.update(_deb_cases())


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_names_file_and_offset(write: Callable[[str, bytes], Path], case: str) -> None:
    data, fragment, has_offset = MALFORMED[case]
    path = write(f"{case}.bin", data)
    with pytest.raises(KernelInputError) as info:
        read_btf_bytes(path)
    err = info.value
    assert fragment in str(err)
    assert str(path) in str(err)
    if has_offset:
        assert err.offset is not None and err.offset >= 0
        assert f"at offset {err.offset:#x}" in str(err)


def test_missing_file_is_a_kernel_input_error(tmp_path: Path) -> None:
    with pytest.raises(KernelInputError, match="cannot read"):
        read_btf_bytes(tmp_path / "absent")


def test_directory_is_a_kernel_input_error(tmp_path: Path) -> None:
    with pytest.raises(KernelInputError, match=str(tmp_path)):
        read_btf_bytes(tmp_path)


def test_decompression_is_bounded() -> None:
    bomb = COMPRESSORS["zstd"](b"\x00" * (8 << 20))
    with pytest.raises(KernelInputError, match="inflates past"):
        kernel_codecs.decompress("zstd", bomb, "bomb", 0, limit=1 << 20)


@pytest.mark.parametrize("codec", sorted(COMPRESSORS))
def test_codecs_round_trip(codec: str) -> None:
    data = os.urandom(3000) * 50
    assert kernel_codecs.decompress(codec, COMPRESSORS[codec](data), "x") == data


def test_nesting_is_bounded() -> None:
    data = make_raw_image(make_btf())
    for _ in range(8):
        data = COMPRESSORS["gzip"](data)
    with pytest.raises(KernelInputError, match="nested more than"):
        btf_from_bytes(data, "onion")


SAMPLES = {
    "elf": GOOD_ELF,
    "bzimage": GOOD_BZ,
    "zboot": GOOD_ZBOOT,
    "deb": make_deb(make_bzimage(make_elf(make_btf()), "gzip"), data_codec="gzip"),
    "image-gz": COMPRESSORS["gzip"](make_raw_image(make_btf())),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=st.sampled_from(sorted(SAMPLES)),
    cut=st.integers(min_value=0, max_value=1 << 16),
    flips=st.lists(st.tuples(st.integers(min_value=0, max_value=1 << 16), st.integers(0, 255)), max_size=4),
)
def test_mutations_raise_only_kernel_input_errors(sample: str, cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(SAMPLES[sample])
    for pos, value in flips:
        data[pos % len(data)] = value
    data = data[: len(data) - cut % len(data)] if cut % 3 == 0 else data
    try:
        blob = btf_from_bytes(bytes(data), sample)
    except KernelInputError as exc:
        assert str(exc).startswith(sample)
    else:
        assert isinstance(blob.btf, bytes) and len(blob.btf) >= 24


def test_elf_boot_wrapper_on_disk_is_scanned(write: Callable[[str, bytes], Path]) -> None:
    """An ELF without .BTF read from a file (pread path): a compressed kernel inside it is still found."""
    inner = COMPRESSORS["gzip"](make_raw_image(make_btf(), b"RSC\x05"))
    blob = read_btf_bytes(write("zImage", make_elf(None, machine=243, extra=((".payload", inner),))))
    assert (blob.kind, blob.btf, blob.arch_hint) == ("elf", make_btf(), "riscv64")
