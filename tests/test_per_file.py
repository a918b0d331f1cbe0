"""The per-file boundary: whatever one evidence file raises becomes that file's ``Skipped``.

Issue 24: an exception out of one file's reader ended a whole backfill with nothing stored. Each
case here raised out of its reader before: a ``ValidationError`` from a reviews file with a value
of the wrong type, a ``RecursionError`` from deeply nested JSON.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import pytest

from prompt_trainer.collect import junit
from prompt_trainer.collect.evidence import load_reviews
from prompt_trainer.collect.junit import parse_report
from prompt_trainer.collect.local import read_pull_info
from prompt_trainer.collect.traces import parse_trace
from prompt_trainer.models import Skipped
from prompt_trainer.settings import Limits

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('[{"body": "x", "state": {"a": 1}}]', "reviews file, comment 1: state: "),
        ('[{"body": "x", "created_at": "last week"}]', "reviews file, comment 1: created_at: "),
        (DEEP, "reviews file is not valid JSON: maximum recursion depth exceeded"),
    ],
)
def test_a_reviews_file_of_the_wrong_shape_is_skipped_with_the_key(
    tmp_path: Path, text: str, reason: str
) -> None:
    path = tmp_path / "reviews.json"
    path.write_text(text)

    result = load_reviews(path, trusted=("OWNER",), limits=Limits())

    assert isinstance(result, Skipped) and result.reason.startswith(reason), result


def test_deeply_nested_pr_json_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "pr.json"
    path.write_text(DEEP)

    result = read_pull_info(path, source="pr.json", limit=100)

    assert isinstance(result, Skipped) and "maximum recursion depth" in result.reason


@pytest.mark.internal_error
def test_a_bug_reached_by_one_file_skips_it_says_so_and_logs_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from prompt_trainer.collect.per_file import internal_error  # noqa: PLC0415

    def broken() -> str:
        value: str | None = None
        return value.upper()  # type: ignore[union-attr]

    try:
        broken()
    except AttributeError as exc:
        with caplog.at_level(logging.ERROR, logger="prompt_trainer.collect.per_file"):
            skipped = internal_error("art:TEST-a.xml", exc, what="report")

    assert skipped.source == "art:TEST-a.xml"
    assert skipped.reason.startswith(
        "internal error while reading this report (AttributeError: 'NoneType' object has no "
        "attribute 'upper' at test_per_file.py:"
    )
    assert skipped.reason.endswith("this is a prompt-trainer bug: please report it with the file")
    assert caplog.records[0].exc_info is not None  # the traceback is in the job log


def test_memory_errors_are_not_taken_for_a_bad_file() -> None:
    from prompt_trainer.collect.per_file import internal_error  # noqa: PLC0415

    with pytest.raises(MemoryError):
        internal_error("x", MemoryError(), what="report")


@pytest.mark.internal_error
def test_a_report_that_reaches_a_parser_bug_is_skipped_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stands in for a bug not found yet: the JUnit reader's boundary holds."""

    def bug(raw: object) -> str:
        raise KeyError("classname")

    monkeypatch.setattr(junit, "_classname", bug)
    path = tmp_path / "r.xml"
    path.write_text('<testsuite><testcase name="t"><failure/></testcase></testsuite>')

    result = parse_report(path, source="r.xml", max_bytes=10**6)

    assert isinstance(result, Skipped)
    assert result.reason.startswith("internal error while reading this report (KeyError: ")


@pytest.mark.internal_error
def test_a_trace_that_reaches_a_sniffer_bug_is_skipped_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prompt_trainer.collect.traces import FORMATS  # noqa: PLC0415

    def bug(head: object) -> bool:
        raise ZeroDivisionError("sniff")

    monkeypatch.setattr(FORMATS["claude-code"], "sniff", bug)
    path = tmp_path / "t.jsonl"
    path.write_text('{"type": "system"}\n')

    result = parse_trace(path, source="t.jsonl", max_bytes=10**6)

    assert isinstance(result, Skipped) and "ZeroDivisionError: sniff" in result.reason


@pytest.mark.internal_error
def test_an_archive_member_that_reaches_a_bug_costs_only_that_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prompt_trainer.collect import artifacts  # noqa: PLC0415

    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for name in ("a.xml", "odd.xml", "c.xml"):
            bundle.writestr(name, "<testsuite/>")
    real = artifacts._member_problem

    def bug(info: zipfile.ZipInfo, limits: artifacts.ZipLimits) -> str | None:
        if info.filename == "odd.xml":
            raise IndexError("tuple index out of range")
        return real(info, limits)

    monkeypatch.setattr(artifacts, "_member_problem", bug)
    limits = artifacts.ZipLimits(max_total_bytes=10**6, max_files=10)

    result = artifacts.extract_zip(archive, tmp_path / "out", limits=limits, label="art")

    assert sorted(p.name for p in result.files) == ["a.xml", "c.xml"]
    assert [s.source for s in result.skipped] == ["art:odd.xml"]
    assert (
        "internal error while reading this archive member (IndexError" in result.skipped[0].reason
    )
