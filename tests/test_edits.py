"""Itemized edits as real models write them: bullets named by id, by a paraphrased or partial
quote, anchors that are missing or headings without ``#``, evidence ids in their many forms, and
lists where one bad item costs only that item."""

from __future__ import annotations

from prompt_trainer.models import PromptFile, PromptSet
from prompt_trainer.settings import Target
from prompt_trainer.train.edits import (
    Edit,
    EvidenceIndex,
    apply_edits,
    locate,
    numbered,
    parse_edits,
)

MAIN = (
    "# Working on the invoice service\n\n"
    "- The service lives in `invoices/`; its HTTP client is `invoices/api_client.py`.\n"
    "  Extend `ApiClient` for new billing calls; never create a second HTTP client.\n"
    "- Money is `Decimal` end to end: parse amounts with `Decimal(str)`, round with\n"
    '  `.quantize(Decimal("0.01"))`, never with `float`.\n'
    "- Write tests with pytest under `tests/`, mirroring the module you change.\n"
    "- Write tests for every bug you fix, before the fix.\n"
    "\n"
    "## Style\n\n"
    "- Keep functions small and typed.\n"
    "\n"
    "## Pull requests\n\n"
    "- Describe what you changed and why.\n"
)
TARGET = Target(name="coder", main="CLAUDE.md", subagents=".claude/agents", max_subagents=2)
CURRENT = PromptSet(
    target="coder",
    main=PromptFile(path="CLAUDE.md", content=MAIN),
    files=(PromptFile(path="CLAUDE.md", content=MAIN),),
)
URL = "https://github.com/example/invoices/pull/101#discussion_r9002"
TEST = "tests.test_fees::test_invoice_total_rounding"
IDS = {URL, TEST, "https://github.com/example/invoices/pull/104#discussion_r10400"}
LINES = MAIN.split("\n")


def test_the_model_sees_every_bullet_numbered_per_file() -> None:
    view = numbered(MAIN).split("\n")
    assert view[2].startswith("- [B1] The service lives")
    assert view[3] == LINES[3]  # continuation lines stay as they are
    assert view[11] == "- [B5] Keep functions small and typed."
    assert [ln for ln in view if "[B" in ln][-1] == "- [B6] Describe what you changed and why."


def test_a_bullet_is_found_by_id_paraphrase_first_line_or_long_prefix() -> None:
    money = (4, 6)
    assert locate(LINES, "B2") == money
    assert locate(LINES, "[B2]") == money
    # case, whitespace and markdown marks do not matter; the first line of a multi-line bullet
    # names it; so does a unique prefix of five words or more
    assert (
        locate(LINES, "- money is decimal END to end: parse amounts with Decimal(str), round with")
        == money
    )
    assert locate(LINES, "Money is Decimal end to end") == money
    assert locate(LINES, "B1: The service lives in invoices/") == (2, 4)


def test_a_quote_that_is_short_ambiguous_or_absent_names_no_bullet() -> None:
    assert locate(LINES, "Write tests") == "bullet not found"  # under five words
    assert locate(LINES, "Write tests for every") == "bullet not found"  # four words
    assert locate(LINES, "write tests for every bug") == (7, 8)
    assert locate(LINES, "Write tests with pytest under") == (6, 7)
    assert locate(LINES, "B9") == "no bullet B9 (the file has 6)"
    two = MAIN.replace(
        "for every bug you fix, before the fix", "with pytest under `tests/`, always"
    )
    assert locate(two.split("\n"), "Write tests with pytest under tests/") == (
        "the quote matches 2 bullets"
    )


