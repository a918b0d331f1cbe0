"""Reliability figures: how many fault, hostile-input and secret cases were tried, and held.

Run with ``.venv/bin/python bench/reliability.py``. It runs the reliability tests with pytest
(writing a JUnit report, which it reads with prompt-trainer's own parser) and prints one line
per category, e.g. ``faults: 17/17 held``. The split-jobs category runs the workflows job by job
with commands that hunt for the write token and the LLM key (``tests/test_workflow_secrets.py``).
Secret shapes are counted from the one table of shapes (``redact.SHAPES``: each example
replaced, each look-alike kept), the further corpus of ``tests/test_redact.py``, each shape split
by an invisible or ANSI character, and the forms of held secrets (base64 at every alignment,
wrapped, percent-encoded, split).
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
        "tests/test_llm_calls.py",
    ],
    "interrupted and concurrent runs (ledger, data branch)": [
        "tests/test_data_branch.py",
        "tests/test_store.py",
        "tests/test_writes.py",
    ],
    "hostile archives and XML": [
        "tests/test_artifacts.py",
        "tests/test_junit.py",
        "tests/test_xmlfeed.py",
    ],
    "one bad file costs only that file (per-file boundary)": ["tests/test_per_file.py"],
    "fuzzed parsers (mutated real files)": ["tests/test_fuzz.py"],
    "prompt injection and secret canaries (end to end)": ["tests/test_hostile.py"],
    "untrusted events and commands": [
        "tests/test_review_loop.py",
        "tests/test_action.py",
        "tests/test_trust.py",
        "tests/test_config_trust.py",
    ],
    "workflows (privileged checkouts, job conditions, cache keys)": ["tests/test_workflows.py"],
    "secrets kept from commands (split jobs, bundle, git hooks)": [
        "tests/test_split.py",
        "tests/test_split_learning.py",
        "tests/test_workflow_secrets.py",
        "tests/test_replay.py",
        "tests/test_replay_js.py",
        "tests/test_eval_command_group.py",
        "tests/test_command_gate.py",
    ],
    "invalid configuration": ["tests/test_settings.py"],
    "guardrails": [
        "tests/test_guardrails.py",
        "tests/test_guardrails_revise.py",
        "tests/test_guardrails_outside.py",
        "tests/test_outside.py",
    ],
    "outside text rendered, logged and parsed (escaping, commands, linear time)": [
        "tests/test_render_hostile.py",
        "tests/test_linear_regex.py",
        "tests/test_reviews.py",
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
    print(secret_line())


def secret_line() -> str:
    """The secret shapes of ``redact.SHAPES`` (each example replaced, each look-alike kept),
    the further corpus of ``tests/test_redact.py``, every shape split by each invisible or
    ANSI splitter, and every form of a held value."""
    from tests.test_redact import (  # noqa: PLC0415
        ASSIGNMENTS,
        HELD_FORMS,
        HELD_KEY,
        HELD_TOKEN,
        SECRETS,
        SPLITTERS,
        hidden,
    )

    from prompt_trainer.redact import SHAPES, hold  # noqa: PLC0415

    replaced = sum(1 for s in SHAPES if f"[REDACTED:{s.kind}]" in redact(f"x {s.example} y"))
    kept = sum(1 for s in SHAPES if redact(s.look_alike) == s.look_alike)
    corpus = sum(1 for secret, _ in SECRETS if secret not in redact(f"x {secret} y"))
    assigned = sum(1 for line in ASSIGNMENTS if redact(line) != line)
    split = [
        (s, mark) for s in SHAPES for mark in SPLITTERS.values() if len(hidden(s.example)) >= 2
    ]
    caught = sum(
        1
        for s, mark in split
        if f"[REDACTED:{s.kind}]"
        in redact(s.example.replace(hidden(s.example), _split(hidden(s.example), mark)))
    )
    hold([HELD_TOKEN, HELD_KEY])
    forms = [make(v) for v in (HELD_TOKEN, HELD_KEY) for make in HELD_FORMS.values()]
    masked = sum(1 for text in forms if "[REDACTED:" in redact(text))
    hold(())
    return (
        f"secrets: {replaced}/{len(SHAPES)} shapes replaced and {kept}/{len(SHAPES)} of their "
        f"look-alikes kept; {corpus}/{len(SECRETS)} further secrets and "
        f"{assigned}/{len(ASSIGNMENTS)} NAME=value assignments hidden; {caught}/{len(split)} "
        f"shapes split by an invisible or ANSI character still replaced; {masked}/{len(forms)} "
        "forms of held secrets masked"
    )


def _split(secret: str, mark: str) -> str:
    return secret[: len(secret) // 2] + mark + secret[len(secret) // 2 :]


if __name__ == "__main__":
    main()
