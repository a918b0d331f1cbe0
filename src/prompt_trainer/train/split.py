"""The held-out split: which stored samples train and which judge, by time.

No DSPy here, so the replay (``prompt_trainer.replay``) picks the same held-out samples as the
trainer (``train.heldout``) without paying for its import. The newest ``holdout`` fraction (at
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


def split_by_time(
    samples: list[Sample], fraction: float, *, max_held: int | None = None
) -> tuple[list[Sample], list[Sample]]:
    """(training, held out): the newest ``fraction`` (at least one, at least ``MIN_JUDGED``
    from ``MIN_FOR_FIVE`` samples on, at most ``max_held``) is held out; nothing is held out
    when ``fraction`` is 0 or there are fewer than two samples."""
    if fraction <= 0 or len(samples) < 2:
        return list(samples), []
    ordered = sorted(samples, key=lambda s: (when(s), s.id))
    held = max(1, math.ceil(len(ordered) * fraction))
    if len(ordered) >= MIN_FOR_FIVE:
        held = max(held, MIN_JUDGED)
    if max_held is not None:
        held = min(held, max(max_held, 1))
    held = min(len(ordered) - 1, held)
    return ordered[:-held], ordered[-held:]
