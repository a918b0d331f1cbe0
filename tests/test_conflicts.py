"""An edit the per-edit judge says conflicts with a held-out PR is taken out of the candidate,
byte for byte; one that cannot be found again blocks instead of staying in."""

from __future__ import annotations

from prompt_trainer.evaluate.conflicts import without_conflicts
from prompt_trainer.evaluate.effects import Asked, summarize
from prompt_trainer.models import Candidate, Change, EditVerdict, PromptFile, PromptSet, TokenUsage
from tests.test_effects import CLIENT, ROUND

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
