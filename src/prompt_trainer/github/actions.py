"""GitHub adapter, Actions: the workflow runs of a commit, their conclusion and their artifacts.

Takes a ``Connection`` and a head sha (and optionally the workflows that count); returns the
CI conclusion, ``ArtifactRef``s, and a downloaded zip (or ``Skipped`` when it expired, is too big
or the download failed). Only runs of this repository count: a run from a fork, whose workflow
files the fork controls, supplies neither a conclusion nor artifacts. PyGithub cannot download
artifacts (their URL answers 302 to a storage host), so ``requests`` does it in two steps: the
API URL with the token, then the redirect *without* it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from prompt_trainer.github.connection import Connection, listed, translate_errors
from prompt_trainer.models import ArtifactRef, Skipped
from prompt_trainer.workdir import CapExceeded, write_capped

DOWNLOAD_CHUNK = 1024 * 1024
REDIRECTS = (301, 302, 303, 307, 308)


def ci_conclusion(conn: Connection, sha: str, *, workflows: tuple[str, ...] = ()) -> str | None:
    """``failure`` if any completed workflow run of ``sha`` failed, ``success`` if all that
    completed succeeded (or were skipped/neutral), None when none completed. Only runs of
    this repository (not a fork's) count, and only of ``workflows`` when given."""
    with translate_errors(f"listing workflow runs of {sha[:12]}"):
        conclusions = [listed(run).get("conclusion") for run in _runs(conn, sha, workflows)]
    done = [c for c in conclusions if c and c != "cancelled"]
    if not done:
        return None
    failed = any(c in ("failure", "timed_out", "startup_failure") for c in done)
    return "failure" if failed else "success"


def artifacts_for_commit(
    conn: Connection, sha: str, *, workflows: tuple[str, ...] = ()
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
        for run in _runs(conn, sha, workflows):
            attempts = listed(run).get("run_attempt")
            refs += [
                _artifact(a, run.id, attempts if isinstance(attempts, int) else 1)
                for a in run.get_artifacts()
            ]
    return refs


def artifacts_of_event_runs(
    conn: Connection,
    *,
    events: tuple[str, ...],
    since: datetime,
    until: datetime,
    match: Callable[[str, str, str], bool],
    workflows: tuple[str, ...] = (),
) -> list[ArtifactRef]:
    """Artifacts of this repository's runs triggered by one of ``events`` and created in
    ``since..until``, that ``match(event, head_branch, display_title)`` accepts.

    Agents started from a comment (claude-code-action on ``issue_comment`` or ``issues``) run on
    the default branch's commit, not the PR's head, so ``artifacts_for_commit`` never finds their
    traces; the run's event, branch and title, within the PR's lifetime, do. Runs from forks and
    of unlisted ``workflows`` are left out as there.
    """
    own = conn.repo.full_name.lower()
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    window = f"{since.astimezone(UTC):{stamp}}..{until.astimezone(UTC):{stamp}}"
    refs: list[ArtifactRef] = []
    with translate_errors("listing the workflow runs started by comments"):
        for event in events:
            for run in conn.repo.get_workflow_runs(event=event, created=window):
                data = listed(run)
                branch = str(data.get("head_branch") or "")
                title = str(data.get("display_title") or "")
                if _head_repository(data) != own or not match(event, branch, title):
                    continue
                if workflows and not _workflow_listed(data, workflows):
                    continue
                attempts = data.get("run_attempt")
                refs += [
                    _artifact(a, run.id, attempts if isinstance(attempts, int) else 1)
                    for a in run.get_artifacts()
                ]
    return refs


def _runs(conn: Connection, sha: str, workflows: tuple[str, ...]) -> list[Any]:
    """The workflow runs of ``sha`` whose head repository is this one (not a fork) and,
    when ``workflows`` is not empty, whose workflow name or file is listed there."""
    own = conn.repo.full_name.lower()
    return [
        run
        for run in conn.repo.get_workflow_runs(head_sha=sha)
        if _head_repository(listed(run)) == own
        and (not workflows or _workflow_listed(listed(run), workflows))
    ]


def _head_repository(run: dict[str, Any]) -> str:
    """``owner/name`` of the repository a workflow run's head commit came from, lower-case."""
    head = run.get("head_repository")
    return str(head.get("full_name") or "").lower() if isinstance(head, dict) else ""


def _workflow_listed(run: dict[str, Any], workflows: tuple[str, ...]) -> bool:
    """Whether the run's workflow name, file path or file name is one of ``workflows``."""
    path = str(run.get("path") or "").split("@", 1)[0]
    names = {str(run.get("name") or ""), path, path.rsplit("/", 1)[-1]} - {""}
    return any(w in names for w in workflows)


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
    """GET the API URL with the token, then follow its redirect *without* the token."""
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "prompt-trainer"}
    if conn.token:
        headers["Authorization"] = f"Bearer {conn.token}"
    first = requests.get(
        url, headers=headers, allow_redirects=False, timeout=conn.timeout_s, stream=True
    )
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
