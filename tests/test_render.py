"""The PR body: golden file, neutralized outside text, and the length limit."""

from __future__ import annotations

from datetime import UTC, datetime

from prompt_trainer.models import (
    Candidate,
    Feedback,
    PromptFile,
    PromptSet,
    PullRequestInfo,
    Sample,
    Skipped,
    TestCase,
    TestRun,
    TokenUsage,
)
from prompt_trainer.render import BODY_LIMIT, ProposalView, render_body, render_title

CURRENT = PromptSet(
    target="coder",
    main=PromptFile(path="CLAUDE.md", content="# Rules\n- a\n"),
    files=(PromptFile(path="CLAUDE.md", content="# Rules\n- a\n"),),
)


def view(
    *, analysis: str = "Added rule b (tests.t::x).", comment: str = "Please use @maria's helper"
) -> ProposalView:
    sample = Sample(
        id="o/r#7",
        collected_at=datetime(2026, 1, 1, tzinfo=UTC),
        pull=PullRequestInfo(number=7, title="Fix fees", url="https://github.com/o/r/pull/7"),
        test_runs=(
            TestRun(
                source="junit/r.xml",
                cases=(
                    TestCase(classname="t", name="x", status="failed", message="assert 1 == 2"),
                    TestCase(classname="t", name="y", status="passed"),
                ),
            ),
        ),
        feedback=(
            Feedback(
                kind="review_comment",
                id="review-comment-5",
                author="maria",
                trusted=True,
                body=comment,
                path="fees.py",
                line=3,
                url="https://github.com/o/r/pull/7#discussion_r5",
            ),
        ),
        skipped=(Skipped(source="artifact old (run 1)", reason="artifact expired"),),
    )
    candidate = Candidate(
        target="coder",
        base_version=CURRENT.version,
        files=(PromptFile(path="CLAUDE.md", content="# Rules\n- a\n- b\n"),),
        analysis_summary=analysis,
        usage=TokenUsage(calls=1, input_tokens=1000, output_tokens=200),
        sample_ids=("o/r#7",),
    )
    return ProposalView(
        candidate=candidate,
        current=CURRENT,
        samples=[sample],
        model="openai/gpt-4.1",
        skipped=list(sample.skipped),
    )


def test_first_proposal_body(golden: object) -> None:
    proposal = view()
    assert render_title(proposal) == "prompt-trainer: improve coder (1 samples)"
    golden("pr_body/first_proposal.md", render_body(proposal))  # type: ignore[operator]


def test_outside_text_cannot_ping_or_break_out() -> None:
    body = render_body(view(comment="@everyone ```\n## injected heading"))
    assert "@everyone" not in body and "@\u200beveryone" in body
    assert "> ## injected heading" in body


def test_body_fits_githubs_limit_and_keeps_the_state_block() -> None:
    body = render_body(view(analysis="x" * 100_000))
    assert len(body) <= BODY_LIMIT
    assert body.rstrip().endswith("-->") and "prompt-trainer-state" in body
