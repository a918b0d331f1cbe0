"""GitHub adapter, the run lock: a git ref that at most one run holds at a time.

Takes a ``Connection``, the ref's name (``refs/<name>``), who asks and how old a lock may get;
``acquire`` returns None when the caller now holds it, or who holds it and since when;
``release`` deletes it if the caller still holds it. The ref points at a root commit (on the
default branch's tree, so no blob is written) whose message names the holder and the time.
Creating a ref is atomic on GitHub (a second POST answers 422), so one creator wins; a stale
lock (a run that died) is taken over by compare-and-swap. A 5xx answer to a write is resolved by
reading the ref back.
"""

from __future__ import annotations

from datetime import UTC, datetime

from github import GithubException
from github.GitCommit import GitCommit

from prompt_trainer.github.connection import Connection, translate_errors


def acquire(conn: Connection, name: str, *, holder: str, stale_after_s: int) -> str | None:
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
    repo = conn.repo
    with translate_errors(f"taking the lock {name}"):
        head = repo.get_git_ref(f"heads/{conn.info().default_branch}").object.sha
        tree = repo.get_git_commit(head).tree
        commit = repo.create_git_commit(message, tree, [])
        if _create(conn, name, commit.sha):
            return None
        held = _lock_commit(conn, name)
        if held is None:  # released between our create and the read: try once more
            return None if _create(conn, name, commit.sha) else _holder(conn, name)
        since = _lock_time(held.message)
        if since is not None and (now - since).total_seconds() < stale_after_s:
            return _holder_text(held.message, since)
        takeover = repo.create_git_commit(message, tree, [held])
        if _swap(conn, name, takeover.sha):
            return None  # a stale lock: its run died
        return _holder(conn, name)


def release(conn: Connection, name: str, *, holder: str) -> None:
    """Delete the lock if we still hold it."""
    with translate_errors(f"releasing the lock {name}"):
        try:
            ref = conn.repo.get_git_ref(name)
        except GithubException as exc:
            if exc.status == 404:
                return
            raise
        if f"holder: {holder}\n" in conn.repo.get_git_commit(ref.object.sha).message + "\n":
            ref.delete()


def _create(conn: Connection, name: str, sha: str) -> bool:
    """POST the ref: GitHub refuses (422) when it exists, so one creator wins."""
    try:
        conn.repo.create_git_ref(f"refs/{name}", sha)
        return True
    except GithubException as exc:
        if exc.status < 500:
            if exc.status != 422:
                raise
            return False
    return conn.ref_sha(name) == sha  # after a 5xx: did the write happen? The ref says.


def _swap(conn: Connection, name: str, sha: str) -> bool:
    """Move the ref to ``sha`` (a child of the commit it held) only as a fast-forward."""
    try:
        conn.repo.get_git_ref(name).edit(sha, force=False)
        return True
    except GithubException as exc:
        if exc.status < 500:
            if exc.status not in (404, 422):
                raise
            return False
    return conn.ref_sha(name) == sha


def _lock_commit(conn: Connection, name: str) -> GitCommit | None:
    sha = conn.ref_sha(name)
    return None if sha is None else conn.repo.get_git_commit(sha)


def _holder(conn: Connection, name: str) -> str:
    """Who holds the lock another run just took."""
    held = _lock_commit(conn, name)
    if held is None:
        return "another run (it released the lock meanwhile)"
    return _holder_text(held.message, _lock_time(held.message))


def _holder_text(message: str, since: datetime | None) -> str:
    who = message.split("holder: ", 1)[-1].split("\n", 1)[0]
    return f"{who} since {since:%Y-%m-%d %H:%M} UTC" if since else who


def _lock_time(message: str) -> datetime | None:
    for line in message.splitlines():
        if line.startswith("since: "):
            try:
                return datetime.fromisoformat(line.removeprefix("since: "))
            except ValueError:
                return None
    return None
