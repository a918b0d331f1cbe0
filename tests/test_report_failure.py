"""Failures no test catches, reported by people, become evidence: stored on the sample, kept
when the PR is collected again, shown by `report`, and read by the trainer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply, user_text

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "basic"


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "basic"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".prompt-trainer"))
    monkeypatch.chdir(root)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    return root


def report_failure() -> list[str]:
    return [
        "report-failure",
        "--pr",
        "104",
        "--type",
        "integration_error",
        "--description",
        "created a new client instead of extending ApiClient",
        "--author",
        "maria",
    ]


def test_a_reported_failure_is_stored_shown_and_survives_recollection(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(report_failure(), env={}) == 0
    assert main(["collect", "--local", "evidence"], env={}) == 0  # collected again
    ledger = [
        json.loads(line)
        for line in (example / ".prompt-trainer" / "samples.jsonl").read_text().splitlines()
    ]
    (sample,) = [s for s in ledger if s["id"] == "local:pr-104"]
    assert [f["type"] for f in sample["failures"]] == ["integration_error"]
    capsys.readouterr()
    assert main(["report", "--format", "json", "--history", "none"], env={}) == 0
    (report,) = json.loads(capsys.readouterr().out)
    reported = [p for p in report["patterns"] if p["kind"] == "reported_failure"]
    assert reported == [
        {
            "kind": "reported_failure",
            "key": "integration_error",
            "count": 1,
            "examples": [
                "https://github.com/example/invoices/pull/104 (created a new client instead of extending ApiClient)"
            ],
        }
    ]


def test_the_trainer_reads_reported_failures_and_may_cite_them(example: Path, llm: FakeLLM) -> None:
    assert main(report_failure(), env={}) == 0
    config = example / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "training:\n  holdout: 0\n")
    failure_id = "failure:local:pr-104#1"

    def reflect(request: dict[str, object]) -> str:
        text = user_text(request)
        return chat_adapter_reply(
            what_went_wrong="a second client",
            implicated="missing",
            evidence=[failure_id] if failure_id in text else [],
        )

    def curate(request: dict[str, object]) -> str:
        return chat_adapter_reply(
            edits=[
                {
                    "op": "add",
                    "new_text": "Never add a second HTTP client.",
                    "evidence": [failure_id],
                }
            ],
            analysis_summary="x",
        )

    llm.script = [by_signature(what_went_wrong=reflect, edits=curate)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    assert "created a new client instead of extending ApiClient" in json.dumps(llm.requests)
    folder = example / ".prompt-trainer" / "candidates" / "coder" / "candidate-001"
    evaluation = json.loads((folder / "evaluation.json").read_text())
    assert [c["evidence"] for c in evaluation["changes"]] == [[failure_id]]


def test_reporting_on_a_pr_that_was_not_collected_says_how(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = report_failure()
    args[2] = "999"
    assert main(args, env={}) == 2
    assert "collect it first: prompt-trainer collect --pr 999" in capsys.readouterr().err
