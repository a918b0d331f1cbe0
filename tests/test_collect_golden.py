"""Golden records of the collectors: a JUnit report and a Claude Code transcript, each turned
into its JSON record by the public parsers, compared with ``tests/golden/collect/*.expected.json``
(``--update-golden`` rewrites them, so a change in a record is a reviewed diff).

``pytest_report.xml`` is a real report: pytest's own ``--junitxml`` (xunit1) over a five-test
suite with a pass, an assertion failure, a skip, a fixture error and an xfail. The transcript is
the example project's ``claude-execution-output.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prompt_trainer.collect.junit import parse_report
from prompt_trainer.collect.traces import parse_trace
from prompt_trainer.models import TestRun, Trace
from tests.conftest import GOLDEN

ROOT = Path(__file__).resolve().parents[1]
TRANSCRIPT = ROOT / "examples" / "basic" / "evidence" / "pr-101" / "claude-execution-output.json"


def test_a_pytest_junit_report_becomes_its_golden_record(
    golden: Callable[[str, str], None],
) -> None:
    run = parse_report(
        GOLDEN / "collect" / "pytest_report.xml", source="pytest_report.xml", max_bytes=2**20
    )
    assert isinstance(run, TestRun)
    golden("collect/pytest_report.expected.json", run.model_dump_json(indent=2) + "\n")


def test_a_claude_code_transcript_becomes_its_golden_record(
    golden: Callable[[str, str], None],
) -> None:
    trace = parse_trace(TRANSCRIPT, source="claude-execution-output.json", max_bytes=2**20)
    assert isinstance(trace, Trace)
    golden("collect/claude_transcript.expected.json", trace.model_dump_json(indent=2) + "\n")
