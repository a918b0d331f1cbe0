"""Retries and repeats as each tool means them (issue 28), on small hand-written reports.

Each rule is also checked on a report the tool wrote, against the tool's own console summary
(``tests/test_junit_writers.py``); these say the rule in one place each. Every test here failed
on the tree before issue 28.
"""

from __future__ import annotations

from pathlib import Path

from prompt_trainer.collect.junit import parse_report
from prompt_trainer.models import TestRun

VITEST_ROOT = '<testsuites name="{name}" tests="3" failures="2" errors="0" time="0.1">'
VITEST_SUITE = (
    '<testsuite name="{file}" timestamp="2026-01-01T00:00:00.000Z" hostname="h" tests="{n}" '
    'failures="1" errors="0" skipped="0" time="0.1">'
)


def parse(tmp_path: Path, text: str, name: str = "r.xml") -> TestRun:
    path = tmp_path / name
    path.write_text(text)
    run = parse_report(path, source=name, max_bytes=10_000_000)
    assert isinstance(run, TestRun), run
    return run


def counts(run: TestRun) -> dict[str, int]:
    return {**run.counts(), "cancelled": run.count("cancelled"), "suite_errors": run.suite_errors}


def test_two_passing_cases_with_the_same_name_are_two_tests_not_a_flaky_one(
    tmp_path: Path,
) -> None:
    run = parse(
        tmp_path,
        '<testsuite name="s"><testcase classname="C" name="same"/>'
        '<testcase classname="C" name="same"/></testsuite>',
    )

    assert (run.tests, run.count("passed"), run.flaky) == (2, 2, 0)


def test_surefire_writes_reruns_as_elements_so_repeated_names_are_distinct(
    tmp_path: Path,
) -> None:
    """Its tests= counts executions (here 5 for 3 elements), which said nothing before; two
    passing runs of one parameterized name are two tests in Maven's summary."""
    run = parse(
        tmp_path,
        '<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespace'
        'SchemaLocation="https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-'
        'test-report-3.0.xsd" version="3.0" name="SlugTest" tests="5" errors="0" failures="3">'
        '<testcase name="slug[a]" classname="SlugTest"/><testcase name="slug[a]" classname="SlugTest"/>'
        '<testcase name="fails" classname="SlugTest"><failure message="x"/>'
        '<rerunFailure message="x"/><rerunFailure message="x"/></testcase></testsuite>',
    )

    assert (run.tests, run.count("passed"), run.count("failed"), run.flaky) == (3, 2, 1, 0)
    assert run.attempts == 5


def test_a_surefire_rerun_that_errored_makes_an_error_as_maven_counts_it(tmp_path: Path) -> None:
    run = parse(
        tmp_path,
        '<testsuite name="T"><testcase name="t" classname="T"><failure message="first"/>'
        '<rerunError message="refused"/></testcase></testsuite>',
    )

    assert (run.count("failed"), run.count("error")) == (0, 1)
    assert run.cases[0].message == "first" and run.cases[0].attempt == 2


def test_a_vitest_file_that_failed_to_import_is_a_file_error_not_a_test(tmp_path: Path) -> None:
    """Recognised by what Vitest writes, also under a custom ``suiteName``."""
    run = parse(
        tmp_path,
        VITEST_ROOT.format(name="web unit tests")
        + VITEST_SUITE.format(file="src/index.test.ts", n=1)
        + '<testcase classname="web.src/index.test.ts" name="src/index.test.ts" time="0">'
        '<failure message="Cannot find module" type="Error">stack</failure></testcase>'
        "</testsuite>"
        + VITEST_SUITE.format(file="src/a.test.ts", n=2)
        + '<testcase classname="src/a.test.ts" name="a &gt; passes"/>'
        '<testcase classname="src/a.test.ts" name="a &gt; fails">'
        '<failure message="1"/><failure message="2"/><failure message="3"/></testcase>'
        "</testsuite></testsuites>",
    )

    assert counts(run) | {"attempts": run.attempts} == {
        "tests": 2,
        "passed": 1,
        "failed": 1,
        "errors": 0,
        "skipped": 0,
        "flaky": 0,
        "cancelled": 0,
        "suite_errors": 1,
        "attempts": 4,
    }
    error = next(c for c in run.cases if c.suite_error)
    assert (error.status, error.name, error.message) == (
        "error",
        "src/index.test.ts",
        "Cannot find module",
    )
    assert error in run.problems  # evidence the trainer reads


def test_a_vitest_describe_block_whose_hook_threw_is_a_suite_error(tmp_path: Path) -> None:
    run = parse(
        tmp_path,
        VITEST_ROOT.format(name="vitest tests")
        + VITEST_SUITE.format(file="src/b.test.ts", n=3)
        + '<testcase classname="src/b.test.ts" name="upper &gt; with a fixture &gt; passes"/>'
        '<testcase classname="src/b.test.ts" name="top level"><failure/></testcase>'
        '<testcase classname="src/b.test.ts" name="with a fixture">'
        '<failure message="teardown failed"/></testcase></testsuite></testsuites>',
    )

    assert (run.tests, run.count("failed"), run.suite_errors) == (2, 1, 1)


