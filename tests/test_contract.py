"""A run's outcome is built once from its per-target results (loop/contract.py)."""

from __future__ import annotations

from pathlib import Path

from prompt_trainer.loop.contract import RunOutcome, TargetResult
from prompt_trainer.propose import Proposal


def test_the_outcome_says_per_target_what_happened_and_why_not() -> None:
    rejected = Proposal("main", "rejected", candidate_dir=Path("c/main/candidate-001"))
    results = [
        TargetResult("main", body="body", gate_problems=("too long",), proposal=rejected),
        TargetResult("rules", skipped="2 stored sample(s) ran on the current prompts"),
        TargetResult("docs", blocked="all evidence is held out"),
    ]
    outcome = RunOutcome.of(results, message="done")
    assert outcome.proposals == (rejected,)
    assert outcome.gate_failures == {"main": ("too long",)}
    assert outcome.blocked == {"docs": "all evidence is held out"}
    assert outcome.skipped_targets == {
        "main": "candidate rejected by guardrails: too long",
        "rules": "2 stored sample(s) ran on the current prompts",
        "docs": "all evidence is held out",
    }
    assert outcome.message == "done" and outcome.candidates == () and outcome.bodies == {}
