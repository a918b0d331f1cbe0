"""GitHub adapter, Actions: the workflow runs of a commit, their conclusion and their artifacts.

Takes a ``Connection`` and a head sha (and optionally the workflows that count), or a time span;
returns ``WorkflowRun`` records (a backfill lists every run of its span once, ``run_window``, and
finds each PR's runs in that ``RunWindow`` instead of asking per commit and event), the CI
conclusion, ``ArtifactRef``s, and a downloaded zip (or ``Skipped`` when it expired, is too big or
the download failed; a rate limit on the download raises like any call's). Only runs of this
repository count: a run from a fork, whose workflow files the fork controls, supplies neither a
conclusion nor artifacts. PyGithub cannot download artifacts (their URL answers 302 to a storage
host), so ``requests`` does it in two steps: the API URL with the token, then the redirect *without*
it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from prompt_trainer.errors import GitHubError
from prompt_trainer.github import fetch
from prompt_trainer.github.connection import PER_PAGE, Connection
from prompt_trainer.github.fetch import timestamp
from prompt_trainer.github.records import RunWindow, WorkflowRun
from prompt_trainer.models import ArtifactRef, Skipped
from prompt_trainer.workdir import CapExceeded, write_capped

DOWNLOAD_CHUNK = 1024 * 1024
#: GitHub lists at most this many runs for a filtered query (``created``, ``event``, ...).
MAX_LISTED = 1000
#: A window is not split below this (a second of runs over 1,000 is listed as far as it goes).
SPLIT_MIN = timedelta(minutes=1)
REDIRECTS = (301, 302, 303, 307, 308)
#: The longest ``Retry-After`` a download waits for once; beyond it the rate limit raises.
MAX_DOWNLOAD_WAIT_S = 60


def run_window(
    conn: Connection, since: datetime, until: datetime, *, afford: fetch.Afford | None = None
) -> RunWindow:
    """Every workflow run of the repository created in ``since..until``, listed once for a
    backfill (100 per request) instead of once per PR and event. GitHub lists at most 1,000
    runs for a filtered query, so a window holding more is split in halves until each fits.
    ``afford`` is asked before each page with the pages still expected: after the first page,
    from the ``total_count`` it gives (``listing_cost``)."""
    pages = _Pages(afford)
    return RunWindow(since=since, until=until, runs=tuple(_created_in(conn, since, until, pages)))


@dataclass
class _Pages:
    """The pages a run window's listing expects still to read, and the check before each."""

    afford: fetch.Afford | None
    left: int = 1

    def next(self) -> None:
        if self.afford is not None:
            self.afford(max(1, self.left))
        self.left -= 1


