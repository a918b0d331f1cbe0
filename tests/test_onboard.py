"""`prompt-trainer init` (detection, the files it writes, the upload-step diff, --force and
--dry-run) and `prompt-trainer doctor` (each check, offline and against the local GitHub and LM
servers)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from prompt_trainer.cli import main
from prompt_trainer.settings import Settings
from tests.scenarios import arrange
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
    jobs = workflow["jobs"]
    # The LLM key and the write token are in different jobs (docs/workflows.md).
    assert jobs["train"]["permissions"] == {
        "contents": "read",
        "pull-requests": "read",
        "issues": "read",
        "actions": "read",
    }
    assert jobs["publish"]["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
        "issues": "write",
    }
    assert jobs["evaluate"]["permissions"] == {"contents": "read"}
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
        "uploads: junit": "warn",  # the printed diff is not applied yet
        "uploads: traces": "warn",
        "github": "skipped",
        "rate budget": "skipped",
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


def test_doctor_warns_when_a_configured_command_has_no_job_of_its_own(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A single job that holds the write token refuses to run eval_command; the workflow
    `init` writes runs it in its evaluate job."""
    assert main(["init", "--action-ref", "acme/prompt-trainer@v1"], env={}) == 0
    capsys.readouterr()
    config = repo / ".github" / "prompt-trainer.yml"
    config.write_text(
        config.read_text().replace("training:\n", "training:\n  eval_command: make eval\n")
    )
    _code, checks = doctor(["--offline"], {}, capsys)
    assert checks["workflow: commands"]["status"] == "ok"
    workflow = repo / ".github" / "workflows" / "prompt-trainer.yml"
    workflow.write_text(workflow.read_text().replace("mode: evaluate", "mode: auto"))
    _code, checks = doctor(["--offline"], {}, capsys)
    check = checks["workflow: commands"]
    assert check["status"] == "warn" and "training.eval_command" in check["detail"]
    assert "train, evaluate and publish" in check["fix"]


