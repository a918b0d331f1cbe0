"""An edit that says again what a bullet already says is not proposed: the restating add is
dropped, or sharpens the ignored bullet when it names something new, and a modify that only
rewords is dropped; a genuinely new rule next to it survives. The measure both ways on the
example's bullets, then ``evolve``, ``rewrite``, the check and ``revise`` against the local LM
server, with answers written the way models write them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prompt_trainer.bullets import bullets
from prompt_trainer.models import Candidate, Feedback, PromptFile, PromptSet
from prompt_trainer.settings import LLMSettings, Target
from prompt_trainer.train import TrainRequest, train
from prompt_trainer.train.edits import Edit, apply_edits
from prompt_trainer.train.restate import restated, same_substance, sentences, unrestated
from prompt_trainer.train.revise import revise
from tests.scripted import lenient, proposed, reflect
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply
from tests.synthetic import CURRENT, MAIN, REPO, six_clusters

EXAMPLE = (Path(__file__).resolve().parents[1] / "examples" / "basic" / "CLAUDE.md").read_text()
BASIC = bullets(EXAMPLE)
TARGET = Target(name="coder", main="CLAUDE.md")
ROUNDING_TEST = "tests.test_fees::test_total_rounding"
CLIENT_TEST = "tests.test_billing::test_sync_uses_api_client"
TIMEOUT_TEST = "tests.test_api_client::test_timeout_is_retried"


def prompt_set(content: str) -> PromptSet:
    main = PromptFile(path="CLAUDE.md", content=content)
    return PromptSet(target="coder", main=main, files=(main,))


# -- the measure, both ways ----------------------------------------------------------------------

#: Restatements of the example's bullets, as models write them, and the bullet each says again.
RESTATEMENTS = [
    (
        'Money is `Decimal` end to end: parse with `Decimal(str)`, round with `quantize(Decimal("0.'
        '01"), rounding=ROUND_HALF_UP)`; never `float` or `round()`.',
        2,
    ),
    ("Never use `float` or `round()` for money; use `Decimal` and `quantize` with `ROUND_HALF_UP`.", 2),
    ("Use `Decimal` for all monetary amounts, never floats.", 2),
    ("Add billing calls to `ApiClient` in `invoices/api_client.py`; never a second client.", 1),
    ("Never create a second HTTP client for the billing API; extend `ApiClient`.", 1),
    ("In the PR body, describe what changed and why, and list the tests you ran.", 5),
    ("Write pytest tests under `tests/` that mirror the module you changed.", 3),
]  # fmt: skip
#: New rules next to a bullet they share words with: none restates it.
NEIGHBOURS = [
    "Call the billing API through `ApiClient`'s retry wrapper; it retries timeouts.",
    "Format money for display with `format_money()` from `invoices/formatting.py`, never f-strings.",
    "VAT rates are `Decimal` constants in `invoices/vat.py`; read them from `VAT_RATES`.",
    "Set `timeout=10` on every `ApiClient` request; the billing API hangs otherwise.",
    "Run `pytest tests/test_fees.py` after any change under `invoices/`.",
    "Run `mypy --strict invoices/` before you push; untyped functions fail CI.",
    "Link the issue the pull request closes in its body with `Closes #N`.",
    "Mock the billing API in tests with `responses`; never call `billing.example.com`.",
]  # fmt: skip


@pytest.mark.parametrize(("text", "number"), RESTATEMENTS)
def test_a_restatement_of_a_bullet_is_recognised_as_that_bullet(text: str, number: int) -> None:
    found = restated(text, BASIC)
    assert found is not None and found[0] == number and not found[1].new


@pytest.mark.parametrize("text", NEIGHBOURS)
def test_a_new_rule_next_to_a_bullet_restates_none(text: str) -> None:
    assert restated(text, BASIC) is None


def test_no_bullet_of_the_example_restates_another() -> None:
    for n, bullet in enumerate(BASIC):
        assert restated(bullet, BASIC[:n] + BASIC[n + 1 :]) is None


def test_a_restatement_that_names_something_new_says_what() -> None:
    text = (
        "Money is `Decimal` end to end, also in `invoices/discounts.py` and `invoices/vat.py`: "
        "parse with `Decimal(str)`, round with `quantize(...)`; never `float` or `round()`."
    )
    found = restated(text, BASIC)
    assert found is not None and found[0] == 2
    assert found[1].new == ("invoices/discounts.py", "invoices/vat.py")


def test_an_identifier_is_one_name_not_the_words_inside_it() -> None:
    """``ConflictException`` is not said by a bullet that only says "conflict" and
    "exception"."""
    bullet = "Throw an exception on any conflict; the global filter handles serialization."
    assert restated("Throw `ConflictException` on idempotency conflicts.", [bullet]) is None


def test_a_rewording_changes_nothing_substantive_and_a_real_change_does() -> None:
    b4 = BASIC[3]
    assert same_substance(
        b4, "Keep functions small and typed, and run `ruff check` before you push."
    )
    assert same_substance(BASIC[1], BASIC[1].replace("Money is", "money is").replace(",", ";"))
    for changed in (
        "Keep functions small and typed; run `ruff check` and `mypy` before you push.",  # a name
        "Keep functions small and typed.",  # a clause less
        "Do not keep functions small and typed; run `ruff check` before you push.",  # negated
        "Keep functions under 40 lines and typed; run `ruff check` before you push.",  # a number
    ):
        assert not same_substance(b4, changed), changed


def test_sentences_are_cut_outside_code_and_not_after_an_abbreviation() -> None:
    text = "Use `a; b` here: e.g. `x.y`. Then run `pytest -q`; done."
    assert sentences(text) == ["Use `a; b` here:", "e.g. `x.y`.", "Then run `pytest -q`;", "done."]


# -- the rule over one answer ---------------------------------------------------------------------


def test_a_restating_add_with_a_new_command_keeps_a_wrapped_bullet_and_adds_a_line() -> None:
    """B2 of the example spans two lines: the sharpened B2 keeps both, byte for byte, and the
    add's sentence that names the new command follows as a continuation line."""
    add = Edit(
        op="add",
        new_text='Money is `Decimal` end to end: parse with `Decimal(str)`, round with `quantize(Decimal("0.01"), '
        "rounding=ROUND_HALF_UP)`; never `float` or `round()`. Run `pytest tests/test_fees.py` "
        "before you push.",
        evidence=["t"],
    )  # fmt: skip
    current = prompt_set(EXAMPLE)
    out = unrestated([add], current)
    assert not out.dropped
    (sharpened,) = out.edits
    assert sharpened.op == "modify" and sharpened.target_text == BASIC[1]
    assert out.sharpened == [
        f"add {add.new_text[:120]!r} restates CLAUDE.md B2: sent on as a modify of it that "
        "appends 'Run `pytest tests/test_fees.py` before you push.'"
    ]
    result = apply_edits(current, TARGET, out.edits, evidence_ids={"t"})
    b2 = '`.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)`, never with `float` or `round()`.\n'
    assert result.files["CLAUDE.md"] == EXAMPLE.replace(
        b2, b2 + "  Run `pytest tests/test_fees.py` before you push.\n"
    )


