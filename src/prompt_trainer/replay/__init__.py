"""Replay (an evaluate step): rerun the agent on stored tasks with the current prompts and with a
candidate, and let the repository's tests decide.

Takes the settings, a target, the candidate's files and the stored samples; returns a
``ReplayResult`` (``models``). A task is a stored sample of the target's current prompts with a
task (its PR's title and body) and a base commit in this clone; by default the held-out samples
(``evaluate.split.split_by_time`` with ``training.holdout``, the trainer's split), newest first, at
most ``replay.tasks``. A sample without a task or a base commit is a ``Skipped`` with the reason.
Each (task, variant) runs ``replay.repeat`` times, the variants' order alternating from run to
run (``runner.run_job``: a fresh worktree each time). The variants are ``current`` (the target's
files at the task's base commit, read as the target defines them) and ``candidate``.

The comparison is paired per task: a task is decided when the two variants' pass rates differ,
and the exact two-sided sign test (``measure.stats.sign_test``) runs over the decided tasks. The
verdict is "better" or "worse" only when p < ``ALPHA``; with fewer than ``MIN_DECIDED`` decided
tasks it is "too few to judge" (6 is the smallest count at which the test can reach p < 0.05: six
of six gives p = 0.031, five of five p = 0.062); otherwise "no difference". Runs stop early
once the traces report ``replay.max_usd``. ``result.json`` and every run's evidence stay under
``.prompt-trainer/replay/<timestamp>-<target>/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from prompt_trainer import workdir
from prompt_trainer.errors import ConfigError
from prompt_trainer.evaluate.split import split_by_time, when
from prompt_trainer.measure.stats import sign_test, sign_verdict
from prompt_trainer.models import (
    PromptFile,
    Replayed,
    ReplayResult,
    ReplayRun,
    ReplayTask,
    Sample,
    Skipped,
)
from prompt_trainer.replay.runner import Commands, Job, run_job
from prompt_trainer.settings import Settings, Target
from prompt_trainer.targets import GitSource, LocalSource, load_prompt_set

#: A verdict needs this many tasks whose pass rates differ (see the module docstring).
MIN_DECIDED = 6
ALPHA = 0.05
RULE = (
    f"better/worse when the sign test over the tasks whose pass rates differ gives p < {ALPHA}; "
    f"too few to judge below {MIN_DECIDED} such tasks"
)
VARIANTS: tuple[Literal["current", "candidate"], ...] = ("current", "candidate")
Log = Callable[[str], None]


@dataclass(frozen=True)
class Task:
    """A sample replayed: its id, the task text and the commit the agent started from."""

    sample: str
    text: str
    base_sha: str


def task_text(sample: Sample) -> str:
    """The task the agent was given: the PR's title, a blank line, its body."""
    return "\n\n".join(
        part for part in (sample.pull.title.strip(), sample.pull.body.strip()) if part
    )


def select_tasks(
    samples: list[Sample], target: str, version: str, *, root: Path, holdout: float, limit: int
) -> tuple[list[Task], list[Skipped]]:
    """The tasks to replay (newest first, at most ``limit``) and the samples left out, with why:
    the held-out samples of the version (all of them when nothing is held out)."""
    of_version = [s for s in samples if s.prompt_versions.get(target) == version]
    _, held = split_by_time(of_version, holdout)
    tasks: list[Task] = []
    skipped: list[Skipped] = []
    for sample in sorted(held or of_version, key=lambda s: (when(s), s.id), reverse=True):
        if len(tasks) == limit:
            break
        why = _unusable(sample, root)
        if why:
            skipped.append(Skipped(source=sample.id, reason=why))
        else:
            tasks.append(Task(sample.id, task_text(sample), sample.pull.base_sha or ""))
    return tasks, skipped


def _unusable(sample: Sample, root: Path) -> str:
    if not task_text(sample):
        return "no task: the pull request has no title or body"
    if not sample.pull.base_sha:
        return "no base commit recorded for the pull request"
    if GitSource.at(root, sample.pull.base_sha) is None:
        return (
            f"base commit {sample.pull.base_sha[:12]} is not in this clone "
            "(fetch it, e.g. actions/checkout with fetch-depth: 0)"
        )
    return ""


