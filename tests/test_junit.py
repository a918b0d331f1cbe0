"""JUnit parsing: counting rules on written cases, hostile files, and the real corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prompt_trainer.collect.junit import parse_report
from prompt_trainer.models import Skipped, TestRun
from tests.conftest import REALDATA


def parse(tmp_path: Path, text: str | bytes, name: str = "r.xml") -> TestRun | Skipped:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return parse_report(path, source=name, max_bytes=10_000_000)


def test_statuses_suites_and_attributes(tmp_path: Path) -> None:
    run = parse(
        tmp_path,
        """<testsuites><testsuite name="outer"><testsuite name="inner">
      <testcase classname="a.B" name="ok" time="0.5" file="a/b.py" line="3"/>
      <testcase classname="a.B" name="bad"><failure message="boom" type="AssertionError">tb</failure></testcase>
      <testcase classname="a.B" name="err"><error message="crash"/></testcase>
      <testcase classname="a.B" name="skip"><skipped/></testcase>
    </testsuite></testsuite></testsuites>""",
    )
    assert isinstance(run, TestRun)
    assert [c.status for c in run.cases] == ["passed", "failed", "error", "skipped"]
    ok, bad = run.cases[0], run.cases[1]
    assert (
        ok.suite == "outer.inner" and ok.file == "a/b.py" and ok.line == 3 and ok.duration_s == 0.5
    )
    assert bad.id == "a.B::bad" and bad.message == "boom" and bad.type == "AssertionError"


def test_surefire_flaky_failure_is_passed_and_flaky(tmp_path: Path) -> None:
    run = parse(
        tmp_path,
        """<testsuite name="s">
      <testcase classname="C" name="flaky"><flakyFailure message="first try"/></testcase>
      <testcase classname="C" name="rerun"><failure message="f"/><rerunFailure message="again"/></testcase>
    </testsuite>""",
    )
    assert isinstance(run, TestRun)
    flaky, rerun = run.cases
    assert flaky.status == "passed" and flaky.flaky and flaky.message == "first try"
    assert rerun.status == "failed" and not rerun.flaky


def test_bom_and_declared_encoding(tmp_path: Path) -> None:
    text = '<?xml version="1.0" encoding="ISO-8859-1"?><testsuite><testcase name="caf\xe9"/></testsuite>'
    run = parse(tmp_path, b"\xef\xbb\xbf" + text.encode("utf-8").replace(b"ISO-8859-1", b"UTF-8"))
    assert isinstance(run, TestRun) and run.cases[0].name == "café"
    latin = parse(tmp_path, text.encode("latin-1"), name="latin.xml")
    assert isinstance(latin, TestRun) and latin.cases[0].name == "café"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<testsuite><testcase name='x'>", "malformed XML"),
        ("plain text, not xml", "malformed XML"),
        ("<result><suites/></result>", "not a JUnit report"),
        (
            '<!DOCTYPE t [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><testsuite><testcase name="&b;"/></testsuite>',
            "refused unsafe XML",
        ),
        (
            '<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><testsuite><testcase name="&x;"/></testsuite>',
            "refused unsafe XML",
        ),
    ],
)
def test_bad_files_are_skipped_with_a_reason(tmp_path: Path, text: str, reason: str) -> None:
    result = parse(tmp_path, text)
    assert isinstance(result, Skipped) and reason in result.reason


def test_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_text("<testsuite>" + "<testcase name='x'/>" * 100 + "</testsuite>")
    result = parse_report(path, source="big.xml", max_bytes=100)
    assert isinstance(result, Skipped) and "cap" in result.reason


def test_secrets_in_messages_are_redacted(tmp_path: Path) -> None:
    token = "ghp_" + "A1b2" * 9
    run = parse(
        tmp_path,
        f'<testsuite><testcase name="t"><failure message="auth {token}">{token}</failure></testcase></testsuite>',
    )
    assert isinstance(run, TestRun)
    assert token not in run.cases[0].message + run.cases[0].text
    assert "[REDACTED:github-token]" in run.cases[0].message


def _expected() -> list[dict[str, object]]:
    manifest = REALDATA / "junit" / "EXPECTED.json"
    if not manifest.exists():
        return []
    return [f for f in json.loads(manifest.read_text())["files"] if f["file"].endswith(".xml")]


@pytest.mark.skipif(not (REALDATA / "junit").exists(), reason="../shared/realdata not present")
@pytest.mark.parametrize("entry", _expected(), ids=lambda e: str(e["file"]))
def test_real_reports_never_crash_and_parse_errors_match(entry: dict[str, object]) -> None:
    """Every real file parses or is skipped; the curator's parse errors are skipped too, and
    well-formed JUnit files yield one case per <testcase> element."""
    path = REALDATA / "junit" / str(entry["file"])
    result = parse_report(path, source=str(entry["file"]), max_bytes=10_000_000)
    counted = entry.get("counted")
    if not isinstance(counted, dict):  # the curator's parse failed: we must refuse it too
        assert isinstance(result, Skipped)
    elif entry.get("root") in ("testsuites", "testsuite"):
        assert isinstance(result, TestRun)
        assert result.tests == counted["testcases"]
    else:
        assert isinstance(result, Skipped) and "not a JUnit report" in result.reason
