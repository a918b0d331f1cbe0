"""End to end over real sockets: a merged agent PR on the local GitHub server, the local LM
server, ``prompt-trainer run --pr N`` -> exactly one pull request holding the candidate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from prompt_trainer.loop.events import pull_number_from_event
from tests.conftest import REALDATA
from tests.scenarios import (
    ANALYSIS,
    MAIN_PROMPT,
    NEW_MAIN,
    SUBAGENT,
    make_zip,
)
from tests.servers.github import Artifact, FakeGitHub
from tests.servers.llm import FakeLLM


def test_run_opens_one_pull_request_and_a_rerun_changes_nothing(
    github: FakeGitHub,
    llm: FakeLLM,
    ready: Path,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--pr", "7"], env=env) == 0

    bot_pulls = [p for p in github.pulls.values() if p.head_ref == "prompt-trainer/coder"]
    assert len(bot_pulls) == 1
    pull = bot_pulls[0]
    assert pull.title == "prompt-trainer: improve coder (1 samples)"
    assert pull.base_ref == "main" and pull.labels == ["prompt-trainer"]
    files = github.files_at("prompt-trainer/coder")
    assert files["CLAUDE.md"] == NEW_MAIN
    assert "name: money-checker" in files[".claude/agents/money-checker.md"]
    assert files[".claude/agents/test-runner.md"] == SUBAGENT
    assert github.files_at("main")["CLAUDE.md"] == MAIN_PROMPT  # default branch untouched
    body = pull.body or ""
    assert ANALYSIS in body
    assert (
        "| 3 | 1 | 1 | 1 | 0 | 2 | 0 |" in body
    )  # tests, passed, failed, errors, skipped, reviews, traces
    assert "Reuse ApiClient instead of a new client." in body
    state = json.loads(body.split("<!-- prompt-trainer-state ")[1].split(" -->")[0])
    assert state["target"] == "coder" and state["sample_ids"] == [f"{github.full_name}#7"]
    # The artifact was fetched from the storage host without the token.
    assert github.storage_requests and all(
        "authorization" not in r.headers for r in github.storage_requests
    )
    assert len(llm.requests) == 2  # the rewrite, and the check of its edits
    assert "Reuse ApiClient" in json.dumps(llm.requests[0])
    first_commit = github.refs["heads/prompt-trainer/coder"]

    assert main(["run", "--pr", "7"], env=env) == 0

    bot_pulls = [p for p in github.pulls.values() if p.head_ref == "prompt-trainer/coder"]
    assert len(bot_pulls) == 1
    assert len(llm.requests) == 2  # identical evidence: answered from DSPy's disk cache
    # The same candidate: no new commit and no edit of the PR.
    assert github.refs["heads/prompt-trainer/coder"] == first_commit
    assert state["commit"] == first_commit
    assert not any(
        r.method == "PATCH" and r.path.endswith(f"/pulls/{pull.number}") for r in github.requests
    )
    ledger = (ready / ".prompt-trainer" / "samples.jsonl").read_text().splitlines()
    assert len(ledger) == 1  # the same PR replaced, not duplicated
    assert "store: 0 added, 1 replaced" in capsys.readouterr().err


def test_dry_run_writes_nothing_to_github(
    github: FakeGitHub, ready: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--pr", "7", "--dry-run"], env=env) == 0

    assert all(r.method == "GET" for r in github.requests)
    assert "prompt-trainer/coder" not in {p.head_ref for p in github.pulls.values()}
    out = capsys.readouterr().out
    assert ANALYSIS in out and "===== CLAUDE.md =====" in out and NEW_MAIN in out


def test_pull_request_that_is_not_the_agents_is_left_alone(
    github: FakeGitHub,
    llm: FakeLLM,
    ready: Path,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    github.pulls[7].author = "human-dev"

    assert main(["run", "--pr", "7"], env=env) == 0

    err = capsys.readouterr().err
    assert "is not an agent PR" in err and "nothing to train" in err
    assert not llm.requests


def test_pull_request_without_artifacts_still_trains_on_reviews(
    github: FakeGitHub, ready: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    github.runs.clear()

    assert main(["run", "--pr", "7"], env=env) == 0

    err = capsys.readouterr().err
    assert "no artifact matches the configured globs" in err
    assert len(github.pulls) == 2


def test_expired_artifact_and_malformed_report_are_skipped_with_reasons(
    github: FakeGitHub, ready: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, head, _ = github.runs[0]
    github.runs[0] = (
        run_id,
        head,
        [
            Artifact(id=github.next_id(), name="junit-old", data=b"", expired=True),
            Artifact(
                id=github.next_id(),
                name="test-results",
                data=make_zip({"bad.xml": "<testsuite><testcase"}),
            ),
        ],
    )

    assert main(["run", "--pr", "7", "--dry-run"], env=env) == 0

    err = capsys.readouterr().err
    assert "artifact junit-old" in err and "expired" in err
    assert "test-results/bad.xml: malformed XML" in err


def test_missing_prompt_file_stops_with_exit_2(
    checkout: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (checkout / "CLAUDE.md").unlink()
    monkeypatch.chdir(checkout)

    assert main(["run", "--local", "."], env={}) == 2

    err = capsys.readouterr().err
    assert "targets[0].main" in err and "CLAUDE.md" in err and "fix:" in err


def test_bad_token_gives_a_github_error_with_a_fix(
    github: FakeGitHub,
    checkout: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(checkout)
    env = {
        "GITHUB_TOKEN": "wrong",
        "GITHUB_API_URL": github.api_url,
        "GITHUB_REPOSITORY": github.full_name,
    }

    assert main(["run", "--pr", "7"], env=env) == 3

    err = capsys.readouterr().err
    assert "401" in err and "GITHUB_TOKEN" in err


def test_pull_request_number_comes_from_the_event_payload(
    github: FakeGitHub, ready: Path, env: dict[str, str], tmp_path: Path
) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"action": "closed", "number": 7, "pull_request": {"number": 7, "merged": True}})
    )

    code = main(
        ["run", "--dry-run"],
        env={**env, "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event)},
    )

    assert code == 0
    assert any(r.path.endswith("/pulls/7") for r in github.requests)


def test_real_pull_request_payloads_give_their_number(tmp_path: Path) -> None:
    folder = REALDATA / "events" / "pull_request"
    if not folder.exists():
        pytest.skip("../shared/realdata not present")
    expected = {
        "closed.merged.release-please.json": 12,
        "closed.not-merged.with-organization.octokit.json": 2,
    }
    for name, number in expected.items():
        assert pull_number_from_event("pull_request", str(folder / name)) == number
    assert (
        pull_number_from_event("schedule", str(folder / "closed.merged.release-please.json"))
        is None
    )
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    with pytest.raises(Exception, match="cannot read the event payload"):
        pull_number_from_event("pull_request", str(garbled))
