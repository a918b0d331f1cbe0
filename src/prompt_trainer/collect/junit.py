"""JUnit XML reports -> ``TestRun``; the only module that imports junitparser.

Reports are read with a streaming parse (defusedxml's ``iterparse``: no DTD entities, no external
fetches) and each finished ``<testcase>`` element is wrapped in junitparser's xunit2 ``TestCase``
to read its results, then cleared, so memory stays bounded on huge reports. A file that is too
large, malformed, truncated, hostile or not JUnit at all becomes ``Skipped`` with the reason.

Counting rules (see docs/junit.md): a case with ``<skipped>`` is skipped; otherwise ``<error>``
makes it an error and ``<failure>`` a failure; a case whose only problems are Surefire
``flakyFailure``/``flakyError`` elements passed on a rerun and is passed and flaky.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from junitparser import xunit2

from prompt_trainer.models import Skipped, TestCase, TestRun, TestStatus
from prompt_trainer.redact import excerpt

ROOT_TAGS = ("testsuites", "testsuite")


def parse_report(
    path: Path, *, source: str, max_bytes: int, max_text: int = 2_000
) -> TestRun | Skipped:
    """Parse one report file; every problem with the file is returned as ``Skipped``."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return Skipped(source=source, reason=f"cannot read file: {exc.strerror}")
    if size > max_bytes:
        return Skipped(source=source, reason=f"report is {size} bytes, over the {max_bytes} cap")
    try:
        cases = tuple(_stream_cases(path, max_text=max_text))
    except _NotJUnit as exc:
        return Skipped(source=source, reason=str(exc))
    except DefusedXmlException as exc:
        return Skipped(source=source, reason=f"refused unsafe XML ({type(exc).__name__})")
    except ParseError as exc:
        return Skipped(source=source, reason=f"malformed XML: {exc}")
    return TestRun(source=source, cases=cases)


class _NotJUnit(Exception):
    """Well-formed XML whose root is not a JUnit element."""


def _stream_cases(path: Path, *, max_text: int) -> Any:
    """Yield a ``TestCase`` per ``<testcase>``, tracking the enclosing suite names."""
    suites: list[str] = []
    seen_root = False
    for event, elem in SafeET.iterparse(str(path), events=("start", "end")):
        tag = _local(elem.tag)
        if not seen_root:
            if tag not in ROOT_TAGS:
                raise _NotJUnit(f"not a JUnit report: root element is <{tag}>")
            seen_root = True
        if tag == "testsuite":
            if event == "start":
                suites.append(elem.get("name", ""))
            else:
                suites.pop()
                elem.clear()
        elif tag == "testcase" and event == "end":
            yield _case(elem, suite=".".join(s for s in suites if s), max_text=max_text)
            elem.clear()


def _local(tag: str) -> str:
    """Strip an XML namespace: ``{ns}testcase`` -> ``testcase``."""
    return tag.rsplit("}", 1)[-1]


def _case(elem: Element, *, suite: str, max_text: int) -> TestCase:
    """Normalize one ``<testcase>`` element using junitparser's result classes."""
    case = xunit2.TestCase.fromelem(elem)  # type: ignore[no-untyped-call]
    status, result = _status(case)
    flaky = status == "passed" and bool(case.flaky_failures() or case.flaky_errors())
    if flaky and result is None:
        interim = (case.flaky_failures() + case.flaky_errors())[0]
        result = interim
    return TestCase(
        suite=suite,
        classname=elem.get("classname", ""),
        name=elem.get("name", ""),
        status=status,
        message=excerpt((result.message or "") if result is not None else "", max_text),
        type=(result.type or "") if result is not None else "",
        text=excerpt((result.text or "") if result is not None else "", max_text),
        duration_s=_float(elem.get("time")),
        file=elem.get("file"),
        line=_int(elem.get("line")),
        flaky=flaky,
    )


def _status(case: Any) -> tuple[TestStatus, Any]:
    """The case's final status and the result element that decided it."""
    results = list(case.result)
    for wanted, status in (("Skipped", "skipped"), ("Error", "error"), ("Failure", "failure")):
        for result in results:
            if type(result).__name__ == wanted:
                return ("failed" if status == "failure" else status), result  # type: ignore[return-value]
    return "passed", None


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
