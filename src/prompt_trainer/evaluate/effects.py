"""Evaluate stage: what the per-edit judge's verdicts say about each edit, and the gate.

Takes the candidate's changes, the held-out failures (each of one failure cluster), the
clusters each edit targets (``edit_targets``: the clusters whose problems show evidence the edit
cites) and the verdicts read (``per_edit.parse_verdicts``); returns one ``EditEvaluation`` per
edit and the ``HeldOutResult`` (``summarize``).

**The test.** For one edit, the held-out failures of its own clusters are its kind; those of
all other clusters are the control: the edit should not help there, so a judge that says
"prevents" there too is lenient, not insightful. The 2x2 table (own / other x prevents / not)
goes to Fisher's exact test, **one-sided**: the question is directional (does the edit prevent
its own kind *more* often than others?), and an edit that "prevents" other kinds more often is
not effective either way, so the other tail answers nothing we act on; one-sided also halves the
failures a decision needs (3 of 3 against 0 of 3 reaches p = 0.05 one-sided, 0.1 two-sided).
"partly" counts as prevented, on both sides of the table: a judge that hedges on one failure of an
edit's kind has not said the edit fails there, and a "partly" on another kind is leniency all the
same (the other-kinds column still controls it, and ``leniency`` counts it); the line says
"prevents or partly prevents" and how many were partly. Unreadable pairs are left out.

**Outcomes.** ``conflicts``: the judge says the edit conflicts with a held-out PR (with or
without a problem): it is dropped (``evaluate.conflicts``). ``too few to judge``: fewer than
``MIN_OWN`` held-out failures of its kind, or a design whose best possible table cannot reach
``ALPHA`` (``stats.fisher_min_p``: 3 of its kind need at least 4 of other kinds, 1/35 = 0.029).
Else ``effective`` when p < ``ALPHA``, ``not effective`` otherwise. A judge that answers
"prevents" to every failure gives equal rates, p = 1: not effective, whatever it says.

**The gate** (``held_out_gate``): with ``training.require_improvement`` a candidate none of whose
remaining edits prevents a held-out failure, when ``MIN_OWN`` or more held-out failures of their
clusters exist, is not proposed (``true``) or opened as a draft (``draft``). "Prevents" means
effective; an edit too few to judge counts when the judge says it prevents one failure of its
kind *and* discriminated (``may_work``: its own kind more often than the other kinds it was
asked about, or, without those, than the judge's rate on other kinds over the run). A judge
that said "prevents" to ``LENIENT_MIN`` or more failures of other kinds, and to
``LENIENT_SHARE`` of them, is lenient (``leniency``): nothing it says shows an edit works, and
the candidate is held or drafted the same way. An unreadable evaluation (fewer than half of the
verdicts asked for could be read) always opens a draft, never a ready PR. The pairwise judge's
"worse" verdict blocks (or drafts) as before. ``not_effective`` says which edits
``evaluate.conflicts`` takes out of a candidate that another edit carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from prompt_trainer.measure.stats import fisher_exact, fisher_min_p
from prompt_trainer.models import (
    Candidate,
    Change,
    ClusterCount,
    EditEvaluation,
    EditOutcome,
    EditVerdict,
    HeldOutFailure,
    HeldOutResult,
)
from prompt_trainer.settings import TrainingOptions

#: Held-out failures of an edit's own kind below which it is "too few to judge".
MIN_OWN = 3
#: An edit is effective below this one-sided p-value.
ALPHA = 0.05
#: Below this share of readable verdicts the evaluation is unreadable.
READABLE_SHARE = 0.5
#: The judge is lenient when it said "prevents" to at least this many held-out failures of
#: other kinds than the edit's (over all edits) ...
LENIENT_MIN = 3
#: ... and to at least this share of them: an edit should not help other kinds at all, so a
#: judge that says it does to half of them cannot tell an edit that works from one that does not.
LENIENT_SHARE = 0.5
#: A p-value this close to 1 is 1 (the test's sum of probabilities is not exact).
P_ONE = 1 - 1e-9


def edit_targets(
    changes: Sequence[Change], problems: Iterable[tuple[str, Iterable[str]]]
) -> dict[int, tuple[str, ...]]:
    """Edit number -> the clusters it targets: the one training made it for
    (``Change.cluster``), when the evaluation's clustering has it, and those with a problem
    showing evidence it cites. ``problems`` are (cluster id, full evidence ids) pairs."""
    by_evidence: dict[str, set[str]] = {}
    for cluster, evidence in problems:
        for item in evidence:
            by_evidence.setdefault(item, set()).add(cluster)
    known = {c for found in by_evidence.values() for c in found}
    return {
        n: tuple(
            sorted(
                {c for e in change.evidence for c in by_evidence.get(e, ())}
                | ({change.cluster} & known)
            )
        )
        for n, change in enumerate(changes, start=1)
    }


def decide(
    own: int, prevented: int, others: int, other_prevented: int, *, conflicts: bool = False
) -> tuple[EditOutcome, float | None]:
    """The outcome of one edit and its one-sided Fisher p-value (None when not tested)."""
    if conflicts:
        return "conflicts", None
    if own < MIN_OWN or fisher_min_p(own, others) >= ALPHA:
        return "too few to judge", None
    p = fisher_exact(prevented, own - prevented, other_prevented, others - other_prevented)
    return ("effective" if p < ALPHA else "not effective"), p


def tally(
    changes: Sequence[Change],
    failures: Sequence[HeldOutFailure],
    verdicts: Sequence[EditVerdict],
    targets: Mapping[int, tuple[str, ...]],
) -> tuple[EditEvaluation, ...]:
    """Each edit's counts over the held-out failures it has a verdict for, and its outcome."""
    by_key = {(f.sample, f.ref): f for f in failures}
    results = []
    for n, change in enumerate(changes, start=1):
        own_clusters = set(targets.get(n, ()))
        mine = [v for v in verdicts if v.edit == n]
        counted = [
            (v, by_key[(v.sample, v.failure)]) for v in mine if (v.sample, v.failure) in by_key
        ]
        own = [v for v, f in counted if f.cluster in own_clusters]
        other = [v for v, f in counted if f.cluster not in own_clusters]
        conflicts = tuple(
            dict.fromkeys(
                f"{v.sample}: {v.why or 'conflicts'}" for v in mine if v.verdict == "conflicts"
            )
        )
        counts = (len(own), _helped(own), len(other), _helped(other))
        outcome, p = decide(*counts, conflicts=bool(conflicts))
        results.append(
            EditEvaluation(
                edit=n,
                path=change.path,
                op=change.op,
                text=change.text,
                clusters=tuple(sorted(own_clusters)),
                own=counts[0],
                prevented=counts[1],
                partly=_count(own, "partly"),
                others=counts[2],
                other_prevented=counts[3],
                other_partly=_count(other, "partly"),
                conflicts=conflicts,
                p_value=p,
                outcome=outcome,
            )
        )
    return tuple(results)


