"""Evaluate stage: guardrails a candidate must pass before anything is proposed, and the
repository's own evaluation command.

Guardrails check what can be checked without another LLM call: a non-empty main prompt, valid
subagent frontmatter with unique kebab-case names, at most ``max_subagents`` subagents, a size
limit in characters and estimated tokens (about four characters each), growth within a
percentage of the current size (growth under ``GROWTH_FLOOR`` characters always passes), no
secrets, no verbatim copy of long outside text (untrusted comments, test output, trace text:
``COPY_CHARS`` characters or more), and every line marked ``prompt-trainer: keep`` in the
current files still present, unchanged. A failing candidate is reported with its reasons and
never proposed.

With ``training.require_improvement`` (the default) a candidate whose held-out verdict is
"worse" is not proposed (``held_out_problems``); "too few to judge" passes and is labelled so in
the PR body.

``run_eval_command`` runs ``training.eval_command`` for the current prompts and for the
candidate, ``training.eval_repeat`` times each, in the environment it is given
(``Settings.command_env``: no tokens, API keys or ``ACTIONS_*`` variables unless
``training.eval_pass_env`` names them); its JUnit pass-rate delta is authoritative
(``eval_problems``): a drop larger than the run-to-run spread blocks.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from prompt_trainer.collect.junit import parse_report
from prompt_trainer.models import (
    Candidate,
    EvalCommandResult,
    PromptFile,
    PromptSet,
    Sample,
    Skipped,
)
from prompt_trainer.redact import redact
from prompt_trainer.settings import Target, TrainingOptions
from prompt_trainer.targets import split_frontmatter

KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
KEEP_MARKER = "prompt-trainer: keep"
COPY_CHARS = 80
#: Growth below this many characters always passes: a 100-character rules file may double.
GROWTH_FLOOR = 1_000


@dataclass(frozen=True)
class GateResult:
    """Whether the candidate may be proposed, and if not, why."""

    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def check_candidate(
    candidate: Candidate,
    current: PromptSet,
    target: Target,
    *,
    samples: list[Sample] | None = None,
    limits: TrainingOptions | None = None,
) -> GateResult:
    """Run every guardrail; collect all problems rather than stopping at the first."""
    limits = limits or TrainingOptions()
    problems: list[str] = []
    main = next((f for f in candidate.files if f.path == current.main.path), None)
    if main is None or not main.content.strip():
        problems.append(f"the candidate main prompt {current.main.path} is empty")
    problems += _subagent_problems(candidate, current, target)
    for file in candidate.files:
        if len(file.content) > limits.max_prompt_chars:
            problems.append(
                f"{file.path} has {len(file.content)} characters "
                f"(limit training.max_prompt_chars={limits.max_prompt_chars})"
            )
        if redact(file.content) != file.content or "[REDACTED:" in file.content:
            problems.append(f"{file.path} contains a secret or a redaction marker")
    problems += _size_problems(candidate, current, limits)
    problems += _keep_problems(candidate, current)
    problems += _copy_problems(candidate, samples or [])
    problems += held_out_problems(candidate, limits)
    return GateResult(problems=tuple(problems))


def held_out_problems(candidate: Candidate, limits: TrainingOptions) -> list[str]:
    """A held-out verdict of "worse" blocks when ``training.require_improvement`` is on."""
    result = candidate.evaluation
    if not limits.require_improvement or result is None or result.verdict != "worse":
        return []
    p = f", sign test p={result.p_value:.2g}" if result.p_value is not None else ""
    return [
        f"held-out: the judge prefers the current prompts ({result.wins} better, "
        f"{result.losses} worse, {result.ties} tied{p}); training.require_improvement is on"
    ]


def _size_problems(candidate: Candidate, current: PromptSet, limits: TrainingOptions) -> list[str]:
    before = sum(len(f.content) for f in current.files)
    after = sum(len(f.content) for f in candidate.files)
    problems = []
    if after // 4 > limits.max_prompt_tokens:
        problems.append(
            f"the candidate is about {after // 4} tokens "
            f"(limit training.max_prompt_tokens={limits.max_prompt_tokens})"
        )
    grown = after - before
    if before and grown > GROWTH_FLOOR and grown * 100 > limits.max_growth_pct * before:
        problems.append(
            f"the candidate grows the prompts by {(after - before) * 100 // before}% "
            f"(limit training.max_growth_pct={limits.max_growth_pct})"
        )
    return problems


def _keep_problems(candidate: Candidate, current: PromptSet) -> list[str]:
    """Lines marked ``prompt-trainer: keep`` must survive verbatim in the same file."""
    after = {f.path: f.content.split("\n") for f in candidate.files}
    problems = []
    for file in current.files:
        for line in file.content.split("\n"):
            if KEEP_MARKER in line and line not in after.get(file.path, []):
                problems.append(f"{file.path}: a line marked '{KEEP_MARKER}' was changed: {line}")
    return problems


def _outside_texts(samples: list[Sample]) -> list[str]:
    """Text written outside the trusted circle: untrusted comments, test output, traces."""
    texts = [f.body for s in samples for f in s.feedback if not f.trusted]
    texts += [c.message or c.text for s in samples for r in s.test_runs for c in r.cases]
    texts += [step.text for s in samples for t in s.traces for step in t.steps]
    return [t for t in texts if len(t) >= COPY_CHARS]


def _squash(text: str) -> str:
    return " ".join(text.split())


def _copy_problems(candidate: Candidate, samples: list[Sample]) -> list[str]:
    written = _squash(" ".join(f.content for f in candidate.files))
    for text in _outside_texts(samples):
        flat = _squash(text)
        for start in range(0, max(1, len(flat) - COPY_CHARS + 1), COPY_CHARS // 4):
            window = flat[start : start + COPY_CHARS]
            if len(window) == COPY_CHARS and window in written:
                return [f"the candidate copies outside text verbatim: {window[:60]!r}..."]
    return []


def _subagent_problems(candidate: Candidate, current: PromptSet, target: Target) -> list[str]:
    main_path = current.main.path
    names: list[str] = []
    problems: list[str] = []
    for file in candidate.files:
        if file.path == main_path:
            continue
        meta, _ = split_frontmatter(file.content)
        name = str(meta.get("name", ""))
        if not name or not meta.get("description"):
            problems.append(f"{file.path}: frontmatter needs a name and a description")
        elif not KEBAB.match(name):
            problems.append(f"{file.path}: subagent name {name!r} is not kebab-case")
        names.append(name)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"subagent names are not unique: {', '.join(repeated)}")
    if len(names) > target.max_subagents:
        problems.append(f"{len(names)} subagents, more than max_subagents={target.max_subagents}")
    return problems


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
        try:
            done = subprocess.run(  # noqa: S603 - the repository's own configured command
                ["bash", "-c", command],  # noqa: S607
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"eval_command timed out after {timeout_s} s"
        except OSError as exc:
            return f"eval_command could not start: {exc}"
        if not junit.exists():
            tail = (done.stderr or done.stdout).strip()[-300:]
            return (
                f"eval_command exited {done.returncode} without writing $PROMPT_TRAINER_JUNIT"
                + (f": {tail}" if tail else "")
            )
        report = parse_report(
            junit, source="eval_command", max_bytes=max_report_bytes, max_text=200
        )
    if isinstance(report, Skipped):
        return f"eval_command's JUnit report is unusable: {report.reason}"
    counts = report.counts()
    ran = counts["tests"] - counts["skipped"]
    return (counts["passed"] / ran if ran else None), ran


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
