"""The repository's run lock: one prompt-trainer run at a time writes to GitHub.

Takes the GitHub client (``acquire_lock``/``release_lock`` on ``refs/prompt-trainer/lock``)
and the store settings' ``lock_stale_minutes``; ``exclusive`` yields None while this run holds
the lock (or needs none: dry and local runs) and otherwise who holds it, for ``busy_message``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

from prompt_trainer.github import GitHubClient
from prompt_trainer.settings import Settings

LOCK_REF = "prompt-trainer/lock"


@contextlib.contextmanager
def exclusive(
    client: GitHubClient | None,
    settings: Settings,
    *,
    dry_run: bool,
    log: Callable[[str], None],
) -> Iterator[str | None]:
    """Hold the repository's run lock (``refs/prompt-trainer/lock``) while writing to GitHub.

    Yields None when this run may go on, or who holds the lock. A lock older than
    ``store.lock_stale_minutes`` belonged to a run that died and is taken over (atomically: of
    two runs taking it over at once, one wins; see ``GitHubClient.acquire_lock``). Dry runs and
    local runs take no lock."""
    if client is None or dry_run:
        yield None
        return
    holder = f"run {settings.env.github_run_id or 'local'} ({uuid.uuid4().hex[:8]})"
    stale = settings.config.store.lock_stale_minutes * 60
    held_by = client.acquire_lock(LOCK_REF, holder=holder, stale_after_s=stale)
    if held_by:
        log(f"another prompt-trainer run holds the lock: {held_by}")
        yield held_by
        return
    try:
        yield None
    finally:
        client.release_lock(LOCK_REF, holder=holder)


def busy_message(held_by: str) -> str:
    """What a run that found the lock taken says (and then stops without writing)."""
    return (
        f"another prompt-trainer run is in progress ({held_by}); this one stops without "
        "writing. The next run collects what it would have (give the workflow a concurrency "
        "group to queue runs instead)"
    )
