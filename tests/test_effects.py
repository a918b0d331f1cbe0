"""What the per-edit verdicts mean: Fisher's test of an edit's own kind against other kinds, a
lenient judge rejected, too few failures said so, the gate that blocks or drafts, and the
conflicting edit taken out of the candidate byte for byte."""

from __future__ import annotations

import pytest

from prompt_trainer.evaluate.effects import (
    Asked,
    decide,
    edit_targets,
    held_out_gate,
    summarize,
    without_conflicts,
)
from prompt_trainer.models import (
    Candidate,
    Change,
    EditVerdict,
    HeldOutFailure,
    HeldOutResult,
    PromptFile,
    PromptSet,
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
        EditVerdict(edit=1, sample=f.sample, failure="F1", verdict=answer[f.cluster])
        for f in found
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
    assert problem.startswith("held-out: no edit prevents held-out failures of its kind more")
    assert gate.draft == ()


def test_partly_counts_as_not_prevented_and_is_reported() -> None:
    found = failures(4, 4)
    answer = {"rounding": "partly", "client": "irrelevant"}
    first, _ = result(judged(found, answer), found).edits
    assert first.summary == (
        "prevents 0 of 4 held-out failures of its kind, 4 partly (other kinds: 0 of 4), p = 1"
    )
    assert first.outcome == "not effective"


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


# -- taking a conflicting edit out ------------------------------------------------------------

BEFORE = "# Rules\n\n- Money is `Decimal`.\n- Write tests.\n"


def conflicting(after: str, *changes: Change, drop: int) -> tuple[Candidate, list[str]]:
    current = PromptSet(
        target="coder", main=PromptFile(path="CLAUDE.md", content=BEFORE),
        files=(PromptFile(path="CLAUDE.md", content=BEFORE),),
    )  # fmt: skip
    verdicts = [EditVerdict(edit=drop, sample="s9", verdict="conflicts", why="E2 says so")]
    evaluated = summarize(
        changes, [], verdicts, {},
        asked=Asked((), ("s9",), (), (), expected=len(changes), calls=1, max_calls=10),
    )  # fmt: skip
    made = Candidate(
        target="coder", base_version=current.version,
        files=(PromptFile(path="CLAUDE.md", content=after),), analysis_summary="",
        usage=TokenUsage(), sample_ids=(), changes=changes, evaluation=evaluated,
    )  # fmt: skip
    return without_conflicts(made, current)


def text_of(candidate: Candidate) -> str:
    return candidate.files[0].content


def test_a_conflicting_add_is_taken_out_and_the_other_edit_stays() -> None:
    after = "# Rules\n\n- Money is `Decimal`.\n- Round with `quantize`.\n- Write tests.\n- Reuse `ApiClient`.\n"
    kept, problems = conflicting(after, ROUND, CLIENT, drop=2)
    assert problems == []
    assert (
        text_of(kept)
        == "# Rules\n\n- Money is `Decimal`.\n- Round with `quantize`.\n- Write tests.\n"
    )
    assert kept.changes == (ROUND,)
    assert kept.dropped == ("D2 add 'Reuse `ApiClient`.': conflicts with s9: E2 says so",)


def test_a_conflicting_modify_puts_the_old_bullet_back_byte_for_byte() -> None:
    modify = Change(
        path="CLAUDE.md", op="modify", text="Money is `Decimal`; round with `quantize`.",
        evidence=("t",), replaces="[B1] Money is Decimal.",
    )  # fmt: skip
    after = "# Rules\n\n- Money is `Decimal`; round with `quantize`.\n- Write tests.\n"
    kept, problems = conflicting(after, modify, drop=1)
    assert problems == [] and text_of(kept) == BEFORE and kept.changes == ()


def test_a_conflicting_removal_puts_the_bullet_back_where_it_was() -> None:
    remove = Change(path="CLAUDE.md", op="remove", text="Money is `Decimal`.", evidence=("t",))
    kept, problems = conflicting("# Rules\n\n- Write tests.\n", remove, drop=1)
    assert problems == [] and text_of(kept) == BEFORE


def test_a_learned_rules_heading_left_empty_goes_with_its_rule() -> None:
    rule = Change(path="CLAUDE.md", op="add_rule", text="Reuse `ApiClient`.", evidence=("t",))
    after = BEFORE + "\n## Learned rules\n\n- Reuse `ApiClient`.\n"
    kept, problems = conflicting(after, rule, drop=1)
    assert problems == [] and text_of(kept) == BEFORE


def test_an_edit_that_cannot_be_found_again_blocks_instead_of_being_left_in() -> None:
    ghost = Change(path="CLAUDE.md", op="add", text="Never there.", evidence=("t",))
    kept, problems = conflicting(BEFORE + "- Something else.\n", ghost, drop=1)
    assert problems == [
        "D1 conflicts with a held-out PR (s9: E2 says so) and its text could not be found "
        "(bullet not found)"
    ]
    assert kept.changes == (ghost,)
