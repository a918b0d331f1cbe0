"""The measurement of every target: versions, metrics per version, a comparison, and patterns.

``build_reports`` is what ``prompt-trainer report`` and ``prompt-trainer versions`` print, and what
the PR body's metric table and chart (issue 6) read. ``to_json`` gives the machine shape
documented in the README.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prompt_trainer.errors import ConfigError
from prompt_trainer.measure.facts import Facts
from prompt_trainer.measure.index import SampleIndex
from prompt_trainer.measure.metrics import (
    METRICS,
    Comparison,
    columns,
    compare_columns,
    measure_all,
)
from prompt_trainer.measure.outcomes import BulletRow, ClusterRow, Rate, cluster_rows
from prompt_trainer.measure.patterns import Pattern, find_patterns
from prompt_trainer.measure.stats import Estimate
from prompt_trainer.measure.versions import HashCache, History, Version, resolve_versions
from prompt_trainer.models import PromptSet
from prompt_trainer.settings import Target


@dataclass(frozen=True)
class VersionReport:
    version: Version
    facts: tuple[Facts, ...]
    metrics: dict[str, Estimate]

    @property
    def samples(self) -> int:
        return len(self.facts)


@dataclass(frozen=True)
class ComparisonReport:
    before: Version
    after: Version
    metrics: dict[str, Comparison]


@dataclass(frozen=True)
class TargetReport:
    target: str
    versions: tuple[VersionReport, ...]
    comparison: ComparisonReport | None
    patterns: tuple[Pattern, ...]
    min_samples: int
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Each failure cluster's rate per measured version (ranked: most PRs first).
    clusters: tuple[ClusterRow, ...] = ()
    #: The samples the clusters were made over, when not all (``index.CLUSTER_WINDOW``).
    clustered: frozenset[str] | None = None
    #: Every bullet of the current prompt files with its clusters and outcome (``memory``).
    bullets: tuple[BulletRow, ...] = ()

    def sample_ids(self, version: str) -> frozenset[str]:
        """The samples of a version (hash) the clusters were made over."""
        found = (r for r in self.versions if r.version.hash == version)
        report = next(found, None)
        return _ids(report, self.clustered) if report else frozenset()

    @property
    def known(self) -> int:
        """How many versions are real contents of the repository (not only named by samples)."""
        return sum(1 for v in self.versions if v.version.known)

    @property
    def measured(self) -> tuple[VersionReport, ...]:
        """Versions that have samples, oldest first."""
        return tuple(v for v in self.versions if v.samples)


def build_report(
    target: Target,
    index: SampleIndex,
    *,
    history: History | None,
    cache: HashCache,
    current: PromptSet | None,
    min_samples: int,
    compare_spec: str | None = None,
    unavailable: str | None = None,
) -> TargetReport:
    by_version = index.facts_by_version(target.name)
    versions = resolve_versions(
        target,
        history=history,
        cache=cache,
        current=current,
        seen=by_version,
        first_seen=_first_seen(by_version),
        unavailable=unavailable,
    )
    reports = tuple(
        VersionReport(v, tuple(by_version.get(v.hash, ())), measure_all(by_version.get(v.hash, ())))
        for v in versions
    )
    notes = []
    if history is None:
        notes.append(
            f"no history ({unavailable or 'not read'}): versions are labelled by hash (use a "
            "full clone, fetch-depth: 0, or give a GitHub token so the history is read through "
            "the API)"
        )
    if current is not None and not current.main.content:
        notes.append(f"prompt file {target.main} is missing in the working tree")
    chosen = _choose(reports, compare_spec)
    window = index.cluster_window()
    if window is not None:
        notes.append(
            f"failure clusters are made over the newest {len(window):,} samples: a version "
            "with none of them has no cluster rates"
        )
    measured = [_ids(r, window) for r in reports if r.samples]
    pair = (_ids(chosen[0], window), _ids(chosen[1], window)) if chosen else None
    clusters = cluster_rows(index.clusters(target.name), measured, pair)
    comparison = None
    if chosen is not None:
        before, after = chosen
        comparison = ComparisonReport(
            before.version,
            after.version,
            _compare_all(before.facts, after.facts, min_samples),
        )
    else:
        notes.append("only one version has samples: nothing to compare yet")
    all_facts = [f for r in reports for f in r.facts]
    return TargetReport(
        target=target.name,
        versions=reports,
        comparison=comparison,
        patterns=tuple(find_patterns(index, target.name, all_facts)),
        min_samples=min_samples,
        notes=tuple(notes),
        clusters=clusters,
        clustered=window,
    )


def _ids(report: VersionReport, window: frozenset[str] | None) -> frozenset[str]:
    """The version's samples (those the clusters were made over, when not all were)."""
    ids = frozenset(f.sample_id for f in report.facts)
    return ids if window is None else ids & window


def _compare_all(
    before: tuple[Facts, ...], after: tuple[Facts, ...], min_samples: int
) -> dict[str, Comparison]:
    a, b = columns(before), columns(after)
    return {m.name: compare_columns(m, a, b, min_samples=min_samples) for m in METRICS}


