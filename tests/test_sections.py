"""GEPA's text components (``train.sections``): every ``##`` section of the main prompt file and
every subagent file is one component; joined back, untouched components are byte-identical."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompt_trainer.models import PromptFile, PromptSet
from prompt_trainer.settings import Target
from prompt_trainer.targets import LocalSource, load_prompt_set
from prompt_trainer.train.gepa_reflect import safe_text
from prompt_trainer.train.sections import components, join, section_diff, split

ROOT = Path(__file__).resolve().parents[1]
REAL = sorted(
    [
        *(ROOT / "examples" / "basic").rglob("*.md"),
        *(ROOT / "prompts").glob("*.md"),
        *(ROOT / "docs").glob("*.md"),
        ROOT / "README.md",
    ]
)
TRICKY = (
    "---\nname: x\n---\n# Title\r\n\r\n- a\r\n## One\r\n"
    "```md\n## not a heading\n```\n### deeper\n- b\n##no-space\n## Two\n- c"
)


@pytest.mark.parametrize("path", REAL, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_real_prompt_file_splits_and_joins_back_byte_for_byte(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    pieces = split(text)
    assert join(pieces) == text
    assert all(pieces) or pieces == [""]
    assert all(p.startswith("## ") for p in pieces[1:])


def test_fences_deeper_headings_and_line_endings_stay_inside_their_section() -> None:
    pieces = split(TRICKY)
    assert join(pieces) == TRICKY
    assert [p.split("\n", 1)[0].rstrip("\r") for p in pieces] == ["---", "## One", "## Two"]
    assert "## not a heading" in pieces[1] and "### deeper" in pieces[1]
    assert split("") == [""] and split("no heading") == ["no heading"]


def test_the_example_target_is_its_main_file_and_its_subagent() -> None:
    target = Target(name="coder", main="CLAUDE.md", subagents=".claude/agents")
    prompts = load_prompt_set(target, LocalSource(ROOT / "examples" / "basic"))
    layout = components(prompts)
    assert list(layout.texts) == ["CLAUDE.md", ".claude/agents/test-runner.md"]
    assert layout.joined(layout.texts) == {f.path: f.content for f in prompts.files}


def test_a_candidate_that_changes_one_section_changes_only_those_bytes() -> None:
    text = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    main = PromptFile(path="AGENTS.md", content=text)
    layout = components(PromptSet(target="t", main=main, files=(main,)))
    names = list(layout.texts)
    assert len(names) > 5 and len(set(names)) == len(names)
    name = names[3]
    changed = dict(layout.texts)
    changed[name] = layout.texts[name].replace("\n", "\n- Run `make lint` first.\n", 1)
    after = layout.joined(changed)["AGENTS.md"]
    start = text.index(layout.texts[name])
    end = start + len(layout.texts[name])
    assert after[:start] == text[:start]
    assert after[len(after) - (len(text) - end) :] == text[end:]
    assert layout.changed(changed) == [name]
    assert layout.describe(name) == f"section {name.split(' ', 1)[1]}"
    diff = section_diff(layout.texts[name], changed[name])
    assert "+ - Run `make lint` first." in diff


def test_a_repeated_heading_gets_a_name_of_its_own() -> None:
    main = PromptFile(path="CLAUDE.md", content="# T\n## Notes\n- a\n## Notes\n- b\n")
    layout = components(PromptSet(target="t", main=main, files=(main,)))
    assert list(layout.texts) == ["CLAUDE.md", "CLAUDE.md ## Notes", "CLAUDE.md ## Notes (2)"]
    assert layout.describe("CLAUDE.md") == "the text before the first ## heading"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            "## Money\n\n- Use `Decimal`.\n- [B2] Round with `quantize`.",
            "## Money\n\n- Use `Decimal`.\n- Round with `quantize`.\n\n",
        ),
        ("```markdown\n## Renamed\n- Use `Decimal`.\n```", "## Money\n- Use `Decimal`.\n\n"),
        ("- Use `Decimal`.", "## Money\n- Use `Decimal`.\n\n"),
        ("   \n", "## Money\n\n- Old.\n\n"),
    ],
)
def test_a_rewritten_section_keeps_its_heading_and_its_trailing_newlines(
    answer: str, expected: str
) -> None:
    assert safe_text(answer, "## Money\n\n- Old.\n\n") == expected
