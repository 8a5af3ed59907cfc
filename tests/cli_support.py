"""Run ``netmem-ffi`` as a reader sees it: under a pseudo-terminal of a chosen width, or piped.

The pty's window size is set with TIOCSWINSZ (rich reads it from the terminal);
COLUMNS, LINES, NO_COLOR and FORCE_COLOR are removed from the environment unless a
test sets them.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Mapping, Sequence

WIDTHS = (60, 80, 200)
FORMS: list[int | str] = [*WIDTHS, "piped"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)")
#: Table borders rich draws (box characters), removed when reading a table row as words.
BOX = re.compile(r"[\u2500-\u257f]")


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = "xterm-256color"
    env.update(extra or {})
    return env


def run_piped(argv: Sequence[str], env: Mapping[str, str] | None = None, codes: Sequence[int] = (0,),
              stdin: bytes | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """The finished process with stdout and stderr piped (bytes); asserts its exit code is one of *codes*."""
    done = subprocess.run([sys.executable, "-m", "netmem_ffi", *argv], input=stdin if stdin is not None else b"",
                          capture_output=True, env=cli_env(env), timeout=120, check=False, cwd=cwd)
    assert done.returncode in codes, (argv, done.returncode, done.stderr.decode())
    return done


def run_pty(argv: Sequence[str], columns: int, env: Mapping[str, str] | None = None,
            codes: Sequence[int] = (0,)) -> str:
    """The raw text the command writes to a terminal of *columns* columns (stderr discarded)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "netmem_ffi", *argv], stdin=slave, stdout=slave,
                            stderr=subprocess.DEVNULL, env=cli_env(env), close_fds=True)
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        code = proc.wait(timeout=120)
    assert code in codes, (argv, columns, code)
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def run_cli(argv: Sequence[str], form: int | str, codes: Sequence[int] = (0,)) -> str:
    """The command's stdout as a reader sees it, colour codes stripped: under a pty of *form* columns, or piped."""
    if form == "piped":
        return run_piped(argv, codes=codes).stdout.decode("utf-8")
    return ANSI.sub("", run_pty(argv, int(form), codes=codes))


def words(line: str) -> list[str]:
    """A line's words, table borders removed."""
    return BOX.sub(" ", line).split()


def has_row(out: str, cells: Sequence[str]) -> bool:
    """Whether a line of *out* carries *cells* as consecutive whole words (a table row, bordered or plain)."""
    want = [w for cell in cells for w in cell.split()]
    for line in out.splitlines():
        got = words(line)
        if any(got[i:i + len(want)] == want for i in range(len(got) - len(want) + 1)):
            return True
    return False
