"""``training.eval_command`` runs in a process group of its own, killed whole when the command
ends and when it times out: a background child it starts (a server, a watcher, something a
hostile command leaves to wait for a later step) does not outlive it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from prompt_trainer import evaluate
from prompt_trainer.settings import Settings
from prompt_trainer.targets import LocalSource, load_prompt_set
from tests.test_config_trust import JUNIT_ONE_PASS, _candidate

#: Starts a child that would live 10 minutes, its streams off ours, and notes its pid.
LEAVE_A_CHILD = "sleep 600 </dev/null >/dev/null 2>&1 & echo $! >> {pids}"


def gone(pids: list[int], *, polls: int = 500) -> list[int]:
    """The pids of ``pids`` still alive once they had time to die: SIGKILL is delivered
    asynchronously, so a killed child may still show as running just after ``killpg`` returns.
    Polls at most ``polls`` times, 10 ms apart; asserts nothing about how long it took."""
    left = [pid for pid in pids if alive(pid)]
    for _ in range(polls):
        if not left:
            break
        time.sleep(0.01)
        left = [pid for pid in left if alive(pid)]
    return left


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def run(checkout: Path, tmp_path: Path, command: str, *, timeout_s: int) -> str | None:
    settings = Settings.load(checkout / ".github" / "prompt-trainer.yml",
                             {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, root=checkout)  # fmt: skip
    current = load_prompt_set(settings.config.targets[0], LocalSource(checkout))
    result = evaluate.run_eval_command(
        command, current, _candidate(current), root=checkout, timeout_s=timeout_s,
        max_report_bytes=1_000_000, env=settings.command_env(),
    )  # fmt: skip
    return result.problem


def test_a_background_child_of_eval_command_does_not_outlive_it_when_it_exits(
    checkout: Path, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    problem = run(checkout, tmp_path, f"{LEAVE_A_CHILD.format(pids=pids)}; {JUNIT_ONE_PASS}",
                  timeout_s=60)  # fmt: skip
    started = [int(line) for line in pids.read_text().split()]
    assert started, "the command started no child: the test would prove nothing"
    assert problem is None
    assert not gone(started), "a child of eval_command outlived it"


def test_a_background_child_of_eval_command_does_not_outlive_it_when_it_times_out(
    checkout: Path, tmp_path: Path
) -> None:
    """The command starts a child, then waits on a FIFO nobody writes to, so only the timeout
    ends it. A slow machine may reach the timeout before the child has started (that run proves
    nothing): the timeout doubles until a run's child started, so no machine is too slow."""
    fifo = tmp_path / "never"
    os.mkfifo(fifo)
    for timeout_s in (1, 2, 4, 8, 16, 32):
        pids = tmp_path / f"pids-{timeout_s}"
        command = f"{LEAVE_A_CHILD.format(pids=pids)}; read -r _ < {fifo}"
        problem = run(checkout, tmp_path, command, timeout_s=timeout_s)
        assert problem == f"eval_command timed out after {timeout_s} s"
        started = [int(line) for line in pids.read_text().split()] if pids.exists() else []
        if started:
            break
    assert started, "no run's command started its child before the timeout"
    assert not gone(started), "a child of eval_command outlived it"
