"""JUnit XML reports -> ``TestRun``, for every dialect in the wild (see docs/junit.md).

The collect stage's JUnit reader. ``parse_report(path)`` gives a ``TestRun`` (exact counts, the
records of the tests that did not simply pass, the identities of those that did) or a
``Skipped`` saying why the file cannot be used; ``read_report`` gives the same reading before
any record is built, which is all ``inspect`` needs (it prints counts), so that command never
loads pydantic.

A report is streamed through expat (C) in 256 KiB chunks; ``collect.xmlfeed`` feeds it (it
decodes encodings expat cannot read and cuts tokens too long to parse whole) and the handlers
in ``collect.junit_reader`` fold each ``<testcase>`` into the counts as it closes, by the rules
of the tool that wrote the report (``collect.junit_writers``). No element tree is built, a test
that passed leaves only its identity, and at most a few hundred problem cases are kept, so
memory is linear in the input and small on huge reports. Records are built (redacted, capped)
only at the end, and only for the cases kept; suite paths too are redacted only then.

Safety: a DTD with an internal subset or an external id, and any entity declaration, stop the
parse (``refused unsafe XML``); parameter entities are never parsed, so nothing is expanded or
fetched, and an undefined entity is a parse error. The first element must be ``<testsuites>``
or ``<testsuite>`` (namespaced or not).

Departure from the one-module-per-dependency rule: junitparser is not used to read reports.
Building its element tree and wrapping each case in its classes is slower and five times heavier
than this parse (``bench/ingest.py`` prints both), and it has no rules for reruns; the counting
rules are small and are written here and in docs/junit.md.
"""

from __future__ import annotations

import pyexpat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prompt_trainer.collect.junit_reader import (
    CANCELLED,
    CAPTURE_MARGIN,
    ERROR,
    FAILED,
    MAX_KEPT_CASES,
    MAX_KEPT_SKIPPED,
    MAX_SUITE_PATH,
    MAX_SUITES,
    PASSED,
    PROPERTY_CHARS,
    SKIPPED,
    STATUSES,
    Attempt,
    Reader,
)
from prompt_trainer.collect.per_file import bug_reason
from prompt_trainer.collect.xmlfeed import Refused, feed_file

if TYPE_CHECKING:
    from prompt_trainer.models import Skipped, TestCase, TestRun

__all__ = [
    "DETAILED_CASES",
    "MAX_KEPT_CASES",
    "MAX_KEPT_SKIPPED",
    "Report",
    "parse_report",
    "read_report",
]

#: Kept cases with full texts; later ones keep a short message only.
DETAILED_CASES = 200
SHORT_MESSAGE = 300


def parse_report(
    path: Path, *, source: str, max_bytes: int, max_text: int = 2_000
) -> TestRun | Skipped:
    """Parse one report file; every problem with the file is returned as ``Skipped``."""
    from prompt_trainer.models import Skipped  # noqa: PLC0415 - read_report needs no pydantic

    report = read_report(path, source=source, max_bytes=max_bytes, max_text=max_text)
    if isinstance(report, str):
        return Skipped(source=source, reason=report)
    try:
        return report.to_run(source)
    except Exception as exc:  # a bug this file reached (collect/per_file.py)
        return Skipped(source=source, reason=bug_reason(source, exc, what="report"))


