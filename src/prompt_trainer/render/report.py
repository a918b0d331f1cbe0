"""Render ``prompt-trainer report`` as Markdown: tables and a mermaid ``xychart-beta`` chart.

Numbers are formatted here (rates as percentages, deltas of rates in percentage points, means
with three significant digits); the template ``report.md.j2`` only lays them out. Pattern keys
and examples are outside text and go through the ``inline`` filter, escaped for GitHub only
where the report goes to GitHub.
"""

from __future__ import annotations

from dataclasses import dataclass

from prompt_trainer.measure.metrics import BY_NAME, MEAN, METRICS, POOLED, Comparison
from prompt_trainer.measure.outcomes import ClusterRow
from prompt_trainer.measure.report import TargetReport
from prompt_trainer.measure.stats import Estimate
from prompt_trainer.render.filters import environment

#: Rates drawn in the chart, with their legend names.
CHART = (
    ("tests.pass_rate", "CI pass rate"),
    ("tests.first_push_pass_rate", "first-push pass rate"),
    ("pr.merge_rate", "merge rate"),
    ("review.changes_requested_rate", "changes-requested rate"),
    ("pr.human_rework_rate", "human rework rate"),
)


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


#: A comparison is called better or worse only below this p-value.
SIGNIFICANCE = 0.05


def estimate(name: str, e: Estimate) -> str:
    """``62.5% (41-80%, n=16)``, ``1.25 (0.8-1.9, n=16)`` or ``missing``; ``n`` is samples,
    except for a rate pooled over calls (``n=412 tool calls``)."""
    if e.value is None:
        return "missing"
    if BY_NAME[name].kind == MEAN:
        low, high = _number(e.low or 0), _number(e.high or 0)
        return f"{_number(e.value)} ({low}–{high}, n={e.n})"
    unit = " tool calls" if BY_NAME[name].kind == POOLED else ""
    return f"{e.value:.0%} ({(e.low or 0):.0%}–{(e.high or 0):.0%}, n={e.n}{unit})"


def delta(name: str, c: Comparison, min_samples: int) -> str:
    if not c.enough_data or c.delta is None:
        return f"not enough data (n={c.n_from}/{c.n_to}, need {min_samples})"
    if BY_NAME[name].kind == MEAN:
        text = f"{c.delta:+.3g} ({c.low:+.3g} to {c.high:+.3g})"
    else:
        text = f"{c.delta * 100:+.1f} pp ({(c.low or 0) * 100:+.1f} to {(c.high or 0) * 100:+.1f})"
    return f"{text}, p={c.p_value:.2g}"


def direction(name: str, c: Comparison) -> str:
    """better / worse when the interval excludes zero and p < 0.05, else ·."""
    if not c.enough_data or c.low is None or c.high is None or (c.low <= 0 <= c.high):
        return "·"
    if c.p_value is None or c.p_value >= SIGNIFICANCE:
        return "·"
    improved = (c.low > 0) == BY_NAME[name].higher_is_better
    return "better" if improved else "worse"


@dataclass(frozen=True)
class Chart:
    labels: tuple[str, ...]
    lines: tuple[tuple[str, tuple[int, ...]], ...]


def chart(report: TargetReport) -> Chart | None:
    """Key rates (percent) across the versions that have samples; a rate is drawn only when
    every such version has a value for it (the chart has no way to show a gap)."""
    measured = report.measured
    if not measured:
        return None
    lines = []
    for name, legend in CHART:
        values = [v.metrics[name].value for v in measured]
        if all(value is not None for value in values):
            lines.append((legend, tuple(round((value or 0) * 100) for value in values)))
    if not lines:
        return None
    return Chart(tuple(v.version.label for v in measured), tuple(lines))


#: Failure clusters shown in the Markdown report (``--format json`` has them all).
CLUSTER_LIMIT = 10


def cluster_change(row: ClusterRow) -> str:
    """``67% → 17%, p = 0.24`` for the compared pair (``—`` when a side has no PRs)."""
    before, after, p = row.before, row.after, row.p_value
    if before is None or after is None or p is None:
        return "—"
    return f"{before.value:.0%} → {after.value:.0%}, p = {p:.2g}"


#: What ``report.md.j2`` calls besides the reports: the metric list and the formatters above.
HELPERS = {
    "metrics": METRICS,
    "estimate": estimate,
    "delta": delta,
    "direction": direction,
    "cluster_change": cluster_change,
    "cluster_limit": CLUSTER_LIMIT,
}


def render_report(reports: list[TargetReport], *, github: bool = True) -> str:
    """The report's Markdown, escaped for GitHub (the step summary, the dashboard), or with
    ``github=False`` as it reads in a terminal or a file (``render.filters``)."""
    template = environment(github=github).get_template("report.md.j2")
    return template.render(reports=reports, chart=chart, **HELPERS)
