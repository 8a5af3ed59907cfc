"""Fuzzing: the runtime against a reference model, and the file readers against mutated real inputs.

* A hypothesis state machine drives random operation sequences over a small
  world (a devmem area, an io_uring area, a page map, stale, misaligned,
  mistagged and random refs) and checks every call against a pure-Python model
  of the counters: it returns the model's result, or raises a ``NetmemError``
  subclass and changes nothing.
* The BTF reader, the kernel-input unpacker and the snapshot loader run on
  mutations of real inputs (``tests/fuzz_inputs.py``): only ``NetmemError``
  subclasses may escape, each input within 2 s.

Default tier: 10k executions for the BTF reader and the unpacker, 5k for the
snapshot loader, 60 state-machine runs per profile (about 8 s in all).
``-m slow``: 100k for the BTF reader, 50k for the others, 2,000 state-machine runs.
"""

from __future__ import annotations

import gzip
import json
import random
import time
import struct
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import netmem_ffi as nm
from netmem_ffi.abicheck import snapshot
from netmem_ffi.layout.btf import BTF, layouts, load_btf, writer
from netmem_ffi.kernel.inputs import btf_from_bytes
from netmem_ffi.layout.models import model_layouts

from fuzz_inputs import Mutator, fuzz

U64 = (1 << 64) - 1
VMLINUX = Path("/sys/kernel/btf/vmlinux")

# ---- the runtime against a model ----------------------------------------------------------------


class RefcountModel:
    """What the counters must be: the devmem binding, io_uring user refs, pp_ref_count, page blocks."""

    def __init__(self, devmem: int, uring: int, pages: int) -> None:
        self.binding = 1
        self.urefs = [0] * uring
        self.niov_pp = {("dev", i): 0 for i in range(devmem)} | {("uring", i): 0 for i in range(uring)}
        self.head_of: list[int | None] = [None] * pages  # page index -> head index of its live block
        self.order: dict[int, int] = {}
        self.refcount: dict[int, int] = {}
        self.page_pp = [0] * pages

    def copy(self) -> RefcountModel:
        clone = RefcountModel.__new__(RefcountModel)
        clone.__dict__ = {k: (v.copy() if hasattr(v, "copy") else v) for k, v in self.__dict__.items()}
        return clone

    def get(self, target: tuple[str, int]) -> None:
        kind, i = target
        if kind == "dev":
            self.binding += 1
        elif kind == "page":
            self.refcount[self._live(i)] += 1

    def put(self, target: tuple[str, int], freed: list[int]) -> None:
        """put_netmem(); a block reaching zero goes to *freed* (freed at once, or at the end of a batch)."""
        kind, i = target
        if kind == "dev":
            if self.binding == 1:
                raise nm.RefcountUnderflowError("model", target)
            self.binding -= 1
        elif kind == "page":
            head = self._live(i)
            if self.refcount[head] == 0:
                raise nm.UseAfterFreeError("model", target)
            self.refcount[head] -= 1
            if self.refcount[head] == 0:
                freed.append(head)

    def free(self, head: int) -> None:
        for i in range(head, head + (1 << self.order.pop(head))):
            self.head_of[i] = None
        del self.refcount[head]

    def _live(self, i: int) -> int:
        head = self.head_of[i]
        if head is None or self.refcount[head] == 0:
            raise nm.UseAfterFreeError("model", i)
        return head

    def pp(self, target: tuple[str, int]) -> tuple[Any, Any]:
        """The pp_ref_count table holding *target*'s counter, and its key there."""
        kind, i = target
        if kind == "page":
            self._live(i)
            return self.page_pp, i
        return self.niov_pp, target


