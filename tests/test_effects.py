"""What the per-edit verdicts mean: Fisher's test of an edit's own kind against other kinds, a
lenient judge rejected, too few failures said so, and the gate that blocks or drafts."""

from __future__ import annotations

import pytest

from prompt_trainer.evaluate.effects import (
    Asked,
    Gate,
    decide,
    edit_targets,
    held_out_gate,
    summarize,
)
from prompt_trainer.models import (
    Candidate,
    Change,
    EditVerdict,
    HeldOutFailure,
    HeldOutResult,
    PromptFile,
    TokenUsage,
)
from prompt_trainer.settings import TrainingOptions

ROUND = Change(path="CLAUDE.md", op="add", text="Round with `quantize`.", evidence=("t::round",))
CLIENT = Change(path="CLAUDE.md", op="add", text="Reuse `ApiClient`.", evidence=("t::client",))
TARGETS = {1: ("rounding",), 2: ("client",)}


def failures(own: int, other: int) -> list[HeldOutFailure]:
    """``own`` held-out rounding failures and ``other`` client failures, one PR each."""
    kinds = ["rounding"] * own + ["client"] * other
    return [
        HeldOutFailure(sample=f"s{n}", ref="F1", cluster=k, kind="test", label=k)
        for n, k in enumerate(kinds)
    ]


def judged(found: list[HeldOutFailure], answer: dict[str, str]) -> list[EditVerdict]:
    """Every edit on every failure: ``answer[cluster]`` for the rounding rule (edit 1), and
    "prevents" on client failures for the client rule (edit 2)."""
    return [
        EditVerdict(edit=1, sample=f.sample, failure="F1", verdict=answer[f.cluster]) for f in found
    ] + [
        EditVerdict(
            edit=2,
            sample=f.sample,
            failure="F1",
            verdict="prevents" if f.cluster == "client" else "irrelevant",
        )
        for f in found
    ]


def result(verdicts: list[EditVerdict], found: list[HeldOutFailure]) -> HeldOutResult:
    asked = Asked(
        samples=tuple(f.sample for f in found), checked=(), unreadable=(), unreadable_items=(),
        expected=2 * len(found), calls=len(found), max_calls=10,
    )  # fmt: skip
    return summarize([ROUND, CLIENT], found, verdicts, TARGETS, asked=asked)


def test_an_edit_that_prevents_its_own_kind_only_is_effective_by_fishers_test() -> None:
    found = failures(6, 6)
    answer = {"rounding": "prevents", "client": "irrelevant"}
    first, second = result(judged(found, answer), found).edits
    # [[6, 0], [0, 6]]: one-sided p = 1 / C(12, 6) = 0.00108
    assert first.summary == (
        "prevents 6 of 6 held-out failures of its kind (other kinds: 0 of 6), p = 0.0011"
    )
    assert first.outcome == second.outcome == "effective"
    assert first.p_value == pytest.approx(1 / 924)


def test_a_judge_that_says_prevents_to_everything_makes_every_edit_not_effective() -> None:
    found = failures(6, 6)
    lenient = judged(found, {"rounding": "prevents", "client": "prevents"})
    lenient = [v.model_copy(update={"verdict": "prevents"}) for v in lenient]
    evaluated = result(lenient, found)
    assert [e.summary for e in evaluated.edits] == [
        "prevents 6 of 6 held-out failures of its kind (other kinds: 6 of 6), p = 1"
    ] * 2
    assert [e.outcome for e in evaluated.edits] == ["not effective"] * 2
    assert evaluated.verdict == "no clear difference"
    gate = held_out_gate(with_result(evaluated), TrainingOptions())
    (problem,) = gate.problems
    assert problem.startswith(
        "held-out: judge lenient: said prevents to 12 of 12 failures of other kinds, so no edit "
        "is shown to prevent failures of its kind (D1: prevents 6 of 6"
    )
    assert gate.draft == ()


def test_partly_counts_as_prevented_and_is_reported() -> None:
    found = failures(4, 4)
    verdicts = judged(found, {"rounding": "prevents", "client": "irrelevant"})
    verdicts[0] = verdicts[0].model_copy(update={"verdict": "partly"})
    first, _ = result(verdicts, found).edits
    # [[4, 0], [0, 4]]: one-sided p = 1 / C(8, 4) = 0.014, as with four "prevents"
    assert first.summary == (
        "prevents or partly prevents 4 of 4 held-out failures of its kind "
        "(1 partly; other kinds: 0 of 4), p = 0.014"
    )
    assert (first.prevented, first.partly, first.outcome) == (4, 1, "effective")


def test_partly_on_other_kinds_counts_against_the_edit_and_as_leniency() -> None:
    found = failures(4, 4)
    hedging = judged(found, {"rounding": "prevents", "client": "partly"})
    evaluated = result(hedging, found)
    first = evaluated.edits[0]
    assert first.summary == (
        "prevents or partly prevents 4 of 4 held-out failures of its kind "
        "(other kinds: 4 of 4, 4 partly), p = 1"
    )
    assert first.outcome == "not effective"
    (problem,) = held_out_gate(with_result(evaluated), TrainingOptions()).problems
    assert problem.startswith("held-out: judge lenient: said prevents to 4 of 8 failures")