def test_a_one_line_bullet_is_extended_in_place_and_a_numbered_marker_kept() -> None:
    content = "# Rules\n\n1. Keep functions small and typed; run `ruff check` before you push.\n"
    add = Edit(
        op="add",
        new_text="Keep functions small and typed: run `ruff check` and `mypy --strict` too.",
        evidence=["t"],
    )
    current = prompt_set(content)
    out = unrestated([add], current)
    result = apply_edits(current, TARGET, out.edits, evidence_ids={"t"})
    assert result.files["CLAUDE.md"] == content.replace(
        "push.\n", "push. Run `ruff check` and `mypy --strict` too.\n"
    )


def test_a_restating_add_is_dropped_when_another_edit_changes_its_bullet() -> None:
    add = Edit(op="add", new_text="Keep functions small and typed; run `mypy` too.", evidence=["t"])
    remove = Edit(op="remove", target_text="B4", evidence=["t"])
    out = unrestated([add, remove], prompt_set(EXAMPLE))
    assert out.edits == [remove]
    ((_, why),) = out.dropped
    assert why == (
        "restates CLAUDE.md B4; the agent ignored B4 — sharpen it (modify) instead, with what "
        "it adds (`mypy`); not done here: another edit of this answer already changes it"
    )


def test_a_rewording_of_the_same_bullet_does_not_stop_its_sharpening() -> None:
    """The answer rewords B4 and says it again with `mypy`: the rewording is dropped, so the
    add may sharpen B4."""
    reword = Edit(
        op="modify",
        target_text="B4",
        new_text="Keep functions small and typed, and run `ruff check` before you push.",
        evidence=["t"],
    )
    add = Edit(
        op="add",
        new_text="Keep functions small and typed: run `ruff check` and `mypy` before you push.",
        evidence=["t"],
    )
    out = unrestated([reword, add], prompt_set(EXAMPLE))
    assert [e for e, _ in out.dropped] == [reword]
    (sharpened,) = out.edits
    assert sharpened.new_text == f"{BASIC[3]} Run `ruff check` and `mypy` before you push."


