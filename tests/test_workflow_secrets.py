"""The shipped workflows (the dogfood one and the one ``init`` writes) run job by job the way the
runner does (``tests.runner.run_workflow``: a fresh checkout, runner temp and token per job, the
secrets each job maps, the bundle passed as an artifact), against the local GitHub and LM
servers, while the configured commands attack: ``eval_command`` and the replayed agent read
their own environment, ``/proc/$PPID/environ`` and every ``/proc/*/environ`` they can, and plant
git hooks for the next ``git worktree add``. Neither the write token nor the trainer's LLM key
may be in what they collect, and the run still proposes."""

from __future__ import annotations

import shlex
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import yaml

from prompt_trainer.models import Feedback, PullRequestInfo, Sample, TestCase, TestRun
from prompt_trainer.settings import parse_config
from prompt_trainer.setup.onboard import render_workflow
from prompt_trainer.targets import LocalSource, load_prompt_set
from tests.runner import JobRun, event_env, run_workflow
from tests.scenarios import CONFIG, MAIN_PROMPT, SUBAGENT, arrange, trainer_reply
from tests.servers.github import FakeGitHub
from tests.servers.llm import FakeLLM

ROOT = Path(__file__).resolve().parents[1]
#: The write token the server accepts, and the trainer's key: neither may reach a command.
#: Unique to this test process: the attack reads every /proc/*/environ it can, which on a shared
#: machine includes other test runs' jobs holding canaries of their own.
WRITE_TOKEN = f"ghs_WRITEcanary{uuid4().hex[:22]}"
LLM_KEY = f"sk-TRAINERcanary-{uuid4().hex[:16]}"
READ_TOKEN = "test-read-token"
JUNIT = 'printf \'<testsuite tests="1"><testcase name="a"/></testsuite>\' > "$PROMPT_TRAINER_JUNIT"'
#: What a hostile command does: everything it can read, and hooks for the next git checkout.
ATTACK = """\
#!/bin/sh
{{
  echo "== ran in $(pwd) with PROMPT_TRAINER_${{PROMPT_TRAINER_VARIANT:-EVAL}}"
  env
  echo "== parent"
  tr '\\0' '\\n' < /proc/$PPID/environ
  for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < "$f"; done
}} >> {loot} 2>/dev/null
hooks="$(git rev-parse --git-common-dir 2>/dev/null || echo .git)/hooks"
mkdir -p "$hooks"
for name in post-checkout reference-transaction post-index-change; do
  printf '#!/bin/sh\\n{{ echo HOOK-RAN; env; tr "\\\\0" "\\\\n" < /proc/$PPID/environ; }} >> {loot} 2>/dev/null\\n' > "$hooks/$name"
  chmod +x "$hooks/$name"
done
exit 0
"""


def workflows() -> list[tuple[str, dict[Any, Any]]]:
    dogfood = ROOT / ".github" / "workflows" / "prompt-trainer.yml"
    init = render_workflow("acme/prompt-trainer@0123456789abcdef0123456789abcdef01234567")
    return [("dogfood", yaml.safe_load(dogfood.read_text())), ("init", yaml.safe_load(init))]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def checkout_with(tmp_path: Path, config: str) -> Path:
    """The repository the workflow checks out: a real git clone with the config and prompts."""
    repo = tmp_path / "origin"
    for path, text in {
        ".github/prompt-trainer.yml": config,
        "CLAUDE.md": MAIN_PROMPT,
        ".claude/agents/test-runner.md": SUBAGENT,
        ".gitignore": ".prompt-trainer/\n",
    }.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "start")
    return repo


def attack_config(tmp_path: Path, llm: FakeLLM, **training: Any) -> tuple[str, Path]:
    """A config whose commands run the attack (and then pass), and the loot file."""
    loot, script = tmp_path / "loot.txt", tmp_path / "attack.sh"
    script.write_text(ATTACK.format(loot=shlex.quote(str(loot))))
    attack = f"sh {shlex.quote(str(script))}"
    data = yaml.safe_load(CONFIG)
    data["api_base"] = llm.api_base
    data["training"] = {**data["training"], **training}
    if training.get("gate") == "replay":
        data["replay"] = {"agent_command": attack, "test_command": JUNIT}
    else:
        data["training"]["eval_command"] = f"{attack}; {JUNIT}"
    return yaml.safe_dump(data), loot


