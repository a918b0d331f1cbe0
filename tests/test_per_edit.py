"""What the per-edit judge is shown: each edit as its own diff, the failures with the refs of
the evidence that shows them."""

from __future__ import annotations

from prompt_trainer.evaluate.per_edit import current_prompts, edit_views, failure_views
from prompt_trainer.models import (
    Candidate,
    Change,
    HeldOutFailure,
    PromptFile,
    PromptSet,
    PullRequestInfo,
    Sample,
    TestCase,
    TestRun,
    TokenUsage,
)
from prompt_trainer.train.evidence import evidence_view
from tests.test_judge import START

BEFORE = "# Rules\n\n- Money is `Decimal`.\n- Write tests.\n"
AFTER = "# Rules\n\n- Money is `Decimal`; round with `quantize`.\n- Write tests.\n- Reuse `ApiClient`.\n"


def candidate(*changes: Change, after: str = AFTER) -> tuple[Candidate, PromptSet]:
    current = PromptSet(
        target="coder",
        main=PromptFile(path="CLAUDE.md", content=BEFORE),
        files=(PromptFile(path="CLAUDE.md", content=BEFORE),),
    )
    made = Candidate(
        target="coder", base_version=current.version,
        files=(PromptFile(path="CLAUDE.md", content=after),), analysis_summary="",
        usage=TokenUsage(), sample_ids=(), changes=changes,
    )  # fmt: skip
    return made, current


def test_each_edit_is_shown_as_its_own_diff_with_the_line_it_follows() -> None:
    made, current = candidate(
        Change(
            path="CLAUDE.md",
            op="modify",
            text="Money is `Decimal`; round with `quantize`.",
            evidence=("t",),
            replaces="Money is `Decimal`.",
        ),
        Change(path="CLAUDE.md", op="add", text="Reuse `ApiClient`.", evidence=("t",)),
    )
    first, second = edit_views(made, current)
    assert (first.ref, first.diff) == (
        "D1",
        "- - Money is `Decimal`.\n+ - Money is `Decimal`; round with `quantize`.",
    )
    assert (second.ref, second.diff) == ("D2", "  - Write tests.\n+ - Reuse `ApiClient`.")


def test_a_removed_bullet_is_shown_with_a_minus_only() -> None:
    after = "# Rules\n\n- Money is `Decimal`.\n"
    made, current = candidate(
        Change(path="CLAUDE.md", op="remove", text="Write tests.", evidence=("t",)), after=after
    )
    (view,) = edit_views(made, current)
    assert view.diff == "- - Write tests."


def test_a_failure_lists_the_refs_of_the_evidence_that_shows_it() -> None:
    case = TestCase(classname="tests.test_fees", name="test_round", status="failed", message="x")
    sample = Sample(
        id="o/r#1", pull=PullRequestInfo(number=1, title="t"), collected_at=START,
        test_runs=(TestRun(source="junit.xml", cases=(case,)),),
    )  # fmt: skip
    failure = HeldOutFailure(
        sample="o/r#1", ref="F1", cluster="c", kind="test", label="failing test: x",
        evidence=("tests.test_fees::test_round", "not-in-the-view"),
    )  # fmt: skip
    (view,) = failure_views([failure], evidence_view(sample))
    assert view.model_dump() == {
        "ref": "F1", "kind": "test", "what": "failing test: x", "evidence": ["E1"],
    }  # fmt: skip


def test_the_current_prompts_are_shown_within_their_cap_with_a_note() -> None:
    _, current = candidate()
    (shown,) = current_prompts(current)
    assert shown.text == BEFORE
    (cut,) = current_prompts(current, limit=10)
    assert cut.text == BEFORE[:10] + f"\n[... {len(BEFORE) - 10} more characters not shown]"
