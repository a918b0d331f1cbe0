"""Webhook events: the one place a GitHub event payload (``GITHUB_EVENT_PATH``) is read.

Takes the event's name (``GITHUB_EVENT_NAME``) and its JSON payload; returns a frozen ``Event``
with what the Action's planner, ``run``, the run records and the review loop need: the action,
the pull request (or issue) number, the PR's author, labels and head/base repositories, and for
a comment or review, who wrote it (and whether that is a bot, ``models.is_bot_account``), its id,
body and review state. ``Event.review`` is the review loop's ``ReviewEvent``, or None when the
event is not a review or comment on a pull request. Nothing else indexes into a payload.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prompt_trainer.errors import ConfigError
from prompt_trainer.models import PullRequestInfo, is_bot_account

PULL_EVENTS = ("pull_request", "pull_request_target")
REVIEW_EVENTS = ("issue_comment", "pull_request_review", "pull_request_review_comment")


@dataclass(frozen=True)
class ReviewEvent:
    """A review or comment on a pull request, for the review loop."""

    name: str
    number: int
    author: str
    association: str
    is_bot: bool
    body: str
    comment_id: int | None
    review_state: str | None = None
    #: Run from a terminal by whoever holds the token (``respond --pr``), not by a webhook.
    by_operator: bool = False


@dataclass(frozen=True)
class Event:
    """What a webhook payload says, typed (every field empty when the payload lacks it)."""

    name: str | None
    action: str | None = None
    #: ``pull_request.number`` (pull request, review and review-comment events).
    pull: int | None = None
    #: The pull request's number, else the issue's (``issue_comment``).
    number: int | None = None
    #: An ``issue_comment`` on a pull request (GitHub sets ``issue.pull_request`` then).
    issue_is_pull: bool = False
    author: str = ""
    labels: tuple[str, ...] = ()
    head_repo: str | None = None
    base_repo: str | None = None
    #: Who wrote the comment or review (``ghost`` for a deleted account).
    sender: str = "ghost"
    sender_is_bot: bool = False
    association: str = "NONE"
    comment_id: int | None = None
    body: str = ""
    review_state: str | None = None

    @property
    def from_fork(self) -> bool:
        """The pull request's head lives in another repository than its base."""
        return bool(self.head_repo and self.base_repo and self.head_repo != self.base_repo)

    def pull_info(self) -> PullRequestInfo | None:
        """The pull request as the agent filter reads it, when the payload has one."""
        if self.pull is None:
            return None
        return PullRequestInfo(number=self.pull, author=self.author, labels=self.labels)

    def review(self) -> ReviewEvent | None:
        """The review loop's event, or None when this is not a review or comment on a PR."""
        if self.name not in REVIEW_EVENTS:
            return None
        # A comment on an issue is not on a pull request (GitHub omits issue.pull_request then).
        number = (
            (self.number if self.issue_is_pull else None)
            if self.name == "issue_comment"
            else self.pull
        )
        if number is None:
            return None
        return ReviewEvent(
            name=str(self.name),
            number=number,
            author=self.sender,
            association=self.association,
            is_bot=self.sender_is_bot,
            body=self.body,
            comment_id=self.comment_id,
            review_state=self.review_state,
        )


def parse(name: str | None, payload: Mapping[str, Any]) -> Event:
    """The typed event of a payload (fields the payload lacks stay empty)."""
    pull = _object(payload.get("pull_request"))
    issue = _object(payload.get("issue"))
    item = _object(payload.get("review" if name == "pull_request_review" else "comment"))
    user = _object(item.get("user"))
    sender = str(user.get("login") or "ghost")
    return Event(
        name=name,
        action=_text(payload.get("action")),
        pull=_int(pull.get("number")),
        number=_int(pull.get("number")) or _int(issue.get("number")),
        issue_is_pull=issue.get("pull_request") is not None,
        author=str(_object(pull.get("user")).get("login", "")),
        labels=tuple(
            str(lb.get("name")) for lb in pull.get("labels") or [] if isinstance(lb, dict)
        ),
        head_repo=_text(_object(_object(pull.get("head")).get("repo")).get("full_name")),
        base_repo=_text(_object(_object(pull.get("base")).get("repo")).get("full_name")),
        sender=sender,
        sender_is_bot=is_bot_account(sender, user.get("type")),
        association=str(item.get("author_association") or "NONE"),
        comment_id=_int(item.get("id")),
        body=str(item.get("body") or ""),
        review_state=str(item.get("state") or "").lower() or None,
    )


def read_event(path: str | None) -> dict[str, object]:
    """The webhook payload at ``GITHUB_EVENT_PATH``."""
    if not path:
        raise ConfigError(
            "no event payload (GITHUB_EVENT_PATH is not set)", fix="pass --pr N to revise a PR"
        )
    data = _load(path, fix=None)
    if not isinstance(data, dict):
        raise ConfigError(f"the event payload {path} is not a JSON object")
    return data


def pull_number_from_event(name: str | None, path: str | None) -> int | None:
    """The PR number of a ``pull_request*`` event payload (``GITHUB_EVENT_PATH``), if any."""
    if not path or not (name or "").startswith("pull_request"):
        return None
    data = _load(path, fix="pass --pr N explicitly")
    return parse(name, data).pull if isinstance(data, dict) else None


def _load(path: str, *, fix: str | None) -> object:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the event payload {path}: {exc}", fix=fix) from None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
