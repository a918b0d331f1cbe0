"""Metrics per prompt version, and the comparison of two versions.

Each metric is a rate (a share of PRs, or of tool calls: Wilson interval, two-proportion test) or
a mean (bootstrap interval, Mann-Whitney test), computed over the samples that have the fact it
needs; with none it is missing, never zero. Flaky failures do not fail ``tests.pass_rate``: they
are counted on their own in ``tests.flaky_rate``. Below ``min_samples`` on either side a
comparison says "not enough data" rather than a delta.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prompt_trainer.measure import stats
from prompt_trainer.measure.facts import Facts

RATE, MEAN, POOLED = "rate", "mean", "pooled"


@dataclass(frozen=True)
class Metric:
    """A metric: its name, how it aggregates, the ``Facts`` field it reads, and what it means.

    Metrics read columns (one field of every sample) rather than calling a function per sample:
    a report over 100,000 samples transposes the facts once and every metric is a pass over a
    tuple.
    """

    name: str
    kind: str
    column: str
    help: str
    higher_is_better: bool = True
    #: For ``pooled`` rates: the column of trials (``column`` holds the successes).
    trials: str | None = None
    #: Turns a present value into the observation (e.g. a count into "had any").
    transform: Callable[[Any], float | bool] | None = None


METRICS: tuple[Metric, ...] = (
    Metric("tests.pass_rate", RATE, "tests_passed", "agent PRs whose final CI passed"),
    Metric(
        "tests.first_push_pass_rate",
        RATE,
        "first_push_passed",
        "agent PRs whose first pushed commit passed CI",
    ),
    Metric(
        "tests.flaky_rate",
        RATE,
        "flaky_tests",
        "agent PRs with a flaky test (failed, then passed)",
        higher_is_better=False,
        transform=lambda count: count > 0,
    ),
    Metric(
        "review.comments_per_pr",
        MEAN,
        "comments",
        "trusted human review comments per PR",
        higher_is_better=False,
    ),
    Metric(
        "review.changes_requested_rate",
        RATE,
        "changes_requested",
        "PRs where a trusted reviewer requested changes",
        higher_is_better=False,
    ),
    Metric("pr.merge_rate", RATE, "merged", "closed agent PRs that were merged"),
    Metric(
        "pr.human_rework_rate",
        RATE,
        "rework",
        "PRs where humans pushed commits after the agent",
        higher_is_better=False,
    ),
    Metric("agent.turns", MEAN, "turns", "agent turns per PR", higher_is_better=False),
    Metric(
        "agent.tool_error_rate",
        POOLED,
        "tool_errors",
        "tool calls that failed",
        higher_is_better=False,
        trials="tool_calls",
    ),
    Metric("agent.tokens", MEAN, "tokens", "tokens per PR", higher_is_better=False),
    Metric("agent.cost_usd", MEAN, "cost_usd", "USD per PR", higher_is_better=False),
    Metric("agent.duration_s", MEAN, "duration_s", "agent seconds per PR", higher_is_better=False),
)
BY_NAME = {m.name: m for m in METRICS}

Columns = dict[str, tuple[Any, ...]]


def columns(facts: Sequence[Facts]) -> Columns:
    """The facts transposed: one tuple per field."""
    if not facts:
        return {name: () for name in Facts._fields}
    return dict(zip(Facts._fields, zip(*facts, strict=True), strict=True))


@dataclass(frozen=True)
class Comparison:
    """One metric compared between two versions."""

    delta: float | None
    low: float | None
    high: float | None
    p_value: float | None
    enough_data: bool
    n_from: int
    n_to: int


def _pairs(metric: Metric, cols: Columns) -> list[tuple[int, int]]:
    """(successes, trials) of each sample that has trials, for a pooled rate."""
    assert metric.trials is not None
    return [(s or 0, n) for s, n in zip(cols[metric.column], cols[metric.trials], strict=True) if n]


def _values(metric: Metric, cols: Columns) -> list[Any]:
    present = [v for v in cols[metric.column] if v is not None]
    return [metric.transform(v) for v in present] if metric.transform else present


def _counts(metric: Metric, cols: Columns) -> tuple[int, int]:
    if metric.trials is not None:
        pairs = _pairs(metric, cols)
        return sum(s for s, _ in pairs), sum(n for _, n in pairs)
    values = _values(metric, cols)
    return sum(1 for v in values if v), len(values)


def _n(metric: Metric, cols: Columns) -> int:
    """Samples that have the metric."""
    if metric.trials is not None:
        return len(_pairs(metric, cols))
    return sum(1 for v in cols[metric.column] if v is not None)


def _estimate(metric: Metric, cols: Columns) -> stats.Estimate:
    if metric.kind == MEAN:
        return stats.mean_estimate([float(v) for v in _values(metric, cols)])
    return stats.wilson(*_counts(metric, cols))


def measure(metric: Metric, facts: Sequence[Facts]) -> stats.Estimate:
    """The metric over ``facts`` with its n and 95% interval."""
    return _estimate(metric, columns(facts))


def measure_all(facts: Sequence[Facts]) -> dict[str, stats.Estimate]:
    cols = columns(facts)
    return {m.name: _estimate(m, cols) for m in METRICS}


def compare(
    metric: Metric, before: Sequence[Facts], after: Sequence[Facts], *, min_samples: int
) -> Comparison:
    """``after - before`` for one metric. ``min_samples`` counts samples (PRs) on each side."""
    return compare_columns(metric, columns(before), columns(after), min_samples=min_samples)


def compare_columns(
    metric: Metric, before: Columns, after: Columns, *, min_samples: int
) -> Comparison:
    n_from, n_to = _n(metric, before), _n(metric, after)
    if n_from < min_samples or n_to < min_samples:
        return Comparison(None, None, None, None, False, n_from, n_to)
    if metric.kind == MEAN:
        a = [float(v) for v in _values(metric, before)]
        b = [float(v) for v in _values(metric, after)]
        diff = stats.mean_difference(a, b)
    else:
        diff = stats.rate_difference(*_counts(metric, before), *_counts(metric, after))
    return Comparison(diff.delta, diff.low, diff.high, diff.p_value, True, n_from, n_to)
