"""Collect benchmark: GitHub requests per PR of a backfill, beside the code before issue 28.

Run with ``.venv/bin/python bench/collect.py [--prs 50] [--other-runs N] [--baseline REV]
[--shallow]``. Builds
``--prs`` merged agent PRs on the local GitHub server (``tests/servers/github.py``; each with a
comment and a CI run whose JUnit artifact it downloads, ``tests.scenarios.agent_pulls``), runs
``prompt-trainer collect --since`` on them in a fresh process with this tree's code, then the
same with the code of ``--baseline`` (checked out with ``git worktree``; by default the commit
this work started from), and prints for each: the requests that counted against the rate limit,
per PR, by endpoint (artifact downloads apart, as the goal of at most 8 per PR counts them), what
a second backfill over the same unchanged PRs costs (the ETags' 304s cost nothing), and the
hours of ``GITHUB_TOKEN`` budget (1,000 requests an hour) a 500-PR backfill needs, extrapolated
from the run. The checkout is a git clone holding the PRs' base commit (prompt files read from
local history); ``--shallow`` leaves the history out, as ``actions/checkout`` does by default;
``--other-runs N`` adds N workflow runs of no agent PR (pushes to main, other PRs) to the
window, which the backfill lists too. For this tree's code it also prints a resumed pass: a
backfill whose budget another job cuts half-way (it stops with its cursor), then the next run
(a fresh hour) that goes on from the cursor: its requests per PR it collected.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.scenarios import (  # noqa: E402
    CONFIG,
    MAIN_PROMPT,
    SUBAGENT,
    agent_pulls,
    clone_on_server,
)
from tests.servers.github import FakeGitHub, Hook  # noqa: E402

#: The code before the budgeted backfill (issue 28): what the numbers are compared with.
BASELINE = "72cc58e"
HOURLY = 1000  # the Actions GITHUB_TOKEN's REST requests per hour and repository
RESERVE = 200  # limits.rate_reserve: kept by each run for its own writes
COLLECT = "import sys; from prompt_trainer.cli import main; sys.exit(main(sys.argv[1:]))"


@dataclass(frozen=True)
class Measured:
    """One backfill's counted requests by endpoint, and the second backfill's total."""

    first: Counter[str]
    again: int
    answered_304: int
    #: The resumed pass: its counted requests and the PRs it read (None: not measured).
    resumed: tuple[int, int] | None = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, default=50)
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare with")
    parser.add_argument("--shallow", action="store_true", help="a checkout without history")
    parser.add_argument("--other-runs", type=int, default=0, help="N non-agent runs")
    args = parser.parse_args()
    others = args.other_runs
    current = measure(ROOT / "src", prs=args.prs, shallow=args.shallow, others=others, resume=True)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        git(ROOT, "worktree", "add", "--detach", "--quiet", str(tree), args.baseline)
        try:
            before = measure(tree / "src", prs=args.prs, shallow=args.shallow, others=others)
        finally:
            git(ROOT, "worktree", "remove", "--force", str(tree))
    report(before, current, prs=args.prs, baseline=args.baseline)


def measure(
    src: Path, *, prs: int, shallow: bool, others: int = 0, resume: bool = False
) -> Measured:
    """Two backfills of ``prs`` PRs with the code in ``src``, against a fresh local server
    that also holds ``others`` runs of no agent PR; with ``resume``, the resumed pass too."""
    github = FakeGitHub()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            checkout = make_checkout(Path(tmp) / "repo", github, shallow=shallow)
            scenario(github, prs, others)
            collect(src, checkout, github)
            first = by_endpoint(github)
            github.requests.clear()
            collect(src, checkout, github)
            again = sum(r.counted for r in github.requests)
            answered_304 = sum(r.status == 304 for r in github.requests)
    finally:
        github.close()
    resumed = resumed_pass(src, prs=prs, shallow=shallow, others=others) if resume else None
    return Measured(first, again, answered_304, resumed)


def scenario(github: FakeGitHub, prs: int, others: int) -> list[int]:
    """``prs`` agent PRs and ``others`` runs of none of them; the PR numbers, newest first
    (the order a backfill takes them in)."""
    pulls = agent_pulls(github, prs, artifacts_every=1)
    for i in range(others):  # pushes to main, other PRs: in the window, matching none
        day, hour = 1 + i % 12, i % 24
        github.add_run(f"{i:040x}", [], created_at=f"2026-10-{day:02d}T{hour:02d}:00:00Z")
    return [p.number for p in reversed(pulls)]


def resumed_pass(src: Path, *, prs: int, shallow: bool, others: int) -> tuple[int, int]:
    """A backfill whose budget another job spends half-way (down to the reserve and 5), then
    the next run an hour later, from the cursor: that run's counted requests and the PRs it
    read."""
    github = FakeGitHub()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            checkout = make_checkout(Path(tmp) / "repo", github, shallow=shallow)
            newest_first = scenario(github, prs, others)

            def another_job_spends_it() -> None:
                github.rate.used = github.rate.limit - RESERVE - 5

            half = newest_first[prs // 2]
            github.hooks.append(Hook("GET", rf"/pulls/{half}/files", another_job_spends_it))
            collect(src, checkout, github)
            github.rate.next_window()
            github.requests.clear()
            collect(src, checkout, github)
            spent = sum(r.counted for r in github.requests)
            read = sum(r.path.endswith("/reviews") and r.counted for r in github.requests)
    finally:
        github.close()
    return spent, read


def make_checkout(root: Path, github: FakeGitHub, *, shallow: bool) -> Path:
    """The repository's prompt files in a git clone whose commit is ``main`` on the server
    (with ``shallow``, the server's ``main`` is another commit: the clone lacks it)."""
    files = {
        ".github/prompt-trainer.yml": CONFIG,
        "CLAUDE.md": MAIN_PROMPT,
        ".claude/agents/test-runner.md": SUBAGENT,
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    clone_on_server(github, root, shared=not shallow)
    return root


def collect(src: Path, checkout: Path, github: FakeGitHub) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(checkout.parent),
        "PYTHONPATH": str(src),
        "GITHUB_TOKEN": github.token,
        "GITHUB_API_URL": github.api_url,
        "GITHUB_REPOSITORY": github.full_name,
        "PROMPT_TRAINER_BACKOFF_S": "0",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    command = [sys.executable, "-c", COLLECT, "collect", "--since", "2020-01-01", "-q"]
    subprocess.run(command, cwd=checkout, env=env, check=True, capture_output=True)


def by_endpoint(github: FakeGitHub) -> Counter[str]:
    """Counted requests by method and path, numbers and shas as ``{n}``."""
    prefix = f"/repos/{github.full_name}"
    found: Counter[str] = Counter()
    for request in github.requests:
        if request.counted:
            route = re.sub(r"/(\d+|[0-9a-f]{40})(?=/|$)", "/{n}", request.path.removeprefix(prefix))
            found[f"{request.method} {route or '/'}"] += 1
    return found


def report(before: Measured, after: Measured, *, prs: int, baseline: str) -> None:
    downloads = "GET /actions/artifacts/{n}/zip"
    print(f"requests counted against the rate limit, {prs}-PR backfill, per PR:")
    print(f"{'endpoint':<44} {'baseline ' + baseline:>18} {'now':>8}")
    for endpoint in sorted(set(before.first) | set(after.first)):
        old, new = before.first[endpoint] / prs, after.first[endpoint] / prs
        print(f"{endpoint:<44} {old:>18.2f} {new:>8.2f}")
    for name, measured in (("baseline", before), ("now", after)):
        total = sum(measured.first.values())
        apart = total - measured.first[downloads]
        per_pr = total / prs
        hours = per_pr * 500 / HOURLY
        runs = -(-per_pr * 500 // (HOURLY - RESERVE))
        print(
            f"{name}: {total / prs:.2f} per PR ({apart / prs:.2f} without artifact downloads); "
            f"a 500-PR backfill needs {per_pr * 500:,.0f} requests = {hours:.1f} h of "
            f"GITHUB_TOKEN budget at {HOURLY:,}/h"
            + (
                f" ({runs:.0f} hourly runs, each keeping {RESERVE} for its writes)"
                if measured is after
                else ""
            )
            + f"; the same backfill again, nothing changed: {measured.again} requests "
            f"({measured.answered_304} answered 304, free)"
        )
        if measured.resumed is not None:
            spent, read = measured.resumed
            print(
                f"{name}, resumed pass (the budget cut half-way, the next run goes on): "
                f"{spent} requests for {read} PRs = {spent / max(read, 1):.2f} per PR"
            )


def git(root: Path, *args: str) -> str:
    command = ["git", "-C", str(root), *args]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


if __name__ == "__main__":
    main()