def load_candidate(
    root: Path, target: Target, folder: Path | None
) -> tuple[Path, tuple[PromptFile, ...]]:
    """The candidate folder (``folder``, else the target's newest ``candidate-NNN``) and its
    prompt files: those its ``candidate.json`` lists, else the target's files inside it."""
    folder = folder or latest_candidate(root, target.name)
    listed = folder / "candidate.json"
    if listed.is_file():
        paths = json.loads(listed.read_text(encoding="utf-8")).get("files") or []
        source = LocalSource(folder)
        files = tuple(
            PromptFile(path=p, content=text)
            for p in paths
            if (text := source.read_text(p)) is not None
        )
    else:
        files = load_prompt_set(target, LocalSource(folder), required=False).files
    if not any(f.content for f in files):
        raise ConfigError(
            f"{folder} holds no prompt file of target {target.name!r} ({target.main})",
            fix="pass --candidate DIR with the files at their repository paths",
        )
    return folder, files


def latest_candidate(root: Path, target: str) -> Path:
    """The newest ``candidate-NNN`` folder written for the target."""
    base = workdir.candidates_dir(root, target)
    numbered = [
        (int(m.group(1)), p)
        for p in (base.iterdir() if base.is_dir() else ())
        if (m := re.fullmatch(r"candidate-(\d{3,})", p.name)) and p.is_dir()
    ]
    if not numbered:
        raise ConfigError(
            f"no candidate of target {target!r} under {base}",
            fix="run `prompt-trainer train` first, or pass --candidate DIR",
        )
    return max(numbered)[1]


def commands_of(settings: Settings) -> Commands:
    """The configured commands in the environment they get (``Settings.command_env``)."""
    options = settings.config.replay
    if not options.agent_command or not options.test_command:
        raise ConfigError(
            "replay needs replay.agent_command and replay.test_command",
            fix="set both in the configuration (docs/replay.md has recipes)",
        )
    limits = settings.config.limits
    return Commands(
        agent=options.agent_command,
        test=options.test_command,
        timeout_s=options.timeout_s,
        trace_glob=options.trace_glob,
        env=settings.command_env(),
        max_report_bytes=limits.max_report_bytes,
        max_trace_bytes=limits.max_trace_bytes,
        setup=options.setup_command,
        reuse_node_modules=options.reuse_node_modules,
    )


def replay(
    settings: Settings,
    target: Target,
    candidate: tuple[PromptFile, ...],
    samples: list[Sample],
    *,
    tasks: int | None = None,
    repeat: int | None = None,
    holdout: float | None = None,
    log: Log,
) -> ReplayResult:
    """Replay the chosen tasks with both variants and compare them (see the module docstring).
    ``holdout`` replaces ``training.holdout`` (0: ``samples`` are the held-out tasks already,
    as GEPA's replay-scored search hands them over)."""
    options, root = settings.config.replay, settings.root
    commands = commands_of(settings)
    version = load_prompt_set(target, LocalSource(root)).version
    chosen, skipped = select_tasks(
        samples, target.name, version, root=root,
        holdout=settings.config.training.holdout if holdout is None else holdout,
        limit=options.tasks if tasks is None else tasks,
    )  # fmt: skip
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = workdir.replay_dir(root) / f"{stamp}-{target.name}"
    runs: dict[str, list[ReplayRun]] = {t.sample: [] for t in chosen}
    spent, stopped = 0.0, ""
    for job in _jobs(
        chosen,
        target,
        candidate,
        root=root,
        folder=folder,
        repeat=options.repeat if repeat is None else repeat,
    ):
        if options.max_usd is not None and spent >= options.max_usd:
            stopped = (
                f"stopped after ${spent:.2f} of traced cost (replay.max_usd={options.max_usd})"
            )
            log(f"replay: {stopped}")
            break
        log(f"replay: {job.sample} {job.variant} run {job.repeat}")
        run = run_job(root, job, commands)
        log(f"replay: {job.sample} {job.variant}: {'passed' if run.passed else run.reason}")
        runs[job.sample].append(run)
        spent += run.cost_usd or 0.0
    done = tuple(
        ReplayTask(sample=t.sample, base_sha=t.base_sha, runs=tuple(runs[t.sample])) for t in chosen
    )
    result = summarize(
        target.name, done, skipped=tuple(skipped), stopped=stopped, folder=str(folder)
    )
    workdir.atomic_write(folder / "result.json", json.dumps(to_json(result), indent=2) + "\n")
    return result