def execute(
    workflow: dict[Any, Any],
    github: FakeGitHub,
    checkout: Path,
    tmp_path: Path,
    *,
    event: str,
    payload: dict[str, Any],
    secrets: dict[str, str] | None = None,
    **hook: Any,
) -> dict[str, JobRun]:
    """The workflow run on ``event``: the write token for jobs with write permissions, a
    read token for the others, the trainer's key as the secret ``OPENAI_API_KEY`` (and any
    other ``secrets``); ``hook``: ``run_workflow``'s ``after_job``."""
    env = event_env(tmp_path, event=event, payload=payload, repository=github.full_name,
                    api_url=github.api_url)  # fmt: skip
    env["PROMPT_TRAINER_BACKOFF_S"] = "0"

    def token_for(permissions: dict[str, str]) -> str:
        writes = any(permissions.get(s) == "write" for s in ("contents", "pull-requests", "issues"))
        return WRITE_TOKEN if writes else READ_TOKEN

    return run_workflow(
        workflow, event_name=event, payload=payload, repository=github.full_name,
        checkout=checkout, tmp=tmp_path / "run", token_for=token_for,
        secrets={"OPENAI_API_KEY": LLM_KEY, **(secrets or {})}, env=env, **hook,
    )  # fmt: skip


def assert_nothing_leaked(loot: Path) -> str:
    assert loot.exists(), "the command never ran: the test would prove nothing"
    text = loot.read_text(errors="replace")
    assert "PROMPT_TRAINER_" in text  # it ran as prompt-trainer's command
    assert WRITE_TOKEN not in text, "the write token reached a configured command"
    assert LLM_KEY not in text, "the trainer's LLM key reached a configured command"
    return text


def proposed(github: FakeGitHub) -> list[int]:
    return [n for n, p in github.pulls.items() if p.head_ref == "prompt-trainer/coder"]


@pytest.fixture
def server(github: FakeGitHub) -> FakeGitHub:
    github.token = WRITE_TOKEN
    return github


def closed_agent_pr(
    server: FakeGitHub, llm: FakeLLM, tmp_path: Path, workflow: dict[Any, Any]
) -> tuple[dict[str, JobRun], Path]:
    """``workflow`` run on a closed agent PR whose evidence trains a candidate, with the
    attacking ``eval_command`` configured; the jobs and the attack's loot file."""
    arrange(server)
    llm.script = [trainer_reply]
    config, loot = attack_config(tmp_path, llm)
    server.commit({".github/prompt-trainer.yml": config}, parent=server.refs["heads/main"],
                  branch="main")  # fmt: skip
    payload = {
        "action": "closed",
        "pull_request": {"number": 7, "user": {"login": "claude[bot]"}, "labels": []},
        "repository": {"default_branch": "main", "full_name": server.full_name},
        "sender": {"login": "maria"},
    }
    runs = execute(workflow, server, checkout_with(tmp_path, config), tmp_path,
                   event="pull_request", payload=payload)  # fmt: skip
    return runs, loot