def _first_seen(by_version: dict[str, list[Facts]]) -> dict[str, datetime]:
    """{version hash: when its first sample happened}, for the versions with a dated sample."""
    return {
        digest: datetime.fromisoformat(first)
        for digest, facts in by_version.items()
        if (first := min((f.happened_at for f in facts if f.happened_at), default=None))
    }


def _choose(
    reports: tuple[VersionReport, ...], spec: str | None
) -> tuple[VersionReport, VersionReport] | None:
    """``FROM..TO`` (labels or hash prefixes), or the last two versions that have samples."""
    if spec:
        if ".." not in spec:
            raise ConfigError(
                f"--compare {spec!r}: expected FROM..TO", fix="e.g. --compare a1b2c3d..e4f5a6b"
            )
        left, right = spec.split("..", 1)
        return _find(reports, left), _find(reports, right)
    measured = [r for r in reports if r.samples]
    return (measured[-2], measured[-1]) if len(measured) >= 2 else None


def _find(reports: tuple[VersionReport, ...], key: str) -> VersionReport:
    hits = [
        r for r in reports if key and (r.version.label == key or r.version.hash.startswith(key))
    ]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(r.version.label for r in reports) or "none"
    problem = "matches several versions" if hits else "matches no version"
    raise ConfigError(f"--compare: {key!r} {problem}", fix=f"use a label or hash prefix: {known}")


#: Floating-point noise: a value this close to zero is printed as 0 (not -2.2e-17).
NOISE = 1e-12


def _clean(value: float | None) -> float | None:
    return 0.0 if value is not None and abs(value) < NOISE else value


def _estimate(e: Estimate) -> dict[str, Any]:
    return {"value": _clean(e.value), "n": e.n, "low": _clean(e.low), "high": _clean(e.high)}


def version_json(report: VersionReport) -> dict[str, Any]:
    v = report.version
    return {
        "label": v.label,
        "hash": v.hash,
        "introduced_at": v.introduced_at.isoformat() if v.introduced_at else None,
        "commit": v.commit,
        "subject": v.subject,
        "files": list(v.files),
        "samples": report.samples,
        "metrics": {name: _estimate(e) for name, e in report.metrics.items()},
    }


def _rate(rate: Rate | None) -> dict[str, int] | None:
    return None if rate is None else {"hits": rate.hits, "prs": rate.prs}


def cluster_json(report: TargetReport, row: ClusterRow) -> dict[str, Any]:
    """One failure cluster: its rate per measured version and in the compared pair."""
    c = report.comparison
    return {
        "id": row.cluster.id,
        "kind": row.cluster.kind,
        "label": row.cluster.label,
        "prs": row.cluster.prs,
        "rates": [
            {"version": v.version.label, **(_rate(r) or {})}
            for v, r in zip(report.measured, row.rates, strict=True)
        ],
        "comparison": None
        if c is None
        else {
            "from": c.before.label,
            "to": c.after.label,
            "before": _rate(row.before),
            "after": _rate(row.after),
            "p_value": row.p_value,
            "test": "Fisher's exact test, two-sided",
        },
    }


def bullet_json(report: TargetReport, row: BulletRow) -> dict[str, Any]:
    """One current bullet: the version that introduced it, its clusters and what it did."""
    outcome = row.outcome
    return {
        "path": row.path,
        "bullet": f"B{row.number}",
        "text": row.text,
        "introduced": row.introduced,
        "by": row.by,
        "targets": [{"cluster": label, "reason": reason} for label, reason in row.targets],
        "before": _rate(outcome.before) if outcome else None,
        "after": _rate(outcome.after) if outcome else None,
        "p_value": outcome.p_value if outcome else None,
        "test": "Fisher's exact test, one-sided (fewer after)" if outcome else None,
        "helpful": outcome.helpful if outcome else None,
        "harmful": outcome.harmful if outcome else None,
        "verdict": outcome.verdict(min_after=report.min_samples) if outcome else None,
    }


def to_json(report: TargetReport) -> dict[str, Any]:
    """The documented machine shape of one target's report."""
    comparison = None
    if report.comparison:
        c = report.comparison
        comparison = {
            "from": c.before.label,
            "to": c.after.label,
            "metrics": {
                name: {
                    "delta": _clean(m.delta),
                    "low": _clean(m.low),
                    "high": _clean(m.high),
                    "p_value": m.p_value,
                    "enough_data": m.enough_data,
                    "n_from": m.n_from,
                    "n_to": m.n_to,
                }
                for name, m in c.metrics.items()
            },
        }
    return {
        "target": report.target,
        "versions": [version_json(v) for v in report.versions],
        "comparison": comparison,
        "patterns": [
            {"kind": p.kind, "key": p.key, "count": p.count, "examples": list(p.examples)}
            for p in report.patterns
        ],
        "clusters": [cluster_json(report, row) for row in report.clusters],
        "bullets": [bullet_json(report, row) for row in report.bullets],
        "min_samples": report.min_samples,
        "notes": list(report.notes),
    }
