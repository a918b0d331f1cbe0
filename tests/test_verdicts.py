"""How the per-edit judge's answers are read: item by item, in the forms models write, leaving
out and listing what cannot be read, never spreading a verdict over failures it did not name."""

from __future__ import annotations

import pytest

from prompt_trainer.evaluate.verdicts import parse_verdicts, read_verdict


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("prevents", "prevents"),
        ("Prevented.", "prevents"),
        ("**PREVENTS**", "prevents"),
        ("yes, it would prevent this", "prevents"),
        ("partly", "partly"),
        ("partially prevents", "partly"),
        ("irrelevant", "irrelevant"),
        ("not relevant", "irrelevant"),
        ("N/A", "irrelevant"),
        ("does not prevent it", "irrelevant"),
        ("wouldn't prevent the timeout", "irrelevant"),
        ("conflicts", "conflicts"),
        ("would break the CSV export", "conflicts"),
        ("contradicts the reviewer", "conflicts"),
    ],
)
def test_verdicts_are_read_as_models_write_them(written: str, read: str) -> None:
    assert read_verdict(written) == read


@pytest.mark.parametrize("written", ["maybe", "", "7", "unclear"])
def test_an_unreadable_verdict_is_none(written: str) -> None:
    assert read_verdict(written) is None


def pairs(answer: object, failures: tuple[str, ...] = ("F1", "F2")) -> set[tuple[int, str, str]]:
    read, problems = parse_verdicts(answer, edits=2, failures=failures)
    assert problems == []
    return {(r.edit, r.failure, r.verdict) for r in read}


EXPECTED = {
    (1, "F1", "prevents"),
    (1, "F2", "irrelevant"),
    (2, "F1", "partly"),
    (2, "F2", "irrelevant"),
}


def test_a_json_list_of_objects_with_the_usual_synonyms_is_read() -> None:
    answer = """```json
[{"edit": "D1", "failure": "F1", "verdict": "prevents", "why": "names quantize (E2)"},
 {"Edit": 1, "Failure": "F2", "Verdict": "irrelevant"},
 {"edit_id": "d2", "problem": "f1", "effect": "partially"},
 {"change": "2", "failure_ref": "F2", "answer": "no effect"}]
```"""
    assert pairs(answer) == EXPECTED


def test_an_object_keyed_by_edit_and_plain_lines_and_a_table_are_read() -> None:
    keyed = '{"D1": {"F1": "prevents", "F2": "irrelevant"}, "D2": {"F1": "partly", "F2": "no"}}'
    lines = (
        "Here is my assessment:\n"
        "D1 F1: prevents - the rule names quantize (E2)\n"
        "D1 / F2 — irrelevant\n"
        "- Edit 2 on failure 1: partly; mentions Decimal only\n"
        "- edit 2, failure 2: not relevant\n"
    )
    table = (
        "| edit | failure | verdict | why |\n|---|---|---|---|\n"
        "| D1 | F1 | **prevents** | names quantize |\n| D1 | F2 | irrelevant | - |\n"
        "| D2 | F1 | partly | vague |\n| D2 | F2 | irrelevant | - |\n"
    )
    assert pairs(keyed) == pairs(lines) == pairs(table) == EXPECTED


def test_a_verdict_naming_all_failures_applies_to_each_and_a_single_failure_may_be_implied() -> (
    None
):
    assert pairs('[{"edit": "D1", "failure": "all", "verdict": "irrelevant"}, '
                 '{"edit": "D2", "failure": ["F1", "F2"], "verdict": "partly"}]') == {
        (1, "F1", "irrelevant"), (1, "F2", "irrelevant"), (2, "F1", "partly"), (2, "F2", "partly"),
    }  # fmt: skip
    assert pairs('[{"edit": "D1", "verdict": "prevents"}, {"edit": "D2", "verdict": "no"}]',
                 failures=("F1",)) == {(1, "F1", "prevents"), (2, "F1", "irrelevant")}  # fmt: skip


def test_bad_items_are_left_out_and_listed_and_the_good_ones_kept() -> None:
    answer = (
        '[{"edit": "D1", "failure": "F1", "verdict": "prevents"},'
        ' {"edit": "D1", "verdict": "prevents"},'  # two failures, none named: not spread
        ' {"edit": "D3", "failure": "F1", "verdict": "prevents"},'  # no such edit
        ' {"edit": "D2", "failure": "F9", "verdict": "irrelevant"},'  # no such failure
        ' {"edit": "D2", "failure": "F1", "verdict": "maybe"},'
        ' "just text"]'
    )
    read, problems = parse_verdicts(answer, edits=2, failures=["F1", "F2"])
    assert [(r.edit, r.failure, r.verdict) for r in read] == [(1, "F1", "prevents")]
    assert problems == [
        "item 2: D1: names no failure (the PR has F1, F2)",
        "item 3: no edit D3 (there are 2)",
        "item 4: D2: names no failure of this PR ('F9'; it has F1, F2)",
        "item 5: D2: no verdict in 'maybe'",
        "item 6: names no edit: 'just text'",
        "no verdict for D1 on F2",
        "no verdict for D2 on F1",
        "no verdict for D2 on F2",
    ]


def test_a_conflict_is_about_the_edit_and_needs_no_failure() -> None:
    read, problems = parse_verdicts(
        '[{"edit": "D2", "verdict": "conflicts", "why": "E3 asks for float"},'
        ' {"edit": "D1", "failure": "-", "verdict": "irrelevant"}]',
        edits=2,
        failures=[],
    )
    assert [(r.edit, r.failure, r.verdict, r.why) for r in read] == [
        (2, "", "conflicts", "E3 asks for float"),
        (1, "", "irrelevant", ""),
    ]
    assert problems == []


def test_an_answer_without_verdicts_is_one_problem() -> None:
    assert parse_verdicts("Both edits look helpful.", edits=2, failures=["F1"]) == (
        [],
        ["the answer holds no verdicts: 'Both edits look helpful.'"],
    )
