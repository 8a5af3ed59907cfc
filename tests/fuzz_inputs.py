"""A small mutation fuzzer for the file readers (BTF, kernel images, snapshots).

:func:`fuzz` runs a target over mutations of seed inputs: bit flips, interesting
bytes and 32-bit words (0, -1, huge lengths, the input's own length) written at
random places and at the format's length fields, truncation at random places and
at header boundaries, chunk deletion, duplication and splicing, and byte-swapped
words.  Feedback is the outcome: an input whose result (success, or the error
type with its message's numbers masked) was not seen before joins the corpus,
so the fuzzer keeps mutating inputs that reach new checks.

The contract checked: the target returns or raises a ``NetmemError`` subclass,
within ``per_input`` seconds of CPU time (``SIGPROF`` from a CPU-time interval
timer interrupts a hang, and fires again every quarter second should a
``gc`` callback swallow the first).  CPU time, not wall time, because the
bound is about the work an input causes: a shared CI machine that stalls the
process for two seconds is not a finding.  An input over the bound is run a
second time after a full collection, so a garbage-collection pause of the
test process's own heap is not blamed on it either; one that is slow twice is
a finding.  Anything else stops the run with an ``AssertionError`` naming the
input, saved under ``crash_dir``.
"""

from __future__ import annotations

import gc
import random
import re
import signal
import struct
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from netmem_ffi import NetmemError

INTERESTING_U32 = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
INTERESTING_U8 = (0, 1, 0x7F, 0x80, 0xFF)
MAX_CORPUS = 512


class InputTimeout(Exception):
    """Raised by SIGPROF inside a target that ran past its per-input time bound."""


@dataclass
class Stats:
    """What a run did: executions, outcomes, its corpus growth and the slowest input."""

    executions: int = 0
    accepted: int = 0
    rejected: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    outcomes: set[str] = field(default_factory=set)
    corpus: int = 0

    @property
    def per_second(self) -> float:
        return self.executions / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        return (f"{self.executions} executions in {self.seconds:.1f}s ({self.per_second:.0f}/s): "
                f"{self.accepted} accepted, {self.rejected} rejected, {len(self.outcomes)} distinct outcomes, "
                f"corpus {self.corpus}, slowest input {self.slowest * 1000:.0f} ms")


def outcome(exc: BaseException | None) -> str:
    """The feedback signature of a result: the error type and its message with numbers masked."""
    if exc is None:
        return "ok"
    return type(exc).__name__ + ":" + re.sub(r"0x[0-9a-f]+|\d+", "N", str(exc))[:160]


class Mutator:
    """Mutations of byte strings; *fields* are offsets of 32-bit length/offset fields, *cuts* header boundaries."""

    def __init__(self, rng: random.Random, fields: Sequence[int] = (), cuts: Sequence[int] = (),
                 byteorder: str = "<") -> None:
        self.rng = rng
        self.fields = tuple(fields)
        self.cuts = tuple(cuts)
        self.e = byteorder

    def __call__(self, data: bytes, other: bytes) -> bytes:
        buf = bytearray(data)
        for _ in range(self.rng.choice((1, 1, 1, 2, 3, 6))):
            buf = self.once(buf, other)
        return bytes(buf)

    def once(self, buf: bytearray, other: bytes) -> bytearray:
        rng = self.rng
        if not buf:
            return bytearray(other[: rng.randrange(len(other) + 1)])
        pos = rng.randrange(len(buf))
        op = rng.randrange(9)
        if op == 0:
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos] = rng.choice(INTERESTING_U8)
        elif op in (2, 3) and len(buf) >= 4:
            at = rng.choice(self.fields) if op == 3 and self.fields else pos - pos % 4
            value = rng.choice(INTERESTING_U32 + (len(buf), len(buf) + 4, rng.getrandbits(32)))
            if at + 4 <= len(buf):
                struct.pack_into(self.e + "I", buf, at, value & 0xFFFFFFFF)
        elif op == 4:
            cut = rng.choice(self.cuts) if self.cuts and rng.random() < 0.5 else pos
            del buf[cut:]
        elif op == 5:
            del buf[pos:pos + rng.randrange(1, 64)]
        elif op == 6:
            end = min(len(buf), pos + rng.randrange(1, 64))
            buf[pos:pos] = buf[pos:end] * rng.randrange(1, 4)
        elif op == 7 and other:
            start = rng.randrange(len(other))
            buf[pos:] = other[start:start + rng.randrange(1, 256)]
        elif len(buf) >= pos + 4:
            buf[pos:pos + 4] = buf[pos:pos + 4][::-1]
        return buf


