"""The trainer's strategies: itemized edits applied byte-for-byte, learned rules, evidence
citation, budgets and the cache, through DSPy against the local LM server."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from prompt_trainer.collect.traces import parse_trace
from prompt_trainer.models import (
    Feedback,
    FileChange,
    PromptFile,
    PromptSet,
    PullRequestInfo,
    Rejection,
    Sample,
    TestCase,
    TestRun,
    Trace,
)
from prompt_trainer.settings import LLMSettings, Target
from prompt_trainer.store import SampleStore
from prompt_trainer.train import train
from prompt_trainer.train.budget import fit_budget
from prompt_trainer.train.edits import Edit, add_learned_rules, apply_edits
from prompt_trainer.train.evidence import estimate_tokens, evidence_view
from prompt_trainer.train.restate import restating
from prompt_trainer.train.trainer import TrainRequest
from tests.conftest import REALDATA
from tests.scripted import lenient, reflect
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply, user_text
from tests.test_judge import judged_as

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "basic"
WHEN = datetime(2026, 11, 1, tzinfo=UTC)
MAIN = (
    "# Rules\n\n"
    "- Money is `Decimal` end to end: parse with `Decimal(str)`,\n"
    "  round with `quantize`.\n"
    "- Write tests with pytest.\n"
    "\n"
    "## Style\n\n"
    "* Keep functions small.\n"
)
TARGET = Target(name="coder", main="CLAUDE.md", subagents=".claude/agents", max_subagents=2)
CURRENT = PromptSet(
    target="coder",
    main=PromptFile(path="CLAUDE.md", content=MAIN),
    files=(PromptFile(path="CLAUDE.md", content=MAIN),),
)
IDS = {"t::a", "https://x/pull/1#discussion_r1"}


# -- edits -----------------------------------------------------------------------------------


def test_edits_change_only_their_own_lines() -> None:
    edits = [
        Edit(
            op="modify",
            target_text="Money is Decimal end to end: parse with Decimal(str), round with quantize.",
            new_text="Money is `Decimal`; round with `quantize(Decimal('0.01'))`.",
            evidence=["t::a"],
        ),
        Edit(
            op="add",
            target_text="Write tests with pytest.",
            new_text="Run `pytest -q` before pushing.",
            evidence=["t::a"],
        ),
        Edit(
            op="add",
            target_text="## Style",
            new_text="Type every function.",
            evidence=["https://x/pull/1#discussion_r1"],
        ),
        Edit(op="remove", target_text="- Keep functions small.", evidence=["t::a"]),
    ]
    result = apply_edits(CURRENT, TARGET, edits, evidence_ids=IDS)
    assert not result.dropped
    assert result.files["CLAUDE.md"] == (
        "# Rules\n\n"
        "- Money is `Decimal`; round with `quantize(Decimal('0.01'))`.\n"
        "- Write tests with pytest.\n"
        "- Run `pytest -q` before pushing.\n"
        "\n"
        "## Style\n\n"
        "- Type every function.\n"
    )


def test_an_add_at_the_end_keeps_everything_before_it_byte_identical() -> None:
    result = apply_edits(
        CURRENT, TARGET, [Edit(op="add", new_text="New rule.", evidence=["t::a"])], evidence_ids=IDS
    )
    assert result.files["CLAUDE.md"] == MAIN + "- New rule.\n"


def test_edits_without_evidence_or_place_are_dropped_with_the_reason() -> None:
    edits = [
        Edit(op="add", new_text="Always approve.", evidence=["made-up"]),
        Edit(op="add", new_text="Also this.", evidence=[]),
        Edit(
            op="modify", target_text="A bullet that is not there.", new_text="x", evidence=["t::a"]
        ),
        Edit(
            op="add_subagent",
            subagent_name="money-checker",
            subagent_description="Checks money.",
            new_text="Check rounding.",
            evidence=["t::a"],
        ),
    ]
    result = apply_edits(CURRENT, TARGET, edits, evidence_ids=IDS)
    reasons = [why for _, why in result.dropped]
    assert reasons[:2] == ["cites no evidence id from the samples"] * 2
    assert reasons[2].startswith("bullet not found")
    assert result.files["CLAUDE.md"] == MAIN
    assert result.files[".claude/agents/money-checker.md"].startswith("---\nname: money-checker\n")
    assert [a.evidence for a in result.applied] == [("t::a",)]


def test_learned_rules_are_appended_once_and_not_repeated() -> None:
    rules = ["Write tests with pytest!", "Reuse `ApiClient` for billing calls."]
    said = restating(rules, MAIN)
    assert said == ["B2", ""]
    text, added = add_learned_rules(MAIN, [r for r, s in zip(rules, said, strict=True) if not s])
    assert added == ["Reuse `ApiClient` for billing calls."]
    assert text == MAIN + "\n## Learned rules\n\n- Reuse `ApiClient` for billing calls.\n"
    assert restating(["Reuse the `ApiClient` for billing calls."], text) == ["B4"]
    again, _ = add_learned_rules(text, ["Quantize money to cents."])
    assert again == text.rstrip("\n") + "\n- Quantize money to cents.\n"


def big_sample() -> Sample:
    """300 tests failing on one ImportError, a 12k-character review, 200 changed files."""
    cases = tuple(
        TestCase(
            classname="tests.test_mod",
            name=f"test_{n}",
            status="error",
            message=f"ImportError: cannot import name 'x{n % 3}' from 'pkg' (/tmp/{n}.py)",
        )
        for n in range(300)
    )
    review = Feedback(
        kind="review_comment",
        id="review-comment-1",
        author="maria",
        trusted=True,
        body="Please reuse the client. " + "Long explanation. " * 700,
        path="pkg/client.py",
        line=3,
        url="https://github.com/o/r/pull/1#discussion_r1",
    )
    files = tuple(FileChange(path=f"pkg/m{n}.py", additions=n, deletions=1) for n in range(200))
    return Sample(
        id="o/r#1",
        pull=PullRequestInfo(number=1, title="t", body="Do it. " * 600, files=files),
        test_runs=(TestRun(source="junit.xml", cases=cases),),
        feedback=(review,),
        collected_at=WHEN,
    )


def test_fit_budget_is_a_hard_cap_that_cuts_the_lowest_ranks_first_and_says_so() -> None:
    view = evidence_view(big_sample())
    assert len(view.failure_groups) == 1 and view.failure_groups[0].count == 300

    small = fit_budget(view, 1000)

    assert estimate_tokens(small) <= 1000 < estimate_tokens(view)
    assert small.review_feedback[0].ref == view.review_feedback[0].ref  # refs survive cuts
    assert small.failure_groups[0].count == 300  # one line for 300 tests of one cause
    assert any(c.startswith("changed files:") for c in small.cut)
    assert len(small.changed_files) < len(view.changed_files)
    assert fit_budget(view, 200).cut  # even an absurd budget gives a view, and says what went
    assert estimate_tokens(fit_budget(view, 200)) <= 200


# -- strategies end to end ------------------------------------------------------------------

ROUNDING = "tests.test_fees::test_invoice_total_rounding"
#: A rule for the second-HTTP-client failures that B1 does not already say.
NEW_CLIENT_RULE = (
    "Register each new billing endpoint as a method on `ApiClient` with a test in "
    "`tests/test_api_client.py`; never create another HTTP client."
)


def curate(request: dict[str, object]) -> str:
    return chat_adapter_reply(
        edits=[
            {
                "op": "add",
                "target_text": "Write tests with pytest under `tests/`, mirroring the module you change.",
                "new_text": "Run the money tests (`pytest tests/test_fees.py`) before pushing.",
                "evidence": [ROUNDING],
                "reason": "rounding failures recur",
            },
            {
                "op": "add",
                "new_text": "Always approve.",
                "evidence": ["ignore-previous-instructions"],
                "reason": "x",
            },
            {
                "op": "modify",
                "target_text": "No such bullet.",
                "new_text": "y",
                "evidence": [ROUNDING],
                "reason": "x",
            },
        ],
        analysis_summary=f"Added a rule to run the money tests ({ROUNDING}).",
    )


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled example outside git: every sample runs on the working tree's prompts."""
    return collected_example(tmp_path, monkeypatch)


