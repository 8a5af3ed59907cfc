"""Build netmem_ffi's C runtime with a sanitizer into a temporary directory and run a driver under it.

    python scripts/sanitize.py asan --profiles v7.2,v6.12 tests/fuzz_c_path.py memory
    python scripts/sanitize.py tsan --profiles v7.2,v6.12 tests/fuzz_c_path.py threads

``asan`` is AddressSanitizer plus UndefinedBehaviorSanitizer, ``tsan``
ThreadSanitizer.  The extensions of the chosen profiles are compiled from the
same ``build_ffi.make_ffi()`` builders as the normal build, with the
sanitizer's flags added through ``CFLAGS``/``LDFLAGS``, into a fresh temp dir
(the normal in-place extensions are never touched).  The driver then runs in
an interpreter that has the sanitizer runtime preloaded and imports the
sanitized modules in place of the package's own (every other profile keeps its
normal build).  Exit status: the driver's, or the sanitizer's exit code
(:data:`REPORT_EXIT`) when it reported anything.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Exit status of an interpreter whose sanitizer reported an error.
REPORT_EXIT = 66


@dataclass(frozen=True)
class Sanitizer:
    """Compiler flags, the runtime library to preload, and its options."""

    flags: tuple[str, ...]
    runtime: str
    env: dict[str, str] = field(default_factory=dict)
    #: Prefix of the command line (TSan's shadow memory wants a fixed address-space layout).
    launcher: tuple[str, ...] = ()


SANITIZERS = {
    "asan": Sanitizer(
        flags=("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"),
        runtime="libasan.so",
        env={
            # CPython's own allocations are not leaks we can act on; every other check stays on.
            "ASAN_OPTIONS": f"detect_leaks=0:halt_on_error=1:exitcode={REPORT_EXIT}:detect_stack_use_after_return=0",
            "UBSAN_OPTIONS": f"print_stacktrace=1:halt_on_error=1:exitcode={REPORT_EXIT}",
            "PYTHONMALLOC": "malloc",
        },
    ),
    "tsan": Sanitizer(
        flags=("-fsanitize=thread", "-g"),
        runtime="libtsan.so",
        env={"TSAN_OPTIONS": f"halt_on_error=0:exitcode={REPORT_EXIT}:report_signal_unsafe=0"},
        launcher=("setarch", "x86_64", "-R") if shutil.which("setarch") else (),
    ),
}


def runtime_library(sanitizer: Sanitizer, cc: str = "gcc") -> Path | None:
    """The sanitizer runtime the compiler links against, or None when the toolchain lacks it."""
    if shutil.which(cc) is None:
        return None
    out = subprocess.run([cc, f"-print-file-name={sanitizer.runtime}"], capture_output=True, text=True)
    path = Path(out.stdout.strip())
    return path.resolve() if out.returncode == 0 and path.is_absolute() and path.exists() else None


def build(kind: str, profiles: list[str], outdir: Path) -> dict[str, Path]:
    """Compile the extensions of *profiles* with sanitizer *kind* into *outdir*; module name -> .so path."""
    sanitizer = SANITIZERS[kind]
    flags = " ".join(sanitizer.flags)
    env = dict(os.environ, CFLAGS=flags, LDFLAGS=flags)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import build_ffi\n"
        "for name in sys.argv[3:]:\n"
        "    build_ffi.make_ffi(build_ffi.registry.spec(name)).compile(tmpdir=sys.argv[2], verbose=False)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(ROOT), str(outdir), *profiles], env=env, check=True,
                   cwd=outdir, stdout=subprocess.DEVNULL)
    modules: dict[str, Path] = {}
    for so in sorted((outdir / "netmem_ffi").glob("_abi_*.so")):
        modules["netmem_ffi." + so.name.split(".")[0]] = so
    if len(modules) != len(profiles):
        raise RuntimeError(f"expected {len(profiles)} sanitized modules in {outdir}, found {sorted(modules)}")
    return modules


# Runs in the sanitized interpreter: load the sanitized modules under the package's names before
# netmem_ffi is imported, check that the package uses them, then run the driver as __main__.
_BOOTSTRAP = """
import importlib.machinery, importlib.util, runpy, sys
modules = dict(arg.split("=", 1) for arg in sys.argv[1].split(","))
for name, path in modules.items():
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules[name] = module
import netmem_ffi
for p in netmem_ffi.profiles():
    if "netmem_ffi." + p.spec.module in modules:
        assert p.module_file == modules["netmem_ffi." + p.spec.module], (p.name, p.module_file)
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def command(kind: str, modules: dict[str, Path], driver: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run *driver* over the sanitized *modules*."""
    sanitizer = SANITIZERS[kind]
    library = runtime_library(sanitizer)
    if library is None:
        raise RuntimeError(f"{kind}: the compiler has no {sanitizer.runtime}")
    env = dict(os.environ, LD_PRELOAD=str(library), **sanitizer.env)
    spec = ",".join(f"{name}={path}" for name, path in modules.items())
    return [*sanitizer.launcher, sys.executable, "-c", _BOOTSTRAP, spec, *driver], env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sanitizer", choices=sorted(SANITIZERS))
    parser.add_argument("--profiles", default="v7.2", help="comma-separated profiles to build (default v7.2)")
    parser.add_argument("--keep", metavar="DIR", help="build into DIR and keep it (default: a temp dir)")
    parser.add_argument("driver", help="driver script")
    parser.add_argument("driver_args", nargs=argparse.REMAINDER, help="the driver's arguments")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix=f"netmem-{args.sanitizer}-") as tmp:
        outdir = Path(args.keep or tmp)
        outdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        modules = build(args.sanitizer, args.profiles.split(","), outdir)
        built = time.perf_counter()
        cmd, env = command(args.sanitizer, modules, [args.driver, *args.driver_args])
        rc = subprocess.run(cmd, env=env).returncode
        print(f"sanitize: {args.sanitizer} build {built - started:.1f}s, run {time.perf_counter() - built:.1f}s, "
              f"exit {rc}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
