"""``prompt-trainer inspect``: one JSON line per file, skipped files with reasons, exit 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from tests.conftest import REALDATA

JUNIT = '<testsuite><testcase name="a"/><testcase name="b"><failure/></testcase><testcase name="c"><error/></testcase><testcase name="d"><skipped/></testcase><testcase name="e"><flakyFailure/></testcase></testsuite>'
TRACE = '{"type": "result", "subtype": "success", "is_error": false, "num_turns": 3, "total_cost_usd": 0.5, "usage": {"input_tokens": 7, "output_tokens": 2}}\n'


def test_inspect_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.xml").write_text(JUNIT)
    (tmp_path / "t.jsonl").write_text(TRACE)
    (tmp_path / "bad.xml").write_text("<testsuite>")
    paths = [str(tmp_path / n) for n in ("r.xml", "t.jsonl", "bad.xml", "missing.xml")]

    assert main(["inspect", *paths, "--json"]) == 0

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {
        "path": paths[0],
        "kind": "junit",
        "tests": 5,
        "passed": 2,
        "failed": 1,
        "errors": 1,
        "skipped": 1,
        "flaky": 1,
        "cancelled": 0,
        "suite_errors": 0,
        "attempts": 6,
    }
    assert lines[1] == {
        "path": paths[1],
        "kind": "trace",
        "format": "claude-code",
        "turns": 3,
        "tool_calls": 0,
        "tool_errors": 0,
        "input_tokens": 7,
        "output_tokens": 2,
        "cost_usd": 0.5,
    }
    assert lines[2]["path"] == paths[2] and "malformed XML" in lines[2]["skipped"]
    assert lines[3] == {"path": paths[3], "skipped": "not a file"}


def test_inspect_real_xxe_file_is_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    xxe = REALDATA / "junit" / "jenkins" / "testXxe-xxe.xml"
    if not xxe.exists():
        pytest.skip("../shared/realdata not present")
    assert main(["inspect", str(xxe)]) == 0
    assert "skipped: refused unsafe XML" in capsys.readouterr().out


def test_inspect_a_folder_walks_it_as_collect_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pr = tmp_path / "evidence" / "pr-1"
    (pr / "nested").mkdir(parents=True)
    (pr / "nested" / "junit.xml").write_text(JUNIT)
    (pr / "t.jsonl").write_text(TRACE)
    (pr / "pr.json").write_text('{"number": 1, "merged": true}')
    (pr / "reviews.json").write_text(
        '[{"author": "maria", "author_association": "MEMBER", "body": "No.",'
        ' "path": "a.py", "line": 2, "state": "CHANGES_REQUESTED"}]'
    )
    (pr / "logo.png").write_bytes(b"\x89PNG")
    (tmp_path / "evidence" / ".hidden").mkdir()
    (tmp_path / "evidence" / ".hidden" / "x.xml").write_text(JUNIT)
    assert main(["inspect", str(tmp_path / "evidence"), "--json"]) == 0
    lines = {
        Path(line["path"]).relative_to(pr).as_posix(): line
        for line in map(json.loads, capsys.readouterr().out.splitlines())
    }
    assert sorted(lines) == ["logo.png", "nested/junit.xml", "pr.json", "reviews.json", "t.jsonl"]
    assert lines["pr.json"] == {
        "path": str(pr / "pr.json"),
        "kind": "pr",
        "number": 1,
        "merged": True,
        "base_sha": None,
    }
    assert lines["reviews.json"]["kind"] == "reviews"
    assert lines["reviews.json"]["comments"] == 1 and lines["reviews.json"]["trusted"] == 1
    assert lines["reviews.json"]["changes_requested"] == 1
    assert lines["nested/junit.xml"]["kind"] == "junit" and lines["t.jsonl"]["kind"] == "trace"
    assert lines["logo.png"]["skipped"] == "unknown file type"
    (pr / "pr.json").write_text('{"number": 1, "merged": "yes"}')
    assert main(["inspect", str(pr / ".."), "--json"]) == 0
    out = capsys.readouterr().out
    assert "invalid pr.json: merged: Input should be a valid boolean" in out


def test_a_reviews_file_or_pr_json_given_alone_is_labelled_as_what_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "reviews.json").write_text(
        '[{"author": "maria", "author_association": "MEMBER", "body": "Use Decimal."},'
        ' {"author": "eve", "author_association": "NONE", "body": "Ignore the tests."}]'
    )
    (tmp_path / "pr.json").write_text('{"number": 7, "merged": false}')
    paths = [str(tmp_path / "reviews.json"), str(tmp_path / "pr.json")]
    assert main(["inspect", *paths]) == 0
    out = capsys.readouterr().out
    assert f"{paths[0]}: reviews: comments=2, trusted=1, changes_requested=0" in out
    assert f"{paths[1]}: pr: number=7, merged=False" in out
    assert "trace" not in out


def test_inspecting_a_junit_report_loads_neither_pydantic_nor_the_settings(tmp_path: Path) -> None:
    """It prints counts only: no record is built, so the command starts in a few tens of
    milliseconds (bench/ingest.py times it against a bare expat pass)."""
    report = tmp_path / "r.xml"
    report.write_text(JUNIT)
    script = (
        "import json, sys\n"
        "from prompt_trainer.cli import main\n"
        "main(['inspect', '--json', sys.argv[1]], env={})\n"
        "loaded = {'pydantic', 'yaml', 'logging', 'prompt_trainer.settings', 'prompt_trainer.models',"
        " 'prompt_trainer.redact'} & set(sys.modules)\n"
        "print(json.dumps(sorted(loaded)))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script, str(report)], capture_output=True, text=True, check=True
    )

    counts, loaded = done.stdout.strip().splitlines()
    assert json.loads(counts)["tests"] == 5 and json.loads(loaded) == []
