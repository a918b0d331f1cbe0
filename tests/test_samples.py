"""``prompt-trainer samples ls`` / ``samples rm``: list the local ledger, remove from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from prompt_trainer.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "basic"


@pytest.fixture
def collected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".prompt-trainer"))
    monkeypatch.chdir(root)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    capsys.readouterr()
    return root


def test_samples_ls_lists_every_stored_sample(
    collected: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["samples", "ls"], env={}) == 0
    out = capsys.readouterr().out
    assert "| local:pr-101 | 101 |" in out and out.rstrip().endswith("12 sample(s).")
    assert main(["samples", "ls", "--json"], env={}) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 12 and rows[0]["id"] == "local:pr-101" and rows[0]["tests"] == 6


def test_samples_rm_removes_one_and_the_report_no_longer_counts_it(
    collected: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["samples", "rm", "local:pr-101"], env={}) == 0
    assert "removed 1 sample(s): local:pr-101" in capsys.readouterr().out
    assert main(["samples", "ls", "--json"], env={}) == 0
    ids = [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]
    assert len(ids) == 11 and "local:pr-101" not in ids
    assert main(["report", "--format", "json", "--history", "none"], env={}) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert sum(v["samples"] for v in report["versions"]) == 11


def test_samples_rm_of_an_unknown_id_removes_nothing_and_says_which_exist(
    collected: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["samples", "rm", "local:pr-101", "local:nope"], env={}) == 2
    err = capsys.readouterr().err
    assert "no stored sample with id 'local:nope'" in err and "samples ls" in err
    assert main(["samples", "ls", "--json"], env={}) == 0
    assert len(capsys.readouterr().out.splitlines()) == 12
