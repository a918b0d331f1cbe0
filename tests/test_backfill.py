"""A backfill (``collect --since``, the Action's scheduled run) over PRs one of which fails: an
error from one PR skips that PR with the reason and the backfill stores the rest; an error of
GitHub itself (the token refused, the API host down) stops the run with a clear message after
what was collected is stored on the data branch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from tests.scenarios import JUNIT, make_zip
from tests.servers.github import Artifact, FakeGitHub, Fault, Pull

#: A report in an encoding the XML parser refuses with a ValueError (issue 24).
SHIFT_JIS = '<?xml version="1.0" encoding="Shift_JIS"?><testsuite><testcase name="a"/></testsuite>'


@pytest.fixture
def env(github_env: dict[str, str]) -> dict[str, str]:
    return github_env  # collection needs no model


def add_agent_pull(github: FakeGitHub, number: int, report: str = JUNIT) -> Pull:
    """A merged agent PR with one CI run whose ``junit-results`` artifact holds ``report``."""
    base = github.refs["heads/main"]
    head = github.commit({"app.py": f"print({number})\n"}, parent=base, branch=f"agent/{number}")
    pull = github.add_pull(
        Pull(number, f"Agent PR {number}", f"agent/{number}", head, "main", base, state="closed")
    )
    artifact = Artifact(github.next_id(), "junit-results", make_zip({"junit.xml": report}))
    github.add_run(head, [artifact])
    return pull


def branch_ids(github: FakeGitHub) -> list[str]:
    ledger = github.files_at("prompt-trainer-data").get(".prompt-trainer/samples.jsonl", "")
    return sorted(json.loads(line)["id"] for line in ledger.splitlines())


@pytest.fixture
def three(github: FakeGitHub, ready: Path) -> FakeGitHub:
    """Agent PRs #7 (the scenario's), #8 and #9, all closed; #8 is the one a test breaks."""
    add_agent_pull(github, 8)
    add_agent_pull(github, 9)
    return github


def break_a_review(github: FakeGitHub) -> None:
    """PR #8's review as GitHub might answer it after an API change: ``state`` an object, which
    the collector refuses (a ``ValidationError`` out of reading one PR)."""
    github.pulls[8].reviews.append(
        {"id": 81, "user": github.user("maria"), "body": "ok", "state": {"value": "APPROVED"}}
    )


def test_evidence_that_makes_the_collector_raise_skips_its_pr_and_the_backfill_stores_the_rest(
    three: FakeGitHub, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    break_a_review(three)
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    out = capsys.readouterr().out
    # The reason names what refused the review: pydantic's ValidationError where the review is
    # read as JSON, PyGithub's BadAttributeException where it is read through its objects.
    assert "- #8: skipped: " in out and "APPROVED" in out
    assert branch_ids(three) == ["octo-org/agent-repo#7", "octo-org/agent-repo#9"]


def test_the_scheduled_action_run_skips_the_failing_pr_and_stores_the_rest(
    three: FakeGitHub, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    break_a_review(three)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"schedule": "0 6 * * 1"}))
    scheduled = {**env, "GITHUB_EVENT_NAME": "schedule", "GITHUB_EVENT_PATH": str(event)}
    assert main(["action", "--mode", "collect", "--backfill-days", "3650"], env=scheduled) == 0
    assert branch_ids(three) == ["octo-org/agent-repo#7", "octo-org/agent-repo#9"]
    assert "collect: #8: skipped: " in capsys.readouterr().err


def test_a_report_in_shift_jis_does_not_stop_the_backfill(
    three: FakeGitHub, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 24's case: the JUnit reader raised a ``ValueError`` on a Shift_JIS report and the
    whole backfill exited 1. Now #8 is either skipped with that reason (this PR-level boundary)
    or read (a reader that takes the encoding); the backfill goes on and stores #9 either way."""
    three.runs[-2][2][0].data = make_zip({"junit.xml": SHIFT_JIS})  # PR #8's report
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    out = capsys.readouterr().out
    stored = branch_ids(three)
    assert stored[0] == "octo-org/agent-repo#7" and stored[-1] == "octo-org/agent-repo#9"
    assert "octo-org/agent-repo#8" in stored or "#8: skipped: ValueError: multi-byte" in out


def test_a_scheduled_run_stopped_by_github_still_stores_what_it_collected(
    three: FakeGitHub, env: dict[str, str], tmp_path: Path
) -> None:
    three.faults.append(Fault("GET", r"/pulls/8/.*", 401, times=99, message="Bad credentials"))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"schedule": "0 6 * * 1"}))
    scheduled = {**env, "GITHUB_EVENT_NAME": "schedule", "GITHUB_EVENT_PATH": str(event)}
    assert main(["action", "--mode", "collect", "--backfill-days", "3650"], env=scheduled) == 3
    assert branch_ids(three) == ["octo-org/agent-repo#7"]


def test_a_pr_whose_reads_keep_failing_while_github_answers_is_skipped_with_the_reason(
    three: FakeGitHub, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """GitHub answers 5xx for one very large PR's files while everything else works: that PR
    is skipped (the free ``GET /rate_limit`` shows the API is up), not the whole backfill."""
    three.faults.append(Fault("GET", r"/pulls/8/files", 502, times=99))
    assert main(["collect", "--since", "2020-01-01"], env=env) == 0
    out = capsys.readouterr().out
    assert "#8: skipped: GitHub kept failing while reading the files of #8" in out
    assert branch_ids(three) == ["octo-org/agent-repo#7", "octo-org/agent-repo#9"]


def test_a_refused_token_stops_the_backfill_with_the_fix_and_keeps_what_was_collected(
    three: FakeGitHub, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    three.faults.append(Fault("GET", r"/pulls/8/.*", 401, times=99, message="Bad credentials"))
    assert main(["collect", "--since", "2020-01-01"], env=env) == 3
    err = capsys.readouterr().err
    assert "401 Bad credentials" in err and "fix: the token is missing or invalid" in err
    assert branch_ids(three) == ["octo-org/agent-repo#7"]
    assert not any(r.path.endswith("/pulls/9/reviews") for r in three.requests)


def test_the_api_host_down_stops_the_backfill_and_keeps_what_was_collected(
    three: FakeGitHub, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Every read of PR #8 and the free ``GET /rate_limit`` fail: GitHub is down, not the PR."""
    three.faults.append(Fault("GET", r"/pulls/8/.*|/rate_limit", 503, times=99))
    assert main(["collect", "--since", "2020-01-01"], env=env) == 3
    err = capsys.readouterr().err
    assert "GitHub kept failing" in err and "githubstatus.com" in err
    assert branch_ids(three) == ["octo-org/agent-repo#7"]