def test_jest_junit_hook_and_file_errors_are_suite_errors_written_twice_counted_once(
    tmp_path: Path,
) -> None:
    hook = " Test execution failure: could be caused by test hooks like &apos;afterAll&apos;."
    run = parse(
        tmp_path,
        '<testsuites name="jest tests" tests="1" failures="1" errors="1" time="1">'
        '<testsuite name="upper" errors="0" failures="1" skipped="0" timestamp="t" time="1" '
        f'tests="1"><testcase classname="upper ok" name="upper ok"/>'
        f'<testcase classname="{hook}" name="{hook}"><failure>boom</failure></testcase></testsuite>'
        '<testsuite name="src/i.test.js" errors="1" failures="0" skipped="0" timestamp="t" '
        'time="0" tests="0">'
        '<testcase classname="Test suite failed to run" name="src/i.test.js"><error>no module</error>'
        '</testcase><testcase classname="Test suite failed to run" name="src/i.test.js">'
        "<failure>{}</failure></testcase></testsuite></testsuites>",
    )

    assert (run.tests, run.count("passed"), run.count("failed"), run.suite_errors) == (1, 1, 0, 2)


def test_node_cancelled_tests_are_cancelled_not_failed(tmp_path: Path) -> None:
    run = parse(
        tmp_path,
        '<testsuites><testsuite name="parent" tests="4" failures="3">'
        '<testcase name="a" classname="test"><failure type="cancelledByParent" message="test did '
        'not finish before its parent and was cancelled"/></testcase>'
        '<testcase name="b" classname="test"><failure type="testTimeoutFailure" '
        'message="test timed out after 50ms"/></testcase>'
        '<testcase name="c" classname="test"><failure type="testCodeFailure" message="1 !== 2"/>'
        '</testcase><testcase name="d" classname="test"/></testsuite></testsuites>',
    )

    assert counts(run) == {
        "tests": 4,
        "passed": 1,
        "failed": 1,
        "errors": 0,
        "skipped": 0,
        "flaky": 0,
        "cancelled": 2,
        "suite_errors": 0,
    }
    assert {c.name: c.status for c in run.cases} == {
        "a": "cancelled",
        "b": "cancelled",
        "c": "failed",
    }


NODE_TOTALS = (
    "\t<!-- tests 3 -->\n\t<!-- suites 0 -->\n\t<!-- pass 2 -->\n\t<!-- fail {fail} -->\n"
    "\t<!-- cancelled {cancelled} -->\n\t<!-- skipped 0 -->\n\t<!-- todo 0 -->\n"
    "\t<!-- duration_ms 83.1 -->\n"
)


def test_a_node_parent_whose_own_failure_the_report_drops_is_a_suite_error_from_nodes_totals(
    tmp_path: Path,
) -> None:
    """node writes a test with subtests as a <testsuite> and drops its own failure; its
    totals, the comments under the root, still count it."""
    run = parse(
        tmp_path,
        '<testsuites>\n\t<testsuite name="parent" tests="1" failures="0">'
        '<testcase name="child ok" classname="test"/></testsuite>\n'
        '\t<testcase name="plain ok" classname="test"/>\n'
        + NODE_TOTALS.format(fail=1, cancelled=0)
        + "</testsuites>",
    )

    assert counts(run)["failed"] == 0 and run.suite_errors == 1
    (error,) = run.cases
    assert error.suite_error and error.status == "error"
    assert error.message.startswith("node reports 1 failure(s) not in the report")


def test_node_totals_that_match_the_failing_elements_add_nothing(tmp_path: Path) -> None:
    run = parse(
        tmp_path,
        '<testsuites>\n\t<testcase name="fails" classname="test">'
        '<failure type="testCodeFailure" message="1 == 2"/></testcase>\n'
        '\t<testcase name="cut" classname="test"><failure type="cancelledByParent" '
        'message="cancelled"/></testcase>\n'
        + NODE_TOTALS.format(fail=1, cancelled=1)
        + "</testsuites>",
    )

    assert counts(run)["failed"] == 1 and counts(run)["cancelled"] == 1
    assert run.suite_errors == 0


def test_a_comment_inside_a_suite_is_the_users_diagnostic_not_nodes_totals(
    tmp_path: Path,
) -> None:
    run = parse(
        tmp_path,
        '<testsuites><testsuite name="s"><!-- fail 3 --><testcase name="a" classname="test"/>'
        "</testsuite><!-- not a total --></testsuites>",
    )

    assert run.suite_errors == 0 and counts(run)["tests"] == 1


def test_pytest_writes_a_teardown_error_after_a_failure_as_one_more_element_of_one_test(
    tmp_path: Path,
) -> None:
    """pytest opens a second <testcase> for the teardown error "to follow junit schema"
    (_pytest/junitxml.py); with rerunfailures the earlier attempts are bare."""
    teardown = "failed on teardown with &quot;RuntimeError: cleanup&quot;"
    run = parse(
        tmp_path,
        '<testsuites name="pytest tests"><testsuite name="pytest" tests="3">'
        '<testcase classname="m" name="t"/><testcase classname="m" name="t"/>'
        '<testcase classname="m" name="t"><failure message="assert 1 == 2"/></testcase>'
        f'<testcase classname="m" name="t"><error message="{teardown}"/></testcase>'
        '<testcase classname="m" name="u"/></testsuite></testsuites>',
    )

    assert (run.tests, run.count("failed"), run.count("error"), run.attempts) == (2, 1, 0, 4)
    assert run.cases[0].message == "assert 1 == 2" and run.cases[0].attempt == 3


def test_go_repeats_that_all_passed_are_one_test_run_again_not_flaky(tmp_path: Path) -> None:
    """``go test -count=2``: the same test twice, both passes."""
    run = parse(
        tmp_path,
        '<testsuites><testsuite name="pkg"><properties><property name="go.version" '
        'value="go1.22"/></properties><testcase classname="pkg" name="TestA"/>'
        '<testcase classname="pkg" name="TestA"/></testsuite></testsuites>',
    )

    assert (run.tests, run.flaky, run.attempts) == (1, 0, 2)
