"""The per-edit held-out judge end to end, through DSPy against the local LM server: 20 stored
PRs of which 12 share two failure clusters. A judge that tells the edits apart decides each
edit within 40% of the call budget; a judge that says "prevents" to everything gets "not
effective" and nothing is proposed; an edit the judge says conflicts is dropped; an unreadable
evaluation opens a draft."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prompt_trainer.cli import main
from prompt_trainer.models import Feedback, PullRequestInfo, Sample, TestCase, TestRun
from prompt_trainer.settings import Target
from prompt_trainer.store import open_ledger
from prompt_trainer.targets import LocalSource, load_prompt_set
from tests.scripted import lenient, reflect
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply, user_text

MAIN = (
    "# Working on the invoice service\n\n"
    "- The service lives in `invoices/`.\n"
    "- Write tests with pytest under `tests/`.\n"
)
CONFIG = """\
model: openai/gpt-4.1
targets:
  - name: coder
    main: CLAUDE.md
"""
ROUNDING = "tests.test_fees::test_invoice_total_rounding"
CLIENT = "tests.test_billing::test_sync_payments"
ROUND_RULE = "Round money with `quantize(Decimal('0.01'), ROUND_HALF_UP)`, never `round()`."
CLIENT_RULE = "Extend `ApiClient` in `invoices/api_client.py`; never add a second HTTP client."
START = datetime(2026, 11, 1, tzinfo=UTC)
Reply = Callable[[dict[str, Any]], str]


def pr(n: int, kind: str, version: str) -> Sample:
    """PR ``n``: a rounding failure, a second HTTP client, or ("clean") merged without a
    problem; each failure with its failing test and a trusted reviewer's comment."""
    url = f"https://github.com/o/invoices/pull/{n}"
    tests = [TestCase(classname="tests.test_api", name="test_ok", status="passed")]
    feedback: list[Feedback] = []
    if kind != "clean":
        test, message, said = {
            "rounding": (ROUNDING, "AssertionError: assert 10.004999 == Decimal('10.00')",
                         "Money must be rounded with quantize(Decimal('0.01')), not float."),
            "client": (CLIENT, "AttributeError: module 'invoices.billing' has no attribute "
                       "'BillingHttpClient'", "This adds a second HTTP client; extend ApiClient."),
        }[kind]  # fmt: skip
        module, name = test.split("::")
        tests.append(TestCase(classname=module, name=name, status="failed", message=message))
        feedback.append(
            Feedback(
                kind="review_comment",
                id=f"c{n}",
                author="maria",
                trusted=True,
                body=said,
                url=f"{url}#discussion_r{n}",
            )
        )
    return Sample(
        id=f"o/invoices#{n}",
        pull=PullRequestInfo(
            number=n,
            title=f"Agent change {n}",
            url=url,
            merged=kind == "clean",
            closed_at=START + timedelta(hours=n),
        ),
        test_runs=(TestRun(source="junit.xml", cases=tuple(tests)),),
        feedback=tuple(feedback),
        prompt_versions={"coder": version},
        collected_at=START,
    )


