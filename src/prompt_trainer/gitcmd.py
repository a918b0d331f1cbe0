"""Every git command the project runs: ``run_git``, with hooks off and a minimal environment.

Used by ``targets.git`` (prompt files at a commit, the version history ``measure`` reads) and the
replay's worktrees (``replay/runner.py``). A replayed agent and ``eval_command`` run in a clone
they can write to: a ``.git/hooks/post-checkout`` they leave, or a ``core.fsmonitor`` command in
``.git/config``, would otherwise run with prompt-trainer's own environment at the next ``git
worktree add``. So every git runs with ``core.hooksPath=/dev/null`` and ``core.fsmonitor=false``,
without the system configuration, and with an environment of ``PATH``, ``HOME`` and the locale
only (plus ``GIT_TERMINAL_PROMPT=0``): no token, no key, and no ``GIT_DIR``-like variable that
would point it at another repository.

This reads ``PATH``, ``HOME`` and the locale of the process (a departure from "only settings reads
the environment": git must be found and behave as the user's, and nothing else is passed on).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

#: Options given before every subcommand: no hook and no fsmonitor command ever runs.
SAFE_OPTIONS = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")
#: Variables of the process git keeps; everything else is dropped.
KEPT = ("PATH", "HOME", "LANG", "LANGUAGE")


def git_environment() -> dict[str, str]:
    """``PATH``, ``HOME`` and the locale of the process, no terminal prompt, no system config."""
    kept = {k: v for k, v in os.environ.items() if k in KEPT or k.startswith("LC_")}
    return {**kept, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}


def run_git(root: Path, *args: str, timeout_s: int = 60) -> subprocess.CompletedProcess[str]:
    """``git -C root <SAFE_OPTIONS> args`` in ``git_environment``; output decoded as UTF-8
    (undecodable bytes replaced). Raises ``OSError`` when git cannot start and
    ``subprocess.TimeoutExpired`` after ``timeout_s``."""
    return subprocess.run(  # noqa: S603 - fixed git subcommands, no shell
        ["git", "-C", str(root), *SAFE_OPTIONS, *args],  # noqa: S607 - git from PATH
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        check=False,
        env=git_environment(),
        timeout=timeout_s,
    )
