"""Evaluate stage: the replay gate (``training.gate: replay``).

Takes the candidate, the target, the held-out samples and the settings; returns the candidate
with its ``ReplayResult`` and the problems that block it. ``replay_gate`` reruns the agent on
held-out tasks with both prompt sets (``prompt_trainer.replay``, imported only then) and a
"worse" verdict blocks (``replay_problems``); when the run may not replay (the Action replays
only on ``workflow_dispatch`` and ``schedule``: ``RunOptions.replay_skipped``) the candidate
records that the replay was not run, and nothing blocks on it.
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_trainer.models import Candidate, ReplayResult, Sample
from prompt_trainer.settings import Settings, Target


def replay_problems(result: ReplayResult) -> list[str]:
    """A replay verdict of "worse" blocks (``training.gate: replay``)."""
    if result.verdict != "worse":
        return []
    p = f", sign test p={result.p_value:.2g}" if result.p_value is not None else ""
    return [
        f"replay: the candidate passes fewer held-out tasks than the current prompts "
        f"({result.candidate_better} of {result.decided_tasks} differing tasks better{p})"
    ]


def replay_gate(
    candidate: Candidate,
    target: Target,
    *,
    samples: list[Sample],
    settings: Settings,
    not_run: str,
    log: Callable[[str], None],
) -> tuple[Candidate, list[str]]:
    """Replay the candidate against the current prompts, or record why it was not run."""
    options = settings.config.replay
    if not_run:
        log(f"evaluate: replay not run for {target.name}: {not_run}")
        return candidate.model_copy(
            update={"replay": ReplayResult(target=target.name, not_run=not_run)}
        ), []
    if not options.agent_command or not options.test_command:
        return candidate, [
            "training.gate is replay, but replay.agent_command and replay.test_command are "
            "not both set"
        ]
    from prompt_trainer.replay import replay  # noqa: PLC0415 - only with gate: replay

    log(f"evaluate: replaying held-out tasks for {target.name} (current, candidate)")
    result = replay(settings, target, candidate.files, samples, log=log)
    return candidate.model_copy(update={"replay": result}), replay_problems(result)
