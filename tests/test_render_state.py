"""The PR state block: bodies the bot wrote read back, and are written again byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompt_trainer.render.state import (
    ProposalState,
    StateChange,
    read_state,
    replace_state,
    revert_state,
    revised,
    state_text,
)

GOLDEN = Path(__file__).parent / "golden"
#: Bodies written by the bot: the PR body goldens, a revert, and a body revised by 0.1.0 (the
#: ``respond`` of before the state block was a model wrote it: ``answered`` and a ``--``).
WRITTEN = (
    "pr_body/first_proposal.md",
    "pr_body/evolve_with_metrics.md",
    "pr_body/gate_failed.md",
    "followup/revert.md",
    "state/revised_by_0.1.0.md",
)
URL = "https://github.com/o/r/pull/12#discussion_r5"


@pytest.mark.parametrize("name", WRITTEN)
def test_a_body_the_bot_wrote_reads_back_and_is_rewritten_unchanged(name: str) -> None:
    body = (GOLDEN / name).read_text()
    state = read_state(body)
    assert state is not None and state.target == "coder"
    assert replace_state(body, state) == body


def test_a_revision_writes_the_block_0_1_0_wrote() -> None:
    body = (GOLDEN / "pr_body/first_proposal.md").read_text()
    state = read_state(body)
    assert state is not None and state.commit is None and not state.answered
    change = StateChange(
        path=".claude/agents/test-runner.md",
        op="replace",
        text="Run `pytest --lf` -- then the rest.",
        evidence=(URL,),
    )
    after = revised(
        state,
        fingerprint="f" * 64,
        commit="c" * 40,
        answered=(URL, "review-3"),
        changes=(change,),
    )
    assert replace_state(body, after) == (GOLDEN / "state/revised_by_0.1.0.md").read_text()
    back = read_state(replace_state(body, after))
    assert back is not None and back.changes[-1] == change and back.answered == (URL, "review-3")


def test_a_revert_block_keeps_its_order() -> None:
    text = state_text(revert_state(target="coder", commit="abc123"))
    assert text == '{"revert": true, "target": "coder", "commit": "abc123"}'


def test_an_older_block_parses_and_keeps_its_keys() -> None:
    body = (
        'Body.\n\n<!-- prompt-trainer-state {"target": "coder", "later": 1, "changes": '
        '[{"path": "CLAUDE.md", "op": "add", "text": "Skip slow tests.", "evidence": ["t::a"]}]}'
        " -->\n"
    )
    state = read_state(body)
    assert state == ProposalState(
        target="coder",
        changes=(
            StateChange(path="CLAUDE.md", op="add", text="Skip slow tests.", evidence=("t::a",)),
        ),
    )
    assert state is not None and state.fingerprint is None and not state.revert
    # Written again: only the keys it had (a key this version does not know is dropped).
    assert state_text(state) == (
        '{"changes": [{"evidence": ["t::a"], "op": "add", "path": "CLAUDE.md", '
        '"text": "Skip slow tests."}], "target": "coder"}'
    )


@pytest.mark.parametrize(
    "block",
    ["not json", '["a list"]', '{"fingerprint": "no target"}', '{"target": 5}'],
)
def test_a_block_that_is_not_a_state_is_none(block: str) -> None:
    assert read_state(f"Body.\n\n<!-- prompt-trainer-state {block} -->\n") is None
