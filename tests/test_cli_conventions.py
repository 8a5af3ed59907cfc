"""CLI conventions (issue 17): --color / NO_COLOR / FORCE_COLOR, ``-`` for stdin and stdout,
kernel releases wherever a profile is taken, and per-command usage errors (exit 3)."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest
from btf_support import write_kernel
from cli_support import ANSI, run_piped, run_pty

from netmem_ffi.cli import COMMANDS, output
from netmem_ffi.errors import KernelInputError
from netmem_ffi.layout.models import model_layouts

# --- colour: --color beats the environment; NO_COLOR beats FORCE_COLOR; auto = on a terminal ---

COLOUR_CASES = [
    # (argv before the command, argv after it, env, escapes expected when piped, on a terminal)
    ([], [], {}, False, True),
    ([], [], {"NO_COLOR": "1"}, False, False),
    ([], [], {"NO_COLOR": ""}, False, True),  # only a non-empty NO_COLOR counts
    ([], [], {"FORCE_COLOR": "1"}, True, True),
    ([], [], {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),
    ([], ["--color", "always"], {"NO_COLOR": "1"}, True, True),
    (["--color", "always"], [], {}, True, True),
    ([], ["--color", "never"], {"FORCE_COLOR": "1"}, False, False),
    (["--color", "never"], [], {}, False, False),
    (["--color", "never"], ["--color", "always"], {}, True, True),  # the later, per-command one wins
    ([], ["--color=auto"], {"FORCE_COLOR": "1"}, False, True),
]


@pytest.mark.parametrize(("before", "after", "env", "piped", "tty"), COLOUR_CASES)
def test_colour_policy(before: list[str], after: list[str], env: dict[str, str], piped: bool, tty: bool) -> None:
    argv = [*before, "profiles", *after]
    out = run_piped(argv, env=env).stdout.decode()
    assert bool(ANSI.search(out)) == piped, (argv, env, out[:200])
    assert bool(ANSI.search(run_pty(argv, 120, env=env))) == tty, (argv, env)


@pytest.mark.parametrize("command", [["diff", "v6.19", "v7.2"], ["check", "--reference", "amd64-7.2"],
                                     ["layout", "net_iov"], ["gate", "{base}"]])
def test_every_command_follows_the_policy(command: list[str], tmp_path: Path) -> None:
    """The one policy reaches each command's renderer: forced colour piped, none with never, colour on a tty."""
    base = tmp_path / "base.json"
    run_piped(["snapshot", "--profile", "v7.2", "-o", str(base)])
    argv = [a.format(base=base) for a in command]
    assert ANSI.search(run_piped([*argv, "--color", "always"], codes=(0, 12)).stdout.decode())
    assert not ANSI.search(run_piped(argv, env={"FORCE_COLOR": "1", "NO_COLOR": "1"}, codes=(0, 12)).stdout.decode())
    assert not ANSI.search(run_pty(["--color", "never", *argv], 120, codes=(0, 12)))
    assert ANSI.search(run_pty(argv, 120, codes=(0, 12)))


@pytest.mark.parametrize("env", [{"TERM": "dumb"}, {"TERM": "dumb", "FORCE_COLOR": "1"}])
def test_dumb_terminal(env: dict[str, str]) -> None:
    """TERM=dumb: plain on a terminal unless colour is forced, which then gives colour (rich alone gives none)."""
    forced = "FORCE_COLOR" in env
    assert bool(ANSI.search(run_pty(["profiles"], 100, env=env))) == forced
    assert bool(ANSI.search(run_piped(["profiles", "--color", "always"], env=env).stdout.decode()))


def test_forced_colour_draws_no_progress_into_a_log() -> None:
    """FORCE_COLOR colours the report on a pipe; the live progress display (stderr) needs a real terminal."""
    done = run_piped(["check", "--reference", "amd64-7.2", "--reference", "s390x-7.2"], env={"FORCE_COLOR": "1"})
    assert ANSI.search(done.stdout.decode()) and done.stderr == b""


def test_colour_never_keeps_the_words() -> None:
    """--color never on a terminal writes the words of the coloured form, without escapes."""
    argv = ["diff", "v6.19", "v7.2"]
    plain = run_pty([*argv, "--color", "never"], 120, codes=(12,))
    assert not ANSI.search(plain)
    assert plain.split() == ANSI.sub("", run_pty(argv, 120, codes=(12,))).split()


