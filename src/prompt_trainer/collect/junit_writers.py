"""Which tool wrote a JUnit report, and what that tool's elements mean (docs/junit.md).

Part of the collect stage, beneath ``collect.junit``: the reader asks ``writer_of`` once, from the
root element and the first ``<testsuite>``, and then the small functions here for the elements
whose meaning depends on the writer. Plain strings in, plain values out; no XML leaves the reader.

The writer is recognised by what it always writes, not only by a name the user can change:
Vitest's and jest-junit's root ``name=`` is configurable (``suiteName``), so each is also known by
the attributes it writes on its root and suites, in their order (expat keeps it). Each rule below
was read in the writer's source and checked on a report the tool wrote (``tests/data/junit/``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

VITEST = "vitest"
JEST = "jest-junit"
PYTEST = "pytest"
SUREFIRE = "surefire"
GO = "go"

#: Vitest's JUnitReporter (``reporters/junit.ts``): root and ``<testsuite>`` attributes, in order.
VITEST_ROOT = ("name", "tests", "failures", "errors", "time")
VITEST_SUITE = ("name", "timestamp", "hostname", "tests", "failures", "errors", "skipped", "time")
#: jest-junit's ``buildJsonResults.js``: the same root attributes, other suite attributes.
JEST_SUITE = ("name", "errors", "failures", "skipped", "timestamp", "time", "tests")
#: What Vitest puts between the describe blocks and the test in a test's ``name``.
VITEST_PATH = " > "
#: jest-junit's fake test for an error outside any test (an ``afterAll`` that throws), and the
#: class it gives a test file that failed to run (``reportTestSuiteErrors``).
JEST_HOOK_ERROR = "Test execution failure: could be caused by test hooks like 'afterAll'."
JEST_SUITE_FAILED = "Test suite failed to run"
#: node's test runner: the ``failureType`` of a test it cancelled (``#cancel`` in
#: ``lib/internal/test_runner/test.js``: cancelled by its parent, timed out, aborted), which its
#: JUnit reporter writes as ``<failure type=...>`` and its summary counts as ``cancelled``.
NODE_CANCELLED = frozenset({"cancelledByParent", "testTimeoutFailure", "testAborted"})
#: node's totals, which its JUnit reporter writes as comments under the root, after the
#: elements (the harness's ``test:diagnostic`` events at nesting 0: ``<!-- fail 1 -->``).
NODE_TOTALS = ("tests", "suites", "pass", "fail", "cancelled", "skipped", "todo", "duration_ms")
NODE_TOTAL = re.compile(r"\s*(tests|suites|pass|fail|cancelled|skipped|todo) (\d{1,9})\s*")
#: The name of the suite error that stands for failures node counts and the report lacks.
NODE_MISSING = "node reports failures not in the report"
#: pytest's ``<error message=...>`` for a teardown that failed (``_pytest/junitxml.py``).
PYTEST_TEARDOWN = 'failed on teardown with "'


def writer_of(root: Mapping[str, str], suite: Mapping[str, str] | None) -> str:
    """The writer of a report, from its root element's attributes and its first suite's."""
    name = root.get("name")
    if name == "pytest tests" or (suite or {}).get("name") == "pytest":
        return PYTEST  # pytest 8+ names the root; before, only its suite (junit_suite_name)
    keys = tuple(root)
    suite_keys = tuple(suite or ())
    if name == "vitest tests" or (keys == VITEST_ROOT and suite_keys == VITEST_SUITE):
        return VITEST
    if name == "jest tests" or (keys == VITEST_ROOT and suite_keys == JEST_SUITE):
        return JEST
    schema = (suite or root).get("xsi:noNamespaceSchemaLocation") or ""
    if "surefire" in schema or "failsafe" in schema:
        return SUREFIRE
    return ""


def is_suite_error(
    writer: str, name: str, classname: str, suite: str, describes: set[str] | None
) -> bool:
    """A failing ``<testcase>`` that stands for an error of a file or a suite, not a test.

    Vitest writes a file that failed to load as a case named after the file, alone in the
    file's suite, and a describe block whose ``beforeAll``/``afterAll`` threw as a case named
    after the block, after the block's tests; its summary counts neither as a test ("Test Files
    1 failed", "Failed Suites 2"). jest-junit writes a hook error as a fake test with a fixed
    title, and a file that failed to run under a fixed class; jest counts both as failed test
    suites, not tests."""
    if writer == VITEST:
        return name == suite or (describes is not None and name in describes)
    if writer == JEST:
        return JEST_HOOK_ERROR in name or classname == JEST_SUITE_FAILED
    return False


def describes_of(name: str) -> list[str]:
    """The describe blocks a Vitest test's name lists (``a > b > test`` -> ``a``, ``b``)."""
    return name.split(VITEST_PATH)[:-1]


def node_total(comment: str) -> tuple[str, int] | None:
    """One of node's totals from a comment under the root (``fail 1``), or None."""
    found = NODE_TOTAL.fullmatch(comment)
    return (found.group(1), int(found.group(2))) if found else None


def node_missing(totals: Mapping[str, int], failing: int) -> str | None:
    """Why a node report needs a suite error: node's ``fail`` + ``cancelled`` exceed the
    failing elements (``failing``), because its JUnit reporter writes a test with subtests as
    a ``<testsuite>`` and drops the test's own result; None when they agree or when the
    report has no totals (not node's, or cut short)."""
    if "fail" not in totals:
        return None
    fail, cancelled = totals["fail"], totals.get("cancelled", 0)
    missing = fail + cancelled - failing
    if missing <= 0:
        return None
    return (
        f"node reports {missing} failure(s) not in the report (its totals say fail {fail}, "
        f"cancelled {cancelled}; the report holds {failing} failing test(s)): a test with "
        "subtests is written as a <testsuite> without its own result"
    )
