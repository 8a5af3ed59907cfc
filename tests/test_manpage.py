"""``netmem-ffi man`` and ``netmem-ffi completion bash|zsh``: generated from the parser, valid, complete.

The man page must be roff that groff renders without a warning; the completion scripts must
parse in their shell and complete what the parser accepts. An option planted in a command's
parser shows up in all three without touching them.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from netmem_ffi.abi import registry
from netmem_ffi.abi.arches import ARCHES
from netmem_ffi.cli import build_parser
from netmem_ffi.cli.completion import bash, zsh
from netmem_ffi.cli.man import escape, render
from netmem_ffi.cli.output import EXIT_USAGE
from netmem_ffi.cli.reference import Command, describe, program


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netmem_ffi", *args], check=False, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def page() -> str:
    out = cli("man")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def bash_script() -> str:
    out = cli("completion", "bash")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def zsh_script() -> str:
    out = cli("completion", "zsh")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    return out.stdout


def planted() -> Command:
    """The program with a new option in ``check`` and a new command, as a future change would add them."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["check"].add_argument("--planted-flag", metavar="FILE", help="an option added later")
    sub.add_parser("planted-command", help="a command added later").add_argument("--colour", choices=("red", "blue"))
    return describe(parser)


# ---- the man page -------------------------------------------------------------------------------


@pytest.mark.parametrize("text, roff", [
    ("--json", "\\-\\-json"),
    (".starts with a dot", "\\&.starts with a dot"),
    ("'quoted", "\\&'quoted"),
    ("a\\b", "a\\eb"),
    ("6.12 \u2192 v7.2 \u00d7", "6.12 \\[u2192] v7.2 \\[u00D7]"),
])
def test_escape(text: str, roff: str) -> None:
    assert escape(text) == roff


def test_page_structure(page: str) -> None:
    lines = page.splitlines()
    assert lines[0].startswith('.TH "NETMEM\\-FFI" "1"')
    sections = [line.split(" ", 1)[1] for line in lines if line.startswith(".SH ")]
    assert sections == ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT",
                        "SEE ALSO"]
    assert all(ord(c) < 128 for c in page), "the page must be ASCII roff"
    body = [line for line in lines if not line.startswith(".")]
    assert not any(line.startswith("'") for line in body)


def test_page_has_every_command_and_option(page: str) -> None:
    root = program()
    for command in root.subcommands:
        assert f'.SS "{escape(command.prog)}"' in page
        for flag in command.option_words():
            assert f"\\fB{escape(flag)}\\fR" in page, f"{command.prog} {flag} missing from the man page"
        for argument in command.positionals():
            assert f"\\fI{escape(str(argument.metavar))}\\fR" in page


def test_page_names_every_budget_variable(page: str) -> None:
    from netmem_ffi.layout.budget import LIMITS

    assert all(f"\\fB{escape(limit.env)}\\fR" in page for limit in LIMITS.values())