class RuntimeMachine(RuleBasedStateMachine):
    """Random operations on one profile's world, each checked against :class:`RefcountModel`."""

    profile_name = "v7.2"
    DEVMEM, URING, PAGES = 4, 3, 16

    def __init__(self) -> None:
        super().__init__()
        self.prof = nm.profile(self.profile_name)
        self.rt = self.prof.NetIovArea.runtime
        self.dev = self.prof.NetIovArea(self.DEVMEM, base_dma_addr=0x4000_0000)
        self.uring = self.prof.NetIovArea(self.URING, nm.NET_IOV_IOURING) if self.prof.spec.has_area else None
        self.pm = self.prof.PageMap(self.PAGES)
        closed = self.prof.NetIovArea(2)
        self.closed_ref = closed[1].netmem
        closed.close()
        self.model = RefcountModel(self.DEVMEM, self.URING if self.uring else 0, self.PAGES)

    # ---- refs ----

    def target_of(self, ref: object) -> tuple[str, int] | None:
        """What an exact, well-tagged ref of this world names; None for anything else."""
        if not isinstance(ref, int) or isinstance(ref, bool):
            return None
        for kind, area in (("dev", self.dev), ("uring", self.uring)):
            if area is not None and ref & 1 and area.base <= ref - 1 < area.base + len(area) * area.stride:
                off = ref - 1 - area.base
                return (kind, off // area.stride) if off % area.stride == 0 else None
        off = ref - self.pm.pages
        if 0 <= off < self.PAGES * self.pm.stride and off % self.pm.stride == 0:
            return ("page", off // self.pm.stride)
        return None

    def refs(self) -> st.SearchStrategy[Any]:
        niovs = [a[i].netmem for a in (self.dev, self.uring) if a is not None for i in range(len(a))]
        pages = [self.pm.page(i) for i in range(self.PAGES)]
        stride = self.dev.stride
        near = ([n + d for n in niovs for d in (-1, 1, 2, 8, stride // 2)] + [p | 1 for p in pages]
                + [p + d for p in pages[:4] for d in (2, 8, self.pm.stride // 2)]
                + [self.pm.frames, self.pm.frames + 4096, self.pm.frames | 1, self.closed_ref, 0, 1, U64])
        return st.one_of(
            st.sampled_from(niovs + pages),
            st.sampled_from(niovs + pages),
            st.sampled_from(near),
            st.integers(0, U64),
            st.sampled_from([-1, 1 << 64, "0x10", None, 1.0, b"\x01"]),
        )

    # ---- checking one call ----

    def check(self, call: Callable[[], Any], expect: Callable[[RefcountModel], Any]) -> None:
        """Run *expect* on a copy of the model: its result (or error) is what *call* must give."""
        future = self.model.copy()
        try:
            wanted = expect(future)
        except nm.NetmemError as exc:
            wanted_error: type[BaseException] | None = type(exc)
        else:
            wanted_error = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", nm.NetmemWarning)
            try:
                got = call()
            except nm.NetmemError as exc:
                assert wanted_error is not None, f"raised {exc!r}, the model expected {wanted!r}"
                if wanted_error is not nm.NetmemError:
                    assert isinstance(exc, wanted_error), f"raised {exc!r}, the model expected {wanted_error}"
                return  # the model is unchanged; the invariant checks that the runtime is too
        assert wanted_error is None, f"returned {got!r}, the model expected {wanted_error.__name__}"
        assert got == wanted, f"returned {got!r}, the model expected {wanted!r}"
        self.model = future

    def expect_target(self, ref: object) -> tuple[str, int]:
        target = self.target_of(ref)
        if target is None:
            raise nm.NetmemError("model: not a ref of this world", ref)
        return target

    # ---- rules ----

    @rule(data=st.data())
    def get_netmem(self, data: st.DataObject) -> None:
        ref = data.draw(self.refs(), "ref")
        self.check(lambda: self.prof.model.get_netmem(ref), lambda m: m.get(self.expect_target(ref)))

    @rule(data=st.data())
    def put_netmem(self, data: st.DataObject) -> None:
        ref = data.draw(self.refs(), "ref")

        def expect(m: RefcountModel) -> None:
            freed: list[int] = []
            m.put(self.expect_target(ref), freed)
            for head in freed:
                m.free(head)

        self.check(lambda: self.prof.model.put_netmem(ref), expect)

    @rule(data=st.data(), put=st.booleans())
    def bulk(self, data: st.DataObject, put: bool) -> None:
        refs = data.draw(st.lists(self.refs(), max_size=8), "refs")

        def expect(m: RefcountModel) -> int:
            if not all(isinstance(r, int) and 0 <= r <= U64 for r in refs):
                raise nm.NetmemError("model: the batch is converted before any ref is used", refs)
            freed: list[int] = []
            for ref in refs:
                target = self.expect_target(ref)
                if put:
                    m.put(target, freed)
                else:
                    m.get(target)
            for head in freed:  # pages reaching zero are freed once the whole batch is known good
                m.free(head)
            return len(refs)

        fn = self.prof.model.put_netmem_bulk if put else self.prof.model.get_netmem_bulk
        self.check(lambda: fn(refs), expect)

    @rule(data=st.data(), nr=st.integers(-1, 4) | st.just(1 << 63))
    def pp_fragment(self, data: st.DataObject, nr: int) -> None:
        ref = data.draw(self.refs(), "ref")

        def expect(m: RefcountModel) -> None:
            if not 0 <= nr < 1 << 63:  # nr is checked before the ref
                raise nm.NetmemValueError("model: nr out of range", nr)
            counters, key = m.pp(self.expect_target(ref))
            counters[key] = nr

        self.check(lambda: self.prof.page_pool_fragment_netmem(ref, nr), expect)

    @rule(data=st.data())
    def pp_ref(self, data: st.DataObject) -> None:
        ref = data.draw(self.refs(), "ref")

        def expect(m: RefcountModel) -> None:
            counters, key = m.pp(self.expect_target(ref))
            counters[key] += 1

        self.check(lambda: self.prof.page_pool_ref_netmem(ref), expect)

    @rule(data=st.data(), nr=st.integers(-1, 5))
    def pp_unref(self, data: st.DataObject, nr: int) -> None:
        ref = data.draw(self.refs(), "ref")

        def expect(m: RefcountModel) -> int:
            if nr < 1:  # nr is checked before the ref
                raise nm.NetmemValueError("model: nr < 1", nr)
            counters, key = m.pp(self.expect_target(ref))
            if counters[key] == nr:  # the fast path: the caller held every reference
                counters[key] = 1
                return 0
            if counters[key] < nr:
                raise nm.RefcountUnderflowError("model", nr)
            counters[key] -= nr
            return counters[key]

        self.check(lambda: self.prof.page_pool_unref_netmem(ref, nr), expect)

    @rule(data=st.data(), put=st.booleans())
    def user_ref(self, data: st.DataObject, put: bool) -> None:
        ref = data.draw(self.refs(), "ref")

        def expect(m: RefcountModel) -> bool | None:
            kind, i = self.expect_target(ref)
            if kind == "page":
                raise nm.NotNetIovError("model", ref)
            if kind == "dev":
                raise nm.WrongProviderError("model", ref)
            if not put:
                m.urefs[i] += 1
                return None
            if m.urefs[i] == 0:
                return False
            m.urefs[i] -= 1
            return True

        fn = self.prof.model.io_zcrx_put_niov_uref if put else self.prof.model.io_zcrx_get_niov_uref
        self.check(lambda: fn(ref), expect)

    @rule(order=st.integers(0, 5), pfmemalloc=st.booleans())
    def alloc(self, order: int, pfmemalloc: bool) -> None:
        n = 1 << order
        free = [s for s in range(0, self.PAGES - n + 1, n) if all(h is None for h in self.model.head_of[s:s + n])]
        try:
            ref = self.pm.alloc(order, pfmemalloc=pfmemalloc)
        except nm.OutOfPagesError:
            assert not free, f"order {order} refused with free blocks at {free}"
            return
        head = (ref - self.pm.pages) // self.pm.stride
        assert head in free, f"allocated {head} (order {order}), free blocks {free}"
        for i in range(head, head + n):
            self.model.head_of[i] = head
            self.model.page_pp[i] = 0
        self.model.order[head] = order
        self.model.refcount[head] = 1
        assert self.prof.model.netmem_is_pfmemalloc(ref) == pfmemalloc

    @precondition(lambda self: self.model.binding > 1 or any(self.model.urefs) or self.model.order)
    @rule()
    def close_refused(self) -> None:
        for obj, busy in ((self.dev, self.model.binding > 1), (self.uring, any(self.model.urefs)),
                          (self.pm, bool(self.model.order))):
            if obj is not None and busy:
                with pytest.raises(nm.BusyError):
                    obj.close()

    # ---- the runtime equals the model after every step ----

    @invariant()
    def counters_match(self) -> None:
        m = self.model
        assert self.dev.binding_refcount == m.binding
        if self.uring is not None:
            assert [self.uring.user_refs(i) for i in range(self.URING)] == m.urefs
        for (kind, i), pp in m.niov_pp.items():
            assert (self.dev if kind == "dev" else self.uring)[i].pp_ref_count == pp
        assert self.pm.allocated == sum(1 << o for o in m.order.values())
        for i, head in enumerate(m.head_of):
            page = self.pm.page(i)
            if head is None:
                with pytest.raises(nm.UseAfterFreeError):
                    self.rt.kind(page)
                continue
            assert self.rt.load(page, self.rt.lib.NM_F_HEAD) == self.pm.page(head)
            assert self.rt.load(page, self.rt.lib.NM_F_PP_REF_COUNT) == m.page_pp[i]
            if i == head:
                assert self.prof.netmem_ref_count(page) == m.refcount[head]

    def teardown(self) -> None:
        self.prof.model.put_netmem_bulk([self.dev[0].netmem] * (self.model.binding - 1))
        for i, n in enumerate(self.model.urefs):
            for _ in range(n):
                self.prof.model.io_zcrx_put_niov_uref(self.uring[i])
        for head, count in self.model.refcount.items():
            self.prof.model.put_netmem_bulk([self.pm.page(head)] * count)
        for obj in (self.dev, self.uring, self.pm):
            if obj is not None:
                obj.close()  # everything was put back: a BusyError here is a counting bug


class OldestProfileMachine(RuntimeMachine):
    """v6.12: no net_iov_area, no enum net_iov_type, devmem only."""

    profile_name = "v6.12"


DEFAULT_RUNS = settings(max_examples=60, stateful_step_count=30, deadline=2000,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
SLOW_RUNS = settings(DEFAULT_RUNS, max_examples=2000, stateful_step_count=50)


@pytest.mark.parametrize("machine", [RuntimeMachine, OldestProfileMachine], ids=["v7.2", "v6.12"])
def test_runtime_matches_model(machine: type[RuntimeMachine]) -> None:
    machine.TestCase.settings = DEFAULT_RUNS
    machine.TestCase().runTest()


@pytest.mark.slow
@pytest.mark.parametrize("machine", [RuntimeMachine, OldestProfileMachine], ids=["v7.2", "v6.12"])
def test_runtime_matches_model_large_budget(machine: type[RuntimeMachine]) -> None:
    machine.TestCase.settings = SLOW_RUNS
    machine.TestCase().runTest()


# ---- file readers on mutated real inputs ---------------------------------------------------------

#: Offsets of the BTF header's u32 fields (hdr_len, type_off/len, str_off/len, layout_off/len).
BTF_FIELDS = (4, 8, 12, 16, 20, 24, 28)
BTF_CUTS = (0, 2, 3, 4, 8, 12, 16, 20, 24, 32)


@pytest.fixture(scope="module")
def btf_seeds() -> list[bytes]:
    """The running kernel's netmem closure (both byte orders) and model BTF of the oldest and newest profiles."""
    seeds = [writer.synthesize(model_layouts(p, a)) for p, a in (("v6.12", "i386"), ("v7.2", "s390x"))]
    if VMLINUX.exists():
        kernel = load_btf(str(VMLINUX))
        seeds += [writer.extract(kernel), writer.extract(kernel, byteorder="big")]
    return seeds


def btf_target(data: bytes) -> None:
    """What ``netmem-ffi check`` does with a kernel's BTF: header, scan, look-ups, records, layouts."""
    btf = BTF(data, "fuzz")
    len(btf)
    for t in btf.types():
        t.refs()
    layouts.layout_set(btf, arch="x86_64")


def kernel_input_seeds(btf: bytes) -> list[bytes]:
    """*btf* as raw BTF, a gzip image, and (with the kernel-input test builders) ELF, bzImage, zboot and .deb."""
    seeds = [btf, gzip.compress(b"\0" * 512 + btf, mtime=0)]
    try:
        import test_kernel_inputs as k
    except ImportError:  # the builders live with the kernel-input tests
        return seeds
    elf = k.make_elf(btf)
    return seeds + [elf, k.make_bzimage(elf, "gzip"), k.make_zboot(elf, "zstd"), k.make_raw_image(btf),
                    k.make_deb(k.make_bzimage(elf, "xz"), data_codec="gzip")]


def kernel_input_target(data: bytes) -> None:
    blob = btf_from_bytes(data, "fuzz")
    assert isinstance(blob.btf, bytes) and len(blob.btf) >= 24


def snapshot_seeds() -> list[bytes]:
    return [snapshot.take(["v7.2"], ["x86_64"]).dumps().encode(),
            snapshot.take(["v6.12", "v6.17"], ["i386", "ppc64"]).dumps().encode()]


class JsonMutator(Mutator):
    """Byte mutations, plus structural ones: a random value of the document replaced by a hostile one."""

    HOSTILE: tuple[Any, ...] = (None, True, -1, 0, 1 << 64, -(1 << 63), 1e308, "", "x" * 300, [], {}, [1, "a"],
                                {"name": 1}, "\udcff")

    def __call__(self, data: bytes, other: bytes) -> bytes:
        if self.rng.random() < 0.5:
            return super().__call__(data, other)
        try:
            doc = json.loads(data)
        except ValueError:
            return super().__call__(data, other)
        self._replace(doc)
        return json.dumps(doc).encode("utf-8", "surrogatepass")

    def _replace(self, doc: Any) -> None:
        path = []
        node = doc
        while isinstance(node, (dict, list)) and node and self.rng.random() < 0.85:
            key = self.rng.choice(list(node)) if isinstance(node, dict) else self.rng.randrange(len(node))
            path.append((node, key))
            node = node[key]
        if not path:
            return
        parent, key = path[-1]
        if isinstance(parent, dict) and self.rng.random() < 0.3:
            del parent[key]
        else:
            parent[key] = self.rng.choice(self.HOSTILE)


def run_fuzz(name: str, target: Callable[[bytes], object], seeds: list[bytes], mutate: Mutator,
             executions: int, seconds: float, tmp_path: Path) -> None:
    stats = fuzz(target, seeds, mutate, executions=executions, seconds=seconds, per_input=2.0,
                 crash_dir=tmp_path / "crashes")
    print(f"\n{name}: {len(seeds)} seeds, {stats}")
    assert stats.executions >= min(executions, 500), f"{name}: only {stats}"
    assert stats.rejected and len(stats.outcomes) >= 5, f"{name}: the mutations reached too few checks: {stats}"


def _btf_fuzz(seeds: list[bytes], executions: int, seconds: float, tmp_path: Path) -> None:
    mutate = Mutator(random.Random(1), BTF_FIELDS, BTF_CUTS)
    run_fuzz("btf", btf_target, seeds, mutate, executions, seconds, tmp_path)


def _snapshot_target(tmp_path: Path) -> Callable[[bytes], object]:
    path = tmp_path / "snapshot.json"

    def target(data: bytes) -> None:
        path.write_bytes(data)
        snap = snapshot.load(path)
        snap.dumps()

    return target


def test_fuzz_btf_reader(btf_seeds: list[bytes], tmp_path: Path) -> None:
    _btf_fuzz(btf_seeds, executions=10_000, seconds=8, tmp_path=tmp_path)


def test_fuzz_kernel_input_unpacker(btf_seeds: list[bytes], tmp_path: Path) -> None:
    mutate = Mutator(random.Random(2), BTF_FIELDS, BTF_CUTS)
    run_fuzz("kernel inputs", kernel_input_target, kernel_input_seeds(btf_seeds[-1]), mutate, 10_000, 5, tmp_path)


def test_fuzz_snapshot_loader(tmp_path: Path) -> None:
    mutate = JsonMutator(random.Random(3))
    run_fuzz("snapshot", _snapshot_target(tmp_path), snapshot_seeds(), mutate, 5000, 4, tmp_path)


@pytest.mark.slow
def test_fuzz_btf_reader_100k(btf_seeds: list[bytes], tmp_path: Path) -> None:
    _btf_fuzz(btf_seeds, executions=100_000, seconds=900, tmp_path=tmp_path)


@pytest.mark.slow
def test_fuzz_kernel_inputs_and_snapshots_50k(btf_seeds: list[bytes], tmp_path: Path) -> None:
    run_fuzz("kernel inputs", kernel_input_target, kernel_input_seeds(btf_seeds[-1]),
             Mutator(random.Random(4), BTF_FIELDS, BTF_CUTS), 50_000, 600, tmp_path)
    run_fuzz("snapshot", _snapshot_target(tmp_path), snapshot_seeds(), JsonMutator(random.Random(5)), 50_000, 300,
             tmp_path)


def test_fuzz_harness_catches_an_escaping_exception(tmp_path: Path) -> None:
    """Control: a target that lets a non-NetmemError escape on some input is caught, and the input saved."""

    def target(data: bytes) -> None:
        if len(data) > 3 and data[3] == 0xFF:
            raise IndexError("escaped")
        raise nm.KernelInputError("rejected", "x")

    with pytest.raises(AssertionError, match="IndexError: escaped"):
        fuzz(target, [b"\0" * 16], Mutator(random.Random(0), (0, 4)), executions=20_000, seconds=20,
             crash_dir=tmp_path)
    assert list(tmp_path.glob("crash-*.bin"))


def test_fuzz_harness_catches_a_hang(tmp_path: Path) -> None:
    def target(data: bytes) -> None:
        while data:
            pass

    with pytest.raises(AssertionError, match="was interrupted at the 0.2s bound, twice"):
        fuzz(target, [b"x"], Mutator(random.Random(0)), executions=1, seconds=5, per_input=0.2)


def test_fuzz_harness_does_not_blame_an_input_for_one_stall() -> None:
    """A pause the process causes once (a collection, a stalled machine) is retried, not reported."""
    calls = []

    def target(data: bytes) -> None:
        calls.append(data)
        if len(calls) == 1:
            began = time.process_time()
            while time.process_time() - began < 0.3:
                pass

    stats = fuzz(target, [b"x"], Mutator(random.Random(0)), executions=0, seconds=5, per_input=0.2)
    assert stats.executions == 1 and calls == [b"x", b"x"]


def test_bulk_with_none_is_a_netmem_type_error(v72) -> None:
    """Found by the state machine: cffi's TypeError used to escape for a batch holding None."""
    with v72.NetIovArea(2) as area:
        with pytest.raises(nm.NetmemTypeError, match=r"refs\[1\]"):
            v72.get_netmem_bulk([area[0].netmem, None])
        assert area.binding_refcount == 1


def test_snapshot_loader_deeply_nested_json(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"schema": 1, "layouts": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(nm.SnapshotError, match="deep.json"):
        snapshot.load(path)


def test_btf_header_lengths_set_huge_are_rejected(btf_seeds: list[bytes]) -> None:
    """Each header u32 (hdr_len, offsets, lengths) set to 0xffffffff: KernelInputError naming its offset."""
    for seed in btf_seeds:
        e = "<" if seed[:2] == b"\x9f\xeb" else ">"
        for at in BTF_FIELDS[:5]:
            data = bytearray(seed)
            struct.pack_into(e + "I", data, at, 0xFFFFFFFF)
            with pytest.raises(nm.KernelInputError, match=r"fuzz: at offset 0x"):
                btf_target(bytes(data))
