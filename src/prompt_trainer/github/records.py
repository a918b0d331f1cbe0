"""GitHub adapter, its records: the frozen values ``GitHubClient`` returns besides ``models``.

No PyGithub object leaves ``github/``; what callers get back is one of these (or a record from
``models``, or a plain value): the repository itself, what the collaborator-permission endpoint
says of a login, who opened a pull request and from where, an open or closed PR of the bot's, the
dashboard issue, and the outcome of opening or updating a PR. Built by the other ``github/``
modules from API JSON; read by the loop (``propose``, ``followup``, ``respond``, ``dashboard``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from prompt_trainer.models import Record

#: Repository permissions that make a person's feedback and commands trusted (GitHub reports the
#: maintain role as ``write``; ``maintain`` is accepted should it say so).
WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


class RepoInfo(Record):
    """What the pipeline needs to know about the repository itself."""

    full_name: str
    owner: str
    default_branch: str


class Access(Record):
    """What the collaborator-permission endpoint says of one login.

    ``permission`` is ``admin``, ``write``, ``read`` or ``none`` (also for someone who is no
    collaborator: a 404); None with a ``problem`` when the lookup failed, which is never trust."""

    login: str
    permission: str | None
    problem: str | None = None

    @property
    def trusted(self) -> bool:
        return self.permission in WRITE_PERMISSIONS


class PullHead(Record):
    """Who opened a pull request and from where: what decides whether it is the bot's own."""

    number: int
    author: str
    head_ref: str
    #: Full name of the head repository (a fork's, for a PR from a fork; None if deleted).
    head_repo: str | None
    base_repo: str
    body: str
    merged: bool
    url: str
    #: Opened by one of the bot's logins from a branch of this repository (not a fork).
    by_bot: bool


class PullAuthor(Record):
    """Who opened a pull request, and whether GitHub calls the account a bot."""

    login: str
    bot: bool


class OpenPull(Record):
    """The bot's open pull request of a branch."""

    number: int
    url: str


class ClosedPull(Record):
    """A closed pull request the bot opened: whether it was merged, and its body (state block)."""

    number: int
    merged: bool
    body: str
    url: str
    merged_at: datetime | None = None


class PullWrite(Record):
    """What ``open_or_update_pull`` did: the PR, and whether it was ``created`` or ``updated``."""

    number: int
    url: str
    operation: Literal["created", "updated"]


class FoundIssue(Record):
    """An issue found by its label and marker (the dashboard), with its body."""

    number: int
    body: str


class Rate(Record):
    """The token's REST budget as GitHub last reported it (``X-RateLimit-*`` headers or
    ``GET /rate_limit``): requests left of ``limit`` until ``reset_at``."""

    remaining: int
    limit: int
    reset_at: datetime

    def later(self, other: Rate | None) -> Rate:
        """The newer of two reports: the later window, else the lower count (a budget only
        goes down within its window)."""
        if other is None or self.reset_at > other.reset_at:
            return self
        if other.reset_at > self.reset_at:
            return other
        return self if self.remaining <= other.remaining else other


class WorkflowRun(Record):
    """One workflow run of this repository's list (its latest attempt), as matching needs it."""

    id: int
    attempt: int
    conclusion: str | None
    head_sha: str
    head_branch: str
    event: str
    title: str
    created_at: datetime | None
    #: ``owner/name`` (lower-case) its head commit came from: a fork's for a fork's PR.
    head_repository: str
    #: The workflow's name and file path (``.github/workflows/ci.yml``).
    name: str
    path: str


class RunWindow(Record):
    """Every run of the repository created in ``since..until``, listed once for a backfill; a
    PR's runs are then found in it by head commit, event, branch and title."""

    since: datetime
    until: datetime
    runs: tuple[WorkflowRun, ...] = ()

    def covers(self, since: datetime, until: datetime | None = None) -> bool:
        """Whether every run created from ``since`` until ``until`` (the window's end when
        None) is in it."""
        return self.since <= since and (until is None or until <= self.until)
