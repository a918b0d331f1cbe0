"""``prompt-trainer inspect``: what the collectors make of individual files.

Each file is recognized by content: XML (after an optional BOM and whitespace) is read as a JUnit
report, anything else is offered to the trace registry, except ``pr.json`` and ``reviews*.json``,
which are what their names say, given alone or in a folder. A directory is walked as
``collect --local`` walks it, and its files are classified as collection classifies them:
``pr.json`` is PR metadata (``kind: pr``), ``reviews*.json`` review comments (``kind: reviews``),
``*.xml`` JUnit, other text files traces, anything else skipped as an unknown file type. The
result is one flat JSON-ready dict per file, in the shape documented for ``inspect --json``;
unusable files give ``skipped``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_trainer import limits as caps
from prompt_trainer.collect.junit import Report, read_report

if TYPE_CHECKING:
    from prompt_trainer.models import Trace
    from prompt_trainer.settings import Limits

XML_HEAD = 1024


def inspect_paths(paths: list[Path], *, limits: Limits | None = None) -> Iterator[dict[str, Any]]:
    """``inspect_file`` of each path, one at a time; a directory gives one result per evidence
    file in it. ``pr.json`` and ``reviews*.json`` are read as what they are, given alone or in
    a folder. Without ``limits``, the default caps (JUnit reports are then read without
    loading the settings)."""
    for path in paths:
        if path.is_dir():
            from prompt_trainer.collect.local import evidence_files  # noqa: PLC0415

            for found in evidence_files(path):
                yield _in_folder(found, limits=limits or _defaults())
        elif path.suffix == ".json" and (path.name == "pr.json" or _reviews_file(path)):
            yield _in_folder(path, limits=limits or _defaults())  # named for what it is
        else:
            yield inspect_file(path, limits=limits)


def _reviews_file(path: Path) -> bool:
    """``collect.evidence.is_reviews_file``, imported only for a JSON file (a JUnit report is
    inspected without pydantic)."""
    from prompt_trainer.collect.evidence import is_reviews_file  # noqa: PLC0415

    return is_reviews_file(path)


def _defaults() -> Limits:
    from prompt_trainer.settings import Limits  # noqa: PLC0415

    return Limits()


def _in_folder(path: Path, *, limits: Limits) -> dict[str, Any]:
    """A file of an evidence folder, classified by name as ``collect --local`` does."""
    from prompt_trainer.collect.evidence import TRACE_SUFFIXES, is_reviews_file  # noqa: PLC0415

    if path.name == "pr.json":
        return _pull(path)
    if is_reviews_file(path):
        return _reviews(path, limits=limits)
    if path.suffix.lower() != ".xml" and path.suffix.lower() not in TRACE_SUFFIXES:
        return {"path": str(path), "skipped": "unknown file type"}
    return inspect_file(path, limits=limits)


def _pull(path: Path) -> dict[str, Any]:
    from prompt_trainer.collect.local import read_pull_info  # noqa: PLC0415
    from prompt_trainer.models import Skipped  # noqa: PLC0415

    pull = read_pull_info(path, source=str(path), limit=caps.MAX_TEXT_CHARS)
    if isinstance(pull, Skipped):
        return {"path": str(path), "skipped": pull.reason}
    return {
        "path": str(path),
        "kind": "pr",
        "number": pull.number,
        "merged": pull.merged,
        "base_sha": pull.base_sha,
    }


def _reviews(path: Path, *, limits: Limits) -> dict[str, Any]:
    """Review comments: how many, how many count (trusted humans, with text, as the report
    counts them under the default trusted associations) and how many request changes."""
    from prompt_trainer.collect.evidence import load_reviews  # noqa: PLC0415
    from prompt_trainer.measure.facts import counted_feedback  # noqa: PLC0415
    from prompt_trainer.models import Skipped  # noqa: PLC0415
    from prompt_trainer.settings import ReviewOptions  # noqa: PLC0415

    trusted = ReviewOptions().trusted_associations
    loaded = load_reviews(path, trusted=trusted, limits=limits)
    if isinstance(loaded, Skipped):
        return {"path": str(path), "skipped": loaded.reason}
    return {
        "path": str(path),
        "kind": "reviews",
        "comments": len(loaded),
        "trusted": sum(1 for f in loaded if counted_feedback(f)),
        "changes_requested": sum(
            1 for f in loaded if (f.state or "").upper() == "CHANGES_REQUESTED"
        ),
    }


def inspect_file(path: Path, *, limits: Limits | None = None) -> dict[str, Any]:
    """Describe one file as a JUnit report, a trace, or a skipped input with its reason."""
    if not path.is_file():
        return {"path": str(path), "skipped": "not a file"}
    if _looks_like_xml(path):
        report = read_report(
            path,
            source=str(path),
            max_bytes=limits.max_report_bytes if limits else caps.MAX_REPORT_BYTES,
            max_text=limits.max_text_chars if limits else caps.MAX_TEXT_CHARS,
        )
        if isinstance(report, str):
            return {"path": str(path), "skipped": report}
        return _junit(path, report)
    from prompt_trainer.collect.evidence import parse_trace_file  # noqa: PLC0415 (JUnit needs none)
    from prompt_trainer.models import Skipped  # noqa: PLC0415

    trace = parse_trace_file(path, source=str(path), limits=limits or _defaults())
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


def _junit(path: Path, report: Report) -> dict[str, Any]:
    """The documented counts: the tests by status, ``flaky``, ``cancelled``, the file and
    suite errors the tools count apart from tests, and ``attempts`` (reruns included)."""
    return {"path": str(path), "kind": "junit", **report.counts()}


def _looks_like_xml(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(XML_HEAD)
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")
