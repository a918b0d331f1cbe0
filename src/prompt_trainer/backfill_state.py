"""The backfill's state: what a backfill keeps between runs, beside the ledger.

``backfill.json`` (``BackfillState``) holds the ``Cursor`` of a backfill that stopped at the rate
budget (its date, when it started, the PRs done; the next run goes on from there) and, per PR,
what its stored sample was read from (``PullState``: the ETag of each read, the runs, a hash of
the PR listing), so a later backfill asks GitHub with ``If-None-Match`` whether anything changed
(a 304 costs no budget) instead of reading the PR again. Made by ``collect.backfill``; kept by
``store`` beside the ledger and on the data branch at the same path (``workdir.BACKFILL``),
written in the same commit as the samples it speaks of; read by the dashboard (its progress).
"""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import Field, ValidationError

from prompt_trainer.models import Record


class Cursor(Record):
    """A backfill that stopped before its end: the next run lists the PRs closed since
    ``since`` again and collects those not in ``done``."""

    since: datetime
    started_at: datetime
    #: PRs of this backfill already collected, found unchanged, or skipped with a reason.
    done: tuple[int, ...] = ()
    #: The agent PRs of this backfill when last counted.
    total: int = 0
    #: Why the last run stopped (the budget it found left).
    reason: str = ""

    @property
    def progress(self) -> str:
        """``collected 120 of 480 PRs; continuing at the next run``."""
        return f"collected {len(self.done)} of {self.total} PRs; continuing at the next run"


class PullState(Record):
    """What one PR's stored sample was read from: each read with its ETag, the runs (as
    ``id:attempt:conclusion``) and a hash of what the PR listing said of it."""

    etags: dict[str, str]
    runs: tuple[str, ...]
    listing: str


class BackfillState(Record):
    """``backfill.json``: the unfinished backfill (None when the last one finished, at
    ``finished_at``) and the reads each collected PR came from (by PR number)."""

    cursor: Cursor | None = None
    finished_at: datetime | None = None
    pulls: dict[str, PullState] = Field(default_factory=dict)

    def text(self) -> str:
        """Stable JSON (sorted keys), so an unchanged state is an unchanged file."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1) + "\n"

    @classmethod
    def parse(cls, text: str | None) -> BackfillState:
        """The state in ``text``; an empty one when there is none or it does not validate (a
        newer release's): the next backfill then reads every PR again, losing nothing."""
        try:
            return cls.model_validate_json(text) if text else cls()
        except ValidationError:
            return cls()

    def merged(self, other: BackfillState) -> BackfillState:
        """This state with ``other``'s (another runner's): every PR's reads (this one's win),
        and the newer backfill's cursor, unless the other side finished it since."""
        cursors = [c for c in (self.cursor, other.cursor) if c is not None]
        finished = max((f for f in (self.finished_at, other.finished_at) if f), default=None)
        cursor = max(cursors, key=lambda c: (c.started_at, len(c.done)), default=None)
        if cursor is not None and finished is not None and finished >= cursor.started_at:
            cursor = None
        pulls = {**other.pulls, **self.pulls}
        return BackfillState(cursor=cursor, finished_at=finished, pulls=pulls)
