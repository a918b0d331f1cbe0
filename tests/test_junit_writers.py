"""Real reports written by the test tools themselves, checked against each tool's own summary.

Each folder under ``tests/data/junit/`` holds a report, the tool's console output
(``summary.txt``: the ground truth), the suite that produced them, and ``expected.json``: the
tool and command, the summary lines, and how each of our counts is made of the summary's
numbers (``"passed+todo"``), or a number where the summary says nothing, with the reason.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from prompt_trainer.collect.inspect import inspect_file
from prompt_trainer.settings import Limits

DATA = Path(__file__).parent / "data" / "junit"
WRITERS = sorted(p.name for p in DATA.iterdir() if (p / "expected.json").exists())


def _summary_numbers(summary: str, lines: list[str]) -> dict[str, int]:
    """``{"failed": 3, "passed": 4, ...}`` from the tool's summary lines, which must be in
    its console output as written."""
    numbers: dict[str, int] = {}
    for line in lines:
        assert line in summary, f"summary line not in summary.txt: {line!r}"
        for count, word in re.findall(r"(\d+) ([a-z]+)", line):
            numbers[word] = numbers.get(word, 0) + int(count)
    return numbers


def _evaluate(expression: int | str, numbers: dict[str, int]) -> int:
    if isinstance(expression, int):
        return expression
    return sum(numbers[word] for word in expression.split("+"))


@pytest.mark.parametrize("writer", WRITERS)
def test_counts_equal_the_tools_own_summary(writer: str) -> None:
    folder = DATA / writer
    expected: dict[str, Any] = json.loads((folder / "expected.json").read_text())
    numbers = _summary_numbers((folder / "summary.txt").read_text(), expected["summary"])
    truth = {key: _evaluate(value, numbers) for key, value in expected["counts"].items()}

    line = inspect_file(folder / "report.xml", limits=Limits())

    assert {key: line[key] for key in truth} == truth


def test_every_writer_folder_has_its_ground_truth() -> None:
    assert len(WRITERS) >= 5
    for writer in WRITERS:
        assert {"report.xml", "summary.txt", "expected.json"} <= {
            p.name for p in (DATA / writer).iterdir()
        }