def test_doctor_says_what_gepas_replay_metric_needs_in_the_evaluate_job(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The replay-scored search runs in the evaluate job: its reflection model must be named,
    its key named in training.eval_pass_env, and mapped in that job's env."""
    assert main(["init", "--action-ref", "acme/prompt-trainer@v1"], env={}) == 0
    capsys.readouterr()
    config = repo / ".github" / "prompt-trainer.yml"
    start = config.read_text()
    config.write_text(
        start.replace("training:\n", "training:\n  strategy: gepa\n  gepa: {metric: replay}\n")
        + "replay:\n  agent_command: claude -p task\n  test_command: make test\n"
    )
    check = doctor(["--offline"], {}, capsys)[1]["gepa: replay metric"]
    assert check["status"] == "fail"
    assert "training.gepa.reflection_model is not set" in check["detail"]
    config.write_text(
        config.read_text().replace(
            "gepa: {metric: replay}",
            "gepa: {metric: replay, reflection_model: anthropic/claude-sonnet-4-5}\n"
            "  eval_pass_env: [ANTHROPIC_API_KEY]",
        )
    )
    check = doctor(["--offline"], {}, capsys)[1]["gepa: replay metric"]
    assert check["status"] == "warn" and "maps ANTHROPIC_API_KEY" in check["detail"]
    workflow = repo / ".github" / "workflows" / "prompt-trainer.yml"
    workflow.write_text(
        workflow.read_text().replace("        # env:\n        #   ", "        env:\n          ")
    )
    check = doctor(["--offline"], {}, capsys)[1]["gepa: replay metric"]
    assert check["status"] == "ok", check
    assert "anthropic/claude-sonnet-4-5 on ANTHROPIC_API_KEY" in check["detail"]


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
    assert checks["rate budget"]["status"] == "ok"
    assert checks["rate budget"]["detail"].startswith("4,99")  # of 5,000: a few reads so far
    assert "a backfill keeps 200 for the run's writes" in checks["rate budget"]["detail"]
    assert checks["data branch"]["detail"].endswith("does not exist yet; the first run creates it")
    assert checks["model"]["status"] == "ok"
    ping = llm.requests[-1]
    assert ping.get("max_tokens", ping.get("max_completion_tokens")) == 1
    assert checks["artifacts"]["status"] == "warn"  # PR #7 has JUnit reports but no trace
    assert "#7: junit)" in checks["artifacts"]["detail"]
    assert checks["workflow"]["status"] == "warn" and code == 0
    # The token cannot write, its budget is spent, and the model is down.
    github.permissions = {"admin": False, "push": False, "pull": True}
    github.rate.used = github.rate.limit - 150
    llm.fail_next, llm.fail_status = 5, 401
    code, checks = doctor([], env, capsys)
    assert code == 2
    assert checks["github"]["status"] == "fail" and "cannot write" in checks["github"]["detail"]
    assert checks["rate budget"]["status"] == "warn"
    assert "a backfill now would collect nothing" in checks["rate budget"]["detail"]
    assert checks["model"]["status"] == "fail"


def test_doctor_without_a_token_or_key_says_so(
    checkout: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(checkout)
    code, checks = doctor([], {}, capsys)
    assert code == 0
    assert checks["github"]["status"] == "skipped"
    assert checks["model"]["status"] == "warn" and "OPENAI_API_KEY" in checks["model"]["fix"]


# --- init on real repositories -------------------------------------------------------------

MATRIX_WORKFLOW = """\
name: tests
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.11", "3.12", "3.13"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python-version }}
      - name: Install pytest
        run: pip install pytest
      - name: Run the tests
        run: |
          python -m pytest -q tests/
  js:
    runs-on: ubuntu-latest
    steps:
      - run: npx jest --ci
  vite:
    runs-on: ubuntu-latest
    steps:
      - run: npx vitest run
  go:
    runs-on: ubuntu-latest
    steps:
      - run: go test -race ./...
  rust:
    runs-on: ubuntu-latest
    steps:
      - run: cargo test --workspace
  java:
    runs-on: ubuntu-latest
    steps:
      - run: mvn -B verify
  kotlin:
    runs-on: ubuntu-latest
    steps:
      - run: ./gradlew test
"""
CLAUDE_NO_ID = """\
name: claude
on:
  issue_comment:
    types: [created]
jobs:
  claude:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: anthropics/claude-code-action@v1
        with:
          anthropic_api_key: ${{ secrets.ANTHROPIC_API_KEY }}
"""


@pytest.fixture
def real_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository shaped like a real one: ``CLAUDE.md -> AGENTS.md``, subagents, a test
    workflow with a Python matrix and jobs of other tools, claude-code-action without an id."""
    root = tmp_path / "real"
    (root / ".claude" / "agents").mkdir(parents=True)
    (root / "AGENTS.md").write_text("# Rules\n")
    (root / "CLAUDE.md").symlink_to("AGENTS.md")
    (root / ".claude" / "agents" / "reviewer.md").write_text("---\nname: reviewer\n---\nR.\n")
    workflows = root / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "tests.yml").write_text(MATRIX_WORKFLOW)
    (workflows / "claude.yml").write_text(CLAUDE_NO_ID)
    monkeypatch.chdir(root)
    return root


def test_init_makes_one_target_of_a_linked_prompt_file(
    real_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init"], env={}) == 0
    settings = Settings.load(real_repo / ".github" / "prompt-trainer.yml", {}, root=real_repo)
    targets = [(t.name, t.main, t.subagents) for t in settings.config.targets]
    assert targets == [("claude", "AGENTS.md", ".claude/agents")]
    config = (real_repo / ".github" / "prompt-trainer.yml").read_text()
    assert "CLAUDE.md links to it" in config


def apply_init_diff(root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["init"], env={}) == 0
    diff = capsys.readouterr().out
    subprocess.run(["git", "init", "-q"], check=True, cwd=root)
    subprocess.run(["git", "apply", "-"], input=diff, text=True, check=True, cwd=root)
    return diff


def valid_workflow(path: Path) -> dict[str, Any]:
    checker = Path(sys.executable).with_name("check-jsonschema")
    subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(path)],
        check=True,
        capture_output=True,
    )
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def test_init_diff_makes_each_test_tool_write_junit_and_uploads_unique_names(
    real_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_init_diff(real_repo, capsys)
    jobs = valid_workflow(real_repo / ".github" / "workflows" / "tests.yml")["jobs"]
    runs = {name: [s.get("run", "") for s in job["steps"]] for name, job in jobs.items()}
    assert "python -m pytest --junitxml=test-results/junit.xml -q tests/" in runs["test"][3]
    assert runs["test"][2] == "pip install pytest"  # installing is not running
    assert runs["js"][0] == (
        "JEST_JUNIT_REPORT_TEST_SUITE_ERRORS=true npx jest --reporters=default "
        "--reporters=jest-junit --ci"
    )
    assert "--reporter=junit --outputFile.junit=test-results/junit.xml" in runs["vite"][0]
    assert runs["go"][0].startswith("go run gotest.tools/gotestsum@v1.12.0 --junitfile")
    assert runs["go"][0].endswith("-- -race ./...")
    assert "cargo nextest run --profile ci --workspace" in runs["rust"][0]
    assert (real_repo / ".config" / "nextest.toml").read_text().count("[profile.ci.junit]") == 1
    uploads = {name: job["steps"][-1]["with"] for name, job in jobs.items()}
    assert uploads["java"]["path"] == "**/target/surefire-reports/*.xml"
    assert uploads["kotlin"]["path"] == "**/build/test-results/**/*.xml"
    assert uploads["js"]["path"] == "junit.xml"
    # One name per job and per matrix entry, as upload-artifact v4 requires.
    matrix = jobs["test"]["strategy"]["matrix"]["python-version"]
    names = [
        u["name"].replace("${{ strategy.job-index }}", str(i))
        for job, u in uploads.items()
        for i in range(len(matrix) if job == "test" else 1)
    ]
    assert len(names) == len(set(names)) == len(jobs) + len(matrix) - 1
    assert uploads["test"]["name"] == "junit-results-test-${{ strategy.job-index }}"
    settings = Settings.load(real_repo / ".github" / "prompt-trainer.yml", {}, root=real_repo)
    from prompt_trainer.collect.github_pr import artifact_kind  # noqa: PLC0415

    assert {artifact_kind(n, settings.config.artifacts) for n in names} == {"junit"}
    assert main(["init", "--force"], env={}) == 0  # applied: nothing more to propose
    assert capsys.readouterr().out == ""


def test_init_diff_gives_the_claude_step_its_id(
    real_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_init_diff(real_repo, capsys)
    steps = valid_workflow(real_repo / ".github" / "workflows" / "claude.yml")["jobs"]["claude"][
        "steps"
    ]
    assert steps[1]["id"] == "claude" and "claude-code-action" in steps[1]["uses"]
    assert steps[-1]["with"]["path"] == "${{ steps.claude.outputs.execution_file }}"


def test_doctor_reports_two_targets_on_one_file(
    real_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = real_repo / ".github" / "prompt-trainer.yml"
    config.write_text(
        "targets:\n  - name: claude\n    main: CLAUDE.md\n  - name: agents\n    main: AGENTS.md\n"
    )
    _, checks = doctor(["--offline"], {}, capsys)
    overlap = checks["prompts: overlap"]
    assert overlap["status"] == "warn"
    assert "AGENTS.md is the main file of claude, agents" in overlap["detail"]
    assert "CLAUDE.md -> AGENTS.md" in checks["prompts: links"]["detail"]


def test_doctor_reads_the_repository_from_a_github_origin(
    github: FakeGitHub,
    github_env: dict[str, str],
    checkout: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    arrange(github)
    monkeypatch.chdir(checkout)
    subprocess.run(["git", "init", "-q"], check=True)
    origin = f"git@github.com:{github.full_name}.git"
    subprocess.run(["git", "remote", "add", "origin", origin], check=True)
    env = {k: v for k, v in github_env.items() if k != "GITHUB_REPOSITORY"}
    _, checks = doctor([], env, capsys)
    assert checks["github"]["status"] == "ok"
    assert checks["github"]["detail"].startswith(f"{github.full_name} reached")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/acme/widgets.git", "acme/widgets"),
        ("https://x-access-token@github.com/acme/widgets", "acme/widgets"),
        ("ssh://git@github.com/acme/wid.gets.git", "acme/wid.gets"),
        ("git@gitlab.com:acme/widgets.git", None),
    ],
)
def test_origin_urls_that_name_a_github_repository(
    tmp_path: Path, url: str, expected: str | None
) -> None:
    from prompt_trainer.setup.doctor import origin_repository  # noqa: PLC0415

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", url], check=True)
    assert origin_repository(tmp_path) == expected


def test_doctor_without_a_repository_says_so(
    checkout: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(checkout)  # not a git repository, no GITHUB_REPOSITORY
    _, checks = doctor([], {"GITHUB_TOKEN": "t"}, capsys)
    assert "no repository" in checks["github"]["detail"]
    assert "no repository" in checks["data branch"]["detail"]
    assert "not reachable" not in checks["artifacts"]["detail"]
