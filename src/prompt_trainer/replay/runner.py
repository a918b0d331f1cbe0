"""One replay run: a fresh detached worktree at the task's base commit, the variant's prompt files
written at their repository paths, the agent command, then the test command; the worktree is
removed afterwards.

Before the agent, the worktree is made ready once: the checkout's ``node_modules`` linked in
when the lockfiles match (``replay.reuse``, with ``replay.reuse_node_modules``), then
``replay.setup_command`` (a failure is the run's failure, "setup: ...").

Takes the repository root, the task, the variant's files, the commands and the environment, and
returns a ``ReplayRun`` (a value: an agent that times out, a test command that writes no report or
a prompt path that leaves the worktree is a failed run with its reason). What the run leaves is
kept in its folder under the replay's directory: ``task.md``, ``setup.log``, ``agent.log``,
``tests.log``, ``junit.xml`` and ``traces/``. The user's checkout is never touched: ``git
worktree add --detach`` creates no branch, and ``git worktree remove --force`` then ``git
worktree prune`` forget the worktree again. Every git runs with hooks off and a minimal environment
(``gitcmd.run_git``), so a hook the agent writes into the shared ``.git`` never runs. Commands run
in their own process group, which is killed whole on a timeout and when the command ends (an
agent's children do not outlive it: ``shellcmd``).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from prompt_trainer.collect.junit import parse_report
from prompt_trainer.collect.traces import parse_trace
from prompt_trainer.errors import PromptTrainerError
from prompt_trainer.gitcmd import run_git
from prompt_trainer.models import PromptFile, ReplayRun, Skipped, Trace
from prompt_trainer.replay.reuse import reuse_node_modules
from prompt_trainer.shellcmd import run_in_group

#: Variables that would point git at another repository than the worktree.
GIT_LOCATION_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR")
#: Characters of a command's output quoted in a reason.
TAIL = 300


@dataclass(frozen=True)
class Job:
    """What one run needs: the task, the variant and where its evidence goes."""

    sample: str
    task: str
    base_sha: str
    variant: Literal["current", "candidate"]
    repeat: int
    files: tuple[PromptFile, ...]
    folder: Path


@dataclass(frozen=True)
class Commands:
    """The configured commands and their limits (``replay:``), and the commands' environment."""

    agent: str
    test: str
    timeout_s: int
    trace_glob: str | None
    env: Mapping[str, str]
    max_report_bytes: int
    max_trace_bytes: int
    #: ``replay.setup_command``, run once in each fresh worktree before the agent.
    setup: str | None = None
    reuse_node_modules: bool = False


class WorktreeError(PromptTrainerError):
    """``git worktree add`` failed: the repository cannot be replayed at all."""


def run_job(root: Path, job: Job, commands: Commands) -> ReplayRun:
    """Run the agent and the tests for one job in a worktree of its own."""
    job.folder.mkdir(parents=True, exist_ok=True)
    (job.folder / "task.md").write_text(job.task, encoding="utf-8")
    started = time.monotonic()
    with worktree(root, job.base_sha) as tree:
        run = _prepared(root, tree, job, commands) or _in_worktree(tree, job, commands)
    return run.model_copy(update={"seconds": round(time.monotonic() - started, 3)})


def _prepared(root: Path, tree: Path, job: Job, commands: Commands) -> ReplayRun | None:
    """Make the worktree ready: link the checkout's ``node_modules`` when the lockfiles
    allow (``replay.reuse``), then ``replay.setup_command``; a failed run when it fails."""
    log = job.folder / "setup.log"
    reused: list[str] = []
    said = ""
    if commands.reuse_node_modules:
        reused, why = reuse_node_modules(root, tree)
        said = f"prompt-trainer: reused {', '.join(reused)}\n" if reused else ""
        said = said or f"prompt-trainer: node_modules not reused: {why}\n"
    if commands.setup is None:
        if said:
            log.write_text(said, encoding="utf-8")
        return None
    env = {**_env(commands.env, job), "PROMPT_TRAINER_REUSED": " ".join(reused)}
    problem = run_command(commands.setup, cwd=tree, env=env, log=log, timeout_s=commands.timeout_s)
    reason = f"setup: {problem}{_tail(log)}" if problem else ""
    with contextlib.suppress(OSError):
        log.write_bytes(said.encode() + log.read_bytes())
    if not reason:
        return None
    base = ReplayRun(variant=job.variant, repeat=job.repeat, passed=False, folder=str(job.folder))
    return base.model_copy(update={"reason": reason})


def _in_worktree(tree: Path, job: Job, commands: Commands) -> ReplayRun:
    base = ReplayRun(variant=job.variant, repeat=job.repeat, passed=False, folder=str(job.folder))
    problem = write_files(tree, job.files)
    if problem:
        return base.model_copy(update={"reason": problem})
    env = _env(commands.env, job)
    agent = run_command(commands.agent, cwd=tree, env=env, log=job.folder / "agent.log",
                        timeout_s=commands.timeout_s)  # fmt: skip
    traces = keep_traces(tree, job.folder, commands)
    base = base.model_copy(update=_trace_totals(traces))
    if agent is not None:
        return base.model_copy(update={"reason": f"agent: {agent}"})
    junit = job.folder / "junit.xml"
    tests = run_command(commands.test, cwd=tree, env={**env, "PROMPT_TRAINER_JUNIT": str(junit)},
                        log=job.folder / "tests.log", timeout_s=commands.timeout_s)  # fmt: skip
    return _judged(base, junit, tests, job.folder / "tests.log", commands.max_report_bytes)


