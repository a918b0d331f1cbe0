"""``training.eval_command`` runs in a process group of its own, killed whole when the command
ends and when it times out: a background child it starts (a server, a watcher, something a
hostile command leaves to wait for a later step) does not outlive it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("ending", ["exits", "times out"])
def test_a_background_child_of_eval_command_does_not_outlive_it(
    checkout: Path, tmp_path: Path, ending: str
) -> None:
    pids = tmp_path / "pids"
    tail = JUNIT_ONE_PASS if ending == "exits" else "sleep 30"
    problem = run(checkout, tmp_path, f"{LEAVE_A_CHILD.format(pids=pids)}; {tail}", timeout_s=1
                  if ending == "times out" else 60)  # fmt: skip
    started = [int(line) for line in pids.read_text().split()]
    assert started, "the command started no child: the test would prove nothing"
    if ending == "times out":
        assert problem == "eval_command timed out after 1 s"
    else:
        assert problem is None
    assert not gone(started), "a child of eval_command outlived it"