def test_planted_option_and_command_appear() -> None:
    text = render(planted(), "0")
    assert "\\fB\\-\\-planted\\-flag\\fR \\fIFILE\\fR" in text and "an option added later" in text
    assert '.SS "netmem\\-ffi planted\\-command"' in text and "red" in text


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed (Debian: groff-base)")
def test_groff_renders_without_warnings(page: str, tmp_path: pathlib.Path) -> None:
    source = tmp_path / "netmem-ffi.1"
    source.write_text(page, encoding="ascii")
    check = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(source)], check=False, capture_output=True, text=True)
    assert check.returncode == 0 and check.stderr == "", check.stderr
    shown = subprocess.run(["groff", "-man", "-Tascii", "-rLL=100n", str(source)], check=False, capture_output=True, text=True,
                           env={**os.environ, "GROFF_NO_SGR": "1"})
    text = re.sub(r".\x08", "", shown.stdout)  # overstrike bold/underline
    assert "NETMEM-FFI(1)" in text and "--dma-addr-bits {32,64}" in text
    assert "netmem-ffi completion [--color {auto,always,never}] SHELL" in text and "usage error" in text


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed (Debian: man-db)")
def test_man_reads_it(page: str, tmp_path: pathlib.Path) -> None:
    source = tmp_path / "netmem-ffi.1"
    source.write_text(page, encoding="ascii")
    shown = subprocess.run(["man", "-l", str(source)], check=False, capture_output=True, text=True,
                           env={**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": "0", "PAGER": "cat"})
    assert shown.returncode == 0, shown.stderr
    assert "netmem-ffi completion" in re.sub(r".\x08", "", shown.stdout)


# ---- completion ---------------------------------------------------------------------------------

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


def bash_words(line: str) -> list[str]:
    """*line* split as bash splits it for completion: at blanks, and ``=`` / ``:`` as words of their own."""
    words = re.findall(r"[=:]+|[^\s=:]+", line)
    return [*words, ""] if not line or line[-1].isspace() else words


def complete(script: str, line: str, cwd: pathlib.Path | None = None) -> list[str]:
    """What bash offers when TAB is pressed at the end of *line*."""
    program_text = (
        f"{script}\n"
        'COMP_LINE=$1; COMP_POINT=${#COMP_LINE}; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))\n'
        "_netmem_ffi; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    out = subprocess.run(["bash", "-c", program_text, "bash", line, *bash_words(line)], check=False,
                         capture_output=True, text=True, cwd=cwd, timeout=60)
    assert out.returncode == 0, out.stderr
    return [w for w in out.stdout.splitlines() if w]


@needs_bash
def test_bash_accepts_the_script(bash_script: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "netmem-ffi.bash"
    path.write_text(bash_script, encoding="utf-8")
    assert subprocess.run(["bash", "-n", str(path)], check=False, capture_output=True).returncode == 0
    registered = subprocess.run(["bash", "-c", f"source {path}; complete -p netmem-ffi"], check=False, capture_output=True,
                                text=True)
    assert registered.stdout.strip() == "complete -F _netmem_ffi netmem-ffi"


@needs_bash
@pytest.mark.parametrize("line, expected", [
    ("netmem-ffi la", ["layout"]),
    ("netmem-ffi c", ["check", "completion"]),
    ("netmem-ffi --v", ["--version"]),
    ("netmem-ffi check --reference s390x", ["s390x-6.12", "s390x-7.2"]),
    ("netmem-ffi layout -p v6.1", ["v6.12", "v6.15", "v6.16", "v6.17", "v6.19"]),
    ("netmem-ffi layout --dma-addr-bits ", ["32", "64"]),
    ("netmem-ffi layout --profile=v7", ["v7.2"]),
    ("netmem-ffi layout --arch ", list(ARCHES)),
    ("netmem-ffi layout net_", ["net_iov", "net_iov_area"]),
    ("netmem-ffi layout --kernel reference:s390", ["s390x-6.12", "s390x-7.2"]),
    ("netmem-ffi diff --format j", ["json", "junit"]),
    ("netmem-ffi completion ", ["bash", "zsh"]),
    ("netmem-ffi profiles --json --", ["--help", "--json", "--color"]),  # --color: on every command
])
def test_bash_completes(bash_script: str, line: str, expected: list[str]) -> None:
    assert complete(bash_script, line) == expected


def long_options(command: str) -> list[str]:
    """The ``--`` options of *command*, as its parser declares them."""
    found = next(c for c in program().subcommands if c.name == command)
    return [flag for flag in found.option_words() if flag.startswith("--")]


@needs_bash
def test_bash_completes_every_long_option(bash_script: str) -> None:
    assert complete(bash_script, "netmem-ffi check --") == long_options("check")
    assert {"--reference", "--references", "--json"} <= set(long_options("check"))


@needs_bash
def test_bash_completes_files_where_a_path_goes(bash_script: str, tmp_path: pathlib.Path) -> None:
    (tmp_path / "vmlinux.btf").write_bytes(b"")
    (tmp_path / "base.json").write_text("{}")
    assert complete(bash_script, "netmem-ffi check vm", tmp_path) == ["vmlinux.btf"]
    assert complete(bash_script, "netmem-ffi snapshot -o ba", tmp_path) == ["base.json"]
    diff_words = complete(bash_script, "netmem-ffi diff ", tmp_path)
    assert set(registry.names()) | {"vmlinux.btf", "base.json"} == set(diff_words)
    assert complete(bash_script, "netmem-ffi bench --only ", tmp_path) == []
    kernels = complete(bash_script, "netmem-ffi layout --kernel ", tmp_path)
    assert {"reference:amd64-7.2", "vmlinux.btf"} <= set(kernels)


@needs_bash
def test_bash_completes_a_planted_option() -> None:
    script = bash(planted())
    assert complete(script, "netmem-ffi check --pl") == ["--planted-flag"]
    assert complete(script, "netmem-ffi planted") == ["planted-command"]
    assert complete(script, "netmem-ffi planted-command --colour r") == ["red"]


needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (Debian: zsh)")


@needs_zsh
def test_zsh_accepts_the_script(zsh_script: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "_netmem-ffi"
    path.write_text(zsh_script, encoding="utf-8")
    assert subprocess.run(["zsh", "-n", str(path)], check=False, capture_output=True).returncode == 0
    probe = f"autoload -Uz compinit && compinit -u -d {tmp_path}/zcompdump; source {path}; print -r -- $_comps[netmem-ffi]"
    out = subprocess.run(["zsh", "-f", "-c", probe], check=False, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HOME": str(tmp_path)})
    assert out.stdout.strip() == "_netmem_ffi", out.stderr


#: Runs an interactive zsh in a pseudo-terminal (zsh/zpty), loads the script, types LINE and TAB,
#: and appends every word the completion offers (compadd, wrapped) to HITS as ``<<w1 w2>>``.
ZSH_PROBE = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1=''; autoload -Uz compinit; compinit -u -D; source ${(q)1}"
zpty -w z "compadd () { builtin compadd -O __hits \"\$@\"; print -r -- \"<<\${(j: :)__hits}>>\" >> ${(q)2}; builtin compadd \"\$@\" }"
zpty -w z "bindkey '^I' complete-word; print -r -- ready >> ${(q)2}"
for i in {1..200}; do [[ -s $2 ]] && break; sleep 0.05; done
zpty -w -n z "$3"$'\t'
for i in {1..200}; do grep -q '<<' $2 && break; sleep 0.05; done
sleep 0.3
zpty -d z
"""


def zsh_complete(script: str, line: str, folder: pathlib.Path) -> set[str]:
    """Every word zsh offers when TAB is pressed after *line*."""
    (folder / "_netmem-ffi").write_text(script, encoding="utf-8")
    (folder / "probe.zsh").write_text(ZSH_PROBE, encoding="utf-8")
    hits = folder / "hits.txt"
    hits.unlink(missing_ok=True)
    subprocess.run(["zsh", "-f", str(folder / "probe.zsh"), str(folder / "_netmem-ffi"), str(hits), line],
                   check=False, capture_output=True, timeout=60, env={**os.environ, "HOME": str(folder)})
    offered = re.findall(r"<<(.*)>>", hits.read_text(encoding="utf-8") if hits.exists() else "")
    return {word for group in offered for word in group.split()}


@needs_zsh
@pytest.mark.parametrize("line, expected", [
    ("netmem-ffi la", {"layout"}),
    ("netmem-ffi layout --profile v6.1", {"v6.12", "v6.15", "v6.16", "v6.17", "v6.19"}),
    ("netmem-ffi diff v7", {"v7.2"}),
    ("netmem-ffi completion ", {"bash", "zsh"}),
])
def test_zsh_completes(zsh_script: str, line: str, expected: set[str], tmp_path: pathlib.Path) -> None:
    assert zsh_complete(zsh_script, line, tmp_path) == expected


@needs_zsh
def test_zsh_completes_every_long_option(zsh_script: str, tmp_path: pathlib.Path) -> None:
    assert zsh_complete(zsh_script, "netmem-ffi check --", tmp_path) == set(long_options("check"))


@needs_zsh
def test_zsh_completes_a_planted_option(tmp_path: pathlib.Path) -> None:
    assert zsh_complete(zsh(planted()), "netmem-ffi check --pl", tmp_path) == {"--planted-flag"}


def test_zsh_script_names_every_option(zsh_script: str) -> None:
    root = program()
    for command in root.subcommands:
        assert re.search(rf"^ +{re.escape(command.name)}\) _arguments ", zsh_script, re.MULTILINE), command.name
        for flag in command.option_words():
            assert flag in zsh_script
    assert "--planted-flag[an option added later]:FILE:_files" in zsh(planted())


@pytest.mark.parametrize("args", [("completion", "fish"), ("completion",), ("man", "extra")])
def test_bad_arguments_are_usage_errors(args: tuple[str, ...]) -> None:
    out = cli(*args)
    assert out.returncode == EXIT_USAGE
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert out.stderr.startswith("usage: netmem-ffi") and "error:" in out.stderr
