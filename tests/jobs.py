"""The split workflow's jobs as the command line runs them (``action --mode prepare``,
``evaluate``, ``publish``), each with the environment its job would have: the prepare job's
token can only read (the local GitHub server answers 403 to a write with it) and it holds the
LM key; the evaluate job has no token and no key; the publish job holds the write token and no
key. Each job writes its own ``$GITHUB_OUTPUT`` and step summary under ``tmp_path``."""

from __future__ import annotations

import json
from pathlib import Path

from prompt_trainer.cli import main
from tests.servers.github import FakeGitHub
from tests.servers.llm import FakeLLM


def closed_pr_event(tmp_path: Path, name: str = "pull_request") -> dict[str, str]:
    """The event of merged agent PR #7 (``tests/scenarios.py``), as the runner gives it."""
    payload = {
        "action": "closed",
        "pull_request": {"number": 7, "user": {"login": "claude[bot]"}, "labels": []},
        "repository": {"default_branch": "main"},
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return {"GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(path)}


def job_env(
    github: FakeGitHub, tmp_path: Path, job: str, *, token: str | None, key: bool
) -> dict[str, str]:
    """One job's environment: its own outputs and summary, its token, the LM key or not."""
    env = {
        "GITHUB_API_URL": github.api_url,
        "GITHUB_REPOSITORY": github.full_name,
        "PROMPT_TRAINER_BACKOFF_S": "0",
        "GITHUB_OUTPUT": str(tmp_path / f"{job}.out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / f"{job}.md"),
        "PATH": "/usr/bin:/bin",
    }
    if token:
        env["GITHUB_TOKEN"] = token
    if key:
        env["OPENAI_API_KEY"] = "sk-test"
    return env


def outputs(tmp_path: Path, job: str) -> dict[str, str]:
    lines = (tmp_path / f"{job}.out").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and "<<" not in line)


def run_jobs(
    github: FakeGitHub,
    llm: FakeLLM,
    tmp_path: Path,
    event: dict[str, str],
    *,
    evaluate: bool = True,
) -> tuple[int, dict[str, str]]:
    """prepare, (evaluate), publish, as a workflow would chain them; publish's exit code."""
    prepared = prepare(github, llm, tmp_path, event)
    digest = prepared["bundle-sha256"]
    if evaluate and prepared["evaluate"] == "true":
        alone = job_env(github, tmp_path, "evaluate", token=None, key=False)
        code = main(["action", "--mode", "evaluate", "--bundle", str(tmp_path / "bundle"),
                     "--bundle-sha256", digest], env={**alone, **event})  # fmt: skip
        assert code == 0
    return publish(github, tmp_path, event, digest), prepared


def prepare(
    github: FakeGitHub, llm: FakeLLM, tmp_path: Path, event: dict[str, str]
) -> dict[str, str]:
    """The prepare job, into ``tmp_path/bundle``; its outputs (``bundle-sha256``, ``evaluate``)."""
    read = job_env(github, tmp_path, "prepare", token="test-read-token", key=True)
    read["PROMPT_TRAINER_API_BASE"] = llm.api_base
    folder = str(tmp_path / "bundle")
    assert main(["action", "--mode", "prepare", "--bundle", folder], env={**read, **event}) == 0
    return outputs(tmp_path, "prepare")


def publish(github: FakeGitHub, tmp_path: Path, event: dict[str, str], digest: str) -> int:
    """The publish job on ``tmp_path/bundle``; its exit code."""
    write = job_env(github, tmp_path, "publish", token=github.token, key=False)
    return main(["action", "--mode", "publish", "--bundle", str(tmp_path / "bundle"),
                 "--bundle-sha256", digest], env={**write, **event})  # fmt: skip
