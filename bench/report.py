"""Report benchmark: ``prompt-trainer report`` over 100,000 stored samples.

Run with ``.venv/bin/python bench/report.py [--samples N] [--keep DIR]``. It writes a ledger of N
samples (three prompt versions; test runs with failures, review comments and a trace each, about
2 KB a sample), then runs the CLI in fresh processes and prints wall time and peak RSS of:
(1) the first report, which builds the SQLite index from the ledger; (2) a report with the index
in place (the target: under 2 s at 100,000 samples); (3) ``versions``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prompt_trainer import workdir
from prompt_trainer.models import (
    Feedback,
    PullRequestInfo,
    Sample,
    TestCase,
    TestRun,
    Trace,
    TraceStep,
)

CONFIG = """\
targets:
  - name: coder
    main: CLAUDE.md
"""
VERSIONS = ("a1b2c3d4e5f6", "b2c3d4e5f6a1", "c3d4e5f6a1b2")


def make_sample(n: int) -> Sample:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    failing = n % 3 == 0
    cases = (
        TestCase(
            classname=f"tests.test_mod{n % 40}",
            name=f"test_case_{n % 7}",
            status="failed",
            message=f"AssertionError: assert {n} == {n + 1} at /work/app/mod{n % 40}.py:{n % 300}",
        ),
    )
    return Sample(
        id=f"octo/app#{n}",
        pull=PullRequestInfo(
            number=n,
            url=f"https://github.com/octo/app/pull/{n}",
            merged=n % 4 != 0,
            closed_at=start + timedelta(minutes=n),
            created_at=start + timedelta(minutes=n - 30),
            first_push_ci="success" if n % 5 else "failure",
        ),
        prompt_versions={"coder": VERSIONS[n * 3 // 100_000 % 3]},
        test_runs=(TestRun(source="junit.xml", cases=cases if failing else (), plain_passes=120),),
        traces=(
            Trace(
                source="trace.jsonl",
                format="claude-code",
                turns=5 + n % 20,
                tool_calls=10 + n % 30,
                tool_errors=n % 4,
                input_tokens=10_000 + n % 50_000,
                output_tokens=1_000 + n % 3_000,
                cost_usd=0.01 * (n % 50),
                duration_s=30.0 + n % 600,
                steps=(
                    TraceStep(role="tool", tool=("Bash", "Edit", "Read")[n % 3], is_error=True),
                ),
            ),
        ),
        feedback=(
            Feedback(
                kind="review_comment",
                id=f"review-comment-{n}",
                author="maria",
                trusted=True,
                body=("Use Decimal for money.", "Extend ApiClient instead.", "Add a test.")[n % 3],
                path=f"app/mod{n % 40}.py",
                url=f"https://github.com/octo/app/pull/{n}#discussion_r{n}",
            ),
        ),
        collected_at=start,
    )


def run(root: Path, *args: str) -> tuple[float, float, float]:
    """In-process seconds, whole-process wall seconds (with interpreter start and imports) and
    peak RSS (MB) of ``prompt-trainer args`` in a fresh process."""
    script = (
        "import resource, sys, time; from prompt_trainer.cli import main; t = time.perf_counter();"
        f" code = main({list(args)!r}, env={{}});"
        " print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
        " file=sys.stderr); sys.exit(code)"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - start
    seconds, rss_kb = done.stderr.strip().splitlines()[-1].split()
    return float(seconds), wall, int(rss_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="reuse (or create) the repository here")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    ledger = workdir.ledger_path(root)
    if not ledger.exists():
        (root / ".github").mkdir(parents=True, exist_ok=True)
        (root / ".github" / "prompt-trainer.yml").write_text(CONFIG)
        (root / "CLAUDE.md").write_text("# Rules\n")
        ledger.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with ledger.open("w", encoding="utf-8") as out:
            for n in range(args.samples):
                out.write(make_sample(n).model_dump_json() + "\n")
        size = ledger.stat().st_size / 1e6
        print(
            f"ledger: {args.samples} samples, {size:.0f} MB, written in "
            f"{time.perf_counter() - start:.1f} s"
        )
    (ledger.parent / "index.sqlite").unlink(missing_ok=True)
    for label, command in (
        ("report, building the index", ("report", "--history", "none", "--output", "r.md")),
        ("report, index in place", ("report", "--history", "none", "--output", "r.md")),
        (
            "report --format json",
            ("report", "--history", "none", "--format", "json", "--output", "r.json"),
        ),
        ("versions", ("versions", "--history", "none")),
    ):
        seconds, wall, rss = run(root, *command)
        print(f"{label}: {wall:.2f} s wall ({seconds:.2f} s in-process), peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