def test_help_documents_the_precedence() -> None:
    for argv in (["--help"], ["check", "--help"]):
        text = " ".join(run_piped(argv).stdout.decode().split())
        assert "--color beats the environment" in text and "NO_COLOR" in text and "FORCE_COLOR" in text


def test_gate_error_is_printed_once(tmp_path: Path) -> None:
    """A gate with one unreadable kernel: its error once (stderr), the rest compared on stdout."""
    base = tmp_path / "base.json"
    run_piped(["snapshot", "--profile", "v7.2", "-o", str(base)])
    missing = tmp_path / "missing-vmlinux"
    kernel = write_kernel(tmp_path / "k.btf", model_layouts("v7.2", "x86_64"))
    done = run_piped(["gate", str(base), "--kernel", kernel, "--kernel", str(missing)], codes=(1, 5, 13))
    out, err = done.stdout.decode(), done.stderr.decode()
    assert (out + err).count(f"{missing}: cannot read") == 1 and err.startswith("netmem-ffi: error: ")
    assert "1 input could not be read; the rest compared" in out


# --- '-' for stdin and stdout ---


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(write_kernel(tmp_path_factory.mktemp("stdin") / "v72.btf", model_layouts("v7.2", "arm64")))


def test_check_reads_stdin(kernel: Path) -> None:
    by_file = json.loads(run_piped(["check", str(kernel), "--json"]).stdout)
    done = run_piped(["check", "-", "--json"], stdin=kernel.read_bytes())
    by_stdin = json.loads(done.stdout)
    assert by_stdin["source"] == "-" and by_stdin["match"] and by_stdin["profile"] == "v7.2"
    assert {**by_stdin, "source": None} == {**by_file, "source": None}
    text = run_piped(["check", "-"], stdin=kernel.read_bytes()).stdout.decode()
    assert text.startswith("-: MATCH: profile v7.2")


def test_snapshot_records_a_kernel_from_stdin(kernel: Path) -> None:
    by_stdin = json.loads(run_piped(["snapshot", "--kernel", "-"], stdin=kernel.read_bytes()).stdout)
    by_file = json.loads(run_piped(["snapshot", "--kernel", str(kernel)]).stdout)
    [entry] = by_stdin["layouts"]
    assert entry["source"] == "-" and entry["profile"] == "v7.2"
    assert {**entry, "source": None} == {**by_file["layouts"][0], "source": None}
    err = run_piped(["snapshot", "--kernel", "-"], stdin=b"junk", codes=(1,)).stderr.decode()
    assert err.startswith("netmem-ffi: error: -: ") and "netmem-ffi-stdin" not in err


def test_check_stdin_errors_name_stdin() -> None:
    done = run_piped(["check", "-"], stdin=b"not a kernel", codes=(1,))
    err = done.stderr.decode()
    assert err.startswith("netmem-ffi: error: -: ") and "netmem-ffi-stdin" not in err and err.count("\n") == 1
    twice = run_piped(["check", "-", "-"], codes=(3,))
    assert "only once" in twice.stderr.decode()


def test_diff_reads_a_snapshot_from_stdin(tmp_path: Path) -> None:
    snap = run_piped(["snapshot", "--profile", "v6.19"]).stdout
    (tmp_path / "old.json").write_bytes(snap)
    by_stdin = json.loads(run_piped(["diff", "-", "v7.2", "--json"], stdin=snap, codes=(12,)).stdout)
    by_file = json.loads(run_piped(["diff", str(tmp_path / "old.json"), "v7.2", "--json"], codes=(12,)).stdout)
    assert by_stdin["old"] == "-" and by_stdin["pairs"] == by_file["pairs"]


@pytest.mark.parametrize("argv", [["snapshot", "--profile", "v7.2", "-o", "-"],
                                  ["diff", "v6.19", "v7.2", "--format", "markdown", "-o", "-"]])
def test_dash_output_is_stdout(argv: list[str], tmp_path: Path) -> None:
    done = run_piped(argv, codes=(0, 12), cwd=str(tmp_path))
    assert not (tmp_path / "-").exists()
    without = [a for a in argv if a not in ("-o", "-")]
    assert done.stdout == run_piped(without, codes=(0, 12), cwd=str(tmp_path)).stdout != b""