def _alarm(signum: int, frame: object) -> None:
    raise InputTimeout()


def fuzz(target: Callable[[bytes], object], seeds: Sequence[bytes], mutate: Mutator, *, executions: int,
         seconds: float, per_input: float = 2.0, crash_dir: Path | None = None) -> Stats:
    """Run *target* on up to *executions* mutated inputs (or for *seconds*); see the module doc."""
    corpus = list(seeds)
    stats = Stats()
    previous = signal.signal(signal.SIGPROF, _alarm)
    started = time.perf_counter()
    try:
        for data in list(seeds) + [b""] * executions:
            if stats.executions >= executions + len(seeds) or time.perf_counter() - started > seconds:
                break
            if not data:
                data = mutate(mutate.rng.choice(corpus), mutate.rng.choice(corpus))
            result = _one(target, data, per_input, crash_dir)
            stats.executions += 1
            stats.slowest = max(stats.slowest, result[1])
            if result[0] is None:
                stats.accepted += 1
            else:
                stats.rejected += 1
            sig = outcome(result[0])
            if sig not in stats.outcomes:
                stats.outcomes.add(sig)
                if len(corpus) < MAX_CORPUS:
                    corpus.append(data)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    stats.seconds = time.perf_counter() - started
    stats.corpus = len(corpus)
    return stats


def _one(target: Callable[[bytes], object], data: bytes, per_input: float,
         crash_dir: Path | None) -> tuple[NetmemError | None, float]:
    error, elapsed = _timed(target, data, per_input, crash_dir)
    if elapsed > per_input:  # slow twice, after a collection, or it is the process and not the input
        gc.collect()
        error, elapsed = _timed(target, data, per_input, crash_dir)
        if elapsed > per_input:
            what = "was interrupted" if elapsed == float("inf") else f"took {elapsed:.2f}s of CPU time"
            _fail(data, crash_dir, f"{what} at the {per_input}s bound, twice", None)
    return error, elapsed


def _timed(target: Callable[[bytes], object], data: bytes, per_input: float,
           crash_dir: Path | None) -> tuple[NetmemError | None, float]:
    began = time.process_time()
    signal.setitimer(signal.ITIMER_PROF, per_input, 0.25)
    try:
        target(data)
        error = None
    except NetmemError as exc:
        error = exc
    except InputTimeout:  # over the bound, whatever process_time says (the timer ticks coarser than it)
        return None, float("inf")  # (the finally below disarms the timer)
    except BaseException as exc:  # the finding: save the input and say what escaped
        signal.setitimer(signal.ITIMER_PROF, 0)
        _fail(data, crash_dir, "raised", exc)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    return error, time.process_time() - began


def _fail(data: bytes, crash_dir: Path | None, what: str, exc: BaseException | None) -> None:
    where = ""
    if crash_dir is not None:
        crash_dir.mkdir(parents=True, exist_ok=True)
        path = crash_dir / f"crash-{abs(hash(data)):016x}.bin"
        path.write_bytes(data)
        where = f" (input saved to {path})"
    detail = "".join(traceback.format_exception(exc)) if exc is not None else ""
    raise AssertionError(f"a {len(data)}-byte input {what}{where}: {data[:64]!r}...\n{detail}")
