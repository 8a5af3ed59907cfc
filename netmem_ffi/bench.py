"""Performance figures (SPEC 8), each a ratio to a baseline measured in the same run.

These machines are noisy, so every figure is the median of several repeats,
with the baseline and the measured operation interleaved repeat by repeat,
and only the ratio is meant to be compared across runs.  Nothing here
asserts a timing; ``netmem-ffi bench`` prints the table and the targets.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from netmem_ffi.runtime.profiles import profile

BTF_PATH = "/sys/kernel/btf/vmlinux"


def _child_env(**extra: str) -> dict[str, str]:
    """The environment of a measured child interpreter: the installed package, never a checkout in the cwd
    (PYTHONSAFEPATH: ``python -c``/``-m`` run from a source tree would import its uncompiled package)."""
    return {**os.environ, "PYTHONSAFEPATH": "1", **extra}


@dataclass
class Figure:
    """One measured figure: the operation, its baseline, the ratio and the target."""

    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    ratio: float
    target: str
    met: bool | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _median_pair(ours: Callable[[], float], base: Callable[[], float], repeats: int) -> tuple[float, float]:
    """Median per-op times of two measurements, interleaved repeat by repeat."""
    a, b = [], []
    for _ in range(repeats):
        a.append(ours())
        b.append(base())
    return statistics.median(a), statistics.median(b)


def _pair(get: Callable[[int], Any], put: Callable[[int], Any], ref: int, n: int) -> Callable[[], float]:
    def run() -> float:
        t = time.perf_counter_ns()
        for _ in range(n):
            get(ref)
            put(ref)
        return (time.perf_counter_ns() - t) / n
    return run


class Bench:
    """The benchmark suite over the default profile; ``quick`` shrinks every size."""

    def __init__(self, quick: bool = False) -> None:
        self.quick = quick
        self.prof = profile("v7.2")
        self.calls = 50_000 if quick else 300_000
        self.repeats = 5 if quick else 9
        self.bulk_refs = 100_000 if quick else 1_000_000

    def names(self) -> list[str]:
        return [name[len("fig_"):] for name in dir(self) if name.startswith("fig_")]

    def run(self, only: list[str] | None = None) -> Iterator[Figure]:
        for name in sorted(self.names()):
            if only and name not in only:
                continue
            yield from getattr(self, "fig_" + name)()

    # ---- 1-3: the per-call path ----
    def _call_figures(self, kind: str, ref: int) -> Iterator[Figure]:
        p = self.prof
        empty = p.lib.nm_empty
        ours, base = _median_pair(_pair(p.get_netmem, p.put_netmem, ref, self.calls),
                                  _pair(empty, empty, ref, self.calls), self.repeats)
        yield Figure(f"get_netmem+put_netmem from Python, {kind} ref", ours, "ns/pair",
                     "two cffi calls of an empty C function", base, ours / base, "<= 1.5x", ours / base <= 1.5)
        cdll = ctypes.CDLL(p.module_file)
        cget, cput = cdll.nm_get_netmem, cdll.nm_put_netmem
        for f in (cget, cput):
            f.argtypes, f.restype = [ctypes.c_ulong], ctypes.c_int
        ct, ours2 = _median_pair(_pair(cget, cput, ref, self.calls // 5),
                                 _pair(p.get_netmem, p.put_netmem, ref, self.calls), self.repeats)
        yield Figure(f"the same C functions through ctypes, {kind} ref", ct, "ns/pair",
                     "netmem_ffi get_netmem+put_netmem", ours2, ct / ours2, ">= 5x slower than ours", ct / ours2 >= 5)

    def fig_1_calls_niov(self) -> Iterator[Figure]:
        with self.prof.NetIovArea(64) as area:
            yield from self._call_figures("niov", area[7].netmem)

    def fig_2_calls_page(self) -> Iterator[Figure]:
        with self.prof.PageMap(64) as pages:
            ref = pages.alloc()
            yield from self._call_figures("page", ref)
            yield self._ctypes_python(pages, ref)
            self.prof.put_netmem(ref)

    def _ctypes_python(self, pages: Any, ref: int) -> Figure:
        """get/put_page written in Python over ctypes structures (what one writes without us)."""
        from netmem_ffi.layout.views import ctypes_struct

        page_t = ctypes_struct(self.prof.layouts, "page")
        base, stride, num = pages.pages, pages.stride, pages.num_pages

        def lookup(r: int) -> Any:
            if r & 1 or not base <= r < base + num * stride or (r - base) % stride:
                raise ValueError(f"bad page ref {r:#x}")
            pg = page_t.from_address(r)
            head = pg.compound_head
            return page_t.from_address(head - 1) if head & 1 else pg

        def get(r: int) -> None:
            pg = lookup(r)
            if pg._refcount <= 0:
                raise ValueError("freed")
            pg._refcount += 1

        def put(r: int) -> None:
            pg = lookup(r)
            if pg._refcount <= 0:
                raise ValueError("freed")
            pg._refcount -= 1

        p = self.prof
        ct, ours = _median_pair(_pair(get, put, ref, self.calls // 10),
                                _pair(p.get_netmem, p.put_netmem, ref, self.calls), self.repeats)
        return Figure("get/put_page written in Python over ctypes structures (non-atomic)", ct, "ns/pair",
                      "netmem_ffi get_netmem+put_netmem", ours, ct / ours, ">= 5x slower than ours", ct / ours >= 5)

    # ---- 4: bulk ----
    def fig_3_bulk(self) -> Iterator[Figure]:
        p, n = self.prof, self.bulk_refs
        with p.NetIovArea(n) as area, p.PageMap(4096) as pages:
            heads = [pages.alloc() for _ in range(4096)]
            try:
                yield from self._bulk_figures(area.refs(), (heads * (n // 4096 + 1))[:n])
            finally:
                p.put_netmem_bulk(heads)

    def _bulk_figures(self, niov_refs: Any, page_refs: list[int]) -> Iterator[Figure]:
        p, n = self.prof, self.bulk_refs
        for kind, refs in (("niov", niov_refs), ("page", page_refs)):
            buf = p.ffi.new("netmem_ref[]", list(refs))

            def ours() -> float:
                t = time.perf_counter_ns()
                p.get_netmem_bulk(buf)
                p.put_netmem_bulk(buf)
                return (time.perf_counter_ns() - t) / n

            def base() -> float:
                t = time.perf_counter_ns()
                p.lib.nm_counter_add_loop(buf, n, 1)
                p.lib.nm_counter_add_loop(buf, n, -1)
                return (time.perf_counter_ns() - t) / n

            o, b = _median_pair(ours, base, self.repeats)
            yield Figure(f"bulk get+put over {n:,} {kind} refs", o, "ns/ref",
                         "plain C loop of atomic increments+decrements of the same counters", b, o / b,
                         "<= 1.5x", o / b <= 1.5)

    # ---- 5: threads ----
    def fig_4_threads(self) -> Iterator[Figure]:
        p = self.prof
        n = self.calls // 2
        with p.NetIovArea(64) as area:
            refs = [area[i].netmem for i in range(8)]
            buf = p.ffi.new("netmem_ref[]", refs * 12_500)

            def per_call(count: int) -> None:
                for i in range(count):
                    r = refs[i & 7]
                    p.get_netmem(r)
                    p.put_netmem(r)

            def bulk(count: int) -> None:
                for _ in range(count // 1000):
                    p.get_netmem_bulk(buf)
                    p.put_netmem_bulk(buf)

            for label, work in (("per-call", per_call), ("bulk", bulk)):
                single = self._wall(work, n * 2, threads=1)
                double = self._wall(work, n, threads=2)
                exact = area.binding_refcount == 1
                yield Figure(f"2 threads, {label} get/put on shared refs", single / double, "x throughput",
                             "1 thread doing the same total work", 1.0, single / double,
                             "report scaling; counts exact", exact,
                             "binding refcount back to 1" if exact else "COUNT MISMATCH")

    @staticmethod
    def _wall(work: Callable[[int], None], count: int, threads: int) -> float:
        ts = [threading.Thread(target=work, args=(count,)) for _ in range(threads)]
        t = time.perf_counter()
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        return time.perf_counter() - t

    # ---- 6: check vs pahole ----
    def fig_5_startup(self) -> Iterator[Figure]:
        """Whole processes as users start them, each against its baseline in the same run (issue 18)."""
        py = [sys.executable]
        first_call = ("import netmem_ffi as nm; a = nm.NetIovArea(1); r = a[0].netmem; "
                      "nm.get_netmem(r); nm.put_netmem(r); a.close()")
        bare = (py + ["-c", "pass"], "python -c pass (same interpreter)")
        runs = [("import netmem_ffi + first get_netmem/put_netmem", py + ["-c", first_call], bare, 2.0),
                ("netmem-ffi layout (the model's structs)", py + ["-m", "netmem_ffi", "layout"], bare, None),
                ("netmem-ffi diff v6.19 v7.2", py + ["-m", "netmem_ffi", "diff", "v6.19", "v7.2"], bare, None)]
        if os.path.exists(BTF_PATH) and shutil.which("pahole"):
            runs.insert(0, ("netmem-ffi check --json of the running kernel",
                            py + ["-m", "netmem_ffi", "check", "--json", BTF_PATH],
                            (["pahole", "-C", "net_iov,netmem_desc,net_iov_area,page", BTF_PATH],
                             "pahole -C net_iov,netmem_desc,net_iov_area,page"), 0.75))
        else:
            yield Figure("check of the running kernel, whole process", float("nan"), "ms", "pahole", float("nan"),
                         float("nan"), "<= 0.75x", None, "skipped: needs /sys/kernel/btf/vmlinux and pahole")

        def timed(cmd: list[str]) -> Callable[[], float]:
            def run() -> float:
                t = time.perf_counter_ns()
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                               env=_child_env())
                return (time.perf_counter_ns() - t) / 1e6
            return run

        for name, cmd, (base_cmd, base_name), limit in runs:
            o, b = _median_pair(timed(cmd), timed(base_cmd), 5 if self.quick else 15)
            target = f"<= {limit}x" if limit else "report"
            yield Figure(f"{name}, whole process", o, "ms", base_name, b, o / b, target,
                         None if limit is None else o / b <= limit)

    # ---- 7: area creation ----
    def fig_6_area(self) -> Iterator[Figure]:
        p = self.prof
        n = self.bulk_refs
        nbytes = n * p.ffi.sizeof("struct net_iov")
        for type_, label in ((0, "NET_IOV_DMABUF"), (1, "NET_IOV_IOURING")):

            def ours() -> float:
                t = time.perf_counter_ns()
                area = p.NetIovArea(n, type_)
                dt = time.perf_counter_ns() - t
                area.close()
                return dt / 1e6

            def base() -> float:
                mem = p.ffi.new("char[]", nbytes)  # fresh, not yet touched
                addr = int(p.ffi.cast("uintptr_t", mem))
                t = time.perf_counter_ns()
                ctypes.memset(addr, 0x5A, nbytes)  # first touch of the same bytes, in C
                dt = time.perf_counter_ns() - t
                del mem
                return dt / 1e6

            o, b = _median_pair(ours, base, self.repeats)
            per_niov = p.ffi.sizeof("struct net_iov") + (4 if type_ else 0)
            measured = _rss_per_niov(n, type_)
            yield Figure(f"create a {n:,}-niov {label} area", o, "ms", "memset of the same number of fresh bytes in C", b,
                         o / b, "report; <= 72 bytes/niov", per_niov <= 72 and measured <= 72,
                         f"{per_niov} bytes/niov allocated, {measured:.1f} bytes/niov RSS growth measured "
                         "in a fresh process")

    # ---- 8: parsing records ----
    def fig_7_parse(self) -> Iterator[Figure]:
        from netmem_ffi.layout.views import construct_struct, parse_array, record_format

        layouts = self.prof.layouts
        count = 10_000 if self.quick else 100_000
        with self.prof.NetIovArea(count) as area:
            raw = bytes(self.prof.ffi.buffer(self.prof.ffi.cast("char *", area.base), count * area.stride))
        fmt = record_format(layouts, "net_iov").struct
        size = fmt.size

        def unpack() -> float:
            t = time.perf_counter_ns()
            for i in range(count):
                fmt.unpack_from(raw, i * size)
            return (time.perf_counter_ns() - t) / count

        def bulk() -> float:
            t = time.perf_counter_ns()
            parse_array(layouts, "net_iov", raw, as_dict=False)
            return (time.perf_counter_ns() - t) / count

        cons = construct_struct(layouts, "net_iov").compile()
        sample = max(1000, count // 20)

        def construct_path() -> float:
            t = time.perf_counter_ns()
            for i in range(sample):
                cons.parse(raw[i * size:(i + 1) * size])
            return (time.perf_counter_ns() - t) / sample

        o, b = _median_pair(bulk, unpack, self.repeats)
        yield Figure(f"parse {count:,} net_iov records, bulk path (struct.iter_unpack)", o, "ns/record",
                     "struct.unpack_from loop over the same bytes", b, o / b, "report", None)
        o, b = _median_pair(construct_path, unpack, 3)
        yield Figure("parse net_iov records, compiled construct view", o, "ns/record",
                     "struct.unpack_from loop over the same bytes", b, o / b, "report", None)

    # ---- 9: derived profiles ----
    def fig_8_derive(self) -> Iterator[Figure]:
        kernel = "reference:amd64-7.3"
        with tempfile.TemporaryDirectory(prefix="netmem-bench-") as tmp:

            def load(derive: bool, fresh: bool) -> Callable[[], float]:
                code = f"import netmem_ffi; netmem_ffi.profile_for_kernel({kernel!r}, derive={derive}).ffi"

                def run() -> float:
                    cache = tempfile.mkdtemp(dir=tmp) if fresh else tmp
                    t = time.perf_counter_ns()
                    subprocess.run([sys.executable, "-c", code], env=_child_env(XDG_CACHE_HOME=cache),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                    return (time.perf_counter_ns() - t) / 1e6
                return run

            try:
                load(True, False)()  # fill the shared cache
            except subprocess.CalledProcessError as exc:  # e.g. no C compiler or Python headers here
                yield Figure(f"profile_for_kernel({kernel}, derive=True)", float("nan"), "ms", "", float("nan"),
                             float("nan"), "report", None, f"skipped: deriving failed (exit {exc.returncode})")
                return
            first, cached = _median_pair(load(True, True), load(True, False), 1 if self.quick else 3)
            _, registry = _median_pair(load(True, False), load(False, False), 3 if self.quick else 7)
        yield Figure(f"profile_for_kernel({kernel}, derive=True): first derivation and compile, whole process",
                     first, "ms", "the same, loaded from the cache", cached, first / cached, "report", None)
        yield Figure("a derived profile loaded from the cache, whole process", cached, "ms",
                     "profile_for_kernel of the same kernel, registry profile", registry, cached / registry,
                     "<= 1.5x", cached / registry <= 1.5)


    # ---- 9: DWARF kernels (a -dbg vmlinux and a -dbg .deb, named by the environment: gigabytes) ----
    def fig_8_dwarf(self) -> Iterator[Figure]:
        fields = "net_iov,netmem_desc,net_iov_area,page"
        vmlinux, deb = os.environ.get("NETMEM_FFI_BENCH_VMLINUX"), os.environ.get("NETMEM_FFI_BENCH_DEB")
        if not (vmlinux or deb) or shutil.which("pahole") is None:
            yield Figure("check of a -dbg vmlinux / -dbg .deb (DWARF)", float("nan"), "s", "pahole -F dwarf",
                         float("nan"), float("nan"), "<= 1.0x / <= 0.25x", None, "skipped: set "
                         "NETMEM_FFI_BENCH_VMLINUX and/or NETMEM_FFI_BENCH_DEB, install pahole")
            return
        check = [sys.executable, "-m", "netmem_ffi", "check", "--json"]
        if vmlinux:
            o, b = _median_pair(lambda: _run([*check, vmlinux])[0], lambda: _run(
                ["pahole", "-F", "dwarf", "-C", fields, vmlinux])[0], 1 if self.quick else 3)
            yield Figure(f"check of a -dbg vmlinux ({os.path.basename(vmlinux)})", o, "s",
                         f"pahole -F dwarf -C {fields}", b, o / b, "<= 1.0x", o / b <= 1.0)
        if deb:
            o, rss_kib = _run([*check, deb])
            pipeline = (f"dpkg-deb --fsys-tarfile {deb} | tar -x -C \"$T\" --wildcards '*/debug/*/vmlinux*' && "
                        f"pahole -F dwarf -C {fields} \"$(find \"$T\" -type f -name 'vmlinux*')\"")
            b = _run(["sh", "-c", f'T=$(mktemp -d) && {pipeline}; rm -rf "$T"'])[0]
            yield Figure(f"check of a -dbg .deb ({os.path.basename(deb)})", o, "s",
                         "dpkg-deb --fsys-tarfile | tar -x of the vmlinux, then pahole -F dwarf", b, o / b,
                         "<= 0.25x, peak RSS <= 512 MB", o / b <= 0.25 and rss_kib <= 512 * 1024,
                         f"peak RSS {rss_kib / 1024:.0f} MB; one run each")


def _run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process running *cmd*."""
    t = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_child_env())
    _, _, usage = os.wait4(child.pid, 0)
    child.returncode = 0
    return time.perf_counter() - t, usage.ru_maxrss


_RSS_PROBE = """
import sys, netmem_ffi as nm
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * {page}
n, kind = int(sys.argv[1]), int(sys.argv[2])
nm.NetIovArea(1, kind).close()
before = rss()
area = nm.NetIovArea(n, kind)
print((rss() - before) / n)
"""


def _rss_per_niov(n: int, type_: int) -> float:
    """RSS growth per niov of creating an area, measured in a fresh interpreter."""
    code = _RSS_PROBE.format(page=os.sysconf("SC_PAGE_SIZE"))
    out = subprocess.run([sys.executable, "-c", code, str(n), str(type_)], capture_output=True, text=True,
                         check=True, env=_child_env())
    return float(out.stdout.strip())


__all__ = ["Bench", "Figure"]
