"""Run hygiene: every run keeps its directory under .prompt-trainer/runs/, an interrupted run is
resumed from its status file instead of started over, and old runs are pruned."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prompt_trainer import workdir
from prompt_trainer.cli import main
from prompt_trainer.loop import runs
from tests.servers.github import FakeGitHub, Fault, Pull
from tests.servers.llm import FakeLLM
from tests.test_faults import bot_pulls, hits


def only_run(root: Path) -> Path:
    (path,) = (root / ".prompt-trainer" / "runs").iterdir()
    return path


def read(path: Path) -> Any:
    return json.loads(path.read_text())


def test_a_run_keeps_its_inputs_usage_candidate_evaluation_and_body(
    ready: Path, env: dict[str, str], tmp_path: Path
) -> None:
    output = tmp_path / "output"
    assert main(["run", "--pr", "7"], env={**env, "GITHUB_OUTPUT": str(output)}) == 0
    run = only_run(ready)
    status = read(run / "status.json")
    assert status["state"] == "done" and status["command"] == "run"
    assert set(status["steps"]) == {"collect:#7", "train:coder", "propose:coder"}
    assert status["steps"]["propose:coder"]["operation"] == "created"
    assert read(run / "inputs.json")["pull_request"] == 7
    assert read(run / "usage.json")["coder"]["calls"] == 2  # the rewrite and the check
    candidate = read(run / "targets" / "coder" / "candidate.json")
    assert candidate["target"] == "coder" and candidate["files"]
    assert read(run / "targets" / "coder" / "evaluation.json")["guardrails"] == "passed"
    assert "Round money with Decimal.quantize." in (run / "targets/coder/body.md").read_text()
    outcome = read(run / "outcome.json")
    assert outcome["proposals"][0]["operation"] == "created"
    assert outcome["evidence"][0]["test_cases"] > 0
    assert f"run-dir={run}\n" in output.read_text()


def test_a_failed_run_is_retried_from_its_failed_step_without_collecting_or_training_again(
    github: FakeGitHub,
    llm: FakeLLM,
    ready: Path,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    github.faults.append(Fault("POST", r"/pulls", 400, times=99, message="stopped here"))
    assert main(["run", "--pr", "7"], env=env) == 3
    run = only_run(ready)
    status = read(run / "status.json")
    assert status["state"] == "failed" and "stopped here" in str(status["message"])
    assert set(status["steps"]) == {"collect:#7", "train:coder"}
    github.faults.clear()
    shutil.rmtree(ready / ".prompt-trainer" / "cache")  # not DSPy's cache: the run's record
    calls, reads = len(llm.requests), hits(github, "GET", "/pulls/7/reviews")
    capsys.readouterr()
    assert main(["run", "--pr", "7"], env=env) == 0
    assert only_run(ready) == run  # the same directory, resumed
    said = capsys.readouterr().err
    assert f"runs: retrying run {run.name}, which failed (" in said and "stopped here" in said
    assert "the one that failed runs again" in said and "interrupted" not in said
    status = read(run / "status.json")
    assert status["state"] == "done" and status["resumed"] == 1
    assert len(llm.requests) == calls  # the stored candidate was reused
    assert hits(github, "GET", "/pulls/7/reviews") == reads  # the PR was not collected again
    assert len(bot_pulls(github)) == 1
    # Once done, the same command starts a new run.
    assert main(["run", "--pr", "7"], env=env) == 0
    assert len(list((ready / ".prompt-trainer" / "runs").iterdir())) == 2


def test_an_interrupted_collection_resumes_after_the_prs_it_stored(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    seven = github.pulls[7]
    github.add_pull(
        Pull(8, "Second", seven.head_ref, seven.head_sha, "main", seven.base_sha, state="closed")
    )
    github.faults.append(Fault("GET", r"/pulls/8", 500, times=99))
    assert main(["collect", "--pr", "7", "--pr", "8"], env=env) == 3
    assert set(read(only_run(ready) / "status.json")["steps"]) == {"collect:#7"}
    github.faults.clear()
    before = hits(github, "GET", "/pulls/7")
    assert main(["collect", "--pr", "7", "--pr", "8"], env=env) == 0
    assert hits(github, "GET", "/pulls/7") == before
    status = read(only_run(ready) / "status.json")
    assert set(status["steps"]) == {"collect:#7", "collect:#8"}
    assert status["state"] == "done"


def test_old_runs_are_pruned_and_stale_ones_are_not_resumed(tmp_path: Path) -> None:
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    base = workdir.runs_dir(tmp_path)
    for when, state in ((now - timedelta(days=40), "done"), (now - timedelta(days=2), "failed")):
        path = base / when.strftime(runs.STAMP)
        path.mkdir(parents=True)
        (path / "status.json").write_text(json.dumps({"key": "k", "state": state}))
    (base / "notes").mkdir()  # not a run directory: left alone
    lines: list[str] = []
    record = runs.start(
        tmp_path,
        command="run",
        key="k",
        inputs={},
        keep_days=30,
        resume_within_hours=24,
        log=lines.append,
        now=now,
    )
    names = sorted(p.name for p in base.iterdir())
    assert names == ["20261119T120000Z", "20261121T120000Z", "notes"]
    assert record.path.name == "20261121T120000Z"  # the failed run is 2 days old: not resumed
    assert lines == ["runs: deleted 1 run directory older than 30 days"]
    assert [r.path.name for r in runs.list_runs(tmp_path)] == [
        "20261121T120000Z",
        "20261119T120000Z",
    ]


def test_the_runs_command_lists_them(
    ready: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs"], env=env) == 0
    none = capsys.readouterr()
    assert none.out == ""  # nothing for a script to read
    assert "no runs recorded in .prompt-trainer/runs yet" in none.err
    assert main(["run", "--pr", "7"], env=env) == 0
    capsys.readouterr()
    assert main(["runs", "--json"], env=env) == 0
    (line,) = capsys.readouterr().out.splitlines()
    data = json.loads(line)
    assert (data["command"], data["state"]) == ("run", "done")
    assert data["steps"] == ["collect:#7", "propose:coder", "train:coder"]
    assert main(["runs"], env=env) == 0
    assert "\trun\tdone\t3 step(s)" in capsys.readouterr().out
