"""Good, specific edits written the way real models write them survive the support rule, and
the junk beside them does not, with a checker that says yes to everything (so only the
deterministic rules decide): `train evolve` through DSPy against the local LM server, on the
Python repository of ``tests.synthetic`` and on a TypeScript shop whose failures are vitest
messages and a reviewer's words."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prompt_trainer.memory import Memory
from prompt_trainer.models import (
    Candidate,
    Feedback,
    PromptFile,
    PromptSet,
    PullRequestInfo,
    Sample,
    TestCase,
    TestRun,
)
from prompt_trainer.settings import LLMSettings, Target
from prompt_trainer.train import TrainRequest, train
from tests.scripted import lenient, reflect
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply
from tests.test_support import ROUNDING_TEST, dropped_for
from tests.test_support import run as run_python

SHOP = "https://github.com/acme/shop/pull"
SHOP_MAIN = (
    "# Shop frontend\n\n- Use TypeScript strict mode.\n- Components live in `src/components/`.\n"
)
SHOP_TARGET = Target(name="coder", main="AGENTS.md")
SHOP_PROMPTS = PromptSet(
    target="coder",
    main=PromptFile(path="AGENTS.md", content=SHOP_MAIN),
    files=(PromptFile(path="AGENTS.md", content=SHOP_MAIN),),
)
DISCOUNT = "src/cart.test.ts::cart > applies percentage discount"
#: Each kind of PR of the shop: a float price (a vitest failure, and the reviewer on the cents
#: helpers), CI red without running the tests, the built files committed (one trusted request).
SHOP_KINDS = {1: "float", 3: "npm", 4: None, 5: "float", 7: "npm", 8: "dist", 9: "float"}


def _said(n: int, body: str, **kind: str) -> Feedback:
    return Feedback.model_validate(
        {"kind": "review_comment", "id": f"c{n}", "author": "lena", "author_association": "MEMBER",
         "trusted": True, "body": body, "url": f"{SHOP}/{n}#discussion_r{n * 10 + 1}", **kind}
    )  # fmt: skip


def shop_pr(n: int, kind: str | None) -> Sample:
    found: dict[str, Any] = {}
    if kind == "float":
        failed = TestCase(
            classname="src/cart.test.ts", name="cart > applies percentage discount",
            status="failed",
            message="AssertionError: expected 89.99000000000001 to be 89.99 // Object.is equality",
        )  # fmt: skip
        found["test_runs"] = (TestRun(source="junit.xml", cases=(failed,), plain_passes=30),)
        found["feedback"] = (
            _said(n, "Float math on prices again. Use the cents helpers in src/money.ts."),
        )
    elif kind == "npm":
        found["feedback"] = (
            _said(n, "CI is red again. Please run npm test locally before pushing."),
        )
    elif kind == "dist":
        found["feedback"] = (
            _said(n, "Do not commit the built files in dist/, CI builds them.",
                  kind="review", state="CHANGES_REQUESTED"),
        )  # fmt: skip
    day = datetime(2026, 9, 1, tzinfo=UTC) + timedelta(days=n)
    pull = PullRequestInfo(
        number=n, title=f"Agent PR {n}", url=f"{SHOP}/{n}", merged=kind is None,
        body="Implements the ticket.", closed_at=day,
    )  # fmt: skip
    return Sample.model_validate(
        {"id": f"acme/shop#{n}", "pull": pull, "collected_at": day,
         "prompt_versions": {"coder": SHOP_PROMPTS.version}, **found}
    )  # fmt: skip


def run_shop(llm: FakeLLM, tmp: Path, edits: list[dict[str, Any]]) -> Candidate:
    stored = [shop_pr(n, kind) for n, kind in SHOP_KINDS.items()]

    def curate(request: dict[str, Any]) -> str:
        return chat_adapter_reply(edits=[{**e, "reason": "It recurs."} for e in edits],
                                  analysis_summary="Edits.")  # fmt: skip

    llm.script = [by_signature(root_cause=reflect, edits=curate, verdicts=lenient)]
    request = TrainRequest(
        target=SHOP_TARGET, current=SHOP_PROMPTS, samples=stored, holdout=0,
        cache_dir=tmp / "cache", llm=LLMSettings(model="openai/gpt-4.1", api_base=llm.api_base),
        memory=Memory(stored=tuple(stored)), max_calls=40,
    )  # fmt: skip
    (candidate,) = train(request, "evolve")
    return candidate


def python_edits(*edits: dict[str, Any]) -> Any:
    def curate(request: dict[str, Any]) -> str:
        body = json.dumps([{"op": "add", "reason": "It recurs.", **e} for e in edits], indent=1)
        return chat_adapter_reply(edits=f"```json\n{body}\n```", analysis_summary="Edits.")

    return curate


def kept(candidate: Candidate) -> set[str]:
    return {c.text for c in candidate.changes}


NOT_SPECIFIC = "names nothing specific to this repository"
NPM_REVIEWS = ["discussion_r31", "discussion_r71"]


def keeps_only(
    llm: FakeLLM, tmp: Path, good: tuple[str, list[str]], junk: tuple[str, list[str]], why: str
) -> None:
    """Of the good edit and the junk (text, evidence), only the good one is kept; the junk is
    dropped for ``why``."""
    edits = [{"op": "add", "new_text": text, "evidence": cited} for text, cited in (good, junk)]
    candidate = run_shop(llm, tmp, edits)
    assert kept(candidate) == {good[0]}
    assert why in dropped_for(candidate, junk[0])


def test_a_folder_a_trusted_reviewer_asks_not_to_commit_is_a_name_the_top_folder_is_not(
    llm: FakeLLM, tmp_path: Path
) -> None:
    dist = "Never commit the build output in `dist/`; CI builds it."
    style = "Commit only what you built, in the code style of `src/`."
    keeps_only(llm, tmp_path, (dist, ["discussion_r81"]), (style, ["discussion_r81"]), NOT_SPECIFIC)


def test_a_folder_written_without_backticks_is_a_name_too(llm: FakeLLM, tmp_path: Path) -> None:
    """Models often write a folder bare, with its slash and nothing after it: `dist/` then."""
    dist = "Do not commit built files under dist/ - CI builds them."
    style = "Commit only what you built, in the code style of src/ - keep it tidy."
    keeps_only(llm, tmp_path, (dist, ["discussion_r81"]), (style, ["discussion_r81"]), NOT_SPECIFIC)


def test_a_failure_without_words_is_tied_to_the_reviewers_words_on_the_same_pr(
    llm: FakeLLM, tmp_path: Path
) -> None:
    cents = (
        "Compute prices in integer cents with the helpers in `src/money.ts`; never add or "
        "multiply prices as floats."
    )
    unrelated = "Run `npm test` locally before pushing; CI runs the same suite."
    keeps_only(
        llm, tmp_path, (cents, [DISCOUNT]), (unrelated, [DISCOUNT]), "is not about what it cites"
    )


def test_a_command_the_reviewer_writes_in_prose_is_specific_and_check_or_pull_are_not(
    llm: FakeLLM, tmp_path: Path
) -> None:
    npm = "Run npm test locally before pushing."
    vague = "Double-check your changes locally before pushing the pull request."
    keeps_only(llm, tmp_path, (npm, NPM_REVIEWS), (vague, NPM_REVIEWS), NOT_SPECIFIC)


def test_backticks_around_a_prompt_file_name_nothing(llm: FakeLLM, tmp_path: Path) -> None:
    agents = "Re-read `AGENTS.md` before pushing."
    good = "Run `npm test` locally before pushing; CI runs the same suite."
    keeps_only(llm, tmp_path, (good, NPM_REVIEWS), (agents, ["discussion_r31"]), NOT_SPECIFIC)


def test_backticks_around_an_everyday_word_or_the_prompt_file_name_nothing(
    llm: FakeLLM, tmp_path: Path
) -> None:
    junk = [
        "Always write good `tests` for rounding.",
        "Read `CLAUDE.md` carefully before rounding anything.",
    ]
    good = "Round fee totals with `quantize`, never `round()`."
    candidate = run_python(llm, tmp_path, lenient, python_edits(
        *({"new_text": t, "evidence": [ROUNDING_TEST]} for t in [*junk, good])
    ))  # fmt: skip
    assert kept(candidate) == {good}
    for text in junk:
        assert NOT_SPECIFIC in dropped_for(candidate, text)


def test_the_command_before_an_agent_error_is_what_the_error_is_about(
    llm: FakeLLM, tmp_path: Path
) -> None:
    """The trace's error says "Incompatible return value type"; the step before it ran `mypy
    invoices`: a rule to type-check with mypy is about it."""
    mypy = "Type-check with mypy before opening the PR and fix what it reports."
    candidate = run_python(llm, tmp_path, lenient, python_edits(
        {"new_text": mypy, "evidence": ["trace:run-12.json#1"]},
    ))  # fmt: skip
    assert kept(candidate) == {mypy}


def test_two_citations_in_one_item_of_a_list_are_both_read(llm: FakeLLM, tmp_path: Path) -> None:
    fees = (
        "Compute fee totals in Decimal, not float: the fee tests compare against Decimal('10.00')."
    )
    candidate = run_python(llm, tmp_path, lenient, python_edits(
        {"new_text": fees, "evidence": [f"{ROUNDING_TEST}, discussion_r221"]},
    ))  # fmt: skip
    (change,) = candidate.changes
    assert change.text == fees
    assert change.evidence == (
        ROUNDING_TEST,
        "https://github.com/example/invoices/pull/22#discussion_r221",
    )
