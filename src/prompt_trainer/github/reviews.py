"""GitHub adapter, what people said and did on a pull request, and whose word counts.

Takes a ``Connection`` and a PR number (or a login); returns the PR's reviews, review comments
and conversation comments as ``Feedback`` (oldest first), its commits as ``CommitInfo`` (each
marked as the agent's side or a human's), and what the collaborator-permission endpoint says of a
login (``Access``: trust is write access; a failed lookup is never trust). All of it is read from
the JSON the list endpoints returned, so a long thread costs no request per comment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests
from github import GithubException

from prompt_trainer.github.connection import Connection, listed, message_of, translate_errors
from prompt_trainer.github.records import Access
from prompt_trainer.models import CommitInfo, Feedback, is_bot_account


def feedback(conn: Connection, number: int, *, trusted: tuple[str, ...]) -> list[Feedback]:
    """Reviews, review comments and conversation comments, oldest first."""
    with translate_errors(f"reading reviews and comments of #{number}"):
        pull = conn.repo.get_pull(number)
        items = [_review(r, trusted) for r in pull.get_reviews()]
        items += [_review_comment(c, trusted) for c in pull.get_review_comments()]
        items += [_issue_comment(c, trusted) for c in pull.get_issue_comments()]
    return sorted(items, key=lambda f: (f.created_at or datetime.min.astimezone(), f.id))


def commits(conn: Connection, number: int, *, agent: tuple[str, ...]) -> tuple[CommitInfo, ...]:
    """The PR's commits, oldest first, each marked as the agent's side or a human's.

    A commit is on the agent's side when its GitHub author is in ``agent`` (the PR author and
    the configured agent logins) or is a bot; otherwise a human pushed it. Commits without a
    linked GitHub account are judged by their git author name the same way.
    """
    with translate_errors(f"reading the commits of #{number}"):
        found = [listed(c) for c in conn.repo.get_pull(number).get_commits()]
    return tuple(_commit_info(data, agent) for data in found)


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


def _author(obj: Any, trusted: tuple[str, ...]) -> dict[str, Any]:
    """Author fields shared by reviews and comments."""
    user = obj.user
    login = user.login if user else "ghost"
    is_bot = is_bot_account(login, user.type if user else None)
    association = getattr(obj, "author_association", None) or "NONE"
    return {
        "author": login,
        "author_association": association,
        "is_bot": is_bot,
        "trusted": association in trusted and not is_bot,
    }


def _review(review: Any, trusted: tuple[str, ...]) -> Feedback:
    return Feedback(
        kind="review",
        id=f"review-{review.id}",
        state=review.state,
        body=review.body or "",
        url=review.html_url,
        created_at=review.submitted_at,
        **_author(review, trusted),
    )


def _review_comment(comment: Any, trusted: tuple[str, ...]) -> Feedback:
    where = {"path": comment.path, "line": comment.line or comment.original_line}
    return _comment(
        comment,
        trusted,
        kind="review_comment",
        **where,
        in_reply_to=_reply_to(comment),
        diff_hunk=listed(comment).get("diff_hunk"),
    )


def _reply_to(comment: Any) -> str | None:
    """The id of the review comment this one replies to (``in_reply_to_id`` in the API)."""
    raw = listed(comment).get("in_reply_to_id")
    return f"review-comment-{raw}" if raw else None


def _issue_comment(comment: Any, trusted: tuple[str, ...]) -> Feedback:
    return _comment(comment, trusted, kind="comment")


def _comment(comment: Any, trusted: tuple[str, ...], *, kind: str, **extra: Any) -> Feedback:
    """A review comment or a conversation comment (ids ``review-comment-N``, ``comment-N``)."""
    return Feedback(
        kind=kind,
        id=f"{kind.replace('_', '-')}-{comment.id}",
        body=comment.body or "",
        url=comment.html_url,
        created_at=comment.created_at,
        **extra,
        **_author(comment, trusted),
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
        date=datetime.fromisoformat(date.replace("Z", "+00:00")) if date else None,
        by_agent=is_bot or name in agent,
    )
