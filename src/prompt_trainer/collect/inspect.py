"""``prompt-trainer inspect``: what the collectors make of individual files.

Each file is recognized by content: XML (after an optional BOM and whitespace) is read as a JUnit
report, anything else is offered to the trace registry. The result is one flat JSON-ready dict
per file, in the shape documented for ``inspect --json``; unusable files give ``skipped``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prompt_trainer.collect.junit import parse_report
from prompt_trainer.models import Skipped, TestRun, Trace
from prompt_trainer.settings import Limits

XML_HEAD = 1024


def inspect_file(path: Path, *, limits: Limits) -> dict[str, Any]:
    """Describe one file as a JUnit report, a trace, or a skipped input with its reason."""
    if not path.is_file():
        return {"path": str(path), "skipped": "not a file"}
    if _looks_like_xml(path):
        report = parse_report(
            path,
            source=str(path),
            max_bytes=limits.max_report_bytes,
            max_text=limits.max_text_chars,
        )
        if isinstance(report, Skipped):
            return {"path": str(path), "skipped": report.reason}
        return _junit(path, report)
    from prompt_trainer.collect.evidence import parse_trace_file  # noqa: PLC0415 (JUnit needs none)

    trace = parse_trace_file(path, source=str(path), limits=limits)
    if isinstance(trace, Skipped):
        return {"path": str(path), "skipped": trace.reason}
    return _trace(path, trace)


def _trace(path: Path, trace: Trace) -> dict[str, Any]:
    """A trace's counts; ``tool_errors`` includes failures the format states in words.
    ``notes`` (what an over-cap or damaged file left out) appears only when there are some."""
    shown: dict[str, Any] = {
        "path": str(path),
        "kind": "trace",
        "format": trace.format,
        "turns": trace.turns,
        "tool_calls": trace.tool_calls,
        "tool_errors": trace.tool_errors,
        "input_tokens": trace.input_tokens,
        "output_tokens": trace.output_tokens,
        "cost_usd": trace.cost_usd,
    }
    if trace.notes:
        shown["notes"] = list(trace.notes)
    return shown


def _junit(path: Path, run: TestRun) -> dict[str, Any]:
    """The documented counts, plus ``attempts`` (executions, reruns included)."""
    return {"path": str(path), "kind": "junit", **run.counts(), "attempts": run.attempts}


def _looks_like_xml(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(XML_HEAD)
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")
