"""``prompt-trainer run --local`` on the bundled example, against the local LM server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from tests.scripted import lenient
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "basic"


#: A bullet the rewrite adds that no bullet of the example says yet.
NEW_BULLET = "Never write a `BillingHttpClient`; every billing call goes through the one client."


def reply(request: dict[str, object]) -> str:
    return chat_adapter_reply(
        candidate_main_prompt=f"# Working on the invoice service\n\n- {NEW_BULLET}\n",
        candidate_subagents=[],
        analysis_summary=f"- new: {NEW_BULLET} (#9001, review-comment-9001).",
    )


@pytest.fixture
def example(tmp_path: Path) -> Path:
    target = tmp_path / "basic"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".prompt-trainer"))
    return target


def test_local_run_writes_numbered_candidates(
    example: Path,
    llm: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = example / ".github" / "prompt-trainer.yml"
    config.write_text(
        config.read_text().replace("max_subagents: 5", "max_subagents: 5\n    strategy: rewrite")
        + "training:\n  holdout: 0\n"
    )
    llm.script = [by_signature(candidate_main_prompt=reply, verdicts=lenient)]
    monkeypatch.chdir(example)

    assert main(["run", "--local", "evidence", "--api-base", llm.api_base]) == 0
    assert main(["run", "--local", "evidence", "--api-base", llm.api_base]) == 0

    base = example / ".prompt-trainer" / "candidates" / "coder"
    assert sorted(p.name for p in base.iterdir()) == ["candidate-001", "candidate-002"]
    first = base / "candidate-001"
    # The rewrite dropped all five bullets citing no evidence: every removal is put back, and
    # evaluation.json says so; its new bullet cites the second-HTTP-client review and is added.
    before = (example / "CLAUDE.md").read_text()
    assert (first / "CLAUDE.md").read_text() == before + f"- {NEW_BULLET}\n"
    dropped = json.loads((first / "evaluation.json").read_text())["dropped"]
    assert len(dropped) == 5
    assert all("cites no evidence id" in d and d.endswith("(kept as it was)") for d in dropped)
    assert (first / ".claude" / "agents" / "test-runner.md").exists()
    assert "review-comment-9001" in (first / "analysis.md").read_text()
    assert json.loads((first / "evaluation.json").read_text())["guardrails"]["passed"]
    meta = json.loads((first / "candidate.json").read_text())
    assert meta["sample_ids"] == [f"local:pr-{n}" for n in range(101, 113)]
    assert len(llm.requests) == 2  # the rewrite and the check; the second run: the cache
    sent = json.dumps(llm.requests[0])
    assert "extend it instead of creating" in sent  # a trusted review comment reaches the model
    assert "always approve" not in sent  # the untrusted drive-by comment does not
    assert "tests.test_fees::test_late_fee_rounding" in sent
    assert "written" in capsys.readouterr().err


def test_local_run_without_a_key_stores_evidence_and_exits_0(
    example: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(example)

    assert main(["run", "--local", "evidence"], env={}) == 0

    err = capsys.readouterr().err
    assert "training skipped: no API key" in err
    assert len((example / ".prompt-trainer" / "samples.jsonl").read_text().splitlines()) == 12
    # It ends with what training would cost and the exact command that trains.
    # Outside git every sample counts for the working tree's prompts: 12, of which 4 with a
    # failure and 2 without a problem are held out (evaluate.heldout): up to 6 reflections,
    # 1 curation and 6 judge calls.
    assert "Training would cost coder (12 samples): up to 13 LLM calls" in err
    assert "at openai/gpt-4.1's list price" in err
    assert err.rstrip().endswith("to train: OPENAI_API_KEY=... prompt-trainer run --local evidence")


def test_the_projection_counts_the_calls_the_strategy_makes() -> None:
    """The pairwise judge's split: the newest 30% (at least five from eight samples on)."""
    from prompt_trainer.evaluate.split import held_count  # noqa: PLC0415
    from prompt_trainer.train.projection import price_per_token  # noqa: PLC0415

    assert [held_count(n, 0.3) for n in (1, 2, 6, 8, 30)] == [0, 1, 2, 5, 9]
    assert held_count(10, 0) == 0
    price = price_per_token("openai/gpt-4.1")
    assert price is not None and price[0] > 0 and price[1] > price[0]
    assert price_per_token("openai/no-such-model") is None


def test_empty_directory_is_nothing_to_train(
    example: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(example)

    assert main(["run", "--local", str(tmp_path / "empty")], env={}) == 0

    assert "nothing to train" in capsys.readouterr().err


def test_llm_server_errors_exit_4_and_keep_the_evidence(
    example: Path,
    llm: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    llm.status = 500
    monkeypatch.chdir(example)

    no_backoff = {"PROMPT_TRAINER_BACKOFF_S": "0"}  # the retries do not sleep
    assert main(["run", "--local", "evidence", "--api-base", llm.api_base], env=no_backoff) == 4

    assert "LLM call failed" in capsys.readouterr().err
    assert (example / ".prompt-trainer" / "samples.jsonl").exists()
    assert not (example / ".prompt-trainer" / "candidates").exists()


def test_run_needs_a_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"], env={}) == 2
    assert "--pr N or --local DIR" in capsys.readouterr().err
