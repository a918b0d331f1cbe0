"""Evaluate stage: the repository's own evaluation command (``training.eval_command``).

Takes the command, both prompt sets, the checkout and the environment the command may see;
returns an ``EvalCommandResult``. ``run_eval_command`` runs the command for the current prompts
and for the candidate, ``training.eval_repeat`` times each, in the environment it is given
(``Settings.command_env``: no tokens, API keys or ``ACTIONS_*`` variables unless
``training.eval_pass_env`` names them); the prompt files are written under
``$PROMPT_TRAINER_PROMPTS_DIR`` at their repository paths and the command writes JUnit XML to
``$PROMPT_TRAINER_JUNIT``. Its pass-rate delta is authoritative (``eval_problems``): a drop
larger than the run-to-run spread blocks. Each run is a process group of its own
(``shellcmd.run_in_group``), killed whole on a timeout and when the command ends: a background
child it leaves in that group does not outlive it (one that starts its own session, ``setsid``,
does: only the job's end on an ephemeral runner ends it).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from prompt_trainer.collect.junit import parse_report
from prompt_trainer.models import Candidate, EvalCommandResult, PromptFile, PromptSet, Skipped
from prompt_trainer.shellcmd import run_in_group


def run_eval_command(
    command: str,
    current: PromptSet,
    candidate: Candidate,
    *,
    root: Path,
    timeout_s: int,
    max_report_bytes: int,
    env: Mapping[str, str],
    repeat: int = 1,
) -> EvalCommandResult:
    """Run ``command`` ``repeat`` times for the current prompts, then for the candidate; parse
    each JUnit file. ``env`` is the whole environment the command gets (see
    ``Settings.command_env``). Pass rates are the means over the runs; ``spread`` is the widest
    range of one prompt set's runs."""
    rates: list[tuple[float | None, int]] = []
    spread = 0.0
    for files in (current.files, candidate.files):
        runs = []
        for _ in range(repeat):
            outcome = _one_eval(command, files, root, timeout_s, max_report_bytes, base_env=env)
            if isinstance(outcome, str):
                return EvalCommandResult(command=command, problem=outcome, repeat=repeat)
            runs.append(outcome)
        known = [rate for rate, _ in runs if rate is not None]
        spread = max(spread, max(known) - min(known) if known else 0.0)
        rates.append((sum(known) / len(known) if known else None, runs[-1][1]))
    (before, n_before), (after, n_after) = rates
    return EvalCommandResult(
        command=command,
        current_pass_rate=before,
        candidate_pass_rate=after,
        current_tests=n_before,
        candidate_tests=n_after,
        repeat=repeat,
        spread=spread,
    )


def _one_eval(
    command: str,
    files: tuple[PromptFile, ...],
    root: Path,
    timeout_s: int,
    max_report_bytes: int,
    *,
    base_env: Mapping[str, str],
) -> tuple[float | None, int] | str:
    with tempfile.TemporaryDirectory(prefix="prompt-trainer-eval-") as tmp:
        prompts = Path(tmp) / "prompts"
        for file in files:
            path = prompts.joinpath(*PurePosixPath(file.path).parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(file.content, encoding="utf-8")
        junit = Path(tmp) / "junit.xml"
        env = {
            **base_env,
            "PROMPT_TRAINER_PROMPTS_DIR": str(prompts),
            "PROMPT_TRAINER_JUNIT": str(junit),
        }
        output = Path(tmp) / "output.log"
        try:
            with output.open("wb") as out:
                code = run_in_group(command, cwd=root, env=env, out=out, timeout_s=timeout_s)
        except OSError as exc:
            return f"eval_command could not start: {exc}"
        if code is None:
            return f"eval_command timed out after {timeout_s} s"
        if not junit.exists():
            tail = _tail(output)
            missing = f"eval_command exited {code} without writing $PROMPT_TRAINER_JUNIT"
            return f"{missing}: {tail}" if tail else missing
        report = parse_report(
            junit, source="eval_command", max_bytes=max_report_bytes, max_text=200
        )
    if isinstance(report, Skipped):
        return f"eval_command's JUnit report is unusable: {report.reason}"
    counts = report.counts()
    # a file that failed to import or a suite whose hook threw is not a test, but a run that
    # has one did not pass it: each counts as one more test that did not pass
    ran = counts["tests"] - counts["skipped"] + report.suite_errors
    return (counts["passed"] / ran if ran else None), ran


def _tail(output: Path) -> str:
    """The last 300 characters the command printed (both streams), read from the end."""
    with output.open("rb") as f:
        f.seek(max(0, output.stat().st_size - 1200))
        return f.read().decode("utf-8", "replace").strip()[-300:]


def eval_problems(result: EvalCommandResult) -> list[str]:
    """The authoritative verdict: a failed evaluation, or a pass rate lower by more than the
    run-to-run spread (``training.eval_repeat``), blocks."""
    if result.problem:
        return [result.problem]
    if result.delta is not None and result.delta < 0 and -result.delta > result.spread:
        runs = f" (mean of {result.repeat} runs each)" if result.repeat > 1 else ""
        return [
            f"eval_command: the candidate passes {result.candidate_pass_rate:.0%} of "
            f"{result.candidate_tests} tests, the current prompts {result.current_pass_rate:.0%}"
            + runs
        ]
    return []
