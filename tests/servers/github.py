"""A local HTTP server speaking the subset of GitHub's REST API that prompt-trainer uses.

Response shapes follow GitHub's OpenAPI description (``../shared/realdata/github-api/openapi``;
``test_github_server_conformance`` validates them against it) and keep ``url`` fields consistent,
because PyGithub fetches a partial object's ``url`` when a missing attribute is touched. State is
plain Python data on ``FakeGitHub``; tests arrange it directly and inspect it after the run.
Artifact downloads answer 302 to a second server (``storage``), which records request headers so
tests can prove the token never reaches it. Rate limits and conditional requests are GitHub's
(``github_limits``): every answer carries ``X-RateLimit-*`` headers, a token has ``rate.limit``
requests per hour (5,000 unless a test lowers it; 403 past it), a GET answers with a weak ``ETag``
and 304 to a matching ``If-None-Match`` (free, like ``GET /rate_limit``), and a test may set a
secondary limit (``secondary``). Lists are paged as GitHub pages them (``per_page``, default 30,
at most 100, ``Link`` headers); filtered workflow-run lists stop at 1,000 results. ``collaborators`` is the table the collaborator-permission
route answers from (login -> admin, maintain, write, triage or read; 404 for anyone else): maria,
the maintainer of the fixtures, has write access unless a test says otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from tests.servers.github_limits import RateLimit, SecondaryLimit, etag_of
from tests.servers.sockets import QuietServer, wait_for_hangup

Json = Any
#: What ``_handle`` returns for a request whose client hung up: nothing is sent (nginx's 499).
HUNG_UP = 499
NOW = "2026-11-20T12:00:00Z"
EPOCH = datetime(2026, 10, 1, tzinfo=UTC)  # fake commits are an hour apart from here


def sha_of(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


REPO_LINKS = (
    "archive",
    "assignees",
    "blobs",
    "branches",
    "collaborators",
    "comments",
    "commits",
    "compare",
    "contents",
    "contributors",
    "deployments",
    "downloads",
    "events",
    "forks",
    "git_commits",
    "git_refs",
    "git_tags",
    "hooks",
    "issue_comment",
    "issue_events",
    "issues",
    "keys",
    "labels",
    "languages",
    "merges",
    "milestones",
    "notifications",
    "pulls",
    "releases",
    "stargazers",
    "statuses",
    "subscribers",
    "subscription",
    "tags",
    "teams",
    "trees",
)
REPO_COUNTS = (
    "forks",
    "forks_count",
    "open_issues",
    "open_issues_count",
    "size",
    "stargazers_count",
    "watchers",
    "watchers_count",
    "network_count",
    "subscribers_count",
)
PULL_LINKS = (
    "self",
    "html",
    "issue",
    "comments",
    "review_comments",
    "review_comment",
    "commits",
    "statuses",
)


JSON_TYPE = "application/json; charset=utf-8"
#: ``GET /actions/runs`` filters under which GitHub returns at most 1,000 results.
RUN_FILTERS = ("actor", "branch", "check_suite_id", "created", "event", "head_sha", "status")
MAX_FILTERED_RUNS = 1000


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Json
    #: The client's socket, to notice a client that gave up on a slow answer.
    connection: socket.socket | None = field(default=None, repr=False, compare=False)
    #: The status answered, and whether the request counted against the rate limit.
    status: int = 0
    counted: bool = False
    #: The route paged its answer itself.
    paged: bool = False


@dataclass
class Pull:
    number: int
    title: str
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    author: str = "claude[bot]"
    body: str | None = None
    state: str = "open"
    merged: bool = False
    labels: list[str] = field(default_factory=list)
    reviews: list[Json] = field(default_factory=list)
    review_comments: list[Json] = field(default_factory=list)
    issue_comments: list[Json] = field(default_factory=list)
    #: (sha, GitHub login or None, git author name), oldest first; empty means one commit, the
    #: head, by the PR's author.
    commits: list[tuple[str, str | None, str]] = field(default_factory=list)
    #: The head repository's full name when the PR comes from a fork (None: this repository).
    head_repo: str | None = None
    #: Opened as a draft (``POST /pulls`` with ``draft: true``).
    draft: bool = False
    #: ``GET /pulls/{n}/files``: (path, additions, deletions, patch or None for a binary file).
    files: list[tuple[str, int, int, str | None]] = field(default_factory=list)
    created_at: str = "2026-11-01T09:00:00Z"
    #: When it was last updated and closed (``NOW`` when None).
    updated_at: str | None = None
    closed_at: str | None = None


@dataclass
class Issue:
    number: int
    title: str
    body: str | None
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    author: str = "github-actions[bot]"
    edits: int = 0


@dataclass
class Fault:
    """A scripted failure: the next ``times`` requests matching ``method`` and ``path`` (a regex
    over the path after ``/repos/{owner}/{repo}``) answer ``status``. With ``after``, the request
    is carried out first (the write happens) and only the answer fails, like a 502 from a proxy
    after GitHub created the pull request."""

    method: str
    path: str
    status: int
    times: int = 1
    after: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "scripted fault"
    #: Query parameters the request must carry (e.g. {"page": "2"}).
    query: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait before answering (a slow server; with status 200 the answer is normal).
    #: The wait ends early when the client hangs up: the answer is then never sent.
    delay: float = 0.0
    #: Set once a delayed answer has been sent (a client that gave up never waited for it).
    finished: bool = False
    #: Set when the client closed the connection while the answer was delayed.
    abandoned: threading.Event = field(default_factory=threading.Event)
    #: Seconds after the last scripted answer during which matching requests get it again, like
    #: GitHub refusing a client that retries before its Retry-After has passed.
    hold_s: float = 0.0
    held_until: float = 0.0


@dataclass
class Hook:
    """Something that happens on the server just before the next ``times`` requests matching
    ``method`` and ``path`` (as in ``Fault``) are handled: a person pushing, or a second run
    taking the lock, exactly between two requests of the code under test. ``action`` runs in
    the handler thread, outside the server's lock, so it may make requests itself."""

    method: str
    path: str
    action: Callable[[], None]
    times: int = 1


#: The identity GitHub gives commits made through the API with the Actions token.
BOT_IDENTITY = ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")


@dataclass
class Artifact:
    id: int
    name: str
    data: bytes
    expired: bool = False
    status: int = 200


