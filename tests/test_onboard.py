"""`prompt-trainer init` (detection, the files it writes, the upload-step diff, --force and
--dry-run) and `prompt-trainer doctor` (each check, offline and against the local GitHub and LM
servers)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from prompt_trainer.cli import main
from prompt_trainer.settings import Settings
from tests.servers.github import FakeGitHub
from tests.servers.llm import FakeLLM

AGENT_WORKFLOW = """\
name: claude
on:
  issue_comment:
    types: [created]
jobs:
  claude:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: claude
        uses: anthropics/claude-code-action@v1
        with:
          anthropic_api_key: ${{ secrets.ANTHROPIC_API_KEY }}
    env:
      FOO: bar
"""
CI_WORKFLOW = """\
name: ci
on: [push]
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
    - run: ruff check .
  test:
    runs-on: ubuntu-latest
    steps:
    - uses: actions/checkout@v4
    - run: pytest -q

  build:
    runs-on: ubuntu-latest
    steps:
      - run: make
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / ".claude" / "agents").mkdir(parents=True)
    (root / "CLAUDE.md").write_text("# Rules\n- Use Decimal for money.\n")
    (root / ".claude" / "agents" / "reviewer.md").write_text(
        "---\nname: reviewer\ndescription: Reviews diffs.\n---\nReview carefully.\n"
    )
    (root / "AGENTS.md").write_text("# Agents\n")
    (root / "prompts").mkdir()
    (root / "prompts" / "Plan Step.md").write_text("Plan first.\n")
    workflows = root / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "claude.yml").write_text(AGENT_WORKFLOW)
    (workflows / "ci.yml").write_text(CI_WORKFLOW)
    monkeypatch.chdir(root)
    return root


def test_init_detects_the_setup_and_writes_a_valid_config_and_workflow(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--action-ref", "acme/prompt-trainer@v1"], env={}) == 0
    config = (repo / ".github" / "prompt-trainer.yml").read_text()
    assert config.startswith("# prompt-trainer configuration")
    settings = Settings.load(repo / ".github" / "prompt-trainer.yml", {}, root=repo)
    targets = [(t.name, t.main, t.subagents) for t in settings.config.targets]
    assert targets == [
        ("claude", "CLAUDE.md", ".claude/agents"),
        ("agents", "AGENTS.md", None),
        ("plan-step", "prompts/Plan Step.md", None),
    ]
    assert settings.config.agent.authors == ("claude[bot]",)  # from claude-code-action
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "prompt-trainer.yml").read_text())
    assert workflow["permissions"] == {}
    train = workflow["jobs"]["train"]["permissions"]
    assert train == {
        "contents": "write",
        "pull-requests": "write",
        "issues": "write",
        "actions": "read",
    }
    assert set(workflow[True]) == {  # PyYAML reads the key `on` as True
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "issue_comment",
        "schedule",
        "workflow_dispatch",
    }
    uses = [s["uses"] for s in workflow["jobs"]["train"]["steps"]]
    assert uses[-1] == "acme/prompt-trainer@v1"
    assert (repo / ".gitignore").read_text() == ".prompt-trainer/\n"
    actionlint = shutil.which("actionlint")
    if actionlint:
        subprocess.run([actionlint, ".github/workflows/prompt-trainer.yml"], check=True)


