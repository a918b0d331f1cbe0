"""What GEPA's search found, for the ``gepa`` strategy: its front, its winners' edits, its notes.

Takes GEPA's saved state (``GEPAState``), the components (``train.sections``) and the citations
the reflections made (``train.gepa_adapter``); returns the Pareto front per failure cluster
(``front``: the best candidate on each cluster's validation failures, and the current prompts'
score), the ``SearchSummary``, and the winners' changes as itemized bullet edits
(``winner_edits``): each changed component of each winner beating the current prompts on some
cluster is diffed at bullet level (``train.edits.diff_edits``), and each edit cites the evidence
the reflections cited for its text (``cite``); an uncited one is reverted (a changed or removed
bullet is kept as it was, an added one left out), the same edit from two winners is kept once,
and a bullet two winners change differently is kept as it was. Lines a component changed
outside bullets are not carried over, and the notes say so. No DSPy here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prompt_trainer.bullets import PREFIX_WORDS, bullet_lines, normalize
from prompt_trainer.measure.clusters import Cluster
from prompt_trainer.models import FrontEntry, SearchSummary
from prompt_trainer.train.edits import HEADING, Edit, EvidenceIndex, diff_edits
from prompt_trainer.train.gepa_adapter import SearchAdapter, State
from prompt_trainer.train.gepa_metric import Instance, ReplayMetric
from prompt_trainer.train.sections import Components
from prompt_trainer.train.trainer import TrainRequest


def front(
    state: State, clusters: Mapping[str, Cluster], val: Sequence[Instance]
) -> list[FrontEntry]:
    """Per failure cluster of the validation set: the best candidate there (the one with the
    best average among those tied; 0, the current prompts, when none beats them), its score and
    the current prompts'."""
    base = state.prog_candidate_objective_scores[0]
    averages = state.program_full_scores_val_set
    counts: dict[str, int] = {}
    for failure in (f for i in val for f in i.failures):
        counts[failure.cluster] = counts.get(failure.cluster, 0) + 1
    entries = []
    for cluster, programs in state.program_at_pareto_front_objectives.items():
        score, current = state.objective_pareto_front[cluster], base.get(cluster, 0.0)
        best = min(programs, key=lambda p: (-averages[p], p)) if score > current else 0
        known = clusters.get(cluster)
        entries.append(
            FrontEntry(
                cluster=cluster,
                label=known.label if known else cluster,
                candidate=int(best),
                score=float(score),
                current=float(current),
                failures=counts.get(cluster, 0),
            )
        )
    rank = {c: n for n, c in enumerate(clusters)}
    return sorted(entries, key=lambda e: rank.get(e.cluster, len(rank)))


def summarize(
    request: TrainRequest,
    state: State,
    adapter: SearchAdapter,
    *,
    val: list[Instance],
    resumed: str,
    clusters: Sequence[Cluster],
) -> SearchSummary:
    known = {c.id: c for c in clusters} | adapter.clusters
    entries = front(state, known, val)
    tried = sum(1 for t in state.full_program_trace if "new_subsample_scores" in t)
    metric = "replay" if isinstance(adapter.metric, ReplayMetric) else "judge"
    return SearchSummary(
        metric=metric,
        tried=tried,
        kept=len(state.program_candidates),
        iterations=max(state.i + 1, 0),
        metric_calls=state.total_num_evals,
        max_metric_calls=request.gepa.max_metric_calls,
        reflections=sum(adapter.reflected.values()),
        validation=len(val),
        front=tuple(entries),
        winners=tuple(dict.fromkeys(e.candidate for e in entries if e.score > e.current)),
        resumed=resumed,
        stopped=adapter.stopped,
    )


@dataclass(frozen=True)
class WinnerEdits:
    """The winners' bullet edits, those dropped (and why), and notes on text not carried over."""

    edits: list[Edit]
    dropped: list[str]
    notes: list[str]


def winner_edits(
    layout: Components, programs: list[dict[str, str]], citations: Mapping[str, list[str]]
) -> WinnerEdits:
    """The bullet edits of each winner's changed components, each citing what the
    reflections cited for its text; the uncited ones, repeats and clashes are dropped."""
    edits: dict[tuple[str, str, str], Edit] = {}
    touched: dict[str, Edit] = {}
    dropped: list[str] = []
    notes: list[str] = []
    for program in programs:
        for name in layout.changed(program):
            before, after = layout.texts[name], program[name]
            notes += _outside(name, before, after)
            for raw in diff_edits(before, after, "", EvidenceIndex(())):
                edit = _placed(raw, layout.path_of(name), before)
                problem = _clash(edit, edits, touched)
                if problem:
                    dropped.append(problem)
                    continue
                cited = cite(edit, citations)
                if not cited:
                    dropped.append(f"{described(edit)}: {_uncited(edit)}")
                    continue
                edit = edit.model_copy(update={"evidence": cited})
                edits[_key(edit)] = edit
                if edit.op != "add":
                    touched[normalize(edit.target_text)] = edit
    return WinnerEdits(list(edits.values()), dropped, notes)


