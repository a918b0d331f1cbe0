"""Reliability figures: how many fault, hostile-input and secret cases were tried, and held.

Run with ``.venv/bin/python bench/reliability.py``. It runs the reliability tests with pytest
(writing a JUnit report, which it reads with prompt-trainer's own parser) and prints one line
per category, e.g. ``faults: 17/17 held``. Secret shapes are counted from the redaction corpus
(``tests/test_redact.py``): every shape must be replaced, every look-alike kept.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prompt_trainer.collect.junit import parse_report  # noqa: E402
from prompt_trainer.models import TestRun  # noqa: E402
from prompt_trainer.redact import redact  # noqa: E402

CATEGORIES = {
    "faults (GitHub and LM errors, retries, no duplicates)": [
        "tests/test_faults.py",
        "tests/test_backfill.py",
    ],
    "interrupted and concurrent runs (ledger, data branch)": [
        "tests/test_data_branch.py",
        "tests/test_store.py",
        "tests/test_writes.py",
    ],
    "hostile archives and XML": ["tests/test_artifacts.py", "tests/test_junit.py"],
    "fuzzed parsers (mutated real files)": ["tests/test_fuzz.py"],
    "prompt injection and secret canaries (end to end)": ["tests/test_hostile.py"],
    "untrusted events and commands": [
        "tests/test_review_loop.py",
        "tests/test_action.py",
        "tests/test_trust.py",
        "tests/test_config_trust.py",
    ],
    "workflows (privileged checkouts, job conditions, cache keys)": ["tests/test_workflows.py"],
    "invalid configuration": ["tests/test_settings.py"],
    "guardrails": [
        "tests/test_guardrails.py",
        "tests/test_guardrails_revise.py",
        "tests/test_guardrails_outside.py",
    ],
}


def run_category(files: list[str], report: Path) -> TestRun:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            *files,
        ],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    parsed = parse_report(report, source=report.name, max_bytes=50 * 2**20, max_text=200)
    assert isinstance(parsed, TestRun), parsed
    return parsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for n, (label, files) in enumerate(CATEGORIES.items()):
            run = run_category(files, Path(tmp) / f"{n}.xml")
            counts = run.counts()
            tried = counts["tests"] - counts["skipped"]
            held = counts["passed"]
            skipped = f", {counts['skipped']} skipped" if counts["skipped"] else ""
            if "fuzz" in label:
                from tests.test_fuzz import JUNIT, TRACES, mutant_count  # noqa: PLC0415

                mutants = mutant_count()
                verdict = "all held" if held == tried else f"{tried - held} test(s) failed"
                print(f"{label}: {mutants} mutants of {len(JUNIT) + len(TRACES)} files, {verdict}")
                continue
            print(f"{label}: {held}/{tried} held{skipped}")
    from tests.test_redact import ASSIGNMENTS, SECRETS  # noqa: PLC0415

    shapes = [secret for secret, _ in SECRETS]
    redacted = sum(1 for s in shapes if s not in redact(f"x {s} y"))
    assigned = sum(1 for line in ASSIGNMENTS if redact(line) != line)
    print(
        f"secrets: {redacted}/{len(shapes)} shapes redacted, "
        f"{assigned}/{len(ASSIGNMENTS)} NAME=value assignments hidden"
    )


if __name__ == "__main__":
    main()
