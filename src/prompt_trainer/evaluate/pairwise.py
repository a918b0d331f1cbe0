"""Evaluate stage: the pairwise judge's scores and verdict (``training.judge: pairwise``).

No DSPy here (``train.pairwise`` makes the calls). ``read_score`` reads a score from 0 to 1 as
models write it (``0.8``, ``8/10``, ``80``, ``80%``, ``"0.8"``). ``summarize`` turns the pairs
into a ``HeldOutResult``: wins, losses, ties, an exact two-sided sign test over the decided pairs
(``measure.stats``) and a verdict: below ``MIN_DECIDED`` decided pairs it is "too few to judge",
never an interval; the bootstrap interval of the mean score difference is given only above
``BOOTSTRAP_MIN_N`` samples.
"""

from __future__ import annotations

import math
import re
from typing import Any

from prompt_trainer.measure import stats
from prompt_trainer.measure.stats import sign_test, sign_verdict
from prompt_trainer.models import HeldOutResult, HeldOutScore

#: Below this many decided pairs (wins + losses) the verdict is "too few to judge".
MIN_DECIDED = 8
#: No bootstrap interval at this many samples or fewer.
BOOTSTRAP_MIN_N = 5
#: A difference is significant below this sign-test p-value.
ALPHA = 0.05

NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def read_score(value: Any) -> float | None:
    """A score from 0 to 1 as models write it: ``0.8``, ``"0.8"``, ``8/10``, ``80``, ``80%``,
    ``8``, ``4 out of 5``; None when there is no number or it is out of range."""
    text = str(value).strip().strip("\"'*` ")
    fraction = re.match(r"^([-+]?\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+(?:\.\d+)?)", text)
    if fraction:
        top, bottom = float(fraction.group(1)), float(fraction.group(2))
        number = top / bottom if bottom else math.nan
    else:
        found = NUMBER.match(text)
        if not found:
            return None
        number = float(found.group(0))
        if text[found.end() :].lstrip().startswith("%") or 10 < number <= 100:
            number /= 100
        elif 1 < number <= 10:  # a score out of ten
            number /= 10
    return number if math.isfinite(number) and 0 <= number <= 1 else None


def verdict(wins: int, losses: int, p_value: float | None) -> str:
    """What the pairs say: "too few to judge" below ``MIN_DECIDED`` decided pairs."""
    return sign_verdict(
        wins, losses, p_value, min_decided=MIN_DECIDED, alpha=ALPHA, tie="no clear difference"
    )


def summarize(scores: list[HeldOutScore]) -> HeldOutResult:
    """Means, wins/losses/ties of the pairwise verdicts, the sign test and the verdict; the
    bootstrap interval of the mean difference only above ``BOOTSTRAP_MIN_N`` samples."""
    differences = [s.candidate - s.current for s in scores]
    prefs = [s.preference or _sign_name(s.candidate - s.current) for s in scores]
    wins, losses = prefs.count("candidate"), prefs.count("current")
    p_value = sign_test(wins, losses)
    interval = stats.mean_estimate(differences) if len(scores) > BOOTSTRAP_MIN_N else None
    return HeldOutResult(
        sample_ids=tuple(s.sample for s in scores),
        scores=tuple(scores),
        current_mean=_mean([s.current for s in scores]),
        candidate_mean=_mean([s.candidate for s in scores]),
        delta=_mean(differences),
        low=interval.low if interval else None,
        high=interval.high if interval else None,
        wins=wins,
        losses=losses,
        ties=prefs.count("tie"),
        p_value=p_value,
        verdict=verdict(wins, losses, p_value),
    )


def _mean(values: list[float]) -> float | None:
    return stats.mean(values) if values else None


def _sign_name(difference: float) -> str:
    return "candidate" if difference > 0 else "current" if difference < 0 else "tie"