@pytest.mark.parametrize(
    ("label", "workflow"), workflows(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_eval_command_reads_neither_the_write_token_nor_the_llm_key(
    server: FakeGitHub, llm: FakeLLM, tmp_path: Path, label: str, workflow: dict[Any, Any]
) -> None:
    """A closed agent PR: its evidence trains a candidate, and ``eval_command`` (steered by that
    candidate) looks for every secret of the process that started it and of any other."""
    runs, loot = closed_agent_pr(server, llm, tmp_path, workflow)
    assert_nothing_leaked(loot)
    assert runs["train"].token == READ_TOKEN and runs["train"].secrets == ("OPENAI_API_KEY",)
    assert runs["evaluate"].result == "success" and not runs["evaluate"].secrets
    assert runs["publish"].token == WRITE_TOKEN and not runs["publish"].secrets
    assert len(proposed(server)) == 1  # and the split run still proposes
    assert not server.refused_writes  # the read-only jobs never tried to write


#: The failure of ``replay_tasks``' pull requests unless a test asks for another.
ROUNDING = TestCase(classname="tests.test_fees", name="test_rounding", status="failed",
                    message="assert 10.004 == 10.00")  # fmt: skip


def replay_tasks(
    github: FakeGitHub,
    checkout: Path,
    *,
    numbers: range = range(21, 25),
    failed: TestCase = ROUNDING,
    body: str = "Add the fee.",
    review: str = "",
) -> None:
    """Stored agent PRs (four by default) whose base commit is in the clone, so the replay
    runs the agent; each failed the same test (a failure cluster of two PRs once half is held
    out, which supports the trained edit), and with ``review`` a trusted reviewer said so."""
    settings = parse_config((checkout / ".github/prompt-trainer.yml").read_text(), source="x")
    version = load_prompt_set(settings.targets[0], LocalSource(checkout)).version
    sha = git(checkout, "rev-parse", "HEAD")
    lines = []
    for n in numbers:
        closed = datetime(2026, 11, n, tzinfo=UTC)
        pull = PullRequestInfo(number=n, title=f"Task {n}", body=body, base_sha=sha,
                               closed_at=closed)  # fmt: skip
        runs = (TestRun(source="junit.xml", cases=(failed,)),)
        said = (Feedback(kind="review_comment", id=f"c{n}", author="maria", trusted=True,
                         body=review, url=f"https://github.com/{github.full_name}/pull/{n}"
                         f"#discussion_r{n}"),) if review else ()  # fmt: skip
        sample = Sample(id=f"{github.full_name}#{n}", pull=pull, prompt_versions={"coder": version},
                        collected_at=closed, test_runs=runs, feedback=said)  # fmt: skip
        lines.append(sample.model_dump_json())
    github.commit({".prompt-trainer/samples.jsonl": "\n".join(lines) + "\n"},
                  branch="prompt-trainer-data")  # fmt: skip


@pytest.mark.parametrize(
    ("label", "workflow"), workflows(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_replayed_agent_reads_neither_secret_and_its_git_hooks_never_run(
    server: FakeGitHub, llm: FakeLLM, tmp_path: Path, label: str, workflow: dict[Any, Any]
) -> None:
    """A manual run replays held-out tasks: the agent (steered by the task text and the
    candidate) reads what it can and writes ``.git/hooks/post-checkout`` in the repository its
    worktree shares, which the next ``git worktree add`` would run."""
    llm.script = [trainer_reply]
    # Two LM calls train (rewrite, then the batched check); the held-out judge is left out by
    # the call budget, so the replay alone judges the held-out tasks.
    config, loot = attack_config(tmp_path, llm, gate="replay", holdout=0.5, max_calls=2)
    checkout = checkout_with(tmp_path, config)
    files: dict[str, str | None] = {".github/prompt-trainer.yml": config, "CLAUDE.md": MAIN_PROMPT,
             ".claude/agents/test-runner.md": SUBAGENT}  # fmt: skip
    server.commit(files, branch="main")
    replay_tasks(server, checkout)
    payload = {"inputs": {}, "repository": {"default_branch": "main"}, "sender": {"login": "maria"}}
    runs = execute(workflow, server, checkout, tmp_path, event="workflow_dispatch", payload=payload)
    text = assert_nothing_leaked(loot)
    assert "HOOK-RAN" not in text, "a git hook the agent planted ran"
    assert text.count("== ran in") == 4  # for both variants of the two held-out tasks
    assert runs["evaluate"].result == "success" and not runs["evaluate"].secrets
    logs = {name: run.action.log if run.action else "" for name, run in runs.items()}
    assert len(proposed(server)) == 1, logs
    body = server.pulls[proposed(server)[0]].body or ""
    assert "Replay (the agent reran held-out tasks" in body


def single_job(dry_run: str) -> dict[Any, Any]:
    """One job with the write token and the trainer's key (the setup for repositories that
    configure no command), its ``dry-run`` input as given."""
    write = {"contents": "write", "pull-requests": "write", "issues": "write", "actions": "read"}
    steps = [
        {"uses": "actions/checkout@v4",
         "with": {"ref": "main", "persist-credentials": False, "fetch-depth": 0}},
        {"uses": "./", "with": {"mode": "auto", "dry-run": dry_run},
         "env": {"OPENAI_API_KEY": "${{ secrets.OPENAI_API_KEY }}"}},
    ]  # fmt: skip
    job = {"runs-on": "ubuntu-latest", "permissions": write, "steps": steps}
    return {"on": {"pull_request": {"types": ["closed"]}}, "permissions": {},
            "jobs": {"prompt-trainer": job}}  # fmt: skip


def test_a_dry_run_in_a_single_job_with_the_secrets_trains_but_runs_no_command(
    server: FakeGitHub, llm: FakeLLM, tmp_path: Path
) -> None:
    """``dry-run: "true"`` in the job that holds the write token and the trainer's key: the
    command would read both from ``/proc/$PPID/environ``, so it is not run; the run still
    trains and says why the candidate was not evaluated and how to split the jobs."""
    runs, loot = closed_agent_pr(server, llm, tmp_path, single_job("true"))
    run = runs["prompt-trainer"]
    log = run.action.log if run.action else ""
    assert not loot.exists(), "a configured command ran beside the write token and the key"
    assert run.result == "success", log
    assert "not evaluated: training.eval_command not run: this process holds GITHUB_TOKEN" in log
    assert "OPENAI_API_KEY" in log and "docs/workflows.md" in log
    assert llm.requests  # it trained
    assert not proposed(server) and not server.refused_writes


@pytest.mark.parametrize(
    ("label", "workflow"), workflows(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_publish_job_neither_restores_nor_saves_the_cache(
    server: FakeGitHub, llm: FakeLLM, tmp_path: Path, label: str, workflow: dict[Any, Any]
) -> None:
    """Any process of an earlier job of the run can save a cache entry under the publish job's
    key (the evaluate job's commands can read the runner's cache token): the job that writes
    reads only the bundle, and still proposes."""
    runs, _ = closed_agent_pr(server, llm, tmp_path, workflow)
    actions = {name: run.action for name, run in runs.items() if run.action}
    assert ".prompt-trainer/cache" in actions["train"].cached_paths
    assert not actions["publish"].cached_paths and not actions["publish"].saved_paths
    assert len(proposed(server)) == 1
