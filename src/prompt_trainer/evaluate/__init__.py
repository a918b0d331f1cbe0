"""Evaluate stage (moving in: see ``guardrails``)."""

from __future__ import annotations

from prompt_trainer.evaluate.guardrails import (
    Evaluated,
    GateResult,
    check_candidate,
    eval_problems,
    evaluate_candidate,
    new_text,
    replay_gate,
    replay_problems,
    run_eval_command,
)

__all__ = [
    "Evaluated",
    "GateResult",
    "check_candidate",
    "eval_problems",
    "evaluate_candidate",
    "new_text",
    "replay_gate",
    "replay_problems",
    "run_eval_command",
]
