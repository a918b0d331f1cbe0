"""GitHub adapter, reading the repository's files and history (contents API and git refs).

Takes a ``Connection`` and a ref (a commit or a branch); returns plain values: a file's text (a
blob read for files over the contents API's 1 MB), the files of a directory, the commits of the
default branch that touched the prompt files (``CommitRef``), where a branch points, and one file
on a branch with the head it was read at (``store.BranchFile``, the data branch's read).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from github import GithubException

from prompt_trainer.github.connection import Connection, listed, translate_errors
from prompt_trainer.models import CommitRef
from prompt_trainer.store import BranchFile


def read_text(conn: Connection, path: str, *, ref: str) -> str | None:
    """A file's text at ``ref``; None if it does not exist there."""
    with translate_errors(f"reading {path} at {ref[:12]}"):
        try:
            content = conn.repo.get_contents(path, ref=ref)
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise
    if isinstance(content, list) or content.type != "file":
        return None
    if content.encoding == "none":  # over 1 MB: the contents API omits it; read the blob
        return _blob_text(conn, content.sha)
    return content.decoded_content.decode("utf-8", errors="replace")


def _blob_text(conn: Connection, sha: str) -> str:
    with translate_errors(f"reading blob {sha[:12]}"):
        blob = conn.repo.get_git_blob(sha)
    return base64.b64decode(blob.content).decode("utf-8", errors="replace")


def list_files(conn: Connection, directory: str, *, ref: str) -> list[str]:
    """Paths of the files directly inside ``directory`` at ``ref`` (empty if none)."""
    with translate_errors(f"listing {directory} at {ref[:12]}"):
        try:
            content = conn.repo.get_contents(directory, ref=ref)
        except GithubException as exc:
            if exc.status == 404:
                return []
            raise
    items = content if isinstance(content, list) else [content]
    return sorted(item.path for item in items if item.type == "file")


def commits_touching(conn: Connection, paths: tuple[str, ...]) -> list[CommitRef]:
    """Commits of the default branch that changed any of ``paths``, oldest first."""
    found: dict[str, CommitRef] = {}
    with translate_errors("reading the history of the prompt files"):
        for path in paths:
            for commit in reversed(list(conn.repo.get_commits(path=path))):
                git = listed(commit).get("commit") or {}
                date = (git.get("committer") or {}).get("date")
                found[commit.sha] = CommitRef(
                    sha=commit.sha,
                    date=datetime.fromisoformat(date.replace("Z", "+00:00")) if date else None,
                    subject=str(git.get("message", "")).split("\n", 1)[0],
                )
    # Stable: commits with equal dates keep the API's order (oldest first).
    return sorted(found.values(), key=lambda c: c.date or datetime.max.replace(tzinfo=UTC))


def branch_head(conn: Connection, branch: str) -> str | None:
    """The commit ``branch`` points at, or None when it does not exist."""
    with translate_errors(f"reading the branch {branch}"):
        return conn.ref_sha(f"heads/{branch}")


def read_branch_file(conn: Connection, branch: str, path: str) -> BranchFile:
    """The text of ``path`` on ``branch`` (None when absent) and the head it was read at (None
    when the branch does not exist)."""
    with translate_errors(f"reading the data branch {branch}"):
        head = conn.ref_sha(f"heads/{branch}")
    if head is None:
        return BranchFile(text=None, head=None)
    return BranchFile(text=read_text(conn, path, ref=head), head=head)