def read_report(path: Path, *, source: str, max_bytes: int, max_text: int = 2_000) -> Report | str:
    """The counts and kept cases of one report, or why it cannot be read."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return f"report is {size} bytes, over the {max_bytes} cap"
        reader = Reader()
        reader.max_text = max_text
        notes = feed_file(path, reader.make_parser)
        return Report(reader, reader.settle(), notes, max_text)
    except OSError as exc:
        return f"cannot read file: {exc.strerror or exc}"
    except Refused as exc:
        return str(exc)
    except pyexpat.ExpatError as exc:
        return f"malformed XML: {exc}"
    except UnicodeDecodeError as exc:
        return f"not valid {exc.encoding}: cannot decode byte(s) at offset {exc.start}"
    except RecursionError:
        return "malformed XML: nested too deeply"
    except ValueError as exc:  # what expat or a codec raises on other bytes it cannot take
        return f"unreadable report: {exc}"
    except Exception as exc:  # a bug this file reached (collect/per_file.py)
        return bug_reason(source, exc, what="report")


@dataclass
class Report:
    """What the reader made of one report, before any record is built."""

    reader: Reader
    #: Identities of the tests that never passed (left out of ``TestRun.passed_ids``).
    failing: set[int]
    cut_notes: list[str] = field(default_factory=list)
    max_text: int = 2_000

    def counts(self) -> dict[str, int]:
        """``tests`` counts distinct tests; suite errors are not tests (docs/junit.md)."""
        r = self.reader
        return {
            "tests": sum(r.counts) + r.plain,
            "passed": r.counts[PASSED] + r.plain,
            "failed": r.counts[FAILED],
            "errors": r.counts[ERROR],
            "skipped": r.counts[SKIPPED],
            "flaky": r.flaky,
            "cancelled": r.counts[CANCELLED],
            "suite_errors": r.suite_errors,
            "attempts": r.executions + r.plain,
        }

    def declared(self) -> int | None:
        r = self.reader
        return r.declared_root if r.declared_root is not None else r.declared_sum

    def to_run(self, source: str) -> TestRun:
        from prompt_trainer.identities import Identities  # noqa: PLC0415
        from prompt_trainer.models import TestCounts, TestRun  # noqa: PLC0415
        from prompt_trainer.redact import clean_name  # noqa: PLC0415

        counts = self.counts()
        cases = self._cases()
        attempts = counts.pop("attempts")
        return TestRun(
            source=source,
            cases=cases,
            plain_passes=counts["passed"] - sum(1 for c in cases if c.status == "passed"),
            suites=tuple(clean_name(path, MAX_SUITE_PATH) for path in self.reader.suites),
            declared_tests=self.declared(),
            notes=tuple(self._notes(counts["tests"], len(cases))),
            passed_ids=Identities(self.reader.seen - self.failing),
            totals=TestCounts(**counts, attempts=attempts),
        )

    def _cases(self) -> tuple[TestCase, ...]:
        """Records of the kept cases, in report order; the first ``DETAILED_CASES`` that are
        not skipped keep their full texts."""
        out = []
        detailed = 0
        for attempt in self.reader.kept:
            if attempt is None or attempt.raw is None:
                continue
            full = detailed < DETAILED_CASES and attempt.status != SKIPPED  # a reason is enough
            detailed += full
            out.append(_case(attempt, detailed=full, max_text=self.max_text))
        return tuple(out)

    def _notes(self, tests: int, kept: int) -> list[str]:
        r = self.reader
        notes = list(self.cut_notes)
        declared = self.declared()
        if declared is not None and declared not in (r.elements, tests):
            notes.append(
                f"the report declares tests={declared} but holds {r.elements} <testcase> "
                "element(s); the elements were counted"
            )
        if r.groups:
            notes.append(f"{len(r.groups)} test name(s) repeat; read per docs/junit.md")
        problems = tests - r.counts[PASSED] - r.plain + r.flaky + r.suite_errors
        if kept < problems:
            notes.append(f"{kept} of {problems} problem cases kept as records; counts are exact")
        if kept > DETAILED_CASES:
            notes.append(
                f"full texts kept for the first {DETAILED_CASES} of {kept} cases; "
                "the rest keep a short message"
            )
        if len(r.suites) >= MAX_SUITES:
            notes.append(f"only the first {MAX_SUITES} suite paths are listed")
        return notes


def _case(attempt: Attempt, *, detailed: bool, max_text: int) -> TestCase:
    """The record of one kept case: redacted and capped. A flaky pass shows the failure it
    keeps as evidence."""
    from prompt_trainer.models import TestCase  # noqa: PLC0415
    from prompt_trainer.redact import clean_name, excerpt  # noqa: PLC0415

    raw = attempt.raw
    attrs = raw.attrs if raw is not None else {}
    limit = max_text if detailed else SHORT_MESSAGE
    shown = attempt.evidence if attempt.flaky and attempt.evidence else attempt.result
    message = (shown.attrs.get("message") or "")[: limit + CAPTURE_MARGIN] if shown else ""
    text = "".join(shown.text).strip() if shown is not None else ""
    if not detailed:
        message, text = message or text[: limit + CAPTURE_MARGIN], ""
    return TestCase(
        suite=clean_name(attempt.suite, MAX_SUITE_PATH),
        classname=clean_name(attrs.get("classname") or attrs.get("class") or ""),
        name=clean_name(attrs.get("name") or ""),
        status=STATUSES[attempt.status],
        message=excerpt(message, limit) if message else "",
        type=clean_name(shown.attrs.get("type") or "") if shown is not None else "",
        text=excerpt(text, limit) if text else "",
        system_out=_text_of(raw.system_out, limit) if detailed and raw else "",
        system_err=_text_of(raw.system_err, limit) if detailed and raw else "",
        duration_s=_float(attrs.get("time")),
        file=attrs.get("file") or attrs.get("filepath") or None,
        line=_int(attrs.get("line") or attrs.get("lineno")),
        properties={
            k: excerpt(v, PROPERTY_CHARS) for k, v in (raw.properties if raw else {}).items()
        },
        flaky=attempt.flaky,
        attempt=attempt.executions,
        suite_error=attempt.suite_error,
    )


def _text_of(parts: list[str], limit: int) -> str:
    from prompt_trainer.redact import excerpt  # noqa: PLC0415

    text = "".join(parts).strip()
    return excerpt(text, limit) if text else ""


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None