@pytest.fixture
def twenty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with 20 stored PRs of the current prompts: 6 rounding failures, 6 second
    HTTP clients, 8 without a problem, interleaved in time."""
    root = tmp_path / "repo"
    (root / ".github").mkdir(parents=True)
    (root / ".github" / "prompt-trainer.yml").write_text(CONFIG)
    (root / "CLAUDE.md").write_text(MAIN)
    version = load_prompt_set(Target(name="coder", main="CLAUDE.md"), LocalSource(root)).version
    kinds = ["rounding", "client", "clean", "clean"] * 4 + ["rounding", "client"] * 2
    open_ledger(root).upsert([pr(100 + n, kind, version) for n, kind in enumerate(kinds)])
    monkeypatch.chdir(root)
    return root


def field(request: dict[str, Any], name: str) -> Any:
    """One input field of a DSPy ChatAdapter request, parsed from its JSON."""
    text = user_text(request).split(f"[[ ## {name} ## ]]", 1)[1]
    return json.loads(text.split("[[ ## ", 1)[0].split("\n\nRespond with", 1)[0].strip())


def curate(request: dict[str, Any]) -> str:
    edits = [
        {"op": "add", "new_text": ROUND_RULE, "evidence": [ROUNDING], "reason": "rounding"},
        {"op": "add", "new_text": CLIENT_RULE, "evidence": [CLIENT], "reason": "one client"},
    ]
    return chat_adapter_reply(edits=edits, analysis_summary="Two rules.")


def judged_as(decide: Callable[[str, str], str]) -> Reply:
    """A judge answering ``decide(diff, failure)`` for every edit and failure, as a JSON list;
    ``-`` and "irrelevant" on a PR without a problem."""

    def reply(request: dict[str, Any]) -> str:
        failures = field(request, "failures") or [{"ref": "-", "what": ""}]
        answer = [
            {
                "edit": edit["ref"],
                "failure": failure["ref"],
                "verdict": decide(edit["diff"], failure["what"])
                if failure["what"]
                else "irrelevant",
                "why": "E1",
            }
            for edit in field(request, "edits")
            for failure in failures
        ]
        return chat_adapter_reply(effects=answer)

    return reply


def discerning(diff: str, failure: str) -> str:
    """Prevents what the edit names: the rounding rule the Decimal failure, the client rule the
    missing attribute; irrelevant otherwise."""
    if "quantize" in diff and "Decimal" in failure:
        return "prevents"
    if "ApiClient" in diff and "AttributeError" in failure:
        return "prevents"
    return "irrelevant"


def script(llm: FakeLLM, judge: Reply) -> None:
    # the judge's request names an input "edits", so its output is matched first
    llm.script = [by_signature(effects=judge, root_cause=reflect, verdicts=lenient, edits=curate)]


def evaluation(root: Path) -> dict[str, Any]:
    folder = root / ".prompt-trainer" / "candidates" / "coder" / "candidate-001"
    return dict(json.loads((folder / "evaluation.json").read_text()))


def judge_requests(llm: FakeLLM) -> list[dict[str, Any]]:
    return [r for r in llm.requests if "[[ ## effects ## ]]" in str(r["messages"][0])]


def test_twenty_prs_give_each_edit_a_decided_result_within_40_percent_of_the_budget(
    twenty: Path, llm: FakeLLM
) -> None:
    script(llm, judged_as(discerning))
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    result = evaluation(twenty)
    held = result["held_out"]
    assert held["judge"] == "per-edit"
    # 2 PRs without a problem checked, 4 held-out failures of each kind: 10 of 25 calls.
    assert len(held["checked"]) == 2 and len(held["sample_ids"]) == 8
    assert len(judge_requests(llm)) == held["calls"] == 10 <= 0.4 * 25
    assert len(llm.requests) <= 25
    summaries = [e["summary"] for e in result["edits"]]
    assert (
        summaries
        == [
            "prevents 4 of 4 held-out failures of its kind (other kinds: 0 of 4), p = 0.014",
        ]
        * 2
    )
    assert [e["outcome"] for e in result["edits"]] == ["effective", "effective"]
    assert held["verdict"] == "better" and result["guardrails"]["passed"]
    # the clusters (as training saw them: 2 PRs each; 4 each held out) and each edit's support
    assert [(c["prs"], c["held_out"]) for c in result["clusters"]] == [(2, 4), (2, 4)]
    assert [s["support"] for s in result["support"]] == ["2 PRs (maria)"] * 2
    assert [s["judged_as"] for s in result["support"]] == [[c["id"]] for c in result["clusters"]][
        ::-1
    ]
    body = (twenty / ".prompt-trainer/candidates/coder/candidate-001/body.md").read_text()
    assert "Held out: prevents 4 of 4 held-out failures of its kind" in body
    assert "**2 of 2 edit(s) effective**" in body


def test_a_judge_that_says_partly_to_one_failure_of_each_kind_still_finds_both_edits_effective(
    twenty: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    hedged: set[str] = set()

    def hedging(diff: str, failure: str) -> str:
        """``discerning``, but "partly" the first time it sees each edit on its own kind."""
        said = discerning(diff, failure)
        edit = "quantize" if "quantize" in diff else "ApiClient"
        if said == "prevents" and edit not in hedged:
            hedged.add(edit)
            return "partly"
        return said

    script(llm, judged_as(hedging))
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    result = evaluation(twenty)
    # [[3 + 1 partly, 0], [0, 4]]: the same table as four "prevents", p = 1/C(8, 4)
    assert [e["summary"] for e in result["edits"]] == [
        "prevents or partly prevents 4 of 4 held-out failures of its kind "
        "(1 partly; other kinds: 0 of 4), p = 0.014"
    ] * 2
    assert [e["outcome"] for e in result["edits"]] == ["effective", "effective"]
    assert result["guardrails"]["passed"]
    assert "coder: written" in capsys.readouterr().err


def test_the_judge_sees_each_edit_as_a_diff_and_the_failures_of_one_pr(
    twenty: Path, llm: FakeLLM
) -> None:
    script(llm, judged_as(discerning))
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    first = judge_requests(llm)[0]
    edits = field(first, "edits")
    assert [e["ref"] for e in edits] == ["D1", "D2"]
    assert edits[0]["diff"].splitlines()[-1] == f"+ - {ROUND_RULE}"
    assert "Working on the invoice service" not in json.dumps(edits)  # a diff, not whole files
    (failure,) = field(first, "failures")
    assert failure["ref"] == "F1" and failure["evidence"]  # refs into the PR's evidence
    assert first["temperature"] == 0.0


def test_a_judge_that_says_prevents_to_everything_gets_not_effective_and_nothing_proposed(
    twenty: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    script(llm, judged_as(lambda diff, failure: "prevents"))
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    result = evaluation(twenty)
    assert [e["summary"] for e in result["edits"]] == [
        "prevents 4 of 4 held-out failures of its kind (other kinds: 4 of 4), p = 1",
    ] * 2
    assert [e["outcome"] for e in result["edits"]] == ["not effective"] * 2
    assert not result["guardrails"]["passed"]
    (problem,) = result["guardrails"]["problems"]
    assert problem.startswith(
        "held-out: judge lenient: said prevents to 8 of 8 failures of other kinds, so no edit is "
        "shown to prevent failures of its kind (D1: prevents 4 of 4"
    )
    assert problem.endswith("training.require_improvement is on")
    assert "candidate rejected by guardrails: held-out: judge lenient" in capsys.readouterr().err


def test_under_require_improvement_draft_an_unproven_candidate_is_opened_as_a_draft(
    twenty: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    config = twenty / ".github" / "prompt-trainer.yml"
    config.write_text(CONFIG + "training:\n  require_improvement: draft\n")
    script(llm, judged_as(lambda diff, failure: "prevents"))
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    result = evaluation(twenty)
    assert result["guardrails"]["passed"]
    err = capsys.readouterr().err
    assert "coder: written (draft)" in err
    assert "coder: opened as a draft: held-out: judge lenient: said prevents to 8 of 8" in err


def test_an_edit_the_judge_says_conflicts_with_a_pr_that_went_well_is_dropped(
    twenty: Path, llm: FakeLLM
) -> None:
    def judge(request: dict[str, Any]) -> str:
        if field(request, "failures"):
            return judged_as(discerning)(request)
        answer = [
            {"edit": "D1", "failure": "-", "verdict": "irrelevant"},
            {"edit": "D2", "failure": "-", "verdict": "conflicts", "why": "E2 reuses requests"},
        ]
        return chat_adapter_reply(effects=answer)

    script(llm, judge)
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    result = evaluation(twenty)
    assert [e["outcome"] for e in result["edits"]] == ["effective", "conflicts"]
    assert [c["text"] for c in result["changes"]] == [ROUND_RULE]
    assert result["dropped"][-1].startswith(f"D2 add {CLIENT_RULE!r}: conflicts with o/invoices#")
    text = (twenty / ".prompt-trainer/candidates/coder/candidate-001/CLAUDE.md").read_text()
    assert text == MAIN + f"- {ROUND_RULE}\n"
    assert result["guardrails"]["passed"]


def test_an_unreadable_evaluation_opens_a_draft_not_a_ready_pull_request(
    twenty: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    script(llm, lambda request: chat_adapter_reply(effects="Both edits look helpful to me."))
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    result = evaluation(twenty)
    assert result["held_out"]["verdict"] == "unreadable"
    assert result["held_out"]["unreadable_items"][0].endswith(
        "the answer holds no verdicts: 'Both edits look helpful to me.'"
    )
    err = capsys.readouterr().err
    assert "coder: written (draft)" in err
    body = (twenty / ".prompt-trainer/candidates/coder/candidate-001/body.md").read_text()
    assert "> [!NOTE]\n> Opened as a draft" in body


def test_the_pairwise_judge_stays_available(twenty: Path, llm: FakeLLM) -> None:
    config = twenty / ".github" / "prompt-trainer.yml"
    config.write_text(CONFIG + "training:\n  judge: pairwise\n")
    pairwise = lambda request: chat_adapter_reply(score_a=0.5, score_b=0.5, feedback="same")  # noqa: E731
    llm.script = [
        by_signature(root_cause=reflect, verdicts=lenient, edits=curate, score_a=pairwise)
    ]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    held = evaluation(twenty)["held_out"]
    assert held["judge"] == "pairwise" and held["ties"] == len(held["sample_ids"]) == 6