def listing_cost(total: int) -> int:
    """The requests listing ``total`` runs takes: 100 a page, and when they are over
    ``MAX_LISTED``, a first page for each part the window is split into (about twice as many
    parts as thousands, as the runs do not fall evenly into halves)."""
    pages = max(1, -(-total // PER_PAGE))
    if total <= MAX_LISTED:
        return pages
    parts = 2 * -(-total // MAX_LISTED)
    return pages + 2 * parts - 1


def _created_in(
    conn: Connection, since: datetime, until: datetime, pages: _Pages
) -> list[WorkflowRun]:
    params: dict[str, str | int] = {"created": _window(since, until), "per_page": PER_PAGE}
    url: str | None = fetch.path_with(_runs_path(conn), params)
    found: list[WorkflowRun] = []
    first = True
    while url is not None:
        pages.next()
        answer = fetch.get(conn, url, action="listing the workflow runs", log=False)
        data = answer.data if isinstance(answer.data, dict) else {}
        total = data.get("total_count")
        if first and isinstance(total, int):  # this part's cost, once its size is known
            pages.left = max(pages.left, listing_cost(total) - 1)
        if first and isinstance(total, int) and total > MAX_LISTED and until - since > SPLIT_MIN:
            middle = since + (until - since) / 2
            return _created_in(conn, since, middle, pages) + _created_in(
                conn, middle + timedelta(seconds=1), until, pages
            )
        found += [_run(r) for r in data.get("workflow_runs") or [] if isinstance(r, dict)]
        first, url = False, answer.next_url
    return found


def commit_runs(
    conn: Connection,
    sha: str,
    *,
    workflows: tuple[str, ...] = (),
    window: RunWindow | None = None,
) -> list[WorkflowRun]:
    """The runs of ``sha`` from this repository (a fork's run, whose workflow files the fork
    controls, is left out), only of ``workflows`` (names or file paths) when given; from the
    backfill's ``window`` when there is one (the caller knows it covers the commit's runs)."""
    if window is not None:
        runs = [r for r in window.runs if r.head_sha == sha]
    else:
        params: dict[str, str | int] = {"head_sha": sha}
        runs = [
            _run(r)
            for r in fetch.get_list(
                conn, _runs_path(conn), action=f"listing workflow runs of {sha[:12]}",
                params=params, key="workflow_runs",
            )
            if isinstance(r, dict)
        ]  # fmt: skip
    return [r for r in runs if _ours(conn, r, workflows)]


def event_runs(
    conn: Connection,
    *,
    events: tuple[str, ...],
    since: datetime,
    until: datetime,
    match: Callable[[str, str, str], bool],
    workflows: tuple[str, ...] = (),
    window: RunWindow | None = None,
) -> list[WorkflowRun]:
    """This repository's runs triggered by one of ``events``, created in ``since..until``,
    that ``match(event, head_branch, display_title)`` accepts.

    Agents started from a comment (claude-code-action on ``issue_comment`` or ``issues``) run on
    the default branch's commit, not the PR's head, so ``commit_runs`` never finds their
    traces; the run's event, branch and title, within the PR's lifetime, do. Runs from forks and
    of unlisted ``workflows`` are left out as there. Read from ``window`` when it covers
    ``since..until``, else one query per event.
    """
    if window is not None and window.covers(since, until):
        runs = [r for r in window.runs if r.event in events and _within(r, since, until)]
    else:
        runs = []
        for event in events:
            params: dict[str, str | int] = {"event": event, "created": _window(since, until)}
            runs += [
                _run(r)
                for r in fetch.get_list(
                    conn, _runs_path(conn), action="listing the workflow runs started by comments",
                    params=params, key="workflow_runs",
                )
                if isinstance(r, dict)
            ]  # fmt: skip
    return [r for r in runs if _ours(conn, r, workflows) and match(r.event, r.head_branch, r.title)]


def artifacts_of(conn: Connection, runs: list[WorkflowRun]) -> list[ArtifactRef]:
    """The artifacts of each run (each once; one request per run).

    The API lists one entry per run, at its latest attempt, and an artifact belongs to the
    run rather than to an attempt, so the artifacts uploaded by earlier attempts (re-runs)
    are in the same list. ``run_attempts`` records how many attempts the run had.
    """
    refs: dict[int, ArtifactRef] = {}
    for run in {r.id: r for r in runs}.values():
        listed_ = fetch.get_list(
            conn,
            f"{_runs_path(conn)}/{run.id}/artifacts",
            action=f"listing the artifacts of run {run.id}",
            key="artifacts",
        )
        for item in listed_:
            if isinstance(item, dict):
                ref = _artifact(item, run.id, run.attempt)
                refs.setdefault(ref.id, ref)
    return list(refs.values())


def ci_conclusion(runs: list[WorkflowRun]) -> str | None:
    """``failure`` if any completed run failed, ``success`` if all that completed succeeded (or
    were skipped/neutral), None when none completed."""
    done = [r.conclusion for r in runs if r.conclusion and r.conclusion != "cancelled"]
    if not done:
        return None
    failed = any(c in ("failure", "timed_out", "startup_failure") for c in done)
    return "failure" if failed else "success"


def artifacts_for_commit(
    conn: Connection, sha: str, *, workflows: tuple[str, ...] = ()
) -> list[ArtifactRef]:
    """Artifacts of every run of this repository whose head is ``sha`` (``commit_runs``)."""
    return artifacts_of(conn, commit_runs(conn, sha, workflows=workflows))


def _runs_path(conn: Connection) -> str:
    return f"/repos/{conn.repo.full_name}/actions/runs"


def _window(since: datetime, until: datetime) -> str:
    """The ``created`` filter: ``A..B`` in UTC, to the second."""
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return f"{since.astimezone(UTC):{stamp}}..{until.astimezone(UTC):{stamp}}"


def _within(run: WorkflowRun, since: datetime, until: datetime) -> bool:
    return run.created_at is not None and since <= run.created_at <= until


def _ours(conn: Connection, run: WorkflowRun, workflows: tuple[str, ...]) -> bool:
    """A run of this repository (not a fork's) and, when ``workflows`` is not empty, of a
    listed workflow (its name, file path or file name)."""
    if run.head_repository != conn.repo.full_name.lower():
        return False
    path = run.path.split("@", 1)[0]
    names = {run.name, path, path.rsplit("/", 1)[-1]} - {""}
    return not workflows or any(w in names for w in workflows)


def _run(data: dict[str, Any]) -> WorkflowRun:
    """A run of ``GET /actions/runs`` (its latest attempt)."""
    head = data.get("head_repository")
    attempt = data.get("run_attempt")
    return WorkflowRun(
        id=int(data["id"]),
        attempt=attempt if isinstance(attempt, int) else 1,
        conclusion=data.get("conclusion"),
        head_sha=str(data.get("head_sha") or ""),
        head_branch=str(data.get("head_branch") or ""),
        event=str(data.get("event") or ""),
        title=str(data.get("display_title") or ""),
        created_at=timestamp(data.get("created_at")),
        head_repository=str(head.get("full_name") or "").lower() if isinstance(head, dict) else "",
        name=str(data.get("name") or ""),
        path=str(data.get("path") or ""),
    )


def _artifact(data: dict[str, Any], run_id: int, attempts: int) -> ArtifactRef:
    return ArtifactRef(
        id=int(data["id"]),
        name=str(data.get("name") or ""),
        run_id=run_id,
        run_attempts=attempts,
        size_bytes=int(data.get("size_in_bytes") or 0),
        expired=bool(data.get("expired")),
        download_url=str(data.get("archive_download_url") or ""),
    )


def download_artifact(
    conn: Connection, ref: ArtifactRef, dest: Path, *, max_bytes: int
) -> Path | Skipped:
    """Save the artifact zip to ``dest``; expired, missing or oversized ones are Skipped."""
    source = f"artifact {ref.name} (run {ref.run_id})"
    if ref.expired:
        return Skipped(source=source, reason="artifact expired (past its retention period)")
    if ref.size_bytes > max_bytes:
        return Skipped(source=source, reason=f"artifact is {ref.size_bytes} bytes, over the cap")
    try:
        response = _open_download(conn, ref.download_url)
    except requests.exceptions.RequestException as exc:
        return Skipped(source=source, reason=f"download failed: {exc}")
    if response.status_code in (404, 410):
        gone = "expired" if response.status_code == 410 else "not found (deleted?)"
        return Skipped(source=source, reason=f"artifact {gone}: HTTP {response.status_code}")
    if response.status_code != 200:
        return Skipped(source=source, reason=f"download failed: HTTP {response.status_code}")
    return _save_capped(response, dest, max_bytes=max_bytes, source=source)


def _open_download(conn: Connection, url: str) -> requests.Response:
    """GET the API URL with the token, then follow its redirect *without* the token. The first
    step counts against the rate limit: its ``X-RateLimit-*`` headers are noted, and a rate
    limit (after one wait of its ``Retry-After``, if short) raises like any other call's."""
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "prompt-trainer"}
    if conn.token:
        headers["Authorization"] = f"Bearer {conn.token}"
    for attempt in range(2):
        first = requests.get(
            url, headers=headers, allow_redirects=False, timeout=conn.timeout_s, stream=True
        )
        conn.observe_rate(first.headers)
        wait = _rate_limited(first)
        if wait is None:
            break
        first.close()
        if attempt or wait > MAX_DOWNLOAD_WAIT_S:
            raise GitHubError(
                f"GitHub refused the artifact download at its rate limit ({first.status_code})",
                fix="the backfill continues at the next run, when the budget is back",
                status=first.status_code,
            )
        time.sleep(wait)
    if first.status_code not in REDIRECTS:
        return first
    location = first.headers.get("Location", "")
    first.close()
    return requests.get(
        location,
        headers={"User-Agent": "prompt-trainer"},
        allow_redirects=True,
        timeout=conn.timeout_s,
        stream=True,
    )


def _rate_limited(response: requests.Response) -> float | None:
    """Seconds GitHub asks to wait when ``response`` is a rate-limit refusal (403 or 429 with
    ``Retry-After``, or no budget left), else None."""
    if response.status_code not in (403, 429):
        return None
    retry_after = response.headers.get("Retry-After")
    if retry_after is not None and retry_after.isdigit():
        return float(retry_after)
    if response.headers.get("X-RateLimit-Remaining") == "0":
        reset = response.headers.get("X-RateLimit-Reset") or ""
        return max(0.0, float(reset) - time.time()) if reset.isdigit() else float("inf")
    return None


def _save_capped(
    response: requests.Response, dest: Path, *, max_bytes: int, source: str
) -> Path | Skipped:
    """Stream the body to ``dest``, giving up (and deleting it) past ``max_bytes``."""
    try:
        write_capped(dest, response.iter_content(DOWNLOAD_CHUNK), max_bytes=max_bytes)
    except CapExceeded:
        return Skipped(source=source, reason=f"download exceeded the {max_bytes}-byte cap")
    except requests.exceptions.RequestException as exc:
        return Skipped(source=source, reason=f"download interrupted: {exc}")
    finally:
        response.close()
    return dest
