"""The working directory: every path under ``.prompt-trainer/`` in a checkout, and atomic writes.

Not a stage but the floor they stand on: each stage that keeps something between runs asks this
module where it goes, given the repository root (``settings.root``), and gets a ``Path`` back.
The layout is a contract (``action.yml`` caches ``cache/``, ``index.sqlite``, ``versions.json``
and ``runs/``; the data branch holds ``samples.jsonl`` at the same relative path; ``init`` adds
the directory to ``.gitignore``):

- ``samples.jsonl``: the ledger of samples (``store``; opened with ``store.open_ledger``);
- ``backfill.json``: the backfill's cursor and the ETags of what each PR was read from (``store``);
- ``index.sqlite`` and ``versions.json``: the measure stage's index and version-hash cache;
- ``cache/``: DSPy's disk cache (``train``);
- ``runs/<timestamp>/``: one directory per run (``runs``); ``runs/evaluate-search/<target>/``:
  the Action's evaluate job's GEPA search state (``loop.replay_search``; cached with ``runs/``,
  so a re-run of that job resumes its search);
- ``candidates/<target>/candidate-NNN/``: every candidate written (``propose``);
- ``replay/<timestamp>-<target>/``: what each replay kept (``replay``: the agent's output, the
  tests' output and report, the traces, ``result.json``).

``atomic_write`` replaces a file through a temporary sibling and a rename, so a run killed
mid-write leaves the previous file intact. ``write_capped`` streams bytes from outside (an
archive member, a download) to a file and leaves nothing behind past a byte cap or on any error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

DIRNAME = ".prompt-trainer"
LEDGER = PurePosixPath(DIRNAME, "samples.jsonl")  # relative: the same path on the data branch
#: The backfill's cursor and what each PR was read from (``store.BackfillState``), beside the
#: ledger; the same path on the data branch.
BACKFILL = PurePosixPath(DIRNAME, "backfill.json")


def base_dir(root: Path) -> Path:
    return root / DIRNAME


def ledger_path(root: Path) -> Path:
    return root / LEDGER


def index_path(root: Path) -> Path:
    return base_dir(root) / "index.sqlite"


def versions_path(root: Path) -> Path:
    return base_dir(root) / "versions.json"


def cache_dir(root: Path) -> Path:
    return base_dir(root) / "cache"


def runs_dir(root: Path) -> Path:
    return base_dir(root) / "runs"


def evaluate_search_dir(root: Path, target: str) -> Path:
    """Where the evaluate job keeps a target's replay-scored GEPA search (not a run's
    directory: ``runs`` neither lists nor prunes it)."""
    return runs_dir(root) / "evaluate-search" / target


def candidates_dir(root: Path, target: str) -> Path:
    return base_dir(root) / "candidates" / target


def replay_dir(root: Path) -> Path:
    return base_dir(root) / "replay"


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) through ``<name>.tmp`` and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class CapExceeded(Exception):
    """``write_capped`` was given more bytes than its cap (the file is gone)."""


def write_capped(path: Path, chunks: Iterable[bytes], *, max_bytes: int) -> int:
    """Write ``chunks`` to ``path`` and return the bytes written; past ``max_bytes`` raise
    ``CapExceeded``. On that or any other error (a corrupt source, a dropped connection)
    ``path`` is deleted and the error goes on to the caller."""
    written = 0
    try:
        with path.open("wb") as sink:
            for chunk in chunks:
                written += len(chunk)
                if written > max_bytes:
                    raise CapExceeded
                sink.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return written
