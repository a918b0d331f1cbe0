"""PyGithub wrapper for the endpoints prompt-trainer uses, with errors that say what to fix.

Reads: pull requests, reviews and comments, workflow runs and artifacts of a commit, file contents
at a commit. Writes: blobs/tree/commit/ref through the Git Data API on the bot's own branch, and
one pull request per branch (looked up before it is created, because PyGithub may send a POST
twice). Artifacts are downloaded with ``requests`` in two steps: the API answers 302 to a storage
host, which is fetched without the token.

PyGithub's default retry re-sends POSTs and waits without backoff; this client retries only
idempotent methods, with exponential backoff (``backoff_s``, from the caller), a bounded number
of times; a Retry-After or rate-limit reset from GitHub is honoured whatever the backoff.

Who counts: trust is write access (``write_access``: the collaborator-permission endpoint, asked
once per login for the life of the client), and a PR, comment or issue is the bot's own only when
one of ``bot_logins`` wrote it (a PR also only from a branch of this repository). Markers in text
anyone can write (comment keys, the dashboard marker) are looked for only in the bot's own.
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubRetry, InputGitTreeElement
from github.PullRequest import PullRequest
from github.Repository import Repository
from pydantic import BaseModel, ConfigDict
from urllib3.util.retry import Retry

from prompt_trainer.errors import GitHubError
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
from prompt_trainer.settings import DEFAULT_BOT_LOGINS

TIMEOUT_S = 30
RETRIES = 3
#: urllib3's backoff factor: retries wait 0, 2x, 4x this (as settings.DEFAULT_BACKOFF_S).
BACKOFF_S = 0.5
#: (number, merged, body, url) of a closed pull request.
ClosedPull = tuple[int, bool, str, str]
DOWNLOAD_CHUNK = 1024 * 1024
#: Repository permissions that make a person's feedback and commands trusted (GitHub reports the
#: maintain role as ``write``; ``maintain`` is accepted should it say so).
WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


class RepoInfo(BaseModel):
    """What the pipeline needs to know about the repository itself."""

    model_config = ConfigDict(frozen=True)

    full_name: str
    owner: str
    default_branch: str


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


class Access(BaseModel):
    """What the collaborator-permission endpoint says of one login.

    ``permission`` is ``admin``, ``write``, ``read`` or ``none`` (also for someone who is no
    collaborator: a 404); None with a ``problem`` when the lookup failed, which is never trust."""

    model_config = ConfigDict(frozen=True)

    login: str
    permission: str | None
    problem: str | None = None

    @property
    def trusted(self) -> bool:
        return self.permission in WRITE_PERMISSIONS


class PullHead(BaseModel):
    """Who opened a pull request and from where: what decides whether it is the bot's own."""

    model_config = ConfigDict(frozen=True)

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


