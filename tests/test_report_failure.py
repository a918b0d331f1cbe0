"""Failures no test catches, reported by people, become evidence: stored on the sample, kept
when the PR is collected again, shown by `report`, and read by the trainer."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from prompt_trainer.loop.failures import failure_type
from prompt_trainer.models import FailureReport, PullRequestInfo, Sample
from prompt_trainer.store import BRANCH_PATH, merge_lines
from tests.scripted import lenient
from tests.servers.github import FakeGitHub
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply, user_text

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "basic"


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "basic"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".prompt-trainer"))
    monkeypatch.chdir(root)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    return root


def report_failure() -> list[str]:
    return [
        "report-failure",
        "--pr",
        "104",
        "--type",
        "integration_error",
        "--description",
        "created a new client instead of extending ApiClient",
        "--author",
        "maria",
    ]


def test_a_reported_failure_is_stored_shown_and_survives_recollection(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(report_failure(), env={}) == 0
    assert main(["collect", "--local", "evidence"], env={}) == 0  # collected again
    ledger = [
        json.loads(line)
        for line in (example / ".prompt-trainer" / "samples.jsonl").read_text().splitlines()
    ]
    (sample,) = [s for s in ledger if s["id"] == "local:pr-104"]
    assert [f["type"] for f in sample["failures"]] == ["integration_error"]
    capsys.readouterr()
    assert main(["report", "--format", "json", "--history", "none"], env={}) == 0
    (report,) = json.loads(capsys.readouterr().out)
    reported = [p for p in report["patterns"] if p["kind"] == "reported_failure"]
    assert reported == [
        {
            "kind": "reported_failure",
            "key": "integration_error",
            "count": 1,
            "examples": [
                "https://github.com/example/invoices/pull/104 (created a new client instead of extending ApiClient)"
            ],
        }
    ]


def test_the_trainer_reads_reported_failures_and_may_cite_them(example: Path, llm: FakeLLM) -> None:
    assert main(report_failure(), env={}) == 0
    config = example / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "training:\n  holdout: 0\n")
    failure_id = "failure:local:pr-104#1"

    def reflect(request: dict[str, object]) -> str:
        text = user_text(request)
        return chat_adapter_reply(
            root_cause="The agent wrote a second billing client.",
            correct_approach="Extend `ApiClient`.",
            bullets=[{"bullet": "CLAUDE.md B1", "verdict": "ignored"}],
            evidence=[failure_id] if failure_id in text else [],
        )

    def curate(request: dict[str, object]) -> str:
        return chat_adapter_reply(
            edits=[
                {
                    "op": "modify",
                    "target_text": "B1",
                    "new_text": "The service lives in `invoices/`; its HTTP client for the billing "
                    "API is `invoices/api_client.py`. Extend `ApiClient` for new billing calls; "
                    "never create a second HTTP client, not even in `invoices/payments.py`.",
                    "evidence": [failure_id],
                }
            ],
            analysis_summary="x",
        )

    llm.script = [by_signature(root_cause=reflect, verdicts=lenient, edits=curate)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    assert "created a new client instead of extending ApiClient" in json.dumps(llm.requests)
    folder = example / ".prompt-trainer" / "candidates" / "coder" / "candidate-001"
    evaluation = json.loads((folder / "evaluation.json").read_text())
    assert [c["evidence"] for c in evaluation["changes"]] == [[failure_id]]


def test_reporting_on_a_pr_that_was_not_collected_says_how(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = report_failure()
    args[2] = "999"
    assert main(args, env={}) == 2
    assert "collect it first: prompt-trainer collect --pr 999" in capsys.readouterr().err


# --- the comment command on agent PRs, through the local GitHub server ---------------------


def report_event(
    tmp_path: Path,
    number: int,
    body: str,
    *,
    association: str = "MEMBER",
    cid: int = 9001,
    login: str = "maria",
) -> dict[str, str]:
    payload = {
        "action": "created",
        "issue": {"number": number, "pull_request": {"url": "x"}},
        "comment": {
            "id": cid,
            "body": body,
            "author_association": association,
            "user": {"login": login, "type": "User"},
        },
    }
    path = tmp_path / f"event-{cid}.json"
    path.write_text(json.dumps(payload))
    return {"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(path)}


COMMENT = (
    "/prompt-trainer report planning: created a new client instead of extending ApiClient\n"
    "ApiClient in billing/api.py already retries."
)


def test_a_report_comment_collects_the_agent_pr_records_and_stores_it_once(
    github: FakeGitHub, github_env: dict[str, str], ready: Path, tmp_path: Path
) -> None:
    event = {**github_env, **report_event(tmp_path, 7, COMMENT)}
    assert main(["action"], env=event) == 0
    ledger = github.files_at("prompt-trainer-data")[BRANCH_PATH]
    (sample,) = [json.loads(line) for line in ledger.splitlines()]
    assert sample["id"].endswith("#7") and sample["test_runs"]  # collected, evidence and all
    (failure,) = sample["failures"]
    assert failure["id"] == f"failure:{sample['id']}#c9001"
    assert (failure["type"], failure["author"]) == ("planning_error", "maria")
    assert failure["description"] == "created a new client instead of extending ApiClient"
    assert failure["context"] == "ApiClient in billing/api.py already retries."
    (ack,) = [c["body"] for c in github.pulls[7].issue_comments]
    assert "Recorded a `planning_error` report on #7" in ack
    assert sample["prompt_versions"]["coder"][:12] in ack
    # The same event again (a re-run): no second report, no second comment, no new commit.
    head = github.refs["heads/prompt-trainer-data"]
    assert main(["action"], env=event) == 0
    assert github.refs["heads/prompt-trainer-data"] == head
    assert len(github.pulls[7].issue_comments) == 1
    # A second report on the now stored sample is added next to the first.
    second = report_event(tmp_path, 7, "/prompt-trainer report scope_error: touched CI", cid=9002)
    assert main(["respond"], env={**github_env, **second}) == 0
    (sample,) = [
        json.loads(line)
        for line in github.files_at("prompt-trainer-data")[BRANCH_PATH].splitlines()
    ]
    assert [f["type"] for f in sample["failures"]] == ["planning_error", "scope_error"]


@pytest.mark.parametrize(
    ("body", "association", "answer"),
    [
        ("/prompt-trainer report vibes: bad", "MEMBER", "Unknown failure type `vibes`"),
        ("/prompt-trainer report planning_error:", "MEMBER", "needs a description"),
        (COMMENT, "NONE", "Only maintainers"),
    ],
)
def test_bad_or_untrusted_reports_get_one_answer_and_record_nothing(
    github: FakeGitHub,
    github_env: dict[str, str],
    ready: Path,
    tmp_path: Path,
    body: str,
    association: str,
    answer: str,
) -> None:
    login = "eve" if association == "NONE" else "maria"  # eve has no write access
    event = {
        **github_env,
        **report_event(tmp_path, 7, body, association=association, login=login),
    }
    assert main(["action"], env=event) == 0
    assert main(["action"], env=event) == 0
    (reply,) = [c["body"] for c in github.pulls[7].issue_comments]
    assert answer in reply
    assert "heads/prompt-trainer-data" not in github.refs
    assert not (ready / ".prompt-trainer" / "samples.jsonl").exists()


def test_a_report_on_a_pr_that_is_not_the_agents_is_declined(
    github: FakeGitHub, github_env: dict[str, str], ready: Path, tmp_path: Path
) -> None:
    github.pulls[7].author = "maria"
    assert main(["respond"], env={**github_env, **report_event(tmp_path, 7, COMMENT)}) == 0
    (reply,) = [c["body"] for c in github.pulls[7].issue_comments]
    assert "is not an agent PR" in reply


def test_the_data_branch_merge_keeps_reports_from_both_sides() -> None:
    base = Sample(id="s", pull=PullRequestInfo(), collected_at=datetime(2026, 1, 1, tzinfo=UTC))
    report = FailureReport(id="failure:s#c1", type="scope_error", description="touched CI")
    reported = base.model_copy(update={"failures": (report,)}).model_dump_json()
    recollected = base.model_copy(
        update={"collected_at": datetime(2026, 1, 2, tzinfo=UTC)}
    ).model_dump_json()
    for local, remote in ((recollected, reported), (reported, recollected)):
        (line,), _ = merge_lines([local], [remote])
        merged = Sample.model_validate_json(line)
        assert merged.collected_at == datetime(2026, 1, 2, tzinfo=UTC)
        assert [f.id for f in merged.failures] == ["failure:s#c1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("planning", "planning_error"),
        ("Planning-Error", "planning_error"),
        ("wrong pattern", "wrong_pattern"),
        ("other", "other"),
        ("nope", None),
    ],
)
def test_failure_type_names(text: str, expected: str | None) -> None:
    assert failure_type(text) == expected
