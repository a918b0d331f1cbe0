"""GitHub's rate limits and conditional requests, as the local GitHub server enforces them.

Shaped after GitHub's API description and the recorded exchanges in
``../shared/realdata/github-api/`` (``pygithub-replay/*.txt``, ``octokit-fixtures/*.json``):

- ``RateLimit``, the primary limit of one token: ``limit`` requests per window (an hour). Every
  answer carries ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` (epoch seconds), ``-Used`` and
  ``-Resource: core``; past the limit every request answers 403 "API rate limit exceeded for
  installation ID 1." with ``X-RateLimit-Remaining: 0``. A 304 and ``GET /rate_limit`` cost
  nothing, as on GitHub. ``clock`` is injectable and ``next_window`` starts the next hour, so a
  test can run several "hourly" runs without waiting.
- ``SecondaryLimit``: GitHub's points (a GET costs 1 point, a write 5); past them, 403 (or 429)
  "You have exceeded a secondary rate limit" with ``Retry-After``, and a refusal for whoever
  does not wait that long. Off unless a test sets one.
- ``etag_of``: a weak ``ETag`` of an answer's body (``W/"<sha256>"``, the shape GitHub sends); a
  GET whose ``If-None-Match`` names the current one answers 304 with no body.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PRIMARY_MESSAGE = (
    "API rate limit exceeded for installation ID 1. If you reach out to GitHub Support for "
    "help, please include the request ID 0000:0000."
)
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID 0000:0000."
)
DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


@dataclass
class RateLimit:
    """One token's primary rate limit: ``limit`` counted requests per ``window_s`` seconds."""

    limit: int = 5000
    window_s: int = 3600
    clock: Callable[[], float] = time.time
    used: int = 0
    started: float | None = None
    #: Every request answered 403 because the limit was exhausted (a test asserts none).
    refused: int = 0

    def _window(self) -> float:
        now = self.clock()
        if self.started is None or now >= self.started + self.window_s:
            self.started, self.used = now, 0
        return self.started

    @property
    def remaining(self) -> int:
        self._window()
        return max(0, self.limit - self.used)

    @property
    def reset(self) -> int:
        return math.ceil(self._window() + self.window_s)

    def next_window(self) -> None:
        """The hour is over: a fresh budget (what a later scheduled run finds)."""
        self.started, self.used = self.clock(), 0

    def spend(self) -> None:
        self._window()
        self.used += 1

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Used": str(self.used),
            "X-RateLimit-Resource": "core",
        }

    def exceeded(self) -> tuple[int, Any, dict[str, str]]:
        """GitHub's answer once the budget is spent."""
        self.refused += 1
        return 403, {"message": PRIMARY_MESSAGE, "documentation_url": DOCS}, self.headers()

    def overview(self) -> Any:
        """``GET /rate_limit``: the ``rate-limit-overview`` schema (core, search, graphql)."""
        core = {
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "reset": self.reset,
        }
        search = {"limit": 30, "used": 0, "remaining": 30, "reset": self.reset}
        return {"resources": {"core": core, "search": search, "graphql": dict(core)}, "rate": core}


@dataclass
class SecondaryLimit:
    """GitHub's secondary limit on points (a read costs 1 point, a write 5). Past ``points``,
    the request is refused with ``Retry-After: retry_after`` and so is every request in the
    next ``retry_after`` seconds (as GitHub refuses a client that does not wait); then the
    count starts again. Counting requests rather than a clock's minute makes where it trips
    the same on any machine."""

    points: int = 900
    retry_after: int = 60
    status: int = 403
    clock: Callable[[], float] = time.monotonic
    spent: int = 0
    held_until: float = 0.0
    #: How many requests were refused (a test asserts the client waited and went on).
    refused: int = 0

    def admit(self, method: str) -> tuple[int, Any, dict[str, str]] | None:
        """None when the request may go on, else GitHub's refusal with ``Retry-After``."""
        now = self.clock()
        cost = 1 if method in ("GET", "HEAD") else 5
        if now >= self.held_until and self.spent + cost <= self.points:
            self.spent += cost
            return None
        if now >= self.held_until:
            self.spent, self.held_until = 0, now + self.retry_after
        self.refused += 1
        body = {"message": SECONDARY_MESSAGE, "documentation_url": DOCS}
        return self.status, body, {"Retry-After": str(self.retry_after)}


def etag_of(body: bytes) -> str:
    """A weak ETag of an answer's body, as GitHub sends them (``W/"<64 hex>"``)."""
    return f'W/"{hashlib.sha256(body).hexdigest()}"'