def test_init_prints_the_upload_steps_as_a_diff_that_applies(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init"], env={}) == 0
    diff = capsys.readouterr().out
    assert "--- a/.github/workflows/claude.yml" in diff
    assert "--- a/.github/workflows/ci.yml" in diff
    subprocess.run(["git", "init", "-q"], check=True)
    subprocess.run(["git", "apply", "-"], input=diff, text=True, check=True)
    claude = yaml.safe_load((repo / ".github/workflows/claude.yml").read_text())
    steps = claude["jobs"]["claude"]["steps"]
    assert steps[-1]["with"]["path"] == "${{ steps.claude.outputs.execution_file }}"
    assert steps[-1]["with"]["name"] == "claude-execution-output"
    assert claude["jobs"]["claude"]["env"] == {"FOO": "bar"}  # keys after steps: untouched
    ci = yaml.safe_load((repo / ".github/workflows/ci.yml").read_text())
    assert ci["jobs"]["test"]["steps"][-1]["with"]["name"] == "junit-results"
    assert len(ci["jobs"]["lint"]["steps"]) == 1  # runs no tests
    assert len(ci["jobs"]["build"]["steps"]) == 1
    settings = Settings.load(repo / ".github" / "prompt-trainer.yml", {}, root=repo)
    from prompt_trainer.collect.github_pr import artifact_kind  # noqa: PLC0415

    globs = settings.config.artifacts
    assert artifact_kind("claude-execution-output", globs) == "traces"
    assert artifact_kind("junit-results", globs) == "junit"
    # Applied, the steps are there: a second init proposes nothing more.
    assert main(["init", "--force"], env={}) == 0
    assert capsys.readouterr().out == ""


def test_init_keeps_existing_files_unless_forced_and_dry_run_writes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo / ".github" / "prompt-trainer.yml"
    config.write_text("# mine\n")
    assert main(["init", "--dry-run"], env={}) == 0
    out = capsys.readouterr().out
    assert "===== .github/prompt-trainer.yml =====" in out
    assert "===== .github/workflows/prompt-trainer.yml =====" in out
    assert config.read_text() == "# mine\n"
    assert not (repo / ".github" / "workflows" / "prompt-trainer.yml").exists()
    assert not (repo / ".gitignore").exists()
    assert main(["init"], env={}) == 0
    assert "prompt-trainer.yml exists; kept (--force overwrites it)" in capsys.readouterr().err
    assert config.read_text() == "# mine\n"
    assert main(["init", "--force"], env={}) == 0
    assert config.read_text().startswith("# prompt-trainer configuration")


def test_init_in_an_empty_repository_says_what_to_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"], env={}) == 0
    err = capsys.readouterr().err
    assert "no prompt file found" in err and "no agent or test workflow" in err
    assert "main: CLAUDE.md" in (tmp_path / ".github" / "prompt-trainer.yml").read_text()


# --- doctor --------------------------------------------------------------------------------


def doctor(args: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Any:
    code = main(["doctor", "--json", *args], env=env)
    checks = {c["name"]: c for c in map(json.loads, capsys.readouterr().out.splitlines())}
    return code, checks


def test_doctor_offline_checks_config_prompts_and_workflow(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--action-ref", "acme/prompt-trainer@v1"], env={}) == 0
    capsys.readouterr()
    code, checks = doctor(["--offline"], {}, capsys)
    assert code == 0
    assert {n: c["status"] for n, c in checks.items()} == {
        "config": "ok",
        "prompts: claude": "ok",
        "prompts: agents": "ok",
        "prompts: plan-step": "ok",
        "workflow": "ok",
        "github": "skipped",
        "data branch": "skipped",
        "model": "skipped",
        "artifacts": "skipped",
    }
    (repo / "AGENTS.md").unlink()
    workflow = repo / ".github" / "workflows" / "prompt-trainer.yml"
    workflow.write_text(workflow.read_text().replace("      issues: write", "      #"))
    code, checks = doctor(["--offline"], {}, capsys)
    assert code == 2
    assert checks["prompts: agents"]["status"] == "fail"
    assert "AGENTS.md" in checks["prompts: agents"]["detail"]
    assert checks["workflow"]["status"] == "warn"
    assert "issues: write" in checks["workflow"]["detail"]
    assert main(["doctor", "--offline"], env={}) == 2
    text = capsys.readouterr().out
    assert "[FAIL] prompts: agents" in text and "fix:" in text


def test_doctor_flags_a_bad_config_and_the_placeholder_action(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init"], env={}) == 0
    capsys.readouterr()
    code, checks = doctor(["--offline"], {}, capsys)
    assert code == 2 and checks["workflow"]["status"] == "fail"
    assert "OWNER/prompt-trainer" in checks["workflow"]["fix"]
    (repo / ".github" / "prompt-trainer.yml").write_text("targets: many\n")
    code, checks = doctor(["--offline"], {}, capsys)
    assert code == 2 and checks["config"]["status"] == "fail"
    assert "targets" in checks["config"]["detail"]


def test_doctor_online_against_github_and_the_model(
    github: FakeGitHub,
    llm: FakeLLM,
    env: dict[str, str],
    ready: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    llm.script = [lambda request: "ok"]
    code, checks = doctor([], env, capsys)
    assert checks["github"]["status"] == "ok"
    assert checks["data branch"]["detail"].endswith("does not exist yet; the first run creates it")
    assert checks["model"]["status"] == "ok"
    ping = llm.requests[-1]
    assert ping.get("max_tokens", ping.get("max_completion_tokens")) == 1
    assert checks["artifacts"]["status"] == "warn"  # PR #7 has JUnit reports but no trace
    assert "#7: junit)" in checks["artifacts"]["detail"]
    assert checks["workflow"]["status"] == "warn" and code == 0
    # The token cannot write, and the model is down.
    github.permissions = {"admin": False, "push": False, "pull": True}
    llm.fail_next, llm.fail_status = 5, 401
    code, checks = doctor([], env, capsys)
    assert code == 2
    assert checks["github"]["status"] == "fail" and "cannot write" in checks["github"]["detail"]
    assert checks["model"]["status"] == "fail"


def test_doctor_without_a_token_or_key_says_so(
    checkout: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(checkout)
    code, checks = doctor([], {}, capsys)
    assert code == 0
    assert checks["github"]["status"] == "skipped"
    assert checks["model"]["status"] == "warn" and "OPENAI_API_KEY" in checks["model"]["fix"]
