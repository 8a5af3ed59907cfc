"""Write the fuzzers' seed corpus (tests/corpus/TARGET/): ``python tests/make_corpus.py``.

Small inputs made by code: a few BTF blobs (one struct, the netmem closure of a synthetic
kernel), kernel containers around them (ELF, bzImage, zboot, gzip image, .deb), and a snapshot.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import test_kernel_inputs as k

from netmem_ffi.abicheck import snapshot
from netmem_ffi.layout import engine
from netmem_ffi.layout.btf import writer


def seeds() -> dict[str, dict[str, bytes]]:
    small = k.make_btf()
    kernel = writer.synthesize(engine.layout_set("v6.12", "x86_64"))
    return {
        "btf": {"int": small, "netmem-v6.12": kernel, "big-endian": k.make_btf("big", 8)},
        "inputs": {
            "elf": k.make_elf(small),
            "bzimage-gzip": k.make_bzimage(k.make_elf(small), "gzip"),
            "zboot": k.make_zboot(k.make_raw_image(small), "gzip"),
            "image-xz": k.COMPRESSORS["xz"](k.make_raw_image(small)),
            "lz4-legacy": k.COMPRESSORS["lz4"](k.make_raw_image(small)),
            "deb": k.make_deb(k.make_bzimage(k.make_elf(small), "gzip"), data_codec="gzip"),
        },
        "snapshot": {"v6.12-x86_64.json": snapshot.take(["v6.12"], ["x86_64"]).dumps().encode()},
    }


def main() -> None:
    for target, files in seeds().items():
        out = HERE / "corpus" / target
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / name).write_bytes(data)


if __name__ == "__main__":
    main()
