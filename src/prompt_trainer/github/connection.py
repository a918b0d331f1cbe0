"""GitHub adapter, the connection: one repository reached through PyGithub, and error translation.

Takes the API URL, a token and ``owner/name``; gives the other ``github/`` modules a
``Connection`` (the PyGithub repository, the bot's logins, the HTTP timeout) and
``translate_errors``, which turns PyGithub and ``requests`` failures into a ``GitHubError`` that
names a fix. PyGithub's default retry re-sends POSTs and waits without backoff; this connection
retries only idempotent methods, with exponential backoff (``backoff_s``, from the caller), a
bounded number of times. Rate limits follow GitHub's documented rules ("Best practices for
using the REST API"): a primary limit (403 or 429 with ``X-RateLimit-Remaining: 0``) is never
retried, since no request succeeds before ``X-RateLimit-Reset``: it raises at once, and a
backfill stops with its cursor and says when the budget resets; a secondary limit waits its
``Retry-After``, or without a usable one (absent, 0, negative, unreadable) at least a minute
(``SECONDARY_WAIT_S``), doubling each time, and raises once the wait would pass
``MAX_RATE_WAIT_S``. A write (POST, PATCH, ...) is sent again only after GitHub's documented
secondary-limit message (the write was refused, not carried out); any other 403/429 on a write,
``Retry-After`` or not, is raised, since the write may have happened. Waits go through
``sleep``, which tests replace. The rate budget: ``rate`` is what the last answers'
``X-RateLimit-*`` headers said (``observe_rate`` notes those of calls made outside PyGithub),
``rate_limit`` asks ``GET /rate_limit`` (free), ``reachable`` tells the API host down from one
failing call. Lists are asked for 100 to a page. Also here: the rules every module shares for who
wrote something (``is_bot_login``, ``by_bot``) and the refusal to write to the default branch.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.Repository import Repository
from github.Requester import Requester
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from prompt_trainer.errors import GitHubError
from prompt_trainer.github.records import Access, Rate, RepoInfo
from prompt_trainer.settings import DEFAULT_BOT_LOGINS

TIMEOUT_S = 30
RETRIES = 3
#: Items per page of every list (GitHub's maximum; its default of 30 costs 3x the requests).
PER_PAGE = 100
#: urllib3's backoff factor: retries wait 0, 2x, 4x this (as settings.DEFAULT_BACKOFF_S).
BACKOFF_S = 0.5


#: A secondary rate limit without ``Retry-After``: GitHub says to wait at least a minute, then
#: longer after each refusal (exponentially).
SECONDARY_WAIT_S = 60.0
#: The longest wait for a rate limit before giving up (the backfill then stops with its cursor).
MAX_RATE_WAIT_S = 120.0
RATE_STATUSES = (403, 429)


class _Retry(GithubRetry):
    """PyGithub's retry with GitHub's rate-limit rules (the module docstring). PyGithub's own
    ``increment`` reads only 403s (a 429 falls through to plain urllib3, which retries it at
    once) and retries a primary limit by sleeping until the reset; this one decides every
    403 and 429 itself. Waits go through ``sleeper``."""

    def __init__(self, *, sleeper: Callable[[float], None] = time.sleep, **kwargs: Any) -> None:
        self.sleeper = sleeper
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> _Retry:
        kw.setdefault("sleeper", self.sleeper)
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code in RATE_STATUSES and self.total:
            return True  # ``increment`` reads the answer and decides (or raises)
        return bool(super().is_retry(method, status_code, has_retry_after))

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Retry:
        if response is None or response.status not in RATE_STATUSES:
            return super().increment(method, url, response, error, _pool, _stacktrace)
        kind, content = _rate_limit_kind(response, url)
        if not self._is_method_retryable(method or "") and kind != "secondary":
            # A write is sent again only after GitHub's documented secondary-limit refusal (it
            # was not carried out); a 403/429 that merely carries Retry-After (a proxy, a
            # gateway that answered after GitHub wrote) may hide a write that happened.
            raise Requester.createException(response.status, response.headers, content)
        if kind is None:
            if response.status == 403:  # a permission, not a limit: never retried
                raise Requester.createException(response.status, response.headers, content)
            return Retry.increment(self, method, url, response, error, _pool, _stacktrace)
        if kind == "primary":
            raise Requester.createException(response.status, response.headers, content)
        retry = Retry.increment(self, method, url, response, error, _pool, _stacktrace)
        wait = self._secondary_wait(response)
        if wait > MAX_RATE_WAIT_S:
            raise Requester.createException(response.status, response.headers, content)
        retry.get_backoff_time = lambda: wait  # type: ignore[method-assign]
        return retry

    def _secondary_wait(self, response: Any) -> float:
        """A usable ``Retry-After`` (a positive number of seconds or a date ahead), else
        ``secondary_rate_wait`` doubled per earlier refusal: ``Retry-After: 0``, a negative
        or unreadable one counts as absent, and GitHub says to wait at least a minute then."""
        after = _usable_retry_after(self, response)
        if after is not None:
            return after
        earlier: int = sum(1 for h in self.history if h.status in RATE_STATUSES)
        base: float = self.secondary_rate_wait
        return base * 2.0**earlier

    def sleep(self, response: Any = None) -> None:
        """Wait before the next try: the wait ``increment`` set for a rate limit, else a
        usable ``Retry-After`` (a 503's), else urllib3's backoff."""
        limited = response is not None and response.status in RATE_STATUSES
        after = None if limited or response is None else _usable_retry_after(self, response)
        wait = after if after is not None else self.get_backoff_time()
        if wait > 0:
            self.sleeper(wait)


def _usable_retry_after(retry: Retry, response: Any) -> float | None:
    """``Retry-After`` in seconds when it is a positive number or a date ahead; None when
    absent, zero, negative or unreadable (``soon``)."""
    try:
        after = retry.get_retry_after(response)
    except InvalidHeader:
        return None
    return float(after) if after is not None and after > 0 else None


def _rate_limit_kind(response: Any, url: str | None) -> tuple[str | None, Any]:
    """Whether a 403/429 is GitHub's primary limit (``X-RateLimit-Remaining: 0``, or its
    message), its secondary limit by its documented message (``secondary``: the request was
    refused, not carried out), one that only carries ``Retry-After`` (``retry-after``: waited
    for, but a write is not sent again), or neither; and the body."""
    try:
        content: Any = json.loads(GithubRetry.get_content(response, url or ""))
    except ValueError:
        content = {}
    message = str(content.get("message", "")) if isinstance(content, dict) else ""
    if Requester.isPrimaryRateLimitError(message) or (
        response.headers.get("X-RateLimit-Remaining") == "0"
        and not Requester.isSecondaryRateLimitError(message)
    ):
        return "primary", content
    if Requester.isSecondaryRateLimitError(message):
        return "secondary", content
    if "Retry-After" in response.headers:
        return "retry-after", content
    return None, content


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
        secondary_wait_s: float = SECONDARY_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.bot_logins = bot_logins
        #: What the collaborator-permission endpoint said, per login, for the life of the client.
        self.access: dict[str, Access] = {}
        retry = _Retry(
            total=RETRIES,
            backoff_factor=backoff_s,
            # 5xx and 429 (GithubRetry adds 403); _Retry decides which 403/429 is a limit
            # worth waiting for. Only idempotent methods: a POST is never re-sent blindly.
            status_forcelist=[*range(500, 600), 429],
            allowed_methods=Retry.DEFAULT_ALLOWED_METHODS,
            secondary_rate_wait=secondary_wait_s,
            max_rate_limit_wait=MAX_RATE_WAIT_S,
            sleeper=sleep,
        )
        github = Github(
            base_url=self.api_url,
            auth=Auth.Token(token) if token else None,
            timeout=timeout_s,
            retry=retry,
            seconds_between_requests=0,
            seconds_between_writes=0,
            per_page=PER_PAGE,
        )
        #: Every read made by path (``fetch``), in order, with its ETag (None: a list of several
        #: pages); and answers read ahead by ``fetch.still_current``, for the read that follows.
        self.fetched: list[tuple[str, str | None]] = []
        self.memo: dict[str, Any] = {}
        self._rate: Rate | None = None
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

    def observe_rate(self, headers: Mapping[str, Any]) -> None:
        """Note the budget an answer's ``X-RateLimit-*`` headers report (any case of names)."""
        seen = {str(k).lower(): v for k, v in headers.items()}
        try:
            rate = Rate(
                remaining=int(float(seen["x-ratelimit-remaining"])),
                limit=int(float(seen["x-ratelimit-limit"])),
                reset_at=datetime.fromtimestamp(int(float(seen["x-ratelimit-reset"])), UTC),
            )
        except (KeyError, ValueError, OverflowError):
            return
        self._rate = rate.later(self._rate)

    def rate(self) -> Rate | None:
        """The budget as the last answers reported it (PyGithub's calls included); None when
        GitHub sent no ``X-RateLimit-*`` headers (a GitHub Enterprise Server without limits)."""
        remaining, limit = self.api.requester.rate_limiting
        reset = self.api.requester.rate_limiting_resettime
        if limit >= 0 and reset > 0:
            seen = Rate(
                remaining=remaining, limit=limit, reset_at=datetime.fromtimestamp(reset, UTC)
            )
            return seen.later(self._rate)
        return self._rate

    def rate_limit(self) -> Rate | None:
        """``GET /rate_limit`` (free): the core budget now; None when the server has no rate
        limit (GitHub Enterprise Server answers 404 "Rate limiting is not enabled")."""
        with translate_errors("reading the rate limit"):
            status, _, text = self.api.requester.requestJson("GET", "/rate_limit")
        if status != 200 or not text:
            return None
        core = (json.loads(text).get("resources") or {}).get("core") or {}
        try:
            rate = Rate(
                remaining=int(core["remaining"]),
                limit=int(core["limit"]),
                reset_at=datetime.fromtimestamp(int(core["reset"]), UTC),
            )
        except (KeyError, TypeError, ValueError):
            return None
        self._rate = rate.later(self._rate)
        return rate

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
        raise _api_error(action, exc) from exc
    except requests.exceptions.RetryError as exc:
        reason = exc.args[0].reason if exc.args and hasattr(exc.args[0], "reason") else exc
        raise _retries_ran_out(action, str(reason)) from exc
    except requests.exceptions.RequestException as exc:
        raise GitHubError(
            f"cannot reach the GitHub API while {action}: {exc}",
            fix="check GITHUB_API_URL and the network; retry the run",
        ) from exc


