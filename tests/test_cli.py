"""CLI habits: shell completion (executed by a real bash), --quiet and --verbose, unexpected
errors, the exit codes in --help, --help and --version without pydantic or DSPy, and the
runner's outputs (a multi-line value in the heredoc form)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from prompt_trainer import models, settings
from prompt_trainer.cli import main
from prompt_trainer.cli.commands import setup
from prompt_trainer.cli.completion import script
from prompt_trainer.cli.options import DEFAULT_CONFIG_PATH
from prompt_trainer.cli.parser import build_parser
from prompt_trainer.failure_types import FAILURE_TYPES
from tests.runner import _read_outputs
from tests.servers.github import FakeGitHub

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "basic"


def bash_complete(words: list[str], tmp_path: Path) -> list[str]:
    """COMPREPLY of the generated bash function for the command line ``words`` (the last word
    is the one being completed)."""
    path = tmp_path / "completion.bash"
    path.write_text(script("bash", build_parser()))
    line = " ".join(words)
    quoted = " ".join(f"'{w}'" for w in words)
    program = (
        f"source {path}\n"
        f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; COMP_LINE='{line}'\n"
        '_prompt_trainer; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", program], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    return [w for w in done.stdout.splitlines() if w]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["prompt-trainer", "re"], ["report-failure", "respond", "report", "replay"]),
        (["prompt-trainer", "-q", "ver"], ["versions"]),
        (["prompt-trainer", "report", "--for"], ["--format"]),
        (["prompt-trainer", "report", "--format", ""], ["markdown", "json"]),
        (["prompt-trainer", "report-failure", "--type", "pl"], ["planning_error"]),
        (["prompt-trainer", "action", "--mode", "re"], ["report", "revise"]),
        (["prompt-trainer", "completion", ""], ["bash", "zsh", "fish"]),
        (["prompt-trainer", "run", "--pr", ""], []),
        (["prompt-trainer", "collect", "--lo"], ["--local"]),
    ],
)
def test_bash_completion(words: list[str], expected: list[str], tmp_path: Path) -> None:
    assert sorted(bash_complete(words, tmp_path)) == sorted(expected)


def test_bash_completes_paths_for_path_options(tmp_path: Path) -> None:
    (tmp_path / "evidence").mkdir()
    assert bash_complete(["prompt-trainer", "run", "--local", "evi"], tmp_path) == ["evidence"]
    assert bash_complete(["prompt-trainer", "inspect", "evi"], tmp_path) == ["evidence"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts(shell: str) -> None:
    text = script(shell, build_parser())
    if shell == "fish":
        assert "complete -c prompt-trainer -n '__fish_use_subcommand' -a versions" in text
        assert "-l type -x -a 'planning_error integration_error" in text
    else:
        assert text.startswith("#compdef prompt-trainer") and "bashcompinit" in text
    binary = shutil.which(shell)
    if binary is None:
        pytest.skip(f"{shell} is not installed: syntax not checked")
    subprocess.run([binary, "-n", "-c", text], check=True)
    if shell == "fish":  # fish completes a command line for us: check what it offers
        asked = "complete -C 'prompt-trainer report-failure --type pl'"
        done = subprocess.run(
            [binary, "-c", f"{text}\n{asked}"], capture_output=True, text=True, check=True
        )
        assert done.stdout.split("\t")[0] == "planning_error"


def test_completion_install_writes_where_the_shell_looks(tmp_path: Path) -> None:
    assert main(["completion", "fish", "--install"], env={"HOME": str(tmp_path)}) == 0
    installed = tmp_path / ".config" / "fish" / "completions" / "prompt-trainer.fish"
    assert installed.read_text() == script("fish", build_parser())


def test_quiet_keeps_results_and_drops_progress(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", "--local", "evidence"], env={}) == 0
    loud = capsys.readouterr()
    assert main(["collect", "-q", "--local", "evidence"], env={}) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out.splitlines()[0] == loud.out.splitlines()[0]  # results
    report = ["report-failure", "--pr", "101", "--type", "scope", "--description", "x"]
    assert main(report, env={}) == 0
    assert "recorded failure:local:pr-101#1" in capsys.readouterr().err
    assert main(["-q", *report], env={}) == 0
    assert capsys.readouterr().err == ""
    assert main(["-q", "report", "--history", "none", "--json"], env={}) == 0
    assert capsys.readouterr().out.startswith("[")


def test_errors_are_printed_even_when_quiet(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            ["report-failure", "-q", "--pr", "999", "--type", "other", "--description", "x"], env={}
        )
        == 2
    )
    assert "no stored sample for PR #999" in capsys.readouterr().err


def test_verbose_shows_each_github_request(
    github: FakeGitHub, github_env: dict[str, str], ready: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", "--pr", "7", "--verbose"], env=github_env) == 0
    err = capsys.readouterr().err
    assert "prompt-trainer: debug: github" in err and "/pulls/7" in err
    assert main(["collect", "--pr", "7"], env=github_env) == 0
    assert "debug:" not in capsys.readouterr().err  # the handler does not outlive the run


def test_an_unexpected_error_is_one_line_unless_verbose(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: object) -> int:
        raise KeyError("boom")

    monkeypatch.setattr(setup, "cmd_schema", broken)
    assert main(["schema"], env={}) == 1
    err = capsys.readouterr().err
    assert "unexpected KeyError: 'boom'" in err and "--verbose" in err
    assert "Traceback" not in err
    with pytest.raises(KeyError):
        main(["schema", "-v"], env={})


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"], env={})
    out = capsys.readouterr().out
    for code in ("0  success", "2  invalid configuration", "3  GitHub API", "4  LLM failure"):
        assert code in out


def collected_with_a_run(example: Path) -> None:
    """The example's evidence collected, and one finished run on record."""
    assert main(["collect", "--local", "evidence"], env={}) == 0
    (example / ".prompt-trainer" / "runs" / "20261121T000000Z").mkdir(parents=True)
    (example / ".prompt-trainer" / "runs" / "20261121T000000Z" / "status.json").write_text(
        '{"command": "run", "state": "done"}'
    )


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--history", "none"],
        ["versions", "--history", "none"],
        ["runs"],
        ["doctor", "--offline"],
        ["inspect", "evidence/pr-101"],
    ],
)
def test_every_read_command_prints_json(
    example: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    collected_with_a_run(example)
    capsys.readouterr()
    main([*command, "--json"], env={})
    out = capsys.readouterr().out
    assert out.strip()
    if command[0] == "report":
        assert isinstance(json.loads(out), list)
    else:
        assert all(isinstance(json.loads(line), dict) for line in out.splitlines())


#: Runs the CLI in a fresh interpreter, then prints which heavy packages it imported.
IMPORTED = """
import json, sys
from prompt_trainer.cli import main
try:
    main(sys.argv[1:], env={})
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"pydantic", "dspy", "github", "yaml"})
print("\\nimported:", json.dumps(heavy))
"""


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], ["run", "--help"], ["report-failure", "--help"], []],
)
def test_help_and_version_import_neither_pydantic_nor_dspy(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED, *argv], capture_output=True, text=True, check=True
    )
    text, _, imported = done.stdout.rpartition("\nimported: ")
    assert json.loads(imported) == []
    assert text.startswith("prompt-trainer 0.1.0" if argv == ["--version"] else "usage:")


