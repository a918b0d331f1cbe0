"""GitHub adapter, reads as JSON: one GET, or a list across its pages, each with its ETag.

Takes a ``Connection`` and an API path (``/repos/o/r/pulls/7/reviews``) with its query; returns
the JSON GitHub answered (``Answer``, or the items of every page of a list). The requests go
through PyGithub's requester (its authentication, base URL, retry with backoff and
``X-RateLimit-*`` bookkeeping), but by path: the PyGithub objects a ``repo.get_pull(n)`` makes
fetch the PR first, and touching an attribute a listing left out fetches the object again.

Every read is written in the connection's log with its ETag (``Connection.fetched``), so the
collect stage can keep the ETags of what one PR's evidence was read from and ask later, with
``If-None-Match``, whether any of it changed (``still_current``): GitHub answers 304 to a
conditional request for something unchanged, and a 304 does not count against the rate limit.
A list of several pages has no single ETag: it is logged without one, and a PR read from one is
read again in full the next time. The first answer that did change is kept (``Connection.memo``)
so collecting the PR again does not ask for it twice.

A listing a backfill makes under its rate budget asks an ``Afford`` before each page with the
pages it still expects to read; the caller's check raises to stop it before the request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from github.Requester import Requester

from prompt_trainer.github.connection import PER_PAGE, Connection, translate_errors

#: The URL holds no ``<``, so a run of ``<`` is read once, not once per ``<`` (quadratic).
NEXT_LINK = re.compile(r'<([^<>]++)>;\s*rel="next"')
LAST_LINK = re.compile(r'<([^<>]++)>;\s*rel="last"')
#: Asked before a listing reads a page, with the pages it expects still to read (this one
#: included, at least 1); raises to stop the listing before the request (a backfill's budget).
Afford = Callable[[int], None]


@dataclass(frozen=True)
class Answer:
    """One GET: its status (200, 304, or 404 when asked to allow it), JSON, ETag and the URL of
    the next page of a list."""

    status: int
    data: Any
    etag: str | None = None
    next_url: str | None = None
    #: The number of the list's last page (``Link: rel="last"``), when GitHub said it.
    last_page: int | None = None


def path_with(path: str, params: dict[str, str | int] | None = None) -> str:
    """The path with its query (sorted), the key a read is logged and checked again under."""
    if not params:
        return path
    return f"{path}?{urlencode(sorted((k, str(v)) for k, v in params.items()))}"


def get(
    conn: Connection,
    url: str,
    *,
    action: str,
    etag: str | None = None,
    missing_ok: bool = False,
    log: bool = True,
) -> Answer:
    """GET ``url`` (a path and query, or a next-page URL); with ``etag``, conditionally (a 304
    has no data). GitHub's errors are ``GitHubError``s naming ``action``; with ``missing_ok`` a
    404 or 410 is an ``Answer`` with no data."""
    kept: Answer | None = conn.memo.pop(url, None)
    answer = kept or _request(conn, url, action=action, etag=etag, missing_ok=missing_ok)
    if log and answer.status == 200:
        conn.fetched.append((url, answer.etag if answer.next_url is None else None))
    return answer


def _request(
    conn: Connection, url: str, *, action: str, etag: str | None, missing_ok: bool
) -> Answer:
    headers = {"If-None-Match": etag} if etag else {}
    with translate_errors(action):
        status, answered, text = conn.api.requester.requestJson("GET", url, headers=headers)
        conn.observe_rate(answered)
        data = _json(text, status)
        if status in (404, 410) and missing_ok:
            return Answer(status, None)
        if status >= 400:
            raise Requester.createException(status, answered, data or {})
    link = str(answered.get("link") or "")
    found = NEXT_LINK.search(link)
    next_url = found.group(1) if found else None
    return Answer(status, data, answered.get("etag"), next_url, _page_number(LAST_LINK, link))


def _page_number(pattern: re.Pattern[str], link: str) -> int | None:
    """The ``page`` parameter of the ``Link`` header's URL that ``pattern`` finds."""
    found = pattern.search(link)
    pages = parse_qs(urlsplit(found.group(1)).query).get("page", []) if found else []
    return int(pages[0]) if pages and pages[0].isdigit() else None


def _json(text: str, status: int) -> Any:
    """The answer's JSON; an error page that is not JSON (a proxy's HTML) becomes its message."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        if status >= 400:
            return {"message": text[:200]}
        raise


def get_list(
    conn: Connection,
    path: str,
    *,
    action: str,
    params: dict[str, str | int] | None = None,
    key: str | None = None,
    limit: int | None = None,
) -> list[Any]:
    """Every item of a list, page after page (``key``: the list inside ``{"total_count": ...}``
    answers), at most ``limit``. Only a list that fits one page keeps its ETag in the log."""
    url: str | None = path_with(path, {"per_page": PER_PAGE, **(params or {})})
    items: list[Any] = []
    first = True
    while url is not None and (limit is None or len(items) < limit):
        answer = get(conn, url, action=action, log=first)
        page = (answer.data or {}).get(key, []) if key else answer.data
        items += page if isinstance(page, list) else []
        first, url = False, answer.next_url
    return items if limit is None else items[:limit]


def timestamp(value: object) -> datetime | None:
    """An API timestamp (``2026-11-21T10:00:00Z``); None when absent or not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def still_current(conn: Connection, etags: dict[str, str]) -> bool:
    """Whether every read in ``etags`` would answer as before: conditional GETs, which cost no
    budget while GitHub answers 304. Stops at the first that changed (its answer is kept for
    the read that follows)."""
    for url, etag in etags.items():
        answer = get(conn, url, action=f"checking {url} for changes", etag=etag, log=False)
        if answer.status != 304:
            conn.memo[url] = answer
            return False
    return True