def replayer(
    settings: Settings, target: Target, *, log: Log
) -> Callable[[tuple[PromptFile, ...], Sample], Replayed]:
    """GEPA's ``replay`` metric (``training.gepa.metric: replay``): one run of the agent on a
    stored sample's task, from its base commit, with a candidate's files; the tests decide.
    Its runs are kept under ``.prompt-trainer/replay/<timestamp>-<target>-gepa/``; once the
    traces report ``replay.max_usd``, no more runs are made."""
    root, options = settings.root, settings.config.replay
    commands = commands_of(settings)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = workdir.replay_dir(root) / f"{stamp}-{target.name}-gepa"
    spent: list[float] = []

    def one(files: tuple[PromptFile, ...], sample: Sample) -> Replayed:
        if options.max_usd is not None and sum(spent) >= options.max_usd:
            why = f"replay.max_usd={options.max_usd} spent (${sum(spent):.2f} traced)"
            return Replayed(passed=None, feedback=why, exhausted=True)
        why = _unusable(sample, root)
        if why:
            return Replayed(passed=None, feedback=f"not replayed: {why}")
        job = Job(
            sample=sample.id, task=task_text(sample), base_sha=sample.pull.base_sha or "",
            variant="candidate", repeat=len(spent) + 1, files=files,
            folder=folder / _slug(sample.id) / f"candidate-{len(spent) + 1}",
        )  # fmt: skip
        log(f"replay: {sample.id} with a GEPA candidate")
        run = run_job(root, job, commands)
        spent.append(run.cost_usd or 0.0)
        said = f"the tests passed ({run.tests} ran)" if run.passed else run.reason
        return Replayed(passed=run.passed, feedback=f"replayed from {job.base_sha[:12]}: {said}")

    return one


def _jobs(
    chosen: list[Task],
    target: Target,
    candidate: tuple[PromptFile, ...],
    *,
    root: Path,
    folder: Path,
    repeat: int,
) -> Iterator[Job]:
    """Every run in order: per repeat, per task, both variants, the first alternating."""
    current: dict[str, tuple[PromptFile, ...]] = {}
    for n in range(repeat):
        for index, task in enumerate(chosen):
            order = VARIANTS if (n + index) % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                if variant == "current" and task.base_sha not in current:
                    current[task.base_sha] = _current_files(target, root, task.base_sha)
                files = current[task.base_sha] if variant == "current" else candidate
                yield Job(
                    sample=task.sample, task=task.text, base_sha=task.base_sha, variant=variant,
                    repeat=n + 1, files=files,
                    folder=folder / _slug(task.sample) / f"{variant}-{n + 1}",
                )  # fmt: skip


def _current_files(target: Target, root: Path, sha: str) -> tuple[PromptFile, ...]:
    """The target's files at the commit, as the target defines them (links followed)."""
    source = GitSource(root, sha)
    return tuple(f for f in load_prompt_set(target, source, required=False).files if f.content)


