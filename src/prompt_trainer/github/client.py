"""GitHub adapter, the one entry point: ``GitHubClient``, one repository and every call we make.

Callers hold one object. It is the ``Connection`` (PyGithub, retry, the bot's logins), and each
method hands itself to the module that owns the endpoint: ``pulls`` (pull requests, the bot's
own, comments), ``reviews`` (feedback, a PR's commits, write access), ``contents`` (files,
history, branch heads), ``gitdata`` (every write: one Git Data API commit), ``lock`` (the run
lock), ``actions`` (runs and artifacts) and ``issues`` (the dashboard). Everything returned is a
record from ``github.records`` or ``models``, or a plain value; errors are ``GitHubError`` with
a fix. Every text the bot writes (PR titles and bodies, comments, the dashboard, committed files
and messages) has the secrets this process holds masked first (``redact.mask_held``).

Who counts: trust is write access (``write_access``: the collaborator-permission endpoint, asked
once per login for the life of the client), and a PR, comment or issue is the bot's own only when
one of ``bot_logins`` wrote it (a PR also only from a branch of this repository). Markers in text
anyone can write (comment keys, the dashboard marker) are looked for only in the bot's own.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prompt_trainer.github import (
    actions,
    changes,
    contents,
    fetch,
    gitdata,
    issues,
    lock,
    pulls,
    reviews,
)
from prompt_trainer.github.connection import Connection, translate_errors
from prompt_trainer.github.records import (
    Access,
    ClosedPull,
    FoundIssue,
    OpenPull,
    PullAuthor,
    PullHead,
    PullWrite,
    RunWindow,
    WorkflowRun,
)
from prompt_trainer.models import (
    ArtifactRef,
    CommitInfo,
    CommitRef,
    Feedback,
    FileChange,
    LinkedIssue,
    PullRequestInfo,
    Skipped,
)
from prompt_trainer.redact import mask_held
from prompt_trainer.store import BranchFile


class GitHubClient(Connection):
    """One repository: reads, the bot's writes, the lock and the dashboard, in one object (the
    ``Connection`` it is, with a method per call, each handed to the module that owns it)."""

    def can_push(self) -> bool | None:
        """Whether the token may write to the repository (None when GitHub does not say, as
        for the Actions ``GITHUB_TOKEN``, whose permissions come from the workflow)."""
        with translate_errors("reading the repository's permissions"):
            permissions = self.repo.permissions
        return None if permissions is None else bool(permissions.push)

    # -- pull requests (``pulls``) ----------------------------------------------------------

    def pull(self, number: int) -> PullRequestInfo:
        return pulls.pull(self, number)

    def closed_pulls_since(
        self, since: datetime, *, afford: fetch.Afford | None = None
    ) -> list[PullRequestInfo]:
        return pulls.closed_pulls_since(self, since, afford=afford)

    def pull_head(self, number: int) -> PullHead:
        return pulls.pull_head(self, number)

    def recent_pull_authors(self, *, limit: int = 100) -> list[PullAuthor]:
        return pulls.recent_pull_authors(self, limit=limit)

    def closed_own_pulls(self, branches: tuple[str, ...], *, limit: int = 30) -> list[ClosedPull]:
        return pulls.closed_own_pulls(self, branches, limit=limit)

    def find_open_pull(self, branch: str) -> OpenPull | None:
        return pulls.find_open_pull(self, branch)

    def open_or_update_pull(
        self, *, branch: str, title: str, body: str, labels: tuple[str, ...], draft: bool = False
    ) -> PullWrite:
        title, body = mask_held(title), mask_held(body)
        return pulls.open_or_update_pull(
            self, branch=branch, title=title, body=body, labels=labels, draft=draft
        )

    def ensure_labels(self, number: int, labels: tuple[str, ...]) -> None:
        pulls.ensure_labels(self, number, labels)

    def pull_body(self, number: int) -> str:
        return pulls.pull_body(self, number)

    def edit_pull_body(self, number: int, body: str) -> None:
        pulls.edit_pull_body(self, number, mask_held(body))

    def close_pull(self, number: int) -> None:
        pulls.close_pull(self, number)

    def comment_once(self, number: int, body: str, *, key: str) -> bool:
        return pulls.comment_once(self, number, mask_held(body), key=key)

    # -- what people said, and whose word counts (``reviews``) -------------------------------

    def feedback(self, number: int, *, trusted: tuple[str, ...]) -> list[Feedback]:
        return reviews.feedback(self, number, trusted=trusted)

    def commits(self, number: int, *, agent: tuple[str, ...]) -> tuple[CommitInfo, ...]:
        return reviews.commits(self, number, agent=agent)

    def write_access(self, login: str) -> Access:
        """What ``login`` may do in the repository, asked once per login for the life of this
        client (one run)."""
        if login not in self.access:
            self.access[login] = reviews.ask_permission(self, login)
        return self.access[login]

    # -- files and history (``contents``) ----------------------------------------------------

    def read_text(self, path: str, *, ref: str) -> str | None:
        return contents.read_text(self, path, ref=ref)

    def list_files(self, directory: str, *, ref: str) -> list[str]:
        return contents.list_files(self, directory, ref=ref)

    def commits_touching(self, paths: tuple[str, ...]) -> list[CommitRef]:
        return contents.commits_touching(self, paths)

    def branch_head(self, branch: str) -> str | None:
        return contents.branch_head(self, branch)

    def read_branch_file(self, branch: str, path: str) -> BranchFile:
        return contents.read_branch_file(self, branch, path)

    def read_file_at(self, commit: str, path: str) -> str | None:
        return contents.read_text(self, path, ref=commit)

    # -- writes: one Git Data API commit each (``gitdata``) ---------------------------------

    def write_branch_file(
        self, branch: str, path: str, text: str, *, parent: str | None, message: str
    ) -> str | None:
        """The data branch: ``text`` at ``path`` on top of ``parent`` (a new root commit when
        None), then a fast-forward of ``branch``; None when the branch moved meanwhile."""
        made = gitdata.commit(
            self,
            branch=branch,
            files={path: text},
            message=message,
            parent=parent,
            move="fast-forward",
            action=f"writing {path} to the data branch {branch}",
        )
        return made.sha if made.moved else None

    def write_branch_files(
        self, branch: str, files: dict[str, str], *, parent: str | None, message: str
    ) -> str | None:
        """As ``write_branch_file``, every file of ``files`` in one commit (the ledger and the
        backfill's state, which speak of each other)."""
        made = gitdata.commit(
            self,
            branch=branch,
            files=dict(files),
            message=message,
            parent=parent,
            move="fast-forward",
            action=f"writing {', '.join(files)} to the data branch {branch}",
        )
        return made.sha if made.moved else None

    def commit_files(
        self, *, branch: str, files: dict[str, str | None], message: str, base: str | None = None
    ) -> str:
        """A proposal or revert: ``files`` (None deletes a path) on top of ``base`` (the default
        branch's head when None), ``branch`` created or force-moved there, but only over the
        bot's own commits (``ForeignCommitsError`` otherwise). Returns the commit sha."""
        default = self.info().default_branch
        with translate_errors(f"committing {len(files)} file(s) to {branch}"):
            parent = base or self.repo.get_git_ref(f"heads/{default}").object.sha
        made = gitdata.commit(
            self, branch=branch, files=files, message=message, parent=parent, move="force-own"
        )
        return made.sha

    def commit_on_top(
        self, *, branch: str, files: dict[str, str | None], message: str, parent: str
    ) -> str | None:
        """A revision: one commit on top of ``parent``, fast-forwarding ``branch`` (never a
        force-push); None when the branch moved meanwhile."""
        made = gitdata.commit(
            self,
            branch=branch,
            files=files,
            message=message,
            parent=parent,
            move="fast-forward",
        )
        return made.sha if made.moved else None

    # -- the run lock (``lock``) -------------------------------------------------------------

    def acquire_lock(self, name: str, *, holder: str, stale_after_s: int) -> str | None:
        """None when we now hold ``refs/<name>``; otherwise who holds it and since when."""
        return lock.acquire(self, name, holder=holder, stale_after_s=stale_after_s)

    def release_lock(self, name: str, *, holder: str) -> None:
        lock.release(self, name, holder=holder)

    # -- workflow runs and artifacts (``actions``) -------------------------------------------

    def run_window(
        self, since: datetime, until: datetime, *, afford: fetch.Afford | None = None
    ) -> RunWindow:
        return actions.run_window(self, since, until, afford=afford)

    def commit_runs(
        self, sha: str, *, workflows: tuple[str, ...] = (), window: RunWindow | None = None
    ) -> list[WorkflowRun]:
        return actions.commit_runs(self, sha, workflows=workflows, window=window)

    #: ``actions.event_runs`` as a method (its first parameter is the connection).
    event_runs = actions.event_runs

    def artifacts_of(self, runs: list[WorkflowRun]) -> list[ArtifactRef]:
        return actions.artifacts_of(self, runs)

    def artifacts_for_commit(
        self, sha: str, *, workflows: tuple[str, ...] = ()
    ) -> list[ArtifactRef]:
        return actions.artifacts_for_commit(self, sha, workflows=workflows)

    def download_artifact(self, ref: ArtifactRef, dest: Path, *, max_bytes: int) -> Path | Skipped:
        return actions.download_artifact(self, ref, dest, max_bytes=max_bytes)

    # -- what was read, and whether it changed since (``fetch``) ------------------------------

    def mark(self) -> int:
        """A point in this client's log of reads (``validators_since`` takes it)."""
        return len(self.fetched)

    def validators_since(self, mark: int) -> dict[str, str] | None:
        """The ETag of every read made since ``mark``: what to ask again, conditionally, to know
        whether any of it changed; None when one of them has none (a list of several pages)."""
        reads = self.fetched[mark:]
        if any(etag is None for _, etag in reads):
            return None
        return {url: etag for url, etag in reads if etag is not None}

    def still_current(self, etags: dict[str, str]) -> bool:
        """Whether every read in ``etags`` is unchanged (304s, which cost no rate budget)."""
        return fetch.still_current(self, etags)

    # -- the dashboard issue (``issues``) ----------------------------------------------------

    def find_issue(self, *, label: str, marker: str) -> FoundIssue | None:
        return issues.find_issue(self, label=label, marker=marker)

    def create_issue(self, *, title: str, body: str, label: str, marker: str) -> int:
        title, body = mask_held(title), mask_held(body)
        return issues.create_issue(self, title=title, body=body, label=label, marker=marker)

    def edit_issue(self, number: int, body: str) -> None:
        issues.edit_issue(self, number, mask_held(body))

    # -- what the trainer shows: the change, the human's fix, the task ------------------------

    def pull_files(self, number: int, *, limit: int = 300) -> tuple[FileChange, ...]:
        return changes.pull_files(self, number, limit=limit)

    def commit_patch(self, sha: str, *, limit: int = 50) -> tuple[FileChange, ...]:
        return changes.commit_patch(self, sha, limit=limit)

    def linked_issue(self, number: int) -> LinkedIssue | None:
        return changes.linked_issue(self, number)
