"""Exit codes: abidiff's bits on every command that compares, one test per bit, and README's table as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from btf_support import with_member_moved, without_net_iov, write_kernel

from netmem_ffi.abicheck import snapshot, verdict
from netmem_ffi.cli import check as cli_check
from netmem_ffi.cli import main
from netmem_ffi.layout.models import model_layouts

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Synthesized kernels: a v6.19 one, the same with a moved member and with a renamed one, one before 6.12."""
    d = tmp_path_factory.mktemp("kernels")
    model = model_layouts("v6.19", "x86_64")
    area = model.structs["net_iov_area"]
    renamed = area._replace(fields=tuple(f._replace(name="base_addr") if f.name == "base_virtual" else f
                                         for f in area.fields))
    paths = {
        "good": write_kernel(d / "good.btf", model),
        "moved": write_kernel(d / "moved.btf", with_member_moved(model, "net_iov_area", "base_virtual", 8)),
        "renamed": write_kernel(d / "renamed.btf", model._replace(structs={**model.structs, "net_iov_area": renamed})),
        "old": write_kernel(d / "old.btf", without_net_iov(model)),
        "missing": str(d / "missing.btf"),
    }
    base = d / "base.json"
    snapshot.dump(snapshot.take_kernels([paths["good"]]), base)
    paths["base"] = str(base)
    return paths


def _run(argv: str, kernels: dict[str, str]) -> int:
    return main([kernels.get(a, a) for a in shlex.split(argv)])


def test_the_bits_are_abidiffs() -> None:
    assert (verdict.SAME, verdict.ERROR, verdict.USAGE, verdict.CHANGE, verdict.INCOMPATIBLE) == (0, 1, 3, 4, 8)
    assert verdict.describe(13) == "differs, incompatible, unreadable input"


@pytest.mark.parametrize("argv", ["check good", "diff v7.2 v7.2@amd64", "gate base --kernel good",
                                  "snapshot --kernel good -o /dev/null"])
def test_bit_0_same(argv: str, kernels: dict[str, str]) -> None:
    assert _run(argv, kernels) == verdict.SAME


@pytest.mark.parametrize("argv", ["check missing", "diff missing v7.2", "gate base --kernel missing",
                                  "gate missing", "snapshot --kernel missing"])
def test_bit_1_unreadable(argv: str, kernels: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(argv, kernels) == verdict.ERROR
    assert "missing" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["check", "diff", "gate", "snapshot", "layout", "profiles", "bench"])
def test_3_usage_with_the_subcommands_usage(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--no-such-flag"]) == verdict.USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"usage: netmem-ffi {command}") and f"netmem-ffi {command}: error: " in err


@pytest.mark.parametrize("argv", ["check old", "diff v6.15 v6.16", "gate base --kernel renamed",
                                  "diff good renamed"])
def test_bit_4_differs(argv: str, kernels: dict[str, str]) -> None:
    assert _run(argv, kernels) == verdict.CHANGE


@pytest.mark.parametrize("argv", ["check moved", "diff v6.19 v7.2", "gate base --kernel moved", "diff good moved",
                                  "gate base --kernel renamed --renames-break"])
def test_bit_8_incompatible(argv: str, kernels: dict[str, str]) -> None:
    assert _run(argv, kernels) == verdict.CHANGE | verdict.INCOMPATIBLE


@pytest.mark.parametrize(("argv", "code"), [
    ("check old missing", 5), ("check moved missing", 13), ("check old moved", 12),
    ("gate base --kernel moved --kernel missing", 13), ("gate base --kernel renamed --kernel missing", 5),
])
def test_sources_or_their_bits(argv: str, code: int, kernels: dict[str, str]) -> None:
    assert _run(argv, kernels) == code


# ---- README.md, as written ---------------------------------------------------------------------


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start:end if end != -1 else None]


def _table_rows() -> list[tuple[int, str]]:
    rows = []
    for line in _section("### Exit codes").splitlines():
        m = re.match(r"\| `(\d+)` \|.*\| `(netmem-ffi [^`]+)` \|$", line)
        if m:
            rows.append((int(m.group(1)), m.group(2)))
    return rows


def test_readme_table_lists_every_bit() -> None:
    codes = [code for code, _ in _table_rows()]
    assert codes == [verdict.SAME, verdict.ERROR, verdict.USAGE, verdict.CHANGE,
                     verdict.CHANGE | verdict.INCOMPATIBLE]


@pytest.mark.parametrize(("code", "command"), _table_rows())
def test_readme_table_examples_exit_as_written(code: int, command: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(command)[1:]) == code


def _main_job() -> list[str]:
    """The main job of README's "Two commands", as its words after ``pip install . &&``."""
    block = _section("## Two commands")
    (line,) = [ln for ln in block.splitlines() if ln.startswith("pip install . &&")]
    job = line.split("&&", 1)[1].strip()
    assert "||" not in job and ";" not in job, "the main job must be one command whose status is check's"
    words = shlex.split(job)
    assert words[:2] == ["netmem-ffi", "check"]
    return words[1:]


def test_ci_runs_the_readme_main_job() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    assert shlex.join(["netmem-ffi", *_main_job()]) in ci.splitlines()


@pytest.mark.parametrize(("running", "code", "notice"), [("good", 0, False), ("moved", 12, False),
                                                         ("old", 4, False), ("missing", 0, True)])
def test_readme_main_job_never_hides_a_mismatch(running: str, code: int, notice: bool, kernels: dict[str, str],
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The running kernel's BTF decides; the shipped references only stand in where it has none, and say so."""
    monkeypatch.setattr(cli_check, "DEFAULT_SOURCE", kernels[running])
    assert main(_main_job()) == code
    captured = capsys.readouterr()
    assert ("checking the reference kernels" in captured.err) is notice
    if notice:
        assert "reference:" in captured.out


@pytest.mark.parametrize("command", [[], ["check"], ["diff"], ["gate"], ["snapshot"]])
def test_help_epilogs_carry_the_table(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    assert " ".join(verdict.TABLE.split()) in " ".join(capsys.readouterr().out.split())
