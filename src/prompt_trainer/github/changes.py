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

from github import GithubException

from prompt_trainer.github.connection import Connection, listed, translate_errors
from prompt_trainer.models import FileChange, LinkedIssue


def pull_files(conn: Connection, number: int, *, limit: int = 300) -> tuple[FileChange, ...]:
    """The files #``number`` changes (``GET /pulls/{n}/files``), at most ``limit``."""
    with translate_errors(f"reading the files of #{number}"):
        files = conn.repo.get_pull(number).get_files()
        found = [file_change(listed(f)) for _, f in zip(range(limit), files, strict=False)]
    return tuple(found)


def commit_patch(conn: Connection, sha: str, *, limit: int = 50) -> tuple[FileChange, ...]:
    """The files one commit changed with their patches (``GET /commits/{sha}``)."""
    with translate_errors(f"reading commit {sha[:12]}"):
        data = listed(conn.repo.get_commit(sha))
    files = data.get("files") if isinstance(data.get("files"), list) else []
    return tuple(file_change(f) for f in (files or [])[:limit] if isinstance(f, dict))


def linked_issue(conn: Connection, number: int) -> LinkedIssue | None:
    """Title and body of issue #``number``; None when it does not exist (or is gone)."""
    with translate_errors(f"reading issue #{number}"):
        try:
            data = listed(conn.repo.get_issue(number))
        except GithubException as exc:
            if exc.status not in (404, 410):
                raise
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