def test_an_add_goes_after_its_bullet_or_to_the_end_of_the_named_section_or_file() -> None:
    edits = [
        Edit(op="add", target_text="B1", new_text="Search for a client first.", evidence=[URL]),
        Edit(op="add", target_text="Style", new_text="Type every function.", evidence=[URL]),
        Edit(op="add", target_text="## Testing", new_text="Run `pytest -q`.", evidence=[URL]),
    ]
    result = apply_edits(CURRENT, TARGET, edits, evidence_ids=IDS)
    assert not result.dropped
    after = result.files["CLAUDE.md"]
    assert "never create a second HTTP client.\n- Search for a client first.\n- Money" in after
    assert "- Keep functions small and typed.\n- Type every function.\n\n## Pull" in after
    assert after.endswith("- Describe what you changed and why.\n- Run `pytest -q`.\n")


def test_bullet_ids_name_the_bullets_the_model_saw_before_other_edits_moved_them() -> None:
    edits = [
        Edit(op="add", target_text="B1", new_text="Search for a client first.", evidence=[URL]),
        Edit(op="modify", target_text="B3", new_text="Tests go under `tests/`.", evidence=[URL]),
    ]
    after = apply_edits(CURRENT, TARGET, edits, evidence_ids=IDS).files["CLAUDE.md"]
    assert "- Search for a client first.\n" in after
    assert "- Tests go under `tests/`.\n- Write tests for every bug" in after


def test_new_text_written_as_a_wrapped_bullet_gets_one_marker() -> None:
    """Models often write the replacement as the bullet they mean, marker and line breaks."""
    wrapped = "- Money is `Decimal`, rates too: parse with `Decimal(str)`,\n  never via `float`."
    edits = [
        Edit(op="modify", target_text="B2", new_text=wrapped, evidence=[URL]),
        Edit(op="add", target_text="Style", new_text="* Type every\n  function.", evidence=[URL]),
    ]
    after = apply_edits(CURRENT, TARGET, edits, evidence_ids=IDS).files["CLAUDE.md"]
    assert (
        "\n- Money is `Decimal`, rates too: parse with `Decimal(str)`, never via `float`.\n"
        in after
    )
    assert "- Keep functions small and typed.\n- Type every function.\n" in after
    assert "- -" not in after and "- *" not in after


def test_evidence_is_accepted_in_the_forms_models_write_it() -> None:
    index = EvidenceIndex(IDS, aliases={"E3": URL, "E9": "not-an-id"})
    for form in (URL, "E3", "e3", "discussion_r9002", "#9002", "`#9002`"):
        assert index.resolve(form) == URL, form
    for form in (
        TEST,
        "tests/test_fees.py::test_invoice_total_rounding",
        "test_invoice_total_rounding",
    ):
        assert index.resolve(form) == TEST, form
    for form in ("E9", "#1", "discussion_r1", "made-up", "", "pull/101"):
        assert index.resolve(form) is None, form
    assert index.cited(["#9002", URL, "nope"]) == (URL,)


def test_a_list_answer_is_read_item_by_item() -> None:
    answer = (
        "Here are the edits:\n```json\n["
        '{"op": "add", "new_text": "Run `pytest -q`.", "evidence": ["#9002"]},'
        '{"op": "replace", "target_text": "B1", "new_text": "x", "evidence": ["#9002"]},'
        '{"op": "modify", "new_text": "y", "evidence": ["#9002"]},'
        '{"op": "remove", "target": "B5", "evidence": "#9002, E3"},'
        '{"op": "add", "new_text": {"text": "z"}, "evidence": ["#9002"]},'
        '"just a sentence"'
        "]\n```"
    )
    edits, dropped = parse_edits(answer)
    assert [(e.op, e.target_text, e.evidence) for e in edits] == [
        ("add", "", ["#9002"]),
        ("remove", "B5", ["#9002", "E3"]),
    ]
    assert dropped == [
        "item 2: unknown op 'replace' (use add, modify, remove or add_subagent)",
        "item 3: modify without target_text",
        "item 5: add: field new_text input should be a valid string",
        "item 6: not an object: 'just a sentence'",
    ]
    assert parse_edits("no list here")[1][0].startswith("the answer holds no list of edits")
    assert parse_edits("[]") == ([], [])