class FakeGitHub:
    """In-memory repository state plus the HTTP servers exposing it."""

    def __init__(self, owner: str = "octo-org", name: str = "agent-repo") -> None:
        self.owner, self.name, self.default_branch = owner, name, "main"
        #: What GET /repos answers under `permissions` (a PAT or App user token); None omits it,
        #: as for the Actions GITHUB_TOKEN.
        self.permissions: dict[str, bool] | None = dict(
            admin=False, maintain=False, push=True, triage=True, pull=True
        )
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, dict[str, str]] = {}
        self.commits: dict[str, Json] = {}
        self.refs: dict[str, str] = {}
        self.pulls: dict[int, Pull] = {}
        self.issues: dict[int, Issue] = {}  # plain issues; PRs share their numbers
        self.runs: list[tuple[int, str, list[Artifact]]] = []
        self.run_meta: dict[int, tuple[str, int]] = {}  # run id -> (conclusion, attempts)
        #: Files larger than this are served by the contents API without content, as GitHub
        #: does above 1 MB; clients must then read the blob.
        self.contents_inline_limit = 1024 * 1024
        self.faults: list[Fault] = []
        self.hooks: list[Hook] = []
        #: run id -> (head repository full name, workflow name, workflow file path)
        self.run_origin: dict[int, tuple[str, str, str]] = {}
        #: run id -> (event, head branch, display title, created_at) of runs started by an
        #: event other than a push to the PR (``add_event_run``); others are pull_request runs.
        self.run_trigger: dict[int, tuple[str, str, str, str]] = {}
        #: run id -> created_at of a run that was not created at ``NOW``.
        self.run_created: dict[int, str] = {}
        #: login -> repository role, for GET /collaborators/{login}/permission (404 otherwise).
        self.collaborators: dict[str, str] = {"maria": "write"}
        #: sha -> files of ``GET /commits/{sha}`` (as ``Pull.files``); unknown shas answer 404.
        self.commit_patches: dict[str, list[tuple[str, int, int, str | None]]] = {}
        #: Items per page of list answers, whatever ``per_page`` asks (None: ``per_page``, 30
        #: by default, at most 100, as GitHub), with Link headers.
        self.page_size: int | None = None
        #: The token's primary rate limit, and a secondary limit when a test sets one.
        self.rate = RateLimit()
        self.secondary: SecondaryLimit | None = None
        self.requests: list[Request] = []
        self.storage_requests: list[Request] = []
        self.exchanges: list[tuple[Request, int, Json]] = []
        self.token = "test-token"
        #: Tokens that may read but not write (a job with ``contents: read``): any other method
        #: than GET answers 403, as GitHub does, and is kept in ``refused_writes``.
        self.read_tokens: set[str] = {"test-read-token"}
        self.refused_writes: list[Request] = []
        self._ids = 1000
        self._lock = threading.Lock()
        #: Set on close: a delayed answer stops waiting.
        self._stopped = threading.Event()
        self.api = _serve(self._handle)
        self.storage = _serve(self._handle_storage)

    # -- arranging state -------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api.server_port}"

    @property
    def repo_url(self) -> str:
        return f"{self.api_url}/repos/{self.owner}/{self.name}"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def commit(
        self,
        files: dict[str, str | None],
        *,
        parent: str | None = None,
        branch: str | None = None,
        message: str = "commit",
        date: str | None = None,
        author: tuple[str, str] = BOT_IDENTITY,
        sha: str | None = None,
    ) -> str:
        """Make a commit whose tree is the parent's with ``files`` applied (None deletes);
        ``author`` is the (name, email) it carries as author and committer; ``sha`` names it
        (a commit of a real local clone, whose history then holds it)."""
        tree = dict(self.trees[self.commits[parent]["tree"]]) if parent else {}
        for path, text in files.items():
            if text is None:
                tree.pop(path, None)
            else:
                tree[path] = self._blob(text.encode())
        tree_sha = self._tree(tree)
        sha = sha or sha_of(f"{tree_sha}{parent}{message}{len(self.commits)}".encode())
        self.commits[sha] = {
            "tree": tree_sha,
            "parents": [parent] if parent else [],
            "message": message,
            "date": date
            or (EPOCH + timedelta(hours=len(self.commits))).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "author": author,
        }
        if branch:
            self.refs[f"heads/{branch}"] = sha
        return sha

    def files_at(self, ref_or_sha: str) -> dict[str, str]:
        sha = self.refs.get(f"heads/{ref_or_sha}", ref_or_sha)
        tree = self.trees[self.commits[sha]["tree"]]
        return {path: self.blobs[blob].decode() for path, blob in tree.items()}

    def descends(self, sha: str, ancestor: str) -> bool:
        """Whether ``ancestor`` is ``sha`` or one of its ancestors."""
        todo, seen = [sha], set()
        while todo:
            current = todo.pop()
            if current == ancestor:
                return True
            if current in seen or current not in self.commits:
                continue
            seen.add(current)
            todo += self.commits[current]["parents"]
        return False

    def add_pull(self, pull: Pull) -> Pull:
        self.pulls[pull.number] = pull
        return pull

    def add_run(
        self,
        head_sha: str,
        artifacts: list[Artifact],
        *,
        conclusion: str = "failure",
        attempts: int = 1,
        head_repository: str | None = None,
        workflow: tuple[str, str] = ("CI", ".github/workflows/ci.yml"),
        created_at: str | None = None,
    ) -> int:
        """A workflow run of ``head_sha``; ``head_repository`` (``owner/name``, this repository
        when None) is where its head commit came from, a fork for a fork's PR; ``workflow`` is
        its (name, file path)."""
        run_id = self.next_id()
        self.runs.append((run_id, head_sha, artifacts))
        self.run_meta[run_id] = (conclusion, attempts)
        self.run_origin[run_id] = (head_repository or self.full_name, *workflow)
        if created_at is not None:
            self.run_created[run_id] = created_at
        return run_id

    def add_event_run(
        self,
        head_sha: str,
        artifacts: list[Artifact],
        *,
        event: str,
        head_branch: str,
        display_title: str,
        created_at: str = NOW,
    ) -> int:
        """A run started by ``event`` (``issue_comment`` runs on the default branch's commit,
        with the issue's or PR's title as its display title)."""
        run_id = self.add_run(head_sha, artifacts, conclusion="success")
        self.run_trigger[run_id] = (event, head_branch, display_title, created_at)
        return run_id

    def _blob(self, data: bytes) -> str:
        sha = sha_of(b"blob" + data)
        self.blobs[sha] = data
        return sha

    def _tree(self, entries: dict[str, str]) -> str:
        sha = sha_of(json.dumps(sorted(entries.items())).encode())
        self.trees[sha] = entries
        return sha

    def close(self) -> None:
        self._stopped.set()
        for server in (self.api, self.storage):
            server.shutdown()
            server.server_close()

    # -- shapes ----------------------------------------------------------------------------

    def user(self, login: str) -> Json:
        # GitHub's API names the Copilot coding agent's account `Copilot`, of type Bot.
        kind = "Bot" if login.endswith("[bot]") or login == "Copilot" else "User"
        return {
            "login": login,
            "id": abs(hash(login)) % 10**6,
            "node_id": "U_x",
            "type": kind,
            "site_admin": False,
            "url": f"{self.api_url}/users/{login}",
            "html_url": f"https://github.com/{login}",
            "avatar_url": "",
            "gravatar_id": "",
            "followers_url": "",
            "following_url": "",
            "gists_url": "",
            "starred_url": "",
            "subscriptions_url": "",
            "organizations_url": "",
            "repos_url": "",
            "events_url": "",
            "received_events_url": "",
        }

    def repo_json(self) -> Json:
        url = self.repo_url
        links = {f"{name}_url": f"{url}/{name}" for name in REPO_LINKS}
        flags = dict.fromkeys(("archived", "disabled", "has_discussions", "has_pages"), False)
        flags |= dict.fromkeys(("has_issues", "has_projects", "has_wiki", "has_downloads"), True)
        return {
            **links,
            **flags,
            **dict.fromkeys(REPO_COUNTS, 0),
            "id": 1,
            "node_id": "R_x",
            "name": self.name,
            "full_name": self.full_name,
            "private": False,
            "owner": self.user(self.owner),
            "url": url,
            "html_url": f"https://github.com/{self.full_name}",
            "description": None,
            "fork": False,
            "default_branch": self.default_branch,
            **({"permissions": self.permissions} if self.permissions is not None else {}),
            "homepage": None,
            "language": None,
            "license": None,
            "mirror_url": None,
            "visibility": "public",
            "clone_url": f"https://github.com/{self.full_name}.git",
            "git_url": f"git://github.com/{self.full_name}.git",
            "ssh_url": f"git@github.com:{self.full_name}.git",
            "svn_url": f"https://github.com/{self.full_name}",
            "created_at": NOW,
            "updated_at": NOW,
            "pushed_at": NOW,
        }

    def pull_json(self, pull: Pull) -> Json:
        url = f"{self.repo_url}/pulls/{pull.number}"
        return {
            "url": url,
            "id": pull.number * 7,
            "node_id": "PR_x",
            "number": pull.number,
            "html_url": f"https://github.com/{self.full_name}/pull/{pull.number}",
            "issue_url": f"{self.repo_url}/issues/{pull.number}",
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "body": pull.body,
            "user": self.user(pull.author),
            "labels": [self.label(n) for n in pull.labels],
            "created_at": pull.created_at,
            "updated_at": pull.updated_at or NOW,
            "closed_at": None if pull.state == "open" else (pull.closed_at or NOW),
            "merged_at": (pull.closed_at or NOW) if pull.merged else None,
            "merged": pull.merged,
            "draft": pull.draft,
            "author_association": "NONE",
            "head": self.branch_json(pull.head_ref, pull.head_sha, repo=pull.head_repo),
            "base": self.branch_json(pull.base_ref, pull.base_sha),
            "comments_url": f"{self.repo_url}/issues/{pull.number}/comments",
            "review_comments_url": f"{url}/comments",
            "commits_url": f"{url}/commits",
            "review_comment_url": f"{self.repo_url}/pulls/comments{{/number}}",
            "statuses_url": f"{self.repo_url}/statuses/{pull.head_sha}",
            "diff_url": f"https://github.com/{self.full_name}/pull/{pull.number}.diff",
            "patch_url": f"https://github.com/{self.full_name}/pull/{pull.number}.patch",
            "_links": {name: {"href": f"{url}/{name}"} for name in PULL_LINKS},
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "auto_merge": None,
            "merge_commit_sha": None,
            "mergeable": None,
            "mergeable_state": "clean",
            "merged_by": None,
            "maintainer_can_modify": False,
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
            "comments": 0,
            "commits": 1,
            "review_comments": len(pull.review_comments),
        }

    def branch_json(self, ref: str, sha: str, *, repo: str | None = None) -> Json:
        """A PR's ``head`` or ``base``; ``repo`` names a fork (the head of a fork's PR)."""
        owner = (repo or self.full_name).split("/")[0]
        return {
            "label": f"{owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(owner),
            "repo": self.fork_json(repo) if repo and repo != self.full_name else self.repo_json(),
        }

    def permission_json(self, login: str) -> Json:
        """``GET /collaborators/{login}/permission``: GitHub's ``repository-collaborator-permission``
        (``permission`` is admin, write, read or none; maintain reads as write, triage as read,
        and ``role_name`` keeps the finer role)."""
        role = self.collaborators[login]
        permission = {"maintain": "write", "triage": "read"}.get(role, role)
        return {"permission": permission, "role_name": role, "user": self.user(login)}

    def label(self, name: str) -> Json:
        return {
            "id": abs(hash(name)) % 10**6,
            "node_id": "L_x",
            "name": name,
            "url": f"{self.repo_url}/labels/{name}",
            "color": "ededed",
            "default": False,
            "description": "",
        }

    def ref_json(self, ref: str) -> Json:
        return {
            "ref": f"refs/{ref}",
            "node_id": "REF_x",
            "url": f"{self.repo_url}/git/refs/{ref}",
            "object": {
                "type": "commit",
                "sha": self.refs[ref],
                "url": f"{self.repo_url}/git/commits/{self.refs[ref]}",
            },
        }

    def commit_json(self, sha: str) -> Json:
        data = self.commits[sha]
        name, email = data.get("author", BOT_IDENTITY)
        person = {"name": name, "email": email, "date": NOW}
        return {
            "sha": sha,
            "node_id": "C_x",
            "url": f"{self.repo_url}/git/commits/{sha}",
            "html_url": f"https://github.com/{self.full_name}/commit/{sha}",
            "author": person,
            "committer": person,
            "message": data["message"],
            "tree": {"sha": data["tree"], "url": f"{self.repo_url}/git/trees/{data['tree']}"},
            "parents": [
                {"sha": p, "url": f"{self.repo_url}/git/commits/{p}", "html_url": ""}
                for p in data["parents"]
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    def pull_commit_json(self, sha: str, login: str | None, name: str) -> Json:
        """One item of ``GET /pulls/{n}/commits`` (GitHub's ``commit`` schema)."""
        person = {"name": name, "email": f"{name}@example.com", "date": NOW}
        account = self.user(login) if login else None
        return {
            "url": f"{self.repo_url}/commits/{sha}",
            "sha": sha,
            "node_id": "C_x",
            "html_url": f"https://github.com/{self.full_name}/commit/{sha}",
            "comments_url": f"{self.repo_url}/commits/{sha}/comments",
            "commit": {
                "url": f"{self.repo_url}/git/commits/{sha}",
                "author": person,
                "committer": person,
                "message": "work",
                "comment_count": 0,
                "tree": {"sha": "0" * 40, "url": f"{self.repo_url}/git/trees/{'0' * 40}"},
            },
            "author": account,
            "committer": account,
            "parents": [],
        }

    def artifact_json(self, artifact: Artifact, run_id: int, head_sha: str) -> Json:
        url = f"{self.repo_url}/actions/artifacts/{artifact.id}"
        return {
            "id": artifact.id,
            "node_id": "A_x",
            "name": artifact.name,
            "size_in_bytes": len(artifact.data),
            "url": url,
            "archive_download_url": f"{url}/zip",
            "expired": artifact.expired,
            "created_at": NOW,
            "expires_at": NOW,
            "updated_at": NOW,
            "digest": None,
            "workflow_run": {
                "id": run_id,
                "repository_id": 1,
                "head_repository_id": 1,
                "head_branch": "agent/x",
                "head_sha": head_sha,
            },
        }

    def run_json(self, run_id: int, head_sha: str, repos: dict[str, Json] | None = None) -> Json:
        """A run's JSON; ``repos`` keeps the repositories' JSON across the runs of one answer
        (built once, not once a run: a listing of thousands of runs stays fast)."""
        url = f"{self.repo_url}/actions/runs/{run_id}"
        head_repo, workflow_name, workflow_path = self.run_origin.get(
            run_id, (self.full_name, "CI", ".github/workflows/ci.yml")
        )
        repos = {} if repos is None else repos
        if self.full_name not in repos:
            repos[self.full_name] = self.repo_json()
        if head_repo not in repos:
            repos[head_repo] = self.fork_json(head_repo)
        return {
            "id": run_id,
            "name": workflow_name,
            "node_id": "WR_x",
            "head_branch": "agent/x",
            "head_sha": head_sha,
            "path": workflow_path,
            "run_number": 1,
            "event": "pull_request",
            "status": "completed",
            "conclusion": self.run_meta.get(run_id, ("failure", 1))[0],
            "workflow_id": 1,
            "url": url,
            "html_url": f"https://github.com/{self.full_name}/actions/runs/{run_id}",
            "artifacts_url": f"{url}/artifacts",
            "cancel_url": f"{url}/cancel",
            "rerun_url": f"{url}/rerun",
            "jobs_url": f"{url}/jobs",
            "logs_url": f"{url}/logs",
            "check_suite_url": f"{self.repo_url}/check-suites/1",
            "workflow_url": f"{self.repo_url}/actions/workflows/1",
            "head_commit": None,
            "repository": repos[self.full_name],
            "head_repository": repos[head_repo],
            "run_attempt": self.run_meta.get(run_id, ("failure", 1))[1],
            "pull_requests": [],
            "created_at": self.run_created.get(run_id, NOW),
            "updated_at": self.run_created.get(run_id, NOW),
            "display_title": "CI",
            **self._trigger_json(run_id),
        }

    def _trigger_json(self, run_id: int) -> Json:
        if run_id not in self.run_trigger:
            return {}
        event, branch, title, created = self.run_trigger[run_id]
        return {
            "event": event,
            "head_branch": branch,
            "display_title": title,
            "created_at": created,
            "updated_at": created,
        }

    def fork_json(self, full_name: str) -> Json:
        """This repository's JSON, or a fork of it named ``full_name``."""
        if full_name == self.full_name:
            return self.repo_json()
        owner, name = full_name.split("/", 1)
        url = f"{self.api_url}/repos/{full_name}"
        return {
            **self.repo_json(),
            **{f"{link}_url": f"{url}/{link}" for link in REPO_LINKS},
            "id": 2,
            "name": name,
            "full_name": full_name,
            "owner": self.user(owner),
            "url": url,
            "html_url": f"https://github.com/{full_name}",
            "fork": True,
        }

    def ancestors(self, sha: str) -> list[str]:
        """``sha`` and every commit it descends from, newest first (parents after children)."""
        order, todo, seen = [], [sha], set()
        while todo:
            current = todo.pop(0)
            if current in seen or current not in self.commits:
                continue
            seen.add(current)
            order.append(current)
            todo += self.commits[current]["parents"]
        return order

    def _compare(self, req: Request, base: str, head: str) -> tuple[int, Json, dict[str, str]]:
        """``GET /compare/{base}...{head}``: the commits of ``head`` that ``base`` lacks."""
        base_sha = self.refs.get(f"heads/{unquote(base)}", unquote(base))
        head_sha = self.refs.get(f"heads/{unquote(head)}", unquote(head))
        if base_sha not in self.commits or head_sha not in self.commits:
            return 404, {"message": "Not Found"}, {}
        behind_set, ahead_set = self.ancestors(base_sha), self.ancestors(head_sha)
        ahead = [c for c in ahead_set if c not in set(behind_set)][::-1]
        behind = [c for c in behind_set if c not in set(ahead_set)]
        merge_base = next((c for c in ahead_set if c in set(behind_set)), base_sha)
        status = (
            "identical"
            if not ahead and not behind
            else "ahead"
            if not behind
            else "behind"
            if not ahead
            else "diverged"
        )
        url = f"{self.repo_url}/compare/{base}...{head}"
        html = f"https://github.com/{self.full_name}/compare/{base}...{head}"
        return (
            200,
            {
                "url": url,
                "html_url": html,
                "permalink_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "base_commit": self.listed_commit_json(base_sha),
                "merge_base_commit": self.listed_commit_json(merge_base),
                "status": status,
                "ahead_by": len(ahead),
                "behind_by": len(behind),
                "total_commits": len(ahead),
                "commits": [self.listed_commit_json(c) for c in ahead],
                "files": [],
            },
            {},
        )

    def listed_commit_json(self, sha: str) -> Json:
        """A commit as listings show it (GitHub's ``commit`` schema), with its git identity."""
        data = self.commits[sha]
        name, email = data.get("author", BOT_IDENTITY)
        login = name if name.endswith("[bot]") else None
        item = self.pull_commit_json(sha, login, name)
        for role in ("author", "committer"):
            item["commit"][role] = {"name": name, "email": email, "date": data.get("date", NOW)}
        item["commit"]["message"] = data["message"]
        item["commit"]["tree"] = {
            "sha": data["tree"],
            "url": f"{self.repo_url}/git/trees/{data['tree']}",
        }
        item["parents"] = [
            {"sha": p, "url": f"{self.repo_url}/commits/{p}", "html_url": ""}
            for p in data["parents"]
        ]
        return item

    # -- routing ---------------------------------------------------------------------------

    def _handle(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        self._run_hooks(req)
        fault = self._fault(req)
        if fault is not None and fault.delay:
            if req.connection is not None and wait_for_hangup(
                req.connection, limit_s=fault.delay, stop=self._stopped
            ):
                fault.abandoned.set()
                return HUNG_UP, None, {}
            fault.finished = True
        if fault is not None and fault.status == 200:
            fault = None  # only slow
        if fault is not None and not fault.after:
            with self._lock:
                self.requests.append(req)
            req.status = fault.status
            return fault.status, {"message": fault.message}, fault.headers
        limited = self._limited(req)
        if limited is not None:
            with self._lock:
                self.requests.append(req)
            req.status = limited[0]
            return limited
        status, payload, headers = self._route(req)
        if fault is not None:
            req.status = fault.status
            return fault.status, {"message": fault.message}, fault.headers
        answer = payload
        if req.method == "GET" and status == 200:
            payload, headers = self._page(req, payload, headers)
            status, answer, headers = self._conditional(req, payload, headers)
        self._count(req, status)
        self.exchanges.append((req, status, payload))
        return status, answer, {**headers, **self.rate.headers()}

    def _limited(self, req: Request) -> tuple[int, Json, dict[str, str]] | None:
        """GitHub's refusal of a request past the secondary or the primary rate limit."""
        if req.path == "/rate_limit":
            return None
        if self.secondary is not None and (refused := self.secondary.admit(req.method)):
            return refused[0], refused[1], {**refused[2], **self.rate.headers()}
        if self.rate.remaining == 0 and self._authorized(req):
            return self.rate.exceeded()
        return None

    def _conditional(
        self, req: Request, payload: Json, headers: dict[str, str]
    ) -> tuple[int, Json, dict[str, str]]:
        """The answer's ``ETag``, and 304 without a body when ``If-None-Match`` names it."""
        if isinstance(payload, bytes) or payload is None:
            return 200, payload, headers
        encoded = json.dumps(payload).encode()  # once: for the ETag and as the body
        etag = etag_of(encoded)
        if req.headers.get("if-none-match") == etag:
            return 304, None, {"ETag": etag}
        return 200, encoded, {**headers, "ETag": etag, "Content-Type": JSON_TYPE}

    def _count(self, req: Request, status: int) -> None:
        """Spend the budget as GitHub does: a 304, a 401 and ``GET /rate_limit`` are free."""
        req.status = status
        if status not in (304, 401) and req.path != "/rate_limit":
            req.counted = True
            self.rate.spend()

    def _authorized(self, req: Request) -> bool:
        """The write token, or a read-only one (``read_tokens``: a prepare job's)."""
        token = self._token(req)
        return token == self.token or token in self.read_tokens

    @staticmethod
    def _token(req: Request) -> str:
        return req.headers.get("authorization", "").split(" ")[-1]

    def _page(
        self, req: Request, payload: Json, headers: dict[str, str]
    ) -> tuple[Json, dict[str, str]]:
        """One page of a list (or of the list inside ``{"total_count", ...}``), with GitHub's
        ``Link`` header (rel next and last); other answers as they are."""
        if req.paged:
            return payload, headers
        if isinstance(payload, dict) and "total_count" in payload:
            key = next(k for k, v in payload.items() if isinstance(v, list))
            items, headers = self._page_items(req, payload[key], headers)
            return {**payload, key: items}, headers
        if isinstance(payload, list):
            return self._page_items(req, payload, headers)
        return payload, headers

    def _page_items(
        self, req: Request, items: list[Any], headers: dict[str, str]
    ) -> tuple[list[Any], dict[str, str]]:
        asked = int(req.query.get("per_page", ["30"])[0])
        size = self.page_size or max(1, min(asked, 100))
        page = int(req.query.get("page", ["1"])[0])
        last = max(1, -(-len(items) // size))

        def url(n: int) -> str:
            query = {k: v[0] for k, v in req.query.items()} | {"page": str(n)}
            return f"{self.api_url}{req.path}?{urlencode(query)}"

        links = [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        extra = {"Link": ", ".join(links)} if page < last else {}
        return items[(page - 1) * size : page * size], {**headers, **extra}

    def _run_hooks(self, req: Request) -> None:
        prefix = f"/repos/{self.owner}/{self.name}"
        route = req.path[len(prefix) :] if req.path.startswith(prefix) else req.path
        with self._lock:
            due = [
                h
                for h in self.hooks
                if h.times > 0 and h.method == req.method and re.fullmatch(h.path, route)
            ]
            for hook in due:
                hook.times -= 1
        for hook in due:
            hook.action()

    def _fault(self, req: Request) -> Fault | None:
        prefix = f"/repos/{self.owner}/{self.name}"
        route = req.path[len(prefix) :] if req.path.startswith(prefix) else req.path
        with self._lock:
            now = time.monotonic()
            for fault in self.faults:
                if fault.method != req.method or not re.fullmatch(fault.path, route):
                    continue
                if fault.times > 0 or now < fault.held_until:
                    fault.times = max(0, fault.times - 1)
                    fault.held_until = now + fault.hold_s if fault.hold_s else 0.0
                    return fault
        return None

    def _route(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        with self._lock:
            self.requests.append(req)
            if not self._authorized(req):
                return 401, {"message": "Bad credentials"}, {}
            if self._token(req) in self.read_tokens and req.method not in ("GET", "HEAD"):
                self.refused_writes.append(req)
                return 403, {"message": "Resource not accessible by integration"}, {}
            if req.method == "GET" and req.path == "/rate_limit":
                return 200, self.rate.overview(), {}
            prefix = f"/repos/{self.owner}/{self.name}"
            if not req.path.startswith(prefix):
                return 404, {"message": "Not Found"}, {}
            route = req.path[len(prefix) :]
            for method, pattern, handler in self._routes():
                match = re.fullmatch(pattern, route)
                if match and method == req.method:
                    return handler(req, *match.groups())
            return 404, {"message": f"Not Found: {req.method} {route}"}, {}

    def _routes(self) -> list[tuple[str, str, Callable[..., tuple[int, Json, dict[str, str]]]]]:
        return [
            ("GET", r"", lambda r: (200, self.repo_json(), {})),
            ("GET", r"/pulls", self._list_pulls),
            ("POST", r"/pulls", self._create_pull),
            ("GET", r"/pulls/(\d+)", lambda r, n: self._pull(int(n), self.pull_json)),
            ("PATCH", r"/pulls/(\d+)", self._edit_pull),
            ("GET", r"/pulls/(\d+)/reviews", lambda r, n: self._pull(int(n), lambda p: p.reviews)),
            (
                "GET",
                r"/pulls/(\d+)/comments",
                lambda r, n: self._pull(int(n), lambda p: p.review_comments),
            ),
            (
                "GET",
                r"/issues/(\d+)/comments",
                lambda r, n: self._pull(int(n), lambda p: p.issue_comments),
            ),
            ("GET", r"/issues", self._list_issues),
            ("POST", r"/issues", self._create_issue),
            ("GET", r"/issues/(\d+)", self._get_issue),
            ("PATCH", r"/issues/(\d+)", self._edit_issue),
            ("POST", r"/issues/(\d+)/labels", self._add_labels),
            ("POST", r"/issues/(\d+)/comments", self._create_comment),
            ("GET", r"/pulls/(\d+)/commits", self._list_commits),
            ("GET", r"/commits", self._history),
            ("GET", r"/git/blobs/(\w+)", self._get_blob),
            ("GET", r"/actions/runs", self._list_runs),
            ("GET", r"/actions/runs/(\d+)/artifacts", self._list_artifacts),
            ("GET", r"/actions/artifacts/(\d+)/zip", self._download),
            ("GET", r"/contents/(.+)", self._contents),
            ("GET", r"/git/refs?/(.+)", self._get_ref),
            ("PATCH", r"/git/refs/(.+)", self._update_ref),
            ("DELETE", r"/git/refs/(.+)", self._delete_ref),
            ("POST", r"/git/refs", self._create_ref),
            (
                "GET",
                r"/git/commits/(\w+)",
                lambda r, s: self._known(s in self.commits, lambda: self.commit_json(s)),
            ),
            ("POST", r"/git/blobs", self._create_blob),
            ("POST", r"/git/trees", self._create_tree),
            ("POST", r"/git/commits", self._create_commit),
            ("GET", r"/compare/(.+?)\.\.\.(.+)", self._compare),
            *self._trust_routes(),
            *self._change_routes(),
        ]

    def _trust_routes(
        self,
    ) -> list[tuple[str, str, Callable[..., tuple[int, Json, dict[str, str]]]]]:
        """Who may do what: the collaborator-permission lookup."""
        return [("GET", r"/collaborators/([^/]+)/permission", self._permission)]

    def _change_routes(
        self,
    ) -> list[tuple[str, str, Callable[..., tuple[int, Json, dict[str, str]]]]]:
        """What a PR changes: its files, and one commit with its patches."""
        return [
            ("GET", r"/pulls/(\d+)/files", self._pull_files),
            ("GET", r"/commits/([0-9a-f]{7,40})", self._commit_with_files),
        ]

    def diff_entry_json(self, path: str, additions: int, deletions: int, patch: str | None) -> Json:
        """One ``diff-entry``: a file of a PR or a commit; no ``patch`` for a binary file."""
        entry: Json = {
            "sha": sha_of(path.encode()),
            "filename": path,
            "status": "modified",
            "additions": additions,
            "deletions": deletions,
            "changes": additions + deletions,
            "blob_url": f"https://github.com/{self.full_name}/blob/main/{path}",
            "raw_url": f"https://github.com/{self.full_name}/raw/main/{path}",
            "contents_url": f"{self.repo_url}/contents/{path}",
        }
        if patch is not None:
            entry["patch"] = patch
        return entry

    def _pull_files(self, req: Request, number: str) -> tuple[int, Json, dict[str, str]]:
        return self._pull(int(number), lambda p: [self.diff_entry_json(*f) for f in p.files])

    def _commit_with_files(self, req: Request, sha: str) -> tuple[int, Json, dict[str, str]]:
        if sha not in self.commit_patches:
            return 404, {"message": "No commit found for SHA: " + sha}, {}
        files = [self.diff_entry_json(*f) for f in self.commit_patches[sha]]
        data = self.pull_commit_json(sha, None, "someone")
        added = sum(f["additions"] for f in files)
        removed = sum(f["deletions"] for f in files)
        stats = {"additions": added, "deletions": removed, "total": added + removed}
        return 200, {**data, "files": files, "stats": stats}, {}

    def _permission(self, req: Request, login: str) -> tuple[int, Json, dict[str, str]]:
        login = unquote(login)
        return self._known(login in self.collaborators, lambda: self.permission_json(login))

    def _known(self, ok: bool, make: Callable[[], Json]) -> tuple[int, Json, dict[str, str]]:
        return (200, make(), {}) if ok else (404, {"message": "Not Found"}, {})

    def _pull(self, number: int, make: Callable[[Pull], Json]) -> tuple[int, Json, dict[str, str]]:
        pull = self.pulls.get(number)
        return self._known(pull is not None, lambda: make(pull))  # type: ignore[arg-type]

    def _list_pulls(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        state = req.query.get("state", ["open"])[0]
        head = req.query.get("head", [None])[0]
        base = req.query.get("base", [None])[0]
        found = [p for p in self.pulls.values() if state in ("all", p.state)]
        if head and ":" in head:  # like GitHub: without the owner prefix the filter is ignored
            found = [
                p
                for p in found
                if f"{(p.head_repo or self.full_name).split('/')[0]}:{p.head_ref}" == head
            ]
        if base:
            found = [p for p in found if p.base_ref == base]
        by_update = req.query.get("sort", ["created"])[0] == "updated"
        found.sort(
            key=lambda p: ((p.updated_at or NOW) if by_update else p.created_at, p.number),
            reverse=req.query.get("direction", ["desc"])[0] == "desc",
        )
        # Paged here, before the JSON of each PR (two whole repositories in it) is built.
        page, headers = self._page_items(req, found, {})
        req.paged = True
        return 200, [self.pull_json(p) for p in page], headers

    def _create_pull(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        body = req.body
        head, base = body["head"], body["base"]
        if f"heads/{head}" not in self.refs:
            return (
                422,
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                },
                {},
            )
        if any(
            p.head_ref == head
            and p.head_repo in (None, self.full_name)
            and p.base_ref == base
            and p.state == "open"
            for p in self.pulls.values()
        ):
            message = f"A pull request already exists for {self.owner}:{head}."
            return (
                422,
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "PullRequest", "code": "custom", "message": message}],
                },
                {},
            )
        number = self.next_number()
        pull = self.add_pull(
            Pull(
                number=number,
                title=body["title"],
                body=body.get("body"),
                head_ref=head,
                head_sha=self.refs[f"heads/{head}"],
                base_ref=base,
                base_sha=self.refs[f"heads/{base}"],
                author="github-actions[bot]",
                draft=bool(body.get("draft", False)),
            )
        )
        return 201, self.pull_json(pull), {"Location": f"{self.repo_url}/pulls/{number}"}

    def _edit_pull(self, req: Request, number: str) -> tuple[int, Json, dict[str, str]]:
        pull = self.pulls.get(int(number))
        if pull is None:
            return 404, {"message": "Not Found"}, {}
        for key in ("title", "body", "state"):
            if key in req.body:
                setattr(pull, key, req.body[key])
        return 200, self.pull_json(pull), {}

    def next_number(self) -> int:
        """Issues and pull requests are numbered in one sequence."""
        return max([*self.pulls, *self.issues], default=0) + 1

    def issue_json(self, issue: Issue) -> Json:
        """GitHub's ``issue`` schema (the fields PyGithub and the client read)."""
        return {
            "id": issue.number * 11,
            "node_id": "I_x",
            "url": f"{self.repo_url}/issues/{issue.number}",
            "repository_url": self.repo_url,
            "labels_url": f"{self.repo_url}/issues/{issue.number}/labels{{/name}}",
            "comments_url": f"{self.repo_url}/issues/{issue.number}/comments",
            "events_url": f"{self.repo_url}/issues/{issue.number}/events",
            "html_url": f"https://github.com/{self.full_name}/issues/{issue.number}",
            "number": issue.number,
            "state": issue.state,
            "title": issue.title,
            "body": issue.body,
            "user": self.user(issue.author),
            "labels": [self.label(n) for n in issue.labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "comments": 0,
            "closed_at": None,
            "created_at": NOW,
            "updated_at": NOW,
            "author_association": "NONE",
        }

    def _list_issues(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        """Issues and PRs (with ``pull_request``), filtered by state and labels, as GitHub."""
        state = req.query.get("state", ["open"])[0]
        wanted = [x for x in req.query.get("labels", [""])[0].split(",") if x]
        items: list[Json] = []
        for issue in self.issues.values():
            if state in ("all", issue.state) and all(w in issue.labels for w in wanted):
                items.append(self.issue_json(issue))
        for pull in self.pulls.values():
            if state in ("all", pull.state) and all(w in pull.labels for w in wanted):
                item = self.issue_json(Issue(pull.number, pull.title, pull.body, pull.labels))
                items.append(
                    {**item, "pull_request": {"url": f"{self.repo_url}/pulls/{pull.number}"}}
                )
        return 200, sorted(items, key=lambda i: -int(i["number"])), {}

    def _create_issue(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        issue = Issue(
            self.next_number(),
            req.body["title"],
            req.body.get("body"),
            labels=list(req.body.get("labels") or []),
        )
        self.issues[issue.number] = issue
        return 201, self.issue_json(issue), {}

    def _get_issue(self, req: Request, number: str) -> tuple[int, Json, dict[str, str]]:
        issue = self.issues.get(int(number))
        return self._known(issue is not None, lambda: self.issue_json(issue))  # type: ignore[arg-type]

    def _edit_issue(self, req: Request, number: str) -> tuple[int, Json, dict[str, str]]:
        issue = self.issues.get(int(number))
        if issue is None:
            return 404, {"message": "Not Found"}, {}
        for key in ("title", "body", "state"):
            if key in req.body:
                setattr(issue, key, req.body[key])
        issue.edits += 1
        return 200, self.issue_json(issue), {}

    def issue_comment_json(
        self, number: int, cid: int, body: str, *, login: str, association: str = "NONE"
    ) -> Json:
        """An issue (conversation) comment, GitHub's ``issue-comment`` schema."""
        return {
            "id": cid,
            "node_id": "IC_x",
            "url": f"{self.repo_url}/issues/comments/{cid}",
            "html_url": f"https://github.com/{self.full_name}/pull/{number}#issuecomment-{cid}",
            "issue_url": f"{self.repo_url}/issues/{number}",
            "body": body,
            "user": self.user(login),
            "author_association": association,
            "created_at": NOW,
            "updated_at": NOW,
        }

    def _create_comment(self, req: Request, number: str) -> tuple[int, Json, dict[str, str]]:
        pull = self.pulls.get(int(number))
        if pull is None:
            return 404, {"message": "Not Found"}, {}
        comment = self.issue_comment_json(
            pull.number, self.next_id(), req.body["body"], login="github-actions[bot]"
        )
        pull.issue_comments.append(comment)
        return 201, comment, {}

    def _add_labels(self, req: Request, number: str) -> tuple[int, Json, dict[str, str]]:
        pull = self.pulls.get(int(number))
        if pull is None:
            return 404, {"message": "Not Found"}, {}
        names = req.body["labels"] if isinstance(req.body, dict) else req.body
        for name in names:
            if name not in pull.labels:
                pull.labels.append(name)
        return 200, [self.label(n) for n in pull.labels], {}

    def _list_commits(self, req: Request, number: str) -> tuple[int, Json, dict[str, str]]:
        pull = self.pulls.get(int(number))
        if pull is None:
            return 404, {"message": "Not Found"}, {}
        commits = pull.commits or [(pull.head_sha, pull.author, pull.author)]
        return 200, [self.pull_commit_json(*c) for c in commits], {}

    def _history(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        """``GET /commits?path=P``: first-parent history of the default branch that changed P,
        newest first (enough for prompt-file histories)."""
        path = req.query.get("path", [""])[0].strip("/")
        sha: str | None = self.refs.get(f"heads/{self.default_branch}")
        found = []
        while sha:
            data = self.commits[sha]
            parent = data["parents"][0] if data["parents"] else None
            mine = self._under(self.trees[data["tree"]], path)
            before = self._under(self.trees[self.commits[parent]["tree"]], path) if parent else {}
            if mine != before:
                found.append(self.history_json(sha))
            sha = parent
        return 200, found, {}

    @staticmethod
    def _under(tree: dict[str, str], path: str) -> dict[str, str]:
        return {p: b for p, b in tree.items() if p == path or p.startswith(path + "/")}

    def history_json(self, sha: str) -> Json:
        data = self.commits[sha]
        item = self.pull_commit_json(sha, "maria", "Maria")
        item["commit"]["message"] = data["message"]
        item["commit"]["committer"]["date"] = data.get("date", NOW)
        item["commit"]["author"]["date"] = data.get("date", NOW)
        return item

    def _get_blob(self, req: Request, sha: str) -> tuple[int, Json, dict[str, str]]:
        if sha not in self.blobs:
            return 404, {"message": "Not Found"}, {}
        data = self.blobs[sha]
        return (
            200,
            {
                "sha": sha,
                "node_id": "B_x",
                "url": f"{self.repo_url}/git/blobs/{sha}",
                "size": len(data),
                "encoding": "base64",
                "content": base64.b64encode(data).decode(),
            },
            {},
        )

    def _list_runs(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        """Newest first; with a filter GitHub returns at most 1,000 runs (``total_count`` still
        counts them all)."""
        head = req.query.get("head_sha", [None])[0]
        repos: dict[str, Json] = {}
        runs = [self.run_json(i, s, repos) for i, s, _ in self.runs if head in (None, s)]
        runs = self._runs_by_event(req, runs)
        runs.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        filtered = any(k in req.query for k in RUN_FILTERS)
        shown = runs[:MAX_FILTERED_RUNS] if filtered else runs
        return 200, {"total_count": len(runs), "workflow_runs": shown}, {}

    @staticmethod
    def _runs_by_event(req: Request, runs: list[Json]) -> list[Json]:
        """The ``event`` and ``created`` (``A..B``, ISO times) filters of ``GET /actions/runs``."""
        event = req.query.get("event", [None])[0]
        created = req.query.get("created", [None])[0]
        if event is not None:
            runs = [r for r in runs if r["event"] == event]
        if created is not None and ".." in created:
            low, high = (datetime.fromisoformat(t) for t in created.split("..", 1))
            runs = [r for r in runs if low <= datetime.fromisoformat(r["created_at"]) <= high]
        return runs

    def _list_artifacts(self, req: Request, run_id: str) -> tuple[int, Json, dict[str, str]]:
        for rid, sha, artifacts in self.runs:
            if rid == int(run_id):
                items = [self.artifact_json(a, rid, sha) for a in artifacts]
                return 200, {"total_count": len(items), "artifacts": items}, {}
        return 404, {"message": "Not Found"}, {}

    def _download(self, req: Request, artifact_id: str) -> tuple[int, Json, dict[str, str]]:
        for _, _, artifacts in self.runs:
            for artifact in artifacts:
                if artifact.id == int(artifact_id):
                    if artifact.expired:
                        return 410, {"message": "Artifact has expired"}, {}
                    location = (
                        f"http://localhost:{self.storage.server_port}/blob/{artifact.id}?sig=abc"
                    )
                    return 302, None, {"Location": location}
        return 404, {"message": "Not Found"}, {}

    def _contents(self, req: Request, path: str) -> tuple[int, Json, dict[str, str]]:
        ref = req.query.get("ref", [self.default_branch])[0]
        sha = self.refs.get(f"heads/{ref}", ref)
        if sha not in self.commits:
            return 404, {"message": "No commit found for the ref"}, {}
        tree = self.trees[self.commits[sha]["tree"]]
        path = unquote(path).strip("/")
        if path in tree:
            return 200, self._content_json(path, tree[path], ref, with_content=True), {}
        children = [p for p in tree if p.startswith(path + "/") and "/" not in p[len(path) + 1 :]]
        if not children:
            return 404, {"message": "Not Found"}, {}
        return (
            200,
            [self._content_json(p, tree[p], ref, with_content=False) for p in sorted(children)],
            {},
        )

    def _content_json(self, path: str, blob: str, ref: str, *, with_content: bool) -> Json:
        url = f"{self.repo_url}/contents/{path}?ref={ref}"
        data = {
            "type": "file",
            "size": len(self.blobs[blob]),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": blob,
            "url": url,
            "git_url": None,
            "html_url": None,
            "download_url": None,
            "_links": {"self": url, "git": None, "html": None},
        }
        if with_content and len(self.blobs[blob]) > self.contents_inline_limit:
            data["encoding"] = "none"
            data["content"] = ""
        elif with_content:
            data["encoding"] = "base64"
            data["content"] = base64.b64encode(self.blobs[blob]).decode()
        return data

    def _get_ref(self, req: Request, ref: str) -> tuple[int, Json, dict[str, str]]:
        ref = unquote(ref)
        return self._known(ref in self.refs, lambda: self.ref_json(ref))

    def _update_ref(self, req: Request, ref: str) -> tuple[int, Json, dict[str, str]]:
        ref = unquote(ref)
        if ref not in self.refs:
            return 422, {"message": "Reference does not exist"}, {}
        if not req.body.get("force") and not self.descends(req.body["sha"], self.refs[ref]):
            return 422, {"message": "Update is not a fast forward"}, {}
        self.refs[ref] = req.body["sha"]
        return 200, self.ref_json(ref), {}

    def _delete_ref(self, req: Request, ref: str) -> tuple[int, Json, dict[str, str]]:
        ref = unquote(ref)
        if self.refs.pop(ref, None) is None:
            return 422, {"message": "Reference does not exist"}, {}
        return 204, None, {}

    def _create_ref(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        ref = req.body["ref"].removeprefix("refs/")
        if ref in self.refs:
            return 422, {"message": "Reference already exists"}, {}
        self.refs[ref] = req.body["sha"]
        return 201, self.ref_json(ref), {}

    def _create_blob(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        content = req.body["content"]
        data = (
            base64.b64decode(content) if req.body.get("encoding") == "base64" else content.encode()
        )
        sha = self._blob(data)
        return 201, {"sha": sha, "url": f"{self.repo_url}/git/blobs/{sha}"}, {}

    def _create_tree(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        base = req.body.get("base_tree")
        entries = dict(self.trees.get(base, {}))
        for item in req.body["tree"]:
            if item.get("sha") is None and "content" not in item:
                entries.pop(item["path"], None)
            else:
                entries[item["path"]] = (
                    item["sha"] if item.get("sha") else self._blob(item["content"].encode())
                )
        sha = self._tree(entries)
        tree = [
            {
                "path": p,
                "mode": "100644",
                "type": "blob",
                "sha": s,
                "size": len(self.blobs[s]),
                "url": f"{self.repo_url}/git/blobs/{s}",
            }
            for p, s in sorted(entries.items())
        ]
        return (
            201,
            {
                "sha": sha,
                "url": f"{self.repo_url}/git/trees/{sha}",
                "tree": tree,
                "truncated": False,
            },
            {},
        )

    def _create_commit(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        body = req.body
        sha = sha_of(
            f"{body['tree']}{body['parents']}{body['message']}{len(self.commits)}".encode()
        )
        given = body.get("author") or {}
        self.commits[sha] = {
            "tree": body["tree"],
            "parents": body["parents"],
            "message": body["message"],
            "author": (given["name"], given["email"]) if given else BOT_IDENTITY,
        }
        return 201, self.commit_json(sha), {}

    def _handle_storage(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        with self._lock:
            self.storage_requests.append(req)
            match = re.fullmatch(r"/blob/(\d+)", req.path)
            for _, _, artifacts in self.runs:
                for artifact in artifacts:
                    if match and artifact.id == int(match.group(1)):
                        return artifact.status, artifact.data, {"Content-Type": "application/zip"}
            return 404, {"message": "BlobNotFound"}, {}


def _serve(handle: Callable[[Request], tuple[int, Json, dict[str, str]]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as GitHub: a connection per request made every call pay a TCP handshake
        # (a 500-PR backfill spent a fifth of its time connecting).
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle's algorithm holds the body
        # until the client's delayed ACK (40 ms a request).
        disable_nagle_algorithm = True

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            query = parse_qs(parts.query)
            request = Request(self.command, parts.path, query, headers, body, self.connection)
            status, payload, extra = handle(request)
            if status == HUNG_UP:
                self.close_connection = True
                return
            data = (
                payload
                if isinstance(payload, bytes)
                else (b"" if payload is None else json.dumps(payload).encode())
            )
            self.send_response(status)
            if not isinstance(payload, bytes):
                self.send_header("Content-Type", JSON_TYPE)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = QuietServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits for the loop to notice, 0.5 s by default.
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    ).start()
    return server
