"""GitHub adapter, what people said and did on a pull request, and whose word counts.

Takes a ``Connection`` and a PR number (or a login); returns the PR's reviews, review comments
and conversation comments as ``Feedback`` (oldest first), its commits as ``CommitInfo`` (each
marked as the agent's side or a human's), and what the collaborator-permission endpoint says of a
login (``Access``: trust is write access; a failed lookup is never trust). All of it is read from
the JSON the list endpoints returned (``fetch``, by path and with ETags), so a long thread costs
no request per comment and none for the PR itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests
from github import GithubException

from prompt_trainer.github import fetch
from prompt_trainer.github.connection import Connection, message_of
from prompt_trainer.github.fetch import timestamp
from prompt_trainer.github.records import Access
from prompt_trainer.models import CommitInfo, Feedback, is_bot_account


def feedback(conn: Connection, number: int, *, trusted: tuple[str, ...]) -> list[Feedback]:
    """Reviews, review comments and conversation comments, oldest first (three lists, read by
    path: no ``GET /pulls/{n}`` first)."""
    action = f"reading reviews and comments of #{number}"
    pulls, issues = f"/repos/{conn.repo.full_name}/pulls", f"/repos/{conn.repo.full_name}/issues"
    items = [
        _review(r, trusted)
        for r in fetch.get_list(conn, f"{pulls}/{number}/reviews", action=action)
    ]
    items += [
        _review_comment(c, trusted)
        for c in fetch.get_list(conn, f"{pulls}/{number}/comments", action=action)
    ]
    items += [
        _issue_comment(c, trusted)
        for c in fetch.get_list(conn, f"{issues}/{number}/comments", action=action)
    ]
    return sorted(items, key=lambda f: (f.created_at or datetime.min.astimezone(), f.id))


def commits(conn: Connection, number: int, *, agent: tuple[str, ...]) -> tuple[CommitInfo, ...]:
    """The PR's commits, oldest first, each marked as the agent's side or a human's.

    A commit is on the agent's side when its GitHub author is in ``agent`` (the PR author and
    the configured agent logins) or is a bot; otherwise a human pushed it. Commits without a
    linked GitHub account are judged by their git author name the same way.
    """
    found = fetch.get_list(
        conn,
        f"/repos/{conn.repo.full_name}/pulls/{number}/commits",
        action=f"reading the commits of #{number}",
    )
    return tuple(_commit_info(data, agent) for data in found if isinstance(data, dict))


def ask_permission(conn: Connection, login: str) -> Access:
    """What ``login`` may do in the repository (``GET /collaborators/{login}/permission``)."""
    try:
        permission = conn.repo.get_collaborator_permission(login)
    except GithubException as exc:
        if exc.status == 404:  # not a collaborator (or no such user)
            return Access(login=login, permission="none")
        return Access(login=login, permission=None, problem=f"{exc.status} {message_of(exc)}")
    except requests.exceptions.RequestException as exc:
        return Access(login=login, permission=None, problem=str(exc))
    return Access(login=login, permission=str(permission))


def _author(data: dict[str, Any], trusted: tuple[str, ...]) -> dict[str, Any]:
    """Author fields shared by reviews and comments."""
    user = data.get("user") if isinstance(data.get("user"), dict) else None
    login = str(user.get("login") or "ghost") if user else "ghost"
    is_bot = is_bot_account(login, user.get("type") if user else None)
    association = str(data.get("author_association") or "NONE")
    return {
        "author": login,
        "author_association": association,
        "is_bot": is_bot,
        "trusted": association in trusted and not is_bot,
    }


def _review(data: dict[str, Any], trusted: tuple[str, ...]) -> Feedback:
    return Feedback(
        kind="review",
        id=f"review-{data.get('id')}",
        state=data.get("state"),
        body=str(data.get("body") or ""),
        url=data.get("html_url"),
        created_at=timestamp(data.get("submitted_at")),
        **_author(data, trusted),
    )


def _review_comment(data: dict[str, Any], trusted: tuple[str, ...]) -> Feedback:
    raw = data.get("in_reply_to_id")
    return _comment(
        data,
        trusted,
        kind="review_comment",
        path=data.get("path"),
        line=data.get("line") or data.get("original_line"),
        in_reply_to=f"review-comment-{raw}" if raw else None,
        diff_hunk=data.get("diff_hunk"),
    )


def _issue_comment(data: dict[str, Any], trusted: tuple[str, ...]) -> Feedback:
    return _comment(data, trusted, kind="comment")


def _comment(
    data: dict[str, Any], trusted: tuple[str, ...], *, kind: str, **extra: Any
) -> Feedback:
    """A review comment or a conversation comment (ids ``review-comment-N``, ``comment-N``)."""
    return Feedback(
        kind=kind,
        id=f"{kind.replace('_', '-')}-{data.get('id')}",
        body=str(data.get("body") or ""),
        url=data.get("html_url"),
        created_at=timestamp(data.get("created_at")),
        **extra,
        **_author(data, trusted),
    )


def _commit_info(data: dict[str, Any], agent: tuple[str, ...]) -> CommitInfo:
    """A commit from the pull-request commits listing (JSON, to avoid a fetch per commit)."""
    account = data.get("author") if isinstance(data.get("author"), dict) else None
    git = data.get("commit", {}) if isinstance(data.get("commit"), dict) else {}
    git_author = git.get("author") or {}
    committer = git.get("committer") or {}
    login = str(account.get("login", "")) if account else ""
    name = login or str(git_author.get("name", ""))
    is_bot = is_bot_account(name, account.get("type") if account else None)
    date = committer.get("date") or git_author.get("date")
    return CommitInfo(
        sha=str(data.get("sha", "")),
        author=name,
        date=timestamp(date),
        by_agent=is_bot or name in agent,
    )