def test_revise_keeps_a_rewording_a_maintainer_asked_for() -> None:
    reword = Edit(
        op="modify",
        target_text="B4",
        new_text="Keep functions small and typed, and run `ruff check` before you push.",
        evidence=["t"],
    )
    assert unrestated([reword], prompt_set(EXAMPLE), rewording=True).edits == [reword]
    ((_, why),) = unrestated([reword], prompt_set(EXAMPLE)).dropped
    assert why.startswith("changes nothing substantive in CLAUDE.md B4 (the same content words")


# -- evolve, the check, rewrite and revise against the local LM server ---------------------------

AGAIN = "Never create a second HTTP client: extend `ApiClient` in `invoices/api_client.py`."
NEIGHBOUR = "Call the billing API through `ApiClient`'s retry wrapper, never directly."
SHARPER = (
    'Money is `Decimal` end to end: round with `quantize(Decimal("0.01"))`. Run `pytest '
    "tests/test_fees.py` before you push."
)
REWORD = "Write your tests with pytest, under `tests/`."
CAREFUL = "Always be careful and write correct code."


def curate(request: dict[str, Any]) -> str:
    """The edits a model writes when the agent ignored B1 and B2: B1 said again, a new rule
    beside it, B2 said again with the command that catches the failure, B3 reworded, and a
    platitude."""
    edits = [
        {"op": "add", "target_text": "B1", "new_text": AGAIN, "evidence": [CLIENT_TEST],
         "reason": "The agent keeps writing a second client."},
        {"op": "add", "target_text": "B1", "new_text": NEIGHBOUR, "evidence": [TIMEOUT_TEST],
         "reason": "Timeouts are not retried."},
        {"op": "add", "target_text": "B2", "new_text": SHARPER, "evidence": [ROUNDING_TEST],
         "reason": "Rounding failures keep coming back."},
        {"op": "modify", "target_text": "B3", "new_text": REWORD, "evidence": [ROUNDING_TEST],
         "reason": "Clearer."},
        {"op": "add", "new_text": CAREFUL, "evidence": ["example/invoices#29:task"]},
    ]  # fmt: skip
    return chat_adapter_reply(
        edits="```json\n" + json.dumps(edits, indent=1) + "\n```", analysis_summary="Edits."
    )


def evolve(llm: FakeLLM, tmp: Path, check: Any) -> Candidate:
    llm.script = [by_signature(root_cause=reflect, edits=curate, verdicts=check)]
    request = TrainRequest(
        target=TARGET, current=CURRENT, samples=six_clusters(30), holdout=0,
        cache_dir=tmp / "cache", llm=LLMSettings(model="openai/gpt-4.1", api_base=llm.api_base),
    )  # fmt: skip
    (candidate,) = train(request, "evolve")
    return candidate


def checks(llm: FakeLLM) -> list[dict[str, Any]]:
    (check,) = [r for r in llm.requests if "[[ ## verdicts ## ]]" in str(r["messages"][0])]
    return proposed(check)


def test_evolve_drops_a_restating_add_and_keeps_the_new_rule_beside_it(
    llm: FakeLLM, tmp_path: Path
) -> None:
    candidate = evolve(llm, tmp_path, lenient)
    b2 = '- Money is `Decimal` end to end: round with `quantize(Decimal("0.01"))`.\n'
    assert candidate.files[0].content == MAIN.replace(
        b2, b2[:-1] + " Run `pytest tests/test_fees.py` before you push.\n"
    ).replace(
        "second HTTP client.\n", f"second HTTP client.\n- {NEIGHBOUR}\n"
    )  # fmt: skip
    assert [(c.op, c.text) for c in candidate.changes] == [
        ("add", NEIGHBOUR),
        ("modify", b2[2:-1] + " Run `pytest tests/test_fees.py` before you push."),
    ]
    assert candidate.changes[1].cluster.startswith("test:assertionerror-assert-decimal-")
    assert candidate.dropped == (
        f"add {AGAIN!r}: restates CLAUDE.md B1; the agent ignored B1 — sharpen it (modify) instead",
        f"modify {REWORD!r}: changes nothing substantive in CLAUDE.md B3 (the same content words "
        "and names); sharpen it with what the evidence shows it lacks, or leave it",
        f"add {CAREFUL!r}: cites no problem evidence (the task)",
    )
    assert "restates CLAUDE.md B2: sent on as a modify of it" in candidate.analysis_summary
    # The check sees the new rule with the bullet most like it, and B2 with what it gains.
    shown = {e["op"]: e for e in checks(llm)}
    assert shown["add"]["closest"] == f"B1: {bullets(MAIN)[0]}"
    assert shown["modify"]["bullet"] == b2[2:-1]


