"""GitHub adapter, Git Data API writes: the one "blob -> tree -> commit -> move ref" sequence.

``commit`` takes a ``Connection``, a branch, ``{path: text or None}`` (None deletes a path), a
message, the parent commit and how the branch may move, and returns a ``Committed``: the new
commit's sha and whether the branch now points at it (a fast-forward can lose a race). Every
write of the bot's goes through it: the data branch's ledger (``store.BranchFiles``), a
proposal's commit, a revert and a revision. It never writes the default branch.
``fast-forward`` moves the ref only from ``parent`` (compare-and-swap: GitHub refuses a
non-forced update that is not a fast-forward), creating the branch when ``parent`` is None;
``force-own`` force-moves it, but only over commits with the identity GitHub gives the bot's
own commits, otherwise ``ForeignCommitsError`` and nothing moves.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any, Literal

from github import GithubException, InputGitTreeElement
from github.GitCommit import GitCommit

from prompt_trainer.errors import GitHubError
from prompt_trainer.github.connection import Connection, listed, translate_errors
from prompt_trainer.redact import mask_held

#: How ``commit`` moves the branch: only from its parent, or by force over the bot's own commits.
Move = Literal["fast-forward", "force-own"]


class ForeignCommitsError(GitHubError):
    """The bot's branch holds commits someone else wrote: it is not force-moved over them."""

    def __init__(self, branch: str, commits: list[str]) -> None:
        self.branch = branch
        self.commits = tuple(commits)
        super().__init__(
            f"{branch} has commits not written by prompt-trainer ({', '.join(commits)}); "
            "it was not force-moved over them",
            fix=f"merge or move that work elsewhere, or delete the branch {branch} if it is "
            "not needed; the next run then proposes again",
        )


@dataclass(frozen=True)
class Committed:
    """A commit made, and whether the branch was moved to it."""

    sha: str
    moved: bool


def commit(
    conn: Connection,
    *,
    branch: str,
    files: dict[str, str | None],
    message: str,
    parent: str | None,
    move: Move,
    action: str | None = None,
) -> Committed:
    """One commit of ``files`` on top of ``parent`` (a root commit when None), then ``branch``
    moved to it as ``move`` says (every text with the held secrets masked first:
    ``redact.mask_held``); not ``moved`` when a fast-forward found the branch moved (or,
    for a new branch, created meanwhile). ``action`` names the write in errors."""
    conn.refuse_default_branch(branch)
    files = {path: None if text is None else mask_held(text) for path, text in files.items()}
    with translate_errors(action or f"committing {len(files)} file(s) to {branch}"):
        made = _new_commit(conn, files, message=mask_held(message), parent=parent)
        if move == "force-own":
            _refuse_foreign(conn, branch, parent, ours=_identity(listed(made)))
            _force_move(conn, branch, made.sha)
            return Committed(made.sha, moved=True)
        return Committed(made.sha, moved=_fast_forward(conn, branch, made.sha, new=parent is None))


def _new_commit(
    conn: Connection, files: dict[str, str | None], *, message: str, parent: str | None
) -> GitCommit:
    """A blob per file, a tree on the parent's tree, and the commit."""
    repo = conn.repo
    elements = [_tree_element(conn, path, text) for path, text in sorted(files.items())]
    if parent is None:
        return repo.create_git_commit(message, repo.create_git_tree(elements), [])
    base = repo.get_git_commit(parent)
    tree = repo.create_git_tree(elements, base_tree=base.tree)
    return repo.create_git_commit(message, tree, [base])


def _tree_element(conn: Connection, path: str, text: str | None) -> InputGitTreeElement:
    if text is None:
        return InputGitTreeElement(path, "100644", "blob", sha=None)
    content = base64.b64encode(text.encode("utf-8")).decode("ascii")
    blob = conn.repo.create_git_blob(content, "base64")
    return InputGitTreeElement(path, "100644", "blob", sha=blob.sha)


def _fast_forward(conn: Connection, branch: str, sha: str, *, new: bool) -> bool:
    """Create the branch (``new``) or move it as a fast-forward; False when GitHub refuses
    (422: not a fast-forward, or the branch was created meanwhile)."""
    try:
        if new:
            conn.repo.create_git_ref(f"refs/heads/{branch}", sha)
        else:
            conn.repo.get_git_ref(f"heads/{branch}").edit(sha, force=False)
    except GithubException as exc:
        if exc.status == 422:
            return False
        raise
    return True


def _force_move(conn: Connection, branch: str, sha: str) -> None:
    try:
        conn.repo.get_git_ref(f"heads/{branch}").edit(sha, force=True)
    except GithubException as exc:
        if exc.status != 404:
            raise
        conn.repo.create_git_ref(f"refs/heads/{branch}", sha)


def _refuse_foreign(
    conn: Connection, branch: str, base: str | None, *, ours: tuple[str, str]
) -> None:
    foreign = _foreign_commits(conn, branch, base, ours=ours)
    if foreign:
        raise ForeignCommitsError(branch, foreign)


def _foreign_commits(
    conn: Connection, branch: str, base: str | None, *, ours: tuple[str, str]
) -> list[str]:
    """``sha (author)`` of the commits on ``branch`` beyond ``base`` that the bot did not
    write (empty when the branch does not exist). A branch too far ahead to list counts as
    foreign."""
    head = conn.ref_sha(f"heads/{branch}")
    if head is None:
        return []
    if base is None:  # a new root commit: everything on the branch is beyond it
        return [f"{head[:7]} (the branch has a history of its own)"]
    data = listed(conn.repo.compare(base, head))
    commits = [c for c in data.get("commits") or [] if isinstance(c, dict)]
    foreign = [
        f"{str(c.get('sha', ''))[:7]} ({_author_name(c.get('commit') or {})})"
        for c in commits
        if _identity(c.get("commit") or {}) != ours
    ]
    ahead = data.get("ahead_by")
    if isinstance(ahead, int) and ahead > len(commits):
        foreign.append(f"{ahead - len(commits)} more commit(s) not listed")
    return foreign


def _identity(commit: dict[str, Any]) -> tuple[str, str]:
    """(author email, committer email) of a git commit's JSON."""
    author = commit.get("author") if isinstance(commit.get("author"), dict) else {}
    committer = commit.get("committer") if isinstance(commit.get("committer"), dict) else {}
    return str((author or {}).get("email", "")), str((committer or {}).get("email", ""))


def _author_name(commit: dict[str, Any]) -> str:
    """A commit's git author name, reduced to plain word characters (it is shown in comments,
    so no mentions or markup), at most 40 of them."""
    author = commit.get("author")
    name = str(author.get("name") or "") if isinstance(author, dict) else ""
    return re.sub(r"[^\w .-]", "", name)[:40].strip() or "unknown"
