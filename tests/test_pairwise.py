"""The pairwise held-out judge (``training.judge: pairwise``): blind pairs in both orders,
scores read as models write them, an exact sign test that says "too few to judge" at small n,
the judge's calls planned before training, and the gate that keeps a worse candidate from
being proposed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from prompt_trainer.evaluate.pairwise import read_score, summarize
from prompt_trainer.measure.stats import sign_test
from prompt_trainer.models import HeldOutScore
from tests.scripted import lenient, reflect
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply
from tests.test_strategies import (
    NEW_RULE,
    candidate_dir,
    collected_example,
    curate,
    prompt_sets,
)


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled example, collected, outside git, judged pairwise (``training.judge``)."""
    root = collected_example(tmp_path, monkeypatch)
    config = root / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "training:\n  judge: pairwise\n")
    return root


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("0.8", 0.8),
        ('"0.8"', 0.8),
        ("8/10", 0.8),
        ("80", 0.8),
        ("80%", 0.8),
        ("8", 0.8),
        ("**0.8**", 0.8),
        ("4 out of 5", 0.8),
        ("1", 1.0),
        ("0", 0.0),
        (0.25, 0.25),
    ],
)
def test_judge_scores_are_read_as_models_write_them(written: object, read: float) -> None:
    assert read_score(written) == pytest.approx(read)


@pytest.mark.parametrize("written", ["high", "", "-0.2", "150", "3/0", "nan"])
def test_an_unreadable_score_is_none(written: str) -> None:
    assert read_score(written) is None


def pairs(*preferences: str) -> list[HeldOutScore]:
    score = {"candidate": (0.2, 0.8), "current": (0.8, 0.2), "tie": (0.5, 0.5)}
    return [
        HeldOutScore(sample=f"s{n}", current=score[p][0], candidate=score[p][1], preference=p)
        for n, p in enumerate(preferences)
    ]


def test_below_eight_decided_pairs_is_too_few_to_judge_with_no_interval() -> None:
    result = summarize(pairs("candidate", "candidate", "candidate"))
    assert result.verdict == "too few to judge"
    assert (result.wins, result.losses, result.ties) == (3, 0, 0)
    assert result.low is None and result.high is None  # no bootstrap at n <= 5
    assert result.p_value == pytest.approx(0.25)


def test_the_sign_test_is_exact_and_decides_from_eight_pairs_on() -> None:
    assert sign_test(8, 0) == pytest.approx(2 / 256)
    assert sign_test(7, 1) == pytest.approx(2 * 9 / 256)
    assert sign_test(0, 0) is None
    assert summarize(pairs(*["candidate"] * 8)).verdict == "better"
    assert summarize(pairs(*["current"] * 9)).verdict == "worse"
    mixed = summarize(pairs(*["candidate"] * 5, *["current"] * 3, "tie", "tie"))
    assert mixed.verdict == "no clear difference" and mixed.ties == 2
    assert mixed.low is not None  # ten samples: the interval is given


def position_biased(request: dict[str, object]) -> str:
    """Always prefers whichever set is shown as A."""
    return chat_adapter_reply(score_a="8/10", score_b="0.4", feedback="A is better.")


def test_a_preference_that_flips_with_the_order_is_a_tie(example: Path, llm: FakeLLM) -> None:
    llm.script = [
        by_signature(root_cause=reflect, verdicts=lenient, edits=curate, score_a=position_biased)
    ]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    held_out = json.loads((candidate_dir(example) / "evaluation.json").read_text())["held_out"]
    assert (held_out["wins"], held_out["losses"], held_out["ties"]) == (0, 0, 5)
    assert {s["preference"] for s in held_out["scores"]} == {"tie"}
    judged = [r for r in llm.requests if "[[ ## score_a ## ]]" in json.dumps(r)]
    assert len(judged) == 10 and all(r["temperature"] == 0.0 for r in judged)
    # each sample is shown in both orders
    first, second = (prompt_sets(r) for r in judged[:2])
    assert first == second[::-1]


