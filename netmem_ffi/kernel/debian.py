"""Debian kernel packages through apt, with a private apt state (tests and the maintainer script).

Debian's archive is reached only through apt.  :class:`Apt` keeps its own
sources list, package lists and download cache under
``$NETMEM_FFI_CACHE/debian`` (default ``~/.cache/netmem_ffi/debian``) and never
touches the host's apt state: the archive address is read at run time from the
host's own apt sources (:func:`archive_uri`), so no host name is written into
the package.  Other architectures' lists are fetched with
``APT::Architecture``.  Downloads are checked against the SHA256 of the
archive's index and reused from the cache.

Example::

    apt = Apt("amd64")
    apt.update()
    deb = apt.download("linux-binary-unsigned-7.2.13+deb14-cloud-amd64")
    print(deb.path, deb.version, deb.sha256)
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from netmem_ffi.errors import ArchiveError
from netmem_ffi.kernel.archive import MemberStream, open_member
from netmem_ffi.kernel.inputs import DEB_ARCHES, KernelBlob, read_btf_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from netmem_ffi.abi.record import dataclass

__all__ = [
    "Apt",
    "DebFile",
    "MemberStream",
    "archive_uri",
    "cache_dir",
    "cache_root",
    "dwarf_btf",
    "kernel_btf",
    "open_member",
    "sha256",
]

#: Suites searched for kernels, oldest first.
SUITES = ("bookworm", "bookworm-backports", "trixie", "trixie-backports", "sid")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SOURCES_DIR = "/etc/apt/sources.list.d"
SOURCES_LIST = "/etc/apt/sources.list"
#: Package lists younger than this are not fetched again.
LISTS_MAX_AGE = 6 * 3600
#: Seconds one apt command may take before it is abandoned.
APT_TIMEOUT = 900
#: apt-get update is tried this often, waiting UPDATE_RETRY_DELAY x attempt seconds between.
UPDATE_ATTEMPTS = 3
UPDATE_RETRY_DELAY = 10


def cache_root() -> Path:
    """The package's download cache: ``$NETMEM_FFI_CACHE`` or ``~/.cache/netmem_ffi``."""
    env = os.environ.get("NETMEM_FFI_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "netmem_ffi"


def cache_dir() -> Path:
    """Where Debian packages and the private apt state live."""
    return cache_root() / "debian"


def archive_uri(sources_dir: str = SOURCES_DIR, sources_list: str = SOURCES_LIST) -> str:
    """The Debian archive URI the host's apt uses (not its security archive).

    Reads deb822 ``*.sources`` files, then one-line ``sources.list`` entries;
    raises :class:`ArchiveError` when none names a Debian archive.
    """
    candidates: list[str] = []
    for path in sorted(Path(sources_dir).glob("*.sources")) if Path(sources_dir).is_dir() else []:
        for stanza in path.read_text(encoding="utf-8", errors="replace").split("\n\n"):
            fields = _deb822(stanza)
            if "deb" in fields.get("Types", "").split():
                candidates += fields.get("URIs", "").split()
    if Path(sources_list).is_file():
        for line in Path(sources_list).read_text(encoding="utf-8", errors="replace").splitlines():
            m = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s", line)
            if m:
                candidates.append(m.group(1))
    for uri in candidates:
        if re.search(r"/debian/?$", uri):
            return uri.rstrip("/")
    raise ArchiveError(f"no Debian archive in {sources_dir}/*.sources or {sources_list}")


def _deb822(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[:1].isspace() and key:
            fields[key] += " " + line.strip()
            continue
        key, _, value = line.partition(":")
        key = key.strip()
        fields[key] = value.strip()
    return fields


@dataclass(frozen=True)
class DebFile:
    """A downloaded package: where it is and what it is."""

    path: Path
    package: str
    version: str
    arch: str
    sha256: str


class Apt:
    """apt with a private state for one architecture (lists, cache and sources of its own)."""

    def __init__(self, arch: str = "amd64", suites: Sequence[str] = SUITES, root: Path | None = None) -> None:
        self.arch = arch
        self.suites = tuple(suites)
        self.root = (root or cache_dir()) / "apt" / arch
        self.debs = (root or cache_dir()) / "pool"
        for sub in ("lists/partial", "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.debs.mkdir(parents=True, exist_ok=True)
        #: Why the last apt-get update failed, when it did (the lists it fetched are still used).
        self.update_error: str | None = None

    def _sources(self) -> Path:
        uri = archive_uri()
        lines = [f"deb [signed-by={KEYRING}] {uri} {suite} main" for suite in self.suites]
        path = self.root / "sources.list"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def options(self) -> list[str]:
        """The ``-o`` options that point apt at this private state."""
        options = [
            f"-oDir::Etc::SourceList={self._sources()}",
            "-oDir::Etc::SourceParts=/dev/null",
            f"-oDir::State::Lists={self.root / 'lists'}",
            f"-oDir::Cache={self.root / 'cache'}",
            f"-oAPT::Architecture={self.arch}",
            f"-oAPT::Architectures={self.arch}",
        ]
        if os.geteuid() == 0:  # the _apt sandbox user cannot write into a private cache
            options.append("-oAPT::Sandbox::User=root")
        return options

    def _run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        exe = shutil.which(tool)
        if exe is None:
            raise ArchiveError(f"{tool} is not installed: Debian packages are fetched through apt")
        return _call([exe, "-q", *self.options(), *args], APT_TIMEOUT, cwd, f"{tool} {' '.join(args)}")

    def update(self, max_age: float = LISTS_MAX_AGE) -> None:
        """Fetch the package lists, unless those on disk are younger than *max_age* seconds."""
        lists = [list((self.root / "lists").glob(f"*_dists_{suite}_main_*Packages*")) for suite in self.suites]
        if all(lists) and time.time() - min(p.stat().st_mtime for found in lists for p in found) < max_age:
            return
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                self._run("apt-get", "update")
                self.update_error = None
                return
            except ArchiveError as exc:  # a mirror caught mid-sync serves lists of the wrong size
                self.update_error = str(exc)
                if attempt < UPDATE_ATTEMPTS - 1:
                    time.sleep(UPDATE_RETRY_DELAY * (attempt + 1))
        # apt keeps the lists it did fetch: go on with those, and say so if a package is then missing.
        if not any((self.root / "lists").glob("*_Packages*")):
            raise ArchiveError(self.update_error or "apt-get update fetched no package list")

    def search(self, pattern: str) -> list[str]:
        """Package names matching the regular expression *pattern*."""
        out = self._run("apt-cache", "search", "--names-only", pattern)
        return sorted({line.split(" ", 1)[0] for line in out.splitlines() if line.strip()})

    def show(self, package: str, version: str | None = None) -> dict[str, str]:
        """The index record of *package* (its newest version, or *version*)."""
        spec = f"{package}={version}" if version else package
        incomplete = f" (apt-get update was incomplete: {self.update_error})" if self.update_error else ""
        try:
            found = self._run("apt-cache", "show", spec)
        except ArchiveError as exc:
            raise ArchiveError(f"{exc}{incomplete}") from None
        stanzas = [_deb822(s) for s in found.split("\n\n") if s.strip()]
        if not stanzas:
            raise ArchiveError(f"{spec} is not in the archive's index{incomplete}")
        return max(stanzas, key=lambda f: _version_key(f.get("Version", "")))

    def newest(self, pattern: str) -> str:
        """The name of the package matching *pattern* with the highest version in its name."""
        names = self.search(pattern)
        if not names:
            incomplete = f" (apt-get update was incomplete: {self.update_error})" if self.update_error else ""
            raise ArchiveError(f"no package matches {pattern!r} for {self.arch}{incomplete}")
        return max(names, key=_version_key)

    def download(self, package: str, version: str | None = None) -> DebFile:
        """Download *package* (=version) into the cache, or reuse the cached copy; verify its SHA256."""
        record = self.show(package, version)
        version = record["Version"]
        expected = record.get("SHA256", "")
        path = self.debs / Path(record["Filename"]).name
        if not (path.is_file() and sha256(path) == expected):
            self._run("apt-get", "download", f"{package}={version}", cwd=self.debs)
            if not path.is_file():
                raise ArchiveError(f"apt-get download {package}={version} left no {path.name}")
        digest = sha256(path)
        if expected and digest != expected:
            path.unlink()
            raise ArchiveError(f"{path.name}: sha256 {digest} differs from the index's {expected}")
        return DebFile(path, package, version, record.get("Architecture", self.arch), digest)


def sha256(path: Path) -> str:
    """Hex SHA256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _version_key(text: str) -> tuple[int, ...]:
    """Numbers in a name or version, for ordering kernels (6.12.9 < 6.12.10)."""
    return tuple(int(n) for n in re.findall(r"\d+", text))


#: Where -dbg packages keep the vmlinux with DWARF: boot/vmlinux-REL, or (newer packages)
#: lib/modules/REL/vmlinux with boot/vmlinux-REL a symlink to it.
_DBG_VMLINUX = "./usr/lib/debug/*vmlinux*"
#: Seconds pahole may take to encode a whole kernel's DWARF as BTF.
PAHOLE_TIMEOUT = 1800


def dwarf_btf(deb: Path) -> KernelBlob:
    """BTF encoded by ``pahole --btf_encode_detached`` from the vmlinux DWARF of a ``-dbg`` package.

    For kernels whose images carry no BTF (Debian's armhf).  Single-threaded on
    purpose: ``pahole -j`` orders types differently from run to run.  Needs
    ``dpkg-deb``, ``tar`` and ``pahole`` (package dwarves); raises
    :class:`ArchiveError` otherwise.
    """
    tools = {t: shutil.which(t) for t in ("dpkg-deb", "tar", "pahole")}
    missing = [t for t, exe in tools.items() if exe is None]
    if missing:
        raise ArchiveError(f"making BTF from DWARF needs {', '.join(missing)} (apt packages dpkg, tar, dwarves)")
    with tempfile.TemporaryDirectory(prefix="netmem-dwarf-") as tmp:
        unpack = f'"{tools["dpkg-deb"]}" --fsys-tarfile "$1" | "{tools["tar"]}" -x -C "$2" --wildcards "$3"'
        _call(["sh", "-c", unpack, "sh", str(deb), tmp, _DBG_VMLINUX], APT_TIMEOUT)
        found = [p for p in Path(tmp).rglob("*vmlinux*") if p.is_file() and not p.is_symlink()]
        if not found:
            raise ArchiveError(f"{deb.name} has no {_DBG_VMLINUX}")
        vmlinux = max(found, key=lambda p: p.stat().st_size)
        out = Path(tmp) / "vmlinux.btf"
        _call([str(tools["pahole"]), f"--btf_encode_detached={out}", str(vmlinux)], PAHOLE_TIMEOUT)
        btf = read_btf_bytes(out).btf
    arch = deb.name.rsplit("_", 1)[-1].removesuffix(".deb")
    release = vmlinux.parent.name if vmlinux.name == "vmlinux" else vmlinux.name.removeprefix("vmlinux-")
    return KernelBlob(btf, release, DEB_ARCHES.get(arch, arch), str(deb), "dwarf")


def kernel_btf(deb: Path, method: str) -> KernelBlob:
    """The full kernel BTF of a package: from its image (``btf``) or its DWARF (``dwarf``).

    Raises :class:`ArchiveError` for another *method*, :class:`KernelInputError` for a bad package.
    """
    if method == "btf":
        return read_btf_bytes(deb)
    if method == "dwarf":
        return dwarf_btf(deb)
    raise ArchiveError(f"unknown method {method!r}: 'btf' or 'dwarf'")


def _call(cmd: list[str], timeout: float, cwd: Path | None = None, what: str | None = None) -> str:
    """Run *cmd*; its stdout, or :class:`ArchiveError` with the last line of its stderr."""
    what = what or " ".join(cmd[:2])
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ArchiveError(f"{what} took longer than {timeout} s") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ArchiveError(f"{what} failed: {tail}")
    return done.stdout