def test_gate_report_to_stdout(tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    run_piped(["snapshot", "--profile", "v7.2", "-o", str(base)])
    done = run_piped(["gate", str(base), "-o", "-", "--json"], cwd=str(tmp_path))
    assert json.loads(done.stdout)["exit_code"] == 0 and not (tmp_path / "-").exists()
    for argv in (["gate", "-"], ["gate", str(base), "--kernel", "-"]):
        err = run_piped(argv, codes=(3,)).stderr.decode()
        assert err.startswith("netmem-ffi: error: ") and err.count("\n") == 1


def test_stdin_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """More than the budget on stdin: KernelInputError naming '-', and the spooled file removed."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * 5000)))
    seen: list[str] = []
    with pytest.raises(KernelInputError, match=r"^-: stdin brings more than the 4096 byte"), \
            output.stdin_file(limit=4096) as path:
        seen.append(path)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"y" * 4096)))
    with output.stdin_file(limit=4096) as path:
        assert Path(path).read_bytes() == b"y" * 4096
    assert not seen and not os.path.exists(path)


def test_check_over_budget_stdin_fails_alone(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """check - past the stdin budget: that input is unreadable (exit bit 1), the others are still checked."""
    from netmem_ffi.cli import main

    monkeypatch.setattr(output, "STDIN_LIMIT", 64)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\x9f\xeb" * 100)))
    assert main(["check", "-", "--reference", "amd64-7.2"]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "-: UNREADABLE (the error is on stderr)" and lines[1].startswith("reference:amd64-7.2: MATCH: ")
    assert captured.err == "netmem-ffi: error: -: stdin brings more than the 64 byte input budget\n"


# --- kernel releases wherever a profile is taken ---

RELEASE_CASES = [
    (["layout", "net_iov", "-p", "{p}", "-a", "i386", "--json"], (0,)),
    (["snapshot", "--profile", "{p}"], (0,)),
    (["diff", "{p}@arm64", "v6.17@arm64", "--json"], (0,)),
    (["gate", "{base}", "--profile", "{p}", "--json"], (0,)),
]


@pytest.mark.parametrize(("template", "codes"), RELEASE_CASES)
def test_release_maps_to_its_generation(template: list[str], codes: tuple[int, ...], tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    run_piped(["snapshot", "--profile", "v6.17,v7.2", "-o", str(base)])

    def argv(p: str) -> list[str]:
        return [a.format(p=p, base=base) for a in template]

    released = run_piped(argv("6.18"), codes=codes)
    named = run_piped(argv("v6.17"), codes=codes)
    if template[0] == "diff":  # the report's label is the operand as named; the pairs are the profile's
        mapped, same = json.loads(released.stdout), json.loads(named.stdout)
        assert mapped.pop("old") == "6.18@arm64" and same.pop("old") == "v6.17@arm64"
        assert mapped == same
    else:
        assert released.stdout == named.stdout
    assert released.stderr.decode().count("6.18 → v6.17") == 1
    assert "→" not in named.stderr.decode()


@pytest.mark.parametrize("argv", [["layout", "-p", "5.4"], ["snapshot", "--profile", "v6.19,5.4"],
                                  ["gate", "x.json", "--profile", "5.4"]])
def test_unknown_release_is_a_usage_error(argv: list[str]) -> None:
    err = run_piped(argv, codes=(3,)).stderr.decode()
    assert err.startswith("netmem-ffi: error: unknown netmem profile '5.4'") and err.count("\n") == 1


def test_api_profile_takes_a_release() -> None:
    import netmem_ffi as nm

    assert nm.profile("7.2").name == "v7.2" and nm.profile("6.18") is nm.profile("v6.17")


# --- usage errors: exit 3 with the command's own usage ---


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("bad", [["--no-such-option"], ["--color", "sometimes"]])
def test_usage_error_shows_the_command_usage(command: str, bad: list[str]) -> None:
    err = run_piped([command, *bad], codes=(3,)).stderr.decode()
    assert err.startswith(f"usage: netmem-ffi {command} ") and "Traceback" not in err


@pytest.mark.parametrize("argv", [["diff", "v7.2"], ["gate"], ["layout", "--format", "xml"],
                                  ["snapshot", "--kernel"], ["check", "--reference"]])
def test_missing_or_bad_argument_shows_the_command_usage(argv: list[str]) -> None:
    err = run_piped(argv, codes=(3,)).stderr.decode()
    assert err.startswith(f"usage: netmem-ffi {argv[0]} ") and f"netmem-ffi {argv[0]}: error: " in err
