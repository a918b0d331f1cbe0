"""The held-out split: which stored samples train and which judge, by time.

No DSPy here, so the replay (``prompt_trainer.replay``) picks the same held-out samples as the
trainer (``train.pairwise``) without paying for its import. The newest ``holdout`` fraction (at
least one; at least ``MIN_JUDGED`` when there are ``MIN_FOR_FIVE`` samples or more) is held out.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from prompt_trainer.models import Sample

#: With at least this many samples, at least ``MIN_JUDGED`` are held out.
MIN_FOR_FIVE = 8
MIN_JUDGED = 5


def when(sample: Sample) -> datetime:
    """When the sample's PR closed (else opened, else was collected), timezone-aware."""
    moment = sample.pull.closed_at or sample.pull.created_at or sample.collected_at
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def held_count(samples: int, fraction: float, *, max_held: int | None = None) -> int:
    """How many of ``samples`` are held out: the newest ``fraction`` (at least one, at least
    ``MIN_JUDGED`` from ``MIN_FOR_FIVE`` samples on, at most ``max_held``, never all); none when
    ``fraction`` is 0 or there are fewer than two samples."""
    if fraction <= 0 or samples < 2:
        return 0
    held = max(1, math.ceil(samples * fraction))
    if samples >= MIN_FOR_FIVE:
        held = max(held, MIN_JUDGED)
    if max_held is not None:
        held = min(held, max(max_held, 1))
    return min(samples - 1, held)


def split_by_time(
    samples: list[Sample],
    fraction: float,
    *,
    max_held: int | None = None,
    judged: frozenset[str] = frozenset(),
) -> tuple[list[Sample], list[Sample]]:
    """(training, held out): the newest ``held_count`` samples are held out.

    ``judged`` are the samples an earlier proposal, since closed or merged, was judged on:
    they train this run and the held-out part is taken from the others (fewer, if there are
    not that many); only when every sample was judged before is the newest part held out
    again, as a judge needs samples."""
    held = held_count(len(samples), fraction, max_held=max_held)
    if not held:
        return list(samples), []
    ordered = sorted(samples, key=lambda s: (when(s), s.id))
    fresh = [s for s in ordered if s.id not in judged]
    if not fresh or len(fresh) == len(ordered):
        return ordered[:-held], ordered[-held:]
    kept = fresh[-min(held, len(fresh)) :]
    ids = {s.id for s in kept}
    return [s for s in ordered if s.id not in ids], kept