def _placed(edit: Edit, path: str, before: str) -> Edit:
    """The edit in its file, an ``add`` at the start of a section after the section's heading
    (not at the end of the file)."""
    update: dict[str, Any] = {"file": path}
    if edit.op == "add" and not edit.target_text:
        heading = next((ln for ln in before.split("\n") if HEADING.match(ln)), "")
        update["target_text"] = heading
    return edit.model_copy(update=update)


def _key(edit: Edit) -> tuple[str, str, str]:
    return (edit.op, normalize(edit.target_text), normalize(edit.new_text))


def _clash(
    edit: Edit, edits: Mapping[tuple[str, str, str], Edit], touched: Mapping[str, Edit]
) -> str:
    if _key(edit) in edits:
        return ""  # the same edit from two winners: kept once
    other = touched.get(normalize(edit.target_text)) if edit.op != "add" else None
    if other is not None:
        return (
            f"{described(edit)}: another winner of the front changes the same bullet "
            f"({other.op} {other.new_text[:80]!r}); kept as it was"
        )
    return ""


def cite(edit: Edit, citations: Mapping[str, list[str]]) -> list[str]:
    """The evidence the reflections cited for the edit's text (a removal: for the bullet
    removed), by its normalised text or its first ``PREFIX_WORDS`` words."""
    texts = {"add": [edit.new_text], "remove": [edit.target_text]}.get(
        edit.op, [edit.new_text, edit.target_text]
    )
    for text in texts:
        wanted = normalize(text)
        head = " ".join(wanted.split()[:PREFIX_WORDS])
        for bullet, ids in citations.items():
            if (
                bullet == wanted
                or (head and bullet.startswith(head))
                or (bullet and wanted.startswith(bullet))
            ):
                return list(ids)
    return []


def described(edit: Edit) -> str:
    return f"{edit.op} {(edit.new_text or edit.target_text)[:120]!r}"


def _uncited(edit: Edit) -> str:
    outcome = "kept as it was" if edit.op in ("modify", "remove") else "left out"
    return f"no reflection cited evidence for it ({outcome})"


def _outside(name: str, before: str, after: str) -> list[str]:
    """A note when a component changed lines outside bullets (not carried over)."""
    changed = Counter(prose(after))
    changed.subtract(Counter(prose(before)))
    count = sum(abs(n) for n in changed.values())
    if not count:
        return []
    return [
        f"{name}: {count} line(s) outside bullets changed, not carried over (only bullet "
        "edits are proposed)"
    ]


def prose(text: str) -> list[str]:
    """The non-blank lines of ``text`` outside its bullets, stripped."""
    inside = bullet_lines(text)
    return [ln.strip() for n, ln in enumerate(text.split("\n")) if ln.strip() and n not in inside]


def search_notes(summary: SearchSummary, request: TrainRequest) -> list[str]:
    """The run's notes on the search: what it did, where it resumed, why it stopped."""
    notes = [
        f"gepa: {summary.tried} candidate(s) tried, {summary.kept} kept, "
        f"{summary.metric_calls} of {summary.max_metric_calls} metric calls "
        f"(training.gepa.max_metric_calls), {summary.reflections} reflection(s), metric "
        f"{summary.metric}, validated on {summary.validation} pull request(s)"
    ]
    if request.gepa.metric == "replay" and summary.metric != "replay":
        notes.append(f"gepa: metric replay not run: {request.replay_note}; the judge scored")
    if summary.resumed:
        notes.append(f"gepa: resumed the search saved by {summary.resumed}")
    if summary.stopped:
        notes.append(f"gepa: stopped early: {summary.stopped}")
    return notes


def analysis(summary: SearchSummary, *, vetted_texts: list[Edit]) -> str:
    """The candidate's analysis: the front, then each edit with its evidence."""
    lines = [
        f"GEPA's search ({summary.metric} metric) tried {summary.tried} candidate(s) and kept "
        f"{summary.kept} (the current prompts included) over {summary.metric_calls} metric "
        "calls; the Pareto front per failure cluster:",
        *(
            f"- {e.label}: candidate {e.candidate} scores {e.score:.2f} "
            f"(current prompts {e.current:.2f}) on {e.failures} validation failure(s)"
            for e in summary.front
        ),
        "",
        "Edits of the front's winners that passed the support rule and the check:",
        *(f"- {described(e)}: {', '.join(e.evidence)}" for e in vetted_texts),
    ]
    return "\n".join(lines)