def test_an_unreadable_judge_answer_skips_that_pair_and_the_run_goes_on(
    example: Path, llm: FakeLLM
) -> None:
    def judge(request: dict[str, object]) -> str:
        if "pr-110" in json.dumps(request):
            return chat_adapter_reply(score_a="quite good", score_b="better", feedback="?")
        a, b = (NEW_RULE.replace("`", "") in side for side in prompt_sets(request))
        return chat_adapter_reply(
            score_a=0.9 if a else 0.3, score_b=0.9 if b else 0.3, feedback="."
        )

    llm.script = [by_signature(root_cause=reflect, verdicts=lenient, edits=curate, score_a=judge)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    held_out = json.loads((candidate_dir(example) / "evaluation.json").read_text())["held_out"]
    assert held_out["unreadable"] == ["local:pr-110"]
    assert held_out["wins"] == 4 and len(held_out["scores"]) == 4


def test_a_candidate_the_judge_finds_worse_is_not_proposed(
    example: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nine of twelve PRs held out: nine decided pairs all prefer the current prompts."""
    config = example / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "  holdout: 0.7\n")

    def prefers_current(request: dict[str, object]) -> str:
        a, b = (NEW_RULE.replace("`", "") in side for side in prompt_sets(request))
        return chat_adapter_reply(
            score_a=0.2 if a else 0.7, score_b=0.2 if b else 0.7, feedback="."
        )

    llm.script = [
        by_signature(root_cause=reflect, verdicts=lenient, edits=curate, score_a=prefers_current)
    ]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    evaluation = json.loads((candidate_dir(example) / "evaluation.json").read_text())
    assert evaluation["held_out"]["verdict"] == "worse"
    assert not evaluation["guardrails"]["passed"]
    assert (
        "held-out: the judge prefers the current prompts (0 better, 9 worse"
        in (evaluation["guardrails"]["problems"][0])
    )
    assert "training.require_improvement" in capsys.readouterr().err
    # switched off, the same candidate passes the gate
    config.write_text(config.read_text() + "  require_improvement: false\n")
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    assert json.loads((candidate_dir(example, 2) / "evaluation.json").read_text())["guardrails"][
        "passed"
    ]


def thirty_prs(root: Path) -> None:
    """The example's twelve PRs and eighteen copies of them under new numbers and dates."""
    evidence = root / "evidence"
    for n in range(113, 131):
        source = evidence / f"pr-{101 + (n - 113) % 12}"
        shutil.copytree(source, evidence / f"pr-{n}")
        pr = json.loads((evidence / f"pr-{n}" / "pr.json").read_text())
        pr.update(number=n, url=pr["url"].rsplit("/", 1)[0] + f"/{n}")
        pr["closed_at"] = f"2026-11-{n - 100:02d}T12:00:00Z"
        (evidence / f"pr-{n}" / "pr.json").write_text(json.dumps(pr))


def test_the_judges_calls_are_reserved_before_reflecting(example: Path, llm: FakeLLM) -> None:
    """30 PRs, max_calls 25: the newest 9 are judged (18 calls), training gets the other 7:
    one reflection on each of the five failure clusters of those 21 PRs (no second batch: the
    budget is spent), the curation and the check."""
    thirty_prs(example)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    llm.script = [
        by_signature(root_cause=reflect, verdicts=lenient, edits=curate, score_a=position_biased)
    ]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    assert len(llm.requests) == 25
    evaluation = json.loads((candidate_dir(example) / "evaluation.json").read_text())
    held_out = evaluation["held_out"]
    assert held_out["skipped"] is None and len(held_out["scores"]) == 9
    analysis = (candidate_dir(example) / "analysis.md").read_text()
    assert "reflected on 5 of 5 failure cluster(s) (5 call(s))" in analysis, analysis