def _env(base: Mapping[str, str], job: Job) -> dict[str, str]:
    kept = {k: v for k, v in base.items() if k not in GIT_LOCATION_VARS}
    return {
        **kept,
        "PROMPT_TRAINER_TASK": job.task,
        "PROMPT_TRAINER_TASK_FILE": str(job.folder / "task.md"),
        "PROMPT_TRAINER_VARIANT": job.variant,
        "PROMPT_TRAINER_SAMPLE": job.sample,
    }


def _judged(
    base: ReplayRun, junit: Path, problem: str | None, log: Path, max_bytes: int
) -> ReplayRun:
    """Pass: a report with at least one test and no failures or errors."""
    if not junit.is_file():
        why = problem or "exited 0"
        return base.model_copy(
            update={"reason": f"tests: {why} without writing $PROMPT_TRAINER_JUNIT{_tail(log)}"}
        )
    report = parse_report(junit, source="replay", max_bytes=max_bytes, max_text=200)
    if isinstance(report, Skipped):
        return base.model_copy(update={"reason": f"tests: unusable report: {report.reason}"})
    counts = report.counts()
    # cancelled tests, files that failed to import and suites whose hooks threw fail a replay
    # (a file or suite error counts as one more test that ran and did not pass)
    ran = counts["tests"] - counts["skipped"] + report.suite_errors
    failed = counts["failed"] + counts["errors"] + report.count("cancelled") + report.suite_errors
    update: dict[str, object] = {"tests": ran, "failed": failed, "passed": ran > 0 and not failed}
    if ran == 0:
        update["reason"] = "tests: the report has no test that ran"
    elif failed:
        update["reason"] = f"tests: {failed} of {ran} failed or errored"
    elif problem:
        update["reason"] = f"tests: {problem} (the report passes)"
    return base.model_copy(update=update)


def _tail(log: Path) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return f": {text[-TAIL:]}" if text else ""


@contextmanager
def worktree(root: Path, sha: str) -> Iterator[Path]:
    """A detached worktree of ``root`` at ``sha`` in a temporary directory, removed afterwards
    (also when the run fails)."""
    holder = Path(tempfile.mkdtemp(prefix="prompt-trainer-replay-"))
    tree = holder / "tree"
    done = _git(root, "worktree", "add", "--detach", "--quiet", str(tree), sha)
    if done.returncode != 0:
        _remove_holder(holder)
        raise WorktreeError(
            f"git worktree add at {sha[:12]} failed: {done.stderr.strip()[-TAIL:]}",
            fix="run replay in a full clone (actions/checkout with fetch-depth: 0)",
        )
    try:
        yield tree
    finally:
        _git(root, "worktree", "remove", "--force", str(tree))
        _git(root, "worktree", "prune")
        _remove_holder(holder)


def _remove_holder(holder: Path) -> None:
    shutil.rmtree(holder, ignore_errors=True)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Hooks off and a minimal environment (``gitcmd``): the agent of an earlier run may have
    written ``.git/hooks/post-checkout`` in the shared repository."""
    return run_git(root, *args, timeout_s=300)


def write_files(tree: Path, files: tuple[PromptFile, ...]) -> str | None:
    """Write each prompt file at its repository path in the worktree; the reason when a path is
    absolute, climbs out with ``..`` or (through a link) lands outside the worktree."""
    top = tree.resolve()
    for file in files:
        relative = PurePosixPath(file.path)
        if relative.is_absolute() or ".." in relative.parts:
            return f"prompt path {file.path!r} is outside the repository"
        path = tree.joinpath(*relative.parts)
        if not path.resolve().is_relative_to(top):
            return f"prompt path {file.path!r} is a link out of the repository"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.content, encoding="utf-8")
    return None


def run_command(
    command: str, *, cwd: Path, env: Mapping[str, str], log: Path, timeout_s: int
) -> str | None:
    """Run ``command`` with bash in ``cwd``, output (both streams) to ``log``; None when it
    exits 0, else why not. Its whole process group is killed on a timeout and when it ends
    (``shellcmd.run_in_group``)."""
    with log.open("wb") as out:
        try:
            code = run_in_group(command, cwd=cwd, env=env, out=out, timeout_s=timeout_s)
        except OSError as exc:
            return f"could not start: {exc}"
    if code is None:
        return f"timed out after {timeout_s} s (replay.timeout_s)"
    return None if code == 0 else f"exited {code}"


def keep_traces(tree: Path, folder: Path, commands: Commands) -> list[Trace]:
    """Copy the files ``replay.trace_glob`` matches in the worktree to ``traces/`` and parse
    them with the project's trace collectors (unreadable ones are left out)."""
    if not commands.trace_glob:
        return []
    top, kept = tree.resolve(), []
    for index, found in enumerate(sorted(tree.glob(commands.trace_glob))):
        if not found.is_file() or not found.resolve().is_relative_to(top):
            continue
        copy = folder / "traces" / f"{index:02d}-{found.name}"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found, copy)
        trace = parse_trace(copy, source=copy.name, max_bytes=commands.max_trace_bytes)
        if isinstance(trace, Trace):
            kept.append(trace)
    return kept


def _trace_totals(traces: list[Trace]) -> dict[str, object]:
    def total(values: list[int | None]) -> int | None:
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    costs = [t.cost_usd for t in traces if t.cost_usd is not None]
    return {
        "input_tokens": total([t.input_tokens for t in traces]),
        "output_tokens": total([t.output_tokens for t in traces]),
        "cost_usd": sum(costs) if costs else None,
    }