def _count(verdicts: Sequence[EditVerdict], effect: str) -> int:
    return sum(v.verdict == effect for v in verdicts)


def _helped(verdicts: Sequence[EditVerdict]) -> int:
    """How many the judge says the edit prevents or partly prevents."""
    return sum(v.verdict in ("prevents", "partly") for v in verdicts)


@dataclass(frozen=True)
class Asked:
    """What the evaluation asked and read: the samples judged, those unreadable, the items
    left out, and how many verdicts were asked for and read."""

    samples: tuple[str, ...]
    checked: tuple[str, ...]
    unreadable: tuple[str, ...]
    unreadable_items: tuple[str, ...]
    expected: int
    calls: int
    max_calls: int


def summarize(
    changes: Sequence[Change],
    failures: Sequence[HeldOutFailure],
    verdicts: Sequence[EditVerdict],
    targets: Mapping[int, tuple[str, ...]],
    *,
    asked: Asked,
    clusters: tuple[ClusterCount, ...] = (),
) -> HeldOutResult:
    """The per-edit ``HeldOutResult``: every edit's result, and a verdict for the candidate:
    "unreadable", "better" (an edit is effective), "no clear difference" (edits were decided,
    none effective) or "too few to judge"."""
    edits = tally(changes, failures, verdicts, targets)
    decided = [e for e in edits if e.p_value is not None]
    readable = len({(v.edit, v.sample, v.failure) for v in verdicts})
    if asked.expected and readable < READABLE_SHARE * asked.expected:
        verdict = "unreadable"
    elif any(e.outcome == "effective" for e in edits):
        verdict = "better"
    else:
        verdict = "no clear difference" if decided else "too few to judge"
    return HeldOutResult(
        judge="per-edit",
        sample_ids=asked.samples,
        checked=asked.checked,
        failures=tuple(failures),
        verdicts=tuple(verdicts),
        edits=edits,
        unreadable=asked.unreadable,
        unreadable_items=asked.unreadable_items,
        verdict=verdict,
        p_value=min((e.p_value for e in decided if e.p_value is not None), default=None),
        clusters=clusters,
        calls=asked.calls,
        max_calls=asked.max_calls,
    )