def _slug(sample: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", sample).strip("-") or "sample"


def summarize(
    target: str,
    tasks: tuple[ReplayTask, ...],
    *,
    skipped: tuple[Skipped, ...] = (),
    stopped: str = "",
    folder: str = "",
) -> ReplayResult:
    """The paired comparison: decided tasks, the sign test over them and the verdict."""
    wins = losses = 0
    for task in tasks:
        before, after = task.rate("current"), task.rate("candidate")
        if before is not None and after is not None and before != after:
            wins, losses = wins + (after > before), losses + (after < before)
    p_value = sign_test(wins, losses)
    return ReplayResult(
        target=target, tasks=tasks, skipped=skipped, decided_tasks=wins + losses,
        candidate_better=wins, p_value=p_value, verdict=verdict(wins, losses, p_value),
        stopped=stopped, folder=folder,
    )  # fmt: skip


def verdict(wins: int, losses: int, p_value: float | None) -> str:
    """``RULE`` applied."""
    return sign_verdict(
        wins, losses, p_value, min_decided=MIN_DECIDED, alpha=ALPHA, tie="no difference"
    )


def to_json(result: ReplayResult) -> dict[str, Any]:
    """The object ``replay --json`` prints (the issue's shape, plus cost, runs and skips)."""
    runs = [r for t in result.tasks for r in t.runs]
    return {
        "target": result.target,
        "tasks": [
            {
                "sample": t.sample,
                "current": t.outcomes("current"),
                "candidate": t.outcomes("candidate"),
                "base_sha": t.base_sha,
                "runs": [r.model_dump(mode="json") for r in t.runs],
            }
            for t in result.tasks
        ],
        "variants": {
            v: {
                "runs": sum(r.variant == v for r in runs),
                "passed": sum(r.passed for r in runs if r.variant == v),
            }
            for v in VARIANTS
        },
        "decided_tasks": result.decided_tasks,
        "p_value": result.p_value,
        "verdict": result.verdict,
        "rule": RULE,
        "cost": cost(runs),
        "skipped": [{"sample": s.source, "reason": s.reason} for s in result.skipped],
        "stopped": result.stopped or None,
        "not_run": result.not_run or None,
        "folder": result.folder or None,
    }


def cost(runs: list[ReplayRun]) -> dict[str, float | int | None]:
    """Seconds, and tokens and USD when the traces said (None otherwise)."""

    def known(values: list[Any]) -> Any:
        found = [v for v in values if v is not None]
        return sum(found) if found else None

    return {
        "seconds": round(sum(r.seconds for r in runs), 3),
        "input_tokens": known([r.input_tokens for r in runs]),
        "output_tokens": known([r.output_tokens for r in runs]),
        "usd": known([r.cost_usd for r in runs]),
    }


def table(result: ReplayResult) -> str:
    """The plain-text table ``replay`` prints."""
    data = to_json(result)
    width = max([len("sample"), *(len(t.sample) for t in result.tasks)])
    lines = [f"replay of {result.target}: {len(result.tasks)} task(s)"]
    lines.append(f"{'sample':<{width}}  current  candidate")
    for task in result.tasks:
        before, after = _cell(task.outcomes("current")), _cell(task.outcomes("candidate"))
        lines.append(f"{task.sample:<{width}}  {before:<7}  {after}")
    variants = data["variants"]
    lines.append(
        f"runs passed: current {variants['current']['passed']}/{variants['current']['runs']}, "
        f"candidate {variants['candidate']['passed']}/{variants['candidate']['runs']}"
    )
    p = f", sign test p={result.p_value:.2g}" if result.p_value is not None else ""
    lines.append(f"decided tasks: {result.decided_tasks}{p}: {result.verdict} ({RULE})")
    lines.append(_cost_line(data["cost"]))
    lines += [f"skipped {s.source}: {s.reason}" for s in result.skipped]
    lines += [f"note: {text}" for text in (result.stopped, result.not_run) if text]
    if result.folder:
        lines.append(f"kept in {result.folder}")
    return "\n".join(lines)


def _cell(outcomes: list[bool]) -> str:
    return f"{sum(outcomes)}/{len(outcomes)}" if outcomes else "-"


def _cost_line(spent: dict[str, Any]) -> str:
    parts = [f"{spent['seconds']:.1f} s"]
    if spent["input_tokens"] is not None or spent["output_tokens"] is not None:
        parts.append(
            f"{spent['input_tokens'] or 0} input / {spent['output_tokens'] or 0} output tokens"
        )
    if spent["usd"] is not None:
        parts.append(f"${spent['usd']:.2f}")
    return "cost: " + ", ".join(parts)
