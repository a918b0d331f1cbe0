"""Real reports written by the test tools themselves, checked against each tool's own summary.

Each folder under ``tests/data/junit/`` holds a report (or a reports directory), the tool's
console output (``summary.txt``: the ground truth), the suite that produced them, a README
with the exact command and versions, and ``expected*.json``: the tool and command, the summary
lines, and how each of our counts is made of the summary's numbers (``"passed+todo"``,
``"fail-1"``), or a number where the summary says nothing, with the reason in ``why``.

``summary`` lists console lines that must appear as written; each gives its numbers as
``3 failed`` (``"order": "number-word"``, the default) or ``Failures: 4`` (node: ``tests 36``)
(``"word-number"``), named by the word (lower case, spaces as ``_``). ``evidence`` names a count
of console lines equal to one of the lines listed (``● Test suite failed to run`` twice).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from prompt_trainer.collect.inspect import inspect_file

DATA = Path(__file__).parent / "data" / "junit"
CASES = sorted(p.relative_to(DATA).as_posix() for p in DATA.glob("*/expected*.json"))
NUMBER_WORD = re.compile(r"(\d+) ([a-z]+)")
WORD_NUMBER = re.compile(r"([A-Za-z][A-Za-z ]*?):?\s+(\d+)\b")


def _numbers(console: str, expected: dict[str, Any]) -> dict[str, int]:
    """The numbers of the tool's summary lines and evidence, which must be in its console."""
    numbers: dict[str, int] = {}
    for entry in expected["summary"]:
        line, order = (
            (entry, "number-word") if isinstance(entry, str) else (entry["line"], entry["order"])
        )
        assert line in console, f"summary line not in the console output: {line!r}"
        if order == "number-word":
            pairs = [(word, count) for count, word in NUMBER_WORD.findall(line)]
        else:
            pairs = WORD_NUMBER.findall(line)
        for word, count in pairs:
            key = word.strip().lower().replace(" ", "_")
            numbers[key] = numbers.get(key, 0) + int(count)
    lines = [line.strip() for line in console.splitlines()]
    for name, wanted in expected.get("evidence", {}).items():
        numbers[name] = sum(lines.count(line) for line in wanted)
        assert all(line in lines for line in wanted), f"evidence of {name} not in the console"
    return numbers


def _evaluate(expression: int | str, numbers: dict[str, int]) -> int:
    if isinstance(expression, int):
        return expression
    total = 0
    for sign, term in re.findall(r"([+-]?)([a-z_0-9]+)", expression):
        value = int(term) if term.isdigit() else numbers[term]
        total += -value if sign == "-" else value
    return total


def _our_counts(report: Path) -> dict[str, int]:
    """``inspect --json``'s counts of a report, or summed over a reports directory."""
    files = sorted(report.glob("*.xml")) if report.is_dir() else [report]
    total: dict[str, int] = {}
    for path in files:
        line = inspect_file(path)
        assert line.get("kind") == "junit", line
        for key, value in line.items():
            if isinstance(value, int):
                total[key] = total.get(key, 0) + value
    return total


@pytest.mark.parametrize("case", CASES)
def test_counts_equal_the_tools_own_summary(case: str) -> None:
    expected_file = DATA / case
    folder = expected_file.parent
    expected: dict[str, Any] = json.loads(expected_file.read_text())
    console = (folder / expected.get("console", "summary.txt")).read_text()
    numbers = _numbers(console, expected)
    truth = {key: _evaluate(value, numbers) for key, value in expected["counts"].items()}

    ours = _our_counts(folder / expected.get("report", "report.xml"))

    assert {key: ours[key] for key in truth} == truth


def test_every_writer_folder_has_its_ground_truth() -> None:
    folders = {case.split("/")[0] for case in CASES}
    assert len(folders) >= 11
    for folder in folders:
        names = {p.name for p in (DATA / folder).iterdir()}
        assert "summary.txt" in names and ({"report.xml", "reports"} & names), folder


def test_the_new_suites_say_how_they_were_made_and_count_everything() -> None:
    """The issue 28 suites: a README with the command and versions, and all nine counts."""
    for folder in (
        "jest-junit-retries",
        "vitest-retry",
        "node-test-cancelled",
        "node-test-parent-failure",
        "jest-junit-import-error",
        "jasmine-afterall",
        "pytest-xdist-reruns",
        "surefire-reruns",
    ):
        readme = (DATA / folder / "README.md").read_text()
        expected = json.loads((DATA / folder / "expected.json").read_text())
        assert "```" in readme and re.search(r"\d+\.\d+\.\d+", expected["tool"]), folder
        assert set(expected["counts"]) == {
            "tests",
            "passed",
            "failed",
            "errors",
            "skipped",
            "flaky",
            "cancelled",
            "suite_errors",
            "attempts",
        }
