"""GitHub adapter, what a pull request changed: the files of a PR, the patches of one commit, and
the issue a PR's body closes (the task, the change and the human's fix the trainer shows).

Takes a ``Connection`` and a PR number, a commit sha or an issue number; returns ``FileChange``
and ``LinkedIssue`` records. A file without a ``patch`` (binary, or a diff GitHub left out for
its size) keeps its counts and a note. Review-thread resolution is GraphQL-only
(``isResolved``); the REST API does not give it, so ``Feedback.resolved`` stays unknown for
GitHub evidence.
"""

from __future__ import annotations

from typing import Any

from prompt_trainer.github import fetch
from prompt_trainer.github.connection import Connection
from prompt_trainer.models import FileChange, LinkedIssue


def pull_files(conn: Connection, number: int, *, limit: int = 300) -> tuple[FileChange, ...]:
    """The files #``number`` changes (``GET /pulls/{n}/files``), at most ``limit``."""
    files = fetch.get_list(
        conn,
        f"/repos/{conn.repo.full_name}/pulls/{number}/files",
        action=f"reading the files of #{number}",
        limit=limit,
    )
    return tuple(file_change(f) for f in files if isinstance(f, dict))


def commit_patch(conn: Connection, sha: str, *, limit: int = 50) -> tuple[FileChange, ...]:
    """The files one commit changed with their patches (``GET /commits/{sha}``)."""
    answer = fetch.get(
        conn, f"/repos/{conn.repo.full_name}/commits/{sha}", action=f"reading commit {sha[:12]}"
    )
    data = answer.data if isinstance(answer.data, dict) else {}
    files = data.get("files") if isinstance(data.get("files"), list) else []
    return tuple(file_change(f) for f in (files or [])[:limit] if isinstance(f, dict))


def linked_issue(conn: Connection, number: int) -> LinkedIssue | None:
    """Title and body of issue #``number``; None when it does not exist (or is gone)."""
    answer = fetch.get(
        conn,
        f"/repos/{conn.repo.full_name}/issues/{number}",
        action=f"reading issue #{number}",
        missing_ok=True,
    )
    data = answer.data if isinstance(answer.data, dict) else None
    if data is None:
        return None
    return LinkedIssue(
        number=number, title=str(data.get("title") or ""), body=str(data.get("body") or "")
    )


def file_change(data: dict[str, Any]) -> FileChange:
    """A file of ``/pulls/{n}/files`` or of a commit's ``files``."""
    patch = data.get("patch")
    return FileChange(
        path=str(data.get("filename") or ""),
        status=str(data.get("status") or "modified"),
        additions=int(data.get("additions") or 0),
        deletions=int(data.get("deletions") or 0),
        patch=patch if isinstance(patch, str) else None,
        note=None if isinstance(patch, str) else "no patch (binary or too large for the API)",
    )
