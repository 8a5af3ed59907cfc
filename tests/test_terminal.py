"""Output on a terminal at 60, 80 and 200 columns and piped carries the same facts (issue 17).

Each command runs as a real process: under a pseudo-terminal whose window
size is set with TIOCSWINSZ (rich reads it from the terminal), or with its
output piped.  Colour codes are stripped, then every offset, size, name and
verdict the JSON form reports must appear, whole, in every form: nothing cut
(``netmem…``), nothing dropped (``desc;   /*`` with no numbers).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

WIDTHS = (60, 80, 200)
FORMS = [*WIDTHS, "piped"]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = "xterm-256color"
    return env


def run_cli(argv: list[str], form: int | str) -> str:
    """The command's stdout as a reader sees it: under a pty of *form* columns, or piped."""
    cmd = [sys.executable, "-m", "netmem_ffi", *argv]
    if form == "piped":
        done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, int(form), 0, 0))
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=subprocess.DEVNULL, env=_env(), close_fds=True)
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
        assert proc.wait(timeout=120) == 0
    text = b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
    return _ANSI.sub("", text)


def json_of(argv: list[str]) -> object:
    return json.loads(run_cli([*argv, "--json"], "piped"))


SUBJECTS = {
    "model": (["-p", "v6.17", "-a", "x86_64"], "netmem v6.17 on x86_64 (64-bit, little-endian)"),
    "kernel": (["--kernel", "reference:s390x-7.2"], "kernel reference:s390x-7.2 (7.2."),
}


@pytest.fixture(scope="module")
def layouts() -> dict[str, object]:
    docs = {}
    for name, (argv, _) in SUBJECTS.items():
        docs[name] = json_of(["layout", *argv])
    return docs


@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("form", FORMS)
def test_layout_keeps_every_member_offset_and_size(form: int | str, subject: str,
                                                   layouts: dict[str, dict[str, object]]) -> None:
    argv, title = SUBJECTS[subject]
    out = run_cli(["layout", *argv], form)
    structs = layouts[subject]["structs"]
    assert isinstance(structs, dict)
    assert title in out
    for name, layout in structs.items():
        assert f"struct {name} {{" in out
        assert re.search(rf"/\* size: {layout['size']}, cachelines: \d+, members: \d+ \*/", out), name
        for f in layout["fields"]:
            leaf = f["name"].rsplit(".", 1)[-1]
            pattern = rf"\b{re.escape(leaf)}(\[\d+\])?;\s+/\*\s+{f['offset']}\s+{f['size']} \*/"
            assert re.search(pattern, out), (form, name, f)


@pytest.mark.parametrize("form", FORMS)
def test_overlay_keeps_every_row(form: int | str) -> None:
    argv = ["layout", "--overlay", "-p", "v6.16", "-a", "armhf"]
    doc = json_of(argv)
    assert isinstance(doc, dict)
    out = run_cli(argv, form)
    columns = [c for c in ("page", "netmem_desc", "net_iov") if c in doc["overlay"][0]]
    header = next(line for line in out.splitlines() if "bytes" in line and "aliases page" in line)
    assert all(c in header for c in columns)
    lines = out.splitlines()
    for row in doc["overlay"]:
        span = f"{row['offset']}-{row['offset'] + row['size'] - 1}"
        line = next((ln for ln in lines if re.search(rf"(^|[\s│|]){span}[\s│|]", ln)), None)
        assert line is not None, (form, span, out)
        verdict = {True: "yes", False: "NO", None: "-"}[row["mirrored"]]
        for cell in [*(row[c] or "-" for c in columns), verdict]:
            assert cell in line, (form, span, cell, line)


@pytest.mark.parametrize("form", FORMS)
def test_profiles_keeps_every_fact(form: int | str) -> None:
    data = json_of(["profiles"])
    assert isinstance(data, list)
    out = run_cli(["profiles"], form)
    for r in data:
        facts = [r["name"], r["summary"], f"net_iov {r['net_iov_size']} B", f"static asserts {r['static_asserts']}",
                 ", ".join(r["kernels"]), ", ".join(r["net_iov_members"]), *r["notes"]]
        if r["kernel_lacked"]:
            facts.append(f"its kernels lacked: {', '.join(r['kernel_lacked'])}")
        if r["references"]:
            facts.append(", ".join(r["references"]))
        for fact in facts:
            assert fact in out, (form, r["name"], fact)


def test_narrow_terminal_output_equals_piped_words() -> None:
    """At 60 columns the words are the piped ones (the terminal adds colour, never other text)."""
    argv = ["layout", "net_iov", "-p", "v7.2", "-a", "i386"]
    piped = run_cli(argv, "piped").split()
    narrow = run_cli(argv, 60).split()
    assert [w for w in piped if w not in ("/*", "*/")][:] == [w for w in narrow if w not in ("/*", "*/")]
