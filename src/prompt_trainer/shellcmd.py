"""Run one configured shell command in a process group of its own (a helper of the evaluate
stage's ``eval_command`` and the replay's setup, agent and test commands).

Takes the command, its directory, its environment (already the allow-list:
``commandenv.command_environment``), a binary file for both output streams and a timeout;
returns the exit code, or None when it timed out. The command runs as ``bash -c`` in a new
session, and its whole process group is killed when it times out, when the caller is
interrupted, and when it exits: a background child it started in that group (``sleep 600 &``,
a server, an agent's helper) does not outlive it, and holds no pipe of ours open. Output goes to
a file, not a pipe, so a child that keeps the stream open cannot make the wait outlast the
command.

This is tidiness, not containment: a child that leaves the group (``setsid``, a daemonising
helper, ``nohup setsid``) outlives the command and goes on running in the job, and no signal
from here can reliably find it (it can leave the session, clear its environment, reparent to
init). What ends it is the end of the job on an ephemeral runner (``docs/security.md``, "Where
the secrets are"); the commands run in a job that holds no secret for that reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO


def run_in_group(
    command: str, *, cwd: Path, env: Mapping[str, str], out: BinaryIO, timeout_s: float
) -> int | None:
    """``command``'s exit code (None on a timeout); nothing of its process group is left (a
    child that started a session of its own is not in it: see the module docstring)."""
    process = subprocess.Popen(  # noqa: S603 - the repository's own configured command
        ["bash", "-c", command],  # noqa: S607
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        code: int | None = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        code = None
    finally:  # a timeout, Ctrl-C, a kill of the run, or the command's normal end
        kill_group(process)
    return code


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the process group ``process`` leads (what is left of it) and reap the leader."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.wait()
