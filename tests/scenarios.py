"""The shared scenario of the end-to-end tests, as data and helpers (no fixtures: those are in
``conftest.py``).

- the checkout's files: ``CONFIG`` (one target ``coder``), ``MAIN_PROMPT``, ``SUBAGENT``;
- ``arrange(github)``: merged agent PR #7 on the local GitHub server, with two review comments
  (the first with a suggestion: a trusted reviewer's explicit request, so one PR supports an
  edit) and a CI run whose ``junit-results`` artifact holds ``JUNIT`` (one failure, one error);
- ``trainer_reply`` / ``other_reply``: the local LM's scripted candidates (``NEW_MAIN``), and a
  lenient answer to the batched check;
- ``make_zip``: an artifact's zip from {name: content};
- ``agent_pulls``: many small merged agent PRs, for backfills (tests and ``bench/collect.py``);
  ``clone_on_server``: a checkout that is a git clone whose commit is ``main`` on the server.

The ``ready`` fixture sets the whole scenario up and makes the checkout the working directory.
"""

from __future__ import annotations

import io
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.scripted import lenient
from tests.servers.github import Artifact, FakeGitHub, Pull
from tests.servers.llm import chat_adapter_reply

#: The output field of the batched check (``train.check``): the scripted trainer passes every
#: edit there, as a lenient model does.
CHECK = "[[ ## verdicts ## ]]"

CONFIG = """\
model: openai/test-model
agent:
  authors: ["claude[bot]"]
  labels: ["agent"]
targets:
  - name: coder
    main: CLAUDE.md
    subagents: .claude/agents
    max_subagents: 2
    strategy: rewrite  # the pipeline tests script PromptTrainer; evolve/rules: test_strategies
training:
  holdout: 0  # one PR per test: nothing to hold out (held-out evaluation: test_strategies)
"""

MAIN_PROMPT = "# Rules\n\n- Write tests with pytest.\n- Keep functions small.\n"
SUBAGENT = "---\nname: test-runner\ndescription: Runs the tests.\n---\n\nRun `pytest -q`.\n"


