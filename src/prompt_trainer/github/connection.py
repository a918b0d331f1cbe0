"""GitHub adapter, the connection: one repository reached through PyGithub, and error translation.

Takes the API URL, a token and ``owner/name``; gives the other ``github/`` modules a
``Connection`` (the PyGithub repository, the bot's logins, the HTTP timeout) and
``translate_errors``, which turns PyGithub and ``requests`` failures into a ``GitHubError`` that
names a fix. PyGithub's default retry re-sends POSTs and waits without backoff; this connection
retries only idempotent methods, with exponential backoff (``backoff_s``, from the caller), a
bounded number of times; a Retry-After or rate-limit reset from GitHub is honoured whatever the
backoff. Also here: the rules every module shares for who wrote something (``is_bot_login``,
``by_bot``) and the refusal to write to the default branch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.Repository import Repository
from urllib3.util.retry import Retry

from prompt_trainer.errors import GitHubError
from prompt_trainer.github.records import Access, RepoInfo
from prompt_trainer.settings import DEFAULT_BOT_LOGINS

TIMEOUT_S = 30
RETRIES = 3
#: urllib3's backoff factor: retries wait 0, 2x, 4x this (as settings.DEFAULT_BACKOFF_S).
BACKOFF_S = 0.5


class Connection:
    """One repository, reached through PyGithub with a bounded, backing-off retry. ``repo`` is
    the PyGithub object, for the ``github/`` modules only."""

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
        #: What the collaborator-permission endpoint said, per login, for the life of the client.
        self.access: dict[str, Access] = {}
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
        github = Github(
            base_url=self.api_url,
            auth=Auth.Token(token) if token else None,
            timeout=timeout_s,
            retry=retry,
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        #: The PyGithub entry point (its ``requester`` makes the calls PyGithub has no method for).
        self.api = github
        with translate_errors(f"opening repository {repository}"):
            self.repo: Repository = github.get_repo(repository)

    def reachable(self) -> bool:
        """Whether GitHub answers at all (``GET /rate_limit``, which costs no rate budget):
        false when the host cannot be reached or answers 5xx until the retries run out."""
        try:
            status, _, _ = self.api.requester.requestJson("GET", "/rate_limit")
        except requests.exceptions.RequestException:
            return False
        return status < 500

    def info(self) -> RepoInfo:
        repo = self.repo
        return RepoInfo(
            full_name=repo.full_name, owner=repo.owner.login, default_branch=repo.default_branch
        )

    def is_bot_login(self, user: object) -> bool:
        """A user's JSON names one of the bot's logins."""
        return isinstance(user, dict) and user.get("login") in self.bot_logins

    def by_bot(self, data: dict[str, Any]) -> bool:
        """A PR's JSON says one of the bot's logins opened it from this repository."""
        head_repo = ((data.get("head") or {}).get("repo") or {}).get("full_name")
        base_repo = ((data.get("base") or {}).get("repo") or {}).get("full_name")
        return (
            self.is_bot_login(data.get("user"))
            and head_repo == base_repo
            and head_repo == self.repo.full_name
        )

    def refuse_default_branch(self, branch: str) -> None:
        info = self.info()
        if branch in (info.default_branch, f"refs/heads/{info.default_branch}"):
            raise GitHubError(
                f"refusing to write to the default branch {branch!r}",
                fix="proposals go to prompt-trainer/<target> branches and evidence to the "
                "data branch (store.branch in the config); neither may be the default branch",
            )

    def ref_sha(self, ref: str) -> str | None:
        """The commit ``ref`` (``heads/<branch>`` or a full ``refs/...`` name) points at; None
        when it does not exist. Errors other than a 404 propagate untranslated."""
        try:
            return str(self.repo.get_git_ref(ref).object.sha)
        except GithubException as exc:
            if exc.status != 404:
                raise
            return None


@contextlib.contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn PyGithub and requests failures into a ``GitHubError`` that names a fix."""
    try:
        yield
    except GithubException as exc:
        raise GitHubError(
            f"GitHub API error while {action}: {exc.status} {message_of(exc)}",
            fix=_fix_for_status(exc.status),
            status=exc.status,
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


def message_of(exc: GithubException) -> str:
    """The ``message`` GitHub answered with."""
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


def listed(obj: Any) -> dict[str, Any]:
    """The JSON a list endpoint returned for ``obj``.

    PyGithub's public ``raw_data`` (and any attribute the list omitted, such as
    ``in_reply_to_id`` on a comment that is not a reply) re-fetches the object: one extra request
    per comment. The listed JSON already holds everything we read, so it is used directly.
    """
    data = getattr(obj, "_rawData", None)
    return data if isinstance(data, dict) else {}
