"""GEPA's replay-scored search (``training.gepa.metric: replay``) in the Action's split jobs, run
job by job the way the runner does (``tests.runner.run_workflow``) against the local GitHub and
LM servers: on ``workflow_dispatch`` the prepare job bundles the search's plan and trains
nothing; the evaluate job (no write token, no trainer key; the agent's key mapped and named in
``training.eval_pass_env``) runs GEPA there, every candidate scored by a replay of the agent on a
training task, reflecting with the reflection model on that key, and replays the held-out tasks;
the publish job checks the candidate again as outside data and opens it as a draft. The agent
is a shell script that also attacks (``tests.test_workflow_secrets.ATTACK``): it reads every
environment it can and plants git hooks. Its code is right only when the prompt files it finds
say Decimal, and the tests say so."""

from __future__ import annotations

import json
import shlex
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from prompt_trainer.cli import main
from prompt_trainer.models import Feedback, PullRequestInfo, Sample, TestCase, TestRun
from prompt_trainer.settings import parse_config
from prompt_trainer.targets import LocalSource, load_prompt_set
from tests.jobs import job_env
from tests.runner import JobRun, event_env, run_workflow
from tests.scenarios import CONFIG, MAIN_PROMPT, SUBAGENT
from tests.scripted import lenient, sections
from tests.servers.github import FakeGitHub
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply
from tests.test_workflow_secrets import (
    ATTACK,
    LLM_KEY,
    READ_TOKEN,
    WRITE_TOKEN,
    assert_nothing_leaked,
    checkout_with,
    git,
    proposed,
    workflows,
)

#: The agent's own key: the evaluate job holds it (the user maps it there), the trainer's never.
AGENT_KEY = "sk-AGENTcanary-fedcba9876543210"
RULE = "Use `Decimal` for money in `money.py`, never `float`."
PASS = '<testsuite tests="1"><testcase classname="test_money" name="test_total"/></testsuite>'
FAIL = (
    '<testsuite tests="1" failures="1"><testcase classname="test_money" name="test_total">'
    '<failure message="assert 0.30000000000000004 == Decimal(0.30)"/></testcase></testsuite>'
)


def search_config(tmp_path: Path, llm: FakeLLM) -> tuple[str, Path]:
    """The configuration of a target trained by GEPA with the replay metric, and the loot
    file the agent's attack writes to."""
    loot, attack, agent = tmp_path / "loot.txt", tmp_path / "attack.sh", tmp_path / "agent.sh"
    attack.write_text(ATTACK.format(loot=shlex.quote(str(loot))))
    agent.write_text(
        f"sh {shlex.quote(str(attack))}\n"
        "if grep -rqi decimal CLAUDE.md .claude; then echo exact > result.txt; "
        "else echo float > result.txt; fi\n"
    )
    tests = (
        f"if grep -q exact result.txt; then printf {shlex.quote(PASS)}; "
        f'else printf {shlex.quote(FAIL)}; fi > "$PROMPT_TRAINER_JUNIT"'
    )
    data = yaml.safe_load(CONFIG)
    data["api_base"] = llm.api_base
    data["targets"][0]["strategy"] = "gepa"
    data["training"] = {
        "holdout": 0.5, "max_calls": 20, "eval_pass_env": ["OPENAI_API_KEY"],
        "gepa": {"metric": "replay", "max_metric_calls": 12,
                 "reflection_model": "openai/reflect-model"},
    }  # fmt: skip
    data["replay"] = {"agent_command": f"sh {shlex.quote(str(agent))}", "test_command": tests}
    return yaml.safe_dump(data), loot


def stored_tasks(github: FakeGitHub, checkout: Path, numbers: range = range(21, 27)) -> None:
    """Agent PRs of the current prompts on the data branch, their base commit in the clone:
    each computed money with float, the test failed, a trusted reviewer asked for Decimal."""
    config = parse_config((checkout / ".github/prompt-trainer.yml").read_text(), source="x")
    version = load_prompt_set(config.targets[0], LocalSource(checkout)).version
    sha = git(checkout, "rev-parse", "HEAD")
    failed = TestCase(classname="test_money", name="test_total", status="failed",
                      message="AssertionError: assert 0.30000000000000004 == Decimal('0.30')")  # fmt: skip
    lines = []
    for n in numbers:
        closed = datetime(2026, 11, n, tzinfo=UTC)
        said = Feedback(
            kind="review_comment", id=f"c{n}", author="maria", trusted=True,
            body="Money must be Decimal, never float.",
            url=f"https://github.com/{github.full_name}/pull/{n}#discussion_r{n}",
        )  # fmt: skip
        pull = PullRequestInfo(number=n, title=f"Add the fee total {n}", body="Sum the fees.",
                               base_sha=sha, closed_at=closed)  # fmt: skip
        sample = Sample(
            id=f"{github.full_name}#{n}", pull=pull, prompt_versions={"coder": version},
            collected_at=closed, test_runs=(TestRun(source="junit.xml", cases=(failed,)),),
            feedback=(said,),
        )  # fmt: skip
        lines.append(sample.model_dump_json())
    github.commit({".prompt-trainer/samples.jsonl": "\n".join(lines) + "\n"},
                  branch="prompt-trainer-data")  # fmt: skip