def make_zip(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


JUNIT = """<?xml version="1.0"?>
<testsuite name="pytest" tests="3" failures="1" errors="1">
  <testcase classname="tests.test_fees" name="test_rounding"><failure message="assert 10.004 == 10.00">trace</failure></testcase>
  <testcase classname="tests.test_api" name="test_retry"><error message="ConnectionError">boom</error></testcase>
  <testcase classname="tests.test_api" name="test_ok"/>
</testsuite>
"""

NEW_MAIN = "# Rules\n\n- Write tests with pytest.\n- Keep functions small.\n- Round money with Decimal.quantize.\n"
ANALYSIS = (
    "- new: Round money with Decimal.quantize (tests.test_fees::test_rounding, #501).\n"
    "- new subagent money-checker: checks rounding (tests.test_fees::test_rounding)."
)


def is_check(request: dict[str, Any]) -> bool:
    return CHECK in str(request["messages"][0].get("content", ""))


def trainer_reply(request: dict[str, object]) -> str:
    if is_check(request):
        return lenient(request)
    return chat_adapter_reply(
        candidate_main_prompt=NEW_MAIN,
        candidate_subagents=[
            {
                "name": "money-checker",
                "description": "Checks money rounding.",
                "prompt": "Check every Decimal is quantized.",
            }
        ],
        analysis_summary=ANALYSIS,
    )


def other_reply(request: dict[str, object]) -> str:
    """A second, different candidate (for updates)."""
    if is_check(request):
        return lenient(request)
    return chat_adapter_reply(
        candidate_main_prompt=NEW_MAIN + "- Parse amounts with Decimal(str).\n",
        candidate_subagents=[],
        analysis_summary=ANALYSIS
        + "\n- new: Parse amounts with Decimal(str) (tests.test_fees::test_rounding).",
    )


def arrange(github: FakeGitHub) -> None:
    base = github.commit(
        {
            ".github/prompt-trainer.yml": CONFIG,  # the checkout's: trusted on PR events
            "CLAUDE.md": MAIN_PROMPT,
            ".claude/agents/test-runner.md": SUBAGENT,
            "app.py": "print()\n",
        },
        branch="main",
    )
    head = github.commit({"app.py": "print(1)\n"}, parent=base, branch="agent/fees")
    pull = github.add_pull(
        Pull(
            number=7,
            title="Add late fees",
            head_ref="agent/fees",
            head_sha=head,
            base_ref="main",
            base_sha=base,
            state="closed",
            merged=True,
        )
    )
    member = {
        "author_association": "MEMBER",
        "user": github.user("maria"),
        "created_at": "2026-11-02T10:00:00Z",
        "updated_at": "2026-11-02T10:00:00Z",
    }
    for n, (path, text) in enumerate(
        [
            (
                "fees.py",
                "Round with quantize, not float math.\n"
                '```suggestion\ntotal = amount.quantize(Decimal("0.01"))\n```',
            ),
            ("billing.py", "Reuse ApiClient instead of a new client."),
        ]
    ):
        cid = 501 + n
        pull.review_comments.append(
            {
                **member,
                "id": cid,
                "node_id": "C",
                "body": text,
                "path": path,
                "line": 3,
                "original_line": 3,
                "diff_hunk": "@@ -1 +1 @@",
                "commit_id": head,
                "original_commit_id": head,
                "pull_request_review_id": 1,
                "position": 1,
                "url": f"{github.repo_url}/pulls/comments/{cid}",
                "html_url": f"https://github.com/{github.full_name}/pull/7#discussion_r{cid}",
                "pull_request_url": f"{github.repo_url}/pulls/7",
                "_links": {
                    "self": {"href": ""},
                    "html": {"href": ""},
                    "pull_request": {"href": ""},
                },
            }
        )
    github.add_run(
        head,
        [
            Artifact(
                id=github.next_id(),
                name="junit-results",
                data=make_zip({"reports/junit.xml": JUNIT}),
            )
        ],
    )


def agent_pulls(
    github: FakeGitHub, count: int, *, first: int = 100, artifacts_every: int = 0
) -> list[Pull]:
    """``count`` merged agent PRs on ``main``, numbered from ``first``, opened a day before they
    closed and closed an hour apart, each with one comment of maria's; every
    ``artifacts_every``-th (0: none) with a CI run whose ``junit-results`` artifact holds
    ``JUNIT``. Small on purpose: a backfill of hundreds stays fast."""
    base = github.refs["heads/main"]
    start = datetime(2026, 10, 1, tzinfo=UTC)
    made = []
    for n in range(first, first + count):
        head = github.commit({"app.py": f"print({n})\n"}, parent=base)
        closed = start + timedelta(hours=n - first)
        pull = Pull(n, f"Agent PR {n}", f"agent/{n}", head, "main", base, state="closed")
        pull.merged = True
        pull.created_at = f"{closed - timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}"
        pull.updated_at = pull.closed_at = f"{closed:%Y-%m-%dT%H:%M:%SZ}"
        comment = github.issue_comment_json(n, n * 10, "Use the helper.", login="maria")
        pull.issue_comments.append({**comment, "author_association": "MEMBER"})
        made.append(github.add_pull(pull))
        if artifacts_every and (n - first) % artifacts_every == 0:
            report = make_zip({"reports/junit.xml": JUNIT})
            github.add_run(
                head,
                [Artifact(id=github.next_id(), name="junit-results", data=report)],
                created_at=pull.updated_at,
            )
    return made


def clone_on_server(github: FakeGitHub, root: Path, *, shared: bool = True) -> str:
    """The files under ``root`` committed as a new git clone there, and the same files as
    ``main`` on the local GitHub server: with ``shared``, the same commit (the clone's history
    holds the base commit of every agent PR); without, another one (as a shallow clone lacks
    it). Returns the server's ``main``."""
    files: dict[str, str | None] = {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts
    }
    identity = ("-c", "user.name=t", "-c", "user.email=t@example.com")
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), (*identity, "commit", "-qm", "s")):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return github.commit(files, branch="main", sha=head if shared else None)