def test_the_check_drops_a_restatement_the_measure_misses_and_a_lenient_one_does_not(
    llm: FakeLLM, tmp_path: Path
) -> None:
    """A checker that says the retry rule restates B1 drops it (the model may see what word
    overlap cannot); the lenient checker above never brings back what the rule dropped."""

    def strict(request: dict[str, Any]) -> str:
        verdicts = [
            {"edit": e["edit"], "shows_failure": True, "specific": True,
             "restates": e["new_text"] == NEIGHBOUR, "reason": "B1 already says to use ApiClient."}
            for e in proposed(request)
        ]  # fmt: skip
        return chat_adapter_reply(verdicts=json.dumps(verdicts))

    candidate = evolve(llm, tmp_path, strict)
    assert [c.op for c in candidate.changes] == ["modify"]
    assert (
        f"add {NEIGHBOUR!r}: the check: says again what a bullet already says (B1 already says "
        "to use ApiClient.)" in candidate.dropped
    )
    assert NEIGHBOUR not in candidate.files[0].content
    assert AGAIN not in candidate.files[0].content


def test_a_rewrite_that_rewords_a_bullet_and_restates_another_changes_neither(
    llm: FakeLLM, tmp_path: Path
) -> None:
    """A whole-file rewrite: B1 reworded, B2 kept and said again below it, a new bullet; only
    the new bullet is proposed."""
    b1, b2, b3 = bullets(MAIN)
    reworded = "Never create a second HTTP client; extend `ApiClient` in `invoices/api_client.py`."
    again = 'Round money with `quantize(Decimal("0.01"))`; it is `Decimal` end to end.'
    new = "Mock the billing API with `responses` in `tests/test_api_client.py`."
    rewritten = (
        f"# Working on the invoice service\n\n- {reworded}\n- {b2}\n- {again}\n- {b3}\n- {new}\n"
    )
    summary = (
        f"- B1: clearer ({CLIENT_TEST}).\n- new: Round money with quantize ({ROUNDING_TEST}).\n"
        f"- new: Mock the billing API with ({TIMEOUT_TEST})."
    )

    def rewrite(request: dict[str, Any]) -> str:
        return chat_adapter_reply(
            candidate_main_prompt=rewritten, candidate_subagents=[], analysis_summary=summary
        )

    llm.script = [by_signature(candidate_main_prompt=rewrite, verdicts=lenient)]
    request = TrainRequest(
        target=TARGET, current=CURRENT, samples=six_clusters(30), holdout=0,
        cache_dir=tmp_path / "cache", llm=LLMSettings(model="openai/gpt-4.1", api_base=llm.api_base),
    )  # fmt: skip
    (candidate,) = train(request, "rewrite")
    assert candidate.files[0].content == MAIN.replace(f"- {b3}\n", f"- {b3}\n- {new}\n")
    assert [c.text for c in candidate.changes] == [new]
    assert any(
        d.startswith(f"modify {reworded!r}: changes nothing substantive in CLAUDE.md B1")
        and d.endswith("(kept as it was)")
        for d in candidate.dropped
    )
    assert any(
        d.startswith(f"add {again!r}: restates CLAUDE.md B2") and d.endswith("(left out)")
        for d in candidate.dropped
    )
    assert b1 in candidate.files[0].content


def test_revise_does_not_add_what_a_bullet_says_and_tells_the_maintainer(
    llm: FakeLLM, tmp_path: Path
) -> None:
    url = f"{REPO}/40#discussion_r401"
    note = Feedback(
        kind="review_comment", id="c1", author="maria", trusted=True, url=url,
        body="Say again that money is Decimal, and say `ruff check` plainly.",
    )  # fmt: skip
    edits = [
        {"op": "add", "new_text": 'Money is `Decimal`: round with `quantize(Decimal("0.01"))`.',
         "evidence": [url]},
        {"op": "modify", "target_text": "B3", "new_text": "Write tests with pytest in `tests/`.",
         "evidence": [url]},
    ]  # fmt: skip

    def reply(request: dict[str, Any]) -> str:
        return chat_adapter_reply(edits=edits, replies=[{"id": url, "reply": "Done."}])

    llm.script = [by_signature(replies=reply)]
    revision = revise(
        CURRENT, TARGET, [note], llm=LLMSettings(model="openai/gpt-4.1", api_base=llm.api_base),
        cache_dir=tmp_path / "cache",
    )  # fmt: skip
    ((edit, why),) = revision.result.dropped
    assert edit.op == "add"
    assert why == "restates CLAUDE.md B2; the agent ignored B2 — sharpen it (modify) instead"
    assert revision.result.files["CLAUDE.md"] == MAIN.replace(
        "under `tests/`.", "in `tests/`."
    )  # the rewording the maintainer asked for is done
