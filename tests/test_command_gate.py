"""No configured command runs in a process that holds a secret on a runner: every entry point
(``prompt-trainer replay``, the evaluate job, a single job, GEPA's replay metric) gets its
commands' environment from ``Settings.command_env``, which refuses there; which names count as
held (``commandenv.held_secrets``) and when a process is on a runner (``commandenv.on_runner``);
and the evaluate job stops before any command when its own environment holds a secret."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from prompt_trainer import replay
from prompt_trainer.cli import main
from prompt_trainer.errors import ConfigError
from prompt_trainer.loop.bundle import commands_barred
from prompt_trainer.settings import Settings, parse_config
from prompt_trainer.store import open_ledger
from tests.jobs import closed_pr_event, job_env, prepare
from tests.scenarios import CONFIG
from tests.servers.github import FakeGitHub
from tests.servers.llm import FakeLLM
from tests.test_replay import candidate_dir, make_repo, sample
from tests.test_split import use_eval_command

SRC = Path(__file__).resolve().parents[1] / "src" / "prompt_trainer"
RUNNER = {"GITHUB_ACTIONS": "true", "PATH": "/usr/bin:/bin"}


def barred_with(env: dict[str, str], config: str = CONFIG) -> str:
    settings = Settings.of(parse_config(config, source="x"), env, path=Path("x"))
    return commands_barred(settings)


@pytest.mark.parametrize(
    "name",
    [
        "GITHUB_TOKEN", "OPENAI_API_KEY", "GH_TOKEN", "GITHUB_PAT", "AZURE_OPENAI_KEY",
        "AWS_SECRET_ACCESS_KEY", "ANTHROPIC_AUTH_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_RUNTIME_TOKEN", "INPUT_GITHUB-TOKEN", "PGPASSWORD",
    ],
)  # fmt: skip
def test_any_variable_named_like_a_secret_bars_commands_on_a_runner_and_is_named(
    name: str,
) -> None:
    why = barred_with({**RUNNER, name: "canary-value-1234"})
    assert f"holds {name}," in why
    assert "canary-value-1234" not in why  # names only, never values


@pytest.mark.parametrize(
    "runner", [{"CI": "true"}, {"CI": "1"}, {"GITHUB_ACTIONS": "True"}, {"CI": "TRUE"}]
)
def test_ci_true_without_github_actions_and_any_case_count_as_a_runner(
    runner: dict[str, str],
) -> None:
    assert "GITHUB_TOKEN" in barred_with({**runner, "GITHUB_TOKEN": "ghs_x"})


def test_outside_a_runner_and_with_empty_or_runner_settings_nothing_is_barred() -> None:
    assert barred_with({"GITHUB_TOKEN": "ghs_x", "CI": "false"}) == ""
    not_secrets = {
        "GITHUB_TOKEN": "",  # the evaluate job's blanked token
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.actions.example",
        "ACTIONS_STEP_DEBUG": "true",
        "GITHUB_SHA": "abc",
        "RUNNER_TEMP": "/tmp",
    }
    assert barred_with({**RUNNER, **not_secrets}) == ""


def test_a_key_named_in_eval_pass_env_is_passed_on_purpose_and_not_held() -> None:
    config = CONFIG.replace("training:\n", "training:\n  eval_pass_env: [ANTHROPIC_API_KEY]\n")
    assert barred_with({**RUNNER, "ANTHROPIC_API_KEY": "sk-ant"}, config) == ""
    why = barred_with({**RUNNER, "ANTHROPIC_API_KEY": "sk-ant", "GH_TOKEN": "x"}, config)
    assert "holds GH_TOKEN," in why and "ANTHROPIC" not in why


def replay_repo(tmp_path: Path) -> tuple[Path, Path]:
    """The replay scenario whose agent first writes a canary file: it must never be written."""
    repo = make_repo(tmp_path)
    canary = tmp_path / "agent-ran"
    path = repo / ".github/prompt-trainer.yml"
    config = json.loads(path.read_text())
    config["replay"]["agent_command"] = (
        f"touch {shlex.quote(str(canary))}; " + config["replay"]["agent_command"]
    )
    path.write_text(json.dumps(config))
    open_ledger(repo).upsert([sample(repo, 1), sample(repo, 2)])
    return repo, canary


def test_prompt_trainer_replay_on_a_runner_with_the_token_and_key_refuses_and_runs_no_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, canary = replay_repo(tmp_path)
    monkeypatch.chdir(repo)
    env = {**RUNNER, "GITHUB_TOKEN": "ghs_CANARY", "OPENAI_API_KEY": "sk-CANARY"}
    code = main(["replay", "--target", "coder", "--candidate", str(candidate_dir(tmp_path)),
                 "-q"], env=env)  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and not canary.exists()
    assert "GITHUB_TOKEN, OPENAI_API_KEY" in err and "evaluate job" in err
    assert "eval_pass_env" in err and "CANARY" not in err


def test_every_entry_point_that_runs_the_replay_refuses_in_a_process_holding_a_secret(
    tmp_path: Path,
) -> None:
    """The library entry points the CLI, a single job and GEPA's replay metric use."""
    repo, canary = replay_repo(tmp_path)
    env = {**RUNNER, "GH_TOKEN": "ghp_x"}
    settings = Settings.load(repo / ".github/prompt-trainer.yml", env, root=repo)
    target = settings.target("coder")
    _, files = replay.load_candidate(repo, target, candidate_dir(tmp_path))
    samples = open_ledger(repo).load()
    with pytest.raises(ConfigError, match="holds GH_TOKEN"):
        replay.replay(settings, target, files, samples, log=lambda _: None)
    with pytest.raises(ConfigError, match="holds GH_TOKEN"):
        replay.replayer(settings, target, log=lambda _: None)
    with pytest.raises(ConfigError, match="holds GH_TOKEN"):
        settings.command_env()
    assert not canary.exists()


