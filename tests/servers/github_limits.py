"""GitHub's rate limits and conditional requests, as the local GitHub server enforces them.

Shaped after GitHub's API description and the recorded exchanges in
``../shared/realdata/github-api/`` (``pygithub-replay/*.txt``, ``octokit-fixtures/*.json``):

- ``RateLimit``, the primary limit of one token: ``limit`` requests per window (an hour). Every
  answer carries ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` (epoch seconds), ``-Used`` and
  ``-Resource: core``; past the limit every request answers 403 "API rate limit exceeded for
  installation ID 1." with ``X-RateLimit-Remaining: 0``. A 304 and ``GET /rate_limit`` cost
  nothing, as on GitHub. ``clock`` is injectable and ``next_window`` starts the next hour, so a
  test can run several "hourly" runs without waiting.
- ``SecondaryLimit``: GitHub's points per minute (a GET costs 1 point, a write 5); past it, 403
  (or 429) "You have exceeded a secondary rate limit" with ``Retry-After``. Off unless a test
  sets one.
- ``etag_of``: a weak ``ETag`` of an answer's JSON (``W/"<sha256>"``, the shape GitHub sends); a
  GET whose ``If-None-Match`` names the current one answers 304 with no body.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
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
    """GitHub's secondary limit on points per ``window_s`` (a read 1 point, a write 5)."""

    points: int = 900
    window_s: float = 60.0
    retry_after: int = 60
    status: int = 403
    clock: Callable[[], float] = time.monotonic
    spent: deque[tuple[float, int]] = field(default_factory=deque)
    #: How many requests were refused (a test asserts the client waited and went on).
    refused: int = 0

    def admit(self, method: str) -> tuple[int, Any, dict[str, str]] | None:
        """None when the request may go on, else GitHub's refusal with ``Retry-After``."""
        now = self.clock()
        while self.spent and self.spent[0][0] <= now - self.window_s:
            self.spent.popleft()
        cost = 1 if method in ("GET", "HEAD") else 5
        if sum(points for _, points in self.spent) + cost > self.points:
            self.refused += 1
            wait = self.spent[0][0] + self.window_s - now if self.spent else self.window_s
            retry = max(1, min(self.retry_after, math.ceil(wait)))
            body = {"message": SECONDARY_MESSAGE, "documentation_url": DOCS}
            return self.status, body, {"Retry-After": str(retry)}
        self.spent.append((now, cost))
        return None


def etag_of(payload: Any) -> str:
    """A weak ETag of a JSON answer, as GitHub sends them (``W/"<64 hex>"``)."""
    data = json.dumps(payload, sort_keys=True).encode("utf-8")
    return f'W/"{hashlib.sha256(data).hexdigest()}"'