def _api_error(action: str, exc: GithubException) -> GitHubError:
    """The error GitHub answered; a spent budget says when it resets."""
    headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
    reset = headers.get("x-ratelimit-reset", "")
    if exc.status in RATE_STATUSES and headers.get("x-ratelimit-remaining") == "0":
        when = f"; the budget resets {resets_at(int(reset))}" if reset.isdigit() else ""
        return GitHubError(
            f"GitHub's rate limit is spent while {action} ({exc.status} {message_of(exc)}){when}",
            fix="nothing succeeds before the reset, so nothing was retried; a backfill goes on "
            "from its cursor at the next run (another job may share the token's budget)",
            status=exc.status,
        )
    return GitHubError(
        f"GitHub API error while {action}: {exc.status} {message_of(exc)}",
        fix=_fix_for_status(exc.status),
        status=exc.status,
    )


def resets_at(epoch: int, now: float | None = None) -> str:
    """When an ``X-RateLimit-Reset`` comes: ``at 14:05 UTC``, or ``now`` when it has passed
    (a clock behind GitHub's, or an answer read late)."""
    if epoch <= (time.time() if now is None else now):
        return "now"
    return f"at {datetime.fromtimestamp(epoch, UTC):%H:%M} UTC"


def _retries_ran_out(action: str, reason: str) -> GitHubError:
    """urllib3 gave up (``too many 502 error responses``): a 403 or 429 it retried was GitHub's
    rate limit (PyGithub retries no other 403); anything else, GitHub failing."""
    found = re.search(r"too many (\d{3}) error responses", reason)
    status = int(found.group(1)) if found else None
    if status in (403, 429):
        return GitHubError(
            f"GitHub kept refusing at its rate limit while {action}, after {RETRIES} retries: "
            f"{reason}",
            fix="the token's budget is spent (another job may share it); the backfill goes on "
            "at the next run",
            status=status,
        )
    return GitHubError(
        f"GitHub kept failing while {action}, after {RETRIES} retries with backoff: {reason}",
        fix="GitHub may be degraded (githubstatus.com); run again later. Evidence "
        "collected so far is kept",
        status=status,
    )


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
