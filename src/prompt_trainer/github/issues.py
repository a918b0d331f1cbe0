"""GitHub adapter, issues: the dashboard issue, found by its label and the bot's marker.

Takes a ``Connection``, a label and a marker (a hidden HTML comment in the body); returns the
bot's issue as a ``FoundIssue`` (anyone else's issue with the same label and marker is not it),
creates one (never a second one after a 5xx) and edits its body.
"""

from __future__ import annotations

from github import GithubException

from prompt_trainer.errors import GitHubError
from prompt_trainer.github.connection import Connection, listed, translate_errors
from prompt_trainer.github.records import FoundIssue


def find_issue(conn: Connection, *, label: str, marker: str) -> FoundIssue | None:
    """The lowest-numbered issue (open or closed, not a PR) with ``label`` whose body holds
    ``marker`` and that one of the bot's logins opened: the dashboard, found again whatever its
    title became."""
    with translate_errors(f"looking up the issue labelled {label}"):
        found = [
            FoundIssue(number=issue.number, body=issue.body or "")
            for issue in conn.repo.get_issues(state="all", labels=[label])
            if issue.pull_request is None
            and marker in (issue.body or "")
            and conn.is_bot_login(listed(issue).get("user"))
        ]
    return min(found, key=lambda issue: issue.number) if found else None


def create_issue(conn: Connection, *, title: str, body: str, label: str, marker: str) -> int:
    """Open the issue; a 5xx after GitHub created it is answered by finding it (never a
    second one)."""
    with translate_errors("creating the dashboard issue"):
        try:
            return int(conn.repo.create_issue(title=title, body=body, labels=[label]).number)
        except GithubException as exc:
            if exc.status < 500:
                raise
    found = find_issue(conn, label=label, marker=marker)
    if found is None:
        raise GitHubError(
            "GitHub failed while creating the dashboard issue",
            fix="run again; the next run creates it (or finds it, if it was made)",
        )
    return found.number


def edit_issue(conn: Connection, number: int, body: str) -> None:
    with translate_errors(f"updating issue #{number}"):
        conn.repo.get_issue(number).edit(body=body)
