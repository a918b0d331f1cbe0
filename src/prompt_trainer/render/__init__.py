"""Render stage: the pull-request body and title, from Jinja2 templates fed one view object.

The only module that imports Jinja2. Templates live in ``render/templates/`` and run with
``StrictUndefined``. Text written by others (test messages, review comments, model output) goes
through the ``quote``/``inline``/``span``/``code`` filters, all built on the one escaping
function ``filters.neutralize`` (no mention, link, image, HTML, comment or bidi control gets
through). The only links are those ``render.links`` builds for this repository's pages. The
body is kept under GitHub's 65,536-character limit by dropping the least important parts
first. The state block a later run reads back from the body is ``render.state``. A user's
template (``pull_request.template``) is read by ``user_template``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import jinja2

from prompt_trainer.errors import ConfigError
from prompt_trainer.measure.clusters import Cluster, cluster_samples
from prompt_trainer.measure.outcomes import MergeOutcome
from prompt_trainer.measure.report import TargetReport
from prompt_trainer.models import (
    Candidate,
    Change,
    EditEvaluation,
    Feedback,
    PromptSet,
    Sample,
    Skipped,
    TestCase,
)
from prompt_trainer.render.filters import environment
from prompt_trainer.render.links import RepoLinks
from prompt_trainer.render.report import Chart, chart, delta, direction, estimate
from prompt_trainer.render.state import STATE_MARKER, read_state, state_of, state_text

BODY_LIMIT = 65_536
#: Where the body shows the configured commands' results (``pr_evaluation.md.j2``).
EVALUATION = "<!-- prompt-trainer-evaluation -->"
#: Observed metrics shown in the PR body's table (the full list is in ``prompt-trainer report``).
KEY_METRICS = (
    "tests.pass_rate",
    "tests.first_push_pass_rate",
    "review.comments_per_pr",
    "review.changes_requested_rate",
    "pr.merge_rate",
    "pr.human_rework_rate",
)


@dataclass(frozen=True)
class FileChange:
    """How one file differs between the current prompts and the candidate."""

    path: str
    status: str
    added: int
    removed: int
    diff: str


@dataclass(frozen=True)
class EvidenceLink:
    """An evidence id as the body shows it: the id and, when it is a page of this repository
    (``RepoLinks``), where to read it; other ids are shown as escaped text, never as links."""

    id: str
    url: str | None

    @property
    def label(self) -> str:
        if self.url == self.id and "#discussion_r" in self.id:
            return "review comment " + self.id.rsplit("#discussion_r", 1)[1]
        if self.url == self.id and "#pullrequestreview-" in self.id:
            return "review " + self.id.rsplit("#pullrequestreview-", 1)[1]
        if self.url == self.id and "#" in self.id:
            return "comment " + self.id.rsplit("#", 1)[-1]
        return self.id


@dataclass(frozen=True)
class ChangeView:
    change: Change
    evidence: tuple[EvidenceLink, ...]
    #: The per-edit held-out evaluation of this change, when it ran.
    held_out: EditEvaluation | None = None


@dataclass(frozen=True)
class MetricRow:
    """One observed metric, previous vs current version, formatted."""

    name: str
    before: str
    after: str
    change: str
    direction: str


@dataclass(frozen=True)
class ProposalView:
    """Everything the PR body template shows.

    ``report`` is the measurement of the target (``measure.report``): its comparison gives the
    observed metric table and its versions the chart. Without it (no stored history yet) those
    parts say so. ``links`` builds the only links the body holds (none without it).
    ``merges`` is what earlier merged proposals did to the failure clusters their
    bullets targeted (``memory.merge_outcomes``), newest first.
    """

    candidate: Candidate
    current: PromptSet
    samples: list[Sample]
    model: str
    skipped: list[Skipped] = field(default_factory=list)
    gate_problems: tuple[str, ...] = ()
    report: TargetReport | None = None
    commit: str | None = None
    merges: tuple[MergeOutcome, ...] = ()
    links: RepoLinks | None = None
    #: Why the pull request is opened as a draft (empty: ready for review).
    draft: tuple[str, ...] = ()
    #: Made by GEPA's replay-scored search in the Action's evaluate job (``loop.searched``):
    #: the body says where, and that its held-out evaluation is the replay's.
    replay_search: bool = False

    def own(self, url: str | None) -> str | None:
        """``url`` rebuilt when it is a page of this repository, else None (shown as text)."""
        return self.links.own(url) if self.links else None

    def pull_url(self, sample: Sample) -> str | None:
        return self.own(sample.pull.url)

    def link(self, evidence_id: str) -> EvidenceLink:
        """Where an evidence id can be read: a page of this repository as is; a test or trace
        step at its PR; anything else nowhere."""
        if evidence_id.startswith("http"):
            return EvidenceLink(evidence_id, self.own(evidence_id))
        for sample in self.samples:
            tests = {c.id for run in sample.test_runs for c in run.cases}
            traces = {f"trace:{t.source}#" for t in sample.traces}
            if evidence_id in tests or any(evidence_id.startswith(t) for t in traces):
                return EvidenceLink(evidence_id, self.pull_url(sample))
            if any(f.id == evidence_id for f in sample.feedback):
                url = next(f.url for f in sample.feedback if f.id == evidence_id)
                return EvidenceLink(evidence_id, self.own(url) or self.pull_url(sample))
        return EvidenceLink(evidence_id, None)

    @property
    def explained(self) -> dict[str, list[ChangeView]]:
        """Applied changes by file, each with its evidence links."""
        found: dict[str, list[ChangeView]] = {}
        judged = self.edit_results
        for change in self.candidate.changes:
            links = tuple(self.link(e) for e in change.evidence)
            result = judged.get((change.path, change.op, change.text))
            found.setdefault(change.path, []).append(ChangeView(change, links, result))
        return found

    @property
    def edit_results(self) -> dict[tuple[str, str, str], EditEvaluation]:
        """The per-edit held-out results by (path, op, text) of the change they judged."""
        result = self.candidate.evaluation
        edits = result.edits if result is not None else ()
        return {(e.path, e.op, e.text): e for e in edits}

    @property
    def conflicting(self) -> list[EditEvaluation]:
        """Edits the judge found conflicting with a held-out PR: dropped from the candidate."""
        result = self.candidate.evaluation
        return [e for e in (result.edits if result else ()) if e.outcome == "conflicts"]

    @property
    def ineffective(self) -> list[EditEvaluation]:
        """Edits measured not effective and taken out of the candidate beside one that carries
        it (``evaluate.conflicts.dropped_edits``): judged, but no longer among its changes."""
        result = self.candidate.evaluation
        kept = {(c.path, c.op, c.text) for c in self.candidate.changes}
        return [
            e
            for e in (result.edits if result else ())
            if e.outcome != "conflicts" and (e.path, e.op, e.text) not in kept
        ]

    @property
    def metric_rows(self) -> list[MetricRow]:
        comparison = self.report.comparison if self.report else None
        if comparison is None or self.report is None:
            return []
        by_hash = {v.version.hash: v for v in self.report.versions}
        before, after = by_hash[comparison.before.hash], by_hash[comparison.after.hash]
        rows = []
        for name in KEY_METRICS:
            c = comparison.metrics[name]
            rows.append(
                MetricRow(
                    name=name,
                    before=estimate(name, before.metrics[name]),
                    after=estimate(name, after.metrics[name]),
                    change=delta(name, c, self.report.min_samples),
                    direction=direction(name, c),
                )
            )
        return rows

    @property
    def chart(self) -> Chart | None:
        return chart(self.report) if self.report else None

    @property
    def merge_rows(self) -> list[MergeRow]:
        """What earlier merges did, formatted (``merge_rows``)."""
        return merge_rows(self.merges, min_after=self.report.min_samples if self.report else 5)

    @property
    def replay_rows(self) -> list[tuple[str, str, str]]:
        """(task, current passed/runs, candidate passed/runs) per replayed task."""
        result = self.candidate.replay
        if result is None:
            return []

        def cell(outcomes: list[bool]) -> str:
            return f"{sum(outcomes)}/{len(outcomes)}" if outcomes else "not run"

        return [
            (t.sample, cell(t.outcomes("current")), cell(t.outcomes("candidate")))
            for t in result.tasks
        ]

    @property
    def trace_errors(self) -> int:
        return sum(1 for s in self.samples for t in s.traces for st in t.steps if st.is_error)

    @property
    def changes(self) -> list[FileChange]:
        return file_changes(self.current, self.candidate)

    @property
    def failing_tests(self) -> list[tuple[Sample, TestCase]]:
        return [(s, case) for s in self.samples for run in s.test_runs for case in run.problems]

    @property
    def trusted_feedback(self) -> list[tuple[Sample, Feedback]]:
        return [(s, f) for s in self.samples for f in s.feedback if f.trusted and f.body.strip()]

    @staticmethod
    def counts(sample: Sample) -> dict[str, int]:
        """Test totals of a sample across its reports, plus feedback and trace counts."""
        runs = sample.test_runs
        totals = {
            st: sum(r.count(st) for r in runs) for st in ("passed", "failed", "error", "skipped")
        }
        totals["tests"] = sum(r.tests for r in runs)
        totals["trusted_feedback"] = sum(1 for f in sample.feedback if f.trusted)
        totals["traces"] = len(sample.traces)
        return totals

    @property
    def state_json(self) -> str:
        return state_text(state_of(self.candidate, commit=self.commit, clusters=self.clusters_of))

    @cached_property
    def clusters(self) -> list[Cluster]:
        """The failure clusters of the samples the candidate was trained on."""
        return cluster_samples(self.samples, target=self.candidate.target)

    def clusters_of(self, evidence: tuple[str, ...]) -> tuple[str, ...]:
        """The clusters holding ``evidence``: what an edit citing it targets (kept in the state
        block, read back by the bullet ledger once merged)."""
        cited = set(evidence)
        return tuple(c.id for c in self.clusters if cited & c.evidence())


@dataclass(frozen=True)
class MergeRow:
    """One earlier merged proposal, as the PR body and the dashboard show it."""

    pull: int
    merged: str
    clusters: tuple[str, ...]
    before: str
    after: str
    p_value: str
    verdict: str


def merge_rows(merges: Sequence[MergeOutcome], *, min_after: int) -> list[MergeRow]:
    """Rows for ``merges``: rates as ``k of n``, the one-sided Fisher p, and the verdict."""
    return [
        MergeRow(
            pull=m.pull,
            merged=m.merged_at.strftime("%Y-%m-%d") if m.merged_at else "—",
            clusters=m.clusters,
            before=m.outcome.before.text,
            after=m.outcome.after.text,
            p_value="—" if m.outcome.p_value is None else f"{m.outcome.p_value:.2g}",
            verdict=m.outcome.verdict(min_after=min_after),
        )
        for m in merges
    ]


def file_changes(current: PromptSet, candidate: Candidate) -> list[FileChange]:
    """Changed files only, with line counts and a unified diff."""
    before = {f.path: f.content for f in current.files}
    changes = []
    for file in candidate.files:
        old = before.get(file.path)
        if old == file.content:
            continue
        diff = list(
            difflib.unified_diff(
                (old or "").splitlines(),
                file.content.splitlines(),
                f"a/{file.path}",
                f"b/{file.path}",
                lineterm="",
            )
        )
        added = sum(1 for d in diff if d.startswith("+") and not d.startswith("+++"))
        removed = sum(1 for d in diff if d.startswith("-") and not d.startswith("---"))
        status = "added" if old is None else "modified"
        changes.append(FileChange(file.path, status, added, removed, "\n".join(diff)))
    return changes


def render_title(view: ProposalView) -> str:
    return f"prompt-trainer: improve {view.candidate.target} ({len(view.samples)} samples)"


def render_body(view: ProposalView, *, template_text: str | None = None) -> str:
    """The PR body, cut down (diffs first, then evidence details) to fit GitHub's limit.

    ``template_text`` is a user's template (``pull_request.template``), rendered in Jinja2's
    sandbox with the same view, filters and ``detail`` levels; a template that fails or reaches
    for Python internals is a ``ConfigError``."""
    try:
        if template_text is not None:
            template = environment(sandboxed=True).from_string(template_text)
        else:
            template = environment().get_template("pr_body.md.j2")
        for detail in ("full", "no_diffs", "minimal"):
            body = template.render(
                view=view, detail=detail, state_marker=STATE_MARKER, evaluation_marker=EVALUATION
            )
            if len(body) <= BODY_LIMIT:
                return body
    except jinja2.TemplateError as exc:
        if template_text is None:
            raise
        raise ConfigError(
            f"pull_request.template cannot be rendered: {exc}",
            fix="fix the template (it runs in Jinja2's sandbox: no attributes starting with _)",
        ) from None
    marker = f"\n\n… (cut to fit GitHub's limit)\n\n<!-- {STATE_MARKER} {view.state_json} -->\n"
    return body[: BODY_LIMIT - len(marker)] + marker


def render_evaluation(view: ProposalView) -> str:
    """The part of the body that shows the configured commands' results (eval_command, the
    replay), alone: ``pr_evaluation.md.j2``, which the body includes."""
    template = environment().get_template("pr_evaluation.md.j2")
    return template.render(view=view, evaluation_marker=EVALUATION)


def with_evaluation(body: str, view: ProposalView) -> str:
    """A body rendered before the commands ran (the Action's ``prepare`` job), with their
    results (``view.candidate``) put in place of its evaluation marker, or before the state
    block when a user's template has none; cut (evidence last) to fit GitHub's limit, keeping
    the body's own state block (it names each change's clusters, which ``view`` cannot: the
    publish job has no samples to cluster)."""
    named = read_state(body)
    state = state_text(named) if named else view.state_json
    part = render_evaluation(view).rstrip("\n")
    if EVALUATION in body:
        body = body.replace(EVALUATION, part, 1)
    else:
        at = body.rfind(f"<!-- {STATE_MARKER} ")
        at = len(body) if at < 0 else at
        body = f"{body[:at].rstrip()}\n\n{part}\n\n{body[at:]}"
    if len(body) <= BODY_LIMIT:
        return body
    tail = f"\n\n… (cut to fit GitHub's limit)\n\n<!-- {STATE_MARKER} {state} -->\n"
    return body[: BODY_LIMIT - len(tail)] + tail


def user_template(root: Path, path: str | None) -> str | None:
    """The text of ``pull_request.template`` (``path``, relative to ``root``), if configured."""
    if not path:
        return None
    try:
        return (root / path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"pull_request.template {path}: cannot read it: {exc}",
            fix="fix the path (relative to the repository root) or remove the key",
        ) from None
