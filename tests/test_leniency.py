"""A lenient judge cannot carry a candidate, and an edit measured not effective does not ride
along beside one that works: end to end through the CLI and DSPy against the local LM server,
with the judges real models can be (one that says "prevents" to everything, one that tells the
edits apart) and a checker that says yes to everything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prompt_trainer.cli import main
from prompt_trainer.settings import Target
from prompt_trainer.store import open_ledger
from prompt_trainer.targets import LocalSource, load_prompt_set
from tests.scripted import lenient, reflect
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply
from tests.test_judge import (
    CLIENT,
    CONFIG,
    MAIN,
    ROUND_RULE,
    ROUNDING,
    curate,
    discerning,
    evaluation,
    judged_as,
    pr,
)

#: Junk a model writes beside a good rule: specific and about the billing client it cites, so
#: the support rule and a lenient checker pass it; only the held-out failures can tell.
TIDY = "Keep the billing code tidy and consistent in `invoices/billing.py`."
FOLDER = Path(".prompt-trainer/candidates/coder/candidate-001")


def checkout(root: Path, kinds: list[str]) -> Path:
    (root / ".github").mkdir(parents=True)
    (root / ".github" / "prompt-trainer.yml").write_text(CONFIG)
    (root / "CLAUDE.md").write_text(MAIN)
    version = load_prompt_set(Target(name="coder", main="CLAUDE.md"), LocalSource(root)).version
    open_ledger(root).upsert([pr(100 + n, kind, version) for n, kind in enumerate(kinds)])
    return root


@pytest.fixture
def few(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """4 rounding failures, 10 second HTTP clients, 6 PRs without a problem: the rounding
    rule gets 2 held-out failures of its kind (too few to judge), the client rule 8."""
    kinds = ["rounding", "client", "clean", "client", "client"] * 4
    root = checkout(tmp_path / "repo", kinds)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def twenty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """test_judge's 20 PRs: 6 rounding failures, 6 second HTTP clients, 8 without a problem."""
    kinds = ["rounding", "client", "clean", "clean"] * 4 + ["rounding", "client"] * 2
    root = checkout(tmp_path / "repo", kinds)
    monkeypatch.chdir(root)
    return root


def always_prevents(diff: str, failure: str) -> str:
    return "prevents"


def script(llm: FakeLLM, judge: Any, edits: Any = curate) -> None:
    llm.script = [by_signature(effects=judge, root_cause=reflect, verdicts=lenient, edits=edits)]


def test_a_lenient_judge_cannot_carry_a_candidate_on_an_edit_too_few_to_judge(
    few: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    script(llm, judged_as(always_prevents))
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    result = evaluation(few)
    outcomes = {e["text"]: e["outcome"] for e in result["edits"]}
    assert outcomes[ROUND_RULE] == "too few to judge"  # "prevents" its 2: it used to carry
    assert not result["guardrails"]["passed"]
    (problem,) = result["guardrails"]["problems"]
    assert problem.startswith("held-out: judge lenient: said prevents to ")
    said, of = problem.split("said prevents to ")[1].split(" failures")[0].split(" of ")
    assert said == of and int(said) >= 3
    assert "candidate rejected by guardrails: held-out: judge lenient" in capsys.readouterr().err


def test_a_judge_that_says_prevents_to_most_other_kinds_is_lenient_and_the_junk_is_not_written(
    few: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    """A judge that says "prevents" to three failures in four, and a vague money rule: it used to
    pass as "too few to judge" with 5 of 6 other kinds "prevented" (below 90%)."""
    junk = "Be careful with money values in `invoices/billing.py` and double-check totals."
    asked = iter(range(1000))

    def mostly(diff: str, failure: str) -> str:
        return "irrelevant" if next(asked) % 4 == 3 else "prevents"

    def one(request: dict[str, Any]) -> str:
        edit = {"op": "add", "new_text": junk, "evidence": [ROUNDING], "reason": "rounding"}
        return chat_adapter_reply(edits=[edit], analysis_summary="One rule.")

    script(llm, judged_as(mostly), one)
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    result = evaluation(few)
    (edit,) = result["edits"]
    assert edit["text"] == junk and edit["outcome"] == "too few to judge"
    assert edit["other_prevented"] >= 3 and edit["other_prevented"] < edit["others"]
    (problem,) = result["guardrails"]["problems"]
    assert problem.startswith("held-out: judge lenient: said prevents to ")
    assert "candidate rejected by guardrails: held-out: judge lenient" in capsys.readouterr().err


def test_a_lenient_judge_under_require_improvement_draft_opens_a_draft_saying_so(
    few: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    config = few / ".github" / "prompt-trainer.yml"
    config.write_text(CONFIG + "training:\n  require_improvement: draft\n")
    script(llm, judged_as(always_prevents))
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    err = capsys.readouterr().err
    assert "coder: written (draft)" in err
    assert "coder: opened as a draft: held-out: judge lenient: said prevents to" in err
    assert "judge lenient" in (few / FOLDER / "body.md").read_text()


def test_a_discerning_judge_still_carries_the_candidate_on_an_edit_too_few_to_judge(
    few: Path, llm: FakeLLM
) -> None:
    script(llm, judged_as(discerning))
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    result = evaluation(few)
    (rounding,) = [e for e in result["edits"] if e["text"] == ROUND_RULE]
    assert rounding["outcome"] == "too few to judge" and rounding["prevented"] == rounding["own"]
    assert result["guardrails"]["passed"]


def test_an_edit_not_effective_beside_an_effective_one_is_dropped_byte_exact(
    twenty: Path, llm: FakeLLM
) -> None:
    def two(request: dict[str, Any]) -> str:
        edits = [
            {"op": "add", "new_text": ROUND_RULE, "evidence": [ROUNDING], "reason": "rounding"},
            {"op": "add", "new_text": TIDY, "evidence": [CLIENT], "reason": "billing"},
        ]
        return chat_adapter_reply(edits=edits, analysis_summary="Two rules.")

    script(llm, judged_as(discerning), two)
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    result = evaluation(twenty)
    assert [(e["text"], e["outcome"]) for e in result["edits"]] == [
        (ROUND_RULE, "effective"),
        (TIDY, "not effective"),
    ]
    assert result["edits"][1]["summary"].startswith("prevents 0 of 4 held-out failures")
    assert [c["text"] for c in result["changes"]] == [ROUND_RULE]
    assert result["dropped"][-1] == (
        f"D2 add {TIDY!r}: not effective on held-out failures "
        "(prevents 0 of 4 held-out failures of its kind (other kinds: 0 of 4), p = 1)"
    )
    assert (twenty / FOLDER / "CLAUDE.md").read_text() == MAIN + f"- {ROUND_RULE}\n"
    body = (twenty / FOLDER / "body.md").read_text()
    assert "- D2 was dropped: not effective on held-out failures (prevents 0 of 4" in body
    assert result["guardrails"]["passed"]