def decimal_rule(request: dict[str, Any]) -> str:
    """A reflection adding the Decimal rule to the part it is shown, citing its feedback."""
    part = sections(request)
    feedback = json.loads(part["feedback"])
    return chat_adapter_reply(
        new_text=part["current_text"].rstrip("\n") + f"\n- {RULE}\n",
        citations=[{"bullet": RULE, "evidence": [feedback[0]["evidence"][0]["id"]]}],
    )


def with_agent_key(workflow: dict[Any, Any]) -> dict[Any, Any]:
    """The workflow as the docs say to set it up: the evaluate job maps the agent's key."""
    steps = workflow["jobs"]["evaluate"]["steps"]
    step = next(s for s in steps if "uses" in s and "checkout" not in s["uses"])
    step["env"] = {"OPENAI_API_KEY": "${{ secrets.AGENT_OPENAI_API_KEY }}"}
    return workflow


def start(tmp_path: Path, github: FakeGitHub, llm: FakeLLM) -> Path:
    """The checkout, its config on the default branch, the stored tasks, the scripted model."""
    llm.script = [by_signature(new_text=decimal_rule, verdicts=lenient)]
    config, _ = search_config(tmp_path, llm)
    checkout = checkout_with(tmp_path, config)
    files: dict[str, str | None] = {".github/prompt-trainer.yml": config,
             "CLAUDE.md": MAIN_PROMPT, ".claude/agents/test-runner.md": SUBAGENT}  # fmt: skip
    github.commit(files, branch="main")
    stored_tasks(github, checkout)
    return checkout


def dispatch(
    workflow: dict[Any, Any],
    github: FakeGitHub,
    checkout: Path,
    tmp_path: Path,
    **hook: Any,
) -> dict[str, JobRun]:
    payload = {"inputs": {}, "repository": {"default_branch": "main"}, "sender": {"login": "maria"}}
    env = event_env(tmp_path, event="workflow_dispatch", payload=payload,
                    repository=github.full_name, api_url=github.api_url)  # fmt: skip
    env["PROMPT_TRAINER_BACKOFF_S"] = "0"

    def token_for(permissions: dict[str, str]) -> str:
        writes = any(permissions.get(s) == "write" for s in ("contents", "pull-requests", "issues"))
        return WRITE_TOKEN if writes else READ_TOKEN

    return run_workflow(
        with_agent_key(workflow), event_name="workflow_dispatch", payload=payload,
        repository=github.full_name, checkout=checkout, tmp=tmp_path / "run",
        token_for=token_for, env=env,
        secrets={"OPENAI_API_KEY": LLM_KEY, "AGENT_OPENAI_API_KEY": AGENT_KEY}, **hook,
    )  # fmt: skip


@pytest.fixture
def server(github: FakeGitHub) -> FakeGitHub:
    github.token = WRITE_TOKEN
    return github


def logs(runs: dict[str, JobRun]) -> dict[str, str]:
    return {name: run.action.log if run.action else "" for name, run in runs.items()}


@pytest.mark.parametrize(
    ("label", "workflow"), workflows(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_dispatch_run_searches_in_the_evaluate_job_and_publish_opens_a_draft(
    server: FakeGitHub, llm: FakeLLM, tmp_path: Path, label: str, workflow: dict[Any, Any]
) -> None:
    checkout = start(tmp_path, server, llm)
    runs = dispatch(workflow, server, checkout, tmp_path)
    said = logs(runs)
    # prepare planned the search and trained nothing: no model call there
    assert "gepa scored by replay: the search runs in the evaluate job" in said["train"]
    assert "no judge-scored search here" in said["train"]
    # evaluate: neither the write token nor the trainer's key, whatever the agent reads
    loot = assert_nothing_leaked(tmp_path / "loot.txt")
    assert "HOOK-RAN" not in loot
    assert runs["evaluate"].result == "success"
    assert runs["evaluate"].secrets == ("AGENT_OPENAI_API_KEY",)
    assert runs["evaluate"].token == READ_TOKEN  # the job's, which the Action does not pass on
    # every model call was the evaluate job's reflection or check, on the agent's key
    assert llm.requests and {r["model"] for r in llm.requests} == {"reflect-model"}
    assert {h["authorization"] for h in llm.headers} == {f"Bearer {AGENT_KEY}"}
    # publish opened the candidate as a draft, saying where it was made and how it was judged
    assert len(proposed(server)) == 1, said
    pull = server.pulls[proposed(server)[0]]
    body = pull.body or ""
    assert pull.draft
    assert "made by GEPA's search in the Action's evaluate job" in body
    assert "measured by replay, not by a judge" in body
    assert "Replay (the agent reran held-out tasks" in body
    files = server.files_at(pull.head_sha)
    assert RULE in (files.get("CLAUDE.md") or "") + (files.get(".claude/agents/test-runner.md") or "")