def callers(pattern: str) -> set[str]:
    found = re.compile(pattern)
    return {
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if found.search(path.read_text(encoding="utf-8"))
    }


def test_every_command_gets_its_environment_from_settings_command_env_only() -> None:
    """The walk over the code: a command starts only in ``shellcmd.run_in_group`` (called by the
    eval command and the replay's runner, from an ``env`` they are handed), and that ``env`` is
    made only by ``Settings.command_env``, which refuses on a runner holding a secret. A new
    place that starts a process or builds a command's environment shows up here."""
    assert callers(r"\brun_in_group\(") == {
        "shellcmd.py", "evaluate/command.py", "replay/runner.py"
    }  # fmt: skip
    assert callers(r"\bcommand_environment\(") == {"commandenv.py", "settings.py"}
    assert callers(r"\.command_env\(") == {"evaluate/__init__.py", "replay/__init__.py"}
    assert callers(r"\brun_eval_command\(") == {"evaluate/command.py", "evaluate/__init__.py"}
    assert callers(r"\bcommands_of\(") == {"replay/__init__.py"}
    shell = callers(r"shell\s*=\s*True|create_subprocess_shell|os\.system\(")
    assert shell <= {"shellcmd.py"}


def evaluate_job(github: FakeGitHub, llm: FakeLLM, tmp_path: Path, **extra: str) -> int:
    event = closed_pr_event(tmp_path)
    prepared = prepare(github, llm, tmp_path, event)
    assert prepared["evaluate"] == "true"
    alone = job_env(github, tmp_path, "evaluate", token=None, key=False)
    return main(["action", "--mode", "evaluate", "--bundle", str(tmp_path / "bundle"),
                 "--bundle-sha256", prepared["bundle-sha256"]],
                env={**alone, **event, "GITHUB_ACTIONS": "true", "GITHUB_TOKEN": "", **extra})  # fmt: skip


def test_the_evaluate_job_holding_a_workflow_level_secret_stops_before_any_command(
    github: FakeGitHub, llm: FakeLLM, ready: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    canary = tmp_path / "command-ran"
    use_eval_command(github, ready, f"touch {shlex.quote(str(canary))}")
    code = evaluate_job(github, llm, tmp_path, OPENAI_API_KEY="sk-CANARY", GH_TOKEN="ghp_CANARY")
    err = capsys.readouterr().err
    assert code == 2 and not canary.exists()
    assert "the evaluate job holds GH_TOKEN, OPENAI_API_KEY" in err
    assert "train (prepare) or publish job" in err and "eval_pass_env" in err
    assert "CANARY" not in err
    assert not (tmp_path / "bundle" / "evaluation.json").exists()


def test_the_evaluate_job_runs_with_a_key_eval_pass_env_names_and_a_blank_token(
    github: FakeGitHub, llm: FakeLLM, ready: Path, tmp_path: Path
) -> None:
    canary = tmp_path / "command-ran"
    command = f'touch {shlex.quote(str(canary))}; printf "<testsuite tests=\\"1\\"><testcase name=\\"a\\"/></testsuite>" > "$PROMPT_TRAINER_JUNIT"'
    use_eval_command(github, ready, command)
    config = (ready / ".github/prompt-trainer.yml").read_text()
    config = config.replace("training:\n", "training:\n  eval_pass_env: [ANTHROPIC_API_KEY]\n")
    (ready / ".github/prompt-trainer.yml").write_text(config)
    github.commit({".github/prompt-trainer.yml": config}, parent=github.refs["heads/main"],
                  branch="main")  # fmt: skip
    assert evaluate_job(github, llm, tmp_path, ANTHROPIC_API_KEY="sk-ant-agent") == 0
    assert canary.exists()