def test_the_defaults_help_shows_are_the_settings_and_models_values() -> None:
    assert settings.DEFAULT_CONFIG_PATH == DEFAULT_CONFIG_PATH
    assert get_args(models.FailureType) == FAILURE_TYPES


def test_a_multi_line_output_value_cannot_add_an_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo\ninjected=1"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".prompt-trainer"))
    monkeypatch.chdir(root)
    output = tmp_path / "output"
    assert main(["train"], env={"GITHUB_OUTPUT": str(output)}) == 0
    (run,) = (root / ".prompt-trainer" / "runs").iterdir()
    assert _read_outputs(output) == {"run-dir": str(run), "run-id": run.name}


class ClosedPipe:
    """A stdout whose reader went away: every write fails as a closed pipe does."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--history", "none"],
        ["report", "--history", "none", "--format", "json"],
        ["versions", "--history", "none"],
        ["runs"],
        ["doctor", "--offline", "--json"],
        ["inspect", "evidence/pr-101"],
        ["evidence"],
        ["samples", "ls"],
        ["collect", "--local", "evidence"],
        ["schema"],
        ["completion", "bash"],
        ["run", "--local", "evidence", "--dry-run"],
    ],
)
def test_a_closed_pipe_ends_every_command_quietly_with_141(
    example: Path,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collected_with_a_run(example)
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(command, env={}) == 141
    err = capsys.readouterr().err
    assert "BrokenPipeError" not in err and "bug" not in err


@pytest.mark.parametrize(
    "command", [["doctor", "--json", "--offline"], ["evidence"], ["report", "--history", "none"]]
)
def test_a_real_closed_pipe_exits_141_without_a_traceback(
    example: Path, command: list[str]
) -> None:
    assert main(["collect", "--local", "evidence"], env={}) == 0
    read, write = os.pipe()
    os.close(read)  # `| head` that has already read all it wanted
    try:
        done = subprocess.run(
            [sys.executable, "-m", "prompt_trainer", *command],
            stdout=write, stderr=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == ""