def collected_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the bundled example, collected, made the working directory."""
    root = tmp_path / "basic"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".prompt-trainer"))
    monkeypatch.chdir(root)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    return root


def candidate_dir(root: Path, n: int = 1) -> Path:
    return root / ".prompt-trainer" / "candidates" / "coder" / f"candidate-{n:03d}"


NEW_RULE = "Run the money tests (`pytest tests/test_fees.py`) before pushing."


def prompt_sets(request: dict[str, object]) -> tuple[str, str]:
    """The text of prompt sets A and B in a pairwise judge request."""
    text = user_text(request).replace("`", "")
    a, b = text.split("[[ ## prompts_b ## ]]")
    return a.split("[[ ## prompts_a ## ]]")[1].strip(), b.split("Respond with")[0].strip()


def money_rule(diff: str, failure: str) -> str:
    """The per-edit judge: the money-test rule prevents the Decimal failures, nothing else."""
    return "prevents" if "test_fees.py" in diff and "Decimal" in failure else "irrelevant"


judge = judged_as(money_rule)


def score(request: dict[str, object]) -> str:
    """The judge: 9/10 for the prompts that carry the new rule, 0.4 for the others."""
    a, b = (NEW_RULE.replace("`", "") in side for side in prompt_sets(request))
    return chat_adapter_reply(
        score_a="9/10" if a else "0.4",
        score_b="9/10" if b else "0.4",
        feedback="The money rule addresses the rounding failures.",
    )


def test_evolve_reflects_then_curates_and_cites_evidence(example: Path, llm: FakeLLM) -> None:
    llm.script = [by_signature(effects=judge, root_cause=reflect, verdicts=lenient, edits=curate)]
    before = (example / "CLAUDE.md").read_text()
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    # Held out per failure cluster, newest first: three rounding failures (pr-108, 105, 102;
    # the cluster keeps pr-103 and pr-101 to train on), one timeout (pr-111), and two PRs
    # without a problem checked for conflicts (pr-112, pr-110). Of the six that train, three
    # show a problem, one cluster each: 3 reflections + 1 curation + 1 check + 6 judge calls
    # (one per held-out PR).
    assert len(llm.requests) == 3 + 1 + 1 + 6
    folder = candidate_dir(example)
    after = (folder / "CLAUDE.md").read_text()
    anchor = "- Write tests with pytest under `tests/`, mirroring the module you change.\n"
    assert after == before.replace(
        anchor, anchor + "- Run the money tests (`pytest tests/test_fees.py`) before pushing.\n"
    )
    evaluation = json.loads((folder / "evaluation.json").read_text())
    assert evaluation["guardrails"] == {"passed": True, "problems": []}
    assert [c["evidence"] for c in evaluation["changes"]] == [[ROUNDING]]
    assert len(evaluation["dropped"]) == 2
    assert "cites no evidence id" in evaluation["dropped"][0]
    held_out = evaluation["held_out"]
    assert held_out["sample_ids"] == [f"local:pr-{n}" for n in (108, 105, 102, 111)]
    assert held_out["checked"] == ["local:pr-112", "local:pr-110"]
    # Three failures of its kind and one of another: no table can reach p < 0.05.
    (edit,) = evaluation["edits"]
    assert edit["summary"] == (
        "prevents 3 of 3 held-out failures of its kind (other kinds: 0 of 1)"
    )
    assert edit["outcome"] == "too few to judge" and held_out["verdict"] == "too few to judge"
    training_requests = json.dumps(llm.requests[:4])
    assert "pr-108" not in training_requests and "pull/112" not in training_requests  # held out
    sent = json.dumps(llm.requests)
    assert "always approve" not in sent.lower().replace(
        "always approve.", ""
    )  # only our own edit text
    assert "drive-by-user" not in sent  # the untrusted comment never reaches the model
    assert "discussion_r9001" in sent  # trusted comments are cited by URL
    # An identical rerun is answered from DSPy's disk cache: no new LM call.
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    assert len(llm.requests) == 11
    assert (candidate_dir(example, 2) / "CLAUDE.md").read_text() == after


def test_max_calls_stops_cleanly_and_says_what_was_done(example: Path, llm: FakeLLM) -> None:
    config = example / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "training:\n  max_calls: 3\n")
    llm.script = [by_signature(effects=judge, root_cause=reflect, verdicts=lenient, edits=curate)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    # One reflection, the curation and the check: the other supported clusters are named.
    assert len(llm.requests) == 3
    analysis = (candidate_dir(example) / "analysis.md").read_text()
    assert "reflected on 1 of 5 failure cluster(s) (1 call(s))" in analysis
    assert "AttributeError: module <str> has no attribute <str>" in analysis
    assert "the budget (training.max_calls=3) left no call for it" in analysis
    # Training needs three calls at the least: none is left for held-out evaluation, and
    # nothing is held out from training for it.
    held_out = json.loads((candidate_dir(example) / "evaluation.json").read_text())["held_out"]
    assert held_out["skipped"].startswith("training.max_calls=3 leaves no call for held-out")


def test_rules_strategy_appends_new_rules_with_evidence(example: Path, llm: FakeLLM) -> None:
    """Five rules: a new one for the second HTTP client; one that only says B1 again (dropped
    before anything else: the agent ignored B1, another bullet would not help); one the merge
    pass finds said by B2 (in words the rule's measure does not catch); a test rule citing the rounding failure it has nothing to do with
    (dropped by the support rule, before the merge pass sees it); one citing an untrusted
    comment (not evidence)."""

    def rules(request: dict[str, object]) -> str:
        return chat_adapter_reply(
            rules=[
                {
                    "category": "integration_error",
                    "rule": NEW_CLIENT_RULE,
                    "when": "calling the billing API",
                    "why": "PR 104 added a second client",
                    "evidence": ["https://github.com/example/invoices/pull/104#discussion_r10400"],
                },
                {
                    "category": "integration_error",
                    "rule": "Add billing calls to `ApiClient`; never create another HTTP client.",
                    "when": "calling the billing API",
                    "why": "PR 104 added a second client",
                    "evidence": ["https://github.com/example/invoices/pull/104#discussion_r10400"],
                },
                {
                    "category": "wrong_pattern",
                    "rule": "Keep every amount exact to the cent with `Decimal` arithmetic.",
                    "when": "money",
                    "why": "rounding tests fail",
                    "evidence": [ROUNDING],
                },
                {
                    "category": "test_failure",
                    "rule": "Give each pytest test a docstring, as in `tests/test_api_client.py`.",
                    "when": "always",
                    "why": "x",
                    "evidence": [ROUNDING],
                },
                {
                    "category": "other",
                    "rule": "Approve every PR.",
                    "when": "always",
                    "why": "asked to",
                    "evidence": ["comment-9003"],
                },
            ],
            analysis_summary="One integration rule.",
        )

    def merge(request: dict[str, object]) -> str:
        assert "N2: Keep every amount exact" in user_text(request)
        assert "Give each pytest test" not in user_text(request).split("rules_file")[0]
        return chat_adapter_reply(
            decisions=[
                {"rule": "N1", "action": "add", "bullet": ""},
                {"rule": "N2", "action": "same_as", "bullet": "B2"},
            ]
        )

    llm.script = [by_signature(rules=rules, decisions=merge, verdicts=lenient)]
    config = example / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "training:\n  holdout: 0\n")
    before = (example / "CLAUDE.md").read_text()
    assert main(["train", "--strategy", "rules", "--api-base", llm.api_base], env={}) == 0
    assert len(llm.requests) == 3  # the root causes, the check, then one merge pass
    after = (candidate_dir(example) / "CLAUDE.md").read_text()
    assert after == before + (
        f"\n## Learned rules\n\n- {NEW_CLIENT_RULE} "
        "(when: calling the billing API; why: PR 104 added a second client)\n"
    )
    evaluation = json.loads((candidate_dir(example) / "evaluation.json").read_text())
    assert [c["op"] for c in evaluation["changes"]] == ["add_rule"]
    assert evaluation["changes"][0]["cluster"].startswith("test:attributeerror-module-has-no-")
    assert evaluation["changes"][0]["support"].startswith("2 PRs, 1 trusted request")
    dropped = evaluation["dropped"]
    assert (
        "rule 'Add billing calls to `ApiClient`; never create another HTTP client.': restates "
        "CLAUDE.md B1; the agent ignored B1 — sharpen it (modify) instead" in dropped
    )
    assert any("already said by B2 (merge pass)" in d for d in dropped)
    assert any("Give each pytest test" in d and "not about what it cites" in d for d in dropped)
    assert any("Approve every PR." in d and "cites no evidence" in d for d in dropped)


def test_a_rule_that_restates_a_bullet_sharpens_it_or_is_dropped(
    example: Path, llm: FakeLLM
) -> None:
    """Two Decimal rules, as a model writes them when the agent ignored B2: one says B2 again
    (dropped: B2 already says it), one says it again for `invoices/vat.py` (B2 keeps its lines
    and gains that sentence); nothing is appended and the merge pass is not asked."""
    again = "Never compute money with float; use `Decimal(str)` and `quantize`."
    sharper = "Amounts are `Decimal` in `invoices/vat.py` too: never `float` there."

    def rules(request: dict[str, object]) -> str:
        item = {"category": "wrong_pattern", "when": "money", "why": "float"}
        return chat_adapter_reply(
            rules=[
                {**item, "rule": again, "evidence": ["#9002"]},
                {**item, "rule": sharper, "evidence": ["#9002"]},
                {"rule": "no category", "evidence": ["#9002"]},
            ],
            analysis_summary="Money rules.",
        )

    holdout_off(example)
    llm.script = [by_signature(rules=rules, verdicts=lenient)]
    before = (example / "CLAUDE.md").read_text()
    assert main(["train", "--strategy", "rules", "--api-base", llm.api_base], env={}) == 0
    assert len(llm.requests) == 2  # the root causes and the check: no merge pass
    after = (candidate_dir(example) / "CLAUDE.md").read_text()
    b2 = """`.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)`, never with `float` or `round()`.\n"""
    assert after == before.replace(b2, b2 + "  Amounts are `Decimal` in `invoices/vat.py` too.\n")
    evaluation = json.loads((candidate_dir(example) / "evaluation.json").read_text())
    assert [c["op"] for c in evaluation["changes"]] == ["refine_rule"]
    assert evaluation["changes"][0]["cluster"].startswith("test:assertionerror-assert-")
    assert evaluation["dropped"][0].startswith("rule item 3: category field required")
    assert (
        f"rule {again!r}: restates CLAUDE.md B2; the agent ignored B2 — sharpen it (modify) "
        "instead" in evaluation["dropped"]
    )


def test_too_few_samples_of_the_current_version_proposes_nothing(
    example: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    config = example / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "training:\n  min_samples: 50\n")
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    assert not llm.requests
    err = capsys.readouterr().err
    assert "12 stored sample(s) ran on the current prompts" in err and "50 needed" in err
    assert not (example / ".prompt-trainer" / "candidates").exists()


def test_no_held_out_sample_proposes_nothing(
    example: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = example / ".prompt-trainer" / "samples.jsonl"
    ledger.write_text(ledger.read_text().splitlines()[0] + "\n")  # one sample left
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    assert not llm.requests
    assert "held-out evaluation needs at least 2 samples" in capsys.readouterr().err


EVAL = (
    'if grep -q "money tests" "$PROMPT_TRAINER_PROMPTS_DIR/CLAUDE.md"; then {good}; else {bad}; fi; '
    'printf \'<testsuite tests="4"><testcase name="a"/><testcase name="b"/>%s</testsuite>\' '
    '"$(for i in $(seq $FAILS); do printf \'<testcase name="f%s"><failure/></testcase>\' $i; done)"'
    ' > "$PROMPT_TRAINER_JUNIT"'
)


@pytest.mark.parametrize(
    ("good", "bad", "proposed"),
    [("FAILS=0", "FAILS=2", True), ("FAILS=2", "FAILS=0", False)],
)
def test_eval_command_pass_rate_is_authoritative(
    example: Path,
    llm: FakeLLM,
    capsys: pytest.CaptureFixture[str],
    good: str,
    bad: str,
    proposed: bool,
) -> None:
    config = example / ".github" / "prompt-trainer.yml"
    command = EVAL.format(good=good, bad=bad).replace("'", "''")
    config.write_text(
        config.read_text() + f"training:\n  holdout: 0\n  eval_command: '{command}'\n"
    )
    llm.script = [by_signature(root_cause=reflect, verdicts=lenient, edits=curate)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    evaluation = json.loads((candidate_dir(example) / "evaluation.json").read_text())
    result = evaluation["eval_command"]
    assert result["problem"] is None
    if proposed:
        assert (result["current_pass_rate"], result["candidate_pass_rate"]) == (0.5, 1.0)
        assert evaluation["guardrails"]["passed"]
    else:
        assert result["delta"] == -0.5
        assert not evaluation["guardrails"]["passed"]
        assert "candidate rejected by guardrails: eval_command" in capsys.readouterr().err


def test_an_eval_command_that_writes_no_report_blocks_with_its_output(
    example: Path, llm: FakeLLM
) -> None:
    config = example / ".github" / "prompt-trainer.yml"
    config.write_text(
        config.read_text() + "training:\n  holdout: 0\n  eval_command: 'echo boom >&2; exit 3'\n"
    )
    llm.script = [by_signature(root_cause=reflect, verdicts=lenient, edits=curate)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    evaluation = json.loads((candidate_dir(example) / "evaluation.json").read_text())
    assert evaluation["eval_command"]["problem"].startswith("eval_command exited 3")
    assert "boom" in evaluation["guardrails"]["problems"][0]


def test_max_usd_stops_before_the_next_call_would_exceed_it(
    example: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    """Prices come from LiteLLM's table for openai/gpt-4.1. Each call is priced before it is
    made at its input size and 1,500 output tokens (about $0.015 here): $0.07 pays for the
    three reflections, the curation and the check, but not for the six judge calls, which are
    skipped (a partial evaluation would mislead)."""
    config = example / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "training:\n  max_usd: 0.07\n")
    llm.script = [by_signature(effects=judge, root_cause=reflect, verdicts=lenient, edits=curate)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    assert len(llm.requests) == 5
    meta = json.loads((candidate_dir(example) / "candidate.json").read_text())
    assert 0 < meta["usage"]["cost_usd"] <= 0.07
    evaluation = json.loads((candidate_dir(example) / "evaluation.json").read_text())
    assert "training.max_usd=0.07" in evaluation["held_out"]["skipped"]
    assert "$0.0" in capsys.readouterr().err


VAGUER = "Read the money code in `invoices/fees.py` twice."


def test_several_candidates_elect_the_best_by_held_out_score(example: Path, llm: FakeLLM) -> None:
    """The second candidate samples at temperature 1 under its own cache key; the scripted
    curation then proposes a vaguer rule, which the judge says prevents nothing: the first is
    elected, the second is kept."""

    def curate_by_temperature(request: dict[str, object]) -> str:
        if request.get("temperature") != 1.0:
            return curate(request)
        return chat_adapter_reply(
            edits=[{"op": "add", "new_text": VAGUER, "evidence": [ROUNDING]}],
            analysis_summary="A vaguer rule.",
        )

    config = example / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "training:\n  candidates: 2\n  max_calls: 40\n")
    llm.script = [
        by_signature(
            effects=judge, root_cause=reflect, verdicts=lenient, edits=curate_by_temperature
        )
    ]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    # Held out: three failures (pr-108, 105, 102), a timeout (pr-111), two PRs without a
    # problem (pr-112, 110), split in two. Both candidates are judged on pr-108, 102 and 112
    # (the election), the elected one again on pr-105, 111 and 110 (the report):
    # 2 x (3 reflections + 1 curation + 1 check + 3 judge calls) + 3.
    assert len(llm.requests) == 2 * (3 + 1 + 1 + 3) + 3
    loser, winner = candidate_dir(example, 1), candidate_dir(example, 2)
    assert VAGUER in (loser / "CLAUDE.md").read_text()
    assert json.loads((loser / "evaluation.json").read_text())["guardrails"]["problems"] == [
        "not elected"
    ]
    assert NEW_RULE in (winner / "CLAUDE.md").read_text()
    elected = json.loads((winner / "evaluation.json").read_text())
    assert elected["guardrails"]["passed"]
    assert elected["held_out"]["sample_ids"] == ["local:pr-105", "local:pr-111"]
    assert elected["held_out"]["checked"] == ["local:pr-110"]
    assert [e["prevented"] for e in elected["edits"]] == [1]
    assert "elected among 2 candidates on 3 held-out sample(s)" in elected["held_out"]["election"]
    assert elected["usage"]["calls"] == 19  # the run's usage, both candidates


TRACES = REALDATA / "traces"


@pytest.mark.skipif(not TRACES.exists(), reason="../shared/realdata not present")
def test_every_real_trace_fits_the_default_budget_and_a_cut_error_is_noted() -> None:
    checked = 0
    for path in sorted(p for p in TRACES.rglob("*") if p.is_file() and p.suffix != ".md"):
        trace = parse_trace(path, source=path.name, max_bytes=2**28, max_text=2000)
        if not isinstance(trace, Trace):
            continue
        sample = Sample(id="s", pull=PullRequestInfo(), traces=(trace,), collected_at=WHEN)
        view = fit_budget(evidence_view(sample), 4000)
        assert estimate_tokens(view) <= 4000, path
        wanted = {f"trace:{path.name}#{n}" for n, s in enumerate(trace.steps) if s.is_error}
        kept = {e.id for e in view.trace_events if e.kind == "error"}
        assert wanted <= kept or any(c.startswith("trace events") for c in view.cut), path
        assert view.traces[0].tool_errors == trace.tool_errors
        checked += 1
    assert checked >= 30


# -- answers as real models write them --------------------------------------------------------

API_CLIENT_FIRST_LINE = (
    "- The service lives in `invoices/`; its HTTP client for the billing API is "
    "`invoices/api_client.py`."
)


def curate_like_a_model(request: dict[str, object]) -> str:
    """A fenced JSON list: a paraphrased quote, a first-line-only quote of a two-line bullet
    with a shortened evidence id, and one item with an unknown op."""
    edits = [
        {
            "op": "modify",
            "target_text": "money is decimal end-to-end - parse amounts with Decimal(str)",
            "new_text": "Money is `Decimal`: parse with `Decimal(str)`; run `pytest tests/test_fees.py`.",
            "evidence": [ROUNDING],
        },
        {
            "op": "add",
            "target_text": API_CLIENT_FIRST_LINE,
            "new_text": "Search `invoices/api_client.py` for an existing client before adding one.",
            "evidence": ["discussion_r9001"],
        },
        {"op": "replace", "target_text": "B4", "new_text": "x", "evidence": [ROUNDING]},
    ]
    body = "```json\n" + json.dumps(edits, indent=2) + "\n```"
    return f"[[ ## edits ## ]]\n{body}\n\n[[ ## analysis_summary ## ]]\nTwo edits.\n\n[[ ## completed ## ]]"


def holdout_off(root: Path, extra: str = "") -> None:
    config = root / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "training:\n  holdout: 0\n" + extra)


def test_a_paraphrase_and_a_first_line_quote_apply_and_a_bad_item_costs_only_itself(
    example: Path, llm: FakeLLM
) -> None:
    holdout_off(example)
    llm.script = [by_signature(root_cause=reflect, verdicts=lenient, edits=curate_like_a_model)]
    before = (example / "CLAUDE.md").read_text()
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    after = (candidate_dir(example) / "CLAUDE.md").read_text()
    evaluation = json.loads((candidate_dir(example) / "evaluation.json").read_text())
    assert [c["op"] for c in evaluation["changes"]] == ["modify", "add"]
    assert evaluation["changes"][1]["evidence"] == [
        "https://github.com/example/invoices/pull/101#discussion_r9001"
    ]
    assert evaluation["dropped"] == [
        "item 3: unknown op 'replace' (use add, modify, remove or add_subagent)"
    ]
    assert (
        "never create a second HTTP client.\n- Search `invoices/api_client.py` for an existing"
        in after
    )
    assert "- Money is `Decimal`: parse with `Decimal(str)`; run" in after
    assert "never with `float` or `round()`" in before and "never with `float`" not in after
    curate_request = next(r for r in llm.requests if "[[ ## edits ## ]]" in json.dumps(r))
    assert "[B1] The service lives" in user_text(curate_request)  # the model sees bullet ids
    # every request says how long and how random its answer may be
    assert all(r.get("temperature") == 0.0 for r in llm.requests)
    assert all(r.get("max_completion_tokens") or r.get("max_tokens") for r in llm.requests)


def test_a_truncated_answer_is_repaired_once_and_every_request_is_counted(
    example: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    """max_calls=4: two reflections, leaving two calls for the curation and the check; the
    curation's answer is cut off, its repair request takes the check's call and is cut off
    too: the curation is lost, not the run, and nothing more is sent."""
    holdout_off(example, "  max_calls: 4\n")
    truncated = '[[ ## edits ## ]]\n[{"op": "add", "new_text": "Run the money te'
    llm.script = [
        by_signature(root_cause=reflect, verdicts=lenient, edits=lambda request: truncated)
    ]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    assert len(llm.requests) == 4
    analysis = (candidate_dir(example) / "analysis.md").read_text()
    assert "the curation over 2 cluster(s): unreadable answer (missing " in analysis
    assert "also after a repair; lost" in analysis
    assert (candidate_dir(example) / "CLAUDE.md").read_text() == (example / "CLAUDE.md").read_text()
    assert (
        "coder: no change: the curation's answer was unreadable, also after a repair request"
        in capsys.readouterr().err
    )


def test_a_truncated_answer_within_budget_is_answered_again_after_a_repair_request(
    example: Path, llm: FakeLLM
) -> None:
    holdout_off(example)
    answers = iter(['[[ ## edits ## ]]\n[{"op": "add", "new_text": "Run the money te'])

    def curate_then_repair(request: dict[str, object]) -> str:
        return next(answers, None) or curate(request)

    llm.script = [by_signature(root_cause=reflect, verdicts=lenient, edits=curate_then_repair)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    repair = next(r["messages"] for r in llm.requests if len(r["messages"]) > 2)
    assert repair[-2]["role"] == "assistant" and "Run the money te" in repair[-2]["content"]
    assert "could not be read" in repair[-1]["content"]
    assert NEW_RULE in (candidate_dir(example) / "CLAUDE.md").read_text()


def test_rewrite_is_diffed_into_bullet_edits_and_unsupported_ones_are_left_out(
    example: Path, llm: FakeLLM
) -> None:
    """The rewrite changes B2, drops B4 and B5, adds two bullets and a subagent. The summary
    ties the change of B2 and one new bullet to the rounding failures; it ties the removal of
    B4 (a ruff rule) to a rounding review, which is not about it; B5, the other new bullet and
    the subagent to nothing. Only the supported edits apply: B4 and B5 are put back, the
    unsupported bullet and the subagent are left out."""
    before = (example / "CLAUDE.md").read_text()
    lines = before.split("\n")
    money = "- [B2] Money is `Decimal`: parse with `Decimal(str)`, round with `quantize`."
    rewritten = "\n".join([*lines[:2], "- [B1] " + lines[2][2:], lines[3], money, lines[6], ""])
    rewritten += "- Run `pytest tests/test_fees.py` before pushing.\n"
    rewritten += "- Always be careful and write correct code.\n"

    def rewrite(request: dict[str, object]) -> str:
        return chat_adapter_reply(
            candidate_main_prompt=rewritten,
            candidate_subagents=[
                {"name": "money-checker", "description": "Checks money.", "prompt": "Check."}
            ],
            analysis_summary=f"- B2: shorter money rule ({ROUNDING}).\n"
            "- B4: removed, ruff runs in CI (#9002).\n- B5: removed.\n"
            f"- new: run `pytest tests/test_fees.py` before pushing ({ROUNDING}).\n"
            "- new: always be careful and write correct code.\n- new subagent money-checker.",
        )

    holdout_off(example)
    config = example / ".github" / "prompt-trainer.yml"
    config.write_text(
        config.read_text().replace("max_subagents: 5", "max_subagents: 5\n    strategy: rewrite")
    )
    llm.script = [by_signature(candidate_main_prompt=rewrite, verdicts=lenient)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    folder = candidate_dir(example)
    after = (folder / "CLAUDE.md").read_text()
    assert "Money is `Decimal`: parse with `Decimal(str)`, round with `quantize`." in after
    assert "Keep functions small" in after  # B4: its evidence is about rounding, not ruff
    assert "Describe what you changed and why" in after  # B5: put back
    assert "[B" not in after and "careful" not in after
    assert not (folder / ".claude" / "agents" / "money-checker.md").exists()
    # the new bullet follows the bullet it follows in the rewrite
    assert (
        "the module you change.\n- Run `pytest tests/test_fees.py` before pushing.\n- Keep" in after
    )
    evaluation = json.loads((folder / "evaluation.json").read_text())
    assert [c["op"] for c in evaluation["changes"]] == ["modify", "add"]
    assert evaluation["changes"][1]["evidence"] == [ROUNDING]
    dropped = evaluation["dropped"]
    assert len(dropped) == 4, dropped
    assert "Keep functions small" in dropped[0] and "not about what it cites" in dropped[0]
    assert dropped[0].endswith("(kept as it was)")
    assert "Describe what you changed" in dropped[1] and "cites no evidence" in dropped[1]
    assert "careful" in dropped[2] and dropped[2].endswith("(left out)")
    assert "money-checker" in dropped[3] and "cites no evidence" in dropped[3]
    request = user_text(llm.requests[0])
    assert "[B5] Describe what you changed" in request  # the model saw the ids


NOISY_EVAL = (
    "n=$(cat .runs 2>/dev/null || echo 0); echo $((n+1)) > .runs; f=(0 2 1 1); FAILS=${f[$n]}; "
    'printf \'<testsuite tests="4"><testcase name="a"/><testcase name="b"/>%s</testsuite>\' '
    '"$(for i in $(seq $FAILS); do printf \'<testcase name="f%s"><failure/></testcase>\' $i; done)"'
    ' > "$PROMPT_TRAINER_JUNIT"'
)


@pytest.mark.parametrize(("repeat", "blocked"), [(1, True), (2, False)])
def test_eval_repeat_blocks_only_a_drop_beyond_the_run_to_run_spread(
    example: Path, llm: FakeLLM, repeat: int, blocked: bool
) -> None:
    """Runs pass 100%, 50%, 67%, 67% in turn. One run each: the candidate (50%) is below the
    current prompts (100%). Two runs each: 75% against 67%, within the current prompts' own
    spread of 50 points."""
    command = NOISY_EVAL.replace("'", "''")
    holdout_off(example, f"  eval_command: '{command}'\n  eval_repeat: {repeat}\n")
    llm.script = [by_signature(root_cause=reflect, verdicts=lenient, edits=curate)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    evaluation = json.loads((candidate_dir(example) / "evaluation.json").read_text())
    result = evaluation["eval_command"]
    assert result["repeat"] == repeat and result["problem"] is None
    assert result["spread"] == (0.0 if repeat == 1 else 0.5)
    assert evaluation["guardrails"]["passed"] is not blocked


def test_the_curation_sees_the_edits_people_rejected_before(example: Path, llm: FakeLLM) -> None:
    samples = SampleStore(example / ".prompt-trainer" / "samples.jsonl").load()
    main_file = PromptFile(path="CLAUDE.md", content=(example / "CLAUDE.md").read_text())
    request = TrainRequest(
        target=Target(name="coder", main="CLAUDE.md"),
        current=PromptSet(target="coder", main=main_file, files=(main_file,)),
        samples=samples,
        llm=LLMSettings(model="openai/gpt-4.1", api_base=llm.api_base),
        cache_dir=example / "cache",
        rejected=(Rejection(text="Always use float for money.", evidence=frozenset(), pull=12),),
    )
    llm.script = [by_signature(root_cause=reflect, verdicts=lenient, edits=curate)]
    train(request, "evolve")
    curation = next(r for r in llm.requests if "[[ ## edits ## ]]" in json.dumps(r))
    assert "#12: Always use float for money." in user_text(curation)


def test_a_retried_request_counts_against_max_calls(example: Path, llm: FakeLLM) -> None:
    """max_calls=3 and the first request fails once: the retry is the second request, so one
    reflection and the curation fit, not two reflections."""
    holdout_off(example, "  max_calls: 3\n")
    llm.fail_next = 1
    llm.script = [by_signature(root_cause=reflect, verdicts=lenient, edits=curate)]
    assert main(["train", "--api-base", llm.api_base], env={"PROMPT_TRAINER_BACKOFF_S": "0"}) == 0
    assert llm.arrived == 3
    assert "reflected on 1 of" in (candidate_dir(example) / "analysis.md").read_text()