def test_a_judge_that_says_prevents_to_half_the_other_kinds_is_lenient() -> None:
    found = failures(4, 4)
    verdicts = judged(found, {"rounding": "prevents", "client": "irrelevant"})
    # edit 2 (the client rule) "prevents" 2 of the 4 rounding failures too: 2 of 8 is not lenient
    twice = [
        v.model_copy(update={"verdict": "prevents"}) if v.edit == 2 and v.sample in ("s0", "s1")
        else v
        for v in verdicts
    ]  # fmt: skip
    assert held_out_gate(with_result(result(twice, found)), TrainingOptions()) == Gate()
    # ... to 4 of the 8 other-kind failures over both edits: half, lenient
    half = [
        v.model_copy(update={"verdict": "prevents"}) if v.edit == 2 and v.sample in found_ids(found)
        else v
        for v in verdicts
    ]  # fmt: skip
    (problem,) = held_out_gate(with_result(result(half, found)), TrainingOptions()).problems
    assert problem.startswith("held-out: judge lenient: said prevents to 4 of 8 failures")


def found_ids(found: list[HeldOutFailure]) -> set[str]:
    """The samples of the rounding failures."""
    return {f.sample for f in found if f.cluster == "rounding"}


@pytest.mark.parametrize(
    ("own", "other", "outcome"),
    [
        (2, 9, "too few to judge"),  # fewer than three of its kind
        (3, 3, "too few to judge"),  # at best p = 1/C(6,3) = 0.05: cannot decide
        (3, 4, "effective"),  # at best p = 1/C(7,3) = 0.029
    ],
)
def test_a_design_that_cannot_reach_five_percent_is_too_few_to_judge(
    own: int, other: int, outcome: str
) -> None:
    assert decide(own, own, other, 0)[0] == outcome


def test_an_edit_targets_the_clusters_whose_problems_show_the_evidence_it_cites() -> None:
    problems = [("rounding", ["t::round", "r1"]), ("client", ["t::client"]), ("other", ["x"])]
    assert edit_targets([ROUND, CLIENT], problems) == TARGETS


def with_result(evaluated: HeldOutResult, *changes: Change) -> Candidate:
    return Candidate(
        target="coder", base_version="v", files=(PromptFile(path="CLAUDE.md", content="x\n"),),
        analysis_summary="", usage=TokenUsage(), sample_ids=(),
        changes=changes or (ROUND, CLIENT), evaluation=evaluated,
    )  # fmt: skip


def test_the_gate_drafts_instead_of_blocking_when_asked_and_ignores_it_when_off() -> None:
    found = failures(4, 4)
    irrelevant = judged(found, {"rounding": "irrelevant", "client": "irrelevant"})
    nothing = result([v.model_copy(update={"verdict": "irrelevant"}) for v in irrelevant], found)
    assert held_out_gate(with_result(nothing), TrainingOptions()).problems
    draft = held_out_gate(with_result(nothing), TrainingOptions(require_improvement="draft"))
    assert draft.problems == () and draft.draft[0].endswith(
        "opened as a draft (training.require_improvement: draft)"
    )
    assert held_out_gate(with_result(nothing), TrainingOptions(require_improvement=False)) == (
        held_out_gate(with_result(nothing.model_copy(update={"edits": ()})), TrainingOptions())
    )


def test_too_few_failures_of_their_kind_pass_with_that_label() -> None:
    found = failures(3, 1)
    evaluated = result(judged(found, {"rounding": "prevents", "client": "irrelevant"}), found)
    assert evaluated.verdict == "too few to judge"
    assert held_out_gate(with_result(evaluated), TrainingOptions()).problems == ()
    # ... unless the judge says no edit prevents even one failure of its kind
    never = result(judged(found, {"rounding": "irrelevant", "client": "irrelevant"}), found)
    only_round = never.model_copy(update={"edits": never.edits[:1]})
    assert held_out_gate(with_result(only_round, ROUND), TrainingOptions()).problems


def test_an_unreadable_evaluation_is_a_draft_whatever_require_improvement_says() -> None:
    found = failures(4, 4)
    asked = Asked(
        samples=tuple(f.sample for f in found), checked=(), unreadable=("s0", "s1", "s2"),
        unreadable_items=("s3: no verdict for D1 on F1",), expected=16, calls=8, max_calls=10,
    )  # fmt: skip
    verdicts = judged(found, {"rounding": "prevents", "client": "irrelevant"})[:4]
    evaluated = summarize([ROUND, CLIENT], found, verdicts, TARGETS, asked=asked)
    assert evaluated.verdict == "unreadable"
    for require in (True, False, "draft"):
        gate = held_out_gate(with_result(evaluated), TrainingOptions(require_improvement=require))
        assert gate.problems == () and "could not be read" in gate.draft[0]


def test_the_pairwise_judges_worse_verdict_blocks_or_drafts() -> None:
    worse = HeldOutResult(judge="pairwise", wins=0, losses=9, verdict="worse", p_value=0.0039)
    assert held_out_gate(with_result(worse), TrainingOptions()).problems == (
        "held-out: the judge prefers the current prompts (0 better, 9 worse, 0 tied, sign test "
        "p=0.0039); training.require_improvement is on",
    )
    assert held_out_gate(with_result(worse), TrainingOptions(require_improvement="draft")).draft