@contextlib.contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn PyGithub and requests failures into a ``GitHubError`` that names a fix."""
    try:
        yield
    except GithubException as exc:
        raise GitHubError(
            f"GitHub API error while {action}: {exc.status} {_message(exc)}",
            fix=_fix_for_status(exc.status),
        ) from exc
    except requests.exceptions.RetryError as exc:
        raise GitHubError(
            f"GitHub kept failing while {action}, after {RETRIES} retries with backoff: "
            f"{exc.args[0].reason if exc.args and hasattr(exc.args[0], 'reason') else exc}",
            fix="GitHub may be degraded (githubstatus.com); run again later. Evidence "
            "collected so far is kept",
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise GitHubError(
            f"cannot reach the GitHub API while {action}: {exc}",
            fix="check GITHUB_API_URL and the network; retry the run",
        ) from exc


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict):
        return str(data.get("message", ""))
    return str(data or "")


def _fix_for_status(status: int) -> str:
    fixes = {
        401: "the token is missing or invalid: set GITHUB_TOKEN (in a workflow, pass "
        "github-token: ${{ secrets.GITHUB_TOKEN }})",
        403: "the token lacks a permission: grant contents: write, pull-requests: write and "
        "actions: read under permissions:, or wait for the rate limit to reset",
        404: "check the repository name (--repo / GITHUB_REPOSITORY), the PR number, and that "
        "the token can see the repository",
        422: "GitHub rejected the request as invalid; see the message above",
    }
    return fixes.get(status, "retry the run; if it persists, check githubstatus.com")


class GitHubClient:
    """One repository, reached through PyGithub with a bounded, backing-off retry."""

    def __init__(
        self,
        *,
        api_url: str,
        token: str | None,
        repository: str,
        timeout_s: int = TIMEOUT_S,
        bot_logins: tuple[str, ...] = DEFAULT_BOT_LOGINS,
        backoff_s: float = BACKOFF_S,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.bot_logins = bot_logins
        self._access: dict[str, Access] = {}
        retry = GithubRetry(
            total=RETRIES,
            backoff_factor=backoff_s,
            # 5xx and 429 (GithubRetry adds 403, for secondary rate limits); Retry-After is
            # honoured. Only idempotent methods: a POST is never re-sent blindly.
            status_forcelist=[*range(500, 600), 429],
            allowed_methods=Retry.DEFAULT_ALLOWED_METHODS,
            secondary_rate_wait=10 * backoff_s,  # without Retry-After; 5 s by default
            max_rate_limit_wait=120,
        )
        self._github = Github(
            base_url=self.api_url,
            auth=Auth.Token(token) if token else None,
            timeout=timeout_s,
            retry=retry,
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        with translate_errors(f"opening repository {repository}"):
            self._repo: Repository = self._github.get_repo(repository)

    def info(self) -> RepoInfo:
        repo = self._repo
        return RepoInfo(
            full_name=repo.full_name, owner=repo.owner.login, default_branch=repo.default_branch
        )

    def can_push(self) -> bool | None:
        """Whether the token may write to the repository (None when GitHub does not say, as
        for the Actions ``GITHUB_TOKEN``, whose permissions come from the workflow)."""
        with translate_errors("reading the repository's permissions"):
            permissions = self._repo.permissions
        return None if permissions is None else bool(permissions.push)

    # -- reading ---------------------------------------------------------------------------

    def pull(self, number: int) -> PullRequestInfo:
        with translate_errors(f"reading pull request #{number}"):
            return _pull_info(self._repo.get_pull(number))

    def closed_pulls_since(self, since: datetime) -> list[PullRequestInfo]:
        """Pull requests closed (merged or not) at or after ``since``, newest update first.

        Listed by last update, descending, so the walk stops at the first PR updated before
        ``since``: a PR closed after ``since`` was necessarily updated after it too.
        """
        found: list[PullRequestInfo] = []
        with translate_errors("listing closed pull requests"):
            for pull in self._repo.get_pulls(state="closed", sort="updated", direction="desc"):
                if pull.updated_at and pull.updated_at < since:
                    break
                if pull.closed_at and pull.closed_at >= since:
                    found.append(_pull_info(pull))
        return found

    def feedback(self, number: int, *, trusted: tuple[str, ...]) -> list[Feedback]:
        """Reviews, review comments and conversation comments, oldest first."""
        with translate_errors(f"reading reviews and comments of #{number}"):
            pull = self._repo.get_pull(number)
            items = [_review(r, trusted) for r in pull.get_reviews()]
            items += [_review_comment(c, trusted) for c in pull.get_review_comments()]
            items += [_issue_comment(c, trusted) for c in pull.get_issue_comments()]
        return sorted(items, key=lambda f: (f.created_at or datetime.min.astimezone(), f.id))

    def commits(self, number: int, *, agent: tuple[str, ...]) -> tuple[CommitInfo, ...]:
        """The PR's commits, oldest first, each marked as the agent's side or a human's.

        A commit is on the agent's side when its GitHub author is in ``agent`` (the PR author and
        the configured agent logins) or is a bot; otherwise a human pushed it. Commits without a
        linked GitHub account are judged by their git author name the same way.
        """
        with translate_errors(f"reading the commits of #{number}"):
            listed = [_listed(c) for c in self._repo.get_pull(number).get_commits()]
        return tuple(_commit_info(data, agent) for data in listed)

    def commits_touching(self, paths: tuple[str, ...]) -> list[CommitRef]:
        """Commits of the default branch that changed any of ``paths``, oldest first."""
        found: dict[str, CommitRef] = {}
        with translate_errors("reading the history of the prompt files"):
            for path in paths:
                for commit in reversed(list(self._repo.get_commits(path=path))):
                    data = _listed(commit)
                    git = data.get("commit") or {}
                    date = (git.get("committer") or {}).get("date")
                    found[commit.sha] = CommitRef(
                        sha=commit.sha,
                        date=datetime.fromisoformat(date.replace("Z", "+00:00")) if date else None,
                        subject=str(git.get("message", "")).split("\n", 1)[0],
                    )
        # Stable: commits with equal dates keep the API's order (oldest first).
        return sorted(found.values(), key=lambda c: c.date or datetime.max.replace(tzinfo=UTC))

    def ci_conclusion(self, sha: str, *, workflows: tuple[str, ...] = ()) -> str | None:
        """``failure`` if any completed workflow run of ``sha`` failed, ``success`` if all that
        completed succeeded (or were skipped/neutral), None when none completed. Only runs of
        this repository (not a fork's) count, and only of ``workflows`` when given."""
        with translate_errors(f"listing workflow runs of {sha[:12]}"):
            conclusions = [_listed(run).get("conclusion") for run in self._runs(sha, workflows)]
        done = [c for c in conclusions if c and c != "cancelled"]
        if not done:
            return None
        failed = any(c in ("failure", "timed_out", "startup_failure") for c in done)
        return "failure" if failed else "success"

    def artifacts_for_commit(
        self, sha: str, *, workflows: tuple[str, ...] = ()
    ) -> list[ArtifactRef]:
        """Artifacts of every workflow run of this repository whose head is ``sha`` (a run
        from a fork, whose workflow files the fork controls, supplies none), and only of
        ``workflows`` (names or file paths) when given.

        The API lists one entry per run, at its latest attempt, and an artifact belongs to the
        run rather than to an attempt, so the artifacts uploaded by earlier attempts (re-runs)
        are in the same list. ``run_attempts`` records how many attempts the run had.
        """
        refs: list[ArtifactRef] = []
        with translate_errors(f"listing workflow runs of {sha[:12]}"):
            for run in self._runs(sha, workflows):
                attempts = _listed(run).get("run_attempt")
                refs += [
                    _artifact(a, run.id, attempts if isinstance(attempts, int) else 1)
                    for a in run.get_artifacts()
                ]
        return refs

    def _runs(self, sha: str, workflows: tuple[str, ...]) -> list[Any]:
        """The workflow runs of ``sha`` whose head repository is this one (not a fork) and,
        when ``workflows`` is not empty, whose workflow name or file is listed there."""
        own = self._repo.full_name.lower()
        return [
            run
            for run in self._repo.get_workflow_runs(head_sha=sha)
            if _head_repository(_listed(run)) == own
            and (not workflows or _workflow_listed(_listed(run), workflows))
        ]

    def download_artifact(self, ref: ArtifactRef, dest: Path, *, max_bytes: int) -> Path | Skipped:
        """Save the artifact zip to ``dest``; expired, missing or oversized ones are Skipped."""
        source = f"artifact {ref.name} (run {ref.run_id})"
        if ref.expired:
            return Skipped(source=source, reason="artifact expired (past its retention period)")
        if ref.size_bytes > max_bytes:
            return Skipped(
                source=source, reason=f"artifact is {ref.size_bytes} bytes, over the cap"
            )
        try:
            response = self._open_download(ref.download_url)
        except requests.exceptions.RequestException as exc:
            return Skipped(source=source, reason=f"download failed: {exc}")
        if response.status_code in (404, 410):
            gone = "expired" if response.status_code == 410 else "not found (deleted?)"
            return Skipped(source=source, reason=f"artifact {gone}: HTTP {response.status_code}")
        if response.status_code != 200:
            return Skipped(source=source, reason=f"download failed: HTTP {response.status_code}")
        return _save_capped(response, dest, max_bytes=max_bytes, source=source)

    def _open_download(self, url: str) -> requests.Response:
        """GET the API URL with the token, then follow its redirect *without* the token."""
        headers = {"Accept": "application/vnd.github+json", "User-Agent": "prompt-trainer"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        first = requests.get(
            url, headers=headers, allow_redirects=False, timeout=self.timeout_s, stream=True
        )
        if first.status_code not in (301, 302, 303, 307, 308):
            return first
        location = first.headers.get("Location", "")
        first.close()
        return requests.get(
            location,
            headers={"User-Agent": "prompt-trainer"},
            allow_redirects=True,
            timeout=self.timeout_s,
            stream=True,
        )

    def read_text(self, path: str, *, ref: str) -> str | None:
        """A file's text at ``ref``; None if it does not exist there."""
        with translate_errors(f"reading {path} at {ref[:12]}"):
            try:
                content = self._repo.get_contents(path, ref=ref)
            except GithubException as exc:
                if exc.status == 404:
                    return None
                raise
        if isinstance(content, list) or content.type != "file":
            return None
        if content.encoding == "none":  # over 1 MB: the contents API omits it; read the blob
            return self._blob_text(content.sha)
        return content.decoded_content.decode("utf-8", errors="replace")

    def _blob_text(self, sha: str) -> str:
        with translate_errors(f"reading blob {sha[:12]}"):
            blob = self._repo.get_git_blob(sha)
        return base64.b64decode(blob.content).decode("utf-8", errors="replace")

    def list_files(self, directory: str, *, ref: str) -> list[str]:
        """Paths of the files directly inside ``directory`` at ``ref`` (empty if none)."""
        with translate_errors(f"listing {directory} at {ref[:12]}"):
            try:
                content = self._repo.get_contents(directory, ref=ref)
            except GithubException as exc:
                if exc.status == 404:
                    return []
                raise
        items = content if isinstance(content, list) else [content]
        return sorted(item.path for item in items if item.type == "file")

    # -- the data branch (``store.BranchFiles``) ---------------------------------------------

    def read_branch_file(self, branch: str, path: str) -> tuple[str | None, str | None]:
        """(the text of ``path`` on ``branch`` or None, the branch head or None)."""
        with translate_errors(f"reading the data branch {branch}"):
            try:
                head = self._repo.get_git_ref(f"heads/{branch}").object.sha
            except GithubException as exc:
                if exc.status == 404:
                    return None, None
                raise
        return self.read_text(path, ref=head), head

    def write_branch_file(
        self, branch: str, path: str, text: str, *, parent: str | None, message: str
    ) -> str | None:
        """One commit holding ``text`` at ``path`` on top of ``parent`` (a new root commit when
        None), then a fast-forward of ``branch``; None when the branch moved meanwhile."""
        self._refuse_default_branch(branch)
        with translate_errors(f"writing {path} to the data branch {branch}"):
            blob = self._repo.create_git_blob(
                base64.b64encode(text.encode("utf-8")).decode("ascii"), "base64"
            )
            element = InputGitTreeElement(path, "100644", "blob", sha=blob.sha)
            if parent is None:
                tree = self._repo.create_git_tree([element])
                commit = self._repo.create_git_commit(message, tree, [])
            else:
                base = self._repo.get_git_commit(parent)
                tree = self._repo.create_git_tree([element], base_tree=base.tree)
                commit = self._repo.create_git_commit(message, tree, [base])
            try:
                if parent is None:
                    self._repo.create_git_ref(f"refs/heads/{branch}", commit.sha)
                else:
                    self._repo.get_git_ref(f"heads/{branch}").edit(commit.sha, force=False)
            except GithubException as exc:
                if exc.status == 422:  # not a fast-forward, or created meanwhile: reread
                    return None
                raise
        return commit.sha

    def _refuse_default_branch(self, branch: str) -> None:
        info = self.info()
        if branch in (info.default_branch, f"refs/heads/{info.default_branch}"):
            raise GitHubError(
                f"refusing to write to the default branch {branch!r}",
                fix="proposals go to prompt-trainer/<target> branches and evidence to the "
                "data branch (store.branch in the config); neither may be the default branch",
            )

    # -- the run lock --------------------------------------------------------------------------

    def acquire_lock(self, name: str, *, holder: str, stale_after_s: int) -> str | None:
        """Create the ref ``refs/<name>`` pointing at a new root commit whose message names
        ``holder`` and the time. Returns None when we hold it; otherwise who holds it and
        since when.

        A lock older than ``stale_after_s`` (a run that died) is taken over by compare-and-swap:
        a commit whose parent is the stale lock commit, moved to with a non-forced update, which
        GitHub accepts only as a fast-forward, so only from the stale commit that was read: of
        two runs taking over at once, one wins. A 5xx answer to a write is resolved by reading
        the ref back (it names the holder)."""
        now = datetime.now(UTC)
        message = f"prompt-trainer lock\n\nholder: {holder}\nsince: {now.isoformat()}"
        with translate_errors(f"taking the lock {name}"):
            head = self._repo.get_git_ref(f"heads/{self.info().default_branch}").object.sha
            tree = self._repo.get_git_commit(head).tree
            commit = self._repo.create_git_commit(message, tree, [])
            if self._create_lock(name, commit.sha):
                return None
            held = self._lock_commit(name)
            if held is None:  # released between our create and the read: try once more
                return None if self._create_lock(name, commit.sha) else self._lock_holder(name)
            since = _lock_time(held.message)
            if since is not None and (now - since).total_seconds() < stale_after_s:
                return _holder_text(held.message, since)
            takeover = self._repo.create_git_commit(message, tree, [held])
            if self._swap_lock(name, takeover.sha):
                return None  # a stale lock: its run died
            return self._lock_holder(name)

    def _create_lock(self, name: str, sha: str) -> bool:
        """POST the ref: GitHub refuses (422) when it exists, so one creator wins."""
        try:
            self._repo.create_git_ref(f"refs/{name}", sha)
            return True
        except GithubException as exc:
            if exc.status < 500:
                if exc.status != 422:
                    raise
                return False
        return self._points_at(name, sha)

    def _swap_lock(self, name: str, sha: str) -> bool:
        """Move the ref to ``sha`` (a child of the commit it held) only as a fast-forward."""
        try:
            self._repo.get_git_ref(name).edit(sha, force=False)
            return True
        except GithubException as exc:
            if exc.status < 500:
                if exc.status not in (404, 422):
                    raise
                return False
        return self._points_at(name, sha)

    def _points_at(self, name: str, sha: str) -> bool:
        """After a 5xx: did the write happen? The ref says."""
        try:
            return bool(self._repo.get_git_ref(name).object.sha == sha)
        except GithubException as exc:
            if exc.status != 404:
                raise
            return False

    def _lock_commit(self, name: str) -> Any:
        try:
            sha = self._repo.get_git_ref(name).object.sha
        except GithubException as exc:
            if exc.status != 404:
                raise
            return None
        return self._repo.get_git_commit(sha)

    def _lock_holder(self, name: str) -> str:
        """Who holds the lock another run just took."""
        held = self._lock_commit(name)
        if held is None:
            return "another run (it released the lock meanwhile)"
        return _holder_text(held.message, _lock_time(held.message))

    def release_lock(self, name: str, *, holder: str) -> None:
        """Delete the lock if we still hold it."""
        with translate_errors(f"releasing the lock {name}"):
            try:
                ref = self._repo.get_git_ref(name)
            except GithubException as exc:
                if exc.status == 404:
                    return
                raise
            if f"holder: {holder}\n" in self._repo.get_git_commit(ref.object.sha).message + "\n":
                ref.delete()

    # -- writing ---------------------------------------------------------------------------

    def find_open_pull(self, branch: str) -> tuple[int, str] | None:
        """The open PR whose head is ``branch`` in this repository, if any."""
        info = self.info()
        with translate_errors(f"looking up the open pull request of {branch}"):
            pulls = self._repo.get_pulls(
                state="open", head=f"{info.owner}:{branch}", base=info.default_branch
            )
            for pull in pulls:
                if pull.head.ref == branch and self._by_bot(_listed(pull)):
                    return pull.number, pull.html_url
        return None

    # -- the dashboard issue -----------------------------------------------------------------

    def find_issue(self, *, label: str, marker: str) -> tuple[int, str] | None:
        """The lowest-numbered issue (open or closed, not a PR) with ``label`` whose body holds
        ``marker``: the dashboard, found again whatever its title became."""
        with translate_errors(f"looking up the issue labelled {label}"):
            found = [
                (issue.number, issue.body or "")
                for issue in self._repo.get_issues(state="all", labels=[label])
                if issue.pull_request is None
                and marker in (issue.body or "")
                and self._is_bot_login(_listed(issue).get("user"))
            ]
        return min(found) if found else None

    def create_issue(self, *, title: str, body: str, label: str, marker: str) -> int:
        """Open the issue; a 5xx after GitHub created it is answered by finding it (never a
        second one)."""
        with translate_errors("creating the dashboard issue"):
            try:
                return int(self._repo.create_issue(title=title, body=body, labels=[label]).number)
            except GithubException as exc:
                if exc.status < 500:
                    raise
        found = self.find_issue(label=label, marker=marker)
        if found is None:
            raise GitHubError(
                "GitHub failed while creating the dashboard issue",
                fix="run again; the next run creates it (or finds it, if it was made)",
            )
        return found[0]

    def edit_issue(self, number: int, body: str) -> None:
        with translate_errors(f"updating issue #{number}"):
            self._repo.get_issue(number).edit(body=body)

    def closed_pulls_from(
        self, prefix: str, *, limit: int = 30
    ) -> list[tuple[int, bool, str, str]]:
        """(number, merged, body, url) of the most recently updated closed PRs whose head
        branch starts with ``prefix`` (the bot's own)."""
        found: list[ClosedPull] = []
        with translate_errors("listing closed pull requests"):
            pulls = self._repo.get_pulls(state="closed", sort="updated", direction="desc")
            for n, pull in enumerate(pulls):
                if n >= limit * 5 or len(found) >= limit:
                    break
                data = _listed(pull)
                head = (data.get("head") or {}).get("ref", "")
                if str(head).startswith(prefix) and self._by_bot(data):
                    merged = bool(data.get("merged_at"))
                    found.append((pull.number, merged, data.get("body") or "", pull.html_url))
        return found

    def pull_body(self, number: int) -> str:
        with translate_errors(f"reading pull request #{number}"):
            return self._repo.get_pull(number).body or ""

    def branch_head(self, branch: str) -> str | None:
        """The commit ``branch`` points at, or None when it does not exist."""
        with translate_errors(f"reading the branch {branch}"):
            try:
                return self._repo.get_git_ref(f"heads/{branch}").object.sha
            except GithubException as exc:
                if exc.status == 404:
                    return None
                raise

    def comment_once(self, number: int, body: str, *, key: str) -> bool:
        """Post ``body`` on #``number`` unless a comment with ``key`` is there already (a POST
        that PyGithub retried, or a rerun). The key travels as a hidden HTML comment. Returns
        whether a comment was posted."""
        marker = f"<!-- prompt-trainer comment:{key} -->"
        with translate_errors(f"commenting on #{number}"):
            pull = self._repo.get_pull(number)
            if self._has_own_comment(pull, marker):
                return False
            try:
                pull.create_issue_comment(f"{body}\n\n{marker}")
            except GithubException as exc:
                # The answer failed, but the comment may exist: look before calling it lost.
                if exc.status < 500 or not self._has_own_comment(pull, marker):
                    raise
        return True

    def ensure_labels(self, number: int, labels: tuple[str, ...]) -> None:
        """Add the labels #``number`` is missing (a run stopped before adding them)."""
        with translate_errors(f"labelling #{number}"):
            pull = self._repo.get_pull(number)
            missing = [label for label in labels if label not in {lb.name for lb in pull.labels}]
            if missing:
                pull.add_to_labels(*missing)

    def close_pull(self, number: int) -> None:
        with translate_errors(f"closing pull request #{number}"):
            self._repo.get_pull(number).edit(state="closed")

    def commit_files(
        self,
        *,
        branch: str,
        files: dict[str, str | None],
        message: str,
        base: str | None = None,
    ) -> str:
        """One commit on top of ``base`` (the default branch's head when None) holding
        ``files`` (None deletes a path); creates ``branch`` or force-moves it there. Returns
        the commit sha.

        The branch is force-moved only when every commit it has beyond the default branch
        carries the identity GitHub gives the bot's own commits (the author and committer of
        the commit just made); otherwise ``ForeignCommitsError``, and nothing is moved."""
        self._refuse_default_branch(branch)
        info = self.info()
        with translate_errors(f"committing {len(files)} file(s) to {branch}"):
            base_sha = base or self._repo.get_git_ref(f"heads/{info.default_branch}").object.sha
            parent = self._repo.get_git_commit(base_sha)
            elements = [self._tree_element(path, text) for path, text in sorted(files.items())]
            tree = self._repo.create_git_tree(elements, base_tree=parent.tree)
            commit = self._repo.create_git_commit(message, tree, [parent])
            foreign = self._foreign_commits(branch, base_sha, ours=_identity(_listed(commit)))
            if foreign:
                raise ForeignCommitsError(branch, foreign)
            self._move_branch(branch, commit.sha)
        return commit.sha

    def _foreign_commits(self, branch: str, base: str, *, ours: tuple[str, str]) -> list[str]:
        """``sha (author)`` of the commits on ``branch`` beyond ``base`` that the bot did not
        write (empty when the branch does not exist). A branch too far ahead to list counts as
        foreign."""
        head = self.branch_head(branch)
        if head is None:
            return []
        data = _listed(self._repo.compare(base, head))
        listed = [c for c in data.get("commits") or [] if isinstance(c, dict)]
        foreign = [
            f"{str(c.get('sha', ''))[:7]} ({_author_name(c.get('commit') or {})})"
            for c in listed
            if _identity(c.get("commit") or {}) != ours
        ]
        ahead = data.get("ahead_by")
        if isinstance(ahead, int) and ahead > len(listed):
            foreign.append(f"{ahead - len(listed)} more commit(s) not listed")
        return foreign

    def commit_on_top(
        self, *, branch: str, files: dict[str, str | None], message: str, parent: str
    ) -> str | None:
        """One commit on top of ``parent``, fast-forwarding ``branch`` (never a force-push);
        None when the branch moved meanwhile."""
        self._refuse_default_branch(branch)
        with translate_errors(f"committing {len(files)} file(s) to {branch}"):
            base = self._repo.get_git_commit(parent)
            elements = [self._tree_element(path, text) for path, text in sorted(files.items())]
            tree = self._repo.create_git_tree(elements, base_tree=base.tree)
            commit = self._repo.create_git_commit(message, tree, [base])
            try:
                self._repo.get_git_ref(f"heads/{branch}").edit(commit.sha, force=False)
            except GithubException as exc:
                if exc.status == 422:
                    return None
                raise
        return commit.sha

    def edit_pull_body(self, number: int, body: str) -> None:
        with translate_errors(f"editing pull request #{number}"):
            self._repo.get_pull(number).edit(body=body)

    def _tree_element(self, path: str, text: str | None) -> InputGitTreeElement:
        if text is None:
            return InputGitTreeElement(path, "100644", "blob", sha=None)
        blob = self._repo.create_git_blob(text, "utf-8")
        return InputGitTreeElement(path, "100644", "blob", sha=blob.sha)

    def _move_branch(self, branch: str, sha: str) -> None:
        try:
            self._repo.get_git_ref(f"heads/{branch}").edit(sha, force=True)
        except GithubException as exc:
            if exc.status != 404:
                raise
            self._repo.create_git_ref(f"refs/heads/{branch}", sha)

    def open_or_update_pull(
        self, *, branch: str, title: str, body: str, labels: tuple[str, ...]
    ) -> tuple[int, str, str]:
        """Edit the open PR of ``branch`` or create one; returns (number, url, operation)."""
        existing = self.find_open_pull(branch)
        with translate_errors(f"opening or updating the pull request of {branch}"):
            if existing:
                pull = self._repo.get_pull(existing[0])
                pull.edit(title=title, body=body)
                operation = "updated"
            else:
                pull = self._create_pull(branch=branch, title=title, body=body)
                operation = "created"
            missing = [label for label in labels if label not in {lb.name for lb in pull.labels}]
            if missing:
                pull.add_to_labels(*missing)
        return pull.number, pull.html_url, operation

    def _create_pull(self, *, branch: str, title: str, body: str) -> PullRequest:
        base = self.info().default_branch
        try:
            return self._repo.create_pull(title=title, body=body, head=branch, base=base)
        except GithubException as exc:
            # A retried or concurrent POST already created it, or the answer was lost after
            # GitHub created it (a 5xx): find it instead of failing or creating a second one.
            created = exc.status >= 500 or (exc.status == 422 and "already exists" in str(exc.data))
            if created:
                found = self.find_open_pull(branch)
                if found:
                    pull = self._repo.get_pull(found[0])
                    pull.edit(title=title, body=body)
                    return pull
            raise

    # -- who counts: write access and the bot's own ------------------------------------------

    def write_access(self, login: str) -> Access:
        """What ``login`` may do in the repository (``GET /collaborators/{login}/permission``),
        asked once per login for the life of this client (one run)."""
        if login not in self._access:
            self._access[login] = self._ask_permission(login)
        return self._access[login]

    def _ask_permission(self, login: str) -> Access:
        try:
            permission = self._repo.get_collaborator_permission(login)
        except GithubException as exc:
            if exc.status == 404:  # not a collaborator (or no such user)
                return Access(login=login, permission="none")
            return Access(login=login, permission=None, problem=f"{exc.status} {_message(exc)}")
        except requests.exceptions.RequestException as exc:
            return Access(login=login, permission=None, problem=str(exc))
        return Access(login=login, permission=str(permission))

    def pull_head(self, number: int) -> PullHead:
        """Who opened #``number``, from which branch of which repository, and its body."""
        with translate_errors(f"reading pull request #{number}"):
            data = _listed(self._repo.get_pull(number))
        head, base = data.get("head") or {}, data.get("base") or {}
        return PullHead(
            number=number,
            author=str((data.get("user") or {}).get("login") or ""),
            head_ref=str(head.get("ref") or ""),
            head_repo=(head.get("repo") or {}).get("full_name"),
            base_repo=str((base.get("repo") or {}).get("full_name") or ""),
            body=str(data.get("body") or ""),
            merged=bool(data.get("merged_at")),
            url=str(data.get("html_url") or ""),
            by_bot=self._by_bot(data),
        )

    def closed_own_pulls(self, branches: tuple[str, ...], *, limit: int = 30) -> list[ClosedPull]:
        """(number, merged, body, url) of the most recently updated closed PRs the bot opened
        from one of ``branches`` of this repository; anyone else's PR is left out, whatever its
        branch is called or its body says."""
        found: list[ClosedPull] = []
        with translate_errors("listing closed pull requests"):
            pulls = self._repo.get_pulls(state="closed", sort="updated", direction="desc")
            for n, pull in enumerate(pulls):
                if n >= limit * 5 or len(found) >= limit:
                    break
                data = _listed(pull)
                if (data.get("head") or {}).get("ref") in branches and self._by_bot(data):
                    merged = bool(data.get("merged_at"))
                    found.append((pull.number, merged, data.get("body") or "", pull.html_url))
        return found

    def _by_bot(self, data: dict[str, Any]) -> bool:
        """A PR's JSON says one of the bot's logins opened it from this repository."""
        head_repo = ((data.get("head") or {}).get("repo") or {}).get("full_name")
        base_repo = ((data.get("base") or {}).get("repo") or {}).get("full_name")
        return (
            self._is_bot_login(data.get("user"))
            and head_repo == base_repo
            and head_repo == self._repo.full_name
        )

    def _is_bot_login(self, user: object) -> bool:
        return isinstance(user, dict) and user.get("login") in self.bot_logins

    def _has_own_comment(self, pull: PullRequest, marker: str) -> bool:
        """A comment by the bot holding ``marker`` is on the PR (anyone else's does not count)."""
        return any(
            marker in str(data.get("body") or "") and self._is_bot_login(data.get("user"))
            for data in (_listed(c) for c in pull.get_issue_comments())
        )

    # -- what the trainer shows: the change, the human's fix, the task (issue 18) ----------------
    # Review-thread resolution is GraphQL-only (``isResolved``); the REST API does not give it,
    # so ``Feedback.resolved`` stays unknown for GitHub evidence.

    def pull_files(self, number: int, *, limit: int = 300) -> tuple[FileChange, ...]:
        """The files #``number`` changes (``GET /pulls/{n}/files``), at most ``limit``."""
        with translate_errors(f"reading the files of #{number}"):
            listed = self._repo.get_pull(number).get_files()
            found = [_file_change(_listed(f)) for _, f in zip(range(limit), listed, strict=False)]
        return tuple(found)

    def commit_patch(self, sha: str, *, limit: int = 50) -> tuple[FileChange, ...]:
        """The files one commit changed with their patches (``GET /commits/{sha}``)."""
        with translate_errors(f"reading commit {sha[:12]}"):
            data = _listed(self._repo.get_commit(sha))
        files = data.get("files") if isinstance(data.get("files"), list) else []
        return tuple(_file_change(f) for f in (files or [])[:limit] if isinstance(f, dict))

    def linked_issue(self, number: int) -> LinkedIssue | None:
        """Title and body of issue #``number``; None when it does not exist (or is gone)."""
        with translate_errors(f"reading issue #{number}"):
            try:
                data = _listed(self._repo.get_issue(number))
            except GithubException as exc:
                if exc.status not in (404, 410):
                    raise
                return None
        return LinkedIssue(
            number=number, title=str(data.get("title") or ""), body=str(data.get("body") or "")
        )


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


def _holder_text(message: str, since: datetime | None) -> str:
    who = message.split("holder: ", 1)[-1].split("\n", 1)[0]
    return f"{who} since {since:%Y-%m-%d %H:%M} UTC" if since else who


def _head_repository(run: dict[str, Any]) -> str:
    """``owner/name`` of the repository a workflow run's head commit came from, lower-case."""
    head = run.get("head_repository")
    return str(head.get("full_name") or "").lower() if isinstance(head, dict) else ""


def _workflow_listed(run: dict[str, Any], workflows: tuple[str, ...]) -> bool:
    """Whether the run's workflow name, file path or file name is one of ``workflows``."""
    path = str(run.get("path") or "").split("@", 1)[0]
    names = {str(run.get("name") or ""), path, path.rsplit("/", 1)[-1]} - {""}
    return any(w in names for w in workflows)


def _lock_time(message: str) -> datetime | None:
    for line in message.splitlines():
        if line.startswith("since: "):
            try:
                return datetime.fromisoformat(line.removeprefix("since: "))
            except ValueError:
                return None
    return None


def _pull_info(pull: PullRequest) -> PullRequestInfo:
    return PullRequestInfo(
        number=pull.number,
        title=pull.title or "",
        author=pull.user.login if pull.user else "",
        url=pull.html_url,
        merged=bool(pull.merged),
        base_sha=pull.base.sha,
        head_sha=pull.head.sha,
        labels=tuple(label.name for label in pull.labels),
        created_at=pull.created_at,
        closed_at=pull.closed_at,
        merged_at=pull.merged_at,
    )


def _author(obj: Any, trusted: tuple[str, ...]) -> dict[str, Any]:
    """Author fields shared by reviews and comments."""
    user = obj.user
    login = user.login if user else "ghost"
    is_bot = bool(user and (user.type == "Bot" or login.endswith("[bot]")))
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
    return Feedback(
        kind="review_comment",
        id=f"review-comment-{comment.id}",
        body=comment.body or "",
        path=comment.path,
        line=comment.line or comment.original_line,
        url=comment.html_url,
        created_at=comment.created_at,
        in_reply_to=_reply_to(comment),
        diff_hunk=_listed(comment).get("diff_hunk"),
        **_author(comment, trusted),
    )


def _listed(obj: Any) -> dict[str, Any]:
    """The JSON a list endpoint returned for ``obj``.

    PyGithub's public ``raw_data`` (and any attribute the list omitted, such as
    ``in_reply_to_id`` on a comment that is not a reply) re-fetches the object: one extra request
    per comment. The listed JSON already holds everything we read, so it is used directly.
    """
    data = getattr(obj, "_rawData", None)
    return data if isinstance(data, dict) else {}


def _reply_to(comment: Any) -> str | None:
    """The id of the review comment this one replies to (``in_reply_to_id`` in the API)."""
    raw = _listed(comment).get("in_reply_to_id")
    return f"review-comment-{raw}" if raw else None


def _issue_comment(comment: Any, trusted: tuple[str, ...]) -> Feedback:
    return Feedback(
        kind="comment",
        id=f"comment-{comment.id}",
        body=comment.body or "",
        url=comment.html_url,
        created_at=comment.created_at,
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
    is_bot = bool(account and account.get("type") == "Bot") or name.endswith("[bot]")
    date = committer.get("date") or git_author.get("date")
    return CommitInfo(
        sha=str(data.get("sha", "")),
        author=name,
        date=datetime.fromisoformat(date.replace("Z", "+00:00")) if date else None,
        by_agent=is_bot or name in agent,
    )


def _artifact(artifact: Any, run_id: int, attempts: int) -> ArtifactRef:
    return ArtifactRef(
        id=artifact.id,
        name=artifact.name,
        run_id=run_id,
        run_attempts=attempts,
        size_bytes=artifact.size_in_bytes or 0,
        expired=bool(artifact.expired),
        download_url=artifact.archive_download_url,
    )


def _file_change(data: dict[str, Any]) -> FileChange:
    """A file of ``/pulls/{n}/files`` or of a commit's ``files`` (no ``patch``: binary, or a
    diff GitHub left out for its size)."""
    patch = data.get("patch")
    return FileChange(
        path=str(data.get("filename") or ""),
        status=str(data.get("status") or "modified"),
        additions=int(data.get("additions") or 0),
        deletions=int(data.get("deletions") or 0),
        patch=patch if isinstance(patch, str) else None,
        note=None if isinstance(patch, str) else "no patch (binary or too large for the API)",
    )


def _save_capped(
    response: requests.Response, dest: Path, *, max_bytes: int, source: str
) -> Path | Skipped:
    """Stream the body to ``dest``, giving up (and deleting it) past ``max_bytes``."""
    written = 0
    try:
        with dest.open("wb") as handle:
            for chunk in response.iter_content(DOWNLOAD_CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise OverflowError
                handle.write(chunk)
    except OverflowError:
        dest.unlink(missing_ok=True)
        return Skipped(source=source, reason=f"download exceeded the {max_bytes}-byte cap")
    except requests.exceptions.RequestException as exc:
        dest.unlink(missing_ok=True)
        return Skipped(source=source, reason=f"download interrupted: {exc}")
    finally:
        response.close()
    return dest
