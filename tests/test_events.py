"""Webhook payloads -> one typed Event (loop/events.py), and the Action's plan from it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from prompt_trainer.errors import ConfigError
from prompt_trainer.loop.action import Plan, decide
from prompt_trainer.loop.events import parse, pull_number_from_event, read_event
from prompt_trainer.models import PullRequestInfo, is_bot_account
from tests.conftest import REALDATA

EVENTS = REALDATA / "events"
pytestmark = pytest.mark.skipif(not EVENTS.exists(), reason="../shared/realdata not present")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def test_a_closed_pull_request_gives_its_number_author_labels_and_repositories() -> None:
    event = parse(
        "pull_request", load("pull_request/closed.not-merged.with-organization.octokit.json")
    )
    assert (event.action, event.pull, event.number) == ("closed", 2, 2)
    assert event.pull_info() == PullRequestInfo(number=2, author="Codertocat", labels=("bug",))
    assert (event.head_repo, event.base_repo) == ("Codertocat/Hello-World",) * 2
    assert not event.from_fork
    assert decide(event, "auto") == Plan("pr")
    assert event.review() is None  # a pull_request event is not a review


def test_a_pull_request_from_a_fork_is_planned_as_collect_only() -> None:
    payload = load("pull_request/closed.not-merged.with-organization.octokit.json")
    forked = copy.deepcopy(payload)
    forked["pull_request"]["head"]["repo"]["full_name"] = "someone/Hello-World"
    event = parse("pull_request_target", forked)
    assert event.from_fork
    assert decide(event, "auto") == Plan("pr-fork")
    assert decide(event, "collect") == Plan("collect")  # the mode wins over the event


def test_a_comment_says_who_wrote_it_and_whether_it_is_on_a_pull_request() -> None:
    on_issue = parse(
        "issue_comment", load("issue_comment/created.slash-command.cherry-pick-bot.json")
    )
    assert (on_issue.number, on_issue.sender, on_issue.comment_id) == (1, "Codertocat", 492700400)
    assert on_issue.body.startswith("/cherry-pick")
    assert on_issue.review() is None  # the issue has no pull_request key: not a PR
    on_pr = parse(
        "issue_comment", load("issue_comment/created.on-pr.retest.pipelines-as-code.json")
    )
    review = on_pr.review()
    assert review is not None and review.number == 1 and review.author == on_pr.sender


def test_a_bot_is_told_by_its_type_or_its_login() -> None:
    payload = load("pull_request_review_comment/created.octokit.json")
    assert not parse("pull_request_review_comment", payload).sender_is_bot
    as_app = copy.deepcopy(payload)
    as_app["comment"]["user"]["type"] = "Bot"
    assert parse("pull_request_review_comment", as_app).sender_is_bot
    assert is_bot_account("github-actions[bot]")
    assert is_bot_account("renovate", "Bot")
    assert not is_bot_account("Codertocat", "User")


def test_events_without_a_pull_request_plan_by_their_name() -> None:
    assert decide(
        parse("schedule", load("schedule/schedule.minimal.create-pull-request-issue-29.json")),
        "auto",
    ) == Plan("backfill")
    push = parse("push", load("push/payload.octokit.json"))
    assert push.pull is None and push.pull_info() is None
    assert decide(push, "auto") == Plan("none", "nothing to do for the push event")


def test_an_unreadable_payload_names_the_file(tmp_path: Path) -> None:
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="is not a JSON object"):
        read_event(str(listed))
    assert pull_number_from_event("pull_request", str(listed)) is None
    with pytest.raises(ConfigError, match="GITHUB_EVENT_PATH is not set"):
        read_event(None)