# -- the gate -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """What the held-out evaluation says about proposing: ``problems`` block it, ``draft``
    reasons open it as a draft pull request."""

    problems: tuple[str, ...] = ()
    draft: tuple[str, ...] = ()


def held_out_gate(candidate: Candidate, limits: TrainingOptions) -> Gate:
    """Block, or open as a draft, what the held-out evaluation does not support."""
    result = candidate.evaluation
    if result is None or result.skipped:
        return Gate()
    if result.judge == "pairwise":
        return _as(_pairwise_reason(result), limits.require_improvement)
    if result.verdict == "unreadable":
        asked = len(result.failures) + len(result.checked)
        return Gate(
            draft=(
                f"held-out: the judge's answers could not be read ({len(result.unreadable)} of "
                f"{len(result.sample_ids) + len(result.checked) or asked} answer(s) unreadable, "
                f"{len(result.unreadable_items)} item(s) left out); opened as a draft",
            )
        )
    return _as(_per_edit_reason(result), limits.require_improvement)


def _as(reason: str | None, require: bool | str) -> Gate:
    if reason is None or require is False:
        return Gate()
    if require == "draft":
        return Gate(draft=(reason + "; opened as a draft (training.require_improvement: draft)",))
    return Gate(problems=(reason + "; training.require_improvement is on",))


def _pairwise_reason(result: HeldOutResult) -> str | None:
    if result.verdict != "worse":
        return None
    p = f", sign test p={result.p_value:.2g}" if result.p_value is not None else ""
    return (
        f"held-out: the judge prefers the current prompts ({result.wins} better, "
        f"{result.losses} worse, {result.ties} tied{p})"
    )


def _per_edit_reason(result: HeldOutResult) -> str | None:
    """Why no edit is shown to work: the judge was lenient (``lenient``), or, when ``MIN_OWN``
    or more held-out failures of their kinds exist, no edit is effective and none too few to
    judge prevents one of them while the judge discriminated (``may_work``)."""
    kept = [e for e in result.edits if e.outcome != "conflicts"]
    each = "; ".join(f"D{e.edit}: {e.summary} ({e.outcome})" for e in kept)
    lenient = leniency(result)
    if lenient is not None:
        return f"held-out: {lenient}, so no edit is shown to prevent failures of its kind ({each})"
    rate = other_rate(kept)
    if not kept or any(may_work(e, rate) for e in kept):
        return None
    own = len({(f.sample, f.ref) for f in result.failures for e in kept if f.cluster in e.clusters})
    if own < MIN_OWN:
        return None
    return (
        f"held-out: no edit prevents held-out failures of its kind more often than those of "
        f"other kinds ({own} held-out failure(s) of their kinds; {each})"
    )


def leniency(result: HeldOutResult) -> str | None:
    """``judge lenient: said prevents to 5 of 6 failures of other kinds`` when, over all
    edits that do not conflict, the judge said "prevents" or "partly" to ``LENIENT_MIN`` or more
    held-out failures of kinds the edit does not target, and to ``LENIENT_SHARE`` or more of
    them."""
    kept = [e for e in result.edits if e.outcome != "conflicts"]
    said = sum(e.other_prevented for e in kept)
    asked = sum(e.others for e in kept)
    if said < LENIENT_MIN or said < LENIENT_SHARE * asked:
        return None
    return f"judge lenient: said prevents to {said} of {asked} failures of other kinds"


def other_rate(edits: Sequence[EditEvaluation]) -> float | None:
    """How often the judge said "prevents" to failures of other kinds, over ``edits`` (None
    when it was never asked about one): the judge's leniency, the baseline an edit without
    other kinds of its own is compared against."""
    asked = sum(e.others for e in edits)
    return sum(e.other_prevented for e in edits) / asked if asked else None


def may_work(edit: EditEvaluation, judge_rate: float | None) -> bool:
    """Effective; or too few to judge, preventing a failure of its kind, where the judge
    discriminated: it prevents its own kind more often than the other kinds it was asked about
    (never when it "prevents" all of those), or, without other kinds of its own, more often
    than the judge said "prevents" to other kinds over the run (``judge_rate``). With no other
    kind held out at all, nothing measures the judge: it counts, as the data cannot say more
    (the pull request says "too few to judge")."""
    if edit.outcome == "effective":
        return True
    if edit.outcome != "too few to judge" or edit.prevented == 0:
        return False
    own = edit.prevented / edit.own
    if edit.others:
        return edit.other_prevented < edit.others and own > edit.other_prevented / edit.others
    return judge_rate is None or own > judge_rate


def not_effective(edit: EditEvaluation) -> bool:
    """Measured not to work: prevents none of ``MIN_OWN`` or more held-out failures of its
    kind, or decided with p = 1 (it prevents its kind no more often than any other)."""
    if edit.outcome == "conflicts":
        return False
    return (edit.own >= MIN_OWN and edit.prevented == 0) or (
        edit.outcome == "not effective" and edit.p_value is not None and edit.p_value > P_ONE
    )


def per_edit_json(candidate: Candidate) -> dict[str, object]:
    """``evaluation.json``'s per-edit parts.

    ``clusters``: the failure clusters as training saw them (``Candidate.clusters``: support,
    reflection calls, why one was left out), each with how many of its PRs were held out, then
    the held-out clusters training did not see. ``support``: per applied change, the cluster
    training made it for and its support then (``Change.cluster``, ``Change.support``), and the
    clusters the evaluation counts as its kind. ``edits``: each edit's held-out result with its
    one-line summary."""
    result = candidate.evaluation
    held = {c.id: c for c in (result.clusters if result else ())}
    seen = {note.id for note in candidate.clusters}
    clusters = [
        {
            **note.model_dump(mode="json"),
            "held_out": held[note.id].held_out if note.id in held else 0,
        }
        for note in candidate.clusters
    ] + [c.model_dump(mode="json") for c in held.values() if c.id not in seen]
    edits = result.edits if result else ()
    kinds = {(e.path, e.op, e.text): list(e.clusters) for e in edits}
    support = [
        {
            "path": c.path,
            "op": c.op,
            "text": c.text,
            "cluster": c.cluster,
            "support": c.support,
            "judged_as": kinds.get((c.path, c.op, c.text), []),
        }
        for c in candidate.changes
    ]
    return {
        "clusters": clusters,
        "support": support,
        "edits": [{**e.model_dump(mode="json"), "summary": e.summary} for e in edits],
    }
